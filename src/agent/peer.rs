//! Who is at the other end of a connection to the agent's socket: the
//! kernel's word for the peer's uid, `SO_PEERCRED` on Linux and
//! `getpeereid` on macOS. The agent serves its own user (and root, as
//! OpenSSH's ssh-agent does) only; the folder and socket modes already keep
//! others out, and this check stands behind them for a socket given with
//! `--socket` in a folder others can reach.

use std::io;
use std::os::unix::net::UnixStream;

/// The uid of the process that connected `stream` (as it was at
/// `connect`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn uid(stream: &UnixStream) -> io::Result<u32> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    Ok(cred.uid.as_raw())
}

/// The uid of the process that connected `stream` (as it was at
/// `connect`).
#[cfg(target_os = "macos")]
pub fn uid(stream: &UnixStream) -> io::Result<u32> {
    let (uid, _gid) = nix::unistd::getpeereid(stream).map_err(io::Error::from)?;
    Ok(uid.as_raw())
}

/// Elsewhere the peer cannot be asked, and no peer is served.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
pub fn uid(_stream: &UnixStream) -> io::Result<u32> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "cannot tell the peer's uid on this system",
    ))
}

/// The pid of the process that connected `stream` (as it was at
/// `connect`), to count its connections.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn pid(stream: &UnixStream) -> io::Result<u32> {
    let cred = rustix::net::sockopt::socket_peercred(stream)?;
    Ok(cred.pid.as_raw_nonzero().get() as u32)
}

/// The pid of the process that connected `stream` (`LOCAL_PEERPID`).
#[cfg(target_os = "macos")]
pub fn pid(stream: &UnixStream) -> io::Result<u32> {
    let pid = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::LocalPeerPid)
        .map_err(io::Error::from)?;
    Ok(pid as u32)
}

/// Elsewhere the peer's pid is unknown.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
pub fn pid(_stream: &UnixStream) -> io::Result<u32> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "cannot tell the peer's pid on this system",
    ))
}

/// Whether a peer of uid `peer` is served by an agent running as `own`:
/// its own user, and root, as OpenSSH's ssh-agent does. Root can read the
/// key in the state folder anyway; refusing it would only break a rootful
/// container given the socket (`docker run -v "$SSH_AUTH_SOCK":...`).
pub fn may_serve(peer: u32, own: u32) -> bool {
    peer == own || peer == 0
}

/// This process's uid.
pub fn own_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn its_own_user_and_root_are_served_and_nobody_else() {
        assert!(may_serve(1000, 1000));
        assert!(may_serve(0, 1000));
        assert!(may_serve(0, 0));
        assert!(!may_serve(1001, 1000));
        assert!(!may_serve(1000, 0));
    }

    #[test]
    fn a_peer_of_this_process_is_this_user() {
        let (a, b) = UnixStream::pair().unwrap();
        assert_eq!(uid(&a).unwrap(), own_uid());
        assert_eq!(uid(&b).unwrap(), own_uid());
        assert_eq!(pid(&a).unwrap(), std::process::id());
    }
}
