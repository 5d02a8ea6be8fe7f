//! Keeping indexes fresh while the daemon runs: one thread watches every directory a scrape
//! enters (inotify(7) through [`super::watch`], one non-recursive watch per directory, so
//! ignored trees such as `target/` cost nothing), gathers the changes, and after a short
//! quiet spell re-indexes the paths that changed ([`super::scrape::scrape_paths`]: those
//! paths and what lies under them are looked at again, the postings get a batch of the rows
//! changed, `postings::update`: a cost in proportion to the change, not to the
//! project). At start, when polled, or past the pending bound it runs the whole incremental
//! scrape ([`super::scrape_with_dirs`]: a `stat` walk of the tree, then the same batch). Depends on
//! [`super::watch`], [`crate::text`] and the rest of [`crate::scry`]; knows nothing of HTTP or the registry (the
//! daemon hands it a function listing the other projects to keep fresh).
//!
//! Rules:
//!
//! - Debounced: a batch is scraped [`QUIET`] after its last event, or [`MAX_DELAY`] after its
//!   first, whichever comes first; an editor's atomic save (write a temporary file, rename it
//!   over the old one), a delete, a rename (both names are changed paths), or a `git
//!   checkout` of thousands of files is one batch (or a few), and a scrape sees whatever the
//!   tree holds by then at those paths. Files that come and
//!   go during a scrape are named by it and caught by the next batch, which their events start.
//! - The pending set is bounded ([`MAX_PENDING`] paths per project): past it, or when the
//!   kernel's event queue overflows (`IN_Q_OVERFLOW`), the batch is a rescan of everything,
//!   which the incremental scrape always is anyway.
//! - After each scrape the watches follow the directories the walk entered: new directories
//!   are watched (and scraped once more, for files made before their watch), gone or newly
//!   ignored ones are dropped; a change to a `.gitignore` (or `.ignore`) makes its whole
//!   directory the scope (the project's own: everything), so what is ignored is evaluated
//!   again.
//! - Watches are bounded: [`FreshConfig::max_watches`] for the daemon (default half of
//!   `fs.inotify.max_user_watches`, at most [`DEFAULT_MAX_WATCHES`]), the served project
//!   first. A project that would pass it, or whose watch the kernel refuses (`ENOSPC`: the
//!   user's watch limit), is polled instead: an incremental scrape every
//!   [`FreshConfig::poll_every`], said in one log line and in its [`ProjectFreshness::mode`].
//! - All state is in [`Freshness`], a value the daemon owns; [`Freshness::stop`] ends the
//!   thread (waiting at most [`STOP_WAIT`] for a scrape in flight: a scrape left behind is one
//!   SQLite transaction, so the index stays whole).

use super::watch::{Change, DirWatcher, WatchError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// A batch is scraped this long after its last event.
pub const QUIET: Duration = Duration::from_millis(200);
/// … or this long after its first, whatever keeps coming.
pub const MAX_DELAY: Duration = Duration::from_millis(1000);
/// Distinct changed paths remembered per project; past that only "everything" is.
pub const MAX_PENDING: usize = 4096;
/// The most inotify watches the daemon takes when the kernel's limit is higher.
pub const DEFAULT_MAX_WATCHES: usize = 65_536;
/// Polling interval of projects that are not watched.
pub const DEFAULT_POLL_EVERY: Duration = Duration::from_secs(10);
/// How often the list of other projects (the registry) is read again.
pub const REFRESH_PROJECTS_EVERY: Duration = Duration::from_secs(10);
/// How long [`Freshness::stop`] waits for a scrape in flight.
pub const STOP_WAIT: Duration = Duration::from_secs(3);

/// How the daemon keeps its indexes fresh.
pub struct FreshConfig {
    /// The served project (canonical path): watched first.
    pub project: PathBuf,
    /// The other projects to keep fresh (the daemon's registry), read at start and every
    /// [`REFRESH_PROJECTS_EVERY`]; only those with an index are kept fresh.
    pub others: Box<dyn Fn() -> Vec<PathBuf> + Send>,
    /// The most inotify watches to take, all projects together.
    pub max_watches: usize,
    /// How often an unwatched project is scraped.
    pub poll_every: Duration,
}

impl FreshConfig {
    /// The bounds from the environment: `PATINA_WATCH_LIMIT` (watches; 0 = poll only),
    /// default half of `/proc/sys/fs/inotify/max_user_watches` and at most
    /// [`DEFAULT_MAX_WATCHES`]; `PATINA_POLL_SECS` (seconds, at least 1), default
    /// [`DEFAULT_POLL_EVERY`].
    pub fn from_env(project: PathBuf, others: Box<dyn Fn() -> Vec<PathBuf> + Send>) -> FreshConfig {
        let kernel = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(8192);
        let max_watches = std::env::var("PATINA_WATCH_LIMIT")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or((kernel / 2).min(DEFAULT_MAX_WATCHES));
        let poll_every = std::env::var("PATINA_POLL_SECS")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(DEFAULT_POLL_EVERY, |s| Duration::from_secs(s.max(1)));
        FreshConfig {
            project,
            others,
            max_watches,
            poll_every,
        }
    }
}

/// How a project is kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Not yet scraped by the watcher (the daemon just started).
    Starting,
    /// inotify watches on every directory the scrape enters.
    Watching,
    /// An incremental scrape every [`FreshConfig::poll_every`] (watch limit reached).
    Polling,
}

