//! Reading a manifest is linting it: this module walks the positioned YAML
//! tree from [`super::locate`], checks every rule, and either assembles a
//! [`Manifest`] or returns every problem found, each pointing at the line and
//! column of the offending key or value.
//!
//! The walk never stops at the first problem: a wrong part is reported and the
//! walk moves on to its siblings, so one `tagsweep validate` run shows
//! everything a pull request has to fix.
//!
//! This file holds the entry point, the top-level walk, the key and value
//! checks every section shares, and the shared message helpers. Each part of
//! the manifest is checked in its own file: [`registry`] (`registry`,
//! `namespace`), [`builds`], [`retention`], [`platforms`] and [`images`].

mod builds;
mod images;
mod platforms;
mod registry;
mod retention;
#[cfg(test)]
mod test_support;

use std::collections::HashMap;

use super::locate::{self, Entry, Node, Pos, Value};
use super::{Location, Locations, Manifest, Problem, RegistryRef};
use crate::platform::closest;
use registry::Naming;

const TOP_KEYS: &[&str] = &[
    "registry",
    "namespace",
    "builds",
    "retention",
    "platforms",
    "images",
];
const BUILDS_KEYS: &[&str] = &["pattern", "grace", "protect"];
const RETENTION_KEYS: &[&str] = &["keep", "max_age"];
const IMAGE_KEYS: &[&str] = &["name", "builds", "from", "until"];

/// Parses and lints manifest text. `file` is only used to label problems.
///
/// Returns every problem found (sorted by position), not just the first:
/// YAML syntax, unknown or duplicate keys, wrong types, missing keys, invalid
/// regexes, durations, platforms, namespace and image names, duplicates,
/// per-image `from` / `until` values that are not build tags or are in
/// the wrong order, and a `retention` block without a positive `keep`.
///
/// A valid manifest carries its warnings (see [`Manifest::warnings`]); they
/// are only looked for once nothing is wrong.
pub fn parse_str(file: &str, src: &str) -> Result<Manifest, Vec<Problem>> {
    let document = locate::read(src);
    let mut lint = Lint {
        file,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    for error in document.errors {
        lint.at(error.pos, error.message);
    }
    let manifest = document.root.and_then(|root| lint.manifest(&root));
    let mut problems = lint.problems;
    // Stable: problems at the same place keep the order they were found in.
    problems.sort_by_key(|p| (p.line, p.column));
    problems.dedup();
    match manifest {
        Some(mut manifest) if problems.is_empty() => {
            let mut warnings = lint.warnings;
            warnings.sort_by_key(|p| (p.line, p.column));
            warnings.dedup();
            manifest.warnings = warnings;
            Ok(manifest)
        }
        _ if problems.is_empty() => Err(vec![Problem {
            file: file.to_string(),
            line: 1,
            column: 1,
            message:
                "internal error: the manifest was refused without a reason (please report this)"
                    .to_string(),
        }]),
        _ => Err(problems),
    }
}

/// Where the settings of a valid manifest are written: the value of each
/// key (for `retention`, `platforms` and `images`, the key itself, which is
/// on the line a reader looks for).
fn locations(fields: &HashMap<&'static str, &Entry>) -> Locations {
    let key = |name: &str| fields.get(name).map(|e| e.key.pos.into());
    let under_builds = |name: &str| -> Option<Location> {
        let Value::Map(entries) = &fields.get("builds")?.value.value else {
            return None;
        };
        entries
            .iter()
            .find(|e| matches!(&e.key.value, Value::Str(k) if k == name))
            .map(|e| e.value.pos.into())
    };
    Locations {
        pattern: under_builds("pattern"),
        grace: under_builds("grace"),
        protect: under_builds("protect"),
        retention: key("retention"),
        platforms: key("platforms"),
        images: key("images"),
    }
}

/// Where in the manifest a key is checked, for the unknown-key message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Top,
    Builds,
    Retention,
    Image,
}

impl Section {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Section::Top => TOP_KEYS,
            Section::Builds => BUILDS_KEYS,
            Section::Retention => RETENTION_KEYS,
            Section::Image => IMAGE_KEYS,
        }
    }

    fn place(self) -> &'static str {
        match self {
            Section::Top => "at the top level",
            Section::Builds => "under 'builds'",
            Section::Retention => "under 'retention'",
            Section::Image => "in an image entry",
        }
    }
}

