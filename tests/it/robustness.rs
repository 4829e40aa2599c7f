//! certsh under faults: killed processes, damaged files, unsafe folders,
//! full and read-only disks, hostile networks and clocks. Each ends in a
//! working connection or one clear line, never a hang or a panic.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

#[track_caller]
fn require_root(what: &str) {
    assert_eq!(uid(), 0, "this test needs root to {what} (CI runs as root)");
}

fn current_generation(env: &TestEnv) -> PathBuf {
    let dir = env.state_dir();
    dir.join(fs::read_link(dir.join("current")).unwrap())
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    // A bound only against a hang: it says nothing about speed.
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_refresh_killed_while_holding_the_lock_does_not_block_the_next() {
    let env = TestEnv::with_sshd();
    env.certifier.set_fault(Fault::Hang);
    let mut child: Child = env
        .std_command(certsh_bin())
        .arg("load")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // It holds the lock and waits on the certifier.
    wait_for("the signing request", || env.certifier.sign_requests() == 1);
    let lock = fs::OpenOptions::new()
        .write(true)
        .open(env.state_dir().join("lock"))
        .unwrap();
    assert!(lock.try_lock().is_err(), "the refresh holds the lock");
    child.kill().unwrap();
    child.wait().unwrap();
    // The moment the process is gone, the lock is free: nothing to wait out.
    lock.try_lock()
        .expect("the lock is free once its holder is killed");
    lock.unlock().unwrap();
    env.certifier.set_fault(Fault::None);
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
    assert_eq!(p.stderr, "", "nothing waits for a lock");
    assert_eq!(env.certifier.sign_requests(), 2);
}

/// Sets the modification time of `path` (not following a symlink) to
/// `secs` seconds ago.
fn age(path: &Path, secs: u64) {
    let when = unix_now() - secs;
    let st = std::process::Command::new("touch")
        .args(["-h", "-d", &format!("@{when}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "touch {}", path.display());
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn leftovers_of_a_killed_process_are_ignored() {
    let mut env = TestEnv::with_sshd();
    ok(env.certsh(["load"]));
    let dir = env.state_dir();
    let generation = current_generation(&env);
    // What a process killed half-way leaves: a temporary file beside the
    // certificate, a temporary link, a temporary token cache, and a
    // generation with only half a key. Two hours old, so past the cleanup's
    // hour.
    fs::write(
        generation.join(".tmp-half"),
        "ssh-ed25519-cert-v01@openssh.com AAAA",
    )
    .unwrap();
    let old = [
        dir.join(".current-12345678"),
        dir.join(".tmp-token"),
        dir.join("gen-1-deadbeef"),
    ];
    std::os::unix::fs::symlink("gen-1-deadbeef", &old[0]).unwrap();
    fs::write(&old[1], "{\"access_token\": \"half").unwrap();
    fs::create_dir(&old[2]).unwrap();
    fs::write(old[2].join("id_ed25519"), "-----BEGIN OPENSSH").unwrap();
    for p in &old {
        age(p, 7200);
    }
    // A temporary file of a process that is still writing it: recent.
    let fresh = dir.join(".tmp-busy");
    fs::write(&fresh, "being written").unwrap();

    // Ignored: the shim uses the current generation.
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
    ok(env.certsh(["load", "--refresh"]));
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
    // Cleaned up: publishing a new key removes what is over an hour old.
    // The generation it replaces was last written two hours ago, but it
    // was replaced only now: it stays for the hour after that.
    age(&generation, 7200);
    env.set("MAGENTO_CLOUD_CLI_SSH_CERT_KEY_TTL", "-1");
    ok(env.certsh(["load", "--refresh"]));
    assert_ne!(current_generation(&env), generation, "a new key");
    for p in &old {
        assert!(fs::symlink_metadata(p).is_err(), "{} was left", p.display());
    }
    assert!(fresh.exists(), "a recent temporary file was removed");
    assert!(
        generation.exists(),
        "the generation just replaced stays for ssh processes still reading it"
    );
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
}

#[test]
fn waiting_for_the_lock_is_bounded_with_a_clear_message() {
    let mut env = TestEnv::new();
    env.set("CERTSH_HTTP_TIMEOUT", "1");
    let dir = env.state_dir();
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .unwrap();
    lock.lock().unwrap();
    // The bound is certsh's own deadline (twice the request timeout plus
    // 5 s), which the message states; the test only checks that the wait
    // ends, and that it was not given up at once.
    let started = Instant::now();
    let p = fails(env.certsh(["ssh", "git.us-3.magento.cloud", "true"]), 255);
    assert!(started.elapsed() >= Duration::from_secs(7), "gave up early");
    assert_output(&env, &p.stderr, snapbox::file!["cases/lock_held.stderr"]);
    drop(lock);
}

/// What damaging one state file does: the next connection still works.
#[track_caller]
fn survives_damage(damage: impl Fn(&TestEnv), renews: bool) {
    let env = TestEnv::with_sshd();
    ok(env.certsh(["load"]));
    damage(&env);
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "still fine"]));
    assert_eq!(p.stdout, "still fine\n");
    assert!(!p.stderr.contains("panicked"), "{}", p.stderr);
    assert_eq!(env.certifier.sign_requests(), if renews { 2 } else { 1 });
    let p = ok(env.certsh(["status"]));
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/status_after_damage.stdout"],
    );
}

fn cert_file(env: &TestEnv) -> PathBuf {
    current_generation(env).join("id_ed25519-cert.pub")
}

fn key_file(env: &TestEnv) -> PathBuf {
    current_generation(env).join("id_ed25519")
}

fn truncate_half(path: &Path) {
    let bytes = fs::read(path).unwrap();
    fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn a_truncated_certificate_is_replaced() {
    survives_damage(|e| truncate_half(&cert_file(e)), true);
}

#[test]
fn an_empty_certificate_is_replaced() {
    survives_damage(|e| fs::write(cert_file(e), "").unwrap(), true);
}

#[test]
fn a_garbage_certificate_file_is_replaced() {
    survives_damage(
        |e| fs::write(cert_file(e), "\0\u{1b}[2Jnonsense\n").unwrap(),
        true,
    );
}

#[test]
fn a_truncated_key_is_replaced() {
    survives_damage(|e| truncate_half(&key_file(e)), true);
}

#[test]
fn an_empty_key_is_replaced() {
    survives_damage(|e| fs::write(key_file(e), "").unwrap(), true);
}

#[test]
fn a_key_readable_by_others_is_replaced() {
    survives_damage(
        |e| fs::set_permissions(key_file(e), fs::Permissions::from_mode(0o644)).unwrap(),
        true,
    );
}

#[test]
fn a_garbage_token_cache_is_replaced() {
    let env = TestEnv::with_sshd();
    ok(env.certsh(["load"]));
    fs::write(env.state_dir().join("token.json"), "{\"access_token\": 12").unwrap();
    ok(env.certsh(["load", "--refresh"]));
    assert_eq!(
        env.certifier.token_requests(),
        2,
        "a new access token was fetched"
    );
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
}

#[test]
fn a_state_folder_open_to_others_is_made_private_with_a_message() {
    let env = TestEnv::new();
    ok(env.certsh(["load"]));
    let dir = env.state_dir();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let p = ok(env.certsh(["load", "--refresh"]));
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/state_folder_made_private.stderr"],
    );
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

/// A world whose HOME does not exist, so that the state goes to TMPDIR.
fn foreign_home() -> (TestEnv, PathBuf) {
    let mut env = TestEnv::new();
    env.set("HOME", "/nonexistent/certsh-test-home");
    let fallback_parent = env.path(&format!("tmp/certsh-{}", uid()));
    (env, fallback_parent)
}

#[test]
fn a_planted_symlink_in_the_temp_dir_is_refused() {
    let (env, parent) = foreign_home();
    let elsewhere = env.path("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &parent).unwrap();
    // The message: tests/cases/temp_folder_not_yours.stderr.
    fails(env.certsh(["ssh", "git.us-3.magento.cloud", "true"]), 255);
    assert!(
        files_below(&elsewhere).is_empty(),
        "nothing written through the link"
    );
    assert!(env.certifier.requests().is_empty());
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: chown to another user needs root (scripts/test --all)"
)]
fn a_temp_folder_planted_by_another_user_is_refused() {
    require_root("create a folder owned by another user");
    let (env, parent) = foreign_home();
    fs::create_dir(&parent).unwrap();
    fs::set_permissions(&parent, fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(&parent, Some(1), Some(1)).unwrap();
    // The message: tests/cases/temp_folder_not_yours.stderr.
    fails(env.certsh(["ssh", "git.us-3.magento.cloud", "true"]), 255);
    assert!(files_below(&parent).is_empty());
}

/// A small tmpfs mounted at HOME, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Mount {
        require_root("mount a tmpfs");
        let st = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount failed");
        Mount(at.to_path_buf())
    }

    fn remount_read_only(&self) {
        let st = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: mounts a tmpfs as root (scripts/test --all)"
)]
fn a_full_disk_gives_a_clear_error_and_keeps_a_valid_certificate_in_use() {
    let env = TestEnv::with_sshd();
    let _mount = Mount::tmpfs(&env.home(), "256k");
    env.certifier.set_validity(100);
    ok(env.certsh(["load"]));
    // Fill the disk.
    let filler = env.home().join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let p = fails(env.certsh(["load", "--refresh"]), 1);
    assert_output(&env, &p.stderr, snapbox::file!["cases/disk_full.stderr"]);
    // The certificate still valid (inside the margin) carries the connection.
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "connected"]));
    assert_eq!(p.stdout, "connected\n");
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/disk_full_warning.stderr"],
    );
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: mounts a tmpfs as root (scripts/test --all)"
)]
fn a_read_only_home_keeps_a_valid_certificate_in_use() {
    let mut env = TestEnv::with_sshd();
    let mount = Mount::tmpfs(&env.home(), "1m");
    // The temp dir on the same file system: no fallback to write to either.
    let tmp = env.home().join("tmp");
    fs::create_dir(&tmp).unwrap();
    env.set("TMPDIR", &tmp);
    env.certifier.set_validity(200);
    ok(env.certsh(["load"]));
    mount.remount_read_only();
    // Inside the renewal margin: the shim tries to renew, cannot write,
    // says so, and connects with the certificate it has.
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "connected"]));
    assert_eq!(p.stdout, "connected\n");
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/read_only_home_warning.stderr"],
    );
    // Asked outright, the renewal fails with one clear line.
    let p = fails(env.certsh(["load", "--refresh"]), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/read_only_home.stderr"],
    );
    // A certificate outside the margin is used without trying at all.
    env.set("CERTSH_REFRESH_MARGIN", "120");
    let before = env.certifier.requests().len();
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "connected"]));
    assert_eq!(p.stdout, "connected\n");
    assert_eq!(p.stderr, "");
    assert_eq!(env.certifier.requests().len(), before, "nothing was asked");
}

