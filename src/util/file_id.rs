//! Whether two paths are one file: the same device and inode (on Windows
//! volume and file index: `platform::file_id`), whatever links lead there.
//! certsh asks it of its own programs (is this `ssh` on `PATH` the shim, or
//! certsh?).

use std::path::Path;

pub use crate::util::platform::file_id;

/// Whether `a` and `b` are the same existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let a = file_id(a);
    a.is_some() && a == file_id(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_the_same_file_and_a_copy_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "x").unwrap();
        std::fs::hard_link(&a, dir.path().join("link")).unwrap();
        std::fs::write(dir.path().join("copy"), "x").unwrap();
        assert!(same_file(&a, &dir.path().join("link")));
        assert!(!same_file(&a, &dir.path().join("copy")));
        assert!(!same_file(&a, &dir.path().join("missing")));
        assert!(!same_file(
            &dir.path().join("missing"),
            &dir.path().join("missing")
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "x").unwrap();
        std::os::unix::fs::symlink(&a, dir.path().join("link")).unwrap();
        assert!(same_file(&a, &dir.path().join("link")));
    }
}
