//! Build facts for `certsh --version`: the target triple and the commit the
//! binary is built from, so that a release binary says exactly what it is.
//!
//! The commit is `git rev-parse --short=12 HEAD`, or `CERTSH_BUILD_COMMIT`
//! when set (scripts/dist.sh sets it, with `-dirty` for a modified tree; a
//! source tarball without git can set it too), or `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=CERTSH_BUILD_TARGET={target}");
    println!("cargo:rerun-if-env-changed=CERTSH_BUILD_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let commit = match std::env::var("CERTSH_BUILD_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            watch_head();
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=CERTSH_BUILD_COMMIT={commit}");
}

/// Rebuilds when HEAD moves: HEAD itself (a branch switch or a detached
/// checkout) and the branch it names (a commit). Found through git, since in
/// a worktree `.git` is a file and the branch lives in the common folder.
/// Only existing files are named: cargo reruns a script every time for a
/// missing one.
fn watch_head() {
    let mut files = Vec::new();
    files.extend(git(&["rev-parse", "--git-path", "HEAD"]));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        files.extend(git(&["rev-parse", "--git-path", &branch]));
    }
    // A branch whose ref was packed (git gc) is only in packed-refs.
    files.extend(git(&["rev-parse", "--git-path", "packed-refs"]));
    for f in files {
        if Path::new(&f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_string())
}