struct Lint<'f> {
    file: &'f str,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Lint<'_> {
    fn at(&mut self, pos: Pos, message: impl Into<String>) {
        let problem = self.problem(pos, message);
        self.problems.push(problem);
    }

    fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        let problem = self.problem(pos, message);
        self.warnings.push(problem);
    }

    fn problem(&self, pos: Pos, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    fn manifest(&mut self, root: &Node) -> Option<Manifest> {
        let entries = match &root.value {
            Value::Map(entries) => entries,
            Value::Null => {
                self.at(
                    Pos::START,
                    "the manifest is empty; it needs at least 'namespace', 'builds' and 'images' \
                     (see manifests/linaro-sample.yaml)",
                );
                return None;
            }
            other => {
                self.at(
                    root.pos,
                    format!(
                        "the manifest must be a mapping of keys ({}), not {}",
                        TOP_KEYS.join(", "),
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let fields = self.fields(entries, Section::Top);

        let registry = match fields.get("registry") {
            None => Some(RegistryRef::DockerHub),
            Some(entry) => self.registry(entry),
        };
        let naming = match &registry {
            Some(RegistryRef::DockerHub) => Naming::DockerHub,
            Some(RegistryRef::Oci { .. }) => Naming::Oci,
            None => Naming::Unknown,
        };
        let namespace = match fields.get("namespace") {
            Some(entry) => self.namespace(entry, naming),
            None => {
                self.at(
                    root.pos,
                    "missing 'namespace': the Docker Hub user or organisation that owns the images, \
                     e.g. namespace: linaro",
                );
                None
            }
        };
        let builds = match fields.get("builds") {
            Some(entry) => self.builds(entry),
            None => {
                self.at(
                    root.pos,
                    "missing 'builds': it needs at least 'pattern', the regex that build tags match, \
                     e.g. builds: {pattern: '^rocky-\\d+$'}",
                );
                None
            }
        };
        let retention = match fields.get("retention") {
            Some(entry) => self.retention(entry).map(Some),
            None => Some(None),
        };
        if let (Some(rules), Some(Some(_)), Some(builds)) =
            (&builds, &retention, fields.get("builds"))
        {
            self.retention_warnings(rules, builds);
        }
        let platforms = match fields.get("platforms") {
            Some(entry) => self.platforms(entry),
            None => Some(Vec::new()),
        };
        let images = match fields.get("images") {
            Some(entry) => self.images(
                entry,
                naming,
                namespace.as_deref(),
                builds.as_ref().map(|rules| &rules.pattern),
            ),
            None => {
                self.at(
                    root.pos,
                    "missing 'images': the list of repositories (names inside the namespace) \
                     that every build must contain",
                );
                None
            }
        };
        Some(Manifest {
            source: self.file.to_string(),
            registry: registry?,
            namespace: namespace?,
            builds: builds?,
            platforms: platforms?,
            images: images?,
            retention: retention?,
            warnings: Vec::new(),
            locations: locations(&fields),
        })
    }

    /// Checks the keys of a mapping: strings, known, not repeated. Returns the
    /// first entry of each valid key.
    fn fields<'n>(
        &mut self,
        entries: &'n [Entry],
        section: Section,
    ) -> HashMap<&'static str, &'n Entry> {
        let mut found: HashMap<&'static str, &'n Entry> = HashMap::new();
        for entry in entries {
            let key = match &entry.key.value {
                Value::Str(key) => key,
                Value::Null => {
                    self.at(entry.key.pos, "a key is missing before ':'");
                    continue;
                }
                other => {
                    self.at(
                        entry.key.pos,
                        format!(
                            "keys must be plain strings; this key is {}",
                            describe(other)
                        ),
                    );
                    continue;
                }
            };
            let Some(valid) = section.keys().iter().copied().find(|k| k == key) else {
                let message = unknown_key(key, section);
                self.at(entry.key.pos, message);
                continue;
            };
            match found.get(valid) {
                Some(first) => {
                    let message = format!(
                        "duplicate key '{valid}' (first on line {}); a key may appear only once",
                        first.key.pos.line
                    );
                    self.at(entry.key.pos, message);
                }
                None => {
                    found.insert(valid, entry);
                }
            }
        }
        found
    }

    /// The string value of `node`, or a problem saying what was expected.
    /// `key_pos` is where to point when the value is missing (an empty value
    /// has no useful position of its own).
    fn string<'n>(
        &mut self,
        key_pos: Pos,
        node: &'n Node,
        what: &str,
        expected: &str,
    ) -> Option<&'n str> {
        let message = match &node.value {
            Value::Str(s) => return Some(s),
            Value::Null => {
                self.at(key_pos, format!("{what} has no value; expected {expected}"));
                return None;
            }
            Value::Number(text) => format!(
                "{what} must be {expected}, not the number {text}; quote it ('{text}') if you mean that text"
            ),
            Value::Bool(b) => format!(
                "{what} must be {expected}, not the boolean {b}; quote it ('{b}') if you mean that text"
            ),
            Value::Tagged(tag, _) => tag_message(tag),
            other => format!("{what} must be {expected}, not {}", describe(other)),
        };
        self.at(node.pos, message);
        None
    }

    /// The items of a key whose value must be a list, or `None` after
    /// reporting why it is not one (a single string gets the list to write).
    fn list<'v>(&mut self, field: &'v Entry, spec: &ListOf) -> Option<&'v [Node]> {
        let ListOf {
            key,
            list,
            things,
            example,
            write,
        } = spec;
        let message = match &field.value.value {
            Value::Seq(items) => return Some(items),
            Value::Str(text) => format!(
                "'{key}' must be {list}, not a string; write {}",
                write(&quote(text))
            ),
            Value::Null => {
                self.at(
                    field.key.pos,
                    format!(
                        "'{key}' has no value; list {things} such as {example}, or remove the key"
                    ),
                );
                return None;
            }
            Value::Tagged(tag, _) => tag_message(tag),
            other => format!(
                "'{key}' must be {list} such as {example}, not {}",
                describe(other)
            ),
        };
        self.at(field.value.pos, message);
        None
    }
}

