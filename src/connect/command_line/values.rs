//! The grammar of option values, as ssh.c checks them while it reads the
//! command line: numbers and ports, forwarding specifications (`-L`, `-R`,
//! `-D`, `-W`), jump hosts, the escape character, tunnel devices, and the
//! cipher, MAC and flag tables of the OpenSSH versions certsh knows.

use std::borrow::Cow;

use super::uri::parse_ssh_uri;

pub(super) fn cow_to_string(bytes: Cow<'_, [u8]>) -> Option<String> {
    match bytes {
        Cow::Borrowed(bytes) => std::str::from_utf8(bytes).ok().map(str::to_owned),
        Cow::Owned(bytes) => String::from_utf8(bytes).ok(),
    }
}

/// OpenSSH's `a2port`: a decimal number 1..=65535 as `strtonum` reads it
/// (leading white space and a `+` allowed). ssh also accepts service names
/// from `/etc/services` (`-p ssh`); those give `None` here, since looking
/// them up is not this module's business and they are rare.
pub(super) fn port_number(text: &[u8]) -> Option<u16> {
    u16::try_from(strtonum(text, 65535)?)
        .ok()
        .filter(|&port| port != 0)
}

/// The C library's `strtonum(text, 0, max)` as OpenSSH uses it: leading
/// white space, an optional sign, decimal digits and nothing after them.
/// A `-` sign gives `None`: only `-0` would be in range, and nothing here
/// cares for it.
pub(super) fn strtonum(text: &[u8], max: u32) -> Option<u32> {
    let start = text
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(text.len());
    let text = &text[start..];
    let digits = text.strip_prefix(b"+").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Saturate rather than overflow on absurd lengths; leading zeros are fine.
    let value = digits.iter().fold(0u64, |acc, &d| {
        (acc * 10 + u64::from(d - b'0')).min(1 << 40)
    });
    u32::try_from(value).ok().filter(|&v| v <= max)
}

/// The kinds of `parse_forward` call ssh.c makes: `-L`, `-R` (tried as a
/// plain remote forward, then as a dynamic one), `-D` and `-W`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Forward {
    Local,
    Remote,
    RemoteDynamic,
    Dynamic,
}

/// What ssh.c looks at in a parsed forwarding.
pub(super) struct ParsedForward {
    /// Whether it names a listening host (`-W host:port` does).
    pub(super) listen_host: bool,
}

/// One field of a forwarding: its text (escapes removed) and whether it is
/// a path (holds a `/`).
pub(super) struct Field {
    pub(super) text: Vec<u8>,
    pub(super) path: bool,
}

/// OpenSSH's `parse_forward` (misc.c): up to four `:`-separated fields,
/// `[...]` taken literally, `\` escaping the next byte, a `/` making a field
/// a path. `None` where ssh prints "Bad ... forwarding specification". A
/// spec holding `${` (ssh expands environment variables in it first) and a
/// port given as a service name are `None` too: deciding them needs the
/// environment or `/etc/services`.
pub(super) fn parse_forward(spec: &[u8], kind: Forward) -> Option<ParsedForward> {
    if spec.windows(2).any(|w| w == b"${") {
        return None;
    }
    let start = spec
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(spec.len());
    let mut rest = &spec[start..];
    let mut fields: Vec<Field> = Vec::with_capacity(4);
    while fields.len() < 4 && !rest.is_empty() {
        let (field, after) = forward_field(rest)?;
        fields.push(field);
        rest = after;
    }
    if !rest.is_empty() {
        return None;
    }
    // a2port, with service names left undecided (see above): a number
    // 0..=65535, else `Err(())`.
    let port = |f: &Field| strtonum(&f.text, 65535).map(|p| p as i64).ok_or(());
    const PATH: i64 = -2;
    // (listen host, listen port, connect port or PATH, connect host or path)
    let (listen_host, listen_port, connect_port) = match fields.as_slice() {
        [a] if a.path => (false, Ok(PATH), 0),
        [a] => (false, port(a), 0),
        [a, b] if a.path && b.path => (false, Ok(PATH), PATH),
        [a, b] if b.path => (false, port(a), PATH),
        [_, b] => (true, port(b), 0),
        [a, b, c] if a.path => (false, Ok(PATH), port(c).unwrap_or(-1)),
        [_, b, c] if c.path => (true, port(b), PATH),
        [a, _, c] => (false, port(a), port(c).unwrap_or(-1)),
        [_, b, _, d] => (true, port(b), port(d).unwrap_or(-1)),
        _ => return None,
    };
    let listen_port = listen_port.ok()?;
    let dynamic = matches!(kind, Forward::Dynamic | Forward::RemoteDynamic);
    let remote = matches!(kind, Forward::Remote | Forward::RemoteDynamic);
    let count = fields.len();
    if dynamic {
        if !(count == 1 || count == 2) {
            return None;
        }
    } else {
        let paths = listen_port == PATH || connect_port == PATH;
        if !(count == 3 || count == 4 || paths) {
            return None;
        }
        if connect_port <= 0 && connect_port != PATH {
            return None;
        }
    }
    if (!remote && listen_port == 0) || fields.iter().any(too_long) {
        return None;
    }
    Some(ParsedForward { listen_host })
}

