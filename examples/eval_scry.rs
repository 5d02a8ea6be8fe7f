//! The scry evaluation harness (issue 18): scrapes each corpus named by the judgment files in
//! `eval/scry/` into a temp project, runs every query through [`patina::scry::Index::search`]
//! (the function the daemon's `/api/scry` and the CLI call), and reports MRR@10 and Recall@10
//! per kind of query, beside a ripgrep-style word-count baseline run on the same files.
//!
//! ```sh
//! scripts/eval-scry                 # every set (code, notes, heldout, heldout2, heldout3, heldout4, heldout5, notes-heldout)
//! scripts/eval-scry code -v         # one set, with each query's rank and top hits
//! scripts/eval-scry code --repeat 50 # and the mean time of a warm search (50 rounds)
//! scripts/eval-scry speed DIR [MB]   # scrape ~MB (100) of DIR's subfolders, time every query
//! EVAL_SCRY_PROJECT=DIR EVAL_SCRY_ROUNDS=0 scripts/eval-scry speed …  # keep the copy; cold pass only
//! ```
//!
//! Corpora: the code set names registry crates (`# corpus  serde_json  1.0.154`), found with
//! `cargo metadata` (run `cargo fetch` first) or else under `$CARGO_HOME/registry/src`; the
//! notes set names a folder (`PATINA_EVAL_NOTES` overrides it). A corpus that cannot be found
//! is an error that names it: nothing is skipped silently. The corpora are copied into a temp
//! dir (their index is written there); nothing outside it is written.
//!
//! The baseline ranks files by the number of their lines that contain any query word
//! (case-insensitive, as `rg -c -i -F -e w1 -e w2 …` counts), and gives as the line of each
//! file the first line holding the most distinct query words.
//!
//! This is a measurement, not a test: it never fails on a low figure.

use patina::scry::eval::{self, Corpus, Judgment};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Results looked at per query (MRR@K, Recall@K).
const K: usize = 10;

/// Results `-v` searches to show where the first relevant one is when it misses the top K.
const DEEP: usize = 100;

/// The relevance sets in `eval/scry/`: `code` and `notes` are the ones changes are tuned
/// on; `heldout`, `heldout2`, `heldout3`, `heldout4` and `heldout5` (code of other crates) and `notes-heldout` (other notes of
/// the notes corpus) are only reported, to show whether a gain carries over to queries the
/// tuning never saw.
const SETS: [&str; 8] = [
    "code",
    "notes",
    "heldout",
    "heldout2",
    "heldout3",
    "heldout4",
    "heldout5",
    "notes-heldout",
];

