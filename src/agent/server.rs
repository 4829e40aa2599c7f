//! The agent's socket: made safely, served concurrently, removed at the end.
//!
//! The socket's folder is created 0700 when missing, and refused when it is
//! another user's or others may write to it (they could replace the
//! socket). The socket is created 0600 (under a umask, so it is never
//! reachable by others, not even for a moment). A socket left behind by an
//! agent that is gone is replaced; one that answers is another agent's, and
//! certsh stops with an error.
//!
//! Concurrency: one thread per connection, at most [`MAX_CLIENTS`] at once.
//! A client beyond that waits in the listen backlog until one ends, rather
//! than being refused. Threads are cheap here: a connection lives as long as
//! its client keeps it (ssh closes it after authentication; an IDE may keep
//! one open), and the work on it is short.

use std::fs::{self, DirBuilder};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{Context, Result};

use crate::agent::key::Ours;
use crate::agent::peer;
use crate::agent::protocol::{self, Request};
use crate::agent::upstream::Upstream;
use crate::util::error::Fixable;
use crate::util::log;

/// How many connections are served at once.
pub const MAX_CLIENTS: usize = 128;

/// What every connection shares.
pub struct Shared {
    /// certsh's identity.
    pub ours: Ours,
    /// The upstream agent's socket, if any.
    pub upstream: Option<PathBuf>,
    /// Whether to log each connection ended for a malformed message.
    pub debug: bool,
}

/// The listening socket at `path`, made as the module says. The socket file
/// is removed when the returned [`Bound`] is dropped, if it is still the
/// one made here.
pub fn bind(path: &Path) -> Result<Bound> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    private_folder(&dir)?;
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(Fixable::new(
                format!("{} exists and is not a socket", path.display()),
                "remove it, or give another path: certsh agent --socket PATH",
            )
            .into());
        }
        Ok(_) => {
            if UnixStream::connect(path).is_ok() {
                return Err(Fixable::new(
                    format!("an agent already listens on {}", path.display()),
                    "stop it first, or give another path: certsh agent --socket PATH",
                )
                .into());
            }
            // Nobody answers: left behind by an agent that is gone.
            fs::remove_file(path)
                .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
        }
        Err(_) => {}
    }
    // No other thread runs yet, so the process-wide umask is ours to change
    // for the moment of bind.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let listener = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = listener.with_context(|| format!("cannot listen on {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private", path.display()))?;
    let meta = fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {} back", path.display()))?;
    Ok(Bound {
        listener,
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
    })
}

/// A socket certsh listens on.
pub struct Bound {
    /// The listener.
    pub listener: UnixListener,
    path: PathBuf,
    id: (u64, u64),
}

impl Bound {
    /// Whether `path` leads to this very socket, through symlinks or not
    /// (the same device and inode once resolved).
    pub fn is_at(&self, path: &Path) -> bool {
        fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == self.id)
    }

    /// Removes the socket file if it is still this one (not a socket of an
    /// agent started since).
    pub fn remove(&self) {
        remove_if(&self.path, self.id);
    }

    /// What [`Bound::remove`] needs, for the signal thread.
    pub fn remover(&self) -> impl Fn() + Send + 'static {
        let (path, id) = (self.path.clone(), self.id);
        move || remove_if(&path, id)
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        self.remove();
    }
}

fn remove_if(path: &Path, id: (u64, u64)) {
    if fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == id) {
        let _ = fs::remove_file(path);
    }
}

/// The socket's folder: created 0700 when missing; else it must be the
/// user's and closed to writes by others.
fn private_folder(dir: &Path) -> Result<()> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let meta = fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let fix = "give a folder of your own: certsh agent --socket PATH";
    if meta.uid() != peer::own_uid() {
        return Err(Fixable::new(
            format!(
                "the socket's folder {} belongs to uid {}, not to you",
                dir.display(),
                meta.uid()
            ),
            fix,
        )
        .into());
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Fixable::new(
            format!(
                "the socket's folder {} may be written by others (mode {:o})",
                dir.display(),
                meta.mode() & 0o7777
            ),
            format!("chmod go-w {}, or {fix}", dir.display()),
        )
        .into());
    }
    Ok(())
}

/// Serves `listener` until accepting fails for good.
pub fn serve(listener: &UnixListener, shared: Arc<Shared>) -> Result<()> {
    let slots = Arc::new(Slots::default());
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            // Out of file descriptors or memory, a client gone before it was
            // accepted: the next one may fare better.
            Err(e) if is_transient(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(e).context("the agent's socket stopped accepting"),
        };
        let slot = slots.take();
        let shared = Arc::clone(&shared);
        // A thread that cannot start drops the connection and its slot.
        let _ = std::thread::Builder::new()
            .name("agent client".into())
            .spawn(move || {
                let _slot = slot;
                client(stream, &shared);
            });
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::OutOfMemory
    ) || matches!(e.raw_os_error(), Some(23 | 24)) // ENFILE, EMFILE
}

/// One connection, from the peer check to its end.
fn client(mut stream: UnixStream, shared: &Shared) {
    match peer::uid(&stream) {
        Ok(uid) if peer::may_serve(uid, peer::own_uid()) => {}
        Ok(uid) => {
            log::line(&format!(
                "agent: refused a client of uid {uid}: it serves its own user (and root) only"
            ));
            return;
        }
        Err(e) => {
            log::line(&format!(
                "agent: refused a client whose uid is unknown: {e}"
            ));
            return;
        }
    }
    let mut upstream = Upstream::new(shared.upstream.clone());
    loop {
        let body = match protocol::read_message(&mut stream) {
            Ok(Ok(Some(body))) => body,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(why)) => return ended(shared, &why),
        };
        let answer = match protocol::parse_request(&body) {
            Err(why) => return ended(shared, &why),
            Ok(Request::Identities) => list(shared, &mut upstream),
            Ok(Request::Sign { key, data, .. }) => match shared.ours.sign(key, data) {
                Some(signature) => protocol::sign_response(&signature),
                None => upstream.ask(&body).unwrap_or_else(protocol::failure),
            },
            Ok(Request::Other(_)) => upstream.ask(&body).unwrap_or_else(protocol::failure),
        };
        if stream.write_all(&protocol::frame(&answer)).is_err() {
            return;
        }
    }
}

fn ended(shared: &Shared, why: &protocol::Malformed) {
    log::debug(shared.debug, || {
        format!("agent: closed a connection that sent {why}")
    });
}

/// certsh's certificate first, then the upstream agent's keys (without a
/// second copy of the certificate, if `certsh load --agent` added it there).
fn list(shared: &Shared, upstream: &mut Upstream) -> Vec<u8> {
    let mut ids: Vec<protocol::Identity> = shared.ours.identity().into_iter().collect();
    for id in upstream.identities() {
        if !ids.iter().any(|o| o.key == id.key) {
            ids.push(id);
        }
    }
    protocol::identities_answer(&ids)
}

/// A count of free connection slots; taking one waits for it.
#[derive(Default)]
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn take(self: &Arc<Self>) -> Slot {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= MAX_CLIENTS {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
        Slot(Arc::clone(self))
    }
}

/// A connection slot, given back on drop.
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= 1;
        self.0.freed.notify_one();
    }
}
