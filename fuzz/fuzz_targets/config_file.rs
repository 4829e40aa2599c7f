//! `config.yaml` as the official CLI's users may have it: any text gives a
//! configuration or a one-line error, never a panic.
#![no_main]

use certsh::config;
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
