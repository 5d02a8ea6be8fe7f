//! `patina secrets …` (requirements §7): the vault, identities, and `secrets run`. Thin glue over
//! [`crate::secrets`]; it prints names, environment variables, paths and public keys — never
//! a value (only `identity export`, by explicit request, writes the private key).

use super::Failure;
use crate::paths::Home;
use crate::secrets::{self, Identity, SecretValue, VaultLocation, identity, tty, vault};
use anyhow::Context as _;
use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The `secrets` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum SecretsCmd {
    /// Add or replace a secret (the value is asked on the terminal, or read with --stdin).
    ///
    /// The value is never an argument: arguments stay in shell history and are visible to
    /// every process (`ps`). Type it at the masked prompt, or pipe it:
    ///
    ///   patina secrets add github-token
    ///   pass show github | patina secrets add github-token --stdin
    ///
    /// One trailing newline of stdin is dropped. The secret is exported by `secrets run` as
    /// the environment variable given by --env, by default the name upper-cased with every
    /// other character turned into `_` (github-token → GITHUB_TOKEN). Variables that change
    /// how programs run (LD_*, BASH_ENV, PATH, PYTHON*, NODE_OPTIONS, GIT_*, *_PROXY, …)
    /// are refused. A name that exists is replaced only with --replace:
    ///
    ///   pass show github | patina secrets add github-token --stdin --replace
    #[command(verbatim_doc_comment)]
    Add(AddArgs),
    /// List secret names, their environment variables and vaults (never values).
    ///
    /// Needs no identity: names come from secrets.toml. A project secret overrides a global
    /// one of the same name.
    #[command(after_help = "Examples:\n  patina secrets list\n  patina secrets list --json")]
    List {
        /// Print JSON: {"secrets":[{"name","env","vault"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret.
    #[command(
        after_help = "Examples:\n  patina secrets remove github-token\n  patina secrets remove db-password --project"
    )]
    Remove {
        /// The secret's name.
        name: String,
        /// Remove it from the project vault instead of the global one.
        #[arg(long)]
        project: bool,
    },
    /// Run a command with the secrets in its environment, masking them in its output.
    ///
    ///   patina secrets run -- cargo publish
    ///   patina secrets run -- sh -c 'curl -H "Authorization: Bearer $GITHUB_TOKEN" …'
    ///
    /// Values reach the command only through its environment (never its arguments).
    /// Its stdout and stderr are filtered: every value, and its base64, hex and
    /// percent-encoded forms, becomes `<concealed by patina>` (values shorter than 4 bytes
    /// are not masked); so are the value in any ASCII case (`tr`), reversed (`rev`) or cut
    /// to a part worth 64 bits of guessing (`cut`), its base64 wrapped at 76 columns (GNU
    /// `base64`), its hex wrapped at 60 (`xxd -p`), and hex dump lines that show any of its
    /// bytes (`xxd` and `-g`/`-b`/`-i`, `hexdump`, `hexdump -C`, `od -x`/`-tx1`/`-b`/`-c`).
    /// Output that cannot start a secret passes at once. Stdin is passed
    /// through; SIGINT, SIGTERM and SIGHUP are forwarded. The exit code is the command's
    /// (128 + n if signal n killed it; 127 if it was not found).
    ///
    /// Masking guards against accidents, not against a command that means to leak: output
    /// written to a file, or to any file descriptor other than 1 and 2 (`>&3`, `/dev/tty`),
    /// is NOT masked, nor are transforms other than those above (`base64 -w 20`, `fold`,
    /// escapes).
    #[command(verbatim_doc_comment)]
    Run(RunArgs),
    /// Trust the project vault of the current directory, after showing what it sets.
    ///
    /// A project vault (`.patina/vault.age`, `secrets.toml`, `recipients.txt`) can be
    /// committed to a repository, and anyone who knows your public key can write one. Its
    /// values are released (`secrets run`) only once you trusted it here, in a terminal;
    /// any change of its files makes it untrusted again. Shows the variables it sets and who
    /// else can decrypt it, then asks. A vault you write yourself with
    /// `secrets add --project` in a terminal stays trusted.
    #[command(after_help = "Examples:\n  cd ~/src/app && patina secrets trust")]
    Trust,
    /// Manage who can decrypt a vault (re-encrypts it on every change).
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  patina secrets recipients list --project\n  patina secrets recipients add age1… --project"
    )]
    Recipients(RecipientsCmd),
    /// Create, show, export or import your secrets identity (an age X25519 key).
    ///
    /// patina finds it in PATINA_IDENTITY (CI, headless), else the OS keyring, else
    /// PATINA_HOME/identity.age (encrypted to a passphrase asked on the terminal).
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  patina secrets identity init\n  patina secrets identity recipient"
    )]
    Identity(IdentityCmd),
    /// Report secrets in files (or stdin): known ones by name, and secret-looking tokens.
    ///
    /// Finds private-key blocks, AGE-SECRET-KEY-1…, well-known token prefixes (ghp_,
    /// github_pat_, AKIA, xoxb-, sk-, …) and long high-entropy strings; while a session is
    /// unlocked in the running daemon, also the values of your vaults (by name). Prints
    /// where (file, line, byte offsets) and what kind — never the value. Exit 1 when
    /// something is found, 0 when clean: usable as a pre-commit check:
    ///
    ///   git diff --cached | patina secrets scan
    #[command(
        after_help = "Examples:\n  git diff --cached | patina secrets scan\n  patina secrets scan .env config/*.toml --json"
    )]
    Scan(ScanArgs),
}

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `secrets scan`.")]
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Print {"files":[{"file","findings":[{"kind","name"?,"start","end"}]}]}.
    #[arg(long)]
    pub json: bool,
    /// Files to scan (standard input when none).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// A value typed as an argument. Its content is dropped at parse time: it is never kept,
