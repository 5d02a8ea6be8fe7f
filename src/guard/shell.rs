//! The shell side of the PreToolUse speed bump: a command line parsed by a real shell parser
//! (`brush-parser`, bash's grammar), flattened into the simple commands it would run —
//! through pipelines, `&&`/`||`/`;`, subshells, groups, `if`/`for`/`while`/`case` bodies,
//! `$(…)` and backquotes, `sh -c '…'`/`bash -c`, `eval`, and wrappers such as `sudo`, `env
//! VAR=x`, `command`, `exec`, `nohup`, `nice`, `time`, `timeout` — each with its arguments
//! reduced to literal text (quotes removed) and the variables they expand. Depends only on
//! `brush-parser` and std.
//!
//! A command that does not parse gives `None`: the caller lets it run (the PostToolUse scan
//! is the net, this is a speed bump).

use brush_parser::ast;
use brush_parser::word::{WordPiece, WordPieceWithSource};

/// How deep `sh -c`, `eval` and `$(…)` are followed.
const MAX_DEPTH: usize = 8;

/// Most `(` operators plus `case` words one command line (one level of `sh -c`/`$(…)`) may
/// hold to be parsed. brush-parser 0.4's PEG grammar backtracks exponentially on unclosed
/// groups: 18 unclosed `(` took 13 ms and 24 about 10 s, 18 nested `case a in a)` 1.9 s
/// (found by `fuzz/` hook_payload as a hang). At 12 the worst shapes measured stay under
/// 50 ms (release build); a real command rarely opens more than a few groups.
const MAX_GROUPS: usize = 12;

/// One argument (or the command name) of a simple command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arg {
    /// The text after quote removal, or `None` when it depends on an expansion (a
    /// variable, a command substitution, arithmetic).
    pub literal: Option<String>,
    /// The names of the variables it expands (`$X`, `${X}`, `${X:-…}`, `${!X}`, `${#X}`).
    pub vars: Vec<String>,
}

/// A simple command as the shell would run it: the command name (its last path component)
/// and its arguments, plus the files it reads through `<` redirections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// The command's name without its directory (`/usr/bin/env` → `env`); empty when the
    /// name itself is an expansion.
    pub name: String,
    /// Its arguments.
    pub args: Vec<Arg>,
    /// Files named by input redirections (`< FILE`), literal only.
    pub reads: Vec<String>,
    /// Files named by output redirections (`> FILE`, `>> FILE`, `&> FILE`), literal only.
    /// They are gathered on a call of their own, with an empty name and no arguments, after
    /// the call they belong to.
    pub writes: Vec<String>,
}

/// Every simple command `command` would run, or `None` when it does not parse.
pub fn calls(command: &str) -> Option<Vec<Call>> {
    let mut out = Vec::new();
    parse_into(command, 0, &mut out).then_some(out)
}

fn options() -> brush_parser::ParserOptions {
    brush_parser::ParserOptions::default()
}

fn parse_into(command: &str, depth: usize, out: &mut Vec<Call>) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    if overflowing_number(command) {
        return false;
    }
    let opts = options();
    let Ok(tokens) = brush_parser::tokenize_str_with_options(command, &opts.tokenizer_options())
    else {
        return false;
    };
    if too_many_groups(&tokens) {
        return false;
    }
    // brush-parser 0.4 panics on some inputs (an `unwrap` of a file-descriptor number that
    // overflows, found by `fuzz/` hook_payload): a panic is "does not parse", never a crash of
    // the hook (which the host would read as "no hook ran").
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        brush_parser::parse_tokens(&tokens, &opts)
    }));
    let Ok(Ok(program)) = parsed else {
        return false;
    };
    for list in &program.complete_commands {
        compound_list(list, depth, out);
    }
    true
}

