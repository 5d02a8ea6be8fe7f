//! A fixed pool of worker threads that accept their own connections and serve queued ones
//! first: the concurrency gate of one listener (requirements §4). Threads are spawned once at
//! start-up, never per connection.
//!
//! Leader/follower dispatch: an idle worker waits in `epoll_wait(2)` on the (non-blocking)
//! listener and, when a connection arrives, accepts it and serves it itself, so the common
//! request is accepted, read and answered by one thread with no hand-off between threads
//! (measured: the accept thread → worker hand-off was ~20% of the daemon's samples at 8
//! clients; `layer/core/performance.md`). Each worker has its own epoll instance with the
//! listener registered `EPOLLEXCLUSIVE`, in worker order: the kernel wakes the first
//! registration that has a thread waiting, so a lightly loaded daemon serves everything on
//! worker 0, whose caches are warm, and a connection wakes exactly one thread.
//!
//! The queue holds jobs given by other threads ([`Pool::try_submit`]: the listener's accept
//! thread while every worker is busy, the waiting thread once a slow head is complete); a
//! worker takes the oldest queued job before it accepts, and a submit wakes one sleeping
//! worker through an `eventfd(2)` registered like the listener. Whoever registers on the
//! listener after [`Pool::new`] returns is woken only when no worker is waiting: that is how
//! the accept thread (`ready.rs`) takes over, and answers 503, only while all are busy.

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, EventData, EventFlags};
use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What one non-blocking accept attempt of a worker found.
pub enum Accepted<J> {
    /// A connection to serve.
    Job(J),
    /// Nothing waits on the listener: the worker may sleep.
    Empty,
    /// A connection was taken and needs nothing more (refused by the peer check, or the
    /// accept failed and the caller backed off): look again at once.
    Again,
}

/// How a pool is set up: see [`Pool::new`].
pub struct Spec<'a> {
    /// Threads are named `{name}-{i}`.
    pub name: &'a str,
    /// Worker threads (at least one is started).
    pub workers: usize,
    /// Jobs that may wait in the queue.
    pub queue: usize,
    /// The listening socket the workers accept from, in non-blocking mode.
    pub listener: BorrowedFd<'a>,
    /// Set when the daemon stops.
    pub stop: Arc<AtomicBool>,
    /// Runs on a worker before each sleep and once at exit.
    pub idle: fn(),
}

/// A pool of `workers` threads that serve queued jobs (at most `queue` waiting) and, when
/// none is queued, accept and serve jobs of their own.
pub struct Pool<J: Send + 'static> {
    shared: Arc<Shared<J>>,
    handles: Vec<JoinHandle<()>>,
}

struct Shared<J> {
    jobs: Mutex<VecDeque<J>>,
    /// Jobs in `jobs` (read without the lock; see [`Pool::try_submit`] for the ordering).
    queued: Arc<AtomicUsize>,
    cap: usize,
    /// Workers about to wait or waiting in `epoll_wait`.
    sleeping: AtomicUsize,
    /// `eventfd(2)`: readable while a submitted job may be waiting for a sleeping worker.
    wake: OwnedFd,
    /// Set when the pool stops: workers run what is queued, then exit.
    stop: Arc<AtomicBool>,
}

impl<J> Shared<J> {
    fn pop(&self) -> Option<J> {
        if self.queued.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut jobs = self.jobs.lock().ok()?;
        let job = jobs.pop_front()?;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        Some(job)
    }