fn main() {
    if let Err(e) = run() {
        eprintln!("eval-scry: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("speed") {
        return speed(&args[1..]);
    }
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
    // The held-out set's queries are shown one by one only when it is named: it is never
    // tuned on, so `scripts/eval-scry -v` does not print them by the way.
    let named = args.iter().any(|a| a.contains("heldout"));
    // `--repeat N`: time N more rounds of every query, warm (the cost of a ranking change).
    let repeat: usize = match args.iter().position(|a| a == "--repeat") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .ok_or("--repeat needs a number of rounds")?,
        None => 0,
    };
    let sets: Vec<&str> = match args
        .iter()
        .find(|a| !a.starts_with('-') && a.parse::<usize>().is_err())
    {
        Some(s) if SETS.contains(&s.as_str()) => vec![s.as_str()],
        Some(other) => {
            return Err(format!(
                "unknown set {other:?}: use one of {}",
                SETS.join(", ")
            ));
        }
        None => SETS.to_vec(),
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mut summary = serde_json::Map::new();
    for set in sets {
        let mut set_json = serde_json::Map::new();
        let file = repo.join("eval/scry").join(format!("{set}.tsv"));
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let (corpora, judgments) =
            eval::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        if corpora.is_empty() {
            return Err(format!("{}: names no `# corpus`", file.display()));
        }
        let project = tmp.path().join(set);
        let mut bytes = 0u64;
        for c in &corpora {
            let src = locate(repo, set, c)?;
            let dst = if !set.starts_with("notes") {
                project.join(&c.name)
            } else {
                project.clone()
            };
            bytes += copy_dir(&src, &dst).map_err(|e| format!("copying {}: {e}", src.display()))?;
        }
        let t = Instant::now();
        let s = patina::scry::scrape(&project).map_err(|e| format!("scrape: {e:#}"))?;
        let scrape_s = t.elapsed().as_secs_f64();
        let index_bytes = std::fs::metadata(patina::paths::project_index_path(&project))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "== {set}: {} ({} files, {:.1} MB), {} queries; scrape {:.2} s ({:.1} MB/s), {} rows, index {:.1} MB ({:.2}x source)",
            corpora
                .iter()
                .map(|c| format!("{} {}", c.name, c.source))
                .collect::<Vec<_>>()
                .join(", "),
            s.files,
            bytes as f64 / 1e6,
            judgments.len(),
            scrape_s,
            bytes as f64 / 1e6 / scrape_s,
            s.sections,
            index_bytes as f64 / 1e6,
            index_bytes as f64 / bytes.max(1) as f64,
        );
        let files = text_files(&project);
        let mut index = patina::scry::Index::open(&project).map_err(|e| e.to_string())?;
        // kind → (scry line-level, scry file-level, baseline line-level, baseline file-level)
        type Groups = BTreeMap<String, [Vec<(f64, f64)>; 4]>;
        let mut groups: Groups = BTreeMap::new();
        let mut times = Vec::new();
        for j in &judgments {
            let t = Instant::now();
            let hits = index
                .search(&j.query, K, None)
                .map_err(|e| format!("query {}: {e}", j.id))?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            let ranked: Vec<(String, u64)> =
                hits.iter().map(|h| (h.path.clone(), h.line)).collect();
            let base = baseline(&files, &j.query);
            let g = groups.entry(j.kind.clone()).or_default();
            g[0].push(eval::score(j, &ranked, K));
            g[1].push(eval::score(&file_level(j), &ranked, K));
            g[2].push(eval::score(j, &base, K));
            g[3].push(eval::score(&file_level(j), &base, K));
            if verbose && (!set.contains("heldout") || named) {
                let (rr, rec) = eval::score(j, &ranked, K);
                let (brr, _) = eval::score(j, &base, K);
                // Where the first relevant hit is among the first DEEP (beyond the ten).
                let deep = index
                    .search(&j.query, DEEP, None)
                    .map_err(|e| format!("query {}: {e}", j.id))?;
                let first = deep
                    .iter()
                    .position(|h| j.relevant.iter().any(|r| r.matches(&h.path, h.line)))
                    .map_or_else(|| format!(">{DEEP}"), |i| (i + 1).to_string());
                // Where each relevant item is first hit among the DEEP (a recall miss's
                // distance from the ten).
                let each: Vec<String> = j
                    .relevant
                    .iter()
                    .map(|r| {
                        deep.iter()
                            .position(|h| r.matches(&h.path, h.line))
                            .map_or_else(|| format!(">{DEEP}"), |i| (i + 1).to_string())
                    })
                    .collect();
                println!(
                    "  {} [{}] {:?}: RR {rr:.2} R {rec:.2} (baseline RR {brr:.2}; first relevant of {DEEP}: {first}; each: {})",
                    j.id,
                    j.kind,
                    j.query,
                    each.join(" ")
                );
                for h in hits.iter().take(10) {
                    let ok = j.relevant.iter().any(|r| r.matches(&h.path, h.line));
                    println!(
                        "      {} {}:{} {} [{}]",
                        if ok { "+" } else { " " },
                        h.path,
                        h.line,
                        h.title,
                        h.kind
                    );
                }
            }
        }
        println!(
            "  {:<10} {:>3}  {:>17}  {:>17}  {:>17}  {:>17}",
            "kind", "n", "scry MRR/R@10", "baseline MRR/R", "scry file-level", "baseline file"
        );
        let mut all: [Vec<(f64, f64)>; 4] = Default::default();
        let mut line = |name: &str, g: &[Vec<(f64, f64)>; 4]| {
            let m: Vec<(f64, f64)> = g.iter().map(|v| eval::mean(v)).collect();
            println!(
                "  {:<10} {:>3}  {:>8.3} {:>8.3}  {:>8.3} {:>8.3}  {:>8.3} {:>8.3}  {:>8.3} {:>8.3}",
                name,
                g[0].len(),
                m[0].0,
                m[0].1,
                m[2].0,
                m[2].1,
                m[1].0,
                m[1].1,
                m[3].0,
                m[3].1
            );
            set_json.insert(
                name.to_string(),
                serde_json::json!({
                    "n": g[0].len(),
                    "mrr": m[0].0, "recall": m[0].1,
                    "baseline_mrr": m[2].0, "baseline_recall": m[2].1,
                    "file_mrr": m[1].0, "file_recall": m[1].1,
                }),
            );
        };
        for (kind, g) in &groups {
            line(kind, g);
            for (a, b) in all.iter_mut().zip(g) {
                a.extend_from_slice(b);
            }
        }
        if groups.len() > 1 {
            line("all", &all);
        }
        if repeat > 0 {
            // Warm searches: every query `repeat` times more on the open index.
            let t = Instant::now();
            for _ in 0..repeat {
                for j in &judgments {
                    index
                        .search(&j.query, K, None)
                        .map_err(|e| format!("query {}: {e}", j.id))?;
                }
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / (repeat * judgments.len()) as f64;
            println!("  warm search, mean of {repeat} rounds: {us:.1} µs");
            set_json.insert("warm_search_us".into(), us.into());
        }
        times.sort_by(f64::total_cmp);
        let p50 = times[times.len() / 2];
        let max = times.last().copied().unwrap_or(0.0);
        println!("  search time in-process (ms): p50 {p50:.3}, max {max:.3}");
        set_json.insert("search_p50_ms".into(), p50.into());
        set_json.insert(
            "scrape_mb_per_s".into(),
            (bytes as f64 / 1e6 / scrape_s).into(),
        );
        set_json.insert(
            "index_to_source".into(),
            (index_bytes as f64 / bytes.max(1) as f64).into(),
        );
        summary.insert(set.to_string(), set_json.into());
    }
    println!("{}", serde_json::Value::Object(summary));
    Ok(())
}

/// The same judgment with every item widened to its whole file.
fn file_level(j: &Judgment) -> Judgment {
    let mut out = j.clone();
    out.relevant = j
        .relevant
        .iter()
        .map(|r| eval::Relevant::File {
            path: r.path().to_string(),
        })
        .collect();
    out.relevant.dedup();
    out
}

/// Where a corpus is: a registry crate's source folder, or the notes folder.
fn locate(repo: &Path, set: &str, c: &Corpus) -> Result<PathBuf, String> {
    if set.starts_with("notes") {
        let p = std::env::var_os("PATINA_EVAL_NOTES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(&c.source));
        return if p.is_dir() {
            Ok(p)
        } else {
            Err(format!(
                "notes corpus {} not found at {} (set PATINA_EVAL_NOTES to its folder)",
                c.name,
                p.display()
            ))
        };
    }
    if let Some(p) = from_cargo_metadata(repo, c) {
        return Ok(p);
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let want = format!("{}-{}", c.name, c.source);
    let src = home.join("registry/src");
    if let Ok(dirs) = std::fs::read_dir(&src) {
        for d in dirs.flatten() {
            let p = d.path().join(&want);
            if p.join("Cargo.toml").is_file() {
                return Ok(p);
            }
        }
    }
    Err(format!(
        "crate {want} not found by `cargo metadata` nor under {} (run `cargo fetch`)",
        src.display()
    ))
}

/// The crate's folder from `cargo metadata` of this repository, when it is in the lock file.
fn from_cargo_metadata(repo: &Path, c: &Corpus) -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(repo.join("Cargo.toml"))
        .output()
        .ok()?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    meta["packages"].as_array()?.iter().find_map(|p| {
        (p["name"] == c.name.as_str() && p["version"] == c.source.as_str())
            .then(|| {
                PathBuf::from(p["manifest_path"].as_str()?)
                    .parent()
                    .map(Path::to_path_buf)
            })
            .flatten()
    })
}

/// Copies a folder recursively (regular files only); returns the bytes copied.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = e.file_type()?;
        let dst = to.join(e.file_name());
        if t.is_dir() {
            if e.file_name() == ".git" || e.file_name() == ".patina" || e.file_name() == "target" {
                continue;
            }
            bytes += copy_dir(&e.path(), &dst)?;
        } else if t.is_file() {
            bytes += std::fs::copy(e.path(), &dst)?;
        }
    }
    Ok(bytes)
}

