//! Which profile and which named account a run is for: `--profile` and
//! `CERTSH_PROFILE`, `--account` and `CERTSH_ACCOUNT`, and the destination
//! of a connection, which may choose an account (`config/accounts.rs`) or
//! another profile whose official CLI is set up.

use std::path::Path;

use anyhow::Result;

use crate::config::accounts::{self, Account, Accounts};
use crate::config::env::Env;
use crate::config::file::read_trusted;
use crate::config::host_pattern;
use crate::config::problems::Problems;
use crate::config::profile::{self, Profile};
use crate::util::error::Fixable;

/// Who a configuration is for, beyond the profile: the account `--account`
/// names, and the destination of a connection, from which an account may be
/// chosen (`config/accounts.rs`). The default is neither.
#[derive(Debug, Default, Clone, Copy)]
pub struct For<'a> {
    /// `--account NAME`; without it, `CERTSH_ACCOUNT`.
    pub account: Option<&'a str>,
    /// The ssh user, if known, and the host.
    pub destination: Option<(Option<&'a str>, &'a str)>,
    /// The profile's own configuration, whatever `CERTSH_ACCOUNT` says
    /// (`setup git`, whose record is the profile's).
    pub profile_only: bool,
}

/// The account a command was given by name, and where the name came from:
/// `--account NAME`, else `CERTSH_ACCOUNT`. The one place both are read, so
/// that no command accepts under one what it refuses under the other.
pub fn named_account(flag: Option<&str>, env: &dyn Env) -> Option<(String, &'static str)> {
    match flag {
        Some(n) => Some((n.to_string(), "--account")),
        None => env
            .var(accounts::ACCOUNT_VAR)
            .map(|n| (n, accounts::ACCOUNT_VAR)),
    }
}

/// The accounts file's accounts (`config/accounts.rs`), or `None` when there
/// is no accounts file, or it cannot be used (the problem is then in
/// `problems`). A file that may not be opened (a HOME the user cannot
/// enter) is a problem only when `required`: a connection that merely looks
/// for accounts goes on as it did before accounts existed.
pub fn read_accounts(
    env: &dyn Env,
    home: &Path,
    problems: &mut Problems,
    required: bool,
) -> Option<Accounts> {
    let path = accounts::file_path(|k| env.var_os(k), home);
    let text = read_trusted(&path, home, problems, required)?;
    match accounts::parse(&path, &text) {
        Ok(a) => {
            // Whichever account serves this run, none of their tokens goes
            // to a child.
            crate::util::secret::add_token_variables(
                a.list.iter().filter_map(|a| a.token_env.clone()),
            );
            Some(a)
        }
        Err(e) => {
            problems.invalid.push(e);
            None
        }
    }
}

/// [`read_accounts`] for a command that needs the file to be right: its
/// problems are the error, an ignored file a warning.
pub fn accounts_or_error(env: &dyn Env, home: &Path) -> Result<Option<Accounts>> {
    let mut problems = Problems::default();
    let found = read_accounts(env, home, &mut problems, true);
    problems.into_result()?;
    Ok(found)
}

/// The account `who` names or its destination chooses, if any; a problem
/// with the accounts file or the choice is kept in `problems`. Without a
/// name and without an accounts file this is one failed `open`.
pub(crate) fn account_for(
    who: For,
    env: &dyn Env,
    home: &Path,
    problems: &mut Problems,
) -> Option<Account> {
    let named = named_account(who.account, env);
    if who.profile_only || (named.is_none() && who.destination.is_none()) {
        return None;
    }
    if home.as_os_str().is_empty() && env.var_os(accounts::FILE_VAR).is_none() {
        return None;
    }
    let (invalid, ignored) = (problems.invalid.len(), problems.ignored.len());
    let found = read_accounts(env, home, problems, named.is_some());
    let chosen = match (named, found) {
        (Some((name, origin)), Some(all)) => all.by_name(&name, origin).cloned().map(Some),
        (Some((name, origin)), None) if problems.invalid.len() == invalid => {
            let file = accounts::file_path(|k| env.var_os(k), home);
            let why = if problems.ignored.len() > ignored {
                "is ignored"
            } else {
                "does not exist"
            };
            Err(Fixable::new(
                format!(
                    "{origin} names the account {}, but the accounts file {} {why}",
                    host_pattern::quoted(&name),
                    file.display()
                ),
                "define the account there, in a file only you can write",
            )
            .into())
        }
        (None, Some(all)) => {
            let (user, host) = who.destination?;
            let chosen = all.choose(user, host).map(Option::<&Account>::cloned);
            let debug = env
                .var("CERTSH_LOG")
                .is_some_and(|v| v.eq_ignore_ascii_case("debug"));
            crate::util::log::debug(debug, || match &chosen {
                Ok(Some(a)) => format!("the account {} serves {host}", a.name),
                _ => format!("no account serves {host}"),
            });
            chosen
        }
        _ => Ok(None),
    };
    problems.take(chosen)
}

/// The profile a connection to `host` is for when no profile is named: the
/// default one when `host` is its; else the first other profile whose
/// hosts `host` is among and whose official CLI is set up in `home` (its
/// config folder exists), so that a Platform.sh or Upsun user needs no
/// setting of certsh's. `None`: the default profile, as before.
pub(crate) fn profile_for_host(host: &str, home: &Path) -> Option<&'static Profile> {
    use crate::config::host_pattern::host_matches;
    if host_matches(host, profile::PROFILES[0].wildcards) {
        return None;
    }
    profile::PROFILES[1..]
        .iter()
        .find(|p| host_matches(host, p.wildcards) && home.join(p.config_dir).is_dir())
}

/// The profile `--profile` (`name`), else `CERTSH_PROFILE`, names.
pub fn select_profile(name: Option<&str>, env: &dyn Env) -> Result<&'static Profile> {
    let (name, origin) = match name {
        Some(n) => (n.to_string(), "--profile"),
        None => match env.var("CERTSH_PROFILE") {
            Some(n) => (n, "CERTSH_PROFILE"),
            None => return Ok(&profile::PROFILES[0]),
        },
    };
    profile::by_name(&name).ok_or_else(|| {
        Fixable::new(
            format!("unknown profile {name:?} in {origin}"),
            format!("use one of: {}", profile::names()),
        )
        .into()
    })
}
