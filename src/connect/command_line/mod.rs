//! Reads OpenSSH's command line the way `ssh` itself reads it.
//!
//! certsh is started with exactly the arguments the real ssh will get (for
//! instance as `GIT_SSH_COMMAND`), and must know where the connection goes
//! before it hands those arguments on unchanged. A reading that differs from
//! ssh's would fetch a certificate for the wrong host, or none for the right
//! one, so this module follows `ssh.c` rather than guessing:
//!
//! * options are read with BSD getopt (OpenSSH's own, which never permutes):
//!   flags group (`-vvT`), a value is glued (`-p2222`) or is the next word
//!   whatever it looks like (`-l -x`), and reading stops at the first
//!   non-option or after a consumed `--`;
//! * the first non-option is the destination (`host`, `user@host`, or
//!   `ssh://[user@]host[:port]`), and unless reading was ended by `--`, getopt
//!   runs again over the words after it, so `ssh host -p 2222 cmd` is port 2222
//!   while in `ssh host cmd -p 2222` the `-p 2222` belongs to the remote command;
//! * user and port keep the first value obtained, in command-line order, from
//!   `-l`/`-p`, the destination, and `-o User=`/`-o Port=`; `-o` lines are split
//!   as `readconf.c` splits ssh_config lines.
//!
//! Whatever ssh would refuse (unknown option, missing value, bad port, empty
//! user, a host or user with shell metacharacters, and the checks ssh.c makes
//! as it reads: `-J` twice, bad `-J`/`-L`/`-R`/`-D`/`-W`/`-e`/`-w`/`-c`/`-m`
//! values, `-N` against `-s`, `-y` with `-E`, a bad yes/no `-o` value, a
//! command with `-o RemoteCommand`) and
//! whatever this reading cannot be sure of becomes a [`Passthrough`]: the
//! line then goes to the real ssh untouched, and ssh gives its own answer
//! (a line ssh refuses must not cost a certificate request). Being
//! unsure costs at most a certificate; being wrong could cost a certificate
//! sent to the wrong host. What only a newer ssh accepts is accepted here (an
//! unknown `-o` keyword, a cipher an older ssh knew): refusing it would
//! leave that ssh's users without a certificate, while accepting it costs an
//! older ssh at most a request. `-f` without a command is accepted too:
//! ssh_config's `RemoteCommand` may supply one.
//!
//! This runs before every ssh connection, so it walks the arguments once,
//! borrows from them, and allocates only the few strings it returns.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::PathBuf;

use crate::connect::readconf::{Arguments, Malformed, directive, single_argument};

mod uri;
mod values;

use uri::*;
use values::*;

/// Where ssh will connect, as the command line decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The remote user, if the command line names one (`-l`, `user@`, `-o User=`);
    /// otherwise ssh_config or the local user name decides.
    pub user: Option<String>,
    /// The destination host exactly as written (the part after the last `@`,
    /// or the URI host). `-o HostName=` may still send ssh elsewhere, see
    /// [`SshCommand::connect_host`].
    pub host: String,
    /// The port, if the command line names one (`-p`, the URI, `-o Port=`).
    pub port: Option<u16>,
}

/// Why a command line goes straight to the real ssh without any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// `-G` (print configuration), `-V` (version), `-Q` (query algorithms) or
    /// `-O` (control a multiplexing master): ssh answers without a new
    /// authenticated connection, so there is nothing to certify.
    Query(char),
    /// No destination: ssh prints its usage.
    NoDestination,
    /// ssh would refuse the line (unknown option, missing or bad value,
    /// malformed destination or `-o` line, a host or user that ssh 9.6+
    /// rejects for its characters), or it uses something this module cannot
    /// decide for ssh (a port given as a service name, `-p ssh`).
    NotUnderstood,
    /// The host, the user or `-o HostName` that ssh would use is not valid
    /// UTF-8, so it cannot be compared with the cloud's host patterns.
    NotUtf8,
    /// `-P`: OpenSSH 9.4 and later read it with a value (`-P tag`), older
    /// ones as a flag, so where the destination is depends on the real
    /// ssh's version; [`parse_for`] reads the line for a known one.
    DependsOnVersion,
}

