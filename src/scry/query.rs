//! Turning any user text into a valid FTS5 query. Depends on nothing but std.
//!
//! Raw text is not a valid FTS5 query (`foo AND`, `-x`, `a:b`, `*`, an unbalanced `"` are all
//! syntax errors, see STACK-NOTES §1), so no user text reaches `MATCH` as syntax. Each
//! whitespace-separated term becomes a quoted FTS5 *string* (inner `"` doubled), which FTS5
//! tokenizes into a phrase; operators and column filters inside it are plain text. Terms are
//! joined with `OR`, so a document matching some of the words still ranks, and BM25 puts the
//! ones matching more of them first. See <https://sqlite.org/fts5.html#full_text_query_syntax>.

/// At most this many distinct terms of a query are used; the rest are ignored, so a query of
/// 100 KB costs no more than one of 32 words.
pub const MAX_TERMS: usize = 32;

/// A term longer than this many characters is cut to it. No real word is that long; the cap
/// bounds the phrase a single pasted blob can become.
pub const MAX_TERM_CHARS: usize = 128;

/// One term of a query, ready for FTS5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The term as an FTS5 phrase: `"text"` with inner `"` doubled, plus ` *` for a prefix.
    pub fts: String,
    /// The single token FTS5's `unicode61` tokenizer makes of the term, when that is certain
    /// without running it: the term is plain ASCII letters and digits, not a prefix, and the
    /// token is its lowercase. `None` otherwise (punctuation inside, non-ASCII, prefix).
    pub token: Option<String>,
}

/// Splits `input` into at most [`MAX_TERMS`] terms:
///
/// - Terms are split at whitespace and at control characters (a NUL would end the string
///   inside SQLite's C code and unbalance the quotes).
/// - A term with no letter or digit (`-`, `*`, `(`, `"`, emoji) is dropped: FTS5 would make it
///   an empty phrase, which matches nothing and, under `AND`, hides everything.
/// - A term ending in `*` (`scrap*`) becomes a prefix query `"scrap" *`.
/// - A term is cut to [`MAX_TERM_CHARS`] characters.
/// - Duplicates (case-insensitively) are dropped, then the first [`MAX_TERMS`] are kept.
pub fn terms(input: &str) -> Vec<Term> {
    let mut seen: Vec<(String, bool)> = Vec::new();
    let mut out: Vec<Term> = Vec::new();
    for raw in input.split(|c: char| c.is_whitespace() || c.is_control()) {
        if out.len() >= MAX_TERMS {
            break;
        }
        let prefix = raw.ends_with('*');
        let core = raw.trim_end_matches('*');
        if !core.chars().any(char::is_alphanumeric) {
            continue;
        }
        let core: String = core.chars().take(MAX_TERM_CHARS).collect();
        let key = (core.to_lowercase(), prefix);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let mut fts = String::with_capacity(core.len() + 4);
        fts.push('"');
        fts.push_str(&core.replace('"', "\"\""));
        fts.push('"');
        if prefix {
            fts.push_str(" *");
        }
        let plain = !prefix && core.bytes().all(|b| b.is_ascii_alphanumeric());
        out.push(Term {
            fts,
            token: plain.then(|| core.to_ascii_lowercase()),
        })
    }
    out
}

/// Joins terms with ` OR ` into a `MATCH` expression; `None` if there are none.
pub fn join<'a>(terms: impl IntoIterator<Item = &'a Term>) -> Option<String> {
    let parts: Vec<&str> = terms.into_iter().map(|t| t.fts.as_str()).collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(" OR "))
    }
}

/// Builds the FTS5 `MATCH` expression for `input` ([`terms`] joined with `OR`), or `None` if
/// it has no searchable term. Every output is valid FTS5 syntax for every input.
pub fn build(input: &str) -> Option<String> {
    join(&terms(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_are_quoted_and_or_joined() {
        assert_eq!(
            build("rust sqlite").as_deref(),
            Some("\"rust\" OR \"sqlite\"")
        );
    }

    #[test]
    fn operators_and_syntax_become_literal_strings() {
        assert_eq!(
            build("foo AND bar NEAR( -x a:b").as_deref(),
            Some("\"foo\" OR \"AND\" OR \"bar\" OR \"NEAR(\" OR \"-x\" OR \"a:b\"")
        );
        assert_eq!(
            build("say \"hi\"").as_deref(),
            Some("\"say\" OR \"\"\"hi\"\"\"")
        );
    }

    #[test]
    fn terms_without_letters_or_digits_are_dropped() {
        for q in ["", "   ", "* - ( ) \" :", "🦀 🔥", "\0\0", "\u{200b}"] {
            assert_eq!(build(q), None, "{q:?}");
        }
        assert_eq!(build("rust ( *").as_deref(), Some("\"rust\""));
    }

    #[test]
    fn trailing_star_is_a_prefix_query() {
        assert_eq!(build("scrap*").as_deref(), Some("\"scrap\" *"));
        assert_eq!(build("scrap**").as_deref(), Some("\"scrap\" *"));
    }

    #[test]
    fn nul_and_control_characters_split_terms() {
        assert_eq!(
            build("a\0b\x07c").as_deref(),
            Some("\"a\" OR \"b\" OR \"c\"")
        );
    }

    #[test]
    fn terms_are_capped_deduplicated_and_truncated() {
        let many: String = (0..1000).map(|i| format!("w{i} ")).collect();
        let q = build(&many).unwrap_or_default();
        assert_eq!(q.matches(" OR ").count(), MAX_TERMS - 1);
        assert_eq!(build("Rust rust RUST").as_deref(), Some("\"Rust\""));
        let long = "x".repeat(100_000);
        assert_eq!(build(&long).map(|q| q.len()), Some(MAX_TERM_CHARS + 2));
    }

    #[test]
    fn plain_ascii_terms_know_their_token() {
        let t = terms("Rust's SQLite café scrap* x2 a-b");
        let tokens: Vec<Option<&str>> = t.iter().map(|t| t.token.as_deref()).collect();
        assert_eq!(
            tokens,
            vec![None, Some("sqlite"), None, None, Some("x2"), None]
        );
    }

    #[test]
    fn quotes_are_always_balanced() {
        for q in ["\"", "a\"", "\"\"\"x", "x\"y\"z\"", "é\"", "\"*"] {
            if let Some(b) = build(q) {
                assert_eq!(b.matches('"').count() % 2, 0, "{q:?} -> {b}");
            }
        }
    }
}
