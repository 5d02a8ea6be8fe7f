//! `patina guard hook|install|uninstall|status|scrub` (requirements §11): the hook an agent host
//! runs around every tool call, its entries in the host's settings, what it did today, and
//! the redaction of transcripts. The logic is in [`crate::guard`]; this prints, and reaches
//! the daemon only through [`crate::client`].

use crate::audit;
use crate::client::Client;
use crate::guard::install::{self, Scope};
use crate::guard::payload::{self, Event, Payload};
use crate::guard::{Agent, KnownValues, NoKnownValues, OnError, daemon::DaemonHold, pre, scrub};
use crate::paths::Home;
use crate::secrets::vault::{self, VaultLocation};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `guard` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum GuardCmd {
    /// The hook itself: one hook payload (JSON) on stdin, the host's answer on stdout.
    ///
    /// PostToolUse: every string of the tool's output is scanned for your known secret values
    /// (every vault, every encoding; needs the daemon's scan hold: `patina session unlock
    /// --scan-only`) and secret-looking tokens, and each is replaced by `<concealed by patina:
    /// NAME>` before the model reads it. PreToolUse: calls that print secrets (`printenv`,
    /// `echo $API_KEY`, `cat .env` when it holds a known value) are denied with what to do
    /// instead. Installed by `patina guard install`; run by hand to try it (see below).
    #[command(
        after_help = "Examples:\n  echo '{\"hook_event_name\":\"PostToolUse\",\"tool_name\":\"Bash\",\"tool_response\":{\"stdout\":\"hi\",\"stderr\":\"\"}}' | patina guard hook --agent claude-code"
    )]
    Hook(HookArgs),
    /// Add the guard's hook entries to an agent's settings (other settings untouched).
    #[command(
        after_help = "Examples:\n  patina guard install --agent claude-code        # ~/.claude/settings.json\n  patina guard install --agent claude-code --scope project --dry-run\n  patina guard install --agent codex              # ~/.codex/hooks.json"
    )]
    Install(InstallArgs),
    /// Remove exactly the entries `install` added.
    #[command(
        after_help = "Examples:\n  patina guard uninstall --agent claude-code --dry-run\n  patina guard uninstall --agent codex"
    )]
    Uninstall(InstallArgs),
    /// Where the guard is installed, whether the daemon and its scan hold are there, and what
    /// it found today.
    #[command(after_help = "Examples:\n  patina guard status\n  patina guard status --json")]
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Redact known values and tokens that already reached agent transcripts, in place.
    ///
    /// Default paths: ~/.claude/projects (Claude Code) and ~/.codex/sessions (Codex); each
    /// *.jsonl line stays valid JSON. --dry-run lists file, line and secret name or
    /// detector, never a value.
    #[command(
        after_help = "Examples:\n  patina guard scrub --dry-run\n  patina guard scrub --agent codex\n  patina guard scrub ~/.claude/projects/my-project"
    )]
    Scrub(ScrubArgs),
}

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("`patina guard hook` options.")]
#[derive(Debug, clap::Args)]
pub struct HookArgs {
    /// Whose protocol to speak.
    #[arg(long, value_enum)]
    pub agent: Agent,
    /// The event this hook entry is registered for (when the payload cannot be read, the
    /// answer still fits it); default: the payload's `hook_event_name`.
    #[arg(long, value_enum)]
    pub event: Option<Event>,
    /// When a PostToolUse payload cannot be scanned: withhold the output (answer `decision:
    /// block`) or let it pass.
    #[arg(long, value_enum, default_value = "withhold")]
    pub on_error: OnError,
    /// Seconds after which the hook answers by --on-error instead of finishing the scan
    /// (keep it under the host's hook timeout: 30 s as installed).
    #[arg(long, default_value_t = install::HOOK_DEADLINE_SECS, value_name = "SECS")]
    pub deadline: u64,
    /// The patina home this hook belongs to (absolute; `guard install` records it). Used
    /// instead of PATINA_HOME/HOME from the environment, which a project's settings can
    /// change; when it or its `run/` is missing or not yours, every output is withheld.
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
}

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("`patina guard install|uninstall` options.")]
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The agent host.
    #[arg(long, value_enum)]
    pub agent: Agent,
    /// Which settings file: user (default), project (shared), local (Claude Code's
    /// uncommitted settings.local.json).
    #[arg(long, value_enum, default_value = "user")]
    pub scope: Scope,
    /// Print the change as a diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("`patina guard scrub` options.")]
