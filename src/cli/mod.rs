//! The command line (requirements §7): one function per subcommand. It prints; it reaches a daemon
//! only through [`crate::client`], and does the daemon's work itself through the same library
//! functions when no daemon runs. Exit codes: 0 ok, 1 error, 2 usage.
//!
//! Depends on every layer below it: [`crate::api`] (the request and response bodies),
//! [`crate::audit`], [`crate::auth`], [`crate::client`], [`crate::fsutil`] (`serve`'s check of
//! the identity file's mode), [`crate::limits`], [`crate::mcp`],
//! [`crate::mother`], [`crate::paths`], [`crate::scry`], [`crate::secrets`], [`crate::server`],
//! [`crate::session`], [`crate::guard`], [`crate::text`] and [`crate::tripwire`] (the alert
//! every command prints first).

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// `println!` for the CLI's stdout ([`stdout`]) that returns a failed write with `?` instead
/// of panicking, so a closed pipe (`patina … | head`) reaches [`main`], which ends quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!($crate::cli::stdout(), $($arg)*)?
    }};
}

/// `anyhow::bail!` for functions returning [`CliResult`]: returns an ordinary error (exit 1).
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::cli::Failure::Error(anyhow::anyhow!($($arg)*)))
    };
}

/// `anyhow::ensure!` for functions returning [`CliResult`]: an ordinary error (exit 1) unless
/// the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            bail!($($arg)*);
        }
    };
}

pub mod auth;
pub mod completions;
pub mod daemon;
pub mod guard;
pub mod mcp;
pub mod mother;
pub mod scrape;
pub mod scry;
pub mod secrets;
pub mod serve;
pub mod session;

/// patina keeps your project knowledge and secrets close at hand, for you and for the LLM
/// coding agents beside you, without ever printing a secret.
#[derive(Debug, Parser)]
#[command(name = "patina", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Talk to the daemon at this URL (http://HOST:PORT) over TCP (default: $PATINA_URL).
    /// Only for the commands that can use TCP: scry, status, mother scry, mcp (each also
    /// takes it after its name).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

// Not a `///` comment: clap's derive reads those as the `about` of each command that flattens
// this struct, applied when the deferred subcommand is built (see [`Command`]).
#[doc = concat!("`--url`, on the commands that can reach a daemon over TCP (and only those).")]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UrlArg {
    /// Talk to the daemon at this URL (http://HOST:PORT) over TCP instead of the Unix socket
    /// (default: $PATINA_URL). The token comes from $PATINA_SERVE_TOKEN or the token file;
    /// with a pinned server key, or no token and a client key, an age-key session is used
    /// instead (see `patina auth`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// The subcommands. Each one's arguments are built only when it is the one run, or for help,
/// completions and the man page (`defer`, on every subcommand enum; nested enums register
/// their commands' names at once): a `patina scry` no longer builds every command's arguments,
/// a third of its user-space instructions before (issue 18, `layer/core/performance.md`).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Run the daemon: HTTP/1.1 on a Unix socket (~/.patina/run/serve.sock).
    ///
    /// Serves scry for the project (default: the current directory), scraping it first if it
    /// has no index yet. Stop it with Ctrl-C, SIGTERM or `patina stop`.
    Serve(serve::ServeArgs),
    /// Index a project's knowledge (layer/ markdown and code) into DIR/.patina/.
    ///
    /// Incremental: unchanged files (same SHA-256) are skipped, deleted files leave the index.
    Scrape(scrape::ScrapeArgs),
    /// Search a project's knowledge (BM25 over titles, headings and text).
    ///
    /// Asks the running daemon if there is one, else opens the index directly.
    Scry(scry::ScryArgs),
    /// Show whether the daemon runs, and its pid, uptime, socket, TCP address and project.
    Status(daemon::StatusArgs),
    /// Stop the daemon gracefully: in-flight requests finish, socket and pid file are removed.
    #[command(
        after_help = "Examples:\n  patina stop                   # in-flight requests finish; exit 0 once stopped"
    )]
    Stop,
    /// The TCP bearer token: its path, or a new one.
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  patina token path\n  patina token rotate")]
    Token(daemon::TokenCmd),
    /// Manage secrets: the age vault, identities, and `secrets run`.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  patina secrets identity init\n  patina secrets add github-token\n  patina secrets run -- ./deploy.sh"
    )]
    Secrets(secrets::SecretsCmd),
    /// Every project of yours: the registry, and search across all of them and peer daemons.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  patina mother add ~/src/app\n  patina mother scry retry policy"
    )]
    Mother(mother::MotherCmd),
    /// Unlock secrets in the daemon for a while (like gpg-agent), lock them, see the audit log.
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  patina session unlock --ttl 10m\n  patina session lock")]
    Session(session::SessionCmd),
    /// Serve the Model Context Protocol on stdio, for LLM agents (Claude Code, Gemini CLI, …).
    ///
    /// Tools: scry, mother_projects, session_status, secrets_list, secrets_scan; none returns a
    /// secret value. Register it with `claude mcp add patina -- patina mcp`.
    Mcp(mcp::McpArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(completions::CompletionsArgs),
    /// Print the man page patina(1) (roff) to stdout: `patina man > patina.1`.
    #[command(hide = true)]
    Man,
    /// Age-key authentication for TCP: server and client keys, allowed clients, pins.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  patina auth server-key\n  patina auth allow age1… --name ci-container"
    )]
    Auth(auth::AuthCmd),
    /// Keep secrets out of a coding agent's context: hooks for Claude Code and Codex that
    /// conceal known values and tokens in tool output, and deny calls that print secrets.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  patina guard install --agent claude-code --dry-run\n  patina guard status --json"
    )]
    Guard(guard::GuardCmd),
}

