//! The agent's socket: made safely, served concurrently, removed at the end.
//!
//! The socket's folder is created 0700 when missing. An existing one is
//! opened without following a symlink in its last part (`O_NOFOLLOW`) and
//! checked on what was opened (`fstat`): a symlink is refused, and so is a
//! folder of another user or one others may write to (they could replace
//! the socket). A folder others may only enter (0755, `--socket` in a folder
//! shared with a container's root) is accepted: the socket itself is 0600
//! and the peer check stands behind it. After bind, the folder's path must
//! still lead to the folder checked (device and inode), or the socket is
//! removed again and certsh stops. The socket is created 0600 (under a
//! umask, so it is never reachable by others, not even for a moment). A
//! socket left behind by an agent that is gone is replaced; one that answers
//! is another agent's, and certsh stops with an error.
//!
//! No client can stall another:
//! - one thread per connection, at most [`MAX_CLIENTS`] at once, and at most
//!   [`MAX_PER_PEER`] of them from one process (the peer's pid, from the
//!   kernel). Every connection of a forwarded host (`ssh -A`) comes through
//!   the user's one `ssh` process, so such a host holds at most
//!   [`MAX_PER_PEER`], and the user's own clients are still served;
//! - the accept loop never waits for a slot: a connection beyond either
//!   limit is accepted and closed at once, with a line in the log the first
//!   time a peer reaches its limit;
//! - a message, once its first byte has come, must be whole within
//!   [`MESSAGE_DEADLINE`]; a connection may stay idle between messages as
//!   long as its client likes (an IDE keeps one).
//!
//! Threads are cheap here: a connection lives as long as its client keeps it
//! (ssh closes it after authentication), and the work on it is short.

use std::collections::HashMap;
use std::fs::{self, DirBuilder};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::agent::key::{Ours, Signed};
use crate::agent::peer;
use crate::agent::protocol::{self, Request};
use crate::agent::session::Session;
use crate::agent::upstream::Upstream;
use crate::util::error::Fixable;
use crate::util::log;

/// How many connections are served at once.
pub const MAX_CLIENTS: usize = 128;

/// How many connections one process may hold at once.
pub const MAX_PER_PEER: usize = 32;

/// How long a message may take from its first byte to its last.
pub const MESSAGE_DEADLINE: Duration = Duration::from_secs(5);

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
    let folder = private_folder(&dir)?;
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
    let bound = Bound {
        listener,
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
    };
    // The folder checked must be the folder bound in: swapped for another
    // (or a symlink) in between, the socket is not served.
    if fs::symlink_metadata(&dir).map(|m| (m.dev(), m.ino())).ok() != Some(folder) {
        return Err(Fixable::new(
            format!(
                "the socket's folder {} was replaced while the agent started",
                dir.display()
            ),
            "give a folder of your own: certsh agent --socket PATH",
        )
        .into());
    }
    Ok(bound)
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

/// The socket's folder: created 0700 when missing; else, opened without
/// following a symlink, it must be a folder of the user's that others may
/// not write to. Returns its device and inode.
fn private_folder(dir: &Path) -> Result<(u64, u64)> {
    use rustix::fs::{Mode, OFlags};
    if fs::symlink_metadata(dir).is_err() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let fix = "give a folder of your own: certsh agent --socket PATH";
    let opened = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    );
    let fd = match opened {
        Ok(fd) => fd,
        Err(_) if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) => {
            return Err(Fixable::new(
                format!(
                    "the socket's folder {} is a symlink; the agent does not follow it",
                    dir.display()
                ),
                format!("give the folder it leads to, or {fix}"),
            )
            .into());
        }
        Err(e) => {
            return Err(io::Error::from(e))
                .with_context(|| format!("cannot open the folder {}", dir.display()));
        }
    };
    let meta = rustix::fs::fstat(&fd).with_context(|| format!("cannot read {}", dir.display()))?;
    if meta.st_uid != peer::own_uid() {
        return Err(Fixable::new(
            format!(
                "the socket's folder {} belongs to uid {}, not to you",
                dir.display(),
                meta.st_uid
            ),
            fix,
        )
        .into());
    }
    let mode = meta.st_mode as u32 & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Fixable::new(
            format!(
                "the socket's folder {} may be written by others (mode {mode:o})",
                dir.display(),
            ),
            format!("chmod go-w {}, or {fix}", dir.display()),
        )
        .into());
    }
    Ok((meta.st_dev as u64, meta.st_ino as u64))
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
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(e).context("the agent's socket stopped accepting"),
        };
        // An unknown pid counts as one peer of its own kind (0).
        let pid = peer::pid(&stream).unwrap_or(0);
        // Over a limit: dropped here, closed at once.
        let Some(slot) = slots.take(pid) else {
            continue;
        };
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
    let mut session = Session::default();
    loop {
        let body = match protocol::read_message(&mut Deadline::new(&stream)) {
            Ok(Ok(Some(body))) => body,
            Ok(Ok(None)) => return,
            Err(e) if is_timeout(&e) => {
                return ended(
                    shared,
                    &format!("no whole message within {MESSAGE_DEADLINE:?}"),
                );
            }
            Err(_) => return,
            Ok(Err(why)) => return ended(shared, &why.to_string()),
        };
        let answer = match protocol::parse_request(&body) {
            Err(why) => return ended(shared, &why.to_string()),
            Ok(Request::Identities) => list(shared, &mut upstream, &session),
            Ok(Request::Sign { key, data, .. }) => match shared.ours.sign(key, data, &session) {
                Some(Signed::Signature(signature)) => protocol::sign_response(&signature),
                Some(Signed::Refused(why)) => {
                    log::line(&format!("agent: {why}"));
                    protocol::failure()
                }
                None => upstream.ask(&body).unwrap_or_else(protocol::failure),
            },
            Ok(Request::SessionBind(bind)) => match session.record(&bind) {
                Err(why) => {
                    log::debug(shared.debug, || {
                        format!("agent: refused a session binding: {why}")
                    });
                    protocol::failure()
                }
                // With no upstream agent, the binding is certsh's alone.
                Ok(()) if !upstream.exists() => vec![protocol::SUCCESS],
                Ok(()) => upstream.bind(&body).unwrap_or_else(protocol::failure),
            },
            Ok(Request::Other(_)) => upstream.ask(&body).unwrap_or_else(protocol::failure),
        };
        if stream.write_all(&protocol::frame(&answer)).is_err() {
            return;
        }
    }
}

