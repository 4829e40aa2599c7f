//! What `certsh agent` keeps from a forwarded host (`ssh -A`) and from
//! other clients, as OpenSSH's own `ssh-agent` does: destination constraints
//! of the user's keys, certsh's key signing logins only, no client stalling
//! another, a socket folder nobody else decides. Against the real sshd, the
//! real OpenSSH client and a real `ssh-agent` behind certsh's.

use crate::agent_server::{
    CERT_TYPE, ask, framed, list, sign_request, ssh_through, string, userauth,
};
use crate::support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::*;

/// A `session-bind@openssh.com` request body.
fn bind(host_key: &[u8], session_id: &[u8], forwarding: bool) -> Vec<u8> {
    let mut out = vec![27];
    out.extend(string(b"session-bind@openssh.com"));
    out.extend(string(host_key));
    out.extend(string(session_id));
    out.extend(string(b"a signature"));
    out.push(u8::from(forwarding));
    out
}

/// One connection to an agent: requests in turn, each answer's body.
struct Conversation(UnixStream);

impl Conversation {
    fn open(sock: &Path) -> Conversation {
        let s = UnixStream::connect(sock).unwrap();
        // A guard against a hang, not a claim about speed.
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        Conversation(s)
    }

    fn ask(&mut self, body: &[u8]) -> Vec<u8> {
        self.0.write_all(&framed(body)).unwrap();
        let mut len = [0u8; 4];
        self.0.read_exact(&mut len).unwrap();
        let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
        self.0.read_exact(&mut answer).unwrap();
        answer
    }

    /// The key blobs of a listing.
    fn keys(&mut self) -> Vec<Vec<u8>> {
        let answer = self.ask(&[11]);
        assert_eq!(answer[0], 12, "{answer:?}");
        let mut rest = &answer[5..];
        let mut take = || {
            let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let s = rest[4..4 + n].to_vec();
            rest = &rest[4 + n..];
            s
        };
        let mut keys = vec![];
        for _ in 0..u32::from_be_bytes(answer[1..5].try_into().unwrap()) {
            keys.push(take());
            take();
        }
        keys
    }
}

/// certsh's certificate blob, as its agent at `sock` lists it.
fn certificate_blob(env: &TestEnv, sock: &Path) -> Vec<u8> {
    let (_, keys, _) = list(env, sock);
    assert!(keys[0].starts_with(CERT_TYPE), "{keys:#?}");
    ssh_key::Certificate::from_openssh(&keys[0])
        .unwrap()
        .to_bytes()
        .unwrap()
}

/// The lines certsh's agent logged that begin `certsh: agent: certsh's key`.
fn refusals(agent: &CertshAgent) -> Vec<String> {
    agent
        .log()
        .lines()
        .filter(|l| l.starts_with("certsh: agent: certsh's key"))
        .map(String::from)
        .collect()
}

#[test]
fn certsh_s_key_signs_ssh_logins_for_itself_only() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let agent = CertshAgent::start(&env, &sock, &[]);
    let cert = certificate_blob(&env, &sock);
    // What `ssh-keygen -Y sign` asks an agent to sign: "SSHSIG", namespace,
    // reserved, hash algorithm, the message's hash.
    let mut sshsig = b"SSHSIG".to_vec();
    sshsig.extend(string(b"git"));
    sshsig.extend(string(b""));
    sshsig.extend(string(b"sha512"));
    sshsig.extend(string(&[7u8; 64]));
    let other_key =
        ssh_key::PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .unwrap();
    let mut trailing = userauth(b"sid", &cert, None);
    trailing.push(0);
    let mut password = string(b"sid");
    password.push(50);
    for s in [b"user".as_slice(), b"ssh-connection", b"password"] {
        password.extend(string(s));
    }
    password.push(0);
    password.extend(string(b"hunter2"));
    let not_logins: [(&str, Vec<u8>); 5] = [
        ("an SSHSIG blob", sshsig),
        ("arbitrary data", b"pay 100 to mallory".to_vec()),
        (
            "a login offering another key",
            userauth(b"sid", &other_key.public_key().to_bytes().unwrap(), None),
        ),
        ("a login with bytes after it", trailing),
        ("a password login", password),
    ];
    for (what, data) in &not_logins {
        assert_eq!(ask(&sock, &sign_request(&cert, data)), [5], "{what}");
    }
    assert_eq!(
        refusals(&agent),
        vec![
            "certsh: agent: certsh's key was asked to sign data that is not an SSH login for it; \
             it signs logins only";
            not_logins.len()
        ]
    );
    // A login for it is signed.
    assert_eq!(
        ask(&sock, &sign_request(&cert, &userauth(b"sid", &cert, None)))[0],
        14
    );
}

