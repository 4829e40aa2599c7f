//! The test bench: a temporary HOME, the test certifier on loopback, the real
//! sshd trusting its CA, and builders that run certsh, its shim and git in
//! that world with a clean environment. Tests read as sentences on top of it.

#![allow(dead_code, unused_imports)]

pub mod agent;
pub mod certifier;
pub mod files;
pub mod keychain;
pub mod release;
pub mod sshd;

use std::borrow::BorrowMut;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use snapbox::IntoData;
use tempfile::TempDir;

pub use agent::{CertshAgent, SshAgent};
pub use certifier::{Certifier, Fault};
pub use files::{FileServer, tree_snapshot};
pub use sshd::Sshd;

/// The certsh binary under test.
pub fn certsh_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_certsh"))
}

/// The shim program under test (`src/bin/certsh-ssh.rs`), built beside
/// certsh: it hands certsh what it does not do itself.
pub fn shim_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_certsh-ssh"))
}

/// One isolated world.
pub struct TestEnv {
    /// Scratch space: HOME, TMPDIR, shim folder, clones.
    pub root: TempDir,
    /// The test certifier.
    pub certifier: Certifier,
    /// The real sshd, when started.
    pub sshd: Option<Sshd>,
    vars: Vec<(String, String)>,
}

impl TestEnv {
    /// A world with a certifier, an API token in the environment, no
    /// certificate yet, and `CERTSH_CERT_ONLY=1`.
    pub fn new() -> TestEnv {
        let root = tempfile::tempdir().expect("temp dir");
        for d in ["home", "tmp", "bin", "work"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        // The installed shape: the shim program under the name ssh.
        std::os::unix::fs::symlink(shim_bin(), root.path().join("bin/ssh")).unwrap();
        let certifier = Certifier::start();
        let url = certifier.url();
        let vars = vec![
            (
                "HOME".into(),
                root.path().join("home").display().to_string(),
            ),
            (
                "TMPDIR".into(),
                root.path().join("tmp").display().to_string(),
            ),
            (
                "PATH".into(),
                "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into(),
            ),
            ("LANG".into(), "C".into()),
            ("TZ".into(), "UTC".into()),
            ("MAGENTO_CLOUD_CLI_API_AUTH_URL".into(), url.clone()),
            ("MAGENTO_CLOUD_CLI_API_CERTIFIER_URL".into(), url),
            (
                "MAGENTO_CLOUD_CLI_TOKEN".into(),
                certifier::API_TOKEN.into(),
            ),
            // Without a certificate the shim would run the real ssh with
            // the user's own keys; in a world with no sshd that
            // would be a connection to the real host. Tests of that
            // fallback unset this and pass the test sshd's client config.
            ("CERTSH_CERT_ONLY".into(), "1".into()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ];
        TestEnv {
            root,
            certifier,
            sshd: None,
            vars,
        }
    }

    /// Also starts the real sshd, trusting the certifier's CA, with a bare
    /// repository to clone.
    pub fn with_sshd() -> TestEnv {
        let mut env = TestEnv::new();
        let dir = env.root.path().join("sshd");
        std::fs::create_dir(&dir).unwrap();
        let sshd = Sshd::start(&dir, &env.certifier.ca_public_key(), &["certsh-test"]);
        sshd::bare_repo(&dir);
        env.sshd = Some(sshd);
        env
    }

    /// Sets (or replaces) an environment variable for every command.
    pub fn set(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Self {
        let value = value.as_ref().to_string_lossy().into_owned();
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value));
        self
    }

    /// Removes an environment variable for every command.
    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.vars.retain(|(k, _)| k != key);
        self
    }

    /// The value an environment variable has for commands.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn home(&self) -> PathBuf {
        PathBuf::from(self.var("HOME").unwrap())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// The shim, as installed: `<dir>/ssh`, a symlink to the shim program.
    pub fn shim(&self) -> PathBuf {
        self.path("bin/ssh")
    }

    /// certsh's state folder in HOME.
    pub fn state_dir(&self) -> PathBuf {
        self.home().join(".magento-cloud/certsh")
    }

    pub fn sshd(&self) -> &Sshd {
        self.sshd.as_ref().expect("TestEnv::with_sshd")
    }

