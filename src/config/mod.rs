//! The configuration the rest of certsh sees, built once from the profile's
//! defaults, the official CLI's `config.yaml` and the environment.
//!
//! Order of precedence: environment, then `config.yaml`, then the profile. The
//! YAML file belongs to the official CLI: certsh reads the keys it knows,
//! ignores the rest, and never writes it. It is read only when nobody but
//! the user (or root) can have written it (`config/trust.rs`).
//!
//! Each setting is read on its own: one that is invalid or cannot be read
//! keeps its default and is reported in [`Problems`], so that the ssh path can
//! still tell a cloud host from any other (`connect/ssh.rs`). Commands take the first
//! problem as their error ([`Config::load`]).

pub mod accounts;
pub mod cli;
pub mod env;
pub mod file;
pub mod host_pattern;
pub mod profile;
pub mod trust;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::config::env::{Env, ProcessEnv};
use crate::config::env::{
    env_bool, env_bool_any, env_int, env_secs, env_share, first_var, split_list,
};
pub use crate::config::file::{FileConfig, parse_file_config};
use anyhow::Result;

use crate::config::accounts::{Account, Accounts};
use crate::config::profile::Profile;
use crate::util::error::Fixable;
use crate::util::secret::Secret;

/// How long before a certificate's end certsh renews it, unless
/// `CERTSH_REFRESH_MARGIN` says otherwise. Five minutes covers a slow
/// connection set-up and a few minutes of clock skew against the server,
/// and with hour-long certificates it costs no extra requests.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The least margin accepted: below this a certificate could expire between
/// the check and the server's authentication.
pub const MIN_REFRESH_MARGIN: Duration = Duration::from_secs(120);
/// The last share of a certificate's lifetime in which it is renewed in the
/// background: a third, as tbot and step renew at two thirds.
pub const DEFAULT_RENEW_AHEAD: f64 = 1.0 / 3.0;
/// Time allowed for one HTTP request, unless `CERTSH_HTTP_TIMEOUT` says
/// otherwise. A whole renewal (lock wait and two requests) is bounded by
/// [`Config::refresh_deadline`].
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(25);
/// The longest one HTTP request may take.
pub const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(25);
/// How long a key pair is reused, unless `ssh.cert_key_ttl` says otherwise.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(86400);
/// How long a browser login may take, unless `CERTSH_LOGIN_TIMEOUT` says
/// otherwise: enough to find a phone for the second factor, short enough that
/// a forgotten login does not hold a `git fetch` for long.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the API token comes from.
#[derive(Debug)]
pub enum ApiToken {
    /// `{prefix}TOKEN` in the environment.
    Env {
        /// The variable's name, for messages.
        var: String,
        /// The token.
        token: Secret,
    },
    /// `api.token` in `config.yaml`.
    ConfigFile {
        /// The file, for messages.
        file: PathBuf,
        /// The token.
        token: Secret,
    },
    /// `api.token_file`: read only when a certificate is needed.
    TokenFile {
        /// The file holding the token.
        path: PathBuf,
    },
}

impl ApiToken {
    /// Where the token comes from, for messages (never the token).
    pub fn origin(&self) -> String {
        match self {
            ApiToken::Env { var, .. } => var.clone(),
            ApiToken::ConfigFile { file, .. } => format!("api.token in {}", file.display()),
            ApiToken::TokenFile { path } => format!("api.token_file {}", path.display()),
        }
    }
}

