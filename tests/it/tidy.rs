//! The architecture, checked from the source text (in the spirit of rust-analyzer's
//! `xtask/src/tidy.rs`): every file under `src/` opens with a module doc; every top-level
//! module says in that doc what it depends on ("Depends on …"), and uses no other module of
//! the crate than those it names; the modules form no cycle, neither between top-level
//! modules nor between the files of one directory; every test the invariants table of
//! `layer/core/architecture.md` cites exists. Reads files only; no daemon.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file under `src/`: `src/auth/mod.rs` → `["auth"]`,
/// `src/auth/keys.rs` → `["auth", "keys"]`, `src/lib.rs` → `[]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root().join("src")).unwrap();
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The `//!` lines at the top of a file (inner attributes and blank lines skipped), joined.
fn module_doc(text: &str) -> Option<String> {
    let mut doc = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("//!") {
            doc.push(rest.trim().to_string());
        } else if t.is_empty() || t.starts_with("#![") || (t.starts_with("//") && doc.is_empty()) {
            if !doc.is_empty() && t.is_empty() {
                break;
            }
        } else {
            break;
        }
    }
    // Lines of a paragraph joined by spaces, paragraphs by a blank line.
    let mut joined = String::new();
    for line in &doc {
        if line.is_empty() {
            joined.push_str("\n\n");
        } else {
            joined.push_str(line);
            joined.push(' ');
        }
    }
    (!doc.is_empty()).then_some(joined)
}

/// The "Depends on" paragraph of a module doc: from the phrase to the paragraph's end.
fn depends_line(doc: &str) -> Option<String> {
    let at = doc.find("Depends on")?;
    let rest = &doc[at..];
    let end = rest.find("\n\n").unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The code of a file without comments, string literals and its `#[cfg(test)]` modules
/// (tests may use whatever they need).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The crate paths `text` names: `crate::a::b::c` → `["a", "b", "c"]`, and each name of a
/// group `crate::{a, b::c}`.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `patina_crate::` or the like
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let p = path_words(item.trim());
                if !p.is_empty() {
                    out.push(p);
                }
            }
        } else {
            let p = path_words(rest);
            if !p.is_empty() {
                out.push(p);
            }
        }
    }
    out
}

/// The `::`-separated identifiers at the start of `s`.
fn path_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = s;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        words.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(r) if r.starts_with(|c: char| c.is_alphanumeric() || c == '_') => rest = r,
            _ => break,
        }
    }
    words
}

/// A top-level module's name, or `None` for an item of the crate root (`crate::VERSION`).
fn top_module(path: &[String]) -> Option<&str> {
    let first = path.first()?;
    first
        .starts_with(|c: char| c.is_ascii_lowercase())
        .then_some(first.as_str())
}

struct File {
    path: PathBuf,
    module: Vec<String>,
    doc: Option<String>,
    uses: Vec<Vec<String>>,
}

