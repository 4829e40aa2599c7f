//! Logging in: the browser login (OAuth authorization code with PKCE), an
//! API token given once, logging out, and logging in from inside the shim.
//!
//! Users without an API token log in through the browser, where the cloud
//! asks for their second factor. certsh listens on the first free port of
//! 127.0.0.1:5000-5010 (the official CLI's ports, which the auth server
//! accepts as redirect targets), sends the browser to the authorize page and
//! waits for it to come back with a code, which it exchanges for a refresh
//! token: the session (see `session.rs`).
//!
//! Inside the shim, a login happens only at a terminal (`/dev/tty` opens and
//! stderr is one), never reads stdin (it carries the git protocol), and is
//! done by one process at a time under a lock: parallel git processes wait
//! for that one login instead of opening a browser tab each.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use ssh_key::rand_core::{OsRng, RngCore};

use crate::api::{self, Api, Granted};
use crate::cert::{self, now};
use crate::config::{ApiToken, Config, ProcessEnv};
use crate::credentials::{self, Credential, Kind};
use crate::error::{self, Fixable};
use crate::jwt;
use crate::lock::Lock;
use crate::profile;
use crate::refresh::{self, Want};
use crate::sanitize;
use crate::secret::{self, Secret};
use crate::session::{self, Session};
use crate::store::{Cached, Store};

/// The ports the official CLI listens on, and that the auth servers accept in
/// `redirect_uri`.
const PORTS: std::ops::RangeInclusive<u16> = 5000..=5010;
/// A browser that connects and then says nothing is dropped after this long.
const CALLBACK_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the listener looks for the browser and for the deadline.
const POLL: Duration = Duration::from_millis(25);
/// The file the shim's logins are serialised on, in the state folder.
const LOGIN_LOCK: &str = "login.lock";

/// What the certifier asked for in a step-up (RFC 9470) challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepUp {
    /// The authentication method to ask for (`mfa`).
    pub amr: Option<String>,
    /// The login may be at most this old (seconds).
    pub max_age: Option<u64>,
}

impl StepUp {
    /// The command that fixes it: `certsh login --mfa [--max-age N]`.
    pub fn command(&self, cfg: &Config) -> String {
        let mut rest = String::new();
        if self.amr.is_some() {
            rest.push_str(" --mfa");
        }
        if let Some(age) = self.max_age {
            rest.push_str(&format!(" --max-age {age}"));
        }
        session::login_command(cfg, &rest)
    }
}

/// "Log in and this works": no credential, an ended session, or a step-up.
/// Its text is the [`Fixable`]'s; the shim reads the rest to log in by itself.
#[derive(Debug)]
pub struct NeedLogin {
    why: Fixable,
    /// The fingerprint of the credential that failed (`None`: there was
    /// none). A process that finds another credential in use after waiting
    /// for the login lock knows that someone else has logged in meanwhile.
    pub failed: Option<String>,
    /// What the certifier asked for, for a step-up.
    pub step_up: Option<StepUp>,
}

impl NeedLogin {
    /// A login would fix `why`.
    pub fn new(why: Fixable, failed: Option<String>, step_up: Option<StepUp>) -> NeedLogin {
        NeedLogin {
            why,
            failed,
            step_up,
        }
    }
}

impl NeedLogin {
    /// What is wrong, without the fix.
    pub fn problem(&self) -> &str {
        self.why.problem()
    }
}

impl fmt::Display for NeedLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.why.fmt(f)
    }
}

impl std::error::Error for NeedLogin {}

/// How to log in through the browser.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Ask for this authentication method (`amr=mfa`).
    pub amr: Option<String>,
    /// Ask for a login at most this old (`max_age`).
    pub max_age: Option<u64>,
    /// Only print the URL; do not start a browser.
    pub no_browser: bool,
}

/// `certsh login [--mfa] [--max-age N] [--no-browser]`: log in through the
/// browser, store the session, and obtain a certificate with it.
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
    if let Some(other) = overriding(cfg) {
        say(format_args!(
            "note: {other} is used before what you just stored; unset it to use the login"
        ));
        return Ok(error::success());
    }
    let c = ensure_at_terminal(cfg, Want::Fresh)?;
    say(format_args!("{}", summary(&c)));
    Ok(error::success())
}

