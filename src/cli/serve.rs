//! `patina serve`: run the daemon in the foreground.
use crate::limits;
use crate::paths::Home;
use crate::server::{self, ServeConfig, tcp::TcpConfig};
use std::net::ToSocketAddrs;
use std::path::PathBuf;

use crate::client::url::DEFAULT_PORT;

/// Arguments of `patina serve`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  patina serve                          # this directory's knowledge, on ~/.patina/run/serve.sock\n  patina serve --project ~/src/app\n  patina serve --port 50051             # also TCP on 127.0.0.1:50051, bearer token required\n\nThe token's path is printed; read it with `cat \"$(patina token path)\"` only where you need it."
)]
pub struct ServeArgs {
    /// The project to serve (default: the current directory); scraped first if it has no
    /// index yet.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// The Unix socket path (default: $PATINA_HOME/run/serve.sock). Its directory must be
    /// yours and private (0700).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Also listen on TCP at this host (default 127.0.0.1 when only --port is given). Every
    /// route but /health and /version then needs the bearer token.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Also listen on TCP at this port (default 50051 when only --host is given; 0 picks a
    /// free port, printed at start).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Browser origins allowed to call the TCP API (exact `scheme://host[:port]`; repeatable).
    /// Requests carrying any other Origin are refused.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Worker threads per listener; each serves one connection at a time.
    #[arg(long, default_value_t = limits::DEFAULT_WORKERS, value_name = "N", value_parser = workers_in_range)]
    pub workers: usize,
    /// Connections that may wait for a free worker, per listener; past that a client gets
    /// 503 with Retry-After at once.
    #[arg(long, default_value_t = limits::DEFAULT_QUEUE, value_name = "N", value_parser = queue_in_range)]
    pub max_connections: usize,
    /// Tripwire: how many scans may find a stored value within 10 minutes before patina
    /// locks the session and the scan hold and alerts you (default 30; see the README,
    /// "Tripwires").
    #[arg(long, default_value_t = crate::tripwire::DEFAULT_BURST_LIMIT, value_name = "N", value_parser = burst_in_range)]
    pub burst_limit: usize,
}

/// Runs the daemon until SIGINT/SIGTERM or `patina stop`.
pub fn run(a: ServeArgs) -> super::CliResult {
    let home = Home::from_env()?;
    let project = super::project_to_index(a.project, "`patina serve --project DIR`")?;
    let socket = a.socket.unwrap_or_else(|| home.socket_path());
    let tcp = if a.host.is_some() || a.port.is_some() {
        let host = a.host.unwrap_or_else(|| "127.0.0.1".into());
        let port = a.port.unwrap_or(DEFAULT_PORT);
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| anyhow::anyhow!("--host {host}: {e}"))?
            .next()
            .ok_or_else(|| anyhow::anyhow!("--host {host} resolves to no address"))?;
        Some(TcpConfig {
            addr,
            host,
            workers: a.workers,
            queue: a.max_connections,
            allowed_origins: a.allow_origin,
        })
    } else {
        None
    };
    // Fail fast: a socket path `sun_path` cannot hold would only be refused after the
    // scrape below, which can take minutes on a large project.
    server::unix::check_sun_path(&socket)?;
    // The same for a loose state or run directory: refused before the scrape writes
    // `<project>/.patina/`.
    server::check_dirs(&home, &socket)?;
    // An identity file others can read is refused at `session unlock` and `secrets run`;
    // say so now, while the user is looking (case 023), and serve anyway: scry needs no
    // identity.
    let id_file = crate::secrets::identity::identity_file(&home);
    if let Err(e @ (crate::fsutil::FsError::Loose { .. } | crate::fsutil::FsError::Owner { .. })) =
        crate::fsutil::check_private_file(&id_file)
    {
        eprintln!(
            "patina: warning: UNPROTECTED identity file: {e}; `session unlock` and `secrets run` refuse it until it is fixed"
        );
    }
    // No index yet, one of an older schema, or one a killed first scrape left unusable:
    // scrape first (the scrape rebuilds an older schema).
    if let Err(e) = crate::scry::Index::open(&project) {
        match e {
            crate::scry::ScryError::NoIndex(_) => eprintln!(
                "patina: {} has no index yet; scraping it first",
                project.display()
            ),
            _ => eprintln!(
                "patina: {e}\npatina: so scraping {} first",
                project.display()
            ),
        }
        // In a child process: what the scrape allocated goes back to the system when it
        // exits, instead of staying in the daemon's heap for as long as it serves.
        let summary = super::scrape::scrape_in_child(&project)?;
        eprintln!(
            "patina: {}",
            super::scrape::summary_line(&project, &summary)
        );
    }
    server::serve(ServeConfig {
        home,
        project,
        socket,
        workers: a.workers,
        queue: a.max_connections,
        tcp,
        burst_limit: a.burst_limit,
    })?;
    Ok(())
}

fn in_range(s: &str, max: usize) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {max}")),
    }
}

fn workers_in_range(s: &str) -> Result<usize, String> {
    in_range(s, 1024)
}

fn burst_in_range(s: &str) -> Result<usize, String> {
    in_range(s, crate::tripwire::MAX_BURST_LIMIT)
}

fn queue_in_range(s: &str) -> Result<usize, String> {
    in_range(s, 4096)
}
