//! `certsh setup ssh-config [--file PATH] [--agent] [--undo]`, and the hook it installs
//! (the hook itself runs on the connection path: `connect/ssh.rs`):
//! plain `ssh`, `scp`, `sftp`, `rsync` and editors' remote plugins get the
//! certificate from `~/.ssh/config`, with no certsh on their command line.
//!
//! The block appended to the file (one per profile, between marker lines):
//!
//! ```text
//! # BEGIN certsh (profile magento) ...
//! Match originalhost "*.magento.cloud,..." exec "/abs/certsh --profile magento ssh-config-hook"
//! Match host "*.magento.cloud,..." !originalhost "*.magento.cloud,..." exec "..."
//! Match originalhost "*.magento.cloud,..."
//!     IdentityFile "<state>/current/id_ed25519"
//!     CertificateFile "<state>/current/id_ed25519-cert.pub"
//!     IdentityFile ~/.ssh/id_rsa
//!     ... (OpenSSH's other default keys)
//! Match host "*.magento.cloud,..."
//!     IdentityFile ...
//!     CertificateFile ...
//!     IdentityFile ~/.ssh/id_rsa ...
//! # END certsh (profile magento)
//! ```
//!
//! Why this shape (docs/cloud.md section 6):
//! - The hook renews the certificate before ssh reads any key (ssh runs
//!   `Match exec` while it reads its configuration). Its `Match` lines have
//!   no options under them, so whatever its exit status, nothing is lost: the
//!   file lines are in blocks of their own that do not depend on it. A
//!   failed renewal therefore still leaves a valid certificate in force.
//! - `originalhost` matches the name typed, `host` the name after a
//!   `HostName` line (an alias that leads to the cloud); the `!originalhost`
//!   keeps the hook from running twice for one connection.
//! - Absolute paths everywhere: ssh's `PATH` may not have certsh, and `~` or
//!   `%d` point to the passwd home, which is not `$HOME` on CI runners.
//! - OpenSSH's default keys (`~/.ssh/id_rsa`, `id_ecdsa`, `id_ecdsa_sk`,
//!   `id_ed25519`, `id_ed25519_sk`) are named after certsh's: ssh tries its
//!   defaults only when no `IdentityFile` applies, and when no certificate
//!   can be had the user's own key is what works (for a project without
//!   MFA). `~` is ssh's passwd home here, as for its own defaults.
//! - The hook is certsh's hot path (a `readlink`, two small files): about a
//!   millisecond, plus the shell ssh starts it with.
//!
//! With `--agent` the two `Match ... exec` lines give way to an
//! `IdentityAgent "<socket>"` line above each `IdentityFile`: `certsh agent`
//! (`certsh setup agent` starts it at login) renews the certificate when ssh
//! lists its keys, so no shell is started per connection. The socket is
//! `state::store::agent_socket_path`, the one the agent's unit and `certsh
//! env --agent` name. ssh skips an `IdentityAgent` it cannot reach (no
//! socket, or nothing listening: OpenSSH 9.2 says so only with `-v`) and
//! goes on with the files, so a certificate still valid on disk works while
//! the agent is down; an expired one is renewed by nothing until it runs.
//! Named accounts keep their hooks: the agent serves the profile's own
//! credential, and the profile's lines leave the accounts' hosts out.
//!
//! Key and certificate pairing: ssh is given `current/...`, which resolves
//! the `current` symlink once per file. A certificate renewed for the same
//! key is replaced inside its generation, so the pair always matches; only
//! when a new key is published (once per `ssh.cert_key_ttl`, a day by
//! default) can an ssh that read the key just before the switch read the new
//! generation's certificate, and that one connection fails to authenticate.
//! The shim and the wrappers never have this window: they hand ssh the
//! resolved generation's paths.
//!
//! Where `current` is no folder (Windows: a pointer file), and on Unix with
//! `--via-include`, each block's key lines are `Include "<state>/keys.ssh_config"`
//! instead: a file that names one generation's key and certificate, which
//! the hook points at the current generation before ssh reads it (replaced
//! whole, so the pair always matches, a new key included). Paths there are
//! written with forward slashes, and the hook's command is one plain word,
//! because Windows OpenSSH runs it with `cmd.exe` (docs/windows.md, "Plain
//! ssh").
//!
//! Host keys: when certsh knows public host keys for the profile's hosts
//! (`setup/host_keys.rs`), it writes them to `<state>/known_hosts` and each
//! block that holds the key lines names that file with
//! `UserKnownHostsFile ~/.ssh/known_hosts ~/.ssh/known_hosts2 "<file>"`, so
//! the first connection to a region asks nothing. The user's own files come
//! first because ssh adds a key the user accepts to the first file named,
//! and certsh replaces its own; ssh checks a key against all of them. ssh
//! keeps the first `UserKnownHostsFile` it obtains: one the user set earlier
//! in the file wins, as the user meant (docs/official-cli.md, "Host keys").
//!
//! Named accounts of the profile (`config/accounts.rs`) get blocks of their
//! own before the profile's, in the order the shim ranks them: accounts by
//! project ID (`Match ... user "<id>,<id>-*"`), then host patterns, most
//! specific first. Each such block excludes what the ones before it serve,
//! and the profile's blocks exclude them all, so one connection runs one
//! hook and gets one certificate: the account's. ssh's own criteria decide,
//! so the user and host never pass through a shell (`%r` and `%n` in a hook's
//! command line would). Names that reach the cloud only through a `HostName`
//! line are served by the profile's blocks alone.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::connect::exec;
use crate::connect::shim::Installed;
use crate::state::store::{Cached, Store};
use crate::util::error::{self, Fixable};
use crate::util::platform;

