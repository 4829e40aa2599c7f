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

use crate::config::accounts::Account;
use crate::config::host_pattern;
use crate::config::{Config, For, Problems, ProcessEnv};
use crate::connect::exec;
use crate::connect::shim::{Installed, sh_quote_path};
use crate::state::store::Store;
use crate::util::error::{self, Fixable};
use crate::util::platform;

/// The line certsh adds when it created the file, so that `--undo` removes
/// the file again instead of leaving an empty one.
const CREATED: &str = "# certsh created this file; --undo removes it again\n";

/// `certsh setup ssh-config`.
pub fn setup(cfg: &Config, file: Option<PathBuf>, agent: bool, undo: bool) -> Result<ExitCode> {
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
    let renewal = if agent {
        Renewal::Agent(crate::state::store::agent_socket_path(cfg))
    } else {
        Renewal::Hook
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
    /// `Match exec` runs certsh's hook before ssh reads a key.
    Hook,
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

/// One `Match` criterion set that gives an account its certificate.
#[derive(Debug)]
struct Rule {
    /// The account's name, for its hook.
    account: String,
    /// What selects it, e.g. `originalhost "b.example,!c.example"`.
    criteria: String,
    /// The same, negated: what later blocks add so as not to match too.
    negated: String,
    /// The account's state folder.
    state: PathBuf,
}

/// The rules of the profile's named accounts, in the shim's order of
/// precedence (see the module's comment); empty without accounts.
fn account_rules(cfg: &Config) -> Result<Vec<Rule>> {
    let mut problems = Problems::default();
    let found = crate::config::read_accounts(&ProcessEnv, &cfg.home, &mut problems, true);
    problems.warn_ignored();
    if let Some(e) = problems.invalid.into_iter().next() {
        return Err(e);
    }
    let Some(all) = found else {
        return Ok(vec![]);
    };
    let mine: Vec<&Account> = all
        .list
        .iter()
        .filter(|a| a.profile == cfg.profile)
        .collect();
    let state = |a: &Account| -> Result<PathBuf> {
        let who = For {
            account: Some(&a.name),
            ..Default::default()
        };
        let acfg = Config::load_for(None, who, &ProcessEnv)?;
        Ok(Store::prepare_in_home(&acfg)?.dir)
    };
    let scope = cfg.wildcards.join(",");
    let mut rules = vec![];
    for a in mine.iter().filter(|a| !a.projects.is_empty()) {
        let users: Vec<String> = a
            .projects
            .iter()
            .flat_map(|p| [p.clone(), format!("{p}-*")])
            .collect();
        let users = users.join(",");
        rules.push(Rule {
            account: a.name.clone(),
            criteria: format!("originalhost \"{scope}\" user \"{users}\""),
            negated: format!("!user \"{users}\""),
            state: state(a)?,
        });
    }
    let mut hosts = vec![];
    for a in &mine {
        let negations: Vec<&String> = a.hosts.iter().filter(|h| h.starts_with('!')).collect();
        for p in a.hosts.iter().filter(|h| !h.starts_with('!')) {
            let chars = p.bytes().filter(|b| !b"*?".contains(b)).count();
            let list = std::iter::once(p)
                .chain(negations.iter().copied())
                .cloned()
                .collect::<Vec<_>>()
                .join(",");
            hosts.push(((chars == p.len(), chars), *a, list));
        }
    }
    // Most specific first; a tie (which the shim refuses) goes to the name
    // that sorts first.
    hosts.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.name.cmp(&y.1.name)));
    for (_, a, list) in hosts {
        rules.push(Rule {
            account: a.name.clone(),
            criteria: format!("originalhost \"{list}\""),
            negated: format!("!originalhost \"{list}\""),
            state: state(a)?,
        });
    }
    Ok(rules)
}

