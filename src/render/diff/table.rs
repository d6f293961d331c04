//! The default output of `diff`: a few lines and one table, for terminals
//! and CI logs.

use comfy_table::{presets, Cell, ContentArrangement, Table};

use super::{
    all_prune_lines, groups, headline, manifest_lines, notes, plain, status_word, tag_list, why,
    Detail, Group,
};
use crate::policy::diff::Diff;
use crate::policy::Status;
use crate::render::{short_time, summary_line};

/// `complete → BROKEN`: a build turning broken is what a reviewer looks for.
fn transition(old: Option<Status>, new: Option<Status>) -> String {
    let word = |s: Option<Status>| match s {
        Some(Status::Broken) => "BROKEN",
        other => status_word(other),
    };
    format!("{} → {}", word(old), word(new))
}

/// The diff as text. `verbose`: one row per build and every name, instead of
/// builds grouped by what changes. `width` wraps the table to a terminal;
/// `None` never wraps.
pub fn render(diff: &Diff, verbose: bool, width: Option<u16>) -> String {
    let mut out = format!(
        "{} on {}: {} → {} (as of {})\n{}\n",
        diff.namespace,
        diff.registry,
        diff.old,
        diff.new,
        short_time(Some(diff.as_of)),
        headline(diff)
    );
    let manifest = manifest_lines(diff, verbose, &plain);
    if !manifest.is_empty() {
        out.push_str("\nManifest:\n");
        for line in manifest {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out.push_str(&format!(
        "\nBuilds under OLD: {}\nBuilds under NEW: {}\n",
        summary_line(&diff.old_summary),
        summary_line(&diff.new_summary)
    ));
    if !diff.builds.is_empty() {
        let mut table = Table::new();
        table.load_preset(presets::UTF8_FULL_CONDENSED);
        match width {
            Some(w) => {
                table.set_content_arrangement(ContentArrangement::Dynamic);
                table.set_width(w);
            }
            None => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        table.set_header(vec!["BUILDS", "STATUS", "WHY"]);
        let rows: Vec<Group> = if verbose {
            diff.builds
                .iter()
                .map(|b| Group {
                    tags: vec![&b.tag],
                    old: b.old_status(),
                    new: b.new_status(),
                    why: why(b, diff, &plain),
                })
                .collect()
        } else {
            groups(&diff.builds, diff, &plain)
        };
        for row in rows {
            let builds = match row.tags.len() {
                1 => row.tags[0].to_string(),
                n => format!("{n} builds: {}", tag_list(&row.tags, &plain)),
            };
            table.add_row(vec![
                Cell::new(builds),
                Cell::new(transition(row.old, row.new)),
                Cell::new(row.why),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
    }
    out.push('\n');
    let detail = Detail::for_verbosity(verbose);
    for line in all_prune_lines(diff, detail, &plain) {
        out.push_str(&line);
        out.push('\n');
    }
    for (_, note) in notes(diff, detail.names) {
        out.push('\n');
        out.push_str(&note);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::diff::fixture;

    #[test]
    fn grouped() {
        insta::assert_snapshot!(render(&fixture::diff(), false, None), @r"
        linaro on docker.io: old.yaml → manifests/kolla.yaml (as of 2026-11-20 12:00 UTC)
        4 builds change status; prune deletes 3 more builds.

        Manifest:
          images added (1): zun
          images removed (1): typo
          old-svc: every build → until: rocky-3
          builds.pattern: ^rocky-\d+$ → ^rocky-\d+(-debug)?$
          platforms: linux/amd64, linux/arm64 → linux/amd64

        Builds under OLD: 5 builds: 2 complete, 2 broken, 1 in progress
        Builds under NEW: 6 builds: 2 complete, 3 broken, 1 in progress
        ┌────────────────────────────┬────────────────────────┬────────────────────────────┐
        │ BUILDS                     ┆ STATUS                 ┆ WHY                        │
        ╞════════════════════════════╪════════════════════════╪════════════════════════════╡
        │ rocky-5-debug              ┆ not a build → complete ┆ matches builds.pattern now │
        │ rocky-4                    ┆ BROKEN → complete      ┆ no longer expects old-svc  │
        │ 2 builds: rocky-2, rocky-1 ┆ complete → BROKEN      ┆ missing zun                │
        └────────────────────────────┴────────────────────────┴────────────────────────────┘

        prune --broken and --expired refuse under OLD, not under NEW: expected repository missing: typo
        prune --broken: no change (deletes nothing under either)
        prune --broken under NEW skips 3 builds (rocky-3, rocky-2, rocky-1): only images that joined or left the set are missing: a manifest change, see the fix
        prune --expired under NEW also deletes 3 builds (9 tags): rocky-3, rocky-2, rocky-1
        prune --expired under NEW: rocky-3, rocky-2, rocky-1 expired, older than the 2 newest complete builds

        zun is in no build before rocky-4: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-4` to it in the manifest.
        ");
    }

    #[test]
    fn verbose() {
        insta::assert_snapshot!(render(&fixture::diff(), true, None), @r"
        linaro on docker.io: old.yaml → manifests/kolla.yaml (as of 2026-11-20 12:00 UTC)
        4 builds change status; prune deletes 3 more builds.

        Manifest:
          images added (1): zun
          images removed (1): typo
          old-svc: every build → until: rocky-3
          builds.pattern: ^rocky-\d+$ → ^rocky-\d+(-debug)?$
          platforms: linux/amd64, linux/arm64 → linux/amd64

        Builds under OLD: 5 builds: 2 complete, 2 broken, 1 in progress
        Builds under NEW: 6 builds: 2 complete, 3 broken, 1 in progress
        ┌───────────────┬────────────────────────┬────────────────────────────┐
        │ BUILDS        ┆ STATUS                 ┆ WHY                        │
        ╞═══════════════╪════════════════════════╪════════════════════════════╡
        │ rocky-5-debug ┆ not a build → complete ┆ matches builds.pattern now │
        │ rocky-4       ┆ BROKEN → complete      ┆ no longer expects old-svc  │
        │ rocky-2       ┆ complete → BROKEN      ┆ missing zun                │
        │ rocky-1       ┆ complete → BROKEN      ┆ missing zun                │
        └───────────────┴────────────────────────┴────────────────────────────┘

        prune --broken and --expired refuse under OLD, not under NEW: expected repository missing: typo
        prune --broken: no change (deletes nothing under either)
        prune --broken under NEW skips 3 builds (rocky-3, rocky-2, rocky-1): only images that joined the set in a later build are missing: zun (first in rocky-4). This looks like a manifest change, not a broken build: add `from: rocky-4` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build
        prune --expired under NEW also deletes 3 builds (9 tags): rocky-3, rocky-2, rocky-1
        prune --expired under NEW: rocky-3, rocky-2, rocky-1 expired, older than the 2 newest complete builds

        zun is in no build before rocky-4: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-4` to it in the manifest.
        ");
    }
}
