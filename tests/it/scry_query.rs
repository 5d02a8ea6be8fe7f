//! Searching through the library API (`patina::scry`): ranking, hostile queries, limits, line
//! numbers, snippets, deadlines, and an index reused across scrapes.

use patina::scry::{self, Index, ScryError};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    fs::write(p, content).expect("write fixture");
}

/// Notes where "lighthouse" appears in a title, in a heading, and only in body text.
fn project() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    write(
        r,
        "layer/core/body-only.md",
        "# Coastal notes\n\nWe walked past the lighthouse and the harbour, then home.\n\
         Nothing else happened that day, but the walk was long and the wind was cold.\n",
    );
    write(
        r,
        "layer/surface/lighthouse.md",
        "---\nid: lighthouse\n---\n# Lighthouse keeping\n\nKeep the lamp lit.\n\n## Shifts\nNight work.\n",
    );
    write(
        r,
        "layer/surface/maintenance.md",
        "# Maintenance\n\nGeneral upkeep of the station.\n\n## Lighthouse lamp\nReplace the bulb yearly.\n",
    );
    write(
        r,
        "layer/sessions/20250202-101010.md",
        "# Session: storm prep\n**ID**: 20250202-101010\n\n## Goals\n- check generators\n\n\
         ### 10:10 - Start\nlooked at the tide tables\n",
    );
    scry::scrape(r).expect("scrape");
    t
}

fn search(root: &Path, q: &str, limit: usize) -> Result<Vec<scry::Hit>, ScryError> {
    scry::search_project(root, q, limit, None).map(|r| r.results)
}

#[test]
fn title_and_heading_matches_outrank_body_only_matches() {
    let t = project();
    let hits = search(t.path(), "lighthouse", 10).expect("search");
    let order: Vec<(&str, u64)> = hits.iter().map(|h| (h.path.as_str(), h.line)).collect();
    assert_eq!(
        order,
        vec![
            ("layer/surface/lighthouse.md", 4),
            ("layer/surface/maintenance.md", 5),
            ("layer/core/body-only.md", 1),
        ]
    );
    assert!(
        hits.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );
    assert!(
        hits.iter().all(|h| h.score > 0.0),
        "negated bm25: higher is better"
    );
}

#[test]
fn hits_carry_path_title_kind_line_and_a_bracketed_snippet() {
    let t = project();
    let hits = search(t.path(), "harbour", 10).expect("search");
    assert_eq!(hits.len(), 1);
    let h = &hits[0];
    assert_eq!(h.path, "layer/core/body-only.md");
    assert_eq!(h.title, "Coastal notes");
    assert_eq!(h.kind, "core");
    assert_eq!(h.line, 1);
    assert!(h.snippet.contains("[harbour]"), "{}", h.snippet);
    assert!(h.snippet.contains('…'), "long text is cut: {}", h.snippet);
    assert!(!h.snippet.contains('\n'));
    assert!(h.snippet.split_whitespace().count() <= 16, "{}", h.snippet);
}

#[test]
fn line_numbers_point_at_the_section_heading() {
    let t = project();
    for q in ["shifts", "bulb", "tide", "generators", "lamp"] {
        for h in search(t.path(), q, 10).expect("search") {
            let text = fs::read_to_string(t.path().join(&h.path)).expect("read hit file");
            let line = text
                .lines()
                .nth(h.line as usize - 1)
                .unwrap_or_else(|| panic!("{}:{} is past the end", h.path, h.line));
            assert!(
                line.starts_with('#'),
                "{q}: {}:{} is {line:?}",
                h.path,
                h.line
            );
        }
    }
    let tide = search(t.path(), "tide", 10).expect("search");
    assert_eq!(tide[0].line, 7, "the ### 10:10 - Start heading");
}