mod edit;
mod render;

use edit::*;
use render::*;

/// The line certsh adds when it created the file, so that `--undo` removes
/// the file again instead of leaving an empty one.
const CREATED: &str = "# certsh created this file; --undo removes it again\n";

/// In each state folder the block names with [`Via::Include`]: the file
/// that names the current key and certificate, which the hook keeps
/// current ([`hook`]).
pub(super) const KEYS_FILE: &str = "keys.ssh_config";

/// `certsh setup ssh-config`.
pub fn setup(
    cfg: &Config,
    file: Option<PathBuf>,
    agent: bool,
    via_include: bool,
    undo: bool,
) -> Result<ExitCode> {
    let file = match file {
        Some(f) => f,
        None => crate::connect::scope::passwd_home()
            .ok_or_else(|| {
                Fixable::new(
                    "cannot find your home folder in the password database, which is where ssh looks for .ssh/config",
                    "name the file with --file",
                )
            })?
            .join(".ssh/config"),
    };
    // A dotfile manager's symlink stays a symlink: write its target.
    let file = fs::canonicalize(&file).unwrap_or(file);
    let existing = match fs::read(&file) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let (begin, end) = markers(cfg.profile.name);
    let found = existing
        .as_deref()
        .and_then(|text| find_block(text, &begin, &end));

    if undo {
        let (Some(text), Some((start, stop))) = (&existing, found) else {
            println!("{} has no certsh block; nothing to undo", file.display());
            return Ok(error::success());
        };
        let created = text[start..stop]
            .windows(CREATED.len())
            .any(|w| w == CREATED.as_bytes());
        let restored = remove_block(text, start, stop);
        backup(&file, text)?;
        if created && restored.is_empty() {
            fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
            println!("removed {}, which certsh had created", file.display());
        } else {
            write_keeping_mode(&file, &restored)?;
            println!("removed the certsh block from {}", file.display());
        }
        return Ok(error::success());
    }

    check_openssh_version()?;
    crate::state::store::check_nameable_by_ssh(&crate::state::store::primary_dir(cfg), cfg)?;
    let store = Store::prepare_in_home(cfg).map_err(|e| {
        Fixable::new(
            format!(
                "setup ssh-config needs the state folder in {}, and {}; a temporary folder in its \
                 place would be written into ssh_config for good, and another user could recreate \
                 it once it is cleaned",
                crate::state::store::primary_dir(cfg).display(),
                crate::util::sanitize::short(&format!("{e:#}"), 300)
            ),
            "run this with HOME set to your home folder, or use the ssh shim: certsh env",
        )
    })?;
    let exe = Installed::locate()?.exe;
    let created = existing.is_none()
        || found.is_some_and(|(s, e)| {
            existing.as_deref().is_some_and(|t| {
                t[s..e]
                    .windows(CREATED.len())
                    .any(|w| w == CREATED.as_bytes())
            })
        });
    let accounts = account_rules(cfg)?;
    // Where `current` is no folder, the block can only name the files
    // through the keys file, which the hook keeps current. (Not with the
    // agent, which runs no hook: clap refuses --agent with --via-include,
    // and the agent is Unix-only for now.)
    let via = if via_include || !platform::POINTER_IS_A_LINK {
        Via::Include
    } else {
        Via::Link
    };
    let renewal = if agent {
        Renewal::Agent(crate::state::store::agent_socket_path(cfg))
    } else {
        Renewal::Hook(via)
    };
    let known = store.dir.join(crate::setup::host_keys::FILE);
    let known = crate::setup::host_keys::write(&known, &crate::setup::host_keys::lines_for(cfg))?
        .then_some(known);
    let block = block(
        cfg,
        &exe,
        &renewal,
        &store.dir,
        created,
        &accounts,
        known.as_deref(),
    )?;
    let states = std::iter::once(store.dir.clone()).chain(accounts.iter().map(|r| r.state.clone()));
    for state in states {
        let keys = state.join(KEYS_FILE);
        match via {
            Via::Include => write_keys_file(&keys, Store { dir: state }.current().as_ref())?,
            Via::Link => match fs::remove_file(&keys) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", keys.display()));
                }
                _ => {}
            },
        }
    }
    let text = existing.clone().unwrap_or_default();
    let new = match found {
        Some((start, stop)) => [&text[..start], block.as_bytes(), &text[stop..]].concat(),
        None if text.is_empty() => block.clone().into_bytes(),
        // One newline before the block: a blank line after a finished last
        // line, or the end of an unfinished one. --undo removes exactly it.
        None => [&text[..], b"\n", block.as_bytes()].concat(),
    };
    if existing.as_deref() == Some(&new[..]) {
        println!("{} already has the certsh block", file.display());
        agent_notes(cfg, &file, &renewal);
        official_notes(cfg);
        return Ok(error::success());
    }
    match &existing {
        Some(old) => {
            backup(&file, old)?;
            write_keeping_mode(&file, &new)?;
        }
        None => create(&file, &new)?,
    }
    println!(
        "{} the certsh block {} {} (undo: certsh setup ssh-config --undo)\n\
         plain ssh, scp, sftp and rsync to {} now use the certificate",
        if found.is_some() { "replaced" } else { "added" },
        if found.is_some() { "in" } else { "to" },
        file.display(),
        cfg.wildcards.join(", ")
    );
    agent_notes(cfg, &file, &renewal);
    official_notes(cfg);
    Ok(error::success())
}

