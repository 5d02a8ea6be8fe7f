//! The audit log: an append-only record in `PATINA_HOME/audit.log` of every unlock, lock,
//! expiry, release of secret values and `secrets run` — time, event, secret names, the peer's
//! pid and executable; never a value or an identity. Depends on [`crate::paths`], [`crate::fsutil`], `rustix`
//! (for `O_NOFOLLOW`), `serde_json`, and the pure timestamp formatter
//! [`crate::text::utc_timestamp`].
//!
//! One JSON object per line. The file is created 0600 in the `open` call and always opened
//! with `O_APPEND`, so concurrent writers (the daemon and CLI processes) never interleave
//! inside a line shorter than a page (`write(2)` on a regular file under `O_APPEND`).

use crate::paths::Home;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The audit log's file name in `PATINA_HOME`.
pub const AUDIT_FILE: &str = "audit.log";

/// One audit record (a line of `audit.log`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// RFC 3339 UTC time.
    pub time: String,
    /// `unlock`, `lock`, `expire`, `shutdown`, `release` (values handed to a patina client),
    /// `run` (a `secrets run` started a command), `hold` (a scan-only unlock), `hold-expire`,
    /// `tripwire` (a canary or a burst locked the session; see `why`), `ack` (the user
    /// acknowledged it with `session unlock --ack-canary`),
    /// `guard` (the guard replaced, withheld or denied something; see `action`).
    /// `run` (a `secrets run` started a command), `refuse` (a local peer asked a patina
    /// route and was not verified as patina).
    pub event: String,
    /// The names of the secrets concerned (never values).
    #[serde(default)]
    pub names: Vec<String>,
    /// The vaults concerned (their directories); for `run`, where the values came from
    /// (`session` or `identity`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vaults: Vec<String>,
    /// The process that asked (the peer on the socket, or the CLI itself).
    #[serde(default)]
    pub pid: Option<u32>,
    /// That process's executable (`/proc/<pid>/exe`), when readable.
    #[serde(default)]
    pub exe: Option<String>,
    /// For `guard`: the agent's tool whose call or output was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// For `guard`: `replaced`, `withheld`, `denied` or `scrubbed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// For `guard`: the detectors that fired (`token`, `private-key`, …), once per finding;
    /// known secrets are in `names`, once per finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detectors: Vec<String>,
    /// For `refuse`, `confirm` and `deny`: the route asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// For `refuse`: the process that wrote the request, when it is not `pid` (a connection
    /// handed over by `fork`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_pid: Option<u32>,
    /// That writer's executable, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_exe: Option<String>,
    /// For `refuse` and `deny`: why, as a short fixed phrase (never request data); for
    /// `tripwire`: `canary` or `burst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// For `tripwire`: the parents of `pid`, nearest first (pids and executables only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<Proc>,
}

/// One process of a requesting chain: pid and executable, never its command line (an
/// argument may hold a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proc {
    /// Its pid.
    pub pid: u32,
    /// `/proc/<pid>/exe`, when readable.
    #[serde(default)]
    pub exe: Option<String>,
}

impl Event {
    /// An event of kind `event` now, for process `pid` (its executable is looked up).
    pub fn now(event: &str, pid: Option<u32>) -> Event {
        Event {
            time: crate::text::utc_timestamp(std::time::SystemTime::now()),
            event: event.into(),
            names: Vec::new(),
            vaults: Vec::new(),
            pid,
            exe: pid.and_then(exe_of),
            tool: None,
            action: None,
            detectors: Vec::new(),
            route: None,
            writer_pid: None,
            writer_exe: None,
            why: None,
            parents: Vec::new(),
        }
    }

    /// A `guard` record: what was done to which tool's call or output, and what was found.
    pub fn guard(action: &str, tool: &str, names: Vec<String>, detectors: Vec<String>) -> Event {
        let mut e = Event::now("guard", None);
        e.tool = Some(tool.to_string()).filter(|t| !t.is_empty());
        e.action = Some(action.to_string());
        e.names = names;
        e.detectors = detectors;
        e
    }

    /// With these secret names.
    pub fn names(mut self, names: impl IntoIterator<Item = String>) -> Event {
        self.names = names.into_iter().collect();
        self
    }

    /// With these vaults.
    pub fn vaults(mut self, vaults: impl IntoIterator<Item = String>) -> Event {
        self.vaults = vaults.into_iter().collect();
        self
    }
}

/// The executable of process `pid`, if `/proc/<pid>/exe` can be read.
pub fn exe_of(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.display().to_string())
}

/// The audit log of `home`.
pub fn path(home: &Home) -> PathBuf {
    home.root().join(AUDIT_FILE)
}

/// Appends `e` as one line. Creates the file 0600 (never follows a symlink). Errors name
/// the file.
pub fn append(home: &Home, e: &Event) -> anyhow::Result<()> {
    let p = path(home);
    let mut line = serde_json::to_vec(e)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(crate::fsutil::PRIVATE_FILE_MODE)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&p)
        .map_err(|err| anyhow::anyhow!("audit log {}: {err}", p.display()))?;
    if ends_torn(&f) {
        // A writer killed mid-line (or a full disk) left a line without its newline: start
        // ours on a line of its own, so the torn one stays alone and ours parses.
        line.insert(0, b'\n');
    }
    f.write_all(&line)
        .map_err(|err| anyhow::anyhow!("audit log {}: {err}", p.display()))
}

/// Whether the log's last byte is not a newline (a torn last line). An unreadable tail
/// counts as whole: the worst case is then one record glued to a torn one.
fn ends_torn(f: &std::fs::File) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return false;
    };
    let mut last = [0u8; 1];
    len > 0 && f.read_at(&mut last, len - 1).is_ok_and(|n| n == 1) && last[0] != b'\n'
}

/// Appends `e`, reporting a failure on stderr instead of failing the caller (an audit line
/// that cannot be written must not keep the user from locking a session).
pub fn record(home: &Home, e: &Event) {
    if let Err(err) = append(home, e) {
        eprintln!("patina: warning: {err:#}");
    }
}

/// Reads every record of the log (an absent log is empty). Lines that do not parse (a line
/// torn by a killed writer or a full disk) are skipped.
pub fn read(home: &Home) -> anyhow::Result<Vec<Event>> {
    let p = path(home);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("audit log {}: {e}", p.display()),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
