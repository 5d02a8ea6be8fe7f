//! Reading one bounded HTTP/1.1 request and writing one response (RFC 9112), over any
//! `Read + Write` stream. Only this file and [`crate::client`] know the wire format.
//!
//! The rules (requirements §4) fail closed: the head is capped by how much is *read*, not by what the
//! client declares; `Content-Length` is digits only and appears at most once; any
//! `Transfer-Encoding` is refused before a body byte is read; every deadline covers a whole
//! phase (head, body, write), so a client that drips a byte a second is still cut off.

use crate::http::{Method, Request, Response, reason_phrase};
use crate::limits::*;
use std::io::{self, Write};
use std::time::Instant;

pub use crate::stream::Stream;

/// A request that could not be read: the status and message to answer with, or nothing at
/// all when the client went away before sending a byte.
#[derive(Debug)]
pub enum ReadError {
    /// Answer with this error response, then close (lingering, as bytes may be unread).
    Respond(Response),
    /// Close without answering: the client closed or reset before sending anything.
    Silent,
}

fn fail(status: u16, msg: &str) -> ReadError {
    ReadError::Respond(Response::error(status, msg))
}

/// Request header fields the transport itself interprets.
#[derive(Debug, Default)]
pub struct HeadInfo {
    /// The client's `X-Request-Id`, if short and plain (see [`sane_request_id`]).
    pub request_id: Option<String>,
    /// The media type of `Content-Type`, lowercased, without parameters.
    pub content_type: Option<String>,
    /// `Authorization` field value, if present (never logged or echoed).
    pub authorization: Option<Vec<u8>>,
    /// `Host` field value, if present and ASCII.
    pub host: Option<String>,
    /// `Origin` field present (a browser is talking).
    pub origin: Option<String>,
    /// `Patina-Ticket` field value, if present (a one-use ticket for a `patina` route,
    /// [`crate::auth::ticket`]; never logged or echoed).
    pub ticket: Option<Vec<u8>>,
    /// The authority of an absolute-form request target (`http://AUTHORITY/path`, RFC 9112
    /// §3.2.2), which a server must use instead of `Host`: checked on TCP with the same rules.
    pub target_authority: Option<String>,
}

/// A fully read request plus the header fields the transport needs for auth.
#[derive(Debug)]
pub struct Incoming {
    /// What the handlers see.
    pub request: Request,
    /// What the transport and the auth middleware see.
    pub info: HeadInfo,
    /// True when bytes past the request were already received (a pipelined request or junk):
    /// the connection must be closed with a lingering close.
    pub trailing_bytes: bool,
}

