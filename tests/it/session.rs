//! The session domain (issue 5): unlock, lock, expiry; values released only to the patina
//! binary; `/session` and `/secrets` carry no value; local routes refused over TCP; the audit
//! log; `secrets scan`; scry redaction; the daemon's memory guarded (non-dumpable, no core).

use crate::common;
use crate::common::secrets as secrets_common;

use common::{Daemon, Resp, SESSION_ROUTES, curl, curl_post_status, write_fixture_project};
use secrets_common::{CANARY, World, assert_no_leak, run_with_input, show};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A world with the canary in the global vault, a fixture project in `work/`, and a daemon
/// serving it with the world's `PATINA_HOME`.
fn world_with_daemon(args: &[&str]) -> (World, Daemon) {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), args);
    (w, d)
}

/// `patina ARGS` with no identity reachable: no PATINA_IDENTITY, no keyring, no identity file.
fn no_identity(w: &World, args: &[&str]) -> Command {
    let mut c = w.bare_cmd(args);
    c.env("PATINA_NO_KEYRING", "1");
    c
}

fn out(c: Command) -> Output {
    run_with_input(c, b"")
}

fn unlock(w: &World, ttl: &str) -> Output {
    let o = out(w.cmd(&["session", "unlock", "--ttl", ttl]));
    assert!(o.status.success(), "unlock: {}", show(&o));
    o
}

fn session(d: &Daemon) -> serde_json::Value {
    let r = d.get("/session");
    r.assert_well_formed();
    assert_eq!(r.status, 200);
    r.json()
}

/// Every byte of output a test saw, for the leak check.
#[derive(Default)]
struct Seen(Vec<(String, Vec<u8>)>);

impl Seen {
    fn output(&mut self, what: &str, o: &Output) {
        self.0.push((format!("{what} stdout"), o.stdout.clone()));
        self.0.push((format!("{what} stderr"), o.stderr.clone()));
    }
    fn resp(&mut self, what: &str, r: &Resp) {
        let mut b = format!("{:?}", r.headers).into_bytes();
        b.extend_from_slice(&r.body);
        self.0.push((what.to_string(), b));
    }
    fn assert_clean(&self, d: &Daemon, home: &Path) {
        for (what, bytes) in &self.0 {
            assert_no_leak(what, bytes, CANARY);
        }
        assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
        let audit = std::fs::read(home.join("audit.log")).unwrap_or_default();
        assert_no_leak("audit log", &audit, CANARY);
    }
}

