//! Who is asking, and what each route needs (requirements §5): the principal, the access classes,
//! [`authorize`], the peer checks, and the two TCP credentials: the bearer token ([`token`])
//! and the age-key handshake ([`keys`], [`protocol`], [`server`]). Knows no socket: the
//! transport hands over peer credentials as plain numbers; reads `/proc/<pid>/exe` for the
//! peer-executable check. Depends on [`crate::http`] (the refusal responses),
//! [`crate::fsutil`], [`crate::paths`], [`crate::text`] (hex) and [`crate::secrets`] (the
//! private-file writer).

mod error;
pub mod keys;
pub mod protocol;
pub mod server;
pub mod ticket;
pub mod token;

use crate::http::Response;
pub use error::{Error, Result};
use std::os::unix::fs::MetadataExt;

/// The caller of one request, decided by the transport before dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A process of the daemon's own user on the Unix socket, from `SO_PEERCRED`
    /// (`socket(7)`, `unix(7)`). Connections from any other uid never become a principal:
    /// the transport refuses them before reading a byte.
    LocalPeer {
        /// The peer's uid (always the daemon's own).
        uid: u32,
        /// The peer's pid at connect time, if the kernel reported one.
        pid: Option<u32>,
        /// Who wrote the request's bytes, compared with the connecting process; only
        /// [`Writer::PatinaAtAccept`] can pass [`Access::Patina`].
        writer: Writer,
    },
    /// A TCP client that presented the daemon's bearer token (RFC 6750).
    Token,
    /// A TCP client holding a live age-key session ([`crate::auth::server`]): the client key
    /// `recipient` (`age1…`) is on the allowed list. Same rights as [`Principal::Token`].
    AgeKey {
        /// The client's public recipient.
        recipient: String,
    },
    /// Nobody in particular: a TCP client without valid credentials.
    Anonymous,
}

/// Who wrote a request on a Unix connection, as the transport established it from
/// `SCM_CREDENTIALS` (`unix(7)`: the kernel stamps each write with the writer's pid when the
/// receiver set `SO_PASSCRED`) against `SO_PEERCRED` (the connecting process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// Every byte of the request came from the connecting process, and when the connection
    /// was accepted that process ran the daemon's own executable and had this start time
    /// (`/proc/<pid>/stat` field 22, clock ticks since boot). [`authorize`] checks the
    /// executable and the start time again before a `patina` route.
    PatinaAtAccept {
        /// The connecting process's start time at accept.
        start_time: u64,
    },
    /// Anything else: another process wrote some bytes (a connection handed over by
    /// `fork`), the writer was not stamped, or the connecting process did not run patina at
    /// accept. `why` is a short fixed phrase for the audit log.
    Unverified {
        /// The pid the kernel stamped on the request's bytes, if one process wrote them all.
        writer_pid: Option<u32>,
        /// Why the writer is not trusted as patina.
        why: &'static str,
    },
}

/// What a route requires of its caller (requirements §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can connect (`/health`, `/version`).
    Open,
    /// Any authenticated caller: a local peer or a token holder.
    Query,
    /// Local peers only, never over TCP whatever the credentials.
    Local,
    /// Local peers whose executable is the daemon's own binary (same device and inode).
    Patina,
}

/// Decides whether `principal` may use a route that needs `access`.
///
/// Returns the error response to send otherwise: 401 (with `WWW-Authenticate: Bearer`) for an
/// anonymous caller of a `query` route, 403 for everything else refused.
pub fn authorize(access: Access, principal: &Principal) -> Result<(), Response> {
    match (access, principal) {
        (Access::Open, _) => Ok(()),
        (Access::Query, Principal::LocalPeer { .. } | Principal::Token) => Ok(()),
        (Access::Query, Principal::AgeKey { .. }) => Ok(()),
        (Access::Query, Principal::Anonymous) => Err(Response::error(
            401,
            "this route needs a bearer token (Authorization: Bearer …)",
        )
        .with_header("WWW-Authenticate", "Bearer")),
        (Access::Local, Principal::LocalPeer { .. }) => Ok(()),
        (
            Access::Patina,
            Principal::LocalPeer {
                pid: Some(pid),
                writer: Writer::PatinaAtAccept { start_time },
                ..
            },
        ) => {
            // Again now, for the process that wrote the request (the same pid): it still
            // runs this executable, and it is still the process seen at accept (a reused
            // pid has another start time; read after the executable, so a swap in between
            // shows).
            if peer_runs_this_executable(*pid) && process_start_time(*pid) == Some(*start_time) {
                Ok(())
            } else {
                Err(Response::error(
                    403,
                    "this route answers only the patina binary itself",
                ))
            }
        }
        (Access::Patina, Principal::LocalPeer { .. }) => Err(Response::error(
            403,
            "this route answers only the patina binary itself",
        )),
        (Access::Local | Access::Patina, _) => Err(Response::error(
            403,
            "this route is served only on the local Unix socket",
        )),
    }
}

