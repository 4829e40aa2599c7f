//! `certsh setup agent [--undo]`: `certsh agent` started at login, so that
//! clients which never run a command certsh could sit in front of (IDEs, GUI
//! git clients, containers given the socket) find a certificate that renews
//! itself.
//!
//! - Linux: a systemd user unit, `~/.config/systemd/user/certsh-agent.service`
//!   (`$XDG_CONFIG_HOME/systemd/user` when that is set, as systemd reads it),
//!   enabled with `systemctl --user enable`, which needs no running user
//!   manager, and started at once when one is reachable.
//! - macOS: a launchd agent, `~/Library/LaunchAgents/com.github.certsh.agent.plist`,
//!   loaded with `launchctl bootstrap gui/<uid>`.
//!
//! One service per profile: the default profile (magento) has the plain
//! names above, another profile appends its name (`certsh-agent-upsun.service`,
//! `com.github.certsh.agent.upsun`), so two profiles' agents run side by side
//! on their own sockets.
//!
//! The service runs this certsh, by its absolute path, as `certsh --profile
//! <name> agent --socket <path>`. The socket is written out, from
//! `state::store::agent_socket_path` as this command sees it, rather than
//! left to the agent's own environment: under systemd `XDG_RUNTIME_DIR` is
//! the manager's `%t`, under launchd there is none, and the path must be the
//! one that `certsh setup ssh-config --agent` and `certsh env --agent` name
//! when run from the same session. The service starts without the login
//! shell's variables, so an API token kept only in the environment does not
//! reach it: the agent uses what `certsh login` stored.
//!
//! The file's first lines say certsh wrote it; `--undo` stops the service and
//! removes only a file that says so, and a file of the same name that certsh
//! did not write is never replaced.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Output, Stdio};

use anyhow::{Context, Result};

use crate::config::profile::Profile;
use crate::config::{Config, own_options};
use crate::connect::shim::Installed;
use crate::state::store;
use crate::util::error::{self, Fixable};
use crate::util::secret;

/// The first line of the systemd unit: what marks it as certsh's.
pub const SYSTEMD_MARKER: &str =
    "# certsh setup agent wrote this file; `certsh setup agent --undo` removes it.";
/// The launchd plist's marker (an XML comment may not contain `--`).
pub const LAUNCHD_MARKER: &str =
    "<!-- certsh setup agent wrote this file; its undo removes it. -->";

/// `certsh setup agent [--undo]`.
pub fn setup(cfg: &Config, undo: bool) -> Result<ExitCode> {
    #[cfg(target_os = "macos")]
    let service = launchd::Launchd::new(cfg)?;
    #[cfg(not(target_os = "macos"))]
    let service = systemd::Systemd::new(cfg)?;
    let existing = match fs::read_to_string(service.file()) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", service.file().display()));
        }
    };
    let ours = existing
        .as_deref()
        .is_some_and(|t| t.lines().take(3).any(|l| l == service.marker()));
    if undo {
        return undo_setup(&service, existing.is_some(), ours);
    }
    if existing.is_some() && !ours {
        return Err(Fixable::new(
            format!(
                "{} exists, and certsh did not write it",
                service.file().display()
            ),
            "remove or rename it, then run certsh setup agent again",
        )
        .into());
    }
    let exe = Installed::locate()?.exe;
    let socket = store::agent_socket_path(cfg);
    // sun_path: 108 bytes on Linux, 104 on macOS, with the final NUL.
    if socket.as_os_str().len() >= 104 {
        return Err(Fixable::new(
            format!(
                "the agent's socket {} is longer than a UNIX socket address can be (103 bytes)",
                socket.display()
            ),
            "set XDG_RUNTIME_DIR to a short private folder, or HOME to a shorter path",
        )
        .into());
    }
    let text = service.text(cfg, &exe, &socket)?;
    let changed = existing.as_deref() != Some(text.as_str());
    if changed {
        write(service.file(), &text)?;
        println!(
            "wrote {} (undo: {})",
            service.file().display(),
            cfg.own_command("setup agent --undo")
        );
    } else {
        println!("{} is already up to date", service.file().display());
    }
    service.activate(changed)?;
    println!(
        "certsh agent serves {}; point clients at it with: {}, or eval \"$({})\"",
        socket.display(),
        cfg.own_command("setup ssh-config --agent"),
        cfg.own_command("env --agent")
    );
    Ok(error::success())
}

