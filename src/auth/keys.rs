//! The age-key handshake's files, all under `PATINA_HOME/auth/` (0700): `server.key` and
//! `client.key` (age X25519 identities, 0600), `allowed.txt` (`NAME age1…` per line, 0600),
//! `known_servers` (`http://HOST:PORT age1…` per line, 0600, like ssh's `known_hosts`).
//! Depends on `age`, `zeroize`, [`crate::fsutil`], [`crate::paths`] and [`crate::secrets`]
//! (the private-file writer).

use super::error::{Error, Result};
use crate::fsutil;
use crate::paths::Home;
use age::secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// `PATINA_HOME/auth/`.
pub fn auth_dir(home: &Home) -> PathBuf {
    home.root().join("auth")
}

/// An age X25519 identity used for the handshake. Its `Debug` prints `[redacted]`; it has no
/// `Display`.
pub struct KeyPair {
    pub(crate) id: age::x25519::Identity,
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
pub fn load_or_create_key(path: &Path) -> Result<KeyPair> {
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
        Err(_) if path.exists() => load_key(path)?.ok_or_else(|| Error::KeyVanished {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Loads the identity in `path`; `Ok(None)` when the file does not exist.
pub fn load_key(path: &Path) -> Result<Option<KeyPair>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("", path)(e)),
        Ok(_) => {}
    }
    fsutil::check_private_file(path)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(Error::io("reading ", path))?);
    let id = text
        .trim()
        .parse::<age::x25519::Identity>()
        .map_err(|_| Error::NotAKey {
            path: path.to_path_buf(),
        })?;
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
pub(crate) fn read_pairs(path: &Path) -> Result<Vec<(String, String)>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("", path)(e)),
        Ok(_) => {}
    }
    fsutil::check_private_file(path)?;
    let text = std::fs::read_to_string(path).map_err(Error::io("reading ", path))?;
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

pub(crate) fn write_pairs(path: &Path, header: &str, pairs: &[(String, String)]) -> Result<()> {
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

pub(crate) fn lock(home: &Home) -> Result<std::fs::File> {
    fsutil::ensure_private_dir(&auth_dir(home))?;
    Ok(fsutil::lock_exclusive(&auth_dir(home).join(".lock"))?)
}

/// The allowed clients.
pub fn list_allowed(home: &Home) -> Result<Vec<AllowedClient>> {
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

pub(crate) fn parse_recipient(r: &str) -> Option<age::x25519::Recipient> {
    r.trim().parse::<age::x25519::Recipient>().ok()
}

/// Allows the client `recipient` under `name`. Errors (without quoting the input) for a
/// recipient that is not an age X25519 recipient, a bad name, or a name or recipient already
/// listed.
pub fn allow(home: &Home, recipient: &str, name: &str) -> Result<()> {
    let r = parse_recipient(recipient)
        .ok_or(Error::NotARecipient)?
        .to_string();
    if !valid_name(name) {
        return Err(Error::BadClientName);
    }
    let _l = lock(home)?;
    let mut pairs = read_pairs(&allowed_path(home))?;
    if pairs.iter().any(|(n, _)| n == name) {
        return Err(Error::ClientNameTaken);
    }
    if pairs.iter().any(|(_, x)| *x == r) {
        return Err(Error::RecipientTaken);
    }
    pairs.push((name.to_string(), r));
    write_pairs(
        &allowed_path(home),
        "# Clients allowed to open age-key sessions: NAME RECIPIENT\n",
        &pairs,
    )
}

/// Removes the client `name`; its sessions die at their next request. `Ok(false)` when no
/// such client was listed.
pub fn revoke(home: &Home, name: &str) -> Result<bool> {
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

/// The server recipient pinned for `url`, if any. `url` is normalized (`http://HOST:PORT`,
/// as [`crate::client::url::DaemonUrl::normalized`] writes it).
pub fn pinned(home: &Home, url: &str) -> Result<Option<String>> {
    Ok(read_pairs(&known_servers_path(home))?
        .into_iter()
        .find(|(u, _)| *u == url)
        .map(|(_, r)| r))
}

/// Pins `recipient` as the server key of `url` (normalized, as for [`pinned`]), replacing an
/// earlier pin. Errors for a recipient that is not an age X25519 recipient.
pub fn pin(home: &Home, url: &str, recipient: &str) -> Result<()> {
    let url = url.to_string();
    let r = parse_recipient(recipient)
        .ok_or(Error::NotARecipient)?
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

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
        pin(&home, "http://127.0.0.1:9", &r).unwrap();
        assert_eq!(pinned(&home, "http://127.0.0.1:9").unwrap(), Some(r));
        assert_eq!(pinned(&home, "http://127.0.0.1:8").unwrap(), None);
    }
}
