//! install.sh in release mode, as a user without a checkout runs it: served
//! from a loopback HTTP server (or read from a folder), checked against
//! SHA256SUMS and its signature, installed without cargo, then a first clone
//! through the real sshd with only the token set. And every way it must
//! refuse: one line, nothing installed, the previous install still working.
//!
// Tier all (scripts/test --all): builds the release with scripts/dist.sh,
// which needs the cross tools that tier checks for.
#![cfg(feature = "test-all")]

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::*;

use support::release::{TARGET, VERSION, signing_key};

/// A newer version, re-packed from the first release's files.
const NEWER: &str = "0.1.999";

fn archive(version: &str) -> String {
    format!("certsh-{version}-{TARGET}.tar.gz")
}

/// The signing key and the releases made with it, once per test run.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn key(&self) -> PathBuf {
        self.dir.path().join("release_key")
    }

    /// `allowed_signers` naming the release key.
    fn signers(&self) -> PathBuf {
        self.dir.path().join("allowed_signers")
    }

    /// A signed release of [`VERSION`] made by `scripts/dist.sh`: archive,
    /// SHA256SUMS, SHA256SUMS.sig and install.sh with the signer filled in.
    fn release(&self) -> &Path {
        static DONE: OnceLock<PathBuf> = OnceLock::new();
        DONE.get_or_init(|| {
            let out = self.dir.path().join("release");
            dist(&out, self);
            out
        })
    }

    /// A signed release of [`NEWER`] whose binary differs from [`VERSION`]'s.
    fn newer_release(&self) -> &Path {
        static DONE: OnceLock<PathBuf> = OnceLock::new();
        DONE.get_or_init(|| {
            let out = self.dir.path().join("newer");
            repack(self.release(), VERSION, &out, NEWER, self);
            out
        })
    }

    /// Another key, not in `allowed_signers`, and the signers file that
    /// names it instead (a fork's).
    fn stranger_key(&self) -> PathBuf {
        static DONE: OnceLock<PathBuf> = OnceLock::new();
        DONE.get_or_init(|| {
            let key = self.dir.path().join("stranger_key");
            signing_key(&key, &self.stranger_signers());
            key
        })
        .clone()
    }

    fn stranger_signers(&self) -> PathBuf {
        self.dir.path().join("stranger_signers")
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture { dir };
        signing_key(&fixture.key(), &fixture.signers());
        fixture
    })
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The release as published: `scripts/dist.sh` builds this machine's
/// static musl archive, signs SHA256SUMS with the test key and writes
/// install.sh with the test signer in it.
fn dist(out: &Path, fixture: &Fixture) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let _one_build = support::release::dist_lock();
    run_ok(
        Command::new(root.join("scripts/dist.sh"))
            .arg("--out")
            .arg(out)
            .arg("--signing-key")
            .arg(fixture.key())
            .arg("--allowed-signers")
            .arg(fixture.signers()),
    );
    for f in [
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "install.sh",
        &archive(VERSION),
    ] {
        assert!(out.join(f).is_file(), "dist.sh wrote {f}");
    }
}

/// `src`'s archive of `from` re-packed as version `to` into `out`, with a
/// few bytes appended to the binary so that it differs.
fn repack(src: &Path, from: &str, out: &Path, to: &str, fixture: &Fixture) {
    let stage = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(src.join(archive(from)))
            .arg("-C")
            .arg(stage.path()),
    );
    let old = stage.path().join(format!("certsh-{from}-{TARGET}"));
    let new = stage.path().join(format!("certsh-{to}-{TARGET}"));
    std::fs::rename(&old, &new).unwrap();
    let mut bin = std::fs::OpenOptions::new()
        .append(true)
        .open(new.join("bin/certsh"))
        .unwrap();
    std::io::Write::write_all(&mut bin, format!("\0certsh {to}\0").as_bytes()).unwrap();
    drop(bin);
    pack(stage.path(), to, out, fixture);
}

