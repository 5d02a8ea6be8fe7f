//! Turning any user text into the words of a query. Depends on [`super::tokenize`],
//! [`super::thesaurus`] and `unicode-normalization`.
//!
//! There is no query syntax: text is cut into its words at whitespace, punctuation and
//! symbols (`a:b` is `a` and `b`, as the tokenizer would cut it), and each word is looked up
//! by its tokens ([`super::tokenize`], the index's own tokenizer). There are no prefix
//! queries: `*` is punctuation like any other. The postings rank every term
//! (`postings`).
//! Terms are OR-ed: a document matching some of the words still ranks, and BM25 puts the ones
//! matching more of them first.

/// At most this many distinct terms of a query are used; the rest are ignored, so a query of
/// 100 KB costs no more than one of 32 words.
pub const MAX_TERMS: usize = 32;

/// A term longer than this many characters is cut to it. No real word is that long; the cap
/// bounds the phrase a single pasted blob can become.
pub const MAX_TERM_CHARS: usize = 128;

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The word as the query gave it (without quotes), at most [`MAX_TERM_CHARS`]
    /// characters.
    pub text: String,
    /// The term's token ([`super::tokenize`]: `Parsing` → `pars`, `Cafés` → `cafe`), the
    /// one the index stores for the word, whatever its script: the
    /// second stage ([`super::rank`]) matches the text's tokens against it. Every word
    /// [`terms`] returns is one token (it cuts where the tokenizer cuts); `None` only for a
    /// word the tokenizer would cut into several or none.
    pub token: Option<String>,
}

/// Splits `input` into at most [`MAX_TERMS`] terms:
///
/// - Terms are split at whitespace and at control characters (a NUL would end the string
///   inside SQLite's C code and unbalance the quotes).
/// - Each piece is cut into its words at punctuation and symbols (`separates`), each a
///   term of its own (`-x` → `x`, `type:glob` → `type`, `glob`, `naïve-café→x` → `naïve`,
///   `café`, `x`).
/// - A word with no letter or digit is dropped: it has no token.
/// - There are no prefix queries: a `*` is punctuation (`scrap*` is the word `scrap`). A
///   prefix query would be an oracle on an indexed secret: `fcbb*`, `fcbc*`, … tell which
///   prefix a redacted value has, one character at a time (threat model, "Oracles").
/// - A term is cut to [`MAX_TERM_CHARS`] characters.
/// - Duplicates (case-insensitively, or by their token: `parse parsing` is one term, `parse`)
///   are dropped, then the first [`MAX_TERMS`] are kept.
pub fn terms(input: &str) -> Vec<Term> {
    let mut seen: Vec<String> = Vec::new();
    let mut out: Vec<Term> = Vec::new();
    let pieces = input
        .split(|c: char| c.is_whitespace() || c.is_control())
        .flat_map(|raw| {
            // Its words (where the tokenizer would cut ASCII text).
            raw.split(separates)
                .filter(|w| w.chars().any(char::is_alphanumeric))
        });
    for core in pieces {
        if out.len() >= MAX_TERMS {
            break;
        }
        let core: String = core.chars().take(MAX_TERM_CHARS).collect();
        let token = match super::tokenize::tokens(&core).as_mut_slice() {
            [one] => Some(std::mem::take(one)),
            _ => None,
        };
        // Two words of one stem are one term: the same rows, scored once.
        let key = token.clone().unwrap_or_else(|| core.to_lowercase());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        out.push(Term { text: core, token })
    }
    out
}

/// Whether `c` cuts a query's words: whatever the tokenizer cuts tokens at
/// ([`super::tokenize`]: anything but a letter, a digit or a combining mark), so a word is
/// one token.
fn separates(c: char) -> bool {
    if c.is_ascii() {
        !c.is_ascii_alphanumeric()
    } else {
        !c.is_alphanumeric() && !unicode_normalization::char::is_combining_mark(c)
    }
}

