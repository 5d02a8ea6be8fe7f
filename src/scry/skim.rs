//! A lexical skimmer for Rust source: the text tree-sitter needs to find a file's symbols,
//! with the inside of every leaf item's body reduced to its line breaks. Depends on nothing.
//!
//! [`super::symbols`] never looks inside a leaf symbol (a function, a struct, an enum, a
//! const's value, a `macro_rules!`…), yet a whole parse builds trees for all of it: function
//! bodies, table literals, macro bodies. The skimmer lexes the file (comments, strings with
//! escapes, raw strings, byte and C strings, char literals against lifetimes and labels),
//! follows the items (entering `impl`, `trait`, `mod` and `extern` blocks, whose members are
//! symbols) and keeps, between the delimiters of each leaf body, only its `\n` characters:
//!
//! - a `fn`'s parameters and block, a `struct`/`enum`/`union`'s braces or parentheses, a
//!   `macro_rules!` body;
//! - each top-level bracket group (`( )`, `[ ]`, `{ }`) of a `const`/`static`'s value;
//! - the token tree of an item-level macro invocation (`name! { … }`, `path::name!( … );`);
//! - the text of every line comment outside those bodies, attributes and `impl`/`trait`/`mod`
//!   headers (the symbol walk looks at a comment's kind and rows only, and reads an
//!   attribute's text and an impl's self type whole). A doc comment keeps its marker (`///`, `//!`): tree-sitter
//!   ends its node on the next row (its line break included), a plain comment's on its own,
//!   and the walk widens a symbol over the comments that end right above it.
//!
//! Every row (line number) therefore stays where it was, and so do the names, attributes and
//! comments outside the bodies; only the bytes tree-sitter lexes shrink. When anything is
//! unexpected (an unbalanced delimiter, an unterminated literal, a token no item starts
//! with) the skimmer gives up (`None`) and the caller parses the whole text, as it does when
//! the collapsed text's parse has an error.

