//! The cost of keeping an index fresh (issue 18 §1): a full scrape of a ~100 MB corpus, then
//! re-scrapes after one file changed (the incremental scrape: a walk and a postings batch;
//! and the watcher's scrape of that path alone), after nothing changed, and one that
//! rebuilds the postings whole, all in one run, so the ratios compare like with like on
//! whatever load the machine has.
//!
//! `nice -n 19 cargo bench --bench scry_fresh -- [SOURCE_DIR] [MEGABYTES]`
//!
//! SOURCE_DIR defaults to the cargo registry's sources (`~/.cargo/registry/src/index.crates.io-*`);
//! crates are taken in name order (never `tokio*`) until MEGABYTES (default 100) of files are
//! copied into a temporary directory, which is scraped. Prints one line per measurement (wall
//! time, and the CPU time of the scraping thread from `/proc/thread-self/schedstat`, which a
//! loaded machine inflates less; for the full scrape, whose files are prepared on several
//! threads, the process's CPU time) and the 1-minute load average before and after. Not a test.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let source = args.next().map(PathBuf::from).unwrap_or_else(registry);
    let megabytes: u64 = args.next().and_then(|m| m.parse().ok()).unwrap_or(100);
    let work = tempfile::tempdir().expect("a temporary directory");
    let corpus = work.path().join("corpus");
    let (files, bytes) = copy_corpus(&source, &corpus, megabytes * 1_000_000);
    println!(
        "corpus: {files} files, {:.1} MB from {} (load {})",
        bytes as f64 / 1e6,
        source.display(),
        load()
    );

    // A full scrape prepares files on several threads: its CPU is the process's.
    let process0 = process_cpu();
    let (full, _, s) = measure(|| patina::scry::scrape(&corpus).expect("full scrape"));
    let full_cpu = process_cpu() - process0;
    println!(
        "full scrape: {full:.2} s wall, {full_cpu:.2} s CPU ({} files, {} sections, {:.1} MB/s of CPU)",
        s.files,
        s.sections,
        bytes as f64 / 1e6 / full_cpu
    );

    // The file edited: a mid-sized Rust source somewhere in the corpus.
    let target = pick_file(&corpus).expect("a .rs file of 2-20 KB");
    let (mut one, mut one_cpu) = (Vec::new(), Vec::new());
    let (mut noop, mut noop_cpu) = (Vec::new(), Vec::new());
    for round in 0..7 {
        let mut text = fs::read_to_string(&target).unwrap();
        text.push_str(&format!("\n// freshness probe {round} zq{round}x\n"));
        fs::write(&target, text).unwrap();
        let (wall, cpu, s) = measure(|| patina::scry::scrape(&corpus).expect("incremental"));
        assert_eq!(s.changed, 1, "{s:?}");
        one.push(wall);
        one_cpu.push(cpu);
        let (wall, cpu, _) = measure(|| patina::scry::scrape(&corpus).expect("no-op scrape"));
        noop.push(wall);
        noop_cpu.push(cpu);
    }
    // What the daemon's watcher runs: the changed path only (`scrape_paths`), no walk.
    let (mut scoped, mut scoped_cpu) = (Vec::new(), Vec::new());
    for round in 0..7 {
        let mut text = fs::read_to_string(&target).unwrap();
        text.push_str(&format!("\n// watched probe {round} zw{round}x\n"));
        fs::write(&target, text).unwrap();
        let changed = [target.clone()];
        let (wall, cpu, s) = measure(|| {
            patina::scry::scrape::scrape_paths(&corpus, &changed).expect("scoped scrape")
        });
        assert_eq!(s.summary.changed, 1, "{s:?}");
        assert!(s.scopes.is_some());
        scoped.push(wall);
        scoped_cpu.push(cpu);
    }
    let (scoped, scoped_cpu) = (median(scoped), median(scoped_cpu));
    // The whole rebuild the batch replaces, measured the same way (forced by the bound).
    let (mut rebuild, mut rebuild_cpu) = (Vec::new(), Vec::new());
    for round in 0..3 {
        force_rebuild(&corpus);
        let mut text = fs::read_to_string(&target).unwrap();
        text.push_str(&format!("\n// rebuild probe {round}\n"));
        fs::write(&target, text).unwrap();
        let (wall, cpu, _) = measure(|| patina::scry::scrape(&corpus).expect("rebuild"));
        rebuild.push(wall);
        rebuild_cpu.push(cpu);
    }
    let (one, noop, rebuild) = (median(one), median(noop), median(rebuild));
    let (one_cpu, noop_cpu, rebuild_cpu) = (median(one_cpu), median(noop_cpu), median(rebuild_cpu));
    println!(
        "one file changed ({}), median of 7: {:.1} ms wall, {:.1} ms CPU = {:.5} x the full scrape's CPU",
        target.strip_prefix(&corpus).unwrap().display(),
        one * 1e3,
        one_cpu * 1e3,
        one_cpu / full_cpu
    );
    println!(
        "one file changed, the path alone re-indexed (the watcher's scrape), median of 7: {:.1} ms wall, {:.1} ms CPU = {:.6} x the full scrape's CPU",
        scoped * 1e3,
        scoped_cpu * 1e3,
        scoped_cpu / full_cpu
    );
    println!(
        "nothing changed, median of 7: {:.1} ms wall, {:.1} ms CPU (the walk; the batch's own part: {:.1} ms CPU)",
        noop * 1e3,
        noop_cpu * 1e3,
        (one_cpu - noop_cpu) * 1e3
    );
    println!(
        "one file changed, postings rebuilt whole (the path before batches), median of 3: {:.1} ms wall, {:.1} ms CPU = {:.1} x the batch's CPU",
        rebuild * 1e3,
        rebuild_cpu * 1e3,
        rebuild_cpu / one_cpu
    );
    println!("load after: {}", load());
}

