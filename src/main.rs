//! certsh: short-lived SSH certificates, obtained in front of ssh and git.
//!
//! `main` only dispatches and reports: every error is printed once, here, as
//! `certsh: <what failed> (<what to do>)`, and turned into an exit code.

#![forbid(unsafe_code)]

mod agent;
mod api;
mod cert;
mod cli;
mod completions;
mod config;
mod credentials;
mod doctor;
mod error;
mod exec;
mod jwt;
mod lock;
mod log;
mod login;
mod peer;
mod profile;
mod refresh;
mod sanitize;
mod scope;
mod secret;
mod session;
mod setup;
mod shim;
mod show;
mod ssh;
mod sshargs;
mod sshconfig;
mod store;
mod trust;
mod wrap;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::config::{Config, ProcessEnv};

fn main() -> ExitCode {
    secret::no_core_dumps();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    // The hot path skips clap: as the `ssh` shim, or as `certsh ssh ...`,
    // the rest of the line is OpenSSH's, passed through untouched.
    if Path::new(&argv0).file_name().is_some_and(|n| n == "ssh") {
        return report(ssh::run(&rest, None), error::SSH_FAILED);
    }
    if rest.first().is_some_and(|a| a == "ssh") {
        return report(ssh::run(&rest[1..], None), error::SSH_FAILED);
    }
    let cli = cli::Cli::parse_from(std::iter::once(argv0).chain(rest));
    let code = match cli.command {
        cli::Command::Ssh { .. } => error::SSH_FAILED,
        _ => error::FAILED,
    };
    report(run(cli), code)
}

fn run(cli: cli::Cli) -> Result<ExitCode> {
    let profile = cli.profile.as_deref();
    match cli.command {
        cli::Command::Ssh { args } => ssh::run(&args, profile),
        cli::Command::Load { refresh, agent } => {
            let cfg = Config::load(profile, &ProcessEnv)?;
            let code = show::load(&cfg, refresh)?;
            agent::after_load(&cfg, agent)?;
            Ok(code)
        }
        cli::Command::Status { json } => show::status(&Config::load(profile, &ProcessEnv)?, json),
        cli::Command::Setup { what } => {
            let cfg = Config::load(profile, &ProcessEnv)?;
            match what {
                cli::Setup::Git { local, force, undo } => setup::git(&cfg, local, force, undo),
                cli::Setup::SshConfig { file, undo } => sshconfig::setup(&cfg, file, undo),
            }
        }
        cli::Command::Env { shell, alias } => wrap::env(
            match shell {
                cli::EnvShell::Sh => wrap::Shell::Sh,
                cli::EnvShell::Fish => wrap::Shell::Fish,
                cli::EnvShell::Powershell => wrap::Shell::Powershell,
            },
            alias,
            profile,
        ),
        cli::Command::Git { args } => wrap::git(&args, profile),
        cli::Command::Scp { args } => wrap::scp(&args, profile),
        cli::Command::Rsync { args } => wrap::rsync(&args, profile),
        cli::Command::Completions { shell } => completions::completions(shell),
        cli::Command::Man => completions::man(),
        cli::Command::SshConfigHook => sshconfig::hook(profile),
        cli::Command::Login {
            mfa,
            max_age,
            no_browser,
            api_token,
        } => {
            let cfg = Config::load(profile, &ProcessEnv)?;
            if api_token {
                return login::api_token_login(&cfg);
            }
            let opts = login::Options {
                amr: mfa.then(|| "mfa".to_string()),
                max_age,
                no_browser,
            };
            login::login(&cfg, &opts)
        }
        cli::Command::Logout { all } => login::logout(profile, all),
        cli::Command::Doctor { online } => doctor::run(profile, online),
    }
}

fn report(result: Result<ExitCode>, failure: u8) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            log::line(&format!("{e:#}"));
            ExitCode::from(failure)
        }
    }
}