/// Whether `command` holds a number that brush-parser 0.4 would `unwrap` into an integer too
/// small for it, and panic on (found by `fuzz/` hook_payload). Such a command is treated as not
/// parsing. Checked before parsing because a fuzzer's panic hook aborts even inside
/// `catch_unwind`, and because `word::parse` (run on each word after the program parsed) is
/// not inside one. The sites, from brush-parser 0.4.0's source:
///
/// - `parser/peg.rs` `io_number`: a redirection's file-descriptor number, a word of digits
///   right before `<` or `>` (`2>`, `9<<<`, `3>&1`, `4<<EOF`), parsed as `i32`;
/// - `word.rs` `tilde_expression`: `~N`, `~+N`, `~-N` (the directory stack), parsed as
///   `usize`, wherever a tilde prefix is expanded: a word's start, after `:` or `=` in an
///   assignment, inside `${x:-~N}`.
///
/// Not screened, because patina never reaches them: `word.rs`'s brace sequence numbers
/// (`{1..N}`, `i64`), parsed only by `word::parse_brace_expansions`, which the guard does not
/// call. The other numbers brush-parser reads (`>&N`'s source is a word; arithmetic, `io_fd`,
/// octal escapes) map an overflow to a parse error.
///
/// A backslash-newline (line continuation) is removed first, as brush-parser's tokenizer
/// does, so `99999\<newline>99999>x` is seen as one number. This over-approximates (it also
/// removes pairs inside quotes or after an escaped backslash, and counts digits a token
/// boundary would separate): a flagged command that would have parsed loses only the speed
/// bump, never the PostToolUse scan.
fn overflowing_number(command: &str) -> bool {
    let mut b = Vec::with_capacity(command.len());
    let raw = command.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && raw.get(i + 1) == Some(&b'\n') {
            i += 2;
        } else {
            b.push(raw[i]);
            i += 1;
        }
    }
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        // Digits only, so valid UTF-8.
        let digits = std::str::from_utf8(&b[start..i]).unwrap_or("");
        let before = &b[..start];
        let tilde = before.ends_with(b"~") || before.ends_with(b"~+") || before.ends_with(b"~-");
        if tilde && digits.parse::<usize>().is_err() {
            return true;
        }
        let redirect = matches!(b.get(i), Some(b'<' | b'>'));
        if redirect && digits.parse::<i32>().is_err() {
            return true;
        }
    }
    false
}

/// Whether `tokens` hold more than [`MAX_GROUPS`] `(` operators and `case` words, or one
/// word with `=` (which the grammar may parse as an assignment, `name[index]=value`, parsing
/// its inside) holding more than [`MAX_GROUPS`] `(` and `case`: the shapes brush-parser's
/// grammar takes exponential time on. Counted on tokens, so a `(` in quotes, a
/// here-document or a `$(…)` of a plain word (parsed later, on its own) does not count.
fn too_many_groups(tokens: &[brush_parser::Token]) -> bool {
    let inside = |w: &str| w.matches('(').count() + w.matches("case").count();
    let mut groups = 0;
    for t in tokens {
        match t {
            brush_parser::Token::Operator(o, _) => groups += usize::from(o == "("),
            brush_parser::Token::Word(w, _) => {
                groups += usize::from(w == "case");
                if w.contains('=') && inside(w) > MAX_GROUPS {
                    return true;
                }
            }
        }
    }
    groups > MAX_GROUPS
}

fn compound_list(list: &ast::CompoundList, depth: usize, out: &mut Vec<Call>) {
    for item in &list.0 {
        pipeline(&item.0.first, depth, out);
        for more in &item.0.additional {
            match more {
                ast::AndOr::And(p) | ast::AndOr::Or(p) => pipeline(p, depth, out),
            }
        }
    }
}

fn pipeline(p: &ast::Pipeline, depth: usize, out: &mut Vec<Call>) {
    for c in &p.seq {
        command(c, depth, out);
    }
}

fn command(c: &ast::Command, depth: usize, out: &mut Vec<Call>) {
    match c {
        ast::Command::Simple(s) => simple(s, depth, out),
        ast::Command::Compound(cc, redirects) => {
            compound(cc, depth, out);
            if let Some(r) = redirects {
                let mut call = Call::default();
                for io in &r.0 {
                    redirect(io, depth, &mut call, out);
                }
                if !call.reads.is_empty() {
                    out.push(call);
                }
            }
        }
        ast::Command::Function(f) => compound(&f.body.0, depth, out),
        ast::Command::ExtendedTest(..) => {}
    }
}

