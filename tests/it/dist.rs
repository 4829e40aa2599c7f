//! scripts/dist.sh: the release archives of both Linux targets,
//! built here, unpacked and run (the other architecture under qemu); their
//! checksums, signature, installer and Homebrew formula; the Debian
//! package installed with dpkg and purged again; the Windows zip, its
//! certsh.exe run under Wine; and the shim's hot path laid out first.
//!
//! The builds are slow, so scripts/dist.sh runs once per test binary (the
//! `Release` fixture) and the checks are grouped into a few tests.
// Tier all (scripts/test --all): builds the release with scripts/dist.sh,
// which needs the cross tools that tier checks for.
#![cfg(feature = "test-all")]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const HOST: &str = "abcdef7uyxabce@git.us-3.magento.cloud";
const REMOTE: &str = "git-upload-pack 'abcdef7uyxabce.git'";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// This machine's Linux musl target and the other architecture's, as
/// `scripts/other-arch` (the one place that decides it) names it.
fn targets() -> (String, String) {
    let host = std::env::consts::ARCH;
    let out = std::process::Command::new(root().join("scripts/other-arch"))
        .output()
        .expect("scripts/other-arch runs");
    assert!(out.status.success(), "scripts/other-arch failed");
    let other = String::from_utf8(out.stdout).unwrap();
    let other = other.trim();
    assert_ne!(other, host, "the other architecture is another one");
    (
        format!("{host}-unknown-linux-musl"),
        format!("{other}-unknown-linux-musl"),
    )
}

fn arch(target: &str) -> &str {
    target.split('-').next().unwrap()
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// dist.sh with the environment a maintainer's shell would not add.
fn dist_sh(args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new("/bin/sh");
    c.arg(root().join("scripts/dist.sh"))
        .args(args)
        .env_remove("CERTSH_SIGNING_KEY")
        .env_remove("CERTSH_BUILD_COMMIT")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null());
    c
}

/// dist.sh into `out`, signing with `key`, whose line is in `signers`;
/// the targets and other options follow.
fn signed_dist_sh(out: &Path, key: &Path, signers: &Path) -> Command {
    dist_sh(&[
        "--out".as_ref(),
        out.as_os_str(),
        "--signing-key".as_ref(),
        key.as_os_str(),
        "--allowed-signers".as_ref(),
        signers.as_os_str(),
    ])
}

/// One run of scripts/dist.sh for both Linux targets, signed with a key
/// made here, with the Debian packages; and a second run of the host target
/// into another folder, to compare.
struct Release {
    dir: tempfile::TempDir,
}

impl Release {
    fn get() -> &'static Release {
        static RELEASE: OnceLock<Release> = OnceLock::new();
        RELEASE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let key = dir.path().join("release-key");
            let signers = dir.path().join("allowed_signers");
            support::release::signing_key(&key, &signers);
            // A comment, which dist.sh leaves out of the installer it ships.
            let line = std::fs::read_to_string(&signers).unwrap();
            std::fs::write(&signers, format!("# the test's release key\n{line}")).unwrap();
            let (host, other) = targets();
            let out = dir.path().join("out");
            let _one_build = support::release::dist_lock();
            run_ok(signed_dist_sh(&out, &key, &signers).args(["--deb", &host, &other]));
            let again = dir.path().join("again");
            run_ok(&mut dist_sh(&["--out".as_ref(), again.as_os_str()]));
            Release { dir }
        })
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn archive(&self, target: &str) -> PathBuf {
        self.out().join(format!("certsh-{VERSION}-{target}.tar.gz"))
    }

    /// The archive unpacked (once per target) with the system's tar.
    fn unpacked(&self, target: &str) -> PathBuf {
        let dest = self.dir.path().join(format!("unpacked-{target}"));
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock().unwrap();
        if !dest.exists() {
            std::fs::create_dir(&dest).unwrap();
            run_ok(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(self.archive(target))
                    .arg("-C")
                    .arg(&dest),
            );
        }
        dest.join(format!("certsh-{VERSION}-{target}"))
    }
}

