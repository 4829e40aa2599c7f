//! Secrets certsh keeps itself: the browser session (a refresh token from
//! `certsh login`), an API token stored with `certsh login --api-token`, and
//! the cache of the latest access token; and `certsh logout`, which revokes
//! and deletes them.
//!
//! They live in the profile's state folder, 0600, beside the keys: never in
//! `config.yaml`, which belongs to the official CLI. A session carries a
//! random id; certificates obtained through it are marked with a hash of that
//! id, so a new login (as someone else, or with MFA) is never served the old
//! login's certificate. A refresh token the auth server refuses ends the
//! session: the file goes, the certificate stays for as long as it is valid.
//!
//! Both are bound to the token endpoint they came from, stored with them: a
//! configuration that now names another server (a changed setting, or a file
//! someone else planted) does not get them; certsh refuses and says how to
//! log in there. Files written before the binding existed are taken as bound
//! to the profile's own endpoint, the only one older certsh versions knew by
//! default, so they keep working there and go nowhere else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use ssh_key::rand_core::{OsRng, RngCore};

use crate::config::{ApiToken, Config};
use crate::credentials::api::{AccessToken, Api};
use crate::credentials::jwt::Claims;
use crate::state::cert::now;
use crate::state::store::{self, Store};
use crate::util::error::Fixable;
use crate::util::log;
use crate::util::secret::Secret;

/// The session file in the state folder.
pub const SESSION_FILE: &str = "session.json";
/// The stored API token in the state folder.
pub const API_TOKEN_FILE: &str = "api-token";

/// A browser login, as stored. No `Debug`: it holds a refresh token.
#[derive(Serialize, Deserialize)]
pub struct Session {
    /// Random; ties certificates to this login.
    pub id: String,
    refresh_token: String,
    /// When the user logged in (Unix seconds).
    pub created_at: u64,
    /// The claims of the latest access token, for `certsh status`.
    #[serde(default)]
    pub claims: Claims,
    /// The token endpoint that issued it, the only one it is sent to
    /// (absent in older files: see [`bound_url`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_url: Option<String>,
}

impl Session {
    /// A new session from a login's answer by `token_url`.
    pub fn new(refresh_token: &Secret, claims: Claims, token_url: &str) -> Session {
        let mut id = [0u8; 12];
        OsRng.fill_bytes(&mut id);
        Session {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            refresh_token: refresh_token.expose().to_string(),
            created_at: now(),
            claims,
            token_url: Some(token_url.to_string()),
        }
    }

    /// The token endpoint the session is bound to.
    pub fn token_url(&self, cfg: &Config) -> String {
        bound_url(cfg, self.token_url.as_deref())
    }

    /// The refresh token.
    pub fn refresh_token(&self) -> Secret {
        Secret::new(self.refresh_token.clone())
    }

    /// Reads a session file; a damaged one is no session.
    pub fn read(path: &Path) -> Option<Session> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str::<Session>(&text)
            .ok()
            .filter(|s| !s.refresh_token.is_empty())
    }

    /// The profile's session and its file, if someone is logged in.
    pub fn find(cfg: &Config) -> Option<(PathBuf, Session)> {
        let path = Store::find_file(cfg, SESSION_FILE)?;
        Session::read(&path).map(|s| (path, s))
    }

    /// Writes the session (0600, atomically) into `store`.
    pub fn save(&self, store: &Store) -> Result<PathBuf> {
        let path = store.dir.join(SESSION_FILE);
        self.write(&path)?;
        Ok(path)
    }

    /// What a refresh grant changes: the refresh token, when the server
    /// rotated it, and the latest claims.
    pub fn renewed(&mut self, rotated: Option<&Secret>, claims: Claims) {
        if let Some(rotated) = rotated {
            self.refresh_token = rotated.expose().to_string();
        }
        self.claims = claims;
    }

    /// Writes the session (0600, atomically) to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(self).context("cannot encode the session")?;
        store::write_private(path, text.as_bytes())
    }
}

/// An API token stored by `certsh login --api-token`: JSON with the token
/// endpoint it was checked against. Older files hold the token alone.
#[derive(Serialize, Deserialize)]
struct StoredToken {
    token_url: String,
    api_token: String,
}