/// printed or compared.
#[derive(Debug, Clone)]
pub struct RefusedValue;

impl From<OsString> for RefusedValue {
    fn from(v: OsString) -> RefusedValue {
        drop(Zeroizing::new(v.into_encoded_bytes())); // wipe this copy
        RefusedValue
    }
}

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `secrets add`.")]
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The secret's name: 1 to 64 of A-Z a-z 0-9 _ . -
    pub name: String,
    /// The environment variable `secrets run` sets (default: NAME upper-cased, other
    /// characters as `_`).
    #[arg(long, value_name = "VAR")]
    pub env: Option<String>,
    /// Read the value from standard input instead of a masked prompt.
    #[arg(long)]
    pub stdin: bool,
    /// Add it to the project vault (`<project>/.patina/`) instead of the global one.
    #[arg(long)]
    pub project: bool,
    /// Scope: `secrets run` gives this secret only to this command (its first word, or that
    /// word's file name: `--allow deploy.sh` matches `./deploy.sh`). Repeat for several.
    /// Kept inside the encrypted vault. Without it, every command gets the secret (and a
    /// replaced secret keeps its scope). A guard against over-broad release, not against a
    /// hostile program: anything can be named deploy.sh.
    #[arg(long, value_name = "COMMAND")]
    pub allow: Vec<String>,
    /// Store a canary: a value no legitimate command needs, kept as a tripwire. It is never
    /// released; if it is asked for (a `secrets run` of a command in its --allow scope, a
    /// raw /session/env) or seen in any text patina scans (guard, /secrets/scan, scry), patina
    /// locks the session and the scan hold, audits the requesting process chain and alerts
    /// you. Pick a value that looks real, e.g. a fake cloud key.
    #[arg(long)]
    pub canary: bool,
    /// Replace the value of a secret that exists (without it, such a name is refused).
    /// Under `session unlock --confirm`, the confirmation console is asked first.
    #[arg(long)]
    pub replace: bool,
    /// Anything after NAME that is not an option: refused (values are never arguments).
    #[arg(hide = true, num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub refused_value: Vec<RefusedValue>,
}

// Not a `///` comment: clap's derive reads those as the subcommand's `about`, which,
// applied when the deferred subcommand is built, would replace the variant's (`cli::Command`).
#[doc = concat!("Arguments of `secrets run`.")]
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Pass the command's output through unfiltered (values may then be printed).
    #[arg(long)]
    pub no_masking: bool,
    /// The command and its arguments (after `--`).
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `secrets recipients …`.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum RecipientsCmd {
    /// Add a recipient (age1…) and re-encrypt the vault so it can decrypt it.
    ///
    /// A teammate prints theirs with `patina secrets identity recipient`.
    ///
    /// The vault records its recipient list inside itself: a recipient found in
    /// recipients.txt but not in the vault (added by hand, or by someone else) is refused by
    /// every write until you accept it here, which needs your identity.
    #[command(
        after_help = "Examples:\n  patina secrets recipients add \"$(cat teammate.pub)\" --project"
    )]
    Add {
        /// The age X25519 recipient, age1…
        recipient: String,
        /// The project vault instead of the global one.
        #[arg(long)]
        project: bool,
    },
    /// Remove a recipient and re-encrypt the vault without it.
    ///
    /// Copies of the old ciphertext stay readable to it: rotate the values that matter.
    #[command(after_help = "Examples:\n  patina secrets recipients remove age1… --project")]
    Remove {
        /// The age X25519 recipient, age1…
        recipient: String,
        /// The project vault instead of the global one.
        #[arg(long)]
        project: bool,
    },
    /// List the recipients of a vault.
    #[command(
        after_help = "Examples:\n  patina secrets recipients list\n  patina secrets recipients list --project --json"
    )]
    List {
        /// The project vault instead of the global one.
        #[arg(long)]
        project: bool,
        /// Print JSON: {"recipients":[…]}.
        #[arg(long)]
        json: bool,
    },
}

