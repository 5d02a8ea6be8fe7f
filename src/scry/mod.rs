//! scry: index a project's knowledge (markdown sections, code symbols, text windows) into
//! SQLite (rows and our own postings, [`tokenize`]) and search it: BM25 candidates, re-ranked
//! for code ([`rank`]). Depends on `unicode-normalization` ([`tokenize`]),
//! `rusqlite`, `ignore`, `sha2`, `tree-sitter`, `notify` ([`fresh`]), [`crate::paths`],
//! [`crate::fsutil`], [`crate::text`] and the
//! secret detector of [`crate::secrets`] (redaction); knows nothing of HTTP or sockets. The
//! CLI (without a daemon) and the
//! daemon's `/api/scry` handler both call [`search_project`] / [`Index::search`].
//!
//! - [`scrape()`] walks a project and updates `<project>/.patina/index.db` in one transaction
//!   (what is indexed and the incremental rules: [`mod@scrape`]; the schema: [`db`]).
//! - [`Index`] is an open index: open it once, search it many times (the daemon keeps one per
//!   worker thread). Each search has an optional deadline, enforced inside SQLite.
//! - [`query`], [`sections`], [`symbols`], [`frontmatter`], [`rank`]: the pure parts (query
//!   builder, splitters, the second stage of ranking).
//! - [`eval`]: the metrics (MRR@k, Recall@k) and relevance-set format of the evaluation
//!   harness (`scripts/eval-scry`).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use std::time::{Duration, Instant};
//! let root = Path::new("/home/me/project");
//! patina::scry::scrape(root)?;
//! let mut index = patina::scry::Index::open(root)?;
//! let deadline = Instant::now() + Duration::from_millis(500);
//! for hit in index.search("session capture", 10, Some(deadline))? {
//!     println!("{}:{} {} ({:.2}) {}", hit.path, hit.line, hit.title, hit.score, hit.snippet);
//! }
//! # Ok(()) }
//! ```

pub mod db;
pub mod eval;
pub mod fresh;
pub mod frontmatter;
pub mod porter;
pub(crate) mod postings;
pub mod query;
pub mod rank;
pub mod redact;
pub mod scrape;
pub mod sections;
pub mod shard;
mod skim;
pub(crate) mod snippet;
pub mod symbols;
pub mod thesaurus;
pub mod tokenize;
pub mod watch;

pub use db::{BUSY_TIMEOUT, SCHEMA_VERSION};
pub use postings::SearchCache;
pub use scrape::{
    BINARY_REASON, BINARY_SNIFF_BYTES, CREDENTIAL_REASON, MAX_FILE_BYTES, RACY_SLACK_NS,
    ScrapeError, is_credential_file, scrape, scrape_with_dirs, scrape_with_progress,
};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// `m`'s contents under the poisoned-lock policy (architecture.md, "Poisoned locks"): a
/// cache a panic left poisoned is never used as it was — it is emptied, its poison cleared,
/// and it fills again (a cache holds nothing that cannot be derived again).
pub(crate) fn emptied_if_poisoned<T: Default>(
    m: &std::sync::Mutex<T>,
) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| {
        let mut kept = poisoned.into_inner();
        *kept = T::default();
        m.clear_poison();
        kept
    })
}

/// Results returned when a request names no limit.
pub const DEFAULT_LIMIT: usize = 10;
/// The most results any request can get (requirements §6); larger limits are clamped to this.
pub const MAX_LIMIT: usize = 1000;

/// The message for a limit of 0, which every surface refuses the same way (CLI usage error,
/// HTTP 400, MCP -32602) rather than reading it as "the default".
pub const ZERO_LIMIT: &str = "limit must be at least 1 (the most results to return)";

/// The limit a request asked for, as used: none → [`DEFAULT_LIMIT`], above [`MAX_LIMIT`]
/// clamped; 0 is refused with [`ZERO_LIMIT`]. One rule for the CLI, the API and MCP.
pub fn requested_limit(limit: Option<usize>) -> Result<usize, &'static str> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(ZERO_LIMIT),
        Some(n) => Ok(n.min(MAX_LIMIT)),
    }
}

/// Candidates the first stage of [`Index::search`] takes per hit wanted, for [`rank`] to
/// re-order.
pub const CANDIDATES_PER_HIT: usize = 5;
/// The fewest candidates the first stage takes, whatever the limit.
pub const MIN_CANDIDATES: usize = 50;
/// The fewest candidates for a query that puts a kind word before a name (`enum Value`,
/// [`query::KIND_WORDS`]): a long declaration (an enum of 60 documented lines) scores low
/// on BM25 beside the many short rows of its methods (serde_json's `pub enum Value` ranked
/// between 50 and 100), and the second stage can only lift a candidate. Such queries are
/// few; they pay ~1 ms more (measured on serde_json).
pub const KIND_CANDIDATES: usize = 200;