/// English function words that do not score when the query has another word: "how are
/// secrets stored" searches `secrets stored`. Parts of an identifier (`is` in `is_empty`) are
/// never dropped; a query of stop words only is searched as it is. The list is the usual
/// English one (NLTK's) less the words that carry meaning in code and its messages: `not`,
/// `no`, `all`, `up`, `down`, `out`, `off`, `over`, `under` ("out of range", `sort_all`).
pub const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "doing", "done", "during", "each", "few", "for", "from",
    "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my",
    "myself", "nor", "now", "of", "on", "once", "one", "only", "or", "other", "our", "ours", "own",
    "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
    "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "until",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours",
];

/// Words that announce a symbol (`fn from_str`, `class Pool`, `def parse`): the query is
/// taken to name the symbol after them. They are not searched for, except
/// [`KIND_WORDS`].
pub const DECLARATION_WORDS: &[&str] = &[
    "fn",
    "func",
    "function",
    "def",
    "struct",
    "class",
    "impl",
    "trait",
    "enum",
    "interface",
    "mod",
    "macro",
    "macro_rules",
    "method",
    "const",
    "static",
    "type",
];

/// The declaration words that are searched for too, because they tell the definition apart
/// from the uses of its name: `enum Value` ranks the row declaring `pub enum Value` above
/// the many `impl Value` blocks and methods titled `Value` (QA session 11: it was not in the
/// first stage's candidates at all). Not `fn`, `def`, `impl`, `type`…: nearly every row of
/// code holds them, so they would tell nothing.
pub const KIND_WORDS: &[&str] = &[
    "struct",
    "enum",
    "trait",
    "class",
    "interface",
    "macro_rules",
];

/// A query made ready for ranking: its terms for BM25 and what it says about symbols.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prepared {
    /// The terms BM25 ranks with: stop words out, identifiers split into their words
    /// (`parse_content_length`, `parseContentLength`, `a::b::c`), a camelCase identifier also
    /// whole (one token for the tokenizer).
    pub terms: Vec<Term>,
    /// Identifiers the query names, lowercase, without their path (`deserialize_any` for
    /// `Deserializer::deserialize_any`): a row that holds one whole, or defines it, ranks
    /// higher.
    pub idents: Vec<String>,
    /// Qualified names the query gives (`deserializer::deserialize_any` for
    /// `Deserializer::deserialize_any` or `Deserializer.deserialize_any`), lowercase, `::`
    /// between the parts.
    pub paths: Vec<String>,
    /// True when the query names a symbol: an identifier-shaped word (`_`, `::`, `.` inside,
    /// or an inner capital), or a word after one of [`DECLARATION_WORDS`]. Then definitions
    /// rank above uses and tests.
    pub names_symbol: bool,
    /// Tokens of words related to the query's ([`super::thesaurus::expand`]), for a query
    /// that names no symbol: searched at [`super::thesaurus::WEIGHT`] of a query word's
    /// weight in both stages. Stems as the index stores them: never stemmed again.
    pub expansions: Vec<String>,
    /// The [`KIND_WORDS`] the query puts before a name (`struct` in `struct Map`), lowercase:
    /// a definition that declares the name with one of them (`pub struct Map<K, V>`) ranks
    /// above the other rows titled with the name.
    pub kinds: Vec<String>,
    /// The query's text as typed, its words joined by one space and ASCII-lowercased, for a
    /// query of two words or more that names no symbol (`eof while parsing a value`): a row
    /// that holds it whole is likely where that message or setting is written
    /// ([`super::rank::VERBATIM`]). `None` otherwise.
    pub verbatim: Option<String>,
}

/// Whether a word is shaped like an identifier of code (not like an English word).
fn identifier_shaped(word: &str) -> bool {
    let inner = word.trim_matches(|c: char| !c.is_alphanumeric());
    let has_sep = inner.contains('_') || inner.contains("::") || {
        let b = inner.as_bytes();
        b.windows(3)
            .any(|w| w[1] == b'.' && w[0].is_ascii_alphanumeric() && w[2].is_ascii_alphabetic())
    };
    let camel = inner
        .chars()
        .skip(1)
        .zip(inner.chars())
        .any(|(c, prev)| c.is_uppercase() && prev.is_lowercase());
    has_sep || camel
}

