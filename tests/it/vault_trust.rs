//! QA session 9, H3–H5, performed against the real binary: a secret whose variable changes
//! how programs run (`BASH_ENV`, `LD_PRELOAD`, …) is refused at `secrets add` and again when a
//! run's environment is released; replacing a value needs `--replace`; a project vault planted
//! with the user's public key releases nothing until the user trusts it (and again after any
//! change); `patina serve` refuses to start under a loader variable; the identity's text does
//! not linger in the daemon's memory. Depends on `common` and `common::secrets`.

use crate::common::secrets::{
    BIN, CANARY, World, assert_no_leak, in_terminal, run_with_input, show,
};
use crate::common::{self, Daemon};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn out(c: Command) -> Output {
    run_with_input(c, b"")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A shell script that, when sourced or run, writes its whole environment to `loot`: what
/// the QA's /tmp/qa9-evil.sh did.
fn evil_script(dir: &Path, loot: &Path) -> PathBuf {
    let p = dir.join("evil.sh");
    std::fs::write(&p, format!("env > '{}'\n", loot.display())).unwrap();
    p
}

/// The attack of H3 through an unlocked session (the agent has no identity), and through
/// the identity when no daemon runs: every spelling is refused at `secrets add`, nothing is
/// stored, and the user's next `secrets run -- bash` does not source the planted script.
#[test]
fn a_variable_that_changes_how_programs_run_is_refused_at_add() {
    let w = World::new();
    w.add("db-password", CANARY, &[]);
    let loot = w.dir.path().join("loot.txt");
    let evil = evil_script(w.dir.path(), &loot);
    // No daemon: the identity path.
    for var in [
        "BASH_ENV",
        "LD_PRELOAD",
        "ld_audit",
        "PYTHONSTARTUP",
        "https_proxy",
        "GIT_SSH_COMMAND",
        "PATH",
    ] {
        let o = run_with_input(
            w.cmd(&["secrets", "add", "zz", "--env", var, "--stdin"]),
            evil.display().to_string().as_bytes(),
        );
        assert!(!o.status.success(), "{var} accepted: {}", show(&o));
        let e = stderr(&o);
        assert!(
            e.contains(var) && e.contains("changes how programs run") && e.lines().count() == 1,
            "{var}: {}",
            show(&o)
        );
    }
    // A name whose default variable is refused (`path` → PATH) is refused too.
    let o = run_with_input(w.cmd(&["secrets", "add", "path", "--stdin"]), b"/tmp/x");
    assert!(
        !o.status.success() && stderr(&o).contains("PATH"),
        "{}",
        show(&o)
    );

    // Through an unlocked session, as the agent (no identity of its own).
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let o = out(w.cmd(&["session", "unlock", "--ttl", "10m"]));
    assert!(o.status.success(), "{}", show(&o));
    let mut agent = w.bare_cmd(&[
        "secrets",
        "add",
        "zz-helper",
        "--env",
        "BASH_ENV",
        "--stdin",
    ]);
    agent.env("PATINA_NO_KEYRING", "1");
    let o = run_with_input(agent, evil.display().to_string().as_bytes());
    assert!(!o.status.success(), "planted: {}", show(&o));
    assert!(stderr(&o).contains("BASH_ENV"), "{}", show(&o));
    let listed = out(w.cmd(&["secrets", "list"]));
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("zz-helper"));
    // The user's run: bash does not source the script.
    let o = out(w.cmd(&["secrets", "run", "--", "bash", "-c", "echo deployed"]));
    assert!(o.status.success(), "{}", show(&o));
    assert!(!loot.exists(), "the planted script ran");
    for o in [&o, &listed] {
        assert_no_leak("output", &o.stdout, CANARY);
        assert_no_leak("output", &o.stderr, CANARY);
    }
    drop(d);
}