/// Everything certsh needs to know, resolved.
#[derive(Debug)]
pub struct Config {
    /// The cloud.
    pub profile: &'static Profile,
    /// Home directory (`$HOME` when set).
    pub home: PathBuf,
    /// The profile's config folder, shared with the official CLI.
    pub config_dir: PathBuf,
    /// The official CLI's `config.yaml` (it may not exist).
    pub config_file: PathBuf,
    /// OAuth client id.
    pub client_id: String,
    /// Token endpoint.
    pub token_url: String,
    /// Browser login page (`{auth_url}/oauth2/authorize` unless configured).
    pub authorize_url: String,
    /// Token revocation endpoint (`{auth_url}/oauth2/revoke` unless configured).
    pub revoke_url: String,
    /// How long `certsh login` waits for the browser to come back
    /// (`CERTSH_LOGIN_TIMEOUT`, seconds).
    pub login_timeout: Duration,
    /// Certifier base URL; `/ssh` replaces its path.
    pub certifier_url: String,
    /// Hosts that need a certificate (OpenSSH patterns, `!` negates), one
    /// pattern each, checked by [`crate::config::host_pattern::host_patterns`].
    pub wildcards: Vec<String>,
    /// Whether certsh obtains certificates at all when called as ssh.
    pub auto_load_cert: bool,
    /// How long a key pair is reused.
    pub key_ttl: Duration,
    /// `ssh.add_to_agent`: `certsh load` also adds key and certificate to
    /// the running ssh-agent, for the certificate's lifetime.
    pub add_to_agent: bool,
    /// `ssh.cert_only` (`CERTSH_CERT_ONLY`): when no certificate can be had,
    /// a connection to the cloud fails before ssh runs (exit 255), instead
    /// of going ahead with the user's own keys after a warning.
    pub cert_only: bool,
    /// A certificate with less time left than this is renewed.
    pub refresh_margin: Duration,
    /// The last share of a certificate's lifetime in which a connection
    /// starts a renewal in the background (`ssh.renew_ahead`,
    /// `CERTSH_RENEW_AHEAD`; 0 turns it off).
    pub renew_ahead: f64,
    /// Time allowed for one HTTP request.
    pub http_timeout: Duration,
    /// The API token, if any is configured.
    pub api_token: Option<ApiToken>,
    /// `CERTSH_LOG=debug`: explain decisions on stderr.
    pub debug: bool,
    /// `$BROWSER`: the program `certsh login` opens the login page with
    /// (else xdg-open, or open on macOS).
    pub browser: Option<OsString>,
    /// `HTTPS_PROXY` (else `https_proxy`, `ALL_PROXY`, `all_proxy`): the
    /// proxy the cloud's API is reached through. It may hold a password.
    pub https_proxy: Option<Secret>,
    /// `NO_PROXY` (else `no_proxy`): hosts reached without the proxy.
    pub no_proxy: String,
    /// `SSH_AUTH_SOCK`: the running ssh-agent, if there is one.
    pub agent_socket: Option<OsString>,
    /// `XDG_RUNTIME_DIR` when it is an absolute path: where `certsh agent`
    /// puts its socket by default (`state::store::agent_socket_path`).
    pub runtime_dir: Option<PathBuf>,
    /// `XDG_CONFIG_HOME` when it is an absolute path: where systemd's user
    /// manager, and so `certsh setup agent`, looks for user units.
    pub xdg_config_home: Option<PathBuf>,
    /// On Windows, `%LOCALAPPDATA%` when it is an absolute path: where
    /// certsh keeps its own state (`state::store::primary_dir`). `None`
    /// elsewhere.
    pub local_app_data: Option<PathBuf>,
    /// `GIT_SSH_COMMAND`: what git runs as ssh, when it is set.
    pub git_ssh_command: Option<String>,
    /// The named account this configuration is for (`config/accounts.rs`),
    /// or `None` for the profile's own credential and state folder.
    pub account: Option<Account>,
    /// Where the official CLI keeps the credentials it stored.
    pub official: Official,
    /// `ssh.host_keys`: known-hosts lines to trust besides the shipped ones
    /// (`setup/host_keys.rs`).
    pub host_keys: Vec<String>,
}

/// Where the official CLI keeps what `auth:api-token-login` and `login`
/// stored (docs/official-cli.md, "Stored credentials").
#[derive(Debug, Clone, Default)]
pub struct Official {
    /// The session id (`api.session_id`, `{prefix}SESSION_ID`, the
    /// `session-id` file, else `default`); `None` when the one given is not
    /// a valid id (a warning says so) and nothing stored is read.
    pub session_id: Option<String>,
    /// Whether the credential helper may be asked
    /// (`api.disable_credential_helpers` is off).
    pub helpers: bool,
    /// `application.slug`, else the profile's.
    pub slug: String,
}

/// Who a configuration is for, beyond the profile: the account `--account`
/// names, and the destination of a connection, from which an account may be
/// chosen (`config/accounts.rs`). The default is neither.
#[derive(Debug, Default, Clone, Copy)]
pub struct For<'a> {
    /// `--account NAME`; without it, `CERTSH_ACCOUNT`.
    pub account: Option<&'a str>,
    /// The ssh user, if known, and the host.
    pub destination: Option<(Option<&'a str>, &'a str)>,
    /// The profile's own configuration, whatever `CERTSH_ACCOUNT` says
    /// (`setup git`, whose record is the profile's).
    pub profile_only: bool,
}

