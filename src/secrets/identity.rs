//! The user's secrets identity: one age X25519 key (requirements §9).
//!
//! Resolution order ([`resolve`]):
//! 1. `PATINA_IDENTITY`: the identity text itself (`AGE-SECRET-KEY-1…`, surrounding
//!    whitespace, `#` comment lines and CRLF tolerated) — for CI and headless machines.
//!    Set but unparsable is an error, never a silent fall-through.
//! 2. The OS keyring (service `patina`, user `identity <PATINA_HOME>`), probed under a
//!    timeout; a store that does not persist to disk is never used. Skipped when
//!    `PATINA_NO_KEYRING` is set.
//! 3. `PATINA_HOME/identity.age`: the identity encrypted to a passphrase (age scrypt,
//!    ASCII-armoured, 0600). Refused if group/other can read it. The passphrase is asked on
//!    `/dev/tty`; with no terminal, the command fails with one line saying what to do.
//!
//! Everything that holds the key is `Zeroizing` or age's own zeroize-on-drop types.

use super::keyring_store::{self, Lookup};
use super::tty;
use super::{Error, Result};
use crate::fsutil;
use crate::paths::Home;
use age::secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The environment variable holding an identity (CI, headless use).
pub const IDENTITY_ENV: &str = "PATINA_IDENTITY";

/// The passphrase-encrypted identity file's name in `PATINA_HOME`.
pub const IDENTITY_FILE: &str = "identity.age";

/// The most bytes of identity text accepted (from the environment, stdin or a file).
pub const MAX_IDENTITY_TEXT: usize = 64 * 1024;

/// What to do when no identity can be had without a prompt.
pub const HOW_TO_PROVIDE: &str = "set PATINA_IDENTITY to an age identity (AGE-SECRET-KEY-1…), \
     or run `patina secrets identity init` in a terminal";

/// An age X25519 identity. No `Display`; `Debug` prints `[redacted]`; the key is wiped on drop
/// (age's `StaticSecret` zeroizes itself).
#[derive(Clone)]
pub struct Identity {
    key: age::x25519::Identity,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why identity text did not parse. Names a line number, never the line.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not UTF-8.
    #[error("the identity text is not UTF-8")]
    NotUtf8,
    /// An age-encrypted file (binary `age-encryption.org/v1`, or armored); `passphrase` when
    /// its header shows it was encrypted with a passphrase (`age -p`; an armored file's
    /// header is read after decoding its base64).
    #[error(
        "this is {} age file, not an identity: decrypt it and import the result, e.g. `age -d FILE | patina secrets identity import`",
        if *.passphrase { "a passphrase-encrypted" } else { "an encrypted" }
    )]
    Encrypted {
        /// Encrypted with a passphrase (an `scrypt` recipient stanza).
        passphrase: bool,
    },
    /// A line that is an age recipient (a public key), not an identity.
    #[error(
        "line {0} is an age recipient (a public key, age1…), not an identity: import the secret key (the AGE-SECRET-KEY-1… line of the file age-keygen wrote), not the output of `age-keygen -y`"
    )]
    Recipient(usize),
    /// A line that is neither blank, a `#` comment, nor an identity.
    #[error("line {0} is not an age identity (AGE-SECRET-KEY-1…)")]
    NotIdentity(usize),
    /// More than one identity.
    #[error("line {0} holds a second identity; patina uses exactly one")]
    Second(usize),
    /// Only blank and comment lines.
    #[error("no identity found (expected a line AGE-SECRET-KEY-1…)")]
    Empty,
}

impl Identity {
    /// A fresh random identity.
    pub fn generate() -> Identity {
        Identity {
            key: age::x25519::Identity::generate(),
        }
    }

