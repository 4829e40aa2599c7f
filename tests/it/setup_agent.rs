//! Setting up `certsh agent` for clients that never run a command certsh
//! could sit in front of: `setup agent` (a systemd user unit,
//! checked with systemd's own `systemd-analyze verify` and `systemctl`; the
//! launchd plist, read back with Python's plistlib), `setup ssh-config
//! --agent` against the real sshd and OpenSSH, and `env --agent`. All of them
//! name one socket.

use crate::support;

use std::path::{Path, PathBuf};

use support::*;

/// A world whose session has a runtime folder, as a desktop login has: the
/// agent's socket goes there.
fn env_with_runtime_dir(env: &mut TestEnv) -> PathBuf {
    let run = env.path("run");
    std::fs::create_dir(&run).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    env.set("XDG_RUNTIME_DIR", &run);
    run
}

fn unit_file(env: &TestEnv, name: &str) -> PathBuf {
    env.home().join(".config/systemd/user").join(name)
}

fn systemctl(env: &TestEnv, args: &[&str]) -> Printed {
    run(env.command_plain("systemctl").arg("--user").args(args))
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: systemd's own tools check the unit (scripts/test --all)"
)]
fn setup_agent_writes_a_unit_systemd_accepts_changes_nothing_twice_and_undo_removes_it() {
    let mut env = TestEnv::new();
    let run_dir = env_with_runtime_dir(&mut env);
    let certsh = env.installed().join("bin/certsh");
    let socket = run_dir.join("certsh/magento-agent.sock");
    let unit = unit_file(&env, "certsh-agent.service");

    // No user manager answers in the test's clean environment, so the unit is
    // enabled on the files and the one command to start it now is printed.
    let p = ok(env.command_plain(&certsh).args(["setup", "agent"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_agent_no_user_manager.stdout"],
    );
    assert_eq!(
        std::fs::read_to_string(&unit).unwrap(),
        format!(
            "# certsh setup agent wrote this file; `certsh setup agent --undo` removes it.\n\
             [Unit]\n\
             Description=certsh agent: self-renewing SSH certificates (profile magento)\n\
             Documentation=https://github.com/certsh/certsh/blob/main/docs/agent.md\n\
             \n\
             [Service]\n\
             ExecStart=\"{}\" --profile magento agent --socket \"{}\"\n\
             Restart=on-failure\n\
             RestartSec=5\n\
             \n\
             [Install]\n\
             WantedBy=default.target\n",
            certsh.display(),
            socket.display()
        )
    );
    // systemd's own reading of it: no warning at all (an unknown key or a
    // bad value is only a warning, so stderr must be empty), and enabled.
    let p = ok(env
        .command_plain("systemd-analyze")
        .args(["--user", "verify", "--man=no"])
        .arg(&unit));
    assert_eq!(p.stderr, "", "systemd-analyze verify");
    let p = systemctl(&env, &["is-enabled", "certsh-agent.service"]);
    assert_eq!(p.stdout.trim(), "enabled", "{}", p.stderr);
    let wants = env
        .home()
        .join(".config/systemd/user/default.target.wants/certsh-agent.service");
    assert_eq!(std::fs::read_link(&wants).unwrap(), unit);

    // The same socket everywhere: the unit, `env --agent`, the ssh_config
    // block.
    let p = ok(env.command_plain(&certsh).args(["env", "--agent"]));
    assert_eq!(
        p.stdout,
        format!("export SSH_AUTH_SOCK={}\n", socket.display())
    );
    let config = env.path("ssh_config");
    ok(env.command_plain(&certsh).args([
        "setup",
        "ssh-config",
        "--agent",
        "--file",
        config.to_str().unwrap(),
    ]));
    // The whole file: the test client config, then the block that names
    // the agent's socket.
    let block = std::fs::read_to_string(&config).unwrap();
    assert_output(
        &env,
        &block,
        snapbox::file!["cases/setup_ssh_config_agent.config"],
    );

    // Again: nothing on disk changes.
    let before = tree_snapshot(&env.home());
    let p = ok(env.command_plain(&certsh).args(["setup", "agent"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_agent_again.stdout"],
    );
    assert_eq!(tree_snapshot(&env.home()), before);

    let p = ok(env
        .command_plain(&certsh)
        .args(["setup", "agent", "--undo"]));
    assert_eq!(p.stdout, format!("removed {}\n", unit.display()));
    assert!(!unit.exists());
    assert!(std::fs::symlink_metadata(&wants).is_err(), "disabled");
    let p = systemctl(&env, &["is-enabled", "certsh-agent.service"]);
    assert_ne!(p.stdout.trim(), "enabled", "{}", p.stderr);
    let p = ok(env
        .command_plain(&certsh)
        .args(["setup", "agent", "--undo"]));
    assert_output(
        &env,
        &p.stdout,
        "[ROOT]/home/.config/systemd/user/certsh-agent.service does not exist; nothing to undo\n",
    );
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: systemd's own tools check the unit (scripts/test --all)"
)]
fn setup_agent_leaves_a_unit_it_did_not_write_and_names_other_profiles_apart() {
    let env = TestEnv::new();
    let certsh = env.installed().join("bin/certsh");
    let unit = unit_file(&env, "certsh-agent.service");
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    let mine = "[Service]\nExecStart=/usr/bin/true\n";
    std::fs::write(&unit, mine).unwrap();

    let p = fails(env.command_plain(&certsh).args(["setup", "agent"]), 1);
    assert_eq!(
        p.stderr,
        format!(
            "certsh: {} exists, and certsh did not write it (remove or rename it, then run certsh setup agent again)\n",
            unit.display()
        )
    );
    let p = ok(env
        .command_plain(&certsh)
        .args(["setup", "agent", "--undo"]));
    assert_output(
        &env,
        &p.stdout,
        "[ROOT]/home/.config/systemd/user/certsh-agent.service was not written by certsh; left as it is\n",
    );
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), mine);

    // Another profile has a unit of its own, on its own socket (no runtime
    // folder here: the state folder's).
    let p = ok(env
        .command_plain(&certsh)
        .args(["--profile", "upsun", "setup", "agent"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_agent_other_profile.stdout"],
    );
    let upsun = std::fs::read_to_string(unit_file(&env, "certsh-agent-upsun.service")).unwrap();
    assert_output(
        &env,
        &upsun,
        snapbox::file!["cases/setup_agent_other_profile.service"],
    );
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), mine);
}

/// The plist that macOS's launchd reads, parsed by Python's plistlib (the
/// same reader as Apple's `plutil` for this XML form), with a path that
/// needs escaping.
#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: python3's plistlib reads the plist (scripts/test --all)"
)]
fn launchd_plist_reads_back_with_plistlib() {
    let env = TestEnv::new();
    let exe = Path::new("/Users/R&D <team>/.local/bin/certsh");
    let socket = Path::new("/Users/R&D <team>/.magento-cloud/certsh/agent.sock");
    let log = Path::new("/Users/R&D <team>/Library/Logs/com.github.certsh.agent.log");
    let text = certsh::setup::agent_service::launchd_plist(
        "com.github.certsh.agent",
        &certsh::config::profile::PROFILES[0],
        exe,
        socket,
        log,
    )
    .unwrap();
    let file = env.path("agent.plist");
    std::fs::write(&file, &text).unwrap();
    let p = ok(env
        .command_plain("python3")
        .arg("-c")
        .arg(
            "import json, plistlib, sys\n\
         print(json.dumps(plistlib.load(open(sys.argv[1], 'rb')), sort_keys=True))",
        )
        .arg(&file));
    let got: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "Label": "com.github.certsh.agent",
            "ProgramArguments": [
                exe, "--profile", "magento", "agent", "--socket", socket
            ],
            "RunAtLoad": true,
            "KeepAlive": {"SuccessfulExit": false},
            "ProcessType": "Background",
            "StandardErrorPath": log,
        })
    );
}

