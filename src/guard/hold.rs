//! The scan hold: what the daemon keeps of the known secret values for the guard once their
//! release TTL is over — keyed digests that answer "does this text contain a known value (in
//! one of the forms the masker knows, or a rarer one: [`held_forms`]), where, and which name",
//! and nothing else (requirements §11). ASCII case is ignored.
//! Pure: depends only on [`crate::secrets::mask`] (the encoded forms),
//! [`crate::secrets::scan`] (the piece lengths of [`Hold::pieces`], and the random key);
//! knows nothing of sessions or HTTP.
//!
//! # Matching (Rabin–Karp, keyed)
//!
//! Every byte string is hashed with a polynomial hash modulo 2^64 whose (odd) base is drawn
//! from the OS random source each time a hold is built (so the digests differ per build and
//! per daemon start). The hold stores, per encoded form of each value:
//! the hash of one `min(len, ANCHOR)`-byte window of it (the *anchor*: the window fewest
//! other forms share, and its offset in the form), the hash of the whole form, its length and
//! the secret's name — never a byte of the value.
//!
//! A scan computes the prefix hashes of the text once; then, at every position and for every
//! anchor length, it hashes the anchor-sized window, picks the slot of a fixed-size
//! table by that hash, and checks **every** entry of the slot (each slot is padded to the same
//! number of entries with dummies): the whole-form window hash is computed and compared for
//! each, whether or not the anchor matched. So the work per input position is the same for
//! an unrelated string, for a guess that shares a prefix, an anchor or all but one byte with
//! a value, and for the value itself; only a whole-form match is reported. There is no
//! byte-by-byte comparison with an early exit anywhere, and a near miss answers exactly as
//! an unrelated string does (an empty list).
//!
//! What a caller can learn: whether a text holds a whole encoded form of a known value, at
//! which offsets, under which name. The number of anchor lengths (how many distinct form
//! lengths under [`ANCHOR`] bytes exist) and the slot width change the *total* cost of a
//! scan, not its cost per guess. A text window that is not a held form matches only if both
//! its anchor and its whole-form hash collide with the form's (for a text that does not
//! depend on the key, about 2^-64 per check); a collision conceals a harmless string (a false
//! positive), never reveals anything.

use crate::secrets::mask::{MIN_MASKED_LEN, held_forms};
use crate::secrets::scan::{partial_min, piece_len, piece_sources};

/// The longest anchor, in bytes: forms shorter than this are anchored on their whole length.
pub const ANCHOR: usize = 16;

// Arithmetic modulo 2^64 (wrapping): one multiplication per step. Polynomial hashes modulo
// 2^64 have collisions between strings that are both chosen (Thue–Morse pairs); a collision
// with a held form needs the form, so it can only conceal a harmless string, never reveal.
fn mul(a: u64, b: u64) -> u64 {
    a.wrapping_mul(b)
}

fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

fn sub(a: u64, b: u64) -> u64 {
    a.wrapping_sub(b)
}

/// One held form: the hash of its anchor window (`off` bytes into the form), of the whole
/// form, and `base^len`. `name == u32::MAX` marks a dummy (padding a slot), which never
/// matches.
#[derive(Clone, Copy)]
struct Entry {
    tag: u64,
    full: u64,
    pow: u64,
    off: u32,
    len: u32,
    name: u32,
}

const DUMMY: Entry = Entry {
    tag: u64::MAX,
    full: u64::MAX,
    pow: 0,
    off: 0,
    len: 0,
    name: u32::MAX,
};

/// The forms anchored on one anchor length: a table of `slots × width` entries.
struct Table {
    anchor: usize,
    pow_anchor: u64,
    width: usize,
    shift: u32,
    entries: Vec<Entry>,
}

/// One whole-form match: the secret's name and the byte range `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    /// The secret's name.
    pub name: String,
    /// Byte offset where the form starts.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

/// The `POST /guard/scan` body (the route is `api::guard`; the types live here so the guard
/// and the daemon share them without depending on each other).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct GuardScanRequest {
    /// The text to scan (at most the body limit, 1 MiB, once JSON-encoded: the guard sends
    /// longer texts in overlapping chunks, see [`crate::guard::CHUNK_OVERLAP`]).
    pub text: String,
}

/// The `POST /guard/scan` response.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct GuardScanResponse {
    /// Whether a scan hold exists: without one, nothing was checked against known values.
    pub held: bool,
    /// The whole-form matches of known values: name and byte range, sorted by start.
    pub findings: Vec<Hit>,
    /// Whether a tripwire locked the hold (issue 20): the guard then checks patterns only
    /// until the user runs `patina session unlock --ack-canary`. Sent only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tripped: bool,
}

