//! Switching the guard off (QA session 9, H2 and M3) through the real binary: an agent with a
//! shell of the user's uid tries every way it found to make the hook pass a stored value in
//! clear — a lock asked by a non-patina process, a stop on a signal, moving the patina home
//! away, removing the hook or its binary, removing `alert.json` after a trip, editing a file
//! that holds a value — and each must leave the guard failing closed (the hook withholds,
//! PreToolUse denies). Only the user's own `patina session lock` / `patina stop` (the patina
//! binary, asked in a terminal), or the hold's expiry, end the hold marker.

use crate::common::secrets::{CANARY, World, assert_no_leak, run_with_input, show};
use crate::common::{self, Daemon, write_fixture_project};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A world whose global vault holds the canary, a daemon with a scan-only hold, and the
/// extra `serve` arguments.
fn held(w: &World) -> Daemon {
    let d = Daemon::start_in(
        tempfile::tempdir().unwrap(),
        w.home(),
        w.work(),
        &["--burst-limit", "100000"],
    );
    let o = run_with_input(w.cmd(&["session", "unlock", "--scan-only"]), b"");
    assert!(o.status.success(), "unlock --scan-only: {}", show(&o));
    assert!(w.home().join("run/hold.json").exists());
    d
}

fn world() -> World {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &["--env", "API_KEY"]);
    w
}

/// The payload of `tests/fixtures/guard/NAME.json` with `{{TEXT}}`, `{{CWD}}`, `{{FILE}}`
/// filled in.
fn fixture(name: &str, text: &str, cwd: &Path, file: &Path) -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/guard/{name}.json"));
    let f: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let s = f["payload"]
        .to_string()
        .replace("{{CWD}}", &json_inner(&cwd.display().to_string()))
        .replace("{{FILE}}", &json_inner(&file.display().to_string()))
        .replace("{{TEXT}}", &json_inner(text));
    serde_json::from_str(&s).unwrap()
}

/// `s` as it appears inside a JSON string literal.
fn json_inner(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap();
    q[1..q.len() - 1].to_string()
}

/// Runs the hook (`extra` arguments after `--agent claude-code`) on `payload` with
/// `env` set; its answer (Null when empty). Checks exit 0 and no leak.
fn hook_env(w: &World, payload: &Value, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let mut args = vec!["guard", "hook", "--agent", "claude-code"];
    args.extend_from_slice(extra);
    let mut c = w.cmd(&args);
    c.env("PATINA_TEST_GUARD_ASK_MS", "1500");
    c.envs(env.iter().copied());
    let o = run_with_input(c, payload.to_string().as_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_no_leak("hook stdout", &o.stdout, CANARY);
    assert_no_leak("hook stderr", &o.stderr, CANARY);
    if o.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", show(&o)))
    }
}

/// The PostToolUse answer for a Bash output of `text`.
fn post(w: &World, text: &str) -> Value {
    hook_env(
        w,
        &fixture("claude-code-bash-post", text, &w.work(), Path::new("")),
        &[],
        &[],
    )
}

/// Asserts the answer withholds the whole output (not checked), naming `session lock`.
fn withheld(a: &Value, what: &str) {
    let hso = &a["hookSpecificOutput"];
    let out = hso["updatedToolOutput"].to_string();
    assert!(
        out.contains("<concealed by patina: not checked>"),
        "{what}: {a}"
    );
    assert!(!out.contains(CANARY), "{what}: {a}");
    let why = hso["additionalContext"].as_str().unwrap_or_default();
    assert!(
        why.contains("withheld") && why.contains("patina session lock"),
        "{what}: {why}"
    );
}

/// Asserts the answer is the token-only pass of a user-ended hold (nothing withheld).
fn passes(a: &Value, what: &str) {
    assert!(
        a["hookSpecificOutput"]["updatedToolOutput"].is_null(),
        "{what}: {a}"
    );
}

