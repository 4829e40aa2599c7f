//! Attacks on the browser login and on the secrets certsh holds, by another
//! local user or by a program certsh starts: login CSRF, a slow client
//! holding the login callback, and secrets in children and core files.
//!
//! The other user is a real one: the tests run as root (as CI does), create
//! `certsh-attacker` and `certsh-other` once, and switch to them with
//! util-linux `setpriv`. The browser is a `$BROWSER` script that does what a
//! browser does with what certsh gives it: it opens it and follows each
//! redirect (curl, one hop at a time), recording its arguments, its
//! environment and every address it visits.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::*;

/// The token variables of every profile.
const TOKEN_VARS: [&str; 3] = [
    "MAGENTO_CLOUD_CLI_TOKEN",
    "PLATFORMSH_CLI_TOKEN",
    "UPSUN_CLI_TOKEN",
];

/// A world without an API token, whose browser approves the login.
fn world() -> TestEnv {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    env.set("CERTSH_LOGIN_TIMEOUT", "60");
    browser(&mut env, false);
    env
}

/// Installs the `$BROWSER` script. With `hold`, it stops before it goes back
/// to certsh with the code until the file `go` exists (the test's cue).
fn browser(env: &mut TestEnv, hold: bool) {
    let dir = env.root.path().display().to_string();
    let wait = if hold {
        // Bounded, so that a failed test leaves no script behind for long.
        "n=0; until [ -e \"$dir/go\" ] || [ $n -ge 1200 ]; do sleep 0.05; n=$((n+1)); done"
    } else {
        ":"
    };
    let script = format!(
        r#"#!/bin/sh
dir='{dir}'
printf '%s\n' "$@" >> "$dir/browser-argv"
env > "$dir/browser-env"
url=$1
while [ -n "$url" ]; do
    printf '%s\n' "$url" >> "$dir/browser-visited"
    case "$url" in
        http://127.0.0.1:*[?\&]code=*) {wait} ;;
    esac
    url=$(curl -sS -o /dev/null -w '%{{redirect_url}}' --max-time 20 "$url") || exit 1
done
"#
    );
    let path = env.path("bin/browser");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("BROWSER", &path);
}

