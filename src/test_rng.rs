//! A seeded, reproducible source of test inputs shared by the unit tests (xorshift64*,
//! Marsaglia 2003 / Vigna 2016): no crate for it, and the same seed gives the same corpus on
//! every run. Test-only. Depends on nothing.

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
