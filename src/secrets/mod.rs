//! secrets: age identities, vaults, masking and scanning (BRIEF §2, §3, §9).
//!
//! STUB: the secrets helper fills this module.
