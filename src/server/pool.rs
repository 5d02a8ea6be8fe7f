//! A fixed pool of worker threads fed by a bounded queue: the concurrency gate of one
//! listener (BRIEF §4). Threads are spawned once at start-up, never per connection.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// A pool of `workers` threads running `work(job)` for each job submitted, with at most
/// `queue` jobs waiting for a worker.
///
/// A job goes straight to the worker that went idle *last* (a stack of idle workers, each
/// waiting on its own condition variable), and into the bounded queue only when every worker
/// is busy. Under light load one or two workers then serve everything with warm caches: with
/// std's channel behind a mutex, the worker that finished last queued up behind the others and
/// the jobs went round all eight, each finding its caches cold (a first-time `/api/scry` of
/// ~40 µs of work took ~25 µs longer through eight workers than through one). Under load the
/// workers take jobs from the queue without sleeping.
pub struct Pool<J: Send + 'static> {
    shared: Arc<Shared<J>>,
    handles: Vec<JoinHandle<()>>,
    busy: Arc<AtomicUsize>,
}

/// What the submitters and the workers share.
struct Shared<J> {
    state: Mutex<State<J>>,
    /// One per worker: where it waits while idle.
    wake: Vec<Condvar>,
    /// Jobs in `State::queue`, readable without the lock ([`queue_is_empty`]).
    queued: Arc<AtomicUsize>,
}

struct State<J> {
    /// Jobs waiting for a worker, oldest first; at most `capacity`.
    queue: VecDeque<J>,
    capacity: usize,
    /// Idle workers, the one that went idle last at the end.
    idle: Vec<usize>,
    /// A job handed to an idle worker, by worker.
    handed: Vec<Option<J>>,
    /// No more jobs: workers exit once the queue is drained.
    closed: bool,
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

impl<J> Shared<J> {
    /// The state, even if a thread panicked while holding the lock (the state is only ever
    /// changed by whole steps, so it is consistent).
    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the pool and wakes every idle worker so it can drain the queue and exit.
    fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        for &w in &st.idle {
            self.wake[w].notify_one();
        }
    }
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
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(queue),
                capacity: queue,
                idle: Vec::with_capacity(workers),
                handed: (0..workers).map(|_| None).collect(),
                closed: false,
            }),
            wake: (0..workers).map(|_| Condvar::new()).collect(),
            queued: Arc::new(AtomicUsize::new(0)),
        });
        let work = Arc::new(work);
        let busy = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let mine = Arc::clone(&shared);
            let work = Arc::clone(&work);
            let busy = Arc::clone(&busy);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    QUEUED.with(|q| *q.borrow_mut() = Some(Arc::clone(&mine.queued)));
                    while let Some(job) = next_job(&mine, i, idle) {
                        busy.fetch_add(1, Ordering::Relaxed);
                        let _ = catch_unwind(AssertUnwindSafe(|| work(job)));
                        busy.fetch_sub(1, Ordering::Relaxed);
                    }
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    shared.close();
                    return Err(e);
                }
            }
        }
        Ok(Pool {
            shared,
            handles,
            busy,
        })
    }

    /// Gives the job to the worker that went idle last, or queues it when all are busy,
    /// without blocking; gives it back when the queue is full (→ 503) or the pool is closed.
    pub fn try_submit(&self, job: J) -> Result<(), J> {
        let mut st = self.shared.lock();
        if st.closed {
            return Err(job);
        }
        if let Some(w) = st.idle.pop() {
            st.handed[w] = Some(job);
            drop(st);
            self.shared.wake[w].notify_one();
            return Ok(());
        }
        if st.queue.len() >= st.capacity {
            return Err(job);
        }
        st.queue.push_back(job);
        self.shared.queued.store(st.queue.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Workers currently serving a job.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }

    /// Workers waiting for a job (tests).
    #[cfg(test)]
    fn idle_workers(&self) -> usize {
        self.shared.lock().idle.len()
    }

    /// Stops taking jobs, lets the queued and running ones finish, and joins the workers,
    /// waiting at most `grace`. Returns false if some were still running at the deadline
    /// (they are left to die with the process).
    pub fn shutdown(mut self, grace: std::time::Duration) -> bool {
        self.shared.close();
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

impl<J: Send + 'static> Drop for Pool<J> {
    /// A pool dropped without [`Pool::shutdown`] still lets its workers drain and exit.
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The next job for worker `me`: one handed to it, else the oldest queued; waits while there
/// is none; `None` once the pool is closed and drained (queued jobs still run after
/// `shutdown`). Calls `idle()`, without the lock held, each time it finds the queue empty
/// and before returning `None`.
fn next_job<J>(shared: &Shared<J>, me: usize, idle: fn()) -> Option<J> {
    let mut flushed = false;
    let mut st = shared.lock();
    loop {
        if let Some(job) = st.handed[me].take() {
            return Some(job);
        }
        if let Some(job) = st.queue.pop_front() {
            shared.queued.store(st.queue.len(), Ordering::Relaxed);
            return Some(job);
        }
        if !flushed {
            // The queue is empty: write out buffers before waiting, without the lock.
            drop(st);
            idle();
            flushed = true;
            st = shared.lock();
            continue;
        }
        if st.closed {
            drop(st);
            idle();
            return None;
        }
        if !st.idle.contains(&me) {
            st.idle.push(me);
        }
        st = shared.wake[me].wait(st).unwrap_or_else(|e| e.into_inner());
        if st.handed[me].is_none() {
            // Woken without a job (closed, or spuriously): no longer counted as idle until
            // it waits again.
            st.idle.retain(|&w| w != me);
        }
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
    fn the_worker_that_went_idle_last_gets_the_next_job() {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let tx = Mutex::new(tx);
        let pool = Pool::new("lifo", 4, 4, move |()| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            let _ = tx.lock().unwrap().send(name);
        })
        .unwrap();
        let wait_all_idle = || {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while pool.idle_workers() < 4 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(pool.idle_workers(), 4);
        };
        let mut names = Vec::new();
        for _ in 0..20 {
            wait_all_idle();
            assert!(pool.try_submit(()).is_ok());
            names.push(rx.recv().unwrap());
        }
        // Round robin would have used all four; the stack of idle workers uses one.
        names.dedup();
        assert_eq!(names.len(), 1, "{names:?}");
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
}