/// `tar -tv` of an archive: one line per entry, sorted as stored.
fn listing(archive: &Path) -> Vec<String> {
    let out = run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "-tvzf"])
            .arg(archive)
            .env("TZ", "UTC"),
    );
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[track_caller]
fn assert_static_elf(bin: &Path, target: &str) {
    let header = text(&run_ok(Command::new("readelf").arg("-hW").arg(bin)).stdout);
    let machine = if arch(target) == "aarch64" {
        "AArch64"
    } else {
        "X86-64"
    };
    assert!(
        header.contains(machine),
        "{bin:?} is not {machine}:\n{header}"
    );
    // x86_64: static-pie, position-independent yet with nothing for a
    // loader to do. Rust's aarch64-unknown-linux-musl target does not offer
    // static-pie (its target spec lacks static-position-independent-
    // executables), so that binary is static at a fixed address.
    let kind = if arch(target) == "x86_64" {
        "DYN ("
    } else {
        "EXEC ("
    };
    assert!(header.contains(kind), "{bin:?} is not {kind}:\n{header}");
    let program = text(&run_ok(Command::new("readelf").arg("-lW").arg(bin)).stdout);
    assert!(
        !program.contains("INTERP"),
        "{bin:?} names a dynamic loader:\n{program}"
    );
    let dynamic = text(&run_ok(Command::new("readelf").arg("-dW").arg(bin)).stdout);
    assert!(
        !dynamic.contains("(NEEDED)"),
        "{bin:?} needs shared libraries:\n{dynamic}"
    );
    // A static-pie relocates itself at start: from a packed (RELR) table,
    // as scripts/build-flags.sh asks, its plain table left nearly empty.
    if kind == "DYN (" {
        assert!(
            dynamic.contains("(RELR)"),
            "{bin:?} has no packed relocations:\n{dynamic}"
        );
    }
}

/// Runs a binary built for `target`: natively, or under qemu-user for the
/// other architecture (`argv0` sets the name it sees, as a symlink would);
/// in `env`'s world when given.
fn target_cmd(
    env: Option<&support::TestEnv>,
    target: &str,
    bin: &Path,
    argv0: Option<&str>,
) -> Command {
    let native = arch(target) == std::env::consts::ARCH;
    let program = if native {
        bin.as_os_str().to_owned()
    } else {
        format!("qemu-{}-static", arch(target)).into()
    };
    let mut c = match env {
        Some(env) => env.std_command(&program),
        None => Command::new(&program),
    };
    if native {
        if let Some(name) = argv0 {
            std::os::unix::process::CommandExt::arg0(&mut c, name);
        }
    } else {
        if let Some(name) = argv0 {
            c.arg("-0").arg(name);
        }
        c.arg(bin);
    }
    c.stdin(Stdio::null());
    c
}

fn commit() -> String {
    let out = run_ok(
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(root()),
    );
    text(&out.stdout).trim().to_string()
}

