//! The credentials the official CLI stored: the API token of
//! `auth:api-token-login` and the browser session of `login`, read where and
//! as the official CLI keeps them (docs/official-cli.md, "Stored
//! credentials"), so that a user who logged in there is logged in here.
//!
//! - Through its credential helper, `<config dir>/credential-helper`
//!   (`.exe` on Windows; a docker-credential helper it installs), when
//!   helpers are not turned off (`api.disable_credential_helpers`): `get`
//!   with the server URL on stdin answers `{"ServerURL", "Username",
//!   "Secret"}`. The token is at
//!   `<slug>/<session id>/api-token`; the session at `<slug>/<session id>`,
//!   its secret base64 of its JSON. Only that one helper is ever run, only if
//!   it is the user's alone (`config/trust.rs`), never with a secret on its
//!   command line, and without any token variable in its environment.
//! - Else in files: `<config dir>/.session/sess-cli-<session id>/api-token`
//!   and `.../sess-cli-<session id>/sess-cli-<session id>.json`.
//!
//! A session's access token is used while it is valid. When it is not, the
//! refresh token is used and the rotated tokens are stored back where they
//! came from, in the official format with every other field kept, so that
//! the official CLI is still logged in afterwards. A refused refresh token
//! is reported and nothing of the official CLI's is removed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::credentials::api::AccessToken;
use crate::state::cert::now;
use crate::util::error::Fixable;
use crate::util::secret::Secret;

/// How long the helper may take: a keychain that asks to be unlocked would
/// otherwise hold the connection.
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// An access token this close to its end is not used.
const ACCESS_MARGIN: u64 = 60;

/// Where a stored credential is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In the keychain, behind the credential helper, under this server URL.
    Helper { helper: PathBuf, url: String },
    /// In this file.
    File(PathBuf),
}

impl Place {
    /// Where it is, for messages.
    pub fn describe(&self, what: &str) -> String {
        match self {
            Place::Helper { helper, url } => {
                format!(
                    "the official CLI's {what} ({url} through {})",
                    helper.display()
                )
            }
            Place::File(path) => format!("the official CLI's {what} in {}", path.display()),
        }
    }
}

/// The folder of the session's files.
fn session_dir(cfg: &Config, id: &str) -> PathBuf {
    cfg.config_dir
        .join(".session")
        .join(format!("sess-cli-{id}"))
}

/// The credential helper, when it may be asked: turned on, present, a
/// file of the user's alone.
fn helper(cfg: &Config) -> Option<PathBuf> {
    if !cfg.official.helpers {
        return None;
    }
    // `credential-helper.exe` on Windows, as the official CLI installs it.
    let path = cfg
        .config_dir
        .join(format!("credential-helper{}", std::env::consts::EXE_SUFFIX));
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if let Err(why) = crate::config::trust::check_file(&path, &meta, &cfg.home) {
        crate::util::log::warn(&format!(
            "not running {}: {}",
            path.display(),
            why.describe(why.path == path)
        ));
        return None;
    }
    Some(path)
}

/// The API token `auth:api-token-login` stored, and where.
pub fn api_token(cfg: &Config) -> Option<(Secret, Place)> {
    let id = cfg.official.session_id.as_deref()?;
    if let Some(helper) = helper(cfg) {
        let url = format!("{}/{id}/api-token", cfg.official.slug);
        if let Some(item) = helper_get(&helper, &url).filter(|i| !i.secret.trim().is_empty()) {
            return Some((
                Secret::new(item.secret.trim().to_string()),
                Place::Helper { helper, url },
            ));
        }
    }
    let path = session_dir(cfg, id).join("api-token");
    let text = std::fs::read_to_string(&path).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| (Secret::new(token.to_string()), Place::File(path)))
}

/// The browser session `login` stored. No `Debug`: it holds tokens.
pub struct Session {
    data: Map<String, Value>,
    /// Where it is.
    pub place: Place,
    /// The name the helper's item is stored under (its `Username`), empty
    /// for a file.
    username: String,
}