/// The API token stored by `certsh login --api-token`, its file, and the
/// token endpoint it is bound to.
pub fn stored_api_token(cfg: &Config) -> Option<(PathBuf, Secret, String)> {
    let path = Store::find_file(cfg, API_TOKEN_FILE)?;
    let text = std::fs::read_to_string(&path).ok()?;
    let text = text.trim();
    let (token, url) = if text.starts_with('{') {
        let stored: StoredToken = serde_json::from_str(text).ok()?;
        (stored.api_token, Some(stored.token_url))
    } else {
        (text.to_string(), None)
    };
    let token = token.trim();
    (!token.is_empty()).then(|| {
        (
            path.clone(),
            Secret::new(token.to_string()),
            bound_url(cfg, url.as_deref()),
        )
    })
}

/// Stores an API token checked against `token_url` (0600, atomically) into
/// `store`.
pub fn store_api_token(store: &Store, token: &Secret, token_url: &str) -> Result<PathBuf> {
    let path = store.dir.join(API_TOKEN_FILE);
    let stored = StoredToken {
        token_url: token_url.to_string(),
        api_token: token.expose().to_string(),
    };
    let text = serde_json::to_string(&stored).context("cannot encode the API token file")?;
    store::write_private(&path, format!("{text}\n").as_bytes())?;
    Ok(path)
}

/// The token endpoint a stored credential is bound to: the one stored with
/// it, or for a file from before the binding the profile's own.
fn bound_url(cfg: &Config, stored: Option<&str>) -> String {
    match stored {
        Some(url) => url.to_string(),
        None => format!("{}{}", cfg.profile.auth_url, crate::config::TOKEN_PATH),
    }
}

/// Refuses to send a credential bound to `bound` to the token endpoint the
/// configuration names now, when that is another one. `what` names the
/// credential and its file; `login` is the command that makes a new one.
pub fn check_bound(cfg: &Config, what: &str, bound: &str, login: &str) -> Result<()> {
    if bound == cfg.token_url {
        return Ok(());
    }
    Err(Fixable::new(
        format!(
            "{what} is for {bound}, not for {} that the configuration names now",
            cfg.token_url
        ),
        format!("{login}; or undo the change"),
    )
    .into())
}

/// Whether a session bound to `bound` may be revoked with the configuration:
/// only at the server it came from (same token endpoint, and a revocation
/// URL on the same scheme, host and port).
pub fn may_revoke(cfg: &Config, bound: &str) -> bool {
    let origin = |u: &str| reqwest::Url::parse(u).ok().map(|u| u.origin());
    bound == cfg.token_url && origin(bound).is_some_and(|o| Some(o) == origin(&cfg.revoke_url))
}

/// Removes the session and the stored API token from every state folder of
/// the profile; returns the refresh tokens that were there and may be
/// revoked with this configuration ([`may_revoke`]).
pub fn forget_all(cfg: &Config) -> Vec<Secret> {
    let mut tokens = vec![];
    for store in Store::existing(cfg) {
        let path = store.dir.join(SESSION_FILE);
        if let Some(s) = Session::read(&path)
            && may_revoke(cfg, &s.token_url(cfg))
        {
            tokens.push(s.refresh_token());
        }
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(store.dir.join(API_TOKEN_FILE));
    }
    tokens
}

/// An access token is not reused in its last minute: a request that starts
/// then could arrive after it expired.
const ACCESS_TOKEN_SLACK: u64 = 60;

#[derive(Serialize, Deserialize)]
struct CacheFile {
    fingerprint: String,
    access_token: String,
    expires_at: u64,
}

/// The cached access token for the credential with `fingerprint`, if it is
/// still good at `now`. A missing or damaged cache is simply no cache.
pub fn cached_access_token(path: &Path, fingerprint: &str, now: u64) -> Option<AccessToken> {
    let text = std::fs::read_to_string(path).ok()?;
    let file: CacheFile = serde_json::from_str(&text).ok()?;
    (file.fingerprint == fingerprint && file.expires_at > now + ACCESS_TOKEN_SLACK).then(|| {
        AccessToken {
            token: Secret::new(file.access_token),
            expires_at: file.expires_at,
        }
    })
}

