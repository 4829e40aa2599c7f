//! certsh.exe and its shim end to end as Windows programs under Wine 10
//! (scripts/wine): the shim, installed as in the release zip, with the test
//! certifier on loopback and a stand-in `ssh.exe` (examples/ssh_standin.rs),
//! since a Windows program under Wine cannot start the Linux ssh.
//!
//! Wine keeps no access lists (docs/windows.md), so certsh.exe is built
//! here with `unchecked-access-lists`, which takes every file as the
//! user's alone; everything else is the Windows code a release runs.
// Tier all (scripts/test --all): needs mingw-w64 and the Wine root.
#![cfg(feature = "test-all")]

use crate::support::{self, Fault, TestEnv};

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TARGET: &str = "x86_64-pc-windows-gnu";
const HOST: &str = "abcdef7uyxabce@ssh.us-3.magento.cloud";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wine() -> PathBuf {
    root().join("scripts/wine")
}

/// Builds certsh.exe, the shim and the stand-in ssh.exe for Windows, in the
/// target folder of the build under test; returns the folder they are in.
fn build() -> PathBuf {
    let target_dir = support::certsh_bin()
        .parent()
        .and_then(Path::parent)
        .expect("certsh is built in <target>/<profile>")
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--locked", "--quiet", "--target", TARGET])
        .args(["--features", "unchecked-access-lists"])
        .args(["--bins", "--example", "ssh_standin"])
        .args(["--example", "credential_helper_standin"])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the Windows build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir.join(TARGET).join("debug")
}

/// `path` as Windows names it under Wine, where Z: is the root folder.
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// A Windows path of the Wine user's LOCALAPPDATA as a path here.
fn unix_path(windows: &str, local_app_data: &Path) -> PathBuf {
    let (drive, rest) = windows.split_once('\\').expect(windows);
    assert_eq!(drive, "C:", "{windows}");
    let rest = rest.replace('\\', "/");
    let under = rest
        .split_once("/AppData/Local/")
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("{windows} is not in LOCALAPPDATA"));
    local_app_data.join(under)
}

/// The certsh state folder of the Wine user, as a path here.
fn local_app_data() -> PathBuf {
    let out = Command::new(wine())
        .arg("local-app-data")
        .output()
        .expect("scripts/wine runs");
    assert!(out.status.success(), "scripts/wine local-app-data failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Runs the Windows `exe` under Wine in `env`'s world, with `input` on its
/// standard input; returns once its standard output has ended and it has
/// exited, as git waits for ssh.
///
/// Standard error goes to a file, not a pipe: Wine keeps a process's Unix
/// standard error for its own messages and hands it to every process
/// it starts (a detached one too), which Windows does not do.
fn run(env: &TestEnv, exe: &Path, args: &[&str], extra: &[(&str, String)], input: &[u8]) -> Output {
    let mut stderr = tempfile::tempfile().unwrap();
    let mut cmd = env.std_command(wine());
    cmd.arg("run")
        .arg(exe)
        .args(args)
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr.try_clone().unwrap());
    // scripts/wine runs chroot and mount, which live in sbin.
    cmd.env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    let mut child = cmd.spawn().expect("scripts/wine starts");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A program that ends before reading it all breaks the pipe; the
    // caller's checks of the output say what went wrong.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let _ = writer.join().unwrap();
    let mut text = Vec::new();
    stderr.seek(SeekFrom::Start(0)).unwrap();
    stderr.read_to_end(&mut text).unwrap();
    Output {
        status,
        stdout,
        stderr: text,
    }
}

/// What the stand-in ssh.exe recorded: its arguments and the names of its
/// environment variables.
fn recorded(record: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(record).expect("the stand-in ssh.exe ran");
    let mut args = Vec::new();
    let mut names = Vec::new();
    for line in text.lines() {
        if let Some(a) = line.strip_prefix("arg ") {
            args.push(a.to_string());
        } else if let Some(n) = line.strip_prefix("env ") {
            names.push(n.to_string());
        }
    }
    (args, names)
}

/// Checks that a run under Wine exited with `code`, showing its stderr.
#[track_caller]
fn exits(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `certsh.exe status --json` in this world.
fn status_json(env: &TestEnv, certsh: &Path, vars: &[(&str, String)]) -> serde_json::Value {
    let status = run(env, certsh, &["status", "--json"], vars, b"");
    exits(&status, 0);
    serde_json::from_slice(&status.stdout).unwrap()
}

/// certsh's lines on stderr (Wine adds lines of its own).
fn certsh_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.starts_with("certsh"))
        .map(String::from)
        .collect()
}

