//! Tripwires (issue 20): the alert a tripped canary secret or a burst of findings leaves for
//! the user, and how it reaches them out of band. Depends on [`crate::audit`] (the requesting
//! process chain's records), [`crate::auth`] (a process's parent), [`crate::fsutil`] (the
//! alert file), [`crate::paths`] and
//! [`crate::text`] (the timestamp); knows
//! nothing of sessions or HTTP (the session decides when to trip, `session.rs`).
//!
//! A trip is recorded three ways: an audit-log entry `tripwire` with the requesting process
//! and its parent chain (pids and executables, never command lines: an argument may hold a
//! secret); the alert file `~/.patina/alert.json` (0600, written atomically), which makes
//! every later `patina` command print the alert first and `patina session unlock` refuse
//! until `--ack-canary`; and, at once, the confirmation console if one is open, else a
//! desktop notification (`notify-send`) where a desktop session exists. None of them ever
//! holds a value or a position in a text: only secret names, the route, the process chain.

use crate::audit::{self, Event};
use crate::fsutil;
use crate::paths::Home;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How many scans may find a known value within [`BURST_WINDOW`] before the hold locks: 30.
/// Counted once per scanned text (a `/guard/scan` request, a `/secrets/scan` request, a scry
/// answer) that holds at least one known value, whichever value and however often. An
/// ordinary day never reaches it: the guard's PreToolUse hook already denies the reads that
/// would print a stored value, so a finding is an accident, and an agent's tool calls come at
/// most one per model round trip (seconds); 30 accidents in 10 minutes, one every 20 s, is
/// somebody probing. A word list tried through any detector makes one finding per word that
/// contains a weak value, so it trips within 31 such words. `patina serve --burst-limit N`
/// changes it.
pub const DEFAULT_BURST_LIMIT: usize = 30;

/// The sliding window [`DEFAULT_BURST_LIMIT`] counts over: 10 minutes.
pub const BURST_WINDOW: Duration = Duration::from_secs(600);

/// The largest burst limit accepted (a larger one would never trip in a window).
pub const MAX_BURST_LIMIT: usize = 100_000;

/// What tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A canary secret was asked for or seen.
    Canary,
    /// More than the burst limit of scans found a known value within [`BURST_WINDOW`].
    Burst,
}

pub use crate::audit::Proc;

/// The alert of one trip, as kept in `~/.patina/alert.json` and shown to the user. Names
/// only: no value, no offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// RFC 3339 UTC time of the trip.
    pub time: String,
    /// What tripped.
    pub kind: Kind,
    /// The canaries touched, or the secrets found in the burst.
    pub names: Vec<String>,
    /// Where: `/guard/scan`, `/secrets/scan`, `/scry`, `/session/env`, …
    pub route: String,
    /// The requesting process and its parents, nearest first.
    pub chain: Vec<Proc>,
    /// How it was delivered at once: `console`, `notify-send`, or `file` (only the next
    /// `patina` command shows it).
    pub delivered: String,
}

impl Alert {
    /// The alert as one line for people (what tripped, who asked, how to go on), starting
    /// `TRIPWIRE at`.
    pub fn message(&self) -> String {
        let what = match self.kind {
            Kind::Canary => format!("canary secret {} was touched", self.names.join(", ")),
            Kind::Burst => format!(
                "a burst of scans found stored secrets ({}) — someone may be guessing a value",
                self.names.join(", ")
            ),
        };
        let chain = self
            .chain
            .iter()
            .map(|p| format!("{} ({})", p.pid, p.exe.as_deref().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(" <- ");
        format!(
            "TRIPWIRE at {}: {what} via {}; requested by {}. The session and the scan \
             hold are locked; see `patina session status` and the audit log, then `patina \
             session unlock --ack-canary` to go on.",
            self.time,
            self.route,
            if chain.is_empty() { "?" } else { &chain }
        )
    }
}

/// The requesting process `pid` and up to 6 ancestors (stopping before pid 1), each with its
/// executable, read from `/proc`.
pub fn process_chain(pid: Option<u32>) -> Vec<Proc> {
    let mut out = Vec::new();
    let mut at = pid;
    while let Some(p) = at.filter(|&p| p > 1 && out.len() < 7) {
        out.push(Proc {
            pid: p,
            exe: audit::exe_of(p),
        });
        at = crate::auth::parent_pid(p);
    }
    out
}

/// Where the alert file lives: `~/.patina/alert.json`.
pub fn alert_path(home: &Home) -> std::path::PathBuf {
    home.root().join("alert.json")
}

/// The pending alert, if a tripwire tripped and was not acknowledged. A file that does not
/// parse still counts as an alert (of unknown content): the tripwire must not be cleared by
/// damaging the file.
pub fn pending(home: &Home) -> Option<Result<Alert, String>> {
    let path = alert_path(home);
    let bytes = std::fs::read(&path).ok()?;
    Some(serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "patina: TRIPWIRE: {} exists but does not parse; run `patina session unlock --ack-canary` after reading the audit log",
            path.display()
        )
    }))
}

