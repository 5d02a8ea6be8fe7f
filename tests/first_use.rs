//! What a new user meets first (issue 15): the README's test command does its own set-up with
//! pinned Python packages, and the CLI's rough edges (closed pipes, `--help` examples, …).
mod common;

use std::path::Path;

fn repo_file(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The README's test command is `scripts/test`; it makes a venv under `target/` from pinned
/// requirements (never the user's Python), runs every test binary (`--no-fail-fast`), and CI
/// runs that same script after fmt and clippy, installing no Python package itself.
#[test]
fn the_readme_test_command_sets_itself_up_with_pinned_packages() {
    let readme = repo_file("README.md");
    assert!(
        readme.contains("```sh\nscripts/test\n```"),
        "the README's test command is scripts/test"
    );
    let script = repo_file("scripts/test");
    for needle in [
        "target/test-venv",
        "scripts/requirements-test.txt",
        "-m venv",
        "export PATINA_TEST_PYTHON",
        "cargo test --all-features --locked --no-fail-fast \"$@\"",
    ] {
        assert!(script.contains(needle), "scripts/test lacks {needle}");
    }
    assert!(
        !script.contains("--user") && !script.contains("python3 -m pip"),
        "scripts/test must never install into the user's or the system's Python"
    );
    let reqs = repo_file("scripts/requirements-test.txt");
    let pins: Vec<&str> = reqs
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for name in ["mcp==", "openapi-spec-validator=="] {
        assert!(
            pins.iter().any(|l| l.starts_with(name)),
            "{name} is not pinned"
        );
    }
    for line in &pins {
        let (name, version) = line
            .split_once("==")
            .unwrap_or_else(|| panic!("not pinned with ==: {line}"));
        assert!(
            !name.is_empty() && !version.is_empty() && !version.contains(['<', '>', '*', ',']),
            "{line}"
        );
    }
    let ci = repo_file(".ci/run");
    let cmds: Vec<&str> = ci
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        cmds.iter().any(|l| l.trim() == "scripts/test"),
        ".ci/run calls scripts/test"
    );
    assert!(
        !cmds
            .iter()
            .any(|l| l.contains("pip install") || l.contains("cargo test")),
        ".ci/run installs no Python package and runs no other test command"
    );
    let fmt = cmds
        .iter()
        .position(|l| l.contains("cargo fmt --check"))
        .expect("fmt");
    let clippy = cmds
        .iter()
        .position(|l| l.contains("cargo clippy"))
        .expect("clippy");
    let test = cmds
        .iter()
        .position(|l| l.trim() == "scripts/test")
        .unwrap();
    assert!(
        fmt < test && clippy < test,
        "fmt and clippy run before the tests"
    );
}

/// When run by `scripts/test`, the interpreter the tests use has exactly the pinned versions.
#[test]
fn the_test_python_has_the_pinned_versions() {
    let Ok(py) = std::env::var("PATINA_TEST_PYTHON") else {
        panic!("PATINA_TEST_PYTHON is not set: run the tests with scripts/test");
    };
    let reqs = repo_file("scripts/requirements-test.txt");
    for name in ["mcp", "openapi-spec-validator"] {
        let pin = reqs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}==")))
            .unwrap()
            .trim()
            .to_string();
        let out = std::process::Command::new(&py)
            .args([
                "-c",
                &format!("import importlib.metadata as m; print(m.version('{name}'))"),
            ])
            .output()
            .expect("run the test python");
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            got, pin,
            "{name} in {py} (scripts/requirements-test.txt pins it)"
        );
    }
}
