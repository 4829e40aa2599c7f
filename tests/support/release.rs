//! A real release, as users download it: `scripts/dist.sh` builds this
//! machine's release archive into a temporary folder, signs `SHA256SUMS`
//! with a key made for the test, writes that key's `allowed_signers` into
//! the released `install.sh`, and a [`FileServer`] serves the folder on
//! 127.0.0.1. For the tests of the CI recipes (docs/ci.md) and of the GitHub
//! Action (action.yml): what they install is the release binary, not the
//! binary under test.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::FileServer;

/// This machine's release target: its static Linux musl archive, or on a
/// Mac its Apple one (which `scripts/dist.sh` builds only there).
pub const TARGET: &str = match (cfg!(target_os = "macos"), cfg!(target_arch = "aarch64")) {
    (false, true) => "aarch64-unknown-linux-musl",
    (false, false) => "x86_64-unknown-linux-musl",
    (true, true) => "aarch64-apple-darwin",
    (true, false) => "x86_64-apple-darwin",
};

/// The version the release carries: Cargo.toml's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A signed release folder and the loopback server over it.
pub struct Release {
    /// `key` (the signing key), `allowed_signers`, `dist/` (what is served).
    pub dir: TempDir,
    pub server: FileServer,
}

impl Release {
    /// Runs `scripts/dist.sh --out <dir>/dist --signing-key ... --allowed-signers ... <TARGET>`
    /// and serves the result. Panics with dist.sh's output if it fails.
    pub fn build() -> Release {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("key");
        let signers = dir.path().join("allowed_signers");
        signing_key(&key, &signers);
        let out = dir.path().join("dist");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let _one_build = dist_lock();
        run(Command::new(root.join("scripts/dist.sh"))
            .arg("--out")
            .arg(&out)
            .arg("--signing-key")
            .arg(&key)
            .arg("--allowed-signers")
            .arg(&signers)
            .arg(TARGET));
        for f in ["SHA256SUMS", "SHA256SUMS.sig", "install.sh"] {
            assert!(out.join(f).is_file(), "dist.sh made no {f}");
        }
        assert!(
            out.join(archive()).is_file(),
            "dist.sh made no {}",
            archive()
        );
        let server = FileServer::serve(&out);
        Release { dir, server }
    }

    /// The base URL the release files are downloaded from.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The served folder.
    pub fn files(&self) -> &Path {
        self.server.root()
    }

    /// `allowed_signers` naming the key the release is signed with.
    pub fn allowed_signers(&self) -> PathBuf {
        self.dir.path().join("allowed_signers")
    }
}

/// A release signing key made for a test at `key` (ed25519, no
/// passphrase), and `signers`, an `allowed_signers` file naming its public
/// half with the principal and namespace install.sh checks
/// (`certsh-release`).
/// Held while `scripts/dist.sh` runs: the test modules share one process,
/// and two builds at once would race for `target/<target>/release`.
pub fn dist_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn signing_key(key: &Path, signers: &Path) {
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "certsh-release",
            "-f",
        ])
        .arg(key));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let public: Vec<&str> = public.split_whitespace().take(2).collect();
    std::fs::write(
        signers,
        format!(
            "certsh-release namespaces=\"certsh-release\" {}\n",
            public.join(" ")
        ),
    )
    .unwrap();
}

/// The archive's file name for this machine.
pub fn archive() -> String {
    format!("certsh-{VERSION}-{TARGET}.tar.gz")
}

#[track_caller]
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
