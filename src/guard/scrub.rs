//! `patina guard scrub`: redacts known values and secret-looking tokens that already reached
//! agent transcripts — Claude Code's `~/.claude/projects/**/*.jsonl`, Codex's
//! `~/.codex/sessions/**/*.jsonl` — in place. Each line is parsed as JSON, its strings
//! scanned (all lines of a file in one scan) and concealed, and the line written back as
//! compact JSON, so every line stays valid JSON; a line that was not JSON is concealed as
//! text. A file is replaced atomically (temp file, fsync, rename: `fsutil::write_atomic`)
//! with its old mode, and only when it did not change while being scrubbed (a live session
//! appending to it is left for the next run).

use super::{KnownCheck, KnownValues, conceal_many};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The largest transcript scrubbed: 512 MiB (bigger files are reported and skipped).
pub const MAX_FILE: u64 = 512 * 1024 * 1024;

/// One finding in a transcript: the line (1-based) and the secret's name or detector.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineFinding {
    /// 1-based line number.
    pub line: usize,
    /// The known secret's name, or the detector's.
    pub label: String,
    /// Whether `label` is a known secret's name.
    pub known: bool,
}

/// What scrubbing one file found and did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    /// The transcript.
    pub path: PathBuf,
    /// Everything found, by line.
    pub findings: Vec<LineFinding>,
    /// Whether the file was rewritten.
    pub rewritten: bool,
    /// Why it was skipped, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Every `*.jsonl` file under `roots` (files given directly are taken whatever their name),
/// sorted; symbolic links are not followed.
pub fn transcripts(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for r in roots {
        match std::fs::symlink_metadata(r) {
            Ok(m) if m.is_file() => out.push(r.clone()),
            Ok(m) if m.is_dir() => walk(r, &mut out, 0),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(t) = e.file_type() else { continue };
        let p = e.path();
        if t.is_dir() {
            walk(&p, out, depth + 1);
        } else if t.is_file() && p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

/// Scrubs one transcript (with `dry_run`, only reports). Errors name the file.
pub fn scrub_file(
    path: &Path,
    known: &dyn KnownValues,
    dry_run: bool,
) -> Result<(FileReport, KnownCheck), super::Error> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(path).map_err(super::Error::io(path))?;
    let mut report = FileReport {
        path: path.to_path_buf(),
        findings: Vec::new(),
        rewritten: false,
        skipped: None,
    };
    if !meta.is_file() {
        report.skipped = Some("not a regular file".into());
        return Ok((report, KnownCheck::Checked));
    }
    if meta.len() > MAX_FILE {
        report.skipped = Some(format!("larger than {} MiB", MAX_FILE >> 20));
        return Ok((report, KnownCheck::Checked));
    }
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(super::Error::io(path))?);
    let text = String::from_utf8_lossy(&bytes);
    // Split on `\n` only, so a `\r` before it stays part of its line, byte for byte.
    let ends_with_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(&text);
    let lines: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        body.split('\n').collect()
    };
    // A line that is JSON is scanned as JSON; any other line as one string.
    let mut is_json = Vec::with_capacity(lines.len());
    let values: Vec<Value> = lines
        .iter()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) => {
                is_json.push(true);
                v
            }
            Err(_) => {
                is_json.push(false);
                Value::String((*l).to_string())
            }
        })
        .collect();
    let (concealed, labels, check) = conceal_many(&values, known);
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for (i, (line, new)) in lines.iter().zip(&concealed).enumerate() {
        for (label, k) in &labels[i] {
            report.findings.push(LineFinding {
                line: i + 1,
                label: label.clone(),
                known: *k,
            });
        }
        if labels[i].is_empty() {
            out.push_str(line);
        } else {
            changed = true;
            if is_json[i] {
                out.push_str(&serde_json::to_string(new).map_err(super::Error::Encode)?);
            } else {
                out.push_str(new.as_str().unwrap_or(""));
            }
        }
        if i + 1 < lines.len() || ends_with_newline {
            out.push('\n');
        }
    }
    let out = zeroize::Zeroizing::new(out);
    if !changed || dry_run {
        return Ok((report, check));
    }
    let now = std::fs::symlink_metadata(path).map_err(super::Error::io(path))?;
    if now.len() != meta.len()
        || now.mtime_nsec() != meta.mtime_nsec()
        || now.mtime() != meta.mtime()
    {
        report.skipped =
            Some("it changed while being scrubbed (a live session?); run again".into());
        return Ok((report, check));
    }
    crate::fsutil::write_atomic(path, out.as_bytes())?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode != crate::fsutil::PRIVATE_FILE_MODE {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(super::Error::io(path))?;
    }
    report.rewritten = true;
    Ok((report, check))
}