#[test]
fn hostile_queries_never_fail_with_an_index_error() {
    let t = project();
    let big = "lighthouse ".repeat(10_000);
    let words: String = (0..20_000).map(|i| format!("w{i} ")).collect();
    let hostile: Vec<String> = [
        "\"unbalanced AND ( NEAR * -",
        "unbalanced AND ( NEAR * -",
        "foo AND",
        "NEAR(",
        "AND",
        "OR",
        "NOT",
        "NEAR AND OR NOT",
        "-lighthouse",
        "a:b -c *",
        "title:lighthouse",
        "path:x",
        "lighthouse*",
        "\"\"\"",
        "((((",
        "))",
        "^lighthouse",
        "lighthouse's lamp",
        "café naïve 日本語 Ελληνικά",
        "🦀 lighthouse 🔥",
        "nul\0byte",
        "tab\tand\r\nnewline",
        "{ } [ ] < > ; ' ` ~ ! @ # $ % ^ & = + | \\ /",
        "\u{0345}",
        "\u{200b}lighthouse\u{200b}",
        "x\u{301}",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([big, words])
    .collect();
    for q in &hostile {
        match search(t.path(), q, 10) {
            Ok(_) | Err(ScryError::EmptyQuery) => {}
            Err(e) => panic!("{:?} gave {e}", q.chars().take(40).collect::<String>()),
        }
    }
    for q in ["", "   ", "*", "- ( ) \"", "🦀🦀", "\0", "\"*\""] {
        assert!(
            matches!(search(t.path(), q, 10), Err(ScryError::EmptyQuery)),
            "{q:?}"
        );
    }
    // Operators are words, not syntax: "-lighthouse" still finds the lighthouse.
    assert!(
        !search(t.path(), "-lighthouse", 10)
            .expect("search")
            .is_empty()
    );
    // No prefix query: a `*` is punctuation (a prefix would be an oracle on an indexed
    // secret, threat model "Oracles"); the whole word still matches with one.
    assert!(search(t.path(), "lightho*", 10).expect("search").is_empty());
    assert!(
        !search(t.path(), "lighthouse*", 10)
            .expect("search")
            .is_empty()
    );
}

#[test]
fn limit_is_clamped_to_max_and_zero_means_default() {
    let t = tempfile::tempdir().expect("tempdir");
    let text: String = (0..1100)
        .map(|i| format!("## Heading {i}\nthe common word\n"))
        .collect();
    write(t.path(), "many.md", format!("# Many\n{text}"));
    scry::scrape(t.path()).expect("scrape");
    assert_eq!(
        search(t.path(), "common", 99_999).expect("search").len(),
        scry::MAX_LIMIT
    );
    assert_eq!(
        search(t.path(), "common", 0).expect("search").len(),
        scry::DEFAULT_LIMIT
    );
    assert_eq!(search(t.path(), "common", 3).expect("search").len(), 3);
}

#[test]
fn deadline_in_the_past_fails_and_the_next_search_works() {
    let t = project();
    let mut idx = Index::open(t.path()).expect("open");
    let past = Instant::now();
    std::thread::sleep(Duration::from_millis(1));
    assert!(matches!(
        idx.search("lighthouse", 10, Some(past)),
        Err(ScryError::Deadline)
    ));
    let ok = idx
        .search(
            "lighthouse",
            10,
            Some(Instant::now() + Duration::from_secs(5)),
        )
        .expect("next search");
    assert_eq!(ok.len(), 3);
    assert!(matches!(
        scry::search_project(t.path(), "lighthouse", 10, Some(past)),
        Err(ScryError::Deadline)
    ));
}

#[test]
fn missing_index_tells_the_user_to_scrape() {
    let t = tempfile::tempdir().expect("tempdir");
    let e = search(t.path(), "anything", 10).expect_err("no index");
    assert!(matches!(e, ScryError::NoIndex(_)));
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("patina scrape {}", t.path().display())),
        "{msg}"
    );
}

#[test]
fn an_open_index_sees_a_later_scrape() {
    let t = project();
    let mut idx = Index::open(t.path()).expect("open");
    assert!(idx.search("zeppelin", 10, None).expect("search").is_empty());
    write(
        t.path(),
        "layer/core/air.md",
        "# Airships\nA zeppelin floats.\n",
    );
    fs::remove_file(t.path().join("layer/core/body-only.md")).expect("rm");
    scry::scrape(t.path()).expect("rescrape");
    let hits = idx.search("zeppelin", 10, None).expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "layer/core/air.md");
    assert!(idx.search("harbour", 10, None).expect("search").is_empty());
}

#[test]
fn many_searches_on_one_open_index() {
    let t = project();
    let mut idx = Index::open(t.path()).expect("open");
    for i in 0..500 {
        let q = ["lighthouse", "lamp bulb", "tide storm", "nothing-matches"][i % 4];
        idx.search(q, 10, None).expect("search");
    }
}

