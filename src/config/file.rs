//! The official CLI's `config.yaml`, read the way the official CLI reads it
//! (docs/official-cli.md, "Settings"): key by key, each value taken as PHP
//! would take it.
//!
//! The file belongs to the official CLI, which is PHP: a boolean may be
//! written `1`, `0`, `"true"` or `"1"`, a number may be a string. certsh
//! reads the keys it knows, ignores the rest, and never writes the file. A
//! value it cannot use for one key is a one-line warning naming the key, the
//! file and the value (never the value of `api.token`), and that key keeps its
//! default: the rest of the file, the token above all, is still used. Only a
//! file that is not YAML at all is an error, as it is for the official CLI.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_norway::Value;

use crate::config::problems::Problems;
use crate::util::error::Fixable;

/// Keys whose value is never repeated in a warning.
const SECRET_KEYS: &[&str] = &["api.token"];

/// A parsed `config.yaml`, and the warnings its values gave so far.
#[derive(Debug, Default)]
pub struct FileConfig {
    root: Option<Value>,
    path: PathBuf,
    warnings: Vec<String>,
}

impl FileConfig {
    /// The value at `key` (`section.name`), or `None` when it is absent or
    /// null. A section that is not a mapping is warned about once per key.
    fn get(&mut self, key: &str) -> Option<Value> {
        // Without a file, before the key is split: most connections have
        // none, and ask for some twenty keys.
        let root = self.root.as_ref()?;
        let (section, name) = key.split_once('.')?;
        let section_value = root.get(section)?;
        if section_value.is_null() {
            return None;
        }
        if !section_value.is_mapping() {
            let warning = format!(
                "ignoring {section} in {}: it is not a list of settings",
                self.path.display()
            );
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
            return None;
        }
        let v = section_value.get(name)?;
        (!v.is_null()).then(|| v.clone())
    }

    fn warn(&mut self, key: &str, value: &Value, what: &str) {
        let shown = if SECRET_KEYS.contains(&key) {
            "its value".to_string()
        } else {
            shown(value)
        };
        self.warnings.push(format!(
            "ignoring {key} in {}: {shown} is not {what}; certsh uses its default",
            self.path.display()
        ));
    }

    /// A text value; numbers and booleans as PHP prints them.
    pub fn string(&mut self, key: &str) -> Option<String> {
        let v = self.get(key)?;
        match &v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(true) => Some("1".into()),
            Value::Bool(false) => Some(String::new()),
            _ => {
                self.warn(key, &v, "a text");
                None
            }
        }
    }

    /// A yes/no value: `true`/`false`, `1`/`0` (any other number is yes, as
    /// in PHP), or the strings `"1"`, `"true"`, `"yes"`, `"on"` and `"0"`,
    /// `"false"`, `"no"`, `"off"`, `""`.
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        let read = match &v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => n.as_f64().map(|f| f != 0.0),
            Value::String(s) => parse_bool(s),
            _ => None,
        };
        if read.is_none() {
            self.warn(key, &v, "a yes/no value");
        }
        read
    }

    /// A whole number, possibly negative: an integer, a number with a
    /// fraction (cut, as PHP's `(int)`), or a string holding one.
    pub fn integer(&mut self, key: &str) -> Option<i64> {
        let v = self.get(key)?;
        let read = match &v {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => parse_int(s),
            _ => None,
        };
        if read.is_none() {
            self.warn(key, &v, "a whole number");
        }
        read
    }

    /// A share from 0 to 1: a number, or a string holding one or a percent.
    pub fn share(&mut self, key: &str) -> Option<f64> {
        let v = self.get(key)?;
        let read = match &v {
            Value::Number(n) => n.as_f64().filter(|f| (0.0..=1.0).contains(f)),
            Value::String(s) => parse_share(s),
            _ => None,
        };
        if read.is_none() {
            self.warn(key, &v, "a share from 0 to 1");
        }
        read
    }

    /// A list of texts, or one text standing for a list of one.
    pub fn list(&mut self, key: &str) -> Option<Vec<String>> {
        let v = self.get(key)?;
        let read = match &v {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Sequence(items) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            _ => None,
        };
        if read.is_none() {
            self.warn(key, &v, "a list of texts");
        }
        read
    }

    /// The warnings so far, each one line; taken, so each is given once.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// A yes/no value in a string, as the official CLI's users write them.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// A share from 0 to 1 in a string: `0.33` or `33%`.
pub fn parse_share(s: &str) -> Option<f64> {
    let s = s.trim();
    let f = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => s.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&f).then_some(f)
}

/// A whole number in a string (`"60"`, `"-1"`, `"60.0"`).
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
    })
}

/// A value as a warning shows it: short, on one line.
fn shown(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("{s:?}"),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .replace('\n', " "),
    };
    crate::util::sanitize::short(&text, 60)
}

/// Parses the text of `path`. Empty text is an empty configuration; text
/// that is not YAML is the one error, naming the file, line and column.
pub fn parse_file_config(path: &Path, text: &str) -> Result<FileConfig> {
    let mut cfg = FileConfig {
        root: None,
        path: path.to_path_buf(),
        warnings: Vec::new(),
    };
    if text.trim().is_empty() {
        return Ok(cfg);
    }
    let root: Value = serde_norway::from_str(text).map_err(|e| {
        let place = match e.location() {
            Some(l) => format!("{}:{}:{}", path.display(), l.line(), l.column()),
            None => path.display().to_string(),
        };
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        anyhow::Error::from(Fixable::new(
            format!("{place}: {}", crate::util::sanitize::short(&msg, 200)),
            "fix the YAML; certsh only reads this file",
        ))
    })?;
    match root {
        Value::Mapping(_) => cfg.root = Some(root),
        Value::Null => {}
        other => cfg.warnings.push(format!(
            "ignoring {}: it holds {} rather than settings",
            path.display(),
            shown(&other)
        )),
    }
    Ok(cfg)
}

