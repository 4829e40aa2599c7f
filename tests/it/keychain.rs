//! The official CLI's credentials in a real keychain, behind the real
//! credential helper: gnome-keyring's Secret Service on a session bus of the
//! test's own, and Debian's `docker-credential-secretservice` copied to
//! `<config dir>/credential-helper` as the official CLI installs it
//! (`tests/support/keychain.rs` has the recipe). What is stored there is
//! stored as the official CLI stores it; certsh must read it, get a
//! certificate from it, and store a refreshed session back so that the
//! official CLI still reads it. Tier all: the helper, gnome-keyring and D-Bus
//! are Linux packages (.ci/run installs them); a missing one fails the test,
//! naming it.

use crate::official_cli::{World, session_json, world};
use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use base64::Engine as _;
use support::keychain::{Keychain, secretservice_helper};
use support::*;

/// The name the official CLI stored with (its `$USER` when it logged in).
const OFFICIAL_USER: &str = "official-cli-user";

/// The official CLI's `world(profile)` with a real keychain whose bus certsh
/// (and so the helper it runs) is given, and the real helper installed as
/// the official CLI installs it: a copy of the binary, 0700, in its config
/// folder.
fn with_keychain(profile: usize) -> (World, Keychain) {
    let mut w = world(profile);
    let keychain = Keychain::start(&w.env.path("keychain"));
    w.env.set("DBUS_SESSION_BUS_ADDRESS", keychain.address());
    let helper = w.dir.join("credential-helper");
    std::fs::copy(secretservice_helper(), &helper).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o700)).unwrap();
    (w, keychain)
}

fn helper_path(w: &World) -> PathBuf {
    w.dir.join("credential-helper")
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: needs gnome-keyring and docker-credential-secretservice (scripts/test --all)"
)]
fn an_api_token_in_a_real_keychain_gets_a_certificate_through_the_real_helper() {
    let (w, keychain) = with_keychain(0);
    let url = format!("{}/default/api-token", w.slug);
    keychain.store(&url, OFFICIAL_USER, certifier::API_TOKEN);
    assert!(
        !w.dir.join(".session").exists(),
        "nothing in files: only the keychain holds the token"
    );
    w.connects();
    assert_eq!(w.env.certifier.signatures_for(certifier::API_TOKEN), 1);
    let status = ok(w.env.certsh(["status", "--json"]));
    assert_no_secrets(&w.env, &status.stdout);
    assert_no_secrets(&w.env, &status.stderr);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["login"]["credential"], "official-api-token");
    assert_eq!(
        status["login"]["origin"],
        format!(
            "the official CLI's API token ({url} through {})",
            helper_path(&w).display()
        )
    );
    // Read, not rewritten.
    let item = keychain.get(&url).expect("still stored");
    assert_eq!(item["Secret"], certifier::API_TOKEN);
    assert_eq!(item["Username"], OFFICIAL_USER);
}

fn decode_session(secret: &serde_json::Value) -> serde_json::Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.as_str().expect("a secret"))
        .expect("base64");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// A session stored by the official CLI's `login` through the real helper,
/// its access token expired; certsh runs with `user` as `$USER`.
fn a_session_is_refreshed_and_stored_back(user: Option<&str>) {
    let (mut w, keychain) = with_keychain(2);
    match user {
        Some(u) => w.env.set("USER", u),
        None => w.env.unset("USER"),
    };
    let refresh = w.env.certifier.add_refresh_token(&["pwd"]);
    let url = format!("{}/default", w.slug);
    let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    keychain.store(&url, OFFICIAL_USER, &encode(&session_json(&refresh)));
    w.connects();
    assert_eq!(w.env.certifier.refresh_grants(), 1);
    assert_eq!(w.env.certifier.sign_requests(), 1);
    // The official CLI reads its session back through the helper: the
    // rotated refresh token, which the server still accepts, and the fresh
    // access token, under the name it stored with; every other field kept.
    let item = keychain.get(&url).expect("the session is still stored");
    assert_eq!(item["Username"], OFFICIAL_USER);
    let s = decode_session(&item["Secret"]);
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
    assert_eq!(s["scope"], "");
    assert_eq!(s["createdBy"], "the official CLI");
    // One item, not a second one beside the official CLI's: what the
    // official CLI stores next is what it reads.
    keychain.store(&url, OFFICIAL_USER, &encode(&session_json("its-next-one")));
    let next = decode_session(&keychain.get(&url).unwrap()["Secret"]);
    assert_eq!(next["refreshToken"], "its-next-one");
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: needs gnome-keyring and docker-credential-secretservice (scripts/test --all)"
)]
fn a_session_in_a_real_keychain_is_refreshed_and_stored_back_through_the_real_helper() {
    a_session_is_refreshed_and_stored_back(Some("someone-else"));
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: needs gnome-keyring and docker-credential-secretservice (scripts/test --all)"
)]
fn a_session_in_a_real_keychain_is_stored_back_where_user_is_not_set() {
    a_session_is_refreshed_and_stored_back(None);
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: needs gnome-keyring and docker-credential-secretservice (scripts/test --all)"
)]
fn a_keychain_locked_during_the_refresh_is_one_line_with_the_helpers_reason() {
    let (w, keychain) = with_keychain(0);
    let refresh = w.env.certifier.add_refresh_token(&["pwd"]);
    let url = format!("{}/default", w.slug);
    let session = base64::engine::general_purpose::STANDARD.encode(session_json(&refresh));
    keychain.store(&url, OFFICIAL_USER, &session);
    // The refresh is answered after 2 s; the keyring locks while certsh
    // waits for it, after it read the session and before it stores it back.
    w.env.certifier.set_token_fault(Fault::SlowMs(2000));
    let printed = std::thread::scope(|s| {
        let run = s.spawn(|| {
            Test::ssh(&w.env, [w.host, "echo", "connected"])
                .status(255)
                .stdout("")
                .stderr(snapbox::file![
                    "cases/keychain_locked_during_refresh.stderr"
                ])
                .run()
        });
        wait_until("certsh asks to refresh the session", || {
            w.env
                .certifier
                .requests()
                .iter()
                .any(|r| r.path == "/oauth2/token")
        });
        keychain.lock();
        run.join().unwrap()
    });
    assert_no_secrets(&w.env, &printed.stderr);
    assert_eq!(w.env.certifier.sign_requests(), 0);
    // The store failed, so the keychain still holds the session certsh
    // read, whose refresh token the server has now rotated away.
    assert!(!w.env.certifier.refresh_tokens().contains(&refresh));
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: needs gnome-keyring and docker-credential-secretservice (scripts/test --all)"
)]
fn a_locked_keychain_is_a_warning_naming_the_helper_and_not_a_silent_logout() {
    let (w, keychain) = with_keychain(0);
    let url = format!("{}/default/api-token", w.slug);
    keychain.store(&url, OFFICIAL_USER, certifier::API_TOKEN);
    keychain.lock();
    // The real helper, asked for an item of a locked keyring with no
    // prompter to unlock it, crashes; for what is not there it says so.
    let (code, _) = keychain.helper("get", &url);
    assert_eq!(code, Some(2));
    let (code, out) = keychain.helper("get", "nothing/here");
    assert_eq!(
        (code, out.as_str()),
        (Some(1), "credentials not found in native keychain\n")
    );
    let p = Test::ssh(&w.env, [w.host, "echo", "connected"])
        .status(255)
        .stdout("")
        .stderr(snapbox::file!["cases/keychain_locked.stderr"])
        .run();
    assert_no_secrets(&w.env, &p.stderr);
    assert_eq!(w.env.certifier.token_requests(), 0);
}
