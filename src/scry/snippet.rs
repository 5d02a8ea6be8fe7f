//! snippet: SQLite FTS5's `snippet()` recomputed in Rust, byte for byte, for the search
//! statement's snippet expression when every query phrase is one lowercase ASCII token, so a hit's
//! snippet can be cut without another `MATCH`; and the folding of a snippet's whitespace for
//! showing it ([`fold_whitespace`]). Depends on nothing but std and [`super::SNIPPET_TOKENS`]
//! (the tests use `rusqlite` to compare with SQLite's own output).
//!
//! What is reproduced is `snippet(docs, iCol, '[', ']', '…', nToken)` as implemented by
//! `fts5SnippetFunction`, `fts5SnippetScore`, `fts5SentenceFinderCb` and `fts5HighlightCb` in
//! SQLite's `ext/fts5/fts5_aux.c`, over text tokenized by the `unicode61` tokenizer
//! (`ext/fts5/fts5_tokenize.c`) with the table's options (`remove_diacritics 2`, default
//! categories `L* N* Co`, no `tokenchars` or `separators`). See
//! <https://sqlite.org/fts5.html#the_snippet_function>.
//!
//! A query's terms are checked and prepared once per search ([`Snippets`]); then a column is
//! cut in time linear in its bytes, without a list of its tokens:
//! 1. **Scan** ([`Column::scan`]): one pass over the text, [`BLOCK`] bytes at a time. For each
//!    block a branch-free loop ([`classify`], which the compiler vectorizes) flags the bytes
//!    where a token starts, so the block's tokens are counted (a token is a maximal run of
//!    `[A-Za-z0-9]` once the text is known to hold no other token characters), and the few bytes
//!    to look at one by one ([`Scanner::look`]): a candidate, a token start whose first two
//!    bytes, ASCII case folded, begin a term, is a phrase instance if the whole token equals the
//!    term; a `.` or `:` followed by whitespace and then a token makes that token a sentence
//!    start; a NUL or a non-ASCII character (checked a run at a time) must be in
//!    [`KNOWN_SEPARATORS`]. The scan keeps the token count and, per instance, its position, its
//!    byte offset and the last sentence start at or before it: everything
//!    `fts5SnippetFunction` reads to choose a window.
//! 2. **Choose** ([`Best::consider`]): the windows are scored from the instances alone, in
//!    `fts5SnippetFunction`'s order and with its tie rule.
//! 3. **Render** ([`Column::render`]): the chosen window begins at an instance's sentence start
//!    or at most 63 tokens before an instance, so only its first and last tokens are looked for,
//!    walking from that byte offset; the text between is copied with each instance bracketed,
//!    as `fts5HighlightCb` writes it, and with its whitespace folded on the way when the snippet
//!    is for showing ([`Snippets::folded`]).
//!
//! The functions never guess. Each returns `None`, and the caller asks SQLite instead, when:
//! - a column they must read holds a non-ASCII character that is not in [`KNOWN_SEPARATORS`]
//!   (its tokenization would need SQLite's Unicode tables), or a NUL (SQLite cuts the result
//!   text at the first NUL);
//! - a term is not a single lowercase ASCII token (`[a-z0-9]+`, shorter than
//!   [`FTS5_MAX_TOKEN_SIZE`]), two terms are equal, or there are no terms;
//! - the requested token count (`n_tokens`) is 0.

use super::SNIPPET_TOKENS;
use super::porter;

/// Text put before a highlighted instance (`snippet()`'s third argument in the search statement).
const OPEN: &str = "[";
/// Text put after a highlighted instance (the fourth argument).
const CLOSE: &str = "]";
/// Text marking text left out before or after the snippet (the fifth argument).
const ELLIPSIS: &str = "…";

/// The most tokens FTS5 puts in a snippet: `fts5SnippetFunction` clamps its last argument to
/// 0–64, and so does [`Snippets::column`].
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

/// Code points below this are looked up in [`SEPARATOR_BITS`], the rest in
/// [`KNOWN_SEPARATORS`] itself.
const SEPARATOR_BITS_END: u32 = 0x3000;

/// [`KNOWN_SEPARATORS`] below [`SEPARATOR_BITS_END`] as a bitmap (bit `c % 64` of word
/// `c / 64`), built at compile time: the common separators (Latin-1 punctuation, dashes and
/// quotes, arrows, box drawing, dingbats) are found without a search.
const SEPARATOR_BITS: [u64; SEPARATOR_BITS_END as usize / 64] = {
    let mut bits = [0; SEPARATOR_BITS_END as usize / 64];
    let mut r = 0;
    while r < KNOWN_SEPARATORS.len() {
        let (lo, hi) = KNOWN_SEPARATORS[r];
        let mut c = lo;
        while c <= hi && c < SEPARATOR_BITS_END {
            bits[c as usize / 64] |= 1 << (c % 64);
            c += 1;
        }
        r += 1;
    }
    bits
};

/// True when `c` (non-ASCII) is in [`KNOWN_SEPARATORS`].
fn is_known_separator(c: char) -> bool {
    let c = u32::from(c);
    if c < SEPARATOR_BITS_END {
        return SEPARATOR_BITS[c as usize / 64] >> (c % 64) & 1 != 0;
    }
    // The first range ending at or after `c`, if it starts at or before it.
    let i = KNOWN_SEPARATORS.partition_point(|&(_, hi)| hi < c);
    KNOWN_SEPARATORS.get(i).is_some_and(|&(lo, _)| lo <= c)
}

/// A query's terms, checked and prepared once, for cutting the snippets of many rows (the hits
/// of one search): the query is `"terms[0]" OR "terms[1]" OR …` (phrase `i` is `terms[i]`, in
/// query order).
pub(crate) struct Snippets<'q> {
    /// The terms.
    terms: &'q [&'q str],
    /// Their [`Keys`], or `None` when the terms are not simple ([`terms_are_simple`]): then
    /// every snippet is `None`.
    keys: Option<Keys>,
    /// Snippets are folded as they are written ([`Snippets::folded`]).
    fold: bool,
    /// A vector for a column's instances, kept from one row to the next.
    scratch: std::cell::Cell<Vec<Hit>>,
}