/// The block's text, ending in a newline.
fn block(
    cfg: &Config,
    exe: &Path,
    renewal: &Renewal,
    state: &Path,
    created: bool,
    accounts: &[Rule],
    known_hosts: Option<&Path>,
) -> Result<String> {
    let known = match known_hosts {
        Some(k) => format!(
            "    UserKnownHostsFile ~/.ssh/known_hosts ~/.ssh/known_hosts2 \"{}\"\n",
            percent(&config_safe(k)?)
        ),
        None => String::new(),
    };
    let (begin, end) = markers(cfg.profile.name);
    if cfg.wildcards.is_empty() {
        return Err(Fixable::new(
            "there are no host patterns to write into ssh_config",
            "set ssh.domain_wildcards to patterns such as *.magento.cloud",
        )
        .into());
    }
    // Config::load has refused any other pattern already; this block is
    // where a bad one would do harm, so it checks again.
    if let Some(bad) = cfg
        .wildcards
        .iter()
        .find(|p| !host_pattern::is_safe_host_pattern(p))
    {
        return Err(host_pattern::BadHostPattern {
            pattern: host_pattern::quoted(bad),
            origin: "the configuration".into(),
        }
        .into());
    }
    let patterns = cfg.wildcards.join(",");
    // The profile's name is written into comments and the hook's command.
    if !host_pattern::is_safe_host_pattern(cfg.profile.name)
        || cfg.profile.name.contains(['*', '?', '!'])
    {
        return Err(Fixable::new(
            format!(
                "the profile name {:?} cannot go into ssh_config",
                cfg.profile.name
            ),
            "use one of the built-in profiles",
        )
        .into());
    }
    let hook = hook_command(exe, "--profile", cfg.profile.name)?;
    let mut files = format!("{known}{}", key_lines(state)?);
    let (command, comment) = match renewal {
        Renewal::Hook => (
            "certsh setup ssh-config",
            "# The hook renews the certificate when needed; its exit status changes nothing below.\n",
        ),
        Renewal::Agent(socket) => {
            // The agent first; the files still serve a valid certificate
            // when it is not running (ssh skips an agent it cannot reach).
            files.insert_str(
                0,
                &format!("    IdentityAgent \"{}\"\n", percent(&config_safe(socket)?)),
            );
            (
                "certsh setup ssh-config --agent",
                "# certsh agent renews the certificate when ssh asks it for keys.\n",
            )
        }
    };
    // Each account's blocks leave out what earlier ones serve; the
    // profile's leave out every account's.
    let mut rules = String::new();
    let mut before = String::new();
    for r in accounts {
        let account_hook = hook_command(exe, "--account", &r.account)?;
        rules.push_str(&format!(
            "# The account {name}.\n\
             Match {criteria}{before} exec \"{account_hook}\"\n\
             Match {criteria}{before}\n\
             {known}{files}",
            files = key_lines(&r.state)?,
            name = r.account,
            criteria = r.criteria,
        ));
        before.push(' ');
        before.push_str(&r.negated);
    }
    if !accounts.is_empty() {
        rules.push_str("# The profile's own certificate, for what no account serves.\n");
    }
    let not = before;
    let hooks = match renewal {
        Renewal::Agent(_) => String::new(),
        Renewal::Hook => format!(
            "Match originalhost \"{patterns}\"{not} exec \"{hook}\"\n\
             Match host \"{patterns}\" !originalhost \"{patterns}\"{not} exec \"{hook}\"\n"
        ),
    };
    Ok(format!(
        "{begin}: written by `{command}`, removed by `certsh setup ssh-config --undo`\n\
         {created}\
         {comment}\
         {rules}\
         {hooks}\
         Match originalhost \"{patterns}\"{not}\n\
         {files}\
         Match host \"{patterns}\"{not}\n\
         {files}\
         {end}\n",
        created = if created { CREATED } else { "" },
    ))
}

/// The hook's command line for ssh_config (`%` doubled): certsh with
/// `option value` (`--profile magento`, `--account client-a`).
fn hook_command(exe: &Path, option: &str, value: &str) -> Result<String> {
    let hook = format!(
        "{} {option} {value} ssh-config-hook",
        sh_quote_path(&config_safe(exe)?)?
    );
    Ok(percent(Path::new(&hook)))
}

/// The key and certificate lines for the state folder `state`, then the
/// user's own keys ([`OPENSSH_DEFAULT_KEYS`]), for the profile and for each
/// account alike.
fn key_lines(state: &Path) -> Result<String> {
    let key = config_safe(&state.join("current/id_ed25519"))?;
    let cert = config_safe(&state.join("current/id_ed25519-cert.pub"))?;
    let mut lines = format!(
        "    IdentityFile \"{}\"\n    CertificateFile \"{}\"\n",
        percent(&key),
        percent(&cert)
    );
    for default in OPENSSH_DEFAULT_KEYS {
        lines.push_str(&format!("    IdentityFile {default}\n"));
    }
    Ok(lines)
}

