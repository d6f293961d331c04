//! The JSON report: a contract other tools parse. Add fields; never rename.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{rfc3339, RunStats};
use crate::platform::Platform;
use crate::policy::Report;

#[derive(Serialize)]
struct JsonReport<'a> {
    registry: &'a str,
    namespace: &'a str,
    as_of: String,
    builds: Vec<JsonBuild<'a>>,
    summary: JsonSummary,
    unexpected_repositories: &'a [String],
    missing_repositories: &'a [String],
    unverified_repositories: &'a [String],
    late_images: Vec<JsonLateImage<'a>>,
    retired_images: Vec<JsonRetiredImage<'a>>,
    image_stats: Vec<JsonImageStats<'a>>,
    stats: JsonStats,
}

#[derive(Serialize)]
struct JsonBuild<'a> {
    tag: &'a str,
    status: &'static str,
    expected: usize,
    present: usize,
    missing: &'a [String],
    missing_platforms: BTreeMap<&'a str, Vec<String>>,
    unverified_platforms: BTreeMap<&'a str, Vec<String>>,
    newest_push: Option<String>,
    newest_push_source: &'static str,
    /// With `retention` in the manifest: whether the build is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    retained: Option<bool>,
    /// With `retention` in the manifest: why it is kept or expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<String>,
}

#[derive(Serialize)]
struct JsonRetiredImage<'a> {
    image: &'a str,
    last_build: &'a str,
}

/// How often one image failed in the finished builds that expect it.
#[derive(Serialize)]
struct JsonImageStats<'a> {
    image: &'a str,
    builds_expected: usize,
    builds_missing: usize,
    builds_short_of_platforms: usize,
}

#[derive(Serialize)]
struct JsonLateImage<'a> {
    image: &'a str,
    first_build: Option<&'a str>,
}

fn platforms(map: &BTreeMap<String, Vec<Platform>>) -> BTreeMap<&str, Vec<String>> {
    map.iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(ToString::to_string).collect()))
        .collect()
}

#[derive(Serialize)]
struct JsonSummary {
    builds: usize,
    complete: usize,
    broken: usize,
    in_progress: usize,
    /// With `retention` in the manifest, when every build was judged: how
    /// many builds expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    expired: Option<usize>,
}

#[derive(Serialize)]
struct JsonStats {
    requests: u64,
    retries: u64,
    rate_limited: u64,
    /// Repositories whose tags came from the inventory cache after one look.
    unchanged_repositories: usize,
    elapsed_ms: u64,
}

