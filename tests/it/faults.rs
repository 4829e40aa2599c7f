//! Every way the certifier or the auth server can fail: exit 255 before
//! exec, one clear line, no token in the output, and a good certificate is
//! never replaced.

use crate::support;

use support::*;

/// Runs ssh to the cloud with no certificate under `fault`; returns stderr.
#[track_caller]
fn connect_fails_with(env: &TestEnv, fault: Fault) -> String {
    env.certifier.set_fault(fault);
    let p = fails(env.command_ssh(["ssh.us-3.magento.cloud", "true"]), 255);
    assert_no_secrets(env, &p.stdout);
    assert_no_secrets(env, &p.stderr);
    assert!(p.stdout.is_empty(), "stdout belongs to ssh: {:?}", p.stdout);
    assert_eq!(p.stderr.lines().count(), 1, "one line: {:?}", p.stderr);
    assert!(p.stderr.starts_with("certsh: "), "{:?}", p.stderr);
    p.stderr
}

/// Loads a good certificate, then asks for a new one under `fault`: the
/// refresh fails and the good certificate is still there, unchanged.
#[track_caller]
fn good_certificate_survives(env: &TestEnv, fault: Fault) -> String {
    env.certifier.set_fault(Fault::None);
    ok(env.certsh(["load"]));
    let before = env.certificate_bytes().unwrap();
    env.certifier.set_fault(fault);
    let p = fails(env.certsh(["load", "--refresh"]), 1);
    assert_no_secrets(env, &(p.stdout.clone() + &p.stderr));
    assert_eq!(
        env.certificate_bytes().unwrap(),
        before,
        "the good certificate was kept"
    );
    env.certifier.set_fault(Fault::None);
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
    p.stderr
}

#[test]
fn server_error_with_an_html_body() {
    let env = TestEnv::with_sshd();
    // The message: tests/cases/certifier_502.stderr.
    connect_fails_with(&env, Fault::ServerErrorHtml);
    good_certificate_survives(&env, Fault::ServerErrorHtml);
}

#[test]
fn garbage_certificate() {
    let env = TestEnv::with_sshd();
    // The message: tests/cases/certifier_garbage_certificate.stderr.
    connect_fails_with(&env, Fault::GarbageCertificate);
    good_certificate_survives(&env, Fault::GarbageCertificate);
}

#[test]
fn certificate_for_another_key() {
    let env = TestEnv::with_sshd();
    // The message: tests/cases/certifier_other_key.stderr.
    connect_fails_with(&env, Fault::OtherKey);
    good_certificate_survives(&env, Fault::OtherKey);
}

#[test]
fn expired_certificate() {
    let env = TestEnv::with_sshd();
    // The message: tests/cases/certifier_expired_certificate.stderr.
    connect_fails_with(&env, Fault::Expired);
    good_certificate_survives(&env, Fault::Expired);
}

#[test]
fn certifier_answers_401() {
    let env = TestEnv::with_sshd();
    // The message: tests/cases/certifier_401.stderr.
    connect_fails_with(&env, Fault::Unauthorized);
    good_certificate_survives(&env, Fault::Unauthorized);
}

#[test]
fn a_cached_access_token_refused_by_the_certifier_is_replaced_once() {
    let env = TestEnv::with_sshd();
    ok(env.certsh(["load"]));
    assert_eq!(env.certifier.token_requests(), 1);
    env.certifier.revoke_access_tokens();
    ok(env.certsh(["load", "--refresh"]));
    assert_eq!(env.certifier.token_requests(), 2);
}

#[test]
fn wrong_api_token() {
    let mut env = TestEnv::with_sshd();
    env.set("MAGENTO_CLOUD_CLI_TOKEN", "not-the-right-token-4242");
    // The message: tests/cases/wrong_api_token.stderr.
    let p = fails(env.command_ssh(["ssh.us-3.magento.cloud", "true"]), 255);
    assert!(!p.stderr.contains("not-the-right-token-4242"));
    assert_eq!(env.certifier.sign_requests(), 0);
}

#[test]
fn a_certifier_that_never_answers_is_given_up_on() {
    let mut env = TestEnv::with_sshd();
    env.set("CERTSH_HTTP_TIMEOUT", "2");
    // Without its timeout certsh would wait for good: the command's own
    // 120 s limit (support) then fails the test; no claim about speed.
    // The message: tests/cases/certifier_timeout.stderr.
    connect_fails_with(&env, Fault::Hang);
    good_certificate_survives(&env, Fault::Hang);
}

#[test]
fn hostile_error_text_reaches_the_terminal_harmlessly() {
    let env = TestEnv::with_sshd();
    let err = connect_fails_with(&env, Fault::TerminalEscapes);
    assert!(!err.trim_end().chars().any(char::is_control), "{err:?}");
    // The server's text arrives, with every control character replaced:
    // tests/cases/certifier_terminal_escapes.stderr.
}

#[test]
fn a_failed_renewal_keeps_using_a_certificate_that_is_still_valid() {
    let env = TestEnv::with_sshd();
    env.certifier.set_validity(100);
    ok(env.certsh(["load"]));
    env.certifier.set_fault(Fault::ServerErrorHtml);
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "connected"]));
    assert_eq!(p.stdout, "connected\n");
    // The warning: tests/cases/renewal_failed_warning.stderr.
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_token_is_sent() {
    // `localhost` is a name, not a literal loopback address: it could
    // resolve anywhere, so plain http:// to it is refused like any remote
    // host. Here it resolves to a listener of the test's own, which sees
    // whatever certsh would send.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // And on ::1, where `localhost` may resolve too (if this host has it).
    let listener6 = std::net::TcpListener::bind(("::1", port)).ok();
    if let Some(l) = &listener6 {
        l.set_nonblocking(true).unwrap();
    }
    let remote = format!("http://localhost:{port}");
    // The messages: tests/cases/plain_http_*.stderr.
    for var in [
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        "MAGENTO_CLOUD_CLI_API_CERTIFIER_URL",
    ] {
        let mut env = TestEnv::with_sshd();
        env.set(var, &remote).set("CERTSH_HTTP_TIMEOUT", "2");
        fails(env.command_ssh(["ssh.us-3.magento.cloud", "true"]), 255);
        assert!(listener.accept().is_err(), "{remote} was contacted");
        if let Some(l) = &listener6 {
            assert!(l.accept().is_err(), "{remote} was contacted on ::1");
        }
        assert!(env.certifier.requests().is_empty());
    }
}
