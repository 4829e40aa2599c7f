//! Rendering certsh's block: the accounts' `Match` rules, the hook's
//! command line and the key lines, with every path quoted as ssh reads it.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::accounts::Account;
use crate::config::host_pattern;
use crate::config::{Config, For, ProcessEnv, own_options};
use crate::connect::shim::sh_quote_path;
use crate::state::store::Store;
use crate::util::error::Fixable;

use super::{CREATED, Renewal, markers};

/// One `Match` criterion set that gives an account its certificate.
#[derive(Debug)]
pub(super) struct Rule {
    /// The account's name, for its hook.
    pub(super) account: String,
    /// What selects it, e.g. `originalhost "b.example,!c.example"`.
    pub(super) criteria: String,
    /// The same, negated: what later blocks add so as not to match too.
    pub(super) negated: String,
    /// The account's state folder.
    pub(super) state: PathBuf,
}

/// The rules of the profile's named accounts, in the shim's order of
/// precedence (see the module's comment); empty without accounts.
pub(super) fn account_rules(cfg: &Config) -> Result<Vec<Rule>> {
    let found = crate::config::accounts_or_error(&ProcessEnv, &cfg.home)?;
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
pub(super) fn block(
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
            config_text(k)?
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
    let hook = hook_command(exe, cfg.own_options())?;
    let via = match renewal {
        Renewal::Hook(via) => *via,
        Renewal::Agent(_) => Via::Link,
    };
    let mut files = format!("{known}{}", key_lines(state, via)?);
    let (command, comment) = match renewal {
        Renewal::Hook(_) => (
            "certsh setup ssh-config",
            "# The hook renews the certificate when needed; its exit status changes nothing below.\n",
        ),
        Renewal::Agent(socket) => {
            // The agent first; the files still serve a valid certificate
            // when it is not running (ssh skips an agent it cannot reach).
            files.insert_str(
                0,
                &format!("    IdentityAgent \"{}\"\n", config_text(socket)?),
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
        let account_hook = hook_command(exe, own_options(Some(&r.account), cfg.profile))?;
        rules.push_str(&format!(
            "# The account {name}.\n\
             Match {criteria}{before} exec \"{account_hook}\"\n\
             Match {criteria}{before}\n\
             {known}{files}",
            files = key_lines(&r.state, via)?,
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
        Renewal::Hook(_) => format!(
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
pub(super) fn hook_command(exe: &Path, [option, value]: [&str; 2]) -> Result<String> {
    let exe = exec_word(exe, BACKSLASHES, crate::util::platform::short_path)?;
    Ok(format!("{exe} {option} {value} ssh-config-hook").replace('%', "%%"))
}

/// certsh's path as the first word of a `Match exec` command. On Unix ssh
/// hands the command to the user's shell: the path in `sh` quoting. Windows
/// OpenSSH hands it to `cmd.exe` and Git for Windows' ssh to its `sh`, and a
/// `Match exec` command cannot hold a double quote, so there the path must
/// be one plain word for both: forward slashes, and nothing but letters,
/// digits and `/ . _ - + : ~ @`. A space (a user name with one) is avoided
/// through the path's short form (`JOHNSM~1`) where the volume keeps one.
pub(super) fn exec_word(
    exe: &Path,
    backslashes: bool,
    short: fn(&Path) -> Option<PathBuf>,
) -> Result<String> {
    let text = config_path(exe, backslashes)?;
    if !backslashes {
        return sh_quote_path(Path::new(&text));
    }
    let plain = |t: &str| {
        t.chars()
            .all(|c| c.is_alphanumeric() || "/._-+:~@".contains(c))
    };
    if plain(&text) {
        return Ok(text);
    }
    if let Some(short) = short(exe)
        && let Ok(text) = config_path(&short, backslashes)
        && plain(&text)
    {
        return Ok(text);
    }
    Err(Fixable::new(
        format!(
            "the path {} cannot go into ssh_config's Match exec, which Windows OpenSSH runs with cmd.exe and no quotes",
            crate::util::sanitize::short(&format!("{text:?}"), 300)
        ),
        "install certsh in a folder whose path has only letters, digits and . _ - + ~ @, or let git run certsh: certsh setup git",
    )
    .into())
}

/// How the block names the key and the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// Through the `current` symlink: `<state>/current/id_ed25519`.
    Link,
    /// `Include "<state>/keys.ssh_config"`, a file that names the current
    /// generation's two files and that the hook keeps current
    /// ([`keys_file_text`]): where `current` is no folder (Windows), or
    /// with `--via-include`.
    Include,
}

/// The key and certificate lines for the state folder `state`, then the
/// user's own keys ([`OPENSSH_DEFAULT_KEYS`]), for the profile and for each
/// account alike.
pub(super) fn key_lines(state: &Path, via: Via) -> Result<String> {
    let mut lines = match via {
        Via::Link => format!(
            "    IdentityFile \"{}\"\n    CertificateFile \"{}\"\n",
            config_text(&state.join("current/id_ed25519"))?,
            config_text(&state.join("current/id_ed25519-cert.pub"))?,
        ),
        Via::Include => format!(
            "    Include \"{}\"\n",
            config_text(&state.join(super::KEYS_FILE))?
        ),
    };
    for default in OPENSSH_DEFAULT_KEYS {
        lines.push_str(&format!("    IdentityFile {default}\n"));
    }
    Ok(lines)
}

/// The text of `<state>/keys.ssh_config`: one generation's key and
/// certificate, named together in one file that is replaced whole, so that
/// ssh reads a key and a certificate of one generation.
pub(super) fn keys_file_text(key: &Path, cert: &Path) -> Result<String> {
    Ok(format!(
        "# Kept by certsh's ssh-config hook: the key and certificate in use, for the certsh block in ssh_config.\n\
         IdentityFile \"{}\"\n\
         CertificateFile \"{}\"\n",
        config_text(key)?,
        config_text(cert)?
    ))
}

/// OpenSSH's default key files, which it tries only when no `IdentityFile`
/// applies to the host. The block names them after certsh's key, so that
/// when no certificate can be had (no credential, no terminal for a login,
/// the certifier unreachable) ssh still tries the user's own keys, as the
/// shim does (`connect/ssh.rs`); missing files are skipped by ssh.
pub(super) const OPENSSH_DEFAULT_KEYS: [&str; 5] = [
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
];

/// Whether this platform's paths are written with backslashes (Windows).
/// ssh_config gets them with forward slashes, which Windows OpenSSH and
/// Git for Windows' ssh both read, and which need no escaping.
pub(super) const BACKSLASHES: bool = std::path::MAIN_SEPARATOR == '\\';

/// `path` as ssh_config text between double quotes, `%` doubled.
pub(super) fn config_text(path: &Path) -> Result<String> {
    Ok(config_path(path, BACKSLASHES)?.replace('%', "%%"))
}

/// A path that can be written in ssh_config between double quotes and in
/// `sh` between single quotes, and that every ssh_config parser reads as
/// written: no quote or backslash (they change the quoting, and OpenSSH 9.9
/// changed how `Match` lines are split), no control character or white
/// space other than a plain space (which the quotes hold), and no `${`
/// (expanded, with no escape). With `backslashes` (a Windows path,
/// `C:\\Users\\...`), its backslashes become forward slashes first.
pub(super) fn config_path(path: &Path, backslashes: bool) -> Result<String> {
    let text = path.to_str().unwrap_or("\n");
    let (text, absolute) = if backslashes {
        let b = text.as_bytes();
        let drive = b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\';
        (text.replace('\\', "/"), drive)
    } else {
        (text.to_string(), text.starts_with('/'))
    };
    let unsafe_char = |c: char| {
        matches!(c, '"' | '\'' | '\\') || (c.is_control() || c.is_whitespace()) && c != ' '
    };
    if text.contains(unsafe_char) || text.contains("${") || !absolute {
        return Err(Fixable::new(
            format!(
                "the path {} cannot be written into ssh_config",
                crate::util::sanitize::short(&format!("{:?}", path.to_string_lossy()), 300)
            ),
            "use a home folder and an install prefix without quotes, backslashes, tabs, line breaks or \"${\"",
        )
        .into());
    }
    Ok(text)
}