/// The account a command was given by name, and where the name came from:
/// `--account NAME`, else `CERTSH_ACCOUNT`. The one place both are read, so
/// that no command accepts under one what it refuses under the other.
pub fn named_account(flag: Option<&str>, env: &dyn Env) -> Option<(String, &'static str)> {
    match flag {
        Some(n) => Some((n.to_string(), "--account")),
        None => env
            .var(accounts::ACCOUNT_VAR)
            .map(|n| (n, accounts::ACCOUNT_VAR)),
    }
}

/// What could not be used while reading the configuration, item by item.
/// Each such item is left at its default, so that what could be read still
/// decides which hosts are the cloud's: a host outside the cloud never
/// depends on certsh's configuration (`connect/ssh.rs`).
#[derive(Debug, Default)]
pub struct Problems {
    /// Settings whose value is invalid, or whose file cannot be read. Nothing
    /// is asked of the cloud while there is one: the user meant something
    /// else than the defaults that stand in for it.
    pub invalid: Vec<anyhow::Error>,
    /// Files ignored because another user wrote them or can write them
    /// (`config/trust.rs`): one line each, the problem and its fix.
    pub ignored: Vec<String>,
}

impl Problems {
    /// The item's value, or `None` with its error kept.
    fn take<T>(&mut self, item: Result<Option<T>>) -> Option<T> {
        item.unwrap_or_else(|e| {
            self.invalid.push(e);
            None
        })
    }

    /// A warning for each ignored file.
    pub fn warn_ignored(&self) {
        for line in &self.ignored {
            crate::util::log::warn(line);
        }
    }

    /// One line for a connection to `host` that goes ahead without the
    /// configuration, or `None` when nothing went wrong.
    pub fn summary(&self, host: &str) -> Option<String> {
        let first = match self.invalid.first() {
            Some(e) => format!("{e:#}; connecting to {host} without a certificate"),
            None => self.ignored.first()?.clone(),
        };
        let more = self.invalid.len() + self.ignored.len() - 1;
        Some(match more {
            0 => first,
            n => format!("{first} (and {n} more)"),
        })
    }
}

impl Config {
    /// Builds the configuration. `profile_name` comes from `--profile`; when
    /// absent, `CERTSH_PROFILE` and then the default apply. Ignored files are
    /// warned about; the first invalid setting is the error.
    pub fn load(profile_name: Option<&str>, env: &dyn Env) -> Result<Config> {
        Config::load_for(profile_name, For::default(), env)
    }