/// `certsh ssh-config-hook`, which the block's `Match exec` lines run
/// before ssh reads a key: make sure the certificate is valid, renewing it
/// if needed, and point the keys file (`Via::Include`) at it. Run with
/// ssh's stderr, so its one line of error or warning reaches the user; its
/// exit status only decides a `Match` with nothing under it.
///
/// When no certificate can be had, ssh goes on without one as with the
/// shim: the warning says so, and the block's `IdentityFile` lines include
/// OpenSSH's default keys. With `ssh.cert_only` the line is an error
/// instead, but a `Match exec` cannot stop ssh: the server then refuses the
/// connection.
pub fn hook(cfg: &Config) -> Result<ExitCode> {
    if cfg.auto_load_cert {
        match crate::connect::ssh::certificate(cfg) {
            Ok(c) => keep_keys_file(cfg, &c),
            Err(e) if cfg.cert_only => return Err(e),
            Err(e) => crate::util::log::warn(&crate::connect::ssh::own_keys(&e, None)),
        }
    }
    Ok(error::success())
}

/// Points the state folder's keys file at `current`, when `setup
/// ssh-config` made one there and it names other files. A file that cannot
/// be replaced is a warning: it still names a key and a certificate that
/// belong together, kept for an hour after they were replaced.
fn keep_keys_file(cfg: &Config, current: &Cached) {
    let state = crate::state::store::primary_dir(cfg);
    let keys = state.join(KEYS_FILE);
    if !current.key_path.starts_with(&state) {
        return;
    }
    let Ok(old) = fs::read(&keys) else {
        return;
    };
    if let Ok(text) = keys_file_text(&current.key_path, &current.cert_path)
        && old != text.as_bytes()
        && let Err(e) = crate::state::store::replace_read_by_others(&keys, text.as_bytes())
    {
        crate::util::log::warn(&format!(
            "{e:#}; ssh uses the key and certificate it names until the next connection"
        ));
    }
}

