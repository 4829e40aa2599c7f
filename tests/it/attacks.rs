//! Attacks from another local user and from a configuration the user did not
//! write, each named after what it guards.
//!
//! The other user is a real account, `certsh-attacker`, made with `useradd`
//! when missing (CI runs as root); files are handed to it with `chown`, and
//! `setpriv` runs certsh as it where the victim must not be root.

use crate::support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use support::*;

const ATTACKER: &str = "certsh-attacker";

/// The attacker's uid and primary gid, creating the account if needed.
fn attacker() -> (u32, u32) {
    local_user(ATTACKER)
}

fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) {
    std::os::unix::fs::chown(path, uid, gid).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn config_dir(env: &TestEnv) -> PathBuf {
    let dir = env.home().join(".magento-cloud");
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_config(env: &TestEnv, yaml: &str) -> PathBuf {
    let file = config_dir(env).join("config.yaml");
    fs::write(&file, yaml).unwrap();
    file
}

/// Whether any request the server received carries `text`.
fn seen(server: &Certifier, text: &str) -> bool {
    server.requests().iter().any(|r| {
        r.body.contains(text)
            || r.path.contains(text)
            || r.authorization.as_deref().is_some_and(|a| a.contains(text))
    })
}

/// An HTTP proxy on loopback that records each request line and answers
/// 502: where certsh goes when a hostile setting is ignored, without
/// leaving the machine.
struct Proxy {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(vec![]));
        let seen = lines.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                seen.lock().unwrap().push(first.trim_end().to_string());
                let _ = stream.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Proxy { port, lines }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: a second local user needs root (scripts/test --all)"
)]
fn a_config_file_of_another_user_is_ignored() {
    let (uid, _) = attacker();
    let mut env = TestEnv::new();
    // The victim's API token is in the environment; the auth URL is left to
    // the configuration, which the attacker wrote.
    env.unset("MAGENTO_CLOUD_CLI_API_AUTH_URL");
    let hers = Certifier::start();
    let file = write_config(&env, &format!("api:\n  auth_url: {}\n", hers.url()));
    chown(&file, Some(uid), Some(uid));
    // Ignoring the file means the profile's auth server, reached here
    // through a proxy that stands in for the internet.
    let proxy = Proxy::start();
    env.set("HTTPS_PROXY", proxy.url());

    let p = fails(env.certsh(["load"]), 1);
    assert!(
        hers.requests().is_empty(),
        "the planted auth_url received {:?}",
        hers.requests()
    );
    let first = p.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "certsh: warning: ignoring {}: it belongs to another user (uid {uid}) (remove it if you did not put it there, or take it over: chown {} {})",
            file.display(),
            rustix::process::getuid().as_raw(),
            file.display()
        ),
        "{}",
        p.stderr
    );
    assert_eq!(
        proxy.lines(),
        ["CONNECT auth.magento.cloud:443 HTTP/1.1"],
        "the profile's own auth server is used instead"
    );
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: a second local user needs root (scripts/test --all)"
)]
fn a_group_writable_config_file_or_folder_is_ignored() {
    let (_, gid) = attacker();
    for case in ["folder", "file"] {
        let mut env = TestEnv::new();
        env.unset("MAGENTO_CLOUD_CLI_TOKEN");
        // The attacker's file points the token at the victim's private key.
        let ssh = env.home().join(".ssh");
        fs::create_dir(&ssh).unwrap();
        chmod(&ssh, 0o700);
        let key = ssh.join("id_ed25519");
        fs::write(&key, "victim-private-key-material\n").unwrap();
        chmod(&key, 0o600);
        let file = write_config(&env, "api:\n  token_file: ~/.ssh/id_ed25519\n");
        let open = match case {
            "folder" => config_dir(&env),
            _ => file.clone(),
        };
        chown(&open, None, Some(gid));
        chmod(&open, if case == "folder" { 0o775 } else { 0o664 });

        let p = fails(env.certsh(["load"]), 1);
        assert!(
            !seen(&env.certifier, "victim-private-key-material"),
            "{case}: the private key was sent as a token"
        );
        assert!(env.certifier.requests().is_empty(), "{case}");
        let (mode, who) = match case {
            "folder" => (775, open.display().to_string()),
            _ => (664, "it".to_string()),
        };
        assert_eq!(
            p.stderr,
            format!(
                "certsh: warning: ignoring {file}: {who} can be written by other users (mode {mode}) \
                 (run: chmod go-w {})\n\
                 certsh: no credentials for Magento Cloud: MAGENTO_CLOUD_CLI_TOKEN is not set, \
                 {file} gives no API token, and nobody is logged in (set MAGENTO_CLOUD_CLI_TOKEN to an API token, or run \
                 `certsh login` at a terminal)\n",
                open.display(),
                file = file.display(),
            ),
            "{case}"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: a second local user needs root (scripts/test --all)"
)]
fn a_token_file_of_another_user_is_ignored() {
    let (uid, _) = attacker();
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    // The user's own config names a token file that the attacker made
    // first: with her token, the victim would work as her.
    write_config(&env, "api:\n  token_file: token\n");
    let planted = config_dir(&env).join("token");
    let hers = "attacker-api-token-5555";
    env.certifier.add_api_token(hers);
    fs::write(&planted, format!("{hers}\n")).unwrap();
    chown(&planted, Some(uid), Some(uid));

    let p = fails(env.certsh(["load"]), 1);
    assert!(
        !seen(&env.certifier, hers),
        "the planted token was used:\n{}",
        p.stderr
    );
    assert_eq!(
        p.stderr.lines().next().unwrap_or_default(),
        format!(
            "certsh: warning: ignoring api.token_file {}: it belongs to another user (uid {uid}) (remove it if you did not put it there, or take it over: chown {} {})",
            planted.display(),
            rustix::process::getuid().as_raw(),
            planted.display()
        ),
        "{}",
        p.stderr
    );
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: a second local user needs root (scripts/test --all)"
)]
fn a_state_folder_of_another_user_is_not_read() {
    // A config folder others may write lets her swap the state folder for
    // her own, with her API token stored in it.
    let (uid, gid) = attacker();
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let hers = "attacker-api-token-6666";
    env.certifier.add_api_token(hers);
    let state = env.state_dir();
    fs::create_dir_all(&state).unwrap();
    chmod(&state, 0o700);
    let stored = state.join("api-token");
    fs::write(
        &stored,
        format!(
            "{{\"token_url\":\"{}/oauth2/token\",\"api_token\":\"{hers}\"}}\n",
            env.certifier.url()
        ),
    )
    .unwrap();
    chmod(&stored, 0o600);
    chown(&stored, Some(uid), Some(gid));
    chown(&state, Some(uid), Some(gid));

    let p = run(env.certsh(["load"]));
    assert!(
        !seen(&env.certifier, hers),
        "her stored token was used:\n{}",
        p.stderr
    );
    assert_eq!(p.code, Some(1), "{}", p.stderr);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/no_credentials_here.stderr"],
    );
}

