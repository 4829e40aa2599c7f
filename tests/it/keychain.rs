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

use crate::official_cli::{World, world};
use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

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
