//! The Porter stemmer exactly as SQLite's FTS5 `porter` tokenizer applies it (SQLite's
//! `ext/fts5/fts5_tokenize.c`, `fts5PorterCb` and the steps it calls), so that the Rust side
//! of a search (a query's tokens for the postings, the snippets, the best line of a hit) stems
//! a token to the very bytes FTS5 stored. Depends on nothing but std.
//!
//! FTS5's version follows M. F. Porter, "An algorithm for suffix stripping" (1980), on the
//! bytes of a token its base tokenizer (`unicode61`) has already folded to lowercase, with
//! these particulars reproduced here:
//! - tokens shorter than 3 bytes or longer than [`MAX_TOKEN`] bytes are passed through;
//! - it works on bytes, whatever they are (a non-ASCII byte is a consonant);
//! - step 2 has `logi → log` and `bli → ble` (Porter's later additions);
//! - within a step, rules are grouped by the suffix's second-last byte and the first suffix of
//!   a group that ends the word (and is shorter than it) is the only rule tried.
//!
//! The stemmer is not idempotent (`agreed → agre`, `agre → agr`): stem a token once, from the
//! text. The differential test `stems_equal_fts5s_porter` compares it with the bundled FTS5 on
//! every word of this crate's sources and on generated words.

/// Tokens longer than this (in bytes) are not stemmed (`FTS5_PORTER_MAX_TOKEN`).
pub const MAX_TOKEN: usize = 64;

/// The stem of `token` (lowercase, as the base tokenizer emits it) as FTS5's `porter`
/// tokenizer gives it. Tokens shorter than 3 or longer than [`MAX_TOKEN`] bytes come back as
/// they are.
pub fn stem(token: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut buf = [0u8; STEM_BUF];
    match stem_into(token, &mut buf) {
        Some(n) => std::borrow::Cow::Owned(buf[..n].to_vec()),
        None => std::borrow::Cow::Borrowed(token),
    }
}

/// [`stem`] of a `str`, as a `String` (a token of ASCII letters and digits stays ASCII).
pub fn stem_str(token: &str) -> String {
    String::from_utf8_lossy(&stem(token.as_bytes())).into_owned()
}

/// Whether `token` (lowercase) stems to `term`, without allocating.
pub fn stems_to(token: &[u8], term: &[u8]) -> bool {
    if !may_stem_to(token, term) {
        return false;
    }
    let mut buf = [0u8; STEM_BUF];
    match stem_into(token, &mut buf) {
        Some(n) => &buf[..n] == term,
        None => token == term,
    }
}

/// Bytes of the buffer [`stem_into`] stems into.
pub const STEM_BUF: usize = MAX_TOKEN + 8;

/// A cheap test that is false only when `token` cannot stem to `term`, so that most
/// tokens are never stemmed (the second stage's scan of a row, a snippet): `term` is no
/// longer than `token`, begins with its first byte, and all but its last two bytes begin
/// `token`.
///
/// Why it is exact: every step rewrites only the end of the word, and leaves at most two
/// bytes that differ from the word's at the same place. Step 1 removes a suffix (`sses`,
/// `ies`, `s`, `eed`, `ed`, `ing`) and may then add one byte (`at` → `ate`, `bl` → `ble`,
/// `iz` → `ize`, the `e` of `*o`) or turn the last `y` into `i`: one byte at most. Step 2
/// replaces a suffix of three bytes or more (so the changed byte is inside it) by one that
/// shares all but its last one or two bytes with it (`biliti` → `ble`: two; `ational` →
/// `ate`: one; `tional` → `tion`: none). Steps 3 to 5 only cut the word (step 3's outputs
/// are prefixes of its suffixes: `icate` → `ic`), which keeps a prefix of it. So the stem
/// is the word's first bytes plus at most two others, never longer than the word, and it
/// keeps the word's first byte (every rule leaves a byte before the suffix it rewrites;
/// test `a_stem_differs_from_its_word_in_its_last_two_bytes_at_most`).
pub fn may_stem_to(token: &[u8], term: &[u8]) -> bool {
    let keep = term.len().saturating_sub(2);
    token.len() >= term.len() && token.first() == term.first() && token[..keep] == term[..keep]
}