/// QA session 9, H2 (a) and (b): a lock asked by a process that is not patina (here the
/// test itself, over the raw socket, like `curl --unix-socket` or a Python socket) and a
/// stop on SIGTERM or SIGINT wipe the daemon's hold, but the hold marker stays until its
/// expiry, so the hook keeps withholding; the user's `patina session lock` clears it, and
/// `patina stop` (the binary) ends it with the daemon.
#[test]
fn only_the_users_lock_or_stop_ends_the_hold_marker() {
    let w = world();
    let marker = w.home().join("run/hold.json");
    let leak = format!("password: {CANARY}\n");
    let mut d = held(&w);
    assert!(
        post(&w, &leak)
            .to_string()
            .contains("<concealed by patina: canary>")
    );

    // (a) A lock asked over the raw socket by a non-patina peer: locked, marker kept.
    let r = d.post("/session/lock", "{}");
    assert_eq!(r.status, 200);
    assert!(marker.exists(), "a foreign lock removed the marker");
    let m = std::fs::read_to_string(&marker).unwrap();
    assert!(m.contains("not patina"), "{m}");
    withheld(&post(&w, &leak), "locked by a foreign peer");
    withheld(
        &post(&w, "nothing secret"),
        "locked by a foreign peer, clean",
    );
    // The user's lock (the patina binary) clears it.
    let o = w.cmd(&["session", "lock"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(!marker.exists());
    passes(&post(&w, "nothing secret"), "after the user's lock");

    // (b) SIGTERM and SIGINT: clean stops, the marker stays.
    for sig in ["TERM", "INT"] {
        drop(d);
        d = held(&w);
        common::signal(d.pid(), sig);
        common::wait_timeout(&mut d.child, Duration::from_secs(15)).expect("no exit");
        assert!(marker.exists(), "SIG{sig} removed the marker");
        let a = post(&w, &leak);
        withheld(&a, sig);
        assert!(
            a.to_string().contains("without `patina stop`"),
            "{sig}: {a}"
        );
        let o = w.cmd(&["session", "lock"]).output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
        assert!(!marker.exists());
    }

    // A foreign `/shutdown` (curl, nc): the marker stays too.
    drop(d);
    d = held(&w);
    let r = d.post("/shutdown", "{}");
    assert_eq!(r.status, 200);
    common::wait_timeout(&mut d.child, Duration::from_secs(15)).expect("no exit");
    assert!(marker.exists(), "a foreign /shutdown removed the marker");
    withheld(&post(&w, &leak), "foreign shutdown");

    // The user's `patina stop` ends it.
    let o = w.cmd(&["session", "lock"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    drop(d);
    let mut d = held(&w);
    let o = w.cmd(&["stop"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    common::wait_timeout(&mut d.child, Duration::from_secs(15)).expect("no exit");
    assert!(!marker.exists(), "`patina stop` left the marker");
    passes(&post(&w, "nothing secret"), "after patina stop");
}

/// A bait value, built at run time.
fn bait() -> String {
    ["Bq7", "-bait-", "Lm3Zx9Rt", "-Kp2"].concat()
}

/// The PreToolUse answer's decision for a Bash `command` ("" for none).
fn pre(w: &World, command: &str) -> String {
    let a = hook_env(
        w,
        &fixture("claude-code-bash-pre", command, &w.work(), Path::new("")),
        &[],
        &[],
    );
    a["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// QA session 9, H2 (e): removing `alert.json` after a trip does not undo it. The daemon
/// keeps the trip in memory and the hold marker records it, so the hook still withholds
/// every output and denies every call, a daemon started later is tripped too, and only
/// `session unlock --ack-canary` ends it.
#[test]
fn removing_the_alert_file_does_not_undo_a_trip() {
    let w = world();
    let o = w.run(
        &["secrets", "add", "bait", "--stdin", "--canary"],
        bait().as_bytes(),
    );
    assert!(o.status.success(), "{}", show(&o));
    let mut d = held(&w);
    let alert = w.home().join("alert.json");
    // Trip: an output shows the bait.
    let a = post(&w, &format!("key={}\n", bait()));
    assert!(!a.to_string().contains(&bait()), "{a}");
    assert!(alert.exists(), "no trip: {a}");
    assert_eq!(pre(&w, "ls"), "deny");

    std::fs::remove_file(&alert).unwrap();
    // The hook still withholds and denies (the marker's record of the trip, and the
    // daemon's memory).
    let a = post(&w, "nothing secret");
    assert!(a.to_string().contains("tripwire"), "{a}");
    assert_eq!(pre(&w, "ls"), "deny");
    let leak = format!("password: {CANARY}\n");
    let a = post(&w, &leak);
    assert!(a.to_string().contains("tripwire"), "{a}");
    // The daemon answers tripped from memory.
    let r = d.get("/session");
    assert_eq!(
        r.json()["tripped"],
        true,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // An unlock without --ack-canary is refused.
    let o = run_with_input(w.cmd(&["session", "unlock", "--scan-only"]), b"");
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--ack-canary"),
        "{}",
        show(&o)
    );
    // The user's lock does not clear the trip either.
    let o = w.cmd(&["session", "lock"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(pre(&w, "ls"), "deny");

    // A daemon started after the file is gone (the first one killed) is tripped too.
    common::signal(d.pid(), "KILL");
    let _ = d.child.wait();
    drop(d);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    assert_eq!(d.get("/session").json()["tripped"], true);
    assert!(post(&w, "nothing secret").to_string().contains("tripwire"));
    assert_eq!(pre(&w, "ls"), "deny");
    let o = run_with_input(w.cmd(&["session", "unlock", "--scan-only"]), b"");
    assert!(!o.status.success(), "{}", show(&o));

    // Only --ack-canary ends it.
    let o = run_with_input(
        w.cmd(&["session", "unlock", "--scan-only", "--ack-canary"]),
        b"",
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(d.get("/session").json()["tripped"], false);
    assert_eq!(pre(&w, "ls"), "");
    let a = post(&w, &leak);
    assert!(
        a.to_string().contains("<concealed by patina: canary>"),
        "{a}"
    );
}
