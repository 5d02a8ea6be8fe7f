//! The index file: its schema, and opening it for scraping (read-write, created if missing)
//! or for searching (never created). Depends on `rusqlite` only.
//!
//! Schema (version [`SCHEMA_VERSION`], kept in `PRAGMA user_version`):
//!
//! ```sql
//! -- One row per file the walk yielded, indexed or skipped.
//! CREATE TABLE files(
//!   id         INTEGER PRIMARY KEY,
//!   path       TEXT NOT NULL UNIQUE, -- relative to the project root, '/'-separated
//!   size       INTEGER NOT NULL,     -- bytes, from stat
//!   mtime_ns   INTEGER NOT NULL,     -- st_mtime, nanoseconds since the Unix epoch
//!   sha256     BLOB,                 -- of the content; NULL for files too large to read
//!   status     TEXT NOT NULL,        -- 'indexed' | 'binary' | 'huge'
//!   scraped_ns INTEGER NOT NULL,     -- wall clock at the start of the scrape that hashed it
//!   first_row  INTEGER NOT NULL,     -- its rows in docs are rowid first_row .. first_row+rows-1
//!   rows       INTEGER NOT NULL);
//! -- The kinds of rows, by number: core, surface, session, belief, spec, doc, … (notes:
//! -- front matter `type` or the folder under `layer/`); definition, test, code (code rows).
//! CREATE TABLE kinds(
//!   id   INTEGER PRIMARY KEY,
//!   name TEXT NOT NULL UNIQUE);
//! -- The rows searched: one per markdown section or code symbol or window.
//! CREATE TABLE docs(
//!   id        INTEGER PRIMARY KEY, -- a file's rows are consecutive: files.first_row ..
//!   file      INTEGER NOT NULL,    -- files.id
//!   kind      INTEGER NOT NULL,    -- kinds.id
//!   line      INTEGER NOT NULL,    -- 1-based line where the section or window starts
//!   doc_title TEXT NOT NULL,       -- the document title, on every row; for code, the row's
//!                                  -- symbol path (`Deserializer::deserialize_any`) or file name
//!   title     TEXT NOT NULL,       -- indexed: the document title, on the file's first row
//!                                  -- only (else '')
//!   headings  TEXT NOT NULL,       -- indexed: the section's heading path ('Design > Implementation')
//!   body      TEXT NOT NULL,       -- indexed: the section's text
//!   idents    TEXT NOT NULL);      -- indexed as body: code rows' camelCase and PascalCase
//!                                  -- identifiers' words (`TrailingCharacters` → `Trailing
//!                                  -- Characters`), each identifier once; '' for notes
//! -- Plus `postings`, `postings_meta`, `postings_map`, `postings_batches` and
//! -- `postings_delta`: the same index in a compact form for fast BM25 (see [`super::postings`]), brought up to date by
//! -- every scrape that changes rows: a batch of those rows, or rebuilt whole.
//! ```
//!
//! The indexed columns are tokenized by [`super::tokenize`] into `postings`, which
//! every search ranks with (BM25); there is no full-text table. The title is indexed on one
//! row per file so that a title match ranks that file's first section, instead of tying every
//! section of the file. `doc_title` carries the title to every hit. The small columns come
//! before the long ones, so reading a hit's path, kind and line does not read through the
//! body's overflow pages. A file's rows get consecutive ids, deleted by range.

use rusqlite::{Connection, OpenFlags, Transaction};

use std::path::Path;
use std::time::Duration;

/// Version of the schema above. An index with another version is rebuilt by the next scrape
/// (inside its transaction) and refused by search until then. Bump it also when the way files
/// are split, titled or kinded changes: a scrape never re-splits a file whose hash is
/// unchanged, so only a version change brings old rows up to date.
/// History: 1 = `files` + `docs`; 2 = adds the postings tables; 3 = adds the long lists'
/// heads and skip pointers; 4 = code split at symbols (tree-sitter), each row with its own
/// title (the symbol path) and kind (`definition`, `test`, `code`); 5 = incremental postings
/// (batches and deltas, `postings::update`); 6 = the `porter` tokenizer (tokens are
/// stems: `parsed`, `parsing` → `pars`; [`super::porter`] is its Rust twin) and the `idents`
/// column (the words of a code row's camelCase identifiers, weighted as the body); 7 = no
/// score-ordered heads in `postings` (one ranking method, MaxScore); 8 = no FTS5: `docs` a
/// plain table (file and kind as numbers), the postings tokenized by [`super::tokenize`].
/// Bump it when the postings encoding or the tokenizer changes too: the `postings` module
/// trusts the blobs it finds.
pub const SCHEMA_VERSION: i64 = 8;

