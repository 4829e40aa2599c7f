//! `certsh agent`: an ssh-agent that renews certsh's certificate by itself,
//! for clients that never run a command certsh could sit in front of (IDEs
//! with their own SSH stack, GUI git clients, containers given the host's
//! agent).
//!
//! It listens on a UNIX socket (`server.rs`) and serves its own user (and
//! root) only (`peer.rs`). Listing renews the certificate when needed and puts it
//! first; sign requests for certsh's key are signed in process (`key.rs`);
//! everything else goes to the user's own agent unchanged (`upstream.rs`),
//! on a connection bound as the client's is (`session.rs`).
//! The wire format is `protocol.rs`. Clients are served concurrently, one
//! thread per connection up to a cap (`server.rs` says why).
//!
//! The process runs in the foreground until it is stopped; on SIGTERM,
//! SIGINT or SIGHUP a signal thread (signal-hook, no unsafe code here)
//! removes the socket and exits.

pub mod key;
pub mod peer;
pub mod protocol;
pub mod server;
pub mod session;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::state::store;
use crate::util::error::Fixable;
use crate::util::log;

/// Runs the agent on `socket` (default: `store::agent_socket_path`), in
/// front of `upstream` (default: `SSH_AUTH_SOCK`, unless that is this very
/// socket). `allow_forwarded`: whether connections ssh opened for a remote
/// host may use certsh's certificate (`session.rs`). Returns only when it
/// cannot go on.
pub fn run(
    cfg: Config,
    socket: Option<PathBuf>,
    upstream: Option<PathBuf>,
    allow_forwarded: bool,
) -> Result<ExitCode> {
    let socket = socket.unwrap_or_else(|| store::agent_socket_path(&cfg));
    let socket = std::path::absolute(&socket)
        .with_context(|| format!("cannot resolve {}", socket.display()))?;
    let given_upstream = upstream.is_some();
    let upstream = match upstream {
        Some(p) if same_socket(&p, &socket) => return Err(own_socket(&p)),
        Some(p) => Some(p),
        // SSH_AUTH_SOCK may already point here (a shell set up for this
        // agent): serving itself would loop.
        None => cfg
            .agent_socket
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .filter(|p| !same_socket(p, &socket)),
    };
    let bound = server::bind(&socket)?;
    // A symlink to the socket itself passes the path checks above: compare
    // what it leads to, now that the socket exists.
    let upstream = match upstream {
        Some(p) if bound.is_at(&p) => {
            if given_upstream {
                return Err(own_socket(&p));
            }
            log::line(&format!(
                "agent: SSH_AUTH_SOCK ({}) leads to this agent's own socket; it is not used as the upstream agent",
                p.display()
            ));
            None
        }
        other => other,
    };
    stop_on_signals(bound.remover())?;
    match &upstream {
        Some(up) => log::line(&format!(
            "agent listening on {}, in front of the agent on {}{}",
            socket.display(),
            up.display(),
            // Not an error: the upstream agent may start later, and each
            // client connection tries it again.
            match upstream::connect(up) {
                Ok(_) => String::new(),
                Err(e) => format!(" (not answering now: {e})"),
            }
        )),
        None => log::line(&format!(
            "agent listening on {}, with no upstream agent",
            socket.display()
        )),
    }
    let debug = cfg.debug;
    let shared = Arc::new(server::Shared {
        ours: key::Ours::new(cfg, allow_forwarded),
        upstream,
        debug,
    });
    renew_on_a_timer(Arc::clone(&shared));
    server::serve(&bound.listener, shared)?;
    Ok(crate::util::error::success())
}

/// The error for `--upstream` naming this agent's own socket.
fn own_socket(upstream: &Path) -> anyhow::Error {
    Fixable::new(
        format!(
            "the upstream agent {} is this agent's own socket",
            upstream.display()
        ),
        "give the socket of another agent with --upstream",
    )
    .into()
}

/// Whether two paths name the same socket: the same path, or the same name
/// in the same folder once symlinks are resolved.
fn same_socket(a: &Path, b: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).ok();
    if abs(a).is_some() && abs(a) == abs(b) {
        return true;
    }
    let real = |p: &Path| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
    };
    real(a).is_some() && real(a) == real(b)
}

/// How often the agent looks whether the certificate is due for renewal.
const RENEW_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// Renews the certificate ahead of expiry on a timer (`key.rs`).
fn renew_on_a_timer(shared: Arc<server::Shared>) {
    let _ = std::thread::Builder::new()
        .name("agent renewal".into())
        .spawn(move || {
            loop {
                shared.ours.renew_if_due();
                std::thread::sleep(RENEW_CHECK);
            }
        });
}

/// Removes the socket and exits on SIGTERM, SIGINT and SIGHUP.
fn stop_on_signals(remove: impl Fn() + Send + 'static) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .context("cannot set up the signal handlers")?;
    std::thread::Builder::new()
        .name("agent signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                remove();
                std::process::exit(0);
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_is_the_same_through_a_symlinked_folder() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        assert!(same_socket(
            &real.join("a.sock"),
            &dir.path().join("link/a.sock")
        ));
        assert!(same_socket(&real.join("a.sock"), &real.join("a.sock")));
        assert!(!same_socket(&real.join("a.sock"), &real.join("b.sock")));
    }
}
