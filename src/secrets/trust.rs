//! Project vaults are trusted on first use, like `direnv allow` (QA session 9, H4). Depends on
//! [`crate::fsutil`], [`crate::paths`] and the `hmac`/`hkdf`/`sha2` crates.
//!
//! A project vault is three files in `<project>/.patina/`, which `.patina/.gitignore` lets git
//! commit. Anyone who knows the user's public age key (it is meant to be shared) can write one
//! into a repository, and a same-uid agent can write one into the working tree; its variables
//! then reach the user's `secrets run` beside every global secret. So no project value is
//! released (`secrets run`, `POST /session/env`) until the user has trusted the vault
//! (`patina secrets trust`, in a terminal, after seeing its variables and recipients), and a
//! change of any of its files makes it untrusted again.
//!
//! The record is `PATINA_HOME/trusted-projects.json` (0600, [`fsutil::write_atomic`] under
//! `trusted-projects.lock`): `{"version":1,"projects":{"<canonical project path>":"<tag>"}}`,
//! the tag being the hex HMAC-SHA256 (RFC 2104) of the path and the SHA-256 of the three files
//! ([`files_digest`]), under a key derived with HKDF-SHA256 (RFC 5869) from the identity's
//! secret. A same-uid process can delete the record (the vault is then refused, which is safe)
//! but cannot forge one for a vault it planted without the identity.

use super::identity::Identity;
use super::{Error, Result};
use crate::fsutil;
use crate::paths::{self, Home};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The files of a project vault that the trust record covers, in hashing order.
pub const VAULT_FILES: [&str; 3] = ["vault.age", "secrets.toml", "recipients.txt"];

/// The record's file name in `PATINA_HOME`.
pub const RECORD_FILE: &str = "trusted-projects.json";

/// The largest record file read (a path and 64 hex digits per project).
const MAX_RECORD: u64 = 4 * 1024 * 1024;

/// Whether a project's vault may release its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The project has no vault files at all: nothing to trust.
    NoVault,
    /// Trusted as its files are now.
    Trusted,
    /// Never trusted.
    Untrusted,
    /// Trusted once, changed since.
    Changed,
}

/// The record on disk.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Record {
    version: u32,
    projects: BTreeMap<String, String>,
}

fn record_path(home: &Home) -> PathBuf {
    home.root().join(RECORD_FILE)
}

/// The canonical form of a project's root, the record's key (the path itself when it cannot
/// be resolved).
pub fn canonical(project: &Path) -> PathBuf {
    std::fs::canonicalize(project).unwrap_or_else(|_| project.to_path_buf())
}

