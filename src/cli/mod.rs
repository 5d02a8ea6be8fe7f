//! The command line (requirements §7): one function per subcommand. It prints; it reaches a daemon
//! only through [`crate::client`], and does the daemon's work itself through the same library
//! functions when no daemon runs. Exit codes: 0 ok, 1 error, 2 usage.
//!
//! Depends on every layer below it: [`crate::api`] (the request and response bodies),
//! [`crate::audit`], [`crate::auth`], [`crate::client`], [`crate::limits`], [`crate::mcp`],
//! [`crate::mother`], [`crate::paths`], [`crate::scry`], [`crate::secrets`], [`crate::server`],
//! [`crate::session`] and [`crate::text`].

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub mod auth;
pub mod completions;
pub mod daemon;
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
    /// Talk to the daemon at this URL (http://HOST:PORT) over TCP instead of the Unix socket
    /// (default: $PATINA_URL). The token comes from $PATINA_SERVE_TOKEN or the token file;
    /// with a pinned server key, or no token and a client key, an age-key session is used
    /// instead (see `patina auth`).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
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
    Stop,
    /// The TCP bearer token: its path, or a new one.
    #[command(subcommand)]
    Token(daemon::TokenCmd),
    /// Manage secrets: the age vault, identities, and `secrets run`.
    #[command(subcommand)]
    Secrets(secrets::SecretsCmd),
    /// Every project of yours: the registry, and search across all of them and peer daemons.
    #[command(subcommand)]
    Mother(mother::MotherCmd),
    /// Unlock secrets in the daemon for a while (like gpg-agent), lock them, see the audit log.
    #[command(subcommand)]
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
    Auth(auth::AuthCmd),
}

/// An error that is the user's usage mistake: exit code 2 instead of 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the command line, runs the subcommand, prints any error as one line on stderr and
/// returns the process exit code (0 ok, 1 error, 2 usage).
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Scrape(a) => scrape::run(a),
        Command::Scry(a) => scry::run(a, cli.url.as_deref()),
        Command::Status(a) => daemon::status(a, cli.url.as_deref()),
        Command::Stop => daemon::stop(),
        Command::Token(c) => daemon::token(c),
        Command::Secrets(c) => secrets::run(c),
        Command::Mother(c) => mother::run(c, cli.url.as_deref()),
        Command::Session(c) => session::run(c),
        Command::Mcp(a) => mcp::run(a, cli.url.as_deref()),
        Command::Completions(a) => completions::completions(a),
        Command::Man => completions::man(),
        Command::Auth(c) => auth::run(c),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("patina: {}", one_line(&e));
            if e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            }
        }
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
        "{n:>2}. {project}{}:{}  {}  [{}]  {:.2}",
        clean(&h.path),
        h.line,
        clean(&h.title),
        clean(&h.kind),
        h.score
    )?;
    if !h.snippet.is_empty() {
        writeln!(out, "    {}", clean(&h.snippet))?;
    }
    Ok(())
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
