//! snippet: SQLite FTS5's `snippet()` recomputed in Rust, byte for byte, for the search
//! statement's snippet expression when every query phrase is one lowercase ASCII token, so a hit's
//! snippet can be cut without another `MATCH`. Depends on nothing but std and
//! [`super::SNIPPET_TOKENS`] (the tests use `rusqlite` to compare with SQLite's own output).
//!
//! What is reproduced is `snippet(docs, iCol, '[', ']', '…', nToken)` as implemented by
//! `fts5SnippetFunction`, `fts5SnippetScore`, `fts5SentenceFinderCb` and `fts5HighlightCb` in
//! SQLite's `ext/fts5/fts5_aux.c`, over text tokenized by the `unicode61` tokenizer
//! (`ext/fts5/fts5_tokenize.c`) with the table's options (`remove_diacritics 2`, default
//! categories `L* N* Co`, no `tokenchars` or `separators`). See
//! <https://sqlite.org/fts5.html#the_snippet_function>.
//!
//! The functions never guess. Each returns `None`, and the caller asks SQLite instead, when:
//! - a column they must read holds a non-ASCII character that is not in [`KNOWN_SEPARATORS`]
//!   (its tokenization would need SQLite's Unicode tables), or a NUL (SQLite cuts the result
//!   text at the first NUL);
//! - a term is not a single lowercase ASCII token (`[a-z0-9]+`, shorter than
//!   [`FTS5_MAX_TOKEN_SIZE`]), two terms are equal, or there are no terms;
//! - the token count is 0.

use super::SNIPPET_TOKENS;

/// Text put before a highlighted instance (`snippet()`'s third argument in the search statement).
const OPEN: &str = "[";
/// Text put after a highlighted instance (the fourth argument).
const CLOSE: &str = "]";
/// Text marking text left out before or after the snippet (the fifth argument).
const ELLIPSIS: &str = "…";

/// The most tokens FTS5 puts in a snippet: `fts5SnippetFunction` clamps its last argument to
/// 0–64, and so does [`column_snippet`].
const MAX_SNIPPET_TOKENS: usize = 64;

/// `FTS5_MAX_TOKEN_SIZE`: FTS5 indexes (and queries) only the first 32768 bytes of a longer
/// token, so a term this long could match a longer token; such terms get `None`.
const FTS5_MAX_TOKEN_SIZE: usize = 32768;