/// Reads one request from `stream` into `buf`, which holds the bytes already read from the
/// connection (by the accept side, [`super::ready`]; reused across connections by a worker so
/// the hot path does not allocate it anew). The head deadline, [`HEAD_DEADLINE`]
/// ([`head_deadline`], which a test build may override), counts from `head_started` (the
/// accept), not from this call.
///
/// Errors carry the response to send: 400 malformed, 408 head or body deadline, 411 `POST`
/// without `Content-Length`, 413 body over [`MAX_BODY_BYTES`], 431 head over
/// [`MAX_HEAD_BYTES`] or more than [`MAX_HEADERS`] fields, 501 `Transfer-Encoding`.
pub fn read_request<S: Stream>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    head_started: Instant,
    new_request_id: impl FnOnce() -> String,
) -> Result<Incoming, ReadError> {
    let head_deadline = head_started + head_deadline();
    // Zeroed only when a read is needed: the accept side has usually read the whole head
    // already (`buf`), and zeroing 8 KiB was a third of this function's instructions.
    let mut chunk: Option<[u8; READ_CHUNK]> = None;
    let mut fresh = buf.is_empty();
    let (head_len, mut info, method, path, query, content_length) = loop {
        if fresh {
            let chunk = chunk.get_or_insert([0u8; READ_CHUNK]);
            let n = read_some(stream, chunk, head_deadline).map_err(|e| match e {
                Phase::Timeout => fail(408, "the request head did not arrive in time"),
                Phase::Closed if buf.is_empty() => ReadError::Silent,
                Phase::Closed => fail(400, "the connection closed before the request head ended"),
            })?;
            buf.extend_from_slice(&chunk[..n]);
        }
        fresh = true;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                if len > MAX_HEAD_BYTES {
                    return Err(head_too_large());
                }
                let parsed = interpret_head(&req)?;
                break (len, parsed.0, parsed.1, parsed.2, parsed.3, parsed.4);
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() >= MAX_HEAD_BYTES {
                    return Err(head_too_large());
                }
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(fail(431, "too many header fields (the limit is 64)"));
            }
            Err(httparse::Error::Version) => {
                return Err(fail(400, "unsupported HTTP version (use HTTP/1.1 or 1.0)"));
            }
            Err(e) => return Err(fail(400, &format!("malformed request head ({e})"))),
        }
    };

    // The body: exactly Content-Length bytes, some maybe already in `buf`.
    let body_len = content_length.unwrap_or(0);
    let already = buf.len() - head_len;
    let mut body = Vec::with_capacity(body_len);
    let take = already.min(body_len);
    body.extend_from_slice(&buf[head_len..head_len + take]);
    let trailing_bytes = already > body_len;
    if body.len() < body_len {
        if info.expect_continue {
            // RFC 9110 §10.1.1: tell a waiting client to send the body now.
            let _ = write_all_by(
                stream,
                b"HTTP/1.1 100 Continue\r\n\r\n",
                Instant::now() + WRITE_DEADLINE,
            );
        }
        let body_deadline = Instant::now() + body_deadline();
        let chunk = chunk.get_or_insert([0u8; READ_CHUNK]);
        while body.len() < body_len {
            let want = (body_len - body.len()).min(READ_CHUNK);
            let n = read_some(stream, &mut chunk[..want], body_deadline).map_err(|e| match e {
                Phase::Timeout => fail(408, "the request body did not arrive in time"),
                Phase::Closed => fail(400, "the connection closed before the body ended"),
            })?;
            body.extend_from_slice(&chunk[..n]);
        }
    }
    // The last chunk read may hold part of a body that carries a secret.
    if let Some(chunk) = chunk.as_mut() {
        zeroize::Zeroize::zeroize(&mut chunk[..]);
    }
    let request_id = info.head.request_id.take().unwrap_or_else(new_request_id);
    Ok(Incoming {
        request: Request {
            method,
            path,
            query,
            body,
            request_id,
        },
        info: info.head,
        trailing_bytes,
    })
}

fn head_too_large() -> ReadError {
    fail(431, "the request head is larger than 32 KiB")
}

struct Interpreted {
    head: HeadInfo,
    expect_continue: bool,
}

type HeadParts = (Interpreted, Method, String, Option<String>, Option<usize>);

