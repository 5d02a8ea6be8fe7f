//! The index's postings, scored in Rust: BM25 top-k for every query (one method, MaxScore),
//! and the statistics federation re-scores with ([`parts`]). Depends on `rusqlite`,
//! [`super::tokenize`] and [`super::shard`]'s BM25 constants.
//!
//! A term's rows are one blob, read with one lookup and scored in a tight loop (~5 ns a row).
//! The score is BM25 as SQLite FTS5's `bm25()` defines it (which scry used until schema 8:
//! <https://sqlite.org/fts5.html#the_bm25_function>; k1 1.2, b 0.75, IDF floored at 1e-6,
//! per-column weights [`super::BM25_WEIGHTS`]), over tokens from the one tokenizer
//! ([`super::tokenize`]): at the end of a scrape that changed rows, [`rebuild`] or [`update`]
//! tokenizes the rows' text inside the scrape's transaction, so rows and postings always
//! commit together. The differential tests compare every order and score with a brute-force
//! BM25 over every row (`tests::Oracle`).
//!
//! Tables (part of the schema in [`super::db`]):
//!
//! ```sql
//! -- One row per token in the index: the rows holding it.
//! CREATE TABLE postings(
//!   term TEXT PRIMARY KEY,    -- the token ([`super::tokenize`]: folded, stemmed)
//!   rows INTEGER NOT NULL,    -- how many rows hold it: BM25's n(q)
//!   data BLOB NOT NULL,       -- per row, by row order, LEB128 varints: ordinal delta; body
//!                             --   count << 2 | title? << 1 | headings?; title count if
//!                             --   title?; headings count if headings?
//!   skips BLOB                -- lists of LONG_LIST rows or more (else NULL): every
//!                             --   SKIP_EVERY-th posting's ordinal and
//! ) WITHOUT ROWID;            --   byte offset in `data`, u32 little-endian pairs
//! -- One row: the statistics and the ordinal → rowid map.
//! CREATE TABLE postings_meta(
//!   id INTEGER PRIMARY KEY CHECK (id = 1),
//!   generation INTEGER NOT NULL, -- new at each rebuild or update (wall clock ns): names
//!                             --   this state
//!   rows INTEGER NOT NULL,    -- rows in `docs`: BM25's N
//!   tokens INTEGER NOT NULL,  -- tokens in `docs`, all indexed columns: N · avgdl
//!   base INTEGER NOT NULL,    -- ordinals in the base (rows of `postings_map.map`)
//!   ordinals INTEGER NOT NULL, -- ordinals given out so far, base and batches
//!   last_rowid INTEGER NOT NULL, -- the highest rowid ever given an ordinal: a scrape's new
//!                             --   rows take rowids above it, so ordinals stay in rowid order
//!   batches INTEGER NOT NULL, -- batches since the base was built
//!   changed INTEGER NOT NULL  -- rows added and removed by those batches
//! );
//! -- The base's row map, apart from the counters above so a batch's update of them does
//! -- not rewrite it (1.5 MB for a 100 MB corpus).
//! CREATE TABLE postings_map(
//!   id INTEGER PRIMARY KEY CHECK (id = 1),
//!   map BLOB NOT NULL         -- per ordinal of the base: rowid delta, then the row's
//! );                          --   length in tokens
//! -- The batches of [`update`]: what each incremental scrape changed since the base.
//! CREATE TABLE postings_batches(
//!   batch INTEGER PRIMARY KEY, -- 1, 2, … in the order they were written
//!   map BLOB NOT NULL,        -- its added rows, as `postings_map.map` (first delta from 0)
//!   removed BLOB NOT NULL     -- the rowids it removed, ascending, varint deltas from 0
//! );
//! CREATE TABLE postings_delta(
//!   term TEXT NOT NULL,
//!   batch INTEGER NOT NULL,
//!   added INTEGER NOT NULL,   -- rows the batch added holding the term
//!   removed INTEGER NOT NULL, -- rows the batch removed holding the term
//!   data BLOB NOT NULL,       -- the added rows' postings, as `postings.data`
//!   PRIMARY KEY (term, batch)) WITHOUT ROWID;
//! ```
//!
//! Ordinals number the rows that hold at least one token, in rowid order, from 0, so a search
//! accumulates scores in a dense array.
//!
//! Incremental: a scrape that changes a few files does not rebuild all of this (2.5 s on a
//! 96 MB corpus); [`update`] writes one *batch* — the removed rows' rowids, the added rows'
//! ordinals (after every ordinal given so far) and lengths, and per term of those rows one
//! `postings_delta` row — at a cost that grows with the rows changed, not with the index.
//! The removed rows are copied to a temporary table before their deletion
//! ([`capture_removed`]) and tokenized with the added ones, as [`rebuild`] would have.
//! A search then sums, per term, the base count and each batch's `added − removed` (BM25's
//! n(q)), scores the base's and the batches' postings alike, and leaves out removed rows
//! (their norm is NaN in [`Rows`]): the scores of a rebuild, bit for bit. A batch's postings have no
//! skip pointers, so a search with batches decodes them whole. When the batches
//! exceed [`MAX_BATCHES`] or change more than a quarter of the base (plus [`DELTA_SLACK`]
//! rows), the scrape rebuilds instead: the whole cost is paid once per that much change.
//!
//! Every query is ranked by one method, [`top_k`] (MaxScore: the shortest lists scored
//! first, the longest left out once they cannot lift a row into the top, their part then
//! looked up through the skip pointers for the few candidates). Until 2026-12-07 there were
//! three (whole lists, a long list's score-ordered head, MaxScore); the head (64 postings
//! per long list) and the whole-list path were deleted: `layer/core/performance.md`, "One
//! ranking path".

use super::shard::{BM25_B as B, BM25_K1 as K1, global_idf};
use foldhash::fast::RandomState as FoldState;
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The tables above.
pub(crate) const CREATE: &str = "
CREATE TABLE postings(term TEXT PRIMARY KEY, rows INTEGER NOT NULL, data BLOB NOT NULL,
  skips BLOB) WITHOUT ROWID;
CREATE TABLE postings_meta(id INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL, rows INTEGER NOT NULL, tokens INTEGER NOT NULL,
  base INTEGER NOT NULL, ordinals INTEGER NOT NULL,
  last_rowid INTEGER NOT NULL, batches INTEGER NOT NULL, changed INTEGER NOT NULL);
CREATE TABLE postings_map(id INTEGER PRIMARY KEY CHECK (id = 1), map BLOB NOT NULL);
CREATE TABLE postings_batches(batch INTEGER PRIMARY KEY, map BLOB NOT NULL,
  removed BLOB NOT NULL);
CREATE TABLE postings_delta(term TEXT NOT NULL, batch INTEGER NOT NULL,
  added INTEGER NOT NULL, removed INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (term, batch)) WITHOUT ROWID;
";

/// Batches [`update`] writes before a scrape rebuilds instead: each search reads one
/// `postings_delta` row per term and batch.
pub(crate) const MAX_BATCHES: i64 = 64;

/// Rows the batches may change beyond a quarter of the base before a scrape rebuilds
/// instead (so a small index is not rebuilt at every change).
pub(crate) const DELTA_SLACK: i64 = 2048;

/// Lists of at least this many rows get skip pointers (a shorter one costs little more to
/// decode whole than to look up).
const LONG_LIST: usize = 128;

/// Postings between two skip pointers: a lookup decodes half this many on average.
const SKIP_EVERY: usize = 32;

/// [`top_k`]'s answer: `(rowid, score)` best first, and whether it left a term unscored for
/// most rows (MaxScore's pruning; tests count them).
pub(crate) type Ranked = (Vec<(i64, f64)>, bool);

/// A new generation for `conn`'s index: the wall clock in nanoseconds, and always more than
/// the last one of this file. Unique across index files, not only within one: loaded row maps
/// are shared by every connection of the process ([`shared_rows`]), and a file removed and
/// scraped anew must not meet the map of its predecessor.
fn next_generation(conn: &Connection) -> rusqlite::Result<i64> {
    let last: i64 = conn.query_row(
        "SELECT coalesce(max(generation), 0) FROM postings_meta",
        [],
        |r| r.get(0),
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Ok(now.max(last.saturating_add(1)))
}

/// Postings built in memory from rows' text by the one tokenizer ([`super::tokenize`]): per
/// term, its rows' postings as `postings.data` holds them; per row holding a token, its rowid
/// and length (BM25's D: its tokens, all columns).
#[derive(Default)]
struct Built {
    /// Each term and the index of its list in `lists`.
    vocab: HashMap<Box<[u8]>, u32>,
    lists: Vec<TermList>,
    /// The rows added, in order (each holds at least one token): rowid and length.
    rows: Vec<(i64, u32)>,
    /// Rows read, with or without tokens.
    read: i64,
    /// Scratch: the current row's (term, column) pairs.
    pairs: Vec<(u32, u8)>,
}

/// One term's postings in a [`Built`].
#[derive(Default)]
struct TermList {
    data: Vec<u8>,
    rows: u32,
    last: u64,
}

impl Built {
    /// Tokenizes one row (`title`, `headings`, `body`, `idents`: `idents` counts as body) and,
    /// when it holds a token, adds it with the ordinal `first_ordinal + rows added so far`.
    fn add_row(&mut self, rowid: i64, texts: [&str; 4], first_ordinal: u64) {
        self.read += 1;
        self.pairs.clear();
        for (i, text) in texts.into_iter().enumerate() {
            let column = i.min(2) as u8;
            super::tokenize::each_token(text, |_, token| {
                let next = self.lists.len() as u32;
                let id = match self.vocab.get(token) {
                    Some(&id) => id,
                    None => {
                        self.vocab.insert(token.into(), next);
                        self.lists.push(TermList::default());
                        next
                    }
                };
                self.pairs.push((id, column));
            });
        }
        if self.pairs.is_empty() {
            return;
        }
        let ordinal = first_ordinal + self.rows.len() as u64;
        self.rows.push((rowid, self.pairs.len() as u32));
        self.pairs.sort_unstable();
        let mut at = 0;
        while at < self.pairs.len() {
            let id = self.pairs[at].0;
            let mut counts = [0u32; 3];
            while at < self.pairs.len() && self.pairs[at].0 == id {
                counts[usize::from(self.pairs[at].1)] += 1;
                at += 1;
            }
            let list = &mut self.lists[id as usize];
            put_posting(&mut list.data, ordinal - list.last, counts);
            list.last = ordinal;
            list.rows += 1;
        }
    }

    /// Adds the rows of one file tokenized off this thread ([`FileTokens`]), rowids from
    /// `first_rowid`: exactly what [`Built::add_row`] of each row in turn adds (test
    /// `file_tokens_add_what_add_row_adds`). Each of the file's distinct terms is looked up
    /// here once, instead of each token hashed.
    fn add_file(&mut self, first_rowid: i64, file: &FileTokens, first_ordinal: u64) {
        let mut ids = Vec::with_capacity(file.ends.len());
        let mut start = 0usize;
        for &end in &file.ends {
            let term = &file.terms[start..end as usize];
            start = end as usize;
            let next = self.lists.len() as u32;
            let id = match self.vocab.get(term) {
                Some(&id) => id,
                None => {
                    self.vocab.insert(term.into(), next);
                    self.lists.push(TermList::default());
                    next
                }
            };
            ids.push(id);
        }
        let mut at = 0usize;
        for (rowid, &(len, distinct)) in (first_rowid..).zip(&file.rows) {
            self.read += 1;
            if len == 0 {
                continue;
            }
            let ordinal = first_ordinal + self.rows.len() as u64;
            self.rows.push((rowid, len));
            let end = at + distinct as usize;
            for &(local, counts) in &file.postings[at..end] {
                let list = &mut self.lists[ids[local as usize] as usize];
                put_posting(&mut list.data, ordinal - list.last, counts);
                list.last = ordinal;
                list.rows += 1;
            }
            at = end;
        }
    }

    /// Tokenizes every row `sql` selects (rowid, title, headings, body, idents, by rowid)
    /// with ordinals from `first_ordinal`.
    fn add_rows(
        &mut self,
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
        first_ordinal: u64,
    ) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut found = stmt.query(params)?;
        while let Some(r) = found.next()? {
            let text =
                |i| -> rusqlite::Result<&str> { Ok(r.get_ref(i)?.as_str_or_null()?.unwrap_or("")) };
            let texts = [text(1)?, text(2)?, text(3)?, text(4)?];
            self.add_row(r.get(0)?, texts, first_ordinal);
        }
        Ok(())
    }

    /// The terms and their lists, by term.
    fn into_sorted(self) -> Vec<(String, TermList)> {
        let mut lists: Vec<Option<TermList>> = self.lists.into_iter().map(Some).collect();
        let mut terms: Vec<(String, TermList)> = self
            .vocab
            .into_iter()
            .filter_map(|(term, id)| {
                let list = lists[id as usize].take()?;
                Some((String::from_utf8_lossy(&term).into_owned(), list))
            })
            .collect();
        terms.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        terms
    }

    /// Total tokens of the rows added.
    fn tokens(&self) -> u64 {
        self.rows.iter().map(|&(_, len)| u64::from(len)).sum()
    }

    /// The rows' map as `postings_map.map` holds it: rowid delta (from 0), length.
    fn map(&self) -> Vec<u8> {
        let mut map = Vec::new();
        let mut prev = 0i64;
        for &(rowid, len) in &self.rows {
            put_varint(&mut map, (rowid - prev) as u64);
            prev = rowid;
            put_varint(&mut map, u64::from(len));
        }
        map
    }
}