#[test]
fn archives_hold_the_installed_layout_with_a_static_binary_for_each_target() {
    let release = Release::get();
    let (host, other) = targets();
    for target in [&host, &other] {
        let top = format!("certsh-{VERSION}-{target}");
        let entries = listing(&release.archive(target));
        let names: Vec<String> = entries
            .iter()
            .map(|l| l.split_whitespace().nth(5).unwrap().to_string())
            .collect();
        let expected: Vec<String> = [
            "",
            "/LICENSE-APACHE",
            "/LICENSE-MIT",
            "/README.md",
            "/bin",
            "/bin/certsh",
            "/libexec",
            "/libexec/certsh",
            "/libexec/certsh/ssh",
            "/share",
            "/share/bash-completion",
            "/share/bash-completion/completions",
            "/share/bash-completion/completions/certsh",
            "/share/fish",
            "/share/fish/vendor_completions.d",
            "/share/fish/vendor_completions.d/certsh.fish",
            "/share/man",
            "/share/man/man1",
            "/share/man/man1/certsh.1",
            "/share/zsh",
            "/share/zsh/site-functions",
            "/share/zsh/site-functions/_certsh",
        ]
        .iter()
        .map(|p| {
            let dir = entries.iter().any(|l| {
                l.starts_with('d') && l.split_whitespace().nth(5) == Some(&format!("{top}{p}/"))
            });
            format!("{top}{p}{}", if dir { "/" } else { "" })
        })
        .collect();
        assert_eq!(names, expected, "entries of {target}, in this order");
        for line in &entries {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (mode, owner, name) = (f[0], f[1], f[5]);
            assert_eq!(owner, "0/0", "{line}");
            let want = if name.ends_with('/') {
                "drwxr-xr-x"
            } else if name.ends_with("/bin/certsh") || name.ends_with("/libexec/certsh/ssh") {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            };
            assert_eq!(mode, want, "{line}");
        }
        // One fixed time for every entry (the commit's).
        let times: std::collections::BTreeSet<String> = entries
            .iter()
            .map(|l| {
                l.split_whitespace()
                    .skip(3)
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(times.len(), 1, "{entries:#?}");

        let dir = release.unpacked(target);
        let bin = dir.join("bin/certsh");
        assert_static_elf(&bin, target);
        let version = run_ok(target_cmd(None, target, &bin, None).arg("--version"));
        let version = text(&version.stdout);
        let prefix = format!("certsh {VERSION} ({target}, commit {}", commit());
        assert!(
            version.starts_with(&prefix) && version.ends_with(")\n"),
            "{version:?} should start with {prefix:?}"
        );
        // The shipped completions and man page come from this binary.
        let man = std::fs::read_to_string(dir.join("share/man/man1/certsh.1")).unwrap();
        assert!(man.contains(&format!("({target}, commit")), "{man}");
        let bash =
            std::fs::read_to_string(dir.join("share/bash-completion/completions/certsh")).unwrap();
        assert!(bash.contains("complete "), "{bash}");
        assert_eq!(
            std::fs::read(dir.join("LICENSE-MIT")).unwrap(),
            std::fs::read(root().join("LICENSE-MIT")).unwrap()
        );
    }
    // The same commit gives the same archive, byte for byte.
    assert_eq!(
        std::fs::read(release.archive(&host)).unwrap(),
        std::fs::read(
            release
                .dir
                .path()
                .join("again")
                .join(format!("certsh-{VERSION}-{host}.tar.gz"))
        )
        .unwrap(),
        "two builds of {host} differ"
    );
}

#[test]
fn checksums_signature_installer_and_formula_describe_the_archives() {
    let release = Release::get();
    let out = release.out();
    let (host, other) = targets();
    let mut names = [
        format!("certsh-{VERSION}-{host}.tar.gz"),
        format!("certsh-{VERSION}-{other}.tar.gz"),
    ];
    names.sort();
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    let listed: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
    assert_eq!(listed, names, "{sums}");
    run_ok(
        Command::new("sha256sum")
            .args(["--strict", "-c", "SHA256SUMS"])
            .current_dir(&out),
    );

    // The signature, as install.sh checks it, and a tampered list refused.
    let verify = |sums: &Path| {
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(release.dir.path().join("allowed_signers"))
            .args(["-I", "certsh-release", "-n", "certsh-release", "-s"])
            .arg(out.join("SHA256SUMS.sig"))
            .stdin(std::fs::File::open(sums).unwrap())
            .output()
            .unwrap()
    };
    let good = verify(&out.join("SHA256SUMS"));
    assert!(good.status.success(), "{}", text(&good.stderr));
    let tampered = release.dir.path().join("SHA256SUMS.tampered");
    let mut bytes = sums.clone().into_bytes();
    bytes[0] = if bytes[0] == b'0' { b'1' } else { b'0' };
    std::fs::write(&tampered, bytes).unwrap();
    let bad = verify(&tampered);
    assert!(!bad.status.success(), "a changed SHA256SUMS verified");

    // install.sh: the repository's, with the test signer in its block.
    let signer = std::fs::read_to_string(release.dir.path().join("allowed_signers"))
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    let shipped = std::fs::read_to_string(out.join("install.sh")).unwrap();
    let source = std::fs::read_to_string(root().join("install.sh")).unwrap();
    let changed: Vec<(&str, &str)> = source
        .lines()
        .zip(shipped.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [(
            "release_signers=''",
            format!("release_signers='{signer}'").as_str()
        )]
    );
    assert_eq!(source.lines().count(), shipped.lines().count());

    // The formula: each built archive with its checksum, the others named
    // as missing.
    // No Windows zip among them: no Scoop or winget manifest.
    assert!(!out.join("certsh.json").exists() && !out.join("winget").exists());
    let formula = std::fs::read_to_string(out.join("certsh.rb")).unwrap();
    let lines: Vec<&str> = formula.lines().map(str::trim).collect();
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate() {
        if let Some(url) = line.strip_prefix("url \"") {
            let url = url.strip_suffix('"').unwrap();
            let name = url
                .strip_prefix(&format!(
                    "https://github.com/certsh/certsh/releases/download/v{VERSION}/"
                ))
                .unwrap_or_else(|| panic!("{url}"));
            let sum = lines[i + 1]
                .strip_prefix("sha256 \"")
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or_else(|| panic!("no sha256 after {url}"));
            assert_eq!(sum, sha256_hex(&out.join(name)), "{name}");
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "{formula}");
    for t in ["x86_64-apple-darwin", "aarch64-apple-darwin"] {
        assert!(
            formula.contains(&format!(
                "# Not built for this release, so not installable with it: {t}."
            )),
            "{formula}"
        );
    }
    for block in ["on_macos do", "on_linux do", "on_arm do", "on_intel do"] {
        assert!(formula.contains(block), "{formula}");
    }
}

/// The musl builds lay the shim's hot path out first, from
/// scripts/shim-hot-path.order (scripts/build-flags.sh): the file still
/// names what the hot path runs (callgrind follows one connection of the
/// x86_64 archive's shim), and the archive's build followed it. A stale file
/// would only make the shim slower, so nothing else would notice.
#[test]
fn the_shim_hot_path_order_names_what_a_connection_runs_and_the_build_follows_it() {
    let release = Release::get();
    assert_eq!(
        std::env::consts::ARCH,
        "x86_64",
        "the order is written for the x86_64 shim, which callgrind runs here"
    );
    let (host, _) = targets();
    let out = run_ok(
        Command::new(root().join("scripts/shim-order.sh"))
            .arg("--check")
            .arg("--prefix")
            .arg(release.unpacked(&host))
            .stdin(Stdio::null()),
    );
    let line = text(&out.stdout);
    let shape = regex::Regex::new(
        r"^shim-order.sh: the hot path runs (\d+) functions; scripts/shim-hot-path.order lacks (\d+); the build puts _start first\n$",
    )
    .unwrap();
    let caps = shape
        .captures(&line)
        .unwrap_or_else(|| panic!("unexpected: {line:?}"));
    let runs: usize = caps[1].parse().unwrap();
    let lacks: usize = caps[2].parse().unwrap();
    assert!(runs > 100, "{line}");
    assert!(lacks * 10 <= runs, "{line}");
}

#[test]
fn the_other_architecture_runs_status_and_the_hot_path_under_qemu() {
    let release = Release::get();
    let (_, other) = targets();
    let bin = release.unpacked(&other).join("bin/certsh");
    let env = support::TestEnv::new();
    let run = |argv0: Option<&str>, args: &[&str]| {
        target_cmd(Some(&env), &other, &bin, argv0)
            .args(args)
            .env("CERTSH_REAL_SSH", "/bin/true")
            .output()
            .unwrap()
    };
    let none = run(None, &["status"]);
    assert_eq!(none.status.code(), Some(1), "no certificate yet: {none:?}");
    let load = run(None, &["load"]);
    assert!(load.status.success(), "{}", text(&load.stderr));
    let status = run(None, &["status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert_eq!(env.certifier.sign_requests(), 1);
    // The hot path: the shim, a cloud host, a valid certificate cached.
    let hot = run(Some("ssh"), &[HOST, REMOTE]);
    assert!(hot.status.success(), "{}", text(&hot.stderr));
    assert_eq!(
        env.certifier.sign_requests(),
        1,
        "the hot path asked for no certificate"
    );
}

/// Serialises the tests that install the package named certsh on this
/// machine, across test processes as well.
fn system_package_lock() -> std::fs::File {
    let f = std::fs::File::create(std::env::temp_dir().join("certsh-deb-test.lock")).unwrap();
    f.lock().unwrap();
    f
}

/// Purges the package when dropped, so that a failing test leaves the
/// system as it found it.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "certsh"]).output();
    }
}

fn dpkg_knows_certsh() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "certsh"])
        .output()
        .is_ok_and(|o| o.status.success() && text(&o.stdout).contains("installed"))
}

