//! certsh: short-lived SSH certificates, obtained in front of ssh and git.
//!
//! The modules are grouped by layer; a module imports only from its own layer
//! or the layers below it, never back up (`tests/it/architecture.rs` checks it,
//! `docs/architecture.md` draws it):
//!
//! - `report`, `setup`: what the commands do (status and doctor; set-up of
//!   git, ssh and shells);
//! - `connect`, `agent`: the path every connection takes, and the ssh-agent
//!   that renews the certificate by itself;
//! - `credentials`: tokens, the cloud's API, renewal and login;
//! - `state`: keys and certificates on disk and in the agent, and the lock;
//! - `config`: the command line, profiles and the one `Config`;
//! - `util`: errors, stderr lines, sanitising, secrets.
//!
//! [`Invocation`] turns a command line into an action; `main.rs` only reports.

#![forbid(unsafe_code)]

pub mod agent;
pub mod config;
pub mod connect;
pub mod credentials;
pub mod report;
pub mod setup;
pub mod state;
pub mod util;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::config::cli;
use crate::config::{Config, ProcessEnv};
use crate::connect::ssh;
use crate::credentials::{login, stored};
use crate::report::{doctor, show};
use crate::setup::{agent_service, completions, git, ssh_config, wrap};
use crate::state::ssh_add;
use crate::util::error;

pub use crate::util::secret::no_core_dumps;

/// What certsh was started as, read from its command line.
pub struct Invocation {
    action: Action,
    /// The exit code of a failure before the real ssh runs: 255 like ssh's
    /// own on the connection path, 1 for certsh's commands.
    pub failure: u8,
}

enum Action {
    /// The rest of the line is OpenSSH's, passed through untouched.
    Ssh(Vec<OsString>),
    Command(cli::Cli),
}

impl Invocation {
    /// Reads the command line (`std::env::args_os()`). The hot path skips
    /// clap: as the `ssh` shim, or as `certsh ssh ...`, the rest of the line
    /// is OpenSSH's. clap prints its own errors and exits.
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Self {
        let mut args = args.into_iter();
        let argv0 = args.next().unwrap_or_default();
        let mut rest: Vec<OsString> = args.collect();
        if Path::new(&argv0).file_name().is_some_and(|n| n == "ssh") {
            return Self::ssh(rest);
        }
        if rest.first().is_some_and(|a| a == "ssh") {
            rest.remove(0);
            return Self::ssh(rest);
        }
        let cli = cli::Cli::parse_from(std::iter::once(argv0).chain(rest));
        let failure = match cli.command {
            cli::Command::Ssh { .. } => error::SSH_FAILED,
            _ => error::FAILED,
        };
        Self {
            action: Action::Command(cli),
            failure,
        }
    }

    fn ssh(args: Vec<OsString>) -> Self {
        Self {
            action: Action::Ssh(args),
            failure: error::SSH_FAILED,
        }
    }

    /// Runs the action; the caller prints the error, once.
    pub fn run(self) -> Result<ExitCode> {
        match self.action {
            Action::Ssh(args) => ssh::run(&args, None, None),
            Action::Command(cli) => run(cli),
        }
    }
}

