//! A world that is the official CLI's, not certsh's: a HOME holding its
//! `config.yaml` (pointing at the test auth server, as a staging set-up
//! would), an API token stored by `auth:api-token-login` or a session stored
//! by `login`, in files or behind a stand-in `credential-helper` that speaks
//! the docker-credential protocol (docs/official-cli.md, "Stored
//! credentials"). certsh has nothing of its own there, and `git` and `ssh`
//! get certificates from what the official CLI stored.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use snapbox::file;
use support::*;

/// The three profiles: name, config folder, variable prefix, client id,
/// slug, a host of theirs that the test ssh config sends to the test sshd.
const PROFILES: [(&str, &str, &str, &str, &str, &str); 3] = [
    (
        "magento",
        ".magento-cloud",
        "MAGENTO_CLOUD_CLI_",
        "magento-cloud-cli",
        "magento-cloud-cli",
        "ssh.us-3.magento.cloud",
    ),
    (
        "platformsh",
        ".platformsh",
        "PLATFORMSH_CLI_",
        "platform-cli",
        "platformsh-cli",
        "ssh.eu-3.platform.sh",
    ),
    (
        "upsun",
        ".upsun-cli",
        "UPSUN_CLI_",
        "upsun-cli",
        "upsun",
        "ssh.eu-3.platform.sh",
    ),
];

/// The official CLI's world (also the real keychain's, `keychain.rs`).
pub(crate) struct World {
    pub(crate) env: TestEnv,
    /// Its config folder.
    pub(crate) dir: PathBuf,
    pub(crate) slug: &'static str,
    pub(crate) host: &'static str,
}

/// The official CLI's world for `profile`: no certsh variable at all (the
/// profile follows from the host and the official CLI's folder), the auth
/// server in `config.yaml`, nothing stored yet.
pub(crate) fn world(profile: usize) -> World {
    let (name, folder, _, client_id, slug, host) = PROFILES[profile];
    let mut env = TestEnv::with_sshd();
    for var in [
        "MAGENTO_CLOUD_CLI_TOKEN",
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        "MAGENTO_CLOUD_CLI_API_CERTIFIER_URL",
    ] {
        env.unset(var);
    }
    let _ = name;
    env.certifier.set_client_id(client_id);
    env.real_ssh_with_test_config();
    let dir = env.home().join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "# Written by the official CLI's user.\napi:\n  auth_url: '{}'\n  \
             auto_load_ssh_cert: 1\nupdates:\n  check: false\n",
            env.certifier.url()
        ),
    )
    .unwrap();
    World {
        env,
        dir,
        slug,
        host,
    }
}

