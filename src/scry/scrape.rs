//! The scrape: walk a project, split every text file into rows, and bring
//! `<project>/.patina/index.db` up to date in one transaction. Depends on `ignore`, `sha2`,
//! `rusqlite`, [`crate::paths`], [`crate::fsutil`], [`crate::limits`] and the splitters of this
//! module.
//!
//! What is indexed (see [`scrape_with_progress`] for the counts):
//!
//! - every file the `ignore` crate's walk yields: `.gitignore`, `.ignore`, `.git/info/exclude`
//!   and the global git excludes are respected even outside a git repository; hidden files
//!   are included (git does not ignore them); `.git` and `.patina` are never entered; symbolic
//!   links are not followed.
//! - markdown (`.md`, `.markdown`) is split into sections at its headings
//!   ([`super::sections::split_markdown`]); its kind is its front matter's `type`, else the
//!   folder under the knowledge root (`core` → `core`, `surface` → `surface`, `sessions` →
//!   `session`), else `doc`. The knowledge root is `layer/` when the project has one, else the
//!   project itself (a bare folder of notes). Markdown outside `layer/` is split the same way,
//!   with kind `doc` unless its front matter says otherwise.
//! - source files of Rust, Python, JavaScript, TypeScript and Go are cut at symbol
//!   boundaries ([`super::symbols::split_symbols`]): each row titled with its symbol path,
//!   kind `definition`, `test` or `code`.
//! - every other text file is cut into [`super::sections::CODE_WINDOW_LINES`]-line windows
//!   with kind `code`.
//! - files larger than [`MAX_FILE_BYTES`] are skipped unread; files with a NUL byte in their
//!   first [`BINARY_SNIFF_BYTES`] are skipped as binary; other bytes that are not UTF-8 are
//!   decoded lossily (U+FFFD), and names that are not UTF-8 are kept with `\xNN` escapes
//!   (a backslash of a name is written `\\`, so no two names share a spelling).
//!   Symbolic links are never followed and FIFOs never opened; credential files
//!   ([`is_credential_file`]: `.env`, private keys, `.netrc`, Terraform state…) are never
//!   read, whatever the ignore files say; every entry left out is named,
//!   with why, in [`ScrapeSummary::skipped_files`]. (An index made before this rule keeps a
//!   Latin-1 file as binary until the file changes.)
//!
//! Incremental: a file is not read again when its size and mtime equal the stored ones and
//! its mtime is more than [`RACY_SLACK_NS`] older than the scrape that last hashed it (git's
//! "racily clean" rule: a file modified in the same clock tick as it was read is hashed again
//! next time). Otherwise it is read and hashed with SHA-256; an unchanged hash only refreshes
//! the stored size and mtime. So a rewrite that keeps both the size and an old mtime (`touch
//! -r`, some archive extractors) goes unnoticed until the file changes again.

