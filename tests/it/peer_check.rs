//! The CLI checks who listens at the socket before it sends anything (QA session 8, H1 and
//! L3): an impostor bound at `~/.patina/run/serve.sock` (a listener of the test process
//! itself, so not the patina binary) gets no request at all from `session unlock` (which
//! would carry the age identity) or `secrets add --stdin` (the new value), and `status`,
//! `serve` name it as not a patina daemon. A daemon of a binary replaced since it started
//! (a rebuild) is refused with what to do, and `patina stop` still stops it.

use crate::common::secrets::*;
use crate::common::{run_timeout, write_fixture_project};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A listener at `sock` that accepts every connection and records every byte it gets
/// (each connection read until EOF or 2 s of silence), answering nothing.
fn impostor(sock: &Path) -> (Arc<Mutex<Vec<u8>>>, Arc<Mutex<usize>>) {
    let listener = UnixListener::bind(sock).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let conns = Arc::new(Mutex::new(0));
    let (g, n) = (Arc::clone(&got), Arc::clone(&conns));
    std::thread::spawn(move || {
        for c in listener.incoming() {
            let Ok(mut c) = c else { return };
            *n.lock().unwrap() += 1;
            let g = Arc::clone(&g);
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = [0u8; 4096];
                while let Ok(k) = c.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    g.lock().unwrap().extend_from_slice(&buf[..k]);
                }
            });
        }
    });
    (got, conns)
}

#[test]
fn an_impostor_at_the_socket_gets_no_request_from_the_cli() {
    let w = World::new();
    let run = w.home().join("run");
    std::fs::create_dir_all(&run).unwrap();
    for d in [w.home(), run.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let sock = run.join("serve.sock");
    let (got, conns) = impostor(&sock);
    let me = std::process::id().to_string();
    let check = |what: &str, out: &std::process::Output| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: {}", show(out));
        assert!(err.contains("not a patina daemon"), "{what}: {err}");
        // It names what listens: the pid and its executable.
        assert!(err.contains(&format!("pid {me}")), "{what}: {err}");
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert!(err.contains(&*exe.to_string_lossy()), "{what}: {err}");
        for f in leak_forms(CANARY) {
            assert!(!err.contains(&f), "{what}: {err}");
        }
    };
    // The identity (PATINA_IDENTITY) would go out in POST /session/unlock.
    let out = run_timeout(
        &mut w.cmd(&["session", "unlock", "--ttl", "1m"]),
        Duration::from_secs(30),
    );
    check("session unlock", &out);
    // A new value would go out in POST /secrets/add.
    let out = run_with_input(
        w.cmd(&["secrets", "add", "imp", "--stdin"]),
        CANARY.as_bytes(),
    );
    check("secrets add", &out);
    assert!(
        !w.home().join("vault.age").exists(),
        "nothing was added either"
    );
    let out = run_timeout(&mut w.cmd(&["status"]), Duration::from_secs(30));
    check("status", &out);
    let out = run_timeout(&mut w.cmd(&["session", "status"]), Duration::from_secs(30));
    check("session status", &out);
    // `serve` names the impostor rather than "a daemon is already running … patina stop".
    let proj = w.dir.path().join("proj");
    write_fixture_project(&proj);
    let out = run_timeout(
        w.cmd(&["serve", "--project"]).arg(&proj),
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "serve: {}", show(&out));
    assert!(
        err.contains("not a patina daemon") && err.contains(&format!("pid {me}")),
        "{err}"
    );
    assert!(!err.contains("already running"), "{err}");
    // The commands did connect (the check is made on the connection), and not one byte
    // reached the impostor: no request line, no identity, no value.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        *conns.lock().unwrap() >= 4,
        "the commands did not even connect"
    );
    let got = got.lock().unwrap();
    assert!(got.is_empty(), "the impostor received {} bytes", got.len());
}

/// Copies the patina binary to `to` in a `cp` child: a file this test process held open for
/// writing would leak into children other test threads fork at that moment, and exec'ing
/// it would then fail with ETXTBSY ("Text file busy") until they exec.
fn copy_binary(to: &Path) {
    let status = Command::new("cp").arg(BIN).arg(to).status().unwrap();
    assert!(status.success(), "cp {BIN} failed");
}

