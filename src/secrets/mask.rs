//! Output masking: replaces every secret value, and its common encodings, with
//! `<concealed by patina>` in a byte stream, without waiting for more output than it must.
//!
//! For each value of at least [`MIN_MASKED_LEN`] bytes the patterns are: the value itself;
//! its base64 (standard and URL-safe alphabets, padded and unpadded); its hex (lower and upper
//! case); its percent-encoding (RFC 3986 unreserved bytes kept, or also `/` kept as Python's
//! `quote()` does; `%2b` and `%2B`; space as `%20` or `+`), and every byte percent-encoded;
//! the value as a JSON string body (`\/`, `\"`, `\\` escaped); and the base64 characters
//! that depend on the value alone when it sits inside a longer encoded text (at each of the
//! three byte alignments: HTTP Basic's `user:value`, say); and the value as a reader of
//! scry may be shown it: whitespace runs folded to one space, ASCII lower-cased, without `[`
//! and `]` (each when it differs and keeps [`MIN_MASKED_LEN`] bytes). Shorter values are not masked:
//! masking "ab" would shred ordinary output, and an empty value would match everywhere.
//!
//! Matching is leftmost-longest. The stream holds back only the longest suffix of what it has
//! seen that is a proper prefix of some pattern (so a value split across two writes is still
//! caught); everything before it is passed on at once, so interactive programs stay
//! interactive. At end of stream the held-back bytes are flushed (masked if they match).
//!
//! Not covered: a value inside a longer hex blob at an odd nibble, values escaped by a shell,
//! a value split between stdout and stderr, and output broken into lines by the program itself
//! (e.g. base64 wrapped at 76 columns). Masking guards against accidents; it is not a wall
//! against a child that wants to leak (holding back a possible prefix is itself observable).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;
use zeroize::Zeroizing;

/// What a masked value becomes.
pub const REPLACEMENT: &[u8] = b"<concealed by patina>";

/// Values shorter than this are not masked (see the module docs).
pub const MIN_MASKED_LEN: usize = 4;

/// How many bytes [`MaskStream::push`] scans at a time (bounds the held-back buffer).
const CHUNK: usize = 16 * 1024;

struct Patterns {
    /// Every pattern, deduplicated. Zeroized on drop.
    list: Vec<Zeroizing<Vec<u8>>>,
    /// For each first byte, the indices of the patterns starting with it.
    by_first: Vec<Vec<u32>>,
    /// The longest pattern's length.
    max_len: usize,
}

/// A set of secret values to conceal. Cheap to clone (shared); `Debug` shows only how many
/// patterns it holds.
#[derive(Clone)]
pub struct Masker {
    p: Arc<Patterns>,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Masker([redacted] {} patterns)", self.p.list.len())
    }
}

impl Masker {
    /// A masker for these values (values shorter than [`MIN_MASKED_LEN`] are skipped).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Masker {
        let mut list: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for v in values {
            if v.len() < MIN_MASKED_LEN {
                continue;
            }
            for p in forms(v) {
                if !list.iter().any(|q| **q == *p) {
                    list.push(p);
                }
            }
        }
        let mut by_first = vec![Vec::new(); 256];
        for (i, p) in list.iter().enumerate() {
            by_first[p[0] as usize].push(i as u32);
        }
        let max_len = list.iter().map(|p| p.len()).max().unwrap_or(0);
        Masker {
            p: Arc::new(Patterns {
                list,
                by_first,
                max_len,
            }),
        }
    }

    /// Whether it masks nothing.
    pub fn is_empty(&self) -> bool {
        self.p.list.is_empty()
    }

    /// A streaming filter over this masker.
    pub fn stream(&self) -> MaskStream {
        MaskStream {
            masker: self.clone(),
            pending: Zeroizing::new(Vec::with_capacity(CHUNK + self.p.max_len)),
        }
    }

    /// Masks a complete buffer.
    pub fn mask(&self, input: &[u8]) -> Vec<u8> {
        let mut s = self.stream();
        let mut out = Vec::with_capacity(input.len());
        s.push(input, &mut out);
        s.finish(&mut out);
        out
    }

    /// Copies `r` to `w` through a [`MaskStream`], writing and flushing each piece as soon as
    /// it is known not to be (the start of) a secret. Returns at end of input, or at the
    /// first write error (so a closed reader of `w` stops the copy, as in a shell pipe).
    pub fn copy(&self, mut r: impl Read, mut w: impl Write) -> io::Result<()> {
        let mut s = self.stream();
        let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
        let mut out = Vec::with_capacity(CHUNK + REPLACEMENT.len());
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.clear();
            s.push(&buf[..n], &mut out);
            if !out.is_empty() {
                w.write_all(&out)?;
                w.flush()?;
            }
        }
        out.clear();
        s.finish(&mut out);
        w.write_all(&out)?;
        w.flush()
    }
}