/// Why a subcommand did not succeed. The variant decides the exit code, so [`main`] never has
/// to recover it from an error chain (no downcasting: the library's typed errors become
/// [`Failure::Error`] through `?`, and the CLI says where the user's mistake is).
///
/// It deliberately implements neither `Display` nor `std::error::Error`: so `?` can turn any
/// error into it (anyhow's own trick), and `anyhow::ensure!(cond, failure)` does not compile,
/// which would silently turn a usage error into an ordinary one.
#[derive(Debug)]
pub enum Failure {
    /// The user's usage mistake (a bad flag value, an empty query, a refused argument): exit
    /// code 2, printed as `patina: MESSAGE`.
    Usage(String),
    /// Any other error: exit code 1, printed as its chain on one line.
    Error(anyhow::Error),
    /// A check's negative verdict (`secrets scan` found secrets): exit code 1 with its line,
    /// also when stdout was closed early (`patina secrets scan F | head`), where an error
    /// ends quietly with 0: a pipeline's check must not pass because its reader stopped.
    Verdict(String),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Error(e.into())
    }
}

/// A subcommand's result: `Ok`, or a [`Failure`] that decides the exit code.
pub type CliResult<T = ()> = Result<T, Failure>;

/// A usage error (exit code 2) with this message.
pub fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

/// Set by [`Out`] when a write to stdout found the pipe closed by its reader (`EPIPE`). A
/// process static because stdout is one per process; only the CLI's `main` reads it.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The CLI's stdout (locked): every command writes through it, so a write to a closed pipe is
/// noticed where it happens and [`main`] can end quietly with success, as ripgrep does,
/// without inspecting the error that the write returns on its way up.
pub struct Out(std::io::StdoutLock<'static>);

/// This process's stdout for command output: see [`Out`].
pub fn stdout() -> Out {
    Out(std::io::stdout().lock())
}

impl Out {
    fn seen<T>(r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }
}

impl std::io::Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Out::seen(self.0.write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        Out::seen(self.0.write_all(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Out::seen(self.0.flush())
    }
}

/// Parses the command line, runs the subcommand, prints any error as one line on stderr and
/// returns the process exit code (0 ok, 1 error, 2 usage).
pub fn main() -> i32 {
    // The daemon's listener witness (`server::witness`): before anything else, no clap,
    // no home, no alert (it runs with an empty environment and holds nothing).
    let mut args = std::env::args();
    if args.nth(1).as_deref() == Some(crate::server::witness::SUBCOMMAND) {
        let ppid = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        return match crate::server::witness::run(ppid) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("patina: the listener's witness failed: {e}");
                1
            }
        };
    }
    let cli = Cli::parse();
    let result = run(cli);
    match result {
        Ok(()) => 0,
        // stdout was closed by its reader (`patina scry … | head`): that reader has what it
        // wanted, so end quietly with success, as ripgrep does.
        Err(Failure::Verdict(msg)) => {
            eprintln!("patina: {msg}");
            1
        }
        Err(_) if STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) => 0,
        Err(Failure::Usage(msg)) => {
            eprintln!("patina: {msg}");
            2
        }
        Err(Failure::Error(e)) => {
            eprintln!("patina: {}", one_line(&e));
            1
        }
    }
}

