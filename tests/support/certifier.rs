//! A test stand-in for the Magento Cloud / Platform.sh "certifier" HTTP API.
//!
//! It speaks the contract certsh depends on, on a loopback port, with a real
//! ed25519 certificate authority, so that the certificates it hands out are
//! accepted by a real `sshd` that trusts [`Certifier::ca_public_key`]:
//!
//! - `POST /oauth2/token` exchanges an API token (Basic client auth with an
//!   empty secret) for a JWT-shaped access token;
//! - `POST /ssh` signs the posted public key into a short-lived user
//!   certificate for a valid bearer token;
//! - `GET /ssh/authority` lists the CA public key;
//! - `GET /oauth2/authorize` is an approving user: it checks the request
//!   (client id, loopback `redirect_uri`, PKCE S256) and redirects (302) to
//!   `redirect_uri` with a code and the `state`; the code is exchanged at
//!   `/oauth2/token` (`grant_type=authorization_code`, verifier checked) for
//!   an access token and a refresh token, which `grant_type=refresh_token`
//!   rotates; `POST /oauth2/revoke` forgets a refresh token;
//! - in step-up mode ([`Certifier::set_step_up`]), `POST /ssh` answers 401
//!   `insufficient_user_authentication` to a token without `mfa` in `amr`;
//! - anything else is a 404.
//!
//! An API token may have principals of its own
//! ([`Certifier::add_api_token_with_principals`]), as two accounts of the
//! real cloud are two users with different access; signatures are counted per
//! API token ([`Certifier::signatures_for`]).
//!
//! Tests can break the server on purpose ([`Certifier::set_fault`]), change
//! what it signs (validity, principals, MFA claim), count requests and read a
//! log of every request, all while the server threads are running.
//!
//! The HTTP/1.1 server is deliberately tiny and built on `std` only: one
//! thread per connection, every answer carries `Connection: close`, and
//! requests are parsed by hand (request line, headers, `Content-Length`
//! body). It is a test fixture, not a web server: it trusts its clients to be
//! roughly well-behaved and bounds everything else by size and time limits.
//!
//! This file is `mod`-included from several test crates and the `testbed`
//! example, so it holds no `#[test]`s and not every item is used everywhere.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;
use sha2::{Digest, Sha256};
use ssh_key::certificate::{Builder, CertType, Certificate};
use ssh_key::rand_core::{OsRng, RngCore};
use ssh_key::{Algorithm, PrivateKey, PublicKey};

/// An API token the certifier accepts from the start.
pub const API_TOKEN: &str = "certsh-test-api-token-0123456789";

/// The OAuth client id expected in the token request's Basic authorization,
/// unless changed with [`Certifier::set_client_id`].
pub const DEFAULT_CLIENT_ID: &str = "magento-cloud-cli";

/// The user id (`sub` claim, and key id of every certificate) of the one user
/// the certifier knows.
pub const USER_ID: &str = "5f0c8e5a-certsh-test-user";

/// The principal signed into certificates unless changed with
/// [`Certifier::set_principals`].
pub const DEFAULT_PRINCIPAL: &str = "certsh-test";

/// The body of the [`Fault::ServerErrorHtml`] answer.
pub const HTML_502_BODY: &str = "<html><body><h1>502 Bad Gateway</h1></body></html>";

/// The `error_description` of the [`Fault::TerminalEscapes`] answer: an OSC
/// window-title change, colour changes and a screen clear, which a client must
/// not pass through to a terminal unescaped. "pwned" is the marker a test can
/// look for in a window title, and "certifier exploded" the readable text.
pub const TERMINAL_ESCAPES_DESCRIPTION: &str =
    "\u{1b}]0;pwned\u{7}\u{1b}[31mcertifier exploded\u{1b}[0m\u{1b}[2J\r\u{8}";

/// Certificate validity (seconds) unless changed with [`Certifier::set_validity`].
pub const DEFAULT_VALIDITY_SECS: u64 = 3600;

/// Access token lifetime (seconds) unless changed with
/// [`Certifier::set_expires_in`].
pub const DEFAULT_EXPIRES_IN_SECS: u64 = 900;

/// How far `valid_after` is backdated, to absorb clock skew as the real
/// certifier does.
const BACKDATE_SECS: u64 = 30;

/// How long a [`Fault::Hang`] connection is held open at most. Long enough for
/// any client timeout under test; short enough that a leaked thread goes away
/// by itself. Dropping the [`Certifier`] ends the hang sooner.
const HANG_SECS: u64 = 300;

