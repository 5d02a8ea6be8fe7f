//! `patina serve`: run the daemon in the foreground.
use crate::limits;
use crate::paths::Home;
use crate::server::{self, ServeConfig, tcp::TcpConfig};
use std::net::ToSocketAddrs;
use std::path::PathBuf;

use crate::client::url::DEFAULT_PORT;

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `patina serve`.")]
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
///
/// Refuses to start, before it reads anything or listens, when code other than patina's and
/// the system's libraries may run inside it ([`check_loader`]).
pub fn run(a: ServeArgs) -> super::CliResult {
    check_loader()?;
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

/// The directories whose libraries a daemon may map executable: the system's library
/// directories (written by the package manager, not by the user).
pub const SYSTEM_LIB_DIRS: &[&str] = &[
    "/lib/",
    "/lib64/",
    "/lib32/",
    "/usr/lib/",
    "/usr/lib64/",
    "/usr/lib32/",
];

/// Refuses a daemon that the dynamic loader may have given foreign code (QA session 9, H5):
/// the CLI's peer check compares the daemon's executable only, and code loaded by
/// `LD_PRELOAD` or `LD_AUDIT` runs *as* that executable, so it would receive the identity at
/// `session unlock`. Two checks, each one line naming what to do:
/// - any `LD_*` variable in the environment but `LD_LIBRARY_PATH` (`ld.so(8)` reads them:
///   `LD_PRELOAD` and `LD_AUDIT` load code, the others have no business in the daemon).
///   `LD_LIBRARY_PATH` is set by `cargo run`/`cargo test`, conda and CUDA set-ups; what it
///   can do is load a library from another directory, which the next check refuses;
/// - an executable file mapping in `/proc/self/maps` that is neither the patina executable
///   nor under [`SYSTEM_LIB_DIRS`] (a preload that unset its variable, `dlopen`ed code).
pub fn check_loader() -> anyhow::Result<()> {
    let mut vars: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("LD_") && k != "LD_LIBRARY_PATH")
        .collect();
    vars.sort();
    if let Some(v) = vars.first() {
        anyhow::bail!(
            "refusing to serve: {v} is set, and the dynamic loader could run foreign code inside \
             the daemon that holds your identity; start it without: `env -u {v} patina serve`"
        );
    }
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| anyhow::anyhow!("refusing to serve: /proc/self/maps: {e}"))?;
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| anyhow::anyhow!("refusing to serve: /proc/self/exe: {e}"))?;
    if let Some(f) = foreign_mappings(&maps, &exe.to_string_lossy()).first() {
        anyhow::bail!(
            "refusing to serve: {f} is mapped executable in this process and is neither patina \
             nor a system library (a preload?); start `patina serve` from a clean shell"
        );
    }
    Ok(())
}

/// The files mapped executable in `maps` (the text of `/proc/PID/maps`, proc(5)) that are
/// neither `exe` (the process's executable, with or without a ` (deleted)` suffix) nor under
/// [`SYSTEM_LIB_DIRS`], in order, each once. Pseudo-mappings (`[vdso]`, `[vsyscall]`) and
/// anonymous ones are not files and are skipped.
pub fn foreign_mappings(maps: &str, exe: &str) -> Vec<String> {
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(exe);
    let mut out: Vec<String> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode pathname
        let mut f = line.splitn(6, ' ');
        let (_, perms) = (f.next(), f.next().unwrap_or(""));
        let path = f.nth(3).unwrap_or("").trim_start();
        if !perms.contains('x') || !path.starts_with('/') {
            continue;
        }
        let file = path.strip_suffix(" (deleted)").unwrap_or(path);
        let system = SYSTEM_LIB_DIRS.iter().any(|d| file.starts_with(d)) && !file.contains("/../");
        if file == exe || system || out.iter().any(|o| o == path) {
            continue;
        }
        out.push(path.to_string());
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executable_and_system_libraries_may_be_mapped_executable() {
        let maps = "\
5581d6a00000-5581d6b00000 r--p 00000000 fd:01 123 /home/u/.cargo/bin/patina
5581d6b00000-5581d6c00000 r-xp 00100000 fd:01 123 /home/u/.cargo/bin/patina
7f1c00000000-7f1c00021000 rw-p 00000000 00:00 0
7f1c10000000-7f1c10100000 r-xp 00028000 fd:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c10200000-7f1c10210000 r-xp 00001000 fd:01 457 /lib/x86_64-linux-gnu/libm.so.6
7f1c10300000-7f1c10301000 r-xp 00001000 fd:01 999 /tmp/qa/hook3.so
7f1c10301000-7f1c10302000 r--p 00002000 fd:01 999 /tmp/qa/hook3.so
7f1c10400000-7f1c10401000 r-xp 00000000 00:01 77 /memfd:x (deleted)
7f1c10500000-7f1c10501000 r-xp 00001000 fd:01 458 /usr/lib/../../tmp/evil.so
7f1c10600000-7f1c10601000 r-xp 00001000 fd:01 999 /tmp/qa/hook3.so
7ffd1e5f3000-7ffd1e5f5000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";
        assert_eq!(
            foreign_mappings(maps, "/home/u/.cargo/bin/patina"),
            [
                "/tmp/qa/hook3.so",
                "/memfd:x (deleted)",
                "/usr/lib/../../tmp/evil.so"
            ]
        );
        // A rebuilt executable shows as deleted: still itself.
        let deleted = "1-2 r-xp 0 fd:01 1 /w/target/debug/patina (deleted)\n";
        assert!(foreign_mappings(deleted, "/w/target/debug/patina (deleted)").is_empty());
        // This very process (the test binary and the system's libraries) passes.
        let own = std::fs::read_to_string("/proc/self/maps").unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert!(foreign_mappings(&own, &exe.to_string_lossy()).is_empty());
    }
}
