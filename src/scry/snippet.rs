//! snippet: the text of a hit around the query's terms, each matched token in `[` `]`, cut
//! text marked `…`, whitespace folded. One algorithm for all text, ASCII or not, on the
//! index's own tokens ([`super::tokenize`]), so a word is highlighted exactly where the
//! postings counted it. Depends on [`super::tokenize`], [`super::porter`] and
//! [`super::SNIPPET_TOKENS`].
//!
//! A column is cut to a window of [`super::SNIPPET_TOKENS`] tokens (the rule of SQLite FTS5's
//! `snippet()`, which scry used before schema 8: <https://sqlite.org/fts5.html#the_snippet_function>,
//! simplified). Each window considered starts at a matched token's sentence (when the
//! sentence starts at most a window before it) or a few tokens before it; the window with the
//! most distinct terms wins, then the one with the most matched tokens, then one that starts
//! a sentence, then the earliest. A column with no matched token gives its first tokens. The
//! window keeps the text before its first token when that is the column's first, and after
//! its last when that is the column's last.

use super::SNIPPET_TOKENS;
use super::porter;
use super::tokenize;
use std::ops::Range;

/// Text put before a matched token.
const OPEN: &str = "[";
/// Text put after a matched token.
const CLOSE: &str = "]";
/// Text marking text left out before or after the snippet.
const ELLIPSIS: &str = "…";

/// Tokens shown before a matched token when the window does not start at its sentence.
const LEAD: usize = 3;

/// The query's terms (their tokens, as [`tokenize::each_token`] makes them), ready to cut
/// the snippets of one search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snippets<'q> {
    terms: &'q [&'q str],
}

/// One token of a column: its bytes, the term it is (index into the terms), and whether it
/// starts a sentence.
struct Token {
    span: Range<usize>,
    term: Option<usize>,
    sentence: bool,
}

impl<'q> Snippets<'q> {
    /// Snippets for the query whose terms' tokens are `terms`.
    pub(crate) fn new(terms: &'q [&'q str]) -> Self {
        Snippets { terms }
    }

    /// The snippet of a row, whitespace folded: of its body when that holds a token; else of
    /// whichever of title, headings and body holds the most distinct terms (the first on a
    /// tie).
    pub(crate) fn row(&self, title: &str, headings: &str, body: &str) -> String {
        let n = SNIPPET_TOKENS as usize;
        let cut = self.column(body, n);
        if !cut.is_empty() {
            return cut;
        }
        let mut best = (0, body);
        for text in [title, headings] {
            let found = self.distinct(&self.tokens(text));
            if found > best.0 {
                best = (found, text);
            }
        }
        self.column(best.1, n)
    }

    /// The snippet of one column, `n` tokens at most, whitespace folded; `""` when it holds
    /// no token.
    pub(crate) fn column(&self, text: &str, n: usize) -> String {
        let tokens = self.tokens(text);
        if tokens.is_empty() || n == 0 {
            return String::new();
        }
        let start = self.window(&tokens, n);
        let end = (start + n).min(tokens.len());
        let mut out = String::new();
        if start > 0 {
            out.push_str(ELLIPSIS);
        }
        let mut at = if start == 0 {
            0
        } else {
            tokens[start].span.start
        };
        for t in &tokens[start..end] {
            out.push_str(&text[at..t.span.start]);
            if t.term.is_some() {
                out.push_str(OPEN);
                out.push_str(&text[t.span.clone()]);
                out.push_str(CLOSE);
            } else {
                out.push_str(&text[t.span.clone()]);
            }
            at = t.span.end;
        }
        if end == tokens.len() {
            out.push_str(&text[at..]);
        } else {
            out.push_str(ELLIPSIS);
        }
        fold_whitespace(&out)
    }

    /// The tokens of `text`, each with the term it is.
    fn tokens(&self, text: &str) -> Vec<Token> {
        let mut tokens: Vec<Token> = Vec::new();
        let mut last_end = 0;
        tokenize::each_folded(text, |span, folded| {
            let gap = &text[last_end..span.start];
            let sentence = tokens.is_empty() || ends_sentence(gap);
            last_end = span.end;
            let term = self
                .terms
                .iter()
                .position(|t| porter::stems_to(folded, t.as_bytes()));
            tokens.push(Token {
                span,
                term,
                sentence,
            });
        });
        tokens
    }

    /// How many distinct terms `tokens` hold.
    fn distinct(&self, tokens: &[Token]) -> usize {
        let mut seen = 0u64;
        for t in tokens {
            if let Some(i) = t.term {
                seen |= 1 << (i % 64);
            }
        }
        seen.count_ones() as usize
    }

    /// The first token of the best window of `n` tokens (module docs).
    fn window(&self, tokens: &[Token], n: usize) -> usize {
        if tokens.len() <= n {
            return 0;
        }
        let last_start = tokens.len() - n;
        let mut best: Option<((usize, usize, bool), usize)> = None;
        for (p, t) in tokens.iter().enumerate() {
            if t.term.is_none() {
                continue;
            }
            let sentence = (p.saturating_sub(n - 1)..=p).find(|&s| tokens[s].sentence);
            let lead = p.saturating_sub(LEAD);
            for start in sentence.into_iter().chain([lead]) {
                let start = start.min(last_start);
                let window = &tokens[start..start + n];
                let score = (
                    self.distinct(window),
                    window.iter().filter(|t| t.term.is_some()).count(),
                    tokens[start].sentence,
                );
                if best.is_none_or(|(s, b)| score > s || (score == s && start < b)) {
                    best = Some((score, start));
                }
            }
        }
        best.map_or(0, |(_, start)| start)
    }
}

