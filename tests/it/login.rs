//! `certsh login`, sessions, step-up, `certsh logout`, and the shim logging in
//! by itself at a terminal.
//!
//! The browser is a `$BROWSER` script that does what an approving user's
//! browser does: it opens the authorize URL and follows the redirect back to
//! certsh's loopback listener (curl). A terminal is a pseudo-terminal from
//! util-linux `script`.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::*;

/// A world without an API token, whose browser approves the login.
fn world(with_sshd: bool) -> TestEnv {
    let mut env = if with_sshd {
        TestEnv::with_sshd()
    } else {
        TestEnv::new()
    };
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    env.set("CERTSH_LOGIN_TIMEOUT", "60");
    let browser = browser_script(&env, "browser", APPROVE);
    env.set("BROWSER", browser);
    env
}

/// What an approving user's browser does with the authorize URL.
const APPROVE: &str = "exec curl -sS -o /dev/null -L --max-time 20 \"$1\"";

/// Writes an executable `$BROWSER` script that first records its URL.
fn browser_script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    let path = env.path(&format!("bin/{name}"));
    let log = env.path("browser.log");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n{body}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The URLs the browser was started with.
fn browser_urls(env: &TestEnv) -> Vec<String> {
    std::fs::read_to_string(env.path("browser.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// The authorize URLs the browser reached, in order.
fn authorize_urls(env: &TestEnv) -> Vec<String> {
    env.certifier
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/oauth2/authorize?"))
        .map(|r| format!("{}{}", env.certifier.url(), r.path))
        .collect()
}

/// The query parameters of a URL.
fn params(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn session_file(env: &TestEnv) -> PathBuf {
    env.state_dir().join("session.json")
}

fn stored_refresh_token(env: &TestEnv) -> String {
    let text = std::fs::read_to_string(session_file(env)).expect("a session is stored");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["refresh_token"].as_str().unwrap().to_string()
}

/// The token in a stored `api-token` file, which also names the token
/// endpoint it is bound to.
fn stored_api_token(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("an API token is stored");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["api_token"].as_str().unwrap().to_string()
}

#[track_caller]
fn assert_private(path: &Path) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

/// `text` with each authorize URL the browser reached written `[AUTHORIZE
/// URL]`: its state and challenge differ from run to run.
fn with_authorize_url(text: &str, url: &str) -> String {
    text.replace(url, "[AUTHORIZE URL]")
}

/// A terminal's transcript as text: lines end in `\n` (not the terminal's
/// `\r\n`), and the authorize URLs are `[AUTHORIZE URL]`.
fn transcript(env: &TestEnv, text: &str) -> String {
    authorize_urls(env)
        .iter()
        .fold(text.replace("\r\n", "\n"), |t, url| {
            with_authorize_url(&t, url)
        })
}

/// No token of any kind in `text`.
#[track_caller]
fn assert_no_tokens(env: &TestEnv, text: &str) {
    assert_no_secrets(env, text);
    for t in env.certifier.refresh_tokens() {
        assert!(!text.contains(&t), "a refresh token leaked:\n{text}");
    }
    if let Ok(t) = std::fs::read_to_string(session_file(env)) {
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        let r = v["refresh_token"].as_str().unwrap();
        assert!(
            !text.contains(r),
            "the stored refresh token leaked:\n{text}"
        );
    }
}

/// `script -qec "<cmd>" /dev/null`: `cmd` at a pseudo-terminal, in this
/// world's environment.
fn at_terminal(env: &TestEnv, cmd: &str) -> assert_cmd::Command {
    let mut c = env.command_plain("script");
    c.args(["-qec", cmd, "/dev/null"]);
    c.timeout(Duration::from_secs(120));
    c
}

#[test]
fn browser_login_with_pkce_keeps_a_session_and_git_clones_with_it() {
    let env = world(true);
    let p = ok(env.certsh(["login"]));
    let urls = browser_urls(&env);
    assert_eq!(urls.len(), 1, "the browser opened once");
    // The browser gets certsh's start page, which sends it on;
    // the authorize URL itself is printed.
    let start = urls[0]
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix("/login"))
        .and_then(|port| port.parse::<u16>().ok());
    assert!(
        start.is_some_and(|p| (5000..=5010).contains(&p)),
        "{urls:?}"
    );
    let authorize = authorize_urls(&env);
    assert_eq!(authorize.len(), 1);
    // The URL is printed, and the certificate the login obtained named.
    assert_output(
        &env,
        &with_authorize_url(&p.stderr, &authorize[0]),
        snapbox::file!["cases/login_in_the_browser.stderr"],
    );
    let q = params(&authorize[0]);
    assert_eq!(param(&q, "response_type"), Some("code"));
    assert_eq!(param(&q, "client_id"), Some("magento-cloud-cli"));
    assert_eq!(param(&q, "scope"), Some("offline_access"));
    assert_eq!(param(&q, "prompt"), Some("consent"));
    assert_eq!(param(&q, "code_challenge_method"), Some("S256"));
    assert_eq!(param(&q, "code_challenge").map(str::len), Some(43));
    assert!(param(&q, "state").is_some_and(|s| s.len() >= 16));
    assert!(param(&q, "amr").is_none());
    let redirect = param(&q, "redirect_uri").unwrap();
    let port: u16 = redirect
        .strip_prefix("http%3A%2F%2F127.0.0.1%3A")
        .expect("a loopback redirect_uri")
        .parse()
        .unwrap();
    assert_eq!(Some(port), start, "one listener");

    // The certifier checked the verifier against the challenge; the code
    // exchange used Basic client authentication.
    let exchange = env
        .certifier
        .requests()
        .into_iter()
        .find(|r| r.body.contains("grant_type=authorization_code"))
        .expect("the code was exchanged");
    assert!(exchange.body.contains("code_verifier="));
    assert!(exchange.authorization.unwrap().starts_with("Basic "));

    assert_private(&session_file(&env));
    assert!(
        !env.home().join(".magento-cloud/config.yaml").exists(),
        "config.yaml is never written"
    );
    assert_eq!(env.certifier.sign_requests(), 1);

    let clone = ok(env.git(&env.git_ssh(), ["clone", "-q", &env.git_url(), "clone"]));
    assert!(env.path("work/clone/README").exists());
    assert_eq!(
        env.certifier.sign_requests(),
        1,
        "the clone used the login's certificate"
    );
    let status = ok(env.certsh(["status"]));
    assert_output(
        &env,
        &status.stdout,
        snapbox::file!["cases/status_browser_session.stdout"],
    );
    let json = ok(env.certsh(["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["state"], "valid");
    assert_eq!(v["login"]["credential"], "session");
    assert_eq!(v["login"]["user"], "5f0c8e5a-certsh-test-user");
    assert_eq!(v["login"]["amr"], serde_json::json!(["pwd"]));
    assert!(v["login"]["access_token_expires"].as_u64().is_some());
    for text in [&p.stdout, &p.stderr, &clone.stderr, &status.stdout] {
        assert_no_tokens(&env, text);
    }
}

#[test]
fn a_wrong_or_missing_state_is_refused_and_the_login_goes_on() {
    let mut env = world(false);
    let statuses = env.path("statuses");
    let browser = browser_script(
        &env,
        "forging-browser",
        &format!(
            "authorize=$(curl -sS -o /dev/null -w '%{{redirect_url}}' \"$1\")\n\
             back=$(curl -sS -o /dev/null -w '%{{redirect_url}}' \"$authorize\")\n\
             forged=$(printf '%s' \"$back\" | sed 's/state=[^&]*/state=forged/')\n\
             curl -sS -o /dev/null -w '%{{http_code}}\\n' \"$forged\" >> '{s}'\n\
             curl -sS -o /dev/null -w '%{{http_code}}\\n' \"${{back%%&state=*}}\" >> '{s}'\n\
             curl -sS -o /dev/null -w '%{{http_code}}\\n' \"$back\" >> '{s}'",
            s = statuses.display()
        ),
    );
    env.set("BROWSER", browser);
    let p = ok(env.certsh(["login"]));
    assert_eq!(
        std::fs::read_to_string(&statuses).unwrap(),
        "400\n400\n200\n",
        "forged and missing state refused, the real one accepted"
    );
    assert!(session_file(&env).exists(), "{}", p.stderr);
}

#[test]
fn an_abandoned_login_times_out_with_a_clear_message() {
    let mut env = world(false);
    env.set("BROWSER", "/bin/true");
    env.set("CERTSH_LOGIN_TIMEOUT", "2");
    // A login that ignored its timeout would run into the command's own
    // limit (support) and fail the test; no claim about speed.
    // The message: tests/cases/login_timeout.stderr.
    fails(env.certsh(["login"]), 1);
    assert!(!session_file(&env).exists());
    assert_eq!(env.certifier.token_requests(), 0);
}

#[test]
fn no_browser_only_prints_the_url() {
    let mut env = world(false);
    env.set("CERTSH_LOGIN_TIMEOUT", "1");
    let p = fails(
        env.certsh(["login", "--no-browser", "--mfa", "--max-age", "60"]),
        1,
    );
    assert!(browser_urls(&env).is_empty(), "no browser was started");
    let url = p
        .stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{}/", env.certifier.url())))
        .expect("the URL is printed");
    let q = params(url);
    assert_eq!(param(&q, "amr"), Some("mfa"));
    assert_eq!(param(&q, "max_age"), Some("60"));
}

#[test]
fn the_session_refreshes_when_the_access_token_expires_and_keeps_the_rotated_token() {
    let env = world(false);
    // Access tokens that live less than certsh's slack are never reused.
    env.certifier.set_expires_in(30);
    ok(env.certsh(["login"]));
    let first = stored_refresh_token(&env);
    ok(env.certsh(["load", "--refresh"]));
    let second = stored_refresh_token(&env);
    ok(env.certsh(["load", "--refresh"]));
    let third = stored_refresh_token(&env);
    assert_eq!(
        env.certifier.refresh_grants(),
        3,
        "one at login, one per load"
    );
    assert_ne!(first, second, "the rotated refresh token was stored");
    assert_ne!(second, third);
    assert_eq!(env.certifier.refresh_tokens(), [third]);
    assert_private(&session_file(&env));
    assert_eq!(env.certifier.sign_requests(), 3);
}

#[test]
fn a_refused_refresh_ends_the_session_but_keeps_the_valid_certificate() {
    let mut env = world(true);
    env.certifier.set_expires_in(30);
    ok(env.certsh(["login"]));
    let cert = env.certificate_bytes().expect("a certificate");
    env.certifier.end_sessions();

    // The message: tests/cases/session_ended.stderr.
    fails(env.certsh(["load", "--refresh"]), 1);
    assert!(!session_file(&env).exists(), "the session is ended");
    assert_eq!(env.certificate_bytes(), Some(cert), "the certificate stays");

    // The shim, without a terminal, wants to renew (a margin longer than
    // the certificate's life) and cannot: it warns and connects anyway.
    env.set("CERTSH_REFRESH_MARGIN", "3700");
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "still in"]));
    assert_eq!(p.stdout, "still in\n");
    assert!(
        p.stderr
            .starts_with("certsh: warning: no credentials for Magento Cloud"),
        "{:?}",
        p.stderr
    );
}

#[test]
fn logout_revokes_the_session_and_deletes_everything() {
    let env = world(false);
    ok(env.certsh(["login"]));
    let refresh = stored_refresh_token(&env);
    // And an API token stored beside the session.
    let mut store_token = env.certsh(["login", "--api-token"]);
    store_token.write_stdin(format!("{}\n", certifier::API_TOKEN));
    ok(store_token);
    assert!(env.state_dir().join("api-token").exists());
    assert!(env.state_dir().join("token.json").exists());
    let p = ok(env.certsh(["logout"]));
    assert_eq!(
        p.stdout,
        "Logged out of Magento Cloud (profile magento): session revoked and deleted; \
         key and certificate deleted\n"
    );
    assert_eq!(env.certifier.revoked_refresh_tokens(), [refresh]);
    let left: Vec<String> = files_below(&env.state_dir())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for gone in ["session.json", "api-token", "current", "token.json"] {
        assert!(!left.iter().any(|f| f == gone), "{gone} in {left:?}");
    }
    assert!(!left.iter().any(|f| f.starts_with("gen-")), "{left:?}");
    fails(env.certsh(["status"]), 1);
    // A second logout has nothing to do, and says so.
    let p = ok(env.certsh(["logout", "--all"]));
    assert_output(
        &env,
        &p.stdout,
        "Logged out of Magento Cloud (profile magento): no session; no key or certificate\nLogged out of Platform.sh (profile platformsh): no session; no key or certificate\nLogged out of Upsun (profile upsun): no session; no key or certificate\n",
    );
}

#[test]
fn api_token_login_checks_and_stores_the_token_which_comes_after_the_environment() {
    let mut env = world(false);
    let login = |env: &TestEnv, token: &str| {
        let mut c = env.certsh(["login", "--api-token"]);
        c.write_stdin(format!("{token}\n"));
        run(c)
    };
    let p = login(&env, "not-a-valid-token");
    // The message: tests/cases/login_api_token_refused.stderr.
    assert_eq!(p.code, Some(1), "{}", p.stderr);
    assert!(!env.state_dir().join("api-token").exists());
    assert!(!p.stderr.contains("not-a-valid-token"));

    let p = login(&env, certifier::API_TOKEN);
    assert_eq!(p.code, Some(0), "{}", p.stderr);
    let stored = env.state_dir().join("api-token");
    assert_private(&stored);
    assert_eq!(stored_api_token(&stored), certifier::API_TOKEN);
    assert_no_secrets(&env, &p.stderr);

    // A stored token comes before api.token in config.yaml...
    let dir = env.home().join(".magento-cloud");
    std::fs::write(dir.join("config.yaml"), "api:\n  token: wrong-token\n").unwrap();
    ok(env.certsh(["load", "--refresh"]));
    // ...and after the environment.
    env.set("MAGENTO_CLOUD_CLI_TOKEN", "wrong-token-in-env");
    let p = fails(env.certsh(["load", "--refresh"]), 1);
    assert_output(
        &env,
        &p.stderr,
        "certsh: the API token was refused: auth server http://127.0.0.1:[PORT]/oauth2/token answered 400 Bad Request: invalid API token for the token from MAGENTO_CLOUD_CLI_TOKEN (make a new API token in the console, under your account's API tokens, and put it in MAGENTO_CLOUD_CLI_TOKEN)\n",
    );
}

#[test]
#[cfg_attr(
    target_os = "macos",
    ignore = "util-linux script(1) is the terminal; macOS's BSD script takes other options"
)]
fn the_shim_logs_in_by_itself_at_a_terminal_and_the_clone_goes_on() {
    let env = world(true);
    let cmd = format!(
        "GIT_SSH_COMMAND='{}' git clone -q '{}' clone </dev/null",
        env.git_ssh(),
        env.git_url()
    );
    let p = ok(at_terminal(&env, &cmd));
    assert!(env.path("work/clone/README").exists(), "{}", p.stdout);
    assert_eq!(env.certifier.authorize_requests(), 1);
    assert_eq!(env.certifier.sign_requests(), 1);
    assert_output(
        &env,
        &transcript(&env, &p.stdout),
        snapbox::file!["cases/login_by_the_shim_at_a_terminal.stdout"],
    );
    assert_no_tokens(&env, &p.stdout);
}

#[test]
#[cfg_attr(
    target_os = "macos",
    ignore = "util-linux script(1) is the terminal; macOS's BSD script takes other options"
)]
fn eight_parallel_shims_at_a_terminal_wait_for_one_login() {
    let mut env = world(true);
    // The browser approves once the seven other shims say they wait: the
    // terminal's transcript (script -f) shows it as it happens.
    let transcript = env.path("transcript");
    let browser = browser_script(
        &env,
        "browser-when-all-wait",
        &format!(
            "until [ \"$(grep -c 'waiting for the login in another' '{}')\" -ge 7 ]; do sleep 0.05; done\n{APPROVE}",
            transcript.display()
        ),
    );
    env.set("BROWSER", browser);
    let results = env.path("results");
    std::fs::create_dir(&results).unwrap();
    let one = format!(
        "'{}' -F '{}' ssh.us-3.magento.cloud echo connected </dev/null > '{}'/$i.out; echo $? > '{}'/$i.code",
        env.shim().display(),
        env.ssh_config().display(),
        results.display(),
        results.display()
    );
    let cmd = format!("for i in 1 2 3 4 5 6 7 8; do ( {one} ) & done; wait");
    let mut c = env.command_plain("script");
    c.arg("-qefc").arg(&cmd).arg(&transcript);
    let p = ok(c);
    assert_eq!(
        p.stdout
            .matches("log in to Magento Cloud in the browser")
            .count(),
        1,
        "{}",
        p.stdout
    );
    assert_eq!(
        p.stdout
            .matches("waiting for the login in another certsh process")
            .count(),
        7,
        "the others waited:\n{}",
        p.stdout
    );
    for i in 1..=8 {
        let code = std::fs::read_to_string(results.join(format!("{i}.code"))).unwrap();
        let out = std::fs::read_to_string(results.join(format!("{i}.out"))).unwrap();
        assert_eq!(code.trim(), "0", "shim {i}:\n{out}");
        assert_eq!(out, "connected\n", "shim {i}");
    }
    assert_eq!(env.certifier.authorize_requests(), 1, "one browser tab");
    assert_eq!(browser_urls(&env).len(), 1);
    assert_eq!(env.certifier.sign_requests(), 1, "one certificate");
}