fn compound(c: &ast::CompoundCommand, depth: usize, out: &mut Vec<Call>) {
    use ast::CompoundCommand as C;
    match c {
        C::BraceGroup(b) => compound_list(&b.list, depth, out),
        C::Subshell(s) => compound_list(&s.list, depth, out),
        C::ForClause(f) => compound_list(&f.body.list, depth, out),
        C::ArithmeticForClause(f) => compound_list(&f.body.list, depth, out),
        C::CaseClause(cc) => {
            for item in &cc.cases {
                if let Some(l) = &item.cmd {
                    compound_list(l, depth, out);
                }
            }
        }
        C::IfClause(i) => {
            compound_list(&i.condition, depth, out);
            compound_list(&i.then, depth, out);
            for e in i.elses.iter().flatten() {
                if let Some(cond) = &e.condition {
                    compound_list(cond, depth, out);
                }
                compound_list(&e.body, depth, out);
            }
        }
        C::WhileClause(w) | C::UntilClause(w) => {
            compound_list(&w.0, depth, out);
            compound_list(&w.1.list, depth, out);
        }
        C::Coprocess(cp) => command(&cp.body, depth, out),
        C::Arithmetic(_) => {}
    }
}

fn redirect(io: &ast::IoRedirect, depth: usize, call: &mut Call, out: &mut Vec<Call>) {
    match io {
        ast::IoRedirect::File(_, kind, target) => match target {
            ast::IoFileRedirectTarget::Filename(w) => {
                let a = arg(&w.value, depth, out);
                if let Some(l) = a.literal {
                    match kind {
                        ast::IoFileRedirectKind::Read => call.reads.push(l),
                        ast::IoFileRedirectKind::Write
                        | ast::IoFileRedirectKind::Append
                        | ast::IoFileRedirectKind::Clobber
                        | ast::IoFileRedirectKind::ReadAndWrite => call.writes.push(l),
                        _ => {}
                    }
                }
            }
            ast::IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                compound_list(&sub.list, depth, out)
            }
            _ => {}
        },
        ast::IoRedirect::HereString(_, w) => {
            // `cmd <<< "$SECRET"` feeds the value to cmd: record it as an argument.
            let a = arg(&w.value, depth, out);
            call.args.push(a);
        }
        ast::IoRedirect::HereDocument(_, doc) => {
            if doc.requires_expansion {
                let a = arg(&doc.doc.value, depth, out);
                call.args.push(Arg {
                    literal: None,
                    vars: a.vars,
                });
            }
        }
        ast::IoRedirect::OutputAndError(w, _) => {
            if let Some(l) = arg(&w.value, depth, out).literal {
                call.writes.push(l);
            }
        }
    }
}

fn simple(s: &ast::SimpleCommand, depth: usize, out: &mut Vec<Call>) {
    let mut words: Vec<Arg> = Vec::new();
    let mut call = Call::default();
    for item in s.prefix.iter().flat_map(|p| p.0.iter()) {
        match item {
            ast::CommandPrefixOrSuffixItem::IoRedirect(io) => redirect(io, depth, &mut call, out),
            ast::CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                arg(&w.value, depth, out);
            }
            ast::CommandPrefixOrSuffixItem::Word(w) => words.push(arg(&w.value, depth, out)),
            ast::CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                compound_list(&sub.list, depth, out)
            }
        }
    }
    if let Some(w) = &s.word_or_name {
        words.push(arg(&w.value, depth, out));
    }
    for item in s.suffix.iter().flat_map(|p| p.0.iter()) {
        match item {
            ast::CommandPrefixOrSuffixItem::IoRedirect(io) => redirect(io, depth, &mut call, out),
            ast::CommandPrefixOrSuffixItem::Word(w) => words.push(arg(&w.value, depth, out)),
            ast::CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                words.push(arg(&w.value, depth, out))
            }
            ast::CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                compound_list(&sub.list, depth, out)
            }
        }
    }
    let reads = std::mem::take(&mut call.reads);
    let here = std::mem::take(&mut call.args);
    unwrap_call(words, reads, here, depth, out);
    if !call.writes.is_empty() {
        out.push(Call {
            writes: call.writes,
            ..Call::default()
        });
    }
}

