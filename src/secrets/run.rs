//! `secrets run`: runs a command with secrets in its environment (never in an argument list:
//! no `sh -c`, no `env VAR=…`), standard input passed through, SIGINT/SIGTERM/SIGHUP
//! forwarded, and — unless masking is off — its standard output and error each copied
//! through a [`Masker`](super::mask::Masker) thread.
//!
//! Signals: the terminal sends Ctrl-C's SIGINT to the whole foreground process group, which
//! includes the child, so a signal that came from the kernel is not forwarded again (the
//! child would see two); one sent with kill(2) to patina alone is. The child is signalled
//! through a pidfd, so a recycled pid is never hit.
//!
//! The exit code is the child's, or 128 + the signal that killed it, as a shell reports it.

use super::EnvMap;
use super::identity::IDENTITY_ENV;
use rustix::process::{Pid, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::thread;

/// The signals forwarded to the child.
pub const FORWARDED: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// The command could not be started. Carries the exit code a shell would give (127 not
/// found, 126 not executable, 1 otherwise). Its message names the program (case 032), with
/// control characters and bytes that are not UTF-8 escaped and at most 100 characters,
/// unless it looks like a secret.
#[derive(Debug, thiserror::Error)]
#[error("cannot run {program}: {reason}")]
pub struct SpawnError {
    /// The exit code to use.
    pub code: i32,
    /// The program as given, printable (`escape_debug`, cut to 100 characters), quoted.
    pub program: String,
    /// Why, in words (from the OS error kind).
    pub reason: &'static str,
}

/// `program` fit for one line of an error: quoted, escaped, at most 100 characters; or "the
/// command (the first word after --)" when it holds a value of `env` or something the token
/// detectors find (a value pasted where the command goes is not repeated).
fn printable(program: &std::ffi::OsStr, env: &EnvMap) -> String {
    let s = program.to_string_lossy();
    let known: Vec<super::scan::Known<'_>> = env
        .entries()
        .iter()
        .map(|e| super::scan::Known {
            name: &e.name,
            value: e.value.expose().as_bytes(),
        })
        .collect();
    if !super::scan::report(program.as_encoded_bytes(), &known).is_empty() {
        return "the command (the first word after --; not named: it looks like a secret)".into();
    }
    let cut: String = s.chars().take(100).collect();
    let more = if s.chars().count() > 100 { "…" } else { "" };
    format!("`{}{more}`", cut.escape_debug())
}

/// An [`Error::Run`](super::Error::Run) at `step`.
fn failed(step: &'static str) -> impl FnOnce(std::io::Error) -> super::Error {
    move |error| super::Error::Run { step, error }
}

/// Variables of patina's own environment the child never gets: the identity, and the TCP
/// bearer token (`auth::token::TOKEN_ENV`, named here because `auth` sits above `secrets`;
/// a test there keeps the two equal).
pub const WITHHELD_ENV: [&str; 2] = [IDENTITY_ENV, "PATINA_SERVE_TOKEN"];

/// Runs `argv` (program and arguments) with `env` added to patina's own environment (minus
/// [`WITHHELD_ENV`]), waits for it, and returns its exit code (128 + n if killed by signal
/// n). With `masking`, its stdout and stderr pass through `env`'s masker.
pub fn run_child(argv: &[OsString], env: &EnvMap, masking: bool) -> super::Result<i32> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| super::InvalidInput("no command given after --".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::inherit());
    for v in WITHHELD_ENV {
        cmd.env_remove(v);
    }
    for e in env.entries() {
        cmd.env(&e.env, e.value.expose());
    }
    // Nothing to mask (masking off, or no value long enough): the child keeps patina's own
    // stdout and stderr, terminal included.
    let masker = Some(env.masker()).filter(|m| masking && !m.is_empty());
    if masker.is_some() {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }

    // Registered before the spawn: a signal in between must not kill patina and orphan the
    // child. The child gets default dispositions back at exec.
    let mut signals =
        SignalsInfo::<WithOrigin>::new(FORWARDED).map_err(failed("forwarding signals"))?;
    let handle = signals.handle();

    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            handle.close();
            let (code, reason) = match e.kind() {
                std::io::ErrorKind::NotFound => (127, "not found (is it installed and on PATH?)"),
                std::io::ErrorKind::PermissionDenied => {
                    (126, "permission denied (not executable?)")
                }
                _ => (1, "the system refused to start it"),
            };
            return Err(SpawnError {
                code,
                program: printable(program, env),
                reason,
            }
            .into());
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    let pidfd: Option<OwnedFd> =
        pid.and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());

    let forwarder = thread::Builder::new()
        .name("patina-signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                if origin.cause == Cause::Kernel {
                    continue; // from the terminal: the child's process group has it already
                }
                let Some(sig) = Signal::from_named_raw(origin.signal) else {
                    continue;
                };
                let _ = match (&pidfd, pid) {
                    (Some(fd), _) => rustix::process::pidfd_send_signal(fd, sig),
                    (None, Some(p)) => rustix::process::kill_process(p, sig),
                    (None, None) => Ok(()),
                };
            }
        })
        .map_err(failed("starting the signal thread"))?;

    let mut pumps = Vec::new();
    if let Some(m) = &masker {
        if let Some(out) = child.stdout.take() {
            let m = m.clone();
            pumps.push(
                thread::Builder::new()
                    .name("patina-mask-stdout".into())
                    .spawn(move || m.copy(out, std::io::stdout()))
                    .map_err(failed("starting the masking thread"))?,
            );
        }
        if let Some(err) = child.stderr.take() {
            let m = m.clone();
            pumps.push(
                thread::Builder::new()
                    .name("patina-mask-stderr".into())
                    .spawn(move || m.copy(err, std::io::stderr()))
                    .map_err(failed("starting the masking thread"))?,
            );
        }
    }

    let status = child.wait();
    // The child's output may still be in the pipes (or held by its own children): drain it.
    for p in pumps {
        let _ = p.join();
    }
    handle.close();
    let _ = forwarder.join();
    let status = status.map_err(failed("waiting for the command"))?;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 1,
    })
}