/// Every text file of the project (relative path, lines), as the walk of a scrape sees it.
fn text_files(root: &Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".patina" && e.file_name() != ".git")
        .build();
    for e in walker.flatten() {
        if !e.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let rel = e.path().strip_prefix(root).unwrap_or(e.path());
        out.push((
            rel.to_string_lossy().into_owned(),
            text.lines().map(str::to_lowercase).collect(),
        ));
    }
    out.sort();
    out
}

/// The word-count baseline: files ranked by lines matching any query word, best first.
fn baseline(files: &[(String, Vec<String>)], query: &str) -> Vec<(String, u64)> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut scored: Vec<(usize, &str, u64)> = Vec::new();
    for (path, lines) in files {
        let mut count = 0;
        let mut best = (0, 0u64);
        for (i, l) in lines.iter().enumerate() {
            let distinct = words.iter().filter(|w| l.contains(w.as_str())).count();
            if distinct > 0 {
                count += 1;
                if distinct > best.0 {
                    best = (distinct, i as u64 + 1);
                }
            }
        }
        if count > 0 {
            scored.push((count, path, best.1));
        }
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(K)
        .map(|(_, p, l)| (p.to_string(), l))
        .collect()
}

/// `speed DIR [MB]`: copies DIR's subfolders (in name order, `tokio*` left out) until about
/// `MB` megabytes, scrapes them, and times every query of both sets once on one open index
/// (the library keeps no result cache: every search runs, as a cold query does in the
/// daemon): scrape MB/s, index size against the source, search p50 / p99 / max.
fn speed(args: &[String]) -> Result<(), String> {
    let dir = PathBuf::from(
        args.first()
            .ok_or("speed needs a folder (e.g. a registry src dir)")?,
    );
    let mb: u64 = args
        .get(1)
        .map_or(Ok(100), |a| a.parse())
        .map_err(|_| "MB must be a number")?;
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("tokio"))
        })
        .collect();
    subdirs.sort();
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    // EVAL_SCRY_PROJECT=DIR keeps the copy and its index there (a daemon bench can serve it);
    // a DIR that holds an index already is searched as it is (no copy, no scrape: two
    // binaries timed on one copy).
    let project = std::env::var_os("EVAL_SCRY_PROJECT")
        .map_or_else(|| tmp.path().join("speed"), PathBuf::from);
    if project.exists() {
        if !patina::paths::project_index_path(&project).exists() {
            return Err(format!(
                "{} exists and holds no index: name a new folder",
                project.display()
            ));
        }
        println!(
            "speed: searching the index of {} as it is (no copy, no scrape)",
            project.display()
        );
        return time_queries(&project);
    }
    let mut bytes = 0u64;
    for d in subdirs {
        if bytes >= mb * 1_000_000 {
            break;
        }
        let name = d.file_name().unwrap_or_default().to_owned();
        bytes += copy_dir(&d, &project.join(name))
            .map_err(|e| format!("copying {}: {e}", d.display()))?;
    }
    let load_before = load_average();
    let (thread0, process0) = (thread_cpu(), process_cpu());
    let t = Instant::now();
    let s = patina::scry::scrape(&project).map_err(|e| format!("scrape: {e:#}"))?;
    let secs = t.elapsed().as_secs_f64();
    let (writer, all) = (thread_cpu() - thread0, process_cpu() - process0);
    println!(
        "speed: scrape CPU {all:.2} s in all ({:.1} MB/s of CPU), {writer:.2} s on the writing thread ({:.1} MB/s); load average {load_before} before, {} after",
        s.bytes as f64 / 1e6 / all,
        s.bytes as f64 / 1e6 / writer,
        load_average()
    );
    let index_bytes = std::fs::metadata(patina::paths::project_index_path(&project))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "speed: {} files, {:.1} MB read ({:.1} MB copied), {} rows; scrape {secs:.1} s = {:.1} MB/s; index {:.1} MB = {:.2}x source",
        s.files,
        s.bytes as f64 / 1e6,
        bytes as f64 / 1e6,
        s.sections,
        s.bytes as f64 / 1e6 / secs,
        index_bytes as f64 / 1e6,
        index_bytes as f64 / s.bytes.max(1) as f64
    );
    space(&patina::paths::project_index_path(&project), s.bytes)?;
    time_queries(&project)
}