/// Turns `words` (command name first) into calls, looking through wrappers and `sh -c`.
fn unwrap_call(
    mut words: Vec<Arg>,
    reads: Vec<String>,
    here: Vec<Arg>,
    depth: usize,
    out: &mut Vec<Call>,
) {
    if words.is_empty() {
        if !reads.is_empty() || !here.is_empty() {
            out.push(Call {
                name: String::new(),
                args: here,
                reads,
                writes: Vec::new(),
            });
        }
        return;
    }
    let name = words[0]
        .literal
        .as_deref()
        .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
        .unwrap_or_default();
    let lit = |a: &Arg| a.literal.clone().unwrap_or_default();
    // Wrappers that run their arguments as a command.
    let skip = match name.as_str() {
        "sudo" | "doas" | "command" | "exec" | "nohup" | "time" | "builtin" | "stdbuf" => {
            // Skip the wrapper and its options (`sudo -u x`: the value is skipped too when
            // it is a separate word; good enough for a speed bump).
            let mut i = 1;
            while i < words.len() && lit(&words[i]).starts_with('-') {
                i += 1;
                if name == "sudo" && matches!(lit(&words[i - 1]).as_str(), "-u" | "-g") {
                    i += 1;
                }
            }
            Some(i)
        }
        "nice" => {
            let mut i = 1;
            while i < words.len() && lit(&words[i]).starts_with('-') {
                i += if lit(&words[i]) == "-n" { 2 } else { 1 };
            }
            Some(i)
        }
        "timeout" => {
            let mut i = 1;
            while i < words.len() && lit(&words[i]).starts_with('-') {
                i += 1;
            }
            Some(i + 1) // the duration
        }
        "env" => {
            let mut i = 1;
            while i < words.len() {
                let w = lit(&words[i]);
                if w.starts_with('-') {
                    i += if matches!(w.as_str(), "-u" | "-C" | "-S") {
                        2
                    } else {
                        1
                    };
                } else if w.contains('=') {
                    i += 1;
                } else {
                    break;
                }
            }
            if i >= words.len() {
                // `env` with no command prints the environment.
                out.push(Call {
                    name,
                    args: Vec::new(),
                    reads,
                    writes: Vec::new(),
                });
                return;
            }
            Some(i)
        }
        _ => None,
    };
    if let Some(i) = skip {
        if i < words.len() {
            let rest = words.split_off(i);
            return unwrap_call(rest, reads, here, depth, out);
        }
        // A wrapper alone (`time`, `command`): nothing to run.
        return;
    }
    if matches!(
        name.as_str(),
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash"
    ) {
        if let Some(pos) = words.iter().position(|w| {
            let l = lit(w);
            l.starts_with('-') && !l.starts_with("--") && l.contains('c')
        }) && let Some(script) = words.get(pos + 1).and_then(|w| w.literal.clone())
        {
            parse_into(&script, depth + 1, out);
        }
    } else if name == "eval" {
        let script: Vec<String> = words[1..]
            .iter()
            .filter_map(|w| w.literal.clone())
            .collect();
        parse_into(&script.join(" "), depth + 1, out);
    }
    let mut args = words.split_off(1);
    args.extend(here);
    out.push(Call {
        name,
        args,
        reads,
        writes: Vec::new(),
    });
}

/// The literal text and expanded variables of one word; command substitutions inside it are
/// parsed and their calls added to `out`.
fn arg(word: &str, depth: usize, out: &mut Vec<Call>) -> Arg {
    let mut a = Arg {
        literal: Some(String::new()),
        vars: Vec::new(),
    };
    // The command passed `overflowing_number`, and a word is a piece of it; screened again
    // because a panic here would not be caught. A word with more than `MAX_GROUPS` `(` and
    // `case` (an unclosed `$(` holding them: the word parser backtracks exponentially there
    // too, 14 s for one 800-byte word found by `fuzz/`) is not parsed either.
    let parsed = if overflowing_number(word)
        || word.matches('(').count() + word.matches("case").count() > MAX_GROUPS
    {
        Err(())
    } else {
        brush_parser::word::parse(word, &options()).map_err(|_| ())
    };
    match parsed {
        Ok(pieces) => pieces_into(word, &pieces, depth, out, &mut a),
        Err(_) => {
            // Unparsable word: keep its raw text, and any `$NAME` in it.
            a.literal = Some(word.to_string());
            a.vars = raw_vars(word);
        }
    }
    a
}