/// A vault that already holds such a variable (an older patina, a hand-edited
/// `secrets.toml`): the release is refused whole, through the session and through the
/// identity, and the command does not run.
#[test]
fn a_planted_variable_in_an_existing_vault_is_refused_at_release() {
    let w = World::new();
    w.add("db-password", CANARY, &[]);
    let loot = w.dir.path().join("loot.txt");
    let evil = evil_script(w.dir.path(), &loot);
    w.add("helper", &evil.display().to_string(), &[]);
    // Point the helper at BASH_ENV by hand: secrets.toml is plain text.
    let map = w.home().join("secrets.toml");
    let text = std::fs::read_to_string(&map).unwrap();
    assert!(text.contains("\"HELPER\""), "{text}");
    std::fs::write(&map, text.replace("\"HELPER\"", "\"BASH_ENV\"")).unwrap();
    let run = ["secrets", "run", "--", "bash", "-c", "echo deployed"];
    // The identity path (no daemon).
    let o = out(w.cmd(&run));
    assert!(!o.status.success(), "ran: {}", show(&o));
    let e = stderr(&o);
    assert!(
        e.contains("BASH_ENV") && e.contains("nothing was run"),
        "{}",
        show(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("deployed"));
    // Through an unlocked session.
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let u = out(w.cmd(&["session", "unlock", "--ttl", "10m"]));
    assert!(u.status.success(), "{}", show(&u));
    let mut user = w.bare_cmd(&run);
    user.env("PATINA_NO_KEYRING", "1");
    let o2 = out(user);
    assert!(!o2.status.success(), "ran: {}", show(&o2));
    assert!(stderr(&o2).contains("BASH_ENV"), "{}", show(&o2));
    assert!(!loot.exists(), "the planted script ran");
    for o in [&o, &o2] {
        assert_no_leak("run", &o.stdout, CANARY);
        assert_no_leak("run", &o.stderr, CANARY);
    }
    assert_no_leak("daemon log", d.log().as_bytes(), CANARY);
}

/// Replacing a value is never silent: without `--replace` the name is refused and the value
/// kept (through the session, as the agent would); with it the output and the audit log say
/// "replace".
#[test]
fn replacing_a_value_needs_replace_and_is_said_and_audited() {
    let w = World::new();
    w.add("db-password", CANARY, &[]);
    let _d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let o = out(w.cmd(&["session", "unlock", "--ttl", "10m"]));
    assert!(o.status.success(), "{}", show(&o));
    let agent = |extra: &[&str]| {
        let mut args = vec!["secrets", "add", "db-password", "--stdin"];
        args.extend_from_slice(extra);
        let mut c = w.bare_cmd(&args);
        c.env("PATINA_NO_KEYRING", "1");
        run_with_input(c, b"attacker-chosen-value-123")
    };
    let o = agent(&[]);
    assert!(!o.status.success(), "replaced silently: {}", show(&o));
    assert!(stderr(&o).contains("--replace"), "{}", show(&o));
    let check = |want: &str| {
        let mut c = w.cmd(&[
            "secrets",
            "run",
            "--no-masking",
            "--",
            "sh",
            "-c",
            "test \"$DB_PASSWORD\" = \"$WANT\" && echo same",
        ]);
        c.env("WANT", want);
        let o = out(c);
        String::from_utf8_lossy(&o.stdout).trim() == "same"
    };
    assert!(check(CANARY), "the value changed without --replace");
    let o = agent(&["--replace"]);
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("replaced db-password"),
        "{}",
        show(&o)
    );
    assert!(check("attacker-chosen-value-123"));
    let audit = std::fs::read_to_string(w.home().join("audit.log")).unwrap();
    assert!(audit.contains("\"replace\""), "{audit}");
}

