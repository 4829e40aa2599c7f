//! Logging in: the browser login (OAuth authorization code with PKCE), an
//! API token given once, logging out, and logging in from inside the shim.
//!
//! Users without an API token log in through the browser, where the cloud
//! asks for their second factor. certsh listens on the first free port of
//! 127.0.0.1:5000-5010 (the official CLI's ports, which the auth server
//! accepts as redirect targets), sends the browser to the authorize page and
//! waits for it to come back with a code (the listener is `callback.rs`),
//! which it exchanges for a refresh token: the session (see
//! `credentials/stored.rs`).
//!
//! Every local user can read a program's argv and connect to 127.0.0.1, so
//! the login's `state` and PKCE challenge are never in the browser's argv
//! (it gets a start page or a private file that sends it on), and on Linux
//! the listener answers only connections of its own user (`credentials/peer.rs`).
//! Otherwise another user could send a code for her own account with the
//! victim's challenge, and the victim's pushes would go out as her.
//!
//! The browser may be elsewhere: on the machine in front of an ssh session,
//! outside a container, in Windows around WSL. `browser.rs` chooses how it
//! is reached, saying so; in paste mode the user pastes the address the
//! browser ended on at a prompt (`paste.rs`) while the listener keeps
//! waiting too.
//!
//! Inside the shim, a login happens only at a terminal (`/dev/tty` opens and
//! stderr is one), never reads stdin (it carries the git protocol), and is
//! done by one process at a time under a lock: parallel git processes wait
//! for that one login instead of opening a browser tab each.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use ssh_key::rand_core::{OsRng, RngCore};
use tempfile::TempDir;

use crate::config::{ApiToken, Config};
use crate::credentials::api::{self, Api, Granted};
use crate::credentials::browser::{self, Way};
use crate::credentials::callback::{self, Expected};
use crate::credentials::jwt;
use crate::credentials::need_login::NeedLogin;
use crate::credentials::paste::Prompt;
use crate::credentials::peer;
use crate::credentials::refresh::{self, Want};
use crate::credentials::source::{self, Credential, Kind};
use crate::credentials::stored::{self, Session};
use crate::state::cert::{self, now};
use crate::state::lock::Lock;
use crate::state::store::{Cached, Store};
use crate::util::error::{self, Fixable};
use crate::util::sanitize;
use crate::util::secret::Secret;

/// The file the shim's logins are serialised on, in the state folder.
const LOGIN_LOCK: &str = "login.lock";

/// How to log in through the browser.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Ask for these authentication methods (`amr`, space-separated as the
    /// official CLI sends them).
    pub amr: Vec<String>,
    /// Ask for a login at most this old (`max_age`).
    pub max_age: Option<u64>,
    /// Only print the URL; do not start a browser.
    pub no_browser: bool,
    /// The browser is on another machine: print the URL and read the
    /// address it ends on from the terminal (`credentials/paste.rs`).
    pub paste: bool,
}

/// `certsh login [--mfa] [--max-age N] [--no-browser | --paste]`: log in
/// through the browser, store the session, and obtain a certificate with it.
pub fn login(cfg: &Config, opts: &Options) -> Result<ExitCode> {
    let store = Store::prepare(cfg)?;
    let (lock, _) = login_lock(cfg, &store)?;
    browser_login(cfg, &store, opts)?;
    // Released before the certificate: a step-up asked for by the certifier
    // logs in once more, under the same lock.
    drop(lock);
    finish(cfg)
}

/// After a login: say which credential is in use, and get a certificate
/// with it now, so that the next connection uses the new login.
fn finish(cfg: &Config) -> Result<ExitCode> {
    if let Some(other) = stored::overriding(cfg) {
        say(format_args!(
            "note: {other} is used before what you just stored; unset it to use the login"
        ));
        return Ok(error::success());
    }
    let c = ensure_at_terminal(cfg, Want::Fresh)?;
    say(format_args!("{}", summary(&c)));
    Ok(error::success())
}

