//! The three users, end to end: git and ssh through certsh against the real
//! sshd, with the test certifier signing.

use crate::support;

use std::process::Stdio;

use support::*;

#[test]
fn clone_fetch_and_push_through_the_shim_with_no_step_before() {
    let env = TestEnv::with_sshd();
    let ssh = env.git_ssh();
    ok(env.git(&ssh, ["clone", &env.git_url(), "clone"]));
    assert!(
        env.path("work/clone/README").exists(),
        "the clone has the commit"
    );
    assert_eq!(env.certifier.sign_requests(), 1);
    assert_eq!(env.certifier.token_requests(), 1);

    std::fs::write(env.path("work/clone/new-file"), "hello\n").unwrap();
    ok(env.git(&ssh, ["-C", "clone", "add", "new-file"]));
    ok(env.git(&ssh, ["-C", "clone", "commit", "-qm", "add a file"]));
    ok(env.git(&ssh, ["-C", "clone", "push", "-q", "origin", "HEAD"]));
    ok(env.git(&ssh, ["-C", "clone", "fetch", "-q"]));

    let log = ok(env.git(
        &ssh,
        [
            "--git-dir",
            env.repo().to_str().unwrap(),
            "log",
            "--format=%s",
        ],
    ));
    assert!(
        log.stdout.contains("add a file"),
        "the push reached the server"
    );
    assert_eq!(
        env.certifier.sign_requests(),
        1,
        "fetch and push reuse the cached certificate"
    );
}

