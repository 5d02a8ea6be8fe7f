//! Readiness-based dispatch (requirements §4: a slow or silent client never holds the daemon):
//! a connection is served by a blocking worker only once its request head has arrived. Depends
//! on `framing` (the [`Stream`] trait), `pool`, `limits`.
//!
//! Three roles per listener:
//!
//! - a **worker** ([`super::pool`]) accepts a connection itself when it is idle ([`accept`]:
//!   the peer check, before any byte is read), then reads what has arrived without blocking
//!   ([`Parking::ready_or_park`]): a client that writes its request right after connecting
//!   has almost always sent it by then, and the worker serves it; otherwise the connection
//!   is handed to the waiting thread, and the worker takes the next one. So the common
//!   request costs no hand-off between threads;
//! - the **accept thread** ([`run`]) is woken by the kernel only when a connection arrives
//!   while no worker is waiting (its epoll registration on the listener comes after the
//!   workers', all `EPOLLEXCLUSIVE`): after [`BUSY_ACCEPT_DELAY`], in which a worker that
//!   frees takes what waits itself, it accepts what still waits, checks the peer and queues
//!   each connection to the pool unread, and gives one that finds the queue full to the
//!   waiting thread (→ 503 once its head is there);
//! - the **waiting thread** (`wait_loop`, one per listener) keeps the connections whose head
//!   has not fully arrived, waits for their bytes with epoll(7), and queues a connection to
//!   the pool again once its head is complete (or it has closed, or sent as much as a head
//!   may be).
//!
//! So an idle or dripping client costs one waiting entry and one file descriptor, never a
//! worker. The head deadline counts from the accept ([`crate::limits::HEAD_DEADLINE`]): past it the
//! waiting thread answers 408 itself and closes; a worker given the connection keeps counting
//! from the same instant. At most [`crate::limits::MAX_PENDING`] connections wait there; past it a
//! new one gets 503 with `Retry-After` at once. A connection that finds the pool's queue full
//! goes to the waiting thread too, which answers 503 if its head is there and the queue is
//! still full.

use super::framing::Stream;
use super::limits::{
    BUSY_ACCEPT_DELAY, FIRST_BYTES_GRACE, LINGER_DEADLINE, LINGER_MAX_BYTES, MAX_HEAD_BYTES,
    MAX_PENDING, READ_CHUNK, head_deadline,
};
use super::pool::{Accepted, Pool};
use rustix::buffer::spare_capacity;
use rustix::event::Timespec;
use rustix::event::epoll::{self, EventData, EventFlags};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A connection as handed to a worker: the bytes read so far, the instant it was accepted
/// (the head deadline counts from there), and what the accept side learnt of the peer.
pub struct Conn<S, P> {
    /// The connection, in blocking mode.
    pub stream: S,
    /// The bytes read from it so far: nothing (fresh from the accept thread), a whole head
    /// (maybe with some body), or a partial head when the client closed or reached
    /// [`MAX_HEAD_BYTES`] (the worker answers that).
    pub head: Vec<u8>,
    /// When it was accepted.
    pub accepted: Instant,
    /// The peer, as the accept side's `admit` decided it (peer credentials, address).
    pub peer: P,
    /// False while no byte has been read (fresh from the accept thread: the worker reads
    /// first, [`Parking::ready_or_park`]); true once the waiting thread found the head
    /// complete or the client gone.
    pub ready: bool,
}

/// A listening socket of the accept side, in non-blocking mode (the workers and the accept
/// thread wait for it with epoll(7)).
pub trait Listen: AsFd + Send + Sync + 'static {
    /// The accepted connection type.
    type Conn: Stream + AsFd + Send + 'static;
    /// One `accept(2)`: a connection (in blocking mode: Linux's accepted sockets do not
    /// inherit the listener's `O_NONBLOCK`), or `WouldBlock` when none waits.
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
/// refuse it before a byte is read), and answer a connection it closes itself. Called from
/// the workers, the accept thread and the waiting thread.
pub trait Admit<S>: Send + Sync + 'static {
    /// What a worker learns of the peer.
    type Peer: Send + 'static;
    /// Called once per accepted connection, before any byte is read: the peer, or `None`
    /// when the connection was refused (and already answered).
    fn admit(&self, stream: &S) -> Option<Self::Peer>;
    /// The connection is answered here without a worker — `408` (head deadline) or `503`
    /// (too many pending, or the worker queue is full) — and its write side shut down; the
    /// waiting thread then closes it lingering.
    fn answer(&self, stream: &S, status: u16);
    /// A connection accepted by this side ended without reaching a worker (client gone).
    fn closed(&self);
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
                // The bytes may include the start of a body that carries a secret (an
                // identity at `/session/unlock`): no copy stays in the shared chunk.
                zeroize::Zeroize::zeroize(&mut chunk[..n]);
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

