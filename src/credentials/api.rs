//! The cloud's HTTP API: API token -> access token, public key -> certificate.
//!
//! Only the refresh path gets here, so the HTTP client (and with it TLS
//! roots) is built only when a certificate is really needed. Every request is
//! bounded in time, never follows a redirect (a token must reach no host but
//! the configured one), and refuses plain HTTP except to a loopback address.
//! Server text in errors is sanitised and shortened before it is shown.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::config::Config;
use crate::credentials::need_login::StepUp;
use crate::state::cert::now;
use crate::util::error::Fixable;
use crate::util::sanitize;
use crate::util::secret::Secret;

mod answer;
mod step_up;

use answer::*;
use step_up::*;

/// An OAuth access token and when it expires (Unix seconds).
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The bearer token.
    pub token: Secret,
    /// Expiry.
    pub expires_at: u64,
}

/// Answers larger than this are refused: a certificate is a few kilobytes.
const MAX_BODY: u64 = 1 << 20;

/// A client for one refresh, with its deadline.
pub struct Api<'a> {
    cfg: &'a Config,
    client: Client,
    token_url: Url,
    sign_url: Url,
    deadline: Instant,
}

/// What the token endpoint gave.
pub struct TokenSet {
    /// The access token.
    pub access: AccessToken,
    /// A refresh token, after a browser login or a rotating refresh.
    pub refresh: Option<Secret>,
}

/// The token endpoint's answer to a grant.
pub enum Granted {
    /// The tokens.
    Tokens(TokenSet),
    /// 400/401 `invalid_grant` (or another shape of the same refusal, see
    /// [`refuses_the_credential`]): the code, refresh token or API token was
    /// refused. The text is the server's, sanitised.
    Refused(String),
}

/// The certifier's answer to a signing request.
pub enum Signed {
    /// The certificate text (not yet checked).
    Certificate(String),
    /// 401: the access token was refused (an expired cached token, say).
    Unauthorized(anyhow::Error),
    /// 401 with a step-up challenge (RFC 9470): the certifier wants a
    /// stronger or fresher login. `problem` is what it said.
    StepUp { ask: StepUp, problem: String },
}