/// Whether the text between two tokens ends a sentence: a `.`, `!`, `?` or `:` followed by
/// whitespace, or a blank line.
fn ends_sentence(gap: &str) -> bool {
    let mut chars = gap.chars().peekable();
    while let Some(c) = chars.next() {
        let next_space = chars.peek().is_some_and(|n| n.is_whitespace());
        if matches!(c, '.' | '!' | '?' | ':') && next_space {
            return true;
        }
    }
    gap.matches('\n').count() >= 2
}

/// `s` with every run of whitespace (newlines included) made one space, trimmed: the words of
/// `str::split_whitespace` (Unicode `White_Space`) joined by single spaces. This is how a hit's
/// snippet is shown.
pub(crate) fn fold_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str, words: &[&str]) -> String {
        let tokens: Vec<String> = words.iter().flat_map(|w| tokenize::tokens(w)).collect();
        let terms: Vec<&str> = tokens.iter().map(String::as_str).collect();
        Snippets::new(&terms).column(text, SNIPPET_TOKENS as usize)
    }

    fn words(n: usize) -> String {
        (0..n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn matched_tokens_are_bracketed_by_their_stem_in_any_script() {
        assert_eq!(
            cut("Parsing the Café menu, naïvely", &["parse", "cafe"]),
            "[Parsing] the [Café] menu, naïvely"
        );
        assert_eq!(cut("東京 と 日本 の", &["日本"]), "東京 と [日本] の");
        assert_eq!(cut("x  \n\t y", &["y"]), "x [y]");
        // Adjacent matches each get their brackets; text around the column's ends is kept.
        assert_eq!(cut("(a a)", &["a"]), "([a] [a])");
    }

    #[test]
    fn long_text_is_cut_around_the_matches_with_ellipses() {
        let body = format!("{} needle {}", words(40), words(40));
        let s = cut(&body, &["needle"]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("[needle]"), "{s}");
        assert_eq!(s.matches(' ').count(), SNIPPET_TOKENS as usize - 1, "{s}");
        // No match: the first tokens.
        let s = cut(&body, &["absent"]);
        assert!(s.starts_with("w0 w1") && s.ends_with('…'), "{s}");
        // A match at the very end keeps the column's last text.
        let s = cut(&format!("{} needle.", words(40)), &["needle"]);
        assert!(s.ends_with("[needle]."), "{s}");
    }

    #[test]
    fn the_window_with_most_distinct_terms_wins() {
        let body = format!(
            "alpha {} alpha alpha {} alpha beta {}",
            words(20),
            words(20),
            words(20)
        );
        let s = cut(&body, &["alpha", "beta"]);
        assert!(s.contains("[alpha] [beta]"), "{s}");
        // A sentence start close before the match begins the window.
        let body = format!("{}. The needle is here {}", words(30), words(30));
        let s = cut(&body, &["needle"]);
        assert!(s.starts_with("…The [needle]"), "{s}");
    }

    #[test]
    fn rows_fall_back_to_the_column_that_matched() {
        let terms = ["vault"];
        let s = Snippets::new(&terms);
        assert_eq!(s.row("The vault", "Design", "body text"), "body text");
        assert_eq!(s.row("Title", "Design > Vault", ""), "Design > [Vault]");
        assert_eq!(s.row("Vault", "", "→ │"), "[Vault]");
        assert_eq!(s.row("", "", ""), "");
    }

    #[test]
    fn snippets_of_any_text_are_its_words_with_marks_added() {
        // Random text of ASCII, accented, combining, CJK, emoji, spaces and punctuation:
        // never a panic, and without its marks a snippet is a run of the text's words.
        let palette = [
            "a", "Ab", "é", "e\u{301}", "日本", "🦀", " ", "\n", "\t", ".", ": ", "→", "\u{a0}",
            "x9", "ß", "İ", "\u{0}", "-", "Café", "naïve",
        ];
        let mut rng = crate::test_rng::Rng(3);
        for _ in 0..crate::test_rng::cases(400, 20_000) {
            let mut text = String::new();
            for _ in 0..rng.next() % 60 {
                text.push_str(rng.pick::<&str>(&palette));
            }
            let word = *rng.pick::<&str>(&palette);
            let tokens = tokenize::tokens(word);
            let terms: Vec<&str> = tokens.iter().map(String::as_str).collect();
            let cut = Snippets::new(&terms).column(&text, 1 + (rng.next() % 20) as usize);
            let bare = fold_whitespace(&cut.replace(['[', ']'], "").replace('…', " "));
            assert!(
                fold_whitespace(&text).contains(&bare),
                "{text:?} {terms:?} -> {cut:?}"
            );
            if !terms.is_empty() && cut.contains('[') {
                assert!(
                    tokenize::tokens(&cut)
                        .iter()
                        .any(|t| terms.contains(&t.as_str()))
                );
            }
        }
    }

    #[test]
    fn fold_whitespace_joins_words_with_single_spaces() {
        assert_eq!(fold_whitespace(" a\n\n b\u{a0}\u{3000}c \t"), "a b c");
        assert_eq!(fold_whitespace(""), "");
    }
}
