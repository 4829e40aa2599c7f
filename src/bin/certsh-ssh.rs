//! The `ssh` shim, installed as `<prefix>/libexec/certsh/ssh`: the connection
//! path with a good certificate, and nothing else. Whatever needs more
//! (renewing, a login, the background renewal) it hands to certsh itself,
//! installed beside it (`connect/ssh.rs`, `run_shim`). Being small is its
//! point: it starts as fast as a program that execs can (docs/benchmarks.md).
//!
//! It starts without std's runtime (`no_main`: the C runtime calls `main`
//! below). That runtime's start-up is a dozen system calls the shim does not
//! need before it execs: the check that file descriptors 0 to 2 are open
//! (ssh makes the same check itself), ignoring `SIGPIPE` (which std puts
//! back to the default before an exec anyway), and a signal stack that
//! turns a stack overflow into a message. Without it a stack overflow is a
//! plain `SIGSEGV`, and a write to a closed stderr may end the shim by
//! `SIGPIPE` rather than by an error: the shim writes only its last line
//! there, before it exits 255.

// `main` has the C runtime's signature, which takes `no_mangle`; the only
// other unsafe step, reading `argv`, is the platform layer's.
#![deny(unsafe_code)]
#![no_main]

use std::ffi::{c_char, c_int};

/// A bump allocator: the shim frees almost nothing before it execs, and a
/// general allocator's bookkeeping was a quarter of its work (`util/arena.rs`).
#[global_allocator]
static ARENA: certsh::util::arena::Arena = certsh::util::arena::Arena::new();

#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    certsh::no_core_dumps();
    // SAFETY: the C runtime passes `main` `argc` strings in `argv`.
    let args = unsafe { certsh::util::platform::main_args(argc, argv) };
    // Returns only when the connection could not become ssh or certsh.
    let e = certsh::connect::ssh::run_shim(&args);
    certsh::util::log::line(&format!("{e:#}"));
    c_int::from(certsh::util::error::SSH_FAILED)
}
