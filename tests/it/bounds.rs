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
    let idle = settled_thread_count(d.pid());
    let t = Instant::now();
    let r = d.post("/debug/slow-scry", "{}");
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    r.assert_well_formed();
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "interrupted at the 2 s deadline, took {:?}",
        t.elapsed()
    );
    // A thread left behind by the interrupted query keeps the count above its idle level.
    let after = settled_thread_count(d.pid());
    assert!(
        after <= idle,
        "thread count back to its idle level: {after} threads, {idle} before the query"
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
    assert_success(&out);
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

/// Starts `n` clients that send the start of a request head and then one byte every 200 ms
/// (slowloris), until `stop` is set.
fn slowloris(
    connect: impl Fn() -> Box<dyn std::io::Write + Send>,
    n: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let mut conns: Vec<_> = (0..n).map(|_| connect()).collect();
    let stop = std::sync::Arc::clone(stop);
    std::thread::spawn(move || {
        for c in &mut conns {
            let _ = c.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
        }
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            for c in &mut conns {
                let _ = c.write_all(b"a");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// Asserts `/health` on the Unix socket answers 200 twenty times, each within `bound`. The
/// callers set the daemon's head deadline (`PATINA_TEST_HEAD_DEADLINE_MS`, a test build's
/// override) to several times `bound`: an idle connection could once make `/health` wait a
/// whole head deadline per queued connection, so that regression fails by a wide margin
/// while a loaded machine's scheduling delays stay far inside the bound.
///
/// A 503 is asked again within the same bound: a burst of silent connections passes through
/// the worker queue (each for the microseconds a worker takes to see that its head is
/// missing and hand it to the waiting thread), and a complete request that finds the queue
/// full meanwhile is told to retry, as requirements §4 asks. What must never happen, a
/// worker held by a silent client, makes the bound fail by seconds.
fn health_answers_promptly(d: &Daemon, what: &str, bound: Duration) {
    for _ in 0..20 {
        let t = Instant::now();
        let mut status = d.get("/health").status;
        while status == 503 && t.elapsed() < bound {
            std::thread::sleep(Duration::from_millis(20));
            status = d.get("/health").status;
        }
        assert_eq!(status, 200, "{what}");
        assert!(
            t.elapsed() < bound,
            "{what}: /health answered in {:?}",
            t.elapsed()
        );
    }
}

/// Issue 15 item 1 (requirements §4): a connection takes a worker only once its request head has
/// arrived. 64 silent connections and 16 slowloris clients on the Unix socket (80, ten times
/// the 8 workers) leave `/health` answering at once, with no thread added; each silent one
/// gets 408 at the head deadline counted from its accept. The head deadline is set to 10 s
/// (a test build's override) so that "at once" (3 s) and "at the deadline" are far apart.
#[test]
fn idle_and_slowloris_connections_hold_no_worker() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let d = Daemon::start_env(&[], &[("PATINA_TEST_HEAD_DEADLINE_MS", "10000")]);
    let prompt = Duration::from_secs(3);
    assert!(d.still_serving());
    let threads = settled_thread_count(d.pid());
    let t0 = Instant::now();
    let idle: Vec<UnixStream> = (0..64)
        .map(|_| UnixStream::connect(&d.socket).unwrap())
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let socket = d.socket.clone();
    let drip = slowloris(
        move || Box::new(UnixStream::connect(&socket).unwrap()),
        16,
        &stop,
    );
    std::thread::sleep(Duration::from_millis(300));
    health_answers_promptly(&d, "64 idle + 16 slowloris", prompt);
    let now = thread_count(d.pid());
    assert!(
        now <= threads,
        "no thread was added for the waiting connections: {now}, {threads} before"
    );
    // A POST with a body still works beside them.
    assert_eq!(d.post("/api/scry", r#"{"query":"marigold"}"#).status, 200);
    // The silent ones are answered 408 at the head deadline, counted from their accept.
    let mut first = idle.into_iter().next().unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let got = read_to_eof(&mut first);
    let e = t0.elapsed();
    let r = Resp::parse(&got);
    assert_eq!(r.status, 408);
    r.assert_well_formed();
    assert!(
        e >= Duration::from_millis(9500) && e < Duration::from_secs(20),
        "408 after {e:?}, not at the 10 s head deadline"
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    drip.join().unwrap();
    let _ = first.write_all(b"x");
    health_answers_promptly(&d, "after the deadline", prompt);
    let now = settled_thread_count(d.pid());
    assert!(now <= threads, "{now} threads, {threads} before");
}

/// Requirements §4 with readiness-based dispatch (issue 15): workers accept their own
/// connections, and while every worker is busy the accept thread queues each connection
/// unread and a worker reads its head first, so the worker queue's bound must still hold for
/// requests and must not refuse silent clients. With one worker held (a head
/// that promises a body) and the queue of one filled, a request whose head is there gets 503
/// with `Retry-After` at once, while a silent connection past the queue is not refused: it
/// waits for its head like any other, and once the worker is free and it sends its request,
/// it is served. (The body deadline is 120 s here, a test build's override, so the held
/// worker cannot free itself during the test.)
#[test]
fn past_the_queue_a_request_gets_503_at_once_and_a_silent_client_waits() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let d = Daemon::start_env(
        &["--workers", "1", "--max-connections", "1"],
        &[("PATINA_TEST_BODY_DEADLINE_MS", "120000")],
    );
    let prompt = Duration::from_secs(5);
    // The start-up check's connection may still sit in the queue of one, unread: a complete
    // request then gets 503 (the rule under test). One `/health` answered 200 means the
    // worker has taken everything queued before it (the queue is FIFO).
    let t0 = Instant::now();
    while d.get("/health").status != 200 {
        assert!(t0.elapsed() < Duration::from_secs(20), "never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The sleeps below let the worker take the held request, and the queue the next one,
    // on a loaded machine; what is asserted does not depend on their length otherwise.
    // Hold the one worker: a head that promises a 20-byte body, and one byte of it.
    let mut hold = UnixStream::connect(&d.socket).unwrap();
    hold.write_all(
        b"POST /api/scry HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{",
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // Fill the queue of one with a whole request.
    let mut queued = UnixStream::connect(&d.socket).unwrap();
    queued.write_all(HEALTH).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // Past the queue, a whole request: 503 at once.
    let t = Instant::now();
    let r = Resp::parse(&raw_exchange(&d.socket, HEALTH, Duration::from_secs(30)));
    assert_eq!(r.status, 503, "past the queue");
    assert!(r.header("retry-after").is_some());
    r.assert_well_formed();
    assert!(t.elapsed() < prompt, "503 came after {:?}", t.elapsed());
    // Past the queue, a silent client: no answer (it waits for its head, holding nothing).
    let mut silent = UnixStream::connect(&d.socket).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut one = [0u8; 1];
    match silent.read(&mut one) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("a silent client past the queue was answered: {other:?}"),
    }
    // Free the worker: the held request and the queued one are served.
    hold.write_all(br#""query":"marigold"}"#).unwrap();
    hold.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(Resp::parse(&read_to_eof(&mut hold)).status, 200, "held");
    queued
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(Resp::parse(&read_to_eof(&mut queued)).status, 200, "queued");
    // The silent client sends its request now and is served.
    silent.write_all(HEALTH).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let r = Resp::parse(&read_to_eof(&mut silent));
    assert_eq!(r.status, 200, "the once silent client");
    r.assert_well_formed();
}

/// TCP: idle connections wait on the accept side too, up to `MAX_PENDING` (256) per
/// listener; past it a new silent client gets 503 with `Retry-After` at once. The Unix
/// socket is never affected, and TCP serves again once they are gone. The head deadline is
/// set to 120 s (a test build's override): every wait this test bounds (20 s) would, if the
/// bound it checks were broken, last until an idle connection's head deadline, six times
/// longer; none of them races the wall clock on a loaded machine.
#[test]
fn idle_tcp_connections_wait_on_the_accept_side_up_to_a_bound() {
    use std::io::Read;
    let d = Daemon::start_env(
        &["--port", "0"],
        &[("PATINA_TEST_HEAD_DEADLINE_MS", "120000")],
    );
    let prompt = Duration::from_secs(20);
    let addr = d.tcp_addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let a2 = addr.clone();
    let drip = slowloris(
        move || Box::new(std::net::TcpStream::connect(&a2).unwrap()),
        16,
        &stop,
    );
    let mut idle: Vec<std::net::TcpStream> = (0..184)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    health_answers_promptly(&d, "200 waiting TCP connections", prompt);
    // 200 waiting, under the bound: TCP itself still answers.
    let r = d.tcp("GET", "/health", None, None);
    assert_eq!(r.status, 200);
    // Fill the bound (256), then one more silent client: 503 at once.
    idle.extend((0..56).map(|_| std::net::TcpStream::connect(&addr).unwrap()));
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let mut extra = std::net::TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    let _ = extra.read_to_end(&mut got);
    let r = Resp::parse(&got);
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    r.assert_well_formed();
    assert!(t.elapsed() < prompt, "503 came after {:?}", t.elapsed());
    health_answers_promptly(&d, "256 waiting TCP connections", prompt);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    drip.join().unwrap();
    drop(idle);
    // Once the idle ones are gone, TCP serves again.
    let t = Instant::now();
    loop {
        let raw = d.tcp_raw(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        if !raw.is_empty() && Resp::parse(&raw).status == 200 {
            break;
        }
        assert!(
            t.elapsed() < prompt,
            "TCP still refuses after {:?}",
            t.elapsed()
        );
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
