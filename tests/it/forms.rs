//! The forms of a stored value that slipped through (QA findings M1, L5): scry's redaction
//! with a full unlock and with only the scan hold (`--scan-only`), through the real daemon
//! and `/api/scry`, for every form the guard's hold and views know; and `secrets run`'s
//! masking of a value piped through real tools (`xxd`, `od`, `hexdump`, `base64`, `fold`,
//! `tr`, `cut`). The guard hook's side of the same tools is `guard.rs`.

use crate::common;
use crate::common::secrets as secrets_common;

use common::{Daemon, write_fixture_project};
use secrets_common::{CANARY, World, assert_no_leak, run_with_input, show};

/// Each form of the canary scry must redact, as (name, the encoded units, their separator):
/// a piece of `piece_len` consecutive units shown in a snippet is a leak.
fn scry_forms() -> Vec<(&'static str, Vec<String>, &'static str)> {
    let chars = |s: &str| s.chars().map(String::from).collect::<Vec<_>>();
    let per_byte = |f: &dyn Fn(u8) -> String| CANARY.bytes().map(f).collect::<Vec<_>>();
    let reversed: String = CANARY.chars().rev().collect();
    let rot13: String = CANARY
        .chars()
        .map(|c| match c {
            'a'..='z' => ((c as u8 - b'a' + 13) % 26 + b'a') as char,
            'A'..='Z' => ((c as u8 - b'A' + 13) % 26 + b'A') as char,
            _ => c,
        })
        .collect();
    let fullwidth: String = CANARY
        .chars()
        .map(|c| char::from_u32(c as u32 - 0x21 + 0xff01).unwrap())
        .collect();
    let utf16_hex: String = CANARY.bytes().map(|b| format!("{b:02x}00")).collect();
    let reversed_hex: String = reversed.bytes().map(|b| format!("{b:02x}")).collect();
    vec![
        ("reversed", chars(&reversed), ""),
        ("base32", chars(&base32(CANARY.as_bytes())), ""),
        ("rot13", chars(&rot13), ""),
        ("fullwidth", chars(&fullwidth), ""),
        ("utf16hex", chars(&utf16_hex), ""),
        ("reversedhex", chars(&reversed_hex), ""),
        ("percent", per_byte(&|b| format!("%{b:02X}")), ""),
        ("unicode", per_byte(&|b| format!("\\u{b:04x}")), ""),
        ("entity", per_byte(&|b| format!("&#{b};")), ""),
        ("carray", per_byte(&|b| format!("0x{b:02x}")), ", "),
        ("colons", per_byte(&|b| format!("{b:02x}")), ":"),
        ("upper", chars(&CANARY.replace("f3e", "F3E")), ""),
    ]
}

