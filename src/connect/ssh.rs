//! `certsh ssh ...` and the `ssh` shim: the path every connection takes.
//!
//! Order matters for speed. The command line is read first (no I/O); `-G`,
//! `-V`, `-Q`, `-O` and lines ssh would reject go to the real ssh before any
//! file is opened. Then the config decides the scope, and only a connection
//! to the cloud looks at the certificate. The hot path (certificate cached
//! and valid) reads `config.yaml`, one symlink and two small files, and execs.
//!
//! A host outside the cloud never depends on certsh's configuration: the
//! scope is decided from whatever could be read, and a problem with the rest
//! (a malformed `config.yaml`, a HOME the user cannot read, a bad `CERTSH_*`
//! value) is one warning line before the real ssh runs unchanged. Only a
//! connection to the cloud stops on it, with the error.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::Result;

use crate::config::host_pattern;
use crate::config::{Config, ProcessEnv};
use crate::connect::command_line;
use crate::connect::exec;
use crate::connect::scope;
use crate::credentials::login;
use crate::credentials::refresh::{self, Want};
use crate::credentials::source;
use crate::state::cert::{self, now};
use crate::state::store::{Cached, Store};
use crate::util::log::debug;
use crate::util::secret;

/// Runs ssh for `args` (OpenSSH's command line, unchanged). Returns only on
/// failure: on success this process becomes ssh.
pub fn run(args: &[OsString], profile: Option<&str>) -> Result<ExitCode> {
    let env = ProcessEnv;
    let real = exec::real_ssh()?;
    let mut line = command_line::parse(args);
    if line.passthrough == Some(command_line::Passthrough::DependsOnVersion) {
        // Only `-P` needs the version, and it is rare enough to afford
        // asking the real ssh.
        let version = exec::banner(&real)
            .ok()
            .and_then(|b| exec::openssh_version(&b));
        line = command_line::parse_for(args, version);
    }
    if line.passthrough.is_some() {
        return Err(exec::exec(&real, &[], args));
    }
    // What cannot be read or is invalid is reported only where it matters:
    // a host outside the cloud never depends on certsh's configuration.
    let (cfg, problems) = Config::read(profile, &env);
    let passthrough = |why: &dyn Fn() -> String| {
        debug(cfg.debug, why);
        let host = line
            .destination
            .as_ref()
            .map_or("the host", |d| d.host.as_str());
        if let Some(warning) = problems.summary(host) {
            crate::util::log::warn(&warning);
        }
        Err(exec::exec(&real, &[], args))
    };
    let Some(dest) = &line.destination else {
        return passthrough(&|| "no destination".into());
    };
    if !cfg.auto_load_cert {
        return passthrough(&|| "ssh.auto_load_cert is off".into());
    }
    if !in_scope(&cfg, &line, &dest.host, &real, args) {
        return passthrough(&|| format!("{} is not a {} host", dest.host, cfg.profile.title));
    }
    problems.warn_ignored();
    if let Some(e) = problems.invalid.into_iter().next() {
        return Err(e);
    }
    crate::state::store::check_nameable_by_ssh(&crate::state::store::primary_dir(&cfg), &cfg)?;
    let cached = certificate(&cfg)?;
    debug(cfg.debug, || {
        format!("certificate {}", cached.cert_path.display())
    });
    let extra = exec::certificate_options(&cached.key_path, &cached.cert_path)?;
    Err(exec::exec(&real, &extra, args))
}

/// A usable certificate, renewed when needed. When renewal fails and the
/// current certificate has not expired, that one, with a one-line warning:
/// failing the connection would help nobody. Also the ssh_config hook's work.
/// At a terminal, a missing or ended login is done first (`credentials/login.rs`).
pub fn certificate(cfg: &Config) -> Result<Cached> {
    let before = crate::state::agent::before_renewal(cfg);
    let result = match login::ensure_at_terminal(cfg, Want::IfNeeded) {
        Ok(c) => Ok(c),
        Err(e) => match still_valid(cfg) {
            Some(c) => {
                crate::util::log::warn(&format!(
                    "{e:#}; using the current certificate, valid for another {}",
                    cert::human_duration(cert::seconds_left(&c.cert, now()))
                ));
                Ok(c)
            }
            None => Err(e),
        },
    };
    if let Ok(c) = &result {
        crate::state::agent::after_renewal(cfg, before, c);
    }
    result
}

/// A certificate that failed to renew but has not expired yet is still
/// worth using.
fn still_valid(cfg: &Config) -> Option<Cached> {
    let c = Store::locate(cfg)?.current()?;
    let same_source = source::direct_fingerprint(cfg)
        .is_none_or(|fp| c.cert.comment() == refresh::source_comment(&fp));
    (same_source && cert::usable(&c.cert, now(), 10)).then_some(c)
}

/// Whether the connection goes to the cloud: by the name given, by
/// `-o HostName`, or by the `HostName` the user's ssh_config gives it.
fn in_scope(
    cfg: &Config,
    line: &command_line::SshCommand,
    host: &str,
    real: &Path,
    args: &[OsString],
) -> bool {
    if line.hostname_option.is_some() {
        // ssh connects where -o HostName says, whatever the name given.
        return line
            .connect_host()
            .is_some_and(|h| host_pattern::host_matches(&h, &cfg.wildcards));
    }
    if host_pattern::host_matches(host, &cfg.wildcards) {
        return true;
    }
    // An alias can only become a cloud host through the user's ssh_config;
    // reading the files is cheap, running `ssh -G` is not, so look first.
    let home = Some(cfg.home.as_path()).filter(|h| h.is_absolute());
    let mut files = scope::ssh_config_files(home, line.config_file.as_deref());
    if line.config_file.is_none()
        && let Some(pw) = passwd_home()
        && pw != cfg.home
    {
        files.insert(
            1,
            scope::ConfigFile {
                path: pw.join(".ssh/config"),
                origin: scope::ConfigOrigin::User,
            },
        );
    }
    if !scope::config_names_hostname_in_scope(&files, home, &cfg.wildcards) {
        return false;
    }
    let out = secret::command(real)
        .arg("-G")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let resolved = out
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| scope::parse_ssh_g(&String::from_utf8_lossy(&o.stdout)));
    debug(cfg.debug, || {
        format!(
            "ssh -G resolves {host} to {:?}",
            resolved.as_ref().map(|r| &r.hostname)
        )
    });
    resolved.is_some_and(|r| host_pattern::host_matches(&r.hostname, &cfg.wildcards))
}

/// The home directory in the password database, which is where OpenSSH
/// looks for `~/.ssh/config` whatever `$HOME` says (CI runners differ).
pub fn passwd_home() -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[2] == uid).then(|| PathBuf::from(f[5]))
    })
}
