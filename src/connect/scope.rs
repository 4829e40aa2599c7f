//! Decides whether a host is the cloud's, so whether a connection needs a
//! certificate at all.
//!
//! Cloud hosts are described by OpenSSH host patterns (`*.magento.cloud`,
//! `!ignored.example`), matched with ssh_config's own rules so that a pattern
//! means in certsh what it means in a `Host` line.
//!
//! A destination that does not match by name may still be the cloud's: an
//! ssh_config `Host` alias can point `HostName` at it. Asking ssh (`ssh -G`)
//! settles that but costs milliseconds, too much to spend on every
//! connection that has nothing to do with the cloud. So
//! [`config_names_hostname_in_scope`] first reads the configuration files as
//! text and says whether any `HostName` could lead into scope; only then is
//! `ssh -G` worth running, and [`parse_ssh_g`] reads its answer. The text check
//! may say yes too often (it ignores which `Host` block a line is in), never
//! no when ssh could end up at a cloud host.
//!
//! [`in_scope`] makes the decision for a connection, in that order: the name
//! given, `-o HostName`, then the user's ssh_config (`$HOME`'s and the
//! password database's home, which is where OpenSSH looks), and `ssh -G`
//! last. Apart from [`in_scope`], [`ssh_g`] and [`passwd_home`], nothing here
//! runs ssh or reads the system: callers pass the home directory and the
//! files, which keeps the rest testable.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use crate::config::Config;
use crate::config::host_pattern::{self, matches_any, wildcard_match};
use crate::connect::command_line;
use crate::connect::readconf::{self, Arguments};
use crate::util::log::debug;
use crate::util::secret;

/// The rules ssh reads a configuration file with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// `~/.ssh/config` or the `-F` file (and what they include): a relative
    /// `Include` is under `~/.ssh`.
    User,
    /// The system-wide file (and what it includes): a relative `Include` is
    /// in that file's directory, ssh's `SSHDIR`; `~` is refused.
    System,
}

/// One configuration file ssh reads, with the rules it reads it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The file; missing files are skipped, as ssh skips them.
    pub path: PathBuf,
    /// User or system rules.
    pub origin: ConfigOrigin,
}

/// The system-wide ssh_config of OpenSSH builds with `SSHDIR=/etc/ssh`
/// (Linux distributions, macOS). Builds with another prefix (Homebrew's
/// OpenSSH) read theirs from elsewhere; callers that know better can list
/// their own [`ConfigFile`]s.
pub const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

/// The files ssh reads for a command line, as `ssh.c`'s
/// `process_config_files` chooses them: only the `-F` file when there is one
/// (none for `-F none`), else `~/.ssh/config` then [`SYSTEM_CONFIG`].
///
/// `home` is the user's home directory; without one only the system file
/// remains.
pub fn ssh_config_files(home: Option<&Path>, config_file: Option<&Path>) -> Vec<ConfigFile> {
    match config_file {
        Some(file) if file.as_os_str().eq_ignore_ascii_case("none") => Vec::new(),
        Some(file) => vec![ConfigFile {
            path: file.to_owned(),
            origin: ConfigOrigin::User,
        }],
        None => home
            .map(|home| ConfigFile {
                path: home.join(".ssh").join("config"),
                origin: ConfigOrigin::User,
            })
            .into_iter()
            .chain([ConfigFile {
                path: PathBuf::from(SYSTEM_CONFIG),
                origin: ConfigOrigin::System,
            }])
            .collect(),
    }
}

