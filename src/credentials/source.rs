//! Which credential is in use, and who it says is logged in.
//!
//! Order: `{prefix}TOKEN` in the environment, then an API token stored with
//! `certsh login --api-token`, then `api.token` and `api.token_file` in
//! `config.yaml` (the official CLI's order), then the browser session of
//! `certsh login`; with none of certsh's own, the API token and then the
//! browser session that the official CLI stored (`official.rs`). The first
//! one present is used, and only that one: a broken
//! token is reported rather than silently skipped. An API token is only ever
//! sent to the token endpoint; the access-token cache (`stored.rs`) keeps only
//! a hash of it, to know which token an access token came from.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{ApiToken, Config};
use crate::credentials::jwt;
use crate::credentials::official::{self, Place};
use crate::credentials::stored::{self, Session};
use crate::state::cert::now;
use crate::state::store::Store;
use crate::util::error::Fixable;
use crate::util::secret::Secret;

/// What kind of credential, and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An API token from the environment or `config.yaml`.
    ApiToken,
    /// An API token stored by `certsh login --api-token`, in this file.
    StoredApiToken(PathBuf),
    /// The browser session of `certsh login` (a refresh token), in this file.
    Session(PathBuf),
    /// The API token the official CLI stored (`auth:api-token-login`).
    OfficialApiToken(Place),
    /// The browser session the official CLI stored (`login`).
    OfficialSession(Place),
}

/// A credential ready to use, with where it came from (for messages).
pub struct Credential {
    /// What it is.
    pub kind: Kind,
    /// The API token, or the session's refresh token.
    pub token: Secret,
    /// Where it came from, for messages (`MAGENTO_CLOUD_CLI_TOKEN`, ...).
    pub origin: String,
    /// A short hash tying certificates and cached access tokens to it.
    pub fingerprint: String,
}

/// The first credential present, in the order above, read only as far as
/// telling which it is: the one place that order is written. [`current`]
/// turns it into a [`Credential`], [`direct_fingerprint`] into the hot
/// path's view, [`identity`] into what `status` says of a broken one.
enum First<'a> {
    /// `{prefix}TOKEN`, or `api.token` in `config.yaml`.
    Token(&'a ApiToken, &'a Secret),
    /// `api.token_file`, not read yet.
    TokenFile(&'a ApiToken, &'a Path),
    /// `certsh login --api-token`'s file: path, token, token endpoint.
    Stored(PathBuf, Secret, String),
    /// `certsh login`'s browser session.
    Session(PathBuf, Session),
    /// None of certsh's own: the official CLI's, not looked at yet.
    Official,
}

fn first(cfg: &Config) -> First<'_> {
    if matches!(cfg.api_token, Some(ApiToken::Env { .. })) {
        return configured(cfg).expect("an environment token");
    }
    if let Some((path, token, bound)) = stored::stored_api_token(cfg) {
        return First::Stored(path, token, bound);
    }
    if let Some(found) = configured(cfg) {
        return found;
    }
    match stored::Session::find(cfg) {
        Some((path, s)) => First::Session(path, s),
        None => First::Official,
    }
}

/// The API token the environment or `config.yaml` names, if any.
fn configured(cfg: &Config) -> Option<First<'_>> {
    Some(match cfg.api_token.as_ref()? {
        t @ (ApiToken::Env { token, .. } | ApiToken::ConfigFile { token, .. }) => {
            First::Token(t, token)
        }
        t @ ApiToken::TokenFile { path } => First::TokenFile(t, path),
    })
}

