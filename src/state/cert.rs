//! Where a certificate is checked: before it is stored, and before it is used.
//!
//! `ssh-key` parses the certificate; the rules here are certsh's. A
//! certificate from the certifier is used only when it parses, is a user
//! certificate, certifies certsh's own public key and is valid now. Its
//! signature is the server's business: sshd checks it against the CA it
//! trusts, and certsh has no other source for that CA than the certifier.

use std::time::{SystemTime, UNIX_EPOCH};

use ssh_key::certificate::CertType;
use ssh_key::public::KeyData;
use ssh_key::{Certificate, HashAlg};

use crate::util::sanitize;

/// A new certificate may start this far in the future: the server's clock
/// may run a little ahead of ours, and sshd judges by its own clock.
pub const CLOCK_SKEW_ALLOWANCE: u64 = 60;

/// Extension: the login behind the certificate passed multi-factor auth.
pub const EXT_MFA: &str = "has-mfa@platform.sh";
/// Extension: issued to an app (API token) rather than an interactive login.
pub const EXT_APP: &str = "is-app@platform.sh";

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why a certificate from the certifier cannot be used. Each text ends with
/// what the user can do.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Not an OpenSSH certificate at all.
    Unparsable(String),
    /// A host certificate.
    NotUser,
    /// Certifies some other key.
    OtherKey {
        /// Fingerprint of the key in the certificate.
        got: String,
        /// Fingerprint of certsh's key.
        want: String,
    },
    /// Its window has closed.
    Expired {
        /// `valid_before`.
        at: u64,
    },
    /// Its window has not opened.
    NotYetValid {
        /// `valid_after`.
        at: u64,
    },
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Unparsable(e) => write!(f, "is not an SSH certificate ({e})"),
            Rejected::NotUser => write!(f, "is a host certificate, not a user certificate"),
            Rejected::OtherKey { got, want } => {
                write!(f, "certifies key {got}, not certsh's key {want}")
            }
            Rejected::Expired { at } => write!(
                f,
                "expired {} ago (check this computer's clock)",
                human_duration(now().saturating_sub(*at))
            ),
            Rejected::NotYetValid { at } => write!(
                f,
                "is not valid for another {} (check this computer's clock)",
                human_duration(at.saturating_sub(now()))
            ),
        }
    }
}

/// The certificate types OpenSSH defines (PROTOCOL.certkeys and its
/// security-key additions). A blob of any other type is refused before
/// ssh-key reads it: ssh-key 0.6.7 takes any `<name>-cert-v01@<domain>` as a
/// type of its own and panics when it spells one whose name is empty
/// (`-cert-v01@x`) back.
const KNOWN_TYPES: [&str; 8] = [
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// A certificate in SSH wire format, from anyone (a file, the certifier, an
/// agent client): every caller in certsh decodes one through here.
pub fn from_blob(blob: &[u8]) -> Result<Certificate, String> {
    let named = blob
        .split_first_chunk::<4>()
        .and_then(|(len, rest)| rest.get(..u32::from_be_bytes(*len) as usize));
    match named {
        Some(kind) if KNOWN_TYPES.iter().any(|t| t.as_bytes() == kind) => {
            Certificate::from_bytes(blob).map_err(|e| e.to_string())
        }
        Some(kind) => Err(format!(
            "unknown certificate type {:?}",
            sanitize::short(&String::from_utf8_lossy(kind), 48)
        )),
        None => Err("too short to name its type".into()),
    }
}

/// A certificate in OpenSSH's one-line form, `<type> <base64> [comment]`:
/// the whole blob parses and its type is the one the text names, as
/// [`Certificate::from_openssh`] checks. Returns the certificate and the
/// comment.
pub fn from_text(text: &str) -> Result<(Certificate, String), String> {
    let (kind, bytes, comment) = line_fields(text)?;
    Ok((from_fields(kind, &bytes)?, comment))
}

/// The certificate of a line's type and decoded blob, when the blob is of
/// that type.
fn from_fields(kind: &str, blob: &[u8]) -> Result<Certificate, String> {
    let cert = from_blob(blob)?;
    if cert.algorithm().to_certificate_type() != kind {
        return Err(format!(
            "its text names type {:?}, its blob another",
            sanitize::short(kind, 48)
        ));
    }
    Ok(cert)
}

/// The one-line form's type, decoded blob and comment (its words joined by
/// one space). Decoded with the `base64` crate, several times faster than
/// ssh-key's constant-time decoder, which a public certificate does not
/// need.
fn line_fields(text: &str) -> Result<(&str, Vec<u8>, String), String> {
    use base64::Engine as _;
    let mut fields = text.split_ascii_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return Err("not a line of a type and base64".into());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| "invalid base64".to_string())?;
    Ok((kind, bytes, fields.collect::<Vec<_>>().join(" ")))
}

