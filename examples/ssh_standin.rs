//! A stand-in for `ssh.exe` in the end-to-end test under Wine
//! (scripts/wine-e2e), where a Windows program cannot start the Linux ssh.
//!
//! It writes what it was given to the file `STANDIN_RECORD` names: each
//! argument on a line of its own (`arg <argument>`), then the name of every
//! environment variable it got (`env <name>`). It then copies its standard
//! input to its standard output byte for byte, and exits with the code
//! `STANDIN_EXIT` names (0 when unset).

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let record = std::env::var_os("STANDIN_RECORD").expect("STANDIN_RECORD names the record");
    let mut out = String::new();
    for arg in std::env::args_os().skip(1) {
        out.push_str(&format!("arg {}\n", arg.to_string_lossy()));
    }
    for (name, _) in std::env::vars_os() {
        out.push_str(&format!("env {}\n", name.to_string_lossy()));
    }
    std::fs::write(&record, out).expect("the record is written");

    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .expect("stdin is read");
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&input).expect("stdout is written");
    stdout.flush().expect("stdout is flushed");

    let code =
        std::env::var("STANDIN_EXIT").map_or(0, |c| c.parse().expect("STANDIN_EXIT is a number"));
    ExitCode::from(code)
}
