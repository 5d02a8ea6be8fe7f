//! Vaults of named secrets (requirements §3). A vault is three files in one directory:
//!
//! | file | content | written |
//! |---|---|---|
//! | `vault.age` | age ciphertext (binary) of the plaintext below, encrypted to every recipient | 0600, atomically |
//! | `secrets.toml` | `"name" = "ENV_VAR"` lines (see `map_file`): no values | 0600, atomically |
//! | `recipients.txt` | one age X25519 recipient (`age1…`) per line; `#` comments | 0600, atomically |
//!
//! The plaintext inside `vault.age` is one JSON object:
//! `{"patina_vault":1,"secrets":{"NAME":"VALUE",…},"recipients":["age1…",…]}` — version 1 of
//! the format; values are UTF-8 without NUL. It only ever exists in `Zeroizing` buffers.
//!
//! `recipients` (added by issue 16; absent from older vaults) is the list the vault was last
//! encrypted to, authenticated by the vault itself: only a holder of an identity can change
//! it. Every write compares `recipients.txt` with it and refuses a recipient that appears in
//! the file but not in the vault (someone appended it behind patina's back), naming it by
//! fingerprint and how to accept it (`patina secrets recipients add`, which needs the
//! identity). A recipient removed from the file is dropped (that takes nobody's access away
//! that a holder could not). A vault without the field records the file's list at its first
//! write (trust on first use; the CLI says so).
//!
//! The global vault lives in `PATINA_HOME`; a project vault in `<project>/.patina/`, and
//! overrides the global one by name. Directories are created 0700.
//!
//! Writers hold an exclusive `flock` on `vault.lock` (next to the vault) around every
//! read-modify-write, and replace each file with [`fsutil::write_atomic`], so a crash leaves
//! every file old or new, never torn. Between files the order is chosen so that an
//! interrupted write is harmless and heals on the next one:
//! - adding a secret writes `secrets.toml` first, then `vault.age` (a name may be listed
//!   without a value — skipped by `secrets run` — but a value is never unlisted);
//! - removing one writes `vault.age` first, then `secrets.toml`;
//! - adding a recipient re-encrypts `vault.age` (recording the new list) first, then writes
//!   `recipients.txt`; removing one writes `recipients.txt` first, then re-encrypts: the file
//!   never lists a recipient the vault does not record (which the next write would refuse).
//!
//! A vault that cannot be decrypted is never written over: every change decrypts first,
//! and any error stops before the first write. Errors name the file and never quote content.

use super::{
    Error, InvalidInput, Result, SecretValue, default_env_var, identity::Identity, is_home_dir,
    map_file, validate_env_var, validate_name,
};
use crate::fsutil;
use crate::paths::{self, Home};
use age::x25519::Recipient;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The vault plaintext format version written (`"patina_vault": 1`).
pub const FORMAT_VERSION: u32 = 1;

/// The largest `vault.age` read (far beyond any real vault: values are at most 64 KiB).
pub const MAX_VAULT_FILE: u64 = 64 * 1024 * 1024;

/// Which vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultLocation {
    /// `PATINA_HOME/{vault.age, secrets.toml, recipients.txt}`.
    Global,
    /// `<project>/.patina/{vault.age, secrets.toml, recipients.txt}`; the path is the
    /// project's root.
    Project(PathBuf),
}

impl VaultLocation {
    /// The directory holding the vault's files.
    pub fn dir(&self, home: &Home) -> PathBuf {
        match self {
            VaultLocation::Global => home.root().to_path_buf(),
            VaultLocation::Project(p) => paths::project_state_dir(p),
        }
    }

    /// `vault.age`.
    pub fn vault_path(&self, home: &Home) -> PathBuf {
        match self {
            VaultLocation::Global => home.vault_path(),
            VaultLocation::Project(_) => self.dir(home).join("vault.age"),
        }
    }

