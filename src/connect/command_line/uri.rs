//! `ssh://[user@]host[:port]` destinations, read as ssh.c's `parse_uri`
//! reads them (RFC 3986 authority, percent-decoding, IPv6 literals).

use std::borrow::Cow;

use super::values::port_number;
use crate::connect::readconf::Malformed;

/// The parts of an `ssh://` destination.
pub(super) struct SshUri<'a> {
    pub(super) user: Option<Cow<'a, [u8]>>,
    pub(super) host: &'a [u8],
    pub(super) port: Option<u16>,
}

/// OpenSSH's `parse_ssh_uri` (misc.c): `None` when the word is not an
/// `ssh://` URI at all, an error where ssh would print its usage.
///
/// ssh requires the host to pass `valid_domain` (letters, digits, `-`, `_`,
/// `.`; starting with a letter or digit), so bracketed IPv6 literals such as
/// `ssh://[::1]:22` are refused by ssh and here alike; one trailing `.` is
/// dropped. The user part may be percent-encoded and may carry `;params`,
/// which ssh ignores. A path other than a lone `/` is refused.
pub(super) fn parse_ssh_uri(word: &[u8]) -> Option<Result<SshUri<'_>, Malformed>> {
    let rest = word.strip_prefix(b"ssh://")?;
    Some(parse_uri_rest(rest))
}

pub(super) fn parse_uri_rest(mut rest: &[u8]) -> Result<SshUri<'_>, Malformed> {
    let mut user = None;
    // Unlike the plain form, the URI's user ends at the first `@`.
    if let Some(at) = rest.iter().position(|&b| b == b'@') {
        let info = &rest[..at];
        let name = match info.iter().position(|&b| b == b';') {
            Some(semicolon) => &info[..semicolon],
            None => info,
        };
        if name.is_empty() {
            return Err(Malformed);
        }
        user = Some(url_decode(name)?);
        rest = &rest[at + 1..];
    }

    // misc.c's hpdelim2: a bracketed host runs to `]`, else to `:` or `/`.
    let host_end = if rest.first() == Some(&b'[') {
        rest.iter().position(|&b| b == b']').ok_or(Malformed)? + 1
    } else {
        rest.iter()
            .position(|&b| b == b':' || b == b'/')
            .unwrap_or(rest.len())
    };
    let (mut host, delimiter, mut tail) = match rest.get(host_end) {
        None => (rest, None, &b""[..]),
        Some(&delimiter @ (b':' | b'/')) => {
            (&rest[..host_end], Some(delimiter), &rest[host_end + 1..])
        }
        Some(_) => return Err(Malformed),
    };
    if let [b'[', inner @ .., b']'] = host {
        host = inner;
    }
    host = valid_domain(host).ok_or(Malformed)?;

    let mut port = None;
    if !tail.is_empty() && delimiter == Some(b':') {
        let (number, path) = match tail.iter().position(|&b| b == b'/') {
            Some(slash) => (&tail[..slash], &tail[slash + 1..]),
            None => (tail, &b""[..]),
        };
        port = Some(port_number(number).ok_or(Malformed)?);
        tail = path;
    }
    if !tail.is_empty() {
        // ssh accepts no path in an ssh:// destination.
        return Err(Malformed);
    }
    Ok(SshUri { user, host, port })
}

/// OpenSSH's `valid_domain` without lowercasing; returns the host without
/// one trailing dot, as ssh uses it.
pub(super) fn valid_domain(host: &[u8]) -> Option<&[u8]> {
    let first = *host.first()?;
    if !first.is_ascii_alphanumeric()
        || host.windows(2).any(|pair| pair == b"..")
        || !host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return None;
    }
    Some(host.strip_suffix(b".").unwrap_or(host))
}

/// OpenSSH's `urldecode`: `+` is a space, `%XX` a byte; a bad escape, and
/// `%00`, are errors.
pub(super) fn url_decode(text: &[u8]) -> Result<Cow<'_, [u8]>, Malformed> {
    if !text.iter().any(|&b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3).ok_or(Malformed)?;
                let high = hex_digit(hex[0]).ok_or(Malformed)?;
                let low = hex_digit(hex[1]).ok_or(Malformed)?;
                let byte = high << 4 | low;
                if byte == 0 {
                    return Err(Malformed);
                }
                out.push(byte);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Ok(Cow::Owned(out))
}

pub(super) fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}