/// The credential to use, in the order above.
pub fn current(cfg: &Config) -> Result<Option<Credential>> {
    let (token, origin) = match first(cfg) {
        First::Stored(path, token, bound) => {
            let origin = format!("the API token stored in {}", path.display());
            let login = cfg.login_command(" --api-token");
            stored::check_bound(
                cfg,
                &origin,
                &bound,
                &format!("store a token for that server: {login}"),
            )?;
            return Ok(Some(Credential {
                fingerprint: fingerprint(cfg, &token),
                kind: Kind::StoredApiToken(path),
                token,
                origin,
            }));
        }
        First::Session(path, s) => {
            let origin = format!("the browser session in {}", path.display());
            let login = cfg.login_command("");
            stored::check_bound(
                cfg,
                &origin,
                &s.token_url(cfg),
                &format!("log in to that server: {login}"),
            )?;
            return Ok(Some(Credential {
                fingerprint: fingerprint(cfg, &Secret::new(s.id.clone())),
                kind: Kind::Session(path),
                token: s.refresh_token(),
                origin,
            }));
        }
        First::Official => return Ok(official_credential(cfg)),
        First::Token(source, token) => (token.clone(), source.origin()),
        First::TokenFile(source, path) => {
            let Some(text) = read_token_file(path, &cfg.home)? else {
                return Ok(None);
            };
            let token = text.trim().to_string();
            if token.is_empty() {
                return Err(Fixable::new(
                    format!("the API token file {} is empty", path.display()),
                    "put an API token in it",
                )
                .into());
            }
            (Secret::new(token), source.origin())
        }
    };
    let fingerprint = fingerprint(cfg, &token);
    Ok(Some(Credential {
        kind: Kind::ApiToken,
        token,
        origin,
        fingerprint,
    }))
}

/// The official CLI's stored API token, else its browser session.
fn official_credential(cfg: &Config) -> Option<Credential> {
    if let Some((token, place)) = official::api_token(cfg) {
        return Some(Credential {
            fingerprint: fingerprint(cfg, &token),
            origin: place.describe("API token"),
            kind: Kind::OfficialApiToken(place),
            token,
        });
    }
    let s = official::Session::find(cfg)?;
    // Tied to where the session is and whom it is for, not to its tokens,
    // which rotate.
    let tie = format!(
        "official session\0{}\0{}",
        s.place.describe(""),
        s.user().unwrap_or_default()
    );
    Some(Credential {
        fingerprint: fingerprint(cfg, &Secret::new(tie)),
        origin: s.place.describe("browser session"),
        token: s
            .refresh_token()
            .unwrap_or_else(|| Secret::new(String::new())),
        kind: Kind::OfficialSession(s.place),
    })
}