fn summary(c: &Cached) -> String {
    format!(
        "certificate for {} valid for {}{}",
        sanitize::short(c.cert.key_id(), 80),
        cert::human_duration(cert::seconds_left(&c.cert, now())),
        if cert::has_mfa(&c.cert) {
            ", with MFA"
        } else {
            ""
        }
    )
}

/// A valid certificate for the shim and `certsh load`. When that needs a
/// login and a person is at the terminal, log in first (once, whatever the
/// number of processes waiting), then try once more.
pub fn ensure_at_terminal(cfg: &Config, want: Want) -> Result<Cached> {
    let err = match refresh::ensure(cfg, want) {
        Ok(c) => return Ok(c),
        Err(e) => e,
    };
    let Some(need) = err.downcast_ref::<NeedLogin>() else {
        return Err(err);
    };
    if !at_terminal() {
        return Err(err);
    }
    if need.failed.is_some() {
        // An ended session or a step-up: say why a login comes (with no
        // credential at all, the login's own lines say enough).
        say(format_args!("{need}"));
    }
    let opts = Options {
        amr: need
            .step_up
            .as_ref()
            .map(|s| s.amr.clone())
            .unwrap_or_default(),
        max_age: need.step_up.as_ref().and_then(|s| s.max_age),
        no_browser: false,
        paste: false,
    };
    let store = Store::prepare(cfg)?;
    let (lock, waited) = login_lock(cfg, &store)?;
    let now_in_use = source::current(cfg)?.map(|c| c.fingerprint);
    if now_in_use.is_none() || now_in_use == need.failed {
        if waited {
            // That login was abandoned or failed: one browser tab per
            // attempt, not one more for every process that waited.
            return Err(err.context("the login in another certsh process did not succeed"));
        }
        browser_login(cfg, &store, &opts)?;
    }
    drop(lock);
    refresh::ensure(cfg, Want::IfNeeded)
}

/// One line on stderr, written at once (see `util/log.rs`): parallel shims
/// share a terminal.
fn say(msg: fmt::Arguments) {
    crate::util::log::line(&msg.to_string());
}

/// The lock one browser login at a time is done under, and whether another
/// process held it (its login may have done our work).
fn login_lock(cfg: &Config, store: &Store) -> Result<(Lock, bool)> {
    let path = store.dir.join(LOGIN_LOCK);
    if let Ok(l) = crate::state::lock::acquire(&path, Instant::now()) {
        return Ok((l, false));
    }
    say(format_args!(
        "waiting for the login in another certsh process"
    ));
    let l = crate::state::lock::acquire(
        &path,
        Instant::now() + cfg.login_timeout + Duration::from_secs(30),
    )?;
    Ok((l, true))
}

/// Whether a person can be asked: `/dev/tty` opens and stderr is a terminal
/// (git gives ssh pipes for stdin and stdout, but leaves stderr alone).
pub fn at_terminal() -> bool {
    std::io::stderr().is_terminal()
        && OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
}