/// The freshness of one project's index: `GET /status`'s `freshness[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectFreshness {
    /// The project directory.
    pub project: String,
    /// `starting`, `watching` or `polling`.
    pub mode: Mode,
    /// Why the project is polled (the watch limit that was reached); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// inotify watches held for it (directories).
    pub watches: usize,
    /// Changed paths seen and not yet scraped (at most [`MAX_PENDING`]).
    pub pending_changes: usize,
    /// True when more changes came than are remembered (the next scrape covers them all).
    pub pending_overflow: bool,
    /// When the watcher's last scrape of it finished (RFC 3339, UTC); absent before one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
    /// Seconds since then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_since_update: Option<f64>,
    /// Wall time of that scrape, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scrape_ms: Option<f64>,
    /// Files that scrape indexed anew and removed.
    pub last_changed_files: u64,
    /// Scrapes the watcher ran for it.
    pub scrapes: u64,
    /// The index's generation after the last scrape (`postings_meta.generation`: what
    /// `scry --json` reports as `generation`); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The last scrape's error, one line; absent when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One project's state.
struct Project {
    root: PathBuf,
    mode: Mode,
    reason: Option<String>,
    /// Watched directories.
    watched: HashSet<PathBuf>,
    /// Directories the kernel stopped watching since the last sync of the watches (deleted,
    /// moved away): no longer in [`DirWatcher`], to be watched again if a walk finds them.
    lost: HashSet<PathBuf>,
    /// Every directory is watched again at the next sync (events were lost: a queue
    /// overflow, or more lost directories than [`MAX_PENDING`]).
    rewatch: bool,
    pending: HashSet<PathBuf>,
    overflow: bool,
    /// A scrape is due even without events (start, new directories, polling).
    due: Option<Instant>,
    /// The due scrape is the second walk at start, right after the first whole one checked
    /// the postings: it trusts them ([`super::scrape::rescrape_with_dirs`]).
    recheck: bool,
    first_event: Option<Instant>,
    last_event: Option<Instant>,
    last_update: Option<(SystemTime, Instant)>,
    last_scrape_ms: Option<f64>,
    last_changed: u64,
    scrapes: u64,
    generation: Option<i64>,
    last_error: Option<String>,
}

impl Project {
    fn new(root: PathBuf) -> Project {
        Project {
            root,
            mode: Mode::Starting,
            reason: None,
            watched: HashSet::new(),
            lost: HashSet::new(),
            rewatch: false,
            pending: HashSet::new(),
            overflow: false,
            due: Some(Instant::now()),
            recheck: false,
            first_event: None,
            last_event: None,
            last_update: None,
            last_scrape_ms: None,
            last_changed: 0,
            scrapes: 0,
            generation: None,
            last_error: None,
        }
    }

