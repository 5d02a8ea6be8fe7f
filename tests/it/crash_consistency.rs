//! Crash consistency of every file patina writes (issue 19, part 2): a writer killed at any
//! step leaves the file old or new, never partial or empty; the next command works; no file
//! readable by others ever appears, even for a moment; a full disk fails the write in one
//! clear line and leaves the old file as it was.
//!
//! Two ways to kill: deterministic, through the `fault-injection` build's
//! `PATINA_FAULT_ABORT=<step>:<n>:<file>` (the process aborts at that step of its atomic
//! write: see `fsutil::fault`), at every step of every file; and random, `SIGKILL` after a
//! random delay within one write's measured duration. `PATINA_CRASH_ROUNDS=N` sets the random
//! rounds per writer (default 8, or 200 with `PATINA_TEST_LONG=1`, the long run in
//! `layer/core/reliability.md`).
//!
//! The full-disk tests mount a small tmpfs (we run as root, as CI does); a sandbox that
//! refuses `mount` fails them with a message saying so, it does not skip them.

use crate::common::secrets as secrets_common;

use patina::paths::Home;
use patina::secrets::{Identity, VaultLocation, vault};
use secrets_common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The steps of an atomic write, in order (`fsutil::fault`).
const STEPS: &[&str] = &[
    "created",
    "half-written",
    "written",
    "synced",
    "before-rename",
    "renamed",
    "dir-synced",
];

/// A command's arguments and its stdin.
type Invocation = (Vec<String>, Vec<u8>);

/// One writer under test: how to give the file an old version, the command that writes the
/// new one, and what "old or new" means for it.
struct Writer {
    name: &'static str,
    /// The files the command writes (each is crashed at every step, one at a time).
    files: fn(&World) -> Vec<PathBuf>,
    /// Gives the files their old version (may leave one absent).
    setup: fn(&World),
    /// The write under test, with its stdin; `round` makes each call distinct where needed.
    write: fn(&World, usize) -> Invocation,
    /// After a crash: `Err` when the state is neither old nor new, or unusable.
    check: fn(&World, usize) -> Result<(), String>,
    /// The command's job is to refuse (exit 1) after writing its file (the tripwire alert
    /// of a refused release): success is that refusal.
    refuses: bool,
}

/// Whether `o` is the writer's normal outcome.
fn done(wr: &Writer, o: &Output) -> bool {
    o.status.success()
        || (wr.refuses
            && o.status.code() == Some(1)
            && String::from_utf8_lossy(&o.stderr).contains("nothing was run"))
}

