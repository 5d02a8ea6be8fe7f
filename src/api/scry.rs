//! `POST /api/scry`: search a project's knowledge (BRIEF §6). The search itself is
//! [`crate::scry::Index::search`], the same function the CLI calls without a daemon.

use super::Ctx;
use crate::auth::Principal;
use crate::http::{Request, Response, parse_json_body};
use crate::scry::{DEFAULT_LIMIT, Index, MAX_LIMIT, ScryError, ScryResponse};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The `/api/scry` request body.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScryRequest {
    /// Any text. Words are matched; FTS5 operators and punctuation are taken literally.
    pub query: String,
    /// Results wanted; default [`DEFAULT_LIMIT`], clamped to [`MAX_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The project: default the daemon's. A local peer may name any project directory by
    /// absolute path; a TCP caller only the daemon's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// Open indexes kept per worker thread (most recently used last), so a search reuses its
/// connection and prepared statements instead of opening anything per request.
const CACHED_INDEXES: usize = 4;

thread_local! {
    static INDEXES: RefCell<Vec<Index>> = const { RefCell::new(Vec::new()) };
}

/// `POST /api/scry` → `{"results":[…],"took_ms"}`; 400 for a malformed body or empty query,
/// 404 for an unknown project or one with no index, 504 past the search deadline.
pub fn scry(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let t0 = Instant::now();
    let body: ScryRequest = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    if body.query.trim().is_empty() {
        return Response::error(400, "the query is empty");
    }
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let root = match resolve_project(ctx, principal, body.project.as_deref()) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let deadline = t0 + crate::server::limits::SCRY_DEADLINE;
    match search_cached(&root, &body.query, limit, deadline) {
        Ok(mut results) => {
            // Never hand out a secret: patterns always, known values while unlocked.
            ctx.session
                .with_known(|known| crate::scry::redact::redact_hits(&mut results, known));
            Response::json(
                200,
                &ScryResponse {
                    results,
                    took_ms: t0.elapsed().as_secs_f64() * 1000.0,
                },
            )
        }
        Err(ScryError::EmptyQuery) => Response::json(
            200,
            &ScryResponse {
                results: Vec::new(),
                took_ms: t0.elapsed().as_secs_f64() * 1000.0,
            },
        ),
        Err(e @ ScryError::NoIndex(_)) => Response::error(404, e.to_string()),
        Err(e @ ScryError::Deadline) => Response::error(504, e.to_string()),
        Err(e) => Response::error(500, e.to_string()),
    }
}

fn resolve_project(
    ctx: &Ctx,
    principal: &Principal,
    asked: Option<&str>,
) -> Result<PathBuf, Response> {
    let Some(asked) = asked else {
        return Ok(ctx.project.clone());
    };
    let unknown = || Response::error(404, "unknown project");
    if matches!(principal, Principal::LocalPeer { .. }) && Path::new(asked).is_absolute() {
        let p = std::fs::canonicalize(asked).map_err(|_| unknown())?;
        return if p.is_dir() { Ok(p) } else { Err(unknown()) };
    }
    let own_name = ctx.project.file_name().and_then(|n| n.to_str());
    if Some(asked) == own_name || Path::new(asked) == ctx.project {
        Ok(ctx.project.clone())
    } else {
        Err(unknown())
    }
}

fn search_cached(
    root: &Path,
    query: &str,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<crate::scry::Hit>, ScryError> {
    INDEXES.with(|cell| {
        let mut cache = cell.borrow_mut();
        let pos = match cache.iter().position(|i| i.root() == root) {
            Some(p) => p,
            None => {
                let idx = Index::open(root)?;
                if cache.len() >= CACHED_INDEXES {
                    cache.remove(0);
                }
                cache.push(idx);
                cache.len() - 1
            }
        };
        let result = cache[pos].search(query, limit, Some(deadline));
        if matches!(result, Err(ScryError::Index { .. })) {
            // A broken connection is not kept: the next request reopens the index.
            cache.remove(pos);
        }
        result
    })
}
