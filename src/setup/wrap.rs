//! One-off use without set-up: `certsh git|scp|rsync ...` run those programs
//! with certsh as their ssh, and `certsh env` prints the lines a CI job or a
//! shell profile evaluates to get the same for every later command
//! (`--agent`: `SSH_AUTH_SOCK` for `certsh agent`, for every agent client).
//!
//! Each program has its own way to be given an ssh: git reads
//! `GIT_SSH_COMMAND` (through the shell), scp takes a program with `-S`, rsync
//! a command line with `-e`. certsh's option goes first, so an `-S` or `-e` the
//! user adds later still wins.
//!
//! `--profile` and `--account` reach the certsh that those programs start
//! through `CERTSH_PROFILE` and `CERTSH_ACCOUNT` (they start it without
//! certsh's options).

use std::ffi::OsString;
use std::io::ErrorKind;
use std::process::{Command, ExitCode};

use anyhow::Result;

use crate::config::accounts::ACCOUNT_VAR;
use crate::config::{Config, ProcessEnv};
use crate::connect::shim::{Installed, sh_quote};
use crate::util::error::{self, Fixable};

/// The shells `certsh env` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// POSIX sh and its descendants (bash, zsh, dash).
    Sh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
}

/// `certsh env`: prints `GIT_SSH_COMMAND` (and an `ssh` alias when asked)
/// in the syntax of `shell`, and `CERTSH_PROFILE` when `--profile` was given.
pub fn env(
    shell: Shell,
    alias: bool,
    profile: Option<&str>,
    account: Option<&str>,
) -> Result<ExitCode> {
    let ssh = Installed::locate()?.ssh_command()?;
    let mut out = String::new();
    let vars = [
        ("CERTSH_PROFILE", profile_name(profile)?.map(String::from)),
        (ACCOUNT_VAR, account_name(account)?),
    ];
    for (var, value) in vars {
        let Some(value) = value else { continue };
        out.push_str(&var_line(shell, var, &value));
    }
    out.push_str(&env_lines(shell, &ssh, alias));
    print!("{out}");
    Ok(error::success())
}

/// `certsh env --agent`: prints `SSH_AUTH_SOCK` for `certsh agent`'s socket
/// (`state::store::agent_socket_path`, the path `setup agent` and `setup
/// ssh-config --agent` write) in the syntax of `shell`, and `CERTSH_PROFILE`
/// when `--profile` was given. Nothing checks that the agent runs: a shell
/// profile evaluates this before the login that starts it.
pub fn env_agent(shell: Shell, cfg: &Config, profile: Option<&str>) -> Result<ExitCode> {
    let socket = crate::state::store::agent_socket_path(cfg);
    let socket = socket.to_str().ok_or_else(|| {
        Fixable::new(
            format!("the agent's socket {} is not UTF-8", socket.display()),
            "set XDG_RUNTIME_DIR, or HOME, to a plain path",
        )
    })?;
    if socket.contains(char::is_control) {
        return Err(Fixable::new(
            format!("the agent's socket {socket:?} contains a control character"),
            "set XDG_RUNTIME_DIR, or HOME, to a plain path",
        )
        .into());
    }
    let mut out = String::new();
    if profile.is_some() {
        out.push_str(&var_line(shell, "CERTSH_PROFILE", cfg.profile.name));
    }
    if let Some(account) = &cfg.account {
        out.push_str(&var_line(shell, ACCOUNT_VAR, &account.name));
    }
    out.push_str(&agent_line(shell, socket));
    print!("{out}");
    Ok(error::success())
}

/// `var=value` for `shell`; `value` is a checked name (letters, digits,
/// `-` and `_`), so it needs no quoting.
fn var_line(shell: Shell, var: &str, value: &str) -> String {
    match shell {
        Shell::Sh => format!("export {var}={value}\n"),
        Shell::Fish => format!("set -gx {var} {value}\n"),
        Shell::Powershell => format!("$env:{var} = '{value}'\n"),
    }
}