fn ended(shared: &Shared, why: &str) {
    log::debug(shared.debug, || {
        format!("agent: closed a connection that sent {why}")
    });
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A reader of one message that waits as long as it takes for the first
/// byte, then at most [`MESSAGE_DEADLINE`] for the rest.
struct Deadline<'a> {
    stream: &'a UnixStream,
    until: Option<Instant>,
}

impl<'a> Deadline<'a> {
    fn new(stream: &'a UnixStream) -> Deadline<'a> {
        let _ = stream.set_read_timeout(None);
        Deadline {
            stream,
            until: None,
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(until) = self.until {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        let mut stream = self.stream;
        let n = stream.read(buf)?;
        if self.until.is_none() && n > 0 {
            self.until = Some(Instant::now() + MESSAGE_DEADLINE);
        }
        Ok(n)
    }
}

/// certsh's certificate first (where the connection may use it), then the
/// upstream agent's keys (without a second copy of the certificate, if
/// `certsh load --agent` added it there).
fn list(shared: &Shared, upstream: &mut Upstream, session: &Session) -> Vec<u8> {
    let mut ids: Vec<protocol::Identity> = if shared.ours.serves(session) {
        shared.ours.identity().into_iter().collect()
    } else {
        Vec::new()
    };
    for id in upstream.identities() {
        if !ids.iter().any(|o| o.key == id.key) {
            ids.push(id);
        }
    }
    protocol::identities_answer(&ids)
}

/// The connections held, in all and per peer pid.
#[derive(Default)]
struct Slots {
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    per_peer: HashMap<u32, usize>,
    /// Whether the log already says all connections are taken.
    full_said: bool,
    /// The pids the log already names as holding their share.
    said: std::collections::HashSet<u32>,
}

impl Slots {
    /// A slot for a connection of `pid`, or `None` when all are taken or
    /// `pid` holds its share.
    fn take(self: &Arc<Self>, pid: u32) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mine = held.per_peer.get(&pid).copied().unwrap_or(0);
        if held.total >= MAX_CLIENTS || mine >= MAX_PER_PEER {
            // Said once each time the limit is reached, not per connection.
            if held.total >= MAX_CLIENTS && !std::mem::replace(&mut held.full_said, true) {
                log::line(&format!(
                    "agent: {MAX_CLIENTS} connections are open; new ones are closed until one ends"
                ));
            } else if mine >= MAX_PER_PEER && held.said.insert(pid) {
                log::line(&format!(
                    "agent: process {pid} holds {MAX_PER_PEER} connections; its next ones are closed until one ends"
                ));
            }
            return None;
        }
        held.total += 1;
        *held.per_peer.entry(pid).or_insert(0) += 1;
        Some(Slot {
            slots: Arc::clone(self),
            pid,
        })
    }
}

/// A connection slot, given back on drop.
struct Slot {
    slots: Arc<Slots>,
    pid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|e| e.into_inner());
        held.total -= 1;
        held.full_said = false;
        held.said.remove(&self.pid);
        if let Some(n) = held.per_peer.get_mut(&self.pid) {
            *n -= 1;
            if *n == 0 {
                held.per_peer.remove(&self.pid);
            }
        }
    }
}
