//! Where the API token comes from, and the access-token cache.
//!
//! Order: `{prefix}TOKEN` in the environment, then `api.token`, then
//! `api.token_file` in `config.yaml` (the official CLI's order). The API token
//! is only ever sent to the token endpoint: it is not written anywhere, and
//! the cache keeps only a hash of it, to know which token an access token
//! came from.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{ApiToken, Config};
use crate::error::Fixable;
use crate::secret::Secret;
use crate::store;

/// An access token is not reused in its last minute: a request that starts
/// then could arrive after it expired.
const ACCESS_TOKEN_SLACK: u64 = 60;

/// An API token ready to use, with where it came from (for messages).
pub struct Credential {
    /// The API token.
    pub token: Secret,
    /// Where it came from, for messages (`MAGENTO_CLOUD_CLI_TOKEN`, ...).
    pub origin: String,
    /// A short hash tying certificates and cached access tokens to it.
    pub fingerprint: String,
}

/// An OAuth access token and when it expires (Unix seconds).
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The bearer token.
    pub token: Secret,
    /// Expiry.
    pub expires_at: u64,
}

/// The API token, reading `api.token_file` if that is where it is.
pub fn api_token(cfg: &Config) -> Result<Option<Credential>> {
    let (token, origin) = match &cfg.api_token {
        None => return Ok(None),
        Some(ApiToken::Env { token, .. } | ApiToken::ConfigFile { token, .. }) => {
            (token.clone(), cfg.api_token.as_ref().unwrap().origin())
        }
        Some(source @ ApiToken::TokenFile { path }) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Fixable::new(
                    format!("cannot read the API token file {}: {e}", path.display()),
                    "fix api.token_file in config.yaml, or set the token in the environment",
                )
            })?;
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
        token,
        origin,
        fingerprint,
    }))
}

/// The fingerprint of the API token the configuration names directly,
/// without reading any file (the hot path's view).
pub fn direct_fingerprint(cfg: &Config) -> Option<String> {
    match &cfg.api_token {
        Some(ApiToken::Env { token, .. } | ApiToken::ConfigFile { token, .. }) => {
            Some(fingerprint(cfg, token))
        }
        _ => None,
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
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

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

/// Stores an access token (0600, atomically).
pub fn cache_access_token(path: &Path, fingerprint: &str, token: &AccessToken) -> Result<()> {
    let file = CacheFile {
        fingerprint: fingerprint.to_string(),
        access_token: token.token.expose().to_string(),
        expires_at: token.expires_at,
    };
    let text = serde_json::to_string(&file).context("cannot encode the token cache")?;
    store::write_private(path, text.as_bytes())
}

/// Forgets the cached access token (the server refused it).
pub fn forget_access_token(path: &Path) {
    let _ = std::fs::remove_file(path);
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
}
