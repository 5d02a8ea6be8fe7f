//! Tripwires (issue 20) through the real binary and a real daemon: a word list pushed
//! through `patina guard hook` against a weak stored value locks the hold before the list is
//! exhausted (burst lock); a canary secret touched through each route — the guard hook,
//! `/guard/scan`, `/secrets/scan`, scry of a note holding it, `secrets run` of a command in
//! its scope, `/session/env` — locks the session and the hold at once; the alert reaches the
//! next command, unlock refuses until `--ack-canary`, and the audit log names the requester
//! and the canary, never a value; `secrets add` warns of weak values. Every output is
//! searched for the canary. Depends on `common` (the daemon, the secrets world).

use crate::common::secrets::{CANARY, World, assert_no_leak, run_with_input, show};
use crate::common::{Daemon, write_fixture_project};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

/// A PostToolUse payload of Claude Code's Bash tool printing `text`
/// (`tests/fixtures/guard/claude-code-bash-post.json`, its source named there).
fn bash_post(text: &str, cwd: &Path) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/guard/claude-code-bash-post.json");
    let f: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut p = f["payload"].clone();
    p["cwd"] = json!(cwd.display().to_string());
    p["tool_response"]["stdout"] = json!(text);
    p
}

/// Runs `patina ARGS` in `w` and checks stdout and stderr for the canary.
fn run(w: &World, args: &[&str], input: &[u8]) -> Output {
    let o = run_with_input(w.cmd(args), input);
    assert_no_leak(&format!("{args:?} stdout"), &o.stdout, CANARY);
    assert_no_leak(&format!("{args:?} stderr"), &o.stderr, CANARY);
    o
}