/// Stores an access token (0600, atomically; a cache, so not synced).
pub fn cache_access_token(path: &Path, fingerprint: &str, token: &AccessToken) -> Result<()> {
    let file = CacheFile {
        fingerprint: fingerprint.to_string(),
        access_token: token.token.expose().to_string(),
        expires_at: token.expires_at,
    };
    let text = serde_json::to_string(&file).context("cannot encode the token cache")?;
    store::write_cache(path, text.as_bytes())
}

/// Forgets the cached access token (the server refused it).
pub fn forget_access_token(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// A credential that wins over stored ones, for the note after a login.
pub fn overriding(cfg: &Config) -> Option<String> {
    cfg.api_token.as_ref().map(ApiToken::origin)
}

/// `certsh logout [--all]`: revoke the session (best effort), then delete
/// the session, the stored API token, the key and the certificate.
/// `configs`: the profile's, or every profile's for `--all`.
pub fn logout(configs: &[Config]) -> Result<ExitCode> {
    for cfg in configs {
        logout_one(cfg);
    }
    Ok(crate::util::error::success())
}

fn logout_one(cfg: &Config) {
    let stores = Store::existing(cfg);
    let mut sessions = 0;
    let mut revocable = vec![];
    for s in &stores {
        if let Some(session) = Session::read(&s.dir.join(SESSION_FILE)) {
            sessions += 1;
            let bound = session.token_url(cfg);
            if may_revoke(cfg, &bound) {
                revocable.push(session.refresh_token());
            } else {
                log::line(&format!(
                    "note: the session is for {bound}, not for the server the configuration names now; it is deleted here without being revoked"
                ));
            }
        }
    }
    let mut revoked = 0;
    if !revocable.is_empty() {
        match Api::for_command(cfg) {
            Ok(api) => {
                for t in &revocable {
                    match api.revoke(t) {
                        Ok(()) => revoked += 1,
                        Err(e) => log::warn(&format!(
                            "the session could not be revoked ({e:#}); it is deleted here anyway"
                        )),
                    }
                }
            }
            Err(e) => log::warn(&format!("{e:#}; the session is deleted here anyway")),
        }
    }
    forget_all(cfg);
    let mut removed = 0;
    for s in &stores {
        // A refresh in progress finishes first; a stuck one does not stop
        // the logout.
        let _lock = s.lock(Instant::now() + Duration::from_secs(5)).ok();
        removed += s.remove_keys();
        forget_access_token(&s.token_cache());
    }
    let what = match (sessions, revoked) {
        (0, _) => "no session".to_string(),
        (n, r) if r == n => "session revoked and deleted".to_string(),
        _ => "session deleted (not revoked)".to_string(),
    };
    println!(
        "Logged out of {} (profile {}): {what}; {}",
        cfg.profile.title,
        cfg.profile.name,
        if removed > 0 {
            "key and certificate deleted"
        } else {
            "no key or certificate"
        }
    );
    if let Some(other) = overriding(cfg) {
        println!("  Note: {other} still holds an API token, and certsh keeps using it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        let t = AccessToken {
            token: Secret::new("abc".into()),
            expires_at: 1000,
        };
        cache_access_token(&path, "fp", &t).unwrap();
        assert_eq!(
            cached_access_token(&path, "fp", 500)
                .unwrap()
                .token
                .expose(),
            "abc"
        );
        assert!(cached_access_token(&path, "other", 500).is_none());
        assert!(
            cached_access_token(&path, "fp", 950).is_none(),
            "inside the slack"
        );
        std::fs::write(&path, "{garbage").unwrap();
        assert!(cached_access_token(&path, "fp", 500).is_none());
    }
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn session_round_trip_is_private_and_ids_differ() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store {
            dir: dir.path().to_path_buf(),
        };
        let a = Session::new(&Secret::new("r-1".into()), Claims::default(), "https://a/t");
        let b = Session::new(&Secret::new("r-1".into()), Claims::default(), "https://a/t");
        assert_ne!(a.id, b.id);
        let path = a.save(&store).unwrap();
        #[cfg(unix)]
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back = Session::read(&path).unwrap();
        assert_eq!(back.id, a.id);
        assert_eq!(back.refresh_token().expose(), "r-1");
        std::fs::write(&path, "{").unwrap();
        assert!(Session::read(&path).is_none());
    }
}