/// [`stem`] without allocating: stems `token` into `buf`, returning the stem's length;
/// `None` when the token is passed through unchanged (too short or too long). For a caller
/// that compares one token's stem with several terms.
pub fn stem_into(token: &[u8], buf: &mut [u8; STEM_BUF]) -> Option<usize> {
    if token.len() > MAX_TOKEN || token.len() < 3 {
        return None;
    }
    buf[..token.len()].copy_from_slice(token);
    let mut n = token.len();
    // Step 1.
    step1a(buf, &mut n);
    if step1b(buf, &mut n) && !step1b2(buf, &mut n) {
        let c = buf[n - 1];
        if !is_vowel(c, false) && c != b'l' && c != b's' && c != b'z' && n >= 2 && c == buf[n - 2] {
            n -= 1;
        } else if m_eq1(&buf[..n]) && o_star(&buf[..n]) {
            buf[n] = b'e';
            n += 1;
        }
    }
    // Step 1c.
    if buf[n - 1] == b'y' && has_vowel(&buf[..n - 1]) {
        buf[n - 1] = b'i';
    }
    // Steps 2 to 4.
    apply(buf, &mut n, STEP2);
    apply(buf, &mut n, STEP3);
    apply(buf, &mut n, STEP4);
    // Step 5a.
    if buf[n - 1] == b'e' {
        let s = &buf[..n - 1];
        if m_gt1(s) || (m_eq1(s) && !o_star(s)) {
            n -= 1;
        }
    }
    // Step 5b.
    if n > 1 && buf[n - 1] == b'l' && buf[n - 2] == b'l' && m_gt1(&buf[..n - 1]) {
        n -= 1;
    }
    Some(n)
}

/// `fts5PorterIsVowel`: a, e, i, o, u, and y when `y_is_vowel`.
fn is_vowel(c: u8, y_is_vowel: bool) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u') || (y_is_vowel && c == b'y')
}

/// `fts5PorterGobbleVC`: past the first vowel then the first consonant after it, the index
/// one after that consonant; 0 when there is none.
fn gobble_vc(s: &[u8], prev_cons: bool) -> usize {
    let mut cons = prev_cons;
    let mut i = 0;
    while i < s.len() {
        cons = !is_vowel(s[i], cons);
        if !cons {
            break;
        }
        i += 1;
    }
    i += 1;
    while i < s.len() {
        cons = !is_vowel(s[i], cons);
        if cons {
            return i + 1;
        }
        i += 1;
    }
    0
}

/// Porter's `m > 0`.
fn m_gt0(s: &[u8]) -> bool {
    gobble_vc(s, false) != 0
}

/// Porter's `m > 1`.
fn m_gt1(s: &[u8]) -> bool {
    let n = gobble_vc(s, false);
    n != 0 && gobble_vc(&s[n..], true) != 0
}

/// Porter's `m = 1`.
fn m_eq1(s: &[u8]) -> bool {
    let n = gobble_vc(s, false);
    n != 0 && gobble_vc(&s[n..], true) == 0
}

/// Porter's `*o`: the stem ends consonant, vowel, consonant, the last not w, x or y.
fn o_star(s: &[u8]) -> bool {
    let Some(&last) = s.last() else {
        return false;
    };
    if matches!(last, b'w' | b'x' | b'y') {
        return false;
    }
    let mut mask = 0u8;
    let mut cons = false;
    for &c in s {
        cons = !is_vowel(c, cons);
        mask = ((mask << 1) + u8::from(cons)) & 0x07;
    }
    mask == 0x05
}

/// Porter's `*v*`: the stem holds a vowel (`y` counts after the first byte).
fn has_vowel(s: &[u8]) -> bool {
    s.iter().enumerate().any(|(i, &c)| is_vowel(c, i > 0))
}

