//! Where certsh and its `ssh` shim are, for everything that tells another
//! program to run certsh: git's `core.sshCommand`, `GIT_SSH_COMMAND`,
//! `scp -S`, `rsync -e` and ssh_config's `Match exec`.
//!
//! Those programs run with their own `PATH` (an IDE's, ssh's, a CI runner's),
//! so they are given absolute paths: a bare `certsh` that is not on their
//! `PATH` was the official CLI's "Permission denied (publickey)" with no hint.
//! git is given the shim rather than `certsh ssh` because git recognises
//! OpenSSH by the name `ssh` and then skips its `-G` probe.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::util::error::Fixable;

/// Where an install puts certsh and its shim under its prefix: the one
/// tree install.sh, `scripts/dist.sh`'s archives, the Debian package and the
/// Homebrew formula make (docs/release.md). The scripts spell the same
/// paths; `tests/it/architecture.rs` checks that they spell no other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The prefix: `~/.local`, `/usr/local`, `/usr`.
    pub prefix: PathBuf,
}

impl Layout {
    /// certsh itself, under the prefix.
    pub const PROGRAM: &str = "bin/certsh";
    /// The shim: the small program built as [`Layout::SHIM_BUILT`], under
    /// the name `ssh`. An older install's symbolic link to
    /// [`Layout::PROGRAM`] works too (certsh named `ssh` is the shim).
    pub const SHIM: &str = "libexec/certsh/ssh";
    /// The shim in the Windows zip.
    pub const SHIM_WINDOWS: &str = "libexec/certsh/ssh.exe";
    /// The shim program as cargo builds it (`src/bin/certsh-ssh.rs`), beside
    /// `certsh` in the build's folder.
    pub const SHIM_BUILT: &str = "certsh-ssh";

    /// The layout `program` would be the certsh of: its folder's parent
    /// is the prefix.
    pub fn of_program(program: &Path) -> Option<Layout> {
        let prefix = program.parent()?.parent()?;
        Some(Layout {
            prefix: prefix.to_path_buf(),
        })
    }

    /// The layout `shim` is the shim of: three folders up is the prefix.
    pub fn of_shim(shim: &Path) -> Option<Layout> {
        let dir = shim.parent()?;
        let libexec = dir.parent()?;
        let names_fit = dir.file_name()? == "certsh" && libexec.file_name()? == "libexec";
        names_fit.then(|| Layout {
            prefix: libexec.parent().unwrap_or(Path::new("")).to_path_buf(),
        })
    }

    /// Where the shim is in this layout.
    pub fn shim(&self) -> PathBuf {
        self.prefix.join(program_file(Layout::SHIM))
    }

    /// Where certsh is in this layout.
    pub fn program(&self) -> PathBuf {
        self.prefix.join(program_file(Layout::PROGRAM))
    }

    /// Whether `path` (as written in a configuration) is the shim of some
    /// layout.
    pub fn is_shim(path: &str) -> bool {
        path.strip_suffix(Layout::SHIM)
            .is_some_and(|prefix| prefix.ends_with('/'))
    }
}

/// `name` as a program's file is named here (`.exe` on Windows).
fn program_file(name: &str) -> String {
    [name, std::env::consts::EXE_SUFFIX].concat()
}

/// The programs that are certsh, from `exe` (the running one): `exe`, and
/// where its partner would be. certsh's partner is its shim (in the layout,
/// or built beside it); the shim's is certsh. Whichever of them exists is
/// never taken for the real ssh.
pub fn own_programs(exe: &Path) -> Vec<PathBuf> {
    let mut all = vec![exe.to_path_buf()];
    if is_certsh(exe) {
        all.extend(Layout::of_program(exe).map(|l| l.shim()));
        all.push(exe.with_file_name(program_file(Layout::SHIM_BUILT)));
    } else {
        all.extend(certsh_beside(exe));
    }
    all
}

/// The device and inode (or volume and index) of each of
/// [`own_programs`] that exists, for "is this `ssh` certsh?".
pub fn own_ids() -> Vec<(u64, u64)> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    own_programs(&exe)
        .iter()
        .filter_map(|p| crate::util::file_id::file_id(p))
        .collect()
}

/// Whether `exe` is certsh itself (by its name), rather than the shim.
fn is_certsh(exe: &Path) -> bool {
    exe.file_stem().is_some_and(|s| s == "certsh")
}

/// Where certsh would be for the shim `shim`: in its layout, else beside it
/// (a build's folder), in that order.
fn certsh_beside(shim: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = Layout::of_shim(shim)
        .map(|l| l.program())
        .into_iter()
        .collect();
    all.push(shim.with_file_name(program_file("certsh")));
    all
}

/// certsh itself, from whichever of its programs is running: the shim hands
/// it what it does not do (renewing, logging in, the background renewal).
pub fn certsh_program() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the certsh program itself")?;
    if is_certsh(&exe) {
        return Ok(exe);
    }
    let candidates = certsh_beside(&exe);
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    Err(Fixable::new(
        format!(
            "certsh is not installed beside its shim {} (expected {})",
            exe.display(),
            candidates[0].display()
        ),
        "install certsh again with install.sh",
    )
    .into())
}

/// The running certsh and, when installed, its shim.
#[derive(Debug)]
pub struct Installed {
    /// This program, absolute.
    pub exe: PathBuf,
    /// `<prefix>/libexec/certsh/ssh` when it is installed beside this
    /// program (install.sh's layout): the shim program, or this program
    /// under the name `ssh`.
    pub shim: Option<PathBuf>,
}

