//! Directory watches for the index watcher ([`super::fresh`]): one non-recursive inotify(7)
//! watch per directory, through the `inotify` crate, and a thread that reads the kernel's
//! events and hands each to the watcher as a [`Change`]. Depends on `inotify` and `rustix`;
//! knows nothing of scrapes or projects.
//!
//! The watch descriptors are kept by descriptor and by path, so an event costs O(1) to
//! place, a deleted directory O(1) to forget (its `IN_IGNORED`), and a directory moved away
//! O(log n + k) for the k watches under it (a range of the ordered paths). The kernel drops
//! the watch of a directory that is deleted; a moved one keeps its watch but the paths
//! recorded for it and everything under it are stale, so they are removed here. Either way
//! the watcher is told ([`Change::Lost`]), so a directory made again at the same path is
//! watched again when a walk finds it.
//!
//! Why not the `notify` crate, which this replaced (session 11): notify 8.2's inotify backend
//! scans every watch for each deleted or moved directory (`remove_watch(path, true)`), so
//! deleting a tree of n watched directories costs O(n²) path comparisons, O(n³) for a deep
//! chain (8,100 directories: ~5 s of CPU; a chain 1,000 deep: 5.8 s), during which no event
//! is read; and it dropped a watch the kernel dropped without telling its caller, so a
//! directory replaced at the same path (`rm -rf d && mkdir d`, a `git checkout` that empties
//! and refills it) was never watched again.

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the kernel said about the watched directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Something at this path may have changed: created, written (`IN_MODIFY`,
    /// `IN_CLOSE_WRITE`), attributes, deleted, renamed from or to. Reads and opens are not
    /// watched (the scrape's own reads start nothing).
    Path(PathBuf),
    /// This directory is no longer watched: deleted, moved away, or its watch dropped by the
    /// kernel. A walk that finds a directory at this path again must watch it again.
    Lost(PathBuf),
    /// The kernel's event queue overflowed (`IN_Q_OVERFLOW`): events were lost, so everything
    /// must be looked at again, and every watch added again (a lost `IN_IGNORED` leaves a
    /// path recorded as watched that is not).
    Rescan,
}

/// Why [`DirWatcher::watch`] could not watch a directory.
#[derive(Debug)]
pub enum WatchError {
    /// The user's inotify watch limit is reached (`ENOSPC`: `fs.inotify.max_user_watches`).
    Limit,
    /// Anything else (the directory is gone, not a directory, unreadable).
    Other(io::Error),
}

/// The events a directory's watch asks for: every change of an entry, and of the directory
/// itself; not `IN_OPEN`, `IN_ACCESS` or `IN_CLOSE_NOWRITE`.
fn mask() -> WatchMask {
    WatchMask::ATTRIB
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::CLOSE_WRITE
        | WatchMask::MODIFY
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::DONT_FOLLOW
}

/// The watches held: each descriptor's directory, and each directory's descriptor.
#[derive(Default)]
struct Maps {
    by_wd: HashMap<WatchDescriptor, PathBuf>,
    /// Ordered by path components, so the directories under one are one range after it.
    by_path: BTreeMap<PathBuf, WatchDescriptor>,
}

impl Maps {
    /// Forgets the watches of `dir` and every directory under it, removing them from the
    /// kernel too; gives their paths. O(log n + k).
    fn drop_tree(&mut self, watches: &mut Watches, dir: &Path) -> Vec<PathBuf> {
        let under: Vec<PathBuf> = self
            .by_path
            .range(dir.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(dir))
            .map(|(p, _)| p.clone())
            .collect();
        for p in &under {
            if let Some(wd) = self.by_path.remove(p) {
                self.by_wd.remove(&wd);
                // Already gone from the kernel when the directory was deleted meanwhile.
                let _ = watches.remove(wd);
            }
        }
        under
    }
}

/// One inotify instance, its watches and the thread that reads its events. Dropping it stops
/// the thread (woken through an `eventfd(2)`) and closes the instance, which drops every
/// watch.
pub struct DirWatcher {
    watches: Watches,
    maps: Arc<Mutex<Maps>>,
    wake: Arc<OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn lock(maps: &Mutex<Maps>) -> MutexGuard<'_, Maps> {
    // The maps are only ever changed whole under the lock (no call that can panic midway),
    // so a poisoned lock still holds them consistent.
    maps.lock().unwrap_or_else(|e| e.into_inner())
}

