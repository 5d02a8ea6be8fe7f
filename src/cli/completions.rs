//! `patina completions SHELL` and `patina man`: shell completion scripts (`clap_complete`) and
//! a roff man page (`clap_mangen`), both generated from the same clap definitions as the
//! parser, so they cannot drift from it. Both write to stdout.
use clap::CommandFactory;
use std::io::Write;

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `patina completions`.")]
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Install:\n  bash: patina completions bash > ~/.local/share/bash-completion/completions/patina\n  zsh:  patina completions zsh > ~/.zfunc/_patina   (with fpath+=(~/.zfunc) before compinit)\n  fish: patina completions fish > ~/.config/fish/completions/patina.fish"
)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script for the shell to stdout.
pub fn completions(a: CompletionsArgs) -> super::CliResult {
    let mut cmd = super::Cli::command();
    // Generated into memory first: clap_complete panics on a failed write, where a closed
    // stdout must be an error that `cli::main` turns into a quiet exit.
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "patina", &mut script);
    let mut out = super::stdout();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// Writes the man page `patina(1)` (roff) to stdout: `patina man > patina.1`. Subcommands are
/// listed in it; their own options are in `patina help SUBCOMMAND`.
pub fn man() -> super::CliResult {
    let cmd = super::Cli::command();
    let mut out = super::stdout();
    // A closed stdout (`patina man | head`) ends quietly in `cli::main`.
    clap_mangen::Man::new(cmd).render(&mut out)?;
    out.flush()?;
    Ok(())
}
