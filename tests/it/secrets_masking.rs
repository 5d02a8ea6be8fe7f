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
    data.extend_from_slice(b"Pc4n4ry-7f3e9c1d+x/y=\xff almost, but not the value\n");
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