    /// Parses identity text: exactly one `AGE-SECRET-KEY-1…` line, with any number of blank
    /// lines and `#` comments around it, LF or CRLF, with or without a final newline, and
    /// surrounding whitespace trimmed from every line.
    pub fn parse(text: &[u8]) -> Result<Identity, ParseError> {
        if let Some(passphrase) = encrypted_age_file(text) {
            return Err(ParseError::Encrypted { passphrase });
        }
        let text = std::str::from_utf8(text).map_err(|_| ParseError::NotUtf8)?;
        let mut found: Option<Identity> = None;
        for (i, line) in text.split('\n').enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if found.is_some() {
                return Err(ParseError::Second(i + 1));
            }
            let key = line.parse::<age::x25519::Identity>().map_err(|_| {
                if line.parse::<age::x25519::Recipient>().is_ok() {
                    ParseError::Recipient(i + 1)
                } else {
                    ParseError::NotIdentity(i + 1)
                }
            })?;
            found = Some(Identity { key });
        }
        found.ok_or(ParseError::Empty)
    }

    /// The public half, `age1…`: what a vault is encrypted to. Safe to print and share.
    pub fn recipient(&self) -> String {
        self.key.to_public().to_string()
    }

    /// The key as text (`AGE-SECRET-KEY-1…`), for storing or handing to the daemon.
    pub fn expose_secret_text(&self) -> Zeroizing<String> {
        Zeroizing::new(self.key.to_string().expose_secret().to_string())
    }

    /// The identity file text: two comment lines and the key, newline-terminated.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let key = self.expose_secret_text();
        let mut s = Zeroizing::new(String::with_capacity(key.len() + 200));
        s.push_str("# patina secrets identity (age X25519). Keep it private.\n");
        s.push_str("# public key: ");
        s.push_str(&self.recipient());
        s.push('\n');
        s.push_str(&key);
        s.push('\n');
        s
    }

    pub(crate) fn age(&self) -> &age::x25519::Identity {
        &self.key
    }
}

/// `Some(passphrase)` when `text` is an age-encrypted file rather than identity text: the
/// binary format (`age-encryption.org/v1` header line) or the ASCII armor (`-----BEGIN AGE
/// ENCRYPTED FILE-----`, its base64 decoded to read the header). `passphrase` is true when
/// the header holds an `scrypt` stanza (age's passphrase encryption).
fn encrypted_age_file(text: &[u8]) -> Option<bool> {
    const BINARY: &[u8] = b"age-encryption.org/v1\n";
    const ARMOR: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
    const SCRYPT: &[u8] = b"\n-> scrypt ";
    let has_scrypt = |header: &[u8]| header.windows(SCRYPT.len()).any(|w| w == SCRYPT);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    if text.starts_with(BINARY) {
        return Some(has_scrypt(&text[..text.len().min(4096)]));
    }
    if !text.starts_with(ARMOR.as_bytes()) {
        return None;
    }
    use base64::Engine as _;
    let body: String = String::from_utf8_lossy(&text[ARMOR.len()..text.len().min(8192)])
        .lines()
        .take_while(|l| !l.starts_with("-----END"))
        .flat_map(|l| l.trim().chars())
        // Base64's alphabet only, so the body is ASCII and cut at any byte (a stray
        // multi-byte character once made the cut below panic; found by `fuzz/`).
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    // Only whole 4-character groups of the first lines: enough for the header.
    let whole = &body[..body.len() / 4 * 4];
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(whole)
        .unwrap_or_default();
    Some(has_scrypt(&decoded))
}

/// Where an identity was found or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `PATINA_IDENTITY` environment variable.
    Env,
    /// The OS keyring.
    Keyring,
    /// The passphrase-encrypted file at this path.
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env => write!(f, "the {IDENTITY_ENV} environment variable"),
            Source::Keyring => f.write_str("the OS keyring"),
            Source::File(p) => write!(f, "the passphrase-protected file {}", p.display()),
        }
    }
}

/// The passphrase-encrypted identity file of `home`.
pub fn identity_file(home: &Home) -> PathBuf {
    home.root().join(IDENTITY_FILE)
}

fn keyring_user(home: &Home) -> String {
    let root = std::fs::canonicalize(home.root()).unwrap_or_else(|_| home.root().into());
    format!("identity {}", root.display())
}

fn from_env() -> Result<Option<Identity>> {
    let Some(v) = std::env::var_os(IDENTITY_ENV) else {
        return Ok(None);
    };
    let v = Zeroizing::new(v.into_encoded_bytes());
    if v.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if v.len() > MAX_IDENTITY_TEXT {
        return Err(Error::Identity(format!(
            "{IDENTITY_ENV} is longer than {MAX_IDENTITY_TEXT} bytes"
        )));
    }
    Identity::parse(&v)
        .map(Some)
        .map_err(|e| Error::Identity(format!("{IDENTITY_ENV} is set but unusable: {e}")))
}

/// Finds the identity (see the module docs for the order), asking for the identity file's
/// passphrase on the terminal if it comes to that.
pub fn resolve(home: &Home) -> Result<Identity> {
    resolve_with_source(home).map(|(id, _)| id)
}

