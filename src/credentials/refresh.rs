//! Obtaining a certificate: the cold path.
//!
//! Under the store's lock, and after checking again once the lock is held
//! (another process may have just done the work): pick the key (the current
//! one while it is younger than `ssh.cert_key_ttl`, else a new one), get an
//! access token (cached, or from the API token), have the certifier sign the
//! key, check the answer, and publish it. Nothing is replaced until the new
//! certificate has passed every check.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::config::{ApiToken, Config};
use crate::credentials::api::{AccessToken, Api, Granted, Signed};
use crate::credentials::jwt;
use crate::credentials::need_login::NeedLogin;
use crate::credentials::official;
use crate::credentials::source::{self, Credential, Kind};
use crate::credentials::stored::{self, Session};
use crate::state::cert::{self, Validity, now};
use crate::state::store::{self, Cached, InUse, Store};
use crate::util::error::Fixable;
use crate::util::log::debug;

/// Whether to renew a certificate that is still good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Renew only when missing, stale or inside the margin.
    IfNeeded,
    /// Renew now (`certsh load --refresh`).
    Fresh,
    /// Renew also when in the last share of its lifetime (the background
    /// renewal, `credentials/ahead.rs`).
    Ahead,
}

/// Whether a certificate of `validity` whose file has `comment` can be used
/// as it is with the configured credential. `fingerprint` is the
/// credential's, when known without reading files.
fn reusable(cfg: &Config, validity: &Validity, comment: &str, fingerprint: Option<&str>) -> bool {
    let margin = cfg.refresh_margin.as_secs();
    validity.usable_from(comment, now(), margin, fingerprint)
}

/// Whether `want` keeps the certificate: [`reusable`], and for
/// [`Want::Ahead`] not yet in its last share.
fn keeps(
    cfg: &Config,
    want: Want,
    (validity, comment): (&Validity, &str),
    fingerprint: Option<&str>,
) -> bool {
    match want {
        Want::Fresh => false,
        Want::IfNeeded => reusable(cfg, validity, comment, fingerprint),
        Want::Ahead => {
            reusable(cfg, validity, comment, fingerprint)
                && !validity.in_last_share(now(), cfg.renew_ahead)
        }
    }
}

fn keeps_cached(cfg: &Config, want: Want, c: &Cached, fingerprint: Option<&str>) -> bool {
    keeps(cfg, want, (&Validity::of(&c.cert), &c.comment), fingerprint)
}

/// The current certificate when [`Want::IfNeeded`] keeps it, as a
/// connection reads it (`Store::in_use`): the hot path's one question,
/// answered from files alone.
pub fn cached(cfg: &Config) -> Option<InUse> {
    let direct = source::direct_fingerprint(cfg);
    Store::locate(cfg).and_then(|s| s.in_use()).filter(|c| {
        keeps(
            cfg,
            Want::IfNeeded,
            (&c.validity, &c.comment),
            direct.as_deref(),
        )
    })
}

/// The current certificate when `want` keeps it.
fn kept(cfg: &Config, want: Want) -> Option<Cached> {
    let direct = source::direct_fingerprint(cfg);
    Store::locate(cfg)
        .and_then(|s| s.current())
        .filter(|cached| keeps_cached(cfg, want, cached, direct.as_deref()))
}

