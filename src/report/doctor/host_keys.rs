//! doctor's host-key check: whether ssh already knows the host key of each
//! cloud host that this folder's git remotes name. certsh ships the keys of
//! the regions it knows (`setup/host_keys.rs`), but not Magento Cloud's, so
//! there the first connection to a region asks to accept its key, or fails
//! where nobody can answer (CI, an IDE). A fixed host name would not do:
//! after the first connection `known_hosts` holds the region's own host
//! (`git.us-3.magento.cloud`), so the check asks about the hosts the
//! repository really uses, as ssh would look them up (docs/commands.md).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{Check, Verdict};
use crate::config::Config;
use crate::config::host_pattern::host_matches;
use crate::connect::scope;
use crate::util::{sanitize, secret};

/// One line per cloud host the remotes name; none outside a repository or
/// when no remote is the cloud's.
pub(super) fn checks(cfg: &Config, real_ssh: &Path) -> Vec<Check> {
    let mut hosts: Vec<(Remote, Vec<String>)> = vec![];
    for (name, url) in remotes() {
        let Some(remote) = parse_url(&url) else {
            continue;
        };
        if !host_matches(&remote.host, &cfg.wildcards) {
            continue;
        }
        match hosts.iter_mut().find(|(r, _)| *r == remote) {
            Some((_, names)) => names.push(name),
            None => hosts.push((remote, vec![name])),
        }
    }
    hosts
        .into_iter()
        .filter_map(|(remote, names)| check(cfg, real_ssh, &remote, &names))
        .collect()
}

/// A host and port from a remote's URL.
#[derive(Debug, PartialEq, Eq)]
struct Remote {
    host: String,
    port: Option<u16>,
}

/// `(remote name, url)` for each `remote.<name>.url` git sees here.
fn remotes() -> Vec<(String, String)> {
    let Ok(out) = secret::command("git")
        .args(["config", "--get-regexp", r"^remote\..*\.url$"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return vec![];
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (key, url) = l.split_once(' ')?;
            let name = key.strip_prefix("remote.")?.strip_suffix(".url")?;
            Some((name.to_string(), url.trim().to_string()))
        })
        .collect()
}

/// The ssh host of a git URL: `ssh://[user@]host[:port]/path` (also
/// `git+ssh://`, `ssh+git://`) or scp-like `[user@]host:path`; None for any
/// other kind (https, file, a local path).
fn parse_url(url: &str) -> Option<Remote> {
    let rest = ["ssh://", "git+ssh://", "ssh+git://"]
        .iter()
        .find_map(|p| url.strip_prefix(p));
    if let Some(rest) = rest {
        let authority = rest.split('/').next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = match host_port.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            },
        };
        let port = match port {
            Some(p) if !p.is_empty() => Some(p.parse().ok()?),
            _ => None,
        };
        return remote(host, port);
    }
    // scp-like: a colon before any slash, and not a Windows drive letter;
    // an IPv6 address in brackets holds colons of its own.
    let colon = match url.find('[') {
        Some(open) if !url[..open].contains(':') => {
            let close = open + url[open..].find(']')?;
            url[close + 1..].starts_with(':').then_some(close + 1)?
        }
        _ => url.find(':')?,
    };
    if url[..colon].contains('/') || url.contains("://") || colon == 1 {
        return None;
    }
    let before = &url[..colon];
    let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    remote(host, None)
}

fn remote(host: &str, port: Option<u16>) -> Option<Remote> {
    (!host.is_empty() && !host.starts_with('-')).then(|| Remote {
        host: host.to_ascii_lowercase(),
        port,
    })
}

