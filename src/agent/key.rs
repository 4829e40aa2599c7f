//! certsh's own identity in the agent: the certificate, renewed without
//! interaction when a client asks for the list, and signatures made in
//! process with the key in the state folder.
//!
//! The key signs SSH logins only: the data must read as the userauth
//! request of a public-key login offering this very key, for the session
//! the connection is bound to (`session.rs`), and the connection must not be
//! a forwarded one unless the agent runs with `--allow-forwarded`. Anything
//! else (SSHSIG blobs of `ssh-keygen -Y sign` and git commit signing, other
//! data, a login for another session) gets the agent's failure answer.
//!
//! Renewal is `refresh::ensure`, under the store's file lock like the shim's,
//! and under one in-process mutex as well, so that many clients listing at
//! once wait for one renewal instead of queueing on the file lock one by one.
//! The agent never logs in: when a login is needed, or the certifier cannot
//! be reached, it says so in one line (again only once the problem changes)
//! and lists the upstream agent's keys alone, or the current certificate
//! while it has not expired.

use std::sync::Mutex;

use ssh_key::{PrivateKey, PublicKey, Signature, SigningKey};

use crate::agent::protocol::{self, Identity};
use crate::agent::session::Session;
use crate::config::Config;
use crate::connect::ssh::{Renewal, renew_or_keep};
use crate::credentials::refresh::{self, Want};
use crate::state::cert::{self, now};
use crate::state::store::{Cached, Store};
use crate::util::log;

/// certsh's identity, for one profile.
pub struct Ours {
    cfg: Config,
    /// Whether forwarded connections may use it (`--allow-forwarded`).
    allow_forwarded: bool,
    /// Held while the certificate is checked or renewed. Holds the last
    /// problem logged, so that it is logged once and not on every request.
    renewal: Mutex<Option<String>>,
}

impl Ours {
    /// The identity of `cfg`'s profile; `allow_forwarded`: whether
    /// connections that ssh opened for a remote host may use it.
    pub fn new(cfg: Config, allow_forwarded: bool) -> Ours {
        Ours {
            cfg,
            allow_forwarded,
            renewal: Mutex::new(None),
        }
    }

    /// Whether a client connection of `session` may use certsh's identity.
    pub fn serves(&self, session: &Session) -> bool {
        self.allow_forwarded || !session.forwarded()
    }

    /// The certificate as an agent lists it, renewed first when it is
    /// missing or inside the renewal margin; `None` when there is none to
    /// give.
    pub fn identity(&self) -> Option<Identity> {
        let cached = self.certificate()?;
        let key = cached.cert.to_bytes().ok()?;
        Some(Identity {
            key,
            comment: format!("certsh-{}", self.cfg.profile.name).into_bytes(),
        })
    }

    /// The timer's work: renews the certificate when it is in the last share
    /// of its lifetime, so that a client that keeps one connection (an IDE)
    /// never meets an expired one. A failure is logged once, as the
    /// listing's are; the current certificate stays.
    pub fn renew_if_due(&self) {
        let Some(current) = Store::locate(&self.cfg).and_then(|s| s.current()) else {
            return;
        };
        let validity = crate::state::cert::Validity::of(&current.cert);
        if !crate::credentials::ahead::due(&self.cfg, &validity) {
            return;
        }
        let mut logged = self.renewal.lock().unwrap_or_else(|e| e.into_inner());
        match refresh::ensure(&self.cfg, Want::Ahead) {
            Ok(_) => {
                if logged.take().is_some() {
                    log::line("agent: the certificate is renewed again");
                }
            }
            Err(e) => {
                let problem = format!("{e:#}");
                if logged.as_deref() != Some(problem.as_str()) {
                    log::line(&format!(
                        "agent: renewing ahead of expiry failed: {problem}; the current certificate stays"
                    ));
                    *logged = Some(problem);
                }
            }
        }
    }