fn id(w: &World) -> Identity {
    Identity::parse(w.identity.as_bytes()).unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

/// A second recipient (public key only), made at run time.
fn other_recipient() -> String {
    Identity::generate().recipient()
}

fn value_of(w: &World, loc: &VaultLocation, name: &str) -> Result<Option<String>, String> {
    let v = vault::open(&Home::at(w.home()), loc, &id(w))
        .map_err(|e| format!("vault does not open: {e:#}"))?
        .ok_or("vault missing")?;
    Ok(v.get(name).map(|x| x.expose().to_string()))
}

fn check_vault(w: &World, loc: &VaultLocation) -> Result<(), String> {
    match value_of(w, loc, "k")?.as_deref() {
        Some("old-value") | Some("new-value") => {}
        other => {
            return Err(format!(
                "k is {:?}, neither old nor new",
                other.map(str::len)
            ));
        }
    }
    vault::list(&Home::at(w.home()), loc).map_err(|e| format!("list fails: {e:#}"))?;
    Ok(())
}

fn read(p: &Path) -> Option<Vec<u8>> {
    std::fs::read(p).ok()
}

fn writers() -> Vec<Writer> {
    vec![
        Writer {
            name: "global vault (secrets add)",
            refuses: false,
            files: |w| vec![w.home().join("secrets.toml"), w.home().join("vault.age")],
            setup: |w| w.add("k", "old-value", &[]),
            write: |_, _| {
                (
                    s(&["secrets", "add", "k", "--stdin", "--replace"]),
                    b"new-value".to_vec(),
                )
            },
            check: |w, _| check_vault(w, &VaultLocation::Global),
        },
        Writer {
            name: "project vault (secrets add --project)",
            refuses: false,
            files: |w| {
                let d = w.work().join(".patina");
                vec![d.join("secrets.toml"), d.join("vault.age")]
            },
            setup: |w| w.add("k", "old-value", &["--project"]),
            write: |_, _| {
                (
                    s(&["secrets", "add", "k", "--stdin", "--project", "--replace"]),
                    b"new-value".to_vec(),
                )
            },
            check: |w, _| check_vault(w, &VaultLocation::Project(w.work())),
        },
        Writer {
            name: "recipients (secrets recipients add)",
            refuses: false,
            files: |w| vec![w.home().join("recipients.txt"), w.home().join("vault.age")],
            setup: |w| w.add("k", "old-value", &[]),
            write: |_, _| {
                (
                    s(&["secrets", "recipients", "add", &other_recipient()]),
                    vec![],
                )
            },
            check: |w, _| {
                if value_of(w, &VaultLocation::Global, "k")?.as_deref() != Some("old-value") {
                    return Err("k lost its value".into());
                }
                let text = std::fs::read_to_string(w.home().join("recipients.txt"))
                    .map_err(|e| format!("recipients.txt: {e}"))?;
                let keys = text.lines().filter(|l| l.starts_with("age1")).count();
                if keys == 0 {
                    return Err("recipients.txt lists no recipient".into());
                }
                Ok(())
            },
        },
        Writer {
            name: "identity file (secrets identity export --out)",
            refuses: false,
            files: |w| vec![w.work().join("exported.key")],
            setup: |_| {},
            write: |w, _| {
                let out = w.work().join("exported.key");
                (
                    s(&[
                        "secrets",
                        "identity",
                        "export",
                        "--out",
                        out.to_str().unwrap(),
                    ]),
                    vec![],
                )
            },
            check: |w, _| match read(&w.work().join("exported.key")) {
                None => Ok(()),
                Some(b) => Identity::parse(&b)
                    .map(drop)
                    .map_err(|e| format!("a partial identity file: {e}")),
            },
        },
        Writer {
            name: "age-key file (auth server-key)",
            refuses: false,
            files: |w| vec![w.home().join("auth/server.key")],
            setup: |_| {},
            write: |_, _| (s(&["auth", "server-key"]), vec![]),
            check: |w, _| match read(&w.home().join("auth/server.key")) {
                None => Ok(()),
                Some(_) => patina::auth::keys::load_key(&w.home().join("auth/server.key"))
                    .map_err(|e| format!("a partial key file: {e:#}"))
                    .and_then(|k| k.map(drop).ok_or_else(|| "no key".to_string())),
            },
        },
        Writer {
            name: "allowed clients (auth allow)",
            refuses: false,
            files: |w| vec![w.home().join("auth/allowed.txt")],
            setup: |w| {
                let o = w.run(
                    &["auth", "allow", "--name", "base", &other_recipient()],
                    b"",
                );
                assert!(o.status.success(), "{}", show(&o));
            },
            write: |_, round| {
                let name = format!("c{round}");
                (
                    s(&["auth", "allow", "--name", &name, &other_recipient()]),
                    vec![],
                )
            },
            check: |w, _| {
                let text = std::fs::read_to_string(w.home().join("auth/allowed.txt"))
                    .map_err(|e| format!("allowed.txt: {e}"))?;
                if !text.lines().any(|l| l.starts_with("base age1")) {
                    return Err("the old entry is gone".into());
                }
                if text
                    .lines()
                    .any(|l| !l.starts_with('#') && l.split_whitespace().count() != 2)
                {
                    return Err("a torn line".into());
                }
                Ok(())
            },
        },
        Writer {
            name: "registry (mother add)",
            refuses: false,
            files: |w| vec![w.home().join("mother.json")],
            setup: |w| {
                std::fs::create_dir_all(w.work().join("base")).unwrap();
                let o = w.run(&["mother", "add", "base", "--no-scrape"], b"");
                assert!(o.status.success(), "{}", show(&o));
            },
            write: |w, round| {
                let name = format!("p{round}");
                std::fs::create_dir_all(w.work().join(&name)).unwrap();
                (s(&["mother", "add", &name, "--no-scrape"]), vec![])
            },
            check: check_registry,
        },
        Writer {
            name: "peer token (mother peer add)",
            refuses: false,
            files: |w| {
                // The round's token file is named for the peer; the registry is shared.
                vec![
                    w.home().join("mother.json"),
                    w.home().join("auth/peers/q0.token"),
                ]
            },
            setup: |w| {
                std::fs::create_dir_all(w.work().join("base")).unwrap();
                let o = w.run(&["mother", "add", "base", "--no-scrape"], b"");
                assert!(o.status.success(), "{}", show(&o));
            },
            write: |_, round| {
                let name = format!("q{round}");
                (
                    s(&["mother", "peer", "add", &name, "http://127.0.0.1:9"]),
                    b"peer-token-value-0123456789".to_vec(),
                )
            },
            check: |w, round| {
                check_registry(w, round)?;
                let t = w.home().join(format!("auth/peers/q{round}.token"));
                match read(&t) {
                    None => Ok(()),
                    Some(b) if b.starts_with(b"peer-token-value-0123456789") => Ok(()),
                    Some(b) => Err(format!("a partial peer token ({} bytes)", b.len())),
                }
            },
        },
        Writer {
            name: "tripwire alert (secrets run of a canary's bait)",
            refuses: true,
            files: |w| vec![w.home().join("alert.json")],
            setup: |w| {
                w.add(
                    "bait",
                    "canary-value-0123456789",
                    &["--canary", "--allow", "deploy.sh"],
                );
                // An ordinary run: the audit log exists before the write under test.
                let o = w.run(&["secrets", "run", "--", "true"], b"");
                assert!(o.status.success(), "{}", show(&o));
            },
            write: |_, _| (s(&["secrets", "run", "--", "deploy.sh"]), vec![]),
            check: |w, _| match read(&w.home().join("alert.json")) {
                None => Ok(()),
                Some(b) => serde_json::from_slice::<patina::tripwire::Alert>(&b)
                    .map(drop)
                    .map_err(|_| "a partial alert file".to_string()),
            },
        },
        Writer {
            name: "bearer token (token rotate)",
            refuses: false,
            files: |w| vec![w.home().join("run/serve.token")],
            setup: |w| {
                let o = w.run(&["token", "rotate"], b"");
                assert!(o.status.success(), "{}", show(&o));
            },
            write: |_, _| (s(&["token", "rotate"]), vec![]),
            check: |w, _| {
                patina::auth::token::read_token(&w.home().join("run/serve.token"))
                    .map_err(|e| format!("token unreadable: {e:#}"))?
                    .map(drop)
                    .ok_or_else(|| "token file gone".to_string())
            },
        },
    ]
}

fn check_registry(w: &World, _round: usize) -> Result<(), String> {
    let text = std::fs::read(w.home().join("mother.json")).map_err(|e| format!("{e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|_| "mother.json is not JSON".to_string())?;
    if !v.to_string().contains("\"base\"") {
        return Err("the old project is gone from mother.json".into());
    }
    Ok(())
}

/// Runs the writer's command; with `fault`, under `PATINA_FAULT_ABORT`.
fn run_write(w: &World, wr: &Writer, round: usize, fault: Option<String>) -> Output {
    let (args, input) = (wr.write)(w, round);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = w.cmd(&args);
    if let Some(f) = fault {
        c.env("PATINA_FAULT_ABORT", f);
    }
    run_with_input(c, &input)
}

/// Every file under `roots` with a group or other permission bit (temporary files included).
fn loose_files(roots: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(p) = stack.pop() {
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            if md.permissions().mode() & 0o077 != 0 && p.ends_with(".patina") {
                out.push(format!("{} {:o}", p.display(), md.permissions().mode()));
            }
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if md.permissions().mode() & 0o077 != 0 {
            out.push(format!(
                "{} {:o}",
                p.display(),
                md.permissions().mode() & 0o777
            ));
        }
    }
    out
}

fn private_roots(w: &World) -> Vec<PathBuf> {
    vec![
        w.home(),
        w.work().join(".patina"),
        w.work().join("exported.key"),
    ]
}

/// Deterministic: for every writer, every file it writes and every step of that file's
/// atomic write, the process aborts there; the state is then old or new, no loose file
/// exists, and running the write again succeeds.
#[test]
fn a_writer_aborted_at_every_step_of_every_file_leaves_old_or_new() {
    // One thread per writer: each crash is a few short processes.
    let crashes: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = writers()
            .into_iter()
            .map(|wr| scope.spawn(move || crash_every_step(&wr)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(crashes >= 70, "only {crashes} crashes");
}

/// [`a_writer_aborted_at_every_step_of_every_file_leaves_old_or_new`] for one writer: the
/// number of crashes made.
fn crash_every_step(wr: &Writer) -> usize {
    let mut crashes = 0;
    {
        for file_idx in 0..(wr.files)(&World::new()).len() {
            for step in STEPS {
                let w = World::new();
                (wr.setup)(&w);
                let file = (wr.files)(&w)[file_idx].clone();
                let fname = file.file_name().unwrap().to_str().unwrap().to_string();
                let before = read(&file);
                let o = run_write(&w, wr, 0, Some(format!("{step}:1:{fname}")));
                assert_eq!(
                    o.status.signal(),
                    Some(6),
                    "{}: {fname} at {step}: the abort was not reached: {}",
                    wr.name,
                    show(&o)
                );
                crashes += 1;
                let after = read(&file);
                if matches!(
                    *step,
                    "created" | "half-written" | "written" | "synced" | "before-rename"
                ) {
                    assert_eq!(
                        after, before,
                        "{}: {fname} changed before its rename",
                        wr.name
                    );
                } else {
                    assert_ne!(after, None, "{}: {fname} missing after its rename", wr.name);
                }
                (wr.check)(&w, 0).unwrap_or_else(|e| panic!("{}: {fname} at {step}: {e}", wr.name));
                let loose = loose_files(&private_roots(&w));
                assert!(
                    loose.is_empty(),
                    "{}: readable by others: {loose:?}",
                    wr.name
                );
                // The next command works, and the state is then the new one.
                let o = run_write(&w, wr, 1, None);
                let again_ok =
                    done(wr, &o) || String::from_utf8_lossy(&o.stderr).contains("already exists");
                assert!(
                    again_ok,
                    "{}: after a crash at {step}: {}",
                    wr.name,
                    show(&o)
                );
                (wr.check)(&w, 1).unwrap_or_else(|e| panic!("{}: after the rerun: {e}", wr.name));
                // The crashed write's temporary file is gone once the same file was written
                // again (the peer token's rerun writes another peer's file).
                if o.status.success() && fname != "q0.token" {
                    let temp = format!(".{fname}.tmp.");
                    let temps: Vec<_> = std::fs::read_dir(file.parent().unwrap())
                        .unwrap()
                        .flatten()
                        .filter(|e| e.file_name().to_string_lossy().starts_with(&temp))
                        .map(|e| e.file_name())
                        .collect();
                    assert!(
                        temps.is_empty(),
                        "{}: stale temporary files: {temps:?}",
                        wr.name
                    );
                }
            }
        }
    }
    crashes
}

/// A small xorshift PRNG (the seed is printed, so a failure can be replayed).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// `patina scry walrus --json --project PROJ`, as each scrape test checks its index with.
fn scry_walrus(w: &World, proj: &std::path::Path) -> std::process::Output {
    run_with_input(
        w.cmd(&[
            "scry",
            "walrus",
            "--json",
            "--project",
            proj.to_str().unwrap(),
        ]),
        b"",
    )
}

/// Random rounds per writer: `PATINA_CRASH_ROUNDS`, else 200 with `PATINA_TEST_LONG` set, else
/// 8.
fn crash_rounds() -> usize {
    std::env::var("PATINA_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| crate::common::long_run(8, 200))
}

/// Random: for every writer, SIGKILL at a random moment within one write's measured
/// duration, many times, while another thread scans the private directories for any file
/// readable by others; after each kill the state is old or new and the next write works.
#[test]
fn sigkill_at_random_moments_leaves_old_or_new_and_nothing_readable() {
    let rounds = crash_rounds();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let mut kills = 0;
    for wr in writers() {
        let w = World::new();
        (wr.setup)(&w);
        // How long one write takes here.
        let t = Instant::now();
        let o = run_write(&w, &wr, 10_000, None);
        assert!(done(&wr, &o), "{}: {}", wr.name, show(&o));
        let span = t.elapsed().as_micros() as u64;
        let w = World::new();
        (wr.setup)(&w);
        let stop = Arc::new(AtomicBool::new(false));
        let roots = private_roots(&w);
        let watcher = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.extend(loose_files(&roots));
                }
                seen
            })
        };
        for round in 0..rounds {
            let (args, input) = (wr.write)(&w, round);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut c = w.cmd(&args);
            c.stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = c.spawn().unwrap();
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().unwrap();
                let _ = stdin.write_all(&input);
            }
            std::thread::sleep(Duration::from_micros(rng.below(span)));
            let _ = child.kill();
            let _ = child.wait();
            kills += 1;
            (wr.check)(&w, round)
                .unwrap_or_else(|e| panic!("{} round {round} (seed {seed}): {e}", wr.name));
        }
        stop.store(true, Ordering::Relaxed);
        let seen = watcher.join().unwrap();
        assert!(
            seen.is_empty(),
            "{}: readable by others at some moment: {seen:?}",
            wr.name
        );
        let o = run_write(&w, &wr, rounds + 1, None);
        let ok = done(&wr, &o) || String::from_utf8_lossy(&o.stderr).contains("already exists");
        assert!(ok, "{}: the next write fails: {}", wr.name, show(&o));
        (wr.check)(&w, rounds + 1).unwrap();
    }
    eprintln!("{kills} kills");
}

/// A scrape killed at random moments leaves an index the next scry and scrape use: the
/// index is SQLite in WAL mode, written in one transaction per scrape.
#[test]
fn a_scrape_killed_at_random_moments_leaves_a_usable_index() {
    let rounds = crash_rounds();
    let w = World::new();
    let proj = w.work().join("proj");
    for i in 0..40 {
        let p = proj.join(format!("layer/note{i:02}.md"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            format!("# Note {i}\n\nthe walrus number {i} keeps notes\n"),
        )
        .unwrap();
    }
    let scrape = |w: &World| w.cmd(&["scrape", proj.to_str().unwrap()]);
    let t = Instant::now();
    let o = run_with_input(scrape(&w), b"");
    assert!(o.status.success(), "{}", show(&o));
    let span = t.elapsed().as_micros() as u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..rounds {
        // Change a file so each scrape has work to commit.
        std::fs::write(
            proj.join(format!("layer/note{:02}.md", round % 40)),
            format!("# Note {round}\n\nthe walrus edit {round} is new\n"),
        )
        .unwrap();
        let mut child = scrape(&w)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(span)));
        let _ = child.kill();
        let _ = child.wait();
        let o = scry_walrus(&w, &proj);
        assert!(
            o.status.success(),
            "round {round}: scry after a killed scrape: {}",
            show(&o)
        );
        let loose = loose_files(&[proj.join(".patina")]);
        assert!(loose.is_empty(), "readable by others: {loose:?}");
    }
    let o = run_with_input(scrape(&w), b"");
    assert!(o.status.success(), "the next scrape: {}", show(&o));
}

