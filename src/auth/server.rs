//! The age-key handshake's server side: the daemon's identity, the allowed list (re-read
//! when its file changes), outstanding challenges and live sessions, and the check of a
//! `Patina-Session` request. A value the daemon owns ([`ServerAuth`]), never a static.
//! Depends on [`super::keys`], [`super::protocol`], [`super`] (the principal),
//! [`crate::http`], [`crate::fsutil`] (file stamps) and [`crate::paths`].

use super::Principal;
use super::keys::{
    KeyPair, allowed_path, load_or_create_key, parse_recipient, read_pairs, server_key_path,
};
use super::protocol::*;
use crate::http::Request;
use crate::paths::Home;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;
use zeroize::Zeroizing;

struct Challenge {
    client: String,
    nc: Zeroizing<[u8; NONCE_BYTES]>,
    ns: Zeroizing<[u8; NONCE_BYTES]>,
    created: Instant,
}

struct Session {
    client: String,
    /// The allowed-list name at handshake: a revoke followed by a new `allow` under another
    /// name still ends the session.
    name: String,
    key: Zeroizing<[u8; 32]>,
    expires: Instant,
    seen: ReplayWindow,
}

type Stamp = Option<crate::fsutil::FileStamp>;

/// The daemon's handshake state: its identity, the allowed list (re-read when the file
/// changes), outstanding challenges and live sessions. `Debug` shows counts only.
pub struct ServerAuth {
    key: KeyPair,
    recipient: String,
    allowed_file: PathBuf,
    allowed: Mutex<(Vec<(String, String)>, Stamp)>,
    challenges: Mutex<HashMap<String, Challenge>>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerAuth([redacted])")
    }
}

use crate::fsutil::file_stamp as stamp;

/// A handshake table under the poisoned-lock policy (architecture.md, "Poisoned locks"): a
/// table a panic left poisoned is emptied (its keys dropped and zeroized) and refused, so no
/// challenge or session is usable until the daemon restarts.
fn wiped_if_poisoned<K, V>(m: &Mutex<HashMap<K, V>>) -> Option<MutexGuard<'_, HashMap<K, V>>> {
    match m.lock() {
        Ok(t) => Some(t),
        Err(poisoned) => {
            poisoned.into_inner().clear();
            None
        }
    }
}

