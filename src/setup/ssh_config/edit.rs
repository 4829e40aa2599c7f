//! Editing the user's file: finding and removing certsh's block, the
//! backup, and writes that keep the file's mode.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::util::platform;

/// The block's byte range: from the start of its first line to the end of
/// its last line (newline included).
pub(super) fn find_block(text: &[u8], begin: &str, end: &str) -> Option<(usize, usize)> {
    let start = line_starting_with(text, begin.as_bytes(), 0)?;
    let end_line = line_starting_with(text, end.as_bytes(), start)?;
    let stop = text[end_line..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| end_line + i + 1);
    Some((start, stop))
}

pub(super) fn line_starting_with(text: &[u8], prefix: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at <= text.len() {
        if text[at..].starts_with(prefix) && (at == 0 || text[at - 1] == b'\n') {
            return Some(at);
        }
        at += text[at..].iter().position(|&b| b == b'\n')? + 1;
    }
    None
}

/// The text without the block and the one newline certsh put before it.
pub(super) fn remove_block(text: &[u8], start: usize, stop: usize) -> Vec<u8> {
    let cut = if start > 0 { start - 1 } else { start };
    [&text[..cut], &text[stop..]].concat()
}

pub(super) fn backup(file: &Path, old: &[u8]) -> Result<()> {
    let path = backup_path(file);
    write_new_file(&path, old, 0o600)
}

pub(super) fn backup_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".certsh-backup");
    file.with_file_name(name)
}

/// Replaces `file` by rename, keeping its permissions, so that an ssh
/// reading it sees the old file or the new one.
pub(super) fn write_keeping_mode(file: &Path, bytes: &[u8]) -> Result<()> {
    let mode = fs::metadata(file)
        .map(|m| platform::mode_of(file, &m))
        .unwrap_or(0o600);
    write_new_file(file, bytes, mode)
}

/// Creates the file (and `~/.ssh`, 0700, if missing).
pub(super) fn create(file: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = file.parent()
        && !dir.exists()
    {
        platform::create_private_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_new_file(file, bytes, 0o600)
}

pub(super) fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::state::store::replace_file(dir, path, bytes, mode)
}
