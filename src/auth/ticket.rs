//! One-use tickets for the `patina` access class (issue 16 item 1): proof that the process
//! writing a request ran the daemon's executable *before* it could have written it.
//!
//! The peer checks compare the process that wrote a request (`SCM_CREDENTIALS`) with the one
//! that connected (`SO_PEERCRED`) and look at its executable when the request is served. A
//! process can write a whole request and then `exec` patina: every byte carries its pid, and
//! when the daemon looks, that pid runs patina with the same start time (exec changes
//! neither). So a `patina` route also needs a ticket, taken with `POST /session/ticket` on an
//! earlier connection: the daemon issues one only to a writer it saw running patina, bound to
//! that pid and start time, and the request must be written by the same process. A process
//! that writes before its exec cannot know a ticket issued after it (a ticket is random), and
//! after the exec it runs patina's code, which writes only its own requests.
//!
//! Tickets are 32 random bytes (hex); the daemon keeps only their SHA-256 digests, each for
//! [`TICKET_TTL`], redeemed at most once, at most [`MAX_TICKETS`] at a time (the oldest goes
//! first). Depends on [`crate::text`] (hex), [`crate::secrets`] (`scan::ct_eq`, and
//! the random source `secrets::random`).

use sha2::Digest as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The route that issues tickets (`POST`, access `patina`, no ticket needed).
pub const TICKET_ROUTE: &str = "/session/ticket";

/// The routes that need a ticket: every `patina` route but [`TICKET_ROUTE`]. The client
/// reads this list (it sits below the route table); a test in [`crate::api`] keeps it equal to
/// the table's.
pub const TICKETED: &[&str] = &[
    "/session/unlock",
    "/session/env",
    "/secrets/add",
    "/secrets/remove",
    "/session/confirm/next",
    "/session/confirm/answer",
];

/// `local` routes that anyone of the user's uid may call, whose effect still depends on
/// whether the patina binary asked: a lock or a stop asked by `patina session lock` /
/// `patina stop` ends the guard's hold marker, one asked by `curl` or a script leaves it
/// (`guard::marker`, QA session 9, H2). The client takes a ticket for them too, and the
/// daemon observes their writer as for a `patina` route; a missing ticket only means "not
/// the user's lock".
pub const BY_USER: &[&str] = &["/session/lock", "/shutdown"];

/// How long a ticket can be redeemed after it was issued. A client asks for one right before
/// its request; a few seconds cover a loaded machine.
pub const TICKET_TTL: Duration = Duration::from_secs(10);

/// How many unredeemed tickets are kept; past it the oldest is dropped (bounded memory, and a
/// process that hoards tickets only loses its own oldest).
pub const MAX_TICKETS: usize = 256;

struct Issued {
    digest: [u8; 32],
    pid: u32,
    start_time: u64,
    expires: Instant,
}

/// The daemon's tickets (owned by its context; one per daemon, never a static).
#[derive(Default)]
pub struct Tickets {
    issued: Mutex<Vec<Issued>>,
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tickets([redacted])")
    }
}

fn digest(ticket: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(ticket).into()
}

impl Tickets {
    /// An empty set.
    pub fn new() -> Tickets {
        Tickets::default()
    }

    /// A new ticket for process `pid` with start time `start_time` (`/proc/<pid>/stat` field
    /// 22): 64 lowercase hex digits. Errors when the random source fails (no ticket is better
    /// than a guessable one) or the lock is poisoned.
    pub fn issue(&self, pid: u32, start_time: u64) -> std::io::Result<Zeroizing<String>> {
        let mut raw = Zeroizing::new([0u8; 32]);
        crate::secrets::random::fill_random(&mut raw[..])?;
        let ticket = Zeroizing::new(crate::text::hex(&raw[..], false));
        let now = Instant::now();
        let mut issued = self
            .issued
            .lock()
            .map_err(|_| std::io::Error::other("the ticket lock is poisoned"))?;
        issued.retain(|t| t.expires > now);
        if issued.len() >= MAX_TICKETS {
            issued.remove(0);
        }
        issued.push(Issued {
            digest: digest(ticket.as_bytes()),
            pid,
            start_time,
            expires: now + TICKET_TTL,
        });
        Ok(ticket)
    }

    /// Redeems `ticket` for process `pid` with `start_time`: true when it was issued to that
    /// process, has not expired and was not redeemed before. A ticket presented by another
    /// process is not consumed. A poisoned lock refuses.
    pub fn redeem(&self, ticket: &[u8], pid: u32, start_time: u64) -> bool {
        let d = digest(ticket);
        let now = Instant::now();
        let Ok(mut issued) = self.issued.lock() else {
            return false;
        };
        issued.retain(|t| t.expires > now);
        // Every entry is compared in full (no early exit on a byte), then the match removed.
        let mut found = None;
        for (i, t) in issued.iter().enumerate() {
            let same = crate::secrets::scan::ct_eq(&t.digest, &d);
            if same && t.pid == pid && t.start_time == start_time {
                found = Some(i);
            }
        }
        match found {
            Some(i) => {
                issued.remove(i);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_redeemed_once_by_its_process_only() {
        let t = Tickets::new();
        let a = t.issue(10, 500).unwrap();
        assert_eq!(a.len(), 64);
        assert!(!t.redeem(a.as_bytes(), 11, 500), "another pid");
        assert!(!t.redeem(a.as_bytes(), 10, 501), "a reused pid");
        assert!(!t.redeem(b"00", 10, 500), "a guess");
        assert!(t.redeem(a.as_bytes(), 10, 500));
        assert!(!t.redeem(a.as_bytes(), 10, 500), "a second redemption");
        let b = t.issue(10, 500).unwrap();
        assert_ne!(*a, *b);
    }

    #[test]
    fn at_most_max_tickets_are_kept_the_oldest_goes_first() {
        let t = Tickets::new();
        let first = t.issue(1, 1).unwrap();
        for _ in 0..MAX_TICKETS {
            t.issue(1, 1).unwrap();
        }
        assert!(!t.redeem(first.as_bytes(), 1, 1));
        assert_eq!(t.issued.lock().unwrap().len(), MAX_TICKETS);
    }
}
