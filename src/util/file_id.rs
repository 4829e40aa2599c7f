//! Whether two paths are one file: the same device and inode, whatever
//! links lead there. certsh asks it of itself (is this `ssh` on `PATH` the
//! shim, that is certsh?) and of the shim's link.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A file's device and inode, if it can be read.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `a` and `b` are the same existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let a = file_id(a);
    a.is_some() && a == file_id(b)
}

/// This program's device and inode (`None` when it cannot be found).
pub fn this_program() -> Option<(u64, u64)> {
    std::env::current_exe().ok().and_then(|p| file_id(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_the_same_file_and_a_copy_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "x").unwrap();
        std::os::unix::fs::symlink(&a, dir.path().join("link")).unwrap();
        std::fs::write(dir.path().join("copy"), "x").unwrap();
        assert!(same_file(&a, &dir.path().join("link")));
        assert!(!same_file(&a, &dir.path().join("copy")));
        assert!(!same_file(&a, &dir.path().join("missing")));
        assert!(!same_file(
            &dir.path().join("missing"),
            &dir.path().join("missing")
        ));
    }
}
