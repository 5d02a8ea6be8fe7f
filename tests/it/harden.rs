//! Issue 16, "hardening": each test performs an attack a same-uid agent can run without
//! ptrace or reading another process's memory, and shows it no longer works.

use crate::common;
use crate::common::secrets as secrets_common;

use common::{Daemon, write_fixture_project};
use secrets_common::{CANARY, World, assert_no_leak, run_with_input, show};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A world with the canary in the global vault and a daemon serving `work/`.
fn world_with_daemon() -> (World, Daemon) {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    (w, d)
}

fn out(c: Command) -> Output {
    run_with_input(c, b"")
}

fn unlock(w: &World) {
    let o = out(w.cmd(&["session", "unlock", "--ttl", "10m"]));
    assert!(o.status.success(), "unlock: {}", show(&o));
}

fn audit(w: &World) -> Vec<serde_json::Value> {
    std::fs::read_to_string(w.home().join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Item 1: a process connects, forks, and execs the patina binary (`patina mcp`, waiting on
/// stdin); its child, which shares the connection, asks `/session/env`. The daemon must see
/// that the bytes were written by another process than the one that connected: 403, no
/// value, and a `refuse` line in the audit log naming the writer.
#[test]
fn a_connection_handed_over_by_fork_to_a_non_patina_writer_gets_no_values() {
    let (w, d) = world_with_daemon();
    unlock(&w);
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("result");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/harden_helpers/handover.py"
    );
    let mut c = Command::new("python3");
    c.arg(script)
        .arg(&d.socket)
        .arg(common::bin())
        .arg(w.work())
        .arg(&result);
    w.configure(&mut c, false);
    // stdin stays open (piped) so the exec'd `patina mcp` keeps running while its forked
    // sibling writes.
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let t = std::time::Instant::now();
    while !result.exists() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    drop(child.stdin.take());
    let st = common::wait_timeout(&mut child, Duration::from_secs(20));
    if st.is_none() {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    let got = std::fs::read_to_string(&result).unwrap_or_default();
    assert_no_leak("helper output", &o.stdout, CANARY);
    assert_no_leak("helper stderr", &o.stderr, CANARY);
    let f: Vec<&str> = got.split_whitespace().collect();
    assert_eq!(
        f.len(),
        3,
        "the helper did not finish: {got:?} {}",
        show(&o)
    );
    assert_eq!(
        (f[0], f[1]),
        ("403", "0"),
        "a forked non-patina writer got the session's values"
    );
    let writer: u32 = f[2].parse().unwrap();
    let ev = audit(&w);
    let refuse = ev
        .iter()
        .find(|e| e["event"] == "refuse")
        .unwrap_or_else(|| panic!("no refuse line in the audit log: {ev:?}"));
    assert_eq!(refuse["route"], "/session/env", "{refuse}");
    assert_eq!(refuse["writer_pid"], writer, "{refuse}");
    assert!(
        !ev.iter().any(|e| e["event"] == "release"),
        "a release was audited: {ev:?}"
    );
    assert_no_leak(
        "audit",
        &std::fs::read(w.home().join("audit.log")).unwrap(),
        CANARY,
    );
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);

    // The real patina still gets its values (masked in its output).
    let mut c = w.bare_cmd(&["secrets", "run", "--", "printenv", "CANARY"]);
    c.env("PATINA_NO_KEYRING", "1");
    let o = out(c);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "<concealed by patina>\n"
    );
    assert!(audit(&w).iter().any(|e| e["event"] == "release"));
}

/// Item 1, second form: the connecting process writes the whole `POST /session/env` itself,
/// then execs patina (`patina mcp`), while a forked child keeps the connection to read the
/// answer. Every byte carries the connecting pid, and by the time the daemon looks, that pid
/// runs patina with the same start time (exec changes neither). The daemon is made to look
/// late (its one worker is busy with a slow body until the exec is done), as an attacker can
/// by keeping the workers busy. Values must not be released: the executable has to be seen
/// *before* the request could be written, which only a ticket taken by a patina process
/// proves.
#[test]
fn a_request_written_before_an_exec_of_patina_gets_no_values() {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    let d = Daemon::start_in(
        tempfile::tempdir().unwrap(),
        w.home(),
        w.work(),
        &["--workers", "1"],
    );
    unlock(&w);
    // Keep the one worker busy: a head that promises a body, and one byte of it.
    let mut slow = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    std::io::Write::write_all(
        &mut slow,
        b"POST /api/scry HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let result = dir.path().join("result");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/harden_helpers/write_then_exec.py"
    );
    let mut c = Command::new("python3");
    c.arg(script)
        .arg(&d.socket)
        .arg(common::bin())
        .arg(w.work())
        .arg(&ready)
        .arg(&result);
    w.configure(&mut c, false);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let t = std::time::Instant::now();
    while !ready.exists() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ready.exists(), "the connecting process never ran patina");
    // Now let the worker go: it takes the handed-over request up after the exec.
    drop(slow);
    while !result.exists() && t.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    drop(child.stdin.take());
    if common::wait_timeout(&mut child, Duration::from_secs(20)).is_none() {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    assert_no_leak("helper output", &o.stdout, CANARY);
    assert_no_leak("helper stderr", &o.stderr, CANARY);
    let got = std::fs::read_to_string(&result).unwrap_or_default();
    let f: Vec<&str> = got.split_whitespace().collect();
    assert_eq!(
        f.len(),
        2,
        "the helper did not finish: {got:?} {}",
        show(&o)
    );
    assert_eq!(
        (f[0], f[1]),
        ("403", "0"),
        "a request written before an exec of patina got the session's values"
    );
    assert!(
        !audit(&w).iter().any(|e| e["event"] == "release"),
        "a release was audited"
    );
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// Appends `line` to the file at `p`, as `age-keygen -y agent.key >> recipients.txt` would.
fn append_line(p: &std::path::Path, line: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    writeln!(f, "{line}").unwrap();
}

/// Item 3: an attacker's recipient appended to `recipients.txt` behind patina's back is
/// refused by the next write (global and project vaults), named by fingerprint with the
/// command that accepts it; nothing written after can be decrypted by the attacker; the
/// user's explicit `recipients add` is the one way to accept it.
#[test]
fn a_recipient_appended_behind_patinas_back_is_refused_and_gets_nothing() {
    use patina::paths::Home;
    use patina::secrets::{Identity, VaultLocation, vault};
    let w = World::new();
    let project = w.work();
    std::fs::create_dir_all(project.join("layer")).unwrap();
    w.add("canary", CANARY, &[]);
    w.add("pcanary", CANARY, &["--project"]);
    w.trust_project();
    let attacker = Identity::generate();
    let home = Home::at(w.home());
    for (loc, flag) in [
        (VaultLocation::Global, None),
        (VaultLocation::Project(project.clone()), Some("--project")),
    ] {
        let rpath = loc.recipients_path(&home);
        let before = std::fs::read(loc.vault_path(&home)).unwrap();
        append_line(&rpath, &attacker.recipient());

        // The user's next write is refused, naming the fingerprint and the fix.
        let mut args = vec!["secrets", "add", "later"];
        args.extend(flag);
        args.push("--stdin");
        let o = w.run(&args, CANARY.as_bytes());
        assert!(!o.status.success(), "the write went through: {}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        let fp = vault::recipient_fingerprint(&attacker.recipient());
        assert!(
            err.contains(&fp) && err.contains("patina secrets recipients add"),
            "{err}"
        );
        if let Some(f) = flag {
            assert!(err.contains(f), "{err}");
        }
        assert_no_leak("refused add", &o.stderr, CANARY);
        let mut args = vec!["secrets", "remove", "later"];
        args.extend(flag);
        assert!(!w.run(&args, b"").status.success());
        // Nothing was re-encrypted: the attacker's identity opens nothing.
        assert_eq!(std::fs::read(loc.vault_path(&home)).unwrap(), before);
        assert!(vault::open(&home, &loc, &attacker).is_err());
        // Reads still work for the user; a project vault whose recipients.txt changed is
        // untrusted until the user looks at it again (`secrets trust`, QA session 9 H4).
        let o = w.run(
            &["secrets", "run", "--", "printenv", "CANARY", "PCANARY"],
            b"",
        );
        if flag.is_some() {
            assert!(!o.status.success(), "{}", show(&o));
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("patina secrets trust"),
                "{}",
                show(&o)
            );
        } else {
            assert!(o.status.success(), "{}", show(&o));
        }
    }

    // Accepting it is explicit and needs the identity: then (and only then) it decrypts.
    let o = w.run(
        &["secrets", "recipients", "add", &attacker.recipient()],
        b"",
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("added"),
        "{}",
        show(&o)
    );
    w.add("later", "another-value-12345", &[]);
    let v = vault::open(&home, &VaultLocation::Global, &attacker)
        .unwrap()
        .unwrap();
    assert!(v.get("later").is_some());
}

/// Session 8: a `recipients.txt` planted before the first secret (the user's own recipient,
/// which a committed project file or a terminal transcript shows, beside the agent's) made
/// the new vault encrypted to both. A new vault trusts the identity alone: the planted
/// recipient is refused, named with the fix, and no vault is written until the user accepts.
#[test]
fn a_recipient_planted_before_the_first_secret_is_refused_and_gets_nothing() {
    use patina::paths::Home;
    use patina::secrets::{Identity, VaultLocation, vault};
    let w = World::new();
    let project = w.work();
    std::fs::create_dir_all(project.join("layer")).unwrap();
    let me = Identity::parse(w.identity.as_bytes()).unwrap();
    let attacker = Identity::generate();
    let home = Home::at(w.home());
    for (loc, flag) in [
        (VaultLocation::Global, None),
        (VaultLocation::Project(project.clone()), Some("--project")),
    ] {
        let rpath = loc.recipients_path(&home);
        let mut private = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(private.recursive(true), 0o700);
        private.create(rpath.parent().unwrap()).unwrap();
        std::fs::write(
            &rpath,
            format!("{}\n{}\n", me.recipient(), attacker.recipient()),
        )
        .unwrap();
        let mut args = vec!["secrets", "add", "first"];
        args.extend(flag);
        args.push("--stdin");
        let o = w.run(&args, CANARY.as_bytes());
        assert!(
            !o.status.success(),
            "the first write went through: {}",
            show(&o)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        let fp = vault::recipient_fingerprint(&attacker.recipient());
        assert!(
            err.contains(&fp) && err.contains("patina secrets recipients add"),
            "{err}"
        );
        assert!(!loc.vault_path(&home).exists(), "a vault was written");
        assert_no_leak("refused add", &o.stderr, CANARY);
        // With the planted line gone, the first secret goes to the user alone.
        std::fs::write(&rpath, format!("{}\n", me.recipient())).unwrap();
        let o = w.run(&args, CANARY.as_bytes());
        assert!(o.status.success(), "{}", show(&o));
        assert!(vault::open(&home, &loc, &attacker).is_err());
        assert!(vault::open(&home, &loc, &me).unwrap().is_some());
    }
}

/// Item 3, migration: a vault written before the list was recorded (no `recipients` in its
/// plaintext) records the file's list at its first write and says so; from then on an
/// appended recipient is refused.
#[test]
fn an_old_vault_records_its_recipients_at_the_first_write() {
    use patina::paths::Home;
    use patina::secrets::{Identity, vault};
    use std::io::Write as _;
    let w = World::new();
    let home = Home::at(w.home());
    w.add("first", "first-value-123", &[]);
    // Rewrite vault.age as an older patina did: the same JSON without `recipients`.
    let me = Identity::parse(w.identity.as_bytes()).unwrap();
    let plain = br#"{"patina_vault":1,"secrets":{"first":"first-value-123"}}"#;
    let r: age::x25519::Recipient = me.recipient().parse().unwrap();
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
    let mut ct = Vec::new();
    let mut wr = enc.wrap_output(&mut ct).unwrap();
    wr.write_all(plain).unwrap();
    wr.finish().unwrap();
    std::fs::write(home.vault_path(), &ct).unwrap();

    let o = w.run(
        &["secrets", "add", "second", "--stdin"],
        b"second-value-123",
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("now records its 1 recipient"),
        "{}",
        show(&o)
    );
    let attacker = Identity::generate();
    append_line(&home.recipients_path(), &attacker.recipient());
    let o = w.run(&["secrets", "add", "third", "--stdin"], b"third-value-123");
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains(&vault::recipient_fingerprint(&attacker.recipient())),
        "{}",
        show(&o)
    );
}

/// A long value for the wrapping tests: ordinary text, nothing that looks like a real key.
const LONG: &str = "patina-long-test-value-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ-9876543210";

/// `patina secrets run [flags] -- sh -c SCRIPT` in `w`.
fn run_sh(w: &World, flags: &[&str], script: &str) -> Output {
    let mut args = vec!["secrets", "run"];
    args.extend_from_slice(flags);
    args.extend(["--", "sh", "-c", script]);
    out(w.cmd(&args))
}

/// The text column and the hex digits of every dump line in `out`, each concatenated across
/// lines (an independent reading of the three formats, for the test's assertion).
fn dump_columns(out: &[u8], tool: &str) -> (Vec<u8>, String) {
    let (mut text, mut hex) = (Vec::new(), String::new());
    for line in String::from_utf8_lossy(out).lines() {
        let b = line.as_bytes();
        match tool {
            "xxd" if b.len() > 51 && b[8] == b':' => {
                hex.extend(line[10..49].chars().filter(char::is_ascii_hexdigit));
                text.extend_from_slice(&b[51..]);
            }
            "hexdump" if line.contains('|') => {
                let bar = line.find('|').unwrap();
                hex.extend(line[8..bar].chars().filter(char::is_ascii_hexdigit));
                text.extend_from_slice(line[bar + 1..].trim_end_matches('|').as_bytes());
            }
            "od" if b.len() > 7 && b[..7].iter().all(u8::is_ascii_digit) => {
                for f in b[7..].chunks(4) {
                    let t = String::from_utf8_lossy(f);
                    let t = t.trim_start();
                    match t {
                        "\\n" => text.push(b'\n'),
                        _ if t.len() == 1 => text.push(t.as_bytes()[0]),
                        _ if f.len() == 4 && f[3] == b' ' => text.push(b' '),
                        _ => text.push(b'?'),
                    }
                }
            }
            _ => {}
        }
    }
    (text, hex)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Item 6: the transforms ordinary tools apply by accident are masked in `secrets run`
/// output — `xxd`, `hexdump -C`, `od -c` (text and hex columns, across lines, at every
/// offset), GNU `base64` wrapped at 76 columns, and `tr` to upper or lower case — each run
/// through the real tool, and each shown to leak with `--no-masking` (so the check can fail).
#[test]
fn accidental_transforms_by_real_tools_are_masked() {
    use base64::Engine as _;
    let w = World::new();
    w.add("canary", CANARY, &[]);
    w.add("long", LONG, &[]);
    for tool in ["xxd", "hexdump -C", "od -c", "base64", "tr"] {
        let bin = tool.split(' ').next().unwrap();
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {bin}")])
            .output()
            .unwrap();
        assert!(
            found.status.success(),
            "`{bin}` is missing: run .ci/run (it installs xxd and bsdextrautils)"
        );
    }
    let hexed = |v: &str| v.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for (var, value) in [("CANARY", CANARY), ("LONG", LONG)] {
        for pad in 0..20usize {
            let p = "a".repeat(pad);
            for (tool, name) in [("xxd", "xxd"), ("hexdump -C", "hexdump"), ("od -c", "od")] {
                let script = format!("printf '%s%s\\n' '{p}' \"${var}\" | {tool}");
                for masking in [true, false] {
                    let flags: &[&str] = if masking { &[] } else { &["--no-masking"] };
                    let o = run_sh(&w, flags, &script);
                    assert!(o.status.success(), "{tool}: {}", show(&o));
                    let (text, hex) = dump_columns(&o.stdout, name);
                    let leaked = contains(&text, value.as_bytes())
                        || hex.contains(&hexed(value))
                        || contains(&o.stdout, value.as_bytes());
                    assert_eq!(
                        leaked,
                        !masking,
                        "{tool} pad {pad} masking {masking}:\n{}",
                        String::from_utf8_lossy(&o.stdout)
                    );
                }
            }
            // `xxd -p`: plain hex, 60 digits a line, the value split across lines.
            let script = format!("printf '%s%s' '{p}' \"${var}\" | xxd -p");
            for masking in [true, false] {
                let flags: &[&str] = if masking { &[] } else { &["--no-masking"] };
                let o = run_sh(&w, flags, &script);
                let joined: String = String::from_utf8_lossy(&o.stdout).replace('\n', "");
                assert_eq!(
                    joined.contains(&hexed(value)),
                    !masking,
                    "xxd -p pad {pad} masking {masking}:\n{}",
                    String::from_utf8_lossy(&o.stdout)
                );
            }
            // GNU base64, wrapped at 76 columns, with the value at every alignment and column.
            for tail in ["\\n", ""] {
                let script = format!("printf '%s%s{tail}' '{p}' \"${var}\" | base64");
                let mut buf = p.clone().into_bytes();
                buf.extend_from_slice(value.as_bytes());
                let enc = base64::engine::general_purpose::STANDARD.encode(&buf);
                // The characters that depend on the value alone.
                let front = (pad * 8).div_ceil(6);
                let run = &enc[front..enc.len() - 2];
                for masking in [true, false] {
                    let flags: &[&str] = if masking { &[] } else { &["--no-masking"] };
                    let o = run_sh(&w, flags, &script);
                    let joined: String = String::from_utf8_lossy(&o.stdout).replace('\n', "");
                    let leaked = run
                        .as_bytes()
                        .windows(16)
                        .any(|win| contains(joined.as_bytes(), win));
                    assert_eq!(
                        leaked,
                        !masking,
                        "base64 pad {pad} masking {masking}:\n{}",
                        String::from_utf8_lossy(&o.stdout)
                    );
                }
            }
        }
        // tr, both ways, and rev.
        for (tr, cased) in [
            ("tr a-z A-Z", value.to_ascii_uppercase()),
            ("tr A-Z a-z", value.to_ascii_lowercase()),
            ("rev", value.chars().rev().collect::<String>()),
        ] {
            for masking in [true, false] {
                let flags: &[&str] = if masking { &[] } else { &["--no-masking"] };
                let o = run_sh(&w, flags, &format!("printf 'x %s y\\n' \"${var}\" | {tr}"));
                assert_eq!(
                    contains(&o.stdout, cased.as_bytes()),
                    !masking,
                    "{tr} masking {masking}: {}",
                    String::from_utf8_lossy(&o.stdout)
                );
            }
        }
    }
}

/// Item 4: the prefix oracle. With the canary's first 4 characters known (as in the issue),
/// the attacker writes one note per candidate next character, each titled with
/// `known + candidate` (a title's end is an edge, where scry used to redact any 4+ byte prefix
/// of a known value), re-scrapes and searches. Every round, up to the length that holds 64
/// bits of guessing (`partial_min`), must answer the right candidate exactly as the others:
/// the attack learns nothing. `/secrets/scan` likewise answers every prefix and near miss as
/// it answers an unrelated string, and finds the whole value.
#[test]
fn the_redaction_prefix_oracle_learns_nothing() {
    let (w, d) = world_with_daemon();
    unlock(&w);
    let v = CANARY.as_bytes();
    let min = patina::secrets::scan::partial_min(v);
    assert!(
        min > 4 && min < v.len(),
        "the test needs a cut below the value: {min}"
    );
    let others = b"AbQ9%_kM";
    for k in 4..min - 1 {
        let known = &CANARY[..k];
        let mut cands: Vec<char> = others
            .iter()
            .map(|&c| c as char)
            .filter(|&c| c != v[k] as char)
            .take(7)
            .collect();
        cands.push(v[k] as char);
        let word = format!("qx{k}round");
        for (i, c) in cands.iter().enumerate() {
            std::fs::write(
                w.work().join(format!("layer/core/guess{i}.md")),
                format!("# Zebu note {i} {known}{c}\n\nThe {word} note.\n"),
            )
            .unwrap();
        }
        let o = out(w.cmd(&["scrape", "."]));
        assert!(o.status.success(), "{}", show(&o));
        let r = d.post(
            "/api/scry",
            &serde_json::json!({"query": word, "limit": 20}).to_string(),
        );
        assert_eq!(r.status, 200);
        let hits = r.json()["results"].as_array().unwrap().clone();
        let mut shapes = Vec::new();
        for (i, c) in cands.iter().enumerate() {
            let h = hits
                .iter()
                .find(|h| h["path"] == format!("layer/core/guess{i}.md"))
                .unwrap_or_else(|| panic!("round {k}: no hit for guess {i}: {hits:?}"));
            let title = h["title"].as_str().unwrap();
            let snippet = h["snippet"].as_str().unwrap();
            let guess = format!("{known}{c}");
            shapes.push((
                title.replace(&guess, "G").replace(&format!(" {i} "), " N "),
                snippet.replace(&format!("{k}"), "K"),
                h["redacted"].clone(),
            ));
        }
        assert!(
            shapes.windows(2).all(|p| p[0] == p[1]),
            "round {k}: the right candidate is told apart: {shapes:?}"
        );
        // /secrets/scan: a prefix, a near miss and an unrelated string answer alike.
        let scan = |text: &str| {
            let r = d.post(
                "/secrets/scan",
                &serde_json::json!({ "text": text }).to_string(),
            );
            assert_eq!(r.status, 200);
            r.json()["findings"].clone()
        };
        let unrelated = scan(&format!("x {} y", "Z".repeat(k + 1)));
        for c in &cands {
            assert_eq!(scan(&format!("x {known}{c} y")), unrelated, "round {k}");
        }
    }
    let whole = d.post(
        "/secrets/scan",
        &serde_json::json!({ "text": format!("x {CANARY} y") }).to_string(),
    );
    assert!(whole.json()["findings"].to_string().contains("canary"));
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// QA (session 7): a trailing `*` was an FTS5 prefix query, so `7f3e*`, `7f4a*`, … told
/// which prefix an indexed, redacted value has, one character at a time (a 128-bit key read
/// in 412 queries). A `*` is punctuation now: a prefix of a piece of the value finds nothing,
/// with the session unlocked or locked; only the whole piece does (guessing it whole).
#[test]
fn a_trailing_star_is_no_prefix_oracle_on_an_indexed_value() {
    let (w, d) = world_with_daemon();
    unlock(&w);
    std::fs::write(
        w.work().join("layer/core/deploy.md"),
        format!("# Deploy\n\nThe staging key is {CANARY} for now.\n"),
    )
    .unwrap();
    let o = out(w.cmd(&["scrape", "."]));
    assert!(o.status.success(), "{}", show(&o));
    let piece = CANARY
        .split(|c: char| !c.is_ascii_alphanumeric())
        .nth(1)
        .unwrap();
    assert!(piece.len() >= 8, "{piece}");
    let hits_deploy = |q: &str| -> bool {
        let r = d.post(
            "/api/scry",
            &serde_json::json!({"query": q, "limit": 50}).to_string(),
        );
        assert_eq!(r.status, 200, "{q}");
        assert_no_leak("scry", &r.body, CANARY);
        r.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["path"] == "layer/core/deploy.md")
    };
    assert!(hits_deploy("staging"), "the note is indexed");
    for k in 2..piece.len() {
        let q = format!("{}*", &piece[..k]);
        assert!(!hits_deploy(&q), "{q} is a prefix query");
    }
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// The console's terminal output so far, shared with the reader thread.
type Shown = std::sync::Arc<std::sync::Mutex<String>>;

fn wait_shown(shown: &Shown, what: &str, count: usize) {
    let t = std::time::Instant::now();
    while shown.lock().unwrap().matches(what).count() < count {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the console never showed {what:?} ({count}): {}",
            shown.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Item 2: `session unlock --confirm`, driven in a pseudo-terminal (`script`). Each
/// `secrets run` waits for the console, which shows the command, its directory, the process
/// chain and the secret names; `n` refuses (the run fails, no fallback), `y` releases, no
/// answer in time refuses; curl cannot reach the console routes; `q` locks. All audited.
#[test]
fn unlock_confirm_asks_the_terminal_before_every_release() {
    use std::io::{Read as _, Write as _};
    let (w, d) = world_with_daemon();
    let mut c = Command::new("script");
    c.args([
        "-qec",
        &format!(
            "{} session unlock --ttl 10m --confirm --confirm-timeout 4s",
            secrets_common::BIN
        ),
        "/dev/null",
    ]);
    w.configure(&mut c, true);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut console = common::Reaper(c.spawn().unwrap());
    let mut typing = console.0.stdin.take().unwrap();
    let mut stdout = console.0.stdout.take().unwrap();
    let shown: Shown = Default::default();
    let reader = {
        let shown = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    wait_shown(&shown, "confirmation console", 1);

    // A run in the background: it waits for the console.
    let run = |w: &World| {
        let mut c = w.bare_cmd(&["secrets", "run", "--", "printenv", "CANARY"]);
        c.env("PATINA_NO_KEYRING", "1");
        std::thread::spawn(move || out(c))
    };
    // Refused.
    let h = run(&w);
    wait_shown(&shown, "release them?", 1);
    {
        let s = shown.lock().unwrap();
        assert!(s.contains("printenv CANARY"), "no command shown: {s}");
        assert!(s.contains(&w.work().display().to_string()), "no cwd: {s}");
        assert!(s.contains("secrets:  canary"), "no names: {s}");
        assert!(s.contains("parent:"), "no parent chain: {s}");
    }
    typing.write_all(b"n\n").unwrap();
    let o = h.join().unwrap();
    assert!(!o.status.success(), "ran after a refusal: {}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refused at the confirmation console"),
        "{}",
        show(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("concealed"));
    // Released.
    let h = run(&w);
    wait_shown(&shown, "release them?", 2);
    typing.write_all(b"y\n").unwrap();
    let o = h.join().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "<concealed by patina>\n"
    );
    // No answer within the timeout: refused.
    let h = run(&w);
    wait_shown(&shown, "release them?", 3);
    let o = h.join().unwrap();
    assert!(!o.status.success(), "ran without an answer: {}", show(&o));
    // Nobody but the console answers: curl gets 403 on both console routes.
    for route in ["/session/confirm/next", "/session/confirm/answer"] {
        let code =
            common::curl_post_status(&d.socket, route, r#"{"token":"x","id":0,"allow":true}"#);
        assert_eq!(code, "403", "{route}");
    }
    // `q` at the next prompt locks and ends the console.
    let h = run(&w);
    wait_shown(&shown, "release them?", 4);
    typing.write_all(b"q\n").unwrap();
    let o = h.join().unwrap();
    assert!(!o.status.success());
    wait_shown(&shown, "locked", 1);
    drop(typing);
    let _ = common::wait_timeout(&mut console.0, Duration::from_secs(10));
    reader.join().unwrap();
    assert_eq!(d.get("/session").json()["unlocked"], false);

    let ev: Vec<String> = audit(&w)
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["event"].as_str().unwrap(),
                e["why"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in [
        "deny:refused at the console",
        "confirm:",
        "deny:no answer in time",
        "lock:",
    ] {
        assert!(ev.iter().any(|e| e == want), "{want} not audited: {ev:?}");
    }
    assert_eq!(
        ev.iter().filter(|e| e.starts_with("release")).count(),
        1,
        "{ev:?}"
    );
    assert_no_leak("console", shown.lock().unwrap().as_bytes(), CANARY);
    assert_no_leak(
        "audit",
        &std::fs::read(w.home().join("audit.log")).unwrap(),
        CANARY,
    );
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// Item 2, scope: a secret added with `--allow deploy.sh` reaches `./deploy.sh` and no other
/// command, through the identity and through an unlocked session alike; unscoped secrets go
/// everywhere as before; a bad `--allow` adds nothing.
#[test]
fn a_scoped_secret_reaches_only_the_commands_it_allows() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    w.add("deploykey", "deploy-value-1234", &["--allow", "deploy.sh"]);
    let script = w.work().join("deploy.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"deploy:${DEPLOYKEY:+set} canary:${CANARY:+set}\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = w.run(
        &["secrets", "add", "x", "--stdin", "--allow", "a b"],
        b"some-value",
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let check = |w: &World, via: &str| {
        let c = if via == "session" {
            let mut c = w.bare_cmd(&["secrets", "run", "--", "./deploy.sh"]);
            c.env("PATINA_NO_KEYRING", "1");
            c
        } else {
            w.cmd(&["secrets", "run", "--", "./deploy.sh"])
        };
        let o = out(c);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "deploy:set canary:set\n",
            "{via}: {}",
            show(&o)
        );
        let sh = "echo \"deploy:${DEPLOYKEY:+set} canary:${CANARY:+set}\"";
        let c = if via == "session" {
            let mut c = w.bare_cmd(&["secrets", "run", "--", "sh", "-c", sh]);
            c.env("PATINA_NO_KEYRING", "1");
            c
        } else {
            w.cmd(&["secrets", "run", "--", "sh", "-c", sh])
        };
        let o = out(c);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "deploy: canary:set\n",
            "{via}: {}",
            show(&o)
        );
    };
    check(&w, "identity");
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    unlock(&w);
    check(&w, "session");
    // The session released only what the scope allowed to the `sh` run.
    let ev = audit(&w);
    let releases: Vec<_> = ev.iter().filter(|e| e["event"] == "release").collect();
    assert_eq!(releases.len(), 2, "{ev:?}");
    assert_eq!(
        releases[1]["names"],
        serde_json::json!(["canary"]),
        "{ev:?}"
    );
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// Item 5: once no value is held in clear — the release TTL over, or `--scan-only` — scry
/// still redacts the known values from the scan hold: a note holding the whole value, its
/// hex form, or a piece from its middle shows `[redacted]`, through `/api/scry` and the CLI.
/// Below the piece length a part is answered like any text (no oracle). After `session
/// lock` nothing is held, and only the token detectors redact (README).
#[test]
fn scry_redacts_from_the_scan_hold_while_no_value_is_held_in_clear() {
    let (w, d) = world_with_daemon();
    let piece_len = patina::secrets::scan::piece_len(CANARY.as_bytes());
    let middle = &CANARY[4..4 + piece_len + 2];
    let hex: String = CANARY.bytes().map(|b| format!("{b:02x}")).collect();
    let notes = [
        ("whole", format!("The alpaca key is {CANARY} here.")),
        ("piece", format!("The alpaca middle is {middle} only.")),
        ("hex", format!("The alpaca hex is {hex} then.")),
    ];
    for (name, body) in &notes {
        std::fs::write(
            w.work().join(format!("layer/core/alpaca-{name}.md")),
            format!("# Alpaca {name}\n\n{body}\n"),
        )
        .unwrap();
    }
    let o = out(w.cmd(&["scrape", "."]));
    assert!(o.status.success(), "{}", show(&o));
    let check = |when: &str| {
        let r = d.post(
            "/api/scry",
            &serde_json::json!({"query": "alpaca", "limit": 20}).to_string(),
        );
        assert_eq!(r.status, 200, "{when}");
        let hits = r.json()["results"].as_array().unwrap().clone();
        assert_eq!(hits.len(), 3, "{when}: {hits:?}");
        for h in &hits {
            assert_eq!(h["redacted"], true, "{when}: not redacted: {}", h["path"]);
        }
        assert_no_leak(when, &r.body, CANARY);
        let body = String::from_utf8_lossy(&r.body).to_string();
        assert!(!body.contains(middle), "{when}: the piece is shown");
        let o = out(w.cmd(&["scry", "alpaca", "--json"]));
        assert!(o.status.success(), "{when}: {}", show(&o));
        assert_no_leak(when, &o.stdout, CANARY);
        assert!(!String::from_utf8_lossy(&o.stdout).contains(middle));
        // The pre-commit check finds the stored value from the hold too: `/secrets/scan`
        // names it (as `/guard/scan` does), and `secrets scan FILE` fails on it.
        let text = format!("db_password = {CANARY}\n");
        let r = d.post(
            "/secrets/scan",
            &serde_json::json!({ "text": text }).to_string(),
        );
        assert_eq!(r.status, 200, "{when}");
        let f = r.json()["findings"].as_array().unwrap().clone();
        assert!(
            f.iter()
                .any(|f| f["kind"] == "known" && f["name"] == "canary" && f["start"] == 14),
            "{when}: /secrets/scan missed the held value: {f:?}"
        );
        assert_no_leak(when, &r.body, CANARY);
        let file = w.work().join("commit-me.txt");
        std::fs::write(&file, &text).unwrap();
        let o = out(w.cmd(&["secrets", "scan", file.to_str().unwrap()]));
        assert!(
            !o.status.success(),
            "{when}: secrets scan passed: {}",
            show(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("canary"),
            "{when}: {}",
            show(&o)
        );
        assert_no_leak(when, &o.stdout, CANARY);
        assert_no_leak(when, &o.stderr, CANARY);
        std::fs::remove_file(&file).unwrap();
    };
    // --scan-only: the hold alone.
    let o = out(w.cmd(&["session", "unlock", "--scan-only"]));
    assert!(o.status.success(), "unlock --scan-only: {}", show(&o));
    check("scan-only");
    // `secrets run` gets nothing from a scan-only daemon; without an identity here its
    // error says how to have the daemon release the values.
    let o = out(w.bare_cmd(&["secrets", "run", "--", "true"]));
    assert!(!o.status.success(), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("patina session unlock") && err.contains("--scan-only"),
        "{err}"
    );
    // A full unlock whose TTL has run out: the hold stays.
    let o = out(w.cmd(&["session", "unlock", "--ttl", "1s"]));
    assert!(o.status.success(), "unlock --ttl 1s: {}", show(&o));
    let t0 = std::time::Instant::now();
    while d.get("/session").json()["unlocked"] == true {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the TTL never ran out"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    check("after the TTL");
    // Below the piece length, a part of the value is ordinary text: a note with a short
    // prefix and one with an unrelated string of the same length answer alike.
    let short = &CANARY[..patina::secrets::scan::partial_min(CANARY.as_bytes()) - 1];
    for (name, word) in [
        ("near", short.to_string()),
        ("far", "Zq".repeat(short.len())),
    ] {
        std::fs::write(
            w.work().join(format!("layer/core/okapi-{name}.md")),
            format!("# Okapi note\n\nThe okapi word is {word} here.\n"),
        )
        .unwrap();
    }
    let o = out(w.cmd(&["scrape", "."]));
    assert!(o.status.success(), "{}", show(&o));
    let r = d.post(
        "/api/scry",
        &serde_json::json!({"query": "okapi", "limit": 20}).to_string(),
    );
    let hits = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(hits.len(), 2, "{hits:?}");
    for h in &hits {
        assert_ne!(h["redacted"], true, "a short part was told apart: {h}");
    }
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}
