//! `POST /api/scry`: search a project's knowledge (requirements §6). The search itself is
//! [`crate::scry::Index::search`], the same function the CLI calls without a daemon.

use super::Ctx;
use crate::auth::Principal;
use crate::http::{Request, Response, parse_json_body};
use crate::scry::{Hit, Index, ScryError, ScryResponse, SearchCache};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The `/api/scry` request body.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScryRequest {
    /// Any text. Words are matched; operators (`AND`, `NEAR`, `*`) and punctuation are text.
    pub query: String,
    /// Results wanted; default [`crate::scry::DEFAULT_LIMIT`], clamped to
    /// [`crate::scry::MAX_LIMIT`]; 0 is refused with 400 ([`crate::scry::requested_limit`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The project: default the daemon's. A local peer may name any project directory by
    /// absolute path; a TCP caller only the daemon's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// Idle open indexes kept for the whole daemon, across projects. A search takes one and
/// gives it back, so it reuses a connection with its prepared statements instead of opening
/// anything per request. At most as many are open per project as searches ever ran at
/// once (one per worker at full load).
const CACHED_INDEXES: usize = 32;

/// Results remembered per open index, most recently used last. A repeated query (agents and
/// the CLI ask the same thing again and again) is answered without searching while the
/// index is unchanged (`PRAGMA data_version`): the results are exactly those of the search.
const CACHED_RESULTS: usize = 32;

/// Only answers of at most this many hits are remembered, so the cache stays small
/// (at most [`CACHED_RESULTS`] × this many hits per open index).
const CACHED_MAX_HITS: usize = 50;

/// An open index and the results remembered for it at one `data_version`.
struct Cached {
    index: Index,
    version: i64,
    /// The index generation at `version`.
    generation: Option<i64>,
    results: Vec<(String, usize, Arc<[Hit]>)>,
}

/// The daemon's search state, owned by its [`Ctx`] (never a process static: two daemons in
/// one process share nothing): the idle open indexes with their remembered results, and the
/// row maps and scratch space every index the daemon opens shares.
#[derive(Default)]
pub struct ScryState {
    /// The idle indexes, most recently returned last. Used as a stack (last in, first out):
    /// on a lightly loaded daemon every search gets the index the previous one used, whose
    /// pages, statements and remembered results are the likeliest still in the CPU's caches
    /// and in SQLite's page cache, whichever worker thread runs it. (Per-worker indexes would
    /// go round all eight workers' connections in turn, each gone cold: ~15–25 µs more per
    /// search.)
    idle: Mutex<Vec<Cached>>,
    /// Shared by every index the daemon opens (`/api/scry`, `/mother/*`).
    pub cache: Arc<SearchCache>,
}

impl std::fmt::Debug for ScryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map(|i| i.len()).unwrap_or(0);
        f.debug_struct("ScryState").field("idle", &idle).finish()
    }
}

/// `POST /api/scry` → `{"results":[…],"took_ms"}`; 400 for a malformed body or empty query,
/// 404 for an unknown project or one with no index, 504 past the search deadline.
pub fn scry(ctx: &Ctx, principal: &Principal, req: &Request) -> Response {
    if let Some(resp) = refuse_if_tripped(ctx) {
        return resp;
    }
    let t0 = Instant::now();
    let body: ScryRequest = match parse_json_body(&req.body) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    if body.query.trim().is_empty() {
        return Response::error(400, "the query is empty");
    }
    let limit = match crate::scry::requested_limit(body.limit) {
        Ok(l) => l,
        Err(msg) => return Response::error(400, msg),
    };
    let root = match resolve_project(ctx, principal, body.project.as_deref()) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let deadline = t0 + crate::limits::SCRY_DEADLINE;
    match search_cached(&ctx.scry, &root, &body.query, limit, deadline) {
        Ok((hits, generation)) => {
            // Never hand out a secret: patterns always, known values while unlocked, and
            // the scan hold's forms, pieces and views in every state. The hits are copied only when
            // something in them is redacted.
            let mut results = ctx
                .session
                .with_known(|known| crate::scry::redact::redacted(&hits, known));
            if held_anything(&ctx.session, &results) {
                let mut owned = results.into_owned();
                redact_held(&ctx.session, &mut owned);
                results = std::borrow::Cow::Owned(owned);
            }
            // Something was redacted: tell the tripwires which known values the answer held
            // (a canary trips; the answer counts to the burst), after redacting as usual.
            if matches!(results, std::borrow::Cow::Owned(_)) {
                let texts: Vec<&[u8]> = hits
                    .iter()
                    .flat_map(|h| [&h.snippet, &h.title, &h.path, &h.kind])
                    .map(|f| f.as_bytes())
                    .collect();
                let names = ctx.session.held_names(&texts);
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let pid = match principal {
                    Principal::LocalPeer { pid, .. } => *pid,
                    _ => None,
                };
                ctx.session.observe(&names, "/scry", pid);
            }
            // Last, after every redaction pass: no run of text without bound.
            if crate::scry::redact::needs_bound(&results) {
                let mut owned = results.into_owned();
                crate::scry::redact::bound_hits(&mut owned);
                results = std::borrow::Cow::Owned(owned);
            }
            Response::json(
                200,
                &ScryResponseRef {
                    results: &results,
                    took_ms: t0.elapsed().as_secs_f64() * 1000.0,
                    generation,
                },
            )
        }
        Err(ScryError::EmptyQuery) => Response::json(
            200,
            &ScryResponse {
                results: Vec::new(),
                took_ms: t0.elapsed().as_secs_f64() * 1000.0,
                generation: None,
            },
        ),
        // Indexing is suggested for the daemon's own project only: an agent told to "run
        // `patina scrape /etc`" might (case 026).
        Err(e @ ScryError::NoIndex(_)) if root == ctx.project => {
            Response::error(404, e.to_string())
        }
        Err(ScryError::NoIndex(_)) => Response::error(
            404,
            "unknown project: that directory has no patina index (it is not a project patina knows)",
        ),
        Err(e @ ScryError::Deadline) => Response::error(504, e.to_string()),
        Err(e) => Response::error(500, e.to_string()),
    }
}