#[derive(Debug, clap::Args)]
pub struct ScrubArgs {
    /// Only this agent's transcripts (default: both).
    #[arg(long, value_enum)]
    pub agent: Option<Agent>,
    /// List what would be redacted (file, line, name or detector) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Transcript files or directories (default: the agents' transcript directories).
    pub paths: Vec<PathBuf>,
}

/// Runs a `guard` subcommand.
pub fn run(cmd: GuardCmd) -> super::CliResult {
    match cmd {
        GuardCmd::Hook(a) => {
            let code = hook(&a);
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        GuardCmd::Install(a) => install_cmd(&a, true),
        GuardCmd::Uninstall(a) => install_cmd(&a, false),
        GuardCmd::Status { json } => status(json),
        GuardCmd::Scrub(a) => scrub_cmd(&a),
    }
}

fn user_home() -> super::CliResult<PathBuf> {
    Ok(std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("HOME is not set; set it to your home directory"))?)
}

/// How long the hook waits for the daemon's answer to one scan: 10 s (a test build may
/// shorten it with `PATINA_TEST_GUARD_ASK_MS`, `limits::test_deadline`).
pub const GUARD_ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the model is told when known values are held but could not be checked.
fn unchecked_reason(why: &str) -> String {
    format!(
        "patina guard: {why}, so this output is withheld: do not read, repeat or summarize it. \
         Stop and tell the user to run `patina status` in their own terminal and, if the daemon \
         is stopped or gone or its hold ended without `patina session lock`, to run `patina \
         session lock` there (it clears the hold marker this answer comes from), then \
         `patina serve` and `patina session unlock` to go on with the checks."
    )
}

/// Where known values come from: the daemon's hold over the Unix socket.
fn known_values(home: Option<&Home>) -> Box<dyn KnownValues> {
    match home {
        Some(h) => Box::new(
            DaemonHold::new(
                Client::for_home(h),
                crate::limits::test_deadline("PATINA_TEST_GUARD_ASK_MS", GUARD_ASK_TIMEOUT),
            )
            .with_home(h.clone()),
        ),
        None => Box::new(NoKnownValues("PATINA_HOME is not usable".into())),
    }
}

/// Writes `answer` once: the deadline thread and the scan race for it.
struct Once(Mutex<bool>);

impl Once {
    fn emit(&self, answer: &str) -> bool {
        // Poisoned: an earlier emit panicked after claiming the answer; never write a second
        // one (the poisoned-lock policy, architecture.md).
        let Ok(mut done) = self.0.lock() else {
            return false;
        };
        if *done {
            return false;
        }
        *done = true;
        let mut out = super::stdout();
        let _ = out.write_all(answer.as_bytes());
        if !answer.is_empty() {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
        true
    }
}

/// The hook: reads stdin (bounded), answers on stdout, audits; returns the exit code.
fn hook(a: &HookArgs) -> i32 {
    let once = Arc::new(Once(Mutex::new(false)));
    {
        let once = Arc::clone(&once);
        let (event, on_error, secs) = (a.event, a.on_error, a.deadline.max(1));
        let _ = std::thread::Builder::new()
            .name("guard-deadline".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_secs(secs));
                let ans = payload::error_answer(
                    event.or(Some(Event::PostToolUse)),
                    &format!("the scan did not finish within {secs} s"),
                    on_error,
                );
                if once.emit(&ans.stdout) {
                    std::process::exit(0);
                }
            });
    }
    let home = match &a.home {
        Some(h) => Some(Home::at(h)),
        None => Home::from_env().ok(),
    };
    let mut input = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(crate::guard::MAX_INPUT as u64 + 1)
        .read_to_end(&mut input);
    let input = zeroize::Zeroizing::new(input);
    // A payload that cannot be read while a tripwire alert is pending: denied or withheld
    // whatever the error policy (nothing passes until the user acknowledges).
    let unreadable = |why: &str| {
        let tripped = home.as_ref().is_some_and(trip_pending);
        match (tripped, a.event) {
            (true, Some(Event::PreToolUse)) => {
                payload::deny("", payload::TRIPPED_REASON, Vec::new())
            }
            (true, _) => payload::error_answer(Some(Event::PostToolUse), why, OnError::Withhold),
            (false, event) => {
                payload::error_answer(event.or(Some(Event::PostToolUse)), why, a.on_error)
            }
        }
    };
    let answer = match read {
        Err(_) => unreadable("stdin could not be read"),
        Ok(_) => match Payload::parse(&input) {
            Err(e) => unreadable(&e.to_string()),
            Ok(p) => answer(a, &p, home.as_ref()),
        },
    };
    once.emit(&answer.stdout);
    if let (Some(h), Some(act)) = (&home, &answer.action) {
        // Best effort: a hook must answer even when the audit log cannot be written.
        let _ = audit::append(
            h,
            &audit::Event::guard(
                act.action,
                &act.tool,
                act.names.clone(),
                act.detectors.clone(),
            ),
        );
    }
    answer.exit
}

