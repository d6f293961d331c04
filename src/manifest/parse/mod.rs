//! Reading a manifest is linting it: this module walks the positioned YAML
//! tree from [`super::locate`], checks every rule, and either assembles a
//! [`Manifest`] or returns every problem found, each pointing at the line and
//! column of the offending key or value.
//!
//! The walk never stops at the first problem: a wrong part is reported and the
//! walk moves on to its siblings, so one `tagsweep validate` run shows
//! everything a pull request has to fix.

use std::cmp::Ordering;
use std::collections::HashMap;

use regex::Regex;

use super::locate::{self, Entry, Node, Pos, Value};
use super::{
    BuildRules, ImageSpec, Manifest, Problem, RegistryRef, Retention, DEFAULT_GRACE, STREAM_GROUP,
};
use crate::duration::parse_duration;
use crate::natural::natural_cmp;
use crate::platform::{closest, Platform};

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

/// Longest repository name (`namespace/name`) registries accept.
const MAX_REPOSITORY_NAME: usize = 255;

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

/// What the registry says about names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    DockerHub,
    Oci,
    /// The registry is invalid: only the rules common to both are checked.
    Unknown,
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

    fn registry(&mut self, entry: &Entry) -> Option<RegistryRef> {
        let text = self.string(
            entry.key.pos,
            &entry.value,
            "'registry'",
            "'docker.io' or an OCI registry URL such as https://registry.example.com",
        )?;
        match parse_registry(text) {
            Ok(registry) => Some(registry),
            Err(message) => {
                self.at(entry.value.pos, message);
                None
            }
        }
    }

    fn namespace(&mut self, entry: &Entry, naming: Naming) -> Option<String> {
        let expected = "the Docker Hub user or organisation that owns the images, such as linaro";
        let text = self.string(entry.key.pos, &entry.value, "'namespace'", expected)?;
        match namespace_problem(text, naming) {
            None => Some(text.to_string()),
            Some(message) => {
                self.at(entry.value.pos, message);
                None
            }
        }
    }

    fn builds(&mut self, entry: &Entry) -> Option<BuildRules> {
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
    fn duration(&mut self, field: &Entry, spec: &DurationKey) -> Option<std::time::Duration> {
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

    /// The `retention` block.
    fn retention(&mut self, entry: &Entry) -> Option<Retention> {
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
    fn retention_warnings(&mut self, rules: &BuildRules, builds: &Entry) {
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

    fn regex(&mut self, field: &Entry, what: &str, example: &str) -> Option<Regex> {
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

    fn platforms(&mut self, field: &Entry) -> Option<Vec<Platform>> {
        let items = self.list(
            field,
            &ListOf {
                key: "platforms",
                list: "a list",
                things: "platforms",
                example: "[linux/amd64, linux/arm64]",
                write: |text| format!("platforms: [{text}]"),
            },
        )?;
        let mut all = Some(Vec::with_capacity(items.len()));
        let mut seen: HashMap<Platform, (Pos, &str)> = HashMap::new();
        for item in items {
            let Some(text) = self.string(
                item.pos,
                item,
                "each entry of 'platforms'",
                "a platform such as linux/arm64",
            ) else {
                all = None;
                continue;
            };
            let platform = match text.parse::<Platform>() {
                Ok(platform) => platform,
                Err(reason) => {
                    self.at(
                        item.pos,
                        format!("invalid platform '{}': {reason}", quote(text)),
                    );
                    all = None;
                    continue;
                }
            };
            if let Some((first_pos, first_text)) = seen.get(&platform) {
                let message = if *first_text == text {
                    format!(
                        "duplicate platform '{text}' (first listed on line {})",
                        first_pos.line
                    )
                } else {
                    format!(
                        "duplicate platform '{text}': it is the same platform as '{first_text}' on line {} \
                         (both mean {platform})",
                        first_pos.line
                    )
                };
                self.at(item.pos, message);
                all = None;
                continue;
            }
            seen.insert(platform.clone(), (item.pos, text));
            if let Some(list) = all.as_mut() {
                list.push(platform);
            }
        }
        all
    }

    /// The `images` list. `pattern` is `builds.pattern` when it is valid, to
    /// check the tags given as `from` and `until`.
    fn images(
        &mut self,
        field: &Entry,
        naming: Naming,
        namespace: Option<&str>,
        pattern: Option<&Regex>,
    ) -> Option<Vec<ImageSpec>> {
        let items = match &field.value.value {
            Value::Seq(items) => items,
            Value::Null => {
                self.at(
                    field.key.pos,
                    "'images' has no value; list the repositories every build must contain",
                );
                return None;
            }
            Value::Map(_) => {
                self.at(
                    field.value.pos,
                    "'images' must be a list (start each image with '- '), not a mapping",
                );
                return None;
            }
            Value::Tagged(tag, _) => {
                self.at(field.value.pos, tag_message(tag));
                return None;
            }
            other => {
                self.at(
                    field.value.pos,
                    format!(
                        "'images' must be a list of image names, not {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        if items.is_empty() {
            self.at(
                field.value.pos,
                "the image list is empty; list at least one repository (its name inside the namespace)",
            );
            return None;
        }
        let mut all = Some(Vec::with_capacity(items.len()));
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for item in items {
            let Some(ImageEntry {
                name,
                name_pos,
                builds,
                from,
                until,
            }) = self.image(item, pattern)
            else {
                all = None;
                continue;
            };
            let mut ok = builds.is_some() && from.is_some() && until.is_some();
            if let Some(message) = image_name_problem(name, naming, namespace) {
                self.at(name_pos, message);
                ok = false;
            }
            match seen.get(name) {
                Some(first) => {
                    self.at(
                        name_pos,
                        format!(
                            "duplicate image '{}' (first listed on line {})",
                            quote(name),
                            first.line
                        ),
                    );
                    ok = false;
                }
                None => {
                    seen.insert(name, name_pos);
                }
            }
            match (ok, all.as_mut(), builds, from, until) {
                (true, Some(list), Some(builds), Some(from), Some(until)) => list.push(ImageSpec {
                    name: name.to_string(),
                    builds,
                    from: from.map(str::to_string),
                    until: until.map(str::to_string),
                }),
                _ => all = None,
            }
        }
        all
    }

    /// One entry of `images` (`None` when it has no usable name).
    fn image<'n>(&mut self, item: &'n Node, pattern: Option<&Regex>) -> Option<ImageEntry<'n>> {
        const EXPECTED: &str =
            "an image name, or a mapping with 'name' and optional 'builds', 'from' and 'until'";
        match &item.value {
            Value::Str(name) => Some(ImageEntry {
                name,
                name_pos: item.pos,
                builds: Some(None),
                from: Some(None),
                until: Some(None),
            }),
            Value::Map(entries) => {
                let fields = self.fields(entries, Section::Image);
                let builds = match fields.get("builds") {
                    None => Some(None),
                    Some(field) => self
                        .regex(field, "the image's 'builds'", "'^rocky-(1\\d\\d)$'")
                        .map(Some),
                };
                let from_field = fields.get("from").copied();
                let until_field = fields.get("until").copied();
                let from = self.build_tag(from_field, "from", "rocky-40", pattern);
                let mut until = self.build_tag(until_field, "until", "rocky-12", pattern);
                if let (Some(Some(first)), Some(Some(last)), Some(from_field), Some(until_field)) =
                    (from, until, from_field, until_field)
                {
                    if natural_cmp(first, last) == Ordering::Greater {
                        self.at(
                            until_field.value.pos,
                            format!(
                                "'until' value '{}' comes before 'from' value '{}' (line {}), so no build \
                                 would expect this image; 'from' names the first build and 'until' the last",
                                quote(last),
                                quote(first),
                                from_field.value.pos.line
                            ),
                        );
                        until = None;
                    }
                }
                let Some(field) = fields.get("name") else {
                    self.at(item.pos, "this image entry is missing 'name'");
                    return None;
                };
                let name = self.string(field.key.pos, &field.value, "'name'", "an image name")?;
                Some(ImageEntry {
                    name,
                    name_pos: field.value.pos,
                    builds,
                    from,
                    until,
                })
            }
            Value::Null => {
                self.at(item.pos, format!("empty image entry; expected {EXPECTED}"));
                None
            }
            Value::Number(text) => {
                self.at(
                    item.pos,
                    format!("an image name must be a string, not the number {text}; quote it ('{text}')"),
                );
                None
            }
            Value::Tagged(tag, _) => {
                self.at(item.pos, tag_message(tag));
                None
            }
            other => {
                self.at(
                    item.pos,
                    format!("each image must be {EXPECTED}, not {}", describe(other)),
                );
                None
            }
        }
    }

    /// The image's `from` or `until` (`key`): a build tag, which must match
    /// `builds.pattern` when that is valid. `Some(None)` when the key is
    /// absent, `None` after reporting why the value is not a build tag.
    fn build_tag<'n>(
        &mut self,
        field: Option<&'n Entry>,
        key: &str,
        example: &str,
        pattern: Option<&Regex>,
    ) -> Option<Option<&'n str>> {
        let Some(field) = field else {
            return Some(None);
        };
        if let Value::Number(text) = &field.value.value {
            self.at(
                field.value.pos,
                format!(
                    "'{key}' must be a build tag, not the number {text}; write the tag in quotes, \
                     e.g. {key}: '{example}'"
                ),
            );
            return None;
        }
        let tag = self.string(
            field.key.pos,
            &field.value,
            &format!("'{key}'"),
            &format!("a build tag such as '{example}'"),
        )?;
        if let Some(pattern) = pattern {
            if !pattern.is_match(tag) {
                self.at(
                    field.value.pos,
                    format!(
                        "'{key}' value '{}' is not a build tag: it does not match builds.pattern '{}'",
                        quote(tag),
                        quote(pattern.as_str())
                    ),
                );
                return None;
            }
        }
        Some(Some(tag))
    }
}

/// How a duration-valued key is described in problems.
struct DurationKey {
    key: &'static str,
    /// "a duration such as 30m, 2h, 1d or 1h30m"
    expected: &'static str,
    /// The units suggested for a number written without one.
    units: &'static [&'static str],
}

const GRACE: DurationKey = DurationKey {
    key: "builds.grace",
    expected: "a duration such as 30m, 2h, 1d or 1h30m",
    units: &["s", "m", "h"],
};

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

/// One entry of `images` as read: each optional key is `None` when its value
/// is invalid (the problem is already reported), `Some(None)` when absent.
struct ImageEntry<'n> {
    name: &'n str,
    /// Where the name is written, for problems about the name.
    name_pos: Pos,
    builds: Option<Option<Regex>>,
    from: Option<Option<&'n str>>,
    until: Option<Option<&'n str>>,
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

/// `docker.io`, or an OCI registry URL `https://host[:port]` (`http` only on
/// loopback).
fn parse_registry(text: &str) -> Result<RegistryRef, String> {
    const HOW: &str = "write 'docker.io' for Docker Hub, or an OCI registry URL such as \
                       https://registry.example.com or http://localhost:5000";
    if text == "docker.io" {
        return Ok(RegistryRef::DockerHub);
    }
    if text.trim().is_empty() {
        return Err(format!("'registry' is empty; {HOW}"));
    }
    let lower = text.to_ascii_lowercase();
    let bare = lower
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if matches!(
        bare,
        "docker.io"
            | "index.docker.io"
            | "registry-1.docker.io"
            | "hub.docker.com"
            | "registry.hub.docker.com"
    ) {
        return Err(format!(
            "'{}' is Docker Hub: write registry: docker.io",
            quote(text)
        ));
    }
    let Some((scheme, _)) = text.split_once("://") else {
        let looks_like_host = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if looks_like_host {
            let scheme = match url::Url::parse(&format!("http://{text}")) {
                Ok(url) if crate::net::is_loopback(&url) => "http",
                _ => "https",
            };
            return Err(format!(
                "registry '{}' needs a scheme: write {scheme}://{}",
                quote(text),
                quote(text)
            ));
        }
        return Err(format!("invalid registry '{}'; {HOW}", quote(text)));
    };
    let url = url::Url::parse(text).map_err(|err| {
        format!(
            "invalid registry URL '{}': {err}; {HOW}",
            quote(&redact(text, scheme))
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "the registry URL must not contain credentials: write {} and give credentials \
             through the environment (the manifest is reviewed in public)",
            url.origin().ascii_serialization()
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if crate::net::is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "plain http is only allowed for loopback registries (127.0.0.0/8, ::1, localhost); \
                 write https://{}",
                quote(text.split_once("://").map_or(text, |(_, rest)| rest))
            ))
        }
        other => {
            return Err(format!(
                "registry URL scheme '{}' is not supported; use https:// (or http:// on loopback)",
                quote(other)
            ))
        }
    }
    if url.host().is_none() {
        return Err(format!(
            "the registry URL '{}' has no host; {HOW}",
            quote(text)
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "the registry URL must be only scheme, host and port (the API path /v2/ is added \
             automatically): write {}",
            url.origin().ascii_serialization()
        ));
    }
    Ok(RegistryRef::Oci { url })
}

/// The text with anything between `scheme://` and `@` replaced, so that a
/// malformed URL with credentials is not echoed back.
fn redact(text: &str, scheme: &str) -> String {
    let rest = &text[scheme.len() + 3..];
    match rest.split_once('@') {
        Some((_, host)) => format!("{scheme}://…@{host}"),
        None => text.to_string(),
    }
}

/// Whether `s` is an OCI repository path component:
/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let separator_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &s[separator_start..i];
        if !(separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|c| c == b'-'))
        {
            return false;
        }
    }
}

