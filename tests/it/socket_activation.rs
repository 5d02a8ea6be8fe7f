//! Socket activation (`sd_listen_fds(3)`): `patina serve` started with `LISTEN_PID`/`LISTEN_FDS`
//! serves on the listening socket passed as fd 3, after the ownership and mode checks a
//! socket it binds itself gets, and leaves the socket file (the unit's) in place at exit.
//! The activator is a small Python helper that binds, `dup2`s to fd 3 and `execve`s patina,
//! so `LISTEN_PID` is patina's pid (as `systemd-socket-activate` does).
use crate::common;

use common::{bin, wait_timeout, write_fixture_project};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Binds `argv[1]` with mode `argv[2]` (octal), puts it at fd 3, sets the LISTEN_* variables
/// (LISTEN_FDS from `argv[3]`, LISTEN_PID = our own pid unless `argv[4]` is "other") and
/// execs the rest of argv.
const ACTIVATOR: &str = r#"
import os, socket, sys
path, mode, nfds, who = sys.argv[1], int(sys.argv[2], 8), sys.argv[3], sys.argv[4]
old = os.umask(0o177)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.umask(old)
os.chmod(path, mode)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3, inheritable=True)
else:
    os.set_inheritable(3, True)
env = dict(os.environ)
env["LISTEN_FDS"] = nfds
env["LISTEN_PID"] = str(os.getpid() if who == "self" else 1)
env["LISTEN_FDNAMES"] = "patina.socket"
os.execve(sys.argv[5], sys.argv[5:], env)
"#;

struct Setup {
    dir: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
    socket: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&home)
        .unwrap();
    let run = dir.path().join("sockdir");
    std::fs::DirBuilder::new().mode(0o700).create(&run).unwrap();
    let socket = run.join("patina.sock");
    Setup {
        dir,
        home,
        project,
        socket,
    }
}

fn activate(s: &Setup, mode: &str, nfds: &str, who: &str) -> (Child, PathBuf) {
    let py = std::env::var("PATINA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let log = s.dir.path().join("serve.log");
    let mut c = Command::new(py);
    let child = crate::common::scrub_env(&mut c)
        .arg("-c")
        .arg(ACTIVATOR)
        .arg(&s.socket)
        .arg(mode)
        .arg(nfds)
        .arg(who)
        .arg(bin())
        .arg("serve")
        .arg("--project")
        .arg(&s.project)
        .arg("--socket")
        .arg(&s.socket)
        .env("PATINA_HOME", &s.home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("python3 must be installed (.ci/run installs it)");
    (child, log)
}

fn health(socket: &Path) -> Option<u16> {
    let mut s = UnixStream::connect(socket).ok()?;
    use std::io::Write;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let raw = common::read_to_eof(&mut s);
    Some(common::Resp::parse(&raw).status)
}

#[test]
fn serves_on_the_passed_socket_and_leaves_it_in_place() {
    let s = setup();
    let (mut child, log) = activate(&s, "600", "1", "self");
    let t = Instant::now();
    let mut ino = None;
    while t.elapsed() < Duration::from_secs(20) {
        if ino.is_none() {
            ino = std::fs::symlink_metadata(&s.socket).ok().map(|m| m.ino());
        }
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("patina: serving")
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve exited: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        health(&s.socket),
        Some(200),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    // The same socket file, not a rebound one.
    assert_eq!(
        std::fs::symlink_metadata(&s.socket).unwrap().ino(),
        ino.unwrap()
    );
    common::signal(child.id(), "TERM");
    let st = wait_timeout(&mut child, Duration::from_secs(15)).expect("serve did not stop");
    assert!(st.success(), "{}", std::fs::read_to_string(&log).unwrap());
    assert!(s.socket.exists(), "the unit's socket file was removed");
}

fn refused(mode: &str, nfds: &str) -> String {
    let s = setup();
    let (mut child, log) = activate(&s, mode, nfds, "self");
    let st =
        wait_timeout(&mut child, Duration::from_secs(20)).expect("serve should refuse and exit");
    assert_eq!(st.code(), Some(1));
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn a_socket_others_could_connect_to_is_refused() {
    let log = refused("666", "1");
    assert!(log.contains("has mode 666, not 600"), "{log}");
}

#[test]
fn more_than_one_passed_socket_is_refused() {
    let log = refused("600", "2");
    assert!(log.contains("passed 2 descriptors"), "{log}");
}

#[test]
fn variables_meant_for_another_process_are_ignored() {
    // LISTEN_PID names another process: fd 3 is not taken, so serve binds the path itself and
    // finds the activator's live socket there.
    let s = setup();
    let (mut child, log) = activate(&s, "600", "1", "other");
    let st = wait_timeout(&mut child, Duration::from_secs(20)).expect("serve should exit");
    assert_eq!(st.code(), Some(1));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("already running"), "{log}");
}
