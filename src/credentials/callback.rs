//! The loopback listener of the browser login: it waits on 127.0.0.1 for
//! the browser to come back from the authorize page with a code, answers
//! only connections of its own user where the system says whose they are
//! (`peer.rs`), and gives the browser the start page that sends it on, so
//! that the login's `state` and challenge are never in any argv. In paste
//! mode it also reads the terminal's prompt (`paste.rs`) while it waits.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::config::Config;
use crate::credentials::paste::{self, Pasted, Prompt};
use crate::credentials::peer::{self, Peer};
use crate::state::cert;
use crate::util::error::Fixable;
use crate::util::log;
use crate::util::platform;
use crate::util::sanitize;
use crate::util::secret::Secret;

/// The ports the official CLI listens on, and that the auth servers accept in
/// `redirect_uri`.
pub(crate) const PORTS: std::ops::RangeInclusive<u16> = 5000..=5010;
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
pub(crate) const START_PATH: &str = "/login";
/// How often the listener looks for the browser and for the deadline.
const POLL: Duration = Duration::from_millis(25);

/// The first free port of [`PORTS`] on 127.0.0.1.
pub(crate) fn listen() -> Result<(TcpListener, u16)> {
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
pub(crate) fn browser_start(
    port: u16,
    checked: bool,
    url: &str,
) -> Result<(String, Option<TempDir>)> {
    if checked {
        return Ok((format!("http://127.0.0.1:{port}{START_PATH}"), None));
    }
    let dir = platform::private_temp_dir("certsh-login-")
        .context("cannot create a private folder for the login page")?;
    let path = dir.path().join("login.html");
    platform::open_private(OpenOptions::new().write(true).create_new(true), &path)
        .and_then(|mut f| f.write_all(redirect_page(url).as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    let file_url = reqwest::Url::from_file_path(&path)
        .map_err(|()| anyhow::anyhow!("{} is not an absolute path", path.display()))?;
    Ok((file_url.into(), Some(dir)))
}

/// A page that sends the browser on to `url` at once (meta refresh, and
/// script for a browser that ignores it), with a link for the rest.
pub(crate) fn redirect_page(url: &str) -> String {
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

/// A code: from a browser that came back, still waiting for its page, or
/// pasted at the prompt (no page to answer).
pub(crate) struct Callback {
    pub(crate) code: Secret,
    pub(crate) stream: Option<TcpStream>,
}

impl Callback {
    pub(crate) fn answer(&self, page: &str) {
        if let Some(stream) = &self.stream {
            respond(stream, 200, None, page);
        }
    }

    /// Whether the code was pasted (a refused one may be pasted again).
    pub(crate) fn pasted(&self) -> bool {
        self.stream.is_none()
    }
}

pub(crate) const DONE_PAGE: &str = "<!doctype html><title>certsh</title><h1>Logged in</h1>\
    <p>You can close this tab and go back to the terminal.</p>";
pub(crate) const FAILED_PAGE: &str = "<!doctype html><title>certsh</title><h1>Login failed</h1>\
    <p>Go back to the terminal to see why.</p>";
const WRONG_STATE_PAGE: &str = "<!doctype html><title>certsh</title><h1>Not this login</h1>\
    <p>This link does not belong to the login certsh is waiting for. \
    Go back to the terminal and use the URL it shows.</p>";
const STRANGER_PAGE: &str = "<!doctype html><title>certsh</title><h1>Not your login</h1>\
    <p>This login belongs to another user of this computer.</p>";

/// What the listener is waiting for.
pub(crate) struct Expected<'a> {
    /// The login's `state`.
    pub(crate) state: &'a str,
    /// Whether peers are checked ([`peer::can_check`]).
    pub(crate) checked: bool,
    /// The authorize URL, for the start page.
    pub(crate) authorize: &'a str,
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
/// answered and ignored. With a `prompt`, a line pasted there is checked the
/// same way; one that is not this login's is refused with a line, and the
/// prompt asks again.
pub(crate) fn wait_for_code(
    cfg: &Config,
    listener: &TcpListener,
    expected: &Expected,
    deadline: Instant,
    mut prompt: Option<&mut Prompt>,
) -> Result<Callback> {
    let local = listener
        .local_addr()
        .context("the login listener has no address")?;
    let mut pending: Vec<Pending> = vec![];
    let mut told: Vec<Option<u32>> = vec![];
    loop {
        let now = Instant::now();
        if now >= deadline {
            let fix = if prompt.is_some() {
                format!(
                    "run `{}` again, finish the login in the browser and paste the address it ends on",
                    cfg.login_command(" --paste")
                )
            } else {
                format!(
                    "run `{}` again and finish the login in the browser",
                    cfg.login_command("")
                )
            };
            return Err(Fixable::new(
                format!(
                    "nobody completed the {} login in the browser within {}",
                    cfg.profile.title,
                    cert::human_duration(cfg.login_timeout.as_secs())
                ),
                fix,
            )
            .into());
        }
        if let Some(p) = prompt.as_deref_mut()
            && let Some(callback) = pasted(cfg, p, expected)?
        {
            return Ok(callback);
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
            log::line(&format!(
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
    let judged = judge(cfg, &params, expected);
    if judged.is_err() {
        respond(&stream, 200, None, FAILED_PAGE);
    }
    match judged? {
        Some(code) => Ok(Some(Callback {
            code,
            stream: Some(stream),
        })),
        None => {
            respond(&stream, 400, None, WRONG_STATE_PAGE);
            Ok(None)
        }
    }
}

/// The code in a callback's parameters when they carry this login's
/// `state`, `None` when they do not (another login's, or no code); an
/// `error` for this login ends it.
fn judge(cfg: &Config, params: &[(String, String)], expected: &Expected) -> Result<Option<Secret>> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("state") != Some(expected.state) {
        return Ok(None);
    }
    if let Some(err) = get("error") {
        let text = match get("error_description") {
            Some(d) => format!("{err}: {d}"),
            None => err.to_string(),
        };
        return Err(Fixable::new(
            format!(
                "the login was not completed in the browser: {}",
                sanitize::short(&text, 160)
            ),
            format!("try again: {}", cfg.login_command("")),
        )
        .into());
    }
    Ok(get("code")
        .filter(|c| !c.is_empty())
        .map(|c| Secret::new(c.to_string())))
}

/// A line pasted at the prompt, checked as a callback is. Whatever is
/// refused is said without the line itself, which may hold a code.
fn pasted(cfg: &Config, prompt: &mut Prompt, expected: &Expected) -> Result<Option<Callback>> {
    let Some(line) = prompt.poll() else {
        return Ok(None);
    };
    let code = match paste::parse(line.expose()) {
        Pasted::Code(code) => code,
        Pasted::Unreadable(why) => {
            prompt.again(why);
            return Ok(None);
        }
        Pasted::Query(params) => {
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            match (get("state"), get("code").filter(|c| !c.is_empty())) {
                // No claim to be any login's: a bare code (see `paste.rs`).
                (None, Some(code)) => Secret::new(code.to_string()),
                (Some(s), _) if s != expected.state => {
                    prompt.again(
                        "that address belongs to another login (its state is not this login's): \
                         paste the address the URL above led to",
                    );
                    return Ok(None);
                }
                _ => match judge(cfg, &params, expected)? {
                    Some(code) => code,
                    None => {
                        prompt.again("that address has no code in it");
                        return Ok(None);
                    }
                },
            }
        }
    };
    Ok(Some(Callback { code, stream: None }))
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

pub(crate) fn respond(mut stream: &TcpStream, status: u16, location: Option<&str>, page: &str) {
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(dir.path()), 0o700);
            assert_eq!(mode(&path), 0o600);
        }
        for p in [dir.path(), path.as_path()] {
            let meta = std::fs::metadata(p).unwrap();
            assert_eq!(platform::open_to_others(p, &meta), None, "{}", p.display());
        }
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
}
