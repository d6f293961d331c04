//! The prune plan and its result, as a table or one JSON document.

use comfy_table::{presets, Cell, ContentArrangement, Table};
use serde::Serialize;

use super::{Lists, MAX_LISTED, MAX_NAMES};
use crate::journal::DeletionResult;
use std::collections::BTreeMap;

use crate::policy::prune::{PlannedBuild, PlannedTag, PrunePlan, Reason};

/// What happened to one planned tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagResult {
    pub build: String,
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    /// The media type of `digest`, when known (the journal records it; not
    /// part of the JSON plan).
    #[serde(skip)]
    pub media_type: Option<String>,
    pub result: DeletionResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a failure: whether running the same command again may succeed
    /// (a network failure, a server error) or not before its cause is fixed
    /// (a permission the credentials lack, a registry that contradicts
    /// itself): see `RegistryError::rerun_helps`.
    #[serde(skip)]
    pub rerun_helps: bool,
}

/// Counts of the results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub deleted: usize,
    pub already_gone: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl Totals {
    pub fn of(results: &[TagResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            match r.result {
                DeletionResult::Deleted => t.deleted += 1,
                DeletionResult::AlreadyGone => t.already_gone += 1,
                DeletionResult::Skipped => t.skipped += 1,
                DeletionResult::Failed => t.failed += 1,
            }
        }
        t
    }
}

/// Why a build goes, for the plan's WHY column, in terms of what it lacks:
/// `missing debian-source-nova-api`, `linux/arm64 short in 3 images`,
/// `named (--build); missing zun`, `expired: older than the 5 newest
/// complete builds of stream rocky`.
pub fn why(build: &PlannedBuild, lists: Lists) -> String {
    let mut lacks = Vec::new();
    if !build.missing.is_empty() {
        lacks.push(format!("missing {}", lists.join(&build.missing, MAX_NAMES)));
    }
    // Per platform, the images short of it: one image is named, more counted.
    let mut short: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (image, platforms) in &build.missing_platforms {
        for p in platforms {
            short.entry(p.to_string()).or_default().push(image);
        }
    }
    for (platform, images) in short {
        lacks.push(match images.as_slice() {
            [one] => format!("{platform} short in {one}"),
            many => format!("{platform} short in {} images", many.len()),
        });
    }
    match build.reason {
        Reason::Expired => match &build.retention {
            Some(retention) => format!("expired: {retention}"),
            None => "expired".to_string(),
        },
        Reason::Named if lacks.is_empty() => "named (--build)".to_string(),
        Reason::Named => format!("named (--build); {}", lacks.join("; ")),
        Reason::Broken if lacks.is_empty() => "broken".to_string(),
        Reason::Broken => lacks.join("; "),
    }
}

