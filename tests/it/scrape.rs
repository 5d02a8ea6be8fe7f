//! `patina scrape`: the real binary on fixture projects built in temp dirs. What it indexes,
//! what it skips, where it keeps the index, how it updates it, and that a killed scrape
//! leaves the previous index whole.

use patina::scry::{self, Hit, ScrapeSummary};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    fs::write(p, content).expect("write fixture");
}

fn patina(home: &Path) -> Command {
    let mut c = crate::common::patina(home);
    c.stdin(Stdio::null());
    c
}

fn run(args: &[&str], dir: &Path) -> Output {
    let home = tempfile::tempdir().expect("home");
    patina(home.path())
        .args(args)
        .arg(dir)
        .output()
        .expect("run patina")
}

/// Runs `patina scrape DIR --json` and parses the summary.
fn scrape(dir: &Path) -> ScrapeSummary {
    let out = run(&["scrape", "--json"], dir);
    assert!(
        out.status.success(),
        "scrape failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("summary JSON")
}

fn search(root: &Path, q: &str) -> Vec<Hit> {
    scry::search_project(root, q, 100, None)
        .expect("search")
        .results
}

fn paths(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.path.as_str()).collect()
}

/// A project with layer/ notes of every kind, a README, code, a binary and ignored files.
fn fixture() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    fs::create_dir(r.join(".git")).expect("mkdir .git");
    write(r, ".git/config", "ignoredword\n");
    write(r, ".gitignore", "target/\n*.log\n");
    write(
        r,
        "layer/core/principles.md",
        "---\nid: principles\ntags: [design, rules]\nstatus: active\n---\n\n# Principles of Quill\n\n\
         Quill keeps its tools small.\n\n## Small tools\nEach tool does one thing well.\n\n\
         ## Errors\nEvery error names the file and the fix.\n",
    );
    write(
        r,
        "layer/surface/design.md",
        "---\ntype: spec\nid: heron-spec\nconfidence:\n  score: 0.9\n---\n# Heron parser\n\
         The parser reads tokens.\n\n## Implementation\nA hand-written loop over bytes.\n",
    );
    write(
        r,
        "layer/surface/beliefs/small-commits.md",
        "---\ntype: belief\nid: small-commits\n---\nNo heading here, only a belief about commits.\n",
    );
    write(
        r,
        "layer/sessions/20250101-093000.md",
        "# Session: wiring the lantern\n**ID**: 20250101-093000\n**Started**: 2025-01-01T09:30:00Z\n\n\
         ## Goals\n- [ ] light the lantern\n",
    );
    write(r, "README.md", "# Quill\nA toolbox.\n");
    let code: String = (1..=50)
        .map(|i| format!("// line {i} of the quill binary\n"))
        .collect();
    write(r, "src/main.rs", code);
    write(r, "src/logo.bin", b"\x89PNG\r\n\x1a\n\0\0\0IHDR");
    write(r, "debug.log", "ignoredword\n");
    write(r, "target/out.txt", "ignoredword\n");
    t
}

#[test]
fn scrape_indexes_notes_and_code_and_skips_binary_and_ignored_files() {
    let t = fixture();
    let s = scrape(t.path());
    // .gitignore, README.md, 4 layer notes, main.rs, logo.bin; not .git/, target/, *.log.
    assert_eq!(s.files, 8, "{s:?}");
    assert_eq!(s.changed, 7, "{s:?}");
    assert_eq!((s.skipped, s.skipped_binary), (1, 1), "{s:?}");
    assert_eq!((s.unchanged, s.removed, s.skipped_huge), (0, 0, 0), "{s:?}");
    // principles 3, design 2, belief 1, session 2, README 1, main.rs 2 windows, .gitignore 1.
    assert_eq!(s.sections, 12, "{s:?}");
    assert!(s.bytes > 0 && s.seconds >= 0.0);

    let root = t.path();
    assert!(
        search(root, "ignoredword").is_empty(),
        "ignored files and .git are not indexed"
    );
    let kind_of = |q: &str, path: &str| -> (String, String) {
        let hits = search(root, q);
        let h = hits
            .iter()
            .find(|h| h.path == path)
            .unwrap_or_else(|| panic!("{q:?} should find {path}: {:?}", paths(&hits)));
        (h.kind.clone(), h.title.clone())
    };
    assert_eq!(
        kind_of("quill", "layer/core/principles.md"),
        ("core".into(), "Principles of Quill".into())
    );
    assert_eq!(
        kind_of("heron", "layer/surface/design.md"),
        ("spec".into(), "Heron parser".into())
    );
    assert_eq!(
        kind_of("belief", "layer/surface/beliefs/small-commits.md"),
        ("belief".into(), "small-commits".into())
    );
    assert_eq!(
        kind_of("lantern", "layer/sessions/20250101-093000.md"),
        ("session".into(), "Session: wiring the lantern".into())
    );
    assert_eq!(
        kind_of("toolbox", "README.md"),
        ("doc".into(), "Quill".into())
    );
    // Lines of no symbol in the crate's root: titled with its module path, the crate (no
    // Cargo.toml names it here).
    assert_eq!(
        kind_of("binary", "src/main.rs"),
        ("code".into(), "crate".into())
    );
    let windows: Vec<u64> = search(root, "binary")
        .iter()
        .filter(|h| h.path == "src/main.rs")
        .map(|h| h.line)
        .collect();
    let mut sorted = windows.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 41], "40-line windows");
}

