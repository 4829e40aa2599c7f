//! certsh under faults: killed processes, damaged files, unsafe folders,
//! full and read-only disks, hostile networks and clocks. Each ends in a
//! working connection or one clear line, never a hang or a panic. Issue #5.

mod support;

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
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
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
    child.kill().unwrap();
    child.wait().unwrap();
    env.certifier.set_fault(Fault::None);
    let started = Instant::now();
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn leftovers_of_a_killed_process_are_ignored() {
    let env = TestEnv::with_sshd();
    ok(env.certsh(["load"]));
    let dir = env.state_dir();
    let generation = current_generation(&env);
    fs::write(
        generation.join(".tmp-half"),
        "ssh-ed25519-cert-v01@openssh.com AAAA",
    )
    .unwrap();
    std::os::unix::fs::symlink("gen-1-deadbeef", dir.join(".current-12345678")).unwrap();
    fs::create_dir(dir.join("gen-1-deadbeef")).unwrap();
    fs::write(dir.join("gen-1-deadbeef/id_ed25519"), "-----BEGIN OPENSSH").unwrap();
    ok(env.command_ssh(["ssh.us-3.magento.cloud", "true"]));
    ok(env.certsh(["load", "--refresh"]));
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
    let started = Instant::now();
    let p = fails(env.certsh(["ssh", "git.us-3.magento.cloud", "true"]), 255);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(6) && took < Duration::from_secs(15),
        "{took:?}"
    );
    assert_eq!(
        p.stderr,
        format!(
            "certsh: another certsh process has held {}/lock for 7 s (try again; if it persists, look for a hung certsh process)\n",
            dir.display()
        )
    );
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
    assert!(p.stdout.contains("Valid until"), "{}", p.stdout);
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
    assert_eq!(
        p.stderr,
        format!(
            "certsh: warning: {} was open to other users (mode 755); made it private (700)\n",
            dir.display()
        )
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
    let p = fails(env.certsh(["ssh", "git.us-3.magento.cloud", "true"]), 255);
    assert_eq!(
        p.stderr,
        format!(
            "certsh: {} is not a folder owned by you (uid {}) (remove it, or set TMPDIR to a private folder)\n",
            parent.display(),
            uid()
        )
    );
    assert!(
        files_below(&elsewhere).is_empty(),
        "nothing written through the link"
    );
    assert!(env.certifier.requests().is_empty());
}

#[test]
#[cfg_attr(
    target_os = "macos",
    ignore = "needs root to chown (the macOS runner's user is not root)"
)]
fn a_temp_folder_planted_by_another_user_is_refused() {
    require_root("create a folder owned by another user");
    let (env, parent) = foreign_home();
    fs::create_dir(&parent).unwrap();
    fs::set_permissions(&parent, fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(&parent, Some(1), Some(1)).unwrap();
    let p = fails(env.certsh(["ssh", "git.us-3.magento.cloud", "true"]), 255);
    assert!(
        p.stderr.contains("is not a folder owned by you"),
        "{}",
        p.stderr
    );
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
#[cfg_attr(target_os = "macos", ignore = "mounts a Linux tmpfs as root")]
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
    assert!(p.stderr.starts_with("certsh: cannot "), "{}", p.stderr);
    assert!(p.stderr.contains("No space left on device"), "{}", p.stderr);
    assert_eq!(p.stderr.lines().count(), 1, "{}", p.stderr);
    // The certificate still valid (inside the margin) carries the connection.
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "connected"]));
    assert_eq!(p.stdout, "connected\n");
    assert!(
        p.stderr.contains("using the current certificate"),
        "{}",
        p.stderr
    );
}