fn plain_ssh(env: &TestEnv, config: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = env.command_plain("/usr/bin/ssh");
    cmd.arg("-F").arg(config).args(args);
    cmd
}

/// The test sshd's client config, as the user's file.
fn user_ssh_config(env: &TestEnv) -> PathBuf {
    let path = env.path("user_ssh_config");
    std::fs::copy(env.ssh_config(), &path).unwrap();
    path
}

#[test]
fn setup_ssh_config_agent_replaces_the_hook_and_ssh_falls_back_to_the_files_when_no_agent_listens()
{
    let mut env = TestEnv::with_sshd();
    let run_dir = env_with_runtime_dir(&mut env);
    let socket = run_dir.join("certsh/magento-agent.sock");
    let certsh = env.installed().join("bin/certsh");
    let file = user_ssh_config(&env);
    let f = file.to_str().unwrap();
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--file", f]));
    let hook_block = std::fs::read_to_string(&file).unwrap();
    assert!(hook_block.contains("ssh-config-hook"));

    // The same command with --agent replaces the block in place: no Match
    // exec (no shell per connection), IdentityAgent above the files.
    let p = ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--agent", "--file", f]));
    // ssh keeps the first IdentityAgent it reads, and the test client
    // config, like a user's `Host *` for a password manager's agent, sets
    // one above the block: said, with the fix. Nothing listens at the
    // socket yet: said too.
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_ssh_config_agent_replaces_the_hook.stdout"],
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("exec"), "{text}");
    assert!(!text.contains("ssh-config-hook"), "{text}");
    let files = format!(
        "    IdentityAgent \"{}\"\n    IdentityFile \"{state}/current/id_ed25519\"\n    \
         CertificateFile \"{state}/current/id_ed25519-cert.pub\"\n",
        socket.display(),
        state = env.state_dir().display()
    );
    assert_eq!(text.matches(&files).count(), 2, "{text}");
    let text = text.replace("    IdentityAgent none\n", "");
    std::fs::write(&file, &text).unwrap();
    let p = ok(plain_ssh(&env, &file, &["-G", "git.us-3.magento.cloud"]));
    assert!(
        p.stdout
            .contains(&format!("identityagent {}\n", socket.display())),
        "{}",
        p.stdout
    );
    // Again: unchanged, and now without that warning.
    let p = ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--agent", "--file", f]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_ssh_config_agent_again.stdout"],
    );

    // No agent and no certificate: nothing renews, ssh is refused.
    let p = fails(
        plain_ssh(
            &env,
            &file,
            &["-o", "BatchMode=yes", "git.us-3.magento.cloud", "true"],
        ),
        255,
    );
    assert_output(
        &env,
        &p.stderr,
        "[USER]@127.0.0.1: Permission denied (publickey).\n",
    );
    assert_eq!(env.certifier.sign_requests(), 0);

    // A valid certificate on disk, the socket missing, then present with
    // nothing listening: ssh skips the agent without a word and uses the
    // files.
    ok(env.command_plain(&certsh).arg("load"));
    let p = ok(plain_ssh(
        &env,
        &file,
        &["git.us-3.magento.cloud", "echo", "files"],
    ));
    assert_eq!((p.stdout.as_str(), p.stderr.as_str()), ("files\n", ""));
    std::fs::create_dir(socket.parent().unwrap()).unwrap();
    let dead = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(dead);
    assert!(socket.exists(), "a socket file with no listener");
    let p = ok(plain_ssh(
        &env,
        &file,
        &["git.us-3.magento.cloud", "echo", "dead"],
    ));
    assert_eq!((p.stdout.as_str(), p.stderr.as_str()), ("dead\n", ""));
    let p = ok(plain_ssh(
        &env,
        &file,
        &["-v", "git.us-3.magento.cloud", "true"],
    ));
    assert!(
        p.stderr
            .contains("get_agent_identities: ssh_get_authentication_socket: Connection refused"),
        "{}",
        p.stderr
    );

    // --undo removes it like the hook's block.
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--undo", "--file", f]));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        std::fs::read_to_string(env.ssh_config())
            .unwrap()
            .replace("    IdentityAgent none\n", "")
    );
}

