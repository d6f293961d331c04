//! `diff --format json`: a contract other tools parse (documented in the
//! README). Add fields; never rename.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{plain, why};
use crate::platform::Platform;
use crate::policy::diff::{Deletion, Diff, Pattern, PruneChange};
use crate::policy::{Status, Summary};
use crate::render::rfc3339;

#[derive(Serialize)]
struct JsonDiff<'a> {
    old: &'a str,
    new: &'a str,
    registry: &'a str,
    namespace: &'a str,
    as_of: String,
    /// Whether the diff exits 1: a build changes status, a prune deletes
    /// more or refuses now, an expected repository is missing now.
    findings: bool,
    manifest: JsonManifest<'a>,
    summary: JsonSummary,
    builds: Vec<JsonBuild<'a>>,
    prune: JsonPrune<'a>,
    missing_repositories: JsonNowNoLonger<'a>,
    unverified_repositories: JsonNowNoLonger<'a>,
    late_images: Vec<JsonLateImage<'a>>,
    retired_images: Vec<JsonRetiredImage<'a>>,
    unverified_platforms: usize,
}

#[derive(Serialize)]
struct JsonManifest<'a> {
    settings: Vec<JsonSetting<'a>>,
    images_added: &'a [String],
    images_removed: &'a [String],
    images_changed: Vec<JsonImageChange<'a>>,
}

#[derive(Serialize)]
struct JsonSetting<'a> {
    setting: &'static str,
    old: Option<&'a str>,
    new: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonImageChange<'a> {
    image: &'a str,
    old: &'a str,
    new: &'a str,
}

#[derive(Serialize)]
struct JsonCounts {
    builds: usize,
    complete: usize,
    broken: usize,
    in_progress: usize,
}

impl From<Summary> for JsonCounts {
    fn from(s: Summary) -> Self {
        JsonCounts {
            builds: s.builds,
            complete: s.complete,
            broken: s.broken,
            in_progress: s.in_progress,
        }
    }
}

#[derive(Serialize)]
struct JsonSummary {
    old: JsonCounts,
    new: JsonCounts,
    status_changes: usize,
    /// Builds NEW's prunes delete (in some repository) that OLD's do not.
    deletions_added: usize,
    deletions_removed: usize,
    /// Of `deletions_added`, the builds OLD's prunes do not delete in any
    /// repository (the others: OLD's delete them too, in fewer).
    deleted_builds_added: usize,
}

#[derive(Serialize)]
struct JsonBuild<'a> {
    tag: &'a str,
    /// `complete`, `broken`, `in_progress`; `null`: not a build.
    old: Option<&'static str>,
    new: Option<&'static str>,
    now_missing: &'a [String],
    no_longer_missing: &'a [String],
    now_missing_platforms: BTreeMap<&'a str, Vec<String>>,
    no_longer_missing_platforms: BTreeMap<&'a str, Vec<String>>,
    /// The images of `no_longer_missing_platforms` NEW does not expect in
    /// the build at all (removed, or left out by `builds`/`from`/`until`).
    no_longer_expected: &'a [String],
    /// `matches_now`, `no_longer_matches` (builds.pattern decides), or `null`.
    pattern: Option<&'static str>,
    why: String,
}

#[derive(Serialize)]
struct JsonPrune<'a> {
    broken: JsonPruneChange<'a>,
    /// `null` when neither manifest has `retention`.
    expired: Option<JsonPruneChange<'a>>,
}

#[derive(Serialize)]
struct JsonPruneChange<'a> {
    added: Vec<JsonDeletion<'a>>,
    removed: Vec<JsonDeletion<'a>>,
    unchanged: &'a [String],
    old_refusal: Option<String>,
    new_refusal: Option<String>,
    /// NEW's prune refuses, and OLD's did not or for less (refusals are
    /// compared by the images they name, not by their words).
    refuses_now: bool,
    skipped: Vec<JsonSkipped<'a>>,
}

#[derive(Serialize)]
struct JsonDeletion<'a> {
    tag: &'a str,
    status: &'static str,
    reason: &'static str,
    retention: Option<&'a str>,
    repositories: &'a [String],
    partial: bool,
}

#[derive(Serialize)]
struct JsonSkipped<'a> {
    tag: &'a str,
    reason: String,
}

#[derive(Serialize)]
struct JsonNowNoLonger<'a> {
    now: &'a [String],
    no_longer: &'a [String],
}

#[derive(Serialize)]
struct JsonLateImage<'a> {
    image: &'a str,
    first_build: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonRetiredImage<'a> {
    image: &'a str,
    last_build: &'a str,
}

fn platforms(map: &BTreeMap<String, Vec<Platform>>) -> BTreeMap<&str, Vec<String>> {
    map.iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(ToString::to_string).collect()))
        .collect()
}

