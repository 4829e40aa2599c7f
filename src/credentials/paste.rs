//! Paste mode: a login whose browser is on another machine (a laptop in
//! front of an ssh session, a container, a phone). The browser ends on
//! `http://127.0.0.1:500x/?code=...&state=...`, which does not load there;
//! the user pastes that address (or only the code) at certsh's prompt.
//!
//! The prompt is on the terminal (`/dev/tty`), never stdin, which carries the
//! git protocol in the shim, and echo is off while it waits, so the code is
//! neither shown nor kept in a terminal's transcript. The terminal is read
//! without blocking, side by side with the loopback listener
//! (`callback.rs`): whichever brings the code first ends the wait.
//!
//! What a paste may be (`parse`):
//! - the address, or its `?code=...&state=...` part: the listener's checks
//!   apply (the `state` must be this login's; an `error` ends it);
//! - a bare code, or an address with a code and no `state`. It makes no
//!   claim to be any login's, and is taken because only one
//!   browser login is ever pending per state folder (`login.lock`) and the
//!   auth server exchanges a code only with the PKCE verifier of the login
//!   that asked for it: a code from another login is refused by the server,
//!   and certsh asks again.

use std::io::{ErrorKind, Read, Write};

use anyhow::Result;

use crate::util::log;
use crate::util::platform::Tty;
use crate::util::secret::Secret;

/// The longest line read; an address with a code and a state is far shorter.
const MAX_LINE: usize = 16 * 1024;

/// What the user pasted.
#[derive(Debug)]
pub(crate) enum Pasted {
    /// An address or query: its decoded parameters (they hold the code).
    Query(Vec<(String, String)>),
    /// A bare code.
    Code(Secret),
    /// Neither: the reason, for the line that asks again.
    Unreadable(&'static str),
}

/// Reads `text` as an address, a query or a bare code.
pub(crate) fn parse(text: &str) -> Pasted {
    let text = text.trim();
    if text.is_empty() {
        return Pasted::Unreadable("nothing was pasted");
    }
    if text.contains(['?', '=', '&', '/']) {
        let query = text.split_once('?').map_or(text, |(_, q)| q);
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        let params: Vec<(String, String)> = reqwest::Url::parse("http://127.0.0.1/")
            .map(|mut u| {
                u.set_query(Some(query));
                u.query_pairs().into_owned().collect()
            })
            .unwrap_or_default();
        if params
            .iter()
            .any(|(k, _)| k == "code" || k == "state" || k == "error")
        {
            return Pasted::Query(params);
        }
        return Pasted::Unreadable("that address has no code in it");
    }
    let code_like = text.len() <= 2048
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~+".contains(c));
    if code_like {
        Pasted::Code(Secret::new(text.to_string()))
    } else {
        Pasted::Unreadable("that is neither an address nor a code")
    }
}

/// The prompt on the terminal, with echo off until it is dropped.
pub(crate) struct Prompt {
    tty: Tty,
    line: Vec<u8>,
    /// The terminal said end-of-file: nothing more comes from it.
    closed: bool,
    /// The question is on the screen with nothing typed after it.
    asked: bool,
}

impl Prompt {
    /// Opens `/dev/tty`, turns echo off and asks.
    pub(crate) fn open() -> Result<Prompt> {
        let mut p = Prompt {
            tty: Tty::open()?,
            line: vec![],
            closed: false,
            asked: false,
        };
        p.ask();
        Ok(p)
    }

    /// The question, once echo is off, so nothing pasted after it is shown.
    fn ask(&mut self) {
        let _ = self
            .tty
            .write_all(b"Paste the address the browser ended on, or its code (not shown): ")
            .and_then(|()| self.tty.flush());
        self.asked = true;
    }

    /// A line that was no good: says why (never the line) and asks again.
    pub(crate) fn again(&mut self, why: &str) {
        log::line(&format!("{why}; paste again"));
        self.ask();
    }

    /// The next complete line pasted, if one came since the last look.
    pub(crate) fn poll(&mut self) -> Option<Secret> {
        let mut buf = [0u8; 1024];
        while !self.closed && !self.line.contains(&b'\n') {
            match self.tty.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    // The prompt is still waiting on its line.
                    let _ = self.tty.write_all(b"\n");
                    self.asked = false;
                    log::line("the terminal closed; still waiting for the browser");
                }
                Ok(n) => {
                    self.line.extend_from_slice(&buf[..n]);
                    if self.line.len() > MAX_LINE {
                        self.line.clear();
                        self.again("that line is too long for an address");
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => self.closed = true,
            }
        }
        let end = self.line.iter().position(|b| *b == b'\n')?;
        // Its Enter ended the question's line (shown, as `stty echonl`).
        self.asked = false;
        let rest = self.line.split_off(end + 1);
        let line = std::mem::replace(&mut self.line, rest);
        let text = String::from_utf8_lossy(&line).trim().to_string();
        Some(Secret::new(text))
    }
}

impl Drop for Prompt {
    /// The login ended another way (the browser reached the callback): the
    /// question's line is ended, so that the next line starts on its own.
    fn drop(&mut self) {
        if self.asked {
            let _ = self.tty.write_all(b"\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Vec<(String, String)> {
        match parse(text) {
            Pasted::Query(q) => q,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn an_address_or_its_query_gives_its_parameters() {
        let want = vec![
            ("code".to_string(), "c0de+1".to_string()),
            ("state".to_string(), "s_t-a".to_string()),
        ];
        assert_eq!(
            query("  http://127.0.0.1:5003/?code=c0de%2B1&state=s_t-a \r"),
            want
        );
        assert_eq!(query("127.0.0.1:5003/?code=c0de%2B1&state=s_t-a#x"), want);
        assert_eq!(query("?code=c0de%2B1&state=s_t-a"), want);
        assert_eq!(query("code=c0de%2B1&state=s_t-a"), want);
        assert_eq!(
            query("http://127.0.0.1:5000/?error=access_denied&state=s")[0].0,
            "error"
        );
    }

    #[test]
    fn a_bare_code_is_a_code_and_anything_else_is_refused() {
        match parse("4f2a9c0e1b7d\n") {
            Pasted::Code(c) => assert_eq!(c.expose(), "4f2a9c0e1b7d"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(""), Pasted::Unreadable(_)));
        assert!(matches!(parse("two words"), Pasted::Unreadable(_)));
        assert!(matches!(
            parse("http://127.0.0.1:5003/"),
            Pasted::Unreadable(_)
        ));
        assert!(matches!(parse("\u{1b}[31m"), Pasted::Unreadable(_)));
    }
}
