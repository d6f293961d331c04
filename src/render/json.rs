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
}

#[derive(Serialize)]
struct JsonRetiredImage<'a> {
    image: &'a str,
    last_build: &'a str,
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
}

#[derive(Serialize)]
struct JsonStats {
    requests: u64,
    retries: u64,
    rate_limited: u64,
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
            })
            .collect(),
        summary: JsonSummary {
            builds: report.summary.builds,
            complete: report.summary.complete,
            broken: report.summary.broken,
            in_progress: report.summary.in_progress,
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
        stats: JsonStats {
            requests: stats.requests.requests,
            retries: stats.requests.retries,
            rate_limited: stats.requests.rate_limited,
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
          "stats": {
            "requests": 7,
            "retries": 1,
            "rate_limited": 0,
            "elapsed_ms": 1234
          }
        }
        "#);
    }
}