/// The audit log is append-only: a last line torn by a killed writer or a full disk must
/// not swallow the next record, and the torn line must not break reading the log.
#[test]
fn a_torn_last_audit_line_does_not_break_the_next_append_or_read() {
    let w = World::new();
    w.add("k", "some-value", &[]);
    let run = |w: &World| {
        let o = w.run(&["secrets", "run", "--", "true"], b"");
        assert!(o.status.success(), "{}", show(&o));
    };
    run(&w);
    let log = w.home().join("audit.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, b"{\"time\":\"2026-01-01T00:00").unwrap();
    drop(f);
    run(&w);
    let o = w.run(&["session", "log", "--json"], b"");
    assert!(o.status.success(), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "run")
        .count();
    assert_eq!(runs, 2, "the record after the torn line was lost");
    assert_eq!(mode(&log) & 0o077, 0);
}

// ---- Full disk ---------------------------------------------------------------------------

/// A tmpfs of `size` mounted at `dir` (mode 0700) for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("running mount(8)");
        assert!(
            o.status.success(),
            "cannot mount a tmpfs at {} (these tests need root and mount(2), as CI has): {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }

    /// Fills the file system to the last byte; the returned path frees it when removed.
    fn fill(&self) -> PathBuf {
        let p = self.0.join("zz-filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let block = vec![0u8; 4096];
        loop {
            if std::io::Write::write_all(&mut f, &block).is_err() {
                break;
            }
        }
        for _ in 0..4096 {
            if std::io::Write::write_all(&mut f, &block[..1]).is_err() {
                break;
            }
        }
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Each writer on a full disk: the command fails with one line naming the problem, every
/// file it writes is left exactly as it was, no temporary file is left behind, and once
/// space is freed the same command succeeds.
#[test]
fn a_full_disk_fails_each_write_in_one_line_and_keeps_the_old_file() {
    for wr in writers() {
        let w = World::new();
        let _home = Tmpfs::mount(&w.home(), "1m");
        let _work = Tmpfs::mount(&w.work(), "1m");
        (wr.setup)(&w);
        let files = (wr.files)(&w);
        let before: Vec<_> = files.iter().map(|f| read(f)).collect();
        let dir_before = listing(&w);
        let fillers = [_home.fill(), _work.fill()];
        let o = run_write(&w, &wr, 0, None);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            !o.status.success(),
            "{}: succeeded on a full disk: {}",
            wr.name,
            show(&o)
        );
        assert!(
            err.contains("No space left on device"),
            "{}: the error does not say the disk is full: {err}",
            wr.name
        );
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("patina: note:"))
            // A writer that also audits warns of the audit log's own failure on its line.
            .filter(|l| !(wr.refuses && l.starts_with("patina: warning: audit log")))
            .collect();
        assert_eq!(lines.len(), 1, "{}: not one line: {err}", wr.name);
        for (f, b) in files.iter().zip(&before) {
            assert_eq!(
                &read(f),
                b,
                "{}: {} changed on a full disk",
                wr.name,
                f.display()
            );
        }
        assert_eq!(listing(&w), dir_before, "{}: files left behind", wr.name);
        for f in &fillers {
            std::fs::remove_file(f).unwrap();
        }
        let o = run_write(&w, &wr, 1, None);
        assert!(done(&wr, &o), "{}: with space again: {}", wr.name, show(&o));
        (wr.check)(&w, 1).unwrap();
    }
}

/// The names of every file in the private trees and the work dir (without the fillers).
fn listing(w: &World) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![w.home(), w.work(), w.work().join("exported.key")];
    while let Some(p) = stack.pop() {
        if p.file_name().is_some_and(|n| n == "zz-filler") {
            continue;
        }
        match std::fs::read_dir(&p) {
            Ok(rd) => stack.extend(rd.flatten().map(|e| e.path())),
            Err(_) if p.exists() => out.push(p),
            Err(_) => {}
        }
    }
    out.sort();
    out
}

/// A scrape on a full disk fails in one line that says so, and the index it had is searched
/// as before once space is back; the next scrape then works.
#[test]
fn a_full_disk_fails_a_scrape_and_keeps_the_old_index() {
    let w = World::new();
    let proj = w.work().join("proj");
    let _fs = Tmpfs::mount(&proj, "2m");
    std::fs::create_dir_all(proj.join("layer")).unwrap();
    std::fs::write(proj.join("layer/a.md"), "# A\n\nthe walrus sleeps\n").unwrap();
    let scry = |w: &World| {
        let o = scry_walrus(w, &proj);
        assert!(o.status.success(), "{}", show(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["results"].clone()
    };
    let o = run_with_input(w.cmd(&["scrape", proj.to_str().unwrap()]), b"");
    assert!(o.status.success(), "{}", show(&o));
    let before = scry(&w);
    // Much new text, so the scrape must grow the index.
    for i in 0..200 {
        std::fs::write(
            proj.join(format!("layer/n{i}.md")),
            format!(
                "# N{i}\n\n{}\n",
                "walrus words grow the index quickly ".repeat(20)
            ),
        )
        .unwrap();
    }
    let filler = _fs.fill();
    let o = run_with_input(w.cmd(&["scrape", proj.to_str().unwrap()]), b"");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "a scrape succeeded on a full disk");
    assert!(
        err.contains("full") || err.contains("No space"),
        "the error does not say the disk is full: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    // Reading may need space too (SQLite grows the WAL index while opening): on the full
    // disk scry answers, or fails in one line that says why; once space is back the old
    // index answers as before.
    let o = run_with_input(
        w.cmd(&[
            "scry",
            "walrus",
            "--json",
            "--project",
            proj.to_str().unwrap(),
        ]),
        b"",
    );
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("No space left on device"),
            "scry on a full disk: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    }
    std::fs::remove_file(filler).unwrap();
    assert_eq!(scry(&w), before, "the index changed after a failed scrape");
    let o = run_with_input(w.cmd(&["scrape", proj.to_str().unwrap()]), b"");
    assert!(o.status.success(), "with space again: {}", show(&o));
}

/// The audit log on a full disk: the append fails with a warning (a lock must still work),
/// and the next append once space is back still gives a readable record.
#[test]
fn a_full_disk_during_an_audit_append_loses_no_later_record() {
    let w = World::new();
    let _fs = Tmpfs::mount(&w.home(), "1m");
    w.add("k", "some-value", &[]);
    let filler = _fs.fill();
    let o = w.run(&["secrets", "run", "--", "true"], b"");
    assert!(
        o.status.success(),
        "the command itself must still run: {}",
        show(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("audit log"),
        "no warning about the audit log: {}",
        show(&o)
    );
    std::fs::remove_file(filler).unwrap();
    let o = w.run(&["secrets", "run", "--", "true"], b"");
    assert!(o.status.success(), "{}", show(&o));
    let o = w.run(&["session", "log", "--json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "run"),
        "the record after the full disk was lost"
    );
}
