//! Named accounts: more than one credential for one person or one CI runner,
//! each serving its own projects or hosts.
//!
//! They are defined in certsh's own file, never in the official CLI's
//! `config.yaml` (which certsh only reads): `$CERTSH_CONFIG` when set, else
//! `$XDG_CONFIG_HOME/certsh/config.yaml`, else `~/.config/certsh/config.yaml`.
//! Like `config.yaml`, it is read only when nobody but the user (or root) can
//! have written it (`config/trust.rs`): an account decides where a token goes.
//!
//! ```yaml
//! accounts:
//!   client-a:
//!     profile: magento
//!     token_env: CLIENT_A_TOKEN
//!     projects: [abcdef7uyxabce]
//!     hosts: ["*.eu-3.magento.cloud"]
//! ```
//!
//! An account serves a destination when the project ID (the ssh user up to
//! its first `-`) is one of its `projects`, or when the host matches its
//! `hosts`. The most specific match wins: a project ID beats any host
//! pattern; among host patterns, one without `*` or `?` beats one with them,
//! then the one with more literal characters wins. Two accounts that match
//! equally are an error, never a guess. No match: the profile's own
//! credential, as without accounts.
//!
//! With no file, the cost is one failed `open`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use crate::config::host_pattern;
use crate::config::profile::{self, Profile};
use crate::util::error::Fixable;

/// The variable that names the accounts file.
pub const FILE_VAR: &str = "CERTSH_CONFIG";
/// The variable that forces an account, like `--account`.
pub const ACCOUNT_VAR: &str = "CERTSH_ACCOUNT";

/// One named account, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name: lower-case letters, digits, `-` and `_`; also the name of
    /// its state folder.
    pub name: String,
    /// The cloud it belongs to.
    pub profile: &'static Profile,
    /// The environment variable that holds its API token, if any; else a
    /// token stored or a session kept by `certsh --account NAME login`.
    pub token_env: Option<String>,
    /// The project IDs it serves.
    pub projects: Vec<String>,
    /// The host patterns it serves (OpenSSH patterns, `!` negates).
    pub hosts: Vec<String>,
    /// The line of the file it is defined on, for messages.
    pub line: usize,
}

/// The accounts file, read and checked.
#[derive(Debug, Default)]
pub struct Accounts {
    /// The file.
    pub file: PathBuf,
    /// Its accounts, by name.
    pub list: Vec<Account>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileAccounts {
    accounts: BTreeMap<String, Option<FileAccount>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileAccount {
    profile: Option<String>,
    token_env: Option<String>,
    projects: Vec<String>,
    hosts: Vec<String>,
}

/// Where the accounts file is: `$CERTSH_CONFIG`, else under
/// `$XDG_CONFIG_HOME` (when absolute), else under `~/.config`. `var` reads
/// the environment; `config/select.rs` reads the file.
pub fn file_path(var: impl Fn(&str) -> Option<std::ffi::OsString>, home: &Path) -> PathBuf {
    if let Some(p) = var(FILE_VAR) {
        return PathBuf::from(p);
    }
    let base = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home.join(".config"));
    base.join("certsh").join("config.yaml")
}

fn bad(path: &Path, line: usize, problem: String, fix: &str) -> anyhow::Error {
    Fixable::new(format!("{}:{line}: {problem}", path.display()), fix).into()
}

const FIX: &str = "fix the accounts file";

/// The accounts in the file's text; `path` is for messages, which name the
/// file and the line.
pub fn parse(path: &Path, text: &str) -> Result<Accounts> {
    let raw: FileAccounts = if text.trim().is_empty() {
        FileAccounts::default()
    } else {
        serde_norway::from_str::<Option<FileAccounts>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| {
                let line = e.location().map_or(0, |l| l.line());
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                bad(path, line, crate::util::sanitize::short(&msg, 200), FIX)
            })?
    };
    let mut list = Vec::with_capacity(raw.accounts.len());
    for (name, entry) in raw.accounts {
        let line = line_of(text, &name);
        let entry = entry.unwrap_or_default();
        if !valid_name(&name) {
            return Err(bad(
                path,
                line,
                format!(
                    "the account name {} is not allowed",
                    host_pattern::quoted(&name)
                ),
                "use lower-case letters, digits, - and _, starting with a letter or digit, at most 64",
            ));
        }
        let profile = match entry.profile.as_deref() {
            None => {
                return Err(bad(
                    path,
                    line,
                    format!("the account {name} names no profile"),
                    &format!("add profile: with one of {}", profile::names()),
                ));
            }
            Some(p) => profile::by_name(p).ok_or_else(|| {
                bad(
                    path,
                    line,
                    format!(
                        "the account {name} names the unknown profile {}",
                        host_pattern::quoted(p)
                    ),
                    &format!("use one of: {}", profile::names()),
                )
            })?,
        };
        if let Some(var) = &entry.token_env
            && !valid_var(var)
        {
            return Err(bad(
                path,
                line,
                format!(
                    "the token_env of account {name}, {}, is not a variable name",
                    host_pattern::quoted(var)
                ),
                "name a variable: letters, digits and _, not starting with a digit",
            ));
        }
        for p in &entry.projects {
            if !valid_project(p) {
                return Err(bad(
                    path,
                    line,
                    format!(
                        "the project ID {} of account {name} is not one",
                        host_pattern::quoted(p)
                    ),
                    "write the project ID: lower-case letters and digits, as in abcdef7uyxabce",
                ));
            }
        }
        let hosts = host_pattern::host_patterns(
            entry.hosts,
            &format!("the hosts of account {name} ({}:{line})", path.display()),
        )?;
        list.push(Account {
            name,
            profile,
            token_env: entry.token_env,
            projects: entry.projects,
            hosts,
            line,
        });
    }
    // What two accounts claim alike is a tie for every destination it
    // matches: say so now, not at the first connection.
    for (i, a) in list.iter().enumerate() {
        for b in &list[i + 1..] {
            let same_project = a.projects.iter().find(|p| b.projects.contains(p));
            let same_host = a
                .hosts
                .iter()
                .find(|h| !h.starts_with('!') && b.hosts.iter().any(|o| o.eq_ignore_ascii_case(h)));
            let what = match (same_project, same_host) {
                (Some(p), _) => format!("the project {p}"),
                (None, Some(h)) => format!("the host pattern {}", host_pattern::quoted(h)),
                (None, None) => continue,
            };
            return Err(bad(
                path,
                b.line,
                format!("the accounts {} and {} both serve {what}", a.name, b.name),
                "keep it in one account",
            ));
        }
    }
    Ok(Accounts {
        file: path.to_path_buf(),
        list,
    })
}

