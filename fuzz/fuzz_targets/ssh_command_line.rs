//! The ssh command-line reader and the scope check on arbitrary argument
//! vectors (NUL separates arguments): no panic, and a destination's host
//! always matches itself as a pattern.
#![no_main]

use certsh::config::host_pattern;
use certsh::connect::{command_line, scope};
use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = data
        .split(|b| *b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let line = command_line::parse(&args);
    if let Some(d) = &line.destination {
        let _ = line.connect_host();
        assert!(host_pattern::host_matches(&d.host, &[d.host.as_str()]) || d.host.contains(['*', '?', '!']));
        let _ = host_pattern::host_matches(&d.host, &["*.magento.cloud", "!evil.*", "?"]);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = scope::parse_ssh_g(text);
    }
});