/// The rows of one file tokenized ([`super::tokenize`]) on the thread that prepared them,
/// for [`Fed::add_file`] on the writing thread: the file's distinct terms (each once, in the
/// order first met) and, per row, its token count and its terms' (term, per-column counts),
/// the pairs [`Built::add_row`] makes of the same texts. Roughly the size of the rows' text.
#[derive(Default)]
pub(crate) struct FileTokens {
    /// The distinct terms' bytes, one after another.
    terms: Vec<u8>,
    /// Where each term ends in `terms` (term `i` is `terms[ends[i - 1]..ends[i]]`).
    ends: Vec<u32>,
    /// Per row: tokens (0: none, the row gets no ordinal) and how many entries of
    /// `postings` are its.
    rows: Vec<(u32, u32)>,
    /// Per row in turn, per distinct term (in the order first met in the row: a row's terms
    /// go to separate lists, so their order does not matter): the term's index in `ends`
    /// and its counts in title, headings and body (`idents` counts as body).
    postings: Vec<(u32, [u32; 3])>,
}

impl FileTokens {
    /// Tokenizes each row's indexed texts (`title`, `headings`, `body`, `idents`, as in
    /// `docs`), in row order.
    pub(crate) fn of<'a>(rows: impl IntoIterator<Item = [&'a str; 4]>) -> FileTokens {
        let mut out = FileTokens::default();
        // Each folded word is stemmed once per file (the first time it is met): a word's
        // token is a function of its folded form ([`super::tokenize::each_token`]).
        // foldhash, randomly seeded per process: SipHash was a fifth of this function; a
        // map holds one file's words only (at most `MAX_FILE_BYTES` of text).
        let mut by_folded: HashMap<Box<[u8]>, u32, FoldState> = HashMap::default();
        let mut by_term: HashMap<Box<[u8]>, u32, FoldState> = HashMap::default();
        let mut stem = [0u8; super::porter::STEM_BUF];
        // Per term: the row (from 1) it was last met in, and its entry of `postings` there.
        let mut seen: Vec<(u32, u32)> = Vec::new();
        for (row, texts) in (1u32..).zip(rows) {
            let before = out.postings.len();
            let mut len = 0u32;
            for (i, text) in texts.into_iter().enumerate() {
                let column = i.min(2);
                super::tokenize::each_folded(text, |_, folded| {
                    let id = match by_folded.get(folded) {
                        Some(&id) => id,
                        None => {
                            let term = match super::porter::stem_into(folded, &mut stem) {
                                Some(n) => &stem[..n],
                                None => folded,
                            };
                            let id = match by_term.get(term) {
                                Some(&id) => id,
                                None => {
                                    let id = out.ends.len() as u32;
                                    out.terms.extend_from_slice(term);
                                    out.ends.push(out.terms.len() as u32);
                                    by_term.insert(term.into(), id);
                                    seen.push((0, 0));
                                    id
                                }
                            };
                            by_folded.insert(folded.into(), id);
                            id
                        }
                    };
                    len += 1;
                    let s = &mut seen[id as usize];
                    if s.0 != row {
                        *s = (row, out.postings.len() as u32);
                        out.postings.push((id, [0; 3]));
                    }
                    out.postings[s.1 as usize].1[column] += 1;
                });
            }
            out.rows.push((len, (out.postings.len() - before) as u32));
        }
        out
    }

    /// How many rows were tokenized.
    pub(crate) fn rows(&self) -> usize {
        self.rows.len()
    }
}

/// Every row of `docs`, by rowid, for the tokenizer.
const ALL_ROWS_SQL: &str = "SELECT rowid, title, headings, body, idents FROM docs ORDER BY rowid";

/// Rewrites the postings tables from the rows of `docs` as seen by `conn` (call it inside
/// the scrape's transaction, after the rows changed), dropping every batch: every row is
/// read and tokenized once ([`super::tokenize`]).
pub(crate) fn rebuild(conn: &Connection) -> rusqlite::Result<()> {
    let mut built = Built::default();
    built.add_rows(conn, ALL_ROWS_SQL, [], 0)?;
    write_base(conn, built)
}

/// The postings of a scrape that writes every row of `docs` anew (an index created or of
/// another schema), built while it writes them: each row is tokenized from the text in
/// hand as it is inserted ([`Fed::add`]), on the writing thread while the other threads
/// still parse files, instead of all read back from `docs` and tokenized after the last
/// file ([`rebuild`], a serial tail of seconds on a 100 MB corpus). [`Fed::write`] then
/// writes exactly what [`rebuild`] would (test
/// `postings_fed_while_writing_equal_a_rebuild`).
#[derive(Default)]
pub(crate) struct Fed {
    built: Built,
    /// The last rowid added (rows must come in ascending rowid order).
    last: i64,
    /// Whether every row came in ascending order.
    ordered: bool,
}

impl Fed {
    /// Postings fed from nothing.
    pub(crate) fn new() -> Fed {
        Fed {
            ordered: true,
            ..Fed::default()
        }
    }

    /// Tokenizes the row `rowid` just inserted into `docs`, with its indexed texts (`title`,
    /// `headings`, `body`, `idents`, as in `docs`). Rowids must ascend.
    pub(crate) fn add(&mut self, rowid: i64, texts: [&str; 4]) {
        self.ordered &= rowid > self.last;
        self.last = rowid;
        self.built.add_row(rowid, texts, 0);
    }

    /// [`Fed::add`] of each row of one file in turn, from its [`FileTokens`] (made on a
    /// parsing thread): the rows `first_rowid ..` just inserted into `docs`. Rowids must
    /// ascend.
    pub(crate) fn add_file(&mut self, first_rowid: i64, file: &FileTokens) {
        if file.rows.is_empty() {
            return;
        }
        let last = first_rowid + file.rows.len() as i64 - 1;
        self.ordered &= first_rowid > self.last;
        self.last = last;
        self.built.add_file(first_rowid, file, 0);
    }

    /// Writes the postings of the rows fed, as [`rebuild`] does. When they are not exactly
    /// the rows of `docs` (a row inserted or deleted without [`Fed::add`], or out of
    /// order: never in a scrape, checked anyway), it runs [`rebuild`] instead.
    pub(crate) fn write(self, conn: &Connection) -> rusqlite::Result<()> {
        let (count, last): (i64, i64) = conn.query_row(
            "SELECT count(*), coalesce(max(rowid), 0) FROM docs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !self.ordered || count != self.built.read || last != self.last {
            return rebuild(conn);
        }
        write_base(conn, self.built)
    }
}

/// Replaces the postings tables with `built` (the rows of `docs` from ordinal 0), dropping
/// every batch.
fn write_base(conn: &Connection, built: Built) -> rusqlite::Result<()> {
    let generation = next_generation(conn)?;
    conn.execute_batch(
        "DELETE FROM postings; DELETE FROM postings_meta; DELETE FROM postings_map;
         DELETE FROM postings_batches; DELETE FROM postings_delta;",
    )?;
    let rows = built.read;
    let total = built.tokens();
    let map = built.map();
    let base = built.rows.len() as i64;
    let mut skips = Vec::new();
    {
        let mut insert =
            conn.prepare("INSERT INTO postings(term, rows, data, skips) VALUES (?1, ?2, ?3, ?4)")?;
        for (term, list) in built.into_sorted() {
            let long = list.rows as usize >= LONG_LIST;
            skips.clear();
            if long {
                skips_of(&list.data, &mut skips);
            }
            let skips = long.then_some(&skips[..]);
            insert.execute(rusqlite::params![
                term,
                i64::from(list.rows),
                list.data,
                skips
            ])?;
        }
    }
    // The next scrape's rows take rowids above this one (and above any row of `docs`).
    let last_rowid = last_docs_rowid(conn)?;
    conn.execute(
        "INSERT INTO postings_meta(id, generation, rows, tokens, base, ordinals, last_rowid,
           batches, changed)
         VALUES (1, ?1, ?2, ?3, ?4, ?4, ?5, 0, 0)",
        rusqlite::params![generation, rows, total as i64, base, last_rowid],
    )?;
    conn.execute(
        "INSERT INTO postings_map(id, map) VALUES (1, ?1)",
        rusqlite::params![map],
    )?;
    Ok(())
}

/// The rowid a scrape's first new row takes: above every row of `docs` and every rowid the
/// postings ever gave an ordinal (a removed row's rowid is never reused while a batch may
/// still name it).
pub(crate) fn next_rowid(conn: &Connection) -> rusqlite::Result<i64> {
    let given: i64 = conn
        .query_row(
            "SELECT last_rowid FROM postings_meta WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    Ok(last_docs_rowid(conn)?.max(given) + 1)
}

/// The highest id of `docs` (0 when empty).
fn last_docs_rowid(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(id), 0) FROM docs")?
        .query_row([], |r| r.get(0))
}

/// The temporary table the rows a scrape deletes are copied to first ([`capture_removed`]),
/// for [`update`] to tokenize.
pub(crate) const CREATE_TEMP: &str = "CREATE TEMP TABLE IF NOT EXISTS removed_rows(
  rowid INTEGER PRIMARY KEY, title TEXT, headings TEXT, body TEXT, idents TEXT);";

/// Copies the rows `first .. end` (rowids) of `docs` into `temp.removed_rows` before a scrape
/// deletes them, so [`update`] can read their tokens. Needs [`CREATE_TEMP`] run on `conn`.
pub(crate) fn capture_removed(conn: &Connection, first: i64, end: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO temp.removed_rows(rowid, title, headings, body, idents)
         SELECT rowid, title, headings, body, idents FROM docs WHERE rowid >= ?1 AND rowid < ?2",
    )?
    .execute([first, end])?;
    Ok(())
}

/// What [`update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Updated {
    /// Nothing changed: the postings are as they were.
    Nothing,
    /// One batch written.
    Batch,
    /// The postings rebuilt whole ([`rebuild`]): none existed, or the batches grew past
    /// their bounds.
    Rebuilt,
}

