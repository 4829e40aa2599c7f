//! The shim program (`src/bin/certsh-ssh.rs`) on its own: with a good
//! certificate it connects without certsh, and whatever needs more it hands
//! to the certsh beside it, or says in one line that there is none
//! (docs/connection.md, "The shim program").

use crate::support;

use snapbox::file;
use support::*;

/// The shim program alone in a folder of its own, under the name ssh.
fn lonely_shim(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.path("lonely");
    std::fs::create_dir(&dir).unwrap();
    let shim = dir.join("ssh");
    std::fs::copy(shim_bin(), &shim).unwrap();
    shim
}

#[test]
fn the_shim_alone_connects_with_a_good_certificate_and_hands_renewal_to_certsh_beside_it() {
    let mut env = TestEnv::with_sshd();
    let shim = lonely_shim(&env);
    let config = env.ssh_config().display().to_string();
    fn connect<'e>(env: &'e TestEnv, shim: &std::path::Path, config: &str) -> Test<'e> {
        let args = ["-F", config, "ssh.us-3.magento.cloud", "echo", "connected"];
        Test::program(env, shim, args)
    }

    // No certificate and no certsh beside the shim: one line, exit 255.
    connect(&env, &shim, &config)
        .status(255)
        .stderr(file!["cases/shim_without_certsh.stderr"])
        .run();
    assert_eq!(env.certifier.sign_requests(), 0);

    // A good certificate: the shim needs nobody.
    ok(env.certsh(["load"]));
    assert_eq!(env.certifier.sign_requests(), 1);
    connect(&env, &shim, &config)
        .stdout("connected\n")
        .stderr("")
        .run();
    assert_eq!(env.certifier.sign_requests(), 1);

    // One inside the renewal margin goes to the certsh beside the shim,
    // which renews it; the connection then goes on.
    std::fs::copy(certsh_bin(), env.path("lonely/certsh")).unwrap();
    env.set("CERTSH_REFRESH_MARGIN", "86400");
    connect(&env, &shim, &config)
        .stdout("connected\n")
        .stderr("")
        .run();
    assert_eq!(env.certifier.sign_requests(), 2);
}
