//! `POST /api/scry` and `patina scry` on a fixture project: ranking fields, hostile queries,
//! the limit cap, the CLI going through the daemon or, without one, the index directly.

use crate::common;
use common::*;
use serde_json::Value;
use std::time::Duration;

fn scry(d: &Daemon, body: &Value) -> Resp {
    d.post("/api/scry", &body.to_string())
}

/// What `patina mcp --project PROJECT` (with `home`, no daemon there) writes to stdout for an
/// `initialize`, then one `tools/call` of `scry` with `query` (its answer has `"id":2`).
fn mcp_scry(home: &std::path::Path, project: &std::path::Path, query: &str) -> String {
    use std::io::Write;
    let mut child = patina(home)
        .args(["mcp", "--project"])
        .arg(project)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#).unwrap();
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "scry", "arguments": {"query": query}}});
        writeln!(stdin, "{call}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_scry_finds_the_note_with_path_title_kind_line_snippet() {
    let d = Daemon::start();
    let out = curl(
        &d.socket,
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"query":"quokka handshake","limit":5}"#,
            "http://localhost/api/scry",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    let results = v["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.len() <= 5);
    assert!(v["took_ms"].is_number());
    let top = &results[0];
    for f in ["path", "title", "kind", "line", "snippet", "score"] {
        assert!(top.get(f).is_some(), "field {f} in {top}");
    }
    let spec = results
        .iter()
        .find(|r| r["path"] == "layer/surface/specs/spec-quokka.md")
        .expect("the spec is found");
    assert_eq!(spec["kind"], "spec");
    assert_eq!(spec["title"], "Spec: quokka protocol");
    assert!(spec["line"].as_u64().unwrap() >= 1);
    assert!(
        spec["snippet"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("quokka")
    );
    // A session note is found too, with its kind.
    let session = results
        .iter()
        .find(|r| r["path"] == "layer/sessions/20260101-090000.md")
        .expect("session found");
    assert_eq!(session["kind"], "session");
}

#[test]
fn title_and_heading_matches_outrank_body_matches() {
    let d = Daemon::start();
    // "marigold" is a heading in storage.md and only body text in the session note.
    let r = scry(&d, &serde_json::json!({"query": "marigold"}));
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["results"][0]["path"], "layer/core/storage.md", "{v}");
    assert_eq!(
        v["results"][0]["line"], 9,
        "the line of the `## Marigold compaction` heading: {v}"
    );
}

#[test]
fn queries_full_of_operators_and_quotes_are_200() {
    let d = Daemon::start();
    for q in [
        "\"unbalanced AND ( NEAR * -",
        "unbalanced AND ( NEAR * -",
        "foo AND",
        "NEAR(",
        "AND",
        "-foo",
        "a:b -c *",
        "*",
        "\"\"\"",
        "title:quokka",
        "NEAR(quokka handshake, 2)",
        "quokka OR",
        "((((",
        "\u{1F980} caf\u{e9} \u{65e5}\u{672c}",
        "rust's",
        "'; DROP TABLE docs; --",
        "\0\u{1}",
    ] {
        let r = scry(&d, &serde_json::json!({"query": q}));
        assert_eq!(r.status, 200, "{q:?}: {}", String::from_utf8_lossy(&r.body));
        r.assert_well_formed();
        assert!(r.json()["results"].is_array());
    }
    let r = scry(&d, &serde_json::json!({"query": "quokka AND ( NEAR"}));
    assert!(
        !r.json()["results"].as_array().unwrap().is_empty(),
        "the words still match"
    );
}

#[test]
fn limit_is_capped_at_1000() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    for i in 0..1100 {
        let p = project.join(format!("layer/core/n{i:04}.md"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("# Note {i}\n\nzebra stripes number {i}\n")).unwrap();
    }
    let home = dir.path().join("home");
    let d = Daemon::start_in(dir, home, project, &[]);
    let r = scry(&d, &serde_json::json!({"query": "zebra", "limit": 99999}));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 1000);
    let r = scry(&d, &serde_json::json!({"query": "zebra"}));
    assert_eq!(
        r.json()["results"].as_array().unwrap().len(),
        10,
        "default limit"
    );
}