/// BM25's weights for the indexed columns: title, headings, body (the `idents` column, words
/// split out of the body's identifiers, counts as the body). A term in a document's title
/// counts ten times one in the body, one in a heading five times, as FTS5's `bm25()` weighs
/// columns: <https://sqlite.org/fts5.html#the_bm25_function>.
pub const BM25_WEIGHTS: (f64, f64, f64) = (10.0, 5.0, 1.0);

/// Tokens in a snippet (module `snippet`).
pub const SNIPPET_TOKENS: u32 = 14;

/// SQLite virtual-machine instructions between two deadline checks. A check is one clock read
/// (tens of nanoseconds); 1000 instructions take microseconds, so a deadline is honoured
/// within microseconds and the checks cost well under 1% of a search.
pub const DEADLINE_CHECK_OPS: i32 = 1000;

/// One search result: the `results[]` element of `/api/scry` (requirements §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// The document's title: front-matter `title`, else its first heading, else front-matter
    /// `id`, else the file name without extension (markdown); for code, the symbol path of
    /// the row (`Deserializer::deserialize_any`, `Pool.size`), a top-level item's with its
    /// module path in front (`serde_json::de::from_str`, [`symbols::display_title`]), or the
    /// file name for lines of no symbol and files no grammar splits ([`symbols`]).
    pub title: String,
    /// Notes: `core`, `surface`, `session`, `belief`, `spec`, `doc`, … (front matter `type`
    /// or the folder under `layer/`). Code: `definition`, `test` or `code` ([`symbols`]).
    pub kind: String,
    /// 1-based line: for code, the line of the row that holds the most query words (the best
    /// match, [`rank::best_line`]); for notes, the line of the matching section's heading.
    pub line: u64,
    /// Text around the matched terms, matched terms in `[` `]`, cut text marked `…`, whitespace
    /// (newlines included) collapsed to single spaces: [`SNIPPET_TOKENS`] tokens of the body
    /// column (module `snippet`). When only the title or headings matched, it is the start of the
    /// section's text, without brackets; a section with no text gets the snippet of its
    /// title or heading path.
    pub snippet: String,
    /// Relevance, higher is better: BM25 with [`BM25_WEIGHTS`] (FTS5's `bm25()` negated),
    /// times the factors of [`rank`]. Only comparable within one search.
    pub score: f64,
    /// True when something secret-looking, or a known secret, was cut out of this hit (see
    /// [`redact::redact_hits`]); absent from the JSON otherwise, so clean hits keep the §6
    /// shape.
    #[serde(default, skip_serializing_if = "is_false")]
    pub redacted: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The `/api/scry` response body and the `patina scry --json` output (requirements §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScryResponse {
    /// Best first.
    pub results: Vec<Hit>,
    /// Wall time of the search, in milliseconds.
    pub took_ms: f64,
    /// The index generation the results came from (`postings_meta.generation`, read in the
    /// search's own snapshot: every scrape that changes rows gives a new, larger one, see
    /// [`Index::generation`]); `null` for an index without postings or an empty query.
    #[serde(default)]
    pub generation: Option<i64>,
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

/// An open project index: one SQLite connection with its prepared-statement cache and a
/// deadline hook. Open it once and reuse it; it is `Send` (move it to a worker thread) but
/// not `Sync` (one search at a time).
pub struct Index {
    root: PathBuf,
    path: PathBuf,
    conn: Connection,
    /// The current search's deadline in nanoseconds since `epoch`; 0 means none. Read by the
    /// progress handler registered at open.
    deadline: Arc<AtomicU64>,
    epoch: Instant,
    /// The fast path's row map (loaded once per postings generation) and scratch space.
    fast: Fast,
    /// Row maps and scratch space shared with the other indexes of the same owner.
    cache: Arc<SearchCache>,
    /// Inside [`Index::in_snapshot`]: searches run in its read transaction.
    in_snapshot: bool,
    /// The `PRAGMA data_version` read inside the current snapshot, if any.
    snapshot_version: Cell<Option<i64>>,
    /// Device and inode of the index file when it was opened ([`Index::is_current`]).
    file: (u64, u64),
    /// When [`Index::is_current`] last looked at the file and found it the same.
    file_checked: Cell<Option<Instant>>,
    /// The project's Rust package name (`<root>/Cargo.toml`), read at its first code hit.
    own_crate: std::cell::OnceCell<Option<String>>,
}

/// How long [`Index::is_current`] trusts its last look at the index file.
pub const FILE_RECHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Device and inode of a file: which file a path named when it was looked at.
fn file_id(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

/// State of [`Index::search`]'s fast path ([`postings`]).
#[derive(Debug, Default)]
struct Fast {
    rows: Option<std::sync::Arc<postings::Rows>>,
    /// Searches answered by the fast path, and those whose MaxScore left a term unscored for
    /// most rows (tests check them).
    answered: u64,
    pruned: u64,
    /// The `PRAGMA data_version` at which `rows` was last checked against the postings'
    /// generation, when known.
    checked_at: Option<i64>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("path", &self.path).finish()
    }
}

impl Index {
    /// Opens the index of the project at `root` (`<root>/.patina/index.db`), never creating
    /// it, and registers the deadline hook (`sqlite3_progress_handler`).
    ///
    /// Errors: [`ScryError::NoIndex`] when the file is missing or no scrape has committed to
    /// it yet; [`ScryError::Index`] when it is not a readable index, or was built by a
    /// version of patina with another schema (the message says to scrape again).
    pub fn open(root: &Path) -> Result<Index, ScryError> {
        Index::open_with(root, &Arc::new(SearchCache::default()))
    }

    /// Like [`Index::open`], sharing row maps and scratch space with the other indexes opened
    /// with `cache` (the daemon's, on its [`crate::api::Ctx`]).
    pub fn open_with(root: &Path, cache: &Arc<SearchCache>) -> Result<Index, ScryError> {
        let path = crate::paths::project_index_path(root);
        let file = match std::fs::metadata(&path) {
            Ok(m) => file_id(&m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ScryError::NoIndex(root.to_path_buf()));
            }
            Err(e) => {
                return Err(ScryError::Index {
                    path,
                    message: e.to_string(),
                });
            }
        };
        let (mut conn, version) = db::open_for_read(&path).map_err(|e| index_error(&path, &e))?;
        if version == 0 {
            return Err(ScryError::NoIndex(root.to_path_buf()));
        }
        if version != SCHEMA_VERSION {
            return Err(ScryError::Index {
                message: format!(
                    "it has schema version {version}, this patina reads {SCHEMA_VERSION}; \
                     run `patina scrape {}` to rebuild it",
                    root.display()
                ),
                path,
            });
        }
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let hook_deadline = Arc::clone(&deadline);
        conn.progress_handler(
            DEADLINE_CHECK_OPS,
            Some(move || {
                let d = hook_deadline.load(Ordering::Relaxed);
                d != 0 && nanos(epoch.elapsed()) >= d
            }),
        )
        .map_err(|e| index_error(&path, &e))?;
        Ok(Index {
            root: root.to_path_buf(),
            path,
            conn,
            deadline,
            epoch,
            fast: Fast::default(),
            cache: Arc::clone(cache),
            in_snapshot: false,
            snapshot_version: Cell::new(None),
            file,
            file_checked: Cell::new(Some(Instant::now())),
            own_crate: std::cell::OnceCell::new(),
        })
    }

    /// Whether the file at [`Index::path`] is still the one this index opened (same device
    /// and inode). False once it was removed or replaced (`rm -rf .patina` and a new scrape):
    /// this connection would go on reading the old, unlinked file, whose `PRAGMA
    /// data_version` never changes again, so the caller should open the index anew. Looks
    /// (one `stat(2)`, several µs on a cold path) at most once per [`FILE_RECHECK`], so a
    /// replaced index is noticed within that time.
    pub fn is_current(&self) -> bool {
        if self
            .file_checked
            .get()
            .is_some_and(|t| t.elapsed() < FILE_RECHECK)
        {
            return true;
        }
        let same = std::fs::metadata(&self.path).is_ok_and(|m| file_id(&m) == self.file);
        self.file_checked.set(same.then(Instant::now));
        same
    }

    /// The project root this index belongs to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The index file (`<root>/.patina/index.db`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's `PRAGMA data_version` on this connection: it changes when another connection
    /// (a scrape) commits to the index, so a result remembered at one value is still the
    /// answer while it is unchanged. Values mean nothing across connections.
    /// See <https://sqlite.org/pragma.html#pragma_data_version>.
    pub fn data_version(&self) -> Result<i64, ScryError> {
        let version = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| index_error(&self.path, &e))?;
        if self.in_snapshot {
            self.snapshot_version.set(Some(version));
        }
        Ok(version)
    }

    /// Runs `f` on this index inside one read transaction (`BEGIN` … `COMMIT`), so every
    /// [`Index::data_version`] and [`Index::search`] in it sees the same committed state of
    /// the index, whatever a scrape commits meanwhile (SQLite's snapshot isolation in WAL
    /// mode: <https://sqlite.org/isolation.html>), and the whole costs one read lock on the
    /// index instead of one per statement. A transaction left open on the connection is
    /// rolled back first. Errors: `f`'s, else [`ScryError::Index`] when the transaction
    /// cannot begin or end.
    pub fn in_snapshot<T>(
        &mut self,
        f: impl FnOnce(&mut Index) -> Result<T, ScryError>,
    ) -> Result<T, ScryError> {
        let statement = |conn: &Connection, sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut s| s.execute([]).map(drop))
        };
        if !self.conn.is_autocommit() {
            statement(&self.conn, "ROLLBACK").map_err(|e| index_error(&self.path, &e))?;
        }
        statement(&self.conn, "BEGIN").map_err(|e| index_error(&self.path, &e))?;
        self.in_snapshot = true;
        let result = f(self);
        self.in_snapshot = false;
        self.snapshot_version.set(None);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = statement(&self.conn, end).map_err(|e| index_error(&self.path, &e));
        match (result, ended) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(out), Ok(())) => Ok(out),
        }
    }

    /// The index's generation (`postings_meta.generation`): a number every scrape that
    /// changes rows replaces with a larger one, so results can say which state of the index
    /// they came from. Inside [`Index::in_snapshot`] it is the snapshot's. `None` when the
    /// index has no postings.
    pub fn generation(&self) -> Result<Option<i64>, ScryError> {
        postings::generation(&self.conn).map_err(|e| index_error(&self.path, &e))
    }

    /// The project's Rust package name, for titles ([`symbols::package_name`] of
    /// `<root>/Cargo.toml`, read once, at most 1 MiB of it); `None` when it has none, or when
    /// it is not a regular file: a link is not followed and a FIFO there is never waited on
    /// (an agent could make one to hang every search that shows code).
    fn own_crate(&self) -> Option<&str> {
        self.own_crate
            .get_or_init(|| {
                use std::io::Read;
                use std::os::unix::fs::OpenOptionsExt;
                let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(flags.bits() as i32)
                    .open(self.root.join("Cargo.toml"))
                    .ok()?;
                if !f.metadata().ok()?.is_file() {
                    return None;
                }
                let mut text = String::new();
                f.take(1 << 20).read_to_string(&mut text).ok()?;
                symbols::package_name(&text)
            })
            .as_deref()
    }

    /// Searches: BM25 ([`BM25_WEIGHTS`]) over the query's terms picks candidates, which
    /// [`rank`] orders for code, returning at most `limit` hits, best first.
    ///
    /// `query` is any text. It goes through [`query::prepare`]: stop words do not score
    /// (unless the query has nothing else), identifiers are split into their words
    /// (`parse_content_length`, `parseContentLength`, `a::b::c`), `fn`/`class`/… before a
    /// word mark it as a symbol's name (the kind words among them, [`query::KIND_WORDS`],
    /// are searched with it). Each remaining word (at most [`query::MAX_TERMS`]) is
    /// tokenized ([`tokenize`]) and any of them may match: no input is a syntax error.
    /// `limit` 0 means [`DEFAULT_LIMIT`]; above [`MAX_LIMIT`] it is clamped. `deadline`, if
    /// given, is enforced inside SQLite every [`DEADLINE_CHECK_OPS`] instructions; a deadline
    /// already past fails at once.
    ///
    /// The first stage takes the best [`CANDIDATES_PER_HIT`]` × limit` rows by BM25 (at
    /// least [`MIN_CANDIDATES`], at most [`MAX_LIMIT`]) from the postings (module
    /// `postings`); then [`rank`]
    /// re-scores them: a definition of a symbol the query names above its uses and tests, a
    /// whole identifier above its parts, one file's further hits folded below other files'
    /// best, and each code hit's line moved to the line of its best match.
    ///
    /// Errors: [`ScryError::EmptyQuery`] when the query has no word; [`ScryError::Deadline`]
    /// when interrupted (the index stays usable for the next search); [`ScryError::Index`]
    /// when SQLite fails. Never reopens or re-prepares anything across calls
    /// (`prepare_cached`).
    pub fn search(
        &mut self,
        query: &str,
        limit: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<Hit>, ScryError> {
        if !self.in_snapshot {
            // Both stages and the snippets read one committed state.
            return self.in_snapshot(|idx| idx.search(query, limit, deadline));
        }
        let limit = effective_limit(limit);
        let prepared = query::prepare(query);
        let fewest = if prepared.kinds.is_empty() {
            MIN_CANDIDATES
        } else {
            KIND_CANDIDATES
        };
        let wanted = (limit * CANDIDATES_PER_HIT).clamp(fewest, MAX_LIMIT.max(limit));
        let candidates = self.search_bm25(&prepared.terms, wanted, deadline)?;
        let mut hits = self.with_deadline(deadline, |conn| {
            rank::rank(conn, &prepared, candidates, limit)
        })?;
        self.finish_snippets(&prepared.terms, &mut hits, deadline)?;
        let own = self.own_crate();
        Ok(hits.into_iter().map(|(_, h)| titled(h, own)).collect())
    }

    /// Cuts the snippets of the fast path's `hits` ([`cut_snippets`]), under `deadline`.
    fn finish_snippets(
        &mut self,
        terms: &[query::Term],
        hits: &mut [(i64, Hit)],
        deadline: Option<Instant>,
    ) -> Result<(), ScryError> {
        let tokens = phrase_tokens(terms);
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        self.with_deadline(deadline, |conn| cut_snippets(conn, &tokens, hits))
    }

    /// The first stage of [`Index::search`]: the best `limit` rows for `terms` by BM25, with
    /// their rowids (module docs of `postings`); their snippets are
    /// cut later ([`Index::finish_snippets`]), for the hits the second stage keeps.
    fn search_bm25(
        &mut self,
        terms: &[query::Term],
        limit: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<(i64, Hit)>, ScryError> {
        if terms.is_empty() {
            return Err(ScryError::EmptyQuery);
        }
        let mut fast = std::mem::take(&mut self.fast);
        let data_version = self.snapshot_version.get();
        let result = self.with_deadline(deadline, |conn| {
            fast_search(
                conn,
                &self.path,
                &self.cache,
                &mut fast,
                terms,
                limit,
                data_version,
            )
        });
        self.fast = fast;
        result?.ok_or_else(|| self.damaged())
    }

    /// The first stage alone for a query's words as [`query::terms`] splits them (no stop
    /// words dropped, no identifiers split): what the differential tests compare with their
    /// brute-force BM25.
    #[cfg(test)]
    pub(crate) fn search_plain(
        &mut self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit>, ScryError> {
        if !self.in_snapshot {
            return self.in_snapshot(|idx| idx.search_plain(query, limit));
        }
        let limit = effective_limit(limit);
        let terms = query::terms(&query::searched(query));
        let mut hits = self.search_bm25(&terms, limit, None)?;
        self.finish_snippets(&terms, &mut hits, None)?;
        Ok(hits.into_iter().map(|(_, h)| h).collect())
    }

    /// Which first-stage path this index's searches took so far, for the evaluation
    /// harness's speed report: `[searches, of those pruned by MaxScore]`. Not a stable API.
    #[doc(hidden)]
    pub fn first_stage_paths(&self) -> [u64; 2] {
        [self.fast.answered, self.fast.pruned]
    }

    /// How many searches of this index the fast path answered.
    #[cfg(test)]
    pub(crate) fn fast_searches(&self) -> u64 {
        self.fast.answered
    }

    /// How many searches left a term unscored for most rows (MaxScore's pruning).
    #[cfg(test)]
    pub(crate) fn pruned_searches(&self) -> u64 {
        self.fast.pruned
    }

    /// [`postings::parts`] of `rowids` for `terms`, from the row map the last search loaded
    /// (call it after [`Index::search_bm25`], in the same snapshot).
    fn parts(
        &self,
        terms: &[query::Term],
        rowids: &[i64],
        deadline: Option<Instant>,
    ) -> Result<postings::Parts, ScryError> {
        let damaged = || self.damaged();
        let rows = self.fast.rows.clone().ok_or_else(damaged)?;
        let tokens = phrase_tokens(terms);
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        self.with_deadline(deadline, |conn| {
            postings::parts(conn, &rows, &tokens, BM25_WEIGHTS, rowids)
        })?
        .ok_or_else(damaged)
    }

    /// The error for an index whose postings are missing or damaged.
    fn damaged(&self) -> ScryError {
        ScryError::Index {
            path: self.path.clone(),
            message: format!(
                "its postings are missing or damaged; run `patina scrape {}` (it rebuilds them)",
                self.root.display()
            ),
        }
    }

    /// Runs `f` on the connection with `deadline` armed for the progress handler, disarming
    /// it on every path, and maps SQLite's "interrupted" to [`ScryError::Deadline`].
    fn with_deadline<T>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ScryError> {
        let armed = match deadline {
            None => 0,
            Some(d) => match d.checked_duration_since(self.epoch) {
                Some(after_epoch) if Instant::now() < d => nanos(after_epoch).max(1),
                _ => return Err(ScryError::Deadline),
            },
        };
        self.deadline.store(armed, Ordering::Relaxed);
        let result = f(&self.conn);
        self.deadline.store(0, Ordering::Relaxed);
        result.map_err(|e| {
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
                ScryError::Deadline
            } else {
                index_error(&self.path, &e)
            }
        })
    }

    /// Runs arbitrary (slow) SQL under a deadline, through the same path as [`Index::search`].
    /// Only in tests and in builds with the `fault-injection` feature.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn run_sql_with_deadline(
        &mut self,
        sql: &str,
        deadline: Option<Instant>,
    ) -> Result<i64, ScryError> {
        self.with_deadline(deadline, |conn| conn.query_row(sql, [], |r| r.get(0)))
    }
}

