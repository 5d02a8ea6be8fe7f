//! A seeded, reproducible source of test inputs shared by the unit tests (xorshift64*,
//! Marsaglia 2003 / Vigna 2016): no crate for it, and the same seed gives the same corpus on
//! every run; and [`cases`], the size of a randomized run (small by default, long with
//! `PATINA_TEST_LONG=1`). Test-only. Depends on nothing but std.

/// How many cases a randomized test runs: `default` in the default suite, `long` when the
/// environment has `PATINA_TEST_LONG` set (to anything but empty or `0`). The default keeps
/// `cargo test` fast on a 2-core machine; the long run (`PATINA_TEST_LONG=1 cargo test
/// --all-features`, see `layer/core/reliability.md`) is what a change to a randomized
/// module's code is checked with before it lands.
pub(crate) fn cases(default: usize, long: usize) -> usize {
    match std::env::var("PATINA_TEST_LONG") {
        Ok(v) if !v.is_empty() && v != "0" => long,
        _ => default,
    }
}

/// xorshift64* generator; the state must not be 0.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `p` times in 100.
    pub(crate) fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    /// One of `items` (not empty).
    pub(crate) fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// `least` to `least + spread - 1` characters of `alphabet`.
    pub(crate) fn chars(&mut self, alphabet: &[u8], least: usize, spread: usize) -> String {
        let len = least + self.below(spread);
        (0..len).map(|_| *self.pick(alphabet) as char).collect()
    }
}
