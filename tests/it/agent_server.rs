//! `certsh agent`, the ssh-agent that renews the certificate by itself,
//! against the real sshd, the real OpenSSH client and a real `ssh-agent`
//! behind it.
//!
//! No test runs certsh on the ssh command line: ssh is `/usr/bin/ssh` with
//! `-o IdentityAgent=<certsh's socket>`, as an IDE or a GUI git client would
//! be set up.

use crate::support;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// `ssh-add -L` through `sock`: (exit code, keys, stderr). An empty agent
/// is exit code 1 and no keys.
pub(crate) fn list(env: &TestEnv, sock: &Path) -> (Option<i32>, Vec<String>, String) {
    let p = run(env
        .command_plain("ssh-add")
        .arg("-L")
        .env("SSH_AUTH_SOCK", sock));
    let keys = p
        .stdout
        .lines()
        .filter(|l| *l != "The agent has no identities.")
        .map(String::from)
        .collect();
    (p.code, keys, p.stderr)
}

/// `/usr/bin/ssh` to the test sshd with certsh's socket as its agent and no
/// certsh anywhere on the command line.
pub(crate) fn ssh_through(env: &TestEnv, sock: &Path) -> assert_cmd::Command {
    let mut cmd = env.command_plain("/usr/bin/ssh");
    cmd.arg("-F")
        .arg(env.ssh_config())
        .arg("-o")
        .arg(format!("IdentityAgent={}", sock.display()))
        .args(["-o", "IdentitiesOnly=no"]);
    cmd
}

/// The lines of sshd's log that accepted a login.
pub(crate) fn accepted(env: &TestEnv) -> Vec<String> {
    env.sshd()
        .log()
        .lines()
        .filter(|l| l.contains("Accepted publickey"))
        .map(String::from)
        .collect()
}

pub(crate) const CERT_TYPE: &str = "ssh-ed25519-cert-v01@openssh.com ";

#[test]
fn ssh_logs_in_with_the_certificate_through_the_agent_alone() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &[]);
    assert_eq!(
        env.certifier.sign_requests(),
        0,
        "nothing before a client asks"
    );
    let p = ok(ssh_through(&env, &sock).args(["ssh.us-3.magento.cloud", "echo", "logged-in"]));
    assert_eq!(p.stdout, "logged-in\n");
    assert_eq!(env.certifier.sign_requests(), 1);
    let accepted = accepted(&env);
    assert_eq!(accepted.len(), 1, "{accepted:#?}");
    assert!(accepted[0].contains("ED25519-CERT"), "{}", accepted[0]);
    // The socket is the user's alone, in a folder of the user's alone.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(sock.parent().unwrap()), 0o700);
}

#[test]
fn a_short_lived_certificate_is_renewed_on_the_next_connection_through_the_agent() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &[]);
    // Inside the two-minute floor of the renewal margin from the start: each
    // listing must renew it.
    env.certifier.set_validity(100);
    ok(ssh_through(&env, &sock).args(["ssh.us-3.magento.cloud", "true"]));
    assert_eq!(env.certifier.sign_requests(), 1);
    let first = env.certificate_bytes().unwrap();
    env.certifier.set_validity(3600);
    ok(ssh_through(&env, &sock).args(["ssh.us-3.magento.cloud", "true"]));
    assert_eq!(env.certifier.sign_requests(), 2, "renewed by the agent");
    let second = env.certificate_bytes().unwrap();
    assert_ne!(first, second);
    // The login used the renewed certificate: sshd logs its serial.
    let serial = |bytes: &[u8]| {
        ssh_key::Certificate::from_openssh(std::str::from_utf8(bytes).unwrap().trim())
            .unwrap()
            .serial()
    };
    let last = accepted(&env).pop().unwrap();
    assert!(
        last.contains(&format!("serial {}", serial(&second))),
        "{last}"
    );
    // A valid certificate is not renewed again.
    ok(ssh_through(&env, &sock).args(["ssh.us-3.magento.cloud", "true"]));
    assert_eq!(env.certifier.sign_requests(), 2);
}

