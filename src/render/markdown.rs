//! Markdown for `$GITHUB_STEP_SUMMARY`, GitLab job reports and pull-request comments.

use super::{
    explanations, missing_summary, push_time, short_time, summary_line, unverified_summary,
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
        out.push_str(
            "| Build | Status | Images | Newest push | Missing |\n|---|---|---|---|---|\n",
        );
        for b in &report.builds {
            let mut gaps = missing_summary(b);
            gaps.extend(unverified_summary(b));
            out.push_str(&format!(
                "| `{}` | {} | {}/{} | {} | {} |\n",
                cell(&b.tag),
                status_cell(b.status),
                b.present,
                b.expected,
                cell(&push_time(b)),
                cell(&gaps.join("\n"))
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