#[test]
fn without_a_terminal_the_shim_does_not_log_in() {
    let env = world(false);
    // stdin held open: a shim that read it would hang here.
    Test::shim(&env, ["git.us-3.magento.cloud", "true"])
        .stdin_held_open("0000")
        .status(255)
        .run();
    assert!(browser_urls(&env).is_empty());
    assert_eq!(env.certifier.authorize_requests(), 0);
}

#[test]
#[cfg_attr(
    target_os = "macos",
    ignore = "util-linux script(1) is the terminal; macOS's BSD script takes other options"
)]
fn step_up_at_a_terminal_logs_in_again_with_mfa_and_connects() {
    let env = world(true);
    env.certifier.set_step_up(true, None);
    // The first login has no MFA: the certifier refuses to sign for it.
    // The message: tests/cases/login_step_up.stderr.
    fails(env.certsh(["login"]), 1);
    assert!(session_file(&env).exists(), "the login itself was kept");

    let cmd = format!(
        "'{}' -F '{}' ssh.us-3.magento.cloud echo with-mfa </dev/null",
        env.shim().display(),
        env.ssh_config().display()
    );
    let p = ok(at_terminal(&env, &cmd));
    assert_output(
        &env,
        &transcript(&env, &p.stdout),
        snapbox::file!["cases/step_up_at_a_terminal.stdout"],
    );
    assert_eq!(browser_urls(&env).len(), 2, "one login more");
    let urls = authorize_urls(&env);
    assert_eq!(urls.len(), 2);
    assert_eq!(param(&params(&urls[1]), "amr"), Some("mfa"));
    let status = ok(env.certsh(["status"]));
    assert_output(
        &env,
        &status.stdout,
        snapbox::file!["cases/status_browser_session_with_mfa.stdout"],
    );
}

