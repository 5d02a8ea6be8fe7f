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
//! Transforms that ordinary tools apply by accident are covered too (issue 16): the value
//! upper-cased (`tr a-z A-Z`; lower-cased is above); its standard base64 wrapped at 76
//! columns as GNU `base64` prints it, at every column the value can start at; and hex dumps
//! — `xxd`, `hexdump -C` and `od -c` lines (with their offset column) are decoded by
//! [`DumpStage`], and every line holding a byte of a value, in its hex or its text column, is
//! replaced by its offset and the replacement, across as many lines as the value spans.
//!
//! Masking is a guard against accidents, not a wall against a child that wants to leak: any
//! transform not listed (`rev`, a shell's escapes, `od -x`, a value split between stdout and
//! stderr, a value inside a longer hex blob at an odd nibble, output written to a file or to a
//! file descriptor other than 1 and 2) passes, and holding back a possible prefix is itself
//! observable.

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

/// The guessing work, in bits, below which a part of a known value is never redacted on its
/// own (`secrets::scan`'s module docs, "No oracle").
pub const PARTIAL_BITS: f64 = 64.0;

/// The bits per character of a value of random characters of `value`'s classes, ASCII case
/// ignored: hex digits only 16 symbols, digits only 10; else the sum of the classes present —
/// letters 26, digits 10, ASCII punctuation 32, whitespace 1, other bytes 128.
pub fn bits_per_char(value: &[u8]) -> f64 {
    let (mut letters, mut digits, mut punct, mut space, mut other, mut non_hex) =
        (false, false, false, false, false, false);
    for &b in value {
        let c = b.to_ascii_lowercase();
        match c {
            b'a'..=b'z' => {
                letters = true;
                non_hex |= c > b'f';
            }
            b'0'..=b'9' => digits = true,
            b' ' | b'\t' | b'\n' | b'\r' => space = true,
            0x21..=0x7e => punct = true,
            _ => other = true,
        }
    }
    let alphabet = if !non_hex && !punct && !space && !other && letters {
        16
    } else {
        26 * usize::from(letters)
            + 10 * usize::from(digits)
            + 32 * usize::from(punct)
            + usize::from(space)
            + 128 * usize::from(other)
    };
    (alphabet.max(2) as f64).log2()
}

/// The shortest part of `value` that is redacted when it is not whole (cut at a text's
/// edge): enough characters that guessing them is at least [`PARTIAL_BITS`] bits of work
/// ([`bits_per_char`]), and never fewer than [`MIN_MASKED_LEN`].
pub fn partial_min(value: &[u8]) -> usize {
    ((PARTIAL_BITS / bits_per_char(value)).ceil() as usize).max(MIN_MASKED_LEN)
}

/// The length of the pieces of `value` redacted anywhere in a text: [`partial_min`], and at
/// least [`PIECE`].
pub fn piece_len(value: &[u8]) -> usize {
    partial_min(value).max(PIECE)
}

/// Where the pieces of a `len`-byte text start when it is cut into `n`-byte pieces
/// ([`piece_len`]) to be redacted wherever they appear: every `⌈n/2⌉` bytes from 0, and the
/// last `n` bytes; none when `len < n`. Not every window: with every window, a reader who
/// knows `n − 1` bytes of a value (a public prefix such as `sk-ant-api03-`) could write them
/// beside each guess of the next byte and see which guess is redacted, one byte at a time
/// (QA session 9, H1). With this stride the next piece needs `⌈n/2⌉` unknown bytes, at
/// least `PARTIAL_BITS / 2` = 32 bits of guessing, and any part of the value at least
/// `n + ⌈n/2⌉ − 1` bytes long still holds a whole piece.
pub fn piece_offsets(len: usize, n: usize) -> Vec<usize> {
    if n == 0 || len < n {
        return Vec::new();
    }
    let mut out: Vec<usize> = (0..=len - n).step_by(n.div_ceil(2)).collect();
    if out.last() != Some(&(len - n)) {
        out.push(len - n);
    }
    out
}

/// The shortest piece of a known value that is redacted wherever it appears in a text (not
/// only whole, or cut at the text's edge): the middle of a long value shown alone in a
/// snippet. Shorter pieces would match ordinary words.
pub const PIECE: usize = 12;

/// How many bytes [`MaskStream::push`] scans at a time (bounds the held-back buffer).
const CHUNK: usize = 16 * 1024;

