//! `GET /session`, `POST /session/unlock|lock|env`, `GET /secrets`, `POST /secrets/scan`
//! (requirements §6). The state lives in [`crate::session::Session`] on the [`Ctx`]; the detector is
//! [`crate::secrets::scan`]. Only `unlock` (takes an identity) and `env` (gives values) are
//! `patina` routes; no other response carries a value, and no error quotes a body.

use super::Ctx;
use crate::auth::Principal;
use crate::http::{Request, Response, parse_json_body};
use crate::secrets::VaultLocation;
use crate::secrets::scan::{self, Finding};
use crate::secrets::vault;
use crate::session::{SessionError, project_path};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// The `POST /session/unlock` body. The identity travels only over the Unix socket, between
/// two patina processes.
///
/// `S` is the identity's string type: the daemon reads a `String`; the CLI writes a borrowed
/// `&str` straight into a zeroized buffer, so no unzeroized copy of the identity is made.
#[derive(Serialize, Deserialize)]
pub struct UnlockRequest<S = String> {
    /// The age identity text (`AGE-SECRET-KEY-1…`).
    pub identity: S,
    /// How long to hold it: default [`crate::session::DEFAULT_TTL`], at most
    /// [`crate::session::MAX_TTL`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// A project whose vault to open too (absolute path); default the daemon's project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// How long the scan hold lasts, in seconds: default
    /// [`crate::session::DEFAULT_HOLD`], at most [`crate::session::MAX_HOLD`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_secs: Option<u64>,
    /// Keep only the scan hold (no release possible).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scan_only: bool,
    /// With it, every release asks the confirmation console and waits this many seconds for
    /// an answer (`session unlock --confirm`); the response then carries `console_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_timeout_secs: Option<u64>,
    /// Acknowledge a tripped tripwire (`session unlock --ack-canary`); an unlock after a trip
    /// is refused (409) without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ack_canary: bool,
}

/// The `POST /session/confirm/next` body: the console's token, and how long to wait.
#[derive(Serialize, Deserialize)]
pub struct ConfirmNext {
    /// The `console_token` of the unlock response.
    pub token: String,
    /// Seconds to wait for a release to confirm (at most 25; default 20).
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// The `POST /session/confirm/answer` body.
#[derive(Serialize, Deserialize)]
pub struct ConfirmAnswer {
    /// The `console_token` of the unlock response.
    pub token: String,
    /// The release's `id` from `/session/confirm/next`.
    pub id: u64,
    /// Release the values (true) or refuse (false).
    pub allow: bool,
}

/// The `POST /session/env` body.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct EnvRequest {
    /// The project whose vault joins the global one (absolute path); default the daemon's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The first word of the command `secrets run` starts: only secrets whose scope allows
    /// it are released (secrets without a scope always are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

/// The `POST /session/env` response: environment variable → value, and the secret names.
#[derive(Serialize, Deserialize)]
pub struct EnvResponse {
    /// Environment variable → value, in the order to apply them.
    pub env: BTreeMap<String, String>,
    /// The names of the secrets released.
    pub names: Vec<String>,
}

impl std::fmt::Debug for EnvResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnvResponse({:?}, [redacted])", self.names)
    }
}

/// The `POST /secrets/add` body: a secret to store with the session's identity. Travels only
/// over the Unix socket, between two patina processes (access `patina`).
///
/// `S` is the value's string type: the daemon reads a `String`; the CLI writes a borrowed
/// `&str` straight into a zeroized buffer.
#[derive(Serialize, Deserialize)]
pub struct AddRequest<S = String> {
    /// The secret's name (1 to 64 of `A-Z a-z 0-9 _ . -`).
    pub name: String,
    /// The environment variable `secrets run` sets (default: from the name).
    #[serde(default)]
    pub env: Option<String>,
    /// The value.
    pub value: S,
    /// The project whose vault receives it (absolute path of its root); default the global
    /// vault.
    #[serde(default)]
    pub project: Option<String>,
    /// The secret's scope (`secrets add --allow`): the commands or directories it may be
    /// released to; empty for no scope.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Store it as a canary (`secrets add --canary`): never released; touching it trips.
    #[serde(default)]
    pub canary: bool,
    /// Replace the value of a secret the vault already holds (`secrets add --replace`);
    /// without it such a name is refused (400). Under `session unlock --confirm` a replace
    /// asks the confirmation console first.
    #[serde(default)]
    pub replace: bool,
    /// The CLI runs in a terminal: a project vault trusted before the write stays trusted
    /// ([`crate::secrets::trust`]).
    #[serde(default)]
    pub keep_trust: bool,
}