/// H4: a project vault planted with the user's public key (another identity writes it and
/// adds the user as a recipient, as anyone can) releases nothing — not through the identity,
/// not through an unlocked session — until the user trusts it in a terminal; it then runs;
/// a change of its files makes it untrusted again. `secrets trust` without a terminal is
/// refused.
#[test]
fn a_planted_project_vault_is_refused_until_trusted_and_again_after_a_change() {
    let victim = World::new();
    victim.add("db-password", CANARY, &[]);
    let proj = victim.work();
    std::fs::create_dir_all(proj.join("layer")).unwrap();
    // The attacker: its own home and identity, working in the victim's project.
    let att = World::new();
    let attacker = |args: &[&str], input: &[u8]| {
        let mut c = att.cmd(args);
        c.current_dir(&proj);
        run_with_input(c, input)
    };
    let o = attacker(
        &[
            "secrets",
            "add",
            "helper",
            "--env",
            "HELPER",
            "--stdin",
            "--project",
        ],
        b"planted-value-77",
    );
    assert!(o.status.success(), "{}", show(&o));
    let me = out(victim.cmd(&["secrets", "identity", "recipient"]));
    let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
    let o = attacker(&["secrets", "recipients", "add", &me, "--project"], b"");
    assert!(o.status.success(), "{}", show(&o));

    // The value is masked in output: the child says whether it got it.
    let run = [
        "secrets",
        "run",
        "--",
        "sh",
        "-c",
        "test \"$HELPER\" = planted-value-77 && echo h=got",
    ];
    let refused = |o: &Output| {
        assert!(!o.status.success(), "released: {}", show(o));
        let e = stderr(o);
        assert!(
            e.contains("patina secrets trust") && e.lines().count() == 1,
            "{}",
            show(o)
        );
        assert!(!String::from_utf8_lossy(&o.stdout).contains("h="), "ran");
        assert_no_leak("refused run", &o.stdout, CANARY);
        assert_no_leak("refused run", &o.stderr, CANARY);
    };
    refused(&out(victim.cmd(&run)));
    // Through an unlocked session too.
    let d = Daemon::start_in(
        tempfile::tempdir().unwrap(),
        victim.home(),
        proj.clone(),
        &[],
    );
    let u = out(victim.cmd(&["session", "unlock", "--ttl", "10m"]));
    assert!(u.status.success(), "{}", show(&u));
    let mut c = victim.bare_cmd(&run);
    c.env("PATINA_NO_KEYRING", "1");
    refused(&out(c));
    drop(d);
    // No terminal (the agent's tool call): refused, nothing recorded.
    let o = out(victim.cmd(&["secrets", "trust"]));
    assert!(
        !o.status.success() && stderr(&o).contains("terminal"),
        "{}",
        show(&o)
    );
    assert!(!victim.home().join("trusted-projects.json").exists());
    // The user trusts it in a terminal, after seeing its variable and recipients.
    let (code, shown) = in_terminal(&victim, "\"$PATINA\" secrets trust", b"y\n", true)
        .expect("script(1) is needed for the terminal tests");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("HELPER") && shown.contains(&me), "{shown}");
    assert_eq!(
        common::secrets::mode(&victim.home().join("trusted-projects.json")),
        0o600
    );
    let o = out(victim.cmd(&run));
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "h=got\n");
    // Any change of its files: untrusted again.
    let map = proj.join(".patina/secrets.toml");
    let mut text = std::fs::read_to_string(&map).unwrap();
    text.push_str("# touched\n");
    std::fs::write(&map, text).unwrap();
    let o = out(victim.cmd(&run));
    refused(&o);
    assert!(stderr(&o).contains("changed"), "{}", show(&o));
}

/// The user's own project vault, written with `secrets add --project` in a terminal, counts
/// as trusted; the same write without a terminal (an agent) does not.
#[test]
fn a_project_vault_written_in_a_terminal_is_trusted_and_one_written_without_is_not() {
    let w = World::new();
    let proj = w.work();
    std::fs::create_dir_all(proj.join("layer")).unwrap();
    let (code, shown) = in_terminal(
        &w,
        "printf mine-value-42 | \"$PATINA\" secrets add mine --env MINE --stdin --project",
        b"",
        true,
    )
    .expect("script(1) is needed for the terminal tests");
    assert_eq!(code, 0, "{shown}");
    let run = [
        "secrets",
        "run",
        "--",
        "sh",
        "-c",
        "test \"$MINE\" = mine-value-42 && echo m=got",
    ];
    let o = out(w.cmd(&run));
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "m=got\n");
    // Written without a terminal, as an agent's tool call: the vault changed and is not
    // trusted any more.
    let o = run_with_input(
        w.cmd(&["secrets", "add", "other", "--stdin", "--project"]),
        b"other-value-42",
    );
    assert!(o.status.success(), "{}", show(&o));
    let o = out(w.cmd(&run));
    assert!(!o.status.success(), "{}", show(&o));
    assert!(stderr(&o).contains("patina secrets trust"), "{}", show(&o));
}

