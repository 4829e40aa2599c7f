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
//! (issue #9: a line ssh refuses must not cost a certificate request). Being
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
            || (self.remote_command == Some(true) && command)
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
            }
            b'm' if !known_names(bytes, MACS) => return Err(Passthrough::NotUnderstood),
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
        match word.iter().rposition(|&b| b == b'@') {
            // ssh prints its usage for an empty user (`@host`).
            Some(0) => Err(Passthrough::NotUnderstood),
            Some(at) => {
                self.user.get_or_insert(Cow::Borrowed(&word[..at]));
                Ok(Cow::Borrowed(&word[at + 1..]))
            }
            None => Ok(Cow::Borrowed(word)),
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
            if let Some(template) = &command.hostname_option {
                // ssh stops on a `%` token it cannot expand in HostName.
                expand_hostname(template, &host).ok_or(Passthrough::NotUnderstood)?;
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

/// The value glued to an option letter (`-p2222`), from byte `from` of `word`.
/// `from` follows an ASCII letter, so it is a boundary in any encoding.
#[cfg(unix)]
fn glued_value(word: &OsStr, from: usize) -> Option<&OsStr> {
    use std::os::unix::ffi::OsStrExt;
    Some(OsStr::from_bytes(&word.as_bytes()[from..]))
}

/// The value glued to an option letter (`-p2222`), from byte `from` of `word`.
/// Without Unix's byte strings only Unicode words can be cut safely.
#[cfg(not(unix))]
fn glued_value(word: &OsStr, from: usize) -> Option<&OsStr> {
    word.to_str().map(|word| OsStr::new(&word[from..]))
}

fn cow_to_string(bytes: Cow<'_, [u8]>) -> Option<String> {
    match bytes {
        Cow::Borrowed(bytes) => std::str::from_utf8(bytes).ok().map(str::to_owned),
        Cow::Owned(bytes) => String::from_utf8(bytes).ok(),
    }
}

/// OpenSSH's `a2port`: a decimal number 1..=65535 as `strtonum` reads it
/// (leading white space and a `+` allowed). ssh also accepts service names
/// from `/etc/services` (`-p ssh`); those give `None` here, since looking
/// them up is not this module's business and they are rare.
fn port_number(text: &[u8]) -> Option<u16> {
    u16::try_from(strtonum(text, 65535)?)
        .ok()
        .filter(|&port| port != 0)
}

/// The C library's `strtonum(text, 0, max)` as OpenSSH uses it: leading
/// white space, an optional sign, decimal digits and nothing after them.
/// A `-` sign gives `None`: only `-0` would be in range, and nothing here
/// cares for it.
fn strtonum(text: &[u8], max: u32) -> Option<u32> {
    let start = text
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(text.len());
    let text = &text[start..];
    let digits = text.strip_prefix(b"+").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Saturate rather than overflow on absurd lengths; leading zeros are fine.
    let value = digits.iter().fold(0u64, |acc, &d| {
        (acc * 10 + u64::from(d - b'0')).min(1 << 40)
    });
    u32::try_from(value).ok().filter(|&v| v <= max)
}

/// The kinds of `parse_forward` call ssh.c makes: `-L`, `-R` (tried as a
/// plain remote forward, then as a dynamic one), `-D` and `-W`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Forward {
    Local,
    Remote,
    RemoteDynamic,
    Dynamic,
}

/// What ssh.c looks at in a parsed forwarding.
struct ParsedForward {
    /// Whether it names a listening host (`-W host:port` does).
    listen_host: bool,
}

/// One field of a forwarding: its text (escapes removed) and whether it is
/// a path (holds a `/`).
struct Field {
    text: Vec<u8>,
    path: bool,
}

/// OpenSSH's `parse_forward` (misc.c): up to four `:`-separated fields,
/// `[...]` taken literally, `\` escaping the next byte, a `/` making a field
/// a path. `None` where ssh prints "Bad ... forwarding specification". A
/// spec holding `${` (ssh expands environment variables in it first) and a
/// port given as a service name are `None` too: deciding them needs the
/// environment or `/etc/services`.
fn parse_forward(spec: &[u8], kind: Forward) -> Option<ParsedForward> {
    if spec.windows(2).any(|w| w == b"${") {
        return None;
    }
    let start = spec
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(spec.len());
    let mut rest = &spec[start..];
    let mut fields: Vec<Field> = Vec::with_capacity(4);
    while fields.len() < 4 && !rest.is_empty() {
        let (field, after) = forward_field(rest)?;
        fields.push(field);
        rest = after;
    }
    if !rest.is_empty() {
        return None;
    }
    // a2port, with service names left undecided (see above): a number
    // 0..=65535, else `Err(())`.
    let port = |f: &Field| strtonum(&f.text, 65535).map(|p| p as i64).ok_or(());
    const PATH: i64 = -2;
    // (listen host, listen port, connect port or PATH, connect host or path)
    let (listen_host, listen_port, connect_port) = match fields.as_slice() {
        [a] if a.path => (false, Ok(PATH), 0),
        [a] => (false, port(a), 0),
        [a, b] if a.path && b.path => (false, Ok(PATH), PATH),
        [a, b] if b.path => (false, port(a), PATH),
        [_, b] => (true, port(b), 0),
        [a, b, c] if a.path => (false, Ok(PATH), port(c).unwrap_or(-1)),
        [_, b, c] if c.path => (true, port(b), PATH),
        [a, _, c] => (false, port(a), port(c).unwrap_or(-1)),
        [_, b, _, d] => (true, port(b), port(d).unwrap_or(-1)),
        _ => return None,
    };
    let listen_port = listen_port.ok()?;
    let dynamic = matches!(kind, Forward::Dynamic | Forward::RemoteDynamic);
    let remote = matches!(kind, Forward::Remote | Forward::RemoteDynamic);
    let count = fields.len();
    if dynamic {
        if !(count == 1 || count == 2) {
            return None;
        }
    } else {
        let paths = listen_port == PATH || connect_port == PATH;
        if !(count == 3 || count == 4 || paths) {
            return None;
        }
        if connect_port <= 0 && connect_port != PATH {
            return None;
        }
    }
    if (!remote && listen_port == 0) || fields.iter().any(too_long) {
        return None;
    }
    Some(ParsedForward { listen_host })
}

/// Host names must fit `NI_MAXHOST`, paths a Unix socket address (108
/// bytes on Linux; macOS's 104 is left to ssh).
fn too_long(field: &Field) -> bool {
    field.text.len() >= if field.path { 108 } else { 1025 }
}

/// misc.c's `parse_fwd_field`: one field and the text after its `:`.
fn forward_field(text: &[u8]) -> Option<(Field, &[u8])> {
    if let Some(inner) = text.strip_prefix(b"[") {
        let close = inner.iter().position(|&b| b == b']')?;
        let after = &inner[close + 1..];
        let after = match after.first() {
            None => after,
            Some(b':') => &after[1..],
            Some(_) => return None,
        };
        let body = &inner[..close];
        let path = body.contains(&b'/');
        return Some((
            Field {
                text: body.to_vec(),
                path,
            },
            after,
        ));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut path = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' => {
                // The escaped byte is taken literally: an escaped `:` does
                // not end the field, an escaped `/` makes no path.
                i += 1;
                out.push(*text.get(i)?);
            }
            b'/' => {
                path = true;
                out.push(b'/');
            }
            b':' => return Some((Field { text: out, path }, &text[i + 1..])),
            b => out.push(b),
        }
        i += 1;
    }
    Some((Field { text: out, path }, &text[text.len()..]))
}

