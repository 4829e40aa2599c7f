//! A real OpenSSH `sshd` on a loopback port for end-to-end tests, plus the
//! client side that goes with it and a bare git repository to clone.
//!
//! [`Sshd::start`] writes a host key, a `sshd_config` that trusts one user CA
//! (the test certifier's) and accepts only certificates naming one of the
//! given principals (and plain keys given to [`Sshd::authorize_key`]), and
//! starts `/usr/sbin/sshd -D` on a free port of 127.0.0.1. It also writes a
//! client `ssh_config` (pass it with `ssh -F`) that maps the Magento Cloud
//! host names to that port and pins the host key in its own `known_hosts`,
//! so nothing of the developer's `~/.ssh` is read or written. Nothing is
//! mocked: authentication is OpenSSH's own.
//!
//! sshd runs under a small `sh` watchdog that kills it once this process
//! closes the watchdog's stdin, which happens on [`Drop`] and also when this
//! process dies without unwinding (killed test binary, killed testbed): no
//! `sshd` outlives its harness.
//!
//! This file is `mod`-included from several test crates and the `testbed`
//! example, so it holds no `#[test]`s and not every item is used everywhere.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, LineEnding, PrivateKey};

/// Where sshd is expected; Debian's and most distributions' path.
pub const SSHD_PATH: &str = "/usr/sbin/sshd";

/// Host names that the client `ssh_config` sends to the test sshd.
pub const HOST_ALIASES: [&str; 5] = [
    "git.us-3.magento.cloud",
    "ssh.us-3.magento.cloud",
    "localhost-alias",
    "git.eu-3.platform.sh",
    "ssh.eu-3.platform.sh",
];

/// How long to wait for sshd to listen before giving up: a guard against a
/// hang, wide enough for a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many fresh ports to try when another process grabbed the one picked.
const PORT_ATTEMPTS: usize = 5;

/// Starts sshd in the background, prints its pid, then waits for it. A
/// background subshell holds the watchdog's stdin (this process's pipe) and
/// kills sshd at EOF. The wrapper exits with sshd's status, so a sshd that
/// dies by itself (e.g. port taken) shows as the wrapper exiting.
/// Non-interactive `sh` gives background jobs /dev/null as stdin, hence the
/// copy of the pipe on fd 3.
const WATCHDOG: &str = r#"
exec 3<&0
"$0" -D -e -f "$1" -E "$2" 3<&- </dev/null >/dev/null &
pid=$!
echo "$pid"
( cat <&3 >/dev/null; kill "$pid" 2>/dev/null ) 3<&3 >/dev/null &
watchdog=$!
exec 3<&-
wait "$pid"
status=$?
kill "$watchdog" 2>/dev/null
exit "$status"
"#;

/// A running test sshd. Dropping it stops sshd and waits for it.
pub struct Sshd {
    dir: PathBuf,
    port: u16,
    pid: u32,
    wrapper: Child,
    /// Closing this (on drop) tells the watchdog to kill sshd.
    watchdog_stdin: Option<ChildStdin>,
    ssh_config: PathBuf,
    known_hosts: PathBuf,
    log_path: PathBuf,
    stderr_path: PathBuf,
    host_public_key: String,
    user: String,
}

