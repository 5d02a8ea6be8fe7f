//! The Unix-socket rules of requirements §3–§5 and cases 012, 014 and 016: the run directory, what
//! startup may remove at the socket path, the socket's mode from birth, the peer-uid check,
//! and a clean shutdown.

use crate::common;
use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Runs `patina serve` expecting it to refuse: exits non-zero within a few seconds.
fn serve_refuses(home: &Path, project: &Path) -> String {
    let out = run_timeout(
        patina(home).arg("serve").arg("--project").arg(project),
        Duration::from_secs(20),
    );
    assert!(
        !out.status.success(),
        "serve must refuse; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn fixture() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    (dir, home, project)
}

#[test]
fn run_dir_is_0700_socket_and_pid_file_0600_even_under_umask_000() {
    let (dir, home, project) = fixture();
    let log = dir.path().join("serve.log");
    let mut child = Reaper(
        Command::new("sh")
            .arg("-c")
            .arg("umask 000; exec \"$0\" serve --project \"$1\" 2>\"$2\"")
            .arg(bin())
            .arg(&project)
            .arg(&log)
            .env("PATINA_HOME", &home)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let sock = home.join("run/serve.sock");
    let t = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no daemon: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(mode(&home.join("run")), 0o700);
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(&home.join("run/serve.pid")), 0o600);
    assert_eq!(mode(&project.join(".patina")), 0o700);
    let me = rustix_uid();
    for p in [home.join("run"), sock.clone(), home.join("run/serve.pid")] {
        assert_eq!(std::fs::symlink_metadata(&p).unwrap().uid(), me);
    }
    signal(child.id(), "TERM");
    assert!(
        wait_timeout(&mut child.0, Duration::from_secs(15))
            .unwrap()
            .success()
    );
}

fn rustix_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn loose_symlinked_or_foreign_run_dirs_are_refused_and_left_untouched_case_014() {
    let (_dir, home, project) = fixture();
    let run = home.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    for m in [0o755, 0o750, 0o770, 0o777, 0o1777, 0o701] {
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(m)).unwrap();
        let err = serve_refuses(&home, &project);
        assert!(
            err.contains(&run.display().to_string()) && err.contains("chmod 700"),
            "{err}"
        );
        assert_eq!(mode(&run), m, "the mode is left as it was");
        assert!(!run.join("serve.sock").exists());
        // Refused before the first scrape: nothing written into the project (QA L1).
        assert!(
            !project.join(".patina").exists(),
            "the project was scraped before the refusal"
        );
    }
    // A symlink to a private directory: refused; the target is not touched.
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let real = home.join("run.real");
    std::fs::rename(&run, &real).unwrap();
    std::os::unix::fs::symlink(&real, &run).unwrap();
    let err = serve_refuses(&home, &project);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(
        std::fs::symlink_metadata(&run)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(mode(&real), 0o700);
    assert!(!real.join("serve.sock").exists());
    // A run directory owned by another uid.
    std::fs::remove_file(&run).unwrap();
    std::fs::rename(&real, &run).unwrap();
    std::os::unix::fs::chown(&run, Some(65534), None).unwrap();
    let err = serve_refuses(&home, &project);
    assert!(err.contains("owned by uid 65534"), "{err}");
    assert_eq!(std::fs::metadata(&run).unwrap().uid(), 65534);
}

#[test]
fn objects_at_the_socket_path_are_refused_and_left_untouched_case_012() {
    let (dir, home, project) = fixture();
    let run = home.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let sock = run.join("serve.sock");
    // A regular file.
    std::fs::write(&sock, "keep me\n").unwrap();
    let err = serve_refuses(&home, &project);
    assert!(
        err.contains("regular file") && err.contains(&sock.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&sock).unwrap(), "keep me\n");
    std::fs::remove_file(&sock).unwrap();
    // A symlink to a file, then a dangling one.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "victim\n").unwrap();
    std::os::unix::fs::symlink(&victim, &sock).unwrap();
    assert!(serve_refuses(&home, &project).contains("symbolic link"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim\n");
    assert!(
        std::fs::symlink_metadata(&sock)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    std::fs::remove_file(&sock).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone"), &sock).unwrap();
    assert!(serve_refuses(&home, &project).contains("symbolic link"));
    std::fs::remove_file(&sock).unwrap();
    // A directory.
    std::fs::create_dir(&sock).unwrap();
    assert!(serve_refuses(&home, &project).contains("directory"));
    std::fs::remove_dir(&sock).unwrap();
    // A live listener that is not patina.
    // (QA session 8, L3: named as what it is, not "a daemon is already running".)
    let foreign = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let err = serve_refuses(&home, &project);
    assert!(
        err.contains("not a patina daemon") && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(sock.exists());
    drop(foreign);
    // A dead socket owned by another uid.
    std::os::unix::fs::chown(&sock, Some(65534), None).unwrap();
    assert!(serve_refuses(&home, &project).contains("owned by uid 65534"));
    assert_eq!(std::fs::symlink_metadata(&sock).unwrap().uid(), 65534);
}

#[test]
fn stale_socket_of_a_killed_daemon_is_replaced_and_a_live_one_is_not() {
    let mut d = Daemon::start();
    let old_ino = std::fs::metadata(&d.socket).unwrap().ino();
    // A second serve while the first is live refuses; the first still answers.
    let err = serve_refuses(&d.home, &d.project);
    assert!(err.contains("already running"), "{err}");
    assert!(d.still_serving());
    // kill -9 leaves a stale socket; the next serve replaces it.
    signal(d.pid(), "KILL");
    let _ = d.child.wait();
    assert!(d.socket.exists(), "kill -9 leaves the socket behind");
    let home = d.home.clone();
    let project = d.project.clone();
    let mut d2 = {
        let dir = tempfile::tempdir().unwrap();
        Daemon::start_in(dir, home, project, &[])
    };
    // (The inode number may be reused by the filesystem, so the proof is the new pid.)
    let _ = old_ino;
    assert_eq!(
        std::fs::read_to_string(d2.home.join("run/serve.pid")).unwrap(),
        format!("{}\n", d2.pid())
    );
    assert!(d2.still_serving());
    assert!(d2.terminate().success());
}

#[test]
fn sigterm_and_sigint_remove_socket_and_pid_file_and_exit_0() {
    for sig in ["TERM", "INT"] {
        let mut d = Daemon::start();
        let pid_file = d.home.join("run/serve.pid");
        assert_eq!(
            std::fs::read_to_string(&pid_file).unwrap(),
            format!("{}\n", d.pid())
        );
        signal(d.pid(), sig);
        let st = wait_timeout(&mut d.child, Duration::from_secs(15)).expect("exits");
        assert!(st.success(), "SIG{sig} → exit 0, got {st:?}");
        assert!(!d.socket.exists(), "socket removed");
        assert!(!pid_file.exists(), "pid file removed");
    }
}

#[test]
fn post_shutdown_from_the_owner_stops_the_daemon() {
    let mut d = Daemon::start();
    let r = d.post("/shutdown", "{}");
    assert_eq!(r.status, 200);
    let st = wait_timeout(&mut d.child, Duration::from_secs(15)).expect("exits");
    assert!(st.success());
    assert!(!d.socket.exists());
}

#[test]
fn another_uid_is_refused_even_when_modes_are_loosened_case_016() {
    assert_eq!(
        rustix_uid(),
        0,
        "this test needs root to act as a second uid (CI runs as root)"
    );
    let d = Daemon::start();
    // Open every door by hand, as an attacker would hope someone did.
    let top = d.home.parent().unwrap();
    for p in [top, d.home.as_path(), &d.home.join("run")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "curl",
            "-sS",
            "--max-time",
            "5",
            "-w",
            " %{http_code}",
            "--unix-socket",
        ])
        .arg(&d.socket)
        .arg("http://localhost/health")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with(" 403") || text.trim() == "000" || text.is_empty(),
        "nobody got: {text:?} / {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("\"ok\""), "no data for another uid");
    assert!(
        d.log().contains("refused a connection from uid 65534"),
        "{}",
        d.log()
    );
    // Our own uid is still served.
    assert!(d.still_serving());
}

#[test]
fn a_socket_path_longer_than_sun_path_is_a_clear_error() {
    let (dir, home, project) = fixture();
    let deep = dir.path().join("d".repeat(100));
    std::fs::create_dir(&deep).unwrap();
    std::fs::set_permissions(&deep, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = run_timeout(
        patina(&home)
            .arg("serve")
            .arg("--project")
            .arg(&project)
            .arg("--socket")
            .arg(deep.join("serve.sock")),
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at most 107") && err.contains("sun_path"),
        "{err}"
    );
    // Refused before the first scrape (which can take minutes), not after it.
    assert!(!err.contains("scrap"), "{err}");
    assert!(!project.join(".patina").exists(), "the project was scraped");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn socket_mode_is_never_loose_during_startup() {
    // Poll the socket path while daemons start under umask 000: only 0600 is ever seen.
    for _ in 0..5 {
        let (dir, home, project) = fixture();
        let sock = home.join("run/serve.sock");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let observed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let sock = sock.clone();
            let stop = stop.clone();
            let observed = observed.clone();
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeSet::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Ok(m) = std::fs::symlink_metadata(&sock) {
                        seen.insert(m.permissions().mode() & 0o777);
                        observed.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                seen
            })
        };
        let mut child = Reaper(
            Command::new("sh")
                .arg("-c")
                .arg("umask 000; exec \"$0\" serve --project \"$1\" 2>/dev/null")
                .arg(bin())
                .arg(&project)
                .env("PATINA_HOME", &home)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let t = std::time::Instant::now();
        while std::os::unix::net::UnixStream::connect(&sock).is_err()
            && t.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        // On a loaded machine the watcher may not have run yet: stop the daemon only once it
        // has seen the socket (else an empty set would say nothing either way).
        let t = std::time::Instant::now();
        while !observed.load(std::sync::atomic::Ordering::SeqCst)
            && t.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        signal(child.id(), "TERM");
        wait_timeout(&mut child.0, Duration::from_secs(15)).unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let seen = watcher.join().unwrap();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![0o600]);
        drop(dir);
    }
}

#[test]
fn sigterm_stops_the_daemon_even_when_its_socket_file_was_deleted() {
    let mut d = Daemon::start();
    std::fs::remove_file(&d.socket).unwrap();
    signal(d.pid(), "TERM");
    let st =
        wait_timeout(&mut d.child, Duration::from_secs(15)).expect("exits without its socket file");
    assert!(st.success());
    assert!(!d.home.join("run/serve.pid").exists());
}

#[test]
fn a_loose_or_symlinked_patina_home_is_refused_and_left_untouched() {
    let (dir, home, project) = fixture();
    std::fs::create_dir(&home).unwrap();
    for m in [0o777, 0o755] {
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(m)).unwrap();
        let err = serve_refuses(&home, &project);
        assert!(
            err.contains("PATINA_HOME") && err.contains("chmod 700"),
            "{err}"
        );
        assert_eq!(mode(&home), m);
        assert!(!home.join("run").exists());
    }
    let link = dir.path().join("home-link");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&home, &link).unwrap();
    assert!(serve_refuses(&link, &project).contains("symbolic link"));
}