/// The audit as one JSON document (pretty-printed, newline-terminated).
pub fn render(report: &Report, stats: &RunStats) -> String {
    let doc = JsonReport {
        registry: &report.registry,
        namespace: &report.namespace,
        as_of: rfc3339(report.as_of),
        builds: report
            .builds
            .iter()
            .map(|b| JsonBuild {
                tag: &b.tag,
                status: b.status.as_str(),
                expected: b.expected,
                present: b.present,
                missing: &b.missing,
                missing_platforms: platforms(&b.missing_platforms),
                unverified_platforms: platforms(&b.unverified_platforms),
                newest_push: b.newest_push.map(rfc3339),
                newest_push_source: b.age.as_str(),
                retained: b.retention.as_ref().map(|v| !v.is_expired()),
                retention: b.retention.as_ref().map(ToString::to_string),
            })
            .collect(),
        summary: JsonSummary {
            builds: report.summary.builds,
            complete: report.summary.complete,
            broken: report.summary.broken,
            in_progress: report.summary.in_progress,
            expired: super::retention_judged(report).then(|| report.expired()),
        },
        unexpected_repositories: &report.unexpected_repositories,
        missing_repositories: &report.missing_repositories,
        unverified_repositories: &report.unverified_repositories,
        late_images: report
            .late_images
            .iter()
            .map(|l| JsonLateImage {
                image: &l.image,
                first_build: l.first_build.as_deref(),
            })
            .collect(),
        retired_images: report
            .retired_images
            .iter()
            .map(|r| JsonRetiredImage {
                image: &r.image,
                last_build: &r.last_build,
            })
            .collect(),
        // The most often failed first: the list the other formats show.
        image_stats: report
            .images_by_failures()
            .into_iter()
            .map(|s| JsonImageStats {
                image: &s.image,
                builds_expected: s.builds_expected,
                builds_missing: s.builds_missing,
                builds_short_of_platforms: s.builds_short_of_platforms,
            })
            .collect(),
        stats: JsonStats {
            requests: stats.requests.requests,
            retries: stats.requests.retries,
            rate_limited: stats.requests.rate_limited,
            unchanged_repositories: stats.unchanged_repositories,
            elapsed_ms: stats.elapsed_ms,
        },
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("report serializes");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    #[test]
    fn every_kind_of_finding() {
        let stats = RunStats {
            requests: crate::registry::Stats {
                requests: 7,
                retries: 1,
                rate_limited: 0,
            },
            unchanged_repositories: 0,
            elapsed_ms: 1234,
        };
        insta::assert_snapshot!(render(&fixture::report(), &stats), @r#"
        {
          "registry": "docker.io",
          "namespace": "linaro",
          "as_of": "2026-11-20T12:00:00Z",
          "builds": [
            {
              "tag": "rocky-5",
              "status": "in_progress",
              "expected": 3,
              "present": 2,
              "missing": [
                "nova"
              ],
              "missing_platforms": {},
              "unverified_platforms": {},
              "newest_push": "2026-11-20T11:00:00Z",
              "newest_push_source": "registry"
            },
            {
              "tag": "rocky-4",
              "status": "complete",
              "expected": 3,
              "present": 3,
              "missing": [],
              "missing_platforms": {},
              "unverified_platforms": {
                "nova": [
                  "linux/amd64",
                  "linux/arm64"
                ]
              },
              "newest_push": "2026-11-19T12:00:00Z",
              "newest_push_source": "registry"
            },
            {
              "tag": "rocky-3",
              "status": "broken",
              "expected": 3,
              "present": 3,
              "missing": [],
              "missing_platforms": {
                "base": [
                  "linux/arm64"
                ]
              },
              "unverified_platforms": {},
              "newest_push": "2026-11-18T12:00:00Z",
              "newest_push_source": "declared"
            },
            {
              "tag": "rocky-2",
              "status": "broken",
              "expected": 3,
              "present": 2,
              "missing": [
                "zun"
              ],
              "missing_platforms": {},
              "unverified_platforms": {},
              "newest_push": "2026-11-17T12:00:00Z",
              "newest_push_source": "registry"
            },
            {
              "tag": "rocky-1",
              "status": "broken",
              "expected": 3,
              "present": 2,
              "missing": [
                "zun"
              ],
              "missing_platforms": {},
              "unverified_platforms": {},
              "newest_push": "2026-11-16T12:00:00Z",
              "newest_push_source": "registry"
            }
          ],
          "summary": {
            "builds": 5,
            "complete": 1,
            "broken": 3,
            "in_progress": 1
          },
          "unexpected_repositories": [
            "extra"
          ],
          "missing_repositories": [
            "typo"
          ],
          "unverified_repositories": [],
          "late_images": [
            {
              "image": "zun",
              "first_build": "rocky-3"
            }
          ],
          "retired_images": [],
          "image_stats": [
            {
              "image": "zun",
              "builds_expected": 4,
              "builds_missing": 2,
              "builds_short_of_platforms": 0
            },
            {
              "image": "base",
              "builds_expected": 4,
              "builds_missing": 0,
              "builds_short_of_platforms": 1
            },
            {
              "image": "nova",
              "builds_expected": 4,
              "builds_missing": 0,
              "builds_short_of_platforms": 0
            }
          ],
          "stats": {
            "requests": 7,
            "retries": 1,
            "rate_limited": 0,
            "unchanged_repositories": 0,
            "elapsed_ms": 1234
          }
        }
        "#);
    }

    /// Under retention, each build says whether it is kept and why; the
    /// summary counts the expired builds.
    #[test]
    fn retention() {
        let doc: serde_json::Value =
            serde_json::from_str(&render(&fixture::retention_report(), &RunStats::default()))
                .unwrap();
        let builds: Vec<String> = doc["builds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                format!(
                    "{} {} {} {}",
                    b["tag"], b["status"], b["retained"], b["retention"]
                )
            })
            .collect();
        insta::assert_snapshot!(builds.join("\n"), @r#"
        "rocky-38" "in_progress" true "newer than the oldest of the 3 newest complete builds of stream rocky"
        "rocky-37" "complete" true "number 1 of the 3 newest complete builds of stream rocky"
        "rocky-36" "complete" true "number 2 of the 3 newest complete builds of stream rocky"
        "rocky-35" "broken" true "newer than the oldest of the 3 newest complete builds of stream rocky"
        "rocky-34" "complete" true "number 3 of the 3 newest complete builds of stream rocky"
        "rocky-33" "complete" true "older than the 3 newest complete builds of stream rocky, but pushed within max_age (30d)"
        "rocky-32" "broken" false "older than the 3 newest complete builds of stream rocky, last pushed over 30d ago"
        "rocky-31" "complete" false "older than the 3 newest complete builds of stream rocky, last pushed over 30d ago"
        "rocky-30" "complete" true "older than the 3 newest complete builds of stream rocky, but protected by builds.protect"
        "rocky-29" "complete" true "older than the 3 newest complete builds of stream rocky, but its age rests on the times its images declare (a reproducible build declares its commit's time), which do not prove it older than max_age (30d)"
        "stein-10" "broken" true "stream stein has 1 complete build, fewer than keep (3), so none of its builds expires"
        "stein-9" "complete" true "stream stein has 1 complete build, fewer than keep (3), so none of its builds expires"
        "#);
        assert_eq!(doc["summary"]["expired"], 2);
        // Without retention, none of these fields.
        let plain = render(&fixture::report(), &RunStats::default());
        assert!(
            !plain.contains("retain") && !plain.contains("expired"),
            "{plain}"
        );
    }
}
