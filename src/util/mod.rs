//! What every layer uses: exit codes and the fixable error, certsh's lines on
//! stderr, text made safe for a terminal, secrets kept secret, what
//! differs between Unix and Windows (`platform/`), and the shim program's
//! allocator (`arena.rs`).

pub mod arena;
pub mod error;
pub mod file_id;
pub mod log;
pub mod platform;
pub mod sanitize;
pub mod secret;
