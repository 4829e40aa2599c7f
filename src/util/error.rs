//! Exit codes and the one error type the user can act on.
//!
//! Everything else is an `anyhow` chain with context; a [`Fixable`] is a
//! problem the user can solve, so its text is the problem followed by the fix,
//! and `main` prints it exactly once.

use std::fmt;
use std::process::ExitCode;

/// ssh's own code for "ssh failed before the remote command ran". Used for
/// every failure before exec so that git and scripts see what they would see
/// from a failed connection.
pub const SSH_FAILED: u8 = 255;
/// A certsh command (not the ssh entry point) failed.
pub const FAILED: u8 = 1;
/// `certsh status`: there is no usable certificate.
pub const NO_CERTIFICATE: u8 = 1;

/// Exit code for a successful command.
pub fn success() -> ExitCode {
    ExitCode::SUCCESS
}

/// A problem the user can fix, with the fix.
#[derive(Debug)]
pub struct Fixable {
    problem: String,
    fix: String,
}

impl Fixable {
    /// `problem` says what is wrong (quote the value, never a secret);
    /// `fix` says what to do about it.
    pub fn new(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Fixable {
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// The problem alone, for a caller that gives a different fix.
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// The fix alone, for a report that prints it on a line of its own.
    pub fn fix(&self) -> &str {
        &self.fix
    }
}

impl fmt::Display for Fixable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.problem, self.fix)
    }
}

impl std::error::Error for Fixable {}