/// `secrets identity …`.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum IdentityCmd {
    /// Create a new identity: stored in the OS keyring if one works, else in
    /// PATINA_HOME/identity.age encrypted to a passphrase. Refuses if one exists.
    #[command(
        after_help = "Examples:\n  patina secrets identity init   # keyring if there is one, else a passphrase file"
    )]
    Init,
    /// Print your public key (age1…), which others add as a recipient of a shared vault.
    #[command(after_help = "Examples:\n  patina secrets identity recipient > me.pub")]
    Recipient,
    /// Write your private key to a new file (0600) or, when it is not a terminal, to stdout.
    ///
    /// For CI: `patina secrets identity export --out key.txt`, then store the file's
    /// content as the secret PATINA_IDENTITY of the CI system.
    #[command(group(clap::ArgGroup::new("dest").required(true).args(["out", "stdout"])))]
    #[command(
        after_help = "Examples:\n  patina secrets identity export --out key.txt\n  patina secrets identity export --stdout | ssh ci 'cat > key.txt'"
    )]
    Export {
        /// A new file to create (an existing one is never overwritten).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write to standard output (refused if it is a terminal).
        #[arg(long)]
        stdout: bool,
    },
    /// Store an identity read from standard input (an age identity file: AGE-SECRET-KEY-1…).
    ///
    ///   patina secrets identity import < key.txt
    ///
    /// When stdin is a terminal, the key is asked for with echo off (paste it, then Enter).
    #[command(
        after_help = "Examples:\n  patina secrets identity import < key.txt\n  age -d key.txt.age | patina secrets identity import"
    )]
    Import,
}

/// Runs a `secrets` subcommand.
pub fn run(cmd: SecretsCmd) -> super::CliResult {
    match cmd {
        SecretsCmd::Add(a) => add(a),
        SecretsCmd::List { json } => list(json),
        SecretsCmd::Remove { name, project } => remove(&name, project),
        SecretsCmd::Run(a) => run_cmd(a),
        SecretsCmd::Trust => trust_cmd(),
        SecretsCmd::Recipients(c) => recipients(c),
        SecretsCmd::Identity(c) => identity_cmd(c),
        SecretsCmd::Scan(a) => scan_cmd(a),
    }
}

/// A secrets-layer error as the CLI reports it: the caller's bad input
/// ([`secrets::Error::Invalid`]) is a usage error (exit 2), anything else an error (exit 1).
fn sec(e: impl Into<secrets::Error>) -> Failure {
    match e.into() {
        secrets::Error::Invalid(bad) => Failure::Usage(bad.0),
        e => e.into(),
    }
}

fn location(home: &Home, project: bool) -> super::CliResult<VaultLocation> {
    if !project {
        return Ok(VaultLocation::Global);
    }
    let cwd = super::project_dir(None)?;
    Ok(VaultLocation::Project(secrets::project_root(home, &cwd)))
}

/// The project whose vault `list` and `run` add to the global one, if it has one.
fn current_project(home: &Home) -> Option<PathBuf> {
    let cwd = super::project_dir(None).ok()?;
    Some(secrets::project_root(home, &cwd))
}

