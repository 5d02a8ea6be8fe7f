//! `patina status`, `patina stop`, `patina token path|rotate`: the daemon's lifecycle.
use crate::api::health::Status;
use crate::client::{Client, ClientError};
use crate::paths::Home;
use std::time::{Duration, Instant};

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `patina status`.")]
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  patina status\n  patina status --json | jq .pid\n  patina status --url http://127.0.0.1:50051   # a daemon over TCP"
)]
pub struct StatusArgs {
    /// `--url`: this command can reach a daemon over TCP.
    #[command(flatten)]
    pub tcp: super::UrlArg,
    /// Print JSON (`{"running": false}` when no daemon answers).
    #[arg(long)]
    pub json: bool,
}

/// `status --url`: the daemon's `/health`, and where the rest is.
fn status_over_tcp(client: &Client, json: bool) -> super::CliResult {
    #[derive(serde::Deserialize)]
    struct Health {
        version: String,
        uptime_secs: u64,
    }
    let reply = client.get("/health")?;
    ensure!(reply.status == 200, "{}", reply.error_message());
    let h: Health = reply.json()?;
    let at = client.socket().display().to_string();
    if json {
        outln!(
            "{}",
            serde_json::json!({"running": true, "url": at, "version": h.version, "uptime_secs": h.uptime_secs})
        );
    } else {
        outln!("running       yes (version {})", h.version);
        outln!("url           {at}");
        outln!("uptime        {}s", h.uptime_secs);
        outln!(
            "the rest (pid, project, index freshness) is served on the daemon's Unix socket only: run `patina status` on its machine"
        );
    }
    Ok(())
}

