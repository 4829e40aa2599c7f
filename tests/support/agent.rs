//! `certsh agent` running in the background for a test, its stderr in a
//! file, stopped (SIGKILL) on drop. Started either as `certsh agent <args>`
//! or from another command line that runs it (a systemd unit's `ExecStart`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{TestEnv, certsh_bin, ok, wait_until};

/// A running `certsh agent`.
pub struct CertshAgent {
    pub child: Child,
    pub sock: PathBuf,
    log: PathBuf,
}

impl CertshAgent {
    /// Starts `certsh agent --socket <sock> <extra>` in `env`, and waits for
    /// its line saying where it listens.
    pub fn start(env: &TestEnv, sock: &Path, extra: &[&str]) -> CertshAgent {
        let mut args = vec![OsString::from("--socket"), sock.into()];
        args.extend(extra.iter().map(OsString::from));
        CertshAgent::start_with(env, sock, &args)
    }

    /// Starts `certsh agent <args>`, which is to listen on `sock`.
    pub fn start_with(env: &TestEnv, sock: &Path, args: &[OsString]) -> CertshAgent {
        let mut cmd = env.std_command(certsh_bin());
        cmd.arg("agent").args(args);
        CertshAgent::spawn(env, cmd, sock)
    }

    /// Starts `cmd`, a command line that runs `certsh agent` listening on
    /// `sock`, and waits for the agent's line saying where it listens.
    pub fn spawn(env: &TestEnv, mut cmd: Command, sock: &Path) -> CertshAgent {
        let log = env.path(&format!(
            "certsh-agent-{}.log",
            sock.file_name().unwrap().to_string_lossy()
        ));
        let child = cmd
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

    /// What the agent wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
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
pub struct SshAgent {
    pub child: Child,
    pub sock: PathBuf,
    log: PathBuf,
}

impl SshAgent {
    pub fn start(env: &TestEnv) -> SshAgent {
        let sock = env.path("upstream.sock");
        let log = env.path("upstream.log");
        let child = Command::new("ssh-agent")
            .arg("-d")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("ssh-agent starts");
        wait_until("ssh-agent makes its socket", || sock.exists());
        SshAgent { child, sock, log }
    }

    /// What the agent logged so far (`-d`: every request it served).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new plain ed25519 key (`ssh-keygen`), added to this agent; returns
    /// its public line.
    pub fn add_new_key(&self, env: &TestEnv) -> String {
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
