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
///
/// The copy is one block of bytes, each `NAME=value` side by side
/// (`platform::each_variable`: std's `vars_os` allocates twice a variable),
/// found through a small hash table: 50 lookups in an environment of 60
/// variables, one by one, took more instructions than the rest of a
/// connection.
pub struct EnvSnapshot {
    bytes: Vec<u8>,
    /// Where each variable's entry starts, where its value starts, and
    /// where it ends, in `bytes`.
    entries: Vec<(usize, usize, usize)>,
    /// Open addressing: 1 + an index into `entries`, 0 for a free slot. A
    /// power of two long, at least twice the entries.
    slots: Vec<u32>,
}

impl EnvSnapshot {
    pub fn take() -> Self {
        let mut entries = Vec::with_capacity(64);
        let mut bytes = Vec::with_capacity(16 * 1024);
        crate::util::platform::each_variable(|name, value| {
            EnvSnapshot::push(&mut bytes, &mut entries, name, value);
        });
        // The shim's arena takes back what the last block does not use
        // (`util/arena.rs`), so that what comes next shares its pages.
        bytes.shrink_to_fit();
        EnvSnapshot::index(bytes, entries)
    }

    /// Adds a variable to the block and its entry.
    fn push(
        bytes: &mut Vec<u8>,
        entries: &mut Vec<(usize, usize, usize)>,
        name: &[u8],
        value: &[u8],
    ) {
        let start = bytes.len();
        bytes.extend_from_slice(name);
        let at = bytes.len();
        bytes.extend_from_slice(value);
        entries.push((start, at, bytes.len()));
    }

    fn index(bytes: Vec<u8>, entries: Vec<(usize, usize, usize)>) -> Self {
        let mut snap = EnvSnapshot {
            slots: vec![0; (entries.len() * 2).next_power_of_two().max(16)],
            bytes,
            entries,
        };
        for i in 0..snap.entries.len() {
            let (start, at, _) = snap.entries[i];
            let name = &snap.bytes[start..at];
            let slot = snap.slot(name);
            // The first of a name stays, as getenv finds it.
            if snap.slots[slot] == 0 {
                snap.slots[slot] = u32::try_from(i + 1).unwrap_or(0);
            }
        }
        snap
    }

    /// The slot that holds `name`, or the free one where it would go.
    fn slot(&self, name: &[u8]) -> usize {
        let mask = self.slots.len() - 1;
        // FNV-1a, eight bytes at a time.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut chunks = name.chunks_exact(8);
        for c in &mut chunks {
            h = (h ^ u64::from_le_bytes(c.try_into().unwrap_or_default()))
                .wrapping_mul(0x0100_0000_01b3);
        }
        for &b in chunks.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut slot = (h ^ (h >> 29)) as usize & mask;
        loop {
            let Some(i) = (self.slots[slot] as usize).checked_sub(1) else {
                return slot;
            };
            let (start, at, _) = self.entries[i];
            if &self.bytes[start..at] == name {
                return slot;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Whether `name` is set, even to nothing.
    pub fn is_set(&self, name: &str) -> bool {
        self.slots[self.slot(name.as_bytes())] != 0
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        let i = (self.slots[self.slot(name.as_bytes())] as usize).checked_sub(1)?;
        let (_, at, end) = self.entries[i];
        Some(&self.bytes[at..end]).filter(|v| !v.is_empty())
    }
}

impl Env for EnvSnapshot {
    fn var(&self, name: &str) -> Option<String> {
        std::str::from_utf8(self.get(name)?).ok().map(String::from)
    }
    fn var_os(&self, name: &str) -> Option<OsString> {
        Some(crate::util::platform::os_string_from_bytes(
            self.get(name)?.to_vec(),
        ))
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

/// The first of `{prefix}<key>` for `keys` that is set, as a yes/no value.
pub(crate) fn env_bool_any(env: &dyn Env, prefix: &str, keys: &[&str]) -> Result<Option<bool>> {
    match keys
        .iter()
        .map(|k| [prefix, *k].concat())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name is found, among many (the table's slots collide), and a
    /// name given twice reads as its first, as getenv reads it.
    #[test]
    fn the_snapshot_finds_each_name_and_the_first_of_a_name_given_twice() {
        let mut bytes = Vec::new();
        let mut entries = Vec::new();
        let mut add = |name: &str, value: &str| {
            EnvSnapshot::push(&mut bytes, &mut entries, name.as_bytes(), value.as_bytes());
        };
        for i in 0..100 {
            add(&format!("CERTSH_TEST_{i}"), &format!("v{i}"));
        }
        add("CERTSH_TEST_7", "second");
        add("EMPTY", "");
        let snap = EnvSnapshot::index(bytes, entries);
        for i in 0..100 {
            assert_eq!(snap.var(&format!("CERTSH_TEST_{i}")), Some(format!("v{i}")));
        }
        assert_eq!(snap.var("CERTSH_TEST_100"), None);
        assert_eq!(snap.var("EMPTY"), None);
        assert!(snap.is_set("EMPTY") && snap.is_set("CERTSH_TEST_7"));
        assert!(!snap.is_set("CERTSH_TEST_100"));
        assert_eq!(snap.var(""), None);
    }
}
