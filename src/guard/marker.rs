//! The hold marker: `~/.patina/run/hold.json`, a small file that says a scan hold exists and
//! until when, so that the guard hook fails closed when the daemon is alive but cannot be
//! asked (stopped with SIGSTOP, its socket moved away) or was killed while it held the
//! values (QA session 8, H2). It holds no secret: the daemon's pid and the hold's expiry
//! (seconds since the Unix epoch), as `{"pid":N,"expires_at":T}`.
//!
//! The daemon writes it (0600, atomically: `fsutil::write_atomic`) whenever it takes a hold
//! (`session unlock`, `--scan-only`). Only the user ends it before its expiry: a
//! `patina session lock` or `patina stop` *asked by the patina binary* (the daemon checks the
//! peer's executable, as for `patina` routes) removes it, and so does the hold's own expiry.
//! Everything else leaves it in place until the expiry, so the hook keeps failing closed
//! (QA session 9, H2 a, b): a lock asked by another process (`curl`, `nc`, a Python socket),
//! a stop on a signal (TERM, INT, HUP), SIGKILL, a crash. Those that the daemon sees note
//! themselves in [`Marker::ended`], which the hook's message names. `patina session lock`
//! in a terminal clears it (it removes the marker itself when no daemon answers).
//!
//! A tripwire marks it [`Marker::tripped`]: such a marker outlives its expiry and every
//! lock, and only `session unlock --ack-canary` clears it ([`clear_trip`]), so removing
//! `alert.json` does not undo a trip, and a daemon started later stays tripped (H2 e).

use crate::fsutil;
use crate::paths::Home;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the marker says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    /// The daemon that took the hold.
    pub pid: u32,
    /// When the hold ends: seconds since the Unix epoch.
    pub expires_at: u64,
    /// How the daemon's hold ended before `expires_at` without the user's `session lock` or
    /// `stop` (a lock asked by another process, a stop on a signal), for the hook's
    /// message; `None` while the hold is held (or when the daemon was killed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// A tripwire tripped and was not acknowledged: the marker then counts whatever
    /// `expires_at` says, until `session unlock --ack-canary`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tripped: bool,
}

/// The marker as stored, if one parses (whatever its expiry).
pub fn read(home: &Home) -> Option<Marker> {
    serde_json::from_slice(&std::fs::read(path(home)).ok()?).ok()
}

fn store(home: &Home, m: &Marker) -> Result<(), fsutil::FsError> {
    fsutil::ensure_private_dir(&home.run_dir())?;
    let mut body = serde_json::to_vec(m).unwrap_or_default();
    body.push(b'\n');
    fsutil::write_atomic(&path(home), &body)
}

/// `run/hold.json` under `home`.
pub fn path(home: &Home) -> PathBuf {
    home.run_dir().join("hold.json")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Records that this process holds a scan hold for `for_` from now. Errors are the
/// caller's to report (the hold itself works without the marker; only the fail-closed
/// answer of a hook that cannot reach the daemon needs it).
pub fn write(home: &Home, for_: Duration) -> Result<(), fsutil::FsError> {
    let m = Marker {
        pid: std::process::id(),
        expires_at: now_secs().saturating_add(for_.as_secs().max(1)),
        ended: None,
        tripped: read(home).is_some_and(|m| m.tripped),
    };
    store(home, &m)
}

/// Removes the marker (a missing one is fine): the user's `session lock` or `stop`, or the
/// hold's expiry. A marker that records a trip stays (only [`clear_trip`] removes it).
pub fn remove(home: &Home) {
    if read(home).is_some_and(|m| m.tripped) {
        return;
    }
    let _ = std::fs::remove_file(path(home));
}

/// Notes in the marker, if one is there, that the daemon's hold ended on `why` (not by the
/// user): the marker stays until its expiry, so the hook keeps failing closed.
pub fn note_end(home: &Home, why: &str) {
    if let Some(mut m) = read(home)
        && m.ended.is_none()
    {
        m.ended = Some(why.to_string());
        let _ = store(home, &m);
    }
}

/// Records that a tripwire tripped: the marker (kept or new) says so until
/// [`clear_trip`]. Errors are the caller's to report.
pub fn write_tripped(home: &Home) -> Result<(), fsutil::FsError> {
    let m = match read(home) {
        Some(mut m) => {
            m.tripped = true;
            m
        }
        None => Marker {
            pid: std::process::id(),
            expires_at: now_secs(),
            ended: None,
            tripped: true,
        },
    };
    store(home, &m)
}

/// Whether the marker records a trip not yet acknowledged.
pub fn tripped(home: &Home) -> bool {
    read(home).is_some_and(|m| m.tripped)
}

/// Clears a recorded trip (`session unlock --ack-canary`): the marker goes.
pub fn clear_trip(home: &Home) {
    if read(home).is_some_and(|m| m.tripped) {
        let _ = std::fs::remove_file(path(home));
    }
}

/// The marker, when one says a hold is active now (or records a trip). A marker that exists but does not parse
/// counts as active for an hour from its modification time (a damaged marker must not turn
/// the fail-closed answer off).
pub fn active(home: &Home) -> Option<Marker> {
    let p = path(home);
    let bytes = std::fs::read(&p).ok()?;
    let m = serde_json::from_slice::<Marker>(&bytes).unwrap_or_else(|_| Marker {
        pid: 0,
        ended: None,
        tripped: false,
        expires_at: std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(u64::MAX, |d| d.as_secs() + 3600),
    });
    (m.tripped || m.expires_at > now_secs()).then_some(m)
}