impl World {
    pub(crate) fn session_dir(&self) -> PathBuf {
        let d = self.dir.join(".session/sess-cli-default");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// `ssh <host> echo connected` through the shim succeeds.
    pub(crate) fn connects(&self) {
        Test::ssh(&self.env, [self.host, "echo", "connected"])
            .stdout("connected\n")
            .stderr("")
            .run();
    }

    /// A stand-in for the docker-credential helper the official CLI installs:
    /// secrets in files named after their server URL, every call logged
    /// (verb and arguments; stdin is not logged).
    fn install_helper(&self) -> PathBuf {
        let store = self.env.path("keychain");
        std::fs::create_dir_all(&store).unwrap();
        let log = self.env.path("helper.log");
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> '{log}'
store='{store}'
file() {{ printf '%s/%s' "$store" "$(printf %s "$1" | tr '/' '_')"; }}
case "$1" in
get)
    read -r url
    f=$(file "$url")
    if [ ! -f "$f" ]; then echo "credentials not found in native keychain"; exit 1; fi
    printf '{{"ServerURL":"%s","Username":"me","Secret":"%s"}}\n' "$url" "$(cat "$f")"
    ;;
store)
    json=$(cat)
    url=$(printf %s "$json" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
    secret=$(printf %s "$json" | sed 's/.*"Secret":"\([^"]*\)".*/\1/')
    printf %s "$secret" > "$(file "$url")"
    ;;
*) exit 1 ;;
esac
"#,
            log = log.display(),
            store = store.display(),
        );
        let path = self.dir.join("credential-helper");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        path
    }

    fn keychain(&self, url: &str) -> PathBuf {
        self.env.path("keychain").join(url.replace('/', "_"))
    }

    fn helper_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.env.path("helper.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

/// A session as the official CLI's `login` stores it, its access token
/// long expired.
pub(crate) fn session_json(refresh: &str) -> String {
    format!(
        r#"{{"accessToken":"expired-access-token","tokenType":"bearer","expires":1000,"refreshToken":"{refresh}","scope":"","createdBy":"the official CLI"}}"#
    )
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn an_api_token_stored_by_the_official_cli_in_files_clones_and_connects() {
    let w = world(0);
    std::fs::write(
        w.session_dir().join("api-token"),
        format!("{}\n", certifier::API_TOKEN),
    )
    .unwrap();
    let clone = w.env.path("work/clone");
    ok(w.env.git(
        &w.env.git_ssh(),
        ["clone", "-q", &w.env.git_url(), clone.to_str().unwrap()],
    ));
    assert!(clone.join("README").exists());
    w.connects();
    assert_eq!(w.env.certifier.signatures_for(certifier::API_TOKEN), 1);
    let status = ok(w.env.certsh(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["login"]["credential"], "official-api-token");
    assert_eq!(
        status["login"]["origin"],
        format!(
            "the official CLI's API token in {}",
            w.dir.join(".session/sess-cli-default/api-token").display()
        )
    );
}

#[test]
fn a_browser_session_stored_by_the_official_cli_in_files_is_refreshed_and_stored_back() {
    let w = world(1);
    let refresh = w.env.certifier.add_refresh_token(&["pwd", "totp"]);
    let file = w.session_dir().join("sess-cli-default.json");
    std::fs::write(&file, session_json(&refresh)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    w.connects();
    assert_eq!(w.env.certifier.refresh_grants(), 1);
    // The official CLI is still logged in: its file holds the rotated
    // refresh token, which the server still accepts, and a fresh access
    // token; its other fields are kept.
    let s = read_json(&file);
    let rotated = s["refreshToken"].as_str().unwrap();
    assert_ne!(rotated, refresh);
    assert_eq!(w.env.certifier.refresh_tokens(), vec![rotated.to_string()]);
    assert!(
        w.env
            .certifier
            .issued_access_tokens()
            .contains(&s["accessToken"].as_str().unwrap().to_string())
    );
    assert!(s["expires"].as_u64().unwrap() > 1000);
    assert_eq!(s["tokenType"], "bearer");
    assert_eq!(s["createdBy"], "the official CLI");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn an_api_token_behind_the_official_credential_helper_is_asked_for_on_stdin() {
    let w = world(2);
    w.install_helper();
    let url = format!("{}/default/api-token", w.slug);
    std::fs::write(w.keychain(&url), certifier::API_TOKEN).unwrap();
    w.connects();
    assert_eq!(w.env.certifier.signatures_for(certifier::API_TOKEN), 1);
    // Only `get` (once before and once under the store's lock), never a
    // secret on the command line.
    assert_eq!(w.helper_log(), ["get", "get"]);
}

#[test]
fn a_browser_session_behind_the_credential_helper_is_stored_back_through_it() {
    let w = world(0);
    w.install_helper();
    let refresh = w.env.certifier.add_refresh_token(&["pwd"]);
    let url = format!("{}/default", w.slug);
    let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    std::fs::write(w.keychain(&url), encode(&session_json(&refresh))).unwrap();
    w.connects();
    let stored = std::fs::read_to_string(w.keychain(&url)).unwrap();
    let s: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(stored)
            .unwrap(),
    )
    .unwrap();
    let rotated = s["refreshToken"].as_str().unwrap();
    assert_eq!(w.env.certifier.refresh_tokens(), vec![rotated.to_string()]);
    assert_eq!(s["createdBy"], "the official CLI");
    // Asked for the API token (none) and the session, before and under
    // the store's lock and once more to refresh it; the rotated tokens went
    // back with one `store`, on stdin.
    assert_eq!(w.helper_log(), ["get", "get", "get", "get", "get", "store"]);
}

#[test]
fn with_credential_helpers_turned_off_the_helper_is_never_run() {
    let w = world(0);
    w.install_helper();
    let cfg = w.dir.join("config.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace("api:\n", "api:\n  disable_credential_helpers: true\n");
    std::fs::write(&cfg, text).unwrap();
    std::fs::write(
        w.keychain(&format!("{}/default/api-token", w.slug)),
        "a-token-the-helper-would-give",
    )
    .unwrap();
    std::fs::write(w.session_dir().join("api-token"), certifier::API_TOKEN).unwrap();
    w.connects();
    assert_eq!(w.helper_log(), Vec::<String>::new());
    assert_eq!(w.env.certifier.signatures_for(certifier::API_TOKEN), 1);
}

#[test]
fn the_official_variable_names_send_certsh_where_they_send_the_official_cli() {
    let mut w = world(0);
    // No auth server in config.yaml: only the official variables name it.
    std::fs::write(
        w.dir.join("config.yaml"),
        "api:\n  auto_load_ssh_cert: '1'\n",
    )
    .unwrap();
    let url = w.env.certifier.url();
    w.env
        .set("MAGENTO_CLOUD_CLI_AUTH_URL", &url)
        .set("MAGENTO_CLOUD_CLI_CERTIFIER_URL", &url)
        .set("MAGENTO_CLOUD_CLI_TOKEN", certifier::API_TOKEN)
        .set("MAGENTO_CLOUD_CLI_OAUTH2_CLIENT_ID", "staging-client");
    w.env.certifier.set_client_id("staging-client");
    w.connects();
    assert_eq!(w.env.certifier.signatures_for(certifier::API_TOKEN), 1);
}

#[test]
fn a_refused_official_session_is_reported_and_left_to_the_official_cli() {
    let w = world(0);
    let file = w.session_dir().join("sess-cli-default.json");
    std::fs::write(&file, session_json("a-refresh-token-the-server-forgot")).unwrap();
    Test::ssh(&w.env, [w.host, "echo", "connected"])
        .status(255)
        .stderr(file!["cases/official_session_refused.stderr"])
        .run();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        session_json("a-refresh-token-the-server-forgot"),
        "nothing of the official CLI's is changed or removed"
    );
}

#[test]
fn the_first_connection_through_setup_ssh_config_asks_no_host_key_question() {
    let env = TestEnv::with_sshd();
    let sshd = env.sshd();
    // The user's own file: nothing pins the host key, ssh would ask.
    let file = env.path("user_ssh_config");
    std::fs::write(
        &file,
        format!(
            "Host ssh.us-3.magento.cloud\n    HostName 127.0.0.1\n    Port {}\n    User {}\n    \
             HostKeyAlias ssh.us-3.magento.cloud\n    StrictHostKeyChecking ask\n    BatchMode no\n    \
             UpdateHostKeys no\n    GlobalKnownHostsFile /dev/null\n    IdentitiesOnly yes\n    \
             PasswordAuthentication no\n    KbdInteractiveAuthentication no\n",
            sshd.port(),
            sshd.user()
        ),
    )
    .unwrap();
    let plain = || -> Printed {
        env.std_command("/usr/bin/ssh")
            .arg("-F")
            .arg(&file)
            .args(["ssh.us-3.magento.cloud", "echo", "hello"])
            // No terminal to ask at: ssh's question can only fail.
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ssh runs")
            .into()
    };
    // Without the keys, no terminal to ask at: ssh gives up.
    let asked = plain();
    assert_eq!(asked.code, Some(255), "{}", asked.stderr);
    assert!(
        asked.stderr.contains("Host key verification failed."),
        "{}",
        asked.stderr
    );
    // The cloud's host key, as the official CLI's ssh.host_keys holds it.
    let line = format!("ssh.us-3.magento.cloud {}", sshd.host_public_key().trim());
    let dir = env.home().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("ssh:\n  host_keys:\n    - '{line}'\n    - 'github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'\n"),
    )
    .unwrap();
    let certsh = env.installed().join("bin/certsh");
    ok(env
        .command_plain(&certsh)
        .args(["setup", "ssh-config", "--file", file.to_str().unwrap()]));
    let known = env.state_dir().join("known_hosts");
    // The profile's host only: github.com's line is not the cloud's, and
    // the shipped keys are Platform.sh's.
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        format!("# Written by certsh setup ssh-config: the cloud's public host keys.\n{line}\n")
    );
    // Public data, but in certsh's private state folder: 0600 like the rest.
    assert_eq!(
        std::fs::metadata(&known).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first = plain();
    assert_eq!(
        (first.code, first.stdout.as_str(), first.stderr.as_str()),
        (Some(0), "hello\n", ""),
        "ssh connects through the written block without a host-key question"
    );
}

#[test]
fn setup_ssh_config_names_the_official_clis_refresh_line_and_leaves_it() {
    let env = TestEnv::with_sshd();
    let ssh = env.home().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    let user_config = ssh.join("config");
    let official = "Host *.magento.cloud *.magentosite.cloud\n  Include ~/.magento-cloud/ssh/*.config\nHost *\n";
    std::fs::write(&user_config, official).unwrap();
    let file = env.path("ssh_config_for_setup");
    let certsh = env.installed().join("bin/certsh");
    let p = ok(env.command_plain(&certsh).args([
        "setup",
        "ssh-config",
        "--file",
        file.to_str().unwrap(),
    ]));
    let last = p.stdout.lines().last().unwrap_or_default().to_string();
    assert_eq!(
        last,
        format!(
            "{f}:2 still has the official CLI's certificate refresh `Include ~/.magento-cloud/ssh/*.config`, \
             which starts PHP on every connection: remove that line from {f} (and a `Host` line above it \
             that only serves it); certsh does not edit it for you",
            f = user_config.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&user_config).unwrap(),
        official,
        "left as it was"
    );
}