/// The collapsed text of the Rust source `text`, or `None` when the skimmer is unsure of its
/// items (see the module docs) or found nothing to collapse. The result has exactly as many
/// `\n` as `text`, at the same rows; bytes outside the collapsed bodies are `text`'s.
pub(crate) fn rust(text: &str) -> Option<String> {
    let mut sk = Skim {
        lex: Lex {
            s: text.as_bytes(),
            i: 0,
            comments: Vec::new(),
        },
        cuts: Vec::new(),
        depth: 0,
    };
    sk.items(false).ok()?;
    if sk.cuts.is_empty() && sk.lex.comments.is_empty() {
        return None;
    }
    // The bodies and the comments outside them (a comment inside a body goes with it).
    let mut cuts = std::mem::take(&mut sk.cuts);
    cuts.append(&mut sk.lex.comments);
    cuts.sort_unstable();
    let mut out = String::with_capacity(text.len() / 2);
    let mut at = 0;
    for (from, to) in cuts {
        if from < at {
            continue;
        }
        out.push_str(&text[at..from]);
        let lines = text.as_bytes()[from..to]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        out.extend(std::iter::repeat_n('\n', lines));
        at = to;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The skimmer gave up: the caller parses the whole text.
#[derive(Debug)]
struct Unsure;

type Res<T> = Result<T, Unsure>;

/// Kinds of token the skimmer tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    /// An identifier or keyword (`r#raw` too).
    Ident,
    /// One punctuation byte.
    Punct(u8),
    /// A string, char, byte or number literal.
    Lit,
    /// A lifetime or label (`'a`, `'static`).
    Lifetime,
    /// End of text.
    Eof,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    t: T,
    start: usize,
    end: usize,
}

/// A lexer over Rust's tokens, just enough to match delimiters.
struct Lex<'a> {
    s: &'a [u8],
    i: usize,
    /// The text of each line comment (after its `//`, up to its line's end), in order.
    comments: Vec<(usize, usize)>,
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl Lex<'_> {
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    /// The next token, skipping whitespace and comments.
    fn next(&mut self) -> Res<Tok> {
        let s = self.s;
        loop {
            while self.i < s.len() && s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
            if self.i + 1 < s.len() && s[self.i] == b'/' {
                match s[self.i + 1] {
                    b'/' => {
                        // A doc comment (`///`, `//!`, not `////`) keeps its marker: its
                        // node ends on the next row (tree-sitter includes its line break).
                        let doc = match (self.at(self.i + 2), self.at(self.i + 3)) {
                            (b'!', _) => true,
                            (b'/', b) => b != b'/',
                            _ => false,
                        };
                        let from = self.i + 2 + usize::from(doc);
                        self.i = s[self.i..]
                            .iter()
                            .position(|&b| b == b'\n')
                            .map_or(s.len(), |p| self.i + p);
                        if self.i > from {
                            self.comments.push((from, self.i));
                        }
                        continue;
                    }
                    b'*' => {
                        self.block_comment()?;
                        continue;
                    }
                    _ => {}
                }
            }
            break;
        }
        let start = self.i;
        let Some(&b) = s.get(start) else {
            return Ok(Tok {
                t: T::Eof,
                start,
                end: start,
            });
        };
        let t = if ident_start(b) {
            let mut j = start + 1;
            while j < s.len() && ident_char(s[j]) {
                j += 1;
            }
            let word = &s[start..j];
            self.i = j;
            match (word, self.at(j)) {
                (b"r" | b"br" | b"cr", b'"') => {
                    self.raw_string(j)?;
                    T::Lit
                }
                (b"r" | b"br" | b"cr", b'#') => {
                    let mut k = j;
                    while self.at(k) == b'#' {
                        k += 1;
                    }
                    if self.at(k) == b'"' {
                        self.raw_string(j)?;
                        T::Lit
                    } else if word == b"r" && k == j + 1 && ident_start(self.at(k)) {
                        // A raw identifier: `r#type`.
                        let mut e = k + 1;
                        while e < s.len() && ident_char(s[e]) {
                            e += 1;
                        }
                        self.i = e;
                        T::Ident
                    } else {
                        T::Ident
                    }
                }
                (b"b" | b"c", b'"') => {
                    self.i = j;
                    self.string()?;
                    T::Lit
                }
                (b"b", b'\'') => {
                    self.i = j;
                    if !self.char_lit()? {
                        return Err(Unsure);
                    }
                    T::Lit
                }
                _ => T::Ident,
            }
        } else if b.is_ascii_digit() {
            let mut j = start + 1;
            while j < s.len() && ident_char(s[j]) {
                j += 1;
            }
            self.i = j;
            T::Lit
        } else if b == b'"' {
            self.string()?;
            T::Lit
        } else if b == b'\'' {
            if self.char_lit()? {
                T::Lit
            } else {
                T::Lifetime
            }
        } else {
            self.i = start + 1;
            T::Punct(b)
        };
        Ok(Tok {
            t,
            start,
            end: self.i,
        })
    }

    /// A (nested) block comment at `self.i`.
    fn block_comment(&mut self) -> Res<()> {
        let s = self.s;
        let mut depth = 0usize;
        let mut j = self.i;
        while j + 1 < s.len() {
            match (s[j], s[j + 1]) {
                (b'/', b'*') => {
                    depth += 1;
                    j += 2;
                }
                (b'*', b'/') => {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        self.i = j;
                        return Ok(());
                    }
                }
                _ => j += 1,
            }
        }
        Err(Unsure)
    }

    /// A string with escapes, its `"` at `self.i`.
    fn string(&mut self) -> Res<()> {
        let s = self.s;
        let mut j = self.i + 1;
        while j < s.len() {
            match s[j] {
                b'\\' => j += 2,
                b'"' => {
                    self.i = j + 1;
                    return Ok(());
                }
                _ => j += 1,
            }
        }
        Err(Unsure)
    }

    /// A raw string whose `#`s or `"` start at `j`.
    fn raw_string(&mut self, j: usize) -> Res<()> {
        let s = self.s;
        let mut k = j;
        while self.at(k) == b'#' {
            k += 1;
        }
        let hashes = k - j;
        if self.at(k) != b'"' {
            return Err(Unsure);
        }
        let mut e = k + 1;
        while e < s.len() {
            if s[e] == b'"'
                && s[e + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&b| b == b'#')
                    .count()
                    == hashes
            {
                self.i = e + 1 + hashes;
                return Ok(());
            }
            e += 1;
        }
        Err(Unsure)
    }

    /// At a `'`: a char literal (`true`, consumed) or a lifetime or label (`false`, its name
    /// consumed).
    fn char_lit(&mut self) -> Res<bool> {
        let s = self.s;
        let j = self.i + 1;
        match self.at(j) {
            b'\\' => {
                // `'\n'`, `'\''`, `'\u{1F600}'`: up to the closing quote, a few bytes on.
                let end = (j + 2..s.len().min(j + 14)).find(|&k| s[k] == b'\'');
                let Some(k) = end else {
                    return Err(Unsure);
                };
                self.i = k + 1;
                Ok(true)
            }
            0 | b'\n' => Err(Unsure),
            b => {
                let len = match b {
                    0x00..=0x7f => 1,
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
                if self.at(j + len) == b'\'' {
                    self.i = j + len + 1;
                    return Ok(true);
                }
                if !ident_start(b) {
                    return Err(Unsure);
                }
                let mut k = j + 1;
                while k < s.len() && ident_char(s[k]) {
                    k += 1;
                }
                self.i = k;
                Ok(false)
            }
        }
    }
}

