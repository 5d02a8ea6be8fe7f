//! Views of a tool output for the known-value scan: texts derived from the output in which a
//! stored value shows as one of the forms the hold knows although the output itself does
//! not hold that form whole (requirements §11, "in every form the masker knows"). Each view
//! keeps a map back to the output, so a match in a view conceals the output's own bytes.
//! Depends only on [`crate::secrets::mask`] (the dump-line parser `secrets run` uses).
//!
//! Three views, each built in one pass over the output's lines (linear, bounded by the
//! output's length):
//!
//! - **dump bytes**: consecutive `xxd`, `hexdump -C` or `od -c` lines of one format decoded
//!   into the bytes they show (a value split over two dump lines is whole here). A match
//!   maps back to the data columns of every line it touches.
//! - **joined base64**: consecutive lines made only of base64 characters (either alphabet,
//!   at least [`MIN_BASE64_LINE`] long), with the base64 end of the line before and the
//!   base64 start of the line after, joined without their line breaks (GNU `base64` wraps
//!   at 76 columns, OpenSSL and PEM at 64). A match maps back byte for byte, line breaks
//!   included.
//!
//! - **escapes decoded**: each line holding an escape other than `\"` and `\\` with every
//!   escape decoded once: `%XX` (percent-encoding, also of characters that need none, such
//!   as `%2D` for `-`), `\xXX`, `\u00XX` (a code point below 0x80: Go's JSON writes `&`
//!   as `\u0026`), a backslash before ASCII punctuation (shell and `printf %q` quoting) and
//!   XML/HTML character references (`&amp;`, `&#38;`); ANSI escape sequences (`grep
//!   --color=always`) and NUL bytes (UTF-16LE text) dropped. A match maps back to the
//!   literal bytes and the escapes it covers.
//!
//! The case of a value is not a view: the hold keeps the value lower- and upper-cased
//! ([`crate::secrets::mask::output_forms`]).

use crate::secrets::mask::{DumpKind, parse_dump_line, parse_group_line};
use zeroize::Zeroizing;

/// The shortest line taken as a line of wrapped base64: 16 characters (shorter lines are
/// ordinary words more often than base64).
pub const MIN_BASE64_LINE: usize = 16;

/// The longest line taken as a dump line, in bytes (the three formats print at most ~80
/// columns; a longer line is not parsed at all, which keeps the pass linear).
const MAX_DUMP_LINE: usize = 160;

/// What separates two runs inside one view: no form of a value crosses it.
const SEP: &str = "\n\u{0}\n";

/// One piece of a view and the bytes of the output it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    /// `[start, end)` in the view.
    view: (usize, usize),
    /// `[start, end)` in the output.
    output: (usize, usize),
    /// Whether view byte `view.0 + i` is output byte `output.0 + i` (else the segment maps
    /// to its whole output range).
    exact: bool,
}

/// A text derived from an output, with the map back. Its text may hold a secret value:
/// zeroized on drop.
pub struct View {
    /// The derived text (valid UTF-8: a decoded byte that is not is shown as `?`).
    pub text: Zeroizing<String>,
    segments: Vec<Segment>,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "View([redacted] {} segments)", self.segments.len())
    }
}

impl View {
    fn new() -> View {
        View {
            text: Zeroizing::new(String::new()),
            segments: Vec::new(),
        }
    }

    /// Starts a new run (after a separator, unless it is the first).
    fn start_run(&mut self) {
        if !self.text.is_empty() {
            self.text.push_str(SEP);
        }
    }

    /// The ranges of the output that the view's `[start, end)` stands for, in order (one per
    /// segment it touches; empty when it touches none, e.g. only a separator).
    pub fn map_back(&self, start: usize, end: usize) -> Vec<(usize, usize)> {
        let first = self.segments.partition_point(|s| s.view.1 <= start);
        let mut out: Vec<(usize, usize)> = Vec::new();
        for s in &self.segments[first..] {
            if s.view.0 >= end {
                break;
            }
            let range = if s.exact {
                let a = start.max(s.view.0) - s.view.0 + s.output.0;
                let b = end.min(s.view.1) - s.view.0 + s.output.0;
                (a, b)
            } else {
                s.output
            };
            // Consecutive exact segments of one run are joined with the line breaks
            // between them (the form spans them in the output).
            match out.last_mut() {
                Some(last) if s.exact && last.1 <= range.0 && is_break(last.1, range.0) => {
                    last.1 = range.1
                }
                // Adjacent pieces (an escape after a literal byte) are one range.
                Some(last) if last.1 == range.0 => last.1 = range.1,
                _ => out.push(range),
            }
        }
        out
    }
}

/// Whether `[a, b)` of an output can only be a line break (`\n` or `\r\n`): at most 2 bytes.
fn is_break(a: usize, b: usize) -> bool {
    b - a <= 2
}