/// A credential that wins over stored ones, for the note after a login.
fn overriding(cfg: &Config) -> Option<String> {
    cfg.api_token.as_ref().map(ApiToken::origin)
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
        amr: need.step_up.as_ref().and_then(|s| s.amr.clone()),
        max_age: need.step_up.as_ref().and_then(|s| s.max_age),
        no_browser: false,
    };
    let store = Store::prepare(cfg)?;
    let (lock, waited) = login_lock(cfg, &store)?;
    let now_in_use = credentials::current(cfg)?.map(|c| c.fingerprint);
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

/// One line on stderr, written at once (see `log.rs`): parallel shims
/// share a terminal.
fn say(msg: fmt::Arguments) {
    crate::log::line(&msg.to_string());
}

/// The lock one browser login at a time is done under, and whether another
/// process held it (its login may have done our work).
fn login_lock(cfg: &Config, store: &Store) -> Result<(Lock, bool)> {
    let path = store.dir.join(LOGIN_LOCK);
    if let Ok(l) = crate::lock::acquire(&path, Instant::now()) {
        return Ok((l, false));
    }
    say(format_args!(
        "waiting for the login in another certsh process"
    ));
    let l = crate::lock::acquire(
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
    let (listener, port) = listen()?;
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
        if let Some(amr) = &opts.amr {
            q.append_pair("amr", amr);
        }
        if let Some(age) = opts.max_age {
            q.append_pair("max_age", &age.to_string());
        }
    }
    let shown = sanitize::text(url.as_str());
    let how = if opts.no_browser {
        "open this URL in a browser"
    } else {
        "a browser opens; if it does not, open this URL"
    };
    say(format_args!(
        "log in to {} in the browser ({how}):\n  {shown}",
        cfg.profile.title
    ));
    if !opts.no_browser {
        open_browser(cfg, url.as_str());
    }
    let deadline = Instant::now() + cfg.login_timeout;
    say(format_args!(
        "waiting for the browser (up to {}; Ctrl-C to give up)",
        cert::human_duration(cfg.login_timeout.as_secs())
    ));
    let code = wait_for_code(cfg, &listener, &state, deadline)?;
    let api = Api::new(cfg, Instant::now() + cfg.refresh_deadline())?;
    let set = match api.authorization_code(&code.code, &redirect_uri, &verifier)? {
        Granted::Tokens(set) => set,
        Granted::Refused(detail) => {
            code.answer(FAILED_PAGE);
            return Err(Fixable::new(
                format!("{} refused the login: {detail}", api.token_url()),
                format!("try again: {}", session::login_command(cfg, "")),
            )
            .into());
        }
    };
    let Some(refresh_token) = set.refresh.as_ref() else {
        code.answer(FAILED_PAGE);
        return Err(Fixable::new(
            format!(
                "{} gave no refresh token, so the login cannot be kept",
                api.token_url()
            ),
            "check api.oauth2_client_id and the auth URL",
        )
        .into());
    };
    code.answer(DONE_PAGE);
    let claims = jwt::claims(set.access.token.expose()).unwrap_or_default();
    let new = Session::new(refresh_token, claims.clone());
    let old = {
        let _lock = store.lock(Instant::now() + cfg.refresh_deadline())?;
        let old = Session::read(&store.dir.join(session::SESSION_FILE));
        new.save(store)?;
        if let Some(cred) = credentials::current(cfg)?
            && cred.kind == Kind::Session(store.dir.join(session::SESSION_FILE))
        {
            // The certificate that follows needs no second token request.
            let _ = credentials::cache_access_token(
                &store.token_cache(),
                &cred.fingerprint,
                &set.access,
            );
        }
        old
    };
    if let Some(old) = old {
        // Best effort: the old session is gone here whatever the server says.
        let _ = api.revoke(&old.refresh_token());
    }
    say(format_args!(
        "logged in to {}{}",
        cfg.profile.title,
        describe(&claims)
    ));
    Ok(())
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

/// The first free port of [`PORTS`] on 127.0.0.1.
fn listen() -> Result<(TcpListener, u16)> {
    for port in PORTS {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            l.set_nonblocking(true)
                .context("cannot set up the login listener")?;
            return Ok((l, port));
        }
    }
    Err(Fixable::new(
        format!(
            "ports {}-{} on 127.0.0.1 are all in use, so the browser cannot come back to certsh",
            PORTS.start(),
            PORTS.end()
        ),
        "close what listens there (ss -ltnp), or log in with an API token: certsh login --api-token",
    )
    .into())
}

