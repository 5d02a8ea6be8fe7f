//! Splitting source code into rows at symbol boundaries with tree-sitter grammars (Rust,
//! Python, JavaScript, TypeScript/TSX, Go). Depends on `tree-sitter` and the grammar crates,
//! and on [`super::sections`] for the row shape. Pure functions of the text: no I/O, no
//! errors (a file no grammar parses is `None`: the caller cuts it into line windows).
//!
//! Every line of the file belongs to the innermost symbol whose span holds it (a function, a
//! method, an impl or class body, a struct, a type, a module…, widened upwards over the doc
//! comments and attributes right above it), or to no symbol (imports, top-level glue).
//! Consecutive lines of one owner make one row, cut every [`MAX_SYMBOL_LINES`] lines; lines of
//! no symbol are cut into windows like any other text. A row's title is the symbol path
//! (`Deserializer::deserialize_any` in Rust, `Parser.parse` elsewhere); its kind is
//! [`KIND_DEFINITION`], or [`KIND_TEST`] for a test (a Rust `#[test]` function or anything in
//! a `#[cfg(test)]`/`tests` module, a Python `test_*` function or `Test*` class, a Go
//! `Test*`/`Benchmark*`/`Fuzz*` function in a `_test.go` file, any symbol of a test file:
//! `tests/`, `__tests__/`, `test_*.py`, `*_test.go`, `*.test.js`, `*.spec.ts`, …).

use super::sections::{CODE_WINDOW_LINES, Section, split_code};
use tree_sitter::{Language, Node, Parser};

/// A symbol row longer than this many lines is cut into pieces of this many, each with the
/// symbol's title and kind (BM25 favours short rows; a 300-line function would lose to every
/// one-line mention of its words).
pub const MAX_SYMBOL_LINES: usize = 60;

/// The most tokens of text tree-sitter is given to parse (a token: a run of letters, digits
/// and `_`, or one other character that is not ASCII white space;
/// [`over_parse_budget`]). A file over it keeps line windows, as a file no grammar parses.
/// Tree-sitter's memory grows with the tokens it reads, whatever their nesting: 1 MiB of
/// `[],` (a million tokens) peaked at ~340 MB in one parsing thread, 1 MiB of `{` after
/// `fn main()` at ~300 MB (QA session 11, G). At this budget a parse peaks near 70 MB; the
/// largest code file of the 100 MB registry corpus reads 262 thousand tokens whole and far
/// fewer skimmed (module `skim`), and no file of it is over the budget as parsed.
pub const PARSE_TOKENS: usize = 200_000;

/// Kind of a row that is (part of) a definition.
pub const KIND_DEFINITION: &str = "definition";
/// Kind of a row that is (part of) a test.
pub const KIND_TEST: &str = "test";
/// Kind of a code row that belongs to no symbol, outside test files (and of every row of a
/// file no grammar parses).
pub const KIND_CODE: &str = "code";

/// One row of a code file: the [`Section`] and its title (symbol path, or `None` for lines of
/// no symbol) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// Line, body (and, for a symbol, its path in `headings`, so the name is indexed).
    pub section: Section,
    /// The symbol path, if the row belongs to a symbol.
    pub symbol: Option<String>,
    /// [`KIND_DEFINITION`], [`KIND_TEST`] or [`KIND_CODE`].
    pub kind: &'static str,
}

/// The languages with a grammar, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
}

impl Lang {
    fn of(rel: &str) -> Option<Lang> {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let ext = name.rsplit_once('.')?.1;
        Some(match ext {
            "rs" => Lang::Rust,
            "py" | "pyi" => Lang::Python,
            "js" | "mjs" | "cjs" | "jsx" => Lang::JavaScript,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "go" => Lang::Go,
            _ => return None,
        })
    }

    fn grammar(self) -> Language {
        match self {
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
        }
    }