/// "common" is in every row, "rare" in five: bm25 gives "common" an IDF of ~0, so the
/// ranking of "common rare" is the ranking of "rare", padded with common-only rows.
#[test]
fn a_term_in_most_rows_does_not_change_the_ranking_and_still_fills_the_limit() {
    let t = tempfile::tempdir().expect("tempdir");
    for i in 0..40 {
        let extra = if i % 8 == 0 { " rare rare" } else { "" };
        let filler = "lorem ".repeat(i % 5);
        write(
            t.path(),
            &format!("notes/n{i:02}.md"),
            format!("# Note {i}\ncommon words {filler}{extra}\n"),
        );
    }
    scry::scrape(t.path()).expect("scrape");
    let paths = |q: &str, limit: usize| -> Vec<String> {
        search(t.path(), q, limit)
            .expect("search")
            .into_iter()
            .map(|h| h.path)
            .collect()
    };
    let rare = paths("rare", 3);
    assert_eq!(rare.len(), 3);
    assert_eq!(paths("common rare", 3), rare);
    assert_eq!(paths("rare common", 3), rare);
    let padded = paths("common rare", 10);
    assert_eq!(
        padded.len(),
        10,
        "rows with only the common term fill the limit"
    );
    assert_eq!(padded[..5], paths("rare", 5)[..]);
}

#[test]
fn a_section_without_text_gets_a_snippet_of_its_title() {
    let t = tempfile::tempdir().expect("tempdir");
    write(
        t.path(),
        "heron.md",
        "# Grey heron\n## Habitat\nWetlands.\n",
    );
    scry::scrape(t.path()).expect("scrape");
    let hits = search(t.path(), "heron", 10).expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].line, 1);
    assert!(hits[0].snippet.contains("[heron]"), "{}", hits[0].snippet);
}

/// Case 027: words joined by punctuation are found as words, operator words are words,
/// pure punctuation finds nothing without an error, and `name:value` is plain text (no
/// column filter): never an FTS5 syntax error, whatever the query.
#[test]
fn punctuated_words_and_operator_words_are_searched_as_words_case_027() {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    write(
        r,
        "layer/core/glossary.md",
        "# Glossary\n\nThe peer-to-peer relay is off-the-shelf. Isn't it fine?\n\
         Runs on debian 12.04 and rfc 9110.5; ticket OPS-4471 closed.\n\
         The module net::http, C# bindings, deno.land, path alpha/beta/gamma.\n\
         Pass --deny-warnings. Mail dev@example.org, 75% ready, $PATH kept.\n\
         Operator words: AND OR NOT NEAR, and x*y, (brackets), ^hat, \"said\".\n",
    );
    write(
        r,
        "src/lib.rs",
        "fn heading_case() {}\n// field:value and kind:y\n",
    );
    scry::scrape(r).expect("scrape");
    let hits = |q: &str| -> usize {
        match scry::search_project(r, q, 10, None) {
            Ok(resp) => resp.results.len(),
            Err(ScryError::EmptyQuery) => 0,
            Err(e) => panic!("{q:?}: {e}"),
        }
    };
    for q in [
        "peer-to-peer",
        "off-the-shelf",
        "isn't",
        "debian 12.04",
        "9110.5",
        "OPS-4471",
        "net::http",
        "C#",
        "deno.land",
        "alpha/beta/gamma",
        "--deny-warnings",
        "\"--deny-warnings\"",
        "dev@example.org",
        "75%",
        "$PATH",
        "AND",
        "OR",
        "NOT",
        "NEAR",
        "NEAR(",
        "x*y",
        "(brackets",
        "^hat",
        "\"said",
        "field:value",
    ] {
        assert!(hits(q) >= 1, "{q:?} found nothing");
    }
    for q in [
        "*", "-", "--", "'", "\"", "!!!", "kind:", ":", "()", "NEAR(,",
    ] {
        hits(q); // no error, whatever the count
    }
    let long = "x".repeat(5000);
    let t0 = Instant::now();
    assert_eq!(hits(&long), 0);
    assert!(t0.elapsed() < Duration::from_secs(2));
}