/// Times every query of every set on `project`'s index: each once, cold (the first search
/// of it), then the least of five runs.
fn time_queries(project: &Path) -> Result<(), String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut queries = Vec::new();
    for set in SETS {
        let file = repo.join("eval/scry").join(format!("{set}.tsv"));
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let (_, j) = eval::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        queries.extend(j.into_iter().map(|j| j.query));
    }
    let mut index = patina::scry::Index::open(project).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut slowest = Vec::new();
    // Which first-stage path each query took, by kind of query text.
    let mut paths: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for q in &queries {
        let before = index.first_stage_paths();
        let t = Instant::now();
        index
            .search(q, K, None)
            .map_err(|e| format!("{q:?}: {e}"))?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let after = index.first_stage_paths();
        let kind = if q.is_ascii() {
            "plain words"
        } else {
            "non-ASCII"
        };
        let path = if after[1] > before[1] {
            1 // postings, a term left unscored for most rows
        } else {
            0 // postings, every list scored
        };
        paths.entry(kind).or_default()[path] += 1;
        paths.entry(kind).or_default()[3] += (ms * 1000.0) as u64;
        times.push(ms);
        slowest.push((ms, q.as_str()));
    }
    for (kind, [full, pruned, _, micros]) in &paths {
        println!(
            "speed: paths of {kind} queries: postings (MaxScore) {}, of which pruned {pruned}; {:.3} ms mean",
            full + pruned,
            *micros as f64 / 1e3 / (full + pruned).max(1) as f64
        );
    }
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ms, q) in slowest.iter().take(5) {
        println!("speed: slow query {ms:.3} ms {q:?}");
    }
    times.sort_by(f64::total_cmp);
    let at = |t: &[f64], p: f64| t[((t.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "speed: {} cold queries in-process (ms): p50 {:.3}, p99 {:.3}, max {:.3}",
        times.len(),
        at(&times, 0.5),
        at(&times, 0.99),
        at(&times, 1.0)
    );
    // On a shared machine one slow run of a query is often the scheduler's: the least of
    // ROUNDS runs of each query is the search's own cost (the library keeps no result
    // cache, so every run searches). EVAL_SCRY_ROUNDS=0 runs the cold pass alone (an
    // instruction count of first runs under callgrind).
    let rounds: usize = match std::env::var("EVAL_SCRY_ROUNDS") {
        Ok(n) => n.parse().map_err(|_| "EVAL_SCRY_ROUNDS must be a number")?,
        Err(_) => 5,
    };
    if rounds == 0 {
        return Ok(());
    }
    let mut least = vec![f64::INFINITY; queries.len()];
    for _ in 0..rounds {
        for (q, best) in queries.iter().zip(least.iter_mut()) {
            let t = Instant::now();
            index
                .search(q, K, None)
                .map_err(|e| format!("{q:?}: {e}"))?;
            *best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let mut by_query: Vec<(f64, &str)> = least
        .iter()
        .copied()
        .zip(queries.iter().map(String::as_str))
        .collect();
    by_query.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ms, q) in by_query.iter().take(3) {
        println!("speed: slowest least-of-{rounds} {ms:.3} ms {q:?}");
    }
    least.sort_by(f64::total_cmp);
    println!(
        "speed: least of {rounds} runs per query (ms): p50 {:.3}, p99 {:.3}, max {:.3}",
        at(&least, 0.5),
        at(&least, 0.99),
        at(&least, 1.0)
    );
    Ok(())
}

/// Prints what takes the space in the index at `db` (SQLite's `dbstat` virtual table: pages
/// per table and index, <https://sqlite.org/dbstat.html>), each against the `source` bytes.
fn space(db: &Path, source: u64) -> Result<(), String> {
    let conn = rusqlite::Connection::open(db).map_err(|e| format!("{}: {e}", db.display()))?;
    let mut stmt = conn
        .prepare("SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(|e| e.to_string())?;
    for row in rows {
        let (name, pages, payload) = row.map_err(|e| e.to_string())?;
        println!(
            "speed: space {name}: {:.1} MB in pages ({:.1} MB payload) = {:.3}x source",
            pages as f64 / 1e6,
            payload as f64 / 1e6,
            pages as f64 / source.max(1) as f64
        );
    }
    Ok(())
}

/// This thread's CPU time so far, in seconds (`/proc/thread-self/schedstat`, nanoseconds).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

/// The process's CPU time so far (user + system, every thread, ended ones too), in seconds
/// (`/proc/self/stat`, clock ticks of 1/100 s).
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

/// The 1-minute load average (`/proc/loadavg`).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}
