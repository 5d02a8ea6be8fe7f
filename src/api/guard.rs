//! `POST /guard/scan` (local): the scan hold of [`crate::session::Session`] asked whether a
//! text holds a known value, for `patina guard` (requirements §11). Answers names and byte offsets
//! only — never a value, a prefix or a length of a value not wholly present in the text —
//! and refuses every caller but a local peer of our uid (never TCP).

use super::Ctx;
use crate::auth::Principal;
use crate::guard::hold::{GuardScanRequest, GuardScanResponse};
use crate::http::{Request, Response, parse_json_body};
use zeroize::Zeroizing;

/// `POST /guard/scan` (local) `{"text"}` → `{"held","findings":[{"name","start","end"}]}`.
pub fn scan(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let body: GuardScanRequest = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let text = Zeroizing::new(body.text);
    let pid = match principal {
        Principal::LocalPeer { pid, .. } => *pid,
        _ => None,
    };
    let resp = match ctx.session.scan_hold(text.as_bytes(), "/guard/scan", pid) {
        Some(findings) => GuardScanResponse {
            held: true,
            findings,
            tripped: false,
        },
        None => GuardScanResponse {
            held: false,
            findings: Vec::new(),
            tripped: ctx.session.status().tripped,
        },
    };
    Response::json(200, &resp)
}
