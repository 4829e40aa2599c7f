//! Named accounts, end to end: two accounts with their own API
//! tokens, two projects on two real sshds that each accept only their own
//! account's principal, parallel clones, a repository tied to an account,
//! `status` over every account, and the errors of a bad accounts file.
//!
//! The cloud's ssh gateway takes the project's own user
//! (`<project>-<environment>--<app>`); the test sshds have one local user, so
//! the real ssh is started through a small script that replaces such a user
//! by the local one after certsh has chosen the account from it. Everything
//! else is OpenSSH's own: which certificate a project accepts is decided by
//! sshd's `AuthorizedPrincipalsFile`.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;

use support::*;

const TOKEN_A: &str = "certsh-test-token-of-client-a-0123";
const TOKEN_B: &str = "certsh-test-token-of-client-b-4567";

/// Two accounts chosen from the destination: client-a by its project ID,
/// client-b by its host.
const ACCOUNTS: &str = "\
accounts:
  client-a:
    profile: magento
    token_env: CLIENT_A_TOKEN
    projects: [proja]
  client-b:
    profile: magento
    token_env: CLIENT_B_TOKEN
    hosts: [b.us-3.magento.cloud]
";

/// A world with two projects: sshd A accepts only the principal `acct-a`,
/// sshd B only `acct-b`; the certifier signs `acct-a` for [`TOKEN_A`],
/// `acct-b` for [`TOKEN_B`] and `certsh-test` (neither) for the profile's
/// own token, which stays in the environment.
struct Two {
    env: TestEnv,
    a: Sshd,
    b: Sshd,
}

impl Two {
    fn new() -> Two {
        let mut env = TestEnv::new();
        env.certifier
            .add_api_token_with_principals(TOKEN_A, &["acct-a"]);
        env.certifier
            .add_api_token_with_principals(TOKEN_B, &["acct-b"]);
        env.set("CLIENT_A_TOKEN", TOKEN_A);
        env.set("CLIENT_B_TOKEN", TOKEN_B);
        let ca = env.certifier.ca_public_key();
        let start = |name: &str, principal: &str| {
            let dir = env.path(name);
            std::fs::create_dir(&dir).unwrap();
            let sshd = Sshd::start(&dir, &ca, &[principal]);
            sshd::bare_repo(&dir);
            sshd
        };
        let a = start("sshd-a", "acct-a");
        let b = start("sshd-b", "acct-b");
        let mut two = Two { env, a, b };
        two.write_client_files();
        two.write_accounts(ACCOUNTS);
        let script = two.env.path("bin/cloud-ssh");
        two.env.set("CERTSH_REAL_SSH", script);
        two
    }

    fn accounts_file(&self) -> PathBuf {
        self.env.home().join(".config/certsh/config.yaml")
    }

    fn write_accounts(&self, text: &str) {
        let file = self.accounts_file();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
    }