#[test]
fn debian_package_installs_runs_and_purges_without_a_trace() {
    let release = Release::get();
    let (host, _) = targets();
    let deb_arch = if arch(&host) == "x86_64" {
        "amd64"
    } else {
        "arm64"
    };
    let deb = release
        .out()
        .join(format!("certsh_{VERSION}-1_{deb_arch}.deb"));
    assert!(deb.exists(), "{deb:?} was not built");
    let _lock = system_package_lock();
    assert!(
        !dpkg_knows_certsh(),
        "a package named certsh is already installed here (dpkg --purge certsh first)"
    );
    let installed = Installed;
    run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    let files: Vec<PathBuf> = text(&run_ok(Command::new("dpkg").args(["-L", "certsh"])).stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    for f in [
        "/usr/bin/certsh",
        "/usr/libexec/certsh/ssh",
        "/usr/share/bash-completion/completions/certsh",
        "/usr/share/zsh/vendor-completions/_certsh",
        "/usr/share/fish/vendor_completions.d/certsh.fish",
    ] {
        assert!(files.contains(&PathBuf::from(f)), "{f} not in {files:#?}");
    }
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("/usr/share/man/man1/certsh.1")),
        "{files:#?}"
    );
    assert_static_elf(Path::new("/usr/bin/certsh"), &host);
    assert_static_elf(Path::new("/usr/libexec/certsh/ssh"), &host);
    assert_shim_is_small(
        &std::fs::read("/usr/bin/certsh").unwrap(),
        &std::fs::read("/usr/libexec/certsh/ssh").unwrap(),
    );

    let env = support::TestEnv::new();
    let run = |program: &str, args: &[&str]| {
        run_ok(env.std_command(program).args(args).stdin(Stdio::null()))
    };
    let version = text(&run("/usr/bin/certsh", &["--version"]).stdout);
    assert!(
        version.starts_with(&format!("certsh {VERSION} ({host}, commit ")),
        "{version}"
    );
    let shell = text(&run("/usr/bin/certsh", &["env"]).stdout);
    assert!(shell.contains("/usr/libexec/certsh/ssh"), "{shell}");
    // The shim passes -V to the real ssh.
    let ssh_v = run("/usr/libexec/certsh/ssh", &["-V"]);
    assert!(text(&ssh_v.stderr).starts_with("OpenSSH_"), "{ssh_v:?}");

    run_ok(Command::new("dpkg").args(["--purge", "certsh"]));
    drop(installed);
    assert!(!dpkg_knows_certsh());
    // Every file and every folder of certsh's own is gone; folders that
    // other packages share (/usr/share/man/man1, ...) may stay.
    for f in &files {
        let Ok(meta) = std::fs::symlink_metadata(f) else {
            continue;
        };
        assert!(
            meta.is_dir() && !f.to_string_lossy().contains("certsh"),
            "{f:?} is left after dpkg --purge"
        );
    }
}