#[test]
fn a_certificate_that_is_not_yet_valid_is_refused_naming_the_clock() {
    let env = TestEnv::with_sshd();
    env.certifier.set_fault(Fault::NotYetValid);
    Test::ssh(&env, ["ssh.us-3.magento.cloud", "true"])
        .status(255)
        .stderr(snapbox::file!["cases/certifier_not_yet_valid.stderr"])
        .run();
}

#[test]
#[cfg_attr(
    not(feature = "test-all"),
    ignore = "tier all: mounts a tmpfs as root (scripts/test --all)"
)]
fn a_read_only_home_renews_into_the_temp_dir_once() {
    let env = TestEnv::with_sshd();
    let mount = Mount::tmpfs(&env.home(), "1m");
    env.certifier.set_validity(200);
    ok(env.certsh(["load"]));
    env.certifier.set_validity(3600);
    mount.remount_read_only();
    // Due for renewal, and the temp dir can be written: the new certificate
    // goes there, and later connections use it without asking again.
    for _ in 0..3 {
        let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "connected"]));
        assert_eq!(p.stdout, "connected\n");
        assert_eq!(p.stderr, "");
    }
    assert_eq!(env.certifier.sign_requests(), 2, "one renewal, then reused");
    let fallback = env.path(&format!("tmp/certsh-{}/magento/current", uid()));
    assert!(
        fs::symlink_metadata(&fallback).is_ok(),
        "renewed in the temp dir"
    );
}