/// Per-connection socket read timeout: a client that stops sending mid-request
/// must not pin a thread forever.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Size limits for a request head and body; far above what certsh sends.
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A way to misbehave, set with [`Certifier::set_fault`] (for `POST /ssh`) or
/// [`Certifier::set_token_fault`] (for `POST /oauth2/token`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behave correctly.
    #[default]
    None,
    /// 502 with an HTML body (`Content-Type: text/html`), as a proxy in front
    /// of a dead backend answers.
    ServerErrorHtml,
    /// 200 with a `certificate` field that is not a certificate.
    GarbageCertificate,
    /// 200 with a valid certificate for a different, freshly generated key.
    OtherKey,
    /// 200 with a certificate whose validity window ended an hour ago.
    Expired,
    /// 200 with a certificate whose validity starts an hour from now.
    NotYetValid,
    /// 401 `invalid_token` with a `WWW-Authenticate` header, whatever the
    /// bearer token.
    Unauthorized,
    /// Read the request, then never answer: the connection is held open until
    /// the certifier is dropped (or a few minutes pass).
    Hang,
    /// 500 whose JSON `error_description` is [`TERMINAL_ESCAPES_DESCRIPTION`].
    TerminalEscapes,
    /// Answer correctly, after this many milliseconds.
    SlowMs(u64),
    /// 302 to `http://127.0.0.2:<port>/ssh`: another host, which must never
    /// see a request.
    RedirectToPort(u16),
    /// 200 with a body of 2 MiB.
    Oversized,
    /// 200 with a plain-text body.
    NotJson,
    /// 403 `access_denied`: the account may not have what it asks for.
    Forbidden,
    /// 429 with `Retry-After: 60`: too many requests.
    TooManyRequests,
    /// For `POST /oauth2/token` only: 400 `invalid_grant` with "Invalid API
    /// token", the older auth server's refusal of an API token as the
    /// official CLI recognises it.
    InvalidGrant,
    /// For `POST /oauth2/token` only: 401 `request_unauthorized` whose
    /// `error_hint` names the API token, the newer auth server's refusal as
    /// the official CLI recognises it.
    RequestUnauthorized,
}

/// One request as the certifier received it, for tests to assert on where
/// tokens went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target as sent (path and any query string).
    pub path: String,
    /// The `Authorization` header value, if any.
    pub authorization: Option<String>,
    /// The body, decoded lossily as UTF-8.
    pub body: String,
    /// All headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header with this name (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
}

/// A running test certifier on `127.0.0.1`. Dropping it stops the server.
pub struct Certifier {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

/// What the test changes while the server runs.
struct Settings {
    fault: Fault,
    token_fault: Fault,
    validity_secs: u64,
    expires_in_secs: u64,
    principals: Vec<String>,
    mfa: bool,
    client_id: String,
    api_tokens: HashSet<String>,
    /// Principals signed for certificates obtained with these API tokens,
    /// instead of `principals`.
    token_principals: HashMap<String, Vec<String>>,
    /// Step-up mode: `POST /ssh` wants `mfa` in the token's `amr`, and a
    /// login at most this old when set.
    step_up: Option<Option<u64>>,
    /// The methods a step-up asks for (`["mfa"]` unless set).
    step_up_methods: Vec<String>,
    /// The step-up's `max_age` goes in the `WWW-Authenticate` challenge
    /// only (RFC 9470), not in the body.
    step_up_age_in_challenge: bool,
    /// Seconds added to the clock in the `Date` header.
    clock_offset: i64,
}

/// A login the browser completed: an authorization code not yet exchanged,
/// or a refresh token.
#[derive(Clone)]
struct Login {
    challenge: String,
    redirect_uri: String,
    amr: Vec<String>,
    auth_time: u64,
    /// The API token logged in with, for an `api_token` grant.
    api_token: Option<String>,
}

/// An access token the certifier issued.
struct Issued {
    expires_at: u64,
    auth_time: u64,
    amr: Vec<String>,
    api_token: Option<String>,
}

/// State shared between the test thread and the server threads.
struct Shared {
    ca: PrivateKey,
    ca_public: String,
    settings: Mutex<Settings>,
    issued: Mutex<HashMap<String, Issued>>,
    /// Every access token ever issued, revoked ones included (for secret
    /// scans: a revoked token must not leak either).
    every_issued: Mutex<Vec<String>>,
    log: Mutex<Vec<Request>>,
    sign_requests: AtomicUsize,
    /// Certificates signed, per API token.
    signed_for: Mutex<HashMap<String, usize>>,
    token_requests: AtomicUsize,
    /// Authorization codes not yet exchanged.
    codes: Mutex<HashMap<String, Login>>,
    /// Refresh tokens still valid.
    refresh_tokens: Mutex<HashMap<String, Login>>,
    /// Refresh tokens revoked through `/oauth2/revoke`.
    revoked: Mutex<Vec<String>>,
    authorize_requests: AtomicUsize,
    refresh_grants: AtomicUsize,
    /// Set on drop; the accept loop checks it after every wake-up.
    shutdown: AtomicBool,
    /// Also set on drop, under a mutex so hanging connections can wait on
    /// `stopped_cv` and end as soon as the certifier goes away.
    stopped: Mutex<bool>,
    stopped_cv: Condvar,
}

/// The claims of the JWT-shaped access token; field order is the order
/// serialised.
#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    amr: &'a [String],
    jti: String,
    exp: u64,
    auth_time: u64,
}

/// The `token-claims@platform.sh` extension value.
#[derive(Serialize)]
struct TokenClaims<'a> {
    auth_time: u64,
    amr: &'a [String],
}

/// An HTTP answer before it is written.
struct Response {
    status: u16,
    content_type: &'static str,
    extra_headers: Vec<(&'static str, String)>,
    body: String,
}

impl Response {
    fn json(status: u16, value: serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            extra_headers: Vec::new(),
            body: value.to_string(),
        }
    }

    fn error(status: u16, error: &str, description: &str) -> Response {
        Response::json(
            status,
            serde_json::json!({ "error": error, "error_description": description }),
        )
    }

