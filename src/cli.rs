//! The command line, as clap structures and nothing else. `main.rs` turns
//! them into a [`crate::config::Config`] and an action; no clap type goes
//! further than that.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

/// Short-lived SSH certificates for Magento Cloud, Platform.sh and Upsun,
/// obtained in front of ssh and git.
///
/// Use it as git's ssh (GIT_SSH_COMMAND=<prefix>/libexec/certsh/ssh) or as
/// `certsh ssh ...`: when the host is the cloud's, certsh makes sure a valid
/// certificate is in place, then runs the real ssh with it.
#[derive(Debug, Parser)]
#[command(name = "certsh", version, max_term_width = 100)]
pub struct Cli {
    /// Cloud profile: magento (default), platformsh or upsun [env: CERTSH_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

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
    },
    /// Show the current certificate without contacting the network. Exits 1
    /// when there is none that ssh could use.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
