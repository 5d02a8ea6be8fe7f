//! No secret value in any process's argument list (requirements §2; case 018): while `secrets run`
//! runs, no `/proc/*/cmdline` holds the canary. A test binary of its own, so that no other
//! test of the same run puts the canary in an argument list on purpose (as
//! `secrets_leaks.rs` does to check that `secrets add NAME VALUE` is refused).

use crate::common::secrets as secrets_common;

use secrets_common::*;
use std::process::Stdio;
use std::time::Duration;

fn all_cmdlines() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.bytes().all(|b| b.is_ascii_digit())
            && let Ok(c) = std::fs::read(e.path().join("cmdline"))
        {
            out.push((name, c));
        }
    }
    out
}

#[test]
fn the_canary_is_in_no_process_arguments_while_secrets_run_runs() {
    let w = World::new();
    w.add("canary", CANARY, &["--env", "PATINA_CANARY"]);
    for masking in [true, false] {
        let mut args = vec!["secrets", "run"];
        if !masking {
            args.push("--no-masking");
        }
        args.extend(["--", "sleep", "2"]);
        let mut child = w
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(800));
        for (pid, cmdline) in all_cmdlines() {
            assert_no_leak(&format!("/proc/{pid}/cmdline"), &cmdline, CANARY);
        }
        // Positive control: the value is in the child's environment.
        let needle = format!("PATINA_CANARY={CANARY}\0");
        let in_env = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|x| x == needle.as_bytes()))
        });
        assert!(in_env, "the child has the secret in its environment");
        assert!(child.wait().unwrap().success());
    }
}

/// `secrets run` holds decrypted values for the child's whole life, so it makes itself
/// non-dumpable like the daemon (case 021, found by a tester): SIGABRT leaves no core file,
/// even with `ulimit -c unlimited`, while the child stays an ordinary process.
#[test]
fn secrets_run_leaves_no_core_file_holding_the_values() {
    let w = World::new();
    w.add("canary", CANARY, &["--env", "PATINA_CANARY"]);
    let cores = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg("ulimit -c unlimited; cd \"$1\"; exec \"$0\" secrets run -- sleep 5")
        .arg(BIN)
        .arg(cores.path());
    w.configure(&mut c, true);
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // The patina process is `child` itself (sh exec'd it).
    let pid = child.id();
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(st.contains("patina"), "{st}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limits.lines().any(|l| l.starts_with("Max core file size")
            && l.split_whitespace().nth(4) == Some("unlimited")),
        "{limits}"
    );
    let kill = std::process::Command::new("kill")
        .args(["-ABRT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(300));
    let found: Vec<_> = std::fs::read_dir(cores.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(found.is_empty(), "core files: {found:?}");
}

/// Any command that holds an identity first lowers its own core-file limit to 0 (a tester
/// got a core with the identity from a `session unlock` stuck on a silent socket). Checked
/// on exactly that: a daemon that accepts and never answers (stopped with SIGSTOP; a
/// listener that is not patina gets no request at all, `peer_check`).
#[test]
fn a_command_holding_the_identity_allows_no_core_file() {
    let w = World::new();
    let proj = w.dir.path().join("proj");
    crate::common::write_fixture_project(&proj);
    let mut daemon = w
        .cmd(&["serve", "--project"])
        .arg(&proj)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !(w.home().join("run/serve.sock").exists() && w.home().join("run/serve.pid").exists()) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::common::signal(daemon.id(), "STOP");
    // Start from an unlimited core size, so the test shows the command lowering it.
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg("ulimit -c unlimited; exec \"$0\" session unlock --ttl 1m")
        .arg(BIN);
    w.configure(&mut c, true);
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let soft = || -> Option<String> {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))?
            .to_string();
        Some(line.split_whitespace().nth(4)?.to_string())
    };
    let t = std::time::Instant::now();
    let mut seen = None;
    while t.elapsed() < Duration::from_secs(10) {
        // Once it is waiting on the socket it has resolved the identity.
        std::thread::sleep(Duration::from_millis(200));
        seen = soft();
        if seen.as_deref() == Some("0") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(
        seen.as_deref(),
        Some("0"),
        "soft RLIMIT_CORE of the CLI holding the identity"
    );
}
