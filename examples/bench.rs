//! certsh's benchmark: hot path, out of scope, a certificate in its last
//! third with a slow certifier, cold path and a parallel cold start, each measured side by side with its baseline, on this machine.
//!
//! ```text
//! cargo build --release --example bench && target/release/examples/bench [target/release/certsh [OTHER-BUILD...]]
//! ```
//! (`scripts/bench.sh` does both.) With other builds of certsh (the musl
//! one), their hot path and exec floor (`examples/exec_floor` beside each
//! binary, built the same way) are measured in the same interleaved run. Runs are interleaved (baseline, certsh,
//! baseline, ...) so that a noisy neighbour slows both sides alike, and
//! medians are quoted. Everything talks to the test certifier on 127.0.0.1.

#[path = "../tests/support/certifier.rs"]
mod certifier;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use certifier::{Certifier, Fault};

const HOST: &str = "abcdef7uyxabce@git.us-3.magento.cloud";
const REMOTE: &str = "git-upload-pack 'abcdef7uyxabce.git'";

struct World {
    certsh: PathBuf,
    shim: PathBuf,
    home: PathBuf,
    certifier: Certifier,
    _root: tempfile::TempDir,
}

impl World {
    fn cmd(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        let url = self.certifier.url();
        c.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("TMPDIR", self.home.join("tmp"))
            .env("MAGENTO_CLOUD_CLI_TOKEN", certifier::API_TOKEN)
            .env("MAGENTO_CLOUD_CLI_API_AUTH_URL", &url)
            .env("MAGENTO_CLOUD_CLI_API_CERTIFIER_URL", &url)
            .env("CERTSH_REAL_SSH", "/bin/true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn state(&self) -> PathBuf {
        self.home.join(".magento-cloud/certsh")
    }
}

fn time(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let status = cmd.status().expect("runs");
    let d = t.elapsed();
    assert!(status.success(), "{cmd:?} failed");
    d
}

/// `count` token requests one after the other, each on a connection of its
/// own, as plain bytes over a `TcpStream`: the least a client can wait for
/// a server that answers after a delay.
fn bare_round_trips(certifier: &Certifier, count: usize) -> Duration {
    use base64::Engine;
    use std::io::{Read, Write};
    let addr = format!("127.0.0.1:{}", certifier.port());
    let body = format!("grant_type=api_token&api_token={}", certifier::API_TOKEN);
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:", certifier::DEFAULT_CLIENT_ID));
    let request = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let t = Instant::now();
    for _ in 0..count {
        let mut s = std::net::TcpStream::connect(&addr).expect("the certifier listens");
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    t.elapsed()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Interleaved runs of `base` and `ours`; prints medians and the difference.
fn side_by_side(
    label: &str,
    n: usize,
    base: &mut dyn FnMut() -> Duration,
    ours: &mut dyn FnMut() -> Duration,
) {
    for _ in 0..n / 10 {
        base();
        ours();
    }
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        a.push(base());
        b.push(ours());
    }
    let (ma, mb) = (median(&mut a), median(&mut b));
    let (pa, pb) = (pct(&mut a, 0.9), pct(&mut b, 0.9));
    println!(
        "{label:<34} baseline median {} (p90 {})  certsh median {} (p90 {})  added {}  ratio {:.2}",
        ms(ma),
        ms(pa),
        ms(mb),
        ms(pb),
        ms(mb.saturating_sub(ma)),
        mb.as_secs_f64() / ma.as_secs_f64()
    );
}

/// The minor page faults of this process's reaped children so far
/// (`cminflt` in `/proc/self/stat`): a run's faults are the difference
/// around it, the exec'd `/bin/true` included, as `perf stat` counts them.
fn child_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields = stat.rsplit_once(')').expect("comm").1;
    fields
        .split_whitespace()
        .nth(8)
        .and_then(|f| f.parse().ok())
        .expect("cminflt")
}

/// The hot path and exec floor of each build of certsh, interleaved in one
/// run (true, floor, hot path of the first build, floor, hot path of the
/// second, ...), so that the builds differ only in how they were built.
fn compare_builds(w: &World, builds: &[PathBuf], n: usize) {
    struct Build {
        label: String,
        size: u64,
        floor: PathBuf,
        shim: PathBuf,
        floors: Vec<Duration>,
        hots: Vec<Duration>,
        floor_faults: u64,
        hot_faults: u64,
    }
    let mut all: Vec<Build> = builds
        .iter()
        .enumerate()
        .map(|(i, certsh)| {
            let floor = certsh.with_file_name("examples").join("exec_floor");
            assert!(floor.exists(), "{} is not built", floor.display());
            let shim = shim_for(w, i, certsh);
            Build {
                label: build_label(certsh),
                size: std::fs::metadata(certsh).unwrap().len(),
                floor,
                shim,
                floors: Vec::with_capacity(n),
                hots: Vec::with_capacity(n),
                floor_faults: 0,
                hot_faults: 0,
            }
        })
        .collect();
    let t = Path::new("/bin/true");
    let mut base = Vec::with_capacity(n);
    for round in 0..n + n / 10 {
        let warm = round < n / 10;
        let d = time(w.cmd(t).args([HOST, REMOTE]));
        if !warm {
            base.push(d);
        }
        for b in &mut all {
            let faults = child_faults();
            let f = time(w.cmd(&b.floor).args([HOST, REMOTE]));
            let between = child_faults();
            let h = time(w.cmd(&b.shim).args([HOST, REMOTE]));
            if !warm {
                b.floors.push(f);
                b.hots.push(h);
                b.floor_faults += between - faults;
                b.hot_faults += child_faults() - between;
            }
        }
    }
    println!(
        "builds side by side, {n} interleaved rounds; /bin/true alone: median {}",
        ms(median(&mut base))
    );
    for b in &mut all {
        let (f, h) = (median(&mut b.floors), median(&mut b.hots));
        println!(
            "    {:<60} size {:.2} MiB  floor median {} ({} page faults)  hot path median {} ({} page faults)  hot/floor {:.3}",
            b.label,
            b.size as f64 / (1024.0 * 1024.0),
            ms(f),
            b.floor_faults / n as u64,
            ms(h),
            b.hot_faults / n as u64,
            h.as_secs_f64() / f.as_secs_f64()
        );
    }
}

fn main() {
    let builds: Vec<PathBuf> = std::env::args()
        .skip(1)
        .map(|p| std::fs::canonicalize(&p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    let certsh = match builds.first() {
        Some(c) => c.clone(),
        None => std::fs::canonicalize("target/release/certsh")
            .expect("certsh binary (build with --release)"),
    };
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    let shim = root.path().join("ssh");
    link(&certsh, &shim);
    let w = World {
        certsh,
        shim,
        home,
        certifier: Certifier::start(),
        _root: root,
    };
    let n = runs_from_env("BENCH_RUNS", 2000);
    println!("certsh benchmark: {n} interleaved runs per hot-path row, /bin/true as the real ssh");

    // The floor: any wrapper costs one more process and one more exec.
    let floor = w.certsh.with_file_name("examples").join("exec_floor");
    if floor.exists() {
        side_by_side(
            "floor (minimal Rust exec wrapper)",
            n,
            &mut || time(w.cmd(Path::new("/bin/true")).args([HOST, REMOTE])),
            &mut || time(w.cmd(&floor).args([HOST, REMOTE])),
        );
    }

    // Hot path: a valid certificate is cached.
    assert!(w.cmd(&w.certsh).arg("load").status().unwrap().success());
    let t = Path::new("/bin/true");
    side_by_side(
        "hot path (shim, in scope, cached)",
        n,
        &mut || time(w.cmd(t).args([HOST, REMOTE])),
        &mut || time(w.cmd(&w.shim).args([HOST, REMOTE])),
    );
    if builds.len() > 1 {
        compare_builds(&w, &builds, n);
    }
    side_by_side(
        "out of scope (shim, github.com)",
        n,
        &mut || time(w.cmd(t).args(["git@github.com", REMOTE])),
        &mut || time(w.cmd(&w.shim).args(["git@github.com", REMOTE])),
    );
    side_by_side(
        "git's -G probe (certsh ssh -G)",
        n / 4,
        &mut || time(w.cmd(t).args(["-G", HOST])),
        &mut || time(w.cmd(&w.certsh).args(["ssh", "-G", HOST])),
    );
    assert_eq!(
        w.certifier.sign_requests(),
        1,
        "the hot path made no request"
    );

    // The last share of the lifetime, with a certifier that takes 1 s:
    // renewal ahead on (`1`: every certificate is due) against the hot
    // path; the first connection starts one background renewal, the rest
    // find it started. The renewed certificate is due too, so a row that
    // outlasts a renewal starts another: one at a time, never one per
    // connection. Then the same without it (margin over the whole
    // lifetime): each connection waits for its own renewal.
    w.certifier.set_fault(Fault::SlowMs(1000));
    w.certifier.set_token_fault(Fault::SlowMs(1000));
    let before = w.certifier.sign_requests();
    side_by_side(
        "last third, certifier 1 s (background)",
        n / 4,
        &mut || time(w.cmd(&w.shim).args([HOST, REMOTE])),
        &mut || {
            time(
                w.cmd(&w.shim)
                    .args([HOST, REMOTE])
                    .env("CERTSH_RENEW_AHEAD", "1"),
            )
        },
    );
    // Let the one background renewal finish before counting.
    std::thread::sleep(Duration::from_millis(2500));
    println!(
        "    background renewals started: {}",
        w.certifier.sign_requests() - before
    );
    let mut waited = vec![];
    for _ in 0..5 {
        waited.push(time(
            w.cmd(&w.shim)
                .args([HOST, REMOTE])
                .env("CERTSH_RENEW_AHEAD", "0")
                .env("CERTSH_REFRESH_MARGIN", "864000"),
        ));
    }
    println!(
        "last third, certifier 1 s (foreground, renewal ahead off) median {} over 5 runs",
        ms(median(&mut waited))
    );
    // Cold with both endpoints 1 s away, for each build: two delays and
    // certsh's own work. Its baselines, interleaved with it: what the two
    // round trips cost a bare client on this machine (both sides wake from
    // a one-second sleep), and that build's exec floor, the one process
    // start and exec every connection has with or without certsh.
    let cold_builds = if builds.is_empty() {
        vec![w.certsh.clone()]
    } else {
        builds.clone()
    };
    let cold_runs = runs_from_env("BENCH_COLD_RUNS", 5);
    for (i, certsh) in cold_builds.iter().enumerate() {
        let shim = shim_for(&w, i, certsh);
        let floor = certsh.with_file_name("examples").join("exec_floor");
        let (mut cold, mut bare, mut floors) = (vec![], vec![], vec![]);
        for _ in 0..cold_runs {
            let _ = std::fs::remove_dir_all(w.state());
            cold.push(time(w.cmd(&shim).args([HOST, REMOTE])));
            bare.push(bare_round_trips(&w.certifier, 2));
            if floor.exists() {
                floors.push(time(w.cmd(&floor).args([HOST, REMOTE])));
            }
        }
        let (c, b) = (median(&mut cold), median(&mut bare));
        let f = if floors.is_empty() {
            Duration::ZERO
        } else {
            median(&mut floors)
        };
        println!(
            "cold path, token endpoint and certifier 1 s each, {}: median {} over {cold_runs} runs",
            build_label(certsh),
            ms(c)
        );
        println!(
            "    baselines: a bare client's 2 round trips to the same endpoint {}, exec floor {}; certsh's own: {} over the bare client, {} over both",
            ms(b),
            ms(f),
            ms(c.saturating_sub(b)),
            ms(c.saturating_sub(b + f))
        );
    }
    w.certifier.set_fault(Fault::None);
    w.certifier.set_token_fault(Fault::None);

    // Cold path: no state at all (new key, token exchange, signature).
    let cold_runs = 40;
    let mut cold = vec![];
    let mut phases: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for _ in 0..cold_runs {
        let _ = std::fs::remove_dir_all(w.state());
        let t0 = Instant::now();
        let out = w
            .cmd(&w.shim)
            .args([HOST, REMOTE])
            .env("CERTSH_LOG", "debug")
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        cold.push(t0.elapsed());
        assert!(out.status.success());
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            if let Some(rest) = line.strip_prefix("certsh: debug: phase ") {
                let name = rest.split(':').next().unwrap_or("?").to_string();
                let v: f64 = rest
                    .rsplit(" in ")
                    .next()
                    .and_then(|s| s.trim_end_matches(" ms").parse().ok())
                    .unwrap_or(0.0);
                phases.entry(name).or_default().push(v);
            }
        }
    }
    println!(
        "cold path (no state; loopback certifier) median {} over {cold_runs} runs",
        ms(median(&mut cold))
    );
    for (name, mut v) in phases {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("    phase {name:<8} median {:.3} ms", v[v.len() / 2]);
    }

    // Parallel cold start: 16 at once, no state; one signature each round.
    let rounds = 10;
    let mut slowest = vec![];
    for _ in 0..rounds {
        let _ = std::fs::remove_dir_all(w.state());
        let before = w.certifier.sign_requests();
        let t0 = Instant::now();
        let children: Vec<_> = (0..16)
            .map(|_| w.cmd(&w.shim).args([HOST, REMOTE]).spawn().unwrap())
            .collect();
        let mut worst = Duration::ZERO;
        for mut c in children {
            assert!(c.wait().unwrap().success());
            worst = worst.max(t0.elapsed());
        }
        slowest.push(worst);
        assert_eq!(
            w.certifier.sign_requests() - before,
            1,
            "one signature per round"
        );
    }
    println!(
        "parallel cold start x16: slowest finishes in median {} (max {}) over {rounds} rounds; 1 signature per round",
        ms(median(&mut slowest)),
        ms(*slowest.iter().max().unwrap())
    );
    let _ = Fault::None;
}

/// A count of runs from the environment variable `name`, else `default`.
fn runs_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The shim of the `i`th build, in a folder of its own.
fn shim_for(w: &World, i: usize, certsh: &Path) -> PathBuf {
    let dir = w.home.with_file_name(format!("build{i}"));
    std::fs::create_dir_all(&dir).unwrap();
    let shim = dir.join("ssh");
    let _ = std::fs::remove_file(&shim);
    link(certsh, &shim);
    shim
}

/// How a build was made, from where scripts/bench.sh puts it.
fn build_label(certsh: &Path) -> String {
    let path = certsh.to_string_lossy();
    let label = if path.contains("-musl/") {
        "musl, static"
    } else if path.contains("/bench-nopie/") {
        "glibc, static, not PIE (experiment)"
    } else {
        "glibc, static"
    };
    format!("{label} ({})", certsh.display())
}

/// The shim: a symlink named `ssh` to the shim program built beside
/// `certsh` (`certsh-ssh`), which finds certsh beside itself.
fn link(certsh: &Path, shim: &Path) {
    let program = certsh.with_file_name(format!("certsh-ssh{}", std::env::consts::EXE_SUFFIX));
    assert!(program.exists(), "{} is not built", program.display());
    #[cfg(unix)]
    std::os::unix::fs::symlink(&program, shim).unwrap();
    #[cfg(windows)]
    std::os::windows::fs::symlink_file(&program, shim).unwrap();
}
