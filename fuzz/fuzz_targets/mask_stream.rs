//! The masking stream (`secrets::mask`): arbitrary program output, cut into arbitrary writes,
//! with up to three known values, one of them also inserted whole in one of the forms the
//! masker claims (`mask::output_forms`). Checks: the streamed output equals a plain leftmost-longest
//! replacement of every pattern, ASCII case ignored, over the whole output (so no form that arrives whole ever
//! passes unmasked, however the writes cut it); `Masker::mask` gives the same bytes; and the
//! stream never holds back a whole pattern's worth of bytes.
//!
//! Input: byte 0 = number of values (1–3); per value a length byte (mod 40) and the bytes;
//! a byte choosing the form to insert and where; a byte n (mod 16) and n write sizes; the
//! output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patina::secrets::mask::{MIN_MASKED_LEN, Masker, REPLACEMENT, output_forms};

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (a, b) = data.split_at(n);
    *data = b;
    a
}

fn byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
}

/// Leftmost-longest replacement of `patterns` (lower-cased) in `input`, ASCII case ignored,
/// the slow obvious way.
fn reference(patterns: &[Vec<u8>], input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let longest = patterns
            .iter()
            .filter(|p| input.len() - i >= p.len() && input[i..i + p.len()].eq_ignore_ascii_case(p))
            .map(Vec::len)
            .max();
        match longest {
            Some(n) => {
                out.extend_from_slice(REPLACEMENT);
                i += n;
            }
            None => {
                out.push(input[i]);
                i += 1;
            }
        }
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let count = byte(&mut data) % 3 + 1;
    let mut values = Vec::new();
    for _ in 0..count {
        let len = (byte(&mut data) % 40) as usize;
        values.push(take(&mut data, len).to_vec());
    }
    let insert = byte(&mut data);
    let cuts_n = (byte(&mut data) % 16) as usize;
    let cuts = take(&mut data, cuts_n).to_vec();
    let mut output = data.to_vec();

    let mut patterns: Vec<Vec<u8>> = Vec::new();
    for v in values.iter().filter(|v| v.len() >= MIN_MASKED_LEN) {
        for f in output_forms(v) {
            let f = f.to_ascii_lowercase();
            if !patterns.contains(&f) {
                patterns.push(f);
            }
        }
    }
    // One form of a value, inserted whole at a chosen place.
    if !patterns.is_empty() {
        let f = &patterns[insert as usize % patterns.len()];
        let at = if output.is_empty() {
            0
        } else {
            (insert as usize * 7) % (output.len() + 1)
        };
        output.splice(at..at, f.iter().copied());
    }
    let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0);

    // The pattern stage (the hex-dump stage has its own tests, with the real tools).
    let masker = Masker::new(values.iter().map(Vec::as_slice)).patterns_only();
    let mut stream = masker.stream();
    let mut streamed = Vec::new();
    let mut rest = &output[..];
    let mut i = 0;
    while !rest.is_empty() {
        let n = if cuts.is_empty() {
            rest.len()
        } else {
            (cuts[i % cuts.len()] as usize).max(1)
        };
        i += 1;
        let (piece, r) = rest.split_at(n.min(rest.len()));
        rest = r;
        stream.push(piece, &mut streamed);
        assert!(
            stream.held() < max_len.max(1),
            "held back a whole pattern's worth"
        );
    }
    stream.finish(&mut streamed);

    let want = reference(&patterns, &output);
    assert!(
        streamed == want,
        "the stream differs from leftmost-longest replacement"
    );
    assert!(
        masker.mask(&output) == want,
        "mask() differs from leftmost-longest replacement"
    );
});