fn undo_setup(service: &impl Service, exists: bool, ours: bool) -> Result<ExitCode> {
    let file = service.file();
    if !exists {
        println!("{} does not exist; nothing to undo", file.display());
        return Ok(error::success());
    }
    if !ours {
        println!(
            "{} was not written by certsh; left as it is",
            file.display()
        );
        return Ok(error::success());
    }
    service.deactivate()?;
    fs::remove_file(file).with_context(|| format!("cannot remove {}", file.display()))?;
    service.after_removal();
    println!("removed {}", file.display());
    Ok(error::success())
}

/// What differs between the service managers.
trait Service {
    /// The file this writes.
    fn file(&self) -> &Path;
    /// Its first line, or the line that marks it as certsh's.
    fn marker(&self) -> &'static str;
    /// The file's contents.
    fn text(&self, cfg: &Config, exe: &Path, socket: &Path) -> Result<String>;
    /// Makes it start at login, and now when that can be done from here;
    /// `changed`: the file was (re)written, so a running one restarts.
    fn activate(&self, changed: bool) -> Result<()>;
    /// Stops it and keeps it from starting at login.
    fn deactivate(&self) -> Result<()>;
    /// Tells the manager the file is gone, where it needs telling.
    fn after_removal(&self);
}

/// Writes the file (0644: it holds paths, no secret), creating its folder
/// (0700) when missing.
fn write(file: &Path, text: &str) -> Result<()> {
    let dir = file.parent().expect("the file has a folder");
    if !dir.exists() {
        crate::util::platform::create_private_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    store::replace_file(dir, file, text.as_bytes(), 0o644)
}

/// A path for a service file, or a refusal that says why: not UTF-8, not
/// absolute, or with a quote, backslash or control character, which each
/// file format would need escapes for that are easy to get wrong.
fn plain_path(path: &Path) -> Result<&str> {
    match path.to_str() {
        Some(text)
            if path.is_absolute()
                && !text.contains(|c: char| matches!(c, '"' | '\\') || c.is_control()) =>
        {
            Ok(text)
        }
        _ => Err(Fixable::new(
            format!(
                "the path {} cannot be written into the agent's service file",
                crate::util::sanitize::short(&format!("{:?}", path.as_os_str()), 300)
            ),
            "use a home folder and an install prefix without quotes, backslashes or control characters",
        )
        .into()),
    }
}

/// The service's name for a profile: the plain name for the default one.
fn name_for(base: &str, sep: char, profile: &str) -> String {
    if profile == crate::config::profile::PROFILES[0].name {
        base.to_string()
    } else {
        format!("{base}{sep}{profile}")
    }
}

/// Runs a service manager's command; `Err` when it cannot be started.
fn run(program: &str, args: &[&str]) -> Result<Output> {
    secret::command(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program} {}", args.join(" ")))
}

/// The last line a command printed on stderr, short and sanitised.
fn said(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    crate::util::sanitize::short(text.trim().lines().last().unwrap_or("no message"), 200)
}

/// The systemd unit for `certsh --profile <profile> agent --socket <socket>`
/// (certsh's own options as `config::own_options` spells them).
pub fn systemd_unit(profile: &Profile, exe: &Path, socket: &Path) -> Result<String> {
    let [option, value] = own_options(None, profile);
    // systemd expands `%` specifiers and `$` variables in ExecStart, even
    // inside quotes; doubled, they are literal.
    let quote = |p: &Path| -> Result<String> {
        Ok(format!(
            "\"{}\"",
            plain_path(p)?.replace('%', "%%").replace('$', "$$")
        ))
    };
    Ok(format!(
        "{SYSTEMD_MARKER}\n\
         [Unit]\n\
         Description=certsh agent: self-renewing SSH certificates (profile {value})\n\
         Documentation=https://github.com/certsh/certsh/blob/main/docs/agent.md\n\
         \n\
         [Service]\n\
         ExecStart={} {option} {value} agent --socket {}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        quote(exe)?,
        quote(socket)?,
    ))
}

/// The launchd agent for `certsh --profile <profile> agent --socket
/// <socket>`, logging to `log`.
pub fn launchd_plist(
    label: &str,
    profile: &Profile,
    exe: &Path,
    socket: &Path,
    log: &Path,
) -> Result<String> {
    let [option, value] = own_options(None, profile);
    let string = |p: &Path| -> Result<String> {
        Ok(format!(
            "<string>{}</string>",
            plain_path(p)?
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        ))
    };
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         {LAUNCHD_MARKER}\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \t<key>Label</key>\n\
         \t<string>{label}</string>\n\
         \t<key>ProgramArguments</key>\n\
         \t<array>\n\
         \t\t{}\n\
         \t\t<string>{option}</string>\n\
         \t\t<string>{value}</string>\n\
         \t\t<string>agent</string>\n\
         \t\t<string>--socket</string>\n\
         \t\t{}\n\
         \t</array>\n\
         \t<key>RunAtLoad</key>\n\
         \t<true/>\n\
         \t<key>KeepAlive</key>\n\
         \t<dict>\n\
         \t\t<key>SuccessfulExit</key>\n\
         \t\t<false/>\n\
         \t</dict>\n\
         \t<key>ProcessType</key>\n\
         \t<string>Background</string>\n\
         \t<key>StandardErrorPath</key>\n\
         \t{}\n\
         </dict>\n\
         </plist>\n",
        string(exe)?,
        string(socket)?,
        string(log)?,
    ))
}

