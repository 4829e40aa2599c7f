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
    let hook = hook_command(exe, cfg.own_options())?;
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
        let account_hook = hook_command(exe, own_options(Some(&r.account), cfg.profile))?;
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
pub(super) fn hook_command(exe: &Path, [option, value]: [&str; 2]) -> Result<String> {
    let hook = format!(
        "{} {option} {value} ssh-config-hook",
        sh_quote_path(&config_safe(exe)?)?
    );
    Ok(percent(Path::new(&hook)))
}

/// The key and certificate lines for the state folder `state`, then the
/// user's own keys ([`OPENSSH_DEFAULT_KEYS`]), for the profile and for each
/// account alike.
pub(super) fn key_lines(state: &Path) -> Result<String> {
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
pub(super) const OPENSSH_DEFAULT_KEYS: [&str; 5] = [
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
pub(super) fn config_safe(path: &Path) -> Result<PathBuf> {
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
pub(super) fn percent(path: &Path) -> String {
    path.to_string_lossy().replace('%', "%%")
}
