//! Whatever the certifier answers, checking it gives a certificate for our
//! key or a reason, never a panic; and the reason prints as one safe line.
#![no_main]

use certsh::state::cert;
use libfuzzer_sys::fuzz_target;
use ssh_key::public::{Ed25519PublicKey, KeyData};

fuzz_target!(|data: &[u8]| {
    let ours = KeyData::Ed25519(Ed25519PublicKey([7u8; 32]));
    let text = String::from_utf8_lossy(data);
    match cert::check_new(&text, &ours, 1_800_000_000) {
        Ok(c) => assert_eq!(c.public_key(), &ours),
        Err(why) => {
            let line = why.to_string();
            assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        }
    }
    // The same answer as base64 of raw bytes, to reach the decoder.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let _ = cert::check_new(&format!("ssh-ed25519-cert-v01@openssh.com {b64}"), &ours, 1_800_000_000);
});
