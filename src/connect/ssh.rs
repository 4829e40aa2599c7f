//! `certsh ssh ...` and the `ssh` shim: the path every connection takes.
//!
//! Order matters for speed. The command line is read first (no I/O); `-G`,
//! `-V`, `-Q`, `-O` and lines ssh would reject go to the real ssh before any
//! file is opened. Then the config decides the scope, and only a connection
//! to the cloud looks at the certificate. The hot path (certificate cached
//! and valid) reads `config.yaml`, one symlink and the certificate, checks
//! the key file's size (`Store::in_use`), and execs.
//!
//! A host outside the cloud never depends on certsh's configuration: the
//! scope is decided from whatever could be read, and a problem with the rest
//! (a malformed `config.yaml`, a HOME the user cannot read, a bad `CERTSH_*`
//! value) is one warning line before the real ssh runs unchanged. Only a
//! connection to the cloud stops on it, with the error.
//!
//! When no certificate can be had for a cloud host (no credential, no
//! terminal for a login, the certifier unreachable and no valid
//! certificate), the error becomes one warning and the real ssh runs
//! unchanged, with the user's own keys: they work for a project that does
//! not require MFA. `ssh.cert_only: true` (`CERTSH_CERT_ONLY=1`) keeps the
//! error and exit 255 before ssh, which CI should prefer.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::{Config, Env, EnvSnapshot, For, Problems};
use crate::connect::command_line;
use crate::connect::exec;
use crate::connect::scope;
use crate::connect::shim;
use crate::credentials::login;
use crate::credentials::refresh::{self, Want};
use crate::credentials::source;
use crate::state::cert::{self, Validity, now};
use crate::state::store::{Cached, InUse, Store};
use crate::util::log::debug;

/// Runs ssh for `args` (OpenSSH's command line, unchanged). Returns only on
/// failure: on success this process becomes ssh.
pub fn run(args: &[OsString], profile: Option<&str>, account: Option<&str>) -> Result<ExitCode> {
    let env = EnvSnapshot::take();
    let (to, problems) = cloud_host(args, profile, account, &env)?;
    to.usable(problems)?;
    let got = certificate(&to.cfg).map(|c| c.in_use());
    Err(to.connect(got))
}

/// The shim program's connection (`src/bin/certsh-ssh.rs`): the same path,
/// but a certificate that is not good as it is goes to certsh itself
/// (`certsh ssh <args>`), which renews it and says whatever there is to say
/// about the configuration. The shim holds only what a connection with a
/// good certificate needs, so that it starts as fast as a program can: no
/// HTTP, TLS or login code to load and relocate (docs/benchmarks.md). It
/// starts no thread, and its caller must have started none. Returns only
/// on failure, with the error: on success this process becomes ssh or
/// certsh.
pub fn run_shim(args: &[OsString]) -> anyhow::Error {
    match shim_connection(args) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

fn shim_connection(args: &[OsString]) -> Result<std::convert::Infallible> {
    let env = EnvSnapshot::take();
    let (to, problems) = cloud_host(args, None, None, &env)?;
    let Some(cached) = refresh::cached(&to.cfg) else {
        let certsh = shim::certsh_program()?;
        debug(to.cfg.debug, || format!("renewal by {}", certsh.display()));
        return Err(exec::exec_certsh(&certsh, args));
    };
    to.usable(problems)?;
    crate::credentials::ahead::after_connection(&to.cfg, &cached.validity, &shim::certsh_program);
    // From here on only ssh runs, and it needs no token. The shim has no
    // thread, so it may drop them from its own environment and spare the
    // exec a copy of the rest.
    crate::util::secret::forget_token_variables(&|var| env.is_set(var));
    Err(to.connect(Ok(cached)))
}

/// A connection to a host of the cloud: all that is left to decide is the
/// certificate.
struct CloudHost<'a> {
    args: &'a [OsString],
    real: PathBuf,
    cfg: Config,
    host: String,
}

/// Reads the command line and the configuration; a connection that is not
/// to the cloud becomes the real ssh here (an error only if that fails).
fn cloud_host<'a>(
    args: &'a [OsString],
    profile: Option<&str>,
    account: Option<&str>,
    env: &EnvSnapshot,
) -> Result<(CloudHost<'a>, Problems)> {
    let real = exec::real_ssh_from(env.var_os("CERTSH_REAL_SSH"))?;
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
    let (cfg, problems) = Config::read_for(profile, destination(&line, account), env);
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
    if !scope::in_scope(&cfg, &line, &dest.host, &real, args) {
        return passthrough(&|| format!("{} is not a {} host", dest.host, cfg.profile.title));
    }
    let host = dest.host.clone();
    Ok((
        CloudHost {
            args,
            real,
            cfg,
            host,
        },
        problems,
    ))
}

