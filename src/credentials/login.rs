//! Logging in: the browser login (OAuth authorization code with PKCE), an
//! API token given once, logging out, and logging in from inside the shim.
//!
//! Users without an API token log in through the browser, where the cloud
//! asks for their second factor. certsh listens on the first free port of
//! 127.0.0.1:5000-5010 (the official CLI's ports, which the auth server
//! accepts as redirect targets), sends the browser to the authorize page and
//! waits for it to come back with a code, which it exchanges for a refresh
//! token: the session (see `credentials/stored.rs`).
//!
//! Every local user can read a program's argv and connect to 127.0.0.1, so
//! the login's `state` and PKCE challenge are never in the browser's argv
//! (it gets a start page or a private file that sends it on), and on Linux
//! the listener answers only connections of its own user (`credentials/peer.rs`).
//! Otherwise another user could send a code for her own account with the
//! victim's challenge, and the victim's pushes would go out as her.
//!
//! Inside the shim, a login happens only at a terminal (`/dev/tty` opens and
//! stderr is one), never reads stdin (it carries the git protocol), and is
//! done by one process at a time under a lock: parallel git processes wait
//! for that one login instead of opening a browser tab each.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufRead, ErrorKind, IsTerminal, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use ssh_key::rand_core::{OsRng, RngCore};
use tempfile::TempDir;

use crate::config::{ApiToken, Config};
use crate::credentials::api::{self, Api, Granted};
use crate::credentials::jwt;
use crate::credentials::need_login::NeedLogin;
use crate::credentials::peer::{self, Peer};
use crate::credentials::refresh::{self, Want};
use crate::credentials::source::{self, Credential, Kind};
use crate::credentials::stored::{self, Session};
use crate::state::cert::{self, now};
use crate::state::lock::Lock;
use crate::state::store::{Cached, Store};
use crate::util::error::{self, Fixable};
use crate::util::log;
use crate::util::sanitize;
use crate::util::secret::{self, Secret};

