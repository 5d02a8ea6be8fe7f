//! Federated scry: one query over every registered project (local indexes) and peer daemon
//! (over TCP, through [`crate::client::Client`]), in parallel on at most [`MAX_PARALLEL`]
//! scoped threads, under one deadline, merged into one ranking. Depends on [`crate::scry`],
//! [`crate::client`], [`crate::auth`] (the peers' tokens), [`crate::limits`] (a test build's
//! deadline override) and the registry in [`super`].
//!
//! Merging: each source returns a [`Shard`] (its best hits by its own BM25, each with the
//! per-term parts `gᵢ` of its score, plus its row count and per-term match counts). The merger
//! sums rows and match counts over every source that answered, computes one IDF per term from
//! the sums ([`global_idf`], FTS5's own formula), and re-scores every hit as `Σᵢ idfᵢ · gᵢ`:
//! the score the hit would get, term weights included, from one index holding all the sources'
//! rows. Only BM25's length normalization (a row's length against its own index's average)
//! stays per index. With a single source the scores are exactly that index's BM25.
//! `layer/surface/specs/mother.md` gives the reasons and the measured effect.

use super::{Home, Registry};
use crate::client::Client;
use crate::scry::shard::{Shard, global_idf, renormalize};
use crate::scry::{Hit, Index, ScryError, SearchCache};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sources searched at the same time, at most.
pub const MAX_PARALLEL: usize = 4;

/// The whole federated search must answer within this time; a source still busy then is
/// reported under `errors`.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// [`DEADLINE`], or in a test build its override `PATINA_TEST_FEDERATE_DEADLINE_MS`
/// ([`crate::limits::test_deadline`]).
pub fn deadline() -> Duration {
    crate::limits::test_deadline("PATINA_TEST_FEDERATE_DEADLINE_MS", DEADLINE)
}

/// Hits asked of each source: at least this many, so a hit that ranks low in its own index
/// but high under the shared IDF can still be found.
pub const MIN_POOL: usize = 20;

/// The peer route that answers a [`Shard`] for the peer's own project.
pub const SHARD_PATH: &str = "/mother/shard";

/// Where one source's shard comes from.
#[derive(Debug)]
pub enum Source {
    /// A registered project on this machine.
    Local {
        /// Its name.
        name: String,
        /// Its directory.
        path: PathBuf,
    },
    /// A peer daemon over TCP.
    Peer {
        /// Its name.
        name: String,
        /// Its URL.
        url: String,
        /// Its bearer token (redacted in Debug), `None` if the token file is missing.
        token: Option<crate::auth::token::Token>,
    },
}

impl Source {
    /// The source's name, used as `project` in results and errors.
    pub fn name(&self) -> &str {
        match self {
            Source::Local { name, .. } | Source::Peer { name, .. } => name,
        }
    }
}

/// Every project and peer in the registry, peers with their tokens.
pub fn sources(home: &Home, reg: &Registry) -> Vec<Source> {
    let mut out: Vec<Source> = reg
        .projects
        .iter()
        .map(|p| Source::Local {
            name: p.name.clone(),
            path: p.path.clone(),
        })
        .collect();
    out.extend(reg.peers.iter().map(|p| Source::Peer {
        name: p.name.clone(),
        url: p.url.clone(),
        token: super::peer_token(home, &p.name),
    }));
    out
}

/// One merged result: a hit and the project (or peer) it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FederatedHit {
    /// The project or peer name.
    pub project: String,
    /// The hit; its `score` is the shared-IDF score, comparable across projects.
    #[serde(flatten)]
    pub hit: Hit,
    /// The generation of the index the hit came from ([`Shard::generation`]): what
    /// `scry --json` gives as `generation`, per hit here since each project has its own.
    /// Absent when the source did not say (a peer of an older version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// A source that did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceError {
    /// The project or peer name.
    pub project: String,
    /// Why.
    pub error: String,
}

