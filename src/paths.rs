//! The `PATINA_HOME` layout (requirements §3) and where a project keeps its index.
//! Depends on nothing but std: it names paths, it creates nothing.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the per-user state directory (default `~/.patina`).
pub const HOME_ENV: &str = "PATINA_HOME";

/// The per-user state directory and the files inside it.
///
/// Every accessor only joins paths; creating and checking them is [`crate::fsutil`]'s job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

/// Why `PATINA_HOME` cannot be resolved ([`Home::from_env`]).
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// `PATINA_HOME` is a relative path (it would move with the current directory).
    #[error("{HOME_ENV} must be an absolute path (got a relative one: {})", .0.display())]
    Relative(PathBuf),
    /// Neither `PATINA_HOME` nor `HOME` is set (or both are empty).
    #[error("neither {HOME_ENV} nor HOME is set")]
    Unset,
}

impl Home {
    /// Resolves `PATINA_HOME`, else `$HOME/.patina`.
    ///
    /// Errors when neither variable is set, or when `PATINA_HOME` is set but empty or relative
    /// (a relative home would move with the current directory).
    pub fn from_env() -> Result<Home, HomeError> {
        match std::env::var_os(HOME_ENV) {
            Some(v) if !v.is_empty() => {
                let p = PathBuf::from(v);
                if !p.is_absolute() {
                    return Err(HomeError::Relative(p));
                }
                Ok(Home { root: p })
            }
            _ => {
                let home = std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .ok_or(HomeError::Unset)?;
                Ok(Home {
                    root: PathBuf::from(home).join(".patina"),
                })
            }
        }
    }

    /// A home rooted at `root` (tests, and callers that already resolved it).
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The state directory itself (mode 0700).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `run/`: the runtime directory (0700, created by `mkdir` with that mode, never chmod-ed).
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// `run/serve.sock`: the daemon's Unix socket (0600).
    pub fn socket_path(&self) -> PathBuf {
        self.run_dir().join("serve.sock")
    }

    /// `run/serve.pid`: the daemon's pid, decimal, newline-terminated (0600).
    pub fn pid_path(&self) -> PathBuf {
        self.run_dir().join("serve.pid")
    }

    /// The pid [`Home::pid_path`] names, `None` when the file is missing or unreadable. A
    /// pid file can be stale: check the process before acting on it.
    pub fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_path())
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// `run/serve.token`: the TCP bearer token (0600); only its path is ever printed.
    pub fn token_path(&self) -> PathBuf {
        self.run_dir().join("serve.token")
    }

    /// `vault.age`: the global vault's ciphertext (0600).
    pub fn vault_path(&self) -> PathBuf {
        self.root.join("vault.age")
    }

    /// `secrets.toml`: the global vault's name → environment-variable map (0600).
    pub fn secrets_map_path(&self) -> PathBuf {
        self.root.join("secrets.toml")
    }

    /// `recipients.txt`: the age recipients the global vault is encrypted to (0600).
    pub fn recipients_path(&self) -> PathBuf {
        self.root.join("recipients.txt")
    }

    /// `auth/`: TCP keys (0700).
    pub fn auth_dir(&self) -> PathBuf {
        self.root.join("auth")
    }
}

/// The directory inside a project that holds its index and project vault: `<project>/.patina`.
pub fn project_state_dir(project: &Path) -> PathBuf {
    project.join(".patina")
}

/// The SQLite index of a project: `<project>/.patina/index.db`.
pub fn project_index_path(project: &Path) -> PathBuf {
    project_state_dir(project).join("index.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_brief_section_3() {
        let h = Home::at("/h");
        assert_eq!(h.socket_path(), Path::new("/h/run/serve.sock"));
        assert_eq!(h.pid_path(), Path::new("/h/run/serve.pid"));
        assert_eq!(h.token_path(), Path::new("/h/run/serve.token"));
        assert_eq!(h.vault_path(), Path::new("/h/vault.age"));
        assert_eq!(
            project_index_path(Path::new("/p")),
            Path::new("/p/.patina/index.db")
        );
    }
}
