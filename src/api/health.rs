//! `GET /health`, `GET /version`, `POST /shutdown`.

use super::Ctx;
use crate::auth::Principal;
use crate::http::{Request, Response};
use serde_json::json;

/// `GET /health` → `{"status":"ok","version","uptime_secs"}`.
pub fn health(ctx: &Ctx, _: &Principal, _: &Request) -> Response {
    Response::json(
        200,
        &json!({"status": "ok", "version": crate::VERSION, "uptime_secs": ctx.started.elapsed().as_secs()}),
    )
}

/// `GET /version` → `{"version","api":1}`.
pub fn version(_: &Ctx, _: &Principal, _: &Request) -> Response {
    Response::json(
        200,
        &json!({"version": crate::VERSION, "api": crate::API_VERSION}),
    )
}

/// `POST /shutdown` (local only) → `{"status":"stopping"}`; the daemon then stops accepting,
/// finishes in-flight requests and exits.
pub fn shutdown(ctx: &Ctx, _: &Principal, _: &Request) -> Response {
    ctx.request_shutdown();
    Response::json(200, &json!({"status": "stopping"}))
}
