//! certsh everywhere, end to end against the real sshd: `setup git` for plain
//! git, `setup ssh-config` for plain ssh, the `git`/`scp`/`rsync` wrappers,
//! `env` and completions.

use crate::support;

use std::path::{Path, PathBuf};

use support::*;

/// git's global config for this world, inside its temp folder.
fn global_git_config(env: &mut TestEnv) -> PathBuf {
    let path = env.path("gitconfig");
    env.set("GIT_CONFIG_GLOBAL", &path);
    path
}

fn git_config_get(env: &TestEnv, args: &[&str]) -> Option<String> {
    let p = run(env.command_plain("git").args(["config"]).args(args));
    (p.code == Some(0)).then(|| p.stdout.trim_end().to_string())
}

#[test]
fn setup_git_makes_plain_git_clone_and_undo_restores_the_previous_value() {
    let mut env = TestEnv::with_sshd();
    env.real_ssh_with_test_config();
    let gitconfig = global_git_config(&mut env);
    std::fs::write(
        &gitconfig,
        "[core]\n\tsshCommand = ssh -o ServerAliveInterval=5\n",
    )
    .unwrap();
    let prefix = env.installed();
    let certsh = prefix.join("bin/certsh");
    let shim = prefix.join("libexec/certsh/ssh");

    // A different value is never replaced silently.
    // The message: tests/cases/setup_git_taken.stderr.
    fails(env.command_plain(&certsh).args(["setup", "git"]), 1);
    ok(env.command_plain(&certsh).args(["setup", "git", "--force"]));
    assert_eq!(
        git_config_get(&env, &["--global", "core.sshCommand"]).as_deref(),
        Some(shim.to_str().unwrap())
    );
    // Again: nothing changes, and the value to restore is kept.
    let p = ok(env.command_plain(&certsh).args(["setup", "git"]));
    assert_output(
        &env,
        &p.stdout,
        "core.sshCommand (global) already runs certsh: [ROOT]/prefix/libexec/certsh/ssh\n",
    );

    // Plain git, no GIT_SSH_COMMAND, no certsh on the command line.
    assert!(env.var("GIT_SSH_COMMAND").is_none());
    ok(env
        .command_plain("git")
        .args(["clone", "-q", &env.git_url(), "clone"]));
    assert!(env.path("work/clone/README").exists());
    assert_eq!(env.certifier.sign_requests(), 1);

    ok(env.command_plain(&certsh).args(["setup", "git", "--undo"]));
    assert_eq!(
        std::fs::read_to_string(&gitconfig).unwrap(),
        "[core]\n\tsshCommand = ssh -o ServerAliveInterval=5\n"
    );
    let p = ok(env.command_plain(&certsh).args(["setup", "git", "--undo"]));
    assert_output(
        &env,
        &p.stdout,
        "core.sshCommand (global) is \"ssh -o ServerAliveInterval=5\", which certsh did not set; left as it is\n",
    );
}

#[test]
fn setup_git_undo_unsets_what_was_unset_and_local_leaves_global_alone() {
    let mut env = TestEnv::with_sshd();
    env.real_ssh_with_test_config();
    let gitconfig = global_git_config(&mut env);
    let certsh = env.installed().join("bin/certsh");
    ok(env.command_plain("git").args(["init", "-q", "repo"]));
    let mut local = env.command_plain(&certsh);
    local
        .current_dir(env.path("work/repo"))
        .args(["setup", "git", "--local"]);
    ok(local);
    assert!(!gitconfig.exists(), "the global config is not touched");
    let mut fetch = env.command_plain("git");
    fetch
        .current_dir(env.path("work/repo"))
        .args(["fetch", "-q", &env.git_url()]);
    ok(fetch);
    assert_eq!(env.certifier.sign_requests(), 1);

    ok(env.command_plain(&certsh).args(["setup", "git"]));
    assert!(git_config_get(&env, &["--global", "core.sshCommand"]).is_some());
    ok(env.command_plain(&certsh).args(["setup", "git", "--undo"]));
    assert_eq!(git_config_get(&env, &["--global", "core.sshCommand"]), None);

    // Changed by hand after the set-up: --undo leaves it unless forced.
    let mut undo = env.command_plain(&certsh);
    undo.current_dir(env.path("work/repo"));
    ok(env
        .command_plain("git")
        .current_dir(env.path("work/repo"))
        .args(["config", "core.sshCommand", "ssh -v"]));
    // The message (for --global): tests/cases/setup_git_undo_changed.stderr.
    fails(undo.args(["setup", "git", "--local", "--undo"]), 1);
    let mut forced = env.command_plain(&certsh);
    forced
        .current_dir(env.path("work/repo"))
        .args(["setup", "git", "--local", "--undo", "--force"]);
    ok(forced);
    let mut get = env.command_plain("git");
    get.current_dir(env.path("work/repo"))
        .args(["config", "--local", "--get", "core.sshCommand"]);
    fails(get, 1);
}

