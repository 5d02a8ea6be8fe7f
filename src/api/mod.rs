//! The route table (requirements §6) and the transport-free handlers, one file per domain.
//! Handlers take a [`Ctx`], the caller's [`Principal`] and a [`Request`] value and return a
//! [`Response`] value: they never see a socket, a header block or the wire format.
//!
//! Routing matches the request path byte for byte against the table (no percent-decoding,
//! no dot-segment removal; a route ending in `/{name}` takes one slug segment, see
//! [`path_matches`]), and the access check uses the same matched route, so no
//! spelling of a path can reach a handler the plain spelling would not.
//!
//! Depends on [`crate::auth`], [`crate::audit`] (refusals of patina routes), [`crate::http`],
//! [`crate::limits`], the domains ([`crate::scry`], [`crate::secrets`], [`crate::session`],
//! [`crate::mother`], [`crate::guard`]) and [`crate::paths`].

pub mod auth;
#[cfg(feature = "fault-injection")]
mod debug;
pub mod guard;
pub mod health;
pub mod mother;
pub mod openapi;
pub mod scry;
pub mod session;

use crate::auth::{Access, Principal, authorize};
use crate::http::{Method, Request, Response};
use crate::paths::Home;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

/// Facts about the running daemon, reported by `GET /status`.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    /// The daemon's pid.
    pub pid: u32,
    /// Its Unix socket.
    pub socket: PathBuf,
    /// Its TCP address, if it listens on TCP.
    pub tcp: Option<String>,
    /// Worker threads of the Unix-socket pool.
    pub workers_unix: usize,
    /// Worker threads of the TCP pool (0 without TCP).
    pub workers_tcp: usize,
}

/// What handlers may know about the daemon: its project, home, start time and facts, and a
/// way to ask it to stop. Domain state that lives in the daemon hangs off this too.
pub struct Ctx {
    /// The project served by default (canonical path).
    pub project: PathBuf,
    /// The per-user state directory.
    pub home: Home,
    /// When the daemon started.
    pub started: Instant,
    /// Pid, socket, TCP address, pool sizes.
    pub info: DaemonInfo,
    /// Connections accepted and not yet closed (queued or being served), all listeners.
    pub open_connections: AtomicUsize,
    /// The secrets session (unlock, lock, expiry); wiped on drop.
    pub session: crate::session::Session,
    /// The search state: idle indexes, remembered results, shared row maps.
    pub scry: scry::ScryState,
    /// The age-key handshake state of the TCP side (`/auth/*`); `None` without TCP.
    pub age_key: Option<std::sync::Arc<crate::auth::server::ServerAuth>>,
    /// The watcher that keeps the served project's index and the registered projects'
    /// fresh, and their freshness (`GET /status`); inert until [`Ctx::start_freshness`].
    pub fresh: crate::scry::fresh::Freshness,
    /// The one-use tickets of the `patina` routes ([`crate::auth::ticket`]).
    pub tickets: crate::auth::ticket::Tickets,
    request_shutdown: Box<dyn Fn() + Send + Sync>,
}

impl Ctx {
    /// A context for `project`; `request_shutdown` is called by `POST /shutdown`.
    pub fn new(
        project: PathBuf,
        home: Home,
        info: DaemonInfo,
        request_shutdown: Box<dyn Fn() + Send + Sync>,
    ) -> Ctx {
        Ctx {
            project,
            session: crate::session::Session::new(home.clone()),
            home,
            started: Instant::now(),
            info,
            open_connections: AtomicUsize::new(0),
            scry: scry::ScryState::default(),
            age_key: None,
            fresh: crate::scry::fresh::Freshness::default(),
            tickets: crate::auth::ticket::Tickets::new(),
            request_shutdown,
        }
    }

    /// Starts keeping the indexes fresh ([`crate::scry::fresh`]): the served project, and
    /// every project of the registry that has an index (re-read now and then), with the
    /// bounds of [`crate::scry::fresh::FreshConfig::from_env`]. Stopped by
    /// `self.fresh.stop()` (the daemon's shutdown) or on drop.
    pub fn start_freshness(&self) -> std::io::Result<()> {
        let home = self.home.clone();
        let others = Box::new(move || {
            crate::mother::load(&home)
                .map(|r| r.projects.into_iter().map(|p| p.path).collect())
                .unwrap_or_default()
        });
        self.fresh.start(crate::scry::fresh::FreshConfig::from_env(
            self.project.clone(),
            others,
        ))
    }

    /// This context with the daemon's age-key handshake state (its TCP side has one).
    pub fn with_age_key(
        mut self,
        age_key: Option<std::sync::Arc<crate::auth::server::ServerAuth>>,
    ) -> Ctx {
        self.age_key = age_key;
        self
    }

