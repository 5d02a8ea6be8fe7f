//! The one HTTP client: every subcommand that talks to a daemon goes through [`Client`].
//! It writes HTTP/1.1 requests (RFC 9112) and parses responses with `httparse`, over the
//! Unix socket by default, or over TCP with a bearer token when `PATINA_URL` (or `--url`)
//! names a daemon. Only this module and [`crate::server`] know the wire format.
//! Depends on [`crate::auth`] (the bearer token, the handshake's keys and protocol),
//! [`crate::http`] (the error body), [`crate::limits`] (`sun_path`), [`crate::paths`] and
//! [`crate::stream`] (the socket abstraction it shares with the daemon).

pub mod handshake;
pub mod url;

use crate::paths::Home;
use crate::stream::Stream;
use handshake::ClientAuth;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::DaemonUrl;

/// Largest response the client reads: 64 MiB (a 1000-result scry is well under 1 MiB).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Default time for a whole exchange (connect, write, read to EOF): 9 s. The slowest routes
/// answer well inside it (a search stops at 2 s, a federated one at 3 s); a stopped or wedged
/// daemon is reported after it (issue 15), so that a command returns within case 033's 10 s
/// with the process's own start and exit (10 s gave 10.1–10.2 s end to end).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(9);

/// How every response starts (RFC 9112 §4: the status line's HTTP-version).
const HTTP_PREFIX: &[u8] = b"HTTP/1.";

/// Environment variable naming a daemon reached over TCP: `http://HOST:PORT`.
pub const URL_ENV: &str = "PATINA_URL";

/// Time allowed for connecting.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket path cannot be connected to at all: longer than `sun_path` holds
    /// (`unix(7)`: 107 bytes and a NUL). Named with its length and the fix, as `serve` does.
    #[error(
        "socket path {path} is {len} bytes; Unix sockets allow at most {max} (sun_path): set a shorter {home} (the socket is ${home}/run/serve.sock)",
        path = .0.display(),
        len = .1,
        max = crate::limits::SUN_PATH_MAX,
        home = crate::paths::HOME_ENV
    )]
    SocketPathTooLong(PathBuf, usize),
    /// Nothing listens at the socket (missing, or connect refused).
    #[error("no daemon running at {0} (start one with `patina serve`)")]
    NoDaemon(PathBuf),
    /// The daemon refused our credentials.
    #[error(
        "the daemon at {0} answered 401: check the token (PATINA_SERVE_TOKEN or the token file at {1})"
    )]
    Unauthorized(PathBuf, PathBuf),
    /// The daemon did not accept or answer within the time allowed (stopped, wedged, or
    /// its accept queue full). The third field is the pid `serve.pid` beside the socket names
    /// when that process is stopped ([`crate::auth::process_stopped`]), for the fix.
    #[error(
        "the daemon at {} did not answer within {} s: {}",
        .0.display(),
        .1.as_secs(),
        match .2 {
            Some(pid) => format!("it is stopped (pid {pid}, by SIGSTOP or a debugger); `kill -CONT {pid}` resumes it"),
            None => "it is stopped or stuck (its pid is in the run directory's serve.pid)".to_string(),
        }
    )]
    Timeout(PathBuf, Duration, Option<u32>),
    /// The daemon's answer was not a well-formed HTTP response.
    #[error("the daemon at {0} sent a malformed response ({1})")]
    Malformed(PathBuf, &'static str),
    /// Any other I/O failure.
    #[error("talking to the daemon at {0}: {1}")]
    Io(PathBuf, io::Error),
    /// The age-key handshake failed, or the pinned server key changed ([`handshake`]).
    #[error("{0}")]
    Handshake(handshake::HandshakeError),
    /// The daemon refused a request under an age-key session (expired, or the key revoked).
    #[error("the daemon at {0} refused the age-key session (was this client's key revoked?)")]
    SessionRefused(PathBuf),
    /// A daemon URL (named by the field: `PATINA_URL/--url`, a peer's URL) is not
    /// `http://HOST:PORT`. The URL itself is not quoted (it may carry credentials).
    #[error("{0} must look like http://HOST:PORT")]
    BadUrl(&'static str),
    /// The client's own key or token files could not be read ([`crate::auth::Error`]).
    #[error("{0}")]
    Auth(crate::auth::Error),
    /// The daemon's answer is not the JSON the request expects.
    #[error("the daemon's answer is not the expected JSON")]
    NotJson,
    /// The process listening at the socket (`SO_PEERCRED`) is not a patina daemon of this
    /// user: another uid, another executable, or one that cannot be told. Nothing was sent.
    #[error(
        "{} is held by pid {pid} ({what}), which is not a patina daemon: nothing was sent to it. Stop that process and remove the socket, then run `patina serve`",
        .path.display()
    )]
    NotPatina {
        /// The socket path.
        path: PathBuf,
        /// The listening process (the one that called `listen(2)`).
        pid: u32,
        /// What it is: its executable, another uid, or why it cannot be told.
        what: String,
    },
    /// The listener runs an older patina binary, replaced on disk since the daemon started
    /// (a rebuild or an upgrade). Nothing was sent (but `patina stop` may stop it).
    #[error(
        "the daemon at {} (pid {pid}) runs a patina binary that was replaced on disk since it started ({exe}): nothing was sent to it. Run `patina stop`, then `patina serve`",
        .path.display()
    )]
    Replaced {
        /// The socket path.
        path: PathBuf,
        /// The listening process.
        pid: u32,
        /// Its executable as `/proc/<pid>/exe` reads (`… (deleted)`).
        exe: String,
    },
}

