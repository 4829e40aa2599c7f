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
pub mod official;
pub mod problems;
pub mod profile;
pub mod select;
pub mod trust;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::config::env::{Env, EnvSnapshot, ProcessEnv};
use crate::config::env::{
    env_bool, env_bool_any, env_int, env_secs, env_share, first_var, split_list,
};
pub use crate::config::file::{FileConfig, parse_file_config};
use crate::config::file::{read_file_config, resolve_path};
pub use crate::config::official::Official;
use crate::config::official::official_store;
pub use crate::config::problems::Problems;
pub use crate::config::select::{
    For, accounts_or_error, named_account, read_accounts, select_profile,
};
use crate::config::select::{account_for, profile_for_host};
use anyhow::Result;

use crate::config::accounts::Account;
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
        problems.into_result()?;
        Ok(cfg)
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
            .var_os(&[profile.env_prefix, "HOME"].concat())
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
                let name = [prefix, *key].concat();
                env.var(&name).map(|v| (name, v))
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
            .unwrap_or_else(|| [auth_url.as_str(), TOKEN_PATH].concat());
        let authorize_url = pval(&["OAUTH2_AUTH_URL", "API_OAUTH2_AUTH_URL"])
            .or_else(|| file.string("api.oauth2_auth_url"))
            .unwrap_or_else(|| [auth_url.as_str(), "/oauth2/authorize"].concat());
        let revoke_url = pval(&["OAUTH2_REVOKE_URL", "API_OAUTH2_REVOKE_URL"])
            .or_else(|| file.string("api.oauth2_revoke_url"))
            .unwrap_or_else(|| [auth_url.as_str(), "/oauth2/revoke"].concat());
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
            .take(env_int(env, &[prefix, "SSH_CERT_KEY_TTL"].concat()))
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

        let token_var = [prefix, "TOKEN"].concat();
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

    /// certsh's own options that say whom this configuration is for
    /// ([`own_options`]).
    pub fn own_options(&self) -> [&str; 2] {
        own_options(self.account.as_ref().map(|a| a.name.as_str()), self.profile)
    }

    /// `certsh [--profile NAME | --account NAME] <rest>`, a command a message
    /// tells the user to run (the default profile's `--profile` left out).
    pub fn own_command(&self, rest: &str) -> String {
        match &self.account {
            Some(_) => format!("certsh {} {rest}", self.own_options().join(" ")),
            None => self.profile.own_command(rest),
        }
    }

    /// `certsh [--profile NAME | --account NAME] login<rest>`.
    pub fn login_command(&self, rest: &str) -> String {
        self.own_command(&format!("login{rest}"))
    }

    /// The variable that carries an API token for this profile.
    pub fn token_var(&self) -> String {
        format!("{}TOKEN", self.profile.env_prefix)
    }
}

/// certsh's own options that say whom a command line is for, as every line
/// certsh writes for itself spells them (the background renewal, the
/// ssh_config hook, messages): `--account NAME` for a named account, else
/// `--profile NAME`, so that none of them runs another account.
pub fn own_options<'a>(account: Option<&'a str>, profile: &'a Profile) -> [&'a str; 2] {
    match account {
        Some(name) => ["--account", name],
        None => ["--profile", profile.name],
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

/// The path of the token endpoint under the auth server's URL.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// `ssh.cert_key_ttl` as the official CLI reads it: seconds a key pair is
/// reused; 0 for ever; below 0 a new key for every certificate.
fn key_ttl_from(secs: i64) -> Duration {
    match secs {
        0 => Duration::MAX,
        s if s < 0 => Duration::ZERO,
        s => Duration::from_secs(s as u64),
    }
}

#[cfg(test)]
mod tests;
