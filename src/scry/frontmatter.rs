//! A small, tolerant reader of YAML front matter: the `---` block at the top of a markdown
//! file. Depends on nothing but std. It reads top-level `key: value` lines and `[a, b]` flow
//! lists; everything else (nested or indented keys, block lists, comments, anchors) is
//! skipped. It never fails: odd front matter yields fewer fields, not an error.

/// A front-matter value: a scalar (quotes removed) or a `[a, b]` flow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `key: value`, with surrounding single or double quotes removed. May be empty
    /// (`key:` introducing a nested block gives an empty scalar).
    Scalar(String),
    /// `key: [a, b, "c"]`: items trimmed and unquoted, empty items dropped.
    List(Vec<String>),
}

/// The parsed front matter of one file, and where its body starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontMatter {
    /// Top-level fields in file order. A repeated key keeps every occurrence; [`get`] returns
    /// the first.
    ///
    /// [`get`]: FrontMatter::get
    pub fields: Vec<(String, Value)>,
    /// Number of lines the front-matter block occupies, both `---` lines included; 0 when the
    /// file has none. The body starts at 1-based line `body_line_offset + 1`.
    pub body_line_offset: usize,
}

impl FrontMatter {
    /// The first scalar value of `key` (exact, case-sensitive), trimmed, if it is non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find_map(|(k, v)| match v {
            Value::Scalar(s) if k == key && !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
    }

    /// The first list value of `key`, if any.
    pub fn list(&self, key: &str) -> Option<&[String]> {
        self.fields.iter().find_map(|(k, v)| match v {
            Value::List(l) if k == key => Some(l.as_slice()),
            _ => None,
        })
    }
}

/// Upper bound on front-matter lines examined: a file that opens with `---` and has no
/// closing line within this many lines is treated as having no front matter, so a huge file
/// that merely starts with a horizontal rule is not scanned twice.
pub const MAX_FRONT_MATTER_LINES: usize = 500;

/// Splits `text` into lines the way the whole scry module counts them: on `\n`, with one
/// trailing `\r` removed from each line (CRLF files give the same lines as LF files).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// Parses the front matter at the very top of `text` (after an optional UTF-8 BOM).
///
/// The block opens with a line that is exactly `---` (trailing spaces allowed) as line 1, and
/// closes with the next `---` or `...` line. A block that never closes (within
/// [`MAX_FRONT_MATTER_LINES`]) is not front matter: the result is empty with
/// `body_line_offset == 0`, and the whole file is body.
pub fn parse(text: &str) -> FrontMatter {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut it = lines(text);
    match it.next() {
        Some(first) if first.trim_end() == "---" => {}
        _ => return FrontMatter::default(),
    }
    let mut fields = Vec::new();
    for (i, line) in it.take(MAX_FRONT_MATTER_LINES).enumerate() {
        let t = line.trim_end();
        if t == "---" || t == "..." {
            return FrontMatter {
                fields,
                // The opening line, the `i` lines read, and the closing line.
                body_line_offset: i + 2,
            };
        }
        if let Some(kv) = parse_line(line) {
            fields.push(kv);
        }
    }
    FrontMatter::default()
}

/// One top-level `key: value` line, or `None` for anything else (indented, comment, list
/// item, no colon, a key with characters YAML would need quoting for).
fn parse_line(line: &str) -> Option<(String, Value)> {
    if line.starts_with([' ', '\t', '#', '-']) {
        return None;
    }
    let (key, rest) = line.split_once(':')?;
    let key = key.trim_end();
    let key_ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.');
    // `key:value` without a space is a plain scalar in YAML (e.g. a URL), not a mapping.
    if !key_ok || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let raw = strip_comment(rest.trim());
    let value = match raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => Value::List(
            inner
                .split(',')
                .map(|s| unquote(s.trim()).to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        None => Value::Scalar(unquote(raw).to_string()),
    };
    Some((key.to_string(), value))
}

/// Removes a trailing ` # comment` from an unquoted value.
fn strip_comment(v: &str) -> &str {
    if v.starts_with(['"', '\'']) {
        return v;
    }
    match v.find(" #") {
        Some(i) => v[..i].trim_end(),
        None => v,
    }
}

/// Removes one pair of matching surrounding quotes.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scalars_lists_and_body_offset() {
        let fm = parse(
            "---\nid: adapter\ntype: Belief\ntags: [a, \"b c\", , 'd']\ntitle: \"Quoted: yes\"\n---\n# T\n",
        );
        assert_eq!(fm.get("id"), Some("adapter"));
        assert_eq!(fm.get("type"), Some("Belief"));
        assert_eq!(fm.get("title"), Some("Quoted: yes"));
        assert_eq!(
            fm.list("tags"),
            Some(&["a".to_string(), "b c".to_string(), "d".to_string()][..])
        );
        assert_eq!(fm.body_line_offset, 6);
    }

    #[test]
    fn nested_and_odd_lines_are_skipped_not_errors() {
        let fm = parse(
            "---\nconfidence:\n  score: 0.8\n- item\n# comment\nno colon here\nurl:http://x\nweird key: 1\nok: yes # trailing\n---\n",
        );
        assert_eq!(fm.get("score"), None, "nested keys are ignored");
        assert_eq!(
            fm.get("confidence"),
            None,
            "an empty scalar reads as absent"
        );
        assert_eq!(fm.get("url"), None);
        assert_eq!(fm.get("weird key"), None);
        assert_eq!(fm.get("ok"), Some("yes"));
        assert_eq!(fm.body_line_offset, 10);
    }

    #[test]
    fn crlf_and_bom_are_accepted() {
        let fm = parse("\u{feff}---\r\nid: x\r\ntype: spec\r\n---\r\nbody\r\n");
        assert_eq!(fm.get("id"), Some("x"));
        assert_eq!(fm.get("type"), Some("spec"));
        assert_eq!(fm.body_line_offset, 4);
    }

    #[test]
    fn never_closed_front_matter_is_no_front_matter() {
        let fm = parse("---\nid: x\nstill going\n");
        assert_eq!(fm, FrontMatter::default());
    }

    #[test]
    fn no_front_matter_cases() {
        for text in [
            "",
            "\n",
            "# Title\n---\nid: x\n---\n",
            " ---\nid: x\n---\n",
            "----\n",
        ] {
            assert_eq!(parse(text), FrontMatter::default(), "{text:?}");
        }
    }

    #[test]
    fn empty_block_and_dots_terminator() {
        assert_eq!(parse("---\n---\n").body_line_offset, 2);
        let fm = parse("---\nid: y\n...\n");
        assert_eq!(fm.get("id"), Some("y"));
        assert_eq!(fm.body_line_offset, 3);
    }

    #[test]
    fn unbalanced_brackets_and_quotes_stay_scalars() {
        let fm = parse("---\na: [x, y\nb: \"open\nc: ]\n---\n");
        assert_eq!(fm.get("a"), Some("[x, y"));
        assert_eq!(fm.get("b"), Some("\"open"));
        assert_eq!(fm.get("c"), Some("]"));
    }
}