    /// Separator of a symbol path.
    fn sep(self) -> &'static str {
        if self == Lang::Rust { "::" } else { "." }
    }

    /// Whether a node of this kind is a symbol, and whether its children may hold symbols.
    fn symbol(self, kind: &str) -> Option<Container> {
        use Container::{Holds, Leaf};
        Some(match (self, kind) {
            (Lang::Rust, "function_item" | "function_signature_item" | "macro_definition") => Leaf,
            (
                Lang::Rust,
                "struct_item" | "enum_item" | "union_item" | "type_item" | "const_item"
                | "static_item",
            ) => Leaf,
            (Lang::Rust, "impl_item" | "trait_item" | "mod_item") => Holds,
            (Lang::Python, "function_definition") => Leaf,
            (Lang::Python, "class_definition") => Holds,
            (
                Lang::JavaScript | Lang::TypeScript | Lang::Tsx,
                "function_declaration"
                | "generator_function_declaration"
                | "method_definition"
                | "function_signature"
                | "method_signature"
                | "abstract_method_signature"
                | "type_alias_declaration"
                | "enum_declaration",
            ) => Leaf,
            (
                Lang::JavaScript | Lang::TypeScript | Lang::Tsx,
                "class_declaration"
                | "abstract_class_declaration"
                | "interface_declaration"
                | "internal_module",
            ) => Holds,
            (Lang::JavaScript | Lang::TypeScript | Lang::Tsx, "variable_declarator") => Leaf,
            (Lang::Go, "function_declaration" | "method_declaration" | "type_spec") => Leaf,
            (Lang::Go, "const_spec" | "var_spec") => Leaf,
            _ => return None,
        })
    }

    /// Whether a node of this kind above a symbol belongs to it (doc comments, attributes,
    /// decorators).
    fn leads(self, kind: &str) -> bool {
        matches!(
            (self, kind),
            (
                Lang::Rust,
                "line_comment" | "block_comment" | "attribute_item"
            ) | (_, "comment")
                | (Lang::Python, "decorator")
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    /// A symbol whose inner symbols (closures, nested functions) stay in its rows.
    Leaf,
    /// A symbol whose members are symbols of their own (impl, class, module).
    Holds,
}

/// A symbol's span: rows `start..=end` (0-based), its path and whether it is a test.
struct Span {
    start: usize,
    end: usize,
    path: String,
    test: bool,
}

/// The title a hit of a code file shows: `symbol` (the row's symbol path, as stored) with the
/// path of the module that holds it in front when it is a top-level item (no `::` or `.` in
/// it), so a free function reads as the language names it (`serde_json::de::from_str`,
/// `crate::scry::rank::rank`, `pkg.io.read_all`) while a member keeps its type
/// (`JoinSet::spawn`). The module path comes from `rel` alone:
///
/// - Rust: the folders below the `src/` nearest the top, then the file's stem; `lib`,
///   `main` and `mod` name their folder. The crate is the folder holding that `src/` (with
///   `-` read as `_`), or for the project's own `src/` `own_crate` (its package's name,
///   [`package_name`]), else `crate`. Files outside a `src/`
///   (tests, examples, benches) keep the bare symbol.
/// - Python: the folders and stem joined by `.`, a leading `src/` dropped, `__init__` naming
///   its folder.
/// - Go: the package, i.e. the file's folder (`pkg.Func`); a file at the root keeps the bare
///   symbol.
/// - JavaScript and TypeScript: the bare symbol (a module has no conventional path).
///
/// A row of no symbol (stored titled with its file's name: a module's `//!` header, its
/// imports) shows the module's path itself (`serde_json::de`, `pkg.io`) where it has one.
/// `symbol` is returned as is for other files, members, and symbols already qualified.
pub fn display_title(rel: &str, symbol: &str, own_crate: Option<&str>) -> String {
    let Some(lang) = Lang::of(rel) else {
        return symbol.to_string();
    };
    let parts: Vec<&str> = rel.split('/').collect();
    let (dirs, file) = parts.split_at(parts.len() - 1);
    // A row of no symbol is stored titled with its file's name: it is the module's own text
    // (a `//!` header, imports), titled with the module's path when it has one.
    let own_row = symbol == file[0];
    if !own_row && (symbol.is_empty() || symbol.contains("::") || symbol.contains('.')) {
        return symbol.to_string();
    }
    let stem = file[0].rsplit_once('.').map_or(file[0], |(s, _)| s);
    let module: Vec<String> = match lang {
        Lang::Rust => {
            let Some(src) = dirs.iter().position(|d| *d == "src") else {
                return symbol.to_string();
            };
            let krate = match src {
                0 => own_crate.unwrap_or("crate").to_string(),
                _ => dirs[src - 1].replace('-', "_"),
            };
            let mut m = vec![krate];
            m.extend(dirs[src + 1..].iter().map(|d| d.to_string()));
            if !["lib", "main", "mod"].contains(&stem) {
                m.push(stem.to_string());
            }
            m
        }
        Lang::Python => {
            let start = usize::from(dirs.first() == Some(&"src"));
            let mut m: Vec<String> = dirs[start..].iter().map(|d| d.to_string()).collect();
            if stem != "__init__" {
                m.push(stem.to_string());
            }
            m
        }
        Lang::Go => match dirs.last() {
            Some(pkg) => vec![pkg.to_string()],
            None => return symbol.to_string(),
        },
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => return symbol.to_string(),
    };
    if module.is_empty() {
        return symbol.to_string();
    }
    if own_row {
        return module.join(lang.sep());
    }
    format!("{}{}{symbol}", module.join(lang.sep()), lang.sep())
}

/// The name of the Rust package whose manifest is `cargo_toml`'s text (`name` in its
/// `[package]` table, `-` read as `_`, as Rust names the crate), for [`display_title`];
/// `None` for a manifest without one (a workspace's) or a name that is not a plain
/// identifier. A line scan of the usual layout (`name = "serde_json"`), not a TOML parser.
pub fn package_name(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        let Some(rest) = line.strip_prefix("name") else {
            continue;
        };
        let Some(value) = rest.trim_start().strip_prefix('=') else {
            continue;
        };
        let name = value.trim().strip_prefix('"')?.split('"').next()?;
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        return ok.then(|| name.replace('-', "_"));
    }
    None
}

/// Whether `rel` has a grammar here (by its extension): [`split_symbols`] parses it.
pub fn has_grammar(rel: &str) -> bool {
    Lang::of(rel).is_some()
}

/// Splits a source file of a known language into rows at symbol boundaries (module docs);
/// `None` when the language has no grammar here, the text to parse is over
/// [`PARSE_TOKENS`], its parse over [`PARSE_CPU`], it holds more than [`MAX_SYMBOLS`]
/// symbols, or the parser gives up, so the caller cuts it into windows. `rel` is the path (its extension picks the grammar; its folders and
/// name tell test files).
pub fn split_symbols(rel: &str, text: &str) -> Option<Vec<CodeRow>> {
    split_symbols_with(rel, text, true)
}

/// Whether `text` holds more than [`PARSE_TOKENS`] tokens. One pass over the bytes, and none
/// for a text shorter than the budget (each token is at least a byte).
pub fn over_parse_budget(text: &str) -> bool {
    if text.len() <= PARSE_TOKENS {
        return false;
    }
    let mut tokens = 0usize;
    let mut in_word = false;
    for c in text.chars() {
        let word = c == '_' || c.is_alphanumeric();
        if word {
            tokens += usize::from(!in_word);
        } else if !c.is_ascii_whitespace() {
            // Any other character, a non-ASCII space too (U+00A0, U+3000, U+200B): tree-sitter
            // makes a node (an error) of each.
            tokens += 1;
        }
        in_word = word;
        if tokens > PARSE_TOKENS {
            return true;
        }
    }
    false
}

/// The most symbols of one code file that are rows of their own: a file with more keeps line
/// windows. Each symbol is a row with its title, and 66,600 one-line `struct A{i};` (under
/// [`PARSE_TOKENS`]) made as many rows and an 85 MB scrape (QA session 12, F2b); the most in
/// the 100 MB registry corpus is 3,109 rows (`object`'s `elf.rs`).
pub const MAX_SYMBOLS: usize = 16_384;