fn unknown_key(key: &str, section: Section) -> String {
    let mut message = format!("unknown key '{}'", quote(key));
    let elsewhere = match section {
        Section::Top if BUILDS_KEYS.contains(&key) => Some("under 'builds'"),
        Section::Top | Section::Builds if RETENTION_KEYS.contains(&key) => {
            Some("under 'retention'")
        }
        Section::Builds | Section::Retention if TOP_KEYS.contains(&key) => Some("at the top level"),
        Section::Retention if BUILDS_KEYS.contains(&key) => Some("under 'builds'"),
        Section::Image if key == "platforms" => Some("at the top level (for all images)"),
        Section::Top | Section::Builds if key == "from" || key == "until" => {
            Some("in an image entry")
        }
        _ => None,
    };
    if let Some(place) = elsewhere {
        message.push_str(&format!(" (it belongs {place})"));
    } else if key == "<<" {
        message.push_str(" (YAML merge keys are not supported)");
    } else if let Some(best) = closest(key, section.keys().iter().copied()) {
        message.push_str(&format!(" (did you mean '{best}'?)"));
    }
    message.push_str(&format!(
        "; valid keys {} are: {}",
        section.place(),
        section.keys().join(", ")
    ));
    message
}

fn tag_message(tag: &str) -> String {
    format!(
        "YAML tags such as '!{}' are not supported here; remove the tag",
        quote(tag)
    )
}

/// A short description of a value's type for "must be X, not Y" messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "empty".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {}", quote(n)),
        Value::Str(_) => "a string".to_string(),
        Value::Seq(_) => "a list".to_string(),
        Value::Map(_) => "a mapping".to_string(),
        Value::Tagged(tag, _) => format!("a value tagged '!{}'", quote(tag)),
    }
}

/// How a list-valued key is described in problems.
struct ListOf {
    key: &'static str,
    /// "a list of regexes"
    list: &'static str,
    /// "regexes"
    things: &'static str,
    /// "['^latest$']"
    example: &'static str,
    /// How to write a single value as the list.
    write: fn(&str) -> String,
}

/// User text inside a message (see [`crate::text::quote`]).
fn quote(s: &str) -> String {
    crate::text::quote(s, 80)
}

#[cfg(test)]
mod tests {
    use super::test_support::{problem, problems, valid, BASE};
    use super::*;
    use crate::manifest::DEFAULT_GRACE;