/// `config.yaml`, when it is there, is readable, is the user's alone
/// (`config/trust.rs`) and parses; otherwise the defaults, with the problem kept.
pub(crate) fn read_file_config(path: &Path, home: &Path, problems: &mut Problems) -> FileConfig {
    let Some(text) = read_trusted(path, home, problems, true) else {
        return FileConfig::default();
    };
    parse_file_config(path, &text).unwrap_or_else(|e| {
        problems.invalid.push(e);
        FileConfig::default()
    })
}

/// The text of a configuration file when it is there, is readable and is
/// the user's alone (`config/trust.rs`); `None` when it is not there, or
/// with the problem kept. A missing file costs one failed `open`.
pub(crate) fn read_trusted(
    path: &Path,
    home: &Path,
    problems: &mut Problems,
    denied_is_a_problem: bool,
) -> Option<String> {
    let unreadable = |e: std::io::Error| -> anyhow::Error {
        Fixable::new(
            format!("cannot read {}: {e}", path.display()),
            "set HOME to a folder of yours, or make the file readable",
        )
        .into()
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && !denied_is_a_problem => {
            return None;
        }
        Err(e) => {
            problems.invalid.push(unreadable(e));
            return None;
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            problems.invalid.push(unreadable(e));
            return None;
        }
    };
    if let Err(why) = crate::config::trust::check_file(path, &meta, home) {
        problems.ignored.push(format!(
            "ignoring {}: {}",
            path.display(),
            why.describe(why.path == path)
        ));
        return None;
    }
    let mut bytes = vec![];
    if let Err(e) = std::io::Read::read_to_end(&mut file, &mut bytes) {
        problems.invalid.push(unreadable(e));
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `~/x` and relative paths in the config file: `~` is the home directory,
/// and a relative path is taken from the config folder (where the file is).
pub(crate) fn resolve_path(p: &str, home: &Path, config_dir: &Path) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        home.join(rest)
    } else {
        config_dir.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(yaml: &str) -> FileConfig {
        parse_file_config(Path::new("/h/config.yaml"), yaml).unwrap()
    }

    #[test]
    fn values_are_taken_as_the_official_cli_takes_them() {
        let mut f = file(
            "api:\n  auto_load_ssh_cert: 1\n  a: '0'\n  b: 'true'\n  c: 2\n  d: ''\n\
             ssh:\n  cert_key_ttl: -1\n  e: '3600'\n  f: 60.9\n  domain_wildcards: '*.x'\n",
        );
        assert_eq!(f.boolean("api.auto_load_ssh_cert"), Some(true));
        assert_eq!(f.boolean("api.a"), Some(false));
        assert_eq!(f.boolean("api.b"), Some(true));
        assert_eq!(f.boolean("api.c"), Some(true));
        assert_eq!(f.boolean("api.d"), Some(false));
        assert_eq!(f.integer("ssh.cert_key_ttl"), Some(-1));
        assert_eq!(f.integer("ssh.e"), Some(3600));
        assert_eq!(f.integer("ssh.f"), Some(60));
        assert_eq!(
            f.list("ssh.domain_wildcards"),
            Some(vec!["*.x".to_string()])
        );
        assert_eq!(f.boolean("ssh.missing"), None);
        assert_eq!(f.take_warnings(), Vec::<String>::new());
    }

    #[test]
    fn a_value_certsh_cannot_use_is_one_warning_and_the_rest_is_read() {
        let mut f = file(
            "api:\n  token: [secret, list]\n  auth_url: https://a.example\n\
             ssh:\n  cert_key_ttl: soon\n  auto_load_cert: maybe\n  domain_wildcards: {a: 1}\n",
        );
        assert_eq!(f.string("api.token"), None);
        assert_eq!(
            f.string("api.auth_url").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(f.integer("ssh.cert_key_ttl"), None);
        assert_eq!(f.boolean("ssh.auto_load_cert"), None);
        assert_eq!(f.list("ssh.domain_wildcards"), None);
        assert_eq!(
            f.take_warnings(),
            [
                "ignoring api.token in /h/config.yaml: its value is not a text; certsh uses its default",
                "ignoring ssh.cert_key_ttl in /h/config.yaml: \"soon\" is not a whole number; certsh uses its default",
                "ignoring ssh.auto_load_cert in /h/config.yaml: \"maybe\" is not a yes/no value; certsh uses its default",
                "ignoring ssh.domain_wildcards in /h/config.yaml: a: 1 is not a list of texts; certsh uses its default",
            ]
        );
    }

    #[test]
    fn a_section_or_file_that_is_not_settings_is_a_warning() {
        let mut f = file("api: 3\nssh:\n  add_to_agent: yes\n");
        assert_eq!(f.string("api.token"), None);
        assert_eq!(f.string("api.auth_url"), None);
        assert_eq!(f.boolean("ssh.add_to_agent"), Some(true));
        assert_eq!(
            f.take_warnings(),
            ["ignoring api in /h/config.yaml: it is not a list of settings"]
        );
        let mut f = file("just text\n");
        assert_eq!(f.string("api.token"), None);
        assert_eq!(
            f.take_warnings(),
            ["ignoring /h/config.yaml: it holds \"just text\" rather than settings"]
        );
        assert!(file("").string("api.token").is_none());
    }
}
