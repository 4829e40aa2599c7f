//! What an attacker can do through a config file the user did not write, a
//! shared temp folder or a crafted command line, and what certsh does about
//! it. Each test is named after what it guards.

use crate::support;

use std::path::{Path, PathBuf};

use support::*;

/// certsh installed in install.sh's layout, and a user ssh_config to set up.
fn setup_ssh_config(env: &TestEnv, file: &Path) -> assert_cmd::Command {
    let certsh = env.installed().join("bin/certsh");
    let mut cmd = env.command_plain(certsh);
    cmd.args(["setup", "ssh-config", "--file", file.to_str().unwrap()]);
    cmd
}

fn write_config_yaml(env: &TestEnv, yaml: &str) -> PathBuf {
    let dir = env.home().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

/// A host pattern ending in a backslash and holding tabs
/// closed the `Match` line's quotes early, and OpenSSH 9.9+ then read the
/// rest as `Match host * exec <command>`. Host patterns now hold only
/// characters that mean the same to every ssh_config parser, wherever they
/// come from, and anything else is refused, naming the pattern.
#[test]
fn host_patterns_that_could_rewrite_ssh_config_are_refused() {
    let mut env = TestEnv::new();
    let ssh_config = env.path("ssh_config");
    std::fs::write(&ssh_config, "Host *\n    ServerAliveInterval 30\n").unwrap();

    // From config.yaml (the key the official CLI writes).
    let yaml = write_config_yaml(
        &env,
        "ssh:\n  domain_wildcards: [\"*.magento.cloud\", \"*\\texec\\ttouch\\t/tmp/pwned\\t\\\\\"]\n",
    );
    // The message: tests/cases/setup_ssh_config_bad_host_pattern.stderr.
    fails(setup_ssh_config(&env, &ssh_config), 1);

    // From the legacy key.
    write_config_yaml(&env, "api:\n  ssh_domain_wildcards: \"a\\\\\"\n");
    let p = fails(setup_ssh_config(&env, &ssh_config), 1);
    assert!(
        p.stderr
            .starts_with("certsh: the host pattern \"a\\\\\" in api.ssh_domain_wildcards of "),
        "{}",
        p.stderr
    );
    std::fs::remove_file(&yaml).unwrap();

    // From the environment: one bad pattern among good ones.
    env.set(
        "MAGENTO_CLOUD_CLI_SSH_DOMAIN_WILDCARDS",
        "*.magento.cloud,ok.example\tMatch",
    );
    // The message: tests/cases/host_pattern_misread.stderr.
    fails(setup_ssh_config(&env, &ssh_config), 1);
    // The same refusal for the ssh entry point, before any request.
    fails(env.certsh(["ssh", "git.us-3.magento.cloud", "true"]), 255);
    assert!(env.certifier.requests().is_empty());

    assert_eq!(
        std::fs::read_to_string(&ssh_config).unwrap(),
        "Host *\n    ServerAliveInterval 30\n",
        "the user's ssh_config is untouched"
    );

    // Plain patterns, negations and commas within one entry still work, and
    // the block they make is one the real ssh reads.
    env.set(
        "MAGENTO_CLOUD_CLI_SSH_DOMAIN_WILDCARDS",
        "*.magento.cloud,!bad-1.magento.cloud ?.magentosite.cloud",
    );
    ok(setup_ssh_config(&env, &ssh_config));
    let written = std::fs::read_to_string(&ssh_config).unwrap();
    assert!(
        written.contains(
            "Match originalhost \"*.magento.cloud,!bad-1.magento.cloud,?.magentosite.cloud\"\n"
        ),
        "{written}"
    );
    let p = ok(env
        .command_plain("/usr/bin/ssh")
        .arg("-G")
        .arg("-F")
        .arg(&ssh_config)
        .arg("example.com"));
    assert!(!p.stdout.contains("certificatefile"), "{}", p.stdout);
}

/// While the state is in the temp-dir fallback,
/// `setup ssh-config` would write `$TMPDIR/certsh-<uid>/...` into
/// `~/.ssh/config` for good, and once the temp folder is cleaned another
/// user can recreate it with her own key. It is refused, with the reason.
#[test]
fn setup_ssh_config_is_refused_while_the_state_is_in_the_temp_dir() {
    let mut env = TestEnv::new();
    let home = "/nonexistent/certsh-test-home";
    env.set("HOME", home);
    let ssh_config = env.path("ssh_config");
    let p = fails(setup_ssh_config(&env, &ssh_config), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/setup_ssh_config_no_home.stderr"],
    );
    assert!(!ssh_config.exists(), "nothing written");
    assert!(
        files_below(&env.path("tmp")).is_empty(),
        "no temp state folder made"
    );
}

/// ssh expands `${VAR}` in `IdentityFile` and
/// `CertificateFile`, on the command line and in ssh_config alike, and
/// nothing escapes it (`$${`, `\${` and `%` tokens were all tried against the
/// real ssh). A state path holding `${` is refused, before any request.
#[test]
fn a_state_path_with_dollar_brace_is_refused_through_the_shim_and_setup() {
    let mut env = TestEnv::with_sshd();
    let home = env.path("home${HOME}x");
    std::fs::create_dir(&home).unwrap();
    env.set("HOME", &home);

    // Through the shim, to the real sshd.
    let p = fails(env.command_ssh(["git.us-3.magento.cloud", "true"]), 255);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/state_folder_dollar_brace_in_home.stderr"],
    );
    assert_eq!(env.certifier.sign_requests(), 0, "no renewal for nothing");

    // Through setup ssh-config.
    let ssh_config = env.path("ssh_config");
    let p = fails(setup_ssh_config(&env, &ssh_config), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/state_folder_dollar_brace_in_home.stderr"],
    );
    assert!(!ssh_config.exists(), "nothing written");
}

/// A line OpenSSH refuses (here `-J` twice) made
/// certsh renew before ssh failed: a certifier request for nothing. Such a
/// line goes to the real ssh untouched.
#[test]
fn a_line_ssh_refuses_goes_to_ssh_untouched_without_renewal() {
    let env = TestEnv::new();
    for line in [
        &["-J", "a", "-J", "b", "git.us-3.magento.cloud", "true"][..],
        &["-W", "a:1", "-O", "check", "git.us-3.magento.cloud"],
        &["-L", "nonsense", "git.us-3.magento.cloud", "true"],
        &["-e", "xy", "git.us-3.magento.cloud", "true"],
        &["-o", "Compression=maybe", "git.us-3.magento.cloud", "true"],
    ] {
        let p = fails(
            env.command_plain(env.shim())
                .args(["-F", "/dev/null"])
                .args(line),
            255,
        );
        assert!(!p.stderr.contains("certsh"), "{line:?}: {}", p.stderr);
        assert!(
            env.certifier.requests().is_empty(),
            "{line:?} made a request: {}",
            p.stderr
        );
    }
}