impl DirWatcher {
    /// An inotify instance with no watch, and its reader thread (`fresh-inotify`), which
    /// calls `handler` for every [`Change`], never with a lock of this module held.
    /// Errors: inotify or the eventfd could not be created (`EMFILE`: the user's instance
    /// limit), or the thread could not be spawned.
    pub fn start(handler: impl FnMut(Change) + Send + 'static) -> io::Result<DirWatcher> {
        use rustix::event::{EventfdFlags, eventfd};
        let inotify = Inotify::init()?;
        let watches = inotify.watches();
        let maps = Arc::new(Mutex::new(Maps::default()));
        let wake = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
        let thread = {
            let maps = Arc::clone(&maps);
            let wake = Arc::clone(&wake);
            std::thread::Builder::new()
                .name("fresh-inotify".into())
                .spawn(move || read_events(inotify, &maps, &wake, handler))?
        };
        Ok(DirWatcher {
            watches,
            maps,
            wake,
            thread: Some(thread),
        })
    }

    /// Watches the directory `dir` (not what lies under it), or watches it again (the kernel
    /// gives the same descriptor for a directory already watched). When that descriptor was
    /// recorded under another path (the directory was moved there and its event not read
    /// yet), that path is no longer watched: it is given back, for the caller to forget.
    pub fn watch(&mut self, dir: &Path) -> Result<Option<PathBuf>, WatchError> {
        let wd = self.watches.add(dir, mask()).map_err(|e| {
            if e.raw_os_error() == Some(libc_enospc()) {
                WatchError::Limit
            } else {
                WatchError::Other(e)
            }
        })?;
        let mut maps = lock(&self.maps);
        let old = maps.by_wd.insert(wd.clone(), dir.to_path_buf());
        if let Some(previous) = maps.by_path.insert(dir.to_path_buf(), wd.clone())
            && previous != wd
        {
            // The path named another directory before (deleted, its IN_IGNORED not read yet).
            maps.by_wd.remove(&previous);
        }
        Ok(match old {
            Some(old) if old != dir => {
                if maps.by_path.get(&old) == Some(&wd) {
                    maps.by_path.remove(&old);
                }
                Some(old)
            }
            _ => None,
        })
    }

    /// Stops watching `dir` (nothing when it is not watched).
    pub fn unwatch(&mut self, dir: &Path) {
        let mut maps = lock(&self.maps);
        if let Some(wd) = maps.by_path.remove(dir) {
            maps.by_wd.remove(&wd);
            let _ = self.watches.remove(wd);
        }
    }

    /// How many directories are watched.
    pub fn len(&self) -> usize {
        lock(&self.maps).by_path.len()
    }