/// The browser login itself: listen, send the browser, wait for the code,
/// exchange it, store the session. Messages go to stderr only.
fn browser_login(cfg: &Config, store: &Store, opts: &Options) -> Result<()> {
    let authorize = api::checked_url(&cfg.authorize_url, "login URL")?;
    let (listener, port) = callback::listen()?;
    let checked = peer::can_check(
        listener
            .local_addr()
            .context("the login listener has no address")?,
    );
    let redirect_uri = format!("http://127.0.0.1:{port}");
    let verifier = Secret::new(random_b64(32));
    let state = random_b64(16);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()));
    let mut url = authorize;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &state)
            .append_pair("scope", "offline_access")
            .append_pair("prompt", "consent")
            .append_pair("response_type", "code")
            .append_pair("client_id", &cfg.client_id)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if !opts.amr.is_empty() {
            q.append_pair("amr", &opts.amr.join(" "));
        }
        if let Some(age) = opts.max_age {
            q.append_pair("max_age", &age.to_string());
        }
    }
    let shown = sanitize::text(url.as_str());
    let here = browser::Here::now(cfg.browser.clone());
    let way = browser::choose(&here, opts.paste, opts.no_browser);
    if way == Way::Paste(None) && !at_terminal() {
        return Err(Fixable::new(
            "certsh login --paste needs a terminal to paste the address into",
            "run it in a terminal, or without --paste",
        )
        .into());
    }
    // Held until the login ends: the redirect file's folder, if any.
    let (way, _start_file) = start_browser(way, port, checked, url.as_str());
    let way = match way {
        Way::Paste(why) => {
            // Without a terminal, paste mode is a login whose URL is only
            // printed (a forwarded port can still complete it).
            let here_to_paste = at_terminal();
            if let Some(why) = why {
                let mode = if here_to_paste { "paste mode: " } else { "" };
                say(format_args!("{mode}{why}"));
            }
            if here_to_paste {
                Way::Paste(None)
            } else {
                Way::PrintOnly
            }
        }
        other => other,
    };
    tell(cfg, &way, &here, &shown, port);
    let mut prompt = match way {
        Way::Paste(_) => Some(Prompt::open()?),
        _ => None,
    };
    let deadline = Instant::now() + cfg.login_timeout;
    let expected = Expected {
        state: &state,
        checked,
        authorize: url.as_str(),
    };
    let api = Api::for_command(cfg)?;
    let (code, set) = loop {
        let code = callback::wait_for_code(cfg, &listener, &expected, deadline, prompt.as_mut())?;
        match api.authorization_code(&code.code, &redirect_uri, &verifier)? {
            Granted::Tokens(set) => break (code, set),
            // A pasted code of another login (its PKCE challenge is not
            // this one's), or one used already: this login goes on.
            Granted::Refused(detail) if code.pasted() => {
                if let Some(p) = prompt.as_mut() {
                    p.again(&format!(
                        "{} refused the pasted code: {detail}",
                        api.token_url()
                    ));
                }
            }
            Granted::Refused(detail) => {
                code.answer(callback::FAILED_PAGE);
                return Err(Fixable::new(
                    format!("{} refused the login: {detail}", api.token_url()),
                    format!("try again: {}", cfg.login_command("")),
                )
                .into());
            }
        }
    };
    drop(prompt);
    let Some(refresh_token) = set.refresh.as_ref() else {
        code.answer(callback::FAILED_PAGE);
        return Err(Fixable::new(
            format!(
                "{} gave no refresh token, so the login cannot be kept",
                api.token_url()
            ),
            "check api.oauth2_client_id and the auth URL",
        )
        .into());
    };
    code.answer(callback::DONE_PAGE);
    let claims = jwt::claims(set.access.token.expose()).unwrap_or_default();
    let new = Session::new(refresh_token, claims.clone(), &cfg.token_url);
    let old = {
        let _lock = store.lock(Instant::now() + cfg.refresh_deadline())?;
        let old = Session::read(&store.dir.join(stored::SESSION_FILE));
        new.save(store)?;
        if let Some(cred) = source::current(cfg)?
            && cred.kind == Kind::Session(store.dir.join(stored::SESSION_FILE))
        {
            // The certificate that follows needs no second token request.
            let _ =
                stored::cache_access_token(&store.token_cache(), &cred.fingerprint, &set.access);
        }
        old
    };
    if let Some(old) = &old
        && stored::may_revoke(cfg, &old.token_url(cfg))
    {
        // Best effort: the old session is gone here whatever the server says.
        let _ = api.revoke(&old.refresh_token());
    }
    say(format_args!(
        "logged in to {}{}",
        cfg.profile.title,
        describe(&claims)
    ));
    if let Some(change) = new_subject(old.as_ref().and_then(|o| o.claims.sub.as_deref()), &claims) {
        crate::util::log::warn(&format!(
            "{change} (if you did not log in as that user, run: {})",
            cfg.login_command("").replacen(" login", " logout", 1)
        ));
    }
    Ok(())
}