#[test]
fn malformed_bodies_are_400_without_echoing_them() {
    let d = Daemon::start();
    for body in [
        r#"{"query": "x", "limit": "Pc4n4ry-7f3e9c1d+x/y=z"}"#,
        r#"{"query": "Pc4n4ry-7f3e9c1d+x/y=z""#,
        r#"{"limit": 3}"#,
        r#"{"query": "x", "limit": -1}"#,
        r#"["Pc4n4ry-7f3e9c1d+x/y=z"]"#,
        "not json Pc4n4ry-7f3e9c1d+x/y=z",
        r#"{"query": "   "}"#,
    ] {
        let r = d.post("/api/scry", body);
        assert_eq!(r.status, 400, "{body}");
        r.assert_well_formed();
        assert!(
            !String::from_utf8_lossy(&r.body).contains("Pc4n4ry"),
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert!(!d.log().contains("Pc4n4ry"));
}

#[test]
fn unknown_project_is_404() {
    let d = Daemon::start();
    let r = scry(
        &d,
        &serde_json::json!({"query": "x", "project": "no-such-project"}),
    );
    assert_eq!(r.status, 404);
    r.assert_well_formed();
}

#[test]
fn cli_scry_asks_the_daemon_and_works_without_one() {
    let mut d = Daemon::start();
    let project = d.project.clone();
    let run = |home: &std::path::Path| {
        let out = run_timeout(
            patina(home)
                .args(["scry", "--json", "--limit", "3", "--project"])
                .arg(&project)
                .arg("quokka"),
            Duration::from_secs(30),
        );
        assert_success(&out);
        let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["took_ms"] = Value::Null;
        v
    };
    let via_daemon = run(&d.home);
    assert!(
        d.log().contains("POST /api/scry 200"),
        "the CLI asked the daemon: {}",
        d.log()
    );
    assert!(!via_daemon["results"].as_array().unwrap().is_empty());
    assert!(d.terminate().success());
    let direct = run(&d.home);
    assert_eq!(via_daemon, direct, "same library function, same answer");
    // Human output names path:line and title.
    let out = run_timeout(
        patina(&d.home)
            .args(["scry", "--project"])
            .arg(&d.project)
            .arg("quokka"),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("layer/surface/specs/spec-quokka.md:"),
        "{text}"
    );
}

#[test]
fn cli_scry_without_an_index_says_to_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("bare");
    std::fs::create_dir(&project).unwrap();
    let out = run_timeout(
        patina(&dir.path().join("home"))
            .args(["scry", "--project"])
            .arg(&project)
            .arg("anything"),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("patina scrape"), "{err}");
}

#[test]
fn serve_rescrapes_an_index_a_killed_first_scrape_left_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    std::fs::create_dir_all(project.join(".patina")).unwrap();
    std::fs::set_permissions(
        project.join(".patina"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(project.join(".patina/index.db"), b"").unwrap();
    let home = dir.path().join("home");
    let d = Daemon::start_in(dir, home, project, &[]);
    let r = scry(&d, &serde_json::json!({"query": "quokka"}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(!r.json()["results"].as_array().unwrap().is_empty());
}

/// A fake token made at run time (never a literal in the repository).
fn fake_github_token() -> String {
    format!("ghp_{}", "Zq7Xw2Kp9Lm4Nv8Rt6Ys3Hd5Jf1Gb0Ca2Ee4")
}

#[test]
fn secret_looking_text_is_redacted_from_every_field_including_kind() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let tok = fake_github_token();
    std::fs::write(
        project.join("layer/surface/leaky.md"),
        format!("---\ntype: {tok}\n---\n# wombat {tok}\n\nwombat notes hold {tok} here\n"),
    )
    .unwrap();
    let home = dir.path().join("home");
    let d = Daemon::start_in(dir, home, project.clone(), &[]);
    let r = scry(&d, &serde_json::json!({"query": "wombat"}));
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(!text.contains(&tok), "{text}");
    assert!(
        !text.to_lowercase().contains(&tok.to_lowercase()),
        "kind is lowercased: {text}"
    );
    assert_eq!(r.json()["results"][0]["redacted"], true);
    // The MCP server without a daemon redacts too.
    let text = mcp_scry(&dir_of(&project).join("nohome"), &project, "wombat");
    assert!(text.contains("\"id\":2"), "{text}");
    assert!(text.contains("wombat"), "{text}");
    assert!(!text.to_lowercase().contains(&tok.to_lowercase()), "{text}");
}

fn dir_of(p: &std::path::Path) -> std::path::PathBuf {
    p.parent().unwrap().to_path_buf()
}

#[test]
fn serve_rebuilds_an_index_of_an_older_schema_first_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let out = patina(&home).arg("scrape").arg(&project).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // What an older patina left: the schema version of the first release.
    let db = project.join(".patina/index.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 1)
        .unwrap();
    let d = Daemon::start_in(dir, home, project, &[]);
    let log = d.log();
    assert!(
        log.contains("schema version 1") && log.contains("so scraping"),
        "{log}"
    );
    let r = scry(&d, &serde_json::json!({"query": "lantern"}));
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert!(!r.json()["results"].as_array().unwrap().is_empty());
}

/// `patina serve`'s first scrape runs in a child process (`patina scrape --json`, so its
/// memory goes back to the system: layer/core/performance.md). When that child fails, serve
/// says so in one more line after the child's own error, names what to do next, exits 1
/// without serving, and leaves the project as it was. Here `.patina` is a file, so the
/// scrape cannot create its index directory.
#[test]
fn a_first_scrape_that_fails_in_its_child_process_is_reported_and_serve_exits() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    std::fs::write(project.join(".patina"), "not a directory\n").unwrap();
    let out = run_timeout(
        patina(&home).arg("serve").arg("--project").arg(&project),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The child's own error (it names the index path), then serve's line about it.
    assert!(err.contains(".patina"), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("the scrape of") && last.contains("failed") && last.contains("patina serve"),
        "{err}"
    );
    assert!(
        !home.join("run/serve.sock").exists(),
        "serve must not serve"
    );
    assert_eq!(
        std::fs::read_to_string(project.join(".patina")).unwrap(),
        "not a directory\n"
    );
}

/// A new project's first scrape (in a child process) reports its summary in the daemon's
/// log as before, and the daemon then serves the index the child built.
#[test]
fn serve_scrapes_a_new_project_first_and_serves_what_it_built() {
    let d = Daemon::start();
    let log = d.log();
    assert!(
        log.contains("has no index yet") && log.contains("patina: scraped "),
        "{log}"
    );
    let r = scry(&d, &serde_json::json!({"query": "quokka"}));
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert!(!r.json()["results"].as_array().unwrap().is_empty());
}

#[test]
fn serve_rebuilds_an_index_of_schema_6_with_score_ordered_heads() {
    // Schema 6 (until 2026-12-07) kept a `head` column in `postings`; 7 and on have none. The
    // daemon must rebuild such an index at start and then answer from the new one, the
    // non-ASCII queries (ranked by the postings since 7) included.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let out = patina(&home).arg("scrape").arg(&project).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let db = project.join(".patina/index.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE old(term TEXT PRIMARY KEY, rows INTEGER NOT NULL, data BLOB NOT NULL,
               head BLOB, skips BLOB) WITHOUT ROWID;
             INSERT INTO old SELECT term, rows, data, NULL, skips FROM postings;
             DROP TABLE postings; ALTER TABLE old RENAME TO postings;
             PRAGMA user_version = 6;",
        )
        .unwrap();
    let d = Daemon::start_in(dir, home, project.clone(), &[]);
    let log = d.log();
    assert!(
        log.contains("schema version 6") && log.contains("so scraping"),
        "{log}"
    );
    for q in ["lantern", "lanterns*", "lantérn"] {
        let r = scry(&d, &serde_json::json!({"query": q}));
        assert_eq!(r.status, 200, "{q:?} {:?}", r.json());
        let results = r.json()["results"].as_array().unwrap().clone();
        if q != "lantérn" {
            assert!(!results.is_empty(), "{q:?} found nothing");
        }
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, patina::scry::SCHEMA_VERSION);
    let heads: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('postings') WHERE name = 'head'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(heads, 0, "the old layout is gone");
}

/// Issue 18, "a definition ranks above its uses": when a query names a trait's method, the
/// trait's declaration of it (its doc comment and signature, no body) is the first answer
/// through `/api/scry`, above the impls that implement it, at its signature's line; the
/// impls follow as definitions of the name.
#[test]
fn a_named_trait_methods_declaration_is_the_first_answer_above_its_impls() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let put = |rel: &str, text: &str| {
        let p = project.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put(
        "src/source.rs",
        "/// A source of bytes.\npub trait Source {\n    /// Decodes the four hex digits of an escape: reads them one by one,\n    \
         /// checks that each is a digit of base sixteen, and combines them into\n    \
         /// one unit of the text's encoding, or fails on the first that is not.\n    \
         fn decode_escape(&mut self) -> u16;\n}\n",
    );
    // Shorter rows than the documented declaration: BM25 alone ranks them first.
    for name in ["slice", "stream"] {
        put(
            &format!("src/{name}.rs"),
            &format!(
                "pub struct R{name};\n\nimpl Source for R{name} {{\n    fn decode_escape(&mut self) -> u16 {{\n        4\n    }}\n}}\n"
            ),
        );
    }
    let d = Daemon::start_in(dir, home, project, &[]);
    let resp = scry(
        &d,
        &serde_json::json!({"query": "decode_escape", "limit": 5}),
    );
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    let results = v["results"].as_array().unwrap();
    let first = &results[0];
    assert_eq!(
        (
            first["path"].as_str(),
            first["title"].as_str(),
            first["kind"].as_str(),
            first["line"].as_u64()
        ),
        (
            Some("src/source.rs"),
            Some("Source::decode_escape"),
            Some("definition"),
            Some(6)
        ),
        "{results:#?}"
    );
    let impls: Vec<&str> = results[1..]
        .iter()
        .filter_map(|r| r["title"].as_str())
        .filter(|t| t.ends_with("::decode_escape"))
        .collect();
    assert_eq!(impls.len(), 2, "{results:#?}");
}

/// Issue 18: a code hit's title is its symbol path as the language names it: a free
/// function with its crate and module (`serde_json::de::from_str`), a method with its type
/// (`Deserializer::from_str`), through `/api/scry`; a test file's function keeps its name.
#[test]
fn a_free_functions_title_carries_its_module_path_and_a_methods_its_type() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let put = |rel: &str, text: &str| {
        let p = project.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put(
        "wombat-json/src/de.rs",
        "/// Parses a wombat from text.\npub fn from_text(s: &str) -> usize {\n    s.len()\n}\n\n\
         pub struct Reader;\n\nimpl Reader {\n    /// Parses a wombat with this reader.\n    \
         pub fn from_text(&self, s: &str) -> usize {\n        s.len()\n    }\n}\n",
    );
    // The project's own crate is named by its manifest (`serde_json::de::from_str`, as the
    // README shows), not `crate::`.
    put(
        "Cargo.toml",
        "[package]\nname = \"koala-core\"\nversion = \"0.1.0\"\n",
    );
    put(
        "src/de.rs",
        "/// Parses a koala wombat from text.\npub fn from_text_koala(s: &str) -> usize {\n    s.len()\n}\n",
    );
    put(
        "wombat-json/tests/de.rs",
        "#[test]\nfn from_text_works() {\n    assert_eq!(wombat_json::de::from_text(\"ab\"), 2);\n}\n",
    );
    let d = Daemon::start_in(dir, home, project, &[]);
    let resp = scry(
        &d,
        &serde_json::json!({"query": "from_text wombat koala", "limit": 10}),
    );
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    let titles: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["title"].as_str())
        .collect();
    for want in [
        "wombat_json::de::from_text",
        "koala_core::de::from_text_koala",
        "Reader::from_text",
        "from_text_works",
    ] {
        assert!(titles.contains(&want), "{want} not in {titles:?}");
    }
}

