//! Readiness-based dispatch (requirements §4: a slow or silent client never holds the daemon): the
//! accept side of one listener keeps every connection whose request head has not fully
//! arrived, waits for their bytes with epoll(7), and hands a connection to the blocking
//! worker pool only once its head is complete (or it has closed, or sent as much as a head
//! may be). Depends on `framing` (the [`Stream`] trait), `pool`, `limits`.
//!
//! So an idle or dripping client costs one pending entry and one file descriptor, never a
//! worker: the workers stay blocking and serve whole requests. The head deadline counts from
//! the accept ([`limits::HEAD_DEADLINE`]): past it the accept side answers 408 itself and
//! closes; a worker given the connection keeps counting from the same instant. At most
//! [`limits::MAX_PENDING`] connections wait here; past it a new one gets 503 with
//! `Retry-After` at once.
//!
//! The common case costs one non-blocking `recv` on the accept thread: a client that writes
//! its request right after connecting has usually sent it all by the time it is accepted,
//! and the connection goes straight to the pool with those bytes.

use super::framing::Stream;
use super::limits::{
    LINGER_DEADLINE, LINGER_MAX_BYTES, MAX_HEAD_BYTES, MAX_PENDING, READ_CHUNK, head_deadline,
};
use super::pool::Pool;
use rustix::buffer::spare_capacity;
use rustix::event::Timespec;
use rustix::event::epoll::{self, EventData, EventFlags};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A connection whose request head has arrived (or that ended before it did), as handed to
/// a worker: the bytes read so far, the instant it was accepted (the head deadline counts
/// from there), and what the accept side learnt of the peer.
pub struct Conn<S, P> {
    /// The connection, in blocking mode.
    pub stream: S,
    /// The bytes read from it so far: a whole head (maybe with some body), or a partial head
    /// when the client closed or reached [`MAX_HEAD_BYTES`] (the worker answers that).
    pub head: Vec<u8>,
    /// When it was accepted.
    pub accepted: Instant,
    /// The peer, as the accept side's `admit` decided it (peer credentials, address).
    pub peer: P,
}

/// A listening socket of the accept side.
pub trait Listen: AsFd {
    /// The accepted connection type.
    type Conn: Stream + AsFd + Send + 'static;
    /// One `accept(2)` (blocking): a connection, in blocking mode.
    fn accept_now(&self) -> io::Result<Self::Conn>;
}

impl Listen for std::os::unix::net::UnixListener {
    type Conn = std::os::unix::net::UnixStream;
    fn accept_now(&self) -> io::Result<Self::Conn> {
        self.accept().map(|(s, _)| s)
    }
}

impl Listen for std::net::TcpListener {
    type Conn = std::net::TcpStream;
    fn accept_now(&self) -> io::Result<Self::Conn> {
        self.accept().map(|(s, _)| s)
    }
}

/// What the accept side does with connections besides reading them: decide the peer (or
/// refuse it before a byte is read), and answer a connection it closes itself.
pub trait Admit<S> {
    /// What a worker learns of the peer.
    type Peer: Send + 'static;
    /// Called once per accepted connection, before any byte is read: the peer, or `None`
    /// when the connection was refused (and already answered).
    fn admit(&self, stream: &S) -> Option<Self::Peer>;
    /// The connection is answered here without a worker — `408` (head deadline) or `503`
    /// (too many pending, or the worker queue is full) — and its write side shut down; the
    /// accept side then closes it lingering (see [`run`]).
    fn answer(&self, stream: &S, status: u16);
    /// A connection accepted by this side ended without reaching a worker (client gone).
    fn closed(&self);
}

struct Pending<S, P> {
    stream: S,
    head: Vec<u8>,
    accepted: Instant,
    peer: P,
}

/// A connection answered by the accept side, closing lingering (RFC 9112 §9.6): what the
/// client still sends is read and dropped until it closes, [`LINGER_MAX_BYTES`] or
/// [`LINGER_DEADLINE`], so the answer is not destroyed by a reset (TCP) or a failed write
/// (the client still sending) before the client has read it.
struct Closing<S> {
    stream: S,
    until: Instant,
    drained: usize,
}