use super::db;
use super::sections::{self, Section};
use super::symbols;
use super::{ScrapeSummary, SkippedFile};
use crate::{fsutil, paths};
use rusqlite::{Connection, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Files larger than this (bytes) are skipped without being read: no knowledge note or source
/// file is that big, and logs, dumps and bundles that are would drown the index.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A file with a NUL byte among its first this many bytes is binary (git's heuristic).
pub const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// A file whose mtime is within this many nanoseconds of (or after) the start of the scrape
/// that hashed it is hashed again, whatever its size and mtime: file systems stamp mtimes
/// with a coarse clock (a jiffy on Linux, seconds on some), so an edit right after that read
/// could keep the same mtime.
pub const RACY_SLACK_NS: i64 = 2_000_000_000;

/// Names never entered by the walk, at any depth: git's own data and patina's state.
const SKIP_NAMES: [&str; 2] = [".git", ".patina"];

/// How `.patina/` is hidden from git: a `.gitignore` inside it that ignores everything,
/// itself included, but the files of a shared project vault (requirements §3: encrypted to
/// every team member, so it may be committed). Git reads an ignore file that ignores itself,
/// so a project without a shared vault shows nothing under `.patina/` in `git status`, and
/// the project's own `.gitignore` (a tracked file of the user's) is never touched.
const STATE_GITIGNORE: &str = "# patina: the index is local; a shared project vault may be committed.\n*\n!vault.age\n!recipients.txt\n!secrets.toml\n";

/// Status of a row in `files`.
const INDEXED: &str = "indexed";
const BINARY: &str = "binary";
const HUGE: &str = "huge";

/// What the index knew about a file before this scrape.
struct Known {
    id: i64,
    size: i64,
    mtime_ns: i64,
    sha256: Option<Vec<u8>>,
    status: String,
    scraped_ns: i64,
    first_row: i64,
    rows: i64,
}

/// A regular file the walk yielded.
struct Found {
    rel: String,
    abs: PathBuf,
    size: u64,
    mtime_ns: i64,
}

/// Indexes the project at `root` into `<root>/.patina/index.db`; see [`scrape_with_progress`].
pub fn scrape(root: &Path) -> Result<ScrapeSummary, ScrapeError> {
    scrape_with_progress(root, None)
}

/// Indexes the project at `root` into `<root>/.patina/index.db`, calling `progress(done,
/// total)` (counts of files) after each file when given.
///
/// Creates `<root>/.patina/` with mode 0700 (refusing a symlink, another owner or a loose
/// mode there) holding a `.gitignore` of `*`, and, when `<root>/.git` exists, adds `.patina/`
/// to `<root>/.gitignore` unless an equivalent line is there. Concurrent scrapes of one
/// project are serialized by a lock file (`.patina/scrape.lock`); the whole update is one
/// SQLite transaction, so a crash or `kill -9` leaves the previous index as it was, and
/// readers (the daemon) see either the old index or the new one. The index file is never
/// deleted or replaced.
///
/// Errors (one line, naming the path): `root` missing or not a directory, `.patina/`
/// unusable, the index unreadable (not a database, corrupt, locked beyond
/// [`db::BUSY_TIMEOUT`]), or a write failure. A file that cannot be read is not an error: it
/// is counted in `skipped_unreadable` and left out of the index.
pub fn scrape_with_progress(
    root: &Path,
    progress: Option<&mut dyn FnMut(u64, u64)>,
) -> Result<ScrapeSummary, ScrapeError> {
    scrape_inner(root, progress, None, None, true)
}

/// [`scrape`], also giving every directory the walk entered (the project itself first;
/// ignored directories, `.git` and `.patina` are not entered): what a watcher of the
/// project must watch to see every change a scrape would index.
pub fn scrape_with_dirs(root: &Path) -> Result<(ScrapeSummary, Vec<PathBuf>), ScrapeError> {
    let mut dirs = Vec::new();
    let summary = scrape_inner(root, None, Some(&mut dirs), None, true)?;
    Ok((summary, dirs))
}

/// [`scrape_with_dirs`] for a caller whose own whole scrape of this index has just checked
/// its postings: they are trusted as they are, as a scoped scrape trusts them, instead of
/// being read whole again by `postings::sound` (~70% of a no-op scrape's instructions on
/// the 100 MB corpus, performance.md). The daemon's watcher uses it for its second walk at
/// start (after adding its watches, for the files made meanwhile), a second after the first.
pub(crate) fn rescrape_with_dirs(
    root: &Path,
) -> Result<(ScrapeSummary, Vec<PathBuf>), ScrapeError> {
    let mut dirs = Vec::new();
    let summary = scrape_inner(root, None, Some(&mut dirs), None, false)?;
    Ok((summary, dirs))
}

/// What [`scrape_paths`] did.
#[derive(Debug, Clone)]
pub struct ScopedScrape {
    /// Its counts, for the files under the scopes only (or for the whole project when it
    /// scraped everything).
    pub summary: ScrapeSummary,
    /// The directories the walk entered under the scopes (all of them when it scraped
    /// everything).
    pub dirs: Vec<PathBuf>,
    /// The scopes looked at again (absolute); `None` when it scraped everything.
    pub scopes: Option<Vec<PathBuf>>,
}

/// Brings the index up to date for the paths in `changed` only (absolute, under `root`;
/// files or directories, present or gone, as a watcher reports them): each is looked up
/// again with the ignore rules of its parents, a directory walked whole, and the index's
/// files at or under each path that are gone or now ignored are removed. The cost grows
/// with the paths and what lies under them, not with the project. A path that is `root`
/// itself, or an ignore file (`.gitignore`, `.ignore`) of `root`, or an index of another
/// schema makes it scrape everything ([`scrape_with_dirs`]); an ignore file elsewhere makes
/// its directory the scope. Same lock, transaction and errors as [`scrape`].
pub fn scrape_paths(root: &Path, changed: &[PathBuf]) -> Result<ScopedScrape, ScrapeError> {
    let mut scopes: Vec<PathBuf> = Vec::new();
    let mut everything = changed.is_empty();
    for p in changed {
        let scope = match p.file_name().and_then(|n| n.to_str()) {
            Some(".gitignore" | ".ignore") => p.parent().unwrap_or(root).to_path_buf(),
            _ => p.clone(),
        };
        if scope == root || !scope.starts_with(root) {
            everything = true;
            break;
        }
        scopes.push(scope);
    }
    let current = db::open_for_read(&paths::project_index_path(root))
        .is_ok_and(|(_, v)| v == db::SCHEMA_VERSION);
    if everything || !current {
        let (summary, dirs) = scrape_with_dirs(root)?;
        return Ok(ScopedScrape {
            summary,
            dirs,
            scopes: None,
        });
    }
    // Only the outermost of nested scopes.
    scopes.sort();
    scopes.dedup();
    let mut outer: Vec<PathBuf> = Vec::new();
    for s in scopes {
        if !outer.last().is_some_and(|o| s.starts_with(o)) {
            outer.push(s);
        }
    }
    let mut dirs = Vec::new();
    let summary = scrape_inner(root, None, Some(&mut dirs), Some(&outer), false)?;
    Ok(ScopedScrape {
        summary,
        dirs,
        scopes: Some(outer),
    })
}

fn scrape_inner(
    root: &Path,
    mut progress: Option<&mut dyn FnMut(u64, u64)>,
    dirs: Option<&mut Vec<PathBuf>>,
    scopes: Option<&[PathBuf]>,
    check_postings: bool,
) -> Result<ScrapeSummary, ScrapeError> {
    let started = Instant::now();
    let started_ns = unix_nanos(SystemTime::now());
    let md = fs::metadata(root).map_err(|error| ScrapeError::Root {
        path: root.to_path_buf(),
        error,
    })?;
    if !md.is_dir() {
        return Err(ScrapeError::NotADirectory(root.to_path_buf()));
    }

    let state = paths::project_state_dir(root);
    fsutil::ensure_private_dir(&state)?;
    hide_state_dir(&state)?;
    let _lock = fsutil::lock_exclusive(&state.join("scrape.lock"))?;

    let index_path = paths::project_index_path(root);
    // SQLite follows a symlink: a dangling `index.db` link (a cloned repository can ship
    // one) would create the index at its target with the default mode, a link to another
    // database would get the index's tables (QA session 9, L10). Refused, nothing written.
    if fs::symlink_metadata(&index_path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(fsutil::FsError::Symlink(index_path).into());
    }
    let mut conn = db::open_for_write(&index_path).map_err(|e| index_error(&index_path, e))?;
    if let Some((wal, bound)) = db::wal_past_bound(&conn, &index_path) {
        return Err(ScrapeError::WalPastBound {
            path: index_path,
            wal,
            bound,
        });
    }
    let (found, walk_skips) = match scopes {
        Some(scopes) => walk_scopes(root, scopes, dirs),
        None => walk(root, dirs),
    };
    // Symbolic links and FIFOs are named but not counted as files (they are not indexable);
    // walk errors count as unreadable files.
    let walk_errors = walk_skips
        .iter()
        .filter(|k| k.reason.starts_with("unreadable"))
        .count() as u64;

    let mut summary = ScrapeSummary {
        files: found.len() as u64 + walk_errors,
        skipped_unreadable: walk_errors,
        ..ScrapeSummary::default()
    };
    for k in walk_skips {
        note_skip(&mut summary, k.path, k.reason);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| index_error(&index_path, e))?;
    let recreated = db::ensure_schema(&tx).map_err(|e| index_error(&index_path, e))?;
    // A schema changed since `scrape_paths` looked: the scoped walk would leave the new
    // tables with the scopes' files only. Roll back; the caller scrapes everything.
    if recreated && scopes.is_some() {
        return Err(ScrapeError::SchemaChanged(index_path));
    }
    // A scoped scrape knows only the files under its scopes (an index of another schema
    // was sent to a whole scrape by `scrape_paths`).
    let mut known = match scopes {
        Some(scopes) => {
            let rels: Vec<String> = scopes.iter().map(|p| relative(root, p)).collect();
            load_known_under(&tx, &rels)
        }
        _ => load_known(&tx),
    }
    .map_err(|e| index_error(&index_path, e))?;
    // Removed rows are copied aside for the postings' update (temporary tables).
    tx.execute_batch(super::postings::CREATE_TEMP)
        .map_err(|e| index_error(&index_path, e))?;
    let mut next_row: i64 =
        super::postings::next_rowid(&tx).map_err(|e| index_error(&index_path, e))?;
    let first_new_row = next_row;
    let knowledge = root.join("layer").is_dir().then_some("layer/");
    // A new index: its postings are built while the rows are written (`postings::Fed`).
    let mut fed = recreated.then(super::postings::Fed::new);

    let total = found.len() as u64;
    // What the index knew about each file found; those left in `known` are gone.
    let olds: Vec<Option<Known>> = found.iter().map(|f| known.remove(&f.rel)).collect();
    // The files to read again (the others are unchanged by size and mtime): read, hashed
    // and split on other threads, written here in path order.
    let reread: Vec<usize> = (0..found.len())
        .filter(|&i| !unchanged_by_stat(&found[i], olds[i].as_ref()))
        .collect();
    let threads = scrape_threads(reread.len());
    // The rows written for each source file parsed (walk index → first rowid, count), for
    // its twins ([`Prepared::Twin`]).
    let mut parsed: HashMap<usize, (i64, i64)> = HashMap::new();
    // A new index's rows are tokenized for its postings where they are prepared, off this
    // thread (`postings::FileTokens`): then this thread only writes.
    let tokenize = fed.is_some();
    prepared_in_order(
        &found,
        &olds,
        &reread,
        knowledge,
        threads,
        tokenize,
        |next| {
            for (i, f) in found.iter().enumerate() {
                let old = olds[i].as_ref();
                if unchanged_by_stat(f, old) {
                    if let Some(o) = old {
                        count(&mut summary, &o.status, &f.rel);
                    }
                } else {
                    let indexing = |error| ScrapeError::Indexing {
                        path: f.abs.clone(),
                        error,
                    };
                    // A twin takes the rows written for its earlier file.
                    let mut prepared = match next() {
                        Prepared::Twin {
                            read,
                            hash,
                            of,
                            text,
                        } => match parsed.get(&of) {
                            Some(&(first, n)) => Prepared::Text {
                                read,
                                hash,
                                rows: read_rows(&tx, first, n).map_err(indexing)?,
                                tokens: None,
                            },
                            None => Prepared::Twin {
                                read,
                                hash,
                                of,
                                text,
                            },
                        },
                        p => p,
                    };
                    let source =
                        matches!(prepared, Prepared::Text { .. }) && symbols::has_grammar(&f.rel);
                    let tokens = match &mut prepared {
                        Prepared::Text { tokens, .. } => tokens.take(),
                        _ => None,
                    };
                    let first = next_row;
                    let rows = write_file(
                        &tx,
                        f,
                        old,
                        prepared,
                        started_ns,
                        &mut next_row,
                        &mut summary,
                    )
                    .map_err(indexing)?;
                    if source {
                        parsed.insert(i, (first, next_row - first));
                    }
                    if let (Some(fed), Some(rows)) = (fed.as_mut(), rows) {
                        match tokens {
                            Some(t) if t.rows() == rows.len() => fed.add_file(first, &t),
                            // A twin's rows copied here: tokenized on this thread.
                            _ => {
                                for (row, r) in (first..).zip(&rows) {
                                    fed.add(row, [&r.title, &r.headings, &r.body, &r.idents]);
                                }
                            }
                        }
                    }
                }
                if let Some(p) = progress.as_mut() {
                    p(i as u64 + 1, total);
                }
            }
            Ok::<(), ScrapeError>(())
        },
    )?;
    for old in known.values() {
        delete_file(&tx, old).map_err(|e| index_error(&index_path, e))?;
        summary.removed += 1;
    }
    summary.sections = tx
        .query_row(
            "SELECT coalesce(sum(rows), 0) FROM files WHERE status = ?1",
            [INDEXED],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| index_error(&index_path, e))? as u64;
    // Rows were added (new rowids) or removed: the postings follow, in the same transaction,
    // by a batch of those rows only (or rebuilt whole when their bounds say so). A whole
    // scrape first checks that the postings it would add a batch to are whole, and rebuilds
    // damaged ones from `docs` (nothing is lost: the rows are the truth, the postings are
    // derived from them); a scoped scrape (the watcher's) does not pay for that check, nor
    // does the watcher's second walk at start (`rescrape_with_dirs`).
    let damaged = !recreated
        && check_postings
        && !super::postings::sound(&tx).map_err(|e| index_error(&index_path, e))?;
    if let Some(fed) = fed {
        fed.write(&tx).map_err(|e| index_error(&index_path, e))?;
    } else if damaged {
        super::postings::rebuild(&tx).map_err(|e| index_error(&index_path, e))?;
        summary.repaired_postings = damaged;
    } else {
        super::postings::update(&tx, first_new_row).map_err(|e| index_error(&index_path, e))?;
    }
    tx.commit().map_err(|e| index_error(&index_path, e))?;
    db::checkpoint_after_scrape(&conn);
    summary.skipped = summary.skipped_binary + summary.skipped_huge + summary.skipped_unreadable;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Why a scrape failed. One line each, naming the path (and the fix when there is one);
/// never file content.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The project directory cannot be read.
    #[error("project directory {}: {error}", path.display())]
    Root {
        /// The project directory.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The project path is not a directory.
    #[error("project directory {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// `.patina/` is unusable (loose, foreign, a symlink) or a file in it cannot be written.
    #[error(transparent)]
    Fs(#[from] fsutil::FsError),
    /// The index file failed (not a database, corrupt, locked, disk full); `hint` is the fix
    /// when there is one (with its leading space).
    #[error("index {}: {error}{hint}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// SQLite's error (it names no indexed content).
        error: rusqlite::Error,
        /// What to do, or empty.
        hint: &'static str,
    },
    /// A scoped scrape found the index of another schema (changed since it looked): the
    /// whole project must be scraped.
    #[error(
        "index {}: its schema changed during the scrape; scrape the whole project",
        .0.display()
    )]
    SchemaChanged(PathBuf),
    /// The index's `-wal` file is past its bound (twice the index plus 4 MiB) because another
    /// process holds an old read snapshot of the index: scraping now would grow it further
    /// (case 030 d). Nothing was written.
    #[error(
        "index {}: its write-ahead log ({} MB) is past its bound ({} MB) because another \
         process holds an old read snapshot of the index; end that reader (an open \
         transaction of `sqlite3` or another tool) and run `patina scrape` again \
         (the index is unchanged)",
        path.display(),
        wal / 1_000_000,
        bound / 1_000_000
    )]
    WalPastBound {
        /// The index file.
        path: PathBuf,
        /// The `-wal` file's size, bytes.
        wal: u64,
        /// Its bound, bytes.
        bound: u64,
    },
    /// Writing one file's rows failed.
    #[error("indexing {}: {error}", path.display())]
    Indexing {
        /// The file being indexed.
        path: PathBuf,
        /// SQLite's error.
        error: rusqlite::Error,
    },
}

