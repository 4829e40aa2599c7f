//! The ssh-agent wire format (draft-miller-ssh-agent, OpenSSH's
//! `PROTOCOL.agent`), as pure functions over bytes so that it can be tested
//! and fuzzed without a socket.
//!
//! A message is a 4-byte big-endian length and that many bytes, the first of
//! which is the type. certsh reads only the two requests it answers itself
//! (`REQUEST_IDENTITIES`, `SIGN_REQUEST`) and the upstream agent's
//! `IDENTITIES_ANSWER`; every other message is passed on as the bytes it came
//! in. A message longer than OpenSSH's own limit (256 KiB), a length of zero,
//! or one cut short is an error that ends the connection it came on.

use std::io::{self, Read};

/// `SSH_AGENT_FAILURE`.
pub const FAILURE: u8 = 5;
/// `SSH_AGENT_SUCCESS`.
pub const SUCCESS: u8 = 6;
/// `SSH_AGENTC_REQUEST_IDENTITIES`.
pub const REQUEST_IDENTITIES: u8 = 11;
/// `SSH_AGENT_IDENTITIES_ANSWER`.
pub const IDENTITIES_ANSWER: u8 = 12;
/// `SSH_AGENTC_SIGN_REQUEST`.
pub const SIGN_REQUEST: u8 = 13;
/// `SSH_AGENT_SIGN_RESPONSE`.
pub const SIGN_RESPONSE: u8 = 14;

/// `SSH_AGENTC_EXTENSION`.
pub const EXTENSION: u8 = 27;
/// The extension by which ssh tells the agent which host a connection is
/// for (OpenSSH's `PROTOCOL.agent`, 8.9 and later).
pub const SESSION_BIND: &[u8] = b"session-bind@openssh.com";
/// `SSH_MSG_USERAUTH_REQUEST` (RFC 4252).
pub const USERAUTH_REQUEST: u8 = 50;

/// The longest message, the type byte included: OpenSSH's `AGENT_MAX_LEN`.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Why a connection is ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The length says more than [`MAX_MESSAGE`].
    TooLong(u32),
    /// A length of zero: no type byte.
    Empty,
    /// The stream ended inside a message.
    Truncated,
    /// A request certsh reads whose fields do not add up.
    BadFields(u8),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::TooLong(n) => write!(f, "a message of {n} bytes (at most {MAX_MESSAGE})"),
            Malformed::Empty => f.write_str("a message of length 0"),
            Malformed::Truncated => f.write_str("a message cut short"),
            Malformed::BadFields(t) => write!(f, "a malformed message of type {t}"),
        }
    }
}

/// Reads one message's body (type byte first). `Ok(None)` at a clean end of
/// the stream, between messages.
pub fn read_message(r: &mut impl Read) -> io::Result<Result<Option<Vec<u8>>, Malformed>> {
    let mut len = [0u8; 4];
    match read_full(r, &mut len)? {
        0 => return Ok(Ok(None)),
        4 => {}
        _ => return Ok(Err(Malformed::Truncated)),
    }
    let n = u32::from_be_bytes(len);
    if n == 0 {
        return Ok(Err(Malformed::Empty));
    }
    if n as usize > MAX_MESSAGE {
        return Ok(Err(Malformed::TooLong(n)));
    }
    let mut body = vec![0u8; n as usize];
    if read_full(r, &mut body)? != body.len() {
        return Ok(Err(Malformed::Truncated));
    }
    Ok(Ok(Some(body)))
}

/// Reads until `buf` is full or the stream ends; how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A body with its length in front, ready to write.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A request, as far as certsh needs to know.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `REQUEST_IDENTITIES`.
    Identities,
    /// `SIGN_REQUEST`: the key (its wire blob), the data, the flags.
    Sign {
        key: &'a [u8],
        data: &'a [u8],
        flags: u32,
    },
    /// The `session-bind@openssh.com` extension.
    SessionBind(SessionBind<'a>),
    /// Anything else: for the upstream agent.
    Other(u8),
}

/// A `session-bind@openssh.com` request: the host key of the server ssh is
/// talking to, the session's identifier, the server's signature over it,
/// and whether the connection is a forwarded one (ssh opened it for a
/// remote host's use) rather than ssh's own authentication.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct SessionBind<'a> {
    pub host_key: &'a [u8],
    pub session_id: &'a [u8],
    pub signature: &'a [u8],
    pub forwarding: bool,
}

/// The parts of an SSH userauth request that the agent checks before its
/// key signs it.
#[derive(Debug, PartialEq, Eq)]
pub struct Userauth<'a> {
    pub session_id: &'a [u8],
    /// The key blob the request offers.
    pub key: &'a [u8],
    /// The server's host key, for `publickey-hostbound-v00@openssh.com`.
    pub host_key: Option<&'a [u8]>,
}