    /// Whether no directory is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        let _ = rustix::io::write(self.wake.as_fd(), &1u64.to_ne_bytes());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `ENOSPC`, which `inotify_add_watch(2)` returns at the user's watch limit.
fn libc_enospc() -> i32 {
    rustix::io::Errno::NOSPC.raw_os_error()
}

/// The reader thread: waits for events or the wake, places each event under the lock, then
/// hands the changes to `handler` with no lock held.
fn read_events(
    mut inotify: Inotify,
    maps: &Mutex<Maps>,
    wake: &OwnedFd,
    mut handler: impl FnMut(Change),
) {
    use rustix::event::{PollFd, PollFlags, poll};
    // Room for many events per read (each is 16 bytes and its name).
    let mut buffer = vec![0u8; 64 * 1024];
    let mut watches = inotify.watches();
    loop {
        let woken = {
            let mut fds = [
                PollFd::new(&inotify, PollFlags::IN),
                PollFd::new(wake, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Ok(_) => !fds[1].revents().is_empty(),
                Err(rustix::io::Errno::INTR) => false,
                Err(_) => true,
            }
        };
        if woken {
            return;
        }
        loop {
            let changes = match inotify.read_events(&mut buffer) {
                Ok(events) => {
                    let mut maps = lock(maps);
                    let mut changes = Vec::new();
                    for e in events {
                        place(&mut maps, &mut watches, &e, &mut changes);
                    }
                    changes
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Unreadable: look at everything again, and stop reading.
                Err(_) => {
                    handler(Change::Rescan);
                    return;
                }
            };
            for c in changes {
                handler(c);
            }
        }
    }
}

/// Turns one kernel event into changes, keeping the maps true.
fn place(
    maps: &mut Maps,
    watches: &mut Watches,
    e: &inotify::Event<&std::ffi::OsStr>,
    changes: &mut Vec<Change>,
) {
    if e.mask.contains(EventMask::Q_OVERFLOW) {
        changes.push(Change::Rescan);
        return;
    }
    // A descriptor already forgotten (removed here, or by a later watch of its path).
    let Some(dir) = maps.by_wd.get(&e.wd).cloned() else {
        return;
    };
    if e.mask.contains(EventMask::IGNORED) {
        // The kernel dropped the watch (the directory was deleted, or its file system
        // unmounted).
        maps.by_wd.remove(&e.wd);
        if maps.by_path.get(&dir) == Some(&e.wd) {
            maps.by_path.remove(&dir);
            changes.push(Change::Lost(dir));
        }
        return;
    }
    let path = match e.name {
        Some(name) => dir.join(name),
        None => dir.clone(),
    };
    // A directory moved away: its watch, and those under it, follow it to a path unknown
    // here. Its old parent's IN_MOVED_FROM names it; its own IN_MOVE_SELF comes too (and
    // alone when its parent is not watched: the project itself moved).
    let moved = if e.mask.contains(EventMask::MOVE_SELF) {
        Some(dir.clone())
    } else if e.mask.contains(EventMask::MOVED_FROM) && e.mask.contains(EventMask::ISDIR) {
        Some(path.clone())
    } else {
        None
    };
    changes.push(Change::Path(path));
    if let Some(moved) = moved {
        for p in maps.drop_tree(watches, &moved) {
            changes.push(Change::Lost(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn started() -> (DirWatcher, mpsc::Receiver<Change>) {
        let (tx, rx) = mpsc::channel();
        let w = DirWatcher::start(move |c| {
            let _ = tx.send(c);
        })
        .unwrap();
        (w, rx)
    }

    /// Waits for `want` among the changes (up to 10 s: the kernel's events come at once).
    fn wait_for(rx: &mpsc::Receiver<Change>, want: &Change) {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while std::time::Instant::now() < until {
            if let Ok(c) = rx.recv_timeout(Duration::from_millis(50)) {
                if &c == want {
                    return;
                }
                seen.push(c);
            }
        }
        panic!("never saw {want:?}; saw {seen:?}");
    }

    #[test]
    fn a_deleted_directory_is_lost_and_watched_again_when_made_again() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        std::fs::create_dir_all(d.join("e")).unwrap();
        let (mut w, rx) = started();
        for dir in [t.path(), &d, &d.join("e")] {
            assert!(w.watch(dir).unwrap().is_none());
        }
        std::fs::remove_dir_all(&d).unwrap();
        wait_for(&rx, &Change::Lost(d.join("e")));
        wait_for(&rx, &Change::Lost(d.clone()));
        assert_eq!(w.len(), 1, "only the root is watched");
        std::fs::create_dir(&d).unwrap();
        wait_for(&rx, &Change::Path(d.clone()));
        assert!(w.watch(&d).unwrap().is_none());
        std::fs::write(d.join("f.md"), "x").unwrap();
        wait_for(&rx, &Change::Path(d.join("f.md")));
    }

    #[test]
    fn a_moved_directory_and_those_under_it_are_lost_at_their_old_paths() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        std::fs::create_dir_all(d.join("e")).unwrap();
        std::fs::create_dir(t.path().join("dz")).unwrap();
        let (mut w, rx) = started();
        for dir in [t.path(), &d, &d.join("e"), &t.path().join("dz")] {
            w.watch(dir).unwrap();
        }
        let x = t.path().join("x");
        std::fs::rename(&d, &x).unwrap();
        wait_for(&rx, &Change::Lost(d.join("e")));
        // `dz` sorts after `d/e` and is not under `d`: kept.
        assert_eq!(w.len(), 2, "the root and dz");
        // Watched at the new path, the same directory gets the same descriptor.
        assert!(w.watch(&x).unwrap().is_none());
        std::fs::write(x.join("f.md"), "x").unwrap();
        wait_for(&rx, &Change::Path(x.join("f.md")));
    }

    #[test]
    fn a_directory_watched_under_a_new_name_gives_its_old_one_back() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        std::fs::create_dir(&d).unwrap();
        // Its parent is not watched and its own move event not read yet: the next watch
        // finds the descriptor under the old path.
        let (mut w, _rx) = started();
        w.watch(&d).unwrap();
        let x = t.path().join("x");
        std::fs::rename(&d, &x).unwrap();
        let old = w.watch(&x).unwrap();
        // Either the reader placed the move first (the old path already forgotten) or the
        // watch did; either way `d` is no longer recorded as watched.
        assert!(old.is_none() || old == Some(d.clone()), "{old:?}");
        let maps = lock(&w.maps);
        assert!(!maps.by_path.contains_key(&d));
        assert_eq!(maps.by_path.len(), maps.by_wd.len());
    }

    #[test]
    fn dropping_the_watcher_stops_its_thread() {
        // Drop joins the reader thread, which blocks in poll(2) until woken: a drop that
        // returns proves the wake reached it.
        let (w, _rx) = started();
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            drop(w);
            let _ = tx.send(());
        });
        done.recv_timeout(Duration::from_secs(10))
            .expect("the reader thread was never woken");
    }
}
