//! `patina mcp`: the Model Context Protocol server, driven by the official MCP Python SDK as a
//! real client (tests/mcp_client.py), and by raw JSON-RPC lines next to a running daemon.
use crate::common;
use crate::common::secrets as secrets_common;

use common::{Daemon, assert_success, patina, run_timeout, write_fixture_project};
use secrets_common::{World, assert_no_leak, run_with_input, show};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use secrets_common::CANARY;

/// The Python that has the `mcp` package: `$PATINA_TEST_PYTHON` (set by `scripts/test`), else
/// `python3`. Panics with a clear message when the module is missing: CI installs it, so a
/// missing module is a broken setup, never a reason to skip.
fn python_with(module: &str) -> String {
    let py = std::env::var("PATINA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the Python module `{module}` is missing for {py}: run the tests with `scripts/test` (it makes a venv with the pinned packages), or point PATINA_TEST_PYTHON at a Python that has it"
    );
    py
}

#[test]
fn the_official_python_sdk_lists_tools_and_calls_scry() {
    let py = python_with("mcp");
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let out = common::run_timeout(
        patina(&home).arg("scrape").arg(&project),
        Duration::from_secs(60),
    );
    assert_success(&out);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py");
    let out = common::run_timeout(
        Command::new(py)
            .arg(script)
            .arg(common::bin())
            .arg(&project)
            .arg(&home),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.starts_with("OK "),
        "the MCP client failed (exit {:?})\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
}

/// A `patina mcp` child speaking raw JSON-RPC lines.
struct Mcp {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Mcp {
    fn start(d: &Daemon) -> Mcp {
        Mcp::start_with(d, None)
    }

    fn start_with(d: &Daemon, url: Option<&str>) -> Mcp {
        let mut cmd = patina(&d.home);
        if let Some(u) = url {
            cmd.env("PATINA_URL", u);
        }
        let mut child = cmd
            .arg("mcp")
            .arg("--project")
            .arg(&d.project)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Mcp { child, out }
    }

    fn call(&mut self, msg: Value) -> Value {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "patina mcp closed stdout");
        serde_json::from_str(&line).unwrap()
    }

    fn tool(&mut self, id: u64, name: &str, args: Value) -> Value {
        self.call(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}}))
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn with_a_daemon_scry_goes_through_it_and_missing_routes_are_tool_errors() {
    let d = Daemon::start();
    let mut m = Mcp::start(&d);
    let init = m.call(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"test","version":"0"}}}));
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26");

    let r = m.tool(1, "scry", json!({"query": "quokka handshake", "limit": 2}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let hits: Value =
        serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    let n = hits["results"].as_array().unwrap().len();
    assert!((1..=2).contains(&n), "{hits}");
    // The index generation the hits came from, as `/api/scry` and `scry --json` give it.
    assert!(hits["generation"].as_i64().is_some_and(|g| g > 0), "{hits}");
    assert!(
        d.log().contains("/api/scry"),
        "scry did not go through the daemon"
    );

    // Each daemon-only tool either answers (its route is merged) or says the route is missing;
    // a scan of text holding the canary never echoes it.
    for (i, (name, args)) in [
        ("session_status", json!({})),
        ("secrets_list", json!({})),
        ("mother_projects", json!({})),
        (
            "secrets_scan",
            json!({"text": format!("export KEY={CANARY}")}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let r = m.tool(10 + i as u64, name, args);
        let text = r.to_string();
        assert!(!text.contains(CANARY), "{name} echoed the canary: {text}");
        let result = &r["result"];
        assert!(result.is_object(), "{name}: not a tool result: {text}");
        if result["isError"] == true {
            let msg = result["content"][0]["text"].as_str().unwrap();
            assert!(msg.contains("does not serve"), "{name}: {msg}");
        }
    }
    // Still alive.
    let r = m.call(json!({"jsonrpc":"2.0","id":99,"method":"ping"}));
    assert_eq!(r["result"], json!({}));
}

#[test]
fn every_tool_has_a_closed_schema_and_is_read_only() {
    let d = Daemon::start();
    let mut m = Mcp::start(&d);
    let r = m.call(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
    for t in r["result"]["tools"].as_array().unwrap() {
        assert_eq!(t["inputSchema"]["additionalProperties"], false, "{t}");
        assert_eq!(t["annotations"]["readOnlyHint"], true, "{t}");
    }
}

#[test]
fn over_tcp_scry_works_with_the_token_and_local_routes_are_refused() {
    let d = Daemon::start_with(&["--port", "0"]);
    // The Unix socket answers before the TCP line is logged: wait for it.
    let t = std::time::Instant::now();
    while !d.log().contains("TCP on") && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("http://{}", d.tcp_addr());
    let mut m = Mcp::start_with(&d, Some(&url));
    let r = m.tool(1, "scry", json!({"query": "marigold"}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let r = m.tool(2, "secrets_list", json!({}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let msg = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        msg.contains("refused") || msg.contains("does not serve"),
        "{msg}"
    );
}

/// Issue 15 items 5 and 7: a registered project's name is resolved (the one rule shared with
/// the CLI and the API), and `limit: 0` is invalid params (-32602), never "the default".
#[test]
fn a_registered_name_is_resolved_and_a_zero_limit_is_refused() {
    let d = Daemon::start();
    let add = run_timeout(
        patina(&d.home)
            .args(["mother", "add", "--name", "lantern-notes", "--no-scrape"])
            .arg(&d.project),
        Duration::from_secs(20),
    );
    assert_success(&add);
    let mut m = Mcp::start(&d);
    m.call(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"0"}}}));
    let r = m.tool(
        1,
        "scry",
        json!({"query": "quokka handshake", "project": "lantern-notes"}),
    );
    assert_eq!(r["result"]["isError"], false, "{r}");
    let hits: Value =
        serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert!(!hits["results"].as_array().unwrap().is_empty(), "{hits}");
    let r = m.tool(
        2,
        "scry",
        json!({"query": "quokka", "project": "no-such-project"}),
    );
    assert_eq!(r["result"]["isError"], true, "{r}");
    let r = m.tool(3, "scry", json!({"query": "quokka", "limit": 0}));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 1"),
        "{r}"
    );
}

/// Case 026: mistyped arguments are refused naming the argument (never a generic "see the
/// schema"), every request gets one answer, and a `project` cannot climb out of the
/// server's project or send the agent to index `/etc`.
#[test]
fn tool_inputs_are_checked_by_name_and_paths_stay_inside_case_026() {
    let d = Daemon::start();
    // A sibling project with an index, never registered.
    let other = d.project.parent().unwrap().join("other");
    std::fs::create_dir_all(other.join("layer/core")).unwrap();
    std::fs::write(
        other.join("layer/core/o.md"),
        "# Other\n\nprivate llama plan\n",
    )
    .unwrap();
    let s = run_timeout(
        patina(&d.home).arg("scrape").arg(&other),
        Duration::from_secs(30),
    );
    assert!(s.status.success());
    let mut m = Mcp::start(&d);
    m.call(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"case026","version":"0"}}}));
    let refused = |r: &Value, field: &str| {
        let msg = r["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(r["error"]["code"], -32602, "{r}");
        assert!(msg.contains(field), "{field}: {r}");
    };
    let mut id = 10;
    for lim in [
        json!("five"),
        json!("5"),
        json!(-1),
        json!(0),
        json!(2.5),
        json!(true),
        json!([]),
    ] {
        let r = m.tool(id, "scry", json!({"query": "quokka", "limit": lim}));
        assert_eq!(r["id"], id);
        refused(&r, "limit");
        id += 1;
    }
    for q in [json!(42), json!(["quokka"]), json!({"q": 1})] {
        refused(&m.tool(id, "scry", json!({ "query": q })), "query");
        id += 1;
    }
    refused(&m.tool(id, "scry", json!({})), "query");
    refused(
        &m.tool(id + 1, "scry", json!({"query": "quokka", "project": 7})),
        "project",
    );
    refused(
        &m.tool(id + 2, "scry", json!({"query": "quokka", "bogus": 1})),
        "unknown argument",
    );
    // Large and null limits: clamped, default.
    for lim in [json!(1_000_000_000u64), Value::Null] {
        let r = m.tool(40, "scry", json!({"query": "quokka", "limit": lim}));
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    // params that are not an object: -32602 with the request's id.
    let r = m.call(json!({"jsonrpc":"2.0","id":41,"method":"tools/call","params":"scry"}));
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!(41), json!(-32602)),
        "{r}"
    );
    // Paths: a relative one never climbs out; /etc is no project, and nobody is told to
    // index it.
    for p in [
        "../other",
        "../../../../etc",
        "..",
        "/etc",
        "/proc/self/root/etc",
        "~",
        "%2e%2e",
    ] {
        let r = m.tool(50, "scry", json!({"query": "llama", "project": p}));
        assert_eq!(r["result"]["isError"], true, "{p}: {r}");
        let text = r["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            !text.contains("llama") && !text.contains("patina scrape"),
            "{p}: {text}"
        );
    }
    // The server's own project by its absolute path, and the sibling by its absolute path
    // (as `patina scry --project DIR` takes it, on the local socket).
    let r = m.tool(
        60,
        "scry",
        json!({"query": "llama", "project": other.display().to_string()}),
    );
    assert_eq!(r["result"]["isError"], false, "{r}");
    let r = m.call(json!({"jsonrpc":"2.0","id":61,"method":"ping"}));
    assert_eq!(r["result"], json!({}));
}