/// Reads `data` as the `SSH_MSG_USERAUTH_REQUEST` of a public-key login
/// (RFC 4252 section 7; OpenSSH's `publickey-hostbound-v00@openssh.com`
/// adds the host key): session identifier, type 50, user, service,
/// method, TRUE, algorithm, key blob, [host key], and nothing after. `None`
/// for anything else, SSHSIG blobs included.
pub fn parse_userauth(data: &[u8]) -> Option<Userauth<'_>> {
    let mut rest = data;
    let session_id = string(&mut rest)?;
    let (&kind, tail) = rest.split_first()?;
    rest = tail;
    if kind != USERAUTH_REQUEST {
        return None;
    }
    let _user = string(&mut rest)?;
    let _service = string(&mut rest)?;
    let hostbound = match string(&mut rest)? {
        b"publickey" => false,
        b"publickey-hostbound-v00@openssh.com" => true,
        _ => return None,
    };
    if boolean(&mut rest)? != Some(true) {
        return None;
    }
    let _algorithm = string(&mut rest)?;
    let key = string(&mut rest)?;
    let host_key = if hostbound {
        Some(string(&mut rest)?)
    } else {
        None
    };
    rest.is_empty().then_some(Userauth {
        session_id,
        key,
        host_key,
    })
}

/// Reads a request body (from [`read_message`]).
pub fn parse_request(body: &[u8]) -> Result<Request<'_>, Malformed> {
    let (&kind, mut rest) = body.split_first().ok_or(Malformed::Empty)?;
    let bad = Malformed::BadFields(kind);
    match kind {
        REQUEST_IDENTITIES if rest.is_empty() => Ok(Request::Identities),
        REQUEST_IDENTITIES => Err(bad),
        SIGN_REQUEST => {
            let key = string(&mut rest).ok_or(Malformed::BadFields(kind))?;
            let data = string(&mut rest).ok_or(Malformed::BadFields(kind))?;
            let flags = uint32(&mut rest).ok_or(Malformed::BadFields(kind))?;
            if !rest.is_empty() {
                return Err(bad);
            }
            Ok(Request::Sign { key, data, flags })
        }
        EXTENSION => {
            let name = string(&mut rest).ok_or(Malformed::BadFields(kind))?;
            if name != SESSION_BIND {
                return Ok(Request::Other(kind));
            }
            let host_key = string(&mut rest).ok_or(Malformed::BadFields(kind))?;
            let session_id = string(&mut rest).ok_or(Malformed::BadFields(kind))?;
            let signature = string(&mut rest).ok_or(Malformed::BadFields(kind))?;
            let forwarding = boolean(&mut rest)
                .flatten()
                .ok_or(Malformed::BadFields(kind))?;
            if !rest.is_empty() {
                return Err(bad);
            }
            Ok(Request::SessionBind(SessionBind {
                host_key,
                session_id,
                signature,
                forwarding,
            }))
        }
        other => Ok(Request::Other(other)),
    }
}

/// A `session-bind@openssh.com` request body (for tests and the upstream
/// side).
pub fn session_bind(bind: &SessionBind<'_>) -> Vec<u8> {
    let mut out = vec![EXTENSION];
    put_string(&mut out, SESSION_BIND);
    put_string(&mut out, bind.host_key);
    put_string(&mut out, bind.session_id);
    put_string(&mut out, bind.signature);
    out.push(u8::from(bind.forwarding));
    out
}

/// One identity: a key blob and its comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The public key or certificate, in SSH wire encoding.
    pub key: Vec<u8>,
    /// Its comment, as the agent holds it (bytes: not necessarily UTF-8).
    pub comment: Vec<u8>,
}

/// Reads an `IDENTITIES_ANSWER` body.
pub fn parse_identities(body: &[u8]) -> Result<Vec<Identity>, Malformed> {
    let bad = Malformed::BadFields(IDENTITIES_ANSWER);
    let (&kind, mut rest) = body.split_first().ok_or(Malformed::Empty)?;
    if kind != IDENTITIES_ANSWER {
        return Err(Malformed::BadFields(kind));
    }
    let n = uint32(&mut rest).ok_or(Malformed::BadFields(kind))?;
    // Each identity takes at least 8 bytes: no allocation from a bare count.
    if n as usize > rest.len() / 8 {
        return Err(bad);
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let key = string(&mut rest).ok_or(Malformed::BadFields(kind))?;
        let comment = string(&mut rest).ok_or(Malformed::BadFields(kind))?;
        out.push(Identity {
            key: key.to_vec(),
            comment: comment.to_vec(),
        });
    }
    if !rest.is_empty() {
        return Err(bad);
    }
    Ok(out)
}