impl<S> std::fmt::Debug for AddRequest<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AddRequest({}, [redacted])", self.name)
    }
}

/// The `POST /secrets/add` response: the variable it is exported as, whether it replaced
/// one, and the vault (`global` or `project`). Never the value.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddResponse {
    /// The environment variable.
    pub env: String,
    /// A secret of that name was replaced.
    pub replaced: bool,
    /// `global` or `project`.
    pub vault: String,
    /// This write recorded the vault's recipient list inside it (a vault of an older
    /// patina): how many recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_recipients: Option<usize>,
}

/// The `POST /secrets/scan` body. `S` is the text's string type (the CLI sends a borrowed
/// `&str`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ScanRequest<S = String> {
    /// The text to scan (at most the body limit, 1 MiB).
    pub text: S,
}

/// The `POST /secrets/scan` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScanResponse {
    /// What was found, by start offset.
    pub findings: Vec<Finding>,
}

fn peer(p: &Principal) -> Option<u32> {
    match p {
        Principal::LocalPeer { pid, .. } => *pid,
        _ => None,
    }
}

fn error(e: &SessionError) -> Response {
    let status = match e {
        SessionError::BadTtl | SessionError::TtlSyntax | SessionError::BadIdentity(_) => 400,
        SessionError::Vault(v) if v.is_io() => 500,
        SessionError::Random(_) => 500,
        SessionError::Vault(_) => 400,
        SessionError::Locked | SessionError::Tripped(_) => 409,
        SessionError::Damaged => 503,
        SessionError::Refused(_) | SessionError::NotConsole => 403,
    };
    Response::error(status, e.to_string())
}

/// The vault a `/secrets/add` or `/secrets/remove` body names: the global one, or the
/// project's at an absolute directory path (404 otherwise).
fn vault_of(project: Option<&str>) -> Result<VaultLocation, Response> {
    match project {
        None => Ok(VaultLocation::Global),
        Some(p) => project_path(p).map(VaultLocation::Project).ok_or_else(|| {
            Response::error(404, "unknown project (give an absolute directory path)")
        }),
    }
}

fn project_of(ctx: &Ctx, asked: Option<&str>) -> Result<PathBuf, Response> {
    match asked {
        None => Ok(ctx.project.clone()),
        Some(a) => project_path(a).ok_or_else(|| {
            Response::error(404, "unknown project (give an absolute directory path)")
        }),
    }
}

/// `GET /session` (local) → `{"unlocked","expires_in_secs","vaults"}`.
pub fn status(ctx: &Ctx, _: &Principal, _: &Request) -> Response {
    Response::json(200, &ctx.session.status())
}

