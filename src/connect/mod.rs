//! The connection path: everything between `ssh` being started and the real
//! ssh taking over. It reads the command line, decides whether the host is
//! the cloud's, makes sure a certificate is ready (through `credentials`) and
//! execs the real ssh.

pub mod command_line;
pub mod exec;
pub mod readconf;
pub mod scope;
pub mod shim;
pub mod ssh;