/// The most CPU time one parse may take, on the parsing thread's own clock
/// (`CLOCK_THREAD_CPUTIME_ID`, so other load does not count). Tokens alone do not bound the
/// work: tree-sitter's error recovery costs an error token far more than a good one, and
/// 199,980 tokens of `?x` (under [`PARSE_TOKENS`]) took 4.4 s, 333,000 of `½x` (a digit to
/// `char::is_alphanumeric`, an error to the grammars) 14 s (QA session 12, F1b, F1c); neither
/// tree-sitter's operation count nor the bytes read tell those apart from a dense real file
/// (200,000 tokens of `[],` parse in 0.27 s). A parse over it is cancelled and the file keeps
/// line windows. The largest real files parse in well under a tenth of it, so only a file
/// built to be slow can land on either side of it on different machines.
pub const PARSE_CPU: std::time::Duration = std::time::Duration::from_millis(1_500);

/// The calling thread's CPU time so far.
fn thread_cpu() -> std::time::Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Parses `text` with `parser`, cancelled past [`PARSE_CPU`] (checked at tree-sitter's
/// progress checks, one per 100 parser operations, every 8th of them read). `Ok(None)` when
/// tree-sitter gives up, `Err(())` when the time ran out (reset the parser before it parses
/// another text).
fn parse_bounded(parser: &mut Parser, text: &str) -> Result<Option<tree_sitter::Tree>, ()> {
    let until = thread_cpu() + PARSE_CPU;
    let mut checks = 0u32;
    let mut over = false;
    let mut check = |_: &tree_sitter::ParseState| {
        checks = checks.wrapping_add(1);
        if checks.is_multiple_of(8) && thread_cpu() > until {
            over = true;
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    };
    let options = tree_sitter::ParseOptions::new().progress_callback(&mut check);
    let bytes = text.as_bytes();
    let tree = parser.parse_with_options(
        &mut |at: usize, _| &bytes[at.min(bytes.len())..],
        None,
        Some(options),
    );
    if over {
        return Err(());
    }
    Ok(tree)
}

/// [`split_symbols`], with the skimmed parse (`skim`) or always the whole text's.
///
/// A Rust file is skimmed first ([`super::skim`]): tree-sitter parses the text with each
/// leaf item's body and each line comment's text reduced to their line breaks, which
/// `collect` never reads (it does not descend into a leaf symbol; of a comment it sees the
/// kind and rows) and which keeps every row in place. Names and attributes lie outside the
/// collapsed parts, so `collect` reads them from the collapsed text; the rows are cut from
/// `text`'s own lines. If the skimmer is unsure, or the collapsed
/// text's parse has an error, the whole text is parsed as before.
fn split_symbols_with(rel: &str, text: &str, skim: bool) -> Option<Vec<CodeRow>> {
    let lang = Lang::of(rel)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()).ok()?;
    let skimmed = match lang {
        Lang::Rust if skim => super::skim::rust(text),
        _ => None,
    };
    let mut skimmed_parse = None;
    if let Some(s) = skimmed.filter(|s| !over_parse_budget(s)) {
        // A skimmed parse over its steps: the whole text's would take more.
        let tree = parse_bounded(&mut parser, &s).ok()?;
        skimmed_parse = tree.filter(|t| !t.root_node().has_error()).map(|t| (t, s));
        parser.reset();
    }
    let (tree, src) = match skimmed_parse {
        Some((tree, s)) => (tree, std::borrow::Cow::Owned(s)),
        None if over_parse_budget(text) => return None,
        None => (
            parse_bounded(&mut parser, text).ok()??,
            std::borrow::Cow::Borrowed(text),
        ),
    };
    let src = src.as_bytes();
    let test_file = is_test_file(rel);
    let mut spans = Vec::new();
    collect(lang, tree.root_node(), src, "", test_file, 0, &mut spans);
    if spans.len() > MAX_SYMBOLS {
        return None;
    }

    let lines: Vec<&str> = super::frontmatter::lines(text).collect();
    // Owner of each line: index into `spans` (inner spans come after their parents).
    let mut owner: Vec<Option<usize>> = vec![None; lines.len()];
    for (i, s) in spans.iter().enumerate() {
        for o in owner
            .iter_mut()
            .take(s.end.min(lines.len().saturating_sub(1)) + 1)
            .skip(s.start)
        {
            *o = Some(i);
        }
    }
    let mut rows = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let who = owner[at];
        let mut end = at;
        while end + 1 < lines.len() && owner[end + 1] == who {
            end += 1;
        }
        match who {
            Some(i) => {
                let s = &spans[i];
                let kind = if s.test { KIND_TEST } else { KIND_DEFINITION };
                for piece in (at..=end).collect::<Vec<_>>().chunks(MAX_SYMBOL_LINES) {
                    push_rows(
                        &lines,
                        piece[0],
                        piece[piece.len() - 1],
                        Some(s),
                        kind,
                        &mut rows,
                    );
                }
            }
            None => {
                let kind = if test_file { KIND_TEST } else { KIND_CODE };
                for piece in (at..=end).collect::<Vec<_>>().chunks(CODE_WINDOW_LINES) {
                    push_rows(
                        &lines,
                        piece[0],
                        piece[piece.len() - 1],
                        None,
                        kind,
                        &mut rows,
                    );
                }
            }
        }
        at = end + 1;
    }
    if rows.is_empty() {
        rows = split_code(text)
            .into_iter()
            .map(|section| CodeRow {
                section,
                symbol: None,
                kind: KIND_CODE,
            })
            .collect();
    }
    Some(rows)
}

/// Appends the row of lines `first..=last` (0-based) unless they are all blank; its line is
/// its first non-blank line, where its body starts.
fn push_rows(
    lines: &[&str],
    first: usize,
    last: usize,
    span: Option<&Span>,
    kind: &'static str,
    out: &mut Vec<CodeRow>,
) {
    let chunk = &lines[first..=last];
    let Some(lead) = chunk.iter().position(|l| !l.trim().is_empty()) else {
        return;
    };
    let tail = chunk
        .iter()
        .rev()
        .take_while(|l| l.trim().is_empty())
        .count();
    let body = chunk[lead..chunk.len() - tail].join("\n");
    out.push(CodeRow {
        section: Section {
            line: (first + lead) as u64 + 1,
            headings: span.map(|s| symbol_words(&s.path)).unwrap_or_default(),
            body,
        },
        symbol: span.map(|s| s.path.clone()),
        kind,
    });
}

