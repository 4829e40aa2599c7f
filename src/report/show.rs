//! `certsh load` and `certsh status`: what certificate there is, for whom,
//! until when. Key id and principals come from the certificate, which the
//! server wrote, so they are sanitised before they reach the terminal.
//!
//! With named accounts (`config/accounts.rs`) and no `--account`, `status`
//! lists the profile's own certificate and every account's, one line each.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::config::accounts::Accounts;
use crate::config::{Config, For, ProcessEnv};
use crate::credentials::refresh::Want;
use crate::credentials::source::{self, Identity};
use crate::state::cert::{self, now};
use crate::state::store::{Cached, Store};
use crate::util::error::{self, Fixable};
use crate::util::sanitize;

/// `certsh load [--refresh]`: a valid certificate now, shown.
pub fn load(cfg: &Config, refresh: bool) -> Result<ExitCode> {
    let want = if refresh { Want::Fresh } else { Want::IfNeeded };
    let cached = crate::credentials::login::ensure_at_terminal(cfg, want)?;
    print!("{}", human(cfg, &report(cfg, Some(&cached))));
    Ok(error::success())
}

/// `certsh status [--json]`: the same, without network. Exits 1 when there
/// is no certificate that ssh could use now.
pub fn status(cfg: &Config, json: bool) -> Result<ExitCode> {
    let cached = Store::locate(cfg).and_then(|s| s.current());
    let r = report(cfg, cached.as_ref());
    if json {
        let text = serde_json::to_string_pretty(&r)
            .map_err(|e| Fixable::new(format!("cannot encode the status: {e}"), "report this"))?;
        println!("{text}");
    } else {
        print!("{}", human(cfg, &r));
    }
    Ok(match r.state {
        State::Valid | State::RenewSoon => error::success(),
        _ => ExitCode::from(error::NO_CERTIFICATE),
    })
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum State {
    /// Usable and outside the renewal margin.
    Valid,
    /// Usable, but the next connection renews it.
    RenewSoon,
    /// Issued for another API token than the one configured now.
    OtherCredential,
    Expired,
    Missing,
}

#[derive(Serialize)]
struct Report {
    /// The named account, when there is one (absent otherwise, as before
    /// accounts existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    profile: &'static str,
    state: State,
    key_id: Option<String>,
    principals: Vec<String>,
    valid_after: Option<u64>,
    valid_before: Option<u64>,
    seconds_left: Option<u64>,
    mfa: Option<bool>,
    mode: Option<&'static str>,
    certificate: Option<String>,
    key: Option<String>,
    /// The credential the next certificate comes from, and who logged in.
    login: Identity,
    /// What the last background renewal said when it failed, until a
    /// connection reports it (`credentials/ahead.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    renewal_failed: Option<String>,
}

fn report(cfg: &Config, cached: Option<&Cached>) -> Report {
    let now = now();
    let Some(c) = cached else {
        return Report {
            account: cfg.account.as_ref().map(|a| a.name.clone()),
            profile: cfg.profile.name,
            state: State::Missing,
            key_id: None,
            principals: vec![],
            valid_after: None,
            valid_before: None,
            seconds_left: None,
            mfa: None,
            mode: None,
            certificate: None,
            key: None,
            login: source::identity(cfg),
            renewal_failed: None,
        };
    };
    let left = cert::seconds_left(&c.cert, now);
    let fp = source::direct_fingerprint(cfg);
    let state = if left == 0 {
        State::Expired
    } else if !cert::from_credential(&c.comment, fp.as_deref()) {
        State::OtherCredential
    } else if cert::usable_from(&c.cert, &c.comment, now, cfg.refresh_margin.as_secs(), None) {
        State::Valid
    } else {
        State::RenewSoon
    };
    Report {
        account: cfg.account.as_ref().map(|a| a.name.clone()),
        profile: cfg.profile.name,
        state,
        key_id: Some(sanitize::text(c.cert.key_id())),
        principals: c
            .cert
            .valid_principals()
            .iter()
            .map(|p| sanitize::text(p))
            .collect(),
        valid_after: Some(c.cert.valid_after()),
        valid_before: Some(c.cert.valid_before()),
        seconds_left: Some(left),
        mfa: Some(cert::has_mfa(&c.cert)),
        mode: Some(if cert::is_app(&c.cert) {
            "app"
        } else {
            "interactive"
        }),
        certificate: Some(c.cert_path.display().to_string()),
        key: Some(c.key_path.display().to_string()),
        login: source::identity(cfg),
        renewal_failed: c
            .cert_path
            .parent()
            .and_then(std::path::Path::parent)
            .and_then(crate::credentials::ahead::pending_failure),
    }
}

fn human(cfg: &Config, r: &Report) -> String {
    let title = cfg.profile.title;
    if r.state == State::Missing {
        let whose = match &r.account {
            Some(name) => format!(" for the account {name}"),
            None => String::new(),
        };
        let head = format!(
            "No {title} certificate yet{whose} (run: {})\n",
            cfg.own_command("load")
        );
        // The environment and config.yaml speak for themselves; what certsh
        // keeps (or the lack of anything) is worth a line.
        return match r.login.credential {
            "environment" | "config" => head,
            _ => head + &login_lines(&r.login),
        };
    }
    let left = r.seconds_left.unwrap_or(0);
    let until = r.valid_before.map(local_time).unwrap_or_default();
    let when = match r.state {
        State::Expired => format!("{until} (expired)"),
        _ => format!("{until} ({} left)", cert::human_duration(left)),
    };
    let note = match r.state {
        State::RenewSoon => "\n  Note:        renewed at the next connection",
        State::OtherCredential => {
            "\n  Note:        issued for another API token; renewed at the next connection"
        }
        _ => "",
    };
    let yes_no = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" };
    let account = match &r.account {
        Some(name) => format!("account {name}, "),
        None => String::new(),
    };
    format!(
        "{title} certificate ({account}profile {})\n  Key ID:      {}\n  Principals:  {}\n  Valid until: {when}\n  MFA:         {}\n  Mode:        {}\n  Certificate: {}\n  Key:         {}{note}\n",
        r.profile,
        r.key_id.as_deref().unwrap_or(""),
        r.principals.join(", "),
        yes_no(r.mfa),
        r.mode.unwrap_or(""),
        r.certificate.as_deref().unwrap_or(""),
        r.key.as_deref().unwrap_or(""),
    ) + &login_lines(&r.login)
        + &r.renewal_failed
            .as_ref()
            .map(|f| format!("  Renewal:     the background renewal failed: {f}\n"))
            .unwrap_or_default()
}

/// The accounts file's accounts, when there is a file with at least one;
/// its problems are the error.
pub fn defined_accounts(cfg: &Config) -> Result<Option<Accounts>> {
    let found = crate::config::accounts_or_error(&ProcessEnv, &cfg.home)?;
    Ok(found.filter(|a| !a.list.is_empty()))
}

/// `certsh status` with accounts and no `--account`: the profile's own
/// certificate, then each account's, one line each (or JSON: `default` and
/// `accounts`). Exits 1 unless every account has a certificate ssh can use.
pub fn status_accounts(cfg: &Config, all: &Accounts, json: bool) -> Result<ExitCode> {
    let default = report(cfg, Store::locate(cfg).and_then(|s| s.current()).as_ref());
    let mut reports = vec![];
    for a in &all.list {
        let who = For {
            account: Some(&a.name),
            ..Default::default()
        };
        let acfg = Config::load_for(None, who, &ProcessEnv)?;
        let cached = Store::locate(&acfg).and_then(|s| s.current());
        reports.push(report(&acfg, cached.as_ref()));
    }
    if json {
        let value = serde_json::json!({ "default": default, "accounts": reports });
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| Fixable::new(format!("cannot encode the status: {e}"), "report this"))?;
        println!("{text}");
    } else {
        println!("Accounts in {}:", all.file.display());
        print!("{}", one_line("(no account)", &default));
        for r in &reports {
            print!("{}", one_line(r.account.as_deref().unwrap_or(""), r));
        }
    }
    let usable = |r: &Report| matches!(r.state, State::Valid | State::RenewSoon);
    Ok(if reports.iter().all(usable) {
        error::success()
    } else {
        ExitCode::from(error::NO_CERTIFICATE)
    })
}

