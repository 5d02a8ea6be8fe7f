//! `patina scrape [DIR] [--json]`: index a project's knowledge into `DIR/.patina/index.db`.
//! Prints a `\r`-updated progress line on stderr when stderr is a terminal, and always one
//! summary line (or the [`crate::scry::ScrapeSummary`] as JSON) on stdout.
use crate::scry::ScrapeSummary;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `patina scrape`.")]
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  patina scrape                 # this directory: DIR/.patina/index.db\n  patina scrape ~/src/app --json"
)]
pub struct ScrapeArgs {
    /// The project directory (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Set by `patina serve` for its first scrape (not for users): the process id of the
    /// daemon that started this scrape. The scrape ends with that process
    /// (`die_with_parent`), so a daemon killed during its first scrape leaves no scrape
    /// running on.
    #[arg(long, hide = true, value_name = "PID")]
    pub parent: Option<u32>,
}

/// Minimum time between two redraws of the progress line.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Runs `patina scrape`.
pub fn run(a: ScrapeArgs) -> super::CliResult {
    if let Some(ppid) = a.parent {
        die_with_parent(ppid)?;
    }
    let root = super::project_to_index(a.dir, "`patina scrape DIR`")?;
    let summary = scrape_with_terminal_progress(&root)?;
    let line = if a.json {
        serde_json::to_string(&summary)?
    } else {
        summary_line(&root, &summary)
    };
    // writeln! rather than println!: a closed stdout (`| head -0`) is an error, not a panic.
    let mut out = super::stdout();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Scrapes `root`, drawing a progress line on stderr when stderr is a terminal. Used by
/// `patina scrape` and by `patina serve` for a project without an index.
pub fn scrape_with_terminal_progress(root: &Path) -> anyhow::Result<ScrapeSummary> {
    let root = root.to_path_buf();
    Ok(if std::io::stderr().is_terminal() {
        let mut last: Option<Instant> = None;
        let mut shown = false;
        let mut progress = |done: u64, total: u64| {
            if last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) || done == total {
                last = Some(Instant::now());
                shown = true;
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\rscraping: {done}/{total} files");
                let _ = err.flush();
            }
        };
        let result = crate::scry::scrape_with_progress(&root, Some(&mut progress));
        if shown {
            // Erase the progress line so the summary (or an error) starts on a clean line.
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
        result?
    } else {
        crate::scry::scrape(&root)?
    })
    .inspect(warn_skipped)
}

/// Scrapes `root` in a child process, `patina scrape --json ROOT` of this same binary
/// ([`std::env::current_exe`]), for `patina serve`'s first scrape. A full scrape's memory
/// (its threads' malloc arenas, SQLite's page cache, the postings rebuild's buffers: ~130 MiB
/// at its peak on a 100 MB project) is returned to the system when the child exits; done in
/// the daemon, glibc would keep much of it for as long as the daemon serves (measured in
/// `layer/core/performance.md`, "The daemon's request path and memory"). The child inherits
/// stderr, so it draws the progress line and names skipped files itself; its summary comes
/// back as JSON on a pipe. Nothing secret crosses: the child gets the daemon's environment
/// and the project path, and holds no vault value. The child ends with the daemon
/// (`--parent`, `die_with_parent`): a daemon killed during its first scrape leaves no
/// scrape behind, and the index as it was.
///
/// Errors: the child could not be started, or it failed (its own one-line error is already
/// on stderr; this one says what to do next), or its summary could not be read.
pub fn scrape_in_child(root: &Path) -> anyhow::Result<ScrapeSummary> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("finding this program to run its scrape")?;
    let out = std::process::Command::new(&exe)
        .arg("scrape")
        .arg("--json")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("starting `{} scrape`", exe.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "the scrape of {} failed ({}; its error is above): fix that, then run `patina serve` again",
            root.display(),
            out.status
        );
    }
    serde_json::from_slice(&out.stdout)
        .context("reading the summary of the scrape (`patina scrape --json`)")
}

/// Makes this process end (`SIGKILL`) when its parent does (`PR_SET_PDEATHSIG`,
/// prctl(2)), for the child scrape of [`scrape_in_child`]: a daemon killed during its first
/// scrape must not leave that scrape running to its end (minutes on a large project) with
/// nobody to serve what it builds. The index stays whole: the scrape is one SQLite
/// transaction, and a killed one leaves the previous index (or none) as it was; its lock is
/// released by the kernel. `ppid` is the parent's process id as the parent saw it: when
/// `getppid` says otherwise the parent already died before the signal was armed (the child
/// was re-parented), and this fails instead of scraping on.
///
/// The kernel sends the signal when the *thread* that forked this process ends; the daemon
/// forks from its main thread, which lives until the daemon exits.
///
/// Errors: the prctl failed, or the parent is already gone.
fn die_with_parent(ppid: u32) -> super::CliResult {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL))?;
    if getppid().map(|p| p.as_raw_nonzero().get()) != i32::try_from(ppid).ok() {
        bail!("the daemon that started this scrape (process {ppid}) is gone; not scraping");
    }
    Ok(())
}

/// Most skipped files named on stderr; `--json` lists them all (up to
/// [`crate::scry::MAX_LISTED_SKIPS`]).
const SKIPS_SHOWN: usize = 20;

/// Names the files a scrape left out, with why, on stderr (case 029: a count alone does not
/// say which note went missing).
fn warn_skipped(s: &ScrapeSummary) {
    let mut err = std::io::stderr().lock();
    // Binary files (images, fuzz seeds) are expected in most projects: counted in one line.
    let binary = s
        .skipped_files
        .iter()
        .filter(|k| k.reason == crate::scry::BINARY_REASON)
        .count();
    if binary > 0 {
        let _ = writeln!(
            err,
            "patina: skipped {binary} binary file{} (`patina scrape --json` lists them)",
            if binary == 1 { "" } else { "s" }
        );
    }
    let named: Vec<_> = s
        .skipped_files
        .iter()
        .filter(|k| k.reason != crate::scry::BINARY_REASON)
        .collect();
    for k in named.iter().take(SKIPS_SHOWN) {
        let _ = if k.path.is_empty() {
            writeln!(err, "patina: skipped: {}", k.reason)
        } else {
            writeln!(err, "patina: skipped {}: {}", k.path, k.reason)
        };
    }
    if named.len() > SKIPS_SHOWN {
        let _ = writeln!(
            err,
            "patina: … and {} more skipped (`patina scrape --json` lists them)",
            named.len() - SKIPS_SHOWN
        );
    }
}

/// The one-line summary: what was looked at, what changed, what the index holds, how long.
pub fn summary_line(root: &Path, s: &ScrapeSummary) -> String {
    format!(
        "scraped {}: {} files ({} changed, {} unchanged, {} skipped: {} binary, {} huge, {} unreadable), \
         {} removed, {} sections, {} bytes read, {:.3} s",
        root.display(),
        s.files,
        s.changed,
        s.unchanged,
        s.skipped,
        s.skipped_binary,
        s.skipped_huge,
        s.skipped_unreadable,
        s.removed,
        s.sections,
        s.bytes,
        s.seconds
    ) + if s.repaired_postings {
        "; the postings were damaged and are rebuilt"
    } else {
        ""
    }
}