/// The process ids whose parent is `ppid` and whose command line holds `word`, with their
/// state (`/proc/PID/stat`'s third field: `Z` for a zombie nobody reaped yet).
fn children_running(ppid: u32, word: &str) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: comm may hold spaces, so split after its last `)`.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let parent: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if parent == ppid && String::from_utf8_lossy(&cmdline).contains(word) {
            out.push((pid, state));
        }
    }
    out
}

/// Whether process `pid` has ended (gone, or a zombie: killed, not yet reaped by the init
/// process it was handed to).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|s| s == "Z" || s == "X"),
    }
}

/// `patina serve` killed (SIGKILL) during its first scrape: the child `patina scrape --json`
/// ends with it (`PR_SET_PDEATHSIG`) instead of scraping on to its end with nobody to serve
/// what it builds; it committed nothing (the scrape is one transaction), and a later scrape
/// and daemon work on the same project. The project is large enough that its scrape (a
/// debug build parsing thousands of Rust files) runs well past the bound below: a child
/// that did not end with serve would either still run at the bound or have committed.
#[test]
fn a_daemon_killed_during_its_first_scrape_takes_the_scrape_child_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let body: String = (0..60)
        .map(|i| format!("    /// Step {i} of the walk.\n    pub fn step_{i}(&self) -> u32 {{ self.a + {i} }}\n"))
        .collect();
    for i in 0..3000 {
        let p = project.join(format!("gen/m{:02}/f{i:04}.rs", i % 50));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            p,
            format!("/// Walker {i}.\npub struct W{i} {{ a: u32 }}\n\nimpl W{i} {{\n{body}}}\n"),
        )
        .unwrap();
    }
    let mut serve = Reaper(
        patina(&home)
            .arg("serve")
            .arg("--project")
            .arg(&project)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let serve_pid = serve.0.id();
    // Wait for the child scrape to start.
    let started = std::time::Instant::now();
    let scrape_pid = loop {
        if let Some(&(pid, _)) = children_running(serve_pid, "scrape").first() {
            break pid;
        }
        assert!(
            serve.0.try_wait().unwrap().is_none(),
            "serve exited before its child scrape was seen"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no child scrape within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    signal(serve_pid, "KILL");
    wait_timeout(&mut serve.0, Duration::from_secs(15)).expect("serve died");
    let killed = std::time::Instant::now();
    while !ended(scrape_pid) {
        if killed.elapsed() > Duration::from_secs(10) {
            signal(scrape_pid, "KILL");
            panic!("the child scrape {scrape_pid} still ran 10 s after its daemon was killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // It ended without committing: no schema in the index yet (or no index at all).
    let db = project.join(".patina/index.db");
    if db.exists() {
        let version: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 0, "the killed child's scrape committed");
    }
    // A later scrape indexes the project whole, and a daemon serves it.
    let out = run_timeout(
        patina(&home).arg("scrape").arg(&project),
        Duration::from_secs(600),
    );
    assert!(out.status.success(), "{out:?}");
    let d = Daemon::start_in(dir, home, project, &[]);
    let r = scry(&d, &serde_json::json!({"query": "W2999"}));
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        r.json()["results"][0]["path"],
        "gen/m49/f2999.rs",
        "{:?}",
        r.json()
    );
}

/// The longest run of letters and digits, or of anything else, in `text`, in characters
/// (the runs `scry::redact::bound_runs` cuts).
fn longest_run(text: &str) -> usize {
    let (mut best, mut len, mut class) = (0, 0, None);
    for c in text.chars() {
        let word = c.is_alphanumeric();
        if class == Some(word) {
            len += 1;
        } else {
            (class, len) = (Some(word), 1);
        }
        best = best.max(len);
    }
    best
}

/// QA session 11, F: a snippet had no bound when the text between two words (or one word)
/// was long: 900 KB of `{` after a word came back as one 900 KB snippet, from the daemon, the
/// CLI, mother and MCP alike. Every path now cuts each run to its ends, after redaction.
#[test]
fn a_run_of_punctuation_or_one_endless_word_is_cut_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    let braces = "{ ".repeat(50_000);
    let blob = "Q9".repeat(10_000);
    std::fs::write(
        project.join("layer/core/endless.md"),
        format!(
            "---\ntype: {blob}\n---\n# numbat {blob}\n\nthe numbat says {braces} numbat\n\nnumbat {blob} end\n"
        ),
    )
    .unwrap();
    // Short runs without end: a heading and a front matter title (QA session 12, F3).
    let short_runs = "ab ".repeat(20_000);
    std::fs::write(
        project.join("layer/core/shortruns.md"),
        format!(
            "---\ntitle: numbat {short_runs}\n---\n# numbat {short_runs}\n\nnumbat {short_runs}\n"
        ),
    )
    .unwrap();
    let home = dir.path().join("home");
    let bounded = |what: &str, body: &[u8]| {
        let text = String::from_utf8_lossy(body);
        assert!(
            text.contains("numbat"),
            "{what}: the note is found: {}",
            &text[..text.len().min(400)]
        );
        assert!(body.len() < 40_000, "{what}: {} bytes", body.len());
        let v: Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| panic!("{what}: not JSON: {}", &text[..text.len().min(400)]));
        let mut fields = 0;
        let mut each = |v: &Value| {
            for f in ["snippet", "title", "kind"] {
                if let Some(s) = v[f].as_str() {
                    fields += 1;
                    assert!(
                        longest_run(s) <= 96,
                        "{what}: {f} holds a run of {}",
                        longest_run(s)
                    );
                    let most = if f == "snippet" { 2_000 } else { 200 };
                    let n = s.chars().count();
                    assert!(n <= most, "{what}: {f} of {n} characters");
                }
            }
        };
        match v["results"].as_array() {
            Some(rs) => rs.iter().for_each(&mut each),
            None => each(&v),
        }
        assert!(
            fields > 0,
            "{what}: no hit fields in {}",
            &text[..text.len().min(400)]
        );
    };
    let d = Daemon::start_in(dir, home.clone(), project.clone(), &[]);
    let r = scry(&d, &serde_json::json!({"query": "numbat", "limit": 20}));
    assert_eq!(r.status, 200);
    bounded("/api/scry", &r.body);
    let out = run_timeout(
        patina(&home).args(["mother", "add", project.to_str().unwrap(), "--no-scrape"]),
        Duration::from_secs(30),
    );
    assert_success(&out);
    let r = d.post("/mother/scry", r#"{"query":"numbat","limit":20}"#);
    assert_eq!(r.status, 200);
    bounded("/mother/scry", &r.body);
    let r = d.post("/mother/shard", r#"{"query":"numbat","limit":20}"#);
    assert_eq!(r.status, 200);
    let shard = r.json();
    for h in shard["hits"].as_array().expect("a shard has hits") {
        bounded("/mother/shard", h.to_string().as_bytes());
    }
    // The CLI with the daemon, then without it, and `mother scry` without it.
    let cli = |args: &[&str]| {
        let out = run_timeout(patina(&home).args(args), Duration::from_secs(60));
        assert_success(&out);
        out.stdout
    };
    let project_arg = project.to_str().unwrap();
    bounded(
        "scry via the daemon",
        &cli(&["scry", "--json", "--project", project_arg, "numbat"]),
    );
    let mut d = d;
    assert!(d.terminate().success());
    bounded(
        "scry without a daemon",
        &cli(&["scry", "--json", "--project", project_arg, "numbat"]),
    );
    bounded(
        "mother scry without a daemon",
        &cli(&["mother", "scry", "--json", "numbat"]),
    );
    // The MCP server without a daemon.
    let text = mcp_scry(&home, &project, "numbat");
    let line = text
        .lines()
        .find(|l| l.contains("\"id\":2"))
        .unwrap_or_else(|| panic!("no answer: {}", &text[..text.len().min(400)]));
    assert!(line.len() < 64_000, "MCP answer of {} bytes", line.len());
    assert!(line.contains("numbat"), "{line}");
    assert!(
        !line.contains(&"{ ".repeat(60)) && !line.contains(&"Q9".repeat(60)),
        "{line}"
    );
}

/// `patina scry` run in a subdirectory of a project searches the project, as git finds its
/// repository: it had said "no patina index" there, or told the user to scrape the
/// subdirectory into a second index (QA session 12, F4). A directory with no index above it
/// still gets the advice to scrape, and no index is made anywhere.
#[test]
fn cli_scry_from_a_subdirectory_searches_the_enclosing_project() {
    let mut d = Daemon::start();
    let sub = d.project.join("layer/surface/specs");
    assert!(sub.is_dir());
    let run = |home: &std::path::Path, dir: &std::path::Path| {
        run_timeout(
            patina(home)
                .current_dir(dir)
                .args(["scry", "--json", "--limit", "3", "quokka"]),
            Duration::from_secs(30),
        )
    };
    for daemon in [true, false] {
        if !daemon {
            assert!(d.terminate().success());
        }
        let out = run(&d.home, &sub);
        let v: Value = serde_json::from_str(&assert_success(&out)).unwrap();
        let paths: Vec<&str> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap())
            .collect();
        assert!(
            paths.contains(&"layer/surface/specs/spec-quokka.md"),
            "daemon {daemon}: {v}"
        );
    }
    assert!(!sub.join(".patina").exists(), "no second index");
    // Outside any project: the advice to scrape, for the directory itself.
    let lone = tempfile::tempdir().unwrap();
    let out = run(&d.home, lone.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("patina scrape"), "{err}");
    assert!(!lone.path().join(".patina").exists());
}

/// The parent search takes only an index of the caller's own (QA session 12, N2): a parent's
/// `.patina` writable by others, owned by another user, or a symbolic link is passed over
/// (its notes would be shown to the agent as the project's), and with `HOME` unset no parent
/// is searched (N4). The search then says to scrape, as in a directory with no index.
#[test]
fn the_parent_search_passes_over_an_index_that_is_not_the_callers_own() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let parent = t.path().join("shared");
    std::fs::create_dir_all(parent.join("victim/src")).unwrap();
    std::fs::write(parent.join("planted.md"), "# Planted\n\nzqhostile words\n").unwrap();
    let out = run_timeout(
        patina(&home).args(["scrape"]).arg(&parent),
        Duration::from_secs(60),
    );
    assert_success(&out);
    let state = parent.join(".patina");
    let below = parent.join("victim/src");
    let search = |env_home: bool| {
        let mut c = patina(&home);
        c.current_dir(&below).args(["scry", "--json", "zqhostile"]);
        if env_home {
            c.env("HOME", &home);
        } else {
            c.env_remove("HOME");
        }
        run_timeout(&mut c, Duration::from_secs(30))
    };
    let found =
        |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).contains("planted.md");
    // Our own, private: found (the control).
    assert!(
        found(&search(true)),
        "{}",
        String::from_utf8_lossy(&search(true).stderr)
    );
    // HOME unset: no parent is searched.
    let o = search(false);
    assert!(!found(&o) && o.status.code() == Some(1), "HOME unset");
    // Writable by others.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = search(true);
    assert!(!found(&o) && o.status.code() == Some(1), "0777 .patina");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Another owner (root may give it away; the test runs as root in CI).
    let chown = |uid: u32| {
        std::process::Command::new("chown")
            .arg(uid.to_string())
            .arg(&state)
            .status()
            .unwrap()
            .success()
    };
    if chown(65534) {
        let o = search(true);
        assert!(!found(&o) && o.status.code() == Some(1), "foreign .patina");
        let me = std::fs::metadata(&home)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap();
        assert!(chown(me));
    } else {
        assert_ne!(
            test_euid(),
            0,
            "root could not chown: the foreign-owner case was not run"
        );
    }
    assert!(found(&search(true)), "our own again");
    // A symbolic link to our own index, in another parent.
    let linked = t.path().join("linked");
    std::fs::create_dir_all(linked.join("sub")).unwrap();
    std::os::unix::fs::symlink(&state, linked.join(".patina")).unwrap();
    let o = run_timeout(
        patina(&home)
            .current_dir(linked.join("sub"))
            .env("HOME", &home)
            .args(["scry", "--json", "zqhostile"]),
        Duration::from_secs(30),
    );
    assert!(
        !found(&o) && o.status.code() == Some(1),
        "symlinked .patina"
    );
}