    /// [`Config::load`] for an account or a destination (see [`For`]).
    pub fn load_for(profile_name: Option<&str>, who: For, env: &dyn Env) -> Result<Config> {
        let (cfg, problems) = Config::read_for(profile_name, who, env);
        problems.warn_ignored();
        match problems.invalid.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(cfg),
        }
    }

    /// Builds what can be built: every setting that is invalid or cannot be
    /// read is left at its default and reported in [`Problems`], as is a
    /// `config.yaml` that is not the user's alone (it is then not read).
    /// An unknown profile leaves the first one's settings, with the host
    /// patterns of every profile, so that no cloud host passes for a foreign
    /// one.
    pub fn read(profile_name: Option<&str>, env: &dyn Env) -> (Config, Problems) {
        Config::read_for(profile_name, For::default(), env)
    }

    /// [`Config::read`] for an account or a destination (see [`For`]). An
    /// account's profile replaces the one `--profile` names; its credential
    /// is its own (never the profile's variable or `config.yaml`'s token);
    /// its host patterns are the cloud's too.
    pub fn read_for(profile_name: Option<&str>, who: For, env: &dyn Env) -> (Config, Problems) {
        let mut problems = Problems::default();
        // The profile's problem comes first, as it did before accounts.
        let mut home_problems = Problems::default();
        let home = home_dir(env, &mut home_problems);
        let account = account_for(who, env, &home, &mut home_problems);
        let chosen = match &account {
            Some(a) => Ok(Some(a.profile)),
            None => select_profile(profile_name, env).map(|p| {
                Some(match who.destination {
                    // Named by nobody: the cloud the destination belongs to.
                    Some((_, host))
                        if profile_name.is_none() && env.var("CERTSH_PROFILE").is_none() =>
                    {
                        profile_for_host(host, &home).unwrap_or(p)
                    }
                    _ => p,
                })
            }),
        };
        let known_profile = chosen.is_ok();
        let profile = problems.take(chosen).unwrap_or(&profile::PROFILES[0]);
        problems.invalid.append(&mut home_problems.invalid);
        problems.ignored.append(&mut home_problems.ignored);
        // The official CLI finds its folder under {prefix}HOME when that is
        // set; certsh's own files (~/.ssh) stay under HOME.
        let config_home = env
            .var_os(&format!("{}HOME", profile.env_prefix))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.clone());
        let config_dir = config_home.join(profile.config_dir);
        let config_file = config_dir.join("config.yaml");
        let file = if known_profile && !home.as_os_str().is_empty() {
            read_file_config(&config_file, &home, &mut problems)
        } else {
            FileConfig::default()
        };
        let mut file = file;
        let prefix = profile.env_prefix;
        // The official CLI's name first, then certsh's older spelling
        // (docs/official-cli.md, "Environment").
        let pvar = |keys: &[&str]| {
            keys.iter().find_map(|key| {
                env.var(&format!("{prefix}{key}"))
                    .map(|v| (format!("{prefix}{key}"), v))
            })
        };
        let pval = |keys: &[&str]| pvar(keys).map(|(_, v)| v);

        let configured_auth_url =
            pval(&["AUTH_URL", "API_AUTH_URL"]).or_else(|| file.string("api.auth_url"));
        let auth_url = configured_auth_url
            .clone()
            .unwrap_or_else(|| profile.auth_url.to_string());
        let auth_url = auth_url.trim_end_matches('/').to_string();
        let token_url = pval(&["OAUTH2_TOKEN_URL", "API_OAUTH2_TOKEN_URL"])
            .or_else(|| file.string("api.oauth2_token_url"))
            .unwrap_or_else(|| format!("{auth_url}{TOKEN_PATH}"));
        let authorize_url = pval(&["OAUTH2_AUTH_URL", "API_OAUTH2_AUTH_URL"])
            .or_else(|| file.string("api.oauth2_auth_url"))
            .unwrap_or_else(|| format!("{auth_url}/oauth2/authorize"));
        let revoke_url = pval(&["OAUTH2_REVOKE_URL", "API_OAUTH2_REVOKE_URL"])
            .or_else(|| file.string("api.oauth2_revoke_url"))
            .unwrap_or_else(|| format!("{auth_url}/oauth2/revoke"));
        let login_timeout = problems
            .take(env_secs(env, "CERTSH_LOGIN_TIMEOUT"))
            .unwrap_or(DEFAULT_LOGIN_TIMEOUT)
            .max(Duration::from_secs(1));
        let certifier_url = pval(&["CERTIFIER_URL", "API_CERTIFIER_URL"])
            .or_else(|| file.string("api.certifier_url"))
            // As the official CLI: a configured auth server is the
            // certifier too, unless one is named.
            .or_else(|| configured_auth_url.map(|_| auth_url.clone()))
            .unwrap_or_else(|| profile.certifier_url.to_string());
        let client_id = pval(&["OAUTH2_CLIENT_ID", "API_OAUTH2_CLIENT_ID"])
            .or_else(|| file.string("api.oauth2_client_id"))
            .unwrap_or_else(|| profile.client_id.to_string());

        let in_file = |key: &str| format!("{key} of {}", config_file.display());
        let configured =
            if let Some((var, v)) = pvar(&["SSH_DOMAIN_WILDCARD", "SSH_DOMAIN_WILDCARDS"]) {
                Some((split_list(&v), var))
            } else if let Some(w) = file.list("ssh.domain_wildcards") {
                Some((w, in_file("ssh.domain_wildcards")))
            } else {
                file.list("api.ssh_domain_wildcards")
                    .map(|w| (w, in_file("api.ssh_domain_wildcards")))
            };
        let configured = configured
            .map(|(entries, origin)| {
                crate::config::host_pattern::host_patterns(entries, &origin)
                    .map_err(anyhow::Error::from)
            })
            .transpose();
        let mut wildcards = problems
            .take(configured)
            .unwrap_or_else(|| profile.wildcards.iter().map(|s| s.to_string()).collect());
        if let Some(a) = &account {
            wildcards.extend(a.hosts.iter().cloned());
        }
        if !known_profile {
            wildcards = profile::PROFILES
                .iter()
                .flat_map(|p| p.wildcards.iter().map(|s| s.to_string()))
                .collect();
        }

        let auto_load_cert = problems
            .take(env_bool_any(
                env,
                prefix,
                &[
                    "API_AUTO_LOAD_SSH_CERT",
                    "AUTO_LOAD_SSH_CERT",
                    "SSH_AUTO_LOAD_CERT",
                ],
            ))
            .or_else(|| file.boolean("ssh.auto_load_cert"))
            .or_else(|| file.boolean("api.auto_load_ssh_cert"))
            .unwrap_or(true);

        let key_ttl = problems
            .take(env_int(env, &format!("{prefix}SSH_CERT_KEY_TTL")))
            .or_else(|| file.integer("ssh.cert_key_ttl"))
            .map(key_ttl_from)
            .unwrap_or(DEFAULT_KEY_TTL);

        let add_to_agent = problems
            .take(env_bool_any(
                env,
                prefix,
                &["API_ADD_TO_SSH_AGENT", "SSH_ADD_TO_AGENT"],
            ))
            .or_else(|| file.boolean("ssh.add_to_agent"))
            .or_else(|| file.boolean("api.add_to_ssh_agent"))
            .unwrap_or(false);

        let cert_only = problems
            .take(env_bool(env, "CERTSH_CERT_ONLY"))
            .or_else(|| file.boolean("ssh.cert_only"))
            .unwrap_or(false);

        let refresh_margin = problems
            .take(env_secs(env, "CERTSH_REFRESH_MARGIN"))
            .unwrap_or(DEFAULT_REFRESH_MARGIN)
            .max(MIN_REFRESH_MARGIN);
        let renew_ahead = problems
            .take(env_share(env, "CERTSH_RENEW_AHEAD"))
            .or_else(|| file.share("ssh.renew_ahead"))
            .unwrap_or(DEFAULT_RENEW_AHEAD);
        let http_timeout = problems
            .take(env_secs(env, "CERTSH_HTTP_TIMEOUT"))
            .unwrap_or(DEFAULT_HTTP_TIMEOUT)
            .clamp(Duration::from_secs(1), MAX_HTTP_TIMEOUT);

        let token_var = format!("{prefix}TOKEN");
        let file_token = file.string("api.token");
        let file_token_file = file.string("api.token_file");
        let api_token = if let Some(a) = &account {
            // An account's token is its own: the profile's would reach the
            // certifier on the wrong account's behalf.
            a.token_env.as_ref().and_then(|var| {
                env.var(var).map(|token| ApiToken::Env {
                    var: var.clone(),
                    token: Secret::new(token.trim().to_string()),
                })
            })
        } else if let Some(token) = env.var(&token_var) {
            Some(ApiToken::Env {
                var: token_var,
                token: Secret::new(token.trim().to_string()),
            })
        } else if let Some(token) = file_token.filter(|t| !t.trim().is_empty()) {
            Some(ApiToken::ConfigFile {
                file: config_file.clone(),
                token: Secret::new(token.trim().to_string()),
            })
        } else {
            file_token_file
                .filter(|p| !p.is_empty())
                .map(|p| ApiToken::TokenFile {
                    path: resolve_path(&p, &home, &config_dir),
                })
        };
        let host_keys = match file.list("ssh.host_keys") {
            // The official CLI also takes one text of several lines.
            Some(v) => v
                .iter()
                .flat_map(|l| l.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect(),
            None => Vec::new(),
        };
        let official = official_store(
            env,
            (prefix, profile.slug),
            &config_dir,
            &mut file,
            &mut problems,
        );
        problems.ignored.extend(file.take_warnings());

        let cfg = Config {
            profile,
            home,
            config_dir,
            config_file,
            client_id,
            token_url,
            authorize_url,
            revoke_url,
            login_timeout,
            certifier_url,
            wildcards,
            auto_load_cert,
            key_ttl,
            add_to_agent,
            cert_only,
            refresh_margin,
            renew_ahead,
            http_timeout,
            api_token,
            debug: env
                .var("CERTSH_LOG")
                .is_some_and(|v| v.eq_ignore_ascii_case("debug")),
            browser: env.var_os("BROWSER"),
            https_proxy: first_var(
                env,
                &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"],
            )
            .map(Secret::new),
            no_proxy: first_var(env, &["NO_PROXY", "no_proxy"]).unwrap_or_default(),
            agent_socket: env.var_os("SSH_AUTH_SOCK"),
            runtime_dir: env
                .var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
            xdg_config_home: env
                .var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
            local_app_data: crate::util::platform::OWN_STATE_VAR
                .and_then(|name| env.var_os(name))
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
            git_ssh_command: env.var("GIT_SSH_COMMAND"),
            account,
            official,
            host_keys,
        };
        (cfg, problems)
    }

    /// The longest a renewal (lock wait and requests together) may hold ssh:
    /// two requests and a little slack, 55 s by default, so a hung certifier
    /// cannot hold a `git fetch` for more than a minute.
    pub fn refresh_deadline(&self) -> Duration {
        self.http_timeout * 2 + Duration::from_secs(5)
    }

    /// `certsh [--profile NAME | --account NAME] login<rest>`, the command a
    /// message tells the user to run.
    pub fn login_command(&self, rest: &str) -> String {
        match &self.account {
            Some(a) => format!("certsh --account {} login{rest}", a.name),
            None => self.profile.login_command(rest),
        }
    }

    /// The variable that carries an API token for this profile.
    pub fn token_var(&self) -> String {
        format!("{}TOKEN", self.profile.env_prefix)
    }
}