fn answer(a: &HookArgs, p: &Payload, home: Option<&Home>) -> payload::Answer {
    let event = match (a.event, p.event) {
        (Some(e), _) | (None, Some(e)) => e,
        // An event the guard does not know (a host's new or renamed event) that carries a
        // tool's output is scanned as PostToolUse: its output reaches the model too (QA
        // session 9, L12).
        (None, None) if p.response.is_some() => Event::PostToolUse,
        // An event the guard does not act on: no decision.
        (None, None) => return payload::Answer::default(),
    };
    // The home recorded at install is gone, moved or not the user's: nothing can tell
    // whether a hold exists, so every output is withheld (QA session 9, H2 c).
    if let Some(recorded) = &a.home
        && let Some(why) = home_problem(recorded)
    {
        return match event {
            Event::PostToolUse => {
                payload::withhold_all(a.agent, p, "not checked", &unchecked_home(&why))
            }
            Event::PreToolUse => payload::Answer::default(),
        };
    }
    // A pending tripwire alert (the alert file, or the hold marker's record of the trip when
    // the file was removed; the daemon also answers `tripped`, from memory): nothing passes
    // until the user acknowledges it (threat model, "Tripwires").
    if home.is_some_and(trip_pending) {
        return payload::tripped(a.agent, event, p);
    }
    let known = known_values(home);
    let answer = match event {
        Event::PostToolUse => payload::post_tool_use(a.agent, p, known.as_ref()),
        Event::PreToolUse => {
            let env = home
                .map(|h| secret_env_names(h, p.cwd.as_deref()))
                .unwrap_or_default();
            let user_home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from);
            let s = pre::Secrets {
                env,
                known: known.as_ref(),
                daemon_pid: home.and_then(Home::daemon_pid),
                run_dir: home.map(Home::run_dir),
                guarded: guarded_paths(home, p.cwd.as_deref()),
                homes: home
                    .map(|h| h.root().to_path_buf())
                    .into_iter()
                    .chain(user_home.as_ref().map(|h| h.join(".patina")))
                    .collect(),
                user_home,
            };
            pre::decide(&p.tool, &p.input, p.cwd.as_deref(), &s)
        }
    };
    // The daemon said the hold is locked by a tripwire (tripped while this hook ran).
    if known.tripped() {
        return payload::tripped(a.agent, event, p);
    }
    // Known values are held but the daemon could not be asked (stopped, socket moved,
    // killed after an unlock): fail closed, as for an unreadable payload (QA session 8, H2).
    if event == Event::PostToolUse
        && let Some(why) = known.fails_closed()
    {
        return payload::withhold_all(a.agent, p, "not checked", &unchecked_reason(&why));
    }
    answer
}