/// The test sshd's client config plus a line of the user's own, without a
/// final newline, as the user's file.
fn user_ssh_config(env: &TestEnv) -> (PathBuf, Vec<u8>) {
    let mut text = std::fs::read(env.ssh_config()).unwrap();
    text.extend_from_slice(b"# my own last line, unfinished");
    let path = env.path("user_ssh_config");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

fn plain_ssh(env: &TestEnv, config: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = env.command_plain("/usr/bin/ssh");
    cmd.arg("-F").arg(config).args(args);
    cmd
}

#[test]
fn setup_ssh_config_serves_plain_ssh_survives_an_outage_and_undoes_byte_for_byte() {
    let mut env = TestEnv::with_sshd();
    let (file, original) = user_ssh_config(&env);
    let certsh = env.installed().join("bin/certsh");
    let p = ok(env.command_plain(&certsh).args([
        "setup",
        "ssh-config",
        "--file",
        file.to_str().unwrap(),
    ]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_ssh_config_added.stdout"],
    );
    // The user's file whole: theirs as it was, then certsh's block.
    let written = std::fs::read_to_string(&file).unwrap();
    assert_output(
        &env,
        &written,
        snapbox::file!["cases/setup_ssh_config_written.config"],
    );
    assert_eq!(
        std::fs::read(env.path("user_ssh_config.certsh-backup")).unwrap(),
        original
    );

    // Plain OpenSSH, no certsh anywhere on its command line or PATH.
    let p = ok(plain_ssh(
        &env,
        &file,
        &["ssh.us-3.magento.cloud", "echo", "hello"],
    ));
    assert_eq!(p.stdout, "hello\n");
    assert_eq!(env.certifier.sign_requests(), 1, "the hook obtained it");
    let p = ok(plain_ssh(
        &env,
        &file,
        &["git.us-3.magento.cloud", "echo", "again"],
    ));
    assert_eq!(p.stdout, "again\n");
    assert_eq!(env.certifier.sign_requests(), 1, "and reuses it");

    // The shim on top of the block (both give ssh the same key) still works.
    let p = ok(env.command_plain(env.shim()).arg("-F").arg(&file).args([
        "ssh.us-3.magento.cloud",
        "echo",
        "both",
    ]));
    assert_eq!(p.stdout, "both\n");

    // Certifier down while the certificate is still valid: a renewal is
    // attempted (the margin says so), fails, and ssh still connects.
    env.certifier.set_fault(Fault::ServerErrorHtml);
    env.set("CERTSH_REFRESH_MARGIN", "86400");
    let before = env.certifier.requests().len();
    let p = ok(plain_ssh(
        &env,
        &file,
        &["ssh.us-3.magento.cloud", "echo", "still"],
    ));
    assert_eq!(p.stdout, "still\n");
    assert!(
        env.certifier.requests().len() > before,
        "a renewal was tried"
    );
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/ssh_config_hook_renewal_failed_warning.stderr"],
    );
    assert_no_secrets(&env, &p.stderr);

    // A hook that fails outright (here: a setting it refuses) fails only its
    // own empty Match; the certificate lines stay in force.
    env.set("CERTSH_REFRESH_MARGIN", "not-a-number");
    let mut hook = env.command_plain(&certsh);
    fails(hook.args(["ssh-config-hook"]), 1);
    let p = ok(plain_ssh(
        &env,
        &file,
        &["ssh.us-3.magento.cloud", "echo", "anyway"],
    ));
    assert_eq!(p.stdout, "anyway\n");

    // Hosts outside the cloud do not run the hook at all: with a margin
    // that makes the certificate due for renewal, a hook that ran would ask
    // the certifier.
    env.set("CERTSH_REFRESH_MARGIN", "86400");
    let requests = env.certifier.requests().len();
    let p = ok(plain_ssh(&env, &file, &["-G", "example.com"]));
    assert!(!p.stdout.contains("certificatefile"), "{}", p.stdout);
    assert_eq!(env.certifier.requests().len(), requests);
    // (The same margin for a cloud host does ask: the check can see it.)
    ok(plain_ssh(&env, &file, &["-G", "git.us-3.magento.cloud"]));
    assert!(env.certifier.requests().len() > requests, "the hook ran");
    env.unset("CERTSH_REFRESH_MARGIN");

    let p = ok(env.command_plain(&certsh).args([
        "setup",
        "ssh-config",
        "--undo",
        "--file",
        file.to_str().unwrap(),
    ]));
    assert_output(
        &env,
        &p.stdout,
        "removed the certsh block from [ROOT]/user_ssh_config\n",
    );
    assert_eq!(std::fs::read(&file).unwrap(), original, "byte for byte");
}

/// The current generation's folder, as `current` names it.
fn current_generation(env: &TestEnv) -> PathBuf {
    env.state_dir()
        .join(std::fs::read_link(env.state_dir().join("current")).unwrap())
}

/// The keys file that names `generation`'s key and certificate.
fn keys_file_naming(generation: &Path) -> String {
    format!(
        "# Kept by certsh's ssh-config hook: the key and certificate in use, for the certsh block in ssh_config.\n\
         IdentityFile \"{0}/id_ed25519\"\nCertificateFile \"{0}/id_ed25519-cert.pub\"\n",
        generation.display()
    )
}

/// The block's Windows form, run by the real OpenSSH: the key lines are an
/// `Include` of a file that the hook points at the current generation
/// before ssh reads it, so a new key never meets the old key's certificate.
#[test]
fn setup_ssh_config_via_include_serves_plain_ssh_and_the_hook_repoints_it_at_a_new_key() {
    let mut env = TestEnv::with_sshd();
    let (file, original) = user_ssh_config(&env);
    let certsh = env.installed().join("bin/certsh");
    let f = file.to_str().unwrap();
    let p =
        ok(env
            .command_plain(&certsh)
            .args(["setup", "ssh-config", "--via-include", "--file", f]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_ssh_config_added.stdout"],
    );
    assert_output(
        &env,
        &std::fs::read_to_string(&file).unwrap(),
        snapbox::file!["cases/setup_ssh_config_via_include.config"],
    );
    let keys = env.state_dir().join("keys.ssh_config");
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        "# Kept by certsh's ssh-config hook: no certificate yet.\n"
    );

    // The first connection: the hook obtains a certificate and names it.
    let p = ok(plain_ssh(
        &env,
        &file,
        &["ssh.us-3.magento.cloud", "echo", "hello"],
    ));
    assert_eq!(p.stdout, "hello\n");
    assert_eq!(env.certifier.sign_requests(), 1);
    let first = current_generation(&env);
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        keys_file_naming(&first)
    );

    // A new key from elsewhere (here `load`; the shim does the same): the
    // keys file still names the old generation until a hook runs. The old
    // one is then taken away, as the hourly cleanup would, so that only a
    // hook that repoints the file before ssh reads it lets ssh in.
    env.set("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL", "-1");
    ok(env.certsh(["load", "--refresh"]));
    env.unset("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL");
    let second = current_generation(&env);
    assert_ne!(second, first);
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        keys_file_naming(&first)
    );
    std::fs::remove_dir_all(&first).unwrap();
    let p = ok(plain_ssh(
        &env,
        &file,
        &["git.us-3.magento.cloud", "echo", "again"],
    ));
    assert_eq!(p.stdout, "again\n");
    assert_eq!(
        env.certifier.sign_requests(),
        2,
        "no renewal: the load's is used"
    );
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        keys_file_naming(&second)
    );

    // Written again without --via-include, the block goes through the link,
    // and the keys file is gone; --undo leaves the user's file as it was.
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--file", f]));
    assert_output(
        &env,
        &std::fs::read_to_string(&file).unwrap(),
        snapbox::file!["cases/setup_ssh_config_written.config"],
    );
    assert!(!keys.exists());
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--undo", "--file", f]));
    assert_eq!(std::fs::read(&file).unwrap(), original, "byte for byte");
}