    /// The bare repository behind sshd.
    pub fn repo(&self) -> PathBuf {
        self.path("sshd/repo.git")
    }

    /// `-F <client config>` for ssh command lines.
    pub fn ssh_config(&self) -> PathBuf {
        self.sshd().ssh_config()
    }

    /// A process in this world: clean environment, work folder.
    pub fn std_command(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear();
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd.current_dir(self.path("work"));
        cmd
    }

    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::from_std(self.std_command(program));
        cmd.timeout(std::time::Duration::from_secs(120));
        cmd
    }

    /// `certsh <args>`.
    pub fn certsh<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(certsh_bin());
        cmd.args(args);
        cmd
    }

    /// The shim with the test client config: `ssh -F <config> <args>`.
    pub fn command_ssh<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(self.shim());
        cmd.arg("-F").arg(self.ssh_config()).args(args);
        cmd
    }

    /// Any program, in this world's environment.
    pub fn command_plain(&self, program: impl AsRef<OsStr>) -> Command {
        self.command(program)
    }

    /// `git <args>` in the work folder, with the given GIT_SSH_COMMAND.
    pub fn git<I, S>(&self, ssh_command: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::from_std(self.std_git(ssh_command, args));
        cmd.timeout(std::time::Duration::from_secs(120));
        cmd
    }

    /// [`TestEnv::git`] as a plain process, for starting many at once.
    pub fn std_git<I, S>(&self, ssh_command: &str, args: I) -> std::process::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.std_command("git");
        cmd.env("GIT_SSH_COMMAND", ssh_command)
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(args);
        cmd
    }

    /// The ssh command git should use: the shim with the test client config.
    pub fn git_ssh(&self) -> String {
        format!(
            "{} -F {}",
            self.shim().display(),
            self.ssh_config().display()
        )
    }

    /// The cloud's git address of the test repository.
    pub fn git_url(&self) -> String {
        format!("git.us-3.magento.cloud:{}", self.repo().display())
    }

    /// A stand-in for the real ssh that records its arguments and exits 0,
    /// for checking exactly what certsh passes on.
    pub fn recording_ssh(&mut self) -> PathBuf {
        let script = self.path("bin/recording-ssh");
        let log = self.path("recorded-args");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nprintf 'GIT_PROTOCOL=%s\\n' \"$GIT_PROTOCOL\" >> '{}'\n",
                log.display(),
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.set("CERTSH_REAL_SSH", &script);
        log
    }

    /// What the recording ssh received, one argument a line.
    pub fn recorded(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("recorded-args"))
            .expect("the recording ssh ran")
            .lines()
            .map(String::from)
            .collect()
    }

    /// certsh installed in install.sh's layout under `<root>/prefix`:
    /// `bin/certsh` and `libexec/certsh/ssh`, hard links to the binaries
    /// under test (or copies across file systems), so that each finds the
    /// other beside itself. Returns the prefix.
    pub fn installed(&self) -> PathBuf {
        let prefix = self.path("prefix");
        if !prefix.join("bin/certsh").exists() {
            std::fs::create_dir_all(prefix.join("bin")).unwrap();
            std::fs::create_dir_all(prefix.join("libexec/certsh")).unwrap();
            for (built, rel) in [
                (certsh_bin(), "bin/certsh"),
                (shim_bin(), "libexec/certsh/ssh"),
            ] {
                let exe = prefix.join(rel);
                if std::fs::hard_link(&built, &exe).is_err() {
                    std::fs::copy(&built, &exe).unwrap();
                }
            }
        }
        prefix
    }

    /// Makes the shim's real ssh `/usr/bin/ssh -F <test client config>`, so
    /// that programs which run certsh as their ssh without passing `-F`
    /// (plain git after `setup git`, scp, rsync, CI recipes) reach the test
    /// sshd and nothing of the developer's `~/.ssh`.
    pub fn real_ssh_with_test_config(&mut self) -> &mut Self {
        let script = self.path("bin/real-ssh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexec /usr/bin/ssh -F '{}' \"$@\"\n",
                self.ssh_config().display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.set("CERTSH_REAL_SSH", &script);
        self
    }

    /// What varies from run to run in what certsh prints, as placeholders
    /// for expected output: `[ROOT]` for the temporary root (HOME is
    /// `[ROOT]/home`) and `[PORT]` for any port on a loopback address (the
    /// certifier's, sshd's, a closed one).
    pub fn redactions(&self) -> snapbox::Redactions {
        let mut r = snapbox::Redactions::new();
        r.insert("[ROOT]", self.root.path().to_path_buf()).unwrap();
        let port = regex::Regex::new(r"(?:127\.0\.0\.[0-9]+|\[::1\]):(?<redacted>[0-9]+)").unwrap();
        r.insert("[PORT]", port).unwrap();
        // The user ssh logs in as (the one running the tests: root in CI, a
        // contributor on a laptop), where it is a login name before `@`.
        let user = regex::Regex::new(&format!(
            r"(?<redacted>{})@127\.0\.0\.1",
            regex::escape(&sshd::current_user())
        ))
        .unwrap();
        r.insert("[USER]", user).unwrap();
        r
    }

    /// The current certificate file's bytes, if any.
    pub fn certificate_bytes(&self) -> Option<Vec<u8>> {
        let link = std::fs::read_link(self.state_dir().join("current")).ok()?;
        std::fs::read(self.state_dir().join(link).join("id_ed25519-cert.pub")).ok()
    }
}

