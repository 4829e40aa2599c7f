//! A certifier's request for a stronger or fresher login (RFC 9470), read
//! from its challenge and body.

use crate::credentials::need_login::StepUp;

/// RFC 9470: `Bearer error="insufficient_user_authentication"`.
pub(super) fn is_step_up_challenge(value: &str) -> bool {
    let v = value.trim_start();
    v.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
        && v.contains("insufficient_user_authentication")
}

/// The certifier wants a stronger or fresher login: what it asked for. The
/// JSON body may carry `amr` (a string or a list) and `max_age`, as the
/// official CLI reads them; RFC 9470 puts `max_age` in the challenge itself,
/// which counts when the body has none.
pub(super) fn step_up(body: &[u8], challenge: &str) -> StepUp {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let named: Vec<String> = match json.get("amr") {
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(String::from).collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    // Every method the certifier named, none added; only what can go into
    // a URL and a command line as it is.
    let amr = named
        .into_iter()
        .filter(|a| {
            !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-:.".contains(c))
        })
        .collect();
    StepUp {
        amr,
        max_age: json
            .get("max_age")
            .and_then(|v| v.as_u64())
            .or_else(|| auth_param(challenge, "max_age").and_then(|v| v.parse().ok())),
    }
}

/// The value of one auth-param of a challenge (`name="value"` or
/// `name=token`, RFC 9110), if it has it.
pub(super) fn auth_param<'v>(challenge: &'v str, name: &str) -> Option<&'v str> {
    let mut rest = challenge;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + name.len()..];
        rest = after;
        if !matches!(before, Some(' ' | ',' | '\t')) {
            continue;
        }
        let Some(value) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        return Some(match value.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or_default(),
            None => value
                .split(|c: char| c == ',' || c.is_whitespace())
                .next()
                .unwrap_or_default(),
        });
    }
    None
}