    /// `secrets.toml`.
    pub fn map_path(&self, home: &Home) -> PathBuf {
        match self {
            VaultLocation::Global => home.secrets_map_path(),
            VaultLocation::Project(_) => self.dir(home).join("secrets.toml"),
        }
    }

    /// `recipients.txt`.
    pub fn recipients_path(&self, home: &Home) -> PathBuf {
        match self {
            VaultLocation::Global => home.recipients_path(),
            VaultLocation::Project(_) => self.dir(home).join("recipients.txt"),
        }
    }

    /// `vault.lock`: the file writers `flock`.
    pub fn lock_path(&self, home: &Home) -> PathBuf {
        self.dir(home).join("vault.lock")
    }

    /// `"global"` or `"project"`.
    pub fn kind(&self) -> &'static str {
        match self {
            VaultLocation::Global => "global",
            VaultLocation::Project(_) => "project",
        }
    }

    fn flag(&self) -> &'static str {
        match self {
            VaultLocation::Global => "",
            VaultLocation::Project(_) => " --project",
        }
    }

    /// A project "vault" whose directory is `PATINA_HOME` itself is refused: it would be the
    /// global vault under another name.
    fn check(&self, home: &Home) -> Result<()> {
        if matches!(self, VaultLocation::Project(_)) && is_home_dir(home, &self.dir(home)) {
            return Err(Error::Refused(
                "the project's .patina directory is PATINA_HOME itself; run this from inside \
                 a project (a directory with .patina/ or layer/)"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// A decrypted vault: names and values. `Debug` shows the file and the names only.
pub struct Vault {
    path: PathBuf,
    secrets: BTreeMap<String, SecretValue>,
    scopes: Scopes,
    canaries: Canaries,
}

/// Per-secret scope (issue 16): secret name → the commands that may receive it from
/// `secrets run` (a program name, matched against the command's first word or its file
/// name). A secret without an entry goes to every command. Kept inside the encrypted vault,
/// so only a holder of an identity can widen it.
pub type Scopes = BTreeMap<String, Vec<String>>;

/// The names of the vault's canary secrets (issue 20): values no legitimate command needs,
/// stored as tripwires (`secrets add NAME --canary`). Kept inside the encrypted vault beside
/// [`Scopes`], so only a holder of an identity can unmark one.
pub type Canaries = std::collections::BTreeSet<String>;

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("names", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Vault {
    /// The scope of secret `name` ([`Scopes`]): the commands it may go to; `None` for every
    /// command.
    pub fn scope(&self, name: &str) -> Option<&[String]> {
        self.scopes.get(name).map(Vec::as_slice)
    }

    /// Whether secret `name` is a canary ([`Canaries`]).
    pub fn is_canary(&self, name: &str) -> bool {
        self.canaries.contains(name)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names it holds, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&SecretValue> {
        self.secrets.get(name)
    }

    /// Moves the value of `name` out.
    pub fn take(&mut self, name: &str) -> Option<SecretValue> {
        self.secrets.remove(name)
    }
}

/// One line of `secrets list`: a name and its environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The secret's name.
    pub name: String,
    /// The environment variable `secrets run` sets.
    pub env: String,
}

/// A name that is in no vault.
#[derive(Debug, thiserror::Error)]
#[error("there is no secret of that name in the {0} vault (`patina secrets list` shows them)")]
pub struct NotFound(pub &'static str);

/// The names and environment variables of a vault, from `secrets.toml` (no identity needed).
/// A vault that does not exist lists nothing.
pub fn list(home: &Home, loc: &VaultLocation) -> Result<Vec<Listed>> {
    if loc.check(home).is_err() {
        return Ok(Vec::new());
    }
    Ok(map_file::read(&loc.map_path(home))?
        .into_iter()
        .map(|(name, env)| Listed { name, env })
        .collect())
}

/// Decrypts a vault; `None` if it has no `vault.age`.
pub fn open(home: &Home, loc: &VaultLocation, identity: &Identity) -> Result<Option<Vault>> {
    loc.check(home)?;
    let path = loc.vault_path(home);
    Ok(decrypt(&path, identity, loc)?.map(|o| Vault {
        path,
        secrets: o.secrets,
        scopes: o.scopes,
        canaries: o.canaries,
    }))
}

/// What [`add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The environment variable the secret is exported as.
    pub env: String,
    /// Whether a secret of that name was replaced.
    pub replaced: bool,
    /// The vault did not yet record its recipient list (written by an older patina); this
    /// write recorded the current `recipients.txt` in it. The number of recipients recorded.
    pub recorded_recipients: Option<usize>,
}

/// The short fingerprint of a recipient, shown in errors: `SHA256:` and the first 16 hex
/// digits of the SHA-256 of its `age1…` text (the style of `ssh-keygen -l`).
pub fn recipient_fingerprint(r: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(r.as_bytes());
    let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{hex}")
}

/// Adds secret `name`, or replaces its value when `replace` is true. `env` defaults to the
/// name's existing variable, else [`default_env_var`]. A new vault is encrypted to the
/// identity's own recipient first.
///
/// Refused before any write: a variable that changes how programs run
/// ([`super::env_policy::refused`], an [`InvalidInput`]), and a name the vault already holds
/// without `replace` ([`Error::Refused`]: replacing a value must be asked for, QA session 9
/// H3).
pub fn add(
    home: &Home,
    loc: &VaultLocation,
    identity: &Identity,
    name: &str,
    env: Option<&str>,
    value: SecretValue,
    replace: bool,
) -> Result<Added> {
    validate_name(name)?;
    if let Some(e) = env {
        validate_env_var(e)?;
    }
    let _lock = lock(home, loc)?;
    let mut st = load_for_write(home, loc, identity, None)?;
    st.ensure_self(identity)?;
    let env = env
        .map(str::to_string)
        .or_else(|| st.map.get(name).cloned())
        .unwrap_or_else(|| default_env_var(name));
    if let Some(why) = super::env_policy::refused(&env) {
        return Err(InvalidInput(super::env_policy::message(&env, why, name)).into());
    }
    if st.map.iter().any(|(n, e)| n != name && *e == env) {
        return Err(InvalidInput(format!(
            "that environment variable is already set by another secret of the {} vault; \
             choose another with --env",
            loc.kind()
        ))
        .into());
    }
    let replaced = st.map.contains_key(name) || st.secrets.contains_key(name);
    if replaced && !replace {
        return Err(Error::Refused(format!(
            "the {} vault already has a secret named {name}; to replace its value, run the \
             same command with --replace",
            loc.kind()
        )));
    }
    st.map.insert(name.to_string(), env.clone());
    st.secrets.insert(name.to_string(), value);
    if st.recipients_file_is_new {
        st.write_recipients()?;
    }
    st.write_map()?;
    st.write_vault()?;
    let recorded_recipients = st.migrating.then_some(st.recipients.len());
    Ok(Added {
        env,
        replaced,
        recorded_recipients,
    })
}

/// Checks scope entries: each a program name or path, 1 to 256 bytes, without whitespace or
/// control characters.
pub fn validate_scope(allow: &[String]) -> Result<(), InvalidInput> {
    for a in allow {
        if a.is_empty() || a.len() > 256 || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidInput(
                "--allow takes a program name or path (no spaces), e.g. --allow deploy.sh".into(),
            ));
        }
    }
    Ok(())
}

/// Sets the scope of secret `name` ([`Scopes`]): the commands that may receive it from
/// `secrets run`; an empty list removes the scope (every command). [`NotFound`] if the vault
/// has no such secret. Each entry is a program name or path without whitespace.
pub fn set_scope(
    home: &Home,
    loc: &VaultLocation,
    identity: &Identity,
    name: &str,
    allow: &[String],
) -> Result<()> {
    validate_name(name)?;
    validate_scope(allow)?;
    let _lock = lock(home, loc)?;
    let mut st = load_for_write(home, loc, identity, None)?;
    st.ensure_self(identity)?;
    if !st.secrets.contains_key(name) {
        return Err(NotFound(loc.kind()).into());
    }
    if allow.is_empty() {
        st.scopes.remove(name);
    } else {
        st.scopes.insert(name.to_string(), allow.to_vec());
    }
    st.write_vault()
}

/// Marks secret `name` as a canary ([`Canaries`]) or unmarks it. [`NotFound`] if the vault has
/// no such secret.
pub fn set_canary(
    home: &Home,
    loc: &VaultLocation,
    identity: &Identity,
    name: &str,
    canary: bool,
) -> Result<()> {
    validate_name(name)?;
    let _lock = lock(home, loc)?;
    let mut st = load_for_write(home, loc, identity, None)?;
    st.ensure_self(identity)?;
    if !st.secrets.contains_key(name) {
        return Err(NotFound(loc.kind()).into());
    }
    if canary {
        st.canaries.insert(name.to_string());
    } else {
        st.canaries.remove(name);
    }
    st.write_vault()
}

/// Removes secret `name`; [`NotFound`] if the vault has no such name.
pub fn remove(home: &Home, loc: &VaultLocation, identity: &Identity, name: &str) -> Result<()> {
    validate_name(name)?;
    let _lock = lock(home, loc)?;
    let mut st = load_for_write(home, loc, identity, None)?;
    let listed = st.map.remove(name).is_some();
    let stored = st.secrets.remove(name).is_some();
    if !listed && !stored {
        return Err(NotFound(loc.kind()).into());
    }
    if stored {
        st.ensure_self(identity)?;
        st.write_vault()?;
    }
    st.write_map()?;
    Ok(())
}

/// The recipients a vault is encrypted to (`age1…`), in file order; empty if none yet.
pub fn recipients(home: &Home, loc: &VaultLocation) -> Result<Vec<String>> {
    loc.check(home)?;
    Ok(read_recipients(&loc.recipients_path(home))?
        .unwrap_or_default()
        .iter()
        .map(Recipient::to_string)
        .collect())
}

/// Parses a recipient given by a user. The error does not quote it (it might be a secret key
/// pasted by mistake).
pub fn parse_recipient(s: &str) -> Result<Recipient, InvalidInput> {
    s.trim().parse::<Recipient>().map_err(|_| {
        InvalidInput(
            "that is not an age X25519 recipient (age1…; `patina secrets identity recipient` \
             prints yours)"
                .into(),
        )
    })
}

/// Adds a recipient and re-encrypts the vault to the new list. `false` if it was listed.
pub fn add_recipient(
    home: &Home,
    loc: &VaultLocation,
    identity: &Identity,
    recipient: &str,
) -> Result<bool> {
    let r = parse_recipient(recipient)?;
    let _lock = lock(home, loc)?;
    // Naming a recipient here is how the user accepts one found in the file but not in the
    // vault: it is the one recipient the comparison lets through.
    let mut st = load_for_write(home, loc, identity, Some(&r))?;
    let recorded = st
        .recorded
        .as_ref()
        .is_some_and(|rec| rec.contains(&r.to_string()));
    let added = !st.recipients.contains(&r);
    if added {
        st.recipients.push(r);
    }
    if !added && !st.recipients_file_is_new && recorded {
        return Ok(false);
    }
    st.save_recipients(identity, true)?;
    // Listed in the file but not yet in the vault: accepting it is a change too.
    Ok(added || !recorded)
}

/// Removes a recipient and re-encrypts the vault so it can no longer decrypt the new
/// ciphertext (copies it already has stay readable to it: rotate the values that matter).
/// Refuses to remove the identity's own recipient. `false` if it was not listed.
pub fn remove_recipient(
    home: &Home,
    loc: &VaultLocation,
    identity: &Identity,
    recipient: &str,
) -> Result<bool> {
    let r = parse_recipient(recipient)?;
    if r.to_string() == identity.recipient() {
        return Err(InvalidInput(
            "that is your own identity's recipient; removing it would lock you out of the vault"
                .into(),
        )
        .into());
    }
    let _lock = lock(home, loc)?;
    let mut st = load_for_write(home, loc, identity, None)?;
    let before = st.recipients.len();
    st.recipients.retain(|x| *x != r);
    if st.recipients.len() == before {
        return Ok(false);
    }
    st.save_recipients(identity, false)?;
    Ok(true)
}

fn lock(home: &Home, loc: &VaultLocation) -> Result<std::fs::File> {
    loc.check(home)?;
    fsutil::ensure_private_dir(&loc.dir(home))?;
    Ok(fsutil::lock_exclusive(&loc.lock_path(home))?)
}

/// Everything a write needs, read under the lock.
struct WriteState<'a> {
    home: &'a Home,
    loc: &'a VaultLocation,
    recipients: Vec<Recipient>,
    recipients_file_is_new: bool,
    vault_exists: bool,
    secrets: BTreeMap<String, SecretValue>,
    map: BTreeMap<String, String>,
    /// The recipient list recorded inside the vault (`None`: an older vault, or none yet).
    recorded: Option<Vec<String>>,
    /// An existing vault without a recorded list: this write records it.
    migrating: bool,
    /// The per-secret scopes recorded inside the vault.
    scopes: Scopes,
    /// The canary secrets recorded inside the vault.
    canaries: Canaries,
}

/// Reads everything a write needs and authenticates `recipients.txt` against the list
/// recorded inside the vault: a recipient in the file that the vault does not record is
/// refused, unless it is `accept` (the one `recipients add` names).
fn load_for_write<'a>(
    home: &'a Home,
    loc: &'a VaultLocation,
    identity: &Identity,
    accept: Option<&Recipient>,
) -> Result<WriteState<'a>> {
    let vault_path = loc.vault_path(home);
    let rpath = loc.recipients_path(home);
    let opened = decrypt(&vault_path, identity, loc)?;
    let vault_exists = opened.is_some();
    let (secrets, recorded, scopes, canaries) = match opened {
        Some(o) => (Some(o.secrets), o.recipients, o.scopes, o.canaries),
        None => (None, None, Scopes::new(), Canaries::new()),
    };
    let (recipients, recipients_file_is_new) = match read_recipients(&rpath)? {
        Some(r) => (r, false),
        None if !vault_exists => (vec![identity.age().to_public()], true),
        None => {
            return Err(Error::Refused(format!(
                "{} exists but {} is missing; patina will not guess whom to encrypt to \
                 (restore it, one age1… recipient per line)",
                vault_path.display(),
                rpath.display()
            )));
        }
    };
    // Whom the vault may be encrypted to without asking: those it records, or, for a new
    // vault, the identity alone. A recipients.txt written before the first secret (by a
    // same-uid agent, say, with its own key beside the user's) must not get that secret.
    let me = identity.age().to_public().to_string();
    let trusted = match &recorded {
        Some(rec) => Some(rec.clone()),
        None if !vault_exists => Some(vec![me]),
        None => None,
    };
    if let Some(rec) = &trusted {
        for r in &recipients {
            let text = r.to_string();
            if !rec.contains(&text) && accept != Some(r) {
                return Err(Error::Refused(format!(
                    "{} lists a recipient this vault was not encrypted to ({}): it was added \
                     outside patina, and patina will not encrypt your secrets to it; if you \
                     added it, accept it with `patina secrets recipients add {text}{}` (needs \
                     your identity), otherwise delete that line",
                    rpath.display(),
                    recipient_fingerprint(&text),
                    loc.flag()
                )));
            }
        }
    }
    Ok(WriteState {
        home,
        loc,
        recipients,
        recipients_file_is_new,
        vault_exists,
        secrets: secrets.unwrap_or_default(),
        map: map_file::read(&loc.map_path(home))?,
        migrating: vault_exists && recorded.is_none(),
        recorded,
        scopes,
        canaries,
    })
}