impl<'a> Api<'a> {
    /// The client for one command: its requests end within the renewal's
    /// deadline from now ([`Config::refresh_deadline`]).
    pub fn for_command(cfg: &'a Config) -> Result<Api<'a>> {
        Api::new(cfg, Instant::now() + cfg.refresh_deadline())
    }

    /// Checks the URLs and builds the client. No request is made.
    pub fn new(cfg: &'a Config, deadline: Instant) -> Result<Api<'a>> {
        let token_url = checked_url(&cfg.token_url, "token URL")?;
        let certifier = checked_url(&cfg.certifier_url, "certifier URL")?;
        // "POST {certifier_url}/ssh": the path replaces any path it has.
        let sign_url = certifier
            .join("/ssh")
            .context("cannot build the certifier URL")?;
        let mut builder = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.http_timeout.min(Duration::from_secs(10)))
            .timeout(cfg.http_timeout)
            .user_agent(concat!("certsh/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        if let Some(proxy) = proxy(cfg)? {
            builder = builder.proxy(proxy);
        }
        if token_url.scheme() == "http" && sign_url.scheme() == "http" {
            // Loading the system's roots costs milliseconds and is not needed.
            builder = builder.tls_built_in_native_certs(false);
        }
        let client = builder.build().context("cannot set up the HTTP client")?;
        Ok(Api {
            cfg,
            client,
            token_url,
            sign_url,
            deadline,
        })
    }

    /// The URL signing requests go to, for messages.
    pub fn sign_url(&self) -> &Url {
        &self.sign_url
    }

    /// The token endpoint, for messages.
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// Exchanges an API token for an access token; a refusal is the
    /// server's detail, for the caller to explain.
    pub fn exchange(&self, api_token: &Secret) -> Result<Granted> {
        self.grant(&[
            ("grant_type", "api_token"),
            ("api_token", api_token.expose()),
        ])
    }

    /// The refresh grant of a browser session.
    pub fn refresh_grant(&self, refresh_token: &Secret) -> Result<Granted> {
        self.grant(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
    }

    /// The authorization-code grant that ends a browser login (PKCE).
    pub fn authorization_code(
        &self,
        code: &Secret,
        redirect_uri: &str,
        verifier: &Secret,
    ) -> Result<Granted> {
        self.grant(&[
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("client_id", &self.cfg.client_id),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose()),
        ])
    }

    /// Revokes a refresh token (`POST {revoke_url}`, RFC 7009).
    pub fn revoke(&self, refresh_token: &Secret) -> Result<()> {
        let url = checked_url(&self.cfg.revoke_url, "revocation URL")?;
        let body = form(&[
            ("token", refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
        ]);
        let req = self
            .client
            .post(url.clone())
            .basic_auth(&self.cfg.client_id, Some(""))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        let what = format!("auth server {url}");
        let resp = self.send(req, &what)?;
        let status = resp.status();
        let wait = retry_after(&resp);
        let body = read_body(resp, &what)?;
        if status.is_success() {
            return Ok(());
        }
        Err(Fixable::new(
            format!("{what} answered {}", detail(&body).text(status)),
            fix_for(status, At::AuthServer, wait),
        )
        .into())
    }

    /// `GET url` with no credential, for `certsh doctor --online`: the
    /// status and the server's `Date` header. Any answer means reachable.
    pub fn probe(&self, url: &str, what: &str) -> Result<(StatusCode, Option<String>)> {
        let url = checked_url(url, what)?;
        let resp = self.send(self.client.get(url.clone()), &format!("{what} {url}"))?;
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        Ok((resp.status(), date))
    }

    /// A request to the token endpoint with client authentication.
    fn grant(&self, pairs: &[(&str, &str)]) -> Result<Granted> {
        let body = form(pairs);
        let req = self
            .client
            .post(self.token_url.clone())
            .basic_auth(&self.cfg.client_id, Some(""))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body);
        let what = format!("auth server {}", self.token_url);
        let resp = self.send(req, &what)?;
        let status = resp.status();
        let wait = retry_after(&resp);
        let body = read_body(resp, &what)?;
        if status == StatusCode::OK {
            #[derive(Deserialize)]
            struct TokenAnswer {
                access_token: String,
                expires_in: Option<u64>,
                refresh_token: Option<String>,
            }
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
                Fixable::new(
                    format!("{what} answered 200 without an access token"),
                    "this is not the auth server: check the token URL in config.yaml or the environment",
                )
            })?;
            return Ok(Granted::Tokens(TokenSet {
                access: AccessToken {
                    token: Secret::new(answer.access_token),
                    expires_at: now() + answer.expires_in.unwrap_or(300),
                },
                refresh: answer
                    .refresh_token
                    .filter(|t| !t.is_empty())
                    .map(Secret::new),
            }));
        }
        let detail = detail(&body);
        let refused = matches!(status.as_u16(), 400 | 401) && refuses_the_credential(&detail);
        if refused {
            return Ok(Granted::Refused(detail.text(status)));
        }
        let fix = if detail.code.as_deref() == Some("invalid_client") {
            // The client id, not the user's credential: a new token would
            // be refused the same way.
            format!(
                "it does not know the OAuth client {:?}: check api.oauth2_client_id in \
                 config.yaml and the environment",
                sanitize::short(&self.cfg.client_id, 80)
            )
        } else {
            fix_for(status, At::AuthServer, wait)
        };
        Err(Fixable::new(format!("{what} answered {}", detail.text(status)), fix).into())
    }

