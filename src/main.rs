//! certsh: short-lived SSH certificates, obtained in front of ssh and git.
//!
//! `main` only reports: every error is printed once, here, as
//! `certsh: <what failed> (<what to do>)`, and turned into an exit code. What
//! to do is the library's (`lib.rs`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    certsh::no_core_dumps();
    let invocation = certsh::Invocation::from_args(std::env::args_os());
    let failure = invocation.failure;
    match invocation.run() {
        Ok(code) => code,
        Err(e) => {
            certsh::util::log::line(&format!("{e:#}"));
            ExitCode::from(failure)
        }
    }
}