impl<'q> Snippets<'q> {
    /// Prepares `terms` (see [`Snippets`]).
    pub(crate) fn new(terms: &'q [&'q str]) -> Self {
        Snippets {
            terms,
            keys: terms_are_simple(terms).then(|| Keys::new(terms)),
            fold: false,
            scratch: std::cell::Cell::new(Vec::new()),
        }
    }

    /// The same, but each snippet comes with its whitespace folded: `fold_whitespace(s)` (see
    /// [`fold_whitespace`]) for the `s` it would give, folded as it is written.
    pub(crate) fn folded(self) -> Self {
        Snippets { fold: true, ..self }
    }

    /// The search statement's snippet for one row:
    /// `coalesce(nullif(snippet(docs, 6, '[', ']', '…', 14), ''), snippet(docs, -1, '[', ']', '…', 14))`
    /// ([`super::SNIPPET_TOKENS`] tokens): the body's snippet, or when that is exactly `""` (an
    /// empty body) the best column's snippet.
    ///
    /// Arguments are the row's stored `title`, `headings` and `body` (as text, never NULL).
    /// `None` when the body is uncertain, or when the body is empty and the title or headings
    /// are (see [`Snippets::column`] and [`Snippets::best_column`]).
    pub(crate) fn row(&self, title: &str, headings: &str, body: &str) -> Option<String> {
        let n = SNIPPET_TOKENS as usize;
        let from_body = self.column(body, n)?;
        // `nullif(…, '')`: the body's snippet is `""` exactly when the body is (any other text
        // shows a token, or all of itself when it has none), so this holds folded or not.
        if !body.is_empty() {
            return Some(from_body);
        }
        self.best_column(&[title, headings, body], n)
    }

    /// FTS5 `snippet(docs, <column>, '[', ']', '…', n_tokens)` for a row whose column holds
    /// `text`.
    ///
    /// The snippet is the window of `n_tokens` tokens (clamped to 64, as FTS5 does) that FTS5
    /// scores best, with each matched token in brackets, `…` where text is left out at either
    /// end, and the text before the first token (when the window starts at token 0) or after the
    /// last token (when it reaches the last token) kept. A column with no match gives its first
    /// `n_tokens` tokens, an empty column gives `""`, a column with no tokens gives its whole
    /// text.
    ///
    /// `None` when the result is not certain (see the [module documentation](self)): an unknown
    /// non-ASCII character or a NUL in `text`, a term that is not one distinct lowercase ASCII
    /// token, no terms, or `n_tokens == 0`.
    pub(crate) fn column(&self, text: &str, n_tokens: usize) -> Option<String> {
        let n = window_len(n_tokens)?;
        let keys = self.keys.as_ref()?;
        let column = Column::scan(text, self.terms, keys, self.scratch.take())?;
        let mut best = Best::default();
        best.consider(0, &column, n, &mut Seen::new(self.terms.len()));
        let snippet = column.render(&best, n, self.fold);
        self.scratch.set(column.hits);
        Some(snippet)
    }

    /// FTS5 `snippet(docs, -1, '[', ']', '…', n_tokens)`: the snippet of whichever column scores
    /// best.
    ///
    /// `columns` are the texts of the table's indexed columns in table order (for `docs`: title,
    /// headings, body). The unindexed columns (`path`, `doc_title`, `kind`, `line`) hold no
    /// tokens in the index, so no phrase instance is ever in them and they can never be the best
    /// column; leaving them out changes nothing. A later column wins only with a strictly higher
    /// score, so ties go to the earlier one, and a row with no instance at all gets column 0's
    /// snippet.
    ///
    /// `None` when `columns` is empty or any column would make [`Snippets::column`] return
    /// `None`.
    pub(crate) fn best_column(&self, columns: &[&str], n_tokens: usize) -> Option<String> {
        let n = window_len(n_tokens)?;
        let keys = self.keys.as_ref()?;
        if columns.is_empty() {
            return None;
        }
        let scanned = columns
            .iter()
            .map(|text| Column::scan(text, self.terms, keys, Vec::new()))
            .collect::<Option<Vec<_>>>()?;
        let mut seen = Seen::new(self.terms.len());
        let mut best = Best::default();
        for (index, column) in scanned.iter().enumerate() {
            best.consider(index, column, n, &mut seen);
        }
        Some(scanned[best.column].render(&best, n, self.fold))
    }
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

/// True when `b` is in `lo..=hi` (`lo <= hi`), as one signed comparison: adding `0x80 - lo`
/// moves the range to the bottom of the signed bytes (a form that vectorizes to an add and a
/// compare).
fn in_range(b: u8, lo: u8, hi: u8) -> bool {
    (b.wrapping_add(0x80 - lo) as i8) <= (hi.wrapping_sub(lo) ^ 0x80) as i8
}

/// True for an ASCII letter or digit, computed without a branch or a table so that
/// [`classify`]'s loop vectorizes.
fn is_alnum(b: u8) -> bool {
    in_range(b, b'0', b'9') | in_range(b | 0x20, b'a', b'z')
}

/// 0xFF for true, 0 for false: a vector comparison's own result, so masks combine with `&`
/// and `|` alone.
fn mask(c: bool) -> u8 {
    0u8.wrapping_sub(u8::from(c))
}

/// The bytes [`classify`] looks at together. Each block's flags are then read eight at a time
/// as `u64`s.
const BLOCK: usize = 64;

/// One block's bytes classified by [`classify`], each flag a [`mask`] (0xFF or 0).
struct Flags {
    /// Where a token starts (a letter or digit after a byte that is neither).
    starts: [u8; BLOCK],
    /// What [`Scanner::look`] must check, byte by byte (very few bytes): a NUL or the lead byte
    /// (`0b11xxxxxx`) of a non-ASCII character; a `.` or `:` followed by a byte up to a space
    /// (0x20), which may end a sentence; a candidate, a token start whose first two bytes begin
    /// a term. The byte itself tells which.
    looks: [u8; BLOCK],
}

/// Classifies the block `window[1..=BLOCK]`, given the byte before it (`window[0]`) and the one
/// after it (`window[BLOCK + 1]`), spaces where the text has none, for the `K` keys `keys`
/// (`every`: every token start is a candidate). The loop runs over arrays of fixed size without
/// branches, so the compiler vectorizes it (SSE2 on x86-64), in safe code; `K` is a constant so
/// that the comparisons with the keys are unrolled into it.
#[inline]
fn classify<const K: usize>(
    window: &[u8; BLOCK + 2],
    keys: &[(u8, u8, u8); K],
    every: bool,
    flags: &mut Flags,
) -> (usize, bool) {
    // Tokens starting in the block (at most 64, so a byte), and the `looks` ORed together.
    let (mut count, mut any) = (0u8, 0u8);
    for i in 0..BLOCK {
        let (before, b, next) = (window[i], window[i + 1], window[i + 2]);
        // (Both tests here: storing one and reloading it a byte further on would stall the
        // vector loads.)
        let start = mask(is_alnum(b) & !is_alnum(before));
        flags.starts[i] = start;
        // NUL or 0xC0..=0xFF, as one unsigned comparison (NUL wraps to 0xFF).
        let char_check = mask(b.wrapping_sub(1) >= 0xBF);
        // Followed by a byte up to a space: a superset of the whitespace that counts.
        let stop = mask(((b == b'.') | (b == b':')) & (next <= b' '));
        let mut term = mask(every);
        for &(first, second, any_second) in keys {
            term |= mask(b | 0x20 == first) & (mask(next | 0x20 == second) | any_second);
        }
        let look = char_check | stop | (start & term);
        flags.looks[i] = look;
        count = count.wrapping_sub(start);
        any |= look;
    }
    (usize::from(count), any != 0)
}

/// [`classify`] with the keys of `keys`, for up to [`MAX_KEYS`] of them.
fn classify_keys(window: &[u8; BLOCK + 2], keys: &Keys, flags: &mut Flags) -> (usize, bool) {
    /// `classify::<N>` with the first `N` keys (and `every` false: a constant once inlined).
    fn with<const N: usize>(
        window: &[u8; BLOCK + 2],
        keys: &Keys,
        flags: &mut Flags,
    ) -> (usize, bool) {
        let mut first = [(0, 0, 0); N];
        first.copy_from_slice(&keys.keys[..N]);
        classify(window, &first, false, flags)
    }
    if keys.every {
        return classify(window, &[], true, flags);
    }
    match keys.len {
        0 => with::<0>(window, keys, flags),
        1 => with::<1>(window, keys, flags),
        2 => with::<2>(window, keys, flags),
        3 => with::<3>(window, keys, flags),
        4 => with::<4>(window, keys, flags),
        5 => with::<5>(window, keys, flags),
        6 => with::<6>(window, keys, flags),
        7 => with::<7>(window, keys, flags),
        _ => with::<MAX_KEYS>(window, keys, flags),
    }
}