impl WriteState<'_> {
    /// After the recipient list changed: checks the identity can still decrypt, writes
    /// `recipients.txt`, then re-encrypts the vault (if there is one) to the new list.
    ///
    /// The order keeps a crash between the two files harmless, because the file may list
    /// fewer recipients than the vault records but never one it does not: when recipients
    /// are added (`grown`), the vault (recording the new list) is written first; when they
    /// are removed, `recipients.txt` first.
    fn save_recipients(&self, identity: &Identity, grown: bool) -> Result<()> {
        self.ensure_self(identity)?;
        if grown && self.vault_exists {
            self.write_vault()?;
            return self.write_recipients();
        }
        self.write_recipients()?;
        if self.vault_exists {
            self.write_vault()?;
        }
        Ok(())
    }

    /// Refuses a write that would encrypt the vault to a list without the writer's own
    /// recipient (it would lock them out).
    fn ensure_self(&self, identity: &Identity) -> Result<()> {
        let me = identity.age().to_public();
        if !self.recipients.contains(&me) {
            return Err(Error::Refused(format!(
                "your identity's recipient is not listed in {}: writing the vault would lock you \
                 out; add it with `patina secrets recipients add {}{}`",
                self.loc.recipients_path(self.home).display(),
                me,
                self.loc.flag()
            )));
        }
        if self.recipients.is_empty() {
            return Err(Error::Refused(
                "a vault needs at least one recipient".into(),
            ));
        }
        Ok(())
    }

    fn write_recipients(&self) -> Result<()> {
        let mut s = String::from(
            "# age recipients of this patina vault, one per line.\n\
             # Edit with `patina secrets recipients add|remove`, which re-encrypts the vault.\n",
        );
        for r in &self.recipients {
            s.push_str(&r.to_string());
            s.push('\n');
        }
        fsutil::write_atomic(&self.loc.recipients_path(self.home), s.as_bytes())?;
        Ok(())
    }

    fn write_map(&self) -> Result<()> {
        let text = map_file::render(&self.map);
        fsutil::write_atomic(&self.loc.map_path(self.home), text.as_bytes())?;
        Ok(())
    }

    fn write_vault(&self) -> Result<()> {
        let ciphertext = encrypt(
            &self.secrets,
            &self.recipients,
            &self.scopes,
            &self.canaries,
        )?;
        fsutil::write_atomic(&self.loc.vault_path(self.home), &ciphertext)?;
        Ok(())
    }
}