/// RFC 9470's form: the age in the `WWW-Authenticate` challenge, the
/// methods in the body. The shim's own login asks for all of it.
#[test]
fn a_step_up_at_a_terminal_asks_for_every_method_and_the_age_of_the_challenge() {
    let env = world(true);
    env.certifier.set_step_up(true, Some(900));
    env.certifier.set_step_up_age_in_challenge(true);
    env.certifier.set_step_up_methods(&["mfa", "sso:acme"]);
    fails(env.certsh(["login"]), 1);
    let cmd = format!(
        "'{}' -F '{}' ssh.us-3.magento.cloud echo stepped-up </dev/null",
        env.shim().display(),
        env.ssh_config().display()
    );
    let p = ok(at_terminal(&env, &cmd));
    assert_output(
        &env,
        &transcript(&env, &p.stdout),
        snapbox::file!["cases/step_up_for_every_method_at_a_terminal.stdout"],
    );
    let urls = authorize_urls(&env);
    assert_eq!(urls.len(), 2, "one login more");
    let asked = params(&urls[1]);
    assert_eq!(param(&asked, "amr"), Some("mfa+sso%3Aacme"));
    assert_eq!(param(&asked, "max_age"), Some("900"));
}

#[test]
fn a_step_up_naming_two_methods_asks_for_both_and_the_age_and_nothing_else() {
    let env = world(true);
    env.certifier.set_step_up(true, Some(600));
    env.certifier.set_step_up_methods(&["mfa", "sso:acme"]);
    fails(env.certsh(["login"]), 1);
    let p = fails(
        env.command_ssh(["ssh.us-3.magento.cloud", "echo", "never"]),
        255,
    );
    assert_eq!(
        p.stderr,
        format!(
            "certsh: certifier {}/ssh requires a fresh login with mfa and sso:acme: 401 Unauthorized: \
             insufficient_user_authentication: A multi-factor login is required \
             (run: certsh login --method mfa --method sso:acme --max-age 600)\n",
            env.certifier.url()
        )
    );
    // The command it names asks the auth server for both methods and the
    // age, as the official CLI's login does, and then connects.
    ok(env.certsh([
        "login",
        "--method",
        "mfa",
        "--method",
        "sso:acme",
        "--max-age",
        "600",
    ]));
    let urls = authorize_urls(&env);
    let asked = params(&urls[1]);
    assert_eq!(param(&asked, "amr"), Some("mfa+sso%3Aacme"));
    assert_eq!(param(&asked, "max_age"), Some("600"));
    // The first login asked for nothing.
    let first = params(&urls[0]);
    assert_eq!(
        (param(&first, "amr"), param(&first, "max_age")),
        (None, None)
    );
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
}