impl CloudHost<'_> {
    /// For a cloud host the configuration must be valid (its warnings are
    /// said here), and the state folder nameable in ssh's options.
    fn usable(&self, problems: Problems) -> Result<()> {
        problems.into_result()?;
        crate::state::store::check_nameable_by_ssh(
            &crate::state::store::primary_dir(&self.cfg),
            &self.cfg,
        )?;
        Ok(())
    }

    /// Becomes the real ssh, with the certificate when there is one. Without
    /// one, the user's own keys, after one warning; `ssh.cert_only` makes
    /// that the error instead. Returns only on failure, with the error.
    fn connect(self, got: Result<InUse>) -> anyhow::Error {
        let cached = match got {
            Ok(cached) => cached,
            Err(e) if self.cfg.cert_only => return e,
            Err(e) => {
                crate::util::log::warn(&own_keys(&e, Some(&self.host)));
                return exec::exec(&self.real, &[], self.args);
            }
        };
        debug(self.cfg.debug, || {
            format!("certificate {}", cached.cert_path.display())
        });
        match exec::certificate_options(&cached.key_path, &cached.cert_path) {
            Ok(extra) => exec::exec(&self.real, &extra, self.args),
            Err(e) => e.into(),
        }
    }
}

/// Whom the connection is for: the account `--account` or `CERTSH_ACCOUNT`
/// names, else the one the accounts file chooses for the destination
/// (`config/accounts.rs`; no file, no account: one failed `open`).
fn destination<'a>(line: &'a command_line::SshCommand, account: Option<&'a str>) -> For<'a> {
    For {
        account,
        destination: line
            .destination
            .as_ref()
            .map(|d| (d.user.as_deref(), d.host.as_str())),
        ..Default::default()
    }
}

/// A usable certificate, renewed when needed. When renewal fails and the
/// current certificate has not expired, that one, with a one-line warning:
/// failing the connection would help nobody. Also the ssh_config hook's work.
/// At a terminal, a missing or ended login is done first (`credentials/login.rs`).
pub fn certificate(cfg: &Config) -> Result<Cached> {
    let before = crate::state::ssh_add::before_renewal(cfg);
    let result = match renew_or_keep(cfg, || login::ensure_at_terminal(cfg, Want::IfNeeded)) {
        Renewal::Renewed(c) => Ok(c),
        Renewal::Kept(e, c) => {
            crate::util::log::warn(&format!(
                "{e:#}; using the current certificate, valid for another {}",
                cert::human_duration(cert::seconds_left(&c.cert, now()))
            ));
            Ok(c)
        }
        Renewal::Failed(e) => Err(e),
    };
    if let Ok(c) = &result {
        crate::state::ssh_add::after_renewal(cfg, before, c);
        crate::credentials::ahead::after_connection(cfg, &Validity::of(&c.cert), &|| {
            std::env::current_exe().context("cannot find the certsh program itself")
        });
    }
    result
}

/// What came of [`renew_or_keep`].
pub enum Renewal {
    /// The certificate, renewed if it had to be.
    Renewed(Cached),
    /// Renewal failed, and the current certificate, not expired, stays.
    Kept(anyhow::Error, Cached),
    /// Renewal failed, and there is no certificate worth using.
    Failed(anyhow::Error),
}

/// Renew, else keep the current certificate while it has not expired: the
/// one rule the shim, the hook and `certsh agent` follow. Failing the
/// connection would help nobody while a good certificate is there.
pub fn renew_or_keep(cfg: &Config, renew: impl FnOnce() -> Result<Cached>) -> Renewal {
    match renew() {
        Ok(c) => Renewal::Renewed(c),
        Err(e) => match still_valid(cfg) {
            Some(c) => Renewal::Kept(e, c),
            None => Renewal::Failed(e),
        },
    }
}

/// A certificate that failed to renew but has not expired yet is still
/// worth using.
fn still_valid(cfg: &Config) -> Option<Cached> {
    let c = Store::locate(cfg)?.current()?;
    let fingerprint = source::direct_fingerprint(cfg);
    cert::usable_from(&c.cert, &c.comment, now(), 10, fingerprint.as_deref()).then_some(c)
}

/// The one line for a connection that goes ahead without a certificate,
/// with the user's own keys: they work for a project that does not require
/// MFA, and for one that does, the server's refusal follows this line.
/// `ssh.cert_only` turns it into an error before ssh runs.
pub fn own_keys(e: &anyhow::Error, host: Option<&str>) -> String {
    format!(
        "{e:#}; connecting to {} without a certificate, with your own keys",
        host.unwrap_or("the host")
    )
}