struct Patterns {
    /// Every pattern, deduplicated. Zeroized on drop.
    list: Vec<Zeroizing<Vec<u8>>>,
    /// For each first byte, the indices of the patterns starting with it.
    by_first: Vec<Vec<u32>>,
    /// The longest pattern's length.
    max_len: usize,
    /// The values themselves, for [`DumpStage`] (which matches decoded bytes).
    raw: Vec<Zeroizing<Vec<u8>>>,
    /// The longest value's length.
    max_raw: usize,
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
        let mut raw: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for v in values {
            if v.len() < MIN_MASKED_LEN {
                continue;
            }
            raw.push(Zeroizing::new(v.to_vec()));
            for mut p in output_forms(v) {
                // Matched ignoring ASCII case (`tr a-f A-F`): kept lower-cased.
                p.make_ascii_lowercase();
                if !list.iter().any(|q| **q == *p) {
                    list.push(p);
                }
            }
        }
        let mut by_first = vec![Vec::new(); 256];
        for (i, p) in list.iter().enumerate() {
            by_first[p[0] as usize].push(i as u32);
            if p[0].is_ascii_lowercase() {
                by_first[p[0].to_ascii_uppercase() as usize].push(i as u32);
            }
        }
        let max_len = list.iter().map(|p| p.len()).max().unwrap_or(0);
        let max_raw = raw.iter().map(|v| v.len()).max().unwrap_or(0);
        Masker {
            p: Arc::new(Patterns {
                list,
                by_first,
                max_len,
                raw,
                max_raw,
            }),
        }
    }

    /// The same masker without the hex-dump stage ([`DumpStage`]): patterns only. For the
    /// fuzz target, whose reference is a plain search for [`output_forms`].
    pub fn patterns_only(&self) -> Masker {
        let p = &self.p;
        Masker {
            p: Arc::new(Patterns {
                list: p.list.clone(),
                by_first: p.by_first.clone(),
                max_len: p.max_len,
                raw: Vec::new(),
                max_raw: 0,
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
            dump: DumpStage::default(),
            staged: Zeroizing::new(Vec::new()),
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

/// The patterns [`Masker`] looks for in output: [`forms`], and the forms only output takes
/// by accident — the value upper-cased and reversed, its standard base64 wrapped at 76
/// columns, and its hex wrapped at 60 (`xxd -p`).
/// Public for the fuzz target (`fuzz/fuzz_targets/mask_stream.rs`), which checks the pattern
/// stage against a plain search for these.
pub fn output_forms(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out = cased_forms(v);
    out.extend(wrapped_base64(v));
    out.extend(wrapped_hex(v));
    out.extend(truncations(v));
    out
}

/// The longest value whose every piece is a pattern of its own ([`truncations`]); a longer
/// value has only its prefixes and suffixes (the patterns grow with the square of the
/// length).
pub const MAX_PIECED_LEN: usize = 64;

/// The value cut (`cut -c1-30`, `head -c`, a column cut short): every part of it of at least
/// [`piece_len`] bytes — at least 64 bits of guessing work, the rule
/// scry's redaction and the guard's hold use — when the value is at most
/// [`MAX_PIECED_LEN`] bytes; for a longer one its prefixes and suffixes of that length or
/// more. Leftmost-longest matching then masks the longest part shown.
pub fn truncations(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let n = piece_len(v);
    let mut out = Vec::new();
    if v.len() <= n {
        return out;
    }
    for start in 0..=v.len() - n {
        for end in start + n..=v.len() {
            let whole = start == 0 && end == v.len();
            let edge = start == 0 || end == v.len();
            if !whole && (edge || v.len() <= MAX_PIECED_LEN) {
                out.push(Zeroizing::new(v[start..end].to_vec()));
            }
        }
    }
    out
}

/// [`forms`], the value upper-cased (`tr a-z A-Z`; lower-cased is in [`forms`]) and
/// reversed (`rev`: by character when the value is UTF-8, else by byte): what the guard's
/// scan hold keeps of a value (`guard::hold`). The 76-column wrapped base64 of
/// [`output_forms`] is left out there: ~40 more forms per value would widen every slot of
/// the hold, and the guard joins wrapped base64 lines before scanning instead
/// (`guard::views`), which also covers the other line widths.
pub fn cased_forms(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out = forms(v);
    let upper = Zeroizing::new(v.to_ascii_uppercase());
    if upper[..] != *v {
        out.push(upper);
    }
    let reversed = Zeroizing::new(match std::str::from_utf8(v) {
        Ok(s) => s.chars().rev().collect::<String>().into_bytes(),
        Err(_) => v.iter().rev().copied().collect(),
    });
    if reversed[..] != *v {
        out.push(reversed);
    }
    out
}

/// [`cased_forms`] and the rarer forms only the guard's scan hold and scry's redaction look
/// for (each one entry per value, so cheap there; not masked by `secrets run`): the hex of the
/// reversed value, the hex of its UTF-16LE code units (`iconv -t UTF-16LE | xxd -p`), its
/// base32 (RFC 4648, padded and not) and its ROT13 (`tr A-Za-z N-ZA-Mn-za-m`). The hold
/// ignores ASCII case, so lower-case forms stand for every casing.
pub fn held_forms(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out = cased_forms(v);
    let reversed = Zeroizing::new(match std::str::from_utf8(v) {
        Ok(s) => s.chars().rev().collect::<String>().into_bytes(),
        Err(_) => v.iter().rev().copied().collect(),
    });
    out.push(Zeroizing::new(hex(&reversed, false)));
    if let Ok(s) = std::str::from_utf8(v) {
        let units: Zeroizing<Vec<u8>> =
            Zeroizing::new(s.encode_utf16().flat_map(u16::to_le_bytes).collect());
        out.push(Zeroizing::new(hex(&units, false)));
    }
    let b32 = base32(v);
    let unpadded = Zeroizing::new(b32.iter().copied().filter(|&c| c != b'=').collect());
    out.push(b32);
    out.push(unpadded);
    let rot13: Zeroizing<Vec<u8>> = Zeroizing::new(
        v.iter()
            .map(|&b| match b {
                b'a'..=b'z' => (b - b'a' + 13) % 26 + b'a',
                b'A'..=b'Z' => (b - b'A' + 13) % 26 + b'A',
                _ => b,
            })
            .collect(),
    );
    if rot13[..] != *v {
        out.push(rot13);
    }
    out
}

/// RFC 4648 base32 (upper case, `=` padded).
fn base32(v: &[u8]) -> Zeroizing<Vec<u8>> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Zeroizing::new(Vec::with_capacity(v.len().div_ceil(5) * 8));
    for chunk in v.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(ALPHABET[((n >> (35 - 5 * i)) & 31) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// `xxd -p` (plain hex dump) writes this many hex digits per line (30 bytes).
pub const XXD_PLAIN_WRAP: usize = 60;

/// The value's lowercase hex with a newline wherever a line of [`XXD_PLAIN_WRAP`] digits
/// ends, for every byte-aligned column it can start at; only forms a newline actually splits
/// (the others are the plain hex of [`forms`]).
fn wrapped_hex(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let h = Zeroizing::new(crate::text::hex(v, false).into_bytes());
    let mut out = Vec::new();
    for col in (0..XXD_PLAIN_WRAP).step_by(2) {
        if col + h.len() <= XXD_PLAIN_WRAP {
            continue;
        }
        out.push(wrap(&h, col, XXD_PLAIN_WRAP));
    }
    out
}

/// `run` as a tool wrapping at `width` columns prints it when it starts at column `col`: a
/// newline wherever a line ends.
fn wrap(run: &[u8], col: usize, width: usize) -> Zeroizing<Vec<u8>> {
    let mut w = Zeroizing::new(Vec::with_capacity(run.len() + run.len() / width + 2));
    let mut c = col;
    for &b in run {
        if c == width {
            w.push(b'\n');
            c = 0;
        }
        w.push(b);
        c += 1;
    }
    w
}

/// GNU `base64` (coreutils) wraps its output at this column by default.
pub const BASE64_WRAP: usize = 76;

/// The standard base64 characters that depend on `v` alone, at each of the three byte
/// alignments, with a newline inserted wherever a line of [`BASE64_WRAP`] columns ends, for
/// every column the run can start at (a multiple of 4 plus the alignment's offset). Only runs
/// that a newline actually splits are returned (the others are in [`forms`]).
fn wrapped_base64(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out = Vec::new();
    for k in 0..3usize {
        let mut buf = Zeroizing::new(vec![0u8; k]);
        buf.extend_from_slice(v);
        let enc = Zeroizing::new(STANDARD.encode(&buf[..]).into_bytes());
        let front = (8 * k).div_ceil(6);
        // Padded: the value ends the input, so its last group and the `=` depend on it
        // alone. Unpadded: more data follows; the last character that mixes in the next
        // bytes, and the padding, are left out.
        let pad = enc.iter().rev().take_while(|&&c| c == b'=').count();
        let partial = usize::from(!(8 * (k + v.len())).is_multiple_of(6));
        for padded in [true, false] {
            let back = if padded { 0 } else { pad + partial };
            let run = &enc[front..enc.len() - back];
            if run.len() < MIN_EMBEDDED_BASE64 {
                continue;
            }
            for group in 0..BASE64_WRAP / 4 {
                let col = 4 * group + front;
                if col + run.len() <= BASE64_WRAP {
                    continue;
                }
                out.push(wrap(run, col, BASE64_WRAP));
            }
        }
    }
    out
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
    /// The hex-dump stage, which sees the output first.
    dump: DumpStage,
    /// What the dump stage let through, before the pattern scan.
    staged: Zeroizing<Vec<u8>>,
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
            self.staged.clear();
            self.dump.push(&self.masker.p, chunk, &mut self.staged);
            self.scan_staged(out);
        }
    }

    /// The pattern scan over what the dump stage let through.
    fn scan_staged(&mut self, out: &mut Vec<u8>) {
        for piece in self.staged.chunks(CHUNK) {
            // `pending` holds < max_len bytes here; reserving first means the extend never
            // reallocates behind `Zeroizing` (no stray copy of a secret's prefix).
            self.pending.reserve(piece.len());
            self.pending.extend_from_slice(piece);
            let used = scan(&self.masker.p, &self.pending, false, out);
            self.pending.drain(..used);
        }
    }

    /// Ends the stream: flushes what was held back, masking any complete match in it.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.masker.is_empty() {
            return;
        }
        self.staged.clear();
        self.dump.finish(&self.masker.p, &mut self.staged);
        self.scan_staged(out);
        let used = scan(&self.masker.p, &self.pending, true, out);
        debug_assert_eq!(used, self.pending.len());
        self.pending.clear();
    }

    /// How many bytes are held back now.
    pub fn held(&self) -> usize {
        self.pending.len() + self.dump.held()
    }
}

/// Which hex-dump format a line is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// `xxd`: `00000000: 5063 346e …  Pc4n…`.
    Xxd,
    /// `hexdump -C`: `00000000  50 63 34 6e …  |Pc4n…|`.
    Canonical,
    /// `od -c`: `0000000   P   c   4   n …` (octal offset, 4-column fields).
    OdChars,
}

/// One complete dump line held back: its text, where its decoded bytes sit in the run, and
/// where its data starts (what is kept of a masked line is the offset column before it).
struct HeldLine {
    text: Zeroizing<Vec<u8>>,
    start: usize,
    end: usize,
    data_start: usize,
    masked: bool,
}

/// The layout of the dump lines of a run: one of the formats of [`parse_dump_line`], or
/// group runs of a token length ([`parse_group_line`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Dump(DumpKind),
    Groups(usize),
}

