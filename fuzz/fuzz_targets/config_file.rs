//! `config.yaml` as the official CLI's users may have it: any text gives a
//! configuration or a one-line error, never a panic.
#![no_main]

#[path = "../../src/config.rs"]
#[allow(dead_code)]
mod config;
#[path = "../../src/log.rs"]
#[allow(dead_code)]
mod log;
#[path = "../../src/trust.rs"]
#[allow(dead_code)]
mod trust;
#[path = "../../src/error.rs"]
#[allow(dead_code)]
mod error;
#[path = "../../src/profile.rs"]
#[allow(dead_code)]
mod profile;
#[path = "../../src/sanitize.rs"]
#[allow(dead_code)]
mod sanitize;
#[path = "../../src/secret.rs"]
#[allow(dead_code)]
mod secret;
// Host patterns are checked where config.rs reads them.
#[path = "../../src/scope.rs"]
#[allow(dead_code)]
mod scope;
#[path = "../../src/sshargs.rs"]
#[allow(dead_code)]
mod sshargs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = config::parse_file_config(std::path::Path::new("config.yaml"), text) {
        let msg = format!("{e:#}");
        assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
    }
});