/// A release folder from a staged top folder, as scripts/dist.sh writes it
/// (the signer filled into install.sh as dist.sh does).
fn pack(stage: &Path, version: &str, out: &Path, fixture: &Fixture) {
    std::fs::create_dir_all(out).unwrap();
    let name = archive(version);
    run_ok(
        Command::new("tar")
            .arg("-czf")
            .arg(out.join(&name))
            .arg("-C")
            .arg(stage)
            .arg(format!("certsh-{version}-{TARGET}")),
    );
    let sums = run_ok(Command::new("sha256sum").arg(&name).current_dir(out));
    std::fs::write(out.join("SHA256SUMS"), sums).unwrap();
    sign(out, &fixture.key());
    let signers = std::fs::read_to_string(fixture.signers()).unwrap();
    let script =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("install.sh"))
            .unwrap();
    assert!(script.contains("\nrelease_signers=''\n"));
    let script = script.replacen(
        "\nrelease_signers=''\n",
        &format!("\nrelease_signers='{}'\n", signers.trim_end()),
        1,
    );
    std::fs::write(out.join("install.sh"), script).unwrap();
    std::fs::set_permissions(
        out.join("install.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

/// (Re-)signs `dir/SHA256SUMS` with `key`.
fn sign(dir: &Path, key: &Path) {
    let _ = std::fs::remove_file(dir.join("SHA256SUMS.sig"));
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", "certsh-release", "-f"])
            .arg(key)
            .arg(dir.join("SHA256SUMS")),
    );
}

/// A copy of a release folder, to tamper with.
fn copy_release(src: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to.to_path_buf()
}

/// One user's machine: an empty HOME (the prefix is `~/.local`) and a
/// shell command line to run in it.
struct Machine {
    root: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("home")).unwrap();
        Machine { root }
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    fn prefix(&self) -> PathBuf {
        self.home().join(".local")
    }

    /// `sh -c <line>` with PATH=/usr/bin:/bin (no cargo) unless `vars`
    /// says otherwise, and nothing else of the test's environment.
    fn sh(&self, line: &str, vars: &[(&str, &str)]) -> Printed {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(line)
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C")
            .current_dir(self.root.path());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("sh runs").into()
    }

    /// `sh <release>/install.sh --from <release> <args>` (a later `--from`
    /// in `args` wins), which must succeed.
    #[track_caller]
    fn install(&self, release: &Path, args: &str) -> Printed {
        let r = release.display();
        let p = self.sh(&format!("sh '{r}/install.sh' --from '{r}' {args}"), &[]);
        assert_eq!(p.code, Some(0), "install failed:\n{}{}", p.stdout, p.stderr);
        p
    }

    /// The installed certsh runs and its shim reaches the real ssh.
    #[track_caller]
    fn assert_works(&self) {
        let out = Command::new(self.prefix().join("bin/certsh"))
            .arg("--version")
            .output()
            .unwrap();
        assert!(out.status.success(), "the installed certsh runs");
        let out = Command::new(self.prefix().join("libexec/certsh/ssh"))
            .arg("-V")
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stderr).starts_with("OpenSSH"),
            "the shim runs the real ssh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs an install that must be refused with exactly `message`, and
    /// checks it changed nothing and the previous install still works.
    #[track_caller]
    fn assert_refused(&self, line: &str, vars: &[(&str, &str)], message: &str) {
        let before = tree_snapshot(self.root.path());
        let p = self.sh(line, vars);
        assert_eq!(
            (p.code, p.stderr.as_str()),
            (Some(1), format!("{message}\n").as_str()),
            "stdout:\n{}",
            p.stdout
        );
        assert!(!replaced_any(&p.stdout), "nothing installed:\n{}", p.stdout);
        assert_eq!(
            tree_snapshot(self.root.path()),
            before,
            "the refused install changed nothing"
        );
        self.assert_works();
    }
}

/// Whether install.sh's output says it replaced a file.
fn replaced_any(stdout: &str) -> bool {
    stdout.lines().any(|l| l.starts_with("installed "))
}

/// The prefix's installed files (the source install's test checks the same).
fn assert_installed_layout(prefix: &Path) {
    let tree = tree_snapshot(prefix);
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
            tree.iter().any(|l| l.starts_with(expected)),
            "{expected} missing from {tree:#?}"
        );
    }
    assert!(
        !tree.iter().any(|l| l.contains(".certsh-install")),
        "no work folder left: {tree:#?}"
    );
}

