//! A stand-in for `ssh.exe` in the end-to-end test under Wine
//! (scripts/wine-e2e), where a Windows program cannot start the Linux ssh.
//!
//! It writes what it was given to the file `STANDIN_RECORD` names: each
//! argument on a line of its own (`arg <argument>`), then the name of every
//! environment variable it got (`env <name>`). It then copies its standard
//! input to its standard output byte for byte, and exits with the code
//! `STANDIN_EXIT` names (0 when unset).
//!
//! With `STANDIN_HOLD_MS`, it first keeps its `CertificateFile` open that
//! long, shared for reading and writing but not for deleting, as the C
//! runtime's `fopen` (and so Windows OpenSSH) opens a file.

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

    if let Ok(ms) = std::env::var("STANDIN_HOLD_MS") {
        let path = std::env::args()
            .find_map(|a| a.strip_prefix("CertificateFile=").map(unquote))
            .expect("a CertificateFile to hold");
        let held = open_as_fopen(&path);
        std::thread::sleep(std::time::Duration::from_millis(
            ms.parse().expect("a number"),
        ));
        drop(held);
    }

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

/// An option's value with ssh's quoting taken off.
fn unquote(value: &str) -> String {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    inner.replace("\\\\", "\\")
}

#[cfg(windows)]
fn open_as_fopen(path: &str) -> std::fs::File {
    use std::os::windows::fs::OpenOptionsExt;
    // FILE_SHARE_READ | FILE_SHARE_WRITE
    std::fs::OpenOptions::new()
        .read(true)
        .share_mode(0x1 | 0x2)
        .open(path)
        .expect("the certificate opens")
}

#[cfg(not(windows))]
fn open_as_fopen(path: &str) -> std::fs::File {
    std::fs::File::open(path).expect("the certificate opens")
}
