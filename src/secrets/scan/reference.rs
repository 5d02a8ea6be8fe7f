//! The pre-optimization implementation of [`super::scan`] and [`super::redact`] (as of
//! commit e5c6bd2, before the fast path and [`super::Redactor`]), kept verbatim (but for the
//! one fix marked in [`redact`]) as the oracle
//! of the differential tests in `super::tests` and `crate::scry::redact::tests`: only the
//! `mask` paths are adjusted, and `Finding` and `Known` are the live types. Test-only; do
//! not optimize it.

use super::{Finding, Known};

/// What a redacted span becomes.
pub const REDACTED: &str = "[redacted]";

/// The shortest run of base64-like characters judged by its entropy.
pub const MIN_ENTROPY_LEN: usize = 32;

/// Bits per character from which a long token counts as random. Random base64 of 32+
/// characters measures about 4.5–5.0; English words and identifiers run together rarely pass
/// 4.2; hex cannot exceed 4.0.
pub const MIN_ENTROPY_BITS: f64 = 4.2;

/// Scans `text` for the [`Known`] secrets and the patterns of the module docs. Findings are
/// sorted by start offset, one per span (the most specific detector's).
pub fn scan(text: &[u8], known: &[Known<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for k in known {
        if k.value.len() < crate::secrets::mask::MIN_MASKED_LEN {
            continue;
        }
        for form in crate::secrets::mask::forms(k.value) {
            for start in find_all(text, &form) {
                let f = Finding {
                    kind: "known".into(),
                    name: Some(k.name.to_string()),
                    start,
                    end: start + form.len(),
                };
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
    }
    // One pass finds the prefixed tokens and the high-entropy runs, and whether a private
    // key block may start anywhere; findings keep the order of separate passes (keys,
    // prefixed, entropy) before the stable sort.
    let mut tokens = Vec::new();
    let mut random = Vec::new();
    if prefixed_and_entropy(text, &mut tokens, &mut random) {
        private_keys(text, &mut out);
    }
    out.append(&mut tokens);
    out.append(&mut random);
    super::one_per_span(&mut out);
    out
}

/// Text with every span of `findings` replaced by [`REDACTED`] (overlaps merged). Offsets
/// that do not fall on UTF-8 boundaries are widened to the enclosing characters.
pub fn redact_spans(text: &str, findings: &[Finding]) -> String {
    let mut spans: Vec<(usize, usize)> = findings
        .iter()
        .map(|f| (f.start.min(text.len()), f.end.min(text.len())))
        .collect();
    spans.sort();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut i = 0;
    while i < spans.len() {
        let (mut s, mut e) = spans[i];
        i += 1;
        while i < spans.len() && spans[i].0 <= e {
            e = e.max(spans[i].1);
            i += 1;
        }
        s = s.max(pos);
        while s > 0 && !text.is_char_boundary(s) {
            s -= 1;
        }
        while e < text.len() && !text.is_char_boundary(e) {
            e += 1;
        }
        if s < pos {
            s = pos;
        }
        out.push_str(&text[pos..s]);
        out.push_str(REDACTED);
        pos = e;
    }
    out.push_str(&text[pos.min(text.len())..]);
    out
}

/// Redacts a piece of text shown to a reader (a search snippet, a title): everything [`scan`]
/// finds, also when search-highlight brackets (`[`, `]`) were inserted inside a secret, and
/// the part of a known value cut at either end of the text (a snippet starts or ends mid
/// value, possibly after or before an ellipsis `…`). Returns the text and whether anything
/// was redacted.
pub fn redact(text: &str, known: &[Known<'_>]) -> (String, bool) {
    let mut findings = scan(text.as_bytes(), known);
    pieces(text.as_bytes(), known, &mut findings);
    // The same scan over the text without highlight brackets, mapped back.
    if text.contains(['[', ']']) {
        let mut stripped = Vec::with_capacity(text.len());
        let mut map = Vec::with_capacity(text.len() + 1);
        for (i, b) in text.bytes().enumerate() {
            if b != b'[' && b != b']' {
                stripped.push(b);
                map.push(i);
            }
        }
        map.push(text.len());
        let mut found = scan(&stripped, known);
        pieces(&stripped, known, &mut found);
        // The one change since e5c6bd2 (a leak fix): known values cut at an edge are looked
        // for without the brackets too.
        edge_fragments(std::str::from_utf8(&stripped).unwrap(), known, &mut found);
        for f in found {
            let start = map[f.start];
            let end = if f.end == 0 { 0 } else { map[f.end - 1] + 1 };
            findings.push(Finding { start, end, ..f });
        }
    }
    edge_fragments(text, known, &mut findings);
    if findings.is_empty() {
        return (text.to_string(), false);
    }
    (redact_spans(text, &findings), true)
}

/// Added with the pieces of `super::Redactor` (not in e5c6bd2): every window of
/// [`super::PIECE`] bytes of `text` equal, ignoring ASCII case, to one of a known value's
/// [`super::piece_sources`], by plain comparison.
fn pieces(text: &[u8], known: &[Known<'_>], out: &mut Vec<Finding>) {
    for k in known {
        // Issue 16: pieces are at least [`super::piece_len`] bytes (64 bits of guessing).
        let n = super::piece_len(k.value);
        for source in super::piece_sources(k.value) {
            for start in 0..(text.len() + 1).saturating_sub(n) {
                let window = &text[start..start + n];
                if source.windows(n).any(|w| w.eq_ignore_ascii_case(window)) {
                    out.push(Finding {
                        kind: "known".into(),
                        name: Some(k.name.to_string()),
                        start,
                        end: start + n,
                    });
                }
            }
        }
    }
}

/// A known value cut at the start or end of `text` (ignoring an ellipsis and highlight
/// brackets there): at least [`crate::secrets::mask::MIN_MASKED_LEN`] bytes of it.
fn edge_fragments(text: &str, known: &[Known<'_>], out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let skip_front = text.strip_prefix('…').map_or(0, |_| '…'.len_utf8());
    let skip_back = text.strip_suffix('…').map_or(0, |_| '…'.len_utf8());
    let front = &b[skip_front..];
    let back = &b[..b.len() - skip_back];
    for k in known {
        let v = k.value;
        // Issue 16: a part of a value cut at an edge from [`super::partial_min`] bytes only.
        let min = super::partial_min(v);
        // A suffix of the value at the front of the text.
        for n in (min..v.len()).rev() {
            if front.starts_with(&v[v.len() - n..]) {
                out.push(known_finding(k, skip_front, skip_front + n));
                break;
            }
        }
        // A prefix of the value at the back of the text.
        for n in (min..v.len()).rev() {
            if back.ends_with(&v[..n]) {
                out.push(known_finding(k, back.len() - n, back.len()));
                break;
            }
        }
    }
}

fn known_finding(k: &Known<'_>, start: usize, end: usize) -> Finding {
    Finding {
        kind: "known".into(),
        name: Some(k.name.to_string()),
        start,
        end,
    }
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    if needle.is_empty() || needle.len() > hay.len() {
        return v;
    }
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let last = i + needle.len() - 1;
        // First and last bytes first: most candidates fail there without a full compare.
        if hay[i] == needle[0] && hay[last] == needle[needle.len() - 1] && &hay[i..=last] == needle
        {
            v.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    v
}

/// The first occurrence of `needle` in `hay` at or after `from`.
fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

fn pattern(kind: &str, start: usize, end: usize) -> Finding {
    Finding {
        kind: kind.into(),
        name: None,
        start,
        end,
    }
}

/// `-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----` … `-----END [A-Z0-9 ]*PRIVATE KEY-----`.
fn private_keys(text: &[u8], out: &mut Vec<Finding>) {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const TAIL: &[u8] = b"PRIVATE KEY-----";
    const END: &[u8] = b"-----END ";
    // Linear: a BEGIN inside a block already found is part of it, and each search for an END
    // resumes where the last one stopped (no rescanning the rest of the text per BEGIN).
    let mut covered = 0;
    let mut next_end_from = 0;
    for start in find_all(text, BEGIN) {
        if start < covered {
            continue;
        }
        let Some(header_end) = label_end(text, start + BEGIN.len(), TAIL) else {
            continue;
        };
        let mut end = text.len();
        let mut from = next_end_from.max(header_end);
        while let Some(e) = find_from(text, END, from) {
            let at = e + END.len();
            if let Some(stop) = label_end(text, at, TAIL) {
                end = stop;
                break;
            }
            from = at;
        }
        next_end_from = from;
        covered = end;
        out.push(pattern("private-key", start, end));
    }
}

/// From `at`, skips `[A-Z0-9 ]` and returns the offset past `tail` if it follows.
fn label_end(text: &[u8], at: usize, tail: &[u8]) -> Option<usize> {
    let mut i = at;
    while i < text.len() && i - at <= 64 {
        if text[i..].starts_with(tail) {
            return Some(i + tail.len());
        }
        if !(text[i].is_ascii_uppercase() || text[i].is_ascii_digit() || text[i] == b' ') {
            return None;
        }
        i += 1;
    }
    None
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Well-known token prefixes, each with the characters of its body and the body's least
/// length.
type Prefix = (&'static [u8], fn(u8) -> bool, usize, &'static str);

const PREFIXES: &[Prefix] = &[
    (
        b"AGE-SECRET-KEY-1",
        |b| b.is_ascii_alphanumeric(),
        20,
        "age-identity",
    ),
    (b"ghp_", |b| b.is_ascii_alphanumeric(), 20, "token"),
    (b"gho_", |b| b.is_ascii_alphanumeric(), 20, "token"),
    (b"ghu_", |b| b.is_ascii_alphanumeric(), 20, "token"),
    (b"ghs_", |b| b.is_ascii_alphanumeric(), 20, "token"),
    (b"ghr_", |b| b.is_ascii_alphanumeric(), 20, "token"),
    (b"github_pat_", is_word, 20, "token"),
    (
        b"AKIA",
        |b| b.is_ascii_uppercase() || b.is_ascii_digit(),
        16,
        "token",
    ),
    (
        b"xoxb-",
        |b| b.is_ascii_alphanumeric() || b == b'-',
        10,
        "token",
    ),
    (
        b"xoxp-",
        |b| b.is_ascii_alphanumeric() || b == b'-',
        10,
        "token",
    ),
    (
        b"xoxa-",
        |b| b.is_ascii_alphanumeric() || b == b'-',
        10,
        "token",
    ),
    (
        b"xoxr-",
        |b| b.is_ascii_alphanumeric() || b == b'-',
        10,
        "token",
    ),
    (
        b"xoxs-",
        |b| b.is_ascii_alphanumeric() || b == b'-',
        10,
        "token",
    ),
    (b"sk-", |b| is_word(b) || b == b'-', 20, "token"),
];

/// Bytes that start some prefix of [`PREFIXES`]: only these positions are looked at.
const PREFIX_FIRST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < PREFIXES.len() {
        table[PREFIXES[i].0[0] as usize] = true;
        i += 1;
    }
    table
};

/// The one pass of [`scan`] over `text`: tokens with a well-known prefix into `tokens`,
/// high-entropy runs into `random`; true when `-----BEGIN ` occurs (a private key block may
/// start there).
///
/// Prefixes: per prefix, occurrences are taken left to right without overlap (`next`), as a
/// search for that prefix alone would, and one inside a token already found (`sk-sk-sk-…`,
/// `covered`) is part of it: linear in the text. Runs: maximal runs of base64/URL-safe
/// characters of at least [`MIN_ENTROPY_LEN`] that [`looks_random`].
fn prefixed_and_entropy(text: &[u8], tokens: &mut Vec<Finding>, random: &mut Vec<Finding>) -> bool {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut next = [0usize; PREFIXES.len()];
    let mut covered = [0usize; PREFIXES.len()];
    let mut run_start: Option<usize> = None;
    let mut begin = false;
    for (at, &b) in text.iter().enumerate() {
        if B64[b as usize] {
            run_start.get_or_insert(at);
        } else if let Some(start) = run_start.take() {
            entropy_run(text, start, at, random);
        }
        if b == b'-' && !begin && text[at..].starts_with(BEGIN) {
            begin = true;
        }
        if PREFIX_FIRST_BYTES[b as usize] {
            prefix_at(text, at, &mut next, &mut covered, tokens);
        }
    }
    if let Some(start) = run_start {
        entropy_run(text, start, text.len(), random);
    }
    begin
}

/// The prefixes of [`PREFIXES`] that occur at `start`, as [`prefixed_and_entropy`] takes them.
fn prefix_at(
    text: &[u8],
    start: usize,
    next: &mut [usize; PREFIXES.len()],
    covered: &mut [usize; PREFIXES.len()],
    out: &mut Vec<Finding>,
) {
    let first = text[start];
    for (k, &(prefix, body, min, kind)) in PREFIXES.iter().enumerate() {
        // Every prefix has at least two bytes; the second one rules out most candidates
        // (every `s` of the text for `sk-`) before a full compare.
        if prefix[0] != first
            || text.get(start + 1) != prefix.get(1)
            || start < next[k]
            || !text[start..].starts_with(prefix)
        {
            continue;
        }
        next[k] = start + prefix.len();
        if start < covered[k] {
            continue;
        }
        if start > 0 && is_word(text[start - 1]) {
            continue; // inside a longer word
        }
        let mut end = start + prefix.len();
        while end < text.len() && body(text[end]) {
            end += 1;
        }
        covered[k] = end;
        if end - start - prefix.len() >= min {
            out.push(pattern(kind, start, end));
        }
    }
}

/// Base64 and URL-safe base64 characters, by byte.
const B64: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_');
        b += 1;
    }
    table
};

/// A finding for the run `text[start..end]` if it is long and random enough.
fn entropy_run(text: &[u8], start: usize, end: usize, out: &mut Vec<Finding>) {
    let run = &text[start..end];
    if run.len() >= MIN_ENTROPY_LEN && looks_random(run) {
        out.push(pattern("high-entropy", start, end));
    }
}

/// Upper, lower and digits all present, and entropy ≥ [`MIN_ENTROPY_BITS`].
fn looks_random(run: &[u8]) -> bool {
    let upper = run.iter().any(u8::is_ascii_uppercase);
    let lower = run.iter().any(u8::is_ascii_lowercase);
    let digit = run.iter().any(u8::is_ascii_digit);
    upper && lower && digit && entropy(run) >= MIN_ENTROPY_BITS
}

/// Shannon entropy in bits per byte.
fn entropy(run: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in run {
        counts[b as usize] += 1;
    }
    let n = run.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}
