//! The second stage of a search: re-scoring the BM25 candidates for code, folding one file's
//! further hits below other files' best, and moving each code hit's line to its best match.
//! Depends on `rusqlite` (to read a candidate's text by rowid and its words' row counts),
//! [`super::query`] and [`super::thesaurus`].
//!
//! A candidate's score starts as its BM25 score (higher is better) and is multiplied by:
//!
//! - [`DEFINES`] when the query names a symbol and the row is that symbol's definition (its
//!   title's last segment is one of the query's identifiers);
//!   [`QUALIFIED`] more when the query gives its path too (`Deserializer::deserialize_any`);
//!   [`DECLARATION`] more when that row declares the symbol without a body (a trait's
//!   method as the trait declares it, with its doc comment, above the impls that implement
//!   it: `Read::decode_hex_escape`, not `SliceRead::decode_hex_escape`);
//!   For a query that describes behaviour (names no symbol), a call in one row of another
//!   candidate's definition whose name holds [`CALLEE_WORDS`] query words or more
//!   (`skip_empty_lines(buf)`) is left
//!   out of that row's window: the words are the callee's, and its definition is the answer
//!   ([`Calls`]; BM25 still counts them);
//! - [`SIGNATURE_ONLY`] when the query names no symbol and the row declares a function
//!   without a body (a trait's required method, [`RowMatch::declares_function`]): a
//!   described behaviour happens in code that has a body;
//! - [`VERBATIM`] when the query (two words or more, naming no symbol) is in a code row's
//!   text whole, as typed (ASCII case aside, [`super::query::Prepared::verbatim`]): an error
//!   message or a setting pasted from a program's output (`EOF while parsing a value`) finds
//!   the row that writes it;
//! - [`TEST`] when the row is a test (a test function, or any row of a test file, also of
//!   one no grammar splits: `tests/ui/*.stderr`, fixtures);
//! - [`WHOLE_IDENTIFIER`] when the row holds one of the query's identifiers whole (as a
//!   word of code: `parse_integer`, not `parse` … `integer` apart);
//! - `1 + `[`NEAR`]` · w(window) / w(query)` for a code row (proximity): `w` sums the IDF of
//!   distinct query words ([`word_weights`]), `window` is the [`NEAR_LINES`] consecutive
//!   lines of the row's body that hold the most of that weight. BM25 counts a row's words
//!   wherever they are; a function whose few lines say what the query says (a doc comment,
//!   a call and its arguments) beats one that uses the same words fifty lines apart.
//!   For a query that names no symbol, the thesaurus's words for the query's
//!   ([`super::thesaurus`]: `remove` for "delete") count in the window at
//!   [`super::thesaurus::WEIGHT`] of their IDF weight, the window's weight capped at
//!   `w(query)`; they choose no line;
//! - `1 + `[`TITLE`]` · w(words in the note's title) / w(query)` for a note's section;
//! - [`SESSION`] for a note of kind `session` (a log of work as it happened: the note that
//!   states the decision or design is the better answer);
//! - [`FOLD`]`^(n − `[`FOLD_FREE`]`)` for the file's `n`-th row among the better ones (0 for
//!   its best; its second row is not folded), so one file does not fill the list but a
//!   second relevant place in it ranks on its own score.
//!
//! Markdown rows keep their section's line (the heading above the match); a code row's line
//! becomes the line of its body that holds the most distinct query words (a whole identifier
//! of the query counts as [`LINE_IDENTIFIER`] words, one more outside a comment; ties go to
//! the first).
//!
//! A line's tokens are the index's ([`super::tokenize`]: letters and digits of any script,
//! lowercase, diacritics removed), plus the parts of each camelCase token (the `idents`
//! column's words). A query word is found on a line of a code row when a token stems to it,
//! or, on a line of code (not a comment), when a token abbreviates it as identifiers do
//! ([`abbreviates`]: `hex` for "hexadecimal", `env` for "environment"). This counts for proximity and the best
//! line only; BM25 still sees the words as they are.

use super::Hit;
use super::query::Prepared;
use rusqlite::Connection;

/// Factor for the definition of a symbol the query names.
pub const DEFINES: f64 = 4.0;
/// Further factor for that definition when the row's title is the symbol as the query names
/// it: it ends with the path the query gives (`Deserializer::deserialize_any`), or, for a bare
/// name (`fn from_str`), it is that name alone (a top-level item rather than a method of the
/// same name).
pub const QUALIFIED: f64 = 2.0;

/// Factor for a definition of a name the query gives after a kind word (`struct Map`) whose
/// text declares it with that word (`pub struct Map<K, V>`, `macro_rules! json`): above the
/// rows of the same title that only implement or use it (QA session 11: an `impl … for Map`
/// row listing `tuple_struct map struct` ranked first).
pub const KIND_DECLARED: f64 = 2.0;
/// Further factor for the definition of a symbol the query names when the row declares it
/// without a body ([`RowMatch::declaration_only`]): a trait's required method is defined
/// where the trait declares it (its doc comment, its signature), and implemented in each
/// impl; the "a definition ranks above its uses" puts the declaration first among
/// the definitions of one name (each impl already gets [`DEFINES`]). 1.5 and 2 measured the
/// same (`layer/core/performance.md`).
pub const DECLARATION: f64 = 1.5;
/// Factor for a function declared without a body ([`RowMatch::declares_function`]: a trait's
/// required method, `fn decode_hex_escape(&mut self) -> Result<u16>;`) when the query names
/// no symbol. A described behaviour ("read the hexadecimal length of a chunk") happens in
/// code with a body — the impls, the functions that do it — while the declaration only names
/// it and documents it in the query's words, so BM25 and proximity favour it. When the query
/// names the symbol, the declaration is the definition instead ([`DECLARATION`]). Only
/// functions: a `const`, `type` or `use` line also ends with `;` and answers config
/// questions (all of them × 0.5 lowered the held-out sets, `layer/core/performance.md`,
/// branch `rank6`); 0.5 and 0.7 measured the same.
pub const SIGNATURE_ONLY: f64 = 0.5;
/// Factor for a code row that holds the query's text whole
/// ([`super::query::Prepared::verbatim`]: two words or more, naming no symbol, ASCII case
/// aside): an agent pastes an error message or a setting from a program's output to find where
/// it is written, and the row holding those words in that order (the message's string, the
/// variant documented with it) is the answer, above rows that hold the same words apart. A
/// phrase of the query's words found in part (the longest run in order) lowered recall and the
/// held-out set in the third session; the whole text as typed is rarer and exact. 1.5, 2 and 3
/// measured the same (`layer/core/performance.md`, branch `rank6`).
pub const VERBATIM: f64 = 2.0;
/// Factor for a test row: tests use everything, and are seldom what a search is for.
pub const TEST: f64 = 0.5;
/// Factor for a row that holds an identifier of the query whole.
pub const WHOLE_IDENTIFIER: f64 = 1.5;
/// Factor per better row of the same file beyond the first [`FOLD_FREE`] (0.5 before: it
/// pushed a file's second relevant place, such as an error's variant and its message, out of
/// the first ten).
pub const FOLD: f64 = 0.7;
/// Rows of a file after its best that are not folded: a file often holds two right places
/// (an error's variant and its message, a trait's method and its impl), and a crate may keep
/// most of its code in one file (`httparse`'s `lib.rs`). From the next one on, [`FOLD`]`^n`
/// keeps one file from filling the list.
pub const FOLD_FREE: i32 = 1;
/// What a line holding an identifier of the query whole counts for, in words.
pub const LINE_IDENTIFIER: usize = 3;
/// Weight of proximity for code rows: a row whose best [`NEAR_LINES`] lines hold every query
/// word (by IDF) scores `1 + NEAR` times its BM25 score, one holding none of them 1 times.
pub const NEAR: f64 = 1.0;
/// Lines of the proximity window (a doc comment line and the code below it).
pub const NEAR_LINES: usize = 3;
/// The fewest distinct query words a candidate definition's name must hold for its calls in
/// other rows to be left out of their proximity ([`Calls`]): a name of two of the query's
/// words describes it (`skip_empty_lines` for "skip blank lines"); one common word
/// (`parse_*` for "parse …") does not (with one, code MRR@10 0.750, and warm searches
/// ~25% slower: every row was searched for dozens of names).
pub const CALLEE_WORDS: u32 = 2;
/// The fewest letters of a token that abbreviates a query word on a line of code
/// ([`abbreviates`]): three, as in `hex`, `len`, `env`, `buf`, `str`, `err`, `doc`.
pub const ABBREVIATION_MIN: usize = 3;
/// Weight of a note's title for each of its sections: a section of a note whose title holds
/// every query word (by IDF) scores `1 + TITLE` times its BM25 score. BM25 indexes the title
/// on the note's first row only; this carries it to the others (a section of "Unix
/// Philosophy" is about that, whatever its own heading).
pub const TITLE: f64 = 1.0;
/// Factor for a note of kind `session`.
pub const SESSION: f64 = 0.7;
/// The least weight [`word_weights`] gives a word (one in half the rows or more, whose BM25
/// IDF FTS5 floors at 1e-6): it still counts, a little, for proximity.
pub const IDF_FLOOR: f64 = 0.1;

/// The body of a row by id.
const BODY_SQL: &str = "SELECT body FROM docs WHERE id = ?1";

/// Each of `words`' (tokens) weight for proximity: BM25's IDF, `ln((N − n + 0.5) / (n + 0.5))`
/// with `N` rows and `n` of them holding the word, floored at [`IDF_FLOOR`]. The counts are
/// the postings' base (`postings.rows`, `postings_meta.rows`; rows changed by incremental
/// batches since the last rebuild are not counted: a weight, not a score that must equal
/// FTS5's). A word the index lacks weighs the most (`n` = 0); 1 each when the counts cannot
/// be read (an index without postings).
pub fn word_weights(conn: &Connection, words: &[String]) -> Vec<f64> {
    let read = || -> rusqlite::Result<Vec<f64>> {
        let n: i64 = conn
            .prepare_cached("SELECT rows FROM postings_meta WHERE id = 1")?
            .query_row([], |r| r.get(0))?;
        let mut get = conn.prepare_cached("SELECT rows FROM postings WHERE term = ?1")?;
        let mut out = Vec::with_capacity(words.len());
        for w in words {
            let df: i64 = get.query_row([w], |r| r.get(0)).or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(0),
                e => Err(e),
            })?;
            let (n, df) = (n.max(0) as f64, df.max(0) as f64);
            out.push(((n - df + 0.5) / (df + 0.5)).ln().max(IDF_FLOOR));
        }
        Ok(out)
    };
    read().unwrap_or_else(|_| vec![1.0; words.len()])
}