/// The patterns of one value: the byte strings the module docs list (the value, its base64,
/// hex, percent and JSON forms, the embedded-base64 runs and the reader-visible variants), in
/// a fixed order, possibly with repeats. Public for the fuzz targets (`fuzz/`), which check
/// the stream against a plain leftmost-longest search for these patterns; zeroized on drop.
pub fn forms(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> = vec![Zeroizing::new(v.to_vec())];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(Zeroizing::new(engine.encode(v).into_bytes()));
    }
    // Base64 of the value inside a longer encoded text (HTTP Basic's `user:value`, say): at
    // each of the three byte alignments, the characters that depend on the value alone.
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for k in 0..3usize {
            let mut buf = Zeroizing::new(vec![0u8; k]);
            buf.extend_from_slice(v);
            let enc = Zeroizing::new(engine.encode(&buf[..]).into_bytes());
            let front = (8 * k).div_ceil(6);
            let back = usize::from(!(8 * (k + v.len())).is_multiple_of(6));
            if enc.len() >= front + back + MIN_EMBEDDED_BASE64 {
                out.push(Zeroizing::new(enc[front..enc.len() - back].to_vec()));
            }
        }
    }
    // The value as a JSON string body (`\/`, `\"`, `\\` escapes), when that differs.
    let json = json_escaped(v);
    if json[..] != *v {
        out.push(json);
    }
    for upper in [false, true] {
        out.push(Zeroizing::new(hex(v, upper)));
        // Every byte percent-encoded.
        out.push(Zeroizing::new(
            v.iter()
                .flat_map(|&b| [b'%', hex_digit(b >> 4, upper), hex_digit(b & 15, upper)])
                .collect(),
        ));
        for keep_slash in [false, true] {
            for plus_for_space in [false, true] {
                out.push(Zeroizing::new(percent(
                    v,
                    upper,
                    keep_slash,
                    plus_for_space,
                )));
            }
        }
    }
    // How a reader may be shown the value instead: scry folds whitespace runs in snippets to
    // one space, lower-cases front matter `type` into a hit's `kind`, and redacts snippets
    // also with their highlight brackets removed (so a value holding brackets must be looked
    // for without them too).
    for variant in [
        folded_whitespace(v),
        Zeroizing::new(v.to_ascii_lowercase()),
        Zeroizing::new(
            v.iter()
                .copied()
                .filter(|b| !matches!(b, b'[' | b']'))
                .collect(),
        ),
    ] {
        if variant[..] != *v && variant.len() >= MIN_MASKED_LEN {
            out.push(variant);
        }
    }
    out
}

/// `v` with every run of ASCII whitespace made one space, trimmed (as scry shows snippets).
fn folded_whitespace(v: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(v.len()));
    for word in v
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
    out
}

/// The shortest base64 run derived from a value embedded in a longer text that is masked:
/// shorter runs would match ordinary base64 by chance.
const MIN_EMBEDDED_BASE64: usize = 8;

fn json_escaped(v: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut s = Zeroizing::new(Vec::with_capacity(v.len() + 8));
    for &b in v {
        match b {
            b'/' | b'"' | b'\\' => s.extend_from_slice(&[b'\\', b]),
            _ => s.push(b),
        }
    }
    s
}

use crate::text::hex_digit;

/// [`crate::text::hex`], as bytes (no copy: the string's buffer is taken over).
fn hex(v: &[u8], upper: bool) -> Vec<u8> {
    crate::text::hex(v, upper).into_bytes()
}

