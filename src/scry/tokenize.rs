//! The one tokenizer of scry: what the index stores for a row's text and what a query's word
//! is looked up as, the same function on both sides. Depends on `unicode-normalization` and
//! [`super::porter`].
//!
//! A token is a maximal run of letters and digits (Unicode's `Alphabetic` and `Numeric`,
//! [`char::is_alphanumeric`]); a combining mark (`Mn`/`Mc`/`Me`) inside a run continues it
//! and is dropped. Each token is folded: lowercased ([`char::to_lowercase`]), each character
//! decomposed (Unicode canonical decomposition, NFD) with its combining marks removed (`Café`
//! → `cafe`, `naïve` → `naive`, `Ångström` → `angstrom`), cut to [`MAX_TOKEN_BYTES`] bytes
//! (at a character boundary), then stemmed ([`porter::stem`]: `parsing` → `pars`). Everything
//! else (punctuation, symbols, spaces, controls, `*`) separates tokens.
//!
//! On ASCII text this is exactly SQLite FTS5's `porter unicode61 remove_diacritics 2`, which
//! scry used until schema 8 (test `ascii_tokens_equal_fts5s`); on other text it follows a
//! newer Unicode than FTS5's 6.1 tables and folds by decomposition instead of FTS5's table
//! (`ø` stays `ø`), which is fine since both sides of a search use it.

use super::porter;
use std::ops::Range;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// A token longer than this (in bytes, after folding) is cut to it, at a character boundary:
/// a query word is at most [`super::query::MAX_TERM_CHARS`] characters, and a longer token
/// (a base64 blob, a minified line) is never asked for whole.
pub const MAX_TOKEN_BYTES: usize = 128;

/// Calls `f(span, token)` for each token of `text`, in order: `span` is its bytes in `text`,
/// `token` its folded, stemmed form (module docs). `f` may not keep `token` (a reused buffer).
pub fn each_token(text: &str, mut f: impl FnMut(Range<usize>, &[u8])) {
    // The stem on the stack: [`porter::stem`] would allocate one per token stemmed.
    let mut buf = [0u8; porter::STEM_BUF];
    each_folded(text, |span, folded| {
        match porter::stem_into(folded, &mut buf) {
            Some(n) => f(span, &buf[..n]),
            None => f(span, folded),
        }
    });
}

/// [`each_token`] before stemming: each token's span and folded form (lowercase, no
/// diacritics, at most [`MAX_TOKEN_BYTES`]). `porter::stems_to(folded, term)` tells whether
/// it is a token `term` without building the stem.
pub fn each_folded(text: &str, mut f: impl FnMut(Range<usize>, &[u8])) {
    let bytes = text.as_bytes();
    // On the stack: the second stage calls this once per line of its candidates. Bytes past
    // the cut are not kept (one more than it is, to find the cut's character boundary).
    let mut buf = Buf {
        bytes: [0; MAX_TOKEN_BYTES + FOLD_MAX],
        len: 0,
    };
    let mut i = 0;
    while i < bytes.len() {
        // Skip to the next token character.
        let b = bytes[i];
        if b.is_ascii() {
            if !b.is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
        } else {
            let c = char_at(text, i);
            if !c.is_alphanumeric() {
                i += c.len_utf8();
                continue;
            }
        }
        let start = i;
        buf.len = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii() {
                if !b.is_ascii_alphanumeric() {
                    break;
                }
                if buf.len <= MAX_TOKEN_BYTES {
                    buf.bytes[buf.len] = b.to_ascii_lowercase();
                    buf.len += 1;
                }
                i += 1;
            } else {
                let c = char_at(text, i);
                if c.is_alphanumeric() {
                    if buf.len <= MAX_TOKEN_BYTES {
                        fold(c, &mut buf);
                    }
                } else if !is_combining_mark(c) {
                    break;
                }
                i += c.len_utf8();
            }
        }
        let mut len = buf.len;
        if len > MAX_TOKEN_BYTES {
            len = MAX_TOKEN_BYTES;
            while len > 0 && (buf.bytes[len] & 0xC0) == 0x80 {
                len -= 1;
            }
        }
        if len > 0 {
            f(start..i, &buf.bytes[..len]);
        }
    }
}

/// The tokens of `text`, in order, as strings (a query word's; [`each_token`]).
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    each_token(text, |_, t| {
        out.push(String::from_utf8_lossy(t).into_owned())
    });
    out
}

