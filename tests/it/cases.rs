//! Every error a user can meet, written out in full as the user sees it:
//! one case file under `tests/cases/` per message, with the temporary root
//! as `[ROOT]`, loopback ports as `[PORT]` and `[..]` for what differs from
//! run to run (a key's fingerprint, a random state, time left). Each test
//! here sets up the world that produces one error and checks the whole of
//! stderr (and the exit status, and stdout where there is one) against its
//! case. Messages whose world is already built by another test (a full disk,
//! another user, a TLS server, a held lock) are checked there, against a case
//! file all the same (`support::assert_output`); the last test here makes
//! sure no case file is left unchecked.
//! `SNAPSHOTS=overwrite cargo test --test NAME` rewrites the files a test
//! checks. Issues #2, #9 and #10.

use crate::support;

use std::path::PathBuf;

use snapbox::file;
use support::*;

/// The shim connecting to the cloud, with no certificate yet, under `fault`:
/// exit 255 before exec, and no secret in what it prints.
#[track_caller]
fn connect_under(env: &TestEnv, fault: Fault) -> Test<'_> {
    env.certifier.set_fault(fault);
    Test::ssh(env, ["ssh.us-3.magento.cloud", "true"])
        .status(255)
        .stdout("")
}

#[track_caller]
fn no_secrets(env: &TestEnv, p: Printed) {
    assert_no_secrets(env, &p.stdout);
    assert_no_secrets(env, &p.stderr);
}

