//! `patina serve`: run the daemon in the foreground.
use crate::paths::Home;
use crate::server::{self, ServeConfig, limits};
use std::path::PathBuf;

/// Arguments of `patina serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The project to serve (default: the current directory); scraped first if it has no
    /// index yet.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// The Unix socket path (default: $PATINA_HOME/run/serve.sock). Its directory must be
    /// yours and private (0700).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Worker threads serving the Unix socket; each serves one connection at a time.
    #[arg(long, default_value_t = limits::DEFAULT_WORKERS, value_name = "N",
          value_parser = workers_in_range)]
    pub workers: usize,
    /// Connections that may wait for a free worker; past that a client gets 503 at once.
    #[arg(long, default_value_t = limits::DEFAULT_QUEUE, value_name = "N",
          value_parser = queue_in_range)]
    pub max_connections: usize,
}

/// Runs the daemon until SIGINT/SIGTERM or `patina stop`.
pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let project = super::project_dir(a.project)?;
    let socket = a.socket.unwrap_or_else(|| home.socket_path());
    if !crate::paths::project_index_path(&project).exists() {
        eprintln!(
            "patina: {} has no index yet; scraping it first",
            project.display()
        );
        super::scrape::scrape_and_report(&project, false)?;
    }
    server::serve(ServeConfig {
        home,
        project,
        socket,
        workers: a.workers,
        queue: a.max_connections,
    })
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

fn queue_in_range(s: &str) -> Result<usize, String> {
    in_range(s, 4096)
}
