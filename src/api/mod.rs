//! The route table and transport-free handlers. STUB.