/// `patina status`: exit 0 when a daemon answers, 1 when none runs. Over TCP (`--url`)
/// only what the open `GET /health` tells (running, version, uptime): the full `/status`
/// (pid, socket, project, freshness) is a local route, served on the Unix socket only.
pub fn status(a: StatusArgs, url: Option<&str>) -> super::CliResult {
    let home = Home::from_env()?;
    let client = Client::from_env(&home, url)?;
    if client.is_tcp() {
        return status_over_tcp(&client, a.json);
    }
    let reply = match client.get("/status") {
        Ok(r) => r,
        Err(ClientError::NoDaemon(p)) => {
            if a.json {
                outln!(
                    "{}",
                    serde_json::json!({"running": false, "socket": p.display().to_string()})
                );
                std::process::exit(1);
            }
            bail!("no daemon running at {}", p.display());
        }
        Err(e) => return Err(e.into()),
    };
    ensure!(reply.status == 200, "{}", reply.error_message());
    let s: Status = reply.json()?;
    if a.json {
        outln!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    outln!("running       yes (pid {}, version {})", s.pid, s.version);
    outln!("uptime        {}s", s.uptime_secs);
    outln!("socket        {}", s.socket);
    outln!("tcp           {}", s.tcp.as_deref().unwrap_or("off"));
    outln!("project       {}", s.project);
    outln!("connections   {} open", s.open_connections);
    outln!(
        "workers       {} unix, {} tcp",
        s.workers.unix,
        s.workers.tcp
    );
    outln!(
        "dumpable      {}",
        if s.dumpable {
            "yes"
        } else {
            "no (no core dumps, /proc/PID/mem closed)"
        }
    );
    for f in &s.freshness {
        outln!("index         {}", f.project);
        let mode = match (f.mode, &f.reason) {
            (crate::scry::fresh::Mode::Watching, _) => {
                let noun = if f.watches == 1 {
                    "directory"
                } else {
                    "directories"
                };
                format!("watching ({} {noun})", f.watches)
            }
            (crate::scry::fresh::Mode::Polling, Some(why)) => format!("polling ({why})"),
            (crate::scry::fresh::Mode::Polling, None) => "polling".into(),
            (crate::scry::fresh::Mode::Starting, _) => "starting".into(),
        };
        outln!("  freshness   {mode}");
        match (&f.last_update, f.seconds_since_update) {
            (Some(at), Some(ago)) => outln!(
                "  updated     {at} ({ago:.0}s ago, {:.0} ms, {} files changed)",
                f.last_scrape_ms.unwrap_or(0.0),
                f.last_changed_files
            ),
            _ => outln!("  updated     not yet"),
        }
        outln!(
            "  pending     {}{} changes",
            f.pending_changes,
            if f.pending_overflow { "+" } else { "" }
        );
        if let Some(g) = f.generation {
            outln!("  generation  {g}");
        }
        if let Some(e) = &f.last_error {
            outln!("  last error  {e}");
        }
    }
    Ok(())
}

/// How long `patina stop` waits for the daemon to exit.
pub const STOP_WAIT: Duration = Duration::from_secs(15);

/// `patina stop`: asks the daemon to stop over the socket (`POST /shutdown`); when the socket
/// does not answer, falls back to SIGTERM to the pid in the pid file — but only if that
/// process runs the patina executable. Waits until the daemon is gone.
pub fn stop() -> super::CliResult {
    let home = Home::from_env()?;
    // A daemon of an older, replaced binary may be stopped (`/shutdown` carries nothing).
    let client = Client::for_home(&home).allowing_replaced_binary();
    let pid_path = home.pid_path();
    let pid = home.daemon_pid();
    match client.post_json("/shutdown", &serde_json::json!({})) {
        Ok(r) if r.status == 200 => {}
        Ok(r) => bail!("{}", r.error_message()),
        Err(ClientError::NoDaemon(_)) => match pid {
            Some(pid) if crate::auth::peer_runs_this_executable(pid) => {
                let p = rustix::process::Pid::from_raw(pid as i32)
                    .ok_or_else(|| anyhow::anyhow!("bad pid in {}", pid_path.display()))?;
                rustix::process::kill_process(p, rustix::process::Signal::TERM)
                    .map_err(|e| anyhow::anyhow!("signalling pid {pid}: {e}"))?;
            }
            _ => bail!("no daemon running at {}", client.socket().display()),
        },
        Err(e) => return Err(e.into()),
    }
    let t = Instant::now();
    while t.elapsed() < STOP_WAIT {
        // Gone once it removed its socket and pid file, or the process ended (a zombie
        // awaiting its parent counts as ended).
        let cleaned = !client.socket().exists() && !pid_path.exists();
        let gone = cleaned || pid.is_some_and(|p| !process_alive(p));
        if gone {
            eprintln!("patina: daemon stopped");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("the daemon did not stop within {}s", STOP_WAIT.as_secs())
}

/// `patina token …`
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum TokenCmd {
    /// Print the path of the TCP bearer token file (never the token).
    #[command(
        after_help = "Examples:\n  patina token path\n  curl -H \"Authorization: Bearer $(cat \"$(patina token path)\")\" http://127.0.0.1:50051/status"
    )]
    Path,
    /// Replace the token with a new random one; a running daemon uses it from its next
    /// request, no restart needed. Prints the path, never the token.
    #[command(
        after_help = "Examples:\n  patina token rotate           # prints the path; the old token stops working"
    )]
    Rotate,
}

/// Runs a `token` subcommand.
pub fn token(cmd: TokenCmd) -> super::CliResult {
    let home = Home::from_env()?;
    let path = home.token_path();
    match cmd {
        TokenCmd::Path => {
            outln!("{}", path.display());
            if !path.exists() {
                eprintln!(
                    "patina: note: no token there yet: `patina serve --port P` makes it at its first start with TCP, or `patina token rotate` now"
                );
            }
        }
        TokenCmd::Rotate => {
            crate::auth::token::rotate(&path)?;
            outln!("{}", path.display());
            if std::env::var_os(crate::auth::token::TOKEN_ENV).is_some() {
                eprintln!(
                    "patina: note: {} is set in this environment; a daemon started with it keeps using that value",
                    crate::auth::token::TOKEN_ENV
                );
            } else {
                eprintln!("patina: token rotated; clients read it from the file above");
            }
        }
    }
    Ok(())
}

/// True while `pid` exists and is not a zombie (`proc(5)`: state `Z` in `/proc/<pid>/stat`).
fn process_alive(pid: u32) -> bool {
    crate::auth::process_state(pid).is_some_and(|state| state != 'Z' && state != 'X')
}