/// The line an account's name is on (1-based), or 0 when not found.
fn line_of(text: &str, name: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let l = l.trim_start_matches(['"', '\'']);
            l.strip_prefix(name)
                .is_some_and(|rest| rest.trim_start_matches(['"', '\'']).starts_with(':'))
        })
        .map_or(0, |i| i + 1)
}

/// A name that can be a folder name on every system certsh runs on: lower
/// case only, as macOS folders ignore case and two accounts would share one.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_var(var: &str) -> bool {
    !var.is_empty()
        && !var.as_bytes()[0].is_ascii_digit()
        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_project(p: &str) -> bool {
    (1..=64).contains(&p.len())
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The project ID in an ssh user: `abcdef7uyxabce-master-7rqtabc--app` and
/// `abcdef7uyxabce` both name the project `abcdef7uyxabce`.
pub fn project_id(user: &str) -> &str {
    user.split('-').next().unwrap_or(user)
}

/// How well an account matches a destination; the greater wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// A host pattern: one without wildcards beats one with them, then the
    /// one with more literal characters.
    Host { literal: bool, chars: usize },
    /// The project ID is one of the account's.
    Project,
}

impl Account {
    /// How this account matches `user@host`, and by what, if it does.
    fn rank(&self, project: Option<&str>, host: &str) -> Option<(Rank, String)> {
        if let Some(p) = project
            && self.projects.iter().any(|q| q == p)
        {
            return Some((Rank::Project, format!("project {p}")));
        }
        if !host_pattern::host_matches(host, &self.hosts) {
            return None;
        }
        self.hosts
            .iter()
            .filter(|h| !h.starts_with('!') && host_pattern::host_matches(host, &[h.as_str()]))
            .map(|h| {
                let chars = h.bytes().filter(|b| !b"*?".contains(b)).count();
                let rank = Rank::Host {
                    literal: chars == h.len(),
                    chars,
                };
                (rank, format!("host pattern {}", host_pattern::quoted(h)))
            })
            .max_by_key(|(rank, _)| *rank)
    }
}