/// The text a query searches: its quoted phrases alone, joined by a space, when it holds a
/// phrase of two words or more between double quotes (`"`, or `“` and `”`); else the query
/// itself. An agent pastes an error with its wrapper (`Error("EOF while parsing a value",
/// line: 1, column: 0)`, `panicked at 'called unwrap on an Err value: "trailing
/// characters"'`), and the quoted message is what the code writes: the wrapper's words
/// (`error`, `line`, `column`) are in many rows and would outrank the one that writes the
/// message (QA session 11, D). A quoted phrase is then looked for whole
/// ([`Prepared::verbatim`]). Quotes pair in order; a last quote without its pair, and a
/// quoted single word, are ordinary punctuation.
pub fn searched(input: &str) -> std::borrow::Cow<'_, str> {
    let mut phrases: Vec<&str> = Vec::new();
    let mut open: Option<usize> = None;
    for (i, c) in input.char_indices() {
        if !matches!(c, '"' | '\u{201c}' | '\u{201d}') {
            continue;
        }
        match open.take() {
            None => open = Some(i + c.len_utf8()),
            Some(start) => {
                let inside = &input[start..i];
                let words = inside
                    .split(|c: char| c.is_whitespace() || c.is_control())
                    .filter(|w| w.chars().any(char::is_alphanumeric))
                    .count();
                if words >= 2 {
                    phrases.push(inside.trim());
                }
            }
        }
    }
    if phrases.is_empty() {
        std::borrow::Cow::Borrowed(input)
    } else {
        std::borrow::Cow::Owned(phrases.join(" "))
    }
}