/// readconf.c's `parse_jump`: `none` (any case), or comma-separated
/// `[user@]host[:port]` or `ssh://` hops. A `#` starts a comment, and the
/// value ends at white space (OpenSSH 9.2 as Debian ships it reads
/// `-J "a b"` as `a`). Every hop is checked: a user before `@` is not empty,
/// the host is not empty and passes ssh 9.6's `valid_hostname` (which
/// distributions backport), a port is a number 1..=65535 (a service name is
/// refused here, see [`port_number`]). A `/` in a hop is refused too: ssh
/// versions differ on it.
fn valid_jump(value: &[u8]) -> bool {
    if value.eq_ignore_ascii_case(b"none") {
        return true;
    }
    let end = value
        .iter()
        .position(|&b| b == b'#' || matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(value.len());
    value[..end]
        .split(|&b| b == b',')
        .all(|hop| match parse_ssh_uri(hop) {
            Some(uri) => uri.is_ok(),
            None => user_host_port(hop),
        })
}

/// misc.c's `parse_user_host_port`, as [`valid_jump`] describes it.
fn user_host_port(hop: &[u8]) -> bool {
    let mut rest = hop;
    if let Some(at) = rest.iter().rposition(|&b| b == b'@') {
        if at == 0 {
            return false;
        }
        rest = &rest[at + 1..];
    }
    if rest.contains(&b'/') {
        return false;
    }
    let (host, port) = if rest.first() == Some(&b'[') {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        match rest.get(close + 1) {
            None => (&rest[1..close], None),
            Some(b':') => (&rest[1..close], Some(&rest[close + 2..])),
            Some(_) => return false,
        }
    } else {
        match rest.iter().position(|&b| b == b':') {
            Some(colon) => (&rest[..colon], Some(&rest[colon + 1..])),
            None => (rest, None),
        }
    };
    !host.is_empty()
        && valid_hostname(host)
        && port.is_none_or(|port| port.is_empty() || port_number(port).is_some())
}

/// ssh's `-e`: `^X` for a control character, one character, or `none`.
fn escape_char(value: &[u8]) -> bool {
    match value {
        [b'^', c] => (64..128).contains(c),
        [_] => true,
        _ => value == b"none",
    }
}

/// misc.c's `a2tun` for `-w local[:remote]`: each `any` (any case) or a
/// number up to `SSH_TUNID_MAX`.
fn tunnel_devices(value: &[u8]) -> bool {
    const SSH_TUNID_MAX: u32 = 0x7fff_fffd;
    let one = |t: &[u8]| t.eq_ignore_ascii_case(b"any") || strtonum(t, SSH_TUNID_MAX).is_some();
    match value.iter().position(|&b| b == b':') {
        Some(colon) => one(&value[..colon]) && one(&value[colon + 1..]),
        None => one(value),
    }
}

/// `ciphers_valid` / `mac_valid`: a comma-separated list of known names.
/// Like ssh, the check stops at the first empty name (`a,,bogus` passes),
/// and an empty list fails.
fn known_names(list: &[u8], known: &[&str]) -> bool {
    if list.is_empty() {
        return false;
    }
    list.split(|&b| b == b',')
        .take_while(|name| !name.is_empty())
        .all(|name| known.iter().any(|k| k.as_bytes() == name))
}

/// Every cipher name `-c` accepted in some OpenSSH since 7.3, so that no
/// version's valid line is refused here (a name an older ssh knew and a
/// newer one refuses costs at most a certificate request).
const CIPHERS: &[&str] = &[
    "3des-cbc",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "arcfour",
    "arcfour128",
    "arcfour256",
    "blowfish-cbc",
    "cast128-cbc",
    "rijndael-cbc@lysator.liu.se",
];

/// Every MAC name `-m` accepted in some OpenSSH since 7.3.
const MACS: &[&str] = &[
    "hmac-sha1",
    "hmac-sha1-96",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-md5",
    "hmac-md5-96",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha1-96-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-md5-etm@openssh.com",
    "hmac-md5-96-etm@openssh.com",
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-ripemd160",
    "hmac-ripemd160@openssh.com",
    "hmac-ripemd160-etm@openssh.com",
];

/// ssh_config keywords that have taken exactly `yes` or `no` (or `true`,
/// `false`, any case) in every OpenSSH since 7.3; another value, or more
/// than one, makes ssh refuse an `-o` line. Keywords whose values grew over
/// time (`ForwardAgent` takes a path since 8.2) are left out, and so are
/// unknown keywords: a keyword a newer ssh added must not cost its users the
/// certificate.
const FLAGS: &[&str] = &[
    "BatchMode",
    "CheckHostIP",
    "ClearAllForwardings",
    "Compression",
    "ExitOnForwardFailure",
    "ForwardX11",
    "ForwardX11Trusted",
    "GatewayPorts",
    "HashKnownHosts",
    "HostbasedAuthentication",
    "IdentitiesOnly",
    "NoHostAuthenticationForLocalhost",
    "PasswordAuthentication",
    "PermitLocalCommand",
    "TCPKeepAlive",
    "VisualHostKey",
];

/// OpenSSH's `valid_hostname` (misc.c, 9.6+): no leading `-`, no shell
/// metacharacters, no white space or control characters.
fn valid_hostname(host: &[u8]) -> bool {
    host.first() != Some(&b'-')
        && !host.iter().any(|&b| {
            b"'`\"$\\;&<>|(){},".contains(&b)
                || b == b' '
                // Includes \t \n \v \f \r, ssh's other white space.
                || b.is_ascii_control()
        })
}

/// OpenSSH's `valid_ruser` (misc.c, 9.6+): no leading `-`, no control
/// characters or shell metacharacters, no white space before a `-`, no
/// trailing backslash.
fn valid_ruser(user: &[u8]) -> bool {
    user.first() != Some(&b'-')
        && user.last() != Some(&b'\\')
        && !user
            .iter()
            .any(|&b| b.is_ascii_control() || b"'`\";&<>|(){}".contains(&b))
        && !user
            .windows(2)
            .any(|pair| matches!(pair[0], b' ' | b'\t'..=b'\r') && pair[1] == b'-')
}

/// The parts of an `ssh://` destination.
struct SshUri<'a> {
    user: Option<Cow<'a, [u8]>>,
    host: &'a [u8],
    port: Option<u16>,
}