/// A response: status code and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body bytes (JSON).
    pub body: Vec<u8>,
}

impl Reply {
    /// Deserializes the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|_| ClientError::NotJson)
    }

    /// The `error` message of an error body, or a generic one naming the status.
    pub fn error_message(&self) -> String {
        serde_json::from_slice::<crate::http::ErrorBody>(&self.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("the daemon answered {}", self.status))
    }
}

/// Where the daemon is.
#[derive(Debug, Clone)]
enum Target {
    Unix,
    Tcp {
        /// `host:port` as given in the URL (also the `Host` field).
        authority: String,
        /// The token file to name in errors.
        token_path: PathBuf,
        /// The bearer token, if one was found; never printed (`Token`'s Debug is redacted).
        token: Option<Arc<crate::auth::token::Token>>,
        /// The age-key session state for this daemon, when it is used ([`ClientAuth::for_url`]).
        age: Option<Arc<ClientAuth>>,
    },
}

/// A client of one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    /// The Unix socket, or for TCP the URL (used in messages).
    socket: PathBuf,
    target: Target,
    timeout: Duration,
    /// Whether a listener running an older, replaced patina binary is accepted
    /// ([`Client::allowing_replaced_binary`]).
    allow_replaced: bool,
}

/// Checks the process listening behind `stream` before anything is written to it: the
/// kernel's `SO_PEERCRED` names the process that called `listen(2)` (`unix(7)`); it must run
/// as this user and run this very executable ([`crate::auth::peer_executable`], the test the
/// daemon makes of its clients). A daemon's listener is its witness process (a child running
/// the same binary, `server::witness`), because the daemon itself is not dumpable and a
/// non-root client could not read its `/proc/<pid>/exe`. A listener that runs an older
/// binary at this one's path is refused with what to do, unless `allow_replaced`.
pub fn check_listener(
    stream: &UnixStream,
    socket: &Path,
    allow_replaced: bool,
) -> Result<(), ClientError> {
    use crate::auth::PeerExe;
    let cred = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| ClientError::Io(socket.to_path_buf(), e.into()))?;
    let pid = u32::try_from(cred.pid.as_raw_nonzero().get()).unwrap_or(0);
    let not_patina = |what: String| ClientError::NotPatina {
        path: socket.to_path_buf(),
        pid,
        what,
    };
    let me = rustix::process::geteuid().as_raw();
    if cred.uid.as_raw() != me {
        return Err(not_patina(format!(
            "it runs as uid {}, not as you (uid {me})",
            cred.uid.as_raw()
        )));
    }
    match crate::auth::peer_executable(pid) {
        PeerExe::This => Ok(()),
        PeerExe::Replaced(_) if allow_replaced => Ok(()),
        PeerExe::Replaced(exe) => Err(ClientError::Replaced {
            path: socket.to_path_buf(),
            pid,
            exe,
        }),
        PeerExe::Other(exe) => Err(not_patina(exe)),
        PeerExe::Unknown(why) => Err(not_patina(why)),
    }
}

/// The pid in the `serve.pid` beside `socket` (the run directory's) when that process is
/// stopped ([`crate::auth::process_stopped`]); `None` otherwise. Read only after a timeout,
/// to name the fix.
fn stopped_daemon(socket: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(socket.with_file_name("serve.pid")).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    crate::auth::process_stopped(pid).then_some(pid)
}

