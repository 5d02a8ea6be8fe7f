//! The request log (requirements §4: one line per request on stderr), written without serializing
//! the workers. Depends on std only.
//!
//! A worker appends its lines to a buffer of its own and writes the buffer to stderr in one
//! `write(2)` when no connection is waiting in its pool's queue, when the buffer passes
//! [`FLUSH_BYTES`], and when it exits. A line is logged before its response is written, so at
//! low load it is out before the client has any byte of its answer (a client that got its
//! answer finds the line in the log, even one done at `Content-Length`), and under
//! load one write carries many lines instead of each worker taking the stderr file's lock
//! per request. Every buffer is also registered here, so
//! [`flush_all`] at shutdown writes the lines of a worker that is still stuck in a request:
//! no line is lost. Threads that are not workers (the accept and waiting threads) write each line at once.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A worker writes its buffer once it holds this many bytes, even while busy (~40 lines).
pub const FLUSH_BYTES: usize = 4096;

type Buf = Arc<Mutex<Vec<u8>>>;

/// Every worker's buffer, for [`flush_all`].
static BUFFERS: Mutex<Vec<Buf>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's buffer, once [`buffer_this_thread`] was called on it.
    static MINE: RefCell<Option<Buf>> = const { RefCell::new(None) };
}

/// Makes this thread's log lines buffered (idempotent); call it on a worker thread, and
/// call [`flush`] whenever the worker is about to wait for work. [`write_line`] writes the
/// buffer at once whenever [`super::pool::queue_is_empty`].
pub fn buffer_this_thread() {
    MINE.with(|m| {
        let mut m = m.borrow_mut();
        if m.is_none() {
            let b: Buf = Arc::new(Mutex::new(Vec::with_capacity(FLUSH_BYTES * 2)));
            if let Ok(mut all) = BUFFERS.lock() {
                all.push(Arc::clone(&b));
            }
            *m = Some(b);
        }
    });
}

/// Writes one complete line (ending in `\n`): into this thread's buffer if it has one
/// (written out when its pool's queue is empty or at [`FLUSH_BYTES`]), else straight to
/// stderr in one write.
pub fn write_line(line: &[u8]) {
    let buffered = MINE.with(|m| {
        let m = m.borrow();
        let Some(b) = m.as_ref() else {
            return false;
        };
        if let Ok(mut b) = b.lock() {
            b.extend_from_slice(line);
            if b.len() >= FLUSH_BYTES || super::pool::queue_is_empty() {
                write_out(&mut b);
            }
        }
        true
    });
    if !buffered {
        let _ = std::io::stderr().write_all(line);
    }
}

/// Writes this thread's buffered lines, if any.
pub fn flush() {
    MINE.with(|m| {
        if let Some(b) = m.borrow().as_ref()
            && let Ok(mut b) = b.lock()
        {
            write_out(&mut b);
        }
    });
}

/// Writes every worker's buffered lines (shutdown: also those of a worker still busy).
pub fn flush_all() {
    let all: Vec<Buf> = BUFFERS.lock().map(|a| a.clone()).unwrap_or_default();
    for b in all {
        if let Ok(mut b) = b.lock() {
            write_out(&mut b);
        }
    }
}

fn write_out(b: &mut Vec<u8>) {
    if !b.is_empty() {
        // One write of whole lines: lines from different workers never interleave.
        let _ = std::io::stderr().write_all(b);
        b.clear();
    }
}