#[test]
fn setup_ssh_config_creates_a_missing_file_and_undo_removes_it() {
    let env = TestEnv::new();
    let certsh = env.installed().join("bin/certsh");
    let file = env.path("new/.ssh/config");
    let f = file.to_str().unwrap();
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--file", f]));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let p = ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--file", f]));
    assert_output(
        &env,
        &p.stdout,
        "[ROOT]/new/.ssh/config already has the certsh block\n",
    );
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--undo", "--file", f]));
    assert!(!file.exists());
    let p = ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--undo", "--file", f]));
    assert_output(
        &env,
        &p.stdout,
        "[ROOT]/new/.ssh/config has no certsh block; nothing to undo\n",
    );
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: needs rsync (scripts/test --all)"
)]
fn certsh_scp_and_rsync_copy_through_the_test_sshd() {
    let mut env = TestEnv::with_sshd();
    let certsh = env.installed().join("bin/certsh");
    std::fs::write(env.path("work/payload"), "payload through certsh\n").unwrap();
    let dest = env.path("sshd/scp-copy");
    let p = ok(env.command_plain(&certsh).args([
        "scp",
        "-F",
        env.ssh_config().to_str().unwrap(),
        "payload",
        &format!("git.us-3.magento.cloud:{}", dest.display()),
    ]));
    assert_no_secrets(&env, &p.stderr);
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "payload through certsh\n"
    );
    assert_eq!(env.certifier.sign_requests(), 1);

    // rsync takes no -F of its own: the real ssh gets it.
    env.real_ssh_with_test_config();
    let dest = env.path("sshd/rsync-copy");
    ok(env.command_plain(&certsh).args([
        "rsync",
        "-a",
        "payload",
        &format!("ssh.us-3.magento.cloud:{}", dest.display()),
    ]));
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "payload through certsh\n"
    );
    ok(env
        .command_plain(&certsh)
        .args(["git", "clone", "-q", &env.git_url(), "clone"]));
    assert!(env.path("work/clone/README").exists());
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn env_prints_the_shim_for_each_shell() {
    let env = TestEnv::new();
    let prefix = env.installed();
    let certsh = prefix.join("bin/certsh");
    let shim = prefix.join("libexec/certsh/ssh");
    let shim = shim.display();
    let p = ok(env.command_plain(&certsh).args(["env", "--alias"]));
    assert_eq!(
        p.stdout,
        format!("export GIT_SSH_COMMAND={shim}\nalias ssh={shim}\n")
    );
    let p = ok(env.command_plain(&certsh).args(["env", "--shell", "fish"]));
    assert_eq!(p.stdout, format!("set -gx GIT_SSH_COMMAND '{shim}'\n"));
    let p = ok(env
        .command_plain(&certsh)
        .args(["env", "--shell", "powershell"]));
    assert_eq!(p.stdout, format!("$env:GIT_SSH_COMMAND = '{shim}'\n"));
    let p = ok(env
        .command_plain(&certsh)
        .args(["--profile", "Upsun", "env"]));
    assert_eq!(
        p.stdout,
        format!("export CERTSH_PROFILE=upsun\nexport GIT_SSH_COMMAND={shim}\n")
    );
    // Not installed (no shim beside it): `certsh ssh`, which git also takes;
    // scp, which needs a program, says what to do.
    let p = ok(env.certsh(["env"]));
    assert_eq!(
        p.stdout,
        format!("export GIT_SSH_COMMAND='{} ssh'\n", certsh_bin().display())
    );
    let p = fails(env.certsh(["scp", "a", "b"]), 1);
    assert!(
        p.stderr
            .starts_with("certsh: certsh's ssh shim is not installed beside "),
        "{}",
        p.stderr
    );
    // sh evaluates it to the same value.
    let p = ok(env.command_plain("sh").args([
        "-c",
        &format!(
            "eval \"$({} env)\"; printf %s \"$GIT_SSH_COMMAND\"",
            certsh.display()
        ),
    ]));
    assert_eq!(p.stdout, shim.to_string());
}