/// OpenSSH's `parse_ssh_uri` (misc.c): `None` when the word is not an
/// `ssh://` URI at all, an error where ssh would print its usage.
///
/// ssh requires the host to pass `valid_domain` (letters, digits, `-`, `_`,
/// `.`; starting with a letter or digit), so bracketed IPv6 literals such as
/// `ssh://[::1]:22` are refused by ssh and here alike; one trailing `.` is
/// dropped. The user part may be percent-encoded and may carry `;params`,
/// which ssh ignores. A path other than a lone `/` is refused.
fn parse_ssh_uri(word: &[u8]) -> Option<Result<SshUri<'_>, Malformed>> {
    let rest = word.strip_prefix(b"ssh://")?;
    Some(parse_uri_rest(rest))
}

fn parse_uri_rest(mut rest: &[u8]) -> Result<SshUri<'_>, Malformed> {
    let mut user = None;
    // Unlike the plain form, the URI's user ends at the first `@`.
    if let Some(at) = rest.iter().position(|&b| b == b'@') {
        let info = &rest[..at];
        let name = match info.iter().position(|&b| b == b';') {
            Some(semicolon) => &info[..semicolon],
            None => info,
        };
        if name.is_empty() {
            return Err(Malformed);
        }
        user = Some(url_decode(name)?);
        rest = &rest[at + 1..];
    }

    // misc.c's hpdelim2: a bracketed host runs to `]`, else to `:` or `/`.
    let host_end = if rest.first() == Some(&b'[') {
        rest.iter().position(|&b| b == b']').ok_or(Malformed)? + 1
    } else {
        rest.iter()
            .position(|&b| b == b':' || b == b'/')
            .unwrap_or(rest.len())
    };
    let (mut host, delimiter, mut tail) = match rest.get(host_end) {
        None => (rest, None, &b""[..]),
        Some(&delimiter @ (b':' | b'/')) => {
            (&rest[..host_end], Some(delimiter), &rest[host_end + 1..])
        }
        Some(_) => return Err(Malformed),
    };
    if let [b'[', inner @ .., b']'] = host {
        host = inner;
    }
    host = valid_domain(host).ok_or(Malformed)?;

    let mut port = None;
    if !tail.is_empty() && delimiter == Some(b':') {
        let (number, path) = match tail.iter().position(|&b| b == b'/') {
            Some(slash) => (&tail[..slash], &tail[slash + 1..]),
            None => (tail, &b""[..]),
        };
        port = Some(port_number(number).ok_or(Malformed)?);
        tail = path;
    }
    if !tail.is_empty() {
        // ssh accepts no path in an ssh:// destination.
        return Err(Malformed);
    }
    Ok(SshUri { user, host, port })
}

/// OpenSSH's `valid_domain` without lowercasing; returns the host without
/// one trailing dot, as ssh uses it.
fn valid_domain(host: &[u8]) -> Option<&[u8]> {
    let first = *host.first()?;
    if !first.is_ascii_alphanumeric()
        || host.windows(2).any(|pair| pair == b"..")
        || !host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return None;
    }
    Some(host.strip_suffix(b".").unwrap_or(host))
}

