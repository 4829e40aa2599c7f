//! Shell completions and the man page, generated from the clap definitions
//! in `config/cli.rs` so that they can never describe another version of certsh.
//! install.sh runs these and installs the output under `<prefix>/share`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::config::cli::Cli;
use crate::util::error;

/// `certsh completions <shell>`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "certsh", &mut out);
    write_stdout(&out)
}

/// `certsh man`: the man page (roff) on stdout.
pub fn man() -> Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("cannot render the man page")?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    Ok(error::success())
}
