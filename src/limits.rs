//! Every limit of the transport, as named constants with the reason for each (requirements §4).
//! Depends on nothing but std.

use std::time::Duration;

/// Largest request head read (request line + header fields): 32 KiB. Reading stops here,
/// whatever the client declares; a longer head gets 431.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Most header fields per request: 64 (the httparse array size). More gets 431.
pub const MAX_HEADERS: usize = 64;

/// Largest request body: 1 MiB. A larger `Content-Length` gets 413 before any body is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Longest `X-Request-Id` echoed back; longer ones are replaced by a generated id.
pub const MAX_REQUEST_ID: usize = 64;

/// Bytes asked of the kernel per `read`.
pub const READ_CHUNK: usize = 8 * 1024;

/// The whole request head must arrive within this time (not per read: a client dripping one
/// byte a second is cut off here). 5 s is generous for any local or LAN client.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);

/// How long a worker that accepted a connection waits for its first bytes before handing it
/// to the waiting thread (`server/ready.rs`), and only while no other connection is queued
/// for the worker. A client writes its request right after `connect(2)` returns, but the
/// worker the connect woke often reads first: measured at 8 clients on 2 cores, without it
/// more than one wake of the waiting thread per request (parking, epoll, queueing again),
/// with 0.3–1 ms almost none. A silent client so costs a worker this much once, never more.
pub const FIRST_BYTES_GRACE: Duration = Duration::from_millis(1);

/// How long the accept thread (`server/ready.rs`), woken because a connection arrived while
/// no worker was waiting, lets the workers take what waits before it accepts the rest itself
/// (into the worker queue, or 503 past it). Under load its wake then serves a batch, not
/// one connection each (measured at 64 clients: without it ~0.3 wakes per request, and more
/// CPU per request than the previous design's blocking accept thread; with it 0.03, and less;
/// `layer/core/performance.md`), and a worker that frees meanwhile takes a connection with no
/// hand-off. A 503 so comes within this much of the
/// connect: still "at once" (requirements §4).
pub const BUSY_ACCEPT_DELAY: Duration = Duration::from_millis(1);

/// The whole body must arrive within this time once the head is read (1 MiB at a slow
/// 100 KiB/s still fits).
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// The whole response must be written within this time; a client that stops reading is cut
/// off here.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// After an error answer, how long the lingering close keeps reading the client's leftovers.
pub const LINGER_DEADLINE: Duration = Duration::from_millis(500);

/// After an error answer, how many leftover bytes the lingering close reads at most.
pub const LINGER_MAX_BYTES: usize = 256 * 1024;

/// Default worker threads of the Unix-socket listener. Each connection is served start to
/// finish by one worker. Measured on 2 cores (`benches/serve.rs`, `layer/core/performance.md`):
/// `/health` throughput is flat within noise from 2 to 16 workers, so the count is set by
/// blocking work instead: with 8, a cold broad search (~2 ms inside SQLite) holds one worker
/// while seven keep answering; each worker that has searched holds its own SQLite
/// connection and page cache (~1.7 MiB), so 8 stays under the 24 MiB RSS budget.
pub const DEFAULT_WORKERS: usize = 8;

/// Default connections accepted but waiting for a worker, per listener. Past it a client
/// gets 503 with `Retry-After` at once. 64 absorbs the benchmark's 64 concurrent clients
/// with no 503; a waiting connection costs ~15 µs of worker time, so a full queue is about
/// 1 ms of wait, and a deeper queue would only turn overload into latency.
pub const DEFAULT_QUEUE: usize = 64;

/// How long shutdown waits for in-flight requests before exiting anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The deadline of one scry search, enforced inside SQLite (answered 504 past it).
pub const SCRY_DEADLINE: Duration = Duration::from_secs(2);

/// `sun_path` capacity on Linux (`unix(7)`): 108 bytes including the terminating NUL.
pub const SUN_PATH_MAX: usize = 107;

/// Most connections per listener whose request head has not fully arrived (held by the
/// accept side, not by a worker; see `ready.rs`). Past it a new connection gets 503 with
/// `Retry-After` at once. Each costs a file descriptor, an epoll registration, a deadline
/// wake of the waiting thread, and at worst a partial head of [`MAX_HEAD_BYTES`]: 256 is four
/// times the default queue, ample for one user's tools, and keeps the worst case at 8 MiB of
/// buffered heads and two listeners' descriptors well under the usual soft `RLIMIT_NOFILE`
/// of 1024.
pub const MAX_PENDING: usize = 256;

/// A deadline that a test may shorten or lengthen: in a build with the `fault-injection`
/// feature (tests only, see `Cargo.toml`), the environment variable `var` holding a whole
/// number of milliseconds replaces `default`, so a test asserts "cut off at the deadline" or
/// "answered long before it" with a wide margin instead of racing the wall clock on a loaded
/// machine. In any other build, `default`. An unset or unparsable variable gives `default`.
///
/// The variables, one per deadline: `PATINA_TEST_HEAD_DEADLINE_MS` ([`HEAD_DEADLINE`]),
/// `PATINA_TEST_BODY_DEADLINE_MS` ([`BODY_DEADLINE`]), `PATINA_TEST_FEDERATE_DEADLINE_MS`
/// (`mother::federate::DEADLINE`), `PATINA_TEST_GUARD_ASK_MS` (`cli::guard::GUARD_ASK_TIMEOUT`).
pub fn test_deadline(var: &str, default: Duration) -> Duration {
    #[cfg(feature = "fault-injection")]
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        return Duration::from_millis(ms);
    }
    let _ = var;
    default
}

/// [`HEAD_DEADLINE`], or its test override ([`test_deadline`]).
pub fn head_deadline() -> Duration {
    test_deadline("PATINA_TEST_HEAD_DEADLINE_MS", HEAD_DEADLINE)
}

/// [`BODY_DEADLINE`], or its test override ([`test_deadline`]).
pub fn body_deadline() -> Duration {
    test_deadline("PATINA_TEST_BODY_DEADLINE_MS", BODY_DEADLINE)
}

/// Most threads a scrape reads, hashes and splits files on (tree-sitter parsing is most of a
/// full scrape's CPU), beside the one thread that writes the index: the machine's
/// parallelism, at most this. More would only queue behind the single SQLite writer.
pub const MAX_SCRAPE_THREADS: usize = 4;

/// Files each scrape thread may have prepared (read, split) ahead of the writer: bounds the
/// memory held by a fast reader (at most this many files of [`crate::scry::MAX_FILE_BYTES`]
/// per thread) while keeping the writer fed.
pub const SCRAPE_AHEAD: usize = 16;