/// Applies the framing rules to a complete head: target form, `Content-Length`,
/// `Transfer-Encoding`, and the fields the transport needs.
fn interpret_head(req: &httparse::Request<'_, '_>) -> Result<HeadParts, ReadError> {
    let method_token = req.method.unwrap_or("");
    let method = Method::from_token(method_token);
    let target = req.path.unwrap_or("");
    let origin_form = origin_form(target)
        .ok_or_else(|| fail(400, "the request target must be a path starting with /"))?;
    let target_authority = absolute_form_authority(target);
    if target_authority.is_some_and(str::is_empty) {
        return Err(fail(
            400,
            "an absolute-form request target needs an authority (http://HOST/path)",
        ));
    }
    let (path, query) = match origin_form.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (origin_form.to_string(), None),
    };

    let mut content_length: Option<usize> = None;
    let mut head = HeadInfo {
        target_authority: target_authority.map(str::to_string),
        ..HeadInfo::default()
    };
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return Err(fail(400, "more than one Content-Length header field"));
            }
            content_length = Some(parse_content_length(h.value)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Refused whatever its value (RFC 9112 §6.1); 400 when Content-Length is
            // present too, since the framing is then ambiguous.
            let has_cl = req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("content-length"));
            return Err(if has_cl {
                fail(
                    400,
                    "Transfer-Encoding together with Content-Length is refused",
                )
            } else {
                fail(
                    501,
                    "Transfer-Encoding is not supported; send Content-Length",
                )
            });
        } else if name.eq_ignore_ascii_case("x-request-id") {
            head.request_id = sane_request_id(h.value);
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = std::str::from_utf8(h.value).ok().map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        } else if name.eq_ignore_ascii_case("authorization") {
            if head.authorization.is_some() {
                return Err(fail(400, "more than one Authorization header field"));
            }
            head.authorization = Some(h.value.to_vec());
        } else if name.eq_ignore_ascii_case("patina-ticket") {
            if head.ticket.is_some() {
                return Err(fail(400, "more than one Patina-Ticket header field"));
            }
            head.ticket = Some(h.value.to_vec());
        } else if name.eq_ignore_ascii_case("host") {
            if head.host.is_some() {
                return Err(fail(400, "more than one Host header field"));
            }
            head.host = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if name.eq_ignore_ascii_case("origin") {
            head.origin = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
    if req.version == Some(1) && head.host.is_none() {
        return Err(fail(400, "an HTTP/1.1 request needs a Host header field"));
    }
    if let Some(n) = content_length {
        if n > MAX_BODY_BYTES {
            return Err(fail(413, "the request body is larger than 1 MiB"));
        }
    } else if method == Method::Post {
        return Err(fail(411, "POST needs a Content-Length header field"));
    }
    Ok((
        Interpreted {
            head,
            expect_continue: expect_continue && req.version == Some(1),
        },
        method,
        path,
        query,
        content_length,
    ))
}

/// The origin-form of a request target (RFC 9112 §3.2.1). An absolute-form target
/// (`http://host/path`, §3.2.2) is reduced to its path; `*` and authority-form are refused.
fn origin_form(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return Some(target);
    }
    let lower = target.get(..7)?.to_ascii_lowercase();
    if lower == "http://" {
        let rest = &target[7..];
        return match rest.find('/') {
            Some(i) => Some(&rest[i..]),
            None => Some("/"),
        };
    }
    None
}

/// The authority of an absolute-form target (`http://AUTHORITY[/…|?…]`, RFC 9112 §3.2.2,
/// RFC 3986 §3.2), or `None` for any other form.
fn absolute_form_authority(target: &str) -> Option<&str> {
    let scheme = target.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &target[7..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Parses a `Content-Length` value (RFC 9110 §8.6): one or more ASCII digits, nothing else.
/// Values past [`MAX_BODY_BYTES`] — including ones too large for any integer — are 413.
fn parse_content_length(v: &[u8]) -> Result<usize, ReadError> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(fail(400, "Content-Length must be a decimal number"));
    }
    let mut n: usize = 0;
    for &d in v {
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add((d - b'0') as usize))
        {
            Some(n) if n <= MAX_BODY_BYTES => n,
            _ => return Err(fail(413, "the request body is larger than 1 MiB")),
        };
    }
    Ok(n)
}

/// Returns the client's `X-Request-Id` if it is 1..=[`MAX_REQUEST_ID`] bytes of
/// `[A-Za-z0-9._:-]`; anything else is dropped (and a fresh id generated), so no raw client
/// bytes reach a response header or the log.
pub fn sane_request_id(v: &[u8]) -> Option<String> {
    let ok = !v.is_empty()
        && v.len() <= MAX_REQUEST_ID
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| String::from_utf8_lossy(v).into_owned())
}

enum Phase {
    Timeout,
    Closed,
}

/// One read that honours an absolute deadline: first a non-blocking `recv` (no timeout
/// syscall when the bytes are already there, the common case), then [`read_until`].
fn read_some<S: Stream>(stream: &mut S, buf: &mut [u8], deadline: Instant) -> Result<usize, Phase> {
    loop {
        match stream.recv_now(buf) {
            Ok(0) => return Err(Phase::Closed),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return read_until(stream, buf, deadline);
            }
            Err(_) => return Err(Phase::Closed),
        }
    }
}

/// One `read` that honours an absolute deadline.
fn read_until<S: Stream>(
    stream: &mut S,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, Phase> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Phase::Timeout);
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            return Err(Phase::Closed);
        }
        match stream.read(buf) {
            Ok(0) => return Err(Phase::Closed),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Phase::Timeout);
            }
            Err(_) => return Err(Phase::Closed),
        }
    }
}