/// The absolute paths the guard stands on ([`pre::Secrets::guarded`]): the patina home, the
/// binary running this hook (and the one each installed hook command names), and the host
/// settings files of the user and of the project around `cwd` (each directory up to `/`)
/// that exist.
fn guarded_paths(home: Option<&Home>, cwd: Option<&str>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = home.map(|h| h.root().to_path_buf()).into_iter().collect();
    if let Ok(exe) = std::env::current_exe() {
        out.push(exe);
    }
    let mut settings = Vec::new();
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let h = PathBuf::from(h);
        out.push(h.join(".patina")); // the default home, whichever one this hook uses
        for f in [
            ".claude/settings.json",
            ".claude/settings.local.json",
            ".codex/hooks.json",
            ".codex/config.toml",
        ] {
            settings.push(h.join(f));
        }
    }
    if let Some(c) = cwd.map(Path::new).filter(|c| c.is_absolute()) {
        for dir in c.ancestors() {
            for f in [
                ".claude/settings.json",
                ".claude/settings.local.json",
                ".codex/hooks.json",
            ] {
                let p = dir.join(f);
                if p.exists() {
                    settings.push(p);
                }
            }
        }
    }
    for f in &settings {
        if let Ok(v) = install::read(f) {
            out.extend(install::hook_paths(&v));
        }
    }
    out.extend(settings);
    out.retain(|p| p.is_absolute());
    out.sort();
    out.dedup();
    out
}

/// What is wrong with the patina home recorded at install (`--home`), if anything: not
/// absolute, missing, not a directory (a symlink counts as not one), not owned by this user;
/// the same for its `run/`.
fn home_problem(home: &Path) -> Option<String> {
    if !home.is_absolute() {
        return Some(format!(
            "the patina home {} is not an absolute path",
            home.display()
        ));
    }
    let me = crate::fsutil::my_uid();
    for dir in [home.to_path_buf(), home.join("run")] {
        use std::os::unix::fs::MetadataExt;
        match std::fs::symlink_metadata(&dir) {
            Err(_) => return Some(format!("{} is missing", dir.display())),
            Ok(m) if !m.is_dir() => return Some(format!("{} is not a directory", dir.display())),
            Ok(m) if m.uid() != me => {
                return Some(format!(
                    "{} belongs to uid {}, not to you",
                    dir.display(),
                    m.uid()
                ));
            }
            Ok(_) => {}
        }
    }
    None
}

/// What the model is told when the recorded patina home is unusable.
fn unchecked_home(why: &str) -> String {
    format!(
        "patina guard: {why}: this is the patina home the guard was installed for, and without \
         it the guard cannot tell which secrets to hide, so this output is withheld: do not \
         read, repeat or summarize it. Stop and tell the user: if it was moved or removed, move \
         it back (in their own terminal); else run `patina guard install` again."
    )
}

/// Whether a tripwire trip is pending in `home`: the alert file, or the hold marker's record
/// of it (which outlives a removed alert file, QA session 9, H2 e).
fn trip_pending(home: &Home) -> bool {
    crate::tripwire::pending(home).is_some() || crate::guard::marker::tripped(home)
}

/// (name, environment variable) of every secret of the global vault and of the project
/// around `cwd` (names from `secrets.toml`; no identity needed).
fn secret_env_names(home: &Home, cwd: Option<&str>) -> Vec<(String, String)> {
    let mut locs = vec![VaultLocation::Global];
    if let Some(c) = cwd {
        let root = crate::secrets::project_root(home, Path::new(c));
        if !crate::secrets::is_home_dir(home, &VaultLocation::Project(root.clone()).dir(home)) {
            locs.push(VaultLocation::Project(root));
        }
    }
    locs.iter()
        .filter_map(|l| vault::list(home, l).ok())
        .flatten()
        .map(|l| (l.name, l.env))
        .collect()
}