/// The pending alert as text for people, if any.
pub fn pending_message(home: &Home) -> Option<String> {
    pending(home).map(|a| match a {
        Ok(a) => format!("patina: {}", a.message()),
        Err(m) => m,
    })
}

/// Records a trip: the alert file (the first alert stays when one is pending, so a flood
/// cannot push the first trip out), the audit entry `tripwire`, and a desktop notification
/// unless `console` (the confirmation console shows it). Never fails: a trip that cannot be
/// written still locked the session; [`Recorded::unwritten`] says why the file was not
/// written, for a caller that can tell the user.
pub fn record(
    home: &Home,
    kind: Kind,
    names: Vec<String>,
    route: &str,
    pid: Option<u32>,
    console: bool,
) -> Alert {
    record_with(home, kind, names, route, pid, console).alert
}

/// What [`record_with`] did.
pub struct Recorded {
    /// The alert.
    pub alert: Alert,
    /// Why the alert file could not be written (e.g. a full disk), if it could not.
    pub unwritten: Option<String>,
}

/// [`record`], also telling whether the alert file was written.
pub fn record_with(
    home: &Home,
    kind: Kind,
    names: Vec<String>,
    route: &str,
    pid: Option<u32>,
    console: bool,
) -> Recorded {
    let mut alert = Alert {
        time: crate::text::utc_timestamp(std::time::SystemTime::now()),
        kind,
        names,
        route: route.to_string(),
        chain: process_chain(pid),
        delivered: "file".into(),
    };
    if console {
        alert.delivered = "console".into();
    } else if notify(&alert.message()) {
        alert.delivered = "notify-send".into();
    }
    let mut unwritten = None;
    if pending(home).is_none() {
        let _ = fsutil::ensure_private_dir(home.root());
        if let Ok(json) = serde_json::to_vec_pretty(&alert)
            && let Err(e) = fsutil::write_atomic(&alert_path(home), &json)
        {
            unwritten = Some(e.to_string());
        }
    }
    let mut e = Event::now("tripwire", pid).names(alert.names.clone());
    e.route = Some(alert.route.clone());
    e.why = Some(match kind {
        Kind::Canary => "canary".into(),
        Kind::Burst => "burst".into(),
    });
    e.action = Some(alert.delivered.clone());
    e.parents = alert.chain.iter().skip(1).cloned().collect();
    audit::record(home, &e);
    Recorded { alert, unwritten }
}

/// Clears the pending alert (`session unlock --ack-canary`), audited as `ack`. Returns
/// whether one was pending.
pub fn acknowledge(home: &Home, pid: Option<u32>) -> bool {
    let path = alert_path(home);
    if !path.exists() {
        return false;
    }
    let names = match pending(home) {
        Some(Ok(a)) => a.names,
        _ => Vec::new(),
    };
    let _ = std::fs::remove_file(&path);
    audit::record(home, &Event::now("ack", pid).names(names));
    true
}

/// A desktop notification through `notify-send` (libnotify), when it is on `PATH` and a
/// desktop session exists (`DISPLAY`, `WAYLAND_DISPLAY` or `DBUS_SESSION_BUS_ADDRESS` set).
/// Returns whether it was started; waits for it on a thread of its own, never here.
pub fn notify(text: &str) -> bool {
    let desktop = ["DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !desktop {
        return false;
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("notify-send").is_file()));
    if !on_path {
        return false;
    }
    match std::process::Command::new("notify-send")
        .args([
            "--urgency=critical",
            "--app-name=patina",
            "patina tripwire",
            text,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            let _ = std::thread::Builder::new()
                .name("notify-send".into())
                .spawn(move || child.wait());
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_names_what_tripped_and_the_chain_and_survives_a_damaged_file() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::at(t.path().join("home"));
        assert!(pending(&home).is_none());
        let a = record(
            &home,
            Kind::Canary,
            vec!["bait".into()],
            "/guard/scan",
            Some(std::process::id()),
            true,
        );
        assert_eq!(a.delivered, "console");
        assert_eq!(a.chain[0].pid, std::process::id());
        assert!(
            a.message().contains("canary secret bait"),
            "{}",
            a.message()
        );
        assert_eq!(pending(&home).unwrap().unwrap(), a);
        // A second trip keeps the first alert.
        record(&home, Kind::Burst, vec![], "/scry", None, true);
        assert_eq!(pending(&home).unwrap().unwrap().kind, Kind::Canary);
        // Damaged, it still counts.
        fsutil::write_atomic(&alert_path(&home), b"{").unwrap();
        assert!(pending(&home).unwrap().is_err());
        assert!(acknowledge(&home, None));
        assert!(pending(&home).is_none());
        assert!(!acknowledge(&home, None));
        let events: Vec<String> = audit::read(&home)
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(events, ["tripwire", "tripwire", "ack"]);
    }
}