/// A usable certificate, obtaining one if needed.
pub fn ensure(cfg: &Config, want: Want) -> Result<Cached> {
    let deadline = Instant::now() + cfg.refresh_deadline();
    if let Some(cached) = kept(cfg, want) {
        return Ok(cached);
    }
    // Without any credential, fail before creating the state folder.
    source::current(cfg)?.ok_or_else(|| no_credentials(cfg))?;
    let store = Store::prepare(cfg)?;
    let _lock = store.lock(deadline)?;
    // Read again under the lock: a session's refresh token may just have
    // been rotated by the process that held it.
    let cred = source::current(cfg)?.ok_or_else(|| no_credentials(cfg))?;
    let existing = store.current();
    if let Some(c) = &existing
        && keeps_cached(cfg, want, c, Some(&cred.fingerprint))
    {
        debug(cfg.debug, || {
            "another process renewed the certificate".into()
        });
        return Ok(store.current().expect("just read"));
    }
    // Still valid, but obtained with another credential (another user, a
    // login without MFA before one with it): replaced, as the official CLI
    // replaces a certificate that no longer matches the login, and said.
    if want == Want::IfNeeded
        && let Some(c) = &existing
        && reusable(cfg, &Validity::of(&c.cert), &c.comment, None)
    {
        crate::util::log::line(&format!(
            "the certificate in use came from another login; replacing it with one for {}",
            cred.origin
        ));
    }
    let reuse_key =
        existing.filter(|c| now().saturating_sub(c.key_created) < cfg.key_ttl.as_secs());
    let t = Instant::now();
    let new_key = match reuse_key {
        Some(_) => None,
        None => Some(store::new_key(&format!("certsh-{}", cfg.profile.name))?),
    };
    if new_key.is_some() {
        debug(cfg.debug, || format!("phase key: new key in {}", ms(t)));
    }
    let public = match (&reuse_key, &new_key) {
        (Some(c), _) => c.public_key.clone(),
        (None, Some(k)) => k.public_key().clone(),
        (None, None) => unreachable!(),
    };
    let public_text = public
        .to_openssh()
        .context("cannot encode the public key")?;

    // A new key's files are written and synced while the certifier is
    // asked: the sync is most of what publishing costs, and the network
    // wait hides it. The certificate is synced after it arrives, before
    // `current` names it.
    std::thread::scope(|s| -> Result<()> {
        let prepared = new_key
            .as_ref()
            .map(|k| s.spawn(|| store.prepare_key(k, now())));
        let t = Instant::now();
        let api = Api::new(cfg, deadline)?;
        debug(cfg.debug, || {
            format!("phase client: HTTP client in {}", ms(t))
        });
        let cert_text = obtain(cfg, &api, &store, &cred, &public_text)?;
        let t = Instant::now();
        let checked = cert::check_new(&cert_text, public.key_data(), now()).map_err(|why| {
            Fixable::new(
                format!(
                    "certifier {} returned a certificate that {why}",
                    api.sign_url()
                ),
                "the certificate in use was kept; report this if it persists",
            )
        })?;
        debug(cfg.debug, || {
            format!(
                "new certificate for key {}, valid {} s",
                cert::fingerprint(public.key_data()),
                cert::seconds_left(&checked, now())
            )
        });
        let text = with_comment(&cert_text, &cert::source_comment(&cred.fingerprint));
        match (&reuse_key, prepared) {
            (Some(c), _) => store.renew(c, &text)?,
            (None, Some(p)) => p
                .join()
                .expect("writing the key does not panic")?
                .publish(&text, now())?,
            (None, None) => unreachable!(),
        }
        debug(cfg.debug, || {
            format!("phase publish: checked and stored in {}", ms(t))
        });
        Ok(())
    })?;
    let c = store.current().with_context(|| {
        format!(
            "the new certificate in {} cannot be read back",
            store.dir.display()
        )
    })?;
    Ok(c)
}

/// Milliseconds since `t`, for the debug log's phase timings.
fn ms(t: Instant) -> String {
    format!("{:.2} ms", t.elapsed().as_secs_f64() * 1000.0)
}