/// The weight of the words whose bits are set in `mask` (bit `i`: `weights[i]`).
fn mass(mask: u64, weights: &[f64]) -> f64 {
    weights
        .iter()
        .enumerate()
        .filter(|(i, _)| mask >> i & 1 == 1)
        .map(|(_, w)| w)
        .sum()
}

/// The most weight of distinct words that any `n` consecutive lines hold, given each line's
/// word bits (`lines`, as [`RowMatch::lines`]) and the words' `weights`.
pub fn best_window(lines: &[u64], weights: &[f64], n: usize) -> f64 {
    let n = n.max(1);
    (0..lines.len())
        .map(|i| {
            let mask = lines[i..(i + n).min(lines.len())]
                .iter()
                .fold(0, |a, b| a | b);
            mass(mask, weights)
        })
        .fold(0.0, f64::max)
}

/// Re-scores `candidates` (rowid and hit, best BM25 first) for `q` and returns the best
/// `limit` with their rowids, best first, with code lines moved to their best match (module
/// docs).
pub(crate) fn rank(
    conn: &Connection,
    q: &Prepared,
    candidates: Vec<(i64, Hit)>,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, Hit)>> {
    let mut words: Vec<String> = q
        .terms
        .iter()
        .filter_map(|t| t.token.clone())
        .take(MAX_WORDS)
        .collect();
    // The query's own words first (bits 0..own); the thesaurus's after them, no
    // abbreviation (no surface form), at [`super::thesaurus::WEIGHT`] of their weight.
    let own = words.len();
    for e in &q.expansions {
        if words.len() < MAX_WORDS && !words.contains(e) {
            words.push(e.clone());
        }
    }
    // The same words as typed, folded as the tokenizer folds them before stemming, for
    // abbreviations.
    let surface: Vec<String> = q
        .terms
        .iter()
        .filter(|t| t.token.is_some())
        .map(|t| folded(&t.text))
        .take(MAX_WORDS)
        .collect();
    let matcher = Words::new(&words, &surface).own(own);
    let own_bits = bits(own);
    // A query that describes behaviour: the names of the candidate definitions that hold
    // its words, whose calls in other rows do not count for those rows' proximity.
    let calls = if q.names_symbol {
        None
    } else {
        Calls::new(
            candidates
                .iter()
                .filter(|(_, h)| h.kind == super::symbols::KIND_DEFINITION)
                .map(|(_, h)| last_segment(&h.title))
                .filter(|n| {
                    // The query's own words only (bits below `own`).
                    let mask = matcher.mask(n, false) & own_bits;
                    is_compound_identifier(n) && mask.count_ones() >= CALLEE_WORDS
                }),
        )
    };
    let scanner = Scanner::new(&matcher, &q.idents);
    // The query's text whole, looked for in each code row's lowercase.
    let verbatim = q.verbatim.as_deref().map(memchr::memmem::Finder::new);
    // Each code candidate's body ASCII-lowercased, in one buffer reused across rows.
    let mut lower = String::new();
    // Read once, when the first candidate needs them.
    let mut weights: Option<(Vec<f64>, f64)> = None;
    let mut body = conn.prepare_cached(BODY_SQL)?;
    let mut scored: Vec<(f64, i64, Hit)> = Vec::with_capacity(candidates.len());
    for (rowid, mut hit) in candidates {
        let mut score = hit.score;
        if super::scrape::is_markdown(&hit.path) {
            if hit.kind == "session" {
                score *= SESSION;
            }
            let (w, total) = weights.get_or_insert_with(|| weigh(conn, &words, own));
            if *total > 0.0 {
                let m = mass(matcher.mask(&hit.title, false), w).min(*total);
                score *= 1.0 + TITLE * m / *total;
            }
            scored.push((score, rowid, hit));
            continue;
        }
        let m = body.query_row([rowid], |r| {
            let text = r.get_ref(0)?.as_str().unwrap_or("");
            lower.clear();
            lower.push_str(text);
            lower.make_ascii_lowercase();
            let whole = verbatim.as_ref().is_some_and(|f| holds_whole(&lower, f));
            let declared = !q.kinds.is_empty() && declares_kind(&lower, &q.kinds, &q.idents);
            // Most rows call none of them: then nothing is copied.
            let rest = calls
                .as_ref()
                .and_then(|c| c.strip(text, &lower, last_segment(&hit.title)));
            if let Some(rest) = &rest {
                lower.clear();
                lower.push_str(rest);
                lower.make_ascii_lowercase();
            }
            Ok((
                scanner.scan(rest.as_deref().unwrap_or(text), &lower),
                whole,
                declared,
            ))
        })?;
        let (m, verbatim_here, declared_here) = m;
        if verbatim_here {
            score *= VERBATIM;
        }
        let (w, total) = weights.get_or_insert_with(|| weigh(conn, &words, own));
        if *total > 0.0 {
            score *= 1.0 + NEAR * best_window(&m.lines, w, NEAR_LINES).min(*total) / *total;
        }
        hit.line += m.line as u64;
        if q.names_symbol {
            let last = hit
                .title
                .rsplit([':', '.'])
                .next()
                .unwrap_or("")
                .to_lowercase();
            if hit.kind == super::symbols::KIND_DEFINITION && q.idents.contains(&last) {
                score *= DEFINES;
                if m.declaration_only {
                    score *= DECLARATION;
                }
                if declared_here {
                    score *= KIND_DECLARED;
                }
                let title = hit.title.to_lowercase().replace('.', "::");
                // The symbol as the query names it: its path, or a bare name that is the
                // whole symbol path (a top-level item, not a member of the same name).
                let named = if q.paths.is_empty() {
                    q.idents.contains(&title)
                } else {
                    q.paths.iter().any(|p| ends_with_path(&title, p))
                };
                if named {
                    score *= QUALIFIED;
                }
            }
        }
        // A test, or a row of a test file that no grammar splits (a fixture, expected output).
        if hit.kind == super::symbols::KIND_TEST
            || (hit.kind == super::symbols::KIND_CODE && super::symbols::is_test_file(&hit.path))
        {
            score *= TEST;
        }
        if m.whole {
            score *= WHOLE_IDENTIFIER;
        }
        if !q.names_symbol && hit.kind == super::symbols::KIND_DEFINITION && m.declares_function {
            score *= SIGNATURE_ONLY;
        }
        scored.push((score, rowid, hit));
    }
    sort(&mut scored);
    // Fold: each file's n-th row (by the scores above, 0 for its best) is worth
    // FOLD^(n - FOLD_FREE) of its score.
    let mut seen: std::collections::HashMap<String, i32> = std::collections::HashMap::new();
    for (score, _, hit) in scored.iter_mut() {
        let n = seen.entry(hit.path.clone()).or_insert(0);
        *score *= FOLD.powi((*n - FOLD_FREE).max(0));
        *n += 1;
    }
    sort(&mut scored);
    scored.truncate(limit);
    Ok(scored
        .into_iter()
        .map(|(score, rowid, mut hit)| {
            hit.score = score;
            (rowid, hit)
        })
        .collect())
}

/// Whether `text` holds the finder's needle (a query's text, [`VERBATIM`]) where its ends are
/// ends of words: when the needle begins (ends) with a letter or digit, the character before
/// (after) it is none. So a phrase that ends inside a token never matches: `key is fcbb`
/// finds nothing in `key is fcbb1234`, which would otherwise rank a row higher for each right
/// prefix of a value it holds (a prefix oracle on indexed secrets; threat-model.md, "no prefix
/// queries"). A whole token, as a query for it finds, is all it confirms.
fn holds_whole(text: &str, finder: &memchr::memmem::Finder<'_>) -> bool {
    let needle = finder.needle();
    // A combining mark continues a word, as the tokenizer has it (`7c1f\u{301}a9` is one
    // token): a phrase ending before one ends inside a token (QA session 12, N3).
    let word = |c: Option<char>| {
        c.is_some_and(|c| c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c))
    };
    let Ok(phrase) = std::str::from_utf8(needle) else {
        return false;
    };
    let (starts_word, ends_word) = (
        word(phrase.chars().next()),
        word(phrase.chars().next_back()),
    );
    finder.find_iter(text.as_bytes()).any(|at| {
        // A needle of whole characters matches at character boundaries (UTF-8 is
        // self-synchronizing).
        let (Some(before), Some(after)) = (text.get(..at), text.get(at + needle.len()..)) else {
            return false;
        };
        let cut_before = starts_word && word(before.chars().next_back());
        let cut_after = ends_word && word(after.chars().next());
        !cut_before && !cut_after
    })
}

/// A mask of the first `n` bits (all 64 from 64 on).
fn bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// The proximity weights of `words` ([`word_weights`]), the ones from `own` on (the
/// thesaurus's) times [`super::thesaurus::WEIGHT`], and the total of the query's own words
/// (a window's weight is compared with it, and capped at it).
fn weigh(conn: &Connection, words: &[String], own: usize) -> (Vec<f64>, f64) {
    let mut w = word_weights(conn, words);
    for x in w.iter_mut().skip(own) {
        *x *= super::thesaurus::WEIGHT;
    }
    let total = w.iter().take(own).sum();
    (w, total)
}

/// Query words the second stage looks for (one bit each in [`RowMatch::lines`]); a query has
/// at most [`super::query::MAX_TERMS`] (32).
const MAX_WORDS: usize = 64;

/// The last segment of a symbol path (`parse` of `Request::parse`, `Parser.parse`).
fn last_segment(title: &str) -> &str {
    title.rsplit([':', '.']).next().unwrap_or("")
}

/// Whether a name is an identifier of several words (`skip_empty_lines`, `parseChunk`), not
/// one that reads as an English word (`parse`, `Value`): only those are told apart from the
/// words of a description.
fn is_compound_identifier(name: &str) -> bool {
    name.len() >= 3
        && (name.trim_matches('_').contains('_') || name.chars().skip(1).any(char::is_uppercase))
}

/// The names of definitions whose calls are left out of other rows ([`Calls::strip`]).
pub struct Calls {
    /// The names, lowercase ASCII, each once.
    names: Vec<String>,
}