/// `write_all` under an absolute deadline. A first non-blocking `send` takes what fits in the
/// socket buffer (all of a small response) without setting `SO_SNDTIMEO`.
fn write_all_by<S: Stream>(stream: &mut S, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    loop {
        match stream.send_now(data) {
            Ok(n) => {
                data = &data[n..];
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    while !data.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Serializes a response with the fixed header fields of requirements §4 into `out` (cleared first),
/// straight into the reused buffer (no intermediate string).
pub fn encode_response(resp: &Response, request_id: &str, out: &mut Vec<u8>) {
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\
         Cache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n\
         X-Frame-Options: DENY\r\n\
         X-Request-Id: {}\r\n",
        resp.status,
        reason_phrase(resp.status),
        resp.body.len(),
        request_id
    );
    for (name, value) in &resp.headers {
        // Values come from handlers, never raw from a request; strip CR/LF all the same.
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend(value.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&resp.body);
}

/// Writes an encoded response under the write deadline.
pub fn write_response<S: Stream>(stream: &mut S, encoded: &[u8]) -> io::Result<()> {
    write_all_by(stream, encoded, Instant::now() + WRITE_DEADLINE)
}

/// A lingering close (RFC 9112 §9.6): half-close, then read and discard what the client
/// still sends, bounded in bytes and time, so closing with unread data does not reset the
/// connection before the client has read the response.
pub fn linger_close<S: Stream>(stream: &mut S) {
    let _ = stream.shutdown_write();
    let deadline = Instant::now() + LINGER_DEADLINE;
    let mut sink = [0u8; READ_CHUNK];
    let mut total = 0usize;
    while total < LINGER_MAX_BYTES {
        match read_until(stream, &mut sink, deadline) {
            Ok(n) => total += n,
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_accepts_digits_only() {
        assert_eq!(parse_content_length(b"0").ok(), Some(0));
        assert_eq!(parse_content_length(b"1048576").ok(), Some(MAX_BODY_BYTES));
        for bad in [&b""[..], b"-1", b"+2", b"0x2", b"2, 2", b"1 2", b" 2"] {
            match parse_content_length(bad) {
                Err(ReadError::Respond(r)) => assert_eq!(r.status, 400, "{bad:?}"),
                _ => panic!("accepted {bad:?}"),
            }
        }
        for big in [
            &b"1048577"[..],
            b"18446744073709551618",
            b"99999999999999999999999",
        ] {
            match parse_content_length(big) {
                Err(ReadError::Respond(r)) => assert_eq!(r.status, 413, "{big:?}"),
                _ => panic!("accepted {big:?}"),
            }
        }
    }

    #[test]
    fn request_id_is_echoed_only_when_plain() {
        assert_eq!(sane_request_id(b"req-42").as_deref(), Some("req-42"));
        assert_eq!(sane_request_id(b"a\",\"status\":\"ok"), None);
        assert_eq!(sane_request_id(b"\xff\xfe"), None);
        assert_eq!(sane_request_id(&[b'a'; 2000]), None);
        assert_eq!(sane_request_id(b""), None);
    }

    #[test]
    fn absolute_form_is_reduced_to_its_path() {
        assert_eq!(origin_form("/health"), Some("/health"));
        assert_eq!(origin_form("http://localhost/health"), Some("/health"));
        assert_eq!(origin_form("HTTP://x"), Some("/"));
        assert_eq!(origin_form("*"), None);
        assert_eq!(origin_form("localhost:80"), None);
        assert_eq!(
            absolute_form_authority("http://evil.example/api/scry"),
            Some("evil.example")
        );
        assert_eq!(
            absolute_form_authority("HTTP://127.0.0.1:8"),
            Some("127.0.0.1:8")
        );
        assert_eq!(absolute_form_authority("http://a@b?x"), Some("a@b"));
        assert_eq!(absolute_form_authority("http:///x"), Some(""));
        assert_eq!(absolute_form_authority("/health"), None);
    }
}