#[test]
fn unlock_then_run_without_identity_until_expiry_and_lock() {
    let (w, d) = world_with_daemon(&[]);
    let mut seen = Seen::default();
    assert_eq!(session(&d)["unlocked"], false);

    // Locked, no identity: `secrets run` cannot get the values.
    let o = out(no_identity(
        &w,
        &["secrets", "run", "--", "printenv", "CANARY"],
    ));
    assert!(!o.status.success(), "{}", show(&o));
    seen.output("run while locked", &o);

    let o = unlock(&w, "3s");
    seen.output("unlock", &o);
    let s = session(&d);
    assert_eq!(s["unlocked"], true, "{s}");
    assert!(s["expires_in_secs"].as_u64().unwrap() <= 3, "{s}");
    let vaults = s["vaults"].as_array().unwrap();
    assert!(vaults.iter().any(|v| v["kind"] == "global"), "{s}");
    // The project has no vault of its own: it is not listed as one.
    assert!(vaults.iter().all(|v| v["kind"] != "project"), "{s}");

    // Unlocked: the value reaches the child although the client has no identity (masked
    // in its output, which proves it was there).
    let o = out(no_identity(
        &w,
        &["secrets", "run", "--", "printenv", "CANARY"],
    ));
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "<concealed by patina>\n"
    );
    seen.output("run while unlocked", &o);
    // And its length is right (the child has the real value).
    let o = out(no_identity(
        &w,
        &[
            "secrets",
            "run",
            "--",
            "sh",
            "-c",
            "printf %s \"$CANARY\" | wc -c",
        ],
    ));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        CANARY.len().to_string()
    );

    // The TTL passes with no request: the timer wipes it.
    std::thread::sleep(Duration::from_millis(3500));
    let log_before = std::fs::read_to_string(w.home().join("audit.log")).unwrap();
    assert!(
        log_before.contains("\"expire\""),
        "expired without a request: {log_before}"
    );
    assert_eq!(session(&d)["unlocked"], false);
    let o = out(no_identity(
        &w,
        &["secrets", "run", "--", "printenv", "CANARY"],
    ));
    assert!(!o.status.success(), "after expiry: {}", show(&o));
    seen.output("run after expiry", &o);

    // Lock wipes likewise.
    unlock(&w, "10m");
    assert_eq!(session(&d)["unlocked"], true);
    let o = out(no_identity(&w, &["session", "lock"]));
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(session(&d)["unlocked"], false);
    let o = out(no_identity(
        &w,
        &["secrets", "run", "--", "printenv", "CANARY"],
    ));
    assert!(!o.status.success(), "after lock: {}", show(&o));

    // Status and the audit log: names, pids, executables — never a value.
    let o = out(no_identity(&w, &["session", "status", "--json"]));
    assert!(o.status.success());
    seen.output("status", &o);
    let o = out(no_identity(&w, &["session", "log", "--json"]));
    assert!(o.status.success(), "{}", show(&o));
    seen.output("log", &o);
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let events: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "unlock", "release", "run", "release", "run", "expire", "unlock", "lock"
        ],
        "{log}"
    );
    let release = &log["events"][1];
    assert_eq!(release["names"], serde_json::json!(["canary"]));
    assert!(release["pid"].as_u64().is_some());
    assert!(
        release["exe"].as_str().unwrap().ends_with("patina"),
        "{release}"
    );
    assert_eq!(secrets_common::mode(&w.home().join("audit.log")), 0o600);
    seen.assert_clean(&d, &w.home());
}

#[test]
fn values_and_identities_go_only_to_patina_never_to_curl_or_tcp() {
    let (w, d) = world_with_daemon(&["--port", "0"]);
    let mut seen = Seen::default();
    unlock(&w, "10m");
    let unlock_body = serde_json::json!({"identity": w.identity, "ttl_secs": 60}).to_string();

    // curl, and a copy of curl named patina, get 403 on the patina routes.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("patina");
    std::fs::copy(which("curl"), &fake).unwrap();
    for prog in [PathBuf::from("curl"), fake] {
        for (path, body) in [
            ("/session/env", "{}"),
            ("/session/unlock", unlock_body.as_str()),
        ] {
            let o = Command::new(&prog)
                .args(["-sS", "--max-time", "10", "--unix-socket"])
                .arg(&d.socket)
                .args([
                    "-w",
                    "\n%{http_code}",
                    "-H",
                    "Content-Type: application/json",
                ])
                .args(["-d", body, &format!("http://localhost{path}")])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(text.ends_with("\n403"), "{prog:?} {path}: {text}");
            seen.output(&format!("{prog:?} {path}"), &o);
        }
    }
    // Still unlocked (the refused unlock changed nothing), and /session, /secrets show names
    // at most.
    assert_eq!(session(&d)["unlocked"], true);
    for path in ["/session", "/secrets"] {
        let o = curl(&d.socket, &[&format!("http://localhost{path}")]);
        assert!(o.status.success());
        seen.output(path, &o);
    }
    let r = d.get("/secrets");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["secrets"],
        serde_json::json!([{"name": "canary", "env": "CANARY", "vault": "global"}])
    );

    // Over TCP with a valid token, every local and patina route is 403.
    let token = d.token();
    let others = [("GET", "/status"), ("POST", "/shutdown")];
    for &(method, path) in SESSION_ROUTES.iter().chain(&others) {
        let body = (method == "POST").then_some(r#"{"text":"x","identity":"x"}"#);
        let r = d.tcp(method, path, Some(&token), body);
        r.assert_well_formed();
        assert_eq!(r.status, 403, "{method} {path} over TCP");
        seen.resp(&format!("tcp {path}"), &r);
    }
    // The TCP refusal of /session/lock did not lock.
    assert_eq!(session(&d)["unlocked"], true);

    // A malformed body (holding the canary) to every route: no echo anywhere.
    for (method, path) in routes() {
        let bodies = [
            format!("{{\"identity\": \"{CANARY}\", \"text\": \"{CANARY}\""),
            format!("{{\"identity\": \"{CANARY}\", \"ttl_secs\": \"{CANARY}\"}}"),
            format!("{{\"text\": 5, \"query\": [\"{CANARY}\"], \"project\": \"{CANARY}\"}}"),
            CANARY.to_string(),
        ];
        for b in bodies {
            let raw = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
            let r = d.send(raw.as_bytes());
            r.assert_well_formed();
            seen.resp(&format!("malformed {method} {path}"), &r);
        }
    }
    // A bad identity through the real client: the CLI refuses it, nothing echoes.
    let mut c = w.bare_cmd(&["session", "unlock"]);
    c.env("PATINA_IDENTITY", CANARY)
        .env("PATINA_NO_KEYRING", "1");
    let o = out(c);
    assert!(!o.status.success());
    seen.output("unlock with a bad identity", &o);
    // A TTL past the maximum: a usage error, not a panic.
    let o = out(w.cmd(&["session", "unlock", "--ttl", "99999999999999999999h"]));
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let o = out(w.cmd(&["session", "unlock", "--ttl", "13h"]));
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        show(&o).contains("between 1 second and 12 hours"),
        "{}",
        show(&o)
    );
    // Not a duration at all: says so, and how to write one.
    let o = out(w.cmd(&["session", "unlock", "--ttl", "tenm"]));
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(show(&o).contains("not a duration"), "{}", show(&o));
    assert!(d.still_serving());
    seen.assert_clean(&d, &w.home());
}

