//! secrets: age identities, vaults of named secrets, output masking and `secrets run`
//! (requirements §2, §3, §9). Depends on [`crate::fsutil`], [`crate::paths`], [`crate::text`]
//! and the `age`/`keyring`/`hmac`/`hkdf`/`sha2` crates; it knows nothing of sockets, HTTP or the command line, so
//! the daemon reuses it as is.
//!
//! - [`identity`]: the user's age X25519 identity, resolved from `PATINA_IDENTITY`, the OS
//!   keyring, or a passphrase-encrypted `identity.age`; generated, imported, exported.
//! - [`vault`]: a vault is three files in one directory (`vault.age`, `secrets.toml`,
//!   `recipients.txt`), global in `PATINA_HOME` or per project in `<project>/.patina/`.
//! - [`mask`]: the streaming filter that replaces every secret value (and its base64, hex and
//!   percent-encoded forms) with `<concealed by patina>`.
//! - [`run`]: runs a command with the secrets in its environment and masked output.
//! - [`random`]: the kernel's random bytes, for every token, nonce and hash key of patina.
//! - [`env_policy`]: the environment variables a secret may never set (`LD_PRELOAD`,
//!   `BASH_ENV`, …).
//! - [`trust`]: project vaults release nothing until the user trusted them (`secrets trust`).
//!
//! Invariants, each guarded by a test in `tests/secrets_*.rs`:
//! - no type that holds a secret implements `Display`; its `Debug` prints `[redacted]`;
//! - no error message quotes a value, an input line or file content: errors name the file,
//!   the line number, and the fix;
//! - decrypted plaintext lives in `Zeroizing` buffers;
//! - a value never reaches a process argument list: `secrets run` passes it in the child's
//!   environment only.

use crate::paths::{self, Home};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub mod env_policy;
mod error;
pub mod identity;
mod keyring_store;
mod map_file;
pub mod mask;
pub mod random;
pub mod run;
pub mod scan;
pub mod trust;
pub mod tty;
pub mod vault;

pub use error::{Error, Result};
pub use identity::Identity;
pub use vault::VaultLocation;

/// The most bytes a secret value may have. An environment string of Linux is capped at
/// 128 KiB (`MAX_ARG_STRLEN`); half of that leaves room for the rest of the environment.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// The longest secret name.
pub const MAX_NAME_LEN: usize = 64;

/// A caller's input that is wrong in itself (a bad name, env var, recipient, a value given as
/// an argument): the CLI reports it as a usage error (exit 2). Its message never quotes the
/// input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// A secret value: UTF-8 without NUL (it must fit in an environment variable), zeroized on
/// drop. It implements neither `Display` nor `Serialize`; its `Debug` prints `[redacted]`.
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Takes ownership of `bytes` (no copy is made). Errors, without quoting anything, when
    /// the bytes are empty, too long, not UTF-8, or hold a NUL byte.
    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Result<SecretValue, InvalidInput> {
        let bad = |why: &str| Err(InvalidInput(format!("the secret value {why}")));
        if bytes.is_empty() {
            return bad("is empty");
        }
        if bytes.len() > MAX_VALUE_LEN {
            return bad(&format!("is longer than {MAX_VALUE_LEN} bytes"));
        }
        if bytes.contains(&0) {
            return bad("contains a NUL byte, which no environment variable can hold");
        }
        let mut bytes = bytes;
        let owned = std::mem::take(&mut *bytes);
        match String::from_utf8(owned) {
            Ok(s) => Ok(SecretValue(Zeroizing::new(s))),
            Err(e) => {
                // Put the bytes back so that the Zeroizing wrapper wipes them.
                *bytes = e.into_bytes();
                bad("is not UTF-8 text")
            }
        }
    }

    /// The value, for the one place that needs it: the child's environment, a masker.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a value built by [`SecretValue::from_bytes`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes ownership of `s` (no copy), to be zeroized on drop. Unlike
    /// [`SecretValue::from_bytes`] it checks nothing.
    pub fn from_string(s: String) -> SecretValue {
        SecretValue(Zeroizing::new(s))
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Checks a secret name: 1 to 64 of `A-Z a-z 0-9 _ . -`. The error does not quote the name
/// (it may be a value typed in the wrong place).
pub fn validate_name(name: &str) -> Result<(), InvalidInput> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidInput(format!(
            "a secret name is 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . - \
             (the name given is not)"
        )))
    }
}

/// Checks an environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 bytes.
pub fn validate_env_var(var: &str) -> Result<(), InvalidInput> {
    let mut bytes = var.bytes();
    let ok = var.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(InvalidInput(
            "an environment variable name is a letter or _ followed by letters, digits or _ \
             (the one given is not)"
                .into(),
        ))
    }
}