#[test]
fn the_upstream_agents_keys_stay_listed_and_usable() {
    let env = TestEnv::with_sshd();
    let upstream = SshAgent::start(&env);
    let own = upstream.add_new_key(&env);
    env.sshd().authorize_key(&own);
    let sock = env.path("run/agent.sock");
    // SSH_AUTH_SOCK at start is the upstream agent.
    let mut env_with_upstream = env;
    env_with_upstream.set("SSH_AUTH_SOCK", &upstream.sock);
    let env = env_with_upstream;
    let agent = CertshAgent::start(&env, &sock, &[]);
    assert_output(
        &env,
        &agent.log(),
        "certsh: agent listening on [ROOT]/run/agent.sock, in front of the agent on [ROOT]/upstream.sock\n",
    );
    let (code, keys, err) = list(&env, &sock);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(keys.len(), 2, "{keys:#?}");
    assert!(
        keys[0].starts_with(CERT_TYPE),
        "certificate first: {keys:#?}"
    );
    assert!(keys[0].ends_with(" certsh-magento"), "{}", keys[0]);
    assert_eq!(
        keys[1], own,
        "then the upstream agent's key, as it holds it"
    );
    // Nothing of certsh's was added to the upstream agent.
    let (_, direct, _) = list(&env, &upstream.sock);
    assert_eq!(direct, std::slice::from_ref(&own));
    // Log in with the user's own key only: ssh asks certsh's agent to sign
    // for it, and certsh passes that on to the upstream agent.
    let public = env.path("user_key.pub");
    ok(ssh_through(&env, &sock)
        .arg("-o")
        .arg(format!("IdentityFile={}", public.display()))
        .args(["-o", "IdentitiesOnly=yes"])
        .args(["ssh.us-3.magento.cloud", "true"]));
    let last = accepted(&env).pop().unwrap();
    assert!(
        last.contains("ED25519 SHA256:") && !last.contains("CERT"),
        "the plain key logged in: {last}"
    );
}

/// `ssh-add` reads the lock password from this script (no terminal here).
fn askpass(env: &TestEnv) -> PathBuf {
    let script = env.path("askpass");
    std::fs::write(&script, "#!/bin/sh\necho lock-password\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn locking_through_the_agent_locks_the_upstream_agent_and_the_certificate_stays() {
    let mut env = TestEnv::with_sshd();
    let upstream = SshAgent::start(&env);
    let own = upstream.add_new_key(&env);
    env.sshd().authorize_key(&own);
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(
        &env,
        &sock,
        &["--upstream", upstream.sock.to_str().unwrap()],
    );
    let pass = askpass(&env);
    env.set("SSH_ASKPASS", &pass)
        .set("SSH_ASKPASS_REQUIRE", "force");
    let lock = |flag: &str| {
        ok(env
            .command_plain("ssh-add")
            .arg(flag)
            .env("SSH_AUTH_SOCK", &sock))
    };
    lock("-x");
    // The lock reached the upstream agent: asked directly, it lists nothing.
    let (_, direct, _) = list(&env, &upstream.sock);
    assert!(direct.is_empty(), "upstream is locked: {direct:#?}");
    // certsh's certificate is not the upstream agent's to lock.
    let (code, keys, err) = list(&env, &sock);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(keys.len(), 1, "{keys:#?}");
    assert!(keys[0].starts_with(CERT_TYPE));
    ok(ssh_through(&env, &sock).args(["ssh.us-3.magento.cloud", "true"]));
    // A wrong password is the upstream agent's failure, passed on.
    std::fs::write(&pass, "#!/bin/sh\necho wrong\n").unwrap();
    let p = run(env
        .command_plain("ssh-add")
        .arg("-X")
        .env("SSH_AUTH_SOCK", &sock));
    assert_ne!(p.code, Some(0), "{}", p.stderr);
    std::fs::write(&pass, "#!/bin/sh\necho lock-password\n").unwrap();
    lock("-X");
    let (_, keys, _) = list(&env, &sock);
    assert_eq!(keys.len(), 2, "unlocked: {keys:#?}");
    assert_eq!(keys[1], own);
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: a second local user needs root (scripts/test --all)"
)]
fn a_client_of_another_uid_is_refused_by_the_agent_itself() {
    let env = TestEnv::with_sshd();
    let other = local_user("certsh-attacker");
    // A folder the other user can enter (root's, not writable by others),
    // since the default one (0700) would stop her before the socket.
    let shared = tempfile::Builder::new()
        .prefix("certsh-agent-peer")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = shared.path().join("agent.sock");
    let agent = CertshAgent::start(&env, &sock, &[]);
    let as_other = || {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", other.0))
            .arg(format!("--regid={}", other.1))
            .args(["--clear-groups", "ssh-add", "-L"])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("SSH_AUTH_SOCK", &sock)
            .current_dir("/");
        run(assert_cmd::Command::from_std(cmd))
    };
    // The socket's mode stops her first: she never reaches the agent.
    let p = as_other();
    assert_ne!(p.code, Some(0));
    assert!(!p.stdout.contains(CERT_TYPE), "{}", p.stdout);
    assert!(!agent.log().contains("refused"), "{}", agent.log());
    // With the socket opened to everyone, the agent's own check refuses her.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let p = as_other();
    assert_ne!(p.code, Some(0), "{}", p.stdout);
    assert!(!p.stdout.contains(CERT_TYPE), "{}", p.stdout);
    wait_until("the agent logs the refusal", || {
        agent
            .log()
            .contains(&format!("agent: refused a client of uid {}", other.0))
    });
    assert_eq!(
        env.certifier.sign_requests(),
        0,
        "nothing was renewed for her"
    );
    // The same command as the agent's user is served.
    let (code, keys, err) = list(&env, &sock);
    assert_eq!(code, Some(0), "{err}");
    assert!(keys[0].starts_with(CERT_TYPE), "{keys:#?}");
}

