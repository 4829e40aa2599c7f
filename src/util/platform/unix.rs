//! The Unix side of the platform layer: `exec`, modes 0600 and 0700, uids,
//! devices and inodes, and the terminal through termios.

use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};

pub const SSH_PROGRAM: &str = "ssh";

/// Calls `f` with the name and value of each variable of this process's
/// environment, in order, borrowed from the environment itself: for
/// `config::EnvSnapshot`, which keeps them in one block, where
/// `std::env::vars_os` makes two allocations a variable (a connection's
/// largest single cost with a few dozen variables, docs/benchmarks.md).
/// Entries are split as std splits them: the name is at least one byte,
/// up to the first `=` after it; an entry without one is passed over.
///
/// It reads `environ` without std's lock, which only a thread that changes
/// the environment meanwhile could race with. certsh changes its
/// environment in one place, [`super::forget_variables`], in the shim,
/// which has no thread and has read its environment by then.
#[allow(unsafe_code)]
pub fn each_variable(mut f: impl FnMut(&[u8], &[u8])) {
    let mut entry = environ();
    if entry.is_null() {
        return;
    }
    loop {
        // SAFETY: `environ` is an array of C strings that ends with a null
        // pointer, unchanged while it is read (above).
        let p = unsafe { *entry };
        if p.is_null() {
            return;
        }
        // SAFETY: as above.
        let bytes = unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes();
        if let Some(eq) = bytes.iter().skip(1).position(|&b| b == b'=') {
            let eq = eq + 1;
            f(&bytes[..eq], &bytes[eq + 1..]);
        }
        // SAFETY: `entry` was not the last element, the null pointer.
        entry = unsafe { entry.add(1) };
    }
}

/// The C runtime's `environ`.
#[allow(unsafe_code)]
fn environ() -> *const *const std::ffi::c_char {
    #[cfg(target_vendor = "apple")]
    {
        unsafe extern "C" {
            fn _NSGetEnviron() -> *mut *const *const std::ffi::c_char;
        }
        // SAFETY: libSystem's accessor for the process's `environ`.
        unsafe { *_NSGetEnviron() }
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        unsafe extern "C" {
            static environ: *const *const std::ffi::c_char;
        }
        // SAFETY: reading the pointer itself; see `each_variable`.
        unsafe { environ }
    }
}

/// The arguments after the program's name, from the `argc` and `argv` the
/// C runtime passes `main`: for the shim, which starts without std's
/// runtime (`src/bin/certsh-ssh.rs`), and so without the arguments std
/// keeps on musl.
///
/// # Safety
/// `argv` holds `argc` pointers to NUL-terminated strings.
#[allow(unsafe_code)]
pub unsafe fn main_args(
    argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
) -> Vec<OsString> {
    let count = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (1..count)
        .map(|i| {
            // SAFETY: the caller's promise, for each i below argc.
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect()
}

/// Whether a program's file name is ssh's: the shim is certsh named `ssh`.
pub fn is_ssh_name(name: &OsStr) -> bool {
    name == SSH_PROGRAM
}

/// Where an ssh is found when `PATH` has none but certsh: nowhere else on
/// Unix.
pub fn ssh_off_path() -> Vec<PathBuf> {
    vec![]
}

/// Replaces this process with `cmd`. Returns only on failure.
pub fn exec(cmd: &mut Command) -> io::Error {
    cmd.exec()
}

/// On Linux, marks the process not dumpable (`PR_SET_DUMPABLE`: no core
/// file, no ptrace or `/proc` reading by other processes of the user);
/// nothing elsewhere. `util/secret.rs` says why.
pub fn no_core_dumps() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{DumpableBehavior, set_dumpable_behavior};
        // Best effort: a kernel that refuses leaves things as they were.
        let _ = set_dumpable_behavior(DumpableBehavior::NotDumpable);
    }
}

/// Nothing to set on Unix: the child leaves the session itself
/// ([`leave_session`]), so that it outlives the terminal.
pub fn detach(cmd: &mut Command) -> &mut Command {
    cmd
}

/// Leaves the terminal's session (`setsid`), so that closing the terminal
/// does not stop this process. Best effort.
pub fn leave_session() {
    let _ = rustix::process::setsid();
}

/// The variable that holds the login name (the official CLI's credential
/// helper items are stored under it).
pub const USER_NAME_VARIABLE: &str = "USER";

/// The real uid, as text: it names the temporary state folder and is
/// quoted in messages.
pub fn user_id() -> String {
    rustix::process::getuid().as_raw().to_string()
}

/// The home directory in the password database, which is where OpenSSH
/// looks for `~/.ssh/config` whatever `$HOME` says (CI runners differ).
pub fn home_from_user_database() -> Option<PathBuf> {
    own_entry().map(|entry| entry.home)
}

/// The real uid's login name in the password database: the user ssh
/// connects as when none is given.
pub fn user_name() -> Option<String> {
    own_entry().map(|entry| entry.name)
}

/// The real uid's entry in the password database: the fields certsh reads.
struct Entry {
    name: String,
    home: PathBuf,
}

/// On Linux the database is `/etc/passwd`, read directly: the release
/// binary is static and loads no NSS module (a user known only to LDAP or
/// systemd-homed gets `None`, and certsh then goes by `$HOME`).
#[cfg(not(target_os = "macos"))]
fn own_entry() -> Option<Entry> {
    let uid = user_id();
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[2] == uid).then(|| Entry {
            name: f[0].to_string(),
            home: PathBuf::from(f[5]),
        })
    })
}

