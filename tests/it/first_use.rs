//! What a new user meets first (issue 15): the README's test command does its own set-up with
//! pinned Python packages, and the CLI's rough edges (closed pipes, `--help` examples, …).
use crate::common;

use std::path::Path;

fn repo_file(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The README's test command is `scripts/test`; it makes a venv under `target/` from pinned
/// requirements (never the user's Python), runs every test binary (`--no-fail-fast`), and CI
/// runs that same script after fmt and clippy, installing no Python package itself.
#[test]
fn the_readme_test_command_sets_itself_up_with_pinned_packages() {
    let readme = repo_file("README.md");
    assert!(
        readme.contains("```sh\nscripts/test\n```"),
        "the README's test command is scripts/test"
    );
    let script = repo_file("scripts/test");
    for needle in [
        "target/test-venv",
        "scripts/requirements-test.txt",
        "-m venv",
        "export PATINA_TEST_PYTHON",
        "cargo test --all-features --locked --no-fail-fast \"$@\"",
    ] {
        assert!(script.contains(needle), "scripts/test lacks {needle}");
    }
    assert!(
        !script.contains("--user") && !script.contains("python3 -m pip"),
        "scripts/test must never install into the user's or the system's Python"
    );
    let reqs = repo_file("scripts/requirements-test.txt");
    let pins: Vec<&str> = reqs
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for name in ["mcp==", "openapi-spec-validator=="] {
        assert!(
            pins.iter().any(|l| l.starts_with(name)),
            "{name} is not pinned"
        );
    }
    for line in &pins {
        let (name, version) = line
            .split_once("==")
            .unwrap_or_else(|| panic!("not pinned with ==: {line}"));
        assert!(
            !name.is_empty() && !version.is_empty() && !version.contains(['<', '>', '*', ',']),
            "{line}"
        );
    }
    let ci = repo_file(".ci/run");
    let cmds: Vec<&str> = ci
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        cmds.iter().any(|l| l.trim() == "scripts/test"),
        ".ci/run calls scripts/test"
    );
    assert!(
        !cmds
            .iter()
            .any(|l| l.contains("pip install") || l.contains("cargo test")),
        ".ci/run installs no Python package and runs no other test command"
    );
    let fmt = cmds
        .iter()
        .position(|l| l.contains("cargo fmt --check"))
        .expect("fmt");
    let clippy = cmds
        .iter()
        .position(|l| l.contains("cargo clippy"))
        .expect("clippy");
    let test = cmds
        .iter()
        .position(|l| l.trim() == "scripts/test")
        .unwrap();
    assert!(
        fmt < test && clippy < test,
        "fmt and clippy run before the tests"
    );
}

