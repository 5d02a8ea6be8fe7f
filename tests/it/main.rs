//! The integration tests, one binary (one link of the crate): a module per concern, each
//! driving the real `patina` binary over a real socket with a temp `PATINA_HOME`; shared
//! helpers in [`common`] (the daemon under test, raw exchanges, the one environment scrubber)
//! and [`common::secrets`] (the secrets tests' world and the canary).
//!
//! Run one concern with a name filter: `cargo test --all-features --test it -- agekey::`.

mod common;

mod agekey;
mod bounds;
mod completions;
mod crash_consistency;
mod first_use;
mod forms;
mod fresh;
mod guard;
mod harden;
mod http_framing;
mod mcp;
mod mother;
mod openapi;
mod peer_check;
mod request_log;
mod scrape;
mod scry_api;
mod scry_cache;
mod scry_query;
mod scry_redaction_variants;
mod secrets_argv;
mod secrets_files;
mod secrets_identity;
mod secrets_leaks;
mod secrets_masking;
mod secrets_recipients;
mod session;
mod socket_activation;
mod socket_lifecycle;
mod tcp_auth;
mod tidy;
mod tripwire;
mod vault_trust;