/// Non-ASCII code points (inclusive ranges, ascending, disjoint) that `unicode61` certainly
/// treats as separators. A code point is a token character for FTS5 when its general category
/// in SQLite's own table is `L*`, `N*` or `Co`, and also when it is missing from that table:
/// the table is from Unicode 6.1, and FTS5 counts a code point it does not know as a token
/// character. So each range here holds only code points that
/// - Python's `unicodedata` (Unicode 14.0.0) puts in no `L*`, `N*`, `Co` or `Cn` category and
///   that are not the diacritics U+0300–U+036F (which FTS5 lets continue a token), and
/// - the bundled FTS5 splits a token at (test `known_separators_separate_in_fts5`, which tries
///   every code point here; it fails if an SQLite upgrade turns one into a token character).
///
/// Left out for the second reason, though they are symbols: code points assigned after Unicode
/// 6.1, e.g. U+20BA–U+20BF (₺ ₿), U+23F4–U+23FF (⏺), U+2B5A–U+2BFF, U+1F321–U+1F32F and most
/// emoji from U+1F6C6 on (🤖 🦀); and the unassigned U+2065.
pub(crate) const KNOWN_SEPARATORS: &[(u32, u32)] = &[
    // Latin-1 Supplement punctuation and symbols, leaving out the letters and numbers
    // ª ² ³ µ ¹ º ¼ ½ ¾ (U+00AA U+00B2 U+00B3 U+00B5 U+00B9 U+00BA U+00BC–U+00BE).
    (0x0080, 0x00A9), // C1 controls, no-break space, ¡ ¢ £ ¤ ¥ ¦ § ¨ ©
    (0x00AB, 0x00B1), // « ¬ soft hyphen ® ¯ ° ±
    (0x00B4, 0x00B4), // ´
    (0x00B6, 0x00B8), // ¶ · ¸
    (0x00BB, 0x00BB), // »
    (0x00BF, 0x00BF), // ¿
    (0x00D7, 0x00D7), // ×
    (0x00F7, 0x00F7), // ÷
    // General Punctuation: spaces, dashes (– —), quotes (‘ ’ “ ”), bullets (•), …, zero-width
    // and bidi controls; U+2065 is unassigned. (U+2070 on are superscript digits, No.)
    (0x2000, 0x2064),
    (0x206A, 0x206F),
    (0x20A0, 0x20B9), // Currency Symbols to ₹ (€ ₩ ₽ …)
    // Arrows (→), Mathematical Operators, Miscellaneous Technical to ⏳.
    (0x2190, 0x23F3),
    // Box Drawing (│ ─), Block Elements, Geometric Shapes, Miscellaneous Symbols.
    (0x2500, 0x26FF),
    // Dingbats (✅ ✓ ✗ ✨) up to the ornamental brackets; U+2700 is newer, U+2776–U+2793 are
    // the dingbat circled digits (No).
    (0x2701, 0x2775),
    // Dingbats after the circled digits (➔ ➜), Misc. Mathematical Symbols-A, Supplemental
    // Arrows-A, Braille Patterns, Supplemental Arrows-B, Misc. Mathematical Symbols-B,
    // Supplemental Mathematical Operators, Misc. Symbols and Arrows to U+2B4C.
    (0x2794, 0x2B4C),
    (0x2B50, 0x2B59), // ⭐ ⭕ and the other stars and circles of Misc. Symbols and Arrows
    (0xFE00, 0xFE0F), // Variation Selectors (Mn, not FTS5 diacritics): the emoji selector U+FE0F
    (0xFEFF, 0xFEFF), // zero-width no-break space (byte order mark)
    (0xFFFD, 0xFFFD), // replacement character
    // Mahjong Tiles, Domino Tiles, Playing Cards.
    (0x1F000, 0x1F02B),
    (0x1F030, 0x1F093),
    (0x1F0A0, 0x1F0AE),
    (0x1F0B1, 0x1F0BE),
    (0x1F0C1, 0x1F0CF),
    (0x1F0D1, 0x1F0DF),
    // Enclosed Alphanumeric Supplement, after its digits U+1F100–U+1F10C (No): parenthesized,
    // circled and squared letters (So), and the regional indicators that make flags.
    (0x1F110, 0x1F12E),
    (0x1F130, 0x1F16B),
    (0x1F170, 0x1F19A),
    (0x1F1E6, 0x1F1FF),
    // Miscellaneous Symbols and Pictographs (🌀 … 🗿), as far as Unicode 6.1 had them.
    (0x1F300, 0x1F320),
    (0x1F330, 0x1F335),
    (0x1F337, 0x1F37C),
    (0x1F380, 0x1F393),
    (0x1F3A0, 0x1F3C4),
    (0x1F3C6, 0x1F3CA),
    (0x1F3E0, 0x1F3F0),
    (0x1F400, 0x1F43E),
    (0x1F440, 0x1F440),
    (0x1F442, 0x1F4F7),
    (0x1F4F9, 0x1F4FC),
    (0x1F500, 0x1F53D),
    (0x1F540, 0x1F543),
    (0x1F550, 0x1F567),
    (0x1F5FB, 0x1F5FF),
    // Emoticons (😀 … 🙏) as far as Unicode 6.1 had them.
    (0x1F600, 0x1F640),
    (0x1F645, 0x1F64F),
    (0x1F680, 0x1F6C5), // Transport and Map Symbols (🚀 … 🛅)
    (0x1F700, 0x1F773), // Alchemical Symbols
    // Tags: LANGUAGE TAG and TAG SPACE … CANCEL TAG (emoji flag sequences).
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// True when `c` (non-ASCII) is in [`KNOWN_SEPARATORS`].
fn is_known_separator(c: char) -> bool {
    let c = u32::from(c);
    // The first range ending at or after `c`, if it starts at or before it.
    let i = KNOWN_SEPARATORS.partition_point(|&(_, hi)| hi < c);
    KNOWN_SEPARATORS.get(i).is_some_and(|&(lo, _)| lo <= c)
}

/// FTS5 `snippet(docs, <column>, '[', ']', '…', n_tokens)` for a row whose column holds `text`,
/// for the query `"terms[0]" OR "terms[1]" OR …` (phrase `i` is `terms[i]`, in query order).
///
/// The snippet is the window of `n_tokens` tokens (clamped to 64, as FTS5 does) that FTS5 scores
/// best, with each matched token in brackets, `…` where text is left out at either end, and the
/// text before the first token (when the window starts at token 0) or after the last token (when
/// it reaches the last token) kept. A column with no match gives its first `n_tokens` tokens, an
/// empty column gives `""`, a column with no tokens gives its whole text.
///
/// `None` when the result is not certain (see the [module documentation](self)): an unknown
/// non-ASCII character or a NUL in `text`, a term that is not one distinct lowercase ASCII
/// token, no terms, or `n_tokens == 0`.
pub(crate) fn column_snippet(text: &str, terms: &[&str], n_tokens: usize) -> Option<String> {
    let n = window_len(n_tokens)?;
    if !terms_are_simple(terms) {
        return None;
    }
    let column = Column::scan(text, terms)?;
    let mut seen = vec![false; terms.len()];
    let mut best = Best::default();
    best.consider(0, &column, n, &mut seen);
    Some(column.render(best.start, n))
}

/// FTS5 `snippet(docs, -1, '[', ']', '…', n_tokens)`: the snippet of whichever column scores best,
/// for the same query as [`column_snippet`].
///
/// `columns` are the texts of the table's indexed columns in table order (for `docs`: title,
/// headings, body). The unindexed columns (`path`, `doc_title`, `kind`, `line`) hold no tokens
/// in the index, so no phrase instance is ever in them and they can never be the best column;
/// leaving them out changes nothing. A later column wins only with a strictly higher score, so
/// ties go to the earlier one, and a row with no instance at all gets column 0's snippet.
///
/// `None` when `columns` is empty or any column would make [`column_snippet`] return `None`.
pub(crate) fn best_column_snippet(
    columns: &[&str],
    terms: &[&str],
    n_tokens: usize,
) -> Option<String> {
    let n = window_len(n_tokens)?;
    if columns.is_empty() || !terms_are_simple(terms) {
        return None;
    }
    let scanned = columns
        .iter()
        .map(|text| Column::scan(text, terms))
        .collect::<Option<Vec<_>>>()?;
    let mut seen = vec![false; terms.len()];
    let mut best = Best::default();
    for (index, column) in scanned.iter().enumerate() {
        best.consider(index, column, n, &mut seen);
    }
    Some(scanned[best.column].render(best.start, n))
}

/// The search statement's snippet for one row:
/// `coalesce(nullif(snippet(docs, 6, '[', ']', '…', 14), ''), snippet(docs, -1, '[', ']', '…', 14))`
/// ([`super::SNIPPET_TOKENS`] tokens): the body's snippet, or when that is exactly `""` (an empty
/// body) the best column's snippet.
///
/// Arguments are the row's stored `title`, `headings` and `body` (as text, never NULL) and the
/// query's terms as for [`column_snippet`]. `None` when the body is uncertain, or when the body is
/// empty and the title or headings are (see [`best_column_snippet`]).
pub(crate) fn row_snippet(
    title: &str,
    headings: &str,
    body: &str,
    terms: &[&str],
) -> Option<String> {
    let n = SNIPPET_TOKENS as usize;
    let from_body = column_snippet(body, terms, n)?;
    if !from_body.is_empty() {
        return Some(from_body);
    }
    best_column_snippet(&[title, headings, body], terms, n)
}

/// The window length FTS5 uses for a requested `n_tokens` (clamped to 0–64), or `None` for 0
/// (FTS5 then highlights in a degenerate mode not reproduced here).
fn window_len(n_tokens: usize) -> Option<usize> {
    (n_tokens > 0).then_some(n_tokens.min(MAX_SNIPPET_TOKENS))
}

/// True when `terms` is non-empty and each term is a distinct run of `[a-z0-9]` shorter than
/// [`FTS5_MAX_TOKEN_SIZE`]: then the query `"t1" OR "t2" …` has one single-token phrase per term,
/// a token matches a phrase exactly when its ASCII lowercase equals the term, and no token
/// matches two phrases (so every instance is its own coalesced instance when highlighting).
fn terms_are_simple(terms: &[&str]) -> bool {
    !terms.is_empty()
        && terms.iter().enumerate().all(|(i, term)| {
            !term.is_empty()
                && term.len() < FTS5_MAX_TOKEN_SIZE
                && term
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && !terms[..i].contains(term)
        })
}

/// One column's text as FTS5 sees it: its tokens, the query's phrase instances among them and
/// the tokens that start a sentence.
struct Column<'t> {
    /// The column's text.
    text: &'t str,
    /// Byte range `(start, end)` of each token, in order; the index is the token's position.
    tokens: Vec<(usize, usize)>,
    /// `(position, phrase)` of each phrase instance, in position order (FTS5's `xInst` order
    /// within a column; positions are distinct since no token matches two phrases).
    hits: Vec<(usize, usize)>,
    /// Positions of the tokens that start a sentence, ascending: token 0, and any token whose
    /// preceding bytes, skipping back over at least one of space, tab, LF, CR, reach a `.` or
    /// `:` (`fts5SentenceFinderCb`).
    sentence_starts: Vec<usize>,
}