/// The eight bytes of `bytes` from `at` as a little-endian `u64` (byte `at` lowest).
fn load(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The sum of the eight bytes of `word`, for a sum below 256 (multiplying by 0x0101… adds the
/// bytes into the top byte, and no partial sum carries).
fn sum_bytes(word: u64) -> usize {
    (word.wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize
}

/// The most distinct (first byte, second byte) pairs of terms [`classify`] compares each byte
/// with; with more, every token start is a candidate, checked against every term.
const MAX_KEYS: usize = 8;

/// The terms' first two bytes, to find the token starts that may be phrase instances.
struct Keys {
    /// Per distinct key: the first byte, the second byte (0 for a one-byte term), and a
    /// [`mask`]: 0xFF for a one-byte term (any second byte matches), else 0.
    keys: [(u8, u8, u8); MAX_KEYS],
    /// How many of `keys` are in use.
    len: usize,
    /// More than [`MAX_KEYS`] distinct keys: every token start is a candidate.
    every: bool,
}

impl Keys {
    /// The keys of `terms` (each a non-empty run of `[a-z0-9]`). A byte matches a key's byte
    /// when it equals it with bit 0x20 set (so an ASCII letter in either case).
    fn new(terms: &[&str]) -> Self {
        let mut keys = Keys {
            keys: [(0, 0, 0); MAX_KEYS],
            len: 0,
            every: false,
        };
        // A token whose stem is the term starts with the term's first byte and, but for one
        // case, its second: a two-byte stem `?i` may come from `?y…` (step 1c).
        let key_list = terms.iter().flat_map(|term| match *term.as_bytes() {
            [first] => [Some((first, 0, 0xFF)), None],
            [first, b'i'] => [Some((first, b'i', 0)), Some((first, b'y', 0))],
            [first, second, ..] => [Some((first, second, 0)), None],
            [] => [None, None],
        });
        for key in key_list.flatten() {
            if keys.keys[..keys.len].contains(&key) {
                continue;
            }
            if keys.len == MAX_KEYS {
                keys.every = true;
                break;
            }
            keys.keys[keys.len] = key;
            keys.len += 1;
        }
        keys
    }
}

/// Which phrases a window has shown so far (`fts5SnippetScore`'s `aSeen`): a bit for each of the
/// first 64 phrases, a flag for each further one.
struct Seen {
    /// Phrases 0–63.
    bits: u64,
    /// Phrases from 64 on (empty for fewer phrases: no allocation).
    more: Vec<bool>,
}

impl Seen {
    /// Nothing seen, for `phrases` phrases.
    fn new(phrases: usize) -> Self {
        Seen {
            bits: 0,
            more: vec![false; phrases.saturating_sub(64)],
        }
    }

    /// Forgets every phrase.
    fn clear(&mut self) {
        self.bits = 0;
        self.more.fill(false);
    }

    /// Marks `phrase` seen; true when it was not seen before.
    fn insert(&mut self, phrase: usize) -> bool {
        if phrase < 64 {
            let bit = 1 << phrase;
            let new = self.bits & bit == 0;
            self.bits |= bit;
            new
        } else {
            !std::mem::replace(&mut self.more[phrase - 64], true)
        }
    }
}

/// A token found again later: its position, and a byte offset at or before its first byte with
/// no other token starting in between (its first byte itself, or 0 for token 0).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Anchor {
    /// The token's position (index among the column's tokens).
    position: usize,
    /// The byte offset.
    byte: usize,
}

/// A phrase instance: a token whose ASCII lowercase is a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    /// The token's position.
    position: usize,
    /// The phrase (the index of the term).
    phrase: usize,
    /// The token's first byte.
    byte: usize,
    /// One past its last byte.
    end: usize,
    /// The last token at or before this one that starts a sentence (`fts5SentenceFinderCb`):
    /// token 0, or a token whose preceding bytes, skipping back over at least one of space, tab,
    /// LF, CR, reach a `.` or `:`.
    sentence: Anchor,
}

/// One column's text as FTS5 sees it, for choosing and cutting a snippet: its token count and
/// the query's phrase instances (with their sentence starts).
struct Column<'t> {
    /// The column's text.
    text: &'t str,
    /// The number of tokens (FTS5's column size).
    size: usize,
    /// The phrase instances, in position order (FTS5's `xInst` order within a column;
    /// positions are distinct since no token matches two phrases).
    hits: Vec<Hit>,
}

/// [`Column::scan`]'s state between two blocks.
struct Scanner<'a> {
    /// The column's text.
    text: &'a str,
    /// The query's terms.
    terms: &'a [&'a str],
    /// Tokens that start before the current block.
    tokens: usize,
    /// The end of the last run of non-ASCII characters checked (they come in runs, e.g. box
    /// drawing, checked at once).
    checked: usize,
    /// The last sentence start so far.
    sentence: Anchor,
    /// The instances so far.
    hits: Vec<Hit>,
}

impl Scanner<'_> {
    /// Checks the flagged bytes of the block at `base` (whose flags are `flags`) one by one, in
    /// byte order: a character must be a known separator (a NUL never is); a stop followed by
    /// whitespace and then a token makes that token a sentence start; a candidate is an instance
    /// when the whole token equals a term. `None` on a NUL or an unknown character.
    fn look(&mut self, base: usize, flags: &Flags) -> Option<()> {
        let bytes = self.text.as_bytes();
        // Tokens starting in the block before the word at `counted`.
        let (mut counted, mut before) = (0, 0);
        for at in (0..BLOCK).step_by(8) {
            let mut looks = load(&flags.looks, at);
            while looks != 0 {
                let shift = looks.trailing_zeros() & !7;
                looks &= !(0xFF << shift);
                let i = base + at + (shift / 8) as usize;
                if bytes[i] == 0 || bytes[i] >= 0xC0 {
                    // (A lead byte inside a run already checked needs nothing more.)
                    if i >= self.checked {
                        self.checked = self.check_characters(i)?;
                    }
                    continue;
                }
                // Tokens before byte `i` (a start flag's low bit counts it).
                let ones = |at| load(&flags.starts, at) & 0x0101_0101_0101_0101;
                while counted < at {
                    before += sum_bytes(ones(counted));
                    counted += 8;
                }
                let low_bytes = (1u64 << shift) - 1;
                let position = self.tokens + before + sum_bytes(ones(at) & low_bytes);
                if matches!(bytes[i], b'.' | b':') {
                    // After the stop, at least one space, tab, LF or CR and then a token: that
                    // token (the next, so numbered `position`) starts a sentence.
                    let blanks = bytes[i + 1..]
                        .iter()
                        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                        .count();
                    let j = i + 1 + blanks;
                    if blanks > 0 && bytes.get(j).is_some_and(|&b| ALNUM[b as usize]) {
                        self.sentence = Anchor { position, byte: j };
                    }
                } else if let Some((phrase, end)) = self.phrase_at(i) {
                    self.hits.push(Hit {
                        position,
                        phrase,
                        byte: i,
                        end,
                        sentence: self.sentence,
                    });
                }
            }
        }
        Some(())
    }

    /// Checks the characters from byte `i` (a NUL or the start of a non-ASCII character) up to
    /// the next ASCII character other than NUL: each must be a known separator. Returns where
    /// they end; `None` on a NUL or an unknown character.
    fn check_characters(&self, i: usize) -> Option<usize> {
        let mut end = i;
        for c in self.text.get(i..)?.chars() {
            if c.is_ascii() && c != '\0' {
                break;
            }
            if c == '\0' || !is_known_separator(c) {
                return None;
            }
            end += c.len_utf8();
        }
        Some(end)
    }

    /// The phrase whose term is the stem of the whole token starting at byte `i` (ASCII
    /// lowercase, then [`porter::stem`], as the `porter` tokenizer makes it), and where the
    /// token ends.
    fn phrase_at(&self, i: usize) -> Option<(usize, usize)> {
        let bytes = &self.text.as_bytes()[i..];
        let len = bytes
            .iter()
            .position(|&b| !ALNUM[b as usize])
            .unwrap_or(bytes.len());
        let token = &bytes[..len];
        let phrase = if len > porter::MAX_TOKEN {
            // Not stemmed: the token itself, case folded, is the term.
            self.terms
                .iter()
                .position(|term| token.eq_ignore_ascii_case(term.as_bytes()))
        } else {
            let mut lower = [0u8; porter::MAX_TOKEN];
            for (l, b) in lower.iter_mut().zip(token) {
                *l = b.to_ascii_lowercase();
            }
            self.terms
                .iter()
                .position(|term| porter::stems_to(&lower[..len], term.as_bytes()))
        };
        phrase.map(|p| (p, i + len))
    }
}