#[test]
fn step_up_without_a_terminal_exits_255_naming_the_command() {
    let env = world(true);
    env.certifier.set_step_up(true, Some(600));
    fails(env.certsh(["login"]), 1);
    let p = fails(
        env.command_ssh(["ssh.us-3.magento.cloud", "echo", "never"]),
        255,
    );
    assert_eq!(
        p.stderr,
        format!(
            "certsh: certifier {}/ssh requires a fresh multi-factor login: 401 Unauthorized: \
             insufficient_user_authentication: A multi-factor login is required \
             (run: certsh login --mfa --max-age 600)\n",
            env.certifier.url()
        )
    );
    assert!(p.stdout.is_empty());
    assert_eq!(env.certifier.authorize_requests(), 1, "no login attempted");
}

#[test]
#[cfg_attr(
    target_os = "macos",
    ignore = "util-linux script(1) is the terminal; macOS's BSD script takes other options"
)]
fn api_token_login_at_a_terminal_prompts_without_echo() {
    let env = world(false);
    let token_file = env.path("token-to-type");
    std::fs::write(&token_file, format!("{}\n", certifier::API_TOKEN)).unwrap();
    // The typing starts once the prompt is there (certsh shows it after
    // turning echo off); script -f writes the transcript as it comes.
    let transcript = env.path("transcript");
    let cmd = format!(
        "(until grep -q 'not shown' '{t}' 2>/dev/null; do sleep 0.05; done; cat '{}') \
         | script -qefc '{} login --api-token' '{t}'",
        token_file.display(),
        certsh_bin().display(),
        t = transcript.display()
    );
    let mut c = env.command_plain("sh");
    c.args(["-c", &cmd]);
    let p = ok(c);
    assert!(
        p.stdout
            .starts_with("Magento Cloud API token (not shown): "),
        "{}",
        p.stdout
    );
    assert!(
        !p.stdout.contains(certifier::API_TOKEN),
        "the token was echoed:\n{}",
        p.stdout
    );
    let stored = env.state_dir().join("api-token");
    assert_eq!(stored_api_token(&stored), certifier::API_TOKEN);
    assert_private(&stored);
}

#[test]
#[cfg_attr(
    target_os = "macos",
    ignore = "util-linux script(1) is the terminal; macOS's BSD script takes other options"
)]
fn an_abandoned_login_is_not_repeated_by_every_waiting_shim() {
    let mut env = world(false);
    let browser = browser_script(&env, "idle-browser", "exit 0");
    env.set("BROWSER", browser);
    env.set("CERTSH_LOGIN_TIMEOUT", "2");
    let results = env.path("results");
    std::fs::create_dir(&results).unwrap();
    let cmd = format!(
        "for i in 1 2 3 4; do ( '{}' git.us-3.magento.cloud true </dev/null; echo $? > '{}'/$i ) & done; wait",
        env.shim().display(),
        results.display()
    );
    let p = ok(at_terminal(&env, &cmd));
    assert_eq!(browser_urls(&env).len(), 1, "one tab:\n{}", p.stdout);
    for i in 1..=4 {
        let code = std::fs::read_to_string(results.join(i.to_string())).unwrap();
        assert_eq!(code.trim(), "255", "{}", p.stdout);
    }
    assert!(
        p.stdout.contains(
            "certsh: the login in another certsh process did not succeed: no credentials"
        ),
        "{}",
        p.stdout
    );
}
