//! Switching the guard off (QA session 9, H2 and M3) through the real binary: an agent with a
//! shell of the user's uid tries every way it found to make the hook pass a stored value in
//! clear — a lock asked by a non-patina process, a stop on a signal, moving the patina home
//! away, removing the hook or its binary, removing `alert.json` after a trip, editing a file
//! that holds a value — and each must leave the guard failing closed (the hook withholds,
//! PreToolUse denies). Only the user's own `patina session lock` / `patina stop` (the patina
//! binary, asked in a terminal), or the hold's expiry, end the hold marker.

use crate::common::secrets::{CANARY, World, assert_no_leak, run_with_input, show};
use crate::common::{self, Daemon, write_fixture_project};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A world whose global vault holds the canary, a daemon with a scan-only hold, and the
/// extra `serve` arguments.
fn held(w: &World) -> Daemon {
    let d = Daemon::start_in(
        tempfile::tempdir().unwrap(),
        w.home(),
        w.work(),
        &["--burst-limit", "100000"],
    );
    let o = run_with_input(w.cmd(&["session", "unlock", "--scan-only"]), b"");
    assert!(o.status.success(), "unlock --scan-only: {}", show(&o));
    assert!(w.home().join("run/hold.json").exists());
    d
}

fn world() -> World {
    let w = World::new();
    write_fixture_project(&w.work());
    w.add("canary", CANARY, &["--env", "API_KEY"]);
    w
}

/// The payload of `tests/fixtures/guard/NAME.json` with `{{TEXT}}`, `{{CWD}}`, `{{FILE}}`
/// filled in.
fn fixture(name: &str, text: &str, cwd: &Path, file: &Path) -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/guard/{name}.json"));
    let f: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let s = f["payload"]
        .to_string()
        .replace("{{CWD}}", &json_inner(&cwd.display().to_string()))
        .replace("{{FILE}}", &json_inner(&file.display().to_string()))
        .replace("{{TEXT}}", &json_inner(text));
    serde_json::from_str(&s).unwrap()
}

/// `s` as it appears inside a JSON string literal.
fn json_inner(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap();
    q[1..q.len() - 1].to_string()
}

/// Runs the hook (`extra` arguments after `--agent claude-code`) on `payload` with
/// `env` set; its answer (Null when empty). Checks exit 0 and no leak.
fn hook_env(w: &World, payload: &Value, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let mut args = vec!["guard", "hook", "--agent", "claude-code"];
    args.extend_from_slice(extra);
    let mut c = w.cmd(&args);
    c.env("PATINA_TEST_GUARD_ASK_MS", "1500");
    c.envs(env.iter().copied());
    let o = run_with_input(c, payload.to_string().as_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_no_leak("hook stdout", &o.stdout, CANARY);
    assert_no_leak("hook stderr", &o.stderr, CANARY);
    if o.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", show(&o)))
    }
}

/// The PostToolUse answer for a Bash output of `text`.
fn post(w: &World, text: &str) -> Value {
    hook_env(
        w,
        &fixture("claude-code-bash-post", text, &w.work(), Path::new("")),
        &[],
        &[],
    )
}

/// Asserts the answer withholds the whole output (not checked), naming `session lock`.
fn withheld(a: &Value, what: &str) {
    let hso = &a["hookSpecificOutput"];
    let out = hso["updatedToolOutput"].to_string();
    assert!(
        out.contains("<concealed by patina: not checked>"),
        "{what}: {a}"
    );
    assert!(!out.contains(CANARY), "{what}: {a}");
    let why = hso["additionalContext"].as_str().unwrap_or_default();
    assert!(
        why.contains("withheld") && why.contains("patina session lock"),
        "{what}: {why}"
    );
}

/// Asserts the answer is the token-only pass of a user-ended hold (nothing withheld).
fn passes(a: &Value, what: &str) {
    assert!(
        a["hookSpecificOutput"]["updatedToolOutput"].is_null(),
        "{what}: {a}"
    );
}