/// Writes a keys file for `current`, or one that names nothing yet.
fn write_keys_file(keys: &Path, current: Option<&Cached>) -> Result<()> {
    let text = match current {
        Some(c) => keys_file_text(&c.key_path, &c.cert_path)?,
        None => "# Kept by certsh's ssh-config hook: no certificate yet.\n".to_string(),
    };
    crate::state::store::replace_read_by_others(keys, text.as_bytes())
}

/// The official CLI's refresh lines still in ssh_config: each one is a PHP
/// start per connection that the block makes needless.
fn official_notes(cfg: &Config) {
    for (file, n, line) in crate::connect::scope::official_refresh_lines(cfg) {
        println!(
            "{}:{n} still has the official CLI's certificate refresh `{line}`, which starts PHP on \
             every connection: {}",
            file.display(),
            crate::connect::scope::official_refresh_fix(&file)
        );
    }
}

fn markers(profile: &str) -> (String, String) {
    (
        format!("# BEGIN certsh (profile {profile})"),
        format!("# END certsh (profile {profile})"),
    )
}

/// How the block keeps the certificate valid.
enum Renewal {
    /// `Match exec` runs certsh's hook before ssh reads a key; the block
    /// names the key and certificate this way.
    Hook(Via),
    /// `IdentityAgent` names `certsh agent`'s socket, which renews when ssh
    /// asks it for keys; no process is started per connection.
    Agent(PathBuf),
}

/// With `--agent`: whether the agent listens, and whether ssh will use it.
fn agent_notes(cfg: &Config, file: &Path, renewal: &Renewal) {
    if let Renewal::Agent(socket) = renewal {
        let listening = platform::socket_answers(socket);
        println!("{}", agent_note(socket, listening));
        for warning in agent_warnings(cfg, file, socket) {
            println!("{warning}");
        }
    }
}

/// What `setup ssh-config --agent` says of the agent after writing the block.
fn agent_note(socket: &Path, listening: bool) -> String {
    if listening {
        format!("through certsh agent at {}", socket.display())
    } else {
        format!(
            "note: nothing listens at {} yet: until certsh agent runs there, ssh uses the \
             certificate on disk as long as it is valid, and nothing renews it (start the \
             agent at login: certsh setup agent)",
            socket.display()
        )
    }
}

