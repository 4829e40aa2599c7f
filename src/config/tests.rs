//! `config/mod.rs`'s tests: the configuration built from files and variables
//! as the official CLI's users have them.

use super::*;
use std::collections::HashMap;
use std::path::Path;

fn env_with(home: &Path, pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("HOME".into(), home.display().to_string());
    env
}

fn home_with_config(yaml: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.yaml"), yaml).unwrap();
    home
}

#[test]
fn defaults_without_a_file() {
    let home = tempfile::tempdir().unwrap();
    let cfg = Config::load(None, &env_with(home.path(), &[])).unwrap();
    assert_eq!(cfg.profile.name, "magento");
    assert_eq!(cfg.token_url, "https://auth.magento.cloud/oauth2/token");
    assert_eq!(cfg.wildcards, ["*.magento.cloud", "*.magentosite.cloud"]);
    assert!(cfg.auto_load_cert);
    assert!(cfg.api_token.is_none());
    assert_eq!(cfg.refresh_margin, DEFAULT_REFRESH_MARGIN);
}

#[test]
fn file_values_and_unknown_keys() {
    let home = home_with_config(
        "api:\n  token: abc\n  auth_url: https://auth.example.com/\n  something_else: 1\n\
         ssh:\n  domain_wildcards: ['*.example.com']\n  auto_load_cert: false\n  cert_key_ttl: 60\n\
         application:\n  name: x\n",
    );
    let cfg = Config::load(None, &env_with(home.path(), &[])).unwrap();
    assert_eq!(cfg.token_url, "https://auth.example.com/oauth2/token");
    assert_eq!(cfg.wildcards, ["*.example.com"]);
    assert!(!cfg.auto_load_cert);
    assert_eq!(cfg.key_ttl, Duration::from_secs(60));
    match cfg.api_token {
        Some(ApiToken::ConfigFile { token, .. }) => assert_eq!(token.expose(), "abc"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn environment_wins_over_file() {
    let home = home_with_config("api:\n  token: from-file\n  auto_load_ssh_cert: false\n");
    let env = env_with(
        home.path(),
        &[
            ("MAGENTO_CLOUD_CLI_TOKEN", "from-env"),
            ("MAGENTO_CLOUD_CLI_SSH_AUTO_LOAD_CERT", "1"),
            (
                "MAGENTO_CLOUD_CLI_SSH_DOMAIN_WILDCARDS",
                "127.0.0.1, *.test",
            ),
        ],
    );
    let cfg = Config::load(None, &env).unwrap();
    assert!(cfg.auto_load_cert);
    assert_eq!(cfg.wildcards, ["127.0.0.1", "*.test"]);
    match cfg.api_token {
        Some(ApiToken::Env { token, var }) => {
            assert_eq!(token.expose(), "from-env");
            assert_eq!(var, "MAGENTO_CLOUD_CLI_TOKEN");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn legacy_auto_load_spelling() {
    let home = home_with_config("api:\n  auto_load_ssh_cert: false\n");
    let cfg = Config::load(None, &env_with(home.path(), &[])).unwrap();
    assert!(!cfg.auto_load_cert);
}

#[test]
fn token_file_relative_to_config_dir() {
    let home = home_with_config("api:\n  token_file: secret.txt\n");
    let cfg = Config::load(None, &env_with(home.path(), &[])).unwrap();
    match cfg.api_token {
        Some(ApiToken::TokenFile { path }) => {
            assert_eq!(path, home.path().join(".magento-cloud/secret.txt"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_file_names_file_and_line() {
    let home = home_with_config("api:\n  token: [unclosed\nssh: {\n");
    let err = Config::load(None, &env_with(home.path(), &[])).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("config.yaml:"), "{msg}");
    assert!(msg.contains("fix the YAML"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn a_value_certsh_cannot_use_costs_that_key_only() {
    let home = home_with_config(
        "api:\n  token: abc\n  auto_load_ssh_cert: 1\nssh:\n  cert_key_ttl: soon\n",
    );
    let (cfg, problems) = Config::read(None, &env_with(home.path(), &[]));
    assert!(problems.invalid.is_empty());
    let file = home.path().join(".magento-cloud").join("config.yaml");
    assert_eq!(
        problems.ignored,
        [format!(
            "ignoring ssh.cert_key_ttl in {}: \"soon\" is not a whole number; certsh uses its default",
            file.display()
        )]
    );
    assert_eq!(cfg.key_ttl, DEFAULT_KEY_TTL);
    assert!(cfg.auto_load_cert);
    match cfg.api_token {
        Some(ApiToken::ConfigFile { token, .. }) => assert_eq!(token.expose(), "abc"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_key_lifetime_of_zero_is_for_ever_and_below_zero_is_one_key_per_certificate() {
    for (yaml, want) in [
        ("0", Duration::MAX),
        ("-1", Duration::ZERO),
        ("'3600'", Duration::from_secs(3600)),
    ] {
        let home = home_with_config(&format!("ssh:\n  cert_key_ttl: {yaml}\n"));
        let cfg = Config::load(None, &env_with(home.path(), &[])).unwrap();
        assert_eq!(cfg.key_ttl, want, "{yaml}");
    }
    let home = tempfile::tempdir().unwrap();
    let env = env_with(home.path(), &[("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL", "-1")]);
    assert_eq!(Config::load(None, &env).unwrap().key_ttl, Duration::ZERO);
}

#[test]
fn the_official_variable_names_win_over_the_older_spellings() {
    let home = tempfile::tempdir().unwrap();
    let both = [
        ("MAGENTO_CLOUD_CLI_AUTH_URL", "https://official.example"),
        ("MAGENTO_CLOUD_CLI_API_AUTH_URL", "https://older.example"),
        ("MAGENTO_CLOUD_CLI_CERTIFIER_URL", "https://cert.example"),
        (
            "MAGENTO_CLOUD_CLI_API_CERTIFIER_URL",
            "https://older.example",
        ),
        ("MAGENTO_CLOUD_CLI_OAUTH2_CLIENT_ID", "official-id"),
        ("MAGENTO_CLOUD_CLI_API_OAUTH2_CLIENT_ID", "older-id"),
        (
            "MAGENTO_CLOUD_CLI_OAUTH2_REVOKE_URL",
            "https://revoke.example/r",
        ),
        (
            "MAGENTO_CLOUD_CLI_OAUTH2_AUTH_URL",
            "https://login.example/a",
        ),
        ("MAGENTO_CLOUD_CLI_API_AUTO_LOAD_SSH_CERT", "0"),
        ("MAGENTO_CLOUD_CLI_AUTO_LOAD_SSH_CERT", "1"),
        ("MAGENTO_CLOUD_CLI_API_ADD_TO_SSH_AGENT", "1"),
        ("MAGENTO_CLOUD_CLI_SSH_DOMAIN_WILDCARD", "*.official.test"),
        ("MAGENTO_CLOUD_CLI_SSH_DOMAIN_WILDCARDS", "*.older.test"),
    ];
    let cfg = Config::load(None, &env_with(home.path(), &both)).unwrap();
    assert_eq!(cfg.token_url, "https://official.example/oauth2/token");
    assert_eq!(cfg.certifier_url, "https://cert.example");
    assert_eq!(cfg.client_id, "official-id");
    assert_eq!(cfg.revoke_url, "https://revoke.example/r");
    assert_eq!(cfg.authorize_url, "https://login.example/a");
    assert!(!cfg.auto_load_cert);
    assert!(cfg.add_to_agent);
    assert_eq!(cfg.wildcards, ["*.official.test"]);
    // The older names alone still work.
    let older = [
        ("MAGENTO_CLOUD_CLI_API_AUTH_URL", "https://older.example"),
        (
            "MAGENTO_CLOUD_CLI_OAUTH2_TOKEN_URL",
            "https://t.example/token",
        ),
        ("MAGENTO_CLOUD_CLI_SSH_AUTO_LOAD_CERT", "0"),
    ];
    let cfg = Config::load(None, &env_with(home.path(), &older)).unwrap();
    assert_eq!(cfg.token_url, "https://t.example/token");
    assert_eq!(cfg.revoke_url, "https://older.example/oauth2/revoke");
    assert!(!cfg.auto_load_cert);
}

#[test]
fn the_prefixed_home_holds_the_official_folder_and_the_session_id_is_read() {
    let home = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let dir = other.path().join(".magento-cloud");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("session-id"), "work\n").unwrap();
    let env = env_with(
        home.path(),
        &[("MAGENTO_CLOUD_CLI_HOME", other.path().to_str().unwrap())],
    );
    let cfg = Config::load(None, &env).unwrap();
    assert_eq!(cfg.config_dir, dir);
    assert_eq!(cfg.home, home.path());
    assert_eq!(cfg.official.session_id.as_deref(), Some("work"));
    assert_eq!(cfg.official.slug, "magento-cloud-cli");
    assert!(cfg.official.helpers);
    // The variable wins over the file; an id the official CLI refuses
    // is a warning, and nothing stored is read.
    let mut env = env.clone();
    env.insert("MAGENTO_CLOUD_CLI_SESSION_ID".into(), "api-token-x".into());
    let (cfg, problems) = Config::read(None, &env);
    assert_eq!(cfg.official.session_id, None);
    assert_eq!(
        problems.ignored,
        [
            "ignoring the session id \"api-token-x\" in MAGENTO_CLOUD_CLI_SESSION_ID: not a \
          session id of the official CLI; its stored credentials are not read"
        ]
    );
    let home = home_with_config("api:\n  disable_credential_helpers: '1'\n");
    let cfg = Config::load(None, &env_with(home.path(), &[])).unwrap();
    assert!(!cfg.official.helpers);
    assert_eq!(cfg.official.session_id.as_deref(), Some("default"));
}

#[test]
fn profiles_change_prefix_and_dir() {
    let home = tempfile::tempdir().unwrap();
    let env = env_with(
        home.path(),
        &[("CERTSH_PROFILE", "upsun"), ("UPSUN_CLI_TOKEN", "t")],
    );
    let cfg = Config::load(None, &env).unwrap();
    assert_eq!(cfg.config_dir, home.path().join(".upsun-cli"));
    assert_eq!(cfg.client_id, "upsun-cli");
    assert!(cfg.api_token.is_some());
    let cfg = Config::load(Some("platformsh"), &env).unwrap();
    assert_eq!(cfg.profile.name, "platformsh");
    assert!(cfg.api_token.is_none());
}

#[test]
fn unknown_profile_lists_choices() {
    let home = tempfile::tempdir().unwrap();
    let err = Config::load(Some("gitlab"), &env_with(home.path(), &[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown profile \"gitlab\" in --profile (use one of: magento, platformsh, upsun)"
    );
}

#[test]
fn each_setting_is_read_on_its_own() {
    // What can be read still decides the scope.
    let home = home_with_config("api:\n  token: [unclosed\n");
    let env = env_with(
        home.path(),
        &[
            ("CERTSH_HTTP_TIMEOUT", "soon"),
            ("MAGENTO_CLOUD_CLI_SSH_DOMAIN_WILDCARDS", "*.test"),
            ("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL", "60"),
        ],
    );
    let (cfg, problems) = Config::read(None, &env);
    assert_eq!(cfg.wildcards, ["*.test"]);
    assert_eq!(cfg.key_ttl, Duration::from_secs(60));
    assert_eq!(cfg.http_timeout, DEFAULT_HTTP_TIMEOUT);
    assert!(cfg.api_token.is_none(), "the file did not parse");
    let msgs: Vec<String> = problems.invalid.iter().map(|e| format!("{e:#}")).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].contains("fix the YAML"), "{msgs:?}");
    assert!(msgs[1].starts_with("CERTSH_HTTP_TIMEOUT"), "{msgs:?}");
    assert!(
        problems
            .summary("github.com")
            .unwrap()
            .ends_with("connecting to github.com without a certificate (and 1 more)")
    );
    // Commands still stop at the first.
    assert!(Config::load(None, &env).is_err());
}

#[test]
fn an_unknown_profile_keeps_every_profiles_hosts() {
    let home = tempfile::tempdir().unwrap();
    let (cfg, problems) = Config::read(Some("gitlab"), &env_with(home.path(), &[]));
    assert_eq!(problems.invalid.len(), 1);
    for p in profile::PROFILES {
        for w in p.wildcards {
            assert!(cfg.wildcards.iter().any(|c| c == w), "{w}");
        }
    }
}

#[test]
fn margin_has_a_floor() {
    let home = tempfile::tempdir().unwrap();
    let env = env_with(home.path(), &[("CERTSH_REFRESH_MARGIN", "5")]);
    assert_eq!(
        Config::load(None, &env).unwrap().refresh_margin,
        MIN_REFRESH_MARGIN
    );
}

#[test]
fn a_host_of_another_cloud_takes_the_profile_whose_cli_is_set_up() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert_eq!(profile_for_host("git.us-3.magento.cloud", h), None);
    assert_eq!(
        profile_for_host("git.eu-3.platform.sh", h),
        None,
        "no CLI set up"
    );
    std::fs::create_dir(h.join(".upsun-cli")).unwrap();
    assert_eq!(
        profile_for_host("git.eu-3.platform.sh", h).unwrap().name,
        "upsun"
    );
    assert_eq!(
        profile_for_host("ssh.eu.upsun.com", h).unwrap().name,
        "upsun"
    );
    std::fs::create_dir(h.join(".platformsh")).unwrap();
    assert_eq!(
        profile_for_host("git.eu-3.platform.sh", h).unwrap().name,
        "platformsh"
    );
    assert_eq!(profile_for_host("github.com", h), None);
    std::fs::create_dir(h.join(".magento-cloud")).unwrap();
    assert_eq!(profile_for_host("ssh.us-3.magento.cloud", h), None);
}

#[test]
fn the_snapshot_of_the_environment_reads_as_getenv_does() {
    let snap = EnvSnapshot::take();
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    names.push("CERTSH_NO_SUCH_VARIABLE_IS_SET".into());
    for name in &names {
        assert_eq!(snap.var_os(name), ProcessEnv.var_os(name), "{name}");
        assert_eq!(snap.var(name), ProcessEnv.var(name), "{name}");
    }
    assert!(snap.var_os("PATH").is_some(), "the tests run with a PATH");
}
