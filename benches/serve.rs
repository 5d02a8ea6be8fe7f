//! The side-by-side benchmark of `patina serve` (issue 7; method and figures in
//! `layer/core/performance.md`). Run it with `cargo bench --bench serve -- [CORPUS]`.
//!
//! One closed-loop load generator, written here, drives every server the same way: `c` client
//! threads, each opening a new Unix-socket connection per request, sending it, reading the
//! response to EOF and at once starting the next; each run lasts [`RUN`], and runs are
//! alternated server by server (A/B/C/D/A/B/C/D) so drift hits them all alike. The servers:
//!
//! - the spawn floor: `std` listener, a thread spawned per connection, a canned reply;
//! - the pool floor: the same canned reply from a fixed pool of 8 threads fed by an accept
//!   thread through a bounded channel (patina's own design with nothing else in it);
//! - axum 0.8 over `tokio::net::UnixListener` (multi-thread runtime, one worker per core);
//!   these three run as child processes of the bench (itself re-executed), as patina does;
//! - `patina serve`, the release binary, as a child with a temp `PATINA_HOME`, on
//!   `GET /health` and on `POST /api/scry` (a fixed set of queries) over the corpus.
//!
//! Beside those: `grep -rci` answering the same queries over the same files, the full and
//! no-op scrape of the corpus, and the daemon's RSS and thread count from `/proc/PID/status`.
//! The corpus (default `../shared/corpora/patina-layer` when present, else a generated one;
//! `-- generated` forces the generated one) is copied to a temp dir first; nothing is written
//! outside it. The last line printed is JSON. `-- --health-only` runs only the `/health`
//! comparison (about 75 s; no `/api/scry`, per-query or grep runs): the quick A/B for
//! transport changes. With `PATINA_BENCH_BASELINE=/path/to/an/older/patina` set, that binary
//! runs as a fifth `/health` server ("baseline", its own temp `PATINA_HOME`), alternated with
//! the others: a before/after comparison inside one run.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Length of one timed run.
const RUN: Duration = Duration::from_millis(2000);
/// Rounds of the A/B/C/D alternation per concurrency level.
const ROUNDS: usize = 3;
/// Client concurrency levels.
const LEVELS: [usize; 3] = [1, 8, 64];
/// Threads of the pool floor (patina's default worker count).
const POOL_FLOOR_THREADS: usize = 8;
/// Sequential requests per query for the per-query scry latency.
const PER_QUERY_REPS: usize = 60;

/// The scry queries: what an agent asks of a project's knowledge.
const QUERIES: &[&str] = &[
    "socket",
    "worker pool",
    "secret vault",
    "session unlock",
    "scrape index",
    "deadline",
    "bearer token",
    "architecture",
    "mother registry",
    "fts5 bm25",
];

