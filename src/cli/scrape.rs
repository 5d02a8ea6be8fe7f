//! `patina scrape [DIR]`. STUB: the scry helper fills this.
use std::path::{Path, PathBuf};

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
    scrape_and_report(&root, a.json)
}

/// Scrapes `root` and prints the summary line (to stdout).
pub fn scrape_and_report(root: &Path, json: bool) -> anyhow::Result<()> {
    let s = crate::scry::scrape(root)?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!("{s:?}");
    }
    Ok(())
}