/// Connects to a Unix socket within `limit`: a blocking `connect(2)` waits for as long as the
/// listener's accept queue stays full (a stopped or wedged daemon), so the socket is made
/// non-blocking and the connect retried on `EAGAIN` until the limit (`TimedOut`). The
/// stream returned is blocking.
fn connect_unix(path: &Path, limit: Duration) -> io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let addr = SocketAddrUnix::new(path)?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    let deadline = Instant::now() + limit;
    loop {
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => break,
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(rustix::io::Errno::AGAIN) => return Err(io::ErrorKind::TimedOut.into()),
            Err(e) => return Err(e.into()),
        }
    }
    let s = UnixStream::from(fd);
    s.set_nonblocking(false)?;
    Ok(s)
}

impl Client {
    /// A client of the daemon at `socket`.
    pub fn unix(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            target: Target::Unix,
            timeout: DEFAULT_TIMEOUT,
            allow_replaced: false,
        }
    }

    /// A client of the user's default daemon (`$PATINA_HOME/run/serve.sock`).
    pub fn for_home(home: &Home) -> Client {
        Client::unix(home.socket_path())
    }

    /// The client every subcommand uses: `url` (from `--url`), else `PATINA_URL`, else the
    /// user's Unix socket. A TCP client takes its token from `PATINA_SERVE_TOKEN`, else the
    /// token file. Errors for a URL that is not `http://HOST:PORT`.
    pub fn from_env(home: &Home, url: Option<&str>) -> Result<Client, ClientError> {
        let env = std::env::var(URL_ENV).ok().filter(|u| !u.is_empty());
        let Some(url) = url.map(str::to_string).or(env) else {
            return Ok(Client::for_home(home));
        };
        let parsed = DaemonUrl::parse(&url).map_err(|_| ClientError::BadUrl("PATINA_URL/--url"))?;
        let authority = parsed.authority();
        let token_path = home.token_path();
        let token = crate::auth::token::read_token(&token_path)
            .map_err(ClientError::Auth)?
            .map(Arc::new);
        // Age-key sessions: see `ClientAuth::for_url` for when they are used.
        let age = ClientAuth::for_url(home, &parsed, token.is_some())
            .map_err(ClientError::Auth)?
            .map(Arc::new);
        Ok(Client {
            socket: PathBuf::from(format!("http://{authority}")),
            target: Target::Tcp {
                authority,
                token_path,
                token,
                age,
            },
            timeout: DEFAULT_TIMEOUT,
            allow_replaced: false,
        })
    }

    /// A client of the daemon at `url` (`http://HOST:PORT`, the port defaulting to
    /// [`url::DEFAULT_PORT`]) over TCP with `token` as its bearer token: how mother reaches a
    /// peer daemon. Errors for a URL of another shape (the URL is not quoted).
    pub fn tcp(url: &str, token: crate::auth::token::Token) -> Result<Client, ClientError> {
        let authority = DaemonUrl::parse(url)
            .map_err(|_| ClientError::BadUrl("a daemon URL"))?
            .authority();
        Ok(Client {
            socket: PathBuf::from(format!("http://{authority}")),
            target: Target::Tcp {
                authority,
                token_path: PathBuf::from("(the peer's token file)"),
                token: Some(Arc::new(token)),
                age: None,
            },
            timeout: DEFAULT_TIMEOUT,
            allow_replaced: false,
        })
    }

    /// True for a TCP client.
    pub fn is_tcp(&self) -> bool {
        matches!(self.target, Target::Tcp { .. })
    }

    /// Accepts a listener that runs an older patina binary, replaced on disk since it
    /// started: for `patina stop` only, whose request carries nothing secret.
    pub fn allowing_replaced_binary(mut self) -> Client {
        self.allow_replaced = true;
        self
    }

    /// Sets the timeout of a whole exchange.
    pub fn with_timeout(mut self, t: Duration) -> Client {
        self.timeout = t;
        self
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// True when a daemon accepts connections at the socket.
    pub fn is_running(&self) -> bool {
        self.reachable().is_ok()
    }

    /// Whether a daemon accepts connections, with the reason when not: the same errors as a
    /// request ([`ClientError::NoDaemon`], [`ClientError::SocketPathTooLong`], …).
    pub fn reachable(&self) -> Result<(), ClientError> {
        self.open().map(drop)
    }

    /// Connects, with every failure as the [`ClientError`] a command reports.
    fn open(&self) -> Result<Conn, ClientError> {
        self.check_socket_path()?;
        if matches!(self.target, Target::Unix) {
            let s = connect_unix(&self.socket, CONNECT_TIMEOUT.min(self.timeout))
                .map_err(|e| self.connect_error(e))?;
            check_listener(&s, &self.socket, self.allow_replaced)?;
            return Ok(Box::new(s));
        }
        self.connect().map_err(|e| self.connect_error(e))
    }

    /// A failed connect as the [`ClientError`] a command reports.
    fn connect_error(&self, e: io::Error) -> ClientError {
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NoDaemon(self.socket.clone())
            }
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ClientError::Timeout(
                self.socket.clone(),
                CONNECT_TIMEOUT.min(self.timeout),
                stopped_daemon(&self.socket),
            ),
            _ => ClientError::Io(self.socket.clone(), e),
        }
    }

    /// The one check of the socket path before any connect: a path longer than `sun_path`
    /// gets [`ClientError::SocketPathTooLong`], not the OS's "path must be shorter than
    /// SUN_LEN".
    fn check_socket_path(&self) -> Result<(), ClientError> {
        let len = self.socket.as_os_str().len();
        match self.target {
            Target::Unix if len > crate::limits::SUN_PATH_MAX => {
                Err(ClientError::SocketPathTooLong(self.socket.clone(), len))
            }
            _ => Ok(()),
        }
    }

    fn connect(&self) -> io::Result<Conn> {
        match &self.target {
            Target::Unix => connect_unix(&self.socket, CONNECT_TIMEOUT.min(self.timeout))
                .map(|s| Box::new(s) as Conn),
            Target::Tcp { authority, .. } => {
                use std::net::ToSocketAddrs;
                let mut last = io::Error::from(io::ErrorKind::NotFound);
                for a in authority.to_socket_addrs()? {
                    match std::net::TcpStream::connect_timeout(
                        &a,
                        CONNECT_TIMEOUT.min(self.timeout),
                    ) {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            return Ok(Box::new(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.request("GET", path, None)
    }

    /// `POST path` with `body` serialized as JSON.
    pub fn post_json<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<Reply, ClientError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ClientError::Io(self.socket.clone(), io::Error::other(e)))?;
        self.request("POST", path, Some(&bytes))
    }

    /// Sends one request and reads the whole response (the daemon closes after it).
    ///
    /// Under an age-key session, a 401 (session expired, or lost by a daemon restart) is
    /// retried once after a fresh handshake: the daemon refused it before any handler ran.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, ClientError> {
        match self.request_ticketed(method, path, body) {
            Err(ClientError::SessionRefused(_)) => self.request_ticketed(method, path, body),
            other => other,
        }
    }

    /// A one-use ticket for this process's next request to a `patina` route
    /// ([`crate::auth::ticket`]), or `None` when the daemon gives none (an older daemon, or
    /// this binary is not the daemon's: the request itself then gets the daemon's refusal).
    fn ticket(&self) -> Result<Option<zeroize::Zeroizing<String>>, ClientError> {
        let reply =
            self.request_once("POST", crate::auth::ticket::TICKET_ROUTE, Some(b"{}"), None)?;
        if reply.status != 200 {
            return Ok(None);
        }
        #[derive(serde::Deserialize)]
        struct Ticket {
            ticket: String,
        }
        Ok(serde_json::from_slice::<Ticket>(&reply.body)
            .ok()
            .map(|t| zeroize::Zeroizing::new(t.ticket))
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())))
    }

    fn request_ticketed(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, ClientError> {
        let ticket = match self.target {
            Target::Unix if crate::auth::ticket::TICKETED.contains(&path) => self.ticket()?,
            _ => None,
        };
        self.request_once(method, path, body, ticket.as_ref().map(|t| t.as_str()))
    }

    /// The error for an exchange past its time: a timeout, or, when part of an answer came,
    /// an incomplete response (a stuck daemon or not a patina daemon).
    fn timed_out(&self, got: &[u8]) -> ClientError {
        if got.is_empty() {
            ClientError::Timeout(
                self.socket.clone(),
                self.timeout,
                stopped_daemon(&self.socket),
            )
        } else {
            ClientError::Malformed(
                self.socket.clone(),
                "an incomplete response, then nothing: not a patina daemon, or a stuck one",
            )
        }
    }

    fn request_once(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        ticket: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let age = match &self.target {
            Target::Tcp { age, .. } if !crate::auth::protocol::is_handshake_path(path) => {
                age.clone()
            }
            _ => None,
        };
        let age_auth = match &age {
            Some(a) => Some(
                a.authorization(self, method, path, body.unwrap_or(b""))
                    .map_err(ClientError::Handshake)?,
            ),
            None => None,
        };
        let mut s = self.open()?;
        let mut out =
            zeroize::Zeroizing::new(Vec::with_capacity(256 + body.map_or(0, <[u8]>::len)));
        let host = match &self.target {
            Target::Unix => "localhost",
            Target::Tcp { authority, .. } => authority.as_str(),
        };
        write!(
            out,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: patina/{}\r\nAccept: application/json\r\nConnection: close\r\n",
            crate::VERSION
        )
        .expect("writing to a Vec");
        if let Some(a) = &age_auth {
            // A per-request MAC under the session key; the key itself never leaves memory.
            out.extend_from_slice(b"Authorization: ");
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        } else if let Target::Tcp { token: Some(t), .. } = &self.target {
            // The one place a token value is written: into the request, never to output.
            out.extend_from_slice(b"Authorization: Bearer ");
            out.extend_from_slice(t.expose().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(t) = ticket {
            out.extend_from_slice(b"Patina-Ticket: ");
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(b) = body {
            write!(
                out,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            )
            .expect("writing to a Vec");
        }
        out.extend_from_slice(b"\r\n");
        if let Some(b) = body {
            out.extend_from_slice(b);
        }
        let io_err = |e: io::Error| {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                ClientError::Timeout(
                    self.socket.clone(),
                    self.timeout,
                    stopped_daemon(&self.socket),
                )
            } else {
                ClientError::Io(self.socket.clone(), e)
            }
        };
        s.set_write_timeout(Some(self.timeout)).map_err(io_err)?;
        s.write_all(&out).map_err(io_err)?;
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = [0u8; 16 * 1024];
        // The response's whole length, once its head is in and names a Content-Length: the
        // exchange ends there, without waiting for the daemon's close (under load the
        // daemon's worker may get the CPU back milliseconds after the client has read
        // everything; measured in layer/core/performance.md).
        let mut whole: Option<usize> = None;
        loop {
            if whole.is_some_and(|n| buf.len() >= n) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out(&buf));
            }
            s.set_read_timeout(Some(left)).map_err(io_err)?;
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    if buf.len() + n > MAX_RESPONSE_BYTES {
                        return Err(ClientError::Malformed(
                            self.socket.clone(),
                            "response too large",
                        ));
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Every answer of a patina daemon starts with its status line: anything
                    // else is told at once, not after the timeout (case 033's impostors).
                    let k = buf.len().min(HTTP_PREFIX.len());
                    if buf[..k] != HTTP_PREFIX[..k] {
                        return Err(ClientError::Malformed(
                            self.socket.clone(),
                            "not HTTP: not a patina daemon",
                        ));
                    }
                    if whole.is_none() {
                        whole = response_length(&buf);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A reset after the full response (the daemon closed with our bytes unread).
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !buf.is_empty() => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.timed_out(&buf));
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        let reply =
            parse_response(&buf).map_err(|m| ClientError::Malformed(self.socket.clone(), m))?;
        if let (401, Some(a)) = (reply.status, &age) {
            a.forget_session();
            return Err(ClientError::SessionRefused(self.socket.clone()));
        }
        if let (401, Target::Tcp { token_path, .. }) = (reply.status, &self.target) {
            return Err(ClientError::Unauthorized(
                self.socket.clone(),
                token_path.clone(),
            ));
        }
        Ok(reply)
    }
}

/// A connected stream of either kind, through the one socket abstraction of both ends
/// ([`Stream`]: per-call timeouts, `Read + Write`).
type Conn = Box<dyn Stream + Send>;

/// The length of the whole response whose first bytes are `buf` (head plus
/// `Content-Length`), once the head is complete and names a valid `Content-Length`; `None`
/// before, or when the body runs to the close (no `Content-Length`: [`parse_response`]
/// reads it all).
fn response_length(buf: &[u8]) -> Option<usize> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = resp.parse(buf) else {
        return None;
    };
    let h = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))?;
    let n: usize = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
    head_len.checked_add(n)
}

/// Parses a complete `Connection: close` response: status line, header fields, and a body of
/// exactly `Content-Length` bytes when that is given, else everything to EOF.
fn parse_response(buf: &[u8]) -> Result<Reply, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("incomplete head"),
        Err(_) => return Err("bad head"),
    };
    let status = resp.code.ok_or("no status")?;
    let mut body = &buf[head_len..];
    if let Some(h) = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        let n: usize = std::str::from_utf8(h.value)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or("bad Content-Length")?;
        if body.len() < n {
            return Err("body shorter than Content-Length");
        }
        body = &body[..n];
    }
    Ok(Reply {
        status,
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_whole_at_its_head_plus_content_length() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(response_length(&head[..10]), None, "head incomplete");
        assert_eq!(response_length(head), Some(head.len() + 2));
        assert_eq!(response_length(b"HTTP/1.1 200 OK\r\n\r\nbody"), None);
        assert_eq!(
            response_length(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            None
        );
    }

    #[test]
    fn parses_a_response_and_trims_to_content_length() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
        assert!(parse_response(b"garbage").is_err());
    }
}