impl Accounts {
    /// The account called `name`; `origin` says who named it.
    pub fn by_name(&self, name: &str, origin: &str) -> Result<&Account> {
        self.list.iter().find(|a| a.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.list.iter().map(|a| a.name.as_str()).collect();
            Fixable::new(
                format!(
                    "no account {} ({origin}) in {}",
                    host_pattern::quoted(name),
                    self.file.display()
                ),
                if known.is_empty() {
                    "define it there".to_string()
                } else {
                    format!("use one of: {}", known.join(", "))
                },
            )
            .into()
        })
    }

    /// The account that serves `user@host` (see the module's rules), or
    /// `None` for the profile's own credential. Two accounts that match
    /// equally well are an error.
    pub fn choose(&self, user: Option<&str>, host: &str) -> Result<Option<&Account>> {
        let project = user.map(project_id);
        let mut best: Vec<(Rank, &Account, String)> = vec![];
        for a in &self.list {
            let Some((rank, why)) = a.rank(project, host) else {
                continue;
            };
            match best.first() {
                Some((b, ..)) if *b > rank => {}
                Some((b, ..)) if *b == rank => best.push((rank, a, why)),
                _ => best = vec![(rank, a, why)],
            }
        }
        match best.as_slice() {
            [] => Ok(None),
            [(_, a, _)] => Ok(Some(a)),
            [(_, a, wa), (_, b, wb), ..] => Err(Fixable::new(
                format!(
                    "the accounts {} ({wa}) and {} ({wb}) in {} match {host} equally well",
                    a.name,
                    b.name,
                    self.file.display()
                ),
                "make one pattern more specific, or choose with --account or CERTSH_ACCOUNT",
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Accounts> {
        parse(Path::new("/c/certsh.yaml"), text)
    }

    fn err(text: &str) -> String {
        format!("{:#}", parsed(text).unwrap_err())
    }

    const TWO: &str = "\
accounts:
  client-a:
    profile: magento
    token_env: CLIENT_A_TOKEN
    projects: [abcdef7uyxabce]
  agency:
    profile: magento
    hosts: ['*.eu-3.magento.cloud', 'git.eu-3.magento.cloud', '!ssh.eu-3.magento.cloud']
  wide:
    profile: upsun
    hosts: ['*.magento.cloud']
";

    fn chosen(a: &Accounts, user: Option<&str>, host: &str) -> Option<String> {
        a.choose(user, host).unwrap().map(|a| a.name.clone())
    }

    #[test]
    fn reads_accounts_with_their_lines() {
        let a = parsed(TWO).unwrap();
        let names: Vec<(&str, usize)> = a.list.iter().map(|a| (a.name.as_str(), a.line)).collect();
        assert_eq!(names, [("agency", 6), ("client-a", 2), ("wide", 9)]);
        let c = a.by_name("client-a", "--account").unwrap();
        assert_eq!(c.token_env.as_deref(), Some("CLIENT_A_TOKEN"));
        assert_eq!(c.profile.name, "magento");
        assert_eq!(a.by_name("wide", "x").unwrap().profile.name, "upsun");
    }

    #[test]
    fn project_id_is_the_first_part_of_the_user() {
        assert_eq!(
            project_id("abcdef7uyxabce-master-7rqtabc--app"),
            "abcdef7uyxabce"
        );
        assert_eq!(project_id("abcdef7uyxabce"), "abcdef7uyxabce");
    }

    #[test]
    fn the_most_specific_match_wins() {
        let a = parsed(TWO).unwrap();
        // A project ID beats every host pattern, even a literal one.
        let user = Some("abcdef7uyxabce-master-7rqtabc--app");
        assert_eq!(
            chosen(&a, user, "git.eu-3.magento.cloud").as_deref(),
            Some("client-a")
        );
        assert_eq!(
            chosen(&a, Some("abcdef7uyxabce"), "x.example").as_deref(),
            Some("client-a")
        );
        // A literal pattern beats wildcards; more literal characters beat fewer.
        assert_eq!(
            chosen(&a, Some("other"), "git.eu-3.magento.cloud").as_deref(),
            Some("agency")
        );
        assert_eq!(
            chosen(&a, None, "x.eu-3.magento.cloud").as_deref(),
            Some("agency")
        );
        assert_eq!(
            chosen(&a, None, "git.us-3.magento.cloud").as_deref(),
            Some("wide")
        );
        // A negated pattern takes the host away from its account.
        assert_eq!(
            chosen(&a, None, "ssh.eu-3.magento.cloud").as_deref(),
            Some("wide")
        );
        // Nothing matches: the profile's own credential.
        assert_eq!(chosen(&a, Some("git"), "github.com"), None);
    }

    #[test]
    fn equal_matches_are_an_error() {
        let a = parsed(
            "accounts:\n  a:\n    profile: magento\n    hosts: ['*.magento.cloud']\n\
             \x20 b:\n    profile: magento\n    hosts: ['git.us-3.magen*']\n",
        )
        .unwrap();
        let e = format!(
            "{:#}",
            a.choose(None, "git.us-3.magento.cloud").unwrap_err()
        );
        assert_eq!(
            e,
            "the accounts a (host pattern \"*.magento.cloud\") and b (host pattern \
             \"git.us-3.magen*\") in /c/certsh.yaml match git.us-3.magento.cloud equally well \
             (make one pattern more specific, or choose with --account or CERTSH_ACCOUNT)"
        );
        assert_eq!(
            chosen(&a, None, "ssh.us-3.magento.cloud").as_deref(),
            Some("a")
        );
    }

    #[test]
    fn the_same_claim_twice_is_refused_with_its_line() {
        let e = err(
            "accounts:\n  a:\n    profile: magento\n    projects: [abc]\n  b:\n    profile: upsun\n    projects: [abc]\n",
        );
        assert_eq!(
            e,
            "/c/certsh.yaml:5: the accounts a and b both serve the project abc (keep it in one account)"
        );
        let e = err(
            "accounts:\n  a:\n    profile: magento\n    hosts: ['*.X.cloud']\n  b:\n    profile: magento\n    hosts: ['*.x.cloud']\n",
        );
        assert!(
            e.starts_with("/c/certsh.yaml:5: the accounts a and b both serve the host pattern"),
            "{e}"
        );
    }

    #[test]
    fn bad_files_name_file_and_line() {
        for (text, want) in [
            (
                "accounts:\n  Client:\n    profile: magento\n",
                "/c/certsh.yaml:2: the account name \"Client\" is not allowed",
            ),
            (
                "accounts:\n  ../x:\n    profile: magento\n",
                "/c/certsh.yaml:2: the account name \"../x\" is not allowed",
            ),
            (
                "accounts:\n  a:\n    projects: [abc]\n",
                "/c/certsh.yaml:2: the account a names no profile",
            ),
            (
                "accounts:\n  a:\n    profile: gitlab\n",
                "/c/certsh.yaml:2: the account a names the unknown profile \"gitlab\"",
            ),
            (
                "accounts:\n  a:\n    profile: magento\n    token_env: 'A B'\n",
                "/c/certsh.yaml:2: the token_env of account a",
            ),
            (
                "accounts:\n  a:\n    profile: magento\n    projects: ['ABC-1']\n",
                "/c/certsh.yaml:2: the project ID \"ABC-1\"",
            ),
            (
                "accounts:\n  a:\n    profile: magento\n    token: x\n",
                "/c/certsh.yaml:4: accounts.a: unknown field `token`",
            ),
            ("accounts:\n  a: [\n", "/c/certsh.yaml:2: "),
            (
                "accounts:\n  a:\n    profile: magento\n    hosts: ['a b']\n",
                "the host pattern \"a b\" in the hosts of account a (/c/certsh.yaml:2)",
            ),
        ] {
            let e = err(text);
            assert!(e.starts_with(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn an_empty_file_has_no_accounts() {
        assert!(parsed("").unwrap().list.is_empty());
        assert!(parsed("accounts:\n").unwrap().list.is_empty());
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let a = parsed(TWO).unwrap();
        assert_eq!(
            format!("{:#}", a.by_name("nope", "--account").unwrap_err()),
            "no account \"nope\" (--account) in /c/certsh.yaml (use one of: agency, client-a, wide)"
        );
    }

    #[test]
    fn the_file_is_certshs_own() {
        // An absolute root on every platform (`/home/me` is not one on
        // Windows).
        let root = std::env::temp_dir();
        let home = root.join("me");
        let x = root.join("x");
        let x = x.to_str().unwrap();
        let env = |pairs: &[(&str, &str)]| {
            let map: std::collections::HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| map.get(k).map(std::ffi::OsString::from)
        };
        let under = |base: &Path| base.join("certsh").join("config.yaml");
        let default = under(&home.join(".config"));
        assert_eq!(file_path(env(&[]), &home), default);
        assert_eq!(
            file_path(env(&[("XDG_CONFIG_HOME", x)]), &home),
            under(Path::new(x))
        );
        assert_eq!(
            file_path(env(&[("XDG_CONFIG_HOME", "rel")]), &home),
            default
        );
        assert_eq!(
            file_path(
                env(&[("CERTSH_CONFIG", "/a.yaml"), ("XDG_CONFIG_HOME", x)]),
                &home
            ),
            Path::new("/a.yaml")
        );
    }
}
