//! The TCP bearer token (RFC 6750; requirements §8): generated into `run/serve.token` (0600 at
//! creation) or taken from `PATINA_SERVE_TOKEN`; the daemon keeps only its SHA-256 and
//! compares digests in constant time. Only the token's *path* is ever printed.
//! Depends on `sha2`, `zeroize`, [`crate::secrets`] (randomness, `secrets::random`), [`crate::text`] (hex) and
//! [`crate::fsutil`].

use super::error::{Error, Result};
use crate::fsutil;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Environment variable that supplies the token instead of the token file.
pub const TOKEN_ENV: &str = "PATINA_SERVE_TOKEN";

/// Random bytes in a generated token (hex-encoded: 64 characters).
pub const TOKEN_BYTES: usize = 32;

/// A bearer token value. It has no `Display`; its `Debug` prints `[redacted]`; its memory is
/// zeroized on drop.
pub struct Token(Zeroizing<String>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    /// A fresh random token: [`TOKEN_BYTES`] bytes from the kernel (`getrandom(2)`), hex.
    pub fn generate() -> std::io::Result<Token> {
        let mut raw = Zeroizing::new([0u8; TOKEN_BYTES]);
        crate::secrets::random::fill_random(&mut raw[..])?;
        Ok(Token(Zeroizing::new(crate::text::hex(&raw[..], false))))
    }

    /// Wraps a token from the environment or a file (surrounding whitespace removed).
    pub fn from_text(t: &str) -> Token {
        Token(Zeroizing::new(t.trim().to_string()))
    }

    /// The value, for the one place that needs it: the client's `Authorization` field.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the value.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// Reads the token: `PATINA_SERVE_TOKEN` if set and non-empty, else the token file.
/// `Ok(None)` when neither exists. The file must be private (0600, ours).
pub fn read_token(path: &Path) -> Result<Option<Token>> {
    if let Ok(v) = std::env::var(TOKEN_ENV)
        && !v.trim().is_empty()
    {
        check_token_chars(&v, TOKEN_ENV)?;
        return Ok(Some(Token::from_text(&v)));
    }
    match std::fs::symlink_metadata(path) {
        Ok(_) => {
            fsutil::check_private_file(path)?;
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(Error::io("reading the token file ", path))?,
            );
            if text.trim().is_empty() {
                return Err(Error::EmptyTokenFile {
                    path: path.to_path_buf(),
                });
            }
            Ok(Some(Token::from_text(&text)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("", path)(e)),
    }
}

/// A bearer token is visible ASCII (RFC 6750 §2.1 `b64token` is narrower still): anything else
/// (a newline inside, a control byte) would corrupt a request head. Surrounding whitespace is
/// trimmed first. The error names where the token came from, never the token.
fn check_token_chars(text: &str, source: &str) -> Result<()> {
    if !text.trim().bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::BadTokenChars {
            from: source.to_string(),
        });
    }
    Ok(())
}

/// Writes a new random token to `path` atomically (0600 from creation) and returns it.
pub fn rotate(path: &Path) -> Result<Token> {
    if let Some(dir) = path.parent() {
        fsutil::ensure_private_dir(dir)?;
    }
    let t = Token::generate().map_err(Error::Random)?;
    let mut text = Zeroizing::new(t.expose().to_string());
    text.push('\n');
    fsutil::write_atomic(path, text.as_bytes())?;
    Ok(t)
}

/// Where the daemon's token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `PATINA_SERVE_TOKEN`, read once at start.
    Env,
    /// The token file, re-read when it changes (so `patina token rotate` needs no restart).
    File(PathBuf),
}

/// The daemon's side: the token's SHA-256 and where it came from. Verification re-reads the
/// token file when its inode or modification time changed.
#[derive(Debug)]
pub struct Verifier {
    source: TokenSource,
    state: Mutex<([u8; 32], Option<FileStamp>)>,
}

impl Verifier {
    /// Sets up the token for a TCP listener: the environment's, else the file's, else a new
    /// one generated into the file. Returns the verifier; the value itself is dropped.
    pub fn load_or_create(path: &Path) -> Result<Verifier> {
        let env = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        if let Some(v) = env {
            check_token_chars(&v, TOKEN_ENV)?;
            return Ok(Verifier {
                source: TokenSource::Env,
                state: Mutex::new((Token::from_text(&v).digest(), None)),
            });
        }
        let token = match read_token(path)? {
            Some(t) => t,
            None => rotate(path)?,
        };
        Ok(Verifier {
            source: TokenSource::File(path.to_path_buf()),
            state: Mutex::new((token.digest(), stamp(path))),
        })
    }

    /// Where the token comes from.
    pub fn source(&self) -> &TokenSource {
        &self.source
    }

    /// True when `presented` (the bytes after `Bearer `) is the token. Compares SHA-256
    /// digests in constant time.
    pub fn verify(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        if let TokenSource::File(path) = &self.source {
            let now = stamp(path);
            if now != st.1
                && let Ok(Some(t)) = read_file_only(path)
            {
                *st = (t.digest(), now);
            }
        }
        constant_time_eq(&digest, &st.0)
    }
}

fn read_file_only(path: &Path) -> Result<Option<Token>> {
    fsutil::check_private_file(path)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(Error::io("", path))?);
    Ok((!text.trim().is_empty()).then(|| Token::from_text(&text)))
}

use fsutil::{FileStamp, file_stamp as stamp};

/// Compares two digests without an early exit.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_run_withholds_the_token_variable() {
        assert!(crate::secrets::run::WITHHELD_ENV.contains(&super::TOKEN_ENV));
    }

    use super::*;

    #[test]
    fn token_debug_is_redacted_and_rotation_is_seen_without_restart() {
        let t = Token::generate().unwrap();
        assert_eq!(t.expose().len(), 64);
        assert!(!format!("{t:?}").contains(t.expose()));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run/serve.token");
        let first = rotate(&p).unwrap();
        let v = Verifier {
            source: TokenSource::File(p.clone()),
            state: Mutex::new((first.digest(), stamp(&p))),
        };
        assert!(v.verify(first.expose().as_bytes()));
        assert!(!v.verify(b"wrong"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = rotate(&p).unwrap();
        assert!(v.verify(second.expose().as_bytes()));
        assert!(!v.verify(first.expose().as_bytes()));
    }
}