/// [`resolve`], also saying where the identity came from.
pub fn resolve_with_source(home: &Home) -> Result<(Identity, Source)> {
    no_core_dumps();
    if let Some(id) = from_env()? {
        return Ok((id, Source::Env));
    }
    let keyring = keyring_store::get(&keyring_user(home));
    let timed_out = matches!(keyring, Lookup::TimedOut);
    if let Lookup::Found(text) = keyring {
        let id = Identity::parse(text.as_bytes()).map_err(|e| {
            Error::Identity(format!("the identity in the OS keyring is unusable: {e}"))
        })?;
        return Ok((id, Source::Keyring));
    }
    let path = identity_file(home);
    if std::fs::symlink_metadata(&path).is_ok() {
        let id = read_identity_file_interactive(&path)?;
        return Ok((id, Source::File(path)));
    }
    if timed_out {
        return Err(Error::Identity(format!(
            "no secrets identity found: the OS keyring did not answer within {} s (is it \
             locked?); unlock it and retry, or {HOW_TO_PROVIDE}",
            keyring_store::TIMEOUT.as_secs()
        )));
    }
    Err(Error::Identity(format!(
        "no secrets identity: {HOW_TO_PROVIDE}"
    )))
}

/// Where an identity is stored for `home` (keyring or file), if anywhere. Does not look at
/// `PATINA_IDENTITY` and prompts for nothing.
pub fn stored(home: &Home) -> Option<Source> {
    let path = identity_file(home);
    if std::fs::symlink_metadata(&path).is_ok() {
        return Some(Source::File(path));
    }
    match keyring_store::get(&keyring_user(home)) {
        Lookup::Found(_) => Some(Source::Keyring),
        _ => None,
    }
}

/// Stores `identity` for `home`: in the OS keyring if a persistent one works (checked by
/// reading it back), else in `identity.age` encrypted to a passphrase from `passphrase`.
/// Refuses if an identity is stored already; never replaces one.
pub fn store(
    home: &Home,
    identity: &Identity,
    passphrase: impl FnOnce() -> Result<Zeroizing<String>>,
) -> Result<Source> {
    if let Some(existing) = stored(home) {
        return Err(Error::Refused(format!(
            "an identity already exists in {existing}; patina never replaces one \
             (`patina secrets identity export` saves a copy)"
        )));
    }
    fsutil::ensure_private_dir(home.root())?;
    if keyring_store::set_verified(&keyring_user(home), &identity.expose_secret_text()) {
        return Ok(Source::Keyring);
    }
    let path = identity_file(home);
    let pass = passphrase()?;
    write_identity_file(&path, identity, &pass, None)?;
    Ok(Source::File(path))
}

/// Asks on the terminal for a new passphrase, or explains why it cannot.
pub fn ask_new_passphrase() -> Result<Zeroizing<String>> {
    if !tty::has_terminal() {
        return Err(Error::Identity(
            "no usable OS keyring (none running, locked, or it refused the key) and no \
             terminal to ask for a passphrase for the identity file; run this in a terminal, \
             or set PATINA_IDENTITY to an age identity (AGE-SECRET-KEY-1…) instead"
                .into(),
        ));
    }
    Ok(tty::new_passphrase()?)
}

/// Writes `identity` to a new file at `path` (0600 at creation, refusing an existing file),
/// encrypted to `passphrase` with age's scrypt recipient and ASCII-armoured.
/// `work_factor` overrides scrypt's calibrated log2(N) (tests use a small one).
pub fn write_identity_file(
    path: &Path,
    identity: &Identity,
    passphrase: &str,
    work_factor: Option<u8>,
) -> Result<()> {
    let mut recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_string()));
    if let Some(n) = work_factor {
        recipient.set_work_factor(n);
    }
    let failed = |why: String| Error::Encrypt {
        what: "the identity",
        why,
    };
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
        .map_err(|e| failed(e.to_string()))?;
    let mut out = Vec::new();
    let armored = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(|e| failed(e.to_string()))?;
    let mut w = encryptor
        .wrap_output(armored)
        .map_err(|e| failed(e.to_string()))?;
    w.write_all(identity.to_file_text().as_bytes())
        .map_err(|e| failed(e.to_string()))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| failed(e.to_string()))?;
    write_new_private_file(path, &out)
}

/// Creates `path` 0600 holding `contents` with [`fsutil::write_new_atomic`]: written to a
/// private temporary file, fsynced, then renamed into place only if nothing is there, and the
/// directory fsynced. A crash leaves no file or the whole one, never an empty or partial key
/// file (which would block the next `identity new` and unlock nothing). An existing file is
/// refused and left alone.
pub fn write_new_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    fsutil::write_new_atomic(path, contents).map_err(|e| match e {
        fsutil::FsError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            Error::Refused(format!(
                "{} already exists; patina never overwrites a key file",
                path.display()
            ))
        }
        e => e.into(),
    })
}