/// The views of `text` that hold anything (none for an output with no dump line, no wrapped
/// base64, no escape, no group run and no fullwidth character, which is the common case:
/// then nothing is copied).
///
/// Each line first passes one cheap pass over its bytes (`LineFacts`) that tells which
/// views it can add to; a line that can add to none costs that pass and nothing more (the
/// dump, escape and group parsers run only on lines that may hold their form). The result is
/// exactly [`views_ungated`]'s, every line through every parser (the differential test
/// `gated_views_equal_the_ungated_reference`).
pub fn views(text: &str) -> Vec<View> {
    build(text, true)
}

/// [`views`] with every line through every parser: the reference the gated [`views`] is
/// tested against, and the benchmark's baseline (`benches/guard.rs`). Same result, slower.
pub fn views_ungated(text: &str) -> Vec<View> {
    build(text, false)
}

/// The byte classes of [`LineFacts`], one table lookup per byte.
const C_BASE64: u8 = 1;
/// May start an escape ([`escape_at`]): `%`, `\`, `&`, ESC, NUL.
const C_ESCAPE: u8 = 2;
/// A hex digit, `x` or `X` (the bytes of a dump group: `7a51`, `0x51`).
const C_HEXISH: u8 = 4;
const C_ALNUM: u8 = 8;
/// May separate two groups of a dump ([`parse_group_line`]): blank, tab, `,`, `:`.
const C_GAP: u8 = 16;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if is_base64(b) {
            c |= C_BASE64;
        }
        if matches!(b, b'%' | b'\\' | b'&' | 0x1b | 0) {
            c |= C_ESCAPE;
        }
        if b.is_ascii_hexdigit() || b == b'x' || b == b'X' {
            c |= C_HEXISH;
        }
        if b.is_ascii_alphanumeric() {
            c |= C_ALNUM;
        }
        if matches!(b, b' ' | b'\t' | b',' | b':') {
            c |= C_GAP;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// What one pass over a line's bytes tells about the views it can add to. Each field is a
/// necessary condition of its parser's finding anything (never a sufficient one), so a line
/// whose field is false is skipped by that parser with the same result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LineFacts {
    /// Every byte is a base64 character (either alphabet): the condition of a wrapped or
    /// base64 line, exactly.
    base64: bool,
    /// A byte that may start an escape ([`escape_at`]): without one the escapes view gets
    /// nothing of the line.
    escape: bool,
    /// Two ASCII-alphanumeric runs in a row that may each be a dump group (2 to 18 hex
    /// digits and `x`: `51`, `0x51`), apart only by blanks, tabs, `,` and `:`: without
    /// them [`parse_group_line`] finds no run of two groups, so (when the line before had
    /// none) no group line.
    groups: bool,
}

impl LineFacts {
    /// The facts of `line`, in one pass over its bytes. A run may be a group when it is 2 to
    /// 18 bytes of hex digits and `x`/`X` (wider than [`parse_group_line`]'s tokens, `51`,
    /// `7a51`, `0x51`, `121`: the gate may let a line through that the parser then rejects,
    /// never the other way round).
    fn of(line: &[u8]) -> LineFacts {
        let (mut all, mut any) = (C_BASE64, 0u8);
        let mut groups = false;
        // The current alphanumeric run: its length, and whether it is all hex digits and `x`.
        let (mut len, mut hexish) = (0usize, true);
        // Whether the run before may be a group and only gap bytes followed it so far.
        let mut joinable = false;
        // Whether the current run follows a joinable one.
        let mut follows = false;
        for &b in line {
            let c = CLASS[b as usize];
            all &= c;
            any |= c;
            if c & C_ALNUM != 0 {
                if len == 0 {
                    follows = joinable;
                    hexish = true;
                }
                hexish &= c & C_HEXISH != 0;
                len += 1;
            } else {
                if len != 0 {
                    let may_be_group = hexish & (2..=18).contains(&len);
                    groups |= may_be_group & follows;
                    joinable = may_be_group;
                    len = 0;
                }
                joinable &= c & C_GAP != 0;
            }
        }
        if len != 0 {
            groups |= hexish & (2..=18).contains(&len) & follows;
        }
        LineFacts {
            base64: all != 0,
            escape: any & C_ESCAPE != 0,
            groups,
        }
    }

    /// Facts that skip nothing (the ungated reference), for a line whose bytes are all base64
    /// characters or not.
    fn all(base64: bool) -> LineFacts {
        LineFacts {
            base64,
            escape: true,
            groups: true,
        }
    }
}

