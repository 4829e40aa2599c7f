//! Text from a server or a certificate, made safe for a terminal.
//!
//! A certifier error page or a certificate's key id is not ours: it may hold
//! escape sequences that retitle a window, hide text or worse. Everything such
//! text goes through [`text`] before it is printed.

/// Replaces control characters (C0, DEL, C1, and with them every escape
/// sequence's introducer) by `?`, and folds line breaks and tabs to spaces so
/// that an error stays on one line.
pub fn text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '?',
            // Bidirectional overrides can make text read differently from
            // what it is.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => '?',
            c => c,
        })
        .collect()
}

/// [`text`], cut to at most `max` characters (an ellipsis marks the cut).
pub fn short(s: &str, max: usize) -> String {
    let s = text(s.trim());
    let mut collapsed = String::with_capacity(s.len().min(max + 3));
    let mut last_space = false;
    for c in s.chars() {
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        collapsed.push(c);
    }
    if collapsed.chars().count() > max {
        let cut: String = collapsed.chars().take(max).collect();
        format!("{}...", cut.trim_end())
    } else {
        collapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_neutralised() {
        let hostile = "bad\u{1b}]0;pwned\u{7}\u{1b}[31mred\u{9b}2J";
        let clean = text(hostile);
        assert!(!clean.chars().any(|c| c.is_control()), "{clean:?}");
        assert_eq!(clean, "bad?]0;pwned??[31mred?2J");
    }

    #[test]
    fn line_breaks_become_spaces_and_runs_collapse() {
        assert_eq!(short("a\n\n  b\tc", 100), "a b c");
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(short("abcdefgh", 3), "abc...");
        assert_eq!(short("abc", 3), "abc");
    }

    #[test]
    fn bidi_overrides_are_replaced() {
        assert_eq!(text("a\u{202e}b"), "a?b");
    }
}