/// The value of `-o <name>="<path>"` on the recorded command line, with the
/// quoting ssh's option reader undoes taken off.
fn option(args: &[String], name: &str) -> String {
    let prefix = format!("{name}=");
    let all: Vec<&String> = args.iter().filter(|a| a.starts_with(&prefix)).collect();
    assert_eq!(all.len(), 1, "one {name} in {args:?}");
    let at = args.iter().position(|a| a == all[0]).unwrap();
    assert_eq!(args[at - 1], "-o", "{args:?}");
    let value = &all[0][prefix.len()..];
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{name} is quoted: {value}"))
        .replace("\\\\", "\\")
}

/// Wine's LOCALAPPDATA is one for every test: one test at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// certsh.exe, its shim and the stand-in ssh.exe, in the release zip's
/// layout (scripts/dist.sh), in a folder the Wine run sees at the same path
/// (scripts/wine binds /tmp); and certsh.exe's state, emptied.
struct Install {
    dir: tempfile::TempDir,
    prefix: PathBuf,
    /// What the stand-in ssh.exe records.
    record: PathBuf,
    /// The Wine user's LOCALAPPDATA, as a path here.
    local: PathBuf,
    /// certsh.exe's state folder in it.
    state: PathBuf,
}

impl Install {
    fn new() -> (std::sync::MutexGuard<'static, ()>, TestEnv, Install) {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let built = build();
        let env = TestEnv::new();
        let dir = tempfile::Builder::new()
            .prefix("certsh-wine-e2e")
            .tempdir_in("/tmp")
            .unwrap();
        let prefix = dir.path().join("certsh");
        for (from, to) in [
            ("certsh.exe", "bin/certsh.exe"),
            ("certsh-ssh.exe", "libexec/certsh/ssh.exe"),
            ("examples/ssh_standin.exe", "standin/ssh.exe"),
            (
                "examples/credential_helper_standin.exe",
                "standin/credential-helper.exe",
            ),
        ] {
            let to = prefix.join(to);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(built.join(from), &to).unwrap();
        }
        let record = dir.path().join("record");
        // certsh.exe keeps its state in the Wine user's LOCALAPPDATA, which
        // Wine sets whatever the environment says: start from none.
        let local = local_app_data();
        let state = local.join("certsh");
        let _ = std::fs::remove_dir_all(&state);
        let w = Install {
            dir,
            prefix,
            record,
            local,
            state,
        };
        (one, env, w)
    }

    /// The shim, where the zip puts it.
    fn shim(&self) -> PathBuf {
        self.prefix.join("libexec/certsh/ssh.exe")
    }

    /// certsh.exe, where the zip puts it.
    fn certsh(&self) -> PathBuf {
        self.prefix.join("bin/certsh.exe")
    }

    /// The certificate the shim hands ssh.exe now (a run with no renewal
    /// ahead), read here.
    fn current_certificate(&self, env: &TestEnv) -> Vec<u8> {
        let out = run(env, &self.shim(), &[HOST, "true"], &self.ssh("0"), b"");
        exits(&out, 0);
        let path = option(&recorded(&self.record).0, "CertificateFile");
        std::fs::read(unix_path(&path, &self.local)).unwrap()
    }

    /// The variables that make the shim's ssh the stand-in, exiting `code`.
    fn ssh(&self, code: &str) -> Vec<(&'static str, String)> {
        vec![
            (
                "CERTSH_REAL_SSH",
                windows_path(&self.prefix.join("standin/ssh.exe")),
            ),
            ("STANDIN_RECORD", windows_path(&self.record)),
            ("STANDIN_EXIT", code.to_string()),
        ]
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

#[test]
fn under_wine_the_shim_gets_a_certificate_hands_over_to_ssh_exe_and_then_takes_the_hot_path() {
    let (_one, env, w) = Install::new();
    let (prefix, record) = (w.prefix.clone(), w.record.clone());
    let (local, state) = (w.local.clone(), w.state.clone());
    let shim = w.shim();

    let extra = |code: &str| w.ssh(code);
    // Bytes a text-mode pipe would change: CR LF, a lone LF, NUL, 0x1a
    // (Ctrl+Z, end of file to a text-mode reader) and every other byte, over
    // more than one pipe buffer.
    let mut input = b"line\r\nlone\n\0\x1a".to_vec();
    input.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));

