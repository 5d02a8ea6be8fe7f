//! `patina session unlock [--ttl DURATION] | lock | status | log` (requirements §7): hands the
//! identity to the daemon once, so `secrets run` needs no prompt until the TTL runs out. The
//! identity crosses only the user's Unix socket, to a daemon that checks we are patina.

use crate::audit;
use crate::client::{Client, ClientError};
use crate::paths::Home;
use crate::secrets::{self, identity};
use crate::session::{self, Status};
use std::io::{IsTerminal, Write};
use zeroize::Zeroizing;

/// The `session` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
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
    ///
    /// With --confirm (like `ssh-add -c`), this terminal stays in the foreground as the
    /// confirmation console: every release of values (each `patina secrets run`) is shown
    /// here — the command line, its working directory, the requesting process and its parent
    /// chain, the secret names — and waits for y/N; no answer within --confirm-timeout is a
    /// refusal. `q` or Ctrl-D locks the session and ends the console. All audited.
    ///
    ///   patina session unlock --confirm --ttl 2h
    ///
    /// Limits: the console trusts what the kernel reports for the requesting process; a
    /// same-uid program that can read your identity (PATINA_IDENTITY, the keyring) can still
    /// decrypt the vault without the daemon.
    #[command(
        after_help = "Examples:\n  patina session unlock              # 15 minutes of `secrets run`, 10h of guard\n  patina session unlock --ttl 1h\n  patina session unlock --scan-only  # the guard knows your values; nothing released\n  patina session unlock --confirm --ttl 2h  # this terminal answers every release\n  patina session unlock --ack-canary  # after a tripwire alert, once you have read it"
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
        /// Ask on this terminal before every release of values (needs a terminal).
        #[arg(long, conflicts_with = "scan_only")]
        confirm: bool,
        /// How long a release waits for an answer (default 30s, at most 10m).
        #[arg(long, value_name = "DURATION", requires = "confirm")]
        confirm_timeout: Option<String>,
        /// Acknowledge a tripwire alert (a canary secret was touched, or a burst of
        /// findings): after a trip, unlock refuses without it. Read the alert and
        /// `patina session log` first. Audited as `ack`.
        #[arg(long)]
        ack_canary: bool,
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
pub fn run(cmd: SessionCmd) -> super::CliResult {
    let home = Home::from_env()?;
    // Session routes are served on the Unix socket only (never over TCP).
    let client = Client::for_home(&home);
    match cmd {
        SessionCmd::Unlock {
            ttl,
            hold,
            scan_only,
            confirm,
            confirm_timeout,
            ack_canary,
        } => {
            let confirm = if confirm {
                let t = match confirm_timeout.as_deref() {
                    Some(t) => session::parse_ttl(t).map_err(|e| super::usage(e.to_string()))?,
                    None => session::DEFAULT_CONFIRM_TIMEOUT,
                };
                if t > session::MAX_CONFIRM_TIMEOUT {
                    return Err(super::usage("--confirm-timeout is at most 10m"));
                }
                if !std::io::stdin().is_terminal() {
                    return Err(super::usage(
                        "--confirm needs a terminal: this terminal answers every release",
                    ));
                }
                Some(t)
            } else {
                None
            };
            unlock(
                &home,
                &client,
                ttl.as_deref(),
                hold.as_deref(),
                scan_only,
                confirm,
                ack_canary,
            )
        }
        SessionCmd::Lock => {
            let reply = match client.post_json("/session/lock", &serde_json::json!({})) {
                Ok(r) => r,
                // A daemon killed while it held values leaves the hold marker, and the guard
                // withholds every output while it stands: with no daemon, locking is removing
                // it (the user accepts that known values are no longer checked).
                Err(ClientError::NoDaemon(_)) if crate::guard::marker::path(&home).exists() => {
                    crate::guard::marker::remove(&home);
                    outln!("locked (no daemon runs; the guard no longer waits for its hold)");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            ensure!(reply.status == 200, "{}", reply.error_message());
            outln!("locked");
            Ok(())
        }
        SessionCmd::Status { json } => status(&client, json),
        SessionCmd::Log { json } => log(&home, json),
    }
}

fn unlock(
    home: &Home,
    client: &Client,
    ttl: Option<&str>,
    hold: Option<&str>,
    scan_only: bool,
    confirm: Option<std::time::Duration>,
    ack_canary: bool,
) -> super::CliResult {
    let ttl = match ttl {
        Some(t) => session::parse_ttl(t).map_err(|e| super::usage(e.to_string()))?,
        None => session::DEFAULT_TTL,
    };
    let hold = match hold {
        Some(t) => session::parse_ttl(t).map_err(|e| super::usage(e.to_string()))?,
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
        &crate::api::session::UnlockRequest {
            identity: &*text,
            ttl_secs: Some(ttl.as_secs()),
            project,
            hold_secs: Some(hold.as_secs()),
            scan_only,
            confirm_timeout_secs: confirm.map(|t| t.as_secs()),
            ack_canary,
        },
    )?;
    drop(text);
    let reply = client.request("POST", "/session/unlock", Some(&body))?;
    drop(body);
    ensure!(reply.status == 200, "{}", reply.error_message());
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
    if let Some(t) = confirm {
        let v: serde_json::Value = serde_json::from_slice(&reply.body)?;
        let token = Zeroizing::new(
            v["console_token"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("the daemon did not start a confirmation console"))?
                .to_string(),
        );
        return console(client, &token, t);
    }
    Ok(())
}

/// The confirmation console: asks the daemon for the next release, shows it, reads y/N from
/// this terminal within `timeout`, answers. Ends when the session is locked or expires, or
/// on `q` / end of input (then it locks the session).
fn console(client: &Client, token: &str, timeout: std::time::Duration) -> super::CliResult {
    use crate::api::session::{ConfirmAnswer, ConfirmNext};
    outln!(
        "confirmation console: every release of secret values asks here (y/N, {}s); q or Ctrl-D locks and ends",
        timeout.as_secs()
    );
    let _ = super::stdout().flush();
    let long = client
        .clone()
        .with_timeout(std::time::Duration::from_secs(40));
    loop {
        let next = ConfirmNext {
            token: token.to_string(),
            wait_secs: Some(20),
        };
        let reply = long.post_json("/session/confirm/next", &next)?;
        if reply.status == 409 {
            let msg = reply.error_message();
            if msg.contains("tripwire") {
                // The alert, out of band: this terminal is the user's, not the agent's.
                outln!("\n\x07{msg}\nthe console ends");
            } else {
                outln!("the session is locked or expired: the console ends");
            }
            return Ok(());
        }
        ensure!(reply.status == 200, "{}", reply.error_message());
        let v: serde_json::Value = reply.json()?;
        let Some(id) = v["id"].as_u64() else {
            continue;
        };
        let r = &v["request"];
        let mut out = super::stdout();
        let replace = r["action"] == "replace";
        if replace {
            writeln!(
                out,
                "\npatina: a replacement of a stored secret's value is asked (secrets add --replace)"
            )?;
        } else {
            writeln!(out, "\npatina: a release of secret values is asked")?;
        }
        writeln!(out, "  command:  {}", r["command"].as_str().unwrap_or("?"))?;
        writeln!(out, "  cwd:      {}", r["cwd"].as_str().unwrap_or("?"))?;
        writeln!(out, "  pid:      {}", r["pid"])?;
        for p in r["parents"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  parent:   {} {}",
                p["pid"],
                p["command"].as_str().unwrap_or("")
            )?;
        }
        let names: Vec<&str> = r["names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
            .collect();
        writeln!(out, "  secrets:  {}", names.join(", "))?;
        write!(
            out,
            "{} [y/N] ",
            if replace {
                "replace it?"
            } else {
                "release them?"
            }
        )?;
        out.flush()?;
        drop(out);
        // The daemon refuses by itself when the time is up (audited as no answer).
        let Some(line) = read_line_within(timeout) else {
            outln!("no answer in time: refused");
            continue;
        };
        let (allow, quit) = match line.as_deref().map(str::trim) {
            None | Some("q") => (false, true),
            Some("y" | "Y" | "yes") => (true, false),
            _ => (false, false),
        };
        outln!(
            "{}",
            match (allow, replace) {
                (true, true) => "replaced",
                (true, false) => "released",
                _ => "refused",
            }
        );
        let ans = ConfirmAnswer {
            token: token.to_string(),
            id,
            allow,
        };
        let _ = client.post_json("/session/confirm/answer", &ans);
        if quit {
            let _ = client.post_json("/session/lock", &serde_json::json!({}));
            outln!("locked");
            return Ok(());
        }
    }
}

/// One line from stdin, waiting at most `t`: `None` on timeout, `Some(None)` at end of
/// input, else `Some(Some(line))`.
fn read_line_within(t: std::time::Duration) -> Option<Option<String>> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdin = std::io::stdin();
    let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
    let ts = Timespec {
        tv_sec: t.as_secs() as i64,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&ts)) {
        Ok(0) | Err(_) => return None,
        Ok(_) => {}
    }
    let mut line = String::new();
    match std::io::BufRead::read_line(&mut stdin.lock(), &mut line) {
        Ok(0) | Err(_) => Some(None),
        Ok(_) => Some(Some(line)),
    }
}

fn status(client: &Client, json: bool) -> super::CliResult {
    let st: Status = match client.get("/session") {
        Ok(r) if r.status == 200 => r.json()?,
        Ok(r) => bail!("{}", r.error_message()),
        Err(ClientError::NoDaemon(_)) => {
            if !json {
                eprintln!("no daemon running: nothing is unlocked");
            }
            Status {
                unlocked: false,
                expires_in_secs: 0,
                vaults: Vec::new(),
                hold_expires_in_secs: 0,
                tripped: crate::tripwire::pending(&Home::from_env()?).is_some(),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = super::stdout();
    if json {
        serde_json::to_writer(&mut out, &st)?;
        writeln!(out)?;
    } else if st.unlocked {
        writeln!(out, "unlocked, expires in {}", human(st.expires_in_secs))?;
        for v in &st.vaults {
            writeln!(out, "  {} vault: {}", v.kind, v.path)?;
        }
    } else if st.tripped {
        writeln!(
            out,
            "locked by a tripwire: read the alert and `patina session log`, then `patina session unlock --ack-canary`"
        )?;
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

fn log(home: &Home, json: bool) -> super::CliResult {
    let events = audit::read(home)?;
    let mut out = super::stdout();
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
