//! The PreToolUse speed bump: denies the tool calls whose purpose is to print secrets —
//! `printenv`/`env`/`export -p`/`set`/`declare -p` without a command or name, `echo`/`printf`
//! (and `printenv NAME`) of a variable that is a vault secret's environment name, and reading
//! (the Read tool, `cat`, `head`, `tail`, `less`, `grep`, … or a `<` redirection) a file that
//! holds a known value — also when the path is a glob (the matching files are checked) or
//! an expansion (every regular file of the working directory is checked: any could be the
//! one it names) — each with a reason that says what to do instead. It never answers
//! `allow`. Commands are parsed by [`super::shell`]; files are checked by the daemon's hold
//! (first [`MAX_FILE_CHECK`] bytes of at most [`MAX_FILES`] files per call).

use super::shell::{Arg, Call};
use super::{KnownValues, payload};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How many bytes of a file are checked for known values: 4 MiB (bounded work per call).
pub const MAX_FILE_CHECK: usize = 4 * 1024 * 1024;

/// How many files of one call are checked.
pub const MAX_FILES: usize = 16;

/// Commands that print a file's content (or part of it) to the output.
const READERS: &[&str] = &[
    "cat", "tac", "head", "tail", "less", "more", "most", "bat", "batcat", "nl", "strings", "xxd",
    "od", "hexdump", "base64", "base32", "sort", "uniq", "cut", "column", "fold", "rev", "paste",
    "grep", "egrep", "fgrep", "rg", "ag", "ack", "sed", "awk", "gawk", "jq", "yq", "view", "diff",
    "cmp", "openssl",
];

/// What the decision needs to know about the user's secrets.
pub struct Secrets<'a> {
    /// (secret name, environment variable) of every secret of the global vault and the
    /// agent's project (names only, read from `secrets.toml`).
    pub env: Vec<(String, String)>,
    /// Where known values are looked up.
    pub known: &'a dyn KnownValues,
    /// The running daemon's pid (from its pid file), whose checks a `kill` would end.
    pub daemon_pid: Option<u32>,
}

/// The answer for a PreToolUse call of `tool` with `input` in `cwd`: a denial, or no
/// decision.
pub fn decide(tool: &str, input: &Value, cwd: Option<&str>, s: &Secrets<'_>) -> payload::Answer {
    let cwd = cwd.map(PathBuf::from);
    let reason = match tool {
        "Read" | "NotebookRead" => input
            .get("file_path")
            .or_else(|| input.get("notebook_path"))
            .and_then(Value::as_str)
            .and_then(|f| file_holds_known(&resolve(cwd.as_deref(), f), s)),
        "Grep" => input
            .get("path")
            .and_then(Value::as_str)
            .and_then(|f| file_holds_known(&resolve(cwd.as_deref(), f), s)),
        _ => command_of(input).and_then(|cmd| shell_reason(&cmd, cwd.as_deref(), s)),
    };
    match reason {
        Some((why, names)) => payload::deny(tool, &why, names),
        None => payload::Answer::default(),
    }
}

/// The shell command of a Bash-like call: `tool_input.command` as a string, or a list of
/// argv words (Codex's older `shell` tool), joined with shell quoting.
fn command_of(input: &Value) -> Option<String> {
    match input.get("command")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => {
            let words: Vec<String> = a
                .iter()
                .filter_map(Value::as_str)
                .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
                .collect();
            Some(words.join(" "))
        }
        _ => None,
    }
}

fn resolve(cwd: Option<&Path>, f: &str) -> PathBuf {
    let p = PathBuf::from(f);
    match cwd {
        Some(c) if p.is_relative() => c.join(p),
        _ => p,
    }
}

const RUN_INSTEAD: &str = "Run the command that needs the secret through `patina secrets run -- CMD`: \
     it gets the secret in its environment, and its output is masked.";