/// The keyed digests of every encoded form of a set of named values. Holds no value; its
/// `Debug` shows only counts.
pub struct Hold {
    base: u64,
    names: Vec<String>,
    tables: Vec<Table>,
    forms: usize,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hold([redacted] {} forms)", self.forms)
    }
}

fn random_base() -> u64 {
    // An odd base (an even one would shift the high bits out), not tiny.
    crate::secrets::random::random_key() | (1 << 63) | 1
}

impl Hold {
    /// The hold of `values` (name, value): every form of [`held_forms`] (the masker's
    /// encodings, reversed, base32, ROT13, UTF-16LE hex; ASCII case ignored by every scan) of
    /// each value of at least [`MIN_MASKED_LEN`] bytes, hashed with a fresh random key.
    pub fn new<'a>(values: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Hold {
        Hold::with_base(values, random_base())
    }

    /// The hold scry redacts with while no value is held in clear (issue 16 item 5): the
    /// pieces of each value of at least [`MIN_MASKED_LEN`] bytes that the unlocked redaction
    /// ([`crate::secrets::scan::Redactor`]) hides — the [`piece_len`]-byte windows of the
    /// value as a reader may be shown it at the offsets of
    /// [`crate::secrets::mask::piece_offsets`] (half a piece apart, and the last), and its
    /// first and last [`partial_min`] bytes (a snippet cut through the value) — all ASCII
    /// lower-cased: scan it with [`Hold::scan_pieces`]. Each piece is at least 64 bits of
    /// guessing work, and a reader who knows one piece needs at least 32 more bits to confirm
    /// the next, so a hit is no byte-by-byte oracle.
    pub fn pieces<'a>(values: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Hold {
        Hold::build(
            values,
            |value| {
                let mut out: Vec<zeroize::Zeroizing<Vec<u8>>> = Vec::new();
                let edge = partial_min(value);
                let lower = zeroize::Zeroizing::new(value.to_ascii_lowercase());
                if edge < lower.len() {
                    out.push(zeroize::Zeroizing::new(lower[..edge].to_vec()));
                    out.push(zeroize::Zeroizing::new(
                        lower[lower.len() - edge..].to_vec(),
                    ));
                }
                let piece = piece_len(value);
                for source in piece_sources(value) {
                    if source.len() <= piece {
                        out.push(source);
                        continue;
                    }
                    // At a stride, not every window: no byte-by-byte oracle
                    // ([`crate::secrets::mask::piece_offsets`]).
                    for off in crate::secrets::mask::piece_offsets(source.len(), piece) {
                        out.push(zeroize::Zeroizing::new(source[off..off + piece].to_vec()));
                    }
                }
                out
            },
            random_base(),
        )
    }

    /// [`Hold::scan`], for a hold made by [`Hold::pieces`] (every scan ignores ASCII case).
    pub fn scan_pieces(&self, text: &[u8]) -> Vec<Hit> {
        self.scan(text)
    }

    fn with_base<'a>(values: impl IntoIterator<Item = (&'a str, &'a [u8])>, base: u64) -> Hold {
        Hold::build(values, held_forms, base)
    }

    /// A hold of the byte strings `expand` makes of each value (each of at least
    /// [`MIN_MASKED_LEN`] bytes), hashed with `base`.
    fn build<'a>(
        values: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        expand: impl Fn(&[u8]) -> Vec<zeroize::Zeroizing<Vec<u8>>>,
        base: u64,
    ) -> Hold {
        let mut names: Vec<String> = Vec::new();
        let mut held: Vec<(u32, zeroize::Zeroizing<Vec<u8>>)> = Vec::new();
        for (name, value) in values {
            if value.len() < MIN_MASKED_LEN {
                continue;
            }
            let idx = match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_string());
                    names.len() - 1
                }
            } as u32;
            for mut form in expand(value) {
                if form.len() >= MIN_MASKED_LEN && form.len() <= u32::MAX as usize {
                    // ASCII case is ignored (a scan hashes the text lower-cased): a value
                    // partly upper-cased (`tr a-f A-F`) is still whole.
                    form.make_ascii_lowercase();
                    held.push((idx, form));
                }
            }
        }
        // How many forms hold each ANCHOR-byte window: each form is anchored on its rarest
        // window (the variants of one value — percent-encoded, JSON-escaped, padded — share
        // their first bytes, and a shared anchor would widen every slot).
        let mut seen: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
        for (_, form) in &held {
            if form.len() >= ANCHOR {
                let mut windows: Vec<u64> = form.windows(ANCHOR).map(|w| hash(base, w)).collect();
                windows.sort_unstable();
                windows.dedup();
                for w in windows {
                    *seen.entry(w).or_default() += 1;
                }
            }
        }
        // (anchor length, entry)
        let mut all: Vec<(usize, Entry)> = Vec::new();
        // Anchors chosen so far: a window already chosen by another form (a substring form,
        // such as base64 inside a longer base64) is avoided when the form has another.
        let mut chosen: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
        // (anchor length, whole hash, length, name) of the entries kept: one entry each.
        let mut unique: std::collections::HashSet<(usize, u64, u32, u32)> =
            std::collections::HashSet::new();
        for (idx, form) in held {
            {
                let anchor = form.len().min(ANCHOR);
                let off = (0..=form.len() - anchor)
                    .min_by_key(|&o| {
                        let h = hash(base, &form[o..o + anchor]);
                        (
                            chosen.get(&h).copied().unwrap_or(0),
                            seen.get(&h).copied().unwrap_or(0),
                        )
                    })
                    .unwrap_or(0);
                *chosen
                    .entry(hash(base, &form[off..off + anchor]))
                    .or_default() += 1;
                let e = Entry {
                    tag: hash(base, &form[off..off + anchor]),
                    full: hash(base, &form),
                    pow: pow(base, form.len()),
                    off: off as u32,
                    len: form.len() as u32,
                    name: idx,
                };
                if unique.insert((anchor, e.full, e.len, e.name)) {
                    all.push((anchor, e));
                }
            }
        }
        let forms_count = all.len();
        let mut anchors: Vec<usize> = all.iter().map(|(a, _)| *a).collect();
        anchors.sort_unstable();
        anchors.dedup();
        let tables = anchors
            .into_iter()
            .map(|anchor| {
                let mine: Vec<Entry> = all
                    .iter()
                    .filter(|(a, _)| *a == anchor)
                    .map(|(_, e)| *e)
                    .collect();
                let slots = (mine.len() * 4).next_power_of_two().max(16);
                let shift = 64 - slots.trailing_zeros();
                let mut buckets: Vec<Vec<Entry>> = vec![Vec::new(); slots];
                for e in mine {
                    buckets[slot(e.tag, shift)].push(e);
                }
                let width = buckets.iter().map(Vec::len).max().unwrap_or(1).max(1);
                let mut entries = Vec::with_capacity(slots * width);
                for b in buckets {
                    let n = b.len();
                    entries.extend(b);
                    entries.extend(std::iter::repeat_n(DUMMY, width - n));
                }
                Table {
                    anchor,
                    pow_anchor: pow(base, anchor),
                    width,
                    shift,
                    entries,
                }
            })
            .collect();
        Hold {
            base,
            names,
            tables,
            forms: forms_count,
        }
    }

    /// Whether it holds no form (no value of at least [`MIN_MASKED_LEN`] bytes).
    pub fn is_empty(&self) -> bool {
        self.forms == 0
    }

    /// How many distinct names it holds.
    pub fn names(&self) -> usize {
        self.names.len()
    }

    /// The widest slot of its tables: the entry checks made at every position of a text, per
    /// anchor length.
    pub fn width(&self) -> usize {
        self.tables.iter().map(|t| t.width).max().unwrap_or(0)
    }

    /// Every whole-form match in `text`, sorted by start offset (overlaps all reported; the
    /// same range is reported once per name).
    pub fn scan(&self, text: &[u8]) -> Vec<Hit> {
        self.scan_counting(text).0
    }

    /// [`Hold::scan`] and the number of entry checks it made (for the tests that show the
    /// work does not depend on the text's content).
    pub(crate) fn scan_counting(&self, text: &[u8]) -> (Vec<Hit>, usize) {
        let n = text.len();
        let mut prefix = Vec::with_capacity(n + 1);
        prefix.push(0u64);
        let mut h = 0u64;
        for &b in text {
            h = add(mul(h, self.base), b.to_ascii_lowercase() as u64 + 1);
            prefix.push(h);
        }
        let mut hits: Vec<(u32, usize, usize)> = Vec::new();
        let mut checks = 0usize;
        for t in &self.tables {
            if t.anchor > n {
                continue;
            }
            for s in 0..=n - t.anchor {
                let a = sub(prefix[s + t.anchor], mul(prefix[s], t.pow_anchor));
                let i = slot(a, t.shift) * t.width;
                for e in &t.entries[i..i + t.width] {
                    // The form would start `off` bytes before the anchor window.
                    let off = e.off as usize;
                    let starts = s >= off;
                    let start = if starts { s - off } else { 0 };
                    let end = start + e.len as usize;
                    let inside = end <= n;
                    let full = sub(prefix[end.min(n)], mul(prefix[start], e.pow));
                    checks += 1;
                    if (e.tag == a) & (full == e.full) & inside & starts & (e.name != u32::MAX) {
                        hits.push((e.name, start, end));
                    }
                }
            }
        }
        hits.sort_by_key(|&(name, s, e)| (s, e, name));
        hits.dedup();
        let hits = hits
            .into_iter()
            .map(|(name, start, end)| Hit {
                name: self.names[name as usize].clone(),
                start,
                end,
            })
            .collect();
        (hits, checks)
    }
}