/// `fts5PorterStep1A`: `sses → ss`, `ies → i`, `s → ` (not after `s`).
fn step1a(buf: &[u8], n: &mut usize) {
    let len = *n;
    if buf[len - 1] == b's' {
        if buf[len - 2] == b'e' {
            if (len > 4 && buf[len - 4] == b's' && buf[len - 3] == b's')
                || (len > 3 && buf[len - 3] == b'i')
            {
                *n = len - 2;
            } else {
                *n = len - 1;
            }
        } else if buf[len - 2] != b's' {
            *n = len - 1;
        }
    }
}

/// `fts5PorterStep1B`: `eed → ee` when `m > 0`; `ed`, `ing` removed when the rest has a
/// vowel (then true, and step 1b's second part runs).
fn step1b(buf: &mut [u8], n: &mut usize) -> bool {
    let len = *n;
    let ends = |suffix: &[u8]| len > suffix.len() && ends_with(&buf[..len], suffix);
    if ends(b"eed") {
        if m_gt0(&buf[..len - 3]) {
            *n = len - 1;
        }
        false
    } else if ends(b"ed") {
        if has_vowel(&buf[..len - 2]) {
            *n = len - 2;
            return true;
        }
        false
    } else if ends(b"ing") {
        if has_vowel(&buf[..len - 3]) {
            *n = len - 3;
            return true;
        }
        false
    } else {
        false
    }
}

/// `fts5PorterStep1B2`: `at → ate`, `bl → ble`, `iz → ize`; true when one applied.
fn step1b2(buf: &mut [u8], n: &mut usize) -> bool {
    let len = *n;
    for (suffix, out) in [(b"at", b"ate"), (b"bl", b"ble"), (b"iz", b"ize")] {
        if len > 2 && ends_with(&buf[..len], suffix) {
            buf[len - 2..len + 1].copy_from_slice(out);
            *n = len + 1;
            return true;
        }
    }
    false
}

/// A rule of steps 2–4: the suffix, the condition on the stem before it, the replacement.
type Rule = (&'static [u8], fn(&[u8]) -> bool, &'static [u8]);

/// Whether `word` ends with `suffix`, compared byte by byte from the end (most suffixes
/// differ at the last byte). `[T]::ends_with` gave the same answer, but how it compiled
/// depended on the callers of the tokenizer: once `postings::Built::add_row` had a second
/// caller, every suffix test of [`apply`] became a `memcmp` call and the stemmer cost 4× its
/// instructions (`layer/core/performance.md`, "The full scrape's profile, ninth session");
/// this loop, forced inline, compiles the same whoever calls.
#[inline(always)]
fn ends_with(word: &[u8], suffix: &[u8]) -> bool {
    word.len() >= suffix.len()
        && suffix
            .iter()
            .rev()
            .zip(word.iter().rev())
            .all(|(a, b)| a == b)
}

/// Applies the first rule of `rules` whose suffix ends the word (and is shorter than it), if
/// its condition holds; no other rule is tried (`fts5PorterStep2`–`4`: within a group of the
/// same second-last byte, the first matching suffix decides; the lists here keep that order).
/// Inlined into [`stem_into`] with its constant tables (see [`ends_with`]).
#[inline(always)]
fn apply(buf: &mut [u8], n: &mut usize, rules: &[Rule]) {
    let len = *n;
    for &(suffix, cond, out) in rules {
        if len > suffix.len() && ends_with(&buf[..len], suffix) {
            let stem = len - suffix.len();
            if cond(&buf[..stem]) {
                buf[stem..stem + out.len()].copy_from_slice(out);
                *n = stem + out.len();
            }
            return;
        }
    }
}

/// `m > 1` and the stem ends in `s` or `t` (step 4's `ion`).
fn m_gt1_s_or_t(s: &[u8]) -> bool {
    matches!(s.last(), Some(b's' | b't')) && m_gt1(s)
}

