//! The PreToolUse speed bump: denies the tool calls whose purpose is to print secrets —
//! `printenv`/`env`/`export -p`/`set`/`declare -p` without a command or name, `echo`/`printf`
//! (and `printenv NAME`) of a variable that is a vault secret's environment name, and reading
//! (the Read tool, `cat`, `head`, `tail`, `less`, `grep`, … or a `<` redirection) a file that
//! holds a known value — each with a reason that says what to do instead. It never answers
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
        for f in files_of(c) {
            if files_checked >= MAX_FILES {
                break;
            }
            let p = resolve(cwd, &f);
            if !p.is_file() {
                continue;
            }
            files_checked += 1;
            if let Some(r) = file_holds_known(&p, s) {
                return Some(r);
            }
        }
    }
    None
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
