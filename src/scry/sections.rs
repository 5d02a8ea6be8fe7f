//! Splitting one file's text into the rows of the index: markdown into sections at ATX
//! headings, any other text into fixed line windows. Depends on nothing but std and
//! [`super::frontmatter`]. Pure functions of the text: no I/O, no errors, no panics on any
//! input (CRLF, unterminated fences, empty files, megabyte-long lines).

use super::frontmatter::{self, FrontMatter, lines};

/// Lines per code window. Windows do not overlap: every line belongs to exactly one window,
/// so a term is reported once, at the window that holds it, and `line` values are unique per
/// file. The cost is that terms straddling a boundary are scored in two rows instead of
/// one; queries are OR-joined terms, not phrases across lines, so that costs little.
pub const CODE_WINDOW_LINES: usize = 40;

/// Separator between the levels of a section's heading path (`Design > Implementation`).
pub const HEADING_PATH_SEP: &str = " > ";

/// The most headings of one markdown file that start a section: a later heading line is body
/// text of the last section. Each section is a row with its own title and heading path, and
/// a file of a million `#` lines made as many rows (169 MB to scrape 1 MB; QA session 12,
/// F2); the largest `CHANGELOG.md` in the cargo registry here has 546 headings, the knowledge
/// corpus's largest note 108.
pub const MAX_SECTIONS: usize = 4_096;

/// One row of the index before it gets its file's path, title and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// 1-based line of the section's heading (markdown), of the first non-blank line of the
    /// text before any heading, or of the window's first non-blank line (code).
    pub line: u64,
    /// The section's heading path: its enclosing headings and its own, outermost first, joined
    /// with [`HEADING_PATH_SEP`], leaving out the heading used as the document title (that
    /// one is in the title column). Empty for the title section, text before the first
    /// heading, and code windows.
    pub headings: String,
    /// The text under the heading up to the next heading (the heading line itself excluded),
    /// or the window's lines; lines joined with `\n`.
    pub body: String,
}

/// A markdown file split into sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownDoc {
    /// Its front matter (empty if none).
    pub front_matter: FrontMatter,
    /// Front-matter `title`, else the first non-empty heading's text, else front-matter `id`,
    /// else `stem`.
    pub title: String,
    /// At least one section, in file order; an empty file gives one empty section at line 1.
    pub sections: Vec<Section>,
}

/// An ATX heading: `level` 1–6 and its text with the closing `#` sequence removed.
fn atx_heading(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None; // `#hashtag` is not a heading
    }
    let text = after.trim();
    // A closing sequence of `#`s counts only when preceded by a space (or is all there is).
    let without_hashes = text.trim_end_matches('#');
    let text = if without_hashes.is_empty() {
        ""
    } else if without_hashes.ends_with([' ', '\t']) {
        without_hashes.trim_end()
    } else {
        text
    };
    Some((level, text))
}

/// A fence line: its character (`` ` `` or `~`), its run length, and the text after the run.
fn fence(line: &str) -> Option<(char, usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let c = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let run = rest.len() - rest.trim_start_matches(c).len();
    (run >= 3).then(|| (c, run, &rest[run..]))
}

/// Splits a markdown file into sections at ATX headings (`#` … `######`, at most three spaces
/// of indent, followed by a space or the end of the line), ignoring `#` lines inside fenced
/// code blocks (```` ``` ```` or `~~~`, closed by a run of the same character at least as long;
/// an unclosed fence runs to the end of the file). Setext headings (underlined) are not
/// recognised: their text stays in the body. Line numbers count the front matter, so they
/// point into the file as it is on disk. The title is the front matter's `title`, else the
/// first heading's text, else the front matter's `id`, else `stem`. After [`MAX_SECTIONS`]
/// headings, heading lines are body text.
pub fn split_markdown(text: &str, stem: &str) -> MarkdownDoc {
    let front_matter = frontmatter::parse(text);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    let mut sections = Vec::new();
    // Enclosing headings: (level, text, is the title heading).
    let mut stack: Vec<(usize, &str, bool)> = Vec::new();
    // With a front-matter title, no heading is the title: every heading is in the paths.
    let fm_title = front_matter.get("title").map(str::to_string);
    let mut title: Option<&str> = None;
    let mut fence_open: Option<(char, usize)> = None;
    // The section being collected: its line (0 until set), heading path, body lines.
    let mut cur_line: u64 = 0;
    let mut cur_headings = String::new();
    let mut cur_is_preamble = true;
    let mut body: Vec<&str> = Vec::new();
    // Headings that started a section so far ([`MAX_SECTIONS`]).
    let mut headings = 0usize;

    for (i, line) in lines(text).enumerate().skip(front_matter.body_line_offset) {
        let lineno = i as u64 + 1;
        if let Some((c, run)) = fence_open {
            if let Some((c2, run2, rest)) = fence(line)
                && c2 == c
                && run2 >= run
                && rest.trim().is_empty()
            {
                fence_open = None;
            }
            body.push(line);
            continue;
        }
        if let Some((c, run, _)) = fence(line) {
            fence_open = Some((c, run));
            body.push(line);
            continue;
        }
        let Some((level, htext)) = atx_heading(line).filter(|_| headings < MAX_SECTIONS) else {
            if cur_is_preamble && cur_line == 0 && !line.trim().is_empty() {
                cur_line = lineno;
            }
            body.push(line);
            continue;
        };
        headings += 1;
        flush(
            &mut sections,
            cur_line,
            &cur_headings,
            &body,
            cur_is_preamble,
        );
        body.clear();
        while stack.last().is_some_and(|(l, _, _)| *l >= level) {
            stack.pop();
        }
        let is_title = fm_title.is_none() && title.is_none() && !htext.is_empty();
        if is_title {
            title = Some(htext);
        }
        stack.push((level, htext, is_title));
        cur_headings = stack
            .iter()
            .filter(|(_, t, is_title)| !is_title && !t.is_empty())
            .map(|(_, t, _)| *t)
            .collect::<Vec<_>>()
            .join(HEADING_PATH_SEP);
        cur_line = lineno;
        cur_is_preamble = false;
    }
    flush(
        &mut sections,
        cur_line,
        &cur_headings,
        &body,
        cur_is_preamble,
    );
    if sections.is_empty() {
        sections.push(Section {
            line: 1,
            headings: String::new(),
            body: String::new(),
        });
    }
    let title = fm_title
        .or_else(|| title.map(str::to_string))
        .or_else(|| front_matter.get("id").map(str::to_string))
        .unwrap_or_else(|| stem.to_string());
    MarkdownDoc {
        front_matter,
        title,
        sections,
    }
}