    fn invalid_token(description: &str) -> Response {
        let mut response = Response::error(401, "invalid_token", description);
        response.extra_headers.push((
            "WWW-Authenticate",
            "Bearer error=\"invalid_token\"".to_string(),
        ));
        response
    }

    fn html_502() -> Response {
        Response {
            status: 502,
            content_type: "text/html",
            extra_headers: Vec::new(),
            body: HTML_502_BODY.to_string(),
        }
    }

    fn terminal_escapes() -> Response {
        Response::error(500, "server_error", TERMINAL_ESCAPES_DESCRIPTION)
    }

    fn forbidden() -> Response {
        Response::error(403, "access_denied", "The account may not do this")
    }

    fn too_many_requests() -> Response {
        let mut response = Response::error(429, "rate_limited", "Slow down");
        response
            .extra_headers
            .push(("Retry-After", "60".to_string()));
        response
    }

    fn not_json() -> Response {
        Response {
            status: 200,
            content_type: "text/plain",
            extra_headers: Vec::new(),
            body: "all is well, have a nice day".into(),
        }
    }
}

/// What a handler decided: answer, or hold the connection without answering.
enum Outcome {
    Answer(Response),
    Hang,
}

impl Certifier {
    /// Starts a certifier on `127.0.0.1:0` with a fresh CA and the defaults:
    /// [`API_TOKEN`] valid, client id [`DEFAULT_CLIENT_ID`], principals
    /// `["certsh-test"]`, 3600 s certificates, 900 s access tokens, no MFA,
    /// no fault.
    pub fn start() -> Certifier {
        let mut ca = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
            .expect("generate the certifier's CA key");
        ca.set_comment("certsh-test-ca");
        let ca_public = ca
            .public_key()
            .to_openssh()
            .expect("encode the CA public key");

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the certifier to 127.0.0.1:0");
        let addr = listener.local_addr().expect("certifier local address");

        let shared = Arc::new(Shared {
            ca,
            ca_public,
            settings: Mutex::new(Settings {
                fault: Fault::None,
                token_fault: Fault::None,
                validity_secs: DEFAULT_VALIDITY_SECS,
                expires_in_secs: DEFAULT_EXPIRES_IN_SECS,
                principals: vec![DEFAULT_PRINCIPAL.to_string()],
                mfa: false,
                client_id: DEFAULT_CLIENT_ID.to_string(),
                api_tokens: HashSet::from([API_TOKEN.to_string()]),
                token_principals: HashMap::new(),
                step_up: None,
                step_up_methods: vec!["mfa".to_string()],
                step_up_age_in_challenge: false,
                clock_offset: 0,
            }),
            issued: Mutex::new(HashMap::new()),
            every_issued: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            sign_requests: AtomicUsize::new(0),
            signed_for: Mutex::new(HashMap::new()),
            token_requests: AtomicUsize::new(0),
            codes: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            revoked: Mutex::new(Vec::new()),
            authorize_requests: AtomicUsize::new(0),
            refresh_grants: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            stopped: Mutex::new(false),
            stopped_cv: Condvar::new(),
        });

        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("certifier-accept".to_string())
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("spawn the certifier accept thread");

        Certifier {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The CA public key as one OpenSSH line (`ssh-ed25519 AAAA... comment`),
    /// for `TrustedUserCAKeys`.
    pub fn ca_public_key(&self) -> String {
        self.shared.ca_public.clone()
    }

    /// The user id: the `sub` claim of access tokens and the key id of
    /// certificates.
    pub fn user_id(&self) -> &'static str {
        USER_ID
    }

    /// Sets the fault for `POST /ssh`. [`Fault::ServerErrorHtml`],
    /// [`Fault::Unauthorized`], [`Fault::Hang`], [`Fault::TerminalEscapes`],
    /// [`Fault::Forbidden`] and [`Fault::TooManyRequests`] apply before the bearer token and body are checked; the certificate
    /// faults and [`Fault::SlowMs`] only to requests that would otherwise
    /// succeed.
    pub fn set_fault(&self, fault: Fault) {
        self.settings().fault = fault;
    }

    /// The current `POST /ssh` fault.
    pub fn fault(&self) -> Fault {
        self.settings().fault
    }

    /// Sets the fault for `POST /oauth2/token`. `ServerErrorHtml`, `Hang`,
    /// `TerminalEscapes` and `SlowMs` behave as for `/ssh`; `Unauthorized`
    /// answers 401 `invalid_client`; `Forbidden`, `TooManyRequests` and
    /// `NotJson` answer as for `/ssh`, and `InvalidGrant` and
    /// `RequestUnauthorized` refuse the grant; the certificate faults are
    /// ignored there.
    pub fn set_token_fault(&self, fault: Fault) {
        self.settings().token_fault = fault;
    }

    /// Sets how long new certificates are valid from now, in seconds.
    pub fn set_validity(&self, secs: u64) {
        self.settings().validity_secs = secs;
    }

    /// Sets the principals signed into new certificates.
    pub fn set_principals<S: Into<String>>(&self, principals: Vec<S>) {
        self.settings().principals = principals.into_iter().map(Into::into).collect();
    }

    /// Sets whether new certificates carry `has-mfa@platform.sh`.
    pub fn set_mfa(&self, mfa: bool) {
        self.settings().mfa = mfa;
    }

    /// Sets the lifetime of newly issued access tokens, in seconds. `0` issues
    /// tokens that are already expired when used.
    pub fn set_expires_in(&self, secs: u64) {
        self.settings().expires_in_secs = secs;
    }

    /// A refresh token of a browser login made elsewhere (the official
    /// CLI's `login`), authenticated with `amr`.
    pub fn add_refresh_token(&self, amr: &[&str]) -> String {
        let token = random_hex(24);
        lock(&self.shared.refresh_tokens).insert(
            token.clone(),
            Login {
                challenge: String::new(),
                redirect_uri: String::new(),
                amr: amr.iter().map(|a| a.to_string()).collect(),
                auth_time: unix_now(),
                api_token: None,
            },
        );
        token
    }

    /// Sets the OAuth client id expected in the token request.
    pub fn set_client_id(&self, client_id: &str) {
        self.settings().client_id = client_id.to_string();
    }

    /// Makes another API token valid.
    pub fn add_api_token(&self, token: &str) {
        self.settings().api_tokens.insert(token.to_string());
    }

    /// Makes another API token valid, whose certificates name `principals`
    /// (another user's access, as for a second account).
    pub fn add_api_token_with_principals(&self, token: &str, principals: &[&str]) {
        let mut s = self.settings();
        s.api_tokens.insert(token.to_string());
        s.token_principals.insert(
            token.to_string(),
            principals.iter().map(|p| p.to_string()).collect(),
        );
    }

    /// How many certificates were signed for access tokens obtained with
    /// the API token `token`.
    pub fn signatures_for(&self, token: &str) -> usize {
        lock(&self.shared.signed_for)
            .get(token)
            .copied()
            .unwrap_or(0)
    }

    /// Makes an API token invalid (including [`API_TOKEN`]).
    pub fn remove_api_token(&self, token: &str) {
        self.settings().api_tokens.remove(token);
    }

    /// Forgets every access token issued so far, so that bearers a client
    /// cached are answered 401 `invalid_token`.
    pub fn revoke_access_tokens(&self) {
        lock(&self.shared.issued).clear();
    }

    /// The access tokens issued so far that are still known (not revoked),
    /// expired or not.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        lock(&self.shared.issued).keys().cloned().collect()
    }