fn check(cfg: &Config, real_ssh: &Path, remote: &Remote, names: &[String]) -> Option<Check> {
    let port = remote.port.map(|p| p.to_string());
    let mut args: Vec<&str> = vec![];
    if let Some(p) = &port {
        args.extend(["-p", p]);
    }
    args.push(&remote.host);
    let text = scope::ssh_g(real_ssh, &args)?;
    let value = |key: &str| {
        scope::ssh_g_values(&text, key)
            .first()
            .map(|v| v.to_string())
    };
    // ssh looks a host up by its HostKeyAlias, else by its HostName, with
    // the port in brackets when it is not 22.
    let name = value("hostkeyalias")
        .filter(|a| a != "none")
        .or_else(|| value("hostname"))
        .unwrap_or_else(|| remote.host.clone());
    let lookup = match value("port").as_deref() {
        None | Some("22") => name,
        Some(p) => format!("[{name}]:{p}"),
    };
    let home = scope::passwd_home();
    let files: Vec<PathBuf> = ["userknownhostsfile", "globalknownhostsfile"]
        .iter()
        .flat_map(|key| scope::ssh_g_values(&text, key))
        .flat_map(str::split_whitespace)
        .filter(|f| !matches!(*f, "/dev/null" | "none"))
        .map(|f| expand(f, home.as_deref()))
        .collect();
    // Names come from the repository's config: shown made safe, as the host.
    let names: Vec<String> = names.iter().map(|n| sanitize::text(n)).collect();
    let which = match names.as_slice() {
        [one] => format!("remote {one}"),
        many => format!("remotes {}", many.join(", ")),
    };
    let host = sanitize::text(&remote.host);
    if let Some(file) = files.iter().find(|f| known(&lookup, f)) {
        return Some(Check::ok(
            "host key",
            format!("{host} ({which}) is known ({})", file.display()),
        ));
    }
    let listed = sanitize::short(
        &files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        160,
    );
    let strict = value("stricthostkeychecking").unwrap_or_default();
    let batch = value("batchmode").is_some_and(|v| v == "yes");
    let title = cfg.profile.title;
    let checked = format!("after checking its fingerprint against the one {title} publishes");
    let unknown = format!("{host} ({which}) is in no known-hosts file ssh reads ({listed})");
    Some(match strict.as_str() {
        "accept-new" | "false" | "no" | "off" => Check::ok(
            "host key",
            format!(
                "{host} ({which}) is not known yet; StrictHostKeyChecking {strict} takes the first key it is shown"
            ),
        ),
        "true" | "yes" => Check::bad(
            Verdict::Warn,
            "host key",
            format!("{unknown}, and StrictHostKeyChecking is yes: ssh refuses to connect"),
            format!("add its key to ~/.ssh/known_hosts, {checked}"),
        ),
        _ if batch => Check::bad(
            Verdict::Warn,
            "host key",
            format!("{unknown}, and BatchMode is yes: ssh cannot ask, so it refuses to connect"),
            format!("connect once at a terminal and accept its key, {checked}"),
        ),
        _ => Check::bad(
            Verdict::Warn,
            "host key",
            format!(
                "{unknown}: the first connection asks to accept its key, and fails where nobody \
                 can answer (CI, an IDE)"
            ),
            format!(
                "connect once at a terminal; before you answer yes, compare the fingerprint ssh \
                 shows with the one {title} publishes"
            ),
        ),
    })
}

/// `~/` as ssh expands it: the password database's home.
fn expand(file: &str, home: Option<&Path>) -> PathBuf {
    match (file.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(file),
    }
}

/// Whether `file` holds a key for `lookup` (`ssh-keygen -F`, which also
/// reads hashed names).
fn known(lookup: &str, file: &Path) -> bool {
    file.is_file()
        && secret::command("ssh-keygen")
            .arg("-F")
            .arg(lookup)
            .arg("-f")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(host: &str, port: Option<u16>) -> Option<Remote> {
        Some(Remote {
            host: host.into(),
            port,
        })
    }

    #[test]
    fn git_urls_give_their_ssh_host() {
        let cases = [
            (
                "abc@git.us-3.magento.cloud:abc.git",
                r("git.us-3.magento.cloud", None),
            ),
            (
                "git.EU.magento.cloud:abc.git",
                r("git.eu.magento.cloud", None),
            ),
            (
                "ssh://abc@git.us-3.magento.cloud/abc.git",
                r("git.us-3.magento.cloud", None),
            ),
            (
                "ssh://git.us-3.magento.cloud:2222/abc.git",
                r("git.us-3.magento.cloud", Some(2222)),
            ),
            ("git+ssh://u@[::1]:2200/x", r("::1", Some(2200))),
            ("u@[::1]:x.git", r("::1", None)),
            ("https://git.us-3.magento.cloud/abc.git", None),
            ("/srv/repo.git", None),
            ("./a:b", None),
            ("C:/repos/a.git", None),
            ("file:///srv/a.git", None),
            ("ssh://-oProxyCommand=x/a", None),
            ("ssh://host:notaport/a", None),
        ];
        for (url, want) in cases {
            assert_eq!(parse_url(url), want, "{url}");
        }
    }

    #[test]
    fn a_tilde_is_the_password_databases_home() {
        let home = Path::new("/home/u");
        assert_eq!(
            expand("~/.ssh/known_hosts", Some(home)),
            home.join(".ssh/known_hosts")
        );
        assert_eq!(
            expand("/etc/ssh/ssh_known_hosts", Some(home)),
            PathBuf::from("/etc/ssh/ssh_known_hosts")
        );
    }
}