impl Sshd {
    /// Starts sshd on a free 127.0.0.1 port, trusting `ca_public_key` (one
    /// OpenSSH line) for user certificates that name one of `principals`,
    /// for any local user.
    ///
    /// Writes into `dir` (which must exist): `ssh_host_ed25519_key`, `ca.pub`,
    /// `principals`, `authorized_keys` (empty), `sshd_config`, `sshd.log`, `sshd.stderr`, and for the
    /// client `ssh_config` and `known_hosts`. Panics, with the sshd log, if
    /// sshd does not come up within 10 s.
    pub fn start(dir: &Path, ca_public_key: &str, principals: &[&str]) -> Sshd {
        let dir = fs::canonicalize(dir)
            .unwrap_or_else(|e| panic!("sshd directory {}: {e}", dir.display()));
        let user = current_user();
        if is_root() {
            ensure_privsep_dir();
        }

        let host_key_path = dir.join("ssh_host_ed25519_key");
        let mut host_key =
            PrivateKey::random(&mut OsRng, Algorithm::Ed25519).expect("generate the sshd host key");
        host_key.set_comment("certsh-test-host");
        // write_openssh_file creates the file 0600; sshd refuses host keys
        // readable by others whatever StrictModes says.
        host_key
            .write_openssh_file(&host_key_path, LineEnding::LF)
            .expect("write the sshd host key");
        let host_public_key = host_key
            .public_key()
            .to_openssh()
            .expect("encode the host public key");

        let ca_path = dir.join("ca.pub");
        write(&ca_path, &format!("{}\n", ca_public_key.trim()));
        let principals_path = dir.join("principals");
        let mut principals_text = principals.join("\n");
        principals_text.push('\n');
        write(&principals_path, &principals_text);

        // Empty: only certificates log in, until a test registers a plain
        // key (`authorize_key`), as a user's own key on a project without MFA.
        let authorized_keys = dir.join("authorized_keys");
        write(&authorized_keys, "");
        let config_path = dir.join("sshd_config");
        let log_path = dir.join("sshd.log");
        let stderr_path = dir.join("sshd.stderr");

        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            write(
                &config_path,
                &sshd_config(
                    port,
                    &host_key_path,
                    &ca_path,
                    &principals_path,
                    &authorized_keys,
                ),
            );
            // A fresh log per attempt, so readiness and bind errors are read
            // from this attempt only.
            write(&log_path, "");
            let stderr = fs::File::create(&stderr_path).expect("create sshd.stderr");

            let mut wrapper = Command::new("/bin/sh")
                .arg("-c")
                .arg(WATCHDOG)
                .arg(SSHD_PATH)
                .arg(&config_path)
                .arg(&log_path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("start {SSHD_PATH} under /bin/sh: {e}"));
            let watchdog_stdin = wrapper.stdin.take();
            let pid = read_pid(&mut wrapper);

            let mut sshd = Sshd {
                dir: dir.clone(),
                port,
                pid,
                wrapper,
                watchdog_stdin,
                ssh_config: dir.join("ssh_config"),
                known_hosts: dir.join("known_hosts"),
                log_path: log_path.clone(),
                stderr_path: stderr_path.clone(),
                host_public_key: host_public_key.clone(),
                user: user.clone(),
            };
            match sshd.wait_until_listening() {
                Ok(()) => {
                    sshd.write_client_files();
                    return sshd;
                }
                Err(Startup::PortTaken) => {
                    failures.push(format!("port {port} taken:\n{}", sshd.all_logs()));
                    // Drop stops it (already dead) and reaps the wrapper.
                    drop(sshd);
                }
                Err(Startup::Failed(why)) => {
                    let logs = sshd.all_logs();
                    drop(sshd);
                    panic!("sshd did not start: {why}\n{logs}");
                }
            }
        }
        panic!(
            "sshd could not bind a port in {PORT_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        );
    }

    /// Registers a plain public key (one OpenSSH line) for the login user,
    /// as a user's own key registered with a project that does not require
    /// MFA. sshd reads the file at each connection.
    pub fn authorize_key(&self, public_key: &str) {
        let path = self.dir.join("authorized_keys");
        let mut text = fs::read_to_string(&path).unwrap_or_default();
        text.push_str(public_key.trim());
        text.push('\n');
        write(&path, &text);
    }

    /// The port sshd listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client configuration to pass with `ssh -F`.
    pub fn ssh_config(&self) -> PathBuf {
        self.ssh_config.clone()
    }

    /// The client `known_hosts`, holding only this sshd's host key.
    pub fn known_hosts(&self) -> PathBuf {
        self.known_hosts.clone()
    }

    /// The local user the client config logs in as (the current user).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The directory holding this sshd's files.
    pub fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The pid of the sshd listener itself (not of its watchdog).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The host public key as one OpenSSH line.
    pub fn host_public_key(&self) -> &str {
        &self.host_public_key
    }

