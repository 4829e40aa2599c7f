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
//! - The hook is certsh's hot path (a `readlink`, one small file): about a
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
mod tests;
