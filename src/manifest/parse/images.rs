//! The `images` list: each entry a name or a mapping with `name`, `builds`,
//! `from` and `until`; image-name rules; duplicates.

use std::cmp::Ordering;
use std::collections::HashMap;

use regex::Regex;

use super::registry::{is_path_component, Naming};
use super::{describe, quote, tag_message, Lint, Section};
use crate::manifest::locate::{Entry, Node, Pos, Value};
use crate::manifest::ImageSpec;
use crate::natural::natural_cmp;

/// Longest repository name (`namespace/name`) registries accept.
const MAX_REPOSITORY_NAME: usize = 255;

impl Lint<'_> {
    /// The `images` list. `pattern` is `builds.pattern` when it is valid, to
    /// check the tags given as `from` and `until`.
    pub(super) fn images(
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
                    at: name_pos.into(),
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{problem, problems, valid, BASE};

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
}
