//! `patina scry [--project DIR] [--limit N] [--json] QUERY`.
use std::path::PathBuf;

/// Arguments of `patina scry`.
#[derive(Debug, clap::Args)]
pub struct ScryArgs {
    /// The project to search (default: the current directory).
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// How many results at most (capped at 1000).
    #[arg(long, default_value_t = crate::scry::DEFAULT_LIMIT)]
    pub limit: usize,
    /// Print exactly the /api/scry response JSON.
    #[arg(long)]
    pub json: bool,
    /// The query: any text; words are matched, operators are taken literally.
    #[arg(required = true, num_args = 1..)]
    pub query: Vec<String>,
}

/// Runs `patina scry`.
pub fn run(_a: ScryArgs) -> anyhow::Result<()> {
    anyhow::bail!("scry is not built yet")
}
