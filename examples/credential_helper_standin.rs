//! A stand-in for the official CLI's credential helper
//! (`<config dir>/credential-helper.exe`, docker-credential-wincred on
//! Windows) in the end-to-end test under Wine (tests/it/wine.rs), which
//! has no Windows keychain helper to run.
//!
//! It speaks the docker-credential protocol for `get`: the server URL on
//! standard input; the item as JSON on standard output, or "credentials not
//! found in native keychain" and exit 1. Items are files in the `keychain`
//! folder beside it, named by the URL with `/` as `_`, holding the secret.
//! Each call adds `<action> <url>` to `helper.log` beside it, and the
//! arguments it was given after the action (there should be none).

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let exe = std::env::current_exe().expect("its own path");
    let dir = exe.parent().expect("its folder");
    let mut args = std::env::args().skip(1);
    let action = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let mut url = String::new();
    std::io::stdin()
        .read_to_string(&mut url)
        .expect("stdin is read");
    let url = url.trim().to_string();
    let mut log = std::fs::read_to_string(dir.join("helper.log")).unwrap_or_default();
    log.push_str(&format!("{action} {url}"));
    for a in &rest {
        log.push_str(&format!(" {a}"));
    }
    log.push('\n');
    std::fs::write(dir.join("helper.log"), log).expect("the log is written");
    if action != "get" {
        return ExitCode::from(1);
    }
    match std::fs::read_to_string(dir.join("keychain").join(url.replace('/', "_"))) {
        Ok(secret) => {
            let item = format!(
                "{{\"ServerURL\":\"{url}\",\"Username\":\"me\",\"Secret\":\"{}\"}}",
                secret.trim()
            );
            println!("{item}");
            ExitCode::SUCCESS
        }
        Err(_) => {
            println!("credentials not found in native keychain");
            ExitCode::from(1)
        }
    }
}
