//! certsh's stress run, kept out of `cargo test` (it takes about a minute
//! and loads the machine): `scripts/stress.sh`.
//!
//! 1. 64 git processes fetch in parallel, over and over, for 20 s, while
//!    certificates live only 5 s past the renewal margin: renewals happen in
//!    the middle of the load. Every git must succeed, and the certifier must
//!    sign about once per window, not once per process.
//! 2. 1,000 sequential hot-path runs: no certifier request, no new file in
//!    the state folder, and the real ssh inherits exactly the descriptors it
//!    would without certsh (nothing leaks through exec).

#[path = "../tests/support/certifier.rs"]
mod certifier;
#[path = "../tests/support/sshd.rs"]
mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use certifier::Certifier;

fn env_for(cmd: &mut Command, home: &Path, certifier: &Certifier) {
    let url = certifier.url();
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("TMPDIR", home.join("tmp"))
        .env("MAGENTO_CLOUD_CLI_TOKEN", certifier::API_TOKEN)
        .env("MAGENTO_CLOUD_CLI_API_AUTH_URL", &url)
        .env("MAGENTO_CLOUD_CLI_API_CERTIFIER_URL", &url)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // The least margin: a 125 s certificate then serves 5 s.
        .env("CERTSH_REFRESH_MARGIN", "120");
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(files(&p));
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

fn main() {
    let certsh = std::fs::canonicalize(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/release/certsh".into()),
    )
    .expect("certsh binary");
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    // The shim program built beside certsh, under the name ssh.
    let shim = root.path().join("ssh");
    let program = certsh.with_file_name(format!("certsh-ssh{}", std::env::consts::EXE_SUFFIX));
    #[cfg(unix)]
    std::os::unix::fs::symlink(&program, &shim).unwrap();
    #[cfg(windows)]
    std::os::windows::fs::symlink_file(&program, &shim).unwrap();
    let certifier = Arc::new(Certifier::start());
    let bed = root.path().join("sshd");
    std::fs::create_dir(&bed).unwrap();
    let sshd = sshd::Sshd::start(
        &bed,
        &certifier.ca_public_key(),
        &[certifier::DEFAULT_PRINCIPAL],
    );
    let repo = sshd::bare_repo(&bed);
    let url = format!("git.us-3.magento.cloud:{}", repo.display());
    let ssh_cmd = format!("{} -F {}", shim.display(), sshd.ssh_config().display());

    // Each certificate serves 5 s past the 120 s renewal margin.
    let validity = 125;
    certifier.set_validity(validity);

    // One clone to fetch into, made before the clock starts.
    let mut clone = Command::new("git");
    env_for(&mut clone, &home, &certifier);
    clone
        .env("GIT_SSH_COMMAND", &ssh_cmd)
        .args(["clone", "-q", &url])
        .arg(root.path().join("clone"));
    assert!(clone.status().unwrap().success(), "first clone");

    // 1. Parallel fetches across renewals.
    let signed_before = certifier.sign_requests();
    let runs = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let duration = Duration::from_secs(20);
    let start = Instant::now();
    let mut latencies = vec![];
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (home, certifier, ssh_cmd, url) = (
                home.clone(),
                certifier.clone(),
                ssh_cmd.clone(),
                url.clone(),
            );
            let (runs, failures) = (runs.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut mine = vec![];
                while start.elapsed() < duration {
                    let mut git = Command::new("git");
                    env_for(&mut git, &home, &certifier);
                    git.env("GIT_SSH_COMMAND", &ssh_cmd)
                        .args(["ls-remote", "-q", &url])
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped());
                    let t = Instant::now();
                    let out = git.output().unwrap();
                    mine.push(t.elapsed());
                    runs.fetch_add(1, Ordering::Relaxed);
                    if !out.status.success() {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!(
                            "git failed: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        );
                    }
                }
                mine
            })
        })
        .collect();
    for w in workers {
        latencies.extend(w.join().unwrap());
    }
    latencies.sort();
    let signed = certifier.sign_requests() - signed_before;
    let windows = (duration.as_secs() / (validity - 120) + 1) as usize;
    println!(
        "64 parallel git ls-remote for {} s, certificates renewed every {} s: {} runs, {} failed, {} signatures (about {} windows), latency median {:.1} ms, p99 {:.1} ms",
        duration.as_secs(),
        validity - 120,
        runs.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        signed,
        windows,
        latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
        latencies[latencies.len() * 99 / 100].as_secs_f64() * 1000.0,
    );
    let mut ok = failures.load(Ordering::Relaxed) == 0;
    if signed > windows * 2 + 2 {
        println!("FAIL: {signed} signatures for {windows} renewal windows");
        ok = false;
    }

    // 2. 1,000 sequential hot-path runs.
    certifier.set_validity(3600);
    let mut load = Command::new(&certsh);
    env_for(&mut load, &home, &certifier);
    assert!(
        load.args(["load", "--refresh"])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let fd_report = root.path().join("count-fds");
    std::fs::write(&fd_report, "#!/bin/sh\nls /proc/self/fd | wc -l\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fd_report, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let count = |program: &Path| -> String {
        let mut c = Command::new(program);
        env_for(&mut c, &home, &certifier);
        c.env("CERTSH_REAL_SSH", &fd_report)
            .args(["abcdef7uyxabce@git.us-3.magento.cloud", "true"])
            .stdin(Stdio::null());
        let out = c.output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let baseline_fds = count(&fd_report);
    let state = home.join(".magento-cloud/certsh");
    let files_before = files(&state);
    let requests_before = certifier.requests().len();
    let first_fds = count(&shim);
    let t = Instant::now();
    for _ in 0..998 {
        count(&shim);
    }
    let last_fds = count(&shim);
    println!(
        "1,000 sequential hot-path runs in {:.2} s: {} certifier requests, files in the state folder {} -> {}, descriptors seen by ssh {} (first) {} (last), {} without certsh",
        t.elapsed().as_secs_f64(),
        certifier.requests().len() - requests_before,
        files_before.len(),
        files(&state).len(),
        first_fds,
        last_fds,
        baseline_fds
    );
    if certifier.requests().len() != requests_before
        || files(&state) != files_before
        || first_fds != baseline_fds
        || last_fds != baseline_fds
    {
        println!("FAIL: the hot path made a request, wrote a file or leaked a descriptor");
        ok = false;
    }
    drop(sshd);
    if !ok {
        std::process::exit(1);
    }
    println!("stress: all good");
}
