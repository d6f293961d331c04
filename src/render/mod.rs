//! Turning a report into text: pure functions from data to a `String`, one
//! file per format, snapshot-tested.

pub mod diff;
pub mod github;
pub mod html;
pub mod json;
pub mod markdown;
pub mod plan;
pub mod table;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::duration::format_duration;
use crate::policy::audit::{AgeSource, LateImage, RetentionSummary, RetiredImage};
use crate::policy::retention::Why;
use crate::policy::{BuildReport, ImageStats, Report};
use crate::registry::Stats;

/// What a run cost, printed with the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub requests: Stats,
    /// Repositories whose tags came from the inventory cache, confirmed
    /// unchanged by one look (0 without the cache).
    pub unchanged_repositories: usize,
    pub elapsed_ms: u64,
}

/// How many names a table cell lists before it says "+N more".
pub const MAX_NAMES: usize = 4;

/// `a, b, c, d, +3 more`.
pub fn shorten(names: &[String], max: usize) -> String {
    if names.len() <= max {
        return names.join(", ");
    }
    format!("{}, +{} more", names[..max].join(", "), names.len() - max)
}

/// How lists of names are shown in the table formats. A 250-image set can
/// miss 233 images, and a prune plan covers every repository of the set:
/// [`Lists::Short`] names the first few and counts the rest (`a, b, c, d,
/// +233 more`); [`Lists::Full`] (with `-v`) names every one. JSON always
/// names every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// The first few names, then `+N more`.
    Short,
    /// Every name.
    Full,
}

impl Lists {
    /// [`Lists::Full`] with `-v`, [`Lists::Short`] otherwise.
    pub fn for_verbosity(verbose: bool) -> Lists {
        if verbose {
            Lists::Full
        } else {
            Lists::Short
        }
    }

    /// `names` joined by commas: at most `max` of them when short.
    pub fn join(self, names: &[String], max: usize) -> String {
        match self {
            Lists::Short => shorten(names, max),
            Lists::Full => names.join(", "),
        }
    }

    /// Like [`Lists::join`], and says how to see the rest when it shortened
    /// (for lists printed once, below a table).
    pub fn join_hinted(self, names: &[String], max: usize) -> String {
        let joined = self.join(names, max);
        if self == Lists::Short && names.len() > max {
            format!("{joined} (-v lists all)")
        } else {
            joined
        }
    }
}

/// How many names a list below a table shows before `+N more`.
pub const MAX_LISTED: usize = 10;

/// The missing images and platforms of a build, in a few words.
pub fn missing_summary(build: &BuildReport, lists: Lists) -> Vec<String> {
    let mut lines = Vec::new();
    if !build.missing.is_empty() {
        lines.push(lists.join(&build.missing, MAX_NAMES));
    }
    if !build.missing_platforms.is_empty() {
        let entries: Vec<String> = build
            .missing_platforms
            .iter()
            .map(|(image, platforms)| {
                let p: Vec<String> = platforms.iter().map(ToString::to_string).collect();
                format!("{image} ({})", p.join(", "))
            })
            .collect();
        lines.push(format!("platforms: {}", lists.join(&entries, MAX_NAMES)));
    }
    lines
}

/// The platforms a build could not verify, in a few words.
pub fn unverified_summary(build: &BuildReport) -> Option<String> {
    let n = build.unverified_platforms.len();
    (n > 0).then(|| {
        format!(
            "? platforms unverified in {n} image{}",
            if n == 1 { "" } else { "s" }
        )
    })
}

/// The newest push, and what it rests on when that is not the registry:
/// `2026-11-20 10:00 UTC (declared)`.
pub fn push_time(build: &BuildReport) -> String {
    let time = short_time(build.newest_push);
    match (build.age, build.newest_push) {
        (AgeSource::Declared, Some(_)) => format!("{time} (declared)"),
        (AgeSource::Unknown, Some(_)) => format!("{time} (partly unknown)"),
        _ => time,
    }
}

/// Whether the report has a retention verdict for every build (the table
/// and Markdown then show a retention column).
pub fn retention_judged(report: &Report) -> bool {
    report.retention.as_ref().is_some_and(|r| r.judged)
}

/// The retention cell of a build: `expired`, `kept`, `kept: recent`, ….
pub fn retention_cell(build: &BuildReport) -> &'static str {
    build.retention.as_ref().map_or("", |v| v.label())
}