/// Brings the postings up to date after a scrape that removed the rows captured in
/// `temp.removed_rows` ([`capture_removed`]) and added the rows of `docs` from rowid
/// `added_from` on (all inside the scrape's transaction), at a cost that grows with those
/// rows: one batch (module docs). Rebuilds instead when there are no postings yet, or when
/// the batches would pass [`MAX_BATCHES`] or change more than a quarter of the base plus
/// [`DELTA_SLACK`] rows.
pub(crate) fn update(conn: &Connection, added_from: i64) -> rusqlite::Result<Updated> {
    let meta: Option<(i64, i64, i64, i64, i64, i64, i64)> = conn
        .query_row(
            "SELECT rows, tokens, base, ordinals, last_rowid, batches, changed
             FROM postings_meta WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let Some((rows, tokens, base, ordinals, last_rowid, batches, changed)) = meta else {
        rebuild(conn)?;
        return Ok(Updated::Rebuilt);
    };
    let removed_count: i64 =
        conn.query_row("SELECT count(*) FROM temp.removed_rows", [], |r| r.get(0))?;
    let (added_count, lowest_added, highest_added): (i64, Option<i64>, Option<i64>) = conn
        .query_row(
            "SELECT count(*), min(rowid), max(rowid) FROM docs WHERE rowid >= ?1",
            [added_from],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
    if removed_count == 0 && added_count == 0 {
        return Ok(Updated::Nothing);
    }
    let changed = changed + removed_count + added_count;
    if batches + 1 > MAX_BATCHES || changed > base / 4 + DELTA_SLACK {
        rebuild(conn)?;
        return Ok(Updated::Rebuilt);
    }
    if lowest_added.is_some_and(|r| r <= last_rowid) {
        // Rows below an ordinal already given: the order would break. Never after a scrape
        // that took its rowids from [`next_rowid`]; rebuild rather than guess.
        rebuild(conn)?;
        return Ok(Updated::Rebuilt);
    }
    let batch = batches + 1;
    // The removed rows: their rowids, and per term how many of them held it.
    let mut gone = Built::default();
    gone.add_rows(
        conn,
        "SELECT rowid, title, headings, body, idents FROM temp.removed_rows ORDER BY rowid",
        [],
        0,
    )?;
    let removed_tokens = gone.tokens();
    let mut removed_blob = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT rowid FROM temp.removed_rows ORDER BY rowid")?;
        let mut prev = 0i64;
        for rowid in stmt.query_map([], |r| r.get::<_, i64>(0))? {
            let rowid = rowid?;
            put_varint(&mut removed_blob, (rowid - prev) as u64);
            prev = rowid;
        }
    }
    // The added rows: ordinals after every one given so far, in rowid order.
    let mut new = Built::default();
    new.add_rows(
        conn,
        "SELECT rowid, title, headings, body, idents FROM docs WHERE rowid >= ?1 ORDER BY rowid",
        [added_from],
        ordinals as u64,
    )?;
    let added_tokens = new.tokens();
    let added_ordinals = new.rows.len() as i64;
    conn.prepare_cached("INSERT INTO postings_batches(batch, map, removed) VALUES (?1, ?2, ?3)")?
        .execute(rusqlite::params![batch, new.map(), removed_blob])?;
    // One delta row per term of the removed or added rows.
    let mut by_term: std::collections::BTreeMap<String, (u32, Option<TermList>)> =
        std::collections::BTreeMap::new();
    for (term, list) in gone.into_sorted() {
        by_term.entry(term).or_default().0 += list.rows;
    }
    for (term, list) in new.into_sorted() {
        by_term.entry(term).or_default().1 = Some(list);
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO postings_delta(term, batch, added, removed, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (term, (gone_rows, new)) in by_term {
        // A batch's first posting is its ordinal's delta from 0, as in a base list.
        let (new_rows, data) = new.map_or((0, Vec::new()), |l| (l.rows, l.data));
        insert.execute(rusqlite::params![
            term,
            batch,
            i64::from(new_rows),
            i64::from(gone_rows),
            data
        ])?;
    }
    let generation = next_generation(conn)?;
    let tokens = (tokens as u64).saturating_sub(removed_tokens) + added_tokens;
    conn.execute(
        "UPDATE postings_meta SET generation = ?1, rows = ?2, tokens = ?3, ordinals = ?4,
           last_rowid = ?5, batches = ?6, changed = ?7 WHERE id = 1",
        rusqlite::params![
            generation,
            rows - removed_count + added_count,
            tokens as i64,
            ordinals + added_ordinals,
            highest_added.unwrap_or(last_rowid).max(last_rowid),
            batch,
            changed
        ],
    )?;
    Ok(Updated::Batch)
}

/// Whether the postings tables are whole: what a scrape checks before it trusts them with a
/// batch ([`update`]), so that damaged postings (a blob overwritten, a map cut short) are
/// rebuilt from `docs` by the next whole scrape instead of staying an error for every
/// search that meets them. Reads every blob once (a 100 MB corpus: ~26 MB of postings).
///
/// Checked: the statistics row and the row maps exist and decode (rowids strictly
/// ascending, none above `last_rowid`, as many ordinals as `base` and `ordinals` say); every
/// list of `postings` and `postings_delta` decodes whole, its ordinals strictly ascending
/// and inside the base (or its batch's ordinals), as many postings as its `rows` (`added`)
/// column; a long list's skip pointers are exactly the ones [`rebuild`] writes, a short
/// one has none; and, per ordinal, the token counts of every list holding it sum to the
/// row's length in the map, and the lengths of the rows not removed sum to `tokens`. A
/// change of a list's bytes breaks one of these unless it moves counts between terms of
/// one row; a term's text and a batch's per-term `removed` counts are not checked (only
/// tokenizing `docs` again could).
pub(crate) fn sound(conn: &Connection) -> rusqlite::Result<bool> {
    let meta: Option<(i64, i64, i64, i64, i64)> = conn
        .query_row(
            "SELECT tokens, base, ordinals, last_rowid, batches FROM postings_meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((tokens, base, ordinals, last_rowid, batches)) = meta else {
        return Ok(false);
    };
    let Some(map) = conn
        .query_row("SELECT map FROM postings_map WHERE id = 1", [], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()?
    else {
        return Ok(false);
    };
    // Each ordinal's rowid and length; each batch's first ordinal.
    let mut rowids: Vec<i64> = Vec::new();
    let mut lens: Vec<u32> = Vec::new();
    let decode_map = |map: &[u8], rowids: &mut Vec<i64>, lens: &mut Vec<u32>| -> bool {
        let (mut at, mut rowid) = (0, 0i64);
        while at < map.len() {
            let (Some(delta), Some(len)) = (get_varint(map, &mut at), get_varint(map, &mut at))
            else {
                return false;
            };
            rowid = rowid.wrapping_add(delta as i64);
            rowids.push(rowid);
            lens.push(u32::try_from(len).unwrap_or(u32::MAX));
        }
        true
    };
    if !decode_map(&map, &mut rowids, &mut lens) || rowids.len() as i64 != base {
        return Ok(false);
    }
    let mut batch_starts: HashMap<i64, (u64, u64)> = HashMap::new();
    let mut removed: Vec<i64> = Vec::new();
    let mut written = 0i64;
    {
        let mut stmt = conn.prepare("SELECT batch, map, removed FROM postings_batches")?;
        let mut found = stmt.query([])?;
        let mut all: Vec<(i64, Vec<u8>, Vec<u8>)> = Vec::new();
        while let Some(r) = found.next()? {
            all.push((r.get(0)?, r.get(1)?, r.get(2)?));
        }
        all.sort_by_key(|b| b.0);
        for (batch, map, gone) in all {
            written += 1;
            if batch != written {
                return Ok(false); // batches are numbered 1, 2, … without a gap
            }
            let start = rowids.len() as u64;
            if !decode_map(&map, &mut rowids, &mut lens) {
                return Ok(false);
            }
            batch_starts.insert(batch, (start, rowids.len() as u64));
            let (mut at, mut rowid) = (0, 0i64);
            while at < gone.len() {
                let Some(delta) = get_varint(&gone, &mut at) else {
                    return Ok(false);
                };
                rowid = rowid.wrapping_add(delta as i64);
                removed.push(rowid);
            }
        }
    }
    if written != batches
        || rowids.len() as i64 != ordinals
        || !rowids.is_sorted_by(|a, b| a < b)
        || rowids.last().is_some_and(|&r| r > last_rowid)
    {
        return Ok(false);
    }
    removed.sort_unstable();
    let live: u64 = rowids
        .iter()
        .zip(&lens)
        .filter(|(r, _)| removed.binary_search(r).is_err())
        .map(|(_, &l)| u64::from(l))
        .sum();
    if i64::try_from(live).ok() != Some(tokens) {
        return Ok(false);
    }
    // Every list, decoded whole, once; the counts summed per ordinal; a base list's skip
    // pointers (`skips`: `Some` of the stored ones) compared on the way with the ones
    // [`skips_of`] writes (a second decode of every long list was a fifth of a no-op
    // scrape's instructions).
    let mut sums = vec![0u64; rowids.len()];
    let mut add_list = |data: &[u8],
                        range: (u64, u64),
                        rows: i64,
                        skips: Option<Option<&[u8]>>|
     -> Option<usize> {
        let (mut at, mut ord, mut n) = (0, 0u64, 0usize);
        let mut matched = 0usize;
        while at < data.len() {
            let posting_at = at;
            let (delta, [t, h, b]) = read_posting(data, &mut at)?;
            if n > 0 && delta == 0 {
                return None;
            }
            ord = ord.checked_add(delta)?;
            if ord < range.0 || ord >= range.1 {
                return None;
            }
            sums[ord as usize] += t + h + b;
            if n % SKIP_EVERY == 0
                && let Some(Some(stored)) = skips
            {
                let k = n / SKIP_EVERY * 8;
                let mut want = [0u8; 8];
                want[..4].copy_from_slice(&u32_of(ord).to_le_bytes());
                want[4..].copy_from_slice(&u32_of(posting_at as u64).to_le_bytes());
                matched += usize::from(stored.get(k..k + 8) == Some(&want[..]));
            }
            n += 1;
        }
        if i64::try_from(n).ok() != Some(rows) {
            return None;
        }
        let skips_right = match skips {
            None => true, // a batch's list: it has none
            Some(None) => n < LONG_LIST,
            Some(Some(stored)) => {
                n >= LONG_LIST && matched == n.div_ceil(SKIP_EVERY) && stored.len() == matched * 8
            }
        };
        skips_right.then_some(n)
    };
    {
        let mut stmt = conn.prepare("SELECT rows, data, skips FROM postings")?;
        let mut found = stmt.query([])?;
        while let Some(r) = found.next()? {
            let rows: i64 = r.get(0)?;
            let (Ok(data), Ok(skips)) = (r.get_ref(1)?.as_blob(), r.get_ref(2)?.as_blob_or_null())
            else {
                return Ok(false);
            };
            if add_list(data, (0, base as u64), rows, Some(skips)).is_none() {
                return Ok(false);
            }
        }
    }
    {
        let mut stmt = conn.prepare("SELECT batch, added, data FROM postings_delta")?;
        let mut found = stmt.query([])?;
        while let Some(r) = found.next()? {
            let batch: i64 = r.get(0)?;
            let added: i64 = r.get(1)?;
            let Ok(data) = r.get_ref(2)?.as_blob() else {
                return Ok(false);
            };
            let Some(&range) = batch_starts.get(&batch) else {
                return Ok(false);
            };
            if add_list(data, range, added, None).is_none() {
                return Ok(false);
            }
        }
    }
    Ok(sums.iter().zip(&lens).all(|(&s, &l)| s == u64::from(l)))
}

/// The skip pointers of a long list `data` (whole postings, as [`Built`] writes them) into
/// `out`: every [`SKIP_EVERY`]-th posting's ordinal and byte offset, `u32` little-endian
/// pairs. Stops at a posting that does not decode.
fn skips_of(data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let (mut at, mut ord, mut i) = (0, 0u64, 0usize);
    while at < data.len() {
        let posting_at = at;
        let Some((delta, _)) = read_posting(data, &mut at) else {
            return;
        };
        ord += delta;
        if i % SKIP_EVERY == 0 {
            out.extend_from_slice(&u32_of(ord).to_le_bytes());
            out.extend_from_slice(&u32_of(posting_at as u64).to_le_bytes());
        }
        i += 1;
    }
}

/// The statistics and row map of one committed state of the index, loaded once per state by
/// each searching connection (12 bytes a row).
#[derive(Debug)]
pub(crate) struct Rows {
    /// `postings_meta.generation` of the state loaded.
    generation: i64,
    /// BM25's `N`: rows in the table.
    n: u64,
    /// Rowid of each ordinal.
    rowids: Vec<i64>,
    /// BM25's length normalization of each ordinal, `k1 · (1 − b + b · D / avgdl)` with `D`
    /// the row's length in tokens (all columns), computed once per load with the operations
    /// in FTS5's order, so the value is the one `fts5Bm25Function` computes per row. NaN for
    /// a row a batch removed: its score is NaN, and NaN rows are never ranked.
    norms: Vec<f64>,
    /// BM25's avgdl: tokens in all rows over `n`.
    avgdl: f64,
    /// Batches written since the base ([`update`]): the terms' delta rows must be read.
    batches: i64,
}

/// BM25's length normalization of a row of `len` tokens, `k1 · (1 − b + b · len / avgdl)`,
/// with the operations in `fts5Bm25Function`'s order, so the value is the one it computes.
fn norm(len: u32, avgdl: f64) -> f64 {
    K1 * (1.0 - B + B * f64::from(len) / avgdl)
}

/// `u64` → `u32` for an ordinal or a byte offset in a list (both are far below 2³²: a list
/// that large could not be a blob).
fn u32_of(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The generation of the postings in the current snapshot; `None` when there are none.
/// Run it first inside the search's read transaction: it names the state every later
/// statement of that transaction sees.
pub(crate) fn generation(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT generation FROM postings_meta WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()
}

impl Rows {
    /// The generation these rows were loaded from.
    pub(crate) fn generation(&self) -> i64 {
        self.generation
    }
}

/// Loads [`Rows`]; `None` when the index has no postings (the meta row is missing) or its
/// row map is malformed: the search then reports a damaged index.
pub(crate) fn load_rows(conn: &Connection) -> rusqlite::Result<Option<Rows>> {
    let meta: Option<(i64, i64, i64, Vec<u8>, i64)> = conn
        .prepare_cached(
            "SELECT generation, rows, tokens, map, batches FROM postings_meta, postings_map
             WHERE postings_meta.id = 1 AND postings_map.id = 1",
        )?
        .query_row([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((generation, n, tokens, map, batches)) = meta else {
        return Ok(None);
    };
    let mut rowids = Vec::new();
    let mut lens = Vec::new();
    let mut at = 0;
    let mut rowid = 0i64;
    while at < map.len() {
        let (Some(delta), Some(len)) = (get_varint(&map, &mut at), get_varint(&map, &mut at))
        else {
            return Ok(None);
        };
        rowid = rowid.wrapping_add(delta as i64);
        rowids.push(rowid);
        lens.push(u32::try_from(len).unwrap_or(u32::MAX));
    }
    let mut removed = Vec::new();
    if batches > 0 {
        let mut stmt =
            conn.prepare_cached("SELECT map, removed FROM postings_batches ORDER BY batch")?;
        let mut found = stmt.query([])?;
        while let Some(r) = found.next()? {
            let (map, gone) = (r.get_ref(0)?.as_blob()?, r.get_ref(1)?.as_blob()?);
            let (mut at, mut rowid) = (0, 0i64);
            while at < map.len() {
                let (Some(delta), Some(len)) = (get_varint(map, &mut at), get_varint(map, &mut at))
                else {
                    return Ok(None);
                };
                rowid = rowid.wrapping_add(delta as i64);
                rowids.push(rowid);
                lens.push(u32::try_from(len).unwrap_or(u32::MAX));
            }
            let (mut at, mut rowid) = (0, 0i64);
            while at < gone.len() {
                let Some(delta) = get_varint(gone, &mut at) else {
                    return Ok(None);
                };
                rowid = rowid.wrapping_add(delta as i64);
                removed.push(rowid);
            }
        }
    }
    if !rowids.is_sorted_by(|a, b| a < b) {
        return Ok(None); // not a map this code wrote: the index is damaged
    }
    // An index without a token has no rows here: its avgdl is never used.
    let avgdl = if n > 0 && tokens > 0 {
        tokens as f64 / n as f64
    } else {
        1.0
    };
    let mut norms: Vec<f64> = lens.iter().map(|&d| norm(d, avgdl)).collect();
    // A removed rowid that had no token had no ordinal: nothing to leave out.
    for rowid in removed {
        if let Ok(o) = rowids.binary_search(&rowid) {
            norms[o] = f64::NAN;
        }
    }
    Ok(Some(Rows {
        generation,
        n: n as u64,
        rowids,
        norms,
        avgdl,
        batches,
    }))
}

/// The row maps and the scratch space the fast path shares between the open indexes of one
/// daemon (or one CLI process): a value its owner keeps (the daemon's [`crate::api::Ctx`]),
/// never a process static, so two daemons in one process share nothing. Each open
/// [`super::Index`] holds an `Arc` of one.
#[derive(Debug, Default)]
pub struct SearchCache {
    /// Row maps, one per index file (the daemon's project, and mother's), oldest first.
    maps: Mutex<Vec<(PathBuf, Arc<Rows>)>>,
    /// Idle scratch space, the one returned last on top.
    free: Mutex<Vec<Scratch>>,
}

impl SearchCache {
    /// Row maps kept, one per index file.
    const KEPT: usize = 16;

    /// Row maps held now (tests).
    #[cfg(test)]
    pub(crate) fn row_maps(&self) -> usize {
        super::emptied_if_poisoned(&self.maps).len()
    }
}

/// The row map of `index` (its file's path) at `generation`, shared by every connection of
/// `cache`'s owner: loaded by the first search that needs it, so eight workers hold one copy
/// (and the next search finds it in the CPU's caches, whichever worker runs it). `None`
/// when the index has no postings.
pub(crate) fn shared_rows(
    cache: &SearchCache,
    conn: &Connection,
    index: &Path,
    generation: i64,
) -> rusqlite::Result<Option<Arc<Rows>>> {
    let found = {
        let maps = super::emptied_if_poisoned(&cache.maps);
        maps.iter()
            .find(|(p, r)| p == index && r.generation == generation)
            .map(|(_, r)| Arc::clone(r))
    };
    if let Some(rows) = found {
        return Ok(Some(rows));
    }
    let Some(rows) = load_rows(conn)? else {
        return Ok(None);
    };
    let rows = Arc::new(rows);
    let mut maps = super::emptied_if_poisoned(&cache.maps);
    maps.retain(|(p, _)| p != index);
    if maps.len() >= SearchCache::KEPT {
        maps.remove(0);
    }
    maps.push((index.to_path_buf(), Arc::clone(&rows)));
    Ok(Some(rows))
}

/// Scratch space reused across searches: one score slot per ordinal.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    acc: Vec<f64>,
    touched: Vec<u32>,
}

/// Runs `f` with a [`Scratch`] from `cache`'s stack: the one returned last, whose memory is
/// the likeliest still in the CPU's caches (eight workers take turns; their own scratch
/// would have gone cold).
pub(crate) fn with_scratch<R>(cache: &SearchCache, f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut scratch = super::emptied_if_poisoned(&cache.free)
        .pop()
        .unwrap_or_default();
    let out = f(&mut scratch);
    super::emptied_if_poisoned(&cache.free).push(scratch);
    out
}

/// The best `limit` rows for the query whose phrases are the single tokens `tokens` (in
/// query order), as `(rowid, score)`, best first, ties by rowid: exactly the BM25 of the
/// module docs summed over the tokens in query order (FTS5's `ORDER BY bm25(docs, w…), rowid
/// LIMIT limit` with `score = -bm25`). `weights` are the (title, headings, body) column
/// weights. `Ok(None)` when the postings disagree with the row map (never after a committed
/// scrape: a damaged index).
///
/// One method for every query, exact, in the manner of MaxScore (Turtle & Flood, 1995): a
/// term adds less than `idf · (k1 + 1)` to any row (its `f·(k1+1)/(f + norm)` stays below
/// `k1 + 1`), so the terms not scored yet can lift a row by at most `U`, the sum of their
/// bounds.
///
/// 1. Score the terms from the shortest list up, one slot per row; after each, `θ` = the
///    `limit`-th best of the partial scores and `U` the bound of the terms left. Stop at the
///    first point where `θ > U`: the terms left (the longest lists, whose IDF is the lowest)
///    are not scored for every row. After the last term `U` = 0, so this stops as soon as
///    `limit` rows hold a term; with fewer, every row scored is a candidate.
/// 2. A row holding only terms left (score ≤ `U`) cannot reach the top, and a row whose
///    partial score is below `θ − U` cannot overtake the `limit` rows at `θ` or more: the
///    rest are the candidates (a margin of 1e-9 covers rounding).
/// 3. Score the candidates exactly, every term in query order (FTS5's summation order, so
///    the floats are FTS5's): a long list of the base (with skip pointers) is looked up
///    for each candidate when they are few, any other list decoded whole; then rank them.
///    When step 1 scored every term in an order that sums as query order does (one or two
///    terms, or the lists already shortest first), its sums are these: step 3 is skipped.
///
/// The flag says whether step 1 left a term unscored (tests count them).
pub(crate) fn top_k(
    conn: &Connection,
    rows: &Rows,
    scratch: &mut Scratch,
    tokens: &[&str],
    weights: (f64, f64, f64),
    limit: usize,
) -> rusqlite::Result<Option<Ranked>> {
    // Slots are zero between searches (each search zeroes those it touched), so only a new
    // row count costs a fill.
    let n_rows = rows.rowids.len();
    if scratch.acc.len() != n_rows {
        scratch.acc.clear();
        scratch.acc.resize(n_rows, 0.0);
    }
    scratch.touched.clear();
    // Terms the index lacks add nothing to any score.
    let mut lists = load_lists(conn, rows, tokens)?;
    lists.retain(|l| l.rows > 0);
    if limit == 0 || lists.is_empty() {
        return Ok(Some((Vec::new(), false)));
    }
    // 1. The shortest lists first, until the terms left cannot lift a row into the top.
    let bound = |l: &List| l.idf * (K1 + 1.0);
    let mut order: Vec<usize> = (0..lists.len()).collect();
    order.sort_by_key(|&i| lists[i].rows);
    let mut floor = f64::NEG_INFINITY;
    let mut scored = 0;
    let mut partial = std::collections::BinaryHeap::new();
    for (n, &i) in order.iter().enumerate() {
        let list = &lists[i];
        for data in list.parts() {
            if !score_term(data, list.idf, rows, scratch, weights) {
                reset(scratch);
                return Ok(None);
            }
        }
        scored = n + 1;
        if scratch.touched.len() < limit {
            continue;
        }
        // θ is at most the bounds of the terms scored summed: no use looking for it when
        // that cannot beat the bound of the terms left.
        let rest: f64 = order[n + 1..].iter().map(|&i| bound(&lists[i])).sum();
        let most: f64 = order[..=n].iter().map(|&i| bound(&lists[i])).sum();
        if most <= rest * (1.0 + 1e-9) {
            continue;
        }
        // Removed rows (NaN) are no candidates and set no threshold.
        let Some(theta) = kth_largest(
            scratch
                .touched
                .iter()
                .map(|&o| scratch.acc[o as usize])
                .filter(|p| !p.is_nan()),
            limit,
            &mut partial,
        ) else {
            continue;
        };
        if theta > rest * (1.0 + 1e-9) {
            floor = (theta - rest) * (1.0 - 1e-9);
            break;
        }
    }
    // 2. The candidates get a negative slot, -(their index + 1); the others go back to
    // zero. `touched` is in no order, nor need the candidates be: each sums its own terms in
    // query order, and `best_first` orders them.
    // A NaN slot (a removed row) is never `>= floor`.
    let members: Vec<u32> = scratch
        .touched
        .iter()
        .copied()
        .filter(|&o| scratch.acc[o as usize] >= floor)
        .collect();
    // Every term scored, and added in query order (two terms add the same either way: IEEE
    // addition is commutative): the partial scores are the exact ones, step 3 is not needed.
    let in_query_order = lists.len() <= 2 || order.iter().enumerate().all(|(k, &i)| k == i);
    if scored == lists.len() && in_query_order {
        let best = best_first(
            members
                .iter()
                .map(|&o| (rows.rowids[o as usize], scratch.acc[o as usize])),
            limit,
        );
        reset(scratch);
        return Ok(Some((best, false)));
    }
    for &o in &scratch.touched {
        scratch.acc[o as usize] = 0.0;
    }
    for (k, &o) in members.iter().enumerate() {
        scratch.acc[o as usize] = -((k + 1) as f64);
    }
    // 3. Their exact scores, every term in query order.
    let mut exact = vec![0.0f64; members.len()];
    let mut consistent = true;
    'lists: for list in &lists {
        // A lookup decodes up to SKIP_EVERY postings; a whole list, all of them.
        if let Some(skips) = list
            .skips
            .as_deref()
            .filter(|_| list.more.is_empty() && members.len() * SKIP_EVERY < list.rows as usize)
        {
            for (slot, &o) in exact.iter_mut().zip(&members) {
                match find_posting(&list.data, skips, u64::from(o)) {
                    Ok(Some(counts)) => {
                        let Some(&norm) = rows.norms.get(o as usize) else {
                            consistent = false;
                            break 'lists;
                        };
                        *slot += part(list.idf, weighted(weights, counts), norm);
                    }
                    Ok(None) => {}
                    Err(()) => {
                        consistent = false;
                        break 'lists;
                    }
                }
            }
            continue;
        }
        for data in list.parts() {
            consistent &= for_each_posting(data, rows, weights, |ord, f, norm| {
                let slot = scratch.acc[ord];
                if slot < 0.0 {
                    exact[(-slot) as usize - 1] += part(list.idf, f, norm);
                }
            });
            if !consistent {
                break 'lists;
            }
        }
    }
    for &o in &members {
        scratch.acc[o as usize] = 0.0;
    }
    scratch.touched.clear();
    if !consistent {
        return Ok(None);
    }
    let best = best_first(
        members
            .iter()
            .zip(exact)
            .map(|(&o, score)| (rows.rowids[o as usize], score)),
        limit,
    );
    Ok(Some((best, scored < lists.len())))
}

/// A score ordered by [`f64::total_cmp`], the greatest first out of a heap made of
/// `Reverse`s of it being the least.
#[derive(Debug, Clone, Copy)]
struct Total(f64);

impl Ord for Total {
    fn cmp(&self, other: &Total) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl PartialOrd for Total {
    fn partial_cmp(&self, other: &Total) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Total {
    fn eq(&self, other: &Total) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Total {}

/// The `k`-th largest of `scores` by [`f64::total_cmp`] (what
/// `select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a))` puts at `k - 1`); `None` when
/// there are fewer than `k` (or `k` is 0). One pass keeping the `k` largest so far in
/// `heap` (emptied first; reused across calls), least on top: most scores cost one
/// comparison. Test `the_kth_largest_equals_selecting_it`.
fn kth_largest(
    scores: impl Iterator<Item = f64>,
    k: usize,
    heap: &mut std::collections::BinaryHeap<std::cmp::Reverse<Total>>,
) -> Option<f64> {
    use std::cmp::Reverse;
    heap.clear();
    if k == 0 {
        return None;
    }
    for score in scores {
        let score = Total(score);
        if heap.len() < k {
            heap.push(Reverse(score));
        } else if heap.peek().is_some_and(|Reverse(least)| score > *least) {
            heap.pop();
            heap.push(Reverse(score));
        }
    }
    (heap.len() == k).then(|| heap.peek().map_or(f64::NAN, |Reverse(t)| t.0))
}

/// A scored row, ordered best first: higher score, then lower rowid (FTS5's
/// `ORDER BY bm25(…), rowid`), so the greatest is the worst.
#[derive(Debug, Clone, Copy)]
struct Kept(i64, f64);

impl Ord for Kept {
    fn cmp(&self, other: &Kept) -> std::cmp::Ordering {
        other.1.total_cmp(&self.1).then(self.0.cmp(&other.0))
    }
}

impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Kept) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Kept {
    fn eq(&self, other: &Kept) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Kept {}

/// The best `limit` of `scored` (`(rowid, score)`), best first: higher score, then lower
/// rowid. One pass with a heap of the `limit` best so far, whose worst is on top: most rows
/// cost one comparison, instead of sorting every row that holds a term (tens of thousands
/// for a common word). The order is total (rowids are distinct), so the rows kept and their
/// order are those of sorting all and truncating (test
/// `selecting_the_best_equals_sorting_all_then_truncating`).
fn best_first(scored: impl Iterator<Item = (i64, f64)>, limit: usize) -> Vec<(i64, f64)> {
    if limit == 0 {
        return Vec::new();
    }
    let mut heap = std::collections::BinaryHeap::with_capacity(limit + 1);
    for (rowid, score) in scored {
        let row = Kept(rowid, score);
        if heap.len() < limit {
            heap.push(row);
        } else if heap.peek().is_some_and(|worst| row < *worst) {
            heap.pop();
            heap.push(row);
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|Kept(rowid, score)| (rowid, score))
        .collect()
}

/// Each token's postings and IDF (as `fts5Bm25GetData` computes it, clamped the same way),
/// in query order; a token the index lacks gets an empty list.
fn load_lists(conn: &Connection, rows: &Rows, tokens: &[&str]) -> rusqlite::Result<Vec<List>> {
    let mut get = conn.prepare_cached("SELECT rows, data, skips FROM postings WHERE term = ?1")?;
    let mut lists: Vec<List> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let found = get
            .query_row([token], |r| {
                Ok(List {
                    idf: 0.0,
                    rows: r.get::<_, i64>(0)?.max(0) as u64,
                    data: r.get(1)?,
                    more: Vec::new(),
                    skips: r.get(2)?,
                })
            })
            .optional()?;
        let mut list = found.unwrap_or_else(|| List {
            idf: 0.0,
            rows: 0,
            data: Vec::new(),
            more: Vec::new(),
            skips: None,
        });
        if rows.batches > 0 {
            // n(q) now: the base's count, plus each batch's rows added, less those removed.
            let mut hits = list.rows as i64;
            let mut deltas = conn.prepare_cached(
                "SELECT added, removed, data FROM postings_delta WHERE term = ?1 ORDER BY batch",
            )?;
            let mut found = deltas.query([token])?;
            while let Some(r) = found.next()? {
                hits += r.get::<_, i64>(0)? - r.get::<_, i64>(1)?;
                let data: Vec<u8> = r.get(2)?;
                if !data.is_empty() {
                    list.more.push(data);
                }
            }
            list.rows = hits.max(0) as u64;
        }
        if list.rows > 0 {
            list.idf = global_idf(rows.n, list.rows);
        }
        lists.push(list);
    }
    Ok(lists)
}

/// What federation needs of one index to score its hits with statistics summed over every
/// index ([`super::shard`]).
#[derive(Debug)]
pub(crate) struct Parts {
    /// Per token, the rows holding it (BM25's n(q)).
    pub(crate) df: Vec<u64>,
    /// Per row asked for, per token, its part of the score before IDF,
    /// `f·(k1+1) / (f + norm)` (0 when the row lacks the token).
    pub(crate) parts: Vec<Vec<f64>>,
    /// Per row asked for, its length in tokens (BM25's D; 0 when unknown).
    pub(crate) lens: Vec<u64>,
    /// BM25's N and the tokens of all rows (`tokens / n` is avgdl).
    pub(crate) n: u64,
    pub(crate) tokens: u64,
}

/// [`Parts`] of the rows `rowids` for `tokens` with the column `weights`, from the same
/// postings and row map [`top_k`] ranks with. `None` when a blob is malformed.
pub(crate) fn parts(
    conn: &Connection,
    rows: &Rows,
    tokens: &[&str],
    weights: (f64, f64, f64),
    rowids: &[i64],
) -> rusqlite::Result<Option<Parts>> {
    let lists = load_lists(conn, rows, tokens)?;
    let slot: HashMap<usize, usize> = rowids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| Some((rows.rowids.binary_search(id).ok()?, i)))
        .collect();
    let mut parts = vec![vec![0.0; tokens.len()]; rowids.len()];
    for (t, list) in lists.iter().enumerate() {
        for data in list.parts() {
            let whole = for_each_posting(data, rows, weights, |ord, f, norm| {
                if let Some(&i) = slot.get(&ord) {
                    parts[i][t] = part(1.0, f, norm);
                }
            });
            if !whole {
                return Ok(None);
            }
        }
    }
    let lens = rowids
        .iter()
        .map(|id| {
            let Ok(o) = rows.rowids.binary_search(id) else {
                return 0;
            };
            // norm = k1·(1 − b + b·D/avgdl), solved for D.
            let d = (rows.norms[o] / K1 - (1.0 - B)) * rows.avgdl / B;
            if d.is_finite() {
                d.round().max(0.0) as u64
            } else {
                0
            }
        })
        .collect();
    Ok(Some(Parts {
        df: lists.iter().map(|l| l.rows).collect(),
        parts,
        lens,
        n: rows.n,
        tokens: (rows.avgdl * rows.n as f64).round() as u64,
    }))
}

/// One query term's postings, as read from the `postings` table.
struct List {
    /// BM25's IDF of the term, as `fts5Bm25GetData` computes it (clamped).
    idf: f64,
    /// Rows holding the term.
    rows: u64,
    /// The base's postings (`postings.data`; empty when the base lacks the term).
    data: Vec<u8>,
    /// The batches' postings (`postings_delta.data`), in batch order.
    more: Vec<Vec<u8>>,
    /// For a long list: the skip pointers.
    skips: Option<Vec<u8>>,
}

impl List {
    /// Every posting blob of the term: the base's, then each batch's. A row is in one only.
    fn parts(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(&self.data[..]).chain(self.more.iter().map(|d| &d[..]))
    }
}

/// Zeroes every slot the search touched, whatever stopped it.
fn reset(scratch: &mut Scratch) {
    for &o in &scratch.touched {
        scratch.acc[o as usize] = 0.0;
    }
    scratch.touched.clear();
}

/// The second varint of a posting: the body count shifted left by two, then one bit each
/// for "title count follows" and "headings count follows" (most rows hold a term only in
/// their body: two bytes a posting instead of four).
fn counts_word(title: u32, headings: u32, body: u32) -> u64 {
    (u64::from(body) << 2) | (u64::from(title > 0) << 1) | u64::from(headings > 0)
}

/// Adds one term's part of the score to every row of its postings `data`: BM25 as
/// `fts5Bm25Function` computes it, `idf · f·(k1+1) / (f + k1·(1 − b + b·D/avgdl))`.
/// False when the blob is malformed or names a row the row map lacks.
fn score_term(
    data: &[u8],
    idf: f64,
    rows: &Rows,
    scratch: &mut Scratch,
    weights: (f64, f64, f64),
) -> bool {
    let Scratch { acc, touched, .. } = scratch;
    for_each_posting(data, rows, weights, |ord, f, norm| {
        let slot = &mut acc[ord];
        if *slot == 0.0 {
            touched.push(ord as u32);
        }
        // Phrases are added in query order, as fts5Bm25Function sums them.
        *slot += part(idf, f, norm);
    })
}

/// Calls `visit(ordinal, f, norm)` for each posting of `data`: `f` is FTS5's `aFreq`, the
/// column weights summed over the row's instances (exact: small integers), `norm` the row's
/// [`Rows::norms`]. False when the blob is malformed or names a row the row map lacks.
fn for_each_posting(
    data: &[u8],
    rows: &Rows,
    weights: (f64, f64, f64),
    mut visit: impl FnMut(usize, f64, f64),
) -> bool {
    let mut at = 0;
    let mut ord = 0u64;
    while at < data.len() {
        let Some((delta, counts)) = read_posting(data, &mut at) else {
            return false;
        };
        let Some(next) = ord.checked_add(delta) else {
            return false;
        };
        ord = next;
        let Some(&norm) = rows.norms.get(ord as usize) else {
            return false;
        };
        visit(ord as usize, weighted(weights, counts), norm);
    }
    true
}

/// Appends one posting: `first` (an ordinal delta in a list), then the
/// counts (title, headings, body) as the module docs give them.
fn put_posting(out: &mut Vec<u8>, first: u64, [title, headings, body]: [u32; 3]) {
    put_varint(out, first);
    put_varint(out, counts_word(title, headings, body));
    for c in [title, headings] {
        if c > 0 {
            put_varint(out, u64::from(c));
        }
    }
}

/// Reads the posting at `*at` that [`put_posting`] wrote, advancing `*at`: its first varint
/// and its counts (title, headings, body). `None` when truncated or overlong.
#[inline(always)]
fn read_posting(data: &[u8], at: &mut usize) -> Option<(u64, [u64; 3])> {
    let first = get_varint(data, at)?;
    let word = get_varint(data, at)?;
    let title = if word & 2 != 0 {
        get_varint(data, at)?
    } else {
        0
    };
    let headings = if word & 1 != 0 {
        get_varint(data, at)?
    } else {
        0
    };
    Some((first, [title, headings, word >> 2]))
}

/// FTS5's `aFreq` for a row: the column weights times the term's counts there, summed
/// (exact: small integers).
#[inline(always)]
fn weighted(weights: (f64, f64, f64), [t, h, b]: [u64; 3]) -> f64 {
    weights.0 * t as f64 + weights.1 * h as f64 + weights.2 * b as f64
}

/// One term's part of a row's score, `idf · f·(k1+1) / (f + norm)`, as `fts5Bm25Function`
/// computes it.
#[inline(always)]
fn part(idf: f64, f: f64, norm: f64) -> f64 {
    idf * ((f * (K1 + 1.0)) / (f + norm))
}

/// The counts of the row `ord` in the long list `data`, found through its skip pointers
/// `skips` (see the module docs) by decoding at most [`SKIP_EVERY`] postings: `Ok(None)` when
/// the row does not hold the term, `Err(())` when a blob is malformed.
fn find_posting(data: &[u8], skips: &[u8], ord: u64) -> Result<Option<[u64; 3]>, ()> {
    let pointers = skips.len() / 8;
    if !skips.len().is_multiple_of(8) {
        return Err(());
    }
    let pointer = |i: usize| {
        let p = &skips[i * 8..i * 8 + 8];
        let word = |b: &[u8]| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        (word(&p[..4]), word(&p[4..]) as usize)
    };
    // The last block starting at or before `ord` (a binary search over the pointers).
    let (mut lo, mut hi) = (0, pointers);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pointer(mid).0 <= ord {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let Some(i) = lo.checked_sub(1) else {
        return Ok(None);
    };
    let (mut current, mut at) = pointer(i);
    let first = read_posting(data, &mut at).ok_or(())?;
    let mut counts = first.1;
    while current < ord {
        if at >= data.len() {
            return Ok(None);
        }
        let (delta, next) = read_posting(data, &mut at).ok_or(())?;
        if delta == 0 {
            return Err(());
        }
        current = current.checked_add(delta).ok_or(())?;
        counts = next;
    }
    Ok((current == ord).then_some(counts))
}

/// Appends `v` as an LEB128 varint (7 bits a byte, low first).
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an LEB128 varint at `*at`, advancing it; `None` at a truncated or overlong one
/// (more than ten bytes). One byte (the common case: small deltas and counts) is one branch.
#[inline(always)]
fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let x = *b.get(*at)?;
    *at += 1;
    if x < 0x80 {
        return Some(u64::from(x));
    }
    let mut v = u64::from(x & 0x7f);
    let mut shift = 7;
    while shift < 64 {
        let x = *b.get(*at)?;
        *at += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            return Some(v);
        }
        shift += 7;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scry::{Hit, Index, ScryError, scrape};
    use crate::test_rng::Rng;
    use std::path::Path;

    /// The reference the postings are tested against: BM25 over every row of the index,
    /// brute force and plainly so. Each row's columns are tokenized by the one tokenizer;
    /// `n(q)`, the lengths and avgdl are counted from those tokens; each row's score is the
    /// definition (<https://sqlite.org/fts5.html#the_bm25_function>: k1 1.2, b 0.75, IDF
    /// floored at 1e-6, column weights 10 / 5 / 1, `idents` as body) summed over the
    /// query's tokens in order; best first, ties by id. Snippets by the one snippet
    /// algorithm from each row's own text.
    trait Oracle {
        fn search_oracle(&mut self, query: &str, limit: usize) -> Result<Vec<Hit>, ScryError>;
    }

    impl Oracle for Index {
        fn search_oracle(&mut self, query: &str, limit: usize) -> Result<Vec<Hit>, ScryError> {
            let limit = crate::scry::effective_limit(limit);
            let tokens = crate::scry::query_tokens(query);
            if tokens.is_empty() {
                return Err(ScryError::EmptyQuery);
            }
            let conn = Connection::open(self.path()).unwrap();
            let mut stmt = conn
                .prepare(
                    "SELECT d.id, f.path, d.doc_title, k.name, d.line, d.title, d.headings,
                       d.body, d.idents
                     FROM docs d JOIN files f ON f.id = d.file JOIN kinds k ON k.id = d.kind",
                )
                .unwrap();
            // Per row: its hit, texts, length, and per query token its counts per column.
            struct Row {
                id: i64,
                hit: Hit,
                texts: [String; 3],
                len: f64,
                counts: Vec<[f64; 3]>,
            }
            let rows: Vec<Row> = stmt
                .query_map([], |r| {
                    let texts: [String; 4] = [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?];
                    let mut counts = vec![[0.0; 3]; tokens.len()];
                    let mut len = 0.0;
                    for (column, text) in texts.iter().enumerate() {
                        for token in crate::scry::tokenize::tokens(text) {
                            len += 1.0;
                            for (q, want) in tokens.iter().enumerate() {
                                if token == *want {
                                    counts[q][column.min(2)] += 1.0;
                                }
                            }
                        }
                    }
                    let [title, headings, body, _] = texts;
                    Ok(Row {
                        id: r.get(0)?,
                        hit: Hit {
                            path: r.get(1)?,
                            title: r.get(2)?,
                            kind: r.get(3)?,
                            line: r.get::<_, i64>(4)? as u64,
                            snippet: String::new(),
                            score: 0.0,
                            redacted: false,
                        },
                        texts: [title, headings, body],
                        len,
                        counts,
                    })
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let n = rows.len() as f64;
            let avgdl = rows.iter().map(|r| r.len).sum::<f64>() / n;
            let idf: Vec<f64> = (0..tokens.len())
                .map(|q| {
                    let holding = rows
                        .iter()
                        .filter(|r| r.counts[q].iter().sum::<f64>() > 0.0)
                        .count() as f64;
                    let idf = ((n - holding + 0.5) / (holding + 0.5)).ln();
                    if idf <= 0.0 { 1e-6 } else { idf }
                })
                .collect();
            let mut scored: Vec<(f64, &Row)> = rows
                .iter()
                .filter(|r| r.counts.iter().flatten().any(|&c| c > 0.0))
                .map(|r| {
                    let mut score = 0.0;
                    for (q, [t, h, b]) in r.counts.iter().enumerate() {
                        let f = 10.0 * t + 5.0 * h + b;
                        score += idf[q]
                            * ((f * (1.2 + 1.0)) / (f + 1.2 * (1.0 - 0.75 + 0.75 * r.len / avgdl)));
                    }
                    (score, r)
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
            let terms: Vec<&str> = tokens.iter().map(String::as_str).collect();
            let snippets = crate::scry::snippet::Snippets::new(&terms);
            Ok(scored
                .into_iter()
                .take(limit)
                .map(|(score, r)| {
                    let [title, headings, body] = &r.texts;
                    Hit {
                        score,
                        snippet: snippets.row(title, headings, body),
                        ..r.hit.clone()
                    }
                })
                .collect())
        }
    }

    /// Words with skewed frequencies (the first ones are in most sections, like "the").
    const WORDS: &[&str] = &[
        "the", "the", "the", "session", "session", "index", "Index", "socket", "worker", "pool",
        "vault", "secret", "Deadline", "token", "bearer", "scrape", "mother", "registry", "fts5",
        "bm25", "x2", "cache", "cache", "a",
    ];
    /// Rare non-ASCII words ("café" is indexed as "cafe", "日本" as itself).
    const RARE: &[&str] = &["café", "naïve", "日本"];
    const SEPARATORS: &[&str] = &[
        " ", " ", " ", "\n", ". ", ": ", "-", "/", "_", ", ", " — ", " → ", "│",
    ];

    fn text(rng: &mut Rng, words: u64) -> String {
        let mut out = String::new();
        for _ in 0..words {
            let from = if rng.next().is_multiple_of(100) {
                RARE
            } else {
                WORDS
            };
            out.push_str(rng.pick::<&str>(from));
            out.push_str(rng.pick::<&str>(SEPARATORS));
        }
        out
    }

    /// Writes `files` markdown notes: front matter titles, headings at two levels, sections
    /// of 0–60 words (some empty, so only a heading holds the term).
    fn write_corpus(root: &Path, files: usize, seed: u64) {
        let mut rng = Rng(seed);
        for f in 0..files {
            let mut doc = String::new();
            if rng.next().is_multiple_of(2) {
                doc.push_str(&format!("---\ntitle: {}\n---\n", text(&mut rng, 3).trim()));
            }
            for _ in 0..(1 + rng.next() % 6) {
                let level = if rng.next().is_multiple_of(3) {
                    "##"
                } else {
                    "#"
                };
                let n = 1 + rng.next() % 3;
                doc.push_str(&format!("{level} {}\n", text(&mut rng, n)));
                let words = rng.next() % 61;
                doc.push_str(&text(&mut rng, if words < 8 { 0 } else { words }));
                doc.push('\n');
            }
            std::fs::write(root.join(format!("n{f:03}.md")), doc).unwrap();
        }
    }

    fn queries(rng: &mut Rng, n: usize) -> Vec<String> {
        let vocabulary: Vec<&str> = WORDS
            .iter()
            .copied()
            .chain(["cafe", "nowhere", "zzz9"])
            // Non-ASCII words, which the postings rank through the index's tokenizer, and
            // stars, which are punctuation (no prefix queries).
            .chain([
                "café",
                "naïve",
                "日本",
                "CAFÉ",
                "naïve-x2",
                "sess*",
                "café*",
            ])
            .collect();
        (0..n)
            .map(|_| {
                let k = 1 + rng.next() % 4;
                (0..k)
                    .map(|_| *rng.pick(&vocabulary))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// Every plain query gives exactly the oracle's hits: same rows, order, snippets and
    /// scores, bit for bit (`Hit`'s `PartialEq` compares the f64 scores exactly).
    fn assert_same_as_oracle(root: &Path, seed: u64) -> usize {
        let mut index = Index::open(root).unwrap();
        let mut rng = Rng(seed);
        let mut compared = 0;
        for q in queries(&mut rng, 150) {
            for limit in [1, 10, 1000] {
                let fast = index.search_plain(&q, limit).unwrap();
                let reference = index.search_oracle(&q, limit).unwrap();
                assert_eq!(fast, reference, "query {q:?}, limit {limit}");
                compared += fast.len();
            }
        }
        assert_eq!(
            index.fast_searches(),
            450,
            "the fast path did not answer every query"
        );
        let pruned = index.pruned_searches();
        assert!(pruned >= 5, "{pruned} of 450 searches pruned weak terms");
        compared
    }

    #[test]
    fn two_owners_in_one_process_share_no_row_map() {
        // Two daemons (two caches) searching one index each load their own row map; two
        // indexes of one owner share theirs.
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 10, 3);
        scrape(t.path()).unwrap();
        let (a, b) = (
            Arc::new(SearchCache::default()),
            Arc::new(SearchCache::default()),
        );
        let mut on_a = Index::open_with(t.path(), &a).unwrap();
        let mut also_on_a = Index::open_with(t.path(), &a).unwrap();
        let mut on_b = Index::open_with(t.path(), &b).unwrap();
        assert_eq!((a.row_maps(), b.row_maps()), (0, 0));
        let hits = on_a.search("session", 10, None).unwrap();
        assert!(!hits.is_empty());
        assert_eq!((a.row_maps(), b.row_maps()), (1, 0), "b saw a's row map");
        assert_eq!(also_on_a.search("session", 10, None).unwrap(), hits);
        assert_eq!(a.row_maps(), 1, "one owner, one row map per index file");
        assert_eq!(on_b.search("session", 10, None).unwrap(), hits);
        assert_eq!((a.row_maps(), b.row_maps()), (1, 1));
    }

    #[test]
    fn postings_equal_the_oracle_through_incremental_scrapes() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 60, 7);
        scrape(t.path()).unwrap();
        let compared = assert_same_as_oracle(t.path(), 1);
        assert!(compared > 5_000, "only {compared} hits compared");

        // An index opened before the next scrapes must follow them (new postings generation).
        let mut kept = Index::open(t.path()).unwrap();
        let before = kept.search_plain("session", 1000).unwrap();
        write_corpus(t.path(), 40, 8); // rewrites n000..n039
        std::fs::remove_file(t.path().join("n059.md")).unwrap();
        let s = scrape(t.path()).unwrap();
        assert_eq!((s.changed, s.removed), (40, 1));
        let after = kept.search_plain("session", 1000).unwrap();
        assert_ne!(before, after);
        assert_eq!(after, kept.search_oracle("session", 1000).unwrap());
        assert_same_as_oracle(t.path(), 2);

        // Only removals (fewer rows, no new rowid) rebuild the postings too.
        for f in 40..50 {
            std::fs::remove_file(t.path().join(format!("n{f:03}.md"))).unwrap();
        }
        assert_eq!(scrape(t.path()).unwrap().removed, 10);
        assert_same_as_oracle(t.path(), 3);
        let g = generation(&kept.conn).unwrap();
        // A scrape that changes nothing leaves the postings as they are.
        assert_eq!(scrape(t.path()).unwrap().changed, 0);
        assert_eq!(generation(&kept.conn).unwrap(), g);
    }

    #[test]
    fn an_index_of_the_previous_schema_is_refused_then_rebuilt_by_the_next_scrape() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 5, 3);
        scrape(t.path()).unwrap();
        // Make it what version 7 wrote: `docs` an FTS5 table (then version 1: no postings).
        let db = crate::paths::project_index_path(t.path());
        for (old, version) in [
            (
                "DROP TABLE docs; DROP TABLE kinds;
                 CREATE VIRTUAL TABLE docs USING fts5(title, headings, path UNINDEXED,
                   doc_title UNINDEXED, kind UNINDEXED, line UNINDEXED, body, idents,
                   tokenize = 'porter unicode61 remove_diacritics 2');
                 INSERT INTO docs(title, body) VALUES ('old', 'session text');
                 PRAGMA user_version = 7;",
                7,
            ),
            (
                "DROP TABLE postings; DROP TABLE postings_meta; PRAGMA user_version = 1;",
                1,
            ),
        ] {
            Connection::open(&db).unwrap().execute_batch(old).unwrap();
            let err = Index::open(t.path()).unwrap_err().to_string();
            assert!(
                err.contains(&format!("schema version {version}")) && err.contains("patina scrape"),
                "{err}"
            );
            let s = scrape(t.path()).unwrap();
            assert_eq!(s.changed, 5, "a schema change re-indexes every file");
            let mut index = Index::open(t.path()).unwrap();
            assert!(!index.search("session", 10, None).unwrap().is_empty());
            assert_eq!(index.fast_searches(), 1);
            let fts: i64 = Connection::open(&db)
                .unwrap()
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%fts5%'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(fts, 0, "no FTS5 table is left");
            assert_same_as_oracle(t.path(), version);
        }
    }

    #[test]
    fn an_index_of_schema_6_with_heads_is_refused_then_rebuilt_whole_by_the_watchers_scrape() {
        // Version 6 stored a score-ordered head per long list; version 7 has none. A v6
        // index (made here from a v7 one, as v6 laid it out) must be refused by search,
        // and the watcher's scrape of one changed path must rebuild it whole (a batch on
        // top of v6 postings would mix the two layouts).
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 30, 11);
        scrape(t.path()).unwrap();
        let db = crate::paths::project_index_path(t.path());
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE old(term TEXT PRIMARY KEY, rows INTEGER NOT NULL, data BLOB NOT NULL,
               head BLOB, skips BLOB) WITHOUT ROWID;
             INSERT INTO old SELECT term, rows, data, CASE WHEN skips IS NULL THEN NULL
               ELSE x'00' END, skips FROM postings;
             DROP TABLE postings; ALTER TABLE old RENAME TO postings;
             PRAGMA user_version = 6;",
        )
        .unwrap();
        drop(conn);
        let err = Index::open(t.path()).unwrap_err().to_string();
        assert!(
            err.contains("schema version 6") && err.contains("patina scrape"),
            "{err}"
        );
        let note = t.path().join("n003.md");
        std::fs::write(&note, "# changed\nsession zebraquux\n").unwrap();
        let scoped = crate::scry::scrape::scrape_paths(t.path(), &[note]).unwrap();
        assert!(scoped.scopes.is_none(), "an old schema is rebuilt whole");
        assert_eq!(scoped.summary.changed, 30, "every file re-indexed");
        let conn = Connection::open(&db).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, crate::scry::SCHEMA_VERSION);
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('postings')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(columns, ["term", "rows", "data", "skips"]);
        drop(conn);
        assert_same_as_oracle(t.path(), 4);
        let mut index = Index::open(t.path()).unwrap();
        let hits = index.search("zebraquux", 10, None).unwrap();
        assert_eq!(hits[0].path, "n003.md");
    }

    #[test]
    fn pruning_weak_terms_gives_the_exact_top_k() {
        // "alpha" is in every row, "beta" in most: FTS5 floors their IDF at 1e-6. "gamma"
        // and "delta" are in a few rows: strong. Repeated words and long rows vary the
        // frequencies and lengths, so the weak terms' tiny parts decide some ties.
        let t = tempfile::tempdir().unwrap();
        let mut rng = Rng(99);
        for f in 0..120 {
            let mut doc = String::new();
            for s in 0..3 {
                doc.push_str(&format!("# part {s}\nalpha "));
                for _ in 0..(rng.next() % 40) {
                    doc.push_str(match rng.next() % 1000 {
                        0..=2 => "gamma ",
                        3..=14 => "delta ",
                        15..=300 => "beta ",
                        301..=400 => "alpha ",
                        _ => "filler ",
                    });
                }
                doc.push('\n');
            }
            std::fs::write(t.path().join(format!("p{f:03}.md")), doc).unwrap();
        }
        scrape(t.path()).unwrap();
        let mut index = Index::open(t.path()).unwrap();
        let queries = [
            "alpha gamma",
            "gamma alpha beta",
            "delta beta",
            "beta delta alpha",
            "alpha beta",
            "delta",
            "gamma",
            "beta gamma delta",
            "alpha nowhere gamma",
        ];
        for q in queries {
            for limit in [1, 2, 5, 10, 50, 1000] {
                let fast = index.search_plain(q, limit).unwrap();
                assert_eq!(
                    fast,
                    index.search_oracle(q, limit).unwrap(),
                    "{q:?} limit {limit}"
                );
            }
        }
        assert_eq!(index.fast_searches(), 54);
        let pruned = index.pruned_searches();
        assert!(pruned >= 20, "only {pruned} searches left a term unscored");
    }

    #[test]
    fn ties_in_a_long_list_give_the_exact_top_k() {
        // "omega" is in nearly every row, with counts 1–4 in the body and sometimes in a
        // title or heading, and row lengths vary; "kappa" and "lambda" are in a few rows.
        // Groups of identical files tie exactly at several levels, inside and across the
        // head's boundary.
        let t = tempfile::tempdir().unwrap();
        let mut rng = Rng(5);
        for f in 0..150u32 {
            let mut doc = String::new();
            if f.is_multiple_of(7) {
                doc.push_str("---\ntitle: omega notes\n---\n");
            }
            for s in 0..3 {
                let heading = if rng.next().is_multiple_of(9) {
                    "omega"
                } else {
                    "part"
                };
                doc.push_str(&format!("# {heading} {s}\n"));
                for _ in 0..(1 + rng.next() % 4) {
                    doc.push_str("omega ");
                }
                for _ in 0..(rng.next() % 30) {
                    doc.push_str(match rng.next() % 100 {
                        0 => "kappa ",
                        1..=4 => "lambda ",
                        _ => "filler ",
                    });
                }
                doc.push('\n');
            }
            std::fs::write(t.path().join(format!("p{f:03}.md")), doc).unwrap();
        }
        for (group, (copies, text)) in [
            (70, "omega omega omega"),
            (20, "omega omega omega omega omega omega"),
            (5, "omega lambda"),
        ]
        .iter()
        .enumerate()
        {
            for c in 0..*copies {
                let name = t.path().join(format!("t{group}-{c:03}.md"));
                std::fs::write(name, format!("# same\n{text}\n")).unwrap();
            }
        }
        scrape(t.path()).unwrap();
        let mut index = Index::open(t.path()).unwrap();
        let queries = [
            "omega",
            "omega kappa",
            "kappa omega",
            "lambda omega kappa",
            "omega nowhere",
            "nowhere omega lambda",
            "omega omega",
            "kappa",
        ];
        for q in queries {
            for limit in [1, 2, 3, 5, 10, 20, 25, 50, 64, 65, 1000] {
                let fast = index.search_plain(q, limit).unwrap();
                assert_eq!(
                    fast,
                    index.search_oracle(q, limit).unwrap(),
                    "{q:?} limit {limit}"
                );
            }
        }
        assert_eq!(index.fast_searches(), 88);
        // The long list left unscored (looked up for the candidates) where a short one
        // fills the top; never for "omega" alone or "omega nowhere".
        let pruned = index.pruned_searches();
        eprintln!("{pruned} of 88 searches left the long list unscored");
        assert!(pruned >= 20, "only {pruned} searches pruned");
        assert!(pruned <= 66, "{pruned}: a one-list query cannot prune");
    }

    #[test]
    fn a_long_lists_skip_pointers_find_every_row() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 80, 21);
        scrape(t.path()).unwrap();
        let index = Index::open(t.path()).unwrap();
        let rows = load_rows(&index.conn).unwrap().unwrap();
        let mut long = 0;
        let mut stmt = index
            .conn
            .prepare("SELECT data, skips FROM postings WHERE skips IS NOT NULL")
            .unwrap();
        let mut q = stmt.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let (data, skips): (Vec<u8>, Vec<u8>) = (r.get(0).unwrap(), r.get(1).unwrap());
            let mut all = Vec::new();
            let mut at = 0;
            let mut ord = 0;
            while at < data.len() {
                let (delta, counts) = read_posting(&data, &mut at).unwrap();
                ord += delta;
                all.push((ord, counts));
            }
            assert!(all.len() >= LONG_LIST);
            let mut held = all.iter().peekable();
            for o in 0..rows.rowids.len() as u64 + 2 {
                let expected = match held.peek() {
                    Some(&&(h, counts)) if h == o => {
                        held.next();
                        Some(counts)
                    }
                    _ => None,
                };
                assert_eq!(find_posting(&data, &skips, o), Ok(expected), "ordinal {o}");
            }
            long += 1;
        }
        assert!(long >= 3, "only {long} long lists");
        assert_eq!(find_posting(b"\x01\x04", b"\x00\x00\x00", 1), Err(()));
    }

    #[test]
    fn a_damaged_postings_blob_is_an_error_naming_scrape_and_spoils_no_later_search() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 20, 5);
        scrape(t.path()).unwrap();
        let db = crate::paths::project_index_path(t.path());
        let conn = Connection::open(&db).unwrap();
        // "index" decodes into rows past the end of the row map; "token" ends mid-varint.
        // Both are scored after "session", whose slots must not leak into the next search.
        conn.execute_batch(
            "UPDATE postings SET data = x'7f007f007f00' WHERE term = 'index';
             UPDATE postings SET data = x'0180' WHERE term = 'token';",
        )
        .unwrap();
        drop(conn);
        let mut index = Index::open(t.path()).unwrap();
        for q in [
            "session index",
            "session token",
            "session",
            "pool vault",
            "session",
        ] {
            if q.contains("index") || q.contains("token") {
                let e = index.search_plain(q, 1000).unwrap_err();
                assert!(matches!(e, ScryError::Index { .. }), "{q:?}: {e}");
                assert!(e.to_string().contains("patina scrape"), "{e}");
                continue;
            }
            let fast = index.search_plain(q, 1000).unwrap();
            assert!(!fast.is_empty(), "{q:?}");
            assert_eq!(fast, index.search_oracle(q, 1000).unwrap(), "{q:?}");
        }
        assert_eq!(index.fast_searches(), 3);
        // Postings gone altogether: the same error, and the next scrape rebuilds them.
        Connection::open(&db)
            .unwrap()
            .execute_batch("DELETE FROM postings_meta;")
            .unwrap();
        let e = index.search("session", 10, None).unwrap_err().to_string();
        assert!(e.contains("patina scrape"), "{e}");
        scrape(t.path()).unwrap();
        assert_eq!(
            index.search_plain("session token", 10).unwrap(),
            index.search_oracle("session token", 10).unwrap()
        );
    }

    #[test]
    fn damaged_skip_pointers_never_panic() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 40, 17);
        scrape(t.path()).unwrap();
        let db = crate::paths::project_index_path(t.path());
        let queries = ["session", "session bm25", "bm25 session fts5", "the x2"];
        let damage = [
            // Truncated, past the list's end, ordinals past the row map, garbage pointers.
            "skips = x'00000000000000'",
            "skips = x'ffffffffffffffff'",
            "skips = x'00000000ffffff7f0000000000000000'",
            "skips = x'0100000000000000000000000000000000'",
            "skips = x'ffffffff00000000'",
        ];
        for d in damage {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(&format!("UPDATE postings SET {d} WHERE skips IS NOT NULL"))
                .unwrap();
            drop(conn);
            let mut index = Index::open(t.path()).unwrap();
            for q in queries {
                for limit in [1, 10, 1000] {
                    // An answer or an error naming the fix; never a panic.
                    if let Err(e) = index.search_plain(q, limit) {
                        assert!(e.to_string().contains("patina scrape"), "{e}");
                    }
                }
            }
            scrape_again(t.path());
        }
        // Rebuilt, the postings answer exactly again.
        let mut index = Index::open(t.path()).unwrap();
        for q in queries {
            assert_eq!(
                index.search_plain(q, 10).unwrap(),
                index.search_oracle(q, 10).unwrap(),
                "{q:?}"
            );
        }
        assert_eq!(index.fast_searches(), queries.len() as u64);
    }

    /// Every row of the postings tables but the generation, to compare two indexes' postings.
    fn postings_dump(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        for sql in [
            "SELECT term, rows, hex(data), hex(skips) FROM postings ORDER BY term",
            "SELECT rows, tokens, base, ordinals, last_rowid, batches, changed FROM postings_meta",
            "SELECT hex(map) FROM postings_map",
            "SELECT batch, hex(map), hex(removed) FROM postings_batches ORDER BY batch",
            "SELECT term, batch, added, removed, hex(data) FROM postings_delta ORDER BY term, batch",
        ] {
            let mut stmt = conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| Ok(format!("{:?}", r.get_ref(i)?)))
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|v| v.join("|"))
                })
                .unwrap();
            out.push(sql.to_string());
            out.extend(rows.map(Result::unwrap));
        }
        out
    }

    /// A new index's postings are built while its rows are written (`Fed`): they must be
    /// byte for byte what a rebuild from `docs` writes, notes and code (titles, headings,
    /// bodies, `idents`) alike, rows without a token included.
    #[test]
    fn postings_fed_while_writing_equal_a_rebuild() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 200, 5);
        for i in 0..20 {
            std::fs::write(
                t.path().join(format!("c{i}.rs")),
                format!(
                    "/// Parses {i}.\npub fn parseContentLength{i}(x: u8) -> u8 {{ x }}\n\n\
                     impl HttpServer{i} {{\n    fn session_token(&self) {{}}\n}}\n\n\
                     // ---- ++++ ----\n"
                ),
            )
            .unwrap();
        }
        std::fs::write(t.path().join("empty.txt"), "--- *** ---\n").unwrap();
        let s = scrape(t.path()).unwrap();
        assert_eq!(s.changed, 221, "{s:?}");
        let mut conn = Connection::open(crate::paths::project_index_path(t.path())).unwrap();
        let fed = postings_dump(&conn);
        assert!(fed.len() > 100, "{}", fed.len());
        let tx = conn.transaction().unwrap();
        rebuild(&tx).unwrap();
        assert_eq!(postings_dump(&tx), fed);
        // Rows that did not come through the feed (or out of order) fall back to a rebuild.
        let mut feed = Fed::new();
        feed.add(1, ["", "", "session", ""]);
        feed.write(&tx).unwrap();
        assert_eq!(postings_dump(&tx), fed);
    }

    /// A file's rows tokenized on a parsing thread (`FileTokens`) and added by the writer
    /// (`Built::add_file`) give exactly what `Built::add_row` of each row gives: the same
    /// lists (bytes, row counts), the same row map, rows without a token read but given no
    /// ordinal, terms met before in an earlier file or row reused.
    #[test]
    fn file_tokens_add_what_add_row_adds() {
        let files: Vec<Vec<[&str; 4]>> = vec![
            vec![
                ["Title words", "", "the session token session", ""],
                ["", "", "--- *** ---", ""],
                [
                    "",
                    "Parsing the Content",
                    "parseContentLength(x) parses x",
                    "parse content length",
                ],
                ["", "", "Ünïcödé naïve café CAFÉ Straße", ""],
            ],
            vec![],
            vec![["", "", "", ""]],
            vec![
                [
                    "",
                    "",
                    "session tokens hashing hashed",
                    "hash Sessions TOKEN",
                ],
                [
                    "Hashes",
                    "",
                    "relational relate related relating",
                    "generalizations",
                ],
                ["x", "x", "x x x", "x"],
                ["", "", "", "only idents here"],
            ],
        ];
        let mut by_row = Built::default();
        let mut by_file = Built::default();
        let mut fed = Fed::new();
        let mut rowid = 10i64;
        for file in &files {
            let tokens = FileTokens::of(file.iter().copied());
            assert_eq!(tokens.rows(), file.len());
            by_file.add_file(rowid, &tokens, 3);
            fed.add_file(rowid, &tokens);
            for (r, texts) in (rowid..).zip(file) {
                by_row.add_row(r, *texts, 3);
            }
            rowid += file.len() as i64 + 2;
        }
        assert!(fed.ordered);
        assert_eq!(by_file.read, by_row.read);
        assert_eq!(by_file.rows, by_row.rows);
        assert_eq!(by_file.map(), by_row.map());
        assert_eq!(by_file.tokens(), by_row.tokens());
        let lists = |b: Built| -> Vec<(String, u32, u64, Vec<u8>)> {
            b.into_sorted()
                .into_iter()
                .map(|(t, l)| (t, l.rows, l.last, l.data))
                .collect()
        };
        let want = lists(by_row);
        assert!(want.len() > 15, "{}", want.len());
        assert_eq!(lists(by_file), want);
        // A file that comes below the rows already fed breaks the order (a rebuild then).
        let again = FileTokens::of([["", "", "late", ""]]);
        fed.add_file(5, &again);
        assert!(!fed.ordered);
    }

    /// Issue 18: damaged postings (a blob's bytes overwritten, a row map cut short, a batch's
    /// postings or a skip pointer changed) are found by the next whole scrape, which changes
    /// no file, and rebuilt from the rows: the postings then equal a rebuild's, every search
    /// answers as the oracle does, and a sound index is left alone.
    #[test]
    fn a_scrape_that_changes_nothing_rebuilds_damaged_postings() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 150, 11);
        scrape(t.path()).unwrap();
        // A batch too (an incremental scrape), so the deltas can be damaged.
        let note = t.path().join("n007.md");
        let text = std::fs::read_to_string(&note).unwrap();
        std::fs::write(&note, format!("{text}\nsession token index appended\n")).unwrap();
        assert_eq!(scrape(t.path()).unwrap().changed, 1);
        let db = crate::paths::project_index_path(t.path());
        let open = || Connection::open(&db).unwrap();
        assert!(sound(&open()).unwrap(), "a scraped index is sound");
        let untouched = scrape(t.path()).unwrap();
        assert!(!untouched.repaired_postings, "{untouched:?}");
        // What a rebuild of these rows writes (the batch folded into the base).
        let want = {
            let mut conn = open();
            let tx = conn.transaction().unwrap();
            rebuild(&tx).unwrap();
            let dump = postings_dump(&tx);
            tx.rollback().unwrap();
            dump
        };
        let damage = [
            // A batch's list overwritten (first: a repair folds the batch into the base).
            "UPDATE postings_delta SET data = x'00ff' WHERE (term, batch) IN (SELECT term, batch
               FROM postings_delta WHERE length(data) > 1 LIMIT 1)",
            // A byte in the middle of the longest list overwritten (an ordinal or a count).
            "UPDATE postings SET data = CAST(substr(data, 1, length(data) / 2) || x'05' ||
               substr(data, length(data) / 2 + 2) AS BLOB) WHERE term = (SELECT term FROM
               postings ORDER BY length(data) DESC LIMIT 1)",
            // The same without the cast: `||` makes it text, not a blob.
            "UPDATE postings SET data = substr(data, 1, 2) || x'05' WHERE term = 'session'",
            // A count changed (the last posting's: body 1 → 2, or a title or headings count
            // 4 → 8): still decodes, ordinals unchanged.
            "UPDATE postings SET data = CAST(substr(data, 1, length(data) - 1) || x'08' AS BLOB)
               WHERE term = (SELECT term FROM postings WHERE hex(substr(data, -1)) = '04'
               LIMIT 1)",
            // Cut short mid-varint.
            "UPDATE postings SET data = x'0180' WHERE term = 'session'",
            // A list's postings past the row map.
            "UPDATE postings SET data = x'7f007f007f00', rows = 3 WHERE term = 'index'",
            // The row map cut short.
            "UPDATE postings_map SET map = CAST(substr(map, 1, length(map) - 3) AS BLOB)",
            // A skip pointer moved.
            "UPDATE postings SET skips = CAST(x'01000000' || substr(skips, 5) AS BLOB)
               WHERE skips IS NOT NULL",
            // The statistics row gone.
            "DELETE FROM postings_meta",
        ];
        for d in damage {
            let changed = open().execute(d, []).unwrap();
            assert!(changed > 0, "the damage changed nothing: {d}");
            assert!(!sound(&open()).unwrap(), "not found damaged: {d}");
            let s = scrape(t.path()).unwrap();
            assert!(s.repaired_postings, "{d}: {s:?}");
            assert_eq!((s.changed, s.removed), (0, 0), "{d}: {s:?}");
            assert!(sound(&open()).unwrap(), "{d}");
            // The generation is new; the rest is what a rebuild writes.
            assert_eq!(postings_dump(&open()), want, "{d}");
            let mut index = Index::open(t.path()).unwrap();
            for q in ["session", "session token", "index bm25", "pool vault"] {
                assert_eq!(
                    index.search_plain(q, 20).unwrap(),
                    index.search_oracle(q, 20).unwrap(),
                    "{d}: {q:?}"
                );
            }
        }
    }

    /// The watcher's second walk at start trusts the postings its first whole scrape has
    /// just checked: it does not read them whole again (`sound`), so it leaves damage made
    /// in between alone; every other whole scrape (the CLI's, `scrape_with_dirs`: the
    /// watcher's first walk, its polls, a scoped scrape that falls back) still finds and
    /// repairs it.
    #[test]
    fn only_the_watchers_second_walk_at_start_trusts_the_postings() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 60, 5);
        scrape(t.path()).unwrap();
        let db = crate::paths::project_index_path(t.path());
        let open = || Connection::open(&db).unwrap();
        let damage = "UPDATE postings SET data = x'0180' WHERE term = 'session'";
        assert!(open().execute(damage, []).unwrap() > 0);
        let (walk, dirs) = crate::scry::scrape::rescrape_with_dirs(t.path()).unwrap();
        assert!(!walk.repaired_postings, "{walk:?}");
        assert_eq!((walk.changed, walk.removed), (0, 0), "{walk:?}");
        assert_eq!(dirs.first().map(PathBuf::as_path), Some(t.path()));
        assert!(
            !sound(&open()).unwrap(),
            "the trusting walk read and mended them"
        );
        let (checked, _) = crate::scry::scrape_with_dirs(t.path()).unwrap();
        assert!(checked.repaired_postings, "{checked:?}");
        assert!(sound(&open()).unwrap());
    }

    /// Rebuilds the postings whole (a scrape that changes a file writes a batch, which would
    /// leave the damage in the base), undoing any damage.
    fn scrape_again(root: &Path) {
        let note = root.join("n000.md");
        let text = std::fs::read_to_string(&note).unwrap();
        std::fs::write(&note, format!("{text}\nmore\n")).unwrap();
        assert_eq!(scrape(root).unwrap().changed, 1);
        let mut conn = Connection::open(crate::paths::project_index_path(root)).unwrap();
        let tx = conn.transaction().unwrap();
        rebuild(&tx).unwrap();
        tx.commit().unwrap();
    }

    /// `postings_meta.batches` of the index at `root`.
    fn batches(root: &Path) -> i64 {
        Connection::open(crate::paths::project_index_path(root))
            .unwrap()
            .query_row("SELECT batches FROM postings_meta", [], |r| r.get(0))
            .unwrap()
    }

    /// Incremental scrapes write batches (not a rebuild) and every search still equals the oracle
    /// bit for bit: rows removed from the base and from earlier batches, a file edited in
    /// two batches in a row, a term whose every row is gone, a term only the batches hold;
    /// past [`MAX_BATCHES`] the next scrape rebuilds.
    #[test]
    fn batches_of_incremental_scrapes_equal_the_oracle() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 60, 21);
        std::fs::write(t.path().join("only.md"), "# lonely\nsingleton words here\n").unwrap();
        scrape(t.path()).unwrap();
        assert_eq!(batches(t.path()), 0);
        let mut kept = Index::open(t.path()).unwrap();
        let mut rng = Rng(77);
        for round in 0..6u64 {
            // Rewrite a few notes (n000 in every round: its rows of the last batch go),
            // delete one, add one.
            let mut doc = text(&mut rng, 40);
            doc.push_str(&format!(" fresh{round} "));
            std::fs::write(t.path().join("n000.md"), format!("# edit {round}\n{doc}\n")).unwrap();
            for _ in 0..3 {
                let n = 1 + rng.next() % 59;
                let words = 1 + rng.next() % 80;
                let doc = text(&mut rng, words);
                std::fs::write(
                    t.path().join(format!("n{n:03}.md")),
                    format!("# x\n{doc}\n"),
                )
                .unwrap();
            }
            let _ = std::fs::remove_file(t.path().join(format!("n{:03}.md", 50 + round)));
            std::fs::write(
                t.path().join(format!("added{round}.md")),
                text(&mut rng, 30),
            )
            .unwrap();
            let s = scrape(t.path()).unwrap();
            assert!(s.changed >= 2, "{s:?}");
            assert_eq!(batches(t.path()), round as i64 + 1, "round {round}");
            assert_same_as_oracle(t.path(), 100 + round);
            for q in [
                format!("fresh{round}"),
                "singleton".into(),
                "session fresh0".into(),
            ] {
                assert_eq!(
                    kept.search_plain(&q, 10).unwrap(),
                    kept.search_oracle(&q, 10).unwrap(),
                    "{q:?}"
                );
            }
            assert!(
                !kept
                    .search_plain(&format!("fresh{round}"), 10)
                    .unwrap()
                    .is_empty()
            );
            if round > 0 {
                let gone = format!("fresh{}", round - 1);
                assert!(kept.search_plain(&gone, 10).unwrap().is_empty(), "{gone}");
            }
        }
        // The only row holding "singleton" and "lonely" goes: n(q) = 0, nothing found.
        std::fs::remove_file(t.path().join("only.md")).unwrap();
        scrape(t.path()).unwrap();
        assert!(kept.search_plain("singleton", 10).unwrap().is_empty());
        assert_eq!(
            kept.search_plain("singleton session", 10).unwrap(),
            kept.search_oracle("singleton session", 10).unwrap()
        );
        // Past the bound the scrape rebuilds: no batch left, the heads used again.
        let conn = Connection::open(crate::paths::project_index_path(t.path())).unwrap();
        conn.execute("UPDATE postings_meta SET batches = ?1", [MAX_BATCHES])
            .unwrap();
        drop(conn);
        std::fs::write(t.path().join("n001.md"), "# again\nsession index\n").unwrap();
        scrape(t.path()).unwrap();
        assert_eq!(batches(t.path()), 0);
        assert_same_as_oracle(t.path(), 200);
    }

    #[test]
    fn a_transaction_left_open_does_not_wedge_the_index() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 5, 13);
        scrape(t.path()).unwrap();
        let mut index = Index::open(t.path()).unwrap();
        index
            .conn
            .execute_batch("BEGIN; SELECT count(*) FROM files;")
            .unwrap();
        assert!(!index.search("session", 10, None).unwrap().is_empty());
        assert!(
            index.conn.is_autocommit(),
            "the search ended every transaction"
        );
        assert!(!index.search("index", 10, None).unwrap().is_empty());
        assert_eq!(index.fast_searches(), 2);
    }

    #[test]
    fn non_ascii_queries_are_ranked_by_the_postings() {
        let t = tempfile::tempdir().unwrap();
        write_corpus(t.path(), 20, 11);
        scrape(t.path()).unwrap();
        let mut index = Index::open(t.path()).unwrap();
        for q in ["café", "x2 日本", "naïve→café"] {
            let hits = index.search(q, 10, None).unwrap();
            assert!(!hits.is_empty(), "{q:?} found nothing");
            assert_eq!(
                index.search_plain(q, 10).unwrap(),
                index.search_oracle(q, 10).unwrap(),
                "{q:?}"
            );
        }
        assert_eq!(index.fast_searches(), 6);
        // Symbols cut words: "session→vault" is "session" and "vault".
        assert_eq!(
            index.search_plain("session→vault", 1000).unwrap(),
            index.search_oracle("session vault", 1000).unwrap()
        );
        // A non-ASCII word whose token is plain ASCII ("Café" → "cafe") has its snippets
        // cut in Rust on ASCII text, equal to FTS5's.
        std::fs::write(
            t.path().join("menu.md"),
            "# Menu\n\nThe cafe opens at nine.\n",
        )
        .unwrap();
        scrape(t.path()).unwrap();
        let hits = index.search_plain("Café", 1000).unwrap();
        assert_eq!(hits, index.search_oracle("Café", 1000).unwrap());
        let menu = hits.iter().find(|h| h.path == "menu.md").expect("menu.md");
        assert_eq!(menu.snippet, "The [cafe] opens at nine.");
        // A star is punctuation: "sessions*" is the word "sessions".
        assert_eq!(
            index.search_plain("sessions*", 1000).unwrap(),
            index.search_oracle("sessions", 1000).unwrap()
        );
        let mut index = Index::open(t.path()).unwrap();
        // ASCII punctuation only cuts words: those queries are plain words.
        for q in ["token-bearer", "\"the index\""] {
            let hits = index.search(q, 10, None).unwrap();
            assert!(!hits.is_empty(), "{q:?} found nothing");
        }
        assert_eq!(index.fast_searches(), 2);
        // A plain word that FTS5 folds from non-ASCII text ("café" is indexed as "cafe").
        assert!(!index.search("cafe", 10, None).unwrap().is_empty());
        assert_eq!(index.fast_searches(), 3);
    }

    #[test]
    fn an_index_with_no_token_has_no_postings_and_searches_find_nothing() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("empty.md"), "").unwrap();
        std::fs::write(t.path().join("dots.md"), "... --- ...\n").unwrap();
        scrape(t.path()).unwrap();
        let mut index = Index::open(t.path()).unwrap();
        assert!(index.search("anything", 10, None).unwrap().is_empty());
    }

    /// [`best_first`] (a heap of the best `limit`) equals sorting every row and
    /// truncating, on random lists with many tied scores (a few distinct values), `-0.0`
    /// beside `0.0`, and limits from 0 to past the list's length.
    #[test]
    fn selecting_the_best_equals_sorting_all_then_truncating() {
        let mut rng = Rng(1865);
        let values = [3.5, 1.25, 1.25 + f64::EPSILON, 0.0, -0.0, 7.0, 2.0];
        for _ in 0..crate::test_rng::cases(400, 20_000) {
            let n = rng.below(300);
            let mut rowids: Vec<i64> = (0..n as i64).map(|i| i * 3 + rng.below(3) as i64).collect();
            // Distinct rowids, in no order.
            for i in (1..rowids.len()).rev() {
                rowids.swap(i, rng.below(i + 1));
            }
            let scored: Vec<(i64, f64)> = rowids
                .into_iter()
                .map(|r| (r, *rng.pick(&values) * (1 + rng.below(3)) as f64))
                .collect();
            let limit = rng.below(n + 3);
            let mut plain = scored.clone();
            plain.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            plain.truncate(limit);
            let fast = best_first(scored.into_iter(), limit);
            let bits =
                |v: &[(i64, f64)]| v.iter().map(|&(r, s)| (r, s.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&plain), "limit {limit}");
        }
    }

    /// [`kth_largest`] (a heap of the `k` largest) equals selecting the `k`-th largest
    /// with `select_nth_unstable_by`, as MaxScore's threshold did, on random scores with
    /// many ties and `-0.0` beside `0.0`, for `k` from 0 to past their count.
    #[test]
    fn the_kth_largest_equals_selecting_it() {
        let mut rng = Rng(1868);
        let values = [3.5, 1.25, 0.0, -0.0, 7.0, 2.0, 1e-6];
        let mut heap = std::collections::BinaryHeap::new();
        for _ in 0..crate::test_rng::cases(400, 20_000) {
            let n = rng.below(200);
            let mut scores: Vec<f64> = (0..n)
                .map(|_| *rng.pick(&values) * (1 + rng.below(4)) as f64)
                .collect();
            let k = rng.below(n + 3);
            let got = kth_largest(scores.iter().copied(), k, &mut heap);
            let want = (k > 0 && k <= n).then(|| {
                *scores
                    .select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a))
                    .1
            });
            assert_eq!(
                got.map(f64::to_bits),
                want.map(f64::to_bits),
                "k {k} of {n}"
            );
        }
    }

    #[test]
    fn varints_round_trip_and_reject_truncation() {
        let values = [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ];
        let mut buf = Vec::new();
        for v in values {
            put_varint(&mut buf, v);
        }
        let mut at = 0;
        for v in values {
            assert_eq!(get_varint(&buf, &mut at), Some(v));
        }
        assert_eq!(at, buf.len());
        assert_eq!(get_varint(&[0x80, 0x80], &mut 0), None);
        assert_eq!(get_varint(&[0xff; 11], &mut 0), None);
    }
    /// From the hostile review of 2026-11-30: random corpora with one or two long lists (some weak, in half the
    /// rows or more), many identical files, words only in titles or headings, and
    /// incremental scrapes (add, remove, modify) under an index kept open; every query and
    /// limit must equal FTS5's answer bit for bit, and the head must be used.
    #[test]
    fn random_corpora_with_long_lists_equal_the_oracle_through_scrapes() {
        let mut pruned_total = 0;
        for seed in [11u64, 12, 13] {
            let t = tempfile::tempdir().unwrap();
            let mut rng = Rng(seed);
            let words = |rng: &mut Rng, n: u64| {
                let mut s = String::new();
                for _ in 0..n {
                    s.push_str(match rng.next() % 100 {
                        0..=29 => "omega ",
                        30..=31 => "kappa ",
                        32 => "lambda ",
                        33..=60 => "filler ",
                        61..=70 => "psi\n",
                        71..=75 => "Omega. ",
                        _ => "other ",
                    });
                }
                s
            };
            let write = |rng: &mut Rng, name: &str| {
                let mut doc = String::new();
                if rng.next().is_multiple_of(4) {
                    doc.push_str("---\ntitle: omega titleonly\n---\n");
                }
                for s in 0..(1 + rng.next() % 4) {
                    let h = if rng.next().is_multiple_of(6) {
                        "headonly omega"
                    } else {
                        "part"
                    };
                    doc.push_str(&format!("# {h} {s}\n"));
                    let n = rng.next() % 40;
                    doc.push_str(&words(rng, n));
                    doc.push('\n');
                }
                std::fs::write(t.path().join(name), doc).unwrap();
            };
            for f in 0..220 {
                write(&mut rng, &format!("r{f:03}.md"));
            }
            for c in 0..90 {
                std::fs::write(
                    t.path().join(format!("same{c:03}.md")),
                    "# same\nomega psi omega\n",
                )
                .unwrap();
            }
            scrape(t.path()).unwrap();
            let mut index = Index::open(t.path()).unwrap();
            let queries = [
                "omega kappa",
                "kappa omega",
                "omega lambda",
                "lambda kappa omega",
                "omega",
                "psi kappa",
                "kappa psi",
                "psi lambda",
                "omega titleonly",
                "headonly omega",
                "omega psi kappa",
                "other kappa",
                "filler lambda",
                "omega nowhere kappa",
            ];
            for round in 0..4 {
                for q in queries {
                    for limit in [1, 2, 3, 4, 7, 10, 16, 31, 32, 33, 63, 64, 65, 100, 1000] {
                        let fast = index.search_plain(q, limit).unwrap();
                        let want = index.search_oracle(q, limit).unwrap();
                        assert_eq!(fast, want, "seed {seed} round {round} {q:?} limit {limit}");
                    }
                }
                // Add, remove and modify files, then scrape again under the open index.
                for f in 0..25 {
                    let n = rng.next() % 220;
                    let name = t.path().join(format!("r{n:03}.md"));
                    if f % 3 == 0 {
                        let _ = std::fs::remove_file(name);
                    } else {
                        write(&mut rng, &format!("r{n:03}.md"));
                    }
                }
                for c in 0..10 {
                    std::fs::write(
                        t.path().join(format!("new{round}-{c}.md")),
                        "# same\nomega psi omega kappa\n",
                    )
                    .unwrap();
                }
                scrape(t.path()).unwrap();
            }
            pruned_total += index.pruned_searches();
        }
        eprintln!("{pruned_total} searches left a term unscored");
        assert!(pruned_total > 50, "{pruned_total}");
    }
}
