//! The one error type of the secrets layer ([`Error`]): what went wrong, with the file, the
//! line number or the limit a caller needs to say what to do next — never a value, an input
//! line or file content (the rule above all of `CLAUDE.md`).
//!
//! Callers match variants instead of inspecting strings: the CLI turns [`Error::Invalid`]
//! into a usage error (exit 2) and [`Error::Spawn`] into the child's exit code; the daemon
//! answers [`Error::is_io`] failures with 500 (the machine's failure) and the rest with 400.
//! Each message is the whole line: causes are written into it, not chained behind it, so a
//! caller printing the chain never repeats one.

use super::InvalidInput;
use super::run::SpawnError;
use super::tty::PromptError;
use super::vault::NotFound;
use crate::fsutil::FsError;
use std::path::PathBuf;

/// Why a secrets operation failed. Every message names the file or the setting concerned
/// and the fix; none quotes a secret, an identity or file content.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is wrong in itself (a name, environment variable, recipient, scope,
    /// value given the wrong way): a usage error.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// A name that is in no vault.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// `secrets run` could not start the command.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// A file could not be read or written: the machine's failure, not the caller's.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// `secrets run` failed after starting, at `step` (signal handling, the masking threads,
    /// waiting for the child): the machine's failure.
    #[error("secrets run: {step}: {error}")]
    Run {
        /// What was being done.
        step: &'static str,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A private file or directory is refused (loose mode, another owner, a symlink) or an
    /// I/O failure on one ([`FsError::Io`]).
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A file is not what patina wrote (corrupt, tampered with, too large, another format
    /// version); it is left untouched. `why` says what and never quotes the content.
    #[error("{}: {why}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what patina did (or did not) do.
        why: String,
    },
    /// The identity is not one of the vault's recipients.
    #[error(
        "{}: your identity is not one of this vault's recipients; someone who is can add you with `patina secrets recipients add {recipient}{flag}`",
        path.display()
    )]
    NotARecipient {
        /// The vault file.
        path: PathBuf,
        /// The identity's own recipient (public), to give to someone who can add it.
        recipient: String,
        /// ` --project` for a project vault, empty for the global one.
        flag: &'static str,
    },
    /// A write that the vault's state forbids (a recipient added behind patina's back, the
    /// writer's own recipient missing, `recipients.txt` missing, the project directory being
    /// `PATINA_HOME`): nothing was written; the message names the file and the fix.
    #[error("{0}")]
    Refused(String),
    /// No identity could be found or used (`PATINA_IDENTITY`, the keyring, the identity
    /// file): the message says where patina looked and how to provide one.
    #[error("{0}")]
    Identity(String),
    /// The passphrase does not decrypt the identity file.
    #[error("wrong passphrase for {}", path.display())]
    WrongPassphrase {
        /// The identity file.
        path: PathBuf,
    },
    /// Asking on the terminal failed.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// age refused to encrypt (no recipient, or an internal failure): names what.
    #[error("cannot encrypt {what}: {why}")]
    Encrypt {
        /// `the vault` or `the identity`.
        what: &'static str,
        /// age's reason (never key material).
        why: String,
    },
}

impl Error {
    /// True when the failure is the machine's (an I/O error reading or writing a file), not
    /// the caller's: the daemon answers 500.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::Run { .. } | Error::Fs(FsError::Io { .. })
        )
    }

    /// True when the vault has no secret of the name asked ([`NotFound`]): the daemon
    /// answers 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    /// An [`Error::Io`] on `path`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |error| Error::Io {
            path: path.to_path_buf(),
            error,
        }
    }

    /// An [`Error::Corrupt`] on `path`.
    pub(crate) fn corrupt(path: &std::path::Path, why: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

/// The result of a secrets operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