/// What certsh needs to know about one ssh command line.
///
/// Exactly one of `destination` and `passthrough` is `Some`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshCommand {
    /// Where ssh will connect, when it will connect at all.
    pub destination: Option<Destination>,
    /// Why the line goes straight to the real ssh, if it does.
    pub passthrough: Option<Passthrough>,
    /// The first `-o HostName=` value, verbatim (it may hold `%h` and `%%`).
    /// Command-line options come before every ssh_config file, so when this is
    /// set no `HostName` in a config file can change it.
    pub hostname_option: Option<String>,
    /// The last `-F` file (ssh keeps the last). When set, ssh reads only this
    /// file, not `~/.ssh/config` nor the system file; `none` (any case) means
    /// no configuration file at all. Not tilde-expanded: ssh does not either.
    pub config_file: Option<PathBuf>,
}

impl SshCommand {
    /// The host name ssh will connect to as far as the command line decides:
    /// `-o HostName` with `%h` and `%%` expanded as ssh expands them, or else
    /// the destination host. ssh_config `HostName` may still apply when this
    /// is the destination host and `hostname_option` is `None`. Case is as
    /// written; ssh lowercases names, and host patterns ignore case anyway.
    ///
    /// `None` exactly when there is no destination ([`parse`] passes lines
    /// through whose `HostName` ssh could not expand).
    pub fn connect_host(&self) -> Option<Cow<'_, str>> {
        let host = &self.destination.as_ref()?.host;
        match &self.hostname_option {
            None => Some(Cow::Borrowed(host)),
            Some(template) => expand_hostname(template, host).map(Cow::Owned),
        }
    }
}

/// Expands a `HostName` value the way ssh.c does (`percent_expand` with only
/// `h`), returning `None` where ssh would stop with an error.
fn expand_hostname(template: &str, host: &str) -> Option<String> {
    if !template.contains('%') {
        return Some(template.to_owned());
    }
    let mut out = String::with_capacity(template.len() + host.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            'h' => out.push_str(host),
            _ => return None,
        }
    }
    Some(out)
}

/// Reads an ssh command line (the arguments after the program name).
///
/// Accepts `&[OsString]` as collected from `std::env::args_os()`, or plain
/// string slices. Never fails: anything it cannot read the way ssh would is
/// reported in [`SshCommand::passthrough`].
pub fn parse<S: AsRef<OsStr>>(args: &[S]) -> SshCommand {
    parse_for(args, None)
}

/// [`parse`] for a real ssh of a known OpenSSH `version`, which settles
/// what `-P` is ([`Passthrough::DependsOnVersion`]). OpenSSH 9.3 is left
/// undecided.
pub fn parse_for<S: AsRef<OsStr>>(args: &[S], version: Option<(u32, u32)>) -> SshCommand {
    let mut reader = Reader {
        tag_takes_value: match version {
            Some(v) if v >= (9, 4) => Some(true),
            Some(v) if v <= (9, 2) => Some(false),
            _ => None,
        },
        ..Reader::default()
    };
    let outcome = reader.read(args);
    reader.finish(outcome)
}

/// The command-line state ssh builds while reading, borrowed where possible.
#[derive(Default)]
struct Reader<'a> {
    user: Option<Cow<'a, [u8]>>,
    port: Option<u16>,
    hostname: Option<Cow<'a, [u8]>>,
    config_file: Option<&'a OsStr>,
    /// The first of `-G`/`-O`; they do not stop ssh from reading on, unlike
    /// `-V`/`-Q` which answer at once.
    query: Option<char>,
    /// `-J` or `-o ProxyJump` set a jump host: ssh then refuses `-J`
    /// ("Only a single -J option is permitted").
    jump: bool,
    /// The hop before the destination of the jump that counts (the first).
    jump_hop: Option<Hop<'a>>,
    /// `-o ProxyCommand` set a command: ssh then refuses `-J`.
    proxy_command: bool,
    /// `-W` named a host: ssh takes one such `-W`.
    stdio_forward: bool,
    /// What `-N`, `-s`, `-W` and `-o SessionType` asked for; ssh refuses
    /// `-N` and `-s` against each other.
    session: Option<Session>,
    /// The first `-o RemoteCommand`: whether it is a command (not `none`).
    /// ssh refuses one together with a command on its command line.
    remote_command: Option<bool>,
    /// The last `-c` or `-m` starts with an empty name, which ssh takes
    /// but then fails to assemble into a list. Reading the defaults
    /// stops there, before `none` is cleared: `-o RemoteCommand none`
    /// then counts as a command (OpenSSH 9.2 prints "fill_default_options:
    /// ciphers: invalid argument").
    ciphers_unassembled: bool,
    macs_unassembled: bool,
    /// Whether `-P` takes a value, when the ssh's version is known.
    tag_takes_value: Option<bool>,
    /// `-y` and `-E`, which ssh refuses together.
    syslog: bool,
    logfile: bool,
}

