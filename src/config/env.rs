//! The environment as the configuration reads it: a trait, so that tests
//! can pass their own, and the readers of yes/no, seconds, shares and lists.

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

use anyhow::Result;

use crate::config::file;
use crate::util::error::Fixable;

/// A view of the environment, so that tests can pass their own.
pub trait Env {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
    /// The variable's raw value, if set and not empty.
    fn var_os(&self, name: &str) -> Option<OsString>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn var_os(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name).filter(|v| !v.is_empty())
    }
}

/// The process environment as it was when taken: read once, then looked up
/// in memory. For the connection path, which asks for some 50 variables
/// while the environment holds as many: musl's `getenv` compares the name with
/// each of them, which made `getenv` two fifths of the shim's instructions
/// (docs/benchmarks.md). certsh never changes its environment before the
/// configuration is read (the shim's `forget_token_variables` comes after),
/// so the copy stays true.
pub struct EnvSnapshot(Vec<(OsString, OsString)>);

impl EnvSnapshot {
    pub fn take() -> Self {
        EnvSnapshot(std::env::vars_os().collect())
    }

    fn get(&self, name: &str) -> Option<&OsString> {
        // The first of a name, as getenv finds it.
        let (_, v) = self.0.iter().find(|(k, _)| k == name)?;
        Some(v).filter(|v| !v.is_empty())
    }
}

impl Env for EnvSnapshot {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name)?.to_str().map(String::from)
    }
    fn var_os(&self, name: &str) -> Option<OsString> {
        self.get(name).cloned()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).cloned()
    }
    fn var_os(&self, name: &str) -> Option<OsString> {
        self.var(name).map(OsString::from)
    }
}

pub(crate) fn first_var(env: &dyn Env, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| env.var(n).filter(|v| !v.trim().is_empty()))
}

pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

pub(crate) fn env_bool(env: &dyn Env, name: &str) -> Result<Option<bool>> {
    let Some(v) = env.var(name) else {
        return Ok(None);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(Fixable::new(
            format!("{name}={v:?} is not a yes/no value"),
            format!("set {name} to 1 or 0"),
        )
        .into()),
    }
}

/// `{prefix}{key}`, a profile's variable name. Joined by hand: the
/// configuration makes some 30 names on every connection, and `format!`
/// took ten times the instructions of a copy (docs/benchmarks.md).
pub(crate) fn var_name(prefix: &str, key: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + key.len());
    name.push_str(prefix);
    name.push_str(key);
    name
}

/// The first of `{prefix}<key>` for `keys` that is set, as a yes/no value.
pub(crate) fn env_bool_any(env: &dyn Env, prefix: &str, keys: &[&str]) -> Result<Option<bool>> {
    match keys
        .iter()
        .map(|k| var_name(prefix, k))
        .find(|name| env.var(name).is_some())
    {
        Some(name) => env_bool(env, &name),
        None => Ok(None),
    }
}

/// A share between 0 and 1 (`0.33`, or `33%`).
pub(crate) fn env_share(env: &dyn Env, name: &str) -> Result<Option<f64>> {
    let Some(v) = env.var(name) else {
        return Ok(None);
    };
    file::parse_share(&v).map(Some).ok_or_else(|| {
        Fixable::new(
            format!("{name}={v:?} is not a share of the lifetime"),
            format!("set {name} to a number from 0 to 1, such as 0.33 (0 turns it off)"),
        )
        .into()
    })
}

/// A whole number of seconds, possibly negative.
pub(crate) fn env_int(env: &dyn Env, name: &str) -> Result<Option<i64>> {
    let Some(v) = env.var(name) else {
        return Ok(None);
    };
    file::parse_int(&v).map(Some).ok_or_else(|| {
        Fixable::new(
            format!("{name}={v:?} is not a number of seconds"),
            format!("set {name} to a whole number"),
        )
        .into()
    })
}

pub(crate) fn env_secs(env: &dyn Env, name: &str) -> Result<Option<Duration>> {
    let Some(v) = env.var(name) else {
        return Ok(None);
    };
    v.trim()
        .parse::<u64>()
        .map(|s| Some(Duration::from_secs(s)))
        .map_err(|_| {
            Fixable::new(
                format!("{name}={v:?} is not a number of seconds"),
                format!("set {name} to a whole number"),
            )
            .into()
        })
}
