//! A long-running test bed for demos and benchmarks: the test certifier and a
//! real sshd (with a bare git repository to clone), as the integration tests
//! use them, for shell scripts to drive.
//!
//! ```text
//! cargo run --example testbed -- DIR [--validity SECS] [--slow-ms MS] [--serve FOLDER] [--until-killed]
//! ```
//!
//! It writes `DIR/env.sh` (`export` lines; `. DIR/env.sh` in a script) and
//! then prints `ready` on stdout. It serves until its stdin reaches EOF (or,
//! with `--until-killed`, until it is killed: a script that starts it in the
//! background with `&` gives it /dev/null as stdin, which is EOF at once).
//! Being killed is fine: sshd's watchdog stops sshd when this process dies.
//!
//! While it runs, `DIR/counters.env` holds the certifier's request counters
//! (`CERTSH_TEST_SIGN_REQUESTS`, `CERTSH_TEST_TOKEN_REQUESTS`), refreshed
//! every 20 ms, so a benchmark can tell how many certificates were signed.
//!
//! Options: `--validity SECS` sets the certificate lifetime; `--slow-ms MS`
//! delays every signing, to stand in for a distant certifier; `--serve FOLDER`
//! also serves FOLDER (release files from scripts/dist.sh) over HTTP on
//! 127.0.0.1, at `CERTSH_TEST_DOWNLOAD_URL`, for install.sh to download from.

#[path = "../tests/support/certifier.rs"]
mod certifier;
#[path = "../tests/support/files.rs"]
#[allow(dead_code)]
mod files;
#[path = "../tests/support/sshd.rs"]
mod sshd;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use certifier::{Certifier, Fault};
use sshd::Sshd;

/// The host name scripts should connect to (mapped to the sshd by the
/// generated ssh_config).
const HOST: &str = "git.us-3.magento.cloud";

struct Options {
    dir: PathBuf,
    validity: Option<u64>,
    slow_ms: Option<u64>,
    serve: Option<PathBuf>,
    until_killed: bool,
}

fn main() {
    // Print errors plainly: anyhow's Debug output would add a backtrace
    // whenever RUST_BACKTRACE is set, burying a usage message.
    if let Err(e) = run() {
        eprintln!("testbed: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> Result<()> {
    let options = parse_args(std::env::args().skip(1))?;
    fs::create_dir_all(&options.dir)
        .with_context(|| format!("create {}", options.dir.display()))?;
    let dir = fs::canonicalize(&options.dir)?;

    let certifier = Arc::new(Certifier::start());
    if let Some(secs) = options.validity {
        certifier.set_validity(secs);
    }
    if let Some(ms) = options.slow_ms {
        certifier.set_fault(Fault::SlowMs(ms));
    }

    let sshd_dir = dir.join("sshd");
    fs::create_dir_all(&sshd_dir)?;
    let sshd = Sshd::start(
        &sshd_dir,
        &certifier.ca_public_key(),
        &[certifier::DEFAULT_PRINCIPAL],
    );
    let repo_path = dir.join("repo.git");
    if repo_path.exists() {
        // A DIR reused from an earlier run: start from a fresh repository.
        fs::remove_dir_all(&repo_path)?;
    }
    let repo = sshd::bare_repo(&dir);

    let files = match &options.serve {
        Some(folder) => Some(files::FileServer::serve(
            &fs::canonicalize(folder).with_context(|| format!("serve {}", folder.display()))?,
        )),
        None => None,
    };
    let counters_path = dir.join("counters.env");
    let mut env = env_sh(&dir, &certifier, &sshd, &repo, &counters_path);
    if let Some(files) = &files {
        env.push_str(&format!(
            "export CERTSH_TEST_DOWNLOAD_URL={}\n",
            shell_quote(&files.url())
        ));
    }
    // Write-then-rename, so a script that polls for env.sh never reads half
    // of it.
    write_atomically(&dir.join("env.sh"), &env)?;

    let stop = Arc::new(AtomicBool::new(false));
    let counters_thread = {
        let certifier = Arc::clone(&certifier);
        let stop = Arc::clone(&stop);
        thread::spawn(move || publish_counters(&certifier, &counters_path, &stop))
    };

    eprintln!(
        "testbed: certifier {} (CA {}), sshd 127.0.0.1:{} (pid {}), repo {}",
        certifier.url(),
        certifier.ca_public_key(),
        sshd.port(),
        sshd.pid(),
        repo.display()
    );
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);

    if options.until_killed {
        loop {
            thread::park();
        }
    }
    // Serve until EOF on stdin; the input itself is ignored.
    let mut sink = [0u8; 4096];
    let mut stdin = io::stdin().lock();
    while stdin.read(&mut sink).is_ok_and(|n| n > 0) {}

    stop.store(true, Ordering::SeqCst);
    let _ = counters_thread.join();
    eprintln!(
        "testbed: stopping after {} token and {} sign requests",
        certifier.token_requests(),
        certifier.sign_requests()
    );
    drop(sshd);
    Ok(())
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let usage =
        "usage: testbed DIR [--validity SECS] [--slow-ms MS] [--serve FOLDER] [--until-killed]";
    let mut dir = None;
    let mut options = Options {
        dir: PathBuf::new(),
        validity: None,
        slow_ms: None,
        serve: None,
        until_killed: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--validity" => options.validity = Some(number(args.next(), "--validity")?),
            "--slow-ms" => options.slow_ms = Some(number(args.next(), "--slow-ms")?),
            "--serve" => {
                options.serve = Some(PathBuf::from(
                    args.next().context("--serve needs a folder")?,
                ))
            }
            "--until-killed" => options.until_killed = true,
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n{usage}"),
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => bail!("unexpected argument {arg:?}\n{usage}"),
        }
    }
    options.dir = dir.context(usage)?;
    Ok(options)
}

