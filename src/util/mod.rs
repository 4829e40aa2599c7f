//! What every layer uses: exit codes and the fixable error, certsh's lines on
//! stderr, text made safe for a terminal, and secrets kept secret.

pub mod error;
pub mod file_id;
pub mod log;
pub mod sanitize;
pub mod secret;
