//! The Windows side of the platform layer. Windows has no `exec`, no modes
//! and no uids: ssh runs as a child whose exit code certsh passes on, a
//! private file is one whose access list grants its user alone, and a file
//! is known by its volume and file index.
//!
//! The calls into Windows (`windows-sys`) are the only unsafe code in
//! certsh; each block says what it relies on.

#![allow(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::{null, null_mut};

use anyhow::{Context, Result};
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_SUCCESS, HANDLE, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE, LocalFree,
    SetHandleInformation,
};
use windows_sys::Win32::Security::Authorization::{
    GetNamedSecurityInfoW, SE_FILE_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_REVISION, AddAccessAllowedAceEx,
    CONTAINER_INHERIT_ACE, DACL_SECURITY_INFORMATION, EqualSid, GetAce, GetLengthSid,
    GetTokenInformation, INHERIT_ONLY_ACE, InitializeAcl, IsWellKnownSid, OBJECT_INHERIT_ACE,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    TOKEN_QUERY, TOKEN_USER, TokenUser, WinBuiltinAdministratorsSid, WinLocalSystemSid,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_ALL_ACCESS, FILE_FLAG_BACKUP_SEMANTICS, FILE_READ_ATTRIBUTES,
    GetFileInformationByHandle, GetShortPathNameW,
};
use windows_sys::Win32::System::Console::{
    CONSOLE_MODE, ENABLE_ECHO_INPUT, GetConsoleMode, GetStdHandle, STD_ERROR_HANDLE,
    STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, SetConsoleCtrlHandler, SetConsoleMode,
};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS, GetCurrentProcess, OpenProcessToken,
};
use windows_sys::core::BOOL;

pub const SSH_PROGRAM: &str = "ssh.exe";

/// Whether a program's file name is ssh's (`ssh.exe`, or `ssh` as typed at
/// a prompt), in any case, as Windows compares names.
pub fn is_ssh_name(name: &OsStr) -> bool {
    let name = Path::new(name);
    name.file_stem()
        .is_some_and(|s| s.eq_ignore_ascii_case("ssh"))
        && name
            .extension()
            .is_none_or(|e| e.eq_ignore_ascii_case("exe"))
}

/// Where an ssh is found when `PATH` has none but certsh: the OpenSSH
/// client that ships with Windows, then Git for Windows' own.
pub fn ssh_off_path() -> Vec<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut out = vec![];
    if let Some(root) = var("SystemRoot") {
        out.push(root.join(r"System32\OpenSSH\ssh.exe"));
    }
    for programs in [var("ProgramFiles"), var("ProgramW6432")]
        .into_iter()
        .flatten()
    {
        out.push(programs.join(r"Git\usr\bin\ssh.exe"));
    }
    out
}

/// Tells Windows that certsh has handled a console event: Ctrl+C and
/// Ctrl+Break reach every process on the console, and ssh, the child,
/// decides what they mean. A handler, unlike ignoring the events, is not
/// inherited: ssh still gets them.
unsafe extern "system" fn leave_to_the_child(_event: u32) -> BOOL {
    1
}

/// Runs `cmd` with this process's standard handles and exits with its
/// code, as `exec` would leave it. Returns only when it cannot start.
pub fn exec(cmd: &mut Command) -> io::Error {
    // SAFETY: the handler is a plain function that touches nothing.
    unsafe { SetConsoleCtrlHandler(Some(leave_to_the_child), 1) };
    match cmd.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(255)),
        Err(e) => {
            // SAFETY: as above; removes the same handler.
            unsafe { SetConsoleCtrlHandler(Some(leave_to_the_child), 0) };
            e
        }
    }
}

