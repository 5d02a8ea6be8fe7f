//! Secret detection in text: which known secrets (by name) and which secret-looking tokens
//! appear, with byte offsets, never the value; and redaction of what was found. Pure: depends
//! only on [`super::mask`] (for the encoded forms of a known value) and std, so the daemon
//! (`POST /secrets/scan`, `/api/scry`), the CLI (`patina secrets scan`, `patina scry` without a
//! daemon) and a pre-commit hook all use the same detector.
//!
//! Patterns (a [`Finding::kind`] each):
//! - `private-key`: a PEM block `-----BEGIN … PRIVATE KEY-----` through its `-----END …
//!   PRIVATE KEY-----` line (to the end of the text when the end line is missing, as in a cut
//!   snippet);
//! - `age-identity`: `AGE-SECRET-KEY-1…` (age's bech32 identities);
//! - `token`: well-known prefixes — GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`,
//!   `github_pat_`), AWS access key ids (`AKIA` + 16), Slack (`xoxb-`, `xoxp-`, `xoxa-`,
//!   `xoxr-`, `xoxs-`), OpenAI/Anthropic-style `sk-…`;
//! - `high-entropy`: a run of at least [`MIN_ENTROPY_LEN`] base64/URL-safe characters with
//!   upper case, lower case and digits whose Shannon entropy is at least
//!   [`MIN_ENTROPY_BITS`] bits per character (pure hex, such as a commit id, is never flagged);
//! - `known`: a secret of an unlocked vault, by name: its value or any of the encoded forms
//!   that `secrets run` masks (base64, hex, percent-encoding).
//!
//! Not covered: a known value shorter than [`super::mask::MIN_MASKED_LEN`] bytes, secrets
//! split across lines or escaped (JSON, shell), and random-looking tokens shorter than
//! [`MIN_ENTROPY_LEN`].

use serde::{Deserialize, Serialize};

/// What a redacted span becomes.
pub const REDACTED: &str = "[redacted]";

/// The shortest run of base64-like characters judged by its entropy.
pub const MIN_ENTROPY_LEN: usize = 32;

/// Bits per character from which a long token counts as random. Random base64 of 32+
/// characters measures about 4.5–5.0; English words and identifiers run together rarely pass
/// 4.2; hex cannot exceed 4.0.
pub const MIN_ENTROPY_BITS: f64 = 4.2;

/// One thing found: its kind, the secret's name for a `known` one, and the byte range
/// `[start, end)` in the scanned text. Never the matched bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `known`, `private-key`, `age-identity`, `token` or `high-entropy`.
    pub kind: String,
    /// For `known`: the secret's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Byte offset where it starts.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

/// A secret whose value is known (while the session is unlocked): its name and value.
pub struct Known<'a> {
    /// The secret's name (reported).
    pub name: &'a str,
    /// Its value (matched, never reported).
    pub value: &'a [u8],
}

impl std::fmt::Debug for Known<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Known({}, [redacted])", self.name)
    }
}

