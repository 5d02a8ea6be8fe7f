//! Execution bounds (requirements §4; issue "network path, execution bounds and lifecycle"): a
//! panicking handler, a query past its deadline, a graceful stop with a request in flight,
//! and a TCP side that cannot starve the Unix socket. Uses the test-only routes of the
//! `fault-injection` feature: run with `cargo test --all-features` (the README's command).
#![cfg(feature = "fault-injection")]

use crate::common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn a_panicking_handler_gives_500_and_the_next_request_200() {
    let d = Daemon::start();
    let r = d.post("/debug/panic", "{}");
    assert_eq!(r.status, 500);
    r.assert_well_formed();
    assert_eq!(d.get("/health").status, 200);
    for _ in 0..20 {
        assert_eq!(d.post("/debug/panic", "{}").status, 500);
    }
    assert!(d.still_serving(), "workers survive repeated panics");
    let log = d.log();
    assert!(log.contains("internal error (panic)"), "{log}");
    assert!(
        !log.contains("injected fault"),
        "panic payloads are never printed: {log}"
    );
}

#[test]
fn a_query_past_its_deadline_is_504_and_no_thread_is_left_behind() {
    let d = Daemon::start();
    std::thread::sleep(Duration::from_millis(200));
    let idle = thread_count(d.pid());
    let t = Instant::now();
    let r = d.post("/debug/slow-scry", "{}");
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    r.assert_well_formed();
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "interrupted at the 2 s deadline, took {:?}",
        t.elapsed()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        thread_count(d.pid()),
        idle,
        "thread count back to its idle level"
    );
    // The worker's connection is still usable.
    assert_eq!(d.post("/api/scry", r#"{"query":"quokka"}"#).status, 200);
}

#[test]
fn stop_lets_an_in_flight_request_finish_then_exits_0_and_cleans_up() {
    let mut d = Daemon::start();
    let socket = d.socket.clone();
    let slow = std::thread::spawn(move || {
        let body = r#"{"ms": 1500}"#;
        let raw = format!(
            "POST /debug/sleep HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Resp::parse(&raw_exchange(
            &socket,
            raw.as_bytes(),
            Duration::from_secs(20),
        ))
    });
    std::thread::sleep(Duration::from_millis(300));
    let out = run_timeout(patina(&d.home).arg("stop"), Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200, "the in-flight request finished");
    let st = wait_timeout(&mut d.child, Duration::from_secs(15)).expect("exited");
    assert!(st.success());
    assert!(!d.socket.exists());
    assert!(!d.home.join("run/serve.pid").exists());
}

#[test]
fn stop_falls_back_to_the_pid_file_and_says_so_when_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_timeout(
        patina(&dir.path().join("home")).arg("stop"),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no daemon running"));
}

#[test]
fn two_hundred_idle_tcp_connections_do_not_starve_the_unix_socket() {
    let d = Daemon::start_with(&["--port", "0"]);
    let addr = d.tcp_addr();
    let idle: Vec<std::net::TcpStream> = (0..200)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(d.get("/health").status, 200);
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "Unix socket answered in {:?}",
            t.elapsed()
        );
    }
    // Past the TCP gate a new client gets 503 with Retry-After at once.
    let t = Instant::now();
    let r = d.tcp("GET", "/health", None, None);
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    r.assert_well_formed();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "503 came after {:?}",
        t.elapsed()
    );
    drop(idle);
    // Once the idle ones are gone (head deadline), TCP serves again.
    let t = Instant::now();
    loop {
        let raw = d.tcp_raw(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        if !raw.is_empty() && Resp::parse(&raw).status == 200 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(15));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_reports_the_daemon() {
    let d = Daemon::start_with(&["--port", "0"]);
    let out = run_timeout(
        patina(&d.home).args(["status", "--json"]),
        Duration::from_secs(20),
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["running"], true);
    assert_eq!(v["pid"], d.pid());
    assert_eq!(v["tcp"], d.tcp_addr());
    assert_eq!(v["socket"], d.socket.display().to_string());
    assert_eq!(v["dumpable"], false);
    assert!(v["open_connections"].as_u64().unwrap() >= 1);
    d.terminate_and_check_status_says_not_running();
}

impl Daemon {
    fn terminate_and_check_status_says_not_running(mut self) {
        assert!(self.terminate().success());
        let out = run_timeout(
            patina(&self.home).args(["status", "--json"]),
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["running"], false);
    }
}