/// An `IDENTITIES_ANSWER` body listing `ids` in order.
pub fn identities_answer(ids: &[Identity]) -> Vec<u8> {
    let mut out = vec![IDENTITIES_ANSWER];
    out.extend_from_slice(&(ids.len() as u32).to_be_bytes());
    for id in ids {
        put_string(&mut out, &id.key);
        put_string(&mut out, &id.comment);
    }
    out
}

/// A `SIGN_REQUEST` body (for tests and the upstream side).
pub fn sign_request(key: &[u8], data: &[u8], flags: u32) -> Vec<u8> {
    let mut out = vec![SIGN_REQUEST];
    put_string(&mut out, key);
    put_string(&mut out, data);
    out.extend_from_slice(&flags.to_be_bytes());
    out
}

/// A `SIGN_RESPONSE` body for a signature blob (algorithm and bytes, in SSH
/// wire encoding).
pub fn sign_response(signature: &[u8]) -> Vec<u8> {
    let mut out = vec![SIGN_RESPONSE];
    put_string(&mut out, signature);
    out
}

/// The `FAILURE` body.
pub fn failure() -> Vec<u8> {
    vec![FAILURE]
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn uint32(rest: &mut &[u8]) -> Option<u32> {
    let (n, tail) = rest.split_first_chunk::<4>()?;
    *rest = tail;
    Some(u32::from_be_bytes(*n))
}

/// A boolean: `Some(None)` for a byte other than 0 and 1, which certsh
/// refuses rather than reads as true.
fn boolean(rest: &mut &[u8]) -> Option<Option<bool>> {
    let (&b, tail) = rest.split_first()?;
    *rest = tail;
    Some(match b {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    })
}

fn string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = uint32(rest)? as usize;
    if rest.len() < n {
        return None;
    }
    let (s, tail) = rest.split_at(n);
    *rest = tail;
    Some(s)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn read(bytes: &[u8]) -> Result<Option<Vec<u8>>, Malformed> {
        read_message(&mut &bytes[..]).unwrap()
    }

    #[test]
    fn a_message_is_its_length_and_its_body() {
        let mut stream = frame(&[REQUEST_IDENTITIES]);
        stream.extend(frame(&sign_request(b"key", b"data", 2)));
        let mut r = &stream[..];
        let first = read_message(&mut r).unwrap().unwrap().unwrap();
        assert_eq!(parse_request(&first), Ok(Request::Identities));
        let second = read_message(&mut r).unwrap().unwrap().unwrap();
        assert_eq!(
            parse_request(&second),
            Ok(Request::Sign {
                key: b"key",
                data: b"data",
                flags: 2
            })
        );
        assert_eq!(read_message(&mut r).unwrap(), Ok(None));
    }

    #[test]
    fn oversized_empty_and_cut_short_are_malformed() {
        let too_long = (MAX_MESSAGE as u32 + 1).to_be_bytes();
        assert_eq!(
            read(&too_long),
            Err(Malformed::TooLong(MAX_MESSAGE as u32 + 1))
        );
        // The longest allowed length is read (and here found cut short).
        assert_eq!(
            read(&(MAX_MESSAGE as u32).to_be_bytes()),
            Err(Malformed::Truncated)
        );
        assert_eq!(read(&[0, 0, 0, 0]), Err(Malformed::Empty));
        assert_eq!(read(&[0, 0]), Err(Malformed::Truncated));
        assert_eq!(read(&[0, 0, 0, 5, 11]), Err(Malformed::Truncated));
        assert_eq!(read(&[]), Ok(None));
    }

    #[test]
    fn requests_with_fields_that_do_not_add_up_are_malformed() {
        assert_eq!(parse_request(&[11, 0]), Err(Malformed::BadFields(11)));
        let mut long = sign_request(b"k", b"d", 0);
        long.push(0);
        assert_eq!(parse_request(&long), Err(Malformed::BadFields(13)));
        let short = sign_request(b"k", b"d", 0);
        assert_eq!(
            parse_request(&short[..short.len() - 1]),
            Err(Malformed::BadFields(13))
        );
        // A key length past the end.
        assert_eq!(
            parse_request(&[13, 0, 0, 1, 0, 1]),
            Err(Malformed::BadFields(13))
        );
        // What certsh does not read is passed on as it is.
        assert_eq!(parse_request(&[17, 1, 2, 3]), Ok(Request::Other(17)));
    }

    #[test]
    fn a_count_larger_than_the_answer_is_refused_before_allocating() {
        let mut body = vec![IDENTITIES_ANSWER];
        body.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            parse_identities(&body),
            Err(Malformed::BadFields(IDENTITIES_ANSWER))
        );
        assert_eq!(
            parse_identities(&[FAILURE]),
            Err(Malformed::BadFields(FAILURE))
        );
        assert_eq!(parse_identities(&identities_answer(&[])), Ok(vec![]));
    }

    fn put(out: &mut Vec<u8>, parts: &[&[u8]]) {
        for p in parts {
            put_string(out, p);
        }
    }

    #[test]
    fn a_publickey_login_is_read_and_anything_else_is_not() {
        let login = |method: &[u8], tail: &[&[u8]]| {
            let mut d = vec![];
            put(&mut d, &[b"sid"]);
            d.push(USERAUTH_REQUEST);
            put(&mut d, &[b"user", b"ssh-connection", method]);
            d.push(1);
            put(&mut d, &[b"ssh-ed25519", b"KEY"]);
            put(&mut d, tail);
            d
        };
        assert_eq!(
            parse_userauth(&login(b"publickey", &[])),
            Some(Userauth {
                session_id: b"sid",
                key: b"KEY",
                host_key: None
            })
        );
        assert_eq!(
            parse_userauth(&login(b"publickey-hostbound-v00@openssh.com", &[b"HOST"])),
            Some(Userauth {
                session_id: b"sid",
                key: b"KEY",
                host_key: Some(b"HOST")
            })
        );
        // The hostbound method without its host key, the plain one with
        // more after it, another method, another message type.
        assert_eq!(
            parse_userauth(&login(b"publickey-hostbound-v00@openssh.com", &[])),
            None
        );
        assert_eq!(parse_userauth(&login(b"publickey", &[b"HOST"])), None);
        assert_eq!(parse_userauth(&login(b"hostbased", &[])), None);
        let mut other = login(b"publickey", &[]);
        other[7] = 51;
        assert_eq!(parse_userauth(&other), None);
        // FALSE (a query, never signed) and a boolean that is neither.
        for b in [0u8, 2] {
            let mut d = login(b"publickey", &[]);
            let at = 4 + 3 + 1 + 8 + 18 + 13;
            assert_eq!(d[at], 1);
            d[at] = b;
            assert_eq!(parse_userauth(&d), None, "boolean {b}");
        }
        let mut sshsig = b"SSHSIG".to_vec();
        put(&mut sshsig, &[b"git", b"", b"sha512", b"hash"]);
        assert_eq!(parse_userauth(&sshsig), None);
    }

    #[test]
    fn a_session_binding_is_read_and_other_extensions_are_passed_on() {
        let bind = SessionBind {
            host_key: b"host",
            session_id: b"sid",
            signature: b"sig",
            forwarding: true,
        };
        let body = session_bind(&bind);
        assert_eq!(parse_request(&body), Ok(Request::SessionBind(bind)));
        let mut bad_bool = body.clone();
        *bad_bool.last_mut().unwrap() = 2;
        assert_eq!(
            parse_request(&bad_bool),
            Err(Malformed::BadFields(EXTENSION))
        );
        let mut longer = body.clone();
        longer.push(0);
        assert_eq!(parse_request(&longer), Err(Malformed::BadFields(EXTENSION)));
        let mut query = vec![EXTENSION];
        put(&mut query, &[b"query"]);
        assert_eq!(parse_request(&query), Ok(Request::Other(EXTENSION)));
    }

    fn identity() -> impl Strategy<Value = Identity> {
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 0..32),
        )
            .prop_map(|(key, comment)| Identity { key, comment })
    }

    proptest! {
        #[test]
        fn identities_read_back_as_written(ids in proptest::collection::vec(identity(), 0..8)) {
            prop_assert_eq!(parse_identities(&identities_answer(&ids)), Ok(ids));
        }

        #[test]
        fn sign_requests_read_back_as_written(
            key in proptest::collection::vec(any::<u8>(), 0..64),
            data in proptest::collection::vec(any::<u8>(), 0..256),
            flags in any::<u32>(),
        ) {
            let body = sign_request(&key, &data, flags);
            prop_assert_eq!(
                parse_request(&body),
                Ok(Request::Sign { key: &key, data: &data, flags })
            );
            // Framed and cut anywhere, it is truncated, never misread.
            let framed = frame(&body);
            for cut in 1..framed.len() {
                prop_assert_eq!(read(&framed[..cut]), Err(Malformed::Truncated));
            }
        }

        #[test]
        fn any_bytes_are_a_message_or_a_reason_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            if let Ok(Some(body)) = read(&bytes) {
                prop_assert!(!body.is_empty() && body.len() + 4 <= bytes.len());
                let _ = parse_request(&body);
                let _ = parse_identities(&body);
            }
            let _ = parse_request(&bytes);
            let _ = parse_identities(&bytes);
        }
    }
}