/// The home directory: `$HOME`, else the passwd database's. None at all is
/// a problem, and an empty path.
fn home_dir(env: &dyn Env, problems: &mut Problems) -> PathBuf {
    match env
        .var_os("HOME")
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
    {
        Some(h) => h,
        None => {
            problems.invalid.push(
                Fixable::new(
                    "no home directory: HOME is not set",
                    "set HOME to a folder certsh may use",
                )
                .into(),
            );
            PathBuf::new()
        }
    }
}

/// The accounts file's accounts (`config/accounts.rs`), or `None` when there
/// is no accounts file, or it cannot be used (the problem is then in
/// `problems`). A file that may not be opened (a HOME the user cannot
/// enter) is a problem only when `required`: a connection that merely looks
/// for accounts goes on as it did before accounts existed.
pub fn read_accounts(
    env: &dyn Env,
    home: &Path,
    problems: &mut Problems,
    required: bool,
) -> Option<Accounts> {
    let path = accounts::file_path(|k| env.var_os(k), home);
    let text = read_trusted(&path, home, problems, required)?;
    match accounts::parse(&path, &text) {
        Ok(a) => {
            // Whichever account serves this run, none of their tokens goes
            // to a child.
            crate::util::secret::add_token_variables(
                a.list.iter().filter_map(|a| a.token_env.clone()),
            );
            Some(a)
        }
        Err(e) => {
            problems.invalid.push(e);
            None
        }
    }
}