fn hook(w: &World, text: &str) -> Value {
    let payload = bash_post(text, &w.work());
    let o = run(
        w,
        &["guard", "hook", "--agent", "claude-code"],
        payload.to_string().as_bytes(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    if o.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", show(&o)))
    }
}

/// The audit log's records, after checking the file holds no form of the canary.
fn audit(w: &World) -> Vec<Value> {
    let bytes = std::fs::read(w.home().join("audit.log")).unwrap_or_default();
    assert_no_leak("audit.log", &bytes, CANARY);
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn tripwires(w: &World) -> Vec<Value> {
    audit(w)
        .into_iter()
        .filter(|e| e["event"] == "tripwire")
        .collect()
}

fn status(w: &World) -> Value {
    let o = run(w, &["session", "status", "--json"], b"");
    assert!(o.status.success(), "{}", show(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A world with the fixture project as `work/`, the canary stored as `aws-backup` (scoped
/// to `deploy.sh`, a bait), an ordinary secret, a note holding the canary, and a daemon.
fn canary_world() -> (World, Daemon) {
    let w = World::new();
    write_fixture_project(&w.work());
    // A note that pastes the canary: scry must redact it, and showing it trips.
    std::fs::write(
        w.work().join("layer/core/backup.md"),
        format!("# Backup credentials\n\nThe nightly backup bucket key is {CANARY} for now.\n"),
    )
    .unwrap();
    let o = run(
        &w,
        &[
            "secrets",
            "add",
            "aws-backup",
            "--stdin",
            "--canary",
            "--allow",
            "deploy.sh",
        ],
        CANARY.as_bytes(),
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("added canary aws-backup"),
        "{}",
        show(&o)
    );
    let ordinary = ["Zt7", "-q9Lw2", "-Vb8Kx4", "-Mn6Rp1"].concat();
    w.add("ci-token", &ordinary, &[]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    (w, d)
}

fn unlock(w: &World, extra: &[&str]) -> Output {
    let mut args = vec!["session", "unlock"];
    args.extend_from_slice(extra);
    run(w, &args, b"")
}

/// Asserts that exactly `n` trips are recorded, the last for the canary through `route`,
/// naming the requester (pid and executable) and its parents, never a value; that the
/// session and the hold are locked; that the next command prints the alert first; that
/// unlock refuses without `--ack-canary`; then acknowledges and unlocks again (`extra`).
fn assert_tripped_then_ack(w: &World, n: usize, route: &str, extra: &[&str]) {
    let trips = tripwires(w);
    assert_eq!(trips.len(), n, "trips after {route}: {trips:?}");
    let t = &trips[n - 1];
    assert_eq!(t["why"], "canary", "{t}");
    assert_eq!(t["names"], json!(["aws-backup"]), "{t}");
    assert_eq!(t["route"], route, "{t}");
    assert!(t["pid"].as_u64().is_some_and(|p| p > 1), "{t}");
    assert!(t["exe"].is_string(), "the requester's executable: {t}");
    assert!(
        t["parents"].as_array().is_some_and(|p| !p.is_empty()),
        "the requester's parents: {t}"
    );
    let st = status(w);
    assert_eq!(st["unlocked"], false, "{st}");
    assert_eq!(
        st["hold_expires_in_secs"], 0,
        "the hold is locked too: {st}"
    );
    assert_eq!(st["tripped"], true, "{st}");
    // The next command prints the alert first (here: status, on stderr).
    let o = run(w, &["session", "status"], b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("patina: TRIPWIRE") && err.contains("aws-backup") && err.contains(route),
        "{}",
        show(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("locked by a tripwire"),
        "{}",
        show(&o)
    );
    let o = unlock(w, extra);
    assert!(
        !o.status.success(),
        "unlock must refuse after a trip: {}",
        show(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--ack-canary"),
        "{}",
        show(&o)
    );
    let mut with_ack = vec!["--ack-canary"];
    with_ack.extend_from_slice(extra);
    let o = unlock(w, &with_ack);
    assert!(o.status.success(), "{}", show(&o));
    assert!(!w.home().join("alert.json").exists());
    let o = run(w, &["session", "status"], b"");
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("TRIPWIRE"),
        "the alert is cleared: {}",
        show(&o)
    );
    assert_eq!(audit(w).last().unwrap()["event"], "unlock");
    assert!(audit(w).iter().any(|e| e["event"] == "ack"));
}

#[test]
fn touching_a_canary_through_each_route_locks_the_session_and_the_hold_at_once() {
    let (w, d) = canary_world();
    let o = unlock(&w, &[]);
    assert!(o.status.success(), "{}", show(&o));
    let mut n = 0;

    // 1. The guard hook (PostToolUse): the canary is concealed as any finding, and trips.
    let answer = hook(&w, &format!("AWS_KEY={CANARY}\n"));
    let out = &answer["hookSpecificOutput"]["updatedToolOutput"]["stdout"];
    assert!(
        out.as_str()
            .unwrap()
            .contains("<concealed by patina: aws-backup>"),
        "{answer}"
    );
    n += 1;
    assert_tripped_then_ack(&w, n, "/guard/scan", &[]);

    // 2. /guard/scan asked directly: the same answer as any finding (names and offsets).
    let body = json!({ "text": format!("x {CANARY} y") }).to_string();
    let r = d.post("/guard/scan", &body);
    assert_eq!(r.status, 200);
    assert_no_leak("/guard/scan body", &r.body, CANARY);
    let v = r.json();
    assert_eq!(v["findings"][0]["name"], "aws-backup", "{v}");
    assert_eq!(v["findings"][0]["start"], 2, "{v}");
    n += 1;
    assert_tripped_then_ack(&w, n, "/guard/scan", &[]);

    // 3. /secrets/scan while unlocked.
    let r = d.post("/secrets/scan", &body);
    assert_eq!(r.status, 200);
    assert_no_leak("/secrets/scan body", &r.body, CANARY);
    n += 1;
    assert_tripped_then_ack(&w, n, "/secrets/scan", &[]);

    // 3b. /secrets/scan while only the scan hold knows the canary: it still trips.
    let o = run(&w, &["session", "lock"], b"");
    assert!(o.status.success());
    let o = unlock(&w, &["--scan-only"]);
    assert!(o.status.success(), "{}", show(&o));
    let r = d.post("/secrets/scan", &body);
    assert_eq!(r.status, 200);
    n += 1;
    assert_tripped_then_ack(&w, n, "/secrets/scan", &[]);

    // 4. scry of a note that holds it: redacted, and the answer trips.
    let r = d.post(
        "/api/scry",
        &json!({"query": "nightly backup bucket"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_no_leak("scry body", &r.body, CANARY);
    assert!(
        String::from_utf8_lossy(&r.body).contains("backup"),
        "the note is found"
    );
    n += 1;
    assert_tripped_then_ack(&w, n, "/scry", &[]);

    // 4b. The same note through mother's federated search of the registered projects.
    let work = w.work().display().to_string();
    let o = run(
        &w,
        &[
            "mother",
            "add",
            "--name",
            "canary-notes",
            "--no-scrape",
            &work,
        ],
        b"",
    );
    assert!(o.status.success(), "{}", show(&o));
    let r = d.post(
        "/mother/scry",
        &json!({"query": "nightly backup bucket"}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_no_leak("mother scry body", &r.body, CANARY);
    assert!(
        String::from_utf8_lossy(&r.body).contains("[redacted]"),
        "the note is found, redacted"
    );
    n += 1;
    assert_tripped_then_ack(&w, n, "/mother/scry", &[]);

    // 5. `secrets run` of a command in the canary's scope (POST /session/env through the
    // daemon): nothing runs, nothing is released.
    let marker = w.dir.path().join("ran");
    std::fs::write(
        w.work().join("deploy.sh"),
        format!("#!/bin/sh\ntouch {}\n", marker.display()),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", "deploy.sh"])
        .current_dir(w.work())
        .status()
        .unwrap();
    let o = run(&w, &["secrets", "run", "--", "./deploy.sh"], b"");
    assert!(!o.status.success(), "{}", show(&o));
    assert!(!marker.exists(), "the command must not run");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("tripwire"),
        "{}",
        show(&o)
    );
    n += 1;
    assert_tripped_then_ack(&w, n, "/session/env", &[]);
    // An ordinary command is not in the canary's scope: it runs, without the canary.
    let o = run(
        &w,
        &[
            "secrets",
            "run",
            "--",
            "sh",
            "-c",
            "echo ${AWS_BACKUP:-none} $CI_TOKEN",
        ],
        b"",
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("none "),
        "{}",
        show(&o)
    );
    assert_eq!(tripwires(&w).len(), n, "an ordinary run does not trip");

    // 6. `secrets run` of the bait without a daemon: the identity path refuses too.
    drop(d);
    let o = run(&w, &["secrets", "run", "--", "./deploy.sh"], b"");
    assert!(!o.status.success(), "{}", show(&o));
    assert!(!marker.exists(), "the command must not run");
    let trips = tripwires(&w);
    assert_eq!(trips.len(), n + 1);
    assert_eq!(trips[n]["route"], "secrets run");
    assert_eq!(trips[n]["names"], json!(["aws-backup"]));
    assert!(w.home().join("alert.json").exists());

    let log = std::fs::read(w.home().join("alert.json")).unwrap();
    assert_no_leak("alert.json", &log, CANARY);
}

#[test]
fn a_word_list_through_the_guard_hook_locks_the_hold_before_it_is_exhausted() {
    let w = World::new();
    write_fixture_project(&w.work());
    // A weak stored value: `secrets add` warns, without quoting it.
    let weak = ["sum", "mer"].concat();
    let o = run(&w, &["secrets", "add", "wifi", "--stdin"], weak.as_bytes());
    assert!(o.status.success(), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: the value of wifi is weak"), "{err}");
    assert!(!err.contains(&weak), "the warning quotes the value: {err}");
    w.add("aws-backup", CANARY, &["--canary"]);
    let _d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let o = unlock(&w, &["--scan-only"]);
    assert!(o.status.success(), "{}", show(&o));

    // The attacker's list: common roots and their usual variants, ordered as word lists
    // are (by root); every variant of the right root holds the weak value.
    let roots = [
        "dragon", "monkey", "shadow", "master", "sunshine", "princess", "summer", "football",
        "charlie", "freedom", "winter", "flower", "hunter", "silver", "orange", "pepper",
    ];
    let suffixes = [
        "", "1", "12", "123", "1234", "!", "01", "2020", "2021", "2022", "2023", "2024", "2025",
        "69", "99", "007", "11", "22", "77", "88",
    ];
    let mut list: Vec<String> = Vec::new();
    for r in roots {
        for s in suffixes {
            list.push(format!("{r}{s}"));
            list.push(format!("my{r}{s}"));
        }
    }
    let mut concealed = 0;
    let mut tripped_at = None;
    for (i, word) in list.iter().enumerate() {
        let answer = hook(&w, &format!("{word}\n"));
        let text = answer.to_string();
        if text.contains("<concealed by patina: wifi>") {
            concealed += 1;
        }
        if text.contains("tripwire") {
            tripped_at = Some(i);
            break;
        }
    }
    let at = tripped_at.expect("the word list was exhausted without a lock");
    assert!(at + 1 < list.len(), "locked at {at} of {}", list.len());
    // Locked once the default limit (30 scans with a finding in 10 minutes) was passed.
    assert_eq!(
        concealed, 31,
        "answers that conceal the weak value before the lock"
    );
    let trips = tripwires(&w);
    assert_eq!(trips.len(), 1, "{trips:?}");
    assert_eq!(trips[0]["why"], "burst");
    assert_eq!(trips[0]["names"], json!(["wifi"]));
    assert!(
        trips[0]["exe"]
            .as_str()
            .is_some_and(|e| e.contains("patina"))
    );
    let st = status(&w);
    assert_eq!(st["hold_expires_in_secs"], 0, "the hold is locked: {st}");
    // Locked, the guard withholds every output (the weak value, a token, anything) and
    // denies every call until the user acknowledges the alert.
    let token = ["gh", "p_", "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY3zC5"].concat();
    for text in [format!("export GH_TOKEN={token}\n"), format!("{weak}\n")] {
        let answer = hook(&w, &text);
        assert_eq!(
            answer["hookSpecificOutput"]["updatedToolOutput"]["stdout"],
            "<concealed by patina: tripwire>",
            "{answer}"
        );
        assert!(
            answer.to_string().contains("--ack-canary"),
            "the model is told why: {answer}"
        );
    }
    let a = hook_payload(
        &w,
        &pre(&w.work(), "Bash", json!({"command": "cat notes.txt"})),
        &weak,
    );
    assert_eq!(a["hookSpecificOutput"]["permissionDecision"], "deny", "{a}");
    // The alert reaches the next command.
    let o = run(&w, &["secrets", "list"], b"");
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("patina: TRIPWIRE"),
        "{}",
        show(&o)
    );
}

#[test]
fn the_burst_limit_is_configurable_and_counts_findings_not_scans() {
    let w = World::new();
    write_fixture_project(&w.work());
    let value = ["Qm4", "-tR7", "-wX2", "-pL9", "-zK5"].concat();
    w.add("api", &value, &[]);
    let d = Daemon::start_in(
        tempfile::tempdir().unwrap(),
        w.home(),
        w.work(),
        &["--burst-limit", "3"],
    );
    let o = unlock(&w, &["--scan-only"]);
    assert!(o.status.success(), "{}", show(&o));
    // Scans without a finding never count.
    for _ in 0..20 {
        let r = d.post("/guard/scan", &json!({"text": "nothing here"}).to_string());
        assert_eq!(r.status, 200);
    }
    let hit = json!({ "text": format!("a {value} b {value}") }).to_string();
    for i in 0..3 {
        let r = d.post("/guard/scan", &hit);
        assert_eq!(r.json()["held"], true, "scan {i}");
    }
    assert!(tripwires(&w).is_empty());
    let r = d.post("/guard/scan", &hit);
    assert_eq!(
        r.json()["findings"].as_array().unwrap().len(),
        2,
        "answered as usual"
    );
    let trips = tripwires(&w);
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0]["why"], "burst");
    let r = d.post("/guard/scan", &hit);
    let v = r.json();
    assert_eq!(v["held"], false, "{v}");
    assert_eq!(v["tripped"], true, "{v}");
    assert_no_leak(
        "audit",
        &std::fs::read(w.home().join("audit.log")).unwrap(),
        &value,
    );
}

#[test]
fn secrets_add_warns_of_weak_values_only() {
    let w = World::new();
    let strong = ["Hq8", "-Lm3", "Zr9", "+Vx2", "Tk7/", "Pw4"].concat();
    for (value, weak) in [
        ("hunter2", true),
        ("passwordpassword", true),
        ("Summer2024!", true),
        (strong.as_str(), false),
    ] {
        let o = run(
            &w,
            &["secrets", "add", "x", "--stdin", "--replace"],
            value.as_bytes(),
        );
        assert!(o.status.success(), "{}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.contains("is weak"), weak, "{err}");
        assert!(!err.contains(value), "the warning quotes the value: {err}");
    }
}

/// `patina guard hook --agent claude-code` fed `payload`; its answer (Null when empty),
/// after checking stdout and stderr for the canary and for `also`.
fn hook_payload(w: &World, payload: &Value, also: &str) -> Value {
    let o = run(
        w,
        &["guard", "hook", "--agent", "claude-code"],
        payload.to_string().as_bytes(),
    );
    assert_no_leak("hook stdout", &o.stdout, also);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    if o.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", show(&o)))
    }
}

fn pre(cwd: &Path, tool: &str, input: Value) -> Value {
    json!({"session_id": "s", "cwd": cwd.display().to_string(), "hook_event_name": "PreToolUse",
           "tool_name": tool, "tool_input": input, "tool_use_id": "t"})
}

fn post(cwd: &Path, tool: &str, response: Value) -> Value {
    json!({"session_id": "s", "cwd": cwd.display().to_string(), "hook_event_name": "PostToolUse",
           "tool_name": tool, "tool_input": {}, "tool_use_id": "t", "tool_response": response})
}

/// `patina mcp` asked for scry of `query`; its stdout, checked for the canary.
fn mcp_scry(w: &World, query: &str) -> String {
    let input = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"scry","arguments":{"query":query}}}),
    ]
    .map(|v| v.to_string())
    .join("\n")
        + "\n";
    let o = run(w, &["mcp"], input.as_bytes());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// QA's finding 2: an agent trips a tripwire on purpose (touches a canary) to switch the
/// value checks off. While the alert is pending — with the daemon up and without it — the
/// guard denies every PreToolUse call and withholds every PostToolUse output (every string
/// concealed, the tool's shape kept), whatever it holds; `/api/scry`, `/mother/scry`,
/// `/mother/shard`, MCP scry and `patina scry` show no note text. After `session unlock
/// --ack-canary` all of it works as before.
#[test]
fn a_pending_tripwire_denies_every_call_withholds_every_output_and_scry() {
    let (w, d) = canary_world();
    let o = unlock(&w, &[]);
    assert!(o.status.success(), "{}", show(&o));
    let ordinary = ["Zt7", "-q9Lw2", "-Vb8Kx4", "-Mn6Rp1"].concat();
    std::fs::write(
        w.work().join(".env"),
        format!("AWS_KEY={CANARY}\nCI_TOKEN={ordinary}\n"),
    )
    .unwrap();
    let work = w.work();
    // The trip, on purpose: the canary through the guard (concealed, as any finding).
    let a = hook(&w, &format!("{CANARY}\n"));
    assert!(
        a.to_string().contains("<concealed by patina: aws-backup>"),
        "{a}"
    );
    assert!(w.home().join("alert.json").exists());

    let check_tripped = |w: &World, when: &str| {
        for (tool, input) in [
            ("Bash", json!({"command": "cat .env"})),
            ("Bash", json!({"command": "ls"})),
            (
                "Read",
                json!({"file_path": work.join(".env").display().to_string()}),
            ),
        ] {
            let a = hook_payload(w, &pre(&work, tool, input.clone()), &ordinary);
            let h = &a["hookSpecificOutput"];
            assert_eq!(h["permissionDecision"], "deny", "{when} {input}: {a}");
            assert!(
                h["permissionDecisionReason"]
                    .as_str()
                    .unwrap()
                    .contains("patina session unlock --ack-canary"),
                "{a}"
            );
        }
        let leaky = format!("AWS_KEY={CANARY}\nCI_TOKEN={ordinary}\nhello\n");
        for text in [leaky.as_str(), "hello\n"] {
            let a = hook_payload(
                w,
                &post(
                    &work,
                    "Bash",
                    json!({"stdout": text, "stderr": "", "interrupted": false}),
                ),
                &ordinary,
            );
            let h = &a["hookSpecificOutput"];
            assert_eq!(
                h["updatedToolOutput"],
                json!({"stdout": "<concealed by patina: tripwire>", "stderr": "", "interrupted": false}),
                "{when}: {a}"
            );
            assert!(
                h["additionalContext"]
                    .as_str()
                    .unwrap()
                    .contains("--ack-canary")
            );
        }
        // A Read result and MCP content blocks keep their shape (`type` stays).
        let read = json!({"type": "text", "file": {"filePath": "/p/.env", "content": leaky, "numLines": 3}});
        let a = hook_payload(w, &post(&work, "Read", read), &ordinary);
        assert_eq!(
            a["hookSpecificOutput"]["updatedToolOutput"],
            json!({"type": "text", "file": {"filePath": "<concealed by patina: tripwire>",
                   "content": "<concealed by patina: tripwire>", "numLines": 3}}),
            "{when}: {a}"
        );
        let blocks = json!([{"type": "text", "text": leaky}]);
        let a = hook_payload(w, &post(&work, "mcp__db__query", blocks), &ordinary);
        assert_eq!(
            a["hookSpecificOutput"]["updatedMCPToolOutput"],
            json!([{"type": "text", "text": "<concealed by patina: tripwire>"}]),
            "{when}: {a}"
        );
        // A tool whose shape patina does not know: blocked.
        let a = hook_payload(w, &post(&work, "Frobnicate", json!(leaky)), &ordinary);
        assert_eq!(a["decision"], "block", "{when}: {a}");
        // A payload that cannot be read: denied, or withheld even with `--on-error pass`.
        for (event, field, want) in [
            ("PreToolUse", "permissionDecision", "deny"),
            ("PostToolUse", "decision", "block"),
        ] {
            let o = run(
                w,
                &[
                    "guard",
                    "hook",
                    "--agent",
                    "claude-code",
                    "--event",
                    event,
                    "--on-error",
                    "pass",
                ],
                b"{not json",
            );
            let a: Value = serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|_| panic!("{when} {event}: {}", show(&o)));
            let got = a.get(field).unwrap_or(&a["hookSpecificOutput"][field]);
            assert_eq!(got, want, "{when} {event}: {a}");
        }
        // MCP scry shows nothing.
        let out = mcp_scry(w, "nightly backup bucket");
        assert!(out.contains("--ack-canary"), "{when}: {out}");
        assert!(!out.contains("bucket key"), "{when}: {out}");
    };
    check_tripped(&w, "daemon up");
    // Scry through the daemon: refused on every route that answers with note text.
    for (route, body) in [
        ("/api/scry", json!({"query": "nightly backup bucket"})),
        ("/mother/scry", json!({"query": "nightly backup bucket"})),
        ("/mother/shard", json!({"query": "nightly backup bucket"})),
    ] {
        let r = d.post(route, &body.to_string());
        assert_no_leak(route, &r.body, CANARY);
        assert_eq!(
            r.status,
            409,
            "{route}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(String::from_utf8_lossy(&r.body).contains("--ack-canary"));
    }
    let o = run(&w, &["scry", "nightly backup bucket"], b"");
    assert!(!o.status.success(), "{}", show(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("bucket key"));
    // Without a daemon the alert file says the same.
    drop(d);
    check_tripped(&w, "no daemon");

    // Acknowledged, everything works again.
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let o = unlock(&w, &["--ack-canary"]);
    assert!(o.status.success(), "{}", show(&o));
    let a = hook_payload(&w, &pre(&work, "Bash", json!({"command": "ls"})), &ordinary);
    assert_eq!(a, Value::Null, "no decision for ls");
    let a = hook_payload(
        &w,
        &post(
            &work,
            "Bash",
            json!({"stdout": "hello\n", "stderr": "", "interrupted": false}),
        ),
        &ordinary,
    );
    assert_eq!(a, Value::Null, "a clean output passes");
    let r = d.post(
        "/api/scry",
        &json!({"query": "nightly backup bucket"}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("backup"));
}