/// The stage that sees hex dumps. A line that may be a dump line (it starts like one) is held
/// until its newline; complete dump lines of one format in a row are decoded into a run of
/// bytes (for group dumps also with each group's bytes reversed: `od -x` prints
/// little-endian words), searched for every value (ASCII case ignored), and held while a
/// value could still continue into the next line. A held line that holds a byte of a value
/// is written as its offset column and [`REPLACEMENT`]. Any other line passes at once (its
/// bytes are not held past the point where it can no longer be a dump line).
#[derive(Default)]
pub struct DumpStage {
    partial: Zeroizing<Vec<u8>>,
    /// The current line is not a dump line: pass its bytes until the newline.
    passing: bool,
    held: Vec<HeldLine>,
    run: Zeroizing<Vec<u8>>,
    /// The run with each group's bytes reversed (group dumps only).
    swapped: Zeroizing<Vec<u8>>,
    kind: Option<LineKind>,
}

/// A line longer than this is not a dump line (the formats print at most ~150 columns:
/// `xxd -b`, `hexdump -x`).
const MAX_DUMP_LINE: usize = 160;

impl DumpStage {
    fn held(&self) -> usize {
        self.partial.len() + self.held.iter().map(|h| h.text.len()).sum::<usize>()
    }

    fn push(&mut self, p: &Patterns, mut input: &[u8], out: &mut Vec<u8>) {
        if p.raw.is_empty() {
            // No value to look for in dumps ([`Masker::patterns_only`]): nothing is held.
            out.extend_from_slice(input);
            return;
        }
        while !input.is_empty() {
            if self.passing {
                match input.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        out.extend_from_slice(&input[..=i]);
                        self.passing = false;
                        input = &input[i + 1..];
                    }
                    None => {
                        out.extend_from_slice(input);
                        return;
                    }
                }
                continue;
            }
            let (piece, complete) = match input.iter().position(|&b| b == b'\n') {
                Some(i) => (&input[..=i], true),
                None => (input, false),
            };
            input = &input[piece.len()..];
            self.partial.reserve(piece.len());
            self.partial.extend_from_slice(piece);
            if complete {
                let line = std::mem::take(&mut self.partial);
                self.complete_line(p, line, out);
            } else if !self.may_start(&self.partial) || self.partial.len() > MAX_DUMP_LINE {
                self.flush(out);
                out.extend_from_slice(&self.partial);
                self.partial.clear();
                self.passing = true;
            }
        }
    }

    /// Whether `p` (a line so far) can still become a dump line.
    fn may_start(&self, p: &[u8]) -> bool {
        if may_start_dump_line(p) {
            return true;
        }
        // Group dumps: only digits, `x`, `:`, `,` and blanks so far, or group runs before
        // the first other byte (then a text column may follow: `od -tx1z`).
        let groupish = |b: &u8| b.is_ascii_hexdigit() || b" \txX:,".contains(b);
        match p.iter().position(|b| !groupish(b)) {
            None => true,
            Some(k) => {
                let before = match self.kind {
                    Some(LineKind::Groups(n)) => Some(n),
                    _ => None,
                };
                parse_group_line(&p[..k], before).is_some()
            }
        }
    }

    /// Decides a complete line: a dump line joins the run, any other passes.
    fn complete_line(&mut self, p: &Patterns, line: Zeroizing<Vec<u8>>, out: &mut Vec<u8>) {
        if line.len() <= MAX_DUMP_LINE + 1 {
            if let Some((kind, bytes)) = parse_dump_line(&line) {
                let bytes = Zeroizing::new(bytes);
                let start = kind.data_start();
                self.add_line(p, LineKind::Dump(kind), line, &bytes, None, start, out);
                return;
            }
            let before = match self.kind {
                Some(LineKind::Groups(n)) => Some(n),
                _ => None,
            };
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            if let Some(g) = parse_group_line(body, before) {
                let ordered: Zeroizing<Vec<u8>> = Zeroizing::new(
                    g.runs
                        .iter()
                        .flat_map(|r| r.ordered.iter().copied())
                        .collect(),
                );
                let swapped: Zeroizing<Vec<u8>> = Zeroizing::new(
                    g.runs
                        .iter()
                        .flat_map(|r| r.swapped.iter().copied())
                        .collect(),
                );
                let start = g.runs.first().map_or(0, |r| r.span.0);
                let kind = LineKind::Groups(g.digits);
                self.add_line(p, kind, line, &ordered, Some(&swapped), start, out);
                return;
            }
        }
        self.flush(out);
        out.extend_from_slice(&line);
    }

    fn finish(&mut self, p: &Patterns, out: &mut Vec<u8>) {
        let line = std::mem::take(&mut self.partial);
        if !line.is_empty() {
            self.complete_line(p, line, out);
        }
        self.flush(out);
        self.passing = false;
    }

    #[allow(clippy::too_many_arguments)]
    fn add_line(
        &mut self,
        p: &Patterns,
        kind: LineKind,
        text: Zeroizing<Vec<u8>>,
        bytes: &[u8],
        swapped: Option<&[u8]>,
        data_start: usize,
        out: &mut Vec<u8>,
    ) {
        if self.kind != Some(kind) {
            self.flush(out);
            self.kind = Some(kind);
        }
        let start = self.run.len();
        self.run.reserve(bytes.len());
        self.run.extend_from_slice(bytes);
        if let Some(sw) = swapped {
            self.swapped.reserve(sw.len());
            self.swapped.extend_from_slice(sw);
        }
        self.held.push(HeldLine {
            text,
            start,
            end: self.run.len(),
            data_start,
            masked: false,
        });
        if let Some(h) = self.held.last_mut() {
            h.data_start = h.data_start.min(h.text.len());
        }
        // Matches that end in the new bytes, in either byte order.
        let from = start.saturating_sub(p.max_raw.saturating_sub(1));
        for run in [&self.run, &self.swapped] {
            if run.len() != self.run.len() {
                continue;
            }
            for v in &p.raw {
                let n = v.len();
                if run.len() < n {
                    continue;
                }
                for pos in from..=run.len() - n {
                    if pos + n > start && run[pos..pos + n].eq_ignore_ascii_case(v) {
                        for h in &mut self.held {
                            if h.start < pos + n && pos < h.end {
                                h.masked = true;
                            }
                        }
                    }
                }
            }
        }
        // Lines no later match can reach are released.
        let keep_from = self.run.len().saturating_sub(p.max_raw.saturating_sub(1));
        let n_release = self.held.iter().take_while(|h| h.end <= keep_from).count();
        if n_release > 0 {
            let cut = self.held[n_release - 1].end;
            for h in self.held.drain(..n_release) {
                emit(&h, kind, out);
            }
            self.run.drain(..cut);
            if !self.swapped.is_empty() {
                self.swapped.drain(..cut);
            }
            for h in &mut self.held {
                h.start -= cut;
                h.end -= cut;
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        if let Some(kind) = self.kind {
            for h in self.held.drain(..) {
                emit(&h, kind, out);
            }
        }
        self.held.clear();
        self.run.clear();
        self.swapped.clear();
        self.kind = None;
    }
}

/// Writes a held line: as it was, or its offset column and [`REPLACEMENT`].
fn emit(h: &HeldLine, kind: LineKind, out: &mut Vec<u8>) {
    if !h.masked {
        out.extend_from_slice(&h.text);
        return;
    }
    match kind {
        LineKind::Dump(DumpKind::Xxd | DumpKind::Canonical) => {
            out.extend_from_slice(&h.text[..8]);
            out.extend_from_slice(b"  ");
        }
        LineKind::Dump(DumpKind::OdChars) => {
            out.extend_from_slice(&h.text[..7]);
            out.extend_from_slice(b"  ");
        }
        LineKind::Groups(_) => out.extend_from_slice(&h.text[..h.data_start]),
    }
    out.extend_from_slice(REPLACEMENT);
    if h.text.ends_with(b"\n") {
        out.push(b'\n');
    }
}

/// Whether `p` (a line so far, without its newline) can still become a dump line: an offset
/// column of hex (xxd, hexdump) or octal (od) digits, then its separator.
fn may_start_dump_line(p: &[u8]) -> bool {
    let hex_head = |(i, &b): (usize, &u8)| match i {
        0..=7 => b.is_ascii_hexdigit(),
        8 => b == b':' || b == b' ',
        9 => b == b' ',
        _ => true,
    };
    let od_head = |(i, &b): (usize, &u8)| match i {
        0..=6 => (b'0'..=b'7').contains(&b),
        7 => b == b' ',
        _ => true,
    };
    p.iter().enumerate().all(hex_head) || p.iter().enumerate().all(od_head)
}

impl DumpKind {
    /// Where a line's data starts, in bytes: after the offset column and its separator
    /// (`00000000: `, `00000000  `, `0000000 `).
    pub fn data_start(self) -> usize {
        match self {
            DumpKind::Xxd | DumpKind::Canonical => 10,
            DumpKind::OdChars => 8,
        }
    }
}

/// Decodes one dump line (with or without its newline) into the bytes it shows; `None` when
/// it is not a line of a format [`DumpStage`] knows (`xxd`, `hexdump -C`, `od -c`). Shared
/// with the guard's views of a tool output (`guard::views`).
pub fn parse_dump_line(line: &[u8]) -> Option<(DumpKind, Vec<u8>)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    if line.len() >= 10 && line[..8].iter().all(u8::is_ascii_hexdigit) {
        if &line[8..10] == b": " {
            return parse_xxd(&line[10..]).map(|b| (DumpKind::Xxd, b));
        }
        if &line[8..10] == b"  " {
            return parse_canonical(&line[10..]).map(|b| (DumpKind::Canonical, b));
        }
    }
    if line.len() >= 8 && line[..7].iter().all(|b| (b'0'..=b'7').contains(b)) && line[7] == b' ' {
        return parse_od_chars(&line[7..]).map(|b| (DumpKind::OdChars, b));
    }
    None
}