/// The text indexed for a symbol path: the path itself, then the parts of its camelCase and
/// PascalCase names (`parseContentLength` → `parse Content Length`), which the tokenizer
/// does not split by itself (it does split at `_`, `::` and `.`).
pub fn symbol_words(path: &str) -> String {
    let mut out = path.to_string();
    for part in path.split(|c: char| !c.is_alphanumeric()) {
        let split = split_camel(part);
        if split.len() > 1 {
            out.push(' ');
            out.push_str(&split.join(" "));
        }
    }
    out
}

/// The words of the camelCase and PascalCase identifiers of a code row's `body`, for its
/// `idents` column ([`super::db`]): each identifier with a capital after its first character
/// (which [`split_camel`] cuts) and no part of a single letter, once, as its
/// parts separated by spaces (`TrailingCharacters` and `parseContentLength` →
/// `Trailing Characters parse Content Length`). The tokenizer already splits at `_`, `::`
/// and `.`, not at a change of case.
pub fn identifier_words(body: &str) -> String {
    // A set: a long body holds thousands of identifiers (a linear `contains` was quadratic).
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut out = String::new();
    for word in body.split(|c: char| !c.is_alphanumeric()) {
        // Only a capital after the first character marks a camelCase word (`u64`, `utf8`
        // and `Value` are left whole).
        if word.len() < 3 || !word.chars().skip(1).any(char::is_uppercase) || seen.contains(word) {
            continue;
        }
        let parts = split_camel(word);
        // A part of one letter is no word (`aB3xYzQ`): a random token so split would be
        // indexed in pieces of a character or two, and a search for a prefix cut at a case
        // change (`abcdE`, `abcdEFg`) would find its row and rank the right next letters
        // higher, read out piece by piece (QA session 12, N1). Digits are parts of any length
        // (`Ipv4Addr`).
        let one_letter = |p: &&str| {
            let mut c = p.chars();
            c.next().is_some_and(char::is_alphabetic) && c.next().is_none()
        };
        if parts.len() < 2 || parts.iter().any(one_letter) {
            continue;
        }
        seen.insert(word);
        for p in parts {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(p);
        }
    }
    out
}

/// `parseContentLength` → `[parse, Content, Length]`; `HTTPServer` → `[HTTP, Server]`; a
/// word with no case change stays whole.
pub fn split_camel(word: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut cuts = vec![0];
    for w in chars.windows(3) {
        let [(_, a), (i, b), (_, c)] = [w[0], w[1], w[2]];
        let lower_upper = a.is_lowercase() && b.is_uppercase();
        let acronym_end = a.is_uppercase() && b.is_uppercase() && c.is_lowercase();
        let digit_edge =
            a.is_alphabetic() != b.is_alphabetic() && a.is_alphanumeric() && b.is_alphanumeric();
        if lower_upper || acronym_end || digit_edge {
            cuts.push(i);
        }
    }
    if let [.., (_, a), (i, b)] = chars[..]
        && a.is_lowercase()
        && b.is_uppercase()
    {
        cuts.push(i);
    }
    cuts.dedup();
    cuts.push(word.len());
    cuts.windows(2)
        .map(|w| &word[w[0]..w[1]])
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether the file is a test file by its path.
pub(crate) fn is_test_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let in_dir = rel
        .split('/')
        .rev()
        .skip(1)
        .any(|d| matches!(d, "tests" | "test" | "__tests__" | "testdata" | "benches"));
    in_dir
        || name.ends_with("_test.go")
        || (name.starts_with("test_") && name.ends_with(".py"))
        || name.ends_with("_test.py")
        || name.contains(".test.")
        || name.contains(".spec.")
}

/// Walks `node`'s children, collecting the symbols under `prefix` (depth-bounded: a
/// pathological nesting cannot blow the stack).
fn collect(
    lang: Lang,
    node: Node<'_>,
    src: &[u8],
    prefix: &str,
    in_test: bool,
    depth: usize,
    out: &mut Vec<Span>,
) {
    if depth > 64 {
        return;
    }
    // Every child, anonymous ones too: the siblings before a symbol are looked at for its
    // leading comments and attributes (`Node::prev_sibling` searches from the parent's first
    // child on each call: quadratic on a file of thousands of items).
    let mut cursor = node.walk();
    let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
    for (j, &child) in children.iter().enumerate() {
        if !child.is_named() {
            continue;
        }
        let before = &children[..j];
        let Some(container) = lang.symbol(child.kind()) else {
            // Wrappers (export statements, decorated definitions, declaration lists, lexical
            // declarations, type declarations) hold symbols a level down.
            if child.named_child_count() > 0 && !is_body_of_leaf(child.kind()) {
                collect(lang, child, src, prefix, in_test, depth + 1, out);
            }
            continue;
        };
        // A variable is a symbol only when it holds a function (JS `const f = () => …`).
        if child.kind() == "variable_declarator"
            && !child.child_by_field_name("value").is_some_and(|v| {
                matches!(
                    v.kind(),
                    "arrow_function" | "function_expression" | "function" | "class"
                )
            })
        {
            continue;
        }
        let Some(name) = symbol_name(lang, child, src) else {
            continue;
        };
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}{}{name}", lang.sep())
        };
        let leading = leading_start(lang, child, node, before);
        let test = in_test || is_test_symbol(lang, child, src, &name, leading, before);
        out.push(Span {
            start: leading,
            end: child.end_position().row,
            path: path.clone(),
            test,
        });
        if container == Container::Holds {
            // Members sit in the body (a block, declaration list or class body).
            let body = child.child_by_field_name("body").unwrap_or(child);
            collect(lang, body, src, &path, test, depth + 1, out);
        }
    }
}

/// Node kinds that are the inside of an expression or statement, never a place for a symbol.
fn is_body_of_leaf(kind: &str) -> bool {
    matches!(
        kind,
        "block" | "statement_block" | "expression_statement" | "call_expression" | "arguments"
    )
}