/// The plan as a table, with what is skipped and left alone; `lists` says
/// how long lists of names are shown.
pub fn table(plan: &PrunePlan, dry_run: bool, lists: Lists) -> String {
    let mut out = format!(
        "Prune plan for {} on {}: {} build{}, {} tag{} in {} repositor{}{}\n",
        plan.namespace,
        plan.registry,
        plan.builds.len(),
        if plan.builds.len() == 1 { "" } else { "s" },
        plan.tag_count(),
        if plan.tag_count() == 1 { "" } else { "s" },
        plan.repository_count(),
        if plan.repository_count() == 1 {
            "y"
        } else {
            "ies"
        },
        if dry_run {
            " (dry run: nothing will be deleted)"
        } else {
            ""
        }
    );
    if !plan.builds.is_empty() {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Disabled);
        t.set_header(vec!["BUILD", "STATUS", "WHY", "TAGS", "REPOSITORIES"]);
        for b in &plan.builds {
            let repos: Vec<String> = b.tags.iter().map(|t| t.repository.clone()).collect();
            t.add_row(vec![
                Cell::new(&b.tag),
                Cell::new(b.status.as_str()),
                Cell::new(why(b, lists)),
                Cell::new(b.tags.len()),
                Cell::new(lists.join(&repos, 3)),
            ]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    for s in &plan.skipped {
        out.push_str(&format!("Skipped {}: {}\n", s.tag, s.reason));
    }
    if !plan.untouched.is_empty() {
        let names: Vec<String> = plan
            .untouched
            .iter()
            .map(|t| format!("{}:{}", t.repository, t.tag))
            .collect();
        out.push_str(&format!(
            "Left alone (not in the manifest): {}\n",
            lists.join_hinted(&names, MAX_LISTED)
        ));
    }
    out
}

/// The summary after deleting.
pub fn summary(results: &[TagResult]) -> String {
    let t = Totals::of(results);
    let mut out = format!(
        "Deleted {} tag{}, {} already gone, {} skipped, {} failed.\n",
        t.deleted,
        if t.deleted == 1 { "" } else { "s" },
        t.already_gone,
        t.skipped,
        t.failed
    );
    for r in results
        .iter()
        .filter(|r| r.result == DeletionResult::Failed)
    {
        out.push_str(&format!(
            "  failed {}:{}: {}\n",
            r.repository,
            r.tag,
            r.detail.as_deref().unwrap_or("")
        ));
    }
    let failed = || {
        results
            .iter()
            .filter(|r| r.result == DeletionResult::Failed)
    };
    let retry = failed().filter(|r| r.rerun_helps).count();
    let fix = failed().count() - retry;
    let plural = |n: usize, one: &str, many: &str| if n == 1 { one } else { many }.to_string();
    match (retry, fix) {
        (0, 0) => {}
        (_, 0) => out.push_str(
            "Run the same command again to finish: tags already deleted count as done.\n",
        ),
        (0, n) => out.push_str(&format!(
            "Running the same command again will not help until the cause of {} is fixed (see {}); then it finishes the job: tags already deleted count as done.\n",
            plural(n, "this failure", "these failures"),
            plural(n, "its hint", "their hints"),
        )),
        (_, n) => out.push_str(&format!(
            "{n} of these failures will not pass until {} cause is fixed (see {}); then run the same command again to finish: tags already deleted count as done.\n",
            plural(n, "its", "their"),
            plural(n, "its hint", "their hints"),
        )),
    }
    out
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    registry: &'a str,
    namespace: &'a str,
    dry_run: bool,
    builds: Vec<JsonBuild<'a>>,
    skipped: Vec<JsonSkipped<'a>>,
    untouched: Vec<JsonTag<'a>>,
    result: Option<JsonResult<'a>>,
}

#[derive(Serialize)]
struct JsonBuild<'a> {
    tag: &'a str,
    status: &'static str,
    reason: &'static str,
    /// For an expired build: why retention retires it.
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<&'a str>,
    /// The expected images without the build's tag.
    missing: &'a [String],
    /// Per image whose tag lacks required platforms, which (`os/arch[/variant]`).
    missing_platforms: BTreeMap<&'a str, Vec<String>>,
    tags: Vec<JsonTag<'a>>,
}

#[derive(Serialize)]
struct JsonTag<'a> {
    repository: &'a str,
    tag: &'a str,
    digest: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonSkipped<'a> {
    tag: &'a str,
    reason: String,
}

#[derive(Serialize)]
struct JsonResult<'a> {
    totals: Totals,
    tags: &'a [TagResult],
}

fn json_tag(t: &PlannedTag) -> JsonTag<'_> {
    JsonTag {
        repository: &t.repository,
        tag: &t.tag,
        digest: t.digest.as_deref(),
    }
}

