//! OpenSSH host patterns (`*.magento.cloud`, `!ignored.example`): how they
//! match, matched with ssh_config's own rules so that a pattern means in certsh
//! what it means in a `Host` line, and which patterns certsh accepts at all.
//!
//! The configuration checks the patterns it reads here; the scope decision
//! (`connect/scope.rs`) and the ssh_config block (`setup/ssh_config.rs`) match
//! and write them.

/// Whether `host` matches a list of OpenSSH host patterns, as ssh matches a
/// `Host` line (`match_pattern_list`).
///
/// Each entry is one pattern: `*` matches any run of bytes (also none), `?`
/// exactly one byte, everything else itself, ignoring ASCII case. A pattern
/// starting with `!` is negated: if it matches, the answer is `false` whatever
/// else matches. Otherwise the answer is whether some pattern matches.
/// `*.magento.cloud` matches `git.us-3.magento.cloud` but neither
/// `magento.cloud` nor `evil.magento.cloud.example.com`.
pub fn host_matches<P: AsRef<str>>(host: &str, patterns: &[P]) -> bool {
    matches_any(host.as_bytes(), patterns)
}

/// [`host_matches`] on bytes, for names read from files that need not be
/// UTF-8.
pub(crate) fn matches_any<P: AsRef<str>>(host: &[u8], patterns: &[P]) -> bool {
    let mut positive = false;
    for pattern in patterns {
        let pattern = pattern.as_ref().as_bytes();
        match pattern.strip_prefix(b"!") {
            // A negation can still veto after a positive match, so every
            // pattern is looked at.
            Some(negated) => {
                if wildcard_match(host, negated, true) {
                    return false;
                }
            }
            None => positive = positive || wildcard_match(host, pattern, true),
        }
    }
    positive
}

/// A host pattern certsh will not use: one of its characters could mean
/// something else in an ssh_config line than in a host pattern (a quote, a
/// backslash, white space, a control character), so written into
/// `setup ssh-config`'s `Match` lines it could end them early and start a
/// `Match exec` of its own. Refused wherever patterns are read, so
/// that what certsh matches and what it writes are the same patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHostPattern {
    /// The pattern, quoted, its control characters escaped, cut short.
    pub pattern: String,
    /// Where it was read: a variable's name, or a key and its file.
    pub origin: String,
}

impl std::fmt::Display for BadHostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the host pattern {} in {} has characters ssh_config could misread \
             (use only letters, digits and . - _ * ? ! in host patterns, with commas between them)",
            self.pattern, self.origin
        )
    }
}

impl std::error::Error for BadHostPattern {}

/// Whether a single host pattern (no commas) holds only characters that
/// every ssh_config parser reads as themselves: letters, digits, `.`, `-`,
/// `_`, and the pattern characters `*`, `?` and `!`.
pub fn is_safe_host_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-*?!".contains(&b))
}

