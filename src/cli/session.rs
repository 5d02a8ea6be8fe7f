//! `patina session unlock [--ttl DURATION] | lock | status | log` (requirements §7): hands the
//! identity to the daemon once, so `secrets run` needs no prompt until the TTL runs out. The
//! identity crosses only the user's Unix socket, to a daemon that checks we are patina.

use crate::audit;
use crate::client::{Client, ClientError};
use crate::paths::Home;
use crate::secrets::{self, identity};
use crate::session::{self, Status};
use std::io::Write;
use zeroize::Zeroizing;

/// The `session` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SessionCmd {
    /// Hand your identity to the running daemon for a while, so `secrets run` asks for none.
    ///
    /// The identity is resolved once (PATINA_IDENTITY, the OS keyring, or identity.age with
    /// its passphrase), checked against the global and project vaults, and held in the
    /// daemon's memory only (never on disk) until `patina session lock`, the TTL, or the
    /// daemon's exit.
    ///
    /// The daemon also keeps a scan hold for `patina guard`: keyed digests of every value
    /// that answer only "is a known value in this text, where, which name", for --hold
    /// (default 10h, a working day; never shorter than the TTL), wiped by `session lock`.
    #[command(
        after_help = "Examples:\n  patina session unlock              # 15 minutes of `secrets run`, 10h of guard\n  patina session unlock --ttl 1h\n  patina session unlock --scan-only  # the guard knows your values; nothing released"
    )]
    Unlock {
        /// How long: 90s, 10m, 2h, or seconds (default 15m, at most 12h).
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// How long the scan hold lasts: 90s, 10m, 8h (default 10h, at most 12h).
        #[arg(long, value_name = "DURATION")]
        hold: Option<String>,
        /// Keep only the scan hold: no value can be released (`secrets run` still asks for
        /// your identity); for a day of agent work with `patina guard`.
        #[arg(long)]
        scan_only: bool,
    },
    /// Wipe everything the daemon holds.
    #[command(after_help = "Examples:\n  patina session lock")]
    Lock,
    /// Whether the session is unlocked, until when, and which vaults (never names or values).
    #[command(after_help = "Examples:\n  patina session status\n  patina session status --json")]
    Status {
        /// Print the GET /session JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the audit log: unlocks, locks, expiries, releases and runs (names only).
    #[command(after_help = "Examples:\n  patina session log\n  patina session log --json")]
    Log {
        /// Print {"events":[…]}.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `session` subcommand.
pub fn run(cmd: SessionCmd) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    // Session routes are served on the Unix socket only (never over TCP).
    let client = Client::for_home(&home);
    match cmd {
        SessionCmd::Unlock {
            ttl,
            hold,
            scan_only,
        } => unlock(&home, &client, ttl.as_deref(), hold.as_deref(), scan_only),
        SessionCmd::Lock => {
            let reply = client.post_json("/session/lock", &serde_json::json!({}))?;
            anyhow::ensure!(reply.status == 200, "{}", reply.error_message());
            outln!("locked");
            Ok(())
        }
        SessionCmd::Status { json } => status(&client, json),
        SessionCmd::Log { json } => log(&home, json),
    }
}

#[derive(serde::Serialize)]
struct UnlockBody<'a> {
    identity: &'a str,
    ttl_secs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<String>,
    hold_secs: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    scan_only: bool,
}

fn unlock(
    home: &Home,
    client: &Client,
    ttl: Option<&str>,
    hold: Option<&str>,
    scan_only: bool,
) -> anyhow::Result<()> {
    let ttl = match ttl {
        Some(t) => session::parse_ttl(t).map_err(|e| super::UsageError(e.to_string()))?,
        None => session::DEFAULT_TTL,
    };
    let hold = match hold {
        Some(t) => session::parse_ttl(t).map_err(|e| super::UsageError(e.to_string()))?,
        None => session::DEFAULT_HOLD,
    };
    client.reachable()?;
    let id = identity::resolve(home)?;
    let text = id.expose_secret_text();
    drop(id);
    let project = super::project_dir(None).ok().map(|cwd| {
        secrets::project_root(home, &cwd)
            .to_string_lossy()
            .into_owned()
    });
    let mut body = Zeroizing::new(Vec::with_capacity(text.len() + 256));
    serde_json::to_writer(
        &mut *body,
        &UnlockBody {
            identity: &text,
            ttl_secs: ttl.as_secs(),
            project,
            hold_secs: hold.as_secs(),
            scan_only,
        },
    )?;
    drop(text);
    let reply = client.request("POST", "/session/unlock", Some(&body))?;
    drop(body);
    anyhow::ensure!(reply.status == 200, "{}", reply.error_message());
    let st: Status = reply.json()?;
    if scan_only {
        outln!(
            "scan hold for {} (nothing can be released)",
            human(st.hold_expires_in_secs)
        );
    } else {
        outln!(
            "unlocked for {}; scan hold for {}",
            human(st.expires_in_secs),
            human(st.hold_expires_in_secs)
        );
    }
    Ok(())
}

fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let st: Status = match client.get("/session") {
        Ok(r) if r.status == 200 => r.json()?,
        Ok(r) => anyhow::bail!("{}", r.error_message()),
        Err(ClientError::NoDaemon(_)) => {
            if !json {
                eprintln!("no daemon running: nothing is unlocked");
            }
            Status {
                unlocked: false,
                expires_in_secs: 0,
                vaults: Vec::new(),
                hold_expires_in_secs: 0,
            }
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &st)?;
        writeln!(out)?;
    } else if st.unlocked {
        writeln!(out, "unlocked, expires in {}", human(st.expires_in_secs))?;
        for v in &st.vaults {
            writeln!(out, "  {} vault: {}", v.kind, v.path)?;
        }
    } else {
        writeln!(out, "locked")?;
    }
    if !json && st.hold_expires_in_secs > 0 {
        writeln!(
            out,
            "scan hold for the guard, expires in {}",
            human(st.hold_expires_in_secs)
        )?;
    }
    Ok(())
}

fn log(home: &Home, json: bool) -> anyhow::Result<()> {
    let events = audit::read(home)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &serde_json::json!({ "events": events }))?;
        writeln!(out)?;
        return Ok(());
    }
    if events.is_empty() {
        eprintln!("the audit log is empty");
    }
    for e in events {
        write!(out, "{}  {:<8}", e.time, e.event)?;
        if !e.names.is_empty() {
            write!(out, "  names={}", e.names.join(","))?;
        }
        if let Some(p) = e.pid {
            write!(out, "  pid={p}")?;
        }
        if let Some(x) = &e.exe {
            write!(out, "  exe={x}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `1h 2m 3s` for a number of seconds.
fn human(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}