impl Calls {
    /// The names `names` (identifiers; non-ASCII ones are left out, duplicates once); `None`
    /// when there is none.
    pub fn new<'a>(names: impl Iterator<Item = &'a str>) -> Option<Calls> {
        let mut names: Vec<String> = names
            .filter(|n| n.is_ascii() && !n.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        names.sort();
        names.dedup();
        (!names.is_empty()).then_some(Calls { names })
    }

    /// `text` with each whole identifier of the names other than `own` (the row's own
    /// symbol, any case) blanked where it is code (not on a comment line): what a row says
    /// besides calling them. `lower` is `text` ASCII-lowercased (the caller's, made once per
    /// row). `None` when there is nothing to blank (most rows: nothing is copied then).
    pub fn strip(&self, text: &str, lower: &str, own: &str) -> Option<String> {
        // ASCII lowercase keeps every byte's position; the names are ASCII, so blanking
        // them keeps the text UTF-8.
        debug_assert_eq!(lower.len(), text.len());
        let mut bytes: Option<Vec<u8>> = None;
        for name in self.names.iter().filter(|n| !n.eq_ignore_ascii_case(own)) {
            for (at, _) in lower.match_indices(name.as_str()) {
                let line_start = lower[..at].rfind('\n').map_or(0, |i| i + 1);
                let line_end = lower[at..].find('\n').map_or(lower.len(), |i| at + i);
                if is_whole_at(lower, at, name.len()) && !is_comment(&lower[line_start..line_end]) {
                    bytes.get_or_insert_with(|| text.as_bytes().to_vec())[at..at + name.len()]
                        .fill(b' ');
                }
            }
        }
        bytes.map(|b| String::from_utf8(b).unwrap_or_else(|_| text.to_string()))
    }
}

/// Whether the `len` bytes at `at` of `line` are not part of a longer identifier.
fn is_whole_at(line: &str, at: usize, len: usize) -> bool {
    let is_part = |c: char| c.is_alphanumeric() || c == '_';
    let before = line[..at].chars().next_back();
    let after = line[at + len..].chars().next();
    !before.is_some_and(is_part) && !after.is_some_and(is_part)
}

/// Whether the symbol path `title` ends with the path `path` at a segment boundary:
/// `de::deserializer::deserialize_any` and `deserializer::deserialize_any` end with
/// `deserializer::deserialize_any`; `mapkeydeserializer::deserialize_any` does not.
pub fn ends_with_path(title: &str, path: &str) -> bool {
    title
        .strip_suffix(path)
        .is_some_and(|head| head.is_empty() || head.ends_with("::"))
}

/// Best first; ties keep their order (the first stage's: path, then line).
fn sort(scored: &mut [(f64, i64, Hit)]) {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
}

/// What the second stage finds of the query's words in one row's text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowMatch {
    /// The 0-based line of the body that holds the most distinct words ([`best_line`]).
    pub line: usize,
    /// Whether any line holds an identifier of the query whole.
    pub whole: bool,
    /// Per line of the body, bit `i` set when word `i` (of at most 64) occurs on it.
    pub lines: Vec<u64>,
    /// Whether the row's code (its lines that are not blank, comments or attributes) is a
    /// declaration without a body: no `{` on any of them, the last ending with `;` (a
    /// trait's required method, `fn decode(&mut self) -> u16;`). False for a row with no
    /// code line.
    pub declaration_only: bool,
    /// Whether that declaration is a function's: one of its code lines holds the word `fn` or
    /// `function` followed by a space (`fn decode(&mut self) -> u16;`, TypeScript's
    /// `function f(): void;`), not a `const`, `static`, `type` or `use` item, nor a function
    /// pointer type (`type F = fn(u8);`). False unless [`RowMatch::declaration_only`].
    pub declares_function: bool,
}

/// Calls `f` with each token of `text` folded as the index's tokenizer folds it before
/// stemming ([`super::tokenize::each_folded`]: runs of letters and digits, lowercase,
/// diacritics removed, `Größe` → `große`, `cafe\u{301}` → `cafe`), and after it each part of
/// a camelCase token that differs from the whole (`parseContentLength` → `parse`, `content`,
/// `length`: the `idents` column's words, [`super::symbols::identifier_words`]), folded the
/// same way.
fn for_each_token(text: &str, mut f: impl FnMut(&[u8])) {
    super::tokenize::each_folded(text, |span, folded| {
        f(folded);
        // A word with no capital after its first character has no parts.
        let word = &text[span];
        let bytes = word.as_bytes();
        let camel = if bytes.is_ascii() {
            bytes[1..].iter().any(u8::is_ascii_uppercase)
        } else {
            word.chars().skip(1).any(char::is_uppercase)
        };
        if !camel {
            return;
        }
        if bytes.is_ascii() {
            // The same parts without allocating (`ascii_camel_parts`), each folded as
            // `each_folded` folds an ASCII run of letters and digits: lowercased, cut.
            let mut buf = [0u8; super::tokenize::MAX_TOKEN_BYTES];
            ascii_camel_parts(bytes, |part| {
                if part != bytes {
                    let n = part.len().min(buf.len());
                    for (to, from) in buf.iter_mut().zip(&part[..n]) {
                        *to = from.to_ascii_lowercase();
                    }
                    f(&buf[..n]);
                }
            });
            return;
        }
        for part in super::symbols::split_camel(word) {
            if part != word {
                super::tokenize::each_folded(part, |_, p| f(p));
            }
        }
    });
}

/// [`super::symbols::split_camel`] of an ASCII word of letters and digits, part by part, on
/// its bytes (no vector of characters, no vector of cuts): a cut before `b` in each three
/// consecutive bytes `a b c` where a lowercase letter meets an uppercase one, an acronym
/// ends (`HTTPServer` → `HTTP`, `Server`) or a letter meets a digit, and before the last
/// byte when it is uppercase after a lowercase one. Test
/// `tests::ascii_camel_parts_equal_split_camel`.
fn ascii_camel_parts<'a>(word: &'a [u8], mut f: impl FnMut(&'a [u8])) {
    let n = word.len();
    let mut from = 0;
    for i in 1..n.saturating_sub(1) {
        let (a, b, c) = (word[i - 1], word[i], word[i + 1]);
        let lower_upper = a.is_ascii_lowercase() && b.is_ascii_uppercase();
        let acronym_end =
            a.is_ascii_uppercase() && b.is_ascii_uppercase() && c.is_ascii_lowercase();
        let digit_edge = a.is_ascii_alphabetic() != b.is_ascii_alphabetic()
            && a.is_ascii_alphanumeric()
            && b.is_ascii_alphanumeric();
        if lower_upper || acronym_end || digit_edge {
            f(&word[from..i]);
            from = i;
        }
    }
    if n >= 2 && word[n - 2].is_ascii_lowercase() && word[n - 1].is_ascii_uppercase() {
        f(&word[from..n - 1]);
        from = n - 1;
    }
    if from < n {
        f(&word[from..]);
    }
}

/// `word` folded as the tokenizer folds a token before stemming (lowercase, no
/// diacritics; [`super::tokenize::each_folded`]), its tokens' folded forms joined when it has
/// several (a query's term has one).
fn folded(word: &str) -> String {
    let mut out = Vec::new();
    super::tokenize::each_folded(word, |_, t| out.extend_from_slice(t));
    String::from_utf8_lossy(&out).into_owned()
}

/// The query's words as the second stage looks for them in a row's tokens, made once per
/// search: each word's stem (as the index stores it) and its folded form as typed (for
/// [`abbreviates`]), and for each first byte the words a token beginning with it may match.
/// A token of a row is stemmed only when a word passes the cheap exact test
/// [`super::porter::may_stem_to`], and then once for all words; most tokens cost one table
/// lookup (a stem keeps its word's first byte, an abbreviation is a prefix of its word).
#[derive(Debug, Clone)]
pub struct Words {
    /// The stems, at most [`MAX_WORDS`] (bit `i` of a mask is `stems[i]`).
    stems: Vec<Vec<u8>>,
    /// The folded word as typed for each stem (empty: none, no abbreviation).
    surface: Vec<Vec<u8>>,
    /// Bit `i` of `by_first[b]`: `stems[i]` begins with byte `b`, or `surface[i]` does and
    /// is long enough to be abbreviated.
    by_first: Box<[u64; 256]>,
    /// The words that choose a hit's line ([`scan`]): all of them, or the query's own
    /// ([`Words::own`]) when the rest are the thesaurus's.
    line_bits: u64,
}

impl Words {
    /// `stems` (tokens, as [`super::tokenize`] makes them; the first `MAX_WORDS`) and
    /// `surface`, the folded word as typed for each (may be shorter, or empty: then no
    /// abbreviation counts for the words it lacks).
    pub fn new(stems: &[String], surface: &[String]) -> Words {
        let stems: Vec<Vec<u8>> = stems
            .iter()
            .take(MAX_WORDS)
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let surface: Vec<Vec<u8>> = (0..stems.len())
            .map(|i| surface.get(i).map_or(Vec::new(), |s| s.as_bytes().to_vec()))
            .collect();
        let mut by_first = Box::new([0u64; 256]);
        for (i, (stem, typed)) in stems.iter().zip(&surface).enumerate() {
            if let Some(&b) = stem.first() {
                by_first[usize::from(b)] |= 1 << i;
            }
            if typed.len() >= ABBREVIATION_MIN + 2 {
                by_first[usize::from(typed[0])] |= 1 << i;
            }
        }
        let line_bits = bits(stems.len());
        Words {
            stems,
            surface,
            by_first,
            line_bits,
        }
    }

    /// Only the first `own` words (the query's own) choose a hit's line; the others (the
    /// thesaurus's) count for proximity alone.
    pub fn own(mut self, own: usize) -> Words {
        self.line_bits = bits(own.min(self.stems.len()));
        self
    }