#[test]
fn curl_pipe_sh_from_loopback_installs_without_cargo_and_the_first_clone_needs_only_the_token() {
    let release = fixture().release();
    let server = FileServer::serve(release);
    let mut env = TestEnv::with_sshd();
    env.set("PATH", "/usr/bin:/bin");
    let p = ok(env
        .command_plain("/bin/sh")
        .arg("-c")
        .arg(format!("curl -fsSL {}/install.sh | sh", server.url()))
        .env("CERTSH_DOWNLOAD_URL", server.url())
        .env_remove("MAGENTO_CLOUD_CLI_TOKEN"));
    let prefix = env.home().join(".local");
    // What the user reads, whole: the download, each file installed, the
    // next step.
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/install_from_curl_pipe_sh.stdout"],
    );
    // The line the case leaves open, whole: this version, this target.
    let from = format!("certsh {VERSION} ({TARGET}) from {}", server.url());
    assert!(p.stdout.lines().any(|l| l == from), "{from}\n{}", p.stdout);
    assert_installed_layout(&prefix);
    // Each file once, the signature included: the embedded signer was used.
    for path in ["/install.sh", "/SHA256SUMS", "/SHA256SUMS.sig"] {
        assert_eq!(server.requests(path), 1, "{path}");
    }
    assert_eq!(server.requests(&format!("/{}", archive(VERSION))), 1);

    // The first clone: the installed shim, the token and nothing else.
    let ssh = format!(
        "{} -F {}",
        prefix.join("libexec/certsh/ssh").display(),
        env.ssh_config().display()
    );
    ok(env.git(&ssh, ["clone", "-q", &env.git_url(), "clone"]));
    assert!(
        env.path("work/clone/README").exists(),
        "the clone has the commit"
    );
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn from_a_folder_twice_installs_once_and_uninstall_leaves_only_what_was_there() {
    let release = fixture().release();
    let m = Machine::new();
    // Someone else's files in the prefix must survive the uninstall.
    std::fs::create_dir_all(m.prefix().join("bin")).unwrap();
    std::fs::create_dir_all(m.prefix().join("share/man/man1")).unwrap();
    std::fs::write(m.prefix().join("bin/other-tool"), "#!/bin/sh\n").unwrap();
    std::fs::write(m.prefix().join("share/man/man1/other-tool.1"), ".TH x\n").unwrap();
    let before = tree_snapshot(&m.home());

    // Air-gapped: the release files in a folder, the script run by bash.
    let line = format!(
        "bash '{}/install.sh' --from '{}'",
        release.display(),
        release.display()
    );
    let p = m.sh(&line, &[]);
    assert_eq!(p.code, Some(0), "{}{}", p.stdout, p.stderr);
    assert!(replaced_any(&p.stdout), "{}", p.stdout);
    assert_installed_layout(&m.prefix());
    m.assert_works();
    let first = tree_snapshot(&m.home());

    let p = m.sh(&line, &[]);
    assert_eq!(p.code, Some(0), "{}{}", p.stdout, p.stderr);
    assert!(
        !p.stdout.lines().any(|l| l.starts_with("installed ")),
        "the second run replaces nothing:\n{}",
        p.stdout
    );
    assert_eq!(tree_snapshot(&m.home()), first, "identical result");

    let p = m.sh(
        &format!("sh '{}/install.sh' --uninstall", release.display()),
        &[],
    );
    assert_eq!(p.code, Some(0), "{}{}", p.stdout, p.stderr);
    assert_eq!(
        tree_snapshot(&m.home()),
        before,
        "only what was there before is left"
    );
}