/// The certificate file as certsh wrote it: the certificate and the file's
/// comment, which names the credential it came from ([`source_comment`]).
pub fn read(text: &str) -> Option<(Certificate, String)> {
    from_text(text).ok()
}

/// The certificate file as a connection reads it: the [`Validity`] and the
/// comment. An ed25519 certificate, the kind certsh's keys get, is read by
/// walking its blob's fields to the window, without building the whole
/// certificate: it was parsed whole and checked against the key when it
/// was written (`check_new`, `Store::publish`), and this read still wants
/// every field there and nothing after them, so a file cut short, or whose
/// text names another type than its blob, is refused as [`read`] refuses
/// it. Any other kind is read whole. This took a fifth of the code a connection
/// runs (docs/benchmarks.md).
pub fn read_validity(text: &str) -> Option<(Validity, String)> {
    const ED25519: &str = "ssh-ed25519-cert-v01@openssh.com";
    let (kind, bytes, comment) = line_fields(text).ok()?;
    let validity = if kind == ED25519 {
        ed25519_validity(&bytes, ED25519.as_bytes())?
    } else {
        Validity::of(&from_fields(kind, &bytes).ok()?)
    };
    Some((validity, comment))
}

/// The window of an `ssh-ed25519-cert-v01@openssh.com` blob (PROTOCOL.certkeys:
/// type, nonce, public key, serial, type, key id, principals, valid after,
/// valid before, critical options, extensions, reserved, signature key,
/// signature), when every field is there and nothing follows.
fn ed25519_validity(blob: &[u8], kind: &[u8]) -> Option<Validity> {
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        *rest = tail;
        Some(head)
    }
    fn string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(take(rest, 4)?.try_into().ok()?);
        take(rest, usize::try_from(len).ok()?)
    }
    fn uint64(rest: &mut &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(take(rest, 8)?.try_into().ok()?))
    }
    let mut rest = blob;
    if string(&mut rest)? != kind {
        return None;
    }
    string(&mut rest)?; // nonce
    if string(&mut rest)?.len() != 32 {
        return None;
    }
    uint64(&mut rest)?; // serial
    let cert_type = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?);
    string(&mut rest)?; // key id
    string(&mut rest)?; // principals
    let after = uint64(&mut rest)?;
    let before = uint64(&mut rest)?;
    for _ in 0..5 {
        // critical options, extensions, reserved, signature key, signature
        string(&mut rest)?;
    }
    if !rest.is_empty() || !(1..=2).contains(&cert_type) {
        return None;
    }
    Some(Validity {
        user: cert_type == 1,
        after,
        before,
    })
}

/// Parses the certifier's answer and checks it against our public key at
/// time `now`.
pub fn check_new(text: &str, ours: &KeyData, now: u64) -> Result<Certificate, Rejected> {
    let (cert, _) = from_text(text).map_err(|e| Rejected::Unparsable(sanitize::short(&e, 80)))?;
    if cert.cert_type() != CertType::User {
        return Err(Rejected::NotUser);
    }
    if cert.public_key() != ours {
        return Err(Rejected::OtherKey {
            got: fingerprint(cert.public_key()),
            want: fingerprint(ours),
        });
    }
    if cert.valid_before() <= now {
        return Err(Rejected::Expired {
            at: cert.valid_before(),
        });
    }
    if cert.valid_after() > now + CLOCK_SKEW_ALLOWANCE {
        return Err(Rejected::NotYetValid {
            at: cert.valid_after(),
        });
    }
    Ok(cert)
}

