//! A fixed pool of worker threads fed by a bounded queue: the concurrency gate of one
//! listener (requirements §4). Threads are spawned once at start-up, never per connection.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// A pool of `workers` threads running `work(job)` for each job submitted, with at most
/// `queue` jobs waiting.
///
/// Worker 0 has a slot of its own: a job goes straight to it when it is idle and nothing is
/// queued, and to the queue otherwise. So a lightly loaded daemon serves every connection on
/// one thread whose caches are warm (sequential cold `/api/scry` requests measured 5–8 µs
/// faster than going round all the workers in turn), while under load the queue keeps its
/// order: a new job overtakes a queued one only when the queue is full and worker 0 idle
/// (it is part of the capacity). Worker 0 also serves the queue: it takes the oldest queued
/// job before it waits, and a job queued while it waits wakes it (see `next_for_first` for
/// why no job is ever left queued while worker 0 sits idle).
///
/// The queue is std's bounded channel with its receiver under a mutex. A queue made of a
/// `Mutex<VecDeque>` and a `Condvar` was measured against it on 2 cores at 64 clients: its
/// workers spent several times as much CPU in `futex` (std's `notify_one` always makes the
/// syscall, and a worker parks at once where the channel first spins briefly), ~2–3 µs per
/// request.
pub struct Pool<J: Send + 'static> {
    tx: Option<SyncSender<J>>,
    /// Worker 0's own slot (pools of two workers or more).
    lane: Option<Arc<Lane<J>>>,
    handles: Vec<JoinHandle<()>>,
    busy: Arc<AtomicUsize>,
    queued: Arc<AtomicUsize>,
}

/// Worker 0's slot: a job is handed to it directly when it is idle and nothing is queued,
/// so a lightly loaded daemon serves every connection on the same, warm thread.
struct Lane<J> {
    state: Mutex<LaneState<J>>,
    wake: Condvar,
}

struct LaneState<J> {
    /// Waiting for a job in `job`.
    idle: bool,
    job: Option<J>,
    /// Shut down: exit once idle.
    closed: bool,
}

impl<J> Lane<J> {
    /// The lane's state, or `None` when a panic left its lock poisoned: under the
    /// poisoned-lock policy (architecture.md, "Poisoned locks") the lane is then never used
    /// again — submitters queue every job, and worker 0 exits — so the pool keeps only the
    /// shared queue, whose answer to a full queue is still 503.
    fn lock(&self) -> Option<MutexGuard<'_, LaneState<J>>> {
        self.state.lock().ok()
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

impl<J: Send + 'static> Pool<J> {
    /// Spawns `workers` threads named `{name}-{i}` (with Rust's default 2 MiB stack: only
    /// the pages a thread touches count in RSS, and a 256 KiB stack measured no smaller).
    /// `work` runs on a worker for each job; a panic inside it is caught, so the worker and
    /// its slot survive.
    pub fn new<F>(name: &str, workers: usize, queue: usize, work: F) -> std::io::Result<Pool<J>>
    where
        F: Fn(J) + Send + Sync + 'static,
    {
        Pool::with_idle(name, workers, queue, work, || {})
    }