/// True when `/proc/<pid>/exe` is the same file (device and inode) as `/proc/self/exe`.
///
/// Any failure to tell (the process is gone, `EACCES` because the peer made itself
/// non-dumpable, no procfs) is `false`: not verified means refused. The name or `argv[0]` of
/// the peer is never consulted.
pub fn peer_runs_this_executable(pid: u32) -> bool {
    matches!(peer_executable(pid), PeerExe::This)
}

/// What a peer process runs, as `/proc/<pid>/exe` tells: the one test both sides of the
/// socket make of each other — the daemon of its clients (`patina` routes), the client of
/// the daemon's listener before it sends any request ([`crate::client`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerExe {
    /// The same file (device and inode) as this process's `/proc/self/exe`.
    This,
    /// A file that was at this process's own path and has since been replaced or removed
    /// (the link reads `PATH (deleted)`): an older patina still running after a rebuild or
    /// an upgrade. The path as the link reads.
    Replaced(String),
    /// Another executable: the path the link reads.
    Other(String),
    /// The link cannot be read (the process is gone, or it is not dumpable and we are not
    /// root): the reason, for the message.
    Unknown(String),
}

/// Classifies the executable of process `pid` ([`PeerExe`]). `/proc/self/exe` keeps naming
/// the inode this process runs even if its path is replaced on disk, so a daemon started
/// before a rebuild still recognizes its own clients of the same (old) binary, and a client
/// of the new binary sees that daemon as [`PeerExe::Replaced`].
pub fn peer_executable(pid: u32) -> PeerExe {
    // This process's own file, looked up once.
    static OWN: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    let own = OWN.get_or_init(|| {
        std::fs::metadata("/proc/self/exe")
            .ok()
            .map(|m| (m.dev(), m.ino()))
    });
    let link = format!("/proc/{pid}/exe");
    // The common answer first, in one `stat`: the daemon asks this on every `patina` route.
    if let (Some((dev, ino)), Ok(peer)) = (*own, std::fs::metadata(&link))
        && peer.dev() == dev
        && peer.ino() == ino
    {
        return PeerExe::This;
    }
    let target = match std::fs::read_link(&link) {
        Ok(t) => t.to_string_lossy().into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return PeerExe::Unknown(format!("process {pid} is gone"));
        }
        Err(e) => return PeerExe::Unknown(format!("its executable cannot be read: {e}")),
    };
    let own_path = std::fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let strip = |s: &str| s.strip_suffix(" (deleted)").unwrap_or(s).to_string();
    match target.strip_suffix(" (deleted)") {
        Some(old) if !own_path.is_empty() && old == strip(&own_path) => PeerExe::Replaced(target),
        _ => PeerExe::Other(target),
    }
}

/// The start time of process `pid`: field 22 (`starttime`) of `/proc/<pid>/stat`, clock
/// ticks after boot (`proc_pid_stat(5)`). With the pid it names one process for the life of
/// the system: a reused pid has a later start time. `None` when the process is gone or the
/// file does not parse. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted after its last `)`.
pub fn process_start_time(pid: u32) -> Option<u64> {
    // After `)`: field 3 (state) is the first; field 22 is the 20th.
    stat_field(pid, 19)?.parse().ok()
}

/// The parent of process `pid`: field 4 (`ppid`) of `/proc/<pid>/stat` (`proc_pid_stat(5)`);
/// `None` when the process is gone or the file does not parse.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat_field(pid, 1)?.parse().ok()
}