/// What scry answers while a tripwire alert is pending.
pub const TRIPPED: &str = "patina is locked by a tripwire, so scry shows nothing (a note may \
     hold a stored secret, and no value is held to redact it): the user must read the alert \
     (`patina session status`) and run `patina session unlock --ack-canary`";

/// 409 with [`TRIPPED`] while a tripwire alert is pending, for every route that answers with
/// note text (`/api/scry`, `/mother/scry`, `/mother/shard`): tripped, the session holds no
/// value to redact with, so a snippet could show one in clear (threat model, "Tripwires").
pub(crate) fn refuse_if_tripped(ctx: &Ctx) -> Option<Response> {
    ctx.session.tripped().then(|| Response::error(409, TRIPPED))
}

/// [`ScryResponse`] over borrowed hits: the same JSON (a test compares them), without
/// copying the hits out of the result cache.
#[derive(Serialize)]
struct ScryResponseRef<'a> {
    results: &'a [Hit],
    took_ms: f64,
    generation: Option<i64>,
}

/// The byte ranges of `text` the scan hold conceals: whole forms of known values and their
/// pieces ([`crate::guard::hold::Hold::pieces`]), in the text and in the guard's views of it
/// (escapes decoded, dump groups, fullwidth: [`crate::guard::views::find_with_views`]), with
/// and without highlight brackets. The same forms and views as the guard, in every session
/// state.
fn held_ranges(
    forms: &crate::guard::hold::Hold,
    pieces: &crate::guard::hold::Hold,
    text: &[u8],
) -> Vec<(usize, usize)> {
    let find = |t: &[u8]| -> Vec<(usize, usize)> {
        forms
            .scan(t)
            .into_iter()
            .chain(pieces.scan_pieces(t))
            .map(|h| (h.start, h.end))
            .collect()
    };
    let Ok(s) = std::str::from_utf8(text) else {
        return find(text);
    };
    let mut out = crate::guard::views::find_with_views(s, find);
    if s.contains(['[', ']']) {
        // The same without highlight brackets, mapped back (`map[i]`: where byte `i` of
        // the stripped text is in `s`).
        let mut stripped = String::with_capacity(s.len());
        let mut map = Vec::with_capacity(s.len() + 1);
        for (i, c) in s.char_indices() {
            if c != '[' && c != ']' {
                map.extend(i..i + c.len_utf8());
                stripped.push(c);
            }
        }
        for (a, b) in crate::guard::views::find_with_views(&stripped, find) {
            let start = map.get(a).copied().unwrap_or(s.len());
            let end = if b == 0 { 0 } else { map[b - 1] + 1 };
            out.push((start, end.max(start)));
        }
        zeroize::Zeroize::zeroize(&mut stripped);
    }
    out
}