impl<'t> Column<'t> {
    /// Tokenizes `text` as `unicode61` does, in one pass of [`BLOCK`] bytes at a time (see the
    /// [module documentation](self)): a token is a maximal run of `[A-Za-z0-9]`, every other
    /// ASCII byte and every [`KNOWN_SEPARATORS`] character separates. Counts the tokens and finds
    /// the instances of `terms` (whose [`Keys`] are `keys`), put in `hits` (emptied first, and
    /// passed in so that its allocation can serve again). `None` on any other character (or a
    /// NUL).
    fn scan(text: &'t str, terms: &[&str], keys: &Keys, mut hits: Vec<Hit>) -> Option<Self> {
        let bytes = text.as_bytes();
        hits.clear();
        let mut scanner = Scanner {
            text,
            terms,
            tokens: 0,
            checked: 0,
            sentence: Anchor::default(),
            hits,
        };
        let mut flags = Flags {
            starts: [0; BLOCK],
            looks: [0; BLOCK],
        };
        let mut padded = [b' '; BLOCK + 2];
        let mut base = 0;
        while base < bytes.len() {
            // The block with the byte before and the byte after it; at either end of the
            // text, a copy with spaces (which start or end no token) where it has no bytes.
            let window = match bytes
                .get(base.wrapping_sub(1)..base + BLOCK + 1)
                .and_then(|w| <&[u8; BLOCK + 2]>::try_from(w).ok())
            {
                Some(window) => window,
                None => {
                    let from = base.saturating_sub(1);
                    let to = bytes.len().min(base + BLOCK + 1);
                    padded.fill(b' ');
                    let dst = 1 - (base - from);
                    padded[dst..dst + to - from].copy_from_slice(&bytes[from..to]);
                    &padded
                }
            };
            let (starts, looks) = classify_keys(window, keys, &mut flags);
            if looks {
                scanner.look(base, &flags)?;
            }
            scanner.tokens += starts;
            base += BLOCK;
        }
        Some(Column {
            text,
            size: scanner.tokens,
            hits: scanner.hits,
        })
    }
    /// Scores the window of `n` tokens from position `start` as `fts5SnippetScore` does: each
    /// instance in it adds 1000 the first time its phrase is seen there, 1 after that. `from` is
    /// the index in `hits` of the first instance at or after `start`. Returns the score and one
    /// past the position of the last instance in the window (`start` when there is none).
    fn score_window(&self, from: usize, start: usize, n: usize, seen: &mut Seen) -> (u64, usize) {
        seen.clear();
        let mut score = 0;
        let mut end = start;
        for hit in &self.hits[from..] {
            if hit.position >= start + n {
                break;
            }
            score += if seen.insert(hit.phrase) { 1000 } else { 1 };
            end = hit.position + 1;
        }
        (score, end)
    }

    /// Writes the snippet of the `n` tokens from `best.start` as `fts5SnippetFunction` does with
    /// `fts5HighlightCb` over a token range: `…` first if the start is not 0; the text from the
    /// first token (from the column's start if the start is 0) to the end of the last, with
    /// each instance in brackets; then the rest of the text if the range reaches the last token,
    /// else `…`.
    ///
    /// `fts5HighlightCb` opens a bracket at an instance's first token and closes it before the
    /// next token that is not part of the instance, if any text lies between them. Here every
    /// instance is one token and two tokens always have a separator between them, so each
    /// instance is bracketed alone, `]` right after it. Only the range's first and last tokens
    /// need finding, by walking from `best.anchor`.
    ///
    /// With `fold`, the text is folded as it is copied ([`push_folded`]): the pieces between
    /// the spans of text (`…`, brackets, instances) hold no whitespace, so no run of it spans
    /// two pieces.
    fn render(&self, best: &Best, n: usize, fold: bool) -> String {
        let text = self.text;
        let bytes = text.as_bytes();
        let start = best.start;
        // The range is positions `start..start + n` (`iRangeStart`..=`iRangeEnd`); those that
        // hold tokens are `start..end`.
        let end = (start + n).min(self.size);
        let reaches_end = start + n >= self.size;
        // The bytes shown: from the range's first token (or the column's start), to the end of
        // its last token (or the column's end).
        let (mut from, mut to) = (0, text.len());
        if start < end {
            let anchor = next_token(bytes, best.anchor.byte);
            if start > 0 {
                from = anchor;
                for _ in start..best.anchor.position {
                    from = previous_token(bytes, from);
                }
            }
            if !reaches_end {
                to = end_of_token_after(bytes, anchor, end - 1 - best.anchor.position);
            }
        }
        let hits = &self.hits[self.hits.partition_point(|hit| hit.position < start)..];
        let hits = &hits[..hits.partition_point(|hit| hit.position < end)];
        let brackets = hits.len() * (OPEN.len() + CLOSE.len());
        let mut out = String::with_capacity(to - from + brackets + 2 * ELLIPSIS.len());
        if start > 0 {
            out.push_str(ELLIPSIS);
        }
        // A span of text, with more after it or not.
        let push = |out: &mut String, span: std::ops::Range<usize>, more: bool| {
            if fold {
                push_folded(out, text, span, more);
            } else {
                out.push_str(&text[span]);
            }
        };
        let mut copied = from;
        for hit in hits {
            push(&mut out, copied..hit.byte, true);
            out.push_str(OPEN);
            out.push_str(&text[hit.byte..hit.end]);
            out.push_str(CLOSE);
            copied = hit.end;
        }
        push(&mut out, copied..to, !reaches_end);
        if !reaches_end {
            out.push_str(ELLIPSIS);
        }
        out
    }
}

/// The first byte at or after `i` of a token (`bytes.len()` if none): tokens are maximal runs of
/// ASCII letters and digits once [`Column::scan`] has checked the text.
fn next_token(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| ALNUM[b as usize])
        .map_or(bytes.len(), |k| i + k)
}

/// One past the last byte of the `k`-th token after the one starting at byte `start` (`k = 0`:
/// that token itself). Token starts are counted 16 bytes at a time by a branch-free loop (which
/// the compiler vectorizes), so long runs of separators between tokens cost little.
fn end_of_token_after(bytes: &[u8], start: usize, k: usize) -> usize {
    let (mut at, mut left) = (start, k);
    // Whole chunks of 16 bytes (with the byte before them) holding fewer than `left` starts.
    while left > 0 {
        let Some(window) = bytes
            .get(at..at + 17)
            .and_then(|w| <&[u8; 17]>::try_from(w).ok())
        else {
            break;
        };
        let mut starts = 0u8;
        for j in 0..16 {
            starts += u8::from(is_alnum(window[j + 1]) & !is_alnum(window[j]));
        }
        if usize::from(starts) >= left {
            break;
        }
        left -= usize::from(starts);
        at += 16;
    }
    // One past the run of letters and digits at `at` (`at` itself if there is none there).
    let run_end = |at: usize| {
        bytes[at..]
            .iter()
            .position(|&b| !ALNUM[b as usize])
            .map_or(bytes.len(), |end| at + end)
    };
    // The rest byte by byte: `at` is the anchor or the last byte of a chunk counted, so the
    // next token starts after the run it may be in.
    for _ in 0..left {
        at = next_token(bytes, run_end(at));
    }
    run_end(at)
}