/// The ports the official CLI listens on, and that the auth servers accept in
/// `redirect_uri`.
const PORTS: std::ops::RangeInclusive<u16> = 5000..=5010;
/// How long one connection to the listener may take to send its request,
/// and to take its answer. A browser sends its request at once.
const CONNECTION_TIME: Duration = Duration::from_secs(5);
/// How many connections from other users (or untraceable ones) are read at
/// once; more are closed unread. The user's own are always read.
const MAX_STRANGERS: usize = 16;
/// How many new connections one round of the listener takes, so that a flood
/// of them cannot keep it from its deadline.
const ACCEPTS_PER_ROUND: usize = 64;
/// The most a request head may hold.
const MAX_HEAD: usize = 16 * 1024;
/// The listener's start page, which sends the user's browser on to the
/// authorize URL (see [`browser_start`]).
const START_PATH: &str = "/login";
/// How often the listener looks for the browser and for the deadline.
const POLL: Duration = Duration::from_millis(25);
/// The file the shim's logins are serialised on, in the state folder.
const LOGIN_LOCK: &str = "login.lock";

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
    let (listener, port) = listen()?;
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
    // Held until the login ends: the redirect file's folder, if any.
    let mut _start_file = None;
    if !opts.no_browser {
        match browser_start(port, checked, url.as_str()) {
            Ok((start, file)) => {
                _start_file = file;
                open_browser(cfg, &start);
            }
            Err(e) => say(format_args!("{e:#}; open the URL above yourself")),
        }
    }
    let deadline = Instant::now() + cfg.login_timeout;
    say(format_args!(
        "waiting for the browser (up to {}; Ctrl-C to give up)",
        cert::human_duration(cfg.login_timeout.as_secs())
    ));
    let expected = Expected {
        state: &state,
        checked,
        authorize: url.as_str(),
    };
    let code = wait_for_code(cfg, &listener, &expected, deadline)?;
    let api = Api::for_command(cfg)?;
    let set = match api.authorization_code(&code.code, &redirect_uri, &verifier)? {
        Granted::Tokens(set) => set,
        Granted::Refused(detail) => {
            code.answer(FAILED_PAGE);
            return Err(Fixable::new(
                format!("{} refused the login: {detail}", api.token_url()),
                format!("try again: {}", cfg.profile.login_command("")),
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
            cfg.profile
                .login_command("")
                .replacen(" login", " logout", 1)
        ));
    }
    Ok(())
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

/// What the browser is started with instead of the authorize URL, whose
/// `state` and PKCE challenge would be in its argv, which every local user
/// can read (`ps`). Where the listener can tell who connects, its own start
/// page, which sends only the user's browser on; elsewhere a private file
/// (0600, in a new 0700 folder) that does the same. The folder goes when the
/// returned guard is dropped, at the end of the login.
///
/// Not a file everywhere: a browser confined by its package (Ubuntu's snap
/// Firefox) cannot read hidden folders in HOME nor the system's `/tmp`.
fn browser_start(port: u16, checked: bool, url: &str) -> Result<(String, Option<TempDir>)> {
    if checked {
        return Ok((format!("http://127.0.0.1:{port}{START_PATH}"), None));
    }
    let dir = tempfile::Builder::new()
        .prefix("certsh-login-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("cannot create a private folder for the login page")?;
    let path = dir.path().join("login.html");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(redirect_page(url).as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    let file_url = reqwest::Url::from_file_path(&path)
        .map_err(|()| anyhow::anyhow!("{} is not an absolute path", path.display()))?;
    Ok((file_url.into(), Some(dir)))
}

/// A page that sends the browser on to `url` at once (meta refresh, and
/// script for a browser that ignores it), with a link for the rest.
fn redirect_page(url: &str) -> String {
    let attr = url
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let script = serde_json::to_string(url)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    format!(
        "<!doctype html><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">\
         <meta http-equiv=\"refresh\" content=\"0; url={attr}\"><title>certsh</title>\
         <script>location.replace({script})</script>\
         <p><a href=\"{attr}\">Go on to the login page</a></p>"
    )
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
        respond(&self.stream, 200, None, page);
    }
}

const DONE_PAGE: &str = "<!doctype html><title>certsh</title><h1>Logged in</h1>\
    <p>You can close this tab and go back to the terminal.</p>";
const FAILED_PAGE: &str = "<!doctype html><title>certsh</title><h1>Login failed</h1>\
    <p>Go back to the terminal to see why.</p>";
const WRONG_STATE_PAGE: &str = "<!doctype html><title>certsh</title><h1>Not this login</h1>\
    <p>This link does not belong to the login certsh is waiting for. \
    Go back to the terminal and use the URL it shows.</p>";
const STRANGER_PAGE: &str = "<!doctype html><title>certsh</title><h1>Not your login</h1>\
    <p>This login belongs to another user of this computer.</p>";

/// What the listener is waiting for.
struct Expected<'a> {
    /// The login's `state`.
    state: &'a str,
    /// Whether peers are checked ([`peer::can_check`]).
    checked: bool,
    /// The authorize URL, for the start page.
    authorize: &'a str,
}

/// A connection whose request head is still coming in.
struct Pending {
    stream: TcpStream,
    peer: Peer,
    head: Vec<u8>,
    /// The end of this connection's time, whatever it sends meanwhile.
    until: Instant,
}

/// What a look at a [`Pending`] connection found.
enum Arrived {
    /// Nothing more yet.
    Waiting,
    /// The request head is in: the target of a `GET` (`None`: another
    /// method, or no request line).
    Head(Option<String>),
    /// Closed, broken, too large or out of time: dropped.
    Gone,
}

impl Pending {
    fn read(&mut self, now: Instant) -> Arrived {
        let mut buf = [0u8; 2048];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Arrived::Gone,
                Ok(n) => {
                    self.head.extend_from_slice(&buf[..n]);
                    if let Some(target) = request_target(&self.head) {
                        return Arrived::Head(target);
                    }
                    if self.head.len() > MAX_HEAD {
                        return Arrived::Gone;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Arrived::Gone,
            }
        }
        if now >= self.until {
            Arrived::Gone
        } else {
            Arrived::Waiting
        }
    }
}

/// Waits for the browser to come back with our `state` and a code.
///
/// Connections are read side by side without blocking, each for at most
/// [`CONNECTION_TIME`]: one that trickles a byte at a time neither stops the
/// browser's nor keeps the login (and `login.lock`) past its deadline. Where
/// peers can be checked, a connection from another user gets a 403 and
/// changes nothing, whatever it says; at most [`MAX_STRANGERS`] of those are
/// read at once. The user's own requests for the start page are sent on to
/// the authorize page; anything else (another state, no state, a favicon) is
/// answered and ignored.
fn wait_for_code(
    cfg: &Config,
    listener: &TcpListener,
    expected: &Expected,
    deadline: Instant,
) -> Result<Callback> {
    let local = listener
        .local_addr()
        .context("the login listener has no address")?;
    let mut pending: Vec<Pending> = vec![];
    let mut told: Vec<Option<u32>> = vec![];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Fixable::new(
                format!(
                    "nobody completed the {} login in the browser within {}",
                    cfg.profile.title,
                    cert::human_duration(cfg.login_timeout.as_secs())
                ),
                format!(
                    "run `{}` again and finish the login in the browser",
                    cfg.profile.login_command("")
                ),
            )
            .into());
        }
        for _ in 0..ACCEPTS_PER_ROUND {
            let (stream, from) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Nothing waiting, or a client gone before it was taken, or
                // no file descriptor left: look again at the next round.
                Err(_) => break,
            };
            let peer = if expected.checked {
                peer::owner(from, local)
            } else {
                Peer::Unknown
            };
            let strangers = pending.iter().filter(|p| p.peer != Peer::Ours).count();
            if (peer != Peer::Ours && strangers >= MAX_STRANGERS)
                || stream.set_nonblocking(true).is_err()
            {
                continue;
            }
            pending.push(Pending {
                stream,
                peer,
                head: vec![],
                until: (now + CONNECTION_TIME).min(deadline),
            });
        }
        let mut i = 0;
        while i < pending.len() {
            match pending[i].read(now) {
                Arrived::Waiting => i += 1,
                Arrived::Gone | Arrived::Head(None) => {
                    pending.swap_remove(i);
                }
                Arrived::Head(Some(target)) => {
                    let p = pending.swap_remove(i);
                    if let Some(callback) = answer(cfg, p, &target, expected, &mut told)? {
                        return Ok(callback);
                    }
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Answers one request; a code for our `state` from the user is the
/// callback, an `error` for it ends the login.
fn answer(
    cfg: &Config,
    p: Pending,
    target: &str,
    expected: &Expected,
    told: &mut Vec<Option<u32>>,
) -> Result<Option<Callback>> {
    let stream = p.stream;
    // The pages are small; a client that does not read them gets no more
    // than this.
    if stream.set_nonblocking(false).is_err()
        || stream.set_write_timeout(Some(CONNECTION_TIME)).is_err()
    {
        return Ok(None);
    }
    if let Peer::Stranger(uid) = p.peer {
        respond(&stream, 403, None, STRANGER_PAGE);
        if !told.contains(&uid) {
            told.push(uid);
            say(format_args!(
                "refused a login callback from {}",
                match uid {
                    Some(uid) => format!("another user (uid {uid})"),
                    None => "a connection that no process of yours holds".to_string(),
                }
            ));
        }
        return Ok(None);
    }
    let (path, params) = split_target(target);
    if path == START_PATH && p.peer == Peer::Ours {
        respond(
            &stream,
            302,
            Some(expected.authorize),
            &redirect_page(expected.authorize),
        );
        return Ok(None);
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("state") != Some(expected.state) {
        respond(&stream, 400, None, WRONG_STATE_PAGE);
        return Ok(None);
    }
    if let Some(err) = get("error") {
        respond(&stream, 200, None, FAILED_PAGE);
        let text = match get("error_description") {
            Some(d) => format!("{err}: {d}"),
            None => err.to_string(),
        };
        return Err(Fixable::new(
            format!(
                "the login was not completed in the browser: {}",
                sanitize::short(&text, 160)
            ),
            format!("try again: {}", cfg.profile.login_command("")),
        )
        .into());
    }
    match get("code").filter(|c| !c.is_empty()) {
        Some(code) => Ok(Some(Callback {
            code: Secret::new(code.to_string()),
            stream,
        })),
        None => {
            respond(&stream, 400, None, WRONG_STATE_PAGE);
            Ok(None)
        }
    }
}

/// The request target of a complete request head (`Some(None)` for a head
/// that is not a `GET`), or `None` while the head is incomplete.
fn request_target(head: &[u8]) -> Option<Option<String>> {
    let text = String::from_utf8_lossy(head);
    if !(text.contains("\r\n\r\n") || text.contains("\n\n")) {
        return None;
    }
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    Some(match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Some(target.to_string()),
        _ => None,
    })
}

/// The path and the decoded query parameters of a request target.
fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    reqwest::Url::parse("http://127.0.0.1")
        .and_then(|base| base.join(target))
        .map(|u| (u.path().to_string(), u.query_pairs().into_owned().collect()))
        .unwrap_or_default()
}

fn respond(mut stream: &TcpStream, status: u16, location: Option<&str>, page: &str) {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        403 => "Forbidden",
        _ => "Bad Request",
    };
    let location = location
        .map(|l| format!("Location: {l}\r\n"))
        .unwrap_or_default();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\n{location}Content-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         Connection: close\r\n\r\n{page}",
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
/// `configs`: the profile's, or every profile's for `--all`.
pub fn logout(configs: &[Config]) -> Result<ExitCode> {
    for cfg in configs {
        logout_one(cfg);
    }
    Ok(error::success())
}

fn logout_one(cfg: &Config) {
    let stores = Store::existing(cfg);
    let mut sessions = 0;
    let mut revocable = vec![];
    for s in &stores {
        if let Some(session) = Session::read(&s.dir.join(stored::SESSION_FILE)) {
            sessions += 1;
            let bound = session.token_url(cfg);
            if stored::may_revoke(cfg, &bound) {
                revocable.push(session.refresh_token());
            } else {
                say(format_args!(
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
    stored::forget_all(cfg);
    let mut removed = 0;
    for s in &stores {
        // A refresh in progress finishes first; a stuck one does not stop
        // the logout.
        let _lock = s.lock(Instant::now() + Duration::from_secs(5)).ok();
        removed += s.remove_keys();
        stored::forget_access_token(&s.token_cache());
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
    fn query_parameters_are_decoded() {
        let (path, q) = split_target("/?code=a%2Bb&state=x_y-z&error_description=no+way");
        assert_eq!(path, "/");
        assert_eq!(
            q,
            [
                ("code".to_string(), "a+b".to_string()),
                ("state".to_string(), "x_y-z".to_string()),
                ("error_description".to_string(), "no way".to_string()),
            ]
        );
        assert_eq!(
            split_target("/favicon.ico"),
            ("/favicon.ico".into(), vec![])
        );
        assert_eq!(split_target("/login").0, START_PATH);
    }

    #[test]
    fn the_browser_gets_the_start_page_or_a_private_file_that_redirects() {
        let url = "https://auth.example/oauth2/authorize?a=1&state=s\"<x>";
        let (start, file) = browser_start(5003, true, url).unwrap();
        assert_eq!(start, "http://127.0.0.1:5003/login");
        assert!(file.is_none());

        let (start, dir) = browser_start(5003, false, url).unwrap();
        let dir = dir.expect("a folder for the file");
        let path = dir.path().join("login.html");
        assert_eq!(
            start,
            reqwest::Url::from_file_path(&path).unwrap().to_string()
        );
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&path), 0o600);
        let page = std::fs::read_to_string(&path).unwrap();
        let attr = "https://auth.example/oauth2/authorize?a=1&amp;state=s&quot;&lt;x&gt;";
        assert!(
            page.contains(&format!("http-equiv=\"refresh\" content=\"0; url={attr}\"")),
            "{page}"
        );
        assert!(
            page.contains(
                r#"location.replace("https://auth.example/oauth2/authorize?a=1&state=s\"\u003cx>")"#
            ),
            "{page}"
        );
        let folder = dir.path().to_path_buf();
        drop(dir);
        assert!(!folder.exists(), "removed after the login");
    }

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
    fn a_request_head_is_complete_at_its_blank_line() {
        assert_eq!(
            request_target(b"GET /?code=1 HTTP/1.1\r\nHost: x\r\n"),
            None
        );
        assert_eq!(
            request_target(b"GET /?code=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Some("/?code=1".into()))
        );
        assert_eq!(
            request_target(b"POST / HTTP/1.1\n\n"),
            Some(None),
            "only GET"
        );
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