/// Starts `$BROWSER <url>`, else the platform's opener. Its output goes
/// nowhere: in the shim, stdout is git's.
fn open_browser(cfg: &Config, url: &str) {
    let program = cfg.browser.clone().unwrap_or_else(|| {
        if cfg!(target_os = "macos") {
            "open".into()
        } else {
            "xdg-open".into()
        }
    });
    let started = secret::command(&program)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = started {
        say(format_args!(
            "cannot start {}: {e}; open the URL above yourself",
            sanitize::text(&program.to_string_lossy())
        ));
    }
}

/// A browser that came back with a code, still waiting for its page.
struct Callback {
    code: Secret,
    stream: TcpStream,
}

impl Callback {
    fn answer(&self, page: &str) {
        respond(&self.stream, 200, page);
    }
}

const DONE_PAGE: &str = "<!doctype html><title>certsh</title><h1>Logged in</h1>\
    <p>You can close this tab and go back to the terminal.</p>";
const FAILED_PAGE: &str = "<!doctype html><title>certsh</title><h1>Login failed</h1>\
    <p>Go back to the terminal to see why.</p>";
const WRONG_STATE_PAGE: &str = "<!doctype html><title>certsh</title><h1>Not this login</h1>\
    <p>This link does not belong to the login certsh is waiting for. \
    Go back to the terminal and use the URL it shows.</p>";

/// Waits for the browser to come back with our `state` and a code. Anything
/// else (another state, no state, a favicon) is answered and ignored.
fn wait_for_code(
    cfg: &Config,
    listener: &TcpListener,
    state: &str,
    deadline: Instant,
) -> Result<Callback> {
    loop {
        if Instant::now() >= deadline {
            return Err(Fixable::new(
                format!(
                    "nobody completed the {} login in the browser within {}",
                    cfg.profile.title,
                    cert::human_duration(cfg.login_timeout.as_secs())
                ),
                format!(
                    "run `{}` again and finish the login in the browser",
                    session::login_command(cfg, "")
                ),
            )
            .into());
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => return Err(e).context("the login listener failed"),
        };
        let Some(target) = read_target(&stream) else {
            continue;
        };
        let params = query(&target);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get("state") != Some(state) {
            respond(&stream, 400, WRONG_STATE_PAGE);
            continue;
        }
        if let Some(err) = get("error") {
            respond(&stream, 200, FAILED_PAGE);
            let text = match get("error_description") {
                Some(d) => format!("{err}: {d}"),
                None => err.to_string(),
            };
            return Err(Fixable::new(
                format!(
                    "the login was not completed in the browser: {}",
                    sanitize::short(&text, 160)
                ),
                format!("try again: {}", session::login_command(cfg, "")),
            )
            .into());
        }
        match get("code").filter(|c| !c.is_empty()) {
            Some(code) => {
                return Ok(Callback {
                    code: Secret::new(code.to_string()),
                    stream,
                });
            }
            None => respond(&stream, 400, WRONG_STATE_PAGE),
        }
    }
}