    /// Like [`Pool::new`], and each worker calls `idle()` whenever it finds the queue empty
    /// (before it waits for the next job) and once when it exits: the place to write out
    /// what it buffered (the request log, [`super::log`]).
    pub fn with_idle<F>(
        name: &str,
        workers: usize,
        queue: usize,
        work: F,
        idle: fn(),
    ) -> std::io::Result<Pool<J>>
    where
        F: Fn(J) + Send + Sync + 'static,
    {
        let (tx, rx) = sync_channel::<J>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let work = Arc::new(work);
        let busy = Arc::new(AtomicUsize::new(0));
        let queued = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(workers);
        let lane = (workers >= 2).then(|| {
            Arc::new(Lane {
                state: Mutex::new(LaneState {
                    idle: false,
                    job: None,
                    closed: false,
                }),
                wake: Condvar::new(),
            })
        });
        let first_on_channel = usize::from(lane.is_some());
        if let Some(lane) = &lane {
            let lane = Arc::clone(lane);
            let rx = Arc::clone(&rx);
            let work = Arc::clone(&work);
            let busy = Arc::clone(&busy);
            let queued = Arc::clone(&queued);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("{name}-0"))
                    .spawn(move || {
                        QUEUED.with(|q| *q.borrow_mut() = Some(Arc::clone(&queued)));
                        while let Some(job) = next_for_first(&lane, &rx, &queued, idle) {
                            busy.fetch_add(1, Ordering::Relaxed);
                            let _ = catch_unwind(AssertUnwindSafe(|| work(job)));
                            busy.fetch_sub(1, Ordering::Relaxed);
                        }
                    })?,
            );
        }
        for i in first_on_channel..workers.max(1) {
            let rx: Arc<Mutex<Receiver<J>>> = Arc::clone(&rx);
            let work = Arc::clone(&work);
            let busy = Arc::clone(&busy);
            let queued = Arc::clone(&queued);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        QUEUED.with(|q| *q.borrow_mut() = Some(Arc::clone(&queued)));
                        while let Some(job) = next_job(&rx, idle) {
                            queued.fetch_sub(1, Ordering::Relaxed);
                            busy.fetch_add(1, Ordering::Relaxed);
                            let _ = catch_unwind(AssertUnwindSafe(|| work(job)));
                            busy.fetch_sub(1, Ordering::Relaxed);
                        }
                    })?,
            );
        }
        Ok(Pool {
            tx: Some(tx),
            lane,
            handles,
            busy,
            queued,
        })
    }

    /// Queues a job without blocking; gives it back when the queue is full (→ 503).
    pub fn try_submit(&self, job: J) -> Result<(), J> {
        let Some(tx) = &self.tx else {
            return Err(job);
        };
        let Some(lane) = &self.lane else {
            return self.send(tx, job);
        };
        // Under worker 0's lock, so worker 0 never decides to wait while a job it should
        // take is on its way into the queue.
        let Some(mut st) = lane.lock() else {
            return self.send(tx, job);
        };
        let first_idle = st.idle && !st.closed;
        if first_idle && self.queued.load(Ordering::Relaxed) == 0 {
            st.idle = false;
            st.job = Some(job);
            drop(st);
            lane.wake.notify_one();
            return Ok(());
        }
        match self.send(tx, job) {
            Ok(()) => {
                if first_idle {
                    // Jobs are queued and worker 0 is idle: wake it to take the oldest.
                    drop(st);
                    lane.wake.notify_one();
                }
                Ok(())
            }
            // The queue is full, but an idle worker 0 is part of the capacity.
            Err(job) if first_idle => {
                st.idle = false;
                st.job = Some(job);
                drop(st);
                lane.wake.notify_one();
                Ok(())
            }
            Err(job) => Err(job),
        }
    }

    /// Queues a job on the channel without blocking; gives it back when full or closed.
    fn send(&self, tx: &SyncSender<J>, job: J) -> Result<(), J> {
        // Counted before it is sent, so a worker never sees the count below the number of
        // jobs actually queued.
        self.queued.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                Err(j)
            }
        }
    }

    /// Workers currently serving a job.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }

    /// Stops taking jobs, lets the queued and running ones finish, and joins the workers,
    /// waiting at most `grace`. Returns false if some were still running at the deadline
    /// (they are left to die with the process).
    pub fn shutdown(mut self, grace: std::time::Duration) -> bool {
        drop(self.tx.take());
        self.close_lane();
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
}

/// The next job for a worker: blocks while the queue is empty; `None` once the pool is shut
/// down and drained (queued jobs still run after `shutdown`). Calls `idle()`, without the
/// lock held, each time it finds the queue empty and before returning `None`.
fn next_job<J>(rx: &Mutex<Receiver<J>>, idle: fn()) -> Option<J> {
    match rx.lock().ok()?.try_recv() {
        Ok(j) => return Some(j),
        Err(TryRecvError::Empty) => {}
        Err(TryRecvError::Disconnected) => {
            idle();
            return None;
        }
    }
    idle();
    let job = rx.lock().ok()?.recv().ok();
    if job.is_none() {
        idle();
    }
    job
}