/// Seconds left before `cert` expires (0 when it has).
pub fn seconds_left(cert: &Certificate, now: u64) -> u64 {
    cert.valid_before().saturating_sub(now)
}

/// What deciding on a certificate takes: whether it is a user certificate,
/// and its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// A user certificate (not a host one).
    pub user: bool,
    /// `valid_after`.
    pub after: u64,
    /// `valid_before`.
    pub before: u64,
}

impl Validity {
    pub fn of(cert: &Certificate) -> Validity {
        Validity {
            user: cert.cert_type() == CertType::User,
            after: cert.valid_after(),
            before: cert.valid_before(),
        }
    }

    /// Whether it can be handed to ssh now and still be valid `margin`
    /// seconds from now.
    pub fn usable(&self, now: u64, margin: u64) -> bool {
        self.user
            && self.after <= now + CLOCK_SKEW_ALLOWANCE
            && self.before.saturating_sub(now) > margin
    }

    /// [`usable_from`], for this window.
    pub fn usable_from(
        &self,
        comment: &str,
        now: u64,
        margin: u64,
        fingerprint: Option<&str>,
    ) -> bool {
        self.usable(now, margin) && from_credential(comment, fingerprint)
    }

    /// Whether `now` is in the last `share` of the lifetime (0: never).
    pub fn in_last_share(&self, now: u64, share: f64) -> bool {
        last_share(self.after, self.before, now, share)
    }
}

/// The comment certsh writes into a certificate file, naming the credential
/// it came from, so that a changed API token is not served the previous
/// token's certificate.
pub fn source_comment(fingerprint: &str) -> String {
    format!("{SOURCE_PREFIX}{fingerprint}")
}

const SOURCE_PREFIX: &str = "certsh-source:";

/// Whether a certificate whose file has `comment` came from the credential
/// with `fingerprint`; `None` (the credential is not known without reading
/// files) accepts any.
pub fn from_credential(comment: &str, fingerprint: Option<&str>) -> bool {
    // Compared in place, not formatted: it runs on every connection.
    fingerprint.is_none_or(|fp| comment.strip_prefix(SOURCE_PREFIX) == Some(fp))
}

/// The one answer to "can this certificate serve a connection now, as it
/// is": [`Validity::usable`] for longer than `margin` seconds, and
/// [`from_credential`] the one in use. Renewal, the shim's fallback to a
/// certificate that failed to renew, `certsh status` and `certsh doctor` all
/// ask here.
/// `comment` is the certificate file's ([`read`]).
pub fn usable_from(
    cert: &Certificate,
    comment: &str,
    now: u64,
    margin: u64,
    fingerprint: Option<&str>,
) -> bool {
    Validity::of(cert).usable_from(comment, now, margin, fingerprint)
}

/// Whether `now` is in the last `share` of `cert`'s lifetime (0: never).
pub fn in_last_share(cert: &Certificate, now: u64, share: f64) -> bool {
    Validity::of(cert).in_last_share(now, share)
}

fn last_share(after: u64, before: u64, now: u64, share: f64) -> bool {
    if share <= 0.0 || before <= after {
        return false;
    }
    let lifetime = (before - after) as f64;
    let left = before.saturating_sub(now) as f64;
    left < lifetime * share.min(1.0)
}

/// SHA-256 fingerprint as ssh-keygen prints it.
pub fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Whether the login behind the certificate passed MFA.
pub fn has_mfa(cert: &Certificate) -> bool {
    cert.extensions().contains_key(EXT_MFA)
}

/// Whether the certificate was issued to an app (API token).
pub fn is_app(cert: &Certificate) -> bool {
    cert.extensions().contains_key(EXT_APP)
}