#[test]
#[cfg_attr(target_os = "macos", ignore = "mounts a Linux tmpfs as root")]
fn a_read_only_home_keeps_a_valid_certificate_in_use() {
    let env = TestEnv::with_sshd();
    let mount = Mount::tmpfs(&env.home(), "1m");
    ok(env.certsh(["load"]));
    mount.remount_read_only();
    let p = ok(env.command_ssh(["ssh.us-3.magento.cloud", "echo", "connected"]));
    assert_eq!(p.stdout, "connected\n");
    assert_eq!(
        env.certifier.sign_requests(),
        1,
        "the valid certificate was used"
    );
}

#[test]
fn a_certificate_that_is_not_yet_valid_is_refused_naming_the_clock() {
    let env = TestEnv::with_sshd();
    env.certifier.set_fault(Fault::NotYetValid);
    let p = fails(env.command_ssh(["ssh.us-3.magento.cloud", "true"]), 255);
    assert!(
        p.stderr.contains("returned a certificate that is not valid for another 1h 00m (check this computer's clock)")
            || p.stderr.contains("returned a certificate that is not valid for another 59m 59s (check this computer's clock)"),
        "{}",
        p.stderr
    );
}

#[test]
fn a_redirect_is_not_followed_and_the_other_host_sees_nothing() {
    let env = TestEnv::with_sshd();
    let other = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let port = other.local_addr().unwrap().port();
    env.certifier.set_fault(Fault::RedirectToPort(port));
    let p = fails(env.command_ssh(["ssh.us-3.magento.cloud", "true"]), 255);
    assert_eq!(
        p.stderr,
        format!(
            "certsh: certifier {}/ssh answered 302 with a redirect to http://127.0.0.2:{port}/ssh, which certsh does not follow (check the URL in config.yaml or the environment)\n",
            env.certifier.url()
        )
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
            "certsh: certifier {}/ssh answered 200 without a certificate (the certificate in use was kept; try again later)\n",
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
    assert!(
        p.stdout.contains("  Principals:  ok, evil?]0;pwned??[2J\n"),
        "{}",
        p.stdout
    );
}

#[test]
fn https_proxy_is_honoured_for_remote_hosts() {
    let mut env = TestEnv::new();
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (mut s, _) = proxy.accept().unwrap();
        let mut buf = [0u8; 1024];
        let n = std::io::Read::read(&mut s, &mut buf).unwrap();
        let _ = std::io::Write::write_all(
            &mut s,
            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n",
        );
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    });
    env.set(
        "MAGENTO_CLOUD_CLI_API_AUTH_URL",
        "https://auth.certsh-test.invalid",
    )
    .set("HTTPS_PROXY", format!("http://127.0.0.1:{port}"));
    let p = fails(env.certsh(["load"]), 1);
    assert_eq!(
        seen.join().unwrap(),
        "CONNECT auth.certsh-test.invalid:443 HTTP/1.1"
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
    // A proxy that is not there: using it would fail.
    env.set("HTTPS_PROXY", "http://127.0.0.1:9")
        .set("ALL_PROXY", "http://127.0.0.1:9");
    ok(env.certsh(["load"]));
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
    assert!(
        p.stderr.starts_with(&format!(
            "certsh: cannot reach the auth server https://127.0.0.1:{}/oauth2/token: ",
            tls.port
        )),
        "{}",
        p.stderr
    );
    assert!(p.stderr.contains("UnknownIssuer"), "{}", p.stderr);
    assert!(p.stderr.ends_with("(the server's TLS certificate is not trusted; behind a TLS-inspecting proxy, set SSL_CERT_FILE to its CA bundle)\n"), "{}", p.stderr);
    // Trusting the test CA gets past TLS: openssl's toy server then does not
    // answer a POST, which certsh reports once its timeout passes.
    env.set("SSL_CERT_FILE", &tls.ca)
        .set("CERTSH_HTTP_TIMEOUT", "2");
    let p = fails(env.certsh(["load"]), 1);
    assert_eq!(
        p.stderr,
        format!(
            "certsh: auth server https://127.0.0.1:{}/oauth2/token did not answer within 2 s (check the network, or try again later)\n",
            tls.port
        )
    );
}