/// A system library to preload: harmless, always present (libm of the C library).
fn system_library() -> PathBuf {
    for dir in [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
    ] {
        let p = Path::new(dir).join("libm.so.6");
        if p.exists() {
            return p;
        }
    }
    panic!("no libm.so.6 in the usual library directories");
}

/// H5: `patina serve` under `LD_PRELOAD`, `LD_AUDIT` or any `LD_*` refuses to start with one
/// line, before it creates its socket or reads anything.
#[test]
fn serve_refuses_to_start_under_a_loader_variable() {
    let lib = system_library();
    for (var, value) in [
        ("LD_PRELOAD", lib.display().to_string()),
        ("LD_AUDIT", lib.display().to_string()),
        ("LD_BIND_NOW", "1".to_string()),
    ] {
        let w = World::new();
        let mut c = Command::new(BIN);
        c.arg("serve");
        w.configure(&mut c, true);
        c.env(var, &value)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let o = common::run_timeout(&mut c, Duration::from_secs(60));
        assert!(!o.status.success(), "{var}: served: {}", show(&o));
        let e = stderr(&o);
        let ours: Vec<&str> = e.lines().filter(|l| l.starts_with("patina")).collect();
        assert!(
            ours.len() == 1 && ours[0].contains(var) && ours[0].contains("refusing to serve"),
            "{var}: {}",
            show(&o)
        );
        assert!(!w.home().join("run/serve.sock").exists(), "{var}: listened");
        assert!(
            !w.work().join(".patina").exists(),
            "{var}: wrote the project"
        );
    }
}

/// H5 without a variable the check can see: `LD_LIBRARY_PATH` (allowed: cargo sets it) naming
/// a directory that holds a copy of the C library, so the loader maps that copy; the maps
/// check refuses it as neither patina nor a system library.
#[test]
fn serve_refuses_a_library_loaded_from_outside_the_system_directories() {
    let libc = system_library().with_file_name("libc.so.6");
    let w = World::new();
    let dir = w.dir.path().join("libs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&libc, dir.join("libc.so.6")).unwrap();
    let mut c = Command::new(BIN);
    c.arg("serve");
    w.configure(&mut c, true);
    c.env("LD_LIBRARY_PATH", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = common::run_timeout(&mut c, Duration::from_secs(60));
    assert!(!o.status.success(), "served: {}", show(&o));
    let e = stderr(&o);
    assert!(
        e.contains("refusing to serve")
            && e.contains(&dir.join("libc.so.6").display().to_string())
            && e.lines().count() == 1,
        "{}",
        show(&o)
    );
    assert!(!w.home().join("run/serve.sock").exists(), "listened");
}

/// After `session unlock`, the identity's text (`AGE-SECRET-KEY-1…`) is nowhere in the
/// daemon's writable memory: the request buffers, the body and the parsed JSON are wiped.
/// Read through /proc/PID/mem, which CI (root) may read although the daemon is not dumpable.
#[test]
fn the_identity_text_does_not_linger_in_the_daemons_memory() {
    let w = World::new();
    common::write_fixture_project(&w.work());
    w.add("db-password", CANARY, &[]);
    let d = Daemon::start_in(tempfile::tempdir().unwrap(), w.home(), w.work(), &[]);
    let o = out(w.cmd(&["session", "unlock", "--ttl", "10m"]));
    assert!(o.status.success(), "{}", show(&o));
    // The secret part of the identity, upper-case as the text carries it.
    let needle = w.identity.trim().to_string();
    assert!(needle.len() > 40);
    let found = count_in_memory(d.pid(), needle.as_bytes());
    assert_eq!(
        found, 0,
        "copies of the identity text in the daemon's memory"
    );
}

/// How often `needle` occurs in the writable mappings of process `pid`.
fn count_in_memory(pid: u32, needle: &[u8]) -> usize {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut n = 0;
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        if !perms.starts_with("rw") {
            continue;
        }
        let (a, b) = range.split_once('-').unwrap();
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        if b - a > 1 << 30 || mem.seek(SeekFrom::Start(a)).is_err() {
            continue;
        }
        let mut buf = vec![0u8; (b - a) as usize];
        if mem.read_exact(&mut buf).is_err() {
            continue;
        }
        n += buf.windows(needle.len()).filter(|w| *w == needle).count();
    }
    n
}
