//! `patina serve`.
use std::path::PathBuf;

/// Arguments of `patina serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The project to serve (default: the current directory); scraped first if it has no index.
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// The Unix socket path (default: $PATINA_HOME/run/serve.sock).
    #[arg(long)]
    pub socket: Option<PathBuf>,
}

/// Runs the daemon until SIGINT/SIGTERM.
pub fn run(_a: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("serve is not built yet")
}