fn build(text: &str, gated: bool) -> Vec<View> {
    let mut dump = View::new();
    let mut groups = View::new();
    let mut swapped = View::new();
    let mut joined = View::new();
    // The token length of the group runs of the line before (`None`: it had none).
    let mut group_digits: Option<usize> = None;
    // The lines of the current run of wrapped lines: (start, end) in `text`.
    let mut wrap_run: Vec<(usize, usize)> = Vec::new();
    let mut b64 = View::new();
    let mut esc = View::new();
    let mut dump_kind: Option<DumpKind> = None;
    // The base64 lines of the current run: (start, end) in `text`.
    let mut b64_run: Vec<(usize, usize)> = Vec::new();
    // The line before the current one: (start, end) in `text`, without its line break.
    let mut prev: Option<(usize, usize)> = None;
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos <= bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let line_end = if end > pos && bytes[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        let line = &bytes[pos..line_end];
        let facts = if gated {
            LineFacts::of(line)
        } else {
            LineFacts::all(line.iter().all(|&b| is_base64(b)))
        };
        // Dump lines.
        let parsed = (line.len() <= MAX_DUMP_LINE)
            .then(|| parse_dump_line(line))
            .flatten();
        match parsed {
            Some((kind, decoded)) => {
                let decoded = Zeroizing::new(decoded);
                if dump_kind != Some(kind) {
                    dump.start_run();
                    dump_kind = Some(kind);
                }
                let v0 = dump.text.len();
                push_lossy(&mut dump.text, &decoded);
                dump.segments.push(Segment {
                    view: (v0, dump.text.len()),
                    output: ((pos + kind.data_start()).min(line_end), line_end),
                    exact: false,
                });
            }
            None => dump_kind = None,
        }
        // Wrapped base64 lines: a run of whole lines, with the base64 end of the line
        // before it and the base64 start of the line after it (a short last line, or a
        // prefix such as `data: ` on the first).
        let pure = line.len() >= MIN_BASE64_LINE && facts.base64;
        if pure {
            if b64_run.is_empty()
                && let Some((ps, pe)) = prev
            {
                let tail = bytes[ps..pe]
                    .iter()
                    .rev()
                    .take_while(|&&b| is_base64(b))
                    .count();
                if tail > 0 {
                    b64_run.push((pe - tail, pe));
                }
            }
            b64_run.push((pos, line_end));
        } else {
            if !b64_run.is_empty() {
                let head = line.iter().take_while(|&&b| is_base64(b)).count();
                if head > 0 {
                    b64_run.push((pos, pos + head));
                }
            }
            flush_base64(&mut b64, &mut b64_run, text);
        }
        if facts.escape {
            escapes_of_line(&mut esc, text, pos, line_end);
        }
        // A line can start a group run only when its facts allow one; a line after one can
        // continue it with a single group (a dump's short last line).
        group_digits = if group_digits.is_some() || facts.groups {
            groups_of_line(
                [&mut groups, &mut swapped],
                group_digits,
                text,
                pos,
                line_end,
            )
        } else {
            None
        };
        // Wrapped lines (`fold -w N`, `base64 -w N`, `xxd -p -c N`): lines of base64 or hex
        // characters, all of one length but the last, which is not longer.
        let wraps = (line.len() >= MIN_WRAPPED_LINE || (!line.is_empty() && !wrap_run.is_empty()))
            && line.len() <= MAX_DUMP_LINE
            && facts.base64;
        let fits = match wrap_run.as_slice() {
            [] => true,
            [first, .., last] if last.1 - last.0 != first.1 - first.0 => false,
            [first, ..] => line.len() <= first.1 - first.0,
        };
        if !(wraps && fits) {
            flush_joined(&mut joined, &mut wrap_run, text);
        }
        if wraps {
            wrap_run.push((pos, line_end));
        }
        prev = Some((pos, line_end));
        pos = end + 1;
    }
    flush_base64(&mut b64, &mut b64_run, text);
    flush_joined(&mut joined, &mut wrap_run, text);
    let wide = if gated {
        fullwidth(text)
    } else {
        fullwidth_per_char(text)
    };
    [dump, b64, esc, groups, swapped, joined, wide]
        .into_iter()
        .filter(|v| !v.segments.is_empty())
        .collect()
}

/// The escape at `b[i..]` and what it stands for: `(Some(byte), length)`, or `(None, length)`
/// for bytes that stand for nothing (an ANSI escape sequence, a NUL). `%XX`, `\xXX`,
/// `\u00XX` (below 0x80), `\` before ASCII punctuation, the XML/HTML entities `&amp;`
/// `&lt;` `&gt;` `&quot;` `&apos;` `&#NN;` `&#xHH;` (ASCII), `ESC [ … final` (ECMA-48 CSI:
/// colours, `grep --color`'s `ESC[m ESC[K`) and NUL (UTF-16LE text read as bytes). `None`
/// for anything else.
fn escape_at(b: &[u8], i: usize) -> Option<(Option<u8>, usize)> {
    let hex = |at: usize| -> Option<u8> {
        let h = b.get(at..at + 2)?;
        let d = |c: u8| (c as char).to_digit(16);
        Some((d(h[0])? * 16 + d(h[1])?) as u8)
    };
    match (b[i], b.get(i + 1).copied()) {
        (b'%', _) => hex(i + 1).map(|v| (Some(v), 3)),
        (b'\\', Some(b'x')) => hex(i + 2).map(|v| (Some(v), 4)),
        (b'\\', Some(b'u')) if b.get(i + 2..i + 4) == Some(b"00") => {
            hex(i + 4).filter(|v| v.is_ascii()).map(|v| (Some(v), 6))
        }
        (b'\\', Some(c)) if c.is_ascii_punctuation() => Some((Some(c), 2)),
        (b'&', Some(_)) => entity_at(b, i),
        (0x1b, Some(b'[')) => {
            let mut j = i + 2;
            while j < b.len() && (0x20..0x40).contains(&b[j]) && j - i < 32 {
                j += 1;
            }
            (j < b.len() && (0x40..0x7f).contains(&b[j])).then_some((None, j + 1 - i))
        }
        (0, _) => Some((None, 1)),
        _ => None,
    }
}