impl Installed {
    /// Finds this program and the shim that install.sh puts beside it.
    pub fn locate() -> Result<Installed> {
        let exe = std::env::current_exe().context("cannot find the certsh program itself")?;
        let shim = Layout::of_program(&exe)
            .map(|layout| layout.shim())
            .filter(|shim| shim.is_file());
        Ok(Installed { exe, shim })
    }

    /// The command line that runs certsh as ssh, for a shell (git's
    /// `core.sshCommand` and `GIT_SSH_COMMAND`, rsync's `-e`): the shim, or
    /// `certsh ssh` when certsh was installed without it.
    pub fn ssh_command(&self) -> Result<String> {
        match &self.shim {
            Some(shim) => sh_quote_path(shim),
            None => Ok(format!("{} ssh", sh_quote_path(&self.exe)?)),
        }
    }

    /// The shim itself, for programs that take a program and no arguments
    /// (`scp -S`).
    pub fn shim(&self) -> Result<&Path> {
        self.shim.as_deref().ok_or_else(|| {
            let expected = Layout::of_program(&self.exe)
                .map_or_else(|| PathBuf::from(Layout::SHIM), |layout| layout.shim());
            Fixable::new(
                format!(
                    "certsh's ssh shim is not installed beside {} (expected {})",
                    self.exe.display(),
                    expected.display()
                ),
                format!(
                    "install certsh with install.sh, or create it: ln -s {} {}",
                    self.exe.display(),
                    expected.display()
                ),
            )
            .into()
        })
    }
}

/// A path as one word for `sh`, refusing what cannot be written safely.
pub fn sh_quote_path(path: &Path) -> Result<String> {
    let text = path.to_str().ok_or_else(|| {
        Fixable::new(
            format!("the path {} is not UTF-8", path.display()),
            "install certsh under a plain path",
        )
    })?;
    if text.contains(['\n', '\r', '\0']) {
        return Err(Fixable::new(
            format!("the path {text:?} contains a line break"),
            "install certsh under a plain path",
        )
        .into());
    }
    Ok(sh_quote(text))
}

/// `text` as one word for `sh`: unchanged when it is plain, else in single
/// quotes.
pub fn sh_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._+-:@%=,".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shim_is_under_the_programs_prefix() {
        let layout = Layout::of_program(Path::new("/home/me/.local/bin/certsh")).unwrap();
        assert_eq!(layout.prefix, Path::new("/home/me/.local"));
        let exe = std::env::consts::EXE_SUFFIX;
        let same = |a: PathBuf, b: String| a.components().eq(Path::new(&b).components());
        assert!(same(
            layout.shim(),
            format!("/home/me/.local/libexec/certsh/ssh{exe}")
        ));
        assert!(same(
            layout.program(),
            format!("/home/me/.local/bin/certsh{exe}")
        ));
        // And back: the shim's layout is the same one.
        assert_eq!(Layout::of_shim(&layout.shim()), Some(layout));
        assert_eq!(Layout::of_shim(Path::new("/home/me/bin/ssh")), None);
        assert!(Layout::is_shim("/usr/libexec/certsh/ssh"));
        assert!(!Layout::is_shim("libexec/certsh/ssh"));
        assert!(!Layout::is_shim("/opt/mylibexec/certsh/ssh"));
        assert!(!Layout::is_shim("/usr/libexec/certsh/ssh2"));
    }

    #[test]
    fn each_program_counts_its_partner_as_certsh() {
        let exe = std::env::consts::EXE_SUFFIX;
        let certsh = PathBuf::from(format!("/p/bin/certsh{exe}"));
        let mine = own_programs(&certsh);
        assert!(mine.contains(&PathBuf::from(format!("/p/libexec/certsh/ssh{exe}"))));
        assert!(mine.contains(&PathBuf::from(format!("/p/bin/certsh-ssh{exe}"))));
        let shim = PathBuf::from(format!("/p/libexec/certsh/ssh{exe}"));
        let mine = own_programs(&shim);
        assert_eq!(mine[1], PathBuf::from(format!("/p/bin/certsh{exe}")));
        assert_eq!(
            mine[2],
            PathBuf::from(format!("/p/libexec/certsh/certsh{exe}"))
        );
    }

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(
            sh_quote("/home/me/.local/libexec/certsh/ssh"),
            "/home/me/.local/libexec/certsh/ssh"
        );
    }

    #[test]
    fn spaces_and_quotes_are_single_quoted() {
        assert_eq!(sh_quote("/Users/a b/ssh"), "'/Users/a b/ssh'");
        assert_eq!(sh_quote("/it's/ssh"), r"'/it'\''s/ssh'");
        assert_eq!(sh_quote("$HOME"), "'$HOME'");
        assert_eq!(sh_quote(""), "''");
    }

    /// What `setup git` writes on Windows: Git for Windows runs
    /// core.sshCommand through its sh, which keeps backslashes inside single
    /// quotes as they are.
    #[test]
    fn a_windows_path_is_single_quoted_with_its_backslashes() {
        let shim = r"C:\Users\Me\AppData\Local\Programs\certsh\libexec\certsh\ssh.exe";
        assert_eq!(sh_quote(shim), format!("'{shim}'"));
    }

    #[test]
    fn line_breaks_are_refused() {
        assert!(sh_quote_path(Path::new("/a\nb")).is_err());
    }
}