    /// Every access token issued since the start, revoked ones included.
    pub fn every_access_token_issued(&self) -> Vec<String> {
        lock(&self.shared.every_issued).clone()
    }

    /// How many `POST /ssh` requests arrived, whatever the answer.
    pub fn sign_requests(&self) -> usize {
        self.shared.sign_requests.load(Ordering::SeqCst)
    }

    /// How many `POST /oauth2/token` requests arrived, whatever the answer.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// Every request received so far, oldest first (once fully read, before
    /// it is answered).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// Step-up mode: `POST /ssh` answers 401 `insufficient_user_authentication`
    /// (body `{"amr": ["mfa"], "max_age": ...}`) unless the token's login
    /// passed MFA (and is at most `max_age` seconds old, when given).
    /// The methods a step-up asks for, all of which a login must have used.
    pub fn set_step_up_methods(&self, methods: &[&str]) {
        self.settings().step_up_methods = methods.iter().map(|m| m.to_string()).collect();
    }

    /// Puts a step-up's `max_age` in the `WWW-Authenticate` challenge, as
    /// RFC 9470 does, instead of the JSON body.
    pub fn set_step_up_age_in_challenge(&self, on: bool) {
        self.settings().step_up_age_in_challenge = on;
    }

    pub fn set_step_up(&self, on: bool, max_age: Option<u64>) {
        self.settings().step_up = on.then_some(max_age);
    }

    /// Makes the `Date` header of every answer run `secs` ahead (or behind,
    /// when negative) of the real clock.
    pub fn set_clock_offset(&self, secs: i64) {
        self.settings().clock_offset = secs;
    }

    /// How many `GET /oauth2/authorize` requests arrived (browser logins).
    pub fn authorize_requests(&self) -> usize {
        self.shared.authorize_requests.load(Ordering::SeqCst)
    }

    /// How many `grant_type=refresh_token` requests arrived.
    pub fn refresh_grants(&self) -> usize {
        self.shared.refresh_grants.load(Ordering::SeqCst)
    }

    /// The refresh tokens that are valid now.
    pub fn refresh_tokens(&self) -> Vec<String> {
        lock(&self.shared.refresh_tokens).keys().cloned().collect()
    }

    /// The refresh tokens revoked through `POST /oauth2/revoke`.
    pub fn revoked_refresh_tokens(&self) -> Vec<String> {
        lock(&self.shared.revoked).clone()
    }

    /// Forgets every refresh token, as an administrator ending all sessions
    /// would: the next refresh grant is refused with `invalid_grant`.
    pub fn end_sessions(&self) {
        lock(&self.shared.refresh_tokens).clear();
    }

    /// Signs `key` as `POST /ssh` would without a fault, with the current
    /// validity, principals and MFA setting. For tests that need a
    /// certificate without going through HTTP (e.g. to seed a cache).
    pub fn sign(&self, key: &PublicKey) -> Certificate {
        let (validity, principals, mfa) = {
            let s = self.settings();
            (s.validity_secs, s.principals.clone(), s.mfa)
        };
        let now = unix_now();
        let amr = vec!["api_token".to_string()];
        sign_certificate(
            &self.shared.ca,
            key,
            now.saturating_sub(BACKDATE_SECS),
            now + validity,
            &principals,
            mfa,
            now,
            &amr,
        )
    }

