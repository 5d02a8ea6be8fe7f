//! `patina guard`: the hook between a coding agent's tools and its model (requirements §11). After
//! a tool ran (PostToolUse) it finds known secret values (through the daemon's scan hold,
//! [`hold`]) and secret-looking tokens ([`crate::secrets::scan`]) in everything the tool
//! returned and answers the host with the same output, values replaced by
//! `<concealed by patina: NAME>`; before a tool runs (PreToolUse) it denies the calls whose
//! purpose is to print secrets ([`pre`], [`shell`]). Also: installing the hook entries in the
//! hosts' settings ([`install`]) and redacting transcripts that already hold values
//! ([`scrub`]). Depends on [`crate::secrets`], [`crate::audit`], [`crate::client`] (the only way
//! to the daemon), [`crate::auth`] (whether the pid file names a live patina process),
//! [`crate::fsutil`] and [`crate::paths`] (the hold [`marker`]); the host protocols live in
//! [`payload`].
//!
//! # The answer when something goes wrong (fail closed)
//!
//! A PostToolUse payload that cannot be read — not JSON, not UTF-8, truncated, larger than
//! [`MAX_INPUT`], or a scan that does not finish within the deadline — is answered with
//! `decision: "block"` and a reason (exit 0, so Claude Code reads it: any exit code other
//! than 0 and 2 is a *non-blocking error* there and the output would pass silently). That is
//! the most a hook can do when it cannot rebuild the output: the host still shows the model
//! its warning beside the original, and the original stays in the host's transcript. The
//! policy is `--on-error withhold` (default) or `--on-error pass`. A PreToolUse payload that
//! cannot be read is let through without a decision (the PostToolUse scan is the net; the
//! guard never answers `allow`, which would skip the user's permission prompt).
//!
//! # While a tripwire alert is pending
//!
//! A trip wipes the values and the hold, so nothing could be checked against them: until the
//! user runs `patina session unlock --ack-canary`, the hook denies every PreToolUse call and
//! withholds every PostToolUse output ([`payload::tripped`]), learning the state from the
//! alert file ([`crate::tripwire::pending`], read by the CLI before anything else) or from
//! the daemon's `tripped` answer ([`KnownValues::tripped`]).

pub mod daemon;
mod error;
pub mod hold;
pub mod install;
pub mod marker;
pub mod payload;
pub mod pre;
pub mod scrub;
pub mod shell;
pub mod views;

pub use error::Error;

use crate::secrets::scan as detectors;
use serde_json::Value;

/// The largest hook payload read from stdin: 64 MiB (a 20 MB tool output fits with room for
/// JSON escaping; past it the payload is answered by the error policy).
pub const MAX_INPUT: usize = 64 * 1024 * 1024;

/// How much consecutive chunks sent to the daemon's hold overlap, in bytes: 64 KiB, fixed (it
/// must not depend on any secret's length, which the client does not know). A whole encoded
/// form longer than this that straddles a chunk boundary is missed by the hold: a value of
/// more than ~21 KiB in percent-encoded form, ~48 KiB as base64.
pub const CHUNK_OVERLAP: usize = 64 * 1024;

/// The longest `high-entropy` run concealed as a token, in bytes: 1 KiB.
pub const MAX_TOKEN_LEN: usize = 1024;

/// Whether `run` is mostly an ordered sequence (`ABC…XYZabc…xyz012…789+/`, a base64 or
/// base32 alphabet as source code spells it): at least half its neighbouring bytes are
/// consecutive. Such a run has high Shannon entropy but is no secret.
pub fn is_sequence(run: &[u8]) -> bool {
    let steps = run
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    steps * 2 >= run.len()
}

/// What a concealed span becomes: `<concealed by patina: NAME>`.
pub fn concealed(labels: &str) -> String {
    format!("<concealed by patina: {labels}>")
}

/// The coding agent whose protocol is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Agent {
    /// Claude Code (`~/.claude/settings.json` hooks).
    #[value(name = "claude-code")]
    ClaudeCode,
    /// OpenAI Codex CLI (`~/.codex/hooks.json`).
    Codex,
}

