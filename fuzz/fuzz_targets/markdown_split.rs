//! Front matter (`scry::frontmatter::parse`) and section splitting (`scry::sections`), which
//! promise no panic on any text. Checks the shapes they document: the front matter never
//! claims more lines than the file has, markdown gives at least one section with lines in
//! file order inside the file, code windows hold at most `CODE_WINDOW_LINES` lines each.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patina::scry::frontmatter;
use patina::scry::sections::{self, CODE_WINDOW_LINES};

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let text = text.as_ref();
    let total = frontmatter::lines(text.strip_prefix('\u{feff}').unwrap_or(text)).count() as u64;

    let fm = frontmatter::parse(text);
    assert!(
        fm.body_line_offset as u64 <= total,
        "front matter longer than the file"
    );
    if fm.body_line_offset == 0 {
        assert!(fm.fields.is_empty(), "fields without a front-matter block");
    }

    let doc = sections::split_markdown(text, "stem");
    assert!(!doc.sections.is_empty(), "no section");
    assert!(!doc.title.is_empty(), "empty title");
    let mut last = 0;
    for s in &doc.sections {
        assert!(
            s.line >= 1 && s.line <= total.max(1),
            "line {} of {total}",
            s.line
        );
        assert!(s.line >= last, "sections out of order");
        last = s.line;
    }

    let code = sections::split_code(text);
    assert!(!code.is_empty(), "no window");
    for w in &code {
        assert!(
            w.line >= 1 && w.line <= total.max(1),
            "window line {} of {total}",
            w.line
        );
        assert!(
            w.body.split('\n').count() <= CODE_WINDOW_LINES,
            "window too long"
        );
    }
});