const STEP2: &[Rule] = &[
    (b"ational", m_gt0, b"ate"),
    (b"tional", m_gt0, b"tion"),
    (b"enci", m_gt0, b"ence"),
    (b"anci", m_gt0, b"ance"),
    (b"izer", m_gt0, b"ize"),
    (b"logi", m_gt0, b"log"),
    (b"bli", m_gt0, b"ble"),
    (b"alli", m_gt0, b"al"),
    (b"entli", m_gt0, b"ent"),
    (b"eli", m_gt0, b"e"),
    (b"ousli", m_gt0, b"ous"),
    (b"ization", m_gt0, b"ize"),
    (b"ation", m_gt0, b"ate"),
    (b"ator", m_gt0, b"ate"),
    (b"alism", m_gt0, b"al"),
    (b"iveness", m_gt0, b"ive"),
    (b"fulness", m_gt0, b"ful"),
    (b"ousness", m_gt0, b"ous"),
    (b"aliti", m_gt0, b"al"),
    (b"iviti", m_gt0, b"ive"),
    (b"biliti", m_gt0, b"ble"),
];

const STEP3: &[Rule] = &[
    (b"ical", m_gt0, b"ic"),
    (b"ness", m_gt0, b""),
    (b"icate", m_gt0, b"ic"),
    (b"iciti", m_gt0, b"ic"),
    (b"ful", m_gt0, b""),
    (b"ative", m_gt0, b""),
    (b"alize", m_gt0, b"al"),
];