/// The environment variable a secret gets when none is given: the name upper-cased, every
/// character other than A-Z and 0-9 replaced by `_`, and a leading digit prefixed with `_`.
pub fn default_env_var(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// The project a `--project` command (and `secrets run`) works on: the nearest of `start`
/// and its ancestors that holds a `.patina/` or `layer/` directory, else `start` itself.
/// A `.patina/` that is `PATINA_HOME` itself (as `~/.patina` is for `~`) does not count:
/// the global vault is never mistaken for a project's.
pub fn project_root(home: &Home, start: &Path) -> PathBuf {
    let home_root = std::fs::canonicalize(home.root()).unwrap_or_else(|_| home.root().into());
    for dir in start.ancestors() {
        let state = paths::project_state_dir(dir);
        let state_is_home = std::fs::canonicalize(&state).is_ok_and(|s| s == home_root);
        if (state.is_dir() && !state_is_home) || dir.join("layer").is_dir() {
            return dir.to_path_buf();
        }
    }
    start.to_path_buf()
}

/// Whether a project's vault directory is really a project's: not `PATINA_HOME` itself.
pub fn is_home_dir(home: &Home, dir: &Path) -> bool {
    match (
        std::fs::canonicalize(home.root()),
        std::fs::canonicalize(dir),
    ) {
        (Ok(h), Ok(d)) => h == d,
        _ => home.root() == dir,
    }
}

/// One secret as `secrets run` exports it.
#[derive(Debug)]
pub struct EnvEntry {
    /// The secret's name.
    pub name: String,
    /// The environment variable it is exported as.
    pub env: String,
    /// The vault it comes from: `"global"` or `"project"`.
    pub vault: &'static str,
    /// The value.
    pub value: SecretValue,
    /// The commands it may go to ([`vault::Scopes`]); empty for every command.
    pub scope: Vec<String>,
    /// A canary ([`vault::Canaries`]): never released; asking for it trips the tripwire.
    pub canary: bool,
}

/// Whether a secret scoped to `scope` may go to a command whose first word is `program`:
/// no scope allows every command; else an entry equal to `program` or to its file name
/// (`./deploy.sh` and `/usr/local/bin/deploy.sh` match `deploy.sh`).
pub fn scope_allows(scope: &[String], program: &str) -> bool {
    let file = program.rsplit('/').next().unwrap_or(program);
    scope.is_empty() || scope.iter().any(|s| s == program || s == file)
}

/// The environment `secrets run` gives its child: every secret of the global vault and of
/// the project vault, the project's winning over the global one of the same name. Values
/// are zeroized when it is dropped; `Debug` shows names only.
#[derive(Debug, Default)]
pub struct EnvMap {
    entries: Vec<EnvEntry>,
}

impl EnvMap {
    /// The entries in the order to apply them (global first, so a project entry of the same
    /// environment variable wins).
    pub fn entries(&self) -> &[EnvEntry] {
        &self.entries
    }

    /// Whether there are no secrets at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A map of these entries, in this order (applied first to last).
    pub fn from_entries(entries: Vec<EnvEntry>) -> EnvMap {
        EnvMap { entries }
    }

    /// The entries, by value (for a holder that keeps the values).
    pub fn into_entries(self) -> Vec<EnvEntry> {
        self.entries
    }

    /// Only the entries whose scope allows `program` ([`scope_allows`]); the others are
    /// dropped (zeroized).
    pub fn only_for(self, program: &str) -> EnvMap {
        EnvMap {
            entries: self
                .entries
                .into_iter()
                .filter(|e| scope_allows(&e.scope, program))
                .collect(),
        }
    }

    /// The release for a command whose first word is `program` (`None`: a request for every
    /// secret, as a raw `POST /session/env` without `program` makes): the entries whose scope
    /// allows it, never a canary. `Err` with the names of the canaries the request reached —
    /// a canary with a scope when `program` matches it (a bait for that command), every
    /// canary when no program is named — so the caller refuses the whole release and trips
    /// the tripwire (issue 20). A canary without a scope and a named program is left out
    /// silently: an ordinary `secrets run` never asks for it.
    pub fn release_for(self, program: Option<&str>) -> Result<EnvMap, Vec<String>> {
        let asked: Vec<String> = self
            .entries
            .iter()
            .filter(|e| {
                e.canary
                    && match program {
                        None => true,
                        Some(p) => !e.scope.is_empty() && scope_allows(&e.scope, p),
                    }
            })
            .map(|e| e.name.clone())
            .collect();
        if !asked.is_empty() {
            return Err(asked);
        }
        Ok(EnvMap {
            entries: self
                .entries
                .into_iter()
                .filter(|e| !e.canary && program.is_none_or(|p| scope_allows(&e.scope, p)))
                .collect(),
        })
    }

    /// Refuses a release in which any entry would set a variable that changes how programs
    /// run ([`env_policy::refused`]): a vault written by an older patina, a hand-edited
    /// `secrets.toml` or a project vault can hold one that `secrets add` would refuse.
    /// [`Error::Refused`] names the first such secret and variable; nothing is released.
    pub fn refuse_dangerous(&self) -> Result<()> {
        for e in &self.entries {
            if let Some(why) = env_policy::refused(&e.env) {
                return Err(Error::Refused(format!(
                    "{} (in the {} vault); nothing was run",
                    env_policy::message(&e.env, why, &e.name),
                    e.vault
                )));
            }
        }
        Ok(())
    }

    /// The names of the canaries among the entries.
    pub fn canaries(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|e| e.canary)
            .map(|e| e.name.as_str())
    }

    /// A masker for every value in the map.
    pub fn masker(&self) -> mask::Masker {
        mask::Masker::new(self.entries.iter().map(|e| e.value.as_bytes()))
    }
}