/// ssh's `SessionType`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Session {
    None,
    Subsystem,
    Default,
}

/// How getopt treats one option letter, from ssh.c's option string
/// `1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy`.
/// `-P` takes a value since OpenSSH 9.4 (`-P tag`) and is a flag before
/// (`...MNO:PQ:...` in 9.2): the reader decides it from the version.
fn takes_value(letter: u8) -> Option<bool> {
    match letter {
        b'1' | b'2' | b'4' | b'6' | b'A' | b'C' | b'G' | b'K' | b'M' | b'N' | b'T' | b'V'
        | b'X' | b'Y' | b'a' | b'f' | b'g' | b'k' | b'n' | b'q' | b's' | b't' | b'v' | b'x'
        | b'y' => Some(false),
        b'B' | b'D' | b'E' | b'F' | b'I' | b'J' | b'L' | b'O' | b'P' | b'Q' | b'R' | b'S'
        | b'W' | b'b' | b'c' | b'e' | b'i' | b'l' | b'm' | b'o' | b'p' | b'w' => Some(true),
        _ => None,
    }
}

impl<'a> Reader<'a> {
    /// Follows ssh.c's main: getopt, the destination, and getopt again after
    /// it. Returns the destination host's bytes.
    fn read<S: AsRef<OsStr>>(&mut self, args: &'a [S]) -> Result<Cow<'a, [u8]>, Passthrough> {
        let optind = self.options(args, 0)?;
        let Some(destination) = args.get(optind) else {
            return Err(Passthrough::NoDestination);
        };
        // ssh.c checks the word before the destination, not how getopt
        // stopped, so `-i -- host` also counts as terminated. Copied as is.
        let terminated = optind > 0 && args[optind - 1].as_ref() == "--";
        let host = self.destination(destination.as_ref().as_encoded_bytes())?;
        let command_at = if args.len() - optind > 1 && !terminated {
            // What this second getopt leaves is the remote command, which ssh
            // never reads as options, so neither do we.
            self.options(args, optind + 1)?
        } else {
            optind + 1
        };
        let command = command_at < args.len();
        // "You must specify a subsystem to invoke.", "Cannot execute
        // command-line and remote command."
        if (self.session == Some(Session::Subsystem) && !command)
            || (command && self.remote_command == Some(true))
            || (command
                && self.remote_command == Some(false)
                && (self.ciphers_unassembled || self.macs_unassembled))
        {
            return Err(Passthrough::NotUnderstood);
        }
        Ok(host)
    }

    /// One run of OpenSSH's BSD getopt over `args[start..]`. Returns the
    /// index of the first word it did not take (a consumed `--` is taken).
    fn options<S: AsRef<OsStr>>(
        &mut self,
        args: &'a [S],
        start: usize,
    ) -> Result<usize, Passthrough> {
        let mut i = start;
        'words: while let Some(word) = args.get(i) {
            let word = word.as_ref();
            let bytes = word.as_encoded_bytes();
            // A word not starting with `-`, or a lone `-`, is a non-option.
            if bytes.len() < 2 || bytes[0] != b'-' {
                break;
            }
            if bytes == b"--" {
                i += 1;
                break;
            }
            let mut j = 1;
            while j < bytes.len() {
                let letter = bytes[j];
                j += 1;
                if letter == b'-' && j == bytes.len() {
                    // OpenSSH's getopt ends reading at a group ending in `-`
                    // (`-v-`) without taking the word, which so becomes the
                    // destination. Odd, but it is what ssh does.
                    break 'words;
                }
                let takes = match (letter, self.tag_takes_value) {
                    (b'P', None) => return Err(Passthrough::DependsOnVersion),
                    (b'P', known) => known,
                    _ => takes_value(letter),
                };
                match takes {
                    None => return Err(Passthrough::NotUnderstood),
                    Some(false) => self.flag(letter)?,
                    Some(true) => {
                        let value = if j < bytes.len() {
                            glued_value(word, j).ok_or(Passthrough::NotUnderstood)?
                        } else {
                            i += 1;
                            args.get(i).ok_or(Passthrough::NotUnderstood)?.as_ref()
                        };
                        self.option(letter, value)?;
                        // The value took the rest of the word.
                        break;
                    }
                }
            }
            i += 1;
        }
        Ok(i)
    }