/// How long a connection waits for a lock held by another connection before failing with
/// `SQLITE_BUSY`. Readers in WAL mode wait only during recovery or a checkpoint.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const CREATE: &str = "
CREATE TABLE files(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  sha256 BLOB,
  status TEXT NOT NULL,
  scraped_ns INTEGER NOT NULL,
  first_row INTEGER NOT NULL,
  rows INTEGER NOT NULL
);
CREATE TABLE kinds(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE docs(
  id INTEGER PRIMARY KEY,
  file INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  line INTEGER NOT NULL,
  doc_title TEXT NOT NULL,
  title TEXT NOT NULL,
  headings TEXT NOT NULL,
  body TEXT NOT NULL,
  idents TEXT NOT NULL
);
";

/// Opens (creating if missing) the index for a scrape: WAL journal (readers keep their
/// snapshot while a scrape writes; a killed scrape's uncommitted frames are ignored on the
/// next open) and `synchronous = NORMAL` (in WAL mode a power loss may drop the last commit
/// but never corrupts; a killed process loses nothing committed).
pub(crate) fn open_for_write(path: &Path) -> rusqlite::Result<Connection> {
    // A new index is created owner-only (0600), so its WAL and shared-memory files, which
    // SQLite gives the database file's mode, are too: the index holds the project's text
    // before any redaction. An existing file keeps its mode.
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The first statement that reads the file: "file is not a database" surfaces here.
    // A file system without shared memory keeps the rollback journal: still atomic, only
    // readers then wait for the scrape's commit.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // After a checkpoint the `-wal` file is cut back to this size (case 030): without it
    // the file keeps the size of the largest scrape ever written, for good.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(conn)
}

/// Bytes the `-wal` file is truncated to after a checkpoint: 4 MiB.
pub(crate) const WAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// After a scrape's commit: copies the WAL into the index and truncates it, as far as
/// readers allow (a reader holding an old snapshot keeps its frames; the next scrape after it
/// lets go finishes the job). Never waits for readers; failures are ignored (the WAL stays
/// valid, only larger).
pub(crate) fn checkpoint_after_scrape(conn: &Connection) {
    // TRUNCATE would wait on the busy handler for readers: not for a scrape that is done.
    let _ = conn.busy_timeout(std::time::Duration::ZERO);
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// How large the `-wal` file may be before a scrape writes more: twice the index plus
/// [`WAL_SIZE_LIMIT`], in bytes (case 030 d). The file passes it only while a reader holds an
/// old snapshot (a checkpoint cannot copy the frames the reader still sees), and every scrape
/// would add its own frames to them: the bound keeps the file within a few times the index.
pub(crate) fn wal_bound(index_bytes: u64) -> u64 {
    index_bytes
        .saturating_mul(2)
        .saturating_add(WAL_SIZE_LIMIT as u64)
}

/// Before a scrape writes: `Some((wal, bound))`, both in bytes, when the `-wal` file beside
/// `index` is past [`wal_bound`] even after a checkpoint (which does not wait for readers);
/// `None` when it is within the bound or absent. Restores the busy timeout it changes.
pub(crate) fn wal_past_bound(conn: &Connection, index: &Path) -> Option<(u64, u64)> {
    let mut wal = index.as_os_str().to_owned();
    wal.push("-wal");
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = Path::new(&wal);
    if size(wal) <= wal_bound(size(index)) {
        return None;
    }
    checkpoint_after_scrape(conn);
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    let (now, bound) = (size(wal), wal_bound(size(index)));
    (now > bound).then_some((now, bound))
}

/// Opens an existing index for searching; never creates the file. Returns the connection and
/// the schema version it holds (0 if no scrape ever committed).
pub(crate) fn open_for_read(path: &Path) -> rusqlite::Result<(Connection, i64)> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok((conn, version))
}

/// Makes sure the schema inside `tx` is [`SCHEMA_VERSION`]: creates it in a new file, or
/// drops and recreates the tables of another version (the file itself is never deleted: a
/// daemon may hold it open). Part of the scrape's transaction, so a kill leaves the old one.
/// Returns true if the tables were (re)created.
pub(crate) fn ensure_schema(tx: &Transaction<'_>) -> rusqlite::Result<bool> {
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(false);
    }
    tx.execute_batch(
        "DROP TABLE IF EXISTS docs; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS kinds;
         DROP TABLE IF EXISTS postings; DROP TABLE IF EXISTS postings_meta;
         DROP TABLE IF EXISTS postings_batches; DROP TABLE IF EXISTS postings_delta;
         DROP TABLE IF EXISTS postings_map;",
    )?;
    tx.execute_batch(CREATE)?;
    tx.execute_batch(super::postings::CREATE)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(true)
}
