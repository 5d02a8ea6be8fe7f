//! The TCP listener, only when asked (requirements §4, §8): bearer-token auth, the `Host` and
//! `Origin` checks against DNS rebinding and cross-site requests, and a per-address limit
//! on auth failures. It has its own worker pool, so it can never starve the Unix socket.

use crate::auth::Principal;
use crate::auth::protocol::SCHEME;
use crate::auth::server::ServerAuth;
use crate::auth::token::Verifier;
use crate::http::Response;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Auth failures one address may make per [`FAILURE_WINDOW`] before getting 429.
pub const MAX_AUTH_FAILURES: u32 = 20;
/// The window over which auth failures are counted.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past it the table is cleared (bounded memory).
const MAX_TRACKED: usize = 4096;

/// How the TCP listener is configured.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// The address to bind.
    pub addr: SocketAddr,
    /// The host as the user gave it (also accepted in `Host`).
    pub host: String,
    /// Worker threads.
    pub workers: usize,
    /// Queue before 503.
    pub queue: usize,
    /// Origins allowed to send requests (exact `scheme://host[:port]` strings).
    pub allowed_origins: Vec<String>,
}

/// Shared state of the TCP side.
#[derive(Debug)]
pub struct TcpState {
    /// The configuration.
    pub config: TcpConfig,
    /// The token verifier.
    pub verifier: Verifier,
    /// The age-key handshake state (the daemon's, shared with its [`crate::api::Ctx`]);
    /// `None` refuses every `Patina-Session` request.
    pub age_key: Option<Arc<ServerAuth>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl TcpState {
    /// State for a listener.
    pub fn new(
        config: TcpConfig,
        verifier: Verifier,
        age_key: Option<Arc<ServerAuth>>,
    ) -> TcpState {
        TcpState {
            config,
            verifier,
            age_key,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Decides the principal of a TCP request, or the refusal: 403 for a `Host` that is
    /// not an IP literal, `localhost` or the configured host, and likewise for the authority
    /// of an absolute-form request target (`target_authority`, which RFC 9112 §3.2.2 puts
    /// before `Host`: both must name this daemon); 403 for an `Origin` not explicitly
    /// allowed; 429 while the address is over its auth-failure budget.
    pub fn gate(
        &self,
        ip: IpAddr,
        host: Option<&str>,
        target_authority: Option<&str>,
        origin: Option<&str>,
        authorization: Option<&[u8]>,
        request: Option<&crate::http::Request>,
    ) -> Result<Principal, Response> {
        if let Some(h) = host
            && !self.host_allowed(h)
        {
            return Err(Response::error(
                403,
                "the Host header field must name this daemon (an IP address, localhost, or the configured host)",
            ));
        }
        if let Some(a) = target_authority
            && !self.host_allowed(a)
        {
            return Err(Response::error(
                403,
                "the request target's authority must name this daemon (an IP address, localhost, or the configured host); or send the path alone",
            ));
        }
        if let Some(o) = origin
            && !self.config.allowed_origins.iter().any(|a| a == o)
        {
            return Err(Response::error(
                403,
                "requests from web pages are refused (Origin not allowed)",
            ));
        }
        // Open routes (/health, /version) need no credentials, so an address over its
        // failure budget still reaches them: a neighbour's failures cannot make the daemon
        // look dead.
        let open_route = request.is_some_and(|r| {
            crate::api::routes().any(|rt| {
                rt.access == crate::auth::Access::Open
                    && rt.method == r.method
                    && crate::api::path_matches(rt.path, &r.path)
            })
        });
        if let Some(retry) = self.blocked_for(ip).filter(|_| !open_route) {
            return Err(Response::error(
                429,
                "too many failed authentication attempts; wait and retry",
            )
            .with_header("Retry-After", retry.as_secs().max(1).to_string()));
        }
        match authorization {
            None => Ok(Principal::Anonymous),
            Some(v) if v.starts_with(SCHEME.as_bytes()) => request
                .and_then(|r| self.age_key.as_ref()?.verify_request(v, r))
                .ok_or_else(|| {
                    Response::error(401, "invalid or expired age-key session")
                        .with_header("WWW-Authenticate", SCHEME)
                }),
            Some(v) => {
                let presented = bearer_credentials(v).unwrap_or(b"");
                if !presented.is_empty() && self.verifier.verify(presented) {
                    Ok(Principal::Token)
                } else {
                    // Counted by the caller from the final 401, once per request.
                    Err(Response::error(401, "invalid bearer token")
                        .with_header("WWW-Authenticate", "Bearer"))
                }
            }
        }
    }

    /// Counts an auth failure of `ip` (a wrong token, or a 401 for a missing one).
    pub fn record_failure(&self, ip: IpAddr) {
        let Ok(mut f) = self.failures.lock() else {
            return;
        };
        if f.len() >= MAX_TRACKED {
            f.clear();
        }
        let now = Instant::now();
        let e = f.entry(ip).or_insert((0, now));
        if now.duration_since(e.1) > FAILURE_WINDOW {
            *e = (0, now);
        }
        e.0 += 1;
    }

    fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        // A poisoned budget fails closed (architecture.md, "Poisoned locks"): its counts may
        // be half-updated, so every address counts as over budget until the daemon restarts.
        let Ok(f) = self.failures.lock() else {
            return Some(FAILURE_WINDOW);
        };
        let (n, since) = f.get(&ip)?;
        let age = since.elapsed();
        (*n >= MAX_AUTH_FAILURES && age < FAILURE_WINDOW).then(|| FAILURE_WINDOW - age)
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host);
        name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok()
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok()
            || name.eq_ignore_ascii_case(&self.config.host)
    }
}

/// The credentials of a `Bearer` authorization (RFC 6750 §2.1); the scheme name is
/// case-insensitive (RFC 9110 §11.1).
fn bearer_credentials(v: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = v.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
}

/// `host[:port]` → `host` (an IPv6 literal keeps its brackets).
fn strip_port(h: &str) -> &str {
    if h.starts_with('[') {
        return match h.find(']') {
            Some(i) => &h[..=i],
            None => h,
        };
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => h,
    }
}

/// True for loopback addresses (127.0.0.0/8, ::1).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> TcpState {
        let dir = tempfile::tempdir().unwrap();
        let v = Verifier::load_or_create(&dir.path().join("run/t")).unwrap();
        TcpState::new(
            TcpConfig {
                addr: "127.0.0.1:1".parse().unwrap(),
                host: "devbox".into(),
                workers: 1,
                queue: 1,
                allowed_origins: vec!["http://ok.example".into()],
            },
            v,
            None,
        )
    }

    #[test]
    fn host_and_origin_checks() {
        let s = state();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for ok in [
            "127.0.0.1:50051",
            "localhost",
            "LOCALHOST:1",
            "[::1]:5",
            "devbox:50051",
            "10.1.2.3",
        ] {
            assert!(s.gate(ip, Some(ok), None, None, None, None).is_ok(), "{ok}");
        }
        for bad in ["evil.example", "evil.example:50051", "127.0.0.1.nip.io"] {
            assert_eq!(
                s.gate(ip, Some(bad), None, None, None, None)
                    .unwrap_err()
                    .status,
                403,
                "{bad}"
            );
            // The authority of an absolute-form target, with a good Host (RFC 9112 §3.2.2).
            assert_eq!(
                s.gate(ip, Some("127.0.0.1"), Some(bad), None, None, None)
                    .unwrap_err()
                    .status,
                403,
                "{bad}"
            );
        }
        assert!(
            s.gate(
                ip,
                Some("127.0.0.1"),
                Some("localhost:50051"),
                None,
                None,
                None
            )
            .is_ok()
        );
        assert_eq!(
            s.gate(ip, None, None, Some("http://evil.example"), None, None)
                .unwrap_err()
                .status,
            403
        );
        assert!(
            s.gate(ip, None, None, Some("http://ok.example"), None, None)
                .is_ok()
        );
    }

    #[test]
    fn a_poisoned_failure_budget_refuses_every_address() {
        let s = std::sync::Arc::new(state());
        let ip: IpAddr = "127.0.0.4".parse().unwrap();
        assert!(s.gate(ip, None, None, None, None, None).is_ok());
        let t = std::sync::Arc::clone(&s);
        let _ = std::thread::spawn(move || {
            let _f = t.failures.lock();
            panic!("injected fault while holding the failure budget");
        })
        .join();
        assert!(s.failures.is_poisoned());
        let r = s.gate(ip, None, None, None, None, None).unwrap_err();
        assert_eq!(r.status, 429, "fails closed, not open");
        s.record_failure(ip); // and counting does not panic
    }

    #[test]
    fn repeated_failures_get_429_for_that_address_only() {
        let s = state();
        let bad: IpAddr = "127.0.0.2".parse().unwrap();
        let good: IpAddr = "127.0.0.3".parse().unwrap();
        for _ in 0..MAX_AUTH_FAILURES {
            let r = s
                .gate(bad, None, None, None, Some(b"Bearer nope"), None)
                .unwrap_err();
            assert_eq!(r.status, 401);
            s.record_failure(bad);
        }
        assert_eq!(
            s.gate(bad, None, None, None, Some(b"Bearer nope"), None)
                .unwrap_err()
                .status,
            429
        );
        assert!(s.gate(good, None, None, None, None, None).is_ok());
    }
}
