//! Repeated searches are answered from a per-worker cache of results (issue 7), and that
//! cache never outlives a change to the index: a scrape that commits makes the next search
//! see the new content.

mod common;
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
    let out = run_timeout(
        patina(&d.home).arg("scrape").arg(&d.project),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..40 {
        let after = paths(&d, "quokka");
        assert!(
            after.iter().any(|p| p.ends_with("zebra-quokka.md")),
            "every worker sees the scrape: {after:?}"
        );
    }
}
