//! `scope.rs`'s tests: which host names are the cloud's, read from
//! ssh_config files and their includes, and from `ssh -G` output.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

const CLOUD: &[&str] = &["*.magento.cloud", "*.platform.sh"];

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "certsh-scope-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `text` at `relative`, creating directories.
    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// The home directory's `.ssh/config` as a user file.
    fn user_config(&self, text: &str) -> Vec<ConfigFile> {
        vec![ConfigFile {
            path: self.write(".ssh/config", text),
            origin: ConfigOrigin::User,
        }]
    }

    fn in_scope(&self, files: &[ConfigFile]) -> bool {
        config_names_hostname_in_scope(files, Some(&self.0), CLOUD)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn hostname_in_scope() {
    let home = TempDir::new();
    let files = home.user_config("Host mc\n    HostName git.us-3.magento.cloud\n");
    assert!(home.in_scope(&files));
}

#[test]
fn hostname_out_of_scope() {
    let home = TempDir::new();
    let files = home.user_config(
        "# HostName git.magento.cloud\nHost gh\n  HostName github.com # magento.cloud\n  User git\n",
    );
    assert!(!home.in_scope(&files));
}

#[test]
fn hostname_line_forms() {
    for line in [
        "HostName=git.magento.cloud",
        "hostname git.magento.cloud",
        "\tHOSTNAME = git.magento.cloud",
        "HostName \"git.magento.cloud\"",
        "HostName git.magento.cloud\r",
        "Host x\n\n  Hostname git.magento.cloud # alias",
    ] {
        let home = TempDir::new();
        let files = home.user_config(line);
        assert!(home.in_scope(&files), "{line:?}");
    }
}

#[test]
fn percent_token_is_in_scope_conservatively() {
    let home = TempDir::new();
    let files = home.user_config("Host *.mc\n  HostName %h.example\n");
    assert!(home.in_scope(&files));
}

#[test]
fn canonicalization_is_in_scope_conservatively() {
    let home = TempDir::new();
    let files = home.user_config("CanonicalizeHostname yes\nCanonicalDomains magento.cloud\n");
    assert!(home.in_scope(&files));
    let home = TempDir::new();
    let files = home.user_config("CanonicalizeHostname no\n");
    assert!(!home.in_scope(&files));
}

#[test]
fn malformed_line_is_in_scope_conservatively() {
    let home = TempDir::new();
    let files = home.user_config("Host\n");
    assert!(home.in_scope(&files));
}

#[test]
fn missing_files_are_fine() {
    let home = TempDir::new();
    let files = ssh_config_files(Some(&home.0), Some(&home.0.join("nope")));
    assert!(!home.in_scope(&files));
    assert!(!config_names_hostname_in_scope(&[], Some(&home.0), CLOUD));
}

#[test]
fn relative_include_with_glob_under_dot_ssh() {
    let home = TempDir::new();
    home.write(
        ".ssh/conf.d/b.conf",
        "Host b\n HostName git.magento.cloud\n",
    );
    home.write(".ssh/conf.d/a.conf", "Host a\n HostName github.com\n");
    let files = home.user_config("Include conf.d/*.conf\n");
    assert!(home.in_scope(&files));
}

#[test]
fn glob_skips_other_names_and_dot_files() {
    let home = TempDir::new();
    home.write(".ssh/conf.d/.hidden.conf", "HostName git.magento.cloud\n");
    home.write(".ssh/conf.d/cloud.txt", "HostName git.magento.cloud\n");
    home.write(".ssh/conf.d/Cloud.CONF", "HostName git.magento.cloud\n");
    home.write(".ssh/conf.d/plain.conf", "HostName github.com\n");
    fs::create_dir_all(home.0.join(".ssh/conf.d/dir.conf")).unwrap();
    let files = home.user_config("Include conf.d/*.conf\n");
    assert!(!home.in_scope(&files));
    // A pattern that asks for dot files gets them.
    let files = home.user_config("Include conf.d/.*.conf\n");
    assert!(home.in_scope(&files));
}

#[test]
fn glob_in_a_directory_component() {
    let home = TempDir::new();
    home.write(".ssh/hosts/cloud/config", "HostName git.magento.cloud\n");
    let files = home.user_config("Include hosts/*/config\n");
    assert!(home.in_scope(&files));
}

#[test]
fn include_takes_several_paths_tilde_and_absolute() {
    let home = TempDir::new();
    let absolute = home.write("elsewhere/abs", "HostName github.com\n");
    home.write("tilde/cloud", "HostName git.magento.cloud\n");
    let line = format!("Include {} missing ~/tilde/cloud\n", absolute.display());
    let files = home.user_config(&line);
    assert!(home.in_scope(&files));
}

#[test]
fn dash_f_file_includes_relative_to_dot_ssh() {
    let home = TempDir::new();
    home.write(".ssh/cloud.conf", "HostName git.magento.cloud\n");
    // The same name beside the -F file must not be the one read.
    home.write("other/cloud.conf", "HostName github.com\n");
    let config = home.write("other/config", "Include cloud.conf\n");
    let files = ssh_config_files(Some(&home.0), Some(&config));
    assert!(home.in_scope(&files));

    let home = TempDir::new();
    home.write("other/cloud.conf", "HostName git.magento.cloud\n");
    let config = home.write("other/config", "Include cloud.conf\n");
    let files = ssh_config_files(Some(&home.0), Some(&config));
    assert!(!home.in_scope(&files));
}

#[test]
fn system_file_includes_relative_to_its_directory() {
    let root = TempDir::new();
    root.write(
        "etc/ssh/ssh_config.d/cloud.conf",
        "HostName git.magento.cloud\n",
    );
    let files = [ConfigFile {
        path: root.write("etc/ssh/ssh_config", "Include ssh_config.d/*.conf\n"),
        origin: ConfigOrigin::System,
    }];
    assert!(root.in_scope(&files));
    // The same line read with user rules looks in ~/.ssh instead.
    let as_user = [ConfigFile {
        origin: ConfigOrigin::User,
        ..files[0].clone()
    }];
    assert!(!root.in_scope(&as_user));
}

#[test]
fn nested_includes_are_followed() {
    let home = TempDir::new();
    home.write(".ssh/one", "Include two\n");
    home.write(".ssh/two", "Include three\n");
    home.write(".ssh/three", "HostName git.magento.cloud\n");
    let files = home.user_config("Include one\n");
    assert!(home.in_scope(&files));
}

#[test]
fn includes_are_followed_exactly_sixteen_deep() {
    // config (depth 0) -> 1 -> ... -> `deepest`; ssh reads depth 16 and
    // refuses depth 17.
    let chain = |deepest: usize| {
        let home = TempDir::new();
        for level in 1..deepest {
            home.write(
                &format!(".ssh/{level}"),
                &format!("Include {}\n", level + 1),
            );
        }
        home.write(&format!(".ssh/{deepest}"), "HostName github.com\n");
        let files = home.user_config("Include 1\n");
        home.in_scope(&files)
    };
    assert!(!chain(3));
    assert!(!chain(16));
    assert!(chain(17));
}

#[test]
fn include_loop_stops_at_the_depth_limit() {
    let home = TempDir::new();
    // ssh refuses this configuration ("Too many recursive configuration
    // includes"); the check ends and leaves the verdict to ssh -G.
    let files = home.user_config("Include config\n");
    assert!(home.in_scope(&files));
}

#[test]
fn undecidable_includes_are_in_scope() {
    for line in [
        "Include conf.d/[ab].conf",
        "Include ~someone/config",
        "Include \"unclosed",
    ] {
        let home = TempDir::new();
        let files = home.user_config(line);
        assert!(home.in_scope(&files), "{line:?}");
    }
    // Without a home directory a relative user include cannot be found.
    let home = TempDir::new();
    let files = home.user_config("Include conf.d/*\n");
    assert!(config_names_hostname_in_scope(&files, None, CLOUD));
}

#[test]
fn config_files_for_a_command_line() {
    let home = Path::new("/home/u");
    assert_eq!(
        ssh_config_files(Some(home), None),
        [
            ConfigFile {
                path: PathBuf::from("/home/u/.ssh/config"),
                origin: ConfigOrigin::User,
            },
            ConfigFile {
                path: PathBuf::from(SYSTEM_CONFIG),
                origin: ConfigOrigin::System,
            },
        ]
    );
    assert_eq!(
        ssh_config_files(Some(home), Some(Path::new("custom"))),
        [ConfigFile {
            path: PathBuf::from("custom"),
            origin: ConfigOrigin::User,
        }]
    );
    assert!(ssh_config_files(Some(home), Some(Path::new("NONE"))).is_empty());
    assert_eq!(ssh_config_files(None, None).len(), 1);
}

#[test]
fn ssh_g_output() {
    let output = "host mc\nuser abc-master--x\nhostname git.us-3.magento.cloud\nport 22\n\
                  hostname ignored.example\naddressfamily any\n";
    assert_eq!(
        parse_ssh_g(output),
        Some(Resolved {
            hostname: "git.us-3.magento.cloud".to_owned(),
            user: Some("abc-master--x".to_owned()),
            port: Some(22),
        })
    );
}

#[test]
fn ssh_g_output_edge_cases() {
    assert_eq!(parse_ssh_g("user u\nport 22\n"), None);
    assert_eq!(parse_ssh_g("hostname \n"), None);
    assert_eq!(parse_ssh_g(""), None);
    assert_eq!(
        parse_ssh_g("hostname h\r\nport 0\r\n"),
        Some(Resolved {
            hostname: "h".to_owned(),
            user: None,
            port: None,
        })
    );
    // Keywords are lowercase in ssh -G output; others are not ours.
    assert_eq!(
        parse_ssh_g("HostName x\nhostname h\nproxycommand ssh -W %h:%p hostname\nport 2222"),
        Some(Resolved {
            hostname: "h".to_owned(),
            user: None,
            port: Some(2222),
        })
    );
}