    #[test]
    fn base_is_valid() {
        let m = valid(BASE);
        assert_eq!(m.registry, RegistryRef::DockerHub);
        assert_eq!(m.builds.grace, DEFAULT_GRACE);
        assert_eq!(m.images[0].name, "a");
    }

    #[test]
    fn empty_and_non_mapping_files() {
        let empty = "m.yaml:1:1: the manifest is empty; it needs at least 'namespace', 'builds' and 'images' (see manifests/linaro-sample.yaml)";
        assert_eq!(problem(""), empty);
        assert_eq!(problem("# nothing yet\n\n"), empty);
        assert_eq!(problem("---\n"), empty);
        assert_eq!(
            problem("\n- a\n- b\n"),
            "m.yaml:2:3: the manifest must be a mapping of keys (registry, namespace, builds, retention, platforms, images), not a list"
        );
        assert_eq!(
            problem("linaro\n"),
            "m.yaml:1:1: the manifest must be a mapping of keys (registry, namespace, builds, retention, platforms, images), not a string"
        );
        // A lone carriage return ends a line, for libyaml as for editors.
        assert_eq!(
            problem("namespace: linaro\rbuilds: {pattern: x}\rimages: [A]\r"),
            "m.yaml:3:10: image names are lowercase: write 'a'"
        );
    }

    #[test]
    fn yaml_syntax_errors() {
        assert_eq!(
            problem("namespace: linaro\nimages: [a, b\n"),
            "m.yaml:3:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 2, column 9)"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: x\n   grace: 2h\n"),
            "m.yaml:4:9: YAML syntax error: mapping values are not allowed in this context; check the indentation, and quote values that contain ': '"
        );
        assert_eq!(
            problem("namespace: linaro\nimages:\n\t- a\n"),
            "m.yaml:3:1: YAML syntax error: found character that cannot start any token (while scanning for the next token); YAML is indented with spaces, not tabs, and values starting with '@' or '`' must be quoted"
        );
        assert_eq!(
            problem("namespace: linaro\nimages: [*a]\n"),
            "m.yaml:2:10: this alias refers to an anchor that is not defined before it (define it with '&name' first)"
        );
    }

    #[test]
    fn several_documents() {
        assert_eq!(
            problem(&format!("{BASE}---\nnamespace: other\n")),
            "m.yaml:6:1: a second YAML document starts here; a manifest is a single document (remove this '---' and what follows, or move it to its own file)"
        );
        valid(&format!("---\n{BASE}...\n"));
    }

    #[test]
    fn unknown_keys_point_at_the_key_and_list_the_valid_ones() {
        assert_eq!(
            problem(&format!("{BASE}namspace: x\n")),
            "m.yaml:6:1: unknown key 'namspace' (did you mean 'namespace'?); valid keys at the top level are: registry, namespace, builds, retention, platforms, images"
        );
        assert_eq!(
            problem(&format!("{BASE}grace: 2h\n")),
            "m.yaml:6:1: unknown key 'grace' (it belongs under 'builds'); valid keys at the top level are: registry, namespace, builds, retention, platforms, images"
        );
        assert_eq!(
            problem(&format!("{BASE}colour: blue\n")),
            "m.yaml:6:1: unknown key 'colour'; valid keys at the top level are: registry, namespace, builds, retention, platforms, images"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: x\n  Grace: 2h\nimages: [a]\n"),
            "m.yaml:4:3: unknown key 'Grace' (did you mean 'grace'?); valid keys under 'builds' are: pattern, grace, protect"
        );
        assert_eq!(
            problems("namespace: linaro\nbuilds:\n  pattern: x\n  images: []\nimages: [a]\n"),
            vec!["m.yaml:4:3: unknown key 'images' (it belongs at the top level); valid keys under 'builds' are: pattern, grace, protect"]
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages:\n  - {name: a, bulids: x}\n"),
            "m.yaml:4:15: unknown key 'bulids' (did you mean 'builds'?); valid keys in an image entry are: name, builds, from, until"
        );
        assert_eq!(
            problem(&format!("{BASE}<<: {{registry: docker.io}}\n")),
            "m.yaml:6:1: unknown key '<<' (YAML merge keys are not supported); valid keys at the top level are: registry, namespace, builds, retention, platforms, images"
        );
    }