/// The first byte of the token before the one starting at byte `i` (0 if none).
fn previous_token(bytes: &[u8], i: usize) -> usize {
    let end = bytes[..i]
        .iter()
        .rposition(|&b| ALNUM[b as usize])
        .map_or(0, |k| k + 1);
    bytes[..end]
        .iter()
        .rposition(|&b| !ALNUM[b as usize])
        .map_or(0, |k| k + 1)
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
    /// A token at or after `start`, at most 63 tokens on, whose byte offset is known: the
    /// instance the window was centred on, or the sentence start it begins at.
    anchor: Anchor,
}

impl Best {
    /// Considers the windows of `column` (index `index`) in `fts5SnippetFunction`'s order: for
    /// each instance, the `n` tokens from it, re-centred on the instances they hold; then, if
    /// the column is longer than `n` tokens and the instance is not itself the start of its
    /// sentence, the `n` tokens from that sentence's start, with a bonus of 120 (first
    /// sentence) or 100. A window replaces the best only with a strictly higher score.
    fn consider(&mut self, index: usize, column: &Column<'_>, n: usize, seen: &mut Seen) {
        let size = column.size;
        for (i, hit) in column.hits.iter().enumerate() {
            let (score, end) = column.score_window(i, hit.position, n, seen);
            if score > self.score {
                *self = Best {
                    score,
                    column: index,
                    start: centred_start(hit.position, end, n, size),
                    anchor: Anchor {
                        position: hit.position,
                        byte: hit.byte,
                    },
                };
            }
            let sentence = hit.sentence;
            if size > n && sentence.position < hit.position {
                let from = column.hits[..i].partition_point(|h| h.position < sentence.position);
                let (score, _) = column.score_window(from, sentence.position, n, seen);
                let score = score + if sentence.position == 0 { 120 } else { 100 };
                if score > self.score {
                    *self = Best {
                        score,
                        column: index,
                        start: sentence.position,
                        anchor: sentence,
                    };
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

/// Bytes [`fold_whitespace`] checks at once for a span it can copy as it is.
const FOLD_CHUNK: usize = 16;

/// True for the ASCII whitespace of `char::is_whitespace`: tab, LF, vertical tab, form feed, CR,
/// space.
fn is_ascii_space(b: u8) -> bool {
    (b == b' ') | (b.wrapping_sub(b'\t') < 5)
}

/// True when bytes `b` then `next` may start a non-ASCII whitespace character (see
/// [`wide_space_len`]): `C2 85`, `C2 A0`, `E1 9A`, `E2 80`, `E2 81` or `E3 80`.
fn may_start_wide_space(b: u8, next: u8) -> bool {
    ((b == 0xC2) & ((next == 0x85) | (next == 0xA0)))
        | ((b == 0xE1) & (next == 0x9A))
        | ((b == 0xE2) & (next.wrapping_sub(0x80) < 2))
        | ((b == 0xE3) & (next == 0x80))
}

/// The length in bytes of the non-ASCII whitespace character at the start of `bytes`, or 0.
/// Unicode's `White_Space` above 0x7F (what `char::is_whitespace` says, checked by a test) is
/// U+0085 and U+00A0 (`C2 85`, `C2 A0`), U+1680 (`E1 9A 80`), U+2000–U+200A (`E2 80 80` to
/// `E2 80 8A`), U+2028, U+2029, U+202F (`E2 80 A8`, `A9`, `AF`), U+205F (`E2 81 9F`) and
/// U+3000 (`E3 80 80`).
fn wide_space_len(bytes: &[u8]) -> usize {
    match *bytes {
        [0xC2, 0x85 | 0xA0, ..] => 2,
        [0xE1, 0x9A, 0x80, ..]
        | [0xE2, 0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF, ..]
        | [0xE2, 0x81, 0x9F, ..]
        | [0xE3, 0x80, 0x80, ..] => 3,
        _ => 0,
    }
}

/// True when byte `b`, between `before` and `after`, is copied unchanged by
/// [`fold_whitespace`] (as far as these three bytes tell): it is neither whitespace nor the
/// start of a character that may be, or it is a lone space between two bytes that are not ASCII
/// whitespace (a non-ASCII space next to it is seen when that one is folded).
fn stays(before: u8, b: u8, after: u8) -> bool {
    // (`|` and `&`, not `||` and `&&`: no branches, so the chunk loop vectorizes.)
    !(is_ascii_space(b) | may_start_wide_space(b, after))
        | ((b == b' ') & !is_ascii_space(before) & !is_ascii_space(after))
}

/// `s` with every run of whitespace (newlines included) made one space, trimmed: the words of
/// `str::split_whitespace` (Unicode `White_Space`) joined by single spaces. This is how a hit's
/// snippet is shown.
pub(crate) fn fold_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_folded(&mut out, s, 0..s.len(), false);
    out
}

/// Appends `text[span]` to `out` folded as [`fold_whitespace`] folds a text of which it is a
/// part, after what `out` holds (nothing, or text that does not end in whitespace) and before
/// more text that does not start with whitespace (`more`) or nothing: each run of whitespace
/// becomes one space, except at the start (`out` empty) or the end (`!more`), where it is
/// dropped.
///
/// The bytes of `text` next to `span` are read as its context, so each end of `span` must be an
/// end of `text` or be next to (or be) an ASCII letter or digit: true of [`Column::render`]'s
/// spans, which end at tokens or at the column's ends.
///
/// Most of a snippet stays as it is, so it is copied in spans: [`FOLD_CHUNK`] bytes at a time, a
/// branch-free loop (which the compiler vectorizes) flags the bytes that may not stay
/// ([`stays`]), and only at those is the text looked at character by character.
fn push_folded(out: &mut String, text: &str, span: std::ops::Range<usize>, more: bool) {
    let bytes = text.as_bytes();
    // The end of the run of whitespace starting at byte `i` (`i` if there is none).
    let run_end = |mut i: usize| {
        while i < span.end {
            let width = match bytes[i] {
                b if is_ascii_space(b) => 1,
                _ => wide_space_len(&bytes[i..span.end]),
            };
            if width == 0 {
                break;
            }
            i += width;
        }
        i
    };
    let mut padded = [0; FOLD_CHUNK + 2];
    // Bytes before `copied` are in `out` (or were folded); those before `i` have been looked at.
    let (mut copied, mut i) = (span.start, span.start);
    while i < span.end {
        // The chunk from `i` with the byte on either side; at the ends of `text`, a copy in
        // which the byte before the text and the one after it are spaces, and the bytes beyond
        // stay.
        let window = match bytes.get(i.wrapping_sub(1)..i + FOLD_CHUNK + 1) {
            Some(window) => window,
            None => {
                padded.fill(b'x');
                let from = i.saturating_sub(1);
                let to = bytes.len().min(i + FOLD_CHUNK + 1);
                let dst = 1 - (i - from);
                padded[dst..dst + to - from].copy_from_slice(&bytes[from..to]);
                if i == 0 {
                    padded[0] = b' ';
                }
                if let Some(after) = padded.get_mut(dst + to - from) {
                    *after = b' ';
                }
                &padded
            }
        };
        let mut moved = [0; FOLD_CHUNK];
        for (k, flag) in moved.iter_mut().enumerate() {
            *flag = u8::from(!stays(window[k], window[k + 1], window[k + 2]));
        }
        let chunk_end = span.end.min(i + FOLD_CHUNK);
        // The flagged bytes in order, eight flags (each 0 or 1) at a time.
        for (half, flags) in moved.chunks_exact(8).enumerate() {
            let mut word = [0; 8];
            word.copy_from_slice(flags);
            let mut flags = u64::from_le_bytes(word);
            while flags != 0 {
                let at = i + 8 * half + (flags.trailing_zeros() / 8) as usize;
                flags &= flags - 1;
                // (Past the span, or inside a run already folded.)
                if at >= chunk_end || at < copied {
                    continue;
                }
                let end = run_end(at);
                if end == at {
                    // A character that is not whitespace after all.
                    continue;
                }
                out.push_str(&text[copied..at]);
                // One space between words; none if `out` already ends with a lone space that
                // stayed (before a non-ASCII space), or at either end of the text.
                if (end < span.end || more) && !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                copied = end;
            }
        }
        i = chunk_end.max(copied);
    }
    out.push_str(&text[copied..span.end]);
    // A lone space that stayed before whitespace at the very end.
    if !more && out.ends_with(' ') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// The tokens a search looks for when the query's words are `terms`: their Porter stems
    /// (`query::terms`), the form the Rust side is given, while FTS5 is given the words.
    fn stems(terms: &[&str]) -> Vec<String> {
        terms.iter().map(|t| porter::stem_str(t)).collect()
    }

    /// Whether two of `terms` have one stem (a search would make them one term).
    fn same_stem(terms: &[&str], term: &str) -> bool {
        terms
            .iter()
            .any(|t| porter::stem_str(t) == porter::stem_str(term))
    }

    /// [`Snippets::column`] for `terms`.
    fn column_snippet(text: &str, terms: &[&str], n_tokens: usize) -> Option<String> {
        let stems = stems(terms);
        let stems: Vec<&str> = stems.iter().map(String::as_str).collect();
        Snippets::new(&stems).column(text, n_tokens)
    }

    /// [`Snippets::best_column`] for `terms`.
    fn best_column_snippet(columns: &[&str], terms: &[&str], n_tokens: usize) -> Option<String> {
        let stems = stems(terms);
        let stems: Vec<&str> = stems.iter().map(String::as_str).collect();
        Snippets::new(&stems).best_column(columns, n_tokens)
    }

    /// [`Snippets::row`] for `terms`.
    fn row_snippet(title: &str, headings: &str, body: &str, terms: &[&str]) -> Option<String> {
        let stems = stems(terms);
        let stems: Vec<&str> = stems.iter().map(String::as_str).collect();
        Snippets::new(&stems).row(title, headings, body)
    }

    /// What [`fold_whitespace`] must return: the words of `split_whitespace`, joined by spaces.
    fn fold_reference(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn wide_space_len_is_char_is_whitespace() {
        for c in (0x80..=0x10_FFFF).filter_map(char::from_u32) {
            let mut utf8 = [0; 4];
            let bytes = c.encode_utf8(&mut utf8).as_bytes();
            let expected = if c.is_whitespace() { bytes.len() } else { 0 };
            assert_eq!(wide_space_len(bytes), expected, "U+{:04X}", u32::from(c));
            if expected > 0 {
                assert!(
                    may_start_wide_space(bytes[0], bytes[1]),
                    "U+{:04X}",
                    u32::from(c)
                );
            }
        }
    }

    #[test]
    fn fold_whitespace_matches_split_whitespace() {
        // Every ASCII character and every character whose UTF-8 starts like a non-ASCII space
        // (0xC2, 0xE1, 0xE2, 0xE3), among words and spaces.
        let chars = (0..0x80)
            .chain(0x80..0xC0)
            .chain(0x1000..0x4000)
            .filter_map(char::from_u32);
        for c in chars {
            for s in [
                format!("{c}"),
                format!("a{c}b"),
                format!(" {c} "),
                format!("a {c}b"),
                format!("a{c} b"),
                format!("{c}{c}a{c}"),
            ] {
                assert_eq!(fold_whitespace(&s), fold_reference(&s), "{s:?}");
            }
        }
        // Random texts up to 200 characters, so runs fall across and at the ends of chunks.
        const PARTS: &[&str] = &[
            "a", "bc", "word", " ", " ", " ", "  ", "\n", "\t", "\r\n", "\u{b}", "\u{c}", "\u{1c}",
            "\u{a0}", "\u{85}", "\u{1680}", "\u{2003}", "\u{2028}", "\u{202f}", "\u{205f}",
            "\u{3000}", "…", "—", "é", "\u{2066}", "[", "]",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            let mut s = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state % 120) as usize;
            for _ in 0..n {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push_str(PARTS[(state % PARTS.len() as u64) as usize]);
            }
            assert_eq!(fold_whitespace(&s), fold_reference(&s), "{s:?}");
        }
    }

    /// The search statement's table (see `db.rs`).
    const CREATE: &str = "CREATE VIRTUAL TABLE docs USING fts5(title, headings, path UNINDEXED, \
        doc_title UNINDEXED, kind UNINDEXED, line UNINDEXED, body, \
        tokenize = 'porter unicode61 remove_diacritics 2')";

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

    /// The positions of the tokens of `text` (ASCII) that start a sentence, found the simple
    /// way (`fts5SentenceFinderCb`): token 0, and each token whose preceding bytes, skipping
    /// back over at least one space, tab, LF or CR, reach a `.` or `:`.
    fn sentence_starts(text: &str) -> Vec<usize> {
        let bytes = text.as_bytes();
        let mut starts = Vec::new();
        let mut position = 0;
        for i in 0..bytes.len() {
            let alnum = |k: usize| bytes[k].is_ascii_alphanumeric();
            if !alnum(i) || (i > 0 && alnum(i - 1)) {
                continue;
            }
            let before = bytes[..i]
                .iter()
                .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
            if position == 0 || before.is_some_and(|k| k + 1 < i && matches!(bytes[k], b'.' | b':'))
            {
                starts.push(position);
            }
            position += 1;
        }
        starts
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
        // An instance that starts a sentence gets the bonus for its window from a later
        // instance in the same sentence, even one too far on to share a window with it: the
        // window from `Needle` (1000 + 100) beats the one centred on it (1000).
        let body = format!("{}. Needle {} needle {}", words(20), words(20), words(20));
        check(
            "",
            "",
            &body,
            &["needle"],
            "…[Needle] w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12…",
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

    /// Appends `word` (lowercase ASCII) upper-cased, capitalized or as it is, at random.
    fn push_in_random_case(rng: &mut Rng, s: &mut String, word: &str) {
        match rng.below(4) {
            0 => s.push_str(&word.to_ascii_uppercase()),
            1 => {
                s.push_str(&word[..1].to_ascii_uppercase());
                s.push_str(&word[1..]);
            }
            _ => s.push_str(word),
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
            push_in_random_case(rng, &mut s, word);
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
                if !same_stem(&terms, term) {
                    terms.push(term);
                }
            }
            let n = [14, 14, 14, 1, 2, 5, 64][q % 7];
            // One of each for all the rows, as a search uses them.
            let stemmed = stems(&terms);
            let stemmed: Vec<&str> = stemmed.iter().map(String::as_str).collect();
            let (snippets, folding) = (Snippets::new(&stemmed), Snippets::new(&stemmed).folded());
            for (rowid, theirs) in fts5(&conn, &terms, None, n) {
                let r = &rows[rowid as usize];
                let texts = [r.title.as_str(), r.headings.as_str(), r.body.as_str()];
                let n = n as usize;
                let folded = folding.row(texts[0], texts[1], texts[2]);
                let Some(row) = snippets.row(texts[0], texts[1], texts[2]) else {
                    assert_eq!(folded, None);
                    skipped += 1;
                    continue;
                };
                let context = format!("row {rowid}, terms {terms:?}, n {n}");
                assert_eq!(row, theirs.0, "row expression, {context}");
                assert_eq!(
                    folded.as_deref(),
                    Some(fold_reference(&theirs.0).as_str()),
                    "folded row expression, {context}"
                );
                if r.uncertain.is_none() {
                    assert_eq!(
                        snippets.column(texts[0], n).unwrap(),
                        theirs.1,
                        "title, {context}"
                    );
                    assert_eq!(
                        snippets.column(texts[1], n).unwrap(),
                        theirs.2,
                        "headings, {context}"
                    );
                    assert_eq!(
                        snippets.best_column(&texts, n).unwrap(),
                        theirs.4,
                        "best column, {context}"
                    );
                }
                assert_eq!(
                    snippets.column(texts[2], n).unwrap(),
                    theirs.3,
                    "body, {context}"
                );
                compared += 1;
                from_best_column += usize::from(r.body.is_empty());
                leading += usize::from(theirs.3.starts_with('…'));
                trailing += usize::from(theirs.3.ends_with('…'));
                highlighted += usize::from(theirs.0.contains('['));
                // How often the body's window starts at a sentence other than the first.
                let body =
                    Column::scan(texts[2], &stemmed, &Keys::new(&stemmed), Vec::new()).unwrap();
                let mut best = Best::default();
                best.consider(0, &body, n, &mut Seen::new(stemmed.len()));
                at_sentence +=
                    usize::from(best.start > 0 && sentence_starts(texts[2]).contains(&best.start));
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

    /// Words for the hard rows: terms that are prefixes of others ("al", "alp", "alpha"), that
    /// share their first two bytes ("alps"), of one byte ("x", "4"), of digits; and enough
    /// distinct first two bytes for queries with more than [`MAX_KEYS`] keys.
    const HARD_VOCAB: &[&str] = &[
        "alpha", "alps", "alp", "al", "beta", "bet", "x", "xx", "42", "4", "a1", "gamma",
        "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu", "omicron", "pi",
        "rho",
    ];

    /// A separator for the hard rows: runs of whitespace and of box drawing long enough to cross
    /// the scan's blocks, stops with and without whitespace after them, other known non-ASCII
    /// separators, control characters (`\v` and `\f` are whitespace when folding, not for
    /// FTS5's sentences).
    fn hard_separator(rng: &mut Rng) -> String {
        match rng.below(14) {
            0 => " ".repeat(1 + rng.below(70)),
            1 => "\n".repeat(1 + rng.below(4)) + &" ".repeat(rng.below(20)),
            2 => "─".repeat(1 + rng.below(40)) + " ",
            3 => rng
                .pick(&[". ", ".\n\n", ":\n", ". \t ", ":  \r\n", ".\n  \n"])
                .to_string(),
            4 => rng
                .pick(&[".", ":", "-", "_", "/", "'", ". .", ":-"])
                .to_string(),
            5 => rng
                .pick(&[
                    " → ",
                    " — ",
                    "…",
                    " │ ",
                    "✅",
                    "\u{a0}",
                    " \u{2003} ",
                    "\u{2028}",
                    "\u{205f}",
                ])
                .to_string(),
            6 => rng
                .pick(&["\u{b}", "\u{c}", "\u{1c}", "\t", "\r", " \u{c} "])
                .to_string(),
            _ => " ".to_string(),
        }
    }

    /// A hard-row text of up to `max` tokens (sometimes many more): words of `vocab` in mixed
    /// case, now and then a token longer than a block, with [`hard_separator`]s.
    fn hard_text(rng: &mut Rng, vocab: &[&str], max: usize) -> String {
        let n = match rng.below(12) {
            0 => 400 + rng.below(1600),
            1 | 2 => rng.below(4),
            _ => rng.below(max + 1),
        };
        let mut s = String::new();
        if rng.below(4) == 0 {
            s.push_str(&hard_separator(rng));
        }
        for i in 0..n {
            if i > 0 {
                s.push_str(&hard_separator(rng));
            }
            if rng.below(60) == 0 {
                s.push_str(&"Zq7".repeat(20 + rng.below(40)));
                continue;
            }
            let word = rng.pick(vocab);
            push_in_random_case(rng, &mut s, word);
        }
        if n > 0 && rng.below(4) == 0 {
            s.push_str(&hard_separator(rng));
        }
        s
    }

    #[test]
    fn matches_fts5_on_hard_rows() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let conn = db();
        let mut rows = Vec::new();
        for rowid in 0..160 {
            // Some rows use four words only, so their instances crowd.
            let vocab = if rng.below(3) == 0 {
                &HARD_VOCAB[..4]
            } else {
                HARD_VOCAB
            };
            let title = hard_text(&mut rng, vocab, 5);
            let headings = hard_text(&mut rng, vocab, 8);
            let body = if rng.below(8) == 0 {
                String::new()
            } else {
                hard_text(&mut rng, vocab, 150)
            };
            insert(&conn, rowid, &title, &headings, &body);
            rows.push([title, headings, body]);
        }
        let (mut compared, mut long, mut every, mut at_sentence) = (0, 0, 0, 0);
        let (mut first_token, mut last_token, mut folded_differs) = (0, 0, 0);
        for q in 0..48 {
            let k = if q % 6 == 5 {
                MAX_KEYS + 1 + rng.below(4)
            } else {
                1 + rng.below(3)
            };
            let mut terms: Vec<&str> = Vec::new();
            while terms.len() < k {
                let term = if rng.below(10) == 0 {
                    "nowhere"
                } else {
                    rng.pick(HARD_VOCAB)
                };
                if !same_stem(&terms, term) {
                    terms.push(term);
                }
            }
            let n = [14, 14, 14, 1, 2, 64][q % 6];
            let stemmed = stems(&terms);
            let stemmed: Vec<&str> = stemmed.iter().map(String::as_str).collect();
            let (snippets, folding) = (Snippets::new(&stemmed), Snippets::new(&stemmed).folded());
            for (rowid, theirs) in fts5(&conn, &terms, None, n) {
                let [title, headings, body] = &rows[rowid as usize];
                let texts = [title.as_str(), headings.as_str(), body.as_str()];
                let context = format!("row {rowid}, terms {terms:?}, n {n}");
                let row = snippets.row(title, headings, body);
                assert_eq!(row.as_deref(), Some(theirs.0.as_str()), "row, {context}");
                let folded = fold_reference(&theirs.0);
                assert_eq!(
                    folding.row(title, headings, body).as_deref(),
                    Some(folded.as_str()),
                    "folded row, {context}"
                );
                let n = n as usize;
                for (column, theirs) in [(0, &theirs.1), (1, &theirs.2), (2, &theirs.3)] {
                    assert_eq!(
                        snippets.column(texts[column], n).as_deref(),
                        Some(theirs.as_str()),
                        "column {column}, {context}"
                    );
                }
                assert_eq!(
                    snippets.best_column(&texts, n).as_deref(),
                    Some(theirs.4.as_str()),
                    "best column, {context}"
                );
                compared += 1;
                folded_differs += usize::from(folded != theirs.0);
                every += usize::from(snippets.keys.as_ref().is_some_and(|keys| keys.every));
                let column =
                    Column::scan(body, &stemmed, &Keys::new(&stemmed), Vec::new()).unwrap();
                long += usize::from(column.size >= 400 && !column.hits.is_empty());
                first_token += usize::from(column.hits.first().is_some_and(|h| h.position == 0));
                last_token += usize::from(
                    column
                        .hits
                        .last()
                        .is_some_and(|h| h.position + 1 == column.size),
                );
                let mut best = Best::default();
                best.consider(0, &column, n, &mut Seen::new(terms.len()));
                at_sentence +=
                    usize::from(best.start > 0 && sentence_starts(body).contains(&best.start));
            }
        }
        eprintln!(
            "hard rows: compared {compared}, long {long}, more than {MAX_KEYS} keys {every}, \
             window at a sentence {at_sentence}, instance at the first token {first_token}, \
             at the last {last_token}, folding changed {folded_differs}"
        );
        assert!(compared >= 1500, "only {compared} rows compared");
        assert!(long >= 30 && every >= 100 && at_sentence >= 30);
        assert!(first_token >= 20 && last_token >= 20 && folded_differs >= 500);
    }

    /// What [`Column::scan`] must find, the simple way, one token at a time: the token count and
    /// each instance (its sentence start as a position and the byte its token starts at); `None`
    /// on a NUL or a non-ASCII character that is not a known separator.
    fn scan_reference(text: &str, terms: &[&str]) -> Option<(usize, Vec<[usize; 6]>)> {
        if text
            .chars()
            .any(|c| c == '\0' || (!c.is_ascii() && !is_known_separator(c)))
        {
            return None;
        }
        let bytes = text.as_bytes();
        let sentences = sentence_starts(text);
        let (mut position, mut i) = (0, 0);
        let (mut starts, mut hits) = (Vec::new(), Vec::new());
        while i < bytes.len() {
            if !bytes[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            starts.push(start);
            let word = &bytes[start..i];
            if let Some(phrase) = terms
                .iter()
                .position(|t| porter::stems_to(&word.to_ascii_lowercase(), t.as_bytes()))
            {
                let sentence = *sentences.iter().rfind(|&&s| s <= position).unwrap();
                hits.push([position, phrase, start, i, sentence, starts[sentence]]);
            }
            position += 1;
        }
        Some((position, hits))
    }

    #[test]
    fn scan_matches_a_simple_tokenizer() {
        const PIECES: &[&str] = &[
            "a", "B", "z9", "Hello", "hello", "he", "x", "X", "lo", "4", "42", " ", " ", "  ",
            "\n", "\t", "\r", ".", ":", ". ", ":\n", ".\n\n ", "-", "─", "──", "→", "…", "\u{a0}",
            "\u{b}", "é", "\0",
        ];
        const TERMS: &[&str] = &["a", "hello", "he", "z9", "x", "4", "42", "lo", "b"];
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let (mut checked, mut uncertain) = (0, 0);
        for round in 0..3000 {
            let mut text = " ".repeat(rng.below(70));
            for _ in 0..rng.below(120) {
                // Unknown characters and NULs are rare, so most texts can be scanned.
                let piece = rng.pick(PIECES);
                if matches!(piece, "é" | "\0") && rng.below(20) != 0 {
                    continue;
                }
                text.push_str(piece);
            }
            let k = if round % 10 == 0 { 9 } else { 1 + rng.below(3) };
            let mut terms: Vec<&str> = Vec::new();
            while terms.len() < k {
                let term = rng.pick(TERMS);
                if !same_stem(&terms, term) {
                    terms.push(term);
                }
            }
            let ours = Column::scan(&text, &terms, &Keys::new(&terms), Vec::new()).map(|c| {
                let hits = c
                    .hits
                    .iter()
                    .map(|h| {
                        let sentence = next_token(text.as_bytes(), h.sentence.byte);
                        [
                            h.position,
                            h.phrase,
                            h.byte,
                            h.end,
                            h.sentence.position,
                            sentence,
                        ]
                    })
                    .collect::<Vec<_>>();
                (c.size, hits)
            });
            assert_eq!(ours, scan_reference(&text, &terms), "{text:?} {terms:?}");
            checked += 1;
            uncertain += usize::from(ours.is_none());
        }
        assert!(
            uncertain >= 300 && uncertain * 2 <= checked,
            "{uncertain} of {checked}"
        );
    }
    /// From the hostile review of 2026-11-30: bytes-level noise. Every printable ASCII character (brackets,
    /// quotes, `.` and `:` with and without whitespace), control characters, CR, very long
    /// tokens (past a block, and past FTS5_MAX_TOKEN_SIZE), words that share the terms' first
    /// two bytes (`ab`/`abc`/`abz`), digits and known non-ASCII separators, glued without
    /// spaces. Wherever the Rust side answers, it must be FTS5's answer.
    #[test]
    fn matches_fts5_on_byte_noise() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        const PIECES: &[&str] = &[
            "ab", "abc", "abz", "Ab", "AB", "a", "b", "ba", "abab", "x9", "9x", "99", "0", "zz",
            "ab1", "1ab", "abcabc", "q",
        ];
        let conn = db();
        let mut rows = Vec::new();
        for rowid in 0..300 {
            let mut cols = Vec::new();
            for max in [6, 10, 300] {
                let mut s = String::new();
                let n = match rng.below(10) {
                    0 => 0,
                    1 => 400 + rng.below(800),
                    _ => rng.below(max),
                };
                for _ in 0..n {
                    match rng.below(20) {
                        0..=7 => s.push_str(rng.pick(PIECES)),
                        8 => {
                            let c = (0x20 + rng.below(0x5f)) as u8 as char;
                            s.push(c);
                        }
                        9 => {
                            let c = rng.below(0x20) as u8 as char;
                            if c != '\0' {
                                s.push(c);
                            }
                        }
                        10 => s.push_str(rng.pick(&[
                            ". ", ".", ": ", ":", ".\r\n", ":\t", ". .", "..", "::", ".:",
                        ])),
                        11 => s.push_str(
                            rng.pick(&["…", "→", "—", "│", "\u{a0}", "\u{2028}", "«", "»", "×"]),
                        ),
                        12 => {
                            let len = [63, 64, 65, 127, 128, 129, 200][rng.below(7)];
                            s.push_str(&"ab".repeat(len / 2 + 1)[..len]);
                        }
                        13 if rng.below(20) == 0 => s.push_str(&"abc".repeat(11_000)),
                        _ => s.push_str(rng.pick(&[" ", "  ", "\t", "\n", "\r", "\r\n", " \n "])),
                    }
                }
                cols.push(s);
            }
            let body = cols.pop().unwrap();
            let headings = cols.pop().unwrap();
            let title = cols.pop().unwrap();
            insert(&conn, rowid, &title, &headings, &body);
            rows.push([title, headings, body]);
        }
        const TERMS: &[&str] = &[
            "ab", "abc", "a", "b", "x9", "99", "0", "abab", "ab1", "zz", "q", "nowhere",
        ];
        let (mut compared, mut answered) = (0, 0);
        for q in 0..24 {
            let k = 1 + rng.below(4);
            let mut terms: Vec<&str> = Vec::new();
            while terms.len() < k {
                let t = rng.pick(TERMS);
                if !same_stem(&terms, t) {
                    terms.push(t);
                }
            }
            let n = [14, 14, 14, 1, 2, 3, 13, 15, 63, 64][q % 10];
            let stemmed = stems(&terms);
            let stemmed: Vec<&str> = stemmed.iter().map(String::as_str).collect();
            let (snippets, folding) = (Snippets::new(&stemmed), Snippets::new(&stemmed).folded());
            for (rowid, theirs) in fts5(&conn, &terms, None, n) {
                let [title, headings, body] = &rows[rowid as usize];
                let texts = [title.as_str(), headings.as_str(), body.as_str()];
                let context = format!("row {rowid}, terms {terms:?}, n {n}");
                compared += 1;
                if let Some(row) = snippets.row(title, headings, body) {
                    answered += 1;
                    assert_eq!(row, theirs.0, "row, {context}");
                    assert_eq!(
                        folding.row(title, headings, body).as_deref(),
                        Some(fold_reference(&theirs.0).as_str()),
                        "folded row, {context}"
                    );
                }
                let nn = n as usize;
                for (column, theirs) in [(0, &theirs.1), (1, &theirs.2), (2, &theirs.3)] {
                    if let Some(ours) = snippets.column(texts[column], nn) {
                        assert_eq!(&ours, theirs, "column {column}, {context}");
                    }
                }
                if let Some(ours) = snippets.best_column(&texts, nn) {
                    assert_eq!(ours, theirs.4, "best column, {context}");
                }
            }
        }
        eprintln!("byte noise: compared {compared}, answered in Rust {answered}");
        assert!(compared > 2000 && answered > 500, "{compared} {answered}");
    }
}
