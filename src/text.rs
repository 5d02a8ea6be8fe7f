//! Text shared by the daemon and the front ends: RFC 3339 UTC timestamps (the request log,
//! the audit log), hexadecimal (tokens, MACs, the masking of encoded values) and error chains
//! on one line (the CLI, the MCP server). Depends on nothing but std.

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC (RFC 3339), without a date crate.
pub fn utc_timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms").
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `bytes` in hexadecimal, two digits a byte, lowercase or `upper`case (RFC 4648 §8's
/// alphabet). The string is allocated once at its final size, so a caller holding a secret
/// in `Zeroizing` leaves no stray copy behind.
pub fn hex(bytes: &[u8], upper: bool) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(hex_digit(b >> 4, upper)));
        s.push(char::from(hex_digit(b & 15, upper)));
    }
    s
}

/// The hex digit of `n` (0–15; higher bits ignored), lowercase or `upper`case.
pub fn hex_digit(n: u8, upper: bool) -> u8 {
    let d = b"0123456789abcdef"[usize::from(n & 15)];
    if upper { d.to_ascii_uppercase() } else { d }
}

/// Formats an error chain as one line: `outer: cause: root cause` (each message's newlines
/// become spaces).
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string().replace('\n', " ");
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string().replace('\n', " "));
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000);
        assert_eq!(utc_timestamp(t), "2026-11-30T00:53:20Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn hex_is_two_digits_a_byte_in_either_case() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff], false), "000fa5ff");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff], true), "000FA5FF");
        assert_eq!(hex(&[], false), "");
    }

    /// An error whose `source` is another: `outer` over an `io::Error` with a newline.
    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_chain_is_one_line() {
        let e = Outer(std::io::Error::other("root\ncause"));
        assert_eq!(one_line(&e), "outer: root cause");
    }
}
