//! The hosts' hook protocols: a payload read into a small typed model ([`Payload`]), and the
//! answer written in the host's own shape ([`Answer`]). Claude Code (hooks reference, 2.x)
//! and Codex CLI (`codex-rs/hooks/schema/generated`, whose output objects reject unknown
//! fields: only `decision`, `reason`, `hookSpecificOutput.{hookEventName,
//! additionalContext, updatedToolOutput, updatedMCPToolOutput, permissionDecision,
//! permissionDecisionReason}` are ever written). Fixtures: `tests/fixtures/guard/`.
//!
//! Exit codes: always 0 with the answer as JSON on stdout, or nothing (no decision). Claude
//! Code reads stdout only on exit 0, treats 2 as blocking (stderr to the model) and every
//! other code as a non-blocking error that lets the output through — so an error inside the
//! guard is also answered on exit 0 (see the module docs of [`super`]).

use super::{Agent, KnownCheck, KnownValues, OnError, conceal_value};
use serde_json::{Value, json};

/// The hook events the guard acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Event {
    /// Before a tool runs.
    #[value(name = "PreToolUse")]
    PreToolUse,
    /// After a tool ran, before the model reads its output.
    #[value(name = "PostToolUse")]
    PostToolUse,
}

impl Event {
    /// The event's name in the hosts' protocols.
    pub fn name(self) -> &'static str {
        match self {
            Event::PreToolUse => "PreToolUse",
            Event::PostToolUse => "PostToolUse",
        }
    }
}

/// A hook payload: the fields the guard reads (others are ignored).
#[derive(Debug)]
pub struct Payload {
    /// `hook_event_name`.
    pub event: Option<Event>,
    /// `tool_name` (`Bash`, `Read`, `mcp__server__tool`, …).
    pub tool: String,
    /// `tool_input` (`{"command": …}`, `{"file_path": …}`, …).
    pub input: Value,
    /// `tool_response` (PostToolUse only): an object, a string, or a list, per tool.
    pub response: Option<Value>,
    /// `cwd`: the agent's working directory.
    pub cwd: Option<String>,
}

/// Why a payload could not be read (never quotes the payload).
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Larger than [`super::MAX_INPUT`].
    #[error("the hook payload is larger than {} MiB", super::MAX_INPUT / (1024 * 1024))]
    TooLarge,
    /// Not UTF-8.
    #[error("the hook payload is not UTF-8")]
    NotUtf8,
    /// Not a JSON object (malformed, truncated, another type).
    #[error("the hook payload is not a JSON object (line {line}, column {column})")]
    NotJson {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
}

