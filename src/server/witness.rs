//! The listener's witness: how a client tells a patina daemon from an impostor at the socket
//! path (QA session 8, H1).
//!
//! A client checks the process the kernel names as the socket's listener (`SO_PEERCRED` on
//! a connected Unix socket names the process that last called `listen(2)`, `unix(7)`): it
//! must run as the user and run the patina executable ([`crate::auth::peer_executable`]).
//! The daemon itself is not dumpable (`PR_SET_DUMPABLE` 0, so no same-uid process can read
//! its memory), and a non-dumpable process's `/proc/<pid>/exe` is readable by root only —
//! so the daemon starts a **witness**: a child that `exec`s the daemon's own file
//! (`/proc/self/exe`, the same inode even after a rebuild), with an empty environment and
//! the listening socket as its standard input. The witness calls `listen(2)` on it again
//! (which makes the kernel record the witness as the listener), closes it, tells the daemon
//! on its standard output, and then only waits: it holds no socket, no secret (a fresh
//! image, not a fork of the daemon's memory) and nothing it reads. It dies with the daemon
//! (`PR_SET_PDEATHSIG`). It vouches only for a parent that runs the same file, checked
//! before the daemon makes itself non-dumpable (the daemon waits for it): a program that
//! hands `patina __listen-witness` its own socket is refused. Killed, it is not replaced
//! (the daemon is not dumpable any more): clients refuse the daemon until it is restarted,
//! and the guard fails closed. Depends on [`crate::auth`] (the executable check).
//!
//! Residual (threat model, "Who listens at the socket"): a process that calls `listen(2)`
//! and then `exec`s the patina binary (keeping the socket in a child) is a listener that
//! "runs patina"; the client does not yet ask the listener to prove it holds the daemon's
//! state.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The hidden subcommand that runs [`run`] (`patina __listen-witness PPID`).
pub const SUBCOMMAND: &str = "__listen-witness";

/// Starts a witness for `listener` and waits until it has called `listen(2)` (one byte on
/// its standard output). Errors when it cannot be started or exits first.
pub fn start(listener: &UnixListener) -> io::Result<Child> {
    let fd: OwnedFd = listener.as_fd().try_clone_to_owned()?;
    let mut child = Command::new("/proc/self/exe")
        .arg(SUBCOMMAND)
        .arg(std::process::id().to_string())
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::from(fd))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut ready = [0u8; 1];
    let got = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no pipe to the witness"))?
        .read(&mut ready)?;
    if got != 1 {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other("the witness exited before listening"));
    }
    Ok(child)
}

/// Waits for the witness in a thread of its own (reaping it) and, if it dies while the
/// daemon serves, says that clients will refuse this daemon until it is restarted. It is
/// not restarted: a witness checks that its parent runs patina while the parent is still
/// dumpable (at startup, before it holds anything), and the daemon never becomes dumpable
/// again.
pub fn watch(mut child: Child, stop: Arc<AtomicBool>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("witness".into())
        .spawn(move || {
            let _ = child.wait();
            if !stop.load(Ordering::SeqCst) {
                eprintln!(
                    "patina: warning: the listener's witness exited; clients refuse this daemon until it is restarted (`patina stop`, `patina serve`)"
                );
            }
        })
        .map(drop)
}

/// The witness itself: `listen(2)` again on standard input (the daemon's socket), die with
/// the parent `ppid`, close the socket, report readiness on standard output, then wait.
pub fn run(ppid: u32) -> io::Result<()> {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL))?;
    // The parent may have died before the line above: then we were re-parented.
    if getppid().map(|p| p.as_raw_nonzero().get()) != i32::try_from(ppid).ok() {
        return Ok(());
    }
    // Vouch only for a daemon: the parent must run this very file. The daemon starts its
    // witness before it makes itself non-dumpable, so its executable is readable here; a
    // program that is not patina and hands us its own socket is refused.
    if !crate::auth::peer_runs_this_executable(ppid) {
        return Err(io::Error::other(
            "the parent is not the patina binary; a witness vouches only for `patina serve`",
        ));
    }
    // -1: the kernel's `somaxconn`, the backlog std's `UnixListener::bind` asks for.
    rustix::net::listen(io::stdin().as_fd(), -1)?;
    // Hold nothing: fd 0 becomes /dev/null, so only the daemon keeps the socket.
    let null = std::fs::File::open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    let mut out = io::stdout();
    out.write_all(b"r")?;
    out.flush()?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