/// SHA-256 over the project vault's files ([`VAULT_FILES`]): for each, its name, then `0` for
/// an absent file or `1`, its length (u64, big-endian) and its bytes. `None` when none of the
/// files exists. Errors name the file that could not be read.
pub fn files_digest(project: &Path) -> Result<Option<[u8; 32]>> {
    let dir = paths::project_state_dir(project);
    let mut h = Sha256::new();
    let mut any = false;
    for name in VAULT_FILES {
        let path = dir.join(name);
        h.update(name.as_bytes());
        match std::fs::File::open(&path) {
            Ok(f) => {
                any = true;
                let mut buf = Vec::new();
                f.take(super::vault::MAX_VAULT_FILE + 1)
                    .read_to_end(&mut buf)
                    .map_err(Error::io(&path))?;
                h.update([1u8]);
                h.update((buf.len() as u64).to_be_bytes());
                h.update(&buf);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => h.update([0u8]),
            Err(e) => return Err(Error::io(&path)(e)),
        }
    }
    Ok(any.then(|| h.finalize().into()))
}

/// The record's tag for `project` (canonical) whose files hash to `digest`.
fn tag(identity: &Identity, project: &Path, digest: &[u8; 32]) -> String {
    let secret = identity.expose_secret_text();
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"patina trusted project vault"), secret.as_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(b"v1", &mut *key)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&*key).expect("HMAC takes any key length");
    m.update(project.as_os_str().as_encoded_bytes());
    m.update(&[0]);
    m.update(digest);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read_record(home: &Home) -> Result<Record> {
    let path = record_path(home);
    let bytes = match std::fs::File::open(&path) {
        Ok(f) => {
            let mut buf = Vec::new();
            f.take(MAX_RECORD + 1)
                .read_to_end(&mut buf)
                .map_err(Error::io(&path))?;
            buf
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Record::default()),
        Err(e) => return Err(Error::io(&path)(e)),
    };
    if bytes.len() as u64 > MAX_RECORD {
        return Err(Error::corrupt(
            &path,
            "too large; not a patina trust record",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::corrupt(
            &path,
            format!(
                "not a patina trust record (line {}); delete it and trust your projects again",
                e.line()
            ),
        )
    })
}

/// Whether `project`'s vault is trusted as its files are now, checked with `identity`.
pub fn check(home: &Home, project: &Path, identity: &Identity) -> Result<Trust> {
    let project = canonical(project);
    if super::is_home_dir(home, &paths::project_state_dir(&project)) {
        // PATINA_HOME itself, as `~/.patina` is for `~`: the global vault, never a project's.
        return Ok(Trust::NoVault);
    }
    let Some(digest) = files_digest(&project)? else {
        return Ok(Trust::NoVault);
    };
    let rec = read_record(home)?;
    let key = project.to_string_lossy();
    Ok(match rec.projects.get(key.as_ref()) {
        None => Trust::Untrusted,
        Some(t) => {
            let want = tag(identity, &project, &digest);
            if constant_eq(t.as_bytes(), want.as_bytes()) {
                Trust::Trusted
            } else {
                Trust::Changed
            }
        }
    })
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// [`check`] as a refusal: `Ok` when the project has no vault or a trusted one, else
/// [`Error::Refused`] with one line naming the project and `patina secrets trust`.
pub fn require(home: &Home, project: &Path, identity: &Identity) -> Result<()> {
    let why = match check(home, project, identity)? {
        Trust::NoVault | Trust::Trusted => return Ok(()),
        Trust::Untrusted => "you have not trusted it",
        Trust::Changed => "its files changed since you trusted it",
    };
    Err(Error::Refused(format!(
        "the project vault in {} is not trusted ({why}); nothing was released: check who wrote \
         it, then run `patina secrets trust` there in a terminal",
        paths::project_state_dir(&canonical(project)).display()
    )))
}

/// Records `project`'s vault as trusted as its files are now (no-op without vault files).
/// Written atomically (0600) under an exclusive lock.
pub fn record(home: &Home, project: &Path, identity: &Identity) -> Result<()> {
    let project = canonical(project);
    let Some(digest) = files_digest(&project)? else {
        return Ok(());
    };
    fsutil::ensure_private_dir(home.root())?;
    let _lock = fsutil::lock_exclusive(&home.root().join("trusted-projects.lock"))?;
    let mut rec = read_record(home)?;
    rec.version = 1;
    rec.projects.insert(
        project.to_string_lossy().into_owned(),
        tag(identity, &project, &digest),
    );
    let text = serde_json::to_vec_pretty(&rec).map_err(|e| Error::Refused(e.to_string()))?;
    fsutil::write_atomic(&record_path(home), &text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_until_a_file_changes_and_cannot_be_made_without_the_identity() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::at(t.path().join("home"));
        let proj = t.path().join("p");
        let state = paths::project_state_dir(&proj);
        std::fs::create_dir_all(&state).unwrap();
        let (me, other) = (Identity::generate(), Identity::generate());
        assert_eq!(check(&home, &proj, &me).unwrap(), Trust::NoVault);
        std::fs::write(state.join("secrets.toml"), "\"a\" = \"A\"\n").unwrap();
        assert_eq!(check(&home, &proj, &me).unwrap(), Trust::Untrusted);
        require(&home, &proj, &me).unwrap_err();
        // Recorded with another identity: not trusted for mine.
        record(&home, &proj, &other).unwrap();
        assert_eq!(check(&home, &proj, &me).unwrap(), Trust::Changed);
        record(&home, &proj, &me).unwrap();
        assert_eq!(check(&home, &proj, &me).unwrap(), Trust::Trusted);
        require(&home, &proj, &me).unwrap();
        std::fs::write(state.join("secrets.toml"), "\"a\" = \"B\"\n").unwrap();
        assert_eq!(check(&home, &proj, &me).unwrap(), Trust::Changed);
        // A new file counts as a change too.
        record(&home, &proj, &me).unwrap();
        std::fs::write(state.join("recipients.txt"), "").unwrap();
        assert_eq!(check(&home, &proj, &me).unwrap(), Trust::Changed);
    }
}
