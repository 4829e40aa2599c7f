//! `certsh setup git [--local] [--force] [--undo]`: plain git, and the IDEs
//! that run it, use certsh through `core.sshCommand`.
//!
//! `GIT_SSH_COMMAND` only reaches programs started from a shell that set it;
//! an IDE started from the desktop never sees it, but every git reads
//! `core.sshCommand`. The value is the shim's absolute path (no `PATH`
//! lookup, and the name `ssh` spares git its `-G` probe).
//!
//! Every change is reversible: the value that was there before (or "unset")
//! is kept in the state folder (`setup-git.json`), and `--undo` puts it back.
//! A different value is never overwritten without `--force`, and `--undo`
//! leaves alone a value that someone changed after the set-up.
//!
//! `--local --account NAME` ties one repository to a named account: the
//! value is `CERTSH_ACCOUNT=NAME <shim>`, which git runs through a shell.
//! git then probes the command with `-G` once per connection (the name is
//! no longer plain `ssh`); certsh passes `-G` straight to the real ssh.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitCode, Stdio};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::connect::shim::{Installed, Layout};
use crate::state::store::{self, Store};
use crate::util::error::{self, Fixable};
use crate::util::secret;

const KEY: &str = "core.sshCommand";
const RECORD: &str = "setup-git.json";
/// How a value that ties a repository to an account starts.
const ACCOUNT_PREFIX: &str = "CERTSH_ACCOUNT=";

/// What `setup git` changed in one git config file.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Change {
    /// The value before (`None`: it was unset).
    previous: Option<String>,
    /// The value certsh set.
    set: String,
}

/// Which git config file.
#[derive(Debug)]
enum Scope {
    /// `git config --global` (`~/.gitconfig`, or `$GIT_CONFIG_GLOBAL`).
    Global,
    /// `git config --local` of the repository in the current folder.
    Local {
        /// Its git folder, absolute: the key of its record.
        git_dir: String,
    },
}

impl Scope {
    fn flag(&self) -> &'static str {
        match self {
            Scope::Global => "--global",
            Scope::Local { .. } => "--local",
        }
    }

    fn record_key(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Local { git_dir } => format!("local:{git_dir}"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Scope::Global => format!("{KEY} (global)"),
            Scope::Local { git_dir } => format!("{KEY} (in {git_dir})"),
        }
    }
}

/// The account `setup git --account NAME` ties a repository to, checked
/// against the accounts file: `None` with `--undo`, which needs no name.
pub fn account_to_tie(cfg: &Config, name: &str, local: bool, undo: bool) -> Result<Option<String>> {
    if undo {
        return Ok(None);
    }
    if !local {
        return Err(Fixable::new(
            "--account ties one repository to an account, not every repository",
            "run it in the repository, with --local: certsh setup git --local --account NAME",
        )
        .into());
    }
    let who = crate::config::For {
        account: Some(name),
        ..Default::default()
    };
    let account = Config::load_for(Some(cfg.profile.name), who, &crate::config::ProcessEnv)?
        .account
        .expect("an account was named");
    Ok(Some(account.name))
}

/// `certsh setup git`; `account` ties the repository to a named account.
pub fn git(
    cfg: &Config,
    local: bool,
    force: bool,
    undo: bool,
    account: Option<&String>,
) -> Result<ExitCode> {
    let scope = if local {
        Scope::Local {
            git_dir: git_dir()?,
        }
    } else {
        Scope::Global
    };
    let store = Store::prepare(cfg)?;
    let record_path = store.dir.join(RECORD);
    let mut records = read_records(&record_path)?;
    let current = get(&scope)?;
    let what = scope.describe();
    let undo_hint = if local {
        "certsh setup git --local --undo"
    } else {
        "certsh setup git --undo"
    };

    if undo {
        let change = records.get(&scope.record_key());
        let ours = |v: &str| change.is_some_and(|c| c.set == v) || is_certsh(v);
        match (&current, change) {
            (None, None) => {
                println!("{what} is not set; nothing to undo");
                return Ok(error::success());
            }
            (Some(v), None) if !ours(v) => {
                println!("{what} is {v:?}, which certsh did not set; left as it is");
                return Ok(error::success());
            }
            (Some(v), Some(c)) if !ours(v) && !force => {
                return Err(Fixable::new(
                    format!("{what} was changed to {v:?} after certsh set it"),
                    format!(
                        "keep it, or put back {} with: {undo_hint} --force",
                        describe_value(c.previous.as_deref())
                    ),
                )
                .into());
            }
            _ => {}
        }
        let previous = change.and_then(|c| c.previous.clone());
        match &previous {
            Some(v) => set(&scope, v)?,
            None if current.is_some() => unset(&scope)?,
            None => {}
        }
        records.remove(&scope.record_key());
        write_records(&record_path, &records)?;
        match &previous {
            Some(v) => println!("{what} restored to {v:?}"),
            None => println!("{what} removed (it was not set before certsh)"),
        }
        return Ok(error::success());
    }

    let mut ours = Installed::locate()?.ssh_command()?;
    if let Some(name) = account {
        // The name is checked (`config/accounts.rs`): no shell quoting needed.
        ours = format!("{ACCOUNT_PREFIX}{name} {ours}");
    }
    if current.as_deref() == Some(ours.as_str()) {
        println!("{what} already runs certsh: {ours}");
        return Ok(error::success());
    }
    if let Some(v) = &current
        && !force
        && !(is_certsh(v) && (account.is_some() || v.starts_with(ACCOUNT_PREFIX)))
    {
        return Err(Fixable::new(
            format!("{what} is already {v:?}; certsh left it unchanged"),
            format!(
                "to use certsh instead, run: certsh setup git{} --force ({undo_hint} puts it back)",
                if local { " --local" } else { "" }
            ),
        )
        .into());
    }
    // A record from an earlier set-up keeps the value from before that one:
    // replacing certsh's own older value must not lose it.
    let previous = match records.get(&scope.record_key()) {
        Some(c) if current.as_deref().is_some_and(is_certsh) => c.previous.clone(),
        _ => current.clone(),
    };
    records.insert(
        scope.record_key(),
        Change {
            previous,
            set: ours.clone(),
        },
    );
    write_records(&record_path, &records)?;
    set(&scope, &ours)?;
    match account {
        Some(name) => println!(
            "{what} = {ours}\nplain git in this repository now gets the account {name}'s \
             certificates through certsh (undo: {undo_hint})"
        ),
        None => println!(
            "{what} = {ours}\nplain git now gets {} certificates through certsh (undo: {undo_hint})",
            cfg.profile.title
        ),
    }
    Ok(error::success())
}

