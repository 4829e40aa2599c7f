//! The user's own agent behind certsh's: `--upstream PATH`, else the
//! `SSH_AUTH_SOCK` certsh was started with. Each client connection gets its
//! own connection upstream, opened when first needed, so that the upstream
//! agent sees one conversation per client, as it would without certsh (a
//! lock, a confirmation prompt, an extension's session state).
//!
//! The client's `session-bind@openssh.com` messages that the upstream agent
//! accepted are kept, and replayed in order on every new connection to it
//! before anything else is sent there: a connection lost and opened again is
//! bound exactly as the first one was. When the replay is not accepted, the
//! request fails; it never goes out unbound, where the upstream agent would
//! take it for local use and lift the user's destination constraints.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::agent::protocol::{self, Identity};

/// One client's line to the upstream agent.
pub struct Upstream {
    path: Option<PathBuf>,
    stream: Option<UnixStream>,
    /// The binding messages the upstream agent accepted, as they came.
    bindings: Vec<Vec<u8>>,
}

impl Upstream {
    /// A line to the agent at `path` (`None`: there is none), not yet open.
    pub fn new(path: Option<PathBuf>) -> Upstream {
        Upstream {
            path,
            stream: None,
            bindings: Vec::new(),
        }
    }

    /// Whether there is an upstream agent at all.
    pub fn exists(&self) -> bool {
        self.path.is_some()
    }

    /// Sends `body` (a whole request, type byte first) as it is, and returns
    /// the answer's body as it is. `None` when there is no upstream agent or
    /// it does not answer properly. A line that was open before and turns
    /// out closed (the upstream agent restarted, or drops connections) is
    /// opened again, its bindings replayed, and the request sent once more.
    pub fn ask(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        let reused = self.stream.is_some();
        match self.try_ask(body) {
            Some(answer) => Some(answer),
            None => {
                self.stream = None;
                if !reused {
                    return None;
                }
                let answer = self.try_ask(body);
                if answer.is_none() {
                    self.stream = None;
                }
                answer
            }
        }
    }

    /// Sends a `session-bind@openssh.com` request and, when the upstream
    /// agent accepts it, keeps it for replay. The answer as [`Upstream::ask`].
    pub fn bind(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        let answer = self.ask(body)?;
        if answer.first() == Some(&protocol::SUCCESS) {
            self.bindings.push(body.to_vec());
        }
        Some(answer)
    }

    fn try_ask(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        if self.stream.is_none() {
            let mut stream = connect(self.path.as_deref()?).ok()?;
            for bind in &self.bindings {
                let answer = exchange(&mut stream, bind)?;
                if answer.first() != Some(&protocol::SUCCESS) {
                    return None;
                }
            }
            self.stream = Some(stream);
        }
        exchange(self.stream.as_mut()?, body)
    }

    /// The upstream agent's identities; none when it has none to give (no
    /// agent, a locked one, an answer that does not parse).
    pub fn identities(&mut self) -> Vec<Identity> {
        self.ask(&[protocol::REQUEST_IDENTITIES])
            .and_then(|body| protocol::parse_identities(&body).ok())
            .unwrap_or_default()
    }
}

/// One request and its answer on `stream`.
fn exchange(stream: &mut UnixStream, body: &[u8]) -> Option<Vec<u8>> {
    stream.write_all(&protocol::frame(body)).ok()?;
    protocol::read_message(stream).ok()?.ok()?
}

/// Opens a connection to the agent at `path`.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path)
}