#[cfg(not(target_os = "macos"))]
mod systemd {
    use super::*;

    /// A systemd user unit.
    pub struct Systemd {
        name: String,
        file: PathBuf,
        profile: &'static Profile,
    }

    impl Systemd {
        pub fn new(cfg: &Config) -> Result<Systemd> {
            if which::which("systemctl").is_err() {
                return Err(Fixable::new(
                    "systemctl is not on PATH, so this system does not start services with systemd",
                    format!(
                        "start `certsh {} agent` from your session's start-up instead",
                        cfg.own_options().join(" ")
                    ),
                )
                .into());
            }
            let name = format!(
                "{}.service",
                name_for("certsh-agent", '-', cfg.profile.name)
            );
            let config = cfg
                .xdg_config_home
                .clone()
                .unwrap_or_else(|| cfg.home.join(".config"));
            Ok(Systemd {
                file: config.join("systemd/user").join(&name),
                name,
                profile: cfg.profile,
            })
        }

        fn systemctl(&self, verb: &str) -> Result<Output> {
            run("systemctl", &["--user", verb, &self.name])
        }

        /// Whether a user manager answers here (a desktop or `ssh` login
        /// with `pam_systemd`); `daemon-reload` is the question, and makes it
        /// read the file again.
        fn reachable(&self) -> bool {
            run("systemctl", &["--user", "daemon-reload"]).is_ok_and(|o| o.status.success())
        }
    }

    impl Service for Systemd {
        fn file(&self) -> &Path {
            &self.file
        }

        fn marker(&self) -> &'static str {
            SYSTEMD_MARKER
        }

        fn text(&self, _cfg: &Config, exe: &Path, socket: &Path) -> Result<String> {
            systemd_unit(self.profile, exe, socket)
        }

        fn activate(&self, changed: bool) -> Result<()> {
            let reachable = self.reachable();
            // enable works on the files alone: with no user manager running
            // (a console login, a container) the agent still starts at the
            // next login that has one.
            let out = self.systemctl("enable")?;
            if !out.status.success() {
                return Err(Fixable::new(
                    format!(
                        "systemctl --user enable {} failed: {}",
                        self.name,
                        said(&out)
                    ),
                    format!(
                        "check the unit with: systemd-analyze --user verify {}",
                        self.file.display()
                    ),
                )
                .into());
            }
            // Run again on an unchanged unit, this says what is, not what
            // was just done.
            let enabled = if changed {
                format!("enabled {}", self.name)
            } else {
                format!("{} is enabled", self.name)
            };
            if !reachable {
                println!(
                    "{enabled}: it starts at your next login. No systemd user manager answers \
                     here, so it was not started now; in a session that has one, run: \
                     systemctl --user start {}",
                    self.name
                );
                return Ok(());
            }
            let out = self.systemctl(if changed { "restart" } else { "start" })?;
            if !out.status.success() {
                return Err(Fixable::new(
                    format!(
                        "systemctl --user start {} failed: {}",
                        self.name,
                        said(&out)
                    ),
                    format!("see why with: journalctl --user -u {}", self.name),
                )
                .into());
            }
            let state = if changed {
                format!("enabled and started {}", self.name)
            } else {
                format!("{enabled} and running")
            };
            println!("{state} (log: journalctl --user -u {})", self.name);
            Ok(())
        }

        fn deactivate(&self) -> Result<()> {
            if self.reachable() {
                let out = self.systemctl("stop")?;
                if !out.status.success() {
                    return Err(Fixable::new(
                        format!("systemctl --user stop {} failed: {}", self.name, said(&out)),
                        format!("stop it yourself: systemctl --user stop {}", self.name),
                    )
                    .into());
                }
            }
            let out = self.systemctl("disable")?;
            if !out.status.success() {
                return Err(Fixable::new(
                    format!(
                        "systemctl --user disable {} failed: {}",
                        self.name,
                        said(&out)
                    ),
                    format!(
                        "disable it yourself: systemctl --user disable {}",
                        self.name
                    ),
                )
                .into());
            }
            Ok(())
        }

