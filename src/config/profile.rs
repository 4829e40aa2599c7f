//! The clouds certsh knows: Magento Cloud (the default), Platform.sh and Upsun.
//!
//! They run the same API; a profile holds only the names and addresses that
//! differ. Every value here can be overridden from the environment or the
//! config file (see `config/mod.rs`). The Magento Cloud URLs are not confirmed by
//! public documentation, which is why they are easy to override.

/// One cloud's defaults.
#[derive(Debug, PartialEq, Eq)]
pub struct Profile {
    /// Name used with `--profile` / `CERTSH_PROFILE`.
    pub name: &'static str,
    /// Human name, for messages.
    pub title: &'static str,
    /// Config folder under the home directory, shared with the official CLI.
    pub config_dir: &'static str,
    /// Prefix of the official CLI's environment variables (`..._TOKEN`).
    pub env_prefix: &'static str,
    /// The official CLI's `application.slug`: the first part of the names
    /// its credential helper stores secrets under.
    pub slug: &'static str,
    /// OAuth client id.
    pub client_id: &'static str,
    /// Base URL of the auth server.
    pub auth_url: &'static str,
    /// Base URL of the certifier.
    pub certifier_url: &'static str,
    /// Hosts that need a certificate (OpenSSH patterns).
    pub wildcards: &'static [&'static str],
}

/// The built-in profiles; the first is the default.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "magento",
        title: "Magento Cloud",
        config_dir: ".magento-cloud",
        env_prefix: "MAGENTO_CLOUD_CLI_",
        // Not published: what the official rule makes of the name "Magento
        // Cloud CLI" (docs/official-cli.md); `application.slug` overrides it.
        slug: "magento-cloud-cli",
        client_id: "magento-cloud-cli",
        auth_url: "https://auth.magento.cloud",
        certifier_url: "https://ssh.api.magento.cloud",
        wildcards: &["*.magento.cloud", "*.magentosite.cloud"],
    },
    Profile {
        name: "platformsh",
        title: "Platform.sh",
        config_dir: ".platformsh",
        env_prefix: "PLATFORMSH_CLI_",
        slug: "platformsh-cli",
        client_id: "platform-cli",
        auth_url: "https://auth.upsun.com",
        certifier_url: "https://auth.upsun.com",
        wildcards: &["*.platform.sh"],
    },
    Profile {
        name: "upsun",
        title: "Upsun",
        config_dir: ".upsun-cli",
        env_prefix: "UPSUN_CLI_",
        slug: "upsun",
        client_id: "upsun-cli",
        auth_url: "https://auth.upsun.com",
        certifier_url: "https://auth.upsun.com",
        wildcards: &["*.platform.sh", "*.upsun.com"],
    },
];

impl Profile {
    /// `certsh [--profile NAME] <rest>`, a command a message tells the user
    /// to run: the default profile's `--profile` is left out, as nobody
    /// needs to type it.
    pub fn own_command(&self, rest: &str) -> String {
        if self.name == PROFILES[0].name {
            format!("certsh {rest}")
        } else {
            format!("certsh --profile {} {rest}", self.name)
        }
    }

    /// `certsh [--profile NAME] login<rest>`.
    pub fn login_command(&self, rest: &str) -> String {
        self.own_command(&format!("login{rest}"))
    }
}

/// The profile called `name` (a few common spellings are accepted).
pub fn by_name(name: &str) -> Option<&'static Profile> {
    let wanted = match name.to_ascii_lowercase().as_str() {
        "magento" | "magento-cloud" | "magento_cloud" | "adobe" => "magento",
        "platformsh" | "platform.sh" | "platform" => "platformsh",
        "upsun" => "upsun",
        _ => return None,
    };
    PROFILES.iter().find(|p| p.name == wanted)
}

/// The names `--profile` accepts, for messages.
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_magento() {
        assert_eq!(PROFILES[0].name, "magento");
        assert_eq!(PROFILES[0].env_prefix, "MAGENTO_CLOUD_CLI_");
    }

    #[test]
    fn names_resolve() {
        assert_eq!(by_name("Platform.sh").unwrap().client_id, "platform-cli");
        assert_eq!(by_name("UPSUN").unwrap().config_dir, ".upsun-cli");
        assert!(by_name("github").is_none());
    }

    #[test]
    fn every_profiles_token_variable_is_kept_from_children() {
        let vars: Vec<String> = PROFILES
            .iter()
            .map(|p| format!("{}TOKEN", p.env_prefix))
            .collect();
        assert_eq!(vars, crate::util::secret::TOKEN_VARIABLES);
    }
}
