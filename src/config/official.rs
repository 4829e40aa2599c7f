//! Where the official CLI keeps the credentials `auth:api-token-login` and
//! `login` stored: its session id, and whether its credential helper may be
//! asked (docs/official-cli.md, "Stored credentials").

use std::path::Path;

use crate::config::env::{Env, env_bool_any};
use crate::config::file::FileConfig;
use crate::config::problems::Problems;

/// Where the official CLI keeps what `auth:api-token-login` and `login`
/// stored (docs/official-cli.md, "Stored credentials").
#[derive(Debug, Clone, Default)]
pub struct Official {
    /// The session id (`api.session_id`, `{prefix}SESSION_ID`, the
    /// `session-id` file, else `default`); `None` when the one given is not
    /// a valid id (a warning says so) and nothing stored is read.
    pub session_id: Option<String>,
    /// Whether the credential helper may be asked
    /// (`api.disable_credential_helpers` is off).
    pub helpers: bool,
    /// `application.slug`, else the profile's.
    pub slug: String,
}

/// The official CLI's session id and whether it uses its credential helper.
pub(crate) fn official_store(
    env: &dyn Env,
    (prefix, slug): (&str, &str),
    config_dir: &Path,
    file: &mut FileConfig,
    problems: &mut Problems,
) -> Official {
    let var = [prefix, "SESSION_ID"].concat();
    let (id, origin) = match env.var(&var) {
        Some(id) => (id, var),
        None => match std::fs::read_to_string(config_dir.join("session-id")) {
            Ok(id) => (
                id.trim().to_string(),
                config_dir.join("session-id").display().to_string(),
            ),
            Err(_) => match file.string("api.session_id") {
                Some(id) => (id, "api.session_id".to_string()),
                None => ("default".to_string(), String::new()),
            },
        },
    };
    let valid = !id.starts_with("api-token-")
        && !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        problems.ignored.push(format!(
            "ignoring the session id {} in {origin}: not a session id of the official CLI; \
             its stored credentials are not read",
            crate::util::sanitize::short(&format!("{id:?}"), 60)
        ));
    }
    let disabled = env_bool_any(env, prefix, &["API_DISABLE_CREDENTIAL_HELPERS"])
        .ok()
        .flatten()
        .or_else(|| file.boolean("api.disable_credential_helpers"))
        .unwrap_or(false);
    Official {
        session_id: valid.then_some(id),
        helpers: !disabled,
        slug: file
            .string("application.slug")
            .unwrap_or_else(|| slug.to_string()),
    }
}