impl ServerAuth {
    /// The daemon's TCP identity (creating `auth/server.key` on first start) with an empty
    /// challenge and session table; the allowed list is read at first use and re-read when
    /// the file changes. One per daemon, owned by its [`crate::api::Ctx`] and TCP gate.
    pub fn open(home: &Home) -> super::Result<ServerAuth> {
        let key = load_or_create_key(&server_key_path(home))?;
        Ok(ServerAuth {
            recipient: key.recipient(),
            key,
            allowed_file: allowed_path(home),
            allowed: Mutex::new((Vec::new(), Some((u64::MAX, 0, 0)))),
            challenges: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The daemon's public recipient (`age1…`; fine to print).
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// The allowed-list name of `recipient`, if it is allowed now.
    fn allowed_name(&self, recipient: &str) -> Option<String> {
        let mut a = self.allowed.lock().ok()?;
        let now = stamp(&self.allowed_file);
        if now != a.1 {
            let list = read_pairs(&self.allowed_file)
                .map(|p| p.into_iter().collect())
                .unwrap_or_default();
            *a = (list, now);
        }
        a.0.iter()
            .find(|(_, r)| r == recipient)
            .map(|(n, _)| n.clone())
    }

    /// Step 2 of the handshake (`POST /auth/challenge`): decrypts the client nonce `nc_b64`,
    /// stores a challenge and answers `{id, server, ns, proof}`; `None` for a malformed
    /// recipient or a nonce that does not decrypt.
    pub fn challenge(&self, client: &str, nc_b64: &str) -> Option<serde_json::Value> {
        let client_r = parse_recipient(client)?;
        let nc = age_decrypt_nonce(&self.key.id, &unb64(nc_b64)?)?;
        let ns = random::<NONCE_BYTES>();
        let id = hex(&*random::<16>());
        let ns_ct = age_encrypt(&client_r, &*ns)?;
        let proof = hmac_sha256(&*nc, &server_proof_parts(&id, &self.recipient));
        let mut t = wiped_if_poisoned(&self.challenges)?;
        t.retain(|_, c| c.created.elapsed() < CHALLENGE_TTL);
        if t.len() >= MAX_CHALLENGES
            && let Some(oldest) = t
                .iter()
                .min_by_key(|(_, c)| c.created)
                .map(|(k, _)| k.clone())
        {
            t.remove(&oldest);
        }
        t.insert(
            id.clone(),
            Challenge {
                client: client_r.to_string(),
                nc,
                ns,
                created: Instant::now(),
            },
        );
        Some(serde_json::json!({
            "id": id,
            "server": self.recipient,
            "ns": b64(&ns_ct),
            "proof": b64(&proof),
        }))
    }

    /// Step 3 (`POST /auth/verify`): consumes challenge `id` and, when the proof verifies and
    /// the client is allowed, opens a session: `(session id, lifetime in seconds)`.
    pub fn verify(&self, id: &str, proof_b64: &str) -> Option<(String, u64)> {
        // Single use: taken out whatever happens next.
        let c = wiped_if_poisoned(&self.challenges)?.remove(id);
        let proof = unb64(proof_b64).unwrap_or_default();
        let (client, key, fresh) = match &c {
            Some(c) => (
                c.client.as_str(),
                derive_session_key(id, &*c.nc, &*c.ns),
                c.created.elapsed() < CHALLENGE_TTL,
            ),
            // Same work on the failure path.
            None => ("", derive_session_key(id, &[0; 32], &[0; 32]), false),
        };
        let mac_ok = hmac_verify(&*key, &client_proof_parts(id), &proof);
        let allowed = self.allowed_name(client);
        if !(mac_ok & allowed.is_some() & fresh) {
            return None;
        }
        let name = allowed?;
        let sid = hex(&*random::<16>());
        let mut s = wiped_if_poisoned(&self.sessions)?;
        s.retain(|_, x| x.expires > Instant::now());
        if s.len() >= MAX_SESSIONS
            && let Some(oldest) = s
                .iter()
                .min_by_key(|(_, x)| x.expires)
                .map(|(k, _)| k.clone())
        {
            s.remove(&oldest);
        }
        s.insert(
            sid.clone(),
            Session {
                client: client.to_string(),
                name,
                key,
                expires: Instant::now() + SESSION_TTL,
                seen: ReplayWindow::default(),
            },
        );
        Some((sid, SESSION_TTL.as_secs()))
    }

    /// Checks a `Patina-Session` `Authorization` value against `req` (method, target, body):
    /// the session exists and is not expired, its client is still allowed, the timestamp is
    /// within ±[`MAX_CLOCK_SKEW_SECS`], the counter was never accepted before and is at most
    /// [`REPLAY_WINDOW`] below the highest one (see [`ReplayWindow`]), and the MAC verifies. `None` for any failure (the caller answers 401).
    pub fn verify_request(&self, header: &[u8], req: &Request) -> Option<Principal> {
        let text = std::str::from_utf8(header).ok()?;
        let params = text.strip_prefix(SCHEME)?.strip_prefix(' ')?;
        let (mut sid, mut ts, mut n, mut mac) = (None, None, None, None);
        for kv in params.split(',') {
            let (k, v) = kv.trim().split_once('=')?;
            match k {
                "sid" => sid = Some(v),
                "ts" => ts = Some(v.parse::<u64>().ok()?),
                "n" => n = Some(v.parse::<u64>().ok()?),
                "mac" => mac = Some(unhex(v)?),
                _ => return None,
            }
        }
        let (sid, ts, n, mac) = (sid?, ts?, n?, mac?);
        if unix_now().abs_diff(ts) > MAX_CLOCK_SKEW_SECS {
            return None;
        }
        let mut target = req.path.clone();
        if let Some(q) = &req.query {
            target.push('?');
            target.push_str(q);
        }
        let input = request_mac_input(req.method.as_str(), &target, &req.body, ts, n);
        let mut sessions = wiped_if_poisoned(&self.sessions)?;
        let s = sessions.get_mut(sid)?;
        if s.expires <= Instant::now() {
            sessions.remove(sid);
            return None;
        }
        if !hmac_verify(&*s.key, &[input.as_bytes()], &mac) || !s.seen.check(n) {
            return None;
        }
        let client = s.client.clone();
        if self.allowed_name(&client).as_deref() != Some(s.name.as_str()) {
            // Revoked: the session dies now.
            sessions.remove(sid);
            return None;
        }
        s.seen.mark(n);
        Some(Principal::AgeKey { recipient: client })
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::allow;
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    fn server(dir: &Path) -> ServerAuth {
        ServerAuth::open(&Home::at(dir.join("h"))).unwrap()
    }

    /// Client side of steps 2-3 by hand: (challenge id, verify proof).
    fn client_steps(s: &ServerAuth, id: &age::x25519::Identity) -> (String, String) {
        let nc = random::<NONCE_BYTES>();
        let srv = parse_recipient(&s.recipient).unwrap();
        let ch = s
            .challenge(
                &id.to_public().to_string(),
                &b64(&age_encrypt(&srv, &*nc).unwrap()),
            )
            .unwrap();
        let cid = ch["id"].as_str().unwrap().to_string();
        let ns = age_decrypt_nonce(id, &unb64(ch["ns"].as_str().unwrap()).unwrap()).unwrap();
        let k = derive_session_key(&cid, &*nc, &*ns);
        (
            cid.clone(),
            b64(&hmac_sha256(&*k, &client_proof_parts(&cid))),
        )
    }

    #[test]
    fn challenges_are_single_use_expire_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let s = server(dir.path());
        let id = age::x25519::Identity::generate();
        allow(
            &Home::at(dir.path().join("h")),
            &id.to_public().to_string(),
            "c",
        )
        .unwrap();
        let (cid, proof) = client_steps(&s, &id);
        assert!(s.verify(&cid, &proof).is_some());
        assert!(s.verify(&cid, &proof).is_none(), "single use");
        // Expired: back-date the challenge past its TTL.
        let (cid, proof) = client_steps(&s, &id);
        s.challenges.lock().unwrap().get_mut(&cid).unwrap().created -=
            CHALLENGE_TTL + Duration::from_secs(1);
        assert!(s.verify(&cid, &proof).is_none(), "expired");
        // Bounded: never more than MAX_CHALLENGES outstanding.
        for _ in 0..MAX_CHALLENGES + 5 {
            let nc = random::<NONCE_BYTES>();
            let srv = parse_recipient(&s.recipient).unwrap();
            s.challenge(
                &id.to_public().to_string(),
                &b64(&age_encrypt(&srv, &*nc).unwrap()),
            )
            .unwrap();
        }
        assert!(s.challenges.lock().unwrap().len() <= MAX_CHALLENGES);
        // Garbage `nc` is refused; a malformed recipient too.
        assert!(s.challenge(&id.to_public().to_string(), "AAAA").is_none());
        assert!(s.challenge("age1nope", "AAAA").is_none());
    }

    #[test]
    fn two_daemons_in_one_process_share_no_handshake_state() {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (server(d1.path()), server(d2.path()));
        assert_ne!(
            a.recipient(),
            b.recipient(),
            "each daemon has its own identity"
        );
        let id = age::x25519::Identity::generate();
        for d in [&d1, &d2] {
            allow(
                &Home::at(d.path().join("h")),
                &id.to_public().to_string(),
                "c",
            )
            .unwrap();
        }
        let (cid, proof) = client_steps(&a, &id);
        assert!(
            b.verify(&cid, &proof).is_none(),
            "b never issued a's challenge"
        );
        assert!(a.verify(&cid, &proof).is_some());
        assert_eq!(a.sessions.lock().unwrap().len(), 1);
        assert_eq!(b.sessions.lock().unwrap().len(), 0);
        assert!(b.challenges.lock().unwrap().is_empty());
    }
}
