//! Fault injection for tests (`--features fault-injection`): routes that panic, sleep, or run
//! a query past the scry deadline, so the tests can prove the daemon's bounds. Never compiled
//! into a default build.

use super::{Ctx, Route};
use crate::auth::{Access, Principal};
use crate::http::{Method, Request, Response};
use crate::scry::{Index, ScryError};
use std::time::{Duration, Instant};

/// The test-only routes (all `local`).
pub static ROUTES: &[Route] = &[
    Route {
        method: Method::Post,
        path: "/debug/panic",
        access: Access::Local,
        handler: panic,
    },
    Route {
        method: Method::Post,
        path: "/debug/sleep",
        access: Access::Local,
        handler: sleep,
    },
    Route {
        method: Method::Post,
        path: "/debug/slow-scry",
        access: Access::Local,
        handler: slow_scry,
    },
    Route {
        method: Method::Post,
        path: "/debug/poison-session",
        access: Access::Local,
        handler: poison_session,
    },
];

/// Poisons the session's lock (a thread panics holding it): the poisoned-lock policy then
/// wipes the session and refuses unlocks until restart.
fn poison_session(ctx: &Ctx, _: &Principal, _: &Request) -> Response {
    ctx.session.poison_for_test();
    Response::json(200, &serde_json::json!({"poisoned": "session"}))
}

fn panic(_: &Ctx, _: &Principal, _: &Request) -> Response {
    panic!("injected fault");
}

/// Sleeps `{"ms": N}` (at most 30 s), then answers 200.
fn sleep(_: &Ctx, _: &Principal, req: &Request) -> Response {
    #[derive(serde::Deserialize)]
    struct Body {
        ms: u64,
    }
    let b: Body = match crate::http::parse_json_body(&req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    std::thread::sleep(Duration::from_millis(b.ms.min(30_000)));
    Response::json(200, &serde_json::json!({"slept_ms": b.ms}))
}

/// Runs a recursive query that would take minutes, under the scry deadline: 504.
fn slow_scry(ctx: &Ctx, _: &Principal, _: &Request) -> Response {
    let deadline = Instant::now() + crate::limits::SCRY_DEADLINE;
    let mut idx = match Index::open_with(&ctx.project, &ctx.scry.cache) {
        Ok(i) => i,
        Err(e) => return Response::error(404, e.to_string()),
    };
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000000) SELECT count(*) FROM c";
    match idx.run_sql_with_deadline(sql, Some(deadline)) {
        Ok(n) => Response::json(200, &serde_json::json!({"count": n})),
        Err(e @ ScryError::Deadline) => Response::error(504, e.to_string()),
        Err(e) => Response::error(500, e.to_string()),
    }
}
