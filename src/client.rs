//! The one HTTP client: every subcommand that talks to a daemon goes through [`Client`].
//! It writes HTTP/1.1 requests (RFC 9112) and parses responses with `httparse`, over the
//! Unix socket. Only this module and [`crate::server`] know the wire format.

use crate::paths::Home;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest response the client reads: 64 MiB (a 1000-result scry is well under 1 MiB).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Default time for a whole exchange (connect, write, read to EOF).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the socket (missing, or connect refused).
    #[error("no daemon running at {0} (start one with `patina serve`)")]
    NoDaemon(PathBuf),
    /// The daemon did not answer in time.
    #[error("the daemon at {0} did not answer in time")]
    Timeout(PathBuf),
    /// The daemon's answer was not a well-formed HTTP response.
    #[error("the daemon at {0} sent a malformed response ({1})")]
    Malformed(PathBuf, &'static str),
    /// Any other I/O failure.
    #[error("talking to the daemon at {0}: {1}")]
    Io(PathBuf, io::Error),
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
    pub fn json<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|_| anyhow::anyhow!("the daemon's answer is not the expected JSON"))
    }

    /// The `error` message of an error body, or a generic one naming the status.
    pub fn error_message(&self) -> String {
        serde_json::from_slice::<crate::http::ErrorBody>(&self.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| format!("the daemon answered {}", self.status))
    }
}

/// A client of one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    /// A client of the daemon at `socket`.
    pub fn unix(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A client of the user's default daemon (`$PATINA_HOME/run/serve.sock`).
    pub fn for_home(home: &Home) -> Client {
        Client::unix(home.socket_path())
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
        UnixStream::connect(&self.socket).is_ok()
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
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut s = UnixStream::connect(&self.socket).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NoDaemon(self.socket.clone())
            }
            _ => ClientError::Io(self.socket.clone(), e),
        })?;
        let mut out = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
        write!(out, "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: patina/{}\r\nAccept: application/json\r\nConnection: close\r\n", crate::VERSION)
            .expect("writing to a Vec");
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
                ClientError::Timeout(self.socket.clone())
            } else {
                ClientError::Io(self.socket.clone(), e)
            }
        };
        s.set_write_timeout(Some(self.timeout)).map_err(io_err)?;
        s.write_all(&out).map_err(io_err)?;
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(self.socket.clone()));
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
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A reset after the full response (the daemon closed with our bytes unread).
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !buf.is_empty() => break,
                Err(e) => return Err(io_err(e)),
            }
        }
        parse_response(&buf).map_err(|m| ClientError::Malformed(self.socket.clone(), m))
    }
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
    fn parses_a_response_and_trims_to_content_length() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
        assert!(parse_response(b"garbage").is_err());
    }
}