/// The plan, and (after deleting) every tag's result, as one JSON document.
pub fn json(plan: &PrunePlan, dry_run: bool, results: Option<&[TagResult]>) -> String {
    let doc = JsonPlan {
        registry: &plan.registry,
        namespace: &plan.namespace,
        dry_run,
        builds: plan
            .builds
            .iter()
            .map(|b| JsonBuild {
                tag: &b.tag,
                status: b.status.as_str(),
                reason: b.reason.as_str(),
                retention: b.retention.as_deref(),
                missing: &b.missing,
                missing_platforms: b
                    .missing_platforms
                    .iter()
                    .map(|(image, ps)| {
                        (image.as_str(), ps.iter().map(ToString::to_string).collect())
                    })
                    .collect(),
                tags: b.tags.iter().map(json_tag).collect(),
            })
            .collect(),
        skipped: plan
            .skipped
            .iter()
            .map(|s| JsonSkipped {
                tag: &s.tag,
                reason: s.reason.to_string(),
            })
            .collect(),
        untouched: plan.untouched.iter().map(json_tag).collect(),
        result: results.map(|tags| JsonResult {
            totals: Totals::of(tags),
            tags,
        }),
    };
    let mut out = serde_json::to_string_pretty(&doc).expect("plan serializes");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::prune::{plan, PruneRequest};
    use crate::render::fixture;

    fn the_plan() -> PrunePlan {
        let request = PruneRequest {
            broken: true,
            expired: false,
            builds: vec!["rocky-4".into()],
            max_builds: 5,
            trust_declared_times: false,
        };
        let (m, inv) = (fixture::manifest(), fixture::inventory());
        let mut report = fixture::report();
        // The missing repository would refuse --broken; judge without it.
        report.missing_repositories.clear();
        plan(&m, &inv, &report, &request, Some(&Default::default())).unwrap()
    }

    fn results(plan: &PrunePlan) -> Vec<TagResult> {
        plan.builds
            .iter()
            .flat_map(|b| b.tags.iter().map(move |t| (b, t)))
            .enumerate()
            .map(|(i, (b, t))| TagResult {
                build: b.tag.clone(),
                repository: t.repository.clone(),
                tag: t.tag.clone(),
                digest: t.digest.clone(),
                media_type: None,
                result: if i == 0 {
                    DeletionResult::Failed
                } else {
                    DeletionResult::Deleted
                },
                detail: (i == 0).then(|| "DELETE …: 503 Service Unavailable".to_string()),
                rerun_helps: i == 0,
            })
            .collect()
    }

    /// The WHY column says what a build lacks, not its status again; long
    /// lists are shortened unless -v asks for all.
    #[test]
    fn the_reason_names_what_is_missing() {
        let platform = |p: &str| p.parse::<crate::platform::Platform>().unwrap();
        let images: Vec<String> = (1..=7).map(|i| format!("img-{i}")).collect();
        let broken = PlannedBuild {
            tag: "rocky-3".into(),
            status: crate::policy::Status::Broken,
            reason: Reason::Broken,
            contents: String::new(),
            platforms_only: false,
            retention: None,
            kept_by: vec![],
            missing: vec!["debian-source-nova-api".into()],
            missing_platforms: BTreeMap::new(),
            tags: vec![],
        };
        assert_eq!(why(&broken, Lists::Short), "missing debian-source-nova-api");
        let short = PlannedBuild {
            missing: vec![],
            missing_platforms: [
                ("base".to_string(), vec![platform("linux/arm64")]),
                (
                    "nova".to_string(),
                    vec![platform("linux/arm64"), platform("linux/amd64")],
                ),
                ("zun".to_string(), vec![platform("linux/arm64")]),
            ]
            .into(),
            ..broken.clone()
        };
        assert_eq!(
            why(&short, Lists::Short),
            "linux/amd64 short in nova; linux/arm64 short in 3 images"
        );
        let many = PlannedBuild {
            missing: images.clone(),
            ..broken.clone()
        };
        assert_eq!(
            why(&many, Lists::Short),
            "missing img-1, img-2, img-3, img-4, +3 more"
        );
        assert_eq!(
            why(&many, Lists::Full),
            format!("missing {}", images.join(", "))
        );
        let named = PlannedBuild {
            reason: Reason::Named,
            ..broken.clone()
        };
        assert_eq!(
            why(&named, Lists::Short),
            "named (--build); missing debian-source-nova-api"
        );
    }

    #[test]
    fn the_plan_as_a_table() {
        insta::assert_snapshot!(table(&the_plan(), true, Lists::Short), @"
        Prune plan for linaro on docker.io: 1 build, 3 tags in 3 repositories (dry run: nothing will be deleted)
        ┌─────────┬──────────┬─────────────────┬──────┬─────────────────┐
        │ BUILD   ┆ STATUS   ┆ WHY             ┆ TAGS ┆ REPOSITORIES    │
        ╞═════════╪══════════╪═════════════════╪══════╪═════════════════╡
        │ rocky-4 ┆ complete ┆ named (--build) ┆ 3    ┆ base, nova, zun │
        └─────────┴──────────┴─────────────────┴──────┴─────────────────┘
        Skipped rocky-5: in progress: pushed within the grace period
        Skipped rocky-3: its age rests only on the times its images declare (a reproducible build declares its commit's time, not its push): it is deleted once tagsweep has seen it unchanged for builds.grace (2h), by a run at or after 2026-11-20 14:00 UTC that keeps the observations; or pass --trust-declared-times if your images' created time is their build time
        Skipped rocky-2: only images that joined the set in a later build are missing: zun (first in rocky-3). This looks like a manifest change, not a broken build: add `from: rocky-3` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build
        Skipped rocky-1: only images that joined the set in a later build are missing: zun (first in rocky-3). This looks like a manifest change, not a broken build: add `from: rocky-3` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build
        Left alone (not in the manifest): extra:rocky-4
        ");
    }

    #[test]
    fn the_summary_after_deleting() {
        let plan = the_plan();
        insta::assert_snapshot!(summary(&results(&plan)), @"
        Deleted 2 tags, 0 already gone, 0 skipped, 1 failed.
          failed base:rocky-4: DELETE …: 503 Service Unavailable
        Run the same command again to finish: tags already deleted count as done.
        ");
    }

    #[test]
    fn the_summary_says_to_run_again_only_where_that_helps() {
        let plan = the_plan();
        let mut refused = results(&plan);
        refused[0].detail = Some("DELETE …: 403 Forbidden\n  hint: ci may not delete …".into());
        refused[0].rerun_helps = false;
        insta::assert_snapshot!(summary(&refused), @"
        Deleted 2 tags, 0 already gone, 0 skipped, 1 failed.
          failed base:rocky-4: DELETE …: 403 Forbidden
          hint: ci may not delete …
        Running the same command again will not help until the cause of this failure is fixed (see its hint); then it finishes the job: tags already deleted count as done.
        ");
        let mut mixed = results(&plan);
        mixed[1].result = DeletionResult::Failed;
        mixed[1].detail = Some("DELETE …: 403 Forbidden".into());
        mixed[2].result = DeletionResult::Failed;
        mixed[2].detail = Some("DELETE …: 405 Method Not Allowed".into());
        insta::assert_snapshot!(summary(&mixed), @"
        Deleted 0 tags, 0 already gone, 0 skipped, 3 failed.
          failed base:rocky-4: DELETE …: 503 Service Unavailable
          failed nova:rocky-4: DELETE …: 403 Forbidden
          failed zun:rocky-4: DELETE …: 405 Method Not Allowed
        2 of these failures will not pass until their cause is fixed (see their hints); then run the same command again to finish: tags already deleted count as done.
        ");
    }

    #[test]
    fn the_plan_and_its_results_as_json() {
        let plan = the_plan();
        insta::assert_snapshot!(json(&plan, false, Some(&results(&plan))), @r#"
        {
          "registry": "docker.io",
          "namespace": "linaro",
          "dry_run": false,
          "builds": [
            {
              "tag": "rocky-4",
              "status": "complete",
              "reason": "named",
              "missing": [],
              "missing_platforms": {},
              "tags": [
                {
                  "repository": "base",
                  "tag": "rocky-4",
                  "digest": "sha256:rocky-4"
                },
                {
                  "repository": "nova",
                  "tag": "rocky-4",
                  "digest": "sha256:rocky-4"
                },
                {
                  "repository": "zun",
                  "tag": "rocky-4",
                  "digest": "sha256:rocky-4"
                }
              ]
            }
          ],
          "skipped": [
            {
              "tag": "rocky-5",
              "reason": "in progress: pushed within the grace period"
            },
            {
              "tag": "rocky-3",
              "reason": "its age rests only on the times its images declare (a reproducible build declares its commit's time, not its push): it is deleted once tagsweep has seen it unchanged for builds.grace (2h), by a run at or after 2026-11-20 14:00 UTC that keeps the observations; or pass --trust-declared-times if your images' created time is their build time"
            },
            {
              "tag": "rocky-2",
              "reason": "only images that joined the set in a later build are missing: zun (first in rocky-3). This looks like a manifest change, not a broken build: add `from: rocky-3` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build"
            },
            {
              "tag": "rocky-1",
              "reason": "only images that joined the set in a later build are missing: zun (first in rocky-3). This looks like a manifest change, not a broken build: add `from: rocky-3` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build"
            }
          ],
          "untouched": [
            {
              "repository": "extra",
              "tag": "rocky-4",
              "digest": "sha256:rocky-4"
            }
          ],
          "result": {
            "totals": {
              "deleted": 2,
              "already_gone": 0,
              "skipped": 0,
              "failed": 1
            },
            "tags": [
              {
                "build": "rocky-4",
                "repository": "base",
                "tag": "rocky-4",
                "digest": "sha256:rocky-4",
                "result": "failed",
                "detail": "DELETE …: 503 Service Unavailable"
              },
              {
                "build": "rocky-4",
                "repository": "nova",
                "tag": "rocky-4",
                "digest": "sha256:rocky-4",
                "result": "deleted"
              },
              {
                "build": "rocky-4",
                "repository": "zun",
                "tag": "rocky-4",
                "digest": "sha256:rocky-4",
                "result": "deleted"
              }
            ]
          }
        }
        "#);
    }

    /// The Linaro-like set with two streams and keep: 3 (see
    /// `fixture::retention_report`), with what `--expired` (and `--broken`)
    /// would delete.
    fn retention_plan(broken: bool) -> PrunePlan {
        let request = PruneRequest {
            broken,
            expired: true,
            max_builds: 10,
            ..PruneRequest::default()
        };
        let (m, inv) = (
            fixture::retention_manifest(),
            fixture::retention_inventory(),
        );
        plan(&m, &inv, &fixture::retention_report(), &request, None).unwrap()
    }

    #[test]
    fn an_expired_plan_says_why_each_build_goes() {
        insta::assert_snapshot!(table(&retention_plan(false), true, Lists::Short), @"
        Prune plan for linaro on docker.io: 2 builds, 5 tags in 3 repositories (dry run: nothing will be deleted)
        ┌──────────┬──────────┬────────────────────────────────────────────────────────────────────────────────────────────┬──────┬────────────────────┐
        │ BUILD    ┆ STATUS   ┆ WHY                                                                                        ┆ TAGS ┆ REPOSITORIES       │
        ╞══════════╪══════════╪════════════════════════════════════════════════════════════════════════════════════════════╪══════╪════════════════════╡
        │ rocky-32 ┆ broken   ┆ expired: older than the 3 newest complete builds of stream rocky, last pushed over 30d ago ┆ 2    ┆ base, nova         │
        │ rocky-31 ┆ complete ┆ expired: older than the 3 newest complete builds of stream rocky, last pushed over 30d ago ┆ 3    ┆ base, glance, nova │
        └──────────┴──────────┴────────────────────────────────────────────────────────────────────────────────────────────┴──────┴────────────────────┘
        ");
        insta::assert_snapshot!(table(&retention_plan(true), true, Lists::Short), @"
        Prune plan for linaro on docker.io: 4 builds, 9 tags in 3 repositories (dry run: nothing will be deleted)
        ┌──────────┬──────────┬────────────────────────────────────────────────────────────────────────────────────────────┬──────┬────────────────────┐
        │ BUILD    ┆ STATUS   ┆ WHY                                                                                        ┆ TAGS ┆ REPOSITORIES       │
        ╞══════════╪══════════╪════════════════════════════════════════════════════════════════════════════════════════════╪══════╪════════════════════╡
        │ rocky-35 ┆ broken   ┆ missing glance                                                                             ┆ 2    ┆ base, nova         │
        │ rocky-32 ┆ broken   ┆ missing glance                                                                             ┆ 2    ┆ base, nova         │
        │ rocky-31 ┆ complete ┆ expired: older than the 3 newest complete builds of stream rocky, last pushed over 30d ago ┆ 3    ┆ base, glance, nova │
        │ stein-10 ┆ broken   ┆ missing nova                                                                               ┆ 2    ┆ base, glance       │
        └──────────┴──────────┴────────────────────────────────────────────────────────────────────────────────────────────┴──────┴────────────────────┘
        Skipped rocky-38: in progress: pushed within the grace period
        ");
        let doc: serde_json::Value =
            serde_json::from_str(&json(&retention_plan(false), true, None)).unwrap();
        assert_eq!(doc["builds"][0]["reason"], "expired");
        assert_eq!(
            doc["builds"][0]["retention"],
            "older than the 3 newest complete builds of stream rocky, last pushed over 30d ago"
        );
    }
}