/// Starts `cmd` outside this console and its Ctrl+C group, so that it
/// outlives the window it was started from, and holding none of this
/// process's standard handles.
///
/// Windows gives a child every inheritable handle of its parent, whatever
/// the child's own standard handles are (std starts children with
/// `bInheritHandles`). The standard handles this process got from git are
/// inheritable, so a background renewal would hold git's pipe open, and
/// git waits for the pipe's end: the end-to-end test under Wine found it.
/// So they are made not inheritable first. A child started later with
/// inherited standard handles (ssh.exe) still gets them: std gives it
/// inheritable duplicates.
pub fn detach(cmd: &mut Command) -> &mut Command {
    for id in [STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE] {
        // SAFETY: GetStdHandle returns one of this process's handles, or
        // null or INVALID_HANDLE_VALUE, which are skipped; the call only
        // clears the handle's inherit flag.
        unsafe {
            let handle = GetStdHandle(id);
            if !handle.is_null() && handle != INVALID_HANDLE_VALUE {
                SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0);
            }
        }
    }
    cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP)
}

/// Nothing to do on Windows: `util/secret.rs` says why.
pub fn no_core_dumps() {}

/// Calls `f` with the name and value of each variable of this process's
/// environment, in order, as the bytes of their `OsStr`s (see the Unix
/// side; here std's copies, which `os_string_from_bytes` reads back).
pub fn each_variable(mut f: impl FnMut(&[u8], &[u8])) {
    for (name, value) in std::env::vars_os() {
        f(name.as_encoded_bytes(), value.as_encoded_bytes());
    }
}

/// The arguments after the program's name, read from the command line as
/// std reads it (UTF-16, which `argv` would have lost): `argc` and `argv`
/// go unused.
///
/// # Safety
/// None needed; the signature is the Unix one's.
pub unsafe fn main_args(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> Vec<OsString> {
    std::env::args_os().skip(1).collect()
}

/// Nothing to do on Windows: [`detach`] started this process on its own.
pub fn leave_session() {}

/// The variable that holds the login name (the official CLI's credential
/// helper items are stored under it).
pub const USER_NAME_VARIABLE: &str = "USERNAME";

/// The user's name (`%USERNAME%`): it names the temporary state folder
/// (the temp folder is the user's own already) and is quoted in messages.
pub fn user_id() -> String {
    std::env::var("USERNAME").unwrap_or_else(|_| "user".into())
}

/// The login name ssh.exe connects as when none is given (`%USERNAME%`).
pub fn user_name() -> Option<String> {
    std::env::var("USERNAME").ok().filter(|v| !v.is_empty())
}

/// The user's profile folder (`%USERPROFILE%`), where Windows OpenSSH
/// looks for `.ssh\config`.
pub fn home_from_user_database() -> Option<PathBuf> {
    std::env::var_os("USERPROFILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
pub(super) fn open_as_c_fopen(path: &Path) -> io::Result<File> {
    use windows_sys::Win32::Storage::FileSystem::{FILE_SHARE_READ, FILE_SHARE_WRITE};
    OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .open(path)
}

/// The path's short (8.3) form, `C:\\Users\\JOHNSM~1\\...`, where its
/// volume keeps short names (`GetShortPathNameW`); `None` where it keeps
/// none, or the path does not exist.
pub fn short_path(path: &Path) -> Option<PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    let long = wide(path);
    let mut buf = vec![0u16; 1024];
    // SAFETY: `long` is NUL-terminated and `buf` holds `buf.len()` units.
    let n = unsafe { GetShortPathNameW(long.as_ptr(), buf.as_mut_ptr(), buf.len() as u32) };
    let n = usize::try_from(n).ok()?;
    (n > 0 && n < buf.len()).then(|| PathBuf::from(OsString::from_wide(&buf[..n])))
}

/// A file's volume serial number and file index, if it can be opened.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    // Attributes only, and folders too (backup semantics).
    let file = OpenOptions::new()
        .access_mode(FILE_READ_ATTRIBUTES)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)
        .ok()?;
    // SAFETY: an all-zero BY_HANDLE_FILE_INFORMATION is valid, and the
    // handle is open for the call.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle() as HANDLE, &mut info) };
    (ok != 0).then(|| {
        (
            u64::from(info.dwVolumeSerialNumber),
            (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        )
    })
}

/// The user this process runs as: the SID in its token.
struct User {
    /// A `TOKEN_USER` and the SID it points into, 8-byte aligned.
    buf: Vec<u64>,
}

impl User {
    fn current() -> io::Result<User> {
        let mut token: HANDLE = null_mut();
        // SAFETY: the pseudo-handle of this process needs no closing; the
        // token handle is closed below.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut len = 0u32;
        // SAFETY: a null buffer of length 0 asks for the length only.
        unsafe { GetTokenInformation(token, TokenUser, null_mut(), 0, &mut len) };
        let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
        // SAFETY: `buf` holds `len` bytes, aligned for TOKEN_USER.
        let ok = unsafe {
            GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), len, &mut len)
        };
        let err = io::Error::last_os_error();
        // SAFETY: the token was opened above.
        unsafe { CloseHandle(token) };
        if ok == 0 {
            return Err(err);
        }
        Ok(User { buf })
    }

    fn sid(&self) -> PSID {
        // SAFETY: GetTokenInformation filled the buffer with a TOKEN_USER
        // whose SID lies inside the same buffer.
        unsafe { (*self.buf.as_ptr().cast::<TOKEN_USER>()).User.Sid }
    }

    /// The user, or the system and the administrators, whom Windows
    /// OpenSSH accepts beside the user on a private key (as root on Unix).
    fn is_trusted(&self, sid: PSID) -> bool {
        // SAFETY: both SIDs are valid for the call.
        unsafe {
            EqualSid(sid, self.sid()) != 0
                || IsWellKnownSid(sid, WinLocalSystemSid) != 0
                || IsWellKnownSid(sid, WinBuiltinAdministratorsSid) != 0
        }
    }
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// An access list in a buffer of its own, 8-byte aligned.
struct Acl {
    buf: Vec<u64>,
}

