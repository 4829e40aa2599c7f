//! The block, its keys file and its paths, and finding and removing it.

use super::*;

#[test]
fn versions() {
    assert_eq!(
        exec::openssh_version("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19"),
        Some((9, 2))
    );
    assert_eq!(exec::openssh_version("OpenSSH_7.2p2 Ubuntu"), Some((7, 2)));
    assert!(exec::openssh_version("OpenSSH_7.2p2").unwrap() < exec::MIN_OPENSSH_INCLUDE);
    assert_eq!(exec::openssh_version("dropbear"), None);
}

#[test]
fn accounts_come_first_and_each_block_leaves_out_the_ones_before() {
    let home = tempfile::tempdir().unwrap();
    let env: std::collections::HashMap<String, String> =
        [("HOME".to_string(), home.path().display().to_string())].into();
    let cfg = Config::load(None, &env).unwrap();
    let rule = |account: &str, criteria: &str, negated: &str| Rule {
        account: account.into(),
        criteria: criteria.into(),
        negated: negated.into(),
        state: PathBuf::from(format!("/s/accounts/{account}")),
    };
    let rules = [
        rule(
            "a",
            "originalhost \"*.m\" user \"p,p-*\"",
            "!user \"p,p-*\"",
        ),
        rule(
            "b",
            "originalhost \"b.m,!x.m\"",
            "!originalhost \"b.m,!x.m\"",
        ),
    ];
    let text = block(
        &cfg,
        Path::new("/c"),
        &Renewal::Hook(Via::Link),
        Path::new("/s"),
        false,
        &rules,
        None,
    )
    .unwrap();
    let expected = "\
# BEGIN certsh (profile magento): written by `certsh setup ssh-config`, removed by `certsh setup ssh-config --undo`
# The hook renews the certificate when needed; its exit status changes nothing below.
# The account a.
Match originalhost \"*.m\" user \"p,p-*\" exec \"/c --account a ssh-config-hook\"
Match originalhost \"*.m\" user \"p,p-*\"
    IdentityFile \"/s/accounts/a/current/id_ed25519\"
    CertificateFile \"/s/accounts/a/current/id_ed25519-cert.pub\"
    IdentityFile ~/.ssh/id_rsa
    IdentityFile ~/.ssh/id_ecdsa
    IdentityFile ~/.ssh/id_ecdsa_sk
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile ~/.ssh/id_ed25519_sk
# The account b.
Match originalhost \"b.m,!x.m\" !user \"p,p-*\" exec \"/c --account b ssh-config-hook\"
Match originalhost \"b.m,!x.m\" !user \"p,p-*\"
    IdentityFile \"/s/accounts/b/current/id_ed25519\"
    CertificateFile \"/s/accounts/b/current/id_ed25519-cert.pub\"
    IdentityFile ~/.ssh/id_rsa
    IdentityFile ~/.ssh/id_ecdsa
    IdentityFile ~/.ssh/id_ecdsa_sk
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile ~/.ssh/id_ed25519_sk
# The profile's own certificate, for what no account serves.
Match originalhost \"*.magento.cloud,*.magentosite.cloud\" !user \"p,p-*\" !originalhost \"b.m,!x.m\" exec \"/c --profile magento ssh-config-hook\"
Match host \"*.magento.cloud,*.magentosite.cloud\" !originalhost \"*.magento.cloud,*.magentosite.cloud\" !user \"p,p-*\" !originalhost \"b.m,!x.m\" exec \"/c --profile magento ssh-config-hook\"
Match originalhost \"*.magento.cloud,*.magentosite.cloud\" !user \"p,p-*\" !originalhost \"b.m,!x.m\"
    IdentityFile \"/s/current/id_ed25519\"
    CertificateFile \"/s/current/id_ed25519-cert.pub\"
    IdentityFile ~/.ssh/id_rsa
    IdentityFile ~/.ssh/id_ecdsa
    IdentityFile ~/.ssh/id_ecdsa_sk
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile ~/.ssh/id_ed25519_sk
Match host \"*.magento.cloud,*.magentosite.cloud\" !user \"p,p-*\" !originalhost \"b.m,!x.m\"
    IdentityFile \"/s/current/id_ed25519\"
    CertificateFile \"/s/current/id_ed25519-cert.pub\"
    IdentityFile ~/.ssh/id_rsa
    IdentityFile ~/.ssh/id_ecdsa
    IdentityFile ~/.ssh/id_ecdsa_sk
    IdentityFile ~/.ssh/id_ed25519
    IdentityFile ~/.ssh/id_ed25519_sk
# END certsh (profile magento)
";
    assert_eq!(text, expected);
    // Without accounts, the block is the one certsh always wrote.
    let plain = block(
        &cfg,
        Path::new("/c"),
        &Renewal::Hook(Via::Link),
        Path::new("/s"),
        false,
        &[],
        None,
    )
    .unwrap();
    assert!(!plain.contains("account"), "{plain}");
    assert!(!plain.contains("UserKnownHostsFile"), "{plain}");
    let with_keys = block(
        &cfg,
        Path::new("/c"),
        &Renewal::Hook(Via::Link),
        Path::new("/s"),
        false,
        &[],
        Some(Path::new("/s/known_hosts")),
    )
    .unwrap();
    assert_eq!(
            with_keys
                .matches("\n    UserKnownHostsFile ~/.ssh/known_hosts ~/.ssh/known_hosts2 \"/s/known_hosts\"\n    IdentityFile \"/s/current/id_ed25519\"\n")
                .count(),
            2,
            "{with_keys}"
        );
    assert!(plain.contains("\nMatch originalhost \"*.magento.cloud,*.magentosite.cloud\" exec \"/c --profile magento ssh-config-hook\"\n"));
}

