//! Who is asking, and what each route needs (requirements §5): the principal, the access classes,
//! [`authorize`], the peer checks, and the two TCP credentials: the bearer token ([`token`])
//! and the age-key handshake ([`keys`], [`protocol`], [`server`]). Knows no socket: the
//! transport hands over peer credentials as plain numbers; reads `/proc/<pid>/exe` for the
//! peer-executable check. Depends on [`crate::http`] (the refusal responses),
//! [`crate::fsutil`], [`crate::paths`], [`crate::text`] (hex) and [`crate::secrets`] (the
//! private-file writer).

pub mod keys;
pub mod protocol;
pub mod server;
pub mod token;

use crate::http::Response;
use std::os::unix::fs::MetadataExt;

/// Fills `buf` from the kernel's random source (`getrandom(2)`, blocking until it is
/// seeded). The one policy for an interrupted call: `EINTR` is retried; any other error is
/// returned.
pub(crate) fn fill_random(buf: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

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
    },
    /// A TCP client that presented the daemon's bearer token (RFC 6750).
    Token,
    /// A TCP client holding a live age-key session ([`crate::auth::agekey`]): the client key
    /// `recipient` (`age1…`) is on the allowed list. Same rights as [`Principal::Token`].
    AgeKey {
        /// The client's public recipient.
        recipient: String,
    },
    /// Nobody in particular: a TCP client without valid credentials.
    Anonymous,
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
        (Access::Patina, Principal::LocalPeer { pid: Some(pid), .. }) => {
            if peer_runs_this_executable(*pid) {
                Ok(())
            } else {
                Err(Response::error(
                    403,
                    "this route answers only the patina binary itself",
                ))
            }
        }
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
    let Ok(own) = std::fs::metadata("/proc/self/exe") else {
        return false;
    };
    match std::fs::metadata(format!("/proc/{pid}/exe")) {
        Ok(peer) => peer.dev() == own.dev() && peer.ino() == own.ino(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_table_matches_brief_section_5() {
        let local = Principal::LocalPeer { uid: 1, pid: None };
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

    #[test]
    fn own_process_runs_this_executable_and_pid_1_does_not() {
        assert!(peer_runs_this_executable(std::process::id()));
        assert!(!peer_runs_this_executable(u32::MAX));
    }
}