/// Access token, then certificate; a cached access token the certifier
/// refuses is dropped and replaced once.
fn obtain(
    cfg: &Config,
    api: &Api,
    store: &Store,
    cred: &Credential,
    public: &str,
) -> Result<String> {
    let cache = store.token_cache();
    let cached = stored::cached_access_token(&cache, &cred.fingerprint, now());
    let from_cache = cached.is_some();
    let t = Instant::now();
    let access = match cached {
        Some(t) => t,
        None => {
            let t = exchange(cfg, api, store, cred)?;
            // A cache we cannot write only costs a token exchange next time.
            let _ = stored::cache_access_token(&cache, &cred.fingerprint, &t);
            t
        }
    };
    debug(cfg.debug, || {
        format!(
            "phase token: access token {} (from {}) in {}",
            if from_cache { "cached" } else { "exchanged" },
            cred.origin,
            ms(t)
        )
    });
    let t = Instant::now();
    let signed = api.sign(&access, public, &cred.origin)?;
    // A step-up ends the renewal here, before any phase is reported.
    if !matches!(signed, Signed::StepUp { .. }) {
        debug(cfg.debug, || {
            format!("phase sign: certifier answered in {}", ms(t))
        });
    }
    match signed {
        Signed::Certificate(c) => Ok(c),
        Signed::StepUp { ask, problem } => Err(step_up(cfg, cred, ask.demand(cfg, problem).into())),
        Signed::Unauthorized(_) if from_cache => {
            stored::forget_access_token(&cache);
            let fresh = exchange(cfg, api, store, cred)?;
            let _ = stored::cache_access_token(&cache, &cred.fingerprint, &fresh);
            match api.sign(&fresh, public, &cred.origin)? {
                Signed::Certificate(c) => Ok(c),
                Signed::StepUp { ask, problem } => Err(ask.demand(cfg, problem).into()),
                Signed::Unauthorized(e) => Err(e),
            }
        }
        Signed::Unauthorized(e) => {
            stored::forget_access_token(&cache);
            Err(e)
        }
    }
}

/// An access token for `cred`: the API-token grant, or a session's refresh.
fn exchange(cfg: &Config, api: &Api, store: &Store, cred: &Credential) -> Result<AccessToken> {
    match &cred.kind {
        Kind::Session(file) => refresh_session(cfg, api, cred, file, &store.token_cache()),
        Kind::ApiToken | Kind::StoredApiToken(_) | Kind::OfficialApiToken(_) => {
            exchange_api_token(api, cred)
        }
        Kind::OfficialSession(_) => official_session(cfg, api, cred),
    }
}

/// An access token from the official CLI's browser session: its own while it
/// is valid, else a refresh whose rotated tokens are stored back where the
/// session came from, so that the official CLI stays logged in. Called under
/// the store's lock.
fn official_session(cfg: &Config, api: &Api, cred: &Credential) -> Result<AccessToken> {
    let mut session = official::Session::find(cfg).ok_or_else(|| no_credentials(cfg))?;
    if let Some(access) = session.access_token() {
        return Ok(access);
    }
    let place = session.place.clone();
    let Some(refresh) = session.refresh_token() else {
        return Err(NeedLogin::new(
            official::session_ended(cfg, &place, api.token_url().as_str(), "it has none"),
            Some(cred.fingerprint.clone()),
            None,
        )
        .into());
    };
    match api.refresh_grant(&refresh)? {
        Granted::Tokens(set) => {
            session
                .store_renewed(&set.access, set.refresh.as_ref())
                .with_context(|| {
                    format!(
                        "cannot store the renewed tokens back in {}; log in with the official CLI again",
                        place.describe("browser session")
                    )
                })?;
            Ok(set.access)
        }
        Granted::Refused(detail) => Err(NeedLogin::new(
            official::session_ended(cfg, &place, api.token_url().as_str(), &detail),
            Some(cred.fingerprint.clone()),
            None,
        )
        .into()),
    }
}

/// A step-up demanded of `cred`: a new browser login answers it for a
/// session; an API token cannot log in, so that is the user's choice to make.
fn step_up(cfg: &Config, cred: &Credential, mut e: anyhow::Error) -> anyhow::Error {
    let Some(need) = e.downcast_mut::<NeedLogin>() else {
        return e;
    };
    if matches!(cred.kind, Kind::Session(_) | Kind::OfficialSession(_)) {
        need.failed = Some(cred.fingerprint.clone());
        return e;
    }
    let command = need
        .step_up
        .as_ref()
        .map(|s| s.command(cfg))
        .unwrap_or_else(|| cfg.login_command(" --mfa"));
    let unset = match (&cred.kind, &cfg.api_token) {
        (Kind::StoredApiToken(_), _) => "certsh logout".to_string(),
        (_, Some(ApiToken::Env { var, .. })) => format!("unset {var}"),
        _ => format!("remove {}", cred.origin),
    };
    Fixable::new(
        format!(
            "{}; an API token ({}) cannot give one",
            need.problem(),
            cred.origin
        ),
        format!("log in in the browser instead: {unset}, then {command}"),
    )
    .into()
}