impl Agent {
    /// The agent's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::Codex => "codex",
        }
    }
}

/// What to do when a PostToolUse payload cannot be scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Answer `decision: "block"` with a reason (the default).
    Withhold,
    /// Answer nothing: the output passes as if no hook ran.
    Pass,
}

/// One thing found in a text: a known secret (by name) or a token (by detector), with its
/// byte range. Never the matched bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The secret's name, or the detector's (`token`, `private-key`, `age-identity`,
    /// `high-entropy`).
    pub label: String,
    /// Whether `label` names a known secret (else a detector).
    pub known: bool,
    /// Byte offset where it starts.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

/// Whether known values were looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownCheck {
    /// The daemon's hold was asked.
    Checked,
    /// Not checked, and why (no daemon, no hold, an error).
    NotChecked(String),
}

/// Where known values are looked up: the daemon's hold ([`daemon::DaemonHold`]) or, in
/// tests and without a daemon, anything else.
pub trait KnownValues {
    /// The whole-form matches of known values in `text`, or why none were looked for.
    fn scan(&self, text: &str) -> Result<Vec<hold::Hit>, String>;

    /// Whether an answer so far said a tripwire locked the hold (the guard then withholds
    /// everything: [`payload::tripped`]). False unless the source can know.
    fn tripped(&self) -> bool {
        false
    }

    /// Why the output must be withheld although the scan itself did not fail for it: known
    /// values are held (the hold marker says so, or the daemon is alive) but could not be
    /// asked (QA session 8, H2). `None` when the token-only answer is the right one (no
    /// daemon and no hold, or the values were checked). Asked after the scan.
    fn fails_closed(&self) -> Option<String> {
        None
    }
}

/// No known values: only the detectors run.
pub struct NoKnownValues(pub String);

impl KnownValues for NoKnownValues {
    fn scan(&self, _: &str) -> Result<Vec<hold::Hit>, String> {
        Err(self.0.clone())
    }
}

/// Everything found in `text`: the detectors' tokens and the known values of `known`, sorted
/// by start.
pub fn find(text: &str, known: &dyn KnownValues) -> (Vec<Found>, KnownCheck) {
    let mut out: Vec<Found> = detectors::scan(text.as_bytes(), &[])
        .into_iter()
        // A random-looking run longer than this is data (an image, a compressed blob, a
        // certificate chain), not a token; private keys have their own detector.
        .filter(|f| {
            f.kind != "high-entropy"
                || (f.end - f.start <= MAX_TOKEN_LEN
                    && !is_sequence(&text.as_bytes()[f.start..f.end]))
        })
        .map(|f| Found {
            label: f.kind,
            known: false,
            start: f.start,
            end: f.end,
        })
        .collect();
    let check = match known_in(text, known) {
        Ok(found) => {
            out.extend(found);
            KnownCheck::Checked
        }
        Err(why) => KnownCheck::NotChecked(why),
    };
    // A random-looking run that overlaps a more precise finding (a known value, a prefixed
    // token, a key) is that finding: keep the precise one, so the concealment is as narrow
    // and as well named as possible (`GH_TOKEN=<concealed by patina: token>`).
    let precise: Vec<(usize, usize)> = out
        .iter()
        .filter(|f| f.label != "high-entropy" || f.known)
        .map(|f| (f.start, f.end))
        .collect();
    out.retain(|f| {
        f.known
            || f.label != "high-entropy"
            || !precise.iter().any(|&(s, e)| s < f.end && f.start < e)
    });
    out.sort_by(|a, b| (a.start, a.end, &a.label).cmp(&(b.start, b.end, &b.label)));
    out.dedup();
    (out, check)
}