fn add(a: AddArgs) -> super::CliResult {
    if !a.refused_value.is_empty() {
        return Err(super::usage(
            "a secret value is never taken as an argument (it would stay in your shell history \
             and be visible in `ps`); run `patina secrets add NAME` to type it at a masked \
             prompt, or pipe it: `… | patina secrets add NAME --stdin`",
        ));
    }
    secrets::validate_name(&a.name).map_err(sec)?;
    vault::validate_scope(&a.allow).map_err(sec)?;
    if let Some(e) = &a.env {
        secrets::validate_env_var(e).map_err(sec)?;
    }
    let home = Home::from_env()?;
    let loc = location(&home, a.project)?;
    // While a session is unlocked, the daemon adds it with the identity it holds: no
    // identity is resolved here (a passphrase identity needs a terminal; issue 15).
    let client = crate::client::Client::for_home(&home);
    let (added_env, replaced, recorded, short, weak) = if session_is_unlocked(&client)? {
        let value = read_value(&a.name, a.stdin)?;
        let short = value.len() < secrets::mask::MIN_MASKED_LEN;
        let weak = secrets::scan::weakness(value.as_bytes());
        let project = project_field(&loc);
        let mut body = Zeroizing::new(Vec::with_capacity(value.len() + 256));
        // The value is borrowed: written straight into the zeroized buffer.
        serde_json::to_writer(
            &mut *body,
            &crate::api::session::AddRequest {
                name: a.name.clone(),
                env: a.env.clone(),
                value: value.expose(),
                project,
                allow: a.allow.clone(),
                canary: a.canary,
                replace: a.replace,
                keep_trust: tty::has_terminal(),
            },
        )?;
        drop(value);
        let reply = client.request("POST", "/secrets/add", Some(&body))?;
        drop(body);
        ensure!(reply.status == 200, "{}", reply.error_message());
        let r: crate::api::session::AddResponse = reply.json()?;
        (r.env, r.replaced, r.recorded_recipients, short, weak)
    } else {
        let id = identity_to_change(&home, &loc, "adding")?;
        let value = read_value(&a.name, a.stdin)?;
        let short = value.len() < secrets::mask::MIN_MASKED_LEN;
        let weak = secrets::scan::weakness(value.as_bytes());
        let trusted_before = match &loc {
            VaultLocation::Project(p) => matches!(
                secrets::trust::check(&home, p, &id).map_err(sec)?,
                secrets::trust::Trust::NoVault | secrets::trust::Trust::Trusted
            ),
            VaultLocation::Global => false,
        };
        let added = vault::add(
            &home,
            &loc,
            &id,
            &a.name,
            a.env.as_deref(),
            value,
            a.replace,
        )
        .map_err(sec)?;
        if !a.allow.is_empty() {
            vault::set_scope(&home, &loc, &id, &a.name, &a.allow).map_err(sec)?;
        }
        if a.canary {
            vault::set_canary(&home, &loc, &id, &a.name, true)?;
        }
        // The user's own project vault, written in a terminal, stays trusted.
        if let VaultLocation::Project(p) = &loc
            && trusted_before
            && tty::has_terminal()
        {
            secrets::trust::record(&home, p, &id).map_err(sec)?;
        }
        (
            added.env,
            added.replaced,
            added.recorded_recipients,
            short,
            weak,
        )
    };
    outln!(
        "{} {}{} (env {}) in the {} vault",
        if replaced { "replaced" } else { "added" },
        if a.canary { "canary " } else { "" },
        a.name,
        added_env,
        loc.kind()
    );
    if replaced {
        eprintln!(
            "patina: note: the previous value of {} is gone (recorded as `replace` in the audit log)",
            a.name
        );
    }
    if let Some(n) = recorded {
        eprintln!(
            "patina: note: the {} vault now records its {n} recipient(s) inside it; from now on \
             a recipient added to recipients.txt by hand is refused until you accept it with \
             `patina secrets recipients add`",
            loc.kind()
        );
    }
    // A canary may be weak: a guess of it trips.
    if let Some(why) = weak.filter(|_| !a.canary) {
        eprintln!(
            "patina: warning: the value of {} is weak ({why}): anything that tells whether a \
             text contains a stored value (the guard, secrets scan, scry's redaction) lets a \
             guesser confirm a guess of it, so a word list can find it; prefer a long random \
             value (e.g. 20+ characters from a password manager)",
            a.name
        );
    }
    if short {
        eprintln!(
            "patina: note: values shorter than {} bytes are not masked by `secrets run`",
            secrets::mask::MIN_MASKED_LEN
        );
    }
    Ok(())
}

/// A request body's `project`: `None` for the global vault, else the project's root.
fn project_field(loc: &VaultLocation) -> Option<String> {
    match loc {
        VaultLocation::Global => None,
        VaultLocation::Project(p) => Some(p.to_string_lossy().into_owned()),
    }
}

/// The identity resolved here to change the vault at `loc` (no session unlocked), or one
/// line saying why it is needed and what to do instead. `doing`: "adding", "removing".
fn identity_to_change(home: &Home, loc: &VaultLocation, doing: &str) -> anyhow::Result<Identity> {
    identity::resolve(home).map_err(|e| {
        let why = if loc.vault_path(home).exists() {
            format!(
                "{doing} a secret re-encrypts the {} vault, which needs your identity to read the secrets it holds",
                loc.kind()
            )
        } else {
            // The first secret creates the vault, encrypted to the identity's recipient.
            format!(
                "the first secret creates the {} vault, encrypted to your identity, so it needs your identity once",
                loc.kind()
            )
        };
        anyhow::anyhow!(
            "{why}; unlock a session (`patina session unlock`) or: {}",
            crate::text::one_line(&e)
        )
    })
}

/// Whether the daemon holds an unlocked session. No daemon, or one that cannot answer, is
/// `false` (the command works without it); a listener that is not a patina daemon (or one
/// of a replaced binary) is an error: the user meant to talk to their daemon, and an
/// impostor at the socket is worth stopping for (QA session 8, H1).
fn session_is_unlocked(client: &crate::client::Client) -> super::CliResult<bool> {
    use crate::client::ClientError;
    match client.get("/session") {
        Ok(r) => Ok(r.status == 200
            && r.json::<serde_json::Value>()
                .is_ok_and(|v| v["unlocked"] == true)),
        Err(e @ (ClientError::NotPatina { .. } | ClientError::Replaced { .. })) => Err(e.into()),
        Err(_) => Ok(false),
    }
}

fn read_value(name: &str, from_stdin: bool) -> super::CliResult<SecretValue> {
    let mut bytes = if from_stdin {
        let mut buf = Zeroizing::new(Vec::with_capacity(secrets::MAX_VALUE_LEN + 2));
        std::io::stdin()
            .lock()
            .take(secrets::MAX_VALUE_LEN as u64 + 2)
            .read_to_end(&mut buf)
            .context("reading the value from stdin")?;
        buf
    } else {
        if !tty::has_terminal() {
            bail!(
                "there is no terminal to ask for the value; pipe it with --stdin: \
                 `… | patina secrets add NAME --stdin`"
            );
        }
        let v = tty::prompt_hidden(&format!("Value for {name}: "), secrets::MAX_VALUE_LEN)?;
        Zeroizing::new(v.as_bytes().to_vec())
    };
    if bytes.ends_with(b"\r\n") {
        let n = bytes.len() - 2;
        bytes.truncate(n);
    } else if bytes.ends_with(b"\n") {
        let n = bytes.len() - 1;
        bytes.truncate(n);
    }
    SecretValue::from_bytes(bytes).map_err(sec)
}

