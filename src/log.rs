//! `CERTSH_LOG=debug`: one line on stderr per decision, to see why certsh did
//! what it did. Never given a secret: callers pass messages built from paths,
//! URLs and times only.

/// Prints `certsh: debug: <msg>` when `on`; the message is built only then.
pub fn debug(on: bool, msg: impl FnOnce() -> String) {
    if on {
        eprintln!("certsh: debug: {}", msg());
    }
}