    /// One client config for both sshds (`c.us-3.magento.cloud` is sshd B
    /// under a name no account serves), and the real ssh through the script
    /// that maps the cloud's project users to the local user.
    fn write_client_files(&self) {
        let user = self.a.user();
        let config = self.env.path("ssh_config");
        let host = |name: &str, port: u16| {
            format!("Host {name}\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n")
        };
        std::fs::write(
            &config,
            format!(
                "{}{}{}Host *\n    StrictHostKeyChecking yes\n    UserKnownHostsFile \"{}\" \"{}\"\n\
                 \x20   GlobalKnownHostsFile /dev/null\n    UpdateHostKeys no\n    BatchMode yes\n\
                 \x20   IdentityAgent none\n    IdentitiesOnly yes\n    PasswordAuthentication no\n\
                 \x20   KbdInteractiveAuthentication no\n    LogLevel ERROR\n    ConnectTimeout 10\n",
                host("a.us-3.magento.cloud", self.a.port()),
                host("b.us-3.magento.cloud", self.b.port()),
                host("c.us-3.magento.cloud", self.b.port()),
                self.a.known_hosts().display(),
                self.b.known_hosts().display(),
            ),
        )
        .unwrap();
        let script = self.env.path("bin/cloud-ssh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 for a do\n  shift\n  case \"$a\" in\n    *-*--*@*.magento.cloud) a=\"{user}@${{a#*@}}\" ;;\n  esac\n  set -- \"$@\" \"$a\"\ndone\n\
                 exec /usr/bin/ssh -F '{}' \"$@\"\n",
                config.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn url_a(&self) -> String {
        format!(
            "proja-main--app@a.us-3.magento.cloud:{}",
            self.env.path("sshd-a/repo.git").display()
        )
    }

    fn url_b(&self) -> String {
        format!(
            "projb-main--app@b.us-3.magento.cloud:{}",
            self.env.path("sshd-b/repo.git").display()
        )
    }

    /// The principals of the certificate in an account's state folder.
    fn principals(&self, account: &str) -> Vec<String> {
        let path = self
            .env
            .state_dir()
            .join("accounts")
            .join(account)
            .join("current/id_ed25519-cert.pub");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cert = ssh_key::Certificate::from_openssh(text.trim()).unwrap();
        cert.valid_principals().to_vec()
    }
}

#[test]
fn clones_of_two_accounts_in_parallel_each_get_their_own_certificate() {
    let two = Two::new();
    let (url_a, url_b) = (two.url_a(), two.url_b());
    let env = &two.env;
    let shim = env.shim().display().to_string();
    // Three clones of each project at once: each account's lock lets one
    // renewal through, and the two accounts never wait on each other.
    let children: Vec<_> = (0..6)
        .map(|i| {
            let url = if i % 2 == 0 { &url_a } else { &url_b };
            env.std_git(&shim, ["clone", "-q", url, &format!("clone-{i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "clone {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(env.path(&format!("work/clone-{i}/README")).exists());
    }
    assert_eq!(env.certifier.signatures_for(TOKEN_A), 1, "one for client-a");
    assert_eq!(env.certifier.signatures_for(TOKEN_B), 1, "one for client-b");
    assert_eq!(
        env.certifier.signatures_for(certifier::API_TOKEN),
        0,
        "the profile's own token is not used for an account's project"
    );
    assert_eq!(two.principals("client-a"), ["acct-a"]);
    assert_eq!(two.principals("client-b"), ["acct-b"]);
    assert!(
        !two.env.state_dir().join("current").exists(),
        "the profile's own state folder holds no certificate"
    );
}

#[test]
fn each_project_accepts_only_its_own_accounts_certificate() {
    let two = Two::new();
    let url_a = two.url_a();
    let env = &two.env;
    let shim = env.shim().display().to_string();
    // Forced to the other account, the clone reaches sshd A with client-b's
    // certificate, which it refuses: the choice of account is what makes the
    // clones above work.
    let p = fails(
        env.git(&shim, ["clone", "-q", &url_a, "wrong"])
            .env("CERTSH_ACCOUNT", "client-b"),
        128,
    );
    assert!(p.stderr.contains("Permission denied"), "{}", p.stderr);
    assert_eq!(env.certifier.signatures_for(TOKEN_B), 1);
    assert_eq!(env.certifier.signatures_for(TOKEN_A), 0);
    // A certificate loaded for the right account is reused by the shim.
    ok(env.certsh(["--account", "client-a", "load"]));
    ok(env.git(&shim, ["clone", "-q", &url_a, "right"]));
    assert_eq!(
        env.certifier.signatures_for(TOKEN_A),
        1,
        "load's certificate is reused"
    );
    // c.us-3.magento.cloud is sshd B under a name no account serves: the
    // profile's own certificate is refused there, client-b's (named on
    // `certsh git`'s command line) is accepted.
    let url_c = format!(
        "other-main--app@c.us-3.magento.cloud:{}",
        env.path("sshd-b/repo.git").display()
    );
    fails(env.git(&shim, ["clone", "-q", &url_c, "c-default"]), 128);
    assert_eq!(env.certifier.signatures_for(certifier::API_TOKEN), 1);
    ok(env.certsh(["--account", "client-b", "git", "clone", "-q", &url_c, "c-b"]));
    assert!(env.path("work/c-b/README").exists());
    assert_eq!(
        env.certifier.signatures_for(TOKEN_B),
        1,
        "the forced clone's, reused"
    );
}

#[test]
fn setup_git_local_account_ties_one_repository() {
    let two = Two::new();
    let prefix = two.env.installed();
    let env = &two.env;
    let certsh = prefix.join("bin/certsh");
    // c.us-3.magento.cloud is sshd B, served by no account: only the tie
    // can give this repository client-b's certificate.
    let url = format!(
        "other-main--app@c.us-3.magento.cloud:{}",
        env.path("sshd-b/repo.git").display()
    );
    ok(env.command_plain("git").args(["init", "-q", "repo"]));
    let in_repo = |args: &[&str]| {
        let mut cmd = env.command_plain("git");
        cmd.current_dir(env.path("work/repo")).args(args);
        cmd
    };
    let certsh_in_repo = |args: &[&str]| {
        let mut cmd = env.command_plain(&certsh);
        cmd.current_dir(env.path("work/repo")).args(args);
        cmd
    };
    ok(in_repo(&["remote", "add", "origin", &url]));

    ok(certsh_in_repo(&["setup", "git", "--local"]));
    let p = fails(in_repo(&["fetch", "-q", "origin"]), 128);
    assert!(p.stderr.contains("Permission denied"), "{}", p.stderr);

    let p = ok(certsh_in_repo(&[
        "setup",
        "git",
        "--local",
        "--account",
        "client-b",
    ]));
    assert_output(
        env,
        &p.stdout,
        "core.sshCommand (in [ROOT]/work/repo/.git) = CERTSH_ACCOUNT=client-b [ROOT]/prefix/libexec/certsh/ssh\nplain git in this repository now gets the account client-b's certificates through certsh (undo: certsh setup git --local --undo)\n",
    );
    let value = ok(in_repo(&["config", "--local", "core.sshCommand"]));
    assert_eq!(
        value.stdout.trim(),
        format!(
            "CERTSH_ACCOUNT=client-b {}",
            prefix.join("libexec/certsh/ssh").display()
        )
    );
    ok(in_repo(&["fetch", "-q", "origin"]));
    assert_eq!(env.certifier.signatures_for(TOKEN_B), 1);
    let doctor = run(certsh_in_repo(&["doctor"]));
    assert_output(
        env,
        &doctor.stdout,
        snapbox::file!["cases/doctor_repository_tied_to_an_account.stdout"],
    );
    // The report for that account has nothing to point at.
    let doctor = run(certsh_in_repo(&["--account", "client-b", "doctor"]));
    assert_output(
        env,
        &doctor.stdout,
        snapbox::file!["cases/doctor_repository_tied_to_its_account.stdout"],
    );
    assert_eq!(two.principals("client-b"), ["acct-b"]);

    let env = &two.env;
    let mut undo = env.command_plain(&certsh);
    undo.current_dir(env.path("work/repo"))
        .args(["setup", "git", "--local", "--undo"]);
    ok(undo);
    let mut get = env.command_plain("git");
    get.current_dir(env.path("work/repo"))
        .args(["config", "--local", "core.sshCommand"]);
    fails(get, 1);
}

#[test]
fn setup_git_account_names_a_defined_account() {
    let two = Two::new();
    let prefix = two.env.installed();
    let env = &two.env;
    ok(env.command_plain("git").args(["init", "-q", "repo"]));
    let mut cmd = env.command_plain(prefix.join("bin/certsh"));
    cmd.current_dir(env.path("work/repo"))
        .args(["setup", "git", "--local", "--account", "nobody"]);
    let p = fails(cmd, 1);
    assert_output(
        env,
        &p.stderr,
        "certsh: no account \"nobody\" (--account) in [ROOT]/home/.config/certsh/config.yaml (use one of: client-a, client-b)\n",
    );
}

/// A world with the accounts file and no sshd: commands only.
fn accounts_only() -> TestEnv {
    let mut env = TestEnv::new();
    env.certifier
        .add_api_token_with_principals(TOKEN_A, &["acct-a"]);
    env.certifier
        .add_api_token_with_principals(TOKEN_B, &["acct-b"]);
    env.set("CLIENT_A_TOKEN", TOKEN_A);
    env.set("CLIENT_B_TOKEN", TOKEN_B);
    let dir = env.home().join(".config/certsh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.yaml"), ACCOUNTS).unwrap();
    env
}

/// `--account` and `CERTSH_ACCOUNT` are one input: the set-ups that refuse
/// a named account refuse it whichever way it is given, and write nothing.
#[test]
fn setups_refuse_a_named_account_given_by_flag_or_by_variable_alike() {
    let env = accounts_only();
    let agent = "setup agent starts the profile's agent; a named account's is not set up";
    let block = "setup ssh-config writes one block for the profile and every account of it";
    for (args, var, problem, fix) in [
        (
            vec!["--account", "client-a", "setup", "agent"],
            None,
            agent,
            "leave out --account, or run certsh --account NAME agent yourself",
        ),
        (
            vec!["setup", "agent"],
            Some("client-a"),
            agent,
            "unset CERTSH_ACCOUNT, or run certsh --account NAME agent yourself",
        ),
        (
            vec!["--account", "client-a", "setup", "ssh-config"],
            None,
            block,
            "leave out --account",
        ),
        (
            vec!["setup", "ssh-config"],
            Some("client-a"),
            block,
            "unset CERTSH_ACCOUNT",
        ),
    ] {
        let mut cmd = env.certsh(&args);
        if let Some(name) = var {
            cmd.env("CERTSH_ACCOUNT", name);
        }
        let p = fails(cmd, 1);
        assert_eq!(
            p.stderr,
            format!("certsh: {problem} ({fix})\n"),
            "{args:?} {var:?}"
        );
    }
    assert!(
        !env.home().join(".ssh/config").exists(),
        "no ssh_config block"
    );
    assert!(
        !env.home().join(".config/systemd").exists(),
        "no systemd unit"
    );
}

#[test]
fn status_lists_every_account() {
    let env = accounts_only();
    ok(env.certsh(["--account", "client-a", "load"]));
    ok(env.certsh(["load"]).env("CERTSH_ACCOUNT", "client-b"));
    let p = ok(env.certsh(["status"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/status_every_account.stdout"],
    );
    let p = ok(env.certsh(["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(v["default"]["state"], "missing");
    assert!(v["default"].get("account").is_none());
    let accounts = v["accounts"].as_array().unwrap();
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["client-a", "client-b"]);
    assert_eq!(accounts[1]["principals"][0], "acct-b");
    assert!(accounts.iter().all(|a| a["state"] == "valid"));

    // One account: the full report, naming it.
    let p = ok(env.certsh(["--account", "client-b", "status"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/status_one_account.stdout"],
    );
    // logout --account clears that account only.
    ok(env.certsh(["--account", "client-b", "logout"]));
    let p = fails(env.certsh(["status"]), 1);
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/status_every_account_one_logged_out.stdout"],
    );
    // logout --all: every account too.
    ok(env.certsh(["logout", "--all"]));
    assert!(!env.state_dir().join("accounts/client-a/current").exists());
    let p = fails(env.certsh(["status"]), 1);
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/status_every_account_all_logged_out.stdout"],
    );
}

#[test]
fn login_api_token_for_an_account_is_kept_in_its_own_folder() {
    let mut env = accounts_only();
    env.unset("CLIENT_B_TOKEN");
    let p = fails(env.certsh(["--account", "client-b", "load"]), 1);
    assert_output(
        &env,
        &p.stderr,
        "certsh: no credentials for the account client-b: CLIENT_B_TOKEN is not set (set CLIENT_B_TOKEN to an API token, or run `certsh --account client-b login` at a terminal)\n",
    );
    ok(env
        .certsh(["--account", "client-b", "login", "--api-token"])
        .write_stdin(format!("{TOKEN_B}\n")));
    let stored = env.state_dir().join("accounts/client-b/api-token");
    assert!(stored.exists(), "{}", stored.display());
    assert!(!env.state_dir().join("api-token").exists());
    ok(env.certsh(["--account", "client-b", "load"]));
    assert_eq!(env.certifier.signatures_for(TOKEN_B), 1);
}

#[test]
fn a_bad_accounts_file_is_one_line_naming_file_and_line() {
    let mut env = accounts_only();
    let file = env.home().join(".config/certsh/config.yaml");
    std::fs::write(
        &file,
        "accounts:\n  client-a:\n    profile: magento\n  Client-B:\n    profile: magento\n",
    )
    .unwrap();
    let p = fails(env.certsh(["status"]), 1);
    assert_output(
        &env,
        &p.stderr,
        "certsh: [ROOT]/home/.config/certsh/config.yaml:4: the account name \"Client-B\" is not allowed (use lower-case letters, digits, - and _, starting with a letter or digit, at most 64)\n",
    );
    // A connection to the cloud stops on it; any other host does not depend
    // on certsh's configuration.
    let log = env.recording_ssh();
    let p = fails(
        env.command_plain(env.shim())
            .args(["proja-main--app@git.us-3.magento.cloud", "true"]),
        255,
    );
    assert_output(
        &env,
        &p.stderr,
        "certsh: [ROOT]/home/.config/certsh/config.yaml:4: the account name \"Client-B\" is not allowed (use lower-case letters, digits, - and _, starting with a letter or digit, at most 64)\n",
    );
    assert!(!log.exists());
    let p = ok(env
        .command_plain(env.shim())
        .args(["git@github.com", "true"]));
    assert_output(
        &env,
        &p.stderr,
        "certsh: warning: [ROOT]/home/.config/certsh/config.yaml:4: the account name \"Client-B\" is not allowed (use lower-case letters, digits, - and _, starting with a letter or digit, at most 64); connecting to github.com without a certificate\n",
    );
    assert!(log.exists(), "ssh ran");
}

#[test]
fn equally_specific_accounts_are_an_error_unless_one_is_named() {
    let mut env = accounts_only();
    std::fs::write(
        env.home().join(".config/certsh/config.yaml"),
        "accounts:\n  client-a:\n    profile: magento\n    token_env: CLIENT_A_TOKEN\n    hosts: ['*.magento.cloud']\n\
         \x20 client-b:\n    profile: magento\n    token_env: CLIENT_B_TOKEN\n    hosts: ['git.us-3.magen*']\n",
    )
    .unwrap();
    env.recording_ssh();
    let p = fails(
        env.command_plain(env.shim())
            .args(["git.us-3.magento.cloud", "true"]),
        255,
    );
    assert_output(
        &env,
        &p.stderr,
        "certsh: the accounts client-a (host pattern \"*.magento.cloud\") and client-b (host pattern \"git.us-3.magen*\") in [ROOT]/home/.config/certsh/config.yaml match git.us-3.magento.cloud equally well (make one pattern more specific, or choose with --account or CERTSH_ACCOUNT)\n",
    );
    assert_eq!(env.certifier.sign_requests(), 0);
    // Named, the account is used, and its certificate handed to ssh.
    ok(env
        .command_plain(env.shim())
        .args(["git.us-3.magento.cloud", "true"])
        .env("CERTSH_ACCOUNT", "client-b"));
    let args = env.recorded().join("\n");
    assert!(args.contains("/certsh/accounts/client-b/gen-"), "{args}");
    assert_eq!(env.certifier.signatures_for(TOKEN_B), 1);
    // The same claim in two accounts is refused when the file is read.
    std::fs::write(
        env.home().join(".config/certsh/config.yaml"),
        "accounts:\n  client-a:\n    profile: magento\n    projects: [proja]\n  client-b:\n    profile: upsun\n    projects: [proja]\n",
    )
    .unwrap();
    let p = fails(env.certsh(["status"]), 1);
    assert_output(
        &env,
        &p.stderr,
        "certsh: [ROOT]/home/.config/certsh/config.yaml:5: the accounts client-a and client-b both serve the project proja (keep it in one account)\n",
    );
}

#[test]
fn an_accounts_file_others_can_write_is_ignored() {
    let env = accounts_only();
    let file = env.home().join(".config/certsh/config.yaml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let p = fails(env.certsh(["--account", "client-a", "status"]), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/accounts_file_others_can_write.stderr"],
    );
}

#[test]
fn certsh_config_names_another_accounts_file() {
    let mut env = accounts_only();
    let other = env.path("accounts.yaml");
    std::fs::write(
        &other,
        "accounts:\n  ci:\n    profile: magento\n    token_env: CLIENT_A_TOKEN\n",
    )
    .unwrap();
    env.set("CERTSH_CONFIG", &other);
    let p = ok(env.certsh(["--account", "ci", "load"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/load_for_an_account_of_another_accounts_file.stdout"],
    );
    assert!(env.state_dir().join("accounts/ci/current").exists());
    fails(env.certsh(["--account", "client-a", "status"]), 1);
}

#[test]
fn setup_ssh_config_serves_each_account_to_plain_ssh() {
    let two = Two::new();
    let prefix = two.env.installed();
    let env = &two.env;
    let certsh = prefix.join("bin/certsh");
    // The test client config, with certsh's block appended: plain OpenSSH
    // reads it, with no certsh on its command line.
    let file = env.path("plain_ssh_config");
    std::fs::copy(env.path("ssh_config"), &file).unwrap();
    let f = file.to_str().unwrap();
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--file", f]));
    // The whole file: the test client config, then a block per account,
    // each leaving out the users of the ones before it.
    let block = std::fs::read_to_string(&file).unwrap();
    assert_output(
        env,
        &block,
        snapbox::file!["cases/setup_ssh_config_for_accounts.config"],
    );
    let user = two.a.user().to_string();
    let plain_ssh = |dest: &str| {
        let mut cmd = env.command_plain("/usr/bin/ssh");
        cmd.args(["-F", f, dest, "echo", "connected"]);
        cmd
    };
    // client-b by its host: its hook renews its certificate, sshd B takes it.
    let p = ok(plain_ssh(&format!("{user}@b.us-3.magento.cloud")));
    assert_eq!(p.stdout, "connected\n");
    assert_eq!(env.certifier.signatures_for(TOKEN_B), 1);
    assert_eq!(
        env.certifier.signatures_for(certifier::API_TOKEN),
        0,
        "the profile's hook does not run for an account's host"
    );
    // client-a by its project ID (the cloud's user; the test sshd would not
    // know it, so ssh -G shows what ssh would use, hooks run).
    let p = ok(env.command_plain("/usr/bin/ssh").args([
        "-G",
        "-F",
        f,
        "proja-main--app@a.us-3.magento.cloud",
    ]));
    let files: Vec<&str> = p
        .stdout
        .lines()
        .filter(|l| l.starts_with("certificatefile "))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].contains("/certsh/accounts/client-a/current/"),
        "{files:?}"
    );
    assert_eq!(env.certifier.signatures_for(TOKEN_A), 1);
    // A host no account serves: the profile's own certificate, which sshd B
    // refuses (it accepts only client-b's principal).
    let p = fails(plain_ssh(&format!("{user}@c.us-3.magento.cloud")), 255);
    assert_output(
        env,
        &p.stderr,
        "[USER]@127.0.0.1: Permission denied (publickey).\r\n",
    );
    assert_eq!(env.certifier.signatures_for(certifier::API_TOKEN), 1);
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--undo", "--file", f]));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        std::fs::read_to_string(env.path("ssh_config")).unwrap()
    );
}

#[test]
fn account_tokens_are_kept_from_the_real_ssh() {
    let mut env = accounts_only();
    let script = env.path("bin/env-ssh");
    let out = env.path("ssh-env");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nenv >> '{}'\necho end >> '{}'\n",
            out.display(),
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("CERTSH_REAL_SSH", &script);
    // An account's host (certificate, then exec) and any other host (exec).
    ok(env
        .command_plain(env.shim())
        .args(["proja-main--app@git.us-3.magento.cloud", "true"]));
    assert_eq!(env.certifier.signatures_for(TOKEN_A), 1);
    ok(env
        .command_plain(env.shim())
        .args(["git@github.com", "true"]));
    let seen = std::fs::read_to_string(&out).unwrap();
    assert_eq!(seen.matches("end\n").count(), 2, "ssh ran twice");
    for secret in ["CLIENT_A_TOKEN", "CLIENT_B_TOKEN", TOKEN_A, TOKEN_B] {
        assert!(!seen.contains(secret), "{secret} reached ssh:\n{seen}");
    }
    assert!(
        seen.contains("HOME="),
        "the rest of the environment is there"
    );
}

#[test]
fn doctor_for_an_account_without_its_token_names_the_accounts_variable() {
    let mut two = Two::new();
    two.env.unset("CLIENT_A_TOKEN");
    let p = fails(two.env.certsh(["--account", "client-a", "doctor"]), 1);
    assert_output(
        &two.env,
        &p.stdout,
        snapbox::file!["cases/doctor_account_without_its_token.stdout"],
    );
}
