//! `patina guard hook`'s input side: `guard::payload::Payload::parse` over arbitrary bytes,
//! the shell parser over any `tool_input.command`, and the concealment of `tool_response`
//! with a hold of one known value (the tests' canary, which is no secret). Besides "no panic":
//! a string of the concealed output never holds the known value whole.
//!
//! Input: the hook payload's bytes, as a host writes them to the hook's stdin.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use patina::guard::{self, KnownValues, hold::Hit, hold::Hold, payload::Payload};

/// The canary every patina test searches for; a fixed test value, not a secret.
const KNOWN: &str = "Pc4n4ry-7f3e9c1d+x/y=z";

struct Held(Hold);

impl KnownValues for Held {
    fn scan(&self, text: &str) -> Result<Vec<Hit>, String> {
        Ok(self.0.scan(text.as_bytes()))
    }
}

fn held() -> &'static Held {
    static HOLD: OnceLock<Held> = OnceLock::new();
    HOLD.get_or_init(|| Held(Hold::new([("canary", KNOWN.as_bytes())])))
}

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Payload::parse(data) else { return };
    if let Some(cmd) = p.input.get("command").and_then(|c| c.as_str()) {
        let _ = guard::shell::calls(cmd);
    }
    let Some(response) = p.response else { return };
    let c = guard::conceal_value(&response, held());
    let mut whole = false;
    guard::walk_strings(&c.value, &mut |s| whole |= s.contains(KNOWN));
    assert!(!whole, "the known value passed the guard whole");
});