/// Whether process `pid` is stopped: field 3 (`state`) of `/proc/<pid>/stat` is `T` (stopped
/// by a signal such as `SIGSTOP`) or `t` (stopped by a tracer), `proc_pid_stat(5)`. A stopped
/// daemon accepts connections (the kernel queues them) but never answers. False when the
/// process is gone or the file does not parse.
pub fn process_stopped(pid: u32) -> bool {
    matches!(process_state(pid), Some('T' | 't'))
}

/// The state letter of process `pid`: field 3 of `/proc/<pid>/stat` (`proc_pid_stat(5)`:
/// `R`, `S`, `D`, `Z` zombie, `T` stopped, `t` traced, `X` dead, …); `None` when the process
/// is gone or the file does not parse.
pub fn process_state(pid: u32) -> Option<char> {
    stat_field(pid, 0)?.chars().next()
}

/// Field `n` after the command name of `/proc/<pid>/stat` (0 is field 3, `state`). The
/// command name (field 2) may hold spaces and parentheses, so fields are counted after its
/// last `)`.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_ascii_whitespace().nth(n).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_table_matches_brief_section_5() {
        let local = Principal::LocalPeer {
            uid: 1,
            pid: None,
            writer: Writer::Unverified {
                writer_pid: None,
                why: "test",
            },
        };
        for p in [&local, &Principal::Token, &Principal::Anonymous] {
            assert!(authorize(Access::Open, p).is_ok());
        }
        assert!(authorize(Access::Query, &local).is_ok());
        assert!(authorize(Access::Query, &Principal::Token).is_ok());
        assert_eq!(
            authorize(Access::Query, &Principal::Anonymous)
                .unwrap_err()
                .status,
            401
        );
        assert!(authorize(Access::Local, &local).is_ok());
        assert_eq!(
            authorize(Access::Local, &Principal::Token)
                .unwrap_err()
                .status,
            403
        );
        // An age-key session is like a token: queries yes, local and patina routes no.
        let age = Principal::AgeKey {
            recipient: "age1x".into(),
        };
        assert!(authorize(Access::Query, &age).is_ok());
        assert_eq!(authorize(Access::Local, &age).unwrap_err().status, 403);
        assert_eq!(authorize(Access::Patina, &age).unwrap_err().status, 403);
        // A local peer whose pid is unknown cannot be verified as patina.
        assert_eq!(authorize(Access::Patina, &local).unwrap_err().status, 403);
        assert_eq!(
            authorize(Access::Patina, &Principal::Token)
                .unwrap_err()
                .status,
            403
        );
    }

    /// The `patina` decision: only a writer verified at accept, still running this
    /// executable with the same start time, passes.
    #[test]
    fn patina_access_needs_the_accept_time_writer_still_the_same_process() {
        let me = std::process::id();
        let start_time = process_start_time(me).unwrap();
        let ok = Principal::LocalPeer {
            uid: 0,
            pid: Some(me),
            writer: Writer::PatinaAtAccept { start_time },
        };
        assert!(authorize(Access::Patina, &ok).is_ok());
        let reused = Principal::LocalPeer {
            uid: 0,
            pid: Some(me),
            writer: Writer::PatinaAtAccept {
                start_time: start_time + 1,
            },
        };
        assert_eq!(authorize(Access::Patina, &reused).unwrap_err().status, 403);
        let handed_over = Principal::LocalPeer {
            uid: 0,
            pid: Some(me),
            writer: Writer::Unverified {
                writer_pid: Some(me + 1),
                why: "written by another process",
            },
        };
        assert_eq!(
            authorize(Access::Patina, &handed_over).unwrap_err().status,
            403
        );
        assert!(authorize(Access::Local, &handed_over).is_ok());
    }

    #[test]
    fn start_time_parses_field_22_and_is_none_for_a_missing_process() {
        let t = process_start_time(std::process::id()).unwrap();
        assert!(t > 0);
        assert_eq!(process_start_time(std::process::id()), Some(t));
        assert_eq!(process_start_time(u32::MAX), None);
    }

    #[test]
    fn own_process_runs_this_executable_and_pid_1_does_not() {
        assert!(peer_runs_this_executable(std::process::id()));
        assert!(!peer_runs_this_executable(u32::MAX));
    }
}
