//! Shared test support: a fixture project, a daemon under test on a real socket with a temp
//! `PATINA_HOME`, raw byte exchanges, `curl --unix-socket`, and the one helper that scrubs a
//! command's environment ([`scrub_env`]). [`secrets`] adds the secrets tests' world and canary.
#![allow(dead_code)]

pub mod secrets;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_patina")
}

/// The variables of the caller's environment that change what a `patina` command does: an
/// identity, a token or a daemon URL of the developer running the tests, the keyring switch,
/// a desktop session bus (the keyring would reach it), and socket-activation variables.
pub const SCRUBBED_ENV: &[&str] = &[
    "PATINA_IDENTITY",
    "PATINA_SERVE_TOKEN",
    "PATINA_URL",
    "PATINA_NO_KEYRING",
    "PATINA_FAULT_ABORT",
    "PATINA_TEST_HEAD_DEADLINE_MS",
    "PATINA_TEST_BODY_DEADLINE_MS",
    "PATINA_TEST_FEDERATE_DEADLINE_MS",
    "PATINA_WATCH_LIMIT",
    "PATINA_POLL_SECS",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "DBUS_SESSION_BUS_ADDRESS",
    "DISPLAY",
    "WAYLAND_DISPLAY",
];

/// Removes every variable of [`SCRUBBED_ENV`] from `c`: the one place the tests decide which
/// of the caller's variables a child may see. Tests set what they need afterwards.
pub fn scrub_env(c: &mut Command) -> &mut Command {
    for v in SCRUBBED_ENV {
        c.env_remove(v);
    }
    c
}

/// `default` in the default suite, `long` when `PATINA_TEST_LONG` is set (to anything but
/// empty or `0`): the size of a randomized test's run (as `test_rng::cases` in the unit
/// tests).
pub fn long_run(default: usize, long: usize) -> usize {
    match std::env::var("PATINA_TEST_LONG") {
        Ok(v) if !v.is_empty() && v != "0" => long,
        _ => default,
    }
}

/// Asserts that `o` exited 0 (showing its exit status and both streams otherwise); its
/// stdout as text.
pub fn assert_success(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// [`assert_success`], then its stdout parsed as JSON (a `--json` command's answer).
pub fn success_json(o: &Output) -> serde_json::Value {
    let out = assert_success(o);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}"))
}

/// The session and secrets routes of requirements §6, all of access class "local" (a Unix
/// peer of our uid only; 403 over TCP even with the token): `(method, path)`.
pub const SESSION_ROUTES: &[(&str, &str)] = &[
    ("GET", "/session"),
    ("POST", "/session/unlock"),
    ("POST", "/session/lock"),
    ("POST", "/session/env"),
    ("GET", "/secrets"),
    ("POST", "/secrets/scan"),
];