/// When run by `scripts/test`, the interpreter the tests use has exactly the pinned versions.
#[test]
fn the_test_python_has_the_pinned_versions() {
    let Ok(py) = std::env::var("PATINA_TEST_PYTHON") else {
        panic!("PATINA_TEST_PYTHON is not set: run the tests with scripts/test");
    };
    let reqs = repo_file("scripts/requirements-test.txt");
    for name in ["mcp", "openapi-spec-validator"] {
        let pin = reqs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}==")))
            .unwrap()
            .trim()
            .to_string();
        let out = std::process::Command::new(&py)
            .args([
                "-c",
                &format!("import importlib.metadata as m; print(m.version('{name}'))"),
            ])
            .output()
            .expect("run the test python");
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            got, pin,
            "{name} in {py} (scripts/requirements-test.txt pins it)"
        );
    }
}

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `cmd` with its stdout a pipe whose reading end is already closed (`… | head -0`).
fn with_closed_stdout(cmd: &mut Command) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // The Command keeps its copy of the writing end: spawn from a temporary, so only the
    // child holds it.
    let child = cmd
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Issue 15 item 6: a closed stdout ends a command quietly with success (as ripgrep does):
/// no panic (clap_complete's), no `Broken pipe` message, exit 0.
#[test]
fn a_closed_stdout_ends_quietly_with_success() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let s = run_timeout(
        patina(&home).arg("scrape").arg(&project),
        Duration::from_secs(30),
    );
    assert!(s.status.success());
    let cases: Vec<Vec<String>> = vec![
        vec!["completions".into(), "bash".into()],
        vec!["completions".into(), "zsh".into()],
        vec!["man".into()],
        vec![
            "scry".into(),
            "--project".into(),
            project.display().to_string(),
            "quokka".into(),
        ],
        vec![
            "scry".into(),
            "--json".into(),
            "--project".into(),
            project.display().to_string(),
            "marigold".into(),
        ],
        vec!["secrets".into(), "list".into()],
        vec!["--help".into()],
    ];
    // A check's verdict outlives a closed stdout (QA, session 7): `secrets scan F | head`
    // must not pass a file holding a token because its reader stopped.
    let leaky = dir.path().join("leaky.txt");
    std::fs::write(
        &leaky,
        format!("token = {}\n", ["gh", "p_", &"a1B2".repeat(9)].concat()),
    )
    .unwrap();
    let out = with_closed_stdout(patina(&home).args(["secrets", "scan"]).arg(&leaky));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("found 1 secret"), "{err}");
    assert!(!err.to_lowercase().contains("broken pipe"), "{err}");
    for args in cases {
        let out = with_closed_stdout(patina(&home).args(&args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.to_lowercase().contains("broken pipe"),
            "{args:?}: {err}"
        );
    }
}

