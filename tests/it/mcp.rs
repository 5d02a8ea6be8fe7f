//! `patina mcp`: the Model Context Protocol server, driven by the official MCP Python SDK as a
//! real client (tests/mcp_client.py), and by raw JSON-RPC lines next to a running daemon.
use crate::common;
use crate::common::secrets as secrets_common;

use common::{Daemon, patina, write_fixture_project};
use secrets_common::{World, assert_no_leak, run_with_input, show};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use secrets_common::CANARY;

/// The Python that has the `mcp` package: `$PATINA_TEST_PYTHON` (set by `.ci/run`), else
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
        "the Python module `{module}` is missing for {py}: run `.ci/run`, or `pip install mcp openapi-spec-validator`, or point PATINA_TEST_PYTHON at a Python that has it"
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
