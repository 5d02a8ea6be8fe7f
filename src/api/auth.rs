//! The `/auth/*` routes of the age-key handshake (spec:
//! `layer/surface/specs/spec-age-handshake.md`): transport-free handlers over the daemon's
//! [`ServerAuth`], which [`Ctx`] owns. TCP only: on the Unix socket they are 404.
//! Depends on [`crate::auth`] and [`crate::http`].

use super::Ctx;
use crate::auth::Principal;
use crate::auth::protocol::SCHEME;
use crate::auth::server::ServerAuth;
use crate::http::{Request, Response};

/// The daemon's handshake state for a TCP caller; `None` on the Unix socket or when the
/// daemon has no TCP side.
fn tcp_only<'c>(ctx: &'c Ctx, principal: &Principal) -> Option<&'c ServerAuth> {
    if matches!(principal, Principal::LocalPeer { .. }) {
        return None;
    }
    ctx.age_key.as_deref()
}

fn refused() -> Response {
    Response::error(401, "age-key authentication failed").with_header("WWW-Authenticate", SCHEME)
}

fn not_found() -> Response {
    Response::error(404, "no such route")
}

/// `GET /auth/server-key` (TCP only; open): `{"server": "age1…"}`, the daemon's public
/// recipient, so a client can compare it with its pin before anything else.
pub fn handle_server_key(ctx: &Ctx, principal: &Principal, _req: &Request) -> Response {
    match tcp_only(ctx, principal) {
        Some(s) => Response::json(200, &serde_json::json!({ "server": s.recipient() })),
        None => not_found(),
    }
}

#[derive(serde::Deserialize)]
struct ChallengeBody {
    client: String,
    nc: String,
}

/// `POST /auth/challenge` (TCP only; open): body `{client: age1…, nc: base64(age(client
/// nonce) to the server)}`; answers `{id, server, ns: base64(age(server nonce) to the
/// client), proof: base64 HMAC(client nonce, "server" ‖ id ‖ server)}`. A challenge is issued
/// for any well-formed client recipient, allowed or not; 401 if `nc` does not decrypt.
pub fn handle_challenge(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let Some(s) = tcp_only(ctx, principal) else {
        return not_found();
    };
    let body: ChallengeBody = match crate::http::parse_json_body(&req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match s.challenge(&body.client, &body.nc) {
        Some(v) => Response::json(200, &v),
        None => refused(),
    }
}

#[derive(serde::Deserialize)]
struct VerifyBody {
    id: String,
    proof: String,
}

/// `POST /auth/verify` (TCP only; open): body `{id, proof: base64 HMAC(session key,
/// "client" ‖ id)}`; consumes the challenge and answers `{session, expires_in_secs}`, or the
/// same 401 for every failure (unknown, expired or reused id, wrong proof, client not
/// allowed).
pub fn handle_verify(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let Some(s) = tcp_only(ctx, principal) else {
        return not_found();
    };
    let body: VerifyBody = match crate::http::parse_json_body(&req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match s.verify(&body.id, &body.proof) {
        Some((sid, ttl)) => Response::json(
            200,
            &serde_json::json!({ "session": sid, "expires_in_secs": ttl }),
        ),
        None => refused(),
    }
}
