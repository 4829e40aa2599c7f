//! "Log in and this works": the one error the shim answers by logging in
//! itself, with what a step-up challenge asked for. Below everything else in
//! `credentials/`, so that the API, the stored secrets and the renewal can all
//! say it without knowing how a login is done.

use std::fmt;

use crate::config::Config;
use crate::util::error::Fixable;

/// What the certifier asked for in a step-up (RFC 9470) challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepUp {
    /// The authentication methods to ask for, every one the certifier
    /// named, in its order (`mfa`, `sso:...`); none when it named none.
    pub amr: Vec<String>,
    /// The login may be at most this old (seconds).
    pub max_age: Option<u64>,
}

impl StepUp {
    /// The demand to log in that answers it: `problem` (what the certifier
    /// said), and the command that fixes it.
    pub fn demand(self, cfg: &Config, problem: String) -> NeedLogin {
        let fix = format!("run: {}", self.command(cfg));
        NeedLogin::new(Fixable::new(problem, fix), None, Some(self))
    }

    /// What it asks for, in words: "a multi-factor login", "a fresh login
    /// with sso:acme", "a new login".
    pub fn needs(&self) -> String {
        let fresh = if self.max_age.is_some() { "fresh " } else { "" };
        match self.amr.as_slice() {
            [] if fresh.is_empty() => "a new login".to_string(),
            [] => "a fresh login".to_string(),
            [m] if m == "mfa" => format!("a {fresh}multi-factor login"),
            methods => format!("a {fresh}login with {}", methods.join(" and ")),
        }
    }

    /// The command that fixes it: `certsh login --mfa [--max-age N]`, or
    /// `--method M` for each method when the certifier named others.
    pub fn command(&self, cfg: &Config) -> String {
        let mut rest = String::new();
        if self.amr == ["mfa"] {
            rest.push_str(" --mfa");
        } else {
            for m in &self.amr {
                rest.push_str(&format!(" --method {m}"));
            }
        }
        if let Some(age) = self.max_age {
            rest.push_str(&format!(" --max-age {age}"));
        }
        cfg.login_command(&rest)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up_names_one_command() {
        let home = tempfile::tempdir().unwrap();
        let env = std::collections::HashMap::from([(
            "HOME".to_string(),
            home.path().display().to_string(),
        )]);
        let cfg = Config::load(None, &env).unwrap();
        let s = StepUp {
            amr: vec!["mfa".into()],
            max_age: None,
        };
        assert_eq!(s.command(&cfg), "certsh login --mfa");
        let cfg = Config::load(Some("upsun"), &env).unwrap();
        let s = StepUp {
            amr: vec!["mfa".into()],
            max_age: Some(300),
        };
        assert_eq!(
            s.command(&cfg),
            "certsh --profile upsun login --mfa --max-age 300"
        );
    }
}