    // First run: no certificate, so the shim hands over to certsh.exe,
    // which gets one and starts ssh.exe.
    let out = run(&env, &shim, &[HOST, "true"], &extra("42"), &input);
    assert_eq!(
        out.status.code(),
        Some(42),
        "ssh.exe's exit code comes back; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == input,
        "standard input reaches ssh.exe and its output comes back byte for byte"
    );
    assert_eq!(certsh_lines(&out.stderr), Vec::<String>::new());
    assert_eq!(env.certifier.sign_requests(), 1);
    assert_eq!(env.certifier.token_requests(), 1);

    let (args, names) = recorded(&record);
    let cert_path = option(&args, "CertificateFile");
    let key_path = option(&args, "IdentityFile");
    assert_eq!(&args[args.len() - 2..], [HOST, "true"]);
    for windows in [&cert_path, &key_path] {
        assert!(
            windows.starts_with("C:\\") && !windows.contains('/'),
            "a Windows path: {windows}"
        );
    }
    // The files it names are the key and the certificate the test CA signed.
    let cert = std::fs::read_to_string(unix_path(&cert_path, &local)).unwrap();
    let cert = ssh_key::Certificate::from_openssh(&cert).expect("an OpenSSH certificate");
    let ca = ssh_key::PublicKey::from_openssh(&env.certifier.ca_public_key()).unwrap();
    assert_eq!(cert.signature_key(), ca.key_data());
    let key = std::fs::read_to_string(unix_path(&key_path, &local)).unwrap();
    let key = ssh_key::PrivateKey::from_openssh(&key).expect("an OpenSSH private key");
    assert_eq!(key.public_key().key_data(), cert.public_key());
    // No token variable reaches ssh.exe.
    assert!(names.iter().any(|n| n == "STANDIN_RECORD"), "{names:?}");
    for secret in [
        "MAGENTO_CLOUD_CLI_TOKEN",
        "PLATFORMSH_CLI_TOKEN",
        "UPSUN_CLI_TOKEN",
    ] {
        assert!(
            !names.iter().any(|n| n == secret),
            "{secret} reached ssh.exe"
        );
    }

    // Second run: the certificate is good, so the shim starts ssh.exe
    // itself, with the same files, and asks the certifier nothing.
    std::fs::remove_file(&record).unwrap();
    let out = run(&env, &shim, &[HOST, "true"], &extra("0"), b"again\n");
    exits(&out, 0);
    assert_eq!(out.stdout, b"again\n");
    assert_eq!(
        env.certifier.sign_requests(),
        1,
        "the hot path asked the certifier"
    );
    assert_eq!(env.certifier.token_requests(), 1);
    let (again, _) = recorded(&record);
    assert_eq!(
        again, args,
        "the hot path hands ssh.exe the same command line"
    );

    // `certsh.exe ssh`, as core.sshCommand runs it, takes the same path.
    std::fs::remove_file(&record).unwrap();
    let certsh = w.certsh();
    let out = run(&env, &certsh, &["ssh", HOST, "true"], &extra("7"), b"");
    exits(&out, 7);
    assert_eq!(recorded(&record).0, args);
    assert_eq!(env.certifier.sign_requests(), 1);

    // With no CERTSH_REAL_SSH, the shim takes the first ssh.exe on PATH
    // that is not itself, though its own folder comes first (WINEPATH is
    // what Wine adds to a Windows program's PATH).
    std::fs::remove_file(&record).unwrap();
    let path_first = [
        ("STANDIN_RECORD", windows_path(&record)),
        (
            "WINEPATH",
            format!(
                "{};{}",
                windows_path(&prefix.join("libexec/certsh")),
                windows_path(&prefix.join("standin"))
            ),
        ),
    ];
    let out = run(&env, &shim, &[HOST, "true"], &path_first, b"");
    exits(&out, 0);
    assert_eq!(recorded(&record).0, args);