/// The known values in `text` and in its [`views`] (hex dumps decoded, wrapped base64
/// joined), each finding of a view mapped back to the bytes of `text` it came from. The
/// views are scanned with the same hold, in one more request, only when `text` has any.
fn known_in(text: &str, known: &dyn KnownValues) -> Result<Vec<Found>, String> {
    let found = |h: hold::Hit, start: usize, end: usize| Found {
        label: h.name,
        known: true,
        start,
        end,
    };
    let mut out: Vec<Found> = known
        .scan(text)?
        .into_iter()
        .map(|h| {
            let (s, e) = (h.start, h.end);
            found(h, s, e)
        })
        .collect();
    let views = views::views(text);
    if views.is_empty() {
        return Ok(out);
    }
    // All views in one text, each after a separator no form crosses.
    let mut joined = zeroize::Zeroizing::new(String::new());
    let mut starts = Vec::with_capacity(views.len());
    for v in &views {
        if !joined.is_empty() {
            joined.push_str(JOIN);
        }
        starts.push(joined.len());
        joined.push_str(&v.text);
    }
    for h in known.scan(&joined)? {
        let i = starts.partition_point(|&s| s <= h.start).saturating_sub(1);
        let base = starts[i];
        let end = h.end.min(base + views[i].text.len());
        for (s, e) in views[i].map_back(h.start - base, end.saturating_sub(base)) {
            out.push(found(h.clone(), s, e));
        }
    }
    Ok(out)
}

/// `text` with every span of `found` (overlaps merged, widened to UTF-8 boundaries)
/// replaced by `<concealed by patina: LABELS>`, the labels of the merged findings (known
/// names first) joined by `, `.
pub fn conceal(text: &str, found: &[Found]) -> String {
    let mut spans: Vec<&Found> = found.iter().collect();
    spans.sort_by_key(|f| (f.start, f.end));
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut i = 0;
    while i < spans.len() {
        let mut s = spans[i].start.min(text.len());
        let mut e = spans[i].end.min(text.len());
        let mut labels: Vec<(bool, &str)> = vec![(!spans[i].known, &spans[i].label)];
        i += 1;
        while i < spans.len() && spans[i].start < e {
            e = e.max(spans[i].end.min(text.len()));
            labels.push((!spans[i].known, &spans[i].label));
            i += 1;
        }
        s = s.max(pos);
        while s > pos && !text.is_char_boundary(s) {
            s -= 1;
        }
        while e < text.len() && !text.is_char_boundary(e) {
            e += 1;
        }
        labels.sort();
        labels.dedup();
        let names: Vec<&str> = labels.iter().map(|(_, l)| *l).collect();
        out.push_str(&text[pos..s]);
        out.push_str(&concealed(&names.join(", ")));
        pos = e.max(s);
    }
    out.push_str(&text[pos.min(text.len())..]);
    out
}

/// Calls `f` on every string inside `v`, depth first, in document order: each object key
/// before its value (a tool's JSON output keyed by data can hold a value in a key).
pub fn walk_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            f(k);
            walk_strings(x, f)
        }),
        _ => {}
    }
}

/// Like [`walk_strings`], with each string replaceable, in the same order.
pub fn walk_strings_mut(v: &mut Value, f: &mut impl FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| walk_strings_mut(x, f)),
        Value::Object(o) => {
            // Keys are strings of the output too (a value can be one): each is offered to
            // `f`, and a changed key replaces the old one in place; a key that becomes equal
            // to an earlier one gets ` #2`, ` #3`… so no entry is lost.
            let old = std::mem::take(o);
            for (mut k, mut x) in old {
                f(&mut k);
                walk_strings_mut(&mut x, f);
                let mut key = k.clone();
                let mut n = 1;
                while o.contains_key(&key) {
                    n += 1;
                    key = format!("{k} #{n}");
                }
                o.insert(key, x);
            }
        }
        _ => {}
    }
}

/// The outcome of scanning a JSON value: the value with every finding concealed (same shape:
/// only string contents change), and what was found (label, known).
#[derive(Debug)]
pub struct Concealed {
    /// The value with findings replaced.
    pub value: Value,
    /// Each finding's label and whether it is a known secret, in document order.
    pub found: Vec<(String, bool)>,
    /// Whether known values were looked for.
    pub check: KnownCheck,
}