fn routes() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GET", "/health"),
        ("GET", "/version"),
        ("POST", "/api/scry"),
        ("GET", "/status"),
        ("GET", "/session"),
        ("POST", "/session/unlock"),
        ("POST", "/session/lock"),
        ("POST", "/session/env"),
        ("GET", "/secrets"),
        ("POST", "/secrets/scan"),
    ]
}

fn which(prog: &str) -> PathBuf {
    let o = Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

/// A private-key block made at run time (the repository never holds one): random base64.
fn fake_key_block() -> (String, Vec<String>) {
    let mut bytes = vec![0u8; 48 * 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .unwrap();
    use base64::Engine as _;
    let lines: Vec<String> = bytes
        .chunks(48)
        .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
        .collect();
    let kind = "OPENSSH";
    let block = format!(
        "-----BEGIN {kind} PRIVATE KEY-----\n{}\n-----END {kind} PRIVATE KEY-----\n",
        lines.join("\n")
    );
    (block, lines)
}

fn write_secret_notes(project: &Path) -> Vec<String> {
    let (block, lines) = fake_key_block();
    std::fs::write(
        project.join("layer/core/deploy.md"),
        format!("# Deploy notes\n\nThe quetzal deploy key:\n{block}\nKeep it safe.\n"),
    )
    .unwrap();
    std::fs::write(
        project.join("layer/core/tokens.md"),
        format!("# Tokens\n\nThe axolotl service token is {CANARY} for now.\n"),
    )
    .unwrap();
    lines
}

fn assert_no_key(what: &str, text: &str, lines: &[String]) {
    assert!(!text.contains("PRIVATE KEY"), "{what}: key header shown");
    for l in lines {
        for piece in l.as_bytes().chunks(12) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(!text.contains(piece), "{what}: key material shown");
        }
    }
}

#[test]
fn scry_never_hands_out_a_secret() {
    let w = World::new();
    write_fixture_project(&w.work());
    let lines = write_secret_notes(&w.work());
    w.add("canary", CANARY, &[]);

    // Without a daemon: the key block is redacted by the CLI itself.
    let o = out(w.cmd(&["scrape", "."]));
    assert!(o.status.success(), "{}", show(&o));
    let o = out(w.cmd(&["scry", "--json", "quetzal"]));
    assert!(o.status.success(), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_no_key("cli scry", &text, &lines);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hit = &v["results"][0];
    assert_eq!(hit["path"], "layer/core/deploy.md", "{v}");
    assert_eq!(hit["redacted"], true, "{v}");
    assert!(
        hit["snippet"].as_str().unwrap().contains("[redacted]"),
        "{v}"
    );
    // A clean hit keeps the §6 shape: no `redacted` field.
    let o = out(w.cmd(&["scry", "--json", "marigold"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["results"][0].get("redacted").is_none(), "{v}");

    // Through the daemon while unlocked: the canary (a known value) and the key both go.
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let mut seen = Seen::default();
    unlock(&w, "10m");
    for q in ["axolotl", "quetzal", "token", "deploy key"] {
        let r = d.post("/api/scry", &serde_json::json!({"query": q}).to_string());
        assert_eq!(r.status, 200);
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert_no_key(q, &body, &lines);
        seen.resp(q, &r);
        let v = r.json();
        assert!(
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["redacted"] == true),
            "{q}: {v}"
        );
    }
    let o = out(no_identity(&w, &["scry", "axolotl"]));
    assert!(o.status.success(), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[redacted]"));
    seen.output("cli scry via daemon", &o);
    seen.assert_clean(&d, &w.home());
}

#[test]
fn the_served_projects_vault_is_redacted_whichever_project_the_unlock_named() {
    let w = World::new();
    write_fixture_project(&w.work());
    // A project secret (built at run time) written into one of the project's notes.
    let value = format!("Pv4lue-{}-q9Zr7Kx2", std::process::id());
    w.add("project-token", &value, &["--project"]);
    std::fs::write(
        w.work().join("layer/core/ocelot.md"),
        format!(
            "# Ocelot

The ocelot staging token is {value} for now.
"
        ),
    )
    .unwrap();
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    // Unlocked from another directory: the unlock names that one, not the served project.
    let mut c = w.cmd(&["session", "unlock", "--ttl", "10m"]);
    c.current_dir(w.dir.path().join("nort"));
    let o = out(c);
    assert!(o.status.success(), "unlock: {}", show(&o));
    // The served project has a vault: `/session` lists it beside the global one.
    let s = d.get("/session").json();
    assert!(
        s["vaults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["kind"] == "project"),
        "{s}"
    );
    let r = d.post(
        "/api/scry",
        &serde_json::json!({"query": "ocelot"}).to_string(),
    );
    assert_eq!(r.status, 200);
    assert_no_leak("scry ocelot", &r.body, &value);
    assert!(
        r.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["redacted"] == true),
        "the note was found and redacted"
    );
    assert_no_leak("daemon log", d.log().as_bytes(), &value);
}

#[test]
fn secrets_scan_reports_names_and_offsets_never_values() {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    let (block, lines) = fake_key_block();
    let clean = w.work().join("clean.txt");
    std::fs::write(&clean, "nothing to see here\n").unwrap();
    let dirty = w.work().join("dirty.txt");
    let text = format!("line one\n{block}and then {CANARY}\n");
    std::fs::write(&dirty, &text).unwrap();

    // No daemon: patterns only; exit 1 when found, 0 when clean.
    let o = out(no_identity(&w, &["secrets", "scan", "clean.txt"]));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = out(no_identity(&w, &["secrets", "scan", "--json", "dirty.txt"]));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &v["files"][0]["findings"];
    assert_eq!(f[0]["kind"], "private-key", "{v}");
    assert_eq!(f[0]["start"], 9);
    assert_eq!(f[0]["end"], 9 + block.trim_end().len());
    assert!(f.as_array().unwrap().iter().all(|x| x["kind"] != "known"));
    // Stdin, when no file is named.
    let o = run_with_input(no_identity(&w, &["secrets", "scan"]), text.as_bytes());
    assert_eq!(o.status.code(), Some(1));
    assert_no_key("scan stdout", &String::from_utf8_lossy(&o.stdout), &lines);

    // With an unlocked daemon: the canary is reported by name, at its offset.
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    unlock(&w, "10m");
    let o = out(no_identity(&w, &["secrets", "scan", "--json", "dirty.txt"]));
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let known: Vec<&serde_json::Value> = v["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "known")
        .collect();
    let at = text.find(CANARY).unwrap();
    assert_eq!(known.len(), 1, "{v}");
    assert_eq!(known[0]["name"], "canary");
    assert_eq!(known[0]["start"], at);
    assert_eq!(known[0]["end"], at + CANARY.len());
    let mut seen = Seen::default();
    seen.output("scan", &o);
    let r = d.post(
        "/secrets/scan",
        &serde_json::json!({ "text": format!("x {CANARY}") }).to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["findings"][0]["name"], "canary");
    seen.resp("POST /secrets/scan", &r);
    seen.assert_clean(&d, &w.home());
}

/// The daemon, run as a non-root uid, is non-dumpable: `status` says so, and another process
/// of the same uid cannot read its environment (while it can read a dumpable sibling's).
#[test]
fn daemon_is_not_dumpable_and_leaves_no_core() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        base.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let home = base.path().join("home");
    let project = base.path().join("proj");
    write_fixture_project(&project);
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    chown_r(&home);
    chown_r(&project);
    let nobody = |prog: &str| {
        let mut c = Command::new("setpriv");
        common::scrub_env(&mut c)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", prog])
            .current_dir(&project)
            .env("PATINA_HOME", &home)
            .env("PATINA_NO_KEYRING", "1");
        c
    };
    let identity = patina::secrets::Identity::generate()
        .expose_secret_text()
        .to_string();
    let mut add = nobody(common::bin());
    add.args(["secrets", "add", "canary", "--stdin"])
        .env("PATINA_IDENTITY", &identity);
    let o = run_with_input(add, CANARY.as_bytes());
    assert!(o.status.success(), "{}", show(&o));
    let mut serve = nobody(common::bin());
    serve
        .args(["serve", "--project"])
        .arg(&project)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = serve.spawn().unwrap();
    let sock = home.join("run/serve.sock");
    let t = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id();
    let mut st = nobody(common::bin());
    st.args(["status", "--json"]);
    let o = out(st);
    assert!(o.status.success(), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dumpable"], false, "{v}");
    // The peer-executable check works for a non-root daemon: our client stays dumpable.
    let mut un = nobody(common::bin());
    un.args(["session", "unlock", "--ttl", "1m"])
        .env("PATINA_IDENTITY", &identity);
    let o = out(un);
    assert!(o.status.success(), "unlock as a non-root uid: {}", show(&o));
    let mut run = nobody(common::bin());
    run.args(["secrets", "run", "--", "printenv", "CANARY"]);
    let o = out(run);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "<concealed by patina>\n"
    );
    // Same uid, not root: the daemon's environment cannot be read...
    let mut cat = nobody("cat");
    cat.arg(format!("/proc/{pid}/environ"));
    let o = out(cat);
    assert!(!o.status.success(), "read the daemon's environ");
    // ...while a dumpable process of that uid can (so the check above can fail).
    let mut sleeper = nobody("sleep");
    sleeper.arg("30");
    let mut sleeper = sleeper.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut cat = nobody("cat");
    cat.arg(format!("/proc/{}/environ", sleeper.id()));
    let o = out(cat);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(o.status.success(), "control: {}", show(&o));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn no_core_file_when_the_daemon_aborts() {
    let w = World::new();
    write_fixture_project(&w.work());
    let cwd = tempfile::tempdir().unwrap();
    let run = |cmd: &str| {
        Command::new("sh")
            .args([
                "-c",
                &format!("ulimit -c unlimited 2>/dev/null; exec {cmd}"),
            ])
            .current_dir(cwd.path())
            .env("PATINA_HOME", w.home())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = run(&format!(
        "'{}' serve --project '{}'",
        common::bin(),
        w.work().display()
    ));
    let sock = w.home().join("run/serve.sock");
    let t = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let soft_hard: Vec<&str> = core.split_whitespace().skip(4).take(2).collect();
    assert_eq!(soft_hard, ["0", "0"], "{core}");
    common::signal(child.id(), "ABRT");
    let _ = common::wait_timeout(&mut child, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    let cores: Vec<_> = std::fs::read_dir(cwd.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("core"))
        .collect();
    assert!(cores.is_empty(), "a core file appeared");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

fn chown_r(p: &Path) {
    let st = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

/// A secret added after `session unlock` is redacted from scry and found by scan at once, not
/// only after the next unlock (found by a tester).
#[test]
fn a_secret_added_while_unlocked_is_redacted_at_once() {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    let late = "lower-case-secret-value-9f2a";
    std::fs::write(
        w.work().join("layer/core/late.md"),
        format!("# Pangolin\n\nthe pangolin value is {late} indeed\n"),
    )
    .unwrap();
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let o = unlock(&w, "10m");
    assert!(o.status.success(), "{}", show(&o));
    w.add("late", late, &[]);
    let r = d.post("/api/scry", r#"{"query":"pangolin"}"#);
    assert_eq!(r.status, 200);
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(!body.contains(late), "{body}");
    assert!(body.contains("[redacted]"), "{body}");
    let r = d.post(
        "/secrets/scan",
        &serde_json::json!({ "text": format!("x {late} y") }).to_string(),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "late"),
        "{v}"
    );
}

/// Issue 15 item 11: while a session is unlocked, `secrets add` needs no identity of its own
/// (the daemon adds it with the one it holds: a passphrase identity without a terminal
/// works); locked and without an identity, one line says why the identity is needed. The
/// route that carries the value answers only the patina binary.
#[test]
fn secrets_add_and_remove_go_through_an_unlocked_session_without_an_identity() {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("first", "first-value-1234", &[]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let o = unlock(&w, "10m");
    assert!(o.status.success(), "{}", show(&o));
    let o = run_with_input(
        w.bare_cmd(&["secrets", "add", "late", "--env", "LATE_ONE", "--stdin"]),
        CANARY.as_bytes(),
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("added late (env LATE_ONE) in the global vault")
    );
    assert_no_leak("add through the daemon", &o.stdout, CANARY);
    assert_no_leak("add through the daemon", &o.stderr, CANARY);
    // The value is there: `secrets run` (through the session) gets it, masked in output.
    let mut c = w.bare_cmd(&[
        "secrets",
        "run",
        "--",
        "sh",
        "-c",
        "test \"$LATE_ONE\" = \"$WANT\" && echo same",
    ]);
    c.env("WANT", CANARY);
    let o = run_with_input(c, b"");
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "same\n");
    // curl cannot use the route that carries a value.
    assert_eq!(
        curl_post_status(&d.socket, "/secrets/add", r#"{"name":"x","value":"y"}"#),
        "403"
    );
    // `secrets remove` goes through the session too: no identity here, and the value is no
    // longer released.
    let o = w.bare_cmd(&["secrets", "remove", "late"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("removed late from the global vault"));
    let o = run_with_input(
        w.bare_cmd(&["secrets", "run", "--", "sh", "-c", "echo \"[$LATE_ONE]\""]),
        b"",
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "[]\n");
    let o = w.bare_cmd(&["secrets", "remove", "late"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no secret"),
        "{}",
        show(&o)
    );
    assert_eq!(
        curl_post_status(&d.socket, "/secrets/remove", r#"{"name":"first"}"#),
        "403"
    );
    // Locked, no identity: one line that says why it is needed and what to do.
    let o = w.bare_cmd(&["session", "lock"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let o = run_with_input(
        w.bare_cmd(&["secrets", "add", "later", "--stdin"]),
        b"some-value-5678",
    );
    let says_why_the_identity_is_needed = |o: &std::process::Output| {
        assert_eq!(o.status.code(), Some(1), "{}", show(o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("needs your identity") && err.contains("patina session unlock"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    };
    says_why_the_identity_is_needed(&o);
    says_why_the_identity_is_needed(
        &w.bare_cmd(&["secrets", "remove", "first"])
            .output()
            .unwrap(),
    );
    drop(d);
}

#[test]
fn a_vault_that_cannot_be_read_mid_request_is_a_500_with_one_line() {
    // An I/O failure on the vault is the machine's failure, not the caller's: 500, with one
    // line naming the file and no value; nothing is lost once the file is back.
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    unlock(&w, "10m");
    let vault = w.home().join("vault.age");
    let aside = w.home().join("vault.age.aside");
    std::fs::rename(&vault, &aside).unwrap();
    // A directory where the file should be: open(2) succeeds, read(2) fails with EISDIR.
    std::fs::create_dir(&vault).unwrap();
    let o = run_with_input(
        no_identity(&w, &["secrets", "add", "late", "--stdin"]),
        b"late-value-1234",
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("vault.age"), "names the file: {err}");
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains(" POST /secrets/add 500 ")),
        "the daemon answered 500: {log}"
    );
    assert!(
        !log.lines().any(|l| l.contains(" POST /secrets/add 400 ")),
        "not 400: {log}"
    );
    // Nothing was lost: with the file back, the value is still there.
    std::fs::remove_dir(&vault).unwrap();
    std::fs::rename(&aside, &vault).unwrap();
    let mut c = no_identity(
        &w,
        &[
            "secrets",
            "run",
            "--",
            "sh",
            "-c",
            "test \"$CANARY\" = \"$WANT\" && echo same",
        ],
    );
    c.env("WANT", CANARY);
    let o = run_with_input(c, b"");
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "same\n");
    assert_no_leak("add stderr", err.as_bytes(), CANARY);
    assert_no_leak("daemon log", log.as_bytes(), CANARY);
}

#[test]
fn a_poisoned_session_lock_wipes_the_session_and_refuses_unlock_until_restart() {
    // The poisoned-lock policy (architecture.md): a panic while the session's state is held
    // wipes it, and no unlock is accepted until the daemon restarts.
    let (w, d) = world_with_daemon(&[]);
    unlock(&w, "10m");
    assert_eq!(session(&d)["unlocked"], true);
    let r = d.post("/debug/poison-session", "{}");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Wiped: nothing is held, so nothing can be released.
    assert_eq!(session(&d)["unlocked"], false);
    let o = out(no_identity(
        &w,
        &["secrets", "run", "--", "sh", "-c", "echo \"[$CANARY]\""],
    ));
    assert!(
        !o.status.success(),
        "no values without the session: {}",
        show(&o)
    );
    // Refused until restart, with one line that says what to do.
    let o = out(w.cmd(&["session", "unlock", "--ttl", "10m"]));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("restart"), "{err}");
    assert!(
        d.log()
            .lines()
            .any(|l| l.contains(" POST /session/unlock 503 ")),
        "{}",
        d.log()
    );
    assert_eq!(session(&d)["unlocked"], false);
    assert_no_leak("unlock stderr", err.as_bytes(), CANARY);
    assert_no_leak("run stdout", &o.stdout, CANARY);
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// A known value made only of punctuation is one run with the punctuation around it, and a
/// run too long is cut to its ends (`scry::redact::bound_runs`). The cut comes after every
/// redaction pass: cut first, the run's head would show the value's first characters, too few
/// for the redactor to know them as a piece of it.
#[test]
fn a_punctuation_value_in_a_long_run_is_redacted_before_the_run_is_cut() {
    let w = World::new();
    write_fixture_project(&w.work());
    // A value of punctuation only, made at run time (no literal value in the test).
    let marks = b"!#$%&()*+,-./:;<=>?@^_~|";
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let value: String = (0..32)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            marks[(seed % marks.len() as u64) as usize] as char
        })
        .collect();
    // The run: a space, 29 braces, the value, then braces without end. Cut first, the head
    // of 40 characters would end with the value's first 10.
    let text = format!(
        "# Pangolin\n\nthe pangolin {}{value}{} pangolin\n",
        "{".repeat(29),
        "{".repeat(5_000)
    );
    std::fs::write(w.work().join("layer/core/punct.md"), text).unwrap();
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    unlock(&w, "10m");
    w.add("punct", &value, &[]);
    let r = d.post("/api/scry", r#"{"query":"pangolin"}"#);
    assert_eq!(r.status, 200);
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(body.len() < 8_000, "the run is cut: {} bytes", body.len());
    assert!(body.contains("[redacted]"), "the value is redacted");
    for n in (6..=value.len()).rev() {
        let shown = (0..=value.len() - n).find(|&i| body.contains(&value[i..i + n]));
        assert!(
            shown.is_none(),
            "{n} characters of the value are in the answer"
        );
    }
}