/// Warnings when ssh, reading `file`, would not use the agent for a cloud
/// host, as `ssh -G` says:
/// - another `IdentityAgent` than the block's: ssh keeps the first value it
///   reads, and the block is appended, so a `Host *` line above it (a
///   password manager's agent, `IdentityAgent none`) wins;
/// - `IdentitiesOnly yes`: ssh then offers an agent's key only when it
///   equals a file it loaded when it started, so a certificate the agent
///   obtains or renews during the connection is not offered, and that
///   connection fails when there was no valid one on disk (the first one,
///   and the first after an expiry).
fn agent_warnings(cfg: &Config, file: &Path, socket: &Path) -> Vec<String> {
    let Some(pattern) = cfg.wildcards.iter().find(|p| !p.starts_with('!')) else {
        return vec![];
    };
    let host = pattern.replace(['*', '?'], "x");
    let Ok(out) = exec::real_ssh().and_then(|ssh| {
        Ok(crate::util::secret::command(ssh)
            .arg("-F")
            .arg(file)
            .args(["-G", &host])
            .stdin(std::process::Stdio::null())
            .output()?)
    }) else {
        return vec![];
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| text.lines().find_map(|l| l.strip_prefix(key));
    let mut warnings = vec![];
    if let Some(used) = value("identityagent ")
        && Path::new(used) != socket
    {
        warnings.push(format!(
            "warning: for {host}, ssh uses IdentityAgent {} from a line above the certsh block in {} \
             (ssh keeps the first value it reads: move the certsh block above that line)",
            crate::util::sanitize::short(used, 200),
            file.display()
        ));
    }
    if value("identitiesonly ") == Some("yes") {
        warnings.push(format!(
            "warning: for {host}, {} sets IdentitiesOnly yes, so ssh offers the agent's certificate \
             only when the one on disk was already valid as ssh started: a connection with none \
             valid fails once (set IdentitiesOnly no for the cloud hosts above that line, or keep \
             the hook: certsh setup ssh-config without --agent)",
            file.display()
        ));
    }
    warnings
}

/// Refuses an OpenSSH too old for the block; a non-OpenSSH ssh is let
/// through with a note.
fn check_openssh_version() -> Result<()> {
    let real = exec::real_ssh()?;
    let banner =
        exec::banner(&real).with_context(|| format!("cannot run {} -V", real.display()))?;
    match exec::openssh_version(&banner) {
        Some(v) if v < exec::MIN_OPENSSH_INCLUDE => Err(Fixable::new(
            format!(
                "{} is OpenSSH {}.{}, older than {}.{}, which the ssh_config block needs",
                real.display(),
                v.0,
                v.1,
                exec::MIN_OPENSSH_INCLUDE.0,
                exec::MIN_OPENSSH_INCLUDE.1
            ),
            "upgrade OpenSSH, or use `eval \"$(certsh env --alias)\"` instead",
        )
        .into()),
        Some(_) => Ok(()),
        None => {
            crate::util::log::line(&format!(
                "note: {} does not say it is OpenSSH ({}); the block is written for OpenSSH {}.{} or later",
                real.display(),
                crate::util::sanitize::short(banner.trim(), 80),
                exec::MIN_OPENSSH_INCLUDE.0,
                exec::MIN_OPENSSH_INCLUDE.1
            ));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            exec::openssh_version("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19"),
            Some((9, 2))
        );
        assert_eq!(exec::openssh_version("OpenSSH_7.2p2 Ubuntu"), Some((7, 2)));
        assert!(exec::openssh_version("OpenSSH_7.2p2").unwrap() < exec::MIN_OPENSSH_INCLUDE);
        assert_eq!(exec::openssh_version("dropbear"), None);
    }

    #[test]
    fn accounts_come_first_and_each_block_leaves_out_the_ones_before() {
        let home = tempfile::tempdir().unwrap();
        let env: std::collections::HashMap<String, String> =
            [("HOME".to_string(), home.path().display().to_string())].into();
        let cfg = Config::load(None, &env).unwrap();
        let rule = |account: &str, criteria: &str, negated: &str| Rule {
            account: account.into(),
            criteria: criteria.into(),
            negated: negated.into(),
            state: PathBuf::from(format!("/s/accounts/{account}")),
        };
        let rules = [
            rule(
                "a",
                "originalhost \"*.m\" user \"p,p-*\"",
                "!user \"p,p-*\"",
            ),
            rule(
                "b",
                "originalhost \"b.m,!x.m\"",
                "!originalhost \"b.m,!x.m\"",
            ),
        ];
        let text = block(
            &cfg,
            Path::new("/c"),
            &Renewal::Hook(Via::Link),
            Path::new("/s"),
            false,
            &rules,
            None,
        )
        .unwrap();
        let expected = "\
# BEGIN certsh (profile magento): written by `certsh setup ssh-config`, removed by `certsh setup ssh-config --undo`
# The hook renews the certificate when needed; its exit status changes nothing below.
# The account a.
Match originalhost \"*.m\" user \"p,p-*\" exec \"/c --account a ssh-config-hook\"
Match originalhost \"*.m\" user \"p,p-*\"
    IdentityFile \"/s/accounts/a/current/id_ed25519\"
    CertificateFile \"/s/accounts/a/current/id_ed25519-cert.pub\"
    IdentityFile ~/.ssh/id_rsa
    IdentityFile ~/.ssh/id_ecdsa
    IdentityFile ~/.ssh/id_ecdsa_sk
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile ~/.ssh/id_ed25519_sk
# The account b.
Match originalhost \"b.m,!x.m\" !user \"p,p-*\" exec \"/c --account b ssh-config-hook\"
Match originalhost \"b.m,!x.m\" !user \"p,p-*\"
    IdentityFile \"/s/accounts/b/current/id_ed25519\"
    CertificateFile \"/s/accounts/b/current/id_ed25519-cert.pub\"
    IdentityFile ~/.ssh/id_rsa
    IdentityFile ~/.ssh/id_ecdsa
    IdentityFile ~/.ssh/id_ecdsa_sk
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile ~/.ssh/id_ed25519_sk
# The profile's own certificate, for what no account serves.
Match originalhost \"*.magento.cloud,*.magentosite.cloud\" !user \"p,p-*\" !originalhost \"b.m,!x.m\" exec \"/c --profile magento ssh-config-hook\"
Match host \"*.magento.cloud,*.magentosite.cloud\" !originalhost \"*.magento.cloud,*.magentosite.cloud\" !user \"p,p-*\" !originalhost \"b.m,!x.m\" exec \"/c --profile magento ssh-config-hook\"
Match originalhost \"*.magento.cloud,*.magentosite.cloud\" !user \"p,p-*\" !originalhost \"b.m,!x.m\"
    IdentityFile \"/s/current/id_ed25519\"
    CertificateFile \"/s/current/id_ed25519-cert.pub\"
    IdentityFile ~/.ssh/id_rsa
    IdentityFile ~/.ssh/id_ecdsa
    IdentityFile ~/.ssh/id_ecdsa_sk
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile ~/.ssh/id_ed25519_sk
Match host \"*.magento.cloud,*.magentosite.cloud\" !user \"p,p-*\" !originalhost \"b.m,!x.m\"
    IdentityFile \"/s/current/id_ed25519\"
    CertificateFile \"/s/current/id_ed25519-cert.pub\"
    IdentityFile ~/.ssh/id_rsa
    IdentityFile ~/.ssh/id_ecdsa
    IdentityFile ~/.ssh/id_ecdsa_sk
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile ~/.ssh/id_ed25519_sk
# END certsh (profile magento)
";
        assert_eq!(text, expected);
        // Without accounts, the block is the one certsh always wrote.
        let plain = block(
            &cfg,
            Path::new("/c"),
            &Renewal::Hook(Via::Link),
            Path::new("/s"),
            false,
            &[],
            None,
        )
        .unwrap();
        assert!(!plain.contains("account"), "{plain}");
        assert!(!plain.contains("UserKnownHostsFile"), "{plain}");
        let with_keys = block(
            &cfg,
            Path::new("/c"),
            &Renewal::Hook(Via::Link),
            Path::new("/s"),
            false,
            &[],
            Some(Path::new("/s/known_hosts")),
        )
        .unwrap();
        assert_eq!(
            with_keys
                .matches("\n    UserKnownHostsFile ~/.ssh/known_hosts ~/.ssh/known_hosts2 \"/s/known_hosts\"\n    IdentityFile \"/s/current/id_ed25519\"\n")
                .count(),
            2,
            "{with_keys}"
        );
        assert!(plain.contains("\nMatch originalhost \"*.magento.cloud,*.magentosite.cloud\" exec \"/c --profile magento ssh-config-hook\"\n"));
    }

    #[test]
    fn block_is_found_and_removed_exactly() {
        let (b, e) = markers("magento");
        for original in ["", "Host a\n", "Host a", "Host a\n\n", "Host a\r\n"] {
            let block = format!("{b}: x\nMatch host x\n{e}\n");
            let text = if original.is_empty() {
                block.clone()
            } else {
                format!("{original}\n{block}")
            };
            let (s, t) = find_block(text.as_bytes(), &b, &e).unwrap();
            assert_eq!(&text[s..t], block);
            assert_eq!(remove_block(text.as_bytes(), s, t), original.as_bytes());
        }
    }

    #[test]
    fn markers_only_count_at_line_starts() {
        let (b, e) = markers("magento");
        let text = format!("# not {b}\nHost a\n");
        assert_eq!(find_block(text.as_bytes(), &b, &e), None);
        assert_eq!(find_block(b"", &b, &e), None);
    }

    #[test]
    fn paths_ssh_would_misread_are_refused() {
        for bad in [
            "/a\"b",
            "/a'b",
            "/a\\b",
            "/a\tb",
            "/a\nb",
            "/a\rb",
            "/a\u{b}b",
            "/a\u{85}b",
            "/a${HOME}b",
            "relative",
        ] {
            assert!(config_path(Path::new(bad), false).is_err(), "{bad:?}");
        }
        for good in [
            "/Users/a b/.magento-cloud/certsh",
            "/a/100%/k",
            "/a/$b/{c}",
            "/a/#b",
        ] {
            assert_eq!(config_path(Path::new(good), false).unwrap(), good);
        }
    }

    #[test]
    fn percent_signs_are_doubled() {
        if BACKSLASHES {
            return; // Unix paths; the Windows form is the test below.
        }
        assert_eq!(config_text(Path::new("/a/100%/k")).unwrap(), "/a/100%%/k");
        assert_eq!(
            hook_command(Path::new("/a/100%/c"), ["--profile", "magento"]).unwrap(),
            "/a/100%%/c --profile magento ssh-config-hook"
        );
    }

    #[test]
    fn windows_paths_get_forward_slashes_and_the_hook_is_one_plain_word() {
        let none = |_: &Path| None;
        let short = |_: &Path| Some(PathBuf::from(r"C:\Users\JOHNSM~1\bin\certsh.exe"));
        let w = |p: &str| config_path(Path::new(p), true);
        assert_eq!(
            w(r"C:\Users\John Smith\AppData\Local\certsh\magento").unwrap(),
            "C:/Users/John Smith/AppData/Local/certsh/magento"
        );
        for bad in [
            r"relative\x",
            r"\\server\share\x",
            r"C:\a'b",
            "C:\\a\tb",
            r"C:\a${X}",
        ] {
            assert!(w(bad).is_err(), "{bad:?}");
        }
        let exe = |p: &str, s: fn(&Path) -> Option<PathBuf>| exec_word(Path::new(p), true, s);
        assert_eq!(
            exe(
                r"C:\Users\me\AppData\Local\Programs\certsh-1.0\bin\certsh.exe",
                none
            )
            .unwrap(),
            "C:/Users/me/AppData/Local/Programs/certsh-1.0/bin/certsh.exe"
        );
        // cmd.exe would split a space, expand %, and read & ( ) , = itself.
        assert_eq!(
            exe(r"C:\Users\John Smith\bin\certsh.exe", short).unwrap(),
            "C:/Users/JOHNSM~1/bin/certsh.exe"
        );
        for bad in [
            r"C:\Users\John Smith\bin\certsh.exe",
            r"C:\a%b%\certsh.exe",
            r"C:\a&b\certsh.exe",
            r"C:\a(b)\certsh.exe",
            r"C:\a,b\certsh.exe",
        ] {
            let e = exe(bad, none).unwrap_err();
            assert_eq!(
                format!("{e:#}"),
                format!(
                    "the path {:?} cannot go into ssh_config's Match exec, which Windows OpenSSH runs with cmd.exe and no quotes \
                     (install certsh in a folder whose path has only letters, digits and . _ - + ~ @, or let git run certsh: certsh setup git)",
                    bad.replace('\\', "/")
                ),
                "{bad}"
            );
        }
        // On Unix the shell quotes it.
        assert_eq!(
            exec_word(Path::new("/a b/certsh"), false, none).unwrap(),
            "'/a b/certsh'"
        );
    }

    #[test]
    fn with_the_keys_file_the_block_includes_it_and_it_names_one_generation() {
        let state = std::env::temp_dir().join("s");
        let text = |p: &Path| config_text(p).unwrap();
        let home = tempfile::tempdir().unwrap();
        let env: std::collections::HashMap<String, String> =
            [("HOME".to_string(), home.path().display().to_string())].into();
        let cfg = Config::load(None, &env).unwrap();
        let exe = std::env::temp_dir().join("certsh");
        let block = block(
            &cfg,
            &exe,
            &Renewal::Hook(Via::Include),
            &state,
            false,
            &[],
            None,
        )
        .unwrap();
        let patterns = "*.magento.cloud,*.magentosite.cloud";
        let hook = format!("{} --profile magento ssh-config-hook", text(&exe));
        let lines = format!(
            "    Include \"{}\"\n    IdentityFile ~/.ssh/id_rsa\n    IdentityFile ~/.ssh/id_ecdsa\n    IdentityFile ~/.ssh/id_ecdsa_sk\n    IdentityFile ~/.ssh/id_ed25519\n    IdentityFile ~/.ssh/id_ed25519_sk\n",
            text(&state.join(KEYS_FILE))
        );
        assert_eq!(
            block,
            format!(
                "# BEGIN certsh (profile magento): written by `certsh setup ssh-config`, removed by `certsh setup ssh-config --undo`\n\
                 # The hook renews the certificate when needed; its exit status changes nothing below.\n\
                 Match originalhost \"{patterns}\" exec \"{hook}\"\n\
                 Match host \"{patterns}\" !originalhost \"{patterns}\" exec \"{hook}\"\n\
                 Match originalhost \"{patterns}\"\n{lines}\
                 Match host \"{patterns}\"\n{lines}\
                 # END certsh (profile magento)\n"
            )
        );
        let generation = state.join("gen-1-a");
        let key = generation.join("id_ed25519");
        let cert = generation.join("id_ed25519-cert.pub");
        assert_eq!(
            keys_file_text(&key, &cert).unwrap(),
            format!(
                "# Kept by certsh's ssh-config hook: the key and certificate in use, for the certsh block in ssh_config.\n\
                 IdentityFile \"{}\"\nCertificateFile \"{}\"\n",
                text(&key),
                text(&cert)
            )
        );
        if BACKSLASHES {
            assert!(
                !block.contains('\\') && text(&key).starts_with(|c: char| c.is_ascii_alphabetic())
            );
        }
    }
}
