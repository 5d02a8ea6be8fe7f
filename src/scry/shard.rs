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

use super::{Hit, Index, ScryError, effective_limit, query};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The statistics and hits of one index for one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    /// Rows (sections and code windows) in the index: BM25's `N`.
    pub rows: u64,
    /// For each query token ([`super::query_tokens`], in order), the rows that hold it:
    /// BM25's `nᵢ`.
    pub df: Vec<u64>,
    /// The index's best hits by its own BM25, best first.
    pub hits: Vec<ShardHit>,
    /// Tokens in the whole index, all columns: `tokens / rows` is BM25's `avgdl`. 0 when
    /// unknown (then a merger keeps each index's own length normalization).
    #[serde(default)]
    pub tokens: u64,
    /// The index generation the hits came from (`postings_meta.generation`, read in the
    /// shard's own snapshot, as [`super::ScryResponse::generation`]); `None` for an index
    /// without postings, an empty answer, or a peer too old to send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// One hit of a [`Shard`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardHit {
    /// The hit as `/api/scry` gives it (its `score` is the index's own BM25).
    #[serde(flatten)]
    pub hit: Hit,
    /// For each query token, its BM25 part before IDF (`gᵢ`, 0 when the row lacks it).
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

impl Index {
    /// This index's [`Shard`] for `query`: at most `limit` hits (0 → default, clamped like
    /// [`Index::search`]) ranked by the index's own BM25 (the first stage of
    /// [`Index::search`], from the postings), each with its per-token parts, and the row and
    /// per-token match counts, read in one snapshot. Same query rules, deadline and errors as
    /// [`Index::search`].
    pub fn shard(
        &mut self,
        query: &str,
        limit: usize,
        deadline: Option<Instant>,
    ) -> Result<Shard, ScryError> {
        if !self.in_snapshot {
            return self.in_snapshot(|idx| idx.shard(query, limit, deadline));
        }
        let limit = effective_limit(limit);
        let terms = query::terms(&query::searched(query));
        let mut found = self.search_bm25(&terms, limit, deadline)?;
        let rowids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
        let parts = self.parts(&terms, &rowids, deadline)?;
        self.finish_snippets(&terms, &mut found, deadline)?;
        let generation = self.generation()?;
        let own = self.own_crate();
        let hits = found
            .into_iter()
            .zip(parts.parts)
            .zip(parts.lens)
            .map(|(((_, hit), parts), len)| ShardHit {
                hit: super::titled(hit, own),
                parts,
                len,
            })
            .collect();
        Ok(Shard {
            rows: parts.n,
            df: parts.df,
            hits,
            tokens: parts.tokens,
            generation,
        })
    }
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
    fn lengths_come_from_the_postings_and_renormalizing_to_the_same_average_is_identity() {
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
    }

    #[test]
    fn idf_is_clamped_like_fts5() {
        assert_eq!(global_idf(10, 5), 1e-6);
        assert!(global_idf(1000, 1) > global_idf(1000, 10));
    }
}