fn number(value: Option<String>, flag: &str) -> Result<u64> {
    let value = value.with_context(|| format!("{flag} needs a number"))?;
    value
        .parse()
        .with_context(|| format!("{flag} needs a number, not {value:?}"))
}

fn env_sh(dir: &Path, certifier: &Certifier, sshd: &Sshd, repo: &Path, counters: &Path) -> String {
    let vars: [(&str, String); 18] = [
        ("CERTSH_TEST_DIR", dir.display().to_string()),
        ("CERTSH_TEST_CERTIFIER_URL", certifier.url()),
        ("CERTSH_TEST_API_TOKEN", certifier::API_TOKEN.to_string()),
        (
            "CERTSH_TEST_CLIENT_ID",
            certifier::DEFAULT_CLIENT_ID.to_string(),
        ),
        ("CERTSH_TEST_USER_ID", certifier.user_id().to_string()),
        (
            "CERTSH_TEST_PRINCIPAL",
            certifier::DEFAULT_PRINCIPAL.to_string(),
        ),
        ("CERTSH_TEST_CA_PUBLIC_KEY", certifier.ca_public_key()),
        (
            "CERTSH_TEST_SSH_CONFIG",
            sshd.ssh_config().display().to_string(),
        ),
        (
            "CERTSH_TEST_KNOWN_HOSTS",
            sshd.known_hosts().display().to_string(),
        ),
        ("CERTSH_TEST_SSHD_PORT", sshd.port().to_string()),
        ("CERTSH_TEST_SSHD_PID", sshd.pid().to_string()),
        (
            "CERTSH_TEST_SSHD_LOG",
            sshd.dir().join("sshd.log").display().to_string(),
        ),
        ("CERTSH_TEST_USER", sshd.user().to_string()),
        ("CERTSH_TEST_HOST", HOST.to_string()),
        ("CERTSH_TEST_REPO", repo.display().to_string()),
        ("CERTSH_TEST_GIT_URL", format!("{HOST}:{}", repo.display())),
        ("CERTSH_TEST_COUNTERS", counters.display().to_string()),
        ("CERTSH_TEST_TESTBED_PID", std::process::id().to_string()),
    ];
    let mut out = String::from("# Written by examples/testbed.rs; source it with `. env.sh`.\n");
    for (name, value) in vars {
        out.push_str(&format!("export {name}={}\n", shell_quote(&value)));
    }
    out
}

/// Single-quotes a value for sh: nothing inside single quotes is special
/// except the quote itself.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents).with_context(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// Keeps `counters.env` equal to the certifier's counters until `stop`.
fn publish_counters(certifier: &Certifier, path: &Path, stop: &AtomicBool) {
    let mut last = None;
    loop {
        let now = (certifier.token_requests(), certifier.sign_requests());
        if last != Some(now) {
            let text = format!(
                "CERTSH_TEST_TOKEN_REQUESTS={}\nCERTSH_TEST_SIGN_REQUESTS={}\n",
                now.0, now.1
            );
            if write_atomically(path, &text).is_ok() {
                last = Some(now);
            }
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
