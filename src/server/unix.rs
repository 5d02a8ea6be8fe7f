//! The Unix-socket listener: what startup may remove at the socket path, binding with no
//! moment where another user could connect, and reading peer credentials (`unix(7)`).

use super::StartError;
use crate::fsutil;
use crate::limits::SUN_PATH_MAX;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Refuses a socket path longer than `sun_path` holds ([`SUN_PATH_MAX`] bytes, `unix(7)`),
/// naming its length, the limit and the fix. `patina serve` checks it before anything slow
/// (the first scrape), and again before binding.
pub fn check_sun_path(path: &Path) -> Result<(), StartError> {
    let len = path.as_os_str().len();
    if len > SUN_PATH_MAX {
        return Err(StartError::SocketPathTooLong {
            path: path.to_path_buf(),
            len,
            max: SUN_PATH_MAX,
        });
    }
    Ok(())
}

/// Checks what is at `path` before binding, the way ssh-agent and neovim do:
///
/// - nothing: fine;
/// - a socket owned by us on which a connect is refused: a stale socket of a crashed daemon,
///   removed;
/// - a socket on which a connect succeeds: a live daemon, refused;
/// - a symlink, a regular file, a directory, or a socket of another user: refused and left
///   exactly as it is (checked with `lstat`, so nothing a symlink points to is touched).
///
/// Also refuses a path longer than `sun_path` can hold, naming the limit
/// ([`check_sun_path`]).
pub fn prepare_socket_path(path: &Path) -> Result<(), StartError> {
    check_sun_path(path)?;
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StartError::step(format!("socket path {}", path.display()))(
                e,
            ));
        }
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
        return Err(StartError::Occupied {
            path: path.to_path_buf(),
            what,
        });
    }
    let me = fsutil::my_uid();
    if md.uid() != me {
        return Err(StartError::ForeignSocket {
            path: path.to_path_buf(),
            owner: md.uid(),
            me,
        });
    }
    match UnixStream::connect(path) {
        // The peer of a connection to a listening socket is the process that listened.
        // A patina daemon's listener is its witness (`witness.rs`), whose parent is the
        // daemon; anything else is named as what it is (QA session 8, L3).
        Ok(s) => {
            let (uid, pid) = peer_credentials(&s).unwrap_or((u32::MAX, None));
            let exe = pid.map(crate::auth::peer_executable);
            match exe {
                Some(crate::auth::PeerExe::This | crate::auth::PeerExe::Replaced(_))
                    if uid == me =>
                {
                    let daemon = pid.and_then(crate::auth::parent_pid).filter(|&p| p > 1);
                    Err(StartError::Running {
                        path: path.to_path_buf(),
                        pid: daemon.or(pid),
                        stopped: [daemon, pid]
                            .into_iter()
                            .flatten()
                            .any(crate::auth::process_stopped),
                    })
                }
                _ => Err(StartError::Impostor {
                    path: path.to_path_buf(),
                    pid: pid.unwrap_or(0),
                    what: match exe {
                        _ if uid != me => format!("uid {uid}"),
                        Some(crate::auth::PeerExe::Other(e)) => e,
                        Some(crate::auth::PeerExe::Unknown(why)) => why,
                        _ => "unknown".into(),
                    },
                }),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => fs::remove_file(path).map_err(
            StartError::step(format!("removing the stale socket {}", path.display())),
        ),
        Err(e) => Err(StartError::step(format!(
            "checking the existing socket {}",
            path.display()
        ))(e)),
    }
}

/// Binds `path` with a umask of 0177 around `bind(2)`, so the socket is created 0600 and is
/// never connectable by anyone else, even for a moment (no chmod after the fact). The umask
/// is process-wide: call this before any other thread is started. The parent directory must
/// already be a private (0700) directory.
pub fn bind_private(path: &Path) -> Result<UnixListener, StartError> {
    use rustix::fs::Mode;
    use rustix::process::umask;
    let old = umask(Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    umask(old);
    let listener = bound.map_err(StartError::step(format!("binding {}", path.display())))?;
    let mode = fs::symlink_metadata(path)
        .map_err(StartError::step(format!("binding {}", path.display())))?
        .permissions()
        .mode()
        & 0o777;
    if mode != fsutil::PRIVATE_FILE_MODE {
        let _ = fs::remove_file(path);
        return Err(StartError::LooseSocket {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(listener)
}

/// The peer's uid and pid from `SO_PEERCRED` (`socket(7)`), as plain numbers.
pub fn peer_credentials(stream: &UnixStream) -> io::Result<(u32, Option<u32>)> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    let pid = cred.pid.as_raw_nonzero().get();
    Ok((cred.uid.as_raw(), u32::try_from(pid).ok()))
}

/// Asks the kernel to stamp every write on `fd`'s connections with the writer's credentials
/// (`SO_PASSCRED`, `unix(7)`). Set on the listener, accepted connections inherit it, and bytes
/// written before `accept` are stamped too (the kernel always stamps writes to a connection
/// not yet accepted), so no request byte arrives unstamped.
pub fn pass_credentials(fd: impl std::os::fd::AsFd) -> io::Result<()> {
    rustix::net::sockopt::set_socket_passcred(fd, true).map_err(io::Error::from)
}

/// The connecting process as seen when its connection was taken up: pid, start time and
/// whether it ran the daemon's executable then.
#[derive(Debug, Clone, Copy)]
pub struct AtAccept {
    /// The `SO_PEERCRED` pid.
    pub pid: Option<u32>,
    /// Its start time (`/proc/<pid>/stat` field 22), read before and after the executable
    /// check and kept only when both reads agree.
    pub start_time: Option<u64>,
    /// It ran the daemon's own executable (device and inode) at that moment.
    pub patina: bool,
}

impl AtAccept {
    /// Observes process `pid` now.
    pub fn observe(pid: Option<u32>) -> AtAccept {
        let Some(p) = pid else {
            return AtAccept {
                pid,
                start_time: None,
                patina: false,
            };
        };
        let before = crate::auth::process_start_time(p);
        let patina = crate::auth::peer_runs_this_executable(p);
        let after = crate::auth::process_start_time(p);
        AtAccept {
            pid,
            start_time: before.filter(|_| before == after),
            patina,
        }
    }

    /// Who wrote the request, given what [`CredStream`] saw: verified only when the one
    /// process that wrote every byte is the connecting process (same pid) and it ran patina
    /// at accept. [`crate::auth::authorize`] re-checks executable and start time.
    pub fn writer(&self, written: Written) -> crate::auth::Writer {
        use crate::auth::Writer;
        let writer_pid = match written {
            Written::By(w) => w,
            Written::Nothing | Written::Unstamped => {
                return Writer::Unverified {
                    writer_pid: None,
                    why: "the request bytes carried no credentials",
                };
            }
            Written::Several => {
                return Writer::Unverified {
                    writer_pid: None,
                    why: "several processes wrote the request",
                };
            }
        };
        let unverified = |why| Writer::Unverified {
            writer_pid: Some(writer_pid),
            why,
        };
        if self.pid != Some(writer_pid) {
            return unverified(
                "the request was written by another process than the one that connected",
            );
        }
        match self.start_time {
            Some(start_time) if self.patina => Writer::PatinaAtAccept { start_time },
            _ => unverified("the connecting process did not run patina when it connected"),
        }
    }
}

/// Which process wrote the bytes read so far on a connection, from the `SCM_CREDENTIALS`
/// of each read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// No byte read yet.
    Nothing,
    /// Every byte so far was stamped with this pid.
    By(u32),
    /// Bytes from two or more pids (the kernel never merges two writers' bytes in one read
    /// when `SO_PASSCRED` is set, so each read names one).
    Several,
    /// Some bytes came without credentials.
    Unstamped,
}

impl Written {
    fn add(self, pid: Option<u32>) -> Written {
        match (self, pid) {
            (_, None) | (Written::Unstamped, _) => Written::Unstamped,
            (Written::Nothing, Some(p)) => Written::By(p),
            (Written::By(a), Some(p)) if a == p => Written::By(a),
            _ => Written::Several,
        }
    }
}

/// A Unix connection whose reads are `recvmsg(2)` calls taking `SCM_CREDENTIALS`, so the
/// daemon knows who *wrote* the request, not only who connected (a connection can be handed
/// to another process by `fork` or `SCM_RIGHTS`). Every read is recorded, the accept side's
/// non-blocking ones included; [`CredStream::written`] tells the result.
pub struct CredStream {
    stream: UnixStream,
    written: std::cell::Cell<Written>,
}

impl CredStream {
    /// Wraps `stream`, with no byte read yet.
    pub fn new(stream: UnixStream) -> CredStream {
        CredStream {
            stream,
            written: std::cell::Cell::new(Written::Nothing),
        }
    }

    /// The wrapped connection (for `SO_PEERCRED` and socket options).
    pub fn get_ref(&self) -> &UnixStream {
        &self.stream
    }

    /// Who wrote the bytes read so far.
    pub fn written(&self) -> Written {
        self.written.get()
    }

    fn recv(&self, buf: &mut [u8], flags: rustix::net::RecvFlags) -> io::Result<usize> {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, recvmsg};
        use std::mem::MaybeUninit;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [io::IoSliceMut::new(buf)];
        let msg = recvmsg(&self.stream, &mut iov, &mut control, flags)?;
        if msg.bytes > 0 {
            let mut pid = None;
            for m in control.drain() {
                if let RecvAncillaryMessage::ScmCredentials(c) = m {
                    pid = u32::try_from(c.pid.as_raw_nonzero().get()).ok();
                }
            }
            self.written.set(self.written.get().add(pid));
        }
        Ok(msg.bytes)
    }
}

impl std::os::fd::AsFd for CredStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// The Unix listening socket as the accept side sees it: every accepted connection is a
/// [`CredStream`] from its first read. Set [`pass_credentials`] on it before accepting.
pub struct CredListener(pub std::os::unix::net::UnixListener);

impl std::os::fd::AsFd for CredListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl super::ready::Listen for CredListener {
    type Conn = CredStream;
    fn accept_now(&self) -> io::Result<CredStream> {
        self.0.accept().map(|(s, _)| CredStream::new(s))
    }
}

impl io::Read for CredStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf, rustix::net::RecvFlags::empty())
    }
}

impl io::Write for CredStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl super::framing::Stream for CredStream {
    fn set_read_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(d)
    }
    fn set_write_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()> {
        self.stream.set_write_timeout(d)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf, rustix::net::RecvFlags::DONTWAIT)
    }
    fn send_now(&self, buf: &[u8]) -> io::Result<usize> {
        super::framing::Stream::send_now(&self.stream, buf)
    }
}
