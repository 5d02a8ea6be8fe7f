//! `patina mother add|list|remove|scrape|scry|peer`: the registry of the user's projects and
//! peer daemons, and search across all of them. Registry edits go to the file directly (under
//! its lock, daemon or not); `mother scry` asks the running daemon and, when none runs,
//! federates in this process through the same library function.
use super::secrets::RefusedValue;
use crate::client::{Client, ClientError};
use crate::mother::federate::{self, FederatedResponse};
use crate::mother::{self, MotherError};
use crate::paths::Home;
use anyhow::Context;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

/// The `mother` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum MotherCmd {
    /// Register a project directory (scraping it if it has no index yet).
    #[command(
        after_help = "Examples:\n  patina mother add ~/src/app\n  patina mother add ~/src/lib --name core-lib --no-scrape"
    )]
    Add {
        /// The project directory (must exist, outside PATINA_HOME).
        dir: PathBuf,
        /// Its name: up to 64 of a-z 0-9 . _ -, starting with a letter or digit (default: from
        /// the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Do not scrape a project that has no index yet.
        #[arg(long)]
        no_scrape: bool,
    },
    /// List registered projects (name, path, documents indexed, last scraped) and peers.
    #[command(after_help = "Examples:\n  patina mother list\n  patina mother list --json")]
    List {
        /// Print JSON: {"projects":[…],"peers":[…]} (never tokens).
        #[arg(long)]
        json: bool,
    },
    /// Unregister a project (its directory and index are left alone).
    #[command(after_help = "Examples:\n  patina mother remove core-lib")]
    Remove {
        /// The project's name.
        name: String,
    },
    /// Re-index one registered project, or all of them.
    #[command(
        after_help = "Examples:\n  patina mother scrape           # every registered project\n  patina mother scrape core-lib"
    )]
    Scrape {
        /// The project's name (default: every registered project).
        name: Option<String>,
    },
    /// Search every registered project and peer at once; results name their project.
    Scry(MotherScryArgs),
    /// Peer daemons searched over TCP with a bearer token.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  patina mother peer list\n  patina mother peer add laptop http://10.0.0.2:50051 --token-file laptop.token"
    )]
    Peer(PeerCmd),
}

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `patina mother scry` (and `patina scry --all`).")]
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  patina mother scry session capture\n  patina mother scry --limit 5 --json retry policy"
)]
pub struct MotherScryArgs {
    /// `--url`: this command can reach a daemon over TCP.
    #[command(flatten)]
    pub tcp: super::UrlArg,
    /// How many results at most (capped at 1000).
    #[arg(long, default_value_t = crate::scry::DEFAULT_LIMIT, value_name = "N", value_parser = crate::cli::parse_limit)]
    pub limit: usize,
    /// Print exactly the /mother/scry response JSON.
    #[arg(long)]
    pub json: bool,
    /// The query: any text.
    #[arg(required = true, num_args = 1.., value_name = "QUERY")]
    pub query: Vec<String>,
}

/// The `mother peer` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum PeerCmd {
    /// Register a peer daemon (`patina serve --port P` on another machine or home).
    ///
    /// The token is read from stdin (or --token-file), never taken as an argument:
    ///
    ///   ssh host cat .patina/run/serve.token | patina mother peer add laptop http://10.0.0.2:50051
    #[command(
        after_help = "Examples:\n  ssh host cat .patina/run/serve.token | patina mother peer add laptop http://10.0.0.2:50051\n  patina mother peer add laptop http://10.0.0.2:50051 --token-file laptop.token"
    )]
    Add {
        /// The peer's name: up to 64 of a-z 0-9 . _ -, starting with a letter or digit.
        name: String,
        /// Its URL: http://HOST:PORT.
        url: String,
        /// Read the token from this file instead of stdin.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Anything else: refused (a token is never an argument).
        #[arg(hide = true, num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
        refused_value: Vec<RefusedValue>,
    },
    /// List peers (names and URLs, never tokens).
    #[command(
        after_help = "Examples:\n  patina mother peer list\n  patina mother peer list --json"
    )]
    List {
        /// Print JSON: {"peers":[{"name","url"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Unregister a peer and delete its stored token.
    #[command(after_help = "Examples:\n  patina mother peer remove laptop")]
    Remove {
        /// The peer's name.
        name: String,
    },
}

