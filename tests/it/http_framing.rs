//! The transport's framing rules (requirements §4) and the HTTP cases of `shared/cases/` (001–011),
//! each driven against the real daemon over its real Unix socket.

use crate::common;
use common::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const H: &str = "Host: localhost\r\n";

fn post_head(extra: &str) -> String {
    format!("POST /api/scry HTTP/1.1\r\n{H}Content-Type: application/json\r\n{extra}\r\n")
}

#[test]
fn health_and_version_answer_with_security_headers() {
    let d = Daemon::start();
    let r = d.get("/health");
    assert_eq!(r.status, 200);
    r.assert_well_formed();
    let v = r.json();
    assert_eq!(v["status"], "ok");
    assert!(v["uptime_secs"].is_u64());
    let r = d.get("/version");
    r.assert_well_formed();
    assert_eq!(r.json()["api"], 1);
}

#[test]
fn post_without_content_length_is_411() {
    let d = Daemon::start();
    let r = d.send(format!("{}{{}}", post_head("")).as_bytes());
    assert_eq!(r.status, 411);
    r.assert_well_formed();
    // An underscore spelling is just another field, never a length (case 001 i).
    let r = d.send(format!("{}{{}}", post_head("Content_Length: 2\r\n")).as_bytes());
    assert_eq!(r.status, 411);
}

#[test]
fn content_length_must_be_one_plain_number_case_001() {
    let d = Daemon::start();
    for (line, want) in [
        ("Content-Length: 2\r\nContent-Length: 44\r\n", 400),
        ("Content-Length: 2\r\nContent-Length: 2\r\n", 400),
        ("Content-Length: -1\r\n", 400),
        ("Content-Length: +2\r\n", 400),
        ("Content-Length: 0x2\r\n", 400),
        ("Content-Length: 2, 2\r\n", 400),
        ("Content-Length:\r\n", 400),
        ("Content-Length: 18446744073709551618\r\n", 413),
    ] {
        let raw = format!("{}{{}}GET /version HTTP/1.1\r\n{H}\r\n", post_head(line));
        let r = d.send(raw.as_bytes());
        assert_eq!(r.status, want, "{line:?}");
        assert_eq!(r.responses, 1, "exactly one response for {line:?}");
        r.assert_well_formed();
    }
    assert!(d.still_serving());
}