/// The symbol's name: its `name` field, the self type of a Rust impl, a Go receiver type
/// with the method's name.
fn symbol_name(lang: Lang, node: Node<'_>, src: &[u8]) -> Option<String> {
    let text = |n: Node<'_>| n.utf8_text(src).ok().map(str::to_string);
    match (lang, node.kind()) {
        (Lang::Rust, "impl_item") => node
            .child_by_field_name("type")
            .and_then(text)
            .map(|t| type_name(&t)),
        (Lang::Go, "method_declaration") => {
            let name = node.child_by_field_name("name").and_then(text)?;
            let receiver = node
                .child_by_field_name("receiver")
                .and_then(text)
                .map(|r| {
                    type_name(
                        r.trim_matches(|c| c == '(' || c == ')')
                            .rsplit(' ')
                            .next()
                            .unwrap_or(""),
                    )
                });
            Some(match receiver {
                Some(r) if !r.is_empty() => format!("{r}.{name}"),
                _ => name,
            })
        }
        _ => node
            .child_by_field_name("name")
            .and_then(text)
            .filter(|n| !n.is_empty()),
    }
}

/// `&mut Deserializer<R>` → `Deserializer`; `de::Foo<'a>` → `Foo`; `*Parser` → `Parser`.
fn type_name(t: &str) -> String {
    let t = t.split('<').next().unwrap_or(t);
    let t = t
        .trim_start_matches(['&', '*', '['])
        .trim_start_matches("mut ")
        .trim_start_matches("dyn ")
        .trim();
    t.rsplit("::").next().unwrap_or(t).trim().to_string()
}

/// Whether `node` is a Rust inner doc comment (`//!`, `/*!`): it documents the module that
/// holds it, not the item after it (QA session 12, F6: a file's `//!` header was the first
/// `mod` item's row, titled `patina::server::activation`).
fn is_inner_doc(node: Node<'_>) -> bool {
    let mut cursor = node.walk();
    node.children(&mut cursor)
        .any(|c| c.kind() == "inner_doc_comment_marker")
}

/// The first row of the symbol with the comments and attributes right above it. `parent` is
/// `node`'s parent and `before` its siblings before it (all of them, in order).
fn leading_start<'t>(lang: Lang, node: Node<'t>, parent: Node<'t>, before: &[Node<'t>]) -> usize {
    // A JS/TS symbol inside `export …` or a declaration: the statement's leading comments.
    let wraps = |p: Node<'_>| {
        matches!(
            p.kind(),
            "export_statement"
                | "lexical_declaration"
                | "variable_declaration"
                | "decorated_definition"
                | "type_declaration"
                | "const_declaration"
                | "var_declaration"
        ) && p.start_position().row + 3 >= node.start_position().row
    };
    let mut top = node;
    let mut up = Some(parent);
    while let Some(p) = up.filter(|&p| wraps(p)) {
        top = p;
        up = p.parent();
    }
    let mut start = top.start_position().row;
    // The siblings above `top`: known when it is the symbol itself (the common case), else
    // looked up (only inside the wrappers above).
    let mut known = before.iter().rev().copied();
    let mut prev = if top == node {
        known.next()
    } else {
        top.prev_sibling()
    };
    while let Some(p) = prev {
        if lang.leads(p.kind()) && p.end_position().row + 1 >= start && !is_inner_doc(p) {
            start = p.start_position().row;
            prev = if top == node {
                known.next()
            } else {
                p.prev_sibling()
            };
        } else {
            break;
        }
    }
    start
}