    /// When this project's next scrape is due, if one is.
    fn next_due(&self) -> Option<Instant> {
        let events = match (self.first_event, self.last_event) {
            (Some(first), Some(last)) => Some((last + QUIET).min(first + MAX_DELAY)),
            _ => None,
        };
        match (events, self.due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn report(&self) -> ProjectFreshness {
        ProjectFreshness {
            project: self.root.display().to_string(),
            mode: self.mode,
            reason: self.reason.clone(),
            watches: self.watched.len(),
            pending_changes: self.pending.len(),
            pending_overflow: self.overflow,
            last_update: self.last_update.map(|(t, _)| crate::text::utc_timestamp(t)),
            seconds_since_update: self.last_update.map(|(_, i)| i.elapsed().as_secs_f64()),
            last_scrape_ms: self.last_scrape_ms,
            last_changed_files: self.last_changed,
            scrapes: self.scrapes,
            generation: self.generation,
            last_error: self.last_error.clone(),
        }
    }
}

/// What the watcher thread and the event handler share.
#[derive(Default)]
struct State {
    /// The served project first.
    projects: Vec<Project>,
    stop: bool,
    /// Watches held, all projects.
    watches: usize,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    /// The state under the poisoned-lock policy (architecture.md, "Poisoned locks"): a panic
    /// while it was held may have left it half-changed, so it is never used as it was — every
    /// project is dropped and the watcher told to stop (it claims no freshness it cannot
    /// vouch for; searches still read the index as the last scrape left it).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| {
            let mut st = poisoned.into_inner();
            st.projects.clear();
            st.stop = true;
            self.state.clear_poison();
            self.wake.notify_all();
            st
        })
    }
}

/// The daemon's freshness state and its watcher thread: a value the daemon owns (its
/// `Ctx`), never a process static. Inert until [`Freshness::start`].
#[derive(Default)]
pub struct Freshness {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Freshness")
            .field("projects", &self.shared.lock().projects.len())
            .finish()
    }
}