impl Acl {
    /// One entry: full control for `user`. A folder's entry is inherited by
    /// what is later created in it, so a file made in a private folder is
    /// private from its first byte.
    fn private_to(user: &User, folder: bool) -> io::Result<Acl> {
        // SAFETY: the SID is valid.
        let sid_len = unsafe { GetLengthSid(user.sid()) } as usize;
        // The ACL's header, then one ACE whose last field is the SID's start.
        let size = (size_of::<ACL>() + size_of::<ACCESS_ALLOWED_ACE>() - size_of::<u32>()
            + sid_len)
            .next_multiple_of(4);
        let mut acl = Acl {
            buf: vec![0u64; size.div_ceil(8)],
        };
        let inherit = if folder {
            OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE
        } else {
            0
        };
        // SAFETY: `buf` holds `size` bytes, aligned for an ACL.
        unsafe {
            if InitializeAcl(acl.as_ptr(), size as u32, ACL_REVISION) == 0
                || AddAccessAllowedAceEx(
                    acl.as_ptr(),
                    ACL_REVISION,
                    inherit,
                    FILE_ALL_ACCESS,
                    user.sid(),
                ) == 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(acl)
    }

    fn as_ptr(&mut self) -> *mut ACL {
        self.buf.as_mut_ptr().cast()
    }

    #[cfg(test)]
    fn get(&self) -> &ACL {
        // SAFETY: the buffer holds an initialised ACL, aligned for it.
        unsafe { &*self.buf.as_ptr().cast::<ACL>() }
    }
}

/// Replaces the access list of `path` by [`Acl::private_to`] the user, with
/// nothing inherited from the folders above.
fn protect(path: &Path, folder: bool) -> io::Result<()> {
    let mut acl = Acl::private_to(&User::current()?, folder)?;
    let name = wide(path);
    // SAFETY: `name` is NUL-terminated; owner, group and SACL are left
    // alone (null); the list lives until SetNamedSecurityInfoW has copied it.
    let r = unsafe {
        SetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            acl.as_ptr(),
            null(),
        )
    };
    if r != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(r as i32));
    }
    Ok(())
}

/// Opens `path` with `opts` and makes it the user's alone.
pub fn open_private(opts: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let file = opts.open(path)?;
    protect(path, false)?;
    Ok(file)
}

/// Creates the folder `path`, the user's alone (and what is made in it).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)?;
    protect(path, true).inspect_err(|_| {
        let _ = fs::remove_dir(path);
    })
}