/// Whether a symbol is a test by its own markers (its file and module are checked by the
/// caller).
fn is_test_symbol(
    lang: Lang,
    node: Node<'_>,
    src: &[u8],
    name: &str,
    leading: usize,
    before: &[Node<'_>],
) -> bool {
    match lang {
        Lang::Rust => {
            if node.kind() == "mod_item" && name == "tests" {
                return true;
            }
            // Attributes above it: `#[test]`, `#[tokio::test]`, `#[cfg(test)]`.
            for p in before.iter().rev() {
                if p.start_position().row < leading {
                    break;
                }
                if p.kind() == "attribute_item" {
                    let a = p.utf8_text(src).unwrap_or("");
                    if a.contains("test") && !a.contains("not(test)") {
                        return true;
                    }
                }
            }
            false
        }
        Lang::Python => name.starts_with("test_") || name.starts_with("Test"),
        Lang::Go => ["Test", "Benchmark", "Fuzz"]
            .iter()
            .any(|p| name.starts_with(p)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(rows: &[CodeRow]) -> Vec<(u64, Option<&str>, &str)> {
        rows.iter()
            .map(|r| (r.section.line, r.symbol.as_deref(), r.kind))
            .collect()
    }

    #[test]
    fn a_text_over_the_parse_budget_is_left_to_windows() {
        // QA session 11, G: 1 MiB of dense tokens made one parse peak at ~340 MB.
        let dense = |n: usize| format!("var x = [{}];\n", "[],".repeat(n));
        // `var x = [` is 4 tokens, `];` 2, each `[],` 3.
        let at = |n: usize| 6 + 3 * n;
        let under = (PARSE_TOKENS - 6) / 3;
        assert!(at(under) <= PARSE_TOKENS && at(under + 1) > PARSE_TOKENS);
        assert!(!over_parse_budget(&dense(under)));
        assert!(over_parse_budget(&dense(under + 1)));
        // (Parsed: a smaller one, far inside [`PARSE_CPU`] in a debug build too.)
        assert!(split_symbols("gen.js", &dense(under / 8)).is_some());
        assert_eq!(split_symbols("gen.js", &dense(under + 1)), None);
        // Words are one token each however long, and white space none.
        let words = format!("{} ", "word_42 ".repeat(PARSE_TOKENS));
        assert!(!over_parse_budget(&words));
        assert!(over_parse_budget(&format!("{words}x")));
        let short = "fn f() {}\n";
        assert!(!over_parse_budget(short));
        // Letters of any script are words; any other character is a token, a non-ASCII space
        // too (QA session 12, F1: 333,000 of `\u{a0}x` took 14.5 s and 133 MB to parse).
        let letters = format!("{} ", "é".repeat(2 * PARSE_TOKENS));
        assert!(!over_parse_budget(&letters));
        for space in ['\u{a0}', '\u{3000}', '\u{200b}', '→'] {
            let spaced = format!(
                "fn a() {{}}\n{}",
                format!("{space}x").repeat(PARSE_TOKENS / 2)
            );
            assert!(over_parse_budget(&spaced), "{space:?}");
            assert_eq!(split_symbols("src/a.rs", &spaced), None, "{space:?}");
        }
        // A Rust file whose bodies are over the budget but its skimmed text is not still
        // has its symbols; one whose items alone are over it gets windows.
        let body = format!(
            "fn big() {{\n    let t = [{}];\n}}\n",
            "1,".repeat(PARSE_TOKENS)
        );
        let rows = split_symbols("src/big.rs", &body).expect("skimmed text is parsed");
        assert_eq!(rows[0].symbol.as_deref(), Some("big"));
        let items = "const A: u8 = 1;\n".repeat(PARSE_TOKENS / 6);
        assert!(over_parse_budget(&items));
        assert_eq!(split_symbols("src/consts.rs", &items), None);
    }

    #[test]
    fn a_file_of_more_symbols_than_the_bound_is_left_to_windows() {
        // QA session 12, F2b: 66,600 one-line structs were as many rows.
        let many = |n: usize| {
            (0..n)
                .map(|i| format!("struct A{i};\n"))
                .collect::<String>()
        };
        let rows = split_symbols("src/many.rs", &many(MAX_SYMBOLS)).unwrap();
        assert_eq!(rows.len(), MAX_SYMBOLS);
        assert_eq!(split_symbols("src/many.rs", &many(MAX_SYMBOLS + 1)), None);
    }

    #[test]
    fn a_parse_past_its_cpu_time_is_left_to_windows() {
        // QA session 12, F1c: 199,980 tokens of `?x`, under the token budget, took 4.4 s of
        // tree-sitter's error recovery (more in a debug build); cancelled at PARSE_CPU.
        let slow = "?x".repeat(99_990);
        assert!(!over_parse_budget(&slow));
        assert_eq!(split_symbols("src/slow.rs", &slow), None);
        // The parser is reset after a cancelled skimmed parse: a later file parses.
        let rows = split_symbols("src/ok.rs", "fn ok() {}\n").unwrap();
        assert_eq!(rows[0].symbol.as_deref(), Some("ok"));
    }

    #[test]
    fn an_inner_doc_comment_is_the_modules_not_the_next_items() {
        // QA session 12, F6: a `//!` header was the row of the `mod` item after it.
        for skim in [true, false] {
            let text = "//! A fixed pool of worker threads.\n//! More about it.\npub mod activation;\n\n/*! Block inner doc. */\n/// Outer doc.\npub fn f() {}\n";
            let rows = split_symbols_with("src/server/mod.rs", text, skim).unwrap();
            assert_eq!(
                titles(&rows),
                vec![
                    (1, None, KIND_CODE),
                    (3, Some("activation"), KIND_DEFINITION),
                    (5, None, KIND_CODE),
                    (6, Some("f"), KIND_DEFINITION),
                ],
                "skim {skim}"
            );
        }
    }

    #[test]
    fn rust_is_cut_at_items_with_their_doc_comments_and_impl_paths() {
        let text = "use std::fmt;\n\n/// Parses it.\n#[inline]\npub fn from_str(s: &str) -> u8 {\n    0\n}\n\nimpl<'a> Tr for &mut Deserializer<R> {\n    type E = ();\n    /// Any.\n    fn deserialize_any(self) {}\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn it_works() {}\n}\n";
        let rows = split_symbols("src/de.rs", text).unwrap();
        assert_eq!(
            titles(&rows),
            vec![
                (1, None, KIND_CODE),
                (3, Some("from_str"), KIND_DEFINITION),
                (9, Some("Deserializer"), KIND_DEFINITION),
                (10, Some("Deserializer::E"), KIND_DEFINITION),
                (11, Some("Deserializer::deserialize_any"), KIND_DEFINITION),
                (13, Some("Deserializer"), KIND_DEFINITION),
                (15, Some("tests"), KIND_TEST),
                (17, Some("tests::it_works"), KIND_TEST),
                (19, Some("tests"), KIND_TEST),
            ]
        );
        assert!(
            rows[1]
                .section
                .body
                .starts_with("/// Parses it.\n#[inline]\npub fn from_str")
        );
        assert_eq!(rows[4].section.headings, "Deserializer::deserialize_any");
    }

    #[test]
    fn python_go_and_javascript_symbols() {
        let py = "import os\n\nclass Pool:\n    @property\n    def size(self):\n        return 1\n\ndef test_pool():\n    pass\n";
        let rows = split_symbols("pkg/pool.py", py).unwrap();
        let t = titles(&rows);
        assert!(
            t.contains(&(4, Some("Pool.size"), KIND_DEFINITION)),
            "{t:?}"
        );
        assert!(t.contains(&(8, Some("test_pool"), KIND_TEST)), "{t:?}");

        let go =
            "package x\n\n// Steal takes work.\nfunc (q *Queue) Steal() int {\n\treturn 0\n}\n";
        let t = split_symbols("q.go", go).unwrap();
        assert_eq!(titles(&t)[1], (3, Some("Queue.Steal"), KIND_DEFINITION));

        let js = "// Reads it.\nexport function parseContentLength(h) {\n  return 1;\n}\nconst go = () => 2;\n";
        let t = split_symbols("a.js", js).unwrap();
        assert_eq!(
            titles(&t)[0],
            (1, Some("parseContentLength"), KIND_DEFINITION)
        );
        assert_eq!(
            t[0].section.headings,
            "parseContentLength parse Content Length"
        );
        assert_eq!(titles(&t)[1], (5, Some("go"), KIND_DEFINITION));

        let ts = "interface Job {\n  run(): void;\n}\n";
        let t = split_symbols("a.ts", ts).unwrap();
        assert_eq!(
            titles(&t),
            vec![
                (1, Some("Job"), KIND_DEFINITION),
                (2, Some("Job.run"), KIND_DEFINITION),
                (3, Some("Job"), KIND_DEFINITION)
            ]
        );
        assert!(split_symbols("a.txt", "x").is_none());
    }

    #[test]
    fn long_symbols_are_cut_and_hostile_input_does_not_panic() {
        let mut text = String::from("fn big() {\n");
        for i in 0..150 {
            text.push_str(&format!("    let x{i} = {i};\n"));
        }
        text.push_str("}\n");
        let rows = split_symbols("a.rs", &text).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.symbol.as_deref() == Some("big")));
        assert_eq!(rows[1].section.line, 61);
        for bad in [
            "", "\n\n", "fn (", "}}}}", "\u{feff}", "impl<", "class", "é",
        ] {
            for ext in ["rs", "py", "js", "ts", "tsx", "go"] {
                let rows = split_symbols(&format!("x.{ext}"), bad).unwrap();
                assert!(!rows.is_empty());
            }
        }
    }

    #[test]
    fn identifier_words_are_the_parts_of_camel_case_identifiers_once() {
        assert_eq!(
            identifier_words(
                "Err(TrailingCharacters) | x.parseContentLength(TrailingCharacters) snake_case plain u64 Value"
            ),
            "Trailing Characters parse Content Length"
        );
        assert_eq!(identifier_words("no identifiers here"), "");
    }

    #[test]
    fn camel_case_splits() {
        assert_eq!(
            split_camel("parseContentLength"),
            vec!["parse", "Content", "Length"]
        );
        assert_eq!(split_camel("HTTPServer"), vec!["HTTP", "Server"]);
        assert_eq!(split_camel("plain"), vec!["plain"]);
        assert_eq!(split_camel("utf8Decode"), vec!["utf", "8", "Decode"]);
        assert_eq!(split_camel("getX"), vec!["get", "X"]);
        assert!(split_camel("").is_empty());
    }

    #[test]
    fn test_files_by_path() {
        for p in [
            "tests/a.rs",
            "x/__tests__/a.js",
            "a_test.go",
            "test_a.py",
            "a.spec.ts",
            "benches/b.rs",
        ] {
            assert!(is_test_file(p), "{p}");
        }
        for p in ["src/a.rs", "latest.rs", "contest/a.py"] {
            assert!(!is_test_file(p), "{p}");
        }
    }

    /// Whether the skimmed parse is taken for `text` (the skimmer is sure and tree-sitter
    /// parses the collapsed text without error).
    fn skims(text: &str) -> bool {
        let Some(s) = super::super::skim::rust(text) else {
            return false;
        };
        let mut parser = Parser::new();
        parser.set_language(&Lang::Rust.grammar()).unwrap();
        !parser.parse(&s, None).unwrap().root_node().has_error()
    }

    /// Rust constructs around and inside leaf bodies that a skimmer could get wrong.
    const SKIM_FIXTURE: &str = r####"#!/usr/bin/env run-cargo-script
//! Crate docs with a brace: {
#![allow(dead_code)]
#![doc = "}"]

extern crate alloc;
use std::{fmt, io::{self, Read}};

/** Block doc with } and /* nested */ comment. */
#[doc = "}{"]
#[cfg_attr(any(), doc = "{ \" }")]
pub(crate) const fn konst() -> usize {
    let s = "}\"{";
    let r = r#"}"{"#;
    let b = br##"}"#}"##;
    let c = c"{";
    let ch = ['{', '}', '\'', '"', '\u{7b}', b'}' as char];
    'outer: loop {
        break 'outer;
    }
    /* } /* { */ } */
    // }
    3
}