/// One waiting connection of the waiting thread, in its slot of [`Slots`].
enum Waiting<S, P> {
    /// Its request head has not fully arrived.
    Head(Conn<S, P>),
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

/// The hand-over point between the workers (and the accept thread) and the waiting thread of
/// one listener: connections whose head is missing, queued for the waiting thread, which an
/// `eventfd(2)` wakes.
pub struct Parking<S, P> {
    inbox: Mutex<Vec<Conn<S, P>>>,
    wake: OwnedFd,
    stop: AtomicBool,
    name: String,
}

impl<S: Stream + AsFd, P> Parking<S, P> {
    /// A hand-over point whose waiting thread will be named `{name}-wait`.
    pub fn new(name: &str) -> io::Result<Parking<S, P>> {
        use rustix::event::{EventfdFlags, eventfd};
        Ok(Parking {
            inbox: Mutex::new(Vec::new()),
            wake: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            stop: AtomicBool::new(false),
            name: name.to_string(),
        })
    }

    /// On a worker, before serving `conn`: when no byte of it has been read yet, reads what
    /// has arrived without blocking; when nothing has, and no other connection is queued for
    /// the workers, waits up to [`FIRST_BYTES_GRACE`] for the first bytes and reads again.
    /// Gives the connection back to serve (its head is complete, or the client closed or
    /// failed: the worker answers or drops that), or `None` when its head is still missing
    /// and it was handed to the waiting thread.
    pub fn ready_or_park(&self, mut conn: Conn<S, P>) -> Option<Conn<S, P>> {
        thread_local! {
            static CHUNK: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ_CHUNK]);
        }
        if conn.ready {
            return Some(conn);
        }
        let read = |conn: &mut Conn<S, P>| {
            CHUNK.with(|c| match c.try_borrow_mut() {
                Ok(mut chunk) => read_ready(&conn.stream, &mut conn.head, &mut chunk),
                Err(_) => read_ready(&conn.stream, &mut conn.head, &mut vec![0; READ_CHUNK]),
            })
        };
        let mut step = read(&mut conn);
        if matches!(step, Step::Wait) && conn.head.is_empty() && super::pool::queue_is_empty() {
            // The client writes its request right after connect(2) returns, and the worker
            // woken by the connect is often faster (limits.rs).
            let grace = Timespec {
                tv_sec: FIRST_BYTES_GRACE.as_secs() as _,
                tv_nsec: FIRST_BYTES_GRACE.subsec_nanos() as _,
            };
            let mut fds = [rustix::event::PollFd::new(
                &conn.stream,
                rustix::event::PollFlags::IN,
            )];
            if rustix::event::poll(&mut fds, Some(&grace)).is_ok_and(|n| n > 0) {
                step = read(&mut conn);
            }
        }
        match step {
            Step::Wait => {
                self.hand(conn);
                None
            }
            Step::Ready | Step::Gone => {
                conn.ready = true;
                Some(conn)
            }
        }
    }

    /// Queues `conn` for the waiting thread and wakes it.
    fn hand(&self, conn: Conn<S, P>) {
        match self.inbox.lock() {
            Ok(mut inbox) => inbox.push(conn),
            // Poisoned (a panic while pushing, which cannot happen): the connection is
            // dropped, closing it; the waiting thread keeps serving what it holds.
            Err(_) => return,
        }
        self.notify();
    }

    fn notify(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    fn take_inbox(&self) -> Vec<Conn<S, P>> {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.wake, &mut buf);
        self.inbox
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// One `accept(2)` on `listener` and the peer check, as a worker's attempt: the connection
/// unread, `Empty` when none waits (or the daemon is stopping), `Again` when one was refused
/// or the accept failed (after a short back-off: `EMFILE` and the like leave the listener
/// readable, and a worker must not spin on it).
pub fn accept<L, A>(
    listener: &L,
    admit: &A,
    shutdown: &AtomicBool,
) -> Accepted<Conn<L::Conn, A::Peer>>
where
    L: Listen,
    A: Admit<L::Conn>,
{
    match listener.accept_now() {
        Ok(stream) => {
            let accepted = Instant::now();
            match admit.admit(&stream) {
                Some(peer) => Accepted::Job(Conn {
                    stream,
                    head: Vec::new(),
                    accepted,
                    peer,
                    ready: false,
                }),
                None => Accepted::Again,
            }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Accepted::Empty,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Accepted::Again,
        Err(_) if shutdown.load(Ordering::SeqCst) => Accepted::Empty,
        Err(e) => {
            accept_failed(&e);
            Accepted::Again
        }
    }
}

/// Says that `accept(2)` failed (at most once a second for the listener's threads
/// together), and backs off briefly instead of spinning.
fn accept_failed(e: &io::Error) {
    use std::sync::atomic::AtomicU64;
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if LAST.swap(now, Ordering::Relaxed) != now {
        eprintln!("patina: accept failed: {e}");
    }
    std::thread::sleep(Duration::from_millis(20));
}

/// Runs the accept side of one listener until `shutdown` is set (and the listener woken by
/// `shutdown(2)`): the accept thread (this one) waits on the listener with an epoll
/// registration made after the pool's, so the kernel wakes it only when a connection arrives
/// while no worker is waiting; it then lets the workers take what they can for
/// [`BUSY_ACCEPT_DELAY`], accepts what still waits, checks each peer and queues it to `pool`
/// unread (to `parking` when the queue is full). A waiting thread, started here and
/// joined before returning, keeps the connections whose head is missing (see the module
/// documentation). Connections still waiting at shutdown are closed unanswered.
pub fn run<L, A>(
    listener: &L,
    pool: &Pool<Conn<L::Conn, A::Peer>>,
    parking: &Parking<L::Conn, A::Peer>,
    shutdown: &AtomicBool,
    admit: &A,
) where
    L: Listen,
    A: Admit<L::Conn>,
{
    let ep = match epoll::create(epoll::CreateFlags::CLOEXEC)
        .map_err(io::Error::from)
        .and_then(|ep| super::pool::add_exclusive(&ep, listener.as_fd(), 0).map(|()| ep))
    {
        Ok(ep) => ep,
        Err(e) => {
            // Cannot happen on Linux for descriptors we hold. The workers keep serving;
            // only the 503 past the queue is lost: say so.
            eprintln!("patina: cannot start the accept thread ({e}); busy clients wait unanswered");
            return;
        }
    };
    std::thread::scope(|sc| {
        let waiting = std::thread::Builder::new()
            .name(format!("{}-wait", parking.name))
            .spawn_scoped(sc, || wait_loop(pool, parking, admit));
        if let Err(e) = waiting {
            // Without it no head could wait: say so and stop serving this listener.
            eprintln!("patina: cannot start the waiting thread ({e}); not serving this listener");
            return;
        }
        let mut events: Vec<epoll::Event> = Vec::with_capacity(1);
        while !shutdown.load(Ordering::SeqCst) {
            events.clear();
            match epoll::wait(&ep, spare_capacity(&mut events), None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    eprintln!("patina: epoll_wait failed: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            // Every worker was busy: let them take what they can first, then take what
            // still waits. A full queue: the waiting thread reads the head and answers 503 if
            // the queue is still full then (a silent client waits there, as any).
            if !shutdown.load(Ordering::SeqCst) {
                std::thread::sleep(BUSY_ACCEPT_DELAY);
            }
            while !shutdown.load(Ordering::SeqCst) {
                match accept(listener, admit, shutdown) {
                    Accepted::Job(conn) => {
                        if let Err(conn) = pool.try_submit(conn) {
                            parking.hand(conn);
                        }
                    }
                    Accepted::Again => {}
                    Accepted::Empty => break,
                }
            }
        }
        parking.stop.store(true, Ordering::SeqCst);
        parking.notify();
    });
}

/// The waiting thread of one listener: takes connections handed over through `parking`,
/// reads their heads as epoll reports bytes, queues complete ones to `pool`, answers 408 at
/// the head deadline and 503 past [`MAX_PENDING`] or a full pool queue, and closes what it
/// answered lingering ([`Closing`]). Each waiting connection has a one-shot readability
/// event re-armed after each partial read, so a wake costs the ready connections only.
fn wait_loop<S, P, A>(pool: &Pool<Conn<S, P>>, parking: &Parking<S, P>, admit: &A)
where
    S: Stream + AsFd + Send + 'static,
    P: Send + 'static,
    A: Admit<S, Peer = P>,
{
    const WAKE: u64 = u64::MAX;
    let setup = (|| -> io::Result<OwnedFd> {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(&ep, &parking.wake, EventData::new_u64(WAKE), EventFlags::IN)?;
        Ok(ep)
    })();
    let ep = match setup {
        Ok(ep) => ep,
        Err(e) => {
            // Cannot happen on Linux for descriptors we hold. Connections handed over are
            // then closed unanswered (the workers keep serving those whose head is there).
            eprintln!("patina: cannot set up the waiting thread ({e}); slow clients are closed");
            while !parking.stop.load(Ordering::SeqCst) {
                for c in parking.take_inbox() {
                    drop(c);
                    admit.closed();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
    };
    let mut waiting: Slots<S, P> = Slots::new();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
    let mut chunk = vec![0u8; READ_CHUNK];
    // Answers a connection from here and keeps it to close lingering (at most MAX_PENDING
    // of them: past that, under a flood, it is closed at once).
    let answer = |waiting: &mut Slots<S, P>, stream: S, status: u16, registered: bool| {
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
    let submit = |waiting: &mut Slots<S, P>, mut conn: Conn<S, P>, registered: bool| {
        conn.ready = true;
        if let Err(conn) = pool.try_submit(conn) {
            answer(waiting, conn.stream, 503, registered);
        }
    };
    // One read of a waiting connection, then to a worker, back to waiting, or closed.
    let step = |waiting: &mut Slots<S, P>, mut c: Conn<S, P>, chunk: &mut [u8], registered| {
        match read_ready(&c.stream, &mut c.head, chunk) {
            Step::Ready => submit(waiting, c, registered),
            Step::Gone => {
                drop(c);
                admit.closed();
            }
            Step::Wait if !registered && waiting.heads >= MAX_PENDING => {
                answer(waiting, c.stream, 503, false);
            }
            Step::Wait => {
                if let Err(w) = waiting.park(&ep, Waiting::Head(c), registered) {
                    drop(w);
                    admit.closed();
                }
            }
        }
    };
    while !parking.stop.load(Ordering::SeqCst) {
        // Wait for a hand-over or bytes on a waiting connection, at most until the nearest
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
        if parking.stop.load(Ordering::SeqCst) {
            break;
        }
        for ev in &events {
            let key = ev.data.u64();
            if key == WAKE {
                for c in parking.take_inbox() {
                    step(&mut waiting, c, &mut chunk, false);
                }
                continue;
            }
            match waiting.take(key as usize) {
                None => {}
                Some(Waiting::Closing(mut c)) => {
                    if drain(&mut c, &mut chunk) {
                        continue; // done: closed here
                    }
                    let _ = waiting.park(&ep, Waiting::Closing(c), true);
                }
                Some(Waiting::Head(c)) => step(&mut waiting, c, &mut chunk, true),
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
                    Some(Waiting::Head(c)) => answer(&mut waiting, c.stream, 408, true),
                    Some(Waiting::Closing(c)) => drop(c),
                    None => {}
                }
            }
        }
    }
    for i in 0..waiting.slots.len() {
        if let Some(Waiting::Head(c)) = waiting.take(i) {
            drop(c);
            admit.closed();
        }
    }
    for c in parking.take_inbox() {
        drop(c);
        admit.closed();
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