/// Writes `bytes` on a new connection to `sock` (then closes the writing
/// side), and returns everything the agent answers before it closes.
pub(crate) fn answer_to(sock: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(sock).unwrap();
    // A guard against a hang, not a claim about speed.
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    // The agent may close before reading everything: a failed write is
    // part of what is tested.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = vec![];
    // Closed with bytes of ours still unread, the connection is reset
    // rather than ended: both are a close.
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the agent neither answers nor closes: {e}"),
    }
    out
}

pub(crate) fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn garbage_oversized_or_truncated_messages_close_that_connection_only() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &[]);
    // A well-formed request is answered (type 12), so an empty answer below
    // means the agent closed without one.
    let good = answer_to(&sock, &framed(&[11]));
    assert_eq!(good.get(4), Some(&12), "{good:?}");
    // The longest message allowed is read whole: an unknown type, and no
    // upstream agent to pass it to, is a FAILURE (type 5).
    let mut longest = vec![0xf0u8];
    longest.resize(256 * 1024, 0);
    assert_eq!(answer_to(&sock, &framed(&longest)), framed(&[5]));
    let bad: [(&str, Vec<u8>); 7] = [
        (
            "one byte past the limit",
            (256 * 1024u32 + 1).to_be_bytes().to_vec(),
        ),
        ("a length of zero", vec![0, 0, 0, 0]),
        ("a cut length", vec![0, 0]),
        ("a body cut short", vec![0, 0, 0, 100, 11, 0, 0]),
        ("a listing request with more in it", framed(&[11, 0])),
        (
            "a sign request cut inside its key",
            framed(&[13, 0, 0, 0, 9, 1]),
        ),
        ("text", b"GET / HTTP/1.1\r\nHost: agent\r\n\r\n".to_vec()),
    ];
    for (what, bytes) in &bad {
        // A valid request after the bad one is not answered either: the
        // connection is over.
        let mut then_good = bytes.clone();
        if !what.contains("cut") {
            then_good.extend(framed(&[11]));
        }
        let answer = answer_to(&sock, &then_good);
        assert!(answer.is_empty(), "{what}: answered {answer:?}");
        // ...and the agent goes on serving the next client.
        let (code, keys, err) = list(&env, &sock);
        assert_eq!(code, Some(0), "after {what}: {err}");
        assert!(keys[0].starts_with(CERT_TYPE), "after {what}: {keys:#?}");
    }
    ok(ssh_through(&env, &sock).args(["ssh.us-3.magento.cloud", "true"]));
}

#[test]
fn thirty_two_parallel_clients_cause_one_signature() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &[]);
    // No certificate yet: every client's listing needs one at once.
    let clients: Vec<_> = (0..32)
        .map(|_| {
            env.std_command("ssh-add")
                .arg("-L")
                .env("SSH_AUTH_SOCK", &sock)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in clients {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with(CERT_TYPE), "{stdout}");
    }
    assert_eq!(env.certifier.sign_requests(), 1);
}