    /// Asks the daemon to stop accepting and shut down gracefully.
    pub fn request_shutdown(&self) {
        (self.request_shutdown)()
    }
}

/// A handler: transport-free.
pub type Handler = fn(&Ctx, &Principal, &Request) -> Response;

/// One row of the route table.
pub struct Route {
    /// The method served.
    pub method: Method,
    /// The exact path.
    pub path: &'static str,
    /// Who may call it (requirements §5).
    pub access: Access,
    /// The handler.
    pub handler: Handler,
}

/// Every route the daemon serves (requirements §6).
pub static ROUTES: &[Route] = &[
    Route {
        method: Method::Get,
        path: "/health",
        access: Access::Open,
        handler: health::health,
    },
    Route {
        method: Method::Get,
        path: "/version",
        access: Access::Open,
        handler: health::version,
    },
    Route {
        method: Method::Post,
        path: "/api/scry",
        access: Access::Query,
        handler: scry::scry,
    },
    Route {
        method: Method::Get,
        path: "/status",
        access: Access::Local,
        handler: health::status,
    },
    Route {
        method: Method::Post,
        path: "/shutdown",
        access: Access::Local,
        handler: health::shutdown,
    },
    Route {
        method: Method::Get,
        path: "/mother/projects",
        access: Access::Query,
        handler: mother::list,
    },
    Route {
        method: Method::Post,
        path: "/mother/projects",
        access: Access::Local,
        handler: mother::add,
    },
    Route {
        method: Method::Delete,
        path: "/mother/projects/{name}",
        access: Access::Local,
        handler: mother::remove,
    },
    Route {
        method: Method::Post,
        path: "/mother/scry",
        access: Access::Query,
        handler: mother::scry,
    },
    Route {
        method: Method::Post,
        path: "/mother/shard",
        access: Access::Query,
        handler: mother::shard,
    },
    Route {
        method: Method::Get,
        path: "/session",
        access: Access::Local,
        handler: session::status,
    },
    Route {
        method: Method::Post,
        path: crate::auth::ticket::TICKET_ROUTE,
        access: Access::Patina,
        handler: session::ticket,
    },
    Route {
        method: Method::Post,
        path: "/session/unlock",
        access: Access::Patina,
        handler: session::unlock,
    },
    Route {
        method: Method::Post,
        path: "/session/lock",
        access: Access::Local,
        handler: session::lock,
    },
    Route {
        method: Method::Post,
        path: "/session/env",
        access: Access::Patina,
        handler: session::env,
    },
    Route {
        method: Method::Post,
        path: "/secrets/add",
        access: Access::Patina,
        handler: session::add_secret,
    },
    Route {
        method: Method::Post,
        path: "/secrets/remove",
        access: Access::Patina,
        handler: session::remove_secret,
    },
    Route {
        method: Method::Post,
        path: "/session/confirm/next",
        access: Access::Patina,
        handler: session::confirm_next,
    },
    Route {
        method: Method::Post,
        path: "/session/confirm/answer",
        access: Access::Patina,
        handler: session::confirm_answer,
    },
    Route {
        method: Method::Get,
        path: "/secrets",
        access: Access::Local,
        handler: session::list_secrets,
    },
    Route {
        method: Method::Post,
        path: "/secrets/scan",
        access: Access::Local,
        handler: session::scan,
    },
    Route {
        method: Method::Post,
        path: "/guard/scan",
        access: Access::Local,
        handler: guard::scan,
    },
    Route {
        method: Method::Get,
        path: "/openapi.json",
        access: Access::Open,
        handler: openapi::openapi,
    },
    Route {
        method: Method::Get,
        path: "/auth/server-key",
        access: Access::Open,
        handler: auth::handle_server_key,
    },
    Route {
        method: Method::Post,
        path: "/auth/challenge",
        access: Access::Open,
        handler: auth::handle_challenge,
    },
    Route {
        method: Method::Post,
        path: "/auth/verify",
        access: Access::Open,
        handler: auth::handle_verify,
    },
];

/// Test-only routes (`fault-injection` feature): a handler that panics, one that sleeps, one
/// that runs a query past the scry deadline. Never in a default build.
#[cfg(feature = "fault-injection")]
const EXTRA_ROUTES: &[Route] = debug::ROUTES;
#[cfg(not(feature = "fault-injection"))]
const EXTRA_ROUTES: &[Route] = &[];

/// Every route served: [`ROUTES`] plus, in fault-injection builds, the test-only ones.
pub fn routes() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().chain(EXTRA_ROUTES.iter())
}