/// Host names must fit `NI_MAXHOST`, paths a Unix socket address (108
/// bytes on Linux; macOS's 104 is left to ssh).
pub(super) fn too_long(field: &Field) -> bool {
    field.text.len() >= if field.path { 108 } else { 1025 }
}

/// misc.c's `parse_fwd_field`: one field and the text after its `:`.
pub(super) fn forward_field(text: &[u8]) -> Option<(Field, &[u8])> {
    if let Some(inner) = text.strip_prefix(b"[") {
        let close = inner.iter().position(|&b| b == b']')?;
        let after = &inner[close + 1..];
        let after = match after.first() {
            None => after,
            Some(b':') => &after[1..],
            Some(_) => return None,
        };
        let body = &inner[..close];
        let path = body.contains(&b'/');
        return Some((
            Field {
                text: body.to_vec(),
                path,
            },
            after,
        ));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut path = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' => {
                // The escaped byte is taken literally: an escaped `:` does
                // not end the field, an escaped `/` makes no path.
                i += 1;
                out.push(*text.get(i)?);
            }
            b'/' => {
                path = true;
                out.push(b'/');
            }
            b':' => return Some((Field { text: out, path }, &text[i + 1..])),
            b => out.push(b),
        }
        i += 1;
    }
    Some((Field { text: out, path }, &text[text.len()..]))
}

/// readconf.c's `parse_jump`: `none` (any case), or comma-separated
/// `[user@]host[:port]` or `ssh://` hops. A `#` starts a comment, and the
/// value ends at white space (OpenSSH 9.2 as Debian ships it reads
/// `-J "a b"` as `a`). Every hop is checked: a user before `@` is not empty,
/// the host is not empty and passes ssh 9.6's `valid_hostname` (which
/// distributions backport), a port is a number 1..=65535 (a service name is
/// refused here, see [`port_number`]). A `/` in a hop is refused too: ssh
/// versions differ on it.
pub(super) fn valid_jump(value: &[u8]) -> bool {
    if value.eq_ignore_ascii_case(b"none") {
        return true;
    }
    hops(value).all(|hop| match parse_ssh_uri(hop) {
        Some(uri) => uri.is_ok(),
        None => user_host_port(hop),
    })
}

/// The hops of a jump value, up to its comment or first white space.
fn hops(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = value
        .iter()
        .position(|&b| b == b'#' || matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(value.len());
    value[..end].split(|&b| b == b',')
}

/// The hop just before the destination, as `parse_jump` keeps it for
/// ssh.c's check "jumphost loop via": its user, host and port as written.
pub(super) struct Hop<'a> {
    pub(super) user: Option<Cow<'a, [u8]>>,
    pub(super) host: &'a [u8],
    pub(super) port: Option<u16>,
}

/// The last hop of a value [`valid_jump`] accepted; `None` for `none`.
pub(super) fn last_hop(value: &[u8]) -> Option<Hop<'_>> {
    if value.eq_ignore_ascii_case(b"none") {
        return None;
    }
    let hop = hops(value).last()?;
    if let Some(uri) = parse_ssh_uri(hop) {
        let uri = uri.ok()?;
        return Some(Hop {
            user: uri.user,
            host: uri.host,
            port: uri.port,
        });
    }
    let (user, rest) = split_user(hop);
    let (host, port) = split_host_port(rest)?;
    Some(Hop {
        user: user.map(Cow::Borrowed),
        host,
        port: port.and_then(port_number),
    })
}

/// `[user@]rest`, split at the last `@` as ssh splits a destination and
/// a jump hop.
pub(super) fn split_user(word: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match word.iter().rposition(|&b| b == b'@') {
        Some(at) => (Some(&word[..at]), &word[at + 1..]),
        None => (None, word),
    }
}

/// `host`, `host:port`, `[host]` or `[host]:port`.
fn split_host_port(rest: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    if rest.first() == Some(&b'[') {
        let close = rest.iter().position(|&b| b == b']')?;
        match rest.get(close + 1) {
            None => Some((&rest[1..close], None)),
            Some(b':') => Some((&rest[1..close], Some(&rest[close + 2..]))),
            Some(_) => None,
        }
    } else {
        Some(match rest.iter().position(|&b| b == b':') {
            Some(colon) => (&rest[..colon], Some(&rest[colon + 1..])),
            None => (rest, None),
        })
    }
}

