//! The error type of the guard's file work ([`Error`]): the hosts' settings files
//! (`install.rs`) and transcripts (`scrub.rs`). Each message names the file and, for JSON,
//! the position; none quotes content.

use crate::fsutil::FsError;
use std::path::PathBuf;

/// Why a settings file or transcript could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, created or changed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// Writing a file atomically failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A settings file is not JSON: the position only, never the text.
    #[error("{} is not valid JSON (line {line}, column {column}); fix it first", path.display())]
    NotJson {
        /// The settings file.
        path: PathBuf,
        /// The 1-based line of the error.
        line: usize,
        /// The 1-based column of the error.
        column: usize,
    },
    /// A concealed line could not be written back as JSON (serde_json's reason, which for
    /// serialization never quotes the value).
    #[error("cannot write a line as JSON: {0}")]
    Encode(serde_json::Error),
}

impl Error {
    /// An [`Error::Io`] on `path`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |error| Error::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}