#[test]
fn with_no_credential_it_lists_the_upstream_keys_and_says_once_what_to_run() {
    let mut env = TestEnv::with_sshd();
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let upstream = SshAgent::start(&env);
    let own = upstream.add_new_key(&env);
    let sock = env.path("run/agent.sock");
    let agent = CertshAgent::start(
        &env,
        &sock,
        &["--upstream", upstream.sock.to_str().unwrap()],
    );
    for _ in 0..3 {
        let (code, keys, err) = list(&env, &sock);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(keys, vec![own.clone()]);
    }
    // Said once, not per request.
    assert_output(
        &env,
        &agent.log(),
        snapbox::file!["cases/agent_no_credentials.stderr"],
    );
    assert_eq!(
        env.certifier.requests().len(),
        0,
        "nothing to ask the certifier with"
    );
    // A login in another terminal is picked up by the next listing.
    Test::certsh(&env, ["login", "--api-token"])
        .stdin(support::certifier::API_TOKEN)
        .run();
    let (_, keys, _) = list(&env, &sock);
    assert_eq!(keys.len(), 2, "{keys:#?}");
    assert!(keys[0].starts_with(CERT_TYPE));
    assert_eq!(keys[1], own);
    assert_output(
        &env,
        &agent.log(),
        snapbox::file!["cases/agent_no_credentials_then_a_login.stderr"],
    );
}

