//! The `ssh` shim, installed as `<prefix>/libexec/certsh/ssh`: the connection
//! path with a good certificate, and nothing else. Whatever needs more
//! (renewing, a login, the background renewal) it hands to certsh itself,
//! installed beside it (`connect/ssh.rs`, `run_shim`). Being small is its
//! point: it starts as fast as a program that execs can (docs/benchmarks.md).

#![forbid(unsafe_code)]

use std::process::ExitCode;

/// A bump allocator: the shim frees almost nothing before it execs, and a
/// general allocator's bookkeeping was a quarter of its work (`util/arena.rs`).
#[global_allocator]
static ARENA: certsh::util::arena::Arena = certsh::util::arena::Arena::new();

fn main() -> ExitCode {
    certsh::no_core_dumps();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match certsh::connect::ssh::run_shim(&args) {
        Ok(code) => code,
        Err(e) => {
            certsh::util::log::line(&format!("{e:#}"));
            ExitCode::from(certsh::util::error::SSH_FAILED)
        }
    }
}
