//! patina: a per-user daemon and CLI that keeps a developer's project knowledge
//! and secrets close at hand, for them and for the LLM coding agents beside them.
//!
//! The layers, each depending only on those listed after it (see
//! `layer/core/architecture.md` for the code map and the invariants):
//!
//! - [`cli`]: one function per subcommand; prints; talks to a daemon only through [`client`].
//! - [`server`]: the transport: listeners, worker pools, HTTP/1.1 framing, deadlines, shutdown.
//! - [`api`]: the route table and transport-free handlers.
//! - [`auth`]: who is asking (the principal) and what each route needs.
//! - [`scry`], [`secrets`]: the domains: knowledge index and search; the age vault.
//! - [`session`]: the daemon's time-limited unlock of secrets; [`audit`]: its append-only log.
//! - [`mcp`]: the Model Context Protocol server on stdio, for agents; calls routes through [`client`].
//! - [`client`]: the one HTTP client, used by every subcommand that talks to a daemon.
//! - [`http`], [`fsutil`], [`paths`]: request/response values, private files and dirs, the
//!   `PATINA_HOME` layout.
// The one exception: `server::activation::take_passed_fd`, with two `unsafe` blocks (taking
// ownership of fd 3 from systemd, and removing the `LISTEN_*` variables before any other
// thread exists), each with its SAFETY note (`clippy::undocumented_unsafe_blocks`).
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod client;
pub mod fsutil;
pub mod guard;
pub mod http;
pub mod limits;
pub mod mcp;
pub mod mother;
pub mod paths;
pub mod scry;
pub mod secrets;
pub mod server;
pub mod session;
pub mod text;
pub mod tripwire;

#[cfg(test)]
mod test_rng;

/// The crate version, as reported by `/health`, `/version` and `patina --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The HTTP API version described in requirements §6 (`layer/core/requirements.md`) (`GET /version` → `"api": 1`).
pub const API_VERSION: u32 = 1;
