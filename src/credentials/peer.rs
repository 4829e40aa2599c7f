//! Who is at the other end of a loopback connection to the login listener.
//!
//! Every local user can connect to 127.0.0.1. A browser login must only
//! listen to its own user's browser: another user who sent a code of her
//! own would log the victim in as her (login CSRF), and an `error=` would end
//! the login. On Linux the kernel's socket tables, `/proc/net/tcp` and
//! `/proc/net/tcp6`, name the owner of every socket, the peer's included: it
//! is the line whose local address is the peer's address and port and whose
//! remote address is the listener's.
//!
//! A peer is the user's when that socket belongs to the user (or to root, who
//! can do anything anyway) and a process still holds it: the line of a
//! socket its process has closed shows inode 0, and once in time-wait uid 0
//! too, which must not pass for root's. Where the tables cannot tell (not
//! Linux, or tables that do not even show the listener, as on WSL 1), the
//! caller does without: see `credentials/login.rs`.

use std::net::{IpAddr, SocketAddr};

/// The tables, IPv4 first. A client's IPv6 socket connected to 127.0.0.1
/// (as `::ffff:127.0.0.1`) is in the second.
#[cfg(target_os = "linux")]
const TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// `st` of a listening socket.
const LISTEN: u8 = 0x0A;

/// Who a peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A live socket of this user or of root.
    Ours,
    /// A socket of another user (`Some(uid)`), or one that no process holds
    /// or that is not in the tables (`None`).
    Stranger(Option<u32>),
    /// Not asked: the tables cannot tell (see [`can_check`]).
    Unknown,
}

/// Whether the tables show `listener` listening, so that [`owner`] can
/// answer for its peers.
pub fn can_check(listener: SocketAddr) -> bool {
    entries()
        .iter()
        .any(|e| e.local == listener && e.state == LISTEN && e.remote.ip().is_unspecified())
}

/// The owner of the socket at `peer` that is connected to `listener`.
pub fn owner(peer: SocketAddr, listener: SocketAddr) -> Peer {
    // The uid is a number where the tables exist (Linux); elsewhere there
    // are no entries and it is never compared.
    let uid = crate::util::platform::user_id().parse().unwrap_or(u32::MAX);
    judge(&entries(), peer, listener, uid)
}

fn judge(all: &[Entry], peer: SocketAddr, listener: SocketAddr, uid: u32) -> Peer {
    let peer = plain(peer);
    let listener = plain(listener);
    match all.iter().find(|e| e.local == peer && e.remote == listener) {
        Some(e) if e.inode != 0 && (e.uid == uid || e.uid == 0) => Peer::Ours,
        Some(e) if e.inode != 0 => Peer::Stranger(Some(e.uid)),
        _ => Peer::Stranger(None),
    }
}

/// One line of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    local: SocketAddr,
    remote: SocketAddr,
    state: u8,
    uid: u32,
    inode: u64,
}

#[cfg(target_os = "linux")]
fn entries() -> Vec<Entry> {
    TABLES
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|text| text.lines().skip(1).filter_map(parse).collect::<Vec<_>>())
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn entries() -> Vec<Entry> {
    vec![]
}

/// ` 3: 0100007F:1388 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000  1000 0 123456 ...`:
/// slot, local, remote, state, queues, timer, retransmits, uid, timeouts,
/// inode.
#[cfg(any(target_os = "linux", test))]
fn parse(line: &str) -> Option<Entry> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    Some(Entry {
        local: address(f[1])?,
        remote: address(f[2])?,
        state: u8::from_str_radix(f[3], 16).ok()?,
        uid: f[7].parse().ok()?,
        inode: f[9].parse().ok()?,
    })
}

