//! No token, access token or private key in any output, log
//! (`CERTSH_LOG=debug` included), error, child argv, or file outside the state
//! folder, across a run of the usual scenarios and the failing ones. Issue #5.

mod support;

use std::fs;

use support::*;

/// Everything that must never leave the state folder.
fn secrets(env: &TestEnv) -> Vec<String> {
    let mut out = vec![certifier::API_TOKEN.to_string()];
    out.extend(env.certifier.issued_access_tokens());
    // The private keys' base64 bodies (any line of them would do harm).
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

    keep(ok(env.certsh(["load"])));
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
    env.certifier.revoke_access_tokens();
    keep(ok(env.certsh(["load", "--refresh"])));
    env.set("MAGENTO_CLOUD_CLI_TOKEN", "wrong-token-that-must-not-show");
    let p = fails(env.certsh(["load", "--refresh"]), 1);
    assert!(!p.stderr.contains("wrong-token-that-must-not-show"));
    keep(p);
    env.set("MAGENTO_CLOUD_CLI_TOKEN", certifier::API_TOKEN);

    // The real ssh's argv.
    let log = env.recording_ssh();
    keep(ok(env.certsh(["ssh", "git.us-3.magento.cloud", "true"])));
    let argv = fs::read_to_string(&log).unwrap();

    let secrets = secrets(&env);
    assert!(secrets.len() > 3, "the scenario made keys and tokens");
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
    let browser = env.path("bin/browser");
    fs::write(
        &browser,
        "#!/bin/sh\nexec curl -sS -o /dev/null -L --max-time 20 \"$1\"\n",
    )
    .unwrap();
    fs::set_permissions(&browser, fs::Permissions::from_mode(0o755)).unwrap();
    env.set("BROWSER", &browser)
        .set("CERTSH_LOGIN_TIMEOUT", "60")
        .set("CERTSH_LOG", "debug");
    let mut printed = String::new();
    let mut keep = |p: Printed| printed.push_str(&format!("{}\n{}\n", p.stdout, p.stderr));

    // Tokens rotate and are revoked along the way: collect them as they come.
    let mut secrets = vec![];
    let collect = |env: &TestEnv, secrets: &mut Vec<String>| {
        secrets.extend(env.certifier.refresh_tokens());
        secrets.extend(env.certifier.issued_access_tokens());
        secrets.extend(env.certifier.revoked_refresh_tokens());
    };
    keep(ok(env.certsh(["login"])));
    keep(ok(env.certsh(["status", "--json"])));
    keep(ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"])));
    collect(&env, &mut secrets);
    // A refused access token makes certsh use the refresh grant.
    env.certifier.revoke_access_tokens();
    keep(ok(env.certsh(["load", "--refresh"])));
    assert!(
        env.certifier.refresh_grants() >= 1,
        "the refresh grant was used"
    );
    collect(&env, &mut secrets);
    keep(ok(env.certsh(["logout"])));
    collect(&env, &mut secrets);
    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 3,
        "the scenario made tokens: {}",
        secrets.len()
    );
    assert_clean("the output", &printed, &secrets);
    assert_no_file_outside_state_holds(&env, &secrets);
}
