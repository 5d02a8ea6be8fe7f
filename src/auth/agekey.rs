//! Mutual age-key authentication for TCP (BRIEF §8; spec in
//! `layer/surface/specs/spec-age-handshake.md`): key files, the allowed-client list, pinned
//! server keys, the handshake's server side (challenges, sessions, the three `/auth/*`
//! handlers) and its client side (handshake, per-request MACs). Depends on `age`, `hmac`,
//! `hkdf`, `sha2`, `zeroize`, `rustix` (randomness), [`crate::fsutil`], [`crate::http`] and,
//! for the client side, [`crate::client`].
//!
//! Files, all under `PATINA_HOME/auth/` (0700): `server.key` and `client.key` (age X25519
//! identities, 0600), `allowed.txt` (`NAME age1…` per line, 0600), `known_servers`
//! (`http://HOST:PORT age1…` per line, 0600).

use crate::api::Ctx;
use crate::auth::Principal;
use crate::fsutil;
use crate::http::{Request, Response};
use crate::paths::Home;
use age::secrecy::ExposeSecret;
use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
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

/// `PATINA_HOME/auth/`.
pub fn auth_dir(home: &Home) -> PathBuf {
    home.root().join("auth")
}

// ---------------------------------------------------------------------------------------
// Keys and files

/// An age X25519 identity used for the handshake. Its `Debug` prints `[redacted]`; it has no
/// `Display`.
pub struct KeyPair {
    id: age::x25519::Identity,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair([redacted])")
    }
}

impl KeyPair {
    /// The public recipient, `age1…` (public; fine to print).
    pub fn recipient(&self) -> String {
        self.id.to_public().to_string()
    }
}

/// Loads the identity in `path`, or creates it (dir 0700, file 0600, `O_EXCL`) if missing.
/// Errors for a file that is not private or not an age identity (the message names only the
/// path).
pub fn load_or_create_key(path: &Path) -> anyhow::Result<KeyPair> {
    if let Some(k) = load_key(path)? {
        return Ok(k);
    }
    if let Some(dir) = path.parent() {
        fsutil::ensure_private_dir(dir)?;
    }
    let id = age::x25519::Identity::generate();
    let mut text = Zeroizing::new(id.to_string().expose_secret().to_string());
    text.push('\n');
    match crate::secrets::identity::write_new_private_file(path, text.as_bytes()) {
        Ok(()) => Ok(KeyPair { id }),
        // Lost a race with another process creating it: use theirs.
        Err(_) if path.exists() => load_key(path)?
            .ok_or_else(|| anyhow::anyhow!("{}: cannot read the key file", path.display())),
        Err(e) => Err(e),
    }
}

/// Loads the identity in `path`; `Ok(None)` when the file does not exist.
pub fn load_key(path: &Path) -> anyhow::Result<Option<KeyPair>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        Ok(_) => {}
    }
    fsutil::check_private_file(path)?;
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
    );
    let id = text
        .trim()
        .parse::<age::x25519::Identity>()
        .map_err(|_| anyhow::anyhow!("{}: not an age identity (corrupt?)", path.display()))?;
    Ok(Some(KeyPair { id }))
}

/// `auth/server.key`.
pub fn server_key_path(home: &Home) -> PathBuf {
    auth_dir(home).join("server.key")
}

/// `auth/client.key`.
pub fn client_key_path(home: &Home) -> PathBuf {
    auth_dir(home).join("client.key")
}

/// `auth/allowed.txt`.
pub fn allowed_path(home: &Home) -> PathBuf {
    auth_dir(home).join("allowed.txt")
}

/// `auth/known_servers`.
pub fn known_servers_path(home: &Home) -> PathBuf {
    auth_dir(home).join("known_servers")
}

/// One allowed client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AllowedClient {
    /// The admin's name for it (`[A-Za-z0-9._-]`, 1–64 characters).
    pub name: String,
    /// Its recipient, `age1…`.
    pub recipient: String,
}

/// Reads a `KEY VALUE` per line file (missing file: empty); the file must be private.
fn read_pairs(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        Ok(_) => {}
    }
    fsutil::check_private_file(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (a, b) = l.split_once(char::is_whitespace)?;
            Some((a.to_string(), b.trim().to_string()))
        })
        .collect())
}