/// Starts the browser the way chosen, with the start page (never the
/// authorize URL: see the module's doc). A browser that cannot be started
/// turns the way into paste mode, with the reason. Also returns the start
/// page's private folder, if any, to be held until the login ends.
fn start_browser(way: Way, port: u16, checked: bool, url: &str) -> (Way, Option<TempDir>) {
    let mut folder = None;
    let mut start = || -> Result<String> {
        let (target, file) = callback::browser_start(port, checked, url)?;
        folder = file;
        Ok(target)
    };
    let way = match way {
        Way::Open(program) => match start().and_then(|t| browser::open(&program, &t)) {
            Ok(()) => Way::Open(program),
            Err(e) => Way::Paste(Some(format!("{e:#}"))),
        },
        Way::Windows(how) => {
            // Windows cannot read the private page in WSL's folders; it
            // reaches the start page through WSL 2's forwarded localhost.
            let opened = if checked {
                start().and_then(|t| browser::open_windows(&t))
            } else {
                Err(anyhow::anyhow!(
                    "the listener cannot tell whose connections it gets here (WSL 1)"
                ))
            };
            match opened {
                Ok(program) => {
                    say(format_args!(
                        "WSL ({how}): opening the Windows browser with {program}"
                    ));
                    Way::Windows(how)
                }
                Err(e) => Way::Paste(Some(format!("WSL ({how}): {e:#}"))),
            }
        }
        other => other,
    };
    (way, folder)
}

/// The lines that tell the user where to log in, and how the browser comes
/// back: by itself, or pasted.
fn tell(cfg: &Config, way: &Way, here: &browser::Here, shown: &str, port: u16) {
    let title = &cfg.profile.title;
    let wait = cert::human_duration(cfg.login_timeout.as_secs());
    let how = match way {
        Way::Paste(_) => None,
        Way::PrintOnly => Some("open this URL in a browser"),
        Way::Open(_) | Way::Windows(_) => Some("a browser opens; if it does not, open this URL"),
    };
    match how {
        Some(how) => say(format_args!(
            "log in to {title} in the browser ({how}):\n  {shown}"
        )),
        None => say(format_args!(
            "log in to {title} in a browser on any device, at this URL:\n  {shown}"
        )),
    }
    // Over ssh, the browser's machine can reach the listener through a
    // forwarded port, pasting or not.
    if let Some(line) = here
        .ssh
        .as_deref()
        .and_then(|c| browser::forward_line(c, port))
    {
        say(format_args!(
            "or let that machine's browser reach certsh: run {line} there, then open the URL"
        ));
    }
    if how.is_some() {
        say(format_args!(
            "waiting for the browser (up to {wait}; Ctrl-C to give up)"
        ));
    } else {
        say(format_args!(
            "the browser then ends on http://127.0.0.1:{port}/?code=..., which does not load there; \
             copy that address (up to {wait}; Ctrl-C to give up)"
        ));
    }
}

/// `this login is <new>, the one before was <old>` when a login is someone
/// else's than the session it replaces: a login completed in a browser
/// logged in to another account, or a callback certsh should not have taken.
fn new_subject(before: Option<&str>, now: &jwt::Claims) -> Option<String> {
    let (before, now) = (before?, now.sub.as_deref()?);
    (before != now).then(|| {
        format!(
            "this login is {}, the one before was {}",
            sanitize::short(now, 100),
            sanitize::short(before, 100)
        )
    })
}

/// ` as <sub> (pwd, mfa)`, from the claims that are there.
fn describe(claims: &jwt::Claims) -> String {
    let mut out = String::new();
    if let Some(sub) = &claims.sub {
        out.push_str(&format!(" as {sub}"));
    }
    if !claims.amr.is_empty() {
        out.push_str(&format!(" ({})", claims.amr.join(", ")));
    }
    out
}

