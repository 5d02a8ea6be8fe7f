//! The age-key handshake's client side (spec: `layer/surface/specs/spec-age-handshake.md`):
//! the handshake with a daemon, the pin of its key on first success, and the per-request
//! MACs of the session. Each [`Client`] of a TCP daemon owns its [`ClientAuth`]; nothing is
//! process-global. Depends on [`crate::auth`] (keys and protocol), [`crate::paths`] and the
//! rest of [`crate::client`].

use super::url::DaemonUrl;
use super::{Client, ClientError};
use crate::auth::keys::{
    KeyPair, client_key_path, fingerprint, load_key, load_or_create_key, parse_recipient, pin,
    pinned,
};
use crate::auth::protocol::*;
use crate::paths::Home;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Why the client-side handshake failed. Messages name the URL and public fingerprints only.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The daemon presented a key other than the pinned one: nothing else is sent.
    #[error(
        "server key changed for {url}: pinned {pinned}, the daemon presents {presented}; refusing to send anything (if the change is expected: `patina auth pin {url} NEW_KEY`)"
    )]
    ServerKeyChanged {
        /// The daemon URL.
        url: String,
        /// Fingerprint of the pinned key.
        pinned: String,
        /// Fingerprint of the presented key.
        presented: String,
    },
    /// Any other failure of the handshake.
    #[error("age-key authentication with {0} failed: {1}")]
    Failed(String, &'static str),
}

struct ClientSession {
    sid: String,
    key: Zeroizing<[u8; 32]>,
    n: u64,
    expires: Instant,
}

/// A client's age-key state for one daemon URL: its identity, the pin, and the session
/// cached for the process. `Debug` prints `[redacted]`.
pub struct ClientAuth {
    home: Home,
    url: String,
    key: KeyPair,
    session: Mutex<Option<ClientSession>>,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientAuth([redacted])")
    }
}