#[test]
fn env_agent_names_the_socket_in_each_shell() {
    let mut env = TestEnv::new();
    let state = env.state_dir();
    let p = ok(env.certsh(["env", "--agent", "--shell", "fish"]));
    assert_eq!(
        p.stdout,
        format!(
            "set -gx SSH_AUTH_SOCK '{}'\n",
            state.join("agent.sock").display()
        )
    );
    let run_dir = env_with_runtime_dir(&mut env);
    let p = ok(env.certsh([
        "--profile",
        "upsun",
        "env",
        "--agent",
        "--shell",
        "powershell",
    ]));
    assert_eq!(
        p.stdout,
        format!(
            "$env:CERTSH_PROFILE = 'upsun'\n$env:SSH_AUTH_SOCK = '{}'\n",
            run_dir.join("certsh/upsun-agent.sock").display()
        )
    );
    // The sh line, evaluated by sh, sets exactly the path.
    let p = ok(env.certsh(["env", "--agent"]));
    let mut sh = env.command_plain("sh");
    sh.arg("-c")
        .arg(format!("{}printf %s \"$SSH_AUTH_SOCK\"", p.stdout));
    let out = ok(sh);
    assert_eq!(
        out.stdout,
        run_dir
            .join("certsh/magento-agent.sock")
            .display()
            .to_string()
    );
    fails(env.certsh(["env", "--agent", "--alias"]), 2);
}

/// The words of a systemd `ExecStart=` line whose quoted words hold no
/// quote (what `setup agent` writes).
fn exec_start(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = vec![];
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (word, tail) = match rest.strip_prefix('"') {
            Some(r) => r.split_once('"').expect("a closing quote"),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        words.push(word.replace("%%", "%").replace("$$", "$"));
        rest = tail.trim_start();
    }
    words
}