/// Decrypts the global vault and, if `project` is given and has one, the project vault, and
/// returns the environment for `secrets run`. A name listed in `secrets.toml` without a value
/// in the vault (a write interrupted between the two files) is skipped.
///
/// Errors name the vault file and never quote its content.
pub fn env_map(home: &Home, project: Option<&Path>, identity: &Identity) -> Result<EnvMap> {
    let mut locations = vec![VaultLocation::Global];
    if let Some(p) = project {
        locations.push(VaultLocation::Project(p.to_path_buf()));
    }
    let mut by_name: std::collections::BTreeMap<String, EnvEntry> = Default::default();
    for loc in &locations {
        if matches!(loc, VaultLocation::Project(_)) && is_home_dir(home, &loc.dir(home)) {
            continue;
        }
        let listed = vault::list(home, loc)?;
        if listed.is_empty() {
            continue;
        }
        let Some(mut v) = vault::open(home, loc, identity)? else {
            continue;
        };
        for item in listed {
            if let Some(value) = v.take(&item.name) {
                let scope = v
                    .scope(&item.name)
                    .map(<[String]>::to_vec)
                    .unwrap_or_default();
                let canary = v.is_canary(&item.name);
                by_name.insert(
                    item.name.clone(),
                    EnvEntry {
                        name: item.name,
                        env: item.env,
                        vault: loc.kind(),
                        scope,
                        canary,
                        value,
                    },
                );
            }
        }
    }
    let mut entries: Vec<EnvEntry> = by_name.into_values().collect();
    entries.sort_by_key(|e| e.vault != "global");
    Ok(EnvMap { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_env_vars_are_validated_without_echo() {
        for good in ["a", "GITHUB_TOKEN", "db.password", "x-1", &"n".repeat(64)] {
            validate_name(good).unwrap();
        }
        for bad in [
            "",
            "a b",
            "a=b",
            "é",
            "Pc4n4ry-7f3e9c1d+x/y=z",
            &"n".repeat(65),
        ] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
        validate_env_var("_A1").unwrap();
        for bad in ["", "1A", "A-B", "A=B"] {
            validate_env_var(bad).unwrap_err();
        }
    }

    #[test]
    fn default_env_var_uppercases_and_replaces() {
        assert_eq!(default_env_var("github-token"), "GITHUB_TOKEN");
        assert_eq!(default_env_var("db.pass"), "DB_PASS");
        assert_eq!(default_env_var("1x"), "_1X");
        validate_env_var(&default_env_var("a.b-c_9")).unwrap();
    }

    #[test]
    fn secret_value_refuses_bad_bytes_and_debug_is_redacted() {
        let v = SecretValue::from_bytes(Zeroizing::new(b"hunter22".to_vec())).unwrap();
        assert_eq!(format!("{v:?}"), "[redacted]");
        assert_eq!(v.expose(), "hunter22");
        for bad in [&b""[..], b"a\0b", b"\xff\xfe"] {
            SecretValue::from_bytes(Zeroizing::new(bad.to_vec())).unwrap_err();
        }
        let long = vec![b'a'; MAX_VALUE_LEN + 1];
        SecretValue::from_bytes(Zeroizing::new(long)).unwrap_err();
    }

    #[test]
    fn project_root_walks_up_but_never_to_patina_home() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("p/layer")).unwrap();
        std::fs::create_dir_all(root.join("p/src/deep")).unwrap();
        std::fs::create_dir_all(root.join(".patina")).unwrap();
        let home = Home::at(root.join(".patina"));
        assert_eq!(
            project_root(&home, &root.join("p/src/deep")),
            root.join("p")
        );
        // Above p there is only PATINA_HOME's .patina: not a project.
        std::fs::create_dir_all(root.join("q")).unwrap();
        assert_eq!(project_root(&home, &root.join("q")), root.join("q"));
    }
}