/// QA (session 7): a `.env` not named in `.gitignore` was indexed, so its text sat in plain in
/// `index.db` and scry served it whenever no session redacted (a locked daemon, a value not in
/// the vault). Credential files are never read, whatever the ignore files say, and each is
/// named as skipped; a committed template (`.env.example`) is still indexed.
#[test]
fn credential_files_are_never_indexed_and_are_named_as_skipped() {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    write(r, "layer/core/a.md", "# A\n\nThe wombat note.\n");
    write(r, ".env", "WOMBAT_TOKEN=wombatsecretvalue\n");
    write(r, "deploy/prod.env", "WOMBAT_DB=wombatdbvalue\n");
    write(r, ".env.example", "WOMBAT_TOKEN=wombatplaceholder\n");
    write(r, "keys/server.pem", "wombatpemtext\n");
    write(r, "keys/id_ed25519", "wombatkeytext\n");
    // Session 8's QA: direnv, an editor's copy, tools' own config files.
    write(r, ".envrc", "export WOMBAT_RC=wombatrcvalue\n");
    write(r, ".env~", "WOMBAT_TOKEN=wombatbackupvalue\n");
    write(
        r,
        "ci/.docker/config.json",
        "{\"auths\": \"wombatdockervalue\"}\n",
    );
    write(r, "config/secrets.yaml", "db: wombatyamlvalue\n");
    // Session 9's QA: more tools' names, histories, a file manager's copy.
    let more = [
        ".cargo/credentials.toml",
        "home/.config/gh/hosts.yml",
        ".bash_history",
        "db/.psql_history",
        ".python_history",
        "infra/terraform.tfvars.json",
        "kubeconfig.yaml",
        "client_secret_123-abc.apps.googleusercontent.com.json",
        "service_account.json",
        "gcloud/application_default_credentials.json",
        ".azure/accessTokens.json",
        "keys/private.asc",
        ".terraformrc",
        ".config/rclone/rclone.conf",
        ".m2/settings.xml",
        ".gradle/gradle.properties",
        ".yarnrc.yml",
        ".composer/auth.json",
        ".config/pip/pip.conf",
        "token.json",
        "ngrok.yml",
        ".sentryclirc",
        ".env (copy)",
    ];
    for (i, p) in more.iter().enumerate() {
        write(r, p, format!("wombatmore{i}x\n"));
    }
    let s = scrape(r);
    for (i, p) in more.iter().enumerate() {
        assert!(
            s.skipped_files
                .iter()
                .any(|k| k.path == *p && k.reason.contains("credential")),
            "{p} is not named as a credential file: {:?}",
            s.skipped_files
        );
        assert!(
            search(r, &format!("wombatmore{i}x")).is_empty(),
            "{p} is indexed"
        );
    }
    for p in [
        ".env",
        "deploy/prod.env",
        "keys/server.pem",
        "keys/id_ed25519",
        ".envrc",
        ".env~",
        "ci/.docker/config.json",
        "config/secrets.yaml",
    ] {
        let k = s
            .skipped_files
            .iter()
            .find(|k| k.path == p)
            .unwrap_or_else(|| panic!("{p} is not named: {:?}", s.skipped_files));
        assert!(k.reason.contains("credential"), "{p}: {}", k.reason);
    }
    for q in [
        "wombatsecretvalue",
        "wombatdbvalue",
        "wombatpemtext",
        "wombatkeytext",
        "wombatrcvalue",
        "wombatbackupvalue",
        "wombatdockervalue",
        "wombatyamlvalue",
    ] {
        assert!(search(r, q).is_empty(), "{q} is indexed");
    }
    assert_eq!(paths(&search(r, "wombatplaceholder")), [".env.example"]);
    assert_eq!(
        paths(&search(r, "wombat")).len(),
        2,
        "the note and the template"
    );
    let index = fs::read(r.join(".patina/index.db")).expect("index");
    assert!(
        !index.windows(17).any(|w| w == b"wombatsecretvalue"),
        "the value is nowhere in the index file"
    );
}