/// The account `who` names or its destination chooses, if any; a problem
/// with the accounts file or the choice is kept in `problems`. Without a
/// name and without an accounts file this is one failed `open`.
fn account_for(who: For, env: &dyn Env, home: &Path, problems: &mut Problems) -> Option<Account> {
    let named = named_account(who.account, env);
    if who.profile_only || (named.is_none() && who.destination.is_none()) {
        return None;
    }
    if home.as_os_str().is_empty() && env.var_os(accounts::FILE_VAR).is_none() {
        return None;
    }
    let (invalid, ignored) = (problems.invalid.len(), problems.ignored.len());
    let found = read_accounts(env, home, problems, named.is_some());
    let chosen = match (named, found) {
        (Some((name, origin)), Some(all)) => all.by_name(&name, origin).cloned().map(Some),
        (Some((name, origin)), None) if problems.invalid.len() == invalid => {
            let file = accounts::file_path(|k| env.var_os(k), home);
            let why = if problems.ignored.len() > ignored {
                "is ignored"
            } else {
                "does not exist"
            };
            Err(Fixable::new(
                format!(
                    "{origin} names the account {}, but the accounts file {} {why}",
                    host_pattern::quoted(&name),
                    file.display()
                ),
                "define the account there, in a file only you can write",
            )
            .into())
        }
        (None, Some(all)) => {
            let (user, host) = who.destination?;
            let chosen = all.choose(user, host).map(Option::<&Account>::cloned);
            let debug = env
                .var("CERTSH_LOG")
                .is_some_and(|v| v.eq_ignore_ascii_case("debug"));
            crate::util::log::debug(debug, || match &chosen {
                Ok(Some(a)) => format!("the account {} serves {host}", a.name),
                _ => format!("no account serves {host}"),
            });
            chosen
        }
        _ => Ok(None),
    };
    problems.take(chosen)
}