/// The request target of a `GET`, or `None` for anything else.
fn read_target(stream: &TcpStream) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(CALLBACK_READ_TIMEOUT)).ok()?;
    let mut reader = BufReader::new(stream.take(16 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    // Read the rest of the head, so that the browser sees a clean answer.
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let mut parts = line.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(String::from)
}

/// The decoded query parameters of a request target.
fn query(target: &str) -> Vec<(String, String)> {
    reqwest::Url::parse("http://127.0.0.1")
        .and_then(|base| base.join(target))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn respond(mut stream: &TcpStream, status: u16, page: &str) {
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.flush();
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
    let api = Api::new(cfg, Instant::now() + cfg.refresh_deadline())?;
    let access = api.exchange(&cred)?;
    let store = Store::prepare(cfg)?;
    let path = {
        let _lock = store.lock(Instant::now() + cfg.refresh_deadline())?;
        let path = session::store_api_token(&store, &cred.token)?;
        if let Some(c) = credentials::current(cfg)?
            && c.kind == Kind::StoredApiToken(path.clone())
        {
            let _ = credentials::cache_access_token(&store.token_cache(), &c.fingerprint, &access);
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
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let old = tcgetattr(stdin).context("cannot read the terminal settings")?;
    let mut quiet = old.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(stdin, OptionalActions::Flush, &quiet).context("cannot turn off echo")?;
    let mut err = std::io::stderr();
    let _ = err.write_all(prompt.as_bytes()).and_then(|()| err.flush());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(stdin, OptionalActions::Now, &old);
    read.context("cannot read the API token from the terminal")?;
    Ok(line)
}

/// `certsh logout [--all]`: revoke the session (best effort), then delete
/// the session, the stored API token, the key and the certificate.
pub fn logout(profile: Option<&str>, all: bool) -> Result<ExitCode> {
    let configs = if all {
        profile::PROFILES
            .iter()
            .map(|p| Config::load(Some(p.name), &ProcessEnv))
            .collect::<Result<Vec<_>>>()?
    } else {
        vec![Config::load(profile, &ProcessEnv)?]
    };
    for cfg in &configs {
        logout_one(cfg);
    }
    Ok(error::success())
}

fn logout_one(cfg: &Config) {
    let stores = Store::existing(cfg);
    let mut sessions = vec![];
    for s in &stores {
        if let Some(session) = Session::read(&s.dir.join(session::SESSION_FILE)) {
            sessions.push(session.refresh_token());
        }
    }
    let mut revoked = 0;
    if !sessions.is_empty() {
        match Api::new(cfg, Instant::now() + cfg.refresh_deadline()) {
            Ok(api) => {
                for t in &sessions {
                    match api.revoke(t) {
                        Ok(()) => revoked += 1,
                        Err(e) => say(format_args!(
                            "warning: the session could not be revoked ({e:#}); it is deleted here anyway"
                        )),
                    }
                }
            }
            Err(e) => say(format_args!(
                "warning: {e:#}; the session is deleted here anyway"
            )),
        }
    }
    session::forget_all(cfg);
    let mut removed = 0;
    for s in &stores {
        // A refresh in progress finishes first; a stuck one does not stop
        // the logout.
        let _lock = s.lock(Instant::now() + Duration::from_secs(5)).ok();
        removed += s.remove_keys();
        credentials::forget_access_token(&s.token_cache());
    }
    let what = match (sessions.len(), revoked) {
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
    fn query_parameters_are_decoded() {
        let q = query("/?code=a%2Bb&state=x_y-z&error_description=no+way");
        assert_eq!(
            q,
            [
                ("code".to_string(), "a+b".to_string()),
                ("state".to_string(), "x_y-z".to_string()),
                ("error_description".to_string(), "no way".to_string()),
            ]
        );
        assert!(query("/favicon.ico").is_empty());
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

    #[test]
    fn step_up_names_one_command() {
        let home = tempfile::tempdir().unwrap();
        let env = std::collections::HashMap::from([(
            "HOME".to_string(),
            home.path().display().to_string(),
        )]);
        let cfg = Config::load(None, &env).unwrap();
        let s = StepUp {
            amr: Some("mfa".into()),
            max_age: None,
        };
        assert_eq!(s.command(&cfg), "certsh login --mfa");
        let cfg = Config::load(Some("upsun"), &env).unwrap();
        let s = StepUp {
            amr: Some("mfa".into()),
            max_age: Some(300),
        };
        assert_eq!(
            s.command(&cfg),
            "certsh --profile upsun login --mfa --max-age 300"
        );
    }
}