impl ClientAuth {
    /// Decides whether requests to `url` use an age-key session, and if so returns the
    /// client state the [`Client`] keeps for it. The rule: a pinned server key
    /// for the URL → yes (the client key is created if missing); else no bearer token
    /// available and `auth/client.key` exists → yes (the server key is pinned on first
    /// success, TOFU); else no (bearer token as before).
    pub fn for_url(
        home: &Home,
        url: &DaemonUrl,
        has_token: bool,
    ) -> Result<Option<ClientAuth>, crate::auth::Error> {
        let url = url.normalized();
        let key = if pinned(home, &url)?.is_some() {
            load_or_create_key(&client_key_path(home))?
        } else if !has_token {
            match load_key(&client_key_path(home))? {
                Some(k) => k,
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        Ok(Some(ClientAuth {
            home: home.clone(),
            url,
            key,
            session: Mutex::new(None),
        }))
    }
}

#[derive(serde::Deserialize)]
struct ServerKeyReply {
    server: String,
}

#[derive(serde::Deserialize)]
struct ChallengeReply {
    id: String,
    server: String,
    ns: String,
    proof: String,
}

#[derive(serde::Deserialize)]
struct VerifyReply {
    session: String,
    expires_in_secs: u64,
}

impl ClientAuth {
    /// The `Authorization` value for one request, doing the handshake first if there is no
    /// live session. `client` sends the handshake requests (to `/auth/*`, unauthenticated).
    pub fn authorization(
        &self,
        client: &Client,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Zeroizing<String>, HandshakeError> {
        let mut guard = self
            .session
            .lock()
            .map_err(|_| self.fail("internal error"))?;
        let live = guard
            .as_ref()
            .is_some_and(|s| s.expires > Instant::now() + Duration::from_secs(5));
        if !live {
            *guard = Some(self.handshake(client)?);
        }
        let s = guard.as_mut().expect("set above");
        s.n += 1;
        Ok(Zeroizing::new(request_authorization(
            &s.sid,
            &*s.key,
            method,
            target,
            body,
            unix_now(),
            s.n,
        )))
    }

    /// Forgets the cached session (after a 401, so the next request handshakes anew).
    pub fn forget_session(&self) {
        if let Ok(mut g) = self.session.lock() {
            *g = None;
        }
    }

    fn fail(&self, why: &'static str) -> HandshakeError {
        HandshakeError::Failed(self.url.clone(), why)
    }

    fn changed(&self, pinned: &str, presented: &str) -> HandshakeError {
        HandshakeError::ServerKeyChanged {
            url: self.url.clone(),
            pinned: fingerprint(pinned),
            presented: fingerprint(presented),
        }
    }

    fn post<T: serde::de::DeserializeOwned>(
        &self,
        client: &Client,
        path: &str,
        body: &serde_json::Value,
        refused: &'static str,
    ) -> Result<T, HandshakeError> {
        match client.post_json(path, body) {
            Ok(r) if r.status == 200 => r.json().map_err(|_| self.fail("malformed answer")),
            Ok(_) | Err(ClientError::Unauthorized(..)) => Err(self.fail(refused)),
            Err(_) => Err(self.fail("the daemon could not be reached")),
        }
    }

    fn handshake(&self, client: &Client) -> Result<ClientSession, HandshakeError> {
        let pinned =
            pinned(&self.home, &self.url).map_err(|_| self.fail("cannot read known_servers"))?;
        // 1. The daemon's key, compared with the pin before anything else is sent.
        let sk: ServerKeyReply = match client.get("/auth/server-key") {
            Ok(r) if r.status == 200 => r.json().map_err(|_| self.fail("malformed answer"))?,
            Ok(_) => return Err(self.fail("the daemon does not offer age-key authentication")),
            Err(_) => return Err(self.fail("the daemon could not be reached")),
        };
        if let Some(p) = &pinned
            && *p != sk.server
        {
            return Err(self.changed(p, &sk.server));
        }
        let server_r = parse_recipient(&sk.server)
            .ok_or_else(|| self.fail("the daemon's key is not an age recipient"))?;
        // 2. Challenge: our nonce travels encrypted to the daemon's key.
        let nc = random::<NONCE_BYTES>();
        let nc_ct = age_encrypt(&server_r, &*nc).ok_or_else(|| self.fail("encryption failed"))?;
        let me = self.key.recipient();
        let ch: ChallengeReply = self.post(
            client,
            "/auth/challenge",
            &serde_json::json!({ "client": me, "nc": b64(&nc_ct) }),
            "the daemon refused the challenge",
        )?;
        if ch.server != sk.server {
            return Err(self.changed(pinned.as_deref().unwrap_or(&sk.server), &ch.server));
        }
        let proof = unb64(&ch.proof).ok_or_else(|| self.fail("malformed answer"))?;
        if !hmac_verify(&*nc, &server_proof_parts(&ch.id, &ch.server), &proof) {
            return Err(self.fail("the daemon could not prove it holds its key"));
        }
        let ns = unb64(&ch.ns)
            .and_then(|ct| age_decrypt_nonce(&self.key.id, &ct))
            .ok_or_else(|| self.fail("the daemon's nonce does not decrypt with our key"))?;
        let key = derive_session_key(&ch.id, &*nc, &*ns);
        // 3. Verify: prove we derived the same key.
        let tag = hmac_sha256(&*key, &client_proof_parts(&ch.id));
        let v: VerifyReply = self.post(
            client,
            "/auth/verify",
            &serde_json::json!({ "id": ch.id, "proof": b64(&tag) }),
            "this client's key is not allowed by the daemon (give `patina auth client-key` to its admin for `patina auth allow`)",
        )?;
        if pinned.is_none() {
            pin(&self.home, &self.url, &sk.server)
                .map_err(|_| self.fail("cannot write known_servers"))?;
            eprintln!(
                "patina: pinned the server key {} for {} (auth/known_servers)",
                fingerprint(&sk.server),
                self.url
            );
        }
        Ok(ClientSession {
            sid: v.session,
            key,
            n: 0,
            expires: Instant::now() + Duration::from_secs(v.expires_in_secs),
        })
    }
}
