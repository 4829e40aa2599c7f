//! ssh_config's line syntax, as OpenSSH's `readconf.c` cuts a line: a
//! keyword and its arguments, with quotes, `=` and comments. The `-o` values
//! of the command line (`command_line/`) and the configuration files the
//! scope check reads (`scope.rs`) are both cut here, so that the two read
//! a line the same way ssh does.

use std::borrow::Cow;

/// The line or word is one ssh refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// One ssh_config line (or `-o` value) cut the way `readconf.c`'s
/// `process_config_line` cuts it: a keyword, then the text of its arguments.
pub(crate) struct Directive<'a> {
    /// As written; ssh compares keywords without regard to case.
    pub(crate) keyword: Cow<'a, [u8]>,
    /// The rest of the line after the keyword and its separator, never empty;
    /// split it with [`Arguments`].
    pub(crate) args: &'a [u8],
}

/// White space as readconf.c's `strdelim` knows it.
fn is_config_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_config_space(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|&b| !is_config_space(b))
        .unwrap_or(text.len());
    &text[start..]
}

/// Cuts one configuration line. `Ok(None)` for a line ssh skips (blank,
/// comment, or a keyword with an unclosed quote, which ssh silently
/// ignores); an error where ssh reports the line as bad (a keyword with no
/// argument).
pub(crate) fn directive(line: &[u8]) -> Result<Option<Directive<'_>>, Malformed> {
    let end = line
        .iter()
        .rposition(|&b| !is_config_space(b) && b != b'\x0c')
        .map_or(0, |last| last + 1);
    let line = &line[..end];
    let Some((mut keyword, mut rest)) = next_token(line) else {
        return Ok(None);
    };
    // Leading white space gives an empty first token; ssh takes one more.
    if keyword.is_empty() {
        let Some(token) = rest.and_then(next_token) else {
            return Ok(None);
        };
        (keyword, rest) = token;
    }
    if matches!(keyword.first(), None | Some(b'\n' | b'#')) {
        return Ok(None);
    }
    let args = rest.map(skip_config_space).unwrap_or_default();
    if args.is_empty() {
        return Err(Malformed);
    }
    Ok(Some(Directive { keyword, args }))
}

/// A token of a configuration line and the text after it, `None` once the
/// line is used up.
type Token<'a> = (Cow<'a, [u8]>, Option<&'a [u8]>);

/// readconf.c's `strdelim` with `=` splitting: the next token and what
/// follows it (`None` once the line is used up). The outer `None` is
/// `strdelim`'s NULL for an unclosed quote.
fn next_token(text: &[u8]) -> Option<Token<'_>> {
    let Some(at) = text
        .iter()
        .position(|&b| is_config_space(b) || b == b'"' || b == b'=')
    else {
        return Some((Cow::Borrowed(text), None));
    };
    if text[at] == b'"' {
        // The quote is dropped and the token runs on to the next quote.
        let quoted = &text[at + 1..];
        let close = quoted.iter().position(|&b| b == b'"')?;
        let token = if at == 0 {
            Cow::Borrowed(&quoted[..close])
        } else {
            Cow::Owned([&text[..at], &quoted[..close]].concat())
        };
        return Some((token, Some(skip_config_space(&quoted[close + 1..]))));
    }
    let mut rest = skip_config_space(&text[at + 1..]);
    // One `=` may separate keyword and value, with white space around it.
    if text[at] != b'='
        && let Some(after) = rest.strip_prefix(b"=")
    {
        rest = skip_config_space(after);
    }
    Some((Cow::Borrowed(&text[..at]), Some(rest)))
}

/// The argument of a keyword that takes exactly one (`User`, `Port`,
/// `HostName`); `None` where readconf.c reports "missing argument" or
/// "extra arguments".
pub(crate) fn single_argument(args: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut arguments = Arguments::new(args);
    let first = arguments.next()?.ok()?;
    if first.is_empty() || arguments.next().is_some() {
        return None;
    }
    Some(first)
}

/// misc.c's `argv_split` with comments ending the line: arguments separated
/// by spaces or tabs, quoted with `"` or `'`, with `\` escaping a quote, a
/// backslash, or (outside quotes) a space. Borrows arguments that need no
/// unquoting.
pub(crate) struct Arguments<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Arguments<'a> {
    pub(crate) fn new(text: &'a [u8]) -> Self {
        Arguments { text, at: 0 }
    }
}

impl<'a> Iterator for Arguments<'a> {
    type Item = Result<Cow<'a, [u8]>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.text;
        let mut i = self.at;
        while i < text.len() && matches!(text[i], b' ' | b'\t') {
            i += 1;
        }
        if i >= text.len() || text[i] == b'#' {
            self.at = text.len();
            return None;
        }
        let start = i;
        // Created at the first quote or escape; until then the argument is
        // `text[start..i]` exactly.
        let mut owned: Option<Vec<u8>> = None;
        let mut quote = None;
        while i < text.len() {
            let b = text[i];
            if b == b'\\' {
                let next = text.get(i + 1).copied();
                if matches!(next, Some(b'\'' | b'"' | b'\\'))
                    || (quote.is_none() && next == Some(b' '))
                {
                    let unescaped = owned.get_or_insert_with(|| text[start..i].to_vec());
                    unescaped.extend(next);
                    i += 2;
                    continue;
                }
                // Any other escape keeps its backslash.
            } else if quote.is_none() && matches!(b, b' ' | b'\t') {
                break;
            } else if quote.is_none() && matches!(b, b'"' | b'\'') {
                owned.get_or_insert_with(|| text[start..i].to_vec());
                quote = Some(b);
                i += 1;
                continue;
            } else if quote == Some(b) {
                quote = None;
                i += 1;
                continue;
            }
            if let Some(unescaped) = &mut owned {
                unescaped.push(b);
            }
            i += 1;
        }
        if quote.is_some() {
            self.at = text.len();
            return Some(Err(Malformed));
        }
        self.at = i;
        Some(Ok(match owned {
            Some(unescaped) => Cow::Owned(unescaped),
            None => Cow::Borrowed(&text[start..i]),
        }))
    }
}