/// `text` with each authorize URL the certifier was asked for written
/// `[AUTHORIZE URL]`: its state and challenge differ from run to run.
fn with_authorize_url(env: &TestEnv, text: &str) -> String {
    env.certifier
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/oauth2/authorize?"))
        .map(|r| format!("{}{}", env.certifier.url(), r.path))
        .fold(text.to_string(), |t, url| {
            t.replace(&url, "[AUTHORIZE URL]")
        })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The addresses the browser went to, in order.
fn visited(env: &TestEnv) -> Vec<String> {
    read(&env.path("browser-visited"))
        .lines()
        .map(String::from)
        .collect()
}

/// Waits (up to a minute: a bound for a broken test, not a claim about
/// speed) until `what` holds.
#[track_caller]
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The callback address the browser is about to open (it holds there), once
/// it is there.
fn callback_url(env: &TestEnv) -> String {
    let mut found = None;
    wait_until("the browser reaches the callback", || {
        found = visited(env).into_iter().find(|u| is_callback(u));
        found.is_some()
    });
    found.unwrap()
}

fn is_callback(url: &str) -> bool {
    url.starts_with("http://127.0.0.1:") && (url.contains("?code=") || url.contains("&code="))
}

/// The port of a `http://127.0.0.1:<port>/...` address.
fn port_of(url: &str) -> u16 {
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .expect("a loopback URL");
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap()
}

/// One query parameter of a URL, as sent.
fn param(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// certsh running in the background, its output collected.
struct Background {
    child: Child,
}

impl Background {
    fn start(mut cmd: Command) -> Background {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the command starts");
        Background { child }
    }

    /// Waits for the exit (a broken certsh that never exits is killed
    /// after `bound`, and the test fails).
    #[track_caller]
    fn finish(mut self, bound: Duration) -> Printed {
        let deadline = Instant::now() + bound;
        loop {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let out = self.output();
                panic!(
                    "still running after {bound:?}, killed\n--- stdout\n{}\n--- stderr\n{}",
                    out.stdout, out.stderr
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.output()
    }

    fn output(&mut self) -> Printed {
        let status = self.child.wait().unwrap();
        let mut stdout = String::new();
        let mut stderr = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        Printed {
            code: status.code(),
            stdout,
            stderr,
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `certsh login` in the background.
fn login_in_background(env: &TestEnv) -> Background {
    let mut cmd = env.std_command(certsh_bin());
    cmd.arg("login");
    Background::start(cmd)
}

/// `setpriv` running `program` as `user`.
fn as_user(user: (u32, u32), program: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={}", user.0))
        .arg(format!("--regid={}", user.1))
        .arg("--clear-groups")
        .arg(program)
        .current_dir("/")
        // No proxy from the test's own environment: her curl goes straight
        // to 127.0.0.1.
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
    cmd
}

/// The HTTP status another user gets for `url` (curl following redirects,
/// as her browser would).
fn status_as(user: (u32, u32), url: &str) -> String {
    let out = as_user(user, "curl")
        .args(["-sS", "-L", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--max-time", "20", url])
        .output()
        .expect("setpriv and curl run");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn login_csrf_state_and_challenge_are_in_no_argv() {
    let env = world();
    let p = ok(env.certsh(["login"]));
    let authorize = env
        .certifier
        .requests()
        .into_iter()
        .find(|r| r.path.starts_with("/oauth2/authorize?"))
        .expect("the browser reached the authorize page")
        .path;
    let state = param(&authorize, "state").unwrap();
    let challenge = param(&authorize, "code_challenge").unwrap();
    assert!(state.len() >= 16 && challenge.len() == 43, "{authorize}");
    let argv = read(&env.path("browser-argv"));
    assert!(!argv.is_empty(), "the browser ran");
    assert!(
        !argv.contains(&state),
        "state in the browser's argv: {argv}"
    );
    assert!(
        !argv.contains(&challenge),
        "the PKCE challenge in the browser's argv: {argv}"
    );
    assert_output(
        &env,
        &with_authorize_url(&env, &p.stderr),
        snapbox::file!["cases/login_in_the_browser.stderr"],
    );
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: a second local user needs root (scripts/test --all)"
)]
fn login_csrf_callbacks_from_another_user_are_refused_and_the_login_goes_on() {
    let attacker = local_user("certsh-attacker");
    let mut env = world();
    browser(&mut env, true);
    let login = login_in_background(&env);
    // She learnt the state and the challenge somehow: she opens the authorize
    // page with them and sends the code she gets for it to certsh, after an
    // `error=` that would end the login.
    let callback = callback_url(&env);
    let state = param(&callback, "state").unwrap();
    let authorize = visited(&env)
        .into_iter()
        .find(|u| u.contains("/oauth2/authorize?"))
        .unwrap();
    let port = port_of(&callback);
    let error = format!("http://127.0.0.1:{port}/?error=access_denied&state={state}");
    assert_eq!(
        status_as(attacker, &error),
        "403",
        "error= from another user"
    );
    assert_eq!(
        status_as(attacker, &authorize),
        "403",
        "her code, for the same challenge"
    );
    std::fs::write(env.path("go"), "").unwrap();
    let p = login.finish(Duration::from_secs(90));
    assert_eq!(p.code, Some(0), "{}", p.stderr);
    assert_output(
        &env,
        &with_authorize_url(&env, &p.stderr),
        snapbox::file!["cases/login_callback_from_another_user.stderr"],
    );
    let exchanged = env
        .certifier
        .requests()
        .iter()
        .filter(|r| r.body.contains("grant_type=authorization_code"))
        .count();
    assert_eq!(exchanged, 1, "only the user's own code was exchanged");
    assert!(env.state_dir().join("session.json").exists());
}

#[test]
fn login_csrf_a_login_as_someone_else_is_warned_about() {
    let env = world();
    let state = env.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let session = state.join("session.json");
    std::fs::write(
        &session,
        r#"{"id":"0123","refresh_token":"an-old-refresh-token","created_at":1,"claims":{"sub":"someone-else"}}"#,
    )
    .unwrap();
    std::fs::set_permissions(&session, std::fs::Permissions::from_mode(0o600)).unwrap();
    let p = ok(env.certsh(["login"]));
    assert_output(
        &env,
        &with_authorize_url(&env, &p.stderr),
        snapbox::file!["cases/login_as_someone_else.stderr"],
    );
    // The same user again: nothing to say.
    let p = ok(env.certsh(["login"]));
    assert_output(
        &env,
        &with_authorize_url(&env, &p.stderr),
        snapbox::file!["cases/login_in_the_browser.stderr"],
    );
}

/// A client of the callback port that sends a byte every 300 ms and never
/// ends its request, until dropped.
struct Trickle {
    stop: Arc<AtomicBool>,
}

impl Trickle {
    fn start(port: u16) -> Trickle {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("the callback port is open");
        s.write_all(b"G").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(300));
                if s.write_all(b"E").is_err() {
                    break;
                }
            }
        });
        Trickle { stop }
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn slow_login_callback_a_trickling_client_does_not_stop_the_browser() {
    let mut env = world();
    browser(&mut env, true);
    let login = login_in_background(&env);
    let port = port_of(&callback_url(&env));
    let _slow = Trickle::start(port);
    std::fs::write(env.path("go"), "").unwrap();
    let p = login.finish(Duration::from_secs(90));
    assert_eq!(p.code, Some(0), "{}", p.stderr);
    assert!(env.state_dir().join("session.json").exists());
}

#[test]
fn slow_login_callback_a_trickling_client_does_not_outlive_the_login_timeout() {
    let mut env = world();
    browser(&mut env, true);
    env.set("CERTSH_LOGIN_TIMEOUT", "3");
    let login = login_in_background(&env);
    let port = port_of(&callback_url(&env));
    let slow = Trickle::start(port);
    let p = login.finish(Duration::from_secs(60));
    drop(slow);
    std::fs::write(env.path("go"), "").unwrap();
    assert_eq!(p.code, Some(1), "{}", p.stderr);
    assert!(
        p.stderr.ends_with(
            "certsh: nobody completed the Magento Cloud login in the browser within 3s \
             (run `certsh login` again and finish the login in the browser)\n"
        ),
        "{}",
        p.stderr
    );
}

/// `name=value` lines of an environment dump naming a token variable.
fn token_lines(dump: &str) -> Vec<&str> {
    dump.lines()
        .filter(|l| TOKEN_VARS.iter().any(|v| l.starts_with(&format!("{v}="))))
        .collect()
}

/// Writes `bin/<name>`: dumps its environment to `<name>-env`, then execs
/// `then`.
fn env_spy(env: &TestEnv, name: &str, then: &str) -> PathBuf {
    let path = env.path(&format!("spy/{name}"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nenv > '{}'\nexec {then} \"$@\"\n",
            env.path(&format!("{name}-env")).display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn secrets_in_children_no_token_variable_reaches_the_browser_ssh_or_ssh_add() {
    let mut env = TestEnv::with_sshd();
    env.set("PLATFORMSH_CLI_TOKEN", "platformsh-token-in-env")
        .set("UPSUN_CLI_TOKEN", "upsun-token-in-env");
    let real_ssh = format!("/usr/bin/ssh -F '{}'", env.ssh_config().display());
    let ssh = env_spy(&env, "ssh", &real_ssh);
    env_spy(&env, "ssh-add", "/usr/bin/ssh-add");
    env.set("CERTSH_REAL_SSH", &ssh);
    let path = format!("{}:{}", env.path("spy").display(), env.var("PATH").unwrap());
    env.set("PATH", path);

    // certsh git: git runs the shim, which needs the token (there is no
    // certificate yet), and the shim runs the real ssh, which does not.
    ok(env.certsh(["git", "clone", "-q", &env.git_url(), "clone"]));
    assert!(env.path("work/clone/README").exists());
    let ssh_env = read(&env.path("ssh-env"));
    assert!(ssh_env.contains("HOME="), "the spy ran: {ssh_env}");
    assert_eq!(token_lines(&ssh_env), Vec::<&str>::new(), "ssh");

    // Again with the certificate good: the shim program execs ssh itself,
    // after dropping the token variables from its own environment.
    std::fs::remove_file(env.path("ssh-env")).unwrap();
    ok(env.certsh(["git", "-C", "clone", "fetch", "-q"]));
    let ssh_env = read(&env.path("ssh-env"));
    assert!(ssh_env.contains("HOME="), "the spy ran: {ssh_env}");
    assert_eq!(token_lines(&ssh_env), Vec::<&str>::new(), "ssh, hot path");

    // ssh-add, with a real agent.
    let sock = env.path("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh-agent starts");
    wait_until("the agent's socket", || sock.exists());
    env.set("SSH_AUTH_SOCK", &sock);
    let p = ok(env.certsh(["load", "--agent"]));
    let _ = agent.kill();
    let _ = agent.wait();
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/load_into_ssh_agent.stdout"],
    );
    let add_env = read(&env.path("ssh-add-env"));
    assert!(add_env.contains("HOME="), "the spy ran: {add_env}");
    assert_eq!(token_lines(&add_env), Vec::<&str>::new(), "ssh-add");

    // The browser of a login.
    env.set("CERTSH_LOGIN_TIMEOUT", "60");
    browser(&mut env, false);
    ok(env.certsh(["login"]));
    let browser_env = read(&env.path("browser-env"));
    assert!(browser_env.contains("HOME="), "the browser ran");
    assert_eq!(token_lines(&browser_env), Vec::<&str>::new(), "browser");
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: a second local user needs root (scripts/test --all)"
)]
fn secrets_in_core_files_certsh_is_not_dumpable_during_a_login() {
    let user = local_user("certsh-other");
    let mut env = world();
    // The browser only records: certsh keeps waiting for it.
    let dir = env.root.path().display().to_string();
    let script = env.path("bin/idle-browser");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{dir}/browser-argv'\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("BROWSER", &script);
    // certsh runs as the other user, in a world that is hers.
    let exe = env.installed().join("bin/certsh");
    let chown = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", user.0, user.1))
        .arg(env.root.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let mut cmd = env.std_command("setpriv");
    cmd.arg(format!("--reuid={}", user.0))
        .arg(format!("--regid={}", user.1))
        .arg("--clear-groups")
        .arg(&exe)
        .arg("login");
    let login = Background::start(cmd);
    let pid = login.child.id();
    wait_until("the browser is started", || {
        env.path("browser-argv").exists()
    });
    let status = read(Path::new(&format!("/proc/{pid}/status")));
    assert!(
        status.contains(&format!("\nUid:\t{}\t", user.0)),
        "certsh runs as the other user:\n{status}"
    );
    // A process that is not dumpable has its /proc files owned by root, so
    // that its own user cannot read its memory or environment either.
    let owner = std::fs::metadata(format!("/proc/{pid}/environ"))
        .unwrap()
        .uid();
    assert_eq!(owner, 0, "/proc/{pid}/environ belongs to uid {owner}");
    drop(login);
}