fn hash(base: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |h, &b| {
        add(mul(h, base), b.to_ascii_lowercase() as u64 + 1)
    })
}

fn pow(base: u64, mut e: usize) -> u64 {
    let (mut r, mut b) = (1u64, base);
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, b);
        }
        b = mul(b, b);
        e >>= 1;
    }
    r
}

fn slot(h: u64, shift: u32) -> usize {
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built at run time, never a literal that looks like a real secret.
    fn canary() -> String {
        ["Pc4n4ry", "-7f3e9c1d", "+x/y=z"].concat()
    }

    #[test]
    fn finds_whole_values_in_every_form_and_nothing_else() {
        let v = canary();
        let h = Hold::new([("canary", v.as_bytes())]);
        for form in held_forms(v.as_bytes()) {
            let text = [b"before ".as_slice(), &form, b" after"].concat();
            let hits = h.scan(&text);
            assert!(
                hits.iter()
                    .any(|x| x.start == 7 && x.end == 7 + form.len() && x.name == "canary"),
                "a form was missed ({} bytes)",
                form.len()
            );
        }
        assert!(
            h.scan(b"nothing to see here, a plain build log line")
                .is_empty()
        );
        assert!(h.scan(b"").is_empty());
        assert!(h.scan(&v.as_bytes()[..v.len() - 1]).is_empty());
    }

    #[test]
    fn short_values_and_several_names() {
        let h = Hold::new([("a", b"wxyz".as_slice()), ("b", b"abc".as_slice())]);
        assert_eq!(h.names(), 1, "values under MIN_MASKED_LEN are not held");
        let hits = h.scan(b"..wxyz..");
        assert_eq!(
            hits,
            vec![Hit {
                name: "a".into(),
                start: 2,
                end: 6
            }]
        );
    }

    /// The guessing attack of requirements §11: prefixes and near misses of the value answer exactly
    /// as an unrelated string of the same length, with exactly the same number of entry
    /// checks; only the whole value is found.
    #[test]
    fn a_guessing_attack_learns_nothing_from_prefixes_or_near_misses() {
        let v = canary();
        let others: Vec<String> = (0..40)
            .map(|i| format!("other-secret-value-{i:03}"))
            .collect();
        let mut values: Vec<(&str, &[u8])> = vec![("canary", v.as_bytes())];
        for o in &others {
            values.push(("other", o.as_bytes()));
        }
        let h = Hold::new(values);
        let unrelated: String = "Qz9mKLw2aaaabbbbccccdd".chars().take(v.len()).collect();
        assert_eq!(unrelated.len(), v.len());
        let (base_hits, base_work) = h.scan_counting(unrelated.as_bytes());
        assert!(base_hits.is_empty());
        let vb = v.as_bytes();
        let mut guesses: Vec<Vec<u8>> = Vec::new();
        // Every prefix, padded to the value's length.
        for k in 0..vb.len() {
            let mut g = vb[..k].to_vec();
            g.resize(vb.len(), b'a');
            guesses.push(g);
        }
        // Every one-byte near miss.
        for i in 0..vb.len() {
            let mut g = vb.to_vec();
            g[i] ^= 1;
            guesses.push(g);
        }
        for g in &guesses {
            let (hits, work) = h.scan_counting(g);
            assert!(hits.is_empty(), "a guess that is not the value matched");
            assert_eq!(work, base_work, "the work depended on the guess");
        }
        let (hits, work) = h.scan_counting(vb);
        assert_eq!(work, base_work);
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].start, hits[0].end), (0, vb.len()));
    }

    /// The variants of one value share most of their bytes; anchoring each form on its rarest
    /// window keeps the slots narrow (the work per position), and every form is still found.
    #[test]
    fn fifty_values_keep_the_slots_narrow_and_all_forms_found() {
        let values: Vec<String> = (0..50)
            .map(|i| format!("k{i:02}-Zq8+x/y=z-{}", "ab".repeat(8 + i % 20)))
            .collect();
        let h = Hold::new(values.iter().map(|v| ("n", v.as_bytes())));
        assert!(h.width() <= 8, "slots {} wide", h.width());
        for v in &values {
            for form in held_forms(v.as_bytes()) {
                let hits = h.scan(&form);
                assert!(hits.iter().any(|x| x.start == 0 && x.end == form.len()));
            }
        }
    }

    #[test]
    fn keys_differ_per_build_and_debug_shows_no_value() {
        let v = canary();
        let a = Hold::new([("canary", v.as_bytes())]);
        let b = Hold::new([("canary", v.as_bytes())]);
        assert_ne!(a.base, b.base);
        let d = format!("{a:?}");
        assert!(!d.contains("Pc4n4ry") && d.contains("redacted"));
    }
}
