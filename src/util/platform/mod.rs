//! What differs between Unix and Windows, behind one small interface, so
//! that the rest of certsh does not say `cfg(unix)`:
//!
//! - handing over to the real ssh: [`exec`] replaces the process on Unix; on
//!   Windows, which has no `exec`, it runs ssh as a child with the same
//!   standard handles, leaves Ctrl+C and Ctrl+Break to it, and exits with
//!   its code;
//! - a background process that outlives its parent and its terminal
//!   ([`detach`], [`leave_session`]);
//! - files and folders the user alone may read: mode 0600 and 0700 on Unix,
//!   on Windows an access list that grants the user alone
//!   ([`open_private`], [`create_private_dir`], [`set_mode`],
//!   [`open_to_others`], [`owned_by_user`]; `docs/windows.md` says how);
//! - a pointer replaced by one rename ([`write_pointer`], [`read_pointer`]):
//!   a symlink on Unix, a small file on Windows, where a symlink needs a
//!   privilege;
//! - who the user is ([`user_id`], [`user_name`], [`home_from_user_database`],
//!   [`USER_NAME_VARIABLE`]), which file a path is ([`file_id`]), what may
//!   run ([`is_program`]), and the terminal ([`Tty`], [`EchoOff`]);
//! - the bytes of a name (on Unix any bytes; on Windows Unicode);
//! - ssh's name (`ssh`, `ssh.exe`) and, on Windows, where ssh is installed
//!   when `PATH` does not say ([`is_ssh_name`], [`ssh_off_path`]).
//!
//! Whole features that exist on Unix alone for now (`certsh agent` and its
//! socket, the ownership walk of `config/trust.rs`) are gated where they
//! live; `docs/windows.md` lists them.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

pub use imp::{
    EchoOff, Tty, USER_NAME_VARIABLE, create_private_dir, create_private_dir_all, detach,
    each_variable, exec, file_id, home_from_user_database, is_program, is_ssh_name, leave_session,
    main_args, mode_of, no_core_dumps, open_private, open_to_others, os_str_from_bytes,
    os_string_from_bytes, owned_by_user, private_temp_dir, private_temp_file, read_pointer,
    set_mode, short_path, socket_answers, ssh_off_path, user_id, user_name, write_pointer,
};

/// Removes `vars` from this process's own environment. For the shim's last
/// step alone (`secret::forget_token_variables`): a program whose
/// environment is unchanged passes it on as it is, while std copies the
/// whole of it for a child whose environment was changed, which was a fifth
/// of the shim's work with a token variable set (docs/benchmarks.md).
///
/// Changing the environment is unsafe only while another thread may read it.
/// The shim starts no thread: its `main` calls `connect::ssh::run_shim`,
/// which starts none (the background renewal is a process). Debug builds,
/// which the tests run, check that on Linux.
#[allow(unsafe_code)]
pub(crate) fn forget_variables<'a>(vars: impl IntoIterator<Item = &'a str>) {
    #[cfg(all(debug_assertions, target_os = "linux"))]
    {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        assert!(
            status
                .lines()
                .any(|l| l.split_whitespace().eq(["Threads:", "1"])),
            "forget_variables in a process with threads"
        );
    }
    for var in vars {
        // SAFETY: the process has one thread (above), so nothing reads the
        // environment while it changes.
        unsafe { std::env::remove_var(var) };
    }
}

/// Whether a rename may replace a file that another process has open. On
/// Unix it always may. On Windows it fails while the file is open without
/// sharing for deletes, which is how the C runtime's `fopen`, and so
/// Windows OpenSSH, opens a certificate; `state/store.rs` then writes a new
/// generation instead.
pub const RENAMES_OVER_OPEN_FILES: bool = cfg!(unix);

/// Opens `path` for reading as the C runtime's `fopen` does, and so Windows
/// OpenSSH: shared for reading and writing, not for deleting (a plain open
/// on Unix). For tests of what a reader in another process does.
#[cfg(test)]
pub fn open_as_c_fopen(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    imp::open_as_c_fopen(path)
}

/// Whether `current` in a state folder is a symlink that a path can go
/// through (`<state>/current/id_ed25519`). On Windows it is a small file
/// that names the generation ([`write_pointer`]): ssh_config's block then
/// names the key and certificate through a file it includes
/// (`setup/ssh_config.rs`).
pub const POINTER_IS_A_LINK: bool = cfg!(unix);

/// The name of the real ssh's program file (`ssh.exe` on Windows).
pub const SSH_PROGRAM: &str = imp::SSH_PROGRAM;

/// The variable naming where a program keeps its own state, when the
/// platform has one apart from the config folder: `LOCALAPPDATA` on
/// Windows; none on Unix, where certsh's state is in the config folder.
pub const OWN_STATE_VAR: Option<&str> = if cfg!(windows) {
    Some("LOCALAPPDATA")
} else {
    None
};
