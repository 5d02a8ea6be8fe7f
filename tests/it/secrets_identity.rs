//! The secrets identity (requirements §9; case 022): nothing prompts without a terminal and every
//! command then fails fast with one line; with a terminal and no keyring, init falls through
//! to a passphrase file that a fresh process reads back; import and export.

use crate::common::secrets as secrets_common;

use patina::secrets::Identity;
use secrets_common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const PASS: &str = "correct horse battery";

#[test]
fn without_terminal_or_identity_commands_fail_fast_with_one_line() {
    if Command::new("setsid").arg("--version").output().is_err() {
        eprintln!("setsid is missing: skipped");
        return;
    }
    let w = World::new();
    for (args, input) in [
        (
            &["secrets", "add", "canary", "--stdin"][..],
            CANARY.as_bytes(),
        ),
        (&["secrets", "add", "canary"], b""),
        (&["secrets", "run", "--", "printenv"], b""),
        (&["secrets", "identity", "init"], b""),
        (&["secrets", "identity", "export", "--stdout"], b""),
    ] {
        // setsid: no controlling terminal; D-Bus unreachable; PATINA_IDENTITY unset.
        let mut c = Command::new("setsid");
        c.arg("-w").arg(BIN).args(args);
        w.configure(&mut c, false);
        let start = Instant::now();
        let o = run_with_input(c, input);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.contains("PATINA_IDENTITY") && err.contains("terminal"),
            "{args:?}: says how: {err}"
        );
        assert_no_leak("stderr", &o.stderr, CANARY);
    }
    let leftovers: Vec<_> = std::fs::read_dir(w.home())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !leftovers
            .iter()
            .any(|n| n == "identity.age" || n == "vault.age"),
        "{leftovers:?}"
    );
}

#[test]
fn init_in_a_terminal_falls_through_to_a_passphrase_file_a_fresh_process_reads() {
    let w = World::new();
    let typed = format!("{PASS}\n{PASS}\n");
    let Some((code, shown)) = in_terminal(
        &w,
        "\"$PATINA\" secrets identity init",
        typed.as_bytes(),
        false,
    ) else {
        eprintln!("script is missing: skipped");
        return;
    };
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("passphrase-protected file"), "{shown}");
    let file = w.home().join("identity.age");
    assert_eq!(mode(&file), 0o600);
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap()
            .contains("AGE-SECRET-KEY")
    );

    // A second init is refused before any prompt.
    let (code, shown) = in_terminal(&w, "\"$PATINA\" secrets identity init", b"", false).unwrap();
    assert_eq!(code, 1);
    assert!(shown.contains("already exists"), "{shown}");

    // Without a terminal, the first secret cannot be added, and the error says why in terms
    // of what exists: there is no vault yet (QA, session 8: it spoke of "the secrets it holds").
    let mut c = Command::new("setsid");
    c.args(["-w", BIN, "secrets", "add", "k", "--env", "K", "--stdin"]);
    w.configure(&mut c, false);
    let o = run_with_input(c, b"s3cret-value");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the first secret creates the global vault") && err.contains("terminal"),
        "{err}"
    );
    assert!(!w.home().join("vault.age").exists());

    // Fresh processes find it and ask for the passphrase on the terminal.
    let add = "printf '%s' \"$V\" | \"$PATINA\" secrets add k --env K --stdin";
    let (code, shown) = in_terminal(
        &w,
        &format!("env V=s3cret-value sh -c '{}'", add.replace('\'', "'\\''")),
        format!("{PASS}\n").as_bytes(),
        false,
    )
    .unwrap();
    assert_eq!(code, 0, "{shown}");
    let (code, shown) = in_terminal(
        &w,
        "\"$PATINA\" secrets run -- printenv K",
        format!("{PASS}\n").as_bytes(),
        false,
    )
    .unwrap();
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("<concealed by patina>"), "{shown}");
    assert!(!shown.contains("s3cret-value"), "{shown}");

    let (code, shown) = in_terminal(
        &w,
        "\"$PATINA\" secrets run -- true",
        b"not the passphrase\n",
        false,
    )
    .unwrap();
    assert_eq!(code, 1);
    assert!(shown.contains("wrong passphrase"), "{shown}");
}