#[test]
fn any_transfer_encoding_is_refused_case_002() {
    let d = Daemon::start();
    let te = [
        "Transfer-Encoding: chunked\r\n",
        "Transfer-Encoding: Chunked\r\n",
        "Transfer-Encoding:  chunked\r\n",
        "Transfer-Encoding: chunked\t\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: identity, chunked\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
    ];
    for line in te {
        for cl in ["", "Content-Length: 5\r\n"] {
            let raw = format!(
                "{}2\r\n{{}}\r\n0\r\n\r\nGET /version HTTP/1.1\r\n{H}\r\n",
                post_head(&format!("{cl}{line}"))
            );
            let r = d.send(raw.as_bytes());
            let want = if cl.is_empty() { 501 } else { 400 };
            assert_eq!(r.status, want, "{cl:?}{line:?}");
            assert_eq!(r.responses, 1);
            r.assert_well_formed();
        }
    }
    // A space before the colon is a malformed field (RFC 9112 §5.1).
    let r = d.send(
        format!(
            "{}0\r\n\r\n",
            post_head("Content-Length: 5\r\nTransfer-Encoding : chunked\r\n")
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert!(d.still_serving());
}

#[test]
fn obsolete_line_folding_is_400_case_003() {
    let d = Daemon::start();
    for raw in [
        "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Folded: first\r\n second\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n\tb\r\n\r\n",
        "GET /health HTTP/1.1\r\n Host: localhost\r\n\r\n",
        "POST /api/scry HTTP/1.1\r\nHost: localhost\r\nContent-Length:\r\n 2\r\n\r\n{}",
    ] {
        let r = d.send(raw.as_bytes());
        assert_eq!(r.status, 400, "{raw:?}");
        r.assert_well_formed();
    }
    assert!(d.still_serving());
}

#[test]
fn control_bytes_in_the_head_are_400_and_never_logged_case_005() {
    let d = Daemon::start();
    for v in [
        &b"a\x00b"[..],
        b"a\x01b",
        b"a\x7fb",
        b"\x1b[31mred",
        b"a\rb",
    ] {
        let mut raw = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Probe: ".to_vec();
        raw.extend_from_slice(v);
        raw.extend_from_slice(b"\r\n\r\n");
        let r = d.send(&raw);
        assert_eq!(r.status, 400, "{v:?}");
        r.assert_well_formed();
    }
    for raw in [
        &b"GET /health HTTP/1.1\r\nX\x00A: b\r\n\r\n"[..],
        b"GET /health HTTP/1.1\r\nHost : localhost\r\n\r\n",
        b"GET /health\x00 HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(d.send(raw).status, 400, "{raw:?}");
    }
    // obs-text is answered normally, without a panic.
    let r = d.send(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Probe: \xff\xfe\r\n\r\n");
    assert_eq!(r.status, 200);
    // X-Request-Id: echoed only when short and plain.
    let r = d.send(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: req-42\r\n\r\n");
    assert_eq!(r.header("x-request-id"), Some("req-42"));
    for bad in [&b"\xff\xfe"[..], b"a\",\"status\":\"ok", &[b'a'; 2000]] {
        let mut raw = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: ".to_vec();
        raw.extend_from_slice(bad);
        raw.extend_from_slice(b"\r\n\r\n");
        let r = d.send(&raw);
        assert_eq!(r.status, 200);
        let id = r.header("x-request-id").unwrap();
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "generated id, got {id:?}"
        );
    }
    let log = d.log();
    assert!(!log.contains('\x1b'), "no raw escape byte reaches the log");
    assert!(
        !log.contains("status\":\"ok"),
        "no raw header value reaches the log"
    );
    assert!(d.still_serving());
}

#[test]
fn head_limits_give_431_case_006() {
    let d = Daemon::start();
    // 1,001 header fields in ~12 KB: past the 64-field array.
    let mut raw = format!("GET /health HTTP/1.1\r\n{H}");
    for i in 0..1000 {
        raw.push_str(&format!("X-H{i:04}: v\r\n"));
    }
    raw.push_str("\r\n");
    let r = d.send(raw.as_bytes());
    assert_eq!(r.status, 431);
    r.assert_well_formed();
    // Exactly the documented limit of 64 fields is accepted.
    let mut raw = format!("GET /health HTTP/1.1\r\n{H}");
    for i in 0..63 {
        raw.push_str(&format!("X-H{i:04}: v\r\n"));
    }
    raw.push_str("\r\n");
    assert_eq!(d.send(raw.as_bytes()).status, 200);
    // A 40 KiB head (one big field), a 40 KiB target.
    let big = format!(
        "GET /health HTTP/1.1\r\n{H}X-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    assert_eq!(d.send(big.as_bytes()).status, 431);
    let target = format!("GET /{} HTTP/1.1\r\n{H}\r\n", "a".repeat(40 * 1024));
    assert!([414, 431].contains(&d.send(target.as_bytes()).status));
    // Just under 32 KiB is still accepted.
    let ok = format!(
        "GET /health HTTP/1.1\r\n{H}X-Big: {}\r\n\r\n",
        "a".repeat(31_900)
    );
    assert_eq!(d.send(ok.as_bytes()).status, 200);
    // An endless head is cut off near 32 KiB: a 431 arrives (or the connection closes)
    // long before the client could push 1 MiB.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let junk = "X-Junk: aaaaaaaaaaaaaaaaaaaaa\r\n".repeat(33_000);
    let _ = s.write_all(b"GET /health HTTP/1.1\r\n");
    let _ = s.write_all(junk.as_bytes()); // may fail with EPIPE/ECONNRESET: fine
    let got = read_to_eof(&mut s);
    if !got.is_empty() {
        assert_eq!(Resp::parse(&got).status, 431);
    }
    assert!(d.still_serving());
}

#[test]
fn body_cap_is_enforced_by_reading_case_007() {
    let d = Daemon::start();
    // A declared 2 MiB body, no body sent, connection held open: 413 at once.
    let t = Instant::now();
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(post_head("Content-Length: 2097152\r\n").as_bytes())
        .unwrap();
    let r = Resp::parse(&read_to_eof(&mut s));
    assert_eq!(r.status, 413);
    assert!(t.elapsed() < Duration::from_secs(1), "413 within 1 s");
    // The same with Expect: 100-continue: no 100 before the 413.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(post_head("Content-Length: 2097152\r\nExpect: 100-continue\r\n").as_bytes())
        .unwrap();
    let raw = read_to_eof(&mut s);
    assert!(
        raw.starts_with(b"HTTP/1.1 413"),
        "{:?}",
        String::from_utf8_lossy(&raw[..40.min(raw.len())])
    );
    // 1 MiB + 1 sent in full: 413; exactly 1 MiB: the handler's own answer (bad JSON → 400).
    let mut raw = post_head("Content-Length: 1048577\r\n").into_bytes();
    raw.extend(std::iter::repeat_n(b'a', 1_048_577));
    assert_eq!(d.send(&raw).status, 413);
    let mut raw = post_head("Content-Length: 1048576\r\n").into_bytes();
    raw.extend(std::iter::repeat_n(b'a', 1_048_576));
    assert_eq!(d.send(&raw).status, 400);
    // Bytes past Content-Length are never parsed as a request.
    let r = d.send(
        format!(
            "{}{{}}GET /version HTTP/1.1\r\n\r\n",
            post_head("Content-Length: 2\r\n")
        )
        .as_bytes(),
    );
    assert_eq!(r.responses, 1);
    // A client that honours Expect gets 100 Continue, sends, and gets its answer.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(post_head("Content-Length: 13\r\nExpect: 100-continue\r\n").as_bytes())
        .unwrap();
    let mut first = [0u8; 25];
    std::io::Read::read_exact(&mut s, &mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(br#"{"query":"x"}"#).unwrap();
    let r = Resp::parse(&read_to_eof(&mut s));
    assert_eq!(r.status, 200);
    // A 2 MiB body and the daemon still answers.
    let mut raw = post_head("Content-Length: 2097152\r\n").into_bytes();
    raw.extend(std::iter::repeat_n(b'{', 2 * 1024 * 1024));
    assert_eq!(d.send(&raw).status, 413);
    assert!(d.still_serving());
}

/// The body deadline is set to 1 s (a test build's override, `PATINA_TEST_BODY_DEADLINE_MS`):
/// the 408 must come after it and well before the 15 s bound, which a loaded machine's
/// scheduling delays stay far inside.
#[test]
fn a_body_that_stops_arriving_is_cut_off_at_the_body_deadline() {
    let d = Daemon::start_env(&[], &[("PATINA_TEST_BODY_DEADLINE_MS", "1000")]);
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("{}0123456789", post_head("Content-Length: 100\r\n")).as_bytes())
        .unwrap();
    let t = Instant::now();
    let r = Resp::parse(&read_to_eof(&mut s));
    assert_eq!(r.status, 408);
    let e = t.elapsed();
    assert!(
        e >= Duration::from_millis(900) && e < Duration::from_secs(15),
        "408 after {e:?}, not at the 1 s body deadline"
    );
}

#[test]
fn a_head_sent_one_byte_a_second_is_cut_off_by_the_head_deadline() {
    let d = Daemon::start();
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let head = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let t = Instant::now();
    let mut got = Vec::new();
    for &b in head.iter() {
        if s.write_all(&[b]).is_err() {
            break;
        }
        got.extend(read_to_eof(&mut s));
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(900));
        assert!(t.elapsed() < Duration::from_secs(15), "not cut off");
    }
    let r = Resp::parse(&got);
    assert_eq!(r.status, 408);
    r.assert_well_formed();
    let e = t.elapsed();
    assert!(
        e >= Duration::from_secs(4) && e < Duration::from_secs(8),
        "cut off at the 5 s head deadline, took {e:?}"
    );
    assert!(d.still_serving());
}

#[test]
fn one_request_per_connection_and_http_1_0_case_009() {
    let d = Daemon::start();
    let r = d.send(
        format!("GET /health HTTP/1.1\r\n{H}\r\nGET /version HTTP/1.1\r\n{H}\r\n").as_bytes(),
    );
    assert_eq!((r.status, r.responses), (200, 1));
    assert!(r.json().get("status").is_some(), "the answer is /health's");
    let r = d.send(b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.responses), (200, 1));
    // HTTP/1.1 requires Host (RFC 9112 §3.2): 400 without it; HTTP/1.0 does not.
    let r = d.send(b"GET /health HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
    r.assert_well_formed();
    let r = d.send(
        b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /version HTTP/1.0\r\n\r\n",
    );
    assert_eq!((r.responses, r.header("connection")), (1, Some("close")));
    let r = d.send(format!("GET /health HTTP/2.0\r\n{H}\r\n").as_bytes());
    assert!([400, 505].contains(&r.status));
    r.assert_well_formed();
}

#[test]
fn paths_match_exactly_and_nothing_is_served_from_disk_case_011() {
    let d = Daemon::start();
    for t in [
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/%252e%252e/etc/passwd",
        "/..%5c..%5cetc",
        "/health%ff",
        "/health%00",
        "/%c0%ae%c0%ae/",
        "/caf\u{e9}",
        "/health/",
        "//health",
        "/./health",
        "/HEALTH",
        "/health;x",
    ] {
        let r = d.send(format!("GET {t} HTTP/1.1\r\n{H}\r\n").as_bytes());
        assert!([400, 404].contains(&r.status), "{t}: {}", r.status);
        r.assert_well_formed();
        assert!(!String::from_utf8_lossy(&r.body).contains("root:"));
    }
    assert_eq!(
        d.send(b"GET /\xff HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .status,
        400
    );
    // A query string does not change the route.
    assert_eq!(d.get("/health?x=/api/scry").status, 200);
    assert!(d.still_serving());
}

#[test]
fn unknown_path_404_wrong_method_405_with_allow() {
    let d = Daemon::start();
    let r = d.get("/nope");
    assert_eq!(r.status, 404);
    r.assert_well_formed();
    let r = d.get("/api/scry");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    r.assert_well_formed();
    let r = d.send(format!("DELETE /health HTTP/1.1\r\n{H}\r\n").as_bytes());
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    let r = d.send(format!("BREW /health HTTP/1.1\r\n{H}\r\n").as_bytes());
    assert_eq!(r.status, 405);
}

#[test]
fn random_bytes_are_400_and_the_daemon_survives() {
    let d = Daemon::start();
    // A fixed pseudo-random stream (xorshift), so a failure reproduces.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..20 {
        let mut raw = Vec::new();
        for _ in 0..(64 + round * 37) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw.push((x & 0xff) as u8);
        }
        raw.extend_from_slice(b"\r\n\r\n");
        let got = d.raw(&raw);
        let r = Resp::parse(&got);
        assert_eq!(r.status, 400, "round {round}");
        r.assert_well_formed();
    }
    assert!(d.still_serving());
}

#[test]
fn post_bodies_must_be_json() {
    let d = Daemon::start();
    let r = d.send(format!("POST /api/scry HTTP/1.1\r\n{H}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 13\r\n\r\n{{\"query\":\"x\"}}").as_bytes());
    assert_eq!(r.status, 415);
    r.assert_well_formed();
}

#[test]
fn curl_over_the_unix_socket() {
    let d = Daemon::start();
    let out = curl(&d.socket, &["-i", "http://localhost/health"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"status\":\"ok\""));
    // curl's second URL reuses nothing: it sees Connection: close and reconnects (case 009).
    let out = curl(
        &d.socket,
        &[
            "-w",
            " %{http_code}\\n",
            "http://localhost/health",
            "http://localhost/version",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(" 200").count(), 2, "{text}");
    // A 2 MB body through curl (which adds Expect: 100-continue) gets 413 promptly.
    let big = d.home.parent().unwrap().join("big.json");
    std::fs::write(&big, "a".repeat(2_000_000)).unwrap();
    let at = format!("@{}", big.display());
    let t = Instant::now();
    let out = curl(
        &d.socket,
        &[
            "-w",
            " %{http_code}",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &at,
            "http://localhost/api/scry",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(" 413"));
    assert!(t.elapsed() < Duration::from_secs(5));
}