fn write_pairs(path: &Path, header: &str, pairs: &[(String, String)]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fsutil::ensure_private_dir(dir)?;
    }
    let mut text = String::from(header);
    for (a, b) in pairs {
        text.push_str(&format!("{a} {b}\n"));
    }
    fsutil::write_atomic(path, text.as_bytes())?;
    Ok(())
}

fn lock(home: &Home) -> anyhow::Result<std::fs::File> {
    fsutil::ensure_private_dir(&auth_dir(home))?;
    Ok(fsutil::lock_exclusive(&auth_dir(home).join(".lock"))?)
}

/// The allowed clients.
pub fn list_allowed(home: &Home) -> anyhow::Result<Vec<AllowedClient>> {
    Ok(read_pairs(&allowed_path(home))?
        .into_iter()
        .map(|(name, recipient)| AllowedClient { name, recipient })
        .collect())
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn parse_recipient(r: &str) -> Option<age::x25519::Recipient> {
    r.trim().parse::<age::x25519::Recipient>().ok()
}

/// Allows the client `recipient` under `name`. Errors (without quoting the input) for a
/// recipient that is not an age X25519 recipient, a bad name, or a name or recipient already
/// listed.
pub fn allow(home: &Home, recipient: &str, name: &str) -> anyhow::Result<()> {
    let r = parse_recipient(recipient)
        .ok_or_else(|| anyhow::anyhow!("not an age recipient (expected age1…)"))?
        .to_string();
    anyhow::ensure!(
        valid_name(name),
        "a client name is 1-64 characters of A-Z a-z 0-9 . _ -"
    );
    let _l = lock(home)?;
    let mut pairs = read_pairs(&allowed_path(home))?;
    anyhow::ensure!(
        !pairs.iter().any(|(n, _)| n == name),
        "a client with that name is already allowed (revoke it first)"
    );
    anyhow::ensure!(
        !pairs.iter().any(|(_, x)| *x == r),
        "that recipient is already allowed under another name"
    );
    pairs.push((name.to_string(), r));
    write_pairs(
        &allowed_path(home),
        "# Clients allowed to open age-key sessions: NAME RECIPIENT\n",
        &pairs,
    )
}

/// Removes the client `name`; its sessions die at their next request. `Ok(false)` when no
/// such client was listed.
pub fn revoke(home: &Home, name: &str) -> anyhow::Result<bool> {
    let _l = lock(home)?;
    let mut pairs = read_pairs(&allowed_path(home))?;
    let before = pairs.len();
    pairs.retain(|(n, _)| n != name);
    if pairs.len() == before {
        return Ok(false);
    }
    write_pairs(
        &allowed_path(home),
        "# Clients allowed to open age-key sessions: NAME RECIPIENT\n",
        &pairs,
    )?;
    Ok(true)
}

/// `http://HOST[:PORT][/]` → `http://HOST:PORT` (the default port added), the key of
/// `known_servers`. Errors for anything else.
pub fn normalize_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("a daemon URL looks like http://HOST:PORT"))?;
    let a = rest.trim_end_matches('/');
    anyhow::ensure!(
        !a.is_empty() && !a.contains('/') && !a.contains('@') && !a.contains(char::is_whitespace),
        "a daemon URL looks like http://HOST:PORT"
    );
    let has_port = a
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && !a.ends_with(']');
    Ok(if has_port {
        format!("http://{a}")
    } else {
        format!("http://{a}:{}", crate::cli::serve::DEFAULT_PORT)
    })
}

/// The server recipient pinned for `url`, if any.
pub fn pinned(home: &Home, url: &str) -> anyhow::Result<Option<String>> {
    let url = normalize_url(url)?;
    Ok(read_pairs(&known_servers_path(home))?
        .into_iter()
        .find(|(u, _)| *u == url)
        .map(|(_, r)| r))
}

/// Pins `recipient` as the server key of `url` (replacing an earlier pin). Errors for a
/// recipient that is not an age X25519 recipient or a malformed URL.
pub fn pin(home: &Home, url: &str, recipient: &str) -> anyhow::Result<()> {
    let url = normalize_url(url)?;
    let r = parse_recipient(recipient)
        .ok_or_else(|| anyhow::anyhow!("not an age recipient (expected age1…)"))?
        .to_string();
    let _l = lock(home)?;
    let mut pairs = read_pairs(&known_servers_path(home))?;
    pairs.retain(|(u, _)| *u != url);
    pairs.push((url, r));
    write_pairs(
        &known_servers_path(home),
        "# Pinned daemon keys (like ssh's known_hosts): URL RECIPIENT\n",
        &pairs,
    )
}