pub type Callback = fn(u8) -> u8;
pub type Boxed = Box<dyn Fn() -> u8 + 'static>;
static GREETING: &'static str = "hi {";
static CB: fn(u8) -> u8 = ident;
static mut COUNTER: u32 = 0;
const TABLE: [(u8, &str); 3] = [
    (1, "}"),
    (2, "{"),
    (3, "'"),
];
const _: () = {
    fn hidden() {}
};
pub static EMPTY: [u8; 0] = [];

fn ident(x: u8) -> u8 {
    x
}

fn empty() {

}

unsafe extern "C" fn callback(x: i32) -> i32 {
    x
}

pub async fn later<'a, T>(x: &'a T) -> &'a T
where
    T: Iterator<Item = u8> + ?Sized,
{
    async move {}.await;
    let f = |y: u8| -> u8 { y };
    x
}

fn r#type() -> u8 {
    fn inner() {}
    0
}

struct Unit;
struct Tuple(u8, String);
pub struct Fields<const N: usize = { 3 }> {
    a: [u8; N],
    /// Doc of a field.
    b: Option<Box<dyn Fn(u8) -> u8>>,
}
enum E {
    A = 1 << 2,
    B { x: u8 },
    C(u8),
}
union U {
    a: u32,
    b: f32,
}

impl<const N: usize> Fields<{ N }> {
    pub const LEN: usize = N;
    /// Makes one.
    #[inline]
    pub fn new() -> Self {
        todo!("{}", N)
    }
    fn union(&self) -> u8 {
        let union = 1;
        union
    }
}

impl fmt::Display for E {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{")
    }
}

impl<T> From<T> for Tuple where T: Into<u8> {
    fn from(t: T) -> Self {
        Tuple(t.into(), String::new())
    }
}

trait Shape: fmt::Debug {
    type Unit: Copy;
    const SIDES: u8;
    fn area(&self) -> f64;
    fn name(&self) -> &str {
        "shape {"
    }
}

unsafe trait Zeroable {}
unsafe impl Zeroable for u8 {}

extern "C" {
    fn abs(x: i32) -> i32;
    static errno: i32;
}

macro_rules! square {
    ($x:expr) => {
        $x * $x
    };
}
macro_rules! paren (
    () => {}
);
macro_rules! bracket [
    () => {}
];

thread_local! {
    static DEPTH: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}