/// `  client-a  magento  valid, 59m left  (principals: ...)`.
fn one_line(name: &str, r: &Report) -> String {
    let state = match r.state {
        State::Missing => "no certificate".to_string(),
        State::Expired => "expired".to_string(),
        State::OtherCredential => "issued for another API token".to_string(),
        State::Valid | State::RenewSoon => format!(
            "valid, {} left",
            cert::human_duration(r.seconds_left.unwrap_or(0))
        ),
    };
    let principals = if r.principals.is_empty() {
        String::new()
    } else {
        format!("  (principals: {})", r.principals.join(", "))
    };
    format!("  {name:<16} {:<10} {state}{principals}\n", r.profile)
}

/// `Credential:` and `Logged in:` lines.
fn login_lines(id: &Identity) -> String {
    let mut out = match (&id.origin, &id.problem) {
        (_, Some(p)) => format!("  Credential:  unusable: {p}\n"),
        (Some(o), None) => format!("  Credential:  {o}\n"),
        (None, None) => "  Credential:  none (run: certsh login)\n".to_string(),
    };
    if let Some(user) = &id.user {
        let amr = if id.amr.is_empty() {
            String::new()
        } else {
            format!(" ({})", id.amr.join(", "))
        };
        let until = match id.access_token_expires {
            Some(t) if t > now() => format!(", access token until {}", local_time(t)),
            Some(_) => ", access token expired".to_string(),
            None => String::new(),
        };
        out.push_str(&format!("  Logged in:   {user}{amr}{until}\n"));
    }
    out
}

/// `2026-11-28 09:41:02 CET` in the local time zone.
fn local_time(secs: u64) -> String {
    jiff::Timestamp::from_second(secs as i64)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        })
        .unwrap_or_else(|_| secs.to_string())
}
