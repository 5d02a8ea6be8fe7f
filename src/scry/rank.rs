//! The second stage of a search: re-scoring the BM25 candidates for code, folding one file's
//! further hits below other files' best, and moving each code hit's line to its best match.
//! Depends on `rusqlite` (to read a candidate's text by rowid) and [`super::query`].
//!
//! A candidate's score starts as its BM25 score (higher is better) and is multiplied by:
//!
//! - [`DEFINES`] when the query names a symbol and the row is that symbol's definition (its
//!   title's last segment is one of the query's identifiers);
//!   [`QUALIFIED`] more when the query gives its path too (`Deserializer::deserialize_any`);
//! - [`TEST`] when the row is a test (a test function, or any row of a test file);
//! - [`WHOLE_IDENTIFIER`] when the row holds one of the query's identifiers whole (as a
//!   word of code: `parse_integer`, not `parse` … `integer` apart);
//! - [`FOLD`]`^n` for the file's `n`-th row among the better ones (0 for its best), so one
//!   file does not fill the list but a second relevant place in it can still rank.
//!
//! Markdown rows keep their section's line (the heading above the match); a code row's line
//! becomes the line of its body that holds the most distinct query words (a whole identifier
//! of the query counts as [`LINE_IDENTIFIER`] words; ties go to the first).

use super::query::Prepared;
use super::Hit;
use rusqlite::Connection;

/// Factor for the definition of a symbol the query names.
pub const DEFINES: f64 = 4.0;
/// Further factor for that definition when the query names it with its path
/// (`Deserializer::deserialize_any`) and the row's title ends with that path.
pub const QUALIFIED: f64 = 2.0;
/// Factor for a test row: tests use everything, and are seldom what a search is for.
pub const TEST: f64 = 0.5;
/// Factor for a row that holds an identifier of the query whole.
pub const WHOLE_IDENTIFIER: f64 = 1.5;
/// Factor per better row of the same file.
pub const FOLD: f64 = 0.5;
/// What a line holding an identifier of the query whole counts for, in words.
pub const LINE_IDENTIFIER: usize = 3;

/// The body of a row by rowid (FTS5's content table, column `c6`).
const BODY_SQL: &str = "SELECT c6 FROM docs_content WHERE id = ?1";

/// Re-scores `candidates` (rowid and hit, best BM25 first) for `q` and returns the best
/// `limit`, best first, with code lines moved to their best match (module docs).
pub(crate) fn rank(
    conn: &Connection,
    q: &Prepared,
    candidates: Vec<(i64, Hit)>,
    limit: usize,
) -> rusqlite::Result<Vec<Hit>> {
    let words: Vec<String> = q
        .terms
        .iter()
        .filter_map(|t| t.token.clone())
        .collect();
    let mut body = conn.prepare_cached(BODY_SQL)?;
    let mut scored: Vec<(f64, Hit)> = Vec::with_capacity(candidates.len());
    for (rowid, mut hit) in candidates {
        let mut score = hit.score;
        if !super::scrape::is_markdown(&hit.path) {
            let (line, whole) = body.query_row([rowid], |r| {
                let text = r.get_ref(0)?.as_str().unwrap_or("");
                Ok(best_line(text, &words, &q.idents))
            })?;
            hit.line += line as u64;
            if q.names_symbol {
                let last = hit
                    .title
                    .rsplit(|c| c == ':' || c == '.')
                    .next()
                    .unwrap_or("")
                    .to_lowercase();
                if hit.kind == super::symbols::KIND_DEFINITION && q.idents.contains(&last) {
                    score *= DEFINES;
                    let title = hit.title.to_lowercase().replace('.', "::");
                    if q.paths.iter().any(|p| title.ends_with(p.as_str())) {
                        score *= QUALIFIED;
                    }
                }
            }
            if hit.kind == super::symbols::KIND_TEST {
                score *= TEST;
            }
            if whole {
                score *= WHOLE_IDENTIFIER;
            }
        }
        scored.push((score, hit));
    }
    sort(&mut scored);
    // Fold: each file's n-th row (by the scores above) is worth FOLD^n of its score.
    let mut seen: std::collections::HashMap<String, i32> = std::collections::HashMap::new();
    for (score, hit) in scored.iter_mut() {
        let n = seen.entry(hit.path.clone()).or_insert(0);
        *score *= FOLD.powi(*n);
        *n += 1;
    }
    sort(&mut scored);
    scored.truncate(limit);
    Ok(scored
        .into_iter()
        .map(|(score, mut hit)| {
            hit.score = score;
            hit
        })
        .collect())
}

/// Best first; ties keep their order (the first stage's: path, then line).
fn sort(scored: &mut [(f64, Hit)]) {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
}

/// The 0-based line of `text` that holds the most distinct `words` (lowercase tokens), a
/// whole identifier of `idents` counting [`LINE_IDENTIFIER`]; the first of equals, 0 when
/// none holds any. And whether any line holds an identifier whole.
pub fn best_line(text: &str, words: &[String], idents: &[String]) -> (usize, bool) {
    let mut best = (0usize, 0usize);
    let mut any_whole = false;
    let mut tokens: Vec<String> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let lower = line.to_lowercase();
        tokens.clear();
        tokens.extend(
            lower
                .split(|c: char| !c.is_alphanumeric())
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        );
        let mut n = words.iter().filter(|w| tokens.contains(w)).count();
        if idents.iter().any(|id| holds_identifier(&lower, id)) {
            any_whole = true;
            n += LINE_IDENTIFIER;
        }
        if n > best.1 {
            best = (i, n);
        }
    }
    (best.0, any_whole)
}

/// Whether `line` (lowercase) holds `ident` (lowercase) as a whole identifier: not inside a
/// longer one (`_` and letters or digits on neither side).
pub fn holds_identifier(line: &str, ident: &str) -> bool {
    if ident.is_empty() {
        return false;
    }
    let is_part = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(ident).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + ident.len()..].chars().next();
        !before.is_some_and(is_part) && !after.is_some_and(is_part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_line_prefers_more_words_then_whole_identifiers_then_the_first() {
        let text = "use a;\nfn parse(x) {\n    parse_integer(x) // integer\n}\nparse integer";
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(best_line(text, &w(&["parse", "integer"]), &[]), (2, false));
        assert_eq!(
            best_line(text, &w(&["parse", "integer"]), &w(&["parse_integer"])),
            (2, true)
        );
        assert_eq!(best_line(text, &w(&["nothing"]), &[]), (0, false));
        assert_eq!(best_line(text, &w(&["parse"]), &[]), (1, false));
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