/// The `POST /mother/scry` body and `patina mother scry --json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FederatedResponse {
    /// Best first, across every source.
    pub results: Vec<FederatedHit>,
    /// Sources that failed or ran out of time; the others still answered.
    pub errors: Vec<SourceError>,
    /// Wall time, in milliseconds.
    pub took_ms: f64,
}

/// The `POST /mother/shard` request body (what a federating daemon asks a peer).
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardRequest {
    /// The query text.
    pub query: String,
    /// Hits wanted.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Searches every source for `query` and merges the hits (see the module doc), returning at
/// most `limit` (0 → default, clamped to [`crate::scry::MAX_LIMIT`]). Never fails as a whole:
/// a source that errs or is still busy at `deadline` is listed in `errors`.
pub fn federate(
    sources: &[Source],
    query: &str,
    limit: usize,
    deadline: Instant,
    cache: &Arc<SearchCache>,
) -> FederatedResponse {
    let t0 = Instant::now();
    let limit = crate::scry::effective_limit(limit);
    let n_terms = crate::scry::query_tokens(query).len();
    if n_terms == 0 {
        return FederatedResponse {
            results: Vec::new(),
            errors: Vec::new(),
            took_ms: 0.0,
        };
    }
    let pool = limit.clamp(MIN_POOL, crate::scry::MAX_LIMIT);
    let slots: Vec<Mutex<Option<Result<Shard, String>>>> =
        sources.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..sources.len().min(MAX_PARALLEL) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(src) = sources.get(i) else { break };
                    let r = if Instant::now() >= deadline {
                        Err("the deadline passed before it was searched".to_string())
                    } else {
                        search_source(src, query, pool, deadline, cache)
                    };
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    let mut shards = Vec::new();
    let mut errors = Vec::new();
    for (src, slot) in sources.iter().zip(slots) {
        let r = slot
            .into_inner()
            .ok()
            .flatten()
            .unwrap_or_else(|| Err("no answer".into()));
        match r {
            Ok(sh)
                if sh.df.len() == n_terms && sh.hits.iter().all(|h| h.parts.len() == n_terms) =>
            {
                shards.push((src.name().to_string(), sh))
            }
            Ok(_) => errors.push(SourceError {
                project: src.name().to_string(),
                error: "the answer does not match the query's terms (another patina version?)"
                    .into(),
            }),
            Err(error) => errors.push(SourceError {
                project: src.name().to_string(),
                error,
            }),
        }
    }
    FederatedResponse {
        results: merge(shards, limit),
        errors,
        took_ms: t0.elapsed().as_secs_f64() * 1000.0,
    }
}

/// Merges shards with one shared IDF per term (module doc): best first, ties broken by
/// project, path and line; at most `limit`.
pub fn merge(shards: Vec<(String, Shard)>, limit: usize) -> Vec<FederatedHit> {
    let rows: u64 = shards.iter().map(|(_, s)| s.rows).sum();
    // One average row length, when every shard knows its token count.
    let tokens: u64 = shards.iter().map(|(_, s)| s.tokens).sum();
    let known = shards.iter().all(|(_, s)| s.tokens > 0 && s.rows > 0);
    let avg = |t: u64, r: u64| if r == 0 { 0.0 } else { t as f64 / r as f64 };
    let global_avg = if known { avg(tokens, rows) } else { 0.0 };
    let n_terms = shards.first().map_or(0, |(_, s)| s.df.len());
    let idf: Vec<f64> = (0..n_terms)
        .map(|i| {
            global_idf(
                rows,
                shards
                    .iter()
                    .map(|(_, s)| s.df.get(i).copied().unwrap_or(0))
                    .sum(),
            )
        })
        .collect();
    let mut out: Vec<FederatedHit> = shards
        .into_iter()
        .flat_map(|(name, s)| {
            let idf = &idf;
            let own_avg = avg(s.tokens, s.rows);
            let generation = s.generation;
            s.hits.into_iter().map(move |h| {
                let score = h
                    .parts
                    .iter()
                    .zip(idf)
                    .map(|(g, w)| renormalize(*g, h.len, own_avg, global_avg) * w)
                    .sum();
                FederatedHit {
                    project: name.clone(),
                    hit: Hit { score, ..h.hit },
                    generation,
                }
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.hit
            .score
            .total_cmp(&a.hit.score)
            .then_with(|| a.project.cmp(&b.project))
            .then_with(|| a.hit.path.cmp(&b.hit.path))
            .then_with(|| a.hit.line.cmp(&b.hit.line))
    });
    out.truncate(limit);
    out
}

fn search_source(
    src: &Source,
    query: &str,
    pool: usize,
    deadline: Instant,
    cache: &Arc<SearchCache>,
) -> Result<Shard, String> {
    match src {
        Source::Local { path, .. } => {
            if !path.is_dir() {
                return Err("the project directory is missing".into());
            }
            let mut idx = Index::open_with(path, cache).map_err(|e| e.to_string())?;
            match idx.shard(query, pool, Some(deadline)) {
                Ok(s) => Ok(s),
                Err(ScryError::EmptyQuery) => Ok(Shard {
                    rows: 0,
                    df: Vec::new(),
                    hits: Vec::new(),
                    tokens: 0,
                    generation: None,
                }),
                Err(e) => Err(e.to_string()),
            }
        }
        Source::Peer { url, token, .. } => {
            let token = token
                .as_ref()
                .map(|t| crate::auth::token::Token::from_text(t.expose()))
                .ok_or("no token stored for this peer (add it again)")?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("the deadline passed before it was asked".into());
            }
            let client = Client::tcp(url, token)
                .map_err(|e| e.to_string())?
                .with_timeout(left);
            let body = ShardRequest {
                query: query.to_string(),
                limit: Some(pool),
            };
            match client.post_json(SHARD_PATH, &body) {
                Ok(r) if r.status == 200 => r.json::<Shard>().map_err(|e| e.to_string()),
                Ok(r) => Err(format!(
                    "the peer answered {}: {}",
                    r.status,
                    r.error_message()
                )),
                Err(crate::client::ClientError::Timeout(..)) => {
                    Err("the peer did not answer in time".into())
                }
                Err(crate::client::ClientError::NoDaemon(_)) => {
                    Err("no daemon answers at the peer's URL".into())
                }
                Err(crate::client::ClientError::Unauthorized(..)) => Err(
                    "the peer refused the token (401); add the peer again with its current token"
                        .into(),
                ),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scry::shard::ShardHit;

    fn hit(path: &str, parts: Vec<f64>) -> ShardHit {
        ShardHit {
            hit: Hit {
                path: path.into(),
                title: String::new(),
                kind: "core".into(),
                line: 1,
                snippet: String::new(),
                score: 0.0,
                redacted: false,
            },
            parts,
            len: 0,
        }
    }

    #[test]
    fn shared_idf_beats_local_idf() {
        // Project a: 10 rows, the rare term in 1 (huge local IDF). Project b: 10 000 rows,
        // the term in 1000. The hit in b has the term twice as often: under one shared IDF
        // it must win, though a's local BM25 would be far higher.
        let a = Shard {
            rows: 10,
            df: vec![1],
            hits: vec![hit("a.md", vec![1.0])],
            tokens: 0,
            generation: Some(7),
        };
        let b = Shard {
            rows: 10_000,
            df: vec![1000],
            hits: vec![hit("b.md", vec![1.5])],
            tokens: 0,
            generation: None,
        };
        let m = merge(vec![("a".into(), a), ("b".into(), b)], 10);
        assert_eq!(m[0].project, "b");
        assert!(m[0].hit.score > m[1].hit.score);
        // Each hit carries its own index's generation.
        assert_eq!((m[0].generation, m[1].generation), (None, Some(7)));
    }
}
