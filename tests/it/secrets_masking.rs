//! `secrets run`: values in the child's environment, its output masked (every encoded form,
//! values split across writes), clean output untouched and not delayed, exit codes and
//! signals passed on.

use crate::common::secrets as secrets_common;

use secrets_common::*;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

const CONCEALED: &str = "<concealed by patina>";

fn world_with_canary() -> World {
    let w = World::new();
    w.add("canary", CANARY, &["--env", "PATINA_CANARY"]);
    w
}

/// `patina secrets run [flags] -- sh -c SCRIPT`, with `vars` in patina's (and so the
/// child's) environment.
fn sh(w: &World, flags: &[&str], script: &str, vars: &[(&str, &str)]) -> std::process::Output {
    let mut args = vec!["secrets", "run"];
    args.extend_from_slice(flags);
    args.extend(["--", "sh", "-c", script]);
    let mut c = w.cmd(&args);
    for (k, v) in vars {
        c.env(k, v);
    }
    run_with_input(c, b"")
}

#[test]
fn every_encoded_form_is_concealed_on_stdout_and_stderr() {
    let w = world_with_canary();
    for (i, form) in leak_forms(CANARY).iter().enumerate() {
        let o = sh(
            &w,
            &[],
            "printf 'a %s b\\n' \"$FORM\"; printf 'c %s d\\n' \"$FORM\" >&2",
            &[("FORM", form)],
        );
        assert!(o.status.success(), "{}", show(&o));
        assert_eq!(
            o.stdout,
            format!("a {CONCEALED} b\n").as_bytes(),
            "form #{i}"
        );
        assert_eq!(
            o.stderr,
            format!("c {CONCEALED} d\n").as_bytes(),
            "form #{i}"
        );
    }
    // The value as the child sees it, through printenv.
    let o = w.run(&["secrets", "run", "--", "printenv", "PATINA_CANARY"], b"");
    assert_eq!(o.stdout, format!("{CONCEALED}\n").as_bytes());
}

#[test]
fn a_value_split_across_two_writes_is_concealed() {
    let w = world_with_canary();
    let (a, b) = CANARY.split_at(9);
    let o = sh(
        &w,
        &[],
        "printf 'x %s' \"$A\"; sleep 0.4; printf '%s y\\n' \"$B\"",
        &[("A", a), ("B", b)],
    );
    assert_eq!(
        o.stdout,
        format!("x {CONCEALED} y\n").as_bytes(),
        "{}",
        show(&o)
    );
    assert_no_leak("split", &o.stdout, CANARY);
}

#[test]
fn no_masking_passes_values_through() {
    let w = world_with_canary();
    let o = sh(
        &w,
        &["--no-masking"],
        "printf '%s\\n' \"$PATINA_CANARY\"",
        &[],
    );
    assert_eq!(o.stdout, format!("{CANARY}\n").as_bytes());
}

#[test]
fn output_without_secrets_is_byte_identical() {
    let w = world_with_canary();
    let mut data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    // Almost the value: one byte changed in its middle, so no part of it of a piece's
    // length (64 bits: a cut value is masked) is shown.
    data.extend_from_slice(b"Pc4n4ry-7f3_9c1d+x/y=\xff almost, but not the value\n");
    let file = w.work().join("blob");
    std::fs::write(&file, &data).unwrap();
    let o = w.run(&["secrets", "run", "--", "cat", "blob"], b"");
    assert!(o.status.success());
    assert!(o.stdout == data, "stdout differs from the file");
    // Standard input passes through too.
    let o = w.run(&["secrets", "run", "--", "cat"], &data);
    assert!(o.stdout == data, "stdin → stdout differs");
}

#[test]
fn a_partial_prefix_at_the_end_is_flushed() {
    let w = world_with_canary();
    let o = sh(&w, &[], "printf 'end: Pc4n4ry-7f'", &[]);
    assert_eq!(o.stdout, b"end: Pc4n4ry-7f");
}