/// OpenSSH's default key files, which it tries only when no `IdentityFile`
/// applies to the host. The block names them after certsh's key, so that
/// when no certificate can be had (no credential, no terminal for a login,
/// the certifier unreachable) ssh still tries the user's own keys, as the
/// shim does (`connect/ssh.rs`); missing files are skipped by ssh.
const OPENSSH_DEFAULT_KEYS: [&str; 5] = [
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
];

/// A path that can be written in ssh_config between double quotes and in
/// `sh` between single quotes, and that every ssh_config parser reads as
/// written: no quote or backslash (they change the quoting, and OpenSSH 9.9
/// changed how `Match` lines are split), no control character or white
/// space other than a plain space (which the quotes hold), and no `${`
/// (expanded, with no escape). `%` is doubled by [`percent`].
fn config_safe(path: &Path) -> Result<PathBuf> {
    let text = path.to_str().unwrap_or("\n");
    let unsafe_char = |c: char| {
        matches!(c, '"' | '\'' | '\\') || (c.is_control() || c.is_whitespace()) && c != ' '
    };
    if text.contains(unsafe_char)
        || crate::state::store::has_dollar_brace(path)
        || !path.is_absolute()
    {
        return Err(Fixable::new(
            format!(
                "the path {} cannot be written into ssh_config",
                crate::util::sanitize::short(&format!("{text:?}"), 300)
            ),
            "use a home folder and an install prefix without quotes, backslashes, tabs, line breaks or \"${\"",
        )
        .into());
    }
    Ok(path.to_path_buf())
}

/// ssh expands `%` tokens in these options; a literal `%` is `%%`.
fn percent(path: &Path) -> String {
    path.to_string_lossy().replace('%', "%%")
}

/// The block's byte range: from the start of its first line to the end of
/// its last line (newline included).
fn find_block(text: &[u8], begin: &str, end: &str) -> Option<(usize, usize)> {
    let start = line_starting_with(text, begin.as_bytes(), 0)?;
    let end_line = line_starting_with(text, end.as_bytes(), start)?;
    let stop = text[end_line..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| end_line + i + 1);
    Some((start, stop))
}

fn line_starting_with(text: &[u8], prefix: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at <= text.len() {
        if text[at..].starts_with(prefix) && (at == 0 || text[at - 1] == b'\n') {
            return Some(at);
        }
        at += text[at..].iter().position(|&b| b == b'\n')? + 1;
    }
    None
}

/// The text without the block and the one newline certsh put before it.
fn remove_block(text: &[u8], start: usize, stop: usize) -> Vec<u8> {
    let cut = if start > 0 { start - 1 } else { start };
    [&text[..cut], &text[stop..]].concat()
}

fn backup(file: &Path, old: &[u8]) -> Result<()> {
    let path = backup_path(file);
    write_new_file(&path, old, 0o600)
}

fn backup_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".certsh-backup");
    file.with_file_name(name)
}

/// Replaces `file` by rename, keeping its permissions, so that an ssh
/// reading it sees the old file or the new one.
fn write_keeping_mode(file: &Path, bytes: &[u8]) -> Result<()> {
    let mode = fs::metadata(file)
        .map(|m| platform::mode_of(file, &m))
        .unwrap_or(0o600);
    write_new_file(file, bytes, mode)
}

/// Creates the file (and `~/.ssh`, 0700, if missing).
fn create(file: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = file.parent()
        && !dir.exists()
    {
        platform::create_private_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_new_file(file, bytes, 0o600)
}

fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::state::store::replace_file(dir, path, bytes, mode)
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
            &Renewal::Hook,
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
            &Renewal::Hook,
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
            &Renewal::Hook,
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
            assert!(config_safe(Path::new(bad)).is_err(), "{bad:?}");
        }
        for good in [
            "/Users/a b/.magento-cloud/certsh",
            "/a/100%/k",
            "/a/$b/{c}",
            "/a/#b",
        ] {
            assert!(config_safe(Path::new(good)).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn percent_signs_are_doubled() {
        assert_eq!(percent(Path::new("/a/100%/k")), "/a/100%%/k");
    }
}