    // Renewal ahead of expiry (`CERTSH_RENEW_AHEAD=1`: always due), with a
    // certifier that takes 3 s: ssh.exe runs at once with the current
    // certificate, and the shim's output ends while the detached renewal
    // still waits for the certifier.
    let cert_file = unix_path(&cert_path, &local);
    let first = std::fs::read(&cert_file).unwrap();
    env.certifier.set_fault(Fault::SlowMs(3000));
    let mut ahead = extra("0");
    ahead.push(("CERTSH_RENEW_AHEAD", "1".into()));
    std::fs::remove_file(&record).unwrap();
    let out = run(&env, &shim, &[HOST, "true"], &ahead, b"now\n");
    exits(&out, 0);
    assert_eq!(out.stdout, b"now\n");
    assert_eq!(recorded(&record).0, args, "the current certificate is used");
    assert_eq!(
        std::fs::read(&cert_file).unwrap(),
        first,
        "the output ended only after the renewal"
    );
    support::wait_until("the background renewal replaces the certificate", || {
        env.certifier.sign_requests() == 2 && w.current_certificate(&env) != first
    });
    env.certifier.set_fault(Fault::None);
    assert_eq!(env.certifier.sign_requests(), 2);

    // A renewal while another ssh.exe has the certificate open, as Windows
    // OpenSSH opens it (no sharing for deletes): it succeeds, and the next
    // connection gets the new certificate and hears of no failure.
    let before = w.current_certificate(&env);
    env.certifier.set_fault(Fault::SlowMs(1000));
    let mut holding = ahead.clone();
    holding.push(("STANDIN_HOLD_MS", "4000".into()));
    let out = run(&env, &shim, &[HOST, "true"], &holding, b"");
    exits(&out, 0);
    support::wait_until("the renewal under an open certificate ends", || {
        env.certifier.sign_requests() == 3 && !state.join("magento/renew.started").exists()
            || state.join("magento/renew-ahead.failed").exists()
    });
    env.certifier.set_fault(Fault::None);
    assert_eq!(
        std::fs::read_to_string(state.join("magento/renew-ahead.failed")).ok(),
        None,
        "the renewal failed while ssh.exe read the certificate"
    );
    assert_ne!(w.current_certificate(&env), before);
}

#[test]
fn under_wine_certsh_exe_uses_the_api_token_the_official_cli_stored_behind_credential_helper_exe_or_in_its_file()
 {
    let (_one, mut env, w) = Install::new();
    // The official CLI's world, not certsh's: no token variable, its folder
    // under MAGENTO_CLOUD_CLI_HOME (Wine drops HOME), its helper installed
    // as `credential-helper.exe` with the token behind it.
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let home = w.dir.path().join("home");
    let config = home.join(".magento-cloud");
    std::fs::create_dir_all(config.join("keychain")).unwrap();
    std::fs::copy(
        w.prefix.join("standin/credential-helper.exe"),
        config.join("credential-helper.exe"),
    )
    .unwrap();
    let url = "magento-cloud-cli/default/api-token";
    std::fs::write(
        config.join("keychain").join(url.replace('/', "_")),
        support::certifier::API_TOKEN,
    )
    .unwrap();
    let mut vars = w.ssh("0");
    vars.push(("MAGENTO_CLOUD_CLI_HOME", windows_path(&home)));
    let shim = w.shim();

    let out = run(&env, &shim, &[HOST, "true"], &vars, b"");
    exits(&out, 0);
    assert_eq!(certsh_lines(&out.stderr), Vec::<String>::new());
    assert_eq!(
        env.certifier.signatures_for(support::certifier::API_TOKEN),
        1
    );
    // Asked with the URL on its standard input and nothing after the
    // action on its command line, once before and once under the store's
    // lock, as on Unix.
    assert_eq!(
        std::fs::read_to_string(config.join("helper.log")).unwrap(),
        format!("get {url}\nget {url}\n")
    );
    let certsh = w.certsh();
    let status = status_json(&env, &certsh, &vars);
    assert_eq!(status["login"]["credential"], "official-api-token");
    assert_eq!(
        status["login"]["origin"],
        format!(
            "the official CLI's API token ({url} through {})",
            windows_path(&config.join("credential-helper.exe"))
        )
    );

    // With its helpers off, the official CLI keeps the token in a file.
    let _ = std::fs::remove_dir_all(&w.state);
    std::fs::remove_file(config.join("credential-helper.exe")).unwrap();
    let file = config.join(".session/sess-cli-default/api-token");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, format!("{}\n", support::certifier::API_TOKEN)).unwrap();
    let out = run(&env, &shim, &[HOST, "true"], &vars, b"");
    exits(&out, 0);
    assert_eq!(
        env.certifier.signatures_for(support::certifier::API_TOKEN),
        2
    );
    let status = status_json(&env, &certsh, &vars);
    assert_eq!(
        status["login"]["origin"],
        format!("the official CLI's API token in {}", windows_path(&file))
    );
}

