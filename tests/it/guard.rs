//! `patina guard` (issue 17, requirements §11) through the real binary: the leak corpus (the canary
//! held by a real daemon's scan hold must not reach any output the model reads, and every
//! replacement keeps the tool's shape), the false-positive corpus (ordinary tool output from
//! this repository passes unchanged), PreToolUse denials, bad input (fail closed), the hold's
//! lifetime and its answers to a guessing attack, install/uninstall round trips, scrub and
//! status. Payload shapes come from `tests/fixtures/guard/` (sources named there).

use crate::common;
use crate::common::secrets as secrets_common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Daemon, write_fixture_project};
use secrets_common::{CANARY, World, assert_no_leak, mode, run_with_input, show};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// A second known secret, built at run time.
fn db_password() -> String {
    ["hunter", "-Zq8", "-", "correct-horse"].concat()
}

/// A GitHub-style token for the detectors (never a literal in the repository).
fn gh_token() -> String {
    let body: String = "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY3zC5"
        .chars()
        .take(36)
        .collect();
    ["gh", "p_", &body].concat()
}

struct Guard {
    w: World,
    d: Option<Daemon>,
}

impl Guard {
    /// A world whose global vault holds the canary (as `API_KEY`) and a database password,
    /// with a daemon and a scan-only hold when `daemon`.
    fn new(daemon: bool) -> Guard {
        let w = World::new();
        write_fixture_project(&w.work());
        w.add("canary", CANARY, &["--env", "API_KEY"]);
        w.add("db-password", &db_password(), &[]);
        let d = daemon.then(|| {
            // The corpora conceal a stored value in dozens of outputs within seconds, which
            // is a burst by design (README, "Tripwires"): this daemon's limit is lifted.
            let d = Daemon::start_in(
                tempfile::tempdir().unwrap(),
                w.home(),
                w.work(),
                &["--burst-limit", "100000"],
            );
            let o = run_with_input(w.cmd(&["session", "unlock", "--scan-only"]), b"");
            assert!(o.status.success(), "unlock --scan-only: {}", show(&o));
            assert_no_leak("unlock output", &o.stdout, CANARY);
            d
        });
        Guard { w, d }
    }

    fn hook_with(&self, agent: &str, input: &[u8], extra: &[&str]) -> Output {
        let mut args = vec!["guard", "hook", "--agent", agent];
        args.extend_from_slice(extra);
        let o = run_with_input(self.w.cmd(&args), input);
        assert_no_leak("hook stdout", &o.stdout, CANARY);
        assert_no_leak("hook stderr", &o.stderr, CANARY);
        assert_no_leak("hook stdout", &o.stdout, &db_password());
        o
    }

    fn hook(&self, agent: &str, payload: &Value) -> (Output, Value) {
        let o = self.hook_with(agent, payload.to_string().as_bytes(), &[]);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let v = if o.stdout.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", show(&o)))
        };
        (o, v)
    }

    fn fixture(&self, name: &str, text: &str, file: &Path) -> Value {
        fixture(name, text, &self.w.work(), file)
    }
}

/// The payload of `tests/fixtures/guard/NAME.json` with its placeholders filled in.
fn fixture(name: &str, text: &str, cwd: &Path, file: &Path) -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/guard/{name}.json"));
    let f: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(
        f["_source"].is_string() && f["_host_version"].is_string(),
        "{name}"
    );
    let mut p = f["payload"].clone();
    fill(&mut p, &|s: &str| {
        s.replace("{{CWD}}", &cwd.display().to_string())
            .replace("{{FILE}}", &file.display().to_string())
            .replace("{{TEXT}}", text)
    });
    p
}

fn fill(v: &mut Value, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| fill(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| fill(x, f)),
        _ => {}
    }
}

/// Whether `new` has the shape of `old`: same JSON kinds, same keys (less the persisted-output
/// keys the guard drops), same array lengths, equal non-string values.
fn same_shape(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::String(_), Value::String(_)) => true,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_shape(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys = |o: &serde_json::Map<String, Value>| -> Vec<String> {
                o.keys()
                    .filter(|k| !k.starts_with("persistedOutput"))
                    .cloned()
                    .collect()
            };
            keys(a) == keys(b)
                && a.iter()
                    .filter(|(k, _)| !k.starts_with("persistedOutput"))
                    .all(|(k, x)| same_shape(x, &b[k]))
        }
        (x, y) => x == y,
    }
}

