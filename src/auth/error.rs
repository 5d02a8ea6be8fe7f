//! The error type of the credentials' files ([`Error`]): the key files, the allowed list,
//! the pinned server keys and the bearer token. Each message names the file or the setting
//! and the fix; none quotes a key, a token or file content.

use crate::fsutil::FsError;
use std::path::PathBuf;

/// Why reading or writing a credential file failed, or why an input was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read (`doing` says what was being done, e.g. `reading `).
    #[error("{doing}{}: {error}", path.display())]
    Io {
        /// What was being done, as a prefix of the message (may be empty).
        doing: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A private file or directory is refused, or could not be written.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// Creating a key file failed (it is written like a secrets identity file).
    #[error(transparent)]
    KeyFile(#[from] crate::secrets::Error),
    /// A key file holds no age identity.
    #[error("{}: not an age identity (corrupt?)", path.display())]
    NotAKey {
        /// The key file.
        path: PathBuf,
    },
    /// A key file created by another process at the same moment could not be read back.
    #[error("{}: cannot read the key file", path.display())]
    KeyVanished {
        /// The key file.
        path: PathBuf,
    },
    /// An input that is not an age X25519 recipient (never quoted: it may be a pasted key).
    #[error("not an age recipient (expected age1…)")]
    NotARecipient,
    /// A client name outside `[A-Za-z0-9._-]{1,64}`.
    #[error("a client name is 1-64 characters of A-Z a-z 0-9 . _ -")]
    BadClientName,
    /// A client of that name is allowed already.
    #[error("a client with that name is already allowed (revoke it first)")]
    ClientNameTaken,
    /// That recipient is allowed already, under another name.
    #[error("that recipient is already allowed under another name")]
    RecipientTaken,
    /// A bearer token with characters a request head cannot carry; `from` names where it
    /// came from (the variable or the file), never the token.
    #[error(
        "the token in {from} has characters a bearer token cannot have (spaces, control bytes or non-ASCII)"
    )]
    BadTokenChars {
        /// `PATINA_SERVE_TOKEN` or the token file's path.
        from: String,
    },
    /// The token file is empty.
    #[error("the token file {} is empty; run `patina token rotate`", path.display())]
    EmptyTokenFile {
        /// The token file.
        path: PathBuf,
    },
    /// The kernel's random source failed.
    #[error("cannot read random bytes (getrandom): {0}")]
    Random(std::io::Error),
}

impl Error {
    /// An [`Error::Io`] on `path` while `doing` (a message prefix such as `reading `).
    pub(crate) fn io<'a>(
        doing: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Error + 'a {
        move |error| Error::Io {
            doing,
            path: path.to_path_buf(),
            error,
        }
    }
}

/// The result of a credential-file operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
