//! Where the login's browser is, and how certsh reaches it: a browser here
//! (`$BROWSER`, `open` on macOS, `xdg-open`), Windows' browser from inside
//! WSL, or a browser on another machine, whose address is pasted back
//! (`paste.rs`).
//!
//! Paste mode is chosen by itself, and said so, in an ssh session
//! (`SSH_CONNECTION`) and on a Linux box with no display and no `$BROWSER`
//! (a container, a server): a browser started there would be nobody's.
//!
//! WSL is detected by `WSL_DISTRO_NAME`, which WSL sets in every session,
//! else by the interop entry `/proc/sys/fs/binfmt_misc/WSLInterop`, else by a
//! WSL kernel's `/proc/version` ("microsoft"). Its browser is Windows':
//! `wslview` (wslu) when it is there, else `cmd.exe /c start` through
//! interop. The loopback callback stays: WSL 2 forwards Windows' localhost
//! to it. `CERTSH_TEST_WSL=<folder>`, for tests only, reads those two files
//! below `<folder>` instead of `/`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::util::sanitize;
use crate::util::secret;

/// How long an opener may take to say whether it started the browser.
const OPENER_TIME: Duration = Duration::from_secs(15);

/// What about this machine decides where the browser is, read once from
/// the environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Here {
    /// `SSH_CONNECTION`: `client port server port`.
    pub(crate) ssh: Option<String>,
    /// `DISPLAY` or `WAYLAND_DISPLAY` is set.
    pub(crate) display: bool,
    /// `$BROWSER`.
    pub(crate) browser: Option<OsString>,
    /// How WSL was detected, if it was.
    pub(crate) wsl: Option<String>,
    /// macOS, whose `open` needs no display variable.
    pub(crate) macos: bool,
}

impl Here {
    /// This process's surroundings; `browser` is the configured `$BROWSER`.
    pub(crate) fn now(browser: Option<OsString>) -> Here {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        Here {
            ssh: std::env::var("SSH_CONNECTION")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            display: set("DISPLAY") || set("WAYLAND_DISPLAY"),
            browser: browser.filter(|b| !b.is_empty()),
            wsl: wsl(),
            macos: cfg!(target_os = "macos"),
        }
    }
}

/// How WSL was detected (`WSL_DISTRO_NAME`, `/proc/version`, ...), if this
/// is WSL.
fn wsl() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    if std::env::var_os("WSL_DISTRO_NAME").is_some_and(|v| !v.is_empty()) {
        return Some("WSL_DISTRO_NAME".into());
    }
    let root = std::env::var_os("CERTSH_TEST_WSL")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from);
    wsl_below(&root)
}

fn wsl_below(root: &Path) -> Option<String> {
    let interop = "proc/sys/fs/binfmt_misc/WSLInterop";
    if root.join(interop).exists() {
        return Some(format!("/{interop}"));
    }
    let version = std::fs::read_to_string(root.join("proc/version")).unwrap_or_default();
    version
        .to_ascii_lowercase()
        .contains("microsoft")
        .then(|| "/proc/version".into())
}

/// How the browser is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Way {
    /// Start this program with the start page.
    Open(OsString),
    /// Start Windows' browser from WSL (detected as said).
    Windows(String),
    /// The browser is elsewhere: print the URL and read the address pasted
    /// back, saying why (`None`: asked for with `--paste`).
    Paste(Option<String>),
    /// Only print the URL (`--no-browser`).
    PrintOnly,
}

/// The way for this machine; `paste` and `no_browser` are the options.
pub(crate) fn choose(here: &Here, paste: bool, no_browser: bool) -> Way {
    if paste {
        return Way::Paste(None);
    }
    if no_browser {
        return Way::PrintOnly;
    }
    if here.ssh.is_some() {
        return Way::Paste(Some("this is an ssh session (SSH_CONNECTION)".into()));
    }
    if let Some(b) = &here.browser {
        return Way::Open(b.clone());
    }
    if let Some(how) = &here.wsl {
        return Way::Windows(how.clone());
    }
    if here.macos {
        return Way::Open("open".into());
    }
    if !here.display {
        return Way::Paste(Some(
            "no display and no browser here (DISPLAY, WAYLAND_DISPLAY and BROWSER are unset)"
                .into(),
        ));
    }
    Way::Open("xdg-open".into())
}

/// The line that lets the browser's machine reach the callback over ssh:
/// `ssh -L 5003:127.0.0.1:5003 [-p PORT] [user@]server`, from
/// `SSH_CONNECTION` (the address that machine's ssh reached).
pub(crate) fn forward_line(ssh_connection: &str, port: u16) -> Option<String> {
    let fields: Vec<&str> = ssh_connection.split_whitespace().collect();
    let [_, _, server, server_port] = fields[..] else {
        return None;
    };
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
    let p = if server_port == "22" {
        String::new()
    } else {
        format!(" -p {}", sanitize::short(server_port, 8))
    };
    Some(format!(
        "ssh -L {port}:127.0.0.1:{port}{p} {}{}",
        user.map(|u| format!("{u}@")).unwrap_or_default(),
        sanitize::short(server, 64)
    ))
}

/// Starts `program <target>`. Its output goes nowhere: in the shim, stdout
/// is git's.
pub(crate) fn open(program: &OsStr, target: &str) -> Result<()> {
    secret::command(program)
        .arg(target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start {}: {e}",
                sanitize::text(&program.to_string_lossy())
            )
        })
}