    /// Asks the certifier to sign `public_key` (OpenSSH one-line form).
    pub fn sign(&self, access: &AccessToken, public_key: &str, origin: &str) -> Result<Signed> {
        let req = self
            .client
            .post(self.sign_url.clone())
            .bearer_auth(access.token.expose())
            .header("Accept", "application/json")
            .json(&serde_json::json!({ "key": public_key }));
        let what = format!("certifier {}", self.sign_url);
        let resp = self.send(req, &what)?;
        let status = resp.status();
        let challenge = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| is_step_up_challenge(v))
            .map(String::from);
        let wait = retry_after(&resp);
        let body = read_body(resp, &what)?;
        if status == StatusCode::OK {
            #[derive(Deserialize)]
            struct SignAnswer {
                certificate: String,
            }
            let answer: SignAnswer = serde_json::from_slice(&body).map_err(|_| {
                Fixable::new(
                    format!("{what} answered 200 without a certificate"),
                    "the certificate in use was kept; this is not the certifier: check the \
                     certifier URL in config.yaml or the environment",
                )
            })?;
            return Ok(Signed::Certificate(answer.certificate));
        }
        let text = detail(&body).text(status);
        if status == StatusCode::UNAUTHORIZED
            && let Some(challenge) = &challenge
        {
            let ask = step_up(&body, challenge);
            let problem = format!("{what} requires {}: {text}", ask.needs());
            return Ok(Signed::StepUp { ask, problem });
        }
        if status == StatusCode::UNAUTHORIZED {
            return Ok(Signed::Unauthorized(
                Fixable::new(
                    format!("{what} answered {text}"),
                    format!("check the API token in {origin}, or log in again: certsh login"),
                )
                .into(),
            ));
        }
        Err(Fixable::new(
            format!("{what} answered {text}"),
            fix_for(status, At::Certifier, wait),
        )
        .into())
    }

    fn send(&self, req: RequestBuilder, what: &str) -> Result<Response> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fixable::new(
                format!("no time left to reach the {what}"),
                "try again; check the network if it persists",
            )
            .into());
        }
        let timeout = left.min(self.cfg.http_timeout);
        let resp = req.timeout(timeout).send().map_err(|e| -> anyhow::Error {
            if e.is_timeout() {
                Fixable::new(
                    format!(
                        "{what} did not answer within {} s",
                        timeout.as_secs().max(1)
                    ),
                    "check the network, or try again later",
                )
                .into()
            } else {
                let cause = root_cause(&e);
                let fix = if cause.contains("certificate") {
                    "the server's TLS certificate is not trusted; behind a TLS-inspecting \
                     proxy, set SSL_CERT_FILE to its CA bundle"
                } else {
                    "check the network and the URL, or try again later"
                };
                Fixable::new(format!("cannot reach the {what}: {cause}"), fix).into()
            }
        })?;
        // Redirects are not followed: a token must reach no host but the one
        // configured, and a moved API is a configuration problem.
        if resp.status().is_redirection() {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| sanitize::short(v, 120))
                .unwrap_or_else(|| "nowhere".into());
            return Err(Fixable::new(
                format!(
                    "{what} answered {} with a redirect to {to}, which certsh does not follow",
                    resp.status().as_u16()
                ),
                "check the URL in config.yaml or the environment",
            )
            .into());
        }
        Ok(resp)
    }
}

/// Parses a configured URL and applies the transport rule: HTTPS, or plain
/// HTTP to a loopback address only (tests and local set-ups).
pub fn checked_url(raw: &str, what: &str) -> Result<Url> {
    let url = Url::parse(raw).map_err(|e| {
        Fixable::new(
            format!("the {what} {:?} is not a URL: {e}", sanitize::text(raw)),
            "fix it in config.yaml or the environment",
        )
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Fixable::new(
            format!("refusing plain http:// for the {what} {url}: tokens would travel unencrypted"),
            "use https://, or a loopback address such as 127.0.0.1 for local testing",
        )
        .into()),
        other => Err(Fixable::new(
            format!("the {what} {url} has an unsupported scheme {other:?}"),
            "use an https:// URL",
        )
        .into()),
    }
}

/// The proxy named by `HTTPS_PROXY` (or `https_proxy`, `ALL_PROXY`,
/// `all_proxy`), for every host but those in `NO_PROXY` and loopback
/// addresses: a proxy has no business relaying loopback traffic, and only
/// loopback is ever spoken to in plain HTTP.
fn proxy(cfg: &Config) -> Result<Option<reqwest::Proxy>> {
    let Some(url) = &cfg.https_proxy else {
        return Ok(None);
    };
    let bypass = format!("{},127.0.0.0/8,::1", cfg.no_proxy);
    // The proxy URL may carry a password: it is not quoted back.
    let proxy = reqwest::Proxy::https(url.expose().trim()).map_err(|_| {
        Fixable::new(
            "HTTPS_PROXY is not a proxy URL",
            "set it to http://host:port, or unset it",
        )
    })?;
    Ok(Some(proxy.no_proxy(reqwest::NoProxy::from_string(&bypass))))
}

fn is_loopback(url: &Url) -> bool {
    // Literal addresses only: a name could resolve anywhere.
    url.host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback())
}

