//! Local state: the keys and certificates certsh keeps (its state folder and
//! the ssh-agent), the lock that lets one process renew them, and the checks a
//! certificate passes before it is stored or used.

pub mod cert;
pub mod lock;
pub mod ssh_add;
pub mod store;