/// RFC 4648 base32, for the test's own form (checked against Python's `base64.b32encode`).
fn base32(v: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in v.chunks(5) {
        let mut buf = [0u8; 8];
        buf[3..3 + chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes(buf);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            out.push(if i < chars {
                A[((n >> (35 - 5 * i)) & 31) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// QA finding M1: a note holding the canary reversed, in base32, ROT13, fullwidth, the hex
/// of its UTF-16LE or of its reverse, a partial case change, or each character encoded
/// (`%51`, `\u0051`, `&#81;`, `0x51, `, `51:`) is redacted by scry with a full unlock
/// exactly as with only the scan hold: every hit `redacted`, no run of a piece's length of
/// the form's units shown — also when the query names the encoded tokens of the value's
/// middle (moving the snippet window there).
#[test]
fn scry_redacts_every_form_with_a_full_unlock_and_scan_only() {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &[]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let forms = scry_forms();
    for (name, units, sep) in &forms {
        std::fs::write(
            w.work().join(format!("layer/core/alpaca-{name}.md")),
            format!("# Alpaca {name}\n\nalpaca {} here.\n", units.join(sep)),
        )
        .unwrap();
    }
    let o = run_with_input(w.cmd(&["scrape", "."]), b"");
    assert!(o.status.success(), "{}", show(&o));
    let piece = patina::secrets::scan::piece_len(CANARY.as_bytes());
    for state in ["unlocked", "scan-only"] {
        let _ = run_with_input(w.cmd(&["session", "lock"]), b"");
        let args: &[&str] = if state == "unlocked" {
            &["session", "unlock", "--ttl", "10m"]
        } else {
            &["session", "unlock", "--scan-only"]
        };
        let o = run_with_input(w.cmd(args), b"");
        assert!(o.status.success(), "{state}: {}", show(&o));
        // The note's words, and for each per-character form the units of the middle.
        let mut queries = vec!["alpaca".to_string()];
        for (name, units, sep) in &forms {
            if !sep.is_empty() || units[0].len() > 1 {
                let mid: Vec<String> = units[9..12]
                    .iter()
                    .map(|u| u.trim_start_matches(['%', '\\', 'u', '&', '#', '0', 'x']))
                    .map(|u| u.trim_end_matches(';').to_string())
                    .collect();
                queries.push(format!("{name} {}", mid.join(" ")));
            }
        }
        for q in &queries {
            let r = d.post(
                "/api/scry",
                &serde_json::json!({"query": q, "limit": 20}).to_string(),
            );
            assert_eq!(r.status, 200, "{state} {q}");
            assert_no_leak(state, &r.body, CANARY);
            let hits = r.json()["results"].as_array().unwrap().clone();
            for h in &hits {
                let path = h["path"].as_str().unwrap();
                let Some((name, units, sep)) = forms
                    .iter()
                    .find(|f| path.ends_with(&format!("alpaca-{}.md", f.0)))
                else {
                    continue;
                };
                let snippet = h["snippet"].as_str().unwrap().replace(['[', ']'], "");
                for run in units.windows(piece) {
                    assert!(
                        !snippet.contains(&run.join(sep)),
                        "{state} {name} ({q}): a piece of {piece} units is shown"
                    );
                }
                // A window of fewer units than a piece is not redacted (no oracle below 64
                // bits); the first query's window shows more.
                if q == "alpaca" {
                    assert_eq!(h["redacted"], true, "{state} {name}: not redacted");
                }
            }
            if q == "alpaca" {
                assert_eq!(hits.len(), forms.len(), "{state}: every note is found");
            }
        }
    }
}

/// The tools of QA findings L5 and M2 that `secrets run` masks: `tool` applied to `input`
/// by a child of `secrets run` whose environment holds the canary as `PATINA_CANARY`.
const MASKED_TOOLS: &[&str] = &[
    "xxd -g 4",
    "xxd -b",
    "xxd -i",
    "hexdump",
    "hexdump -x",
    "od -x",
    "od -An -tx1",
    "od -tx1z",
    "od -b",
    "od",
    "tr a-f A-F",
    "cut -c1-18",
    "cut -c3-20",
];

/// QA finding L5: the canary piped through each of [`MASKED_TOOLS`] inside `secrets run` is
/// masked — every line of the tool's output that shows the value is gone — and the same
/// tools on other data print exactly what they print outside it.
#[test]
fn secrets_run_masks_dumps_case_changes_and_cut_values() {
    let w = World::new();
    w.add("canary", CANARY, &["--env", "PATINA_CANARY"]);
    let clean = "DEBUG=1\nLOG_LEVEL=info\nPORT=8080\nHOST=example.org\n";
    for tool in MASKED_TOOLS {
        let script = format!("printf %s \"$PATINA_CANARY\" | {tool}");
        let o = run_with_input(w.cmd(&["secrets", "run", "--", "sh", "-c", &script]), b"");
        assert!(o.status.success(), "{tool}: {}", show(&o));
        assert_no_leak(tool, &o.stdout, CANARY);
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.contains("<concealed by patina>"), "{tool}: {out}");
        // The tool's own output of the value, computed here (the value on its stdin).
        let mut c = std::process::Command::new("sh");
        c.args(["-c", tool]);
        let plain = String::from_utf8(run_with_input(c, CANARY.as_bytes()).stdout).unwrap();
        let kept: Vec<&str> = out.lines().collect();
        for line in plain.lines() {
            let offset_only = line.trim().chars().all(|c| c.is_ascii_digit());
            if line.trim().len() >= 4 && !offset_only {
                assert!(!kept.contains(&line), "{tool}: {line:?} passed in {out:?}");
            }
        }
        // Other data passes byte for byte.
        let script = format!("printf '{}' | {tool}", clean.replace('\n', "\\n"));
        let o = run_with_input(w.cmd(&["secrets", "run", "--", "sh", "-c", &script]), b"");
        let mut c = std::process::Command::new("sh");
        c.args(["-c", tool]);
        let want = run_with_input(c, clean.as_bytes()).stdout;
        assert_eq!(o.stdout, want, "{tool}: other data passes unchanged");
    }
}