fn install_cmd(a: &InstallArgs, add: bool) -> super::CliResult {
    let home = user_home()?;
    let project = super::project_dir(None)?;
    let path = install::settings_path(a.agent, a.scope, &home, &project);
    let before = install::read(&path)?;
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find the patina executable: {e}"))?;
    let after = if add {
        // The patina home the hook belongs to, recorded in its command (`--home`), made
        // now if missing so the hook finds it (it fails closed when it is gone).
        let patina_home = Home::from_env()?;
        if !a.dry_run {
            crate::fsutil::ensure_private_dir(patina_home.root())?;
            crate::fsutil::ensure_private_dir(&patina_home.run_dir())?;
        }
        install::merged(&before, &path, a.agent, &exe, patina_home.root())?
    } else {
        install::removed(&before, &path, a.agent)?
    };
    let (old, new) = (install::render(&before), install::render(&after));
    let mut out = super::stdout();
    if before == after {
        writeln!(
            out,
            "{}: nothing to change ({})",
            path.display(),
            if add {
                "already installed"
            } else {
                "not installed"
            }
        )?;
        return Ok(());
    }
    if a.dry_run {
        writeln!(
            out,
            "--- {}\n+++ {} (after)",
            path.display(),
            path.display()
        )?;
        out.write_all(install::diff(&old, &new).as_bytes())?;
        return Ok(());
    }
    let backup = install::write(&path, &new)?;
    writeln!(
        out,
        "{} {}{}",
        if add { "installed in" } else { "removed from" },
        path.display(),
        backup
            .map(|b| format!(" (previous file kept as {})", b.display()))
            .unwrap_or_default()
    )?;
    if add {
        writeln!(
            out,
            "for known values, keep a scan hold: `patina serve` and `patina session unlock --scan-only`"
        )?;
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct Installed {
    agent: &'static str,
    scope: &'static str,
    path: PathBuf,
    installed: bool,
}

#[derive(serde::Serialize, Default)]
struct Today {
    replaced: u64,
    withheld: u64,
    denied: u64,
    by_name: std::collections::BTreeMap<String, u64>,
    by_detector: std::collections::BTreeMap<String, u64>,
}

fn status(json: bool) -> super::CliResult {
    let home = Home::from_env()?;
    let user = user_home()?;
    let project = super::project_dir(None)?;
    let mut places = Vec::new();
    for agent in [Agent::ClaudeCode, Agent::Codex] {
        for (scope, name) in [
            (Scope::User, "user"),
            (Scope::Project, "project"),
            (Scope::Local, "local"),
        ] {
            if agent == Agent::Codex && scope == Scope::Local {
                continue;
            }
            let path = install::settings_path(agent, scope, &user, &project);
            let installed = install::read(&path)
                .map(|v| install::installed(&v, agent))
                .unwrap_or(false);
            places.push(Installed {
                agent: agent.name(),
                scope: name,
                path,
                installed,
            });
        }
    }
    let client = Client::for_home(&home).with_timeout(Duration::from_secs(5));
    let session: Option<crate::session::Status> = client
        .get("/session")
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| r.json().ok());
    // "running" only when it answered: a stopped daemon, or something else at the socket,
    // is not one the guard can ask (QA session 8, H2).
    let daemon = session.is_some();
    let not_asked = match (&session, client.get("/health")) {
        (Some(_), _) => None,
        (None, Ok(_)) => Some("it did not answer GET /session".into()),
        (None, Err(crate::client::ClientError::NoDaemon(_))) => None,
        (None, Err(e)) => Some(e.to_string()),
    };
    let hold_secs = session.as_ref().map_or(0, |s| s.hold_expires_in_secs);
    let today_prefix = crate::text::utc_timestamp(std::time::SystemTime::now())
        .chars()
        .take(10)
        .collect::<String>();
    let mut today = Today::default();
    for e in audit::read(&home)? {
        if e.event != "guard" || !e.time.starts_with(&today_prefix) {
            continue;
        }
        match e.action.as_deref() {
            Some("replaced") => today.replaced += 1,
            Some("withheld") => today.withheld += 1,
            Some("denied") => today.denied += 1,
            _ => {}
        }
        for n in e.names {
            *today.by_name.entry(n).or_default() += 1;
        }
        for d in e.detectors {
            *today.by_detector.entry(d).or_default() += 1;
        }
    }
    let mut out = super::stdout();
    if json {
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({
                "installed": places,
                "daemon": daemon,
                "daemon_error": not_asked,
                "hold": hold_secs > 0,
                "hold_expires_in_secs": hold_secs,
                "today": today,
            }),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    let mut any = false;
    for p in &places {
        if p.installed {
            any = true;
            writeln!(
                out,
                "installed: {} ({}) in {}",
                p.agent,
                p.scope,
                p.path.display()
            )?;
        }
    }
    if !any {
        writeln!(
            out,
            "not installed: run `patina guard install --agent claude-code`"
        )?;
    }
    writeln!(
        out,
        "daemon: {}",
        match (&not_asked, daemon) {
            (_, true) => "running".to_string(),
            (Some(why), false) => format!("cannot be asked ({why})"),
            (None, false) => "not running (`patina serve`)".to_string(),
        }
    )?;
    if hold_secs > 0 {
        writeln!(
            out,
            "known values: held for {} more minutes",
            hold_secs.div_ceil(60)
        )?;
    } else {
        writeln!(
            out,
            "known values: not held; only token detectors run (`patina session unlock --scan-only`)"
        )?;
    }
    writeln!(
        out,
        "today: {} outputs concealed, {} withheld, {} calls denied",
        today.replaced, today.withheld, today.denied
    )?;
    for (n, c) in &today.by_name {
        writeln!(out, "  {n}: {c}")?;
    }
    for (d, c) in &today.by_detector {
        writeln!(out, "  {d} (detector): {c}")?;
    }
    Ok(())
}

fn scrub_cmd(a: &ScrubArgs) -> super::CliResult {
    let home = Home::from_env().ok();
    let roots: Vec<PathBuf> = if a.paths.is_empty() {
        let user = user_home()?;
        let mut r = Vec::new();
        if a.agent != Some(Agent::Codex) {
            r.push(user.join(".claude/projects"));
        }
        if a.agent != Some(Agent::ClaudeCode) {
            r.push(user.join(".codex/sessions"));
        }
        r
    } else {
        for p in &a.paths {
            ensure!(
                p.exists(),
                "{} does not exist; give a transcript file or directory",
                p.display()
            );
        }
        a.paths.clone()
    };
    let files = scrub::transcripts(&roots);
    let known = known_values(home.as_ref());
    let progress = std::io::stderr().is_terminal() && files.len() > 20;
    let mut reports = Vec::new();
    let mut not_checked: Option<String> = None;
    for (i, f) in files.iter().enumerate() {
        if progress {
            eprint!("\rscrubbing {}/{} transcripts", i + 1, files.len());
        }
        match scrub::scrub_file(f, known.as_ref(), a.dry_run) {
            Ok((r, check)) => {
                if let crate::guard::KnownCheck::NotChecked(why) = check {
                    not_checked.get_or_insert(why);
                }
                reports.push(r);
            }
            Err(e) => eprintln!("patina: {}", crate::text::one_line(&e)),
        }
    }
    if progress {
        eprintln!();
    }
    if let Some(h) = &home {
        for r in reports.iter().filter(|r| r.rewritten) {
            let (names, detectors): (Vec<_>, Vec<_>) = r.findings.iter().partition(|f| f.known);
            let _ = audit::append(
                h,
                &audit::Event::guard(
                    "scrubbed",
                    "",
                    names.into_iter().map(|f| f.label.clone()).collect(),
                    detectors.into_iter().map(|f| f.label.clone()).collect(),
                ),
            );
        }
    }
    let mut out = super::stdout();
    if a.json {
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({
                "files": files.len(),
                "reports": reports.iter().filter(|r| !r.findings.is_empty() || r.skipped.is_some()).collect::<Vec<_>>(),
                "known_values_checked": not_checked.is_none(),
                "dry_run": a.dry_run,
            }),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    let mut total = 0;
    for r in &reports {
        for f in &r.findings {
            total += 1;
            let what = if f.known {
                f.label.clone()
            } else {
                format!("{} (detector)", f.label)
            };
            writeln!(out, "{}:{}: {what}", r.path.display(), f.line)?;
        }
        if let Some(why) = &r.skipped {
            writeln!(out, "{}: skipped: {why}", r.path.display())?;
        }
    }
    let rewritten = reports.iter().filter(|r| r.rewritten).count();
    writeln!(
        out,
        "{} transcripts, {total} findings, {}",
        files.len(),
        if a.dry_run {
            "nothing changed (--dry-run)".to_string()
        } else {
            format!("{rewritten} files redacted")
        }
    )?;
    if let Some(why) = not_checked {
        writeln!(
            out,
            "known values were not checked ({why}); only token detectors ran"
        )?;
    }
    Ok(())
}
