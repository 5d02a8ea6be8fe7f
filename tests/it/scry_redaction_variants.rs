//! Known secret values shown the way scry shows text: with whitespace folded, lower-cased
//! (front matter `type` as `kind`), with highlight brackets inside, or only their middle. Found by a hostile review
//! (each leaked the value before `mask::forms` gained these variants). Each test writes a
//! note holding a run-time generated value, scrapes it, searches it the way `/api/scry` does
//! (`Index::search`, then `scry::redact::redacted` with the session's known values) and
//! asserts that no piece of the value of 5 bytes or more is in any field of any hit. The
//! values are never printed: a failure names the field and the length of what leaked.

use patina::scry::{Hit, Index, redact, scrape};
use patina::secrets::scan::Known;

/// Letters and digits from a generator seeded by the clock (no value is a literal here).
fn random_word(n: usize, seed: &mut u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            ALPHABET[(*seed % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    t | 1
}

/// The longest piece of `value` (in bytes) found in `text`.
fn longest_piece(value: &str, text: &str) -> usize {
    let v = value.as_bytes();
    let mut best = 0;
    for i in 0..v.len() {
        let mut len = best + 1;
        while i + len <= v.len() {
            match std::str::from_utf8(&v[i..i + len]) {
                Ok(piece) if text.contains(piece) => {
                    best = len;
                    len += 1;
                }
                Ok(_) => break,
                Err(_) => len += 1,
            }
        }
    }
    best
}

/// Scrapes `files` into a temp project, searches `query`, redacts with `value` known, and
/// returns the redacted hits.
fn search_redacted(files: &[(&str, String)], query: &str, value: &str) -> Vec<Hit> {
    let t = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = t.path().join("layer/core").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    scrape(t.path()).unwrap();
    let mut index = Index::open(t.path()).unwrap();
    let hits = index.search(query, 10, None).unwrap();
    assert!(!hits.is_empty(), "the query finds the note");
    let known = [Known {
        name: "review",
        value: value.as_bytes(),
    }];
    redact::redacted(&hits, &known).into_owned()
}

/// Panics (without the value) when a piece of `value` of `min` bytes or more is in a hit.
fn assert_no_piece(hits: &[Hit], value: &str, min: usize, what: &str) {
    for h in hits {
        for (field, text) in [
            ("snippet", &h.snippet),
            ("title", &h.title),
            ("path", &h.path),
            ("kind", &h.kind),
        ] {
            let n = longest_piece(value, text);
            assert!(
                n < min,
                "{what}: {n} of the value's {} bytes are in the hit's {field} (redacted: {})",
                value.len(),
                h.redacted
            );
        }
    }
}

/// A value holding `[` and `]` (a password may), with the query word inside it: FTS5's
/// highlight adds brackets of its own, so neither the text nor the text without brackets
/// holds the value, and the whole value is shown.
#[test]
fn a_value_with_brackets_and_a_highlight_inside_is_redacted() {
    let s = &mut seed();
    let (a, b, c) = (random_word(4, s), random_word(5, s), random_word(5, s));
    let value = format!("{a}[{b}]{c}");
    let note = format!("# Note\nthe password is {value} for the staging box\n");
    let hits = search_redacted(&[("a.md", note)], &c, &value);
    assert_no_piece(&hits, &value, 5, "brackets in the value");
}

/// A value with a tab, a newline or two spaces inside: snippets fold whitespace, so the
/// value is no longer in the snippet verbatim and is shown whole (but for that whitespace).
#[test]
fn a_value_with_whitespace_inside_is_redacted_from_a_folded_snippet() {
    for sep in ["\t", "\n", "  "] {
        let s = &mut seed();
        let (a, b) = (random_word(7, s), random_word(7, s));
        let value = format!("{a}{sep}{b}");
        let note = format!("# Note\nthe passphrase is {value} for the staging box\n");
        let hits = search_redacted(&[("a.md", note)], "passphrase", &value);
        assert_no_piece(&hits, &value, 5, &format!("separator {sep:?}"));
    }
}

/// Front matter `type` becomes the hit's `kind` lower-cased, so a value with upper case in
/// it no longer matches and is shown (lower-cased) in `kind`.
#[test]
fn a_value_in_front_matter_type_is_redacted_from_kind() {
    let s = &mut seed();
    let value = format!("Qx{}-{}", random_word(6, s), random_word(8, s));
    let note = format!("---\ntype: {value}\n---\n# Note\nthe staging box\n");
    let hits = search_redacted(&[("a.md", note)], "staging", &value);
    let lower = value.to_lowercase();
    assert_no_piece(&hits, &lower, 8, "value in type (lower-cased)");
}

/// A long value of many words (a 24-word recovery phrase): the 14-token snippet shows its
/// middle, which is neither the whole value nor a piece cut at an edge of the snippet.
#[test]
fn the_middle_of_a_long_value_is_redacted() {
    let s = &mut seed();
    let words: Vec<String> = (0..24).map(|_| random_word(5, s).to_lowercase()).collect();
    let value = words.join(" ");
    let note = format!("# Wallet\nthe recovery phrase is {value} so keep it safe\n");
    let hits = search_redacted(&[("a.md", note)], &words[13], &value);
    assert_no_piece(&hits, &value, 12, "24-word value");
}