/// An XML/HTML character reference at `b[i]` (`&`): the named five and numeric ones below 0x80.
fn entity_at(b: &[u8], i: usize) -> Option<(Option<u8>, usize)> {
    let semi = b[i..b.len().min(i + 10)].iter().position(|&c| c == b';')?;
    let name = &b[i + 1..i + semi];
    let v = match name {
        b"amp" => b'&',
        b"lt" => b'<',
        b"gt" => b'>',
        b"quot" => b'"',
        b"apos" => b'\'',
        [b'#', b'x' | b'X', h @ ..] if !h.is_empty() => {
            u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?
        }
        [b'#', d @ ..] if !d.is_empty() => std::str::from_utf8(d).ok()?.parse().ok()?,
        _ => return None,
    };
    v.is_ascii().then_some((Some(v), semi + 1))
}

/// Adds line `text[start..end]` to the escapes view, each escape decoded once, when it holds
/// an escape other than `\"` and `\\` (a JSON string's quotes and backslashes alone are
/// left to the output's own scan, where the hold's JSON form of a value matches).
fn escapes_of_line(view: &mut View, text: &str, start: usize, end: usize) {
    let b = &text.as_bytes()[start..end];
    let may_start = |c: u8| matches!(c, b'%' | b'\\' | b'&' | 0x1b | 0);
    let worth = (0..b.len()).any(|i| {
        may_start(b[i])
            && escape_at(b, i).is_some()
            && !matches!(&b[i..(i + 2).min(b.len())], b"\\\"" | b"\\\\")
    });
    if !worth {
        return;
    }
    view.start_run();
    let mut i = 0;
    let mut literal = 0;
    // The pending escapes: what each stands for, and its `[start, end)` in the line.
    let mut escapes: Vec<(Option<u8>, usize, usize)> = Vec::new();
    // Appends the pending escapes (their bytes decoded together, so a multi-byte character
    // stays whole), then the literal bytes `[literal, upto)`.
    let flush = |view: &mut View,
                 literal: usize,
                 upto: usize,
                 escapes: &mut Vec<(Option<u8>, usize, usize)>| {
        if !escapes.is_empty() {
            let decoded: Zeroizing<Vec<u8>> =
                Zeroizing::new(escapes.iter().filter_map(|e| e.0).collect());
            let v0 = view.text.len();
            push_lossy(&mut view.text, &decoded);
            let mut k = 0;
            for &(v, s, e) in escapes.iter() {
                let len = usize::from(v.is_some());
                view.segments.push(Segment {
                    view: (v0 + k, v0 + k + len),
                    output: (start + s, start + e),
                    exact: false,
                });
                k += len;
            }
            escapes.clear();
        }
        if upto > literal {
            let v0 = view.text.len();
            view.text.push_str(&text[start + literal..start + upto]);
            view.segments.push(Segment {
                view: (v0, view.text.len()),
                output: (start + literal, start + upto),
                exact: true,
            });
        }
    };
    while i < b.len() {
        match may_start(b[i]).then(|| escape_at(b, i)).flatten() {
            Some((v, len)) => {
                if i > literal {
                    flush(view, literal, i, &mut escapes);
                }
                escapes.push((v, i, i + len));
                i += len;
                literal = i;
            }
            None => {
                if !escapes.is_empty() {
                    flush(view, i, i, &mut escapes);
                }
                i += 1;
            }
        }
    }
    flush(view, literal, b.len(), &mut escapes);
}

/// Adds a run of base64 pieces (one per line) to the view when it spans at least two lines
/// (a single line is scanned as it is in the output).
fn flush_base64(view: &mut View, run: &mut Vec<(usize, usize)>, text: &str) {
    if run.len() >= 2 {
        view.start_run();
        for &(s, e) in run.iter() {
            let v0 = view.text.len();
            view.text.push_str(&text[s..e]);
            view.segments.push(Segment {
                view: (v0, view.text.len()),
                output: (s, e),
                exact: true,
            });
        }
    }
    run.clear();
}

/// The shortest line that starts a run of wrapped lines (`base64 -w 4`; a run's last line
/// may be shorter).
const MIN_WRAPPED_LINE: usize = 4;

/// Adds a run of wrapped lines to the joined view when it spans at least two lines and
/// [`MIN_BASE64_LINE`] bytes, each line mapped back byte for byte (a match spans the line
/// breaks between them).
fn flush_joined(view: &mut View, run: &mut Vec<(usize, usize)>, text: &str) {
    let bytes: usize = run.iter().map(|r| r.1 - r.0).sum();
    if run.len() >= 2 && bytes >= MIN_BASE64_LINE {
        flush_base64(view, run, text);
    }
    run.clear();
}