/// Why `cmd` is denied, and the secret names concerned.
fn shell_reason(cmd: &str, cwd: Option<&Path>, s: &Secrets<'_>) -> Option<(String, Vec<String>)> {
    let calls = super::shell::calls(cmd)?;
    let secret_of = |var: &str| {
        s.env
            .iter()
            .find(|(_, env)| env == var)
            .map(|(n, _)| n.clone())
    };
    let mut files_checked = 0;
    for c in &calls {
        let lits: Vec<String> = c.args.iter().filter_map(|a| a.literal.clone()).collect();
        let only_options =
            lits.iter().all(|l| l.starts_with('-')) && c.args.iter().all(|a| a.literal.is_some());
        match c.name.as_str() {
            "printenv" if only_options => {
                return Some((
                    format!(
                        "patina guard: `printenv` without a name prints every environment variable, \
                         secrets included, into your context. Ask for the variable you need \
                         (`printenv HOME`). {RUN_INSTEAD}"
                    ),
                    Vec::new(),
                ));
            }
            "env" if c.args.is_empty() => {
                return Some((
                    format!(
                        "patina guard: `env` without a command prints every environment variable, \
                         secrets included. Ask for the variable you need (`printenv HOME`). {RUN_INSTEAD}"
                    ),
                    Vec::new(),
                ));
            }
            "export" | "declare" | "typeset" if only_options => {
                return Some((
                    format!(
                        "patina guard: `{}` without a name lists every exported variable with its \
                         value, secrets included. Ask for the variable you need. {RUN_INSTEAD}",
                        c.name
                    ),
                    Vec::new(),
                ));
            }
            "set" if c.args.is_empty() => {
                return Some((
                    format!(
                        "patina guard: `set` without arguments prints every shell variable, secrets \
                         included. {RUN_INSTEAD}"
                    ),
                    Vec::new(),
                ));
            }
            _ => {}
        }
        if let Some(what) = switches_checks_off(c, s.daemon_pid) {
            return Some((
                format!(
                    "patina guard: this command would {what}, which switches off patina's checks                      of what you read (the values it knows, the tripwires). Only the user does                      that, from their own terminal; ask them if it is needed."
                ),
                Vec::new(),
            ));
        }
        if matches!(
            c.name.as_str(),
            "echo" | "printf" | "print" | "printenv" | ""
        ) {
            let mut names = Vec::new();
            for a in &c.args {
                for v in &a.vars {
                    if let Some(n) = secret_of(v) {
                        names.push((v.clone(), n));
                    }
                }
                if c.name == "printenv"
                    && let Some(l) = &a.literal
                    && let Some(n) = secret_of(l)
                {
                    names.push((l.clone(), n));
                }
            }
            if let Some((var, name)) = names.first() {
                return Some((
                    format!(
                        "patina guard: `${var}` holds the secret {name}; printing it would put its \
                         value in your context and the transcript. Use it without printing it. \
                         {RUN_INSTEAD}"
                    ),
                    names.into_iter().map(|(_, n)| n).collect(),
                ));
            }
        }
        // (path, whether it is only a candidate for an argument the shell expands)
        for (p, expanded) in files_of(c)
            .iter()
            .flat_map(|f| expand_glob(&resolve(cwd, f)))
            .map(|p| (p, false))
            .chain(
                unknown_arg_candidates(c, cwd)
                    .into_iter()
                    .map(|p| (p, true)),
            )
        {
            if files_checked >= MAX_FILES {
                break;
            }
            if !p.is_file() {
                continue;
            }
            files_checked += 1;
            if let Some((why, names)) = file_holds_known(&p, s) {
                if expanded {
                    return Some((
                        format!(
                            "patina guard: `{}` reads a file named by an expansion (`$VAR`, \
                             `$(…)`), which could be {}. Name the file literally. {why}",
                            c.name,
                            p.display()
                        ),
                        names,
                    ));
                }
                return Some((why, names));
            }
        }
    }
    None
}

/// What `c` would do to switch patina's checks off, if it would: lock the session (which
/// wipes the scan hold the guard checks outputs against), stop or kill the daemon, or
/// acknowledge a tripwire alert (threat model, "The guard and its scan hold"). Looks at
/// literal arguments only: `patina session lock|unlock --ack-canary`, `patina stop`,
/// `kill`/`pkill`/`killall` naming patina or the daemon's pid, `curl`/`wget` of
/// `/session/lock` or `/shutdown`, `systemctl stop` of a patina unit.
fn switches_checks_off(c: &super::shell::Call, daemon_pid: Option<u32>) -> Option<&'static str> {
    let lits: Vec<&str> = c.args.iter().filter_map(|a| a.literal.as_deref()).collect();
    let words: Vec<&str> = lits
        .iter()
        .copied()
        .filter(|l| !l.starts_with('-'))
        .collect();
    let has = |needle: &str| lits.iter().any(|l| l.contains(needle));
    match c.name.as_str() {
        "patina" => match words.as_slice() {
            ["session", "lock", ..] => Some("lock the patina session"),
            ["session", "unlock", ..] if has("--ack-canary") => {
                Some("acknowledge a tripwire alert")
            }
            ["stop", ..] => Some("stop the patina daemon"),
            _ => None,
        },
        "kill" | "pkill" | "killall" => {
            let pid = daemon_pid.map(|p| p.to_string());
            (has("patina") || pid.is_some_and(|p| lits.contains(&p.as_str())))
                .then_some("kill the patina daemon")
        }
        "curl" | "wget" | "http" | "xh" => (has("/session/lock") || has("/shutdown"))
            .then_some("lock the patina session or stop its daemon"),
        "systemctl" => {
            (words.contains(&"stop") && has("patina")).then_some("stop the patina daemon")
        }
        _ => None,
    }
}

