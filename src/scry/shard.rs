//! One index's share of a federated search: its best hits with each query term's part of
//! their BM25 score kept apart, and the statistics (rows, document frequency per term) a
//! merger needs to re-score them with one IDF shared by all indexes. Depends on the rest of
//! [`crate::scry`] and `rusqlite`; knows nothing of other projects or HTTP.
//!
//! FTS5's `bm25()` is a sum over the query's phrases: `score = Σᵢ idfᵢ · gᵢ`, where `gᵢ` depends
//! only on the row (the phrase's weighted frequency in it and its length against the index's
//! average) and `idfᵢ = ln((N − nᵢ + 0.5) / (nᵢ + 0.5))` (clamped to 1e-6) depends on the whole
//! index (`N` rows, `nᵢ` of them matching phrase `i`). See
//! <https://sqlite.org/fts5.html#the_bm25_function>. A [`Shard`] carries `N`, every `nᵢ`, and
//! for each hit every `gᵢ` ([`ShardHit::parts`]), so [`global_idf`] over summed statistics
//! gives scores that are comparable across indexes.

use super::{Hit, Index, ScryError, bm25_sql, effective_limit, query, snippet_sql};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The statistics and hits of one index for one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    /// Rows (sections and code windows) in the index: BM25's `N`.
    pub rows: u64,
    /// For each query term, in [`query::terms`] order, the rows that match it: BM25's `nᵢ`.
    pub df: Vec<u64>,
    /// The index's best hits by its own BM25, best first.
    pub hits: Vec<ShardHit>,
    /// Tokens in the whole index, all columns: `tokens / rows` is BM25's `avgdl`. 0 when
    /// unknown (then a merger keeps each index's own length normalization).
    #[serde(default)]
    pub tokens: u64,
}

/// One hit of a [`Shard`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardHit {
    /// The hit as `/api/scry` gives it (its `score` is the index's own BM25).
    #[serde(flatten)]
    pub hit: Hit,
    /// For each query term, its BM25 part before IDF (`gᵢ`, 0 when the row lacks the term).
    pub parts: Vec<f64>,
    /// The row's length in tokens, all columns (BM25's `D`); 0 when unknown.
    #[serde(default)]
    pub len: u64,
}

/// FTS5's BM25 `k1` (fixed in `fts5_aux.c`).
pub const BM25_K1: f64 = 1.2;
/// FTS5's BM25 `b` (fixed in `fts5_aux.c`).
pub const BM25_B: f64 = 0.75;

/// Re-normalizes one part `g` computed for a row of `len` tokens against an average row
/// length `from` to what it would be against `to`: BM25's
/// `g = f·(k1+1) / (f + k1·(1 − b + b·D/avgdl))` solved for the weighted frequency `f`, then
/// evaluated with the other average. Returns `g` unchanged when a length is unknown (0).
pub fn renormalize(g: f64, len: u64, from: f64, to: f64) -> f64 {
    if g <= 0.0 || len == 0 || from <= 0.0 || to <= 0.0 {
        return g;
    }
    let k = |avg: f64| BM25_K1 * (1.0 - BM25_B + BM25_B * len as f64 / avg);
    let room = BM25_K1 + 1.0 - g;
    if room <= 0.0 {
        return g;
    }
    let f = g * k(from) / room;
    f * (BM25_K1 + 1.0) / (f + k(to))
}

/// Decodes SQLite varints (big-endian groups of 7 bits, the 9th byte whole), as FTS5 stores
/// its averages record and row sizes.
fn varints(b: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let mut v: u64 = 0;
        for k in 0..9 {
            let Some(&x) = b.get(i) else { break };
            i += 1;
            if k == 8 {
                v = (v << 8) | u64::from(x);
                break;
            }
            v = (v << 7) | u64::from(x & 0x7f);
            if x & 0x80 == 0 {
                break;
            }
        }
        out.push(v);
    }
    out
}

