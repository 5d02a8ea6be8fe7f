//! `patina secrets identity import`'s parser (`secrets::identity::Identity::parse`): any
//! bytes (up to the command's cap) give an identity or one of the fixed errors, which name a
//! line number and never quote the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patina::secrets::identity::{Identity, MAX_IDENTITY_TEXT};

fuzz_target!(|input: &[u8]| {
    if input.len() > MAX_IDENTITY_TEXT {
        return;
    }
    match Identity::parse(input) {
        Ok(id) => {
            assert!(id.recipient().starts_with("age1"));
            // The text it would store parses back to the same key.
            let again = Identity::parse(id.to_file_text().as_bytes()).expect("round trip");
            assert_eq!(again.recipient(), id.recipient());
        }
        Err(e) => {
            let msg = e.to_string();
            let fixed = [
                "the identity text is not UTF-8",
                "no identity found (expected a line AGE-SECRET-KEY-1…)",
                "this is a passphrase-encrypted age file, not an identity: decrypt it and import the result, e.g. `age -d FILE | patina secrets identity import`",
                "this is an encrypted age file, not an identity: decrypt it and import the result, e.g. `age -d FILE | patina secrets identity import`",
            ];
            let line_msg = |prefix: &str, suffix: &str| {
                msg.strip_prefix(prefix)
                    .and_then(|m| m.strip_suffix(suffix))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            };
            assert!(
                fixed.contains(&msg.as_str())
                    || line_msg("line ", " is not an age identity (AGE-SECRET-KEY-1…)")
                    || line_msg("line ", " holds a second identity; patina uses exactly one")
                    || line_msg(
                        "line ",
                        " is an age recipient (a public key, age1…), not an identity: import the secret key (the AGE-SECRET-KEY-1… line of the file age-keygen wrote), not the output of `age-keygen -y`"
                    ),
                "an error not from the fixed set: {msg:?}"
            );
        }
    }
});