fn run(cli: Cli) -> CliResult {
    // A tripwire alert nobody acknowledged is printed first, by every command (issue 20):
    // the out-of-band channel of last resort. On stderr, so no command's output changes.
    if let Some(msg) = crate::paths::Home::from_env()
        .ok()
        .and_then(|h| crate::tripwire::pending_message(&h))
    {
        eprintln!("{msg}");
    }
    // `patina --url U CMD` and `patina CMD --url U` both work, for the commands that can use
    // TCP; before any other command `--url` is a usage error rather than silently ignored.
    let top = cli.url;
    let url = |own: UrlArg| own.url.or(top.clone());
    let local_only = |name: &str| -> CliResult {
        match &top {
            Some(_) => Err(usage(format!(
                "--url applies only to scry, status, mother scry and mcp; `{name}` works on this machine's daemon (the Unix socket) or without one"
            ))),
            None => Ok(()),
        }
    };
    match cli.command {
        Command::Scry(mut a) => {
            let u = url(std::mem::take(&mut a.tcp));
            scry::run(a, u.as_deref())
        }
        Command::Status(mut a) => {
            let u = url(std::mem::take(&mut a.tcp));
            daemon::status(a, u.as_deref())
        }
        Command::Mother(mother::MotherCmd::Scry(mut a)) => {
            let u = url(std::mem::take(&mut a.tcp));
            mother::scry(a, u.as_deref())
        }
        Command::Mcp(mut a) => {
            let u = url(std::mem::take(&mut a.tcp));
            mcp::run(a, u.as_deref())
        }
        Command::Serve(a) => local_only("serve").and_then(|()| serve::run(a)),
        Command::Scrape(a) => local_only("scrape").and_then(|()| scrape::run(a)),
        Command::Stop => local_only("stop").and_then(|()| daemon::stop()),
        Command::Token(c) => local_only("token").and_then(|()| daemon::token(c)),
        Command::Secrets(c) => local_only("secrets").and_then(|()| secrets::run(c)),
        Command::Mother(c) => local_only("mother").and_then(|()| mother::run(c)),
        Command::Session(c) => local_only("session").and_then(|()| session::run(c)),
        Command::Completions(a) => completions::completions(a),
        Command::Man => completions::man(),
        Command::Auth(c) => local_only("auth").and_then(|()| auth::run(c)),
        Command::Guard(c) => local_only("guard").and_then(|()| guard::run(c)),
    }
}

/// Formats an error chain as one line: `outer: cause: root cause` ([`crate::text::one_line`]).
pub fn one_line(e: &anyhow::Error) -> String {
    crate::text::one_line(e.as_ref())
}

/// One result for people: `N. [project: ]path:line  title  [kind]  score`, then the snippet
/// on its own line. Shared by `patina scry` and `patina mother scry`.
pub(crate) fn print_hit(
    out: &mut impl std::io::Write,
    n: usize,
    project: Option<&str>,
    h: &crate::scry::Hit,
) -> std::io::Result<()> {
    // Notes and peers are text from elsewhere: control characters (terminal escapes) are
    // shown as `?`, never passed to the terminal.
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    if c == '\n' { ' ' } else { '?' }
                } else {
                    c
                }
            })
            .collect()
    };
    let project = project
        .map(|p| format!("{}: ", clean(p)))
        .unwrap_or_default();
    writeln!(
        out,
        "{n:>2}. {project}{}:{}  {}  [{}]  {}",
        clean(&h.path),
        h.line,
        clean(&h.title),
        clean(&h.kind),
        score_text(h.score)
    )?;
    if !h.snippet.is_empty() {
        writeln!(out, "    {}", clean(&h.snippet))?;
    }
    Ok(())
}

/// A hit's score as the human output prints it: two decimals from 1 up, three significant
/// digits below (BM25 scores in a project of a few files are small: `0.00430`, not `0.00`).
fn score_text(score: f64) -> String {
    let a = score.abs();
    if a >= 1.0 || a == 0.0 || !a.is_finite() {
        return format!("{score:.2}");
    }
    // Digits after the point for three significant ones (at most 8: 1e-8 and below read 0).
    let decimals = (2 - a.log10().floor() as i32).clamp(2, 8) as usize;
    format!("{score:.decimals$}")
}