/// `api.token_file`'s text, or `None` with a warning when the file is not
/// the user's alone (`config/trust.rs`): another user's token would make the user
/// work as her.
fn read_token_file(path: &Path, home: &Path) -> Result<Option<String>> {
    let cannot = |e: std::io::Error| {
        Fixable::new(
            format!("cannot read the API token file {}: {e}", path.display()),
            "fix api.token_file in config.yaml, or set the token in the environment",
        )
    };
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if let Err(why) = crate::config::trust::check_file(path, &meta, home) {
        crate::util::log::warn(&format!(
            "ignoring api.token_file {}: {}",
            path.display(),
            why.describe(why.path == path)
        ));
        return Ok(None);
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(cannot)?;
    Ok(Some(text))
}

/// The fingerprint of the credential in use, when it is known without
/// reading `api.token_file` (the hot path's view): the environment costs
/// nothing, a stored token or session one small file.
pub fn direct_fingerprint(cfg: &Config) -> Option<String> {
    match first(cfg) {
        First::Token(_, token) => Some(fingerprint(cfg, token)),
        First::Stored(_, token, _) => Some(fingerprint(cfg, &token)),
        First::Session(_, s) => Some(fingerprint(cfg, &Secret::new(s.id))),
        First::TokenFile(..) | First::Official => None,
    }
}

/// 16 hex digits of SHA-256 over the token endpoint, client id and token.
fn fingerprint(cfg: &Config, token: &Secret) -> String {
    let mut h = Sha256::new();
    h.update(cfg.token_url.as_bytes());
    h.update([0]);
    h.update(cfg.client_id.as_bytes());
    h.update([0]);
    h.update(token.expose().as_bytes());
    // Written digit by digit: a `format!` a byte was a third of the hot
    // path's instructions for this.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    h.finalize()[..8]
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// Who is logged in and with what, for `certsh status` and `certsh doctor`.
/// Read from files only: no network.
#[derive(Debug, Default, Serialize)]
pub struct Identity {
    /// `environment`, `stored-api-token`, `config`, `session`,
    /// `official-api-token`, `official-session` or `none`:
    /// the credential the next certificate would come from.
    pub credential: &'static str,
    /// Where it is (a variable, a file), never the token.
    pub origin: Option<String>,
    /// The user id (`sub`), when an access token or the session says.
    pub user: Option<String>,
    /// How the user authenticated (`amr`).
    pub amr: Vec<String>,
    /// When the access token known here expires (Unix seconds).
    pub access_token_expires: Option<u64>,
    /// Why the credential cannot be read, if it cannot.
    pub problem: Option<String>,
}

/// The credential in use and what is known about its login.
pub fn identity(cfg: &Config) -> Identity {
    let cred = match current(cfg) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Identity {
                credential: "none",
                ..Identity::default()
            };
        }
        Err(e) => {
            // The credential that failed: a stored one bound to another
            // server, or the configured token file.
            let (credential, origin) = match first(cfg) {
                First::Stored(path, ..) => (
                    "stored-api-token",
                    Some(format!("the API token stored in {}", path.display())),
                ),
                First::Token(t, _) | First::TokenFile(t, _) => ("config", Some(t.origin())),
                First::Session(path, _) => (
                    "session",
                    Some(format!("the browser session in {}", path.display())),
                ),
                // `current` reads the official CLI's files without failing.
                First::Official => ("none", None),
            };
            return Identity {
                credential,
                origin,
                problem: Some(format!("{e:#}")),
                ..Identity::default()
            };
        }
    };
    let credential = match (&cred.kind, &cfg.api_token) {
        (Kind::OfficialApiToken(_), _) => "official-api-token",
        (Kind::OfficialSession(_), _) => "official-session",
        (Kind::Session(_), _) => "session",
        (Kind::StoredApiToken(_), _) => "stored-api-token",
        (Kind::ApiToken, Some(ApiToken::Env { .. })) => "environment",
        (Kind::ApiToken, _) => "config",
    };
    let cached = Store::existing(cfg)
        .into_iter()
        .find_map(|s| stored::cached_access_token(&s.token_cache(), &cred.fingerprint, now()));
    let mut claims = cached
        .as_ref()
        .and_then(|t| jwt::claims(t.token.expose()))
        .unwrap_or_default();
    if claims.sub.is_none()
        && matches!(cred.kind, Kind::OfficialSession(_))
        && let Some(s) = official::Session::find(cfg)
    {
        claims.sub = s.user();
    }
    if claims.sub.is_none()
        && let Kind::Session(path) = &cred.kind
        && let Some(s) = Session::read(path.as_path())
    {
        claims = s.claims;
    }
    Identity {
        credential,
        origin: Some(cred.origin),
        user: claims.sub,
        amr: claims.amr,
        access_token_expires: cached.map(|t| t.expires_at).or(claims.exp),
        problem: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_environment_stored_config_session() {
        use crate::credentials::stored::Session;
        use crate::state::store::Store;
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".magento-cloud");
        std::fs::create_dir_all(dir.join("certsh")).unwrap();
        let store = Store {
            dir: dir.join("certsh"),
        };
        let mut env = std::collections::HashMap::from([(
            "HOME".to_string(),
            home.path().display().to_string(),
        )]);
        let kind = |env: &std::collections::HashMap<String, String>| {
            let cfg = Config::load(None, env).unwrap();
            let c = current(&cfg)
                .unwrap()
                .map(|c| (c.kind, c.token.expose().to_string()));
            (c, direct_fingerprint(&cfg))
        };
        assert_eq!(kind(&env), (None, None));

        Session::new(
            &Secret::new("refresh".into()),
            Default::default(),
            "https://auth.magento.cloud/oauth2/token",
        )
        .save(&store)
        .unwrap();
        let (c, fp) = kind(&env);
        assert_eq!(
            c,
            Some((
                Kind::Session(store.dir.join("session.json")),
                "refresh".into()
            ))
        );
        let session_fp = fp.unwrap();

        std::fs::write(dir.join("config.yaml"), "api:\n  token: from-config\n").unwrap();
        assert_eq!(kind(&env).0, Some((Kind::ApiToken, "from-config".into())));

        crate::credentials::stored::store_api_token(
            &store,
            &Secret::new("stored".into()),
            "https://auth.magento.cloud/oauth2/token",
        )
        .unwrap();
        let (c, fp) = kind(&env);
        assert_eq!(
            c,
            Some((
                Kind::StoredApiToken(store.dir.join("api-token")),
                "stored".into()
            ))
        );
        assert_ne!(fp.unwrap(), session_fp);

        env.insert("MAGENTO_CLOUD_CLI_TOKEN".into(), "from-env".into());
        assert_eq!(kind(&env).0, Some((Kind::ApiToken, "from-env".into())));
    }
}
