//! The command line, as clap structures and nothing else. `lib.rs` turns
//! them into a [`crate::config::Config`] and an action; no clap type goes
//! further than that.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The version line's words, with `extra` before its closing parenthesis.
macro_rules! version {
    ($($extra:expr),*) => {
        concat!(
            env!("CARGO_PKG_VERSION"),
            " (",
            env!("CERTSH_BUILD_TARGET"),
            ", commit ",
            env!("CERTSH_BUILD_COMMIT"),
            $($extra,)*
            ")"
        )
    };
}

macro_rules! unchecked {
    () => {
        "access lists unchecked, a test build"
    };
}

/// What `certsh --version` prints after the name: the version, the target
/// and the commit it was built from (build.rs), e.g.
/// `0.1.0 (x86_64-unknown-linux-musl, commit 1a2b3c4d5e6f)`.
#[cfg(not(feature = "unchecked-access-lists"))]
pub const VERSION: &str = version!();

/// The same, for the build that takes every file as private (Cargo.toml,
/// `unchecked-access-lists`): its version line says so, so that such a
/// build is never mistaken for a release.
#[cfg(feature = "unchecked-access-lists")]
pub const VERSION: &str = version!(", ", unchecked!());

/// The mark [`VERSION`] carries in a build that checks no access lists.
pub const UNCHECKED: &str = unchecked!();

