//! Finding the real ssh and replacing this process with it.
//!
//! The real ssh is `$CERTSH_REAL_SSH`, else the first `ssh` on `PATH` that is
//! not certsh itself. Files are compared by device and inode, so the shim
//! (a symlink or hard link to certsh named `ssh`) listed first on `PATH` is
//! skipped instead of calling itself forever. On Windows, where `PATH` may
//! hold no ssh but certsh's, Windows' own OpenSSH and then Git for Windows'
//! come next (`platform::ssh_off_path`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::util::error::Fixable;
use crate::util::file_id;
use crate::util::platform;
use crate::util::secret;

/// The oldest OpenSSH certsh works with: `CertificateFile`, which certsh
/// passes to every connection it serves, arrived in OpenSSH 7.2.
pub const MIN_OPENSSH_CERTIFICATE_FILE: (u32, u32) = (7, 2);

/// The oldest OpenSSH the ssh_config block (`certsh setup ssh-config`) is
/// written for: it is reached through `Include`, which arrived in 7.3.
pub const MIN_OPENSSH_INCLUDE: (u32, u32) = (7, 3);

/// The ssh to run: `$CERTSH_REAL_SSH`, else the first `ssh` on `PATH` that
/// is not certsh or its shim.
pub fn real_ssh() -> Result<PathBuf> {
    real_ssh_from(std::env::var_os("CERTSH_REAL_SSH"))
}

/// [`real_ssh`], given the value of `CERTSH_REAL_SSH` (the connection
/// path reads it from its snapshot of the environment).
pub fn real_ssh_from(configured: Option<OsString>) -> Result<PathBuf> {
    let configured = configured.filter(|v| !v.is_empty()).map(PathBuf::from);
    let mine = crate::connect::shim::own_ids();
    let is_me = |p: &Path| file_id::file_id(p).is_some_and(|id| mine.contains(&id));
    if let Some(path) = configured.as_deref() {
        let path = if path.components().count() == 1 {
            which::which(path).unwrap_or_else(|_| path.to_path_buf())
        } else {
            path.to_path_buf()
        };
        if is_me(&path) {
            return Err(Fixable::new(
                format!("CERTSH_REAL_SSH={} is certsh itself", path.display()),
                "point it at OpenSSH's ssh, such as /usr/bin/ssh",
            )
            .into());
        }
        return Ok(path);
    }
    if let Ok(mut all) = which::which_all("ssh")
        && let Some(found) = all.find(|p| !is_me(p))
    {
        return Ok(found);
    }
    if let Some(found) = platform::ssh_off_path()
        .into_iter()
        .find(|p| p.is_file() && !is_me(p))
    {
        return Ok(found);
    }
    Err(Fixable::new(
        "no ssh found on PATH other than certsh itself",
        "install OpenSSH's client, or set CERTSH_REAL_SSH to its path",
    )
    .into())
}

/// What `<ssh> -V` printed (stderr, then stdout).
pub fn banner(ssh: &Path) -> std::io::Result<String> {
    let out = secret::command(ssh)
        .arg("-V")
        .stdin(std::process::Stdio::null())
        .output()?;
    Ok(String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
}

/// `OpenSSH_9.2p1 Debian-2, OpenSSL ...` -> (9, 2); `None` for another ssh.
pub fn openssh_version(banner: &str) -> Option<(u32, u32)> {
    let rest = banner.split("OpenSSH_").nth(1)?;
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// `-o IdentityFile=<key> -o CertificateFile=<cert>`, quoted for ssh's
/// option parser (which splits on spaces and expands `%` tokens). A path
/// holding `${`, which ssh would expand and cannot be told not to, is
/// refused (the caller checks the state folder before any renewal; this
/// catches a temp-dir fallback that has one).
pub fn certificate_options(key: &Path, cert: &Path) -> Result<Vec<OsString>, Fixable> {
    for path in [key, cert] {
        if crate::state::store::has_dollar_brace(path) {
            return Err(Fixable::new(
                format!(
                    "the path {} contains \"${{\", which ssh would replace by an environment variable",
                    path.display()
                ),
                "set HOME and TMPDIR to folders whose paths have no \"${\"",
            ));
        }
    }
    Ok(vec![
        "-o".into(),
        option("IdentityFile", key),
        "-o".into(),
        option("CertificateFile", cert),
    ])
}

fn option(name: &str, path: &Path) -> OsString {
    let raw = path.as_os_str().as_encoded_bytes();
    let needs_quotes = raw
        .iter()
        .any(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\\' || *b == b'\'');
    let mut out = Vec::with_capacity(raw.len() + name.len() + 4);
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    if needs_quotes {
        out.push(b'"');
    }
    for &b in raw {
        match b {
            b'%' => out.extend_from_slice(b"%%"),
            b'"' | b'\\' if needs_quotes => {
                out.push(b'\\');
                out.push(b);
            }
            b => out.push(b),
        }
    }
    if needs_quotes {
        out.push(b'"');
    }
    platform::os_string_from_bytes(out)
}

/// Replaces this process with `ssh extra... args...` (on Windows: runs it
/// and exits with its code, `platform::exec`). Returns only on failure.
pub fn exec(ssh: &Path, extra: &[OsString], args: &[OsString]) -> anyhow::Error {
    let err = platform::exec(secret::command(ssh).args(extra).args(args));
    Fixable::new(
        format!("cannot run {}: {err}", ssh.display()),
        "set CERTSH_REAL_SSH to OpenSSH's ssh",
    )
    .into()
}

/// Becomes `certsh ssh <args>`: the shim handing a connection to certsh.
/// Unlike ssh, certsh gets the environment whole, token variables included.
pub fn exec_certsh(certsh: &Path, args: &[OsString]) -> anyhow::Error {
    let err = platform::exec(std::process::Command::new(certsh).arg("ssh").args(args));
    Fixable::new(
        format!("cannot run {}: {err}", certsh.display()),
        "install certsh again with install.sh",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssh_versions_are_read() {
        assert_eq!(
            openssh_version("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19"),
            Some((9, 2))
        );
        assert_eq!(openssh_version("OpenSSH_7.2p2 Ubuntu"), Some((7, 2)));
        assert_eq!(openssh_version("OpenSSH_7.1p2, OpenSSL"), Some((7, 1)));
        assert_eq!(openssh_version("OpenSSH_10.0p2"), Some((10, 0)));
        assert_eq!(openssh_version("dropbear"), None);
    }

    #[test]
    fn plain_paths_pass_unquoted() {
        let o = certificate_options(Path::new("/h/.m/certsh/g/k"), Path::new("/h/c")).unwrap();
        assert_eq!(o[1], "IdentityFile=/h/.m/certsh/g/k");
        assert_eq!(o[3], "CertificateFile=/h/c");
    }

    #[test]
    fn dollar_brace_is_refused() {
        assert!(certificate_options(Path::new("/h/${HOME}/k"), Path::new("/h/c")).is_err());
        assert!(certificate_options(Path::new("/h/k"), Path::new("/h/${X}c")).is_err());
        assert!(certificate_options(Path::new("/h/$/{k"), Path::new("/h/$c{")).is_ok());
    }

    #[test]
    fn spaces_quotes_and_percent_are_escaped() {
        let o = option("IdentityFile", Path::new("/Users/a b/100%/\"x\""));
        assert_eq!(o, r#"IdentityFile="/Users/a b/100%%/\"x\"""#);
    }
}