/// `POST /session/unlock` (patina) `{"identity","ttl_secs"?,"project"?}` → status; 400 for a
/// bad TTL or identity, or a vault the identity cannot open.
pub fn unlock(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let body: UnlockRequest = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let identity = Zeroizing::new(body.identity);
    let project = match project_of(ctx, body.project.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let opts = crate::session::UnlockOptions {
        hold: body
            .hold_secs
            .map_or(crate::session::DEFAULT_HOLD, Duration::from_secs),
        scan_only: body.scan_only,
        confirm: body.confirm_timeout_secs.map(Duration::from_secs),
        ack_canary: body.ack_canary,
    };
    match ctx.session.unlock_with(
        identity.as_bytes(),
        body.ttl_secs.map(Duration::from_secs),
        Some(&project),
        peer(principal),
        opts,
    ) {
        Ok((mut st, token)) => {
            // Scry shows the daemon's own project: its vault's values are redacted too.
            if project != ctx.project {
                ctx.session.absorb_project(&ctx.project);
                st = ctx.session.status();
            }
            let mut v = serde_json::to_value(&st).unwrap_or_default();
            if let (Some(t), Some(o)) = (token, v.as_object_mut()) {
                o.insert("console_token".into(), t.as_str().into());
            }
            Response::json(200, &v)
        }
        Err(e) => error(&e),
    }
}

/// `POST /session/confirm/next` (patina) `{"token","wait_secs"?}` → `{"id","request"}` for
/// the next release to confirm, or `{"id":null}` when none came in the wait; 403 without the
/// console's token, 409 once locked.
pub fn confirm_next(ctx: &Ctx, _: &Principal, req: &Request) -> Response {
    let body: ConfirmNext = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let wait = Duration::from_secs(body.wait_secs.unwrap_or(20).min(25));
    match ctx.session.next_ask(&body.token, wait) {
        Ok(Some((id, request))) => {
            Response::json(200, &serde_json::json!({"id": id, "request": request}))
        }
        Ok(None) => Response::json(200, &serde_json::json!({"id": null})),
        Err(e) => error(&e),
    }
}

/// `POST /session/confirm/answer` (patina) `{"token","id","allow"}` → `{}`; 403 without the
/// console's token or for an unknown id.
pub fn confirm_answer(ctx: &Ctx, _: &Principal, req: &Request) -> Response {
    let body: ConfirmAnswer = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    match ctx.session.answer(&body.token, body.id, body.allow) {
        Ok(()) => Response::json(200, &serde_json::json!({})),
        Err(e) => error(&e),
    }
}

/// `POST /session/lock` (local) → status (locked).
pub fn lock(ctx: &Ctx, principal: &Principal, _: &Request) -> Response {
    ctx.session.lock(peer(principal));
    Response::json(200, &ctx.session.status())
}

/// `POST /session/ticket` (patina) `{}` → `{"ticket": "<64 hex>"}`: a one-use ticket for the
/// calling process's next `patina` request ([`crate::auth::ticket`]), redeemable for
/// [`crate::auth::ticket::TICKET_TTL`]. 500 when the random source fails.
pub fn ticket(ctx: &Ctx, principal: &Principal, _: &Request) -> Response {
    let Principal::LocalPeer {
        pid: Some(pid),
        writer: crate::auth::Writer::PatinaAtAccept { start_time },
        ..
    } = principal
    else {
        // `authorize` let only a verified patina writer through.
        return Response::error(403, "this route answers only the patina binary itself");
    };
    match ctx.tickets.issue(*pid, *start_time) {
        Ok(t) => Response::json(200, &serde_json::json!({ "ticket": t.as_str() })),
        Err(_) => Response::error(500, "no ticket: the random source failed"),
    }
}

/// `POST /session/env` (patina) `{"project"?}` → `{"env":{VAR:value},"names":[…]}`; 409 when
/// locked.
pub fn env(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let body: EnvRequest = if req.body.is_empty() {
        EnvRequest::default()
    } else {
        match parse_json_body(&req.body) {
            Ok(b) => b,
            Err(resp) => return resp,
        }
    };
    let project = match project_of(ctx, body.project.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match ctx
        .session
        .env(Some(&project), peer(principal), body.program.as_deref())
    {
        Ok(map) => {
            let resp = EnvResponse {
                names: map.entries().iter().map(|e| e.name.clone()).collect(),
                env: map
                    .entries()
                    .iter()
                    .map(|e| (e.env.clone(), e.value.expose().to_string()))
                    .collect(),
            };
            let out = Response::json(200, &resp);
            for v in resp.env.into_values() {
                drop(Zeroizing::new(v));
            }
            out
        }
        Err(e) => error(&e),
    }
}

/// `POST /secrets/add` (patina) `{"name","env"?,"value","project"?}` → `{"env","replaced",
/// "vault"}`: stores a secret with the unlocked session's identity (409 when locked, 400 for
/// a bad name, variable or vault). Never echoes the value.
pub fn add_secret(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let body: AddRequest = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let AddRequest {
        name,
        env,
        value,
        project,
        allow,
        canary,
        replace,
        keep_trust,
    } = body;
    let value = Zeroizing::new(value);
    let loc = match vault_of(project.as_deref()) {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    let secret =
        match crate::secrets::SecretValue::from_bytes(Zeroizing::new(value.as_bytes().to_vec())) {
            Ok(v) => v,
            Err(e) => return Response::error(400, e.to_string()),
        };
    match ctx.session.add_secret(
        &loc,
        &name,
        env.as_deref(),
        secret,
        crate::session::AddPolicy {
            allow: &allow,
            canary,
            replace,
            keep_trust,
        },
        peer(principal),
    ) {
        Ok(added) => Response::json(
            200,
            &AddResponse {
                env: added.env,
                replaced: added.replaced,
                vault: loc.kind().to_string(),
                recorded_recipients: added.recorded_recipients,
            },
        ),
        Err(e) => error(&e),
    }
}

/// The `POST /secrets/remove` body: the secret to remove with the session's identity
/// (access `patina`, like `/secrets/add`).
#[derive(Debug, Serialize, Deserialize)]
pub struct RemoveRequest {
    /// The secret's name (1 to 64 of `A-Z a-z 0-9 _ . -`).
    pub name: String,
    /// The project whose vault holds it (absolute path of its root); default the global vault.
    #[serde(default)]
    pub project: Option<String>,
}

/// The `POST /secrets/remove` response: the name removed and its vault (`global` or
/// `project`).
#[derive(Debug, Serialize, Deserialize)]
pub struct RemoveResponse {
    /// The secret's name.
    pub removed: String,
    /// `global` or `project`.
    pub vault: String,
}

/// `POST /secrets/remove` (patina) `{"name","project"?}` → `{"removed","vault"}`: removes a
/// secret with the unlocked session's identity (409 when locked, 404 when the vault has no
/// such name, 400 for a bad name or vault).
pub fn remove_secret(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let RemoveRequest { name, project } = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let loc = match vault_of(project.as_deref()) {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    match ctx.session.remove_secret(&loc, &name, peer(principal)) {
        Ok(()) => Response::json(
            200,
            &RemoveResponse {
                removed: name,
                vault: loc.kind().to_string(),
            },
        ),
        Err(SessionError::Vault(v)) if v.is_not_found() => Response::error(404, v.to_string()),
        Err(e) => error(&e),
    }
}

#[derive(Serialize)]
struct ListItem {
    name: String,
    env: String,
    vault: &'static str,
}

/// `GET /secrets` (local) → `{"secrets":[{"name","env","vault"}]}` for the global vault and
/// the daemon's project: names only (from `secrets.toml`; no identity needed).
pub fn list_secrets(ctx: &Ctx, _: &Principal, _: &Request) -> Response {
    let mut items = Vec::new();
    for loc in [
        VaultLocation::Global,
        VaultLocation::Project(ctx.project.clone()),
    ] {
        if matches!(loc, VaultLocation::Project(_))
            && crate::secrets::is_home_dir(&ctx.home, &loc.dir(&ctx.home))
        {
            continue;
        }
        match vault::list(&ctx.home, &loc) {
            Ok(list) => items.extend(list.into_iter().map(|l| ListItem {
                name: l.name,
                env: l.env,
                vault: loc.kind(),
            })),
            Err(e) => return Response::error(500, format!("{e:#}")),
        }
    }
    Response::json(200, &serde_json::json!({ "secrets": items }))
}

/// `POST /secrets/scan` (local) `{"text"}` → `{"findings":[{"kind","name"?,"start","end"}]}`:
/// known secrets by name (while unlocked) and secret-looking tokens, with byte offsets.
pub fn scan(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let body: ScanRequest = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let text = Zeroizing::new(body.text);
    // While no value is held in clear (locked past the TTL, `--scan-only`), the scan hold
    // still knows every stored value's forms: they are reported as `known` findings, as
    // `/guard/scan` reports them, so a pre-commit `secrets scan` still stops a stored value.
    let held: Vec<scan::Finding> = if ctx.session.status().unlocked {
        Vec::new()
    } else {
        ctx.session.with_hold(|h| {
            h.map(|h| h.scan(text.as_bytes()))
                .unwrap_or_default()
                .into_iter()
                .map(|hit| scan::Finding {
                    kind: "known".into(),
                    name: Some(hit.name),
                    start: hit.start,
                    end: hit.end,
                })
                .collect()
        })
    };
    let findings = ctx
        .session
        .with_known(|known| scan::report_with(text.as_bytes(), known, held));
    // After answering as for any finding: a canary trips, every finding counts to the burst.
    let found: Vec<&str> = findings.iter().filter_map(|f| f.name.as_deref()).collect();
    ctx.session
        .observe(&found, "/secrets/scan", peer(principal));
    Response::json(200, &ScanResponse { findings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;
    use crate::paths::Home;

    const CANARY: &str = "Pc4n4ry-7f3e9c1d+x/y=z";

    fn ctx(dir: &std::path::Path) -> Ctx {
        let info = super::super::DaemonInfo {
            pid: 1,
            socket: dir.join("s.sock"),
            tcp: None,
            workers_unix: 1,
            workers_tcp: 0,
        };
        Ctx::new(
            dir.to_path_buf(),
            Home::at(dir.join("home")),
            info,
            Box::new(|| {}),
        )
    }

    fn req(body: &str) -> Request {
        Request {
            method: Method::Post,
            path: "/".into(),
            query: None,
            body: body.as_bytes().to_vec(),
            request_id: "t".into(),
        }
    }

    /// The error paths of the patina routes, as the patina binary would reach them: no body
    /// echoes the identity or a value, whatever is malformed.
    #[test]
    fn error_paths_of_the_patina_routes_never_echo() {
        let t = tempfile::tempdir().unwrap();
        let c = ctx(t.path());
        let me = Principal::LocalPeer {
            uid: 0,
            pid: Some(std::process::id()),
            writer: crate::auth::Writer::PatinaAtAccept {
                start_time: crate::auth::process_start_time(std::process::id()).unwrap(),
            },
        };
        let bodies = [
            format!(r#"{{"identity": "{CANARY}"}}"#),
            format!(r#"{{"identity": "AGE-SECRET-KEY-1{CANARY}", "ttl_secs": 5}}"#),
            format!(r#"{{"identity": "{CANARY}", "ttl_secs": 999999999}}"#),
            format!(r#"{{"identity": "{CANARY}", "ttl_secs": "{CANARY}"}}"#),
            format!(r#"{{"identity": "{CANARY}", "project": "/nonexistent/{CANARY}"}}"#),
            format!(r#"{{"identity": "{CANARY}""#),
            format!(r#"{{"project": "{CANARY}"}}"#),
            format!(r#"{{"text": ["{CANARY}"]}}"#),
            CANARY.to_string(),
        ];
        for b in &bodies {
            for h in [unlock, env, scan, lock, status] {
                let r = h(&c, &me, &req(b));
                let text = String::from_utf8_lossy(&r.body);
                assert!(!text.contains("Pc4n4ry"), "{}", r.status);
                assert!(!text.contains("7f3e9c1d"), "{}", r.status);
            }
        }
        // Locked: env has nothing to give.
        assert_eq!(env(&c, &me, &req("{}")).status, 409);
        // A TTL past the maximum is a 400 (with a real identity).
        let id = crate::secrets::Identity::generate();
        let b = serde_json::json!({"identity": &*id.expose_secret_text(), "ttl_secs": u64::MAX});
        assert_eq!(unlock(&c, &me, &req(&b.to_string())).status, 400);
        let b = serde_json::json!({"identity": &*id.expose_secret_text(), "ttl_secs": 60});
        let r = unlock(&c, &me, &req(&b.to_string()));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(env(&c, &me, &req("")).status, 200);
    }

    /// A vault that cannot be read (here: its name map is a directory, EISDIR) is the
    /// daemon's failure, 500, not a bad request.
    #[test]
    fn a_vault_io_failure_is_500() {
        let me = Principal::LocalPeer {
            uid: 0,
            pid: Some(std::process::id()),
            writer: crate::auth::Writer::PatinaAtAccept {
                start_time: crate::auth::process_start_time(std::process::id()).unwrap(),
            },
        };
        let id = crate::secrets::Identity::generate();
        let b = serde_json::json!({"identity": &*id.expose_secret_text(), "ttl_secs": 60});
        let t = tempfile::tempdir().unwrap();
        let c = ctx(t.path());
        let home = t.path().join("home");
        crate::fsutil::ensure_private_dir(&home).unwrap();
        std::fs::create_dir(home.join("secrets.toml")).unwrap();
        let r = unlock(&c, &me, &req(&b.to_string()));
        assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(env(&c, &me, &req("{}")).status, 409, "nothing was unlocked");
    }
}