impl<'t> Column<'t> {
    /// Tokenizes `text` as `unicode61` does in one pass: a token is a maximal run of
    /// `[A-Za-z0-9]`, every other ASCII byte and every [`KNOWN_SEPARATORS`] character separates.
    /// `None` on any other character (or a NUL).
    fn scan(text: &'t str, terms: &[&str]) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut column = Column {
            text,
            // Prose averages well over four bytes a token.
            tokens: Vec::with_capacity(bytes.len() / 4 + 1),
            hits: Vec::new(),
            sentence_starts: Vec::new(),
        };
        // Lengths of the terms, as bits: most words are ruled out without a compare.
        let lengths = terms.iter().fold(0u128, |bits, t| {
            bits | 1u128.checked_shl(t.len() as u32).unwrap_or(0)
        });
        let long_terms = terms.iter().any(|t| t.len() >= 128);
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if ALNUM[b as usize] {
                let start = i;
                while i < bytes.len() && ALNUM[bytes[i] as usize] {
                    i += 1;
                }
                let position = column.tokens.len();
                if position == 0 || starts_sentence(bytes, start) {
                    column.sentence_starts.push(position);
                }
                let word = &bytes[start..i];
                let maybe = match 1u128.checked_shl(word.len() as u32) {
                    Some(bit) => lengths & bit != 0,
                    None => long_terms,
                };
                if maybe
                    && let Some(phrase) = terms
                        .iter()
                        .position(|term| term.as_bytes().eq_ignore_ascii_case(word))
                {
                    column.hits.push((position, phrase));
                }
                column.tokens.push((start, i));
            } else if b == 0 {
                return None;
            } else if b.is_ascii() {
                i += 1;
            } else {
                // `i` is always on a character boundary: it only moves past whole characters.
                let c = text[i..].chars().next()?;
                if !is_known_separator(c) {
                    return None;
                }
                i += c.len_utf8();
            }
        }
        Some(column)
    }

    /// Scores the window of `n` tokens from position `start` as `fts5SnippetScore` does: each
    /// instance in it adds 1000 the first time its phrase is seen there, 1 after that. Returns
    /// the score and the positions of the first instance and one past the last (`None` when the
    /// window holds none). `seen` has one flag per phrase.
    fn score_window(
        &self,
        start: usize,
        n: usize,
        seen: &mut [bool],
    ) -> (u64, Option<(usize, usize)>) {
        seen.fill(false);
        let mut score = 0;
        let mut span: Option<(usize, usize)> = None;
        let from = self.hits.partition_point(|&(position, _)| position < start);
        for &(position, phrase) in &self.hits[from..] {
            if position >= start + n {
                break;
            }
            score += if seen[phrase] { 1 } else { 1000 };
            seen[phrase] = true;
            let first = span.map_or(position, |(first, _)| first);
            span = Some((first, position + 1));
        }
        (score, span)
    }

    /// Writes the snippet of tokens `start..start + n` as `fts5SnippetFunction` does with
    /// `fts5HighlightCb` over a token range: `…` first if `start > 0`; the text from the first
    /// token (from the column's start if `start == 0`) to the end of the last, with instances
    /// bracketed; then the rest of the text if the range reaches the last token, else `…`.
    fn render(&self, start: usize, n: usize) -> String {
        let text = self.text;
        // `iRangeEnd`: the last position in the range (`n >= 1`).
        let range_end = start + n - 1;
        let shown = self.tokens.get(start..).unwrap_or(&[]);
        let shown = &shown[..shown.len().min(n)];
        let approx = match (shown.first(), shown.last()) {
            (Some(first), Some(last)) => last.1 - first.0,
            _ => text.len(),
        };
        let mut out = String::with_capacity(approx + 4 * n + 2 * ELLIPSIS.len());
        if start > 0 {
            out.push_str(ELLIPSIS);
        }
        // The coalesced-instance iterator: index into `hits` of the next instance, advanced to
        // the first at or after `start`.
        let mut next = self.hits.partition_point(|&(position, _)| position < start);
        let hit_at = |k: usize| self.hits.get(k).map(|&(position, _)| position);
        // `iOff`: bytes of `text` copied (or skipped) so far; `bOpen`: a bracket is open.
        let mut copied = 0;
        let mut open = false;
        for (position, &(token_start, token_end)) in shown
            .iter()
            .enumerate()
            .map(|(i, token)| (start + i, token))
        {
            if start > 0 && position == start {
                copied = token_start;
            }
            let current = hit_at(next);
            // Close an open bracket before a token that is not part of the open instance.
            if open && current.is_none_or(|c| position <= c) && token_start > copied {
                out.push_str(CLOSE);
                open = false;
            }
            if current == Some(position) {
                // The instance starts (and, being one token, ends) here.
                if !open {
                    out.push_str(&text[copied..token_start]);
                    out.push_str(OPEN);
                    copied = token_start;
                    open = true;
                }
                out.push_str(&text[copied..token_end]);
                copied = token_end;
                next += 1;
            }
            if position == range_end {
                if open {
                    if hit_at(next).is_some_and(|c| position >= c) {
                        out.push_str(&text[copied..token_end]);
                        copied = token_end;
                    }
                    out.push_str(CLOSE);
                    open = false;
                }
                out.push_str(&text[copied..token_end]);
                copied = token_end;
            }
        }
        if open {
            out.push_str(CLOSE);
        }
        if range_end + 1 >= self.tokens.len() {
            out.push_str(&text[copied..]);
        } else {
            out.push_str(ELLIPSIS);
        }
        out
    }
}

