//! Whether a file certsh reads settings or a token from is the user's alone.
//!
//! `config.yaml` says where tokens go and `api.token_file` what is sent as
//! one, so a file that another user wrote, or could rewrite, would hand her
//! the user's token or the user's files. certsh ignores such a file with a
//! warning, as OpenSSH refuses a `~/.ssh/config` that is not the user's
//! (`secure_permissions`) and sshd an `authorized_keys` on an unsafe path
//! (`safe_path`):
//!
//! - The file and every folder above it (after resolving symlinks) must belong
//!   to the user or to root, and no other user may write to them.
//! - Group write is allowed only when the group is the user's private group
//!   (no member but the user), as OpenSSH allows it, so that systems with
//!   `umask 002` and one group per user keep working.
//! - The walk up stops at the home folder, included: above it the system's
//!   layout is not the user's to fix (`/home` may be shared). A file outside
//!   the home folder is checked up to `/`; there a root-owned folder with the
//!   sticky bit (`/tmp`) is accepted, since in it nobody can replace another
//!   user's entries, and whatever the attacker could create there herself is
//!   refused by the ownership check.
//!
//! On Windows, where a file's access list and not its mode says who may
//! write it, the check is not made yet (`docs/windows.md`).

#[cfg(unix)]
use std::fs;
use std::fs::Metadata;
#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a path is not trusted: one line, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    /// The file or folder at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It belongs to this uid, neither the user nor root.
    Owner(u32),
    /// Others (or a shared group) may write to it; the mode's permission bits.
    Writable(u32),
    /// It cannot be resolved or examined.
    Unreadable(String),
}

impl Untrusted {
    /// `<problem> (<fix>)`, naming the path; `culprit_is_file` says whether
    /// the path is the file itself ("it") or a folder above it.
    pub fn describe(&self, culprit_is_file: bool) -> String {
        let name = if culprit_is_file {
            "it".to_string()
        } else {
            self.path.display().to_string()
        };
        let path = self.path.display();
        match &self.problem {
            Problem::Owner(uid) => format!(
                "{name} belongs to another user (uid {uid}) (remove it if you did not put it there, or take it over: chown {} {path})",
                crate::util::platform::user_id()
            ),
            Problem::Writable(mode) => format!(
                "{name} can be written by other users (mode {mode:o}) (run: chmod go-w {path})"
            ),
            Problem::Unreadable(e) => {
                format!("{name} cannot be checked: {e} (make it and its folders readable to you)")
            }
        }
    }
}

/// Checks `file` (whose metadata, from the open file, is `meta`) and the
/// folders above it, up to and including `home`: those of the path as given
/// (a link in a folder others can write could be swapped) and, when a
/// symlink is met on the way, those of the path with symlinks resolved (the
/// folders the file really is in). Without symlinks that is a few `lstat`s:
/// this runs on every connection that reads `config.yaml`.
#[cfg(unix)]
pub fn check_file(file: &Path, meta: &Metadata, home: &Path) -> Result<(), Untrusted> {
    let uid = rustix::process::getuid().as_raw();
    check_one(file, meta, uid)?;
    let linked = fs::symlink_metadata(file)
        .map_err(|e| unreadable(file, e))?
        .file_type()
        .is_symlink();
    if walk_up(file.parent(), Some(home), uid)? || linked {
        let real = fs::canonicalize(file).map_err(|e| unreadable(file, e))?;
        // A home folder that cannot be resolved stops nothing: the walk goes
        // on to `/`.
        walk_up(real.parent(), fs::canonicalize(home).ok().as_deref(), uid)?;
    }
    Ok(())
}

/// On Windows the check is not made yet: see the module's comment.
#[cfg(windows)]
pub fn check_file(_file: &Path, _meta: &Metadata, _home: &Path) -> Result<(), Untrusted> {
    Ok(())
}

#[cfg(unix)]
fn unreadable(path: &Path, e: std::io::Error) -> Untrusted {
    Untrusted {
        path: path.to_owned(),
        problem: Problem::Unreadable(e.to_string()),
    }
}

#[cfg(unix)]
/// Checks `dir` and its parents, up to and including `home`; says whether
/// one of them is a symlink (it is checked where it points).
fn walk_up(mut dir: Option<&Path>, home: Option<&Path>, uid: u32) -> Result<bool, Untrusted> {
    let mut linked = false;
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        let mut meta = fs::symlink_metadata(d).map_err(|e| unreadable(d, e))?;
        if meta.file_type().is_symlink() {
            linked = true;
            meta = fs::metadata(d).map_err(|e| unreadable(d, e))?;
        }
        let inside_home = home.is_some_and(|h| d.starts_with(h));
        if inside_home || !sticky_system_dir(&meta) {
            check_one(d, &meta, uid)?;
        }
        if home == Some(d) {
            break;
        }
        dir = d.parent();
    }
    Ok(linked)
}

#[cfg(unix)]
/// A root-owned folder with the sticky bit, like `/tmp`.
fn sticky_system_dir(meta: &Metadata) -> bool {
    meta.uid() == 0 && meta.permissions().mode() & 0o1000 != 0
}

#[cfg(unix)]
fn check_one(path: &Path, meta: &Metadata, uid: u32) -> Result<(), Untrusted> {
    let mode = meta.permissions().mode();
    match verdict(meta.uid(), meta.gid(), mode, uid, &|gid| {
        private_group(gid, uid)
    }) {
        None => Ok(()),
        Some(problem) => Err(Untrusted {
            path: path.to_owned(),
            problem,
        }),
    }
}