/// One run of dump groups in a line ([`parse_group_line`]).
pub struct GroupRun {
    /// `[start, end)` of the run in the line: its first token's start to its last's end.
    pub span: (usize, usize),
    /// The bytes the tokens show, each token's as written (most significant first).
    pub ordered: Zeroizing<Vec<u8>>,
    /// The same with each token's bytes reversed (a little-endian word: `od -x`).
    pub swapped: Zeroizing<Vec<u8>>,
}

/// The group runs of one line of a dump ([`parse_group_line`]).
pub struct GroupLine {
    /// The digits of a full token of the line's runs (2 for bytes, 4 for 16-bit words, 3 or
    /// 6 for octal, 8 for `xxd -b`'s bits or 32-bit words).
    pub digits: usize,
    /// The runs, in order.
    pub runs: Vec<GroupRun>,
}

/// The value of one group token of a dump (`51`, `7a51`, `0x51`, `01010001`, `121`,
/// `075121`): its bytes as written (most significant first); `None` for anything else.
/// `binary` reads 8-digit tokens as bits (`xxd -b`).
fn group_token(tok: &[u8], binary: bool) -> Option<Vec<u8>> {
    let tok = tok
        .strip_prefix(b"0x")
        .or_else(|| tok.strip_prefix(b"0X"))
        .unwrap_or(tok);
    let octal = |t: &[u8]| t.iter().all(|b| (b'0'..=b'7').contains(b));
    match tok.len() {
        8 if binary => Some(vec![tok.iter().fold(0u8, |a, &b| (a << 1) | (b - b'0'))]),
        3 if octal(tok) && tok[0] <= b'3' => {
            Some(vec![tok.iter().fold(0u8, |a, &b| (a << 3) | (b - b'0'))])
        }
        6 if octal(tok) && tok[0] <= b'1' => {
            let w = tok
                .iter()
                .fold(0u16, |a, &b| (a << 3) | u16::from(b - b'0'));
            Some(w.to_be_bytes().to_vec())
        }
        n if (2..=16).contains(&n)
            && n.is_multiple_of(2)
            && tok.iter().all(u8::is_ascii_hexdigit) =>
        {
            Some(
                tok.chunks(2)
                    .map(|p| hex_val(p[0]).unwrap_or(0) << 4 | hex_val(p[1]).unwrap_or(0))
                    .collect(),
            )
        }
        _ => None,
    }
}