/// Whether the scan hold conceals anything in `hits` (in every session state: while values
/// are held in clear, after [`crate::session::Session::with_known`] redacted them).
fn held_anything(session: &crate::session::Session, hits: &[Hit]) -> bool {
    session.with_redaction_hold(|h| {
        h.is_some_and(|(forms, pieces)| {
            hits.iter().any(|h| {
                [&h.snippet, &h.title, &h.path, &h.kind]
                    .iter()
                    .any(|f| !held_ranges(forms, pieces, f.as_bytes()).is_empty())
            })
        })
    })
}

/// Redacts in `hits` what the scan hold knows, whether values are held in clear or not (a
/// full unlock redacts no less than `--scan-only`: QA finding M1). Returns how many hits
/// changed.
pub(crate) fn redact_held(session: &crate::session::Session, hits: &mut [Hit]) -> usize {
    session.with_redaction_hold(|h| match h {
        None => 0,
        Some((forms, pieces)) => {
            crate::scry::redact::redact_ranges(hits, |t| held_ranges(forms, pieces, t))
        }
    })
}

fn resolve_project(
    ctx: &Ctx,
    principal: &Principal,
    asked: Option<&str>,
) -> Result<PathBuf, Response> {
    let Some(asked) = asked else {
        return Ok(ctx.project.clone());
    };
    let own_name = ctx.project.file_name().and_then(|n| n.to_str());
    if Some(asked) == own_name || Path::new(asked) == ctx.project {
        return Ok(ctx.project.clone());
    }
    // A registered name from anyone who may query; a directory only from the local user,
    // and only as an absolute path (the daemon's working directory means nothing to them).
    let local_dir =
        matches!(principal, Principal::LocalPeer { .. }) && Path::new(asked).is_absolute();
    crate::mother::resolve_project(&ctx.home, asked, local_dir.then_some(Path::new("/")))
        .ok_or_else(|| {
            Response::error(
                404,
                "unknown project: give a registered name (see /mother/projects) or, on the Unix socket, an absolute directory",
            )
        })
}

fn search_cached(
    state: &ScryState,
    root: &Path,
    query: &str,
    limit: usize,
    deadline: Instant,
) -> Result<(Arc<[Hit]>, Option<i64>), ScryError> {
    let taken = {
        let mut idle = crate::scry::emptied_if_poisoned(&state.idle);
        idle.iter()
            .rposition(|c| c.index.root() == root)
            .map(|at| idle.remove(at))
    };
    let mut entry = match taken {
        // An index whose file was removed or replaced since is dropped, not searched.
        Some(entry) if entry.index.is_current() => entry,
        _ => Cached {
            index: Index::open_with(root, &state.cache)?,
            version: i64::MIN,
            generation: None,
            results: Vec::new(),
        },
    };
    let result = lookup_or_search(&mut entry, query, limit, deadline);
    // A broken connection is not kept: the next request reopens the index.
    if !matches!(result, Err(ScryError::Index { .. })) {
        let mut idle = crate::scry::emptied_if_poisoned(&state.idle);
        if idle.len() >= CACHED_INDEXES {
            // The least recently used goes (closed after the lock is released).
            let oldest = idle.remove(0);
            idle.push(entry);
            drop(idle);
            drop(oldest);
        } else {
            idle.push(entry);
        }
    }
    result
}

