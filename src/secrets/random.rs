//! The kernel's random bytes (`getrandom(2)`), with one policy for every caller: the bearer
//! token, the age-key handshake's nonces, the patina-route tickets, the confirmation
//! console's token, and the keys of the keyed hashes (scan, redaction, the guard's hold).
//! Depends on std and `rustix` only.

/// Fills `buf` from the kernel's random source (`getrandom(2)`, blocking until it is
/// seeded). `EINTR` is retried; any other error is returned (`io::Error`), and the caller
/// refuses what needed the bytes.
pub fn fill_random(buf: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A random 64-bit key for the keyed hashes of scan, redaction and the guard's hold: from
/// [`fill_random`]; should it fail (it does not for 8 bytes once the pool is ready), a fixed
/// pattern mixed with the time, still a valid key: these keys keep equal pieces of text
/// hashing equal within one process, and a weak one costs collision resistance against an
/// attacker who already runs as the user, never a value.
pub fn random_key() -> u64 {
    let mut b = [0u8; 8];
    if fill_random(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        b = (t ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes();
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_byte_and_two_keys_differ() {
        // 4 KiB: more than one getrandom(2) call may return for large requests.
        let mut a = vec![0u8; 4096];
        fill_random(&mut a).unwrap();
        // All-zero 64-byte windows from a real random source: odds of 2^-512 each.
        assert!(a.chunks(64).all(|c| c.iter().any(|&b| b != 0)));
        assert_ne!(random_key(), random_key());
    }
}