/// Runs a `mother` subcommand.
pub fn run(cmd: MotherCmd) -> super::CliResult {
    let home = Home::from_env()?;
    match cmd {
        MotherCmd::Add {
            dir,
            name,
            no_scrape,
        } => {
            let p = mother::add_project(&home, &dir, name.as_deref())
                .map_err(|e| usage_or(e, &format!("mother add {}", dir.display())))?;
            outln!("added {} ({})", p.name, p.path.display());
            if !no_scrape && !crate::paths::project_index_path(&p.path).exists() {
                let s = super::scrape::scrape_with_terminal_progress(&p.path)?;
                outln!("{}", super::scrape::summary_line(&p.path, &s));
            }
            Ok(())
        }
        MotherCmd::List { json } => {
            let l = mother::listing(&home)?;
            let mut out = super::stdout();
            if json {
                serde_json::to_writer(&mut out, &l)?;
                writeln!(out)?;
                return Ok(());
            }
            if l.projects.is_empty() && l.peers.is_empty() {
                eprintln!("no projects registered (add one with `patina mother add DIR`)");
            }
            for p in &l.projects {
                let docs = p.documents.map_or("-".to_string(), |n| n.to_string());
                let when = p.last_scraped_unix.map_or("never".to_string(), ago);
                writeln!(
                    out,
                    "{:<20} {:>6} docs  scraped {:<12} {}",
                    p.name, docs, when, p.path
                )?;
                if let Some(e) = &p.error {
                    writeln!(out, "{:<20} ! {e}", "")?;
                }
            }
            for p in &l.peers {
                writeln!(out, "{:<20}   peer       {}", p.name, p.url)?;
            }
            Ok(())
        }
        MotherCmd::Remove { name } => {
            let p =
                mother::remove_project(&home, &name).map_err(|e| usage_or(e, "mother remove"))?;
            outln!("removed {}", p.name);
            Ok(())
        }
        MotherCmd::Scrape { name } => {
            let reg = mother::load(&home)?;
            let chosen: Vec<_> = match &name {
                Some(n) => {
                    let p = reg.projects.iter().find(|p| &p.name == n).ok_or_else(|| {
                        anyhow::Error::from(MotherError::Unknown).context("mother scrape")
                    })?;
                    vec![p.clone()]
                }
                None => reg.projects.clone(),
            };
            let mut failed = 0;
            for p in &chosen {
                match super::scrape::scrape_with_terminal_progress(&p.path) {
                    Ok(s) => outln!("{}: {}", p.name, super::scrape::summary_line(&p.path, &s)),
                    Err(e) => {
                        failed += 1;
                        eprintln!("patina: {}: {}", p.name, super::one_line(&e));
                    }
                }
            }
            ensure!(
                failed == 0,
                "{failed} of {} projects could not be scraped",
                chosen.len()
            );
            Ok(())
        }
        MotherCmd::Scry(a) => scry(a, None),
        MotherCmd::Peer(c) => peer(&home, c),
    }
}

/// `mother add`/`remove` errors: the user's input is wrong → exit 2, else 1.
fn usage_or(e: MotherError, what: &str) -> super::Failure {
    match e {
        MotherError::Store(_) => anyhow::Error::from(e).context(what.to_string()).into(),
        other => super::usage(format!("{what}: {other}")),
    }
}

fn ago(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let d = now.saturating_sub(secs);
    match d {
        0..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86400),
    }
}

