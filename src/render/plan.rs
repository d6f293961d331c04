//! The prune plan and its result, as a table or one JSON document.

use comfy_table::{presets, Cell, ContentArrangement, Table};
use serde::Serialize;

use super::shorten;
use crate::journal::DeletionResult;
use crate::policy::prune::{PlannedTag, PrunePlan};

/// What happened to one planned tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagResult {
    pub build: String,
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    pub result: DeletionResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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

/// The plan as a table, with what is skipped and left alone.
pub fn table(plan: &PrunePlan, dry_run: bool) -> String {
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
                Cell::new(b.reason.as_str()),
                Cell::new(b.tags.len()),
                Cell::new(shorten(&repos, 3)),
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
            shorten(&names, 5)
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
    if t.failed > 0 {
        out.push_str("Run the same command again to finish: tags already deleted count as done.\n");
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