impl Session {
    /// The session the official CLI would use now, if it has one with a
    /// refresh token or an access token.
    pub fn find(cfg: &Config) -> Option<Session> {
        let id = cfg.official.session_id.as_deref()?;
        if let Some(helper) = helper(cfg) {
            let url = format!("{}/{id}", cfg.official.slug);
            if let Some(item) = helper_get(&helper, &url)
                && let Some(data) = from_secret(&item.secret)
            {
                return Session::usable(data, Place::Helper { helper, url }, item.username);
            }
        }
        let path = session_dir(cfg, id).join(format!("sess-cli-{id}.json"));
        let text = std::fs::read_to_string(&path).ok()?;
        let data = serde_json::from_str::<Value>(&text).ok()?;
        Session::usable(data.as_object()?.clone(), Place::File(path), String::new())
    }

    fn usable(data: Map<String, Value>, place: Place, username: String) -> Option<Session> {
        let s = Session {
            data,
            place,
            username,
        };
        (s.refresh_token().is_some() || s.access_token().is_some()).then_some(s)
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.data
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The stored access token, while it has more than a minute left.
    pub fn access_token(&self) -> Option<AccessToken> {
        let token = self.text("accessToken")?;
        let expires = self.data.get("expires").and_then(Value::as_u64)?;
        (expires > now() + ACCESS_MARGIN).then(|| AccessToken {
            token: Secret::new(token.to_string()),
            expires_at: expires,
        })
    }

    /// The refresh token.
    pub fn refresh_token(&self) -> Option<Secret> {
        self.text("refreshToken")
            .map(|t| Secret::new(t.to_string()))
    }

    /// The user the session is for, when its access token says.
    pub fn user(&self) -> Option<String> {
        crate::credentials::jwt::claims(self.text("accessToken")?)?.sub
    }

    /// Stores a refresh's tokens back where the session came from, in the
    /// official format, every other field kept; in the keychain under the
    /// name the item has, so that it is replaced rather than joined by a
    /// second item the official CLI may not read.
    pub fn store_renewed(&mut self, access: &AccessToken, refresh: Option<&Secret>) -> Result<()> {
        self.data.insert(
            "accessToken".into(),
            Value::String(access.token.expose().to_string()),
        );
        self.data
            .insert("expires".into(), Value::from(access.expires_at));
        if let Some(r) = refresh {
            self.data
                .insert("refreshToken".into(), Value::String(r.expose().to_string()));
        }
        let json = serde_json::to_string(&self.data).context("cannot encode the session")?;
        match &self.place {
            Place::File(path) => write_private(path, json.as_bytes()),
            Place::Helper { helper, url } => {
                let secret = base64::engine::general_purpose::STANDARD.encode(json);
                helper_store(helper, url, &self.username, &secret)
            }
        }
    }
}

/// A session secret of the credential helper: base64 of its JSON.
fn from_secret(secret: &str) -> Option<Map<String, Value>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .as_object()
        .cloned()
}

/// Replaces `path` by `bytes`, 0600, atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a session file has a folder")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    crate::util::platform::set_mode(tmp.path(), 0o600)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Runs `helper <verb>` with `input` on stdin; its stdout, or an error when
/// it fails or takes too long.
fn run_helper(helper: &Path, verb: &str, input: &str) -> Result<String> {
    let mut child = crate::util::secret::command(helper)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", helper.display()))?;
    let mut stdin = child.stdin.take().context("the helper's stdin")?;
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut stdout = child.stdout.take().context("the helper's stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + HELPER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "{} {verb} did not answer within {} s",
                helper.display(),
                HELPER_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(HelperFailed {
            what: format!("{} {verb} failed ({status})", helper.display()),
            said: helper_said(&out),
        }
        .into());
    }
    Ok(out)
}

/// What a failed helper said, for messages: the first line of its stdout,
/// where the docker-credential helpers print their error (stderr, which a
/// crash fills with a Go trace, is not read); nothing if that line carries
/// an answer, which holds a secret.
fn helper_said(out: &str) -> String {
    let first = out.lines().next().unwrap_or("");
    if first.contains("\"Secret\"") {
        return String::new();
    }
    crate::util::sanitize::short(first, 200)
}

/// A helper that ran and failed, with the first line it printed.
#[derive(Debug)]
struct HelperFailed {
    what: String,
    said: String,
}

impl std::fmt::Display for HelperFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.said.as_str() {
            "" => write!(f, "{}", self.what),
            said => write!(f, "{}: {said}", self.what),
        }
    }
}

impl std::error::Error for HelperFailed {}

/// What the helpers print when nothing is stored under a URL: the one
/// failure that means "not logged in" (the official CLI looks for it too).
const NOT_FOUND: &str = "credentials not found";

