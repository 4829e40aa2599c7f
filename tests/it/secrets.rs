//! No token, access token or private key in any output, log
//! (`CERTSH_LOG=debug` included), error, child argv, or file outside the state
//! folder, across a run of the usual scenarios and the failing ones.

use crate::support;

use std::fs;

use support::*;

/// The private keys now in the state folder: their base64 lines (any line
/// of them would do harm).
fn private_keys(env: &TestEnv) -> Vec<String> {
    let mut out = vec![];
    for f in files_below(&env.state_dir()) {
        if f.file_name().is_some_and(|n| n == "id_ed25519") {
            let pem = fs::read_to_string(&f).unwrap();
            out.extend(
                pem.lines()
                    .filter(|l| !l.starts_with("-----") && l.len() > 20)
                    .map(String::from),
            );
        }
    }
    out
}

/// Every token the test certifier has seen or issued so far, revoked ones
/// included: API token, access tokens, refresh tokens, and the PKCE
/// verifiers that came with authorization codes.
fn tokens(env: &TestEnv) -> Vec<String> {
    let mut out = vec![certifier::API_TOKEN.to_string()];
    out.extend(env.certifier.every_access_token_issued());
    out.extend(env.certifier.refresh_tokens());
    out.extend(env.certifier.revoked_refresh_tokens());
    for r in env.certifier.requests() {
        for pair in r.body.split('&') {
            if let Some(v) = pair.strip_prefix("code_verifier=") {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// Secrets collected as a scenario goes: keys are deleted and tokens
/// rotated along the way, so each step adds what exists at that moment.
#[derive(Default)]
struct Secrets(Vec<String>);

impl Secrets {
    fn collect(&mut self, env: &TestEnv) {
        self.0.extend(tokens(env));
        self.0.extend(private_keys(env));
        self.0.sort();
        self.0.dedup();
    }
}

#[track_caller]
fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} holds a secret");
    }
}

/// Every file outside the state folder (HOME, TMPDIR, the work tree) is
/// free of `secrets`.
#[track_caller]
fn assert_no_file_outside_state_holds(env: &TestEnv, secrets: &[String]) {
    let state = env.state_dir();
    for root in [env.home(), env.path("tmp"), env.path("work")] {
        for f in files_below(&root) {
            if f.starts_with(&state) || !f.is_file() {
                continue;
            }
            let bytes = fs::read(&f).unwrap_or_default();
            assert_clean(
                &f.display().to_string(),
                &String::from_utf8_lossy(&bytes),
                secrets,
            );
        }
    }
}

#[test]
fn no_secret_leaves_the_state_folder_across_a_full_run() {
    let mut env = TestEnv::with_sshd();
    env.set("CERTSH_LOG", "debug");
    let mut printed = String::new();
    let mut keep = |p: Printed| printed.push_str(&format!("{}\n{}\n", p.stdout, p.stderr));
    let mut secrets = Secrets::default();

    keep(ok(env.certsh(["load"])));
    secrets.collect(&env);
    keep(ok(env.certsh(["status"])));
    keep(ok(env.certsh(["status", "--json"])));
    keep(ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"])));
    keep(ok(
        env.git(&env.git_ssh(), ["clone", &env.git_url(), "clone"])
    ));
    keep(ok(env.certsh(["load", "--refresh"])));
    for fault in [
        Fault::Unauthorized,
        Fault::ServerErrorHtml,
        Fault::GarbageCertificate,
        Fault::OtherKey,
        Fault::TerminalEscapes,
    ] {
        env.certifier.set_fault(fault);
        keep(fails(env.certsh(["load", "--refresh"]), 1));
    }
    env.certifier.set_fault(Fault::None);
    secrets.collect(&env);
    env.certifier.revoke_access_tokens();
    keep(ok(env.certsh(["load", "--refresh"])));
    env.set("MAGENTO_CLOUD_CLI_TOKEN", "wrong-token-that-must-not-show");
    let p = fails(env.certsh(["load", "--refresh"]), 1);
    assert!(!p.stderr.contains("wrong-token-that-must-not-show"));
    keep(p);
    env.set("MAGENTO_CLOUD_CLI_TOKEN", certifier::API_TOKEN);
    // A new key, so that two generations' keys are searched for.
    env.set("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL", "-1");
    keep(ok(env.certsh(["load", "--refresh"])));
    env.unset("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL");

    // The real ssh's argv.
    let log = env.recording_ssh();
    keep(ok(env.certsh(["ssh", "git.us-3.magento.cloud", "true"])));
    let argv = fs::read_to_string(&log).unwrap();
    secrets.collect(&env);

    let secrets = secrets.0;
    let access_tokens = env.certifier.every_access_token_issued();
    assert!(
        access_tokens.len() >= 3,
        "the scenario made access tokens before and after the revocation: {}",
        access_tokens.len()
    );
    assert!(
        private_keys(&env).len() >= 2 && secrets.len() > access_tokens.len() + 2,
        "the scenario made keys"
    );
    assert!(printed.contains("certsh: debug: "), "the debug log was on");
    assert_clean("the output", &printed, &secrets);
    assert_clean("the real ssh's argv", &argv, &secrets);

    assert_no_file_outside_state_holds(&env, &secrets);
    let state = env.state_dir();
    // And inside it, the API token is not stored (only a hash of it).
    for f in files_below(&state).iter().filter(|f| f.is_file()) {
        let text = String::from_utf8_lossy(&fs::read(f).unwrap()).into_owned();
        assert_clean(
            &f.display().to_string(),
            &text,
            &[certifier::API_TOKEN.to_string()],
        );
    }
}

#[test]
fn no_refresh_token_leaves_the_state_folder_across_a_browser_login() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = TestEnv::with_sshd();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    // The browser records its argv (readable by every local user in /proc).
    let browser = env.path("bin/browser");
    let browser_argv = env.path("browser-argv");
    fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\nexec curl -sS -o /dev/null -L --max-time 20 \"$1\"\n",
            browser_argv.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&browser, fs::Permissions::from_mode(0o755)).unwrap();
    env.set("BROWSER", &browser)
        .set("CERTSH_LOGIN_TIMEOUT", "60")
        .set("CERTSH_LOG", "debug");
    let mut printed = String::new();
    let mut keep = |p: Printed| printed.push_str(&format!("{}\n{}\n", p.stdout, p.stderr));

    // Tokens rotate and are revoked, keys deleted at logout: collect them
    // as they come.
    let mut secrets = Secrets::default();
    keep(ok(env.certsh(["login"])));
    secrets.collect(&env);
    keep(ok(env.certsh(["status", "--json"])));
    keep(ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"])));
    // A refused access token makes certsh use the refresh grant.
    env.certifier.revoke_access_tokens();
    keep(ok(env.certsh(["load", "--refresh"])));
    assert!(
        env.certifier.refresh_grants() >= 1,
        "the refresh grant was used"
    );
    secrets.collect(&env);
    // The real ssh's argv, with the session's certificate.
    let real_ssh = env.var("CERTSH_REAL_SSH").map(String::from);
    let log = env.recording_ssh();
    keep(ok(env.certsh(["ssh", "git.us-3.magento.cloud", "true"])));
    let ssh_argv = fs::read_to_string(&log).unwrap();
    match real_ssh {
        Some(v) => env.set("CERTSH_REAL_SSH", v),
        None => env.unset("CERTSH_REAL_SSH"),
    };
    secrets.collect(&env);
    let keys = private_keys(&env);
    keep(ok(env.certsh(["logout"])));
    secrets.collect(&env);

    let secrets = secrets.0;
    assert!(
        !env.certifier.revoked_refresh_tokens().is_empty()
            && env.certifier.every_access_token_issued().len() >= 2,
        "the scenario made, rotated and revoked tokens"
    );
    assert!(!keys.is_empty(), "the scenario made a key");
    assert!(private_keys(&env).is_empty(), "logout deleted it");
    assert_clean("the output", &printed, &secrets);
    assert_clean(
        "the browser's argv",
        &fs::read_to_string(&browser_argv).expect("the browser ran"),
        &secrets,
    );
    assert_clean("the real ssh's argv", &ssh_argv, &secrets);
    assert_no_file_outside_state_holds(&env, &secrets);
}
