//! `GET /health`, `GET /version`, `POST /shutdown`.

use super::Ctx;
use crate::auth::Principal;
use crate::http::{Request, Response};
use serde_json::json;

/// The `GET /health` body. A struct rather than `json!`, so the hot path builds no map.
#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_secs: u64,
}

/// `GET /health` → `{"status":"ok","version","uptime_secs"}`.
pub fn health(ctx: &Ctx, _: &Principal, _: &Request) -> Response {
    Response::json(
        200,
        &Health {
            status: "ok",
            version: crate::VERSION,
            uptime_secs: ctx.started.elapsed().as_secs(),
        },
    )
}

/// `GET /version` → `{"version","api":1}`.
pub fn version(_: &Ctx, _: &Principal, _: &Request) -> Response {
    Response::json(
        200,
        &json!({"version": crate::VERSION, "api": crate::API_VERSION}),
    )
}

/// The `GET /status` response: what `patina status --json` prints.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// Always true in a response (the CLI prints false when no daemon answers).
    pub running: bool,
    /// The daemon's pid.
    pub pid: u32,
    /// Its version.
    pub version: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Its Unix socket.
    pub socket: String,
    /// Its TCP address, if any.
    pub tcp: Option<String>,
    /// The project it serves by default.
    pub project: String,
    /// Connections accepted and not yet closed (this one included).
    pub open_connections: usize,
    /// Worker threads per listener.
    pub workers: Workers,
    /// Whether the process is dumpable (`PR_GET_DUMPABLE`); false means no core dumps and no
    /// same-uid `/proc/<pid>/mem` access.
    pub dumpable: bool,
    /// How fresh each index the daemon keeps is: the served project first, then the
    /// registered projects with an index ([`crate::scry::fresh`]).
    #[serde(default)]
    pub freshness: Vec<crate::scry::fresh::ProjectFreshness>,
}

/// Worker threads per listener.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Workers {
    /// Unix-socket workers.
    pub unix: usize,
    /// TCP workers (0 without TCP).
    pub tcp: usize,
}

/// `GET /status` (local) → [`Status`].
pub fn status(ctx: &Ctx, _: &Principal, _: &Request) -> Response {
    let dumpable = !matches!(
        rustix::process::dumpable_behavior(),
        Ok(rustix::process::DumpableBehavior::NotDumpable)
    );
    Response::json(
        200,
        &Status {
            running: true,
            pid: ctx.info.pid,
            version: crate::VERSION.into(),
            uptime_secs: ctx.started.elapsed().as_secs(),
            socket: ctx.info.socket.display().to_string(),
            tcp: ctx.info.tcp.clone(),
            project: ctx.project.display().to_string(),
            open_connections: ctx
                .open_connections
                .load(std::sync::atomic::Ordering::Relaxed),
            workers: Workers {
                unix: ctx.info.workers_unix,
                tcp: ctx.info.workers_tcp,
            },
            dumpable,
            freshness: ctx.fresh.report(),
        },
    )
}

/// `POST /shutdown` (local only) → `{"status":"stopping"}`; the daemon then stops accepting,
/// finishes in-flight requests and exits. Asked by the patina binary (`patina stop`), the
/// stop also ends the hold marker; asked by anything else it leaves it (QA session 9, H2).
pub fn shutdown(ctx: &Ctx, principal: &Principal, _: &Request) -> Response {
    if crate::auth::authorize(crate::auth::Access::Patina, principal).is_ok() {
        ctx.session.stop_by_user();
    }
    ctx.request_shutdown();
    Response::json(200, &json!({"status": "stopping"}))
}