/// The canned `/health` reply of the floors (same shape as patina's).
const CANNED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\nConnection: close\r\n\r\n{\"status\":\"ok\",\"version\":\"0.1.0\",\"uptime_secs\":1}";

const HEALTH_REQ: &[u8] = b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

fn scry_request(q: &str) -> Vec<u8> {
    let body = serde_json::json!({ "query": q, "limit": 10 }).to_string();
    let mut r = format!(
        "POST /api/scry HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

/// What one timed run (or several merged) measured.
#[derive(Default, Clone)]
struct Run {
    ok: u64,
    errors: u64,
    secs: f64,
    /// Latency of every successful request, microseconds.
    lat_us: Vec<u32>,
    /// CPU time the server process used meanwhile (user + system), seconds.
    cpu_s: f64,
}

impl Run {
    fn merge(&mut self, o: Run) {
        self.ok += o.ok;
        self.errors += o.errors;
        self.secs += o.secs;
        self.cpu_s += o.cpu_s;
        self.lat_us.extend(o.lat_us);
    }
    fn rps(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }
    /// Server CPU per request, microseconds: steadier than req/s on a shared machine.
    fn cpu_us(&self) -> f64 {
        self.cpu_s * 1e6 / self.ok.max(1) as f64
    }
    fn pct(&mut self, p: f64) -> f64 {
        if self.lat_us.is_empty() {
            return f64::NAN;
        }
        self.lat_us.sort_unstable();
        let i = ((self.lat_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.lat_us[i]) / 1000.0
    }
}

/// One request: connect, send, read to EOF. True for a `200`.
fn one(sock: &Path, req: &[u8], buf: &mut Vec<u8>) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    buf.clear();
    if s.write_all(req).is_err() || s.read_to_end(buf).is_err() {
        return false;
    }
    buf.starts_with(b"HTTP/1.1 200")
}

/// The closed-loop load generator: `c` threads for `dur`, cycling through `reqs`.
fn load(sock: &Path, reqs: &[Vec<u8>], c: usize, dur: Duration) -> Run {
    let start = Instant::now();
    let end = start + dur;
    let runs: Vec<Run> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..c)
            .map(|t| {
                sc.spawn(move || {
                    let mut r = Run::default();
                    let mut buf = Vec::with_capacity(8192);
                    let mut i = t;
                    while Instant::now() < end {
                        let t0 = Instant::now();
                        if one(sock, &reqs[i % reqs.len()], &mut buf) {
                            r.ok += 1;
                            r.lat_us
                                .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        } else {
                            r.errors += 1;
                        }
                        i += 1;
                    }
                    r
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = Run::default();
    for r in runs {
        total.merge(r);
    }
    total.secs = start.elapsed().as_secs_f64();
    total
}

/// Reads until the end of a request head (or EOF), then writes the canned reply.
fn canned(mut s: UnixStream) {
    let mut buf = [0u8; 2048];
    let mut have = 0;
    while have < buf.len() {
        match s.read(&mut buf[have..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => have += n,
        }
        if buf[..have].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let _ = s.write_all(CANNED);
}

fn spawn_floor(path: &Path) {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || canned(s));
        }
    });
}

fn pool_floor(path: &Path) {
    let l = UnixListener::bind(path).unwrap();
    let (tx, rx) = sync_channel::<UnixStream>(64);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..POOL_FLOOR_THREADS {
        let rx = Arc::clone(&rx);
        std::thread::spawn(move || {
            loop {
                let s = match rx.lock().unwrap().recv() {
                    Ok(s) => s,
                    Err(_) => return,
                };
                canned(s);
            }
        });
    }
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let _ = tx.try_send(s);
        }
    });
}

fn axum_server(path: &Path) {
    let path = path.to_path_buf();
    let (ready_tx, ready_rx) = sync_channel::<()>(1);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::UnixListener::bind(&path).unwrap();
            let app = axum::Router::new().route(
                "/health",
                axum::routing::get(|| async {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        r#"{"status":"ok","version":"0.1.0","uptime_secs":1}"#,
                    )
                }),
            );
            let _ = ready_tx.send(());
            let _ = axum::serve(l, app).await;
        });
    });
    ready_rx.recv().unwrap();
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat` fields 14 and 15, in
/// clock ticks of 10 ms).
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // After the command name: field 3 is index 0, so utime (14) is 11 and stime (15) is 12.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

/// `VmRSS` (KiB) and `Threads` of a process, from `/proc/PID/status`.
fn rss_threads(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

fn copy_dir(from: &Path, to: &Path) -> u64 {
    let mut bytes = 0;
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if e.file_name() == ".patina" || e.file_name() == ".git" {
            continue;
        }
        if ft.is_dir() {
            bytes += copy_dir(&src, &dst);
        } else if ft.is_file() {
            bytes += std::fs::copy(&src, &dst).unwrap();
        }
    }
    bytes
}

/// A generated corpus for a clean clone without the shared one: 400 markdown notes of
/// pseudo-random words drawn from a fixed vocabulary (the query words included).
fn generate_corpus(to: &Path) -> u64 {
    const WORDS: &[&str] = &[
        "socket",
        "worker",
        "pool",
        "secret",
        "vault",
        "session",
        "unlock",
        "scrape",
        "index",
        "deadline",
        "bearer",
        "token",
        "architecture",
        "mother",
        "registry",
        "fts5",
        "bm25",
        "daemon",
        "request",
        "response",
        "layer",
        "project",
        "agent",
        "search",
        "query",
        "the",
        "a",
        "of",
        "and",
        "to",
        "in",
        "is",
        "that",
        "for",
        "with",
        "on",
        "as",
        "by",
        "it",
        "be",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut bytes = 0;
    for i in 0..400 {
        let dir = to.join(format!("layer/{}", ["core", "surface", "sessions"][i % 3]));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = format!("# Note {i}\n\n");
        for s in 0..6 {
            text.push_str(&format!("\n## Section {s}\n\n"));
            for w in 0..120 {
                text.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
                text.push(if w % 15 == 14 { '\n' } else { ' ' });
            }
        }
        bytes += text.len() as u64;
        std::fs::write(dir.join(format!("note-{i}.md")), text).unwrap();
    }
    bytes
}

fn patina(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patina"));
    c.env("PATINA_HOME", home)
        .env_remove("PATINA_IDENTITY")
        .env_remove("PATINA_SERVE_TOKEN")
        .env_remove("PATINA_URL");
    c
}

/// Runs `patina scrape --json DIR`; returns (seconds as measured outside, bytes read).
fn scrape(home: &Path, project: &Path) -> (f64, u64) {
    let t = Instant::now();
    let out = patina(home)
        .args(["scrape", "--json"])
        .arg(project)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "scrape failed");
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(line.lines().last().unwrap_or("{}")).unwrap_or_default();
    (secs, v["bytes"].as_u64().unwrap_or(0))
}

/// Median seconds of `grep -rci` answering `q` over `dir` (each word a pattern, like an agent
/// searching for any of them), best of a few runs.
fn grep_secs(dir: &Path, q: &str) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let mut c = Command::new("grep");
            c.arg("-rci").arg("--exclude-dir=.patina").arg("-F");
            for w in q.split_whitespace() {
                c.arg("-e").arg(w);
            }
            c.arg(dir).stdout(Stdio::null()).stderr(Stdio::null());
            let t = Instant::now();
            let _ = c.status();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Runs one comparison server in this process until killed: the bench starts each one as a
/// child (`serve __server KIND SOCKET`), so every server, like `patina serve`, pays the same
/// cross-process context switches as the load generator's clients.
fn run_server(kind: &str, sock: &Path) -> ! {
    match kind {
        "spawn" => spawn_floor(sock),
        "pool" => pool_floor(sock),
        "accept" => accept_floor(sock),
        "axum" => axum_server(sock),
        _ => panic!("unknown server kind"),
    }
    loop {
        std::thread::park();
    }
}

/// The same canned reply from 8 threads that each block in `accept(2)` on the one listener
/// and serve what they accept themselves (no hand-off between threads): what a
/// leader/follower design could reach at best. Not in the table; for runs by hand
/// (`serve __server accept SOCKET`, see `layer/core/performance.md`).
fn accept_floor(path: &Path) {
    let l = UnixListener::bind(path).unwrap();
    for _ in 0..POOL_FLOOR_THREADS {
        let l = l.try_clone().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                canned(s);
            }
        });
    }
}

/// Starts `kind` as a child process on `sock` and waits until it answers.
fn start_server(kind: &str, sock: &Path) -> Daemon {
    let child = Command::new(std::env::current_exe().unwrap())
        .arg("__server")
        .arg(kind)
        .arg(sock)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_health(sock);
    Daemon { child }
}

fn wait_health(sock: &Path) {
    let t = Instant::now();
    let mut buf = Vec::new();
    while !one(sock, HEALTH_REQ, &mut buf) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "a server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "__server" {
        run_server(&args[2], Path::new(&args[3]));
    }
    if args.len() == 5 && args[1] == "__load" {
        // `serve __load SOCKET C SECONDS`: only the load generator on `/health`, for profiling
        // a server by hand.
        let c = args[3].parse().unwrap();
        let dur = Duration::from_secs_f64(args[4].parse().unwrap());
        let mut r = load(Path::new(&args[2]), &[HEALTH_REQ.to_vec()], c, dur);
        let (p50, p99) = (r.pct(0.5), r.pct(0.99));
        println!(
            "{:.0} req/s, p50 {p50:.3} ms, p99 {p99:.3} ms, errors {}",
            r.rps(),
            r.errors
        );
        return;
    }
    if args.len() == 4 && args[1] == "__cold" {
        // `serve __cold SOCKET N`: per query, the p50 of N cold requests (as the full run
        // measures them), for profiling a running daemon by hand.
        let n: usize = args[3].parse().unwrap();
        let tag = std::process::id();
        let mut buf = Vec::new();
        for q in QUERIES {
            let mut cold = Run::default();
            for i in 0..n {
                let req = scry_request(&format!("{q} zqx{tag}x{i}nowhere"));
                let t0 = Instant::now();
                if one(Path::new(&args[2]), &req, &mut buf) {
                    cold.lat_us.push(t0.elapsed().as_micros() as u32);
                }
            }
            println!("{q:<16} cold p50 {:.3} ms", cold.pct(0.5));
        }
        return;
    }
    let t_all = Instant::now();
    let health_only = std::env::args().any(|a| a == "--health-only");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let arg: Option<PathBuf> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from);
    let source = arg.or_else(|| {
        let p = manifest.join("../shared/corpora/patina-layer");
        p.is_dir().then_some(p)
    });
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("corpus");
    // The word `generated` instead of a path asks for the generated corpus.
    let source = source.filter(|p| p.as_os_str() != "generated");
    let corpus_bytes = match &source {
        Some(src) => copy_dir(src, &project),
        None => generate_corpus(&project),
    };
    let corpus_name = source
        .as_ref()
        .map_or("generated".to_string(), |p| p.display().to_string());
    let files = count_files(&project);
    println!(
        "corpus: {corpus_name} ({files} files, {:.1} MB), copied to a temp dir",
        corpus_bytes as f64 / 1e6
    );

    // Scrape: full, then a no-op re-scrape.
    let home = tmp.path().join("home");
    let (full_s, full_bytes) = scrape(&home, &project);
    let (noop_s, _) = scrape(&home, &project);
    let mbps = full_bytes as f64 / 1e6 / full_s;
    println!(
        "scrape: full {full_s:.3} s ({mbps:.1} MB/s), no-op re-scrape {:.0} ms",
        noop_s * 1000.0
    );

    // The servers.
    let spawn_sock = tmp.path().join("spawn.sock");
    let pool_sock = tmp.path().join("pool.sock");
    let axum_sock = tmp.path().join("axum.sock");
    let servers = [
        start_server("spawn", &spawn_sock),
        start_server("pool", &pool_sock),
        start_server("axum", &axum_sock),
    ];
    let log = std::fs::File::create(tmp.path().join("serve.log")).unwrap();
    let daemon = Daemon {
        child: patina(&home)
            .arg("serve")
            .arg("--project")
            .arg(&project)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    };
    let pid = daemon.child.id();
    let sock = home.join("run/serve.sock");
    wait_health(&sock);
    let mut buf = Vec::new();
    let scry_reqs: Vec<Vec<u8>> = QUERIES.iter().map(|q| scry_request(q)).collect();
    assert!(one(&sock, &scry_reqs[0], &mut buf), "scry failed");
    std::thread::sleep(Duration::from_millis(300));
    let (idle_rss, idle_threads) = rss_threads(pid);

    // The baseline daemon, when asked for: an older build, its own home, the same project.
    let base_home = tmp.path().join("base-home");
    let base_sock = base_home.join("run/serve.sock");
    let baseline = std::env::var_os("PATINA_BENCH_BASELINE").map(|bin| {
        let log = std::fs::File::create(tmp.path().join("base.log")).unwrap();
        let d = Daemon {
            child: Command::new(bin)
                .env("PATINA_HOME", &base_home)
                .env_remove("PATINA_IDENTITY")
                .env_remove("PATINA_SERVE_TOKEN")
                .env_remove("PATINA_URL")
                .arg("serve")
                .arg("--project")
                .arg(&project)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        };
        wait_health(&base_sock);
        d
    });

    // /health, alternated.
    let mut names = vec!["spawn floor", "pool floor", "axum", "patina"];
    let mut socks = vec![&spawn_sock, &pool_sock, &axum_sock, &sock];
    let mut pids = vec![
        servers[0].child.id(),
        servers[1].child.id(),
        servers[2].child.id(),
        pid,
    ];
    if let Some(b) = &baseline {
        names.push("baseline");
        socks.push(&base_sock);
        pids.push(b.child.id());
    }
    let health = vec![HEALTH_REQ.to_vec()];
    let mut results: Vec<Vec<Run>> = vec![vec![Run::default(); LEVELS.len()]; names.len()];
    let mut after_health = (0, 0);
    for (li, &c) in LEVELS.iter().enumerate() {
        for _ in 0..ROUNDS {
            for (si, s) in socks.iter().enumerate() {
                let cpu0 = cpu_secs(pids[si]);
                let mut r = load(s, &health, c, RUN);
                r.cpu_s = cpu_secs(pids[si]) - cpu0;
                results[si][li].merge(r);
                if si == 3 && c == 64 {
                    after_health = rss_threads(pid);
                }
            }
        }
    }

    // /api/scry over the socket at each level (alone: nothing to alternate with).
    let mut scry: Vec<Run> = Vec::new();
    for &c in LEVELS.iter().filter(|_| !health_only) {
        let mut r = Run::default();
        for _ in 0..ROUNDS {
            let cpu0 = cpu_secs(pid);
            let mut one_run = load(&sock, &scry_reqs, c, RUN);
            one_run.cpu_s = cpu_secs(pid) - cpu0;
            r.merge(one_run);
        }
        scry.push(r);
    }
    let after_scry = rss_threads(pid);

    // Per query: scry p50 (sequential) against grep.
    let mut per_query = Vec::new();
    for (q, req) in QUERIES.iter().zip(&scry_reqs).filter(|_| !health_only) {
        let mut r = Run::default();
        for _ in 0..PER_QUERY_REPS {
            let t0 = Instant::now();
            if one(&sock, req, &mut buf) {
                r.ok += 1;
                r.lat_us.push(t0.elapsed().as_micros() as u32);
            }
        }
        let scry_ms = r.pct(0.5);
        // Cold: the same query made unique by a word found nowhere, so no cached answer
        // applies and the search itself runs (the extra word costs one vocabulary lookup).
        let mut cold = Run::default();
        for n in 0..PER_QUERY_REPS / 2 {
            let unique = scry_request(&format!("{q} zqx{n}nowhere"));
            let t0 = Instant::now();
            if one(&sock, &unique, &mut buf) {
                cold.lat_us.push(t0.elapsed().as_micros() as u32);
            }
        }
        let grep_ms = grep_secs(&project, q) * 1000.0;
        per_query.push((*q, scry_ms, cold.pct(0.5), grep_ms));
    }
    drop(daemon);

    // Report.
    println!();
    println!("GET /health, new connection per request, req/s (p50 / p99 ms):");
    print!("{:<14}", "server");
    for c in LEVELS {
        print!("{:>28}", format!("c={c}"));
    }
    println!();
    let mut json_servers = serde_json::Map::new();
    for (si, name) in names.iter().enumerate() {
        print!("{name:<14}");
        let mut levels = serde_json::Map::new();
        for (li, c) in LEVELS.iter().enumerate() {
            let r = &mut results[si][li];
            let (p50, p99) = (r.pct(0.5), r.pct(0.99));
            print!("{:>28}", format!("{:.0} ({p50:.3} / {p99:.3})", r.rps()));
            levels.insert(
                format!("c{c}"),
                serde_json::json!({"rps": r.rps(), "p50_ms": p50, "p99_ms": p99, "cpu_us_per_req": r.cpu_us(), "errors": r.errors}),
            );
        }
        println!();
        json_servers.insert(name.replace(' ', "_"), levels.into());
    }
    println!("server CPU per request, µs (user + system, from /proc):");
    for (name, runs) in names.iter().zip(&results) {
        print!("{name:<14}");
        for r in runs {
            print!("{:>28}", format!("{:.1}", r.cpu_us()));
        }
        println!();
    }
    let mut checks: Vec<(String, bool)> = Vec::new();
    let mut ratios = serde_json::Map::new();
    print!("{:<14}", "patina/pool");
    for (li, c) in LEVELS.iter().enumerate() {
        let v = results[3][li].rps() / results[1][li].rps();
        print!("{:>28}", format!("{v:.2}"));
        ratios.insert(format!("patina_over_pool_c{c}"), v.into());
        checks.push((
            format!("/health c={c}: patina >= 0.8x pool floor ({v:.2})"),
            v >= 0.8,
        ));
    }
    println!();
    print!("{:<14}", "patina/axum");
    for (li, c) in LEVELS.iter().enumerate() {
        let v = results[3][li].rps() / results[2][li].rps();
        print!("{:>28}", format!("{v:.2}"));
        ratios.insert(format!("patina_over_axum_c{c}"), v.into());
        if *c >= 8 {
            checks.push((
                format!("/health c={c}: patina >= 1.3x axum ({v:.2})"),
                v >= 1.3,
            ));
        }
    }
    println!();
    let (pp99, ap99) = (results[3][2].pct(0.99), results[2][2].pct(0.99));
    checks.push((
        format!("/health c=64: patina p99 <= axum p99 ({pp99:.3} vs {ap99:.3} ms)"),
        pp99 <= ap99,
    ));
    if baseline.is_some() {
        for (label, other) in [("baseline/pool", 1), ("baseline/axum", 2)] {
            print!("{label:<14}");
            for (li, c) in LEVELS.iter().enumerate() {
                let v = results[4][li].rps() / results[other][li].rps();
                print!("{:>28}", format!("{v:.2}"));
                ratios.insert(format!("{}_c{c}", label.replace('/', "_over_")), v.into());
            }
            println!();
        }
    }
    let errors: u64 = results.iter().flatten().map(|r| r.errors).sum();
    println!("(non-200 or failed requests across all /health runs: {errors})");
    drop(baseline);

    if health_only {
        println!("load average: {}", loadavg());
        println!();
        println!("targets:");
        for (what, ok) in &checks {
            println!("  [{}] {what}", if *ok { "met" } else { "MISSED" });
        }
        println!("(bench took {:.0} s)", t_all.elapsed().as_secs_f64());
        let json = serde_json::json!({"health": json_servers, "ratios": ratios, "load": loadavg()});
        println!("{json}");
        return;
    }
    println!();
    println!(
        "POST /api/scry over the socket ({} queries, limit 10):",
        QUERIES.len()
    );
    let mut json_scry = serde_json::Map::new();
    for (li, c) in LEVELS.iter().enumerate() {
        let r = &mut scry[li];
        let (p50, p99) = (r.pct(0.5), r.pct(0.99));
        println!(
            "  c={c:<3} {:>8.0} req/s  p50 {p50:.3} ms  p99 {p99:.3} ms  cpu {:.0} µs/req  errors {}",
            r.rps(),
            r.cpu_us(),
            r.errors
        );
        json_scry.insert(
            format!("c{c}"),
            serde_json::json!({"rps": r.rps(), "p50_ms": p50, "p99_ms": p99, "errors": r.errors}),
        );
    }
    let scry_p50_c1 = scry[0].pct(0.5);
    checks.push((
        format!("/api/scry c=1: p50 <= 1 ms ({scry_p50_c1:.3} ms)"),
        scry_p50_c1 <= 1.0,
    ));
    println!(
        "  per query, sequential, p50: scry repeated (answered from the result cache), scry cold (a unique query each time: the search runs), `grep -rci` over the same files"
    );
    let mut json_q = Vec::new();
    let (mut worst, mut worst_cold) = (f64::INFINITY, f64::INFINITY);
    for (q, s, c, g) in &per_query {
        let (x, xc) = (g / s, g / c);
        worst = worst.min(x);
        worst_cold = worst_cold.min(xc);
        println!(
            "    {q:<16} repeated {s:>7.3} ms ({x:>4.0}x)   cold {c:>7.3} ms ({xc:>4.0}x)   grep {g:>7.2} ms"
        );
        json_q.push(serde_json::json!({"query": q, "scry_p50_ms": s, "scry_cold_p50_ms": c, "grep_ms": g, "speedup": x, "speedup_cold": xc}));
    }
    checks.push((
        format!("/api/scry: >= 50x faster than grep on every query, repeated (worst {worst:.0}x)"),
        worst >= 50.0,
    ));
    checks.push((
        format!("/api/scry: >= 50x faster than grep on every query, cold (worst {worst_cold:.0}x)"),
        worst_cold >= 50.0,
    ));
    checks.push((
        format!("no-op re-scrape <= 200 ms ({:.0} ms)", noop_s * 1000.0),
        noop_s <= 0.2,
    ));

    let mib = |kib: u64| kib as f64 / 1024.0;
    println!();
    println!(
        "patina RSS: idle (index open) {:.1} MiB, {idle_threads} threads; after c=64 /health {:.1} MiB, {} threads; after c=64 /api/scry {:.1} MiB, {} threads",
        mib(idle_rss),
        mib(after_health.0),
        after_health.1,
        mib(after_scry.0),
        after_scry.1
    );
    checks.push((
        format!("idle RSS <= 12 MiB ({:.1} MiB)", mib(idle_rss)),
        mib(idle_rss) <= 12.0,
    ));
    let after = after_health.0.max(after_scry.0);
    checks.push((
        format!("RSS after c=64 <= 24 MiB ({:.1} MiB)", mib(after)),
        mib(after) <= 24.0,
    ));

    println!("load average: {}", loadavg());
    println!();
    println!("targets:");
    for (what, ok) in &checks {
        println!("  [{}] {what}", if *ok { "met" } else { "MISSED" });
    }
    println!("(bench took {:.0} s)", t_all.elapsed().as_secs_f64());
    let json = serde_json::json!({
        "load": loadavg(),
        "corpus": corpus_name,
        "corpus_files": files,
        "corpus_mb": corpus_bytes as f64 / 1e6,
        "health": json_servers,
        "ratios": ratios,
        "scry": json_scry,
        "scry_vs_grep": json_q,
        "scrape": {"full_s": full_s, "full_mb_per_s": mbps, "noop_ms": noop_s * 1000.0},
        "rss_mib": {"idle": mib(idle_rss), "after_c64_health": mib(after_health.0), "after_c64_scry": mib(after_scry.0)},
        "threads": {"idle": idle_threads, "after_c64": after_scry.1},
        "targets": checks.iter().map(|(w, ok)| serde_json::json!({"target": w, "met": ok})).collect::<Vec<_>>(),
    });
    println!("{json}");
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes): the machine's load
/// beside the figures, since req/s swings with it.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn count_files(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            n += count_files(&e.path());
        } else if ft.is_file() {
            n += 1;
        }
    }
    n
}