#[test]
fn state_dir_is_private_and_git_ignored() {
    let t = fixture();
    scrape(t.path());
    scrape(t.path());
    let state = t.path().join(".patina");
    let mode = fs::metadata(&state)
        .expect("state dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    // The index and SQLite's files beside it are owner-only, whatever the umask.
    for name in ["index.db", "index.db-wal", "index.db-shm"] {
        if let Ok(md) = fs::metadata(state.join(name)) {
            assert_eq!(md.permissions().mode() & 0o777, 0o600, "{name}");
        }
    }
    assert!(state.join("index.db").exists());
    assert_eq!(
        fs::read_to_string(state.join(".gitignore")).expect("inner"),
        "# patina: the index is local; a shared project vault may be committed.\n*\n!vault.age\n!recipients.txt\n!secrets.toml\n"
    );
    // The project's own `.gitignore` is the user's file: never written (QA, session 8).
    let outer = fs::read_to_string(t.path().join(".gitignore")).expect("outer");
    assert_eq!(outer, "target/\n*.log\n");

    // Not a git repository: no .gitignore is created in the project.
    let bare = tempfile::tempdir().expect("tempdir");
    write(bare.path(), "note.md", "# Note\n");
    scrape(bare.path());
    assert!(!bare.path().join(".gitignore").exists());
    assert!(bare.path().join(".patina/.gitignore").exists());
}

/// A scrape of a git checkout leaves `git status` as it was: nothing under `.patina/` is
/// listed and no tracked file is modified (the project's `.gitignore` included); a shared
/// project vault put in `.patina/` later is listed, so it can be committed, while the index
/// stays ignored.
#[test]
fn a_shared_project_vault_can_be_committed_while_the_index_is_ignored() {
    let t = tempfile::tempdir().expect("tempdir");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(t.path())
            .output()
            .expect("git runs")
    };
    git(&["init", "-q"]);
    write(t.path(), "layer/core/a.md", "# A\n\ntext\n");
    write(t.path(), ".gitignore", "*.tmp");
    git(&["add", "-A"]);
    let commit = git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-qm",
        "init",
    ]);
    assert!(commit.status.success(), "{commit:?}");
    let status = || {
        let out = git(&["status", "--porcelain", "--untracked-files=all"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    scrape(t.path());
    scrape(t.path());
    assert_eq!(status(), "", "a scrape changes nothing git sees");
    assert_eq!(
        fs::read_to_string(t.path().join(".gitignore")).expect("gitignore"),
        "*.tmp"
    );
    write(t.path(), ".patina/vault.age", "ciphertext");
    write(t.path(), ".patina/recipients.txt", "age1example\n");
    let listed = status();
    assert!(listed.contains(".patina/vault.age"), "{listed}");
    assert!(listed.contains(".patina/recipients.txt"), "{listed}");
    assert!(
        !listed.contains("index.db"),
        "the index stays ignored: {listed}"
    );
}

#[test]
fn rescrape_skips_unchanged_files() {
    let t = fixture();
    let first = scrape(t.path());
    let second = scrape(t.path());
    assert_eq!(second.changed, 0, "{second:?}");
    assert_eq!(second.unchanged, first.changed, "{second:?}");
    assert_eq!(second.skipped_binary, 1, "{second:?}");
    assert_eq!(
        (second.files, second.sections),
        (first.files, first.sections)
    );
    assert_eq!(second.removed, 0);
}

#[test]
fn editing_one_file_reindexes_only_it() {
    let t = fixture();
    scrape(t.path());
    let design = t.path().join("layer/surface/design.md");
    let mut text = fs::read_to_string(&design).expect("read");
    text.push_str("\n## Zeppelin mode\nAn airship option.\n");
    fs::write(&design, text).expect("write");
    let s = scrape(t.path());
    assert_eq!((s.changed, s.unchanged, s.removed), (1, 6, 0), "{s:?}");
    assert_eq!(s.sections, 13);
    let hits = search(t.path(), "zeppelin");
    assert_eq!(paths(&hits), vec!["layer/surface/design.md"]);
    assert_eq!(hits[0].line, 13, "the new heading's line");
}

#[test]
fn deleting_a_file_removes_its_hits() {
    let t = fixture();
    scrape(t.path());
    assert!(!search(t.path(), "lantern").is_empty());
    fs::remove_file(t.path().join("layer/sessions/20250101-093000.md")).expect("rm");
    let s = scrape(t.path());
    assert_eq!((s.removed, s.changed, s.files), (1, 0, 7), "{s:?}");
    assert_eq!(s.sections, 10);
    assert!(search(t.path(), "lantern").is_empty());
    // Newly ignored counts as gone too.
    write(t.path(), ".ignore", "README.md\n");
    let s = scrape(t.path());
    assert_eq!(s.removed, 1, "{s:?}");
    assert!(search(t.path(), "toolbox").is_empty());
}

#[test]
fn bare_folder_of_notes_without_layer_works() {
    let t = tempfile::tempdir().expect("tempdir");
    write(t.path(), "core/ideas.md", "# Ideas\nA marmalade idea.\n");
    write(
        t.path(),
        "sessions/monday.md",
        "# Monday\nMarmalade again.\n",
    );
    write(t.path(), "loose.md", "Just marmalade, no heading.\n");
    let s = scrape(t.path());
    assert_eq!((s.files, s.changed, s.sections), (3, 3, 3), "{s:?}");
    let mut got: Vec<(String, String, String)> = search(t.path(), "marmalade")
        .into_iter()
        .map(|h| (h.path, h.kind, h.title))
        .collect();
    got.sort();
    let want = [
        ("core/ideas.md", "core", "Ideas"),
        ("loose.md", "doc", "loose"),
        ("sessions/monday.md", "session", "Monday"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn summary_is_one_line_on_stdout_and_no_progress_without_a_terminal() {
    let t = fixture();
    let out = run(&["scrape"], t.path());
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    for word in [
        "8 files",
        "7 changed",
        "1 skipped",
        "0 removed",
        "12 sections",
        "bytes read",
    ] {
        assert!(stdout.contains(word), "{word:?} missing from {stdout}");
    }
    // No progress line: stderr holds only the names of skipped files (case 029).
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().all(|l| l.starts_with("patina: skipped ")),
        "{err}"
    );
}

#[test]
fn errors_are_one_line_naming_the_path() {
    let t = tempfile::tempdir().expect("tempdir");
    let check = |dir: &Path, needle: &str| {
        let out = run(&["scrape"], dir);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{needle:?} not in {err}");
        assert!(out.stdout.is_empty());
    };
    let missing = t.path().join("no-such-dir");
    check(&missing, &missing.display().to_string());

    let file = t.path().join("a-file");
    write(t.path(), "a-file", "x");
    check(&file, "is not a directory");

    let proj = t.path().join("proj");
    write(&proj, "note.md", "# N\n");
    fs::create_dir(proj.join(".patina")).expect("mkdir");
    fs::set_permissions(proj.join(".patina"), fs::Permissions::from_mode(0o700)).expect("chmod");
    write(&proj, ".patina/index.db", vec![b'x'; 8192]);
    let index = proj.join(".patina/index.db").display().to_string();
    check(&proj, &index);
    // The broken file was left alone: it is the user's to remove.
    assert_eq!(
        fs::read(proj.join(".patina/index.db")).expect("read"),
        vec![b'x'; 8192]
    );

    // QA session 9, L10: `index.db` as a symlink (a cloned repository can ship one) is
    // refused, naming it; neither a dangling link's target is created (SQLite would make it
    // with the default mode, outside the private directory) nor another database written.
    let linked = t.path().join("linked");
    write(&linked, "note.md", "# N\nwindmill\n");
    fs::create_dir(linked.join(".patina")).expect("mkdir");
    fs::set_permissions(linked.join(".patina"), fs::Permissions::from_mode(0o700)).expect("chmod");
    let target = t.path().join("outside.db");
    std::os::unix::fs::symlink(&target, linked.join(".patina/index.db")).expect("symlink");
    check(&linked, "is a symbolic link");
    assert!(!target.exists(), "the dangling link's target was created");
    let other = t.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).expect("other db");
        c.execute_batch("CREATE TABLE mine (x); INSERT INTO mine VALUES (1);")
            .expect("create");
    }
    let before = fs::read(&other).expect("read");
    fs::remove_file(linked.join(".patina/index.db")).expect("rm link");
    std::os::unix::fs::symlink(&other, linked.join(".patina/index.db")).expect("symlink");
    check(&linked, "is a symbolic link");
    assert_eq!(
        fs::read(&other).expect("read"),
        before,
        "another database was written"
    );
}

#[test]
fn hostile_files_do_not_break_the_scrape() {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    write(
        r,
        "crlf.md",
        "---\r\nid: c\r\n---\r\n# CRLF title\r\n\r\n## Second\r\nwindmill\r\n",
    );
    write(
        r,
        "open-front-matter.md",
        "---\nid: never closed\n# Heading\nwindmill\n",
    );
    write(r, "empty.md", "");
    write(r, "empty.txt", "");
    write(r, "latin1.txt", b"caf\xe9 windmill\n");
    write(
        r,
        "long-line.txt",
        format!("{} windmill\n", "x".repeat(500_000)),
    );
    write(r, "huge.txt", "windmill\n".repeat(130_000));
    use std::os::unix::ffi::OsStrExt;
    let bad_name = std::ffi::OsStr::from_bytes(b"bad-\xff-name.txt");
    fs::write(r.join(bad_name), "windmill\n").expect("write bad name");
    std::os::unix::fs::symlink(r, r.join("loop")).expect("symlink loop");
    std::os::unix::fs::symlink(r.join("nowhere"), r.join("dangling")).expect("dangling");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        r.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");

    let s = scrape(r);
    assert_eq!(s.files, 8, "{s:?}");
    // Stray Latin-1 bytes and a name that is not UTF-8 no longer skip a file (case 029).
    assert_eq!(s.changed, 7, "{s:?}");
    assert_eq!(
        (s.skipped_binary, s.skipped_huge, s.skipped_unreadable),
        (0, 1, 0),
        "{s:?}"
    );
    let mut hits: Vec<(String, u64)> = search(r, "windmill")
        .into_iter()
        .map(|h| (h.path, h.line))
        .collect();
    hits.sort();
    assert_eq!(
        hits,
        vec![
            ("bad-\\xff-name.txt".to_string(), 1),
            ("crlf.md".to_string(), 6),
            ("latin1.txt".to_string(), 1),
            ("long-line.txt".to_string(), 1),
            ("open-front-matter.md".to_string(), 3),
        ]
    );
    assert!(fs::metadata(r.join("huge.txt")).expect("md").len() > scry::MAX_FILE_BYTES);
    // And again, unchanged.
    let again = scrape(r);
    assert_eq!((again.changed, again.unchanged), (0, 7), "{again:?}");
}

/// Project with one note already indexed, then 3000 generated files scraped by a process that
/// is SIGKILLed mid-run: the previous index must open and answer as before.
#[test]
fn kill_9_mid_scrape_leaves_the_previous_index_whole() {
    const N: usize = 3000;
    let mut delay = Duration::from_millis(150);
    let mut caught = false;
    let mut tries = Vec::new();
    for _attempt in 0..40 {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path();
        write(
            root,
            "layer/core/old.md",
            "# Old note\n\n## Orchids\nThe orchid survives.\n",
        );
        scrape(root);
        let body: String = (0..30)
            .map(|i| format!("generated filler line {i} about nothing in particular\n"))
            .collect();
        for i in 0..N {
            write(root, &format!("gen/f{i:04}.txt"), format!("zq{i}x\n{body}"));
        }
        let home = tempfile::tempdir().expect("home");
        let mut child = patina(home.path())
            .arg("scrape")
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        if child.try_wait().expect("try_wait").is_some() {
            tries.push(format!("{delay:?}: finished"));
            delay /= 2;
            continue;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
        let wal = root.join(".patina/index.db-wal");
        let wal_len = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let first = search(root, &format!("zq{}x", 0));
        let last = search(root, &format!("zq{}x", N - 1));
        match (first.is_empty(), last.is_empty()) {
            (false, false) => {
                // Killed after its commit: too late to prove anything; try earlier.
                tries.push(format!("{delay:?}: committed"));
                delay = delay * 2 / 3;
                continue;
            }
            (false, true) | (true, false) => panic!("a partial scrape is visible after kill -9"),
            (true, true) => {}
        }
        if wal_len == 0 {
            // Killed before the transaction wrote anything: not mid-run yet.
            tries.push(format!("{delay:?}: too early"));
            delay = delay * 3 / 2;
            continue;
        }
        // Mid-run: the previous index is whole.
        let old = search(root, "orchid");
        assert_eq!(paths(&old), vec!["layer/core/old.md"]);
        assert_eq!(old[0].line, 3);
        assert_eq!(old[0].title, "Old note");
        // And the next scrape finishes the job.
        let s = scrape(root);
        assert_eq!(s.changed as usize, N, "{s:?}");
        assert_eq!(s.unchanged, 1, "{s:?}");
        assert_eq!(
            paths(&search(root, &format!("zq{}x", N - 1))),
            vec![format!("gen/f{:04}.txt", N - 1)]
        );
        eprintln!("caught after {tries:?} at {delay:?}, wal {wal_len} bytes");
        caught = true;
        break;
    }
    assert!(caught, "never caught a scrape mid-run: {tries:?}");
}

/// Case 029: a hostile tree. Links are not followed (no loop, nothing from outside the
/// project), a FIFO is never opened, large and binary files are skipped, every skipped
/// entry is named with its reason, and text with stray Latin-1 / Windows-1252 bytes, names
/// that are not UTF-8 and a BOM are indexed.
#[test]
fn a_hostile_tree_is_scraped_quickly_and_every_skip_is_named_case_029() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "layer/core/plain.md", "# Plain\n\nthe numbat protocol\n");
    symlink(".", r.join("layer/core/loop")).unwrap();
    symlink("cyc-b", r.join("layer/core/cyc-a")).unwrap();
    symlink("cyc-a", r.join("layer/core/cyc-b")).unwrap();
    symlink("/nonexistent/x.md", r.join("layer/core/dangling.md")).unwrap();
    symlink("/etc/passwd", r.join("layer/core/passwd.md")).unwrap();
    write(r, "layer/core/big.md", vec![b'a'; 3 << 20]);
    write(r, "layer/core/blob.md", b"# x\n\0\x01\x02 numbatblob\n");
    write(
        r,
        "layer/core/latin1.md",
        b"# Latin\n\ncaf\xe9 cr\xe8me numbatlatin\n",
    );
    write(
        r,
        "layer/core/cp1252.md",
        b"# Word\n\npasted \x93quotes\x94 numbatcp\n",
    );
    write(
        r,
        "layer/core/bom.md",
        b"\xef\xbb\xbf# BOM\n\nnumbatbom\r\n",
    );
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9-note.md");
    fs::write(r.join("layer/core").join(odd), "# Odd name\n\nnumbatname\n").unwrap();
    // A name spelled like another's escape (QA session 11: one file to the index before).
    fs::write(
        r.join("layer/core/caf\\xe9-note.md"),
        "# Spelled\n\nnumbatspelled\n",
    )
    .unwrap();
    let fifo = r.join("layer/core/pipe.md");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    let t0 = std::time::Instant::now();
    let s = scrape(r);
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    let reason = |p: &str| {
        s.skipped_files
            .iter()
            .find(|k| k.path == p)
            .map(|k| k.reason.clone())
            .unwrap_or_else(|| panic!("{p} is not named: {:?}", s.skipped_files))
    };
    for link in ["loop", "cyc-a", "cyc-b", "dangling.md", "passwd.md"] {
        assert!(reason(&format!("layer/core/{link}")).contains("symbolic link"));
    }
    assert!(reason("layer/core/pipe.md").contains("not a regular file"));
    assert!(reason("layer/core/big.md").contains("larger than"));
    assert!(reason("layer/core/blob.md").contains("binary"));
    assert_eq!(
        paths(&search(r, "numbat")),
        ["layer/core/plain.md"],
        "indexed once"
    );
    assert!(search(r, "root").is_empty() && search(r, "numbatblob").is_empty());
    assert_eq!(paths(&search(r, "numbatlatin")), ["layer/core/latin1.md"]);
    assert_eq!(paths(&search(r, "numbatcp")), ["layer/core/cp1252.md"]);
    assert_eq!(
        paths(&search(r, "numbatname")),
        ["layer/core/caf\\xe9-note.md"]
    );
    assert_eq!(
        paths(&search(r, "numbatspelled")),
        ["layer/core/caf\\\\xe9-note.md"]
    );
    // Two files, two keys: a second scrape finds nothing changed, and once both are gone
    // nothing of them is left (before, each scrape left rows behind, and a search that met
    // them failed).
    assert_eq!(scrape(r).changed, 0);
    fs::remove_file(r.join("layer/core").join(odd)).unwrap();
    fs::remove_file(r.join("layer/core/caf\\xe9-note.md")).unwrap();
    assert_eq!(scrape(r).removed, 2);
    assert!(search(r, "numbatname").is_empty() && search(r, "numbatspelled").is_empty());
    let bom = search(r, "numbatbom");
    assert_eq!(paths(&bom), ["layer/core/bom.md"]);
    assert_eq!(bom[0].title, "BOM");
    // The CLI names them on stderr.
    let out = run(&["scrape"], r);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipped layer/core/pipe.md: not a regular file"),
        "{err}"
    );
}