/// Drains a lingering connection without blocking; true when it is done (closed by the
/// client, failed, or over its byte budget).
fn drain<S: Stream>(c: &mut Closing<S>, chunk: &mut [u8]) -> bool {
    loop {
        match c.stream.recv_now(chunk) {
            Ok(0) => return true,
            Ok(n) => {
                c.drained += n;
                if c.drained >= LINGER_MAX_BYTES {
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// What one non-blocking read of a pending connection found.
enum Step {
    /// The head is complete, the client closed, or a head's worth arrived: to a worker.
    Ready,
    /// More is needed.
    Wait,
    /// Closed (or failed) before a single byte: dropped silently.
    Gone,
}

/// True when `buf` holds the blank line that ends a request head (RFC 9112 §2.1; a bare LF
/// is accepted as a line end, as `httparse` does).
fn head_complete(buf: &[u8]) -> bool {
    buf.windows(2)
        .enumerate()
        .any(|(i, w)| w == b"\n\n" || (w == b"\n\r" && buf.get(i + 2) == Some(&b'\n')))
}

/// Reads what has arrived on a pending connection without blocking.
fn read_ready<S: Stream>(stream: &S, head: &mut Vec<u8>, chunk: &mut [u8]) -> Step {
    loop {
        let room = MAX_HEAD_BYTES
            .saturating_sub(head.len())
            .clamp(1, chunk.len());
        match stream.recv_now(&mut chunk[..room]) {
            Ok(0) if head.is_empty() => return Step::Gone,
            Ok(0) => return Step::Ready, // the worker answers the cut-short head (400)
            Ok(n) => {
                // Only the new bytes (and the three before them) can complete the head.
                let from = head.len().saturating_sub(3);
                head.extend_from_slice(&chunk[..n]);
                if head_complete(&head[from..]) || head.len() >= MAX_HEAD_BYTES {
                    return Step::Ready;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
            Err(_) if head.is_empty() => return Step::Gone,
            Err(_) => return Step::Ready,
        }
    }
}

/// One waiting connection of the accept side, in its slot of [`Slots`].
enum Waiting<S, P> {
    /// Its request head has not fully arrived.
    Head(Pending<S, P>),
    /// Answered here; closing lingering.
    Closing(Closing<S>),
}

impl<S, P> Waiting<S, P> {
    fn deadline(&self) -> Instant {
        match self {
            Waiting::Head(p) => p.accepted + head_deadline(),
            Waiting::Closing(c) => c.until,
        }
    }
}

/// The waiting connections, indexed by the `u64` their epoll registration carries.
struct Slots<S, P> {
    slots: Vec<Option<Waiting<S, P>>>,
    free: Vec<usize>,
    heads: usize,
    closing: usize,
}

impl<S: AsFd, P> Slots<S, P> {
    fn new() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
            heads: 0,
            closing: 0,
        }
    }

    fn count(&mut self, w: &Waiting<S, P>, by: isize) {
        let n = match w {
            Waiting::Head(_) => &mut self.heads,
            Waiting::Closing(_) => &mut self.closing,
        };
        *n = n.wrapping_add_signed(by);
    }

    /// Stores `w` and arms a one-shot readability event for it: `add` for a connection not
    /// yet registered, `modify` for one whose one-shot event fired or is still armed. On
    /// failure the connection is given back (to be closed by the caller).
    fn park(
        &mut self,
        ep: &OwnedFd,
        w: Waiting<S, P>,
        registered: bool,
    ) -> Result<(), Waiting<S, P>> {
        let i = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let flags = EventFlags::IN | EventFlags::ONESHOT;
        let data = EventData::new_u64(i as u64);
        let fd = match &w {
            Waiting::Head(p) => p.stream.as_fd(),
            Waiting::Closing(c) => c.stream.as_fd(),
        };
        let armed = if registered {
            epoll::modify(ep, fd, data, flags)
        } else {
            epoll::add(ep, fd, data, flags)
        };
        if armed.is_err() {
            self.free.push(i);
            return Err(w);
        }
        self.count(&w, 1);
        self.slots[i] = Some(w);
        Ok(())
    }

    /// Takes the connection of slot `i` out (its registration stays, disarmed or armed,
    /// until it is re-parked or its file is closed).
    fn take(&mut self, i: usize) -> Option<Waiting<S, P>> {
        let w = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        self.count(&w, -1);
        Some(w)
    }
}

/// Runs the accept side of one listener until `shutdown` is set (and the listener woken):
/// accepts, reads request heads as they arrive, hands complete ones to `pool`, answers 408
/// at the head deadline and 503 past [`MAX_PENDING`] or a full pool queue, and closes what
/// it answered lingering ([`Closing`]). Connections still waiting at shutdown are closed
/// unanswered.
///
/// Readiness comes from epoll: the listener is registered once (level-triggered), each
/// waiting connection with a one-shot event re-armed after each partial read, so a wake
/// costs the ready connections only, however many wait. While nothing waits, the thread
/// blocks in `accept(2)` itself, and a connection whose head is there when it is accepted
/// (the common case) touches epoll not at all.
pub fn run<L, A>(
    listener: &L,
    pool: &Pool<Conn<L::Conn, A::Peer>>,
    shutdown: &AtomicBool,
    admit: &A,
) where
    L: Listen,
    A: Admit<L::Conn>,
{
    const LISTENER: u64 = u64::MAX;
    let setup = (|| -> io::Result<OwnedFd> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(&ep, listener, EventData::new_u64(LISTENER), EventFlags::IN)?;
        Ok(ep)
    })();
    let ep = match setup {
        Ok(ep) => ep,
        Err(e) => {
            // Cannot happen on Linux for a socket we hold; without it the accept side could
            // not wait for heads, so say so and stop serving this listener.
            eprintln!("patina: cannot set up the accept side ({e}); not serving this listener");
            return;
        }
    };
    let mut waiting: Slots<L::Conn, A::Peer> = Slots::new();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
    let mut chunk = vec![0u8; READ_CHUNK];
    // Answers a connection from here and keeps it to close lingering (at most MAX_PENDING
    // of them: past that, under a flood, it is closed at once).
    let answer =
        |waiting: &mut Slots<L::Conn, A::Peer>, stream: L::Conn, status: u16, registered: bool| {
            admit.answer(&stream, status);
            if waiting.closing < MAX_PENDING {
                let c = Closing {
                    stream,
                    until: Instant::now() + LINGER_DEADLINE,
                    drained: 0,
                };
                let _ = waiting.park(&ep, Waiting::Closing(c), registered);
            }
        };
    let submit =
        |waiting: &mut Slots<L::Conn, A::Peer>, p: Pending<L::Conn, A::Peer>, registered: bool| {
            let conn = Conn {
                stream: p.stream,
                head: p.head,
                accepted: p.accepted,
                peer: p.peer,
            };
            if let Err(conn) = pool.try_submit(conn) {
                answer(waiting, conn.stream, 503, registered);
            }
        };
    // A new connection: the peer check, one non-blocking read, then to a worker (its head
    // is there: the common case) or to the waiting slots.
    let on_accept = |waiting: &mut Slots<L::Conn, A::Peer>, stream: L::Conn, chunk: &mut [u8]| {
        let accepted = Instant::now();
        let Some(peer) = admit.admit(&stream) else {
            return;
        };
        let mut p = Pending {
            stream,
            head: Vec::new(),
            accepted,
            peer,
        };
        match read_ready(&p.stream, &mut p.head, chunk) {
            Step::Ready => submit(waiting, p, false),
            Step::Gone => {
                drop(p);
                admit.closed();
            }
            Step::Wait if waiting.heads >= MAX_PENDING => {
                answer(waiting, p.stream, 503, false);
            }
            Step::Wait => {
                if let Err(w) = waiting.park(&ep, Waiting::Head(p), false) {
                    drop(w);
                    admit.closed();
                }
            }
        }
    };
    // One accept(2) and its connection; false when it failed because the daemon is
    // shutting down.
    let accept_one = |waiting: &mut Slots<L::Conn, A::Peer>, chunk: &mut [u8]| -> bool {
        match listener.accept_now() {
            Ok(stream) => on_accept(waiting, stream, chunk),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) if shutdown.load(Ordering::SeqCst) => return false,
            Err(e) => {
                // EMFILE/ENFILE/ECONNABORTED: back off briefly instead of spinning.
                eprintln!("patina: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        true
    };
    while !shutdown.load(Ordering::SeqCst) {
        if waiting.heads + waiting.closing == 0 {
            // Nothing waits, so nothing to read or time out: block in accept(2) itself, one
            // system call per connection, as a plain accept loop does.
            if !accept_one(&mut waiting, &mut chunk) {
                break;
            }
            continue;
        }
        // Wait for a new connection or bytes on a waiting one, at most until the nearest
        // deadline.
        let now = Instant::now();
        let timeout = waiting
            .slots
            .iter()
            .flatten()
            .map(|w| w.deadline().saturating_duration_since(now))
            .min()
            .map(|d| {
                let d = d + Duration::from_millis(1); // never wake a hair before it
                Timespec {
                    tv_sec: d.as_secs() as _,
                    tv_nsec: d.subsec_nanos() as _,
                }
            });
        events.clear();
        match epoll::wait(&ep, spare_capacity(&mut events), timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                eprintln!("patina: epoll_wait failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        }
        if shutdown.load(Ordering::SeqCst) {
            break;
        }
        let mut listener_ready = false;
        for ev in &events {
            let key = ev.data.u64();
            if key == LISTENER {
                listener_ready = true;
                continue;
            }
            let Some(w) = waiting.take(key as usize) else {
                continue;
            };
            match w {
                Waiting::Closing(mut c) => {
                    if !drain(&mut c, &mut chunk) {
                        let _ = waiting.park(&ep, Waiting::Closing(c), true);
                    }
                }
                Waiting::Head(mut p) => match read_ready(&p.stream, &mut p.head, &mut chunk) {
                    Step::Wait => {
                        if let Err(w) = waiting.park(&ep, Waiting::Head(p), true) {
                            drop(w);
                            admit.closed();
                        }
                    }
                    Step::Ready => submit(&mut waiting, p, true),
                    Step::Gone => {
                        drop(p);
                        admit.closed();
                    }
                },
            }
        }
        // Past a deadline: 408 for a head (from here, no worker involved); a lingering
        // close ends.
        let now = Instant::now();
        for i in 0..waiting.slots.len() {
            if waiting.slots[i]
                .as_ref()
                .is_some_and(|w| now >= w.deadline())
            {
                match waiting.take(i) {
                    Some(Waiting::Head(p)) => answer(&mut waiting, p.stream, 408, true),
                    Some(Waiting::Closing(c)) => drop(c),
                    None => {}
                }
            }
        }
        // One new connection per wake: the listener is blocking (the loop above blocks in
        // accept when nothing waits), and level-triggered epoll reports it again while more
        // are queued. Linux keeps a reset connection in the accept queue, so a reported
        // listener does not block here.
        if listener_ready && !accept_one(&mut waiting, &mut chunk) {
            break;
        }
    }
    for i in 0..waiting.slots.len() {
        if let Some(Waiting::Head(p)) = waiting.take(i) {
            drop(p);
            admit.closed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert!(head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(head_complete(b"GET / HTTP/1.0\n\n"));
        assert!(head_complete(b"GET / HTTP/1.0\r\n\n"));
        assert!(head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n{\"a\":1}"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r"));
        assert!(!head_complete(b""));
    }
}
