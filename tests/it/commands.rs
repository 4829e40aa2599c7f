//! `certsh load`, `certsh status` and the messages for what the user must
//! fix: no credentials, a broken config file.

use crate::support;

use support::*;

#[test]
fn no_credentials_and_no_terminal_fails_at_once_without_reading_stdin() {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    // stdin held open: a process that read it would hang here.
    Test::certsh(&env, ["ssh", "git.us-3.magento.cloud", "true"])
        .stdin_held_open("0000")
        .status(255)
        .stdout("")
        .stderr(snapbox::file!["cases/no_credentials.stderr"])
        .run();
    assert!(env.certifier.requests().is_empty());
}

#[test]
fn api_token_from_config_file_and_token_file() {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let dir = env.home().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("api:\n  token: {}\n", certifier::API_TOKEN),
    )
    .unwrap();
    ok(env.certsh(["load"]));
    std::fs::write(dir.join("token"), format!("{}\n", certifier::API_TOKEN)).unwrap();
    std::fs::write(dir.join("config.yaml"), "api:\n  token_file: token\n").unwrap();
    ok(env.certsh(["load", "--refresh"]));
    assert_eq!(env.certifier.sign_requests(), 2);
    assert_eq!(
        std::fs::read_to_string(dir.join("config.yaml")).unwrap(),
        "api:\n  token_file: token\n",
        "certsh never writes config.yaml"
    );
}

#[test]
fn load_shows_the_certificate() {
    let env = TestEnv::new();
    let p = ok(env.certsh(["load"]));
    let dir = env.state_dir();
    let generation = dir.join(std::fs::read_link(dir.join("current")).unwrap());
    let lines: Vec<&str> = p.stdout.lines().collect();
    assert_eq!(lines[0], "Magento Cloud certificate (profile magento)");
    assert_eq!(
        lines[1],
        format!("  Key ID:      {}", env.certifier.user_id())
    );
    assert_eq!(lines[2], "  Principals:  certsh-test");
    assert!(lines[3].starts_with("  Valid until: 20"), "{}", lines[3]);
    assert!(
        lines[3].ends_with(" UTC (1h 00m left)") || lines[3].ends_with(" UTC (59m 59s left)"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "  MFA:         no");
    assert_eq!(lines[5], "  Mode:        app");
    assert_eq!(
        lines[6],
        format!(
            "  Certificate: {}",
            generation.join("id_ed25519-cert.pub").display()
        )
    );
    assert_eq!(
        lines[7],
        format!("  Key:         {}", generation.join("id_ed25519").display())
    );
}

#[test]
fn load_reports_mfa() {
    let env = TestEnv::new();
    env.certifier.set_mfa(true);
    let p = ok(env.certsh(["load"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/load_with_mfa.stdout"],
    );
}

#[test]
fn status_needs_no_network() {
    let mut env = TestEnv::new();
    let p = fails(env.certsh(["status"]), 1);
    assert_eq!(
        p.stdout,
        "No Magento Cloud certificate yet (run: certsh load)\n"
    );
    ok(env.certsh(["load"]));
    let requests = env.certifier.requests().len();
    // Point the API somewhere unreachable: status must not care.
    env.set("MAGENTO_CLOUD_CLI_API_CERTIFIER_URL", "http://127.0.0.1:9");
    let p = ok(env.certsh(["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(v["state"], "valid");
    assert_eq!(v["key_id"], env.certifier.user_id());
    assert_eq!(v["mode"], "app");
    assert_eq!(v["mfa"], false);
    assert_eq!(v["principals"], serde_json::json!(["certsh-test"]));
    assert!(v["seconds_left"].as_u64().unwrap() > 3500);
    assert_eq!(env.certifier.requests().len(), requests);
}

#[test]
fn status_notices_a_changed_api_token() {
    let mut env = TestEnv::new();
    ok(env.certsh(["load"]));
    env.certifier.add_api_token("second-token-for-another-user");
    env.set("MAGENTO_CLOUD_CLI_TOKEN", "second-token-for-another-user");
    let p = fails(env.certsh(["status", "--json"]), 1);
    let v: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(v["state"], "other-credential");
    // The next load replaces it.
    ok(env.certsh(["load"]));
    assert_eq!(env.certifier.sign_requests(), 2);
}

#[test]
fn other_profiles_use_their_own_variables_and_folders() {
    let mut env = TestEnv::new();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let url = env.certifier.url();
    env.set("UPSUN_CLI_TOKEN", certifier::API_TOKEN)
        .set("UPSUN_CLI_API_AUTH_URL", &url)
        .set("UPSUN_CLI_API_CERTIFIER_URL", &url)
        .set("UPSUN_CLI_API_OAUTH2_CLIENT_ID", "magento-cloud-cli");
    let p = ok(env.certsh(["--profile", "upsun", "load"]));
    assert!(
        p.stdout.starts_with("Upsun certificate (profile upsun)"),
        "{}",
        p.stdout
    );
    assert!(env.home().join(".upsun-cli/certsh/current").exists());
    assert!(!env.home().join(".magento-cloud").exists());
}
