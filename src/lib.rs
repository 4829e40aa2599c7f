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

// Unsafe code is in two places alone: src/util/platform (on Windows its
// calls into Windows; everywhere the shim's one change to its own
// environment, `forget_variables`) and the shim's allocator,
// src/util/arena.rs. Nothing else may have any.
#![deny(unsafe_code)]

// `certsh agent` serves a Unix socket: Unix-only for now (docs/windows.md).
#[cfg(unix)]
pub mod agent;
pub mod config;
pub mod connect;
pub mod credentials;
pub mod report;
pub mod setup;
pub mod state;
pub mod util;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
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
        if Path::new(&argv0)
            .file_name()
            .is_some_and(util::platform::is_ssh_name)
        {
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
    let who = Who {
        profile: cli.profile.as_deref(),
        account: cli.account.as_deref(),
    };
    let (profile, account) = (who.profile, who.account);
    match cli.command {
        cli::Command::Ssh { args } => ssh::run(&args, profile, account),
        cli::Command::Load { refresh, agent } => {
            let cfg = who.load()?;
            let code = show::load(&cfg, refresh)?;
            ssh_add::after_load(&cfg, agent)?;
            Ok(code)
        }
        cli::Command::Agent {
            socket,
            upstream,
            allow_forwarded,
        } => run_agent(&who, socket, upstream, allow_forwarded),
        cli::Command::Status { json } => status(&who, json),
        cli::Command::Setup { what } => setup(&who, what),
        cli::Command::Env {
            shell,
            alias,
            agent,
        } => env(&who, shell, alias, agent),
        cli::Command::Git { args } => wrap::git(&args, profile, account),
        cli::Command::Scp { args } => wrap::scp(&args, profile, account),
        cli::Command::Rsync { args } => wrap::rsync(&args, profile, account),
        cli::Command::Completions { shell } => completions::completions(shell),
        cli::Command::Man => completions::man(),
        cli::Command::RenewAhead => crate::credentials::ahead::renew(&who.hooks()?),
        cli::Command::SshConfigHook => ssh_config::hook(&who.hooks()?),
        cli::Command::Login {
            mfa,
            method,
            max_age,
            no_browser,
            paste,
            api_token,
        } => {
            let cfg = who.load()?;
            if api_token {
                return login::api_token_login(&cfg);
            }
            let opts = login::Options {
                amr: methods(mfa, method),
                max_age,
                no_browser,
                paste,
            };
            login::login(&cfg, &opts)
        }
        cli::Command::Logout { all } => logout(&who, all),
        cli::Command::Doctor { online } => {
            // doctor reports a configuration that fails to load.
            let (cfg, problems) = Config::read_for(profile, who.named(), &ProcessEnv);
            doctor::run(&cfg, &problems, online)
        }
    }
}

/// Whom a command is for: `--profile` and `--account` as given. The kinds
/// of configuration commands take, each built in one place.
struct Who<'a> {
    profile: Option<&'a str>,
    account: Option<&'a str>,
}

impl Who<'_> {
    /// The account `--account` names (else `CERTSH_ACCOUNT`), if any.
    fn named(&self) -> config::For<'_> {
        config::For {
            account: self.account,
            ..Default::default()
        }
    }

    /// The configuration of the named account, else of the profile.
    fn load(&self) -> Result<Config> {
        Config::load_for(self.profile, self.named(), &ProcessEnv)
    }

    /// The profile's own configuration, whatever `CERTSH_ACCOUNT` says: for
    /// what is written once per profile (setup git's record, the ssh_config
    /// block).
    fn profile_only(&self) -> Result<Config> {
        let only = config::For {
            profile_only: true,
            ..Default::default()
        };
        Config::load_for(self.profile, only, &ProcessEnv)
    }

    /// What the ssh_config hook and the background renewal were started
    /// for: the account on their command line when one is named, otherwise
    /// the profile, as their files are.
    fn hooks(&self) -> Result<Config> {
        let only = config::For {
            account: self.account,
            profile_only: self.account.is_none(),
            ..Default::default()
        };
        Config::load_for(self.profile, only, &ProcessEnv)
    }
}

/// `--mfa` is `--method mfa`; each method once, in order.
fn methods(mfa: bool, method: Vec<String>) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for m in mfa.then(|| "mfa".to_string()).into_iter().chain(method) {
        if !all.contains(&m) {
            all.push(m);
        }
    }
    all
}