/// Parses `--limit N`: a positive count (0 is a usage error, as in the API and MCP; see
/// [`crate::scry::requested_limit`]).
pub fn parse_limit(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err(crate::scry::ZERO_LIMIT.into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of results, such as 5".into()),
    }
}

/// The project directory a command works on: the given one or the current directory,
/// canonicalized. Errors name the path.
pub fn project_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let p = match given {
        Some(p) => p,
        None => std::env::current_dir()?,
    };
    std::fs::canonicalize(&p).map_err(|e| anyhow::anyhow!("project directory {}: {e}", p.display()))
}

/// The project a search works on (`scry`, `mcp`): the given one; else the nearest of the
/// current directory and its parents that holds an index of the caller's own (see `own_index`),
/// as git finds its repository from a subdirectory, but never the home directory or `/`, and
/// no parent when `HOME` is unset; else the current directory (whose search then says to
/// scrape it, or opens the index there as before). Run from `src/` of a
/// project, `patina scry` had answered "no patina index" (QA session 12, F4).
///
/// Errors: as [`project_dir`].
pub fn project_to_search(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let explicit = given.is_some();
    let dir = project_dir(given)?;
    if explicit {
        return Ok(dir);
    }
    // Without a known home, no parent is searched: the rule "never the home directory"
    // cannot be kept (QA session 12, N4).
    let Some(home) = std::env::var_os("HOME").and_then(|h| std::fs::canonicalize(h).ok()) else {
        return Ok(dir);
    };
    let indexed = dir
        .ancestors()
        .take_while(|d| *d != Path::new("/") && *d != home)
        .find(|d| own_index(d));
    Ok(indexed.map_or(dir.clone(), Path::to_path_buf))
}

/// Whether `dir` holds an index that is the caller's own: `.patina` a private directory of
/// the caller's, as patina makes it ([`crate::fsutil::check_private_dir`]: not a symbolic
/// link, owned by the caller, no group or other bits), and in it `index.db` a regular file
/// owned by the caller. A parent's index made by another user (a 0777 `.patina` in `/tmp`)
/// would otherwise answer a search run below it, its notes shown to the agent as the
/// project's (QA session 12, N2).
fn own_index(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let state = dir.join(".patina");
    crate::fsutil::check_private_dir(&state).is_ok()
        && std::fs::symlink_metadata(state.join("index.db"))
            .is_ok_and(|f| f.is_file() && f.uid() == crate::fsutil::my_uid())
}

