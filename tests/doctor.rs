//! `certsh doctor`: each common problem found, with its fix. Issue #3.
//!
//! The real ssh is wrapped so that `ssh -G` reads the test's ssh_config
//! (OpenSSH reads `~/.ssh/config` from the passwd home, not `$HOME`, so a
//! test cannot place one there).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use support::*;

fn script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    let path = env.path(&format!("bin/{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The real ssh, reading `ssh_config` as its only configuration.
fn ssh_with_config(env: &mut TestEnv, ssh_config: &str) {
    let file = env.path("doctor_ssh_config");
    std::fs::write(&file, ssh_config).unwrap();
    let ssh = script(
        env,
        "ssh-with-config",
        &format!("exec /usr/bin/ssh -F '{}' \"$@\"", file.display()),
    );
    env.set("CERTSH_REAL_SSH", ssh);
}

#[test]
fn a_healthy_set_up_passes_every_check_online() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "Host *\n  ServerAliveInterval 30\n");
    env.set("GIT_SSH_COMMAND", env.shim());
    ok(env.certsh(["load"]));
    let p = ok(env.certsh(["doctor", "--online"]));
    let url = env.certifier.url();
    for line in [
        "certsh doctor (profile magento)".to_string(),
        "  ok    credentials: MAGENTO_CLOUD_CLI_TOKEN (5f0c8e5a-certsh-test-user, api_token)"
            .into(),
        "  ok    git: GIT_SSH_COMMAND runs certsh".into(),
        "  ok    ssh_config: nothing for git.magento.cloud that fights the certificate".into(),
        format!("  ok    auth server: {url}/oauth2/authorize answered 400"),
        format!("  ok    certifier: {url}/ssh/authority answered 200"),
        "  ok    clock: within 60s of the server".into(),
    ] {
        assert!(
            p.stdout.lines().any(|l| l == line),
            "{line:?} in\n{}",
            p.stdout
        );
    }
    assert!(p.stdout.contains("  ok    ssh: "), "{}", p.stdout);
    assert!(
        !p.stdout.contains("FAIL") && !p.stdout.contains("warn"),
        "{}",
        p.stdout
    );
    assert_no_secrets(&env, &p.stdout);
}

#[test]
fn without_online_no_request_is_made() {
    let env = TestEnv::new();
    let before = env.certifier.requests().len();
    run(env.certsh(["doctor"]));
    assert_eq!(env.certifier.requests().len(), before);
}

#[test]
fn an_ssh_without_certificate_file_fails_with_the_fix() {
    let mut env = TestEnv::new();
    let old = script(
        &env,
        "old-ssh",
        "echo 'OpenSSH_7.1p2, OpenSSL 1.0.2g  1 Mar 2016' >&2",
    );
    env.set("CERTSH_REAL_SSH", &old);
    let p = fails(env.certsh(["doctor"]), 1);
    assert!(
        p.stdout.contains(&format!(
            "  FAIL  ssh: {} is OpenSSH 7.1, older than 7.2, which has no CertificateFile\n        \
             fix: install a current OpenSSH client, or set CERTSH_REAL_SSH to one\n",
            old.display()
        )),
        "{}",
        p.stdout
    );
}

#[test]
fn ssh_config_lines_that_fight_the_certificate_are_named() {
    let mut env = TestEnv::new();
    ssh_with_config(
        &mut env,
        "Host *.magento.cloud\n  CertificateFile /keys/other-cert.pub\n  IdentitiesOnly yes\n",
    );
    let p = run(env.certsh(["doctor"]));
    assert!(
        p.stdout.contains(
            "  warn  ssh_config: CertificateFile /keys/other-cert.pub applies to git.magento.cloud: \
             ssh may offer that certificate instead of certsh's\n"
        ),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout
            .contains("  warn  ssh_config: IdentitiesOnly yes applies to git.magento.cloud without certsh's key"),
        "{}",
        p.stdout
    );
}

#[test]
fn a_clock_far_from_the_servers_fails() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    env.certifier.set_clock_offset(-600);
    let p = fails(env.certsh(["doctor", "--online"]), 1);
    assert!(
        p.stdout.contains(
            "  FAIL  clock: 10m 00s ahead of the server\n        fix: synchronise this computer's clock (NTP)"
        ) || p.stdout.contains("  FAIL  clock: 10m 01s ahead of the server"),
        "{}",
        p.stdout
    );
}

#[test]
fn no_credentials_and_a_foreign_git_ssh_are_reported_with_fixes() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    env.set("GIT_SSH_COMMAND", "ssh -i ~/.ssh/other");
    let p = fails(env.certsh(["doctor"]), 1);
    assert!(
        p.stdout.contains(
            "  FAIL  credentials: none: MAGENTO_CLOUD_CLI_TOKEN is not set, no API token is stored or \
             configured, and nobody is logged in\n        fix: certsh login, or set MAGENTO_CLOUD_CLI_TOKEN to an API token\n"
        ),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout.contains(
            "  warn  git: GIT_SSH_COMMAND is \"ssh -i ~/.ssh/other\", which is not certsh\n        \
             fix: set it to certsh's shim: eval \"$(certsh env)\"\n"
        ),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout.contains("  warn  certificate: none yet\n"),
        "{}",
        p.stdout
    );
}