/// FTS5's floor for an IDF: a phrase in half the rows or more gets this instead of a value
/// of zero or less (`fts5Bm25GetData` in `fts5_aux.c`).
pub const BM25_MIN_IDF: f64 = 1e-6;

/// The IDF FTS5's `bm25()` uses for a phrase found in `n` of `rows` rows (clamped to
/// [`BM25_MIN_IDF`] when the phrase is in half the rows or more).
pub fn global_idf(rows: u64, n: u64) -> f64 {
    let (rows, n) = (rows as f64, n as f64);
    let idf = ((rows - n + 0.5) / (n + 0.5)).ln();
    if idf <= 0.0 { BM25_MIN_IDF } else { idf }
}

/// [`Index::search`]'s statement with the rowid.
const SHARD_SQL: &str = concat!(
    "SELECT rowid, path, doc_title, kind, line, ",
    snippet_sql!(),
    ", ",
    bm25_sql!(),
    " AS score FROM docs WHERE docs MATCH ?1 ORDER BY score, rowid LIMIT ?2"
);

/// One phrase's BM25 for the given rows (a JSON array of rowids). FTS5 computes the IDF over
/// the whole index whatever rows are kept.
const PART_SQL: &str = concat!(
    "SELECT rowid, ",
    bm25_sql!(),
    " FROM docs WHERE docs MATCH ?1 AND rowid IN (SELECT value FROM json_each(?2))"
);

impl Index {
    /// This index's [`Shard`] for `query`: at most `limit` hits (0 → default, clamped like
    /// [`Index::search`]) ranked by the index's own BM25, each with its per-term parts, and
    /// the row and per-term match counts. Same query rules, deadline and errors as
    /// [`Index::search`]; it costs one count and one scoring pass per query term more.
    pub fn shard(
        &mut self,
        query: &str,
        limit: usize,
        deadline: Option<Instant>,
    ) -> Result<Shard, ScryError> {
        let limit = effective_limit(limit);
        let terms = query::terms(query);
        let full = query::join(&terms).ok_or(ScryError::EmptyQuery)?;
        self.with_deadline(deadline, |conn| shard_on(conn, &terms, &full, limit))
    }
}