/// `0100007F:1388`: the address as the kernel's 32-bit words, each printed
/// in hex in the machine's byte order (so 127.0.0.1 is `0100007F` on a
/// little-endian machine), then the port in hex.
#[cfg(any(target_os = "linux", test))]
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = (0..ip.len() / 8)
        .map(|i| {
            ip.get(i * 8..i * 8 + 8)
                .and_then(|w| u32::from_str_radix(w, 16).ok())
        })
        .collect::<Option<Vec<u32>>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match (ip.len(), bytes.len()) {
        (8, 4) => IpAddr::V4(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        (32, 16) => IpAddr::V6(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(plain(SocketAddr::new(ip, port)))
}

/// `::ffff:127.0.0.1` as `127.0.0.1`, so that both tables compare with what
/// an IPv4 listener sees.
fn plain(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address as this machine's kernel prints it.
    fn hex(addr: SocketAddr) -> String {
        let words: Vec<u32> = match addr.ip() {
            IpAddr::V4(v4) => vec![u32::from_ne_bytes(v4.octets())],
            IpAddr::V6(v6) => v6
                .octets()
                .chunks(4)
                .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
                .collect(),
        };
        let ip: String = words.iter().map(|w| format!("{w:08X}")).collect();
        format!("{ip}:{:04X}", addr.port())
    }

    fn line(local: &str, remote: &str, state: u8, uid: u32, inode: u64) -> String {
        let (local, remote): (SocketAddr, SocketAddr) =
            (local.parse().unwrap(), remote.parse().unwrap());
        format!(
            "   7: {} {} {state:02X} 00000000:00000000 00:00000000 00000000 {uid:>5}        0 {inode} 1 0000000000000000 20 4 30 10 -1",
            hex(local),
            hex(remote)
        )
    }

    #[test]
    fn loopback_is_read_in_the_machines_byte_order() {
        let e = parse(&line("127.0.0.1:51234", "127.0.0.1:5000", 1, 1000, 4242)).unwrap();
        assert_eq!(e.local, "127.0.0.1:51234".parse().unwrap());
        assert_eq!(e.remote, "127.0.0.1:5000".parse().unwrap());
        assert_eq!((e.state, e.uid, e.inode), (1, 1000, 4242));
        if cfg!(target_endian = "little") {
            // What a little-endian kernel prints for 127.0.0.1:5000.
            assert_eq!(
                address("0100007F:1388"),
                Some("127.0.0.1:5000".parse().unwrap())
            );
        }
    }

    #[test]
    fn a_mapped_ipv6_peer_is_the_ipv4_one() {
        let e = parse(&line(
            "[::ffff:127.0.0.1]:40000",
            "[::ffff:127.0.0.1]:5000",
            1,
            7,
            9,
        ))
        .unwrap();
        assert_eq!(e.local, "127.0.0.1:40000".parse().unwrap());
        let e = parse(&line("[::1]:40000", "[::1]:5000", 1, 7, 9)).unwrap();
        assert_eq!(e.local, "[::1]:40000".parse().unwrap());
    }

    #[test]
    fn garbage_is_no_entry() {
        assert_eq!(parse("  sl  local_address rem_address   st tx_queue"), None);
        assert_eq!(address("0100007F"), None);
        assert_eq!(address("0100007:1388"), None);
        assert_eq!(address("zz00007F:1388"), None);
    }

    #[test]
    fn the_peer_is_judged_by_its_own_socket() {
        let listener: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:51234".parse().unwrap();
        let table = |uid, inode| {
            [
                line("127.0.0.1:5000", "0.0.0.0:0", LISTEN, 1000, 1),
                // The listener's side of the connection is always ours.
                line("127.0.0.1:5000", "127.0.0.1:51234", 1, 1000, 2),
                line("127.0.0.1:51234", "127.0.0.1:5000", 1, uid, inode),
                // Another connection from another user.
                line("127.0.0.1:51235", "127.0.0.1:5000", 1, 1001, 3),
            ]
            .iter()
            .filter_map(|l| parse(l))
            .collect::<Vec<_>>()
        };
        assert_eq!(judge(&table(1000, 5), peer, listener, 1000), Peer::Ours);
        assert_eq!(judge(&table(0, 5), peer, listener, 1000), Peer::Ours);
        assert_eq!(
            judge(&table(1001, 5), peer, listener, 1000),
            Peer::Stranger(Some(1001))
        );
        // Closed by its process (a time-wait or orphaned socket): uid 0,
        // inode 0, which is not root's.
        assert_eq!(
            judge(&table(0, 0), peer, listener, 1000),
            Peer::Stranger(None)
        );
        let elsewhere: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(
            judge(&table(1000, 5), elsewhere, listener, 1000),
            Peer::Stranger(None)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_connection_is_ours() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(can_check(addr));
        let _c = std::net::TcpStream::connect(addr).unwrap();
        let (_s, peer) = l.accept().unwrap();
        assert_eq!(owner(peer, addr), Peer::Ours);
    }
}
