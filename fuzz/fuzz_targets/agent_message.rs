//! Whatever a client writes to `certsh agent`'s socket, the wire format
//! reads it as messages or a reason to close, never a panic; and what it
//! reads, it writes back byte for byte.
#![no_main]

use certsh::agent::protocol::{self, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut stream = data;
    while let Ok(Ok(Some(body))) = protocol::read_message(&mut stream) {
        assert!(!body.is_empty() && body.len() <= protocol::MAX_MESSAGE);
        if let Ok(Request::Sign { key, data, flags }) = protocol::parse_request(&body) {
            assert_eq!(protocol::sign_request(key, data, flags), body);
        }
        if let Ok(ids) = protocol::parse_identities(&body) {
            assert_eq!(protocol::identities_answer(&ids), body);
        }
    }
    // The same bytes as one body, without the length in front.
    let _ = protocol::parse_request(data);
    let _ = protocol::parse_identities(data);
});