/// A recording stand-in for the real ssh that another user may run, in a
/// folder open to everyone, with the shim beside it. Returns (folder,
/// where the arguments land).
fn public_recording_ssh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    chmod(&out, 0o777);
    let log = out.join("args");
    let script = dir.path().join("real-ssh");
    fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", log.display()),
    )
    .unwrap();
    chmod(&script, 0o755);
    std::os::unix::fs::symlink(certsh_bin(), dir.path().join("ssh")).unwrap();
    (dir, log)
}

#[test]
fn a_malformed_config_file_does_not_break_ssh_to_other_hosts() {
    let mut env = TestEnv::new();
    env.recording_ssh();
    write_config(&env, "api:\n  token: [unclosed\nssh: {\n");

    let p = ok(env.command_plain(env.shim()).args(["github.com", "true"]));
    assert_eq!(env.recorded()[..2], ["github.com", "true"], "unchanged");
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/config_malformed_elsewhere.stderr"],
    );

    // The wrappers check only the profile's name: git runs, and its ssh
    // (the shim) decides per host.
    let p = ok(env.certsh(["--profile", "magento", "git", "--version"]));
    assert!(p.stdout.starts_with("git version"), "{}", p.stdout);

    let p = fails(
        env.command_plain(env.shim())
            .args(["git.us-3.magento.cloud", "true"]),
        255,
    );
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/config_malformed_shim.stderr"],
    );
    assert!(env.certifier.requests().is_empty());
}