/// One run of a program in a [`TestEnv`], stated as a case: what goes in on
/// stdin, and the exit status, stdout and stderr it must give. Expected
/// output is text or a case file (`snapbox::file!["cases/NAME.stderr"]`),
/// compared in full after [`TestEnv::redactions`]: the temporary root reads
/// `[ROOT]`, the certifier's port `[PORT]`, and `[..]` matches anything
/// within a line. `SNAPSHOTS=overwrite cargo test` rewrites case files.
///
/// ```ignore
/// Test::certsh(&env, ["login", "--api-token"])
///     .stdin("")
///     .status(1)
///     .stderr("certsh: no API token was given (...)\n")
///     .run();
/// ```
pub struct Test<'e> {
    env: &'e TestEnv,
    cmd: std::process::Command,
    stdin: Option<Vec<u8>>,
    hold_stdin: bool,
    status: i32,
    stdout: Option<snapbox::Data>,
    stderr: Option<snapbox::Data>,
}

impl<'e> Test<'e> {
    /// Any program, in `env`'s world.
    pub fn program<I, S>(env: &'e TestEnv, program: impl AsRef<OsStr>, args: I) -> Test<'e>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = env.std_command(program);
        cmd.args(args);
        Test {
            env,
            cmd,
            stdin: None,
            hold_stdin: false,
            status: 0,
            stdout: None,
            stderr: None,
        }
    }

    /// `certsh <args>`.
    pub fn certsh<I, S>(env: &'e TestEnv, args: I) -> Test<'e>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Test::program(env, certsh_bin(), args)
    }

    /// The shim as ssh runs it, with no `-F`: `ssh <args>`.
    pub fn shim<I, S>(env: &'e TestEnv, args: I) -> Test<'e>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Test::program(env, env.shim(), args)
    }

    /// The shim with the test client config: `ssh -F <config> <args>`.
    pub fn ssh<I, S>(env: &'e TestEnv, args: I) -> Test<'e>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut t = Test::program(env, env.shim(), ["-F"]);
        t.cmd.arg(env.ssh_config()).args(args);
        t
    }

