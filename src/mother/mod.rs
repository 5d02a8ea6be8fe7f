//! mother: the registry of the user's projects and peer daemons (`$PATINA_HOME/mother.json`,
//! 0600) and federated search over all of them ([`federate`]). Depends on [`crate::fsutil`],
//! [`crate::paths`], [`crate::scry`], [`crate::auth::token`] and, for peers, [`crate::client`];
//! knows no socket and no HTTP framing.
//!
//! Every change is a read-modify-write of the registry under an exclusive `flock(2)` on
//! `mother.lock`, written with [`crate::fsutil::write_atomic`], so two `patina mother add`
//! running at once both land and a crash leaves the old or the new file. A peer's bearer
//! token lives in its own file, `auth/peers/NAME.token` (0600), never in the registry, and
//! no listing, error or log line carries it.

pub mod federate;

use crate::auth::token::Token;
use crate::fsutil;
use crate::paths::Home;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The registry file inside `PATINA_HOME`.
pub const REGISTRY_FILE: &str = "mother.json";
/// The lock file serializing registry writers.
pub const LOCK_FILE: &str = "mother.lock";
/// Longest project or peer name: 64 characters (`[a-z0-9][a-z0-9._-]{0,63}`).
pub const MAX_NAME: usize = 64;

/// Why a registry operation failed. Messages never quote the caller's input (a path or a
/// name may be anything an agent pasted); the CLI adds the context it was given.
#[derive(Debug, thiserror::Error)]
pub enum MotherError {
    /// The path does not exist.
    #[error("no such directory")]
    Missing,
    /// The path exists but is not a directory.
    #[error("not a directory (a project is a directory)")]
    NotADirectory,
    /// The path is `PATINA_HOME` or inside it.
    #[error("a project cannot be inside PATINA_HOME (the per-user state directory)")]
    InsideHome,
    /// Not a slug.
    #[error("a name must match [a-z0-9][a-z0-9._-]{{0,63}}")]
    BadName,
    /// The name is taken.
    #[error("that name is already registered (pick another with --name, or remove the old one)")]
    DuplicateName,
    /// The directory is already registered under another name.
    #[error("that directory is already registered, as `{0}`")]
    DuplicatePath(String),
    /// No project (or peer) of that name.
    #[error("no registered project or peer of that name")]
    Unknown,
    /// A peer URL that is not `http://HOST:PORT`.
    #[error("a peer URL must look like http://HOST:PORT")]
    BadUrl,
    /// An empty token.
    #[error("the peer token is empty")]
    EmptyToken,
    /// The registry could not be read or written.
    #[error("the mother registry: {0}")]
    Store(String),
}

/// The registry file's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Registered projects, in the order added.
    #[serde(default)]
    pub projects: Vec<Project>,
    /// Registered peer daemons, in the order added.
    #[serde(default)]
    pub peers: Vec<Peer>,
}

/// A registered project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Its unique slug.
    pub name: String,
    /// Its canonical directory.
    pub path: PathBuf,
    /// When it was added, seconds since the Unix epoch.
    pub added_secs: u64,
}

/// A registered peer daemon, reached over TCP with a bearer token stored apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// Its unique slug (shared with project names: results are attributed by it).
    pub name: String,
    /// `http://HOST:PORT`.
    pub url: String,
}

/// A project as `mother list` and `GET /mother/projects` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub path: String,
    /// Files indexed (markdown and code), when the index can be read.
    pub documents: Option<u64>,
    /// When a scrape last changed the index, seconds since the Unix epoch (the newest
    /// file's hash time, or the index file's modification time).
    pub last_scraped_secs: Option<u64>,
    /// Why the index cannot be read, if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `GET /mother/projects` body and `patina mother list --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    /// Registered projects with their index state.
    pub projects: Vec<ProjectInfo>,
    /// Registered peers (names and URLs; never tokens).
    pub peers: Vec<Peer>,
}

/// True for a valid name: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// A name derived from a directory's last component: lowercased, every other character
/// turned into `-`, leading non-alphanumerics dropped, cut to [`MAX_NAME`]; `project` if
/// nothing is left.
pub fn derive_name(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed: String = mapped
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(MAX_NAME)
        .collect();
    if valid_name(&trimmed) {
        trimmed
    } else {
        "project".to_string()
    }
}

