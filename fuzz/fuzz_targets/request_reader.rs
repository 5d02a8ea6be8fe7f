//! The request reader (`server::framing::read_request`) over an in-memory stream that hands
//! the bytes over in fuzzer-chosen pieces. Checks: no panic; the caps hold (head, body);
//! an error is one of the fixed messages, never input text; and the outcome does not depend
//! on how the bytes were cut (the same bytes read in 8 KiB pieces give the same request).
//!
//! Input: byte 0 = n (mod 16) piece sizes follow, then the request bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patina::limits::{MAX_BODY_BYTES, MAX_REQUEST_ID};
use patina::server::framing::{ReadError, Stream, read_request, sane_request_id};
use std::cell::RefCell;
use std::io;

/// A stream that returns `data` in pieces: piece sizes cycle through `cuts` (0 = as much as
/// asked); an odd cut makes the non-blocking `recv_now` say `WouldBlock` (so `read` serves
/// that piece), an even one lets `recv_now` serve it.
struct Mem(RefCell<Inner>);

struct Inner {
    data: Vec<u8>,
    pos: usize,
    cuts: Vec<u8>,
    i: usize,
}

impl Inner {
    fn cut(&self) -> usize {
        if self.cuts.is_empty() {
            0
        } else {
            self.cuts[self.i % self.cuts.len()] as usize
        }
    }
    fn next(&mut self, buf: &mut [u8]) -> usize {
        let cut = self.cut();
        self.i += 1;
        let want = if cut == 0 {
            buf.len()
        } else {
            (cut * 13).min(buf.len())
        };
        let n = want.min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}

impl io::Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.0.borrow_mut().next(buf))
    }
}

impl io::Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Mem {
    fn set_read_timeout(&self, _: Option<std::time::Duration>) -> io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&self, _: Option<std::time::Duration>) -> io::Result<()> {
        Ok(())
    }
    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut m = self.0.borrow_mut();
        if m.cut() % 2 == 1 {
            m.i += 1;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(m.next(buf))
    }
    fn send_now(&self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
}

/// Every message `read_request` may answer with (`malformed request head (…)` aside).
const MESSAGES: &[&str] = &[
    "the request head did not arrive in time",
    "the connection closed before the request head ended",
    "too many header fields (the limit is 64)",
    "unsupported HTTP version (use HTTP/1.1 or 1.0)",
    "the request body did not arrive in time",
    "the connection closed before the body ended",
    "the request head is larger than 32 KiB",
    "the request target must be a path starting with /",
    "an absolute-form request target needs an authority (http://HOST/path)",
    "more than one Content-Length header field",
    "Transfer-Encoding together with Content-Length is refused",
    "Transfer-Encoding is not supported; send Content-Length",
    "more than one Authorization header field",
    "more than one Host header field",
    "an HTTP/1.1 request needs a Host header field",
    "the request body is larger than 1 MiB",
    "POST needs a Content-Length header field",
    "Content-Length must be a decimal number",
];

type Outcome = Result<(String, String, Option<String>, Vec<u8>, String), u16>;

fn run(data: &[u8], cuts: &[u8]) -> Outcome {
    let mut s = Mem(RefCell::new(Inner {
        data: data.to_vec(),
        pos: 0,
        cuts: cuts.to_vec(),
        i: 0,
    }));
    let mut buf = Vec::new();
    match read_request(&mut s, &mut buf, std::time::Instant::now(), || {
        "generated".to_string()
    }) {
        Ok(inc) => {
            let r = inc.request;
            assert!(r.body.len() <= MAX_BODY_BYTES, "body over the cap");
            assert!(r.path.starts_with('/'), "path not in origin-form");
            assert!(r.request_id.len() <= MAX_REQUEST_ID.max("generated".len()));
            if r.request_id != "generated" {
                assert_eq!(
                    sane_request_id(r.request_id.as_bytes()),
                    Some(r.request_id.clone())
                );
            }
            // `Request` wipes its body on drop (it may hold an identity): fields are taken.
            let mut r = r;
            Ok((
                format!("{:?}", r.method),
                std::mem::take(&mut r.path),
                r.query.take(),
                std::mem::take(&mut r.body),
                std::mem::take(&mut r.request_id),
            ))
        }
        Err(ReadError::Silent) => {
            assert!(data.is_empty(), "silent close although bytes were sent");
            Err(0)
        }
        Err(ReadError::Respond(resp)) => {
            assert!(
                matches!(resp.status, 400 | 408 | 411 | 413 | 431 | 501),
                "unexpected status {}",
                resp.status
            );
            let v: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON error body");
            let msg = v["error"].as_str().expect("error field");
            let ok = MESSAGES.contains(&msg)
                || msg
                    .strip_prefix("malformed request head (")
                    .and_then(|m| m.strip_suffix(')'))
                    .is_some_and(|m| {
                        m.len() < 40 && m.bytes().all(|b| b.is_ascii_lowercase() || b == b' ')
                    });
            assert!(ok, "an error message not from the fixed set: {msg:?}");
            Err(resp.status)
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = (n as usize % 16).min(rest.len());
    let (cuts, data) = rest.split_at(n);
    let a = run(data, cuts);
    let b = run(data, &[]);
    match (&a, &b) {
        (Ok(x), Ok(y)) => assert_eq!(x, y, "the request depends on how its bytes were cut"),
        (Err(_), Err(_)) => {}
        _ => panic!("accepted under one cutting and refused under another: {a:?} vs {b:?}"),
    }
});
