//! What one client connection has told the agent about the SSH session it
//! serves: the `session-bind@openssh.com` messages ssh sends (OpenSSH 8.9
//! and later) before it asks for a signature.
//!
//! certsh keeps the same record OpenSSH's `ssh-agent` keeps, for two uses:
//! - the binding messages are replayed, in order, on every connection to the
//!   upstream agent (`upstream.rs`), so that keys the user added with
//!   destination constraints (`ssh-add -h`) are judged by the upstream agent
//!   exactly as without certsh;
//! - certsh's own key follows the binding: on a forwarded connection (ssh
//!   opened it for a remote host, `ssh -A`) the certificate is neither listed
//!   nor used unless the agent runs with `--allow-forwarded`, and on a bound
//!   connection it signs only a login for the session it is bound to.
//!
//! The record only ever narrows what certsh's key signs, so certsh does not
//! need to check the server's signature over the session itself (the
//! upstream agent does, for its keys): a forged binding can make a
//! connection forwarded, never make a forwarded one local again.

use crate::agent::protocol::{SessionBind, Userauth};

/// OpenSSH's `AGENT_MAX_SESSION_IDS`: bindings kept per connection.
pub const MAX_BINDINGS: usize = 16;

/// One binding.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    host_key: Vec<u8>,
    session_id: Vec<u8>,
    forwarding: bool,
}

/// The bindings of one client connection, in the order they came.
#[derive(Debug, Default)]
pub struct Session {
    bindings: Vec<Binding>,
}

impl Session {
    /// Records a binding, or says why not, as `ssh-agent` refuses: once a
    /// connection is bound for a login (not forwarding) it takes no other
    /// binding, and it holds at most [`MAX_BINDINGS`].
    pub fn record(&mut self, bind: &SessionBind<'_>) -> Result<(), &'static str> {
        if self.bindings.iter().any(|b| !b.forwarding) {
            return Err("the connection is already bound for a login");
        }
        if self.bindings.len() >= MAX_BINDINGS {
            return Err("the connection holds too many bindings");
        }
        self.bindings.push(Binding {
            host_key: bind.host_key.to_vec(),
            session_id: bind.session_id.to_vec(),
            forwarding: bind.forwarding,
        });
        Ok(())
    }

    /// Whether ssh said the connection was opened for a remote host.
    pub fn forwarded(&self) -> bool {
        self.bindings.iter().any(|b| b.forwarding)
    }

    /// Whether the login request `auth` is for this connection's session:
    /// on an unbound connection any login is (local use, as `ssh-agent`
    /// judges it); on a bound one, the session identifier must be the last
    /// binding's, and the host key too when the request names one.
    pub fn permits(&self, auth: &Userauth<'_>) -> bool {
        let Some(last) = self.bindings.last() else {
            return true;
        };
        last.session_id == auth.session_id
            && auth.host_key.is_none_or(|k| k == last.host_key.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind<'a>(key: &'a [u8], sid: &'a [u8], forwarding: bool) -> SessionBind<'a> {
        SessionBind {
            host_key: key,
            session_id: sid,
            signature: b"sig",
            forwarding,
        }
    }

    fn auth<'a>(sid: &'a [u8], host_key: Option<&'a [u8]>) -> Userauth<'a> {
        Userauth {
            session_id: sid,
            key: b"key",
            host_key,
        }
    }

    #[test]
    fn an_unbound_connection_is_local_use() {
        let s = Session::default();
        assert!(!s.forwarded());
        assert!(s.permits(&auth(b"any", None)));
    }

    #[test]
    fn a_bound_connection_signs_for_its_own_session_only() {
        let mut s = Session::default();
        s.record(&bind(b"hostA", b"sid1", false)).unwrap();
        assert!(!s.forwarded());
        assert!(s.permits(&auth(b"sid1", None)));
        assert!(s.permits(&auth(b"sid1", Some(b"hostA"))));
        assert!(!s.permits(&auth(b"sid2", None)));
        assert!(!s.permits(&auth(b"sid1", Some(b"hostB"))));
        assert_eq!(
            s.record(&bind(b"hostB", b"sid2", false)),
            Err("the connection is already bound for a login")
        );
    }

    #[test]
    fn a_forwarded_connection_stays_forwarded() {
        let mut s = Session::default();
        s.record(&bind(b"hostA", b"sid1", true)).unwrap();
        s.record(&bind(b"hostB", b"sid2", false)).unwrap();
        assert!(s.forwarded());
        assert!(s.permits(&auth(b"sid2", Some(b"hostB"))));
        assert!(!s.permits(&auth(b"sid1", None)));
    }

    #[test]
    fn at_most_sixteen_bindings() {
        let mut s = Session::default();
        for _ in 0..MAX_BINDINGS {
            s.record(&bind(b"h", b"s", true)).unwrap();
        }
        assert_eq!(
            s.record(&bind(b"h", b"s", true)),
            Err("the connection holds too many bindings")
        );
    }
}