/// The one-line error for a failure on the index file, with the fix when there is one.
fn index_error(path: &Path, e: rusqlite::Error) -> ScrapeError {
    let hint = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
            " (it is only a cache: remove it and run `patina scrape` again)"
        }
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            " (another process holds it locked)"
        }
        // SQLite reports a full disk as SQLITE_FULL, or as a bare "disk I/O error" when the
        // write that failed was to its WAL or shared memory: say which it was.
        Some(rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure)
            if crate::fsutil::no_space_left(path) =>
        {
            " (No space left on device: free some space and run `patina scrape` again; \
             the previous index is unchanged)"
        }
        _ => "",
    };
    ScrapeError::Index {
        path: path.to_path_buf(),
        error: e,
        hint,
    }
}

/// Keeps `.patina/` out of git with `.patina/.gitignore` ([`STATE_GITIGNORE`]); writes
/// nothing when it is already in place. Nothing outside `.patina/` is written.
fn hide_state_dir(state: &Path) -> Result<(), ScrapeError> {
    let inner = state.join(".gitignore");
    if fs::read(&inner).ok().as_deref() != Some(STATE_GITIGNORE.as_bytes()) {
        fsutil::write_atomic(&inner, STATE_GITIGNORE.as_bytes())?;
    }
    Ok(())
}

/// The walk's settings, from `dir`: ignore files respected (also those of `dir`'s parents),
/// hidden files included, links not followed, `.git` and `.patina` never entered.
fn walker(dir: &Path) -> ignore::WalkBuilder {
    let mut b = ignore::WalkBuilder::new(dir);
    b.hidden(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|e| e.depth() == 0 || !SKIP_NAMES.iter().any(|n| e.file_name() == *n));
    b
}

/// Walks the project: the regular files to consider, sorted by relative path (and, into
/// `dirs` when given, the directories entered), and the entries left out with why (walk
/// errors, symbolic links, FIFOs and other non-files; links are never followed, so no loop
/// and nothing outside the project is read).
fn walk(root: &Path, dirs: Option<&mut Vec<PathBuf>>) -> (Vec<Found>, Vec<SkippedFile>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    collect(root, walker(root).build(), &mut found, &mut skipped, dirs);
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    (found, skipped)
}

/// What [`walk`] would yield under each of `scopes` (absolute paths under `root`, each a file
/// or a directory, present or gone): one walk from `root` that enters only the directories on
/// the way to a scope and everything under one, so every ignore rule a whole walk applies on
/// the way down applies, each directory on the way is listed once, and its ignore files are
/// read once (a walk started at each level re-read every parent's: cubic in the depth, a
/// minute for one file 1,000 directories deep, QA session 11). A scope gone or ignored
/// yields nothing. Sorted and without duplicates; `dirs` gets the directories entered (the
/// ones on the way included, all watched already).
fn walk_scopes(
    root: &Path,
    scopes: &[PathBuf],
    dirs: Option<&mut Vec<PathBuf>>,
) -> (Vec<Found>, Vec<SkippedFile>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    // The outermost scopes only, so the one before a path in order is the only candidate to
    // hold it.
    let mut sorted: Vec<PathBuf> = scopes.to_vec();
    sorted.sort();
    let mut outer: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
    for s in sorted {
        let held = outer.iter().next_back().is_some_and(|o| s.starts_with(o));
        if !held {
            outer.insert(s);
        }
    }
    let mut b = walker(root);
    b.filter_entry(move |e| on_the_way(&outer, e.path()));
    collect(root, b.build(), &mut found, &mut skipped, dirs);
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    found.dedup_by(|a, b| a.rel == b.rel);
    (found, skipped)
}

/// Whether `path` is one of the (outermost, ordered) `scopes`, lies under one, or is a
/// directory above one: O(log n).
fn on_the_way(scopes: &std::collections::BTreeSet<PathBuf>, path: &Path) -> bool {
    use std::ops::Bound::{Included, Unbounded};
    let at_or_under = scopes
        .range::<Path, _>((Unbounded, Included(path)))
        .next_back()
        .is_some_and(|s| path.starts_with(s));
    at_or_under
        || scopes
            .range::<Path, _>((Included(path), Unbounded))
            .next()
            .is_some_and(|s| s.starts_with(path))
}

/// The path a walk error is about, if it names one, and the error itself without the path:
/// `ignore` wraps an I/O error in the path and the depth, and its message repeats the path
/// (a path past `PATH_MAX` made a reason of 9 KB holding it twice, QA session 11).
fn walk_error(e: &ignore::Error) -> (Option<&Path>, String) {
    match e {
        ignore::Error::WithPath { path, err } => (Some(path), walk_error(err).1),
        ignore::Error::WithDepth { err, .. } => walk_error(err),
        // A `walkdir` error turned into an I/O error: its message names the path again; the
        // OS error under it does not.
        ignore::Error::Io(io) => {
            let under = io.get_ref().and_then(std::error::Error::source);
            (
                None,
                under.map_or_else(|| io.to_string(), ToString::to_string),
            )
        }
        other => (None, other.to_string()),
    }
}

