//! The age-key handshake's protocol, shared by both sides (spec:
//! `layer/surface/specs/spec-age-handshake.md`): its constants, the HMAC, HKDF and age
//! primitives (RustCrypto and `age`; nothing home-made), the request MAC and the replay
//! window. Depends on `age`, `hmac`, `hkdf`, `sha2`, `base64`, `zeroize`, [`crate::secrets`]
//! (randomness, `secrets::random`) and [`crate::text`] (hex).

use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// How long a challenge may wait for its `/auth/verify`.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(10);
/// Challenges outstanding at most; past it the oldest is dropped (bounded memory).
pub const MAX_CHALLENGES: usize = 1024;
/// How long a session lives after the handshake (1 hour).
pub const SESSION_TTL: Duration = Duration::from_secs(3600);
/// Sessions held at most; past it the oldest is dropped.
pub const MAX_SESSIONS: usize = 4096;
/// How far a request's timestamp may be from the daemon's clock, either way (seconds).
pub const MAX_CLOCK_SKEW_SECS: u64 = 30;
/// The `Authorization` scheme of a request under a session.
pub const SCHEME: &str = "Patina-Session";
/// HKDF `info` of the session key.
pub const SESSION_INFO: &[u8] = b"patina-session-v1";
/// Bytes in each handshake nonce.
pub const NONCE_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// `N` random bytes from the kernel ([`crate::secrets::random::fill_random`]). Panics if the kernel has no
/// randomness to give (a handshake cannot go on without it).
pub(crate) fn random<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut raw = Zeroizing::new([0u8; N]);
    crate::secrets::random::fill_random(&mut raw[..]).expect("getrandom(2) failed");
    raw
}

/// Lowercase hex ([`crate::text::hex`]).
pub(crate) fn hex(bytes: &[u8]) -> String {
    crate::text::hex(bytes, false)
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn unb64(s: &str) -> Option<Vec<u8>> {
    if s.len() > 4096 {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// HMAC-SHA256 of the concatenation of `parts` under `key` (RFC 2104).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Checks `tag` against HMAC-SHA256(`key`, `parts`) in constant time (`verify_slice`).
pub fn hmac_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.verify_slice(tag).is_ok()
}

/// The session key: HKDF-SHA256 (RFC 5869) with salt = the challenge id, ikm = client nonce
/// ‖ server nonce, info = [`SESSION_INFO`].
pub fn derive_session_key(id: &str, nc: &[u8], ns: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(nc.len() + ns.len()));
    ikm.extend_from_slice(nc);
    ikm.extend_from_slice(ns);
    let hk = Hkdf::<Sha256>::new(Some(id.as_bytes()), &ikm);
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(SESSION_INFO, &mut okm[..])
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// The server's handshake proof: HMAC(client nonce, `"server"` ‖ id ‖ server recipient).
pub fn server_proof_parts<'a>(id: &'a str, server: &'a str) -> [&'a [u8]; 3] {
    [b"server", id.as_bytes(), server.as_bytes()]
}

/// The client's handshake proof parts: `"client"` ‖ id (keyed by the session key).
pub fn client_proof_parts(id: &str) -> [&[u8]; 2] {
    [b"client", id.as_bytes()]
}

/// The text a request MAC covers: `patina-request-v1`, method, request target, hex SHA-256
/// of the body, Unix timestamp (seconds), counter, separated by `\n`.
pub fn request_mac_input(method: &str, target: &str, body: &[u8], ts: u64, n: u64) -> String {
    format!(
        "patina-request-v1\n{method}\n{target}\n{}\n{ts}\n{n}",
        hex(&Sha256::digest(body))
    )
}

/// The `Authorization` value of one request under a session: `Patina-Session sid=…, ts=…,
/// n=…, mac=…` (mac: hex HMAC-SHA256 under the session key of [`request_mac_input`]).
pub fn request_authorization(
    sid: &str,
    key: &[u8],
    method: &str,
    target: &str,
    body: &[u8],
    ts: u64,
    n: u64,
) -> String {
    let mac = hmac_sha256(
        key,
        &[request_mac_input(method, target, body, ts, n).as_bytes()],
    );
    format!("{SCHEME} sid={sid}, ts={ts}, n={n}, mac={}", hex(&mac))
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn age_encrypt(to: &age::x25519::Recipient, data: &[u8]) -> Option<Vec<u8>> {
    age::encrypt(to, data).ok()
}

pub(crate) fn age_decrypt_nonce(
    id: &age::x25519::Identity,
    ct: &[u8],
) -> Option<Zeroizing<[u8; 32]>> {
    let pt = Zeroizing::new(age::decrypt(id, ct).ok()?);
    let mut out = Zeroizing::new([0u8; NONCE_BYTES]);
    if pt.len() != NONCE_BYTES {
        return None;
    }
    out.copy_from_slice(&pt);
    Some(out)
}

/// Counters accepted so far in one session: the highest, and which of the
/// [`REPLAY_WINDOW`] below it were seen (a sliding window as in IPsec, RFC 4303 §3.4.3), so
/// a client's concurrent requests may arrive out of order but none can be accepted twice.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayWindow {
    top: u64,
    bits: u64,
}

/// How far below the highest counter a late request may still be accepted.
pub const REPLAY_WINDOW: u64 = 64;

impl ReplayWindow {
    /// True if `n` may be accepted (0 never is): above the highest, or within the window
    /// below it and not seen yet.
    pub fn check(&self, n: u64) -> bool {
        if n == 0 {
            return false;
        }
        if n > self.top {
            return true;
        }
        let back = self.top - n;
        back < REPLAY_WINDOW && back > 0 && self.bits & (1 << back) == 0
    }

    /// Records `n` as accepted (call only after [`ReplayWindow::check`] and the MAC passed).
    pub fn mark(&mut self, n: u64) {
        if n > self.top {
            let shift = n - self.top;
            self.bits = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.bits << shift
            };
            self.bits |= 1; // bit 0 is `top` itself
            self.top = n;
        } else {
            self.bits |= 1 << (self.top - n);
        }
    }
}

/// The paths of the handshake itself, which travel without a session.
pub fn is_handshake_path(path: &str) -> bool {
    path.starts_with("/auth/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_mac_binds_every_field() {
        let key = [7u8; 32];
        let base = request_authorization("s", &key, "POST", "/api/scry", b"{}", 100, 1);
        for other in [
            request_authorization("s", &key, "GET", "/api/scry", b"{}", 100, 1),
            request_authorization("s", &key, "POST", "/api/scrx", b"{}", 100, 1),
            request_authorization("s", &key, "POST", "/api/scry", b"{ }", 100, 1),
            request_authorization("s", &key, "POST", "/api/scry", b"{}", 101, 1),
            request_authorization("s", &key, "POST", "/api/scry", b"{}", 100, 2),
        ] {
            let mac = |s: &str| s.rsplit_once("mac=").unwrap().1.to_string();
            assert_ne!(mac(&base), mac(&other));
        }
    }

    #[test]
    fn replay_window_accepts_each_counter_once_even_out_of_order() {
        let mut w = ReplayWindow::default();
        assert!(!w.check(0));
        for n in [1, 3, 2, 10] {
            assert!(w.check(n), "{n}");
            w.mark(n);
            assert!(!w.check(n), "{n} twice");
        }
        assert!(!w.check(1) && !w.check(3));
        assert!(w.check(9) && w.check(4));
        w.mark(200);
        assert!(!w.check(200 - REPLAY_WINDOW), "too old");
        assert!(w.check(199));
        assert!(!w.check(10));
    }
}