    /// Signs `key` like [`Certifier::sign`] but valid only from
    /// `valid_after` to `valid_before` (Unix seconds): a certificate that is
    /// not valid yet, or expired, for seeding a cache.
    pub fn sign_between(
        &self,
        key: &PublicKey,
        valid_after: u64,
        valid_before: u64,
    ) -> Certificate {
        let (principals, mfa) = {
            let s = self.settings();
            (s.principals.clone(), s.mfa)
        };
        let amr = vec!["api_token".to_string()];
        sign_certificate(
            &self.shared.ca,
            key,
            valid_after,
            valid_before,
            &principals,
            mfa,
            unix_now(),
            &amr,
        )
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        lock(&self.shared.settings)
    }
}

impl Drop for Certifier {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        *lock(&self.shared.stopped) = true;
        self.shared.stopped_cv.notify_all();
        // accept() does not notice the flag by itself: wake it with a
        // connection of our own. If that fails the listener is already gone.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
        // Connection threads are not joined: a hanging one would block the
        // drop. They notice `stopped` or their socket timeouts and end.
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not turn
/// every later request into a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Transient accept errors (e.g. a client that reset before we
            // accepted) must not stop the server.
            continue;
        };
        let conn_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("certifier-conn".to_string())
            .spawn(move || handle_connection(stream, conn_shared));
        if spawned.is_err() {
            // Out of threads: the stream was moved into the failed closure and
            // is closed; the client sees a reset, which is fine for a test.
            continue;
        }
    }
}

fn handle_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let request = match read_request(&stream) {
        Ok(Some(request)) => request,
        // The connection closed before a request line: e.g. the drop's wake-up
        // connection, or a client probing the port.
        Ok(None) => return,
        Err(message) => {
            write_response(&stream, &Response::error(400, "invalid_request", &message));
            return;
        }
    };
    lock(&shared.log).push(request.clone());

    match route(&shared, &request) {
        Outcome::Answer(mut response) => {
            response.extra_headers.push(("Date", http_date(&shared)));
            write_response(&stream, &response)
        }
        Outcome::Hang => {
            // Hold the socket (it stays open while `stream` lives) until the
            // certifier is dropped or HANG_SECS pass, then close without a
            // word.
            let stopped = lock(&shared.stopped);
            let _ = shared.stopped_cv.wait_timeout_while(
                stopped,
                Duration::from_secs(HANG_SECS),
                |stopped| !*stopped,
            );
        }
    }
}

/// Reads one request. `Ok(None)` when the peer closed before sending anything.
fn read_request(stream: &TcpStream) -> Result<Option<Request>, String> {
    let mut reader = BufReader::new(stream);
    let mut head_bytes = 0usize;

    let Some(request_line) = read_line(&mut reader, &mut head_bytes)? else {
        return Ok(None);
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line: {request_line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported HTTP version {version:?}"));
    }

    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader, &mut head_bytes)?
            .ok_or_else(|| "connection closed inside the request head".to_string())?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line: {line:?}"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }

    if header_value(&headers, "Transfer-Encoding").is_some() {
        // Not needed for certsh's requests (its bodies have a length), so not
        // implemented; refusing is better than misreading the stream.
        return Err("Transfer-Encoding is not supported by the test certifier".to_string());
    }
    let length = match header_value(&headers, "Content-Length") {
        None => 0,
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| format!("bad Content-Length {value:?}"))?,
    };
    if length > MAX_BODY_BYTES {
        return Err(format!("body of {length} bytes is too large"));
    }
    let mut body = vec![0u8; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("reading a {length}-byte body: {e}"))?;

    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        authorization: header_value(&headers, "Authorization").map(str::to_string),
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
    }))
}

/// Reads a CRLF- (or LF-) terminated line of the head, without the line end.
/// `Ok(None)` at a clean EOF before any byte of the line.
fn read_line(
    reader: &mut BufReader<&TcpStream>,
    head_bytes: &mut usize,
) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    let limit = (MAX_HEAD_BYTES - *head_bytes) as u64 + 1;
    let n = reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the request head: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    *head_bytes += n;
    if line.last() != Some(&b'\n') {
        return Err(if *head_bytes > MAX_HEAD_BYTES {
            "request head too large".to_string()
        } else {
            "connection closed inside the request head".to_string()
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| "request head is not UTF-8".to_string())
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Unknown",
    }
}

fn write_response(mut stream: &TcpStream, response: &Response) {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
    );
    for (name, value) in &response.extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // A client that went away is its own problem; nothing to report to.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(response.body.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn route(shared: &Shared, request: &Request) -> Outcome {
    // Routing ignores any query string, like the real API.
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("POST", "/oauth2/token") => {
            shared.token_requests.fetch_add(1, Ordering::SeqCst);
            token_endpoint(shared, request)
        }
        ("POST", "/ssh") => {
            shared.sign_requests.fetch_add(1, Ordering::SeqCst);
            sign_endpoint(shared, request)
        }
        ("GET", "/oauth2/authorize") => {
            shared.authorize_requests.fetch_add(1, Ordering::SeqCst);
            authorize_endpoint(shared, request)
        }
        ("POST", "/oauth2/revoke") => revoke_endpoint(shared, request),
        ("GET", "/ssh/authority") => Outcome::Answer(Response::json(
            200,
            serde_json::json!({ "authorities": [shared.ca_public] }),
        )),
        _ => Outcome::Answer(Response::error(404, "not_found", "Not Found")),
    }
}