#[test]
fn a_signing_key_that_the_installer_would_reject_is_refused_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("other-key");
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
    );
    let out = dist_sh(&[
        "--out".as_ref(),
        dir.path().join("out").as_os_str(),
        "--signing-key".as_ref(),
        key.as_os_str(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "dist.sh: the public key of {} is not in {}, so install.sh would reject its signature (add it there, or pass --allowed-signers FILE)\n",
            key.display(),
            root().join("release/allowed_signers").display()
        )
    );
    assert!(!dir.path().join("out").exists(), "nothing is written");

    // Targets that build only on their own system: one line, before any build.
    for (target, os) in [
        ("aarch64-apple-darwin", "macOS"),
        ("x86_64-pc-windows-msvc", "Windows"),
    ] {
        let out = dist_sh(&[target.as_ref()]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{target}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "dist.sh: {target} builds only on {os} (the release workflow builds it on a {os} runner)\n"
            )
        );
    }
}

/// The Windows archive: dist.sh cross-builds `x86_64-pc-windows-gnu` with
/// mingw-w64 and zips the layout with the shim copied; the checksum and its
/// signature cover the zip; certsh.exe needs only DLLs Windows ships, and
/// under Wine it runs, and its copy named ssh.exe knows itself as the shim.
#[test]
fn the_windows_zip_holds_certsh_exe_and_its_shim_and_runs_under_wine() {
    const TARGET: &str = "x86_64-pc-windows-gnu";
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("release-key");
    let signers = dir.path().join("allowed_signers");
    support::release::signing_key(&key, &signers);
    let out = dir.path().join("out");
    {
        let _one_build = support::release::dist_lock();
        run_ok(signed_dist_sh(&out, &key, &signers).arg(TARGET));
    }
    let name = format!("certsh-{VERSION}-{TARGET}");
    let zip = out.join(format!("{name}.zip"));
    assert_eq!(
        std::fs::read_to_string(out.join("SHA256SUMS")).unwrap(),
        format!("{}  {name}.zip\n", sha256_hex(&zip))
    );
    run_ok(
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&signers)
            .args(["-I", "certsh-release", "-n", "certsh-release", "-s"])
            .arg(out.join("SHA256SUMS.sig"))
            .stdin(std::fs::File::open(out.join("SHA256SUMS")).unwrap()),
    );
    let listed = run_ok(
        Command::new("python3")
            .args(["-m", "zipfile", "-l"])
            .arg(&zip),
    );
    let entries: Vec<String> = text(&listed.stdout)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let expected: Vec<String> = [
        "LICENSE-APACHE",
        "LICENSE-MIT",
        "README.md",
        "bin/certsh.exe",
        "libexec/certsh/ssh.exe",
    ]
    .iter()
    .map(|f| format!("{name}/{f}"))
    .collect();
    assert_eq!(entries, expected);
    let unpacked = dir.path().join("unpacked");
    run_ok(
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&zip)
            .arg(&unpacked),
    );
    let exe = unpacked.join(&name).join("bin/certsh.exe");
    let shim = unpacked.join(&name).join("libexec/certsh/ssh.exe");
    let bytes = std::fs::read(&exe).unwrap();
    assert_eq!(&bytes[..2], b"MZ", "certsh.exe is a Windows program");
    let shim_bytes = std::fs::read(&shim).unwrap();
    assert_eq!(&shim_bytes[..2], b"MZ", "ssh.exe is a Windows program");
    assert_shim_is_small(&bytes, &shim_bytes);
    assert_windows_manifests(&out, &unpacked, &name, &sha256_hex(&zip));
    // Only what every Windows has: no mingw runtime DLL to ship beside it.
    let dump = run_ok(
        Command::new("x86_64-w64-mingw32-objdump")
            .arg("-p")
            .arg(&exe),
    );
    let mut dlls: Vec<String> = text(&dump.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DLL Name: "))
        .map(str::to_ascii_lowercase)
        .collect();
    dlls.sort();
    dlls.dedup();
    let system = [
        "advapi32.dll",
        "api-ms-win-core-synch-l1-2-0.dll",
        "bcrypt.dll",
        "bcryptprimitives.dll",
        "crypt32.dll",
        "kernel32.dll",
        "msvcrt.dll",
        "ntdll.dll",
        "userenv.dll",
        "ws2_32.dll",
    ];
    let other: Vec<&String> = dlls
        .iter()
        .filter(|d| !system.contains(&d.as_str()))
        .collect();
    assert!(
        other.is_empty(),
        "certsh.exe needs DLLs Windows does not ship: {other:?}"
    );
    let wine = root().join("scripts/wine");
    let version = run_ok(Command::new(&wine).arg("run").arg(&exe).arg("--version"));
    let printed = text(&version.stdout);
    assert!(
        printed.starts_with(&format!("certsh {VERSION} ({TARGET}, commit ")),
        "{printed}"
    );
    // The release checks access lists: it is not the build for the
    // end-to-end test under Wine (Cargo.toml, `unchecked-access-lists`).
    assert!(
        !printed.contains(certsh::config::cli::UNCHECKED),
        "{printed}"
    );
    // Under Wine there is no real ssh.exe: the shim must not find itself.
    let refused = Command::new(&wine)
        .arg("run")
        .arg(&shim)
        .arg("-V")
        .env_remove("CERTSH_REAL_SSH")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(255));
    let said: Vec<String> = text(&refused.stderr)
        .lines()
        .filter(|l| l.starts_with("certsh:"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        said,
        [
            "certsh: no ssh found on PATH other than certsh itself (install OpenSSH's client, \
          or set CERTSH_REAL_SSH to its path)"
        ]
    );
}

