//! `patina guard install|uninstall`: the hook entries in an agent host's settings file,
//! merged without touching anything else. Claude Code: `~/.claude/settings.json` (user),
//! `<project>/.claude/settings.json` (project) or `settings.local.json` (local); Codex:
//! `~/.codex/hooks.json` (user) or `<project>/.codex/hooks.json` (project). Both take
//! `{"hooks": {"PreToolUse"|"PostToolUse": [{"matcher", "hooks": [{"type": "command",
//! "command", "timeout"}]}]}}`.
//!
//! An entry is ours when its command ends with [`signature`] (`guard hook --agent A --event
//! E`): install adds one per event (or updates ours in place), uninstall removes exactly those
//! (and a matcher group left empty by it), so a second install changes nothing and
//! install + uninstall gives back the same settings. Before a file is replaced, its previous
//! content is kept beside it as `FILE.patina-backup` (0600); the new file is written
//! atomically (`fsutil::write_atomic`) with the old file's mode.

use super::Agent;
use super::payload::Event;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Seconds the host waits for the hook before giving up (Claude Code then lets the output
/// through: the guard answers by its own deadline, [`HOOK_DEADLINE_SECS`], before that).
pub const HOOK_TIMEOUT_SECS: u64 = 30;

/// The guard's own deadline, in seconds: past it the hook answers per its error policy.
pub const HOOK_DEADLINE_SECS: u64 = 20;

/// Which settings file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// The user's settings (every project).
    User,
    /// The project's shared settings (`.claude/settings.json`, `.codex/hooks.json`).
    Project,
    /// The project's local, uncommitted settings (Claude Code's `settings.local.json`).
    Local,
}

/// The settings file of `agent` for `scope`, with `home` the user's home directory and
/// `project` the project root.
pub fn settings_path(agent: Agent, scope: Scope, home: &Path, project: &Path) -> PathBuf {
    match (agent, scope) {
        (Agent::ClaudeCode, Scope::User) => home.join(".claude/settings.json"),
        (Agent::ClaudeCode, Scope::Project) => project.join(".claude/settings.json"),
        (Agent::ClaudeCode, Scope::Local) => project.join(".claude/settings.local.json"),
        (Agent::Codex, Scope::User) => home.join(".codex/hooks.json"),
        (Agent::Codex, Scope::Project | Scope::Local) => project.join(".codex/hooks.json"),
    }
}

/// The end of every command the guard installs for `agent` and `event`.
pub fn signature(agent: Agent, event: Event) -> String {
    format!(
        "guard hook --agent {} --event {}",
        agent.name(),
        event.name()
    )
}

/// `p` as one shell word: as is when it holds only `[A-Za-z0-9/._+-]`, else single-quoted.
fn shell_word(p: &Path) -> String {
    let e = p.display().to_string();
    if !e.is_empty()
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    {
        e
    } else {
        format!("'{}'", e.replace('\'', r"'\''"))
    }
}

/// The command line installed: `exe` (shell-quoted when needed), the signature, and
/// `--home HOME`, the patina home (absolute) the hook belongs to. The hook uses that home,
/// not `PATINA_HOME`/`HOME` from its environment (a project's `.claude/settings.local.json`
/// `env` can change those), and fails closed when it is missing (QA session 9, H2 c).
pub fn command(exe: &Path, agent: Agent, event: Event, home: &Path) -> String {
    format!(
        "{} {} --home {}",
        shell_word(exe),
        signature(agent, event),
        shell_word(home)
    )
}

/// The tools each event is installed for: PreToolUse only where it can deny something
/// (Claude Code's Edit, MultiEdit, NotebookEdit and Write too: the host shows the model the
/// lines around an edit, QA session 9, M3),
/// PostToolUse for every tool (MCP tools included): Claude Code's "match all" is `*`; Codex
/// reads matchers as regular expressions, where the empty matcher matches every tool.
pub fn matcher(agent: Agent, event: Event) -> &'static str {
    match (agent, event) {
        (Agent::ClaudeCode, Event::PreToolUse) => {
            "Bash|Read|Grep|NotebookRead|Edit|MultiEdit|NotebookEdit|Write"
        }
        (Agent::Codex, Event::PreToolUse) => "Bash|shell|exec_command|shell_command",
        (Agent::ClaudeCode, Event::PostToolUse) => "*",
        (Agent::Codex, Event::PostToolUse) => "",
    }
}

/// Why the settings cannot be changed (names the file, never its content).
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The file is not a JSON object, or its `hooks` is not an object of lists.
    #[error(
        "{0} is not a settings file patina understands (not a JSON object with a \"hooks\" object of lists); fix it or pick another --scope"
    )]
    NotSettings(PathBuf),
}

/// Whether `hook` is the guard's entry for `agent` and `event`: its command holds the
/// signature, followed by nothing or by `--home HOME` (installs before `--home` end with
/// the signature).
fn is_ours(hook: &Value, agent: Agent, event: Event) -> bool {
    hook.get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| {
            let sig = signature(agent, event);
            c.trim_end().ends_with(&sig)
                || c.rfind(&format!("{sig} --home "))
                    .is_some_and(|i| !c[i + sig.len() + " --home ".len()..].trim().is_empty())
        })
}

