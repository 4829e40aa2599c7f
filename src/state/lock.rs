//! The refresh lock: one process renews, the others wait and reuse its work.
//!
//! git fetches submodules and remotes in parallel and CI runs many jobs at
//! once; without a lock sixteen processes would each ask for a certificate.
//! The lock is an advisory `flock` on a file in the state folder, so the
//! kernel releases it when its holder dies: a killed refresh never leaves a
//! stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::util::error::Fixable;
use crate::util::platform;

/// How often a waiting process tries again. Short enough that sixteen
/// waiters are released within a few milliseconds of the refresh ending.
const POLL: Duration = Duration::from_millis(10);

/// An exclusive lock, released on drop (or when the process ends).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the lock at `path`, waiting until `deadline` at the latest.
pub fn acquire(path: &Path, deadline: Instant) -> Result<Lock> {
    let file = platform::open_private(
        OpenOptions::new().create(true).truncate(false).write(true),
        path,
    )
    .with_context(|| format!("cannot open lock file {}", path.display()))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        if Instant::now() >= deadline {
            return Err(Fixable::new(
                format!(
                    "another certsh process has held {} for {} s",
                    path.display(),
                    started.elapsed().as_secs()
                ),
                "try again; if it persists, look for a hung certsh process",
            )
            .into());
        }
        sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = acquire(&path, Instant::now()).unwrap();
        let err = acquire(&path, Instant::now() + Duration::from_millis(50)).unwrap_err();
        assert!(err.to_string().contains("another certsh process"), "{err}");
        drop(held);
        // Not at once: a child that another test forks in parallel shares
        // the lock's open file until it execs, and holds it for that moment.
        acquire(&path, Instant::now() + Duration::from_secs(30)).unwrap();
    }
}