/// `n` random bytes, base64url without padding.
fn random_b64(n: usize) -> String {
    let mut buf = vec![0u8; n];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// `certsh login --api-token`: read an API token from stdin (at a terminal,
/// from a prompt that does not echo), check it with one exchange, store it.
pub fn api_token_login(cfg: &Config) -> Result<ExitCode> {
    let (token, origin) = read_api_token(cfg)?;
    let cred = Credential {
        kind: Kind::StoredApiToken(PathBuf::new()),
        token,
        origin: origin.to_string(),
        fingerprint: String::new(),
    };
    let api = Api::for_command(cfg)?;
    let access = refresh::exchange_api_token(&api, &cred)?;
    let store = Store::prepare(cfg)?;
    let path = {
        let _lock = store.lock(Instant::now() + cfg.refresh_deadline())?;
        let path = stored::store_api_token(&store, &cred.token, &cfg.token_url)?;
        if let Some(c) = source::current(cfg)?
            && c.kind == Kind::StoredApiToken(path.clone())
        {
            let _ = stored::cache_access_token(&store.token_cache(), &c.fingerprint, &access);
        }
        path
    };
    let claims = jwt::claims(access.token.expose()).unwrap_or_default();
    say(format_args!(
        "stored the API token{} in {}",
        describe(&claims).replacen(" as ", " of ", 1),
        path.display()
    ));
    if let Some(ApiToken::Env { var, .. }) = &cfg.api_token {
        say(format_args!(
            "note: {var} is set and is used before the stored token"
        ));
        return Ok(error::success());
    }
    let c = refresh::ensure(cfg, Want::Fresh)?;
    say(format_args!("{}", summary(&c)));
    Ok(error::success())
}

/// The token, and where it came from (`stdin`, `the prompt`).
fn read_api_token(cfg: &Config) -> Result<(Secret, &'static str)> {
    let stdin = std::io::stdin();
    let at_prompt = stdin.is_terminal();
    let text = if at_prompt {
        let prompt = format!("{} API token (not shown): ", cfg.profile.title);
        read_line_without_echo(&stdin, &prompt)?
    } else {
        let mut s = String::new();
        stdin
            .lock()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .context("cannot read the API token from stdin")?;
        s
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(Fixable::new(
            "no API token was given",
            "pass it on stdin (certsh login --api-token < file) or type it at the prompt",
        )
        .into());
    }
    let origin = if at_prompt { "the prompt" } else { "stdin" };
    Ok((Secret::new(token.to_string()), origin))
}

/// One line from the terminal with echo off, restored afterwards. The
/// prompt comes once echo is off, so nothing typed after it is shown.
fn read_line_without_echo(stdin: &std::io::Stdin, prompt: &str) -> Result<String> {
    let quiet = crate::util::platform::EchoOff::stdin()?;
    let mut err = std::io::stderr();
    let _ = err.write_all(prompt.as_bytes()).and_then(|()| err.flush());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    drop(quiet);
    read.context("cannot read the API token from the terminal")?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_as_someone_else_is_named() {
        let claims = |sub: &str| jwt::Claims {
            sub: Some(sub.into()),
            ..Default::default()
        };
        assert_eq!(
            new_subject(Some("alice"), &claims("mallory")).as_deref(),
            Some("this login is mallory, the one before was alice")
        );
        assert_eq!(new_subject(Some("alice"), &claims("alice")), None);
        assert_eq!(new_subject(None, &claims("alice")), None);
        assert_eq!(new_subject(Some("alice"), &jwt::Claims::default()), None);
    }

    #[test]
    fn pkce_verifier_has_the_right_shape() {
        let v = random_b64(32);
        assert_eq!(v.len(), 43);
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(v, random_b64(32));
    }
}