#[test]
fn a_newer_version_replaces_the_files_and_version_picks_one() {
    let f = fixture();
    let m = Machine::new();
    let server = FileServer::serve(f.newer_release());
    m.install(f.release(), "");
    m.assert_works();
    let old_manifest = std::fs::read(m.prefix().join("share/certsh/install-manifest")).unwrap();

    let p = m.install(f.newer_release(), &format!("--from {}", server.url()));
    let prefix = m.prefix();
    // What the user reads, whole: the new certsh replaces the old one;
    // unchanged files (the shim, which carries no version, the completions,
    // the man page) stay and go unnamed.
    let pre = prefix.display();
    assert_eq!(
        p.stdout,
        format!(
            "installed {pre}/bin/certsh\n\
             certsh {NEWER} ({TARGET}) from {}\n\
             certsh is installed in {pre}.\n\
             ({pre}/bin is not on your PATH; add it, or use the full path below.)\n\
             Next step, so that plain git and IDEs use it:  {pre}/bin/certsh setup git\n\
             For plain ssh, scp and rsync as well:           {pre}/bin/certsh setup ssh-config\n",
            server.url()
        ),
    );
    let bin = std::fs::read(prefix.join("bin/certsh")).unwrap();
    assert!(bin.ends_with(format!("\0certsh {NEWER}\0").as_bytes()));
    assert_eq!(
        std::fs::read(prefix.join("share/certsh/install-manifest")).unwrap(),
        old_manifest,
        "the same files are recorded"
    );
    m.assert_works();

    // --version names the archive; one that SHA256SUMS lacks is refused.
    m.assert_refused(
        &format!(
            "sh '{}/install.sh' --from {} --version {VERSION}",
            f.release().display(),
            server.url()
        ),
        &[],
        &format!(
            "install.sh: no certsh {VERSION} archive for {TARGET} in {}/SHA256SUMS (check --version; other platforms: build from source)",
            server.url()
        ),
    );
    let p = m.install(
        f.release(),
        &format!("--from {} --version {NEWER}", server.url()),
    );
    assert!(!replaced_any(&p.stdout), "{}", p.stdout);
}

/// A machine with the good release installed, and a tampered copy of it
/// served on loopback.
struct Tampered {
    machine: Machine,
    release: PathBuf,
    server: FileServer,
    _dir: tempfile::TempDir,
}

impl Tampered {
    fn new(tamper: impl FnOnce(&Path)) -> Tampered {
        let f = fixture();
        let machine = Machine::new();
        machine.install(f.release(), "");
        machine.assert_works();
        let dir = tempfile::tempdir().unwrap();
        let release = copy_release(f.release(), &dir.path().join("release"));
        tamper(&release);
        let server = FileServer::serve(&release);
        Tampered {
            machine,
            release,
            server,
            _dir: dir,
        }
    }

    /// `curl <server>/install.sh | sh`, refused with `message`.
    #[track_caller]
    fn assert_refused(&self, message: &str) {
        let url = self.server.url();
        self.machine.assert_refused(
            &format!("curl -fsSL {url}/install.sh | sh"),
            &[("CERTSH_DOWNLOAD_URL", &url)],
            message,
        );
    }
}

#[test]
fn a_flipped_byte_in_the_archive_is_refused() {
    let t = Tampered::new(|r| {
        let path = r.join(archive(VERSION));
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(path, bytes).unwrap();
    });
    t.assert_refused(&format!(
        "install.sh: {} does not match its checksum in SHA256SUMS (the download is damaged or was tampered with; nothing was installed)",
        archive(VERSION)
    ));
}

#[test]
fn a_wrong_sha256sums_is_refused_by_its_signature_and_without_a_signer_by_the_checksum() {
    let wrong = |r: &Path| {
        let sums = std::fs::read_to_string(r.join("SHA256SUMS")).unwrap();
        std::fs::write(
            r.join("SHA256SUMS"),
            format!("{}{}", "0".repeat(64), &sums[64..]),
        )
        .unwrap();
    };
    // Signed release: SHA256SUMS no longer matches its signature.
    let t = Tampered::new(wrong);
    t.assert_refused(&format!(
        "install.sh: {}/SHA256SUMS.sig is not a valid certsh-release signature of SHA256SUMS (the release was tampered with, or --allowed-signers names another key)",
        t.server.url()
    ));
    // Re-signed by the release key (a wrong SHA256SUMS published by
    // mistake): the checksum catches it.
    sign(&t.release, &fixture().key());
    t.assert_refused(&format!(
        "install.sh: {} does not match its checksum in SHA256SUMS (the download is damaged or was tampered with; nothing was installed)",
        archive(VERSION)
    ));
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let t = Tampered::new(|r| sign(r, &fixture().stranger_key()));
    t.assert_refused(&format!(
        "install.sh: {}/SHA256SUMS.sig is not a valid certsh-release signature of SHA256SUMS (the release was tampered with, or --allowed-signers names another key)",
        t.server.url()
    ));
    // --allowed-signers names the other key: then it is accepted.
    let signers = fixture().stranger_signers();
    let p = t.machine.sh(
        &format!(
            "sh '{}/install.sh' --allowed-signers '{}'",
            t.release.display(),
            signers.display()
        ),
        &[("CERTSH_DOWNLOAD_URL", &t.server.url())],
    );
    assert_eq!(p.code, Some(0), "{}{}", p.stdout, p.stderr);
}

