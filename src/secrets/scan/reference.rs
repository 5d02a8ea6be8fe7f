//! The oracle of the detector's differential tests (`super::tests`,
//! `crate::scry::redact::tests`): a slow, simple implementation of the specification below,
//! written from it and from nothing of [`super`]'s code (issue 14: an oracle must be
//! independent). Every rule is a loop over every position of the text; no prefix tables, no
//! hashes, no skipping. Test-only; do not optimize it.
//!
//! # The specification
//!
//! A text's *findings* are spans `[start, end)` of bytes:
//!
//! 1. **Known values, whole.** For a known value `v` of at least
//!    [`MIN_MASKED_LEN`](crate::secrets::mask::MIN_MASKED_LEN) bytes, every occurrence of `v`
//!    or of one of its encoded forms ([`crate::secrets::mask::forms`]: base64, hex,
//!    percent, JSON, embedded base64, reader-visible variants).
//! 2. **Private keys.** From `-----BEGIN ` + up to 64 of `[A-Z0-9 ]` + `PRIVATE KEY-----` to
//!    the end of the first `-----END ` + up to 64 of `[A-Z0-9 ]` + `PRIVATE KEY-----` that
//!    starts after that header, or to the end of the text. A `-----BEGIN` inside a block
//!    (left to right) is part of that block, not the start of another.
//! 3. **Tokens.** A well-known prefix not preceded by a word character (`[A-Za-z0-9_]`), then
//!    the longest run of its body's characters, when the run has at least the body's least
//!    length: `AGE-SECRET-KEY-1` + 20 alphanumerics; `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` +
//!    20 alphanumerics; `github_pat_` + 20 word characters; `AKIA` or `ASIA` + 16 of
//!    `[A-Z0-9]`;
//!    `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-` + 10 of `[A-Za-z0-9-]`; `sk-` + 20 of
//!    `[A-Za-z0-9_-]`.
//! 4. **High entropy.** A maximal run of `[A-Za-z0-9+/=_-]` of at least 32 bytes holding an
//!    upper-case letter, a lower-case letter and a digit, whose Shannon entropy is at least
//!    4.2 bits per byte.
//!
//! Redaction ([`redact`]) adds, for a text shown to a reader:
//!
//! 5. **Pieces.** Pieces of a known value, ASCII case ignored, anywhere — taken from the
//!    value, the value with whitespace runs folded to one space (and trimmed), and the value
//!    without `[`/`]`, each only when at least 12 bytes long: the `n = piece_len(v)` bytes
//!    starting at 0, `⌈n/2⌉`, `2⌈n/2⌉`, … and at `len − n` (not every window: no
//!    byte-by-byte oracle, QA session 9 H1), and, when `partial_min(v)` is shorter than `n`,
//!    the first and the last `partial_min(v)` bytes. `piece_len(v)` is `partial_min(v)`, and
//!    at least 12.
//! 6. **Highlight brackets.** Rules 1–5 again on the text with every `[` and `]` removed;
//!    each span found there covers, in the text, from its first byte to its last.
//!
//! `partial_min(v)` is the length at which guessing a part of `v` costs at least 64 bits: the
//! ceiling of 64 / log2(alphabet), and at least 4, where the alphabet is 16 when `v` is hex
//! digits with a letter (ASCII case ignored), else the sum of the classes present: letters
//! 26, digits 10, ASCII punctuation 32, whitespace 1, other bytes 128 (at least 2).
//!
//! The redacted text replaces each span by `[redacted]`, spans that overlap or touch merged,
//! each widened to whole UTF-8 characters.

use super::{Finding, Known};

/// What a redacted span becomes.
const REDACTED: &str = "[redacted]";