    #[test]
    fn keys_must_be_strings() {
        assert_eq!(
            problem(&format!("{BASE}1: x\n")),
            "m.yaml:6:1: keys must be plain strings; this key is the number 1"
        );
        assert_eq!(
            problem(&format!("{BASE}? [a, b]\n: x\n")),
            "m.yaml:6:3: keys must be plain strings; this key is a list"
        );
        assert_eq!(
            problem(&format!("{BASE}? \n: x\n")),
            "m.yaml:6:2: a key is missing before ':'"
        );
        assert_eq!(
            problem(&format!("{BASE}!k images: x\n")),
            "m.yaml:6:1: keys must be plain strings; this key is a value tagged '!k'"
        );
    }

    #[test]
    fn duplicate_keys_point_at_the_second() {
        assert_eq!(
            problem(&format!("{BASE}namespace: other\n")),
            "m.yaml:6:1: duplicate key 'namespace' (first on line 1); a key may appear only once"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x, pattern: y}\nimages: [a]\n"),
            "m.yaml:2:22: duplicate key 'pattern' (first on line 2); a key may appear only once"
        );
    }

    #[test]
    fn missing_required_keys() {
        assert_eq!(
            problems("# header\nbuilds: {pattern: x}\n"),
            vec![
                "m.yaml:2:1: missing 'namespace': the Docker Hub user or organisation that owns the images, e.g. namespace: linaro",
                "m.yaml:2:1: missing 'images': the list of repositories (names inside the namespace) that every build must contain",
            ]
        );
        assert_eq!(
            problem("namespace: linaro\nimages: [a]\n"),
            "m.yaml:1:1: missing 'builds': it needs at least 'pattern', the regex that build tags match, e.g. builds: {pattern: '^rocky-\\d+$'}"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  grace: 2h\nimages: [a]\n"),
            "m.yaml:2:1: 'builds' is missing 'pattern', the regex that build tags match, e.g. pattern: '^rocky-\\d+$'"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages:\n  - builds: '^rocky-1$'\n"),
            "m.yaml:4:5: this image entry is missing 'name'"
        );
    }

    #[test]
    fn keys_without_values() {
        assert_eq!(
            problem("namespace:\nbuilds: {pattern: x}\nimages: [a]\n"),
            "m.yaml:1:1: 'namespace' has no value; expected the Docker Hub user or organisation that owns the images, such as linaro"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\nimages: [a]\n"),
            "m.yaml:2:1: 'builds' has no value; it needs at least 'pattern', e.g. pattern: '^rocky-\\d+$'"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages:\n"),
            "m.yaml:3:1: 'images' has no value; list the repositories every build must contain"
        );
        assert_eq!(
            problem(&format!("{BASE}platforms:\n")),
            "m.yaml:6:1: 'platforms' has no value; list platforms such as [linux/amd64, linux/arm64], or remove the key"
        );
        assert_eq!(
            problems("namespace: linaro\nbuilds:\n  pattern: x\n  grace:\n  protect: ~\nimages: [a]\n"),
            vec![
                "m.yaml:4:3: 'builds.grace' has no value; expected a duration such as 30m, 2h, 1d or 1h30m",
                "m.yaml:5:3: 'builds.protect' has no value; list regexes such as ['^latest$'], or remove the key",
            ]
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages:\n  - a\n  -\n  - b\n"),
            "m.yaml:5:4: empty image entry; expected an image name, or a mapping with 'name' and optional 'builds', 'from' and 'until'"
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            problem("namespace: [linaro]\nbuilds: {pattern: x}\nimages: [a]\n"),
            "m.yaml:1:12: 'namespace' must be the Docker Hub user or organisation that owns the images, such as linaro, not a list"
        );
        assert_eq!(
            problem("namespace: 1234\nbuilds: {pattern: x}\nimages: [a]\n"),
            "m.yaml:1:12: 'namespace' must be the Docker Hub user or organisation that owns the images, such as linaro, not the number 1234; quote it ('1234') if you mean that text"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: '^rocky-\\d+$'\nimages: [a]\n"),
            "m.yaml:2:9: 'builds' must be a mapping, not a string; put the regex under 'pattern': builds: {pattern: '^rocky-\\d+$'}"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: [x]\nimages: [a]\n"),
            "m.yaml:2:9: 'builds' must be a mapping with 'pattern' (and optional 'grace', 'protect'), not a list"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: true}\nimages: [a]\n"),
            "m.yaml:2:19: 'builds.pattern' must be a regex such as '^rocky-\\d+$', not the boolean true; quote it ('true') if you mean that text"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x, protect: '^latest$'}\nimages: [a]\n"),
            "m.yaml:2:31: 'builds.protect' must be a list of regexes, not a string; write protect: ['^latest$']"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x, protect: [[a]]}\nimages: [a]\n"),
            "m.yaml:2:32: an entry of 'builds.protect' must be a regex such as '^latest$', not a list"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages:\n  a: 1\n"),
            "m.yaml:4:3: 'images' must be a list (start each image with '- '), not a mapping"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages: a\n"),
            "m.yaml:3:9: 'images' must be a list of image names, not a string"
        );
        assert_eq!(
            problems("namespace: linaro\nbuilds: {pattern: x}\nimages: [a, 42, [b], {name: 7}]\n"),
            vec![
                "m.yaml:3:13: an image name must be a string, not the number 42; quote it ('42')",
                "m.yaml:3:17: each image must be an image name, or a mapping with 'name' and optional 'builds', 'from' and 'until', not a list",
                "m.yaml:3:29: 'name' must be an image name, not the number 7; quote it ('7') if you mean that text",
            ]
        );
        assert_eq!(
            problem(&format!("{BASE}platforms: linux/arm64\n")),
            "m.yaml:6:12: 'platforms' must be a list, not a string; write platforms: [linux/arm64]"
        );
        assert_eq!(
            problem(&format!("{BASE}registry: 5\n")),
            "m.yaml:6:11: 'registry' must be 'docker.io' or an OCI registry URL such as https://registry.example.com, not the number 5; quote it ('5') if you mean that text"
        );
    }

    #[test]
    fn yaml_tags_are_refused() {
        assert_eq!(
            problem("namespace: !env NAMESPACE\nbuilds: {pattern: x}\nimages: [a]\n"),
            "m.yaml:1:12: YAML tags such as '!env' are not supported here; remove the tag"
        );
        // Core tags are resolved, not refused.
        valid("namespace: !!str linaro\nbuilds: {pattern: !!str x}\nimages: [!!str a]\n");
        // `!!binary` is read as its text, and linted as such.
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages: [!!binary aGVsbG8]\n"),
            "m.yaml:3:10: image names are lowercase: write 'agvsbg8'"
        );
    }

    #[test]
    fn every_problem_is_reported_in_file_order() {
        let src = "\
registry: ghcr.io
namespace: Linaro
builds:
  pattern: '(('
  grace: soon
  protect: [')']
platforms: [linux/amd46, linux/arm64, linux/arm64]
images:
  - Base
  - base
  - name: extra
    builds: '['
  - extra
colour: blue
";
        assert_eq!(
            problems(src),
            vec![
                "m.yaml:1:11: registry 'ghcr.io' needs a scheme: write https://ghcr.io",
                "m.yaml:2:12: namespaces are lowercase: write 'linaro'",
                "m.yaml:4:12: invalid regex '((' in 'builds.pattern': unclosed group (at character 2)",
                "m.yaml:5:10: invalid duration 'soon' in 'builds.grace': expected a number before 'soon'; write a whole number followed by a unit s, m, h, d or w, e.g. 90m, 2h or 1h30m",
                "m.yaml:6:13: invalid regex ')' in an entry of 'builds.protect': unopened group (at character 1)",
                "m.yaml:7:13: invalid platform 'linux/amd46': unknown architecture 'amd46' (did you mean 'amd64'?)",
                "m.yaml:7:39: duplicate platform 'linux/arm64' (first listed on line 7)",
                "m.yaml:9:5: image names are lowercase: write 'base'",
                "m.yaml:12:13: invalid regex '[' in the image's 'builds': unclosed character class (at character 1)",
                "m.yaml:13:5: duplicate image 'extra' (first listed on line 11)",
                "m.yaml:14:1: unknown key 'colour'; valid keys at the top level are: registry, namespace, builds, retention, platforms, images",
            ]
        );
    }

    /// Odd but well-formed YAML: no panic, a problem or a manifest.
    #[test]
    fn odd_inputs_do_not_panic() {
        let inputs = [
            "namespace: 123456789012345678901234567890123456789\nbuilds: {pattern: x}\nimages: [a]\n".to_string(),
            "namespace: 1e999\nbuilds: {pattern: x}\nimages: [.nan, -.inf, 0x1F, 0o17]\n".to_string(),
            "? {a: b}\n: c\n? [1, 2]\n: d\n~: e\ntrue: f\n1.5: g\n".to_string(),
            "namespace: !!binary aGVsbG8=\nbuilds: !!map {pattern: !!str x}\nimages: !!seq [!!int 1]\n".to_string(),
            "a: &a [*a]\n".to_string(),
            format!("namespace: linaro\nbuilds: {{pattern: x}}\nimages: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
            format!("namespace: linaro\nbuilds: {{pattern: x}}\nimages:\n{}", "  - a\n".repeat(20_000)),
            format!("namespace: '{}'\n", "x".repeat(100_000)),
            "\u{0}\u{1}\u{7f}\u{feff}\u{fffd}".to_string(),
            "namespace: \"\\u0000\\e\"\nbuilds: {pattern: \"\\x00\"}\nimages: [\"\\t\"]\n".to_string(),
            "%YAML 1.2\n---\nnamespace: linaro\n".to_string(),
            "%TAG ! tag:example.com,2000:\n--- !x\na: b\n".to_string(),
        ];
        for input in &inputs {
            let _ = parse_str("m.yaml", input);
        }
        assert!(
            problem("namespace: \"\\u0000\\e\"\nbuilds: {pattern: x}\nimages: [a]\n")
                .contains("'\\u{0}\\u{1b}'")
        );
    }

    /// Deterministic fuzzing: mutations of a valid manifest never panic, and
    /// every problem has a position inside the file.
    #[test]
    fn mutated_manifests_do_not_panic() {
        let seed = "registry: docker.io\nnamespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 1h30m\n  protect: ['^latest$', \"^stable-\\\\d+$\"]\nplatforms: [linux/amd64, linux/arm64/v8]\nimages:\n  - &b debian-source-base\n  - {name: nova, builds: '^rocky-(1\\d\\d)$'}\n  - name: \"ironic-pxe\"\n    builds: x\n  - *b\n  # comment\n";
        const NOISE: &[&str] = &[
            ":", "-", "- ", "[", "]", "{", "}", ",", "'", "\"", "&", "*", "!", "!!", "|", ">", "#",
            "\t", "\n", " ", "---\n", "...\n", "? ", "%", "@", "`", "\\", "é", "\u{0}", "~",
            "<<: *b\n", "&x ", "*x",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound.max(1) as u64) as usize
        };
        let base: Vec<u8> = seed.bytes().collect();
        for round in 0..2000 {
            let mut bytes = base.clone();
            for _ in 0..=next(4) {
                match next(6) {
                    0 => bytes.truncate(next(bytes.len() + 1)),
                    1 if !bytes.is_empty() => {
                        let at = next(bytes.len());
                        bytes[at] ^= 1 << next(8);
                    }
                    2 => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let mut lines: Vec<&str> = text.split('\n').collect();
                        let (a, b) = (next(lines.len()), next(lines.len()));
                        lines.swap(a, b);
                        bytes = lines.join("\n").into_bytes();
                    }
                    3 => {
                        let at = next(bytes.len() + 1);
                        let noise = NOISE[next(NOISE.len())];
                        bytes.splice(at..at, noise.bytes());
                    }
                    4 if !bytes.is_empty() => {
                        let from = next(bytes.len());
                        let to = (from + next(20)).min(bytes.len());
                        bytes.drain(from..to);
                    }
                    _ => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let mut lines: Vec<&str> = text.split('\n').collect();
                        let at = next(lines.len());
                        let line = lines[at];
                        lines.insert(at, line);
                        bytes = lines.join("\n").into_bytes();
                    }
                }
            }
            let src = String::from_utf8_lossy(&bytes);
            let lines = src.split(['\n', '\r']).count() + 1;
            if let Err(problems) = parse_str("m.yaml", &src) {
                assert!(!problems.is_empty(), "round {round}: {src:?}");
                for p in &problems {
                    assert!(
                        p.line >= 1 && p.line <= lines && p.column >= 1,
                        "round {round}: {p} in {src:?}"
                    );
                    assert!(!p.message.contains('\n'), "round {round}: {p:?}");
                }
            }
        }
    }
}