/// Case 030: ignore rules (`.gitignore`, nested, negated, `.git/info/exclude`) keep files
/// unread (the `.env` canary never reaches the index); files vanishing mid-scrape are named,
/// not fatal; and the `-wal` file does not keep a big scrape's size once no reader holds it.
#[test]
fn ignore_rules_vanishing_files_and_a_bounded_wal_case_030() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    assert!(
        Command::new("git")
            .args(["init", "-q"])
            .current_dir(r)
            .status()
            .unwrap()
            .success()
    );
    write(r, ".env", "API_TOKEN=Pc4n4ry-7f3e9c1d+x/y=z\n");
    write(
        r,
        ".gitignore",
        ".env\nvendor/\ndocs/private/*\n!docs/private/keep.md\n",
    );
    write(r, "vendor/pkg/readme.md", "# V\n\nokapivendor\n");
    write(r, "docs/private/secret.md", "# P\n\nokapiprivate\n");
    write(r, "docs/private/keep.md", "# K\n\nokapikeep\n");
    write(r, "layer/sub/.gitignore", "local.md\n");
    write(r, "layer/sub/local.md", "# L\n\nokapilocal\n");
    let mut ex = fs::OpenOptions::new()
        .append(true)
        .open(r.join(".git/info/exclude"))
        .unwrap();
    std::io::Write::write_all(&mut ex, b"excluded.md\n").unwrap();
    write(r, "layer/core/excluded.md", "# E\n\nokapiexcluded\n");
    write(r, "layer/core/fine.md", "# F\n\nokapifine\n");
    for i in 0..400 {
        write(
            r,
            &format!("churn/c{i}.md"),
            format!("# C{i}\n\nokapichurn n{i}x\n"),
        );
    }
    // Files vanish while scrapes run.
    let root = r.to_path_buf();
    let deleter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        for i in (1..400).step_by(2) {
            let _ = fs::remove_file(root.join(format!("churn/c{i}.md")));
        }
    });
    for _ in 0..5 {
        let out = run(&["scrape"], r);
        crate::common::assert_success(&out);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panic"));
    }
    deleter.join().unwrap();
    scrape(r);
    assert!(search(r, "n7x").is_empty());
    assert_eq!(paths(&search(r, "n8x")), ["churn/c8.md"]);
    for gone in [
        "Pc4n4ry",
        "okapivendor",
        "okapiprivate",
        "okapilocal",
        "okapiexcluded",
    ] {
        assert!(search(r, gone).is_empty(), "{gone} was indexed");
    }
    assert_eq!(paths(&search(r, "okapikeep")), ["docs/private/keep.md"]);
    assert_eq!(paths(&search(r, "okapifine")), ["layer/core/fine.md"]);
    let index = fs::read(r.join(".patina/index.db")).unwrap();
    assert!(
        !index.windows(7).any(|w| w == b"Pc4n4ry"),
        "the canary is in the index"
    );

    // A reader holding a snapshot while big scrapes commit; then it lets go.
    let wal = r.join(".patina/index.db-wal");
    let reader = rusqlite::Connection::open(r.join(".patina/index.db")).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM files;")
        .unwrap();
    for v in 0..3 {
        for i in (0..400).step_by(2) {
            write(
                r,
                &format!("churn/c{i}.md"),
                format!("# C{i}\n\nokapichurn n{i}x v{v} {}\n", "pad ".repeat(200)),
            );
        }
        scrape(r);
    }
    let held = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(held > 0, "the reader's snapshot kept frames in the WAL");
    drop(reader);
    write(r, "layer/core/fine.md", "# F\n\nokapifine again\n");
    scrape(r);
    let after = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(
        after < held / 4,
        "the WAL was not cut back: {held} then {after} bytes"
    );
}

