//! Renewal ahead of expiry, off the connection's path: a connection that
//! finds the certificate good but in the last share of its lifetime
//! (`ssh.renew_ahead` / `CERTSH_RENEW_AHEAD`, a third by default) goes on at
//! once with it and starts one renewal in the background.
//!
//! - One renewal for many connections: the shim takes `renew.lock` without
//!   waiting and starts a renewer only when no renewal started in the last
//!   [`RESTART_AFTER`] (`renew.started`, written under that lock). A hundred
//!   parallel fetches start one.
//! - The renewer (`certsh renew-ahead`, a hidden command) holds none of the
//!   caller's standard streams: its stdin, stdout and stderr are
//!   `/dev/null`, so git, which waits for EOF on ssh's output, never waits
//!   for it. It leaves the session (`setsid`) so that the terminal's signals
//!   do not reach it, and renews under the store's lock like any
//!   connection, after checking again that the certificate still needs it.
//!   Descriptors above 2 that the caller left open without close-on-exec
//!   are inherited: certsh has no unsafe code to close them; git opens its
//!   own with close-on-exec.
//! - A failed renewal changes nothing (the current certificate stays) and
//!   leaves one line in `renew-ahead.failed`, which the next connection in
//!   the last share prints once, and `certsh status` shows until then. The
//!   next background try comes [`RESTART_AFTER`] later; once the certificate
//!   is inside the renewal margin, connections renew in the foreground as
//!   before.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Result;

use crate::config::Config;
use crate::state::cert::{Validity, now};
use crate::state::store::Store;
use crate::util::log;

/// A renewal started this long ago and not finished is taken for dead.
pub const RESTART_AFTER: Duration = Duration::from_secs(120);

/// The file a failed background renewal leaves, in the state folder.
pub const FAILED_FILE: &str = "renew-ahead.failed";

/// Whether `c` is in the last `cfg.renew_ahead` share of its lifetime.
pub fn due(cfg: &Config, validity: &Validity) -> bool {
    validity.in_last_share(now(), cfg.renew_ahead)
}

/// After a connection's certificate: when it is due, prints a failed
/// background renewal's line once and starts a renewal, unless one started
/// recently. Never fails the connection.
pub fn after_connection(cfg: &Config, validity: &Validity, certsh: &dyn Fn() -> Result<PathBuf>) {
    if !due(cfg, validity) {
        return;
    }
    let Some(store) = Store::locate(cfg) else {
        return;
    };
    report_failure(&store.dir);
    if let Err(e) = start(cfg, &store.dir, certsh) {
        log::debug(cfg.debug, || format!("no background renewal: {e:#}"));
    }
}

/// Prints the failed renewal's line, once: the file goes after it.
fn report_failure(dir: &Path) {
    if let Some(line) = pending_failure(dir) {
        let _ = std::fs::remove_file(dir.join(FAILED_FILE));
        log::warn(&format!(
            "the background renewal failed: {line}; the current certificate stays"
        ));
    }
}

/// The failed renewal's line, if one is waiting to be reported.
pub fn pending_failure(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(FAILED_FILE)).ok()?;
    Some(text.lines().next()?.trim().to_string()).filter(|l| !l.is_empty())
}

/// Starts the renewer, unless another connection did within
/// [`RESTART_AFTER`].
fn start(cfg: &Config, dir: &Path, certsh: &dyn Fn() -> Result<PathBuf>) -> Result<()> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("renew.lock"))?;
    if lock.try_lock().is_err() {
        return Ok(());
    }
    let marker = dir.join("renew.started");
    let recent = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < RESTART_AFTER);
    if recent {
        return Ok(());
    }
    crate::state::store::replace_file(dir, &marker, now().to_string().as_bytes(), 0o600)?;
    let exe = certsh()?;
    // certsh itself: it needs the token variables the shim has.
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(cfg.own_options())
        .arg("renew-ahead")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    crate::util::platform::detach(&mut cmd).spawn()?;
    log::debug(cfg.debug, || "started a background renewal".into());
    Ok(())
}

/// `certsh renew-ahead`: the renewer. Leaves the session, renews if the
/// certificate is still due, and on failure leaves its line for the next
/// connection. Always exits 0: nobody reads its status.
pub fn renew(cfg: &Config) -> Result<std::process::ExitCode> {
    crate::util::platform::leave_session();
    let dir = Store::locate(cfg).map(|s| s.dir);
    let result = crate::credentials::refresh::ensure(cfg, crate::credentials::refresh::Want::Ahead);
    if let Some(dir) = dir {
        match result {
            // After a failure the marker stays: the next try is
            // RESTART_AFTER away, not at the next connection.
            Ok(_) => {
                let _ = std::fs::remove_file(dir.join("renew.started"));
                let _ = std::fs::remove_file(dir.join(FAILED_FILE));
            }
            Err(e) => {
                let line = crate::util::sanitize::short(&format!("{e:#}"), 400);
                let _ = crate::state::store::replace_file(
                    &dir,
                    &dir.join(FAILED_FILE),
                    format!("{line}\n").as_bytes(),
                    0o600,
                );
            }
        }
    }
    Ok(crate::util::error::success())
}