    fn certificate(&self) -> Option<Cached> {
        let mut logged = self.renewal.lock().unwrap_or_else(|e| e.into_inner());
        let (problem, current) =
            match renew_or_keep(&self.cfg, || refresh::ensure(&self.cfg, Want::IfNeeded)) {
                Renewal::Renewed(c) => {
                    if logged.take().is_some() {
                        log::line("agent: the certificate is renewed again");
                    }
                    return Some(c);
                }
                Renewal::Kept(e, c) => (format!("{e:#}"), Some(c)),
                Renewal::Failed(e) => (format!("{e:#}"), None),
            };
        let what = match &current {
            Some(c) => format!(
                "{problem}; the agent serves the current certificate, valid for another {}",
                cert::human_duration(cert::seconds_left(&c.cert, now()))
            ),
            None => format!("{problem}; the agent lists the upstream agent's keys only"),
        };
        let key = format!("{problem}{}", current.is_some());
        if logged.as_deref() != Some(key.as_str()) {
            log::line(&format!("agent: {what}"));
            *logged = Some(key);
        }
        current
    }

    /// The answer to a sign request for `blob` over `data` on a connection
    /// of `session`, when `blob` names certsh's key: its public key, or any
    /// certificate of it (a client may still hold the one from before a
    /// renewal). `None` when the key is not ours, for the upstream agent to
    /// answer.
    pub fn sign(&self, blob: &[u8], data: &[u8], session: &Session) -> Option<Signed> {
        let named = match cert::from_blob(blob) {
            Ok(c) => c.public_key().clone(),
            Err(_) => PublicKey::from_bytes(blob).ok()?.key_data().clone(),
        };
        // No renewal here: the key is the one the list gave, and a renewal
        // for the same key keeps it.
        let cached = Store::locate(&self.cfg)?.current()?;
        if cached.public_key.key_data() != &named {
            return None;
        }
        if !self.serves(session) {
            return Some(Signed::Refused(
                "certsh's key was asked to sign on a forwarded connection (ssh -A); \
                 start the agent with --allow-forwarded to allow it",
            ));
        }
        match protocol::parse_userauth(data) {
            Some(auth) if auth.key == blob && session.permits(&auth) => {}
            Some(auth) if auth.key == blob => {
                return Some(Signed::Refused(
                    "certsh's key was asked to sign a login for another session than the \
                     connection is bound to",
                ));
            }
            _ => {
                return Some(Signed::Refused(
                    "certsh's key was asked to sign data that is not an SSH login for it; \
                     it signs logins only",
                ));
            }
        }
        let Ok(key) = PrivateKey::read_openssh_file(&cached.key_path) else {
            return Some(Signed::Refused("certsh's private key cannot be read"));
        };
        if key.public_key().key_data() != &named {
            return Some(Signed::Refused(
                "certsh's private key does not match its certificate",
            ));
        }
        Some(match sign_with(&key, data) {
            Ok(signature) => Signed::Signature(encode(&signature)),
            Err(_) => Signed::Refused("certsh's key could not sign"),
        })
    }
}

/// What certsh answers a sign request for its own key.
#[derive(Debug, PartialEq, Eq)]
pub enum Signed {
    /// The signature blob.
    Signature(Vec<u8>),
    /// Refused, and why (for the log; the client gets the failure answer).
    Refused(&'static str),
}

fn sign_with<K: SigningKey>(key: &K, data: &[u8]) -> Result<Signature, ssh_key::Error> {
    key.try_sign(data).map_err(|_| ssh_key::Error::Crypto)
}

/// The signature blob: its algorithm's name and its bytes, as SSH strings.
fn encode(signature: &Signature) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [
        signature.algorithm().as_str().as_bytes(),
        signature.as_bytes(),
    ] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use ssh_key::Algorithm;
    use ssh_key::rand_core::OsRng;

    use super::*;

    #[test]
    fn a_signature_blob_verifies_as_ssh_reads_it() {
        let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let blob = encode(&sign_with(&key, b"session data").unwrap());
        // Read back as a peer would: algorithm name, then 64 bytes.
        let mut rest = &blob[..];
        let mut string = || {
            let (n, tail) = rest.split_first_chunk::<4>().unwrap();
            let n = u32::from_be_bytes(*n) as usize;
            let (s, tail) = tail.split_at(n);
            rest = tail;
            s.to_vec()
        };
        assert_eq!(string(), b"ssh-ed25519");
        let bytes = string();
        assert_eq!(bytes.len(), 64);
        assert!(rest.is_empty());
        let sig = Signature::new(Algorithm::Ed25519, bytes).unwrap();
        use signature::Verifier;
        let public = key.public_key();
        Verifier::verify(public, b"session data", &sig).unwrap();
        assert!(Verifier::verify(public, b"other data", &sig).is_err());
    }
}