/// The digits of a group token (without `0x`).
fn token_digits(tok: &[u8]) -> usize {
    tok.len()
        - if tok.starts_with(b"0x") || tok.starts_with(b"0X") {
            2
        } else {
            0
        }
}

/// The runs of dump groups in `line`: tokens of one length that read as hex bytes or words
/// (`xxd -g N`, `od -x`, `od -An -tx1`, `hexdump`, `hexdump -x`, `od -tx1z`), C arrays
/// (`xxd -i`: `0x51, 0x7a`), colon-separated hex (`51:7a:39`), binary (`xxd -b`) or octal
/// (`od -b`, `od`), whatever the offset and text columns around them. Tokens are runs of
/// ASCII letters, digits and `:` (anything else separates: spaces, `,`, a snippet's `…`); a
/// token holding `:` inside is split there (`51:7a`), one ending in `:` (an offset column)
/// is not a group. A run is at least two tokens of one length (its last may be shorter: a
/// partial group) showing at least [`MIN_MASKED_LEN`] bytes — or, when the line before had
/// runs of the same length (`before`), any run (a dump's short last line). Runs of another
/// length than the line's first are left out (a text column). `None` without a run. Linear
/// in the line's length.
pub fn parse_group_line(b: &[u8], before: Option<usize>) -> Option<GroupLine> {
    // Cheap reject: no two hex digits in a row, no group.
    if !b
        .windows(2)
        .any(|w| w[0].is_ascii_hexdigit() && w[1].is_ascii_hexdigit())
    {
        return None;
    }
    let in_token = |c: u8| c.is_ascii_alphanumeric() || c == b':';
    let mut toks: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !in_token(b[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && in_token(b[i]) {
            i += 1;
        }
        let tok = &b[s..i];
        if tok.ends_with(b":") || !tok.contains(&b':') {
            toks.push((s, i));
        } else {
            let mut p = s;
            for part in tok.split(|&c| c == b':') {
                toks.push((p, p + part.len()));
                p += part.len() + 1;
            }
        }
    }
    let is_group = |t: (usize, usize)| group_token(&b[t.0..t.1], false).is_some();
    let mut digits: Option<usize> = None;
    let mut runs = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        if !is_group(toks[k]) {
            k += 1;
            continue;
        }
        let n = token_digits(&b[toks[k].0..toks[k].1]);
        // Groups are apart by blanks, `,` and `:` only (a UUID's `-` or a URL's `%` is not
        // a dump; `%51` escapes have a view of their own).
        let apart = |a: (usize, usize), c: (usize, usize)| {
            b[a.1..c.0]
                .iter()
                .all(|x| matches!(x, b' ' | b'\t' | b',' | b':'))
        };
        let mut j = k + 1;
        while j < toks.len()
            && token_digits(&b[toks[j].0..toks[j].1]) == n
            && is_group(toks[j])
            && apart(toks[j - 1], toks[j])
        {
            j += 1;
        }
        // A shorter last token one space after the run (a partial group: `xxd -g 4`'s
        // `3d7a`), or right-aligned in its group's width (`xxd -e`'s little-endian `0a7a3d`,
        // 1 + the missing digits away: QA session 9, M5); a text column is two spaces away.
        if j < toks.len() && is_group(toks[j]) {
            let m = token_digits(&b[toks[j].0..toks[j].1]);
            let gap = toks[j].0 - toks[j - 1].1;
            if m < n
                && m.is_multiple_of(2)
                && n.is_multiple_of(2)
                && (gap == 1 || gap == 1 + n - m)
                && b[toks[j - 1].1..toks[j].0].iter().all(|&c| c == b' ')
            {
                j += 1;
            }
        }
        let run = &toks[k..j];
        k = j;
        if digits.is_some_and(|d| d != n) {
            continue;
        }
        let binary = n == 8
            && run
                .iter()
                .all(|t| b[t.0..t.1].iter().all(|&c| c == b'0' || c == b'1'));
        let mut ordered: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
        let mut swapped: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
        for t in run {
            let mut v = Zeroizing::new(group_token(&b[t.0..t.1], binary).unwrap_or_default());
            ordered.extend_from_slice(&v);
            v.reverse();
            swapped.extend_from_slice(&v);
        }
        // A dump's next line: its first run has the line before's token length, or is the
        // one partial group of a short last line (`xxd -g 8`'s `2b782f793d7a0a` after
        // 16-digit groups: QA session 9, M5), which keeps the line before's length.
        let partial_last = run.len() == 1
            && before.is_some_and(|b| n < b && n.is_multiple_of(2) && b.is_multiple_of(2));
        let continues = digits.is_none() && (before == Some(n) || partial_last);
        if !continues && (run.len() < 2 || ordered.len() < MIN_MASKED_LEN) {
            continue;
        }
        digits = Some(match before {
            Some(b) if partial_last && continues => b,
            _ => n,
        });
        runs.push(GroupRun {
            span: (run[0].0, run[run.len() - 1].1),
            ordered,
            swapped,
        });
    }
    Some(GroupLine {
        digits: digits?,
        runs,
    })
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `5063 346e …  text`: groups of 2 or 4 hex digits, one space apart, then the text column.
fn parse_xxd(s: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < s.len() && s[i].is_ascii_hexdigit() {
            i += 1;
        }
        let g = &s[start..i];
        if g.is_empty() || !g.len().is_multiple_of(2) || g.len() > 4 {
            return None;
        }
        for pair in g.chunks(2) {
            bytes.push(hex_val(pair[0])? << 4 | hex_val(pair[1])?);
        }
        if i + 1 < s.len() && s[i] == b' ' && s[i + 1].is_ascii_hexdigit() {
            i += 1;
            continue;
        }
        break;
    }
    // Then spaces and the text column, one character per byte.
    let text = &s[i..];
    let text = &text[text.iter().position(|&b| b != b' ')?..];
    (text.len() == bytes.len() && bytes.len() <= 32).then_some(bytes)
}