#[test]
fn a_cached_certificate_that_is_not_yet_valid_is_renewed() {
    let env = TestEnv::with_sshd();
    ok(env.certsh(["load"]));
    // Replace the cached certificate with one for the same key and the same
    // credential that starts in an hour (a clock set back, say).
    let cert = cert_file(&env);
    let line = fs::read_to_string(&cert).unwrap();
    let comment = line
        .split_whitespace()
        .nth(2)
        .expect("a comment")
        .to_string();
    let key =
        ssh_key::PublicKey::read_openssh_file(&current_generation(&env).join("id_ed25519.pub"))
            .unwrap();
    let now = unix_now();
    let later = env.certifier.sign_between(&key, now + 3600, now + 7200);
    fs::write(
        &cert,
        format!("{} {comment}\n", later.to_openssh().unwrap()),
    )
    .unwrap();
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "connected"]));
    assert_eq!(p.stdout, "connected\n");
    assert_eq!(env.certifier.sign_requests(), 2, "it was renewed");
    let renewed = ssh_key::Certificate::read_file(&cert_file(&env)).unwrap();
    assert!(renewed.valid_after() <= unix_now(), "valid now");
}

#[test]
fn a_redirect_is_not_followed_and_the_other_host_sees_nothing() {
    let env = TestEnv::with_sshd();
    let other = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let port = other.local_addr().unwrap().port();
    env.certifier.set_fault(Fault::RedirectToPort(port));
    let p = fails(env.command_ssh(["ssh.us-3.magento.cloud", "true"]), 255);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/certifier_redirect.stderr"],
    );
    assert!(other.accept().is_err(), "the other host was contacted");
}