#[derive(serde::Serialize)]
struct ListItem<'a> {
    name: &'a str,
    env: &'a str,
    vault: &'static str,
}

fn list(json: bool) -> super::CliResult {
    let home = Home::from_env()?;
    let mut items: Vec<(vault::Listed, &'static str)> = Vec::new();
    let global = vault::list(&home, &VaultLocation::Global).map_err(sec)?;
    let project = match current_project(&home) {
        Some(p) => vault::list(&home, &VaultLocation::Project(p)).map_err(sec)?,
        None => Vec::new(),
    };
    for g in global {
        if !project.iter().any(|p| p.name == g.name) {
            items.push((g, "global"));
        }
    }
    for p in project {
        items.push((p, "project"));
    }
    items.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    if json {
        let secrets: Vec<ListItem> = items
            .iter()
            .map(|(l, v)| ListItem {
                name: &l.name,
                env: &l.env,
                vault: v,
            })
            .collect();
        outln!("{}", serde_json::json!({ "secrets": secrets }));
        return Ok(());
    }
    if items.is_empty() {
        outln!("no secrets yet; add one with `patina secrets add NAME`");
        return Ok(());
    }
    let w_name = items
        .iter()
        .map(|i| i.0.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let w_env = items
        .iter()
        .map(|i| i.0.env.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let mut out = super::stdout();
    writeln!(out, "{:w_name$}  {:w_env$}  VAULT", "NAME", "ENV VAR")?;
    for (l, v) in &items {
        writeln!(out, "{:w_name$}  {:w_env$}  {v}", l.name, l.env)?;
    }
    Ok(())
}

fn remove(name: &str, project: bool) -> super::CliResult {
    secrets::validate_name(name).map_err(sec)?;
    let home = Home::from_env()?;
    let loc = location(&home, project)?;
    // While a session is unlocked, the daemon removes it with the identity it holds (as
    // `secrets add` does): no identity is resolved here.
    let client = crate::client::Client::for_home(&home);
    if session_is_unlocked(&client)? {
        let body = serde_json::to_vec(&crate::api::session::RemoveRequest {
            name: name.to_string(),
            project: project_field(&loc),
        })?;
        let reply = client.request("POST", "/secrets/remove", Some(&body))?;
        ensure!(reply.status == 200, "{}", reply.error_message());
    } else {
        let id = identity_to_change(&home, &loc, "removing")?;
        vault::remove(&home, &loc, &id, name).map_err(sec)?;
    }
    outln!("removed {name} from the {} vault", loc.kind());
    Ok(())
}

fn run_cmd(a: RunArgs) -> super::CliResult {
    let home = Home::from_env()?;
    if crate::tripwire::pending(&home).is_some() {
        bail!(
            "patina is locked by a tripwire; nothing was run (the user must read the alert and run `patina session unlock --ack-canary`)"
        );
    }
    let project = current_project(&home);
    // An unlocked session in the daemon gives the values; else the identity is resolved here.
    let program = a.command[0].to_string_lossy().into_owned();
    let (env, names, via) = match env_from_session(&home, project.as_deref(), &program)? {
        Some((env, names)) => (env, names, "session"),
        None => {
            let id = identity::resolve(&home).map_err(|e| {
                // A daemon runs but released nothing (locked, scan-only): say how to have it
                // release the values, not only how to provide an identity here.
                let hint = if crate::client::Client::for_home(&home).is_running() {
                    "; or have the running daemon release them: `patina session unlock` (a `--scan-only` session releases none)"
                } else {
                    ""
                };
                match sec(e) {
                    Failure::Usage(m) => Failure::Usage(m + hint),
                    Failure::Error(e) => {
                        Failure::Error(anyhow::anyhow!("{}{hint}", super::one_line(&e)))
                    }
                    Failure::Verdict(m) => Failure::Verdict(m + hint),
                }
            })?;
            if let Some(p) = &project {
                secrets::trust::require(&home, p, &id).map_err(sec)?;
            }
            let env = secrets::env_map(&home, project.as_deref(), &id).map_err(sec)?;
            if let Some(p) = &project {
                // Changed while it was read: refused like an untrusted vault.
                secrets::trust::require(&home, p, &id).map_err(sec)?;
            }
            drop(id);
            // A canary in this command's scope is never released: nothing runs, and the trip
            // is recorded (no daemon runs here, so there is no session to lock).
            let env = match env.release_for(Some(&program)) {
                Ok(env) => env,
                Err(canaries) => {
                    let rec = crate::tripwire::record_with(
                        &home,
                        crate::tripwire::Kind::Canary,
                        canaries,
                        "secrets run",
                        Some(std::process::id()),
                        false,
                    );
                    match rec.unwritten {
                        None => bail!("{}; nothing was run", rec.alert.message()),
                        Some(e) => bail!(
                            "{}; nothing was run; the alert file could not be written ({e}), free space and read the audit log",
                            rec.alert.message()
                        ),
                    }
                }
            };
            let names = env.entries().iter().map(|e| e.name.clone()).collect();
            (env, names, "identity")
        }
    };
    // No variable that changes how programs run reaches the child, whichever way the
    // values came (QA session 9, H3).
    env.refuse_dangerous().map_err(sec)?;
    // From here this process holds decrypted values for the child's whole life: no core
    // dump and no same-uid /proc/PID/mem for it (like the daemon; the child, after exec, is
    // dumpable again as usual). Not earlier: the daemon's peer check reads our /proc entry.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    // The child gets the core limit the user had (an identity resolved here lowered ours).
    identity::restore_core_limit();
    crate::audit::record(
        &home,
        &crate::audit::Event::now("run", Some(std::process::id()))
            .names(names)
            .vaults([via.to_string()]),
    );
    match secrets::run::run_child(&a.command, &env, !a.no_masking) {
        Ok(code) => {
            drop(env);
            let _ = std::io::stdout().flush();
            std::process::exit(code);
        }
        Err(secrets::Error::Spawn(se)) => {
            eprintln!("patina: {se}");
            std::process::exit(se.code);
        }
        Err(e) => Err(sec(e)),
    }
}

/// The environment from the daemon's unlocked session (`POST /session/env`) and the names of
/// the secrets in it, or `None` when no daemon runs, it is locked, or it refuses (then the
/// caller resolves the identity).
///
/// A release refused at the confirmation console (`session unlock --confirm`) is an error,
/// not a reason to fall back to the identity.
fn env_from_session(
    home: &Home,
    project: Option<&std::path::Path>,
    program: &str,
) -> super::CliResult<Option<(secrets::EnvMap, Vec<String>)>> {
    use crate::api::session::{EnvRequest, EnvResponse};
    let client = crate::client::Client::for_home(home);
    let req = EnvRequest {
        project: project.map(|p| p.to_string_lossy().into_owned()),
        program: Some(program.to_string()),
    };
    // The confirmation console may take its time: wait past its longest timeout.
    let client = client
        .with_timeout(crate::session::MAX_CONFIRM_TIMEOUT + std::time::Duration::from_secs(5));
    let Ok(mut reply) = client.post_json("/session/env", &req) else {
        return Ok(None);
    };
    let body = Zeroizing::new(std::mem::take(&mut reply.body));
    if reply.status == 403 {
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        if msg.contains("confirmation console") {
            bail!(
                "{msg}; nothing was run (the user who ran `patina session unlock --confirm` decides)"
            );
        }
    }
    if reply.status == 409 {
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        if msg.contains("tripwire") {
            // Never fall back to the identity after a trip: nothing runs.
            bail!("{msg}; nothing was run");
        }
    }
    if reply.status == 400 && {
        let t = String::from_utf8_lossy(&body);
        t.contains("patina secrets trust") || t.contains("changes how programs run")
    } {
        // A refusal of the vault's content (an untrusted project vault, a variable that
        // changes how programs run): the same vault read with the identity would be refused
        // too, so say it now instead of asking for the identity.
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        bail!("{msg}");
    }
    if reply.status != 200 {
        return Ok(None);
    }
    let Ok(resp) = serde_json::from_slice::<EnvResponse>(&body) else {
        return Ok(None);
    };
    let EnvResponse { env, names } = resp;
    let entries = env
        .into_iter()
        .map(|(var, value)| secrets::EnvEntry {
            name: var.clone(),
            env: var,
            vault: "session",
            scope: Vec::new(),
            canary: false,
            value: SecretValue::from_string(value),
        })
        .collect();
    Ok(Some((secrets::EnvMap::from_entries(entries), names)))
}

/// `secrets trust`: shows the current project's vault (its variables, its recipients) and,
/// when the user answers yes at the terminal, records it as trusted ([`secrets::trust`]).
/// Refused without a terminal: an agent's tool call has none.
fn trust_cmd() -> super::CliResult {
    use secrets::trust::{self, Trust};
    let home = Home::from_env()?;
    let Some(project) = current_project(&home) else {
        bail!("the current directory cannot be read; cd into the project first");
    };
    let loc = VaultLocation::Project(project.clone());
    let Some(digest) = trust::files_digest(&project).map_err(sec)? else {
        outln!(
            "{} holds no project vault; nothing to trust",
            project.display()
        );
        return Ok(());
    };
    if !tty::has_terminal() {
        bail!(
            "trusting a project vault needs a terminal (you are asked to confirm what it sets);              run `patina secrets trust` yourself in {}",
            project.display()
        );
    }
    let vars = vault::list(&home, &loc).map_err(sec)?;
    let recipients = vault::recipients(&home, &loc).map_err(sec)?;
    let mut out = super::stdout();
    writeln!(
        out,
        "project vault: {}",
        crate::paths::project_state_dir(&project).display()
    )?;
    writeln!(out, "it sets these variables for `patina secrets run`:")?;
    for v in &vars {
        let refused = secrets::env_policy::refused(&v.env)
            .map(|_| "   <- refused: changes how programs run")
            .unwrap_or("");
        writeln!(out, "  {}  (secret {}){refused}", v.env, v.name)?;
    }
    if vars.is_empty() {
        writeln!(out, "  (none)")?;
    }
    writeln!(
        out,
        "it is encrypted to (anyone holding one of these identities wrote or can write it):"
    )?;
    for r in &recipients {
        writeln!(out, "  {r}  {}", vault::recipient_fingerprint(r))?;
    }
    out.flush()?;
    drop(out);
    let answer = tty::prompt_hidden("Trust this project vault? [y/N] ", 16)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("not trusted; `patina secrets run` here keeps refusing this vault");
    }
    let id = identity::resolve(&home).map_err(sec)?;
    // The files shown are the files trusted: a change while the user looked is refused.
    if trust::files_digest(&project).map_err(sec)? != Some(digest) {
        bail!(
            "the vault's files changed while you looked; nothing was trusted: run `patina secrets trust` again"
        );
    }
    if trust::check(&home, &project, &id).map_err(sec)? == Trust::Trusted {
        outln!("already trusted");
        return Ok(());
    }
    trust::record(&home, &project, &id).map_err(sec)?;
    crate::audit::record(
        &home,
        &crate::audit::Event::now("trust", Some(std::process::id()))
            .names(vars.iter().map(|v| v.name.clone())),
    );
    outln!(
        "trusted the project vault of {} (a change of its files will need a new trust)",
        project.display()
    );
    Ok(())
}

#[derive(serde::Serialize)]
struct ScannedFile {
    file: String,
    findings: Vec<secrets::scan::Finding>,
}

fn scan_cmd(a: ScanArgs) -> super::CliResult {
    let home = Home::from_env()?;
    let client = crate::client::Client::for_home(&home);
    let mut inputs: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
    if a.files.is_empty() {
        let mut buf = Zeroizing::new(Vec::new());
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        inputs.push(("-".into(), buf));
    }
    for f in &a.files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        inputs.push((f.display().to_string(), Zeroizing::new(bytes)));
    }
    let mut report = Vec::new();
    for (name, bytes) in &inputs {
        let findings = match scan_via_daemon(&client, bytes) {
            Some(f) => f,
            None => secrets::scan::report(bytes, &[]),
        };
        report.push(ScannedFile {
            file: name.clone(),
            findings,
        });
    }
    let total: usize = report.iter().map(|r| r.findings.len()).sum();
    let verdict = (total > 0).then(|| {
        Failure::Verdict(format!(
            "found {total} secret{} (names and offsets above; values are never printed)",
            if total == 1 { "" } else { "s" }
        ))
    });
    // A closed stdout ends the listing, not the verdict.
    let listed = print_scan(&report, &inputs, a.json);
    match (verdict, listed) {
        (Some(v), _) => Err(v),
        (None, r) => r,
    }
}

/// Writes `secrets scan`'s findings: JSON, or one `FILE:LINE: KIND [NAME] (bytes A..B)` line
/// each.
fn print_scan(
    report: &[ScannedFile],
    inputs: &[(String, Zeroizing<Vec<u8>>)],
    json: bool,
) -> super::CliResult {
    let mut out = super::stdout();
    if json {
        serde_json::to_writer(&mut out, &serde_json::json!({ "files": report }))?;
        writeln!(out)?;
    } else {
        for (r, (_, bytes)) in report.iter().zip(inputs) {
            for f in &r.findings {
                let line = 1 + bytes[..f.start.min(bytes.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                let what = match &f.name {
                    Some(n) => format!("{} {n}", f.kind),
                    None => f.kind.clone(),
                };
                writeln!(
                    out,
                    "{}:{line}: {what} (bytes {}..{})",
                    r.file, f.start, f.end
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Findings from the daemon (which also knows the values of an unlocked session), if one
/// runs and the text fits in a request (UTF-8, under the body limit).
fn scan_via_daemon(
    client: &crate::client::Client,
    bytes: &[u8],
) -> Option<Vec<secrets::scan::Finding>> {
    let text = std::str::from_utf8(bytes).ok()?;
    // JSON escaping can double the size; stay well under the 1 MiB body limit.
    if text.len() > 400 * 1024 {
        return None;
    }
    let mut body = Zeroizing::new(Vec::with_capacity(text.len() + 32));
    serde_json::to_writer(&mut *body, &crate::api::session::ScanRequest { text }).ok()?;
    let reply = client.request("POST", "/secrets/scan", Some(&body)).ok()?;
    if reply.status != 200 {
        return None;
    }
    let r: crate::api::session::ScanResponse = reply.json().ok()?;
    Some(r.findings)
}

fn recipients(c: RecipientsCmd) -> super::CliResult {
    let home = Home::from_env()?;
    match c {
        RecipientsCmd::Add { recipient, project } => {
            vault::parse_recipient(&recipient).map_err(sec)?;
            let loc = location(&home, project)?;
            let id = identity::resolve(&home).map_err(sec)?;
            if vault::add_recipient(&home, &loc, &id, &recipient).map_err(sec)? {
                outln!(
                    "added the recipient to the {} vault and re-encrypted it",
                    loc.kind()
                );
            } else {
                outln!("already a recipient of the {} vault", loc.kind());
            }
        }
        RecipientsCmd::Remove { recipient, project } => {
            vault::parse_recipient(&recipient).map_err(sec)?;
            let loc = location(&home, project)?;
            let id = identity::resolve(&home).map_err(sec)?;
            if vault::remove_recipient(&home, &loc, &id, &recipient).map_err(sec)? {
                outln!(
                    "removed the recipient from the {} vault and re-encrypted it \
                     (copies it already has stay readable to it: rotate what matters)",
                    loc.kind()
                );
            } else {
                outln!(
                    "not a recipient of the {} vault; nothing changed",
                    loc.kind()
                );
            }
        }
        RecipientsCmd::List { project, json } => {
            let loc = location(&home, project)?;
            let list = vault::recipients(&home, &loc).map_err(sec)?;
            if json {
                outln!("{}", serde_json::json!({ "recipients": list }));
            } else if list.is_empty() {
                outln!("the {} vault has no recipients yet", loc.kind());
            } else {
                for r in list {
                    outln!("{r}");
                }
            }
        }
    }
    Ok(())
}

fn identity_cmd(c: IdentityCmd) -> super::CliResult {
    let home = Home::from_env()?;
    match c {
        IdentityCmd::Init => {
            refuse_env_identity()?;
            let id = Identity::generate();
            let stored = identity::store(&home, &id, identity::ask_new_passphrase).map_err(sec)?;
            outln!("created a secrets identity, stored in {stored}");
            outln!(
                "public key (others add it as a recipient): {}",
                id.recipient()
            );
        }
        IdentityCmd::Recipient => {
            outln!("{}", identity::resolve(&home).map_err(sec)?.recipient());
        }
        IdentityCmd::Export { out, stdout } => {
            if stdout && std::io::stdout().is_terminal() {
                bail!(
                    "refusing to print a private key to a terminal (it would stay in the \
                     scrollback); use --out FILE, or redirect stdout"
                );
            }
            // Refuse an existing --out before asking for a passphrase.
            if let Some(p) = &out
                && std::fs::symlink_metadata(p).is_ok()
            {
                bail!(
                    "{} already exists; patina never overwrites a key file",
                    p.display()
                );
            }
            let id = identity::resolve(&home).map_err(sec)?;
            let text = id.to_file_text();
            match out {
                Some(p) => {
                    identity::write_new_private_file(&p, text.as_bytes()).map_err(sec)?;
                    eprintln!("wrote the identity to {} (mode 0600)", p.display());
                }
                None => {
                    let mut o = super::stdout();
                    o.write_all(text.as_bytes())?;
                    o.flush()?;
                }
            }
        }
        IdentityCmd::Import => {
            refuse_env_identity()?;
            let buf = if std::io::stdin().is_terminal() {
                // Pasted by hand: read it like a passphrase, so it is not echoed.
                let line = tty::prompt_hidden(
                    "Paste the identity (AGE-SECRET-KEY-1…): ",
                    identity::MAX_IDENTITY_TEXT,
                )?;
                Zeroizing::new(line.as_bytes().to_vec())
            } else {
                let mut buf = Zeroizing::new(Vec::with_capacity(identity::MAX_IDENTITY_TEXT + 1));
                std::io::stdin()
                    .lock()
                    .take(identity::MAX_IDENTITY_TEXT as u64 + 1)
                    .read_to_end(&mut buf)
                    .context("reading the identity from stdin")?;
                buf
            };
            ensure!(
                buf.len() <= identity::MAX_IDENTITY_TEXT,
                "the input is longer than {} bytes; not an identity file",
                identity::MAX_IDENTITY_TEXT
            );
            let id = Identity::parse(&buf).map_err(|e| anyhow::anyhow!("stdin: {e}"))?;
            let stored = identity::store(&home, &id, identity::ask_new_passphrase).map_err(sec)?;
            outln!("imported the identity, stored in {stored}");
            outln!("public key: {}", id.recipient());
        }
    }
    Ok(())
}

fn refuse_env_identity() -> super::CliResult {
    if std::env::var_os(identity::IDENTITY_ENV).is_some_and(|v| !v.is_empty()) {
        bail!(
            "{} is set and takes precedence over a stored identity; unset it first",
            identity::IDENTITY_ENV
        );
    }
    Ok(())
}