/// Decrypts the identity file at `path` with `passphrase`. The file must be private (0600,
/// ours, not a symlink): a looser one is refused, named, and left as it is.
pub fn read_identity_file(path: &Path, passphrase: &str) -> Result<Identity> {
    let ciphertext = read_private_identity_file(path)?;
    decrypt_identity_file(path, &ciphertext, passphrase)
}

fn read_private_identity_file(path: &Path) -> Result<Vec<u8>> {
    fsutil::check_private_file(path).map_err(|e| match e {
        fsutil::FsError::Loose { .. } | fsutil::FsError::Owner { .. } => Error::Refused(format!(
            "UNPROTECTED identity file, refusing to use it: {e}"
        )),
        e => e.into(),
    })?;
    let mut ciphertext = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(MAX_IDENTITY_TEXT as u64 * 2)
                .read_to_end(&mut ciphertext)
        })
        .map_err(Error::io(path))?;
    Ok(ciphertext)
}

fn decrypt_identity_file(path: &Path, ciphertext: &[u8], passphrase: &str) -> Result<Identity> {
    let corrupt = || {
        Error::corrupt(
            path,
            "not a passphrase-protected age identity file (corrupt?)",
        )
    };
    let reader = age::armor::ArmoredReader::new(ciphertext);
    let decryptor = age::Decryptor::new(reader).map_err(|_| corrupt())?;
    if !decryptor.is_scrypt() {
        return Err(corrupt());
    }
    let id = age::scrypt::Identity::new(SecretString::from(passphrase.to_string()));
    let mut r = decryptor
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::ExcessiveWork { .. } => Error::corrupt(
                path,
                "its passphrase work factor is too high for this build",
            ),
            age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
                Error::WrongPassphrase {
                    path: path.to_path_buf(),
                }
            }
            _ => corrupt(),
        })?;
    let mut plain = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    r.read_to_end(&mut plain).map_err(|_| corrupt())?;
    Identity::parse(&plain).map_err(|e| Error::corrupt(path, e.to_string()))
}

fn read_identity_file_interactive(path: &Path) -> Result<Identity> {
    let ciphertext = read_private_identity_file(path)?;
    if !tty::has_terminal() {
        return Err(Error::Identity(format!(
            "the identity in {} is passphrase-protected and there is no terminal to ask for \
             the passphrase; set PATINA_IDENTITY to an age identity (AGE-SECRET-KEY-1…), \
             or run this in a terminal",
            path.display()
        )));
    }
    let prompt = format!("Passphrase for {}: ", path.display());
    let pass = tty::prompt_hidden(&prompt, tty::MAX_PASSPHRASE_LEN)?;
    decrypt_identity_file(path, &ciphertext, &pass)
}

/// The soft core-file limit this process started with (`None`: unlimited), saved by
/// [`no_core_dumps`] so [`restore_core_limit`] can give it back to a child.
static ORIGINAL_CORE_LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();

/// Sets this process's soft core-file size to 0 (`setrlimit(2)` `RLIMIT_CORE`) before an
/// identity is in memory, so a crash or SIGABRT writes no core holding it. The hard limit is
/// kept, and the process stays dumpable, because the daemon's peer check must read our
/// `/proc/<pid>/exe` (STACK-NOTES §4). Failures are ignored: this only narrows exposure.
pub fn no_core_dumps() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Core);
    let _ = ORIGINAL_CORE_LIMIT.set(now.current);
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: now.maximum,
        },
    );
}

