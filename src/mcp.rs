//! A Model Context Protocol server on stdio (MCP, <https://modelcontextprotocol.io>): the
//! bridge through which LLM agents (Claude Code, Gemini CLI, any MCP host) use patina.
//! Depends on [`crate::client`] (every daemon route), [`crate::api`] (the request bodies
//! the daemon reads), [`crate::scry`] (search without a daemon), [`crate::mother`] (a project named by a user: `resolve_project`),
//! [`crate::tripwire`] (a pending alert refuses scry), [`crate::paths`] and [`crate::text`];
//! it knows no socket and no HTTP framing.
//!
//! The wire format is JSON-RPC 2.0, one message per line (newline-delimited JSON) on
//! stdin/stdout, as the MCP "stdio" transport specifies; nothing else is written to stdout.
//! Supported protocol revisions: [`PROTOCOL_VERSIONS`]; the client's is used when supported,
//! else the newest. Methods: `initialize`, `ping`, `tools/list`, `tools/call`; notifications
//! (`notifications/initialized`, `notifications/cancelled`, …) are accepted and never answered.
//!
//! Value-free by construction: every tool result is built from a typed struct whose fields
//! are names, env-variable names, vault labels, paths, offsets and search hits — no field of
//! any tool's result can carry a secret value, whatever a daemon answers.

use crate::client::{Client, ClientError, Reply};
use crate::paths::Home;
use crate::scry::{self, MAX_LIMIT, ScryError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// MCP revisions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];

/// Longest request line read (bytes, 8 MiB): larger lines are answered with an error under
/// the id found at the start of the line (else `null`) and skipped, so a runaway client
/// cannot make the server buffer without bound, and a host waiting on that id gets its
/// answer (case 026: a valid 4 MiB line is parsed and answered as any other).
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Time allowed for one exchange with the daemon (7 s): a tool call that waits longer is a
/// tool error. Above the daemon's own deadlines (scry 2 s, a federated search 3 s), so a
/// working daemon answers first; below case 033's 10 s bound for a wedged daemon.
pub const DAEMON_TIMEOUT: Duration = Duration::from_secs(7);

/// JSON-RPC 2.0 error codes (<https://www.jsonrpc.org/specification#error_object>).
pub mod codes {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters (also: unknown tool, tool arguments that break the schema).
    pub const INVALID_PARAMS: i64 = -32602;
}

/// Where the tools find things: the user's home, the daemon URL (`--url`/`PATINA_URL`),
/// and the project used when a call names none.
#[derive(Debug, Clone)]
pub struct Server {
    /// The per-user state directory (for the socket and token file).
    pub home: Home,
    /// A daemon URL for TCP, else the Unix socket is used.
    pub url: Option<String>,
    /// The default project for `scry` (canonical path).
    pub project: PathBuf,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// One of [`codes`].
    pub code: i64,
    /// A message; never quotes the input.
    pub message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }
}

/// What a tool answered: a JSON value, or an error message for the agent (`isError: true`).
type ToolResult = Result<Value, String>;

