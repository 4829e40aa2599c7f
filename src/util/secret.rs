//! Keeping secrets secret: a string that must never be printed (API tokens
//! and access tokens), children started without the token variables, and a
//! process whose memory no core file holds.
//!
//! `Debug` and `Display` of [`Secret`] show a placeholder, so a secret that
//! slips into a log line or an error message stays secret. Reading the value
//! takes an explicit [`Secret::expose`], which is easy to audit.

use std::ffi::OsStr;
use std::fmt;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A token or other credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

/// A child process without any profile's API token variable
/// (`MAGENTO_CLOUD_CLI_TOKEN`, `PLATFORMSH_CLI_TOKEN`, `UPSUN_CLI_TOKEN`) in
/// its environment, nor any named account's (`token_env`, registered with
/// [`add_token_variables`] when the accounts file is read): the browser,
/// ssh-add, git asked for its config and the real ssh need none, and a
/// browser may outlive the login by hours. Every
/// program certsh starts is made here, except the ones whose own child is
/// certsh again (`certsh git|scp|rsync`, see `setup/wrap.rs`).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    if FORGOTTEN.load(Ordering::Relaxed) {
        // None is left to remove ([`forget_token_variables`]).
        return cmd;
    }
    // Only those set: an environment left alone is passed on as it is,
    // without the copy a changed one costs.
    for var in set_token_variables(&|var| std::env::var_os(var).is_some()) {
        cmd.env_remove(var);
    }
    cmd
}

/// Whether [`forget_token_variables`] has run: then this process's
/// environment holds none of them, and is never given one again.
static FORGOTTEN: AtomicBool = AtomicBool::new(false);

/// Removes the token variables from this process's own environment, so that
/// the real ssh the shim execs next gets none without a copy of the rest
/// ([`command`] then finds none to remove). Only for a process without
/// threads: `platform::forget_variables` says why. `is_set` says whether
/// a variable is set (the shim asks its snapshot of the environment, which
/// it has already, rather than the environment again).
pub(crate) fn forget_token_variables(is_set: &dyn Fn(&str) -> bool) {
    let vars = set_token_variables(is_set);
    crate::util::platform::forget_variables(vars.iter().map(String::as_str));
    FORGOTTEN.store(true, Ordering::Relaxed);
}

/// The token variables, every profile's and every named account's, that
/// this process's environment has, by `is_set`.
fn set_token_variables(is_set: &dyn Fn(&str) -> bool) -> Vec<String> {
    let accounts = ACCOUNT_VARIABLES.lock().unwrap_or_else(|e| e.into_inner());
    // Only the names that are set are copied.
    let profiles = token_vars().map(|v| -> &str { v });
    profiles
        .chain(accounts.iter().map(String::as_str))
        .filter(|var| is_set(var))
        .map(String::from)
        .collect()
}

/// The named accounts' token variables, kept from children like the
/// profiles' (`config/accounts.rs` names them; the configuration registers
/// them here when it reads the accounts file).
static ACCOUNT_VARIABLES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds variables that hold an API token, to be kept from every child
/// [`command`] makes.
pub fn add_token_variables(vars: impl IntoIterator<Item = String>) {
    let mut known = ACCOUNT_VARIABLES.lock().unwrap_or_else(|e| e.into_inner());
    for var in vars {
        if !known.contains(&var) {
            known.push(var);
        }
    }
}

/// Every profile's API token variable. The profiles are the configuration's
/// to name; `config/profile.rs` checks that each of theirs is listed here.
pub const TOKEN_VARIABLES: &[&str] = &[
    "MAGENTO_CLOUD_CLI_TOKEN",
    "PLATFORMSH_CLI_TOKEN",
    "UPSUN_CLI_TOKEN",
];

fn token_vars() -> impl Iterator<Item = &'static str> {
    TOKEN_VARIABLES.iter().copied()
}

/// Makes this process non-dumpable, for its whole life: no core file of a
/// crash (`panic = "abort"`) holds a token or the private key, and other
/// processes of the same user can neither read its memory through `/proc`
/// nor attach a debugger. It is set first thing, because what certsh holds
/// (a token from the environment or `config.yaml`) comes in before it knows
/// whether it needs it; it costs one system call. A program certsh execs
/// (the real ssh) gets the normal setting back from the kernel.
///
/// Linux only (`platform::no_core_dumps`): macOS has no equivalent call,
/// and writes no core files unless the user turned them on (`ulimit -c`)
/// and made `/cores` writable; on Windows another user's process cannot
/// open the user's.
pub fn no_core_dumps() {
    crate::util::platform::no_core_dumps();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formatted() {
        let s = Secret::new("hunter2".into());
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn every_profiles_token_variable_is_known() {
        // Those set in this environment are removed; `tests/it/attacks_login.rs`
        // sets them all and reads the children's environments.
        let cmd = command("true");
        for var in token_vars().filter(|v| std::env::var_os(v).is_some()) {
            assert!(cmd.get_envs().any(|(k, v)| k == var && v.is_none()));
        }
    }
}