/// The limit actually used: 0 → [`DEFAULT_LIMIT`], otherwise at most [`MAX_LIMIT`].
pub fn effective_limit(limit: usize) -> usize {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The fields of one row for a hit, by id: path, doc_title, kind, line.
const ROW_SQL: &str = "SELECT f.path, d.doc_title, k.name, d.line FROM docs d
  JOIN files f ON f.id = d.file JOIN kinds k ON k.id = d.kind WHERE d.id = ?1";

/// The indexed texts of one row, by id, for its snippet: title, headings, body.
const ROW_TEXT_SQL: &str = "SELECT title, headings, body FROM docs WHERE id = ?1";

/// The tokens a search ranks `query` with, in order (each word of [`query::terms`] of the text
/// [`query::searched`] keeps of it, through
/// [`tokenize`]): what federation's per-token statistics are indexed by ([`shard`]).
pub fn query_tokens(query: &str) -> Vec<String> {
    phrase_tokens(&query::terms(&query::searched(query)))
}

/// The tokens the postings rank for `terms`, in query order: each word's tokens
/// ([`tokenize`], the index's own tokenizer: `Café` → `cafe`). A word the tokenizer cuts into
/// several tokens (rare: [`query::terms`] cuts at punctuation and symbols already) is searched
/// as its tokens, OR-ed.
fn phrase_tokens(terms: &[query::Term]) -> Vec<String> {
    terms
        .iter()
        .flat_map(|t| tokenize::tokens(&t.text))
        .collect()
}

/// [`Index::search`]'s first stage, inside the search's read transaction: ranks with the
/// postings ([`postings::top_k`], the terms' tokens from [`phrase_tokens`]), then reads each
/// hit's row (its snippet is cut later, [`cut_snippets`]). `Ok(None)` when the postings
/// cannot answer (missing, or disagreeing with their row map): the index is damaged.
/// `data_version`, when the transaction's is known: if it is the one the row map was last checked at, no other
/// connection has committed since (<https://sqlite.org/pragma.html#pragma_data_version>), so
/// the postings' generation is unchanged and is not read again.
#[allow(clippy::too_many_arguments)]
fn fast_search(
    conn: &Connection,
    path: &Path,
    cache: &SearchCache,
    fast: &mut Fast,
    terms: &[query::Term],
    limit: usize,
    data_version: Option<i64>,
) -> rusqlite::Result<Option<Vec<(i64, Hit)>>> {
    let unchanged = data_version.is_some() && data_version == fast.checked_at;
    if !(unchanged && fast.rows.is_some()) {
        let Some(generation) = postings::generation(conn)? else {
            return Ok(None);
        };
        if fast.rows.as_ref().map(|r| r.generation()) != Some(generation) {
            fast.rows = postings::shared_rows(cache, conn, path, generation)?;
        }
        fast.checked_at = data_version;
    }
    let Some(rows) = fast.rows.as_deref() else {
        return Ok(None);
    };
    let tokens = phrase_tokens(terms);
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let w = BM25_WEIGHTS;
    let ranked = postings::with_scratch(cache, |scratch| {
        postings::top_k(conn, rows, scratch, &tokens, w, limit)
    })?;
    let Some((best, pruned)) = ranked else {
        return Ok(None);
    };
    fast.pruned += u64::from(pruned);
    // Snippets are cut later, for the hits the second stage keeps ([`cut_snippets`]).
    let mut row = conn.prepare_cached(ROW_SQL)?;
    let mut hits = Vec::with_capacity(best.len());
    for (rowid, score) in best {
        let hit = row.query_row([rowid], |r| {
            Ok(Hit {
                path: r.get(0)?,
                title: r.get(1)?,
                kind: r.get(2)?,
                line: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                snippet: String::new(),
                score,
                redacted: false,
            })
        })?;
        hits.push((rowid, hit));
    }
    fast.answered += 1;
    Ok(Some(hits))
}

/// Cuts the snippets of `hits` (rowids of the fast path's rows) for the query whose tokens
/// are `tokens` ([`snippet::Snippets::row`], where SQLite holds the row's text, without
/// copying it).
fn cut_snippets(
    conn: &Connection,
    tokens: &[&str],
    hits: &mut [(i64, Hit)],
) -> rusqlite::Result<()> {
    let mut texts = conn.prepare_cached(ROW_TEXT_SQL)?;
    let snippets = snippet::Snippets::new(tokens);
    for (rowid, hit) in hits.iter_mut() {
        hit.snippet = texts.query_row([*rowid], |r| {
            let text = |i| r.get_ref(i).and_then(|v| Ok(v.as_str()?));
            Ok(snippets.row(text(0)?, text(1)?, text(2)?))
        })?;
    }
    Ok(())
}

/// [`ScryError::Index`] for a SQLite error (never the query's text: it reaches SQLite only as
/// bound parameters, which errors do not quote).
fn index_error(path: &Path, e: &rusqlite::Error) -> ScryError {
    let text = e.to_string();
    let full = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure)
    ) && crate::fsutil::no_space_left(path);
    ScryError::Index {
        path: path.to_path_buf(),
        message: if full {
            // Opening a WAL database grows its shared-memory index: even a read needs space.
            format!("{text} (No space left on device: free some space; the index is unchanged)")
        } else {
            text
        },
    }
}