impl Freshness {
    /// Starts the watcher thread for `cfg`: scrapes every project once (incrementally), then
    /// watches or polls them. Errors: the thread could not be spawned. A watcher that cannot
    /// be created (no inotify) leaves every project polled, said in the log.
    pub fn start(&self, cfg: FreshConfig) -> std::io::Result<()> {
        self.shared.lock().projects = vec![Project::new(cfg.project.clone())];
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name("fresh".into())
            .spawn(move || run(&shared, cfg))?;
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    /// The freshness of every project kept fresh, the served one first; empty before
    /// [`Freshness::start`].
    pub fn report(&self) -> Vec<ProjectFreshness> {
        self.shared
            .lock()
            .projects
            .iter()
            .map(Project::report)
            .collect()
    }

    /// Stops the thread and drops every watch; waits at most [`STOP_WAIT`] for a scrape in
    /// flight (which, left behind, ends with the process: one uncommitted transaction).
    pub fn stop(&self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            let until = Instant::now() + STOP_WAIT;
            while !h.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Freshness {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Records a change the kernel reported (called on the watch thread, [`DirWatcher`]). Reads
/// and opens (the scrape's own among them) are not watched, so every change may matter.
fn on_event(shared: &Shared, change: Change) {
    let (path, lost) = match change {
        Change::Path(p) => (Some(p), false),
        Change::Lost(p) => (Some(p), true),
        Change::Rescan => (None, false),
    };
    let rescan = path.is_none();
    let now = Instant::now();
    let mut state = shared.lock();
    let mut touched = false;
    for p in state.projects.iter_mut() {
        // `.git/info/exclude` is an ignore file of the whole project: everything is scoped.
        let exclude = path
            .as_ref()
            .is_some_and(|path| *path == p.root.join(GIT_EXCLUDE));
        let whole = exclude.then(|| p.root.clone());
        // A lost `.git/info` (the project replaced) must be watched again: lost directories
        // are recorded wherever they are, changes only outside `.git` and `.patina`.
        if let Some(path) = path.as_ref().filter(|q| lost && q.starts_with(&p.root)) {
            if p.lost.len() < MAX_PENDING {
                p.lost.insert(path.clone());
            } else {
                p.rewatch = true;
            }
        }
        let mine = whole.as_ref().or(path
            .as_ref()
            .filter(|path| path.starts_with(&p.root) && !in_state_dirs(&p.root, path)));
        // A queue overflow names no path: every project rescans.
        if mine.is_none() && !rescan {
            continue;
        }
        if let Some(path) = mine {
            if p.pending.len() < MAX_PENDING {
                p.pending.insert(path.clone());
            } else {
                p.overflow = true;
            }
        }
        if rescan {
            p.overflow = true;
            p.rewatch = true;
        }
        p.first_event.get_or_insert(now);
        p.last_event = Some(now);
        touched = true;
    }
    drop(state);
    if touched {
        shared.wake.notify_all();
    }
}

/// Git's own ignore file of a repository (gitignore(5)), which a scrape honours like a
/// `.gitignore` at the root: its directory is watched too, and a change of it scopes the
/// next scrape to everything.
const GIT_EXCLUDE: &str = ".git/info/exclude";

/// `.git` and `.patina` under `root` (their entries in the root directory included): never
/// indexed, so their changes start no scrape.
fn in_state_dirs(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root)
        .ok()
        .and_then(|rel| rel.components().next())
        .is_some_and(|c| c.as_os_str() == ".git" || c.as_os_str() == ".patina")
}

/// The watcher thread.
fn run(shared: &Arc<Shared>, cfg: FreshConfig) {
    let handler = {
        let shared = Arc::clone(shared);
        move |change| on_event(&shared, change)
    };
    let mut watcher = match DirWatcher::start(handler) {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!(
                "patina: cannot watch files ({e}); polling every {} s instead",
                cfg.poll_every.as_secs()
            );
            None
        }
    };
    let mut next_refresh = Instant::now();
    loop {
        // The other projects, now and then.
        if Instant::now() >= next_refresh {
            let others: Vec<PathBuf> = (cfg.others)()
                .into_iter()
                .filter(|p| *p != cfg.project && super::db_exists(p))
                .collect();
            let mut state = shared.lock();
            let mut dropped = Vec::new();
            let mut at = 1;
            while at < state.projects.len() {
                if others.contains(&state.projects[at].root) {
                    at += 1;
                } else {
                    dropped.extend(state.projects.remove(at).watched);
                }
            }
            for root in others {
                if !state.projects.iter().any(|p| p.root == root) {
                    state.projects.push(Project::new(root));
                }
            }
            state.watches = state.projects.iter().map(|p| p.watched.len()).sum();
            drop(state);
            // Never call into the watcher with the lock held (see [`sync_watches`]).
            if let Some(w) = watcher.as_mut() {
                for d in &dropped {
                    w.unwatch(d);
                }
            }
            next_refresh = Instant::now() + REFRESH_PROJECTS_EVERY;
        }
        // Wait for the first due project, the next refresh, or stop.
        let due = {
            let mut state = shared.lock();
            loop {
                if state.stop {
                    return;
                }
                let now = Instant::now();
                let next = state
                    .projects
                    .iter()
                    .filter_map(Project::next_due)
                    .min()
                    .map_or(next_refresh, |d| d.min(next_refresh));
                if next <= now {
                    break;
                }
                state = shared
                    .wake
                    .wait_timeout(state, next - now)
                    .unwrap_or_else(|poisoned| {
                        // The poisoned-lock policy, as in `Shared::lock`: stop.
                        let (mut st, t) = poisoned.into_inner();
                        st.projects.clear();
                        st.stop = true;
                        (st, t)
                    })
                    .0;
            }
            let now = Instant::now();
            let mut due = Vec::new();
            for p in state.projects.iter_mut() {
                if p.next_due().is_some_and(|d| d <= now) {
                    // Only the paths changed, when they are all known and the project is
                    // watched; else everything (start, polling, overflow).
                    let whole = p.overflow || p.mode != Mode::Watching || p.due.is_some();
                    let trust = whole && std::mem::take(&mut p.recheck);
                    let paths: Vec<PathBuf> = p.pending.drain().collect();
                    p.overflow = false;
                    p.first_event = None;
                    p.last_event = None;
                    p.due = (p.mode == Mode::Polling).then(|| now + cfg.poll_every);
                    due.push((p.root.clone(), (!whole).then_some(paths), trust));
                }
            }
            due
        };
        for (root, paths, trust) in due {
            if shared.lock().stop {
                return;
            }
            scrape_one(shared, &cfg, watcher.as_mut(), &root, paths, trust);
        }
    }
}

/// Scrapes one project (`changed`: only those paths; else everything, trusting the postings
/// when `trust`), records the outcome and brings its watches in line with the walk.
fn scrape_one(
    shared: &Shared,
    cfg: &FreshConfig,
    watcher: Option<&mut DirWatcher>,
    root: &Path,
    changed: Option<Vec<PathBuf>>,
    trust: bool,
) {
    let t = Instant::now();
    let outcome = match &changed {
        // A scoped scrape that fails (its index rebuilt meanwhile, say) is tried whole.
        Some(paths) => super::scrape::scrape_paths(root, paths).or_else(|_| whole(root, false)),
        None => whole(root, trust),
    };
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let generation = super::index_generation(root);
    let (dirs, scopes) = match outcome {
        Ok(super::scrape::ScopedScrape {
            summary,
            dirs,
            scopes,
        }) => {
            let mut state = shared.lock();
            if let Some(p) = state.projects.iter_mut().find(|p| p.root == root) {
                p.last_update = Some((SystemTime::now(), Instant::now()));
                p.last_scrape_ms = Some(ms);
                p.last_changed = summary.changed + summary.removed;
                p.scrapes += 1;
                p.generation = generation;
                p.last_error = None;
            }
            (dirs, scopes)
        }
        Err(e) => {
            let mut state = shared.lock();
            if let Some(p) = state.projects.iter_mut().find(|p| p.root == root) {
                // Watches the kernel dropped meanwhile (the project deleted) are not held:
                // `status` counts what is watched, not what was.
                for d in std::mem::take(&mut p.lost) {
                    p.watched.remove(&d);
                }
                p.scrapes += 1;
                p.last_error = Some(format!("{e:#}").replace('\n', " "));
                // Try again at the next poll interval, events or not.
                p.due = Some(Instant::now() + cfg.poll_every);
            }
            state.watches = state.projects.iter().map(|p| p.watched.len()).sum();
            return;
        }
    };
    sync_watches(shared, cfg, watcher, root, dirs, scopes.as_deref());
}

/// [`super::scrape_with_dirs`] (or, when `trust`, [`super::scrape::rescrape_with_dirs`]) as
/// a [`super::scrape::ScopedScrape`] of everything.
fn whole(root: &Path, trust: bool) -> Result<super::scrape::ScopedScrape, super::ScrapeError> {
    let (summary, dirs) = if trust {
        super::scrape::rescrape_with_dirs(root)?
    } else {
        super::scrape_with_dirs(root)?
    };
    Ok(super::scrape::ScopedScrape {
        summary,
        dirs,
        scopes: None,
    })
}

/// Watches exactly `dirs` for the project at `root` (after a scoped scrape: the directories
/// watched outside its `scopes`, and `dirs`), within the daemon's bound; past it (or at the
/// kernel's limit) the project is polled instead, and said so once in the log.
///
/// Directories the kernel stopped watching since the last sync ([`Change::Lost`]) are watched
/// again when the walk found them; after lost events (a queue overflow), every directory is.
///
/// The state lock is never held while calling into the [`DirWatcher`] (a rule kept from
/// notify, whose `watch` waited for its event thread, which may wait for that lock in
/// [`on_event`]).
fn sync_watches(
    shared: &Shared,
    cfg: &FreshConfig,
    watcher: Option<&mut DirWatcher>,
    root: &Path,
    dirs: Vec<PathBuf>,
    scopes: Option<&[PathBuf]>,
) {
    let (others, mut watched, rewatch) = {
        let mut state = shared.lock();
        let others: usize = state
            .projects
            .iter()
            .filter(|p| p.root != root)
            .map(|p| p.watched.len())
            .sum();
        match state.projects.iter_mut().find(|p| p.root == root) {
            Some(p) if p.mode != Mode::Polling => {
                let mut watched = p.watched.clone();
                for d in std::mem::take(&mut p.lost) {
                    watched.remove(&d);
                }
                (others, watched, std::mem::take(&mut p.rewatch))
            }
            _ => return,
        }
    };
    let Some(w) = watcher else {
        fall_back(shared, cfg, root, "inotify is not available".into());
        return;
    };
    let mut wanted: HashSet<PathBuf> = dirs.into_iter().collect();
    let info = root.join(GIT_EXCLUDE).parent().map(Path::to_path_buf);
    let info = info.filter(|d| d.is_dir());
    if let Some(info) = &info {
        wanted.insert(info.clone());
    }
    if let Some(scopes) = scopes {
        wanted.extend(
            watched
                .iter()
                .filter(|d| !scopes.iter().any(|s| d.starts_with(s)))
                .cloned(),
        );
    }
    if others + wanted.len() > cfg.max_watches {
        for d in watched.drain() {
            w.unwatch(&d);
        }
        let left = cfg.max_watches.saturating_sub(others);
        let why = if cfg.max_watches == 0 {
            format!(
                "watching is off (PATINA_WATCH_LIMIT=0; {} directories to watch)",
                wanted.len()
            )
        } else {
            format!(
                "the watch limit is reached ({} directories to watch, {left} of {} watches left)",
                wanted.len(),
                cfg.max_watches
            )
        };
        fall_back(shared, cfg, root, why);
        return;
    }
    let stale: Vec<PathBuf> = watched.difference(&wanted).cloned().collect();
    for d in stale {
        w.unwatch(&d);
        watched.remove(&d);
    }
    // Events were lost: every directory is watched again (the kernel gives a watched one
    // its descriptor again), so none is left recorded as watched that is not.
    let previously = if rewatch {
        std::mem::take(&mut watched)
    } else {
        HashSet::new()
    };
    // Directories watched by this sync that were not before (files made in them before
    // their watch are for one more scrape), and whether `.git/info` is one of them.
    let mut new: Vec<PathBuf> = Vec::new();
    let mut info_anew = false;
    for d in &wanted {
        if watched.contains(d) {
            continue;
        }
        match w.watch(d) {
            Ok(moved_from) => {
                if let Some(old) = moved_from {
                    watched.remove(&old);
                }
                watched.insert(d.clone());
                if !previously.contains(d) {
                    info_anew |= info.as_ref() == Some(d);
                    new.push(d.clone());
                }
            }
            Err(WatchError::Limit) => {
                let held = others + watched.len();
                for d in watched.drain() {
                    w.unwatch(&d);
                }
                let why = format!(
                    "the kernel's inotify watch limit is reached (fs.inotify.max_user_watches, after {held} watches)"
                );
                fall_back(shared, cfg, root, why);
                return;
            }
            // Gone since the walk: its removal is an event of its parent.
            Err(_) => {}
        }
    }
    let mut state = shared.lock();
    let Some(p) = state.projects.iter_mut().find(|p| p.root == root) else {
        // Unregistered meanwhile: its watches go.
        drop(state);
        for d in &watched {
            w.unwatch(d);
        }
        return;
    };
    // `.git/info` watched anew (made again, or the project replaced): its exclude file may
    // have changed unseen, so everything is looked at again.
    if info_anew && p.mode != Mode::Starting {
        p.overflow = true;
        p.first_event.get_or_insert(Instant::now());
        p.last_event = Some(Instant::now());
    }
    // Files made in a new directory before its watch: one more scrape of it finds them.
    if !new.is_empty() {
        let now = Instant::now();
        if p.mode == Mode::Starting {
            p.due = Some(now + QUIET);
            p.recheck = true;
        } else {
            for d in new {
                if p.pending.len() < MAX_PENDING {
                    p.pending.insert(d);
                } else {
                    p.overflow = true;
                }
            }
            p.first_event.get_or_insert(now);
            p.last_event = Some(now);
        }
    }
    p.watched = watched;
    p.mode = Mode::Watching;
    state.watches = state.projects.iter().map(|p| p.watched.len()).sum();
}

/// The project at `root` is polled from now on (its watches already dropped), said in one
/// log line and in its status.
fn fall_back(shared: &Shared, cfg: &FreshConfig, root: &Path, why: String) {
    eprintln!(
        "patina: {}: {why}; polling it every {} s instead",
        root.display(),
        cfg.poll_every.as_secs()
    );
    let mut state = shared.lock();
    if let Some(p) = state.projects.iter_mut().find(|p| p.root == root) {
        p.watched.clear();
        p.mode = Mode::Polling;
        p.reason = Some(why);
        p.due = Some(Instant::now() + cfg.poll_every);
    }
    state.watches = state.projects.iter().map(|p| p.watched.len()).sum();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_state_stops_the_watcher_and_claims_no_freshness() {
        let shared = Arc::new(Shared::default());
        shared.lock().projects = vec![Project::new(PathBuf::from("/p"))];
        let s = Arc::clone(&shared);
        let _ = std::thread::spawn(move || {
            let _st = s.state.lock();
            panic!("injected fault while holding the watcher's state");
        })
        .join();
        assert!(shared.state.is_poisoned());
        let st = shared.lock();
        assert!(st.stop, "the watcher is told to stop");
        assert!(st.projects.is_empty(), "no freshness is reported");
        drop(st);
        assert!(!shared.state.is_poisoned());
    }

    #[test]
    fn the_pending_set_is_bounded_and_overflow_means_rescan_everything() {
        let shared = Shared::default();
        let root = PathBuf::from("/p");
        shared.lock().projects = vec![Project::new(root.clone())];
        for i in 0..(MAX_PENDING + 500) {
            on_event(&shared, Change::Path(root.join(format!("f{i}"))));
        }
        // .git and .patina, and other trees are not changes.
        on_event(&shared, Change::Path(root.join(".git/index")));
        on_event(&shared, Change::Path(root.join(".patina/index.db")));
        on_event(&shared, Change::Path(PathBuf::from("/elsewhere/y")));
        {
            let state = shared.lock();
            let p = &state.projects[0];
            assert_eq!(p.pending.len(), MAX_PENDING);
            assert!(p.overflow);
            assert!(!p.rewatch, "no event was lost");
        }
        // A queue overflow names no path and marks every project: rescan, watch again.
        shared.lock().projects[0].overflow = false;
        on_event(&shared, Change::Rescan);
        let state = shared.lock();
        assert!(state.projects[0].overflow);
        assert!(state.projects[0].rewatch);
    }

    #[test]
    fn a_lost_directory_is_remembered_for_the_next_sync_and_scraped_again() {
        let shared = Shared::default();
        let root = PathBuf::from("/p");
        let mut p = Project::new(root.clone());
        p.watched.insert(root.join("d"));
        shared.lock().projects = vec![p];
        on_event(&shared, Change::Lost(root.join("d")));
        on_event(&shared, Change::Lost(PathBuf::from("/elsewhere/d")));
        // `.git/info` is remembered as lost (to be watched again), but is no change to scrape.
        on_event(&shared, Change::Lost(root.join(".git/info")));
        let state = shared.lock();
        let p = &state.projects[0];
        assert_eq!(
            p.lost,
            HashSet::from([root.join("d"), root.join(".git/info")])
        );
        assert!(p.pending.contains(&root.join("d")));
        assert!(!p.pending.contains(&root.join(".git/info")));
        assert!(!p.rewatch);
    }

    #[test]
    fn a_batch_waits_for_quiet_but_never_past_the_most_delay() {
        let mut p = Project::new(PathBuf::from("/p"));
        p.due = None;
        let t = Instant::now();
        p.first_event = Some(t);
        p.last_event = Some(t);
        assert_eq!(p.next_due(), Some(t + QUIET));
        // Events keep coming: still due MAX_DELAY after the first.
        p.last_event = Some(t + MAX_DELAY);
        assert_eq!(p.next_due(), Some(t + MAX_DELAY));
    }

    #[test]
    fn stop_ends_the_thread_and_drops_the_watches() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a.md"), "# A\nwords\n").unwrap();
        let fresh = Freshness::default();
        fresh
            .start(FreshConfig {
                project: t.path().to_path_buf(),
                others: Box::new(Vec::new),
                max_watches: 100,
                poll_every: Duration::from_secs(60),
            })
            .unwrap();
        let started = Instant::now();
        while fresh.report()[0].mode != Mode::Watching {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{:?}",
                fresh.report()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        fresh.stop();
        assert!(
            fresh.thread.lock().unwrap().is_none(),
            "the thread was joined"
        );
        assert!(fresh.shared.lock().stop);
    }
}
