//! The default output: one row per build, newest first, for terminals and CI logs.

use comfy_table::{presets, Cell, ContentArrangement, Table};

use super::{
    explanations, missing_summary, push_time, retention_cell, retention_judged, short_time,
    summary_line, unverified_summary, Lists, MAX_LISTED,
};
use crate::policy::{Report, Status};

fn status_cell(status: Status) -> &'static str {
    match status {
        Status::Complete => "complete",
        Status::InProgress => "in progress",
        Status::Broken => "BROKEN",
    }
}

/// The audit as a table plus the notes a user must read. `width` wraps the
/// table to a terminal; `None` never wraps (logs, files). `lists` says how
/// long lists of names are shown.
pub fn render(report: &Report, width: Option<u16>, lists: Lists) -> String {
    let mut out = format!(
        "{} on {}: {} (as of {})\n",
        report.namespace,
        report.registry,
        summary_line(&report.summary),
        short_time(Some(report.as_of))
    );
    if !report.builds.is_empty() {
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
        let retention = retention_judged(report);
        let mut header = vec!["", "BUILD", "STATUS", "IMAGES", "NEWEST PUSH"];
        if retention {
            header.push("RETENTION");
        }
        header.push("MISSING");
        table.set_header(header);
        for b in &report.builds {
            let mark = if b.status == Status::Broken {
                "✗"
            } else if !b.unverified_platforms.is_empty() {
                "?"
            } else {
                ""
            };
            let mut gaps = missing_summary(b, lists);
            gaps.extend(unverified_summary(b));
            let mut row = vec![
                Cell::new(mark),
                Cell::new(&b.tag),
                Cell::new(status_cell(b.status)),
                Cell::new(format!("{}/{}", b.present, b.expected)),
                Cell::new(push_time(b)),
            ];
            if retention {
                row.push(Cell::new(retention_cell(b)));
            }
            row.push(Cell::new(gaps.join("\n")));
            table.add_row(row);
        }
        out.push_str(&table.to_string());
        out.push('\n');
        let shortened = report.builds.iter().any(|b| {
            b.missing.len() > super::MAX_NAMES || b.missing_platforms.len() > super::MAX_NAMES
        });
        if lists == Lists::Short && shortened {
            out.push_str("(MISSING is shortened where it says \"+N more\": -v lists every name)\n");
        }
    }
    let most_often = report.most_often_missing(super::MOST_OFTEN);
    if !most_often.is_empty() {
        out.push_str(&format!("\n{}:\n", super::MOST_OFTEN_TITLE));
        for stats in most_often {
            out.push_str(&format!(
                "  {}: {}\n",
                stats.image,
                super::failure_counts(report, stats)
            ));
        }
    }
    if !report.unexpected_repositories.is_empty() {
        out.push_str(&format!(
            "\nNot in the manifest, but carrying build tags ({}): {}\n",
            report.unexpected_repositories.len(),
            lists.join_hinted(&report.unexpected_repositories, MAX_LISTED)
        ));
    }
    if !report.missing_repositories.is_empty() {
        out.push_str(&format!(
            "\nERROR: {} image{} of the manifest {} no repository in {}: {}\n  \
             A typo in the manifest, or a private repository seen without credentials \
             ({}). These images are left out of the counts above.\n",
            report.missing_repositories.len(),
            if report.missing_repositories.len() == 1 {
                ""
            } else {
                "s"
            },
            if report.missing_repositories.len() == 1 {
                "has"
            } else {
                "have"
            },
            report.namespace,
            lists.join_hinted(&report.missing_repositories, MAX_LISTED),
            if report.registry == "docker.io" {
                "set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"
            } else {
                "set TAGSWEEP_REGISTRY_USERNAME and TAGSWEEP_REGISTRY_PASSWORD"
            }
        ));
    }
    for note in explanations(report) {
        out.push('\n');
        out.push_str(&note);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    #[test]
    fn every_kind_of_finding() {
        insta::assert_snapshot!(render(&fixture::report(), None, Lists::Short), @"
        linaro on docker.io: 5 builds: 1 complete, 3 broken, 1 in progress (as of 2026-11-20 12:00 UTC)
        ┌───┬─────────┬─────────────┬────────┬─────────────────────────────────┬───────────────────────────────────┐
        │   ┆ BUILD   ┆ STATUS      ┆ IMAGES ┆ NEWEST PUSH                     ┆ MISSING                           │
        ╞═══╪═════════╪═════════════╪════════╪═════════════════════════════════╪═══════════════════════════════════╡
        │   ┆ rocky-5 ┆ in progress ┆ 2/3    ┆ 2026-11-20 11:00 UTC            ┆ nova                              │
        │ ? ┆ rocky-4 ┆ complete    ┆ 3/3    ┆ 2026-11-19 12:00 UTC            ┆ ? platforms unverified in 1 image │
        │ ✗ ┆ rocky-3 ┆ BROKEN      ┆ 3/3    ┆ 2026-11-18 12:00 UTC (declared) ┆ platforms: base (linux/arm64)     │
        │ ✗ ┆ rocky-2 ┆ BROKEN      ┆ 2/3    ┆ 2026-11-17 12:00 UTC            ┆ zun                               │
        │ ✗ ┆ rocky-1 ┆ BROKEN      ┆ 2/3    ┆ 2026-11-16 12:00 UTC            ┆ zun                               │
        └───┴─────────┴─────────────┴────────┴─────────────────────────────────┴───────────────────────────────────┘

        Missing most often (in the finished builds that expect each image):
          zun: missing in 2 of 4 builds (joined the set at rocky-3?)
          base: short of a platform in 1 of 4 builds

        Not in the manifest, but carrying build tags (1): extra

        ERROR: 1 image of the manifest has no repository in linaro: typo
          A typo in the manifest, or a private repository seen without credentials (set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN). These images are left out of the counts above.

        ? Platforms unverified in 1 build: Docker Hub no longer states a tag's platforms (its API has answered `images: []` since August 2025, docker/hub-feedback #2484), so the required platforms could not be checked there; they are not counted as missing. Run with --verify-platforms to read each tag's index from the registry API (one manifest GET per image per build, cached by digest); a tag it cannot read stays unverified.

        (declared): the registry reports no push time; the time shown is the one the images declare (their `created`), which a reproducible build sets to its commit's time, days before the push. prune --broken deletes such a build only after tagsweep has seen it unchanged for builds.grace (or with --trust-declared-times).

        zun is in no build before rocky-3: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-3` to it in the manifest.
        ");
    }

    /// Hundreds of names below the table are counted, not listed, unless
    /// -v asks for every one.
    #[test]
    fn long_lists_are_shortened_unless_verbose() {
        let mut report = fixture::report();
        report.unexpected_repositories = (1..=240).map(|i| format!("extra-{i:03}")).collect();
        report.missing_repositories = (1..=12).map(|i| format!("typo-{i:02}")).collect();
        let short = render(&report, None, Lists::Short);
        let footer: Vec<&str> = short
            .lines()
            .filter(|l| l.contains("extra-") || l.contains("typo-"))
            .collect();
        insta::assert_snapshot!(footer.join("\n"), @"
        Not in the manifest, but carrying build tags (240): extra-001, extra-002, extra-003, extra-004, extra-005, extra-006, extra-007, extra-008, extra-009, extra-010, +230 more (-v lists all)
        ERROR: 12 images of the manifest have no repository in linaro: typo-01, typo-02, typo-03, typo-04, typo-05, typo-06, typo-07, typo-08, typo-09, typo-10, +2 more (-v lists all)
        ");
        assert!(
            !short.contains("-v lists every name"),
            "no cell was shortened"
        );
        report.builds[0].missing = (1..=7).map(|i| format!("img-{i}")).collect();
        let short = render(&report, None, Lists::Short);
        assert!(
            short.contains("img-1, img-2, img-3, img-4, +3 more"),
            "{short}"
        );
        assert!(
            short.contains("(MISSING is shortened where it says \"+N more\": -v lists every name)")
        );
        let full = render(&report, None, Lists::Full);
        assert!(full.contains("img-7") && !full.contains("-v lists every name"));
        assert!(full.contains("extra-240") && full.contains("typo-12"));
        assert!(!full.contains("more"));
    }

    /// Two streams under retention: a column, and the lines that explain it.
    #[test]
    fn retention() {
        insta::assert_snapshot!(render(&fixture::retention_report(), None, Lists::Short), @"
        linaro on docker.io: 12 builds: 8 complete, 3 broken, 1 in progress (as of 2026-11-20 12:00 UTC)
        ┌───┬──────────┬─────────────┬────────┬─────────────────────────────────┬────────────────────┬──────────────┐
        │   ┆ BUILD    ┆ STATUS      ┆ IMAGES ┆ NEWEST PUSH                     ┆ RETENTION          ┆ MISSING      │
        ╞═══╪══════════╪═════════════╪════════╪═════════════════════════════════╪════════════════════╪══════════════╡
        │   ┆ rocky-38 ┆ in progress ┆ 1/3    ┆ 2026-11-20 11:00 UTC            ┆ kept               ┆ glance, nova │
        │   ┆ rocky-37 ┆ complete    ┆ 3/3    ┆ 2026-11-18 12:00 UTC            ┆ kept               ┆              │
        │   ┆ rocky-36 ┆ complete    ┆ 3/3    ┆ 2026-11-10 12:00 UTC            ┆ kept               ┆              │
        │ ✗ ┆ rocky-35 ┆ BROKEN      ┆ 2/3    ┆ 2026-11-05 12:00 UTC            ┆ kept               ┆ glance       │
        │   ┆ rocky-34 ┆ complete    ┆ 3/3    ┆ 2026-10-31 12:00 UTC            ┆ kept               ┆              │
        │   ┆ rocky-33 ┆ complete    ┆ 3/3    ┆ 2026-10-26 12:00 UTC            ┆ kept: recent       ┆              │
        │ ✗ ┆ rocky-32 ┆ BROKEN      ┆ 2/3    ┆ 2026-08-12 12:00 UTC            ┆ expired            ┆ glance       │
        │   ┆ rocky-31 ┆ complete    ┆ 3/3    ┆ 2026-08-02 12:00 UTC            ┆ expired            ┆              │
        │   ┆ rocky-30 ┆ complete    ┆ 3/3    ┆ 2026-07-23 12:00 UTC            ┆ kept: protected    ┆              │
        │   ┆ rocky-29 ┆ complete    ┆ 3/3    ┆ 2026-07-13 12:00 UTC (declared) ┆ kept: age unproven ┆              │
        │ ✗ ┆ stein-10 ┆ BROKEN      ┆ 2/3    ┆ 2026-05-14 12:00 UTC            ┆ kept               ┆ nova         │
        │   ┆ stein-9  ┆ complete    ┆ 3/3    ┆ 2026-05-04 12:00 UTC            ┆ kept               ┆              │
        └───┴──────────┴─────────────┴────────┴─────────────────────────────────┴────────────────────┴──────────────┘

        Missing most often (in the finished builds that expect each image):
          glance: missing in 2 of 11 builds
          nova: missing in 1 of 11 builds

        (declared): the registry reports no push time; the time shown is the one the images declare (their `created`), which a reproducible build sets to its commit's time, days before the push. prune --broken deletes such a build only after tagsweep has seen it unchanged for builds.grace (or with --trust-declared-times).

        Retention (keep 3 complete builds per stream and every build pushed within 30d): 2 builds expired, which prune --expired deletes. Expired builds are not findings.

        1 build older than the kept ones is kept because the registry reports no push time for it (only the times the images declare, or none): with max_age, only the registry's push times prove a build old enough.
        ");
    }
}
