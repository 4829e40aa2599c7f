//! certsh's own lines on stderr: errors (from `main` only), warnings, and
//! `CERTSH_LOG=debug`'s one line per decision. Each line is written with a
//! single `write`, so that the lines of parallel processes sharing a
//! terminal (sixteen git fetches) do not interleave mid-line. Never given a
//! secret: callers pass messages built from paths, URLs and times only.

use std::io::Write;

/// Writes `certsh: <msg>` and a newline to stderr in one piece.
pub fn line(msg: &str) {
    let text = format!("certsh: {msg}\n");
    // Nothing sensible is left to do if stderr is gone.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `certsh: warning: <msg>`.
pub fn warn(msg: &str) {
    line(&format!("warning: {msg}"));
}

/// Prints `certsh: debug: <msg>` when `on`; the message is built only then.
pub fn debug(on: bool, msg: impl FnOnce() -> String) {
    if on {
        line(&format!("debug: {}", msg()));
    }
}