/// misc.c's `parse_user_host_port`, as [`valid_jump`] describes it.
pub(super) fn user_host_port(hop: &[u8]) -> bool {
    let (user, rest) = split_user(hop);
    if user == Some(b"") || rest.contains(&b'/') {
        return false;
    }
    let Some((host, port)) = split_host_port(rest) else {
        return false;
    };
    !host.is_empty()
        && valid_hostname(host)
        && port.is_none_or(|port| port.is_empty() || port_number(port).is_some())
}

/// ssh's `-e`: `^X` for a control character, one character, or `none`.
pub(super) fn escape_char(value: &[u8]) -> bool {
    match value {
        [b'^', c] => (64..128).contains(c),
        [_] => true,
        _ => value == b"none",
    }
}

/// misc.c's `a2tun` for `-w local[:remote]`: each `any` (any case) or a
/// number up to `SSH_TUNID_MAX`.
pub(super) fn tunnel_devices(value: &[u8]) -> bool {
    const SSH_TUNID_MAX: u32 = 0x7fff_fffd;
    let one = |t: &[u8]| t.eq_ignore_ascii_case(b"any") || strtonum(t, SSH_TUNID_MAX).is_some();
    match value.iter().position(|&b| b == b':') {
        Some(colon) => one(&value[..colon]) && one(&value[colon + 1..]),
        None => one(value),
    }
}

/// `ciphers_valid` / `mac_valid`: a comma-separated list of known names.
/// Like ssh, the check stops at the first empty name (`a,,bogus` passes),
/// and an empty list fails.
pub(super) fn known_names(list: &[u8], known: &[&str]) -> bool {
    if list.is_empty() {
        return false;
    }
    list.split(|&b| b == b',')
        .take_while(|name| !name.is_empty())
        .all(|name| known.iter().any(|k| k.as_bytes() == name))
}

/// Every cipher name `-c` accepted in some OpenSSH since 7.3, so that no
/// version's valid line is refused here (a name an older ssh knew and a
/// newer one refuses costs at most a certificate request).
pub(super) const CIPHERS: &[&str] = &[
    "3des-cbc",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "arcfour",
    "arcfour128",
    "arcfour256",
    "blowfish-cbc",
    "cast128-cbc",
    "rijndael-cbc@lysator.liu.se",
];

/// Every MAC name `-m` accepted in some OpenSSH since 7.3.
pub(super) const MACS: &[&str] = &[
    "hmac-sha1",
    "hmac-sha1-96",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-md5",
    "hmac-md5-96",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha1-96-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-md5-etm@openssh.com",
    "hmac-md5-96-etm@openssh.com",
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-ripemd160",
    "hmac-ripemd160@openssh.com",
    "hmac-ripemd160-etm@openssh.com",
];

/// ssh_config keywords that have taken exactly `yes` or `no` (or `true`,
/// `false`, any case) in every OpenSSH since 7.3; another value, or more
/// than one, makes ssh refuse an `-o` line. Keywords whose values grew over
/// time (`ForwardAgent` takes a path since 8.2) are left out, and so are
/// unknown keywords: a keyword a newer ssh added must not cost its users the
/// certificate.
pub(super) const FLAGS: &[&str] = &[
    "BatchMode",
    "CheckHostIP",
    "ClearAllForwardings",
    "Compression",
    "ExitOnForwardFailure",
    "ForwardX11",
    "ForwardX11Trusted",
    "GatewayPorts",
    "HashKnownHosts",
    "HostbasedAuthentication",
    "IdentitiesOnly",
    "NoHostAuthenticationForLocalhost",
    "PasswordAuthentication",
    "PermitLocalCommand",
    "TCPKeepAlive",
    "VisualHostKey",
];

/// OpenSSH's `valid_hostname` (misc.c, 9.6+): no leading `-`, no shell
/// metacharacters, no white space or control characters.
pub(super) fn valid_hostname(host: &[u8]) -> bool {
    host.first() != Some(&b'-')
        && !host.iter().any(|&b| {
            b"'`\"$\\;&<>|(){},".contains(&b)
                || b == b' '
                // Includes \t \n \v \f \r, ssh's other white space.
                || b.is_ascii_control()
        })
}

/// OpenSSH's `valid_ruser` (misc.c, 9.6+): no leading `-`, no control
/// characters or shell metacharacters, no white space before a `-`, no
/// trailing backslash.
pub(super) fn valid_ruser(user: &[u8]) -> bool {
    user.first() != Some(&b'-')
        && user.last() != Some(&b'\\')
        && !user
            .iter()
            .any(|&b| b.is_ascii_control() || b"'`\";&<>|(){}".contains(&b))
        && !user
            .windows(2)
            .any(|pair| matches!(pair[0], b' ' | b'\t'..=b'\r') && pair[1] == b'-')
}