/// True when the token starting at byte `start` (not the first token) starts a sentence:
/// skipping back over spaces, tabs, LFs and CRs passes at least one and stops at `.` or `:`.
/// ASCII letters and digits, by byte: the token characters of `unicode61` below 0x80.
const ALNUM: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

fn starts_sentence(bytes: &[u8], start: usize) -> bool {
    match bytes[..start]
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        Some(i) => i + 1 < start && matches!(bytes[i], b'.' | b':'),
        None => false,
    }
}

/// The best window found so far (`nBestScore`, `iBestCol`, `iBestStart`); score 0 until one
/// is found, and then column 0 from token 0.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Best {
    /// The window's score.
    score: u64,
    /// Index of the column it is in.
    column: usize,
    /// Its first token.
    start: usize,
}

impl Best {
    /// Considers the windows of `column` (index `index`) in `fts5SnippetFunction`'s order: for
    /// each instance, the `n` tokens from it, re-centred on the instances they hold; then, if
    /// the column is longer than `n` tokens and the instance is not itself the start of its
    /// sentence, the `n` tokens from that sentence's start, with a bonus of 120 (first
    /// sentence) or 100. A window replaces the best only with a strictly higher score.
    fn consider(&mut self, index: usize, column: &Column<'_>, n: usize, seen: &mut [bool]) {
        let size = column.tokens.len();
        for &(position, _) in &column.hits {
            let (score, span) = column.score_window(position, n, seen);
            if score > self.score {
                // The window holds the instance itself, so `span` is set.
                let (first, last) = span.unwrap_or((position, position + 1));
                *self = Best {
                    score,
                    column: index,
                    start: centred_start(first, last, n, size),
                };
            }
            if size > n {
                // Sentence starts are ascending and begin with 0 (the column has a token).
                let sentence = column
                    .sentence_starts
                    .partition_point(|&s| s <= position)
                    .checked_sub(1)
                    .map(|jj| column.sentence_starts[jj]);
                if let Some(sentence) = sentence.filter(|&s| s < position) {
                    let (score, _) = column.score_window(sentence, n, seen);
                    let score = score + if sentence == 0 { 120 } else { 100 };
                    if score > self.score {
                        *self = Best {
                            score,
                            column: index,
                            start: sentence,
                        };
                    }
                }
            }
        }
    }
}

