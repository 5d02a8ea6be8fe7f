//! scry: index a project's knowledge (markdown sections and code windows) into SQLite FTS5 and
//! search it with BM25. Depends on `rusqlite`, `ignore`, `sha2`, [`crate::paths`] and
//! [`crate::fsutil`]; knows nothing of HTTP or sockets. The CLI (without a daemon) and the
//! daemon's `/api/scry` handler both call [`search_project`] / [`Index::search`].
//!
//! STUB: the scry helper replaces this file (and adds submodules) with the real index.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Results returned when a request names no limit.
pub const DEFAULT_LIMIT: usize = 10;
/// The most results any request can get (BRIEF §6); larger limits are clamped to this.
pub const MAX_LIMIT: usize = 1000;

/// One search result: the `results[]` element of `/api/scry` (BRIEF §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// The document's title (first heading, else front-matter `id`, else file name).
    pub title: String,
    /// `core`, `surface`, `session`, `belief`, `spec`, `doc`, `code`, … (front matter `type`
    /// or the folder under `layer/`).
    pub kind: String,
    /// 1-based line number where the matching section (or code window) starts.
    pub line: u64,
    /// Text around the matched terms, matched terms in `[` `]`.
    pub snippet: String,
    /// Relevance: the negated FTS5 `bm25()` value, so higher is better.
    pub score: f64,
}

/// The `/api/scry` response body and the `patina scry --json` output (BRIEF §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScryResponse {
    /// Best first.
    pub results: Vec<Hit>,
    /// Wall time of the search, in milliseconds.
    pub took_ms: f64,
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum ScryError {
    /// No index exists for the project yet.
    #[error("no index for {}: run `patina scrape {}` first", .0.display(), .0.display())]
    NoIndex(PathBuf),
    /// The query has no searchable term (empty, or only punctuation).
    #[error("the query has no words to search for")]
    EmptyQuery,
    /// The search ran past its deadline and was interrupted inside SQLite.
    #[error("the search ran past its deadline")]
    Deadline,
    /// The index could not be read.
    #[error("the index at {path} could not be read: {message}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// SQLite's message (never contains the query).
        message: String,
    },
}

/// An open project index.
pub struct Index {
    root: PathBuf,
}

impl Index {
    /// Opens the index of the project at `root`.
    pub fn open(root: &Path) -> Result<Index, ScryError> {
        Err(ScryError::NoIndex(root.to_path_buf()))
    }

    /// The project root this index belongs to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Searches with BM25, at most `limit` (clamped to [`MAX_LIMIT`]) hits, best first.
    pub fn search(
        &mut self,
        _query: &str,
        _limit: usize,
        _deadline: Option<Instant>,
    ) -> Result<Vec<Hit>, ScryError> {
        Err(ScryError::EmptyQuery)
    }
}

/// Opens the project's index and searches it: the one function behind `patina scry` without a
/// daemon.
pub fn search_project(
    root: &Path,
    query: &str,
    limit: usize,
    deadline: Option<Instant>,
) -> Result<ScryResponse, ScryError> {
    let t = Instant::now();
    let mut idx = Index::open(root)?;
    let results = idx.search(query, limit, deadline)?;
    Ok(ScryResponse {
        results,
        took_ms: t.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Counts of one scrape, printed as the one-line summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrapeSummary {
    /// Files seen by the walk (indexed, unchanged or skipped).
    pub files: u64,
    /// Files (re)indexed because they are new or their SHA-256 changed.
    pub changed: u64,
    /// Files removed from the index because they no longer exist.
    pub removed: u64,
    /// Sections (markdown) and windows (code) in the index after the scrape.
    pub sections: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files skipped: binary or larger than the size cap.
    pub skipped: u64,
    /// Wall time, in seconds.
    pub seconds: f64,
}

/// Indexes the project at `root` into `<root>/.patina/index.db`.
pub fn scrape(root: &Path) -> anyhow::Result<ScrapeSummary> {
    crate::fsutil::ensure_private_dir(&crate::paths::project_state_dir(root))?;
    std::fs::write(crate::paths::project_index_path(root), b"")?;
    Ok(ScrapeSummary::default())
}
