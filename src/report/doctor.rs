//! `certsh doctor`: one command that checks what commonly goes wrong, and
//! prints a fix for each problem.
//!
//! The official CLI's users met these again and again: an ssh too old for
//! `CertificateFile`, git not going through the certificate at all, an
//! ssh_config that offers another certificate or only other keys, no
//! credentials, and a clock far enough off that a fresh certificate looks
//! expired. Every check is local unless `--online` is given; then the auth
//! server and the certifier are asked once each, without a credential, and
//! their `Date` header measures the clock.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::Result;

mod host_keys;

use crate::config::{Config, Problems};
use crate::connect::exec;
use crate::connect::scope;
use crate::credentials::api::Api;
use crate::credentials::source;
use crate::state::cert::{self, now};
use crate::state::store::Store;
use crate::util::error;
use crate::util::file_id;
use crate::util::sanitize;
use crate::util::secret;

/// A clock this far from the server's is worth a warning: new certificates
/// are backdated about this much.
const SKEW_WARN: u64 = 60;
/// A clock this far off breaks certificates.
const SKEW_FAIL: u64 = 240;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
struct Check {
    verdict: Verdict,
    what: &'static str,
    detail: String,
    fix: Option<String>,
}

impl Check {
    fn ok(what: &'static str, detail: impl Into<String>) -> Check {
        Check {
            verdict: Verdict::Ok,
            what,
            detail: detail.into(),
            fix: None,
        }
    }

