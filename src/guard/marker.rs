//! The hold marker: `~/.patina/run/hold.json`, a small file that says a scan hold exists and
//! until when, so that the guard hook fails closed when the daemon is alive but cannot be
//! asked (stopped with SIGSTOP, its socket moved away) or was killed while it held the
//! values (QA session 8, H2). It holds no secret: the daemon's pid and the hold's expiry
//! (seconds since the Unix epoch), as `{"pid":N,"expires_at":T}`.
//!
//! The daemon writes it (0600, atomically: `fsutil::write_atomic`) whenever it takes a hold
//! (`session unlock`, `--scan-only`) and removes it when the hold is wiped on purpose (lock,
//! expiry, shutdown, a tripwire). A daemon killed with SIGKILL leaves it behind, and the
//! hook then withholds every output until the hold would have expired or the user runs
//! `patina session lock` (which removes it when no daemon answers) or unlocks again.

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
    };
    fsutil::ensure_private_dir(&home.run_dir())?;
    let mut body = serde_json::to_vec(&m).unwrap_or_default();
    body.push(b'\n');
    fsutil::write_atomic(&path(home), &body)
}

/// Removes the marker (a missing one is fine).
pub fn remove(home: &Home) {
    let _ = std::fs::remove_file(path(home));
}

/// The marker, when one says a hold is active now. A marker that exists but does not parse
/// counts as active for an hour from its modification time (a damaged marker must not turn
/// the fail-closed answer off).
pub fn active(home: &Home) -> Option<Marker> {
    let p = path(home);
    let bytes = std::fs::read(&p).ok()?;
    let m = serde_json::from_slice::<Marker>(&bytes).unwrap_or_else(|_| Marker {
        pid: 0,
        expires_at: std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(u64::MAX, |d| d.as_secs() + 3600),
    });
    (m.expires_at > now_secs()).then_some(m)
}