/// Issue 15 item 7: `--limit 0` is refused the same way everywhere: a usage error (exit 2)
/// in the CLI, 400 in the API (MCP: `mcp::a_registered_name_is_resolved_and_a_zero_limit_is_refused`).
#[test]
fn a_limit_of_zero_is_refused_everywhere() {
    let d = Daemon::start();
    for args in [
        &["scry", "--limit", "0", "quokka"][..],
        &["mother", "scry", "--limit", "0", "quokka"],
        &["scry", "--all", "--limit", "0", "quokka"],
    ] {
        let out = run_timeout(
            patina(&d.home).current_dir(&d.project).args(args),
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("at least 1"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    for route in ["/api/scry", "/mother/scry"] {
        let r = d.post(route, r#"{"query":"quokka","limit":0}"#);
        assert_eq!(r.status, 400, "{route}");
        r.assert_well_formed();
        assert!(r.json()["error"].as_str().unwrap().contains("at least 1"));
        assert_eq!(
            d.post(route, r#"{"query":"quokka","limit":1}"#).status,
            200,
            "{route}"
        );
    }
}

/// Issue 15 item 8: one finding per span: a `ghp_` token is a `token`, not also a
/// `high-entropy` run with the same offsets.
#[test]
fn secrets_scan_reports_one_finding_per_span() {
    let d = Daemon::start();
    // Built at run time: no token-shaped literal in the repository.
    let body: String = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4bC"
        .chars()
        .take(36)
        .collect();
    let token = ["gh", "p_", &body].concat();
    let text = format!("export GH={token}\n");
    let r = d.post(
        "/secrets/scan",
        &serde_json::json!({ "text": text }).to_string(),
    );
    assert_eq!(r.status, 200);
    let findings = r.json()["findings"].as_array().unwrap().clone();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "token");
    assert_eq!(findings[0]["start"], 10);
    assert_eq!(findings[0]["end"], 10 + token.len());
    assert!(!String::from_utf8_lossy(&r.body).contains(&token));
}

/// Issue 15 item 9: `mother list --json` names its time for what it is: a Unix timestamp.
#[test]
fn mother_list_json_field_name_and_value_agree() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let add = run_timeout(
        patina(&home).args(["mother", "add"]).arg(&project),
        Duration::from_secs(30),
    );
    assert_success(&add);
    let out = run_timeout(
        patina(&home).args(["mother", "list", "--json"]),
        Duration::from_secs(20),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["projects"][0];
    assert!(p.get("last_scraped_secs").is_none(), "{p}");
    let t = p["last_scraped_unix"].as_u64().expect("a Unix timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        t <= now + 5 && t + 3600 > now,
        "{t} is not a time of the last hour"
    );
}

/// Issue 15 item 3: a socket path too long for `sun_path` is named, with its length, the
/// 107-byte limit and the fix, by every client command (as `serve` does), never the OS's
/// "path must be shorter than SUN_LEN".
#[test]
fn client_commands_explain_a_socket_path_too_long() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h".repeat(110));
    let sock_len = home.join("run/serve.sock").as_os_str().len();
    for args in [
        &["status"][..],
        &["scry", "quokka"],
        &["session", "status"],
        &["session", "unlock"],
        &["serve"],
    ] {
        let out = run_timeout(
            patina(&home).current_dir(dir.path()).args(args),
            Duration::from_secs(20),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("is {sock_len} bytes"))
                && err.contains("at most 107")
                && err.contains("PATINA_HOME"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("SUN_LEN"), "{args:?}: {err}");
        // One line, `serve` too: it checks the path before scraping the current directory.
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
    }
}

/// Issue 15 item 3: "already running" names the running daemon's pid.
#[test]
fn a_second_serve_names_the_running_daemons_pid_and_whether_it_is_stopped() {
    let d = Daemon::start();
    let out = run_timeout(
        patina(&d.home)
            .arg("serve")
            .arg("--project")
            .arg(&d.project),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already running") && err.contains(&format!("pid {}", d.pid())),
        "{err}"
    );
    assert!(!err.contains("stopped"), "{err}");
    assert!(d.still_serving());
    // Stopped (SIGSTOP), it is named as stopped with how to resume it, at once: not
    // "stop it with `patina stop`", which would wait out its timeout.
    signal(d.pid(), "STOP");
    let out = run_timeout(
        patina(&d.home)
            .arg("serve")
            .arg("--project")
            .arg(&d.project),
        Duration::from_secs(20),
    );
    signal(d.pid(), "CONT");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already running")
            && err.contains(&format!(
                "it is stopped, by SIGSTOP or a debugger: `kill -CONT {}`",
                d.pid()
            )),
        "{err}"
    );
    assert!(d.still_serving());
}

/// Issue 15 item 4: piping a recipient (`age-keygen -y`) into `identity import` says it is a
/// public key and what to import instead; nothing is stored.
#[test]
fn importing_a_recipient_says_what_it_is_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let mut child = patina(&home)
        .args(["secrets", "identity", "import"])
        .env("PATINA_NO_KEYRING", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{recipient}").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("recipient (a public key"), "{err}");
    assert!(err.contains("AGE-SECRET-KEY-1"), "{err}");
    assert!(!err.contains(&recipient), "the input is not quoted: {err}");
    assert!(!home.join("identity.age").exists());
}

/// Issue 15 item 5: `scry --project NAME` and `/api/scry` `{"project": NAME}` resolve a
/// registered name through the mother registry (MCP: `mcp::a_registered_name_…`).
#[test]
fn a_registered_project_name_is_resolved_by_the_cli_and_the_api() {
    let d = Daemon::start();
    let other = d.home.parent().unwrap().join("other");
    write_fixture_project(&other);
    let add = run_timeout(
        patina(&d.home)
            .args(["mother", "add", "--name", "second-notes"])
            .arg(&other),
        Duration::from_secs(30),
    );
    assert_success(&add);
    let r = d.post(
        "/api/scry",
        r#"{"query":"quokka","project":"second-notes"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let hits = r.json()["results"].as_array().unwrap().len();
    assert!(hits > 0);
    assert_eq!(
        d.post("/api/scry", r#"{"query":"quokka","project":"nope-notes"}"#)
            .status,
        404
    );
    let v = success_json(&run_timeout(
        patina(&d.home).args(["scry", "--json", "--project", "second-notes", "quokka"]),
        Duration::from_secs(20),
    ));
    assert!(!v["results"].as_array().unwrap().is_empty());
    let out = run_timeout(
        patina(&d.home).args(["scry", "--project", "nope-notes", "quokka"]),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a registered project"));
}

/// Issue 15 item 13: the README says how to put `patina` on `PATH`, finds the socket under
/// `${PATINA_HOME:-$HOME/.patina}` (so its throwaway-home tip and its curl examples agree),
/// says how to make an identity, and its sample outputs have the product's shape.
#[test]
fn the_readme_matches_the_product() {
    let readme = repo_file("README.md");
    assert!(readme.contains("cargo install --path ."));
    assert!(readme.contains("SOCK=${PATINA_HOME:-$HOME/.patina}/run/serve.sock"));
    assert!(!readme.contains("SOCK=~/.patina") && !readme.contains("S=~/.patina"));
    let env = readme
        .split("PATINA_IDENTITY` (the text")
        .nth(1)
        .expect("PATINA_IDENTITY is described");
    let env = &env[..env.find("PATINA_SERVE_TOKEN").unwrap()];
    assert!(env.contains("age-keygen") && env.contains("patina secrets identity init"));

    // The samples under the curl commands have the keys the daemon sends.
    let sample = |after: &str| -> serde_json::Value {
        let rest = &readme[readme.find(after).unwrap_or_else(|| panic!("{after}"))..];
        let line = rest.lines().nth(1).unwrap();
        let json = line.strip_prefix("# ").unwrap_or_else(|| panic!("{line}"));
        serde_json::from_str(&json.replace('…', "0").replace(",0]", "]"))
            .unwrap_or_else(|e| panic!("{json}: {e}"))
    };
    let d = Daemon::start();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    for (after, path) in [
        ("http://localhost/health\n", "/health"),
        ("http://localhost/version\n", "/version"),
        ("http://localhost/status       #", "/status"),
    ] {
        let real = d.get(path).json();
        assert_eq!(keys(&sample(after)), keys(&real), "README sample of {path}");
    }
    let scry = sample("http://localhost/api/scry\n");
    let hit = &scry["results"][0];
    let real = d.post("/api/scry", r#"{"query":"lantern"}"#).json();
    assert_eq!(
        keys(hit),
        keys(&real["results"][0]),
        "README sample of a hit"
    );
    // A code file's hit has a kind the product gives code hits.
    assert!(hit["path"].as_str().unwrap().starts_with("src/"));
    let code = real["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["path"] == "src/main.rs")
        .expect("the fixture's code file is found");
    let code_kinds = [
        patina::scry::symbols::KIND_DEFINITION,
        patina::scry::symbols::KIND_TEST,
        patina::scry::symbols::KIND_CODE,
    ];
    for kind in [&hit["kind"], &code["kind"]] {
        assert!(
            code_kinds.contains(&kind.as_str().unwrap()),
            "README sample kind of a code hit: {kind}"
        );
    }
}

/// Case 033's impostors: something else listens at the socket and answers garbage, or the
/// start of a response and then nothing, keeping the connection open. The client says so at
/// once ("not a patina daemon") or, for the partial answer, at its timeout, never later than
/// case 033's 10 s; exit 1, one line, no raw bytes of the impostor.
#[test]
fn an_impostor_at_the_socket_is_named_as_not_a_patina_daemon_case_033() {
    use std::io::Write as _;
    for (what, answer, max) in [
        (
            "garbage",
            &b"SSH-2.0-OpenSSH_9.6\r\n\x01\x02"[..],
            Duration::from_secs(5),
        ),
        (
            "partial",
            &b"HTTP/1.1 200 OK\r\nContent-Len"[..],
            Duration::from_secs(10),
        ),
    ] {
        let home = tempfile::tempdir().unwrap();
        let run = home.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(run.join("serve.sock")).unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in listener.incoming().take(4) {
                let mut c = c.unwrap();
                let _ = c.write_all(answer);
                held.push(c);
            }
            std::thread::sleep(Duration::from_secs(30));
        });
        let t = std::time::Instant::now();
        let out = run_timeout(patina(home.path()).arg("status"), Duration::from_secs(40));
        let took = t.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(took < max, "{what} took {took:?}");
        assert!(err.contains("not a patina daemon"), "{what}: {err}");
        assert!(
            !err.contains("SSH-2.0") && !err.contains("Content-Len"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// The client ends an exchange when it has the whole response (head plus `Content-Length`),
/// not when the daemon closes: a daemon whose worker is slow to close after answering (a
/// loaded machine) must not hold `patina scry` up. Here the "daemon" answers in full and
/// then keeps the connection open for a minute; the client returns the answer long before
/// that (a client waiting for the close would time out and fail). The client is the
/// library's `Client` (the one every subcommand uses) called from this test process: the
/// `patina` binary refuses a listener that is not itself (`peer_check`), and the fake daemon
/// here is this test process, which the in-process client accepts as its own executable.
#[test]
fn the_client_is_done_at_content_length_without_waiting_for_the_close() {
    use std::io::{Read as _, Write as _};
    let home = tempfile::tempdir().unwrap();
    let run = home.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let project = home.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(run.join("serve.sock")).unwrap();
    let body = r#"{"results":[{"path":"a.md","title":"Quokka","kind":"doc","line":1,"snippet":"a [quokka]","score":1.0}],"took_ms":0.1,"generation":1}"#;
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().take(4) {
            let mut c = c.unwrap();
            // Read the request's head and body before answering, as a daemon does.
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            while !got.ends_with(b"}") {
                match c.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            held.push(c);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let _ = &project;
    let client =
        patina::client::Client::unix(run.join("serve.sock")).with_timeout(Duration::from_secs(20));
    let reply = client
        .post_json("/api/scry", &serde_json::json!({"q": "quokka"}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.status, 200);
    let v: serde_json::Value = reply.json().unwrap();
    assert_eq!(v["results"][0]["title"], "Quokka", "{v}");
}

/// Case 033: a client never hangs on a stopped (wedged) daemon, even when its accept queue
/// is full and `connect(2)` itself would block: exit 1 within a bound, one line naming the
/// socket and what went wrong.
#[test]
fn clients_give_up_on_a_stopped_daemon_within_a_bound_case_033() {
    let d = Daemon::start();
    signal(d.pid(), "STOP");
    // The commands run at once (each one's bound is checked on its own).
    let check = |what: &str, max: Duration| {
        let runs: Vec<_> = [&["status"][..], &["scry", "quokka"], &["session", "status"]]
            .into_iter()
            .map(|args| {
                let mut cmd = patina(&d.home);
                cmd.current_dir(&d.project).args(args);
                let t = std::time::Instant::now();
                let h = std::thread::spawn(move || {
                    let out = run_timeout(&mut cmd, Duration::from_secs(40));
                    (out, t.elapsed())
                });
                (args, h)
            })
            .collect();
        for (args, h) in runs {
            let (out, took) = h.join().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{what} {args:?}: {err}");
            assert!(took < max, "{what} {args:?} took {took:?}");
            assert!(
                err.contains("did not answer within") && err.contains(&*d.socket.to_string_lossy()),
                "{what} {args:?}: {err}"
            );
            // A stopped daemon is named as stopped, with its pid and how to resume it.
            assert!(
                err.contains(&format!("it is stopped (pid {}", d.pid()))
                    && err.contains(&format!("`kill -CONT {}`", d.pid())),
                "{what} {args:?}: {err}"
            );
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
    };
    check("stopped daemon", Duration::from_secs(20));
    // The MCP bridge: `tools/call` is a tool error within its 7 s daemon timeout (case 033:
    // ≤ 10 s; 12 s here for a loaded machine), then `ping` is answered.
    let mut cmd = patina(&d.home);
    cmd.current_dir(&d.project)
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let t = std::time::Instant::now();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(
                concat!(
                    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
                    "\n",
                    r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"scry","arguments":{"query":"quokka"}}}"#,
                    "\n",
                    r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
                    "\n"
                )
                .as_bytes(),
            )
            .unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    let out = rx
        .recv_timeout(Duration::from_secs(40))
        .expect("the MCP bridge ends at the end of its input");
    let took = t.elapsed();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[1]["id"], 2);
    assert_eq!(lines[1]["result"]["isError"], true, "{}", lines[1]);
    assert_eq!(lines[2]["id"], 3);
    assert!(took < Duration::from_secs(12), "mcp took {took:?}");
    // Fill its accept queue: a blocking connect would now wait forever.
    let mut held = Vec::new();
    loop {
        use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK,
            None,
        )
        .unwrap();
        if rustix::net::connect(&fd, &SocketAddrUnix::new(&d.socket).unwrap()).is_err() {
            break;
        }
        held.push(fd);
        assert!(held.len() < 100_000);
    }
    check("full accept queue", Duration::from_secs(15));
    drop(held);
    signal(d.pid(), "CONT");
    assert!(d.still_serving());
}

/// QA session 9, L2: a `patina stop` that timed out against a stopped daemon used to be
/// carried out later, when the daemon resumed, though the CLI had said it failed. The stop
/// first asks the daemon for a ticket (`auth::ticket`), so a timed-out stop never sends
/// `/shutdown`: after `kill -CONT` the daemon keeps serving, as the error implied.
#[test]
fn a_stop_that_timed_out_is_not_carried_out_when_the_daemon_resumes() {
    let d = Daemon::start();
    signal(d.pid(), "STOP");
    let mut cmd = patina(&d.home);
    cmd.current_dir(&d.project).arg("stop");
    let out = run_timeout(&mut cmd, Duration::from_secs(40));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("did not answer within") && err.contains(&format!("`kill -CONT {}`", d.pid())),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    signal(d.pid(), "CONT");
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.still_serving(), "the resumed daemon stopped");
}

/// QA (session 8): `patina serve` typed in the home directory scraped all of it (a 29 MB WAL
/// within seconds). In `$HOME` or `/`, `serve` and `scrape` without a directory refuse with a
/// usage error that says how to name one, and write nothing; a directory named explicitly is
/// served as asked.
#[test]
fn serve_and_scrape_refuse_the_home_directory_unless_it_is_named() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("diary.md"), "# Diary\n\nthe wombat sleeps\n").unwrap();
    for (args, how) in [
        (&["scrape"][..], "patina scrape DIR"),
        (&["serve"][..], "patina serve --project DIR"),
    ] {
        let o = common::patina(&t.path().join("state"))
            .args(args)
            .env("HOME", &home)
            .current_dir(&home)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("your home directory") && err.contains(how),
            "{err}"
        );
        assert!(
            !home.join(".patina").exists(),
            "{args:?} wrote into the home"
        );
    }
    let o = common::patina(&t.path().join("state"))
        .arg("scrape")
        .env("HOME", &home)
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("the root directory"));
    // Named explicitly, the home is scraped.
    let o = common::patina(&t.path().join("state"))
        .args(["scrape", home.to_str().unwrap()])
        .env("HOME", &home)
        .current_dir(&home)
        .output()
        .unwrap();
    common::assert_success(&o);
    assert!(home.join(".patina/index.db").exists());
}

/// Small messages a new user met (QA session 12, F7): `token path` before any token exists
/// says how one is made (the path is still printed, exit 0: it is where the token will be),
/// and `scry --all` with nothing registered says how to register a project.
#[test]
fn token_path_and_an_empty_mother_say_what_to_do_next() {
    let home = tempfile::tempdir().unwrap();
    let out = run_timeout(
        patina(home.path()).args(["token", "path"]),
        Duration::from_secs(30),
    );
    let path = assert_success(&out);
    assert!(path.trim_end().ends_with("token"), "{path}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("patina token rotate"), "{err}");
    let out = run_timeout(
        patina(home.path()).args(["scry", "--all", "quokka"]),
        Duration::from_secs(30),
    );
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("patina mother add"), "{err}");
}