impl<J: Send + 'static> Pool<J> {
    /// Tells worker 0 to exit once idle.
    fn close_lane(&self) {
        if let Some(lane) = &self.lane {
            if let Some(mut st) = lane.lock() {
                st.closed = true;
            }
            lane.wake.notify_all();
        }
    }
}

impl<J: Send + 'static> Drop for Pool<J> {
    /// A pool dropped without [`Pool::shutdown`] lets its workers exit too: the channel's
    /// sender goes with it, and worker 0 is told here.
    fn drop(&mut self) {
        self.close_lane();
    }
}

/// Worker 0's next job: the oldest queued one if it can take it without waiting for the
/// queue's lock, else the one handed to it; `None` once the pool is shut down. Calls `idle()`
/// (without the lock held) before it first waits and before returning `None`.
///
/// The queue is checked under worker 0's lock, which submitters hold while they queue a job,
/// so no job is queued unseen while worker 0 decides to wait; and a submitter that queues a
/// job while worker 0 waits wakes it. A queued job worker 0 cannot take is one a worker
/// blocked on the queue (holding its lock) is about to receive.
fn next_for_first<J>(
    lane: &Lane<J>,
    rx: &Mutex<Receiver<J>>,
    queued: &AtomicUsize,
    idle: fn(),
) -> Option<J> {
    let mut flushed = false;
    let Some(mut st) = lane.lock() else {
        idle();
        return None;
    };
    loop {
        if let Some(job) = st.job.take() {
            st.idle = false;
            return Some(job);
        }
        if queued.load(Ordering::Relaxed) > 0
            && let Ok(rx) = rx.try_lock()
            && let Ok(job) = rx.try_recv()
        {
            queued.fetch_sub(1, Ordering::Relaxed);
            st.idle = false;
            return Some(job);
        }
        if st.closed {
            st.idle = false;
            drop(st);
            idle();
            return None;
        }
        if !flushed {
            // Write out what this worker buffered before it may sleep, then look again.
            st.idle = false;
            drop(st);
            idle();
            flushed = true;
            let Some(again) = lane.lock() else {
                idle();
                return None;
            };
            st = again;
            continue;
        }
        st.idle = true;
        st = match lane.wake.wait(st) {
            Ok(st) => st,
            Err(_) => {
                idle();
                return None;
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    #[test]
    fn full_queue_gives_the_job_back_and_panics_keep_workers() {
        use std::sync::mpsc::{Receiver, channel};
        enum Job {
            Panic,
            Block(Receiver<()>),
            Count,
        }
        let done = Arc::new(AtomicU32::new(0));
        let (started_tx, started_rx) = channel::<()>();
        let started_tx = Mutex::new(started_tx);
        let d = Arc::clone(&done);
        let pool = Pool::new("t", 1, 1, move |job: Job| {
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

    #[test]
    fn a_lightly_loaded_pool_runs_every_job_on_its_first_worker() {
        use std::sync::mpsc::channel;
        let (ran_tx, ran_rx) = channel::<String>();
        let ran_tx = Mutex::new(ran_tx);
        let pool = Pool::new(
            "w",
            3,
            4,
            move |job: Option<std::sync::mpsc::Receiver<()>>| {
                let name = std::thread::current().name().unwrap_or("").to_string();
                let _ = ran_tx.lock().unwrap().send(name);
                if let Some(hold) = job {
                    let _ = hold.recv();
                }
            },
        )
        .unwrap();
        // One job at a time, each after the last finished: all on worker 0, once it waits.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !pool.lane.as_ref().unwrap().lock().unwrap().idle {
            assert!(
                std::time::Instant::now() < deadline,
                "worker 0 never waited"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..20 {
            assert!(pool.try_submit(None).is_ok());
            assert_eq!(ran_rx.recv().unwrap(), "w-0");
            while !pool.lane.as_ref().unwrap().lock().unwrap().idle {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // While worker 0 is busy, the next job goes to another worker.
        let (release, hold) = channel();
        assert!(pool.try_submit(Some(hold)).is_ok());
        assert_eq!(ran_rx.recv().unwrap(), "w-0");
        assert!(pool.try_submit(None).is_ok());
        assert_ne!(ran_rx.recv().unwrap(), "w-0");
        release.send(()).unwrap();
        assert!(pool.shutdown(Duration::from_secs(10)), "worker 0 exits too");
    }

    #[test]
    fn with_worker_0_the_gate_is_still_workers_plus_queue() {
        use std::sync::mpsc::{Receiver, channel};
        let (ran_tx, ran_rx) = channel::<()>();
        let ran_tx = Mutex::new(ran_tx);
        let pool = Pool::new("g", 2, 1, move |hold: Receiver<()>| {
            let _ = ran_tx.lock().unwrap().send(());
            let _ = hold.recv();
        })
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
    fn idle_runs_when_the_queue_empties_and_at_exit() {
        use std::sync::atomic::AtomicU32;
        static IDLE: AtomicU32 = AtomicU32::new(0);
        fn idle() {
            IDLE.fetch_add(1, Ordering::SeqCst);
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let pool = Pool::with_idle(
            "i",
            1,
            4,
            move |()| {
                let _ = tx.lock().unwrap().send(());
            },
            idle,
        )
        .unwrap();
        assert!(pool.try_submit(()).is_ok());
        rx.recv().unwrap();
        // The worker finds the queue empty after its job, and says so before it waits.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while IDLE.load(Ordering::SeqCst) < 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let before_exit = IDLE.load(Ordering::SeqCst);
        assert!(before_exit >= 1, "{before_exit}");
        assert!(pool.shutdown(Duration::from_secs(10)));
        assert!(IDLE.load(Ordering::SeqCst) > before_exit, "idle at exit");
    }

    /// Found by review: a job submitted while worker 0 is between its last job and its wait
    /// (here: in `idle()`, which writes the request log in the daemon) goes to the queue,
    /// and worker 0 then waits on its own slot only, never on the queue: with every other
    /// worker busy, the job waits for them although worker 0 is idle. In the daemon, with
    /// `--workers 2` and one slow client on worker 1, a request stalled for seconds this way
    /// (until the slow client's head deadline).
    #[test]
    fn a_job_queued_while_worker_0_goes_idle_is_run_by_it() {
        use std::sync::atomic::AtomicBool;
        use std::sync::mpsc::{Receiver, channel};
        static SLOW_IDLE: AtomicBool = AtomicBool::new(false);
        static IN_IDLE: AtomicBool = AtomicBool::new(false);
        fn idle() {
            if SLOW_IDLE.load(Ordering::SeqCst) {
                IN_IDLE.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let (ran_tx, ran_rx) = channel::<String>();
        let ran_tx = Mutex::new(ran_tx);
        let pool = Pool::with_idle(
            "s",
            2,
            4,
            move |job: Option<Receiver<()>>| {
                let name = std::thread::current().name().unwrap_or("").to_string();
                let _ = ran_tx.lock().unwrap().send(name);
                if let Some(hold) = job {
                    let _ = hold.recv();
                }
            },
            idle,
        )
        .unwrap();
        let lane_idle = || pool.lane.as_ref().unwrap().lock().unwrap().idle;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !lane_idle() {
            assert!(
                std::time::Instant::now() < deadline,
                "worker 0 never waited"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // A holds worker 0, B holds worker 1.
        let (release_a, hold_a) = channel();
        let (release_b, hold_b) = channel();
        assert!(pool.try_submit(Some(hold_a)).is_ok());
        assert_eq!(ran_rx.recv().unwrap(), "s-0");
        assert!(pool.try_submit(Some(hold_b)).is_ok());
        assert_eq!(ran_rx.recv().unwrap(), "s-1");
        // Worker 0 finishes A and goes idle (slowly); C arrives meanwhile.
        SLOW_IDLE.store(true, Ordering::SeqCst);
        release_a.send(()).unwrap();
        while !IN_IDLE.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(pool.try_submit(None).is_ok());
        // Worker 0 is idle from ~300 ms on; worker 1 is held. C must run within 3 s.
        let ran = ran_rx.recv_timeout(Duration::from_secs(3));
        release_b.send(()).unwrap();
        assert!(
            ran.is_ok(),
            "the job waited in the queue while worker 0 sat idle on its own slot"
        );
        assert!(pool.shutdown(Duration::from_secs(10)));
    }
}