/// The official CLI's certificate refresh left in the user's ssh_config:
/// its `Include` of `<config dir>/ssh/*.config`, whose `Match exec` starts
/// the PHP CLI (`ssh-cert:load`) on every connection to the cloud, or such
/// a `Match exec` line itself (docs/official-cli.md, "Living beside the
/// official CLI"). Read as text in `~/.ssh/config` of `HOME` and of the
/// password database: (file, line number, the line). certsh never edits
/// them, nor the official CLI's files.
pub fn official_refresh_lines(cfg: &crate::config::Config) -> Vec<(PathBuf, usize, String)> {
    let mut files: Vec<PathBuf> = vec![cfg.home.join(".ssh/config")];
    if let Some(home) = passwd_home() {
        let other = home.join(".ssh/config");
        if !files
            .iter()
            .any(|f| crate::util::file_id::same_file(f, &other))
        {
            files.push(other);
        }
    }
    let folder = format!("/{}/ssh/", cfg.profile.config_dir);
    let mut found = vec![];
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let words = line.trim_start().to_ascii_lowercase();
            if (words.starts_with("include") && line.contains(&folder))
                || (words.starts_with("match") && line.contains("ssh-cert:load"))
            {
                let shown = crate::util::sanitize::short(line.trim(), 160);
                found.push((file.clone(), n + 1, shown));
            }
        }
    }
    found
}

/// What to do about a line [`official_refresh_lines`] found in `file`.
pub fn official_refresh_fix(file: &Path) -> String {
    format!(
        "remove that line from {} (and a `Host` line above it that only serves it); \
         certsh does not edit it for you",
        file.display()
    )
}

/// How deep ssh follows `Include`s (readconf.c's `READCONF_MAX_DEPTH`);
/// deeper, it refuses the configuration.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Whether the configuration files could send ssh to a host in scope, read
/// as text: `true` when some `HostName` value matches `patterns`, or holds a
/// `%` token (its value depends on the destination), or when some
/// `CanonicalizeHostname` is not `no` (ssh may then append `CanonicalDomains`
/// to the name or follow CNAMEs, which text cannot predict).
///
/// `Include` is followed like ssh follows it: several paths per line, `~/`
/// for the home directory, relative paths under `home/.ssh` (user files) or
/// the system file's directory, `*` and `?` in any path component (sorted,
/// dot files only for patterns starting with a dot), at most 16 levels deep.
/// `home` is passed in, not derived from the files, because a `-F` file can
/// live anywhere while its relative includes still resolve under `~/.ssh`.
///
/// Whatever cannot be decided without ssh answers `true`, so the caller asks
/// `ssh -G`: an unreadable file (other than a missing one), a malformed line
/// ssh would refuse, includes nested too deep, a `[...]` or `\` glob, `~user`,
/// or a relative user include without a home directory.
///
/// `Host`/`Match` blocks are not evaluated: a `HostName` anywhere counts. A
/// command-line `-o HostName` takes precedence over every file, so callers
/// need not call this when one is given.
pub fn config_names_hostname_in_scope<P: AsRef<str>>(
    files: &[ConfigFile],
    home: Option<&Path>,
    patterns: &[P],
) -> bool {
    files.iter().any(|file| {
        let include_dir = match file.origin {
            ConfigOrigin::User => home.map(|home| home.join(".ssh")),
            ConfigOrigin::System => file.path.parent().map(Path::to_owned),
        };
        let scan = Scan {
            home,
            patterns,
            origin: file.origin,
            include_dir: include_dir.as_deref(),
        };
        scan.file(&file.path, 0)
    })
}

/// One top-level file's walk, with what its includes inherit.
struct Scan<'a, P> {
    home: Option<&'a Path>,
    patterns: &'a [P],
    origin: ConfigOrigin,
    include_dir: Option<&'a Path>,
}

