//! `http::parse_json_body`, the one JSON body parser, which must never echo its input: every
//! error is one of four fixed sentences with a line and column (or the "must be a JSON
//! object" one), whatever the body and whatever type it is parsed into.
//!
//! Input: byte 0 chooses the target type, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patina::http::parse_json_body;
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Query {
    q: String,
    limit: Option<usize>,
    #[serde(default)]
    kinds: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Strict {
    name: String,
    value: Option<bool>,
    nested: Option<Box<Strict>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
enum Kind {
    Unlock { ttl: u64 },
    Lock,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct WithEnum {
    kind: Kind,
}

const SENTENCES: &[&str] = &[
    "could not read the body",
    "the body is not valid JSON",
    "the body ends before the JSON does",
    "the body's JSON does not have the expected fields and types",
];

fn check(r: Result<(), patina::http::Response>) {
    let Err(resp) = r else { return };
    assert_eq!(resp.status, 400);
    let v: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON error body");
    let msg = v["error"].as_str().expect("error field");
    if msg == "the body must be a JSON object" {
        return;
    }
    // "<sentence> (line N, column M)" and nothing else.
    let (sentence, pos) = msg.split_once(" (line ").expect("a position");
    assert!(SENTENCES.contains(&sentence), "unknown sentence: {msg:?}");
    let pos = pos.strip_suffix(')').expect("closing parenthesis");
    let (line, col) = pos.split_once(", column ").expect("a column");
    assert!(line.bytes().all(|b| b.is_ascii_digit()), "{msg:?}");
    assert!(col.bytes().all(|b| b.is_ascii_digit()), "{msg:?}");
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, body)) = input.split_first() else {
        return;
    };
    match which % 4 {
        0 => check(parse_json_body::<serde_json::Value>(body).map(drop)),
        1 => check(parse_json_body::<Query>(body).map(drop)),
        2 => check(parse_json_body::<Strict>(body).map(drop)),
        _ => check(parse_json_body::<WithEnum>(body).map(drop)),
    }
});
