//! The command-line reader against ssh.c's reading, case by case.

use super::*;
#[cfg(unix)]
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

/// Lines OpenSSH refuses (checked against
/// OpenSSH 9.2's `ssh -G`) go to it untouched, so nothing is renewed
/// for them.
#[test]
fn lines_ssh_refuses_pass_through() {
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
        &["-c", ",x", "-o", "RemoteCommand none", "h", "cmd"],
        &["-o", "RemoteCommand none", "-m", ",", "h", "cmd"],
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
fn lines_ssh_accepts_still_connect() {
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
        &["-c", ",x", "h", "cmd"],
        &[
            "-c",
            ",x",
            "-c",
            "aes128-ctr",
            "-o",
            "RemoteCommand none",
            "h",
            "cmd",
        ],
        &["-c", "+,x", "-o", "RemoteCommand none", "h", "cmd"],
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

/// ssh.c's "jumphost loop via": the last hop is the destination, by host
/// (the destination's lowercased, after `-o HostName`), port (22 when
/// unsaid) and user (the hop's defaults to the destination's, that one to
/// the login name). Each line as OpenSSH 9.2's `ssh -G -F /dev/null` takes it.
#[test]
fn a_jump_through_the_destination_itself_is_refused_as_ssh_refuses_it() {
    let me = crate::util::platform::user_name().expect("a login name");
    let me_at_a = format!("{me}@a");
    for line in [
        &["-J", "a", "a"][..],
        &["-J", "a", "A"],
        &["-J", "a:22", "a"],
        &["-J", "a:", "a"],
        &["-J", "[a]:22", "a"],
        &["-J", "a", "-p", "22", "a"],
        &["-o", "Port=22", "-J", "a", "a"],
        &["-p", "2222", "-J", "a:2222", "a"],
        &["-J", me_at_a.as_str(), "a"],
        &["-l", "u", "-J", "u@a", "a"],
        &["-o", "User=u", "-J", "u@a", "a"],
        &["-J", "a", "u@a"],
        &["-J", "b,a", "a"],
        &["-J", "ssh://a", "a"],
        &["-J", "ssh://a:22/", "a"],
        &["-J", "a", "ssh://a:22"],
        &["-J", "a b", "a"],
        &["-J", "a #c", "a"],
        &["-o", "ProxyJump=a", "a"],
        &["-o", "ProxyJump a:22", "a"],
        &["-o", "HostName=a", "-J", "a", "x"],
        &["-o", "HostName=A", "-J", "a", "x"],
        &["-o", "HostName=%h.x", "-J", "a.x", "A"],
    ] {
        assert_eq!(
            passthrough(line),
            Some(Passthrough::NotUnderstood),
            "{line:?}"
        );
    }
    for (line, want) in [
        (&["-J", "A", "a"][..], dest(None, "a", None)),
        (&["-J", "a:2222", "a"], dest(None, "a", None)),
        (&["-J", "a,b", "a"], dest(None, "a", None)),
        (&["-J", "none", "none"], dest(None, "none", None)),
        (&["-J", "a", "-p", "2222", "a"], dest(None, "a", Some(2222))),
    ] {
        assert_eq!(parse(line).destination, want, "{line:?}");
    }
    if me != "u" {
        assert_eq!(
            parse(&["-J", "u@a", "a"]).destination,
            dest(None, "a", None)
        );
    }
}
