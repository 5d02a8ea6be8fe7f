//! Repeated searches are answered from a cache of results kept with each open index (issue
//! 7), and that cache never outlives a change to the index: a scrape that commits makes the
//! next search see the new content, and so does an index removed and built anew.

use crate::common;
use common::*;
use std::time::Duration;

fn paths(d: &Daemon, q: &str) -> Vec<String> {
    let r = d.post("/api/scry", &serde_json::json!({ "query": q }).to_string());
    assert_eq!(r.status, 200);
    let v: serde_json::Value = r.json();
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap().to_string())
        .collect()
}

/// `patina scrape` of the daemon's project, which must succeed.
fn scrape(d: &Daemon) {
    let out = run_timeout(
        patina(&d.home).arg("scrape").arg(&d.project),
        Duration::from_secs(60),
    );
    assert_success(&out);
}

#[test]
fn a_repeated_search_sees_what_a_scrape_committed_meanwhile() {
    let d = Daemon::start();
    // Asked often enough that every worker has it cached.
    let before = paths(&d, "quokka");
    for _ in 0..40 {
        assert_eq!(
            paths(&d, "quokka"),
            before,
            "a cached answer equals the search"
        );
    }
    assert!(!before.iter().any(|p| p.ends_with("zebra-quokka.md")));
    std::fs::write(
        d.project.join("layer/core/zebra-quokka.md"),
        "# Zebra quokka\n\nA quokka note added after the first search.\n",
    )
    .unwrap();
    scrape(&d);
    for _ in 0..40 {
        let after = paths(&d, "quokka");
        assert!(
            after.iter().any(|p| p.ends_with("zebra-quokka.md")),
            "every worker sees the scrape: {after:?}"
        );
    }
}

#[test]
fn an_index_removed_and_scraped_anew_is_searched_not_the_old_file() {
    let d = Daemon::start();
    for _ in 0..20 {
        assert!(!paths(&d, "quokka").is_empty());
    }
    // A user purges the index (say, to drop a secret it held) and builds it again from a
    // project where the quokka note is gone: the open connections still read the old,
    // unlinked file, whose data_version never changes.
    std::fs::remove_dir_all(d.project.join(".patina")).unwrap();
    let quokka_files: Vec<_> = walk(&d.project)
        .into_iter()
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.to_lowercase().contains("quokka")))
        .collect();
    assert!(!quokka_files.is_empty(), "the fixture holds a quokka note");
    for p in &quokka_files {
        std::fs::remove_file(p).unwrap();
    }
    scrape(&d);
    // Noticed within FILE_RECHECK (100 ms), then for good.
    let t = std::time::Instant::now();
    while !paths(&d, "quokka").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the new index is never searched"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..20 {
        assert_eq!(
            paths(&d, "quokka"),
            Vec::<String>::new(),
            "the new index is searched"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != ".patina") {
                out.extend(walk(&p));
            }
        } else {
            out.push(p);
        }
    }
    out
}