/// How many images the "missing most often" lists name, at most.
pub const MOST_OFTEN: usize = 10;

/// The heading of the "missing most often" lists.
pub const MOST_OFTEN_TITLE: &str =
    "Missing most often (in the finished builds that expect each image)";

/// How often an image failed, in a few words: `missing in 2 of 4 builds`,
/// `short of a platform in 1 of 4 builds`, `missing in 2 and short of a
/// platform in 1 of 5 builds`; then, for an image that joined or may have left the set, why
/// its count may be the manifest's doing.
pub fn failure_counts(report: &Report, stats: &ImageStats) -> String {
    let mut text = match (stats.builds_missing, stats.builds_short_of_platforms) {
        (m, 0) => format!("missing in {m}"),
        (0, s) => format!("short of a platform in {s}"),
        (m, s) => format!("missing in {m} and short of a platform in {s}"),
    };
    text.push_str(&format!(
        " of {} build{}",
        stats.builds_expected,
        if stats.builds_expected == 1 { "" } else { "s" }
    ));
    if let Some(late) = report.late_image(&stats.image) {
        text.push_str(&match &late.first_build {
            Some(first) => format!(" (joined the set at {first}?)"),
            None => " (in no build yet)".to_string(),
        });
    } else if let Some(retired) = report.retired_image(&stats.image) {
        text.push_str(&format!(" (left the set after {}?)", retired.last_build));
    }
    text
}

/// What retention decided, in a few sentences (see [`explanations`]).
fn retention_notes(report: &Report, retention: &RetentionSummary) -> Vec<String> {
    if !retention.judged {
        return vec![
            "Retention is judged only when every build is audited (it ranks each build among all the builds of its stream), so not with --build or --since: run a full audit to see which builds expire."
                .to_string(),
        ];
    }
    let verdicts: Vec<_> = report
        .builds
        .iter()
        .filter_map(|b| b.retention.as_ref())
        .collect();
    let keep = retention.policy.keep;
    let mut policy = format!(
        "keep {keep} complete build{}{}",
        if keep == 1 { "" } else { "s" },
        if verdicts.iter().any(|v| v.stream.is_some()) {
            " per stream"
        } else {
            ""
        }
    );
    if let Some(max_age) = retention.policy.max_age {
        policy.push_str(&format!(
            " and every build pushed within {}",
            format_duration(max_age)
        ));
    }
    let mut notes = vec![match report.expired() {
        0 => format!("Retention ({policy}): no build expired."),
        n => format!(
            "Retention ({policy}): {n} build{} expired, which prune --expired deletes. Expired builds are not findings.",
            if n == 1 { "" } else { "s" }
        ),
    }];
    let unproven = verdicts
        .iter()
        .filter(|v| matches!(v.why, Why::AgeUnproven(_)))
        .count();
    if unproven > 0 {
        notes.push(format!(
            "{unproven} build{} older than the kept ones {} kept because the registry reports no push time for {} (only the times the images declare, or none): with max_age, only the registry's push times prove a build old enough.",
            if unproven == 1 { "" } else { "s" },
            if unproven == 1 { "is" } else { "are" },
            if unproven == 1 { "it" } else { "them" },
        ));
    }
    if verdicts
        .iter()
        .any(|v| matches!(v.why, Why::FewComplete { unverified, .. } if unverified > 0))
    {
        notes.push(
            "Builds whose required platforms the registry did not state do not count as complete for retention, so they keep no older build from expiring: run with --verify-platforms to read them."
                .to_string(),
        );
    }
    notes
}