/// `hit` with the title a reader sees: a code hit's top-level symbol with its module path
/// ([`symbols::display_title`]; `own_crate`: the project's package name). Applied after
/// ranking, which matches the query against the symbol as stored.
pub(crate) fn titled(mut hit: Hit, own_crate: Option<&str>) -> Hit {
    hit.title = symbols::display_title(&hit.path, &hit.title, own_crate);
    hit
}

/// Opens the project's index and searches it: the one function behind `patina scry` without a
/// daemon. Same arguments and errors as [`Index::open`] then [`Index::search`]; `took_ms`
/// includes the open.
pub fn search_project(
    root: &Path,
    query: &str,
    limit: usize,
    deadline: Option<Instant>,
) -> Result<ScryResponse, ScryError> {
    let t = Instant::now();
    let mut idx = Index::open(root)?;
    let (results, generation) = idx.in_snapshot(|idx| {
        let generation = idx.generation()?;
        Ok((idx.search(query, limit, deadline)?, generation))
    })?;
    Ok(ScryResponse {
        results,
        took_ms: t.elapsed().as_secs_f64() * 1000.0,
        generation,
    })
}

/// Whether the project at `root` has an index file.
pub fn db_exists(root: &Path) -> bool {
    crate::paths::project_index_path(root).is_file()
}