fn files() -> Vec<File> {
    rust_files(&root().join("src"))
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            File {
                module: module_path(&path),
                doc: module_doc(&text),
                uses: crate_paths(&code_of(&text)),
                path,
            }
        })
        .collect()
}

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Depth-first search; a back edge closes a cycle.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                0 => visit(m, g, state, stack, found),
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    found.push(c);
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
    }
    let (mut state, mut found) = (BTreeMap::new(), Vec::new());
    for n in graph.keys() {
        if !state.contains_key(n.as_str()) {
            visit(n, graph, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let missing: Vec<_> = files()
        .into_iter()
        .filter(|f| f.doc.is_none())
        .map(|f| f.path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc: {missing:?}"
    );
}

#[test]
fn every_module_uses_only_what_its_depends_on_line_names() {
    let files = files();
    let mut problems = Vec::new();
    for f in &files {
        let Some(top) = f.module.first() else {
            continue; // lib.rs and main.rs: the crate root may use everything
        };
        let doc = f.doc.clone().unwrap_or_default();
        let line = match depends_line(&doc) {
            Some(l) => l,
            None if f.module.len() == 1 => {
                problems.push(format!(
                    "{}: the module doc has no \"Depends on\" sentence",
                    f.path.display()
                ));
                continue;
            }
            // A file inside a module without a line of its own: its module's line holds.
            None => files
                .iter()
                .find(|g| g.module.len() == 1 && &g.module[0] == top)
                .and_then(|g| g.doc.as_deref().and_then(depends_line))
                .unwrap_or_default(),
        };
        let named: BTreeSet<String> = crate_paths(&line)
            .iter()
            .filter_map(|p| top_module(p).map(str::to_string))
            .collect();
        for used in &f.uses {
            let Some(m) = top_module(used) else { continue };
            if m != top && m != "test_rng" && !named.contains(m) {
                problems.push(format!(
                    "{} uses crate::{} but its \"Depends on\" line does not name crate::{m}",
                    f.path.display(),
                    used.join("::")
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn modules_form_no_cycle() {
    let files = files();
    let known: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    // Top-level modules, and within each directory its files.
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut siblings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(own) = f.module.first() else {
            continue;
        };
        top.entry(own.clone()).or_default();
        for used in &f.uses {
            let Some(m) = top_module(used) else { continue };
            if m != own && m != "test_rng" {
                top.get_mut(own).unwrap().insert(m.to_string());
            }
        }
        // `crate::a::x` or `super::x` from `a::y` (x ≠ y, both files of `a`).
        if f.module.len() >= 2 {
            let parent = &f.module[..f.module.len() - 1];
            let text = code_of(&std::fs::read_to_string(&f.path).unwrap());
            let mut targets: Vec<Vec<String>> = crate_paths(&text);
            for at in text.match_indices("super::").map(|(i, _)| i) {
                let mut p = parent.to_vec();
                p.extend(path_words(&text[at + "super::".len()..]));
                targets.push(p);
            }
            for t in targets {
                if t.len() > parent.len() && t[..parent.len()] == *parent {
                    let sib = t[..=parent.len()].to_vec();
                    if sib != f.module && known.contains(&sib) {
                        siblings
                            .entry(f.module.join("::"))
                            .or_default()
                            .insert(sib.join("::"));
                    }
                }
            }
        }
    }
    let mut found = cycles(&top);
    found.extend(cycles(&siblings));
    assert!(found.is_empty(), "module cycles: {found:?}");
}

/// The test names cited in the invariants table's last column.
fn cited_tests(doc: &str) -> Vec<String> {
    let mut names = Vec::new();
    let table = doc
        .split("## Invariants")
        .nth(1)
        .expect("architecture.md has an Invariants section");
    for row in table.lines().filter(|l| l.starts_with('|')) {
        let Some(cell) = row.trim_end_matches('|').rsplit('|').next() else {
            continue;
        };
        let mut module = String::new();
        for (i, quoted) in cell.split('`').enumerate() {
            if i % 2 == 0 || quoted.contains(char::is_whitespace) {
                continue;
            }
            let words: Vec<&str> = quoted.split("::").collect();
            if words.len() > 1 {
                module = words[..words.len() - 1].join("::");
                names.push(quoted.to_string());
            } else if root().join(format!("tests/it/{quoted}.rs")).exists() {
                names.push(quoted.to_string()); // a whole test module
            } else if !module.is_empty()
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                names.push(format!("{module}::{quoted}"));
            }
        }
    }
    names
}

/// True when `name` (`module::…::test`, `module::*` or a module) names a test module or
/// function in the lib (`src/…`) or in this binary (`tests/it/…`).
fn test_exists(name: &str) -> bool {
    let mut words: Vec<&str> = name.split("::").filter(|w| *w != "tests").collect();
    if words.last() == Some(&"*") {
        words.pop();
    }
    // A module: src/a/b.rs, src/a/b/mod.rs or tests/it/a.rs.
    let module_file = |ws: &[&str]| -> Option<PathBuf> {
        let rel = ws.join("/");
        [
            root().join(format!("src/{rel}.rs")),
            root().join(format!("src/{rel}/mod.rs")),
            root().join(format!("tests/it/{rel}.rs")),
        ]
        .into_iter()
        .find(|p| p.exists())
    };
    if module_file(&words).is_some() {
        return true;
    }
    // A helper type's method (`Resp::assert_well_formed`): not a test, not checked here.
    if words
        .iter()
        .any(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
    {
        return true;
    }
    let Some((test, module)) = words.split_last() else {
        return false;
    };
    // `session::x` may be the lib's `src/session.rs` or this binary's `tests/it/session.rs`.
    let rel = module.join("/");
    [
        root().join(format!("src/{rel}.rs")),
        root().join(format!("src/{rel}/mod.rs")),
        root().join(format!("tests/it/{rel}.rs")),
    ]
    .iter()
    .filter(|p| p.exists())
    .any(|p| {
        // A test function, or an inline module (`fsutil::fault`).
        let text = std::fs::read_to_string(p).unwrap();
        text.contains(&format!("fn {test}(")) || text.contains(&format!("mod {test} {{"))
    })
}

#[test]
fn every_test_the_invariants_table_cites_exists() {
    let doc = std::fs::read_to_string(root().join("layer/core/architecture.md")).unwrap();
    let cited = cited_tests(&doc);
    assert!(
        cited.len() > 50,
        "only {} names found in the table",
        cited.len()
    );
    let missing: Vec<_> = cited.iter().filter(|n| !test_exists(n)).collect();
    assert!(
        missing.is_empty(),
        "the invariants table cites missing tests: {missing:?}"
    );
}

#[test]
fn the_repository_cites_only_documents_it_holds() {
    // Rules are cited as "requirements §N" (layer/core/requirements.md), never by a
    // document outside the repository.
    let mut offenders = Vec::new();
    for dir in ["src", "tests", "benches", "layer"] {
        let mut stack = vec![root().join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.ends_with("layer/core/requirements.md") || p.ends_with("tidy.rs") {
                    continue;
                } else if let Ok(text) = std::fs::read_to_string(&p)
                    && (text.contains("BRIEF §") || text.contains("BRIEF \\u00a7"))
                {
                    offenders.push(p.display().to_string());
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "cite requirements §N instead: {offenders:?}"
    );
    let req = std::fs::read_to_string(root().join("layer/core/requirements.md")).unwrap();
    for n in 1..=9 {
        assert!(
            req.contains(&format!("## §{n} ")),
            "requirements.md lacks §{n}"
        );
    }
}

/// Whether the code of a file (as [`code_of`] gives it) names the `anyhow` crate.
fn uses_anyhow(code: &str) -> bool {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|w| w == "anyhow")
}

/// `anyhow` is for `cli/` only (architecture.md, "Errors"): a library module returns its own
/// `thiserror` enum, so that callers match variants and never downcast.
#[test]
fn anyhow_is_used_only_in_the_cli() {
    let mut offenders = Vec::new();
    for f in rust_files(&root().join("src")) {
        let m = module_path(&f);
        if m.first().is_some_and(|t| t == "cli") || f.ends_with("main.rs") {
            continue;
        }
        if uses_anyhow(&code_of(&std::fs::read_to_string(&f).unwrap())) {
            offenders.push(f.strip_prefix(root()).unwrap().display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "anyhow outside src/cli/: {offenders:?}"
    );
}

#[test]
fn the_checks_themselves_catch_what_they_look_for() {
    assert!(uses_anyhow("fn f() -> anyhow::Result<()> {}"));
    assert!(!uses_anyhow("fn f() -> Result<(), not_anyhow_at_all> {}"));
    assert_eq!(
        crate_paths("use crate::{fsutil, paths::Home};\nlet x = crate::auth::token::X;"),
        vec![
            vec!["fsutil".to_string()],
            vec!["paths".into(), "Home".into()],
            vec!["auth".into(), "token".into(), "X".into()],
        ]
    );
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(cycles(&g).len(), 1);
    assert_eq!(
        depends_line("Does X.\nDepends on [`crate::a`] and `std`.\n\nMore.").as_deref(),
        Some("Depends on [`crate::a`] and `std`.")
    );
    assert!(!test_exists("agekey::no_such_test_anywhere"));
    assert!(test_exists(
        "agekey::replays_tampering_and_stale_requests_get_401"
    ));
}