/// Issue 18: a postings blob whose first byte was overwritten (with sqlite, as a bad disk or
/// a stray tool might: its first posting now names a row past the row map) makes the
/// searches that meet it fail with one line naming `patina
/// scrape`; a `patina scrape` that changes no file then finds the damage, rebuilds the
/// postings from the rows (saying so), and the search answers as before: nothing is lost.
#[test]
fn a_scrape_repairs_damaged_postings_and_search_works_again() {
    let t = fixture();
    let r = t.path();
    scrape(r);
    let before = search(r, "quill tools");
    assert!(!before.is_empty());
    let db = r.join(".patina/index.db");
    let changed = rusqlite::Connection::open(&db)
        .expect("open")
        .execute(
            "UPDATE postings SET data = CAST(x'7f' || substr(data, 2) AS BLOB) WHERE term = 'quill'",
            [],
        )
        .expect("damage");
    assert_eq!(changed, 1);
    let home = tempfile::tempdir().expect("home");
    let out = patina(home.path())
        .args(["scry", "--project"])
        .arg(r)
        .arg("quill tools")
        .output()
        .expect("scry");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("patina scrape"), "{err}");
    // A scrape with nothing changed repairs it, and says so.
    let s = scrape(r);
    assert!(s.repaired_postings, "{s:?}");
    assert_eq!((s.changed, s.removed), (0, 0), "{s:?}");
    let line = run(&["scrape"], r);
    assert!(line.status.success());
    assert!(
        !String::from_utf8_lossy(&line.stdout).contains("damaged"),
        "a sound index is not rebuilt again"
    );
    assert_eq!(search(r, "quill tools"), before);
}

