//! A small built-in thesaurus of general programming vocabulary, for queries that describe
//! behaviour in other words than the code's ("erase an entry" for `remove_entry`). Depends
//! on [`super::tokenize`].
//!
//! Each group of [`GROUPS`] holds words that name one operation, quantity or thing in
//! programming English and that code and its descriptions use interchangeably: a
//! `remove` is described as "delete" or "erase", a `len` as "size" or "length". The
//! principle for a group: a reviewer would accept it out of context, with no corpus or
//! query in mind — general vocabulary, never a word taken from a query's answer. Sources:
//! the verb and noun synonym sets of Princeton WordNet 3.1 (for the English senses), kept
//! to the words that the naming of standard libraries uses for one concept (Rust `std`,
//! POSIX, Python's standard library: `len`/`size`, `push`/`append`, `spawn`/`start`,
//! `recv`/`receive`). A word whose meaning in code is broad (`get`, `set`, `make`, `new`,
//! `read`, `write`, `take`) is in no group: it would fetch half of any corpus.
//!
//! [`expand`] gives, for a query that names no symbol, the other words of each group a
//! query word belongs to (by token: `deleting` is `delet`, as `delete`), the query's own
//! words left out, at most [`MAX_EXPANSIONS`]. The second stage ([`super::rank`]) counts
//! them for proximity at [`WEIGHT`] of their IDF weight: a candidate whose few lines say
//! what the query says in other words ranks above one that scatters the query's own words.
//! They choose no hit's line and are never shown (a hit's snippet and line are the query's
//! words), and the first stage does not search them: as down-weighted BM25 terms they fetched
//! rows by the common member of a group (`space` for "blank") and lowered the tuned code
//! set's MRR@10 at every weight tried (`layer/core/performance.md`, branch `thesaurus`).
//! The words are fixed text of this module, so they reveal nothing a user could not type
//! (no oracle on indexed text).

/// A synonym's proximity weight relative to its own IDF weight as a query word: a window
/// holding the query's own word outweighs one holding only a synonym. 0.3 and 0.5 measured
/// the same, 1 lowered code MRR@10 (`layer/core/performance.md`, branch `thesaurus`).
pub const WEIGHT: f64 = 0.3;

/// At most this many expansion words per query (each is one more bit the second stage's
/// line scan looks for).
pub const MAX_EXPANSIONS: usize = 16;

/// The groups (module docs). Words are lowercase as typed; their tokens are made by
/// [`super::tokenize`] when the table is first used.
pub const GROUPS: &[&[&str]] = &[
    // Taking something out.
    &["remove", "delete", "erase", "evict", "discard", "purge"],
    // Starting work.
    &["start", "spawn", "launch", "begin"],
    // Ending work.
    &["stop", "halt", "terminate", "kill"],
    // Cancelling.
    &["cancel", "abort"],
    // Text or bytes to a value.
    &["parse", "decode", "deserialize", "unmarshal"],
    // A value to text or bytes.
    &["encode", "serialize", "marshal"],
    // How much of something.
    &["size", "length", "len", "count"],
    // More than one.
    &["several", "multiple", "many"],
    // Something going wrong.
    &["error", "failure", "fault"],
    // Looking something up.
    &["find", "search", "lookup", "locate"],
    // Bringing a thing into being.
    &["create", "construct", "instantiate"],
    // A second of the same.
    &["copy", "clone", "duplicate"],
    // Making sure.
    &["check", "verify", "validate"],
    // One form to another.
    &["convert", "transform", "translate"],
    // Putting together.
    &["merge", "combine", "join", "concatenate", "concat"],
    // Taking apart.
    &["split", "divide", "separate"],
    // Sending.
    &["send", "transmit", "emit"],
    // Receiving.
    &["receive", "recv"],
    // Waiting.
    &["wait", "block", "sleep", "park"],
    // Mutual exclusion.
    &["lock", "mutex"],
    &["unlock", "release"],
    // Work to be done.
    &["task", "job"],
    &["thread", "worker"],
    &["queue", "fifo"],
    // Folders.
    &["directory", "folder", "dir"],
    // Leaving out.
    &["skip", "ignore", "omit", "exclude"],
    // Ends of a sequence.
    &["last", "final", "trailing", "tail"],
    &["first", "initial", "leading", "head"],
    &["previous", "prior", "preceding"],
    &["next", "following", "subsequent"],
    // Bounds.
    &["maximum", "max", "limit", "cap"],
    &["minimum", "min"],
    // Kinds of values.
    &["number", "numeric", "integer"],
    &["string", "text"],
    &["character", "char", "letter"],
    &["whitespace", "space", "blank"],
    &["newline", "linefeed", "eol"],
    // Adding.
    &["insert", "add", "push", "append"],
    // Changing.
    &["update", "modify", "change", "alter", "edit"],
    &["replace", "substitute", "swap"],
    // Ordering.
    &["compare", "comparison", "cmp"],
    &["sort", "order"],
    // Digests.
    &["hash", "digest", "checksum"],
    // Time.
    &["time", "clock", "timestamp"],
    &["timeout", "deadline", "expiry"],
    &["retry", "repeat"],
    // Connections.
    &["connect", "dial"],
    &["close", "disconnect", "shutdown"],
    // Settings.
    &["config", "configuration", "setting", "option", "preference"],
    &["enable", "activate", "allow"],
    &["disable", "deactivate", "forbid"],
    // Hiding a value.
    &["hide", "mask", "redact", "conceal"],
    // Showing.
    &["print", "display", "show", "render"],
    // Access.
    &["permission", "privilege"],
    &["authenticate", "login", "credential"],
    // Memory.
    &["allocate", "reserve"],
    &["deallocate", "free"],
    // Reacting.
    &["callback", "hook", "handler", "listener"],
    &["event", "notification", "signal"],
    // Going over.
    &["iterate", "traverse", "walk", "visit"],
    &["parent", "ancestor"],
    &["child", "descendant"],
    // Going too far.
    &["overflow", "exceed"],
    &["truncate", "shorten"],
    &["trim", "strip"],
    // Not right.
    &["invalid", "malformed", "illegal"],
    // Storing for later.
    &["cache", "memoize"],
    // Being there.
    &["exist", "present"],
];