/// A short fingerprint of a recipient for messages: its first 16 characters and `…`.
pub fn fingerprint(recipient: &str) -> String {
    let head: String = recipient.chars().take(16).collect();
    format!("{head}…")
}

// ---------------------------------------------------------------------------------------
// Primitives (RustCrypto; nothing home-made)

fn random<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut raw = Zeroizing::new([0u8; N]);
    let mut filled = 0;
    while filled < N {
        match rustix::rand::getrandom(&mut raw[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("getrandom failed: {e}"),
        }
    }
    raw
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn age_encrypt(to: &age::x25519::Recipient, data: &[u8]) -> Option<Vec<u8>> {
    age::encrypt(to, data).ok()
}

fn age_decrypt_nonce(id: &age::x25519::Identity, ct: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let pt = Zeroizing::new(age::decrypt(id, ct).ok()?);
    let mut out = Zeroizing::new([0u8; NONCE_BYTES]);
    if pt.len() != NONCE_BYTES {
        return None;
    }
    out.copy_from_slice(&pt);
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Server side

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

type Stamp = Option<(u64, i64, i64)>;

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

static SERVER: OnceLock<ServerAuth> = OnceLock::new();

/// Sets up the daemon's TCP identity (creating `auth/server.key` on first start) and enables
/// the `/auth/*` routes. Called once by [`crate::server::serve`] when it opens TCP; prints the
/// public recipient.
pub fn init_server(home: &Home) -> anyhow::Result<()> {
    let key = load_or_create_key(&server_key_path(home))?;
    let recipient = key.recipient();
    eprintln!(
        "patina: TCP age-key identity {recipient} (clients pin it; `patina auth allow` admits clients)"
    );
    let _ = SERVER.set(ServerAuth {
        key,
        recipient,
        allowed_file: allowed_path(home),
        allowed: Mutex::new((Vec::new(), Some((u64::MAX, 0, 0)))),
        challenges: Mutex::new(HashMap::new()),
        sessions: Mutex::new(HashMap::new()),
    });
    Ok(())
}

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
}

impl ServerAuth {
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

    fn challenge(&self, client: &str, nc_b64: &str) -> Option<serde_json::Value> {
        let client_r = parse_recipient(client)?;
        let nc = age_decrypt_nonce(&self.key.id, &unb64(nc_b64)?)?;
        let ns = random::<NONCE_BYTES>();
        let id = hex(&*random::<16>());
        let ns_ct = age_encrypt(&client_r, &*ns)?;
        let proof = hmac_sha256(&*nc, &server_proof_parts(&id, &self.recipient));
        let mut t = self.challenges.lock().ok()?;
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

    fn verify(&self, id: &str, proof_b64: &str) -> Option<(String, u64)> {
        // Single use: taken out whatever happens next.
        let c = self.challenges.lock().ok()?.remove(id);
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
        let mut s = self.sessions.lock().ok()?;
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

    fn verify_request(&self, header: &[u8], req: &Request) -> Option<Principal> {
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
        let mut sessions = self.sessions.lock().ok()?;
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

/// Checks a `Patina-Session` `Authorization` value against `req` (method, target, body):
/// the session exists and is not expired, its client is still allowed, the timestamp is
/// within ±[`MAX_CLOCK_SKEW_SECS`], the counter was never accepted before and is at most
/// [`REPLAY_WINDOW`] below the highest one (see [`ReplayWindow`]), and the MAC verifies. `None` for any failure (the caller answers 401), or when TCP auth is not set up.
pub fn verify_request(header: &[u8], req: &Request) -> Option<Principal> {
    SERVER.get()?.verify_request(header, req)
}

fn tcp_only(principal: &Principal) -> Option<&'static ServerAuth> {
    if matches!(principal, Principal::LocalPeer { .. }) {
        return None;
    }
    SERVER.get()
}

fn refused() -> Response {
    Response::error(401, "age-key authentication failed").with_header("WWW-Authenticate", SCHEME)
}

fn not_found() -> Response {
    Response::error(404, "no such route")
}

/// `GET /auth/server-key` (TCP only; open): `{"server": "age1…"}`, the daemon's public
/// recipient, so a client can compare it with its pin before anything else.
pub fn handle_server_key(_ctx: &Ctx, principal: &Principal, _req: &Request) -> Response {
    match tcp_only(principal) {
        Some(s) => Response::json(200, &serde_json::json!({ "server": s.recipient })),
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
pub fn handle_challenge(_ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let Some(s) = tcp_only(principal) else {
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
pub fn handle_verify(_ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    let Some(s) = tcp_only(principal) else {
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

// ---------------------------------------------------------------------------------------
// Client side

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

type Registry = Mutex<HashMap<String, Arc<ClientAuth>>>;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Decides whether requests to `url` use an age-key session, and if so registers the
/// client state for the process. The rule: a pinned server key for the URL → yes (the client
/// key is created if missing); else no bearer token available and `auth/client.key` exists →
/// yes (the server key is pinned on first success, TOFU); else no (bearer token as before).
pub fn register_client(home: &Home, url: &str, has_token: bool) -> anyhow::Result<bool> {
    let url = normalize_url(url)?;
    let key = if pinned(home, &url)?.is_some() {
        load_or_create_key(&client_key_path(home))?
    } else if !has_token {
        match load_key(&client_key_path(home))? {
            Some(k) => k,
            None => return Ok(false),
        }
    } else {
        return Ok(false);
    };
    let mut r = registry().lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    r.entry(url.clone()).or_insert_with(|| {
        Arc::new(ClientAuth {
            home: home.clone(),
            url,
            key,
            session: Mutex::new(None),
        })
    });
    Ok(true)
}

/// The registered age-key state for `url` (`http://HOST:PORT`), if any.
pub fn registered(url: &str) -> Option<Arc<ClientAuth>> {
    registry().lock().ok()?.get(url).cloned()
}

/// The paths of the handshake itself, which travel without a session.
pub fn is_handshake_path(path: &str) -> bool {
    path.starts_with("/auth/")
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
        client: &crate::client::Client,
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
        client: &crate::client::Client,
        path: &str,
        body: &serde_json::Value,
        refused: &'static str,
    ) -> Result<T, HandshakeError> {
        match client.post_json(path, body) {
            Ok(r) if r.status == 200 => r.json().map_err(|_| self.fail("malformed answer")),
            Ok(_) | Err(crate::client::ClientError::Unauthorized(..)) => Err(self.fail(refused)),
            Err(_) => Err(self.fail("the daemon could not be reached")),
        }
    }

    fn handshake(&self, client: &crate::client::Client) -> Result<ClientSession, HandshakeError> {
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

    fn server(dir: &Path) -> ServerAuth {
        let home = Home::at(dir.join("h"));
        let key = load_or_create_key(&server_key_path(&home)).unwrap();
        ServerAuth {
            recipient: key.recipient(),
            key,
            allowed_file: allowed_path(&home),
            allowed: Mutex::new((Vec::new(), Some((u64::MAX, 0, 0)))),
            challenges: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        }
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
    fn keys_are_private_and_debug_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("h"));
        let k = load_or_create_key(&client_key_path(&home)).unwrap();
        let again = load_key(&client_key_path(&home)).unwrap().unwrap();
        assert_eq!(k.recipient(), again.recipient());
        let secret = std::fs::read_to_string(client_key_path(&home)).unwrap();
        assert!(!format!("{k:?}").contains(secret.trim()));
        let mode = std::fs::metadata(client_key_path(&home)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(auth_dir(&home)).unwrap().mode() & 0o777;
        assert_eq!(dmode, 0o700);
    }

    #[test]
    fn allow_revoke_pin_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("h"));
        let r = age::x25519::Identity::generate().to_public().to_string();
        allow(&home, &r, "laptop").unwrap();
        assert!(allow(&home, &r, "again").is_err());
        assert!(allow(&home, "age1nope", "x").is_err());
        assert!(allow(&home, &r, "bad name").is_err());
        assert_eq!(list_allowed(&home).unwrap()[0].name, "laptop");
        assert!(revoke(&home, "laptop").unwrap());
        assert!(!revoke(&home, "laptop").unwrap());
        pin(&home, "http://127.0.0.1:9/", &r).unwrap();
        assert_eq!(pinned(&home, "http://127.0.0.1:9").unwrap(), Some(r));
        assert_eq!(pinned(&home, "http://127.0.0.1:8").unwrap(), None);
    }
}