/// The window start `fts5SnippetScore` reports for instances spanning positions
/// `first..last`: `first - (n - (last - first)) / 2` (integer division), moved back so the
/// window ends by the column's end (`size` tokens), then to 0 if negative.
fn centred_start(first: usize, last: usize, n: usize, size: usize) -> usize {
    // All values are token counts far below i64::MAX.
    let (first, last, n, size) = (first as i64, last as i64, n as i64, size as i64);
    let mut start = first - (n - (last - first)) / 2;
    if start + n > size {
        start = size - n;
    }
    usize::try_from(start).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// The search statement's table (see `db.rs`).
    const CREATE: &str = "CREATE VIRTUAL TABLE docs USING fts5(title, headings, path UNINDEXED, \
        doc_title UNINDEXED, kind UNINDEXED, line UNINDEXED, body, \
        tokenize = 'unicode61 remove_diacritics 2')";

    /// The search statement's snippet expression, and the parts the functions reproduce
    /// (columns 0, 1, 6 and -1) with the token count as `?3`.
    const SNIPPETS: &str = "SELECT rowid, \
        coalesce(nullif(snippet(docs, 6, '[', ']', '…', 14), ''), \
                 snippet(docs, -1, '[', ']', '…', 14)), \
        snippet(docs, 0, '[', ']', '…', ?3), snippet(docs, 1, '[', ']', '…', ?3), \
        snippet(docs, 6, '[', ']', '…', ?3), snippet(docs, -1, '[', ']', '…', ?3) \
        FROM docs WHERE docs MATCH ?1 AND (?2 IS NULL OR rowid = ?2) ORDER BY rowid";

    /// An in-memory database with the `docs` table.
    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute(CREATE, []).unwrap();
        conn
    }

    /// Inserts a row; the unindexed columns get fixed values.
    fn insert(conn: &Connection, rowid: i64, title: &str, headings: &str, body: &str) {
        conn.execute(
            "INSERT INTO docs(rowid, title, headings, path, doc_title, kind, line, body) \
             VALUES (?1, ?2, ?3, 'notes/a.md', 'A', 'md', 1, ?4)",
            rusqlite::params![rowid, title, headings, body],
        )
        .unwrap();
    }

    /// The search statement's `MATCH` expression for `terms`.
    fn query(terms: &[&str]) -> String {
        terms
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    /// SQLite's results for the row (if it matches): the row expression, then snippets of
    /// columns 0, 1, 6 and -1 with `n` tokens.
    type Fts5Row = (String, String, String, String, String);

    /// Runs [`SNIPPETS`] for `terms`, for one row or (with `None`) every matching row.
    fn fts5(conn: &Connection, terms: &[&str], rowid: Option<i64>, n: i64) -> Vec<(i64, Fts5Row)> {
        let mut stmt = conn.prepare_cached(SNIPPETS).unwrap();
        stmt.query_map(rusqlite::params![query(terms), rowid, n], |r| {
            Ok((
                r.get(0)?,
                (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// Inserts one row, checks that `row_snippet` gives `expected` and that SQLite agrees
    /// (when the row matches the query at all).
    fn check(title: &str, headings: &str, body: &str, terms: &[&str], expected: &str) {
        let ours = row_snippet(title, headings, body, terms);
        assert_eq!(ours.as_deref(), Some(expected), "row_snippet for {body:?}");
        let conn = db();
        insert(&conn, 1, title, headings, body);
        let theirs = fts5(&conn, terms, Some(1), 14);
        assert_eq!(theirs.len(), 1, "the row matches {terms:?}");
        assert_eq!(theirs[0].1.0, expected, "FTS5 for {body:?}");
    }

    /// A text of `n` tokens `w0 w1 …`.
    fn words(n: usize) -> String {
        (0..n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn title_only_match_uses_the_best_column() {
        check(
            "Session capture",
            "Design > Notes",
            "",
            &["capture"],
            "Session [capture]",
        );
        // Headings win over an instance-free title; the title wins ties.
        check("Alpha", "Design > Beta", "", &["beta"], "Design > [Beta]");
        check("Beta", "Beta", "", &["beta"], "[Beta]");
    }

    #[test]
    fn body_without_a_match_is_its_first_tokens() {
        let body = words(20);
        check(
            "alpha",
            "",
            &body,
            &["alpha"],
            "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13…",
        );
    }

    #[test]
    fn empty_and_token_free_columns() {
        assert_eq!(column_snippet("", &["a"], 14).as_deref(), Some(""));
        assert_eq!(
            column_snippet("  -- // ... ", &["a"], 14).as_deref(),
            Some("  -- // ... ")
        );
        assert_eq!(
            column_snippet("→ │ ✅", &["a"], 14).as_deref(),
            Some("→ │ ✅")
        );
        // A body of punctuation only is not empty, so it is the row's snippet.
        check("alpha", "", "--- ***", &["alpha"], "--- ***");
    }

    #[test]
    fn match_at_start_and_end_keeps_the_surrounding_text() {
        check(
            "",
            "",
            "  Alpha beta gamma. ",
            &["alpha"],
            "  [Alpha] beta gamma. ",
        );
        check(
            "",
            "",
            "beta gamma ALPHA!!",
            &["alpha"],
            "beta gamma [ALPHA]!!",
        );
    }

    #[test]
    fn adjacent_matches_are_bracketed_separately() {
        check("", "", "x a b y", &["a", "b"], "x [a] [b] y");
        check("", "", "a-b", &["a", "b"], "[a]-[b]");
        check("", "", "a a a", &["a"], "[a] [a] [a]");
    }

    #[test]
    fn long_text_gets_ellipses_on_both_sides() {
        let body = format!("{} needle {}", words(30), words(30));
        // Instance at 30: start = 30 - (14 - 1) / 2 = 24, tokens 24..=37.
        check(
            "",
            "",
            &body,
            &["needle"],
            "…w24 w25 w26 w27 w28 w29 [needle] w0 w1 w2 w3 w4 w5 w6…",
        );
        // Near the end the window is pulled back to end at the last token, with the rest kept.
        let body = format!("{} needle w1 w2.", words(30));
        check(
            "",
            "",
            &body,
            &["needle"],
            "…w19 w20 w21 w22 w23 w24 w25 w26 w27 w28 w29 [needle] w1 w2.",
        );
    }

    #[test]
    fn sentence_starts_can_win() {
        // The instance is 3 tokens into a sentence: the window from the sentence start scores
        // 1000 + 100 and beats the centred one (1000).
        let body = format!("{}. Start x needle {}", words(20), words(20));
        check(
            "",
            "",
            &body,
            &["needle"],
            "…Start x [needle] w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10…",
        );
        // `:` then a newline also starts a sentence; `.` with no whitespace does not.
        let body = format!("{}:\nStart x needle {}", words(20), words(20));
        assert!(
            row_snippet("", "", &body, &["needle"])
                .unwrap()
                .starts_with("…Start")
        );
        let body = format!("{}.Start x needle {}", words(20), words(20));
        assert!(
            row_snippet("", "", &body, &["needle"])
                .unwrap()
                .starts_with("…w16")
        );
        // The first sentence gets 120: a window from token 0 that holds the instance wins.
        check(
            "",
            "",
            &format!("a b c needle {}", words(20)),
            &["needle"],
            "a b c [needle] w0 w1 w2 w3 w4 w5 w6 w7 w8 w9…",
        );
    }

    #[test]
    fn more_phrases_in_a_window_win() {
        let body = format!("{} one {} one two {}", words(20), words(20), words(20));
        check(
            "",
            "",
            &body,
            &["one", "two"],
            "…w14 w15 w16 w17 w18 w19 [one] [two] w0 w1 w2 w3 w4 w5…",
        );
    }

    #[test]
    fn uncertain_input_gives_none() {
        for text in [
            "café",
            "日本",
            "a\u{301}",
            "x²",
            "ª",
            "µ",
            "¼",
            "❶",
            "\u{1F100}",
            "🤖",
            "₿",
            "⏺",
            "\u{2065}",
        ] {
            assert_eq!(column_snippet(text, &["a"], 14), None, "{text:?}");
        }
        for c in ['\u{E000}', '\u{FFFE}', '\u{300}', 'À', 'ß', 'ÿ'] {
            assert_eq!(
                column_snippet(&format!("a {c} b"), &["a"], 14),
                None,
                "{c:?}"
            );
        }
        assert_eq!(column_snippet("a\0b", &["a"], 14), None);
        for terms in [&[][..], &["A"], &["a b"], &[""], &["a", "a"], &["é"]] {
            assert_eq!(column_snippet("a b", terms, 14), None, "{terms:?}");
        }
        assert_eq!(column_snippet("a b", &["a"], 0), None);
        assert_eq!(best_column_snippet(&[], &["a"], 14), None);
        // The row needs the title and headings only when the body is empty.
        assert_eq!(row_snippet("café", "", "a", &["a"]).as_deref(), Some("[a]"));
        assert_eq!(row_snippet("café", "", "", &["a"]), None);
        assert_eq!(row_snippet("", "", "café a", &["a"]), None);
    }

    #[test]
    fn token_count_is_clamped_like_fts5() {
        let body = words(100);
        assert_eq!(
            column_snippet(&body, &["w50"], 1000),
            column_snippet(&body, &["w50"], 64)
        );
    }

    #[test]
    fn known_separators_separate_in_fts5() {
        // Every code point of every range, between two tokens: FTS5 must see both tokens, and
        // the Rust snippet must equal FTS5's.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61 remove_diacritics 2')",
            [],
        )
        .unwrap();
        let mut inserted = 0;
        for &(lo, hi) in KNOWN_SEPARATORS {
            assert!(lo >= 0x80 && lo <= hi, "range {lo:#x}–{hi:#x}");
            for cp in lo..=hi {
                let c = char::from_u32(cp).unwrap();
                assert!(is_known_separator(c));
                conn.execute(
                    "INSERT INTO t(rowid, x) VALUES (?1, ?2)",
                    rusqlite::params![cp, format!("qq{c}zz")],
                )
                .unwrap();
                inserted += 1;
            }
        }
        for (lo, hi) in KNOWN_SEPARATORS.iter().zip(&KNOWN_SEPARATORS[1..]) {
            assert!(lo.1 < hi.0, "ranges ascend and do not overlap");
        }
        let mut stmt = conn
            .prepare("SELECT rowid, x, snippet(t, 0, '[', ']', '…', 14) FROM t WHERE t MATCH 'qq AND zz'")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        let separating: std::collections::HashSet<u32> = rows.iter().map(|r| r.0).collect();
        let mut not_separating = Vec::new();
        for &(lo, hi) in KNOWN_SEPARATORS {
            for cp in lo..=hi {
                if !separating.contains(&cp) {
                    match not_separating.last_mut() {
                        Some((_, end)) if *end + 1 == cp => *end = cp,
                        _ => not_separating.push((cp, cp)),
                    }
                }
            }
        }
        let listed: Vec<String> = not_separating
            .iter()
            .map(|(lo, hi)| format!("U+{lo:04X}–U+{hi:04X}"))
            .collect();
        assert!(
            listed.is_empty(),
            "FTS5 does not separate at {}",
            listed.join(", ")
        );
        assert_eq!(rows.len(), inserted);
        for (cp, text, theirs) in rows {
            let ours = column_snippet(&text, &["qq", "zz"], 14);
            assert_eq!(ours.as_deref(), Some(theirs.as_str()), "U+{cp:04X}");
        }
    }

    /// xorshift64: a deterministic generator for the differential test.
    struct Rng(u64);

    impl Rng {
        /// The next 64 random bits.
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A number in `0..n`.
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// One of `items`.
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// The differential test's words (lowercase; written in mixed case).
    const VOCAB: &[&str] = &[
        "alpha", "beta", "gamma", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
        "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
        "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "a1", "b2", "x", "42",
    ];

    /// The differential test's separators.
    const SEPARATORS: &[&str] = &[
        " ", "  ", "\n", ". ", ": ", ".", ":", "-", "/", "_", ", ", " — ", " → ", "│", "✅ ", "\t",
        " ", " ", " ", ".\n", " ",
    ];

    /// A text of up to `max` tokens from [`VOCAB`] in mixed case, with random separators (and
    /// sometimes one before the first or after the last token).
    fn text(rng: &mut Rng, max: usize) -> String {
        let n = rng.below(max + 1);
        let mut s = String::new();
        if rng.below(5) == 0 {
            s.push_str(rng.pick(SEPARATORS));
        }
        for i in 0..n {
            if i > 0 {
                s.push_str(rng.pick(SEPARATORS));
            }
            let word = rng.pick(VOCAB);
            match rng.below(4) {
                0 => s.push_str(&word.to_ascii_uppercase()),
                1 => {
                    s.push_str(&word[..1].to_ascii_uppercase());
                    s.push_str(&word[1..]);
                }
                _ => s.push_str(word),
            }
        }
        if n > 0 && rng.below(5) == 0 {
            s.push_str(rng.pick(SEPARATORS));
        }
        s
    }

    /// A generated row: title, headings, body, and which column (0–2) got an uncertain
    /// character, if any.
    struct Row {
        /// The title column.
        title: String,
        /// The headings column.
        headings: String,
        /// The body column.
        body: String,
        /// The column given an uncertain character.
        uncertain: Option<usize>,
    }

    #[test]
    fn matches_fts5_on_generated_rows() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let conn = db();
        let mut rows = Vec::new();
        for rowid in 0..400 {
            let mut columns = [
                if rng.below(6) == 0 {
                    String::new()
                } else {
                    text(&mut rng, 6)
                },
                if rng.below(3) == 0 {
                    String::new()
                } else {
                    format!("{} > {}", text(&mut rng, 4), text(&mut rng, 4))
                },
                if rng.below(6) == 0 {
                    String::new()
                } else {
                    text(&mut rng, 80)
                },
            ];
            let uncertain = (rng.below(25) == 0).then(|| rng.below(3));
            if let Some(c) = uncertain {
                let at = columns[c].len();
                let at = (0..=at)
                    .rev()
                    .find(|&i| columns[c].is_char_boundary(i) && rng.below(3) == 0)
                    .unwrap_or(0);
                columns[c].insert_str(at, if rng.below(2) == 0 { "é" } else { " 日本 " });
            }
            let [title, headings, body] = columns;
            insert(&conn, rowid, &title, &headings, &body);
            rows.push(Row {
                title,
                headings,
                body,
                uncertain,
            });
        }

        let some_rows = rows
            .iter()
            .filter(|r| row_snippet(&r.title, &r.headings, &r.body, &["alpha"]).is_some())
            .count();
        assert!(
            some_rows * 10 >= rows.len() * 9,
            "{some_rows} of {} rows are certain",
            rows.len()
        );
        let uncertain_rows = rows.iter().filter(|r| r.uncertain.is_some()).count();
        assert!(
            uncertain_rows >= 5,
            "only {uncertain_rows} rows hold an uncertain character"
        );
        for r in &rows {
            let texts = [r.title.as_str(), r.headings.as_str(), r.body.as_str()];
            match r.uncertain {
                Some(c) => {
                    assert_eq!(column_snippet(texts[c], &["alpha"], 14), None);
                    assert_eq!(best_column_snippet(&texts, &["alpha"], 14), None);
                    if c == 2 || r.body.is_empty() {
                        assert_eq!(row_snippet(texts[0], texts[1], texts[2], &["alpha"]), None);
                    }
                }
                None => assert!(best_column_snippet(&texts, &["alpha"], 14).is_some()),
            }
        }

        let (mut compared, mut skipped, mut from_best_column) = (0, 0, 0);
        let (mut leading, mut trailing, mut highlighted, mut at_sentence) = (0, 0, 0, 0);
        for q in 0..60 {
            let k = 1 + rng.below(4);
            let mut terms: Vec<&str> = Vec::new();
            while terms.len() < k {
                let term = if rng.below(8) == 0 {
                    "nowhere"
                } else {
                    rng.pick(VOCAB)
                };
                if !terms.contains(&term) {
                    terms.push(term);
                }
            }
            let n = [14, 14, 14, 1, 2, 5, 64][q % 7];
            for (rowid, theirs) in fts5(&conn, &terms, None, n) {
                let r = &rows[rowid as usize];
                let texts = [r.title.as_str(), r.headings.as_str(), r.body.as_str()];
                let n = n as usize;
                let Some(row) = row_snippet(texts[0], texts[1], texts[2], &terms) else {
                    skipped += 1;
                    continue;
                };
                let context = format!("row {rowid}, terms {terms:?}, n {n}");
                assert_eq!(row, theirs.0, "row expression, {context}");
                if r.uncertain.is_none() {
                    assert_eq!(
                        column_snippet(texts[0], &terms, n).unwrap(),
                        theirs.1,
                        "title, {context}"
                    );
                    assert_eq!(
                        column_snippet(texts[1], &terms, n).unwrap(),
                        theirs.2,
                        "headings, {context}"
                    );
                    assert_eq!(
                        best_column_snippet(&texts, &terms, n).unwrap(),
                        theirs.4,
                        "best column, {context}"
                    );
                }
                assert_eq!(
                    column_snippet(texts[2], &terms, n).unwrap(),
                    theirs.3,
                    "body, {context}"
                );
                compared += 1;
                from_best_column += usize::from(r.body.is_empty());
                leading += usize::from(theirs.3.starts_with('…'));
                trailing += usize::from(theirs.3.ends_with('…'));
                highlighted += usize::from(theirs.0.contains('['));
                // How often the body's window starts at a sentence other than the first.
                let body = Column::scan(texts[2], &terms).unwrap();
                let mut best = Best::default();
                best.consider(0, &body, n, &mut vec![false; terms.len()]);
                at_sentence +=
                    usize::from(best.start > 0 && body.sentence_starts.contains(&best.start));
            }
        }
        eprintln!(
            "{} rows, {some_rows} certain, {uncertain_rows} with an uncertain character; \
             compared {compared}, skipped (None) {skipped}, body empty {from_best_column}, \
             leading … {leading}, trailing … {trailing}, highlighted {highlighted}, \
             at a sentence {at_sentence}",
            rows.len()
        );
        assert!(compared >= 8000, "only {compared} rows compared");
        assert!(
            compared * 10 >= (compared + skipped) * 9,
            "{skipped} rows gave None"
        );
        assert!(from_best_column >= 50 && leading >= 200 && trailing >= 200);
        assert!(highlighted * 2 >= compared && at_sentence >= 20);
    }
}