/// Creates the folder `path` and the missing ones above it, each the
/// user's alone.
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = path.ancestors().take_while(|p| !p.exists()).collect();
    for dir in missing.into_iter().rev() {
        match create_private_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Makes `path` the user's alone when `mode` (Unix's bits) gives others
/// nothing; otherwise leaves the access list it inherited.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    if mode & 0o077 == 0 {
        protect(path, path.is_dir())
    } else {
        Ok(())
    }
}

/// The security descriptor of `path` with its owner and access list,
/// freed when dropped.
struct Security {
    descriptor: PSECURITY_DESCRIPTOR,
    owner: PSID,
    dacl: *mut ACL,
}

impl Security {
    fn of(path: &Path) -> io::Result<Security> {
        let name = wide(path);
        let mut s = Security {
            descriptor: null_mut(),
            owner: null_mut(),
            dacl: null_mut(),
        };
        // SAFETY: `name` is NUL-terminated; the out pointers are valid and
        // point into the descriptor, which Drop frees.
        let r = unsafe {
            GetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                &mut s.owner,
                null_mut(),
                &mut s.dacl,
                null_mut(),
                &mut s.descriptor,
            )
        };
        if r != ERROR_SUCCESS {
            return Err(io::Error::from_raw_os_error(r as i32));
        }
        Ok(s)
    }

    /// The access list, if the descriptor has one.
    fn dacl(&self) -> Option<&ACL> {
        // SAFETY: null, or a list inside the descriptor, which lives as long
        // as `self`.
        unsafe { self.dacl.as_ref() }
    }
}

impl Drop for Security {
    fn drop(&mut self) {
        // SAFETY: GetNamedSecurityInfoW allocated it with LocalAlloc.
        unsafe { LocalFree(self.descriptor) };
    }
}

/// Whether an entry of the access list `dacl` lets in someone other than
/// the user, the system or the administrators. No list at all lets in
/// everyone.
fn lets_others_in(dacl: Option<&ACL>, user: &User) -> bool {
    let Some(dacl) = dacl else {
        return true;
    };
    // SAFETY: each ACE GetAce returns lies inside the list, and an allowing
    // ACE of type 0 is ACCESS_ALLOWED_ACE.
    unsafe {
        for i in 0..u32::from(dacl.AceCount) {
            let mut ace = null_mut();
            if GetAce(dacl, i, &mut ace) == 0 {
                return true;
            }
            let header = &*ace.cast::<ACE_HEADER>();
            if u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0 {
                continue;
            }
            match header.AceType {
                // ACCESS_ALLOWED_ACE_TYPE
                0 => {
                    let start = &raw const (*ace.cast::<ACCESS_ALLOWED_ACE>()).SidStart;
                    if !user.is_trusted(start.cast_mut().cast()) {
                        return true;
                    }
                }
                // The object and callback kinds of allowing entries:
                // not read here, so counted as letting others in.
                5 | 9 | 11 => return true,
                // Denying and auditing entries let nobody in.
                _ => {}
            }
        }
    }
    false
}

/// Whether others than the user (the system and the administrators
/// aside) may open `path`; then what lets them in.
pub fn open_to_others(path: &Path, _meta: &Metadata) -> Option<String> {
    if cfg!(feature = "unchecked-access-lists") {
        return None;
    }
    let user = match User::current() {
        Ok(u) => u,
        Err(e) => return Some(format!("whose access list cannot be checked: {e}")),
    };
    match Security::of(path) {
        Ok(s) if lets_others_in(s.dacl(), &user) => Some("its access list lets others in".into()),
        Ok(_) => None,
        Err(e) => Some(format!("its access list cannot be read: {e}")),
    }
}

/// Unix's bits for what [`set_mode`] would give `path` again: 0600 for a
/// file that is the user's alone, else 0644 (the access list it inherits).
pub fn mode_of(path: &Path, meta: &Metadata) -> u32 {
    if open_to_others(path, meta).is_some() {
        0o644
    } else {
        0o600
    }
}

/// Whether `path` belongs to the user (or to the administrators, who own
/// what an elevated process of the user's creates).
pub fn owned_by_user(path: &Path, _meta: &Metadata) -> bool {
    if cfg!(feature = "unchecked-access-lists") {
        return true;
    }
    match (User::current(), Security::of(path)) {
        (Ok(user), Ok(s)) => !s.owner.is_null() && user.is_trusted(s.owner),
        _ => false,
    }
}