/// Short-lived SSH certificates for Magento Cloud, Platform.sh and Upsun,
/// obtained in front of ssh and git.
///
/// Use it as git's ssh (GIT_SSH_COMMAND=<prefix>/libexec/certsh/ssh) or as
/// `certsh ssh ...`: when the host is the cloud's, certsh makes sure a valid
/// certificate is in place, then runs the real ssh with it.
#[derive(Debug, Parser)]
#[command(name = "certsh", version = VERSION, max_term_width = 100)]
pub struct Cli {
    /// Cloud profile: magento (default), platformsh or upsun [env: CERTSH_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Named account, from certsh's accounts file; its profile replaces
    /// --profile. With `setup git --local`, ties the repository to it
    /// [env: CERTSH_ACCOUNT]
    #[arg(long, global = true, value_name = "NAME")]
    pub account: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run ssh with a certificate. Takes OpenSSH's command line and passes
    /// every argument through unchanged.
    #[command(
        disable_help_flag = true,
        disable_version_flag = true,
        allow_hyphen_values = true
    )]
    Ssh {
        /// OpenSSH's arguments, unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
    /// Make sure a valid certificate exists now, and show it.
    Load {
        /// Obtain a new certificate even if the current one is valid.
        #[arg(long)]
        refresh: bool,
        /// Also add key and certificate to the running ssh-agent, for as
        /// long as the certificate is valid (also: ssh.add_to_agent: true).
        #[arg(long)]
        agent: bool,
    },
    /// Serve the ssh-agent protocol in the foreground, with the certificate
    /// (renewed when needed, without a login) first and the user's own agent
    /// behind it, for clients that only talk to an agent (IDEs, GUI git
    /// clients, containers).
    Agent {
        /// The socket to listen on [default: $XDG_RUNTIME_DIR/certsh/<profile>-agent.sock,
        /// else agent.sock in the state folder].
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// The agent to pass everything else to [default: SSH_AUTH_SOCK as
        /// it is when the agent starts].
        #[arg(long, value_name = "PATH")]
        upstream: Option<PathBuf>,
        /// Also list and use the certificate on connections that ssh opened
        /// for a remote host (`ssh -A`); by default only the upstream agent's
        /// keys are offered there.
        #[arg(long)]
        allow_forwarded: bool,
    },
    /// Show the current certificate without contacting the network. Exits 1
    /// when there is none that ssh could use.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Log in through the browser (where the cloud asks for the second
    /// factor) and keep the session for certificates; or store an API token.
    Login {
        /// Ask for a multi-factor login (what a project that requires MFA
        /// for SSH needs).
        #[arg(long)]
        mfa: bool,
        /// Ask for this authentication method (repeatable: every one the
        /// cloud named), as the official CLI's `login --method`.
        #[arg(long, value_name = "METHOD")]
        method: Vec<String>,
        /// Ask for a login at most this many seconds old.
        #[arg(long, value_name = "SECONDS")]
        max_age: Option<u64>,
        /// Only print the login URL; do not start a browser.
        #[arg(long)]
        no_browser: bool,
        /// The browser is on another machine (ssh, a container): print the
        /// URL, log in on any device, and paste the address the browser ends
        /// on (http://127.0.0.1:500x/?code=...), which does not load there, at
        /// the prompt. Chosen by itself over ssh and with no display.
        #[arg(long, conflicts_with = "no_browser")]
        paste: bool,
        /// Store an API token instead: read from stdin, or typed at a prompt
        /// that does not echo. It is checked with the auth server first.
        #[arg(long, conflicts_with_all = ["mfa", "method", "max_age", "no_browser", "paste"])]
        api_token: bool,
    },
    /// Revoke the session and delete it, the stored API token, the key and
    /// the certificate.
    Logout {
        /// Every profile, not only the current one.
        #[arg(long)]
        all: bool,
    },
    /// Check what commonly goes wrong (ssh version, git and ssh_config
    /// set-up, credentials, certificate, clock) and print a fix for each.
    Doctor {
        /// Also contact the auth server and the certifier (reachability and
        /// clock skew), without sending a credential.
        #[arg(long)]
        online: bool,
    },
    /// Make plain git, ssh, scp, rsync and IDEs use certsh. Every change is
    /// undone by the same command with --undo.
    Setup {
        #[command(subcommand)]
        what: Setup,
    },
    /// Print the shell lines that make git (and, with --alias, ssh) use
    /// certsh: `eval "$(certsh env)"` in a CI job or a shell profile.
    Env {
        /// The shell that evaluates the lines.
        #[arg(long, value_enum, default_value = "sh")]
        shell: EnvShell,
        /// Also define an `ssh` alias (a function in PowerShell).
        #[arg(long)]
        alias: bool,
        /// Print SSH_AUTH_SOCK for `certsh agent` instead: every program that
        /// talks to an ssh-agent (ssh, git, IDEs started from this shell, a
        /// container given the socket) then gets the certificate from it.
        #[arg(long, conflicts_with = "alias")]
        agent: bool,
    },
    /// Run git with certsh as its ssh (GIT_SSH_COMMAND), without any set-up.
    #[command(disable_help_flag = true, allow_hyphen_values = true)]
    Git {
        /// git's arguments, unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
    /// Run scp with certsh as its ssh (`scp -S`), without any set-up.
    #[command(disable_help_flag = true, allow_hyphen_values = true)]
    Scp {
        /// scp's arguments, unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
    /// Run rsync with certsh as its ssh (`rsync -e`), without any set-up.
    #[command(disable_help_flag = true, allow_hyphen_values = true)]
    Rsync {
        /// rsync's arguments, unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
    /// Print shell completions: `certsh completions bash > ...`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), as install.sh installs it.
    #[command(hide = true)]
    Man,
    /// The `Match exec` hook that `certsh setup ssh-config` writes: renews
    /// the certificate when needed. Internal; its exit status changes
    /// nothing in ssh's configuration.
    #[command(hide = true, name = "ssh-config-hook")]
    SshConfigHook,
    /// The background renewal a connection starts when the certificate is
    /// in the last share of its lifetime. Internal.
    #[command(hide = true, name = "renew-ahead")]
    RenewAhead,
}

/// What `certsh setup` changes.
#[derive(Debug, Subcommand)]
pub enum Setup {
    /// Set git's core.sshCommand to certsh's ssh shim, so that plain git and
    /// IDEs use certsh.
    Git {
        /// This repository's config instead of the global one.
        #[arg(long)]
        local: bool,
        /// Replace a different value that is already there (--undo puts it
        /// back), or undo although the value was changed since.
        #[arg(long)]
        force: bool,
        /// Put back the value that was there before.
        #[arg(long)]
        undo: bool,
    },
    /// Add one marked block to ~/.ssh/config, so that plain ssh, scp, sftp,
    /// rsync and editors' remote plugins get the certificate.
    SshConfig {
        /// The ssh_config file [default: .ssh/config in the home directory
        /// of the passwd database, which is the one OpenSSH reads].
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// The faster choice when `certsh agent` runs (`certsh setup agent`):
        /// cloud hosts get `IdentityAgent <its socket>` instead of the
        /// `Match exec` hook, which costs every ssh a shell. Without a
        /// running agent nothing renews the certificate: keep the hook there.
        #[arg(long)]
        agent: bool,
        /// Name the key and certificate through a small file in the state
        /// folder that the block includes and the hook keeps current,
        /// instead of through the `current` link: always so on Windows.
        /// A new key then never pairs with the old key's certificate.
        #[arg(long, conflicts_with = "agent")]
        via_include: bool,
        /// Remove the block, and nothing else.
        #[arg(long, conflicts_with_all = ["agent", "via_include"])]
        undo: bool,
    },
    /// Start `certsh agent` at login: a systemd user unit on Linux
    /// (certsh-agent.service, or certsh-agent-<profile>.service for another
    /// profile than magento), a launchd agent on macOS. Run it again after
    /// moving certsh.
    Agent {
        /// Stop the agent and remove what this wrote, and nothing else.
        #[arg(long)]
        undo: bool,
    },
}

/// Shells whose syntax `certsh env` speaks.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EnvShell {
    /// POSIX sh, bash, zsh.
    Sh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn version_names_the_target_and_the_commit() {
        let rest = VERSION
            .strip_prefix(concat!(env!("CARGO_PKG_VERSION"), " ("))
            .and_then(|r| r.strip_suffix(')'))
            .expect(VERSION);
        let rest = if cfg!(feature = "unchecked-access-lists") {
            rest.strip_suffix(&format!(", {UNCHECKED}")).expect(VERSION)
        } else {
            assert!(!rest.contains(UNCHECKED), "{VERSION}");
            rest
        };
        let (target, commit) = rest.split_once(", commit ").expect(VERSION);
        assert_eq!(target.split('-').count(), 4, "{target}");
        assert!(
            commit == "unknown"
                || (commit.len() >= 12
                    && commit.chars().all(|c| c.is_ascii_hexdigit() || c == '-')),
            "{commit}"
        );
        // clap prints it after the name.
        let out = Cli::command().render_version();
        assert_eq!(out.trim_end(), format!("certsh {VERSION}"));
    }
}