/// The certificate line with certsh's comment in place of the server's.
fn with_comment(text: &str, comment: &str) -> String {
    let mut parts = text.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    format!("{kind} {body} {comment}\n")
}

/// The error for "nothing to get a certificate with": a login fixes it.
pub fn no_credentials(cfg: &Config) -> anyhow::Error {
    NeedLogin::new(no_credentials_why(cfg), None, None).into()
}

/// What "no credentials" means for this configuration and how to fix it:
/// the account's token variable or login, else the profile's variable,
/// config file and login. Renewal and `certsh doctor` both say it so.
pub fn no_credentials_why(cfg: &Config) -> Fixable {
    let login = cfg.login_command("");
    match cfg.account.as_ref().map(|a| (&a.name, &a.token_env)) {
        Some((name, Some(var))) => Fixable::new(
            format!("no credentials for the account {name}: {var} is not set"),
            format!("set {var} to an API token, or run `{login}` at a terminal"),
        ),
        Some((name, None)) => Fixable::new(
            format!("no credentials for the account {name}: nobody logged in"),
            format!("run `{login}` at a terminal, or give it a token_env"),
        ),
        None => {
            let var = cfg.token_var();
            Fixable::new(
                format!(
                    "no credentials for {}: {var} is not set, {} gives no API token, and nobody is logged in",
                    cfg.profile.title,
                    cfg.config_file.display()
                ),
                format!("set {var} to an API token, or run `{login}` at a terminal"),
            )
        }
    }
}

/// An access token for the session credential `cred` (whose session file is
/// `file`), through the refresh grant. Called under the store's lock, so a
/// rotated refresh token is written before anyone else reads the file. A
/// refusal ends the session.
fn refresh_session(
    cfg: &Config,
    api: &Api,
    cred: &Credential,
    file: &Path,
    token_cache: &Path,
) -> Result<AccessToken> {
    match api.refresh_grant(&cred.token)? {
        Granted::Tokens(set) => {
            let claims = jwt::claims(set.access.token.expose()).unwrap_or_default();
            if let Some(mut session) = Session::read(file) {
                session.renewed(set.refresh.as_ref(), claims);
                // A rotated refresh token that is not kept ends the session at
                // the next refresh: this write must not fail quietly.
                session.write(file)?;
            }
            Ok(set.access)
        }
        Granted::Refused(detail) => {
            let _ = std::fs::remove_file(file);
            stored::forget_access_token(token_cache);
            Err(NeedLogin::new(
                Fixable::new(
                    format!(
                        "the {} session has ended: {} refused its refresh token: {detail}",
                        cfg.profile.title,
                        api.token_url()
                    ),
                    format!("log in again: {}", cfg.login_command("")),
                ),
                Some(cred.fingerprint.clone()),
                None,
            )
            .into())
        }
    }
}

/// An access token for an API token credential, through the token exchange.
/// A refusal says where the token came from and how to replace it.
pub fn exchange_api_token(api: &Api, cred: &Credential) -> Result<AccessToken> {
    let detail = match api.exchange(&cred.token)? {
        Granted::Tokens(set) => return Ok(set.access),
        Granted::Refused(detail) => detail,
    };
    // Only the user can fix it: waiting or trying again never will.
    let make = "make a new API token in the console, under your account's API tokens,";
    let fix = match &cred.kind {
        Kind::StoredApiToken(_) => format!("{make} and store it: certsh login --api-token"),
        Kind::OfficialApiToken(_) => format!(
            "{make} and store it with the official CLI (auth:api-token-login) or with \
             certsh login --api-token"
        ),
        _ => format!("{make} and put it in {}", cred.origin),
    };
    Err(Fixable::new(
        format!(
            "the API token was refused: auth server {} answered {detail} for the token from {}",
            api.token_url(),
            cred.origin
        ),
        fix,
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_replaces_the_servers() {
        assert_eq!(
            with_comment(
                "ssh-ed25519-cert-v01@openssh.com AAAA server note\n",
                "certsh-source:ab"
            ),
            "ssh-ed25519-cert-v01@openssh.com AAAA certsh-source:ab\n"
        );
    }
}