#[test]
fn a_missing_signature_is_refused_when_a_signer_is_configured() {
    let t = Tampered::new(|r| std::fs::remove_file(r.join("SHA256SUMS.sig")).unwrap());
    t.assert_refused(&format!(
        "install.sh: {}/SHA256SUMS.sig was not found, and a release signer is configured (an unsigned release is refused)",
        t.server.url()
    ));
}

#[test]
fn a_truncated_download_is_refused() {
    let t = Tampered::new(|_| {});
    let path = format!("/{}", archive(VERSION));
    t.server.truncate(&path);
    t.assert_refused(&format!(
        "install.sh: the download of {}{path} was cut short (try again)",
        t.server.url()
    ));
    assert_eq!(t.server.requests(&path), 1);
}

#[test]
fn a_version_that_does_not_exist_is_a_404() {
    let t = Tampered::new(|_| {});
    let base = format!("{}/releases/download/v9.9.9", t.server.url());
    t.machine.assert_refused(
        &format!("sh '{}/install.sh' --version 9.9.9", t.release.display()),
        &[("CERTSH_DOWNLOAD_URL", &base)],
        &format!(
            "install.sh: {base}/SHA256SUMS was not found (no such release: check --version and the download URL)"
        ),
    );
    // Listed in SHA256SUMS but missing from the server.
    t.server.not_found(&format!("/{}", archive(VERSION)));
    t.assert_refused(&format!(
        "install.sh: {}/{} was not found, though SHA256SUMS lists it (the release is incomplete; try again later)",
        t.server.url(),
        archive(VERSION)
    ));
}

#[test]
fn an_install_script_cut_short_on_its_way_to_sh_runs_nothing() {
    let t = Tampered::new(|_| {});
    t.server.truncate("/install.sh");
    let url = t.server.url();
    let before = tree_snapshot(t.machine.root.path());
    let p = t.machine.sh(
        &format!("curl -fsSL {url}/install.sh | sh"),
        &[("CERTSH_DOWNLOAD_URL", &url)],
    );
    assert!(!replaced_any(&p.stdout), "{}", p.stdout);
    assert_eq!(tree_snapshot(t.machine.root.path()), before);
    assert_eq!(
        t.server.total_requests(),
        1,
        "only install.sh was fetched: half a script downloads nothing"
    );
    t.machine.assert_works();
}

/// A folder holding a `uname` that claims `os` and `machine`.
fn fake_uname(dir: &Path, os: &str, machine: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join("uname");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncase \"$1\" in -m) echo {machine} ;; *) echo {os} ;; esac\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:/usr/bin:/bin", dir.display())
}

#[test]
fn a_platform_without_an_archive_is_refused() {
    let t = Tampered::new(|_| {});
    let url = t.server.url();
    let line = format!("curl -fsSL {url}/install.sh | sh");
    let fake = t.machine.root.path().join("fake");
    // A platform releases exist for, but not in this release.
    let path = fake_uname(&fake.join("mac"), "Darwin", "arm64");
    t.machine.assert_refused(
        &line,
        &[("CERTSH_DOWNLOAD_URL", &url), ("PATH", &path)],
        &format!(
            "install.sh: no certsh archive for aarch64-apple-darwin in {url}/SHA256SUMS (this platform has no release: build from source)"
        ),
    );
    // A platform no release is made for: refused before any download.
    let before = t.server.total_requests();
    let path = fake_uname(&fake.join("riscv"), "Linux", "riscv64");
    t.machine.assert_refused(
        &line,
        &[("CERTSH_DOWNLOAD_URL", &url), ("PATH", &path)],
        "install.sh: no certsh release for Linux riscv64 (releases are for Linux and macOS on x86_64 and arm64; build from source: https://github.com/certsh/certsh)",
    );
    assert_eq!(t.server.total_requests(), before + 1, "only install.sh");
}