/// The character starting at byte `i` of `text` (a character boundary).
fn char_at(text: &str, i: usize) -> char {
    text[i..]
        .chars()
        .next()
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The most bytes one character folds to: [`char::to_lowercase`] gives at most 3
/// characters, each decomposes canonically to at most 4 (Unicode's longest canonical
/// decompositions), of 4 bytes each at most.
const FOLD_MAX: usize = 3 * 4 * 4;

/// A token being folded: at most [`MAX_TOKEN_BYTES`] + 1 bytes before one more character's
/// fold ([`FOLD_MAX`]) is appended.
struct Buf {
    bytes: [u8; MAX_TOKEN_BYTES + FOLD_MAX],
    len: usize,
}

/// Appends `c` folded: lowercased, decomposed, its combining marks left out (`out` holds at
/// most [`MAX_TOKEN_BYTES`] + 1 bytes before).
fn fold(c: char, out: &mut Buf) {
    for lower in c.to_lowercase() {
        decompose_canonical(lower, |d| {
            if !is_combining_mark(d) {
                // Never past the buffer (nor, then, at or before the cut).
                let n = d.len_utf8();
                if out.len + n <= out.bytes.len() {
                    d.encode_utf8(&mut out.bytes[out.len..out.len + n]);
                    out.len += n;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<(&str, String)> {
        let mut out = Vec::new();
        each_token(text, |span, t| {
            out.push((&text[span], String::from_utf8(t.to_vec()).unwrap()))
        });
        out
    }

    #[test]
    fn folds_stems_and_cuts_at_everything_but_letters_and_digits() {
        assert_eq!(
            tokens("Parsing the_Café, naïve→x2 日本 a*b Ångström"),
            [
                "pars", "the", "cafe", "naiv", "x2", "日本", "a", "b", "angstrom"
            ]
        );
        // A combining mark continues its token and is dropped; alone it is nothing.
        assert_eq!(tokens("cafe\u{301} \u{301} x"), ["cafe", "x"]);
        assert_eq!(
            spans("  Café—ok"),
            [("Café", "cafe".into()), ("ok", "ok".into())]
        );
        assert!(tokens("→ │ ✅ -- // ...").is_empty());
    }

    #[test]
    fn long_tokens_are_cut_at_a_character_boundary() {
        let long = "é".repeat(200);
        let t = tokens(&long);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0], "e".repeat(MAX_TOKEN_BYTES));
        let wide = "日".repeat(100);
        let t = tokens(&wide);
        assert!(t[0].len() <= MAX_TOKEN_BYTES && t[0].len() > MAX_TOKEN_BYTES - 3);
        assert!(t[0].chars().all(|c| c == '日'));
    }

    /// The folding on a fixed buffer equals the plain definition (module docs) on random
    /// text of letters that fold to several bytes, or expand, and long runs of them.
    #[test]
    fn folding_equals_the_plain_definition() {
        fn plain(text: &str) -> Vec<String> {
            let mut out = Vec::new();
            let mut word = String::new();
            let mut flush = |word: &mut String| {
                let mut b = std::mem::take(word).into_bytes();
                if b.len() > MAX_TOKEN_BYTES {
                    let mut cut = MAX_TOKEN_BYTES;
                    while (b[cut] & 0xC0) == 0x80 {
                        cut -= 1;
                    }
                    b.truncate(cut);
                }
                if !b.is_empty() {
                    out.push(String::from_utf8(b).unwrap());
                }
            };
            for c in text.chars() {
                if c.is_alphanumeric() {
                    for l in c.to_lowercase() {
                        decompose_canonical(l, |d| {
                            if !is_combining_mark(d) {
                                word.push(d)
                            }
                        });
                    }
                } else if !is_combining_mark(c) || word.is_empty() {
                    flush(&mut word);
                }
            }
            flush(&mut word);
            out
        }
        let pieces = [
            "a", "Z", "é", "e\u{301}", "İ", "ǅ", "ß", "Ω", "日", "ᾂ", "\u{301}", " ", "-", "x2",
        ];
        let mut rng = crate::test_rng::Rng(99);
        for _ in 0..crate::test_rng::cases(2_000, 50_000) {
            let n = rng.below(300);
            let text: String = (0..n).map(|_| *rng.pick::<&str>(&pieces)).collect();
            let mut got = Vec::new();
            each_folded(&text, |_, t| {
                got.push(String::from_utf8(t.to_vec()).unwrap())
            });
            assert_eq!(got, plain(&text), "{text:?}");
        }
    }

    /// Transitional (while the index still holds an FTS5 table): on ASCII text the tokens
    /// are FTS5's `porter unicode61 remove_diacritics 2` tokens, instance for instance.
    #[test]
    fn ascii_tokens_equal_fts5s() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'porter unicode61 remove_diacritics 2');
             CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');",
        )
        .unwrap();
        let mut rng = crate::test_rng::Rng(7);
        let pieces = [
            "Parsing",
            "the",
            "x2",
            "CONNECTIONS",
            "a_b",
            "fooBar",
            "agreed",
            "1.5e3",
            "--",
            "*",
            "::",
            "/",
            "\n",
            " ",
            "\t",
            "hyper-threads",
            "IPv6",
            "e.g.",
            "rustc's",
        ];
        let mut texts = Vec::new();
        for row in 0..200 {
            let mut text = String::new();
            for _ in 0..(rng.next() % 40) {
                text.push_str(rng.pick::<&str>(&pieces));
                if rng.next().is_multiple_of(2) {
                    text.push(' ');
                }
            }
            // Only ASCII rows are compared.
            if row % 10 == 0 {
                text.push('ü');
            }
            conn.execute("INSERT INTO t(rowid, x) VALUES (?1, ?2)", (row, &text))
                .unwrap();
            texts.push(text);
        }
        let mut stmt = conn
            .prepare("SELECT term FROM v WHERE doc = ?1 ORDER BY offset")
            .unwrap();
        let mut compared = 0;
        for (row, text) in texts.iter().enumerate() {
            if !text.is_ascii() {
                continue;
            }
            let theirs: Vec<String> = stmt
                .query_map([row as i64], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(tokens(text), theirs, "{text:?}");
            compared += theirs.len();
        }
        assert!(compared > 1000, "{compared}");
    }
}