/// What a reader must know to read the report right, one paragraph each,
/// plain text: what could not be checked, what looks broken because the
/// manifest changed, and what retention decided. Every format shows them.
pub fn explanations(report: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    let unverified = report
        .builds
        .iter()
        .filter(|b| !b.unverified_platforms.is_empty())
        .count();
    if unverified > 0 {
        let (why, what_to_do) = if report.registry == "docker.io" {
            (
                "Docker Hub no longer states a tag's platforms (its API has answered `images: []` since August 2025, docker/hub-feedback #2484)",
                "Run with --verify-platforms to read each tag's index from the registry API (one manifest GET per image per build, cached by digest); a tag it cannot read stays unverified.",
            )
        } else {
            (
                "these tags' manifests and image configs state no platform",
                "Push them as an index with platforms, or with os and architecture in the image config.",
            )
        };
        notes.push(format!(
            "? Platforms unverified in {unverified} build{}: {why}, so the required platforms could not be checked there; they are not counted as missing. {what_to_do}",
            if unverified == 1 { "" } else { "s" }
        ));
    }
    if report
        .builds
        .iter()
        .any(|b| b.age == AgeSource::Declared && b.newest_push.is_some())
    {
        notes.push(
            "(declared): the registry reports no push time; the time shown is the one the images declare (their `created`), which a reproducible build sets to its commit's time, days before the push. prune --broken deletes such a build only after tagsweep has seen it unchanged for builds.grace (or with --trust-declared-times)."
                .to_string(),
        );
    }
    notes.extend(report.late_images.iter().map(late_image_note));
    notes.extend(report.retired_images.iter().map(retired_image_note));
    if !report.unverified_repositories.is_empty() {
        let n = report.unverified_repositories.len();
        notes.push(format!(
            "{n} image{} of the manifest could not be confirmed to exist: {}. The registry answers no tags for {} and does not let us read its catalog, so a typo cannot be told from an empty repository. Check the names, or use credentials that may read the catalog. These images are left out of the counts.",
            if n == 1 { "" } else { "s" },
            report.unverified_repositories.join(", "),
            if n == 1 { "it" } else { "them" }
        ));
    }
    if let Some(retention) = &report.retention {
        notes.extend(retention_notes(report, retention));
    }
    notes
}

/// What an image that joined the set late means, and the fix (`from:`).
pub fn late_image_note(late: &LateImage) -> String {
    match &late.first_build {
        Some(first) => format!(
            "{} is in no build before {first}: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: {first}` to it in the manifest.",
            late.image
        ),
        None => format!(
            "{} is in no build yet: if it joins the set with a future build, give it `from:` that build in the manifest.",
            late.image
        ),
    }
}

/// What an image that may have left the set means, and the fix (`until:`).
pub fn retired_image_note(retired: &RetiredImage) -> String {
    format!(
        "{} is in no finished build after {}: if it left the set then, add `until: {}` to it in the \
         manifest; if not, its push keeps failing and those builds are broken (prune them by name with --build).",
        retired.image, retired.last_build, retired.last_build
    )
}

/// `2026-11-20 10:00 UTC`, or `unknown`.
pub fn short_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "unknown".to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// `2026-11-20T10:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// "3 builds: 1 complete, 1 broken, 1 in progress".
pub fn summary_line(summary: &crate::policy::Summary) -> String {
    format!(
        "{} build{}: {} complete, {} broken, {} in progress",
        summary.builds,
        if summary.builds == 1 { "" } else { "s" },
        summary.complete,
        summary.broken,
        summary.in_progress
    )
}

/// One report that shows every kind of finding, for the renderers' snapshot
/// tests: judged by the policy itself from a small inventory, so it is
/// always a report the audit can produce.
#[cfg(test)]
pub(crate) mod fixture {
    use chrono::{DateTime, Duration, Utc};

    use crate::inventory::{intern_platforms, Inventory, Repository, Tag};
    use crate::manifest::{parse_str, Manifest};
    use crate::policy::{evaluate, BuildSelection, Report};

    pub fn now() -> DateTime<Utc> {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }

