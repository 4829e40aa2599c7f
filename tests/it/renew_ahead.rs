//! Renewal ahead of expiry (`credentials/ahead.rs`): a certificate in the
//! last share of its lifetime is used at once and renewed in the
//! background, by one renewer however many connections there are, which
//! holds none of the connection's output, and whose failure changes nothing
//! and is said once. Not timed: what is asserted is who waited for what.

use crate::support;

use std::io::Read;
use std::process::Stdio;

use support::*;

/// A world with a certificate (obtained with renewal ahead off), then
/// renewal ahead on for the whole lifetime (`1`: always due), so that the
/// next connection is "in the last share".
fn world() -> TestEnv {
    let mut env = TestEnv::with_sshd();
    env.real_ssh_with_test_config();
    env.set("CERTSH_RENEW_AHEAD", "0");
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "true"]).run();
    assert_eq!(env.certifier.sign_requests(), 1);
    env.set("CERTSH_RENEW_AHEAD", "1");
    env
}

#[test]
fn a_certificate_in_its_last_share_is_used_at_once_and_renewed_in_the_background() {
    let env = world();
    let first = env.certificate_bytes().unwrap();
    // The certifier takes 3 s: the connection and its output must not wait.
    env.certifier.set_fault(Fault::SlowMs(3000));
    let mut child = env
        .std_command(env.shim())
        .args(["ssh.us-3.magento.cloud", "echo", "at-once"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As git reads ssh's output: to EOF, which a renewer holding the pipe
    // would delay until it ends.
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{err}");
    assert_eq!((out.as_str(), err.as_str()), ("at-once\n", ""));
    assert_eq!(
        env.certificate_bytes().unwrap(),
        first,
        "the pipe closed while the renewal was still waiting for the certifier"
    );
    wait_until("the background renewal replaces the certificate", || {
        env.certificate_bytes().unwrap() != first
    });
    assert_eq!(env.certifier.sign_requests(), 2);
    // The next connection uses the new certificate.
    env.certifier.set_fault(Fault::None);
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
}

#[test]
fn fifty_parallel_connections_in_the_last_share_start_one_renewal() {
    let env = world();
    let first = env.certificate_bytes().unwrap();
    env.certifier.set_fault(Fault::SlowMs(1000));
    let children: Vec<_> = (0..50)
        .map(|_| {
            env.std_command(env.shim())
                .args(["ssh.us-3.magento.cloud", "true"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    wait_until("the background renewal replaces the certificate", || {
        env.certificate_bytes().unwrap() != first
    });
    // Give a second renewer, if one had started, the time to sign too.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(env.certifier.sign_requests(), 2, "one renewal for fifty");
}

#[test]
fn a_failed_background_renewal_keeps_the_certificate_and_is_said_once() {
    let env = world();
    let first = env.certificate_bytes().unwrap();
    env.certifier.set_fault(Fault::ServerErrorHtml);
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "echo", "1"])
        .stdout("1\n")
        .stderr("")
        .run();
    let failed = env.state_dir().join("renew-ahead.failed");
    wait_until("the background renewal fails", || failed.exists());
    assert_eq!(
        env.certificate_bytes().unwrap(),
        first,
        "the good one stays"
    );
    let status = ok(env.certsh(["status"]));
    let line = std::fs::read_to_string(&failed).unwrap();
    let line = line.trim();
    // The whole status, with the renewal's failure on a line of its own.
    assert_output(
        &env,
        &status.stdout,
        snapbox::file!["cases/status_after_a_failed_background_renewal.stdout"],
    );
    // The next connection says it, once; the one after says nothing, and
    // starts no new renewal before the retry time.
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "echo", "2"])
        .stdout("2\n")
        .stderr(format!(
            "certsh: warning: the background renewal failed: {}; the current certificate stays\n",
            line.replace(&format!(":{}/", env.certifier.port()), ":[PORT]/")
        ))
        .run();
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "echo", "3"])
        .stdout("3\n")
        .stderr("")
        .run();
    assert_eq!(env.certifier.sign_requests(), 2, "one background try");
    assert_eq!(env.certificate_bytes().unwrap(), first);
}

#[test]
fn the_agent_renews_ahead_of_expiry_on_its_timer_without_a_client() {
    let mut env = TestEnv::with_sshd();
    env.set("CERTSH_RENEW_AHEAD", "0");
    ok(env.certsh(["load"]));
    let first = env.certificate_bytes().unwrap();
    env.set("CERTSH_RENEW_AHEAD", "1");
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &[]);
    // No client asks anything: the timer alone renews.
    wait_until("the agent renews the certificate", || {
        env.certificate_bytes().unwrap() != first
    });
    assert_eq!(env.certifier.sign_requests(), 2);
}
