//! Shared by the secrets tests (`secrets_*`, `session`): a temporary PATINA_HOME per test, an identity
//! generated at run time (no key is ever committed), the real `patina` binary, and the
//! canary (`CLAUDE.md`) with its encoded forms.
#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A fake secret whose `+`, `/`, `=` change under URL and base64 encoding.
pub const CANARY: &str = "Pc4n4ry-7f3e9c1d+x/y=z";

pub const BIN: &str = env!("CARGO_BIN_EXE_patina");

/// One test's world: a temp dir holding `home/` (PATINA_HOME, created by patina itself),
/// `work/` (the current directory of every command: no project above it) and an identity.
pub struct World {
    pub dir: tempfile::TempDir,
    pub identity: String,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        std::fs::create_dir(dir.path().join("nort")).unwrap();
        let identity = patina::secrets::Identity::generate()
            .expose_secret_text()
            .to_string();
        World { dir, identity }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// `patina ARGS` with this world's PATINA_HOME and identity, no keyring, no D-Bus, run
    /// in `work/`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args);
        self.configure(&mut c, true);
        c
    }

    /// Like [`World::cmd`] without PATINA_IDENTITY and without disabling the keyring (which
    /// cannot reach a bus: D-Bus variables are unset and XDG_RUNTIME_DIR is empty).
    pub fn bare_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args);
        self.configure(&mut c, false);
        c
    }

    /// Gives `c` this world's environment and `work/` as its directory; with `identity`,
    /// also PATINA_IDENTITY and PATINA_NO_KEYRING.
    pub fn configure(&self, c: &mut Command, identity: bool) {
        super::scrub_env(c)
            .current_dir(self.work())
            .env("PATINA_HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.dir.path().join("nort"))
            .stdin(Stdio::null());
        if identity {
            c.env("PATINA_IDENTITY", &self.identity)
                .env("PATINA_NO_KEYRING", "1");
        }
    }

    /// Runs `patina ARGS` with `input` on stdin.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_input(self.cmd(args), input)
    }

    /// `printf VALUE | patina secrets add NAME --stdin [extra]`, asserting success.
    pub fn add(&self, name: &str, value: &str, extra: &[&str]) {
        let mut args = vec!["secrets", "add", name, "--stdin"];
        args.extend_from_slice(extra);
        let out = self.run(&args, value.as_bytes());
        assert!(out.status.success(), "add {name}: {}", show(&out));
    }
}

impl World {
    /// Trusts the project vault of `work/` as the user does: `patina secrets trust` in a
    /// terminal (`script`), answering `y`. Panics when it fails.
    pub fn trust_project(&self) {
        let (code, shown) = in_terminal(self, "\"$PATINA\" secrets trust", b"y\n", true)
            .expect("script(1) is needed to trust a project vault");
        assert_eq!(code, 0, "secrets trust: {shown}");
    }
}

pub fn run_with_input(mut c: Command, input: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The forms in which a value must never appear: plain, base64 (standard and URL-safe,
/// padded and not), hex (both cases), percent-encoded (both cases).
pub fn leak_forms(v: &str) -> Vec<String> {
    let b = v.as_bytes();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let pct = |upper: bool| -> String {
        b.iter()
            .map(|&x| {
                if x.is_ascii_alphanumeric() || b"-._~".contains(&x) {
                    (x as char).to_string()
                } else if upper {
                    format!("%{x:02X}")
                } else {
                    format!("%{x:02x}")
                }
            })
            .collect()
    };
    vec![
        v.to_string(),
        STANDARD.encode(b),
        STANDARD_NO_PAD.encode(b),
        URL_SAFE.encode(b),
        URL_SAFE_NO_PAD.encode(b),
        hex.clone(),
        hex.to_uppercase(),
        pct(true),
        pct(false),
    ]
}

/// Panics, without printing the value, if any form of `secret` is in `bytes`.
pub fn assert_no_leak(what: &str, bytes: &[u8], secret: &str) {
    for (i, form) in leak_forms(secret).iter().enumerate() {
        let found = bytes.windows(form.len()).any(|w| w == form.as_bytes());
        assert!(!found, "{what}: the secret leaked (form #{i})");
    }
}

/// Runs `command_line` in a pseudo-terminal with `script`, typing `input` into it, and
/// returns (exit code, everything the terminal showed). `None` when `script` is missing.
pub fn in_terminal(
    world: &World,
    command_line: &str,
    input: &[u8],
    with_identity: bool,
) -> Option<(i32, String)> {
    if Command::new("script").arg("--version").output().is_err() {
        return None;
    }
    let mut c = Command::new("script");
    c.args(["-qec", command_line, "/dev/null"]);
    world.configure(&mut c, with_identity);
    c.env("PATINA_NO_KEYRING", "1")
        .env("PATINA", BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    // Typed slowly enough that each prompt has switched echo off before its answer comes;
    // the pipe stays open until the command ends (script ends the session at EOF).
    for line in input.split_inclusive(|&b| b == b'\n') {
        std::thread::sleep(Duration::from_millis(400));
        let _ = stdin.write_all(line);
        let _ = stdin.flush();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    let shown = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    Some((status.code().unwrap_or(-1), shown))
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}