#[test]
fn import_accepts_crlf_and_a_missing_final_newline() {
    let id = Identity::generate();
    let key = id.expose_secret_text();
    for (what, text) in [
        (
            "CRLF",
            format!("# created by hand\r\n# public key: x\r\n{}\r\n", &*key),
        ),
        ("no final newline", format!("  {}  ", &*key)),
    ] {
        let w = World::new();
        std::fs::write(w.work().join("key.txt"), &text).unwrap();
        let Some((code, shown)) = in_terminal(
            &w,
            "sh -c '\"$PATINA\" secrets identity import < key.txt'",
            format!("{PASS}\n{PASS}\n").as_bytes(),
            false,
        ) else {
            eprintln!("script is missing: skipped");
            return;
        };
        assert_eq!(code, 0, "{what}: {shown}");
        assert!(shown.contains(&id.recipient()), "{what}: {shown}");
        let back =
            patina::secrets::identity::read_identity_file(&w.home().join("identity.age"), PASS)
                .unwrap();
        assert_eq!(back.recipient(), id.recipient(), "{what}");
    }
}

#[test]
fn a_bad_import_line_is_named_by_number_and_not_quoted() {
    let w = World::new();
    let key = Identity::generate().expose_secret_text();
    for (text, line) in [
        (format!("# c\n\n{CANARY}\n"), "line 3"),
        (format!("{}\n{}\n", &*key, &*key), "line 2"),
        (format!("{}x\r\n", &*key), "line 1"),
    ] {
        let mut c = w.bare_cmd(&["secrets", "identity", "import"]);
        c.env("PATINA_NO_KEYRING", "1");
        let o = run_with_input(c, text.as_bytes());
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(line), "{err}");
        assert!(!err.contains(&key[20..]), "the key is not quoted: {err}");
        assert_no_leak("stderr", &o.stderr, CANARY);
    }
}

#[test]
fn export_writes_a_new_0600_file_and_refuses_to_overwrite() {
    let w = World::new();
    let out = w.work().join("exported.key");
    let o = w.run(
        &["secrets", "identity", "export", "--out", "exported.key"],
        b"",
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(mode(&out), 0o600);
    let back = Identity::parse(&std::fs::read(&out).unwrap()).unwrap();
    let mine = Identity::parse(w.identity.as_bytes()).unwrap();
    assert_eq!(back.recipient(), mine.recipient());
    assert!(o.stdout.is_empty(), "nothing on stdout");

    std::fs::write(&out, b"keep me").unwrap();
    let o = w.run(
        &["secrets", "identity", "export", "--out", "exported.key"],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");

    // To a pipe it works (and the text re-imports).
    let o = w.run(&["secrets", "identity", "export", "--stdout"], b"");
    assert!(o.status.success());
    assert_eq!(
        Identity::parse(&o.stdout).unwrap().recipient(),
        mine.recipient()
    );
}

#[test]
fn export_to_stdout_is_refused_on_a_terminal() {
    let w = World::new();
    let Some((code, shown)) = in_terminal(
        &w,
        "\"$PATINA\" secrets identity export --stdout",
        b"",
        true,
    ) else {
        eprintln!("script is missing: skipped");
        return;
    };
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("terminal"), "{shown}");
    assert!(!shown.contains("AGE-SECRET-KEY"), "{shown}");
}

/// Case 023: `serve` with an identity file others can read says so at start (the file is
/// refused later by `session unlock` and `secrets run`), names the fix, and serves anyway.
#[test]
fn serve_warns_about_an_unprotected_identity_file_case_023() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("proj");
    crate::common::write_fixture_project(&project);
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let id_file = patina::secrets::identity::identity_file(&patina::paths::Home::at(home.clone()));
    std::fs::write(&id_file, b"not read by serve").unwrap();
    std::fs::set_permissions(&id_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = crate::common::Daemon::start_in(tempfile::tempdir().unwrap(), home, project, &[]);
    assert!(d.still_serving());
    let log = d.log();
    assert!(
        log.contains("UNPROTECTED identity file") && log.contains("chmod 600"),
        "{log}"
    );
}
