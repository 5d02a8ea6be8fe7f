//! A project vault shared by a team: encrypted to every recipient, re-encrypted when one is
//! removed; the project vault overrides the global one by name.

use crate::common::secrets as secrets_common;

use patina::paths::Home;
use patina::secrets::{self, Identity, SecretValue, VaultLocation, vault};
use secrets_common::*;
use zeroize::Zeroizing;

fn value(s: &str) -> SecretValue {
    SecretValue::from_bytes(Zeroizing::new(s.as_bytes().to_vec())).unwrap()
}

#[test]
fn two_recipients_decrypt_a_project_vault_until_one_is_removed() {
    let t = tempfile::tempdir().unwrap();
    let home = Home::at(t.path().join("home"));
    let project = t.path().join("proj");
    std::fs::create_dir_all(project.join("layer")).unwrap();
    let loc = VaultLocation::Project(project.clone());
    let (alice, bob) = (Identity::generate(), Identity::generate());

    vault::add(&home, &loc, &alice, "db", None, value("db-password"), false).unwrap();
    // Bob is not a recipient yet; the error tells him what to ask for.
    let e = vault::open(&home, &loc, &bob).unwrap_err().to_string();
    assert!(
        e.contains(&bob.recipient()) && e.contains("--project"),
        "{e}"
    );

    assert!(vault::add_recipient(&home, &loc, &alice, &bob.recipient()).unwrap());
    assert!(!vault::add_recipient(&home, &loc, &alice, &bob.recipient()).unwrap());
    assert_eq!(
        vault::recipients(&home, &loc).unwrap(),
        [alice.recipient(), bob.recipient()],
        "the first recipient is the creator's own"
    );
    for who in [&alice, &bob] {
        let v = vault::open(&home, &loc, who).unwrap().unwrap();
        assert_eq!(v.get("db").unwrap().expose(), "db-password");
    }
    // Bob can write too, and Alice still reads it.
    vault::add(&home, &loc, &bob, "api", None, value("api-key-1"), false).unwrap();
    let v = vault::open(&home, &loc, &alice).unwrap().unwrap();
    assert_eq!(v.get("api").unwrap().expose(), "api-key-1");

    assert!(vault::remove_recipient(&home, &loc, &alice, &bob.recipient()).unwrap());
    assert!(
        vault::open(&home, &loc, &bob).is_err(),
        "bob can no longer decrypt"
    );
    let v = vault::open(&home, &loc, &alice).unwrap().unwrap();
    assert_eq!(v.names().collect::<Vec<_>>(), ["api", "db"]);

    // One's own recipient cannot be removed; a bad one is a usage error that quotes nothing.
    let e = vault::remove_recipient(&home, &loc, &alice, &alice.recipient()).unwrap_err();
    assert!(matches!(e, patina::secrets::Error::Invalid(_)), "{e}");
    let e = vault::add_recipient(&home, &loc, &alice, CANARY).unwrap_err();
    assert!(matches!(e, patina::secrets::Error::Invalid(_)), "{e}");
    assert!(!e.to_string().contains(CANARY));
    assert!(
        !home.root().exists(),
        "a project vault leaves PATINA_HOME alone"
    );
}

#[test]
fn the_project_vault_overrides_the_global_one_by_name() {
    let t = tempfile::tempdir().unwrap();
    let home = Home::at(t.path().join("home"));
    let project = t.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let id = Identity::generate();
    let g = VaultLocation::Global;
    let p = VaultLocation::Project(project.clone());
    vault::add(&home, &g, &id, "token", None, value("global-token"), false).unwrap();
    vault::add(&home, &g, &id, "only-global", None, value("gggg"), false).unwrap();
    vault::add(
        &home,
        &p,
        &id,
        "token",
        Some("TOKEN"),
        value("project-token"),
        false,
    )
    .unwrap();
    let env = secrets::env_map(&home, Some(&project), &id).unwrap();
    let got: Vec<(&str, &str, &str)> = env
        .entries()
        .iter()
        .map(|e| (e.env.as_str(), e.vault, e.value.expose()))
        .collect();
    assert_eq!(
        got,
        [
            ("ONLY_GLOBAL", "global", "gggg"),
            ("TOKEN", "project", "project-token")
        ]
    );
    assert!(!format!("{env:?}").contains("token-"), "Debug hides values");
    let env = secrets::env_map(&home, None, &id).unwrap();
    assert_eq!(env.entries().len(), 2);
}

#[test]
fn recipients_commands_from_the_cli() {
    let w = World::new();
    let project = w.work().join("proj");
    std::fs::create_dir_all(project.join("layer/core")).unwrap();
    let other = Identity::generate().recipient();
    let mine = String::from_utf8(w.run(&["secrets", "identity", "recipient"], b"").stdout).unwrap();
    let mine = mine.trim();
    assert!(mine.starts_with("age1"));

    let mut c = w.cmd(&["secrets", "recipients", "add", &other, "--project"]);
    c.current_dir(project.join("layer/core"));
    let o = run_with_input(c, b"");
    assert!(o.status.success(), "{}", show(&o));
    let mut c = w.cmd(&["secrets", "recipients", "list", "--project", "--json"]);
    c.current_dir(&project);
    let o = run_with_input(c, b"");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["recipients"], serde_json::json!([mine, other]));
    assert!(project.join(".patina/recipients.txt").is_file());

    let o = w.run(&["secrets", "recipients", "remove", "age1notakey"], b"");
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let o = w.run(&["secrets", "recipients", "list"], b"");
    assert!(o.status.success());
}
