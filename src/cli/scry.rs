//! `patina scry [--project DIR] [--limit N] [--json] QUERY`: asks the running daemon, or,
//! when none runs, searches the index itself through the same library function.
use crate::api::scry::ScryRequest;
use crate::client::{Client, ClientError};
use crate::paths::Home;
use crate::scry::{self, MAX_LIMIT, ScryError, ScryResponse};
use std::io::Write;
use std::path::PathBuf;

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `patina scry`.")]
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  patina scry session capture\n  patina scry --limit 3 --json 'why FTS5?'\n\nAny text is a valid query: quotes, AND/OR/NEAR, *, - and parentheses are searched as words."
)]
pub struct ScryArgs {
    /// `--url`: this command can reach a daemon over TCP.
    #[command(flatten)]
    pub tcp: super::UrlArg,
    /// The project to search: a directory, or the name of a registered project (`patina
    /// mother list`); default the current directory, or the nearest parent with an index.
    #[arg(long, value_name = "DIR|NAME", conflicts_with = "all")]
    pub project: Option<PathBuf>,
    /// Search every registered project and peer at once (like `patina mother scry`).
    #[arg(long)]
    pub all: bool,
    /// How many results at most (larger values are capped at 1000).
    #[arg(long, default_value_t = scry::DEFAULT_LIMIT, value_name = "N", value_parser = crate::cli::parse_limit)]
    pub limit: usize,
    /// Print exactly the /api/scry response JSON.
    #[arg(long)]
    pub json: bool,
    /// The query: any text.
    #[arg(required = true, num_args = 1.., value_name = "QUERY")]
    pub query: Vec<String>,
}

/// Runs `patina scry`.
pub fn run(a: ScryArgs, url: Option<&str>) -> super::CliResult {
    if a.all {
        let m = super::mother::MotherScryArgs {
            tcp: super::UrlArg::default(),
            limit: a.limit,
            json: a.json,
            query: a.query,
        };
        return super::mother::scry(m, url);
    }
    let asked = a.project.as_ref().map(|p| p.to_string_lossy().into_owned());
    let root = super::project_to_search(a.project.map(registered_or_dir).transpose()?)?;
    let query = a.query.join(" ");
    if query.trim().is_empty() {
        return Err(super::usage("the query is empty"));
    }
    let limit = a.limit.min(MAX_LIMIT);
    let home = Home::from_env()?;
    let client = Client::from_env(&home, url)?;
    // Over TCP the daemon serves only its own project and registered names: name one only
    // when asked to, and a name as given (the daemon resolves it in its registry).
    let project = match asked {
        Some(name) if client.is_tcp() && crate::mother::valid_name(&name) => Some(name),
        None if client.is_tcp() => None,
        _ => Some(root.to_string_lossy().into_owned()),
    };
    let req = ScryRequest {
        query: query.clone(),
        limit: Some(limit),
        project,
    };
    let mut resp: ScryResponse = match client.post_json("/api/scry", &req) {
        Ok(reply) if reply.status == 200 => reply.json()?,
        Ok(reply) => bail!("{}", reply.error_message()),
        Err(ClientError::NoDaemon(_)) if !client.is_tcp() => {
            match scry::search_project(&root, &query, limit, None) {
                Ok(r) => r,
                Err(ScryError::EmptyQuery) => ScryResponse {
                    results: Vec::new(),
                    took_ms: 0.0,
                    generation: None,
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    // The daemon redacts known values too; without one, secret-looking tokens still go.
    scry::redact::redact_hits(&mut resp.results, &[]);
    scry::redact::bound_hits(&mut resp.results);
    let mut out = super::stdout();
    if a.json {
        serde_json::to_writer(&mut out, &resp)?;
        writeln!(out)?;
        return Ok(());
    }
    if resp.results.is_empty() {
        eprintln!("no results");
    }
    for (i, h) in resp.results.iter().enumerate() {
        super::print_hit(&mut out, i + 1, None, h)?;
    }
    Ok(())
}

/// `--project` as given: a registered project's directory (the mother registry) or a
/// directory, by [`crate::mother::resolve_project`]; errors name the value and both readings.
fn registered_or_dir(p: PathBuf) -> super::CliResult<PathBuf> {
    let home = Home::from_env()?;
    let asked = p.to_string_lossy();
    let found = crate::mother::resolve_project(&home, &asked, Some(&std::env::current_dir()?));
    Ok(found.ok_or_else(|| {
        anyhow::anyhow!(
            "--project {asked}: neither a registered project (see `patina mother list`) nor a directory"
        )
    })?)
}
