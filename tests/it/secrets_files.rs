//! Files that hold or unlock secrets (requirements §3; case 023): 0600 from creation and
//! directories 0700 even under `umask 000`; a writer killed mid-write leaves a vault that
//! decrypts; concurrent writers are serialized; a loosened identity file is refused, named,
//! and left as it is.

use crate::common::secrets as secrets_common;

use patina::paths::Home;
use patina::secrets::{Identity, VaultLocation, vault};
use secrets_common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `patina ARGS` run through `sh -c 'umask 000; exec patina "$@"'` in `dir`.
fn umask_000(w: &World, dir: &Path, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args);
    w.configure(&mut sh, true);
    sh.current_dir(dir);
    run_with_input(sh, input)
}

fn assert_private_tree(root: &Path) {
    let mut seen = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            seen += 1;
        }
    }
    assert!(seen > 0, "{} holds files", root.display());
}

#[test]
fn files_are_0600_and_dirs_0700_from_creation_under_umask_000() {
    let w = World::new();
    let project = w.work().join("proj");
    std::fs::create_dir_all(project.join("layer")).unwrap();
    let other = Identity::generate().recipient();
    let key_out = w.home().join("exported.key");
    let key_out = key_out.to_str().unwrap();
    for (args, input) in [
        (&["secrets", "add", "one", "--stdin"][..], &b"value-one"[..]),
        (&["secrets", "add", "two", "--stdin"], b"value-two"),
        (&["secrets", "recipients", "add", &other], b""),
        (&["secrets", "identity", "export", "--out", key_out], b""),
    ] {
        let o = umask_000(&w, &w.work(), args, input);
        assert!(o.status.success(), "{args:?}: {}", show(&o));
    }
    // A project vault, from a subdirectory of the project.
    let sub = project.join("layer");
    let args = ["secrets", "add", "p", "--project", "--stdin"];
    let o = umask_000(&w, &sub, &args, b"project-value");
    assert!(o.status.success(), "{}", show(&o));
    assert_private_tree(&w.home());
    assert_private_tree(&project.join(".patina"));
    for f in ["vault.age", "secrets.toml", "recipients.txt"] {
        assert!(w.home().join(f).is_file(), "{f}");
        assert!(project.join(".patina").join(f).is_file(), "project {f}");
    }
    assert_eq!(mode(Path::new(key_out)), 0o600);

    // The passphrase-protected identity file, created in a terminal under umask 000.
    let w2 = World::new();
    if let Some((code, shown)) = in_terminal(
        &w2,
        "sh -c 'umask 000; exec \"$PATINA\" secrets identity init'",
        b"pass phrase\npass phrase\n",
        false,
    ) {
        assert_eq!(code, 0, "{shown}");
        assert!(shown.contains("age1"), "{shown}");
        assert_private_tree(&w2.home());
        assert_eq!(mode(&w2.home().join("identity.age")), 0o600);
    }
}

#[test]
fn a_writer_killed_mid_write_leaves_the_old_or_the_new_vault() {
    let w = World::new();
    w.add("base", "base-value", &[]);
    let home = Home::at(w.home());
    let id = Identity::parse(w.identity.as_bytes()).unwrap();
    // An add takes a few milliseconds here: the kills land from before it starts to after
    // it ends, in 0.3 ms steps.
    let rounds = 40;
    for round in 0..rounds {
        let mut child = w
            .cmd(&["secrets", "add", "k", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(format!("value-{round}").as_bytes());
        drop(stdin);
        std::thread::sleep(Duration::from_micros(round as u64 * 300));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let v = vault::open(&home, &VaultLocation::Global, &id)
            .unwrap_or_else(|e| panic!("round {round}: {e}"))
            .expect("vault exists");
        assert_eq!(v.get("base").unwrap().expose(), "base-value");
        if let Some(k) = v.get("k") {
            let n: usize = k.expose().strip_prefix("value-").unwrap().parse().unwrap();
            assert!(n <= round);
        }
        vault::list(&home, &VaultLocation::Global).unwrap();
    }
    // And a normal write afterwards still works.
    w.add("after", "after-value", &[]);
}

#[test]
fn concurrent_adds_all_survive() {
    let w = World::new();
    w.add("seed", "seed-value", &[]);
    let rounds = 5;
    let writers = 3;
    for round in 0..rounds {
        let children: Vec<_> = (0..writers)
            .map(|i| {
                let mut c = w.cmd(&["secrets", "add", &format!("n{round}-{i}"), "--stdin"]);
                c.stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                c.spawn().unwrap()
            })
            .collect();
        for (i, mut child) in children.into_iter().enumerate() {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(format!("value-{round}-{i}").as_bytes())
                .unwrap();
            drop(stdin);
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", show(&o));
        }
    }
    let home = Home::at(w.home());
    let id = Identity::parse(w.identity.as_bytes()).unwrap();
    let v = vault::open(&home, &VaultLocation::Global, &id)
        .unwrap()
        .unwrap();
    let listed = vault::list(&home, &VaultLocation::Global).unwrap();
    assert_eq!(listed.len(), rounds * writers + 1);
    for round in 0..rounds {
        for i in 0..writers {
            let got = v.get(&format!("n{round}-{i}")).expect("survived");
            assert_eq!(got.expose(), format!("value-{round}-{i}"));
        }
    }
}

#[test]
fn a_loosened_identity_file_is_refused_named_and_left_alone() {
    let w = World::new();
    std::fs::create_dir(w.home()).unwrap();
    let path = w.home().join("identity.age");
    let id = Identity::generate();
    patina::secrets::identity::write_identity_file(&path, &id, "pw", Some(4)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = w.bare_cmd(&["secrets", "run", "--", "true"]);
    c.env("PATINA_NO_KEYRING", "1");
    let o = run_with_input(c, b"");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
    assert_eq!(mode(&path), 0o644, "never fixed silently");
}
