//! The one socket abstraction of both ends (issue 14): [`Stream`], the operations on a
//! connected stream beyond `Read + Write` — per-call timeouts (so a whole-phase deadline is
//! enforced by setting the time left before each call), half-close, and one non-blocking
//! `recv(2)`/`send(2)` — for `UnixStream` and `TcpStream`. The daemon's framing reads and
//! writes through it (`server/framing.rs`; `server/unix.rs`'s `CredStream` implements it
//! too, reading with `recvmsg` and `SCM_CREDENTIALS`), and the client's connection is a
//! `Box<dyn Stream>` of either kind (`client/`). Knows no HTTP. Depends on std and `rustix`
//! only.

use std::io::{self, Read, Write};

/// The stream operations framing needs beyond `Read + Write`: per-call timeouts, so a
/// whole-phase deadline can be enforced by setting the time left before each call.
pub trait Stream: Read + Write {
    /// `SO_RCVTIMEO`; `None` blocks.
    fn set_read_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()>;
    /// `SO_SNDTIMEO`; `None` blocks.
    fn set_write_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()>;
    /// Half-closes the write side (`shutdown(SHUT_WR)`), for a lingering close.
    fn shutdown_write(&self) -> io::Result<()>;
    /// One `recv(2)` with `MSG_DONTWAIT`: what has already arrived, `Ok(0)` at EOF, or
    /// `WouldBlock` when nothing has. Lets the common case (the request is already in the
    /// socket buffer when a worker picks the connection up) skip the `SO_RCVTIMEO` syscall.
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// One `send(2)` with `MSG_DONTWAIT | MSG_NOSIGNAL`: what fits in the socket buffer now,
    /// or `WouldBlock`. Lets a small response skip the `SO_SNDTIMEO` syscall.
    fn send_now(&self, buf: &[u8]) -> io::Result<usize>;
}

fn recv_now_fd(fd: impl std::os::fd::AsFd, buf: &mut [u8]) -> io::Result<usize> {
    rustix::net::recv(fd, buf, rustix::net::RecvFlags::DONTWAIT)
        .map(|(_, n)| n)
        .map_err(io::Error::from)
}

fn send_now_fd(fd: impl std::os::fd::AsFd, buf: &[u8]) -> io::Result<usize> {
    use rustix::net::SendFlags;
    rustix::net::send(fd, buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL).map_err(io::Error::from)
}

impl Stream for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, d)
    }
    fn set_write_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, d)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv_now_fd(self, buf)
    }
    fn send_now(&self, buf: &[u8]) -> io::Result<usize> {
        send_now_fd(self, buf)
    }
}

impl Stream for std::net::TcpStream {
    fn set_read_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, d)
    }
    fn set_write_timeout(&self, d: Option<std::time::Duration>) -> io::Result<()> {
        std::net::TcpStream::set_write_timeout(self, d)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv_now_fd(self, buf)
    }
    fn send_now(&self, buf: &[u8]) -> io::Result<usize> {
        send_now_fd(self, buf)
    }
}