/// The project a command that indexes it works on (`serve`, `scrape`): the given one, or the
/// current directory unless that is the home directory (`$HOME`) or `/`, where every file
/// below would be read into an index: a `patina serve` typed in the wrong terminal must not
/// scrape a whole home (QA, session 8). `how`: how to name a directory explicitly, which is
/// always allowed.
///
/// Errors: [`Failure::Usage`] for a refused current directory; as [`project_dir`] otherwise.
pub fn project_to_index(given: Option<PathBuf>, how: &str) -> CliResult<PathBuf> {
    let explicit = given.is_some();
    let dir = project_dir(given)?;
    if explicit {
        return Ok(dir);
    }
    let home = std::env::var_os("HOME").and_then(|h| std::fs::canonicalize(h).ok());
    let what = if dir == Path::new("/") {
        "the root directory"
    } else if home.as_deref() == Some(dir.as_path()) {
        "your home directory"
    } else {
        return Ok(dir);
    };
    Err(usage(format!(
        "{} is {what}: patina would read every file below it into an index; cd into a \
         project, or name the directory with {how}",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn small_scores_print_three_significant_digits_not_zero() {
        // QA session 11: every score of a small project printed `0.00`.
        for (score, shown) in [
            (29.987, "29.99"),
            (1.0, "1.00"),
            (0.7543, "0.754"),
            (0.1, "0.100"),
            (0.004298, "0.00430"),
            (0.0000123456, "0.0000123"),
            (1e-12, "0.00000000"),
            (0.0, "0.00"),
            (-0.25, "-0.250"),
        ] {
            assert_eq!(score_text(score), shown, "{score}");
        }
    }

    /// Every command path (`secrets identity init`, …), with its long help.
    fn all_commands() -> Vec<(String, clap::Command)> {
        fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" || sub.is_hide_set() {
                    continue;
                }
                let p = format!("{path} {}", sub.get_name()).trim().to_string();
                out.push((p.clone(), sub.clone()));
                walk(sub, &p, out);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut out = Vec::new();
        walk(&cmd, "", &mut out);
        out
    }

    /// Issue 15 item 10: `--help` teaches with examples on every command: its long help
    /// holds an indented line that runs it (`  patina secrets identity init`, maybe after a
    /// pipe).
    #[test]
    fn every_command_has_examples_in_its_help() {
        let mut missing = Vec::new();
        for (path, mut cmd) in all_commands() {
            let help = cmd.render_long_help().to_string();
            let runs_it = help
                .lines()
                .any(|l| l.starts_with("  ") && l.contains(&format!("patina {path}")));
            if !runs_it {
                missing.push(path);
            }
        }
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }

    /// `--url` only where a daemon over TCP can be used.
    #[test]
    fn url_is_offered_only_by_commands_that_can_use_tcp() {
        let tcp = ["scry", "status", "mother scry", "mcp"];
        for (path, cmd) in all_commands() {
            let has = cmd.get_arguments().any(|a| a.get_long() == Some("url"));
            assert_eq!(has, tcp.contains(&path.as_str()), "--url on `{path}`");
        }
    }

    /// Start-up cost (issue 18): every subcommand enum is `defer`red, so parsing builds the
    /// arguments of the command run only. Unbuilt, no subcommand at any depth holds an
    /// argument yet; built (as for help, completions and the man page), they all do.
    #[test]
    fn subcommands_are_built_only_when_they_run() {
        // Nested subcommand enums are registered at once (their names, for the parent's
        // help), each command's arguments only when it is built.
        fn unbuilt(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                assert!(
                    sub.get_arguments().next().is_none(),
                    "`{path}` is built before it runs: add #[command(defer = true)] to its enum"
                );
                unbuilt(sub, &path);
            }
        }
        unbuilt(&Cli::command(), "patina");
        // Built, the whole tree is there: the walk of the help tests sees every command.
        let all = all_commands();
        let paths: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
        for path in [
            "scry",
            "secrets identity init",
            "mother peer add",
            "guard hook",
        ] {
            assert!(paths.contains(&path), "{path} missing from {paths:?}");
        }
        let scry = &all.iter().find(|(p, _)| p == "scry").unwrap().1;
        assert!(scry.get_arguments().any(|a| a.get_long() == Some("limit")));
    }

    /// A deferred subcommand shows its parent's list (unbuilt: the variant's doc comment)
    /// and its own help (built: its arguments' struct applied) with the same `about` and
    /// `long_about`: an `Args` struct's `///` comment would replace the variant's when it is
    /// built (hence `#[doc = concat!(…)]` on those structs).
    #[test]
    fn a_deferred_subcommand_is_described_alike_before_and_after_it_is_built() {
        fn alike(unbuilt: &clap::Command, built: &clap::Command, path: &str) {
            for sub in unbuilt.get_subcommands() {
                let name = sub.get_name();
                let b = built
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("{path} {name} missing once built"));
                let text = |s: Option<&clap::builder::StyledStr>| s.map(|s| s.to_string());
                assert_eq!(
                    (text(sub.get_about()), text(sub.get_long_about())),
                    (text(b.get_about()), text(b.get_long_about())),
                    "`{path} {name}` is described otherwise once built"
                );
            }
        }
        let mut built = Cli::command();
        built.build();
        alike(&Cli::command(), &built, "patina");
        let nested = [
            (
                "secrets",
                secrets::SecretsCmd::augment_subcommands(clap::Command::new("s")),
            ),
            (
                "mother",
                mother::MotherCmd::augment_subcommands(clap::Command::new("m")),
            ),
            (
                "guard",
                guard::GuardCmd::augment_subcommands(clap::Command::new("g")),
            ),
        ];
        for (name, unbuilt) in &nested {
            alike(unbuilt, built.find_subcommand(name).unwrap(), name);
        }
    }

    #[test]
    fn a_limit_of_zero_is_a_usage_error() {
        assert!(parse_limit("0").unwrap_err().contains("at least 1"));
        assert_eq!(parse_limit("3"), Ok(3));
        assert!(parse_limit("-1").is_err());
    }
}
