//! What every layer uses: exit codes and the fixable error, certsh's lines on
//! stderr, text made safe for a terminal, secrets kept secret, and what
//! differs between Unix and Windows (`platform/`).

pub mod error;
pub mod file_id;
pub mod log;
pub mod platform;
pub mod sanitize;
pub mod secret;
