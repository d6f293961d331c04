//! What prune shows on stderr while it deletes.
//!
//! On a terminal (no CI, neither `-q` nor `-v`): one progress bar per build
//! while its tags are deleted, then one line per build (`rocky-38: deleted
//! 250 tags`). Three Kolla builds are three lines, not 750. Elsewhere (CI
//! logs, pipes, `-v`): one line per deleted or failed tag, which a log
//! search finds; with `-q`, only the failed ones. In all, a build the
//! re-check skips says why, and the journal (`--journal`) keeps every tag.

use super::execute::Watch;
use crate::journal::DeletionResult;
use crate::policy::prune::PlannedBuild;
use crate::progress::Progress;
use crate::render::plan::{TagResult, Totals};

/// Shows each build's progress on `progress` when it draws a bar, each tag
/// otherwise.
pub struct Show {
    pub progress: Progress,
    /// `linaro`: tag lines name `linaro/nova-api:rocky-38`.
    pub namespace: String,
    /// `-q`: no line per tag but for failures.
    pub quiet: bool,
}

impl Show {
    fn per_tag(&self) -> bool {
        !self.progress.is_shown()
    }
}

impl Watch for Show {
    fn build_started(&self, build: &PlannedBuild) {
        self.progress
            .start_counting(&format!("deleting {}", build.tag), build.tags.len(), "tags");
    }

    fn tag_done(&self, r: &TagResult) {
        if !self.per_tag() {
            self.progress.inc();
            return;
        }
        if self.quiet && r.result != DeletionResult::Failed {
            return;
        }
        match r.result {
            DeletionResult::Deleted => eprintln!(
                "tagsweep: deleted {}/{}:{}",
                self.namespace, r.repository, r.tag
            ),
            DeletionResult::Failed => eprintln!(
                "tagsweep: failed to delete {}:{}: {}",
                r.repository,
                r.tag,
                r.detail.as_deref().unwrap_or("")
            ),
            // A tag left on tagsweep's placeholder, finished now.
            DeletionResult::AlreadyGone if r.detail.is_some() => eprintln!(
                "tagsweep: finished removing {}/{}:{}: {}",
                self.namespace,
                r.repository,
                r.tag,
                r.detail.as_deref().unwrap_or("")
            ),
            DeletionResult::AlreadyGone | DeletionResult::Skipped => {}
        }
    }

    fn build_done(&self, build: &PlannedBuild, results: &[TagResult], skipped: Option<&str>) {
        self.progress.finish();
        if let Some(why) = skipped {
            // A re-check that could not be made counts as failed (a rerun
            // may do it); one that found the build changed, as skipped.
            let counted = if Totals::of(results).failed > 0 {
                "nothing deleted (counted as failed)"
            } else {
                "skipped"
            };
            eprintln!("tagsweep: {}: {why}; {counted}", build.tag);
        } else if !self.per_tag() {
            eprintln!("tagsweep: {}", build_line(&build.tag, results));
        }
    }
}

/// `rocky-38: deleted 250 tags`, `rocky-38: deleted 248 tags, 2 failed`.
pub fn build_line(build: &str, results: &[TagResult]) -> String {
    let t = Totals::of(results);
    let mut line = format!(
        "{build}: deleted {} tag{}",
        t.deleted,
        if t.deleted == 1 { "" } else { "s" }
    );
    for (n, what) in [
        (t.already_gone, "already gone"),
        (t.skipped, "skipped"),
        (t.failed, "failed"),
    ] {
        if n > 0 {
            line.push_str(&format!(", {n} {what}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(tag: &str, result: DeletionResult) -> TagResult {
        TagResult {
            build: "rocky-38".into(),
            repository: format!("img-{tag}"),
            tag: "rocky-38".into(),
            digest: None,
            media_type: None,
            result,
            detail: None,
            rerun_helps: true,
        }
    }

    #[test]
    fn one_line_per_build() {
        let all: Vec<TagResult> = (0..250)
            .map(|i| result(&i.to_string(), DeletionResult::Deleted))
            .collect();
        assert_eq!(build_line("rocky-38", &all), "rocky-38: deleted 250 tags");
        let mixed = [
            result("a", DeletionResult::Deleted),
            result("b", DeletionResult::AlreadyGone),
            result("c", DeletionResult::Failed),
            result("d", DeletionResult::Failed),
        ];
        assert_eq!(
            build_line("rocky-38", &mixed),
            "rocky-38: deleted 1 tag, 1 already gone, 2 failed"
        );
    }
}
