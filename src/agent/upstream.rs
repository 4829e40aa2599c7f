//! The user's own agent behind certsh's: `--upstream PATH`, else the
//! `SSH_AUTH_SOCK` certsh was started with. Each client connection gets its
//! own connection upstream, opened when first needed, so that the upstream
//! agent sees one conversation per client, as it would without certsh (a
//! lock, a confirmation prompt, an extension's session state).

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::agent::protocol::{self, Identity};

/// One client's line to the upstream agent.
pub struct Upstream {
    path: Option<PathBuf>,
    stream: Option<UnixStream>,
}

impl Upstream {
    /// A line to the agent at `path` (`None`: there is none), not yet open.
    pub fn new(path: Option<PathBuf>) -> Upstream {
        Upstream { path, stream: None }
    }

    /// Sends `body` (a whole request, type byte first) as it is, and returns
    /// the answer's body as it is. `None` when there is no upstream agent or
    /// it does not answer properly; the line is then closed, and the next
    /// request opens a new one.
    pub fn ask(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        let answer = self.try_ask(body);
        if answer.is_none() {
            self.stream = None;
        }
        answer
    }

    fn try_ask(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        if self.stream.is_none() {
            self.stream = Some(connect(self.path.as_deref()?).ok()?);
        }
        let stream = self.stream.as_mut()?;
        stream.write_all(&protocol::frame(body)).ok()?;
        protocol::read_message(stream).ok()?.ok()?
    }

    /// The upstream agent's identities; none when it has none to give (no
    /// agent, a locked one, an answer that does not parse).
    pub fn identities(&mut self) -> Vec<Identity> {
        self.ask(&[protocol::REQUEST_IDENTITIES])
            .and_then(|body| protocol::parse_identities(&body).ok())
            .unwrap_or_default()
    }
}

/// Opens a connection to the agent at `path`.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path)
}
