//! Scry never hands out a secret: every hit's snippet, title, path and kind pass through the
//! detector of [`crate::secrets::scan`] before they leave, in the daemon's `/api/scry` handler
//! and in the CLI's no-daemon path alike. Pure; depends only on that detector.

use super::Hit;
use crate::secrets::scan::{Known, Redactor};

/// Replaces, in each hit's snippet, title, path and kind (front matter `type` is user text),
/// every secret-looking token and every `known` value (whole, or a piece of it: `secrets::scan`)
/// with `[redacted]`, and marks the hit `redacted`. Returns how many hits were changed.
/// The known values' encoded forms are computed once per call ([`Redactor`]); a field with
/// nothing to redact is left as it is, without a copy.
pub fn redact_hits(hits: &mut [Hit], known: &[Known<'_>]) -> usize {
    let redactor = Redactor::new(known);
    let mut changed = 0;
    for h in hits.iter_mut() {
        let mut any = false;
        for field in [&mut h.snippet, &mut h.title, &mut h.path, &mut h.kind] {
            if let Some(text) = redactor.redact(field) {
                *field = text;
                any = true;
            }
        }
        if any {
            h.snippet = unmark(std::mem::take(&mut h.snippet));
            h.redacted = true;
            changed += 1;
        }
    }
    changed
}

/// `snippet` without a highlight bracket that touches a redacted span: `[[redacted]` and
/// `[redacted]]` become `[redacted]` (QA session 9, L11). Such a bracket is the `[term]` mark
/// of a query word that matched inside the value: left, it says the value starts or ends at
/// that word, and the snippet looks broken.
fn unmark(snippet: String) -> String {
    if !snippet.contains("[[redacted]") && !snippet.contains("[redacted]]") {
        return snippet;
    }
    let mut s = snippet;
    while s.contains("[[redacted]") {
        s = s.replace("[[redacted]", "[redacted]");
    }
    while s.contains("[redacted]]") {
        s = s.replace("[redacted]]", "[redacted]");
    }
    s
}

/// [`redact_hits`] without copying what needs no change: `hits` itself (borrowed) when no
/// field of any hit holds anything to redact, else a copy with those fields redacted and
/// those hits marked `redacted`, exactly as [`redact_hits`] leaves them.
pub fn redacted<'h>(hits: &'h [Hit], known: &[Known<'_>]) -> std::borrow::Cow<'h, [Hit]> {
    let redactor = Redactor::new(known);
    let mut copy: Option<Vec<Hit>> = None;
    for (i, h) in hits.iter().enumerate() {
        for (field, text) in [&h.snippet, &h.title, &h.path, &h.kind]
            .into_iter()
            .enumerate()
        {
            if let Some(new) = redactor.redact(text) {
                let c = &mut copy.get_or_insert_with(|| hits.to_vec())[i];
                *match field {
                    0 => &mut c.snippet,
                    1 => &mut c.title,
                    2 => &mut c.path,
                    _ => &mut c.kind,
                } = new;
                c.snippet = unmark(std::mem::take(&mut c.snippet));
                c.redacted = true;
            }
        }
    }
    copy.map_or(std::borrow::Cow::Borrowed(hits), std::borrow::Cow::Owned)
}

/// Replaces, in each hit's snippet, title, path and kind, every byte range `find` returns
/// for that field's text with `[redacted]` (ranges merged, widened to whole characters), and
/// marks the hit `redacted`. Returns how many hits were changed. For the scan hold, which
/// answers ranges, not values ([`crate::guard::hold::Hold`]).
pub fn redact_ranges(hits: &mut [Hit], find: impl Fn(&[u8]) -> Vec<(usize, usize)>) -> usize {
    let mut changed = 0;
    for h in hits.iter_mut() {
        let mut any = false;
        for field in [&mut h.snippet, &mut h.title, &mut h.path, &mut h.kind] {
            let mut ranges = find(field.as_bytes());
            if ranges.is_empty() {
                continue;
            }
            ranges.sort_unstable();
            let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
            for (start, end) in ranges {
                let mut s = start.min(field.len());
                while !field.is_char_boundary(s) {
                    s -= 1;
                }
                let mut e = end.min(field.len());
                while !field.is_char_boundary(e) {
                    e += 1;
                }
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            let mut out = String::with_capacity(field.len());
            let mut at = 0;
            for (s, e) in merged {
                out.push_str(&field[at..s]);
                out.push_str("[redacted]");
                at = e;
            }
            out.push_str(&field[at..]);
            *field = out;
            any = true;
        }
        if any {
            h.snippet = unmark(std::mem::take(&mut h.snippet));
            h.redacted = true;
            changed += 1;
        }
    }
    changed
}

/// The longest run a hit's snippet, title or kind shows whole, in characters: a run is a
/// maximal stretch of letters and digits (a token, [`super::tokenize`]) or of everything else
/// (the text between tokens), a combining mark continuing either. A snippet is cut to
/// [`super::SNIPPET_TOKENS`] tokens, but the text between two of them, and a token itself, have
/// no bound of their own: 900 KB of `{` after a word was one 900 KB snippet (QA session 11, F).
pub const RUN_CHARS: usize = 96;

/// Characters kept at each end of a run longer than [`RUN_CHARS`], with `…` between them.
pub const RUN_KEEP: usize = 40;

/// `text` with every run (see [`RUN_CHARS`]) longer than [`RUN_CHARS`] characters cut to its
/// first and last [`RUN_KEEP`] characters joined by `…`; `None` when no run is that long. A
/// field so cut is at most about 2 × [`RUN_KEEP`] + 1 characters per run.
///
/// This only removes text, so it must run **after every redaction pass** (the known values'
/// [`redact_hits`], the scan hold's [`redact_ranges`]), never before: a redactor matches a
/// known value and its pieces in the whole text, and a value cut short by this (a value made
/// only of punctuation is one run) could slip under the size of a piece it would have matched.
pub fn bound_runs(text: &str) -> Option<String> {
    let runs = long_runs(text);
    if runs.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len().min(runs.len() * 4 * (2 * RUN_KEEP + 1)));
    let mut at = 0;
    for (keep_to, resume_at) in runs {
        out.push_str(&text[at..keep_to]);
        out.push('…');
        at = resume_at;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The byte ranges to leave out of `text`: for each run longer than [`RUN_CHARS`] characters,
/// (end of its first [`RUN_KEEP`] characters, start of its last [`RUN_KEEP`]).
fn long_runs(text: &str) -> Vec<(usize, usize)> {
    use unicode_normalization::char::is_combining_mark;
    let mut cuts = Vec::new();
    // The current run: its class (letters and digits or not), its length in characters, and
    // the byte end of its first RUN_KEEP characters.
    let mut class: Option<bool> = None;
    let mut chars = 0usize;
    let mut keep_to = 0usize;
    // Byte offsets of the run's last RUN_KEEP + 1 character starts, as a ring.
    let mut ring = [0usize; RUN_KEEP + 1];
    let mut close = |chars: usize, keep_to: usize, ring: &[usize; RUN_KEEP + 1]| {
        if chars > RUN_CHARS {
            // The start of the run's last RUN_KEEP characters.
            cuts.push((keep_to, ring[(chars - RUN_KEEP) % (RUN_KEEP + 1)]));
        }
    };
    for (i, c) in text.char_indices() {
        let word = if is_combining_mark(c) {
            class.unwrap_or(false)
        } else {
            c.is_alphanumeric()
        };
        if class != Some(word) {
            if class.is_some() {
                close(chars, keep_to, &ring);
            }
            class = Some(word);
            chars = 0;
        }
        ring[chars % (RUN_KEEP + 1)] = i;
        chars += 1;
        if chars == RUN_KEEP {
            keep_to = i + c.len_utf8();
        }
    }
    if class.is_some() {
        close(chars, keep_to, &ring);
    }
    cuts
}

/// The most characters a hit's snippet shows after its runs are cut ([`bound_runs`]): a
/// snippet is [`super::SNIPPET_TOKENS`] tokens with the text between them, so with every run
/// at most 2 × [`RUN_KEEP`] + 1 characters it is about 2,400 at most; this bounds it whatever
/// the window rule does.
pub const SNIPPET_CHARS: usize = 2_000;

/// The most characters a hit's title or kind shows: a heading or a front matter `title:` is
/// one line of any length, and short runs (`ab ab ab …`) are not cut by [`bound_runs`] (QA
/// session 12, F3: a 900,006-character title).
pub const TITLE_CHARS: usize = 200;

/// `text` bounded: its long runs cut ([`bound_runs`]), then, if still longer than `max`
/// characters, its first `max - 1` and `…` (`max` in all). `None` when nothing is cut. Like [`bound_runs`], only
/// after every redaction pass.
pub fn bound_field(text: &str, max: usize) -> Option<String> {
    if text.len() <= RUN_CHARS.min(max) {
        return None;
    }
    let runs = bound_runs(text);
    let cur = runs.as_deref().unwrap_or(text);
    match cur
        .chars()
        .nth(max)
        .and(cur.char_indices().nth(max.saturating_sub(1)))
    {
        Some((end, _)) => {
            let mut out = String::with_capacity(end + '…'.len_utf8());
            out.push_str(&cur[..end]);
            out.push('…');
            Some(out)
        }
        None => runs,
    }
}

/// Each bounded field of a hit with its bound: snippet, title, kind (the path is left whole:
/// it names a file, and the file system bounds it).
fn fields(h: &mut Hit) -> [(&mut String, usize); 3] {
    [
        (&mut h.snippet, SNIPPET_CHARS),
        (&mut h.title, TITLE_CHARS),
        (&mut h.kind, TITLE_CHARS),
    ]
}

/// Whether [`bound_hits`] would change any of `hits`.
pub fn needs_bound(hits: &[Hit]) -> bool {
    hits.iter().any(|h| {
        [
            (&h.snippet, SNIPPET_CHARS),
            (&h.title, TITLE_CHARS),
            (&h.kind, TITLE_CHARS),
        ]
        .iter()
        .any(|(f, max)| {
            f.len() > RUN_CHARS.min(*max)
                && (!long_runs(f).is_empty() || f.chars().nth(*max).is_some())
        })
    })
}

/// [`bound_field`] on each hit's snippet ([`SNIPPET_CHARS`]), title and kind
/// ([`TITLE_CHARS`]); the path is left whole. The last step before hits leave a handler,
/// after every redaction pass. Returns how many hits were changed.
pub fn bound_hits(hits: &mut [Hit]) -> usize {
    let mut changed = 0;
    for h in hits.iter_mut() {
        let mut any = false;
        for (field, max) in fields(h) {
            if let Some(text) = bound_field(field, max) {
                *field = text;
                any = true;
            }
        }
        changed += usize::from(any);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::scan::reference;

    fn hit(path: &str, title: &str, kind: &str, snippet: &str) -> Hit {
        Hit {
            path: path.into(),
            title: title.into(),
            kind: kind.into(),
            line: 1,
            snippet: snippet.into(),
            score: 1.0,
            redacted: false,
        }
    }

    #[test]
    fn hits_are_redacted_field_by_field_as_the_reference_does() {
        // Test tokens are built at run time; the value is the suite's canary.
        let value = "Pc4n4ry-7f3e9c1d+x/y=z";
        let token = format!("gh{}_{}", "p", "a1B2".repeat(9));
        let hits = vec![
            hit(
                "core/a.md",
                "A",
                "doc",
                "…the [socket] is served by one [worker]…",
            ),
            hit("core/b.md", &token, "doc", "…a [token] in the title…"),
            hit("core/c.md", "C", &token, "clean [text]"),
            hit(
                "core/d.md",
                "D",
                "doc",
                &format!("…see [{}]{}…", &value[..7], &value[7..]),
            ),
            hit("core/e.md", "E", "doc", &format!("…then {}…", &value[..12])),
            hit(&format!("x/{token}.md"), "F", "doc", "[fine]"),
        ];
        for values in [&[][..], &[value.as_bytes()][..]] {
            let known: Vec<Known> = values
                .iter()
                .map(|v| Known {
                    name: "canary",
                    value: v,
                })
                .collect();
            let mut got = hits.clone();
            let changed = redact_hits(&mut got, &known);
            assert_eq!(&*redacted(&hits, &known), &got[..]);
            let clean = &hits[..1];
            assert!(matches!(
                redacted(clean, &known),
                std::borrow::Cow::Borrowed(_)
            ));
            let mut want_changed = 0;
            for (h, g) in hits.iter().zip(&got) {
                let fields = [&h.snippet, &h.title, &h.path, &h.kind];
                let want: Vec<_> = fields
                    .iter()
                    .map(|f| reference::redact(f, &known))
                    .collect();
                let redacted = want.iter().any(|w| w.1);
                want_changed += usize::from(redacted);
                assert_eq!(g.redacted, redacted, "{g:?}");
                let got_fields = [&g.snippet, &g.title, &g.path, &g.kind];
                for (i, (w, g)) in want.iter().zip(got_fields).enumerate() {
                    // The snippet also loses a highlight bracket touching a redaction.
                    let w = if i == 0 {
                        unmark(w.0.clone())
                    } else {
                        w.0.clone()
                    };
                    assert_eq!(&w, g);
                }
            }
            assert_eq!(changed, want_changed);
            assert_eq!(changed, 3 + values.len() * 2);
        }
    }

    #[test]
    fn ranges_are_merged_widened_to_characters_and_marked() {
        let mut hits = vec![
            hit("p.md", "títle", "note", "aa SECRET bb SECRET cc"),
            hit("q.md", "clean", "note", "nothing here"),
        ];
        let find = |t: &[u8]| -> Vec<(usize, usize)> {
            let s = std::str::from_utf8(t).unwrap();
            let mut r: Vec<(usize, usize)> = s
                .match_indices("SECRET")
                .map(|(i, m)| (i, i + m.len()))
                .collect();
            // Overlapping and adjacent ranges make one `[redacted]`.
            r.extend(s.match_indices("SEC").map(|(i, _)| (i + 1, i + 4)));
            // A range that starts inside a character covers the whole character.
            if s.starts_with("tí") {
                r.push((2, 3));
            }
            r
        };
        assert_eq!(redact_ranges(&mut hits, find), 1);
        assert_eq!(hits[0].snippet, "aa [redacted] bb [redacted] cc");
        assert_eq!(hits[0].title, "t[redacted]tle");
        assert!(hits[0].redacted);
        assert_eq!(hits[1].snippet, "nothing here");
        assert!(!hits[1].redacted);
    }

    /// QA session 9, L11: a query word's highlight bracket that touches a redacted span goes
    /// with it, whichever redaction made the span; other brackets stay.
    #[test]
    fn a_highlight_bracket_touching_a_redacted_span_goes_with_it() {
        let value = ["Qz9", "canary", "7f3e9c1d", "Lm2Rt8"].concat();
        // A whole value highlighted as one word, and a value whose start and end touch
        // the marks of two words.
        let mut hits = vec![
            hit(
                "a.md",
                "t",
                "note",
                &format!("password: [{value}] and [other]"),
            ),
            hit("b.md", "t", "note", &format!("key [x]{value}[y]")),
        ];
        let mut by_ranges = hits.clone();
        let known = [Known {
            name: "v",
            value: value.as_bytes(),
        }];
        let find = |t: &[u8]| -> Vec<(usize, usize)> {
            let s = std::str::from_utf8(t).unwrap();
            s.match_indices(value.as_str())
                .map(|(i, m)| (i, i + m.len()))
                .collect()
        };
        redact_ranges(&mut by_ranges, find);
        redact_hits(&mut hits, &known);
        for h in [&hits, &by_ranges] {
            assert_eq!(h[0].snippet, "password: [redacted] and [other]", "{h:?}");
            assert_eq!(h[1].snippet, "key [x][redacted][y]", "{h:?}");
        }
    }

    /// The runs of `text` as (is letters and digits, length in characters), combining marks
    /// continuing the run before them: the reference [`long_runs`] is checked against.
    fn runs(text: &str) -> Vec<(bool, usize)> {
        let mut out: Vec<(bool, usize)> = Vec::new();
        for c in text.chars() {
            let word = if unicode_normalization::char::is_combining_mark(c) {
                out.last().is_some_and(|r| r.0)
            } else {
                c.is_alphanumeric()
            };
            match out.last_mut() {
                Some(r) if r.0 == word => r.1 += 1,
                _ => out.push((word, 1)),
            }
        }
        out
    }

    #[test]
    fn long_runs_of_punctuation_or_of_one_word_are_cut_to_their_ends() {
        // QA session 11, F: 900 KB of `{` after a word was one 900 KB snippet.
        let braces = "{".repeat(900_000);
        let got = bound_runs(&format!("a [word] {braces}[next] x")).unwrap();
        // The run is `] {{…{[`: its first 40 characters and its last 40, the highlight
        // brackets of the words at its ends kept.
        let head = "{".repeat(RUN_KEEP - 2);
        let tail = "{".repeat(RUN_KEEP - 1);
        assert_eq!(got, format!("a [word] {head}…{tail}[next] x"));
        // A long token (a base64 blob, a minified line) the same way.
        let blob = "a1".repeat(50_000);
        let got = bound_runs(&format!("see {blob}.")).unwrap();
        assert_eq!(
            got,
            format!(
                "see {}…{}.",
                &blob[..RUN_KEEP],
                &blob[blob.len() - RUN_KEEP..]
            )
        );
        // Spaces are of the gap: folded `{ { { …` is one run too.
        let spaced = bound_runs(&"{ ".repeat(10_000)).unwrap();
        assert!(spaced.chars().count() <= 2 * RUN_KEEP + 1, "{spaced}");
        // A run of exactly RUN_CHARS stays; one more character cuts it.
        let edge = "é".repeat(RUN_CHARS);
        assert_eq!(bound_runs(&edge), None);
        let over = format!("{edge}é");
        let got = bound_runs(&over).unwrap();
        assert_eq!(
            got,
            format!("{}…{}", "é".repeat(RUN_KEEP), "é".repeat(RUN_KEEP))
        );
        assert_eq!(bound_runs("short text, [short] run"), None);
    }

    #[test]
    fn bound_runs_equals_cutting_each_run_by_hand() {
        // Multi-byte letters, CJK, emoji, combining marks after a letter and after punctuation,
        // runs around the bound, in a seeded mix.
        let alphabet = [
            "a", "Z", "9", "é", "語", "e\u{301}", "{", " ", "…", "😀", "\u{301}", "-",
        ];
        let mut rng = crate::test_rng::Rng(18);
        for _ in 0..crate::test_rng::cases(300, 30_000) {
            let mut text = String::new();
            for _ in 0..rng.below(6) {
                let piece = rng.pick(&alphabet);
                let n = *rng.pick(&[1, RUN_CHARS - 1, RUN_CHARS, RUN_CHARS + 1, 300]);
                for _ in 0..n {
                    text.push_str(piece);
                }
            }
            let mut want = String::new();
            let chars: Vec<char> = text.chars().collect();
            let mut at = 0;
            let mut any = false;
            for (_, len) in runs(&text) {
                let run: String = chars[at..at + len].iter().collect();
                if len > RUN_CHARS {
                    any = true;
                    want.extend(&chars[at..at + RUN_KEEP]);
                    want.push('…');
                    want.extend(&chars[at + len - RUN_KEEP..at + len]);
                } else {
                    want.push_str(&run);
                }
                at += len;
            }
            let got = bound_runs(&text);
            assert_eq!(got.is_some(), any, "{text:?}");
            assert_eq!(got.unwrap_or(text.clone()), want, "{text:?}");
        }
    }

    #[test]
    fn hits_are_bounded_in_snippet_title_and_kind_but_not_path() {
        let long = "x".repeat(5_000);
        let mut hits = vec![
            hit(&format!("d/{long}.rs"), &long, &long, &format!("[{long}]")),
            hit("a.md", "A", "doc", "[fine]"),
        ];
        assert!(needs_bound(&hits));
        assert!(!needs_bound(&hits[1..]));
        assert_eq!(bound_hits(&mut hits), 1);
        let cut = format!("{}…{}", &long[..RUN_KEEP], &long[..RUN_KEEP]);
        assert_eq!(hits[0].snippet, format!("[{cut}]"));
        assert_eq!(hits[0].title, cut);
        assert_eq!(hits[0].kind, cut);
        assert_eq!(hits[0].path, format!("d/{long}.rs"));
        assert_eq!(hits[1], hit("a.md", "A", "doc", "[fine]"));
        assert!(!needs_bound(&hits));
    }

    #[test]
    fn a_field_of_short_runs_is_cut_to_its_bound() {
        // QA session 12, F3: a heading of `ab ab ab …` came back as a 900,006-character title.
        let heading = format!("zqlima {}", "ab ".repeat(300_000));
        let mut hits = vec![hit("a.md", &heading, &heading, &heading)];
        assert!(needs_bound(&hits));
        assert_eq!(bound_hits(&mut hits), 1);
        let h = &hits[0];
        assert_eq!(h.title.chars().count(), TITLE_CHARS);
        assert_eq!(h.title, format!("{}…", &heading[..TITLE_CHARS - 1]));
        assert_eq!(h.kind, h.title);
        assert_eq!(h.snippet, format!("{}…", &heading[..SNIPPET_CHARS - 1]));
        assert!(!needs_bound(&hits));
        // Multi-byte characters are cut at a character; a field at its bound stays.
        let wide = "語 ".repeat(TITLE_CHARS / 2);
        assert_eq!(bound_field(&wide, TITLE_CHARS), None);
        let over = format!("{wide}語");
        let kept = format!("{}語", "語 ".repeat(TITLE_CHARS / 2 - 1));
        assert_eq!(bound_field(&over, TITLE_CHARS), Some(format!("{kept}…")));
        // Runs are cut first, then the whole.
        let both = format!("{} {}", "x".repeat(500), "ab ".repeat(500));
        let got = bound_field(&both, TITLE_CHARS).unwrap();
        assert!(got.starts_with(&format!(
            "{}…{} ab ab",
            "x".repeat(RUN_KEEP),
            "x".repeat(RUN_KEEP)
        )));
        assert_eq!(got.chars().count(), TITLE_CHARS);
    }
}