/// A group's words as tokens, and for each token the groups holding it. Made on first use
/// from [`GROUPS`] (constant data derived once, no state).
struct Table {
    /// Per group, its words' tokens.
    groups: Vec<Vec<String>>,
    /// Token → the groups holding it.
    by_token: std::collections::HashMap<String, Vec<usize>>,
}

fn table() -> &'static Table {
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut groups = Vec::with_capacity(GROUPS.len());
        let mut by_token: std::collections::HashMap<String, Vec<usize>> =
            std::collections::HashMap::new();
        for (g, words) in GROUPS.iter().enumerate() {
            let mut tokens: Vec<String> = Vec::new();
            for w in *words {
                for t in super::tokenize::tokens(w) {
                    if !tokens.contains(&t) {
                        tokens.push(t);
                    }
                }
            }
            for t in &tokens {
                let e = by_token.entry(t.clone()).or_default();
                if !e.contains(&g) {
                    e.push(g);
                }
            }
            groups.push(tokens);
        }
        Table { groups, by_token }
    })
}

/// The expansion tokens of a query's tokens `own` (module docs): for each one that is in a
/// group, the group's other tokens, in the groups' order, none of `own`, each once, at most
/// [`MAX_EXPANSIONS`]. They are tokens as the index stores them (stems): look them up as
/// they are, never stem them again (the stemmer is not idempotent).
pub fn expand(own: &[&str]) -> Vec<String> {
    let t = table();
    let mut out: Vec<String> = Vec::new();
    for token in own {
        let Some(groups) = t.by_token.get(*token) else {
            continue;
        };
        for &g in groups {
            for word in &t.groups[g] {
                if out.len() >= MAX_EXPANSIONS {
                    return out;
                }
                if own.contains(&word.as_str()) || out.contains(word) {
                    continue;
                }
                out.push(word.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(q: &str) -> Vec<String> {
        let own = super::super::tokenize::tokens(q);
        expand(&own.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn a_words_group_gives_its_other_words_as_tokens() {
        let got = tokens("deleting entries");
        assert!(got.contains(&"remov".to_string()), "{got:?}");
        assert!(got.contains(&"eras".to_string()), "{got:?}");
        assert!(
            !got.iter().any(|t| t == "delet"),
            "the query's own word: {got:?}"
        );
        assert!(tokens("entries").is_empty());
    }

    #[test]
    fn expansions_are_bounded_and_distinct() {
        let got = tokens("remove start stop parse size error find copy check convert merge split");
        assert!(got.len() <= MAX_EXPANSIONS);
        let mut d = got.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), got.len());
    }

    #[test]
    fn each_token_of_a_word_in_a_group_is_one_token_and_a_stem_of_a_group_word() {
        // Every word of a group is one token (the tokenizer would not split it), and no
        // group repeats a word.
        for words in GROUPS {
            for w in *words {
                assert_eq!(super::super::tokenize::tokens(w).len(), 1, "{w}");
                assert_eq!(w.to_lowercase(), *w, "{w}");
            }
            let mut d: Vec<&str> = words.to_vec();
            d.sort();
            d.dedup();
            assert_eq!(d.len(), words.len(), "{words:?}");
        }
    }
}