impl Server {
    /// Serves MCP on `input`/`output` until `input` ends. Each line is one JSON-RPC message
    /// (or a batch array, 2025-03-26); each request gets one response line; I/O errors on
    /// `output` end the loop with that error.
    pub fn run(&self, mut input: impl BufRead, mut output: impl Write) -> io::Result<()> {
        let mut negotiated: &'static str = PROTOCOL_VERSIONS[0];
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            let n = read_line_capped(&mut input, &mut line)?;
            if n == 0 {
                return Ok(());
            }
            let reply = if line.len() > MAX_LINE_BYTES {
                Some(error_response(
                    leading_id(&line).unwrap_or(Value::Null),
                    &RpcError::new(
                        codes::INVALID_REQUEST,
                        format!("message too long: at most {MAX_LINE_BYTES} bytes a line"),
                    ),
                ))
            } else {
                let text = trim_ascii(&line);
                if text.is_empty() {
                    continue;
                }
                self.handle_line(text, &mut negotiated)
            };
            if let Some(r) = reply {
                let mut bytes = serde_json::to_vec(&r).map_err(io::Error::other)?;
                bytes.push(b'\n');
                output.write_all(&bytes)?;
                output.flush()?;
            }
        }
    }

    /// Handles one line: a message or a batch. `None` when nothing is to be answered.
    fn handle_line(&self, text: &[u8], negotiated: &mut &'static str) -> Option<Value> {
        let msg: Value = match serde_json::from_slice(text) {
            Ok(v) => v,
            Err(_) => {
                return Some(error_response(
                    Value::Null,
                    &RpcError::new(codes::PARSE_ERROR, "the message is not valid JSON"),
                ));
            }
        };
        match msg {
            Value::Array(items) if items.is_empty() => Some(error_response(
                Value::Null,
                &RpcError::new(codes::INVALID_REQUEST, "empty batch"),
            )),
            Value::Array(items) => {
                let out: Vec<Value> = items
                    .into_iter()
                    .filter_map(|m| self.handle_message(m, negotiated))
                    .collect();
                (!out.is_empty()).then_some(Value::Array(out))
            }
            m => self.handle_message(m, negotiated),
        }
    }

    /// Handles one JSON-RPC message. Responses (from the client) and notifications give
    /// `None`; requests always give a response.
    fn handle_message(&self, msg: Value, negotiated: &mut &'static str) -> Option<Value> {
        let Value::Object(obj) = msg else {
            return Some(error_response(
                Value::Null,
                &RpcError::new(codes::INVALID_REQUEST, "a message must be a JSON object"),
            ));
        };
        let id = obj.get("id").cloned();
        let valid_id = matches!(id, None | Some(Value::String(_)) | Some(Value::Number(_)));
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || !valid_id {
            return Some(error_response(
                if valid_id {
                    id.unwrap_or(Value::Null)
                } else {
                    Value::Null
                },
                &RpcError::new(codes::INVALID_REQUEST, "not a JSON-RPC 2.0 request"),
            ));
        }
        let Some(method) = obj.get("method").and_then(Value::as_str) else {
            if obj.contains_key("result") || obj.contains_key("error") {
                return None; // a response to a request we never sent; ignore it
            }
            return Some(error_response(
                id.unwrap_or(Value::Null),
                &RpcError::new(codes::INVALID_REQUEST, "the request has no method"),
            ));
        };
        let params = obj.get("params").cloned().unwrap_or(Value::Null);
        if !matches!(params, Value::Null | Value::Object(_) | Value::Array(_)) {
            return id.map(|id| {
                error_response(
                    id,
                    &RpcError::new(codes::INVALID_PARAMS, "params must be an object"),
                )
            });
        }
        let Some(id) = id else {
            return None; // notifications: initialized, cancelled, progress, roots changed …
        };
        let result = match method {
            "initialize" => Ok(self.initialize(&params, negotiated)),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": tool_definitions() })),
            "tools/call" => self.call(&params, negotiated),
            _ => Err(RpcError::new(codes::METHOD_NOT_FOUND, "method not found")),
        };
        Some(match result {
            Ok(r) => json!({ "jsonrpc": "2.0", "id": id, "result": r }),
            Err(e) => error_response(id, &e),
        })
    }

    fn initialize(&self, params: &Value, negotiated: &mut &'static str) -> Value {
        let asked = params.get("protocolVersion").and_then(Value::as_str);
        *negotiated = PROTOCOL_VERSIONS
            .iter()
            .find(|v| Some(**v) == asked)
            .copied()
            .unwrap_or(PROTOCOL_VERSIONS[0]);
        json!({
            "protocolVersion": *negotiated,
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": { "name": "patina", "title": "patina", "version": crate::VERSION },
            "instructions": INSTRUCTIONS,
        })
    }

    /// `tools/call`: unknown tools and arguments that break a tool's schema are JSON-RPC
    /// errors (-32602); failures while running a tool are results with `isError: true`.
    fn call(&self, params: &Value, negotiated: &str) -> Result<Value, RpcError> {
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::new(codes::INVALID_PARAMS, "tools/call needs a tool name"))?;
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(RpcError::new(
                    codes::INVALID_PARAMS,
                    "arguments must be an object",
                ));
            }
        };
        let bad = |tool: &str| {
            RpcError::new(
                codes::INVALID_PARAMS,
                format!("invalid arguments for tool {tool}: see its inputSchema in tools/list"),
            )
        };
        let outcome = match name {
            "scry" => self.scry(scry_args(&args)?),
            "mother_projects" => {
                let _: NoArgs = serde_json::from_value(args).map_err(|_| bad(name))?;
                self.mother_projects()
            }
            "session_status" => {
                let _: NoArgs = serde_json::from_value(args).map_err(|_| bad(name))?;
                self.session_status()
            }
            "secrets_list" => {
                let _: NoArgs = serde_json::from_value(args).map_err(|_| bad(name))?;
                self.secrets_list()
            }
            "secrets_scan" => {
                self.secrets_scan(serde_json::from_value(args).map_err(|_| bad("secrets_scan"))?)
            }
            _ => {
                return Err(RpcError::new(
                    codes::INVALID_PARAMS,
                    "unknown tool (see tools/list)",
                ));
            }
        };
        Ok(tool_result(outcome, negotiated))
    }

    fn client(&self) -> Result<Client, String> {
        Client::from_env(&self.home, self.url.as_deref())
            .map(|c| c.with_timeout(DAEMON_TIMEOUT))
            .map_err(|e| crate::text::one_line(&e))
    }

    /// `scry`: one project through the daemon, or directly from its index when no daemon
    /// runs; all projects through `/mother/scry`.
    fn scry(&self, a: ScryArgs) -> ToolResult {
        if a.query.trim().is_empty() {
            return Err("the query is empty: give some words to search for".into());
        }
        // Tripped, nothing is searched, with or without a daemon (which refuses too).
        if crate::tripwire::pending(&self.home).is_some() {
            return Err(crate::api::scry::TRIPPED.into());
        }
        let limit = scry::requested_limit(a.limit)?;
        let client = self.client()?;
        if a.all_projects {
            let body = crate::api::mother::MotherScryRequest {
                query: a.query,
                limit: Some(limit),
            };
            let reply = call_route(&client, "POST", "/mother/scry", Some(&body))?;
            return reply
                .json::<Value>()
                .map_err(|e| e.to_string())
                .and_then(scrub_scry);
        }
        // A registered name or a directory (absolute, or relative to the server's project):
        // the one rule of `mother::resolve_project`, as `patina scry --project` and the API.
        // A relative directory never climbs out of the server's project (case 026: the
        // bridge is no looser than the daemon, which takes only absolute directories).
        let dir = match a.project.as_deref() {
            None => Some(self.project.clone()),
            Some(p) => {
                let registered = crate::mother::resolve_project(&self.home, p, None);
                registered.or_else(|| {
                    crate::mother::resolve_project(&self.home, p, Some(&self.project))
                        .filter(|d| Path::new(p).is_absolute() || d.starts_with(&self.project))
                })
            }
        };
        // Over TCP a daemon serves only its own project: name one only when asked to (as
        // `patina scry` does).
        // Over TCP the name goes as given: the daemon resolves registered names itself.
        let project = match (&dir, a.project) {
            (_, None) if client.is_tcp() => None,
            (_, Some(name)) if client.is_tcp() && crate::mother::valid_name(&name) => Some(name),
            (Some(d), _) => Some(d.to_string_lossy().into_owned()),
            (None, name) => name,
        };
        let body = crate::api::scry::ScryRequest {
            query: a.query.clone(),
            limit: Some(limit),
            project,
        };
        match client.post_json("/api/scry", &body) {
            Ok(r) if r.status == 200 => r
                .json::<Value>()
                .map_err(|e| e.to_string())
                .and_then(scrub_scry),
            Ok(r) => Err(r.error_message()),
            Err(ClientError::NoDaemon(_)) if !client.is_tcp() => {
                let Some(root) = dir else {
                    return Err("unknown project: neither a registered project's name (see the mother_projects tool) nor a directory inside this project or given by its absolute path".into());
                };
                match scry::search_project(&root, &a.query, limit, None) {
                    Ok(mut r) => {
                        // No daemon, no known values: secret-looking tokens still go.
                        scry::redact::redact_hits(&mut r.results, &[]);
                        scry::redact::bound_hits(&mut r.results);
                        scrub_scry(serde_json::to_value(r).map_err(|e| e.to_string())?)
                    }
                    Err(ScryError::EmptyQuery) => Ok(json!({ "results": [], "took_ms": 0.0 })),
                    // Only the server's own project is worth indexing on an agent's word.
                    Err(e @ ScryError::NoIndex(_)) if root == self.project => Err(e.to_string()),
                    Err(ScryError::NoIndex(_)) => Err(
                        "unknown project: that directory has no patina index (it is not a project patina knows)"
                            .into(),
                    ),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn mother_projects(&self) -> ToolResult {
        let reply = call_route(&self.client()?, "GET", "/mother/projects", None)?;
        let v: Value = reply.json().map_err(|e| e.to_string())?;
        let projects: Vec<Project> = list_field(&v, "projects")?;
        Ok(json!({ "projects": projects }))
    }

    fn session_status(&self) -> ToolResult {
        let reply = call_route(&self.client()?, "GET", "/session", None)?;
        let s: SessionStatus = reply
            .json()
            .map_err(|_| "the daemon's /session answer has an unexpected shape".to_string())?;
        serde_json::to_value(s).map_err(|e| e.to_string())
    }

    fn secrets_list(&self) -> ToolResult {
        let reply = call_route(&self.client()?, "GET", "/secrets", None)?;
        let v: Value = reply.json().map_err(|e| e.to_string())?;
        let secrets: Vec<SecretName> = list_field(&v, "secrets")?;
        Ok(json!({ "secrets": secrets }))
    }

    fn secrets_scan(&self, a: ScanArgs) -> ToolResult {
        let body = crate::api::session::ScanRequest { text: a.text };
        let reply = call_route(&self.client()?, "POST", "/secrets/scan", Some(&body))?;
        let v: Value = reply.json().map_err(|e| e.to_string())?;
        let findings: Vec<Finding> = list_field(&v, "findings")?;
        Ok(json!({ "findings": findings }))
    }
}

/// A request body of any of the API's request types ([`crate::api`]), posted as JSON.
mod erased {
    use crate::client::{Client, ClientError, Reply};

    /// A serializable request body, as a trait object.
    pub(super) trait Body {
        /// Posts `self` as the JSON body of `POST path`.
        fn post(&self, client: &Client, path: &str) -> Result<Reply, ClientError>;
    }

    impl<T: serde::Serialize> Body for T {
        fn post(&self, client: &Client, path: &str) -> Result<Reply, ClientError> {
            client.post_json(path, self)
        }
    }
}

/// Calls a daemon route for a tool: a 2xx reply, or a message for the agent that says what
/// to do (no daemon, route not served by this daemon, refused, or the daemon's own error).
fn call_route(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<&dyn erased::Body>,
) -> Result<Reply, String> {
    let result = match body {
        Some(b) => b.post(client, path),
        None => client.request(method, path, None),
    };
    match result {
        Ok(r) if (200..300).contains(&r.status) => Ok(r),
        Ok(r) if r.status == 404 => Err(format!(
            "the daemon does not serve {method} {path} ({}); it may be an older patina",
            r.error_message()
        )),
        Ok(r) if r.status == 403 => Err(format!(
            "the daemon refused {method} {path}: {} (session and secrets routes answer only on the local Unix socket)",
            r.error_message()
        )),
        Ok(r) => Err(r.error_message()),
        Err(ClientError::NoDaemon(_)) => Err(format!(
            "no patina daemon is running, and {path} needs one: start it with `patina serve` (in the project directory)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Reads `v[field]` as a list of `T`; a missing list or items of another shape are an
/// error, unknown fields of an item are dropped (that is what keeps the results value-free).
fn list_field<T: serde::de::DeserializeOwned>(v: &Value, field: &str) -> Result<Vec<T>, String> {
    // A missing list is an error, not an empty one: a scan must never report "nothing found"
    // because the daemon named its field differently.
    v.get(field)
        .and_then(|list| serde_json::from_value(list.clone()).ok())
        .ok_or_else(|| format!("the daemon's answer has no `{field}` list of the expected shape"))
}

/// Re-types a scry response through [`ScryOut`] so only known fields pass.
fn scrub_scry(v: Value) -> ToolResult {
    serde_json::from_value::<ScryOut>(v)
        .ok()
        .and_then(|o| serde_json::to_value(o).ok())
        .ok_or_else(|| "the daemon's search answer has an unexpected shape".to_string())
}

/// The result of `tools/call`: the value as JSON text (and as `structuredContent` from
/// 2025-06-18 on), or the error message with `isError: true`.
fn tool_result(outcome: ToolResult, negotiated: &str) -> Value {
    match outcome {
        Ok(v) => {
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            let mut r = json!({ "content": [{ "type": "text", "text": text }], "isError": false });
            if negotiated >= "2025-06-18" {
                r["structuredContent"] = v;
            }
            r
        }
        Err(msg) => json!({ "content": [{ "type": "text", "text": msg }], "isError": true }),
    }
}

fn error_response(id: Value, e: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": e.code, "message": e.message } })
}

/// The `id` of a JSON-RPC request whose line was cut short ([`MAX_LINE_BYTES`]), when it
/// appears before the cut as a top-level member (`{"jsonrpc":"2.0","id":2,"method":…`): a
/// number or a string; `None` otherwise. Scans strings and nesting depth only, so a member
/// named `id` inside `params` is not taken.
fn leading_id(prefix: &[u8]) -> Option<Value> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < prefix.len() {
        match prefix[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b'"' => {
                // A string: skip to its closing quote, minding escapes.
                let start = i + 1;
                i = start;
                while i < prefix.len() && prefix[i] != b'"' {
                    i += if prefix[i] == b'\\' { 2 } else { 1 };
                }
                let key = prefix.get(start..i)?;
                if depth == 1 && key == b"id" {
                    let rest = prefix.get(i + 1..)?.trim_ascii_start();
                    let value = rest.strip_prefix(b":")?;
                    // The value alone: a number or a string, cut at the member's end.
                    let mut de = serde_json::Deserializer::from_slice(value).into_iter::<Value>();
                    return match de.next()? {
                        Ok(v @ (Value::Number(_) | Value::String(_))) => Some(v),
                        _ => None,
                    };
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Reads one line (through `\n`) into `buf`, keeping at most [`MAX_LINE_BYTES`] + 1 bytes of
/// it (the rest is read and dropped). Returns the bytes consumed; 0 at end of input.
fn read_line_capped(input: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut consumed = 0;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        input.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Arguments of a tool that takes none (unknown fields are refused).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// The arguments of `scry`, checked by [`scry_args`].
struct ScryArgs {
    query: String,
    limit: Option<usize>,
    project: Option<String>,
    all_projects: bool,
}

/// Checks `scry`'s arguments one by one, so a refusal (-32602) names the argument at fault
/// and what it must be (case 026: a generic "see the schema" makes an agent rewrite the
/// wrong part of its call). Never quotes a value. `limit`: absent or null → the default,
/// 0 → refused ([`scry::requested_limit`]), above the cap → clamped; not a whole number
/// (a string, 2.5, -1, true) → refused.
fn scry_args(args: &Value) -> Result<ScryArgs, RpcError> {
    let bad = |m: &str| {
        RpcError::new(
            codes::INVALID_PARAMS,
            format!("invalid arguments for tool scry: {m}"),
        )
    };
    let map = args
        .as_object()
        .ok_or_else(|| bad("arguments must be an object"))?;
    if map
        .keys()
        .any(|k| !matches!(k.as_str(), "query" | "limit" | "project" | "all_projects"))
    {
        return Err(bad(
            "unknown argument: scry takes query, limit, project and all_projects",
        ));
    }
    let present = |k: &str| map.get(k).filter(|v| !v.is_null());
    let query = match present("query") {
        None => return Err(bad("`query` is required: the words to search for")),
        Some(Value::String(q)) => q.clone(),
        Some(_) => return Err(bad("`query` must be a string: the words to search for")),
    };
    let limit = match present("limit") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => {
                return Err(bad(&format!(
                    "`limit` must be a whole number from 1 to {MAX_LIMIT}"
                )));
            }
        },
    };
    scry::requested_limit(limit).map_err(bad)?;
    let project = match present("project") {
        None => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => {
            return Err(bad(
                "`project` must be a string: a registered project's name or a directory",
            ));
        }
    };
    let all_projects = match present("all_projects") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`all_projects` must be true or false")),
    };
    Ok(ScryArgs {
        query,
        limit,
        project,
        all_projects,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanArgs {
    text: String,
}

/// A scry response as the tools return it: hits, and the project of each for `all_projects`.
#[derive(Serialize, Deserialize)]
struct ScryOut {
    results: Vec<HitOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    took_ms: Option<f64>,
    /// The index generation the hits came from (issue 18: as `scry --json` and `/api/scry`),
    /// when the daemon answered; absent from a search without a daemon and from mother's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct HitOut {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project: Option<String>,
    path: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    line: u64,
    #[serde(default)]
    snippet: String,
    #[serde(default)]
    score: f64,
    /// Something secret-looking was replaced by `[redacted]` in this hit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    redacted: bool,
}

/// A registered project: its name and directory (and, for a peer's, the peer).
#[derive(Serialize, Deserialize)]
struct Project {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peer: Option<String>,
}

/// `GET /session`: whether secrets are unlocked, for how long, which vaults.
#[derive(Serialize, Deserialize)]
struct SessionStatus {
    unlocked: bool,
    #[serde(default)]
    expires_in_secs: Option<u64>,
    #[serde(default)]
    vaults: Vec<OpenVault>,
}

/// A vault the session holds, as `GET /session` names it: its kind (`global` or `project`)
/// and its directory. Never a name or a value.
#[derive(Serialize, Deserialize)]
struct OpenVault {
    kind: String,
    path: String,
}

/// A secret as listed: its name, the env variable it is exported as, its vault.
#[derive(Serialize, Deserialize)]
struct SecretName {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vault: Option<String>,
}

/// A scan finding: which known secret (by name) or what kind of secret-looking token, and
/// where (byte offsets into the text). Never the matched text.
#[derive(Serialize, Deserialize)]
struct Finding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, alias = "offset", skip_serializing_if = "Option::is_none")]
    start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
}

/// What the server tells the agent at `initialize`.
const INSTRUCTIONS: &str = "patina keeps this developer's project knowledge (design notes, specs, decisions, session logs, code) searchable, and their secrets out of your context. Use `scry` before answering questions about the project's design, history or conventions. No tool ever returns a secret value: to run a command that needs secrets, ask the user to run `patina secrets run -- CMD`. Use `secrets_scan` on text you are about to write or send when it might contain a credential.";

/// The tools, with JSON schemas and descriptions that tell an agent when to use each.
pub fn tool_definitions() -> Value {
    json!([
        {
            "name": "scry",
            "title": "Search project knowledge",
            "description": "Search the project's knowledge base (layer/ design notes, specs, decisions, beliefs, session logs, and code) with BM25 full-text ranking. Use it first when you need to know how or why something in this project is done, what was decided before, or where something lives. Any text is a valid query (words are matched; operators and punctuation are taken literally), except that a phrase of two words or more in double quotes is searched alone, whole phrase first: paste an error with its message quoted, e.g. Error(\"EOF while parsing a value\", line: 1, column: 0). Returns hits with path, line, title, kind, a snippet (matched words in [brackets]) and a score (higher is better). Set all_projects to search every project the user registered with patina (needs the daemon).",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": { "type": "string", "minLength": 1, "description": "What to look for: words or a phrase, e.g. \"session capture design\"." },
                    "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": scry::DEFAULT_LIMIT, "description": "Most results to return." },
                    "project": { "type": "string", "description": "The project to search: a directory (absolute, or relative to the server's project) or a registered project name. Default: the project this server was started in." },
                    "all_projects": { "type": "boolean", "default": false, "description": "Search all registered projects (and peers) instead of one; each hit names its project." }
                },
                "required": ["query"],
                "additionalProperties": false
            },
            "annotations": { "readOnlyHint": true, "openWorldHint": false }
        },
        {
            "name": "mother_projects",
            "title": "List registered projects",
            "description": "List the projects the user registered with patina (name and directory). Use it to find a project name to pass to scry, or to see which projects all_projects searches. Needs the patina daemon.",
            "inputSchema": { "type": "object", "properties": {}, "additionalProperties": false },
            "annotations": { "readOnlyHint": true, "openWorldHint": false }
        },
        {
            "name": "session_status",
            "title": "Secrets session status",
            "description": "Tell whether the user's secrets are unlocked (a time-limited session, like ssh-agent), how many seconds remain, and which vaults are open. Use it before suggesting `patina secrets run -- CMD` to the user; if locked, ask the user to run `patina session unlock`. Never returns secret names or values. Needs the local daemon.",
            "inputSchema": { "type": "object", "properties": {}, "additionalProperties": false },
            "annotations": { "readOnlyHint": true, "openWorldHint": false }
        },
        {
            "name": "secrets_list",
            "title": "List secret names",
            "description": "List the names of the user's secrets, the environment variable each is exported as under `patina secrets run`, and its vault. Names only: values are never returned by any tool. Use it to know which env vars a command run through `patina secrets run -- CMD` will see. Needs the local daemon.",
            "inputSchema": { "type": "object", "properties": {}, "additionalProperties": false },
            "annotations": { "readOnlyHint": true, "openWorldHint": false }
        },
        {
            "name": "secrets_scan",
            "title": "Scan text for secrets",
            "description": "Check a piece of text for the user's known secrets (reported by name) and for secret-looking tokens (reported by kind), with byte offsets. Use it on text you are about to write to a file, commit, or send anywhere when it could contain a credential. Never returns the matched text. Needs the local daemon.",
            "inputSchema": {
                "type": "object",
                "properties": { "text": { "type": "string", "description": "The text to check." } },
                "required": ["text"],
                "additionalProperties": false
            },
            "annotations": { "readOnlyHint": true, "openWorldHint": false }
        }
    ])
}

/// Runs the server on this process's stdin/stdout (`patina mcp`).
pub fn serve_stdio(home: Home, url: Option<String>, project: &Path) -> io::Result<()> {
    let server = Server {
        home,
        url,
        project: project.to_path_buf(),
    };
    let stdin = io::stdin().lock();
    let stdout = io::stdout().lock();
    server.run(stdin, stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        Server {
            home: Home::at("/nonexistent/patina-home"),
            url: None,
            project: PathBuf::from("/nonexistent/project"),
        }
    }

    fn exchange(lines: &str) -> Vec<Value> {
        let mut out = Vec::new();
        server().run(lines.as_bytes(), &mut out).unwrap();
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn negotiates_the_clients_version_or_the_newest() {
        let r = exchange(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}
{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}
"#,
        );
        assert_eq!(r[0]["result"]["protocolVersion"], "2024-11-05");
        assert_eq!(r[1]["result"]["protocolVersion"], PROTOCOL_VERSIONS[0]);
    }

    #[test]
    fn json_rpc_errors_have_the_standard_codes() {
        let r = exchange(
            "not json\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}\n{\"id\":2,\"method\":\"ping\"}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"scry\",\"arguments\":{\"limit\":\"Pc4n4ry\"}}}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}\n",
        );
        let codes: Vec<_> = r.iter().map(|v| v["error"]["code"].as_i64()).collect();
        assert_eq!(
            codes,
            [Some(-32700), Some(-32601), Some(-32600), Some(-32602), None]
        );
        assert_eq!(r[4]["result"], json!({}));
        assert!(!serde_json::to_string(&r).unwrap().contains("Pc4n4ry"));
    }

    #[test]
    fn a_daemon_route_without_a_daemon_is_a_tool_error() {
        let r = exchange(
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"session_status\"}}\n",
        );
        assert_eq!(r[0]["result"]["isError"], true);
        let text = r[0]["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("patina serve"), "{text}");
    }

    #[test]
    fn findings_and_secret_lists_drop_unknown_fields() {
        let v = json!({"findings":[{"name":"API","start":1,"end":5,"value":"Pc4n4ry-7f3e9c1d+x/y=z","match":"x"}]});
        let f: Vec<Finding> = list_field(&v, "findings").unwrap();
        let s = serde_json::to_string(&f).unwrap();
        assert!(!s.contains("Pc4n4ry") && s.contains("API"), "{s}");
        let v =
            json!({"secrets":[{"name":"API","env":"API_KEY","vault":"global","value":"Pc4n4ry"}]});
        let l: Vec<SecretName> = list_field(&v, "secrets").unwrap();
        assert!(!serde_json::to_string(&l).unwrap().contains("Pc4n4ry"));
        assert!(list_field::<Finding>(&json!({"matches": []}), "findings").is_err());
    }

    #[test]
    fn overlong_lines_are_an_invalid_request_and_skipped() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n");
        let mut out = Vec::new();
        server().run(input.as_slice(), &mut out).unwrap();
        let lines: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["error"]["code"], -32600);
        assert_eq!(lines[0]["id"], Value::Null);
        assert_eq!(lines[1]["id"], 7);
    }

    /// Case 026: a line past the cap is answered under the id it starts with, so a host
    /// waiting on that id is not left waiting; an `id` nested in `params` is not taken.
    #[test]
    fn an_overlong_request_is_answered_under_its_own_id() {
        let mut input =
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"scry","arguments":{"query":""#
                .to_vec();
        input.resize(MAX_LINE_BYTES + 100, b'q');
        input.extend_from_slice(b"\"}}}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n");
        let mut out = Vec::new();
        server().run(input.as_slice(), &mut out).unwrap();
        let lines: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["id"], 2);
        assert!(
            lines[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too long")
        );
        assert_eq!(lines[1]["id"], 3);

        assert_eq!(leading_id(br#"{"id":"a\"b","method""#), Some(json!("a\"b")));
        assert_eq!(leading_id(br#"{"params":{"id":5},"x":"#), None);
        assert_eq!(
            leading_id(br#"{"method":"x","id": 9 ,"params":{"#),
            Some(json!(9))
        );
        assert_eq!(leading_id(br#"{"id":{"nested":1}}"#), None);
        assert_eq!(leading_id(b"xxxxxxxx"), None);
    }
}
