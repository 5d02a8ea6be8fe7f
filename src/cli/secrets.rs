//! `patina secrets …` (BRIEF §7). STUB: the secrets helper fills this.

/// The `secrets` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SecretsCmd {
    /// List secret names, their environment variables and vaults (never values).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `secrets` subcommand.
pub fn run(_cmd: SecretsCmd) -> anyhow::Result<()> {
    anyhow::bail!("secrets are not built yet")
}