#[test]
fn on_a_bound_connection_certsh_signs_a_login_for_that_session_only() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let agent = CertshAgent::start(&env, &sock, &[]);
    let cert = certificate_blob(&env, &sock);
    let mut c = Conversation::open(&sock);
    // No upstream agent: the binding is certsh's alone, and accepted.
    assert_eq!(c.ask(&bind(b"host A", b"session 1", false)), [6]);
    let sign = |sid: &[u8], host: Option<&[u8]>| sign_request(&cert, &userauth(sid, &cert, host));
    assert_eq!(c.ask(&sign(b"session 1", None))[0], 14);
    assert_eq!(c.ask(&sign(b"session 1", Some(b"host A")))[0], 14);
    assert_eq!(c.ask(&sign(b"session 2", None)), [5]);
    assert_eq!(c.ask(&sign(b"session 1", Some(b"host B"))), [5]);
    // Bound for a login, the connection takes no other binding.
    assert_eq!(c.ask(&bind(b"host B", b"session 2", false)), [5]);
    assert_eq!(c.ask(&sign(b"session 2", None)), [5]);
    assert_eq!(
        refusals(&agent),
        vec![
            "certsh: agent: certsh's key was asked to sign a login for another session than \
             the connection is bound to";
            3
        ]
    );
}

#[test]
fn a_forwarded_connection_is_offered_the_certificate_only_with_allow_forwarded() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let mut agent = CertshAgent::start(&env, &sock, &[]);
    let cert = certificate_blob(&env, &sock);
    let login = sign_request(&cert, &userauth(b"session 2", &cert, None));
    let mut c = Conversation::open(&sock);
    assert_eq!(c.keys(), vec![cert.clone()], "listed before the binding");
    assert_eq!(c.ask(&bind(b"host A", b"session 1", true)), [6]);
    assert_eq!(c.keys(), Vec::<Vec<u8>>::new());
    assert_eq!(c.ask(&bind(b"host B", b"session 2", false)), [6]);
    assert_eq!(c.keys(), Vec::<Vec<u8>>::new());
    assert_eq!(c.ask(&login), [5]);
    assert_eq!(
        refusals(&agent),
        vec![
            "certsh: agent: certsh's key was asked to sign on a forwarded connection (ssh -A); \
             start the agent with --allow-forwarded to allow it"
        ]
    );
    // A real `ssh -A`: on the far side the forwarded agent has nothing of
    // certsh's, while the local side logged in with the certificate.
    let far = run(ssh_through(&env, &sock).args([
        "-A",
        "ssh.us-3.magento.cloud",
        "ssh-add -L; echo listed $?",
    ]));
    assert_eq!(
        (far.code, far.stdout.as_str()),
        (Some(0), "The agent has no identities.\nlisted 1\n"),
        "{}",
        far.stderr
    );

    drop(c);
    agent.terminate();
    let _agent = CertshAgent::start(&env, &sock, &["--allow-forwarded"]);
    let mut c = Conversation::open(&sock);
    assert_eq!(c.ask(&bind(b"host A", b"session 1", true)), [6]);
    assert_eq!(c.ask(&bind(b"host B", b"session 2", false)), [6]);
    assert_eq!(c.keys(), vec![cert.clone()]);
    assert_eq!(c.ask(&login)[0], 14);
    let far = run(ssh_through(&env, &sock).args(["-A", "ssh.us-3.magento.cloud", "ssh-add -L"]));
    assert_eq!(far.code, Some(0), "{}", far.stderr);
    assert!(far.stdout.starts_with(CERT_TYPE), "{}", far.stdout);
}