fn token_endpoint(shared: &Shared, request: &Request) -> Outcome {
    let form = parse_form(&request.body);
    let (fault, expires_in, client_id, token_ok) = {
        let s = lock(&shared.settings);
        let token_ok = form
            .get("api_token")
            .is_some_and(|token| s.api_tokens.contains(token));
        (
            s.token_fault,
            s.expires_in_secs,
            s.client_id.clone(),
            token_ok,
        )
    };
    match fault {
        Fault::ServerErrorHtml => return Outcome::Answer(Response::html_502()),
        Fault::Hang => return Outcome::Hang,
        Fault::TerminalEscapes => return Outcome::Answer(Response::terminal_escapes()),
        Fault::Unauthorized => {
            return Outcome::Answer(Response::error(
                401,
                "invalid_client",
                "Client authentication failed",
            ));
        }
        Fault::Forbidden => return Outcome::Answer(Response::forbidden()),
        Fault::TooManyRequests => return Outcome::Answer(Response::too_many_requests()),
        Fault::NotJson => return Outcome::Answer(Response::not_json()),
        Fault::InvalidGrant => {
            return Outcome::Answer(Response::error(400, "invalid_grant", "Invalid API token"));
        }
        Fault::RequestUnauthorized => {
            return Outcome::Answer(Response::json(
                401,
                serde_json::json!({
                    "error": "request_unauthorized",
                    "error_description": "The request could not be authorized.",
                    "error_hint": "The API token is invalid.",
                }),
            ));
        }
        Fault::SlowMs(ms) => thread::sleep(Duration::from_millis(ms)),
        _ => {}
    }

    if basic_client_id(request.authorization.as_deref()).as_deref() != Some(client_id.as_str()) {
        return Outcome::Answer(Response::error(
            401,
            "invalid_client",
            "Client authentication failed",
        ));
    }
    let login = match form.get("grant_type").map(String::as_str) {
        Some("api_token") if token_ok => Login {
            challenge: String::new(),
            redirect_uri: String::new(),
            amr: vec!["api_token".to_string()],
            auth_time: unix_now(),
            api_token: form.get("api_token").cloned(),
        },
        Some("api_token") => {
            // As the vendor's mock auth server answers (pkg/mockapi).
            return Outcome::Answer(Response::json(
                400,
                serde_json::json!({"error": "invalid API token"}),
            ));
        }
        Some("authorization_code") => {
            // A code is good once, whatever happens next.
            let code = form.get("code").and_then(|c| lock(&shared.codes).remove(c));
            let Some(login) = code else {
                return Outcome::Answer(Response::error(400, "invalid_grant", "Unknown code"));
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if verifier.len() < 43 || challenge != login.challenge {
                return Outcome::Answer(Response::error(
                    400,
                    "invalid_grant",
                    "PKCE verification failed",
                ));
            }
            if form.get("redirect_uri") != Some(&login.redirect_uri)
                || form.get("client_id") != Some(&client_id)
            {
                return Outcome::Answer(Response::error(
                    400,
                    "invalid_grant",
                    "redirect_uri or client_id differ from the authorization request",
                ));
            }
            login
        }
        Some("refresh_token") => {
            shared.refresh_grants.fetch_add(1, Ordering::SeqCst);
            // Refresh tokens rotate: the one used is spent.
            let old = form
                .get("refresh_token")
                .and_then(|t| lock(&shared.refresh_tokens).remove(t));
            match old {
                Some(login) => login,
                None => {
                    return Outcome::Answer(Response::error(
                        400,
                        "invalid_grant",
                        "The refresh token is invalid or expired",
                    ));
                }
            }
        }
        _ => {
            return Outcome::Answer(Response::error(
                400,
                "unsupported_grant_type",
                "The grant type is not supported",
            ));
        }
    };

    let now = unix_now();
    let expires_at = now + expires_in;
    let access_token = make_jwt(&Claims {
        sub: USER_ID,
        amr: &login.amr,
        jti: random_hex(16),
        exp: expires_at,
        auth_time: login.auth_time,
    });
    lock(&shared.every_issued).push(access_token.clone());
    lock(&shared.issued).insert(
        access_token.clone(),
        Issued {
            expires_at,
            auth_time: login.auth_time,
            amr: login.amr.clone(),
            api_token: login.api_token.clone(),
        },
    );
    let mut answer = serde_json::json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_in,
    });
    if !login.amr.iter().any(|m| m == "api_token") {
        let refresh_token = random_hex(24);
        answer["refresh_token"] = refresh_token.clone().into();
        lock(&shared.refresh_tokens).insert(refresh_token, login);
    }
    Outcome::Answer(Response::json(200, answer))
}