/// The remembered answer to (`query`, `limit`) if the index is unchanged since, else a
/// search (remembered when small). The version check and the search share one read
/// transaction, so a result is remembered under the version it was found at.
fn lookup_or_search(
    entry: &mut Cached,
    query: &str,
    limit: usize,
    deadline: Instant,
) -> Result<(Arc<[Hit]>, Option<i64>), ScryError> {
    let Cached {
        index,
        version: remembered,
        generation,
        results,
    } = entry;
    index.in_snapshot(|index| {
        let version = index.data_version()?;
        if version != *remembered {
            results.clear();
            *remembered = version;
            *generation = index.generation()?;
        }
        let generation = *generation;
        if let Some(i) = results
            .iter()
            .position(|(q, l, _)| *l == limit && q == query)
        {
            let hit = results.remove(i);
            let hits = hit.2.clone();
            results.push(hit);
            return Ok((hits, generation));
        }
        let hits: Arc<[Hit]> = index.search(query, limit, Some(deadline))?.into();
        if hits.len() <= CACHED_MAX_HITS && query.len() <= 1024 {
            if results.len() >= CACHED_RESULTS {
                results.remove(0);
            }
            results.push((query.to_string(), limit, hits.clone()));
        }
        Ok((hits, generation))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_borrowed_response_is_the_same_json_as_scry_response() {
        let hit = Hit {
            path: "core/a.md".into(),
            title: "A \"quoted\" title".into(),
            kind: "doc".into(),
            line: 7,
            snippet: "…the [socket]…".into(),
            score: 1.25,
            redacted: true,
        };
        let owned = ScryResponse {
            results: vec![
                hit.clone(),
                Hit {
                    redacted: false,
                    ..hit
                },
            ],
            took_ms: 0.5,
            generation: Some(1_765_000_000_000_000_000),
        };
        let borrowed = ScryResponseRef {
            results: &owned.results,
            took_ms: owned.took_ms,
            generation: owned.generation,
        };
        assert_eq!(
            serde_json::to_string(&borrowed).unwrap(),
            serde_json::to_string(&owned).unwrap()
        );
    }

    /// QA session 9, H1: an agent that knows a value's public prefix (`sk-ant-api03-`,
    /// `postgres://app:`) writes the last known bytes beside each guess of the next one and
    /// watches which guess comes back redacted. Played here against both redactions scry
    /// applies — the unlocked [`crate::secrets::scan::Redactor`] and the scan hold's forms
    /// and pieces ([`held_ranges`]) — on texts ending with the whole known part plus a
    /// guess, and on the last 11 and 12 known bytes plus a guess: a guess is learned only
    /// when it alone changes what is redacted. The attacker must not get past the piece its
    /// prefix already covers (a byte or two; then half a piece, 32 bits, per step).
    #[test]
    fn a_known_prefix_and_guesses_recover_no_more_than_a_byte_or_two_of_a_value() {
        // What a reader sees: the unlocked redaction's text, and the ranges the hold hides.
        type Seen = (Option<String>, Vec<(usize, usize)>);
        let mut rng = crate::test_rng::Rng(0x9e37_79b9);
        // Printable ASCII but the highlight brackets (which the redaction strips first).
        let alphabet: Vec<u8> = (b'!'..=b'~').filter(|b| !b"[]".contains(b)).collect();
        for round in 0..6 {
            let mut value = b"sk-ant-api03-".to_vec();
            for _ in 0..32 {
                value.push(alphabet[rng.below(alphabet.len())]);
            }
            let known_values = [crate::secrets::scan::Known {
                name: "k",
                value: &value,
            }];
            let redactor = crate::secrets::scan::Redactor::new(&known_values);
            let forms = crate::guard::hold::Hold::new([("k", &value[..])]);
            let pieces = crate::guard::hold::Hold::pieces([("k", &value[..])]);
            // What a reader sees of `text`: which bytes each redaction hides.
            let seen = |text: &[u8]| -> Seen {
                let s = String::from_utf8_lossy(text);
                let mut held = held_ranges(&forms, &pieces, text);
                held.sort_unstable();
                (redactor.redact(&s), held)
            };
            let mut known = b"sk-ant-api03-".to_vec();
            loop {
                let mut next = None;
                for shape in 0..3 {
                    let lead: &[u8] = match shape {
                        0 => &known,
                        1 => &known[known.len().saturating_sub(11)..],
                        _ => &known[known.len().saturating_sub(12)..],
                    };
                    let answers: Vec<(u8, Seen)> = alphabet
                        .iter()
                        .map(|&c| {
                            let mut text = lead.to_vec();
                            text.push(c);
                            let (r, held) = seen(&text);
                            // The guess, last, shows unless hidden: compare what is hidden.
                            let r = r.map(|r| match r.strip_suffix(char::from(c)) {
                                Some(shown) => format!("{shown}?"),
                                None => r,
                            });
                            (c, (r, held))
                        })
                        .collect();
                    // Matching ignores ASCII case: a letter's two cases answer alike. The
                    // guess is the group (of one or two) whose answer differs from all others.
                    let count = |x: &Seen| answers.iter().filter(|(_, a)| a == x).count();
                    let odd: Vec<u8> = answers
                        .iter()
                        .filter(|(_, a)| count(a) <= 2)
                        .map(|(c, _)| *c)
                        .collect();
                    let odd = match odd[..] {
                        [a, b] if a.eq_ignore_ascii_case(&b) => vec![a],
                        _ => odd,
                    };
                    if let [c] = odd[..] {
                        next = Some(c);
                        break;
                    }
                }
                match next {
                    Some(c) if known.len() < value.len() => known.push(c),
                    _ => break,
                }
            }
            assert!(
                known.len() <= 13 + 2,
                "round {round}: the attacker recovered {} bytes beyond the prefix",
                known.len() - 13
            );
        }
    }
}
