//! The OS keyring step of identity resolution, through `keyring` 4 (Secret Service on Linux,
//! Keychain on macOS, Credential Manager on Windows).
//!
//! Every call runs in its own thread under [`TIMEOUT`]: a Secret Service that is locked or
//! waits for a prompt must not hang a command (STACK-NOTES §2, case 022). A store that does
//! not keep credentials on disk (keyring's in-memory mock, a kernel keyring) is never used:
//! an identity "stored" there would be gone on the next run. No keyring error is ever shown
//! as is (one variant carries the raw bytes of a stored secret); callers learn only
//! found / missing / unavailable.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long one keyring operation may take before the keyring counts as unavailable.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Set (to anything non-empty) to skip the OS keyring entirely: identities then live only in
/// `PATINA_IDENTITY` or the passphrase file. Tests set it so they never touch a desktop's
/// real keyring.
pub const NO_KEYRING_ENV: &str = "PATINA_NO_KEYRING";

/// The keyring service name under which patina stores identities.
const SERVICE: &str = "patina";

/// What a lookup found.
pub enum Lookup {
    /// The stored secret.
    Found(Zeroizing<String>),
    /// The keyring works and holds no entry.
    Missing,
    /// No usable, persistent keyring (no D-Bus, no Secret Service, an error).
    Unavailable,
    /// The keyring did not answer within [`TIMEOUT`] (locked, or waiting for a prompt).
    TimedOut,
}

fn disabled() -> bool {
    std::env::var_os(NO_KEYRING_ENV).is_some_and(|v| !v.is_empty())
}

/// Runs `f` in a thread and waits at most [`TIMEOUT`]; `None` on timeout (or a panic). A thread
/// that times out is left to finish on its own (it holds nothing the caller needs).
fn with_timeout<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = thread::Builder::new()
        .name("patina-keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(TIMEOUT).ok()
}

/// Whether the default store is one that persists to disk (not a mock, not kernel memory).
fn store_is_persistent() -> bool {
    if keyring::Entry::store_status().is_err() {
        return false;
    }
    keyring_core::get_default_store().is_some_and(|s| {
        matches!(
            s.persistence(),
            keyring_core::api::CredentialPersistence::UntilDelete
        )
    })
}

fn entry(user: &str) -> Option<keyring::Entry> {
    if !store_is_persistent() {
        return None;
    }
    keyring::Entry::new(SERVICE, user).ok()
}

/// Reads the secret stored under `user`.
pub fn get(user: &str) -> Lookup {
    if disabled() {
        return Lookup::Unavailable;
    }
    let user = user.to_string();
    let found = with_timeout(move || {
        let e = entry(&user)?;
        Some(match e.get_password() {
            Ok(s) => Ok(Zeroizing::new(s)),
            Err(keyring::Error::NoEntry) => Err(true),
            Err(_) => Err(false),
        })
    });
    match found {
        Some(Some(Ok(s))) => Lookup::Found(s),
        Some(Some(Err(true))) => Lookup::Missing,
        Some(_) => Lookup::Unavailable,
        None => Lookup::TimedOut,
    }
}

/// Stores `secret` under `user`, then reads it back through a fresh entry and compares, so a
/// store that accepts and forgets is caught. Returns whether it is now stored. On a failed
/// check it deletes what it wrote (best effort).
pub fn set_verified(user: &str, secret: &Zeroizing<String>) -> bool {
    if disabled() {
        return false;
    }
    let user = user.to_string();
    let secret = secret.clone();
    with_timeout(move || {
        let Some(e) = entry(&user) else {
            return false;
        };
        if e.set_password(&secret).is_err() {
            return false;
        }
        let back = entry(&user).and_then(|e2| e2.get_password().ok().map(Zeroizing::new));
        if back.as_deref() == Some(&*secret) {
            true
        } else {
            let _ = e.delete_credential();
            false
        }
    })
    .unwrap_or(false)
}
