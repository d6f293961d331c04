//! User text quoted inside a message.

/// `s` with control characters (newlines, escapes) escaped and cut after
/// `max` characters (`…` marks the cut), so that a message quoting input
/// stays on one line. Everything else, backslashes in regexes included, is
/// kept as written.
pub fn quote(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars().take(max) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        assert_eq!(quote("a\nb\\d", 10), "a\\nb\\d");
        assert_eq!(quote("abcdef", 3), "abc…");
        assert_eq!(quote("é€x", 2), "é€…");
    }
}
