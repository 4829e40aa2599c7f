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
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/doctor_healthy_online.stdout"],
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
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/doctor_offline.stdout"],
    );
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
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/doctor_config_read.stdout"],
    );
}

/// The doctor's whole report is `case`.
#[track_caller]
fn doctor_says(env: &TestEnv, case: impl snapbox::IntoData) {
    let p = run(env.certsh(["doctor"]));
    assert_output(env, &p.stdout, case);
}

#[test]
fn the_certificate_state_is_reported_with_the_mfa_fix() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    env.certifier.set_validity(3600);
    ok(env.certsh(["load"]));
    doctor_says(
        &env,
        snapbox::file!["cases/doctor_certificate_without_mfa.stdout"],
    );
    env.certifier.set_mfa(true);
    ok(env.certsh(["load", "--refresh"]));
    doctor_says(
        &env,
        snapbox::file!["cases/doctor_certificate_with_mfa.stdout"],
    );
    // Inside the renewal margin.
    env.set("CERTSH_REFRESH_MARGIN", "7200");
    doctor_says(
        &env,
        snapbox::file!["cases/doctor_certificate_in_the_renewal_margin.stdout"],
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
    doctor_says(
        &env,
        snapbox::file!["cases/doctor_certificate_expired.stdout"],
    );
}

#[test]
fn git_through_core_ssh_command_or_the_ssh_on_path_is_checked() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    doctor_says(&env, snapbox::file!["cases/doctor_git_plain_ssh.stdout"]);
    let set = |value: &str| {
        ok(env
            .command_plain("git")
            .args(["config", "--global", "core.sshCommand", value]));
    };
    set(&env.shim().display().to_string());
    doctor_says(
        &env,
        snapbox::file!["cases/doctor_git_core_ssh_command_certsh.stdout"],
    );
    set("ssh -i ~/.ssh/other");
    doctor_says(
        &env,
        snapbox::file!["cases/doctor_git_core_ssh_command_other.stdout"],
    );
    ok(env
        .command_plain("git")
        .args(["config", "--global", "--unset", "core.sshCommand"]));
    // The shim first on PATH.
    let path = format!("{}:{}", env.path("bin").display(), env.var("PATH").unwrap());
    env.set("PATH", path);
    doctor_says(&env, snapbox::file!["cases/doctor_git_shim_on_path.stdout"]);
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
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/doctor_old_openssh.stdout"],
    );
}

#[test]
fn ssh_config_lines_that_fight_the_certificate_are_named() {
    let mut env = TestEnv::new();
    ssh_with_config(
        &mut env,
        "Host *.magento.cloud\n  CertificateFile /keys/other-cert.pub\n  IdentitiesOnly yes\n",
    );
    doctor_says(
        &env,
        snapbox::file!["cases/doctor_ssh_config_fights_the_certificate.stdout"],
    );
}

#[test]
fn a_clock_far_from_the_servers_fails() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    env.certifier.set_clock_offset(-600);
    let p = fails(env.certsh(["doctor", "--online"]), 1);
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/doctor_clock_far_ahead.stdout"],
    );
}

#[test]
fn a_clock_somewhat_off_warns_and_an_unreachable_server_fails() {
    let mut env = TestEnv::new();
    ssh_with_config(&mut env, "");
    env.certifier.set_clock_offset(-120);
    let p = ok(env.certsh(["doctor", "--online"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/doctor_clock_somewhat_ahead.stdout"],
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
