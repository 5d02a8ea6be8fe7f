//! Principals and route access (BRIEF §5). STUB.