#[test]
fn a_bad_certsh_variable_does_not_break_ssh_to_other_hosts() {
    let mut env = TestEnv::new();
    env.recording_ssh();
    env.set("CERTSH_HTTP_TIMEOUT", "soon");
    let p = ok(env.command_plain(env.shim()).args(["github.com", "true"]));
    assert_eq!(env.recorded()[..2], ["github.com", "true"]);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/env_not_seconds_elsewhere.stderr"],
    );
    let p = fails(
        env.command_plain(env.shim())
            .args(["git.us-3.magento.cloud", "true"]),
        255,
    );
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/env_not_seconds.stderr"],
    );
    assert!(env.certifier.requests().is_empty());
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: a second local user needs root (scripts/test --all)"
)]
fn an_unreadable_home_does_not_break_ssh_to_other_hosts() {
    // `docker run --user` with HOME=/root: a HOME the user cannot enter.
    let (uid, gid) = attacker();
    let env = TestEnv::new();
    let (public, log) = public_recording_ssh();
    chmod(&env.home(), 0o700);
    let as_other_user = |host: &str| {
        let mut cmd = env.std_command("setpriv");
        cmd.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--",
        ])
        .arg(public.path().join("ssh"))
        .args([host, "true"])
        .env("CERTSH_REAL_SSH", public.path().join("real-ssh"))
        .current_dir(public.path());
        let mut cmd = assert_cmd::Command::from_std(cmd);
        cmd.timeout(std::time::Duration::from_secs(120));
        cmd
    };

    let p = ok(as_other_user("github.com"));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "github.com\ntrue\n",
        "the real ssh ran with the line unchanged"
    );
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/config_unreadable_elsewhere.stderr"],
    );

    fs::remove_file(&log).unwrap();
    let p = fails(as_other_user("git.us-3.magento.cloud"), 255);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/config_unreadable.stderr"],
    );
    assert!(!log.exists(), "a cloud host gets the error, not ssh");
}

/// The state folder's credential files, as an older certsh wrote them.
fn old_format(env: &TestEnv, name: &str, text: &str) {
    let state = env.state_dir();
    fs::create_dir_all(&state).unwrap();
    chmod(&state, 0o700);
    let path = state.join(name);
    fs::write(&path, text).unwrap();
    chmod(&path, 0o600);
}

#[test]
fn a_stored_api_token_is_not_sent_to_another_token_url() {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    ok(env
        .certsh(["login", "--api-token"])
        .write_stdin(format!("{}\n", certifier::API_TOKEN)));
    let ours = env.certifier.url();
    let hers = Certifier::start();
    env.set("MAGENTO_CLOUD_CLI_API_AUTH_URL", hers.url());

    let p = fails(env.certsh(["load", "--refresh"]), 1);
    assert!(hers.requests().is_empty(), "{:?}", hers.requests());
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/api_token_for_another_server.stderr"],
    );

    // Where it came from, it still works.
    env.set("MAGENTO_CLOUD_CLI_API_AUTH_URL", &ours);
    ok(env.certsh(["load", "--refresh"]));
}

#[test]
fn a_browser_session_is_not_sent_to_another_token_url() {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let browser = env.path("bin/browser");
    fs::write(
        &browser,
        "#!/bin/sh\nexec curl -sS -o /dev/null -L --max-time 20 \"$1\"\n",
    )
    .unwrap();
    chmod(&browser, 0o755);
    env.set("BROWSER", &browser);
    ok(env.certsh(["login"]));
    let hers = Certifier::start();
    env.set("MAGENTO_CLOUD_CLI_API_AUTH_URL", hers.url());

    let p = fails(env.certsh(["load", "--refresh"]), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/session_for_another_server_here.stderr"],
    );
    // Logging out deletes the session without revoking it at her server.
    let p = ok(env.certsh(["logout"]));
    assert_output(
        &env,
        &p.stdout,
        "Logged out of Magento Cloud (profile magento): session deleted (not revoked); key and certificate deleted\n",
    );
    assert!(hers.requests().is_empty(), "{:?}", hers.requests());
    assert!(!env.state_dir().join("session.json").exists());
}

#[test]
fn old_credential_files_are_bound_to_the_profiles_token_url() {
    // The test certifier is not the profile's auth server, so files from
    // before the binding are refused here rather than sent to it.
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    old_format(
        &env,
        "session.json",
        r#"{"id":"0123456789abcdef01234567","refresh_token":"old-refresh-token","created_at":1}"#,
    );
    // The message: tests/cases/session_for_another_server.stderr.
    fails(env.certsh(["load"]), 1);
    old_format(&env, "api-token", &format!("{}\n", certifier::API_TOKEN));
    let p = fails(env.certsh(["load"]), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/api_token_for_another_server_here.stderr"],
    );
    assert!(
        env.certifier.requests().is_empty(),
        "{:?}",
        env.certifier.requests()
    );
}