#[test]
fn plain_http_to_another_host_is_refused_before_any_connection() {
    let t = Tampered::new(|_| {});
    for (base, host) in [
        ("http://example.invalid/certsh", "example.invalid"),
        (
            "http://127.0.0.1.example.invalid:80/x",
            "127.0.0.1.example.invalid",
        ),
        // The host ends at the first "?" or "#", as curl reads it: what
        // follows, an "@" included, is not the host.
        ("http://example.invalid?@127.0.0.1/x", "example.invalid"),
        ("http://example.invalid#@127.0.0.1/x", "example.invalid"),
        ("http://example.invalid?x=127.0.0.1", "example.invalid"),
    ] {
        t.machine.assert_refused(
            &format!("sh '{}/install.sh'", t.release.display()),
            &[("CERTSH_DOWNLOAD_URL", base)],
            &format!(
                "install.sh: refusing plain http to '{host}' (use https; plain http only to 127.0.0.1, [::1] or localhost)"
            ),
        );
    }
    assert_eq!(t.server.total_requests(), 0);
}

/// A URL with userinfo (an `@` before the first `/`, `?` or `#`) is refused
/// whatever follows: a host after an `@` is easy to misread, and a password
/// in the URL would sit on curl's command line. Neither the URL nor the
/// password is repeated in the line.
#[test]
fn a_download_url_with_a_user_or_password_is_refused_before_any_connection() {
    let t = Tampered::new(|_| {});
    let script = format!("sh '{}/install.sh'", t.release.display());
    let refused = "install.sh: refusing a download URL with a user name or password in it (give the host alone: https://HOST/PATH)";
    for base in [
        "http://user@127.0.0.1:8080/x",
        "http://example.invalid@127.0.0.1/x",
        "https://user:secret-password@example.invalid/x",
    ] {
        t.machine
            .assert_refused(&script, &[("CERTSH_DOWNLOAD_URL", base)], refused);
        t.machine
            .assert_refused(&format!("{script} --from '{base}'"), &[], refused);
    }
    assert_eq!(t.server.total_requests(), 0);
}

/// A PATH of one folder holding the tools install.sh may use (curl and
/// both SHA-256 tools, no wget), less those in `without`.
fn tools_path(dir: &Path, without: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for tool in [
        "sh",
        "uname",
        "tar",
        "gzip",
        "mktemp",
        "mv",
        "rm",
        "mkdir",
        "chmod",
        "cmp",
        "cat",
        "sed",
        "grep",
        "sort",
        "dirname",
        "readlink",
        "ln",
        "rmdir",
        "head",
        "tail",
        "tr",
        "dd",
        "cut",
        "cp",
        "ssh-keygen",
        "sha256sum",
        "shasum",
        "curl",
    ] {
        if without.contains(&tool) {
            continue;
        }
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is needed for this test"));
        std::os::unix::fs::symlink(found, dir.join(tool)).unwrap();
    }
    dir.display().to_string()
}

#[test]
fn no_curl_or_wget_is_refused_and_a_folder_still_works() {
    let t = Tampered::new(|_| {});
    let path = tools_path(&t.machine.root.path().join("tools"), &["curl"]);
    let line = format!("sh '{}/install.sh'", t.release.display());
    t.machine.assert_refused(
        &line,
        &[("CERTSH_DOWNLOAD_URL", &t.server.url()), ("PATH", &path)],
        "install.sh: neither curl nor wget found (install one of them, or download the release files and use --from FOLDER)",
    );
    assert_eq!(t.server.total_requests(), 0);
    // The same tools suffice for a folder (and for the second run, which
    // installs nothing).
    let p = t.machine.sh(
        &format!("{line} --from '{}'", t.release.display()),
        &[("PATH", &path)],
    );
    assert_eq!(p.code, Some(0), "{}{}", p.stdout, p.stderr);
    assert!(!replaced_any(&p.stdout), "{}", p.stdout);
}