/// Reads `recipients.txt`; `None` if it does not exist. Errors give the line number only.
fn read_recipients(path: &Path) -> Result<Option<Vec<Recipient>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path)(e)),
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::corrupt(path, "not UTF-8 text"))?;
    let mut out: Vec<Recipient> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let r = line.parse::<Recipient>().map_err(|_| {
            Error::corrupt(
                path,
                format!("line {} is not an age X25519 recipient (age1…)", i + 1),
            )
        })?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(Some(out))
}

#[derive(Serialize)]
struct PlainOut<'a> {
    patina_vault: u32,
    secrets: BTreeMap<&'a str, ValueOut<'a>>,
    /// The recipients this ciphertext is encrypted to, authenticated by the vault itself.
    recipients: Vec<String>,
    /// Per-secret scopes ([`Scopes`]); absent when none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    scopes: Scopes,
    /// Canary secrets ([`Canaries`]); absent when none.
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    canaries: Canaries,
}

struct ValueOut<'a>(&'a SecretValue);

impl Serialize for ValueOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}

#[derive(Deserialize)]
struct PlainIn {
    patina_vault: u32,
    secrets: BTreeMap<String, ValueIn>,
    /// Absent in vaults written before issue 16.
    #[serde(default)]
    recipients: Option<Vec<String>>,
    #[serde(default)]
    scopes: Scopes,
    /// Absent in vaults written before issue 20, and when there is none.
    #[serde(default)]
    canaries: Canaries,
}