/// The one place a command's configuration is built, from the arguments,
/// the environment and the files, before the action that receives it. The
/// connection path (`certsh ssh`, the shim) builds its own, later and more
/// leniently: a host out of scope must not depend on it (`connect/ssh.rs`).
fn run(cli: cli::Cli) -> Result<ExitCode> {
    let profile = cli.profile.as_deref();
    let account = cli.account.as_deref();
    let who = config::For {
        account,
        ..Default::default()
    };
    let load = |profile: Option<&str>| Config::load_for(profile, who, &ProcessEnv);
    match cli.command {
        cli::Command::Ssh { args } => ssh::run(&args, profile, account),
        cli::Command::Load { refresh, agent } => {
            let cfg = load(profile)?;
            let code = show::load(&cfg, refresh)?;
            ssh_add::after_load(&cfg, agent)?;
            Ok(code)
        }
        cli::Command::Agent {
            socket,
            upstream,
            allow_forwarded,
        } => agent::run(load(profile)?, socket, upstream, allow_forwarded),
        cli::Command::Status { json } => {
            let cfg = load(profile)?;
            if cfg.account.is_none()
                && let Some(all) = show::defined_accounts(&cfg)?
            {
                return show::status_accounts(&cfg, &all, json);
            }
            show::status(&cfg, json)
        }
        cli::Command::Setup { what } => match what {
            cli::Setup::Git { local, force, undo } => {
                // The record of what was changed is the profile's, so that
                // --undo finds it with or without the account.
                let only = config::For {
                    profile_only: true,
                    ..Default::default()
                };
                let cfg = Config::load_for(profile, only, &ProcessEnv)?;
                let tie = match config::named_account(account, &ProcessEnv) {
                    Some((name, _)) => git::account_to_tie(&cfg, &name, local, undo)?,
                    None => None,
                };
                git::git(&cfg, local, force, undo, tie.as_ref())
            }
            cli::Setup::SshConfig { file, agent, undo } => {
                if let Some((_, origin)) = config::named_account(account, &ProcessEnv) {
                    return Err(error::Fixable::new(
                        "setup ssh-config writes one block for the profile and every account of it",
                        leave_out(origin),
                    )
                    .into());
                }
                let only = config::For {
                    profile_only: true,
                    ..Default::default()
                };
                let cfg = Config::load_for(profile, only, &ProcessEnv)?;
                ssh_config::setup(&cfg, file, agent, undo)
            }
            cli::Setup::Agent { undo } => {
                if let Some((_, origin)) = config::named_account(account, &ProcessEnv) {
                    return Err(error::Fixable::new(
                        "setup agent starts the profile's agent; a named account's is not set up",
                        format!(
                            "{}, or run certsh --account NAME agent yourself",
                            leave_out(origin)
                        ),
                    )
                    .into());
                }
                agent_service::setup(&load(profile)?, undo)
            }
        },
        cli::Command::Env {
            shell,
            alias,
            agent,
        } => {
            let shell = match shell {
                cli::EnvShell::Sh => wrap::Shell::Sh,
                cli::EnvShell::Fish => wrap::Shell::Fish,
                cli::EnvShell::Powershell => wrap::Shell::Powershell,
            };
            if agent {
                wrap::env_agent(shell, &load(profile)?, profile)
            } else {
                wrap::env(shell, alias, profile, account)
            }
        }
        cli::Command::Git { args } => wrap::git(&args, profile, account),
        cli::Command::Scp { args } => wrap::scp(&args, profile, account),
        cli::Command::Rsync { args } => wrap::rsync(&args, profile, account),
        cli::Command::Completions { shell } => completions::completions(shell),
        cli::Command::Man => completions::man(),
        cli::Command::RenewAhead => {
            let only = config::For {
                account,
                profile_only: account.is_none(),
                ..Default::default()
            };
            crate::credentials::ahead::renew(&Config::load_for(profile, only, &ProcessEnv)?)
        }
        cli::Command::SshConfigHook => {
            // The block names an account on the hook's line when it means
            // one: otherwise the hook is the profile's, as its files are.
            let only = config::For {
                account,
                profile_only: account.is_none(),
                ..Default::default()
            };
            ssh::hook(&Config::load_for(profile, only, &ProcessEnv)?)
        }
        cli::Command::Login {
            mfa,
            method,
            max_age,
            no_browser,
            paste,
            api_token,
        } => {
            let cfg = load(profile)?;
            if api_token {
                return login::api_token_login(&cfg);
            }
            let opts = login::Options {
                // --mfa is --method mfa; each method once, in order.
                amr: mfa
                    .then(|| "mfa".to_string())
                    .into_iter()
                    .chain(method)
                    .fold(Vec::new(), |mut all, m| {
                        if !all.contains(&m) {
                            all.push(m);
                        }
                        all
                    }),
                max_age,
                no_browser,
                paste,
            };
            login::login(&cfg, &opts)
        }
        cli::Command::Logout { all } => {
            let configs = if all {
                // Every profile's own, then every named account's.
                let only = config::For {
                    profile_only: true,
                    ..Default::default()
                };
                let mut configs = config::profile::PROFILES
                    .iter()
                    .map(|p| Config::load_for(Some(p.name), only, &ProcessEnv))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(all) = show::defined_accounts(&configs[0])? {
                    for a in &all.list {
                        let who = config::For {
                            account: Some(&a.name),
                            ..Default::default()
                        };
                        configs.push(Config::load_for(None, who, &ProcessEnv)?);
                    }
                }
                configs
            } else {
                vec![load(profile)?]
            };
            stored::logout(&configs)
        }
        cli::Command::Doctor { online } => {
            // doctor reports a configuration that fails to load.
            let (cfg, problems) = Config::read_for(profile, who, &ProcessEnv);
            doctor::run(&cfg, &problems, online)
        }
    }
}

/// How to drop a named account given as `origin` (the flag or the variable).
fn leave_out(origin: &str) -> String {
    if origin.starts_with("--") {
        format!("leave out {origin}")
    } else {
        format!("unset {origin}")
    }
}