fn percent(v: &[u8], upper: bool, keep_slash: bool, plus_for_space: bool) -> Vec<u8> {
    let mut s = Vec::with_capacity(v.len() * 3);
    for &b in v {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            s.push(b);
        } else if plus_for_space && b == b' ' {
            s.push(b'+');
        } else {
            s.extend_from_slice(&[b'%', hex_digit(b >> 4, upper), hex_digit(b & 15, upper)]);
        }
    }
    s
}

/// The state of one masked stream: the bytes held back because they may begin a secret
/// (fewer than the longest pattern). Zeroized on drop.
pub struct MaskStream {
    masker: Masker,
    pending: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for MaskStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MaskStream([redacted] {} bytes held)",
            self.pending.len()
        )
    }
}

impl MaskStream {
    /// Feeds `input`, appending to `out` everything that can be decided now.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.masker.is_empty() {
            out.extend_from_slice(input);
            return;
        }
        for chunk in input.chunks(CHUNK) {
            // `pending` was allocated for CHUNK + max_len and holds < max_len bytes here, so
            // this never reallocates (no stray copy of a secret's prefix).
            self.pending.extend_from_slice(chunk);
            let used = scan(&self.masker.p, &self.pending, false, out);
            self.pending.drain(..used);
        }
    }

    /// Ends the stream: flushes what was held back, masking any complete match in it.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let used = scan(&self.masker.p, &self.pending, true, out);
        debug_assert_eq!(used, self.pending.len());
        self.pending.clear();
    }

    /// How many bytes are held back now.
    pub fn held(&self) -> usize {
        self.pending.len()
    }
}

