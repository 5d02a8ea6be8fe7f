//! A fixed pool of worker threads fed by a bounded queue: the concurrency gate of one
//! listener (BRIEF §4). Threads are spawned once at start-up, never per connection.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A pool of `workers` threads running `work(job)` for each job submitted, with at most
/// `queue` jobs waiting.
pub struct Pool<J: Send + 'static> {
    tx: Option<SyncSender<J>>,
    handles: Vec<JoinHandle<()>>,
    busy: Arc<AtomicUsize>,
}

impl<J: Send + 'static> Pool<J> {
    /// Spawns `workers` threads named `{name}-{i}`. `work` runs on a worker for each job; a
    /// panic inside it is caught, so the worker and its slot survive.
    pub fn new<F>(name: &str, workers: usize, queue: usize, work: F) -> std::io::Result<Pool<J>>
    where
        F: Fn(J) + Send + Sync + 'static,
    {
        let (tx, rx) = sync_channel::<J>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let work = Arc::new(work);
        let busy = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers.max(1) {
            let rx: Arc<Mutex<Receiver<J>>> = Arc::clone(&rx);
            let work = Arc::clone(&work);
            let busy = Arc::clone(&busy);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        loop {
                            let job = {
                                let Ok(guard) = rx.lock() else { return };
                                match guard.recv() {
                                    Ok(j) => j,
                                    Err(_) => return, // the pool is shutting down
                                }
                            };
                            busy.fetch_add(1, Ordering::Relaxed);
                            let _ = catch_unwind(AssertUnwindSafe(|| work(job)));
                            busy.fetch_sub(1, Ordering::Relaxed);
                        }
                    })?,
            );
        }
        Ok(Pool {
            tx: Some(tx),
            handles,
            busy,
        })
    }

    /// Queues a job without blocking; gives it back when the queue is full (→ 503).
    pub fn try_submit(&self, job: J) -> Result<(), J> {
        match &self.tx {
            Some(tx) => match tx.try_send(job) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(j) | TrySendError::Disconnected(j)) => Err(j),
            },
            None => Err(job),
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
}