/// After a rebuild the daemon's `/proc/<pid>/exe` reads `… (deleted)`: every command says
/// to restart it, `patina stop` stops it, and the new binary serves again.
#[test]
fn a_daemon_of_a_replaced_binary_is_refused_with_what_to_do_and_stop_works() {
    let w = World::new();
    let bin = w.dir.path().join("bin/patina");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    copy_binary(&bin);
    let proj = w.dir.path().join("proj");
    write_fixture_project(&proj);
    let patina = |args: &[&str]| {
        let mut c = Command::new(&bin);
        w.configure(&mut c, true);
        c.args(args);
        c
    };
    let mut daemon = patina(&["serve", "--project"])
        .arg(&proj)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sock = w.home().join("run/serve.sock");
    let t = std::time::Instant::now();
    while !run_timeout(&mut patina(&["status"]), Duration::from_secs(30))
        .status
        .success()
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sock.exists());
    // Replace the binary (a new file at the same path, as `cargo build` or an upgrade does).
    let new = w.dir.path().join("bin/patina.new");
    copy_binary(&new);
    std::fs::rename(&new, &bin).unwrap();
    for args in [&["status"][..], &["session", "unlock", "--ttl", "1m"]] {
        let out = run_timeout(&mut patina(args), Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {}", show(&out));
        assert!(
            err.contains("replaced on disk") && err.contains("(deleted)"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("`patina stop`, then `patina serve`"),
            "{args:?}: {err}"
        );
    }
    let out = run_timeout(&mut patina(&["stop"]), Duration::from_secs(30));
    assert!(out.status.success(), "stop: {}", show(&out));
    let status = crate::common::wait_timeout(&mut daemon, Duration::from_secs(20));
    assert!(status.is_some(), "the old daemon did not stop");
}

/// The daemon's listener is its witness: a child running the same file, whose parent is the
/// daemon, with an empty environment (the daemon's may hold `PATINA_IDENTITY` or a token)
/// and no socket open. The kernel names it as the listener, so a client that is not root can
/// read its executable (the daemon itself is not dumpable).
#[test]
fn the_listener_is_a_witness_of_the_daemon_that_holds_nothing() {
    use std::os::unix::fs::MetadataExt;
    let d =
        crate::common::Daemon::start_env(&[], &[("PATINA_SERVE_TOKEN", "x".repeat(40).as_str())]);
    // (A connection made between the daemon's bind and its witness's listen names the
    // daemon: the socket answers a moment before the witness is in place.)
    let listener_pid = || {
        let s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
        let cred = rustix::net::sockopt::socket_peercred(&s).unwrap();
        cred.pid.as_raw_nonzero().get() as u32
    };
    let t = std::time::Instant::now();
    let w = loop {
        let w = listener_pid();
        if w != d.pid() || t.elapsed() > Duration::from_secs(10) {
            break w;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_ne!(
        w,
        d.pid(),
        "the listener is the daemon itself; log:\n{}",
        d.log()
    );
    let stat = std::fs::read_to_string(format!("/proc/{w}/stat")).unwrap();
    let ppid: u32 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, d.pid(), "the witness is the daemon's child");
    let (exe, own) = (
        std::fs::metadata(format!("/proc/{w}/exe")).unwrap(),
        std::fs::metadata(BIN).unwrap(),
    );
    assert_eq!((exe.dev(), exe.ino()), (own.dev(), own.ino()));
    assert!(
        std::fs::read(format!("/proc/{w}/environ"))
            .unwrap()
            .is_empty()
    );
    for fd in std::fs::read_dir(format!("/proc/{w}/fd"))
        .unwrap()
        .flatten()
    {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        assert!(
            !target.to_string_lossy().starts_with("socket:"),
            "{target:?}"
        );
    }
    // Killed, it is not replaced (the daemon is no longer dumpable, so a new witness could
    // not check it): clients refuse the daemon, saying what listens, until it is restarted.
    crate::common::signal(w, "KILL");
    let t = std::time::Instant::now();
    while std::fs::read_to_string(format!("/proc/{w}/stat")).is_ok_and(|s| !s.contains(") Z")) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the witness did not die"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = run_timeout(
        crate::common::patina(&d.home).arg("status"),
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not a patina daemon"),
        "{}",
        show(&out)
    );
}

/// The witness vouches only for a parent running patina: a program that binds the socket
/// path and hands `patina __listen-witness` its own socket gets a refusal, stays the
/// listener the kernel names, and so still gets nothing from the CLI.
#[test]
fn the_witness_refuses_to_vouch_for_an_impostor() {
    let w = World::new();
    let run = w.home().join("run");
    std::fs::create_dir_all(&run).unwrap();
    for d in [w.home(), run.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let sock = run.join("serve.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let fd = std::os::fd::OwnedFd::from(listener.try_clone().unwrap());
    let out = Command::new(BIN)
        .arg("__listen-witness")
        .arg(std::process::id().to_string())
        .stdin(Stdio::from(fd))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not the patina binary"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    std::thread::spawn(move || {
        for c in listener.incoming() {
            let Ok(mut c) = c else { return };
            c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(k) = c.read(&mut buf) {
                if k == 0 {
                    break;
                }
                g.lock().unwrap().extend_from_slice(&buf[..k]);
            }
        }
    });
    let out = run_timeout(
        &mut w.cmd(&["session", "unlock", "--ttl", "1m"]),
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not a patina daemon"),
        "{}",
        show(&out)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(got.lock().unwrap().is_empty());
}
