//! The `retention` block (`keep`, `max_age`), and the warnings it makes worth
//! giving about `builds.pattern`: not anchored, or no `stream` group.

use super::builds::DurationKey;
use super::{describe, quote, tag_message, Lint, Section};
use crate::manifest::locate::{Entry, Value};
use crate::manifest::{BuildRules, Retention, STREAM_GROUP};

impl Lint<'_> {
    /// The `retention` block.
    pub(super) fn retention(&mut self, entry: &Entry) -> Option<Retention> {
        const NEEDS: &str = "'keep', the number of complete builds to keep per stream";
        let entries = match &entry.value.value {
            Value::Map(entries) => entries,
            Value::Null => {
                self.at(
                    entry.key.pos,
                    format!(
                        "'retention' has no value; it needs {NEEDS}, e.g. retention: {{keep: 5}}"
                    ),
                );
                return None;
            }
            Value::Number(text) => {
                self.at(
                    entry.value.pos,
                    format!(
                        "'retention' must be a mapping, not a number; put the number under 'keep': \
                         retention: {{keep: {text}}}"
                    ),
                );
                return None;
            }
            Value::Tagged(tag, _) => {
                self.at(entry.value.pos, tag_message(tag));
                return None;
            }
            other => {
                self.at(
                    entry.value.pos,
                    format!(
                        "'retention' must be a mapping with 'keep' (and optional 'max_age'), not {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let fields = self.fields(entries, Section::Retention);
        let keep = match fields.get("keep") {
            None => {
                self.at(
                    entry.key.pos,
                    format!("'retention' is missing {NEEDS}, e.g. keep: 5"),
                );
                None
            }
            Some(field) => self.keep(field),
        };
        let max_age = match fields.get("max_age") {
            None => Some(None),
            Some(field) => match self.duration(field, &MAX_AGE) {
                Some(age) if age.is_zero() => {
                    self.at(
                        field.value.pos,
                        "'retention.max_age' is 0, so it keeps no build for its age; \
                         remove the key to retire builds by their rank alone",
                    );
                    None
                }
                other => other.map(Some),
            },
        };
        Some(Retention {
            keep: keep?,
            max_age: max_age?,
        })
    }

    /// `retention.keep`: a whole number of builds, at least 1.
    fn keep(&mut self, field: &Entry) -> Option<usize> {
        const EXPECTED: &str = "the number of complete builds to keep per stream, such as 5";
        let message = match &field.value.value {
            Value::Number(text) => match text.parse::<usize>() {
                Ok(0) => "'retention.keep' is 0, so no complete build would be kept and every \
                          build would expire; keep at least 1"
                    .to_string(),
                Ok(keep) => return Some(keep),
                Err(_) if text.starts_with('-') => {
                    format!("'retention.keep' must be {EXPECTED}, not the negative number {text}")
                }
                Err(_) => format!(
                    "'retention.keep' must be a whole number of builds such as 5, not {}",
                    quote(text)
                ),
            },
            Value::Str(text) if text.trim().parse::<usize>().is_ok() => format!(
                "'retention.keep' must be a number, not a string: write keep: {} without quotes",
                text.trim()
            ),
            _ => {
                self.string(field.key.pos, &field.value, "'retention.keep'", EXPECTED)?;
                format!("'retention.keep' must be {EXPECTED}, not a string")
            }
        };
        self.at(field.value.pos, message);
        None
    }

    /// What `retention` makes worth a warning in `builds.pattern` (the
    /// `pattern` of `builds`): a pattern that can match part of a tag (a tag
    /// that merely contains a build tag would be ranked, and retired, as a
    /// build of its own), and a named group that is not `stream` where no
    /// group is (the builds would form a single stream).
    pub(super) fn retention_warnings(&mut self, rules: &BuildRules, builds: &Entry) {
        let Value::Map(entries) = &builds.value.value else {
            return;
        };
        let Some(field) = entries
            .iter()
            .find(|e| matches!(&e.key.value, Value::Str(key) if key == "pattern"))
        else {
            return;
        };
        let pattern = rules.pattern.as_str();
        if !rules.has_streams() {
            if let Some(name) = rules.pattern.capture_names().flatten().next() {
                self.warn(
                    field.value.pos,
                    format!(
                        "'builds.pattern' names a group '{}' but none '{STREAM_GROUP}': only a group \
                         named '{STREAM_GROUP}' splits builds into streams, so retention ranks all \
                         builds as one; write (?P<{STREAM_GROUP}>…) if it names the release line",
                        quote(name)
                    ),
                );
            }
        }
        if is_anchored(pattern) {
            return;
        }
        self.warn(
            field.value.pos,
            format!(
                "'builds.pattern' '{}' is not anchored (^…$) and 'retention' is set: a tag that only \
                 contains a build tag (such as rocky-12-debug) counts as a build of its own, and can \
                 expire; write '{}'",
                quote(pattern),
                quote(&anchored(pattern))
            ),
        );
    }
}

const MAX_AGE: DurationKey = DurationKey {
    key: "retention.max_age",
    expected: "a duration such as 30d, 8w or 12h",
    units: &["h", "d", "w"],
};

/// Whether the regex matches whole tags only: it starts with `^` (or `\A`),
/// ends with an unescaped `$` (or `\z`), and has no `|` outside groups (in
/// `^a|b$`, each anchor binds one side only). Leading flags such as `(?i)`
/// are allowed.
fn is_anchored(pattern: &str) -> bool {
    let body = strip_flags(pattern);
    let Some(body) = body.strip_prefix('^').or_else(|| body.strip_prefix("\\A")) else {
        return false;
    };
    let Some(inner) = body.strip_suffix('$').or_else(|| body.strip_suffix("\\z")) else {
        return false;
    };
    let escaped = inner.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1;
    !escaped && !alternates_at_top(inner)
}

/// The pattern without leading inline flag groups such as `(?i)` or `(?x-u)`.
fn strip_flags(mut pattern: &str) -> &str {
    while let Some(rest) = pattern.strip_prefix("(?") {
        let Some(end) = rest.find(')') else {
            break;
        };
        if !rest[..end]
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '-')
        {
            break;
        }
        pattern = &rest[end + 1..];
    }
    pattern
}

/// Whether `pattern` has a `|` outside every group and character class.
fn alternates_at_top(pattern: &str) -> bool {
    let mut groups = 0usize;
    let mut classes = 0usize;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' => {
                classes += 1;
                // A `]` (after an optional `^`) first in a class is literal.
                if classes == 1 {
                    if chars.peek() == Some(&'^') {
                        chars.next();
                    }
                    if chars.peek() == Some(&']') {
                        chars.next();
                    }
                }
            }
            ']' if classes > 0 => classes -= 1,
            _ if classes > 0 => {}
            '(' => groups += 1,
            ')' => groups = groups.saturating_sub(1),
            '|' if groups == 0 => return true,
            _ => {}
        }
    }
    false
}