/// Whether `meta` is that of a program: on Windows any file may run.
pub fn is_program(meta: &Metadata) -> bool {
    meta.is_file()
}

/// A temporary file in `dir`, named `<prefix>...`, the user's alone when
/// `mode` gives others nothing (see [`set_mode`]).
pub fn private_temp_file(
    dir: &Path,
    prefix: &str,
    mode: u32,
) -> io::Result<tempfile::NamedTempFile> {
    let tmp = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    set_mode(tmp.path(), mode)?;
    Ok(tmp)
}

/// A temporary folder, the user's alone, named `<prefix>...`.
pub fn private_temp_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
    protect(dir.path(), true)?;
    Ok(dir)
}

/// Unix sockets are not served on Windows (`certsh agent` is Unix-only for
/// now): nothing answers.
pub fn socket_answers(_path: &Path) -> bool {
    false
}

/// Bytes taken from a name (`as_encoded_bytes`) as a name again: Unicode
/// ones exactly; a lone surrogate, which Unicode cannot hold, becomes U+FFFD.
pub fn os_string_from_bytes(bytes: Vec<u8>) -> OsString {
    match String::from_utf8(bytes) {
        Ok(s) => s.into(),
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned().into(),
    }
}

/// Bytes as a name, when they are Unicode.
pub fn os_str_from_bytes(bytes: &[u8]) -> Option<&OsStr> {
    std::str::from_utf8(bytes).ok().map(OsStr::new)
}

/// Standard input with echo off until dropped.
pub struct EchoOff {
    saved: CONSOLE_MODE,
}

impl EchoOff {
    /// Turns echo off on standard input, a console.
    pub fn stdin() -> Result<EchoOff> {
        let handle = io::stdin().as_raw_handle() as HANDLE;
        let mut saved: CONSOLE_MODE = 0;
        // SAFETY: standard input's handle stays open; `saved` is valid.
        if unsafe { GetConsoleMode(handle, &mut saved) } == 0 {
            return Err(io::Error::last_os_error()).context("cannot read the console's mode");
        }
        // SAFETY: as above.
        if unsafe { SetConsoleMode(handle, saved & !ENABLE_ECHO_INPUT) } == 0 {
            return Err(io::Error::last_os_error()).context("cannot turn off echo");
        }
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // The Enter was not echoed either: end the prompt's line.
        let _ = io::stderr().write_all(b"\r\n");
        // SAFETY: standard input's handle stays open.
        unsafe { SetConsoleMode(io::stdin().as_raw_handle() as HANDLE, self.saved) };
    }
}

/// The terminal read without waiting: not on Windows yet, whose console
/// has no such mode for lines (paste mode is Unix-only for now).
pub enum Tty {}

impl Tty {
    /// Says that paste mode needs a Unix terminal.
    pub fn open() -> Result<Tty> {
        anyhow::bail!(
            "paste mode reads the terminal while it waits, which certsh does on Unix only for now \
             (log in without --paste, or with certsh login --api-token)"
        )
    }
}

impl Read for Tty {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
}

impl Write for Tty {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        match *self {}
    }
    fn flush(&mut self) -> io::Result<()> {
        match *self {}
    }
}

/// Writes the pointer `link` (a small file holding `target`) for a rename
/// over the pointer in use: a symlink on Windows needs a privilege.
pub fn write_pointer(target: &Path, link: &Path) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(link)?;
    f.write_all(target.as_os_str().as_encoded_bytes())?;
    f.sync_all()
}

/// What the pointer `link` names.
pub fn read_pointer(link: &Path) -> io::Result<PathBuf> {
    let text = fs::read_to_string(link)?;
    if text.is_empty() || text.contains(['\\', '/', '\n']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} does not name a generation", link.display()),
        ));
    }
    Ok(PathBuf::from(text))
}

// Beside this file, not in a folder of its own: certsh's folders are at most
// two levels deep.
#[cfg(test)]
#[path = "windows_tests.rs"]
mod tests;