const STEP4: &[Rule] = &[
    (b"al", m_gt1, b""),
    (b"ance", m_gt1, b""),
    (b"ence", m_gt1, b""),
    (b"er", m_gt1, b""),
    (b"ic", m_gt1, b""),
    (b"able", m_gt1, b""),
    (b"ible", m_gt1, b""),
    (b"ant", m_gt1, b""),
    (b"ement", m_gt1, b""),
    (b"ment", m_gt1, b""),
    (b"ent", m_gt1, b""),
    (b"ion", m_gt1_s_or_t, b""),
    (b"ou", m_gt1, b""),
    (b"ism", m_gt1, b""),
    (b"ate", m_gt1, b""),
    (b"iti", m_gt1, b""),
    (b"ous", m_gt1, b""),
    (b"ive", m_gt1, b""),
    (b"ize", m_gt1, b""),
];

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn s(w: &str) -> String {
        stem_str(w)
    }

    #[test]
    fn porters_examples() {
        for (w, want) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("conflated", "conflat"),
            ("hopping", "hop"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("indentation", "indent"),
            ("overflows", "overflow"),
            ("parsed", "pars"),
            ("parse", "pars"),
            ("characters", "charact"),
            ("is", "is"),
        ] {
            assert_eq!(s(w), want, "{w}");
        }
        // Not idempotent: stem once.
        assert_eq!(s("agre"), "agr");
        assert!(stems_to(b"parsing", b"pars"));
        assert!(!stems_to(b"parsing", b"parse"));
        assert!(stems_to(b"ab", b"ab"));
        let long = "a".repeat(MAX_TOKEN + 1) + "ing";
        assert_eq!(s(&long), long);
    }

    /// The stems FTS5's `porter` tokenizer stores for `words`, paired with each word, read
    /// back through an `fts5vocab` table of type `instance`.
    fn fts5_stems(words: &[String]) -> Vec<(String, String)> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE p USING fts5(x, tokenize = 'porter unicode61 remove_diacritics 2');
             CREATE VIRTUAL TABLE v USING fts5vocab(p, 'instance');",
        )
        .unwrap();
        for (i, w) in words.iter().enumerate() {
            conn.execute("INSERT INTO p(rowid, x) VALUES (?1, ?2)", (i as i64, w))
                .unwrap();
        }
        let mut stmt = conn.prepare("SELECT doc, term FROM v").unwrap();
        stmt.query_map([], |r| {
            let doc: i64 = r.get(0)?;
            Ok((words[doc as usize].clone(), r.get(1)?))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn stems_equal_fts5s_porter() {
        let words = test_words();
        let pairs = fts5_stems(&words);
        assert_eq!(pairs.len(), words.len());
        let wrong: Vec<_> = pairs
            .iter()
            .filter(|(w, t)| s(w) != *t || !stems_to(w.as_bytes(), t.as_bytes()))
            .take(20)
            .collect();
        assert!(wrong.is_empty(), "differ from FTS5: {wrong:?}");
    }

    /// [`may_stem_to`]'s premise, on every word of the crate's sources, the generated words,
    /// random words of letters (ASCII and not) and a few cut at [`MAX_TOKEN`]: the stem is
    /// never longer than the word and differs from it in its last two bytes at most, so the
    /// filter never turns away a token that stems to the term.
    #[test]
    fn a_stem_differs_from_its_word_in_its_last_two_bytes_at_most() {
        let mut words: Vec<Vec<u8>> = test_words().into_iter().map(String::into_bytes).collect();
        let mut rng = crate::test_rng::Rng(18);
        let letters = [
            "a", "e", "i", "o", "u", "y", "b", "c", "d", "g", "l", "n", "r", "s", "t", "z", "ß",
            "é", "日",
        ];
        for _ in 0..crate::test_rng::cases(50_000, 2_000_000) {
            let len = 1 + rng.next() % 14;
            let w: String = (0..len).map(|_| *rng.pick::<&str>(&letters)).collect();
            words.push(w.into_bytes());
        }
        for n in [MAX_TOKEN - 1, MAX_TOKEN, MAX_TOKEN + 1] {
            words.push([b"ab".repeat(n / 2), b"ational".to_vec()].concat()[..n].to_vec());
        }
        let mut changed = 0;
        for w in &words {
            let st = stem(w);
            let keep = st.len().saturating_sub(2);
            assert!(
                st.len() <= w.len() && st.first() == w.first() && st[..keep] == w[..keep],
                "{:?} → {:?}",
                String::from_utf8_lossy(w),
                String::from_utf8_lossy(&st)
            );
            assert!(may_stem_to(w, &st));
            changed += usize::from(!st.is_empty() && st[st.len() - 1] != w[st.len() - 1]);
        }
        // A stem is not always a prefix of its word (`happy` → `happi`): the filter may not
        // ask for one.
        assert!(changed > 100, "{changed}");
        assert!(!may_stem_to(b"parsing", b"pose") && !may_stem_to(b"par", b"pars"));
        assert!(may_stem_to(b"ability", b"abl"));
    }

    /// Every word of this crate's sources, and generated words built from the suffixes the
    /// rules name, on stems of every shape of vowels and consonants; sorted, each once.
    fn test_words() -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut dirs = vec![std::path::PathBuf::from(src)];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    words.extend(
                        text.split(|c: char| !c.is_ascii_alphanumeric())
                            .filter(|w| !w.is_empty())
                            .map(|w| w.to_ascii_lowercase()),
                    );
                }
            }
        }
        let suffixes: Vec<&[u8]> = [STEP2, STEP3, STEP4]
            .iter()
            .flat_map(|r| r.iter().map(|(s, _, _)| *s))
            .chain([
                &b"sses"[..],
                b"ies",
                b"ss",
                b"s",
                b"eed",
                b"ed",
                b"ing",
                b"ated",
                b"bling",
                b"izing",
                b"y",
                b"e",
                b"ll",
                b"lled",
                b"ying",
            ])
            .collect();
        let stems = [
            "", "a", "b", "y", "ay", "ya", "by", "bo", "ob", "tr", "sat", "hop", "hope", "bay",
            "xyz", "cvc", "gen", "rel", "trouble", "agr", "motor", "sky", "ww", "aio", "str",
            "syzyg", "yy", "oyo",
        ];
        for st in stems {
            for su in &suffixes {
                words.push(format!("{st}{}", String::from_utf8_lossy(su)));
                for su2 in ["s", "ed", "ing", "ly", "ness"] {
                    words.push(format!("{st}{}{su2}", String::from_utf8_lossy(su)));
                }
            }
        }
        words.sort();
        words.dedup();
        words
    }
}