/// `pattern` for a message: in quotes, with control characters, quotes,
/// backslashes and invisible characters escaped (Rust's `{:?}`), cut to 80
/// characters.
pub fn quoted(pattern: &str) -> String {
    let text = format!("{pattern:?}");
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// The host patterns of `entries` as certsh uses them: an entry may hold
/// several patterns separated by commas (as in ssh_config), white space
/// around each is dropped, and empty ones are skipped. Any other pattern with
/// a character outside [`is_safe_host_pattern`]'s set is refused; `origin`
/// names where the entries were read, for the message.
pub fn host_patterns(entries: Vec<String>, origin: &str) -> Result<Vec<String>, BadHostPattern> {
    // The common case (the profile's defaults, a plain list) allocates
    // nothing new.
    if entries.iter().all(|e| is_safe_host_pattern(e)) {
        return Ok(entries);
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in &entries {
        for pattern in entry.split(',') {
            let pattern = pattern.trim_matches(|c: char| c.is_ascii_whitespace());
            if pattern.is_empty() {
                continue;
            }
            if !is_safe_host_pattern(pattern) {
                return Err(BadHostPattern {
                    pattern: quoted(pattern),
                    origin: origin.to_string(),
                });
            }
            out.push(pattern.to_string());
        }
    }
    Ok(out)
}

/// OpenSSH's `match_pattern` (`*` and `?`), iteratively: on a mismatch it
/// retries from the last `*` one byte further, which gives the same answers as
/// ssh's recursion in O(len(text) * len(pattern)) at worst, never exponential.
pub(crate) fn wildcard_match(text: &[u8], pattern: &[u8], ignore_case: bool) -> bool {
    let same = |a: u8, b: u8| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut t, mut p) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, and the text
    // position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, t));
            }
            Some(&c) if c == b'?' || same(c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((after_star, taken)) => {
                    p = after_star;
                    t = taken + 1;
                    star = Some((after_star, taken + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOUD: &[&str] = &["*.magento.cloud", "*.platform.sh"];

    fn patterns(entries: &[&str]) -> Result<Vec<String>, BadHostPattern> {
        host_patterns(entries.iter().map(|e| e.to_string()).collect(), "here")
    }

    #[test]
    fn host_patterns_hold_only_safe_characters() {
        assert_eq!(
            patterns(&["*.magento.cloud", "!x-1.y_z.cloud", "?.a"]).unwrap(),
            ["*.magento.cloud", "!x-1.y_z.cloud", "?.a"]
        );
        // Commas separate patterns within an entry, as in ssh_config, so
        // that the patterns matched are the ones written.
        assert_eq!(patterns(&[" a.b , c.d,,"]).unwrap(), ["a.b", "c.d"]);
        assert!(patterns(&[]).unwrap().is_empty());
        for bad in [
            "a\\",
            "a\"b",
            "a b",
            "a\tb",
            "a\nb",
            "a\rb",
            "a'b",
            "a#b",
            "a%h",
            "a${x}",
            "a=b",
            "a/b",
            "a;b",
            "a\u{1b}b",
            "a\u{202e}b",
            "\u{e9}.example",
        ] {
            let err = patterns(&["ok.example", bad]).unwrap_err();
            assert_eq!(err.origin, "here");
            assert!(
                !err.to_string()
                    .chars()
                    .any(|c| c.is_control() || c == '\u{202e}'),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().starts_with("the host pattern \""), "{err}");
        }
        let err = patterns(&["*\t\" exec \"x\\"]).unwrap_err();
        assert_eq!(err.pattern, r#""*\t\" exec \"x\\""#);
    }

    #[test]
    fn every_profile_default_is_a_safe_pattern() {
        for p in crate::config::profile::PROFILES {
            for w in p.wildcards {
                assert!(is_safe_host_pattern(w), "{w}");
            }
            assert!(is_safe_host_pattern(p.name), "{}", p.name);
        }
    }

    #[test]
    fn cloud_pattern() {
        assert!(host_matches("git.us-3.magento.cloud", CLOUD));
        assert!(host_matches("GIT.US-3.Magento.Cloud", CLOUD));
        assert!(host_matches("ssh.eu.platform.sh", CLOUD));
        assert!(!host_matches("magento.cloud", CLOUD));
        assert!(!host_matches("evil.magento.cloud.example.com", CLOUD));
        assert!(!host_matches("evilmagento.cloud", CLOUD));
        assert!(!host_matches("github.com", CLOUD));
    }

    #[test]
    fn patterns_are_case_insensitive_both_ways() {
        assert!(host_matches("git.magento.cloud", &["*.MAGENTO.CLOUD"]));
    }

    #[test]
    fn question_mark_is_exactly_one_byte() {
        assert!(host_matches("a1.example", &["a?.example"]));
        assert!(!host_matches("a.example", &["a?.example"]));
        assert!(!host_matches("a12.example", &["a?.example"]));
    }

    #[test]
    fn star_may_be_empty_and_repeated() {
        assert!(host_matches("ab", &["a*b"]));
        assert!(host_matches("ab", &["a**b"]));
        assert!(host_matches("anything", &["*"]));
        assert!(host_matches("", &["*"]));
        assert!(host_matches("", &[""]));
        assert!(!host_matches("a", &[""]));
        // Needs backtracking: the first `a` tried is not the right one.
        assert!(host_matches("axaxb", &["*a*b"]));
        assert!(!host_matches("axaxc", &["*a*b"]));
    }

    #[test]
    fn negation_wins_in_any_order() {
        let patterns = ["*.magento.cloud", "!internal.magento.cloud"];
        assert!(host_matches("git.magento.cloud", &patterns));
        assert!(!host_matches("internal.magento.cloud", &patterns));
        let reversed = ["!internal.magento.cloud", "*.magento.cloud"];
        assert!(!host_matches("internal.magento.cloud", &reversed));
        // A negation alone matches nothing.
        assert!(!host_matches("other.example", &["!internal.example"]));
        assert!(!host_matches("a", &[] as &[&str]));
    }

    #[test]
    fn many_stars_stay_fast() {
        // Exponential in ssh's naive recursion; polynomial here.
        let text = "a".repeat(5_000);
        assert!(!host_matches(&text, &["*a*a*a*a*a*a*a*a*a*a*b"]));
        assert!(host_matches(&text, &["*a*a*a*a*a*a*a*a*a*a"]));
    }

    #[test]
    fn file_names_match_case_sensitively() {
        assert!(wildcard_match(b"a.conf", b"*.conf", false));
        assert!(!wildcard_match(b"a.CONF", b"*.conf", false));
        assert!(wildcard_match(b"a.CONF", b"*.conf", true));
    }
}

/// Properties of the pattern matcher, for generated names.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn label() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9-]{0,12}"
    }

    proptest! {
        #[test]
        fn a_star_prefix_matches_every_subdomain_in_any_case(
            sub in prop::collection::vec(label(), 1..4),
            domain in "[a-z]{2,10}\\.(cloud|sh|com)",
            upper in prop::bool::ANY,
        ) {
            let host = format!("{}.{}", sub.join("."), domain);
            let host = if upper { host.to_ascii_uppercase() } else { host };
            let pattern = format!("*.{domain}");
            prop_assert!(host_matches(&host, &[pattern.as_str()]));
            // ... and never the bare domain, nor the domain as a prefix of
            // another one.
            prop_assert!(!host_matches(&domain, &[pattern.as_str()]));
            let trick = format!("{host}.example.net");
            prop_assert!(!host_matches(&trick, &[pattern.as_str()]));
        }

        #[test]
        fn negation_wins(host in "[a-z]{1,8}\\.magento\\.cloud") {
            let negated = format!("!{host}");
            prop_assert!(!host_matches(&host, &["*.magento.cloud", negated.as_str()]));
            prop_assert!(host_matches(&host, &["*.magento.cloud", "!other.magento.cloud"]));
        }

        #[test]
        fn a_literal_pattern_matches_only_itself(a in "[a-z.]{1,12}", b in "[a-z.]{1,12}") {
            prop_assert_eq!(host_matches(&a, &[b.as_str()]), a == b);
        }

        #[test]
        fn never_panics(host in ".{0,40}", pats in prop::collection::vec(".{0,20}", 0..4)) {
            let _ = host_matches(&host, &pats);
        }
    }
}