/// Scans `buf`, appending the decided output to `out`; returns how many bytes of `buf` were
/// consumed. Stops (unless `eof`) at the first position whose remainder is a proper prefix of
/// a pattern longer than any complete match there.
fn scan(p: &Patterns, buf: &[u8], eof: bool, out: &mut Vec<u8>) -> usize {
    let mut i = 0;
    let mut flushed = 0;
    while i < buf.len() {
        let candidates = &p.by_first[buf[i] as usize];
        if candidates.is_empty() {
            i += 1;
            continue;
        }
        let rest = &buf[i..];
        let mut full = 0;
        let mut may_grow = false;
        for &c in candidates {
            let pat = &p.list[c as usize];
            if rest.len() >= pat.len() {
                if rest[..pat.len()] == pat[..] && pat.len() > full {
                    full = pat.len();
                }
            } else if !eof && pat.starts_with(rest) {
                may_grow = true;
            }
        }
        if may_grow {
            break;
        }
        if full > 0 {
            out.extend_from_slice(&buf[flushed..i]);
            out.extend_from_slice(REPLACEMENT);
            i += full;
            flushed = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&buf[flushed..i]);
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "Pc4n4ry-7f3e9c1d+x/y=z";

    fn masker() -> Masker {
        Masker::new([CANARY.as_bytes()])
    }

    fn through(m: &Masker, pieces: &[&[u8]]) -> Vec<u8> {
        let mut s = m.stream();
        let mut out = Vec::new();
        for p in pieces {
            s.push(p, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn embedded_base64_json_and_full_percent_forms_are_concealed() {
        let m = masker();
        let v = CANARY.as_bytes();
        for prefix in ["", "x", "deploy:", "ab"] {
            let mut buf = prefix.as_bytes().to_vec();
            buf.extend_from_slice(v);
            buf.extend_from_slice(b"tail");
            for enc in [STANDARD.encode(&buf), URL_SAFE_NO_PAD.encode(&buf)] {
                let out = through(&m, &[enc.as_bytes()]);
                assert!(
                    !String::from_utf8_lossy(&out)
                        .contains(&enc[enc.len() / 2 - 4..enc.len() / 2 + 4]),
                    "prefix {prefix:?}: {}",
                    String::from_utf8_lossy(&out)
                );
                assert!(out.windows(REPLACEMENT.len()).any(|w| w == REPLACEMENT));
            }
        }
        let json = CANARY.replace('/', "\\/");
        let full: String = v.iter().map(|b| format!("%{b:02X}")).collect();
        for form in [json, full.clone(), full.to_lowercase()] {
            let out = through(&m, &[form.as_bytes()]);
            assert_eq!(out, REPLACEMENT, "{form}");
        }
    }

    #[test]
    fn every_form_is_concealed() {
        let m = masker();
        let v = CANARY.as_bytes();
        let forms = [
            v.to_vec(),
            STANDARD.encode(v).into_bytes(),
            STANDARD_NO_PAD.encode(v).into_bytes(),
            URL_SAFE.encode(v).into_bytes(),
            URL_SAFE_NO_PAD.encode(v).into_bytes(),
            hex(v, false),
            hex(v, true),
            b"Pc4n4ry-7f3e9c1d%2Bx%2Fy%3Dz".to_vec(),
            b"Pc4n4ry-7f3e9c1d%2bx%2fy%3dz".to_vec(),
            b"Pc4n4ry-7f3e9c1d%2Bx/y%3Dz".to_vec(),
        ];
        for f in forms {
            let mut input = b"a=".to_vec();
            input.extend_from_slice(&f);
            input.extend_from_slice(b"; b");
            let out = m.mask(&input);
            assert_eq!(
                out,
                b"a=<concealed by patina>; b",
                "{}",
                String::from_utf8_lossy(&f)
            );
        }
    }

    #[test]
    fn a_value_split_anywhere_is_concealed() {
        let m = masker();
        let input = format!("x {CANARY} y {CANARY}");
        let b = input.as_bytes();
        for cut in 0..b.len() {
            let out = through(&m, &[&b[..cut], &b[cut..]]);
            assert_eq!(
                out, b"x <concealed by patina> y <concealed by patina>",
                "cut {cut}"
            );
        }
        let bytes: Vec<&[u8]> = b.chunks(1).collect();
        assert_eq!(
            through(&m, &bytes),
            b"x <concealed by patina> y <concealed by patina>"
        );
    }

    #[test]
    fn padded_base64_wins_over_unpadded() {
        let m = masker();
        let padded = STANDARD.encode(CANARY);
        assert!(padded.ends_with('='));
        let out = through(&m, &[padded.as_bytes(), b"\n"]);
        assert_eq!(out, b"<concealed by patina>\n");
        // Unpadded followed by something else.
        let unpadded = STANDARD_NO_PAD.encode(CANARY);
        let out = through(&m, &[unpadded.as_bytes(), b"!"]);
        assert_eq!(out, b"<concealed by patina>!");
    }

    #[test]
    fn clean_output_passes_at_once_and_byte_identical() {
        let m = masker();
        let mut s = m.stream();
        let mut out = Vec::new();
        s.push(b"hello\n", &mut out);
        assert_eq!(out, b"hello\n", "nothing that can start a secret is held");
        let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        assert_eq!(m.mask(&binary), binary);
    }

    #[test]
    fn only_a_possible_prefix_is_held_and_flushed_at_eof() {
        let m = masker();
        let mut s = m.stream();
        let mut out = Vec::new();
        s.push(b"prompt> Pc4n4", &mut out);
        assert_eq!(out, b"prompt> ");
        assert_eq!(s.held(), 5);
        s.push(b"x", &mut out);
        assert_eq!(
            out, b"prompt> Pc4n4x",
            "not a secret after all: released at once"
        );
        s.push(b"Pc4", &mut out);
        s.finish(&mut out);
        assert_eq!(out, b"prompt> Pc4n4xPc4");
    }

    #[test]
    fn short_and_empty_values_are_not_masked() {
        let m = Masker::new([&b""[..], b"ab", b"abc"]);
        assert!(m.is_empty());
        assert_eq!(m.mask(b"abcabc"), b"abcabc");
        let m = Masker::new([&b"abcd"[..]]);
        assert_eq!(m.mask(b"xabcdx"), b"x<concealed by patina>x");
        assert!(!format!("{m:?}").contains("abcd"));
    }

    #[test]
    fn overlapping_values_take_the_longest() {
        let m = Masker::new([&b"secret"[..], b"secret-longer"]);
        assert_eq!(
            m.mask(b"a secret-longer b secret c"),
            b"a <concealed by patina> b <concealed by patina> c"
        );
    }

    #[test]
    fn copy_stops_at_a_closed_writer() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = masker().copy(&b"data"[..], Closed).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