/// Prepares `input` for ranking ([`Prepared`]): the text [`searched`] keeps of it, by the
/// [`terms`] rules.
pub fn prepare(input: &str) -> Prepared {
    let input = &*searched(input);
    let words: Vec<&str> = input
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let declares = words.len() > 1
        && words
            .iter()
            .any(|w| DECLARATION_WORDS.contains(&w.to_ascii_lowercase().as_str()));
    let mut out = Prepared::default();
    let mut kept: Vec<String> = Vec::new();
    let mut stops: Vec<String> = Vec::new();
    let mut after_declaration = false;
    let mut kind_word: Option<String> = None;
    for w in &words {
        let lower = w.to_lowercase();
        if declares && DECLARATION_WORDS.contains(&lower.as_str()) {
            after_declaration = true;
            // Searched with the name after it, if one comes.
            kind_word = KIND_WORDS.contains(&lower.as_str()).then_some(lower);
            continue;
        }
        let core = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '*');
        if core.is_empty() {
            continue;
        }
        if identifier_shaped(core) || after_declaration {
            out.names_symbol = true;
            if let Some(k) = kind_word.take() {
                out.kinds.push(k.clone());
                kept.push(k);
            }
            let last = core
                .rsplit([':', '.'])
                .find(|s| !s.is_empty())
                .unwrap_or(core);
            let ident = last.trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
            if !ident.is_empty() {
                out.idents.push(ident.to_lowercase());
            }
            let path = core
                .trim_matches(|c: char| !c.is_alphanumeric())
                .replace('.', "::");
            if path.contains("::") {
                out.paths.push(path.to_lowercase());
            }
            for part in core.split(|c: char| !c.is_alphanumeric()) {
                let pieces = super::symbols::split_camel(part);
                if pieces.len() > 1 {
                    kept.push(part.to_lowercase());
                }
                kept.extend(pieces.iter().map(|p| p.to_lowercase()));
            }
            after_declaration = false;
            continue;
        }
        after_declaration = false;
        if STOP_WORDS.contains(&core.to_lowercase().as_str()) {
            stops.push(w.to_string());
        } else {
            kept.push(w.to_string());
        }
    }
    if kept.is_empty() {
        kept = stops;
    }
    out.terms = terms(&kept.join(" "));
    if out.terms.is_empty() {
        // Only declaration words (`fn struct`): search them as words.
        out.terms = terms(input);
    }
    out.idents.dedup();
    if !out.names_symbol {
        let own: Vec<&str> = out
            .terms
            .iter()
            .filter_map(|t| t.token.as_deref())
            .collect();
        out.expansions = super::thesaurus::expand(&own);
        if words.len() >= 2 {
            out.verbatim = Some(words.join(" ").to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The terms of `input` as a readable string: each word quoted, joined with ` OR `.
    fn build(input: &str) -> Option<String> {
        let t = terms(input);
        (!t.is_empty()).then(|| {
            t.iter()
                .map(|t| format!("\"{}\"", t.text))
                .collect::<Vec<_>>()
                .join(" OR ")
        })
    }

    #[test]
    fn a_quoted_phrase_of_two_words_or_more_is_what_is_searched() {
        assert_eq!(
            searched("Error(\"EOF while parsing a value\", line: 1, column: 0)"),
            "EOF while parsing a value"
        );
        assert_eq!(
            searched("x \u{201c} trailing  characters \u{201d} at line 3"),
            "trailing  characters"
        );
        // Two phrases are both searched; a quoted word, an empty pair and a last quote
        // without its pair are punctuation.
        assert_eq!(
            searched("\"key must\" and \"be a string\" here"),
            "key must be a string"
        );
        for plain in [
            "the \"socket\" path",
            "\"\" empty",
            "a lone \" quote here",
            "\"!! ??\" punctuation only",
            "plain words",
            "",
        ] {
            assert_eq!(searched(plain), plain);
        }
        // The phrase is then looked for whole.
        assert_eq!(
            prepare("Error(\"EOF while parsing a value\", line: 1, column: 0)")
                .verbatim
                .as_deref(),
            Some("eof while parsing a value")
        );
    }

    #[test]
    fn a_query_of_two_words_or_more_naming_no_symbol_is_looked_for_whole() {
        assert_eq!(
            prepare("  EOF while\tparsing a value ").verbatim.as_deref(),
            Some("eof while parsing a value")
        );
        assert_eq!(
            prepare("unclosed character class; missing ']'")
                .verbatim
                .as_deref(),
            Some("unclosed character class; missing ']'")
        );
        // One word, or a symbol named: no.
        assert_eq!(prepare("overflow").verbatim, None);
        assert_eq!(prepare("Value::pointer lookup").verbatim, None);
        assert_eq!(prepare("fn parse").verbatim, None);
    }

    #[test]
    fn plain_words_are_quoted_and_or_joined() {
        assert_eq!(
            build("rust sqlite").as_deref(),
            Some("\"rust\" OR \"sqlite\"")
        );
    }

    #[test]
    fn operators_and_syntax_become_literal_strings() {
        // Text is cut into its words at ASCII punctuation; non-ASCII characters stay in a
        // word, quoted.
        assert_eq!(
            build("foo AND bar NEAR( -x a:b").as_deref(),
            Some("\"foo\" OR \"AND\" OR \"bar\" OR \"NEAR\" OR \"x\" OR \"a\" OR \"b\"")
        );
        assert_eq!(build("say \"hi\"").as_deref(), Some("\"say\" OR \"hi\""));
        assert_eq!(
            build("«é\"x» NEAR(").as_deref(),
            Some("\"é\" OR \"x\" OR \"NEAR\"")
        );
        assert_eq!(
            build("naïve-café→x").as_deref(),
            Some("\"naïve\" OR \"café\" OR \"x\"")
        );
        // A combining diacritic stays in its word (the tokenizer folds it out).
        assert_eq!(build("nai\u{308}ve").as_deref(), Some("\"nai\u{308}ve\""));
    }

    #[test]
    fn terms_without_letters_or_digits_are_dropped() {
        for q in ["", "   ", "* - ( ) \" :", "🦀 🔥", "\0\0", "\u{200b}"] {
            assert_eq!(build(q), None, "{q:?}");
        }
        assert_eq!(build("rust ( *").as_deref(), Some("\"rust\""));
    }

    #[test]
    fn a_trailing_star_is_punctuation_not_a_prefix_query() {
        assert_eq!(build("scrap*").as_deref(), Some("\"scrap\""));
        assert_eq!(build("scrap**").as_deref(), Some("\"scrap\""));
        assert_eq!(build("café*").as_deref(), Some("\"café\""));
        assert_eq!(terms("scrap*")[0].token.as_deref(), Some("scrap"));
        assert_eq!(build("foo_ba*").as_deref(), Some("\"foo\" OR \"ba\""));
    }

    #[test]
    fn nul_and_control_characters_split_terms() {
        assert_eq!(
            build("a\0b\x07c").as_deref(),
            Some("\"a\" OR \"b\" OR \"c\"")
        );
    }

    #[test]
    fn terms_are_capped_deduplicated_and_truncated() {
        let many: String = (0..1000).map(|i| format!("w{i} ")).collect();
        let q = build(&many).unwrap_or_default();
        assert_eq!(q.matches(" OR ").count(), MAX_TERMS - 1);
        assert_eq!(build("Rust rust RUST").as_deref(), Some("\"Rust\""));
        let long = "x".repeat(100_000);
        assert_eq!(build(&long).map(|q| q.len()), Some(MAX_TERM_CHARS + 2));
    }

    #[test]
    fn every_term_knows_its_token_as_the_index_stores_it() {
        let t = terms("Rust's SQLite café scrap* x2 a-b Größe nai\u{308}ve 日本");
        let tokens: Vec<Option<&str>> = t.iter().map(|t| t.token.as_deref()).collect();
        assert_eq!(
            tokens,
            vec![
                Some("rust"),
                Some("s"),
                Some("sqlite"),
                Some("cafe"),
                Some("scrap"),
                Some("x2"),
                Some("a"),
                Some("b"),
                Some("groß"),
                Some("naiv"),
                Some("日本")
            ]
        );
        // Each is the tokenizer's one token of the word (the first stage's).
        for t in &t {
            assert_eq!(
                crate::scry::tokenize::tokens(&t.text),
                [t.token.clone().unwrap()]
            );
        }
        // Two spellings of one token are one term, as `parse parsing` are.
        assert_eq!(terms("Café cafe cafe\u{301}").len(), 1);
    }

    #[test]
    fn quotes_are_always_balanced() {
        for q in ["\"", "a\"", "\"\"\"x", "x\"y\"z\"", "é\"", "\"*"] {
            if let Some(b) = build(q) {
                assert_eq!(b.matches('"').count() % 2, 0, "{q:?} -> {b}");
            }
        }
    }

    #[test]
    fn prepare_drops_stop_words_and_splits_identifiers() {
        let p = prepare("how are secrets stored");
        let t: Vec<_> = p
            .terms
            .iter()
            .map(|t| t.token.as_deref().unwrap())
            .collect();
        // Tokens are stems, as the `porter` tokenizer stores them.
        assert_eq!(t, vec!["secret", "store"]);
        assert!(!p.names_symbol);
        // Only stop words: kept.
        assert_eq!(prepare("how are").terms.len(), 2);
        let p = prepare("Deserializer::deserialize_any");
        let t: Vec<_> = p
            .terms
            .iter()
            .map(|t| t.token.as_deref().unwrap())
            .collect();
        assert_eq!(t, vec!["deseri", "ani"]);
        assert_eq!(p.idents, vec!["deserialize_any"]);
        assert_eq!(p.paths, vec!["deserializer::deserialize_any"]);
        assert!(p.names_symbol);
        let p = prepare("parseContentLength");
        let t: Vec<_> = p
            .terms
            .iter()
            .map(|t| t.token.as_deref().unwrap())
            .collect();
        assert_eq!(t, vec!["parsecontentlength", "pars", "content", "length"]);
        let p = prepare("fn from_str");
        let t: Vec<_> = p
            .terms
            .iter()
            .map(|t| t.token.as_deref().unwrap())
            .collect();
        assert_eq!(t, vec!["from", "str"]);
        assert_eq!(p.idents, vec!["from_str"]);
        // Two words of one stem are one term.
        assert_eq!(prepare("parse parsing parsed").terms.len(), 1);
        let p = prepare("class Pool");
        assert!(p.names_symbol && p.idents == vec!["pool"]);
        // A kind word is searched with the name after it (`fn` is not: every row has it).
        let words =
            |q: &str| -> Vec<String> { prepare(q).terms.into_iter().map(|t| t.text).collect() };
        assert_eq!(words("enum Value"), vec!["enum", "value"]);
        assert_eq!(words("macro_rules json"), vec!["macro", "rules", "json"]);
        // With no name after it, it is not.
        assert_eq!(words("pub struct"), vec!["pub"]);
        assert_eq!(prepare("scrap* index").terms[0].text, "scrap");
        assert!(prepare("  ").terms.is_empty());
        assert_eq!(prepare("fn struct").terms.len(), 2);
    }
}
