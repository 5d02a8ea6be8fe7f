//! The transport (requirements §4): listeners, worker pools, HTTP/1.1 framing, deadlines, logging
//! and shutdown. Turns a connection into a [`Principal`] and a [`crate::http::Request`],
//! hands both to [`crate::api::dispatch`], and writes the [`crate::http::Response`] back.
//! Nothing outside this module (and [`crate::client`]) knows a socket or the wire format.
//! Depends on [`crate::api`], [`crate::auth`], [`crate::http`], [`crate::limits`],
//! [`crate::fsutil`], [`crate::paths`], [`crate::stream`] (the socket abstraction it
//! shares with the client) and [`crate::text`]; nothing depends on it but
//! [`crate::cli`].
//!
//! Startup, in the order a reviewer checks it (after ssh-agent): harden the process (no core
//! dumps, not dumpable), verify or create the private run directory, decide what to do with
//! anything at the socket path, bind with a restrictive umask, write the pid file, then start
//! the signal thread and the worker pool and accept.

pub mod activation;
mod error;
pub mod framing;
pub mod log;
pub mod pool;
pub mod ready;
pub mod tcp;
pub mod unix;
pub mod witness;

use crate::api::{self, Ctx};
use crate::auth::Principal;
use crate::fsutil;
use crate::http::{Method, Response};
use crate::limits;
use crate::paths::Home;
use crate::text::utc_timestamp;
pub use error::StartError;
use framing::{ReadError, Stream};
use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What `patina serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The per-user state directory.
    pub home: Home,
    /// The project served by `/api/scry` by default (canonical path).
    pub project: PathBuf,
    /// The Unix socket path (default `home.socket_path()`); its directory must be private.
    pub socket: PathBuf,
    /// Worker threads for the Unix socket.
    pub workers: usize,
    /// Connections that may wait for a worker before 503.
    pub queue: usize,
    /// The TCP listener, when asked for (`--host`/`--port`).
    pub tcp: Option<tcp::TcpConfig>,
    /// Scans finding a stored value allowed per [`crate::tripwire::BURST_WINDOW`] before the
    /// tripwire locks the session (`--burst-limit`).
    pub burst_limit: usize,
}

/// Makes the process undumpable and sets its core-file size to 0, as ssh-agent does
/// (`prctl(2)` `PR_SET_DUMPABLE`, `setrlimit(2)` `RLIMIT_CORE`), so a crash writes no core and
/// other same-uid processes cannot read `/proc/<pid>/mem`. Returns whether both succeeded.
pub fn harden_process() -> bool {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    let core = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .is_ok();
    let dump = set_dumpable_behavior(DumpableBehavior::NotDumpable).is_ok();
    core && dump
}

/// The directories `serve` needs, checked (and created 0700 if missing): the state directory
/// must be a real directory of ours that no one else can enter or write (it holds the run
/// dir, the vault, the keys), and so must the socket's directory (the run dir, or the
/// `--socket` one). `patina serve` calls it before its first scrape too, so a loose run dir
/// is refused before anything is written into the project (QA sessions 8 and 9, L1).
///
/// # Errors
/// [`StartError::Private`] or [`StartError::Fs`] naming the directory and the fix.
pub fn check_dirs(home: &crate::paths::Home, socket: &Path) -> Result<(), StartError> {
    fsutil::ensure_private_dir(home.root()).map_err(|error| StartError::Private {
        what: "the state directory (PATINA_HOME)",
        error,
    })?;
    let sock_dir = socket
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    if sock_dir == home.run_dir() {
        fsutil::ensure_private_dir(&sock_dir)?;
    } else {
        fsutil::check_private_dir(&sock_dir).map_err(|error| StartError::Private {
            what: "the --socket directory must be private (0700, yours)",
            error,
        })?;
    }
    Ok(())
}

/// Runs the daemon until SIGINT, SIGTERM or `POST /shutdown`; then stops accepting, lets
/// in-flight requests finish within [`limits::SHUTDOWN_GRACE`], and removes the socket and
/// pid file. Errors (one line each) for every startup check that fails; nothing found at
/// the socket path or in the run directory is modified on the way out.
pub fn serve(cfg: ServeConfig) -> Result<(), StartError> {
    // No core file from the start; not dumpable once the listener's witness has checked
    // that this process runs patina (`witness.rs`), right after the bind: nothing secret is
    // held before it (the TCP token and every unlock come later).
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    install_panic_hook();
    // Take over SIGINT/SIGTERM before the socket exists, so a signal sent as soon as the
    // socket answers is a graceful shutdown, not the default termination. (No thread yet:
    // the umask around bind below must not race another thread.)
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(StartError::step("installing the SIGINT/SIGTERM handler"))?;

    check_dirs(&cfg.home, &cfg.socket)?;
    // Socket activation: the unit owns the socket file, so it is left in place at exit.
    // The pid file is written before the socket can answer, so a client that reaches the
    // daemon always finds it (and after the live-daemon check, so a running daemon's stays).
    let pid = std::process::id();
    let pid_path = cfg.home.pid_path();
    let write_pid = || -> Result<(), StartError> {
        fsutil::ensure_private_dir(&cfg.home.run_dir())?;
        fsutil::write_atomic(&pid_path, format!("{pid}\n").as_bytes())?;
        Ok(())
    };
    let (listener, activated) = match activation::listener(&cfg.socket)? {
        Some(l) => {
            write_pid()?;
            (l, true)
        }
        None => {
            unix::prepare_socket_path(&cfg.socket)?;
            write_pid()?;
            match unix::bind_private(&cfg.socket) {
                Ok(l) => (l, false),
                Err(e) => {
                    let _ = std::fs::remove_file(&pid_path);
                    return Err(e);
                }
            }
        }
    };
    // Every write on the socket's connections is stamped with its writer (`SO_PASSCRED`).
    if let Err(e) = unix::pass_credentials(&listener) {
        eprintln!(
            "patina: warning: SO_PASSCRED on the socket failed ({e}); patina routes will refuse"
        );
    }
    // The listener's witness (`witness.rs`): clients check the process the kernel names
    // as the listener, and this one is not dumpable.
    let witness = match witness::start(&listener) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!(
                "patina: warning: the listener's witness did not start ({e}); clients that are not root will refuse this daemon"
            );
            None
        }
    };
    if !harden_process() {
        eprintln!("patina: warning: could not disable core dumps for this process");
    }
    let bound_ino = if activated { None } else { inode(&cfg.socket) };
    // Undo what startup made if a later step fails (the TCP port is taken, say).
    let undo = |e: StartError| -> StartError {
        if !activated && inode(&cfg.socket) == bound_ino {
            let _ = std::fs::remove_file(&cfg.socket);
        }
        let _ = std::fs::remove_file(&pid_path);
        e
    };

    // The TCP side, if asked: token first (its path is printed, never its value).
    let tcp_side = match &cfg.tcp {
        Some(tc) => {
            let verifier = crate::auth::token::Verifier::load_or_create(&cfg.home.token_path())
                .map_err(|e| undo(e.into()))?;
            let age_key = Arc::new(
                crate::auth::server::ServerAuth::open(&cfg.home).map_err(|e| undo(e.into()))?,
            );
            eprintln!(
                "patina: TCP age-key identity {} (clients pin it; `patina auth allow` admits clients)",
                age_key.recipient()
            );
            let listener = std::net::TcpListener::bind(tc.addr)
                .map_err(|e| undo(StartError::step(format!("binding TCP {}", tc.addr))(e)))?;
            let local = listener.local_addr()?;
            if !tcp::is_loopback(&local) {
                eprintln!(
                    "patina: WARNING: listening on {local}, which is not a loopback address: anyone who can reach it can try the token. Plain TCP has no confidentiality; prefer forwarding the Unix socket over SSH."
                );
            }
            match verifier.source() {
                crate::auth::token::TokenSource::Env => eprintln!(
                    "patina: TCP on {local}; bearer token from {}",
                    crate::auth::token::TOKEN_ENV
                ),
                crate::auth::token::TokenSource::File(p) => {
                    eprintln!("patina: TCP on {local}; bearer token in {}", p.display())
                }
            }
            Some((
                listener,
                local,
                Arc::new(tcp::TcpState::new(
                    tc.clone(),
                    verifier,
                    Some(Arc::clone(&age_key)),
                )),
            ))
        }
        None => None,
    };

    let shutdown = Arc::new(AtomicBool::new(false));
    if let Some(c) = witness {
        witness::watch(c, Arc::clone(&shutdown))?;
    }
    let waker = {
        let path = cfg.socket.clone();
        let tcp_wake = tcp_side.as_ref().map(|(_, local, _)| wake_addr(*local));
        let tcp_fd = match &tcp_side {
            Some((l, _, _)) => Some(l.try_clone()?),
            None => None,
        };
        let unix_fd = listener.try_clone()?;
        let flag = Arc::clone(&shutdown);
        Arc::new(move || {
            flag.store(true, Ordering::SeqCst);
            // Wake the blocked accept() calls: shutdown(2) on the listening sockets makes a
            // blocked accept return at once on Linux, even if the socket file was deleted;
            // a connection of our own does it elsewhere.
            let _ = rustix::net::shutdown(&unix_fd, rustix::net::Shutdown::Both);
            if let Some(fd) = &tcp_fd {
                let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Both);
            }
            let _ = UnixStream::connect(&path);
            if let Some(a) = tcp_wake {
                let _ =
                    std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_millis(200));
            }
        })
    };
    let age_key = tcp_side.as_ref().and_then(|(_, _, t)| t.age_key.clone());
    let ctx = Arc::new(
        Ctx::new(
            cfg.project.clone(),
            cfg.home.clone(),
            api::DaemonInfo {
                pid,
                socket: cfg.socket.clone(),
                tcp: tcp_side.as_ref().map(|(_, local, _)| local.to_string()),
                workers_unix: cfg.workers,
                workers_tcp: cfg.tcp.as_ref().map_or(0, |t| t.workers),
            },
            {
                let w = Arc::clone(&waker);
                Box::new(move || w())
            },
        )
        .with_age_key(age_key),
    );
    ctx.session.set_burst_limit(cfg.burst_limit);

    // Keep the indexes fresh (a thread of its own; its state is the context's).
    ctx.start_freshness()?;

    let signal_handle = signals.handle();
    let signal_thread = {
        let w = Arc::clone(&waker);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if signals.forever().next().is_some() {
                    w();
                }
            })?
    };

    let uid = fsutil::my_uid();
    // The workers and the accept thread wait for connections with epoll and accept without
    // blocking (`ready.rs`, `pool.rs`).
    listener.set_nonblocking(true)?;
    let listener = Arc::new(unix::CredListener(listener));
    let admit = Arc::new(UnixAdmit {
        uid,
        ctx: Arc::clone(&ctx),
    });
    let parking = Arc::new(ready::Parking::new("uds")?);
    let pool = {
        let ctx = Arc::clone(&ctx);
        let parking = Arc::clone(&parking);
        let (l, a, stop) = (
            Arc::clone(&listener),
            Arc::clone(&admit),
            Arc::clone(&shutdown),
        );
        pool::Pool::new(
            pool::Spec {
                name: "uds",
                workers: cfg.workers,
                queue: cfg.queue,
                listener: listener.as_fd(),
                stop: Arc::clone(&shutdown),
                idle: log::flush,
            },
            move || ready::accept(&*l, &*a, &stop),
            move |c: ready::Conn<unix::CredStream, (u32, Option<u32>)>| {
                // The head first, without blocking: a connection whose head is missing goes
                // to the waiting thread and costs this worker nothing more.
                if let Some(c) = parking.ready_or_park(c) {
                    log::buffer_this_thread();
                    serve_unix(c, &ctx)
                }
            },
        )?
    };
    let tcp_thread = match tcp_side {
        Some((listener, _, state)) => {
            let ctx = Arc::clone(&ctx);
            let flag = Arc::clone(&shutdown);
            let (workers, queue) = (state.config.workers, state.config.queue);
            listener.set_nonblocking(true)?;
            let listener = Arc::new(listener);
            let admit = Arc::new(TcpAdmit {
                ctx: Arc::clone(&ctx),
            });
            let tcp_parking = Arc::new(ready::Parking::new("tcp")?);
            let tcp_pool = {
                let ctx = Arc::clone(&ctx);
                let state = Arc::clone(&state);
                let parking = Arc::clone(&tcp_parking);
                let (l, a, stop) = (
                    Arc::clone(&listener),
                    Arc::clone(&admit),
                    Arc::clone(&shutdown),
                );
                pool::Pool::new(
                    pool::Spec {
                        name: "tcp",
                        workers,
                        queue,
                        listener: listener.as_fd(),
                        stop: Arc::clone(&shutdown),
                        idle: log::flush,
                    },
                    move || ready::accept(&*l, &*a, &stop),
                    move |c: ready::Conn<std::net::TcpStream, std::net::IpAddr>| {
                        if let Some(c) = parking.ready_or_park(c) {
                            log::buffer_this_thread();
                            serve_tcp(c, &state, &ctx)
                        }
                    },
                )?
            };
            Some(
                std::thread::Builder::new()
                    .name("tcp-accept".into())
                    .spawn(move || {
                        ready::run(&*listener, &tcp_pool, &tcp_parking, &flag, &*admit);
                        tcp_pool.shutdown(limits::SHUTDOWN_GRACE)
                    })?,
            )
        }
        None => None,
    };
    eprintln!(
        "patina: serving {} on {} (pid {pid}, {} workers)",
        cfg.project.display(),
        cfg.socket.display(),
        cfg.workers
    );

    ready::run(&*listener, &pool, &parking, &shutdown, &*admit);

    eprintln!("patina: shutting down");
    // The workers hold their own references until they exit; the context is dropped last.
    drop((listener, admit));
    ctx.fresh.stop();
    let mut finished = pool.shutdown(limits::SHUTDOWN_GRACE);
    if let Some(t) = tcp_thread {
        finished &= t.join().unwrap_or(false);
    }
    // Lines still buffered by a worker that outlived the grace period.
    log::flush_all();
    if !finished {
        eprintln!("patina: some requests were still running after the grace period");
    }
    // Remove only what is still ours.
    if inode(&cfg.socket) == bound_ino {
        let _ = std::fs::remove_file(&cfg.socket);
    }
    if std::fs::read_to_string(&pid_path).ok().as_deref() == Some(&format!("{pid}\n")) {
        let _ = std::fs::remove_file(&pid_path);
    }
    signal_handle.close();
    let _ = signal_thread.join();
    ctx.session.shutdown(); // wipe now, even if a stuck worker still holds the context
    drop(ctx); // drops every domain state; secret holders zeroize on drop
    Ok(())
}

/// The address to connect to for waking a TCP accept: the bound one, with an unspecified
/// IP (`0.0.0.0`, `::`) replaced by loopback.
fn wake_addr(bound: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut a = bound;
    if a.ip().is_unspecified() {
        a.set_ip(match a.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

fn inode(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).ok().map(|m| m.ino())
}

/// The accept side's rules for the Unix socket: the peer-uid check before a byte is read
/// (case 016), the open-connection count, answers from the accept side (its waiting thread).
struct UnixAdmit {
    uid: u32,
    ctx: Arc<Ctx>,
}

impl ready::Admit<unix::CredStream> for UnixAdmit {
    type Peer = (u32, Option<u32>);
    fn admit(&self, stream: &unix::CredStream) -> Option<(u32, Option<u32>)> {
        let (uid, pid) = match unix::peer_credentials(stream.get_ref()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("patina: refused a connection: no peer credentials ({e})");
                return None;
            }
        };
        if uid != self.uid {
            // Closed before any request byte is read (case 016); the refusal is logged with
            // the peer uid only.
            eprintln!(
                "patina: refused a connection from uid {uid} (only uid {} is served)",
                self.uid
            );
            answer_now(
                stream,
                Response::error(403, "this daemon serves only its own user"),
            );
            return None;
        }
        self.ctx.open_connections.fetch_add(1, Ordering::Relaxed);
        Some((uid, pid))
    }
    fn answer(&self, stream: &unix::CredStream, status: u16) {
        answer_now(stream, accept_side_answer(status));
        self.closed();
    }
    fn closed(&self) {
        self.ctx.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The accept side's rules for TCP: the peer address, `TCP_NODELAY`, the count.
struct TcpAdmit {
    ctx: Arc<Ctx>,
}

impl ready::Admit<std::net::TcpStream> for TcpAdmit {
    type Peer = std::net::IpAddr;
    fn admit(&self, stream: &std::net::TcpStream) -> Option<std::net::IpAddr> {
        let ip = stream.peer_addr().ok()?.ip();
        let _ = stream.set_nodelay(true);
        self.ctx.open_connections.fetch_add(1, Ordering::Relaxed);
        Some(ip)
    }
    fn answer(&self, stream: &std::net::TcpStream, status: u16) {
        answer_now(stream, accept_side_answer(status));
        self.closed();
    }
    fn closed(&self) {
        self.ctx.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The answers the accept side gives itself: 408 (the head did not arrive within
/// [`limits::HEAD_DEADLINE`] of the accept) or 503 with `Retry-After` (too many pending
/// connections, or the worker queue is full).
fn accept_side_answer(status: u16) -> Response {
    match status {
        408 => Response::error(408, "the request head did not arrive in time"),
        _ => Response::error(503, "the server is busy; retry shortly")
            .with_header("Retry-After", "1"),
    }
}

/// Answers at once from the accept side, without reading the request and without
/// blocking: the answer is small and the socket's send buffer empty, so one non-blocking
/// send takes it. Then half-closes: the caller closes lingering ([`ready`]).
fn answer_now<S: Stream>(stream: &S, resp: Response) {
    let id = new_request_id();
    let mut out = Vec::new();
    framing::encode_response(&resp, &id, &mut out);
    log_line(&id, None, "-", resp.status, out.len(), 0);
    let _ = stream.send_now(&out);
    let _ = stream.shutdown_write();
}

/// Serves one Unix-socket connection whose peer the accept side admitted (its uid is ours).
///
/// Who wrote the request comes from the credentials of every read ([`unix::CredStream`],
/// the accept side's reads included); for a `patina` route the connecting process is
/// observed then and compared with the writer (issue 16: a connection handed over by
/// `fork`), and every `patina` route but the ticket route needs a one-use ticket that process
/// took earlier ([`crate::auth::ticket`]: a request written before an `exec` of patina). Other
/// routes never look at the writer, so they pay nothing for it.
fn serve_unix(conn: ready::Conn<unix::CredStream, (u32, Option<u32>)>, ctx: &Ctx) {
    let (uid, pid) = conn.peer;
    let gate = move |stream: &unix::CredStream, inc: &framing::Incoming| {
        let path = inc.request.path.as_str();
        let writer = if api::needs_patina(path) {
            let w = unix::AtAccept::observe(pid).writer(stream.written());
            match (w, pid) {
                // A patina route but the ticket route itself also needs a ticket taken by
                // this very process: proof it ran patina before it wrote this request.
                (crate::auth::Writer::PatinaAtAccept { start_time }, Some(p))
                    if path != crate::auth::ticket::TICKET_ROUTE =>
                {
                    let redeemed = inc
                        .info
                        .ticket
                        .as_deref()
                        .is_some_and(|t| ctx.tickets.redeem(t, p, start_time));
                    if redeemed {
                        crate::auth::Writer::PatinaAtAccept { start_time }
                    } else {
                        crate::auth::Writer::Unverified {
                            writer_pid: Some(p),
                            why: "no valid ticket from this process (POST /session/ticket first)",
                        }
                    }
                }
                (w, _) => w,
            }
        } else {
            crate::auth::Writer::Unverified {
                writer_pid: None,
                why: "not asked for a patina route",
            }
        };
        Ok(Principal::LocalPeer { uid, pid, writer })
    };
    serve_connection(conn, ctx, gate, |_| {});
}

/// Serves one TCP connection: `Host`/`Origin` checks, the bearer token, the failure budget.
fn serve_tcp(
    conn: ready::Conn<std::net::TcpStream, std::net::IpAddr>,
    state: &tcp::TcpState,
    ctx: &Ctx,
) {
    let ip = conn.peer;
    serve_connection(
        conn,
        ctx,
        |_, inc| {
            state.gate(
                ip,
                inc.info.host.as_deref(),
                inc.info.target_authority.as_deref(),
                inc.info.origin.as_deref(),
                inc.info.authorization.as_deref(),
                Some(&inc.request),
            )
        },
        |status| {
            if status == 401 {
                state.record_failure(ip);
            }
        },
    );
}

thread_local! {
    /// Per-worker scratch buffers (request head, encoded response), reused across
    /// connections so the hot path does not allocate them anew.
    static BUFS: RefCell<(Vec<u8>, Vec<u8>)> = RefCell::new((Vec::with_capacity(8192), Vec::with_capacity(8192)));
}

/// Reads one request (the bytes the accept side read first, then the rest; the head deadline
/// counts from the accept), decides its principal with `gate` (or refuses it there),
/// dispatches it, writes the response and closes the connection; `done` sees the final
/// status.
fn serve_connection<S: Stream, P>(
    conn: ready::Conn<S, P>,
    ctx: &Ctx,
    gate: impl FnOnce(&S, &framing::Incoming) -> Result<Principal, Response>,
    done: impl FnOnce(u16),
) {
    /// Decrements the open-connection count on every path out, panics included.
    struct Open<'a>(&'a Ctx);
    impl Drop for Open<'_> {
        fn drop(&mut self) {
            self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let _open = Open(ctx);
    let t0 = Instant::now();
    BUFS.with(|b| {
        let Ok(mut bufs) = b.try_borrow_mut() else {
            return;
        };
        let (inbuf, outbuf) = &mut *bufs;
        let mut stream = conn.stream;
        inbuf.clear();
        inbuf.extend_from_slice(&conn.head);
        let mut head = conn.head;
        zeroize::Zeroize::zeroize(&mut head[..]);
        drop(head);
        match framing::read_request(&mut stream, inbuf, conn.accepted, new_request_id) {
            Err(ReadError::Silent) => {}
            Err(ReadError::Respond(resp)) => {
                let id = new_request_id();
                framing::encode_response(&resp, &id, outbuf);
                log_line(
                    &id,
                    None,
                    "-",
                    resp.status,
                    outbuf.len(),
                    t0.elapsed().as_micros(),
                );
                let _ = framing::write_response(&mut stream, outbuf);
                framing::linger_close(&mut stream);
            }
            Ok(inc) => {
                let req = &inc.request;
                let (resp, route) = match gate(&stream, &inc) {
                    Err(resp) => (resp, None),
                    Ok(principal) => {
                        let json = inc.info.content_type.as_deref() == Some("application/json");
                        api::dispatch(ctx, &principal, req, json)
                    }
                };
                done(resp.status);
                framing::encode_response(&resp, &req.request_id, outbuf);
                // Logged before the response is written: at low load the line is out before
                // the client has a byte of its answer (see [`log`]), and a client is done at
                // `Content-Length`, without waiting for the close. The time logged is the
                // request's until its answer was ready.
                log_line(
                    &req.request_id,
                    Some(req.method),
                    route.unwrap_or("<unrouted>"),
                    resp.status,
                    outbuf.len(),
                    t0.elapsed().as_micros(),
                );
                let _ = framing::write_response(&mut stream, outbuf);
                if inc.trailing_bytes {
                    framing::linger_close(&mut stream);
                }
            }
        }
        // The request may have carried an identity (`/session/unlock`) or a value
        // (`/secrets/add`), the response values (`/session/env`): wipe both buffers'
        // bytes, so no copy outlives the request in this worker's heap (QA session 9, H5).
        zeroize::Zeroize::zeroize(&mut inbuf[..]);
        zeroize::Zeroize::zeroize(&mut outbuf[..]);
        inbuf.clear();
        outbuf.clear();
        // Keep a burst of large requests from pinning memory in every worker.
        if inbuf.capacity() > 64 * 1024 {
            *inbuf = Vec::with_capacity(8192);
        }
        if outbuf.capacity() > 256 * 1024 {
            *outbuf = Vec::with_capacity(8192);
        }
    });
}

/// A fresh request id: 16 hex digits, unique within this daemon's life.
pub fn new_request_id() -> String {
    static SEED: AtomicU64 = AtomicU64::new(0);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut seed = SEED.load(Ordering::Relaxed);
    if seed == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        seed = (nanos ^ (u64::from(std::process::id()) << 32)) | 1;
        SEED.store(seed, Ordering::Relaxed);
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64 of seed+n: unique per n, not guessable from the count alone.
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{:016x}", z ^ (z >> 31))
}

/// One line per request on stderr: time, request id, method, route, status, bytes written,
/// microseconds. Never a body, a header value, or any raw byte of the request target: an
/// unrouted path is logged as `<unrouted>`.
fn log_line(
    id: &str,
    method: Option<Method>,
    route: &str,
    status: u16,
    bytes: usize,
    micros: u128,
) {
    thread_local! {
        /// The line being built, and this thread's last timestamp (second, text): reused so a
        /// log line costs no allocation and the date is formatted once a second.
        static LINE: RefCell<(Vec<u8>, u64, String)> = const { RefCell::new((Vec::new(), u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let method = method.map(Method::as_str).unwrap_or("-");
    LINE.with(|cell| {
        let Ok(mut guard) = cell.try_borrow_mut() else {
            return;
        };
        let (line, last, stamp) = &mut *guard;
        if *last != secs {
            *stamp = utc_timestamp(now);
            *last = secs;
        }
        line.clear();
        let _ = writeln!(
            line,
            "{stamp} {id} {method} {route} {status} {bytes} {micros}us"
        );
        // Whole lines only, buffered per worker (see [`log`]): lines never interleave and
        // no worker waits on another's formatting or on the stderr file's lock per request.
        log::write_line(line);
    });
}

/// Replaces the default panic hook with one that prints only the location: a panic payload
/// may have been formatted from request data, so it is never printed.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let loc = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".into());
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        let _ = writeln!(
            std::io::stderr(),
            "patina: internal error (panic) in thread {name} at {loc}; the request got 500"
        );
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_hex() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
