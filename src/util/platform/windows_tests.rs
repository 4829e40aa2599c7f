//! The Windows layer's own tests, run under Wine (scripts/wine) and on
//! the workflow's Windows job.

use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetSecurityDescriptorDacl, InitializeSecurityDescriptor, SE_DACL_PROTECTED,
    SetSecurityDescriptorControl, SetSecurityDescriptorDacl,
};

use super::*;

#[test]
fn ssh_is_ssh_exe_in_any_case() {
    for name in ["ssh.exe", "SSH.EXE", "ssh", "Ssh.Exe"] {
        assert!(is_ssh_name(OsStr::new(name)), "{name}");
    }
    for name in ["ssh.bat", "certsh.exe", "sshd.exe", "ssh.exe.txt"] {
        assert!(!is_ssh_name(OsStr::new(name)), "{name}");
    }
}

#[test]
fn a_private_file_and_folder_let_nobody_else_in() {
    let dir = private_temp_dir("certsh-test-").unwrap();
    let meta = fs::metadata(dir.path()).unwrap();
    assert_eq!(open_to_others(dir.path(), &meta), None);
    assert!(owned_by_user(dir.path(), &meta));
    let path = dir.path().join("key");
    let mut f = open_private(OpenOptions::new().write(true).create_new(true), &path).unwrap();
    f.write_all(b"secret").unwrap();
    drop(f);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(open_to_others(&path, &meta), None);
    assert_eq!(mode_of(&path, &meta), 0o600);
    // A file created in the private folder inherits its one entry.
    let inherited = dir.path().join("plain");
    fs::write(&inherited, "x").unwrap();
    let meta = fs::metadata(&inherited).unwrap();
    assert_eq!(open_to_others(&inherited, &meta), None);
}

/// The current user's SID, as SDDL writes it (`S-1-5-21-...`).
fn my_sid() -> String {
    let user = User::current().unwrap();
    let mut text = null_mut();
    // SAFETY: the SID is valid; the string is freed below.
    assert_ne!(unsafe { ConvertSidToStringSidW(user.sid(), &mut text) }, 0);
    // SAFETY: the call returned a NUL-terminated string.
    let sid = unsafe { from_wide(text) };
    // SAFETY: allocated by the call with LocalAlloc.
    unsafe { LocalFree(text.cast()) };
    sid
}

/// A NUL-terminated wide string, as a String.
unsafe fn from_wide(text: *const u16) -> String {
    // SAFETY: the caller's string ends with a NUL.
    let len = (0..).take_while(|&i| unsafe { *text.add(i) } != 0).count();
    // SAFETY: `len` units before the NUL.
    String::from_utf16(unsafe { std::slice::from_raw_parts(text, len) }).unwrap()
}

/// Windows' SECURITY_DESCRIPTOR_REVISION (in a module of windows-sys
/// that certsh does not otherwise need).
const SECURITY_DESCRIPTOR_REVISION: u32 = 1;

/// `acl` as SDDL, as a protected access list (as `protect` sets it).
fn sddl_of(acl: &mut Acl) -> String {
    let mut descriptor = vec![0u64; 8];
    let sd: PSECURITY_DESCRIPTOR = descriptor.as_mut_ptr().cast();
    let mut text = null_mut();
    // SAFETY: the buffer is larger than a SECURITY_DESCRIPTOR and
    // outlives the calls; the string is freed below.
    unsafe {
        assert_ne!(
            InitializeSecurityDescriptor(sd, SECURITY_DESCRIPTOR_REVISION),
            0
        );
        assert_ne!(SetSecurityDescriptorDacl(sd, 1, acl.as_ptr(), 0), 0);
        assert_ne!(
            SetSecurityDescriptorControl(sd, SE_DACL_PROTECTED, SE_DACL_PROTECTED),
            0
        );
        assert_ne!(
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                sd,
                SDDL_REVISION_1,
                DACL_SECURITY_INFORMATION,
                &mut text,
                null_mut(),
            ),
            0
        );
        let out = from_wide(text);
        LocalFree(text.cast());
        out
    }
}

/// The access list SDDL `text` describes, in a descriptor freed on drop.
fn from_sddl(text: &str) -> Security {
    let wide: Vec<u16> = text.encode_utf16().chain(Some(0)).collect();
    let mut s = Security {
        descriptor: null_mut(),
        owner: null_mut(),
        dacl: null_mut(),
    };
    let (mut present, mut defaulted) = (0, 0);
    // SAFETY: `wide` is NUL-terminated; the descriptor is Security's to
    // free, and the list lies inside it.
    unsafe {
        assert_ne!(
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut s.descriptor,
                null_mut(),
            ),
            0,
            "{text}: {}",
            io::Error::last_os_error()
        );
        assert_ne!(
            GetSecurityDescriptorDacl(s.descriptor, &mut present, &mut s.dacl, &mut defaulted),
            0
        );
    }
    if present == 0 {
        s.dacl = null_mut();
    }
    s
}

// The list `protect` gives a file and a folder, built here and read back
// as text: Wine builds it as Windows does, though it does not keep it on
// the file (tests/wine-skips), so this part runs under Wine too.
#[test]
fn the_private_access_list_is_the_users_entry_alone_and_a_folders_is_inherited() {
    let user = User::current().unwrap();
    let me = my_sid();
    let mut file = Acl::private_to(&user, false).unwrap();
    assert_eq!(sddl_of(&mut file), format!("D:P(A;;FA;;;{me})"));
    assert!(!lets_others_in(Some(file.get()), &user));
    let mut folder = Acl::private_to(&user, true).unwrap();
    assert_eq!(sddl_of(&mut folder), format!("D:P(A;OICI;FA;;;{me})"));
    assert!(!lets_others_in(Some(folder.get()), &user));
}

// What certsh calls open to others, entry by entry, as Windows OpenSSH
// judges a private key: only the user, SYSTEM and the administrators
// may be let in.
#[test]
fn an_access_list_lets_others_in_when_it_allows_anyone_but_the_user_system_or_administrators() {
    let user = User::current().unwrap();
    let me = my_sid();
    let cases = [
        (format!("D:P(A;;FA;;;{me})"), false),
        (format!("D:(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;{me})"), false),
        (format!("D:(A;;FA;;;{me})(A;;FR;;;WD)"), true),
        (format!("D:(A;;FA;;;{me})(A;;FR;;;BU)"), true),
        (format!("D:(A;;FA;;;{me})(A;;FR;;;AU)"), true),
        // Only what the folder passes on, not the folder itself.
        (format!("D:(A;;FA;;;{me})(A;OICIIO;FA;;;WD)"), false),
        // A denial lets nobody in.
        (format!("D:(D;;FA;;;WD)(A;;FA;;;{me})"), false),
        // An empty list lets nobody in.
        ("D:".to_string(), false),
    ];
    for (text, open) in cases {
        let s = from_sddl(&text);
        assert_eq!(lets_others_in(s.dacl(), &user), open, "{text}");
    }
    // No list at all lets everyone in. (Wine reads `D:NO_ACCESS_CONTROL`
    // as an empty list, so no list is handed over directly.)
    assert!(lets_others_in(None, &user));
}

#[test]
fn a_pointer_is_a_file_naming_the_generation() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("current");
    write_pointer(Path::new("gen-1-a"), &link).unwrap();
    assert_eq!(read_pointer(&link).unwrap(), Path::new("gen-1-a"));
    fs::write(&link, "..\\elsewhere").unwrap();
    assert!(read_pointer(&link).is_err());
}