/// `50 63 34 6e …  |text|`: 2-digit bytes, one or two spaces apart, then `|text|`.
fn parse_canonical(s: &[u8]) -> Option<Vec<u8>> {
    let bar = s.iter().position(|&b| b == b'|')?;
    if !s.ends_with(b"|") || s.len() < bar + 2 {
        return None;
    }
    let mut bytes = Vec::new();
    for tok in s[..bar].split(|&b| b == b' ').filter(|t| !t.is_empty()) {
        if tok.len() != 2 {
            return None;
        }
        bytes.push(hex_val(tok[0])? << 4 | hex_val(tok[1])?);
    }
    (s.len() - bar - 2 == bytes.len() && !bytes.is_empty()).then_some(bytes)
}

/// `   P   c  \n 302`: fields 4 columns wide, right-aligned: a character, a C escape, or
/// three octal digits.
fn parse_od_chars(s: &[u8]) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return None;
    }
    let mut bytes = Vec::new();
    for f in s.chunks(4) {
        let b = match f {
            [b' ', b' ', b' ', c] => *c,
            [b' ', b' ', b'\\', e] => match e {
                b'0' => 0,
                b'a' => 7,
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 11,
                _ => return None,
            },
            // At most `377` (a byte): `od -b`'s `477` is not an `od -c` field (and would
            // overflow).
            [b' ', a, b, c]
                if *a <= b'3' && [a, b, c].iter().all(|d| (b'0'..=b'7').contains(d)) =>
            {
                (a - b'0') * 64 + (b - b'0') * 8 + (c - b'0')
            }
            _ => return None,
        };
        bytes.push(b);
    }
    Some(bytes)
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
                if pat.len() > full && rest[..pat.len()].eq_ignore_ascii_case(pat) {
                    full = pat.len();
                }
            } else if !eof && pat[..rest.len()].eq_ignore_ascii_case(rest) {
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
    fn dump_lines_holding_a_value_are_masked_and_others_pass() {
        let m = masker();
        let dump = "00000000: 6869 2074 6865 7265 0a50 6334 6e34 7279  hi there.Pc4n4ry\n\
                    00000010: 2d37 6633 6539 6331 642b 782f 793d 7a0a  -7f3e9c1d+x/y=z.\n\
                    00000020: 6279 650a                                bye.\n";
        let out = String::from_utf8(m.mask(dump.as_bytes())).unwrap();
        assert_eq!(
            out,
            "00000000  <concealed by patina>\n00000010  <concealed by patina>\n\
             00000020: 6279 650a                                bye.\n"
        );
        // A dump without the value, and lines that only start like one, pass unchanged.
        let clean = "00000000  68 69 0a                                          |hi.|\n\
                     0000000   h   i  \\n\n1234abcd is a commit\n";
        assert_eq!(m.mask(clean.as_bytes()), clean.as_bytes());
        // An ordinary line is not held back waiting for its newline.
        let mut s = m.stream();
        let mut o = Vec::new();
        s.push(b"12 apples", &mut o);
        assert_eq!(o, b"12 apples");
    }

    #[test]
    fn upper_case_and_base64_wrapped_at_76_columns_are_masked() {
        let m = masker();
        let out = m.mask(format!("x {} y", CANARY.to_ascii_uppercase()).as_bytes());
        assert_eq!(out, b"x <concealed by patina> y");
        for pad in 0..80 {
            let mut buf = vec![b'a'; pad];
            buf.extend_from_slice(CANARY.as_bytes());
            buf.push(b'\n');
            let enc = STANDARD.encode(&buf);
            let wrapped: Vec<u8> = enc
                .as_bytes()
                .chunks(BASE64_WRAP)
                .flat_map(|l| l.iter().copied().chain([b'\n']))
                .collect();
            let out = m.mask(&wrapped);
            let joined: Vec<u8> = out.iter().copied().filter(|&b| b != b'\n').collect();
            let front = (pad * 8).div_ceil(6);
            let run = &enc.as_bytes()[front..front + 28];
            assert!(
                !joined.windows(12).any(|w| run.windows(12).any(|r| r == w)),
                "pad {pad}: {}",
                String::from_utf8_lossy(&out)
            );
        }
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
