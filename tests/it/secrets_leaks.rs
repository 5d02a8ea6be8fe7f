//! No secret value in any output (requirements §2; cases 017 and 018): every command, on its normal
//! and its error paths, is searched for the canary in plain, base64, base64url, hex and
//! percent-encoded forms. (Argument lists are checked in `secrets_argv.rs`, a test binary of
//! its own: the tests here put the canary in argv on purpose, to see it refused.)

use crate::common::secrets as secrets_common;

use secrets_common::*;
use std::io::Write;
use std::process::Output;

fn encrypt_to(identity: &str, plaintext: &[u8]) -> Vec<u8> {
    let id = patina::secrets::Identity::parse(identity.as_bytes()).unwrap();
    let r: age::x25519::Recipient = id.recipient().parse().unwrap();
    let e = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = e.wrap_output(&mut out).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap();
    out
}

#[test]
fn the_canary_appears_in_no_output_of_any_command() {
    let w = World::new();
    let other = patina::secrets::Identity::generate();
    let other_recipient = other.recipient();
    let other_identity = other.expose_secret_text().to_string();
    // A trailing newline on stdin is dropped, not stored.
    w.add(
        "canary",
        &format!("{CANARY}\n"),
        &["--env", "PATINA_CANARY"],
    );
    let mut outs: Vec<(String, Output)> = Vec::new();
    let mut run = |label: &str, args: &[&str], input: &[u8]| {
        let o = w.run(args, input);
        outs.push((label.to_string(), o));
    };
    let c = CANARY;

    // Normal paths.
    run("list", &["secrets", "list"], b"");
    run("list --json", &["secrets", "list", "--json"], b"");
    run("recipients list", &["secrets", "recipients", "list"], b"");
    run(
        "identity recipient",
        &["secrets", "identity", "recipient"],
        b"",
    );
    run("run true", &["secrets", "run", "--", "true"], b"");
    run("run false", &["secrets", "run", "--", "false"], b"");
    run(
        "run printenv",
        &["secrets", "run", "--", "printenv", "PATINA_CANARY"],
        b"",
    );
    run("run env", &["secrets", "run", "--", "env"], b"");
    let script = "v=$PATINA_CANARY; echo \"$v\" >&2; printf %s \"$v\" | base64; \
                  printf %s \"$v\" | base64 | tr '+/' '-_'; printf %s \"$v\" | od -An -tx1 | tr -d ' \\n'";
    run(
        "run encodings",
        &["secrets", "run", "--", "sh", "-c", script],
        b"",
    );
    run(
        "run cat stdin",
        &["secrets", "run", "--", "cat"],
        c.as_bytes(),
    );

    // Usage errors and unknown names.
    run("remove unknown", &["secrets", "remove", "nosuch"], b"");
    run("remove canary-as-name", &["secrets", "remove", c], b"");
    run(
        "add canary-as-name",
        &["secrets", "add", c, "--stdin"],
        c.as_bytes(),
    );
    run(
        "add canary-as-env",
        &["secrets", "add", "x", "--env", c, "--stdin"],
        b"v",
    );
    run("add positional", &["secrets", "add", "other", c], b"");
    run(
        "add positional after --",
        &["secrets", "add", "other", "--", c],
        b"",
    );
    run(
        "add empty value",
        &["secrets", "add", "empty", "--stdin"],
        b"\n",
    );
    run(
        "recipients add bad",
        &["secrets", "recipients", "add", c],
        b"",
    );
    run(
        "recipients remove bad",
        &["secrets", "recipients", "remove", c],
        b"",
    );
    run("run canary-as-command", &["secrets", "run", "--", c], b"");
    run(
        "run bogus flag",
        &["secrets", "run", "--bogus", "--", "true"],
        b"",
    );
    run(
        "export existing",
        &["secrets", "identity", "export", "--out", "/"],
        b"",
    );

    // Identity errors.
    let bare = |label: &str, args: &[&str], input: &[u8], id: Option<&str>| {
        let mut cmd = w.bare_cmd(args);
        cmd.env("PATINA_NO_KEYRING", "1");
        if let Some(id) = id {
            cmd.env("PATINA_IDENTITY", id);
        }
        (label.to_string(), run_with_input(cmd, input))
    };
    let mut more = vec![
        bare(
            "import bad line",
            &["secrets", "identity", "import"],
            format!("# key\r\n{c}\r\n").as_bytes(),
            None,
        ),
        bare(
            "canary as PATINA_IDENTITY",
            &["secrets", "run", "--", "true"],
            b"",
            Some(c),
        ),
        bare(
            "wrong identity: run",
            &["secrets", "run", "--", "true"],
            b"",
            Some(&other_identity),
        ),
        bare(
            "wrong identity: add",
            &["secrets", "add", "y", "--stdin"],
            c.as_bytes(),
            Some(&other_identity),
        ),
        bare(
            "wrong identity: remove",
            &["secrets", "remove", "canary"],
            b"",
            Some(&other_identity),
        ),
        bare(
            "wrong identity: recipients add",
            &["secrets", "recipients", "add", &other_recipient],
            b"",
            Some(&other_identity),
        ),
        bare(
            "no identity: run",
            &["secrets", "run", "--", "true"],
            b"",
            None,
        ),
    ];
    outs.append(&mut more);

    // Corrupt files, one at a time, each restored afterwards.
    let home = w.home();
    let corruptions: Vec<(&str, std::path::PathBuf, Vec<u8>)> = vec![
        (
            "secrets.toml",
            home.join("secrets.toml"),
            format!("canary = {c}\n").into_bytes(),
        ),
        (
            "recipients.txt",
            home.join("recipients.txt"),
            format!("{c}\n").into_bytes(),
        ),
        (
            "vault.age: plaintext",
            home.join("vault.age"),
            c.as_bytes().to_vec(),
        ),
        (
            "vault.age: bad JSON inside",
            home.join("vault.age"),
            encrypt_to(
                &w.identity,
                format!("{{\"patina_vault\": \"{c}\", \"secrets\": {{\"a\": {c}").as_bytes(),
            ),
        ),
        (
            "vault.age: wrong types inside",
            home.join("vault.age"),
            encrypt_to(
                &w.identity,
                format!("{{\"patina_vault\": 1, \"secrets\": {{\"a\": [\"{c}\"]}}}}").as_bytes(),
            ),
        ),
        ("vault.age: flipped bytes", home.join("vault.age"), {
            let mut v = std::fs::read(home.join("vault.age")).unwrap();
            let n = v.len();
            v[n - 3] ^= 0xff;
            v
        }),
    ];
    for (what, path, bad) in corruptions {
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bad).unwrap();
        for args in [
            &["secrets", "list"][..],
            &["secrets", "run", "--", "true"],
            &["secrets", "add", "z", "--stdin"],
            &["secrets", "remove", "canary"],
            &["secrets", "recipients", "list"],
        ] {
            let o = w.run(args, c.as_bytes());
            outs.push((format!("{what}: {}", args.join(" ")), o));
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bad,
            "{what}: the file was left as it was"
        );
        std::fs::write(&path, &good).unwrap();
    }

    for (label, o) in &outs {
        assert_no_leak(&format!("{label} (stdout)"), &o.stdout, CANARY);
        assert_no_leak(&format!("{label} (stderr)"), &o.stderr, CANARY);
        if !o.status.success() && !label.starts_with("run ") {
            let err = String::from_utf8_lossy(&o.stderr);
            // clap's own usage errors are several lines; ours are one.
            if !label.contains("bogus") {
                assert_eq!(err.lines().count(), 1, "{label}: one line: {err}");
            }
        }
    }
    // Sanity: the error paths did fail, the usage errors with 2.
    let code = |label: &str| {
        outs.iter()
            .find(|(l, _)| l == label)
            .unwrap()
            .1
            .status
            .code()
    };
    for label in [
        "add positional",
        "add positional after --",
        "recipients add bad",
        "add canary-as-name",
    ] {
        assert_eq!(code(label), Some(2), "{label}");
    }
    for label in [
        "remove unknown",
        "wrong identity: run",
        "canary as PATINA_IDENTITY",
        "import bad line",
    ] {
        assert_eq!(code(label), Some(1), "{label}");
    }
    assert_eq!(code("run canary-as-command"), Some(127));
    let import = &outs.iter().find(|(l, _)| l == "import bad line").unwrap().1;
    assert!(String::from_utf8_lossy(&import.stderr).contains("line 2"));

    // The value was stored without its newline and reaches the child: positive control.
    let o = w.run(
        &[
            "secrets",
            "run",
            "--no-masking",
            "--",
            "printenv",
            "PATINA_CANARY",
        ],
        b"",
    );
    assert_eq!(o.stdout, format!("{CANARY}\n").as_bytes());

    // No plaintext copy anywhere under PATINA_HOME.
    for entry in std::fs::read_dir(&home).unwrap() {
        let p = entry.unwrap().path();
        assert_no_leak(
            &p.display().to_string(),
            &std::fs::read(&p).unwrap(),
            CANARY,
        );
    }
}

#[test]
fn a_value_given_as_an_argument_is_refused_with_exit_2_and_not_repeated() {
    let w = World::new();
    let dash = format!("-{CANARY}");
    let dashdash = format!("--{CANARY}");
    for args in [
        &["secrets", "add", "other", CANARY][..],
        &["secrets", "add", "other", "--env", "OTHER", CANARY],
        &["secrets", "add", "--stdin", "other", CANARY],
        &["secrets", "add", "other", CANARY, "--stdin"],
        &["secrets", "add", "other", "--", CANARY],
        &["secrets", "add", "other", &dash],
        &["secrets", "add", "other", &dashdash],
    ] {
        let o = w.run(args, b"");
        assert_eq!(o.status.code(), Some(2), "{}", show(&o));
        assert_no_leak("stdout", &o.stdout, CANARY);
        assert_no_leak("stderr", &o.stderr, CANARY);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--stdin") && err.contains("prompt"), "{err}");
    }
    assert!(!w.home().join("vault.age").exists(), "nothing was stored");
}