    /// The sshd log so far (`LogLevel VERBOSE`: accepted and refused
    /// certificates, with key ids and serials).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The log plus anything sshd wrote to stderr before its log was open.
    fn all_logs(&self) -> String {
        let stderr = fs::read_to_string(&self.stderr_path).unwrap_or_default();
        format!(
            "--- {} ---\n{}--- {} ---\n{stderr}",
            self.log_path.display(),
            self.log(),
            self.stderr_path.display()
        )
    }

    fn wait_until_listening(&mut self) -> Result<(), Startup> {
        let deadline = Instant::now() + START_TIMEOUT;
        // sshd logs this line (at INFO) once its socket is listening; reading
        // it rather than only probing the port makes sure it is OUR sshd on
        // that port and not someone who raced us for it.
        let listening = format!("Server listening on 127.0.0.1 port {}.", self.port);
        loop {
            if self.log().contains(&listening) {
                return self.probe();
            }
            if let Ok(Some(status)) = self.wrapper.try_wait() {
                let logs = self.all_logs();
                return Err(
                    if logs.contains("Address already in use")
                        || logs.contains("Cannot bind any address")
                    {
                        Startup::PortTaken
                    } else {
                        Startup::Failed(format!("sshd exited with {status}"))
                    },
                );
            }
            if Instant::now() > deadline {
                return Err(Startup::Failed(format!(
                    "no \"{listening}\" in the log after {START_TIMEOUT:?}"
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connects once and reads the SSH banner: the port really answers.
    fn probe(&self) -> Result<(), Startup> {
        let addr = ([127, 0, 0, 1], self.port).into();
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(30))
            .map_err(|e| Startup::Failed(format!("connect to 127.0.0.1:{}: {e}", self.port)))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut banner = String::new();
        let _ = BufReader::new(stream).read_line(&mut banner);
        if banner.starts_with("SSH-2.0-") {
            Ok(())
        } else {
            Err(Startup::Failed(format!(
                "127.0.0.1:{} answered {banner:?} instead of an SSH banner",
                self.port
            )))
        }
    }

    fn write_client_files(&self) {
        write(
            &self.known_hosts,
            &format!("[127.0.0.1]:{} {}\n", self.port, self.host_public_key),
        );
        // ssh_config keeps the FIRST value it obtains for each option, so the
        // specific Host blocks come before `Host *`.
        let config = format!(
            "\
# Written by tests/support/sshd.rs for the sshd on 127.0.0.1:{port}.
Host {aliases}
    HostName 127.0.0.1
    Port {port}
    User {user}

Host 127.0.0.1
    Port {port}

Host *
    StrictHostKeyChecking yes
    UserKnownHostsFile \"{known_hosts}\"
    GlobalKnownHostsFile /dev/null
    UpdateHostKeys no
    BatchMode yes
    IdentityAgent none
    IdentitiesOnly yes
    PasswordAuthentication no
    KbdInteractiveAuthentication no
    LogLevel ERROR
    ConnectTimeout 10
",
            port = self.port,
            aliases = HOST_ALIASES.join(" "),
            user = self.user,
            known_hosts = self.known_hosts.display(),
        );
        write(&self.ssh_config, &config);
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // EOF on the watchdog's stdin: it kills sshd, and the wrapper exits.
        drop(self.watchdog_stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.wrapper.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        // The watchdog did not do its job: kill both by pid.
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .stderr(Stdio::null())
            .status();
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
    }
}

/// Why an sshd start attempt failed.
enum Startup {
    /// Another process holds the port: try another.
    PortTaken,
    /// Anything else: give up.
    Failed(String),
}

fn sshd_config(
    port: u16,
    host_key: &Path,
    ca: &Path,
    principals: &Path,
    authorized_keys: &Path,
) -> String {
    format!(
        "\
# Written by tests/support/sshd.rs.
Port {port}
ListenAddress 127.0.0.1
HostKey \"{host_key}\"
PidFile none
TrustedUserCAKeys \"{ca}\"
AuthorizedPrincipalsFile \"{principals}\"
AuthorizedKeysFile \"{authorized_keys}\"
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AcceptEnv GIT_PROTOCOL
Subsystem sftp internal-sftp
LogLevel VERBOSE
# Parallel tests open many connections at once; the default 10:30:100
# would start dropping them at random.
MaxStartups 200
PrintMotd no
PrintLastLog no
UseDNS no
",
        host_key = host_key.display(),
        ca = ca.display(),
        principals = principals.display(),
        authorized_keys = authorized_keys.display(),
    )
}

/// Creates a bare repository `<dir>/repo.git` on branch `main` holding one
/// commit (a `README`), and returns its absolute path.
pub fn bare_repo(dir: &Path) -> PathBuf {
    bare_repo_named(dir, "repo")
}

/// Like [`bare_repo`], as `<dir>/<name>.git`.
pub fn bare_repo_named(dir: &Path, name: &str) -> PathBuf {
    let dir = fs::canonicalize(dir)
        .unwrap_or_else(|e| panic!("repository directory {}: {e}", dir.display()));
    let bare = dir.join(format!("{name}.git"));
    let seed = dir.join(format!("{name}.seed"));

    git(
        &dir,
        &dir,
        &["init", "--quiet", "--bare", "-b", "main", utf8(&bare)],
    );
    git(&dir, &dir, &["init", "--quiet", "-b", "main", utf8(&seed)]);
    write(
        &seed.join("README"),
        "certsh test repository, cloned over a real sshd by certsh's tests.\n",
    );
    git(&dir, &seed, &["add", "README"]);
    git(
        &dir,
        &seed,
        &[
            "-c",
            "user.name=certsh test",
            "-c",
            "user.email=certsh-test@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "-m",
            "Initial commit",
        ],
    );
    // A local push: no ssh involved.
    git(&dir, &seed, &["push", "--quiet", utf8(&bare), "main:main"]);
    fs::remove_dir_all(&seed).expect("remove the seed work tree");
    bare
}

/// Runs git in `cwd`, isolated from the developer's configuration: `HOME`
/// is `home` (a test dir without `.gitconfig`), and no system or XDG
/// configuration or inherited repository variables apply.
fn git(home: &Path, cwd: &Path, args: &[&str]) {
    let output = Command::new("git")
        .current_dir(cwd)
        .args(args)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("GIT_CONFIG_GLOBAL")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run git {args:?}: {e}"));
    assert!(
        output.status.success(),
        "git {args:?} in {} failed ({}):\n{}{}",
        cwd.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// The name of the user this process runs as: `id -un`, else `$USER`, else
/// `$LOGNAME`. sshd can only log in users that exist, and a non-root sshd
/// only its own user, so this is the user the client config names.
pub fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|n| !n.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|n| !n.is_empty()))
        .expect("cannot tell the current user name (id -un, $USER, $LOGNAME)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// sshd started as root chroots its pre-auth child into /run/sshd and exits
/// at once if it is missing, which it is on a machine where the sshd service
/// never ran (containers, CI).
#[cfg(unix)]
fn ensure_privsep_dir() {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = Path::new("/run/sshd");
    if !dir.is_dir() {
        let created = fs::DirBuilder::new().mode(0o755).create(dir);
        // Another test may have created it meanwhile: only a missing dir is
        // an error.
        if created.is_err() && !dir.is_dir() {
            panic!("cannot create /run/sshd for sshd's privilege separation: {created:?}");
        }
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
    }
}

/// sshd is OpenSSH's on Unix: on Windows the examples that start it only
/// build.
#[cfg(not(unix))]
fn ensure_privsep_dir() {}

/// A port that was free a moment ago. Another process can take it before
/// sshd binds it; [`Sshd::start`] retries then.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

/// Reads the sshd pid that the watchdog prints first.
fn read_pid(wrapper: &mut Child) -> u32 {
    let mut stdout = wrapper.stdout.take().expect("watchdog stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte up to the newline: the rest of stdout stays unread (and
    // nothing else writes to it).
    while stdout.read(&mut byte).is_ok_and(|n| n == 1) && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the sshd watchdog printed no pid ({line:?})"))
}

/// Paths handed to git and written into configs must be text; test
/// directories always are.
fn utf8(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
}

fn write(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