fn pieces_into(
    src: &str,
    pieces: &[WordPieceWithSource],
    depth: usize,
    out: &mut Vec<Call>,
    a: &mut Arg,
) {
    for p in pieces {
        match &p.piece {
            WordPiece::Text(t) | WordPiece::SingleQuotedText(t) => {
                if let Some(l) = a.literal.as_mut() {
                    l.push_str(t);
                }
            }
            WordPiece::AnsiCQuotedText(t) => {
                if let Some(l) = a.literal.as_mut() {
                    l.push_str(&ansi_c_unquote(t));
                }
            }
            WordPiece::EscapeSequence(t) => {
                if let Some(l) = a.literal.as_mut() {
                    l.push_str(t.strip_prefix('\\').unwrap_or(t));
                }
            }
            WordPiece::DoubleQuotedSequence(inner)
            | WordPiece::GettextDoubleQuotedSequence(inner) => {
                pieces_into(src, inner, depth, out, a);
            }
            WordPiece::TildeExpansion(_) => {
                if let Some(l) = a.literal.as_mut() {
                    l.push_str(&std::env::var("HOME").unwrap_or_default());
                }
            }
            WordPiece::ParameterExpansion(_) => {
                a.literal = None;
                let text = src.get(p.start_index..p.end_index).unwrap_or("");
                a.vars.extend(raw_vars(text));
            }
            WordPiece::CommandSubstitution(s) | WordPiece::BackquotedCommandSubstitution(s) => {
                a.literal = None;
                parse_into(s, depth + 1, out);
            }
            WordPiece::ArithmeticExpression(_) => a.literal = None,
        }
    }
}