/// `1h 02m`, `4m 10s`, `12s`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_last_third_of_an_hour_is_its_last_twenty_minutes() {
        let share = 1.0 / 3.0;
        assert!(!last_share(0, 3600, 0, share));
        assert!(!last_share(0, 3600, 2399, share));
        assert!(last_share(0, 3600, 2401, share));
        assert!(last_share(0, 3600, 4000, share));
        assert!(!last_share(0, 3600, 3000, 0.0), "0 turns it off");
        assert!(last_share(0, 3600, 1, 1.0), "1 renews at once");
    }
    use ssh_key::rand_core::OsRng;
    use ssh_key::{Algorithm, PrivateKey, certificate::Builder};

    fn key() -> PrivateKey {
        PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap()
    }

    /// A certificate for `subject` from a throwaway CA: Key ID `user-1`,
    /// principal `p`, the MFA extension.
    pub(crate) fn cert_for(
        subject: &PrivateKey,
        after: u64,
        before: u64,
        kind: CertType,
    ) -> String {
        let ca = key();
        let mut b = Builder::new_with_random_nonce(&mut OsRng, subject.public_key(), after, before)
            .unwrap();
        b.cert_type(kind).unwrap();
        b.key_id("user-1").unwrap();
        b.valid_principal("p").unwrap();
        b.extension(EXT_MFA, "").unwrap();
        b.sign(&ca).unwrap().to_openssh().unwrap()
    }

    const NOW: u64 = 1_800_000_000;

    /// A connection's read of the window agrees with the whole read, for
    /// each type and window, and refuses as the whole read does a file cut
    /// short anywhere, a blob with a field too many, and a text that names
    /// another type than its blob.
    #[test]
    fn the_window_read_agrees_with_the_whole_read_and_refuses_what_it_refuses() {
        let k = key();
        for (kind, after, before) in [
            (CertType::User, NOW - 30, NOW + 3600),
            (CertType::Host, NOW - 30, NOW + 3600),
            (CertType::User, NOW - 7200, NOW - 3600),
        ] {
            let text = format!("{} certsh-source:0123", cert_for(&k, after, before, kind));
            let (cert, comment) = read(&text).unwrap();
            assert_eq!(
                read_validity(&text),
                Some((Validity::of(&cert), comment)),
                "{kind:?}"
            );
        }
        let text = cert_for(&k, NOW - 30, NOW + 3600, CertType::User);
        let (kind, blob) = text.split_once(' ').unwrap();
        let blob = blob.trim();
        for cut in 0..blob.len() {
            let short = format!("{kind} {}", &blob[..cut]);
            assert_eq!(read_validity(&short), None, "cut at {cut}");
            assert!(read(&short).is_none(), "cut at {cut}");
        }
        // A blob with one more field, or a type that is not the text's.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut longer = b64.decode(blob).unwrap();
        longer.extend_from_slice(&[0, 0, 0, 0]);
        let longer = format!("{kind} {}", b64.encode(&longer));
        assert_eq!(read_validity(&longer), None);
        assert!(read(&longer).is_none());
        let other = format!("ssh-rsa-cert-v01@openssh.com {blob}");
        assert_eq!(read_validity(&other), None);
        assert!(read(&other).is_none());
    }

    #[test]
    fn the_fast_read_agrees_with_ssh_keys_parser() {
        let k = key();
        let text = cert_for(&k, NOW - 30, NOW + 3600, CertType::User);
        let (fast, comment) = read(&format!("{text} certsh-source:0123")).unwrap();
        assert_eq!(fast, Certificate::from_openssh(&text).unwrap());
        assert_eq!(comment, "certsh-source:0123");
        assert!(from_credential(&comment, Some("0123")));
        assert!(!from_credential(&comment, Some("4567")));
        assert!(read(&text.replacen("ssh-ed25519-cert", "ssh-rsa-cert", 1)).is_none());
        assert!(read(&text[..text.len() / 2]).is_none());
        assert!(read("").is_none());
    }

    #[test]
    fn a_good_certificate_passes() {
        let k = key();
        let text = cert_for(&k, NOW - 30, NOW + 3600, CertType::User);
        let cert = check_new(&text, k.public_key().key_data(), NOW).unwrap();
        assert_eq!(cert.key_id(), "user-1");
        assert!(has_mfa(&cert));
        assert!(!is_app(&cert));
        assert!(Validity::of(&cert).usable(NOW, 300));
        assert!(
            !Validity::of(&cert).usable(NOW + 3400, 300),
            "inside the margin"
        );
    }

    #[test]
    fn garbage_is_rejected() {
        let k = key();
        let r = check_new(
            "ssh-ed25519-cert-v01@openssh.com AAAAnot",
            k.public_key().key_data(),
            NOW,
        );
        assert!(matches!(r, Err(Rejected::Unparsable(_))), "{r:?}");
        let r = check_new("", k.public_key().key_data(), NOW);
        assert!(matches!(r, Err(Rejected::Unparsable(_))), "{r:?}");
    }

    /// A real certificate whose blob names the type `-cert-v01@x`:
    /// ssh-key's own parser panics on it (found by fuzzing); certsh's
    /// readers answer with a reason.
    #[test]
    fn a_blob_of_a_type_ssh_key_cannot_spell_is_refused_not_a_panic() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let k = key();
        let text = cert_for(&k, NOW - 30, NOW + 3600, CertType::User);
        let mut blob = b64.decode(text.split(' ').nth(1).unwrap()).unwrap();
        let kind = b"ssh-ed25519-cert-v01@openssh.com";
        assert_eq!(&blob[4..4 + kind.len()], kind);
        let odd = b"-cert-v01@x";
        blob.splice(
            ..4 + kind.len(),
            [&(odd.len() as u32).to_be_bytes()[..], odd].concat(),
        );
        let line = format!("-cert-v01@x {}", b64.encode(&blob));

        let theirs = std::panic::catch_unwind(|| Certificate::from_openssh(&line).is_ok());
        assert!(
            theirs.is_err(),
            "ssh-key no longer panics here: KNOWN_TYPES may go"
        );
        assert_eq!(
            from_blob(&blob).unwrap_err(),
            "unknown certificate type \"-cert-v01@x\""
        );
        assert!(read(&line).is_none());
        let r = check_new(&line, k.public_key().key_data(), NOW);
        assert_eq!(
            r.unwrap_err().to_string(),
            "is not an SSH certificate (unknown certificate type \"-cert-v01@x\")"
        );
        assert_eq!(
            from_blob(&[0, 0]).unwrap_err(),
            "too short to name its type"
        );
    }

    #[test]
    fn another_key_is_rejected() {
        let (k, other) = (key(), key());
        let text = cert_for(&other, NOW - 30, NOW + 3600, CertType::User);
        let r = check_new(&text, k.public_key().key_data(), NOW);
        assert!(matches!(r, Err(Rejected::OtherKey { .. })), "{r:?}");
    }

    #[test]
    fn host_certificates_are_rejected() {
        let k = key();
        let text = cert_for(&k, NOW - 30, NOW + 3600, CertType::Host);
        assert_eq!(
            check_new(&text, k.public_key().key_data(), NOW).unwrap_err(),
            Rejected::NotUser
        );
    }

    #[test]
    fn time_window_is_checked() {
        let k = key();
        let ours = k.public_key().key_data();
        let expired = cert_for(&k, NOW - 7200, NOW - 3600, CertType::User);
        assert!(matches!(
            check_new(&expired, ours, NOW),
            Err(Rejected::Expired { .. })
        ));
        let later = cert_for(&k, NOW + 3600, NOW + 7200, CertType::User);
        assert!(matches!(
            check_new(&later, ours, NOW),
            Err(Rejected::NotYetValid { .. })
        ));
        let slightly_ahead = cert_for(&k, NOW + 20, NOW + 3600, CertType::User);
        assert!(check_new(&slightly_ahead, ours, NOW).is_ok());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(3725), "1h 02m");
        assert_eq!(human_duration(250), "4m 10s");
        assert_eq!(human_duration(9), "9s");
        assert_eq!(human_duration(90000), "1d 1h");
    }
}
