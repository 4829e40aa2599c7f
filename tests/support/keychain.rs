//! A real keychain for one test: a D-Bus session bus of its own and
//! gnome-keyring's Secret Service on it, with a login keyring in the test's
//! folder, and the real `docker-credential-secretservice`, the helper the
//! official CLI installs on Linux as `<config dir>/credential-helper`.
//!
//! The recipe, headless: `dbus-daemon --nofork --print-address` with a
//! configuration that listens on a socket in the test's folder and can start
//! no service by itself (so no prompter, and no second keyring, is ever
//! activated behind the test's back); then `gnome-keyring-daemon --foreground
//! --unlock --components=secrets` with `DBUS_SESSION_BUS_ADDRESS` pointing at
//! that bus, the password on stdin, and `HOME`, `XDG_DATA_HOME` (where
//! `keyrings/login.keyring` is created) and `XDG_RUNTIME_DIR` in the test's
//! folder, so that the machine's own keyring is never touched. The keyring is
//! ready once the helper's `list` answers. The helper needs only
//! `DBUS_SESSION_BUS_ADDRESS`. Dropping the [`Keychain`] stops both daemons
//! (a foreground gnome-keyring outlives its bus otherwise).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The keyring's password.
const PASSWORD: &str = "certsh-test-keyring-password";

/// Where a program is on this machine's `PATH` (the test world's own), or a
/// panic naming the Debian package it comes with: tier all runs these and
/// never skips them.
pub fn program(name: &str, package: &str) -> PathBuf {
    ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "tier all needs {name} (Debian package {package}; .ci/run installs it), \
                 and it is not on this machine"
            )
        })
}

/// The real docker-credential helper for the Secret Service.
pub fn secretservice_helper() -> PathBuf {
    program(
        "docker-credential-secretservice",
        "golang-docker-credential-helpers",
    )
}

/// A private session bus and an unlocked gnome-keyring on it.
pub struct Keychain {
    bus: Child,
    keyring: Child,
    address: String,
    helper: PathBuf,
}

impl Keychain {
    /// Starts both in `dir` (created), with a new login keyring, unlocked.
    pub fn start(dir: &Path) -> Keychain {
        let dbus = program("dbus-daemon", "dbus");
        let daemon = program("gnome-keyring-daemon", "gnome-keyring");
        let helper = secretservice_helper();
        let dir = dir.to_path_buf();
        for d in ["home/.local/share", "run"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = dir.join("bus");
        let conf = dir.join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let mut bus = Command::new(dbus)
            .args(["--nofork", "--print-address"])
            .arg(format!("--config-file={}", conf.display()))
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log("dbus.log"))
            .spawn()
            .expect("dbus-daemon starts");
        // It prints the address once it listens.
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_string();
        assert!(
            address.starts_with("unix:path="),
            "dbus-daemon printed no address: {address:?}, {}",
            std::fs::read_to_string(dir.join("dbus.log")).unwrap_or_default()
        );
        let home = dir.join("home");
        let mut keyring = Command::new(daemon)
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env_clear()
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_RUNTIME_DIR", dir.join("run"))
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(log("keyring.log"))
            .stderr(log("keyring.err"))
            .spawn()
            .expect("gnome-keyring-daemon starts");
        // --unlock reads the password up to the end of stdin.
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(PASSWORD.as_bytes()).unwrap();
        drop(stdin);
        let k = Keychain {
            bus,
            keyring,
            address,
            helper,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, out) = k.helper("list", "");
            if code == Some(0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring never answered on its bus: {out}\n{}",
                std::fs::read_to_string(dir.join("keyring.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        k
    }

    /// `DBUS_SESSION_BUS_ADDRESS` for whatever runs the helper.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Runs the real helper with `verb` and `input` on stdin, as the
    /// official CLI does: its exit code and stdout (where it also writes its
    /// errors).
    pub fn helper(&self, verb: &str, input: &str) -> (Option<i32>, String) {
        let mut child = Command::new(&self.helper)
            .arg(verb)
            .env_clear()
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the helper starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// Stores `secret` under `url` for `username`, as the official CLI's
    /// `store` does (`{"ServerURL", "Username", "Secret"}` on stdin).
    pub fn store(&self, url: &str, username: &str, secret: &str) {
        let input = serde_json::json!({"ServerURL": url, "Username": username, "Secret": secret});
        let (code, out) = self.helper("store", &input.to_string());
        assert_eq!(code, Some(0), "the helper's store failed: {out}");
    }

    /// What `get` answers for `url`: `{"ServerURL", "Username", "Secret"}`,
    /// or `None` when it finds nothing.
    pub fn get(&self, url: &str) -> Option<serde_json::Value> {
        let (code, out) = self.helper("get", url);
        if code != Some(0) {
            assert!(
                out.contains("credentials not found"),
                "the helper's get failed: {out}"
            );
            return None;
        }
        Some(serde_json::from_str(&out).expect("get answers JSON"))
    }

    /// Locks the login keyring through the Secret Service's `Lock` method, as
    /// a desktop's screen lock or a timeout does. Nothing can unlock it
    /// again: this bus has no prompter.
    pub fn lock(&self) {
        let out = Command::new(program("dbus-send", "dbus-bin"))
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .env_clear()
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot lock the keyring: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Keychain {
    fn drop(&mut self) {
        for child in [&mut self.keyring, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
