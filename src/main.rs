//! certsh: short-lived SSH certificates, obtained in front of ssh and git.
//!
//! `main` only dispatches and reports: every error is printed once, here, as
//! `certsh: <what failed> (<what to do>)`, and turned into an exit code.

#![forbid(unsafe_code)]

mod api;
mod cert;
mod cli;
mod config;
mod credentials;
mod error;
mod exec;
mod lock;
mod log;
mod profile;
mod refresh;
mod sanitize;
mod scope;
mod secret;
mod show;
mod ssh;
mod sshargs;
mod store;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::config::{Config, ProcessEnv};

fn main() -> ExitCode {
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
        cli::Command::Load { refresh } => show::load(&Config::load(profile, &ProcessEnv)?, refresh),
        cli::Command::Status { json } => show::status(&Config::load(profile, &ProcessEnv)?, json),
    }
}

fn report(result: Result<ExitCode>, failure: u8) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("certsh: {e:#}");
            ExitCode::from(failure)
        }
    }
}
