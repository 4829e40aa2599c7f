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
/// `SSH_AGENTC_REQUEST_IDENTITIES`.
pub const REQUEST_IDENTITIES: u8 = 11;
/// `SSH_AGENT_IDENTITIES_ANSWER`.
pub const IDENTITIES_ANSWER: u8 = 12;
/// `SSH_AGENTC_SIGN_REQUEST`.
pub const SIGN_REQUEST: u8 = 13;
/// `SSH_AGENT_SIGN_RESPONSE`.
pub const SIGN_RESPONSE: u8 = 14;

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
    /// Anything else: for the upstream agent.
    Other(u8),
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
        other => Ok(Request::Other(other)),
    }
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