/// Whether a `core.sshCommand` value is a certsh of any install.
fn is_certsh(value: &str) -> bool {
    let first = value.trim().trim_matches('\'');
    Layout::is_shim(first) || first.ends_with("certsh ssh") || first.ends_with("certsh' ssh")
}

fn describe_value(v: Option<&str>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "unset".into(),
    }
}

fn read_records(path: &Path) -> Result<BTreeMap<String, Change>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            Fixable::new(
                format!("{} is not valid: {e}", path.display()),
                "remove it; certsh then treats the current value as the one to keep",
            )
            .into()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_records(path: &Path, records: &BTreeMap<String, Change>) -> Result<()> {
    let text = serde_json::to_string_pretty(records).context("cannot encode the record")?;
    store::write_private(path, format!("{text}\n").as_bytes())
}

/// The repository's git folder, absolute.
fn git_dir() -> Result<String> {
    let out = git_cmd(&["rev-parse", "--absolute-git-dir"])?;
    if !out.status.success() {
        return Err(Fixable::new(
            "the current folder is not in a git repository",
            "run `certsh setup git --local` inside the repository, or leave out --local",
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

fn get(scope: &Scope) -> Result<Option<String>> {
    let out = git_cmd(&["config", scope.flag(), "--get", KEY])?;
    match out.status.code() {
        Some(0) => Ok(Some(
            String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\n')
                .to_string(),
        )),
        Some(1) => Ok(None),
        _ => Err(git_failed("read", scope, &out)),
    }
}

fn set(scope: &Scope, value: &str) -> Result<()> {
    let out = git_cmd(&["config", scope.flag(), KEY, value])?;
    if !out.status.success() {
        return Err(git_failed("write", scope, &out));
    }
    Ok(())
}

fn unset(scope: &Scope) -> Result<()> {
    let out = git_cmd(&["config", scope.flag(), "--unset", KEY])?;
    // 5: it was not set after all, which is the wanted state.
    if !out.status.success() && out.status.code() != Some(5) {
        return Err(git_failed("remove", scope, &out));
    }
    Ok(())
}

fn git_cmd(args: &[&str]) -> Result<std::process::Output> {
    secret::command("git")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Fixable::new("git is not on PATH", "install git").into()
            } else {
                anyhow::Error::new(e).context(format!("cannot run git {}", args.join(" ")))
            }
        })
}

fn git_failed(verb: &str, scope: &Scope, out: &std::process::Output) -> anyhow::Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    Fixable::new(
        format!(
            "git could not {verb} {}: {}",
            scope.describe(),
            crate::util::sanitize::short(stderr.trim(), 300)
        ),
        format!("check the file with: git config {} --list", scope.flag()),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certsh_values_are_recognised() {
        assert!(is_certsh("/home/me/.local/libexec/certsh/ssh"));
        assert!(is_certsh("'/Users/a b/libexec/certsh/ssh'"));
        assert!(is_certsh("'/a b/certsh' ssh"));
        assert!(is_certsh("/home/me/.cargo/bin/certsh ssh"));
        assert!(!is_certsh("ssh -i ~/.ssh/work"));
    }
}