/// Appends the section being collected; text before the first heading only if it has any
/// non-blank line.
fn flush(out: &mut Vec<Section>, line: u64, headings: &str, body: &[&str], preamble: bool) {
    if preamble && line == 0 {
        return;
    }
    out.push(Section {
        line,
        headings: headings.to_string(),
        body: trim_blank_lines(body).join("\n"),
    });
}

/// Drops leading and trailing blank lines.
fn trim_blank_lines<'a, 'b>(mut body: &'a [&'b str]) -> &'a [&'b str] {
    while let [first, rest @ ..] = body
        && first.trim().is_empty()
    {
        body = rest;
    }
    while let [rest @ .., last] = body
        && last.trim().is_empty()
    {
        body = rest;
    }
    body
}

/// Splits any text into windows of [`CODE_WINDOW_LINES`] lines. All-blank windows are left
/// out, except that a file with no non-blank line at all gives one empty window at line 1
/// (so the file can still be found by name).
pub fn split_code(text: &str) -> Vec<Section> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let all: Vec<&str> = lines(text).collect();
    let mut out = Vec::new();
    for (w, chunk) in all.chunks(CODE_WINDOW_LINES).enumerate() {
        if chunk.iter().all(|l| l.trim().is_empty()) {
            continue;
        }
        let leading = chunk.iter().take_while(|l| l.trim().is_empty()).count();
        out.push(Section {
            line: (w * CODE_WINDOW_LINES + leading) as u64 + 1,
            headings: String::new(),
            body: trim_blank_lines(chunk).join("\n"),
        });
    }
    if out.is_empty() {
        out.push(Section {
            line: 1,
            headings: String::new(),
            body: String::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_and_paths(d: &MarkdownDoc) -> Vec<(u64, &str)> {
        d.sections
            .iter()
            .map(|s| (s.line, s.headings.as_str()))
            .collect()
    }

    #[test]
    fn sections_start_at_their_heading_lines_counting_front_matter() {
        let text = "---\nid: doc-id\n---\n\n# The Title\nintro\n\n## Design\ntext\n### Implementation\ncode talk\n## Notes\nlast\n";
        let d = split_markdown(text, "stem");
        assert_eq!(d.title, "The Title");
        assert_eq!(
            lines_and_paths(&d),
            vec![
                (5, ""),
                (8, "Design"),
                (10, "Design > Implementation"),
                (12, "Notes"),
            ]
        );
        assert_eq!(d.sections[0].body, "intro");
        assert_eq!(d.sections[2].body, "code talk");
    }

    #[test]
    fn headings_inside_fences_do_not_split() {
        // A fence closes only on a run of its own character at least as long as its opening.
        let text = "# T\n````sh\n# not a heading\n```\n~~~\n````\n## Real\n~~~~\n## fenced\n~~~\n";
        let d = split_markdown(text, "s");
        assert_eq!(lines_and_paths(&d), vec![(1, ""), (7, "Real")]);
        assert!(d.sections[0].body.contains("# not a heading"));
        assert!(d.sections[1].body.contains("## fenced"));
    }

    #[test]
    fn unclosed_fence_runs_to_the_end() {
        let d = split_markdown("# A\n```\n# B\n", "s");
        assert_eq!(lines_and_paths(&d), vec![(1, "")]);
    }

    #[test]
    fn session_style_file_without_front_matter() {
        let text = "# Session: trying things\n**ID**: 20250101-000000\n**Started**: x\n\n## Goals\n- [ ] one\n### 10:00 - Start\nbegan\n";
        let d = split_markdown(text, "20250101-000000");
        assert_eq!(d.title, "Session: trying things");
        assert_eq!(
            lines_and_paths(&d),
            vec![(1, ""), (5, "Goals"), (7, "Goals > 10:00 - Start")]
        );
        assert!(d.sections[0].body.starts_with("**ID**: 20250101-000000"));
    }

    #[test]
    fn title_falls_back_to_id_then_stem() {
        assert_eq!(
            split_markdown("---\nid: my-id\n---\nno heading\n", "s").title,
            "my-id"
        );
        assert_eq!(split_markdown("no heading\n", "stem").title, "stem");
        assert_eq!(split_markdown("#\n## \n### x\n", "stem").title, "x");
    }

    #[test]
    fn front_matter_title_wins_and_then_every_heading_is_in_the_paths() {
        let text = "---\ntitle: Hardening spec\nid: x\n---\n## Previous Session Context\nctx\n### Detail\nd\n";
        let d = split_markdown(text, "s");
        assert_eq!(d.title, "Hardening spec");
        assert_eq!(
            lines_and_paths(&d),
            vec![
                (5, "Previous Session Context"),
                (7, "Previous Session Context > Detail")
            ]
        );
    }

    #[test]
    fn preamble_before_first_heading_is_its_own_section() {
        let d = split_markdown("\n\nsome text\n# Title\nbody\n", "s");
        assert_eq!(lines_and_paths(&d), vec![(3, ""), (4, "")]);
        assert_eq!(d.sections[0].body, "some text");
    }

    #[test]
    fn heading_syntax_edge_cases() {
        assert_eq!(atx_heading("# A #"), Some((1, "A")));
        assert_eq!(atx_heading("## C# ##"), Some((2, "C#")));
        assert_eq!(atx_heading("# C#"), Some((1, "C#")));
        assert_eq!(atx_heading("   ###   x"), Some((3, "x")));
        assert_eq!(atx_heading("####### seven"), None);
        assert_eq!(atx_heading("    # indented code"), None);
        assert_eq!(atx_heading("#hashtag"), None);
        assert_eq!(atx_heading("#"), Some((1, "")));
        assert_eq!(atx_heading("# ###"), Some((1, "")));
    }

    #[test]
    fn headings_past_the_bound_are_body_text() {
        // QA session 12, F2: a file of `#` lines was a row per line.
        let bare = "#\n".repeat(500_000);
        let d = split_markdown(&bare, "s");
        assert!(d.sections.len() <= MAX_SECTIONS, "{}", d.sections.len());
        let named: String = (0..MAX_SECTIONS + 10)
            .map(|i| format!("# H{i}\nbody {i}\n"))
            .collect();
        let d = split_markdown(&named, "s");
        assert_eq!(d.sections.len(), MAX_SECTIONS);
        let last = d.sections.last().unwrap();
        assert_eq!(last.headings, format!("H{}", MAX_SECTIONS - 1));
        // The headings past the bound and their text are in the last section's body.
        let tail = format!("# H{}\nbody {}", MAX_SECTIONS + 9, MAX_SECTIONS + 9);
        assert!(
            last.body.ends_with(&tail),
            "{}",
            &last.body[last.body.len() - 40..]
        );
        assert!(
            last.body
                .starts_with(&format!("body {}\n# H{}", MAX_SECTIONS - 1, MAX_SECTIONS))
        );
    }

    #[test]
    fn crlf_gives_the_same_sections_as_lf() {
        let lf = "---\nid: x\n---\n# T\na\n## S\nb\n";
        let crlf = lf.replace('\n', "\r\n");
        assert_eq!(split_markdown(lf, "s"), split_markdown(&crlf, "s"));
    }

    #[test]
    fn hostile_texts_do_not_panic() {
        let long = "é".repeat(300_000);
        for text in [
            "",
            "\n\n\n",
            "---",
            "---\n",
            "---\nid: x\n",
            "```",
            "# ",
            "\u{feff}",
            "\r\r\r",
            long.as_str(),
        ] {
            let d = split_markdown(text, "s");
            assert!(!d.sections.is_empty());
            assert!(d.sections.iter().all(|s| s.line >= 1));
            assert!(!split_code(text).is_empty());
        }
    }

    #[test]
    fn code_windows_are_fixed_non_overlapping_and_skip_blank_ones() {
        let mut text = String::new();
        for i in 1..=100 {
            if (41..=80).contains(&i) {
                text.push('\n');
            } else {
                text.push_str(&format!("line {i}\n"));
            }
        }
        let w = split_code(&text);
        assert_eq!(w.iter().map(|s| s.line).collect::<Vec<_>>(), vec![1, 81]);
        assert!(w[0].body.starts_with("line 1\n") && w[0].body.ends_with("line 40"));
        assert!(w[1].body.starts_with("line 81\n") && w[1].body.ends_with("line 100"));
        assert_eq!(split_code("").len(), 1);
    }
}