/// Whether a request path matches a route path: byte for byte, or, for a route path ending
/// in `/{name}`, the same prefix followed by one valid name segment
/// ([`crate::mother::valid_name`]: `[a-z0-9][a-z0-9._-]{0,63}`, so no `/`, `%` or `..`).
/// No percent-decoding happens, so `%2F` or `..` spellings never match.
pub fn path_matches(route: &str, path: &str) -> bool {
    match route.strip_suffix("{name}") {
        Some(prefix) => path
            .strip_prefix(prefix)
            .is_some_and(crate::mother::valid_name),
        None => route == path,
    }
}

/// Whether any route at `path` needs [`Access::Patina`]: the transport then establishes who
/// wrote the request (`/proc` reads it spares every other request).
pub fn needs_patina(path: &str) -> bool {
    routes().any(|r| r.access == Access::Patina && path_matches(r.path, path))
}

/// Records a refused `patina` route from a local peer in the audit log: the connecting pid,
/// the writer's pid when another process wrote the request, and why (issue 16). Token and
/// TCP refusals are not audited here (they are logged and rate-limited by the transport).
fn audit_refusal(ctx: &Ctx, route: &Route, principal: &Principal) {
    let Principal::LocalPeer { pid, writer, .. } = principal else {
        return;
    };
    if route.access != Access::Patina {
        return;
    }
    let (writer_pid, why) = match writer {
        crate::auth::Writer::Unverified { writer_pid, why } => (*writer_pid, *why),
        crate::auth::Writer::PatinaAtAccept { .. } => (
            *pid,
            "the peer no longer runs patina, or its pid was reused",
        ),
    };
    let mut e = crate::audit::Event::now("refuse", *pid);
    e.route = Some(route.path.to_string());
    e.writer_pid = writer_pid.filter(|w| Some(*w) != *pid);
    e.writer_exe = e.writer_pid.and_then(crate::audit::exe_of);
    e.why = Some(why.to_string());
    crate::audit::record(&ctx.home, &e);
}

/// Routes, authorizes and runs one request. Returns the response and the matched route's
/// path (for the log line; `None` when nothing matched, so raw request targets never reach
/// the log).
///
/// 404 for an unknown path, 405 with `Allow` for a known path and another method (401/403
/// instead when the caller may use none of that path's routes), 401/403 from [`authorize`],
/// 415 for a `POST` whose `Content-Type` is not `application/json` (`json_body` false) —
/// after the route and the caller's access, so a caller without access learns nothing of
/// the body rules (QA session 9, L9) —, 500 if the handler panics (the daemon keeps
/// serving).
pub fn dispatch(
    ctx: &Ctx,
    principal: &Principal,
    req: &Request,
    json_body: bool,
) -> (Response, Option<&'static str>) {
    let mut allowed: Vec<&'static str> = Vec::new();
    let mut found: Option<&Route> = None;
    for r in routes().filter(|r| path_matches(r.path, &req.path)) {
        if r.method == req.method {
            found = Some(r);
            break;
        }
        allowed.push(r.method.as_str());
    }
    let Some(route) = found else {
        if allowed.is_empty() {
            return (Response::error(404, "no such route"), None);
        }
        let path = routes()
            .find(|r| path_matches(r.path, &req.path))
            .map(|r| r.path);
        // A caller allowed none of this path's routes learns nothing of its methods: it gets
        // the access error it would get with the right method (`GET /shutdown` over TCP is
        // 403, as `POST /shutdown` is).
        let mut denied = None;
        for r in routes().filter(|r| path_matches(r.path, &req.path)) {
            match authorize(r.access, principal) {
                Ok(()) => {
                    denied = None;
                    break;
                }
                Err(resp) => {
                    denied.get_or_insert(resp);
                }
            }
        }
        if let Some(resp) = denied {
            return (resp, path);
        }
        return (
            Response::error(405, "method not allowed on this route")
                .with_header("Allow", allowed.join(", ")),
            path,
        );
    };
    if let Err(resp) = authorize(route.access, principal) {
        audit_refusal(ctx, route, principal);
        return (resp, Some(route.path));
    }
    if req.method == Method::Post && !json_body {
        return (
            Response::error(
                415,
                "send the body as JSON with Content-Type: application/json",
            ),
            Some(route.path),
        );
    }
    let resp = catch_unwind(AssertUnwindSafe(|| (route.handler)(ctx, principal, req)))
        .unwrap_or_else(|_| Response::error(500, "internal error"));
    (resp, Some(route.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client takes a ticket for exactly the `patina` routes but the ticket route
    /// ([`crate::auth::ticket::TICKETED`], kept below the table for the client's sake).
    #[test]
    fn the_ticketed_list_is_the_tables_patina_routes() {
        let mut table: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.access == Access::Patina)
            .map(|r| r.path)
            .filter(|p| *p != crate::auth::ticket::TICKET_ROUTE)
            .collect();
        let mut list = crate::auth::ticket::TICKETED.to_vec();
        table.sort_unstable();
        list.sort_unstable();
        assert_eq!(table, list);
    }
}