        fn after_removal(&self) {
            // A failure only leaves the manager with a stale copy in memory
            // until its next reload; the unit is stopped and disabled.
            let _ = self.reachable();
        }
    }
}

#[cfg(target_os = "macos")]
mod launchd {
    use super::*;

    /// A launchd agent in `~/Library/LaunchAgents`.
    pub struct Launchd {
        label: String,
        file: PathBuf,
        log: PathBuf,
        profile: &'static Profile,
        /// `gui/<uid>`: the user's login session.
        domain: String,
    }

    impl Launchd {
        pub fn new(cfg: &Config) -> Result<Launchd> {
            let label = name_for("com.github.certsh.agent", '.', cfg.profile.name);
            let home = &cfg.home;
            Ok(Launchd {
                file: home
                    .join("Library/LaunchAgents")
                    .join(format!("{label}.plist")),
                log: home.join("Library/Logs").join(format!("{label}.log")),
                label,
                profile: cfg.profile,
                domain: format!("gui/{}", crate::util::platform::user_id()),
            })
        }

        fn target(&self) -> String {
            format!("{}/{}", self.domain, self.label)
        }

        fn loaded(&self) -> bool {
            run("launchctl", &["print", &self.target()]).is_ok_and(|o| o.status.success())
        }

        fn bootout(&self) {
            // Fails when it is not loaded, which is the state wanted.
            let _ = run("launchctl", &["bootout", &self.target()]);
        }
    }

    impl Service for Launchd {
        fn file(&self) -> &Path {
            &self.file
        }

        fn marker(&self) -> &'static str {
            LAUNCHD_MARKER
        }

        fn text(&self, _cfg: &Config, exe: &Path, socket: &Path) -> Result<String> {
            launchd_plist(&self.label, self.profile, exe, socket, &self.log)
        }

        fn activate(&self, changed: bool) -> Result<()> {
            if !changed && self.loaded() {
                println!("{} is already loaded", self.label);
                return Ok(());
            }
            if changed {
                self.bootout();
            }
            let file = self.file.to_string_lossy();
            let mut out = run("launchctl", &["bootstrap", &self.domain, &file])?;
            // bootout returns before launchd has let go of the job, and a
            // bootstrap at once can fail for that alone: a few more tries.
            for _ in 0..5 {
                if out.status.success() || !changed {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
                out = run("launchctl", &["bootstrap", &self.domain, &file])?;
            }
            if !out.status.success() {
                // An ssh login has no gui domain; RunAtLoad still starts
                // the agent at the next desktop login.
                println!(
                    "launchctl could not load it now ({}); it starts at your next login, or \
                     run at the desktop: launchctl bootstrap {} {}",
                    said(&out),
                    self.domain,
                    file
                );
                return Ok(());
            }
            println!("loaded {} (log: {})", self.label, self.log.display());
            Ok(())
        }

        fn deactivate(&self) -> Result<()> {
            self.bootout();
            Ok(())
        }

        fn after_removal(&self) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::PROFILES;

    #[test]
    fn default_profile_has_the_plain_name() {
        assert_eq!(name_for("certsh-agent", '-', "magento"), "certsh-agent");
        assert_eq!(name_for("certsh-agent", '-', "upsun"), "certsh-agent-upsun");
        assert_eq!(
            name_for("com.github.certsh.agent", '.', "platformsh"),
            "com.github.certsh.agent.platformsh"
        );
    }

    #[test]
    fn unit_doubles_percent_and_dollar_and_refuses_quotes() {
        let unit = systemd_unit(
            &PROFILES[0],
            Path::new("/opt/100%/$x/certsh"),
            Path::new("/run/user/1000/certsh/magento-agent.sock"),
        )
        .unwrap();
        assert!(
            unit.contains(
                "ExecStart=\"/opt/100%%/$$x/certsh\" --profile magento agent --socket \
                 \"/run/user/1000/certsh/magento-agent.sock\"\n"
            ),
            "{unit}"
        );
        for bad in ["/a\"b", "/a\\b", "/a\nb", "relative"] {
            assert!(
                systemd_unit(&PROFILES[0], Path::new(bad), Path::new("/s")).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn plist_escapes_xml() {
        let plist = launchd_plist(
            "l",
            &PROFILES[0],
            Path::new("/Users/a&b/<c>/certsh"),
            Path::new("/s"),
            Path::new("/log"),
        )
        .unwrap();
        assert!(plist.contains("<string>/Users/a&amp;b/&lt;c&gt;/certsh</string>"));
        assert!(!LAUNCHD_MARKER[4..LAUNCHD_MARKER.len() - 3].contains("--"));
    }
}