/// macOS keeps ordinary users in Open Directory, not in `/etc/passwd`:
/// ask `getpwuid_r`, as ssh itself does.
#[cfg(target_os = "macos")]
fn own_entry() -> Option<Entry> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::current()).ok()??;
    Some(Entry {
        name: user.name,
        home: user.dir,
    })
}

#[cfg(test)]
pub(super) fn open_as_c_fopen(path: &Path) -> io::Result<fs::File> {
    fs::File::open(path)
}

/// A path's short form without spaces: Windows alone has one.
pub fn short_path(_path: &Path) -> Option<PathBuf> {
    None
}

/// A file's device and inode, if it can be read.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Opens `path` with `opts`; a file it creates is 0600.
pub fn open_private(opts: &mut OpenOptions, path: &Path) -> io::Result<File> {
    opts.mode(0o600).open(path)
}

/// Creates the folder `path`, 0700.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(0o700).create(path)
}

/// Creates the folder `path` and the missing ones above it, each 0700.
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(0o700).recursive(true).create(path)
}

/// Sets the permission bits of `path` to `mode`.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Whether others than the user may open the file or folder whose
/// metadata is `meta`; then what lets them in (`mode 755`).
pub fn open_to_others(_path: &Path, meta: &Metadata) -> Option<String> {
    (meta.mode() & 0o077 != 0).then(|| format!("mode {:o}", meta.mode() & 0o777))
}

/// The permission bits of the file whose metadata is `meta`, to give
/// its replacement the same.
pub fn mode_of(_path: &Path, meta: &Metadata) -> u32 {
    meta.permissions().mode() & 0o7777
}

/// Whether the file whose metadata is `meta` belongs to the user.
pub fn owned_by_user(_path: &Path, meta: &Metadata) -> bool {
    meta.uid() == rustix::process::getuid().as_raw()
}

/// Whether `meta` is that of a program the user may run.
pub fn is_program(meta: &Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// A temporary file in `dir`, named `<prefix>...`, created with `mode`.
pub fn private_temp_file(
    dir: &Path,
    prefix: &str,
    mode: u32,
) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
}

/// A temporary folder, 0700, named `<prefix>...`.
pub fn private_temp_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir()
}

/// Whether something accepts connections on the Unix socket `path`.
pub fn socket_answers(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Bytes as a name: on Unix any bytes are one.
pub fn os_string_from_bytes(bytes: Vec<u8>) -> OsString {
    OsString::from_vec(bytes)
}

/// Bytes as a name: on Unix any bytes are one.
pub fn os_str_from_bytes(bytes: &[u8]) -> Option<&OsStr> {
    Some(OsStr::from_bytes(bytes))
}

/// `saved` with echo off, as `stty -echo echonl`: the Enter still shows.
fn quiet(saved: &Termios) -> Termios {
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    quiet
}

/// Standard input with echo off until dropped.
pub struct EchoOff {
    saved: Termios,
}

impl EchoOff {
    /// Turns echo off on standard input, a terminal.
    pub fn stdin() -> Result<EchoOff> {
        let stdin = io::stdin();
        let saved = tcgetattr(&stdin).context("cannot read the terminal settings")?;
        tcsetattr(&stdin, OptionalActions::Flush, &quiet(&saved))
            .context("cannot turn off echo")?;
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The controlling terminal (`/dev/tty`), read without waiting and with
/// echo off until dropped; standard input and output keep blocking.
pub struct Tty {
    tty: File,
    saved: Termios,
}

impl Tty {
    /// Opens `/dev/tty`, non-blocking, with echo off.
    pub fn open() -> Result<Tty> {
        let tty = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .context("cannot open the terminal (/dev/tty) to read the pasted address")?;
        // This open file is certsh's own: stdin and stderr keep blocking.
        rustix::io::ioctl_fionbio(&tty, true)
            .context("cannot read the terminal without waiting")?;
        let saved = tcgetattr(&tty).context("cannot read the terminal settings")?;
        tcsetattr(&tty, OptionalActions::Flush, &quiet(&saved)).context("cannot turn off echo")?;
        Ok(Tty { tty, saved })
    }
}

impl Read for Tty {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tty.read(buf)
    }
}

impl Write for Tty {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tty.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tty.flush()
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = tcsetattr(&self.tty, OptionalActions::Now, &self.saved);
    }
}

/// Makes `link` name `target` (a symlink), for a rename over the pointer
/// in use ([`read_pointer`]).
pub fn write_pointer(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// What the pointer `link` names.
pub fn read_pointer(link: &Path) -> io::Result<PathBuf> {
    fs::read_link(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_is_named_ssh() {
        assert!(is_ssh_name(OsStr::new("ssh")));
        assert!(!is_ssh_name(OsStr::new("ssh.exe")));
        assert!(!is_ssh_name(OsStr::new("certsh")));
        assert!(ssh_off_path().is_empty());
    }

    #[test]
    fn a_pointer_is_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("current");
        write_pointer(Path::new("gen-1-a"), &link).unwrap();
        assert_eq!(read_pointer(&link).unwrap(), Path::new("gen-1-a"));
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