/// QA session 9, H2 (a) and (b): a lock asked by a process that is not patina (here the
/// test itself, over the raw socket, like `curl --unix-socket` or a Python socket) and a
/// stop on SIGTERM or SIGINT wipe the daemon's hold, but the hold marker stays until its
/// expiry, so the hook keeps withholding; the user's `patina session lock` clears it, and
/// `patina stop` (the binary) ends it with the daemon.
#[test]
fn only_the_users_lock_or_stop_ends_the_hold_marker() {
    let w = world();
    let marker = w.home().join("run/hold.json");
    let leak = format!("password: {CANARY}\n");
    let mut d = held(&w);
    assert!(
        post(&w, &leak)
            .to_string()
            .contains("<concealed by patina: canary>")
    );

    // (a) A lock asked over the raw socket by a non-patina peer: locked, marker kept.
    let r = d.post("/session/lock", "{}");
    assert_eq!(r.status, 200);
    assert!(marker.exists(), "a foreign lock removed the marker");
    let m = std::fs::read_to_string(&marker).unwrap();
    assert!(m.contains("not patina"), "{m}");
    withheld(&post(&w, &leak), "locked by a foreign peer");
    withheld(
        &post(&w, "nothing secret"),
        "locked by a foreign peer, clean",
    );
    // The user's lock (the patina binary) clears it.
    let o = w.cmd(&["session", "lock"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(!marker.exists());
    passes(&post(&w, "nothing secret"), "after the user's lock");

    // (b) SIGTERM and SIGINT: clean stops, the marker stays.
    for sig in ["TERM", "INT"] {
        drop(d);
        d = held(&w);
        common::signal(d.pid(), sig);
        common::wait_timeout(&mut d.child, Duration::from_secs(15)).expect("no exit");
        assert!(marker.exists(), "SIG{sig} removed the marker");
        let a = post(&w, &leak);
        withheld(&a, sig);
        assert!(
            a.to_string().contains("without `patina stop`"),
            "{sig}: {a}"
        );
        let o = w.cmd(&["session", "lock"]).output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
        assert!(!marker.exists());
    }

    // A foreign `/shutdown` (curl, nc): the marker stays too.
    drop(d);
    d = held(&w);
    let r = d.post("/shutdown", "{}");
    assert_eq!(r.status, 200);
    common::wait_timeout(&mut d.child, Duration::from_secs(15)).expect("no exit");
    assert!(marker.exists(), "a foreign /shutdown removed the marker");
    withheld(&post(&w, &leak), "foreign shutdown");

    // The user's `patina stop` ends it.
    let o = w.cmd(&["session", "lock"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    drop(d);
    let mut d = held(&w);
    let o = w.cmd(&["stop"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    common::wait_timeout(&mut d.child, Duration::from_secs(15)).expect("no exit");
    assert!(!marker.exists(), "`patina stop` left the marker");
    passes(&post(&w, "nothing secret"), "after patina stop");
}

/// A bait value, built at run time.
fn bait() -> String {
    ["Bq7", "-bait-", "Lm3Zx9Rt", "-Kp2"].concat()
}

/// The PreToolUse answer's decision for a Bash `command` ("" for none).
fn pre(w: &World, command: &str) -> String {
    let a = hook_env(
        w,
        &fixture("claude-code-bash-pre", command, &w.work(), Path::new("")),
        &[],
        &[],
    );
    a["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// QA session 9, H2 (e): removing `alert.json` after a trip does not undo it. The daemon
/// keeps the trip in memory and the hold marker records it, so the hook still withholds
/// every output and denies every call, a daemon started later is tripped too, and only
/// `session unlock --ack-canary` ends it.
#[test]
fn removing_the_alert_file_does_not_undo_a_trip() {
    let w = world();
    let o = w.run(
        &["secrets", "add", "bait", "--stdin", "--canary"],
        bait().as_bytes(),
    );
    assert!(o.status.success(), "{}", show(&o));
    let mut d = held(&w);
    let alert = w.home().join("alert.json");
    // Trip: an output shows the bait.
    let a = post(&w, &format!("key={}\n", bait()));
    assert!(!a.to_string().contains(&bait()), "{a}");
    assert!(alert.exists(), "no trip: {a}");
    assert_eq!(pre(&w, "ls"), "deny");

    std::fs::remove_file(&alert).unwrap();
    // The hook still withholds and denies (the marker's record of the trip, and the
    // daemon's memory).
    let a = post(&w, "nothing secret");
    assert!(a.to_string().contains("tripwire"), "{a}");
    assert_eq!(pre(&w, "ls"), "deny");
    let leak = format!("password: {CANARY}\n");
    let a = post(&w, &leak);
    assert!(a.to_string().contains("tripwire"), "{a}");
    // The daemon answers tripped from memory.
    let r = d.get("/session");
    assert_eq!(
        r.json()["tripped"],
        true,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // An unlock without --ack-canary is refused.
    let o = run_with_input(w.cmd(&["session", "unlock", "--scan-only"]), b"");
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--ack-canary"),
        "{}",
        show(&o)
    );
    // The user's lock does not clear the trip either.
    let o = w.cmd(&["session", "lock"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(pre(&w, "ls"), "deny");

    // A daemon started after the file is gone (the first one killed) is tripped too.
    common::signal(d.pid(), "KILL");
    let _ = d.child.wait();
    drop(d);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    assert_eq!(d.get("/session").json()["tripped"], true);
    assert!(post(&w, "nothing secret").to_string().contains("tripwire"));
    assert_eq!(pre(&w, "ls"), "deny");
    let o = run_with_input(w.cmd(&["session", "unlock", "--scan-only"]), b"");
    assert!(!o.status.success(), "{}", show(&o));

    // Only --ack-canary ends it.
    let o = run_with_input(
        w.cmd(&["session", "unlock", "--scan-only", "--ack-canary"]),
        b"",
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(d.get("/session").json()["tripped"], false);
    assert_eq!(pre(&w, "ls"), "");
    let a = post(&w, &leak);
    assert!(
        a.to_string().contains("<concealed by patina: canary>"),
        "{a}"
    );
}

/// `guard install --agent claude-code` for the user whose home is `user`; the settings.
fn install(w: &World, user: &Path) -> Value {
    std::fs::create_dir_all(user).unwrap();
    let mut c = w.cmd(&["guard", "install", "--agent", "claude-code"]);
    c.env("HOME", user);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    serde_json::from_slice(&std::fs::read(user.join(".claude/settings.json")).unwrap()).unwrap()
}

/// The installed command of `event`'s entry, split into words (no quoting in test paths).
fn installed_args(settings: &Value, event: &str) -> Vec<String> {
    let cmd = settings["hooks"][event][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    cmd.split(' ').skip(1).map(str::to_string).collect()
}

/// Runs the hook as installed (its own arguments from `settings`), with `env`.
fn as_installed(w: &World, settings: &Value, payload: &Value, env: &[(&str, &str)]) -> Value {
    let event = payload["hook_event_name"].as_str().unwrap();
    let args = installed_args(settings, event);
    let extra: Vec<&str> = args.iter().skip(4).map(String::as_str).collect();
    assert_eq!(&args[..4], ["guard", "hook", "--agent", "claude-code"]);
    hook_env(w, payload, &extra, env)
}

/// QA session 9, H2 (c): `mv ~/.patina ~/.p` made the hook find no marker, no pid, no socket
/// and pass. `guard install` records the home in the hook's command (`--home`); the hook uses
/// it whatever `PATINA_HOME`/`HOME` say (a project's `settings.local.json` `env` can change
/// them) and withholds every output while it or its `run/` is missing or not the user's.
/// PreToolUse denies moving or removing it.
#[test]
fn the_hook_uses_the_home_recorded_at_install_and_fails_closed_without_it() {
    let w = world();
    let _d = held(&w);
    let user = w.dir.path().join("user");
    let settings = install(&w, &user);
    let home = w.home();
    let post_args = installed_args(&settings, "PostToolUse");
    assert_eq!(
        post_args[post_args.len() - 2..],
        ["--home".to_string(), home.display().to_string()],
        "{settings}"
    );
    // PATINA_HOME and HOME changed by the project's settings: the recorded home is used.
    let elsewhere = w.dir.path().join("elsewhere");
    let env = [
        ("PATINA_HOME", elsewhere.to_str().unwrap()),
        ("HOME", user.to_str().unwrap()),
    ];
    let leak = format!("password: {CANARY}\n");
    let payload = fixture("claude-code-bash-post", &leak, &w.work(), Path::new(""));
    let a = as_installed(&w, &settings, &payload, &env);
    assert!(
        a.to_string().contains("<concealed by patina: canary>"),
        "{a}"
    );

    // PreToolUse denies moving or removing the home (and its run/).
    let pre_payload = |cmd: &str| fixture("claude-code-bash-pre", cmd, &w.work(), Path::new(""));
    let h = home.display().to_string();
    for cmd in [
        "mv ~/.patina ~/.p".to_string(),
        "rm -rf ~/.patina".into(),
        "rm -rf ~/.patina/".into(),
        format!("mv {h} {h}.bak"),
        format!("mv {h}/run /tmp/x"),
        format!("mv {h}/../home /tmp/x"),
        format!("rm -rf {}", w.dir.path().display()),
        format!("python3 -c \"import shutil; shutil.move('{h}', '/tmp/x')\""),
    ] {
        let a = as_installed(&w, &settings, &pre_payload(&cmd), &env);
        assert_eq!(
            a["hookSpecificOutput"]["permissionDecision"], "deny",
            "{cmd}: {a}"
        );
    }

    // Moved away (as the agent would with a spelling PreToolUse does not parse): withheld.
    let moved = w.dir.path().join("moved");
    std::fs::rename(&home, &moved).unwrap();
    for text in [leak.as_str(), "nothing secret"] {
        let a = as_installed(
            &w,
            &settings,
            &fixture("claude-code-bash-post", text, &w.work(), Path::new("")),
            &env,
        );
        let out = a["hookSpecificOutput"]["updatedToolOutput"].to_string();
        assert!(out.contains("<concealed by patina: not checked>"), "{a}");
        let why = a["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap();
        assert!(
            why.contains("is missing") && why.contains("guard install"),
            "{why}"
        );
    }
    std::fs::rename(&moved, &home).unwrap();
    let a = as_installed(&w, &settings, &payload, &env);
    assert!(
        a.to_string().contains("<concealed by patina: canary>"),
        "{a}"
    );

    // Its run/ not the user's (we run as root: `nobody` owns it for a moment).
    let run = home.join("run");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&run).unwrap());
    std::os::unix::fs::chown(&run, Some(65534), None).unwrap();
    let a = as_installed(&w, &settings, &payload, &env);
    std::os::unix::fs::chown(&run, Some(owner), None).unwrap();
    assert!(a.to_string().contains("not to you"), "{a}");
    assert!(
        !a.to_string().contains("concealed by patina: canary"),
        "{a}"
    );
}

/// QA session 9, H2 (d): the agent removed the hook itself — moved or chmod-ed the patina
/// binary, emptied or edited the host's settings — with commands PreToolUse let through.
/// They are denied now, for every settings file `guard install` writes (by name, anywhere)
/// and for the binary each installed command names; ordinary commands still pass.
#[test]
fn pre_tool_use_denies_removing_the_hook() {
    let w = world();
    let _d = held(&w);
    let user = w.dir.path().join("user");
    let settings = install(&w, &user);
    std::fs::create_dir_all(w.work().join(".claude")).unwrap();
    std::fs::write(w.work().join(".claude/settings.local.json"), "{}\n").unwrap();
    let env = [("HOME", user.to_str().unwrap())];
    let exe = crate::common::secrets::BIN;
    let decision = |payload: &Value| -> String {
        as_installed(&w, &settings, payload, &env)["hookSpecificOutput"]["permissionDecision"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let bash = |cmd: &str| fixture("claude-code-bash-pre", cmd, &w.work(), Path::new(""));
    let u = user.display().to_string();
    for cmd in [
        "echo '{}' > ~/.claude/settings.json".to_string(),
        "sed -i 's/PostToolUse/Nope/' ~/.claude/settings.json".into(),
        "sed -Ei.bak 's/a/b/' .claude/settings.local.json".into(),
        "perl -pi -e 's/a/b/' .claude/settings.json".into(),
        "rm ~/.claude/settings.json".into(),
        "mv ~/.claude ~/.claude.bak".into(),
        "echo '{\"hooks\":{}}' > .claude/settings.local.json".into(),
        "cp /dev/null .claude/settings.json".into(),
        "tee ~/.codex/hooks.json < /dev/null".into(),
        "jq 'del(.hooks)' x.json | sponge .claude/settings.json".into(),
        format!("rm -rf {u}"),
        format!("echo {{}} > {u}/.claude/settings.json"),
        "cd .claude && rm settings.local.json".into(),
        format!("mv {exe} {exe}.2"),
        format!("chmod 000 {exe}"),
        format!("ln -sf /bin/true {exe}"),
        "python3 -c \"open('.claude/settings.local.json','w').write('{}')\"".into(),
        "node -e \"require('fs').unlinkSync(process.env.HOME + '/.claude/settings.json')\"".into(),
    ] {
        assert_eq!(decision(&bash(&cmd)), "deny", "{cmd}");
    }
    // The Edit and Write tools on the settings.
    for f in [
        user.join(".claude/settings.json"),
        w.work().join(".claude/settings.local.json"),
    ] {
        let p = fixture("claude-code-edit-pre", "", &w.work(), &f);
        assert_eq!(decision(&p), "deny", "Edit {}", f.display());
        let mut p = p.clone();
        p["tool_name"] = "Write".into();
        p["tool_input"] = serde_json::json!({"file_path": f, "content": "{}"});
        assert_eq!(decision(&p), "deny", "Write {}", f.display());
    }
    for cmd in [
        "cat ~/.claude/settings.json",
        "ls -la ~/.claude",
        "jq . .claude/settings.local.json",
        "echo hi > notes.txt",
        "rm -rf target/debug",
        "sed -i 's/a/b/' src/main.rs",
        "python3 -c 'print(1)'",
        "find / -name settings.json",
        "mv a.txt b.txt",
        "chmod +x script.sh",
        "cp README.md /tmp/readme-copy",
        "cp -r . /tmp/project-copy",
    ] {
        assert_eq!(decision(&bash(cmd)), "", "{cmd}");
    }
}

/// QA session 9, M3: Edit, MultiEdit, NotebookEdit and Write of a file that holds a known
/// value are denied before they run, as Read is (the host shows the model the lines around
/// an edit); `guard install` puts them in the PreToolUse matcher. Files without a value
/// are edited as before.
#[test]
fn pre_tool_use_denies_editing_a_file_that_holds_a_known_value() {
    let w = world();
    let _d = held(&w);
    let user = w.dir.path().join("user");
    let settings = install(&w, &user);
    let matcher = settings["hooks"]["PreToolUse"][0]["matcher"]
        .as_str()
        .unwrap();
    for tool in ["Edit", "MultiEdit", "NotebookEdit", "Write", "Read", "Bash"] {
        assert!(matcher.split('|').any(|t| t == tool), "{matcher}");
    }
    let env = [("HOME", user.to_str().unwrap())];
    let secret = w.work().join("config.yaml");
    std::fs::write(&secret, format!("host: x\npassword: {CANARY}\n")).unwrap();
    let clean = w.work().join("clean.yaml");
    std::fs::write(&clean, "host: x\n").unwrap();
    let nb = w.work().join("nb.ipynb");
    std::fs::write(&nb, format!("{{\"cells\": [\"{CANARY}\"]}}")).unwrap();
    let answer = |tool: &str, file: &Path| -> Value {
        let mut p = fixture("claude-code-edit-pre", "", &w.work(), file);
        p["tool_name"] = tool.into();
        match tool {
            "MultiEdit" => {
                p["tool_input"] = serde_json::json!({"file_path": file,
                    "edits": [{"old_string": "host: x", "new_string": "host: y"}]})
            }
            "NotebookEdit" => {
                p["tool_input"] = serde_json::json!({"notebook_path": file,
                    "new_source": "x", "cell_id": "c1"})
            }
            "Write" => p["tool_input"] = serde_json::json!({"file_path": file, "content": "x"}),
            _ => {}
        }
        as_installed(&w, &settings, &p, &env)
    };
    for (tool, file) in [
        ("Edit", &secret),
        ("MultiEdit", &secret),
        ("Write", &secret),
        ("NotebookEdit", &nb),
    ] {
        let a = answer(tool, file);
        assert_eq!(
            a["hookSpecificOutput"]["permissionDecision"], "deny",
            "{tool}: {a}"
        );
        let why = a["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap();
        assert!(
            why.contains("canary") && why.contains(tool),
            "{tool}: {why}"
        );
    }
    for tool in ["Edit", "MultiEdit", "Write"] {
        assert!(answer(tool, &clean).is_null(), "{tool} of a clean file");
    }
    assert!(answer("Write", &w.work().join("new-file.txt")).is_null());
}

/// QA session 9, M7: the age-encrypted identity and vaults read out whole (`xxd
/// ~/.patina/identity.age`, `tar cz ~/.patina | base64`) leave the machine for an offline
/// guess of the passphrase. PreToolUse denies every command but patina's own and the
/// metadata ones naming them, the patina home, or (for an archiver) a directory above a
/// home or a project's vault; the Read and Grep tools too. Other commands still pass.
#[test]
fn pre_tool_use_denies_reading_the_age_encrypted_files_out() {
    let w = world();
    let _d = held(&w);
    let user = w.dir.path().join("user");
    std::fs::create_dir_all(user.join(".patina")).unwrap();
    std::fs::write(user.join(".patina/identity.age"), "age-encryption.org/v1\n").unwrap();
    std::fs::create_dir_all(w.work().join(".patina")).unwrap();
    std::fs::write(
        w.work().join(".patina/vault.age"),
        "age-encryption.org/v1\n",
    )
    .unwrap();
    std::fs::create_dir_all(w.work().join("src")).unwrap();
    assert!(w.home().join("vault.age").is_file());
    let env = [("HOME", user.to_str().unwrap())];
    let decision = |payload: &Value| -> String {
        hook_env(&w, payload, &[], &env)["hookSpecificOutput"]["permissionDecision"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let bash = |cmd: &str| fixture("claude-code-bash-pre", cmd, &w.work(), Path::new(""));
    let h = w.home().display().to_string();
    let above = w.dir.path().display().to_string();
    for cmd in [
        "xxd ~/.patina/identity.age".to_string(),
        "od -c ~/.patina/identity.age".into(),
        "tar cz ~/.patina | base64 -w0 | rev".into(),
        "tar czf - ~ | base64".into(),
        "cd ~ && xxd .patina/identity.age".into(),
        format!("xxd {h}/vault.age"),
        format!("base64 -w0 {h}/vault.age"),
        format!("/usr/bin/xxd -g 4 {h}/vault.age"),
        format!("xxd {h}/*.age"),
        format!("dd if={h}/vault.age bs=1"),
        format!("cp {h}/vault.age /tmp/v"),
        format!("find {h} -name '*.age' -exec xxd {{}} ;"),
        format!("tar cz {above}"),
        format!("rsync -a {h}/ /tmp/copy/"),
        "xxd .patina/vault.age".into(),
        "tar cz . | base64 -w0".into(),
        "python3 -c \"print(open('.patina/vault.age','rb').read().hex())\"".into(),
    ] {
        assert_eq!(decision(&bash(&cmd)), "deny", "{cmd}");
    }
    for file in [
        user.join(".patina/identity.age"),
        w.home().join("vault.age"),
        w.work().join(".patina/vault.age"),
    ] {
        let mut p = fixture("claude-code-bash-pre", "", &w.work(), Path::new(""));
        p["tool_name"] = "Read".into();
        p["tool_input"] = serde_json::json!({ "file_path": file });
        assert_eq!(decision(&p), "deny", "Read {}", file.display());
        p["tool_name"] = "Grep".into();
        p["tool_input"] = serde_json::json!({ "pattern": "x", "path": file });
        assert_eq!(decision(&p), "deny", "Grep {}", file.display());
    }
    let why = hook_env(&w, &bash("xxd ~/.patina/identity.age"), &[], &env)["hookSpecificOutput"]
        ["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("offline guess") && why.contains("patina secrets run"),
        "{why}"
    );
    for cmd in [
        "ls -la ~/.patina".to_string(),
        format!("stat {h}/vault.age"),
        format!("du -sh {h}"),
        "patina secrets list".into(),
        "tar cz src | wc -c".into(),
        "cp -r . /tmp/project-copy".into(),
        "grep -rn TODO src".into(),
        "cat README.md".into(),
    ] {
        assert_eq!(decision(&bash(&cmd)), "", "{cmd}");
    }
}

/// QA session 9, L12: a payload of an event the guard does not know (a host's new or renamed
/// event) that carries a tool's output, given to a hook entry without `--event`, is scanned
/// as PostToolUse: the value is concealed, not passed untouched.
#[test]
fn an_unknown_event_carrying_a_tool_output_is_scanned() {
    let w = world();
    let _d = held(&w);
    for event in ["PostToolUseFailure", "SomethingNew"] {
        let mut p = fixture(
            "claude-code-bash-post",
            &format!("password: {CANARY}\n"),
            &w.work(),
            Path::new(""),
        );
        p["hook_event_name"] = event.into();
        let a = hook_env(&w, &p, &[], &[]);
        let out = a["hookSpecificOutput"]["updatedToolOutput"].to_string();
        assert!(out.contains("<concealed by patina"), "{event}: {a}");
        assert!(!out.contains(CANARY), "{event}: {a}");
    }
    // Without an output there is nothing to scan: no decision.
    let mut p = fixture("claude-code-bash-pre", "ls", &w.work(), Path::new(""));
    p["hook_event_name"] = "SomethingNew".into();
    assert!(hook_env(&w, &p, &[], &[]).is_null());
}