/// Adds the group runs of line `text[start..end]` ([`parse_group_line`]) to the two group
/// views: `views[0]` gets each token's bytes as written, `views[1]` each token's bytes
/// reversed (`od -x` and `hexdump` print 16-bit words of a little-endian machine). Runs of
/// consecutive lines with the same token length are joined (a value split over two lines is
/// whole); each run maps back to its whole output range, the line's last run to the end of
/// the line (a dump's text column). Returns the line's token length
/// (`None`: no run), for the next line.
fn groups_of_line(
    views: [&mut View; 2],
    before: Option<usize>,
    text: &str,
    start: usize,
    end: usize,
) -> Option<usize> {
    let line = parse_group_line(&text.as_bytes()[start..end], before)?;
    let [ordered, swapped] = views;
    if before != Some(line.digits) {
        ordered.start_run();
        swapped.start_run();
    }
    let last = line.runs.len().saturating_sub(1);
    for (i, run) in line.runs.iter().enumerate() {
        // The line's last run maps back to the end of the line: a dump's text column
        // (`xxd -g 4`, `xxd -e`: the bytes as characters) follows its groups, and shows the
        // value itself (QA session 9, M5).
        let run_end = if i == last { end - start } else { run.span.1 };
        let output = (start + run.span.0, start + run_end);
        for (view, bytes) in [(&mut *ordered, &run.ordered), (&mut *swapped, &run.swapped)] {
            let v0 = view.text.len();
            push_lossy(&mut view.text, bytes);
            view.segments.push(Segment {
                view: (v0, view.text.len()),
                output,
                exact: false,
            });
        }
    }
    Some(line.digits)
}

/// The fullwidth forms of ASCII (U+FF01..U+FF5E, and the ideographic space U+3000) read as
/// ASCII, in the whole text when it holds one (a value may span lines); each fullwidth
/// character maps back to its own bytes, each run of other characters is one segment mapped
/// byte for byte. An empty view (no segment) for a text without them, the common case.
fn fullwidth(text: &str) -> View {
    let mut view = View::new();
    let b = text.as_bytes();
    let has = memchr::memchr_iter(0xef, b).any(|i| matches!(b.get(i + 1), Some(0xbc | 0xbd)));
    if !has {
        return view;
    }
    view.start_run();
    // The start of the run of other characters not yet added.
    let mut plain = 0;
    for (i, c) in text.char_indices() {
        let ascii = match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xff01 + 0x21),
            '\u{3000}' => Some(' '),
            _ => None,
        };
        let Some(a) = ascii else { continue };
        if i > plain {
            let v0 = view.text.len();
            view.text.push_str(&text[plain..i]);
            view.segments.push(Segment {
                view: (v0, view.text.len()),
                output: (plain, i),
                exact: true,
            });
        }
        let v0 = view.text.len();
        view.text.push(a);
        view.segments.push(Segment {
            view: (v0, view.text.len()),
            output: (i, i + c.len_utf8()),
            exact: false,
        });
        plain = i + c.len_utf8();
    }
    if text.len() > plain {
        let v0 = view.text.len();
        view.text.push_str(&text[plain..]);
        view.segments.push(Segment {
            view: (v0, view.text.len()),
            output: (plain, text.len()),
            exact: true,
        });
    }
    view
}

/// [`fullwidth`] with every character its own segment (the ungated reference: the same text,
/// the same ranges mapped back).
fn fullwidth_per_char(text: &str) -> View {
    let mut view = View::new();
    let b = text.as_bytes();
    let has = memchr::memchr_iter(0xef, b).any(|i| matches!(b.get(i + 1), Some(0xbc | 0xbd)));
    if !has {
        return view;
    }
    view.start_run();
    for (i, c) in text.char_indices() {
        let ascii = match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xff01 + 0x21),
            '\u{3000}' => Some(' '),
            _ => None,
        };
        let v0 = view.text.len();
        match ascii {
            Some(a) => view.text.push(a),
            None => view.text.push(c),
        }
        view.segments.push(Segment {
            view: (v0, view.text.len()),
            output: (i, i + c.len_utf8()),
            exact: ascii.is_none(),
        });
    }
    view
}

/// Every range of `text` that `find` reports in `text` itself or in one of its [`views`]
/// (mapped back), unsorted: the one way the guard's forms are looked for in a text that is
/// not a tool output (scry's snippets, `api::scry`).
pub fn find_with_views(
    text: &str,
    mut find: impl FnMut(&[u8]) -> Vec<(usize, usize)>,
) -> Vec<(usize, usize)> {
    let mut out = find(text.as_bytes());
    for v in views(text) {
        for (s, e) in find(v.text.as_bytes()) {
            out.extend(v.map_back(s, e));
        }
    }
    out
}

const fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
}