    fn flag(&mut self, letter: u8) -> Result<(), Passthrough> {
        match letter {
            // ssh prints its version and exits right there.
            b'V' => Err(Passthrough::Query('V')),
            b'G' => {
                self.query.get_or_insert('G');
                Ok(())
            }
            // "SSH protocol v.1 is no longer supported": ssh exits.
            b'1' => Err(Passthrough::NotUnderstood),
            // "Cannot specify -N with -s/SessionType", and the reverse.
            b'N' => self.set_session(Session::None, true),
            b's' => self.set_session(Session::Subsystem, true),
            b'y' => {
                self.syslog = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `-N`/`-s` (`forced`) must agree with an earlier session type;
    /// `-o SessionType` only sets one when none is set yet.
    fn set_session(&mut self, session: Session, forced: bool) -> Result<(), Passthrough> {
        match self.session {
            None => self.session = Some(session),
            Some(earlier) if forced && earlier != session => {
                return Err(Passthrough::NotUnderstood);
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn option(&mut self, letter: u8, value: &'a OsStr) -> Result<(), Passthrough> {
        let bytes = value.as_encoded_bytes();
        match letter {
            // ssh prints the list (or an error) and exits right there.
            b'Q' => return Err(Passthrough::Query('Q')),
            b'O' => {
                self.query.get_or_insert('O');
            }
            b'l' => {
                self.user.get_or_insert(Cow::Borrowed(bytes));
            }
            // ssh checks the port only when it is the one kept: `-p 1 -p x` works.
            b'p' if self.port.is_none() => {
                self.port = Some(port_number(bytes).ok_or(Passthrough::NotUnderstood)?);
            }
            b'o' => self.config_option(bytes)?,
            b'F' => self.config_file = Some(value),
            // The checks ssh.c makes while it reads the options; a value it
            // refuses ends ssh before any connection.
            b'J' => {
                if self.jump || self.proxy_command || !valid_jump(bytes) {
                    return Err(Passthrough::NotUnderstood);
                }
                self.jump = true;
                self.jump_hop = last_hop(bytes);
                self.proxy_command = true;
            }
            b'W' => {
                // "stdio forward already specified".
                if self.stdio_forward {
                    return Err(Passthrough::NotUnderstood);
                }
                let forward =
                    parse_forward(bytes, Forward::Dynamic).ok_or(Passthrough::NotUnderstood)?;
                self.stdio_forward = forward.listen_host;
                self.session = Some(Session::None);
            }
            b'L' => {
                parse_forward(bytes, Forward::Local).ok_or(Passthrough::NotUnderstood)?;
            }
            b'R' => {
                parse_forward(bytes, Forward::Remote)
                    .or_else(|| parse_forward(bytes, Forward::RemoteDynamic))
                    .ok_or(Passthrough::NotUnderstood)?;
            }
            b'D' => {
                parse_forward(bytes, Forward::Dynamic).ok_or(Passthrough::NotUnderstood)?;
            }
            b'e' if !escape_char(bytes) => return Err(Passthrough::NotUnderstood),
            b'w' if !tunnel_devices(bytes) => return Err(Passthrough::NotUnderstood),
            b'c' => {
                let names = bytes
                    .strip_prefix(b"+")
                    .or_else(|| bytes.strip_prefix(b"^"))
                    .unwrap_or(bytes);
                if !known_names(names, CIPHERS) {
                    return Err(Passthrough::NotUnderstood);
                }
                self.ciphers_unassembled = bytes.starts_with(b",");
            }
            b'm' => {
                if !known_names(bytes, MACS) {
                    return Err(Passthrough::NotUnderstood);
                }
                self.macs_unassembled = bytes.starts_with(b",");
            }
            b'E' => self.logfile = true,
            _ => {}
        }
        Ok(())
    }

    /// An `-o` line, read like an ssh_config line. Only `User`, `Port` and
    /// `HostName` matter here; other keywords are left to ssh, which knows
    /// them all.
    fn config_option(&mut self, line: &'a [u8]) -> Result<(), Passthrough> {
        let directive = match directive(line) {
            Ok(Some(directive)) => directive,
            Ok(None) => return Ok(()),
            Err(Malformed) => return Err(Passthrough::NotUnderstood),
        };
        let keyword = directive.keyword.as_ref();
        if keyword.eq_ignore_ascii_case(b"user") {
            let user = single_argument(directive.args).ok_or(Passthrough::NotUnderstood)?;
            self.user.get_or_insert(user);
        } else if keyword.eq_ignore_ascii_case(b"port") {
            // readconf.c checks every Port value, kept or not.
            let port = single_argument(directive.args)
                .and_then(|value| port_number(&value))
                .ok_or(Passthrough::NotUnderstood)?;
            self.port.get_or_insert(port);
        } else if keyword.eq_ignore_ascii_case(b"hostname") {
            let hostname = single_argument(directive.args).ok_or(Passthrough::NotUnderstood)?;
            self.hostname.get_or_insert(hostname);
        } else if keyword.eq_ignore_ascii_case(b"proxyjump") {
            // readconf.c takes the rest of the line, unsplit; only the first
            // setting counts, but every one is checked.
            if !valid_jump(directive.args) {
                return Err(Passthrough::NotUnderstood);
            }
            if !self.jump {
                self.jump_hop = last_hop(directive.args);
            }
            self.jump = true;
        } else if keyword.eq_ignore_ascii_case(b"proxycommand") {
            if !self.jump {
                self.proxy_command = true;
            }
        } else if keyword.eq_ignore_ascii_case(b"remotecommand") {
            for argument in Arguments::new(directive.args) {
                argument.map_err(|Malformed| Passthrough::NotUnderstood)?;
            }
            self.remote_command
                .get_or_insert(!directive.args.eq_ignore_ascii_case(b"none"));
        } else if keyword.eq_ignore_ascii_case(b"sessiontype") {
            let value = single_argument(directive.args).ok_or(Passthrough::NotUnderstood)?;
            let session = match value.to_ascii_lowercase().as_slice() {
                b"none" => Session::None,
                b"subsystem" => Session::Subsystem,
                b"default" => Session::Default,
                _ => return Err(Passthrough::NotUnderstood),
            };
            self.set_session(session, false)?;
        } else if FLAGS
            .iter()
            .any(|flag| keyword.eq_ignore_ascii_case(flag.as_bytes()))
        {
            let value = single_argument(directive.args).ok_or(Passthrough::NotUnderstood)?;
            if !["yes", "no", "true", "false"]
                .iter()
                .any(|v| value.eq_ignore_ascii_case(v.as_bytes()))
            {
                return Err(Passthrough::NotUnderstood);
            }
        } else {
            // Still split the arguments: unbalanced quotes make ssh refuse
            // any keyword.
            for argument in Arguments::new(directive.args) {
                argument.map_err(|Malformed| Passthrough::NotUnderstood)?;
            }
        }
        Ok(())
    }

    /// Reads the destination word as ssh.c does: an `ssh://` URI when it is
    /// one, else `[user@]host` split at the last `@`.
    fn destination(&mut self, word: &'a [u8]) -> Result<Cow<'a, [u8]>, Passthrough> {
        if let Some(uri) = parse_ssh_uri(word) {
            let uri = uri.map_err(|Malformed| Passthrough::NotUnderstood)?;
            if let Some(user) = uri.user {
                self.user.get_or_insert(user);
            }
            if let Some(port) = uri.port {
                self.port.get_or_insert(port);
            }
            return Ok(Cow::Borrowed(uri.host));
        }
        match split_user(word) {
            // ssh prints its usage for an empty user (`@host`).
            (Some(b""), _) => Err(Passthrough::NotUnderstood),
            (Some(user), host) => {
                self.user.get_or_insert(Cow::Borrowed(user));
                Ok(Cow::Borrowed(host))
            }
            (None, host) => Ok(Cow::Borrowed(host)),
        }
    }

    fn finish(self, outcome: Result<Cow<'a, [u8]>, Passthrough>) -> SshCommand {
        let hostname = self.hostname.map(cow_to_string);
        let hostname_not_utf8 = matches!(hostname, Some(None));
        let mut command = SshCommand {
            config_file: self.config_file.map(PathBuf::from),
            hostname_option: hostname.flatten(),
            ..SshCommand::default()
        };
        // "Can't specify both -y and -E".
        let outcome = match outcome {
            Ok(_) if self.syslog && self.logfile => Err(Passthrough::NotUnderstood),
            other => other,
        };
        let checked = outcome.and_then(|host| {
            // ssh 9.6+ refuses such hosts ("hostname contains invalid
            // characters"); an empty one connects nowhere.
            if host.is_empty() || !valid_hostname(&host) {
                return Err(Passthrough::NotUnderstood);
            }
            // ssh 9.6+ refuses such users ("remote username contains invalid
            // characters"), wherever on the command line they came from.
            if self.user.as_deref().is_some_and(|user| !valid_ruser(user)) {
                return Err(Passthrough::NotUnderstood);
            }
            if let Some(query) = self.query {
                return Err(Passthrough::Query(query));
            }
            let host = cow_to_string(host).ok_or(Passthrough::NotUtf8)?;
            let expanded = match &command.hostname_option {
                // ssh stops on a `%` token it cannot expand in HostName.
                Some(template) => {
                    Some(expand_hostname(template, &host).ok_or(Passthrough::NotUnderstood)?)
                }
                None => None,
            };
            let target = expanded.as_deref().unwrap_or(&host);
            if let Some(hop) = &self.jump_hop
                && jumps_to_itself(hop, target, self.user.as_deref(), self.port)
            {
                return Err(Passthrough::NotUnderstood);
            }
            let user = self
                .user
                .map(|user| cow_to_string(user).ok_or(Passthrough::NotUtf8))
                .transpose()?;
            if hostname_not_utf8 {
                return Err(Passthrough::NotUtf8);
            }
            Ok(Destination {
                user,
                host,
                port: self.port,
            })
        });
        match checked {
            Ok(destination) => command.destination = Some(destination),
            Err(passthrough) => command.passthrough = Some(passthrough),
        }
        command
    }
}

/// ssh.c's "jumphost loop via": the last hop is the destination itself,
/// compared as ssh compares them. The hop's host as written, the
/// destination's (after `-o HostName`) lowercased; ports default to 22;
/// the hop's user defaults to the destination's, and that one to the login
/// name.
fn jumps_to_itself(hop: &Hop<'_>, target: &str, user: Option<&[u8]>, port: Option<u16>) -> bool {
    let same_user = match (&hop.user, user) {
        (None, _) => true,
        (Some(hop_user), Some(user)) => **hop_user == *user,
        (Some(hop_user), None) => {
            crate::util::platform::user_name().is_some_and(|name| name.as_bytes() == &**hop_user)
        }
    };
    hop.host == target.to_ascii_lowercase().as_bytes()
        && hop.port.unwrap_or(22) == port.unwrap_or(22)
        && same_user
}

/// The value glued to an option letter (`-p2222`), from byte `from` of `word`.
/// `from` follows an ASCII letter, so it is a boundary in any encoding
/// (on Windows only a Unicode rest is a name: `platform::os_str_from_bytes`).
fn glued_value(word: &OsStr, from: usize) -> Option<&OsStr> {
    crate::util::platform::os_str_from_bytes(&word.as_encoded_bytes()[from..])
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