#[test]
fn an_oversized_answer_is_refused() {
    let env = TestEnv::with_sshd();
    env.certifier.set_fault(Fault::Oversized);
    let p = fails(env.command_ssh(["ssh.us-3.magento.cloud", "true"]), 255);
    assert_eq!(
        p.stderr,
        format!(
            "certsh: the answer from the certifier {}/ssh is larger than 1024 KiB (check the URL; this is not the API)\n",
            env.certifier.url()
        )
    );
}

#[test]
fn a_non_json_answer_is_refused() {
    let env = TestEnv::with_sshd();
    env.certifier.set_fault(Fault::NotJson);
    let p = fails(env.command_ssh(["ssh.us-3.magento.cloud", "true"]), 255);
    assert_eq!(
        p.stderr,
        format!(
            "certsh: certifier {}/ssh answered 200 without a certificate (the certificate in use \
             was kept; this is not the certifier: check the certifier URL in config.yaml or the \
             environment)\n",
            env.certifier.url()
        )
    );
}

#[test]
fn hostile_certificate_fields_are_printed_harmlessly() {
    let env = TestEnv::new();
    env.certifier
        .set_principals(vec!["ok", "evil\u{1b}]0;pwned\u{7}\u{1b}[2J"]);
    let p = ok(env.certsh(["load"]));
    assert!(
        !p.stdout.replace('\n', "").chars().any(char::is_control),
        "{:?}",
        p.stdout
    );
    assert_output(
        &env,
        &p.stdout,
        snapbox::file!["cases/load_hostile_principals.stdout"],
    );
}

/// A listener that records the first line of what reaches it, if anything,
/// until told to stop: a proxy, or a host that must see nothing.
struct Listener {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Option<String>>,
}

