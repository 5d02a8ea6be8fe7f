//! TCP only when asked, with a bearer token (requirements §4, §5, §8): 401 without it, 403 for local
//! routes whatever the credentials, `Host`/`Origin` checks, a failure budget, rotation
//! without restart, and the token value in no output. Cases 011 (TCP rows), 017 and 018.

use crate::common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const SCRY: &str = r#"{"query":"quokka"}"#;

#[test]
fn no_tcp_unless_asked() {
    let d = Daemon::start();
    assert!(!d.log().contains("TCP on"));
    assert!(
        !d.home.join("run/serve.token").exists(),
        "no token file without TCP"
    );
}

#[test]
fn bearer_token_rules() {
    let d = Daemon::start_with(&["--port", "0"]);
    let token = d.token();
    assert_eq!(
        std::fs::metadata(d.home.join("run/serve.token"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Open routes.
    assert_eq!(d.tcp("GET", "/health", None, None).status, 200);
    assert_eq!(d.tcp("GET", "/version", None, None).status, 200);
    // No token, wrong token: 401 with WWW-Authenticate and a JSON body.
    for t in [None, Some("wrong"), Some(&*format!("{token}x")), Some("")] {
        let r = d.tcp("POST", "/api/scry", t, Some(SCRY));
        assert_eq!(r.status, 401, "{t:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        r.assert_well_formed();
    }
    // The right token.
    let r = d.tcp("POST", "/api/scry", Some(&token), Some(SCRY));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.assert_well_formed();
    // Local routes: 403 over TCP whatever the credentials.
    assert_eq!(d.tcp("GET", "/status", Some(&token), None).status, 403);
    assert_eq!(
        d.tcp("POST", "/shutdown", Some(&token), Some("{}")).status,
        403
    );
    // With the wrong method too: no 405 and no `Allow` tells a TCP caller what a local
    // route takes.
    let r = d.tcp("GET", "/shutdown", Some(&token), None);
    assert_eq!((r.status, r.header("allow")), (403, None));
    // A route the caller may use still says 405 with `Allow`.
    let r = d.tcp("GET", "/api/scry", Some(&token), None);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert!(d.still_serving());
}

#[test]
fn host_and_origin_are_checked_on_tcp() {
    let d = Daemon::start_with(&["--port", "0", "--allow-origin", "http://tool.local"]);
    let token = d.token();
    let send = |host: &str, extra: &str| {
        Resp::parse(
            &d.tcp_raw(format!("GET /health HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n").as_bytes()),
        )
        .status
    };
    assert_eq!(send("127.0.0.1", ""), 200);
    assert_eq!(send("localhost:50051", ""), 200);
    assert_eq!(
        send("evil.example", ""),
        403,
        "DNS rebinding: a foreign Host"
    );
    assert_eq!(
        send("127.0.0.1", "Origin: http://evil.example\r\n"),
        403,
        "a browser page"
    );
    assert_eq!(
        send("127.0.0.1", "Origin: http://tool.local\r\n"),
        200,
        "an allowed origin"
    );
    let r = Resp::parse(&d.tcp_raw(format!("POST /api/scry HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: null\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}").as_bytes()));
    assert_eq!(r.status, 403, "a valid token does not let a web page in");
    assert!(
        !r.headers
            .iter()
            .any(|(n, _)| n.starts_with("access-control-"))
    );
}

/// Issue 15 item 2: an absolute-form request target (RFC 9112 §3.2.2) names the host the
/// server must use instead of `Host`; over TCP its authority passes the same check as `Host`,
/// so a valid token with `Host: 127.0.0.1` does not let `http://evil.example/…` through.
#[test]
fn an_absolute_form_target_is_checked_like_host() {
    let d = Daemon::start_with(&["--port", "0"]);
    let token = d.token();
    let addr = d.tcp_addr();
    let post = |target: &str| {
        let body = r#"{"query":"marigold"}"#;
        let r = Resp::parse(&d.tcp_raw(format!("POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()));
        r.assert_well_formed();
        r.status
    };
    assert_eq!(post("/api/scry"), 200, "the origin form works");
    assert_eq!(
        post("http://evil.example/api/scry"),
        403,
        "a foreign authority"
    );
    assert_eq!(post("http://evil.example:50051/api/scry"), 403);
    assert_eq!(
        post("HTTP://evil.example/api/scry"),
        403,
        "the scheme is case-insensitive"
    );
    assert_eq!(
        post("http://me@127.0.0.1/api/scry"),
        403,
        "userinfo is not a host"
    );
    assert_eq!(post("http:///api/scry"), 400, "an empty authority");
    assert_eq!(
        post(&format!("http://{addr}/api/scry")),
        200,
        "this daemon's own address"
    );
    assert_eq!(post("http://localhost/api/scry"), 200);
    // GET of an open route too: the authority is checked before anything else.
    let r = Resp::parse(
        &d.tcp_raw(b"GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    );
    assert_eq!(r.status, 403);
    assert!(d.still_serving());
}

#[test]
fn path_spellings_never_bypass_auth_case_011() {
    let d = Daemon::start_with(&["--port", "0"]);
    let token = d.token();
    for t in [
        "/health/../api/scry",
        "//api/scry",
        "/./api/scry",
        "/api/scry/",
        "/api%2fscry",
        "/API/scry",
        "/api/scry;x",
        "/api/scry%20",
        "/health%2f..%2fapi/scry",
    ] {
        let r = d.tcp("POST", t, None, Some(SCRY));
        assert!([401, 404].contains(&r.status), "{t}: {}", r.status);
        // Without `Content-Type` too (the case's own requests): access and the route come
        // before the body rules, so no 415 tells an unauthenticated caller anything (QA
        // session 9, L9).
        let raw = format!(
            "POST {t} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{SCRY}",
            SCRY.len()
        );
        let r = Resp::parse(&d.tcp_raw(raw.as_bytes()));
        assert!(
            [401, 404].contains(&r.status),
            "{t} without Content-Type: {}",
            r.status
        );
    }
    // With the token, a body that is not declared JSON is still 415.
    let raw = format!(
        "POST /api/scry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{SCRY}",
        SCRY.len()
    );
    assert_eq!(Resp::parse(&d.tcp_raw(raw.as_bytes())).status, 415);
    for t in ["/health/../status", "//status", "/status/", "/%73tatus"] {
        let r = d.tcp("GET", t, Some(&token), None);
        assert!([403, 404].contains(&r.status), "{t}: {}", r.status);
    }
    assert_eq!(d.tcp("GET", "/health?x=/api/scry", None, None).status, 200);
}

#[test]
fn repeated_failures_are_slowed_with_429_and_never_block_the_socket() {
    let d = Daemon::start_with(&["--port", "0"]);
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(d.tcp("POST", "/api/scry", Some("wrong"), Some(SCRY)).status);
    }
    assert!(statuses[..20].iter().all(|&s| s == 401), "{statuses:?}");
    assert!(statuses[20..].iter().all(|&s| s == 429), "{statuses:?}");
    let r = d.tcp("POST", "/api/scry", Some(&d.token()), Some(SCRY));
    assert_eq!(r.status, 429, "the address waits out its window");
    assert!(r.header("retry-after").is_some());
    // Open routes need no credentials and stay reachable.
    assert_eq!(d.tcp("GET", "/health", None, None).status, 200);
    // The Unix socket is unaffected.
    assert_eq!(d.post("/api/scry", SCRY).status, 200);
}

#[test]
fn token_rotation_takes_effect_without_restart() {
    let d = Daemon::start_with(&["--port", "0"]);
    let old = d.token();
    let out = run_timeout(
        patina(&d.home).args(["token", "rotate"]),
        Duration::from_secs(10),
    );
    assert!(out.status.success());
    let new = d.token();
    assert_ne!(old, new);
    assert_eq!(
        d.tcp("POST", "/api/scry", Some(&old), Some(SCRY)).status,
        401
    );
    assert_eq!(
        d.tcp("POST", "/api/scry", Some(&new), Some(SCRY)).status,
        200
    );
}

#[test]
fn token_from_the_environment_is_used_and_no_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let log = dir.path().join("serve.log");
    let token = "env-token-0123456789abcdef";
    let mut child = Reaper(
        patina(&home)
            .env("PATINA_SERVE_TOKEN", token)
            .args(["serve", "--port", "0", "--project"])
            .arg(&project)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let sock = home.join("run/serve.sock");
    let t = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut text = std::fs::read_to_string(&log).unwrap();
    while !text.contains("bearer token from") {
        assert!(t.elapsed() < Duration::from_secs(20), "{text}");
        std::thread::sleep(Duration::from_millis(10));
        text = std::fs::read_to_string(&log).unwrap();
    }
    let addr = text
        .split("TCP on ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(!home.join("run/serve.token").exists());
    assert!(text.contains("PATINA_SERVE_TOKEN") && !text.contains(token));
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(s, "POST /api/scry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{SCRY}", SCRY.len()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(Resp::parse(&out).status, 200);
    // The token is in no process's argv (case 018).
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            assert!(
                !String::from_utf8_lossy(&cmd).contains(token),
                "token in argv of {:?}",
                entry.path()
            );
        }
    }
    signal(child.id(), "TERM");
    wait_timeout(&mut child.0, Duration::from_secs(15)).unwrap();
}

#[test]
fn the_cli_reaches_a_tcp_daemon_with_the_token_and_names_the_file_on_401() {
    let d = Daemon::start_with(&["--port", "0"]);
    let url = format!("http://{}", d.tcp_addr());
    let v = success_json(&run_timeout(
        patina(&d.home)
            .env("PATINA_URL", &url)
            .args(["scry", "--json", "quokka"]),
        Duration::from_secs(30),
    ));
    assert!(!v["results"].as_array().unwrap().is_empty());
    // A wrong token: a clear error that names the token file, never the value.
    let out = run_timeout(
        patina(&d.home)
            .env("PATINA_SERVE_TOKEN", "nope-nope")
            .args(["--url", &url, "scry", "quokka"]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("serve.token"), "{err}");
    assert!(!err.contains("nope-nope"));
}

#[test]
fn the_token_value_appears_in_no_output_case_017() {
    let d = Daemon::start_with(&["--port", "0"]);
    let token = d.token();
    let url = format!("http://{}", d.tcp_addr());
    // Bad tokens carrying the real one plus junk or a control byte (backstage#3314).
    let r6 = d.tcp_raw(
        format!(
            "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\x01\r\n\r\n"
        )
        .as_bytes(),
    );
    let r7 = d.tcp_raw(format!("POST /api/scry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}junk\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}").as_bytes());
    let mut outputs = vec![
        String::from_utf8_lossy(&r6).into_owned(),
        String::from_utf8_lossy(&r7).into_owned(),
    ];
    for args in [
        &["token", "path"][..],
        &["status"],
        &["status", "--json"],
        &["--url", &url, "status"],
        &["--url", &url, "scry", "quokka"],
        &["--url", "http://127.0.0.1:1", "scry", "quokka"],
        &["token", "rotate"],
    ] {
        let out = run_timeout(patina(&d.home).args(args), Duration::from_secs(30));
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
        outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let new_token = d.token();
    outputs.push(d.log());
    for o in &outputs {
        assert!(!o.contains(&token), "token leaked into: {o}");
        assert!(!o.contains(&new_token), "rotated token leaked into: {o}");
    }
}

#[test]
fn two_authorization_fields_are_400_and_the_scheme_is_case_insensitive() {
    let d = Daemon::start_with(&["--port", "0"]);
    let token = d.token();
    for (first, second) in [("wrong", token.as_str()), (token.as_str(), "wrong")] {
        let raw = format!(
            "POST /api/scry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {first}\r\nAuthorization: Bearer {second}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{SCRY}",
            SCRY.len()
        );
        let r = Resp::parse(&d.tcp_raw(raw.as_bytes()));
        assert_eq!(r.status, 400, "never last-one-wins");
        r.assert_well_formed();
    }
    let raw = format!(
        "POST /api/scry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{SCRY}",
        SCRY.len()
    );
    assert_eq!(
        Resp::parse(&d.tcp_raw(raw.as_bytes())).status,
        200,
        "RFC 9110 §11.1"
    );
}

/// `status` is one of the commands that take `--url`: over TCP it answers from the open
/// `/health` (exit 0, running, version, uptime) instead of the local-only `/status` (403).
#[test]
fn status_over_tcp_answers_from_health() {
    let d = Daemon::start_with(&["--port", "0"]);
    let url = format!("http://{}", d.tcp_addr());
    let out = run_timeout(
        patina(&d.home).args(["--url", &url, "status", "--json"]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["running"].as_bool(), v["url"].as_str()),
        (Some(true), Some(url.as_str()))
    );
    assert!(v["version"].is_string() && v["uptime_secs"].is_u64(), "{v}");
    let out = run_timeout(
        patina(&d.home).args(["status", "--url", &url]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("running       yes"));
}

#[test]
fn a_token_with_a_control_byte_is_refused_with_a_clear_error_not_sent() {
    let d = Daemon::start_with(&["--port", "0"]);
    let url = format!("http://{}", d.tcp_addr());
    let out = run_timeout(
        patina(&d.home)
            .env("PATINA_SERVE_TOKEN", "abc\ndef")
            .args(["--url", &url, "scry", "quokka"]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PATINA_SERVE_TOKEN") && err.contains("cannot have"),
        "{err}"
    );
    assert!(!err.contains("abc"), "{err}");
}