/// Rules 1–4 ([`scan`] in the module docs' terms): the findings of `text`, sorted, one per
/// span (the kind is not compared by the tests that use it; only spans and names).
pub fn scan(text: &[u8], known: &[Known<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for k in known {
        if k.value.len() < crate::secrets::mask::MIN_MASKED_LEN {
            continue;
        }
        for form in crate::secrets::mask::forms(k.value) {
            for start in occurrences(text, &form) {
                out.push(named(k, start, start + form.len()));
            }
        }
    }
    private_keys(text, &mut out);
    tokens(text, &mut out);
    high_entropy(text, &mut out);
    out.sort_by_key(|f| (f.start, f.end));
    out.dedup_by(|a, b| a.start == b.start && a.end == b.end);
    out
}

/// Rules 1–7: the text with every finding redacted, and whether anything was.
pub fn redact(text: &str, known: &[Known<'_>]) -> (String, bool) {
    let mut spans = spans_of(text.as_bytes(), known);
    if text.contains(['[', ']']) {
        let kept: Vec<usize> = (0..text.len())
            .filter(|&i| !matches!(text.as_bytes()[i], b'[' | b']'))
            .collect();
        let stripped: Vec<u8> = kept.iter().map(|&i| text.as_bytes()[i]).collect();
        for (s, e) in spans_of(&stripped, known) {
            if e > s {
                spans.push((kept[s], kept[e - 1] + 1));
            }
        }
    }
    if spans.is_empty() {
        return (text.to_string(), false);
    }
    (replace(text, spans), true)
}

/// Rules 1–5 on `text`, as spans.
fn spans_of(text: &[u8], known: &[Known<'_>]) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> =
        scan(text, known).iter().map(|f| (f.start, f.end)).collect();
    for k in known {
        let m = partial_min(k.value);
        let n = m.max(12);
        for source in piece_sources(k.value) {
            if source.len() < n {
                continue;
            }
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            while at + n <= source.len() {
                pieces.push(&source[at..at + n]);
                at += n.div_ceil(2);
            }
            pieces.push(&source[source.len() - n..]);
            if m < n && source.len() > m {
                pieces.push(&source[..m]);
                pieces.push(&source[source.len() - m..]);
            }
            for piece in pieces {
                for start in 0..(text.len() + 1).saturating_sub(piece.len()) {
                    if text[start..start + piece.len()].eq_ignore_ascii_case(piece) {
                        spans.push((start, start + piece.len()));
                    }
                }
            }
        }
    }
    spans
}

/// The texts a piece may come from (rule 5), lower-cased.
fn piece_sources(v: &[u8]) -> Vec<Vec<u8>> {
    let words: Vec<&[u8]> = v
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let folded = words.join(&b' ');
    let unbracketed: Vec<u8> = v
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'[' | b']'))
        .collect();
    [v.to_vec(), folded, unbracketed]
        .into_iter()
        .filter(|s| s.len() >= 12)
        .map(|s| s.to_ascii_lowercase())
        .collect()
}

/// The module docs' `partial_min`.
fn partial_min(v: &[u8]) -> usize {
    let lower: Vec<u8> = v.to_ascii_lowercase();
    let has = |f: &dyn Fn(u8) -> bool| lower.iter().any(|&b| f(b));
    let letters = has(&|b| b.is_ascii_lowercase());
    let hex_only = letters && lower.iter().all(|b| b.is_ascii_hexdigit());
    let alphabet = if hex_only {
        16
    } else {
        let mut a = 0;
        if letters {
            a += 26;
        }
        if has(&|b| b.is_ascii_digit()) {
            a += 10;
        }
        if has(&|b| b.is_ascii_punctuation()) {
            a += 32;
        }
        if has(&|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            a += 1;
        }
        if has(&|b| !b.is_ascii_graphic() && !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            a += 128;
        }
        a.max(2)
    };
    ((64.0 / f64::from(alphabet).log2()).ceil() as usize).max(4)
}

/// Every start of `needle` in `hay`, overlapping ones included.
fn occurrences(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return Vec::new();
    }
    (0..=hay.len() - needle.len())
        .filter(|&i| &hay[i..i + needle.len()] == needle)
        .collect()
}

/// Where `-----BEGIN`/`-----END` + label + `PRIVATE KEY-----` starting at `at` ends.
fn key_line_end(text: &[u8], at: usize, opener: &[u8]) -> Option<usize> {
    let tail = b"PRIVATE KEY-----";
    if !text[at..].starts_with(opener) {
        return None;
    }
    let label = at + opener.len();
    (label..=(label + 64).min(text.len()))
        .take_while(|&i| {
            i == label
                || text[i - 1].is_ascii_uppercase()
                || text[i - 1].is_ascii_digit()
                || text[i - 1] == b' '
        })
        .find(|&i| text[i..].starts_with(tail))
        .map(|i| i + tail.len())
}