/// OpenSSH's `urldecode`: `+` is a space, `%XX` a byte; a bad escape, and
/// `%00`, are errors.
fn url_decode(text: &[u8]) -> Result<Cow<'_, [u8]>, Malformed> {
    if !text.iter().any(|&b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3).ok_or(Malformed)?;
                let high = hex_digit(hex[0]).ok_or(Malformed)?;
                let low = hex_digit(hex[1]).ok_or(Malformed)?;
                let byte = high << 4 | low;
                if byte == 0 {
                    return Err(Malformed);
                }
                out.push(byte);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Ok(Cow::Owned(out))
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn dest(user: Option<&str>, host: &str, port: Option<u16>) -> Option<Destination> {
        Some(Destination {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        })
    }

    fn passthrough(args: &[&str]) -> Option<Passthrough> {
        let command = parse(args);
        assert!(command.destination.is_none(), "{args:?} gave {command:?}");
        command.passthrough
    }

    #[test]
    fn plain_host() {
        let command = parse(&["example.com"]);
        assert_eq!(command.destination, dest(None, "example.com", None));
        assert_eq!(command.passthrough, None);
    }

    #[test]
    fn user_at_host_splits_at_the_last_at() {
        assert_eq!(
            parse(&["a@b@h.example"]).destination,
            dest(Some("a@b"), "h.example", None)
        );
    }

    #[test]
    fn grouped_flags_and_glued_values() {
        assert_eq!(
            parse(&["-vvT", "-p2222", "h"]).destination,
            dest(None, "h", Some(2222))
        );
        assert_eq!(
            parse(&["-vp2222", "h"]).destination,
            dest(None, "h", Some(2222))
        );
        assert_eq!(
            parse(&["-Tlalice", "h"]).destination,
            dest(Some("alice"), "h", None)
        );
        // A value letter takes the rest of the word, even option letters.
        assert_eq!(
            parse(&["-pv", "h"]).passthrough,
            Some(Passthrough::NotUnderstood)
        );
    }

    #[test]
    fn value_may_start_with_a_dash() {
        assert_eq!(parse(&["-i", "-x", "h"]).destination, dest(None, "h", None));
        // `-x` is read as the user, not as an option; ssh then refuses a user
        // starting with `-`, so the line goes through untouched.
        assert_eq!(
            passthrough(&["-l", "-x", "h"]),
            Some(Passthrough::NotUnderstood)
        );
        // Even `--` is just a value here, not the end of options.
        assert_eq!(
            parse(&["-E", "--", "-p", "3", "h"]).destination,
            dest(None, "h", Some(3))
        );
    }

    #[test]
    fn options_after_the_destination() {
        assert_eq!(
            parse(&["h", "-p", "2222", "-l", "bob", "uptime"]).destination,
            dest(Some("bob"), "h", Some(2222))
        );
    }

    #[test]
    fn remote_command_is_not_parsed() {
        let command = parse(&["h", "cmd", "-p", "2222", "-G", "-Z"]);
        assert_eq!(command.destination, dest(None, "h", None));
        assert_eq!(command.passthrough, None);
    }

    #[test]
    fn double_dash_after_destination_starts_the_command() {
        assert_eq!(
            parse(&["h", "--", "-p", "2222"]).destination,
            dest(None, "h", None)
        );
    }

    #[test]
    fn double_dash_before_destination_ends_all_options() {
        assert_eq!(
            parse(&["-p", "1", "--", "h", "-p", "2222", "-V"]).destination,
            dest(None, "h", Some(1))
        );
        // ssh.c looks at the word before the destination, so a `--` value
        // has the same effect.
        assert_eq!(
            parse(&["-i", "--", "h", "-p", "2222"]).destination,
            dest(None, "h", None)
        );
    }

    #[test]
    fn double_dash_lets_a_dash_host_through_to_the_hostname_check() {
        // `ssh -- -oProxyCommand=x`: the destination starts with `-`, which
        // ssh refuses; it must never reach a caller that runs `ssh -G host`.
        assert_eq!(
            passthrough(&["--", "-oProxyCommand=touch"]),
            Some(Passthrough::NotUnderstood)
        );
    }

    #[test]
    fn lone_dash_is_a_non_option() {
        assert_eq!(passthrough(&["-"]), Some(Passthrough::NotUnderstood));
        // getopt stops at a group ending in `-` and leaves the word.
        assert_eq!(passthrough(&["-v-", "h"]), Some(Passthrough::NotUnderstood));
    }

    #[test]
    fn ssh_uri_with_user_and_port() {
        assert_eq!(
            parse(&["ssh://user@git.example.com:2222"]).destination,
            dest(Some("user"), "git.example.com", Some(2222))
        );
        assert_eq!(
            parse(&["ssh://h.example/"]).destination,
            dest(None, "h.example", None)
        );
        assert_eq!(
            parse(&["ssh://h.example.:22/"]).destination,
            dest(None, "h.example", Some(22))
        );
    }

    #[test]
    fn ssh_uri_user_is_decoded_and_params_dropped() {
        assert_eq!(
            parse(&["ssh://a%41+b;fingerprint=x@h"]).destination,
            dest(Some("aA b"), "h", None)
        );
        // Only the first `@` ends the user; the host then fails valid_domain.
        assert_eq!(
            passthrough(&["ssh://a@b@h"]),
            Some(Passthrough::NotUnderstood)
        );
        for bad in ["ssh://a%4@h", "ssh://a%4g@h", "ssh://a%00@h"] {
            assert_eq!(
                passthrough(&[bad]),
                Some(Passthrough::NotUnderstood),
                "{bad}"
            );
        }
        assert_eq!(passthrough(&["ssh://%ff@h"]), Some(Passthrough::NotUtf8));
    }

    #[test]
    fn ssh_uri_ipv6_is_refused_like_ssh() {
        // misc.c runs valid_domain on the URI host after removing brackets;
        // `::1` fails it and ssh prints its usage (checked with OpenSSH 9.2).
        assert_eq!(
            passthrough(&["ssh://[::1]:22"]),
            Some(Passthrough::NotUnderstood)
        );
        // A bracketed name is fine, brackets removed.
        assert_eq!(
            parse(&["ssh://[h.example]:22"]).destination,
            dest(None, "h.example", Some(22))
        );
    }

    #[test]
    fn ssh_uri_errors() {
        for bad in [
            "ssh://",
            "ssh://@h",
            "ssh://;x@h",
            "ssh://h:0",
            "ssh://h:65536",
            "ssh://h:x",
            "ssh://h/path",
            "ssh://h:22/path",
            "ssh://-h",
            "ssh://a..b",
            "ssh://[h",
            "ssh://[h]x",
        ] {
            assert_eq!(
                passthrough(&[bad]),
                Some(Passthrough::NotUnderstood),
                "{bad}"
            );
        }
        // The scheme is case-sensitive: this is a plain host name to ssh.
        assert_eq!(parse(&["SSH://h"]).destination, dest(None, "SSH://h", None));
    }

    #[test]
    fn plain_ipv6_is_taken_literally() {
        assert_eq!(
            parse(&["u@[::1]"]).destination,
            dest(Some("u"), "[::1]", None)
        );
    }

    #[test]
    fn first_user_wins() {
        assert_eq!(
            parse(&["-l", "a", "b@h"]).destination,
            dest(Some("a"), "h", None)
        );
        assert_eq!(
            parse(&["b@h", "-l", "a"]).destination,
            dest(Some("b"), "h", None)
        );
        assert_eq!(
            parse(&["-o", "User=c", "b@h"]).destination,
            dest(Some("c"), "h", None)
        );
        assert_eq!(
            parse(&["b@h", "-o", "User=c", "-l", "d"]).destination,
            dest(Some("b"), "h", None)
        );
        assert_eq!(
            parse(&["-l", "a", "-l", "b", "-o", "User=c", "h"]).destination,
            dest(Some("a"), "h", None)
        );
        assert_eq!(
            parse(&["-l", "a", "ssh://u@h"]).destination,
            dest(Some("a"), "h", None)
        );
    }

    #[test]
    fn first_port_wins() {
        assert_eq!(
            parse(&["-p", "1", "-o", "Port=2", "h"]).destination,
            dest(None, "h", Some(1))
        );
        assert_eq!(
            parse(&["-o", "Port=2", "-p", "1", "h"]).destination,
            dest(None, "h", Some(2))
        );
        assert_eq!(
            parse(&["ssh://h:3", "-p", "1"]).destination,
            dest(None, "h", Some(3))
        );
        assert_eq!(
            parse(&["-p", "1", "ssh://h:3"]).destination,
            dest(None, "h", Some(1))
        );
        // A later -p is not even checked, as in ssh.c ...
        assert_eq!(
            parse(&["-p", "1", "-p", "junk", "h"]).destination,
            dest(None, "h", Some(1))
        );
        // ... but every -o Port value is.
        assert_eq!(
            passthrough(&["-p", "1", "-o", "Port=junk", "h"]),
            Some(Passthrough::NotUnderstood)
        );
    }

    #[test]
    fn port_forms() {
        assert_eq!(
            parse(&["-oPort=2222", "h"]).destination,
            dest(None, "h", Some(2222))
        );
        assert_eq!(
            parse(&["-o", "Port 2222", "h"]).destination,
            dest(None, "h", Some(2222))
        );
        assert_eq!(
            parse(&["-o", "port = \"2222\"", "h"]).destination,
            dest(None, "h", Some(2222))
        );
        assert_eq!(
            parse(&["-p", "+022", "h"]).destination,
            dest(None, "h", Some(22))
        );
        for bad in [
            "0",
            "-22",
            "65536",
            "",
            "22x",
            "ssh",
            "99999999999999999999",
        ] {
            assert_eq!(
                passthrough(&["-p", bad, "h"]),
                Some(Passthrough::NotUnderstood),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn dash_o_line_forms() {
        for line in [
            "User=x",
            "User x",
            "user = x",
            "USER\t=\tx",
            "  User x  ",
            "User \"x\"",
            "User 'x'",
            "\"User\" x",
            "User x # a comment",
        ] {
            assert_eq!(
                parse(&["-o", line, "h"]).destination,
                dest(Some("x"), "h", None),
                "{line:?}"
            );
        }
        assert_eq!(
            parse(&["-o", "User \"a b\"", "h"]).destination,
            dest(Some("a b"), "h", None)
        );
        assert_eq!(
            parse(&["-o", "User==x", "h"]).destination,
            dest(Some("=x"), "h", None)
        );
        assert_eq!(
            parse(&["-o", "User a\\ b", "h"]).destination,
            dest(Some("a b"), "h", None)
        );
    }

    #[test]
    fn dash_o_errors() {
        for line in [
            "User",
            "User=",
            "User \"\"",
            "User a b",
            "User \"a",
            "Port",
            "Ciphers \"x",
        ] {
            assert_eq!(
                passthrough(&["-o", line, "h"]),
                Some(Passthrough::NotUnderstood),
                "{line:?}"
            );
        }
        // Lines ssh skips are no error.
        for line in ["", "  ", "# comment", "\"User x"] {
            assert_eq!(
                parse(&["-o", line, "h"]).destination,
                dest(None, "h", None),
                "{line:?}"
            );
        }
    }

    #[test]
    fn hostname_option_and_config_file() {
        let command = parse(&[
            "-F",
            "/a",
            "-o",
            "HostName=first.example",
            "-Fb",
            "h",
            "-o",
            "Hostname second.example",
        ]);
        assert_eq!(command.hostname_option.as_deref(), Some("first.example"));
        assert_eq!(command.config_file, Some(PathBuf::from("b")));
        assert_eq!(command.destination, dest(None, "h", None));
        assert_eq!(command.connect_host().as_deref(), Some("first.example"));
    }

    #[test]
    fn connect_host_expands_percent_tokens() {
        let command = parse(&["-o", "HostName=%h.internal.%%", "alias"]);
        assert_eq!(command.connect_host().as_deref(), Some("alias.internal.%"));
        assert_eq!(parse(&["alias"]).connect_host().as_deref(), Some("alias"));
        assert_eq!(parse(&["-V"]).connect_host(), None);
        // ssh refuses other tokens, so such lines pass through.
        for template in ["HostName=%p", "HostName=x%"] {
            assert_eq!(
                passthrough(&["-o", template, "alias"]),
                Some(Passthrough::NotUnderstood)
            );
        }
    }

    #[test]
    fn queries_pass_through() {
        assert_eq!(passthrough(&["-G", "h"]), Some(Passthrough::Query('G')));
        assert_eq!(passthrough(&["h", "-G"]), Some(Passthrough::Query('G')));
        assert_eq!(passthrough(&["-V"]), Some(Passthrough::Query('V')));
        assert_eq!(passthrough(&["-vV", "h"]), Some(Passthrough::Query('V')));
        assert_eq!(
            passthrough(&["-Q", "cipher"]),
            Some(Passthrough::Query('Q'))
        );
        assert_eq!(passthrough(&["-Qkex"]), Some(Passthrough::Query('Q')));
        assert_eq!(
            passthrough(&["-O", "check", "h"]),
            Some(Passthrough::Query('O'))
        );
        assert_eq!(
            passthrough(&["h", "-O", "exit"]),
            Some(Passthrough::Query('O'))
        );
        // -V answers at once, before a later bad option is reached.
        assert_eq!(passthrough(&["-V", "-Z"]), Some(Passthrough::Query('V')));
        // A query option inside the remote command is just text.
        assert_eq!(parse(&["h", "ls", "-G"]).passthrough, None);
    }

    #[test]
    fn git_real_calls() {
        let command = parse(&[
            "-o",
            "SendEnv=GIT_PROTOCOL",
            "-p",
            "2222",
            "git@git.us-3.magento.cloud",
            "git-upload-pack 'x.git'",
        ]);
        assert_eq!(
            command.destination,
            dest(Some("git"), "git.us-3.magento.cloud", Some(2222))
        );
        assert_eq!(command.passthrough, None);
        assert_eq!(command.hostname_option, None);
        assert_eq!(command.config_file, None);

        // git's probe for ssh variants.
        assert_eq!(
            passthrough(&["-G", "-o", "SendEnv=GIT_PROTOCOL", "-4", "-p", "22", "h"]),
            Some(Passthrough::Query('G'))
        );
    }

    #[test]
    fn no_destination() {
        assert_eq!(passthrough(&[]), Some(Passthrough::NoDestination));
        assert_eq!(
            passthrough(&["-v", "-p", "22"]),
            Some(Passthrough::NoDestination)
        );
        assert_eq!(passthrough(&["--"]), Some(Passthrough::NoDestination));
        assert_eq!(passthrough(&["-G"]), Some(Passthrough::NoDestination));
    }

    #[test]
    fn unknown_option_is_not_understood() {
        assert_eq!(passthrough(&["-Z", "h"]), Some(Passthrough::NotUnderstood));
        assert_eq!(passthrough(&["-vH", "h"]), Some(Passthrough::NotUnderstood));
        assert_eq!(passthrough(&["h", "-u"]), Some(Passthrough::NotUnderstood));
        assert_eq!(passthrough(&["-1", "h"]), Some(Passthrough::NotUnderstood));
        assert_eq!(passthrough(&["---", "h"]), Some(Passthrough::NotUnderstood));
        assert_eq!(passthrough(&["-:", "h"]), Some(Passthrough::NotUnderstood));
    }

    #[test]
    fn missing_value_is_not_understood() {
        assert_eq!(passthrough(&["h", "-p"]), Some(Passthrough::NotUnderstood));
        assert_eq!(passthrough(&["-l"]), Some(Passthrough::NotUnderstood));
        assert_eq!(passthrough(&["-vF"]), Some(Passthrough::NotUnderstood));
    }

    #[test]
    fn empty_user_is_not_understood() {
        assert_eq!(passthrough(&["@h"]), Some(Passthrough::NotUnderstood));
        // An empty host after a user connects nowhere.
        assert_eq!(passthrough(&["u@"]), Some(Passthrough::NotUnderstood));
    }

    #[test]
    fn shell_metacharacters_in_host_are_refused() {
        for host in ["h;id", "h h", "$(id)", "a,b", "h\tx", "-h"] {
            assert_eq!(
                passthrough(&["--", host]),
                Some(Passthrough::NotUnderstood),
                "{host:?}"
            );
        }
    }

    #[test]
    fn shell_metacharacters_in_user_are_refused() {
        for user in ["-u", "a;b", "a`b", "a b -c", "a\\", "a\tb"] {
            assert_eq!(
                passthrough(&["-l", user, "h"]),
                Some(Passthrough::NotUnderstood),
                "{user:?}"
            );
        }
        // Allowed: spaces not before a dash, `$`, `%`, inner backslashes.
        for user in ["a b", "a$b%c", "a\\b", "a-b"] {
            assert_eq!(
                parse(&["-l", user, "h"]).destination,
                dest(Some(user), "h", None),
                "{user:?}"
            );
        }
    }

    #[test]
    fn every_value_option_takes_its_value() {
        for letter in "BDEFIJLOPQRSWbceilmopw".chars() {
            // Taken as a value, `1` is not the destination; `h` is. Values
            // ssh checks get one it accepts.
            let option = format!("-{letter}");
            let value = match letter {
                'L' => "1:x:2",
                'c' => "aes128-ctr",
                'm' => "hmac-sha1",
                _ => "1",
            };
            let command = parse_for(&[option.as_str(), value, "h"], Some((9, 4)));
            let expected = match letter {
                'O' | 'Q' => {
                    assert_eq!(command.passthrough, Some(Passthrough::Query(letter)));
                    continue;
                }
                // `-o 1` is a keyword without an argument, which ssh refuses.
                'o' => {
                    assert_eq!(command.passthrough, Some(Passthrough::NotUnderstood));
                    continue;
                }
                'l' => dest(Some("1"), "h", None),
                'p' => dest(None, "h", Some(1)),
                _ => dest(None, "h", None),
            };
            assert_eq!(command.destination, expected, "-{letter}");
        }
    }

    #[test]
    fn every_flag_is_a_flag() {
        for letter in "246ACKMNTXYafgknqstvxy".chars() {
            let option = format!("-{letter}");
            assert_eq!(
                // `-s` needs a command (the subsystem's name).
                parse(&[option.as_str(), "h", "-p", "7", "sftp"]).destination,
                dest(None, "h", Some(7)),
                "-{letter}"
            );
        }
    }

    /// Issue #9, finding 10: lines OpenSSH refuses (checked against
    /// OpenSSH 9.2's `ssh -G`) go to it untouched, so nothing is renewed
    /// for them.
    #[test]
    fn issue_9_lines_ssh_refuses_pass_through() {
        for line in [
            &["-J", "a", "-J", "b", "h"][..],
            &["-J", "a", "h", "-J", "b"],
            &["-o", "ProxyJump=a", "-J", "b", "h"],
            &["-o", "ProxyCommand=none", "-J", "b", "h"],
            &["-J", "", "h"],
            &["-J", "a:0", "h"],
            &["-J", "a,,b", "h"],
            &["-J", "@a", "h"],
            &["-J", "a;b", "h"],
            &["-J", "b", "-o", "ProxyJump=a:x", "h"],
            &["-W", "a:1", "-W", "b:2", "h"],
            &["-W", "bad", "h"],
            &["-W", "a:/b", "h"],
            &["-L", "bad", "h"],
            &["-L", "0:h:1", "h"],
            &["-L", "h:1", "h"],
            &["-L", "[a:1", "h"],
            &["-L", "1\\:h:2", "h"],
            &["-L", "1:h:2\\", "h"],
            &["-L", "1:h:${NOPE}", "h"],
            &["-R", "bad", "h"],
            &["-D", "0", "h"],
            &["-D", "bad:x", "h"],
            &["-D", "", "h"],
            &["-e", "xy", "h"],
            &["-e", "^ ", "h"],
            &["-e", "", "h"],
            &["-w", "x", "h"],
            &["-w", "2147483646", "h"],
            &["-w", "1:", "h"],
            &["-c", "bogus", "h"],
            &["-c", "-aes128-ctr", "h"],
            &["-c", "", "h"],
            &["-m", "+hmac-sha1", "h"],
            &["-N", "-s", "h", "sftp"],
            &["-s", "-N", "h", "sftp"],
            &["-o", "SessionType=default", "-N", "h"],
            &["-s", "h"],
            &["-o", "SessionType=subsystem", "h"],
            &["-y", "-E", "/dev/null", "h"],
            &["-o", "Compression=maybe", "h"],
            &["-o", "BatchMode yes no", "h"],
            &["-o", "SessionType=bogus", "h"],
            &[
                "-o",
                "RemoteCommand=ls",
                "-o",
                "RemoteCommand=none",
                "h",
                "cmd",
            ],
            &["-p", "0", "h"],
            &["-p", "65536", "h"],
        ] {
            assert_eq!(
                parse_for(line, Some((9, 2))).passthrough,
                Some(Passthrough::NotUnderstood),
                "{line:?}"
            );
        }
    }

    /// The same options with values ssh accepts still reach a destination.
    #[test]
    fn issue_9_lines_ssh_accepts_still_connect() {
        for line in [
            &["-J", "u@a:2222,b", "h"][..],
            &["-J", "none", "h"],
            &["-J", "[a]:22", "h"],
            &["-J", "b", "-o", "ProxyJump=a", "h"],
            &["-J", "a", "-o", "ProxyCommand=x", "h"],
            &["-W", "a:1", "h"],
            &["-W", "1234", "-W", "a:1", "h"],
            &[
                "-L", "1:h:2", "-L", "/a:/b", "-L", "1:/b", "-L", "a:1:h:2:", "h",
            ],
            &["-L", "[1]:[h]:[2]", "-L", " 1:h:2", "-L", "1:h\\/x:2", "h"],
            &["-R", "0", "-R", "0:h:1", "-R", "1080", "h"],
            &["-D", "1080", "-D", "a:1", "-D", "[a]:1", "-D", "/sock", "h"],
            &["-e", "^A", "-e", "~", "-e", "none", "-e", "^", "h"],
            &[
                "-w",
                "any",
                "-w",
                "ANY:1",
                "-w",
                "2147483645",
                "-w",
                " 5",
                "h",
            ],
            &[
                "-c",
                "+aes128-ctr",
                "-c",
                "^chacha20-poly1305@openssh.com",
                "h",
            ],
            &["-c", "aes128-ctr,,bogus", "-c", ",x", "h"],
            &[
                "-m",
                "hmac-sha1,,x",
                "-m",
                "umac-64-etm@openssh.com,hmac-sha2-512",
                "h",
            ],
            &["-N", "-N", "-f", "h"],
            &["-s", "h", "sftp"],
            &["-N", "-o", "SessionType=default", "h"],
            &["-y", "-y", "h"],
            &["-E", "/dev/null", "h"],
            &["-o", "BatchMode=TRUE", "-o", "compression no", "h"],
            &["-l", "", "h"],
            &[
                "-o",
                "RemoteCommand=none",
                "-o",
                "RemoteCommand=ls",
                "h",
                "cmd",
            ],
            &["-o", "RemoteCommand=ls", "h"],
        ] {
            assert_eq!(
                parse_for(line, Some((9, 2))).destination.map(|d| d.host),
                Some("h".to_string()),
                "{line:?}"
            );
        }
    }

    #[test]
    fn dash_p_depends_on_the_version() {
        let line = ["-P", "tag", "h", "cmd"];
        assert_eq!(
            parse(&line).passthrough,
            Some(Passthrough::DependsOnVersion)
        );
        assert_eq!(
            parse_for(&line, Some((9, 3))).passthrough,
            Some(Passthrough::DependsOnVersion)
        );
        // OpenSSH 9.2 reads `-P` as a flag: `tag` is the destination.
        assert_eq!(
            parse_for(&line, Some((9, 2))).destination,
            dest(None, "tag", None)
        );
        assert_eq!(
            parse_for(&line, Some((10, 0))).destination,
            dest(None, "h", None)
        );
        // Inside the remote command it is just text.
        assert_eq!(
            parse(&["h", "cmd", "-P"]).destination,
            dest(None, "h", None)
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_values_do_not_break_parsing() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(vec![b'/', 0xff, 0xfe]);
        let mut glued = b"-i".to_vec();
        glued.extend([0xff]);
        let args = vec![
            OsString::from("-i"),
            bad(),
            OsString::from_vec(glued),
            OsString::from("-o"),
            OsString::from_vec(b"ProxyCommand=\xff".to_vec()),
            OsString::from("-F"),
            bad(),
            OsString::from("u@h"),
            bad(),
        ];
        let command = parse(&args);
        assert_eq!(command.destination, dest(Some("u"), "h", None));
        assert_eq!(command.config_file, Some(PathBuf::from(bad())));

        let host = [OsString::from_vec(b"u@h\xff".to_vec())];
        assert_eq!(parse(&host).passthrough, Some(Passthrough::NotUtf8));
        let user = [OsString::from_vec(b"\xff@h".to_vec())];
        assert_eq!(parse(&user).passthrough, Some(Passthrough::NotUtf8));
        // A non-UTF-8 user that is not the one kept does not matter.
        let ignored = [
            OsString::from("-l"),
            OsString::from("u"),
            OsString::from_vec(b"\xff@h".to_vec()),
        ];
        assert_eq!(parse(&ignored).destination, dest(Some("u"), "h", None));
        let hostname = [
            OsString::from("-o"),
            OsString::from_vec(b"HostName \xff".to_vec()),
            OsString::from("h"),
        ];
        assert_eq!(parse(&hostname).passthrough, Some(Passthrough::NotUtf8));
    }

    #[test]
    fn arguments_split_like_argv_split() {
        let split = |text: &str| -> Result<Vec<String>, Malformed> {
            Arguments::new(text.as_bytes())
                .map(|argument| argument.map(|a| String::from_utf8(a.into_owned()).unwrap()))
                .collect()
        };
        assert_eq!(split("a  b\tc").unwrap(), ["a", "b", "c"]);
        assert_eq!(split("a\"b c\"d 'e'").unwrap(), ["ab cd", "e"]);
        assert_eq!(split(r#"a\"b \x \\"#).unwrap(), ["a\"b", "\\x", "\\"]);
        assert_eq!(split("a #b c").unwrap(), ["a"]);
        assert_eq!(split("a#b").unwrap(), ["a#b"]);
        assert_eq!(split("\"\"").unwrap(), [""]);
        assert_eq!(split("'a"), Err(Malformed));
        // Unquoted arguments are borrowed, not copied.
        let mut arguments = Arguments::new(b"plain \"quoted\"");
        assert!(matches!(
            arguments.next(),
            Some(Ok(Cow::Borrowed(b"plain")))
        ));
        assert!(matches!(arguments.next(), Some(Ok(Cow::Owned(_)))));
        assert!(arguments.next().is_none());
    }
}

/// Properties, and a differential test against the real `ssh -G`: for
/// generated command lines, the user, host and port read here are the ones
/// OpenSSH itself resolves.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    /// One piece of an ssh command line before or after the destination.
    fn option() -> impl Strategy<Value = Vec<String>> {
        prop_oneof![
            4 => common_option(),
            6 => rare_option(),
        ]
    }

    fn common_option() -> impl Strategy<Value = Vec<String>> {
        prop_oneof![
            (1u16..65535).prop_map(|p| vec!["-p".into(), p.to_string()]),
            (1u16..65535).prop_map(|p| vec![format!("-p{p}")]),
            "[a-z][a-z0-9_]{0,7}".prop_map(|u| vec!["-l".into(), u]),
            "[a-z][a-z0-9_]{0,7}".prop_map(|u| vec!["-o".into(), format!("User={u}")]),
            "[a-z][a-z0-9_]{0,7}".prop_map(|u| vec![format!("-oUser {u}")]),
            (1u16..65535).prop_map(|p| vec!["-o".into(), format!("port = {p}")]),
            prop::sample::select(vec!["-v", "-4", "-T", "-A", "-C", "-q", "-vT", "-N"])
                .prop_map(|f| vec![f.to_string()]),
            prop::sample::select(vec!["-i", "-S", "-b", "-B", "-I", "-P"]).prop_flat_map(|o| {
                "[a-z][a-z0-9]{0,7}".prop_map(move |v| vec![o.to_string(), v])
            }),
        ]
    }

    /// The options whose values ssh checks while it reads them, the ones it
    /// refuses together, and values of every kind, good and bad. Left out:
    /// `-f` (whether ssh refuses it without a command depends on
    /// ssh_config's `RemoteCommand`), `-F` (ssh opens the file), unknown
    /// `-o` keywords (see `FLAGS`), service names as ports, and hosts that
    /// only ssh 9.6+ refuses.
    fn rare_option() -> impl Strategy<Value = Vec<String>> {
        fn valued(option: &'static str, values: &[&'static str]) -> BoxedStrategy<Vec<String>> {
            prop::sample::select(values.to_vec())
                .prop_map(move |v| vec![option.to_string(), v.to_string()])
                .boxed()
        }
        prop_oneof![
            valued(
                "-J",
                &[
                    "jump",
                    "u@jump:2222",
                    "a,b",
                    "none",
                    "",
                    "a:0",
                    "a:x",
                    "@a",
                    "a,,b",
                    "[a]:22",
                    "[a]x",
                    "a/22",
                    "a;b",
                    "-a",
                    "ssh://a:22",
                    "ssh://a:0",
                    "a #c",
                    "a b"
                ]
            ),
            valued(
                "-W",
                &[
                    "h:22", "1234", "/p", "a:/b", "bad", "[h]:1", "h:0", "", "h:1:2"
                ]
            ),
            valued("-O", &["check", "exit", "bogus"]),
            valued("-Q", &["cipher", "bogus"]),
            valued(
                "-c",
                &[
                    "aes128-ctr",
                    "+aes128-ctr",
                    "^chacha20-poly1305@openssh.com",
                    "bogus",
                    "none",
                    "-aes128-ctr",
                    "aes128-ctr,bogus",
                    ",x",
                    "aes128-ctr,,bogus",
                    "AES128-CTR",
                    "",
                    "aes256-gcm@openssh.com,3des-cbc"
                ]
            ),
            valued(
                "-m",
                &[
                    "hmac-sha1",
                    "bogus",
                    "+hmac-sha1",
                    "hmac-sha1,,x",
                    ",x",
                    "",
                    "umac-64-etm@openssh.com,hmac-sha2-512"
                ]
            ),
            valued(
                "-D",
                &[
                    "1080", "0", "a:1", "[a]:1", "bad", "/sock", "a:b:c", "", "a:0", "65536"
                ]
            ),
            valued(
                "-L",
                &[
                    "1:h:2",
                    "0:h:1",
                    "h:1",
                    "/a:/b",
                    "1:/b",
                    "bad",
                    "a:1:h:2",
                    "1:h:2:",
                    "[a:1",
                    "1\\:h:2",
                    "1:h:0",
                    "65536:h:1",
                    "",
                    " 1:h:2",
                    "1:h\\/x:2",
                    "1:h:2\\",
                    "/a:h:2",
                    "a:1:/b",
                    "1:h:2:3:4",
                    "[1]:[h]:[2]"
                ]
            ),
            valued(
                "-R",
                &[
                    "1:h:2", "0", "0:h:1", "bad", "1080", "a:0:h:1", "/a:/b", "", "a:1"
                ]
            ),
            valued("-e", &["x", "^A", "none", "xy", "^ ", "~", "^", ""]),
            valued(
                "-w",
                &[
                    "1",
                    "any",
                    "ANY:1",
                    "x",
                    "1:",
                    ":1",
                    "-1",
                    "2147483645",
                    "2147483646",
                    "5:6",
                    "",
                    " 5"
                ]
            ),
            valued("-p", &["0", "65536", "-1", "22x", "+22"]),
            valued("-l", &["", "-x", "a b"]),
            valued(
                "-o",
                &[
                    "Compression=maybe",
                    "Compression yes",
                    "BatchMode=yes",
                    "BatchMode=1",
                    "BatchMode yes no",
                    "batchmode=TRUE",
                    "SessionType=none",
                    "SessionType=bogus",
                    "SessionType=subsystem",
                    "SessionType default",
                    "Port=0",
                    "Port=65536",
                    "User=",
                    "ProxyJump=a",
                    "ProxyJump=a:x",
                    "ProxyCommand=none",
                    "ProxyJump none",
                    "HostName=%p",
                    "IdentitiesOnly=no",
                    "ForwardX11 maybe",
                    "RemoteCommand=ls",
                    "RemoteCommand none",
                    "SendEnv=\"unclosed"
                ]
            ),
            valued("-E", &["/dev/null"]),
            prop::sample::select(vec![
                "-s", "-y", "-n", "-t", "-x", "-X", "-Y", "-g", "-k", "-K", "-M", "-a", "-6",
                "-Ns", "-sN", "-G"
            ])
            .prop_map(|f| vec![f.to_string()]),
        ]
    }

    fn host() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,6}){0,3}".prop_filter("no trailing dash", |h| {
            !h.ends_with('-') && !h.contains("-.")
        })
    }

    fn destination() -> impl Strategy<Value = String> {
        prop_oneof![
            host(),
            ("[a-z][a-z0-9_]{0,7}", host()).prop_map(|(u, h)| format!("{u}@{h}")),
            ("[a-z][a-z0-9_]{0,7}", host(), 1u16..65535)
                .prop_map(|(u, h, p)| format!("ssh://{u}@{h}:{p}")),
            host().prop_map(|h| format!("ssh://{h}")),
        ]
    }

    /// A whole command line: options, destination, options, command.
    fn command_line() -> impl Strategy<Value = Vec<String>> {
        (
            prop::collection::vec(option(), 0..4),
            prop::bool::ANY,
            destination(),
            prop::collection::vec(option(), 0..3),
            prop::collection::vec("[a-z][a-z-]{0,5}", 0..3),
        )
            .prop_map(|(before, dashdash, dest, after, cmd)| {
                let mut v: Vec<String> = before.into_iter().flatten().collect();
                if dashdash {
                    v.push("--".into());
                }
                v.push(dest);
                if !dashdash {
                    v.extend(after.into_iter().flatten());
                }
                v.extend(cmd);
                v
            })
    }

    /// `ssh -G -F /dev/null <args>`: OpenSSH's own reading, with no user
    /// configuration to add to it.
    fn ssh_g(args: &[String]) -> Option<(String, String, u16)> {
        let out = Command::new("ssh")
            .args(["-G", "-F", "/dev/null"])
            .args(args)
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("ssh is installed (the tests need OpenSSH's client)");
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(' ')))
                .map(str::to_string)
        };
        Some((get("user")?, get("hostname")?, get("port")?.parse().ok()?))
    }

    /// The installed ssh's OpenSSH version, asked once.
    fn installed_version() -> Option<(u32, u32)> {
        static VERSION: std::sync::OnceLock<Option<(u32, u32)>> = std::sync::OnceLock::new();
        *VERSION.get_or_init(|| {
            let out = Command::new("ssh")
                .arg("-V")
                .output()
                .expect("ssh is installed");
            let banner = String::from_utf8_lossy(&out.stderr);
            let rest = banner.split("OpenSSH_").nth(1)?;
            let mut parts = rest.split(|c: char| !c.is_ascii_digit());
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
    }

    fn local_user() -> String {
        let out = Command::new("id").arg("-un").output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, .. ProptestConfig::default() })]

        /// Issue #9, finding 10: a line ssh refuses must not renew, so the
        /// reader refuses exactly what ssh refuses. Queries (`-G`, `-O`,
        /// `-Q`, `-V`) go through untouched whatever ssh makes of them.
        #[test]
        fn agrees_with_ssh_dash_g(args in command_line()) {
            let ours = parse_for(&args, installed_version());
            if matches!(ours.passthrough, Some(Passthrough::Query(_))) {
                return Ok(());
            }
            let theirs = ssh_g(&args);
            match (&ours.destination, theirs) {
                (Some(d), Some((user, host, port))) => {
                    prop_assert_eq!(d.host.to_ascii_lowercase(), host, "host for {:?}", args);
                    prop_assert_eq!(d.user.clone().unwrap_or_else(local_user), user, "user for {:?}", args);
                    prop_assert_eq!(d.port.unwrap_or(22), port, "port for {:?}", args);
                }
                (None, None) => {}
                (ours_d, theirs) => prop_assert!(
                    false,
                    "disagree on {:?}: certsh {:?}, ssh {:?}",
                    args,
                    ours_d.as_ref().map(|d| (&d.user, &d.host, d.port)),
                    theirs
                ),
            }
        }

        #[test]
        fn never_panics_on_any_arguments(args in prop::collection::vec(".{0,12}", 0..8)) {
            let _ = parse(&args);
        }

        #[test]
        fn the_remote_command_is_never_read(cmd in prop::collection::vec("-[a-zA-Z]{1,3}|[a-z]{1,5}", 1..5)) {
            let mut args = vec!["-p".to_string(), "2222".into(), "u@h.example".into(), "run".into()];
            args.extend(cmd);
            let c = parse(&args);
            let d = c.destination.expect("a destination");
            prop_assert_eq!(d.port, Some(2222));
            prop_assert_eq!(d.user.as_deref(), Some("u"));
        }
    }
}