#[test]
fn block_is_found_and_removed_exactly() {
    let (b, e) = markers("magento");
    for original in ["", "Host a\n", "Host a", "Host a\n\n", "Host a\r\n"] {
        let block = format!("{b}: x\nMatch host x\n{e}\n");
        let text = if original.is_empty() {
            block.clone()
        } else {
            format!("{original}\n{block}")
        };
        let (s, t) = find_block(text.as_bytes(), &b, &e).unwrap();
        assert_eq!(&text[s..t], block);
        assert_eq!(remove_block(text.as_bytes(), s, t), original.as_bytes());
    }
}

#[test]
fn markers_only_count_at_line_starts() {
    let (b, e) = markers("magento");
    let text = format!("# not {b}\nHost a\n");
    assert_eq!(find_block(text.as_bytes(), &b, &e), None);
    assert_eq!(find_block(b"", &b, &e), None);
}

#[test]
fn paths_ssh_would_misread_are_refused() {
    for bad in [
        "/a\"b",
        "/a'b",
        "/a\\b",
        "/a\tb",
        "/a\nb",
        "/a\rb",
        "/a\u{b}b",
        "/a\u{85}b",
        "/a${HOME}b",
        "relative",
    ] {
        assert!(config_path(Path::new(bad), false).is_err(), "{bad:?}");
    }
    for good in [
        "/Users/a b/.magento-cloud/certsh",
        "/a/100%/k",
        "/a/$b/{c}",
        "/a/#b",
    ] {
        assert_eq!(config_path(Path::new(good), false).unwrap(), good);
    }
}

#[test]
fn percent_signs_are_doubled() {
    if BACKSLASHES {
        return; // Unix paths; the Windows form is the test below.
    }
    assert_eq!(config_text(Path::new("/a/100%/k")).unwrap(), "/a/100%%/k");
    assert_eq!(
        hook_command(Path::new("/a/100%/c"), ["--profile", "magento"]).unwrap(),
        "/a/100%%/c --profile magento ssh-config-hook"
    );
}