/// Scans `text` for the [`Known`] secrets and the patterns of the module docs. Findings are
/// sorted by start offset; overlapping ones are all reported.
pub fn scan(text: &[u8], known: &[Known<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for k in known {
        if k.value.len() < super::mask::MIN_MASKED_LEN {
            continue;
        }
        for form in super::mask::forms(k.value) {
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
    out.sort_by_key(|f| (f.start, f.end));
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
        for f in scan(&stripped, known) {
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

/// A known value cut at the start or end of `text` (ignoring an ellipsis and highlight
/// brackets there): at least [`super::mask::MIN_MASKED_LEN`] bytes of it.
fn edge_fragments(text: &str, known: &[Known<'_>], out: &mut Vec<Finding>) {
    let min = super::mask::MIN_MASKED_LEN;
    let b = text.as_bytes();
    let skip_front = text.strip_prefix('…').map_or(0, |_| '…'.len_utf8());
    let skip_back = text.strip_suffix('…').map_or(0, |_| '…'.len_utf8());
    let front = &b[skip_front..];
    let back = &b[..b.len() - skip_back];
    for k in known {
        let v = k.value;
        if v.len() < min {
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "Pc4n4ry-7f3e9c1d+x/y=z";

    fn kinds(text: &str) -> Vec<String> {
        scan(text.as_bytes(), &[])
            .into_iter()
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn repeated_prefixes_are_scanned_in_linear_time() {
        // A tester's 0.9 MB `sk-sk-sk-…` took 189 s and a 13 MB answer; it must be quick and
        // give one finding per token, not one per overlapping start.
        // The key header is built at run time, so the repository holds no key-like literal.
        let header = format!("-----BEGIN {} PRIVATE KEY-----x", "A").into_bytes();
        for unit in [&b"sk-"[..], b"xoxb-", &header[..]] {
            let text = unit.repeat(900_000 / unit.len());
            let t = std::time::Instant::now();
            let found = scan(&text, &[]);
            assert!(found.len() <= 2, "{} findings", found.len());
            assert!(
                t.elapsed() < std::time::Duration::from_secs(5),
                "{:?}",
                t.elapsed()
            );
        }
    }

    #[test]
    fn finds_each_pattern_with_offsets() {
        let key = format!(
            "x\n-----BEGIN {} PRIVATE KEY-----\nAAAA\n-----END {} PRIVATE KEY-----\ny",
            "OPENSSH", "OPENSSH"
        );
        let f = scan(key.as_bytes(), &[]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, "private-key");
        assert_eq!((f[0].start, f[0].end), (2, key.len() - 2));
        let gh = format!("token: ghp_{}", "a1B2".repeat(9));
        assert_eq!(kinds(&gh), ["token"]);
        assert_eq!(kinds(&format!("AKIA{}", "ABCD1234EFGH5678")), ["token"]);
        assert_eq!(kinds(&format!("xoxb-{}", "1234-5678-abcd")), ["token"]);
        assert_eq!(
            kinds(&format!("AGE-SECRET-KEY-1{}", "QQQ9".repeat(10)))[0],
            "age-identity"
        );
        assert_eq!(kinds("sk-proj-abcdefghijklmnopqrstuv"), ["token"]);
        assert!(kinds("task-list and desk-lamp").is_empty());
    }

    #[test]
    fn entropy_flags_random_base64_but_not_hex_words_or_identifiers() {
        let random = "q8ZrT2vLx9YpB4nWk7MdA1sHf6GjC3eU";
        assert_eq!(kinds(random), ["high-entropy"]);
        assert!(kinds("0123456789abcdef0123456789abcdef01234567").is_empty());
        assert!(kinds("peer_runs_this_executable_and_pid_1_does_not").is_empty());
        assert!(kinds("ThisIsAVeryLongIdentifierNameHere1").is_empty());
        assert!(kinds("the quick brown fox jumps over the lazy dog").is_empty());
    }

    #[test]
    fn known_values_are_found_by_name_in_encoded_forms_too() {
        let k = [Known {
            name: "canary",
            value: CANARY.as_bytes(),
        }];
        let text = format!("a {CANARY} b {}", "UGM0bjRyeS03ZjNlOWMxZCt4L3k9eg==");
        let f: Vec<_> = scan(text.as_bytes(), &k)
            .into_iter()
            .filter(|f| f.kind == "known")
            .collect();
        // The raw value, and its base64 (padded and unpadded start at the same place).
        let starts: std::collections::BTreeSet<usize> = f.iter().map(|f| f.start).collect();
        assert_eq!(starts.into_iter().collect::<Vec<_>>(), [2, 27], "{f:?}");
        assert_eq!(f[0].name.as_deref(), Some("canary"));
        assert_eq!((f[0].start, f[0].end), (2, 2 + CANARY.len()));
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains(CANARY));
    }

    #[test]
    fn redact_handles_highlight_brackets_and_cut_edges() {
        let k = [Known {
            name: "canary",
            value: CANARY.as_bytes(),
        }];
        let (r, did) = redact("see [Pc4n4ry]-7f3e9c1d+x/y=z here", &k);
        assert!(did);
        assert!(!r.contains("7f3e9c1d"), "{r}");
        let (r, did) = redact("…7f3e9c1d+x/y=z and more", &k);
        assert!(did && !r.contains("7f3e9c1d"), "{r}");
        let (r, did) = redact("text then Pc4n4ry-7f3e…", &k);
        assert!(did && !r.contains("Pc4n4ry"), "{r}");
        let (r, did) = redact("nothing here", &k);
        assert!(!did);
        assert_eq!(r, "nothing here");
        let (r, _) = redact("é ghp_aaaaaaaaaaaaaaaaaaaaaaaa é", &[]);
        assert_eq!(r, "é [redacted] é");
    }
}
