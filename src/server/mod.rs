//! The transport. STUB.

/// The most body bytes read for one request (BRIEF §4): 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