#[test]
fn windows_paths_get_forward_slashes_and_the_hook_is_one_plain_word() {
    let none = |_: &Path| None;
    let short = |_: &Path| Some(PathBuf::from(r"C:\Users\JOHNSM~1\bin\certsh.exe"));
    let w = |p: &str| config_path(Path::new(p), true);
    assert_eq!(
        w(r"C:\Users\John Smith\AppData\Local\certsh\magento").unwrap(),
        "C:/Users/John Smith/AppData/Local/certsh/magento"
    );
    for bad in [
        r"relative\x",
        r"\\server\share\x",
        r"C:\a'b",
        "C:\\a\tb",
        r"C:\a${X}",
    ] {
        assert!(w(bad).is_err(), "{bad:?}");
    }
    let exe = |p: &str, s: fn(&Path) -> Option<PathBuf>| exec_word(Path::new(p), true, s);
    assert_eq!(
        exe(
            r"C:\Users\me\AppData\Local\Programs\certsh-1.0\bin\certsh.exe",
            none
        )
        .unwrap(),
        "C:/Users/me/AppData/Local/Programs/certsh-1.0/bin/certsh.exe"
    );
    // cmd.exe would split a space, expand %, and read & ( ) , = itself.
    assert_eq!(
        exe(r"C:\Users\John Smith\bin\certsh.exe", short).unwrap(),
        "C:/Users/JOHNSM~1/bin/certsh.exe"
    );
    for bad in [
        r"C:\Users\John Smith\bin\certsh.exe",
        r"C:\a%b%\certsh.exe",
        r"C:\a&b\certsh.exe",
        r"C:\a(b)\certsh.exe",
        r"C:\a,b\certsh.exe",
    ] {
        let e = exe(bad, none).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!(
                "the path {:?} cannot go into ssh_config's Match exec, which Windows OpenSSH runs with cmd.exe and no quotes \
                     (install certsh in a folder whose path has only letters, digits and . _ - + ~ @, or let git run certsh: certsh setup git)",
                bad.replace('\\', "/")
            ),
            "{bad}"
        );
    }
    // On Unix the shell quotes it.
    assert_eq!(
        exec_word(Path::new("/a b/certsh"), false, none).unwrap(),
        "'/a b/certsh'"
    );
}

#[test]
fn with_the_keys_file_the_block_includes_it_and_it_names_one_generation() {
    let state = std::env::temp_dir().join("s");
    let text = |p: &Path| config_text(p).unwrap();
    let home = tempfile::tempdir().unwrap();
    let env: std::collections::HashMap<String, String> =
        [("HOME".to_string(), home.path().display().to_string())].into();
    let cfg = Config::load(None, &env).unwrap();
    let exe = std::env::temp_dir().join("certsh");
    let block = block(
        &cfg,
        &exe,
        &Renewal::Hook(Via::Include),
        &state,
        false,
        &[],
        None,
    )
    .unwrap();
    let patterns = "*.magento.cloud,*.magentosite.cloud";
    let hook = format!("{} --profile magento ssh-config-hook", text(&exe));
    let lines = format!(
        "    Include \"{}\"\n    IdentityFile ~/.ssh/id_rsa\n    IdentityFile ~/.ssh/id_ecdsa\n    IdentityFile ~/.ssh/id_ecdsa_sk\n    IdentityFile ~/.ssh/id_ed25519\n    IdentityFile ~/.ssh/id_ed25519_sk\n",
        text(&state.join(KEYS_FILE))
    );
    assert_eq!(
        block,
        format!(
            "# BEGIN certsh (profile magento): written by `certsh setup ssh-config`, removed by `certsh setup ssh-config --undo`\n\
                 # The hook renews the certificate when needed; its exit status changes nothing below.\n\
                 Match originalhost \"{patterns}\" exec \"{hook}\"\n\
                 Match host \"{patterns}\" !originalhost \"{patterns}\" exec \"{hook}\"\n\
                 Match originalhost \"{patterns}\"\n{lines}\
                 Match host \"{patterns}\"\n{lines}\
                 # END certsh (profile magento)\n"
        )
    );
    let generation = state.join("gen-1-a");
    let key = generation.join("id_ed25519");
    let cert = generation.join("id_ed25519-cert.pub");
    assert_eq!(
        keys_file_text(&key, &cert).unwrap(),
        format!(
            "# Kept by certsh's ssh-config hook: the key and certificate in use, for the certsh block in ssh_config.\n\
                 IdentityFile \"{}\"\nCertificateFile \"{}\"\n",
            text(&key),
            text(&cert)
        )
    );
    if BACKSLASHES {
        assert!(!block.contains('\\') && text(&key).starts_with(|c: char| c.is_ascii_alphabetic()));
    }
}