    /// Bit `i` set for each word whose stem a token of `text` (`for_each_token`) stems
    /// to, or, with `abbreviations` (a line of code), that a token abbreviates
    /// ([`abbreviates`]).
    pub fn mask(&self, text: &str, abbreviations: bool) -> u64 {
        let mut mask = 0u64;
        if self.stems.is_empty() {
            return 0;
        }
        if !text.is_ascii() {
            for_each_token(text, |token| self.visit(token, abbreviations, &mut mask));
            return mask;
        }
        // An ASCII line: its tokens are its runs of letters and digits, and `for_each_token`
        // gives each lowercased (cut at MAX_TOKEN_BYTES), then its camelCase parts. A token
        // whose first byte no word can match is not folded at all.
        let bytes = text.as_bytes();
        let mut buf = [0u8; super::tokenize::MAX_TOKEN_BYTES];
        let mut fold_visit = |run: &[u8], mask: &mut u64| {
            if self.by_first[usize::from(run[0].to_ascii_lowercase())] & !*mask == 0 {
                return;
            }
            let n = run.len().min(buf.len());
            for (to, from) in buf.iter_mut().zip(&run[..n]) {
                *to = from.to_ascii_lowercase();
            }
            self.visit(&buf[..n], abbreviations, mask);
        };
        let mut i = 0;
        while i < bytes.len() {
            if !bytes[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let word = &bytes[start..i];
            fold_visit(word, &mut mask);
            if word[1..].iter().any(u8::is_ascii_uppercase) {
                ascii_camel_parts(word, |part| {
                    if part != word {
                        fold_visit(part, &mut mask);
                    }
                });
            }
        }
        mask
    }

    /// Sets in `mask` the bit of each word `token` (folded) stems to, or, with
    /// `abbreviations`, abbreviates; words already set are not tried again.
    fn visit(&self, token: &[u8], abbreviations: bool, mask: &mut u64) {
        let mut left = self.by_first[usize::from(token[0])] & !*mask;
        if left == 0 {
            return;
        }
        let mut buf = [0u8; super::porter::STEM_BUF];
        // The token's stem, made at most once: `Some(None)` when it is the token itself.
        let mut stem: Option<Option<usize>> = None;
        while left != 0 {
            let i = left.trailing_zeros() as usize;
            left &= left - 1;
            let word = &self.stems[i];
            let stems_to = super::porter::may_stem_to(token, word) && {
                let n = *stem.get_or_insert_with(|| super::porter::stem_into(token, &mut buf));
                n.map_or(token, |n| &buf[..n]) == word.as_slice()
            };
            if stems_to || (abbreviations && abbreviates(token, &self.surface[i])) {
                *mask |= 1 << i;
            }
        }
    }
}

/// Whether `token` (lowercase) is an abbreviation of the query word `word` (lowercase, as
/// typed) the way identifiers shorten words: a prefix of it of at least
/// [`ABBREVIATION_MIN`] letters, at least two shorter (`hex` of `hexadecimal`, `len` of
/// `length`, `env` of `environment`, `buf` of `buffer`; not `escape` of `escaped`, which
/// the stem already matches).
pub fn abbreviates(token: &[u8], word: &[u8]) -> bool {
    token.len() >= ABBREVIATION_MIN && word.len() >= token.len() + 2 && word.starts_with(token)
}

/// Whether `lower` (a row's text, ASCII-lowercased) declares one of `idents` with one of
/// `kinds`: the kind word whole, then `!` (for `macro_rules!`) and whitespace, then the
/// name whole (`pub struct map<k, v>`, `macro_rules! json {`).
fn declares_kind(lower: &str, kinds: &[String], idents: &[String]) -> bool {
    let ident_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = lower.as_bytes();
    kinds.iter().any(|k| {
        lower.match_indices(k.as_str()).any(|(at, _)| {
            if at > 0 && ident_byte(bytes[at - 1]) {
                return false;
            }
            let mut i = at + k.len();
            if bytes.get(i) == Some(&b'!') {
                i += 1;
            }
            let spaces = bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            if spaces == 0 {
                return false;
            }
            let rest = &lower[i + spaces..];
            idents.iter().any(|id| {
                rest.starts_with(id.as_str())
                    && !rest
                        .as_bytes()
                        .get(id.len())
                        .is_some_and(|&b| ident_byte(b))
            })
        })
    })
}

/// Scans a row's body for the query's `words` and whole `idents` ([`RowMatch`]). On a line
/// of code (not a comment), a token that abbreviates one of the words as typed counts as
/// that word ([`Words::mask`]).
pub fn scan(text: &str, words: &Words, idents: &[String]) -> RowMatch {
    let mut out = RowMatch::default();
    let mut best = (0usize, 0usize);
    for (i, line) in text.split('\n').enumerate() {
        scan_line(line, i, words, idents, &mut out, &mut best);
    }
    out.line = best.0;
    (out.declaration_only, out.declares_function) = declaration(text);
    out
}

/// One line (the `i`-th) of [`scan`]: its word bits pushed to `out.lines`, `out.whole` set
/// when it holds an identifier whole, and `best` (line, count) moved to it when it counts
/// more.
fn scan_line(
    line: &str,
    i: usize,
    words: &Words,
    idents: &[String],
    out: &mut RowMatch,
    best: &mut (usize, usize),
) {
    let comment = is_comment(line);
    let mask = words.mask(line, !comment);
    out.lines.push(mask);
    let mut n = (mask & words.line_bits).count_ones() as usize;
    if !idents.is_empty() && holds_any_identifier(line, idents) {
        out.whole = true;
        // In code (a declaration, a call) more than in a comment about it.
        n += LINE_IDENTIFIER + usize::from(!comment);
    }
    if n > best.1 {
        *best = (i, n);
    }
}

/// [`scan`] made once per search for many rows: a line is tokenized only when it may hold a
/// match. Every token of an ASCII line (and every camelCase part of one) is a run of that
/// line's bytes, lowercased; a token that stems to a word begins with the word's stem but
/// for its last two bytes ([`super::porter::may_stem_to`]), one that abbreviates it begins
/// with its first [`ABBREVIATION_MIN`] bytes as typed ([`abbreviates`]), and an identifier is
/// whole only where its bytes are. So an ASCII line whose lowercase holds none of those
/// *anchors* where a token, a camelCase part or an identifier may begin (`may_start`) has
/// no word and no identifier ([`scan`] gives it mask 0 and counts it 0), and it is not
/// tokenized; the anchors are found with `memchr::memmem` over the row's lowercase. A line with a non-ASCII byte (whose folding may make ASCII
/// letters of other bytes: `é` → `e`), or one holding an anchor, is scanned as [`scan`]
/// scans it. Test: `tests::the_anchored_scan_equals_the_plain_one`.
pub struct Scanner<'w> {
    words: &'w Words,
    idents: &'w [String],
    /// The anchors, none beginning with another (where the longer begins, the shorter does).
    anchors: Vec<memchr::memmem::Finder<'static>>,
}

/// Whether a token, a camelCase part of one ([`ascii_camel_parts`]) or a whole identifier
/// may begin at byte `p` of the ASCII `text`: at its start, after a byte that is no letter
/// or digit, before an uppercase letter (a lowercase one or an acronym ends there), or
/// where letters meet digits. True at every place where one does (and at some where none
/// does: the scan then looks at the line and finds nothing).
fn may_start(text: &[u8], p: usize) -> bool {
    let Some(&a) = p.checked_sub(1).and_then(|i| text.get(i)) else {
        return true;
    };
    let b = text.get(p).copied().unwrap_or(0);
    !a.is_ascii_alphanumeric()
        || b.is_ascii_uppercase()
        || a.is_ascii_alphabetic() != b.is_ascii_alphabetic()
}

impl<'w> Scanner<'w> {
    /// The scanner for the query's `words` and whole `idents` (lowercase), as [`scan`]
    /// takes them.
    pub fn new(words: &'w Words, idents: &'w [String]) -> Scanner<'w> {
        let mut anchors: Vec<Vec<u8>> = Vec::new();
        for (stem, typed) in words.stems.iter().zip(&words.surface) {
            if !stem.is_empty() {
                // `may_stem_to`: the token begins with all of the stem but its last two
                // bytes, and with its first byte.
                anchors.push(stem[..stem.len().saturating_sub(2).max(1)].to_vec());
            }
            // The words `Words::new` lets a token abbreviate (`abbreviates`: at least
            // ABBREVIATION_MIN bytes of the word, two shorter than it).
            if typed.len() >= ABBREVIATION_MIN + 2 {
                anchors.push(typed[..ABBREVIATION_MIN].to_vec());
            }
        }
        for id in idents.iter().filter(|id| !id.is_empty()) {
            anchors.push(id.to_ascii_lowercase().into_bytes());
        }
        anchors.sort();
        anchors.dedup();
        let minimal: Vec<&Vec<u8>> = anchors
            .iter()
            .filter(|a| !anchors.iter().any(|b| b != *a && a.starts_with(b)))
            .collect();
        Scanner {
            words,
            idents,
            anchors: minimal
                .into_iter()
                .map(|a| memchr::memmem::Finder::new(a).into_owned())
                .collect(),
        }
    }

    /// [`scan`]`(text, words, idents)`, the same [`RowMatch`]; `lower` is `text`
    /// ASCII-lowercased ([`str::make_ascii_lowercase`]: the same length, byte for byte).
    pub fn scan(&self, text: &str, lower: &str) -> RowMatch {
        let lower = lower.as_bytes();
        if lower.len() != text.len() {
            return scan(text, self.words, self.idents);
        }
        let ascii = text.is_ascii();
        let bytes = text.as_bytes();
        // The next place at or after `from` where `f`'s anchor begins a token or may begin
        // a camelCase part (`may_start`); usize::MAX when none.
        let find = |f: &memchr::memmem::Finder, mut from: usize| loop {
            match f.find(&lower[from..]) {
                Some(at) if may_start(bytes, from + at) => break from + at,
                Some(at) => from += at + 1,
                None => break usize::MAX,
            }
        };
        // The next place of each anchor at or after the line being scanned.
        let mut next: Vec<usize> = self.anchors.iter().map(|f| find(f, 0)).collect();
        let mut out = RowMatch::default();
        let mut best = (0usize, 0usize);
        let mut start = 0;
        for (i, line) in text.split('\n').enumerate() {
            let end = start + line.len();
            let mut held = false;
            for (at, f) in next.iter_mut().zip(&self.anchors) {
                if *at < end {
                    held = true;
                    // Anchors hold no line break: the next place is on a later line.
                    *at = find(f, end);
                }
            }
            start = end + 1;
            if held || !(ascii || line.is_ascii()) {
                scan_line(line, i, self.words, self.idents, &mut out, &mut best);
            } else {
                out.lines.push(0);
            }
        }
        out.line = best.0;
        (out.declaration_only, out.declares_function) = declaration(text);
        out
    }
}

/// Whether `line` holds one of `idents` (lowercase) whole, case-insensitively:
/// [`holds_identifier`] of the line lowercased, an ASCII line compared in place (no
/// lowercase copy per line).
fn holds_any_identifier(line: &str, idents: &[String]) -> bool {
    if !line.is_ascii() {
        let lower = line.to_lowercase();
        return idents.iter().any(|id| holds_identifier(&lower, id));
    }
    let bytes = line.as_bytes();
    idents.iter().any(|id| {
        let id = id.as_bytes();
        if id.is_empty() {
            return false;
        }
        // The matches `str::match_indices` finds: leftmost first, not overlapping.
        let mut at = 0;
        while at + id.len() <= bytes.len() {
            if bytes[at..at + id.len()].eq_ignore_ascii_case(id) {
                if is_whole_at(line, at, id.len()) {
                    return true;
                }
                at += id.len();
            } else {
                at += 1;
            }
        }
        false
    })
}

/// [`RowMatch::declaration_only`] and [`RowMatch::declares_function`] of a row's text.
fn declaration(text: &str) -> (bool, bool) {
    let code = || {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !is_comment(l) && !l.starts_with("#["))
    };
    let only =
        code().all(|l| !l.contains('{')) && code().next_back().is_some_and(|l| l.ends_with(';'));
    (only, only && code().any(declares_function))
}

