//! Private directories (0700 at `mkdir`), private files (0600 at `open`), atomic replacement
//! and file locks. Depends on std and `rustix` only.
//!
//! The rule of requirements §3: a mode is set when the object is *created*, never fixed afterwards, and
//! an existing object with a looser mode, another owner, or a symlink in its place is refused and
//! left exactly as it was (like git's credential-cache and OpenSSH's `secure_permissions`).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every directory patina creates for private state.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of every file patina creates that holds or unlocks a secret, or names its projects.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Why a path cannot be trusted or created. Every message names the path and the fix; none
/// quotes file content.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The path is a symbolic link where a real directory or file must be.
    #[error(
        "{0} is a symbolic link; refusing to use it (remove it, and patina will create a private one in its place)"
    )]
    Symlink(PathBuf),
    /// The path exists but is not a directory.
    #[error("{0} exists but is not a directory")]
    NotDir(PathBuf),
    /// Owned by another uid.
    #[error("{path} is owned by uid {owner}, not by you (uid {me}); refusing to use it")]
    Owner {
        /// The path.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// Our uid.
        me: u32,
    },
    /// Group or other permission bits are set.
    #[error("{path} has mode {mode:04o}, which lets other users in; run `chmod {want:o} {path}`")]
    Loose {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The mode it should have (0700 or 0600).
        want: u32,
    },
    /// Any other I/O failure, with the path it concerned.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FsError + '_ {
    move |source| FsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The effective uid of this process.
pub fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Ensures `dir` is a private directory owned by us: creates it (and missing parents, each
/// 0700) with mode 0700 in the `mkdir` call itself, or checks an existing one with `lstat`.
///
/// Errors: a symlink, a non-directory, another owner, or any group/other bit. Nothing
/// existing is modified.
pub fn ensure_private_dir(dir: &Path) -> Result<(), FsError> {
    match fs::symlink_metadata(dir) {
        Ok(_) => check_private_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(PRIVATE_DIR_MODE)
                .create(dir)
                .map_err(io_err(dir))?;
            check_private_dir(dir)
        }
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// Checks, with `lstat`, that `dir` is a real directory owned by us with no group/other bits.
pub fn check_private_dir(dir: &Path) -> Result<(), FsError> {
    let md = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if md.file_type().is_symlink() {
        return Err(FsError::Symlink(dir.to_path_buf()));
    }
    if !md.is_dir() {
        return Err(FsError::NotDir(dir.to_path_buf()));
    }
    check_owner_and_mode(dir, &md, PRIVATE_DIR_MODE)
}

/// Checks that an existing file is owned by us and has no group/other bits (like ssh's
/// "UNPROTECTED PRIVATE KEY FILE"). Refuses symlinks.
pub fn check_private_file(path: &Path) -> Result<(), FsError> {
    let md = fs::symlink_metadata(path).map_err(io_err(path))?;
    if md.file_type().is_symlink() {
        return Err(FsError::Symlink(path.to_path_buf()));
    }
    check_owner_and_mode(path, &md, PRIVATE_FILE_MODE)
}

fn check_owner_and_mode(path: &Path, md: &fs::Metadata, want: u32) -> Result<(), FsError> {
    let me = my_uid();
    if md.uid() != me {
        return Err(FsError::Owner {
            path: path.to_path_buf(),
            owner: md.uid(),
            me,
        });
    }
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(FsError::Loose {
            path: path.to_path_buf(),
            mode,
            want,
        });
    }
    Ok(())
}

/// Creates a new file with mode 0600 in the `open` call (`O_CREAT|O_EXCL`); fails if it exists.
pub fn create_private_file(path: &Path) -> Result<File, FsError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
        .map_err(io_err(path))
}

/// Replaces `path` with `contents` atomically: a temporary file created 0600 in the same
/// directory, written, fsynced, renamed over `path`, then the directory fsynced. A crash at
/// any point leaves either the old or the new content, and no moment exists where the
/// content is readable by anyone else, whatever the umask. A crash before the rename may
/// leave the temporary file (`.<name>.tmp.<pid>.<suffix>`, 0600) behind; it is never read,
/// and the next successful write of the same file removes it.
///
/// Errors name `path` and the failing call (`ENOSPC` on a full disk, say); the old file is
/// then untouched and the temporary file removed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), FsError> {
    write_via_temp(path, contents, true)
}

/// Creates `path` holding `contents`, atomically and never over an existing file: the same
/// steps as [`write_atomic`], with `renameat2(RENAME_NOREPLACE)` as the last one (or `link(2)`
/// then `unlink(2)` where the file system lacks it). A crash leaves no file or the whole
/// file, never an empty or partial one under `path`.
///
/// Errors: `FsError::Io` with kind `AlreadyExists` when `path` exists (left untouched), or
/// the failing call, as for [`write_atomic`].
pub fn write_new_atomic(path: &Path, contents: &[u8]) -> Result<(), FsError> {
    write_via_temp(path, contents, false)
}