    pub fn manifest() -> Manifest {
        parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\nplatforms: [linux/amd64, linux/arm64]\nimages: [base, nova, zun, typo]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn tag(name: &str, hours_ago: i64, platforms: Option<&[&str]>, declared: bool) -> Tag {
        let at = now() - Duration::hours(hours_ago);
        Tag {
            digest: Some(format!("sha256:{name}")),
            pushed: (!declared).then_some(at),
            created: declared.then_some(at),
            platforms: platforms
                .map(|ps| intern_platforms(ps.iter().map(|p| p.parse().unwrap()).collect())),
            ..Tag::new(name)
        }
    }

    /// rocky-5 in progress (nova missing); rocky-4 complete, platforms
    /// unverified in nova; rocky-3 broken (base short of arm64, declared
    /// time); rocky-2 and rocky-1 lack zun, which joined at rocky-3; `typo`
    /// has no repository; `extra` carries build tags outside the manifest.
    pub fn inventory() -> Inventory {
        let both: &[&str] = &["linux/amd64", "linux/arm64"];
        let mut inv = Inventory::new("docker.io", "linaro");
        inv.taken_at = Some(now());
        for (name, tags) in [
            (
                "base",
                vec![
                    tag("rocky-1", 96, Some(both), false),
                    tag("rocky-2", 72, Some(both), false),
                    tag("rocky-3", 48, Some(&["linux/amd64"]), true),
                    tag("rocky-4", 24, Some(both), false),
                    tag("rocky-5", 1, Some(both), false),
                ],
            ),
            (
                "nova",
                vec![
                    tag("rocky-1", 96, Some(both), false),
                    tag("rocky-2", 72, Some(both), false),
                    tag("rocky-3", 48, Some(both), true),
                    tag("rocky-4", 24, None, false),
                ],
            ),
            (
                "zun",
                vec![
                    tag("rocky-3", 48, Some(both), true),
                    tag("rocky-4", 24, Some(both), false),
                    tag("rocky-5", 1, Some(both), false),
                ],
            ),
            ("extra", vec![tag("rocky-4", 24, None, false)]),
        ] {
            inv.repositories.insert(
                name.to_string(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        inv
    }

    pub fn report() -> Report {
        evaluate(&manifest(), &inventory(), now(), &BuildSelection::All)
    }

    /// A Linaro-like set with two release lines and retention: keep 3
    /// complete builds per stream, and every build pushed within 30 days.
    pub fn retention_manifest() -> Manifest {
        parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^(?P<stream>rocky|stein)-\\d+$'\n  grace: 2h\n  protect: ['^rocky-30$']\nretention:\n  keep: 3\n  max_age: 30d\nimages: [base, nova, glance]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    /// Stream rocky: rocky-29 (complete, declared times), rocky-30
    /// (protected), rocky-31, rocky-32 (broken), rocky-33 (25 days old),
    /// rocky-34, rocky-35 (broken), rocky-36, rocky-37 and rocky-38 (in
    /// progress). Stream stein: stein-9 and stein-10 (broken), fewer
    /// complete builds than keep.
    pub fn retention_inventory() -> Inventory {
        const DAY: i64 = 24;
        let builds: [(&str, i64, &[&str], bool); 12] = [
            ("rocky-29", 130 * DAY, &["base", "nova", "glance"], true),
            ("rocky-30", 120 * DAY, &["base", "nova", "glance"], false),
            ("rocky-31", 110 * DAY, &["base", "nova", "glance"], false),
            ("rocky-32", 100 * DAY, &["base", "nova"], false),
            ("rocky-33", 25 * DAY, &["base", "nova", "glance"], false),
            ("rocky-34", 20 * DAY, &["base", "nova", "glance"], false),
            ("rocky-35", 15 * DAY, &["base", "nova"], false),
            ("rocky-36", 10 * DAY, &["base", "nova", "glance"], false),
            ("rocky-37", 2 * DAY, &["base", "nova", "glance"], false),
            ("rocky-38", 1, &["base"], false),
            ("stein-9", 200 * DAY, &["base", "nova", "glance"], false),
            ("stein-10", 190 * DAY, &["base", "glance"], false),
        ];
        let mut inv = Inventory::new("docker.io", "linaro");
        inv.taken_at = Some(now());
        for image in ["base", "nova", "glance"] {
            let tags = builds
                .iter()
                .filter(|(_, _, images, _)| images.contains(&image))
                .map(|&(name, hours_ago, _, declared)| Tag {
                    digest: Some(format!("sha256:{image}-{name}")),
                    ..tag(name, hours_ago, None, declared)
                })
                .collect();
            inv.repositories.insert(
                image.to_string(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        inv
    }

    pub fn retention_report() -> Report {
        evaluate(
            &retention_manifest(),
            &retention_inventory(),
            now(),
            &BuildSelection::All,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_shortened() {
        let names: Vec<String> = (1..=7).map(|i| format!("img-{i}")).collect();
        assert_eq!(shorten(&names[..2], 4), "img-1, img-2");
        assert_eq!(shorten(&names, 4), "img-1, img-2, img-3, img-4, +3 more");
    }
}