impl Payload {
    /// Reads a payload. `bytes` longer than [`super::MAX_INPUT`] is refused.
    pub fn parse(bytes: &[u8]) -> Result<Payload, PayloadError> {
        if bytes.len() > super::MAX_INPUT {
            return Err(PayloadError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| PayloadError::NotUtf8)?;
        let v: Value = serde_json::from_str(text).map_err(|e| PayloadError::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        let Value::Object(mut o) = v else {
            return Err(PayloadError::NotJson { line: 1, column: 1 });
        };
        let event = match o.get("hook_event_name").and_then(Value::as_str) {
            Some("PreToolUse") => Some(Event::PreToolUse),
            Some("PostToolUse") => Some(Event::PostToolUse),
            _ => None,
        };
        Ok(Payload {
            event,
            tool: o
                .get("tool_name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            input: o.remove("tool_input").unwrap_or(Value::Null),
            response: o.remove("tool_response"),
            cwd: o.get("cwd").and_then(Value::as_str).map(str::to_string),
        })
    }
}

/// How a tool's output may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A built-in tool whose output shape the host accepts back: `updatedToolOutput`.
    Tool,
    /// An MCP tool (`mcp__server__tool`): `updatedMCPToolOutput`.
    Mcp,
    /// A tool whose replacement the host is not known to accept: withhold instead.
    Unknown,
}

/// Claude Code's built-in tools whose `tool_response` the guard replaces (field by field,
/// same shape).
pub const CLAUDE_TOOLS: &[&str] = &[
    "Bash",
    "BashOutput",
    "Read",
    "Grep",
    "Glob",
    "LS",
    "WebFetch",
    "WebSearch",
    "NotebookRead",
];

/// Codex's shell tools (reported as `Bash`, with older names accepted), whose
/// `tool_response` is a string.
pub const CODEX_TOOLS: &[&str] = &[
    "Bash",
    "shell",
    "exec_command",
    "shell_command",
    "local_shell",
];

/// The replacement shape of `tool` for `agent`.
pub fn shape(agent: Agent, tool: &str) -> Shape {
    if tool.starts_with("mcp__") {
        return Shape::Mcp;
    }
    let known = match agent {
        Agent::ClaudeCode => CLAUDE_TOOLS,
        Agent::Codex => CODEX_TOOLS,
    };
    if known.contains(&tool) {
        Shape::Tool
    } else {
        Shape::Unknown
    }
}

/// What the guard did, for the audit log: the tool, the action (`replaced`, `withheld`,
/// `denied`), the known secrets' names and the detectors that fired (one entry per finding).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    /// The tool's name.
    pub tool: String,
    /// `replaced`, `withheld` or `denied`.
    pub action: &'static str,
    /// Known secrets found (by name, once per finding).
    pub names: Vec<String>,
    /// Detectors that fired (once per finding).
    pub detectors: Vec<String>,
}

/// The hook's answer: JSON for stdout (empty for no decision), the exit code, and what to
/// audit.
#[derive(Debug, Default)]
pub struct Answer {
    /// The JSON answer, or empty.
    pub stdout: String,
    /// The exit code (always 0: see the module docs).
    pub exit: i32,
    /// What was done, when something was.
    pub action: Option<Action>,
}

/// The answer given when a PostToolUse payload cannot be scanned (`why` names the reason,
/// never the payload), per the error policy.
pub fn error_answer(event: Option<Event>, why: &str, on_error: OnError) -> Answer {
    if event == Some(Event::PreToolUse) || on_error == OnError::Pass {
        return Answer::default();
    }
    let reason = format!(
        "patina guard could not check this tool output for secrets ({why}), so it is withheld: \
         do not read, repeat or summarize it. Run the command again with a smaller output, or \
         through `patina secrets run -- CMD` if it needs a secret."
    );
    Answer {
        stdout: json!({"decision": "block", "reason": reason}).to_string(),
        exit: 0,
        action: Some(Action {
            tool: String::new(),
            action: "withheld",
            ..Action::default()
        }),
    }
}

/// The PostToolUse answer for `p`: the output with every finding concealed, in the tool's
/// own shape; a block for a tool of unknown shape; only a note when known values could not
/// be checked; nothing when all is clean.
pub fn post_tool_use(agent: Agent, p: &Payload, known: &dyn KnownValues) -> Answer {
    let Some(response) = &p.response else {
        return Answer::default();
    };
    let c = conceal_value(response, known);
    let not_checked = match &c.check {
        KnownCheck::Checked => None,
        KnownCheck::NotChecked(why) => Some(format!(
            "patina guard: known secret values were not checked in this output ({why}); only \
             the token detectors ran."
        )),
    };
    if c.found.is_empty() {
        return match not_checked {
            Some(note) => Answer {
                stdout: json!({"hookSpecificOutput": {
                    "hookEventName": "PostToolUse",
                    "additionalContext": note,
                }})
                .to_string(),
                ..Answer::default()
            },
            None => Answer::default(),
        };
    }
    let mut names: Vec<String> = Vec::new();
    let mut detectors: Vec<String> = Vec::new();
    for (label, is_known) in &c.found {
        if *is_known {
            names.push(label.clone());
        } else {
            detectors.push(label.clone());
        }
    }
    let context = context_text(&names, &detectors, not_checked.as_deref());
    let shape = shape(agent, &p.tool);
    let (stdout, action) = match shape {
        Shape::Tool | Shape::Mcp => {
            let mut value = c.value;
            if let Value::Object(o) = &mut value {
                // Claude Code shows a Bash output cut at ~30 KB from the file these name,
                // in place of `stdout`: without them, the concealed text is what it shows.
                o.remove("persistedOutputPath");
                o.remove("persistedOutputSize");
            }
            let field = if shape == Shape::Mcp {
                "updatedMCPToolOutput"
            } else {
                "updatedToolOutput"
            };
            (
                json!({"hookSpecificOutput": {
                    "hookEventName": "PostToolUse",
                    field: value,
                    "additionalContext": context,
                }}),
                "replaced",
            )
        }
        Shape::Unknown => (
            json!({
                "decision": "block",
                "reason": format!(
                    "patina guard found secrets in the output of {} and cannot replace it (its \
                     shape is not known to patina): do not read, repeat or summarize it. {context}",
                    p.tool
                ),
                "hookSpecificOutput": {
                    "hookEventName": "PostToolUse",
                    "additionalContext": context,
                },
            }),
            "withheld",
        ),
    };
    Answer {
        stdout: stdout.to_string(),
        exit: 0,
        action: Some(Action {
            tool: p.tool.clone(),
            action,
            names,
            detectors,
        }),
    }
}

fn context_text(names: &[String], detectors: &[String], not_checked: Option<&str>) -> String {
    let mut what: Vec<String> = Vec::new();
    let mut seen: Vec<&String> = Vec::new();
    for n in names {
        if !seen.contains(&n) {
            seen.push(n);
            what.push(format!("{n} (a secret in your patina vault)"));
        }
    }
    for d in detectors {
        if !seen.contains(&d) {
            seen.push(d);
            what.push(format!("a value that looks like a secret ({d})"));
        }
    }
    let mut s = format!(
        "patina concealed {} in this tool output before you could read it. Do not try to \
         print or decode it. To use a secret, run the command through `patina secrets run -- \
         CMD`: CMD gets the secret in its environment and its output is masked.",
        what.join(", ")
    );
    if let Some(n) = not_checked {
        s.push(' ');
        s.push_str(n);
    }
    s
}

/// Fields whose strings name a kind rather than hold output (`type: "text"` of a Read
/// result or an MCP content block, Grep's `mode`, WebFetch's `codeText`): kept as they are
/// when a whole output is withheld, so the replacement keeps the shape the host accepts.
const KIND_FIELDS: &[&str] = &["type", "mode", "codeText"];

/// `v` with every non-empty string replaced by `<concealed by patina: LABEL>` (strings of
/// [`KIND_FIELDS`] kept), same shape. Keys are kept when they read as a field name
/// ([`is_field_name`]); any other key (data used as a key, which could be a value) becomes
/// the concealed text, numbered from the second on so no entry is lost.
fn withheld_value(v: &Value, label: &str) -> Value {
    match v {
        Value::String(s) if !s.is_empty() => Value::String(super::concealed(label)),
        Value::Array(a) => Value::Array(a.iter().map(|x| withheld_value(x, label)).collect()),
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            let mut renamed = 0;
            for (k, x) in o.iter().filter(|(k, _)| !k.starts_with("persistedOutput")) {
                let keep = KIND_FIELDS.contains(&k.as_str()) && x.is_string();
                let key = if is_field_name(k) {
                    k.clone()
                } else {
                    renamed += 1;
                    match renamed {
                        1 => super::concealed(label),
                        n => format!("{} #{n}", super::concealed(label)),
                    }
                };
                let x = if keep {
                    x.clone()
                } else {
                    withheld_value(x, label)
                };
                out.insert(key, x);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Whether an object key reads as a host's field name rather than data: 1 to 32 ASCII
/// letters and underscores (`stdout`, `filePath`, `structuredContent`, `is_error`). Secret
/// values almost always hold digits or symbols; one of letters only passes as a key of a
/// withheld output (threat model, "Limits").
fn is_field_name(k: &str) -> bool {
    (1..=32).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
}

/// The whole-output withholding: every string of the output replaced by
/// `<concealed by patina: LABEL>` in the tool's own shape (`updatedToolOutput` /
/// `updatedMCPToolOutput`, with `reason` as `additionalContext`), or `decision: "block"`
/// with `reason` for a tool whose shape is not known (and for a payload with no output).
pub fn withhold_all(agent: Agent, p: &Payload, label: &str, reason: &str) -> Answer {
    let shape = shape(agent, &p.tool);
    let stdout = match (&p.response, shape) {
        (Some(response), Shape::Tool | Shape::Mcp) => {
            let field = if shape == Shape::Mcp {
                "updatedMCPToolOutput"
            } else {
                "updatedToolOutput"
            };
            json!({"hookSpecificOutput": {
                "hookEventName": "PostToolUse",
                field: withheld_value(response, label),
                "additionalContext": reason,
            }})
        }
        _ => json!({
            "decision": "block",
            "reason": reason,
            "hookSpecificOutput": {
                "hookEventName": "PostToolUse",
                "additionalContext": reason,
            },
        }),
    };
    Answer {
        stdout: stdout.to_string(),
        exit: 0,
        action: Some(Action {
            tool: p.tool.clone(),
            action: "withheld",
            ..Action::default()
        }),
    }
}

/// What the model is told while a tripwire alert is pending.
pub const TRIPPED_REASON: &str = "patina is locked by a tripwire (a canary secret was touched, or \
     stored values were probed), so until the user acknowledges it every tool call is denied \
     and every tool output is withheld. Stop and tell the user: they must read the alert \
     (`patina session status`, the audit log) and run `patina session unlock --ack-canary`.";

/// The answer while a tripwire alert is pending (until `patina session unlock
/// --ack-canary`): PreToolUse denies the call, PostToolUse withholds the whole output
/// ([`withhold_all`], labelled `tripwire`), each with [`TRIPPED_REASON`].
pub fn tripped(agent: Agent, event: Event, p: &Payload) -> Answer {
    match event {
        Event::PreToolUse => deny(&p.tool, TRIPPED_REASON, Vec::new()),
        Event::PostToolUse => withhold_all(agent, p, "tripwire", TRIPPED_REASON),
    }
}

/// The PreToolUse answer denying a call, with `reason` (what to do instead).
pub fn deny(tool: &str, reason: &str, names: Vec<String>) -> Answer {
    Answer {
        stdout: json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }})
        .to_string(),
        exit: 0,
        action: Some(Action {
            tool: tool.to_string(),
            action: "denied",
            names,
            detectors: Vec::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_withheld_output_keeps_field_names_and_conceals_data_keys() {
        let data_key = ["Pc4n4ry", "-7f3e9c1d", "+x/y=z"].concat();
        let v = json!({
            "type": "text",
            "structuredContent": {data_key.clone(): "a", "other-9": "b", "region": "eu"},
        });
        let w = withheld_value(&v, "x");
        let text = w.to_string();
        assert!(!text.contains("Pc4n4ry"), "{text}");
        assert_eq!(w["type"], "text");
        let sc = w["structuredContent"].as_object().unwrap();
        assert_eq!(sc.len(), 3, "no entry lost: {text}");
        assert!(sc.contains_key("region"));
        assert!(sc.contains_key("<concealed by patina: x>"));
        assert!(sc.contains_key("<concealed by patina: x> #2"));
    }
}