    fn bad(
        verdict: Verdict,
        what: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            verdict,
            what,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// `certsh doctor [--online]`. Exits 1 when a check failed.
/// Takes the configuration with its problems, which it reports.
pub fn run(cfg: &Config, problems: &Problems, online: bool) -> Result<ExitCode> {
    // Found once: the ssh checks and the ssh_config and host-key checks,
    // which ask it, all mean the same program.
    let real = exec::real_ssh();
    let mut checks = vec![real_ssh(&real)];
    if let Some(e) = problems.invalid.first() {
        checks.push(Check::bad(
            Verdict::Fail,
            "config",
            format!("{e:#}"),
            "fix the file; the other checks need it",
        ));
        return Ok(print(None, &checks));
    }
    checks.push(match problems.ignored.first() {
        // The line holds its own fix: the file is left out until it is fixed.
        Some(line) => Check::bad(
            Verdict::Warn,
            "config",
            line.clone(),
            "until then certsh uses the defaults and the environment",
        ),
        None if cfg.config_file.exists() => {
            Check::ok("config", format!("{} read", cfg.config_file.display()))
        }
        None => Check::ok(
            "config",
            format!("{} absent: defaults", cfg.config_file.display()),
        ),
    });
    checks.push(credentials(cfg));
    checks.push(certificate(cfg));
    checks.push(git(cfg));
    if let Ok(real) = &real {
        checks.extend(ssh_config(cfg, real));
        checks.extend(host_keys::checks(cfg, real));
    }
    checks.extend(official_refresh(cfg));
    if online {
        checks.extend(reachable(cfg));
    }
    Ok(print(Some(cfg), &checks))
}

fn print(cfg: Option<&Config>, checks: &[Check]) -> ExitCode {
    match cfg {
        Some(cfg) => match &cfg.account {
            Some(a) => println!(
                "certsh doctor (account {}, profile {})",
                a.name, cfg.profile.name
            ),
            None => println!("certsh doctor (profile {})", cfg.profile.name),
        },
        None => println!("certsh doctor"),
    }
    for c in checks {
        let tag = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        println!("  {tag}  {}: {}", c.what, c.detail);
        if let Some(fix) = &c.fix {
            println!("        fix: {fix}");
        }
    }
    if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        ExitCode::from(error::FAILED)
    } else {
        error::success()
    }
}

/// The real ssh, and whether it knows `CertificateFile`.
fn real_ssh(found: &Result<PathBuf>) -> Check {
    let path = match found {
        Ok(p) => p,
        Err(e) => {
            return Check::bad(
                Verdict::Fail,
                "ssh",
                format!("{e:#}"),
                "install OpenSSH's client",
            );
        }
    };
    let text = match exec::banner(path) {
        Ok(t) => t,
        Err(e) => {
            return Check::bad(
                Verdict::Fail,
                "ssh",
                format!("cannot run {}: {e}", path.display()),
                "set CERTSH_REAL_SSH to OpenSSH's ssh",
            );
        }
    };
    let first = sanitize::short(text.lines().next().unwrap_or(""), 80);
    match exec::openssh_version(&text) {
        Some(v) if v >= exec::MIN_OPENSSH_CERTIFICATE_FILE => {
            Check::ok("ssh", format!("{} ({first})", path.display()))
        }
        Some((major, minor)) => Check::bad(
            Verdict::Fail,
            "ssh",
            format!(
                "{} is OpenSSH {major}.{minor}, older than 7.2, which has no CertificateFile",
                path.display()
            ),
            "install a current OpenSSH client, or set CERTSH_REAL_SSH to one",
        ),
        None => Check::bad(
            Verdict::Warn,
            "ssh",
            format!("{} does not say it is OpenSSH: {first:?}", path.display()),
            "set CERTSH_REAL_SSH to OpenSSH's ssh",
        ),
    }
}

fn credentials(cfg: &Config) -> Check {
    let id = source::identity(cfg);
    if let Some(problem) = id.problem {
        return Check::bad(
            Verdict::Fail,
            "credentials",
            problem,
            "fix the API token, or log in: certsh login",
        );
    }
    let Some(origin) = id.origin else {
        let why = crate::credentials::refresh::no_credentials_why(cfg);
        return Check::bad(Verdict::Fail, "credentials", why.problem(), why.fix());
    };
    let who = id
        .user
        .map(|u| {
            let amr = if id.amr.is_empty() {
                String::new()
            } else {
                format!(", {}", id.amr.join("+"))
            };
            format!(" ({u}{amr})")
        })
        .unwrap_or_default();
    Check::ok("credentials", format!("{origin}{who}"))
}

fn certificate(cfg: &Config) -> Check {
    let Some(c) = Store::locate(cfg).and_then(|s| s.current()) else {
        return Check::bad(
            Verdict::Warn,
            "certificate",
            "none yet",
            format!(
                "{} (or just connect: the shim obtains one)",
                cfg.own_command("load")
            ),
        );
    };
    let left = cert::seconds_left(&c.cert, now());
    let mfa = if cert::has_mfa(&c.cert) {
        "with MFA"
    } else {
        "without MFA"
    };
    if left == 0 {
        return Check::bad(
            Verdict::Warn,
            "certificate",
            format!("expired ({mfa})"),
            format!(
                "{} (or just connect: the shim renews it)",
                cfg.own_command("load")
            ),
        );
    }
    if !cert::usable_from(
        &c.cert,
        &c.comment,
        now(),
        cfg.refresh_margin.as_secs(),
        None,
    ) {
        return Check::ok(
            "certificate",
            format!(
                "valid for {} ({mfa}); renewed at the next connection",
                cert::human_duration(left)
            ),
        );
    }
    let detail = format!("valid for {} ({mfa})", cert::human_duration(left));
    if cert::has_mfa(&c.cert) {
        Check::ok("certificate", detail)
    } else {
        Check::bad(
            Verdict::Ok,
            "certificate",
            detail,
            format!(
                "if ssh says that access requires MFA: {}",
                cfg.login_command(" --mfa")
            ),
        )
    }
}

/// Whether git's ssh is certsh: `GIT_SSH_COMMAND`, else `core.sshCommand`,
/// else the `ssh` on `PATH`.
fn git(cfg: &Config) -> Check {
    if let Some(cmd) = &cfg.git_ssh_command {
        return git_command(cfg, "GIT_SSH_COMMAND", cmd);
    }
    let configured = secret::command("git")
        .args(["config", "--get", "core.sshCommand"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match configured {
        Err(_) => return Check::ok("git", "git is not installed"),
        Ok(o) if o.status.success() => {
            let cmd = String::from_utf8_lossy(&o.stdout).trim().to_string();
            return git_command(cfg, "core.sshCommand", &cmd);
        }
        Ok(_) => {}
    }
    if which::which("ssh").is_ok_and(|p| is_certsh(&p)) {
        return Check::ok("git", "the ssh on PATH is certsh's shim");
    }
    Check::bad(
        Verdict::Warn,
        "git",
        "git runs plain ssh: neither GIT_SSH_COMMAND nor core.sshCommand is set",
        "certsh setup git",
    )
}

fn git_command(cfg: &Config, source: &str, cmd: &str) -> Check {
    // `CERTSH_ACCOUNT=NAME <shim>` (`setup git --local --account`): the
    // program comes after the variables the shell sets for it.
    let assignment = |w: &&str| {
        w.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty()
                && !name.as_bytes()[0].is_ascii_digit()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    };
    let first = cmd
        .split_whitespace()
        .find(|w| !assignment(w))
        .unwrap_or("")
        .trim_matches(|c| c == '\'' || c == '"');
    let path = if first.contains('/') {
        Some(PathBuf::from(first))
    } else {
        which::which(first).ok()
    };
    if path.as_deref().is_some_and(is_certsh) {
        let account = cmd
            .split_whitespace()
            .take_while(|w| assignment(w))
            .find_map(|w| w.strip_prefix("CERTSH_ACCOUNT="))
            .map(|a| a.trim_matches(|c| c == '\'' || c == '"'))
            .filter(|a| !a.is_empty());
        let Some(account) = account else {
            return Check::ok("git", format!("{source} runs certsh"));
        };
        let shown = sanitize::short(account, 40);
        let detail = format!("{source} runs certsh for the account {shown}");
        let this = cfg.account.as_ref().map(|a| a.name.as_str());
        if this == Some(account) {
            return Check::ok("git", detail);
        }
        // The report's other lines are for another account than the one git
        // uses here: say so, and which report is about git's. An account
        // names its profile: no --profile with it.
        Check::bad(
            Verdict::Ok,
            "git",
            detail,
            format!(
                "this report is for {}; for the account git uses here: certsh --account {shown} doctor",
                this.map_or("the profile's own credentials".to_string(), |a| format!(
                    "the account {a}"
                )),
            ),
        )
    } else {
        Check::bad(
            Verdict::Warn,
            "git",
            format!(
                "{source} is {:?}, which is not certsh",
                sanitize::short(cmd, 80)
            ),
            if source == "GIT_SSH_COMMAND" {
                "set it to certsh's shim: eval \"$(certsh env)\"".to_string()
            } else {
                "certsh setup git --force".to_string()
            },
        )
    }
}

/// Whether `path` is certsh or its shim.
fn is_certsh(path: &Path) -> bool {
    file_id::file_id(path).is_some_and(|id| crate::connect::shim::own_ids().contains(&id))
}

/// What the user's ssh_config does for a cloud host: `ssh -G` knows best.
fn ssh_config(cfg: &Config, real: &Path) -> Vec<Check> {
    let Some(host) = sample_host(cfg) else {
        return vec![];
    };
    let Some(text) = scope::ssh_g(real, &[host.as_str()]) else {
        return vec![Check::bad(
            Verdict::Warn,
            "ssh_config",
            format!("ssh -G {host} failed"),
            "check ~/.ssh/config with: ssh -G <host>",
        )];
    };
    let values = |key: &str| -> Vec<String> {
        scope::ssh_g_values(&text, key)
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    let ours = |p: &str| p.contains("/certsh/") && p.contains("id_ed25519");
    let mut checks = vec![];
    let foreign: Vec<String> = values("certificatefile")
        .into_iter()
        .filter(|p| !ours(p))
        .collect();
    if !foreign.is_empty() {
        checks.push(Check::bad(
            Verdict::Warn,
            "ssh_config",
            format!(
                "CertificateFile {} applies to {host}: ssh may offer that certificate instead of certsh's",
                sanitize::short(&foreign.join(", "), 120)
            ),
            format!("remove that CertificateFile line for {host} from ~/.ssh/config"),
        ));
    }
    let identities_only = values("identitiesonly").iter().any(|v| v == "yes");
    if identities_only && !values("identityfile").iter().any(|p| ours(p)) {
        checks.push(Check::bad(
            Verdict::Warn,
            "ssh_config",
            format!(
                "IdentitiesOnly yes applies to {host} without certsh's key: plain ssh, scp and rsync will not offer the certificate"
            ),
            "use them through certsh (certsh setup ssh-config), or drop IdentitiesOnly for the cloud's hosts",
        ));
    }
    // ssh keeps the first UserKnownHostsFile it obtains: one set above
    // certsh's block hides the host keys `setup ssh-config` wrote.
    let known = crate::state::store::primary_dir(cfg).join(crate::setup::host_keys::FILE);
    let named = values("userknownhostsfile").join(" ");
    if known.is_file() && !named.contains(&*known.to_string_lossy()) {
        checks.push(Check::bad(
            Verdict::Warn,
            "ssh_config",
            format!(
                "UserKnownHostsFile {} applies to {host} without certsh's {}: ssh keeps the first \
                 one it obtains, so the cloud's host keys are not used and a first connection asks",
                sanitize::short(&named, 120),
                known.display()
            ),
            format!(
                "move certsh's block (certsh setup ssh-config) above that UserKnownHostsFile line in \
                 ~/.ssh/config, or add {} to it",
                known.display()
            ),
        ));
    }
    if checks.is_empty() {
        checks.push(Check::ok(
            "ssh_config",
            format!("nothing for {host} that fights the certificate"),
        ));
    }
    checks
}

/// The official CLI's certificate refresh still in the user's ssh_config
/// (`scope::official_refresh_lines`): one warning per line, with its fix.
fn official_refresh(cfg: &Config) -> Vec<Check> {
    scope::official_refresh_lines(cfg)
        .into_iter()
        .map(|(file, n, line)| {
            Check::bad(
                Verdict::Warn,
                "ssh_config",
                format!(
                    "{}:{n}: `{line}` is the official CLI's certificate refresh: it starts PHP on every \
                     connection to the cloud, which certsh does without",
                    file.display(),
                ),
                scope::official_refresh_fix(&file),
            )
        })
        .collect()
}

/// A host in scope to ask `ssh -G` about: `git.<domain>` of the first
/// wildcard.
fn sample_host(cfg: &Config) -> Option<String> {
    cfg.wildcards
        .iter()
        .find(|w| !w.starts_with('!'))
        .map(|w| w.replace('*', "git").replace('?', "x"))
}

/// `--online`: the auth server and the certifier answer, and the clock
/// agrees with theirs.
fn reachable(cfg: &Config) -> Vec<Check> {
    let api = match Api::for_command(cfg) {
        Ok(a) => a,
        Err(e) => {
            return vec![Check::bad(
                Verdict::Fail,
                "network",
                format!("{e:#}"),
                "fix the URL",
            )];
        }
    };
    // As for signing, the path replaces any path in certifier_url.
    let certifier_authority = reqwest::Url::parse(&cfg.certifier_url)
        .and_then(|u| u.join("/ssh/authority"))
        .map(String::from)
        .unwrap_or_else(|_| cfg.certifier_url.clone());
    let mut checks = vec![];
    let mut date = None;
    for (what, url) in [
        ("auth server", cfg.authorize_url.as_str()),
        ("certifier", certifier_authority.as_str()),
    ] {
        match api.probe(url, what) {
            Ok((status, d)) => {
                date = date.or(d);
                checks.push(Check::ok(
                    what,
                    format!("{url} answered {}", status.as_u16()),
                ));
            }
            Err(e) => checks.push(Check::bad(
                Verdict::Fail,
                what,
                format!("{e:#}"),
                "check the network, a proxy (HTTPS_PROXY), or the URL",
            )),
        }
    }
    let Some(date) = date else {
        if checks.iter().all(|c| c.verdict == Verdict::Fail) {
            return checks;
        }
        checks.push(Check::bad(
            Verdict::Warn,
            "clock",
            "the servers sent no Date header to compare with",
            "make sure this computer's clock is synchronised (NTP)",
        ));
        return checks;
    };
    let Some(server) = jiff::fmt::rfc2822::parse(&date)
        .ok()
        .map(|z| z.timestamp().as_second())
    else {
        return checks;
    };
    let local = now() as i64;
    let skew = local.abs_diff(server);
    let direction = if local > server { "ahead of" } else { "behind" };
    let detail = format!("{} {direction} the server", cert::human_duration(skew));
    checks.push(if skew <= SKEW_WARN {
        Check::ok("clock", format!("within {SKEW_WARN}s of the server"))
    } else {
        Check::bad(
            if skew > SKEW_FAIL {
                Verdict::Fail
            } else {
                Verdict::Warn
            },
            "clock",
            detail,
            "synchronise this computer's clock (NTP): certificates are checked against it",
        )
    });
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssh_versions_are_read() {
        assert_eq!(
            exec::openssh_version("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15"),
            Some((9, 2))
        );
        assert_eq!(
            exec::openssh_version("OpenSSH_7.1p2, OpenSSL"),
            Some((7, 1))
        );
        assert_eq!(exec::openssh_version("OpenSSH_10.0p2"), Some((10, 0)));
        assert_eq!(exec::openssh_version("Sun_SSH_1.1"), None);
        assert!(
            Some((7, 1)) < Some(exec::MIN_OPENSSH_CERTIFICATE_FILE)
                && Some((10, 0)) > Some(exec::MIN_OPENSSH_CERTIFICATE_FILE)
        );
    }
}
