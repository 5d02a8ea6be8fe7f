//! The Unix-socket listener: what startup may remove at the socket path, binding with no
//! moment where another user could connect, and reading peer credentials (`unix(7)`).

use crate::fsutil;
use crate::limits::SUN_PATH_MAX;
use anyhow::{Context, bail};
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Checks what is at `path` before binding, the way ssh-agent and neovim do:
///
/// - nothing: fine;
/// - a socket owned by us on which a connect is refused: a stale socket of a crashed daemon,
///   removed;
/// - a socket on which a connect succeeds: a live daemon, refused;
/// - a symlink, a regular file, a directory, or a socket of another user: refused and left
///   exactly as it is (checked with `lstat`, so nothing a symlink points to is touched).
///
/// Also refuses a path longer than `sun_path` can hold, naming the limit.
pub fn prepare_socket_path(path: &Path) -> anyhow::Result<()> {
    let len = path.as_os_str().len();
    if len > SUN_PATH_MAX {
        bail!(
            "socket path {} is {len} bytes; Unix sockets allow at most {SUN_PATH_MAX} (sun_path): choose a shorter --socket or PATINA_HOME",
            path.display()
        );
    }
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("socket path {}", path.display())),
    };
    let ft = md.file_type();
    let what = if ft.is_symlink() {
        Some("a symbolic link")
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_file() {
        Some("a regular file")
    } else if !ft.is_socket() {
        Some("not a socket")
    } else {
        None
    };
    if let Some(what) = what {
        bail!(
            "{} exists and is {what}, not a patina socket; refusing to start (it was left untouched; remove it yourself if it is not needed)",
            path.display()
        );
    }
    let me = fsutil::my_uid();
    if md.uid() != me {
        bail!(
            "{} is a socket owned by uid {}, not by you (uid {me}); refusing to start and leaving it untouched",
            path.display(),
            md.uid()
        );
    }
    match UnixStream::connect(path) {
        Ok(s) => match peer_credentials(&s) {
            // The peer of a connection to a listening socket is the process that listened.
            Ok((_, Some(pid))) => bail!(
                "a daemon is already running at {} (pid {pid}; stop it with `patina stop`)",
                path.display()
            ),
            _ => bail!(
                "a daemon is already running at {} (stop it with `patina stop`)",
                path.display()
            ),
        },
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display())),
        Err(e) => {
            Err(e).with_context(|| format!("checking the existing socket {}", path.display()))
        }
    }
}

/// Binds `path` with a umask of 0177 around `bind(2)`, so the socket is created 0600 and is
/// never connectable by anyone else, even for a moment (no chmod after the fact). The umask
/// is process-wide: call this before any other thread is started. The parent directory must
/// already be a private (0700) directory.
pub fn bind_private(path: &Path) -> anyhow::Result<UnixListener> {
    use rustix::fs::Mode;
    use rustix::process::umask;
    let old = umask(Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    umask(old);
    let listener = bound.with_context(|| format!("binding {}", path.display()))?;
    let mode = fs::symlink_metadata(path)?.permissions().mode() & 0o777;
    if mode != fsutil::PRIVATE_FILE_MODE {
        let _ = fs::remove_file(path);
        bail!("{} was created with mode {mode:o}, not 600", path.display());
    }
    Ok(listener)
}

/// The peer's uid and pid from `SO_PEERCRED` (`socket(7)`), as plain numbers.
pub fn peer_credentials(stream: &UnixStream) -> io::Result<(u32, Option<u32>)> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    let pid = cred.pid.as_raw_nonzero().get();
    Ok((cred.uid.as_raw(), u32::try_from(pid).ok()))
}