/// The paths the hook entries of a settings file rely on: the executable and the patina
/// home of each of the guard's commands in `settings` (as written by [`command`]; a quoted
/// word is unquoted). PreToolUse denies changing them (QA session 9, H2 d).
pub fn hook_paths(settings: &Value) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else {
        return out;
    };
    for list in hooks.values().filter_map(Value::as_array) {
        for g in list {
            for h in g
                .get("hooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(c) = h.get("command").and_then(Value::as_str) else {
                    continue;
                };
                if !c.contains(" guard hook --agent ") {
                    continue;
                }
                let words = shell_words(c);
                if let Some(exe) = words.first() {
                    out.push(PathBuf::from(exe));
                }
                if let Some(i) = words.iter().position(|w| w == "--home")
                    && let Some(home) = words.get(i + 1)
                {
                    out.push(PathBuf::from(home));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The words of a command [`command`] wrote: split at spaces, `'…'` quoting (with `'\''`)
/// undone.
fn shell_words(c: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut inq = false;
    let mut any = false;
    for ch in c.chars() {
        match ch {
            '\'' => {
                inq = !inq;
                any = true;
            }
            '\\' if !inq => {}
            ' ' if !inq => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            _ => cur.push(ch),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `settings` with the guard's entries for `agent` added (or updated to `exe`, `home` and
/// the current [`matcher`]: an installation from before Edit was guarded gets it here).
pub fn merged(
    settings: &Value,
    path: &Path,
    agent: Agent,
    exe: &Path,
    home: &Path,
) -> Result<Value, InstallError> {
    let mut s = settings.clone();
    let bad = || InstallError::NotSettings(path.to_path_buf());
    let root = s.as_object_mut().ok_or_else(bad)?;
    let hooks = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(bad)?;
    for event in [Event::PreToolUse, Event::PostToolUse] {
        let list = hooks
            .entry(event.name())
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .ok_or_else(bad)?;
        let cmd = command(exe, agent, event, home);
        let mut found = false;
        for group in list.iter_mut() {
            let mut ours = false;
            if let Some(hs) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                for h in hs.iter_mut() {
                    if is_ours(h, agent, event) {
                        ours = true;
                        if h.get("command").and_then(Value::as_str) != Some(&cmd)
                            && let Some(o) = h.as_object_mut()
                        {
                            o.insert("command".into(), Value::String(cmd.clone()));
                        }
                    }
                }
            }
            // Our group gets the current matcher (a group of the user's own keeps theirs).
            if ours
                && group.get("hooks").and_then(Value::as_array).map(Vec::len) == Some(1)
                && group.get("matcher").and_then(Value::as_str) != Some(matcher(agent, event))
                && let Some(o) = group.as_object_mut()
            {
                o.insert(
                    "matcher".into(),
                    Value::String(matcher(agent, event).into()),
                );
            }
            found |= ours;
        }
        if !found {
            list.push(json!({
                "matcher": matcher(agent, event),
                "hooks": [{
                    "type": "command",
                    "command": cmd,
                    "timeout": HOOK_TIMEOUT_SECS,
                }],
            }));
        }
    }
    Ok(s)
}

/// `settings` without the guard's entries for `agent`; a matcher group left with no hook,
/// an event left with no group and a `hooks` left empty are removed too (install created
/// them or they were empty already).
pub fn removed(settings: &Value, path: &Path, agent: Agent) -> Result<Value, InstallError> {
    let mut s = settings.clone();
    let bad = || InstallError::NotSettings(path.to_path_buf());
    let root = s.as_object_mut().ok_or_else(bad)?;
    let Some(hooks) = root.get_mut("hooks") else {
        return Ok(s);
    };
    let hooks = hooks.as_object_mut().ok_or_else(bad)?;
    for event in [Event::PreToolUse, Event::PostToolUse] {
        let Some(list) = hooks.get_mut(event.name()) else {
            continue;
        };
        let list = list.as_array_mut().ok_or_else(bad)?;
        list.retain_mut(|group| {
            let Some(hs) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                return true;
            };
            let before = hs.len();
            hs.retain(|h| !is_ours(h, agent, event));
            !(hs.is_empty() && before > 0)
        });
        if list.is_empty() {
            hooks.remove(event.name());
        }
    }
    if hooks.is_empty() {
        root.remove("hooks");
    }
    Ok(s)
}

/// Whether the guard's entries for `agent` are in `settings` (both events).
pub fn installed(settings: &Value, agent: Agent) -> bool {
    [Event::PreToolUse, Event::PostToolUse]
        .iter()
        .all(|&event| {
            settings
                .get("hooks")
                .and_then(|h| h.get(event.name()))
                .and_then(Value::as_array)
                .is_some_and(|list| {
                    list.iter().any(|g| {
                        g.get("hooks")
                            .and_then(Value::as_array)
                            .is_some_and(|hs| hs.iter().any(|h| is_ours(h, agent, event)))
                    })
                })
        })
}

/// The settings as a file holds them: `{}` for a missing or empty file. Errors name the file.
pub fn read(path: &Path) -> Result<Value, super::Error> {
    match std::fs::read(path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        Ok(b) => serde_json::from_slice(&b).map_err(|e| super::Error::NotJson {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(super::Error::io(path)(e)),
    }
}

/// Pretty JSON with a final newline, as the hosts write their settings.
pub fn render(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Writes `new` to `path`: the previous file (if any) copied to `PATH.patina-backup` (0600)
/// first, unless a backup is already there (the first one, the file as it was before patina
/// ever changed it, is kept through later installs and uninstalls), then replaced
/// atomically, keeping its mode (a new file is 0600). Creates the parent directory when
/// missing. Returns the backup's path when there is one.
pub fn write(path: &Path, new: &str) -> Result<Option<PathBuf>, super::Error> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(super::Error::io(dir))?;
    }
    let old_mode = std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    let backup = match std::fs::read(path) {
        Ok(old) => {
            let b = PathBuf::from(format!("{}.patina-backup", path.display()));
            if std::fs::symlink_metadata(&b).is_err() {
                crate::fsutil::write_atomic(&b, &old)?;
            }
            Some(b)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(super::Error::io(path)(e)),
    };
    crate::fsutil::write_atomic(path, new.as_bytes())?;
    if let Some(mode) = old_mode
        && mode != crate::fsutil::PRIVATE_FILE_MODE
    {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(super::Error::io(path))?;
    }
    Ok(backup)
}

/// A unified-style line diff of `old` and `new` (`-`/`+`/` ` prefixed lines; longest common
/// subsequence of lines).
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut l = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[i][j] = if a[i] == b[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || l[i][j + 1] >= l[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_is_idempotent_and_uninstall_gives_back_the_settings() {
        let p = Path::new("/x/settings.json");
        let exe = Path::new("/usr/local/bin/patina");
        let home = Path::new("/home/dev/.patina");
        let before = json!({
            "model": "opus",
            "hooks": {
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "lint.sh"}]}],
                "Stop": [{"hooks": [{"type": "command", "command": "notify"}]}],
            },
            "permissions": {"deny": ["Read(./.env)"]},
        });
        for agent in [Agent::ClaudeCode, Agent::Codex] {
            let once = merged(&before, p, agent, exe, home).unwrap();
            assert!(installed(&once, agent));
            assert_eq!(merged(&once, p, agent, exe, home).unwrap(), once);
            assert_eq!(removed(&once, p, agent).unwrap(), before);
            assert!(!installed(&before, agent));
        }
        let fresh = merged(&json!({}), p, Agent::ClaudeCode, exe, home).unwrap();
        assert_eq!(removed(&fresh, p, Agent::ClaudeCode).unwrap(), json!({}));
        assert!(merged(&json!([1]), p, Agent::ClaudeCode, exe, home).is_err());
        assert!(merged(&json!({"hooks": []}), p, Agent::ClaudeCode, exe, home).is_err());
        // A moved binary: the command is updated in place, not duplicated.
        let moved = merged(&fresh, p, Agent::ClaudeCode, Path::new("/opt/patina"), home).unwrap();
        assert_eq!(
            moved["hooks"]["PostToolUse"].as_array().unwrap().len(),
            1,
            "{moved}"
        );
        assert!(moved.to_string().contains("/opt/patina guard hook"));
        assert_eq!(
            hook_paths(&moved),
            [
                PathBuf::from("/home/dev/.patina"),
                PathBuf::from("/opt/patina")
            ]
        );
        // An installation from before `--home` and the Edit matcher is updated in place.
        let old = json!({"hooks": {"PreToolUse": [{"matcher": "Bash|Read|Grep|NotebookRead",
            "hooks": [{"type": "command", "timeout": 30,
            "command": "/usr/local/bin/patina guard hook --agent claude-code --event PreToolUse"}]}]}});
        let new = merged(
            &old,
            p,
            Agent::ClaudeCode,
            exe,
            Path::new("/home/my dev/.patina"),
        )
        .unwrap();
        let pre = &new["hooks"]["PreToolUse"];
        assert_eq!(pre.as_array().unwrap().len(), 1, "{new}");
        assert_eq!(
            pre[0]["matcher"],
            matcher(Agent::ClaudeCode, Event::PreToolUse)
        );
        assert!(pre[0]["matcher"].as_str().unwrap().contains("Edit"));
        assert!(
            pre[0]["hooks"][0]["command"]
                .as_str()
                .unwrap()
                .ends_with("--home '/home/my dev/.patina'"),
            "{new}"
        );
        assert!(hook_paths(&new).contains(&PathBuf::from("/home/my dev/.patina")));
    }

    #[test]
    fn diff_marks_added_lines() {
        let d = diff("a\nb\n", "a\nx\nb\n");
        assert_eq!(d, "  a\n+ x\n  b\n");
    }
}