/// `curl --unix-socket` POSTing the JSON `body` to `path`: the status code curl printed
/// (`"000"` when it got no answer).
pub fn curl_post_status(socket: &Path, path: &str, body: &str) -> String {
    let o = curl(
        socket,
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            &format!("http://localhost{path}"),
        ],
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A `patina` command with `PATINA_HOME` set and the caller's environment scrubbed
/// ([`scrub_env`]).
pub fn patina(home: &Path) -> Command {
    let mut c = Command::new(bin());
    scrub_env(&mut c).env("PATINA_HOME", home);
    c
}

/// Writes a small project in the layout of a real `layer/`: front matter, core, surface,
/// sessions, a spec, and some code. Text is our own, not from any corpus.
pub fn write_fixture_project(root: &Path) {
    let files: &[(&str, &str)] = &[
        (
            "layer/core/architecture.md",
            "---\nid: architecture\nstatus: active\ntags: [design, daemon]\n---\n\n# Lantern architecture\n\nThe lantern daemon answers questions over a socket.\n\n## Worker pool\n\nEach connection is served by one worker from a bounded pool.\n",
        ),
        (
            "layer/core/storage.md",
            "---\nid: storage\n---\n\n# Storage\n\nNotes live in markdown; the index is rebuilt from them.\n\n## Marigold compaction\n\nThe marigold step merges small segments into large ones.\n",
        ),
        (
            "layer/surface/beliefs/measure-first.md",
            "---\ntype: belief\nid: measure-first\nconfidence:\n  score: 0.9\n---\n\n# measure-first\n\nMeasure before optimizing; guesses about speed are usually wrong.\n",
        ),
        (
            "layer/surface/specs/spec-quokka.md",
            "---\ntype: spec\nid: spec-quokka\nstatus: draft\n---\n\n# Spec: quokka protocol\n\nThe quokka handshake uses two nonces.\n",
        ),
        (
            "layer/sessions/20260101-090000.md",
            "# Session: wiring the quokka handshake\n**ID**: 20260101-090000\n\n## Activity Log\n\nTried the quokka handshake against the marigold store; it worked.\n",
        ),
        (
            "src/main.rs",
            "// The lantern entry point.\nfn main() {\n    println!(\"lantern starts\");\n}\n",
        ),
    ];
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// A daemon under test. Killed (SIGKILL) on drop if still running.
pub struct Daemon {
    pub child: Child,
    pub home: PathBuf,
    pub project: PathBuf,
    pub socket: PathBuf,
    pub stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `patina serve` on a fresh fixture project and temp home; waits until it answers.
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// Like [`Daemon::start`] with extra `serve` arguments.
    pub fn start_with(args: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("proj");
        write_fixture_project(&project);
        Daemon::start_in(dir, home, project, args)
    }

    /// Starts a daemon with a given temp dir, home and project.
    pub fn start_in(
        dir: tempfile::TempDir,
        home: PathBuf,
        project: PathBuf,
        args: &[&str],
    ) -> Daemon {
        Daemon::start_in_env(dir, home, project, args, &[])
    }

    /// Like [`Daemon::start`] with extra `serve` arguments and environment variables, e.g. a
    /// test build's deadline override (`PATINA_TEST_HEAD_DEADLINE_MS`, see
    /// `limits::test_deadline`).
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("proj");
        write_fixture_project(&project);
        Daemon::start_in_env(dir, home, project, args, env)
    }

    /// [`Daemon::start_in`] with variables set in the daemon's environment.
    pub fn start_in_env(
        dir: tempfile::TempDir,
        home: PathBuf,
        project: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let stderr_path = dir.path().join("serve.log");
        let log = std::fs::File::create(&stderr_path).unwrap();
        let child = patina(&home)
            .envs(env.iter().copied())
            .arg("serve")
            .arg("--project")
            .arg(&project)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let socket = home.join("run/serve.sock");
        let d = Daemon {
            child,
            home,
            project,
            socket,
            stderr_path,
            _dir: dir,
        };
        d.wait_ready();
        d
    }

    /// Waits (≤ 20 s) until `/health` answers.
    pub fn wait_ready(&self) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            // Ready: the socket accepts and the pid file is written (it follows the bind).
            if UnixStream::connect(&self.socket).is_ok() && self.home.join("run/serve.pid").exists()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not start; log:\n{}", self.log());
    }

    /// The daemon's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends raw bytes, reads to EOF (≤ `timeout`), returns what came back.
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        raw_exchange(&self.socket, bytes, Duration::from_secs(10))
    }

    /// Sends raw bytes and parses the response.
    pub fn send(&self, bytes: &[u8]) -> Resp {
        Resp::parse(&self.raw(bytes))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Resp {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &str) -> Resp {
        self.send(
            format!(
                "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    /// Still alive and answering `/health` with 200.
    pub fn still_serving(&self) -> bool {
        self.get("/health").status == 200
    }

    /// SIGTERM, then waits for exit (≤ 15 s) and returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.pid(), "TERM");
        wait_timeout(&mut self.child, Duration::from_secs(15))
            .expect("daemon did not exit after SIGTERM")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `sig` (e.g. "TERM", "KILL") to `pid` with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

/// Waits for a child to exit, at most `t`.
pub fn wait_timeout(child: &mut Child, t: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < t {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Connects, writes `bytes` (without half-closing: a complete request must be answered
/// without the client's EOF), reads until EOF or `timeout`.
pub fn raw_exchange(socket: &Path, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(bytes);
    read_to_eof(&mut s)
}

/// Reads until EOF, a reset or the read timeout; returns what arrived.
pub fn read_to_eof(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How many status lines the raw bytes hold (to catch a second, pipelined answer).
    pub responses: usize,
}

impl Resp {
    pub fn parse(raw: &[u8]) -> Resp {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        let n = match r.parse(raw) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "no complete response ({other:?}): {:?}",
                String::from_utf8_lossy(raw)
            ),
        };
        let hs: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let responses = raw.windows(9).filter(|w| w.starts_with(b"HTTP/1.")).count();
        Resp {
            status: r.code.unwrap(),
            headers: hs,
            body: raw[n..].to_vec(),
            responses,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the requirements §4 header fields and, for an error, the `{"error": "…"}` body.
    pub fn assert_well_formed(&self) {
        for (name, want) in [
            ("content-type", Some("application/json")),
            ("x-content-type-options", Some("nosniff")),
            ("x-frame-options", Some("DENY")),
            ("cache-control", Some("no-store")),
            ("connection", Some("close")),
        ] {
            assert_eq!(self.header(name), want, "header {name} in {self:?}");
        }
        assert!(self.header("x-request-id").is_some_and(|v| !v.is_empty()));
        assert_eq!(
            self.header("content-length")
                .map(|v| v.parse::<usize>().unwrap()),
            Some(self.body.len())
        );
        assert!(
            !self
                .headers
                .iter()
                .any(|(n, _)| n.starts_with("access-control-")),
            "no CORS header fields ever"
        );
        if self.status >= 400 {
            let v = self.json();
            assert!(
                v.get("error").and_then(|e| e.as_str()).is_some(),
                "error body {v}"
            );
            assert_eq!(
                v.as_object().unwrap().len(),
                1,
                "error body has only `error`: {v}"
            );
        }
    }
}

/// Runs a command to completion with a timeout; panics if it hangs. Its stdout and stderr
/// are drained by threads as it runs, so a large output cannot block it on a full pipe.
pub fn run_timeout(cmd: &mut Command, t: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out_t = drain(Box::new(child.stdout.take().unwrap()));
    let err_t = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > t {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_t.join().unwrap();
            panic!(
                "command hung: {cmd:?}\nstderr: {}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

/// True when `curl` is installed (it is on the CI machine; `.ci/run` installs it).
pub fn curl(socket: &Path, args: &[&str]) -> Output {
    Command::new("curl")
        .arg("-sS")
        .arg("--max-time")
        .arg("10")
        .arg("--unix-socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("curl must be installed (.ci/run installs it)")
}

impl Daemon {
    /// The TCP address the daemon printed (`--port 0` picks a free port).
    pub fn tcp_addr(&self) -> String {
        let t = Instant::now();
        loop {
            let log = self.log();
            if let Some(at) = log.find("TCP on ")
                && let Some(addr) = log[at + 7..].split_once(';')
            {
                return addr.0.to_string();
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "daemon printed no TCP address: {log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends raw bytes over TCP, reads to EOF.
    pub fn tcp_raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut s = std::net::TcpStream::connect(self.tcp_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(bytes);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    /// A TCP request with optional bearer token and JSON body.
    pub fn tcp(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Resp {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(t) = token {
            raw.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(b) = body {
            raw.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ));
        } else {
            raw.push_str("\r\n");
        }
        Resp::parse(&self.tcp_raw(raw.as_bytes()))
    }

    /// The token file's content (the test's own secret; never printed by patina).
    pub fn token(&self) -> String {
        // The token file is written before "TCP on" is printed, after the Unix socket is up.
        self.tcp_addr();
        std::fs::read_to_string(self.home.join("run/serve.token"))
            .unwrap()
            .trim()
            .to_string()
    }
}

/// The thread count of a process, from `/proc/<pid>/status`.
pub fn thread_count(pid: u32) -> usize {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The daemon's thread count once it has stopped changing (the same for 300 ms, read for at
/// most 10 s): threads of the start-up scrape's file preparation end a little after the
/// daemon answers, so a single read right after start can count them (a flake on a loaded
/// machine: 16 read as "idle", 14 after the request).
pub fn settled_thread_count(pid: u32) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = thread_count(pid);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = thread_count(pid);
        if now == last || std::time::Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// A child process killed (SIGKILL) and reaped on drop, so a failing test never leaves a
/// daemon behind.
pub struct Reaper(pub Child);

impl std::ops::Deref for Reaper {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