/// `pattern` anchored at both ends, for the warning's suggestion.
fn anchored(pattern: &str) -> String {
    let flags = &pattern[..pattern.len() - strip_flags(pattern).len()];
    let mut body = strip_flags(pattern);
    body = body.strip_prefix('^').unwrap_or(body);
    if let Some(inner) = body.strip_suffix('$') {
        if inner.chars().rev().take_while(|&c| c == '\\').count() % 2 == 0 {
            body = inner;
        }
    }
    if alternates_at_top(body) {
        format!("{flags}^(?:{body})$")
    } else {
        format!("{flags}^{body}$")
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{problem, valid, BASE};
    use super::*;
    use crate::manifest::parse::parse_str;
    use crate::manifest::Problem;

    /// BASE with a `retention` block (`block`: its lines after `retention:`).
    fn with_retention(block: &str) -> String {
        format!("{BASE}retention:{block}")
    }

    #[test]
    fn retention_is_read() {
        assert_eq!(valid(BASE).retention, None);
        let m = valid(&with_retention("\n  keep: 5\n  max_age: 30d\n"));
        assert_eq!(
            m.retention,
            Some(Retention {
                keep: 5,
                max_age: Some(std::time::Duration::from_secs(30 * 86400)),
            })
        );
        let m = valid(&with_retention(" {keep: 1}\n"));
        assert_eq!(
            m.retention,
            Some(Retention {
                keep: 1,
                max_age: None
            })
        );
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn retention_problems() {
        assert_eq!(
            problem(&with_retention("\n  max_age: 30d\n")),
            "m.yaml:6:1: 'retention' is missing 'keep', the number of complete builds to keep per stream, e.g. keep: 5"
        );
        assert_eq!(
            problem(&with_retention("\n")),
            "m.yaml:6:1: 'retention' has no value; it needs 'keep', the number of complete builds to keep per stream, e.g. retention: {keep: 5}"
        );
        assert_eq!(
            problem(&with_retention(" 5\n")),
            "m.yaml:6:12: 'retention' must be a mapping, not a number; put the number under 'keep': retention: {keep: 5}"
        );
        assert_eq!(
            problem(&with_retention(" [5]\n")),
            "m.yaml:6:12: 'retention' must be a mapping with 'keep' (and optional 'max_age'), not a list"
        );
        let keep = |value: &str| problem(&with_retention(&format!("\n  keep: {value}\n")));
        assert_eq!(
            keep("0"),
            "m.yaml:7:9: 'retention.keep' is 0, so no complete build would be kept and every build would expire; keep at least 1"
        );
        assert_eq!(
            keep("-3"),
            "m.yaml:7:9: 'retention.keep' must be the number of complete builds to keep per stream, such as 5, not the negative number -3"
        );
        assert_eq!(
            keep("2.5"),
            "m.yaml:7:9: 'retention.keep' must be a whole number of builds such as 5, not 2.5"
        );
        assert_eq!(
            keep("'5'"),
            "m.yaml:7:9: 'retention.keep' must be a number, not a string: write keep: 5 without quotes"
        );
        assert_eq!(
            keep("five"),
            "m.yaml:7:9: 'retention.keep' must be the number of complete builds to keep per stream, such as 5, not a string"
        );
        assert_eq!(
            keep("[5]"),
            "m.yaml:7:9: 'retention.keep' must be the number of complete builds to keep per stream, such as 5, not a list"
        );
        assert_eq!(
            keep(""),
            "m.yaml:7:3: 'retention.keep' has no value; expected the number of complete builds to keep per stream, such as 5"
        );
        let max_age = |value: &str| {
            problem(&with_retention(&format!(
                "\n  keep: 5\n  max_age: {value}\n"
            )))
        };
        assert_eq!(
            max_age("30"),
            "m.yaml:8:12: 'retention.max_age' needs a unit: write 30h, 30d or 30w (units: s, m, h, d, w)"
        );
        assert_eq!(
            max_age("30 days"),
            "m.yaml:8:12: invalid duration '30 days' in 'retention.max_age': unexpected space in the duration; write a whole number followed by a unit s, m, h, d or w, e.g. 90m, 2h or 1h30m"
        );
        assert_eq!(
            max_age("0"),
            "m.yaml:8:12: 'retention.max_age' is 0, so it keeps no build for its age; remove the key to retire builds by their rank alone"
        );
        assert_eq!(
            problem(&with_retention("\n  keep: 5\n  max-age: 30d\n")),
            "m.yaml:8:3: unknown key 'max-age' (did you mean 'max_age'?); valid keys under 'retention' are: keep, max_age"
        );
        assert_eq!(
            problem(&with_retention("\n  keep: 5\n  grace: 2h\n")),
            "m.yaml:8:3: unknown key 'grace' (it belongs under 'builds'); valid keys under 'retention' are: keep, max_age"
        );
        assert_eq!(
            problem(&format!("{BASE}keep: 5\n")),
            "m.yaml:6:1: unknown key 'keep' (it belongs under 'retention'); valid keys at the top level are: registry, namespace, builds, retention, platforms, images"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: x\n  retention: {keep: 5}\nimages: [a]\n"),
            "m.yaml:4:3: unknown key 'retention' (it belongs at the top level); valid keys under 'builds' are: pattern, grace, protect"
        );
    }

    /// The warnings of a valid manifest, as printed.
    fn warnings(src: &str) -> Vec<String> {
        valid(src)
            .warnings
            .iter()
            .map(Problem::as_warning)
            .collect()
    }

    #[test]
    fn retention_warns_of_a_pattern_that_matches_part_of_a_tag() {
        let with = |pattern: &str, retention: bool| {
            warnings(&format!(
                "namespace: linaro\nbuilds:\n  pattern: '{pattern}'\nimages: [a]\n{}",
                if retention {
                    "retention: {keep: 3}\n"
                } else {
                    ""
                }
            ))
        };
        assert_eq!(
            with("rocky-\\d+", true),
            ["m.yaml:3:12: warning: 'builds.pattern' 'rocky-\\d+' is not anchored (^…$) and 'retention' is set: a tag that only contains a build tag (such as rocky-12-debug) counts as a build of its own, and can expire; write '^rocky-\\d+$'"]
        );
        assert!(
            with("rocky-\\d+", false).is_empty(),
            "no retention, no warning"
        );
        assert!(with("^rocky-\\d+$", true).is_empty());
        assert!(with("^(?P<stream>rocky|stein)-\\d+$", true).is_empty());
        assert!(with("(?i)^rocky-\\d+$", true).is_empty());
        assert!(with("\\Arocky-\\d+\\z", true).is_empty());
        assert!(with("^rocky-[|]\\d+$", true).is_empty());
        assert!(with("^rocky-\\d+$|^stein-\\d+$", true)[0]
            .ends_with("write '^(?:rocky-\\d+$|^stein-\\d+)$'"));
        assert!(with("^rocky-\\d+|stein-\\d+$", true)[0]
            .ends_with("write '^(?:rocky-\\d+|stein-\\d+)$'"));
        assert!(with("^rocky-\\d+", true)[0].ends_with("write '^rocky-\\d+$'"));
        assert!(with("^rocky-\\d+\\$", true)[0].ends_with("write '^rocky-\\d+\\$$'"));
        assert_eq!(
            with("^(?P<release>rocky|stein)-\\d+$", true),
            ["m.yaml:3:12: warning: 'builds.pattern' names a group 'release' but none 'stream': only a group named 'stream' splits builds into streams, so retention ranks all builds as one; write (?P<stream>…) if it names the release line"]
        );
        // A warning leaves the manifest valid; an invalid one has no warnings
        // to show yet.
        let m =
            valid("namespace: linaro\nbuilds: {pattern: x}\nimages: [a]\nretention: {keep: 2}\n");
        assert_eq!(m.warnings.len(), 1);
        assert_eq!(m.warnings[0].line, 2);
        assert!(parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds: {pattern: x}\nimages: [A]\nretention: {keep: 2}\n"
        )
        .is_err());
    }

    #[test]
    fn anchors() {
        for (pattern, anchored) in [
            ("^a$", true),
            ("^(a|b)$", true),
            ("^[a|b]$", true),
            ("^[]|]$", true),
            ("^a\\|b$", true),
            ("(?x-u)^a$", true),
            ("a", false),
            ("^a", false),
            ("a$", false),
            ("^a\\$", false),
            ("^a\\\\$", true),
            ("^a|b$", false),
            ("(?P<s>a)|b", false),
        ] {
            assert_eq!(is_anchored(pattern), anchored, "{pattern}");
        }
    }
}
