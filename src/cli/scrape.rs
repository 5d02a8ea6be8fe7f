//! `patina scrape [DIR]`. STUB: the scry helper fills this.
use std::path::PathBuf;

/// Arguments of `patina scrape`.
#[derive(Debug, clap::Args)]
pub struct ScrapeArgs {
    /// The project directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `patina scrape`.
pub fn run(a: ScrapeArgs) -> anyhow::Result<()> {
    let root = super::project_dir(a.dir)?;
    let s = crate::scry::scrape(&root)?;
    println!("{s:?}");
    Ok(())
}