impl<P: AsRef<str>> Scan<'_, P> {
    fn file(&self, path: &Path, depth: usize) -> bool {
        if depth > MAX_INCLUDE_DEPTH {
            return true;
        }
        let text = match fs::read(path) {
            Ok(text) => text,
            // A glob can name a directory; ssh reads it as an empty file.
            // Windows refuses to open a directory (access denied), so it is
            // asked for apart.
            Err(error)
                if matches!(error.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory)
                    || path.is_dir() =>
            {
                return false;
            }
            Err(_) => return true,
        };
        text.split(|&b| b == b'\n')
            .any(|line| self.line(line, depth))
    }

    fn line(&self, line: &[u8], depth: usize) -> bool {
        let directive = match readconf::directive(line) {
            Ok(Some(directive)) => directive,
            Ok(None) => return false,
            Err(readconf::Malformed) => return true,
        };
        let keyword = directive.keyword.as_ref();
        if keyword.eq_ignore_ascii_case(b"hostname") {
            readconf::single_argument(directive.args)
                .is_none_or(|value| value.contains(&b'%') || matches_any(&value, self.patterns))
        } else if keyword.eq_ignore_ascii_case(b"include") {
            Arguments::new(directive.args).any(|path| match path {
                Ok(path) => self.include(&path, depth),
                Err(readconf::Malformed) => true,
            })
        } else if keyword.eq_ignore_ascii_case(b"canonicalizehostname") {
            readconf::single_argument(directive.args)
                .is_none_or(|value| !value.eq_ignore_ascii_case(b"no"))
        } else {
            false
        }
    }

    /// One `Include` path, anchored and globbed as readconf.c does.
    fn include(&self, path: &[u8], depth: usize) -> bool {
        let pattern = if let Some(after_tilde) = path.strip_prefix(b"~") {
            let (Some(home), ConfigOrigin::User) = (self.home, self.origin) else {
                return true;
            };
            match after_tilde {
                [] => home.to_owned(),
                [b'/', rest @ ..] => match path_from_bytes(rest) {
                    Some(rest) => home.join(rest),
                    None => return true,
                },
                // `~user`: another user's home, which only ssh can look up.
                _ => return true,
            }
        } else if path.starts_with(b"/") {
            match path_from_bytes(path) {
                Some(path) => path,
                None => return true,
            }
        } else {
            match (self.include_dir, path_from_bytes(path)) {
                (Some(dir), Some(path)) => dir.join(path),
                _ => return true,
            }
        };
        match expand_glob(&pattern) {
            Some(paths) => paths.iter().any(|path| self.file(path, depth + 1)),
            None => true,
        }
    }
}

/// A path from ssh_config's bytes (on Windows only Unicode ones).
fn path_from_bytes(bytes: &[u8]) -> Option<PathBuf> {
    crate::util::platform::os_str_from_bytes(bytes).map(PathBuf::from)
}

/// Expands `*` and `?` in each component of `pattern` the way glob(3) does,
/// sorted. `None` for glob syntax this does not imitate (`[...]`, `\`).
/// Unreadable directories match nothing, as in glob without `GLOB_ERR`.
fn expand_glob(pattern: &Path) -> Option<Vec<PathBuf>> {
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let name = component.as_os_str();
        let bytes = name.as_encoded_bytes();
        let is_glob = matches!(component, Component::Normal(_))
            && bytes
                .iter()
                .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'));
        if !is_glob {
            for path in &mut found {
                path.push(name);
            }
            continue;
        }
        if bytes.iter().any(|b| matches!(b, b'[' | b'\\')) {
            return None;
        }
        let mut matched = Vec::new();
        for dir in &found {
            let listed = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let Ok(entries) = fs::read_dir(listed) else {
                continue;
            };
            for entry in entries.flatten() {
                let entry_name = entry.file_name();
                let entry_bytes = entry_name.as_encoded_bytes();
                // glob(3) shows dot files only to patterns that ask for them.
                let hidden = entry_bytes.first() == Some(&b'.') && bytes.first() != Some(&b'.');
                if !hidden && wildcard_match(entry_bytes, bytes, false) {
                    matched.push(dir.join(&entry_name));
                }
            }
        }
        found = matched;
    }
    found.sort();
    Some(found)
}

/// What `ssh -G` says the connection will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The host ssh connects to, after `HostName` and canonicalisation.
    pub hostname: String,
    /// The remote user.
    pub user: Option<String>,
    /// The port.
    pub port: Option<u16>,
}