/// `$PATINA_HOME/mother.json`.
pub fn registry_path(home: &Home) -> PathBuf {
    home.root().join(REGISTRY_FILE)
}

/// `$PATINA_HOME/auth/peers/NAME.token` (0600). `name` must be a valid name.
pub fn peer_token_path(home: &Home, name: &str) -> PathBuf {
    home.auth_dir().join("peers").join(format!("{name}.token"))
}

fn store<E: std::fmt::Display>(e: E) -> MotherError {
    MotherError::Store(e.to_string())
}

/// Reads the registry; an absent file is an empty registry. The file must be private.
pub fn load(home: &Home) -> Result<Registry, MotherError> {
    let path = registry_path(home);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::default()),
        Err(e) => return Err(store(format!("{}: {e}", path.display()))),
        Ok(_) => fsutil::check_private_file(&path).map_err(store)?,
    }
    let bytes = std::fs::read(&path).map_err(|e| store(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| store(format!("{} is not a valid registry", path.display())))
}

/// Runs `f` on the registry under the lock and writes the result back atomically if `f`
/// succeeds.
fn update<T>(
    home: &Home,
    f: impl FnOnce(&mut Registry) -> Result<T, MotherError>,
) -> Result<T, MotherError> {
    fsutil::ensure_private_dir(home.root()).map_err(store)?;
    let _lock = fsutil::lock_exclusive(&home.root().join(LOCK_FILE)).map_err(store)?;
    let mut reg = load(home)?;
    let out = f(&mut reg)?;
    let mut bytes = serde_json::to_vec_pretty(&reg).map_err(store)?;
    bytes.push(b'\n');
    fsutil::write_atomic(&registry_path(home), &bytes).map_err(store)?;
    Ok(out)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn name_taken(reg: &Registry, name: &str) -> bool {
    reg.projects.iter().any(|p| p.name == name) || reg.peers.iter().any(|p| p.name == name)
}

/// Registers `dir` under `name` (default: [`derive_name`] of it). The directory is
/// canonicalized; it must exist, be a directory, and lie outside `PATINA_HOME`; the name
/// must be valid and unused by any project or peer; a directory is registered once.
pub fn add_project(home: &Home, dir: &Path, name: Option<&str>) -> Result<Project, MotherError> {
    let path = match std::fs::canonicalize(dir) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(MotherError::Missing),
        Err(e) => return Err(store(e)),
    };
    if !path.is_dir() {
        return Err(MotherError::NotADirectory);
    }
    let home_root =
        std::fs::canonicalize(home.root()).unwrap_or_else(|_| home.root().to_path_buf());
    if path.starts_with(&home_root) {
        return Err(MotherError::InsideHome);
    }
    let name = match name {
        Some(n) => n.to_string(),
        None => derive_name(&path),
    };
    if !valid_name(&name) {
        return Err(MotherError::BadName);
    }
    update(home, |reg| {
        if name_taken(reg, &name) {
            return Err(MotherError::DuplicateName);
        }
        if let Some(p) = reg.projects.iter().find(|p| p.path == path) {
            return Err(MotherError::DuplicatePath(p.name.clone()));
        }
        let p = Project {
            name: name.clone(),
            path: path.clone(),
            added_secs: now_secs(),
        };
        reg.projects.push(p.clone());
        Ok(p)
    })
}

/// Unregisters the project `name` (its directory and index are left alone).
pub fn remove_project(home: &Home, name: &str) -> Result<Project, MotherError> {
    if !valid_name(name) {
        return Err(MotherError::Unknown);
    }
    update(home, |reg| {
        let pos = reg
            .projects
            .iter()
            .position(|p| p.name == name)
            .ok_or(MotherError::Unknown)?;
        Ok(reg.projects.remove(pos))
    })
}

/// Checks a peer URL: `http://HOST:PORT` ([`crate::client::url::DaemonUrl`]) with the port
/// written and nothing after it but an optional `/`.
pub fn valid_peer_url(url: &str) -> bool {
    crate::client::url::DaemonUrl::parse(url).is_ok_and(|u| u.explicit_port)
}