/// `GET /oauth2/authorize`: a user who approves at once. The request is
/// checked as the real server would; the answer is a 302 back to the
/// loopback `redirect_uri` with a code (or a 400 for a bad request).
fn authorize_endpoint(shared: &Shared, request: &Request) -> Outcome {
    let query = request.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let q = parse_form(query);
    let client_id = lock(&shared.settings).client_id.clone();
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let redirect_uri = get("redirect_uri");
    let port_ok = redirect_uri
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok())
        .is_some_and(|p| (5000..=5010).contains(&p));
    let problem = if get("response_type") != "code" {
        Some("response_type must be code")
    } else if get("client_id") != client_id {
        Some("unknown client_id")
    } else if !port_ok {
        Some("redirect_uri must be http://127.0.0.1:5000-5010")
    } else if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        Some("PKCE with S256 is required")
    } else if get("state").is_empty() {
        Some("state is required")
    } else {
        None
    };
    if let Some(problem) = problem {
        return Outcome::Answer(Response::error(400, "invalid_request", problem));
    }
    let now = unix_now();
    let mut amr = vec!["pwd".to_string()];
    // The user logs in with every method asked for (space-separated, as
    // the official CLI sends them).
    amr.extend(get("amr").split_whitespace().map(String::from));
    let code = random_hex(16);
    lock(&shared.codes).insert(
        code.clone(),
        Login {
            challenge: get("code_challenge").to_string(),
            redirect_uri: redirect_uri.to_string(),
            amr,
            auth_time: now,
            api_token: None,
        },
    );
    let location = format!(
        "{redirect_uri}/?code={code}&state={}",
        url_encode(get("state"))
    );
    Outcome::Answer(Response {
        status: 302,
        content_type: "text/html",
        extra_headers: vec![("Location", location)],
        body: String::new(),
    })
}

/// The `Date` header (RFC 9110), with the test's clock offset.
fn http_date(shared: &Shared) -> String {
    let offset = lock(&shared.settings).clock_offset;
    let t = jiff::Timestamp::from_second(unix_now() as i64 + offset).expect("a time");
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&t)
        .expect("an HTTP date")
}

/// `POST /oauth2/revoke` (RFC 7009): forgets the token; 200 whatever it was.
fn revoke_endpoint(shared: &Shared, request: &Request) -> Outcome {
    let form = parse_form(&request.body);
    if let Some(token) = form.get("token")
        && lock(&shared.refresh_tokens).remove(token).is_some()
    {
        lock(&shared.revoked).push(token.clone());
    }
    Outcome::Answer(Response::json(200, serde_json::json!({})))
}

/// Percent-encodes everything but unreserved characters.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// The client id of a `Basic base64("{client_id}:")` header; `None` if the
/// header is missing or malformed, or carries a non-empty secret.
fn basic_client_id(authorization: Option<&str>) -> Option<String> {
    let (scheme, credentials) = authorization?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    secret.is_empty().then(|| id.to_string())
}

/// `base64url(header).base64url(claims).base64url(junk)`: the shape of a JWT,
/// which is all a client may rely on (it must treat the token as opaque, but
/// may peek at `exp`).
fn make_jwt(claims: &Claims<'_>) -> String {
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": "certsh-test" });
    let mut signature = [0u8; 64];
    OsRng.fill_bytes(&mut signature);
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("serialise claims")),
        URL_SAFE_NO_PAD.encode(signature),
    )
}

/// Parses an `application/x-www-form-urlencoded` body. Later duplicates win.
fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(name), url_decode(value))
        })
        .collect()
}

