//! systemd-style socket activation (`sd_listen_fds(3)`): when `patina serve` is started by a
//! `.socket` unit (or `systemd-socket-activate`), it takes the listening Unix socket passed as
//! fd 3 instead of binding one, after the checks a socket it bound itself would pass. Depends
//! on std, `rustix` and [`crate::fsutil`].
//!
//! This module holds the crate's only `unsafe` code, two blocks in `take_passed_fd`: taking
//! ownership of fd 3, and removing the `LISTEN_*` variables (unsafe since edition 2024).

use super::StartError;
use crate::fsutil;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

/// The first passed descriptor (`SD_LISTEN_FDS_START` in `sd-daemon.h`).
pub const SD_LISTEN_FDS_START: i32 = 3;

/// The environment variables of the protocol; all are removed once read.
pub const LISTEN_VARS: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// The listener passed by socket activation for `socket`, or `None` when this process was not
/// socket-activated (no `LISTEN_PID`/`LISTEN_FDS`, or `LISTEN_PID` names another process).
///
/// Errors (and closes the descriptor) unless exactly one descriptor was passed and it is a
/// listening `AF_UNIX` stream socket bound at `socket`, which is a socket owned by this user
/// with mode 0600 in a private (0700, ours, not a symlink) directory. Call it where the
/// listener would be bound: before any thread is started.
pub fn listener(socket: &Path) -> Result<Option<UnixListener>, StartError> {
    let Some(fd) = take_passed_fd()? else {
        return Ok(None);
    };
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let refuse = |why: String| Err(StartError::Activation(why));
    let not = |what: &str| {
        refuse(format!(
            "fd 3 is not {what}; check the .socket unit (ListenStream= must be the socket path)"
        ))
    };
    if sockopt::socket_domain(&fd).ok() != Some(AddressFamily::UNIX) {
        return not("a Unix socket");
    }
    if sockopt::socket_type(&fd).ok() != Some(SocketType::STREAM) {
        return not("a stream socket");
    }
    if !sockopt::socket_acceptconn(&fd).unwrap_or(false) {
        return not("a listening socket");
    }
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
        .map_err(|e| StartError::step("socket activation: setting FD_CLOEXEC on fd 3")(e.into()))?;
    let listener = UnixListener::from(fd);

    // The same ownership and mode checks as a socket bound by `unix::bind_private`.
    let dir = socket
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fsutil::check_private_dir(dir).map_err(|error| StartError::Private {
        what: "socket activation: the socket's directory must be private (0700, yours; DirectoryMode=0700)",
        error,
    })?;
    let md = fs::symlink_metadata(socket).map_err(StartError::step(format!(
        "socket activation: {}",
        socket.display()
    )))?;
    if !md.file_type().is_socket() {
        return refuse(format!("{} is not a socket", socket.display()));
    }
    let me = fsutil::my_uid();
    if md.uid() != me {
        return refuse(format!(
            "{} is owned by uid {}, not by you (uid {me})",
            socket.display(),
            md.uid()
        ));
    }
    let mode = md.permissions().mode() & 0o777;
    if mode != fsutil::PRIVATE_FILE_MODE {
        return refuse(format!(
            "{} has mode {mode:o}, not 600 (set SocketMode=0600)",
            socket.display()
        ));
    }
    // fd 3 must be the socket at that path, not some other socket.
    let bound = listener.local_addr()?;
    let same = bound
        .as_pathname()
        .and_then(|p| fs::symlink_metadata(p).ok())
        .is_some_and(|b| (b.dev(), b.ino()) == (md.dev(), md.ino()));
    if !same {
        return refuse(format!(
            "fd 3 is not bound at {} (ListenStream= must match --socket)",
            socket.display()
        ));
    }
    Ok(Some(listener))
}

/// Reads and removes the `LISTEN_*` variables and, when they pass exactly one descriptor to
/// this process, takes ownership of fd 3. `None` when the variables are absent or name
/// another process.
#[allow(unsafe_code)]
fn take_passed_fd() -> Result<Option<OwnedFd>, StartError> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    for v in LISTEN_VARS {
        // SAFETY: `remove_var` is unsafe because another thread may read the environment at
        // the same time. This runs during `serve` startup, where the listener is bound, before
        // the signal thread, the worker pools or any other thread is started (the umask
        // around `bind` needs the same), so no other thread exists.
        unsafe { std::env::remove_var(v) };
    }
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None); // meant for another process (sd_listen_fds returns 0 too)
    }
    if fds.trim() != "1" {
        return Err(StartError::Activation(format!(
            "passed {} descriptors; patina takes exactly one (a single ListenStream= in the .socket unit)",
            fds.trim()
                .parse::<u64>()
                .map_or_else(|_| "an unreadable number of".to_string(), |n| n.to_string())
        )));
    }
    // fd 3 must be open and a socket before anything takes ownership of it.
    let link = fs::read_link(format!("/proc/self/fd/{SD_LISTEN_FDS_START}")).map_err(
        StartError::step("socket activation: LISTEN_FDS=1 but fd 3 is not open"),
    )?;
    if !link.to_string_lossy().starts_with("socket:") {
        return Err(StartError::Activation(
            "LISTEN_FDS=1 but fd 3 is not a socket".into(),
        ));
    }
    // SAFETY: fd 3 is open (checked just above) and is a socket passed to this very process:
    // LISTEN_PID is our pid and LISTEN_FDS is 1, so by the sd_listen_fds(3) protocol the
    // process that exec'd us left exactly fd 3 for us. Nothing else in this process owns it:
    // it was open since exec, so no open(2) here can have been given number 3, and nothing
    // closes descriptors it does not own. The variables are removed above, so a second call
    // returns None and fd 3 is taken at most once.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(SD_LISTEN_FDS_START) };
    Ok(Some(fd))
}
