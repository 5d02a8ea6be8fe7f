//! The guard's way to the daemon's scan hold: `POST /guard/scan` through [`crate::client`],
//! the text cut into chunks that fit the 1 MiB body cap once JSON-encoded, consecutive
//! chunks overlapping by [`super::CHUNK_OVERLAP`] bytes (a fixed amount, independent of any
//! secret), offsets mapped back and duplicates from the overlaps dropped.

use super::hold::{GuardScanRequest, GuardScanResponse, Hit};
use super::{CHUNK_OVERLAP, KnownValues};
use crate::client::{Client, ClientError};
use std::time::Duration;

/// The largest request body the daemon reads (requirements §4), less room for the JSON around the
/// text.
const BODY_BUDGET: usize = 1024 * 1024 - 1024;

/// The first chunk size tried, in bytes of text (halved while its JSON does not fit).
const CHUNK: usize = 768 * 1024;

/// The daemon's hold, asked over the user's Unix socket (never TCP: the route is `local`).
pub struct DaemonHold {
    client: Client,
    /// Set when the daemon answered that a tripwire locked the hold.
    tripped: std::sync::atomic::AtomicBool,
    /// Set when the daemon could not be asked at all (not there, not answering, not patina).
    unreachable: std::sync::atomic::AtomicBool,
    /// Set when the daemon answered that it holds no values.
    no_hold: std::sync::atomic::AtomicBool,
    /// Where the hold marker and the pid file are ([`DaemonHold::fails_closed`]).
    home: Option<crate::paths::Home>,
}

impl DaemonHold {
    /// The hold of the daemon at `client` (a Unix-socket client), each exchange bounded by
    /// `timeout`.
    pub fn new(client: Client, timeout: Duration) -> DaemonHold {
        DaemonHold {
            client: client.with_timeout(timeout),
            tripped: std::sync::atomic::AtomicBool::new(false),
            unreachable: std::sync::atomic::AtomicBool::new(false),
            no_hold: std::sync::atomic::AtomicBool::new(false),
            home: None,
        }
    }

    /// The same, failing closed by `home`'s hold marker and pid file
    /// ([`KnownValues::fails_closed`]).
    pub fn with_home(mut self, home: crate::paths::Home) -> DaemonHold {
        self.home = Some(home);
        self
    }

    fn ask(&self, chunk: &str) -> Result<GuardScanResponse, String> {
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&GuardScanRequest {
                text: chunk.to_string(),
            })
            .map_err(|e| e.to_string())?,
        );
        match self.client.request("POST", "/guard/scan", Some(&body)) {
            Ok(r) if r.status == 200 => r
                .json::<GuardScanResponse>()
                .map_err(|_| "the daemon's answer did not parse".to_string()),
            Ok(r) => Err(format!("the daemon answered {}", r.status)),
            Err(e) => {
                self.unreachable
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                match e {
                    ClientError::NoDaemon(_) => Err("no daemon runs".into()),
                    e => Err(format!("the daemon could not be asked ({e})")),
                }
            }
        }
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn json_len(s: &str) -> usize {
    // Exact length of the JSON string literal serde_json writes.
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
        + 2
}

/// Whether the process `pid` (from the pid file) is alive and a patina process: its
/// executable is this one, or — when it cannot be read (the daemon is not dumpable and we
/// are not root) — its command name (`/proc/<pid>/comm`) is `patina`. A false positive only
/// withholds an output; it never lets one through.
fn patina_alive(pid: u32) -> bool {
    match crate::auth::peer_executable(pid) {
        crate::auth::PeerExe::This | crate::auth::PeerExe::Replaced(_) => true,
        crate::auth::PeerExe::Other(_) => false,
        crate::auth::PeerExe::Unknown(_) => std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim_end() == "patina"),
    }
}

impl KnownValues for DaemonHold {
    fn tripped(&self) -> bool {
        self.tripped.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn fails_closed(&self) -> Option<String> {
        let home = self.home.as_ref()?;
        let unreachable = self.unreachable.load(std::sync::atomic::Ordering::Relaxed);
        if !unreachable && !self.no_hold.load(std::sync::atomic::Ordering::Relaxed) {
            return None; // the values were checked (or nothing needed checking)
        }
        if let Some(m) = super::marker::active(home) {
            let left = m
                .expires_at
                .saturating_sub(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                )
                .div_ceil(60);
            return Some(if let Some(how) = &m.ended {
                format!(
                    "a scan hold was taken (for {left} more minutes) but the daemon no longer \
                     has it: {how}"
                )
            } else if unreachable {
                format!(
                    "patina's daemon holds the known secret values (for {left} more minutes) \
                     but cannot be asked: it is stopped, stuck, gone, or its socket was moved"
                )
            } else {
                format!(
                    "a scan hold was taken (for {left} more minutes) but the daemon no longer \
                     has it: it was killed, restarted or locked without `patina session lock`"
                )
            });
        }
        let pid = home.daemon_pid()?;
        (unreachable && patina_alive(pid)).then(|| {
            format!(
                "patina's daemon (pid {pid}) is running but cannot be asked: it is stopped, \
                 stuck, or its socket was moved"
            )
        })
    }

    fn scan(&self, text: &str) -> Result<Vec<Hit>, String> {
        if self.client.is_tcp() {
            return Err("the hold is asked over the Unix socket only".into());
        }
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let mut hits: Vec<Hit> = Vec::new();
        let mut start = 0;
        loop {
            let mut size = CHUNK;
            let end = loop {
                let end = floor_boundary(text, start + size);
                if json_len(&text[start..end]) <= BODY_BUDGET || size <= 2 * CHUNK_OVERLAP {
                    break end;
                }
                size /= 2;
            };
            let answer = self.ask(&text[start..end])?;
            if !answer.held && answer.tripped {
                self.tripped
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(
                    "patina is locked by a tripwire (a canary secret was touched or \
                     stored values were probed); the user must run `patina session unlock \
                     --ack-canary`"
                        .into(),
                );
            }
            if !answer.held {
                self.no_hold
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(
                    "no scan hold: run `patina session unlock --scan-only` (or `patina session unlock`)"
                        .into(),
                );
            }
            hits.extend(answer.findings.into_iter().map(|h| Hit {
                name: h.name,
                start: h.start + start,
                end: h.end + start,
            }));
            if end >= text.len() {
                break;
            }
            let next = floor_boundary(text, end.saturating_sub(CHUNK_OVERLAP));
            start = if next > start { next } else { end };
        }
        hits.sort_by(|a, b| (a.start, a.end, &a.name).cmp(&(b.start, b.end, &b.name)));
        hits.dedup();
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_len_matches_serde() {
        for s in ["", "plain", "a\"b\\c\n\t\u{1}\u{7f}é", "\u{0}\u{1f}"] {
            assert_eq!(super::json_len(s), serde_json::to_string(s).unwrap().len());
        }
    }
}