struct ValueIn(SecretValue);

impl<'de> Deserialize<'de> for ValueIn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| ValueIn(SecretValue::from_string(s)))
    }
}

fn encrypt(
    secrets: &BTreeMap<String, SecretValue>,
    recipients: &[Recipient],
    scopes: &Scopes,
    canaries: &Canaries,
) -> Result<Vec<u8>> {
    let doc = PlainOut {
        patina_vault: FORMAT_VERSION,
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.as_str(), ValueOut(v)))
            .collect(),
        recipients: recipients.iter().map(ToString::to_string).collect(),
        scopes: scopes
            .iter()
            .filter(|(n, _)| secrets.contains_key(*n))
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect(),
        canaries: canaries
            .iter()
            .filter(|n| secrets.contains_key(*n))
            .cloned()
            .collect(),
    };
    // Sized so that serde_json never reallocates (a value escapes to at most 6 bytes per
    // byte), leaving no unzeroized copy of the plaintext behind.
    let cap = 64
        + 80 * recipients.len()
        + canaries.iter().map(|n| 6 * n.len() + 4).sum::<usize>()
        + 16
        + scopes
            .iter()
            .map(|(n, c)| 8 + 6 * n.len() + c.iter().map(|x| 6 * x.len() + 4).sum::<usize>())
            .sum::<usize>()
        + secrets
            .iter()
            .map(|(k, v)| k.len() + 6 * v.len() + 8)
            .sum::<usize>();
    let mut plain = Zeroizing::new(Vec::with_capacity(cap));
    let failed = |why: String| Error::Encrypt {
        what: "the vault",
        why,
    };
    serde_json::to_writer(&mut *plain, &doc).map_err(|e| failed(e.to_string()))?;
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| failed(e.to_string()))?;
    let mut out = Vec::with_capacity(plain.len() + 512 + 200 * recipients.len());
    let mut w = encryptor
        .wrap_output(&mut out)
        .map_err(|e| failed(e.to_string()))?;
    w.write_all(&plain).map_err(|e| failed(e.to_string()))?;
    w.finish().map_err(|e| failed(e.to_string()))?;
    Ok(out)
}