fn peer(home: &Home, cmd: PeerCmd) -> super::CliResult {
    match cmd {
        PeerCmd::Add {
            name,
            url,
            token_file,
            refused_value,
        } => {
            if !refused_value.is_empty() {
                return Err(super::usage(
                    "a token is never taken as an argument (it would stay in your shell history and \
                     be visible in `ps`); pipe it on stdin or use --token-file FILE",
                ));
            }
            let text = match &token_file {
                Some(f) => zeroize::Zeroizing::new(
                    std::fs::read_to_string(f)
                        .with_context(|| format!("reading the token file {}", f.display()))?,
                ),
                None => {
                    if std::io::stdin().is_terminal() {
                        return Err(super::usage(
                            "pipe the peer's token on stdin, or use --token-file FILE",
                        ));
                    }
                    let mut s = zeroize::Zeroizing::new(String::new());
                    std::io::stdin()
                        .lock()
                        .take(4096)
                        .read_to_string(&mut s)
                        .context("reading the token from stdin")?;
                    s
                }
            };
            let token = crate::auth::token::Token::from_text(&text);
            let p = mother::add_peer(home, &name, &url, &token)
                .map_err(|e| usage_or(e, "mother peer add"))?;
            outln!(
                "added peer {} ({}); token stored in {}",
                p.name,
                p.url,
                mother::peer_token_path(home, &p.name).display()
            );
            Ok(())
        }
        PeerCmd::List { json } => {
            let reg = mother::load(home)?;
            if json {
                outln!("{}", serde_json::json!({ "peers": reg.peers }));
                return Ok(());
            }
            if reg.peers.is_empty() {
                eprintln!("no peers registered");
            }
            for p in &reg.peers {
                outln!("{:<20} {}", p.name, p.url);
            }
            Ok(())
        }
        PeerCmd::Remove { name } => {
            let p =
                mother::remove_peer(home, &name).map_err(|e| usage_or(e, "mother peer remove"))?;
            outln!("removed peer {}", p.name);
            Ok(())
        }
    }
}

/// `patina mother scry` / `patina scry --all`: asks the daemon (`POST /mother/scry`), or
/// federates in this process when none runs.
pub fn scry(a: MotherScryArgs, url: Option<&str>) -> super::CliResult {
    let query = a.query.join(" ");
    if query.trim().is_empty() {
        return Err(super::usage("the query is empty"));
    }
    let limit = a.limit.min(crate::scry::MAX_LIMIT);
    let home = Home::from_env()?;
    let client = Client::from_env(&home, url)?;
    let req = crate::api::mother::MotherScryRequest {
        query: query.clone(),
        limit: Some(limit),
    };
    let resp: FederatedResponse = match client.post_json("/mother/scry", &req) {
        Ok(r) if r.status == 200 => r.json()?,
        Ok(r) => bail!("{}", r.error_message()),
        Err(ClientError::NoDaemon(_)) if !client.is_tcp() => {
            let reg = mother::load(&home)?;
            let sources = federate::sources(&home, &reg);
            federate::federate(
                &sources,
                &query,
                limit,
                Instant::now() + federate::deadline(),
                &Default::default(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    // The daemon redacts known values too; without one, secret-looking tokens still go.
    let mut resp = resp;
    for r in &mut resp.results {
        crate::scry::redact::redact_hits(std::slice::from_mut(&mut r.hit), &[]);
        crate::scry::redact::bound_hits(std::slice::from_mut(&mut r.hit));
    }
    let mut out = super::stdout();
    if a.json {
        serde_json::to_writer(&mut out, &resp)?;
        writeln!(out)?;
        return Ok(());
    }
    for e in &resp.errors {
        eprintln!("patina: {}: {}", e.project, e.error);
    }
    if resp.results.is_empty() {
        let empty = mother::load(&home).is_ok_and(|r| r.projects.is_empty() && r.peers.is_empty());
        if empty && resp.errors.is_empty() {
            eprintln!(
                "no results: no project is registered (add one with `patina mother add DIR`)"
            );
        } else {
            eprintln!("no results");
        }
    }
    for (i, r) in resp.results.iter().enumerate() {
        super::print_hit(&mut out, i + 1, Some(&r.project), &r.hit)?;
    }
    Ok(())
}