/// Case 030 d: while a reader holds an old snapshot, each scrape's frames stay in the `-wal`
/// file. Past its bound (twice the index plus 4 MiB) a scrape refuses with the cause and the
/// fix instead of growing it further, leaves the index as it was, and once the reader lets go
/// the next scrape succeeds and cuts the file back.
#[test]
fn a_scrape_refuses_to_grow_a_wal_that_a_pinned_reader_keeps_past_its_bound_case_030_d() {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    write(r, "layer/core/fine.md", "# F\n\nokapifine\n");
    let churn = |v: usize| {
        for i in 0..200 {
            write(
                r,
                &format!("churn/c{i}.md"),
                format!("# C{i}\n\nokapichurn v{v}x n{i}x {}\n", "pad ".repeat(1200)),
            );
        }
    };
    churn(0);
    scrape(r);
    let index = r.join(".patina/index.db");
    let wal = r.join(".patina/index.db-wal");
    let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
    let reader = rusqlite::Connection::open(&index).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM files;")
        .unwrap();

    let mut refused = None;
    let mut largest_before_refusal = 0;
    for v in 1..=40 {
        churn(v);
        let before = size(&wal);
        let out = run(&["scrape"], r);
        if !out.status.success() {
            refused = Some((v, before, String::from_utf8_lossy(&out.stderr).into_owned()));
            break;
        }
        largest_before_refusal = largest_before_refusal.max(size(&wal));
    }
    let (v, before, stderr) = refused.expect("no scrape refused to grow the pinned WAL");
    assert!(
        stderr.contains("write-ahead log")
            && stderr.contains("old read snapshot")
            && stderr.contains("patina scrape"),
        "the refusal does not say why and what to do: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    // The refusal wrote nothing: the WAL and the last committed text are as they were.
    assert_eq!(size(&wal), before, "the refused scrape wrote to the WAL");
    let bound = 2 * size(&index) + 4 * 1024 * 1024;
    assert!(
        size(&wal) > bound && largest_before_refusal <= 3 * bound,
        "the WAL is {} bytes against a bound of {bound}",
        size(&wal)
    );
    assert!(!search(r, &format!("v{}x", v - 1)).is_empty());
    assert!(search(r, &format!("v{v}x")).is_empty());

    drop(reader);
    scrape(r);
    assert!(!search(r, &format!("v{v}x")).is_empty());
    assert!(
        size(&wal) <= 4 * 1024 * 1024,
        "the WAL was not cut back once the reader let go: {} bytes",
        size(&wal)
    );
}

/// A directory chain deeper than `PATH_MAX` (made by a shell that enters each level by a
/// relative name) is one skipped entry named by its path, with a one-line reason: it was
/// `"path": ""` with a reason of 9 KB holding the path twice (QA session 11).
#[test]
fn a_path_past_path_max_is_skipped_by_its_name_with_a_short_reason() {
    let t = tempfile::tempdir().expect("tempdir");
    let proj = t.path().join("proj");
    write(&proj, "note.md", "# Note\n\nshallow words\n");
    // Each level made and entered by a name relative to the one above (openat(2)).
    let made = std::process::Command::new("python3")
        .arg("-c")
        .arg("import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\nfor _ in range(2100):\n    os.mkdir('d',dir_fd=fd)\n    fd=os.open('d',os.O_RDONLY,dir_fd=fd)\nw=os.open('deep.txt',os.O_WRONLY|os.O_CREAT,0o644,dir_fd=fd)\nos.write(w,b'deep')\n")
        .arg(&proj)
        .status()
        .expect("python3");
    assert!(made.success());
    let s = scrape(&proj);
    let deep: Vec<_> = s
        .skipped_files
        .iter()
        .filter(|f| f.reason.starts_with("unreadable"))
        .collect();
    assert!(!deep.is_empty(), "{:?}", s.skipped_files);
    for f in deep {
        assert!(
            f.path.starts_with("d/d/d/"),
            "named by its path: {:?}",
            f.path
        );
        assert!(
            f.reason.len() < 200,
            "a short reason: {} bytes",
            f.reason.len()
        );
        assert!(
            !f.reason.contains("d/d/d"),
            "the reason does not repeat the path"
        );
    }
}
