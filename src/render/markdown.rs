//! Markdown for `$GITHUB_STEP_SUMMARY`, GitLab job reports and pull-request comments.

use super::{
    explanations, missing_summary, push_time, retention_cell, retention_judged, short_time,
    summary_line, unverified_summary,
};
use crate::policy::{Report, Status};

/// "1 image", "2 images".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Escapes what would break a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

fn status_cell(status: Status) -> &'static str {
    match status {
        Status::Complete => "✅ complete",
        Status::InProgress => "⏳ in progress",
        Status::Broken => "❌ **broken**",
    }
}

/// The audit as a Markdown section.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "### tagsweep audit: `{}` on {}\n\n**{}** (as of {})\n\n",
        report.namespace,
        report.registry,
        summary_line(&report.summary),
        short_time(Some(report.as_of))
    );
    if !report.builds.is_empty() {
        let retention = retention_judged(report);
        out.push_str(if retention {
            "| Build | Status | Images | Newest push | Retention | Missing |\n|---|---|---|---|---|---|\n"
        } else {
            "| Build | Status | Images | Newest push | Missing |\n|---|---|---|---|---|\n"
        });
        for b in &report.builds {
            let mut gaps = missing_summary(b, super::Lists::Short);
            gaps.extend(unverified_summary(b));
            let retained = if retention {
                format!(" {} |", retention_cell(b))
            } else {
                String::new()
            };
            out.push_str(&format!(
                "| `{}` | {} | {}/{} | {} |{retained} {} |\n",
                cell(&b.tag),
                status_cell(b.status),
                b.present,
                b.expected,
                cell(&push_time(b)),
                cell(&gaps.join("\n"))
            ));
        }
    }
    let most_often = report.most_often_missing(super::MOST_OFTEN);
    if !most_often.is_empty() {
        out.push_str(&format!("\n**{}:**\n\n", super::MOST_OFTEN_TITLE));
        for stats in most_often {
            out.push_str(&format!(
                "- `{}`: {}\n",
                stats.image,
                super::failure_counts(report, stats)
            ));
        }
    }
    if !report.unexpected_repositories.is_empty() {
        out.push_str(&format!(
            "\n**Not in the manifest, but carrying build tags:** {}\n",
            report
                .unexpected_repositories
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !report.missing_repositories.is_empty() {
        out.push_str(&format!(
            "\n> [!CAUTION]\n> {} of the manifest {} no repository in `{}`: {}.\n> A typo in the manifest, or a private repository seen without credentials.\n",
            plural(report.missing_repositories.len(), "image"),
            if report.missing_repositories.len() == 1 { "has" } else { "have" },
            report.namespace,
            report
                .missing_repositories
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for note in explanations(report) {
        out.push_str(&format!("\n> [!NOTE]\n> {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    #[test]
    fn every_kind_of_finding() {
        insta::assert_snapshot!(render(&fixture::report()), @"
        ### tagsweep audit: `linaro` on docker.io

        **5 builds: 1 complete, 3 broken, 1 in progress** (as of 2026-11-20 12:00 UTC)

        | Build | Status | Images | Newest push | Missing |
        |---|---|---|---|---|
        | `rocky-5` | ⏳ in progress | 2/3 | 2026-11-20 11:00 UTC | nova |
        | `rocky-4` | ✅ complete | 3/3 | 2026-11-19 12:00 UTC | ? platforms unverified in 1 image |
        | `rocky-3` | ❌ **broken** | 3/3 | 2026-11-18 12:00 UTC (declared) | platforms: base (linux/arm64) |
        | `rocky-2` | ❌ **broken** | 2/3 | 2026-11-17 12:00 UTC | zun |
        | `rocky-1` | ❌ **broken** | 2/3 | 2026-11-16 12:00 UTC | zun |

        **Missing most often (in the finished builds that expect each image):**

        - `zun`: missing in 2 of 4 builds (joined the set at rocky-3?)
        - `base`: short of a platform in 1 of 4 builds

        **Not in the manifest, but carrying build tags:** `extra`

        > [!CAUTION]
        > 1 image of the manifest has no repository in `linaro`: `typo`.
        > A typo in the manifest, or a private repository seen without credentials.

        > [!NOTE]
        > ? Platforms unverified in 1 build: Docker Hub no longer states a tag's platforms (its API has answered `images: []` since August 2025, docker/hub-feedback #2484), so the required platforms could not be checked there; they are not counted as missing. Run with --verify-platforms to read each tag's index from the registry API (one manifest GET per image per build, cached by digest); a tag it cannot read stays unverified.

        > [!NOTE]
        > (declared): the registry reports no push time; the time shown is the one the images declare (their `created`), which a reproducible build sets to its commit's time, days before the push. prune --broken deletes such a build only after tagsweep has seen it unchanged for builds.grace (or with --trust-declared-times).

        > [!NOTE]
        > zun is in no build before rocky-3: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-3` to it in the manifest.
        ");
    }

    /// Two streams under retention: a column, and the lines that explain it.
    #[test]
    fn retention() {
        insta::assert_snapshot!(render(&fixture::retention_report()), @"
        ### tagsweep audit: `linaro` on docker.io

        **12 builds: 8 complete, 3 broken, 1 in progress** (as of 2026-11-20 12:00 UTC)

        | Build | Status | Images | Newest push | Retention | Missing |
        |---|---|---|---|---|---|
        | `rocky-38` | ⏳ in progress | 1/3 | 2026-11-20 11:00 UTC | kept | glance, nova |
        | `rocky-37` | ✅ complete | 3/3 | 2026-11-18 12:00 UTC | kept |  |
        | `rocky-36` | ✅ complete | 3/3 | 2026-11-10 12:00 UTC | kept |  |
        | `rocky-35` | ❌ **broken** | 2/3 | 2026-11-05 12:00 UTC | kept | glance |
        | `rocky-34` | ✅ complete | 3/3 | 2026-10-31 12:00 UTC | kept |  |
        | `rocky-33` | ✅ complete | 3/3 | 2026-10-26 12:00 UTC | kept: recent |  |
        | `rocky-32` | ❌ **broken** | 2/3 | 2026-08-12 12:00 UTC | expired | glance |
        | `rocky-31` | ✅ complete | 3/3 | 2026-08-02 12:00 UTC | expired |  |
        | `rocky-30` | ✅ complete | 3/3 | 2026-07-23 12:00 UTC | kept: protected |  |
        | `rocky-29` | ✅ complete | 3/3 | 2026-07-13 12:00 UTC (declared) | kept: age unproven |  |
        | `stein-10` | ❌ **broken** | 2/3 | 2026-05-14 12:00 UTC | kept | nova |
        | `stein-9` | ✅ complete | 3/3 | 2026-05-04 12:00 UTC | kept |  |

        **Missing most often (in the finished builds that expect each image):**

        - `glance`: missing in 2 of 11 builds
        - `nova`: missing in 1 of 11 builds

        > [!NOTE]
        > (declared): the registry reports no push time; the time shown is the one the images declare (their `created`), which a reproducible build sets to its commit's time, days before the push. prune --broken deletes such a build only after tagsweep has seen it unchanged for builds.grace (or with --trust-declared-times).

        > [!NOTE]
        > Retention (keep 3 complete builds per stream and every build pushed within 30d): 2 builds expired, which prune --expired deletes. Expired builds are not findings.

        > [!NOTE]
        > 1 build older than the kept ones is kept because the registry reports no push time for it (only the times the images declare, or none): with max_age, only the registry's push times prove a build old enough.
        ");
    }
}