fn pct(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn hex(v: &str) -> String {
    v.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The leak corpus: 36 scenarios, each a real payload shape with the canary (or the
/// database password) in one of the forms a tool prints it. Each answer must replace the
/// output, in the tool's own shape, with no form of either value left anywhere in it.
#[test]
fn leak_corpus_conceals_the_canary_in_every_output_the_model_reads() {
    let g = Guard::new(true);
    let c = CANARY;
    let json_escaped = c.replace('/', "\\/");
    let basic = STANDARD.encode(format!("deploy-bot:{c}"));
    let big_prefix = "x".repeat(40 * 1024);
    let mut filler = String::new();
    while filler.len() < 100 * 1024 {
        filler.push_str("INFO request served in 3 ms\n");
    }
    let scenarios: Vec<(&str, &str, String)> = vec![
        (
            "cat .env",
            "claude-code-bash-post",
            format!("DATABASE_URL=postgres://localhost/app\nAPI_KEY={c}\nDEBUG=1\n"),
        ),
        (
            "grep -r API_KEY .",
            "claude-code-bash-post",
            format!("./config/.env:API_KEY={c}\n./src/app.py:    key = os.environ['API_KEY']\n"),
        ),
        (
            "printenv",
            "claude-code-bash-post",
            format!("HOME=/home/dev\nPATH=/usr/bin:/bin\nAPI_KEY={c}\nLANG=C.UTF-8\n"),
        ),
        (
            "env | sort",
            "claude-code-bash-post",
            format!(
                "API_KEY={c}\nDB_PASSWORD={}\nHOME=/home/dev\n",
                db_password()
            ),
        ),
        (
            "value in JSON",
            "claude-code-bash-post",
            format!("{{\"service\":\"billing\",\"api_key\":\"{json_escaped}\"}}\n"),
        ),
        (
            "base64 of the value",
            "claude-code-bash-post",
            format!("{}\n", STANDARD.encode(c)),
        ),
        (
            "base64url, no padding",
            "claude-code-bash-post",
            format!("token={}\n", URL_SAFE_NO_PAD.encode(c)),
        ),
        (
            "hex",
            "claude-code-bash-post",
            format!("00000000: {}\n", hex(c)),
        ),
        (
            "HEX",
            "claude-code-bash-post",
            format!("{}\n", hex(c).to_uppercase()),
        ),
        (
            "percent-encoded in a URL query",
            "claude-code-bash-post",
            format!(
                "GET https://api.example.test/v1/items?key={}&page=2\n",
                pct(c)
            ),
        ),
        (
            "value inside URL userinfo",
            "claude-code-bash-post",
            format!("remote: https://bot:{}@git.example.test/app.git\n", pct(c)),
        ),
        (
            "plain value inside a URL",
            "claude-code-bash-post",
            format!("connecting to redis://:{c}@cache:6379/0\n"),
        ),
        (
            "HTTP Basic header",
            "claude-code-bash-post",
            format!("> Authorization: Basic {basic}\n< HTTP/1.1 200 OK\n"),
        ),
        (
            "stack trace",
            "claude-code-bash-post",
            format!(
                "Traceback (most recent call last):\n  File \"app.py\", line 12, in <module>\n    client = Client(key='{c}')\nValueError: invalid key '{c}'\n"
            ),
        ),
        (
            "stderr of a failing deploy",
            "claude-code-bash-stderr-post",
            format!("error: authentication failed for token {c}\n"),
        ),
        (
            "large output persisted by the host",
            "claude-code-bash-persisted-post",
            format!("{big_prefix}\nsecret={c}\n"),
        ),
        (
            "background shell output",
            "claude-code-bashoutput-post",
            format!("listening on :3000\nusing key {c}\n"),
        ),
        (
            "Read of a config file",
            "claude-code-read-post",
            format!("[api]\nendpoint = \"https://api.example.test\"\ntoken = \"{c}\"\n"),
        ),
        (
            "Read of .env",
            "claude-code-read-post",
            format!("API_KEY={c}\nDB_PASSWORD={}\n", db_password()),
        ),
        (
            "Grep content mode",
            "claude-code-grep-post",
            format!("config/.env:2:API_KEY={c}\nsrc/app.py:3:key = env('API_KEY')\n"),
        ),
        (
            "Glob file names",
            "claude-code-glob-post",
            format!("/tmp/cache/{c}.json"),
        ),
        (
            "WebFetch of a debug page",
            "claude-code-webfetch-post",
            format!("The debug page lists the configuration: API_KEY is {c}."),
        ),
        (
            "MCP result blocks",
            "claude-code-mcp-blocks-post",
            format!("key | value\napi_key | {c}\n"),
        ),
        (
            "MCP plain string result",
            "claude-code-mcp-string-post",
            format!("{{\"data\":{{\"api_key\":\"{c}\"}}}}"),
        ),
        (
            "Codex shell string",
            "codex-bash-post",
            format!("API_KEY={c}\n"),
        ),
        (
            "Codex shell string, percent form",
            "codex-bash-post",
            format!("curl 'https://x.test/?k={}'\n", pct(c)),
        ),
        (
            "Codex MCP result",
            "codex-mcp-post",
            format!("env:\n  - name: API_KEY\n    value: {c}\n"),
        ),
        (
            "docker inspect",
            "claude-code-bash-post",
            format!("\"Env\": [\n  \"API_KEY={c}\",\n  \"PATH=/usr/bin\"\n]\n"),
        ),
        (
            "kubectl get secret -o yaml",
            "claude-code-bash-post",
            format!(
                "apiVersion: v1\ndata:\n  api-key: {}\nkind: Secret\n",
                STANDARD.encode(c)
            ),
        ),
        (
            "git diff of a committed key",
            "claude-code-bash-post",
            format!(
                "diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ -1 +1 @@\n-API_KEY={c}\n+API_KEY=${{API_KEY}}\n"
            ),
        ),
        (
            "curl -v response header",
            "claude-code-bash-post",
            format!("< HTTP/2 200\n< x-api-key: {c}\n< content-type: application/json\n"),
        ),
        (
            "value repeated in 100 KB of logs",
            "claude-code-bash-post",
            format!("{filler}auth={c}\n{filler}auth={c}\n"),
        ),
        (
            "lower-cased by tr",
            "claude-code-bash-post",
            format!("{}\n", c.to_ascii_lowercase()),
        ),
        (
            "escaped JSON inside a log line",
            "claude-code-bash-post",
            format!(
                "{{\"msg\":\"config loaded\",\"raw\":\"{{\\\"token\\\":\\\"{json_escaped}\\\"}}\"}}\n"
            ),
        ),
        (
            "database password in a connection string",
            "codex-bash-post",
            format!(
                "DATABASE_URL=postgres://app:{}@db:5432/app\n",
                db_password()
            ),
        ),
        (
            "secret-looking token from the detectors",
            "claude-code-bash-post",
            format!("export GH_TOKEN={}\n", gh_token()),
        ),
    ];
    assert!(scenarios.len() >= 30);
    let file = g.w.work().join("config.toml");
    for (what, fx, text) in &scenarios {
        let payload = g.fixture(fx, text, &file);
        let (o, answer) = g.hook(
            if fx.starts_with("codex") {
                "codex"
            } else {
                "claude-code"
            },
            &payload,
        );
        let hso = &answer["hookSpecificOutput"];
        assert_eq!(hso["hookEventName"], "PostToolUse", "{what}: {}", show(&o));
        let mcp = payload["tool_name"].as_str().unwrap().starts_with("mcp__");
        let field = if mcp {
            "updatedMCPToolOutput"
        } else {
            "updatedToolOutput"
        };
        let new = &hso[field];
        assert!(!new.is_null(), "{what}: no replacement: {}", show(&o));
        assert!(
            same_shape(&payload["tool_response"], new),
            "{what}: the replacement changed the tool's shape"
        );
        assert!(new.to_string().contains("<concealed by patina: "), "{what}");
        assert!(
            !new.to_string().contains(&c.to_ascii_lowercase()),
            "{what}: lower-cased form left"
        );
        assert!(!new.to_string().contains(&gh_token()), "{what}: token left");
        let ctx = hso["additionalContext"].as_str().unwrap();
        assert!(ctx.contains("patina secrets run -- CMD"), "{what}: {ctx}");
        assert!(
            !ctx.contains("not checked"),
            "{what}: the hold was not asked: {ctx}"
        );
        // Codex rejects unknown fields: only the schema's are written.
        for k in answer.as_object().unwrap().keys() {
            assert!(
                ["decision", "reason", "hookSpecificOutput"].contains(&k.as_str()),
                "{what}: {k}"
            );
        }
        for k in hso.as_object().unwrap().keys() {
            assert!(
                [
                    "hookEventName",
                    "additionalContext",
                    "updatedToolOutput",
                    "updatedMCPToolOutput"
                ]
                .contains(&k.as_str()),
                "{what}: {k}"
            );
        }
        assert!(!answer.to_string().contains("\"allow\""));
    }
    // Names the secret, by name, in the context and the replacement.
    let (_, a) = g.hook(
        "claude-code",
        &g.fixture("claude-code-bash-post", &format!("API_KEY={c}"), &file),
    );
    assert_eq!(
        a["hookSpecificOutput"]["updatedToolOutput"]["stdout"],
        "API_KEY=<concealed by patina: canary>"
    );
    assert!(
        a["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .contains("canary (a secret")
    );
    // The persisted copy of a large output is not pointed at any more.
    let (_, a) = g.hook(
        "claude-code",
        &g.fixture("claude-code-bash-persisted-post", c, &file),
    );
    assert!(
        a["hookSpecificOutput"]["updatedToolOutput"]
            .get("persistedOutputPath")
            .is_none()
    );
    // A tool whose shape patina does not know: withheld, with a reason.
    let (_, a) = g.hook(
        "claude-code",
        &g.fixture("claude-code-edit-post", &format!("k={c}"), &file),
    );
    assert_eq!(a["decision"], "block");
    assert!(a["reason"].as_str().unwrap().contains("Edit"));
    assert!(a["hookSpecificOutput"].get("updatedToolOutput").is_none());
    // Every action is in the audit log, by name or detector, never by value.
    let audit = std::fs::read(g.w.home().join("audit.log")).unwrap();
    assert_no_leak("audit log", &audit, CANARY);
    assert_no_leak("audit log", &audit, &db_password());
    let text = String::from_utf8(audit).unwrap();
    assert!(text.contains("\"action\":\"replaced\"") && text.contains("\"action\":\"withheld\""));
    assert!(text.contains("\"names\":[\"canary\"") && text.contains("\"detectors\":[\"token\"]"));
    let d = g.d.as_ref().unwrap();
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// Files whose tests hold secret-looking strings on purpose (detector and redaction test
/// vectors): left out of the false-positive corpus.
const DETECTOR_TESTS: &[&str] = &[
    "src/secrets/scan.rs",
    "src/secrets/scan/reference.rs",
    "src/scry/redact.rs",
    "src/scry/snippet.rs",
    "src/guard/mod.rs",
    "src/guard/hold.rs",
];

/// Ordinary tool output — this repository's own sources, Cargo.lock, build and test logs,
/// and `git log -p` of its history when there is one — at least 200 KB, through Bash,
/// Read and Grep shapes: the guard answers nothing (the output passes unchanged).
#[test]
fn false_positive_corpus_of_ordinary_output_passes_unchanged() {
    let g = Guard::new(true);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts: Vec<String> = Vec::new();
    let mut add = |t: String| {
        // The repository's own tests quote the canary: those lines are not ordinary output.
        let clean: String = t
            .lines()
            .filter(|l| !l.contains("4n4ry") && !l.contains("7f3e9c1d"))
            .map(|l| format!("{l}\n"))
            .collect();
        texts.push(clean);
    };
    for dir in [
        "src",
        "src/api",
        "src/cli",
        "src/server",
        "src/scry",
        "src/secrets",
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs" || x == "md"))
            .collect();
        files.sort();
        for f in files {
            // The detectors' own test vectors are secret-looking on purpose.
            if DETECTOR_TESTS.iter().any(|d| f.ends_with(d)) {
                continue;
            }
            add(std::fs::read_to_string(f).unwrap());
        }
    }
    add(std::fs::read_to_string(root.join("Cargo.lock")).unwrap());
    add(std::fs::read_to_string(root.join("README.md")).unwrap());
    if let Ok(o) = std::process::Command::new("git")
        .args([
            "log",
            "-p",
            "-n",
            "40",
            "--no-color",
            "--",
            "src/",
            "layer/",
        ])
        .args(DETECTOR_TESTS.iter().map(|d| format!(":!{d}")))
        .current_dir(root)
        .output()
        && o.status.success()
    {
        add(String::from_utf8_lossy(&o.stdout).into_owned());
    }
    // A build log and a test log, as cargo prints them.
    let mut log = String::new();
    for (i, line) in std::fs::read_to_string(root.join("Cargo.lock"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("name = "))
        .enumerate()
    {
        let name = line.trim_start_matches("name = ").trim_matches('"');
        log.push_str(&format!("   Compiling {name} v0.{i}.{}\n", i % 7));
        log.push_str(&format!("test {name}::tests::case_{i} ... ok\n"));
    }
    log.push_str("    Finished `dev` profile [unoptimized + debuginfo] target(s) in 41.27s\n");
    add(log);
    let total: usize = texts.iter().map(String::len).sum();
    assert!(total >= 200 * 1024, "the corpus is only {total} bytes");
    let file = g.w.work().join("x.rs");
    let mut checked = 0;
    let mut changed = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        // Tool outputs of at most 30 KB, as Claude Code shows them.
        for (j, chunk) in t.as_bytes().chunks(30 * 1024).enumerate() {
            let chunk = String::from_utf8_lossy(chunk);
            let fx = [
                "claude-code-bash-post",
                "claude-code-read-post",
                "claude-code-grep-post",
                "codex-bash-post",
            ][(i + j) % 4];
            let payload = g.fixture(fx, &chunk, &file);
            let (o, answer) = g.hook(
                if fx.starts_with("codex") {
                    "codex"
                } else {
                    "claude-code"
                },
                &payload,
            );
            if !answer.is_null() {
                let out = String::from_utf8_lossy(&o.stdout).into_owned();
                let at = out.find("<concealed").unwrap_or(0);
                let from = out.floor_char_boundary(at.saturating_sub(120));
                let to = out.ceil_char_boundary((at + 80).min(out.len()));
                changed.push(format!("#{i}.{j}: …{}…", &out[from..to]));
            }
            checked += chunk.len();
        }
    }
    assert!(checked >= 200 * 1024);
    assert!(
        changed.is_empty(),
        "ordinary output was changed:\n{}",
        changed.join("\n")
    );
}

/// QA (session 7): an agent ran `patina session lock` (or stopped the daemon) and the guard,
/// its scan hold gone, let every stored value through. PreToolUse denies the commands that
/// switch patina's checks off; the user does that from their own terminal.
#[test]
fn pre_tool_use_denies_switching_patinas_checks_off() {
    let g = Guard::new(true);
    let pid = g.d.as_ref().unwrap().pid();
    let denied = [
        "patina session lock".to_string(),
        "/usr/local/bin/patina session lock --json".into(),
        "patina stop".into(),
        "patina session unlock --ack-canary".into(),
        "cd /tmp && patina stop".into(),
        "pkill -f 'patina serve'".into(),
        "killall patina".into(),
        format!("kill {pid}"),
        format!("kill -9 {pid}"),
        "curl -s --unix-socket ~/.patina/run/serve.sock -X POST http://localhost/session/lock"
            .into(),
        "curl --unix-socket s -X POST http://localhost/shutdown".into(),
        "systemctl --user stop patina.service".into(),
        "bash -c 'patina session lock'".into(),
        // QA session 8 (H3): dot segments, percent-encoding and curl's URL globbing reach
        // the same routes; other ways to switch the checks off.
        "curl -s --unix-socket ~/.patina/run/serve.sock -X POST -H 'Content-Type: application/json' -d '{}' http://localhost/session/x/../lock".into(),
        "curl --unix-socket s -X POST http://localhost/session/./lock".into(),
        "curl --unix-socket s -X POST http://localhost/x/../shutdown".into(),
        "curl --unix-socket s -X POST 'http://localhost/session/l{o,x}ck'".into(),
        "curl --unix-socket s -X POST 'http://localhost/session/[k-m]ock'".into(),
        "curl --unix-socket s -X POST 'http://localhost/session/l[n-p]ck'".into(),
        "curl --unix-socket s -X POST http://localhost/session/%6cock".into(),
        "curl --unix-socket s -X POST 'http://localhost/session/{a,b,c,d,e,f}{a,b,c,d,e,f}{a,b,c,d,e,f}{a,b,c,d,e,f}{lock,x}'".into(),
        "patina guard uninstall --agent claude-code".into(),
        "patina secrets run --no-masking -- env".into(),
        "pkill -f serve".into(),
        "pkill -STOP -f serve".into(),
        "pkill pat".into(),
        "killall -r pat".into(),
        "killall -r '^pa.*na$'".into(),
        format!("kill -- -{pid}"),
        format!("kill -STOP {pid}"),
        format!("kill -s STOP {pid}"),
        "kill -STOP $(pgrep -f 'patina serve')".into(),
        "kill $(cat ~/.patina/run/serve.pid)".into(),
        // The run directory's files (the socket, the pid file, the hold marker).
        "mv ~/.patina/run/serve.sock ~/.patina/run/serve.sock.real".into(),
        "rm -f ~/.patina/run/hold.json".into(),
        "echo {} > ~/.patina/run/hold.json".into(),
        format!("rm {}/run/serve.pid", g.w.home().display()),
    ];
    for cmd in &denied {
        let (o, a) = g.hook(
            "claude-code",
            &g.fixture("claude-code-bash-pre", cmd, Path::new("")),
        );
        let hso = &a["hookSpecificOutput"];
        assert_eq!(hso["permissionDecision"], "deny", "{cmd}: {}", show(&o));
        let why = hso["permissionDecisionReason"].as_str().unwrap();
        assert!(why.contains("switches off patina's checks"), "{cmd}: {why}");
    }
    for cmd in [
        "patina session status",
        "patina scry session lock",
        "kill 1234567",
        "pkill -f 'cargo watch'",
        "curl -s http://localhost:8080/api/health",
        "systemctl --user status patina.service",
        "curl http://localhost:8080/session/x",
        "curl 'http://localhost:8080/page[1-3].html'",
        "curl --unix-socket s http://localhost/session",
        "pkill -f webpack",
        "killall node",
        "killall -r '^node'",
        "kill 1234",
        "kill -- -1234",
        "patina secrets run -- make deploy",
        "patina guard status",
        "ls ~/.patina/run",
        "rm -rf target/debug",
        // A JSON body's braces are curl globs too, but hold no path.
        r#"curl -X POST -H 'Content-Type: application/json' -d '{"a":{"b":1,"c":2,"d":3},"e":{"f":1,"g":2,"h":3},"i":{"j":1,"k":2,"l":3},"m":{"n":1,"o":2,"p":3},"q":{"r":1,"s":2,"t":3},"u":{"v":1,"w":2,"x":3},"y":{"z":1,"a":2,"b":3}}' http://localhost:8080/api"#,
    ] {
        let (o, a) = g.hook(
            "claude-code",
            &g.fixture("claude-code-bash-pre", cmd, Path::new("")),
        );
        assert!(a.is_null(), "{cmd} was not let through: {}", show(&o));
    }
}

/// PreToolUse: calls whose purpose is to print secrets are denied with what to do instead;
/// everything else gets no decision (never `allow`).
#[test]
fn pre_tool_use_denies_printing_secrets_and_nothing_else() {
    let g = Guard::new(true);
    let work = g.w.work();
    std::fs::write(work.join(".env"), format!("API_KEY={CANARY}\n")).unwrap();
    std::fs::create_dir_all(work.join("config")).unwrap();
    std::fs::write(
        work.join("config/app.toml"),
        format!("[db]\npassword = \"{}\"\n", db_password()),
    )
    .unwrap();
    std::fs::write(
        work.join("notes.txt"),
        "nothing secret here\nAPI_KEY is set by the CI\n",
    )
    .unwrap();
    let denied = [
        "printenv",
        "env",
        "env -0",
        "export -p",
        "export",
        "set",
        "declare -px",
        "printenv API_KEY",
        "echo $API_KEY",
        "echo \"key=${API_KEY}\"",
        "printf '%s\\n' \"$API_KEY\"",
        "echo ${API_KEY:-none}",
        "bash -c 'echo $API_KEY'",
        "sh -c \"printenv | sort\"",
        "ls && env | grep KEY",
        "echo $(printenv)",
        "cat .env",
        "cat ./.env | head -3",
        "head -n 5 config/app.toml",
        "tail config/app.toml",
        "less .env",
        "grep -n KEY .env",
        "grep -e password config/app.toml",
        "cat < .env",
        "c'a't \".e\"nv",
        r"cat $'\x2eenv'",
        r"$'\143at' $'\056'env",
        "sudo cat .env",
        "(cd config && true) ; cat config/app.toml",
        // Paths the literal check misses: a glob, or an expansion (QA finding 1).
        "hexdump -C \"$PWD/.env\"",
        "xxd .en?",
        "od -c ./.e*",
        "cat $(echo .env)",
        "head config/*.toml",
        "cat .[e]nv",
    ];
    for (k, cmd) in denied.iter().enumerate() {
        let agent = if k % 3 == 0 { "codex" } else { "claude-code" };
        let fx = if agent == "codex" {
            "codex-bash-pre"
        } else {
            "claude-code-bash-pre"
        };
        let (o, a) = g.hook(agent, &g.fixture(fx, cmd, Path::new("")));
        let hso = &a["hookSpecificOutput"];
        assert_eq!(hso["permissionDecision"], "deny", "{cmd}: {}", show(&o));
        assert_eq!(hso["hookEventName"], "PreToolUse");
        let why = hso["permissionDecisionReason"].as_str().unwrap();
        assert!(why.contains("patina secrets run -- CMD"), "{cmd}: {why}");
    }
    // A path known only after expansion: the reason says so and asks for a literal name.
    let (_, a) = g.hook(
        "claude-code",
        &g.fixture("claude-code-bash-pre", "cat $(echo .env)", Path::new("")),
    );
    let why = a["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(
        why.contains("named by an expansion") && why.contains("Name the file literally"),
        "{why}"
    );
    // The Read tool on a file holding a known value.
    let (o, a) = g.hook(
        "claude-code",
        &g.fixture(
            "claude-code-read-pre",
            &work.join(".env").display().to_string(),
            Path::new(""),
        ),
    );
    assert_eq!(
        a["hookSpecificOutput"]["permissionDecision"],
        "deny",
        "{}",
        show(&o)
    );
    assert!(
        a["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .contains("canary")
    );
    let allowed = [
        "ls -la",
        "cargo test --all-features",
        "echo hello",
        "echo $HOME",
        "printenv HOME",
        "env FOO=1 cargo build",
        "env -u API_KEY ./run.sh",
        "cat notes.txt",
        "grep -rn API_KEY src/",
        "git log --oneline | head",
        "patina secrets run -- ./deploy.sh",
        "export FOO=bar",
        "set -euo pipefail",
        "echo 'unterminated",
        "cat not*.txt",
        "wc -l \"$PWD/.env\"",
    ];
    for cmd in allowed {
        let (o, a) = g.hook(
            "claude-code",
            &g.fixture("claude-code-bash-pre", cmd, Path::new("")),
        );
        assert!(a.is_null(), "{cmd} was not let through: {}", show(&o));
    }
    let (_, a) = g.hook(
        "claude-code",
        &g.fixture(
            "claude-code-read-pre",
            &work.join("notes.txt").display().to_string(),
            Path::new(""),
        ),
    );
    assert!(a.is_null());
    let audit = std::fs::read_to_string(g.w.home().join("audit.log")).unwrap();
    assert!(audit.contains("\"action\":\"denied\""));
    assert_no_leak("audit log", audit.as_bytes(), CANARY);
}

/// Without a daemon (or a hold), the detectors still run, and the answer says known values
/// were not checked.
#[test]
fn without_a_daemon_tokens_are_still_concealed_and_the_answer_says_so() {
    let g = Guard::new(false);
    let file = g.w.work().join("x");
    let (o, a) = g.hook(
        "claude-code",
        &g.fixture(
            "claude-code-bash-post",
            &format!("GH_TOKEN={}\n", gh_token()),
            &file,
        ),
    );
    let hso = &a["hookSpecificOutput"];
    assert_eq!(
        hso["updatedToolOutput"]["stdout"],
        "GH_TOKEN=<concealed by patina: token>\n",
        "{}",
        show(&o)
    );
    assert!(
        hso["additionalContext"]
            .as_str()
            .unwrap()
            .contains("known secret values were not checked")
    );
    let (_, a) = g.hook(
        "claude-code",
        &g.fixture("claude-code-bash-post", "all good\n", &file),
    );
    assert!(
        a["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .contains("not checked")
    );
    assert!(a["hookSpecificOutput"].get("updatedToolOutput").is_none());
}

/// Bad input: malformed, truncated, not UTF-8, not an object, empty, an unknown event, a
/// 20 MB output. No crash, no hang; PostToolUse fails closed (exit 0 with `decision:
/// block`) unless `--on-error pass`; PreToolUse gives no decision.
#[test]
fn bad_input_fails_closed_for_post_tool_use() {
    let g = Guard::new(true);
    let file = g.w.work().join("x");
    let good = g
        .fixture("claude-code-bash-post", &format!("API_KEY={CANARY}"), &file)
        .to_string();
    let truncated = good.as_bytes()[..good.len() / 2].to_vec();
    let mut not_utf8 = good.clone().into_bytes();
    not_utf8.splice(10..10, [0xff, 0xfe]);
    for (what, input) in [
        ("malformed", b"{\"hook_event_name\": PostToolUse".to_vec()),
        ("truncated", truncated),
        ("not UTF-8", not_utf8),
        ("not an object", b"[1,2,3]".to_vec()),
        ("empty", Vec::new()),
    ] {
        let t = Instant::now();
        let o = g.hook_with("claude-code", &input, &["--event", "PostToolUse"]);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", show(&o));
        let a: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(a["decision"], "block", "{what}");
        assert!(a["reason"].as_str().unwrap().contains("withheld"), "{what}");
        assert!(t.elapsed() < Duration::from_secs(15), "{what}");
        // The policy can be turned around.
        let o = g.hook_with(
            "claude-code",
            &input,
            &["--event", "PostToolUse", "--on-error", "pass"],
        );
        assert_eq!(o.status.code(), Some(0));
        assert!(o.stdout.is_empty(), "{what}");
        // PreToolUse: no decision.
        let o = g.hook_with("codex", &input, &["--event", "PreToolUse"]);
        assert_eq!(o.status.code(), Some(0));
        assert!(o.stdout.is_empty(), "{what}");
    }
    // An event the guard does not act on: no decision.
    let o = g.hook_with(
        "claude-code",
        br#"{"hook_event_name":"Stop","stop_hook_active":false}"#,
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    // A 20 MB output with the canary in it three times, one across the hold's chunk
    // boundaries: concealed everywhere, in bounded time.
    let line = "0123456789abcdef ordinary output line of a long build\n";
    let mut big = String::with_capacity(21 << 20);
    let mut n = 0;
    let mut straddled = false;
    while big.len() < 20 << 20 {
        big.push_str(line);
        n += 1;
        if n == 10 {
            big.push_str(CANARY);
        }
        // One canary across the first chunk's end (768 KiB).
        if !straddled && big.len() + line.len() > (768 << 10) - 10 {
            let pad = (768 << 10) - 10 - big.len();
            big.push_str(&"y".repeat(pad));
            big.push_str(CANARY);
            straddled = true;
        }
    }
    big.push_str(CANARY);
    assert_eq!(big.matches(CANARY).count(), 3);
    let t = Instant::now();
    let o = g.hook_with(
        "claude-code",
        g.fixture("claude-code-bash-post", &big, &file)
            .to_string()
            .as_bytes(),
        &["--deadline", "600"],
    );
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    eprintln!("20 MB output scanned in {:?}", t.elapsed());
    let stdout = a["hookSpecificOutput"]["updatedToolOutput"]["stdout"]
        .as_str()
        .unwrap_or_else(|| {
            panic!(
                "{}",
                String::from_utf8_lossy(&o.stdout)
                    .chars()
                    .take(500)
                    .collect::<String>()
            )
        });
    assert_eq!(
        stdout.matches("<concealed by patina: canary>").count(),
        big.matches(CANARY).count()
    );
    assert!(t.elapsed() < Duration::from_secs(600));
    // A deadline shorter than the scan: the answer still withholds.
    let o = g.hook_with(
        "claude-code",
        g.fixture("claude-code-bash-post", &big, &file)
            .to_string()
            .as_bytes(),
        &["--deadline", "1"],
    );
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(a["decision"] == "block" || !a["hookSpecificOutput"]["updatedToolOutput"].is_null());
}

fn post(d: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let r = d.post(path, &body.to_string());
    r.assert_well_formed();
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status, v)
}

/// The scan hold outlives the release TTL, is wiped by `session lock`, releases nothing when
/// scan-only, and answers a guessing attack (every prefix and one-byte near miss of the
/// value) exactly as it answers an unrelated string.
#[test]
fn the_scan_hold_outlives_the_ttl_is_wiped_by_lock_and_is_no_prefix_oracle() {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &["--env", "API_KEY"]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    // No hold yet.
    let (s, v) = post(&d, "/guard/scan", &json!({"text": CANARY}));
    assert_eq!((s, &v), (200, &json!({"held": false, "findings": []})));
    let o = run_with_input(
        w.cmd(&["session", "unlock", "--ttl", "2s", "--hold", "1h"]),
        b"",
    );
    assert!(o.status.success(), "{}", show(&o));
    std::thread::sleep(Duration::from_millis(2600));
    let st = d.get("/session").json();
    assert_eq!(st["unlocked"], false, "{st}");
    assert!(st["hold_expires_in_secs"].as_u64().unwrap() > 3000, "{st}");
    let (_, v) = post(&d, "/guard/scan", &json!({"text": format!("k={CANARY}")}));
    assert_eq!(
        v,
        json!({"held": true, "findings": [{"name": "canary", "start": 2, "end": 2 + CANARY.len()}]})
    );
    // The guessing attack: same answer, byte for byte, for every near miss as for noise.
    let unrelated = "Qz9mKLw2aaaabbbbccccdd";
    let (_, base) = post(&d, "/guard/scan", &json!({"text": unrelated}));
    assert_eq!(base, json!({"held": true, "findings": []}));
    let v = CANARY.as_bytes();
    let mut guesses = Vec::new();
    for k in 0..v.len() {
        let mut g = v[..k].to_vec();
        g.resize(v.len(), b'a');
        guesses.push(String::from_utf8(g).unwrap());
        let mut near = v.to_vec();
        near[k] = if near[k] == b'a' { b'b' } else { b'a' };
        guesses.push(String::from_utf8(near).unwrap());
    }
    for guess in &guesses {
        let r = d.post("/guard/scan", &json!({"text": guess}).to_string());
        assert_eq!(r.json(), base, "a near miss answered differently");
    }
    // Scan-only: nothing can be released.
    run_with_input(w.cmd(&["session", "lock"]), b"");
    let o = run_with_input(w.cmd(&["session", "unlock", "--scan-only"]), b"");
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(d.get("/session").json()["unlocked"], false);
    let mut c = w.bare_cmd(&["secrets", "run", "--", "true"]);
    c.env("PATINA_NO_KEYRING", "1");
    let o = run_with_input(c, b"");
    assert!(
        !o.status.success(),
        "a scan-only hold released values: {}",
        show(&o)
    );
    let (_, v) = post(&d, "/guard/scan", &json!({"text": CANARY}));
    assert_eq!(v["findings"][0]["name"], "canary");
    // Lock wipes the hold.
    let o = run_with_input(w.cmd(&["session", "lock"]), b"");
    assert!(o.status.success());
    let (_, v) = post(&d, "/guard/scan", &json!({"text": CANARY}));
    assert_eq!(v, json!({"held": false, "findings": []}));
    // A hold past the maximum is refused.
    let o = run_with_input(
        w.cmd(&["session", "unlock", "--scan-only", "--hold", "13h"]),
        b"",
    );
    assert!(!o.status.success());
    let events: Vec<String> = std::fs::read_to_string(w.home().join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        events.contains(&"hold".to_string()) && events.contains(&"expire".to_string()),
        "{events:?}"
    );
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// The hold is a local route: refused over TCP even with the bearer token.
#[test]
fn the_hold_is_never_reachable_over_tcp() {
    let d = Daemon::start_with(&["--port", "0"]);
    let token = d.token();
    let r = d.tcp("POST", "/guard/scan", Some(&token), Some(r#"{"text":"x"}"#));
    assert_eq!(r.status, 403);
}

fn claude_settings_with_other_hooks() -> Value {
    json!({
        "model": "opus",
        "permissions": {"deny": ["Read(./.env)"], "allow": ["Bash(cargo test:*)"]},
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/lint-command.sh", "timeout": 5}]}
            ],
            "PostToolUse": [
                {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "cargo fmt"}]}
            ],
            "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
        },
        "env": {"RUST_LOG": "info"}
    })
}

/// `install` merges into a settings file that already has other hooks, is idempotent, keeps
/// a 0600 backup, prints a diff with --dry-run; `uninstall` gives back the same settings.
#[test]
fn install_round_trips_on_settings_with_other_hooks() {
    let w = World::new();
    let user = w.dir.path().join("user-home");
    std::fs::create_dir_all(user.join(".claude")).unwrap();
    let settings = user.join(".claude/settings.json");
    let original =
        serde_json::to_string_pretty(&claude_settings_with_other_hooks()).unwrap() + "\n";
    std::fs::write(&settings, &original).unwrap();
    std::fs::set_permissions(
        &settings,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut c = w.cmd(args);
        c.env("HOME", &user);
        let o = run_with_input(c, b"");
        assert!(o.status.success(), "{args:?}: {}", show(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let dry = run(&["guard", "install", "--agent", "claude-code", "--dry-run"]);
    assert!(
        dry.contains("+ ") && dry.contains("guard hook --agent claude-code --event PostToolUse"),
        "{dry}"
    );
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        original,
        "--dry-run wrote"
    );
    let out = run(&["guard", "install", "--agent", "claude-code"]);
    assert!(out.contains("installed in"), "{out}");
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    let text = after.to_string();
    for keep in [
        "lint-command.sh",
        "cargo fmt",
        "notify-send done",
        "RUST_LOG",
        "Read(./.env)",
    ] {
        assert!(text.contains(keep), "install dropped {keep}");
    }
    assert_eq!(after["hooks"]["PreToolUse"].as_array().unwrap().len(), 2);
    assert_eq!(after["hooks"]["PostToolUse"].as_array().unwrap().len(), 2);
    // Key order kept: the file reads the same, with our entries added.
    assert!(
        std::fs::read_to_string(&settings)
            .unwrap()
            .starts_with("{\n  \"model\": \"opus\"")
    );
    assert_eq!(mode(&settings), 0o644);
    let backup = user.join(".claude/settings.json.patina-backup");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
    assert_eq!(mode(&backup), 0o600);
    let again = run(&["guard", "install", "--agent", "claude-code"]);
    assert!(again.contains("nothing to change"), "{again}");
    // The installed command really is a working hook.
    let cmd = after["hooks"]["PostToolUse"][1]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cmd.ends_with(&format!(
            "guard hook --agent claude-code --event PostToolUse --home {}",
            w.home().display()
        )),
        "{cmd}"
    );
    let status = run(&["guard", "status", "--json"]);
    let st: Value = serde_json::from_str(&status).unwrap();
    assert!(
        st["installed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["agent"] == "claude-code" && p["scope"] == "user" && p["installed"] == true),
        "{st}"
    );
    let out = run(&["guard", "uninstall", "--agent", "claude-code"]);
    assert!(out.contains("removed from"), "{out}");
    let back: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(back, claude_settings_with_other_hooks());
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);
    // The backup still holds the file as it was before patina first changed it (uninstall
    // does not overwrite it with the installed version).
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
    // Codex, in a project, from nothing: install then uninstall leaves an empty object.
    let codex = w.work().join(".codex/hooks.json");
    run(&["guard", "install", "--agent", "codex", "--scope", "project"]);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&codex).unwrap()).unwrap();
    assert!(
        v["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .contains("--agent codex")
    );
    assert_eq!(mode(&codex), 0o600);
    run(&[
        "guard",
        "uninstall",
        "--agent",
        "codex",
        "--scope",
        "project",
    ]);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&codex).unwrap()).unwrap();
    assert_eq!(v, json!({}));
    // A settings file that is not JSON is refused, untouched.
    std::fs::write(&settings, "{ not json").unwrap();
    let mut c = w.cmd(&["guard", "install", "--agent", "claude-code"]);
    c.env("HOME", &user);
    let o = run_with_input(c, b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not valid JSON"));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{ not json");
}

/// `scrub` redacts values that already reached transcripts: every line stays valid JSON,
/// no form of the canary is left, the mode is kept; --dry-run lists lines and names only.
#[test]
fn scrub_redacts_transcripts_keeping_every_line_valid_json() {
    let g = Guard::new(true);
    let user = g.w.dir.path().join("user-home");
    let dir = user.join(".claude/projects/-work-app");
    std::fs::create_dir_all(&dir).unwrap();
    let t = dir.join("8f1e2d3c.jsonl");
    let lines = [
        json!({"type": "user", "message": {"role": "user", "content": "show me the env file"}}),
        json!({"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "cat .env"}}]}}),
        json!({"type": "user", "toolUseResult": {"stdout": format!("API_KEY={CANARY}\n"), "stderr": ""}, "message": {"content": [{"type": "tool_result", "content": format!("API_KEY={CANARY}")}]}}),
        json!({"type": "assistant", "message": {"content": [{"type": "text", "text": format!("The key base64 is {}", STANDARD.encode(CANARY))}]}}),
        json!({"type": "user", "toolUseResult": {"stdout": format!("GH_TOKEN={}", gh_token())}}),
        json!({"type": "summary", "summary": "nothing secret"}),
    ];
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str(&format!("not json at all {CANARY}\n"));
    std::fs::write(&t, &text).unwrap();
    std::fs::set_permissions(&t, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let codex = user.join(".codex/sessions/2026/12/06");
    std::fs::create_dir_all(&codex).unwrap();
    let ct = codex.join("rollout-2026-12-06T10-00-00-019a.jsonl");
    std::fs::write(&ct, format!("{}\n", json!({"type": "response_item", "payload": {"type": "function_call_output", "output": format!("DB={}", db_password())}}))).unwrap();
    let run = |args: &[&str]| {
        let mut c = g.w.cmd(args);
        c.env("HOME", &user);
        let o = run_with_input(c, b"");
        assert!(o.status.success(), "{args:?}: {}", show(&o));
        assert_no_leak("scrub stdout", &o.stdout, CANARY);
        assert_no_leak("scrub stderr", &o.stderr, CANARY);
        String::from_utf8(o.stdout).unwrap()
    };
    let dry = run(&["guard", "scrub", "--dry-run"]);
    assert!(dry.contains("8f1e2d3c.jsonl:3: canary"), "{dry}");
    assert!(dry.contains("8f1e2d3c.jsonl:4: canary"), "{dry}");
    assert!(dry.contains("8f1e2d3c.jsonl:5: token (detector)"), "{dry}");
    assert!(dry.contains("8f1e2d3c.jsonl:7: canary"), "{dry}");
    assert!(
        dry.contains("rollout-2026-12-06T10-00-00-019a.jsonl:1: db-password"),
        "{dry}"
    );
    assert!(
        !dry.contains(":1: ") || dry.contains("019a.jsonl:1:"),
        "{dry}"
    );
    assert_eq!(
        std::fs::read_to_string(&t).unwrap(),
        text,
        "--dry-run wrote"
    );
    let out = run(&["guard", "scrub"]);
    assert!(out.contains("2 files redacted"), "{out}");
    for f in [&t, &ct] {
        let after = std::fs::read(f).unwrap();
        assert_no_leak("scrubbed transcript", &after, CANARY);
        assert_no_leak("scrubbed transcript", &after, &db_password());
        assert!(!String::from_utf8_lossy(&after).contains(&gh_token()));
    }
    let after = std::fs::read_to_string(&t).unwrap();
    let after_lines: Vec<&str> = after.lines().collect();
    assert_eq!(after_lines.len(), 7);
    for (i, l) in after_lines.iter().enumerate().take(6) {
        let v: Value =
            serde_json::from_str(l).unwrap_or_else(|_| panic!("line {} is not JSON", i + 1));
        if i == 0 || i == 1 || i == 5 {
            assert_eq!(v, lines[i], "an untouched line changed");
        }
    }
    assert_eq!(
        after_lines[6],
        "not json at all <concealed by patina: canary>"
    );
    assert_eq!(mode(&t), 0o640);
    // A second run finds nothing.
    let again = run(&["guard", "scrub"]);
    assert!(again.contains("0 findings"), "{again}");
    let audit = std::fs::read_to_string(g.w.home().join("audit.log")).unwrap();
    assert!(audit.contains("\"action\":\"scrubbed\""));
}

/// `status` reports the daemon, the hold and today's findings by name and detector.
#[test]
fn status_counts_todays_findings_by_name_and_detector() {
    let g = Guard::new(true);
    let file = g.w.work().join("x");
    g.hook(
        "claude-code",
        &g.fixture(
            "claude-code-bash-post",
            &format!("{CANARY} {}", gh_token()),
            &file,
        ),
    );
    g.hook("codex", &g.fixture("codex-bash-post", CANARY, &file));
    let mut c = g.w.cmd(&["guard", "status", "--json"]);
    c.env("HOME", g.w.dir.path());
    let o = run_with_input(c, b"");
    assert!(o.status.success(), "{}", show(&o));
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["daemon"], true, "{st}");
    assert_eq!(st["hold"], true, "{st}");
    assert_eq!(st["today"]["replaced"], 2, "{st}");
    assert_eq!(st["today"]["by_name"]["canary"], 2, "{st}");
    assert_eq!(st["today"]["by_detector"]["token"], 1, "{st}");
    let mut c = g.w.cmd(&["guard", "status"]);
    c.env("HOME", g.w.dir.path());
    let o = run_with_input(c, b"");
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("known values: held") && text.contains("canary: 2"),
        "{text}"
    );
}

/// `data` as `xxd` prints it: 16 bytes a line, 2-byte groups, the text column (`.` for a
/// byte that is not printable ASCII). Checked against xxd 2022 (vim 9) by hand.
fn xxd(data: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in data.chunks(16).enumerate() {
        let groups: Vec<String> = c
            .chunks(2)
            .map(|p| p.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        out.push_str(&format!(
            "{:08x}: {:<39}  {}\n",
            i * 16,
            groups.join(" "),
            printable(c)
        ));
    }
    out
}

/// `data` as `hexdump -C` prints it (util-linux 2.39).
fn hexdump_c(data: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in data.chunks(16).enumerate() {
        let half = |h: &[u8]| -> String {
            h.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let hex = format!(
            "{}  {}",
            half(&c[..c.len().min(8)]),
            half(&c[c.len().min(8)..])
        );
        out.push_str(&format!("{:08x}  {hex:<48}  |{}|\n", i * 16, printable(c)));
    }
    out.push_str(&format!("{:08x}\n", data.len()));
    out
}

/// `data` as `od -c` prints it (GNU coreutils 9).
fn od_c(data: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in data.chunks(16).enumerate() {
        out.push_str(&format!("{:07o}", i * 16));
        for &b in c {
            out.push_str(&match b {
                b'\n' => "  \\n".to_string(),
                b'\t' => "  \\t".to_string(),
                0 => "  \\0".to_string(),
                0x20..=0x7e => format!("   {}", b as char),
                _ => format!(" {b:03o}"),
            });
        }
        out.push('\n');
    }
    out.push_str(&format!("{:07o}\n", data.len()));
    out
}

fn printable(c: &[u8]) -> String {
    c.iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

/// The lines of `dump` that show a byte of `data[at..at + len]` (its data columns: the
/// part after the offset), 16 bytes a line.
fn dump_lines_of(dump: &str, at: usize, len: usize, data_start: usize) -> Vec<String> {
    dump.lines()
        .enumerate()
        .filter(|(i, _)| *i * 16 < at + len && at < (*i + 1) * 16)
        .map(|(_, l)| l[data_start..].to_string())
        .collect()
}

/// A value used as a key of a tool's JSON output (an MCP tool's `structuredContent` keyed by
/// data) is concealed like any string: the key is replaced, its entry kept.
#[test]
fn a_value_used_as_a_json_key_is_concealed() {
    let g = Guard::new(true);
    let file = g.w.work().join(".env");
    let o = run_with_input(g.w.cmd(&["session", "unlock"]), b"");
    assert!(o.status.success(), "{}", show(&o));
    let mut payload = g.fixture("claude-code-mcp-blocks-post", "ok", &file);
    payload["tool_response"] = serde_json::json!({
        "content": [{"type": "text", "text": "two settings"}],
        "structuredContent": {"rows": {CANARY: "api", "region": "eu-west-1"}},
    });
    let (o, a) = g.hook("claude-code", &payload);
    let new = &a["hookSpecificOutput"]["updatedMCPToolOutput"];
    assert!(!new.is_null(), "{}", show(&o));
    let text = new.to_string();
    assert!(
        !text.contains("Pc4n4ry") && !text.contains("7f3e9c1d"),
        "{text}"
    );
    let rows = new["structuredContent"]["rows"].as_object().unwrap();
    assert_eq!(rows["<concealed by patina: canary>"], "api", "{text}");
    assert_eq!(rows["region"], "eu-west-1", "{text}");
}

/// The QA attack on the guard (finding 1): the canary printed by `xxd`, `hexdump -C` and
/// `od -c` of an `.env` (a value split across two dump lines), upper-cased (`tr a-z A-Z`),
/// and inside a longer text's base64 wrapped at 76 (GNU) and 64 (OpenSSL) columns, so
/// its base64 is split by a line break. Each is concealed — the dump lines holding it, the
/// base64 across its line break — with the daemon's values unlocked and with only the scan
/// hold (`--scan-only`); the same dumps of other data pass unchanged.
#[test]
fn dumps_upper_case_reversed_escaped_and_wrapped_base64_values_are_concealed_unlocked_and_scan_only()
 {
    let g = Guard::new(true);
    let file = g.w.work().join(".env");
    let env = format!("API_KEY={CANARY}\nDEBUG=1\n");
    let at = env.find(CANARY).unwrap();
    for state in ["unlocked", "scan-only"] {
        let o = run_with_input(g.w.cmd(&["session", "lock"]), b"");
        assert!(o.status.success(), "{}", show(&o));
        let args: &[&str] = if state == "unlocked" {
            &["session", "unlock"]
        } else {
            &["session", "unlock", "--scan-only"]
        };
        let o = run_with_input(g.w.cmd(args), b"");
        assert!(o.status.success(), "{state}: {}", show(&o));
        let post = |text: &str| -> String {
            let (o, a) = g.hook(
                "claude-code",
                &g.fixture("claude-code-bash-post", text, &file),
            );
            let out = a["hookSpecificOutput"]["updatedToolOutput"]["stdout"]
                .as_str()
                .unwrap_or_else(|| panic!("{state}: nothing concealed in {text:?}: {}", show(&o)))
                .to_string();
            assert!(
                out.contains("<concealed by patina: canary>"),
                "{state}: {out}"
            );
            out
        };
        // Hex dumps: every line that shows a byte of the value is concealed; the others stay.
        for (tool, dump, data_start) in [
            ("xxd", xxd(env.as_bytes()), 10),
            ("hexdump -C", hexdump_c(env.as_bytes()), 10),
            ("od -c", od_c(env.as_bytes()), 8),
        ] {
            let lines = dump_lines_of(&dump, at, CANARY.len(), data_start);
            assert_eq!(lines.len(), 2, "{tool}: the value spans two lines");
            let out = post(&dump);
            for l in &lines {
                assert!(!out.contains(l.as_str()), "{state} {tool}: {out}");
            }
            assert!(
                !out.contains("Pc4n4ry") && !out.contains("7f3e9c1d"),
                "{out}"
            );
            let last = dump.lines().nth(2).unwrap();
            assert!(
                out.contains(last),
                "{state} {tool}: other lines pass: {out}"
            );
            // A dump of other data passes unchanged (no answer).
            let clean = match tool {
                "xxd" => xxd(b"DEBUG=1\nLOG_LEVEL=info\nPORT=8080\n"),
                "hexdump -C" => hexdump_c(b"DEBUG=1\nLOG_LEVEL=info\nPORT=8080\n"),
                _ => od_c(b"DEBUG=1\nLOG_LEVEL=info\nPORT=8080\n"),
            };
            let (_, a) = g.hook(
                "claude-code",
                &g.fixture("claude-code-bash-post", &clean, &file),
            );
            assert_eq!(a, Value::Null, "{state} {tool}: a clean dump is left alone");
        }
        // Upper-cased.
        let upper = CANARY.to_ascii_uppercase();
        let out = post(&format!("API_KEY={upper}\n"));
        assert_eq!(out, "API_KEY=<concealed by patina: canary>\n", "{state}");
        // Reversed (`rev .env`).
        let rev: String = format!("API_KEY={CANARY}").chars().rev().collect();
        let out = post(&format!("{rev}\n"));
        assert_eq!(out, "<concealed by patina: canary>=YEK_IPA\n", "{state}");
        // Escaped: every byte percent-encoded, one character over-encoded (`%2D` for `-`),
        // `\x` escapes, shell quoting.
        let forms = [
            CANARY
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>(),
            CANARY.replace('-', "%2D"),
            CANARY.bytes().map(|b| format!("\\x{b:02x}")).collect(),
            CANARY.replace('+', "\\+").replace('=', "\\="),
            // Go's JSON escaping style, XML character references, `grep --color=always`.
            CANARY.replace('+', "\\u002b").replace('/', "\\u002F"),
            CANARY
                .replace('+', "&#43;")
                .replace('=', "&#x3D;")
                .replace('/', "&#47;"),
            format!(
                "{}\x1b[01;31m\x1b[K{}\x1b[m\x1b[K",
                &CANARY[..5],
                &CANARY[5..]
            ),
        ];
        for form in forms {
            let out = post(&format!("GET /cb?k={form}&n=1\n"));
            assert_eq!(
                out.replace("\x1b[m\x1b[K", ""),
                "GET /cb?k=<concealed by patina: canary>&n=1\n",
                "{state}: {form}"
            );
        }
        // UTF-16LE text read as bytes (`iconv -t UTF-16LE .env > win.env; cat win.env`).
        let utf16: String = format!("API_KEY={CANARY}\n")
            .chars()
            .flat_map(|c| [c, '\0'])
            .collect();
        let out = post(&utf16);
        assert!(
            !out.replace('\0', "").contains("Pc4n4ry"),
            "{state}: {out:?}"
        );
        assert!(
            !out.replace('\0', "").contains("7f3e9c1d"),
            "{state}: {out:?}"
        );
        // Base64 of a longer text, wrapped, the value's base64 split by a line break, at
        // each of the three byte alignments.
        for width in [76, 64] {
            for pad in [width * 3 / 4 - 10, width * 3 / 4 - 9, width * 3 / 4 - 8] {
                let text = format!("{}{CANARY}\n{}", "n".repeat(pad), "tail ".repeat(20));
                let enc = STANDARD.encode(&text);
                let wrapped: Vec<&str> = enc
                    .as_bytes()
                    .chunks(width)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                let front = (pad * 8).div_ceil(6);
                let back = ((pad + CANARY.len()) * 8) / 6;
                let run = &enc[front..back];
                assert!(
                    wrapped[0].len() < back && front < width,
                    "the value's base64 is split by the first line break"
                );
                let out = post(&format!("{}\n", wrapped.join("\n")));
                let joined: String = out.chars().filter(|&c| c != '\n').collect();
                for w in run.as_bytes().windows(8) {
                    let w = std::str::from_utf8(w).unwrap();
                    assert!(
                        !joined.contains(w),
                        "{state} width {width} pad {pad}: {out}"
                    );
                }
                let after = &enc[back + 2..2 * width];
                assert!(out.contains(after), "the rest of the line stays: {out}");
            }
        }
    }
}

/// `input` piped through `sh -c command_line` (a real tool: `xxd`, `od`, `base64`, …): its
/// stdout. The value reaches the tool on stdin, never in an argv.
fn through_tool(command_line: &str, input: &[u8]) -> String {
    let mut c = std::process::Command::new("sh");
    c.args(["-c", command_line]);
    let o = run_with_input(c, input);
    assert!(o.status.success(), "{command_line}: {}", show(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The real tools QA piped a value through (finding M2): dumps of every layout (`xxd -g 4`,
/// `xxd -b`, `xxd -i`, `hexdump`, `hexdump -x`, `od -x`, `od -An -tx1`, `od -tx1z`, `od -b`,
/// `od`), base64 and the value itself wrapped at any width (`base64 -w 4|10|20`, `fold -w
/// 8`), a partial case change (`tr a-f A-F`) and a fullwidth copy (a value cut short is not
/// concealed by the hook: `/guard/scan` answers whole forms only, no prefix oracle). With the values unlocked and with only the scan
/// hold, every line of the tool's output that shows the value is concealed; the same tools
/// on other data pass unchanged.
#[test]
fn real_dump_wrap_and_case_tools_are_concealed_unlocked_and_scan_only() {
    let g = Guard::new(true);
    let file = g.w.work().join(".env");
    let tools = [
        "xxd -g 4",
        "xxd -b",
        "xxd -i",
        "hexdump",
        "hexdump -x",
        "od -x",
        "od -An -tx1",
        "od -tx1z",
        "od -b",
        "od",
        "base64 -w 4",
        "base64 -w 10",
        "base64 -w 20",
        "fold -w 8",
        "tr a-f A-F",
    ];
    let clean = b"DEBUG=1\nLOG_LEVEL=info\nPORT=8080\nHOST=example.org\n";
    for state in ["unlocked", "scan-only"] {
        let o = run_with_input(g.w.cmd(&["session", "lock"]), b"");
        assert!(o.status.success(), "{}", show(&o));
        let args: &[&str] = if state == "unlocked" {
            &["session", "unlock"]
        } else {
            &["session", "unlock", "--scan-only"]
        };
        let o = run_with_input(g.w.cmd(args), b"");
        assert!(o.status.success(), "{state}: {}", show(&o));
        let post = |text: &str| -> Value {
            g.hook(
                "claude-code",
                &g.fixture("claude-code-bash-post", text, &file),
            )
            .1
        };
        let fullwidth: String = CANARY
            .chars()
            .map(|c| char::from_u32(c as u32 - 0x21 + 0xff01).unwrap())
            .collect();
        let mut cases: Vec<(String, String)> = tools
            .iter()
            .map(|t| (t.to_string(), through_tool(t, CANARY.as_bytes())))
            .collect();
        // QA session 9, M5: grouped and little-endian dumps, whatever the value's offset
        // in the dump (a prefix of K bytes before it).
        for tool in [
            "xxd -g 4", "xxd -g 8", "xxd -e", "xxd -g 3", "xxd -g 1", "xxd",
        ] {
            for k in [0, 1, 2, 3, 5, 7, 8, 13, 16, 17, 32] {
                let input = format!("{}{CANARY}\n", "x".repeat(k));
                cases.push((
                    format!("{tool} after {k} bytes"),
                    through_tool(tool, input.as_bytes()),
                ));
            }
        }
        cases.push(("fullwidth".into(), format!("key: {fullwidth}\n")));
        for (tool, text) in &cases {
            let a = post(text);
            let out = a["hookSpecificOutput"]["updatedToolOutput"]["stdout"]
                .as_str()
                .unwrap_or_else(|| panic!("{state} {tool}: nothing concealed in {text:?}"));
            assert!(
                out.contains("<concealed by patina: canary>"),
                "{state} {tool}: {out}"
            );
            // No 8 characters of the value in a row are left (a dump's text column).
            for w in CANARY.as_bytes().windows(8) {
                let w = std::str::from_utf8(w).unwrap();
                assert!(!out.contains(w), "{state} {tool}: {w:?} shows in {out}");
            }
            if tool.contains(" after ") {
                continue; // the lines of the prefix alone hold no byte of the value
            }
            // Every line that shows data (not an offset alone) is gone.
            let kept: Vec<&str> = out.lines().collect();
            for line in text.lines() {
                let offset_only = line.trim().chars().all(|c| c.is_ascii_digit());
                if line.trim().len() >= 4 && !offset_only {
                    assert!(
                        !kept.contains(&line),
                        "{state} {tool}: {line:?} passed in {out:?}"
                    );
                }
            }
        }
        for tool in tools {
            let text = through_tool(tool, clean);
            assert_eq!(
                post(&text),
                Value::Null,
                "{state} {tool}: other data passes unchanged"
            );
        }
    }
}

/// QA session 8, H2: the hook fails closed when known values are held but the daemon cannot
/// be asked — stopped with SIGSTOP, its socket moved away, killed after the unlock — and
/// `guard status` does not call such a daemon running. The hold marker (`run/hold.json`,
/// 0600, no secret) is what tells the hook a hold exists; `session lock` with no daemon
/// removes it, and then (as with no daemon and no unlock at all) only the token detectors
/// run, with a note.
#[test]
fn a_hook_that_cannot_ask_a_holding_daemon_withholds_the_output() {
    let mut g = Guard::new(true);
    let marker = g.w.home().join("run/hold.json");
    assert_eq!(mode(&marker), 0o600);
    let text = std::fs::read_to_string(&marker).unwrap();
    assert!(text.contains("expires_at"), "{text}");
    assert_no_leak("hold marker", text.as_bytes(), CANARY);
    let post = |g: &Guard, text: &str| -> Value {
        let p = g.fixture("claude-code-bash-post", text, Path::new(""));
        let mut c = g.w.cmd(&["guard", "hook", "--agent", "claude-code"]);
        c.env("PATINA_TEST_GUARD_ASK_MS", "1500");
        let o = run_with_input(c, p.to_string().as_bytes());
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        assert_no_leak("hook stdout", &o.stdout, CANARY);
        assert_no_leak("hook stderr", &o.stderr, CANARY);
        if o.stdout.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&o.stdout).unwrap()
        }
    };
    let withheld = |a: &Value, what: &str| {
        let hso = &a["hookSpecificOutput"];
        let out = hso["updatedToolOutput"].to_string();
        assert!(
            out.contains("<concealed by patina: not checked>"),
            "{what}: {a}"
        );
        let why = hso["additionalContext"].as_str().unwrap_or_default();
        assert!(
            why.contains("withheld") && why.contains("patina status"),
            "{what}: {why}"
        );
    };
    let leak = format!("password={CANARY} and more");
    // Asked: concealed by name, as always.
    let a = post(&g, &leak);
    assert!(
        a.to_string().contains("<concealed by patina: canary>"),
        "{a}"
    );

    // 1. Stopped (SIGSTOP): the ask times out, the output is withheld.
    let pid = g.d.as_ref().unwrap().pid();
    common::signal(pid, "STOP");
    let a = post(&g, &leak);
    withheld(&a, "stopped");
    let hso = &a["hookSpecificOutput"]["additionalContext"];
    assert!(hso.as_str().unwrap().contains("cannot be asked"), "{a}");
    // guard status does not say "running".
    let o = g.w.cmd(&["guard", "status"]).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(!s.contains("daemon: running"), "{s}");
    assert!(s.contains("daemon: cannot be asked"), "{s}");
    common::signal(pid, "CONT");

    // 2. The socket moved away: nothing answers at the path, the hold is still there.
    let sock = g.w.home().join("run/serve.sock");
    let moved = g.w.home().join("run/moved.sock");
    std::fs::rename(&sock, &moved).unwrap();
    withheld(&post(&g, &leak), "socket moved");
    std::fs::rename(&moved, &sock).unwrap();
    assert!(
        post(&g, &leak)
            .to_string()
            .contains("<concealed by patina: canary>")
    );

    // 3. Killed after the unlock (no chance to remove the marker): withheld until the user
    //    locks (or the hold would have expired).
    common::signal(pid, "KILL");
    let _ = g.d.as_mut().unwrap().child.wait();
    withheld(&post(&g, &leak), "killed");
    withheld(&post(&g, "nothing secret"), "killed, clean output");
    let o = g.w.cmd(&["session", "lock"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(!marker.exists());
    // 4. No daemon, no hold: the token-only answer of old, with its note.
    let a = post(&g, "nothing secret");
    let note = a["hookSpecificOutput"]["additionalContext"].to_string();
    assert!(note.contains("only the token detectors ran"), "{a}");
    assert!(
        a["hookSpecificOutput"]["updatedToolOutput"].is_null(),
        "{a}"
    );
    let fresh = Guard::new(false);
    let a = post(&fresh, "nothing secret");
    assert!(
        a["hookSpecificOutput"]["updatedToolOutput"].is_null(),
        "{a}"
    );
    assert!(
        a["hookSpecificOutput"]["additionalContext"]
            .to_string()
            .contains("only the token detectors ran"),
        "{a}"
    );
}
