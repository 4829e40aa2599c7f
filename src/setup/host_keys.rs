//! The public host keys of the cloud's regions, for the known-hosts file
//! that `certsh setup ssh-config` names, so that the first connection to a
//! region asks nothing (docs/official-cli.md, "Host keys").
//!
//! The keys are the official CLI's (`host_keys`, next to this file, copied
//! from its resources): Platform.sh's regions, which the `platformsh` and
//! `upsun` profiles reach. Magento Cloud's are not among them. `ssh.host_keys`
//! in `config.yaml` (the official CLI's setting) adds lines of the user's own.
//! Only lines for hosts in the profile's patterns are written, the user's own
//! included; the file is certsh's, in its state folder, replaced atomically.

use std::path::Path;

use anyhow::Result;

use crate::config::Config;
use crate::config::host_pattern::host_matches;

/// The shipped known-hosts lines.
const SHIPPED: &str = include_str!("host_keys");

/// The file's name in the state folder.
pub const FILE: &str = "known_hosts";

/// The known-hosts lines for `cfg`'s hosts: the shipped ones, then
/// `ssh.host_keys`, each only when every host it names is one of the
/// profile's (a bracketed `[host]:port` counts as its host).
pub fn lines_for(cfg: &Config) -> Vec<String> {
    SHIPPED
        .lines()
        .map(String::from)
        .chain(cfg.host_keys.iter().cloned())
        .filter(|l| is_for(l, &cfg.wildcards))
        .collect()
}

/// Whether the known-hosts line `line` is a key for hosts of `patterns`
/// only: hosts, a key type and the key, no markers or hashed names.
fn is_for(line: &str, patterns: &[String]) -> bool {
    let mut parts = line.split_whitespace();
    let (Some(hosts), Some(kind), Some(_key)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if hosts.starts_with(['#', '@', '|']) || !kind.contains("ssh") && !kind.starts_with("ecdsa") {
        return false;
    }
    hosts.split(',').all(|h| {
        let host = h
            .strip_prefix('[')
            .and_then(|r| r.split_once("]:"))
            .map_or(h, |(host, _port)| host);
        host_matches(host, patterns)
    })
}

/// Writes `lines` to `path`, 0600, atomically; removes the file when there
/// are none. Returns whether there is a file. The keys are public, but the
/// state folder is the owner's alone and ssh reads the file as that owner,
/// so 0644 would gain nothing.
pub fn write(path: &Path, lines: &[String]) -> Result<bool> {
    if lines.is_empty() {
        let _ = std::fs::remove_file(path);
        return Ok(false);
    }
    let mut text =
        String::from("# Written by certsh setup ssh-config: the cloud's public host keys.\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::state::store::replace_file(dir, path, text.as_bytes(), 0o600)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_keys_are_known_hosts_lines_for_the_platform_sh_and_upsun_profiles() {
        let lines: Vec<&str> = SHIPPED.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 32);
        let wildcards = |name: &str| -> Vec<String> {
            crate::config::profile::by_name(name)
                .unwrap()
                .wildcards
                .iter()
                .map(|w| w.to_string())
                .collect()
        };
        for l in &lines {
            // A known-hosts line: one host pattern, a key type, the key.
            let parts: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(parts.len(), 3, "{l}");
            let host = parts[0];
            assert!(
                host.starts_with("git.") || host.starts_with("ssh."),
                "{host}"
            );
            let key = ssh_key::PublicKey::from_openssh(&format!("{} {}", parts[1], parts[2]))
                .expect("a public key");
            assert_eq!(key.algorithm().as_str(), parts[1], "{l}");
            for profile in ["platformsh", "upsun"] {
                assert!(is_for(l, &wildcards(profile)), "{profile}: {l}");
            }
            // None of them is Magento Cloud's.
            assert!(!is_for(l, &wildcards("magento")), "{l}");
        }
    }

    #[test]
    fn a_line_for_another_host_or_of_another_shape_is_left_out() {
        let p = vec!["*.magento.cloud".to_string()];
        assert!(is_for("ssh.us-3.magento.cloud ssh-ed25519 AAAA", &p));
        assert!(is_for("[ssh.us-3.magento.cloud]:2222 ssh-ed25519 AAAA", &p));
        assert!(!is_for(
            "ssh.us-3.magento.cloud,github.com ssh-ed25519 AAAA",
            &p
        ));
        assert!(!is_for(
            "@cert-authority *.magento.cloud ssh-ed25519 AAAA",
            &p
        ));
        assert!(!is_for("|1|aGFzaA==|aGFzaA== ssh-ed25519 AAAA", &p));
        assert!(!is_for("ssh.us-3.magento.cloud ssh-ed25519", &p));
    }
}
