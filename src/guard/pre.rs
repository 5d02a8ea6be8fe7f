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
    /// The run directory (`~/.patina/run`: the socket, the pid file, the hold marker), whose
    /// files an agent must not remove, move or overwrite.
    pub run_dir: Option<PathBuf>,
    /// Absolute paths the guard itself stands on, which an agent must not remove, move,
    /// overwrite or chmod — nor any directory above them: the patina home, the patina binary
    /// the hook runs, and the host settings files that hold the hook (QA session 9, H2 c, d).
    /// Host settings files anywhere are also recognised by their names ([`is_host_settings`]).
    pub guarded: Vec<PathBuf>,
    /// The user's home directory, for `~` in a command (the shell's tilde is not expanded by
    /// [`super::shell`]).
    pub user_home: Option<PathBuf>,
    /// The patina homes whose age-encrypted files must not be read out: the one this hook
    /// uses and `~/.patina` (absolute).
    pub homes: Vec<PathBuf>,
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
            .and_then(|f| {
                sealed_path(&lexical(&expand_tilde(f, cwd.as_deref(), s)), s)
                    .map(|p| (sealed_reason(tool, &p), Vec::new()))
                    .or_else(|| file_holds_known(&resolve(cwd.as_deref(), f), s))
            }),
        "Grep" => input.get("path").and_then(Value::as_str).and_then(|f| {
            sealed_path(&lexical(&expand_tilde(f, cwd.as_deref(), s)), s)
                .map(|p| (sealed_reason(tool, &p), Vec::new()))
                .or_else(|| file_holds_known(&resolve(cwd.as_deref(), f), s))
        }),
        // The host shows the model the lines around an edit (QA session 9, M3): an edit of a
        // file that holds a known value is denied as its read is; an edit of the files the
        // guard stands on (the host's settings, the binary) switches the guard off.
        "Edit" | "MultiEdit" | "NotebookEdit" | "Write" => input
            .get("file_path")
            .or_else(|| input.get("notebook_path"))
            .and_then(Value::as_str)
            .and_then(|f| {
                if guards_path(f, cwd.as_deref(), s) {
                    return Some((
                        switch_off_reason("change a file patina's guard relies on"),
                        Vec::new(),
                    ));
                }
                file_holds_known(&resolve(cwd.as_deref(), f), s).map(|(why, names)| {
                    (
                        why.replace("reading it", &format!("changing it with {tool}"))
                            .replace(
                                "Read the parts you need without it (`grep -v`, a line range)",
                                "Ask the user to make this change, or edit another file",
                            ),
                        names,
                    )
                })
            }),
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
    if let Some(what) = switches_off_together(&calls, s) {
        return Some((switch_off_reason(what), Vec::new()));
    }
    let mut files_checked = 0;
    // The directory each call runs in, as far as literal `cd`s tell (`cd .claude && rm
    // settings.json`); `None` after a `cd` to an expansion.
    let mut here: Option<PathBuf> = cwd.map(Path::to_path_buf);
    for c in &calls {
        if c.name == "cd" {
            let dest = c
                .args
                .iter()
                .find(|a| a.literal.as_deref().is_none_or(|l| !l.starts_with('-')));
            here = match dest.map(|a| a.literal.as_deref()) {
                None => s.user_home.clone(),
                Some(Some(l)) => Some(lexical(&expand_tilde(l, here.as_deref(), s))),
                Some(None) => None,
            };
        }
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
        if let Some(what) =
            switches_checks_off(c, s).or_else(|| changes_guarded(c, here.as_deref(), s))
        {
            return Some((switch_off_reason(what), Vec::new()));
        }
        if let Some(p) = names_sealed(c, here.as_deref(), s) {
            return Some((sealed_reason(&c.name, &p), Vec::new()));
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

/// Commands that name a file without printing or copying its content, so naming an
/// age-encrypted file with them is allowed ([`names_sealed`]).
const METADATA: &[&str] = &[
    "ls", "stat", "test", "[", "du", "realpath", "readlink", "dirname", "basename", "file", "wc",
    "cd", "pwd", "echo", "printf", "which", "type", "patina",
];

/// Commands that copy a directory tree whole (an archive, a sync), so naming a directory
/// above the patina home takes its age-encrypted files along ([`names_sealed`]).
const ARCHIVERS: &[&str] = &[
    "tar",
    "bsdtar",
    "gtar",
    "zip",
    "7z",
    "7za",
    "7zr",
    "cpio",
    "pax",
    "rsync",
    "scp",
    "rclone",
    "restic",
    "borg",
    "duplicity",
    "zstd",
    "xz",
    "gzip",
    "bzip2",
    "mksquashfs",
    "genisoimage",
];

/// The age-encrypted file (or the directory holding such files) that `c` names by a literal
/// argument, if it does (QA session 9, M7): `identity.age` (the passphrase-protected
/// identity) and `vault.age` (a vault) wherever they are, any `*.age` file in a `.patina`
/// directory or the patina home, the patina home itself (`tar cz ~/.patina`, `cp -r`,
/// `find … -exec`), and, for an [`ARCHIVERS`] command, a directory above it (`tar cz ~`)
/// or above a project's vault.
/// Once such a file has left the machine, every secret falls to an offline guess of the
/// passphrase, with no tripwire and no rate limit. [`METADATA`] commands (and `patina`
/// itself) may name them. Literal arguments and globs only, like the rest of PreToolUse: a
/// path built at run time or a script file is not seen (README, "What the guard cannot do").
fn names_sealed(c: &Call, cwd: Option<&Path>, s: &Secrets<'_>) -> Option<PathBuf> {
    let name = c.name.rsplit('/').next().unwrap_or(&c.name);
    if METADATA.contains(&name) {
        return None;
    }
    let archiver = ARCHIVERS.contains(&name);
    for a in &c.args {
        let Some(l) = a.literal.as_deref() else {
            continue;
        };
        // `--file=PATH`, `if=PATH` (dd): the value after `=`.
        let l = if l.starts_with('-') || l.starts_with("if=") {
            match l.split_once('=') {
                Some((_, v)) => v,
                None => continue,
            }
        } else {
            l
        };
        if l.is_empty() {
            continue;
        }
        for p in expand_glob(&lexical(&expand_tilde(l, cwd, s))) {
            if let Some(p) = sealed_path(&p, s) {
                return Some(p);
            }
            // A directory above a home or a project's vault.
            if archiver
                && (s.homes.iter().any(|h| h.starts_with(&p))
                    || p.join(".patina/vault.age").exists())
            {
                return Some(p);
            }
        }
    }
    None
}

/// `p` when it is an age-encrypted file of patina's or a directory that is a patina home
/// ([`names_sealed`]'s first three cases).
fn sealed_path(p: &Path, s: &Secrets<'_>) -> Option<PathBuf> {
    let file = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_patina_dir = p
        .ancestors()
        .skip(1)
        .any(|a| a.file_name().is_some_and(|n| n == ".patina") || s.homes.iter().any(|h| h == a));
    let sealed = file == crate::secrets::identity::IDENTITY_FILE
        || file == "vault.age"
        || (file.ends_with(".age") && in_patina_dir)
        || file == ".patina"
        || s.homes.iter().any(|h| h == p);
    sealed.then(|| p.to_path_buf())
}

/// The denial's reason for `tool` naming the age-encrypted `path`.
fn sealed_reason(tool: &str, path: &Path) -> String {
    format!(
        "patina guard: `{tool}` would read or copy {}, which holds patina's age-encrypted identity or \
         vault; once it leaves this machine every secret falls to an offline guess of the \
         passphrase. patina's own commands use these files (`patina secrets list`, \
         `patina secrets run -- CMD`); ask the user if a copy is needed.",
        path.display()
    )
}

/// The denial's reason for a command that would `what` (a [`switches_checks_off`] answer).
fn switch_off_reason(what: &str) -> String {
    format!(
        "patina guard: this command would {what}, which switches off patina's checks of what \
         you read (the values it knows, the tripwires). Only the user does that, from their own \
         terminal; ask them if it is needed."
    )
}

/// What `c` would do to switch patina's checks off, if it would: lock the session (which
/// wipes the scan hold the guard checks outputs against), stop, freeze or kill the daemon,
/// acknowledge a tripwire alert, remove the guard's hooks, unmask `secrets run`, or remove,
/// move or overwrite a file of the run directory (the socket, the pid file, the hold marker
/// the hook fails closed on) (threat model, "Switching the checks off"). Looks at literal
/// arguments only:
///
/// - `patina session lock`, `session unlock --ack-canary`, `stop`, `guard uninstall`,
///   `secrets run --no-masking`;
/// - `kill` naming the daemon's pid or its process group (`-PID`); `pkill`/`pgrep`-style
///   patterns (`pkill`, `killall -r`) evaluated as extended regular expressions against the
///   daemon's process name (`patina`) and, for `pkill -f`, its command line, as `pkill(1)`
///   and `killall(1)` would (case-insensitively: broader than they are); `killall NAME` by
///   name; a pid file (`pkill -F …/serve.pid`);
/// - `curl`/`wget`/`http`/`xh` of `/session/lock` or `/shutdown`, after curl's URL globbing
///   (`{a,b}`, `[a-z]`, `[0-9]`) is expanded, the path percent-decoded and its dot segments
///   removed (RFC 3986 §5.2.4), as curl and the daemon's router see it ([`url_paths`]);
/// - `systemctl stop` of a patina unit;
/// - `rm`/`mv`/`cp`/`ln`/… naming a file of the run directory, and output redirections
///   (`> FILE`) into it.
fn switches_checks_off(c: &super::shell::Call, s: &Secrets<'_>) -> Option<&'static str> {
    let lits: Vec<&str> = c.args.iter().filter_map(|a| a.literal.as_deref()).collect();
    let words: Vec<&str> = lits
        .iter()
        .copied()
        .filter(|l| !l.starts_with('-'))
        .collect();
    let has = |needle: &str| lits.iter().any(|l| l.contains(needle));
    if c.writes.iter().any(|w| in_run_dir(w, s)) {
        return Some("overwrite a file of patina's run directory");
    }
    match c.name.as_str() {
        "patina" => match words.as_slice() {
            ["session", "lock", ..] => Some("lock the patina session"),
            ["session", "unlock", ..] if has("--ack-canary") => {
                Some("acknowledge a tripwire alert")
            }
            ["stop", ..] => Some("stop the patina daemon"),
            ["guard", "uninstall", ..] => Some("remove patina's guard hooks"),
            ["secrets", "run", ..]
                if lits
                    .iter()
                    .take_while(|l| **l != "--")
                    .any(|l| l.starts_with("--no-mask")) =>
            {
                Some("run a command with patina's masking off")
            }
            _ => None,
        },
        "kill" => {
            let pid = s.daemon_pid.map(|p| p.to_string());
            // `kill -- -PID` signals the process group PID leads.
            let names_pid = pid.is_some_and(|p| {
                lits.iter()
                    .any(|l| l.strip_prefix('-').unwrap_or(l) == p.as_str())
            });
            (has("patina") || names_pid).then_some("kill or stop the patina daemon")
        }
        "pkill" | "killall" => {
            let full = c.name == "pkill" && lits.iter().any(|l| is_flag(l, 'f', "--full"));
            let regex = c.name == "pkill" || lits.iter().any(|l| is_flag(l, 'r', "--regexp"));
            (has("patina")
                || has("serve.pid")
                || words
                    .iter()
                    .any(|w| pattern_names_daemon(w, regex, full, s.daemon_pid)))
            .then_some("kill or stop the patina daemon")
        }
        "curl" | "wget" | "http" | "https" | "xh" | "xhs" => lits
            .iter()
            .any(|l| {
                // Past the glob cap, any argument with a path counts (a JSON body's braces
                // multiply too, but hold no `/`).
                url_paths(l).map_or(l.contains('/'), |paths| {
                    paths
                        .iter()
                        .any(|p| p.contains("/session/lock") || p.contains("/shutdown"))
                })
            })
            .then_some("lock the patina session or stop its daemon"),
        "systemctl" => {
            (words.contains(&"stop") && has("patina")).then_some("stop the patina daemon")
        }
        "rm" | "mv" | "cp" | "ln" | "unlink" | "shred" | "truncate" | "install" | "rsync"
        | "tee" | "dd" | "touch" | "chmod" | "chown" | "rmdir" | "find" => lits
            .iter()
            .any(|l| in_run_dir(l.strip_prefix("of=").unwrap_or(l), s))
            .then_some("remove or replace a file of patina's run directory"),
        _ => None,
    }
}

/// Commands that remove, move, replace or chmod the files they name.
const CHANGERS: &[&str] = &[
    "rm", "mv", "cp", "ln", "unlink", "shred", "truncate", "install", "rsync", "tee", "dd",
    "touch", "chmod", "chown", "chgrp", "chattr", "setfacl", "rmdir", "find", "sponge", "patch",
    "rename", "ed", "ex",
];

/// The [`CHANGERS`] that also change everything below a directory they name.
const REMOVERS: &[&str] = &[
    "rm", "mv", "rmdir", "unlink", "shred", "chmod", "chown", "chgrp", "chattr", "setfacl", "find",
    "rename",
];

/// Whether `l` is itself a guarded file or a host settings file by name (not merely a
/// directory above one).
fn is_guarded_itself(l: &str, cwd: Option<&Path>, s: &Secrets<'_>) -> bool {
    let p = lexical(&expand_tilde(l, cwd, s));
    is_host_settings(&p) || s.guarded.contains(&p)
}

/// Interpreters whose inline code (`-c`, `-e`, …) can change any file.
const INTERPRETERS: &[&str] = &[
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "deno",
    "bun",
    "php",
    "lua",
    "tclsh",
    "osascript",
];

/// What `c` would do to the files the guard stands on ([`Secrets::guarded`], host settings
/// by name): remove, move, overwrite or chmod one of them or a directory above it, by a
/// command of [`CHANGERS`], `sed -i`/`perl -i`, an output redirection, or inline code of an
/// interpreter that names one (`python3 -c "…'.claude'…"`: matched as text). Literal
/// arguments only: a path built at run time (`$(…)`, a script file) is not seen (README,
/// "What the guard cannot do").
fn changes_guarded(c: &Call, cwd: Option<&Path>, s: &Secrets<'_>) -> Option<&'static str> {
    const WHAT: &str = "remove or change a file patina's guard relies on (the host's hook \
                        settings, the patina binary, the patina home)";
    if c.writes.iter().any(|w| guards_path(w, cwd, s)) {
        return Some(WHAT);
    }
    let lits: Vec<&str> = c.args.iter().filter_map(|a| a.literal.as_deref()).collect();
    let in_place = match c.name.as_str() {
        "sed" | "gsed" => lits
            .iter()
            .any(|l| l.starts_with("--in-place") || is_flag_prefix(l, 'i')),
        "perl" => lits.iter().any(|l| is_flag_prefix(l, 'i')),
        _ => false,
    };
    let name = c.name.as_str();
    let interpreter = INTERPRETERS.contains(&name)
        || INTERPRETERS.iter().any(|i| {
            name.strip_prefix(i)
                .is_some_and(|v| v.chars().all(|ch| ch.is_ascii_digit() || ch == '.'))
        });
    // `find` changes files only with an action that does.
    let find_changes = name != "find"
        || lits
            .iter()
            .any(|l| matches!(*l, "-delete" | "-exec" | "-execdir" | "-ok" | "-okdir"));
    if (CHANGERS.contains(&name) && find_changes) || in_place {
        // Removing, moving or chmod-ing a directory takes what is below it along; copying
        // one (`cp -r . /tmp/x`) does not touch it.
        let takes_below = REMOVERS.contains(&name);
        let named = lits.iter().any(|l| {
            let l = l.strip_prefix("of=").unwrap_or(l);
            !l.starts_with('-')
                && (guards_path(l, cwd, s) && (takes_below || is_guarded_itself(l, cwd, s)))
        });
        if named {
            return Some(WHAT);
        }
    }
    if interpreter {
        let mut needles: Vec<String> = [".claude", ".codex", ".patina"]
            .iter()
            .map(|n| n.to_string())
            .collect();
        needles.extend(
            s.guarded
                .iter()
                .filter_map(|p| p.to_str().map(str::to_string)),
        );
        if lits.iter().any(|l| {
            needles
                .iter()
                .any(|n| !n.is_empty() && l.contains(n.as_str()))
        }) {
            return Some(WHAT);
        }
    }
    None
}

/// Whether a one-letter option word starts with `-` and holds `flag` before any value
/// (`-i`, `-i.bak`, `-Ei`, `-pi`): clustered letters up to the flag.
fn is_flag_prefix(l: &str, flag: char) -> bool {
    l.starts_with('-')
        && !l.starts_with("--")
        && l[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == flag)
}

/// Whether the path `l` (a literal: `~` expanded with the user's home, a relative path
/// joined to `cwd`, dot segments removed) is a file the guard stands on or a directory
/// above one ([`Secrets::guarded`]), or names a host settings file or directory by its
/// name ([`is_host_settings`]).
fn guards_path(l: &str, cwd: Option<&Path>, s: &Secrets<'_>) -> bool {
    if l.is_empty() {
        return false;
    }
    let p = lexical(&expand_tilde(l, cwd, s));
    is_host_settings(&p) || s.guarded.iter().any(|g| g.starts_with(&p))
}

/// `l` with a leading `~` expanded to the user's home, else joined to `cwd` when relative.
fn expand_tilde(l: &str, cwd: Option<&Path>, s: &Secrets<'_>) -> PathBuf {
    match (l, &s.user_home) {
        ("~", Some(h)) => h.clone(),
        (l, Some(h)) if l.starts_with("~/") => h.join(&l[2..]),
        _ => resolve(cwd, l),
    }
}

/// `p` with `.` and `..` components removed lexically (no file system access).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `p` is, by its name, an agent host's settings that can hold the guard's hooks
/// (`guard install` writes them; `layer/core/threat-model.md`): a `.claude` or `.codex`
/// directory, `.claude/settings.json`, `.claude/settings.local.json`, `.codex/hooks.json`,
/// `.codex/config.toml`.
pub fn is_host_settings(p: &Path) -> bool {
    let names: Vec<&str> = p
        .components()
        .rev()
        .take(2)
        .filter_map(|c| c.as_os_str().to_str())
        .collect();
    matches!(
        names.as_slice(),
        [".claude" | ".codex", ..]
            | ["settings.json" | "settings.local.json", ".claude"]
            | ["hooks.json" | "config.toml", ".codex"]
    )
}

/// Whether an option word sets the one-letter flag `short` (alone or in a cluster, `-fx`)
/// or is the long option `long`.
fn is_flag(l: &str, short: char, long: &str) -> bool {
    l == long
        || (l.starts_with('-')
            && !l.starts_with("--")
            && l[1..].chars().all(|c| c.is_ascii_alphabetic())
            && l[1..].contains(short))
}

/// Whether a literal names a file inside patina's run directory: it contains
/// `.patina/run` (`~/.patina/run/serve.sock`: the shell's tilde is not expanded here) or
/// the run directory's own path.
fn in_run_dir(l: &str, s: &Secrets<'_>) -> bool {
    l.contains(".patina/run")
        || s.run_dir
            .as_deref()
            .and_then(Path::to_str)
            .is_some_and(|d| !d.is_empty() && l.contains(d))
}

/// Whether a `pkill`/`killall` pattern would select the daemon: as an extended regular
/// expression (`regex`; matched anywhere, like `pgrep`) or an exact name (`killall NAME`),
/// against the daemon's process name (`patina`) and, with `full` (`pkill -f`), its command
/// line (`/proc/<pid>/cmdline` when the pid is known, and `patina serve`). Case is ignored
/// (broader than the tools). A pattern that is not a valid expression is treated as one
/// that matches: the tool would refuse it anyway.
fn pattern_names_daemon(pat: &str, regex: bool, full: bool, pid: Option<u32>) -> bool {
    let mut targets = vec!["patina".to_string()];
    if full {
        targets.push("patina serve".to_string());
        if let Some(cmd) = pid.and_then(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok()) {
            let cmd: Vec<u8> = cmd.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
            targets.push(String::from_utf8_lossy(&cmd).trim_end().to_string());
        }
    }
    if !regex {
        return targets
            .iter()
            .any(|t| t.eq_ignore_ascii_case(pat.rsplit('/').next().unwrap_or(pat)));
    }
    match regex::RegexBuilder::new(pat)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
    {
        Ok(re) => targets.iter().any(|t| re.is_match(t)),
        Err(_) => true,
    }
}

/// Calls that switch the checks off only together: a `kill`/`pkill` whose target is an
/// expansion (`kill -STOP $(pgrep -f "patina serve")`, `kill $(cat ~/.patina/run/serve.pid)`)
/// beside a call that finds the daemon's pid (`pgrep`/`pidof` whose pattern selects the
/// daemon, or anything reading `serve.pid`).
fn switches_off_together(calls: &[Call], s: &Secrets<'_>) -> Option<&'static str> {
    let kills_expansion = calls.iter().any(|c| {
        matches!(c.name.as_str(), "kill" | "pkill" | "killall")
            && c.args.iter().any(|a| a.literal.is_none())
    });
    if !kills_expansion {
        return None;
    }
    let finds_daemon = calls.iter().any(|c| {
        let lits: Vec<&str> = c.args.iter().filter_map(|a| a.literal.as_deref()).collect();
        let full = lits.iter().any(|l| is_flag(l, 'f', "--full"));
        lits.iter()
            .copied()
            .chain(c.reads.iter().map(String::as_str))
            .any(|l| l.contains("serve.pid") || in_run_dir(l, s))
            || match c.name.as_str() {
                "pgrep" => lits
                    .iter()
                    .filter(|l| !l.starts_with('-'))
                    .any(|w| pattern_names_daemon(w, true, full, s.daemon_pid)),
                "pidof" => lits
                    .iter()
                    .any(|w| pattern_names_daemon(w, false, false, s.daemon_pid)),
                _ => false,
            }
    });
    finds_daemon.then_some("kill or stop the patina daemon")
}

/// Most URLs one curl glob may expand to before [`url_paths`] gives up (and the caller
/// treats an argument holding a `/` as if it named a guarded route).
const MAX_GLOB_URLS: usize = 1024;

/// The request paths an HTTP client's argument may reach, as the daemon's router sees them:
/// curl's URL globbing expanded (`{lock,x}` sets and `[a-z]`/`[0-9]`/`[001-100:2]` ranges;
/// `\{` stays literal), each URL's path taken from its first `/` after any `scheme://host`
/// (before `?` or `#`), percent-decoded, and its dot segments removed (RFC 3986 §5.2.4, as
/// curl does before sending), with runs of `/` collapsed. An argument without `/` gives no
/// path. `None` when the glob would expand to more than [`MAX_GLOB_URLS`] URLs (the caller
/// then treats any argument holding a `/` as one that names a guarded route).
fn url_paths(arg: &str) -> Option<Vec<String>> {
    Some(
        curl_glob(arg)?
            .iter()
            .filter_map(|u| {
                let rest = match u.find("://") {
                    Some(i) => &u[i + 3..],
                    None => u.as_str(),
                };
                let path = &rest[rest.find('/')?..];
                let path = path.split(['?', '#']).next().unwrap_or(path);
                let decoded = percent_decode(path);
                let mut out = remove_dot_segments(&decoded);
                while out.contains("//") {
                    out = out.replace("//", "/");
                }
                Some(remove_dot_segments(&out))
            })
            .collect(),
    )
}

/// `%XX` decoded (invalid escapes kept as they are; bytes that are not UTF-8 replaced).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3986 §5.2.4 `remove_dot_segments` on a path.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut out = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(r) = input.strip_prefix("../") {
            input = r;
        } else if let Some(r) = input.strip_prefix("./") {
            input = r;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") || input == "/.." {
            input = if input == "/.." { "/" } else { &input[3..] };
            match out.rfind('/') {
                Some(i) => out.truncate(i),
                None => out.clear(),
            }
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            out.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    out
}

/// curl's URL globbing (`curl(1)`, "URL"): every URL `url` expands to, or `None` past
/// [`MAX_GLOB_URLS`]. `{a,b,c}` is a set, `[a-z]`/`[0-9]` (optionally `:step`, zero-padded
/// like `[001-100]`) a range; a `[` that is not a range (an IPv6 address) and a
/// backslash-escaped `\{`/`\[` are literal.
fn curl_glob(url: &str) -> Option<Vec<String>> {
    let mut acc = vec![String::new()];
    let push_all = |acc: &mut Vec<String>, alts: &[String]| -> Option<()> {
        if acc.len().saturating_mul(alts.len().max(1)) > MAX_GLOB_URLS {
            return None;
        }
        *acc = acc
            .iter()
            .flat_map(|a| alts.iter().map(move |b| format!("{a}{b}")))
            .collect();
        Some(())
    };
    let mut rest = url;
    while let Some(ch) = rest.chars().next() {
        if ch == '\\' && rest[1..].starts_with(['{', '[', '}', ']']) {
            let lit = rest[1..2].to_string();
            push_all(&mut acc, &[lit])?;
            rest = &rest[2..];
        } else if ch == '{'
            && let Some(end) = rest.find('}')
        {
            let alts: Vec<String> = rest[1..end].split(',').map(str::to_string).collect();
            push_all(&mut acc, &alts)?;
            rest = &rest[end + 1..];
        } else if ch == '['
            && let Some(end) = rest.find(']')
            && let Some(alts) = glob_range(&rest[1..end])
        {
            push_all(&mut acc, &alts.ok()?)?;
            rest = &rest[end + 1..];
        } else {
            push_all(&mut acc, &[ch.to_string()])?;
            rest = &rest[ch.len_utf8()..];
        }
    }
    Some(acc)
}

/// The values of a curl range `a-z`, `0-9`, `001-100`, with an optional `:step`; `None`
/// when `inner` is not a range, `Some(Err(()))` for one longer than [`MAX_GLOB_URLS`].
fn glob_range(inner: &str) -> Option<Result<Vec<String>, ()>> {
    let (range, step) = match inner.split_once(':') {
        Some((r, st)) => (r, st.parse::<usize>().ok().filter(|&n| n > 0)?),
        None => (inner, 1),
    };
    let (lo, hi) = range.split_once('-')?;
    let one_char = |s: &str| {
        let mut c = s.chars();
        match (c.next(), c.next()) {
            (Some(x), None) if x.is_ascii_alphabetic() => Some(x),
            _ => None,
        }
    };
    if let (Some(a), Some(b)) = (one_char(lo), one_char(hi)) {
        return (a <= b).then(|| Ok((a..=b).step_by(step).map(|c| c.to_string()).collect()));
    }
    let (a, b) = (lo.parse::<u64>().ok()?, hi.parse::<u64>().ok()?);
    if a > b {
        return None;
    }
    if (b - a) / step as u64 >= MAX_GLOB_URLS as u64 {
        return Some(Err(()));
    }
    let width = if lo.starts_with('0') { lo.len() } else { 0 };
    Some(Ok((a..=b)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect()))
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
    use super::{curl_glob, glob_match, pattern_names_daemon, remove_dot_segments, url_paths};

    #[test]
    fn dot_segments_are_removed_as_rfc_3986_says() {
        // RFC 3986 §5.2.4's examples, and the ones an agent would use.
        for (input, out) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("mid/content=5/../6", "mid/6"),
            ("/session/x/../lock", "/session/lock"),
            ("/session/./lock", "/session/lock"),
            ("/../session/lock", "/session/lock"),
            ("/session/lock/.", "/session/lock/"),
            ("/a/..", "/"),
        ] {
            assert_eq!(remove_dot_segments(input), out, "{input}");
        }
    }

    #[test]
    fn curl_globs_expand_and_paths_normalise_as_curl_sends_them() {
        assert_eq!(
            curl_glob("http://h/session/l{o,x}ck").unwrap(),
            ["http://h/session/lock", "http://h/session/lxck"]
        );
        assert_eq!(curl_glob("/f[1-3]").unwrap(), ["/f1", "/f2", "/f3"]);
        assert_eq!(curl_glob("/f[08-10:2]").unwrap(), ["/f08", "/f10"]);
        assert_eq!(curl_glob(r"/a\{b}").unwrap(), ["/a{b}"]);
        assert_eq!(curl_glob("http://[::1]:8/x").unwrap(), ["http://[::1]:8/x"]);
        assert!(curl_glob("/[0-99999999]").is_none());
        assert!(curl_glob("/{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}").is_none());
        for (arg, path) in [
            ("http://localhost/session/%6cock", "/session/lock"),
            ("http://localhost//session//lock?x=1", "/session/lock"),
            ("localhost/session/%2e%2e/shutdown", "/shutdown"),
            ("http://localhost/session/s[k-m]ock", "/session/slock"),
        ] {
            let paths = url_paths(arg).unwrap();
            assert!(paths.iter().any(|p| p == path), "{arg}: {paths:?}");
        }
        assert_eq!(url_paths("application/json").unwrap(), ["/json"]);
        assert!(url_paths("-s").unwrap().is_empty());
    }

    #[test]
    fn pkill_patterns_are_matched_as_extended_regular_expressions() {
        for (pat, regex, full, m) in [
            ("serve", true, true, true),
            ("pat", true, false, true),
            ("^pat.*a$", true, false, true),
            ("webpack", true, true, false),
            ("serve", true, false, false),
            ("patina", false, false, true),
            ("/usr/bin/patina", false, false, true),
            ("pat", false, false, false),
            ("(", true, false, true),
        ] {
            assert_eq!(pattern_names_daemon(pat, regex, full, None), m, "{pat}");
        }
    }

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