/// This process's effective uid, read from `/proc/self/status`.
fn test_euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap()
}

/// A random token is not indexed in its camelCase pieces when one of them is a single letter
/// (QA session 12, N1): `abcdEFgHijKL12mN` had been indexed as `abcd E Fg Hij KL 12 m N`, so
/// a search for a prefix cut at a case change (`abcdE`, `abcdEFg`) found its row, and the
/// right next letters ranked it higher than wrong ones: the value read out piece by piece.
/// Here no prefix of the value, cut anywhere, finds its row, and a right guess scores as a
/// wrong one (neither finds it).
#[test]
fn a_prefix_of_a_random_token_cut_at_a_case_change_finds_nothing() {
    use patina::scry::symbols::split_camel;
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    write_fixture_project(&project);
    // A value made at run time, mixed case with a one-letter part.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    let value = loop {
        let v: String = (0..16)
            .map(|_| alphabet[next(alphabet.len() as u64) as usize])
            .collect();
        let parts = split_camel(&v);
        let one = parts
            .iter()
            .any(|p| p.chars().count() == 1 && p.chars().all(char::is_alphabetic));
        if v.chars().next().unwrap().is_ascii_lowercase() && parts.len() >= 4 && one {
            break v;
        }
    };
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("src/deploy.rs"),
        format!("/// The staging key.\npub const STAGING_KEY: &str = \"{value}\";\n"),
    )
    .unwrap();
    let home = dir.path().join("home");
    let d = Daemon::start_in(dir, home, project, &[]);
    let finds = |q: &str| -> bool {
        let r = scry(&d, &serde_json::json!({"query": q, "limit": 50}));
        assert_eq!(r.status, 200, "a query");
        r.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["path"] == "src/deploy.rs")
    };
    assert!(finds("staging key"), "the row is indexed");
    assert!(finds(&value), "the whole value finds it");
    let chars: Vec<char> = value.chars().collect();
    for k in 2..chars.len() {
        let prefix: String = chars[..k].iter().collect();
        assert!(!finds(&prefix), "a prefix of {k} characters finds the row");
    }
}