#[test]
fn a_live_socket_is_refused_a_stale_one_replaced_and_sigterm_removes_it() {
    let env = TestEnv::new();
    let sock = env.path("run/agent.sock");
    let mut first = CertshAgent::start(&env, &sock, &[]);
    Test::certsh(
        &env,
        [
            OsString::from("agent"),
            "--socket".into(),
            sock.clone().into(),
        ],
    )
    .status(1)
    .stderr(
        "certsh: an agent already listens on [ROOT]/run/agent.sock \
             (stop it first, or give another path: certsh agent --socket PATH)\n",
    )
    .run();
    assert!(first.terminate().success(), "{}", first.log());
    assert!(!sock.exists(), "SIGTERM removed the socket");
    // A socket nobody listens on, as a killed agent leaves it.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let second = CertshAgent::start(&env, &sock, &[]);
    let (code, _, err) = list(&env, &second.sock);
    assert_eq!(code, Some(0), "{err}");
    // Something that is not a socket is never removed.
    let file = env.path("run/not-a-socket");
    std::fs::write(&file, "keep me").unwrap();
    Test::certsh(
        &env,
        [
            OsString::from("agent"),
            "--socket".into(),
            file.clone().into(),
        ],
    )
    .status(1)
    .stderr(
        "certsh: [ROOT]/run/not-a-socket exists and is not a socket \
             (remove it, or give another path: certsh agent --socket PATH)\n",
    )
    .run();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn the_default_socket_is_in_the_runtime_folder_and_never_its_own_upstream() {
    let mut env = TestEnv::new();
    let run_dir = env.path("xdg");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let sock = run_dir.join("certsh/magento-agent.sock");
    env.set("XDG_RUNTIME_DIR", &run_dir);
    // A shell already set up for this agent: it must not serve itself.
    env.set("SSH_AUTH_SOCK", &sock);
    let agent = CertshAgent::start_with(&env, &sock, &[]);
    assert_output(
        &env,
        &agent.log(),
        "certsh: agent listening on [ROOT]/xdg/certsh/magento-agent.sock, with no upstream agent\n",
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(sock.parent().unwrap()), 0o700);
    assert_eq!(mode(&sock), 0o600);
    let (code, keys, err) = list(&env, &sock);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(keys.len(), 1, "{keys:#?}");
    // A folder others may write to is refused, before anything is made.
    let open = env.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    Test::certsh(
        &env,
        [
            OsString::from("agent"),
            "--socket".into(),
            open.join("a.sock").into(),
        ],
    )
    .status(1)
    .stderr(
        "certsh: the socket's folder [ROOT]/open may be written by others (mode 777) \
             (chmod go-w [ROOT]/open, or give a folder of your own: certsh agent --socket PATH)\n",
    )
    .run();
    assert!(!open.join("a.sock").exists());
}

/// SSH_AUTH_SOCK, or --upstream, as a symlink to the agent's own socket: the
/// agent does not forward to itself (each request would loop until the
/// connection limit), and says so in one line.
#[test]
fn a_symlink_to_its_own_socket_is_never_the_agents_upstream() {
    let mut env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let link = env.path("link-to-agent.sock");
    std::os::unix::fs::symlink(&sock, &link).unwrap();
    env.set("SSH_AUTH_SOCK", &link);
    let agent = CertshAgent::start(&env, &sock, &[]);
    let (code, keys, err) = list(&env, &sock);
    assert_eq!((code, keys.len()), (Some(0), 1), "{err} {keys:#?}");
    assert!(keys[0].starts_with(CERT_TYPE), "{keys:#?}");
    assert_output(
        &env,
        &agent.log(),
        snapbox::file!["cases/agent_own_socket_as_upstream.stderr"],
    );
    drop(agent);
    let other = env.path("run2/agent.sock");
    let link2 = env.path("link-to-agent2.sock");
    std::os::unix::fs::symlink(&other, &link2).unwrap();
    Test::certsh(
        &env,
        [
            OsString::from("agent"),
            "--socket".into(),
            other.clone().into(),
            "--upstream".into(),
            link2.into(),
        ],
    )
    .status(1)
    .stderr(
        "certsh: the upstream agent [ROOT]/link-to-agent2.sock is this agent's own socket \
             (give the socket of another agent with --upstream)\n",
    )
    .run();
    assert!(!other.exists(), "the socket is removed again");
}

/// Sends one request body on a new connection and returns the answer's body.
pub(crate) fn ask(sock: &Path, body: &[u8]) -> Vec<u8> {
    let answer = answer_to(sock, &framed(body));
    assert!(answer.len() >= 5, "an answer: {answer:?}");
    let len = u32::from_be_bytes(answer[..4].try_into().unwrap()) as usize;
    assert_eq!(answer.len(), 4 + len, "{answer:?}");
    answer[4..].to_vec()
}

pub(crate) fn string(b: &[u8]) -> Vec<u8> {
    let mut out = (b.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

/// The data ssh asks an agent to sign for a login (RFC 4252 section 7):
/// session id, 50, user, service, method, TRUE, algorithm, key blob, and
/// for the hostbound method the server's host key.
pub(crate) fn userauth(session_id: &[u8], key: &[u8], host_key: Option<&[u8]>) -> Vec<u8> {
    let mut out = string(session_id);
    out.push(50);
    out.extend(string(b"user"));
    out.extend(string(b"ssh-connection"));
    match host_key {
        None => out.extend(string(b"publickey")),
        Some(_) => out.extend(string(b"publickey-hostbound-v00@openssh.com")),
    }
    out.push(1);
    out.extend(string(b"ssh-ed25519-cert-v01@openssh.com"));
    out.extend(string(key));
    if let Some(h) = host_key {
        out.extend(string(h));
    }
    out
}

/// A sign request body.
pub(crate) fn sign_request(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut request = vec![13];
    request.extend(string(key));
    request.extend(string(data));
    request.extend(0u32.to_be_bytes());
    request
}

#[test]
fn certsh_signs_for_its_key_and_its_certificate_in_process_and_nothing_else() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &[]);
    let (_, keys, _) = list(&env, &sock);
    let cert = ssh_key::Certificate::from_openssh(&keys[0]).unwrap();
    let public = ssh_key::PublicKey::from(cert.public_key().clone());
    for blob in [cert.to_bytes().unwrap(), public.to_bytes().unwrap()] {
        let data = userauth(b"a session id", &blob, None);
        let answer = ask(&sock, &sign_request(&blob, &data));
        assert_eq!(answer[0], 14, "SIGN_RESPONSE: {answer:?}");
        // string(signature blob) = string("ssh-ed25519") string(64 bytes)
        let sig = &answer[5..];
        assert_eq!(&sig[..15], b"\0\0\0\x0bssh-ed25519");
        assert_eq!(&sig[15..19], &64u32.to_be_bytes());
        let sig = ssh_key::Signature::new(ssh_key::Algorithm::Ed25519, sig[19..].to_vec()).unwrap();
        signature::Verifier::verify(&public, &data, &sig).expect("signed by certsh's key");
        assert!(signature::Verifier::verify(&public, b"other data", &sig).is_err());
    }
    let data = b"what a server asks to be signed";
    // Another key, with no upstream agent to ask: FAILURE.
    let other =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
    let request = sign_request(&other.public_key().to_bytes().unwrap(), data);
    assert_eq!(ask(&sock, &request), [5]);
    // The private key was written once, where certsh keeps it, and nowhere
    // else: no other file in the test's world holds a private key.
    let holding_keys: Vec<PathBuf> = files_below(env.root.path())
        .into_iter()
        .filter(|p| p.is_file() && !p.is_symlink())
        .filter(|p| std::fs::read(p).is_ok_and(|b| b.windows(11).any(|w| w == b"PRIVATE KEY")))
        .collect();
    let link = std::fs::read_link(env.state_dir().join("current")).unwrap();
    let mut expected = vec![
        env.path("sshd/ssh_host_ed25519_key"),
        env.state_dir().join(link).join("id_ed25519"),
    ];
    expected.sort();
    assert_eq!(holding_keys, expected);
}