/// The steps of [`write_atomic`] (the file is 0600, as `create_private_file` made it).
fn write_via_temp(path: &Path, contents: &[u8], replace: bool) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fault = fault::Sites::for_file(&name);
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.tmp.{}.{}",
            std::process::id(),
            unique_suffix(attempt)
        ));
        match create_private_file(&tmp) {
            Ok(f) => break (tmp, f),
            Err(FsError::Io { source, .. })
                if source.kind() == io::ErrorKind::AlreadyExists && attempt < 16 =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    fault.at("created");
    let result = (|| {
        let half = contents.len() / 2;
        file.write_all(&contents[..half])?;
        fault.at("half-written");
        file.write_all(&contents[half..])?;
        fault.at("written");
        file.sync_all()?;
        fault.at("synced");
        drop(file);
        fault.at("before-rename");
        if replace {
            fs::rename(&tmp, path)?;
        } else {
            rename_noreplace(&tmp, path)?;
        }
        fault.at("renamed");
        File::open(dir)?.sync_all()?;
        fault.at("dir-synced");
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    sweep_stale_temps(dir, &name);
    Ok(())
}

/// Removes the temporary files of earlier writes of `name` whose process is gone (killed
/// before its rename): `.<name>.tmp.<pid>.<suffix>` with no process `<pid>`. Best effort; a
/// live process's temporary file (a concurrent writer) is left alone.
fn sweep_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest
            .split('.')
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        if rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Renames `from` to `to` unless `to` exists (`AlreadyExists`, `to` untouched).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            // No RENAME_NOREPLACE here: link(2) refuses an existing name just the same.
            fs::hard_link(from, to)?;
            fs::remove_file(from)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deterministic crash points for the crash-consistency tests, compiled only with the
/// `fault-injection` feature (a test-only build; see `Cargo.toml`).
///
/// `PATINA_FAULT_ABORT=<step>:<n>[:<file name>]` makes the process call
/// `std::process::abort()` (SIGABRT, no destructors, no flush: as close to `kill -9` as a
/// process can do to itself) the `n`-th time (1-based) an atomic write reaches `<step>`,
/// counting only writes of files named `<file name>` when given. The steps, in order:
/// `created` (empty temporary file), `half-written`, `written`, `synced`, `before-rename`,
/// `renamed`, `dir-synced`. Without the feature, [`Sites::at`] is an empty inline function.
mod fault {
    /// The crash points of one write.
    pub(super) struct Sites {
        #[cfg(feature = "fault-injection")]
        file: String,
    }

    impl Sites {
        pub(super) fn for_file(_name: &str) -> Sites {
            Sites {
                #[cfg(feature = "fault-injection")]
                file: _name.to_string(),
            }
        }

        #[cfg(not(feature = "fault-injection"))]
        #[inline(always)]
        pub(super) fn at(&self, _step: &str) {}

        #[cfg(feature = "fault-injection")]
        pub(super) fn at(&self, step: &str) {
            use std::sync::atomic::{AtomicU32, Ordering};
            // Test-only process state: how many times the named step was reached.
            static HITS: AtomicU32 = AtomicU32::new(0);
            let Ok(spec) = std::env::var("PATINA_FAULT_ABORT") else {
                return;
            };
            let mut parts = spec.splitn(3, ':');
            let (Some(want_step), Some(n)) = (parts.next(), parts.next()) else {
                return;
            };
            let Ok(n) = n.parse::<u32>() else { return };
            if want_step != step || parts.next().is_some_and(|f| f != self.file) {
                return;
            }
            if HITS.fetch_add(1, Ordering::SeqCst) + 1 == n {
                std::process::abort();
            }
        }
    }
}

fn unique_suffix(attempt: u32) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:08x}{attempt}")
}

/// Whether the file system holding `path` (a file; its directory is asked) has no block left
/// for an unprivileged writer (`statvfs(3)` `f_bavail == 0`): to say "No space left on device"
/// when a library (SQLite) reports a full disk only as an I/O error.
pub fn no_space_left(path: &Path) -> bool {
    let dir = path.parent().unwrap_or(path);
    rustix::fs::statvfs(dir).is_ok_and(|st| st.f_bavail == 0)
}

/// Opens (creating 0600 if needed) `path` as a lock file and takes an exclusive `flock(2)`
/// on it (std's `File::lock`), blocking until it is free. The lock is released when the
/// returned file is dropped or the process exits.
pub fn lock_exclusive(path: &Path) -> Result<File, FsError> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
        .map_err(io_err(path))?;
    f.lock().map_err(io_err(path))?;
    Ok(f)
}

/// Which file a path names and when it last changed: inode, modification time (seconds and
/// nanoseconds). Two equal stamps mean "unchanged" for the files patina re-reads when they
/// change (the token file, the allowed-clients list).
pub type FileStamp = (u64, i64, i64);

/// The [`FileStamp`] of `path` (following symlinks), `None` when it cannot be read.
pub fn file_stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_is_created_0700_and_loose_dir_refused_untouched() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/b");
        ensure_private_dir(&d).unwrap();
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        let e = ensure_private_dir(&d).unwrap_err();
        assert!(matches!(e, FsError::Loose { mode: 0o755, .. }), "{e}");
        assert!(e.to_string().contains("chmod 700"));
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn symlinked_dir_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        ensure_private_dir(&real).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(
            ensure_private_dir(&link),
            Err(FsError::Symlink(_))
        ));
    }

    #[test]
    fn atomic_write_replaces_content_with_0600_file() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(t.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
