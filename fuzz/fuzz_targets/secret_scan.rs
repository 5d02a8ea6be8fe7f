//! The secret scanner (`secrets::scan`): arbitrary text and up to three known values. Checks:
//! findings lie inside the text, are sorted, and a `known` one names a given secret; every
//! place where a known value appears whole is overlapped by a finding of that name
//! (occurrences are reported without overlap, as `find_all` does); after redaction (`Redactor`, as scry
//! uses it, and `redact`) no known value of at least `MIN_MASKED_LEN` bytes is left in the
//! text outside a `[redacted]` marker; and redacting twice changes nothing more.
//!
//! Input: byte 0 = number of values (0–3); per value a length byte (mod 40) and the bytes;
//! the text (lossy UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use patina::secrets::mask::MIN_MASKED_LEN;
use patina::secrets::scan::{Known, REDACTED, Redactor, redact, scan};

const NAMES: [&str; 3] = ["ALPHA", "BRAVO", "CHARLIE"];

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (a, b) = data.split_at(n);
    *data = b;
    a
}

/// Start offsets of every occurrence of `needle` in `hay`.
fn all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return Vec::new();
    }
    (0..=hay.len() - needle.len())
        .filter(|&i| hay[i..].starts_with(needle))
        .collect()
}

/// Whether every occurrence of `value` in `text` overlaps a `[redacted]` marker.
fn only_inside_markers(text: &str, value: &[u8]) -> bool {
    let marks: Vec<(usize, usize)> = all(text.as_bytes(), REDACTED.as_bytes())
        .into_iter()
        .map(|s| (s, s + REDACTED.len()))
        .collect();
    all(text.as_bytes(), value)
        .into_iter()
        .all(|s| marks.iter().any(|&(a, b)| s < b && a < s + value.len()))
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let count = take(&mut data, 1).first().copied().unwrap_or(0) % 4;
    let mut values = Vec::new();
    for _ in 0..count {
        let len = (take(&mut data, 1).first().copied().unwrap_or(0) % 40) as usize;
        values.push(take(&mut data, len).to_vec());
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let known: Vec<Known<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Known {
            name: NAMES[i],
            value: v,
        })
        .collect();

    let findings = scan(text.as_bytes(), &known);
    let mut last = 0;
    for f in &findings {
        assert!(
            f.start < f.end && f.end <= text.len(),
            "finding outside the text"
        );
        assert!(f.start >= last, "findings not sorted");
        last = f.start;
        if f.kind == "known" {
            assert!(
                f.name
                    .as_deref()
                    .is_some_and(|n| NAMES[..known.len()].contains(&n))
            );
        }
    }
    for (i, v) in values.iter().enumerate() {
        if v.len() < MIN_MASKED_LEN {
            continue;
        }
        // Several names may hold the same value: one finding per span names one of them.
        let same: Vec<&str> = (0..values.len())
            .filter(|&j| values[j] == *v)
            .map(|j| NAMES[j])
            .collect();
        debug_assert!(same.contains(&NAMES[i]));
        for s in all(text.as_bytes(), v) {
            assert!(
                findings.iter().any(|f| f.kind == "known"
                    && f.name.as_deref().is_some_and(|n| same.contains(&n))
                    && f.start < s + v.len()
                    && s < f.end),
                "a known value at {s} not reported (no finding overlaps it)"
            );
        }
    }

    let redactor = Redactor::new(&known);
    let once = redactor.redact(&text);
    assert_eq!(once, redact(&text, &known), "Redactor and redact disagree");
    let shown = once.as_deref().unwrap_or(&text);
    for v in values.iter().filter(|v| v.len() >= MIN_MASKED_LEN) {
        assert!(
            only_inside_markers(shown, v),
            "a known value survived redaction"
        );
    }
    if let Some(r) = &once {
        if let Some(twice) = redactor.redact(r) {
            for v in values.iter().filter(|v| v.len() >= MIN_MASKED_LEN) {
                assert!(only_inside_markers(&twice, v));
            }
        }
    }
});