/// The shim program holds no HTTP client (reqwest's error texts are its
/// mark), which certsh does: that is what keeps it fast to start
/// (docs/benchmarks.md). A shim that called the renewal would link it all.
#[track_caller]
fn assert_shim_is_small(certsh: &[u8], shim: &[u8]) {
    let holds = |bytes: &[u8], what: &[u8]| bytes.windows(what.len()).any(|w| w == what);
    for mark in [&b"error sending request"[..], b"builder error"] {
        let mark_text = String::from_utf8_lossy(mark);
        assert!(
            holds(certsh, mark),
            "certsh holds the HTTP client ({mark_text})"
        );
        assert!(
            !holds(shim, mark),
            "the shim holds no HTTP client ({mark_text})"
        );
    }
    assert!(
        shim.len() * 2 < certsh.len(),
        "the shim ({} bytes) is well under half of certsh ({} bytes)",
        shim.len(),
        certsh.len()
    );
}

/// Scoop's and winget's manifests name this zip with its checksum, and the
/// program they put on PATH is `bin\certsh.exe` of the unpacked zip (the
/// shim stays beside it, off PATH).
#[track_caller]
fn assert_windows_manifests(out: &Path, unpacked: &Path, name: &str, sum: &str) {
    let url = format!("https://github.com/certsh/certsh/releases/download/v{VERSION}/{name}.zip");
    let scoop: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("certsh.json")).unwrap()).unwrap();
    assert_eq!(
        scoop,
        serde_json::json!({
            "version": VERSION,
            "description": "Short-lived SSH certificates for Magento Cloud, Platform.sh and Upsun",
            "homepage": "https://github.com/certsh/certsh",
            "license": "MIT|Apache-2.0",
            "architecture": {"64bit": {"url": url, "hash": sum, "extract_dir": name}},
            "bin": "bin\\certsh.exe",
        })
    );
    let on_path = |relative: &str| unpacked.join(relative.replace('\\', "/"));
    assert!(on_path(&format!("{name}\\bin\\certsh.exe")).is_file());

    let winget = out.join("winget");
    let mut files: Vec<String> = std::fs::read_dir(&winget)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "certsh.certsh.installer.yaml",
            "certsh.certsh.locale.en-US.yaml",
            "certsh.certsh.yaml"
        ]
    );
    let read = |f: &str| -> serde_norway::Value {
        serde_norway::from_str(&std::fs::read_to_string(winget.join(f)).unwrap()).unwrap()
    };
    for f in &files {
        let m = read(f);
        assert_eq!(m["PackageIdentifier"], "certsh.certsh", "{f}");
        assert_eq!(m["PackageVersion"], VERSION, "{f}");
        assert_eq!(m["ManifestVersion"], "1.6.0", "{f}");
    }
    let installer = read("certsh.certsh.installer.yaml");
    assert_eq!(installer["ManifestType"], "installer");
    assert_eq!(installer["InstallerType"], "zip");
    assert_eq!(installer["NestedInstallerType"], "portable");
    let nested = &installer["NestedInstallerFiles"][0];
    assert_eq!(nested["PortableCommandAlias"], "certsh");
    let relative = nested["RelativeFilePath"].as_str().unwrap();
    assert_eq!(relative, format!("{name}\\bin\\certsh.exe"));
    assert!(on_path(relative).is_file(), "{relative} is in the zip");
    let one = &installer["Installers"][0];
    assert_eq!(one["Architecture"], "x64");
    assert_eq!(one["InstallerUrl"], url.as_str());
    assert_eq!(one["InstallerSha256"], sum.to_ascii_uppercase().as_str());
    let locale = read("certsh.certsh.locale.en-US.yaml");
    assert_eq!(locale["ManifestType"], "defaultLocale");
    assert_eq!(read("certsh.certsh.yaml")["DefaultLocale"], "en-US");
}
