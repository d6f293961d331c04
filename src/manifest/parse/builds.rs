//! The `builds` block: `pattern` (which tags are builds), `grace`, `protect`,
//! and the regexes and durations they are written as.

use regex::Regex;

use super::{describe, quote, tag_message, Lint, ListOf, Section};
use crate::duration::parse_duration;
use crate::manifest::locate::{Entry, Node, Pos, Value};
use crate::manifest::{BuildRules, DEFAULT_GRACE};

impl Lint<'_> {
    pub(super) fn builds(&mut self, entry: &Entry) -> Option<BuildRules> {
        let entries = match &entry.value.value {
            Value::Map(entries) => entries,
            Value::Null => {
                self.at(
                    entry.key.pos,
                    "'builds' has no value; it needs at least 'pattern', e.g. pattern: '^rocky-\\d+$'",
                );
                return None;
            }
            Value::Str(text) => {
                self.at(
                    entry.value.pos,
                    format!(
                        "'builds' must be a mapping, not a string; put the regex under 'pattern': \
                         builds: {{pattern: '{}'}}",
                        quote(text)
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
                        "'builds' must be a mapping with 'pattern' (and optional 'grace', 'protect'), not {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let fields = self.fields(entries, Section::Builds);
        let pattern = match fields.get("pattern") {
            None => {
                self.at(
                    entry.key.pos,
                    "'builds' is missing 'pattern', the regex that build tags match, e.g. pattern: '^rocky-\\d+$'",
                );
                None
            }
            Some(field) => {
                let regex = self.regex(field, "'builds.pattern'", "'^rocky-\\d+$'");
                match regex {
                    Some(re) if re.as_str().is_empty() => {
                        self.at(
                            field.value.pos,
                            "'builds.pattern' is empty, so every tag would count as a build; \
                             write a regex such as '^rocky-\\d+$'",
                        );
                        None
                    }
                    other => other,
                }
            }
        };
        let grace = match fields.get("grace") {
            None => Some(DEFAULT_GRACE),
            Some(field) => self.duration(field, &GRACE),
        };
        let protect = match fields.get("protect") {
            None => Some(Vec::new()),
            Some(field) => self.protect(field),
        };
        Some(BuildRules {
            pattern: pattern?,
            grace: grace?,
            protect: protect?,
        })
    }

    /// A duration such as `2h` (see [`DurationKey`]).
    pub(super) fn duration(
        &mut self,
        field: &Entry,
        spec: &DurationKey,
    ) -> Option<std::time::Duration> {
        let DurationKey {
            key,
            expected,
            units,
        } = spec;
        if let Value::Number(text) = &field.value.value {
            if text == "0" {
                // The one duration written without a unit.
                return Some(std::time::Duration::ZERO);
            }
            let written: Vec<String> = units.iter().map(|unit| format!("{text}{unit}")).collect();
            let (last, rest) = written.split_last().expect("units are listed");
            self.at(
                field.value.pos,
                format!(
                    "'{key}' needs a unit: write {} or {last} (units: s, m, h, d, w)",
                    rest.join(", ")
                ),
            );
            return None;
        }
        let text = self.string(field.key.pos, &field.value, &format!("'{key}'"), expected)?;
        match parse_duration(text) {
            Ok(duration) => Some(duration),
            Err(reason) => {
                self.at(
                    field.value.pos,
                    format!("invalid duration '{}' in '{key}': {reason}", quote(text)),
                );
                None
            }
        }
    }

    fn protect(&mut self, field: &Entry) -> Option<Vec<Regex>> {
        let items = self.list(
            field,
            &ListOf {
                key: "builds.protect",
                list: "a list of regexes",
                things: "regexes",
                example: "['^latest$']",
                write: |text| format!("protect: ['{text}']"),
            },
        )?;
        let mut all = Some(Vec::with_capacity(items.len()));
        for item in items {
            let regex =
                self.regex_node(item.pos, item, "an entry of 'builds.protect'", "'^latest$'");
            match (regex, all.as_mut()) {
                (Some(re), Some(list)) => list.push(re),
                _ => all = None,
            }
        }
        all
    }

    pub(super) fn regex(&mut self, field: &Entry, what: &str, example: &str) -> Option<Regex> {
        self.regex_node(field.key.pos, &field.value, what, example)
    }

    fn regex_node(
        &mut self,
        key_pos: Pos,
        node: &Node,
        what: &str,
        example: &str,
    ) -> Option<Regex> {
        let text = self.string(key_pos, node, what, &format!("a regex such as {example}"))?;
        match Regex::new(text) {
            Ok(re) => Some(re),
            Err(err) => {
                self.at(
                    node.pos,
                    format!(
                        "invalid regex '{}' in {what}: {}",
                        quote(text),
                        regex_reason(&err)
                    ),
                );
                None
            }
        }
    }
}

/// How a duration-valued key is described in problems.
pub(super) struct DurationKey {
    pub(super) key: &'static str,
    /// "a duration such as 30m, 2h, 1d or 1h30m"
    pub(super) expected: &'static str,
    /// The units suggested for a number written without one.
    pub(super) units: &'static [&'static str],
}

const GRACE: DurationKey = DurationKey {
    key: "builds.grace",
    expected: "a duration such as 30m, 2h, 1d or 1h30m",
    units: &["s", "m", "h"],
};

/// The regex crate's reason on one line, with where in the pattern it is.
fn regex_reason(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let reason = lines
                .iter()
                .rev()
                .find_map(|line| line.strip_prefix("error: "))
                .unwrap_or("syntax error");
            // Single-line patterns are shown indented by 4 with a caret line
            // below; multi-line ones are framed by `~~~` and numbered.
            let caret = if lines.iter().any(|line| line.starts_with('~')) {
                None
            } else {
                lines
                    .iter()
                    .find(|line| {
                        line.trim_start().starts_with('^') && line.trim().chars().all(|c| c == '^')
                    })
                    .and_then(|line| line.find('^'))
                    .and_then(|index| index.checked_sub(4))
            };
            match caret {
                Some(offset) => format!("{reason} (at character {})", offset + 1),
                None => reason.to_string(),
            }
        }
        regex::Error::CompiledTooBig(limit) => format!(
            "the regex is too big once compiled (over {} MiB); simplify it",
            limit / (1024 * 1024)
        ),
        other => other
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{problem, valid};

    #[test]
    fn invalid_regexes_give_the_reason_on_one_line() {
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: '^rocky-(\\d+$'\nimages: [a]\n"),
            "m.yaml:3:12: invalid regex '^rocky-(\\d+$' in 'builds.pattern': unclosed group (at character 8)"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: x\n  protect: ['^latest$', '[z-a]']\nimages: [a]\n"),
            "m.yaml:4:25: invalid regex '[z-a]' in an entry of 'builds.protect': invalid character class range, the start must be <= the end (at character 2)"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages:\n  - name: a\n    builds: '^rocky-(1\\d\\d$'\n"),
            "m.yaml:5:13: invalid regex '^rocky-(1\\d\\d$' in the image's 'builds': unclosed group (at character 8)"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: \"a\\n(\"\nimages: [a]\n"),
            "m.yaml:3:12: invalid regex 'a\\n(' in 'builds.pattern': unclosed group"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: 'x{1000}{1000}{1000}'\nimages: [a]\n"),
            "m.yaml:3:12: invalid regex 'x{1000}{1000}{1000}' in 'builds.pattern': the regex is too big once compiled (over 10 MiB); simplify it"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: ''\nimages: [a]\n"),
            "m.yaml:3:12: 'builds.pattern' is empty, so every tag would count as a build; write a regex such as '^rocky-\\d+$'"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: x\n  grace: 2 hours\nimages: [a]\n"),
            "m.yaml:4:10: invalid duration '2 hours' in 'builds.grace': unexpected space in the duration; write a whole number followed by a unit s, m, h, d or w, e.g. 90m, 2h or 1h30m"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: x\n  grace: 2hours\nimages: [a]\n"),
            "m.yaml:4:10: invalid duration '2hours' in 'builds.grace': unknown unit 'hours'; write 'h' (e.g. 1h)"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: x\n  grace: 7200\nimages: [a]\n"),
            "m.yaml:4:10: 'builds.grace' needs a unit: write 7200s, 7200m or 7200h (units: s, m, h, d, w)"
        );
        let m = valid("namespace: linaro\nbuilds:\n  pattern: x\n  grace: 1h30m\nimages: [a]\n");
        assert_eq!(m.builds.grace.as_secs(), 5400);
        // Zero is the one duration that needs no unit.
        let m = valid("namespace: linaro\nbuilds:\n  pattern: x\n  grace: 0\nimages: [a]\n");
        assert!(m.builds.grace.is_zero());
    }

    #[test]
    fn streams_are_named_by_the_patterns_stream_group() {
        let rules = |pattern: &str| {
            valid(&format!(
                "namespace: linaro\nbuilds: {{pattern: '{pattern}'}}\nimages: [a]\n"
            ))
            .builds
        };
        let two = rules("^(?P<stream>rocky|stein)-\\d+$");
        assert!(two.has_streams());
        assert_eq!(two.stream("rocky-12"), Some("rocky"));
        assert_eq!(two.stream("stein-3"), Some("stein"));
        assert_eq!(two.stream("queens-3"), None, "not a build");
        let one = rules("^rocky-\\d+$");
        assert!(!one.has_streams());
        assert_eq!(one.stream("rocky-12"), None);
        // The other syntax; a group that takes no part in the match.
        let optional = rules("^(?:(?<stream>[a-z]+)-)?\\d+\\.\\d+$");
        assert_eq!(optional.stream("rocky-5.0"), Some("rocky"));
        assert_eq!(optional.stream("5.0"), None);
    }
}