    fn notify(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

thread_local! {
    /// On a worker: its pool's count of queued jobs, for [`queue_is_empty`].
    static QUEUED: std::cell::RefCell<Option<Arc<AtomicUsize>>> = const { std::cell::RefCell::new(None) };
}

/// On a worker thread: true when no job is waiting in its pool's queue (nobody would wait on
/// this worker if it did something slow now, such as writing its log buffer). Elsewhere
/// always true.
pub fn queue_is_empty() -> bool {
    QUEUED.with(|q| {
        q.borrow()
            .as_ref()
            .is_none_or(|n| n.load(Ordering::Relaxed) == 0)
    })
}

/// The keys of a worker's epoll registrations.
const LISTENER: u64 = 0;
const JOBS: u64 = 1;

/// Registers `fd` for readability on `ep`, `EPOLLEXCLUSIVE` (Linux 4.5+; without it every
/// waiter wakes, which is slower but still correct).
pub(super) fn add_exclusive(ep: &OwnedFd, fd: BorrowedFd<'_>, key: u64) -> std::io::Result<()> {
    let data = EventData::new_u64(key);
    epoll::add(ep, fd, data, EventFlags::IN | EventFlags::EXCLUSIVE)
        .or_else(|_| epoll::add(ep, fd, data, EventFlags::IN))
        .map_err(std::io::Error::from)
}

impl<J: Send + 'static> Pool<J> {
    /// Spawns `spec.workers` threads named `{name}-{i}` (with Rust's default 2 MiB stack:
    /// only the pages a thread touches count in RSS). A worker runs `work(job)` for each
    /// queued job and, when none is queued, for each job `accept()` gives (one non-blocking
    /// attempt on `listener`); it sleeps while `listener` has nothing and nothing is queued. A panic in `accept` or `work` is caught, so the worker
    /// survives. `idle()` runs before each sleep and once at exit: the place to write out
    /// what the worker buffered (the request log, [`super::log`]). Once `stop` is set (and
    /// the workers woken: `shutdown(2)` of the listener, or [`Pool::shutdown`]) the workers
    /// accept no more, run what is queued and exit.
    ///
    /// Every worker's epoll registration on `listener` is made before this returns, so one
    /// made afterwards (the accept thread's) is woken only when no worker waits.
    pub fn new<A, F>(spec: Spec<'_>, accept: A, work: F) -> std::io::Result<Pool<J>>
    where
        A: Fn() -> Accepted<J> + Send + Sync + 'static,
        F: Fn(J) + Send + Sync + 'static,
    {
        use rustix::event::{EventfdFlags, eventfd};
        let Spec {
            name,
            workers,
            queue,
            listener,
            stop,
            idle,
        } = spec;
        let shared = Arc::new(Shared {
            jobs: Mutex::new(VecDeque::with_capacity(queue)),
            queued: Arc::new(AtomicUsize::new(0)),
            cap: queue,
            sleeping: AtomicUsize::new(0),
            wake: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            stop,
        });
        // The registrations first, in worker order, on this thread: the order in which the
        // kernel offers a connection to waiting workers.
        let mut eps = Vec::with_capacity(workers.max(1));
        for _ in 0..workers.max(1) {
            let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
            add_exclusive(&ep, listener, LISTENER)?;
            add_exclusive(&ep, shared.wake.as_fd(), JOBS)?;
            eps.push(ep);
        }
        let accept = Arc::new(accept);
        let work = Arc::new(work);
        let mut handles = Vec::with_capacity(eps.len());
        for (i, ep) in eps.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let accept = Arc::clone(&accept);
            let work = Arc::clone(&work);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || worker(&shared, &ep, &*accept, &*work, idle))?,
            );
        }
        Ok(Pool { shared, handles })
    }

    /// Queues a job without blocking and wakes a sleeping worker for it; gives it back when
    /// `queue` jobs are already waiting or the pool is stopping (→ 503).
    pub fn try_submit(&self, job: J) -> Result<(), J> {
        let sh = &self.shared;
        if sh.stop.load(Ordering::SeqCst) {
            return Err(job);
        }
        {
            let Ok(mut jobs) = sh.jobs.lock() else {
                return Err(job);
            };
            if jobs.len() >= sh.cap {
                return Err(job);
            }
            jobs.push_back(job);
            sh.queued.fetch_add(1, Ordering::SeqCst);
        }
        // A worker counts itself sleeping, then looks at the queue, then sleeps; this side
        // counts the job, then looks at the sleepers (both sequentially consistent): either
        // the worker sees the job, or this side sees the worker and wakes one.
        if sh.sleeping.load(Ordering::SeqCst) > 0 {
            sh.notify();
        }
        Ok(())
    }

    /// Stops taking jobs, lets the queued and running ones finish, and joins the workers,
    /// waiting at most `grace`. Returns false if some were still running at the deadline
    /// (they are left to die with the process).
    pub fn shutdown(mut self, grace: std::time::Duration) -> bool {
        self.stop_workers();
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if self.handles.iter().all(|h| h.is_finished()) {
                for h in self.handles.drain(..) {
                    let _ = h.join();
                }
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        false
    }

    fn stop_workers(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes one sleeping worker; each worker that exits wakes the next.
        self.shared.notify();
    }
}