/// The text of an ANSI-C quoted word (`$'…'`, without its quotes) as bash decodes it
/// (bash(1), QUOTING): `\a \b \e \E \f \n \r \t \v \\ \' \" \?`, octal `\nnn` (one to
/// three digits), `\xHH` (one or two hex digits), `\uHHHH`, `\UHHHHHHHH` and `\cX` (a control
/// character). An unknown escape keeps its backslash, as bash does; bytes that are not UTF-8
/// become U+FFFD. Without this, `cat $'\x2eenv'` named a file the guard did not see as `.env`.
fn ansi_c_unquote(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    // Up to `max` digits of `radix` from `b[j..]`: (value, digits taken).
    let digits = |j: usize, radix: u32, max: usize| {
        let mut v: u32 = 0;
        let mut n = 0;
        while n < max {
            match b.get(j + n).and_then(|&c| char::from(c).to_digit(radix)) {
                Some(d) => v = v * radix + d,
                None => break,
            }
            n += 1;
        }
        (v, n)
    };
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let e = b[i + 1];
        i += 2;
        let simple = match e {
            b'a' => Some(7),
            b'b' => Some(8),
            b'e' | b'E' => Some(27),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' | b'\'' | b'"' | b'?' => Some(e),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        match e {
            b'0'..=b'7' => {
                let (v, n) = digits(i - 1, 8, 3);
                out.push(v as u8);
                i += n - 1;
            }
            b'x' => match digits(i, 16, 2) {
                (_, 0) => out.extend_from_slice(b"\\x"),
                (v, n) => {
                    out.push(v as u8);
                    i += n;
                }
            },
            b'u' | b'U' => {
                let max = if e == b'u' { 4 } else { 8 };
                match digits(i, 16, max) {
                    (_, 0) => out.extend_from_slice(&[b'\\', e]),
                    (v, n) => {
                        let c = char::from_u32(v).unwrap_or('\u{FFFD}');
                        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        i += n;
                    }
                }
            }
            b'c' if i < b.len() => {
                out.push(b[i].to_ascii_uppercase() ^ 0x40);
                i += 1;
            }
            _ => out.extend_from_slice(&[b'\\', e]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The variable names of `$NAME`, `${NAME…}`, `${!NAME}`, `${#NAME}` in raw text.
fn raw_vars(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let mut j = i + 1;
            if j < b.len() && b[j] == b'{' {
                j += 1;
                if j < b.len() && (b[j] == b'!' || b[j] == b'#') {
                    j += 1;
                }
            }
            let start = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > start && !b[start].is_ascii_digit() {
                out.push(text[start..j].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cmd: &str) -> Vec<String> {
        calls(cmd).unwrap().into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn flattens_lists_pipelines_substitutions_and_sh_c() {
        assert_eq!(names("ls && printenv | grep X"), ["ls", "printenv", "grep"]);
        assert!(names("echo $(printenv)").contains(&"printenv".to_string()));
        assert!(names("echo `env`").contains(&"env".to_string()));
        assert!(names("sh -c 'env | sort'").contains(&"env".to_string()));
        assert!(names("bash -lc \"printenv\"").contains(&"printenv".to_string()));
        assert!(names("sudo -u root env").contains(&"env".to_string()));
        assert!(names("if true; then env; fi").contains(&"env".to_string()));
        assert!(names("for i in 1; do /usr/bin/printenv; done").contains(&"printenv".to_string()));
        assert!(names("eval 'printenv'").contains(&"printenv".to_string()));
        assert!(names("(cd /tmp && env)").contains(&"env".to_string()));
        // env with a command runs the command.
        let c = calls("env FOO=1 cargo test").unwrap();
        assert_eq!(c.last().unwrap().name, "cargo");
        assert!(!c.iter().any(|c| c.name == "env"));
    }

    #[test]
    fn words_lose_their_quotes_and_keep_their_variables() {
        let c = calls(r#"echo "a${API_KEY}b" '$NOT' $OTHER "x"y"#).unwrap();
        let args = &c[0].args;
        assert_eq!(args[0].vars, ["API_KEY"]);
        assert_eq!(args[0].literal, None);
        assert_eq!(args[1].literal.as_deref(), Some("$NOT"));
        assert!(args[1].vars.is_empty());
        assert_eq!(args[2].vars, ["OTHER"]);
        assert_eq!(args[3].literal.as_deref(), Some("xy"));
        let c = calls("cat < .env").unwrap();
        assert_eq!(c[0].reads, [".env"]);
        let c = calls(r#"c'a't ".e"nv"#).unwrap();
        assert_eq!(c[0].name, "cat");
        assert_eq!(c[0].args[0].literal.as_deref(), Some(".env"));
    }

    /// `$'…'` is decoded as bash does, so a file named through escapes is seen by its name.
    #[test]
    fn ansi_c_quoted_words_are_decoded() {
        let c =
            calls(r"cat $'\x2eenv' $'\056env' $'\u002eenv' $'a\tb\\c\'d' $'\q' $'\cA'").unwrap();
        let lits: Vec<_> = c[0]
            .args
            .iter()
            .map(|a| a.literal.clone().unwrap())
            .collect();
        assert_eq!(lits, [".env", ".env", ".env", "a\tb\\c'd", "\\q", "\u{1}"]);
        assert_eq!(calls(r"$'\x63at' x").unwrap()[0].name, "cat");
    }

    #[test]
    fn unparsable_commands_are_none() {
        assert!(calls("echo 'unterminated").is_none());
    }

    /// Found by `fuzz/` (hook_payload): brush-parser panicked on a redirection whose file
    /// descriptor number overflows; the guard must answer "does not parse", not crash.
    #[test]
    fn an_overflowing_fd_number_does_not_crash_the_parser() {
        for cmd in [
            "11111111111111>|(111111E-408,1,11111111111111111711111111111(1",
            "99999999999999999999999999>x",
            "echo hi 184467440737095516160<&-",
            "cat 99999999999999999999999999999999<<EOF\nx\nEOF\n",
            "echo 2147483648>x",
            "echo 99999999999>&1",
            "cat 99999999999<<<x",
        ] {
            assert!(overflowing_number(cmd), "{cmd:?} not screened");
            assert!(calls(cmd).is_none(), "{cmd:?}");
        }
        // The largest `i32` still parses, as do leading zeros and a number with a space.
        assert_eq!(calls("echo 2147483647>x").unwrap()[0].name, "echo");
        assert_eq!(calls("echo 0000000000002>x").unwrap()[0].name, "echo");
        assert_eq!(calls("echo 99999999999 >x").unwrap()[0].name, "echo");
    }

    /// A line continuation inside the fd number: brush-parser's tokenizer joins the digits
    /// into one overflowing number (a panic the first screen, which looked at raw runs of
    /// digits, let through).
    #[test]
    fn an_fd_number_split_by_a_line_continuation_does_not_crash_the_parser() {
        for cmd in ["echo 99999\\\n99999>x", "echo 9\\\n9\\\n99999999>x"] {
            assert!(overflowing_number(cmd), "{cmd:?} not screened");
            assert!(calls(cmd).is_none(), "{cmd:?}");
        }
    }

    /// Found by `fuzz/` (hook_payload, 10-minute run): `~N` with N past `usize` made
    /// brush-parser's word parser panic; that parser runs on each word after the program
    /// parsed, outside any `catch_unwind`, so the hook itself crashed.
    #[test]
    fn an_overflowing_tilde_number_does_not_crash_the_parser() {
        for cmd in [
            "~9999999999999999999999999",
            "./k;~9999999999999999999999999|999",
            "ls ~18446744073709551616",
            "cd ~+99999999999999999999999",
            "cd ~-99999999999999999999999",
            "A=x:~99999999999999999999999 cmd",
            "export A=~99999999999999999999999",
            "echo ${x:-~99999999999999999999999}",
            "echo $(ls ~99999999999999999999999)",
            "ls ~9999999999\\\n9999999999999999",
        ] {
            assert!(overflowing_number(cmd), "{cmd:?} not screened");
            assert!(calls(cmd).is_none(), "{cmd:?}");
        }
        // `usize::MAX` itself still parses.
        assert_eq!(calls("ls ~18446744073709551615").unwrap()[0].name, "ls");
        assert_eq!(calls("cd ~+3 && ls ~-2").unwrap()[1].name, "ls");
    }

    /// Found by `fuzz/` (hook_payload, 10-minute run, a hang): brush-parser's grammar takes
    /// exponential time on many unclosed groups; past `MAX_GROUPS` a command does not parse,
    /// at once.
    #[test]
    fn a_command_with_too_many_groups_does_not_parse_and_does_not_hang() {
        let n = MAX_GROUPS + 1;
        let t = std::time::Instant::now();
        for cmd in [
            format!("echoq||{}q*|q}}||**|qZ", "(".repeat(180)),
            format!("x && {}q", "(".repeat(n)),
            format!("{}q", "( ".repeat(n)),
            format!("{}q", "case a in a) ".repeat(n)),
            format!("{}q", "( case a in a) ".repeat(n)),
        ] {
            assert!(calls(&cmd).is_none(), "{cmd:?}");
        }
        // Nested: the outer command parses, the inner one is refused (not followed).
        let c = calls(&format!("sh -c '{}q'", "(".repeat(40))).unwrap();
        assert!(c.iter().all(|c| c.name != "q"), "{c:?}");
        assert!(calls(&format!("echo $({}q)", "( ".repeat(40))).is_none());
        // Each of those is refused before brush-parser runs: far inside a bound that the
        // first alone (180 unclosed groups) would exceed by years.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
        // Up to the limit, and groups in quotes, here-documents and `$(…)`, still parse.
        let at_limit = format!(
            "{}true{}",
            "( x; ".repeat(MAX_GROUPS),
            " )".repeat(MAX_GROUPS)
        );
        assert_eq!(calls(&at_limit).unwrap().last().unwrap().name, "true");
        let quoted = format!("echo '{}' \"{}\" && env", "(".repeat(50), "(".repeat(50));
        assert!(names(&quoted).contains(&"env".to_string()));
        let heredoc = format!(
            "python3 - <<'EOF'\nprint({}1{})\nEOF\n",
            "(".repeat(50),
            ")".repeat(50)
        );
        assert_eq!(calls(&heredoc).unwrap()[0].name, "python3");
    }

    /// Found by `fuzz/` (hook_payload, a hang): one word holding an unclosed `$(` and 19 `(`
    /// took brush-parser's word parser 14 s (release build). Such a word keeps its raw text.
    #[test]
    fn a_word_with_too_many_groups_is_not_parsed_and_does_not_hang() {
        // The fuzzer's command, as it found it.
        const FOUND: &str = r#"ec posth^qoqqqqq[{sqqqqqqqqqqq$$$$$$$ $$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$-$$qqqqqqq1qq$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$($&$$$$$$$qqqqqqqqqqqqqqqqqqqqqqqqqqqqq$$$$$$$$q[qqqqqqqqqqqqqqqqqqqqqqq$[qqqqzqqqqqqqqqqqqqq(qqq[qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq(((((((((((((((((((qq[qqqq]=qqqqZZZZ$pc0n>qqqqqq$$$$$$$$$$$$$$$$$$$$$$$$$d$$$ $$$$$$$$$$$$$$$$$$$$$$$$qqqqqqqqqqqqqqqqqqqqqqqqqq$$$$$$$$$$$$$$$$$$$$lllllqqqqqqqqqqqqqqqqqqqllllllllllllllllllllllllllllllllll$$$$$$$$$$$$$$$$$$$$$qqqqq_qqqqqqqqqqqqqqqq$$$$$$$$$%$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$-$$qqqqqqqqqq$ $$$$$$$$$$$$$$$$$$$$$$$*$$$$$$$$$$$$$$$$$$-$$qqqqqqqqqq$ $$$$$$$$$$$$$$$$$$$$$$$*$$$$$$$$$$$$$$$$$$$$$$$$$$&$$$$$$$qqqqqqqqqqqqqqqqqqqqqqqqqqqqq$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$qqqqqqqqqqqqqqqqqqqqqqhqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqyqqqqqqqqqqqZZZZ$p)8n>z"#;
        let t = std::time::Instant::now();
        // Its word holds `[…]=`: the token screen refuses the whole command now.
        assert!(calls(FOUND).is_none());
        // Without the `=`, the command parses and the word keeps its raw text.
        let c = calls(&FOUND.replace('=', "")).unwrap();
        assert_eq!(c[0].name, "ec");
        let word = &c[0].args[1];
        assert!(
            word.literal.as_deref().is_some_and(|l| l.contains("((((")),
            "{word:?}"
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
        // Fewer groups: parsed as before.
        assert_eq!(calls("echo \"$(printenv)\"").unwrap()[0].name, "printenv");
    }

    /// Found by `fuzz/` (hook_payload, the third 10-minute run, a hang): a word shaped like
    /// `name[index]=value` whose index holds 100 `(`: the program grammar parses it as an
    /// assignment and backtracks exponentially inside.
    #[test]
    fn an_assignment_word_with_too_many_groups_does_not_parse_and_does_not_hang() {
        const FOUND: &str = r#"ec posthVoqqqqqq[{sqqqqqqqqqqqqq$$$$$($&$$$$$$$qqqqqqqqqqqqqqqqqqqqqqqqqqqqq$qqqqqqqqqqqq$$$$$$$$$$$$$$$$$$*$$$$$$$$$$$$qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq[qqqq]=qqqqZZZZ$pc0n>qqqqqqqqqqqqq$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$oqqqqqq[{sq$$4$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$qqqqqqqqqqqqqqqqqqqqqq;qqqqqq$$$$$$$$$$$$$$$$$$$$$$$$$$$$$[T((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((oken::Word(e, _)$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$qqqqqqqqqqqqqqqqqqqqqqqqqqqqq$$$$$$$$$$$$$$$$$$$$$$$$$$$$$[Token::Word(e, _)]$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$qqq($$$$$$$$$$$qqqqqqqqqqqqqq^oqqqqqq[{sqqqqqq(qqqqqqqqqq$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$qqq(e, _)$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$Token::Word(e, _rator(w,_mazqqqper['_' ['_'|'.='az'' | 'A'..='Z']m''..a='z' | 'A'..=qqq[{sq$$8$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$'Z'$$$$$$$$$$$$$$$$$$$$$$$$$$$$-$$qqqqqqqqqq$$$$$$$$$$$$$$$$$$$$$4)n>z"#;
        let t = std::time::Instant::now();
        assert!(calls(FOUND).is_none());
        let built = format!("a[{}x]=1 cmd", "(".repeat(MAX_GROUPS + 1));
        assert!(calls(&built).is_none(), "{built}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
        // An assignment with a few groups still parses.
        assert_eq!(calls("A=$(date) cmd").unwrap().last().unwrap().name, "cmd");
    }

    /// brush-parser's brace sequences (`{1..N}`) also `unwrap` an overflowing `i64`, but only
    /// in `word::parse_brace_expansions`, which the guard never calls: such a command parses.
    #[test]
    fn an_overflowing_brace_sequence_is_not_parsed_for_braces() {
        let c = calls("echo {1..99999999999999999999} {99999999999999999999..1}").unwrap();
        assert_eq!(c[0].name, "echo");
        assert!(!overflowing_number("echo {1..99999999999999999999}"));
    }
}