/// The whole way, short of systemd starting the unit (no user manager runs
/// here): the unit's own command line, started with no SSH_AUTH_SOCK as a
/// service is, serves the socket that the ssh_config block names, and plain
/// ssh with no certificate on disk logs in through it alone.
#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: systemd's own tools check the unit (scripts/test --all)"
)]
fn the_units_command_serves_plain_ssh_through_the_ssh_config_block() {
    let mut env = TestEnv::with_sshd();
    let run_dir = env_with_runtime_dir(&mut env);
    let certsh = env.installed().join("bin/certsh");
    ok(env.command_plain(&certsh).args(["setup", "agent"]));
    let file = user_ssh_config(&env);
    // The user's own file has no IdentityAgent of its own (see the warning
    // test above), but IdentitiesOnly yes: ssh then drops an agent key that
    // matches no file it loaded as it started, so with no certificate on
    // disk the agent's new one is not offered. Said, with the fix.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("    IdentityAgent none\n", "");
    std::fs::write(&file, &text).unwrap();
    let setup = || {
        ok(env.command_plain(&certsh).args([
            "setup",
            "ssh-config",
            "--agent",
            "--file",
            file.to_str().unwrap(),
        ]))
    };
    let p = setup();
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_ssh_config_agent_identities_only.stdout"],
    );
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("    IdentitiesOnly yes\n", "");
    std::fs::write(&file, &text).unwrap();
    let p = setup();
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_ssh_config_agent_nothing_listens.stdout"],
    );

    let unit = std::fs::read_to_string(unit_file(&env, "certsh-agent.service")).unwrap();
    let words = exec_start(&unit);
    assert_eq!(words[0], certsh.to_str().unwrap());
    let socket = run_dir.join("certsh/magento-agent.sock");
    let mut unit_command = env.std_command(&words[0]);
    unit_command.args(&words[1..]).env_remove("SSH_AUTH_SOCK");
    let _agent = CertshAgent::spawn(&env, unit_command, &socket);
    let p = setup();
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/setup_ssh_config_agent_listening.stdout"],
    );

    assert!(env.certificate_bytes().is_none(), "no certificate yet");
    let p = ok(plain_ssh(
        &env,
        &file,
        &["git.us-3.magento.cloud", "echo", "agent"],
    ));
    assert_eq!(p.stdout, "agent\n");
    assert_eq!(env.certifier.sign_requests(), 1, "the agent obtained it");
    let p = ok(plain_ssh(
        &env,
        &file,
        &["ssh.us-3.magento.cloud", "echo", "again"],
    ));
    assert_eq!(p.stdout, "again\n");
    assert_eq!(env.certifier.sign_requests(), 1, "and reuses it");
}

/// What `docker run -v "$SSH_AUTH_SOCK":/ssh-agent -e
/// SSH_AUTH_SOCK=/ssh-agent` does, without Docker (none runs here): the
/// socket bind-mounted into new mount and network namespaces, under a user
/// namespace whose root is this user (rootless Docker's and podman's
/// mapping). ssh-add there lists certsh's certificate, and the agent signs
/// a login with it (`scripts/agent-roundtrip.py`: `ssh-add -T` asks for a
/// signature over data that is not a login, which the agent refuses).
#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: Linux namespaces need root (scripts/test --all)"
)]
fn the_agent_socket_works_bind_mounted_into_a_container_like_namespace() {
    let mut env = TestEnv::new();
    let run_dir = env_with_runtime_dir(&mut env);
    let socket = run_dir.join("certsh/magento-agent.sock");
    let _agent = CertshAgent::start_with(&env, &socket, &[]);
    // The certificate the agent obtains when first asked, as a public file
    // for the round trip.
    let p = ok(env
        .command_plain("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &socket));
    assert_output(&env, &p.stdout, "256 SHA256:[..] (ED25519-CERT)\n");
    let cert = env.state_dir().join("current/id_ed25519-cert.pub");
    assert!(cert.exists());

    let script = "mount -t tmpfs none /mnt && touch /mnt/ssh-agent && \
                  mount --bind \"$HOST_SOCKET\" /mnt/ssh-agent && \
                  SSH_AUTH_SOCK=/mnt/ssh-agent ssh-add -l && \
                  python3 \"$ROUNDTRIP\" /mnt/ssh-agent \"$CERT\" 1 >/dev/null && echo signed";
    let p = ok(env
        .command_plain("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--net",
            "sh",
            "-c",
            script,
        ])
        .env("HOST_SOCKET", &socket)
        .env("CERT", &cert)
        .env(
            "ROUNDTRIP",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/agent-roundtrip.py"),
        ));
    assert_output(&env, &p.stdout, "256 SHA256:[..] (ED25519-CERT)\nsigned\n");
    assert_eq!(env.certifier.sign_requests(), 1);
}
