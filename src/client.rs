//! The one HTTP client. STUB.