#[cfg(unix)]
/// OpenSSH's `secure_permissions`: the owner is the user or root; nobody else
/// may write, except a group whose only member is the user.
fn verdict(
    owner: u32,
    group: u32,
    mode: u32,
    uid: u32,
    private_group: &dyn Fn(u32) -> bool,
) -> Option<Problem> {
    if owner != uid && owner != 0 {
        return Some(Problem::Owner(owner));
    }
    if mode & 0o002 != 0 || (mode & 0o020 != 0 && !private_group(group)) {
        return Some(Problem::Writable(mode & 0o777));
    }
    None
}

#[cfg(unix)]
/// Whether group `gid` has no member but the user `uid`, by `/etc/group` and
/// `/etc/passwd`. A group found in neither (from a directory service) is
/// not known to be private.
fn private_group(gid: u32, uid: u32) -> bool {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    group_is_private(&passwd, &group, gid, uid)
}

#[cfg(unix)]
fn group_is_private(passwd: &str, group: &str, gid: u32, uid: u32) -> bool {
    let fields = |line: &str| line.split(':').map(String::from).collect::<Vec<_>>();
    let users: Vec<Vec<String>> = passwd
        .lines()
        .map(fields)
        .filter(|f| f.len() >= 7)
        .collect();
    let Some(entry) = group
        .lines()
        .map(fields)
        .find(|f| f.len() >= 4 && f[2].parse() == Ok(gid))
    else {
        return false;
    };
    let me = users.iter().find(|f| f[2].parse() == Ok(uid));
    let mut members = 0;
    for u in users.iter().filter(|f| f[3].parse() == Ok(gid)) {
        members += 1;
        if u[2].parse() != Ok(uid) {
            return false;
        }
    }
    for name in entry[3].split(',').filter(|n| !n.is_empty()) {
        members += 1;
        if me.is_none_or(|f| f[0] != name) {
            return false;
        }
    }
    members > 0
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          ann:x:1000:1000::/home/ann:/bin/sh\n\
                          bob:x:1001:1001::/home/bob:/bin/sh\n\
                          eve:x:1002:100::/home/eve:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nann:x:1000:\nbob:x:1001:ann\nusers:x:100:\n\
                         annonly:x:2000:ann\nshared:x:2001:ann,bob\nempty:x:2002:\n";

    fn judge(owner: u32, group: u32, mode: u32) -> Option<Problem> {
        verdict(owner, group, mode, 1000, &|g| {
            group_is_private(PASSWD, GROUP, g, 1000)
        })
    }

    #[test]
    fn owner_must_be_the_user_or_root() {
        assert_eq!(judge(1000, 1000, 0o644), None);
        assert_eq!(judge(0, 0, 0o755), None, "root may own it, as in OpenSSH");
        assert_eq!(judge(1002, 1000, 0o600), Some(Problem::Owner(1002)));
    }

    #[test]
    fn others_may_not_write() {
        assert_eq!(judge(1000, 1000, 0o646), Some(Problem::Writable(0o646)));
        assert_eq!(judge(0, 0, 0o777), Some(Problem::Writable(0o777)));
    }

    #[test]
    fn group_write_only_in_the_users_private_group() {
        assert_eq!(judge(1000, 1000, 0o664), None, "ann's own group");
        assert_eq!(judge(1000, 2000, 0o664), None, "only ann is a member");
        assert_eq!(
            judge(1000, 1001, 0o664),
            Some(Problem::Writable(0o664)),
            "bob's primary group"
        );
        assert_eq!(
            judge(1000, 100, 0o664),
            Some(Problem::Writable(0o664)),
            "eve's"
        );
        assert_eq!(judge(1000, 2001, 0o775), Some(Problem::Writable(0o775)));
        assert_eq!(judge(1000, 2002, 0o664), Some(Problem::Writable(0o664)));
        assert_eq!(
            judge(1000, 4242, 0o664),
            Some(Problem::Writable(0o664)),
            "unknown group"
        );
    }

    #[test]
    fn the_walk_stops_at_home() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let dir = home.join(".magento-cloud");
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.yaml");
        fs::write(&file, "").unwrap();
        let meta = fs::metadata(&file).unwrap();
        // Above home, nothing is looked at, even a folder open to all.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(check_file(&file, &meta, &home), Ok(()));
        fs::set_permissions(&home, fs::Permissions::from_mode(0o757)).unwrap();
        assert_eq!(
            check_file(&file, &meta, &home).unwrap_err(),
            Untrusted {
                path: home.clone(),
                problem: Problem::Writable(0o757)
            }
        );
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_file(&file, &meta, &home).is_err());
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn a_link_is_checked_where_it_points() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let dir = home.join(".magento-cloud");
        let dotfiles = home.join("dotfiles");
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(&dotfiles).unwrap();
        let real = dotfiles.join("config.yaml");
        fs::write(&real, "").unwrap();
        let link = dir.join("config.yaml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let meta = fs::metadata(&link).unwrap();
        assert_eq!(check_file(&link, &meta, &home), Ok(()));
        fs::set_permissions(&dotfiles, fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            check_file(&link, &meta, &home).unwrap_err().path,
            fs::canonicalize(&dotfiles).unwrap()
        );
    }

    #[test]
    fn outside_home_a_sticky_root_folder_is_fine() {
        // The temp folder is /tmp (1777, root) here; a file of the user's in a
        // private folder inside it passes, a folder open to all does not.
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("token");
        fs::write(&file, "t").unwrap();
        let meta = fs::metadata(&file).unwrap();
        let home = Path::new("/nonexistent/home");
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(check_file(&file, &meta, home), Ok(()));
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_file(&file, &meta, home).is_err());
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    }
}