/// What a decrypted vault holds.
struct Opened {
    secrets: BTreeMap<String, SecretValue>,
    /// The recipient list recorded inside it (if any).
    recipients: Option<Vec<String>>,
    scopes: Scopes,
    canaries: Canaries,
}

/// Decrypts the vault at `path`; `None` if the file does not exist.
fn decrypt(path: &Path, identity: &Identity, loc: &VaultLocation) -> Result<Option<Opened>> {
    let ciphertext = match std::fs::File::open(path) {
        Ok(f) => {
            let mut buf = Vec::new();
            f.take(MAX_VAULT_FILE + 1)
                .read_to_end(&mut buf)
                .map_err(Error::io(path))?;
            if buf.len() as u64 > MAX_VAULT_FILE {
                return Err(Error::corrupt(
                    path,
                    format!("larger than {MAX_VAULT_FILE} bytes; not a patina vault"),
                ));
            }
            buf
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path)(e)),
    };
    let untouched = "patina left it untouched";
    let corrupt = || {
        Error::corrupt(
            path,
            format!("corrupt or tampered with (decryption failed); {untouched}"),
        )
    };
    let decryptor = age::Decryptor::new(&ciphertext[..])
        .map_err(|_| Error::corrupt(path, format!("not an age file (corrupt?); {untouched}")))?;
    let mut reader = decryptor
        .decrypt(std::iter::once(identity.age() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::NotARecipient {
                path: path.to_path_buf(),
                recipient: identity.recipient(),
                flag: loc.flag(),
            },
            _ => corrupt(),
        })?;
    let mut plain = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader.read_to_end(&mut plain).map_err(|_| corrupt())?;
    let doc: PlainIn = serde_json::from_slice(&plain).map_err(|e| {
        Error::corrupt(
            path,
            format!(
                "decrypted, but the content is not a patina vault (at line {}, column {}); {untouched}",
                e.line(),
                e.column()
            ),
        )
    })?;
    if doc.patina_vault != FORMAT_VERSION {
        return Err(Error::corrupt(
            path,
            format!(
                "vault format version {} is not one this patina reads ({FORMAT_VERSION}); {untouched}",
                doc.patina_vault
            ),
        ));
    }
    Ok(Some(Opened {
        secrets: doc.secrets.into_iter().map(|(k, v)| (k, v.0)).collect(),
        recipients: doc.recipients,
        scopes: doc.scopes,
        canaries: doc.canaries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> SecretValue {
        SecretValue::from_bytes(Zeroizing::new(s.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn add_list_open_remove() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::at(t.path().join("home"));
        let id = Identity::generate();
        let g = VaultLocation::Global;
        let a = add(&home, &g, &id, "api.key", None, value("s3cr3t-one"), false).unwrap();
        assert_eq!(
            a,
            Added {
                env: "API_KEY".into(),
                replaced: false,
                recorded_recipients: None,
            }
        );
        let e = add(&home, &g, &id, "api.key", None, value("s3cr3t-two"), false).unwrap_err();
        assert!(e.to_string().contains("--replace"), "{e}");
        let a = add(&home, &g, &id, "api.key", None, value("s3cr3t-two"), true).unwrap();
        assert!(a.replaced);
        add(&home, &g, &id, "b", Some("B_VAR"), value("bbbb"), false).unwrap();
        let names: Vec<_> = list(&home, &g)
            .unwrap()
            .into_iter()
            .map(|l| l.env)
            .collect();
        assert_eq!(names, ["API_KEY", "B_VAR"]);
        let v = open(&home, &g, &id).unwrap().unwrap();
        assert_eq!(v.get("api.key").unwrap().expose(), "s3cr3t-two");
        assert_eq!(recipients(&home, &g).unwrap(), [id.recipient()]);
        remove(&home, &g, &id, "api.key").unwrap();
        let e = remove(&home, &g, &id, "api.key").unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        assert_eq!(open(&home, &g, &id).unwrap().unwrap().names().count(), 1);
        // An env var already used by another secret of the vault is refused.
        let e = add(&home, &g, &id, "c", Some("B_VAR"), value("cccc"), false).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
    }

    #[test]
    fn a_vault_that_cannot_be_decrypted_is_never_overwritten() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::at(t.path().join("home"));
        let (me, other) = (Identity::generate(), Identity::generate());
        let g = VaultLocation::Global;
        add(&home, &g, &me, "a", None, value("aaaa"), false).unwrap();
        let before = std::fs::read(home.vault_path()).unwrap();
        let e = add(&home, &g, &other, "b", None, value("bbbb"), false).unwrap_err();
        assert!(
            e.to_string().contains("not one of this vault's recipients"),
            "{e}"
        );
        let mut broken = before.clone();
        let n = broken.len();
        broken[n - 5] ^= 0x55;
        std::fs::write(home.vault_path(), &broken).unwrap();
        let e = add(&home, &g, &me, "b", None, value("bbbb"), false).unwrap_err();
        assert!(e.to_string().contains("untouched"), "{e}");
        assert_eq!(std::fs::read(home.vault_path()).unwrap(), broken);
    }
}