/// Decodes `+` and `%XX`; malformed escapes are kept literally.
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let decoded = bytes
                    .get(i + 1..i + 3)
                    // from_str_radix alone would accept a sign ("%+1").
                    .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match decoded {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn sign_endpoint(shared: &Shared, request: &Request) -> Outcome {
    let (fault, validity, principals, mfa) = {
        let s = lock(&shared.settings);
        (s.fault, s.validity_secs, s.principals.clone(), s.mfa)
    };
    // Faults that stand for a broken server come before any checking.
    match fault {
        Fault::ServerErrorHtml => return Outcome::Answer(Response::html_502()),
        Fault::Unauthorized => {
            return Outcome::Answer(Response::invalid_token("The access token is invalid"));
        }
        Fault::Hang => return Outcome::Hang,
        Fault::TerminalEscapes => return Outcome::Answer(Response::terminal_escapes()),
        Fault::RedirectToPort(port) => {
            return Outcome::Answer(Response {
                status: 302,
                content_type: "text/html",
                extra_headers: vec![("Location", format!("http://127.0.0.2:{port}/ssh"))],
                body: String::new(),
            });
        }
        Fault::Oversized => {
            return Outcome::Answer(Response {
                status: 200,
                content_type: "application/json",
                extra_headers: Vec::new(),
                body: format!("{{\"certificate\": \"{}\"}}", "A".repeat(2 << 20)),
            });
        }
        Fault::NotJson => {
            return Outcome::Answer(Response {
                status: 200,
                content_type: "text/plain",
                extra_headers: Vec::new(),
                body: "certificate issued, have a nice day".into(),
            });
        }
        Fault::Forbidden => return Outcome::Answer(Response::forbidden()),
        Fault::TooManyRequests => return Outcome::Answer(Response::too_many_requests()),
        _ => {}
    }

    let now = unix_now();
    let bearer = request
        .authorization
        .as_deref()
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let (auth_time, amr, api_token) = {
        let issued = lock(&shared.issued);
        match bearer.as_deref().and_then(|token| issued.get(token)) {
            Some(token) if now < token.expires_at => {
                (token.auth_time, token.amr.clone(), token.api_token.clone())
            }
            Some(_) => {
                return Outcome::Answer(Response::invalid_token("The access token has expired"));
            }
            None => {
                return Outcome::Answer(Response::invalid_token("The access token is invalid"));
            }
        }
    };
    let (step_up, methods, age_in_challenge) = {
        let s = lock(&shared.settings);
        (
            s.step_up,
            s.step_up_methods.clone(),
            s.step_up_age_in_challenge,
        )
    };
    if let Some(max_age) = step_up {
        let fresh = max_age.is_none_or(|m| now.saturating_sub(auth_time) <= m);
        if !methods.iter().all(|m| amr.contains(m)) || !fresh {
            let mut body = serde_json::json!({
                "error": "insufficient_user_authentication",
                "error_description": "A multi-factor login is required",
                "amr": methods,
            });
            let mut challenge = "Bearer error=\"insufficient_user_authentication\", \
                 error_description=\"A multi-factor login is required\""
                .to_string();
            match max_age {
                Some(m) if age_in_challenge => challenge.push_str(&format!(", max_age=\"{m}\"")),
                Some(m) => body["max_age"] = m.into(),
                None => {}
            }
            let mut response = Response::json(401, body);
            response.extra_headers.push(("WWW-Authenticate", challenge));
            return Outcome::Answer(response);
        }
    }

    let body: serde_json::Value = match serde_json::from_str(&request.body) {
        Ok(value) => value,
        Err(e) => {
            return Outcome::Answer(Response::error(
                400,
                "invalid_request",
                &format!("Invalid JSON body: {e}"),
            ));
        }
    };
    let Some(key_line) = body.get("key").and_then(|key| key.as_str()) else {
        return Outcome::Answer(Response::error(400, "invalid_request", "Missing \"key\""));
    };
    let key = match PublicKey::from_openssh(key_line.trim()) {
        Ok(key) => key,
        Err(e) => {
            return Outcome::Answer(Response::error(
                400,
                "invalid_request",
                &format!("Invalid public key: {e}"),
            ));
        }
    };

    let valid_after = now.saturating_sub(BACKDATE_SECS);
    let (after, before) = match fault {
        Fault::GarbageCertificate => {
            return Outcome::Answer(Response::json(
                200,
                serde_json::json!({ "certificate": "ssh-ed25519-cert-v01@openssh.com AAAAnot-a-cert" }),
            ));
        }
        Fault::OtherKey => {
            let other =
                PrivateKey::random(&mut OsRng, Algorithm::Ed25519).expect("generate another key");
            let c = sign_certificate(
                &shared.ca,
                other.public_key(),
                valid_after,
                now + validity,
                &principals,
                mfa,
                auth_time,
                &amr,
            );
            return answer_certificate(&c);
        }
        Fault::Expired => (now - 2 * 3600, now - 3600),
        Fault::NotYetValid => (now + 3600, now + 3600 + validity),
        Fault::SlowMs(ms) => {
            thread::sleep(Duration::from_millis(ms));
            (valid_after, now + validity)
        }
        _ => (valid_after, now + validity),
    };
    let principals = api_token
        .as_ref()
        .and_then(|t| lock(&shared.settings).token_principals.get(t).cloned())
        .unwrap_or(principals);
    let cert = sign_certificate(
        &shared.ca,
        &key,
        after,
        before,
        &principals,
        mfa,
        auth_time,
        &amr,
    );
    if let Some(t) = api_token {
        *lock(&shared.signed_for).entry(t).or_insert(0) += 1;
    }
    answer_certificate(&cert)
}

fn answer_certificate(cert: &Certificate) -> Outcome {
    let line = cert.to_openssh().expect("encode the certificate");
    Outcome::Answer(Response::json(
        200,
        serde_json::json!({ "certificate": line }),
    ))
}

/// Signs a user certificate with the extensions the real certifier sets for
/// an API-token (application) login.
#[allow(clippy::too_many_arguments)]
fn sign_certificate(
    ca: &PrivateKey,
    key: &PublicKey,
    valid_after: u64,
    valid_before: u64,
    principals: &[String],
    mfa: bool,
    auth_time: u64,
    amr: &[String],
) -> Certificate {
    let mut builder = Builder::new_with_random_nonce(
        &mut OsRng,
        key.key_data().clone(),
        valid_after,
        valid_before,
    )
    .expect("certificate validity window");
    builder.serial(OsRng.next_u64()).expect("serial");
    builder.cert_type(CertType::User).expect("cert type");
    builder.key_id(USER_ID).expect("key id");
    if principals.is_empty() {
        // ssh-key refuses to sign without an explicit choice; an empty list
        // means "every principal" in OpenSSH, which a test may want to see.
        builder.all_principals_valid().expect("all principals");
    }
    for principal in principals {
        builder
            .valid_principal(principal.as_str())
            .expect("principal");
    }
    for extension in [
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
    ] {
        builder.extension(extension, "").expect("extension");
    }
    // As the real certifier: "app" for an API token, interactive for a
    // browser login, MFA when the login passed it.
    if amr.iter().any(|m| m == "api_token") {
        builder
            .extension("is-app@platform.sh", "")
            .expect("extension");
    }
    if mfa || amr.iter().any(|m| m == "mfa") {
        builder
            .extension("has-mfa@platform.sh", "")
            .expect("extension");
    }
    let claims = serde_json::to_string(&TokenClaims { auth_time, amr }).expect("serialise claims");
    builder
        .extension("token-claims@platform.sh", claims)
        .expect("extension");
    builder.sign(ca).expect("sign the certificate")
}