/// Docker Hub namespaces: 2–255 lowercase letters and digits, with `-` and
/// `_` allowed inside.
fn is_hub_namespace(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (2..=255).contains(&bytes.len())
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|c| alnum(c) || *c == b'-' || *c == b'_')
}

fn namespace_problem(text: &str, naming: Naming) -> Option<String> {
    const HUB_RULE: &str = "Docker Hub namespaces are 2–255 lowercase letters and digits, \
                            with '-' or '_' allowed inside (not first or last)";
    const OCI_RULE: &str = "on an OCI registry the namespace is one or more path components \
                            (lowercase letters and digits, separated by '.', '_', '__' or dashes) joined by '/'";
    if text.is_empty() {
        return Some(
            "'namespace' is empty; write the Docker Hub user or organisation, such as linaro"
                .to_string(),
        );
    }
    if naming == Naming::DockerHub {
        if is_hub_namespace(text) {
            return None;
        }
        if let Some((first, _)) = text.split_once('/') {
            if first.contains('.') || first.contains(':') || first == "localhost" {
                return Some(format!(
                    "'{}' includes a registry; put the registry under 'registry' and only the user \
                     or organisation here",
                    quote(text)
                ));
            }
            return Some(format!(
                "a Docker Hub namespace is a single user or organisation and cannot contain '/': \
                 '{}' (list repository names under 'images')",
                quote(text)
            ));
        }
        let lower = text.to_lowercase();
        if lower != text && is_hub_namespace(&lower) {
            return Some(format!(
                "Docker Hub namespaces are lowercase: write '{lower}'"
            ));
        }
        return Some(format!("invalid namespace '{}': {HUB_RULE}", quote(text)));
    }
    if text.split('/').all(is_path_component) {
        return None;
    }
    let lower = text.to_lowercase();
    if lower != text && lower.split('/').all(is_path_component) {
        return Some(format!("namespaces are lowercase: write '{lower}'"));
    }
    Some(format!("invalid namespace '{}': {OCI_RULE}", quote(text)))
}