/// Registers a peer daemon and stores its token (0600, in `auth/peers/`). Refuses an invalid
/// or taken name, a bad URL and an empty token.
pub fn add_peer(home: &Home, name: &str, url: &str, token: &Token) -> Result<Peer, MotherError> {
    if !valid_name(name) {
        return Err(MotherError::BadName);
    }
    if !valid_peer_url(url) {
        return Err(MotherError::BadUrl);
    }
    if token.expose().is_empty() {
        return Err(MotherError::EmptyToken);
    }
    update(home, |reg| {
        if name_taken(reg, name) {
            return Err(MotherError::DuplicateName);
        }
        let dir = home.auth_dir().join("peers");
        fsutil::ensure_private_dir(&dir).map_err(store)?;
        let mut text = zeroize::Zeroizing::new(token.expose().as_bytes().to_vec());
        text.push(b'\n');
        fsutil::write_atomic(&peer_token_path(home, name), &text).map_err(store)?;
        let p = Peer {
            name: name.to_string(),
            url: url.trim_end_matches('/').to_string(),
        };
        reg.peers.push(p.clone());
        Ok(p)
    })
}

/// Unregisters a peer and deletes its token file.
pub fn remove_peer(home: &Home, name: &str) -> Result<Peer, MotherError> {
    if !valid_name(name) {
        return Err(MotherError::Unknown);
    }
    update(home, |reg| {
        let pos = reg
            .peers
            .iter()
            .position(|p| p.name == name)
            .ok_or(MotherError::Unknown)?;
        let _ = std::fs::remove_file(peer_token_path(home, name));
        Ok(reg.peers.remove(pos))
    })
}

/// Reads a peer's token file (must be private); `None` if it is missing or unreadable.
pub fn peer_token(home: &Home, name: &str) -> Option<Token> {
    let path = peer_token_path(home, name);
    fsutil::check_private_file(&path).ok()?;
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).ok()?);
    let t = Token::from_text(&text);
    (!t.expose().is_empty()).then_some(t)
}

/// A project's index state: documents indexed and last scrape time, read from its index
/// without opening it for writing.
pub fn project_info(p: &Project) -> ProjectInfo {
    let mut info = ProjectInfo {
        name: p.name.clone(),
        path: p.path.display().to_string(),
        documents: None,
        last_scraped_secs: None,
        error: None,
    };
    if !p.path.is_dir() {
        info.error = Some("the project directory is missing".into());
        return info;
    }
    let db = crate::paths::project_index_path(&p.path);
    let Ok(md) = std::fs::metadata(&db) else {
        info.error = Some("no index yet (run `patina mother scrape`)".into());
        return info;
    };
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let read = rusqlite::Connection::open_with_flags(&db, flags).and_then(|c| {
        c.busy_timeout(crate::scry::BUSY_TIMEOUT)?;
        c.query_row(
            "SELECT count(*), max(scraped_ns) FROM files WHERE status = 'indexed'",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
        )
    });
    match read {
        Ok((n, newest)) => {
            info.documents = u64::try_from(n).ok();
            let mtime = md
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            let hashed = newest.and_then(|ns| u64::try_from(ns / 1_000_000_000).ok());
            info.last_scraped_secs = hashed.max(mtime);
        }
        Err(_) => info.error = Some("the index cannot be read (run `patina mother scrape`)".into()),
    }
    info
}

/// The registry as listed: every project with its index state, and the peers.
pub fn listing(home: &Home) -> Result<Listing, MotherError> {
    let reg = load(home)?;
    Ok(Listing {
        projects: reg.projects.iter().map(project_info).collect(),
        peers: reg.peers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_slugs() {
        for ok in ["a", "0", "my-proj.v2_x", &"a".repeat(64)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "A",
            "a/b",
            "a b",
            "é",
            &"a".repeat(65),
            "a%2f",
            "..",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(derive_name(Path::new("/x/My Project!")), "my-project-");
        assert_eq!(derive_name(Path::new("/x/.hidden")), "hidden");
        assert_eq!(derive_name(Path::new("/")), "project");
    }

    #[test]
    fn peer_urls() {
        assert!(valid_peer_url("http://127.0.0.1:50051"));
        assert!(valid_peer_url("http://host.lan:1/"));
        for bad in [
            "https://h:1",
            "http://h",
            "http://h:x",
            "http://u@h:1",
            "http://h:1/p",
            "http://:1",
        ] {
            assert!(!valid_peer_url(bad), "{bad}");
        }
    }
}