fn deletions(list: &[Deletion]) -> Vec<JsonDeletion<'_>> {
    list.iter()
        .map(|d| JsonDeletion {
            tag: &d.tag,
            status: d.status.as_str(),
            reason: d.reason.as_str(),
            retention: d.retention.as_deref(),
            repositories: &d.repositories,
            partial: d.partial,
        })
        .collect()
}

fn prune(change: &PruneChange) -> JsonPruneChange<'_> {
    JsonPruneChange {
        added: deletions(&change.added),
        removed: deletions(&change.removed),
        unchanged: &change.unchanged,
        old_refusal: change.old_refusal.as_ref().map(ToString::to_string),
        new_refusal: change.new_refusal.as_ref().map(ToString::to_string),
        refuses_now: change.refuses_now(),
        skipped: change
            .skipped
            .iter()
            .map(|s| JsonSkipped {
                tag: &s.tag,
                reason: s.reason.to_string(),
            })
            .collect(),
    }
}

/// The diff as one JSON document (pretty-printed, newline-terminated).
pub fn render(diff: &Diff) -> String {
    let doc = JsonDiff {
        old: &diff.old,
        new: &diff.new,
        registry: &diff.registry,
        namespace: &diff.namespace,
        as_of: rfc3339(diff.as_of),
        findings: diff.has_findings(),
        manifest: JsonManifest {
            settings: diff
                .settings
                .iter()
                .map(|s| JsonSetting {
                    setting: s.setting.as_str(),
                    old: s.old.as_deref(),
                    new: s.new.as_deref(),
                })
                .collect(),
            images_added: &diff.images.added,
            images_removed: &diff.images.removed,
            images_changed: diff
                .images
                .changed
                .iter()
                .map(|c| JsonImageChange {
                    image: &c.image,
                    old: &c.old,
                    new: &c.new,
                })
                .collect(),
        },
        summary: JsonSummary {
            old: diff.old_summary.into(),
            new: diff.new_summary.into(),
            status_changes: diff.builds.len(),
            deletions_added: diff.prune_broken.added.len()
                + diff.prune_expired.as_ref().map_or(0, |p| p.added.len()),
            deletions_removed: diff.prune_broken.removed.len()
                + diff.prune_expired.as_ref().map_or(0, |p| p.removed.len()),
            deleted_builds_added: diff
                .prune_broken
                .added
                .iter()
                .chain(diff.prune_expired.iter().flat_map(|p| &p.added))
                .filter(|d| !d.partial)
                .count(),
        },
        builds: diff
            .builds
            .iter()
            .map(|b| JsonBuild {
                tag: &b.tag,
                old: b.old_status().map(Status::as_str),
                new: b.new_status().map(Status::as_str),
                now_missing: &b.cause.now_missing,
                no_longer_missing: &b.cause.no_longer_missing,
                now_missing_platforms: platforms(&b.cause.now_missing_platforms),
                no_longer_missing_platforms: platforms(&b.cause.no_longer_missing_platforms),
                no_longer_expected: &b.cause.no_longer_expected,
                pattern: b.cause.pattern.map(|p| match p {
                    Pattern::MatchesNow => "matches_now",
                    Pattern::NoLongerMatches => "no_longer_matches",
                }),
                why: why(b, diff, &plain),
            })
            .collect(),
        prune: JsonPrune {
            broken: prune(&diff.prune_broken),
            expired: diff.prune_expired.as_ref().map(prune),
        },
        missing_repositories: JsonNowNoLonger {
            now: &diff.repositories.now_missing,
            no_longer: &diff.repositories.no_longer_missing,
        },
        unverified_repositories: JsonNowNoLonger {
            now: &diff.repositories.now_unverified,
            no_longer: &diff.repositories.no_longer_unverified,
        },
        late_images: diff
            .late_images
            .iter()
            .map(|l| JsonLateImage {
                image: &l.image,
                first_build: l.first_build.as_deref(),
            })
            .collect(),
        retired_images: diff
            .retired_images
            .iter()
            .map(|r| JsonRetiredImage {
                image: &r.image,
                last_build: &r.last_build,
            })
            .collect(),
        unverified_platforms: diff.unverified_platforms,
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("the diff serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::diff::fixture;

    #[test]
    fn the_contract() {
        insta::assert_snapshot!(render(&fixture::diff()), @r#"
        {
          "old": "old.yaml",
          "new": "manifests/kolla.yaml",
          "registry": "docker.io",
          "namespace": "linaro",
          "as_of": "2026-11-20T12:00:00Z",
          "findings": true,
          "manifest": {
            "settings": [
              {
                "setting": "builds.pattern",
                "old": "^rocky-\\d+$",
                "new": "^rocky-\\d+(-debug)?$"
              },
              {
                "setting": "platforms",
                "old": "linux/amd64, linux/arm64",
                "new": "linux/amd64"
              }
            ],
            "images_added": [
              "zun"
            ],
            "images_removed": [
              "typo"
            ],
            "images_changed": [
              {
                "image": "old-svc",
                "old": "every build",
                "new": "until: rocky-3"
              }
            ]
          },
          "summary": {
            "old": {
              "builds": 5,
              "complete": 2,
              "broken": 2,
              "in_progress": 1
            },
            "new": {
              "builds": 6,
              "complete": 2,
              "broken": 3,
              "in_progress": 1
            },
            "status_changes": 4,
            "deletions_added": 3,
            "deletions_removed": 0,
            "deleted_builds_added": 3
          },
          "builds": [
            {
              "tag": "rocky-5-debug",
              "old": null,
              "new": "complete",
              "now_missing": [],
              "no_longer_missing": [],
              "now_missing_platforms": {},
              "no_longer_missing_platforms": {},
              "no_longer_expected": [],
              "pattern": "matches_now",
              "why": "matches builds.pattern now"
            },
            {
              "tag": "rocky-4",
              "old": "broken",
              "new": "complete",
              "now_missing": [],
              "no_longer_missing": [
                "old-svc"
              ],
              "now_missing_platforms": {},
              "no_longer_missing_platforms": {},
              "no_longer_expected": [],
              "pattern": null,
              "why": "no longer expects old-svc"
            },
            {
              "tag": "rocky-2",
              "old": "complete",
              "new": "broken",
              "now_missing": [
                "zun"
              ],
              "no_longer_missing": [],
              "now_missing_platforms": {},
              "no_longer_missing_platforms": {},
              "no_longer_expected": [],
              "pattern": null,
              "why": "missing zun"
            },
            {
              "tag": "rocky-1",
              "old": "complete",
              "new": "broken",
              "now_missing": [
                "zun"
              ],
              "no_longer_missing": [],
              "now_missing_platforms": {},
              "no_longer_missing_platforms": {},
              "no_longer_expected": [],
              "pattern": null,
              "why": "missing zun"
            }
          ],
          "prune": {
            "broken": {
              "added": [],
              "removed": [],
              "unchanged": [],
              "old_refusal": "refusing to prune broken or expired builds: 1 expected repository is missing (typo). A typo in the manifest, or private repositories seen without credentials, make builds look broken, or complete; fix the manifest or log in, then run again",
              "new_refusal": null,
              "refuses_now": false,
              "skipped": [
                {
                  "tag": "rocky-3",
                  "reason": "only images that joined the set in a later build are missing: zun (first in rocky-4). This looks like a manifest change, not a broken build: add `from: rocky-4` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build"
                },
                {
                  "tag": "rocky-2",
                  "reason": "only images that joined the set in a later build are missing: zun (first in rocky-4). This looks like a manifest change, not a broken build: add `from: rocky-4` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build"
                },
                {
                  "tag": "rocky-1",
                  "reason": "only images that joined the set in a later build are missing: zun (first in rocky-4). This looks like a manifest change, not a broken build: add `from: rocky-4` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build"
                }
              ]
            },
            "expired": {
              "added": [
                {
                  "tag": "rocky-3",
                  "status": "broken",
                  "reason": "expired",
                  "retention": "older than the 2 newest complete builds",
                  "repositories": [
                    "base",
                    "nova",
                    "old-svc"
                  ],
                  "partial": false
                },
                {
                  "tag": "rocky-2",
                  "status": "broken",
                  "reason": "expired",
                  "retention": "older than the 2 newest complete builds",
                  "repositories": [
                    "base",
                    "nova",
                    "old-svc"
                  ],
                  "partial": false
                },
                {
                  "tag": "rocky-1",
                  "status": "broken",
                  "reason": "expired",
                  "retention": "older than the 2 newest complete builds",
                  "repositories": [
                    "base",
                    "nova",
                    "old-svc"
                  ],
                  "partial": false
                }
              ],
              "removed": [],
              "unchanged": [],
              "old_refusal": "refusing to prune broken or expired builds: 1 expected repository is missing (typo). A typo in the manifest, or private repositories seen without credentials, make builds look broken, or complete; fix the manifest or log in, then run again",
              "new_refusal": null,
              "refuses_now": false,
              "skipped": []
            }
          },
          "missing_repositories": {
            "now": [],
            "no_longer": [
              "typo"
            ]
          },
          "unverified_repositories": {
            "now": [],
            "no_longer": []
          },
          "late_images": [
            {
              "image": "zun",
              "first_build": "rocky-4"
            }
          ],
          "retired_images": [],
          "unverified_platforms": 0
        }
        "#);
    }
}