fn image_name_problem(name: &str, naming: Naming, namespace: Option<&str>) -> Option<String> {
    const RULE: &str =
        "a name is lowercase letters and digits, separated by '.', '_', '__' or dashes, \
                        and starts and ends with a letter or digit";
    if name.is_empty() {
        return Some("the image name is empty".to_string());
    }
    if let Some(index) = name.find([':', '@']) {
        let base = &name[..index];
        return Some(format!(
            "image names do not include a tag or digest: write '{}' (build tags are matched by 'builds.pattern')",
            quote(base)
        ));
    }
    if naming == Naming::DockerHub && name.contains('/') {
        if let Some(rest) = namespace.and_then(|ns| name.strip_prefix(ns)?.strip_prefix('/')) {
            if !rest.contains('/') {
                return Some(format!(
                    "write '{}' without the namespace: image names are inside 'namespace' already",
                    quote(rest)
                ));
            }
        }
        return Some(format!(
            "image names on Docker Hub cannot contain '/': '{}' (a repository is namespace/name, \
             and the namespace is set by 'namespace')",
            quote(name)
        ));
    }
    if !name.split('/').all(is_path_component) {
        let lower = name.to_lowercase();
        if lower != name && lower.split('/').all(is_path_component) {
            return Some(format!(
                "image names are lowercase: write '{}'",
                quote(&lower)
            ));
        }
        let rule = if naming == Naming::DockerHub {
            RULE.to_string()
        } else {
            format!("{RULE}; '/' separates path components")
        };
        return Some(format!("invalid image name '{}': {rule}", quote(name)));
    }
    if let Some(namespace) = namespace {
        let length = namespace.len() + 1 + name.len();
        if length > MAX_REPOSITORY_NAME {
            return Some(format!(
                "the repository name {namespace}/{}… is {length} characters, over the limit of {MAX_REPOSITORY_NAME}",
                name.chars().take(20).collect::<String>()
            ));
        }
    }
    None
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
    use super::*;

    /// A valid manifest; tests replace or append parts of it.
    const BASE: &str = "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages:\n  - a\n";

    /// Every problem, as printed.
    fn problems(src: &str) -> Vec<String> {
        match parse_str("m.yaml", src) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    /// The single problem of `src`, as printed.
    fn problem(src: &str) -> String {
        let all = problems(src);
        assert_eq!(
            all.len(),
            1,
            "expected one problem in {src:?}, got {all:#?}"
        );
        all.into_iter().next().unwrap_or_default()
    }

    fn valid(src: &str) -> Manifest {
        parse_str("m.yaml", src).unwrap_or_else(|p| panic!("{src:?}: {p:#?}"))
    }

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

    /// A manifest with build tags `rocky-N` whose only image has `keys`
    /// (lines 4 and 5 onwards: `  - name: a`, then the keys).
    fn with_image_keys(keys: &str) -> String {
        format!(
            "namespace: linaro\nbuilds: {{pattern: '^rocky-\\d+$'}}\nimages:\n  - name: a\n{keys}"
        )
    }

    #[test]
    fn from_and_until_are_read() {
        let m = valid(&with_image_keys(
            "    from: rocky-40\n  - name: b\n    until: 'rocky-12'\n  - {name: c, from: rocky-9, until: rocky-10}\n  - d\n",
        ));
        let bounds: Vec<(Option<&str>, Option<&str>)> = m
            .images
            .iter()
            .map(|i| (i.from.as_deref(), i.until.as_deref()))
            .collect();
        assert_eq!(
            bounds,
            [
                (Some("rocky-40"), None),
                (None, Some("rocky-12")),
                (Some("rocky-9"), Some("rocky-10")),
                (None, None),
            ]
        );
        // The same build on both sides: expected in that build only.
        let m = valid(&with_image_keys("    from: rocky-7\n    until: rocky-7\n"));
        assert!(m.images[0].expected_in("rocky-7"));
        assert!(!m.images[0].expected_in("rocky-8"));
    }

    #[test]
    fn from_and_until_must_be_build_tags() {
        assert_eq!(
            problem(&with_image_keys("    from: rocky40\n")),
            "m.yaml:5:11: 'from' value 'rocky40' is not a build tag: it does not match builds.pattern '^rocky-\\d+$'"
        );
        assert_eq!(
            problem(&with_image_keys("    until: 'latest'\n")),
            "m.yaml:5:12: 'until' value 'latest' is not a build tag: it does not match builds.pattern '^rocky-\\d+$'"
        );
        assert_eq!(
            problem(&with_image_keys("    from: 40\n")),
            "m.yaml:5:11: 'from' must be a build tag, not the number 40; write the tag in quotes, e.g. from: 'rocky-40'"
        );
        // YAML reads 5.10 as the number 5.1: the message shows it.
        assert_eq!(
            problem(&with_image_keys("    until: 5.10\n")),
            "m.yaml:5:12: 'until' must be a build tag, not the number 5.1; write the tag in quotes, e.g. until: 'rocky-12'"
        );
        assert_eq!(
            problem(&with_image_keys("    from:\n")),
            "m.yaml:5:5: 'from' has no value; expected a build tag such as 'rocky-40'"
        );
        assert_eq!(
            problem(&with_image_keys("    until: [rocky-12]\n")),
            "m.yaml:5:12: 'until' must be a build tag such as 'rocky-12', not a list"
        );
        assert_eq!(
            problem(&with_image_keys("    from: true\n")),
            "m.yaml:5:11: 'from' must be a build tag such as 'rocky-40', not the boolean true; quote it ('true') if you mean that text"
        );
        // In a flow mapping, the position is the value's too.
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [{name: a, from: rocky_4}]\n"),
            "m.yaml:3:26: 'from' value 'rocky_4' is not a build tag: it does not match builds.pattern '^rocky-\\d+$'"
        );
    }

    #[test]
    fn from_must_not_be_after_until() {
        assert_eq!(
            problem(&with_image_keys("    from: rocky-40\n    until: rocky-12\n")),
            "m.yaml:6:12: 'until' value 'rocky-12' comes before 'from' value 'rocky-40' (line 5), so no build would expect this image; 'from' names the first build and 'until' the last"
        );
        // Natural order, not byte order: rocky-9 comes before rocky-10.
        assert_eq!(
            problem(&with_image_keys("    until: rocky-9\n    from: rocky-10\n")),
            "m.yaml:5:12: 'until' value 'rocky-9' comes before 'from' value 'rocky-10' (line 6), so no build would expect this image; 'from' names the first build and 'until' the last"
        );
        valid(&with_image_keys("    from: rocky-9\n    until: rocky-10\n"));
    }

    #[test]
    fn from_and_until_with_a_broken_pattern_report_only_the_pattern() {
        // Without a valid builds.pattern the tags cannot be checked: one
        // problem, not one per image.
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: '('}\nimages:\n  - {name: a, from: x, until: y}\n"),
            "m.yaml:2:19: invalid regex '(' in 'builds.pattern': unclosed group (at character 1)"
        );
        // Their own types are still checked.
        assert_eq!(
            problems("namespace: linaro\nimages:\n  - {name: a, from: 4}\n"),
            vec![
                "m.yaml:1:1: missing 'builds': it needs at least 'pattern', the regex that build tags match, e.g. builds: {pattern: '^rocky-\\d+$'}",
                "m.yaml:3:21: 'from' must be a build tag, not the number 4; write the tag in quotes, e.g. from: 'rocky-40'",
            ]
        );
    }

    #[test]
    fn misplaced_or_misspelt_from_and_until() {
        assert_eq!(
            problem(&with_image_keys("    form: rocky-40\n")),
            "m.yaml:5:5: unknown key 'form' (did you mean 'from'?); valid keys in an image entry are: name, builds, from, until"
        );
        assert_eq!(
            problem(&with_image_keys("    untill: rocky-12\n")),
            "m.yaml:5:5: unknown key 'untill' (did you mean 'until'?); valid keys in an image entry are: name, builds, from, until"
        );
        assert_eq!(
            problem(&format!("{BASE}from: rocky-40\n")),
            "m.yaml:6:1: unknown key 'from' (it belongs in an image entry); valid keys at the top level are: registry, namespace, builds, retention, platforms, images"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds:\n  pattern: x\n  until: x\nimages: [a]\n"),
            "m.yaml:4:3: unknown key 'until' (it belongs in an image entry); valid keys under 'builds' are: pattern, grace, protect"
        );
    }

    #[test]
    fn a_per_image_filter_that_never_matches_is_fine() {
        let m = valid("namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages:\n  - name: a\n    builds: '^queens-'\n");
        assert!(!m.images[0].expected_in("rocky-1"));
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

    #[test]
    fn platforms() {
        let m = valid(&format!(
            "{BASE}platforms: [linux/amd64, Linux/ARM64, linux/arm/v7]\n"
        ));
        assert_eq!(
            m.platforms
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["linux/amd64", "linux/arm64", "linux/arm/v7"]
        );
        assert_eq!(
            problem(&format!("{BASE}platforms: [linux/amd46]\n")),
            "m.yaml:6:13: invalid platform 'linux/amd46': unknown architecture 'amd46' (did you mean 'amd64'?)"
        );
        assert_eq!(
            problem(&format!("{BASE}platforms:\n  - linux\n")),
            "m.yaml:7:5: invalid platform 'linux': 'linux' has no architecture; write os/arch or os/arch/variant, e.g. linux/arm64"
        );
        assert_eq!(
            problems(&format!("{BASE}platforms:\n  - linux/arm64\n  - linux/amd64\n  - linux/arm64/v8\n  - linux/amd64\n")),
            vec![
                "m.yaml:9:5: duplicate platform 'linux/arm64/v8': it is the same platform as 'linux/arm64' on line 7 (both mean linux/arm64)",
                "m.yaml:10:5: duplicate platform 'linux/amd64' (first listed on line 8)",
            ]
        );
        assert!(valid(&format!("{BASE}platforms: []\n"))
            .platforms
            .is_empty());
    }

    #[test]
    fn docker_hub_namespaces() {
        let ns = |namespace: &str| {
            problem(&format!(
                "namespace: '{namespace}'\nbuilds: {{pattern: x}}\nimages: [a]\n"
            ))
        };
        const RULE: &str = "Docker Hub namespaces are 2–255 lowercase letters and digits, with '-' or '_' allowed inside (not first or last)";
        assert_eq!(
            ns("Linaro"),
            "m.yaml:1:12: Docker Hub namespaces are lowercase: write 'linaro'"
        );
        assert_eq!(
            ns("a"),
            format!("m.yaml:1:12: invalid namespace 'a': {RULE}")
        );
        assert_eq!(
            ns("-linaro"),
            format!("m.yaml:1:12: invalid namespace '-linaro': {RULE}")
        );
        assert_eq!(
            ns("lin.aro"),
            format!("m.yaml:1:12: invalid namespace 'lin.aro': {RULE}")
        );
        assert_eq!(
            ns(&"a".repeat(256)),
            format!(
                "m.yaml:1:12: invalid namespace '{}…': {RULE}",
                "a".repeat(80)
            )
        );
        assert_eq!(
            ns("linaro/kolla"),
            "m.yaml:1:12: a Docker Hub namespace is a single user or organisation and cannot contain '/': 'linaro/kolla' (list repository names under 'images')"
        );
        assert_eq!(
            ns("docker.io/linaro"),
            "m.yaml:1:12: 'docker.io/linaro' includes a registry; put the registry under 'registry' and only the user or organisation here"
        );
        assert_eq!(ns(""), "m.yaml:1:12: 'namespace' is empty; write the Docker Hub user or organisation, such as linaro");
        for good in ["linaro", "l1", "my-org", "my_org", "a-_b", &"a".repeat(253)] {
            valid(&format!(
                "namespace: '{good}'\nbuilds: {{pattern: x}}\nimages: [a]\n"
            ));
        }
        assert_eq!(namespace_problem(&"a".repeat(255), Naming::DockerHub), None);
    }

    #[test]
    fn image_names() {
        let image = |name: &str| {
            problem(&format!(
                "namespace: linaro\nbuilds: {{pattern: x}}\nimages:\n  - '{name}'\n"
            ))
        };
        assert_eq!(
            image("linaro/debian-source-base"),
            "m.yaml:4:5: write 'debian-source-base' without the namespace: image names are inside 'namespace' already"
        );
        assert_eq!(
            image("kolla/base"),
            "m.yaml:4:5: image names on Docker Hub cannot contain '/': 'kolla/base' (a repository is namespace/name, and the namespace is set by 'namespace')"
        );
        assert_eq!(
            image("base:rocky-1"),
            "m.yaml:4:5: image names do not include a tag or digest: write 'base' (build tags are matched by 'builds.pattern')"
        );
        assert_eq!(
            image("Base"),
            "m.yaml:4:5: image names are lowercase: write 'base'"
        );
        assert_eq!(
            image("-base"),
            "m.yaml:4:5: invalid image name '-base': a name is lowercase letters and digits, separated by '.', '_', '__' or dashes, and starts and ends with a letter or digit"
        );
        assert_eq!(
            image("a___b"),
            "m.yaml:4:5: invalid image name 'a___b': a name is lowercase letters and digits, separated by '.', '_', '__' or dashes, and starts and ends with a letter or digit"
        );
        assert_eq!(image(""), "m.yaml:4:5: the image name is empty");
        assert_eq!(
            image(&"a".repeat(249)),
            format!("m.yaml:4:5: the repository name linaro/{}… is 256 characters, over the limit of 255", "a".repeat(20))
        );
        for good in [
            "a",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "0ad",
            "debian-source-ironic-pxe",
        ] {
            valid(&format!(
                "namespace: linaro\nbuilds: {{pattern: x}}\nimages: ['{good}']\n"
            ));
        }
    }

    #[test]
    fn image_names_on_oci_registries_may_have_paths() {
        let m = valid("registry: https://ghcr.io\nnamespace: org/team\nbuilds: {pattern: x}\nimages: [tools/base, app]\n");
        assert_eq!(m.namespace, "org/team");
        assert_eq!(m.images[0].name, "tools/base");
        assert_eq!(
            problem("registry: https://ghcr.io\nnamespace: org\nbuilds: {pattern: x}\nimages: [tools//base]\n"),
            "m.yaml:4:10: invalid image name 'tools//base': a name is lowercase letters and digits, separated by '.', '_', '__' or dashes, and starts and ends with a letter or digit; '/' separates path components"
        );
        assert_eq!(
            problem(
                "registry: https://ghcr.io\nnamespace: Org/x\nbuilds: {pattern: x}\nimages: [a]\n"
            ),
            "m.yaml:2:12: namespaces are lowercase: write 'org/x'"
        );
        assert_eq!(
            problem("registry: https://ghcr.io\nnamespace: org/\nbuilds: {pattern: x}\nimages: [a]\n"),
            "m.yaml:2:12: invalid namespace 'org/': on an OCI registry the namespace is one or more path components (lowercase letters and digits, separated by '.', '_', '__' or dashes) joined by '/'"
        );
    }

    #[test]
    fn duplicate_images_point_at_the_second_and_name_the_first_line() {
        assert_eq!(
            problem(
                "namespace: linaro\nbuilds: {pattern: x}\nimages:\n  - a\n  - b\n  - name: a\n"
            ),
            "m.yaml:6:11: duplicate image 'a' (first listed on line 4)"
        );
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages: [a, b, a]\n"),
            "m.yaml:3:16: duplicate image 'a' (first listed on line 3)"
        );
        // An alias is reported where the alias is written.
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages:\n  - &first a\n  - \"b\"\n  - *first\n"),
            "m.yaml:6:5: duplicate image 'a' (first listed on line 4)"
        );
    }

    #[test]
    fn empty_image_list() {
        assert_eq!(
            problem("namespace: linaro\nbuilds: {pattern: x}\nimages: []\n"),
            "m.yaml:3:9: the image list is empty; list at least one repository (its name inside the namespace)"
        );
    }

    #[test]
    fn registries() {
        let registry =
            |r: &str| parse_str("m.yaml", &format!("registry: '{r}'\n{BASE}")).map(|m| m.registry);
        let oci = |r: &str| match registry(r) {
            Ok(RegistryRef::Oci { url }) => url.to_string(),
            other => panic!("{r}: {other:?}"),
        };
        assert_eq!(registry("docker.io").ok(), Some(RegistryRef::DockerHub));
        assert_eq!(oci("https://ghcr.io"), "https://ghcr.io/");
        assert_eq!(
            oci("https://registry.example.com:5000/"),
            "https://registry.example.com:5000/"
        );
        assert_eq!(oci("http://localhost:5000"), "http://localhost:5000/");
        assert_eq!(oci("http://127.0.0.2:5000"), "http://127.0.0.2:5000/");
        assert_eq!(oci("http://[::1]:5000"), "http://[::1]:5000/");

        let bad = |r: &str| problem(&format!("registry: '{r}'\n{BASE}"));
        assert_eq!(
            bad("ghcr.io"),
            "m.yaml:1:11: registry 'ghcr.io' needs a scheme: write https://ghcr.io"
        );
        assert_eq!(
            bad("127.0.0.1:5000"),
            "m.yaml:1:11: registry '127.0.0.1:5000' needs a scheme: write http://127.0.0.1:5000"
        );
        assert_eq!(
            bad("hub.docker.com"),
            "m.yaml:1:11: 'hub.docker.com' is Docker Hub: write registry: docker.io"
        );
        assert_eq!(
            bad("https://index.docker.io/"),
            "m.yaml:1:11: 'https://index.docker.io/' is Docker Hub: write registry: docker.io"
        );
        assert_eq!(
            bad("http://ghcr.io"),
            "m.yaml:1:11: plain http is only allowed for loopback registries (127.0.0.0/8, ::1, localhost); write https://ghcr.io"
        );
        assert_eq!(
            bad("http://10.0.0.1:5000"),
            "m.yaml:1:11: plain http is only allowed for loopback registries (127.0.0.0/8, ::1, localhost); write https://10.0.0.1:5000"
        );
        assert_eq!(
            bad("https://bot:s3cret@ghcr.io"),
            "m.yaml:1:11: the registry URL must not contain credentials: write https://ghcr.io and give credentials through the environment (the manifest is reviewed in public)"
        );
        assert_eq!(
            bad("https://ghcr.io/v2/"),
            "m.yaml:1:11: the registry URL must be only scheme, host and port (the API path /v2/ is added automatically): write https://ghcr.io"
        );
        assert_eq!(
            bad("https://ghcr.io/?x=1"),
            "m.yaml:1:11: the registry URL must be only scheme, host and port (the API path /v2/ is added automatically): write https://ghcr.io"
        );
        assert_eq!(bad("ftp://ghcr.io"), "m.yaml:1:11: registry URL scheme 'ftp' is not supported; use https:// (or http:// on loopback)");
        assert_eq!(
            bad("https://"),
            "m.yaml:1:11: invalid registry URL 'https://': empty host; write 'docker.io' for Docker Hub, or an OCI registry URL such as https://registry.example.com or http://localhost:5000"
        );
        assert!(!bad("https://user:pw@[bad").contains("pw"));
        assert_eq!(
            bad("my registry"),
            "m.yaml:1:11: invalid registry 'my registry'; write 'docker.io' for Docker Hub, or an OCI registry URL such as https://registry.example.com or http://localhost:5000"
        );
        assert_eq!(bad(""), "m.yaml:1:11: 'registry' is empty; write 'docker.io' for Docker Hub, or an OCI registry URL such as https://registry.example.com or http://localhost:5000");
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