/// A proxy in front of a real agent that drops both connections after every
/// answer to a request that is not a session binding, as an agent that
/// restarts (or a flaky forwarding) would. Counts the connections it took.
struct DroppingProxy {
    sock: PathBuf,
    connections: Arc<AtomicUsize>,
}

impl DroppingProxy {
    fn start(sock: PathBuf, upstream: PathBuf) -> DroppingProxy {
        let listener = UnixListener::bind(&sock).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let mut agent = UnixStream::connect(&upstream).unwrap();
                    loop {
                        let Some(request) = message(&mut client) else {
                            return;
                        };
                        agent.write_all(&request).unwrap();
                        let Some(answer) = message(&mut agent) else {
                            return;
                        };
                        client.write_all(&answer).unwrap();
                        let is_bind = request[4] == 27
                            && request[5..].starts_with(&string(b"session-bind@openssh.com"));
                        if !is_bind {
                            return;
                        }
                    }
                });
            }
        });
        DroppingProxy { sock, connections }
    }
}

/// One framed message, length included; `None` at the end of the stream.
fn message(s: &mut UnixStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut out = len.to_vec();
    out.resize(4 + u32::from_be_bytes(len) as usize, 0);
    s.read_exact(&mut out[4..]).ok()?;
    Some(out)
}

#[test]
fn destination_constraints_of_the_users_keys_hold_through_certsh_after_a_reconnect() {
    let mut env = TestEnv::with_sshd();
    // No certificate: the user's own key alone logs in, on both hops.
    env.unset("MAGENTO_CLOUD_CLI_TOKEN");
    let b_dir = env.path("sshd-b");
    std::fs::create_dir(&b_dir).unwrap();
    let b = Sshd::start(&b_dir, &env.certifier.ca_public_key(), &["certsh-test"]);
    let upstream = SshAgent::start(&env);
    let key = env.path("user_key");
    ok(env
        .command_plain("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "constrained", "-f"])
        .arg(&key));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    env.sshd().authorize_key(&public);
    b.authorize_key(&public);
    // Names for the two hosts, for ssh-add to find their keys by.
    let names = env.path("constraint_hosts");
    std::fs::write(
        &names,
        format!(
            "hop-a {}\nhop-b {}\n",
            env.sshd().host_public_key(),
            b.host_public_key()
        ),
    )
    .unwrap();
    let add = |constraints: &[&str]| {
        ok(env
            .command_plain("ssh-add")
            .arg("-D")
            .env("SSH_AUTH_SOCK", &upstream.sock));
        let mut cmd = env.command_plain("ssh-add");
        cmd.arg("-H").arg(&names);
        for c in constraints {
            cmd.args(["-h", c]);
        }
        ok(cmd.arg(&key).env("SSH_AUTH_SOCK", &upstream.sock));
    };
    let proxy = DroppingProxy::start(env.path("dropping.sock"), upstream.sock.clone());
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &["--upstream", proxy.sock.to_str().unwrap()]);
    // On A, ssh to B with the forwarded agent.
    let hop = format!(
        "/usr/bin/ssh -F '{}' -o IdentityAgent=SSH_AUTH_SOCK -o IdentitiesOnly=no \
         localhost-alias echo reached B",
        b.ssh_config().display()
    );
    let through_a = || run(ssh_through(&env, &sock).args(["-A", "ssh.us-3.magento.cloud", &hop]));

    // Allowed to A, and through A to B: both hops log in.
    add(&["hop-a", "hop-a>hop-b"]);
    let both = through_a();
    assert_eq!(
        (both.code, both.stdout.as_str()),
        (Some(0), "reached B\n"),
        "{}",
        both.stderr
    );
    // Allowed to A only: A still logs in, B refuses, although every request
    // reached the upstream agent on a connection of its own.
    add(&["hop-a"]);
    let before = proxy.connections.load(Ordering::SeqCst);
    let only_a = through_a();
    assert_eq!(
        (only_a.code, only_a.stdout.as_str()),
        (Some(255), ""),
        "{}",
        only_a.stderr
    );
    assert!(
        only_a.stderr.contains("Permission denied (publickey)"),
        "refused by B: {}",
        only_a.stderr
    );
    // The upstream agent judged the forwarded request with both bindings
    // replayed on the connection certsh opened again for it.
    assert!(
        upstream_log(&env)
            .contains("ED25519 identity \"constrained\" not permitted for this destination"),
        "{}",
        upstream_log(&env)
    );
    // Each of the three client connections (ssh's own, the forwarded one,
    // the far ssh's listing) reached the upstream agent anew.
    assert!(
        proxy.connections.load(Ordering::SeqCst) - before >= 3,
        "the upstream connection was dropped and opened again"
    );
    assert_eq!(
        accepted_on(&b).len(),
        1,
        "B let in the first run only:\n{}",
        b.log()
    );
}