std::thread_local!(static OTHER: u8 = 0);
lazy_static::lazy_static![
    static ref X: u8 = 1;
];

pub mod nested {
    pub mod deeper {
        pub fn leaf() -> char {
            '}'
        }
    }
    pub(in crate::nested) fn sibling() {}
}

mod declared;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_works() {
        assert_eq!(square!(2), 4);
    }

    #[tokio::test]
    async fn it_waits() {}
}

//! An inner doc comment (its node takes the line break), then a blank line.

mod spaced;
//// Four slashes: not a doc comment.

/// A doc comment, then a blank line.

fn after_blank() {}
// A plain comment.
fn plain_above() {}
///
fn empty_doc() {}
//!
/**/
/***/
/** block doc */
fn after_blocks() {}
#[cfg(all(
    // a test-only item: the attribute's text is read whole
    unix
))]
fn commented_attribute() {}
impl dyn // a comment inside the self type, read whole
    Shape
{
}
"####;

    /// Branch `skim`: the skimmed parse gives the very rows of the whole parse, on a fixture
    /// of tricky constructs (the skimmed path is taken for it) and on every `.rs` file of
    /// this repository's `src/` and `tests/`.
    #[test]
    fn skimmed_parse_equals_the_whole_parse() {
        let without_shebang = SKIM_FIXTURE.split_once('\n').unwrap().1;
        let crlf = without_shebang.replace('\n', "\r\n");
        for text in [SKIM_FIXTURE, without_shebang, crlf.as_str()] {
            for rel in ["src/fixture.rs", "tests/fixture.rs"] {
                let whole = split_symbols_with(rel, text, false).unwrap();
                assert_eq!(split_symbols_with(rel, text, true).unwrap(), whole, "{rel}");
            }
        }
        assert!(skims(without_shebang));
        assert!(skims(&crlf));
        let rows = split_symbols("src/fixture.rs", without_shebang).unwrap();
        let t = titles(&rows);
        for want in [
            (8, Some("konst"), KIND_DEFINITION),
            (85, Some("Fields::new"), KIND_DEFINITION),
            (165, Some("tests::it_waits"), KIND_TEST),
        ] {
            assert!(t.contains(&want), "{want:?} not in {t:?}");
        }

        // Truncated files (every 5th prefix): unterminated literals, groups and headers.
        for end in (0..without_shebang.len()).step_by(5) {
            let Some(text) = without_shebang.get(..end) else {
                continue;
            };
            let whole = split_symbols_with("src/fixture.rs", text, false);
            assert_eq!(
                split_symbols_with("src/fixture.rs", text, true),
                whole,
                "prefix of {end} bytes"
            );
        }

        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut stack = vec![root.join("src"), root.join("tests")];
        let (mut files, mut skimmed) = (0, 0);
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let rel = path.strip_prefix(root).unwrap().to_str().unwrap();
                let whole = split_symbols_with(rel, &text, false);
                assert_eq!(split_symbols_with(rel, &text, true), whole, "{rel}");
                files += 1;
                skimmed += usize::from(skims(&text));
            }
        }
        // Not vacuous: the repository's files take the skimmed path.
        assert!(
            files > 50 && skimmed * 10 >= files * 9,
            "{skimmed} of {files}"
        );
    }

    /// Issue 18: a code hit's title is the symbol path as its language names it.
    #[test]
    fn a_package_name_is_read_from_its_manifest() {
        let m =
            "[package]\nversion = \"1\"\nname = \"serde-json\" # c\n[dependencies]\nname = \"x\"\n";
        assert_eq!(package_name(m).as_deref(), Some("serde_json"));
        assert_eq!(package_name("[workspace]\nmembers = []\n"), None);
        assert_eq!(package_name("[dependencies]\nname = \"x\"\n"), None);
        assert_eq!(package_name("[package]\nname = \"a::b\"\n"), None);
        assert_eq!(package_name("[package]\nname.workspace = true\n"), None);
    }

    #[test]
    fn a_top_level_symbol_is_titled_with_its_module_path() {
        for (rel, symbol, want) in [
            (
                "serde_json/src/de.rs",
                "from_str",
                "serde_json::de::from_str",
            ),
            (
                "serde_json/src/de.rs",
                "Deserializer::from_str",
                "Deserializer::from_str",
            ),
            ("src/scry/rank.rs", "rank", "crate::scry::rank::rank"),
            ("src/scry/mod.rs", "Index", "crate::scry::Index"),
            ("src/lib.rs", "VERSION", "crate::VERSION"),
            ("my-crate/src/io/mod.rs", "read", "my_crate::io::read"),
            ("tests/it/main.rs", "helper", "helper"),
            ("pkg/io/reader.py", "read_all", "pkg.io.reader.read_all"),
            ("src/pkg/__init__.py", "main", "pkg.main"),
            ("pkg/io/reader.py", "Reader.read", "Reader.read"),
            ("server/pool.go", "NewPool", "server.NewPool"),
            ("main.go", "main", "main"),
            ("web/app.ts", "render", "render"),
            ("README.md", "Intro", "Intro"),
            // A row of no symbol, stored titled with its file's name: the module's path.
            ("src/server/mod.rs", "mod.rs", "crate::server"),
            ("src/lib.rs", "lib.rs", "crate"),
            ("serde_json/src/de.rs", "de.rs", "serde_json::de"),
            ("tests/it/main.rs", "main.rs", "main.rs"),
            ("pkg/io/reader.py", "reader.py", "pkg.io.reader"),
            ("server/pool.go", "pool.go", "server"),
            ("main.go", "main.go", "main.go"),
            ("web/app.ts", "app.ts", "app.ts"),
            ("README.md", "README.md", "README.md"),
        ] {
            assert_eq!(display_title(rel, symbol, None), want, "{rel} {symbol}");
        }
        // The project's own crate by its package's name, as the issue and the README show.
        assert_eq!(
            display_title("src/de.rs", "from_str", Some("serde_json")),
            "serde_json::de::from_str"
        );
        assert_eq!(
            display_title("my-crate/src/io/mod.rs", "read", Some("other")),
            "my_crate::io::read"
        );
    }
}
