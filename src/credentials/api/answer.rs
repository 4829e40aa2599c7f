//! Reading the API's answers: a bounded body, and an error answer turned
//! into one line that says what failed and what to do.

use std::io::Read;

use anyhow::Result;
use reqwest::StatusCode;
use reqwest::blocking::Response;

use super::MAX_BODY;
use crate::util::error::Fixable;
use crate::util::sanitize;

pub(super) fn read_body(resp: Response, what: &str) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    resp.take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            Fixable::new(
                format!("the answer from the {what} broke off: {}", root_cause(&e)),
                "try again later",
            )
        })?;
    if body.len() as u64 > MAX_BODY {
        return Err(Fixable::new(
            format!(
                "the answer from the {what} is larger than {} KiB",
                MAX_BODY / 1024
            ),
            "check the URL; this is not the API",
        )
        .into());
    }
    Ok(body)
}

/// What an error answer says, in a form fit for one line.
pub(super) struct Detail {
    pub(super) code: Option<String>,
    pub(super) message: Option<String>,
}

impl Detail {
    pub(super) fn text(&self, status: StatusCode) -> String {
        let head = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        let head = head.trim_end();
        // An error page whose title only repeats the status (`<title>502 Bad
        // Gateway</title>`) adds nothing to the line.
        let news = |s: &String| !head.eq_ignore_ascii_case(s.trim());
        match (
            self.code.as_ref().filter(|s| news(s)),
            self.message.as_ref().filter(|s| news(s)),
        ) {
            (Some(c), Some(m)) => format!("{head}: {c}: {m}"),
            (Some(s), None) | (None, Some(s)) => format!("{head}: {s}"),
            (None, None) => head.to_string(),
        }
    }
}

/// Whether a 400 or 401 of the token endpoint refuses what was sent (the
/// code, refresh token or API token) rather than the request: OAuth's
/// `invalid_grant`, the newer auth server's `request_unauthorized`, and a
/// plain `error` text about the token (the vendor's mock:
/// `{"error": "invalid API token"}`). `invalid_client` refuses the client
/// id, and `invalid grant type`, `unsupported_grant_type` and
/// `invalid_request` are certsh's own mistakes: no new token fixes those.
pub(super) fn refuses_the_credential(d: &Detail) -> bool {
    let code = d.code.as_deref().unwrap_or_default();
    match code {
        "invalid_grant" | "request_unauthorized" => true,
        "invalid_client" | "unsupported_grant_type" | "invalid_request" | "invalid_scope" => false,
        c if c.to_ascii_lowercase().starts_with("invalid grant type") => false,
        c => c.to_ascii_lowercase().contains("token"),
    }
}

pub(super) fn detail(body: &[u8]) -> Detail {
    // A closing full stop would end the line's sentence in its middle.
    let clean = |s: &str| {
        Some(sanitize::short(s.trim().trim_end_matches('.'), 160)).filter(|s| !s.is_empty())
    };
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        let get = |k: &str| map.get(k).and_then(|v| v.as_str()).and_then(clean);
        return Detail {
            code: get("error"),
            // The newer auth server's hint names the cause ("The API token
            // is invalid"); its description is the general one.
            message: get("error_hint")
                .or_else(|| get("error_description"))
                .or_else(|| get("message"))
                .or_else(|| get("detail"))
                .or_else(|| get("title")),
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = strip_tags(&text);
    Detail {
        code: None,
        message: clean(&text),
    }
}

/// Text of an HTML page without its tags (an error page from a proxy).
pub(super) fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Which server answered, for the fix of a 403.
#[derive(Clone, Copy)]
pub(super) enum At {
    AuthServer,
    Certifier,
}

/// `Retry-After` in seconds, when given so (not as a date).
pub(super) fn retry_after(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub(super) fn fix_for(status: StatusCode, at: At, retry_after: Option<u64>) -> String {
    match (status.as_u16(), at) {
        (403, At::Certifier) => "this account may lack SSH access; check it in the console".into(),
        (403, At::AuthServer) => {
            "the auth server refused the request itself; check the token URL and the \
             client id: certsh doctor"
                .into()
        }
        (404, _) => "check the URL in config.yaml or the environment".into(),
        (429, _) => match retry_after {
            Some(s) => format!("too many requests; try again later: it asks to wait {s} s"),
            None => "too many requests; try again later".into(),
        },
        (s, _) if s >= 500 => "the service has a problem; try again in a minute".into(),
        // Not a fault that passes by itself: only 429 and 5xx say "again".
        _ => "the certificate in use was kept; check the configuration: certsh doctor".into(),
    }
}

/// The innermost cause of an error, sanitised: "connection refused" rather
/// than reqwest's whole chain.
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    sanitize::short(&cur.to_string(), 160)
}
