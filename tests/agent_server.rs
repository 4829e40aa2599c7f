//! `certsh agent`, the ssh-agent that renews the certificate by itself,
//! against the real sshd, the real OpenSSH client and a real `ssh-agent`
//! behind it. Issue #11.
//!
//! No test runs certsh on the ssh command line: ssh is `/usr/bin/ssh` with
//! `-o IdentityAgent=<certsh's socket>`, as an IDE or a GUI git client would
//! be set up.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Polls until `cond` holds. The limit only guards against a hang.
#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `certsh agent` running in the background, its stderr in a file. Stopped
/// (SIGKILL) on drop.
struct CertshAgent {
    child: Child,
    sock: PathBuf,
    log: PathBuf,
}

impl CertshAgent {
    /// Starts `certsh agent --socket <sock> <extra>` in `env`, and waits for
    /// its line saying where it listens.
    fn start(env: &TestEnv, sock: &Path, extra: &[&str]) -> CertshAgent {
        let log = env.path(&format!(
            "certsh-agent-{}.log",
            sock.file_name().unwrap().to_string_lossy()
        ));
        let child = env
            .std_command(certsh_bin())
            .arg("agent")
            .arg("--socket")
            .arg(sock)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("certsh agent starts");
        let mut agent = CertshAgent {
            child,
            sock: sock.to_path_buf(),
            log,
        };
        wait_until("certsh agent says where it listens", || {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("certsh agent exited with {status}:\n{}", agent.log());
            }
            agent.log().contains("agent listening on")
        });
        agent
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to end.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }
}

impl Drop for CertshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real `ssh-agent -d` (foreground, log on stderr), stopped on drop.
struct SshAgent {
    child: Child,
    sock: PathBuf,
}

impl SshAgent {
    fn start(env: &TestEnv) -> SshAgent {
        let sock = env.path("upstream.sock");
        let child = Command::new("ssh-agent")
            .arg("-d")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(env.path("upstream.log")).unwrap())
            .spawn()
            .expect("ssh-agent starts");
        wait_until("ssh-agent makes its socket", || sock.exists());
        SshAgent { child, sock }
    }

    /// A new plain ed25519 key (`ssh-keygen`), added to this agent; returns
    /// its public line.
    fn add_new_key(&self, env: &TestEnv) -> String {
        let key = env.path("user_key");
        ok(env
            .command_plain("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "user-own-key", "-f"])
            .arg(&key));
        ok(env
            .command_plain("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &self.sock));
        std::fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ssh-add -L` through `sock`: (exit code, lines, stderr).
fn list(env: &TestEnv, sock: &Path) -> (Option<i32>, Vec<String>, String) {
    let p = run(env
        .command_plain("ssh-add")
        .arg("-L")
        .env("SSH_AUTH_SOCK", sock));
    (
        p.code,
        p.stdout.lines().map(String::from).collect(),
        p.stderr,
    )
}

/// `/usr/bin/ssh` to the test sshd with certsh's socket as its agent and no
/// certsh anywhere on the command line.
fn ssh_through(env: &TestEnv, sock: &Path) -> assert_cmd::Command {
    let mut cmd = env.command_plain("/usr/bin/ssh");
    cmd.arg("-F")
        .arg(env.ssh_config())
        .arg("-o")
        .arg(format!("IdentityAgent={}", sock.display()))
        .args(["-o", "IdentitiesOnly=no"]);
    cmd
}

/// The lines of sshd's log that accepted a login.
fn accepted(env: &TestEnv) -> Vec<String> {
    env.sshd()
        .log()
        .lines()
        .filter(|l| l.contains("Accepted publickey"))
        .map(String::from)
        .collect()
}

const CERT_TYPE: &str = "ssh-ed25519-cert-v01@openssh.com ";

#[test]
fn ssh_logs_in_with_the_certificate_through_the_agent_alone() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &[]);
    assert_eq!(
        env.certifier.sign_requests(),
        0,
        "nothing before a client asks"
    );
    let p = ok(ssh_through(&env, &sock).args(["ssh.us-3.magento.cloud", "echo", "logged-in"]));
    assert_eq!(p.stdout, "logged-in\n");
    assert_eq!(env.certifier.sign_requests(), 1);
    let accepted = accepted(&env);
    assert_eq!(accepted.len(), 1, "{accepted:#?}");
    assert!(accepted[0].contains("ED25519-CERT"), "{}", accepted[0]);
    // The socket is the user's alone, in a folder of the user's alone.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(sock.parent().unwrap()), 0o700);
}