/// Rule 2.
fn private_keys(text: &[u8], out: &mut Vec<Finding>) {
    let mut block_end = 0;
    for start in 0..text.len() {
        if start < block_end {
            continue; // inside the block found last
        }
        let Some(header) = key_line_end(text, start, b"-----BEGIN ") else {
            continue;
        };
        block_end = (header..text.len())
            .find_map(|e| key_line_end(text, e, b"-----END "))
            .unwrap_or(text.len());
        out.push(pattern("private-key", start, block_end));
    }
}

/// A token rule: prefix, body characters, least body length, kind.
type Rule<'a> = (&'a str, &'a dyn Fn(u8) -> bool, usize, &'a str);

/// Rule 3.
fn tokens(text: &[u8], out: &mut Vec<Finding>) {
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let upper_digit = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let slack = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let sk = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let rules: [Rule<'_>; 15] = [
        ("AGE-SECRET-KEY-1", &alnum, 20, "age-identity"),
        ("ghp_", &alnum, 20, "token"),
        ("gho_", &alnum, 20, "token"),
        ("ghu_", &alnum, 20, "token"),
        ("ghs_", &alnum, 20, "token"),
        ("ghr_", &alnum, 20, "token"),
        ("github_pat_", &word, 20, "token"),
        ("AKIA", &upper_digit, 16, "token"),
        ("ASIA", &upper_digit, 16, "token"),
        ("xoxb-", &slack, 10, "token"),
        ("xoxp-", &slack, 10, "token"),
        ("xoxa-", &slack, 10, "token"),
        ("xoxr-", &slack, 10, "token"),
        ("xoxs-", &slack, 10, "token"),
        ("sk-", &sk, 20, "token"),
    ];
    for start in 0..text.len() {
        if start > 0 && word(text[start - 1]) {
            continue;
        }
        for (prefix, body, least, kind) in &rules {
            if !text[start..].starts_with(prefix.as_bytes()) {
                continue;
            }
            let from = start + prefix.len();
            let len = text[from..].iter().take_while(|&&b| body(b)).count();
            if len >= *least {
                out.push(pattern(kind, start, from + len));
            }
        }
    }
}

/// Rule 4.
fn high_entropy(text: &[u8], out: &mut Vec<Finding>) {
    let b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-');
    let mut start = 0;
    while start < text.len() {
        if !b64(text[start]) {
            start += 1;
            continue;
        }
        let len = text[start..].iter().take_while(|&&b| b64(b)).count();
        let run = &text[start..start + len];
        let classes = run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_lowercase)
            && run.iter().any(u8::is_ascii_digit);
        if len >= 32 && classes && shannon(run) >= 4.2 {
            out.push(pattern("high-entropy", start, start + len));
        }
        start += len;
    }
}

/// Shannon entropy of `run`, bits per byte.
fn shannon(run: &[u8]) -> f64 {
    let n = run.len() as f64;
    (0..=255u8)
        .map(|b| run.iter().filter(|&&x| x == b).count())
        .filter(|&c| c > 0)
        .map(|c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// `text` with every span replaced by [`REDACTED`]: spans sorted, those that overlap or
/// touch merged, each widened to whole characters (never back over what was written).
fn replace(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.sort();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in spans {
        let (s, e) = (s.min(text.len()), e.min(text.len()));
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = String::new();
    let mut pos = 0;
    for (s, e) in merged {
        let mut s = s.max(pos);
        while !text.is_char_boundary(s) {
            s -= 1;
        }
        let s = s.max(pos);
        let mut e = e;
        while !text.is_char_boundary(e) {
            e += 1;
        }
        out.push_str(&text[pos..s]);
        out.push_str(REDACTED);
        pos = e;
    }
    out.push_str(&text[pos..]);
    out
}

fn named(k: &Known<'_>, start: usize, end: usize) -> Finding {
    Finding {
        kind: "known".into(),
        name: Some(k.name.to_string()),
        start,
        end,
    }
}

fn pattern(kind: &str, start: usize, end: usize) -> Finding {
    Finding {
        kind: kind.into(),
        name: None,
        start,
        end,
    }
}