/// The separator between strings joined for one scan: a newline and a NUL, which no
/// detector pattern crosses and no JSON string of a tool output ends a value with.
const JOIN: &str = "\n\u{0}\n";

/// Scans every string of `v` at once (one request to the hold) and conceals what is found.
/// A finding that spans two strings is concealed in both.
pub fn conceal_value(v: &Value, known: &dyn KnownValues) -> Concealed {
    let (mut values, mut found, check) = conceal_many(std::slice::from_ref(v), known);
    Concealed {
        value: values.pop().unwrap_or(Value::Null),
        found: found.pop().unwrap_or_default(),
        check,
    }
}

/// The findings of one value: (label, whether it is a known secret's name), in order.
pub type Labels = Vec<(String, bool)>;

/// [`conceal_value`] for many values at once (the lines of a transcript): one scan of all
/// their strings; for each value, the concealed copy and its findings (label, known).
pub fn conceal_many(
    values: &[Value],
    known: &dyn KnownValues,
) -> (Vec<Value>, Vec<Labels>, KnownCheck) {
    let mut text = String::new();
    // (start, end, index of the value) per string.
    let mut ranges: Vec<(usize, usize, usize)> = Vec::new();
    for (vi, v) in values.iter().enumerate() {
        walk_strings(v, &mut |s| {
            if !ranges.is_empty() {
                text.push_str(JOIN);
            }
            let start = text.len();
            text.push_str(s);
            ranges.push((start, text.len(), vi));
        });
    }
    let text = zeroize::Zeroizing::new(text);
    let (found, check) = find(&text, known);
    let mut per: Vec<Vec<Found>> = vec![Vec::new(); ranges.len()];
    let mut labels: Vec<Labels> = vec![Vec::new(); values.len()];
    for f in &found {
        // Strings are in offset order: find the first one the finding reaches.
        let first = ranges.partition_point(|&(_, e, _)| e <= f.start);
        let mut owner = None;
        for (i, &(s, e, vi)) in ranges.iter().enumerate().skip(first) {
            if s >= f.end {
                break;
            }
            if f.start < e && f.end > s {
                per[i].push(Found {
                    label: f.label.clone(),
                    known: f.known,
                    start: f.start.max(s) - s,
                    end: f.end.min(e) - s,
                });
                owner.get_or_insert(vi);
            }
        }
        if let Some(vi) = owner {
            labels[vi].push((f.label.clone(), f.known));
        }
    }
    let mut out = Vec::with_capacity(values.len());
    let mut i = 0;
    for v in values {
        let mut value = v.clone();
        walk_strings_mut(&mut value, &mut |s| {
            if let Some(fs) = per.get(i)
                && !fs.is_empty()
            {
                let new = conceal(s, fs);
                let old = std::mem::replace(s, new);
                drop(zeroize::Zeroizing::new(old));
            }
            i += 1;
        });
        out.push(value);
    }
    (out, labels, check)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<(String, String)>);
    impl KnownValues for Fixed {
        fn scan(&self, text: &str) -> Result<Vec<hold::Hit>, String> {
            let h = hold::Hold::new(self.0.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
            Ok(h.scan(text.as_bytes()))
        }
    }

    #[test]
    fn conceals_in_place_keeping_the_shape() {
        let v = ["Pc4n4ry", "-7f3e9c1d", "+x/y=z"].concat();
        let k = Fixed(vec![("canary".into(), v.clone())]);
        let input = serde_json::json!({
            "stdout": format!("KEY={v}\nok"),
            "stderr": "",
            "interrupted": false,
            "nested": [1, {"x": format!("é{v}é")}],
        });
        let c = conceal_value(&input, &k);
        assert_eq!(c.check, KnownCheck::Checked);
        assert_eq!(c.value["stdout"], "KEY=<concealed by patina: canary>\nok");
        assert_eq!(c.value["nested"][1]["x"], "é<concealed by patina: canary>é");
        assert_eq!(c.value["interrupted"], false);
        assert!(!c.value.to_string().contains("Pc4n4ry"));
        assert_eq!(c.found.len(), 2);
    }
}
