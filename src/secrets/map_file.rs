//! `secrets.toml`: which environment variable each secret becomes. No values, so listing
//! needs no identity.
//!
//! The file is a TOML subset, read and written here by hand rather than with the `toml`
//! crate: both sides come from restricted alphabets (names `[A-Za-z0-9_.-]`, variables
//! `[A-Za-z_][A-Za-z0-9_]*`), so the whole grammar is one line shape, and a hand-rolled
//! reader can promise that no error quotes the file:
//!
//! ```toml
//! # comments and blank lines are ignored
//! "github-token" = "GITHUB_TOKEN"
//! plain_key = "PLAIN_KEY"
//! ```
//!
//! Keys are written quoted (a `.` in a bare TOML key would mean a nested table).

use super::{validate_env_var, validate_name};
use std::collections::BTreeMap;
use std::path::Path;

const HEADER: &str = "# patina: secret name = the environment variable `patina secrets run` sets.\n\
# The values are in vault.age, encrypted. Edit with `patina secrets add|remove`.\n";

/// Why `secrets.toml` did not parse: the line number only.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// A line that is not `"name" = "ENV_VAR"`.
    #[error("line {0} is not `\"name\" = \"ENV_VAR\"`")]
    BadLine(usize),
    /// A name given twice.
    #[error("line {0} repeats a secret name")]
    Duplicate(usize),
    /// Not UTF-8.
    #[error("the file is not UTF-8")]
    NotUtf8,
}

/// Parses the file's bytes into name → environment variable.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, String>, MapError> {
    let text = std::str::from_utf8(bytes).map_err(|_| MapError::NotUtf8)?;
    let mut map = BTreeMap::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, env) = parse_line(line).ok_or(MapError::BadLine(n))?;
        if map.insert(name, env).is_some() {
            return Err(MapError::Duplicate(n));
        }
    }
    Ok(map)
}

fn parse_line(line: &str) -> Option<(String, String)> {
    let (key, rest) = line.split_once('=')?;
    let key = key.trim();
    let key = match key.strip_prefix('"') {
        Some(k) => k.strip_suffix('"')?,
        None => key,
    };
    validate_name(key).ok()?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('"')?;
    let (env, tail) = rest.split_once('"')?;
    let tail = tail.trim_start();
    if !(tail.is_empty() || tail.starts_with('#')) {
        return None;
    }
    validate_env_var(env).ok()?;
    Some((key.to_string(), env.to_string()))
}

/// Renders name → environment variable as the file's bytes.
pub fn render(map: &BTreeMap<String, String>) -> String {
    let mut s = String::from(HEADER);
    for (name, env) in map {
        s.push_str(&format!("\"{name}\" = \"{env}\"\n"));
    }
    s
}

/// Reads the file at `path`; a missing file is an empty map. Errors name the file.
pub fn read(path: &Path) -> super::Result<BTreeMap<String, String>> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes).map_err(|e| super::Error::corrupt(path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        // An I/O failure stays one (`Error::is_io`): the daemon answers it with 500.
        Err(e) => Err(super::Error::io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bare_keys() {
        let mut m = BTreeMap::new();
        m.insert("db.pass".to_string(), "DB_PASS".to_string());
        m.insert("t-1".to_string(), "T_1".to_string());
        assert_eq!(parse(render(&m).as_bytes()).unwrap(), m);
        let p = parse(b"a = \"A\"  # note\r\n\"b\"=\"B\"").unwrap();
        assert_eq!(p["a"], "A");
        assert_eq!(p["b"], "B");
    }

    #[test]
    fn errors_give_line_numbers_only() {
        let canary = "Pc4n4ry-7f3e9c1d+x/y=z";
        for text in [
            format!("# x\n{canary}\n"),
            format!("# x\na = \"{canary}\"\n"),
            format!("# x\n\"{canary}\" = \"A\"\n"),
            "# x\na = \"A\" junk\n".to_string(),
        ] {
            let e = parse(text.as_bytes()).unwrap_err();
            assert!(matches!(e, MapError::BadLine(2)), "{e}");
            assert!(!e.to_string().contains(canary));
        }
        assert!(matches!(
            parse(b"a = \"A\"\na = \"B\"\n"),
            Err(MapError::Duplicate(2))
        ));
    }
}