/// The line that points every agent client at `socket`.
fn agent_line(shell: Shell, socket: &str) -> String {
    match shell {
        Shell::Sh => format!("export SSH_AUTH_SOCK={}\n", sh_quote(socket)),
        Shell::Fish => format!("set -gx SSH_AUTH_SOCK {}\n", fish_quote(socket)),
        Shell::Powershell => format!("$env:SSH_AUTH_SOCK = {}\n", ps_quote(socket)),
    }
}

/// The profile `--profile` names, checked, in its canonical spelling.
fn profile_name(profile: Option<&str>) -> Result<Option<&'static str>> {
    match profile {
        // Only the name is checked: the configuration matters to the shim,
        // and only for cloud hosts.
        Some(_) => Ok(Some(
            crate::config::select_profile(profile, &ProcessEnv)?.name,
        )),
        None => Ok(None),
    }
}

/// The account `--account` names, checked against the accounts file.
fn account_name(account: Option<&str>) -> Result<Option<String>> {
    let Some(name) = account else {
        return Ok(None);
    };
    let who = crate::config::For {
        account: Some(name),
        ..Default::default()
    };
    let cfg = crate::config::Config::load_for(None, who, &ProcessEnv)?;
    Ok(cfg.account.map(|a| a.name))
}

/// A program to run, with `CERTSH_PROFILE` when `--profile` was given, and
/// `CERTSH_ACCOUNT` when `--account` was.
///
/// Unlike every other child of certsh (`secret::command`), these keep the API
/// token variables: their ssh is certsh again (the shim or `certsh ssh`),
/// and the token may be the only credential it has. That certsh removes the
/// variables before it execs the real ssh.
fn command(program: &str, profile: Option<&str>, account: Option<&str>) -> Result<Command> {
    let mut cmd = Command::new(program);
    if let Some(name) = profile_name(profile)? {
        cmd.env("CERTSH_PROFILE", name);
    }
    if let Some(name) = account_name(account)? {
        cmd.env(ACCOUNT_VAR, name);
    }
    Ok(cmd)
}

/// The lines `certsh env` prints for the ssh command `ssh` (already one
/// command line for `sh`, as git runs it).
fn env_lines(shell: Shell, ssh: &str, alias: bool) -> String {
    let mut out = String::new();
    match shell {
        Shell::Sh => {
            out.push_str(&format!("export GIT_SSH_COMMAND={}\n", sh_quote(ssh)));
            if alias {
                out.push_str(&format!("alias ssh={}\n", sh_quote(ssh)));
            }
        }
        Shell::Fish => {
            out.push_str(&format!("set -gx GIT_SSH_COMMAND {}\n", fish_quote(ssh)));
            if alias {
                out.push_str(&format!("alias ssh {}\n", fish_quote(ssh)));
            }
        }
        Shell::Powershell => {
            out.push_str(&format!("$env:GIT_SSH_COMMAND = {}\n", ps_quote(ssh)));
            if alias {
                // Set-Alias cannot carry arguments; a function can.
                out.push_str(&format!(
                    "function ssh {{ & {} @args }}\n",
                    ps_words(ssh).join(" ")
                ));
            }
        }
    }
    out
}

fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

fn ps_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The ssh command as PowerShell words: the program quoted, then `ssh` for
/// the `certsh ssh` form. Undoes [`sh_quote`] on the program's path.
fn ps_words(ssh: &str) -> Vec<String> {
    let (program, rest) = match ssh.strip_suffix(" ssh") {
        Some(p) => (p, Some("ssh")),
        None => (ssh, None),
    };
    let program = match program
        .strip_prefix('\'')
        .and_then(|p| p.strip_suffix('\''))
    {
        Some(inner) => inner.replace(r"'\''", "'"),
        None => program.to_string(),
    };
    let mut words = vec![ps_quote(&program)];
    words.extend(rest.map(String::from));
    words
}