/// The profile a connection to `host` is for when no profile is named: the
/// default one when `host` is its; else the first other profile whose
/// hosts `host` is among and whose official CLI is set up in `home` (its
/// config folder exists), so that a Platform.sh or Upsun user needs no
/// setting of certsh's. `None`: the default profile, as before.
fn profile_for_host(host: &str, home: &Path) -> Option<&'static Profile> {
    use crate::config::host_pattern::host_matches;
    if host_matches(host, profile::PROFILES[0].wildcards) {
        return None;
    }
    profile::PROFILES[1..]
        .iter()
        .find(|p| host_matches(host, p.wildcards) && home.join(p.config_dir).is_dir())
}

/// The profile `--profile` (`name`), else `CERTSH_PROFILE`, names.
pub fn select_profile(name: Option<&str>, env: &dyn Env) -> Result<&'static Profile> {
    let (name, origin) = match name {
        Some(n) => (n.to_string(), "--profile"),
        None => match env.var("CERTSH_PROFILE") {
            Some(n) => (n, "CERTSH_PROFILE"),
            None => return Ok(&profile::PROFILES[0]),
        },
    };
    profile::by_name(&name).ok_or_else(|| {
        Fixable::new(
            format!("unknown profile {name:?} in {origin}"),
            format!("use one of: {}", profile::names()),
        )
        .into()
    })
}

/// The path of the token endpoint under the auth server's URL.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// The official CLI's session id and whether it uses its credential helper.
fn official_store(
    env: &dyn Env,
    (prefix, slug): (&str, &str),
    config_dir: &Path,
    file: &mut FileConfig,
    problems: &mut Problems,
) -> Official {
    let var = format!("{prefix}SESSION_ID");
    let (id, origin) = match env.var(&var) {
        Some(id) => (id, var),
        None => match std::fs::read_to_string(config_dir.join("session-id")) {
            Ok(id) => (
                id.trim().to_string(),
                config_dir.join("session-id").display().to_string(),
            ),
            Err(_) => match file.string("api.session_id") {
                Some(id) => (id, "api.session_id".to_string()),
                None => ("default".to_string(), String::new()),
            },
        },
    };
    let valid = !id.starts_with("api-token-")
        && !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        problems.ignored.push(format!(
            "ignoring the session id {} in {origin}: not a session id of the official CLI; \
             its stored credentials are not read",
            crate::util::sanitize::short(&format!("{id:?}"), 60)
        ));
    }
    let disabled = env_bool_any(env, prefix, &["API_DISABLE_CREDENTIAL_HELPERS"])
        .ok()
        .flatten()
        .or_else(|| file.boolean("api.disable_credential_helpers"))
        .unwrap_or(false);
    Official {
        session_id: valid.then_some(id),
        helpers: !disabled,
        slug: file
            .string("application.slug")
            .unwrap_or_else(|| slug.to_string()),
    }
}

/// `ssh.cert_key_ttl` as the official CLI reads it: seconds a key pair is
/// reused; 0 for ever; below 0 a new key for every certificate.
fn key_ttl_from(secs: i64) -> Duration {
    match secs {
        0 => Duration::MAX,
        s if s < 0 => Duration::ZERO,
        s => Duration::from_secs(s as u64),
    }
}

/// `config.yaml`, when it is there, is readable, is the user's alone
/// (`config/trust.rs`) and parses; otherwise the defaults, with the problem kept.
fn read_file_config(path: &Path, home: &Path, problems: &mut Problems) -> FileConfig {
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
fn read_trusted(
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
fn resolve_path(p: &str, home: &Path, config_dir: &Path) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        home.join(rest)
    } else {
        config_dir.join(p)
    }
}

#[cfg(test)]
mod tests;