/// The generation of the project's index (`postings_meta.generation`: changed by every
/// scrape that changes rows, see `postings`); `None` without an index or postings.
pub fn index_generation(root: &Path) -> Option<i64> {
    let (conn, _) = db::open_for_read(&crate::paths::project_index_path(root)).ok()?;
    postings::generation(&conn).ok().flatten()
}

/// Most skipped files listed by name in a [`ScrapeSummary`] (the rest are only counted).
pub const MAX_LISTED_SKIPS: usize = 1000;

/// A file a scrape left out of the index, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// Its path relative to the project (`/`-separated; bytes that are not UTF-8 as `\xNN`).
    pub path: String,
    /// Why it was left out.
    pub reason: String,
}

/// Counts of one scrape, printed as the one-line summary (or as JSON with `--json`).
///
/// Every file the walk yielded is counted once in `changed`, `unchanged` or `skipped`:
/// `files == changed + unchanged + skipped`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrapeSummary {
    /// Files seen by the walk (indexed, unchanged or skipped), plus entries it failed to read.
    pub files: u64,
    /// Files (re)indexed because they are new or their SHA-256 changed.
    pub changed: u64,
    /// Text files already indexed with the same content (by size + mtime, or by SHA-256).
    pub unchanged: u64,
    /// Files removed from the index because the walk no longer yields them (deleted, renamed,
    /// newly ignored).
    pub removed: u64,
    /// Sections (markdown) and windows (code) in the index after the scrape.
    pub sections: u64,
    /// Bytes read from disk by this scrape (files skipped by size + mtime are not read).
    pub bytes: u64,
    /// Files not in the index: `skipped_binary + skipped_huge + skipped_unreadable`.
    pub skipped: u64,
    /// Files with a NUL byte in the first [`BINARY_SNIFF_BYTES`] or not valid UTF-8.
    pub skipped_binary: u64,
    /// Files larger than [`MAX_FILE_BYTES`].
    pub skipped_huge: u64,
    /// Entries that could not be read: permission errors, names that are not UTF-8, ignore
    /// files the walk could not parse.
    pub skipped_unreadable: u64,
    /// The files left out, each with why (at most [`MAX_LISTED_SKIPS`], the rest counted
    /// only), so a missing note can be found: `binary`, `huge`, `unreadable: …`,
    /// `a symbolic link (not followed)`, `not a regular file`.
    #[serde(default)]
    pub skipped_files: Vec<SkippedFile>,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Whether the postings were found damaged (a blob or row map that does not decode, or
    /// disagrees with the row lengths: `postings::sound`) and rebuilt from the rows.
    #[serde(default)]
    pub repaired_postings: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The title's package name comes from a regular `Cargo.toml` only: a FIFO in its place
    /// is never opened for a blocking read (the search would wait for a writer forever).
    #[test]
    fn a_fifo_as_the_manifest_names_no_crate_and_hangs_no_search() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("src")).unwrap();
        std::fs::write(t.path().join("src/de.rs"), "pub fn from_text() {}\n").unwrap();
        scrape(t.path()).unwrap();
        let fifo = t.path().join("Cargo.toml");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let root = t.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let hits = Index::open(&root).unwrap().search("from_text", 5, None);
            let _ = tx.send(hits.map(|h| h[0].title.clone()));
        });
        let title = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the search waited on the FIFO")
            .unwrap();
        assert_eq!(title, "crate::de::from_text");
    }

    fn indexed_project() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("note.md"),
            "# Deadline\nthe search must stop on time\n",
        )
        .unwrap();
        scrape(t.path()).unwrap();
        t
    }

    #[test]
    fn a_snapshot_sees_one_committed_state_while_a_scrape_commits() {
        let t = indexed_project();
        let mut idx = Index::open(t.path()).unwrap();
        let (before, inside, version_kept) = idx
            .in_snapshot(|idx| {
                let version = idx.data_version()?;
                let before = idx.search("time", 10, None)?;
                // A scrape commits a new note while the snapshot is open.
                std::fs::write(t.path().join("more.md"), "# More\nmore time to stop\n").unwrap();
                assert_eq!(scrape(t.path()).unwrap().changed, 1);
                let inside = idx.search("time", 10, None)?;
                Ok((before, inside, idx.data_version()? == version))
            })
            .unwrap();
        assert_eq!(before.len(), 1);
        assert_eq!(inside, before, "the snapshot did not move");
        assert!(version_kept);
        assert!(idx.conn.is_autocommit(), "the snapshot ended");
        // The next snapshot's data_version differs, so the new postings are loaded.
        let after = idx
            .in_snapshot(|idx| {
                idx.data_version()?;
                idx.search("time", 10, None)
            })
            .unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(idx.search("time", 10, None).unwrap().len(), 2);
        // An error inside ends the transaction too, and is the one returned.
        let err = idx.in_snapshot(|idx| idx.search("   ", 10, None));
        assert!(matches!(err, Err(ScryError::EmptyQuery)));
        assert!(idx.conn.is_autocommit());
        assert_eq!(idx.fast_searches(), 4);
    }

    #[test]
    fn slow_query_is_interrupted_at_its_deadline_and_the_index_stays_usable() {
        let t = indexed_project();
        let mut idx = Index::open(t.path()).unwrap();
        // Counting to 10^12 takes hours; only the progress handler can end it.
        let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                    WHERE x < 1000000000000) SELECT count(*) FROM c";
        let start = Instant::now();
        let r = idx.run_sql_with_deadline(slow, Some(start + Duration::from_millis(100)));
        let took = start.elapsed();
        assert!(matches!(r, Err(ScryError::Deadline)), "{r:?}");
        assert!(took < Duration::from_secs(2), "interrupted after {took:?}");
        assert!(
            took >= Duration::from_millis(100),
            "stopped early: {took:?}"
        );
        // The hook is disarmed: the next statement runs to completion.
        let quick = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                     WHERE x < 100000) SELECT count(*) FROM c";
        assert_eq!(idx.run_sql_with_deadline(quick, None).unwrap(), 100_000);
        let hits = idx.search("deadline", 10, None).unwrap();
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn deadline_in_the_past_fails_at_once_and_next_search_works() {
        let t = indexed_project();
        let mut idx = Index::open(t.path()).unwrap();
        let past = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(
            idx.search("search", 10, Some(past)),
            Err(ScryError::Deadline)
        ));
        let future = Instant::now() + Duration::from_secs(10);
        assert_eq!(idx.search("search", 10, Some(future)).unwrap().len(), 1);
    }

    #[test]
    fn an_index_can_move_to_a_worker_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Index>();
    }

    #[test]
    fn limits() {
        assert_eq!(effective_limit(0), DEFAULT_LIMIT);
        assert_eq!(effective_limit(5), 5);
        assert_eq!(effective_limit(99_999), MAX_LIMIT);
    }

    #[test]
    fn missing_or_uncommitted_index_is_no_index() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(Index::open(t.path()), Err(ScryError::NoIndex(_))));
        std::fs::create_dir(t.path().join(".patina")).unwrap();
        // An index file no scrape ever committed to (first scrape killed).
        drop(db::open_for_write(&crate::paths::project_index_path(t.path())).unwrap());
        let e = Index::open(t.path()).unwrap_err();
        assert!(matches!(e, ScryError::NoIndex(_)), "{e}");
        assert!(e.to_string().contains("patina scrape"));
    }

    #[test]
    fn garbage_index_is_an_index_error_naming_the_file() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".patina")).unwrap();
        std::fs::write(crate::paths::project_index_path(t.path()), vec![b'x'; 4096]).unwrap();
        let e = Index::open(t.path()).unwrap_err();
        assert!(matches!(e, ScryError::Index { .. }), "{e}");
        assert!(e.to_string().contains("index.db"), "{e}");
    }
}
