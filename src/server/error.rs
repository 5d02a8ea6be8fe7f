//! The error type of daemon startup ([`StartError`]): every check `patina serve` makes
//! before it answers, one line each, naming the path, the limit or the setting and the fix.

use crate::fsutil::FsError;
use std::path::PathBuf;

/// Why `patina serve` did not start. Nothing found at the socket path or in the run
/// directory was modified.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A step of startup failed with an operating-system error; `step` says which (and on
    /// what).
    #[error("{step}: {error}")]
    Step {
        /// What was being done (`binding TCP 127.0.0.1:7077`, `socket path …`).
        step: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// Starting a thread, cloning a listener or another resource the daemon needs failed.
    #[error("{0}")]
    Resources(#[from] std::io::Error),
    /// A private directory is refused; `what` names its role.
    #[error("{what}: {error}")]
    Private {
        /// The directory's role (`the state directory (PATINA_HOME)`, …).
        what: &'static str,
        /// Why it is refused.
        error: FsError,
    },
    /// A private file or directory could not be created or written (the run directory, the
    /// pid file).
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The TCP credentials (bearer token, age-key identity) could not be set up.
    #[error(transparent)]
    Credentials(#[from] crate::auth::Error),
    /// The socket path is longer than `sun_path` holds.
    #[error(
        "socket path {} is {len} bytes; Unix sockets allow at most {max} (sun_path): choose a shorter --socket or PATINA_HOME",
        path.display()
    )]
    SocketPathTooLong {
        /// The socket path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// [`crate::limits::SUN_PATH_MAX`].
        max: usize,
    },
    /// Something other than a socket is at the socket path; left untouched.
    #[error(
        "{} exists and is {what}, not a patina socket; refusing to start (it was left untouched; remove it yourself if it is not needed)",
        path.display()
    )]
    Occupied {
        /// The socket path.
        path: PathBuf,
        /// What is there (`a symbolic link`, `a directory`, …).
        what: &'static str,
    },
    /// A socket of another user is at the socket path; left untouched.
    #[error(
        "{} is a socket owned by uid {owner}, not by you (uid {me}); refusing to start and leaving it untouched",
        path.display()
    )]
    ForeignSocket {
        /// The socket path.
        path: PathBuf,
        /// The socket's owner.
        owner: u32,
        /// Our uid.
        me: u32,
    },
    /// A daemon answers on the socket already.
    #[error(
        "a daemon is already running at {} ({})",
        path.display(),
        match (pid, stopped) {
            (Some(p), true) => format!(
                "pid {p}; it is stopped, by SIGSTOP or a debugger: `kill -CONT {p}` resumes it, then `patina stop` stops it"
            ),
            (Some(p), false) => format!("pid {p}; stop it with `patina stop`"),
            (None, _) => "stop it with `patina stop`".to_string(),
        }
    )]
    Running {
        /// The socket path.
        path: PathBuf,
        /// The running daemon's pid, when the kernel told it.
        pid: Option<u32>,
        /// The daemon (or its listener) is stopped ([`crate::auth::process_stopped`]): it
        /// holds the socket but answers nothing until resumed.
        stopped: bool,
    },
    /// Something that is not a patina daemon of ours listens at the socket path; left
    /// untouched.
    #[error(
        "{} is held by pid {pid} ({what}), which is not a patina daemon: refusing to start. Stop that process (`kill {pid}`) and remove the socket, then run `patina serve` again",
        path.display()
    )]
    Impostor {
        /// The socket path.
        path: PathBuf,
        /// The listening process.
        pid: u32,
        /// Its executable, its uid, or why it cannot be told.
        what: String,
    },
    /// The bound socket does not have mode 0600 (it was removed).
    #[error("{} was created with mode {mode:o}, not 600", path.display())]
    LooseSocket {
        /// The socket path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The socket passed by socket activation is refused; the message names the check and
    /// the unit setting that fixes it.
    #[error("socket activation: {0}")]
    Activation(String),
}

impl StartError {
    /// A [`StartError::Step`] for `step`.
    pub(crate) fn step(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
        let step = step.into();
        move |error| StartError::Step { step, error }
    }
}
