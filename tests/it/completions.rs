//! `patina completions SHELL` and `patina man`: generated from the clap definitions, so every
//! subcommand appears; each script loads in its shell where that shell is installed.
use crate::common;

use common::{assert_success, patina, run_timeout};
use std::process::Command;
use std::time::Duration;

fn generate(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = run_timeout(patina(dir.path()).args(args), Duration::from_secs(20));
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completion_loads_and_knows_every_subcommand() {
    let script = generate(&["completions", "bash"]);
    for sub in [
        "serve",
        "scry",
        "scrape",
        "secrets",
        "mcp",
        "completions",
        "status",
        "stop",
        "token",
    ] {
        assert!(script.contains(sub), "bash completion lacks {sub}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("patina.bash");
    std::fs::write(&file, &script).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}' && complete -p patina", file.display()))
        .output()
        .expect("bash");
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("_patina"),
        "no completion function registered"
    );
}

#[test]
fn zsh_and_fish_scripts_name_patina() {
    assert!(generate(&["completions", "zsh"]).starts_with("#compdef patina"));
    let fish = generate(&["completions", "fish"]);
    assert!(
        fish.contains("complete -c patina") && fish.contains("mcp"),
        "{fish}"
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_timeout(
        patina(dir.path()).args(["completions", "tcsh"]),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_is_roff_and_lists_the_subcommands() {
    let page = generate(&["man"]);
    assert!(page.contains(".TH patina 1"), "not a man page header");
    assert!(page.contains(".SH SUBCOMMANDS"));
    for sub in [
        "patina\\-serve",
        "patina\\-scry",
        "patina\\-mcp",
        "patina\\-completions",
    ] {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
    // Hidden from --help: `man` is a packaging helper.
    let help = generate(&["--help"]);
    assert!(
        help.contains("completions") && !help.contains("\n  man "),
        "{help}"
    );
}