/// `application/x-www-form-urlencoded`.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, k);
        out.push('=');
        encode_into(&mut out, v);
    }
    out
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(checked_url("https://auth.magento.cloud", "x").is_ok());
        assert!(checked_url("http://127.0.0.1:8080", "x").is_ok());
        assert!(checked_url("http://[::1]:8080", "x").is_ok());
        let err = checked_url("http://auth.magento.cloud", "token URL").unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing plain http:// for the token URL http://auth.magento.cloud/: tokens would \
             travel unencrypted (use https://, or a loopback address such as 127.0.0.1 for local testing)"
        );
        assert!(checked_url("http://localhost.evil.com", "x").is_err());
        assert!(checked_url("ftp://127.0.0.1", "x").is_err());
        assert!(checked_url("not a url", "x").is_err());
    }

    #[test]
    fn step_up_challenges_are_recognised() {
        assert!(is_step_up_challenge(
            r#"Bearer error="insufficient_user_authentication", error_description="x""#
        ));
        assert!(is_step_up_challenge(
            r#"bearer error="insufficient_user_authentication""#
        ));
        assert!(!is_step_up_challenge(r#"Bearer error="invalid_token""#));
        assert!(!is_step_up_challenge(
            r#"Basic realm="insufficient_user_authentication""#
        ));
    }

    #[test]
    fn step_up_takes_every_method_and_the_age_from_the_body_or_the_challenge() {
        let header = r#"Bearer error="insufficient_user_authentication", max_age="300""#;
        let ask = step_up(br#"{"amr":["mfa","sso:acme"]}"#, header);
        assert_eq!(ask.amr, ["mfa", "sso:acme"]);
        assert_eq!(ask.max_age, Some(300));
        // The body's age wins; none is made up when neither names one.
        let ask = step_up(br#"{"amr":"mfa sso:acme","max_age":60}"#, header);
        assert_eq!((ask.amr.len(), ask.max_age), (2, Some(60)));
        let ask = step_up(b"", r#"Bearer error="insufficient_user_authentication""#);
        assert_eq!((ask.amr.len(), ask.max_age), (0, None));
        assert_eq!(
            auth_param(
                r#"Bearer error="x", max_age=30, acr_values="a b""#,
                "max_age"
            ),
            Some("30")
        );
        assert_eq!(auth_param(r#"Bearer not_max_age="5""#, "max_age"), None);
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form(&[("grant_type", "api_token"), ("api_token", "a b&c=d/é")]),
            "grant_type=api_token&api_token=a+b%26c%3Dd%2F%C3%A9"
        );
    }

    #[test]
    fn error_details_from_json_and_html() {
        let refused = |body: &[u8]| refuses_the_credential(&detail(body));
        assert!(refused(br#"{"error":"invalid API token"}"#));
        assert!(refused(
            br#"{"error":"invalid_grant","error_description":"Invalid API token"}"#
        ));
        assert!(refused(
            br#"{"error":"request_unauthorized","error_hint":"The API token is invalid"}"#
        ));
        assert!(!refused(br#"{"error":"invalid grant type: password"}"#));
        assert!(!refused(br#"{"error":"unsupported_grant_type"}"#));
        assert!(!refused(
            br#"{"error":"invalid_client","error_description":"Client authentication failed"}"#
        ));
        assert!(!refused(b"<html>Bad Request</html>"));
        let d = detail(br#"{"error":"invalid_grant","error_description":"Invalid API token"}"#);
        assert_eq!(
            d.text(StatusCode::BAD_REQUEST),
            "400 Bad Request: invalid_grant: Invalid API token"
        );
        // A page that only repeats the status adds nothing to the line.
        let d = detail(b"<html><body><h1>502 Bad Gateway</h1></body></html>");
        assert_eq!(d.text(StatusCode::BAD_GATEWAY), "502 Bad Gateway");
        let d = detail(b"<html><body>upstream is restarting</body></html>");
        assert_eq!(
            d.text(StatusCode::BAD_GATEWAY),
            "502 Bad Gateway: upstream is restarting"
        );
        let d = detail(b"");
        assert_eq!(
            d.text(StatusCode::SERVICE_UNAVAILABLE),
            "503 Service Unavailable"
        );
    }

    #[test]
    fn hostile_error_text_is_neutralised() {
        let d = detail(b"{\"error_description\":\"\\u001b]0;pwned\\u0007\\u001b[2J\"}");
        let t = d.text(StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!t.chars().any(char::is_control), "{t:?}");
    }
}