    /// An environment variable for this run only.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Bytes on stdin, which is then closed. Without this, stdin is empty.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self.hold_stdin = false;
        self
    }

    /// Bytes on stdin, which then stays open until the program exits: a
    /// program that waits to read more hangs, and the run fails as a hang.
    pub fn stdin_held_open(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self.hold_stdin = true;
        self
    }

    /// The exit status the program must give (0 unless said).
    pub fn status(mut self, code: i32) -> Self {
        self.status = code;
        self
    }

    /// What stdout must be, in full.
    pub fn stdout(mut self, expected: impl IntoData) -> Self {
        self.stdout = Some(expected.into_data());
        self
    }

    /// What stderr must be, in full.
    pub fn stderr(mut self, expected: impl IntoData) -> Self {
        self.stderr = Some(expected.into_data());
        self
    }

    /// Runs the program to its end and asserts the status and any expected
    /// output. The 120 s limit only guards against a hang: it says nothing
    /// about speed.
    #[track_caller]
    pub fn run(mut self) -> Printed {
        use std::io::{Read, Write};
        use std::process::Stdio;
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the program starts");
        // Written from a thread, so that a program which never reads cannot
        // block the run before the hang guard below; the program may exit
        // before reading, and a broken pipe is fine. Unless held open, stdin
        // closes once written.
        let mut stdin = child.stdin.take().unwrap();
        let bytes = self.stdin.take().unwrap_or_default();
        let hold = self.hold_stdin;
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
            hold.then_some(stdin)
        });
        let read = |mut from: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = vec![];
                let _ = from.read_to_end(&mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let out = read(Box::new(child.stdout.take().unwrap()));
        let err = read(Box::new(child.stderr.take().unwrap()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the process did not exit: it hangs");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        drop(writer.join().unwrap());
        let p = Printed {
            code: status.code(),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        };
        assert_eq!(
            p.code,
            Some(self.status),
            "expected exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            p.stdout,
            p.stderr
        );
        if let Some(expected) = self.stdout.take() {
            assert_output(self.env, &p.stdout, expected);
        }
        if let Some(expected) = self.stderr.take() {
            assert_output(self.env, &p.stderr, expected);
        }
        p
    }
}

/// `actual` is `expected` in full, after `env`'s [`TestEnv::redactions`]:
/// for output a test already has, checked against a case file
/// (`snapbox::file!["cases/NAME.stderr"]`) as [`Test::run`] does.
#[track_caller]
pub fn assert_output(env: &TestEnv, actual: &str, expected: impl IntoData) {
    // Paths are left as printed: normalising them would turn an escaped
    // `\t` in a quoted value into `/t`.
    snapbox::Assert::new()
        .action_env("SNAPSHOTS")
        .normalize_paths(false)
        .redact_with(env.redactions())
        .eq(actual.to_owned(), expected);
}

/// What a finished command printed.
pub struct Printed {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Printed {
    fn from(o: Output) -> Printed {
        Printed {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs a command and returns what it printed, whatever its exit.
#[track_caller]
pub fn run(mut cmd: impl BorrowMut<Command>) -> Printed {
    cmd.borrow_mut().output().expect("command runs").into()
}

/// Runs a command that must succeed.
#[track_caller]
pub fn ok(cmd: impl BorrowMut<Command>) -> Printed {
    let p = run(cmd);
    assert_eq!(
        p.code,
        Some(0),
        "expected success\n--- stdout\n{}\n--- stderr\n{}",
        p.stdout,
        p.stderr
    );
    p
}

/// Runs a command that must fail with `code`.
#[track_caller]
pub fn fails(cmd: impl BorrowMut<Command>, code: i32) -> Printed {
    let p = run(cmd);
    assert_eq!(
        p.code,
        Some(code),
        "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
        p.stdout,
        p.stderr
    );
    p
}

/// No secret of the test world appears in `text`.
#[track_caller]
pub fn assert_no_secrets(env: &TestEnv, text: &str) {
    assert!(
        !text.contains(certifier::API_TOKEN),
        "the API token leaked:\n{text}"
    );
    for t in env.certifier.every_access_token_issued() {
        assert!(!text.contains(&t), "an access token leaked:\n{text}");
    }
}

/// Every file below `dir`, recursively (for "nothing was written").
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(files_below(&p));
        }
        out.push(p);
    }
    out.sort();
    out
}

/// A second local user, with a group of her own, created when missing: her
/// uid and primary gid. The tests that need one run as root, as CI does.
pub fn local_user(name: &str) -> (u32, u32) {
    assert_eq!(
        rustix::process::getuid().as_raw(),
        0,
        "this test needs root to create a second user (CI runs as root)"
    );
    let ids = || {
        let id = |flag: &str| {
            let out = std::process::Command::new("id")
                .args([flag, name])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        Some((id("-u")?, id("-g")?))
    };
    for _ in 0..50 {
        if let Some(found) = ids() {
            return found;
        }
        // Parallel tests may race for /etc/passwd's lock: try again.
        let _ = std::process::Command::new("useradd")
            .args([
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(name)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("cannot create the local user {name} (useradd, as root)");
}

/// Polls until `cond` holds. The limit (two minutes) only guards against a
/// hang; it is not a claim about speed.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
