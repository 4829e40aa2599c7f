//! `config.yaml` as the official CLI's users may have it, and certsh's own
//! accounts file (both YAML, so they share a corpus): any text gives a
//! configuration or a one-line error, never a panic; accounts that parse
//! can be matched against a destination.
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
    match config::accounts::parse(std::path::Path::new("accounts.yaml"), text) {
        Ok(all) => {
            for (user, host) in [
                (Some("abcdef7uyxabce-master-7rqtabc--app"), "git.eu-3.magento.cloud"),
                (None, "ssh.us-3.magento.cloud"),
            ] {
                if let Err(e) = all.choose(user, host) {
                    let msg = format!("{e:#}");
                    assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
                }
            }
        }
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
        }
    }
});
