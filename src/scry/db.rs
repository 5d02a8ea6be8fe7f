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
//! -- The FTS5 table searched: one row per markdown section or code window.
//! CREATE VIRTUAL TABLE docs USING fts5(
//!   title,                 -- 0: the document title, on the file's first row only (else '')
//!   headings,              -- 1: the section's heading path, e.g. 'Design > Implementation'
//!   path UNINDEXED,        -- 2: relative path, '/'-separated
//!   doc_title UNINDEXED,   -- 3: the document title, on every row; for code, the row's
//!                          --    symbol path (`Deserializer::deserialize_any`) or file name
//!   kind UNINDEXED,        -- 4: core, surface, session, belief, spec, doc (notes);
//!                          --    definition, test, code (code rows)
//!   line UNINDEXED,        -- 5: 1-based line where the section or window starts
//!   body,                  -- 6: the section's text
//!   idents,                -- 7: code rows: the words of the camelCase and PascalCase
//!                          --    identifiers of the body (`TrailingCharacters` → `Trailing
//!                          --    Characters`), each identifier once; '' for notes
//!   tokenize = 'porter unicode61 remove_diacritics 2');
//! -- Plus `postings`, `postings_meta`, `postings_map`, `postings_batches` and
//! -- `postings_delta`: the same index in a compact form for fast BM25 (see [`super::postings`]), brought up to date by
//! -- every scrape that changes rows: a batch of those rows, or rebuilt whole.
//! ```
//!
//! The title is indexed on one row per file so that a title match ranks that file's first
//! section, instead of tying every section of the file. `doc_title` carries the title to every
//! hit. `body` comes after the small columns because FTS5 stores a row's columns in one record,
//! in order: a search reads `path`, `kind`, … of every matching row while it sorts them, and
//! with the (long) body (and `idents`) last those small values sit at the start of the record
//! instead of behind the body's overflow pages (measured on a 730-file corpus: broad queries matching
//! ~1500 rows 15–25% faster). A file's rows get consecutive rowids so they can be deleted by range
//! (FTS5 answers rowid ranges from its index, without a scan).

use rusqlite::{Connection, OpenFlags, Transaction};

/// The FTS5 tokenizer of `docs` (and of the temporary tables an incremental update of the
/// postings tokenizes changed rows with: they must agree token for token).
macro_rules! tokenizer {
    () => {
        "porter unicode61 remove_diacritics 2"
    };
}
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
/// score-ordered heads in `postings` (one ranking method, MaxScore). Bump it when the
/// postings encoding changes too: the `postings` module trusts the blobs it finds.
pub const SCHEMA_VERSION: i64 = 7;

/// How long a connection waits for a lock held by another connection before failing with
/// `SQLITE_BUSY`. Readers in WAL mode wait only during recovery or a checkpoint.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const CREATE: &str = concat!(
    "
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
CREATE VIRTUAL TABLE docs USING fts5(
  title, headings,
  path UNINDEXED, doc_title UNINDEXED, kind UNINDEXED, line UNINDEXED,
  body, idents,
  tokenize = '",
    tokenizer!(),
    "'
);
"
);

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
        "DROP TABLE IF EXISTS docs; DROP TABLE IF EXISTS files;
         DROP TABLE IF EXISTS postings; DROP TABLE IF EXISTS postings_meta;
         DROP TABLE IF EXISTS postings_batches; DROP TABLE IF EXISTS postings_delta;
         DROP TABLE IF EXISTS postings_map;",
    )?;
    tx.execute_batch(CREATE)?;
    tx.execute_batch(super::postings::CREATE)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(true)
}