impl<J: Send + 'static> Drop for Pool<J> {
    /// A pool dropped without [`Pool::shutdown`] lets its workers exit too.
    fn drop(&mut self) {
        self.stop_workers();
    }
}

/// A worker's loop: the oldest queued job, else one accepted from the listener, else sleep
/// until either has something.
fn worker<J>(
    sh: &Shared<J>,
    ep: &OwnedFd,
    accept: &(dyn Fn() -> Accepted<J> + Sync),
    work: &(dyn Fn(J) + Sync),
    idle: fn(),
) {
    QUEUED.with(|q| *q.borrow_mut() = Some(Arc::clone(&sh.queued)));
    let mut events: Vec<epoll::Event> = Vec::with_capacity(2);
    loop {
        if let Some(job) = sh.pop() {
            let _ = catch_unwind(AssertUnwindSafe(|| work(job)));
            continue;
        }
        if sh.stop.load(Ordering::SeqCst) {
            break;
        }
        match catch_unwind(AssertUnwindSafe(accept)) {
            Ok(Accepted::Job(job)) => {
                let _ = catch_unwind(AssertUnwindSafe(|| work(job)));
                continue;
            }
            Ok(Accepted::Again) | Err(_) => continue,
            Ok(Accepted::Empty) => {}
        }
        idle();
        sh.sleeping.fetch_add(1, Ordering::SeqCst);
        if sh.queued.load(Ordering::SeqCst) > 0 || sh.stop.load(Ordering::SeqCst) {
            sh.sleeping.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        events.clear();
        let waited = epoll::wait(ep, spare_capacity(&mut events), None);
        sh.sleeping.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                // Cannot happen for an epoll instance we own; never spin on it.
                eprintln!("patina: epoll_wait failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if events.iter().any(|e| e.data.u64() == JOBS) {
            // Consumed here: the job itself is taken from the queue at the loop's top.
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&sh.wake, &mut buf);
        }
    }
    // Wake the next sleeping worker, so that every one of them sees the stop.
    sh.notify();
    idle();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::sync::atomic::AtomicU32;
    use std::time::{Duration, Instant};

    /// A listener in non-blocking mode in a temp dir, and an accept function over it whose
    /// jobs are the accepted connections.
    fn listener() -> (tempfile::TempDir, std::path::PathBuf, Arc<UnixListener>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let l = UnixListener::bind(&path).unwrap();
        l.set_nonblocking(true).unwrap();
        (dir, path, Arc::new(l))
    }

    fn accept_from(l: &Arc<UnixListener>) -> impl Fn() -> Accepted<UnixStream> + use<> {
        let l = Arc::clone(l);
        move || match l.accept() {
            Ok((s, _)) => Accepted::Job(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Accepted::Empty,
            Err(_) => Accepted::Again,
        }
    }

    fn until(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn no_accept<J>() -> Accepted<J> {
        Accepted::Empty
    }

    fn no_idle() {}

    fn spec<'a>(
        name: &'a str,
        workers: usize,
        queue: usize,
        l: &'a UnixListener,
        idle: fn(),
    ) -> Spec<'a> {
        Spec {
            name,
            workers,
            queue,
            listener: l.as_fd(),
            stop: Arc::new(AtomicBool::new(false)),
            idle,
        }
    }

    #[test]
    fn full_queue_gives_the_job_back_and_panics_keep_workers() {
        use std::sync::mpsc::{Receiver, channel};
        enum Job {
            Panic,
            Block(Receiver<()>),
            Count,
        }
        let (_dir, _path, l) = listener();
        let done = Arc::new(AtomicU32::new(0));
        let (started_tx, started_rx) = channel::<()>();
        let started_tx = Mutex::new(started_tx);
        let d = Arc::clone(&done);
        let pool = Pool::new(spec("t", 1, 1, &l, no_idle), no_accept, move |job: Job| {
            let _ = started_tx.lock().unwrap().send(());
            match job {
                Job::Panic => panic!("boom"),
                Job::Block(rx) => {
                    let _ = rx.recv();
                }
                Job::Count => {}
            }
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        assert!(pool.try_submit(Job::Panic).is_ok());
        started_rx.recv().unwrap();
        let (release, blocked) = channel();
        assert!(pool.try_submit(Job::Block(blocked)).is_ok());
        started_rx.recv().unwrap(); // the single worker survived the panic and is busy now
        assert!(pool.try_submit(Job::Count).is_ok(), "queued");
        assert!(pool.try_submit(Job::Count).is_err(), "queue of 1 is full");
        release.send(()).unwrap();
        assert!(pool.shutdown(Duration::from_secs(10)));
        assert_eq!(done.load(Ordering::SeqCst), 2);
    }

    /// Workers accept and serve connections themselves; with every worker asleep, each
    /// connection goes to worker 0 (the first registration on the listener), and while
    /// worker 0 is busy the next goes to another worker. Queued jobs also go to worker 0
    /// first.
    #[test]
    fn workers_accept_themselves_and_a_lightly_loaded_pool_uses_worker_0() {
        use std::sync::mpsc::channel;
        let (_dir, path, l) = listener();
        let (ran_tx, ran_rx) = channel::<String>();
        let ran_tx = Mutex::new(ran_tx);
        let pool = Pool::new(
            spec("w", 3, 4, &l, no_idle),
            accept_from(&l),
            move |mut s: UnixStream| {
                let name = std::thread::current().name().unwrap_or("").to_string();
                let _ = ran_tx.lock().unwrap().send(name);
                // Held until the client closes.
                let mut b = [0u8; 1];
                let _ = s.read(&mut b);
                let _ = s.write_all(b"done");
            },
        )
        .unwrap();
        let all_asleep = || pool.shared.sleeping.load(Ordering::SeqCst) == 3;
        until("the workers never slept", all_asleep);
        for _ in 0..20 {
            let c = UnixStream::connect(&path).unwrap();
            assert_eq!(ran_rx.recv().unwrap(), "w-0");
            drop(c);
            until("the workers never slept again", all_asleep);
        }
        // While worker 0 is busy, the next connection goes to another worker.
        let held = UnixStream::connect(&path).unwrap();
        assert_eq!(ran_rx.recv().unwrap(), "w-0");
        let other = UnixStream::connect(&path).unwrap();
        assert_ne!(ran_rx.recv().unwrap(), "w-0");
        drop((held, other));
        until("the workers never slept again", all_asleep);
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(pool.try_submit(a).is_ok());
        assert_eq!(
            ran_rx.recv().unwrap(),
            "w-0",
            "a queued job wakes worker 0 first"
        );
        drop(_b);
        assert!(pool.shutdown(Duration::from_secs(10)), "every worker exits");
    }

    #[test]
    fn the_gate_is_workers_plus_queue() {
        use std::sync::mpsc::{Receiver, channel};
        let (_dir, _path, l) = listener();
        let (ran_tx, ran_rx) = channel::<()>();
        let ran_tx = Mutex::new(ran_tx);
        let pool = Pool::new(
            spec("g", 2, 1, &l, no_idle),
            no_accept,
            move |hold: Receiver<()>| {
                let _ = ran_tx.lock().unwrap().send(());
                let _ = hold.recv();
            },
        )
        .unwrap();
        let mut releases = Vec::new();
        let mut submit = || {
            let (release, hold) = channel();
            releases.push(release);
            pool.try_submit(hold).is_ok()
        };
        // Two workers busy, one job queued: the fourth is refused (→ 503).
        assert!(submit());
        ran_rx.recv().unwrap();
        assert!(submit());
        ran_rx.recv().unwrap();
        assert!(submit(), "queued");
        assert!(!submit(), "past workers + queue");
        for r in &releases {
            let _ = r.send(());
        }
        ran_rx.recv().unwrap(); // the queued job ran too
        drop(releases);
        assert!(pool.shutdown(Duration::from_secs(10)));
    }

    #[test]
    fn idle_runs_before_a_worker_sleeps_and_at_exit() {
        static IDLE: AtomicU32 = AtomicU32::new(0);
        fn idle() {
            IDLE.fetch_add(1, Ordering::SeqCst);
        }
        let (_dir, _path, l) = listener();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let pool = Pool::new(spec("i", 1, 4, &l, idle), no_accept, move |()| {
            let _ = tx.lock().unwrap().send(());
        })
        .unwrap();
        assert!(pool.try_submit(()).is_ok());
        rx.recv().unwrap();
        // The worker finds nothing to do after its job, and says so before it sleeps.
        until("idle before sleeping", || IDLE.load(Ordering::SeqCst) >= 1);
        let before_exit = IDLE.load(Ordering::SeqCst);
        assert!(pool.shutdown(Duration::from_secs(10)));
        assert!(IDLE.load(Ordering::SeqCst) > before_exit, "idle at exit");
    }

    /// A job submitted while a worker is between its last look at the queue and its sleep
    /// (here: in `idle()`, which writes the request log in the daemon) must still wake it:
    /// with `--workers 2` and one slow client on the other worker, a lost wake-up would
    /// stall the job until the next connection.
    #[test]
    fn a_job_queued_while_a_worker_goes_to_sleep_is_run() {
        use std::sync::mpsc::{Receiver, channel};
        static SLOW_IDLE: AtomicBool = AtomicBool::new(false);
        static IN_IDLE: AtomicBool = AtomicBool::new(false);
        fn idle() {
            if SLOW_IDLE.load(Ordering::SeqCst) {
                IN_IDLE.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let (_dir, _path, l) = listener();
        let (ran_tx, ran_rx) = channel::<String>();
        let ran_tx = Mutex::new(ran_tx);
        let pool = Pool::new(
            spec("s", 2, 4, &l, idle),
            no_accept,
            move |job: Option<Receiver<()>>| {
                let name = std::thread::current().name().unwrap_or("").to_string();
                let _ = ran_tx.lock().unwrap().send(name);
                if let Some(hold) = job {
                    let _ = hold.recv();
                }
            },
        )
        .unwrap();
        until("the workers never slept", || {
            pool.shared.sleeping.load(Ordering::SeqCst) == 2
        });
        // A holds one worker, B the other.
        let (release_a, hold_a) = channel();
        let (release_b, hold_b) = channel();
        assert!(pool.try_submit(Some(hold_a)).is_ok());
        let a_on = ran_rx.recv().unwrap();
        assert!(pool.try_submit(Some(hold_b)).is_ok());
        assert_ne!(ran_rx.recv().unwrap(), a_on);
        // A's worker finishes and goes to sleep (slowly); C arrives meanwhile.
        SLOW_IDLE.store(true, Ordering::SeqCst);
        release_a.send(()).unwrap();
        until("idle never ran", || IN_IDLE.load(Ordering::SeqCst));
        assert!(pool.try_submit(None).is_ok());
        // A's worker is free from ~300 ms on; B's is held. C must run within 3 s.
        let ran = ran_rx.recv_timeout(Duration::from_secs(3));
        release_b.send(()).unwrap();
        assert!(ran.is_ok(), "the job waited while a worker slept");
        assert!(pool.shutdown(Duration::from_secs(10)));
    }
}