/// `certsh git ...`: git with `GIT_SSH_COMMAND` set to certsh.
pub fn git(args: &[OsString], profile: Option<&str>, account: Option<&str>) -> Result<ExitCode> {
    let ssh = Installed::locate()?.ssh_command()?;
    let mut cmd = command("git", profile, account)?;
    cmd.env("GIT_SSH_COMMAND", ssh).args(args);
    Err(exec(cmd, "git", "git"))
}

/// `certsh scp ...`: `scp -S <shim> ...`.
pub fn scp(args: &[OsString], profile: Option<&str>, account: Option<&str>) -> Result<ExitCode> {
    let installed = Installed::locate()?;
    let mut cmd = command("scp", profile, account)?;
    cmd.arg("-S").arg(installed.shim()?).args(args);
    Err(exec(cmd, "scp", "openssh-client"))
}

/// `certsh rsync ...`: `rsync -e <certsh as ssh> ...`.
pub fn rsync(args: &[OsString], profile: Option<&str>, account: Option<&str>) -> Result<ExitCode> {
    let ssh = Installed::locate()?.ssh_command()?;
    let mut cmd = command("rsync", profile, account)?;
    cmd.arg("-e").arg(ssh).args(args);
    Err(exec(cmd, "rsync", "rsync"))
}

/// Replaces this process with `cmd` (`platform::exec`); returns only the
/// error.
fn exec(mut cmd: Command, program: &str, package: &str) -> anyhow::Error {
    let err = crate::util::platform::exec(&mut cmd);
    if err.kind() == ErrorKind::NotFound {
        Fixable::new(
            format!("{program} is not on PATH"),
            format!("install {package}"),
        )
        .into()
    } else {
        Fixable::new(
            format!("cannot run {program}: {err}"),
            format!("check that {program} on PATH is a working program"),
        )
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIM: &str = "/home/me/.local/libexec/certsh/ssh";

    #[test]
    fn sh_lines() {
        assert_eq!(
            env_lines(Shell::Sh, SHIM, false),
            format!("export GIT_SSH_COMMAND={SHIM}\n")
        );
        assert_eq!(
            env_lines(Shell::Sh, "'/a b/ssh'", true),
            "export GIT_SSH_COMMAND=''\\''/a b/ssh'\\'''\nalias ssh=''\\''/a b/ssh'\\'''\n"
        );
    }

    #[test]
    fn fish_lines() {
        assert_eq!(
            env_lines(Shell::Fish, SHIM, true),
            format!("set -gx GIT_SSH_COMMAND '{SHIM}'\nalias ssh '{SHIM}'\n")
        );
    }

    #[test]
    fn agent_lines_quote_the_socket_for_each_shell() {
        let socket = "/run/user/1000/certsh/magento-agent.sock";
        assert_eq!(
            agent_line(Shell::Sh, socket),
            format!("export SSH_AUTH_SOCK={socket}\n")
        );
        assert_eq!(
            agent_line(Shell::Sh, "/Users/it's me/agent.sock"),
            "export SSH_AUTH_SOCK='/Users/it'\\''s me/agent.sock'\n"
        );
        assert_eq!(
            agent_line(Shell::Fish, "/a b/it's\\x"),
            "set -gx SSH_AUTH_SOCK '/a b/it\\'s\\\\x'\n"
        );
        assert_eq!(
            agent_line(Shell::Powershell, "/a b/it's"),
            "$env:SSH_AUTH_SOCK = '/a b/it''s'\n"
        );
    }

    #[test]
    fn powershell_lines() {
        assert_eq!(
            env_lines(Shell::Powershell, "'/it'\\''s/certsh' ssh", true),
            "$env:GIT_SSH_COMMAND = '''/it''\\''''s/certsh'' ssh'\nfunction ssh { & '/it''s/certsh' ssh @args }\n"
        );
    }
}