fn upstream_log(env: &TestEnv) -> String {
    std::fs::read_to_string(env.path("upstream.log")).unwrap_or_default()
}

fn accepted_on(sshd: &Sshd) -> Vec<String> {
    sshd.log()
        .lines()
        .filter(|l| l.contains("Accepted publickey"))
        .map(String::from)
        .collect()
}

#[test]
fn a_process_holding_every_connection_it_may_does_not_stop_the_users_ssh() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let agent = CertshAgent::start(&env, &sock, &[]);
    // As a forwarded host would through the user's one ssh process: 200
    // connections from one process, all kept open.
    let held: Vec<UnixStream> = (0..200)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    ok(ssh_through(&env, &sock).args(["ssh.us-3.magento.cloud", "true"]));
    // The first 32 are served; the rest were closed by the agent.
    let served = |s: &UnixStream| {
        let mut s = s;
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        if s.write_all(&framed(&[11])).is_err() {
            return false;
        }
        let mut first = [0u8; 5];
        s.read_exact(&mut first).is_ok() && first[4] == 12
    };
    let answered: Vec<bool> = held.iter().map(served).collect();
    assert_eq!(answered.iter().filter(|a| **a).count(), 32, "{answered:?}");
    assert!(answered[..32].iter().all(|a| *a));
    let said: Vec<String> = agent
        .log()
        .lines()
        .filter(|l| l.contains("holds 32 connections"))
        .map(String::from)
        .collect();
    assert_eq!(
        said,
        vec![format!(
            "certsh: agent: process {} holds 32 connections; its next ones are closed until one ends",
            std::process::id()
        )]
    );
    drop(held);
    wait_until("the held connections are given back", || {
        let (code, _, _) = list(&env, &sock);
        code == Some(0)
    });
}

#[test]
fn a_message_cut_short_by_a_silent_client_closes_its_connection_only() {
    let env = TestEnv::with_sshd();
    let sock = env.path("run/agent.sock");
    let _agent = CertshAgent::start(&env, &sock, &[]);
    let mut idle = Conversation::open(&sock);
    // The first 5 bytes of a 9-byte message, and then nothing: never the
    // end of the stream, which would end the connection anyway.
    let mut stalled = UnixStream::connect(&sock).unwrap();
    stalled.write_all(&[0, 0, 0, 5, 11]).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut rest = vec![];
    let closed = stalled.read_to_end(&mut rest);
    assert!(
        matches!(closed, Ok(0)),
        "closed by the agent without an answer: {closed:?} {rest:?}"
    );
    // A connection idle between messages is not closed.
    assert_eq!(idle.keys().len(), 1);
}

#[test]
fn a_symlinked_socket_folder_is_refused() {
    let env = TestEnv::with_sshd();
    let real = env.path("real-run");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&real, env.path("run")).unwrap();
    Test::certsh(
        &env,
        [
            std::ffi::OsString::from("agent"),
            "--socket".into(),
            env.path("run/agent.sock").into(),
        ],
    )
        .status(1)
        .stderr(
            "certsh: the socket's folder [ROOT]/run is a symlink; the agent does not follow it \
             (give the folder it leads to, or give a folder of your own: certsh agent --socket PATH)\n",
        )
        .run();
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    // The folder it leads to is taken as it is.
    let _agent = CertshAgent::start(&env, &real.join("agent.sock"), &[]);
}
