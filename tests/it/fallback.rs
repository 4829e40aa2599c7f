//! When no certificate can be had, the connection goes ahead with the user's
//! own keys: a project that does not require MFA accepts the key
//! the user registered. `ssh.cert_only` (`CERTSH_CERT_ONLY=1`) keeps the old
//! behaviour: the error, exit 255, and no connection at all.
//!
//! The test sshd accepts certificates from the test CA and, once registered
//! with `Sshd::authorize_key`, one plain key: the user's own, passed with
//! `-i` as a user's own `IdentityFile` would be.

use crate::support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

/// A world with no certificate, falling back by default, and a plain key
/// of the user's own that the test sshd accepts.
fn world() -> (TestEnv, PathBuf) {
    let mut env = TestEnv::with_sshd();
    env.unset("CERTSH_CERT_ONLY");
    let key = env.path("own_id_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "own-key", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    env.sshd().authorize_key(&public);
    (env, key)
}

fn own_key_args(key: &std::path::Path) -> Vec<String> {
    vec![
        "-i".into(),
        key.display().to_string(),
        "ssh.us-3.magento.cloud".into(),
        "echo".into(),
        "connected".into(),
    ]
}

/// sshd's log says the plain key logged in, not a certificate.
#[track_caller]
fn accepted_with_plain_key(env: &TestEnv) {
    let log = env.sshd().log();
    assert!(
        log.lines()
            .any(|l| l.contains("Accepted publickey") && l.contains("ED25519 SHA256:")),
        "{log}"
    );
    assert!(!log.contains("ED25519-CERT"), "{log}");
}

#[test]
fn no_credential_at_all_connects_with_the_users_own_key() {
    let (mut env, key) = world();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let p = ok(env.command_ssh(own_key_args(&key)));
    assert_eq!(p.stdout, "connected\n");
    assert_eq!(
        p.stderr,
        format!(
            "certsh: warning: no credentials for Magento Cloud: MAGENTO_CLOUD_CLI_TOKEN is not set, {}/.magento-cloud/config.yaml gives no API token, and nobody is logged in (set MAGENTO_CLOUD_CLI_TOKEN to an API token, or run `certsh login` at a terminal); connecting to ssh.us-3.magento.cloud without a certificate, with your own keys\n",
            env.home().display()
        )
    );
    assert!(env.certifier.requests().is_empty());
    accepted_with_plain_key(&env);
    assert!(env.certificate_bytes().is_none());
}

#[test]
fn an_unreachable_certifier_with_no_certificate_falls_back_to_the_users_own_key() {
    let (mut env, key) = world();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        format!("http://127.0.0.1:{closed}"),
    );
    let p = ok(env.command_ssh(own_key_args(&key)));
    assert_eq!(p.stdout, "connected\n");
    assert!(
        p.stderr
            .starts_with("certsh: warning: cannot reach the auth server")
            && p.stderr.ends_with("with your own keys\n")
            && p.stderr.lines().count() == 1,
        "{}",
        p.stderr
    );
    accepted_with_plain_key(&env);
}

#[test]
fn a_certificate_still_wins_when_one_can_be_had() {
    let (env, key) = world();
    let p = ok(env.command_ssh(own_key_args(&key)));
    assert_eq!(p.stdout, "connected\n");
    assert_eq!(p.stderr, "");
    assert_eq!(env.certifier.sign_requests(), 1);
    let log = env.sshd().log();
    assert!(log.contains("ED25519-CERT"), "{log}");
}

#[test]
fn cert_only_in_the_environment_refuses_before_ssh() {
    let (mut env, key) = world();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    env.set("CERTSH_CERT_ONLY", "1");
    let p = fails(env.command_ssh(own_key_args(&key)), 255);
    assert_eq!(p.stdout, "");
    assert!(
        p.stderr
            .starts_with("certsh: no credentials for Magento Cloud")
            && p.stderr.lines().count() == 1,
        "{}",
        p.stderr
    );
    let log = env.sshd().log();
    assert!(!log.contains("Accepted"), "ssh ran:\n{log}");
    // The one connection is the harness's own start-up probe.
    assert_eq!(log.matches("Connection from").count(), 1, "ssh ran:\n{log}");
}

#[test]
fn cert_only_in_config_yaml_refuses_before_ssh() {
    let (mut env, key) = world();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let dir = env.home().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.yaml"), "ssh:\n  cert_only: true\n").unwrap();
    let p = fails(env.command_ssh(own_key_args(&key)), 255);
    assert!(
        p.stderr
            .starts_with("certsh: no credentials for Magento Cloud"),
        "{}",
        p.stderr
    );
    assert!(!env.sshd().log().contains("Accepted"));
    // The environment says otherwise: it wins over the file.
    env.set("CERTSH_CERT_ONLY", "0");
    let p = ok(env.command_ssh(own_key_args(&key)));
    assert_eq!(p.stdout, "connected\n");
}

#[test]
fn the_ssh_config_hook_falls_back_the_same_way() {
    let (mut env, key) = world();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let file = env.path("user_ssh_config");
    std::fs::copy(env.ssh_config(), &file).unwrap();
    let certsh = env.installed().join("bin/certsh");
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--file", file.to_str().unwrap()]));
    // OpenSSH's default keys are named in the block, so that they are still
    // tried once certsh's IdentityFile applies.
    let g = ok(env
        .command_plain("/usr/bin/ssh")
        .arg("-F")
        .arg(&file)
        .args(["-G", "ssh.us-3.magento.cloud"]));
    for default in ["id_rsa", "id_ecdsa", "id_ed25519"] {
        assert!(
            g.stdout.lines().any(|l| l.starts_with("identityfile ")
                && l.ends_with(&format!("/.ssh/{default}"))),
            "{default} missing:\n{}",
            g.stdout
        );
    }
    let mut plain = env.command_plain("/usr/bin/ssh");
    plain.arg("-F").arg(&file).args(own_key_args(&key));
    let p = ok(plain);
    assert_eq!(p.stdout, "connected\n");
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/no_credentials_own_keys.stderr"],
    );
    accepted_with_plain_key(&env);
}
