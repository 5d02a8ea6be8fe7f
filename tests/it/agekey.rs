//! Mutual age-key authentication on TCP (requirements §8; layer/surface/specs/spec-age-handshake.md):
//! the real binary as daemon, a second `PATINA_HOME` running the real CLI as client, and raw
//! requests built with the library's own MAC functions for replay and tampering.

use crate::common;
use age::secrecy::ExposeSecret;
use base64::Engine;
use common::*;
use patina::auth::protocol as agekey;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCRY: &str = r#"{"query":"quokka"}"#;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn run(home: &Path, args: &[&str]) -> Output {
    run_timeout(patina(home).args(args), Duration::from_secs(60))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `patina auth client-key` in `home`: the client's recipient.
fn client_key(home: &Path) -> String {
    let o = run(home, &["auth", "client-key"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn allow(d: &Daemon, recipient: &str, name: &str) {
    let o = run(&d.home, &["auth", "allow", recipient, "--name", name]);
    assert!(o.status.success(), "{}", text(&o));
}

fn revoke(d: &Daemon, name: &str) {
    let o = run(&d.home, &["auth", "revoke", name]);
    assert!(o.status.success(), "{}", text(&o));
}

fn scry_over(home: &Path, url: &str) -> Output {
    run(home, &["--url", url, "scry", "quokka"])
}

fn post_raw(d: &Daemon, path: &str, auth: Option<&str>, body: &str) -> Resp {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = auth {
        raw.push_str(&format!("Authorization: {a}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    Resp::parse(&d.tcp_raw(raw.as_bytes()))
}

fn get_raw(d: &Daemon, path: &str, auth: &str) -> Resp {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\r\n");
    Resp::parse(&d.tcp_raw(raw.as_bytes()))
}

/// What a raw handshake produced, including what a sniffer would have captured.
struct Hs {
    challenge_body: String,
    verify_body: String,
    verify_status: u16,
    sid: Option<String>,
    key: Vec<u8>,
}

/// The handshake done by hand with the library's functions, as the client `id` would do it.
fn handshake(d: &Daemon, id: &age::x25519::Identity) -> Hs {
    let server = d.tcp("GET", "/auth/server-key", None, None).json()["server"]
        .as_str()
        .unwrap()
        .to_string();
    let server_r: age::x25519::Recipient = server.parse().unwrap();
    let nc: [u8; 32] = rand_bytes();
    let challenge_body = serde_json::json!({
        "client": id.to_public().to_string(),
        "nc": b64(&age::encrypt(&server_r, &nc).unwrap()),
    })
    .to_string();
    let ch = post_raw(d, "/auth/challenge", None, &challenge_body);
    assert_eq!(ch.status, 200, "{:?}", String::from_utf8_lossy(&ch.body));
    let ch = ch.json();
    let cid = ch["id"].as_str().unwrap().to_string();
    assert_eq!(ch["server"].as_str().unwrap(), server);
    assert!(agekey::hmac_verify(
        &nc,
        &agekey::server_proof_parts(&cid, &server),
        &unb64(ch["proof"].as_str().unwrap())
    ));
    let ns = age::decrypt(id, &unb64(ch["ns"].as_str().unwrap())).unwrap();
    let key = agekey::derive_session_key(&cid, &nc, &ns);
    let proof = agekey::hmac_sha256(&*key, &agekey::client_proof_parts(&cid));
    let verify_body = serde_json::json!({"id": cid, "proof": b64(&proof)}).to_string();
    let v = post_raw(d, "/auth/verify", None, &verify_body);
    let sid = (v.status == 200).then(|| v.json()["session"].as_str().unwrap().to_string());
    Hs {
        challenge_body,
        verify_body,
        verify_status: v.status,
        sid,
        key: key.to_vec(),
    }
}

fn rand_bytes() -> [u8; 32] {
    // Fresh per call: an age identity's secret is 32 random bytes; hash it for a nonce.
    use sha2::Digest;
    let id = age::x25519::Identity::generate();
    sha2::Sha256::digest(id.to_string().expose_secret().as_bytes()).into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn auth_for(hs: &Hs, method: &str, target: &str, body: &str, ts: u64, n: u64) -> String {
    agekey::request_authorization(
        hs.sid.as_deref().unwrap(),
        &hs.key,
        method,
        target,
        body.as_bytes(),
        ts,
        n,
    )
}

fn secrets_of(homes: &[&Path]) -> Vec<String> {
    let mut out = Vec::new();
    for h in homes {
        for f in ["auth/server.key", "auth/client.key"] {
            if let Ok(t) = std::fs::read_to_string(h.join(f)) {
                let t = t.trim().to_string();
                assert!(t.starts_with("AGE-SECRET-KEY-"));
                // The whole key and its payload (after the fixed prefix) in any case.
                out.push(t[15..].to_string());
                out.push(t[15..].to_lowercase());
            }
        }
    }
    out
}

fn assert_clean(outputs: &[String], secrets: &[String]) {
    for o in outputs {
        assert!(!o.contains("AGE-SECRET-KEY-"), "secret key text in output");
        for s in secrets {
            assert!(!o.contains(s.as_str()), "a secret appears in output");
        }
    }
}

#[test]
fn allowed_client_queries_and_unknown_or_revoked_keys_get_401() {
    let d = Daemon::start_with(&["--port", "0"]);
    let url = format!("http://{}", d.tcp_addr());
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let mut outputs = Vec::new();

    // The daemon's key: created at TCP start, private, printed as a recipient.
    let o = run(&d.home, &["auth", "server-key"]);
    let server = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(server.starts_with("age1"), "{}", text(&o));
    outputs.push(text(&o));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.home.join("auth")), 0o700);
    assert_eq!(mode(&d.home.join("auth/server.key")), 0o600);

    // Allowed client: handshake (TOFU pin) and query, no token anywhere.
    let ka = client_key(&a);
    assert_eq!(mode(&a.join("auth/client.key")), 0o600);
    allow(&d, &ka, "laptop");
    let o = run(&d.home, &["auth", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["name"], "laptop");
    assert_eq!(list[0]["recipient"], ka.as_str());
    outputs.push(text(&o));
    let o = scry_over(&a, &url);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("quokka"));
    outputs.push(text(&o));
    let pins = std::fs::read_to_string(a.join("auth/known_servers")).unwrap();
    assert!(pins.contains(&format!("{url} {server}")), "{pins}");
    assert_eq!(mode(&a.join("auth/known_servers")), 0o600);
    // A second run uses the pin.
    let o = scry_over(&a, &url);
    assert!(o.status.success(), "{}", text(&o));
    outputs.push(text(&o));

    // Unknown key: a challenge is issued, verify fails with 401; the CLI says so.
    client_key(&b);
    let o = scry_over(&b, &url);
    assert!(!o.status.success());
    assert!(text(&o).contains("not allowed"), "{}", text(&o));
    outputs.push(text(&o));
    let stranger = age::x25519::Identity::generate();
    let hs = handshake(&d, &stranger);
    assert_eq!(hs.verify_status, 401);

    // Revoked key: CLI and raw handshake refused.
    let kc = client_key(&c);
    allow(&d, &kc, "old-box");
    let o = scry_over(&c, &url);
    assert!(o.status.success(), "{}", text(&o));
    outputs.push(text(&o));
    revoke(&d, "old-box");
    let o = scry_over(&c, &url);
    assert!(!o.status.success());
    outputs.push(text(&o));

    // Revoked mid-session: a live session dies at its next request.
    let id = age::x25519::Identity::generate();
    allow(&d, &id.to_public().to_string(), "midway");
    let hs = handshake(&d, &id);
    assert_eq!(hs.verify_status, 200);
    let r = post_raw(
        &d,
        "/api/scry",
        Some(&auth_for(&hs, "POST", "/api/scry", SCRY, now(), 1)),
        SCRY,
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    revoke(&d, "midway");
    let r = post_raw(
        &d,
        "/api/scry",
        Some(&auth_for(&hs, "POST", "/api/scry", SCRY, now(), 2)),
        SCRY,
    );
    assert_eq!(r.status, 401);
    assert_eq!(handshake(&d, &id).verify_status, 401);

    // No identity or session key in any output or the log.
    outputs.push(d.log());
    let mut secrets = secrets_of(&[&d.home, &a, &b, &c]);
    secrets.push(hex(&hs.key));
    assert_clean(&outputs, &secrets);
}

#[test]
fn replays_tampering_and_stale_requests_get_401() {
    let d = Daemon::start_with(&["--port", "0"]);
    let id = age::x25519::Identity::generate();
    allow(&d, &id.to_public().to_string(), "raw");
    let hs = handshake(&d, &id);
    assert_eq!(hs.verify_status, 200);

    // A captured handshake replayed: the verify is single use, and a replayed challenge gets
    // a new id the captured proof does not fit.
    assert_eq!(
        post_raw(&d, "/auth/verify", None, &hs.verify_body).status,
        401
    );
    let again = post_raw(&d, "/auth/challenge", None, &hs.challenge_body);
    assert_eq!(again.status, 200);
    let new_id = again.json()["id"].as_str().unwrap().to_string();
    let old: serde_json::Value = serde_json::from_str(&hs.verify_body).unwrap();
    assert_ne!(new_id, old["id"].as_str().unwrap());
    let forged = serde_json::json!({"id": new_id, "proof": old["proof"]}).to_string();
    assert_eq!(post_raw(&d, "/auth/verify", None, &forged).status, 401);

    // A valid request, then the same bytes replayed.
    let a1 = auth_for(&hs, "POST", "/api/scry", SCRY, now(), 1);
    assert_eq!(post_raw(&d, "/api/scry", Some(&a1), SCRY).status, 200);
    assert_eq!(post_raw(&d, "/api/scry", Some(&a1), SCRY).status, 401);
    // A lower counter with a fresh MAC is a replay too.
    let a0 = auth_for(&hs, "POST", "/api/scry", SCRY, now(), 1);
    assert_eq!(post_raw(&d, "/api/scry", Some(&a0), SCRY).status, 401);

    // Tampered body, tampered target, wrong method.
    let a2 = auth_for(&hs, "POST", "/api/scry", SCRY, now(), 2);
    let other = r#"{"query":"marigold"}"#;
    assert_eq!(post_raw(&d, "/api/scry", Some(&a2), other).status, 401);
    let a3 = auth_for(&hs, "POST", "/api/scry", SCRY, now(), 3);
    assert_eq!(post_raw(&d, "/api/scry?x=1", Some(&a3), SCRY).status, 401);
    let a4 = auth_for(&hs, "GET", "/api/scry", SCRY, now(), 4);
    assert_eq!(post_raw(&d, "/api/scry", Some(&a4), SCRY).status, 401);
    // A MAC under another key.
    let wrong = agekey::request_authorization(
        hs.sid.as_deref().unwrap(),
        &[9u8; 32],
        "POST",
        "/api/scry",
        SCRY.as_bytes(),
        now(),
        5,
    );
    assert_eq!(post_raw(&d, "/api/scry", Some(&wrong), SCRY).status, 401);

    // Stale and future timestamps.
    let a6 = auth_for(&hs, "POST", "/api/scry", SCRY, now() - 120, 6);
    assert_eq!(post_raw(&d, "/api/scry", Some(&a6), SCRY).status, 401);
    let a7 = auth_for(&hs, "POST", "/api/scry", SCRY, now() + 120, 7);
    assert_eq!(post_raw(&d, "/api/scry", Some(&a7), SCRY).status, 401);

    // The session itself is still good: the refusals were for the reasons above.
    let a8 = auth_for(&hs, "POST", "/api/scry", SCRY, now(), 8);
    let r = post_raw(&d, "/api/scry", Some(&a8), SCRY);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));

    // Local routes stay 403 under a valid session; /auth/* are 404 on the Unix socket.
    let a9 = auth_for(&hs, "GET", "/status", "", now(), 9);
    assert_eq!(get_raw(&d, "/status", &a9).status, 403);
    let a10 = auth_for(&hs, "POST", "/shutdown", "{}", now(), 10);
    assert_eq!(post_raw(&d, "/shutdown", Some(&a10), "{}").status, 403);
    assert!(d.still_serving());
    assert_eq!(d.get("/auth/server-key").status, 404);
    assert_eq!(d.post("/auth/challenge", &hs.challenge_body).status, 404);
    assert_eq!(d.post("/auth/verify", &hs.verify_body).status, 404);

    let mut secrets = secrets_of(&[&d.home]);
    secrets.push(hex(&hs.key));
    assert_clean(&[d.log()], &secrets);
}

#[test]
fn changed_server_key_is_refused_before_any_query() {
    let mut first = Daemon::start_with(&["--port", "0"]);
    let addr = first.tcp_addr();
    let url = format!("http://{addr}");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("client");
    let k = client_key(&home);
    allow(&first, &k, "laptop");
    let o = scry_over(&home, &url);
    assert!(o.status.success(), "{}", text(&o));
    let pinned = run(&first.home, &["auth", "server-key"]);
    let pinned = String::from_utf8_lossy(&pinned.stdout).trim().to_string();
    first.terminate();

    // Another daemon (another home, so another key) at the same address, even allowing us.
    let port = addr.rsplit_once(':').unwrap().1.to_string();
    let second = Daemon::start_with(&["--port", &port]);
    assert_eq!(second.tcp_addr(), addr);
    allow(&second, &k, "laptop");
    let presented = run(&second.home, &["auth", "server-key"]);
    let presented = String::from_utf8_lossy(&presented.stdout)
        .trim()
        .to_string();
    assert_ne!(pinned, presented);

    let o = scry_over(&home, &url);
    assert!(!o.status.success());
    let msg = text(&o);
    assert!(msg.contains("server key changed"), "{msg}");
    assert!(msg.contains(&url), "{msg}");
    assert!(
        msg.contains(&pinned[..12]) && msg.contains(&presented[..12]),
        "{msg}"
    );
    let log = second.log();
    assert!(!log.contains("/api/scry"), "{log}");
    assert!(
        !log.contains(" POST "),
        "nothing but the key was asked: {log}"
    );

    // Pinning the new key up front makes it work again.
    let o = run(&home, &["auth", "pin", &url, &presented]);
    assert!(o.status.success(), "{}", text(&o));
    let o = scry_over(&home, &url);
    assert!(o.status.success(), "{}", text(&o));
    assert_clean(
        &[msg, text(&o), second.log()],
        &secrets_of(&[&second.home, &home]),
    );
}

#[test]
fn bearer_token_still_works_and_bad_auth_input_is_a_usage_error() {
    let d = Daemon::start_with(&["--port", "0"]);
    d.tcp_addr();
    let token = d.token();
    assert_eq!(
        d.tcp("POST", "/api/scry", Some(&token), Some(SCRY)).status,
        200
    );
    let o = run(&d.home, &["auth", "allow", "age1notakey", "--name", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        !text(&o).contains("age1notakey"),
        "errors never quote input"
    );
    let o = run(&d.home, &["auth", "revoke", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_long_lived_client_caches_its_session_and_handshakes_again_after_a_401() {
    let d = Daemon::start_with(&["--port", "0"]);
    let url = format!("http://{}", d.tcp_addr());
    let tmp = tempfile::tempdir().unwrap();
    let home = patina::paths::Home::at(tmp.path().join("client"));
    let k = client_key(home.root());
    allow(&d, &k, "first");
    // In-process client (as the mother daemon uses it): no token in this home.
    let client = patina::client::Client::from_env(&home, Some(&url)).unwrap();
    let scry = serde_json::json!({"query": "quokka"});
    for _ in 0..3 {
        assert_eq!(client.post_json("/api/scry", &scry).unwrap().status, 200);
    }
    let handshakes = |log: &str| log.matches("/auth/verify").count();
    assert_eq!(handshakes(&d.log()), 1, "one session for the process");
    // The session dies with the revoke; allowed again under another name, the client's next
    // request gets a 401, handshakes anew and succeeds.
    revoke(&d, "first");
    allow(&d, &k, "second");
    assert_eq!(client.post_json("/api/scry", &scry).unwrap().status, 200);
    assert_eq!(handshakes(&d.log()), 2);
    // Revoked for good: a clear error, not a panic or a token message.
    revoke(&d, "second");
    let e = client
        .post_json("/api/scry", &scry)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not allowed"), "{e}");
}