#[test]
fn ssh_through_the_shim_runs_the_remote_command() {
    let env = TestEnv::with_sshd();
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "remote says hi"]));
    assert_eq!(p.stdout, "remote says hi\n");
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn shim_first_on_path_under_the_name_ssh_does_not_recurse() {
    let mut env = TestEnv::with_sshd();
    let path = format!("{}:{}", env.path("bin").display(), env.var("PATH").unwrap());
    env.set("PATH", path);
    // git runs "ssh" from PATH, which is the shim; the shim must find
    // /usr/bin/ssh behind itself.
    let ssh = format!("ssh -F {}", env.ssh_config().display());
    ok(env.git(&ssh, ["clone", "-q", &env.git_url(), "clone"]));
    assert!(env.path("work/clone/README").exists());
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn git_through_certsh_ssh_passes_the_variant_probe() {
    let env = TestEnv::with_sshd();
    // The first word is "certsh", not "ssh": git first probes with -G.
    let ssh = format!(
        "{} ssh -F {}",
        certsh_bin().display(),
        env.ssh_config().display()
    );
    ok(env.git(&ssh, ["clone", "-q", &env.git_url(), "clone"]));
    assert!(env.path("work/clone/README").exists());
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn sixteen_parallel_gits_with_no_certificate_cause_one_signature() {
    let env = TestEnv::with_sshd();
    env.certifier.set_fault(Fault::SlowMs(300));
    let ssh = env.git_ssh();
    let url = env.git_url();
    let children: Vec<_> = (0..16)
        .map(|i| {
            let mut cmd = env.std_git(&ssh, ["clone", "-q", &url, &format!("c{i}")]);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "clone {i} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(env.path(&format!("work/c{i}/README")).exists());
    }
    assert_eq!(
        env.certifier.sign_requests(),
        1,
        "one process signed, fifteen waited"
    );
    assert_eq!(env.certifier.token_requests(), 1);
}

#[test]
fn a_cached_certificate_is_reused_without_any_request() {
    let env = TestEnv::with_sshd();
    ok(env.certsh(["load"]));
    assert_eq!(env.certifier.sign_requests(), 1);
    let before = env.certificate_bytes().unwrap();
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
    ok(env.command_ssh(["git.us-3.magento.cloud", "true"]));
    assert_eq!(env.certifier.sign_requests(), 1);
    assert_eq!(
        env.certifier.requests().len(),
        2,
        "token + sign, nothing since"
    );
    assert_eq!(env.certificate_bytes().unwrap(), before);
}

#[test]
fn a_certificate_near_expiry_is_renewed_for_the_same_key() {
    let env = TestEnv::with_sshd();
    // Inside the two-minute floor of the renewal margin.
    env.certifier.set_validity(100);
    ok(env.certsh(["load"]));
    let link_before = std::fs::read_link(env.state_dir().join("current")).unwrap();
    let before = env.certificate_bytes().unwrap();
    env.certifier.set_validity(3600);
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
    assert_eq!(env.certifier.sign_requests(), 2);
    assert_ne!(env.certificate_bytes().unwrap(), before, "renewed");
    assert_eq!(
        std::fs::read_link(env.state_dir().join("current")).unwrap(),
        link_before,
        "the key is reused within ssh.cert_key_ttl"
    );
    assert_eq!(
        env.certifier.token_requests(),
        1,
        "the access token is cached"
    );
}

#[test]
fn an_old_key_is_replaced() {
    let mut env = TestEnv::with_sshd();
    ok(env.certsh(["load"]));
    let link_before = std::fs::read_link(env.state_dir().join("current")).unwrap();
    env.set("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL", "-1");
    ok(env.certsh(["load", "--refresh"]));
    assert_ne!(
        std::fs::read_link(env.state_dir().join("current")).unwrap(),
        link_before
    );
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
}

#[test]
fn foreign_hosts_pass_through_untouched() {
    let mut env = TestEnv::new();
    env.recording_ssh();
    let args = [
        "-o",
        "SendEnv=GIT_PROTOCOL",
        "-p",
        "2222",
        "git@github.com",
        "git-upload-pack 'x/y.git'",
    ];
    ok(env
        .certsh(["ssh"])
        .args(args)
        .env("GIT_PROTOCOL", "version=2"));
    let mut expected: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    expected.push("GIT_PROTOCOL=version=2".into());
    assert_eq!(
        env.recorded(),
        expected,
        "arguments and environment unchanged"
    );
    assert!(env.certifier.requests().is_empty());
    assert!(files_below(&env.home()).is_empty(), "nothing written");
    assert!(files_below(&env.path("tmp")).is_empty(), "nothing written");
}

#[test]
fn the_cloud_gets_certificate_options_ahead_of_the_users_arguments() {
    let mut env = TestEnv::new();
    env.recording_ssh();
    let args = [
        "-p",
        "22",
        "abcdef7uyxabce@git.us-3.magento.cloud",
        "git-upload-pack 'abcdef7uyxabce.git'",
    ];
    ok(env.certsh(["ssh"]).args(args));
    let got = env.recorded();
    let dir = env.state_dir();
    let generation = dir.join(std::fs::read_link(dir.join("current")).unwrap());
    assert_eq!(got[0], "-o");
    assert_eq!(
        got[1],
        format!("IdentityFile={}", generation.join("id_ed25519").display())
    );
    assert_eq!(got[2], "-o");
    assert_eq!(
        got[3],
        format!(
            "CertificateFile={}",
            generation.join("id_ed25519-cert.pub").display()
        )
    );
    assert_eq!(&got[4..8], &args);
    assert_no_secrets(&env, &got.join("\n"));
}

#[test]
fn dash_g_prints_exactly_what_ssh_prints() {
    let env = TestEnv::new();
    let args = [
        "-G",
        "-o",
        "SendEnv=GIT_PROTOCOL",
        "-p",
        "22",
        "git.us-3.magento.cloud",
    ];
    let ours = ok(env.certsh(["ssh"]).args(args));
    let theirs = ok(env.command_plain("ssh").args(args));
    assert_eq!(ours.stdout, theirs.stdout);
    assert!(ours.stdout.contains("hostname git.us-3.magento.cloud"));
    assert!(env.certifier.requests().is_empty());
    assert!(files_below(&env.home()).is_empty(), "nothing written");
}

#[test]
fn an_alias_in_ssh_config_that_resolves_to_the_cloud_is_in_scope() {
    let mut env = TestEnv::with_sshd();
    // The test config maps localhost-alias to 127.0.0.1; make that the cloud.
    env.set("MAGENTO_CLOUD_CLI_SSH_DOMAIN_WILDCARDS", "127.0.0.1");
    ok(env.command_ssh(["localhost-alias", "true"]));
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn auto_load_cert_false_turns_certsh_off() {
    let mut env = TestEnv::new();
    env.recording_ssh();
    let dir = env.home().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.yaml"), "ssh:\n  auto_load_cert: false\n").unwrap();
    ok(env.certsh(["ssh", "ssh.us-3.magento.cloud", "true"]));
    assert_eq!(env.recorded()[0], "ssh.us-3.magento.cloud");
    assert!(env.certifier.requests().is_empty());
}

#[test]
fn ci_with_only_the_token_and_a_home_that_does_not_exist() {
    let mut env = TestEnv::with_sshd();
    env.set("HOME", "/nonexistent/certsh-test-home");
    let ssh = env.git_ssh();
    let p = ok(env.git(&ssh, ["clone", "-q", &env.git_url(), "clone"]));
    assert_no_secrets(&env, &(p.stdout + &p.stderr));
    assert!(env.path("work/clone/README").exists());
    // The state went to a private folder under TMPDIR.
    let uid = std::fs::metadata(env.path("tmp")).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    let fallback = env.path(&format!("tmp/certsh-{}/magento", uid.unwrap()));
    assert!(
        fallback.join("current").exists(),
        "state in {}",
        fallback.display()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&fallback).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    // A second clone reuses it.
    ok(env.git(&ssh, ["clone", "-q", &env.git_url(), "clone2"]));
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn state_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    ok(env.certsh(["load"]));
    let dir = env.state_dir();
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for f in files_below(&dir) {
        let meta = std::fs::symlink_metadata(&f).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{}", f.display());
        if meta.is_file() {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            assert!(
                !text.contains(certifier::API_TOKEN),
                "{} holds the API token",
                f.display()
            );
        }
    }
}