#[test]
fn no_sha256_tool_or_tar_is_refused_and_shasum_alone_checks_the_archive() {
    let t = Tampered::new(|r| {
        let path = r.join(archive(VERSION));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
        std::fs::write(path, bytes).unwrap();
    });
    let url = t.server.url();
    let line = format!("sh '{}/install.sh'", t.release.display());
    let tools = t.machine.root.path().join("tools");
    let path = tools_path(&tools.join("no-sha"), &["sha256sum", "shasum"]);
    t.machine.assert_refused(
        &line,
        &[("CERTSH_DOWNLOAD_URL", &url), ("PATH", &path)],
        "install.sh: neither sha256sum nor shasum found, needed to check the download (install coreutils or perl's shasum)",
    );
    let path = tools_path(&tools.join("no-tar"), &["tar"]);
    t.machine.assert_refused(
        &line,
        &[("CERTSH_DOWNLOAD_URL", &url), ("PATH", &path)],
        "install.sh: tar not found, needed to unpack the release (install tar)",
    );
    assert_eq!(t.server.total_requests(), 0);
    // macOS has shasum, not sha256sum: it catches the tampered archive too.
    let path = tools_path(&tools.join("shasum"), &["sha256sum"]);
    t.machine.assert_refused(
        &line,
        &[("CERTSH_DOWNLOAD_URL", &url), ("PATH", &path)],
        &format!(
            "install.sh: {} does not match its checksum in SHA256SUMS (the download is damaged or was tampered with; nothing was installed)",
            archive(VERSION)
        ),
    );
}

#[test]
fn wget_alone_downloads_and_gives_the_same_lines_as_curl() {
    let t = Tampered::new(|_| {});
    let tools = t.machine.root.path().join("tools");
    let path = tools_path(&tools, &["curl"]);
    std::os::unix::fs::symlink("/usr/bin/wget", tools.join("wget"))
        .expect("wget is needed for this test");
    let url = t.server.url();
    let line = format!("sh '{}/install.sh'", t.release.display());
    let p = t
        .machine
        .sh(&line, &[("CERTSH_DOWNLOAD_URL", &url), ("PATH", &path)]);
    assert_eq!(p.code, Some(0), "{}{}", p.stdout, p.stderr);
    assert!(!replaced_any(&p.stdout), "the same version: {}", p.stdout);
    for path in ["/SHA256SUMS", "/SHA256SUMS.sig"] {
        assert_eq!(t.server.requests(path), 1, "{path}");
    }
    let archive_path = format!("/{}", archive(VERSION));
    assert_eq!(t.server.requests(&archive_path), 1);

    let base = format!("{url}/releases/download/v9.9.9");
    t.machine.assert_refused(
        &line,
        &[("CERTSH_DOWNLOAD_URL", &base), ("PATH", &path)],
        &format!(
            "install.sh: {base}/SHA256SUMS was not found (no such release: check --version and the download URL)"
        ),
    );
    t.server.truncate(&archive_path);
    t.machine.assert_refused(
        &line,
        &[("CERTSH_DOWNLOAD_URL", &url), ("PATH", &path)],
        &format!("install.sh: the download of {url}{archive_path} was cut short (try again)"),
    );
}

/// A small tmpfs, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Mount {
        assert_eq!(
            run_ok(Command::new("id").arg("-u")).trim(),
            "0",
            "this test needs root to mount a tmpfs (CI runs as root)"
        );
        std::fs::create_dir_all(at).unwrap();
        run_ok(
            Command::new("mount")
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size},mode=0755"),
                    "tmpfs",
                ])
                .arg(at),
        );
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_refused_and_the_previous_install_keeps_working() {
    let f = fixture();
    let m = Machine::new();
    let _mount = Mount::tmpfs(&m.prefix(), "64m");
    m.install(f.release(), "");
    m.assert_works();
    // Fill the disk.
    let mut filler = std::fs::File::create(m.prefix().join("filler")).unwrap();
    let chunk = vec![0u8; 65536];
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    drop(filler);
    let server = FileServer::serve(f.newer_release());
    m.assert_refused(
        &format!("sh '{}/install.sh'", f.newer_release().display()),
        &[("CERTSH_DOWNLOAD_URL", &server.url())],
        &format!(
            "install.sh: no space left on the device of {} (free some space, or choose another --prefix)",
            m.prefix().display()
        ),
    );
    // With room again, the same install goes through.
    std::fs::remove_file(m.prefix().join("filler")).unwrap();
    let p = m.install(f.newer_release(), &format!("--from {}", server.url()));
    assert!(replaced_any(&p.stdout), "{}", p.stdout);
    m.assert_works();
}