fn write_config_yaml(env: &TestEnv, yaml: &str) -> PathBuf {
    let dir = env.home().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

/// An executable script under `bin/`.
fn script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = env.path(&format!("bin/{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A port nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// The certifier and the auth server (tests/it/faults.rs checks that a good
// certificate survives each of these).

#[test]
fn certifier_502_with_an_html_body() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::ServerErrorHtml)
        .stderr(file!["cases/certifier_502.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_returns_garbage() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::GarbageCertificate)
        .stderr(file!["cases/certifier_garbage_certificate.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_certifies_another_key() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::OtherKey)
        .stderr(file!["cases/certifier_other_key.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_returns_an_expired_certificate() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::Expired)
        .stderr(file!["cases/certifier_expired_certificate.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_answers_401() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::Unauthorized)
        .stderr(file!["cases/certifier_401.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_never_answers() {
    let mut env = TestEnv::with_sshd();
    env.set("CERTSH_HTTP_TIMEOUT", "2");
    let p = connect_under(&env, Fault::Hang)
        .stderr(file!["cases/certifier_timeout.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_error_text_with_terminal_escapes() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::TerminalEscapes)
        .stderr(file!["cases/certifier_terminal_escapes.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_redirects() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::RedirectToPort(closed_port()))
        .stderr(file!["cases/certifier_redirect.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_answer_too_large() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::Oversized)
        .stderr(file!["cases/certifier_oversized.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_answer_not_json() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::NotJson)
        .stderr(file!["cases/certifier_not_json.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn auth_server_refuses_the_api_token() {
    let mut env = TestEnv::with_sshd();
    env.set("MAGENTO_CLOUD_CLI_TOKEN", "not-the-right-token-4242");
    connect_under(&env, Fault::None)
        .stderr(file!["cases/wrong_api_token.stderr"])
        .run();
}

/// Without `ssh.cert_only`, the error is one warning and the real
/// ssh runs unchanged (to the test sshd, through its client config); the
/// test sshd accepts only certificates for this user, so its refusal
/// follows certsh's line.
#[test]
fn no_certificate_connects_with_own_keys() {
    let mut env = TestEnv::with_sshd();
    env.unset("CERTSH_CERT_ONLY");
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        format!("http://127.0.0.1:{}", closed_port()),
    );
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "true"])
        .status(255)
        .stdout("")
        .stderr(file!["cases/no_certificate_own_keys.stderr"])
        .run();
}

#[test]
fn auth_server_not_listening() {
    let mut env = TestEnv::with_sshd();
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        format!("http://127.0.0.1:{}", closed_port()),
    );
    connect_under(&env, Fault::None)
        .stderr(file!["cases/auth_server_not_listening.stderr"])
        .run();
}

#[test]
fn plain_http_to_a_remote_token_url() {
    let mut env = TestEnv::with_sshd();
    env.set("MAGENTO_CLOUD_CLI_API_AUTH_URL", "http://localhost:8080");
    connect_under(&env, Fault::None)
        .stderr(file!["cases/plain_http_token_url.stderr"])
        .run();
    assert!(env.certifier.requests().is_empty());
}

#[test]
fn plain_http_to_a_remote_certifier_url() {
    let mut env = TestEnv::with_sshd();
    env.set(
        "MAGENTO_CLOUD_CLI_API_CERTIFIER_URL",
        "http://localhost:8080",
    );
    connect_under(&env, Fault::None)
        .stderr(file!["cases/plain_http_certifier_url.stderr"])
        .run();
    assert!(env.certifier.requests().is_empty());
}

#[test]
fn a_failed_renewal_warns_and_connects_with_the_current_certificate() {
    let env = TestEnv::with_sshd();
    env.certifier.set_validity(100);
    ok(env.certsh(["load"]));
    env.certifier.set_fault(Fault::ServerErrorHtml);
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "echo", "connected"])
        .stdout("connected\n")
        .stderr(file!["cases/renewal_failed_warning.stderr"])
        .run();
}

// Credentials and configuration.

#[test]
fn a_malformed_config_file() {
    let env = TestEnv::new();
    write_config_yaml(&env, "api:\n  token: abc\nssh:\n  auto_load_cert: [\n");
    Test::certsh(&env, ["ssh", "git.us-3.magento.cloud", "true"])
        .status(255)
        .stderr(file!["cases/config_malformed.stderr"])
        .run();
}

#[test]
fn config_values_as_the_official_cli_writes_them_are_taken_and_a_bad_one_costs_its_key_only() {
    let mut env = TestEnv::with_sshd();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    write_config_yaml(
        &env,
        &format!(
            "api:\n  token: {}\n  auto_load_ssh_cert: 1\nssh:\n  cert_key_ttl: -1\n  add_to_agent: maybe\n  \
             domain_wildcards: '*.magento.cloud'\n",
            support::certifier::API_TOKEN
        ),
    );
    env.real_ssh_with_test_config();
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "echo", "connected"])
        .stdout("connected\n")
        .stderr(file!["cases/config_lenient.stderr"])
        .run();
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn a_valid_certificate_of_another_login_is_replaced_and_said_so() {
    let mut env = TestEnv::with_sshd();
    env.real_ssh_with_test_config();
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "true"]).run();
    let first = env.certificate_bytes().unwrap();
    env.certifier.add_api_token("another-users-token");
    env.set("MAGENTO_CLOUD_CLI_TOKEN", "another-users-token");
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "echo", "connected"])
        .stdout("connected\n")
        .stderr(
            "certsh: the certificate in use came from another login; replacing it with one for \
             MAGENTO_CLOUD_CLI_TOKEN\n",
        )
        .run();
    assert_ne!(env.certificate_bytes().unwrap(), first);
    assert_eq!(env.certifier.signatures_for("another-users-token"), 1);
}

#[test]
fn an_unknown_profile() {
    let mut env = TestEnv::new();
    env.set("CERTSH_PROFILE", "heroku");
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/config_unknown_profile.stderr"])
        .run();
}

#[test]
fn a_yes_no_variable_that_is_neither() {
    let mut env = TestEnv::new();
    env.set("MAGENTO_CLOUD_CLI_SSH_AUTO_LOAD_CERT", "maybe");
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/env_not_yes_no.stderr"])
        .run();
}

#[test]
fn a_timeout_that_is_not_a_number() {
    let mut env = TestEnv::new();
    env.set("CERTSH_HTTP_TIMEOUT", "soon");
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/env_not_seconds.stderr"])
        .run();
}

#[test]
fn a_host_pattern_ssh_config_could_misread() {
    let mut env = TestEnv::new();
    env.set(
        "MAGENTO_CLOUD_CLI_SSH_DOMAIN_WILDCARDS",
        "*.magento.cloud,ok.example\tMatch",
    );
    Test::certsh(&env, ["ssh", "git.us-3.magento.cloud", "true"])
        .status(255)
        .stderr(file!["cases/host_pattern_misread.stderr"])
        .run();
    assert!(env.certifier.requests().is_empty());
}

#[test]
fn an_auth_url_that_is_not_a_url() {
    let mut env = TestEnv::new();
    env.set("MAGENTO_CLOUD_CLI_API_AUTH_URL", "auth server");
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/auth_url_not_a_url.stderr"])
        .run();
}

#[test]
fn an_https_proxy_that_is_not_a_url() {
    let mut env = TestEnv::new();
    env.set("MAGENTO_CLOUD_CLI_API_AUTH_URL", "https://auth.example");
    env.set("HTTPS_PROXY", "::");
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/https_proxy_not_a_url.stderr"])
        .run();
}

#[test]
fn an_empty_api_token_file() {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    write_config_yaml(&env, "api:\n  token_file: token\n");
    std::fs::write(env.home().join(".magento-cloud/token"), "").unwrap();
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/api_token_file_empty.stderr"])
        .run();
}

#[test]
fn real_ssh_pointing_at_certsh() {
    let mut env = TestEnv::new();
    env.set("CERTSH_REAL_SSH", env.shim());
    Test::certsh(&env, ["ssh", "github.com", "true"])
        .status(255)
        .stderr(file!["cases/real_ssh_is_certsh.stderr"])
        .run();
}

#[test]
fn no_real_ssh_on_path() {
    let mut env = TestEnv::new();
    // Only the shim is on PATH.
    env.set("PATH", env.path("bin"));
    Test::certsh(&env, ["ssh", "github.com", "true"])
        .status(255)
        .stderr(file!["cases/no_ssh_on_path.stderr"])
        .run();
}

#[test]
fn real_ssh_that_does_not_run() {
    let mut env = TestEnv::new();
    // Not executable.
    let broken = env.path("bin/broken-ssh");
    std::fs::write(&broken, "#!/bin/sh\n").unwrap();
    env.set("CERTSH_REAL_SSH", &broken);
    Test::certsh(&env, ["ssh", "github.com", "true"])
        .status(255)
        .stderr(file!["cases/real_ssh_does_not_run.stderr"])
        .run();
}

#[test]
fn an_auth_url_with_another_scheme() {
    let mut env = TestEnv::new();
    env.set("MAGENTO_CLOUD_CLI_API_AUTH_URL", "ftp://auth.example");
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/auth_url_scheme.stderr"])
        .run();
}

#[test]
fn an_api_token_file_that_does_not_read() {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    write_config_yaml(&env, "api:\n  token_file: missing-token\n");
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/api_token_file_unreadable.stderr"])
        .run();
}

#[test]
fn auth_server_502() {
    let env = TestEnv::new();
    env.certifier.set_token_fault(Fault::ServerErrorHtml);
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/auth_server_502.stderr"])
        .run();
}

/// `certsh load` with the token endpoint under `fault`: exit 1.
#[track_caller]
fn load_under(env: &TestEnv, fault: Fault, case: impl snapbox::IntoData) {
    env.certifier.set_token_fault(fault);
    let p = Test::certsh(env, ["load"]).status(1).stderr(case).run();
    no_secrets(env, p);
}

#[test]
fn auth_server_refuses_the_api_token_with_invalid_grant() {
    let env = TestEnv::new();
    load_under(
        &env,
        Fault::InvalidGrant,
        file!["cases/wrong_api_token_invalid_grant.stderr"],
    );
}

#[test]
fn auth_server_refuses_the_api_token_with_request_unauthorized() {
    let env = TestEnv::new();
    load_under(
        &env,
        Fault::RequestUnauthorized,
        file!["cases/wrong_api_token_request_unauthorized.stderr"],
    );
}

#[test]
fn auth_server_does_not_know_the_client_id() {
    let env = TestEnv::new();
    load_under(
        &env,
        Fault::Unauthorized,
        file!["cases/auth_server_invalid_client.stderr"],
    );
}

#[test]
fn auth_server_403() {
    let env = TestEnv::new();
    load_under(
        &env,
        Fault::Forbidden,
        file!["cases/auth_server_403.stderr"],
    );
}

#[test]
fn auth_server_429() {
    let env = TestEnv::new();
    load_under(
        &env,
        Fault::TooManyRequests,
        file!["cases/auth_server_429.stderr"],
    );
}

#[test]
fn auth_server_answer_not_json() {
    let env = TestEnv::new();
    load_under(
        &env,
        Fault::NotJson,
        file!["cases/auth_server_not_json.stderr"],
    );
}

#[test]
fn certifier_403() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::Forbidden)
        .stderr(file!["cases/certifier_403.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn certifier_429() {
    let env = TestEnv::with_sshd();
    let p = connect_under(&env, Fault::TooManyRequests)
        .stderr(file!["cases/certifier_429.stderr"])
        .run();
    no_secrets(&env, p);
}

#[test]
fn mfa_demanded_while_using_an_api_token() {
    let env = TestEnv::new();
    env.certifier.set_step_up(true, None);
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/step_up_with_api_token.stderr"])
        .run();
}

#[test]
fn a_session_from_before_the_token_url_binding() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let state = env.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let session = state.join("session.json");
    std::fs::write(
        &session,
        r#"{"id":"0123456789abcdef01234567","refresh_token":"old-refresh-token","created_at":1}"#,
    )
    .unwrap();
    std::fs::set_permissions(&session, std::fs::Permissions::from_mode(0o600)).unwrap();
    Test::certsh(&env, ["load"])
        .status(1)
        .stderr(file!["cases/session_for_another_server.stderr"])
        .run();
    assert!(env.certifier.requests().is_empty());
}

/// No usable HOME: the state folder falls back to `$TMPDIR/certsh-<uid>`
/// (the uid reads `[..]` in the cases: CI need not run as root).
fn temp_fallback() -> (TestEnv, PathBuf) {
    let mut env = TestEnv::new();
    env.set("HOME", "/nonexistent/certsh-test-home");
    let uid = rustix::process::getuid().as_raw();
    let fallback = env.path(&format!("tmp/certsh-{uid}"));
    (env, fallback)
}

#[test]
fn a_temp_state_folder_planted_as_a_symlink() {
    let (env, fallback) = temp_fallback();
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &fallback).unwrap();
    Test::certsh(&env, ["ssh", "git.us-3.magento.cloud", "true"])
        .status(255)
        .stderr(file!["cases/temp_folder_not_yours.stderr"])
        .run();
    assert!(env.certifier.requests().is_empty());
}

#[test]
fn a_temp_folder_ssh_would_expand() {
    let (mut env, _) = temp_fallback();
    let tmp = env.path("tmp/${HOME}");
    std::fs::create_dir(&tmp).unwrap();
    env.set("TMPDIR", &tmp);
    Test::certsh(&env, ["ssh", "git.us-3.magento.cloud", "true"])
        .status(255)
        .stderr(file!["cases/state_folder_dollar_brace.stderr"])
        .run();
}

#[test]
fn a_wrapped_program_that_is_not_installed() {
    let mut env = TestEnv::new();
    let prefix = env.installed();
    env.set("PATH", prefix.join("bin"));
    Test::program(&env, prefix.join("bin/certsh"), ["scp", "a", "b"])
        .status(1)
        .stderr(file!["cases/scp_not_on_path.stderr"])
        .run();
}

#[test]
fn loading_into_an_agent_without_ssh_add() {
    let mut env = TestEnv::new();
    env.set("SSH_AUTH_SOCK", env.path("agent.sock"));
    env.set("PATH", env.path("bin"));
    Test::certsh(&env, ["load", "--agent"])
        .status(1)
        .stderr(file!["cases/ssh_add_not_on_path.stderr"])
        .run();
}

#[test]
fn an_unknown_command() {
    let env = TestEnv::new();
    Test::certsh(&env, ["frobnicate"])
        .status(2)
        .stderr(file!["cases/unknown_command.stderr"])
        .run();
}

// Login.

/// No API token, and a `$BROWSER` that runs `body` with the URL certsh
/// opens (`http://127.0.0.1:<port>/login`, which redirects to the auth
/// server's authorize page) as `$1`.
fn login_world(body: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    env.set("CERTSH_LOGIN_TIMEOUT", "60");
    let browser = script(&env, "browser", body);
    env.set("BROWSER", browser);
    env
}

/// Shell lines that set `$base` to certsh's callback address and `$state` to
/// the state of the login certsh started.
const FIND_STATE: &str = "base=${1%/login}
authorize=$(curl -sS -o /dev/null -w '%{redirect_url}' \"$1\")
state=$(printf '%s' \"$authorize\" | sed -n 's/.*[?&]state=\\([^&]*\\).*/\\1/p')";

#[test]
fn login_abandoned_in_the_browser() {
    let mut env = login_world("true");
    env.set("CERTSH_LOGIN_TIMEOUT", "2");
    Test::certsh(&env, ["login"])
        .status(1)
        .stderr(file!["cases/login_timeout.stderr"])
        .run();
}

/// A callback with another state (a forged `error=` here) is answered 400
/// and ignored: the login goes on until the real callback ends it.
#[test]
fn login_callback_with_another_state_is_ignored() {
    let env = login_world(&format!(
        "{FIND_STATE}
curl -sS -o /dev/null -w '%{{http_code}}' \"$base/?error=forged&state=x$state\" > \"$TMPDIR/answered\"
curl -sS -o /dev/null \"$base/?error=access_denied&state=$state\""
    ));
    Test::certsh(&env, ["login"])
        .status(1)
        .stderr(file!["cases/login_wrong_state.stderr"])
        .run();
    assert_eq!(
        std::fs::read_to_string(env.path("tmp/answered")).unwrap(),
        "400"
    );
    assert_eq!(env.certifier.token_requests(), 0);
}

#[test]
fn login_denied_in_the_browser() {
    let env = login_world(&format!(
        "{FIND_STATE}\ncurl -sS -o /dev/null \"$base/?error=access_denied&error_description=The+user+said+no&state=$state\""
    ));
    Test::certsh(&env, ["login"])
        .status(1)
        .stderr(file!["cases/login_denied.stderr"])
        .run();
    assert_eq!(env.certifier.token_requests(), 0);
}

#[test]
fn login_with_a_code_the_auth_server_refuses() {
    let env = login_world(&format!(
        "{FIND_STATE}\ncurl -sS -o /dev/null \"$base/?code=not-a-code&state=$state\""
    ));
    Test::certsh(&env, ["login"])
        .status(1)
        .stderr(file!["cases/login_refused.stderr"])
        .run();
}

#[test]
fn login_needs_mfa_for_a_certificate() {
    // The browser of a user who approves.
    let env = login_world("exec curl -sS -o /dev/null -L --max-time 20 \"$1\"");
    env.certifier.set_step_up(true, None);
    Test::certsh(&env, ["login"])
        .status(1)
        .stderr(file!["cases/login_step_up.stderr"])
        .run();
}

#[test]
fn login_with_an_empty_api_token() {
    let env = login_world("true");
    Test::certsh(&env, ["login", "--api-token"])
        .stdin("")
        .status(1)
        .stderr(file!["cases/login_api_token_empty.stderr"])
        .run();
}

#[test]
fn login_with_an_api_token_the_auth_server_refuses() {
    let env = login_world("true");
    let p = Test::certsh(&env, ["login", "--api-token"])
        .stdin("not-a-valid-token\n")
        .status(1)
        .stderr(file!["cases/login_api_token_refused.stderr"])
        .run();
    assert!(!p.stderr.contains("not-a-valid-token"));
}

#[test]
fn the_session_has_ended() {
    let env = login_world("exec curl -sS -o /dev/null -L --max-time 20 \"$1\"");
    // Access tokens that expire at once, so that the next load refreshes.
    env.certifier.set_expires_in(30);
    ok(env.certsh(["login"]));
    env.certifier.end_sessions();
    Test::certsh(&env, ["load", "--refresh"])
        .status(1)
        .stderr(file!["cases/session_ended.stderr"])
        .run();
}

// Set-up refusals.

#[test]
fn setup_git_over_another_ssh_command() {
    let env = TestEnv::new();
    std::fs::write(
        env.home().join(".gitconfig"),
        "[core]\n\tsshCommand = ssh -o ServerAliveInterval=5\n",
    )
    .unwrap();
    let certsh = env.installed().join("bin/certsh");
    Test::program(&env, certsh, ["setup", "git"])
        .status(1)
        .stderr(file!["cases/setup_git_taken.stderr"])
        .run();
}

#[test]
fn setup_git_undo_after_a_change_by_hand() {
    let env = TestEnv::new();
    let certsh = env.installed().join("bin/certsh");
    ok(env.command_plain(&certsh).args(["setup", "git"]));
    ok(env
        .command_plain("git")
        .args(["config", "--global", "core.sshCommand", "ssh -v"]));
    Test::program(&env, certsh, ["setup", "git", "--undo"])
        .status(1)
        .stderr(file!["cases/setup_git_undo_changed.stderr"])
        .run();
}

#[test]
fn setup_ssh_config_with_an_old_openssh() {
    let mut env = TestEnv::new();
    let old_ssh = script(
        &env,
        "old-ssh",
        "echo 'OpenSSH_7.2p2 Ubuntu-4ubuntu2.10, OpenSSL 1.0.2g  1 Mar 2016' >&2",
    );
    env.set("CERTSH_REAL_SSH", &old_ssh);
    let certsh = env.installed().join("bin/certsh");
    let file = env.path("ssh_config");
    Test::program(
        &env,
        certsh,
        ["setup", "ssh-config", "--file", file.to_str().unwrap()],
    )
    .status(1)
    .stderr(file!["cases/setup_ssh_config_old_openssh.stderr"])
    .run();
    assert!(!file.exists());
}

#[test]
fn setup_ssh_config_with_a_host_pattern_from_config_yaml() {
    let env = TestEnv::new();
    write_config_yaml(
        &env,
        "ssh:\n  domain_wildcards: [\"*.magento.cloud\", \"*\\texec\\ttouch\\t/tmp/pwned\\t\\\\\"]\n",
    );
    let certsh = env.installed().join("bin/certsh");
    let file = env.path("ssh_config");
    Test::program(
        &env,
        certsh,
        ["setup", "ssh-config", "--file", file.to_str().unwrap()],
    )
    .status(1)
    .stderr(file!["cases/setup_ssh_config_bad_host_pattern.stderr"])
    .run();
    assert!(!file.exists());
}

#[test]
fn setup_ssh_config_without_host_patterns() {
    let env = TestEnv::new();
    write_config_yaml(&env, "ssh:\n  domain_wildcards: []\n");
    let certsh = env.installed().join("bin/certsh");
    let file = env.path("ssh_config");
    Test::program(
        &env,
        certsh,
        ["setup", "ssh-config", "--file", file.to_str().unwrap()],
    )
    .status(1)
    .stderr(file!["cases/setup_ssh_config_no_host_patterns.stderr"])
    .run();
}

#[test]
fn a_program_wrapper_without_the_shim_installed() {
    let env = TestEnv::new();
    let prefix = env.installed();
    std::fs::remove_file(prefix.join("libexec/certsh/ssh")).unwrap();
    Test::program(&env, prefix.join("bin/certsh"), ["scp", "a", "b"])
        .status(1)
        .stderr(file!["cases/shim_not_installed.stderr"])
        .run();
}

// Doctor: its findings go to stdout; `...` stands for the lines of other
// checks.

/// The real ssh reads only `ssh_config` (none of the machine's own).
fn doctor_world(ssh_config: &str) -> TestEnv {
    let mut env = TestEnv::new();
    let file = env.path("doctor_ssh_config");
    std::fs::write(&file, ssh_config).unwrap();
    let ssh = script(
        &env,
        "ssh-with-config",
        &format!("exec /usr/bin/ssh -F '{}' \"$@\"", file.display()),
    );
    env.set("CERTSH_REAL_SSH", ssh);
    env
}

#[test]
fn doctor_with_a_malformed_config_file() {
    let env = doctor_world("");
    write_config_yaml(&env, "api:\n  token: [unclosed\n");
    Test::certsh(&env, ["doctor"])
        .status(1)
        .stdout(file!["cases/doctor_config_malformed.stdout"])
        .run();
}

#[test]
fn doctor_names_a_user_known_hosts_file_that_hides_certshs_host_keys() {
    let env = doctor_world("Host *\n    UserKnownHostsFile /dev/null\n");
    std::fs::create_dir_all(env.state_dir()).unwrap();
    std::fs::write(
        env.state_dir().join("known_hosts"),
        "git.magento.cloud ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
    )
    .unwrap();
    Test::certsh(&env, ["doctor"])
        .stdout(file!["cases/doctor_known_hosts_hidden.stdout"])
        .run();
    // Named after the user's own file, certsh's is used: nothing to say.
    std::fs::write(
        env.path("doctor_ssh_config"),
        format!(
            "Host *\n    UserKnownHostsFile /dev/null \"{}\"\n",
            env.state_dir().join("known_hosts").display()
        ),
    )
    .unwrap();
    Test::certsh(&env, ["doctor"])
        .stdout(file!["cases/doctor_known_hosts_named.stdout"])
        .run();
}

#[test]
fn doctor_names_the_official_clis_refresh_left_in_ssh_config() {
    let env = doctor_world("");
    let ssh = env.home().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    // What the official CLI adds to ~/.ssh/config (an absolute path), and
    // the refresh line of the file it includes, copied in by hand.
    std::fs::write(
        ssh.join("config"),
        format!(
            "Host github.com\n  User git\n\
             Host *.magento.cloud *.magentosite.cloud\n  Include {}/.magento-cloud/ssh/*.config\nHost *\n\
             Match host \"*.magento.cloud,*.magentosite.cloud\" exec \"[ $CLI_SSH_NO_REFRESH'' = '1' ] || \
             magento-cloud ssh-cert:load --refresh-only --yes --quiet\"\n",
            env.home().display()
        ),
    )
    .unwrap();
    let before = std::fs::read(ssh.join("config")).unwrap();
    Test::certsh(&env, ["doctor"])
        .stdout(file!["cases/doctor_official_refresh.stdout"])
        .run();
    assert_eq!(
        std::fs::read(ssh.join("config")).unwrap(),
        before,
        "doctor names the lines and leaves the file alone"
    );
}

/// doctor in a repository whose remotes name four cloud hosts: one whose
/// key ssh knows, one it would ask about (named by two remotes), one it
/// refuses (StrictHostKeyChecking yes) and one it cannot ask about
/// (BatchMode yes); a remote outside the cloud gets no line.
#[test]
fn doctor_checks_the_host_keys_of_the_repositorys_cloud_remotes() {
    let known = "known_hosts_of_the_user";
    let mut env = doctor_world("");
    let kh = env.path(known);
    std::fs::write(
        &kh,
        format!("git.eu.magento.cloud {}\n", env.certifier.ca_public_key()),
    )
    .unwrap();
    std::fs::write(
        env.path("doctor_ssh_config"),
        format!(
            "Host git.ap-3.magento.cloud\n    StrictHostKeyChecking yes\n\
             Host git.de.magento.cloud\n    BatchMode yes\n\
             Host *\n    UserKnownHostsFile {}\n    GlobalKnownHostsFile /dev/null\n",
            kh.display()
        ),
    )
    .unwrap();
    env.set("GIT_SSH_COMMAND", format!("{} ssh", certsh_bin().display()));
    let repo = env.path("work/repo");
    ok(env.command_plain("git").args(["init", "-q"]).arg(&repo));
    for (name, url) in [
        ("origin", "abc@git.us-3.magento.cloud:abc.git"),
        ("eu", "ssh://abc@git.eu.magento.cloud/abc.git"),
        ("upstream", "ssh://git.us-3.magento.cloud/abc.git"),
        ("ap", "abc@git.ap-3.magento.cloud:abc.git"),
        ("de", "abc@git.de.magento.cloud:abc.git"),
        ("github", "git@github.com:certsh/certsh.git"),
    ] {
        ok(env
            .command_plain("git")
            .current_dir(&repo)
            .args(["remote", "add", name, url]));
    }
    let mut doctor = env.certsh(["doctor"]);
    doctor.current_dir(&repo);
    let p = run(doctor);
    assert_output(
        &env,
        &p.stdout,
        file!["cases/doctor_host_keys_of_the_remotes.stdout"],
    );
}

#[test]
fn doctor_without_credentials() {
    let mut env = doctor_world("");
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    env.set("GIT_SSH_COMMAND", "ssh -i ~/.ssh/other");
    Test::certsh(&env, ["doctor"])
        .status(1)
        .stdout(file!["cases/doctor_no_credentials.stdout"])
        .run();
}

#[test]
fn doctor_online_with_the_auth_server_unreachable() {
    let mut env = doctor_world("");
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        format!("http://127.0.0.1:{}", closed_port()),
    );
    Test::certsh(&env, ["doctor", "--online"])
        .status(1)
        .stdout(file!["cases/doctor_auth_server_unreachable.stdout"])
        .run();
}

/// Every case file is checked by some test: a case whose test was renamed
/// or deleted would otherwise go on promising a message nobody checks.
#[test]
fn every_case_file_is_checked() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut sources = String::new();
    for dir in [tests.clone(), tests.join("it")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                sources += &std::fs::read_to_string(&path).unwrap();
            }
        }
    }
    let mut orphans = vec![];
    for entry in std::fs::read_dir(tests.join("cases")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !sources.contains(&format!("\"cases/{name}\"")) {
            orphans.push(name);
        }
    }
    orphans.sort();
    assert!(orphans.is_empty(), "case files no test checks: {orphans:?}");
}
