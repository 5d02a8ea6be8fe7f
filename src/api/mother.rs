//! The mother routes (requirements §6): the project registry (`GET`/`POST /mother/projects`,
//! `DELETE /mother/projects/{name}`), federated search (`POST /mother/scry`) and the shard a
//! federating daemon asks of a peer (`POST /mother/shard`). The work is in [`crate::mother`].

use super::Ctx;
use crate::auth::Principal;
use crate::http::{Request, Response, parse_json_body};
use crate::mother::federate::{self, ShardRequest};
use crate::mother::{self, MotherError};
use crate::scry::{Index, ScryError};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The path prefix of `DELETE /mother/projects/{name}`.
pub const PROJECT_PREFIX: &str = "/mother/projects/";

/// The `POST /mother/projects` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddProject {
    /// The project directory (absolute; canonicalized).
    pub path: String,
    /// Its name; default derived from the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The `POST /mother/scry` body: like `/api/scry` without `project`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MotherScryRequest {
    /// Any text.
    pub query: String,
    /// Results wanted; default 10, capped at 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

fn status_of(e: &MotherError) -> u16 {
    match e {
        MotherError::DuplicateName | MotherError::DuplicatePath(_) => 409,
        MotherError::Unknown => 404,
        MotherError::Store(_) => 500,
        _ => 400,
    }
}

/// `GET /mother/projects` → [`mother::Listing`] (names, paths, index state; peers without
/// tokens).
pub fn list(ctx: &Ctx, _p: &Principal, _req: &Request) -> Response {
    match mother::listing(&ctx.home) {
        Ok(l) => Response::json(200, &l),
        Err(e) => Response::error(status_of(&e), e.to_string()),
    }
}

/// `POST /mother/projects` `{"path","name"?}` → 201 with the project's
/// [`mother::ProjectInfo`]; 400 for a missing path, a file, a path inside `PATINA_HOME` or a
/// bad name; 409 for a taken name or a directory already registered.
pub fn add(ctx: &Ctx, _p: &Principal, req: &Request) -> Response {
    let body: AddProject = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !std::path::Path::new(&body.path).is_absolute() {
        return Response::error(400, "the path must be absolute");
    }
    match mother::add_project(
        &ctx.home,
        std::path::Path::new(&body.path),
        body.name.as_deref(),
    ) {
        Ok(p) => Response::json(201, &mother::project_info(&p)),
        Err(e) => Response::error(status_of(&e), e.to_string()),
    }
}

/// `DELETE /mother/projects/{name}` → `{"removed": name}`; 404 for an unknown name.
pub fn remove(ctx: &Ctx, _p: &Principal, req: &Request) -> Response {
    let Some(name) = req.path.strip_prefix(PROJECT_PREFIX) else {
        return Response::error(404, "no such route");
    };
    match mother::remove_project(&ctx.home, name) {
        Ok(p) => Response::json(200, &serde_json::json!({ "removed": p.name })),
        Err(e) => Response::error(status_of(&e), e.to_string()),
    }
}

/// `POST /mother/scry` → [`federate::FederatedResponse`]: every registered project and peer
/// searched under [`federate::DEADLINE`]; failures listed under `errors`.
pub fn scry(ctx: &Ctx, p: &Principal, req: &Request) -> Response {
    if let Some(resp) = super::scry::refuse_if_tripped(ctx) {
        return resp;
    }
    let t0 = Instant::now();
    let body: MotherScryRequest = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body.query.trim().is_empty() {
        return Response::error(400, "the query is empty");
    }
    let reg = match mother::load(&ctx.home) {
        Ok(r) => r,
        Err(e) => return Response::error(500, e.to_string()),
    };
    let sources = federate::sources(&ctx.home, &reg);
    let limit = match crate::scry::requested_limit(body.limit) {
        Ok(l) => l,
        Err(msg) => return Response::error(400, msg),
    };
    let mut resp = federate::federate(
        &sources,
        &body.query,
        limit,
        t0 + federate::deadline(),
        &ctx.scry.cache,
    );
    // What the answer holds of the known values, for the tripwires (a canary in a
    // registered project's note trips as in the served project's).
    let held: Vec<String> = {
        let texts: Vec<&[u8]> = resp
            .results
            .iter()
            .flat_map(|r| [&r.hit.snippet, &r.hit.title, &r.hit.path, &r.hit.kind])
            .map(|f| f.as_bytes())
            .collect();
        ctx.session.held_names(&texts)
    };
    // Never hand out a secret: patterns always, known values while unlocked, and the scan
    // hold's forms, pieces and views in every state.
    ctx.session.with_known(|known| {
        for r in &mut resp.results {
            crate::scry::redact::redact_hits(std::slice::from_mut(&mut r.hit), known);
        }
    });
    for r in &mut resp.results {
        super::scry::redact_held(&ctx.session, std::slice::from_mut(&mut r.hit));
    }
    let held: Vec<&str> = held.iter().map(String::as_str).collect();
    let pid = match p {
        Principal::LocalPeer { pid, .. } => *pid,
        _ => None,
    };
    ctx.session.observe(&held, "/mother/scry", pid);
    // Last, after every redaction pass: no run of text without bound.
    for r in &mut resp.results {
        crate::scry::redact::bound_hits(std::slice::from_mut(&mut r.hit));
    }
    Response::json(200, &resp)
}

/// `POST /mother/shard` `{"query","limit"?}` → a [`crate::scry::shard::Shard`] of the
/// daemon's own project: what a federating daemon asks of a peer. 404 without an index,
/// 504 past the scry deadline.
pub fn shard(ctx: &Ctx, _p: &Principal, req: &Request) -> Response {
    if let Some(resp) = super::scry::refuse_if_tripped(ctx) {
        return resp;
    }
    let t0 = Instant::now();
    let body: ShardRequest = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let limit = match crate::scry::requested_limit(body.limit) {
        Ok(l) => l,
        Err(msg) => return Response::error(400, msg),
    };
    let deadline = t0 + crate::limits::SCRY_DEADLINE;
    let result = Index::open_with(&ctx.project, &ctx.scry.cache)
        .and_then(|mut i| i.shard(&body.query, limit, Some(deadline)));
    match result {
        Ok(mut s) => {
            // A shard leaves this daemon for another: redact here, with our known values.
            ctx.session.with_known(|known| {
                for h in &mut s.hits {
                    crate::scry::redact::redact_hits(std::slice::from_mut(&mut h.hit), known);
                }
            });
            for h in &mut s.hits {
                super::scry::redact_held(&ctx.session, std::slice::from_mut(&mut h.hit));
                // Last, after every redaction pass: no run of text without bound.
                crate::scry::redact::bound_hits(std::slice::from_mut(&mut h.hit));
            }
            Response::json(200, &s)
        }
        Err(ScryError::EmptyQuery) => Response::error(400, "the query has no words to search for"),
        Err(e @ ScryError::NoIndex(_)) => Response::error(404, e.to_string()),
        Err(e @ ScryError::Deadline) => Response::error(504, e.to_string()),
        Err(e) => Response::error(500, e.to_string()),
    }
}
