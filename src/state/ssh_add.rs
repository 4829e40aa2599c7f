//! Key and certificate in the running ssh-agent (`certsh load --agent`, or
//! `ssh.add_to_agent: true`, which also covers renewals by the shim and the
//! ssh_config hook), for tools that only talk to an agent and for agent
//! forwarding.
//!
//! They are added with a lifetime equal to the certificate's time left, so
//! the agent forgets them when the certificate expires: expired certificates
//! left in an agent are offered first and use up the server's `MaxAuthTries`
//! (docs/cloud.md section 6). certsh's entries from before that have expired,
//! and keys of certsh whose certificates are gone, are removed first.
//!
//! This runs OpenSSH's `ssh-add` (`ssh-add -t <secs> <key>`, which also adds
//! `<key>-cert.pub` beside it) rather than speaking the agent protocol.
//! No agent is not an error: a note says so.

use std::path::Path;
use std::process::{Output, Stdio};

use anyhow::{Context, Result};
use ssh_key::PublicKey;

use crate::config::Config;
use crate::state::cert::{self, now};
use crate::state::store::{Cached, Store};
use crate::util::error::Fixable;
use crate::util::secret;

/// After `certsh load`: adds the current key and certificate to the agent
/// when `--agent` or `ssh.add_to_agent` asks for it.
pub fn after_load(cfg: &Config, asked: bool) -> Result<()> {
    if !(asked || cfg.add_to_agent) {
        return Ok(());
    }
    let cached = Store::locate(cfg)
        .and_then(|s| s.current())
        .context("the certificate just obtained cannot be read back")?;
    add(cfg, &cached, Report::Stdout)
}

/// With `ssh.add_to_agent`, what identifies the certificate before a
/// possible renewal by the shim or the ssh_config hook (`None`: not asked).
pub fn before_renewal(cfg: &Config) -> Option<Vec<u8>> {
    cfg.add_to_agent.then(|| {
        Store::locate(cfg)
            .and_then(|s| s.current())
            .map(|c| c.cert.nonce().to_vec())
            .unwrap_or_default()
    })
}

/// After the shim or the hook made sure of a certificate: a renewed one goes
/// to the agent too. Never fails the connection, never writes to stdout
/// (which carries the git protocol there); problems are one line on stderr.
pub fn after_renewal(cfg: &Config, before: Option<Vec<u8>>, now: &Cached) {
    let Some(before) = before else { return };
    if before == now.cert.nonce() {
        return;
    }
    if let Err(e) = add(cfg, now, Report::Quiet) {
        crate::util::log::warn(&format!("{e:#}"));
    }
}

/// Whether [`add`] says what it did on stdout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// `certsh load`: one line on stdout.
    Stdout,
    /// The shim and the hook: nothing on success.
    Quiet,
}

/// Adds `cached` to the agent for the certificate's time left.
pub fn add(cfg: &Config, cached: &Cached, report: Report) -> Result<()> {
    if cfg.agent_socket.is_none() {
        crate::util::log::line(
            "note: no ssh-agent (SSH_AUTH_SOCK is not set); the certificate was not added to an agent",
        );
        return Ok(());
    }
    let left = cert::seconds_left(&cached.cert, now());
    if left == 0 {
        return Err(Fixable::new(
            "the certificate has expired; an agent would refuse it",
            "run: certsh load --refresh --agent",
        )
        .into());
    }
    let listed = ssh_add(&["-L"])?;
    match listed.status.code() {
        // 1: the agent has no identities.
        Some(0) | Some(1) => {}
        _ => {
            crate::util::log::line(&format!(
                "note: cannot reach the ssh-agent at SSH_AUTH_SOCK ({}); the certificate was not added",
                crate::util::sanitize::short(String::from_utf8_lossy(&listed.stderr).trim(), 120)
            ));
            return Ok(());
        }
    }
    let stale = stale_entries(
        &String::from_utf8_lossy(&listed.stdout),
        &comment(cfg),
        now(),
    );
    if !stale.is_empty() {
        remove(&stale)?;
    }
    let secs = left.min(u64::from(u32::MAX)).to_string();
    let key = cached.key_path.as_os_str();
    let out = secret::command("ssh-add")
        .arg("-t")
        .arg(&secs)
        .arg(key)
        .stdin(Stdio::null())
        .output()
        .map_err(ssh_add_missing)?;
    if !out.status.success() {
        return Err(Fixable::new(
            format!(
                "ssh-add could not add {}: {}",
                cached.key_path.display(),
                crate::util::sanitize::short(String::from_utf8_lossy(&out.stderr).trim(), 200)
            ),
            "check the agent with: ssh-add -l",
        )
        .into());
    }
    if report == Report::Stdout {
        println!(
            "Added to ssh-agent for {}: key and certificate (the agent forgets them when the certificate expires)",
            cert::human_duration(left)
        );
    }
    Ok(())
}