fn shard_on(
    conn: &Connection,
    terms: &[query::Term],
    full: &str,
    limit: usize,
) -> rusqlite::Result<Shard> {
    let rows: i64 = conn
        .prepare_cached("SELECT coalesce(sum(rows), 0) FROM files")?
        .query_row([], |r| r.get(0))?;
    let rows = u64::try_from(rows).unwrap_or(0);
    let mut df = Vec::with_capacity(terms.len());
    {
        let mut count = conn.prepare_cached("SELECT count(*) FROM docs WHERE docs MATCH ?1")?;
        for t in terms {
            let n: i64 = count.query_row([&t.fts], |r| r.get(0))?;
            df.push(u64::try_from(n).unwrap_or(0));
        }
    }
    let mut ids = Vec::new();
    let mut hits = Vec::new();
    {
        let mut stmt = conn.prepare_cached(SHARD_SQL)?;
        let mapped = stmt.query_map(rusqlite::params![full, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, super::hit_from_row(r, 1)?))
        })?;
        for row in mapped {
            let (id, hit) = row?;
            ids.push(id);
            hits.push(ShardHit {
                hit,
                parts: vec![0.0; terms.len()],
                len: 0,
            });
        }
    }
    if !ids.is_empty() {
        let id_list = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        let mut part = conn.prepare_cached(PART_SQL)?;
        for (i, t) in terms.iter().enumerate() {
            if df[i] == 0 {
                continue;
            }
            let idf = global_idf(rows, df[i]);
            let scored = part.query_map(rusqlite::params![t.fts, id_list], |r| {
                Ok((r.get::<_, i64>(0)?, -r.get::<_, f64>(1)?))
            })?;
            for s in scored {
                let (id, score) = s?;
                if let Some(pos) = ids.iter().position(|x| *x == id) {
                    hits[pos].parts[i] = score / idf;
                }
            }
        }
    }
    // Lengths, from FTS5's own tables (https://sqlite.org/fts5.html, shadow tables
    // `docs_data` id 1: the averages record — row count, then tokens per column — and
    // `docs_docsize`: tokens per column of each row). Unreadable → 0 (unknown).
    let tokens = conn
        .prepare_cached("SELECT block FROM docs_data WHERE id = 1")?
        .query_row([], |r| r.get::<_, Vec<u8>>(0))
        .map(|b| varints(&b).iter().skip(1).sum())
        .unwrap_or(0);
    {
        let mut size = conn.prepare_cached("SELECT sz FROM docs_docsize WHERE id = ?1")?;
        for (id, h) in ids.iter().zip(hits.iter_mut()) {
            if let Ok(b) = size.query_row([id], |r| r.get::<_, Vec<u8>>(0)) {
                h.len = varints(&b).iter().sum();
            }
        }
    }
    Ok(Shard {
        rows,
        df,
        hits,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = t.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        crate::scry::scrape(t.path()).unwrap();
        t
    }

    #[test]
    fn parts_times_local_idf_give_back_the_local_score() {
        let t = project(&[
            ("layer/core/a.md", "# Alpha\n\nquokka quokka marigold\n"),
            ("layer/core/b.md", "# Beta\n\nmarigold only here\n"),
            ("layer/core/c.md", "# Gamma\n\nnothing relevant\n"),
            ("layer/core/d.md", "# Delta\n\nstill nothing relevant\n"),
            ("layer/core/e.md", "# Epsilon\n\nquokka once\n"),
        ]);
        let mut idx = Index::open(t.path()).unwrap();
        let s = idx.shard("quokka marigold", 10, None).unwrap();
        assert_eq!(s.df, vec![2, 2]);
        assert!(s.rows >= 5);
        assert!(!s.hits.is_empty());
        for h in &s.hits {
            let rescored: f64 = h
                .parts
                .iter()
                .zip(&s.df)
                .map(|(g, n)| g * global_idf(s.rows, *n))
                .sum();
            assert!(
                (rescored - h.hit.score).abs() < 1e-9 * h.hit.score.abs().max(1.0),
                "{rescored} vs {}",
                h.hit.score
            );
        }
        // Same hits, same order as a plain search.
        let plain = idx.search_plain("quokka marigold", 10).unwrap();
        let paths: Vec<_> = s.hits.iter().map(|h| h.hit.path.clone()).collect();
        let want: Vec<_> = plain.iter().map(|h| h.path.clone()).collect();
        assert_eq!(paths, want);
    }

    #[test]
    fn lengths_come_from_fts5s_tables_and_renormalizing_to_the_same_average_is_identity() {
        let t = project(&[
            ("layer/core/a.md", "# Alpha\n\nquokka one two three\n"),
            ("layer/core/b.md", "# Beta\n\nfour five\n"),
        ]);
        let mut idx = Index::open(t.path()).unwrap();
        let s = idx.shard("quokka", 10, None).unwrap();
        assert_eq!(s.tokens, 8, "{s:?}"); // titles (1 + 1) and bodies (4 + 2)
        assert!(s.hits.iter().all(|h| h.len > 0), "{s:?}");
        let g = s.hits[0].parts[0];
        let avg = s.tokens as f64 / s.rows as f64;
        assert!((renormalize(g, s.hits[0].len, avg, avg) - g).abs() < 1e-12);
        // A longer average makes the same row relatively short: its part grows.
        assert!(renormalize(g, s.hits[0].len, avg, avg * 4.0) > g);
        assert_eq!(varints(&[0x81, 0x00, 0x05]), vec![128, 5]);
    }

    #[test]
    fn idf_is_clamped_like_fts5() {
        assert_eq!(global_idf(10, 5), 1e-6);
        assert!(global_idf(1000, 1) > global_idf(1000, 10));
    }
}