/// Whether a line of code holds the keyword `fn` or `function` as a word followed by a space
/// (a function's declaration, not `fn(u8)`, a function pointer type).
fn declares_function(line: &str) -> bool {
    ["fn ", "function "].iter().any(|k| {
        line.match_indices(k).any(|(at, _)| {
            !line[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

/// The 0-based line of `text` that holds the most distinct `words` (tokens as the index
/// stores them: lowercase Porter stems, [`super::porter`]), a whole identifier of `idents`
/// counting [`LINE_IDENTIFIER`]; the first of equals, 0 when none holds any. And whether any
/// line holds an identifier whole.
pub fn best_line(text: &str, words: &[String], idents: &[String]) -> (usize, bool) {
    let m = scan(text, &Words::new(words, &[]), idents);
    (m.line, m.whole)
}

/// Whether a line of code is a comment: `//`, `/*`, `*` (inside a block comment), or `#` not
/// starting a Rust attribute (`#[`, `#!`).
pub fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//")
        || t.starts_with("/*")
        || t.starts_with('*')
        || (t.starts_with('#') && !t.starts_with("#[") && !t.starts_with("#!"))
}

/// Whether `line` (lowercase) holds `ident` (lowercase) as a whole identifier: not inside a
/// longer one (`_` and letters or digits on neither side).
pub fn holds_identifier(line: &str, ident: &str) -> bool {
    if ident.is_empty() {
        return false;
    }
    line.match_indices(ident)
        .any(|(at, _)| is_whole_at(line, at, ident.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_line_prefers_more_words_then_whole_identifiers_then_the_first() {
        let text = "use a;\nfn parse(x) {\n    parse_integer(x) // integer\n}\nparse integer";
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let stems = |v: &[&str]| {
            v.iter()
                .map(|s| crate::scry::porter::stem_str(s))
                .collect::<Vec<_>>()
        };
        // Words are stems, and match every word of that stem.
        assert_eq!(
            best_line("x\nparsed ints\n", &w(&["pars"]), &[]),
            (1, false)
        );
        assert_eq!(
            best_line(text, &stems(&["parse", "integer"]), &[]),
            (2, false)
        );
        assert_eq!(
            best_line(text, &stems(&["parse", "integer"]), &w(&["parse_integer"])),
            (2, true)
        );
        assert_eq!(best_line(text, &stems(&["nothing"]), &[]), (0, false));
        assert_eq!(best_line(text, &stems(&["parse"]), &[]), (1, false));
        // A whole identifier in code beats the same words in the doc comment above it.
        let doc = "/// Looks up a value by a pointer.\npub fn pointer(&self) -> Option<&Value> {";
        assert_eq!(
            best_line(doc, &stems(&["value", "pointer"]), &w(&["pointer"])),
            (1, true)
        );
        assert!(is_comment("  // x") && is_comment("# x") && !is_comment("#[test]"));
    }

    #[test]
    fn a_declaration_without_a_body_is_told_from_a_definition_with_one() {
        let decl = "/// Decodes the four hex digits of a `\\u` escape.\n#[inline]\nfn decode_escape(&mut self) -> Result<u16>;";
        assert!(is_declaration_only(decl));
        assert!(is_declaration_only("fn f(\n    a: u8,\n) -> u8;\n\n"));
        // A body, even one on the signature's line, or a provided trait method.
        assert!(!is_declaration_only("fn f() -> u8 { 1 }"));
        assert!(!is_declaration_only(
            "/// Docs.\nfn f(&self) -> u8 {\n    self.x;\n}"
        ));
        // A struct literal in a constant is a body too; comments alone are no declaration.
        assert!(!is_declaration_only("const E: H = H { n: 0 };"));
        assert!(!is_declaration_only("/// only docs;\n// and a comment;"));
        assert!(!is_declaration_only(""));
        assert!(scan(decl, &Words::new(&[], &[]), &[]).declaration_only);
    }

    fn is_declaration_only(text: &str) -> bool {
        declaration(text).0
    }

    /// Writes into `r` an error type whose `fmt` writes its messages (`EOF while parsing a
    /// value` at line 5 of `src/error.rs`) and eight rows without those words, so that they
    /// weigh (IDF) as in a real corpus; scrapes `r` with what else it holds and opens it.
    fn messages_fixture(r: &std::path::Path) -> crate::scry::Index {
        write(
            r,
            "src/error.rs",
            "impl fmt::Display for Code {\n    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {\n        match self {\n            Code::Syntax => f.write_str(\"expected a colon\"),\n            Code::Eof => f.write_str(\"EOF while parsing a value\"),\n        }\n    }\n}\n",
        );
        for i in 0..8 {
            write(
                r,
                &format!("src/other{i}.rs"),
                &format!("/// Returns {i}.\npub fn other_{i}() -> u8 {{\n    {i}\n}}\n"),
            );
        }
        crate::scry::scrape(r).unwrap();
        crate::scry::Index::open(r).unwrap()
    }

    #[test]
    fn an_error_message_typed_whole_ranks_the_row_that_writes_it_first_at_its_line() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // A short function that says the message's words apart, again and again: BM25 and
        // proximity alone put it first.
        write(
            r,
            "src/scan.rs",
            "/// While parsing, EOF ends the value.\npub fn next_value(eof: bool) -> Option<u8> {\n    if eof { None } else { Some(1) }\n}\n",
        );
        let mut idx = messages_fixture(r);
        let hits = idx.search("EOF while parsing a value", 10, None).unwrap();
        assert_eq!(
            (hits[0].path.as_str(), hits[0].line),
            ("src/error.rs", 5),
            "{hits:#?}"
        );
        // The same words in another order are no message: the function ranks first again.
        let hits = idx.search("value EOF while parsing", 10, None).unwrap();
        assert_eq!(hits[0].path, "src/scan.rs", "{hits:#?}");
    }

    #[test]
    fn a_quoted_message_in_a_pasted_error_ranks_the_row_that_writes_it_first() {
        // QA session 11, D: the message came wrapped (`Error("…", line: 1, column: 0)`), and
        // the wrapper's words outranked the row that writes it.
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(
            r,
            "src/position.rs",
            "/// The line and column of an error: line 1, column 0 at the start.\npub fn error_at(line: usize, column: usize) -> Error {\n    Error { line, column }\n}\n",
        );
        let mut idx = messages_fixture(r);
        for q in [
            "Error(\"EOF while parsing a value\", line: 1, column: 0)",
            "called `Result::unwrap()` on an `Err` value: Error(\u{201c}EOF while parsing a value\u{201d}, line: 1, column: 0)",
        ] {
            let hits = idx.search(q, 10, None).unwrap();
            assert_eq!(
                (hits[0].path.as_str(), hits[0].line),
                ("src/error.rs", 5),
                "{q}: {hits:#?}"
            );
        }
        // Unquoted, the wrapper's words count: the position function is first.
        let hits = idx
            .search(
                "Error(EOF while parsing a value, line: 1, column: 0)",
                10,
                None,
            )
            .unwrap();
        assert_eq!(hits[0].path, "src/position.rs", "{hits:#?}");
    }

    #[test]
    fn the_querys_text_is_found_whole_only_at_the_ends_of_words() {
        let holds = |text: &str, phrase: &str| {
            holds_whole(text, &memchr::memmem::Finder::new(phrase.as_bytes()))
        };
        assert!(holds(
            "f.write_str(\"eof while parsing a value\")",
            "eof while parsing a value"
        ));
        assert!(holds(
            "eof while parsing a value",
            "eof while parsing a value"
        ));
        assert!(!holds("missing ']' here", "class; missing ']'"));
        assert!(holds("unclosed class; missing ']'x", "class; missing ']'"));
        // A phrase that ends or begins inside a token is no match: no prefix (or suffix) of
        // an indexed value ranks its row higher.
        assert!(!holds(
            "let key = \"the staging key is fcbb1234\";",
            "staging key is fcbb"
        ));
        assert!(holds(
            "let key = \"the staging key is fcbb\";",
            "staging key is fcbb"
        ));
        assert!(holds("the staging key is fcbb_1234", "staging key is fcbb"));
        // A combining mark continues the token (QA session 12, N3).
        assert!(!holds(
            "the staging key is 7c1f\u{301}a9e2",
            "staging key is 7c1f"
        ));
        assert!(!holds("x\u{301}staging key", "staging key"));
        assert!(!holds("xstaging key is fcbb", "staging key is fcbb"));
        assert!(!holds("the staging key is fcbbé", "staging key is fcbb"));
        // A later occurrence may be whole where the first is not.
        assert!(holds("parse errors; parse error.", "parse error"));
    }

    #[test]
    fn a_functions_declaration_is_told_from_other_items_that_end_with_a_semicolon() {
        let declares = |t: &str| declaration(t).1;
        assert!(declares(
            "/// Decodes an escape.\n#[inline]\nfn decode_escape(&mut self) -> Result<u16>;"
        ));
        assert!(declares("pub(crate) unsafe fn f(\n    a: u8,\n) -> u8;"));
        assert!(declares("export declare function f(a: number): void;"));
        // Items without a body that are no function's declaration.
        for t in [
            "pub const MAX: usize = 64;",
            "pub const PAD: Config = Config::new();",
            "static NOSYS: AtomicBool = AtomicBool::new(false);",
            "type Callback = fn(u8) -> u8;",
            "pub type Result<T> = std::result::Result<T, Error>;",
            "use crate::fnv::hash;",
            "mod function;",
            "/// A fn of the trait.\nconst X: u8 = 1;",
        ] {
            assert!(declaration(t).0, "{t}");
            assert!(!declares(t), "{t}");
        }
        // A function with a body is no declaration at all.
        assert!(!declares("fn f() -> u8 { 1 }"));
        let m = scan("fn decode(&mut self) -> u16;", &Words::new(&[], &[]), &[]);
        assert!(m.declaration_only && m.declares_function);
    }

    #[test]
    fn a_described_behaviour_ranks_the_code_that_does_it_above_a_traits_declaration_of_it() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // The trait's required method documents the behaviour in the query's words; the
        // function that does it says them once each, in a longer row (BM25 and proximity
        // alone put the declaration first).
        write(
            r,
            "src/read.rs",
            "/// A source of bytes.\npub trait Source {\n    /// Reads the hexadecimal length of a chunk.\n    fn chunk_length(&mut self) -> usize;\n}\n",
        );
        write(
            r,
            "src/chunk.rs",
            "/// The size line of a chunk in chunked encoding.\npub fn size_line(buf: &[u8]) -> Option<usize> {\n    let mut n = 0usize;\n    for &b in buf {\n        // Each hexadecimal digit of the length.\n        let d = (b as char).to_digit(16)?;\n        n = n.checked_mul(16)?.checked_add(d as usize)?;\n    }\n    // The whole chunk is read after this line.\n    Some(n)\n}\n",
        );
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let hits = idx
            .search("read the hexadecimal length of a chunk", 10, None)
            .unwrap();
        assert_eq!(hits[0].path, "src/chunk.rs", "{hits:#?}");
        // Named, the declaration is the definition again: it comes first.
        let named = idx.search("Source::chunk_length", 10, None).unwrap();
        assert_eq!(named[0].title, "Source::chunk_length", "{named:#?}");
    }

    #[test]
    fn a_traits_declaration_of_a_named_method_ranks_above_its_impls() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(
            r,
            "src/read.rs",
            "/// A source of bytes.\npub trait Source {\n    /// Decodes the four hex digits of an escape: reads them one by one,\n    /// checks that each is a digit of base sixteen, and combines them into\n    /// one unit of the text's encoding, or fails on the first that is not.\n    fn decode_escape(&mut self) -> u16;\n}\n",
        );
        // Two impls, shorter than the declaration's documented row: BM25 alone puts them
        // first.
        for name in ["slice", "io"] {
            write(
                r,
                &format!("src/{name}.rs"),
                &format!(
                    "pub struct R{name};\n\nimpl Source for R{name} {{\n    fn decode_escape(&mut self) -> u16 {{\n        4\n    }}\n}}\n"
                ),
            );
        }
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let hits = idx.search("decode_escape", 10, None).unwrap();
        let first = &hits[0];
        assert_eq!(
            (first.path.as_str(), first.title.as_str(), first.line),
            ("src/read.rs", "Source::decode_escape", 6),
            "{hits:#?}"
        );
        // The impls still follow, as definitions of the name.
        let impls = hits
            .iter()
            .filter(|h| h.title.ends_with("::decode_escape") && h.path != "src/read.rs")
            .count();
        assert_eq!(impls, 2, "{hits:#?}");
    }

    fn write(root: &std::path::Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn a_named_symbols_definition_ranks_above_its_uses_and_tests_at_its_own_line() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // Uses and tests say `parse_header` far more often than its definition does.
        let mut uses = String::from("use crate::parse_header;\n");
        for i in 0..12 {
            uses.push_str(&format!(
                "pub fn caller_{i}(b: &[u8]) {{\n    parse_header(b);\n    parse_header(b);\n}}\n"
            ));
        }
        write(r, "src/uses.rs", &uses);
        write(
            r,
            "tests/header.rs",
            "#[test]\nfn parse_header_works() {\n    parse_header(b\"x\");\n    parse_header(b\"y\");\n}\n",
        );
        write(
            r,
            "src/lib.rs",
            "//! A crate.\n\nmod other;\n\n/// Reads one header line.\n/// More words here.\npub fn parse_header(b: &[u8]) -> usize {\n    b.len()\n}\n",
        );
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        for q in ["fn parse_header", "parse_header"] {
            let hits = idx.search(q, 10, None).unwrap();
            let first = &hits[0];
            assert_eq!(
                (
                    first.path.as_str(),
                    first.title.as_str(),
                    first.kind.as_str(),
                    first.line
                ),
                ("src/lib.rs", "crate::parse_header", "definition", 7),
                "{q}: {hits:#?}"
            );
            let test_rank = hits.iter().position(|h| h.kind == "test");
            assert!(test_rank.is_none_or(|i| i > 0), "{q}");
            // One file does not fill the list: src/uses.rs has 12 matching functions, yet
            // the test file is among the first four.
            let top4: Vec<&str> = hits.iter().take(4).map(|h| h.path.as_str()).collect();
            assert!(top4.contains(&"tests/header.rs"), "{q}: {top4:?}");
        }
    }

    /// QA session 11: `enum Value` did not find `pub enum Value` in 100 hits, because the
    /// declaration word was not searched and dozens of `impl Value` methods, titled `Value`
    /// too, said `value` more often in fewer words. A kind word (`enum`, `struct`, `trait`,
    /// `macro_rules`, …) is searched with the name now.
    #[test]
    fn a_kind_word_finds_the_declaration_among_many_members_of_its_name() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let mut value = String::from("//! Values.\n\n/// Any value.\n///\n");
        for i in 0..40 {
            value.push_str(&format!(
                "/// A line of prose about the shape number {i}.\n"
            ));
        }
        value.push_str("#[derive(Clone)]\npub enum Value {\n");
        for v in ["Null", "Bool(bool)", "Number(f64)", "String(String)"] {
            value.push_str(&format!("    /// A variant.\n    {v},\n"));
        }
        value.push_str("}\n\n");
        for i in 0..60 {
            value.push_str(&format!(
                "impl Value {{\n    /// Value {i}.\n    pub fn as_value_{i}(&self) -> Value {{\n        self.value_{i}()\n    }}\n}}\n"
            ));
        }
        write(r, "src/value.rs", &value);
        // A row titled `Map` that only implements it and says `struct` and `map` (serde_json's
        // `forward_to_deserialize_any!` list).
        let mut map =
            String::from("/// A map.\npub struct Map<K, V> {\n    inner: Vec<(K, V)>,\n}\n\n");
        map.push_str(
            "impl Walk for Map {\n    forward! {\n        bool i8 str unit unit_struct newtype_struct seq tuple\n        tuple_struct map struct enum identifier ignored_any\n    }\n}\n",
        );
        write(r, "src/map.rs", &map);
        write(
            r,
            "src/de.rs",
            "/// Reads values.\npub struct Deserializer { value: Value }\n\nmacro_rules! json {\n    ($e:expr) => { Value::from($e) };\n}\n",
        );
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        for (q, line) in [
            ("enum Value", "pub enum Value {"),
            (
                "struct Deserializer",
                "pub struct Deserializer { value: Value }",
            ),
            ("macro_rules json", "macro_rules! json {"),
            ("struct Map", "pub struct Map<K, V> {"),
        ] {
            let hits = idx.search(q, 10, None).unwrap();
            let text = std::fs::read_to_string(r.join(&hits[0].path)).unwrap();
            let at = text.lines().nth(hits[0].line as usize - 1).unwrap_or("");
            assert_eq!(at, line, "{q}: {hits:#?}");
        }
    }

    #[test]
    fn the_window_holds_the_most_weight_of_distinct_words_on_nearby_lines() {
        let w = [1.0, 2.0, 4.0];
        // Words 0 and 2 on adjacent lines, word 1 far below: 0 + 2 in a window of two.
        let lines = [0b001, 0b100, 0, 0, 0, 0b010];
        assert_eq!(best_window(&lines, &w, 1), 4.0);
        assert_eq!(best_window(&lines, &w, 2), 5.0);
        assert_eq!(best_window(&lines, &w, 6), 7.0);
        // A word twice in the window counts once.
        assert_eq!(best_window(&[0b100, 0b100], &w, 2), 4.0);
        assert_eq!(best_window(&[], &w, 3), 0.0);
    }

    #[test]
    fn words_near_each_other_outrank_the_same_words_apart() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // The same words, as often, in rows of the same length: BM25 ties them (and would
        // list a.rs first, by path). Only b.rs says them on neighbouring lines.
        let filler: String = (0..20)
            .map(|i| format!("    let v{i} = step();\n"))
            .collect();
        write(
            r,
            "a.rs",
            &format!("fn run() {{\n    // escape\n{filler}    // quote\n}}\n"),
        );
        write(
            r,
            "b.rs",
            &format!("fn run() {{\n{filler}    // escape\n    // quote\n}}\n"),
        );
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let plain = idx.search_plain("escape quote", 10).unwrap();
        assert_eq!(plain.len(), 2);
        assert_eq!(plain[0].score, plain[1].score, "{plain:#?}");
        let hits = idx.search("escape quote", 10, None).unwrap();
        assert_eq!(hits[0].path, "b.rs", "{hits:#?}");
        // Two words of equal weight: 1 + NEAR for both in one window, 1 + NEAR / 2 for one.
        let ratio = hits[0].score / hits[1].score;
        assert!(
            (ratio - (1.0 + NEAR) / (1.0 + NEAR / 2.0)).abs() < 1e-9,
            "{hits:#?}"
        );
    }

    #[test]
    fn a_non_ascii_query_word_scores_proximity_and_picks_its_line() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // As `words_near_each_other_outrank_the_same_words_apart`, with words the tokenizer
        // folds: BM25 ties the rows; only b.rs says them together, one inside a camelCase
        // identifier, the other in capitals with a decomposed diacritic.
        let filler: String = (0..20)
            .map(|i| format!("    let v{i} = step();\n"))
            .collect();
        write(
            r,
            "a.rs",
            &format!("fn run() {{\n    let g = maxGröße();\n{filler}    // café\n}}\n"),
        );
        write(
            r,
            "b.rs",
            &format!(
                "fn run() {{\n{filler}    let g = maxGröße();\n    // {}\n}}\n",
                "CAFE\u{301}"
            ),
        );
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let q = "größe café";
        let plain = idx.search_plain(q, 10).unwrap();
        assert_eq!(plain.len(), 2);
        assert_eq!(plain[0].score, plain[1].score, "{plain:#?}");
        let hits = idx.search(q, 10, None).unwrap();
        assert_eq!(hits[0].path, "b.rs", "{hits:#?}");
        let ratio = hits[0].score / hits[1].score;
        assert!(
            (ratio - (1.0 + NEAR) / (1.0 + NEAR / 2.0)).abs() < 1e-9,
            "{hits:#?}"
        );
        // Each hit's line is its first line holding a query word, not the row's first.
        assert_eq!((hits[0].line, hits[1].line), (22, 2), "{hits:#?}");
        // The second stage's tokens are the index's: `best_line` finds the stems the
        // tokenizer makes of any spelling.
        let stems: Vec<String> = crate::scry::tokenize::tokens("Größe Naïve");
        assert_eq!(
            best_line(
                "x\nlet naive = 1;\nGRÖSSE\nfoo(gro\u{308}ße, NAI\u{308}VE)",
                &stems,
                &[]
            ),
            (3, false)
        );
    }

    /// [`Words::mask`] (a first-byte table, [`crate::scry::porter::may_stem_to`], one stem
    /// per token) equals the plain definition (every token stemmed, compared with every
    /// word, [`abbreviates`] tried on each) on every line of this crate's sources and on
    /// generated lines, for query words drawn from those lines' own tokens.
    #[test]
    fn the_fast_word_match_equals_the_plain_one() {
        use crate::scry::porter;
        let mut lines: Vec<String> = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    lines.extend(text.lines().map(str::to_string));
                }
            }
        }
        let mut rng = crate::test_rng::Rng(1818);
        let pieces = [
            "parse",
            "Parsing",
            "hexadecimal",
            "hex",
            "len",
            "lengths",
            "größe",
            "Gro\u{308}ße",
            "café",
            "CAFÉ",
            "maxGröße",
            "parseHexLength",
            "HTTPServer",
            "agreed",
            "agre",
            "a",
            "is",
            "ability",
            "abl",
            "x2",
            "u64",
            "日本語",
            "_",
            "::",
            " ",
            "(",
            "// ",
        ];
        for _ in 0..2000 {
            let n = 1 + rng.below(12);
            lines.push((0..n).map(|_| *rng.pick::<&str>(&pieces)).collect());
        }
        // The distinct folded tokens of those lines: query words are drawn from them.
        let mut folded: Vec<Vec<u8>> = Vec::new();
        for l in &lines {
            for_each_token(l, |t| folded.push(t.to_vec()));
        }
        folded.sort();
        folded.dedup();
        let plain = |line: &str, stems: &[Vec<u8>], surface: &[Vec<u8>]| {
            let (mut words, mut abbreviated) = (0u64, 0u64);
            for_each_token(line, |t| {
                let st = porter::stem(t);
                for (i, (w, s)) in stems.iter().zip(surface).enumerate() {
                    if *st == w[..] {
                        words |= 1 << i;
                    }
                    if abbreviates(t, s) {
                        abbreviated |= 1 << i;
                    }
                }
            });
            (words, words | abbreviated)
        };
        let mut found = 0u64;
        for _ in 0..crate::test_rng::cases(6, 60) {
            let n = 1 + rng.below(8);
            let surface: Vec<Vec<u8>> = (0..n).map(|_| rng.pick(&folded).clone()).collect();
            let stems: Vec<Vec<u8>> = surface
                .iter()
                .map(|s| porter::stem(s).into_owned())
                .collect();
            let as_strings = |v: &[Vec<u8>]| -> Vec<String> {
                v.iter()
                    .map(|b| String::from_utf8(b.clone()).unwrap())
                    .collect()
            };
            let words = Words::new(&as_strings(&stems), &as_strings(&surface));
            for line in &lines {
                let want = plain(line, &stems, &surface);
                let got = (words.mask(line, false), words.mask(line, true));
                assert_eq!(got, want, "{line:?} {:?}", as_strings(&surface));
                found += u64::from(want.1 != 0);
            }
        }
        assert!(found > 1000, "{found}");
    }

    /// [`Scanner::scan`] (lines without an anchor not tokenized) equals the plain [`scan`]
    /// (every line tokenized) on every file of this crate's sources and on generated rows
    /// of code, comments and non-ASCII words, for query words and identifiers drawn from
    /// those rows' own tokens, and for words chosen to break a wrong anchor: a stem that is
    /// no prefix of its word (`happy` → `happi`), a word found only by folding a non-ASCII
    /// letter (`Éclair` → `eclair`), abbreviations (`hex` for `hexadecimal`), whole
    /// identifiers in another case, and words that begin camelCase parts (`parseHexLength`,
    /// `JSONValue`, `u64`) or occur inside longer words (`reparse`).
    #[test]
    fn the_anchored_scan_equals_the_plain_one() {
        use crate::scry::porter;
        let mut rows: Vec<String> = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    rows.push(text);
                }
            }
        }
        let mut rng = crate::test_rng::Rng(1866);
        let pieces = [
            "parse",
            "Parsing",
            "hexadecimal",
            "hex",
            "HEX",
            "len",
            "lengths",
            "happy",
            "Happily",
            "happiness",
            "Éclair",
            "éclairs",
            "ECLAIR",
            "größe",
            "Gro\u{308}ße",
            "café",
            "maxGröße",
            "parseHexLength",
            "parse_hex",
            "PARSE_HEX",
            "HTTPServer",
            "agreed",
            "a",
            "is",
            "ability",
            "x2",
            "u64",
            "日本語",
            "_",
            "::",
            " ",
            " ",
            "(",
            "// ",
            "\n",
            "\n",
            "\n",
            "\r\n",
            "# ",
            "\n  * ",
            ";",
            "{",
            "spawnParser",
            "reparse",
            "JSONValue",
            "value2",
            "2value",
            "my_parse_hex",
            "unparsed",
        ];
        for _ in 0..600 {
            let n = 1 + rng.below(40);
            rows.push((0..n).map(|_| *rng.pick::<&str>(&pieces)).collect());
        }
        let mut folded: Vec<String> = Vec::new();
        for r in &rows {
            for_each_token(r, |t| folded.push(String::from_utf8(t.to_vec()).unwrap()));
        }
        folded.sort();
        folded.dedup();
        let idents_of = |r: &mut crate::test_rng::Rng| -> Vec<String> {
            let n = r.below(3);
            (0..n)
                .map(|_| {
                    (*r.pick(&["parse_hex", "httpserver", "u64", "x2", "len", "self", "fn"]))
                        .to_string()
                })
                .collect()
        };
        // (surface words, idents): fixed ones, then drawn ones.
        let mut queries: Vec<(Vec<String>, Vec<String>)> = [
            (vec!["happy"], vec![]),
            (vec!["eclair"], vec![]),
            (vec!["hexadecimal", "lengths"], vec![]),
            (vec!["parse"], vec!["parse_hex"]),
            (vec!["server"], vec!["httpserver"]),
            (vec!["große", "cafe"], vec!["self"]),
            (vec![], vec!["u64"]),
            (vec!["length", "json", "64"], vec![]),
            (vec!["parser", "value"], vec!["parse_hex"]),
            (vec![], vec![]),
        ]
        .into_iter()
        .map(|(w, i)| {
            let s = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
            (s(w), s(i))
        })
        .collect();
        for _ in 0..crate::test_rng::cases(12, 120) {
            let n = rng.below(6);
            let words = (0..n).map(|_| rng.pick(&folded).clone()).collect();
            queries.push((words, idents_of(&mut rng)));
        }
        let mut held = 0;
        for (surface, idents) in &queries {
            let stems: Vec<String> = surface
                .iter()
                .map(|w| String::from_utf8(porter::stem(w.as_bytes()).into_owned()).unwrap())
                .collect();
            let words = Words::new(&stems, surface);
            let scanner = Scanner::new(&words, idents);
            for row in &rows {
                let mut lower = row.clone();
                lower.make_ascii_lowercase();
                let want = scan(row, &words, idents);
                assert_eq!(
                    scanner.scan(row, &lower),
                    want,
                    "{surface:?} {idents:?} in {:?}",
                    &row[..row.len().min(200)]
                );
                held += usize::from(want.lines.iter().any(|&m| m != 0) || want.whole);
            }
        }
        assert!(held > 1000, "{held}");
    }

    /// [`ascii_camel_parts`] equals [`crate::scry::symbols::split_camel`] on random ASCII
    /// words of letters of both cases and digits (acronyms, digit edges, a capital last),
    /// and on every ASCII token of this crate's sources.
    #[test]
    fn ascii_camel_parts_equal_split_camel() {
        let mut words: Vec<String> = Vec::new();
        let mut rng = crate::test_rng::Rng(1867);
        for _ in 0..crate::test_rng::cases(20_000, 400_000) {
            words.push(rng.chars(b"aAbBzZ09xX", 0, 12));
        }
        for w in [
            "HTTPServer",
            "parseHexLength",
            "u64",
            "ab1",
            "aB",
            "A",
            "",
            "xML2Json",
        ] {
            words.push(w.to_string());
        }
        let src = include_str!("rank.rs");
        crate::scry::tokenize::each_folded(src, |span, _| words.push(src[span].to_string()));
        for w in words.iter().filter(|w| w.is_ascii()) {
            let mut got: Vec<&[u8]> = Vec::new();
            ascii_camel_parts(w.as_bytes(), |p| got.push(p));
            let want: Vec<&[u8]> = crate::scry::symbols::split_camel(w)
                .into_iter()
                .map(str::as_bytes)
                .collect();
            assert_eq!(got, want, "{w:?}");
        }
    }

    #[test]
    fn word_weights_are_bm25_idf_rare_words_above_common_ones() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for i in 0..8 {
            let extra = if i == 0 { " zebra" } else { "" };
            write(
                r,
                &format!("f{i}.txt"),
                &format!("common words here{extra}\n"),
            );
        }
        crate::scry::scrape(r).unwrap();
        let conn = rusqlite::Connection::open(crate::paths::project_index_path(r)).unwrap();
        let words: Vec<String> = ["common", "zebra", "absent"]
            .iter()
            .map(|w| w.to_string())
            .collect();
        let w = word_weights(&conn, &words);
        // IDF: ln((N - n + 0.5) / (n + 0.5)), floored; N = 8 rows.
        assert_eq!(w[0], IDF_FLOOR);
        assert!((w[1] - (7.5f64 / 1.5).ln()).abs() < 1e-12, "{w:?}");
        assert!(w[2] > w[1], "{w:?}");
    }

    #[test]
    fn a_session_log_ranks_below_a_note_with_the_same_text() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let text = "# Vault\nThe secrets are stored in an age vault.\n";
        // Same text: BM25 ties them, and the session's path sorts first.
        write(r, "layer/sessions/20260101.md", text);
        write(r, "layer/surface/vault.md", text);
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let plain = idx.search_plain("secrets stored", 10).unwrap();
        assert_eq!(plain[0].path, "layer/sessions/20260101.md");
        let hits = idx.search("secrets stored", 10, None).unwrap();
        assert_eq!(
            (hits[0].path.as_str(), hits[0].kind.as_str()),
            ("layer/surface/vault.md", "surface"),
            "{hits:#?}"
        );
        assert_eq!(hits[1].kind, "session");
        assert!((hits[1].score - plain[0].score * SESSION).abs() < 1e-9);
    }

    #[test]
    fn rows_of_test_files_no_grammar_splits_rank_below_the_same_text_elsewhere() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let text = "error: trailing characters at line 1 column 3\n";
        // Same text; the fixture's BM25 is higher (its file name is a query word too).
        write(r, "a/tests/ui/trailing.stderr", text);
        write(r, "b/notes.txt", text);
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let plain = idx.search_plain("trailing characters", 10).unwrap();
        assert_eq!(plain[0].path, "a/tests/ui/trailing.stderr");
        let hits = idx.search("trailing characters", 10, None).unwrap();
        assert_eq!(hits[0].path, "b/notes.txt", "{hits:#?}");
        assert_eq!(hits[1].kind, "code");
    }

    #[test]
    fn a_section_of_a_note_titled_with_the_query_words_outranks_the_same_section_elsewhere() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let part = "## Part\nThe secrets are stored in an age vault.\n";
        write(r, "a.md", &format!("# Alpha\nIntro.\n\n{part}"));
        write(r, "z.md", &format!("# Stored secrets\nIntro.\n\n{part}"));
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let part_of = |hits: &[crate::scry::Hit], path: &str| {
            hits.iter()
                .find(|h| h.path == path && h.line == 4)
                .map(|h| h.score)
                .unwrap()
        };
        // BM25 ties the two sections (the title is indexed on a note's first row only).
        let plain = idx.search_plain("secrets stored", 10).unwrap();
        assert_eq!(
            part_of(&plain, "a.md"),
            part_of(&plain, "z.md"),
            "{plain:#?}"
        );
        // The second stage carries z.md's title to its section: above a.md's, though it is
        // z.md's second row and folded.
        let hits = idx.search("secrets stored", 10, None).unwrap();
        assert!(part_of(&hits, "z.md") > part_of(&hits, "a.md"), "{hits:#?}");
    }

    #[test]
    fn a_thesaurus_word_ranks_the_definition_that_uses_a_synonym_of_the_querys() {
        // Two functions of the same length hold "entry" once each: BM25 ties them, and the
        // first file wins the tie. Only `drop_entry` says what the query says, in another
        // word ("erase" → `remove`, one group of the thesaurus).
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(
            r,
            "a.rs",
            "/// Counts the entry.\npub fn count_entry(m: &mut Map, k: &str) {\n    m.count(k); // its entry\n}\n",
        );
        write(
            r,
            "b.rs",
            "/// Takes the entry out.\npub fn drop_entry(m: &mut Map, k: &str) {\n    m.remove(k); // its entry\n}\n",
        );
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        // Without a synonym in the query, the tie stands.
        let plain = idx.search("entry", 10, None).unwrap();
        assert_eq!(plain[0].path, "a.rs", "{plain:#?}");
        let q = crate::scry::query::prepare("erase the entry");
        assert!(q.expansions.contains(&"remov".to_string()), "{q:?}");
        let hits = idx.search("erase the entry", 10, None).unwrap();
        assert_eq!(hits[0].path, "b.rs", "{hits:#?}");
        // The line is the query's own word's, not the synonym's.
        assert_eq!(hits[0].line, 1, "{hits:#?}");
    }

    #[test]
    fn stop_words_do_not_score() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(
            r,
            "a.md",
            "# How we are\nhow are you, how are they, how are we all\n",
        );
        write(
            r,
            "b.md",
            "# Vault\nThe secrets are stored in an age vault.\n",
        );
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let hits = idx.search("how are secrets stored", 10, None).unwrap();
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert_eq!(hits[0].path, "b.md");
        // A query of stop words only still finds them.
        assert_eq!(idx.search("how are", 10, None).unwrap()[0].path, "a.md");
    }

    #[test]
    fn prepositions_and_quantifiers_of_a_described_behaviour_do_not_score() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // Only the words the stop list added (`before`, `after`, `other`, `same`, `only`)
        // match a.md; b.md holds the query's content words.
        write(
            r,
            "a.md",
            "# Before and after\nbefore after, the other before the same, only after\n",
        );
        write(r, "b.md", "# Commit\nA commit happens in one step.\n");
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let q = "what happens before and after a commit, only the same as other ones";
        let hits = idx.search(q, 10, None).unwrap();
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert_eq!(hits[0].path, "b.md");
    }

    #[test]
    fn a_files_second_row_is_not_folded_and_its_further_rows_are() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // Five equal functions, four in a.rs: BM25 ties the five rows (none is its file's
        // first row, which also holds the file name as its title).
        let f = |name: &str| format!("fn {name}() {{\n    // escape quote\n}}\n");
        let a: Vec<String> = ["head", "one", "two", "three", "four"]
            .iter()
            .map(|n| {
                if *n == "head" {
                    "fn head() {}\n".into()
                } else {
                    f(n)
                }
            })
            .collect();
        write(r, "a.rs", &a.join("\n"));
        write(r, "b.rs", &format!("fn head() {{}}\n\n{}", f("five")));
        // Rows without the words, so that theirs are rare (BM25's IDF floors common words).
        for i in 0..8 {
            write(
                r,
                &format!("c{i}.rs"),
                "fn other() {\n    // nothing here\n}\n",
            );
        }
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let plain = idx.search_plain("escape quote", 10).unwrap();
        assert_eq!(plain.len(), 5);
        assert!(
            plain.iter().all(|h| h.score == plain[0].score),
            "{plain:#?}"
        );
        let hits = idx.search("escape quote", 10, None).unwrap();
        let paths: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
        // a.rs's best and second rows at full score (ties keep the first stage's order),
        // then its third and fourth at FOLD and FOLD² of it, below b.rs.
        assert_eq!(paths, ["a.rs", "a.rs", "b.rs", "a.rs", "a.rs"], "{hits:#?}");
        let ratio: Vec<f64> = hits.iter().map(|h| h.score / hits[0].score).collect();
        let want = [1.0, 1.0, 1.0, FOLD, FOLD * FOLD];
        assert!(
            ratio.iter().zip(want).all(|(r, w)| (r - w).abs() < 1e-9),
            "{ratio:?}"
        );
    }

    #[test]
    fn an_abbreviation_on_a_line_of_code_counts_as_the_query_word_it_shortens() {
        assert!(abbreviates(b"hex", b"hexadecimal") && abbreviates(b"env", b"environment"));
        // Too short, the whole word, or one letter off (the stem matches those).
        assert!(!abbreviates(b"he", b"hexadecimal") && !abbreviates(b"length", b"length"));
        assert!(!abbreviates(b"escape", b"escaped") && !abbreviates(b"lex", b"length"));
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // The query's words apart, in comments; in between one line that says them
        // shortened, in code (a.rs), in a comment (b.rs), or not at all (c.rs). BM25 ties
        // the three rows (the middle lines hold no query word and as many tokens).
        let filler: String = (0..12)
            .map(|i| format!("    let v{i} = step();\n"))
            .collect();
        let row = |middle: &str| {
            format!(
                "fn run() {{\n    // hexadecimal\n{filler}{middle}\n{filler}    // length\n}}\n"
            )
        };
        write(r, "a.rs", &row("    let len = parse_hex(s);"));
        write(r, "b.rs", &row("    // let len = parse_hex(s);"));
        write(r, "c.rs", &row("    let num = parse_int(s);"));
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let plain = idx.search_plain("hexadecimal length", 10).unwrap();
        assert_eq!(plain.len(), 3);
        assert!(
            plain.iter().all(|h| h.score == plain[0].score),
            "{plain:#?}"
        );
        let hits = idx.search("hexadecimal length", 10, None).unwrap();
        assert_eq!(hits[0].path, "a.rs", "{hits:#?}");
        // Its line is the abbreviated one: both words there.
        assert_eq!(hits[0].line, 15, "{hits:#?}");
        // Two words of equal weight: 1 + NEAR for both in one window, 1 + NEAR / 2 for one.
        let ratio = hits[0].score / hits[1].score;
        assert!(
            (ratio - (1.0 + NEAR) / (1.0 + NEAR / 2.0)).abs() < 1e-9,
            "{hits:#?}"
        );
        assert_eq!(hits[1].score, hits[2].score, "{hits:#?}");
    }

    #[test]
    fn a_call_does_not_lend_the_callees_words_to_the_callers_proximity() {
        let calls =
            Calls::new(["skip_empty_lines", "Skip_Empty_Lines", "read_all"].into_iter()).unwrap();
        let strip = |text: &str, own: &str| calls.strip(text, &text.to_ascii_lowercase(), own);
        assert_eq!(
            strip(
                "x = Skip_Empty_Lines(b);\n// skip_empty_lines here\ny(skip_empty_lines)",
                "read_all"
            )
            .as_deref(),
            Some("x =                 (b);\n// skip_empty_lines here\ny(                )")
        );
        // Not inside a longer identifier, not in a comment, not the row's own name.
        let text = "my_skip_empty_lines()\n// skip_empty_lines\nread_all()";
        assert_eq!(strip(text, "READ_ALL"), None);
        assert!(Calls::new(std::iter::empty()).is_none());
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let filler: String = (0..10)
            .map(|i| format!("    let v{i} = step();\n"))
            .collect();
        write(
            r,
            "src/lib.rs",
            "pub fn skip_empty_lines(b: &[u8]) -> usize {\n    b.len()\n}\n",
        );
        write(
            r,
            "src/req.rs",
            &format!(
                "pub fn read_request(b: &[u8]) {{\n{filler}    let n = skip_empty_lines(b);\n{filler}}}\n"
            ),
        );
        crate::scry::scrape(r).unwrap();
        let mut idx = crate::scry::Index::open(r).unwrap();
        let q = "skip empty lines";
        let plain = idx.search_plain(q, 10).unwrap();
        let caller = |hits: &[crate::scry::Hit]| {
            hits.iter()
                .find(|h| h.path == "src/req.rs")
                .map(|h| h.score)
                .unwrap()
        };
        let hits = idx.search(q, 10, None).unwrap();
        assert_eq!(hits[0].path, "src/lib.rs", "{hits:#?}");
        // The caller's words are all in its call: no proximity credit (factor 1, where its
        // window would otherwise hold every query word: 1 + NEAR).
        assert_eq!(caller(&hits), caller(&plain), "{hits:#?}");
        // A query that names the symbol keeps the call (the whole identifier counts there).
        let named = idx.search("skip_empty_lines", 10, None).unwrap();
        assert!(
            named.iter().any(|h| h.path == "src/req.rs" && h.line == 12),
            "{named:#?}"
        );
    }

    #[test]
    fn a_qualified_name_matches_whole_path_segments() {
        assert!(ends_with_path(
            "deserializer::deserialize_any",
            "deserializer::deserialize_any"
        ));
        assert!(ends_with_path(
            "de::deserializer::deserialize_any",
            "deserializer::deserialize_any"
        ));
        assert!(!ends_with_path(
            "mapkeydeserializer::deserialize_any",
            "deserializer::deserialize_any"
        ));
        assert!(!ends_with_path(
            "deserialize_any",
            "deserializer::deserialize_any"
        ));
    }

    #[test]
    fn whole_identifiers_are_not_parts_of_longer_ones() {
        assert!(holds_identifier("fn from_str(s)", "from_str"));
        assert!(holds_identifier("x.from_str", "from_str"));
        assert!(!holds_identifier("fn from_str_radix(s)", "from_str"));
        assert!(!holds_identifier("my_from_str", "from_str"));
        assert!(!holds_identifier("anything", ""));
    }
}