/// What the helper's `get` answered. No `Debug`: it holds a secret.
struct Item {
    username: String,
    secret: String,
}

/// The item stored under `url`, or `None` when there is none or the
/// helper cannot say (the official CLI is then not logged in for certsh).
/// A helper that fails otherwise than with "not found" (the secretservice
/// helper crashes on an item in a locked keyring) is a warning, once per
/// URL and run.
fn helper_get(helper: &Path, url: &str) -> Option<Item> {
    match run_helper(helper, "get", url) {
        Ok(out) => parse_item(&out),
        Err(e) => {
            let not_found = e
                .downcast_ref::<HelperFailed>()
                .is_some_and(|f| f.said.to_lowercase().contains(NOT_FOUND));
            if !not_found && first_warning(url) {
                crate::util::log::warn(&format!(
                    "cannot read the official CLI's {url} from its keychain: {e}; a locked \
                     keychain answers nothing until it is unlocked"
                ));
            }
            None
        }
    }
}

/// Whether `url` has had no warning yet in this run.
fn first_warning(url: &str) -> bool {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.iter().any(|u| u == url) {
        return false;
    }
    warned.push(url.to_string());
    true
}

fn parse_item(out: &str) -> Option<Item> {
    let json: Value = serde_json::from_str(out).ok()?;
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(String::from);
    Some(Item {
        username: text("Username").unwrap_or_default(),
        secret: text("Secret")?,
    })
}

/// Stores `secret` under `url` for `username`: the name the item already
/// has. The secretservice helper keys its items by server URL *and* user
/// name, and refuses an empty name; only where the item had none does the
/// login name stand in, read as the official CLI reads it (`$USER`, on
/// Windows `%USERNAME%`).
fn helper_store(helper: &Path, url: &str, username: &str, secret: &str) -> Result<()> {
    let user = match username {
        "" => std::env::var(crate::util::platform::USER_NAME_VARIABLE).unwrap_or_default(),
        name => name.to_string(),
    };
    let input = serde_json::json!({"ServerURL": url, "Username": user, "Secret": secret});
    run_helper(helper, "store", &input.to_string()).map(|_| ())
}

/// The error for a session whose refresh token the auth server refused:
/// nothing of the official CLI's is removed; its own login fixes it.
pub fn session_ended(cfg: &Config, place: &Place, token_url: &str, detail: &str) -> Fixable {
    Fixable::new(
        format!(
            "{} has ended: {token_url} refused its refresh token: {detail}",
            place.describe("browser session")
        ),
        format!(
            "log in again with the official CLI, or with {}",
            cfg.login_command("")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_helper_secret_is_base64_of_the_session_json() {
        let json = r#"{"accessToken":"a","expires":1,"refreshToken":"r","tokenType":"bearer"}"#;
        let secret = base64::engine::general_purpose::STANDARD.encode(json);
        let data = from_secret(&secret).unwrap();
        assert_eq!(data["refreshToken"], "r");
        assert_eq!(data["tokenType"], "bearer");
        assert!(from_secret("not base64!").is_none());
    }

    #[test]
    fn a_helper_answer_gives_the_items_user_name_and_secret() {
        let item = parse_item(r#"{"ServerURL":"upsun/default","Username":"alice","Secret":"s3"}"#)
            .unwrap();
        assert_eq!(
            (item.username.as_str(), item.secret.as_str()),
            ("alice", "s3")
        );
        let item = parse_item(r#"{"ServerURL":"upsun/default","Secret":"s3"}"#).unwrap();
        assert_eq!(item.username, "");
        assert!(parse_item(r#"{"ServerURL":"upsun/default","Username":"alice"}"#).is_none());
        assert!(parse_item("credentials not found in native keychain").is_none());
    }

    #[test]
    fn a_failed_helper_is_quoted_by_its_first_line_but_never_an_answer() {
        assert_eq!(
            helper_said("Cannot create an item in a locked collection\nmore\n"),
            "Cannot create an item in a locked collection"
        );
        assert_eq!(helper_said("\x1b]0;title\x07bad\n"), "?]0;title?bad");
        assert_eq!(
            helper_said(r#"{"ServerURL":"u","Username":"me","Secret":"s3cr3t"}"#),
            ""
        );
        assert_eq!(helper_said(""), "");
    }
}