impl Listener {
    /// Answers whatever arrives with `answer`.
    fn start(answer: &'static [u8]) -> Listener {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            loop {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        let mut buf = [0u8; 1024];
                        let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
                        let _ = std::io::Write::write_all(&mut s, answer);
                        let first = String::from_utf8_lossy(&buf[..n]);
                        return Some(first.lines().next().unwrap_or("").to_string());
                    }
                    // Checked after a last look at the queue, so that a
                    // connection made before the stop is always seen.
                    Err(_) if stopped.load(Ordering::SeqCst) => return None,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Listener { port, stop, thread }
    }

    /// What reached it (call once the client has finished).
    fn seen(self) -> Option<String> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

#[test]
fn https_proxy_is_honoured_for_remote_hosts() {
    let mut env = TestEnv::new();
    let proxy = Listener::start(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        "https://auth.certsh-test.invalid",
    )
    .set("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port))
    .set("CERTSH_HTTP_TIMEOUT", "5");
    // certsh ends either way: through the proxy (403) or without it (the
    // name does not resolve); the proxy is asked only after it has.
    let p = fails(env.certsh(["load"]), 1);
    assert_eq!(
        proxy.seen().as_deref(),
        Some("CONNECT auth.certsh-test.invalid:443 HTTP/1.1"),
        "the proxy was not used: {}",
        p.stderr
    );
    assert!(
        p.stderr.starts_with(
            "certsh: cannot reach the auth server https://auth.certsh-test.invalid/oauth2/token: "
        ),
        "{}",
        p.stderr
    );
    assert_no_secrets(&env, &p.stderr);
}

#[test]
fn loopback_is_never_sent_through_the_proxy() {
    let mut env = TestEnv::new();
    let dir = env.path("tls");
    fs::create_dir(&dir).unwrap();
    // An https:// server on loopback (the plain http:// test certifier would
    // never be proxied anyway), behind a proxy that must see nothing.
    let tls = TlsServer::start(&dir);
    let proxy = Listener::start(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        format!("https://127.0.0.1:{}", tls.port),
    )
    .set("SSL_CERT_FILE", &tls.ca)
    .set("CERTSH_HTTP_TIMEOUT", "2")
    .set("HTTPS_PROXY", &proxy_url)
    .set("ALL_PROXY", &proxy_url);
    // Straight to the TLS server, which does not answer a POST: certsh
    // got past TLS, so it spoke to the server itself.
    let p = fails(env.certsh(["load"]), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/auth_server_timeout.stderr"],
    );
    assert_eq!(proxy.seen(), None, "loopback went through the proxy");
}

/// A TLS server on loopback with a certificate from a CA of the test's own.
struct TlsServer {
    child: Child,
    port: u16,
    ca: PathBuf,
}

impl TlsServer {
    fn start(dir: &Path) -> TlsServer {
        let sh = |script: &str| {
            let st = std::process::Command::new("sh")
                .arg("-ec")
                .arg(script)
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "openssl failed: {script}");
        };
        sh(
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=certsh-test-ca",
        );
        sh("openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1");
        sh(
            "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf && \
            openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-cert", "srv.pem", "-key", "srv.key"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("openssl s_server", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        TlsServer {
            child,
            port,
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tls_with_an_unknown_ca_is_refused_and_ssl_cert_file_is_honoured() {
    let mut env = TestEnv::new();
    let dir = env.path("tls");
    fs::create_dir(&dir).unwrap();
    let tls = TlsServer::start(&dir);
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        format!("https://127.0.0.1:{}", tls.port),
    );
    let p = fails(env.certsh(["load"]), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/tls_unknown_issuer.stderr"],
    );
    // Trusting the test CA gets past TLS: openssl's toy server then does not
    // answer a POST, which certsh reports once its timeout passes.
    env.set("SSL_CERT_FILE", &tls.ca)
        .set("CERTSH_HTTP_TIMEOUT", "2");
    let p = fails(env.certsh(["load"]), 1);
    assert_output(
        &env,
        &p.stderr,
        snapbox::file!["cases/auth_server_timeout.stderr"],
    );
}
