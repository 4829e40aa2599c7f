//! `certsh doctor`: each common problem found, with its fix.
//!
//! The real ssh is wrapped so that `ssh -G` reads the test's ssh_config
//! (OpenSSH reads `~/.ssh/config` from the passwd home, not `$HOME`, so a
//! test cannot place one there).

use crate::support;

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
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    env.set("GIT_SSH_COMMAND", env.shim());
    ok(env.certsh(["load"]));
    let before = env.certifier.requests().len();
    let p = ok(env.certsh(["doctor"]));
    assert_eq!(env.certifier.requests().len(), before);
    // Every offline check ran and said so; none of the online ones did.
    let checks: Vec<&str> = p
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  ok    "))
        .filter_map(|l| l.split_once(':'))
        .map(|(what, _)| what)
        .collect();
    assert_eq!(
        checks,
        [
            "ssh",
            "config",
            "credentials",
            "certificate",
            "git",
            "ssh_config"
        ],
        "{}",
        p.stdout
    );
    for online in ["auth server", "certifier", "clock", "network"] {
        assert!(!p.stdout.contains(&format!("{online}:")), "{}", p.stdout);
    }
}

#[test]
fn a_config_file_that_does_not_read_fails_with_the_fix() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    let dir = env.home().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.yaml"), "api:\n  token: [unclosed\n").unwrap();
    // The report: tests/cases/doctor_config_malformed.stdout.
    fails(env.certsh(["doctor"]), 1);
    // A file that reads is named as read.
    std::fs::write(dir.join("config.yaml"), "api: {}\n").unwrap();
    let p = run(env.certsh(["doctor"]));
    assert!(
        p.stdout.contains(&format!(
            "  ok    config: {} read\n",
            dir.join("config.yaml").display()
        )),
        "{}",
        p.stdout
    );
}

/// The doctor's certificate line (and its fix line, if any).
fn certificate_finding(env: &TestEnv) -> String {
    let p = run(env.certsh(["doctor"]));
    let mut lines = p
        .stdout
        .lines()
        .skip_while(|l| !l.contains("  certificate: "));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no certificate finding:\n{}", p.stdout));
    match lines.next() {
        Some(fix) if fix.starts_with("        fix: ") => format!("{first}\n{fix}"),
        _ => first.to_string(),
    }
}

#[test]
fn the_certificate_state_is_reported_with_the_mfa_fix() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    env.certifier.set_validity(3600);
    ok(env.certsh(["load"]));
    let f = certificate_finding(&env);
    assert!(
        f.starts_with("  ok    certificate: valid for ") && f.ends_with(
            " (without MFA)\n        fix: if ssh says that access requires MFA: certsh login --mfa"
        ),
        "{f}"
    );
    env.certifier.set_mfa(true);
    ok(env.certsh(["load", "--refresh"]));
    let f = certificate_finding(&env);
    assert!(
        f.starts_with("  ok    certificate: valid for ") && f.ends_with(" (with MFA)"),
        "{f}"
    );
    // Inside the renewal margin.
    env.set("CERTSH_REFRESH_MARGIN", "7200");
    let f = certificate_finding(&env);
    assert!(
        f.ends_with(" (with MFA); renewed at the next connection"),
        "{f}"
    );
    env.unset("CERTSH_REFRESH_MARGIN");
    // Expired: replace it with one that ended a minute ago.
    let state = env.state_dir();
    let generation = state.join(std::fs::read_link(state.join("current")).unwrap());
    let key = ssh_key::PublicKey::read_openssh_file(&generation.join("id_ed25519.pub")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cert = env.certifier.sign_between(&key, now - 3600, now - 60);
    std::fs::write(
        generation.join("id_ed25519-cert.pub"),
        format!("{}\n", cert.to_openssh().unwrap()),
    )
    .unwrap();
    assert_eq!(
        certificate_finding(&env),
        "  warn  certificate: expired (with MFA)\n        \
         fix: certsh load (or just connect: the shim renews it)"
    );
}

#[test]
fn git_through_core_ssh_command_or_the_ssh_on_path_is_checked() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    let git_line = |env: &TestEnv| -> String {
        let p = run(env.certsh(["doctor"]));
        let mut lines = p.stdout.lines().skip_while(|l| !l.contains("  git: "));
        let first = lines.next().unwrap_or_default().to_string();
        match lines.next() {
            Some(fix) if fix.starts_with("        fix: ") => format!("{first}\n{fix}"),
            _ => first,
        }
    };
    assert_eq!(
        git_line(&env),
        "  warn  git: git runs plain ssh: neither GIT_SSH_COMMAND nor core.sshCommand is set\n        \
         fix: certsh setup git"
    );
    let set = |value: &str| {
        ok(env
            .command_plain("git")
            .args(["config", "--global", "core.sshCommand", value]));
    };
    set(&env.shim().display().to_string());
    assert_eq!(git_line(&env), "  ok    git: core.sshCommand runs certsh");
    set("ssh -i ~/.ssh/other");
    assert_eq!(
        git_line(&env),
        "  warn  git: core.sshCommand is \"ssh -i ~/.ssh/other\", which is not certsh\n        \
         fix: certsh setup git --force"
    );
    ok(env
        .command_plain("git")
        .args(["config", "--global", "--unset", "core.sshCommand"]));
    // The shim first on PATH.
    let path = format!("{}:{}", env.path("bin").display(), env.var("PATH").unwrap());
    env.set("PATH", path);
    assert_eq!(
        git_line(&env),
        "  ok    git: the ssh on PATH is certsh's shim"
    );
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
fn a_clock_somewhat_off_warns_and_an_unreachable_server_fails() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    env.certifier.set_clock_offset(-120);
    let p = ok(env.certsh(["doctor", "--online"]));
    assert!(
        p.stdout
            .contains("  warn  clock: 2m 00s ahead of the server\n")
            || p.stdout
                .contains("  warn  clock: 2m 01s ahead of the server\n"),
        "{}",
        p.stdout
    );
    // The probes carry no credential.
    for r in env.certifier.requests() {
        assert_eq!(r.authorization, None, "{} {}", r.method, r.path);
        assert!(!r.body.contains(certifier::API_TOKEN));
    }
    // Nothing listening where the auth server should be.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        format!("http://127.0.0.1:{port}"),
    );
    // The report: tests/cases/doctor_auth_server_unreachable.stdout.
    fails(env.certsh(["doctor", "--online"]), 1);
}