/// The files a path names: itself, or, when its last component is a glob pattern (`*`, `?`,
/// `[…]`: `.en?`, `./.e*`), the entries of its directory that match it (at most
/// [`MAX_FILES`], in name order). A pattern in a directory component is not expanded.
fn expand_glob(path: &Path) -> Vec<PathBuf> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return vec![path.to_path_buf()];
    };
    if !name.contains(['*', '?', '[']) {
        return vec![path.to_path_buf()];
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| glob_match(name.as_bytes(), n.as_bytes()))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out.truncate(MAX_FILES);
    out
}

/// For a file reader ([`READERS`]) with an argument whose value is only known once the shell
/// expanded it (`"$PWD/.env"`, `$(echo .env)`, `$F`): the regular files of the working
/// directory, in name order (at most [`MAX_FILES`]) — any of them could be the one it names,
/// so a call that could print a file holding a known value is denied like a literal one.
fn unknown_arg_candidates(c: &Call, cwd: Option<&Path>) -> Vec<PathBuf> {
    if !READERS.contains(&c.name.as_str()) || c.args.iter().all(|a| a.literal.is_some()) {
        return Vec::new();
    }
    let Some(Ok(rd)) = cwd.map(std::fs::read_dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out.truncate(MAX_FILES);
    out
}

/// Whether `name` matches the shell pattern `pat` (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`;
/// a leading `.` is matched like any byte: broader than the shell, which only makes more
/// files checked). Linear backtracking over the last `*` only: O(len(pat) × len(name)).
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' if class(&pat[p..], name[n]).is_some() => {
                    if let Some((true, next)) = class(&pat[p..], name[n]) {
                        p += next;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A bracket expression at the start of `pat` against `b`: (matches, its length), or `None`
/// when it is not closed (then `[` is a literal byte, as in the shell).
fn class(pat: &[u8], b: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut hit = false;
    while i < pat.len() && (pat[i] != b']' || i == start) {
        if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
            hit |= (pat[i]..=pat[i + 2]).contains(&b);
            i += 3;
        } else {
            hit |= pat[i] == b;
            i += 1;
        }
    }
    (i < pat.len()).then_some((hit != negate, i + 1))
}

/// The files a call reads: `<` redirections, and for the readers of [`READERS`] their
/// literal non-option arguments (for grep-like tools without `-e`/`-f`, not the first one,
/// the pattern).
fn files_of(c: &Call) -> Vec<String> {
    let mut out = c.reads.clone();
    if !READERS.contains(&c.name.as_str()) {
        return out;
    }
    let grep_like = matches!(
        c.name.as_str(),
        "grep" | "egrep" | "fgrep" | "rg" | "ag" | "ack" | "sed" | "awk" | "gawk" | "jq" | "yq"
    );
    let has_pattern_option =
        c.args.iter().filter_map(|a| a.literal.as_deref()).any(|l| {
            matches!(l, "-e" | "-f" | "--regexp" | "--file") || l.starts_with("--regexp=")
        });
    let mut positional = 0;
    let mut after_dashdash = false;
    for a in &c.args {
        let Arg {
            literal: Some(l), ..
        } = a
        else {
            continue;
        };
        if !after_dashdash && l == "--" {
            after_dashdash = true;
            continue;
        }
        if !after_dashdash && l.starts_with('-') && l.len() > 1 {
            continue;
        }
        positional += 1;
        if grep_like && !has_pattern_option && positional == 1 {
            continue;
        }
        out.push(l.clone());
    }
    out
}

/// Whether the first [`MAX_FILE_CHECK`] bytes of `path` hold a known value: the denial and
/// the names.
fn file_holds_known(path: &Path, s: &Secrets<'_>) -> Option<(String, Vec<String>)> {
    let f = std::fs::File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = Vec::new();
    f.take(MAX_FILE_CHECK as u64).read_to_end(&mut buf).ok()?;
    let buf = zeroize::Zeroizing::new(buf);
    let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&buf).into_owned());
    let hits = s.known.scan(&text).ok()?;
    if hits.is_empty() {
        return None;
    }
    let mut names: Vec<String> = hits.into_iter().map(|h| h.name).collect();
    names.dedup();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    Some((
        format!(
            "patina guard: {} holds the value of {} (a secret in your patina vault); reading it \
             would put the value in your context and the transcript. Read the parts you need \
             without it (`grep -v`, a line range), or {}",
            path.display(),
            unique.join(", "),
            RUN_INSTEAD.replace("Run", "run")
        ),
        names,
    ))
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_patterns_match_as_the_shell_does() {
        for (pat, name, m) in [
            (".en?", ".env", true),
            (".e*", ".env", true),
            ("*", ".env", true),
            ("*.env", "prod.env", true),
            ("[.]env", ".env", true),
            (".[a-f]nv", ".env", true),
            (".[!e]nv", ".env", false),
            (".en?", ".envs", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("[", "[", true),
            ("x[", "x[", true),
        ] {
            assert_eq!(
                glob_match(pat.as_bytes(), name.as_bytes()),
                m,
                "{pat} {name}"
            );
        }
    }
}