/// The comment certsh's keys carry (set when the key is made), which
/// ssh-add passes to the agent for the key and its certificate.
fn comment(cfg: &Config) -> String {
    format!("certsh-{}", cfg.profile.name)
}

/// Agent lines (`ssh-add -L`) to remove: certsh's certificates that have
/// expired, and certsh's plain keys that no unexpired certificate in the
/// agent certifies.
fn stale_entries(listing: &str, comment: &str, now: u64) -> Vec<String> {
    let ours = |line: &str| line.split_whitespace().nth(2) == Some(comment);
    let mut live_keys = vec![];
    let mut stale = vec![];
    let mut plain = vec![];
    for line in listing.lines().filter(|l| ours(l)) {
        if let Ok((c, _)) = cert::from_text(line) {
            if c.valid_before() <= now {
                stale.push(line.to_string());
            } else {
                live_keys.push(c.public_key().clone());
            }
        } else if let Ok(k) = PublicKey::from_openssh(line) {
            plain.push((k, line.to_string()));
        }
    }
    for (key, line) in plain {
        if !live_keys.contains(key.key_data()) {
            stale.push(line);
        }
    }
    stale
}

/// `ssh-add -d` for each line, through a private temporary file (ssh-add
/// takes files).
fn remove(lines: &[String]) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    for (i, line) in lines.iter().enumerate() {
        let path = dir.path().join(format!("stale-{i}.pub"));
        std::fs::write(&path, format!("{line}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        // Best effort: an entry that is already gone is what we want.
        let _ = ssh_add(&["-d", path_str(&path)]);
    }
    Ok(())
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn ssh_add(args: &[&str]) -> Result<Output> {
    secret::command("ssh-add")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(ssh_add_missing)
}

fn ssh_add_missing(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Fixable::new("ssh-add is not on PATH", "install OpenSSH's client").into()
    } else {
        anyhow::Error::new(e).context("cannot run ssh-add")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::rand_core::OsRng;
    use ssh_key::{Algorithm, PrivateKey, certificate};

    fn cert_line(key: &PrivateKey, ca: &PrivateKey, until: u64, comment: &str) -> String {
        let mut b =
            certificate::Builder::new_with_random_nonce(&mut OsRng, key.public_key(), 1, until)
                .unwrap();
        b.cert_type(certificate::CertType::User).unwrap();
        b.key_id("u").unwrap();
        b.all_principals_valid().unwrap();
        let c = b.sign(ca).unwrap();
        format!("{} {comment}", c.to_openssh().unwrap().trim_end())
    }

    fn key_line(key: &PrivateKey, comment: &str) -> String {
        let mut p = key.public_key().clone();
        p.set_comment(comment);
        p.to_openssh().unwrap()
    }

    #[test]
    fn expired_certificates_and_orphaned_keys_of_certsh_go() {
        let ca = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let old = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let cur = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let mine = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let now = 1_000_000;
        let old_key = key_line(&old, "certsh-magento");
        let old_cert = cert_line(&old, &ca, now - 1, "certsh-magento");
        let listing = [
            old_key.clone(),
            old_cert.clone(),
            key_line(&cur, "certsh-magento"),
            cert_line(&cur, &ca, now + 600, "certsh-magento"),
            key_line(&mine, "me@laptop"),
            cert_line(&mine, &ca, now - 1, "me@laptop"),
        ]
        .join("\n");
        assert_eq!(
            stale_entries(&listing, "certsh-magento", now),
            [old_cert, old_key]
        );
    }
}