/// Appends `bytes` to `out` byte for byte: valid UTF-8 as it is, every byte of an invalid
/// sequence as `?` (so view offsets are decoded-byte offsets).
fn push_lossy(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('?');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn canary() -> String {
        ["Pc4n4ry", "-7f3e9c1d", "+x/y=z"].concat()
    }

    #[test]
    fn dump_lines_are_decoded_and_map_back_to_their_data_columns() {
        let v = canary();
        let mut data = b"hi there\n".to_vec();
        data.extend_from_slice(v.as_bytes());
        data.extend_from_slice(b"\nbye\n");
        let mut dump = String::from("$ xxd .env\n");
        for (i, chunk) in data.chunks(16).enumerate() {
            let hex: Vec<String> = chunk
                .chunks(2)
                .map(|p| p.iter().map(|b| format!("{b:02x}")).collect())
                .collect();
            let txt: String = chunk
                .iter()
                .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
                .collect();
            dump.push_str(&format!("{:08x}: {:<40} {txt}\n", i * 16, hex.join(" ")));
        }
        let vs = views(&dump);
        let view = vs.iter().find(|x| x.text.contains(&v)).expect("a view");
        let at = view.text.find(&v).expect("the value is whole in the view");
        let back = view.map_back(at, at + v.len());
        assert_eq!(back.len(), 2, "the value spans two dump lines");
        for (s, e) in back {
            assert_eq!(&dump[s - 2..s], ": ", "the offset column stays");
            assert!(dump[e..].starts_with('\n'), "up to the end of the line");
        }
        assert!(views("nothing\nto see\n").is_empty());
    }

    #[test]
    fn escapes_are_decoded_once_and_map_back_to_the_escapes() {
        let v = canary();
        // Every byte over-encoded, one character over-encoded, `\x`, `\u00` and shell quoting.
        let all: String = v.bytes().map(|b| format!("%{b:02X}")).collect();
        let one = v.replace('-', "%2d");
        let x: String = v.bytes().map(|b| format!("\\x{b:02x}")).collect();
        let u: String = v.bytes().map(|b| format!("\\u{:04x}", b)).collect();
        let q = v.replace('+', "\\+").replace('=', "\\=");
        let xml = v
            .replace('+', "&#43;")
            .replace('/', "&#x2F;")
            .replace('=', "&#61;");
        let ansi = format!("{}\x1b[m\x1b[K{}", &v[..7], &v[7..]);
        let utf16: String = v.chars().flat_map(|c| [c, '\0']).collect();
        for form in [all, one, x, u, q, xml, ansi, utf16] {
            let out = format!("$ curl\nGET /cb?k={form}&next=1 HTTP/1.1\nbye %zz\n");
            let vs = views(&out);
            let view = vs.iter().find(|x| x.text.contains(&v)).expect(&form);
            let at = view.text.find(&v).unwrap_or_else(|| panic!("{form}"));
            let back = view.map_back(at, at + v.len());
            assert_eq!(back.len(), 1, "{form}: one range");
            let (s, e) = back[0];
            assert_eq!(
                &out[s..e],
                form.trim_end_matches('\0'),
                "exactly the form's bytes"
            );
        }
        // Lines without escapes, and JSON quotes alone, make no view.
        assert!(views("plain text\n{\"a\": \"b \\\"c\\\"\"}\n100% sure\n").is_empty());
    }

    #[test]
    fn wrapped_base64_is_joined_and_maps_back_with_its_line_breaks() {
        let v = canary();
        let text = format!("{}{v}{}", "a".repeat(50), "b".repeat(40));
        let enc = base64::engine::general_purpose::STANDARD.encode(text);
        for width in [64, 76] {
            let wrapped: Vec<&str> = enc
                .as_bytes()
                .chunks(width)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let out = format!("$ base64 notes\ndata: {}\n", wrapped.join("\r\n"));
            let vs = views(&out);
            let view = vs
                .iter()
                .find(|x| *x.text == enc)
                .expect("the prefix and the short last line are joined");
            let back = view.map_back(60, 80);
            assert_eq!(back.len(), 1);
            let (s, e) = back[0];
            let mut joined = out[s..e].to_string();
            joined.retain(|c| c != '\n' && c != '\r');
            assert_eq!(joined, enc[60..80]);
        }
    }

    #[test]
    fn group_dumps_are_read_in_both_byte_orders_and_wrapped_lines_joined() {
        let v = canary();
        let b = v.as_bytes();
        // `od -x` on a little-endian machine: 16-bit words, the first byte low.
        let mut od = String::new();
        for (i, line) in b.chunks(16).enumerate() {
            let words: Vec<String> = line
                .chunks(2)
                .map(|w| {
                    format!(
                        "{:04x}",
                        u16::from(w[0]) | u16::from(*w.get(1).unwrap_or(&0)) << 8
                    )
                })
                .collect();
            od.push_str(&format!("{:07o} {}\n", i * 16, words.join(" ")));
        }
        // `xxd -i`, `fold -w 5`, fullwidth.
        let c_array: Vec<String> = b.iter().map(|x| format!("0x{x:02x}")).collect();
        let c_array = format!("  {}\n", c_array.join(", "));
        let folded: Vec<&str> = b
            .chunks(5)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let folded = format!("{}\n", folded.join("\n"));
        let wide: String = v
            .chars()
            .map(|c| char::from_u32(c as u32 - 0x21 + 0xff01).unwrap())
            .collect();
        for out in [od, c_array, folded, format!("key: {wide}\n")] {
            let vs = views(&out);
            let view = vs
                .iter()
                .find(|x| x.text.contains(&v))
                .unwrap_or_else(|| panic!("{out}"));
            let at = view.text.find(&v).unwrap();
            assert!(!view.map_back(at, at + v.len()).is_empty(), "{out}");
        }
        // Dates, times and ids in a log line make no group view.
        let log = "2026-12-06T10:00:00Z INFO request id=0a1b2c3d status=200\n";
        assert!(views(log).is_empty());
    }

    /// The units a generated text is made of: lines (or pieces of lines) of every layout
    /// the views read — dumps of each format, wrapped base64 and wrapped plain text, every
    /// escape, group dumps, fullwidth — and ordinary text around them (log lines, source,
    /// prose, numbers), plus bytes that sit on the parsers' edges.
    fn pieces(v: &str) -> Vec<String> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let b = v.as_bytes();
        let hex_pairs: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
        let mut xxd = String::new();
        let mut canonical = String::new();
        let mut od_c = String::new();
        let mut od_x = String::new();
        for (i, chunk) in b.chunks(16).enumerate() {
            let words: Vec<String> = chunk
                .chunks(2)
                .map(|p| p.iter().map(|x| format!("{x:02x}")).collect())
                .collect();
            let txt: String = chunk
                .iter()
                .map(|&x| if x.is_ascii_graphic() { x as char } else { '.' })
                .collect();
            xxd.push_str(&format!("{:08x}: {:<40} {txt}\n", i * 16, words.join(" ")));
            let bytes: Vec<String> = chunk.iter().map(|x| format!("{x:02x}")).collect();
            canonical.push_str(&format!(
                "{:08x}  {:<48} |{txt}|\n",
                i * 16,
                bytes.join(" ")
            ));
            let chars: String = chunk.iter().map(|&x| format!("{:>4}", x as char)).collect();
            od_c.push_str(&format!("{:07o}{chars}\n", i * 16));
            let le: Vec<String> = chunk
                .chunks(2)
                .map(|w| {
                    format!(
                        "{:04x}",
                        u16::from(w[0]) | u16::from(*w.get(1).unwrap_or(&0)) << 8
                    )
                })
                .collect();
            od_x.push_str(&format!("{:07o} {}\n", i * 16, le.join(" ")));
        }
        let wide: String = v
            .chars()
            .map(|c| char::from_u32(c as u32 - 0x21 + 0xff01).unwrap_or(c))
            .collect();
        let long = format!("{}{v}{}", "q".repeat(40), "z".repeat(37));
        let enc = STANDARD.encode(&long);
        let wrap = |s: &str, w: usize| -> String {
            s.as_bytes()
                .chunks(w)
                .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
                .collect()
        };
        vec![
            xxd,
            canonical,
            od_c,
            od_x,
            format!(
                "  {}\n",
                b.iter()
                    .map(|x| format!("0x{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("{}\n", hex_pairs.join(":")),
            format!("{}\n", hex_pairs.join(" ")),
            format!("{}\n", hex_pairs.concat()),
            wrap(&enc, 76),
            wrap(&enc, 64),
            format!("data: {}", wrap(&enc, 76)),
            wrap(&URL_SAFE.encode(&long), 10),
            wrap(&STANDARD.encode(v), 4),
            wrap(v, 5),
            wrap(v, 8),
            v.bytes().map(|x| format!("%{x:02X}")).collect(),
            v.replace('-', "%2d"),
            v.bytes().map(|x| format!("\\x{x:02x}")).collect(),
            v.bytes().map(|x| format!("\\u{x:04x}")).collect(),
            v.replace('+', "\\+").replace('=', "\\="),
            v.replace('+', "&#43;")
                .replace('/', "&#x2F;")
                .replace('=', "&amp;"),
            format!("{}\x1b[01;31m\x1b[K{}\x1b[m\x1b[K", &v[..2], &v[2..]),
            v.chars().flat_map(|c| [c, '\0']).collect(),
            format!("key: {wide}\u{3000}"),
            v.to_string(),
            v.chars().rev().collect(),
            "2026-12-06T10:00:00Z INFO request id=0a1b2c3d status=200 took=3ms".into(),
            "   Compiling patina v0.1.0 (/work/patina)".into(),
            "test guard::views::tests::x ... ok".into(),
            "    let x = &self.y[..]; // 100% sure: \"a\\\"b\" \\\\ 'c'".into(),
            "fn main() { println!(\"{}\\n\", a & b); }".into(),
            "[12, 34, 56, 78], (0x1f, 0x2e), 10:20:30, ab cd ef 0123 4567".into(),
            "be ad, dead beef; cafe:face fade 01 02 03 04 05".into(),
            "0000000 ".into(),
            "00000010: 4142".into(),
            "deadbeef  41 42 43".into(),
            "AAAAAAAAAAAAAAAAAAAAAAAA".into(),
            "abcd".into(),
            "QUJD".into(),
            "%zz %4 %41%42 \\x4 \\u00 &#; &#x; &am; \x1b[ \x1b[31".into(),
            "é ü 中文 ｆｕｌｌ \u{feff}".into(),
            String::new(),
            "\r".into(),
            " ".into(),
            "\t0x41\t0x42\t".into(),
        ]
    }

    /// The gated views (each line through only the parsers its [`LineFacts`] allow) equal
    /// the ungated reference exactly — the same views, the same texts, the same maps back —
    /// on generated texts mixing every form the views read with ordinary text, each piece
    /// also cut at a random byte and joined without or with a line break, `\r\n` or a
    /// random separator; and a hold finds the same ranges through both.
    #[test]
    fn gated_views_equal_the_ungated_reference() {
        let v = canary();
        let values = [
            v.clone(),
            "0123456789abcdef".to_string(),
            "wxyz".to_string(),
        ];
        let mut all: Vec<String> = Vec::new();
        for value in &values {
            all.extend(pieces(value));
        }
        let seps = ["", "\n", "\r\n", " ", ", ", ":", "\n\n", "\t"];
        let noise = b"0123456789abcdefxX :,;%\\&#u\x1b[m\n\r=+/-_AZz\0";
        let mut rng = crate::test_rng::Rng(0x9e37_79b9_7f4a_7c15);
        let hold = crate::guard::hold::Hold::new(values.iter().map(|x| ("n", x.as_bytes())));
        let check = |text: &str| {
            let (a, b) = (views(text), views_ungated(text));
            assert_eq!(a.len(), b.len(), "{text:?}");
            for (k, (x, y)) in a.iter().zip(&b).enumerate() {
                assert_eq!(*x.text, *y.text, "{text:?}");
                // The fullwidth view (always the last) merges runs of other characters into
                // one segment: the same ranges map back.
                if k + 1 < a.len()
                    || !text.contains(|c| ('\u{ff01}'..='\u{ff5e}').contains(&c) || c == '\u{3000}')
                {
                    assert_eq!(x.segments, y.segments, "{text:?}");
                }
                let n = x.text.len();
                for s in 0..n {
                    for len in [1, 4, 16, 22] {
                        let e = (s + len).min(n);
                        assert_eq!(x.map_back(s, e), y.map_back(s, e), "{text:?} {s}..{e}");
                    }
                }
            }
            let find = |t: &[u8]| hold.scan(t).iter().map(|h| (h.start, h.end)).collect();
            let mut f = find_with_views(text, find);
            let mut g = text_and(&b, text, find);
            f.sort_unstable();
            g.sort_unstable();
            assert_eq!(f, g, "{text:?}");
        };
        // Each piece alone, then random mixtures.
        for p in &all {
            check(p);
        }
        for _ in 0..crate::test_rng::cases(3_000, 100_000) {
            let mut text = String::new();
            for _ in 0..1 + rng.below(6) {
                let mut p = rng.pick(&all).clone();
                if rng.percent(20) {
                    let mut cut = rng.below(p.len() + 1);
                    while !p.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    p.truncate(cut);
                }
                if rng.percent(15) {
                    p = rng.chars(noise, 0, 40);
                }
                text.push_str(&p);
                let sep: &&str = rng.pick(&seps[..]);
                text.push_str(sep);
            }
            check(&text);
        }
    }

    /// [`find_with_views`] through given views (the reference's).
    fn text_and(
        views: &[View],
        text: &str,
        mut find: impl FnMut(&[u8]) -> Vec<(usize, usize)>,
    ) -> Vec<(usize, usize)> {
        let mut out = find(text.as_bytes());
        for v in views {
            for (s, e) in find(v.text.as_bytes()) {
                out.extend(v.map_back(s, e));
            }
        }
        out
    }

    /// What the gate skips: ordinary lines (log, source, prose) have no fact that sends
    /// them to the dump, escape or group parsers; each form's line has its own.
    #[test]
    fn line_facts_skip_ordinary_lines_and_keep_every_form() {
        for line in [
            "2026-12-06T10:00:00Z INFO request id=0a1b2c3d status=200 took=3ms",
            "   Compiling patina v0.1.0 (/work/patina)",
            "test guard::views::tests::x ... ok",
            "warning: unused variable: `item_12`",
        ] {
            let f = LineFacts::of(line.as_bytes());
            assert!(!f.groups && !f.escape && !f.base64, "{line}");
        }
        let f = |s: &str| LineFacts::of(s.as_bytes());
        assert!(f("0000000 7a51 6350").groups);
        assert!(f("  0x51, 0x7a").groups);
        assert!(f("51:7a:39").groups);
        assert!(f("a%41").escape && f("\\+").escape && f("&#43;").escape);
        assert!(f("\u{1b}[m").escape && f("a\0").escape);
        assert!(f("UGM0bjRyeS03ZjNlOWMxZCt4").base64 && f("").base64);
        assert!(!f("5, 7").groups, "a single digit is no group");
        assert!(!f("0a1b2c3d4e5f6a7b8c9d, 00").groups, "nor are 20 digits");
        assert!(!f("ab-cd").groups, "a `-` separates no groups");
    }
}
