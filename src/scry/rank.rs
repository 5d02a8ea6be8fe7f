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
//! of the query counts as [`LINE_IDENTIFIER`] words, one more outside a comment; ties go to
//! the first).

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
/// `limit` with their rowids, best first, with code lines moved to their best match (module
/// docs).
pub(crate) fn rank(
    conn: &Connection,
    q: &Prepared,
    candidates: Vec<(i64, Hit)>,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, Hit)>> {
    let words: Vec<String> = q.terms.iter().filter_map(|t| t.token.clone()).collect();
    let mut body = conn.prepare_cached(BODY_SQL)?;
    let mut scored: Vec<(f64, i64, Hit)> = Vec::with_capacity(candidates.len());
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
                    .rsplit([':', '.'])
                    .next()
                    .unwrap_or("")
                    .to_lowercase();
                if hit.kind == super::symbols::KIND_DEFINITION && q.idents.contains(&last) {
                    score *= DEFINES;
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
            if hit.kind == super::symbols::KIND_TEST {
                score *= TEST;
            }
            if whole {
                score *= WHOLE_IDENTIFIER;
            }
        }
        scored.push((score, rowid, hit));
    }
    sort(&mut scored);
    // Fold: each file's n-th row (by the scores above) is worth FOLD^n of its score.
    let mut seen: std::collections::HashMap<String, i32> = std::collections::HashMap::new();
    for (score, _, hit) in scored.iter_mut() {
        let n = seen.entry(hit.path.clone()).or_insert(0);
        *score *= FOLD.powi(*n);
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

/// The 0-based line of `text` that holds the most distinct `words` (tokens as the index
/// stores them: lowercase Porter stems, [`super::porter`]), a whole identifier of `idents`
/// counting [`LINE_IDENTIFIER`]; the first of equals, 0 when none holds any. And whether any
/// line holds an identifier whole.
pub fn best_line(text: &str, words: &[String], idents: &[String]) -> (usize, bool) {
    let mut best = (0usize, 0usize);
    let mut any_whole = false;
    let mut found = vec![false; words.len()];
    let mut buf = [0u8; super::porter::MAX_TOKEN];
    for (i, line) in text.split('\n').enumerate() {
        found.fill(false);
        for word in line.split(|c: char| !c.is_alphanumeric()) {
            if word.is_empty() {
                continue;
            }
            // The word, and the parts of a camelCase one (the `idents` column); a word with no
            // capital after its first character has none.
            let parts = if word.chars().skip(1).any(char::is_uppercase) {
                super::symbols::split_camel(word)
            } else {
                Vec::new()
            };
            let whole = std::iter::once(word).chain(parts.into_iter().filter(|p| *p != word));
            for token in whole {
                let lower;
                let token = if token.len() <= buf.len() && token.is_ascii() {
                    for (l, b) in buf.iter_mut().zip(token.bytes()) {
                        *l = b.to_ascii_lowercase();
                    }
                    &buf[..token.len()]
                } else {
                    lower = token.to_lowercase();
                    lower.as_bytes()
                };
                for (w, f) in words.iter().zip(found.iter_mut()) {
                    if !*f && super::porter::stems_to(token, w.as_bytes()) {
                        *f = true;
                    }
                }
            }
        }
        let mut n = found.iter().filter(|f| **f).count();
        if !idents.is_empty() {
            let lower = line.to_lowercase();
            if idents.iter().any(|id| holds_identifier(&lower, id)) {
                any_whole = true;
                // In code (a declaration, a call) more than in a comment about it.
                n += LINE_IDENTIFIER + usize::from(!is_comment(line));
            }
        }
        if n > best.1 {
            best = (i, n);
        }
    }
    (best.0, any_whole)
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
                ("src/lib.rs", "parse_header", "definition", 7),
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
