//! install.sh: twice into a temporary prefix gives the same tree, and
//! `--uninstall` removes exactly that, leaving what was there before.
//! This is the one test that builds the release binary (into the
//! shared target folder, so cargo builds it once).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::tree_snapshot as snapshot;

fn install_sh(prefix: &Path, extra: &[&str], path: &str) -> std::process::Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Command::new("/bin/sh")
        .arg(root.join("install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .args(extra)
        .env("PATH", path)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("sh runs")
}

#[test]
fn install_twice_is_identical_and_uninstall_leaves_only_what_was_there() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    // Someone else's files in the prefix must survive the uninstall.
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(prefix.join("share/man/man1")).unwrap();
    std::fs::write(prefix.join("bin/other-tool"), "#!/bin/sh\n").unwrap();
    std::fs::write(prefix.join("share/man/man1/other-tool.1"), ".TH x\n").unwrap();
    let before = snapshot(&prefix);

    // Without cargo: says how to get it, and stops before touching anything.
    let empty = tmp.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let out = install_sh(&prefix, &[], empty.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "install.sh: cargo not found. Install Rust (https://rustup.rs), open a new shell, and run ./install.sh again.\n"
    );
    assert_eq!(snapshot(&prefix), before);

    let path = std::env::var("PATH").unwrap();
    let out = install_sh(&prefix, &[], &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What it did, file by file, then the next step (the prefix's bin is
    // not on this PATH).
    let p = prefix.display();
    let mut expected: String = [
        "bin/certsh",
        "libexec/certsh/ssh",
        "share/bash-completion/completions/certsh",
        "share/zsh/site-functions/_certsh",
        "share/fish/vendor_completions.d/certsh.fish",
        "share/man/man1/certsh.1",
        "share/certsh/install-manifest",
    ]
    .iter()
    .map(|rel| format!("installed {p}/{rel}\n"))
    .collect();
    expected.push_str(&format!(
        "certsh is installed in {p}.\n\
         ({p}/bin is not on your PATH; add it, or use the full path below.)\n\
         Next step, so that plain git and IDEs use it:  {p}/bin/certsh setup git\n\
         For plain ssh, scp and rsync as well:           {p}/bin/certsh setup ssh-config\n"
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    let first = snapshot(&prefix);
    for expected in [
        "file bin/certsh 755",
        "file libexec/certsh/ssh 755",
        "file share/bash-completion/completions/certsh 644",
        "file share/zsh/site-functions/_certsh 644",
        "file share/fish/vendor_completions.d/certsh.fish 644",
        "file share/man/man1/certsh.1 644",
        "file share/certsh/install-manifest 644",
    ] {
        assert!(
            first.iter().any(|l| l.starts_with(expected)),
            "{expected} missing from {first:#?}"
        );
    }
    let shim = prefix.join("libexec/certsh/ssh");
    let env_out = Command::new(prefix.join("bin/certsh"))
        .arg("env")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&env_out.stdout),
        format!(
            "export GIT_SSH_COMMAND={}\n",
            std::fs::canonicalize(tmp.path())
                .unwrap()
                .join("prefix/libexec/certsh/ssh")
                .display()
        ),
        "the installed certsh finds its shim {}",
        shim.display()
    );

    // Again: nothing is replaced and the tree is the same. If the sources
    // changed in between (someone editing this checkout), the new binary is
    // rightly installed; then the run after that is the one compared.
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/certsh");
    let mut previous = (first, std::fs::read(&built).unwrap());
    for attempt in 1.. {
        let out = install_sh(&prefix, &[], &path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let now = (snapshot(&prefix), std::fs::read(&built).unwrap());
        if now.1 != previous.1 && attempt < 3 {
            eprintln!("note: the sources changed during the test; installing once more");
            previous = now;
            continue;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.lines().any(|l| l.starts_with("installed ")),
            "the second run replaces nothing:\n{stdout}"
        );
        assert_eq!(now.0, previous.0, "identical result");
        break;
    }

    let out = install_sh(&prefix, &["--uninstall"], "/usr/bin:/bin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        snapshot(&prefix),
        before,
        "only what was there before is left"
    );
}