/// Reads the output of `ssh -G`: `keyword value` lines with lowercase
/// keywords, of which `hostname`, `user` and `port` are taken (the first of
/// each). `None` without a non-empty `hostname`; a `port` that is not a
/// number from 1 to 65535 is left out.
pub fn parse_ssh_g(output: &str) -> Option<Resolved> {
    let (mut hostname, mut user, mut port) = (None, None, None);
    for line in output.lines() {
        let Some((keyword, value)) = line.split_once(' ') else {
            continue;
        };
        let slot = match keyword {
            "hostname" => &mut hostname,
            "user" => &mut user,
            "port" => &mut port,
            _ => continue,
        };
        slot.get_or_insert(value);
        if hostname.is_some() && user.is_some() && port.is_some() {
            break;
        }
    }
    Some(Resolved {
        hostname: hostname.filter(|name| !name.is_empty())?.to_owned(),
        user: user.map(str::to_owned),
        port: port
            .and_then(|port| port.parse::<u16>().ok())
            .filter(|&port| port != 0),
    })
}

/// Whether the connection goes to the cloud: by the name given, by
/// `-o HostName`, or by the `HostName` the user's ssh_config gives it.
pub fn in_scope(
    cfg: &Config,
    line: &command_line::SshCommand,
    host: &str,
    real: &Path,
    args: &[OsString],
) -> bool {
    if line.hostname_option.is_some() {
        // ssh connects where -o HostName says, whatever the name given.
        return line
            .connect_host()
            .is_some_and(|h| host_pattern::host_matches(&h, &cfg.wildcards));
    }
    if host_pattern::host_matches(host, &cfg.wildcards) {
        return true;
    }
    // An alias can only become a cloud host through the user's ssh_config;
    // reading the files is cheap, running `ssh -G` is not, so look first.
    let home = Some(cfg.home.as_path()).filter(|h| h.is_absolute());
    let mut files = ssh_config_files(home, line.config_file.as_deref());
    if line.config_file.is_none()
        && let Some(pw) = passwd_home()
        && pw != cfg.home
    {
        files.insert(
            1,
            ConfigFile {
                path: pw.join(".ssh/config"),
                origin: ConfigOrigin::User,
            },
        );
    }
    if !config_names_hostname_in_scope(&files, home, &cfg.wildcards) {
        return false;
    }
    let resolved = ssh_g(real, args).and_then(|out| parse_ssh_g(&out));
    debug(cfg.debug, || {
        format!(
            "ssh -G resolves {host} to {:?}",
            resolved.as_ref().map(|r| &r.hostname)
        )
    });
    resolved.is_some_and(|r| host_pattern::host_matches(&r.hostname, &cfg.wildcards))
}

/// Runs `ssh -G` for `args` and returns what it prints, if it succeeds:
/// what ssh will use for a connection, after every configuration file.
/// Costs milliseconds (ssh reads all its configuration), so the connection
/// path asks only when [`config_names_hostname_in_scope`] says it may
/// matter; `certsh doctor` asks it about a sample cloud host.
pub fn ssh_g<S: AsRef<OsStr>>(real: &Path, args: &[S]) -> Option<String> {
    let out = secret::command(real)
        .arg("-G")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every value `ssh -G` printed for `keyword` (lowercase), in order: the
/// options ssh takes more than one of (`identityfile`, `certificatefile`).
pub fn ssh_g_values<'a>(output: &'a str, keyword: &str) -> Vec<&'a str> {
    output
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| *k == keyword)
        .map(|(_, v)| v)
        .collect()
}

/// The home directory in the password database, which is where OpenSSH
/// looks for `~/.ssh/config` whatever `$HOME` says (CI runners differ):
/// `/etc/passwd` on Linux, Open Directory on macOS, the profile folder on
/// Windows (`platform::home_from_user_database`).
pub fn passwd_home() -> Option<PathBuf> {
    crate::util::platform::home_from_user_database()
}

#[cfg(test)]
mod tests;