#[test]
fn under_wine_an_api_token_stored_by_login_connects_and_logout_deletes_it_all() {
    let (_one, mut env, w) = Install::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let certsh = w.certsh();
    let shim = w.shim();
    let vars = w.ssh("0");

    // The token on standard input, as a pipe gives it: stored, and a
    // certificate obtained with it.
    let out = run(
        &env,
        &certsh,
        &["login", "--api-token"],
        &vars,
        format!("{}\n", support::certifier::API_TOKEN).as_bytes(),
    );
    exits(&out, 0);
    let stored = w.state.join("magento/api-token");
    assert!(stored.is_file(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        env.certifier.signatures_for(support::certifier::API_TOKEN),
        1
    );
    let status = status_json(&env, &certsh, &vars);
    assert_eq!(
        status["login"]["origin"],
        format!(
            r"the API token stored in C:\users\{}\AppData\Local\certsh\magento\api-token",
            wine_user(&w.local)
        )
    );

    // The shim uses it: no new signature, the hot path.
    let out = run(&env, &shim, &[HOST, "true"], &vars, b"");
    exits(&out, 0);
    assert_eq!(
        env.certifier.signatures_for(support::certifier::API_TOKEN),
        1
    );

    // logout deletes the token, the key and the certificate.
    let out = run(&env, &certsh, &["logout"], &vars, b"");
    exits(&out, 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Logged out of Magento Cloud (profile magento): no session; key and certificate deleted\n"
    );
    let left: Vec<String> = std::fs::read_dir(w.state.join("magento"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-") || n == "api-token" || n == "current")
        .collect();
    assert_eq!(left, Vec::<String>::new());
    let out = run(&env, &shim, &[HOST, "true"], &vars, b"");
    exits(&out, 255);
}

/// The Wine user's name: the folder LOCALAPPDATA is in.
fn wine_user(local: &Path) -> String {
    let users = local
        .ancestors()
        .find(|p| {
            p.parent()
                .is_some_and(|u| u.file_name() == Some("users".as_ref()))
        })
        .expect("LOCALAPPDATA is under users");
    users.file_name().unwrap().to_string_lossy().into_owned()
}

/// `setup ssh-config` on Windows: the block names the key and certificate
/// through the keys file, with forward slashes, and runs certsh.exe as one
/// plain word; the hook points the keys file at the current generation,
/// and one that an ssh.exe holds open is replaced once it is closed.
#[test]
fn under_wine_setup_ssh_config_writes_the_windows_block_and_the_hook_keeps_its_keys_file() {
    let (_one, env, w) = Install::new();
    let certsh = w.certsh();
    let vars = w.ssh("0");
    let file = w.dir.path().join("ssh_config");
    let out = run(
        &env,
        &certsh,
        &["setup", "ssh-config", "--file", &windows_path(&file)],
        &vars,
        b"",
    );
    exits(&out, 0);
    let state = format!(
        "C:/users/{}/AppData/Local/certsh/magento",
        wine_user(&w.local)
    );
    let exe = windows_path(&certsh).replace('\\', "/");
    let patterns = "*.magento.cloud,*.magentosite.cloud";
    let hook = format!("{exe} --profile magento ssh-config-hook");
    let lines = format!(
        "    Include \"{state}/keys.ssh_config\"\n    IdentityFile ~/.ssh/id_rsa\n    IdentityFile ~/.ssh/id_ecdsa\n    IdentityFile ~/.ssh/id_ecdsa_sk\n    IdentityFile ~/.ssh/id_ed25519\n    IdentityFile ~/.ssh/id_ed25519_sk\n"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!(
            "# BEGIN certsh (profile magento): written by `certsh setup ssh-config`, removed by `certsh setup ssh-config --undo`\n\
             # certsh created this file; --undo removes it again\n\
             # The hook renews the certificate when needed; its exit status changes nothing below.\n\
             Match originalhost \"{patterns}\" exec \"{hook}\"\n\
             Match host \"{patterns}\" !originalhost \"{patterns}\" exec \"{hook}\"\n\
             Match originalhost \"{patterns}\"\n{lines}\
             Match host \"{patterns}\"\n{lines}\
             # END certsh (profile magento)\n"
        )
    );
    let keys = w.state.join("magento/keys.ssh_config");
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        "# Kept by certsh's ssh-config hook: no certificate yet.\n"
    );
    let naming = |generation: &str| {
        format!(
            "# Kept by certsh's ssh-config hook: the key and certificate in use, for the certsh block in ssh_config.\n\
             IdentityFile \"{state}/{generation}/id_ed25519\"\n\
             CertificateFile \"{state}/{generation}/id_ed25519-cert.pub\"\n"
        )
    };
    let current = || std::fs::read_to_string(w.state.join("magento/current")).unwrap();

    // The hook, as ssh.exe runs it: a certificate, and the keys file names
    // it; the shim hands ssh.exe the same certificate.
    let out = run(&env, &certsh, &["ssh-config-hook"], &vars, b"");
    exits(&out, 0);
    assert_eq!(certsh_lines(&out.stderr), Vec::<String>::new());
    let first = current();
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), naming(&first));
    assert_eq!(
        w.current_certificate(&env),
        std::fs::read(
            w.state
                .join("magento")
                .join(&first)
                .join("id_ed25519-cert.pub")
        )
        .unwrap()
    );

    // An ssh.exe holds the keys file open as Windows OpenSSH reads its
    // configuration, while a new key is published: the hook cannot replace
    // the file, says so, and leaves it naming a key and certificate of one
    // generation; the next hook, once it is closed, names the new one.
    let mut holder = env.std_command(wine());
    holder
        .arg("run")
        .arg(w.prefix.join("standin/ssh.exe"))
        .arg(format!(
            r"CertificateFile=C:\users\{}\AppData\Local\certsh\magento\keys.ssh_config",
            wine_user(&w.local)
        ))
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .env("STANDIN_HOLD_MS", "15000")
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _ = std::fs::remove_file(&w.record);
    let mut holder = holder.spawn().expect("scripts/wine starts");
    let mut key_ttl = vars.clone();
    key_ttl.push(("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL", "-1".into()));
    exits(
        &run(&env, &certsh, &["load", "--refresh"], &key_ttl, b""),
        0,
    );
    let second = current();
    assert_ne!(second, first);
    for _ in 0..200 {
        if w.record.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(w.record.exists(), "the holding ssh.exe started");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = run(&env, &certsh, &["ssh-config-hook"], &vars, b"");
    exits(&out, 0);
    let held = holder.try_wait().unwrap();
    assert_eq!(
        held,
        None,
        "the hook ran while ssh.exe held the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        certsh_lines(&out.stderr),
        [format!(
            "certsh: warning: cannot replace C:\\users\\{}\\AppData\\Local\\certsh\\magento\\keys.ssh_config: \
             Access denied. (os error 5); ssh uses the key and certificate it names until the next connection",
            wine_user(&w.local)
        )]
    );
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), naming(&first));
    assert!(holder.wait().unwrap().success());
    let out = run(&env, &certsh, &["ssh-config-hook"], &vars, b"");
    exits(&out, 0);
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), naming(&second));

    // --undo removes the file it created.
    let out = run(
        &env,
        &certsh,
        &[
            "setup",
            "ssh-config",
            "--undo",
            "--file",
            &windows_path(&file),
        ],
        &vars,
        b"",
    );
    exits(&out, 0);
    assert!(!file.exists());
}
