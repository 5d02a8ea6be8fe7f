//! Prompts on the controlling terminal (`/dev/tty`) with echo off, for passphrases and secret
//! values. Never reads a secret from anywhere else without being told to (`--stdin`).
//!
//! The terminal is put in non-canonical mode with `ECHO` and `ISIG` off for the prompt, so
//! Ctrl-C arrives as a byte and cancels cleanly instead of killing the process with echo still
//! off; the previous settings are restored on every path (a drop guard).

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use zeroize::Zeroizing;

/// The longest passphrase accepted.
pub const MAX_PASSPHRASE_LEN: usize = 1024;

/// Why a prompt did not produce an answer. No variant carries what was typed.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// No controlling terminal (CI, `setsid`, a daemon, an agent's tool call).
    #[error("there is no terminal to ask on")]
    NoTerminal,
    /// The user pressed Ctrl-C or Ctrl-D.
    #[error("cancelled")]
    Cancelled,
    /// The answer was longer than allowed.
    #[error("the answer is longer than {0} bytes")]
    TooLong(usize),
    /// Reading or configuring the terminal failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether a controlling terminal can be opened (what a prompt needs). Standard input and
/// output being pipes does not matter.
pub fn has_terminal() -> bool {
    open_tty().is_ok()
}

fn open_tty() -> Result<File, PromptError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| PromptError::NoTerminal)
}

struct Restore<'a> {
    tty: &'a File,
    saved: Termios,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.tty, OptionalActions::Now, &self.saved);
    }
}

/// Writes `prompt` to the terminal and reads one line with echo off, up to `max` bytes.
/// Enter ends it; Backspace and Ctrl-U edit; Ctrl-C (or Ctrl-D on an empty line) cancels.
pub fn prompt_hidden(prompt: &str, max: usize) -> Result<Zeroizing<String>, PromptError> {
    let mut tty = open_tty()?;
    let saved = termios::tcgetattr(&tty).map_err(std::io::Error::from)?;
    let mut raw = saved.clone();
    raw.local_modes
        .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
    raw.special_codes[SpecialCodeIndex::VMIN] = 1;
    raw.special_codes[SpecialCodeIndex::VTIME] = 0;
    // `Now`, not `Flush`: input typed ahead of the prompt is kept (a pasted answer).
    termios::tcsetattr(&tty, OptionalActions::Now, &raw).map_err(std::io::Error::from)?;
    let guard = Restore { tty: &tty, saved };
    (&tty).write_all(prompt.as_bytes())?;
    let mut line = Zeroizing::new(Vec::with_capacity(max + 4));
    let result = read_line(&mut (&tty), &mut line, max);
    drop(guard);
    let _ = tty.write_all(b"\n");
    result?;
    match String::from_utf8(std::mem::take(&mut *line)) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            // Hand the bytes to a zeroizing buffer before reporting.
            let _wipe = Zeroizing::new(e.into_bytes());
            Err(PromptError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the answer is not UTF-8 text",
            )))
        }
    }
}

fn read_line(tty: &mut impl Read, line: &mut Vec<u8>, max: usize) -> Result<(), PromptError> {
    let mut byte = [0u8; 1];
    loop {
        match tty.read(&mut byte) {
            Ok(0) => return Err(PromptError::Cancelled),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        match byte[0] {
            b'\r' | b'\n' => return Ok(()),
            0x03 => return Err(PromptError::Cancelled),
            0x04 if line.is_empty() => return Err(PromptError::Cancelled),
            0x04 => {}
            0x7f | 0x08 => {
                // Remove one whole UTF-8 character.
                while let Some(b) = line.pop() {
                    if b & 0xC0 != 0x80 {
                        break;
                    }
                }
            }
            0x15 => line.clear(),
            b => {
                if line.len() >= max {
                    return Err(PromptError::TooLong(max));
                }
                line.push(b);
            }
        }
    }
}

/// Asks for a new passphrase twice (they must match and not be empty).
pub fn new_passphrase() -> Result<Zeroizing<String>, PromptError> {
    loop {
        let first = prompt_hidden(
            "New passphrase for the patina identity file: ",
            MAX_PASSPHRASE_LEN,
        )?;
        if first.is_empty() {
            let _ = writeln!(
                open_tty()?,
                "An empty passphrase protects nothing; try again."
            );
            continue;
        }
        let again = prompt_hidden("Repeat the passphrase: ", MAX_PASSPHRASE_LEN)?;
        if *first == *again {
            return Ok(first);
        }
        let _ = writeln!(open_tty()?, "The passphrases differ; try again.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(input: &[u8]) -> Result<Vec<u8>, PromptError> {
        let mut line = Vec::new();
        read_line(&mut &input[..], &mut line, 8).map(|()| line)
    }

    #[test]
    fn line_editing() {
        assert_eq!(line_of(b"abc\r").unwrap(), b"abc");
        assert_eq!(line_of(b"ab\x7fc\n").unwrap(), b"ac");
        assert_eq!(line_of("aé\x7fb\n".as_bytes()).unwrap(), b"ab");
        assert_eq!(line_of(b"xx\x15ok\n").unwrap(), b"ok");
        assert!(matches!(line_of(b"ab\x03"), Err(PromptError::Cancelled)));
        assert!(matches!(line_of(b"\x04"), Err(PromptError::Cancelled)));
        assert!(matches!(line_of(b"ab"), Err(PromptError::Cancelled)));
        assert!(matches!(
            line_of(b"123456789\n"),
            Err(PromptError::TooLong(8))
        ));
    }
}