/// Sorts the entries of `walk` into files found, entries skipped with why, and directories
/// entered.
fn collect(
    root: &Path,
    walk: impl Iterator<Item = Result<ignore::DirEntry, ignore::Error>>,
    found: &mut Vec<Found>,
    skipped: &mut Vec<SkippedFile>,
    mut dirs: Option<&mut Vec<PathBuf>>,
) {
    for entry in walk {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let (path, why) = walk_error(&e);
                skipped.push(SkippedFile {
                    path: path.map(|p| relative(root, p)).unwrap_or_default(),
                    reason: format!("unreadable: {why}"),
                });
                continue;
            }
        };
        let rel = relative(root, entry.path());
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            if let Some(d) = dirs.as_deref_mut() {
                d.push(entry.path().to_path_buf());
            }
            continue;
        }
        if ft.is_symlink() {
            skipped.push(SkippedFile {
                path: rel,
                reason: "a symbolic link (not followed)".into(),
            });
            continue;
        }
        if !ft.is_file() {
            skipped.push(SkippedFile {
                path: rel,
                reason: "not a regular file (FIFO, socket or device; never opened)".into(),
            });
            continue;
        }
        if is_credential_file(&rel) {
            skipped.push(SkippedFile {
                path: rel,
                reason: CREDENTIAL_REASON.into(),
            });
            continue;
        }
        let md = match entry.metadata() {
            Ok(md) => md,
            Err(e) => {
                skipped.push(SkippedFile {
                    path: rel,
                    reason: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        found.push(Found {
            rel,
            abs: entry.path().to_path_buf(),
            size: md.len(),
            mtime_ns: md.mtime().saturating_mul(1_000_000_000) + md.mtime_nsec(),
        });
    }
}

/// `path` relative to `root`, `/`-separated; bytes of a name that are not UTF-8 are written
/// `\xNN` and a backslash `\\`, so such a file is indexed and shown, and the spelling is
/// one-to-one: no two names share it (QA session 11: a name with the byte 0xFF and one
/// spelled `a\xff.rs` were one file to the index, and each scrape left rows behind).
fn relative(root: &Path, path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::new();
    for (i, c) in rel.components().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for chunk in c.as_os_str().as_bytes().utf8_chunks() {
            let valid = chunk.valid();
            if valid.contains('\\') {
                out.push_str(&valid.replace('\\', "\\\\"));
            } else {
                out.push_str(valid);
            }
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

fn load_known(conn: &Connection) -> rusqlite::Result<HashMap<String, Known>> {
    let mut stmt = conn.prepare(
        "SELECT id, path, size, mtime_ns, sha256, status, scraped_ns, first_row, rows FROM files",
    )?;
    let rows = stmt.query_map([], known_row)?;
    rows.collect()
}

/// The known files at or under each of `rels` (relative paths): `rel` itself, and the paths
/// from `rel/` up to `rel0` (`0` follows `/` in byte order), by the `path` index.
fn load_known_under(
    conn: &Connection,
    rels: &[String],
) -> rusqlite::Result<HashMap<String, Known>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, path, size, mtime_ns, sha256, status, scraped_ns, first_row, rows FROM files
         WHERE path = ?1 OR (path >= ?1 || '/' AND path < ?1 || '0')",
    )?;
    let mut out = HashMap::new();
    for rel in rels {
        for row in stmt.query_map([rel], known_row)? {
            let (path, k) = row?;
            out.insert(path, k);
        }
    }
    Ok(out)
}

/// One row of `files` as (path, [`Known`]).
fn known_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Known)> {
    Ok((
        r.get::<_, String>(1)?,
        Known {
            id: r.get(0)?,
            size: r.get(2)?,
            mtime_ns: r.get(3)?,
            sha256: r.get(4)?,
            status: r.get(5)?,
            scraped_ns: r.get(6)?,
            first_row: r.get(7)?,
            rows: r.get(8)?,
        },
    ))
}

/// What reading a file gave.
enum Content {
    Binary,
    Text(String),
}

/// One file made ready for the index off the writing thread ([`prepare`]): read, hashed and
/// split into rows, or why not. `read` is the bytes read (for the summary).
enum Prepared {
    /// It could not be read now (permissions, vanished mid-walk).
    Unreadable,
    /// Larger than [`MAX_FILE_BYTES`] (by its `stat`, or grown since).
    Huge { read: u64 },
    /// Its content hashes to the stored hash: only the quick-check fields change.
    Same { read: u64 },
    /// A NUL byte near its start.
    Binary { read: u64, hash: Vec<u8> },
    /// Text, cut into the rows to insert; with their tokens when the scrape feeds a new
    /// index's postings ([`super::postings::FileTokens`], made on the preparing thread).
    Text {
        read: u64,
        hash: Vec<u8>,
        rows: Vec<RowText>,
        tokens: Option<super::postings::FileTokens>,
    },
    /// Source text equal to an earlier file's of this scrape, the one at index `of` of the
    /// walk, which has the same file name and the same test-file rule ([`Twins`]): its rows
    /// are that file's rows, copied by the writer instead of parsed again. `text` is kept in
    /// case that file's rows are not there (then it is split here after all).
    Twin {
        read: u64,
        hash: Vec<u8>,
        of: usize,
        text: String,
    },
}

/// Source files of one scrape that share their content, for [`Prepared::Twin`]: a crate's
/// file unchanged between two of its versions is parsed once (on the ~100 MB registry
/// corpus, 7.0 of 70.9 MB of `.rs`). A file's rows are a function of its text, its file name
/// (the titles, the grammar) and whether its path makes it a test file
/// ([`symbols::is_test_file`]), and of nothing else ([`split_rows`] for a file with a
/// grammar), so those three are the key; the value is the lowest index (walk order) of a
/// file parsed with that key, which the writer reaches first.
#[derive(Default)]
struct Twins(std::sync::Mutex<HashMap<TwinKey, usize>>);

/// A [`Twins`] key: SHA-256 of the text, file name, whether the path makes a test file.
type TwinKey = (Vec<u8>, String, bool);

impl Twins {
    /// The earlier file (index below `i`) whose rows the file `i` may copy, or `None` when
    /// `i` must be parsed (and is then remembered for the files after it). Only files with a
    /// grammar take part: the others are cheap to split.
    fn earlier(&self, i: usize, rel: &str, hash: &[u8]) -> Option<usize> {
        if !symbols::has_grammar(rel) {
            return None;
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let key = (hash.to_vec(), name.to_string(), symbols::is_test_file(rel));
        // A poisoned lock (a thread panicked while it held it): every file is parsed.
        let mut seen = self.0.lock().ok()?;
        match seen.get(&key) {
            Some(&first) if first < i => Some(first),
            _ => {
                seen.insert(key, i);
                None
            }
        }
    }
}

/// One row of `docs`, as inserted ([`super::db`] names the columns).
struct RowText {
    /// The indexed `title`: the file's title on its first row, else empty.
    title: String,
    headings: String,
    body: String,
    /// `doc_title`: the document title, or the code row's symbol path or file name.
    doc_title: String,
    kind: String,
    line: i64,
    /// The words of a code body's camelCase identifiers; empty for notes.
    idents: String,
}

/// Whether the stored state of a file is still right by its size and mtime alone (and the
/// racy-clean rule, module docs): then it is not read.
fn unchanged_by_stat(f: &Found, old: Option<&Known>) -> bool {
    let size = i64::try_from(f.size).unwrap_or(i64::MAX);
    old.is_some_and(|o| {
        o.size == size
            && o.mtime_ns == f.mtime_ns
            && f.mtime_ns.saturating_add(RACY_SLACK_NS) < o.scraped_ns
    })
}

/// Reads, hashes and splits one file, the walk's `i`-th (no database work, so it runs on
/// any thread). `old_hash` is the stored hash: a file that still hashes to it is not split;
/// nor is a source file whose text an earlier file of this scrape had ([`Twins`]). With
/// `tokenize`, a file's rows come with their tokens.
fn prepare(
    i: usize,
    f: &Found,
    old_hash: Option<&[u8]>,
    knowledge: Option<&str>,
    twins: &Twins,
    tokenize: bool,
) -> Prepared {
    if f.size > MAX_FILE_BYTES {
        return Prepared::Huge { read: 0 };
    }
    let Ok(bytes) = read_capped(&f.abs) else {
        return Prepared::Unreadable;
    };
    let read = bytes.len() as u64;
    if read > MAX_FILE_BYTES {
        return Prepared::Huge { read };
    }
    let hash = Sha256::digest(&bytes).to_vec();
    if old_hash == Some(&hash[..]) {
        return Prepared::Same { read };
    }
    match classify(bytes) {
        Content::Binary => Prepared::Binary { read, hash },
        Content::Text(text) => match twins.earlier(i, &f.rel, &hash) {
            Some(of) => Prepared::Twin {
                read,
                hash,
                of,
                text,
            },
            None => {
                let rows = split_rows(&f.rel, &text, knowledge);
                let tokens = tokenize.then(|| {
                    super::postings::FileTokens::of(
                        rows.iter()
                            .map(|r| [&r.title[..], &r.headings, &r.body, &r.idents]),
                    )
                });
                Prepared::Text {
                    read,
                    hash,
                    rows,
                    tokens,
                }
            }
        },
    }
}

/// Threads to prepare `files` files on: the machine's parallelism, at most
/// [`crate::limits::MAX_SCRAPE_THREADS`] and at most one per file.
fn scrape_threads(files: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(crate::limits::MAX_SCRAPE_THREADS)
        .min(files)
}

/// Calls `write` once with a source of the [`prepare`]d files `reread` (indexes into
/// `found`), each returned in that order by one call of `next`. They are prepared on
/// `threads` threads, each at most [`crate::limits::SCRAPE_AHEAD`] files ahead of `write`,
/// or inline when `threads` ≤ 1. When `write` returns (an error too), the threads stop at
/// their next file. With `tokenize`, text files come with their rows' tokens.
fn prepared_in_order<T>(
    found: &[Found],
    olds: &[Option<Known>],
    reread: &[usize],
    knowledge: Option<&str>,
    threads: usize,
    tokenize: bool,
    write: impl FnOnce(&mut dyn FnMut() -> Prepared) -> T,
) -> T {
    use std::sync::mpsc;
    let twins = Twins::default();
    let one = |i: usize| {
        prepare(
            i,
            &found[i],
            olds[i].as_ref().and_then(|o| o.sha256.as_deref()),
            knowledge,
            &twins,
            tokenize,
        )
    };
    if threads <= 1 {
        let mut files = reread.iter();
        return write(&mut || one(*files.next().expect("one call per file to read again")));
    }
    std::thread::scope(|scope| {
        // Thread `t` prepares files t, t + threads, …, so taking from the threads in turn
        // gives them in order, and each channel's bound is how far its thread runs ahead.
        let mut queues = Vec::with_capacity(threads);
        for t in 0..threads {
            let (send, receive) = mpsc::sync_channel(crate::limits::SCRAPE_AHEAD);
            queues.push(receive);
            let one = &one;
            scope.spawn(move || {
                for &i in reread.iter().skip(t).step_by(threads) {
                    if send.send(one(i)).is_err() {
                        return; // the writer is done (or failed): stop
                    }
                }
            });
        }
        let mut n = 0;
        let mut next = || {
            let i = reread[n];
            // A thread that ended early panicked on a file: preparing it here panics the
            // same way, as a scrape without threads would.
            let p = queues[n % threads].recv().unwrap_or_else(|_| one(i));
            n += 1;
            p
        };
        let out = write(&mut next);
        drop(queues);
        out
    })
}

/// Writes one prepared file: its rows replace the old ones (or its stored state is only
/// refreshed), and it is counted in `s`. Returns the rows inserted (from rowid `*next_row`
/// as it was), if any. A [`Prepared::Twin`] that reaches it (its earlier file's rows were
/// not written) is split here.
fn write_file(
    conn: &Connection,
    f: &Found,
    old: Option<&Known>,
    prepared: Prepared,
    started_ns: i64,
    next_row: &mut i64,
    s: &mut ScrapeSummary,
) -> rusqlite::Result<Option<Vec<RowText>>> {
    let size = i64::try_from(f.size).unwrap_or(i64::MAX);
    let (content, hash) = match prepared {
        Prepared::Unreadable => {
            // Unreadable now: leave it out of the index.
            if let Some(o) = old {
                delete_file(conn, o)?;
            }
            s.skipped_unreadable += 1;
            note_skip(s, f.rel.clone(), "unreadable".into());
            return Ok(None);
        }
        Prepared::Same { read } => {
            s.bytes += read;
            if let Some(o) = old {
                // Same content: refresh what the quick check compares, nothing else.
                conn.prepare_cached(
                    "UPDATE files SET size = ?2, mtime_ns = ?3, scraped_ns = ?4 WHERE id = ?1",
                )?
                .execute(params![o.id, size, f.mtime_ns, started_ns])?;
                count(s, &o.status, &f.rel);
            }
            return Ok(None);
        }
        Prepared::Huge { read } => {
            s.bytes += read;
            (None, None)
        }
        Prepared::Binary { read, hash } => {
            s.bytes += read;
            (Some(None), Some(hash))
        }
        Prepared::Text {
            read, hash, rows, ..
        } => {
            s.bytes += read;
            (Some(Some(rows)), Some(hash))
        }
        Prepared::Twin {
            read, hash, text, ..
        } => {
            // A file with a grammar: its split does not depend on the knowledge root.
            s.bytes += read;
            (Some(Some(split_rows(&f.rel, &text, None))), Some(hash))
        }
    };
    if let Some(o) = old {
        delete_rows(conn, o)?;
    }
    let first_row = *next_row;
    let (status, rows) = match content {
        None => {
            s.skipped_huge += 1;
            note_skip(s, f.rel.clone(), huge_reason());
            (HUGE, None)
        }
        Some(None) => {
            s.skipped_binary += 1;
            note_skip(s, f.rel.clone(), BINARY_REASON.into());
            (BINARY, None)
        }
        Some(Some(rows)) => {
            s.changed += 1;
            (INDEXED, Some(rows))
        }
    };
    let n_rows = rows.as_ref().map_or(0, |r| r.len() as i64);
    let file: i64 = conn
        .prepare_cached(
            "INSERT INTO files(path, size, mtime_ns, sha256, status, scraped_ns, first_row, rows)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(path) DO UPDATE SET size = ?2, mtime_ns = ?3, sha256 = ?4, status = ?5,
               scraped_ns = ?6, first_row = ?7, rows = ?8
             RETURNING id",
        )?
        .query_row(
            params![
                f.rel, size, f.mtime_ns, hash, status, started_ns, first_row, n_rows
            ],
            |r| r.get(0),
        )?;
    if let Some(rows) = rows {
        insert_rows(conn, file, &rows, first_row)?;
        *next_row += n_rows;
        return Ok(Some(rows));
    }
    Ok(None)
}

/// Counts a file whose stored state is still right (a skipped one is named again).
fn count(s: &mut ScrapeSummary, status: &str, rel: &str) {
    match status {
        BINARY => {
            s.skipped_binary += 1;
            note_skip(s, rel.to_string(), BINARY_REASON.into());
        }
        HUGE => {
            s.skipped_huge += 1;
            note_skip(s, rel.to_string(), huge_reason());
        }
        _ => s.unchanged += 1,
    }
}

/// Why a binary file is left out (as listed in [`ScrapeSummary::skipped_files`]).
pub const BINARY_REASON: &str = "binary (a NUL byte near its start)";

fn huge_reason() -> String {
    format!("larger than {} MiB", MAX_FILE_BYTES / (1024 * 1024))
}

/// Names a skipped file in the summary (up to [`crate::scry::MAX_LISTED_SKIPS`]).
fn note_skip(s: &mut ScrapeSummary, path: String, reason: String) {
    if s.skipped_files.len() < crate::scry::MAX_LISTED_SKIPS {
        s.skipped_files.push(SkippedFile { path, reason });
    }
}

/// Why a credential file is left out (threat model, "What scry indexes").
pub const CREDENTIAL_REASON: &str = "a credential file (never indexed)";

/// File names that hold credentials by convention, never indexed: an index holds their text
/// in plain, and scry would serve it whenever no session redacts (threat model, "What scry
/// indexes"). Exact names.
pub const CREDENTIAL_NAMES: &[&str] = &[
    ".env",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".dockercfg",
    ".htpasswd",
    ".envrc",
    ".my.cnf",
    ".s3cfg",
    ".boto",
    ".vault-token",
    "kubeconfig",
    "credentials",
    "credentials.json",
    "client_secret.json",
    "service-account.json",
    "secrets.json",
    "secrets.yaml",
    "secrets.yml",
    "secrets.toml",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    // QA session 9, M4: tools' credential files by their own names.
    ".terraformrc",
    "terraform.rc",
    ".sentryclirc",
    ".yarnrc.yml",
    "kubeconfig.yaml",
    "kubeconfig.yml",
    "service_account.json",
    "application_default_credentials.json",
    "auth.json",
    "token.json",
    "pip.conf",
    "rclone.conf",
    "ngrok.yml",
    "secring.gpg",
    "private.asc",
    // Shell and REPL histories: commands typed with a password or token in them.
    ".bash_history",
    ".zsh_history",
    ".sh_history",
    ".history",
    "fish_history",
    ".psql_history",
    ".mysql_history",
    ".sqlite_history",
    ".python_history",
    ".node_repl_history",
    ".rediscli_history",
    ".irb_history",
];

/// Extensions (after the last `.`) of key stores, private keys and state files that embed
/// secrets.
pub const CREDENTIAL_EXTENSIONS: &[&str] = &[
    "pem", "key", "p12", "pfx", "jks", "keystore", "kdbx", "ppk", "tfstate", "tfvars",
];

/// Files that hold credentials by convention inside a tool's own folder: (folder, name).
pub const CREDENTIAL_FILES_IN: &[(&str, &str)] = &[
    (".docker", "config.json"),
    (".kube", "config"),
    (".aws", "config"),
    (".cargo", "credentials.toml"),
    ("gh", "hosts.yml"),
    (".azure", "accesstokens.json"),
    (".azure", "msal_token_cache.json"),
    (".m2", "settings.xml"),
    (".gradle", "gradle.properties"),
];

/// Folders whose every file is a credential (key rings, password stores).
pub const CREDENTIAL_FOLDERS: &[&str] = &[".gnupg", ".password-store"];

/// Decorations editors and tools add to a file's name when they copy it (`.env~`, `#.env#`,
/// `.env.bak`, `id_rsa.orig`, `.netrc.swp`): a copy of a credential file is one too.
pub const BACKUP_SUFFIXES: &[&str] = &[
    "~", "#", ".bak", ".orig", ".old", ".save", ".swp", ".swo", ".tmp", " (copy)", " copy",
    " - copy",
];

/// Whether the file at `rel` (a path relative to the project, `/`-separated) is a credential
/// file, never indexed: a name of [`CREDENTIAL_NAMES`], `.env.*` and `*.env` (`.env.local`,
/// `prod.env`; but not the committed templates `.env.example`, `.env.sample`,
/// `.env.template`, `.env.dist`), an extension of [`CREDENTIAL_EXTENSIONS`],
/// `*.tfstate.backup`, `*.tfvars.json`, `client_secret*.json`, a file of
/// [`CREDENTIAL_FILES_IN`] or under [`CREDENTIAL_FOLDERS`], or
/// an editor's copy of any of these ([`BACKUP_SUFFIXES`], a leading `#` or `.`-swap prefix).
/// Case-insensitive.
pub fn is_credential_file(rel: &str) -> bool {
    let lower = rel.to_ascii_lowercase();
    let mut parts = lower.rsplit('/');
    let name = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    if lower.split('/').any(|d| CREDENTIAL_FOLDERS.contains(&d))
        || CREDENTIAL_FILES_IN.contains(&(parent, name))
    {
        return true;
    }
    // The name, then the name without each layer of backup decoration.
    let mut n = name;
    loop {
        if credential_name(n) {
            return true;
        }
        let undecorated = BACKUP_SUFFIXES
            .iter()
            .find_map(|suf| n.strip_suffix(suf).filter(|s| !s.is_empty()))
            .or_else(|| n.strip_prefix('#').filter(|s| !s.is_empty()));
        match undecorated {
            Some(shorter) => n = shorter,
            None => return false,
        }
    }
}

/// [`is_credential_file`]'s rules on a bare, lower-case file name.
fn credential_name(lower: &str) -> bool {
    if CREDENTIAL_NAMES.contains(&lower)
        || lower.ends_with(".tfstate.backup")
        || lower.ends_with(".tfvars.json")
        // Google's download name: `client_secret_<id>.apps.googleusercontent.com.json`.
        || (lower.starts_with("client_secret") && lower.ends_with(".json"))
    {
        return true;
    }
    if let Some(rest) = lower.strip_prefix(".env.") {
        return !["example", "sample", "template", "dist", "defaults"].contains(&rest);
    }
    if lower.ends_with(".env") {
        return true;
    }
    lower
        .rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && CREDENTIAL_EXTENSIONS.contains(&ext))
}

/// Reads at most [`MAX_FILE_BYTES`] + 1 bytes (a file may grow after its `stat`).
fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Binary when a NUL byte is among the first [`BINARY_SNIFF_BYTES`] (git's heuristic); any
/// other file is text, decoded lossily: a stray Latin-1 or Windows-1252 byte (`café`,
/// smart quotes) becomes U+FFFD instead of making the whole note "binary" (case 029). A
/// leading UTF-8 byte-order mark is dropped.
fn classify(bytes: Vec<u8>) -> Content {
    if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Content::Binary;
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Content::Text(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Whether `rel` is a markdown file, by extension (case-insensitive).
pub(crate) fn is_markdown(rel: &str) -> bool {
    let ext = rel.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    !ext.contains('/') && (ext.eq_ignore_ascii_case("md") || ext.eq_ignore_ascii_case("markdown"))
}

/// Kind of a markdown file: front matter `type`, else its folder under the knowledge root,
/// else `doc`. `knowledge` is `Some("layer/")` or `None` (the project root is the knowledge
/// root).
pub(crate) fn markdown_kind(rel: &str, fm_type: Option<&str>, knowledge: Option<&str>) -> String {
    if let Some(t) = fm_type.map(str::trim).filter(|t| !t.is_empty()) {
        return t.chars().take(64).collect::<String>().to_lowercase();
    }
    let under = match knowledge {
        Some(prefix) => rel.strip_prefix(prefix),
        None => Some(rel),
    };
    let folder = under
        .and_then(|u| u.split_once('/'))
        .map(|(first, _)| first);
    match folder {
        Some("core") => "core",
        Some("surface") => "surface",
        Some("sessions") => "session",
        _ => "doc",
    }
    .to_string()
}

/// Splits `text` (the file `rel`) into its rows.
fn split_rows(rel: &str, text: &str, knowledge: Option<&str>) -> Vec<RowText> {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    // Each row: its section, its title (every row's `doc_title`) and its kind.
    let (title, rows): (String, Vec<(Section, String, String)>) = if is_markdown(rel) {
        let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
        let doc = sections::split_markdown(text, stem);
        let kind = markdown_kind(rel, doc.front_matter.get("type"), knowledge);
        let rows = doc
            .sections
            .into_iter()
            .map(|s| (s, doc.title.clone(), kind.clone()))
            .collect();
        (doc.title, rows)
    } else if let Some(code) = symbols::split_symbols(rel, text) {
        let rows = code
            .into_iter()
            .map(|r| {
                let title = r.symbol.unwrap_or_else(|| name.to_string());
                (r.section, title, r.kind.to_string())
            })
            .collect();
        (name.to_string(), rows)
    } else {
        let rows = sections::split_code(text)
            .into_iter()
            .map(|s| (s, name.to_string(), symbols::KIND_CODE.to_string()))
            .collect();
        (name.to_string(), rows)
    };
    let code = !is_markdown(rel);
    rows.into_iter()
        .enumerate()
        .map(|(i, (sec, doc_title, kind))| RowText {
            title: if i == 0 { title.clone() } else { String::new() },
            idents: if code {
                symbols::identifier_words(&sec.body)
            } else {
                String::new()
            },
            headings: sec.headings,
            body: sec.body,
            doc_title,
            kind,
            line: sec.line as i64,
        })
        .collect()
}

/// Inserts the rows of the file whose `files.id` is `file`, with ids from `first_row`.
fn insert_rows(
    conn: &Connection,
    file: i64,
    rows: &[RowText],
    first_row: i64,
) -> rusqlite::Result<()> {
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut kind = conn.prepare_cached("INSERT OR IGNORE INTO kinds(name) VALUES (?1)")?;
    for k in kinds {
        kind.execute([k])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO docs(id, file, kind, line, doc_title, title, headings, body, idents)
         VALUES (?1, ?2, (SELECT id FROM kinds WHERE name = ?3), ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (row, r) in (first_row..).zip(rows) {
        stmt.execute(params![
            row,
            file,
            r.kind,
            r.line,
            r.doc_title,
            r.title,
            r.headings,
            r.body,
            r.idents
        ])?;
    }
    Ok(())
}

/// The `n` rows of `docs` from rowid `first`, as they were inserted ([`insert_rows`]).
fn read_rows(conn: &Connection, first: i64, n: i64) -> rusqlite::Result<Vec<RowText>> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.name, d.line, d.doc_title, d.title, d.headings, d.body, d.idents
         FROM docs d JOIN kinds k ON k.id = d.kind WHERE d.id >= ?1 AND d.id < ?2 ORDER BY d.id",
    )?;
    let rows = stmt.query_map(params![first, first + n], |r| {
        Ok(RowText {
            kind: r.get(0)?,
            line: r.get(1)?,
            doc_title: r.get(2)?,
            title: r.get(3)?,
            headings: r.get(4)?,
            body: r.get(5)?,
            idents: r.get(6)?,
        })
    })?;
    rows.collect()
}

fn delete_rows(conn: &Connection, k: &Known) -> rusqlite::Result<()> {
    if k.rows > 0 {
        super::postings::capture_removed(conn, k.first_row, k.first_row + k.rows)?;
        conn.prepare_cached("DELETE FROM docs WHERE rowid >= ?1 AND rowid < ?2")?
            .execute(params![k.first_row, k.first_row + k.rows])?;
    }
    Ok(())
}

fn delete_file(conn: &Connection, k: &Known) -> rusqlite::Result<()> {
    delete_rows(conn, k)?;
    conn.prepare_cached("DELETE FROM files WHERE id = ?1")?
        .execute([k.id])?;
    Ok(())
}

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Looks up one file's stored hash (tests).
#[cfg(test)]
fn stored_hash(conn: &Connection, rel: &str) -> Option<Vec<u8>> {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT sha256 FROM files WHERE path = ?1", [rel], |r| {
        r.get(0)
    })
    .optional()
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    /// A row as one comparable line, every column.
    fn row_line(r: &super::RowText) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            r.title, r.headings, r.body, r.doc_title, r.kind, r.line, r.idents
        )
    }

    #[test]
    fn credential_files_are_known_by_name() {
        for n in [
            ".env",
            ".ENV",
            ".env.local",
            ".env.production",
            "prod.env",
            "id_ed25519",
            "id_rsa",
            "server.pem",
            "tls.KEY",
            "store.p12",
            "main.tfstate",
            "main.tfstate.backup",
            "prod.tfvars",
            ".netrc",
            ".git-credentials",
            "credentials",
            ".npmrc",
            ".envrc",
            ".env~",
            "#.env#",
            ".env.bak",
            "id_rsa.orig",
            ".netrc.swp",
            "deploy/.docker/config.json",
            ".kube/config",
            "home/.aws/credentials",
            ".my.cnf",
            ".s3cfg",
            ".boto",
            ".vault-token",
            "credentials.json",
            "service-account.json",
            "config/secrets.yaml",
            ".streamlit/secrets.toml",
            "secrets.json",
            ".gnupg/private-keys-v1.d/ABC.key",
            ".password-store/site.gpg",
        ] {
            assert!(is_credential_file(n), "{n}");
        }
        for n in [
            ".env.example",
            ".env.sample",
            ".env.template",
            "env.rs",
            "environment.md",
            "id_ed25519.pub",
            "keys.rs",
            "key",
            ".pem",
            "monkey.md",
            "README.md",
            "envy",
            "config.json",
            "kube/config.rs",
            ".docker/Dockerfile",
            "src/secrets.rs",
            "docs/secrets.md",
            "notes.md~",
            "~",
            "#",
        ] {
            assert!(!is_credential_file(n), "{n}");
        }
    }

    use super::*;

    #[test]
    fn kind_comes_from_front_matter_then_folder_then_doc() {
        let l = Some("layer/");
        assert_eq!(
            markdown_kind("layer/core/a.md", Some("Belief"), l),
            "belief"
        );
        assert_eq!(markdown_kind("layer/core/a.md", None, l), "core");
        assert_eq!(markdown_kind("layer/surface/x/y/a.md", None, l), "surface");
        assert_eq!(
            markdown_kind("layer/sessions/a.md", Some("  "), l),
            "session"
        );
        assert_eq!(markdown_kind("layer/a.md", None, l), "doc");
        assert_eq!(markdown_kind("layer/other/a.md", None, l), "doc");
        assert_eq!(markdown_kind("core/a.md", None, l), "doc", "outside layer/");
        assert_eq!(
            markdown_kind("core/a.md", None, None),
            "core",
            "bare notes folder"
        );
        assert_eq!(markdown_kind("sessions/a.md", None, None), "session");
    }

    /// A summary of a prepared file, to compare two ways of preparing.
    fn describe(p: &Prepared) -> String {
        match p {
            Prepared::Unreadable => "unreadable".into(),
            Prepared::Huge { read } => format!("huge {read}"),
            Prepared::Same { read } => format!("same {read}"),
            Prepared::Binary { read, hash } => format!("binary {read} {hash:?}"),
            Prepared::Text {
                read, hash, rows, ..
            } => {
                let rows: Vec<String> = rows.iter().map(row_line).collect();
                format!("text {read} {hash:?} {rows:?}")
            }
            Prepared::Twin { read, hash, of, .. } => format!("twin {read} {hash:?} of {of}"),
        }
    }

    /// Issue 18: a source file whose text, file name and test-file rule an earlier file of
    /// the scrape had is not parsed again (`Prepared::Twin`), and the rows the scrape writes
    /// for every file, copied or parsed, are the rows its own split gives.
    #[test]
    fn files_with_the_same_source_are_parsed_once_and_get_their_own_rows() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let src = "/// Parses it.\npub fn parseItem() -> u8 { 0 }\n\nimpl Tr for S {\n    fn m(&self) {}\n}\n\nuse std::fmt;\n";
        let files: [(&str, &str); 7] = [
            ("a-1.0/src/lib.rs", src),
            ("a-1.1/src/lib.rs", src),   // a twin of the first
            ("a-1.1/src/other.rs", src), // same text, another name: parsed
            ("a-1.1/tests/lib.rs", src), // same name, a test file: parsed
            ("a-1.2/src/lib.rs", "pub fn changed() {}\n"),
            ("a-1.3/src/lib.rs", src),    // a twin again
            ("a-1.3/src/notes.txt", src), // no grammar: split as text
        ];
        let mut found = Vec::new();
        for (rel, text) in files {
            let abs = root.join(rel);
            fs::create_dir_all(abs.parent().unwrap()).unwrap();
            fs::write(&abs, text).unwrap();
            found.push(Found {
                rel: rel.into(),
                abs,
                size: text.len() as u64,
                mtime_ns: 0,
            });
        }
        let olds: Vec<Option<Known>> = found.iter().map(|_| None).collect();
        let reread: Vec<usize> = (0..found.len()).collect();
        let got = prepared_in_order(&found, &olds, &reread, None, 1, false, |next| {
            (0..reread.len())
                .map(|_| describe(&next()))
                .collect::<Vec<_>>()
        });
        let twins: Vec<(usize, &str)> = got
            .iter()
            .enumerate()
            .filter(|(_, d)| d.starts_with("twin"))
            .map(|(i, d)| (i, d.rsplit(' ').next().unwrap()))
            .collect();
        assert_eq!(twins, [(1, "0"), (5, "0")], "{got:#?}");
        // On threads a twin may be parsed (its first file not reached yet), never the
        // reverse: the first of a key is always parsed.
        for threads in [2, 3] {
            let got = prepared_in_order(&found, &olds, &reread, None, threads, false, |next| {
                (0..reread.len())
                    .map(|_| describe(&next()))
                    .collect::<Vec<_>>()
            });
            for (i, d) in got.iter().enumerate() {
                assert!(
                    !d.starts_with("twin") || [1, 5].contains(&i),
                    "{threads}: {got:#?}"
                );
            }
        }
        // The index: every file's rows are its own split's, copied or not (with more twins,
        // so that the scrape's threads surely copy some).
        let mut files: Vec<(String, &str)> =
            files.iter().map(|(r, t)| (r.to_string(), *t)).collect();
        for v in 0..20 {
            let rel = format!("b-{v}/src/lib.rs");
            let abs = root.join(&rel);
            fs::create_dir_all(abs.parent().unwrap()).unwrap();
            fs::write(&abs, src).unwrap();
            files.push((rel, src));
        }
        scrape(root).unwrap();
        let conn = Connection::open(paths::project_index_path(root)).unwrap();
        for (rel, text) in files {
            let mut stmt = conn
                .prepare(
                    "SELECT d.title, d.headings, d.body, d.doc_title, k.name, d.line, d.idents
                     FROM docs d JOIN files f ON f.id = d.file JOIN kinds k ON k.id = d.kind
                     WHERE f.path = ?1 ORDER BY d.id",
                )
                .unwrap();
            let stored: Vec<String> = stmt
                .query_map([&rel], |r| {
                    Ok(format!(
                        "{}|{}|{}|{}|{}|{}|{}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let want: Vec<String> = split_rows(&rel, text, None).iter().map(row_line).collect();
            assert!(!want.is_empty());
            assert_eq!(stored, want, "{rel}");
        }
    }

    /// Files of every kind a scrape meets: code, markdown, binary, a stored hash, gone.
    fn mixed_files(dir: &Path) -> (Vec<Found>, Vec<Option<Known>>) {
        let mut found = Vec::new();
        let mut olds = Vec::new();
        for i in 0..40 {
            let (rel, text): (String, Vec<u8>) = match i % 5 {
                0 => (
                    format!("f{i}.rs"),
                    format!("/// Doc {i}.\npub fn parseItem{i}() {{}}\nimpl T{i} {{ fn m(&self) {{}} }}\n")
                        .into_bytes(),
                ),
                1 => (format!("n{i}.md"), format!("# Note {i}\n\n## Part\nwords {i}\n").into_bytes()),
                2 => (format!("b{i}.bin"), vec![0u8, 1, 2, 3]),
                3 => (format!("t{i}.txt"), format!("plain text {i}\n").into_bytes()),
                _ => (format!("gone{i}.py"), Vec::new()),
            };
            let abs = dir.join(&rel);
            if i % 5 != 4 {
                fs::write(&abs, &text).unwrap();
            }
            // Every third file has a stored hash equal to its content's.
            let old = (i % 3 == 0).then(|| Known {
                id: i,
                size: 0,
                mtime_ns: 0,
                sha256: Some(Sha256::digest(&text).to_vec()),
                status: INDEXED.into(),
                scraped_ns: 0,
                first_row: 0,
                rows: 0,
            });
            found.push(Found {
                rel,
                abs,
                size: text.len() as u64,
                mtime_ns: 0,
            });
            olds.push(old);
        }
        (found, olds)
    }

    #[test]
    fn files_prepared_on_threads_come_in_order_and_equal_those_prepared_inline() {
        let t = tempfile::tempdir().unwrap();
        let (found, olds) = mixed_files(t.path());
        let reread: Vec<usize> = (0..found.len()).filter(|i| i % 7 != 6).collect();
        let collect = |threads: usize| {
            prepared_in_order(&found, &olds, &reread, None, threads, false, |next| {
                (0..reread.len())
                    .map(|_| describe(&next()))
                    .collect::<Vec<_>>()
            })
        };
        let inline = collect(1);
        assert!(inline.iter().any(|d| d.starts_with("same")));
        assert!(inline.iter().any(|d| d.starts_with("binary")));
        assert!(inline.iter().any(|d| d.starts_with("unreadable")));
        assert!(
            inline.iter().any(|d| d.contains("parse Item")),
            "{inline:?}"
        );
        for threads in [2, 3, 4] {
            assert_eq!(collect(threads), inline, "{threads} threads");
        }
    }

    #[test]
    fn a_writer_that_stops_early_stops_the_threads() {
        // The writer fails after two files: the threads, blocked on their full queues,
        // must end (else the scrape would never return).
        let t = tempfile::tempdir().unwrap();
        let (found, olds) = mixed_files(t.path());
        let reread: Vec<usize> = (0..found.len()).collect();
        let (done, wait) = std::sync::mpsc::channel();
        // Not a scoped thread: a hang must fail the test, not wait for it.
        std::thread::spawn(move || {
            let got = prepared_in_order(&found, &olds, &reread, None, 3, false, |next| {
                next();
                next();
                Err::<(), &str>("disk full")
            });
            done.send(got).unwrap();
        });
        let got = wait
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the threads ended when the writer stopped");
        assert_eq!(got, Err("disk full"));
    }

    #[test]
    fn markdown_is_recognised_by_extension() {
        assert!(is_markdown("a/b.md"));
        assert!(is_markdown("B.MARKDOWN"));
        assert!(!is_markdown("a.md/b"));
        assert!(!is_markdown("md"));
        assert!(!is_markdown("a.rs"));
    }

    #[test]
    fn binary_means_nul_in_sniff_window_and_other_bytes_are_decoded_lossily() {
        assert!(matches!(classify(b"ab\0c".to_vec()), Content::Binary));
        match classify(b"caf\xe9 \x93q\x94".to_vec()) {
            Content::Text(t) => assert_eq!(t, "caf\u{fffd} \u{fffd}q\u{fffd}"),
            _ => panic!("Latin-1 / Windows-1252 text is text"),
        }
        match classify(b"\xef\xbb\xbf# BOM\n".to_vec()) {
            Content::Text(t) => assert_eq!(t, "# BOM\n"),
            _ => panic!("a BOM is text"),
        }
        assert!(matches!(classify(Vec::new()), Content::Text(_)));
        assert!(matches!(classify("é\r\n".into()), Content::Text(_)));
    }

    /// After each kind of change a watcher reports, a scrape of the changed paths only
    /// leaves nothing for a whole scrape to do: same files indexed, same removed.
    #[test]
    fn a_scoped_scrape_leaves_nothing_for_a_whole_scrape_to_do() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let put = |rel: &str, text: &str| {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        put("a/b/c.md", "# C\ncharlie\n");
        put("a/d.md", "# D\ndelta\n");
        put("e/f.txt", "foxtrot\n");
        put("g.md", "# G\ngolf\n");
        put("sub/.gitignore", "ign/\n");
        put("sub/ign/x.md", "# X\nxray\n");
        put("sub/keep.md", "# K\nkilo\n");
        scrape(&root).unwrap();
        type Change = Box<dyn Fn() -> Vec<&'static str>>;
        let r = root.clone();
        let cases: Vec<(&str, Change)> = vec![
            (
                "edit",
                Box::new({
                    let r = r.clone();
                    move || {
                        fs::write(r.join("a/d.md"), "# D\ndelta edited\n").unwrap();
                        vec!["a/d.md"]
                    }
                }),
            ),
            (
                "new directories",
                Box::new({
                    let r = r.clone();
                    move || {
                        fs::create_dir_all(r.join("n/m")).unwrap();
                        fs::write(r.join("n/m/o.md"), "# O\noscar\n").unwrap();
                        vec!["n"]
                    }
                }),
            ),
            (
                "directory deleted",
                Box::new({
                    let r = r.clone();
                    move || {
                        fs::remove_dir_all(r.join("a")).unwrap();
                        vec!["a"]
                    }
                }),
            ),
            (
                "directory renamed",
                Box::new({
                    let r = r.clone();
                    move || {
                        fs::rename(r.join("e"), r.join("e2")).unwrap();
                        vec!["e", "e2"]
                    }
                }),
            ),
            (
                "nested ignore file emptied",
                Box::new({
                    let r = r.clone();
                    move || {
                        fs::write(r.join("sub/.gitignore"), "").unwrap();
                        vec!["sub/.gitignore"]
                    }
                }),
            ),
            (
                "nested ignore file restored",
                Box::new({
                    let r = r.clone();
                    move || {
                        fs::write(r.join("sub/.gitignore"), "ign/\n").unwrap();
                        vec!["sub/.gitignore"]
                    }
                }),
            ),
            (
                "atomic save",
                Box::new({
                    let r = r.clone();
                    move || {
                        fs::write(r.join("g.md.tmp"), "# G\ngolf saved\n").unwrap();
                        fs::rename(r.join("g.md.tmp"), r.join("g.md")).unwrap();
                        vec!["g.md.tmp", "g.md"]
                    }
                }),
            ),
            (
                "file in an ignored directory",
                Box::new({
                    let r = r.clone();
                    move || {
                        fs::write(r.join("sub/ign/y.md"), "# Y\nyankee\n").unwrap();
                        vec!["sub/ign/y.md"]
                    }
                }),
            ),
        ];
        for (what, change) in cases {
            let changed: Vec<PathBuf> = change().into_iter().map(|p| root.join(p)).collect();
            let scoped = scrape_paths(&root, &changed).unwrap();
            assert!(scoped.scopes.is_some(), "{what}: scraped everything");
            let s = scrape(&root).unwrap();
            assert_eq!((s.changed, s.removed), (0, 0), "{what}: {s:?}");
        }
        let conn = Connection::open(paths::project_index_path(&root)).unwrap();
        let mut files: Vec<String> = conn
            .prepare("SELECT path FROM files ORDER BY path")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        files.retain(|f| !f.ends_with(".gitignore"));
        assert_eq!(files, ["e2/f.txt", "g.md", "n/m/o.md", "sub/keep.md"]);
    }

    #[test]
    fn racy_file_is_rehashed_and_its_new_content_indexed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::write(root.join("a.txt"), "first\n").unwrap();
        scrape(root).unwrap();
        // Same size, same mtime, new content, written right after the scrape read it.
        let md = fs::metadata(root.join("a.txt")).unwrap();
        fs::write(root.join("a.txt"), "secnd\n").unwrap();
        let f = File::options()
            .write(true)
            .open(root.join("a.txt"))
            .unwrap();
        f.set_modified(md.modified().unwrap()).unwrap();
        drop(f);
        let s = scrape(root).unwrap();
        assert_eq!(s.changed, 1, "{s:?}");
        let conn = Connection::open(paths::project_index_path(root)).unwrap();
        let want = Sha256::digest(b"secnd\n").to_vec();
        assert_eq!(stored_hash(&conn, "a.txt"), Some(want));
    }
}