/// Gives the soft core-file limit back as it was before [`no_core_dumps`], for a child about
/// to be started (call it only once this process is non-dumpable, as `secrets run` is).
pub fn restore_core_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    if let Some(orig) = ORIGINAL_CORE_LIMIT.get() {
        let now = getrlimit(Resource::Core);
        let _ = setrlimit(
            Resource::Core,
            Rlimit {
                current: *orig,
                maximum: now.maximum,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    /// Found by `fuzz/` (identity_import): an armored age header followed by bytes that are
    /// not UTF-8 made the encrypted-file check cut a string inside a character and panic.
    #[test]
    fn an_armor_header_followed_by_stray_bytes_is_an_error_not_a_panic() {
        let mut input = b"-----BEGIN AGE ENCRYPTED FILE-----".to_vec();
        input.extend_from_slice(&[
            0xca, 0xd2, 0xdb, 0xff, 0xff, b'#', b'#', b'#', 0xdc, 0xdc, 0xdc,
        ]);
        input.extend_from_slice(&[
            0xdc, 0xdc, 0xdc, 0xdc, 0xdc, 0xdc, 0xdc, 0x01, b'1', 0xdc, 0xdc,
        ]);
        input.extend_from_slice(&[0xdc, 0xdc, 0xdc, b'A', 0xdc]);
        assert!(Identity::parse(&input).is_err());
    }

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn parse_tolerates_crlf_comments_whitespace_and_no_final_newline() {
        let id = Identity::generate();
        let key = id.expose_secret_text();
        for text in [
            key.to_string(),
            format!("{}\n", &*key),
            format!("# c\r\n\r\n  {}  \r\n", &*key),
            id.to_file_text().to_string(),
        ] {
            let back = Identity::parse(text.as_bytes()).unwrap();
            assert_eq!(back.recipient(), id.recipient());
        }
    }

    #[test]
    fn parse_errors_name_the_line_and_never_quote_it() {
        let canary = "Pc4n4ry-7f3e9c1d+x/y=z";
        let e = Identity::parse(format!("# c\n\n{canary}\n").as_bytes()).unwrap_err();
        assert!(matches!(e, ParseError::NotIdentity(3)));
        assert!(!e.to_string().contains(canary));
        let key = Identity::generate().expose_secret_text();
        let e = Identity::parse(format!("{}\n{}\n", &*key, &*key).as_bytes()).unwrap_err();
        assert!(matches!(e, ParseError::Second(2)));
        assert!(matches!(
            Identity::parse(b"# only\n"),
            Err(ParseError::Empty)
        ));
        assert_eq!(format!("{:?}", Identity::generate()), "[redacted]");
    }

    /// Issue 15 item 4: a recipient (the output of `age-keygen -y`) and an age-encrypted
    /// file (binary or armored; passphrase or not) are named as such, with what to do.
    #[test]
    fn recipients_and_encrypted_files_are_named_with_the_fix() {
        let id = Identity::generate();
        let e =
            Identity::parse(format!("# public key\n{}\n", id.recipient()).as_bytes()).unwrap_err();
        assert!(matches!(e, ParseError::Recipient(2)), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("recipient") && msg.contains("AGE-SECRET-KEY-1"),
            "{msg}"
        );
        assert!(!msg.contains(&id.recipient()), "never quoted: {msg}");

        // Armored, passphrase: patina's own identity.age.
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(IDENTITY_FILE);
        write_identity_file(&path, &id, "correct horse", Some(2)).unwrap();
        let armored = std::fs::read(&path).unwrap();
        let e = Identity::parse(&armored).unwrap_err();
        assert!(
            matches!(e, ParseError::Encrypted { passphrase: true }),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("passphrase-encrypted age file"),
            "{e}"
        );
        assert!(e.to_string().contains("age -d"), "{e}");

        // Binary, passphrase (`age -p`), and binary to a recipient.
        let encrypt = |r: &dyn age::Recipient| {
            let mut out = Vec::new();
            let mut w = age::Encryptor::with_recipients(std::iter::once(r))
                .unwrap()
                .wrap_output(&mut out)
                .unwrap();
            std::io::Write::write_all(&mut w, id.to_file_text().as_bytes()).unwrap();
            w.finish().unwrap();
            out
        };
        let mut pass = age::scrypt::Recipient::new("correct horse".to_string().into());
        pass.set_work_factor(2);
        let e = Identity::parse(&encrypt(&pass)).unwrap_err();
        assert!(
            matches!(e, ParseError::Encrypted { passphrase: true }),
            "{e:?}"
        );
        let other = Identity::generate();
        let e = Identity::parse(&encrypt(&other.age().to_public())).unwrap_err();
        assert!(
            matches!(e, ParseError::Encrypted { passphrase: false }),
            "{e:?}"
        );
        assert!(e.to_string().contains("an encrypted age file"), "{e}");
        // Identity text itself still parses.
        assert!(Identity::parse(id.to_file_text().as_bytes()).is_ok());
    }

    #[test]
    fn passphrase_file_round_trips_is_0600_and_refused_when_loose() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(IDENTITY_FILE);
        let id = Identity::generate();
        write_identity_file(&path, &id, "correct horse", Some(4)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert!(!text.contains("AGE-SECRET-KEY"));
        let back = read_identity_file(&path, "correct horse").unwrap();
        assert_eq!(back.recipient(), id.recipient());
        let e = read_identity_file(&path, "wrong").unwrap_err().to_string();
        assert!(e.contains("wrong passphrase"), "{e}");
        // Never overwritten.
        write_identity_file(&path, &id, "x", Some(4)).unwrap_err();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_identity_file(&path, "correct horse")
            .unwrap_err()
            .to_string();
        assert!(e.contains("UNPROTECTED") && e.contains("chmod 600"), "{e}");
        assert!(e.contains(&path.display().to_string()), "{e}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "left as the user made it");
    }
}