#[test]
fn completions_load_in_their_shells() {
    let env = TestEnv::new();
    let p = ok(env.certsh(["completions", "bash"]));
    let script = env.path("certsh.bash");
    std::fs::write(&script, &p.stdout).unwrap();
    let p = ok(env.command_plain("bash").args([
        "-c",
        &format!("source '{}' && complete -p certsh", script.display()),
    ]));
    assert_output(
        &env,
        &p.stdout,
        "complete -o bashdefault -o default -o nosort -F _certsh certsh\n",
    );
    let p = ok(env.certsh(["completions", "zsh"]));
    assert!(p.stdout.starts_with("#compdef certsh"), "{}", p.stdout);
    assert!(p.stdout.contains("ssh-config"));
    let p = ok(env.certsh(["completions", "fish"]));
    assert!(p.stdout.contains("complete -c certsh"), "{}", p.stdout);
    let p = ok(env.certsh(["man"]));
    assert!(p.stdout.contains(".TH certsh 1"), "{}", &p.stdout[..200]);
}

#[test]
fn setup_ssh_config_refuses_openssh_older_than_7_3() {
    let mut env = TestEnv::new();
    let old_ssh = env.path("bin/old-ssh");
    std::fs::write(
        &old_ssh,
        "#!/bin/sh\necho 'OpenSSH_7.2p2 Ubuntu-4ubuntu2.10, OpenSSL 1.0.2g  1 Mar 2016' >&2\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old_ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("CERTSH_REAL_SSH", &old_ssh);
    let certsh = env.installed().join("bin/certsh");
    let file = env.path("ssh_config");
    // The message: tests/cases/setup_ssh_config_old_openssh.stderr.
    fails(
        env.command_plain(&certsh)
            .args(["setup", "ssh-config", "--file", file.to_str().unwrap()]),
        1,
    );
    assert!(!file.exists());
}

#[test]
fn without_credentials_plain_ssh_says_why() {
    // docs/cloud.md section 6: a hook that failed silently left users with a
    // bare "Permission denied (publickey)". The hook's line reaches ssh's
    // stderr.
    let mut env = TestEnv::with_sshd();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    env.unset("CERTSH_CERT_ONLY");
    let (file, _) = user_ssh_config(&env);
    let certsh = env.installed().join("bin/certsh");
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--file", file.to_str().unwrap()]));
    let p = fails(
        plain_ssh(&env, &file, &["ssh.us-3.magento.cloud", "true"]),
        255,
    );
    assert!(
        p.stderr.starts_with(&format!(
            "certsh: warning: no credentials for Magento Cloud: MAGENTO_CLOUD_CLI_TOKEN is not set, {}/.magento-cloud/config.yaml gives no API token, and nobody is logged in",
            env.home().display()
        )),
        "{}",
        p.stderr
    );
}