/// `certsh status`: every account's line when there are accounts and none
/// is named, else the one certificate's report.
fn status(who: &Who, json: bool) -> Result<ExitCode> {
    let cfg = who.load()?;
    if cfg.account.is_none()
        && let Some(all) = show::defined_accounts(&cfg)?
    {
        return show::status_accounts(&cfg, &all, json);
    }
    show::status(&cfg, json)
}

/// `certsh setup git | ssh-config | agent`.
fn setup(who: &Who, what: cli::Setup) -> Result<ExitCode> {
    let named = config::named_account(who.account, &ProcessEnv);
    match what {
        cli::Setup::Git { local, force, undo } => {
            // The record of what was changed is the profile's, so that
            // --undo finds it with or without the account.
            let cfg = who.profile_only()?;
            let tie = match named {
                Some((name, _)) => git::account_to_tie(&cfg, &name, local, undo)?,
                None => None,
            };
            git::git(&cfg, local, force, undo, tie.as_ref())
        }
        cli::Setup::SshConfig {
            file,
            agent,
            via_include,
            undo,
        } => {
            if agent {
                agent_here()?;
            }
            if let Some((_, origin)) = named {
                return Err(error::Fixable::new(
                    "setup ssh-config writes one block for the profile and every account of it",
                    leave_out(origin),
                )
                .into());
            }
            ssh_config::setup(&who.profile_only()?, file, agent, via_include, undo)
        }
        cli::Setup::Agent { undo } => {
            if let Some((_, origin)) = named {
                return Err(error::Fixable::new(
                    "setup agent starts the profile's agent; a named account's is not set up",
                    format!(
                        "{}, or run certsh --account NAME agent yourself",
                        leave_out(origin)
                    ),
                )
                .into());
            }
            agent_here()?;
            agent_service::setup(&who.load()?, undo)
        }
    }
}

/// `certsh agent`.
#[cfg(unix)]
fn run_agent(
    who: &Who,
    socket: Option<PathBuf>,
    upstream: Option<PathBuf>,
    allow_forwarded: bool,
) -> Result<ExitCode> {
    agent::run(who.load()?, socket, upstream, allow_forwarded)
}

/// `certsh agent`, where it does not exist yet.
#[cfg(not(unix))]
fn run_agent(
    _who: &Who,
    _socket: Option<PathBuf>,
    _upstream: Option<PathBuf>,
    _allow_forwarded: bool,
) -> Result<ExitCode> {
    agent_here()?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `certsh agent` exists here: it serves a Unix socket, so on
/// Windows not yet, and `certsh agent`, `setup agent`, `setup ssh-config
/// --agent` and `env --agent` say so in one line.
fn agent_here() -> Result<()> {
    unix_only(
        "certsh agent",
        "let ssh run certsh instead: certsh ssh, or the ssh shim",
    )
}

/// A feature that exists on Unix alone for now: elsewhere the one line
/// that says so, and what to do instead (docs/windows.md).
fn unix_only(what: &str, instead: &str) -> Result<()> {
    if cfg!(unix) {
        return Ok(());
    }
    Err(error::Fixable::new(format!("{what} is Unix-only for now"), instead).into())
}

/// `certsh env [--alias] [--agent]`.
fn env(who: &Who, shell: cli::EnvShell, alias: bool, agent: bool) -> Result<ExitCode> {
    let shell = match shell {
        cli::EnvShell::Sh => wrap::Shell::Sh,
        cli::EnvShell::Fish => wrap::Shell::Fish,
        cli::EnvShell::Powershell => wrap::Shell::Powershell,
    };
    if agent {
        agent_here()?;
        wrap::env_agent(shell, &who.load()?, who.profile)
    } else {
        wrap::env(shell, alias, who.profile, who.account)
    }
}

/// `certsh logout [--all]`: with `--all`, every profile's own and then every
/// named account's.
fn logout(who: &Who, all: bool) -> Result<ExitCode> {
    if !all {
        return stored::logout(&[who.load()?]);
    }
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
            let named = config::For {
                account: Some(&a.name),
                ..Default::default()
            };
            configs.push(Config::load_for(None, named, &ProcessEnv)?);
        }
    }
    stored::logout(&configs)
}

/// How to drop a named account given as `origin` (the flag or the variable).
fn leave_out(origin: &str) -> String {
    if origin.starts_with("--") {
        format!("leave out {origin}")
    } else {
        format!("unset {origin}")
    }
}