/// The item walk: where the bodies to collapse are.
struct Skim<'a> {
    lex: Lex<'a>,
    /// Byte ranges to collapse (inside a body's delimiters), in order.
    cuts: Vec<(usize, usize)>,
    /// Nesting of entered blocks (bounded).
    depth: usize,
}

fn closer(open: u8) -> Option<u8> {
    match open {
        b'(' => Some(b')'),
        b'[' => Some(b']'),
        b'{' => Some(b'}'),
        _ => None,
    }
}

impl<'a> Skim<'a> {
    fn word(&self, t: Tok) -> &'a [u8] {
        &self.lex.s[t.start..t.end]
    }

    fn peek(&mut self) -> Res<Tok> {
        let at = self.lex.i;
        let t = self.lex.next();
        self.lex.i = at;
        t
    }

    /// The group opened by `open` (already read): returns its closing token.
    fn skip_group(&mut self, open: Tok) -> Res<Tok> {
        let T::Punct(o) = open.t else {
            return Err(Unsure);
        };
        let mut stack = vec![closer(o).ok_or(Unsure)?];
        loop {
            let t = self.lex.next()?;
            match t.t {
                T::Punct(b @ (b'(' | b'[' | b'{')) => stack.push(closer(b).ok_or(Unsure)?),
                T::Punct(b @ (b')' | b']' | b'}')) => {
                    if stack.pop() != Some(b) {
                        return Err(Unsure);
                    }
                    if stack.is_empty() {
                        return Ok(t);
                    }
                }
                T::Eof => return Err(Unsure),
                _ => {}
            }
        }
    }

    /// The group opened by `open` (already read), its inside marked to collapse.
    fn collapse(&mut self, open: Tok) -> Res<()> {
        let close = self.skip_group(open)?;
        if close.start > open.end {
            self.cuts.push((open.end, close.start));
        }
        Ok(())
    }

    /// Items up to the end of text (`inner` false) or to the `}` closing an entered block.
    fn items(&mut self, inner: bool) -> Res<()> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(Unsure);
        }
        loop {
            let t = self.lex.next()?;
            match t.t {
                T::Eof if !inner => break,
                T::Punct(b'}') if inner => break,
                T::Punct(b';') => {}
                T::Punct(b'#') => {
                    let mut n = self.lex.next()?;
                    if n.t == T::Punct(b'!') {
                        n = self.lex.next()?;
                    }
                    if n.t != T::Punct(b'[') {
                        return Err(Unsure);
                    }
                    // An attribute's text is read whole (`#[test]`, `#[cfg(test)]`): the
                    // comments inside it stay.
                    let keep = self.lex.comments.len();
                    self.skip_group(n)?;
                    self.lex.comments.truncate(keep);
                }
                T::Ident => self.item(t)?,
                T::Punct(b':') => self.macro_call(t)?,
                _ => return Err(Unsure),
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// One item whose first word is `first`.
    fn item(&mut self, first: Tok) -> Res<()> {
        let mut t = first;
        loop {
            if t.t != T::Ident {
                return Err(Unsure);
            }
            let word = self.word(t);
            // A contextual keyword may name a macro (`union! { … }`); a strict one may not.
            if matches!(word, b"default" | b"safe" | b"auto" | b"union")
                && self.peek()?.t == T::Punct(b'!')
            {
                return self.macro_call(t);
            }
            match word {
                b"pub" => {
                    let n = self.peek()?;
                    if n.t == T::Punct(b'(') {
                        self.lex.next()?;
                        self.skip_group(n)?;
                    }
                }
                b"default" | b"async" | b"unsafe" | b"safe" | b"auto" => {}
                b"extern" => {
                    let mut n = self.lex.next()?;
                    if n.t == T::Lit {
                        n = self.lex.next()?;
                    }
                    match n.t {
                        T::Punct(b'{') => return self.items(true),
                        T::Ident if self.word(n) == b"crate" => return self.skip_to(b";"),
                        _ => {
                            t = n;
                            continue;
                        }
                    }
                }
                b"const" => {
                    let n = self.peek()?;
                    if n.t == T::Ident
                        && matches!(self.word(n), b"fn" | b"unsafe" | b"async" | b"extern")
                    {
                        // `const fn`: a qualifier.
                    } else {
                        return self.value_item();
                    }
                }
                b"static" => return self.value_item(),
                b"fn" | b"struct" | b"enum" | b"union" => {
                    if self.word(t) == b"union" && self.peek()?.t != T::Ident {
                        return Err(Unsure);
                    }
                    let end = self.header(b"{;", true)?;
                    if end.t == T::Punct(b'{') {
                        self.collapse(end)?;
                    }
                    return Ok(());
                }
                b"impl" | b"trait" | b"mod" => {
                    // An impl's self type is read whole (a comment inside it stays).
                    let keep = self.lex.comments.len();
                    let end = self.header(b"{;", false)?;
                    self.lex.comments.truncate(keep);
                    if end.t == T::Punct(b'{') {
                        self.items(true)?;
                    }
                    return Ok(());
                }
                b"type" | b"use" => return self.skip_to(b";"),
                b"macro_rules" => {
                    if self.lex.next()?.t != T::Punct(b'!') || self.lex.next()?.t != T::Ident {
                        return Err(Unsure);
                    }
                    let open = self.lex.next()?;
                    if !matches!(open.t, T::Punct(b'(' | b'[' | b'{')) {
                        return Err(Unsure);
                    }
                    return self.collapse(open);
                }
                _ => {
                    return match self.peek()?.t {
                        T::Punct(b'!' | b':') => self.macro_call(t),
                        _ => Err(Unsure),
                    };
                }
            }
            t = self.lex.next()?;
        }
    }

    /// An item-level macro invocation whose path starts at `first`: `a::b! ( … )`.
    fn macro_call(&mut self, first: Tok) -> Res<()> {
        let mut t = first;
        loop {
            match t.t {
                T::Ident | T::Punct(b':') => {}
                T::Punct(b'!') => break,
                _ => {
                    return match self.peek()?.t {
                        T::Punct(b'!' | b':') => self.macro_call(t),
                        _ => Err(Unsure),
                    };
                }
            }
            t = self.lex.next()?;
        }
        let open = self.lex.next()?;
        if !matches!(open.t, T::Punct(b'(' | b'[' | b'{')) {
            return Err(Unsure);
        }
        self.collapse(open)
    }

    /// A `const` or `static` (its keyword read): the type up to `=` or `;`, then each
    /// top-level bracket group of the value collapsed, up to `;`.
    fn value_item(&mut self) -> Res<()> {
        let end = self.header(b"=;", false)?;
        if end.t == T::Punct(b';') {
            return Ok(());
        }
        loop {
            let t = self.lex.next()?;
            match t.t {
                T::Punct(b';') => return Ok(()),
                T::Punct(b'(' | b'[' | b'{') => self.collapse(t)?,
                T::Punct(b')' | b']' | b'}') | T::Eof => return Err(Unsure),
                _ => {}
            }
        }
    }

    /// Tokens up to one of `stops` outside any group (brackets skipped whole).
    fn skip_to(&mut self, stops: &[u8]) -> Res<()> {
        loop {
            let t = self.lex.next()?;
            match t.t {
                T::Punct(b) if stops.contains(&b) => return Ok(()),
                T::Punct(b'(' | b'[' | b'{') => {
                    self.skip_group(t)?;
                }
                T::Punct(b')' | b']' | b'}') | T::Eof => return Err(Unsure),
                _ => {}
            }
        }
    }

    /// An item's header (name, generics, parameters, return type, `where` clause) up to the
    /// first of `stops` outside any group and outside `<…>` (a `{` inside generics is a
    /// const argument): returns that token.
    /// With `params`, the first `( … )` outside `<…>` (a function's parameters, a tuple
    /// struct's fields) is collapsed.
    fn header(&mut self, stops: &[u8], mut params: bool) -> Res<Tok> {
        let mut angle = 0usize;
        let mut prev: Option<Tok> = None;
        loop {
            let t = self.lex.next()?;
            match t.t {
                T::Punct(b) if angle == 0 && stops.contains(&b) => return Ok(t),
                T::Punct(b'(') if params && angle == 0 => {
                    params = false;
                    self.collapse(t)?;
                }
                T::Punct(b'(' | b'[' | b'{') => {
                    self.skip_group(t)?;
                }
                T::Punct(b'<') => angle += 1,
                T::Punct(b'>') => {
                    let arrow = prev.is_some_and(|p| p.t == T::Punct(b'-') && p.end == t.start);
                    if !arrow {
                        angle = angle.checked_sub(1).ok_or(Unsure)?;
                    }
                }
                T::Punct(b')' | b']' | b'}' | b';') | T::Eof => return Err(Unsure),
                _ => {}
            }
            prev = Some(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_keep_only_their_line_breaks() {
        let text = "/// A.\n#[inline]\npub fn f(x: u8) -> u8 {\n    let c = '{';\n    x\n}\nstruct S { a: u8 }\nstatic T: [u8; 2] = [\n1, 2];\nimpl<const N: usize> S {\n    fn g(&self) {}\n}\n";
        let got = rust(text).unwrap();
        assert_eq!(
            got,
            "///\n#[inline]\npub fn f() -> u8 {\n\n\n}\nstruct S {}\nstatic T: [u8; 2] = [\n];\nimpl<const N: usize> S {\n    fn g() {}\n}\n"
        );
        assert_eq!(got.matches('\n').count(), text.matches('\n').count());
    }

    #[test]
    fn literals_that_look_like_delimiters_are_lexed() {
        for (body, ok) in [
            ("'{'", true),
            ("'\\''", true),
            ("b'}'", true),
            ("\"}\\\"}\"", true),
            ("r#\"}\"# \"", false),
            ("r#\"}\"#", true),
            ("br##\"}\"#}\"##", true),
            ("c\"}\"", true),
            ("'outer: loop { break 'outer; }", true),
            ("&'static str", true),
            ("/* } /* } */ } */", true),
            ("// }\n", true),
            ("r#fn", true),
            ("'\\u{7d}'", true),
            ("\"", false),
            ("/* ", false),
            ("}", false),
        ] {
            let text = format!("fn f() {{ {body} }}\nfn g() {{}}\n");
            assert_eq!(rust(&text).is_some(), ok, "{body}");
            if ok {
                let lines = "\n".repeat(body.matches('\n').count());
                assert_eq!(
                    rust(&text).unwrap(),
                    format!("fn f() {{{lines}}}\nfn g() {{}}\n"),
                    "{body}"
                );
            }
        }
    }
}