/// Issue 16 item 7: every tool answers while a session is unlocked (`session_status` used to
/// fail on the daemon's `vaults: [{kind, path}]`, passing only while the list was empty), and
/// no answer carries the canary, which the unlocked session knows.
#[test]
fn every_tool_works_with_a_session_unlocked() {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let o = run_with_input(w.cmd(&["session", "unlock", "--ttl", "10m"]), b"");
    assert!(o.status.success(), "unlock: {}", show(&o));

    let mut m = Mcp::start(&d);
    let r = m.call(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
    let names: Vec<String> = r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let mut seen = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let args = match name.as_str() {
            "scry" => json!({"query": "quokka handshake"}),
            "secrets_scan" => json!({"text": format!("export KEY={CANARY}")}),
            _ => json!({}),
        };
        let r = m.tool(100 + i as u64, name, args);
        assert_eq!(r["result"]["isError"], false, "{name} failed unlocked: {r}");
        let text = r["result"]["content"][0]["text"].as_str().unwrap();
        let v: Value = serde_json::from_str(text).unwrap();
        assert_no_leak(name, r.to_string().as_bytes(), CANARY);
        seen.push((name.clone(), v));
    }
    let get = |n: &str| &seen.iter().find(|(k, _)| k == n).unwrap().1;
    let st = get("session_status");
    assert_eq!(st["unlocked"], true, "{st}");
    let vaults = st["vaults"].as_array().unwrap();
    assert!(
        vaults.iter().any(|v| v["kind"] == "global"),
        "the global vault is not listed: {st}"
    );
    let sc = get("secrets_scan");
    assert!(
        sc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "canary"),
        "the unlocked session's value was not found by name: {sc}"
    );
    let ls = get("secrets_list");
    assert!(
        ls["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "canary"),
        "{ls}"
    );
}