/// The registry's sources directory.
fn registry() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let src = home.join("registry/src");
    fs::read_dir(&src)
        .expect("~/.cargo/registry/src")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("index.crates.io-"))
        })
        .expect("a crates.io registry index directory")
}

/// Copies crate directories of `source` (name order, no `tokio*`) until `budget` bytes.
fn copy_corpus(source: &Path, to: &Path, budget: u64) -> (u64, u64) {
    let mut crates: Vec<PathBuf> = fs::read_dir(source)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("tokio")
        })
        .collect();
    crates.sort();
    let (mut files, mut bytes) = (0, 0);
    for c in crates {
        if bytes >= budget {
            break;
        }
        copy_dir(&c, &to.join(c.file_name().unwrap()), &mut files, &mut bytes);
    }
    (files, bytes)
}

fn copy_dir(from: &Path, to: &Path, files: &mut u64, bytes: &mut u64) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if ft.is_dir() {
            copy_dir(&e.path(), &dest, files, bytes);
        } else if ft.is_file() {
            *bytes += fs::copy(e.path(), &dest).unwrap();
            *files += 1;
        }
    }
}

/// A `.rs` file of 2–20 KB, the first in name order.
fn pick_file(dir: &Path) -> Option<PathBuf> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if let Some(f) = pick_file(&p) {
                return Some(f);
            }
        } else if p.extension().is_some_and(|e| e == "rs")
            && fs::metadata(&p).is_ok_and(|m| (2_000..20_000).contains(&m.len()))
        {
            return Some(p);
        }
    }
    None
}

/// Makes the next scrape that changes rows rebuild the postings whole (the batch bound).
fn force_rebuild(corpus: &Path) {
    let db = corpus.join(".patina/index.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute("UPDATE postings_meta SET batches = 1000000", [])
        .unwrap();
}

/// The process's CPU time so far (user + system, every thread, ended ones too), in seconds
/// (`/proc/self/stat`, clock ticks of 1/100 s).
fn process_cpu() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

/// Runs `f`: its wall time and this thread's CPU time, in seconds, and its value.
fn measure<T>(f: impl FnOnce() -> T) -> (f64, f64, T) {
    let (t, c) = (Instant::now(), cpu());
    let out = f();
    (t.elapsed().as_secs_f64(), cpu() - c, out)
}

/// This thread's CPU time so far, in seconds (`/proc/thread-self/schedstat`, nanoseconds).
fn cpu() -> f64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The 1-minute load average and the number of CPUs.
fn load() -> String {
    let avg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let one = avg.split_whitespace().next().unwrap_or("?").to_string();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{one} on {cpus} CPUs")
}
