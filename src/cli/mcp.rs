//! `patina mcp`: the Model Context Protocol server on stdio, for LLM agents (see [`crate::mcp`]).
use crate::paths::Home;
use std::path::PathBuf;

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `patina mcp`.")]
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Started by an MCP host, not by hand. For Claude Code:\n  claude mcp add patina -- patina mcp\n\nSpeaks JSON-RPC 2.0, one message per line, on stdin/stdout. Tools: scry, mother_projects,\nsession_status, secrets_list, secrets_scan. No tool returns a secret value."
)]
pub struct McpArgs {
    /// `--url`: this command can reach a daemon over TCP.
    #[command(flatten)]
    pub tcp: super::UrlArg,
    /// The project `scry` searches when a call names none (default: the current directory, or
    /// the nearest parent with an index).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
}

/// Runs the MCP server until stdin closes.
pub fn run(a: McpArgs, url: Option<&str>) -> super::CliResult {
    let project = super::project_to_search(a.project)?;
    let home = Home::from_env()?;
    crate::mcp::serve_stdio(home, url.map(str::to_string), &project)?;
    Ok(())
}