/// Opens `target` in Windows' browser from WSL: `wslview` when on PATH,
/// else `cmd.exe /c start`. Returns the program used; fails when neither is
/// there or it says it failed.
pub(crate) fn open_windows(target: &str) -> Result<&'static str> {
    let (program, args) = if on_path("wslview") {
        ("wslview", vec![target.to_string()])
    } else if on_path("cmd.exe") {
        ("cmd.exe", cmd_start_args(target))
    } else {
        bail!("neither wslview nor cmd.exe is on PATH (WSL interop may be off)");
    };
    let mut cmd = secret::command(program);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // cmd.exe warns about, and falls back from, a current folder that is not
    // on a Windows drive.
    if program == "cmd.exe" && Path::new("/mnt/c").is_dir() {
        cmd.current_dir("/mnt/c");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {program}: {e}"))?;
    let until = Instant::now() + OPENER_TIME;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(program),
            Ok(Some(status)) => bail!("{program} failed ({status})"),
            // Still busy: it has the URL; a browser it is starting will come
            // back to the listener, or the user pastes.
            Ok(None) if Instant::now() >= until => return Ok(program),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => bail!("cannot wait for {program}: {e}"),
        }
    }
}

/// `cmd.exe`'s arguments to open `target`: `/c start "" <target>`, with
/// cmd's own metacharacters escaped by `^` (a URL's `&` would otherwise end
/// the command). The empty title keeps `start` from taking a quoted target
/// as the window's title; it is passed as the two characters `""`, because
/// WSL's interop quotes only arguments with white space, and may not pass an
/// empty one on as `""`.
pub(crate) fn cmd_start_args(target: &str) -> Vec<String> {
    let mut escaped = String::with_capacity(target.len() + 8);
    for c in target.chars() {
        if "^&|<>()%!\"".contains(c) {
            escaped.push('^');
        }
        escaped.push(c);
    }
    vec!["/c".into(), "start".into(), "\"\"".into(), escaped]
}

/// Whether `name` is an executable file in a folder of `PATH`.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name)).is_ok_and(|m| crate::util::platform::is_program(&m))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Here {
        Here {
            display: true,
            ..Here::default()
        }
    }

    #[test]
    fn paste_mode_over_ssh_and_without_display_or_browser() {
        let ssh = Here {
            ssh: Some("10.0.0.2 50000 10.0.0.5 22".into()),
            browser: Some("firefox".into()),
            ..here()
        };
        assert!(
            matches!(choose(&ssh, false, false), Way::Paste(Some(why)) if why.contains("SSH_CONNECTION"))
        );
        let container = Here {
            display: false,
            ..Here::default()
        };
        assert!(
            matches!(choose(&container, false, false), Way::Paste(Some(why)) if why.contains("no display"))
        );
        let with_browser = Here {
            browser: Some("lynx".into()),
            ..container.clone()
        };
        assert_eq!(
            choose(&with_browser, false, false),
            Way::Open("lynx".into())
        );
        assert_eq!(choose(&here(), false, false), Way::Open("xdg-open".into()));
        let mac = Here {
            macos: true,
            display: false,
            ..Here::default()
        };
        assert_eq!(choose(&mac, false, false), Way::Open("open".into()));
        assert_eq!(choose(&here(), true, false), Way::Paste(None));
        assert_eq!(choose(&ssh, false, true), Way::PrintOnly);
    }

    #[test]
    fn wsl_opens_windows_browser_unless_browser_is_set() {
        let wsl = Here {
            wsl: Some("/proc/version".into()),
            // WSLg sets a display; the browser is still Windows'.
            display: true,
            ..Here::default()
        };
        assert_eq!(
            choose(&wsl, false, false),
            Way::Windows("/proc/version".into())
        );
        let set = Here {
            browser: Some("wslview".into()),
            ..wsl.clone()
        };
        assert_eq!(choose(&set, false, false), Way::Open("wslview".into()));
    }

    #[test]
    fn wsl_is_detected_from_its_proc_files() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(wsl_below(root.path()), None);
        std::fs::create_dir_all(root.path().join("proc")).unwrap();
        std::fs::write(
            root.path().join("proc/version"),
            "Linux version 6.8.0-45-generic (buildd@lcy02-amd64-075) #45-Ubuntu SMP",
        )
        .unwrap();
        assert_eq!(wsl_below(root.path()), None);
        std::fs::write(
            root.path().join("proc/version"),
            "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1)",
        )
        .unwrap();
        assert_eq!(wsl_below(root.path()).as_deref(), Some("/proc/version"));
        let interop = root.path().join("proc/sys/fs/binfmt_misc");
        std::fs::create_dir_all(&interop).unwrap();
        std::fs::write(interop.join("WSLInterop"), "enabled\n").unwrap();
        assert_eq!(
            wsl_below(root.path()).as_deref(),
            Some("/proc/sys/fs/binfmt_misc/WSLInterop")
        );
    }

    #[test]
    fn cmd_start_escapes_what_cmd_would_read() {
        assert_eq!(
            cmd_start_args("https://a.example/x?s=1&t=%41|b"),
            ["/c", "start", "\"\"", "https://a.example/x?s=1^&t=^%41^|b"]
        );
        assert_eq!(
            cmd_start_args("http://127.0.0.1:5003/login"),
            ["/c", "start", "\"\"", "http://127.0.0.1:5003/login"]
        );
    }

    #[test]
    fn the_forward_line_names_the_port_and_the_server() {
        let line = forward_line("10.0.0.2 50000 10.0.0.5 22", 5003).unwrap();
        assert!(line.starts_with("ssh -L 5003:127.0.0.1:5003 "), "{line}");
        assert!(line.ends_with("10.0.0.5"), "{line}");
        let line = forward_line("::1 50000 fd00::5 2222", 5001).unwrap();
        assert!(line.contains(" -p 2222 "), "{line}");
        assert!(line.ends_with("fd00::5"), "{line}");
        assert_eq!(forward_line("garbage", 5000), None);
    }
}
