//! `certsh load --agent` and `ssh.add_to_agent` with a real `ssh-agent`: the
//! certificate is held for its lifetime and no longer, certsh's stale
//! entries are cleared, and no agent is a note, not a failure.

use crate::support;

use support::*;

/// A real ssh-agent in debug mode, as the `SSH_AUTH_SOCK` of every command.
fn start_agent(env: &mut TestEnv) -> SshAgent {
    let agent = SshAgent::start(env);
    env.set("SSH_AUTH_SOCK", &agent.sock);
    agent
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The current certificate's end of validity (Unix seconds).
fn valid_before(env: &TestEnv) -> u64 {
    let text = String::from_utf8(env.certificate_bytes().expect("a certificate")).unwrap();
    ssh_key::Certificate::from_openssh(text.trim())
        .unwrap()
        .valid_before()
}

/// `ssh-add -L`: (exit code, lines).
fn agent_keys(env: &TestEnv) -> (Option<i32>, Vec<String>) {
    let p = run(env.command_plain("ssh-add").arg("-L"));
    (p.code, p.stdout.lines().map(String::from).collect())
}

#[test]
fn the_agent_holds_the_certificate_for_its_lifetime_and_then_forgets_it() {
    let mut env = TestEnv::new();
    let agent = start_agent(&mut env);
    env.certifier.set_validity(10);
    let before = unix_now();
    let p = ok(env.certsh(["load", "--agent"]));
    let after = unix_now();
    let until = valid_before(&env);
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/load_into_ssh_agent_short_lived.stdout"],
    );
    assert_no_secrets(&env, &p.stdout);
    let (code, keys) = agent_keys(&env);
    assert_eq!(code, Some(0));
    assert_eq!(keys.len(), 2, "key and certificate: {keys:#?}");
    assert!(
        keys.iter()
            .any(|k| k.starts_with("ssh-ed25519-cert-v01@openssh.com "))
    );
    assert!(keys.iter().all(|k| k.ends_with(" certsh-magento")));
    // The agent's own log shows the lifetime it was given: the time the
    // certificate had left when certsh added it, between the start and the
    // end of `load`.
    let log = agent.log();
    let lives: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("process_add_identity: add"))
        .filter_map(|l| l.split("(life: ").nth(1)?.split(')').next()?.parse().ok())
        .collect();
    assert_eq!(lives.len(), 2, "{log}");
    let (least, most) = (until.saturating_sub(after + 1), until - before);
    assert!(
        lives.iter().all(|&s| (least..=most).contains(&s)),
        "{lives:?} not in {least}..={most}"
    );

    // The agent forgets them on its own once that time has passed.
    wait_until("the agent forgets the key and certificate", || {
        agent_keys(&env).0 == Some(1)
    });
    assert!(
        unix_now() + 1 >= until,
        "forgotten before the certificate expired"
    );
}

#[test]
fn stale_certsh_entries_are_removed_and_no_agent_is_only_a_note() {
    let mut env = TestEnv::new();
    let p = ok(env.certsh(["load", "--agent"]));
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/no_agent_note.stderr"],
    );

    let _agent = start_agent(&mut env);
    // A key that is not certsh's: it must stay.
    let foreign = env.path("someone-elses-key");
    ok(env
        .command_plain("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "someone-else", "-f"])
        .arg(&foreign));
    ok(env.command_plain("ssh-add").arg(&foreign));
    let (_, foreign_line) = agent_keys(&env);
    assert_eq!(foreign_line.len(), 1);
    // A short certificate, put in the agent by hand without a lifetime, as
    // an older tool would have done.
    env.set("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL", "-1");
    env.certifier.set_validity(3);
    ok(env.certsh(["load", "--refresh"]));
    let dir = env.state_dir();
    let old_key = dir
        .join(std::fs::read_link(dir.join("current")).unwrap())
        .join("id_ed25519");
    ok(env.command_plain("ssh-add").arg(&old_key));
    let (_, old) = agent_keys(&env);
    let old: Vec<String> = old
        .into_iter()
        .filter(|l| !foreign_line.contains(l))
        .collect();
    assert_eq!(old.len(), 2);
    // Stale once that certificate has expired.
    let until = valid_before(&env);
    wait_until("the short certificate expires", || unix_now() >= until);

    // ssh.add_to_agent in config.yaml instead of --agent.
    std::fs::write(
        env.home().join(".magento-cloud/config.yaml"),
        "ssh:\n  add_to_agent: true\n",
    )
    .unwrap();
    env.certifier.set_validity(3600);
    let p = ok(env.certsh(["load"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/load_into_ssh_agent.stdout"],
    );
    let (_, now) = agent_keys(&env);
    assert_eq!(
        now.len(),
        3,
        "the new key and certificate, and the foreign key: {now:#?}"
    );
    assert!(
        now.contains(&foreign_line[0]),
        "the foreign key was removed"
    );
    for line in &old {
        assert!(!now.contains(line), "stale entry left: {line}");
    }
}

#[test]
fn with_add_to_agent_a_renewal_by_the_shim_goes_to_the_agent_silently() {
    let mut env = TestEnv::new();
    let agent = start_agent(&mut env);
    env.recording_ssh();
    std::fs::create_dir_all(env.home().join(".magento-cloud")).unwrap();
    std::fs::write(
        env.home().join(".magento-cloud/config.yaml"),
        "ssh:\n  add_to_agent: true\n",
    )
    .unwrap();
    let p = ok(env.certsh(["ssh", "git.us-3.magento.cloud", "git-upload-pack 'x'"]));
    assert_eq!(p.stdout, "", "stdout carries the git protocol");
    assert_eq!(p.stderr, "");
    let (_, keys) = agent_keys(&env);
    assert_eq!(keys.len(), 2, "{keys:#?}");
    // The hot path (nothing renewed) does not call ssh-add again.
    let log_before = agent.log().matches("process_add_identity: add").count();
    ok(env.certsh(["ssh", "git.us-3.magento.cloud", "true"]));
    assert_eq!(
        agent.log().matches("process_add_identity: add").count(),
        log_before
    );
}
