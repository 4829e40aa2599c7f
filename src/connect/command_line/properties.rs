//! Properties, and a differential test against the real `ssh -G`: for
//! generated command lines, the user, host and port read here are the ones
//! OpenSSH itself resolves.

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
        prop::sample::select(vec!["-i", "-S", "-b", "-B", "-I", "-P"])
            .prop_flat_map(|o| { "[a-z][a-z0-9]{0,7}".prop_map(move |v| vec![o.to_string(), v]) }),
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
            "-s", "-y", "-n", "-t", "-x", "-X", "-Y", "-g", "-k", "-K", "-M", "-a", "-6", "-Ns",
            "-sN", "-G"
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

    /// A line ssh refuses must not renew, so the
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
