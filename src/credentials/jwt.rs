//! Reading an access token's claims, for display only.
//!
//! The access token is a JWT signed by the auth server. certsh never decides
//! anything security-relevant from it (the certifier checks the token, and
//! sshd checks the certificate), so the signature is not verified here: the
//! claims only tell the user who is logged in, how (`amr`), and until when.
//! Claim text comes from a server and is sanitised before it is shown.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::util::sanitize;

/// The claims certsh shows. Every field is optional: a token without them is
/// still a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Authentication methods (`pwd`, `mfa`, `api_token`, `sso:...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Expiry, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// When the user authenticated, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
}

/// The claims of `token`, or `None` when it is not a JWT (an opaque token is
/// allowed; there is then nothing to show).
pub fn claims(token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let raw: RawClaims = serde_json::from_slice(&bytes).ok()?;
    Some(Claims {
        sub: raw.sub.map(|s| sanitize::short(&s, 100)),
        amr: match raw.amr {
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
            None => vec![],
        }
        .iter()
        .map(|s| sanitize::short(s, 40))
        .collect(),
        exp: raw.exp,
        auth_time: raw.auth_time,
    })
}

#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    amr: Option<OneOrMany>,
    exp: Option<u64>,
    auth_time: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_the_claims_without_verifying() {
        let c = claims(&jwt(
            r#"{"sub":"u-1","amr":["pwd","mfa"],"exp":1800000000,"auth_time":1799990000,"jti":"x"}"#,
        ))
        .unwrap();
        assert_eq!(c.sub.as_deref(), Some("u-1"));
        assert_eq!(c.amr, ["pwd", "mfa"]);
        assert_eq!(c.exp, Some(1_800_000_000));
        assert_eq!(c.auth_time, Some(1_799_990_000));
    }

    #[test]
    fn amr_may_be_a_single_string() {
        let c = claims(&jwt(r#"{"amr":"api_token"}"#)).unwrap();
        assert_eq!(c.amr, ["api_token"]);
    }

    #[test]
    fn opaque_tokens_have_no_claims() {
        assert_eq!(claims("abcdef"), None);
        assert_eq!(claims("a.b"), None);
        assert_eq!(claims("a.!!!.c"), None);
        assert_eq!(claims(&jwt("[1,2]")), None);
    }

    #[test]
    fn hostile_claims_are_sanitised() {
        let c = claims(&jwt(r#"{"sub":"\u001b]0;pwned\u0007me"}"#)).unwrap();
        assert!(!c.sub.unwrap().chars().any(char::is_control));
    }
}
