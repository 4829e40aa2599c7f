//! How the state folder's files are written: new and synced together (a
//! generation), replaced by a rename (synced, or not for a cache), so that a
//! reader sees the old file or the new one, never a mix.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::util::platform;

/// Creates each file (0600, new) with its bytes, then syncs them all: synced
/// after the last write rather than one by one, which measured 0.52 against
/// 0.66 ms for three files on ext4 (docs/benchmarks.md). A new generation's
/// key and public key are written so while the certifier is asked, its
/// certificate alone once it has come (`Store::prepare_key`).
pub(super) fn write_new_synced(files: &[(&Path, &[u8])]) -> Result<()> {
    let mut written = Vec::with_capacity(files.len());
    for &(path, bytes) in files {
        let mut f = platform::open_private(OpenOptions::new().write(true).create_new(true), path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push((path, f));
    }
    for (path, f) in written {
        f.sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Writes `path` (0600) by renaming a finished temporary file over it, so
/// readers see the old file or the new one, never a mix.
pub(super) fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(dir, path, bytes, 0o600)
}

/// Writes `path` with `mode` through a temporary file in `dir` (its folder,
/// so that the rename is atomic), synced before the rename.
pub fn replace_file(dir: &Path, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    replace(dir, path, bytes, mode, true, Duration::ZERO)
}

/// The one replacement by rename. With `patience`, a rename that fails
/// because another process has the file open (where
/// [`platform::RENAMES_OVER_OPEN_FILES`] is false: Windows) is tried again
/// for that long.
fn replace(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    mode: u32,
    sync: bool,
    patience: Duration,
) -> Result<()> {
    let mut tmp = platform::private_temp_file(dir, ".tmp-", mode)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| {
            if sync {
                tmp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    let deadline = Instant::now() + patience;
    loop {
        match tmp.persist(path) {
            Ok(_) => return Ok(()),
            Err(e)
                if !platform::RENAMES_OVER_OPEN_FILES
                    && e.error.kind() == std::io::ErrorKind::PermissionDenied
                    && Instant::now() < deadline =>
            {
                tmp = e.file;
                std::thread::sleep(Duration::from_millis(10));
            }
            // The error alone: tempfile's own says the same again.
            Err(e) => {
                return Err(e.error).with_context(|| format!("cannot replace {}", path.display()));
            }
        }
    }
}

/// Writes a file (0600) that other programs read while certsh may rewrite
/// it, as [`write_cache`] does: replaced by a rename, not synced (its
/// writer makes it again from the state folder on the next connection).
/// Where a rename cannot replace a file another process has open
/// ([`platform::RENAMES_OVER_OPEN_FILES`]: Windows, while an ssh.exe reads
/// it), the rename is tried again for up to a second; each reader holds the
/// file for as long as it takes to read a few lines.
pub fn replace_read_by_others(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("file in a folder");
    replace(dir, path, bytes, 0o600, false, Duration::from_secs(1))
}

/// Writes a private file atomically in its own folder.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path.parent().expect("file in a folder"), path, bytes)
}

/// Writes a cache file (0600) atomically in its own folder, without waiting
/// for the disk: readers see the old file or the new one, and after a power
/// cut the file may be empty or gone, which its readers take as no cache (a
/// garbage `token.json` is replaced: `tests/it/robustness.rs`). The access
/// token's sync was a third of the cold path's disk time.
pub fn write_cache(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(
        path.parent().expect("file in a folder"),
        path,
        bytes,
        0o600,
        false,
        Duration::ZERO,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_another_process_is_reading_is_replaced_once_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.ssh_config");
        std::fs::write(&path, "old\n").unwrap();
        let held = platform::open_as_c_fopen(&path).unwrap();
        let reader = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(held);
        });
        replace_read_by_others(&path, b"new\n").unwrap();
        reader.join().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["keys.ssh_config"], "no temporary file is left");
    }
}