#[test]
fn output_that_cannot_start_a_secret_arrives_at_once() {
    let w = world_with_canary();
    let start = Instant::now();
    let mut child = w
        .cmd(&[
            "secrets",
            "run",
            "--",
            "sh",
            "-c",
            "echo ready; sleep 3; echo done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.ends_with(b"ready\n") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "EOF before the first line");
        got.extend_from_slice(&buf[..n]);
    }
    let first = start.elapsed();
    out.read_to_end(&mut got).unwrap();
    let total = start.elapsed();
    child.wait().unwrap();
    assert!(
        first < Duration::from_millis(2500) && total >= Duration::from_secs(3),
        "first line after {first:?}, all after {total:?}"
    );
    assert_eq!(got, b"ready\ndone\n");
}

#[test]
fn exit_codes_and_signals_come_through() {
    let w = world_with_canary();
    assert_eq!(sh(&w, &[], "exit 42", &[]).status.code(), Some(42));
    assert_eq!(
        sh(&w, &["--no-masking"], "exit 3", &[]).status.code(),
        Some(3)
    );
    assert_eq!(
        sh(&w, &[], "kill -KILL $$", &[]).status.code(),
        Some(128 + 9)
    );
    assert_eq!(
        sh(&w, &[], "kill -TERM $$", &[]).status.code(),
        Some(128 + 15)
    );
    let o = w.run(&["secrets", "run", "--", "/nonexistent/command"], b"");
    assert_eq!(o.status.code(), Some(127), "{}", show(&o));
    // One line naming the command (case 032 d), an unprintable name escaped.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`/nonexistent/command`: not found"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let o = w.run(&["secrets", "run", "--", "bad\u{1}name"], b"");
    assert_eq!(o.status.code(), Some(127), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`bad\\u{1}name`"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn sigterm_and_sigint_are_forwarded_to_the_child() {
    let w = world_with_canary();
    for (sig, name) in [(15, "TERM"), (2, "INT")] {
        let script = format!(
            "trap 'echo got-{name}; exit 7' {name}; echo up; \
             i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; exit 1"
        );
        let mut child = w
            .cmd(&["secrets", "run", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut buf = [0u8; 3];
        out.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"up\n");
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        let signal = rustix::process::Signal::from_named_raw(sig).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(rest, format!("got-{name}\n"));
        assert_eq!(status.code(), Some(7), "patina exits with the child's code");
    }
}

/// A misspelt flag before `--` is a usage error (exit 2), never run as the command.
#[test]
fn a_misspelt_flag_before_the_command_is_a_usage_error() {
    let w = World::new();
    w.add("canary", CANARY, &["--env", "PATINA_CANARY"]);
    for flag in ["--bogus", "--no-maskin"] {
        let out = w.run(
            &["secrets", "run", flag, "--", "printenv", "PATINA_CANARY"],
            b"",
        );
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", show(&out));
        assert!(!String::from_utf8_lossy(&out.stdout).contains(CANARY));
    }
}

/// Case 032: `secrets run` and the child's stdin: passed through byte for byte with EOF; a
/// stdin that never sends nor closes (a silent pipe, an agent harness's socket) holds up
/// nothing; an endless stdin ends when the child is done.
#[test]
fn stdin_is_the_childs_and_a_silent_one_holds_nothing_up_case_032() {
    let w = world_with_canary();
    // Byte for byte, with EOF.
    let blob: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let out = run_with_input(
        w.cmd(&["secrets", "run", "--no-masking", "--", "cat"]),
        &blob,
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(out.stdout == blob, "stdin changed on its way to the child");
    // A socket on fd 0 that never sends and never closes.
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let t = Instant::now();
    let out = w
        .cmd(&["secrets", "run", "--", "sh", "-c", "echo done"])
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(a)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "held up {:?}",
        t.elapsed()
    );
    // An endless stdin: `head -c 5` ends the run.
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let t = Instant::now();
    let out = w
        .cmd(&["secrets", "run", "--", "head", "-c", "5"])
        .stdin(Stdio::from(zero))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(out.stdout, [0u8; 5]);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        !String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("pipe")
    );
}

/// Case 032: under a terminal the child keeps its terminal on stdin (a prompt and `read`
/// work); a crash, a missing command and a locked session print no value.
#[test]
fn the_child_keeps_its_terminal_and_error_paths_print_no_value_case_032() {
    let w = world_with_canary();
    if let Some((code, shown)) = in_terminal(
        &w,
        "\"$PATINA\" secrets run -- sh -c 'test -t 0 && echo stdin-tty; printf \"name? \"; read -r x; echo \"got [$x]\"'",
        b"alice\n",
        true,
    ) {
        assert_eq!(code, 0, "{shown}");
        assert!(shown.contains("stdin-tty"), "{shown}");
        assert!(shown.contains("got [alice]"), "{shown}");
    } else {
        panic!("`script` (bsdutils) is needed for this test");
    }
    for (args, want) in [
        (
            &["secrets", "run", "--", "sh", "-c", "kill -SEGV $$"][..],
            Some(139),
        ),
        (&["secrets", "run", "--", "/nonexistent/cmd"], Some(127)),
    ] {
        let out = run_with_input(w.cmd(args), b"");
        assert_eq!(out.status.code(), want, "{args:?}: {}", show(&out));
        for stream in [&out.stdout, &out.stderr] {
            assert_no_leak(&format!("{args:?}"), stream, CANARY);
            assert!(!String::from_utf8_lossy(stream).contains("PATINA_CANARY="));
        }
    }
}

/// The child gets patina's environment but neither the identity (`PATINA_IDENTITY`, which
/// `w.cmd` sets) nor the TCP bearer token (`PATINA_SERVE_TOKEN`; QA, session 7).
#[test]
fn the_identity_and_the_bearer_token_are_not_passed_to_the_child() {
    let w = world_with_canary();
    let o = sh(
        &w,
        &["--no-masking"],
        "echo \"[${PATINA_IDENTITY:-}][${PATINA_SERVE_TOKEN:-}][${OTHER_VAR:-}]\"",
        &[("PATINA_SERVE_TOKEN", "tok-1234"), ("OTHER_VAR", "kept")],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "[][][kept]\n");
}
