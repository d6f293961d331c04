//! What a manifest change does (`tagsweep diff`), as text: one file per
//! format, and here the words they share. Pure, snapshot-tested.
//!
//! A reviewer of a 250-image set reads the short form: builds whose status
//! changes the same way for the same reason are one row (`38 builds:
//! complete → broken, missing debian-source-zun-compute`); `-v` (table),
//! the Markdown's folded details and JSON list every build.

pub mod github;
pub mod json;
pub mod markdown;
pub mod table;

use super::{late_image_note, retired_image_note, shorten, MAX_NAMES};
use crate::platform::Platform;
use crate::policy::diff::{BuildChange, Deletion, Diff, Pattern, PruneChange, Setting};
use crate::policy::prune::{Refusal, SkipReason};
use crate::policy::Status;

/// How names are written: as they are (table), or as code (Markdown).
pub type Name<'a> = &'a dyn Fn(&str) -> String;

/// As is.
pub fn plain(name: &str) -> String {
    name.to_string()
}

/// A build's status, or that the tag is no build under that manifest.
pub fn status_word(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::Complete) => "complete",
        Some(Status::InProgress) => "in progress",
        Some(Status::Broken) => "broken",
        None => "not a build",
    }
}

/// `a, b (linux/arm64)` for image → platforms.
fn platform_list(
    map: &std::collections::BTreeMap<String, Vec<Platform>>,
    name: Name<'_>,
) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(image, platforms)| {
            let p: Vec<String> = platforms.iter().map(ToString::to_string).collect();
            format!("{} ({})", name(image), p.join(", "))
        })
        .collect();
    shorten(&entries, MAX_NAMES)
}

fn names(list: &[String], name: Name<'_>) -> String {
    let named: Vec<String> = list.iter().map(|n| name(n)).collect();
    shorten(&named, MAX_NAMES)
}

/// Why a build's status differs, in a few words: `missing
/// debian-source-zun-compute`, `matches builds.pattern now`, ….
pub fn why(change: &BuildChange, diff: &Diff, name: Name<'_>) -> String {
    let cause = &change.cause;
    let mut parts = Vec::new();
    match (cause.pattern, &change.old, &change.new) {
        (Some(Pattern::MatchesNow), _, _) => parts.push("matches builds.pattern now".to_string()),
        (Some(Pattern::NoLongerMatches), _, _) => {
            parts.push("no longer matches builds.pattern".to_string())
        }
        (None, None, Some(_)) => {
            parts.push("a build now: an image only NEW expects in it carries it".to_string())
        }
        (None, Some(_), None) => {
            parts.push("no longer a build: no image NEW expects in it carries it".to_string())
        }
        _ => {}
    }
    if change.new.is_some() {
        if !cause.now_missing.is_empty() {
            parts.push(format!("missing {}", names(&cause.now_missing, name)));
        }
        if !cause.now_missing_platforms.is_empty() {
            parts.push(format!(
                "platforms missing: {}",
                platform_list(&cause.now_missing_platforms, name)
            ));
        }
    }
    if change.old.is_some() && change.new.is_some() {
        // Images NEW no longer expects: missing ones, and ones short of a
        // platform (a removal, not a platforms change).
        let no_longer_expected: Vec<String> = cause
            .no_longer_missing
            .iter()
            .map(|image| name(image))
            .chain(cause.no_longer_expected.iter().map(|image| {
                let short: Vec<String> = cause
                    .no_longer_missing_platforms
                    .get(image)
                    .into_iter()
                    .flatten()
                    .map(ToString::to_string)
                    .collect();
                format!("{} (short of {})", name(image), short.join(", "))
            }))
            .collect();
        if !no_longer_expected.is_empty() {
            parts.push(format!(
                "no longer expects {}",
                shorten(&no_longer_expected, MAX_NAMES)
            ));
        }
        let no_longer_required: std::collections::BTreeMap<String, Vec<Platform>> = cause
            .no_longer_missing_platforms
            .iter()
            .filter(|(image, _)| !cause.no_longer_expected.contains(image))
            .map(|(image, platforms)| (image.clone(), platforms.clone()))
            .collect();
        if !no_longer_required.is_empty() {
            parts.push(format!(
                "no longer requires: {}",
                platform_list(&no_longer_required, name)
            ));
        }
    }
    if parts.is_empty() {
        if let Some(grace) = diff.settings.iter().find(|s| s.setting == Setting::Grace) {
            parts.push(format!(
                "builds.grace {} → {}",
                grace.old.as_deref().unwrap_or("-"),
                grace.new.as_deref().unwrap_or("-")
            ));
        }
    }
    parts.join("; ")
}

/// Builds whose status changes the same way for the same reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'a> {
    /// Newest first.
    pub tags: Vec<&'a str>,
    pub old: Option<Status>,
    pub new: Option<Status>,
    pub why: String,
}

/// `changes` grouped by transition and reason, in the order of their
/// newest build.
pub fn groups<'a>(
    changes: impl IntoIterator<Item = &'a BuildChange>,
    diff: &Diff,
    name: Name<'_>,
) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for change in changes {
        let (old, new, why) = (
            change.old_status(),
            change.new_status(),
            why(change, diff, name),
        );
        match groups
            .iter_mut()
            .find(|g| g.old == old && g.new == new && g.why == why)
        {
            Some(group) => group.tags.push(&change.tag),
            None => groups.push(Group {
                tags: vec![&change.tag],
                old,
                new,
                why,
            }),
        }
    }
    groups
}

/// `rocky-39, rocky-38, rocky-37, rocky-36, +34 more`.
pub fn tag_list(tags: &[&str], name: Name<'_>) -> String {
    let named: Vec<String> = tags.iter().map(|t| name(t)).collect();
    shorten(&named, MAX_NAMES)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How much the lines say: how many names a list holds before `+N more`,
/// and whether a skip gives its whole reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail {
    /// At most this many names in a list, then `+N more`.
    pub names: usize,
    /// The whole reason for each skip, not a few words.
    pub reasons: bool,
}

impl Detail {
    /// The short form: a few names, a few words.
    pub const SHORT: Detail = Detail {
        names: MAX_NAMES,
        reasons: false,
    };
    /// `-v`: every name, every reason.
    pub const FULL: Detail = Detail {
        names: usize::MAX,
        reasons: true,
    };

    /// [`Detail::FULL`] with `-v`, else [`Detail::SHORT`].
    pub fn for_verbosity(verbose: bool) -> Detail {
        if verbose {
            Detail::FULL
        } else {
            Detail::SHORT
        }
    }

    /// `names` shortened to this many, then `+N more`.
    pub fn list(self, names: &[String]) -> String {
        shorten(names, self.names)
    }
}

/// What NEW's prunes delete that OLD's do not: builds OLD's do not delete
/// at all, and, of builds both delete, how many and how many more tags.
fn deletions_added(diff: &Diff) -> (usize, usize, usize) {
    let added = diff
        .prune_broken
        .added
        .iter()
        .chain(diff.prune_expired.iter().flat_map(|p| &p.added));
    let (mut whole, mut partly, mut tags) = (0, 0, 0);
    for d in added {
        if d.partial {
            partly += 1;
            tags += d.repositories.len();
        } else {
            whole += 1;
        }
    }
    (whole, partly, tags)
}

/// The verdict in one sentence: `1 build changes status; prune deletes
/// nothing more.` Builds prune deletes anyway, with one more tag each (an
/// image added to the set carries them), are no builds more.
pub fn headline(diff: &Diff) -> String {
    let builds = match diff.builds.len() {
        0 => "No build changes status".to_string(),
        1 => "1 build changes status".to_string(),
        n => format!("{n} builds change status"),
    };
    let refuses = diff.prune_broken.refuses_now()
        || diff
            .prune_expired
            .as_ref()
            .is_some_and(PruneChange::refuses_now);
    let still_refuses = diff.prune_broken.still_refuses()
        || diff
            .prune_expired
            .as_ref()
            .is_some_and(PruneChange::still_refuses);
    let more_tags = |tags: usize, builds: usize| {
        format!(
            "{} of {} it deletes anyway",
            plural(tags, "more tag", "more tags"),
            plural(builds, "build", "builds")
        )
    };
    let prune = match deletions_added(diff) {
        _ if refuses => "prune refuses now".to_string(),
        (0, 0, _) if still_refuses => "prune still refuses".to_string(),
        (0, 0, _) => "prune deletes nothing more".to_string(),
        (0, partly, tags) => format!(
            "prune deletes no more builds, but {}",
            more_tags(tags, partly)
        ),
        (whole, 0, _) => format!(
            "prune deletes {}",
            plural(whole, "more build", "more builds")
        ),
        (whole, partly, tags) => format!(
            "prune deletes {}, and {}",
            plural(whole, "more build", "more builds"),
            more_tags(tags, partly)
        ),
    };
    format!("{builds}; {prune}.")
}

/// What one kind of prune (`--broken`, `--expired`) does differently, one
/// sentence a line, its lists of builds as long as `detail` says.
pub fn prune_lines(
    kind: &str,
    change: &PruneChange,
    diff: &Diff,
    detail: Detail,
    name: Name<'_>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let tag_list = |tags: &[&str]| -> String {
        detail.list(&tags.iter().map(|t| name(t)).collect::<Vec<_>>())
    };
    let tags =
        |deletions: &[&Deletion]| -> usize { deletions.iter().map(|d| d.repositories.len()).sum() };
    // Whole builds, then the tags added to (or taken from) builds both
    // prunes delete: an image added to the set adds its tag of every
    // broken build, which is no build more.
    fn split(deletions: &[Deletion]) -> (Vec<&Deletion>, Vec<&Deletion>) {
        deletions.iter().partition(|d| !d.partial)
    }
    let whole_list = |deletions: &[&Deletion]| -> String {
        tag_list(&deletions.iter().map(|d| d.tag.as_str()).collect::<Vec<_>>())
    };
    let partial_list = |deletions: &[&Deletion]| -> String {
        let items: Vec<String> = deletions
            .iter()
            .map(|d| format!("{} (in {})", name(&d.tag), names(&d.repositories, name)))
            .collect();
        detail.list(&items)
    };
    let (added, added_partly) = split(&change.added);
    if !added.is_empty() {
        lines.push(format!(
            "prune {kind} under NEW also deletes {} ({}): {}",
            plural(added.len(), "build", "builds"),
            plural(tags(&added), "tag", "tags"),
            whole_list(&added)
        ));
        // Why retention retires them, one line per reason.
        let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
        for d in &added {
            let Some(reason) = d.retention.as_deref() else {
                continue;
            };
            match reasons.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, tags)) => tags.push(&d.tag),
                None => reasons.push((reason, vec![&d.tag])),
            }
        }
        for (reason, tags) in reasons {
            let tags = tag_list(&tags);
            lines.push(format!("prune {kind} under NEW: {tags} expired, {reason}"));
        }
    }
    if !added_partly.is_empty() {
        lines.push(format!(
            "prune {kind} under NEW also deletes {} of {} it deletes under OLD too: {}",
            plural(tags(&added_partly), "more tag", "more tags"),
            plural(added_partly.len(), "build", "builds"),
            partial_list(&added_partly)
        ));
    }
    let (removed, removed_partly) = split(&change.removed);
    if !removed.is_empty() {
        lines.push(format!(
            "prune {kind} under NEW no longer deletes {} ({}): {}",
            plural(removed.len(), "build", "builds"),
            plural(tags(&removed), "tag", "tags"),
            whole_list(&removed)
        ));
    }
    if !removed_partly.is_empty() {
        lines.push(format!(
            "prune {kind} under NEW no longer deletes {} of {} it still deletes: {}",
            plural(tags(&removed_partly), "tag", "tags"),
            plural(removed_partly.len(), "build", "builds"),
            partial_list(&removed_partly)
        ));
    }
    if change.added.is_empty() && change.removed.is_empty() {
        let tags: Vec<&str> = change.unchanged.iter().map(String::as_str).collect();
        lines.push(match tags.len() {
            0 => format!("prune {kind}: no change (deletes nothing under either)"),
            n => format!(
                "prune {kind}: no change (deletes the same {} under both: {})",
                plural(n, "build", "builds"),
                tag_list(&tags)
            ),
        });
    }
    let mut skips: Vec<(String, Vec<&str>)> = Vec::new();
    for skipped in &change.skipped {
        let reason = if detail.reasons {
            skipped.reason.to_string()
        } else {
            skip_label(&skipped.reason, diff, name)
        };
        match skips.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, tags)) => tags.push(&skipped.tag),
            None => skips.push((reason, vec![&skipped.tag])),
        }
    }
    for (reason, tags) in skips {
        lines.push(format!(
            "prune {kind} under NEW skips {} ({}): {reason}",
            plural(tags.len(), "build", "builds"),
            tag_list(&tags)
        ));
    }
    lines
}

/// Why prune skips a build, in a few words (`-v` gives the whole reason).
/// A skip for a manifest change says `see the fix` only where the diff
/// prints the audit's fix for each image it names (`late_images`,
/// `retired_images`); else it names the fix itself.
fn skip_label(reason: &SkipReason, diff: &Diff, name: Name<'_>) -> String {
    match reason {
        SkipReason::OnlyManifestChanges { joined, left } => {
            let what = "only images that joined or left the set are missing: a manifest change";
            let shown = joined.iter().all(|j| diff.late_images.contains(j))
                && left.iter().all(|l| diff.retired_images.contains(l));
            if shown {
                return format!("{what}, see the fix");
            }
            let fixes: Vec<String> = joined
                .iter()
                .map(|j| match &j.first_build {
                    Some(first) => format!("`from: {first}` on {}", name(&j.image)),
                    None => format!("`from:` its first build on {}", name(&j.image)),
                })
                .chain(
                    left.iter()
                        .map(|l| format!("`until: {}` on {}", l.last_build, name(&l.image))),
                )
                .collect();
            format!("{what}; the fix: {}", shorten(&fixes, MAX_NAMES))
        }
        SkipReason::AgeUnproven { .. } => {
            "nothing proves nobody is still pushing them yet (-v says when they become eligible)"
                .to_string()
        }
        SkipReason::InProgress => "in progress".to_string(),
        SkipReason::Protected => "protected by builds.protect".to_string(),
        SkipReason::NotCarried => "no repository of the set carries the tag".to_string(),
    }
}

/// Why a prune refuses, in a few words: `expected repository missing:
/// typo`, naming at most `max` repositories.
pub fn refusal_words(refusal: &Refusal, max: usize) -> String {
    let repositories = |list: &[String]| {
        format!(
            "expected {}",
            if list.len() == 1 {
                "repository"
            } else {
                "repositories"
            }
        )
    };
    match refusal {
        Refusal::MissingRepositories(list) => {
            format!("{} missing: {}", repositories(list), shorten(list, max))
        }
        Refusal::UnverifiedRepositories(list) => format!(
            "{} neither listed nor denied by the registry: {}",
            repositories(list),
            shorten(list, max)
        ),
        other => other.to_string(),
    }
}

/// Where prunes refuse, one line for the kinds that refuse alike: `prune
/// --broken and --expired refuse under OLD, not under NEW: expected
/// repository missing: typo`. A prune refusing under both is one line:
/// `refuses under both` (for the same thing), `still refuses under NEW`
/// (for less than under OLD: not a finding), or `refuses under NEW` (for
/// something OLD's did not refuse for) — refusals compared by what refuses,
/// never by their words.
fn refusal_lines(kinds: &[(&str, &PruneChange)], max: usize) -> Vec<String> {
    let refusal_words = |refusal: &Refusal| refusal_words(refusal, max);
    let mut found: Vec<(String, Vec<&str>)> = Vec::new();
    for &(kind, change) in kinds {
        let (when, words) = match (&change.old_refusal, &change.new_refusal) {
            (None, None) => continue,
            (Some(o), None) => ("refuses under OLD, not under NEW", refusal_words(o)),
            (None, Some(n)) => ("refuses under NEW", refusal_words(n)),
            (Some(_), Some(n)) if change.refuses_alike() => {
                ("refuses under both", refusal_words(n))
            }
            (Some(o), Some(n)) => (
                if change.still_refuses() {
                    "still refuses under NEW"
                } else {
                    "refuses under NEW"
                },
                format!("{} (under OLD: {})", refusal_words(n), refusal_words(o)),
            ),
        };
        let line = format!("{when}: {words}");
        match found.iter_mut().find(|(l, _)| *l == line) {
            Some((_, kinds)) => kinds.push(kind),
            None => found.push((line, vec![kind])),
        }
    }
    found
        .into_iter()
        .map(|(line, kinds)| match kinds.as_slice() {
            [one] => format!("prune {one} {line}"),
            // `refuses` → `refuse`, for two kinds.
            many => format!(
                "prune {} {}",
                many.join(" and "),
                line.replacen("refuses", "refuse", 1)
            ),
        })
        .collect()
}

/// Every prune line: refusals, then `--broken`, then `--expired`.
pub fn all_prune_lines(diff: &Diff, detail: Detail, name: Name<'_>) -> Vec<String> {
    let mut kinds = vec![("--broken", &diff.prune_broken)];
    if let Some(expired) = &diff.prune_expired {
        kinds.push(("--expired", expired));
    }
    let mut lines = refusal_lines(&kinds, detail.names);
    for (kind, change) in kinds {
        lines.extend(prune_lines(kind, change, diff, detail, name));
    }
    lines
}

/// The manifest's changes, one a line: `images added (1):
/// debian-source-horizon`, `builds.pattern: '^rocky-\d+$' → …`.
pub fn manifest_lines(diff: &Diff, verbose: bool, name: Name<'_>) -> Vec<String> {
    let list = |images: &[String]| -> String {
        if verbose {
            images
                .iter()
                .map(|i| name(i))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            names(images, name)
        }
    };
    let mut lines = Vec::new();
    if !diff.images.added.is_empty() {
        lines.push(format!(
            "images added ({}): {}",
            diff.images.added.len(),
            list(&diff.images.added)
        ));
    }
    if !diff.images.removed.is_empty() {
        lines.push(format!(
            "images removed ({}): {}",
            diff.images.removed.len(),
            list(&diff.images.removed)
        ));
    }
    let shown = if verbose {
        diff.images.changed.len()
    } else {
        MAX_NAMES
    };
    for change in diff.images.changed.iter().take(shown) {
        lines.push(format!(
            "{}: {} → {}",
            name(&change.image),
            change.old,
            change.new
        ));
    }
    if diff.images.changed.len() > shown {
        lines.push(format!(
            "+{} more images expected in other builds (-v lists them)",
            diff.images.changed.len() - shown
        ));
    }
    for setting in &diff.settings {
        lines.push(format!(
            "{}: {} → {}",
            setting.setting.as_str(),
            setting.old.as_deref().map_or("(none)".to_string(), name),
            setting.new.as_deref().map_or("(none)".to_string(), name),
        ));
    }
    lines
}

/// What kind of thing a note says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// A manifest fix the audit under NEW suggests.
    Fix,
    /// Something that stops prune.
    Warning,
    /// Something to know to read the diff right.
    Note,
}

/// What a reviewer must read besides the changes: the fixes the audit
/// under NEW suggests, repositories NEW lacks, platforms nobody stated.
/// At most `max` fixes, and `max` names a list.
pub fn notes(diff: &Diff, max: usize) -> Vec<(NoteKind, String)> {
    let fixes: Vec<String> = diff
        .late_images
        .iter()
        .map(late_image_note)
        .chain(diff.retired_images.iter().map(retired_image_note))
        .collect();
    let mut notes: Vec<(NoteKind, String)> = fixes
        .iter()
        .take(max)
        .map(|fix| (NoteKind::Fix, fix.clone()))
        .collect();
    if fixes.len() > max {
        notes.push((
            NoteKind::Fix,
            format!(
                "+{} more images need `from:` or `until:` like these (`-v` or `--format json` lists them: late_images, retired_images).",
                fixes.len() - max
            ),
        ));
    }
    let repositories = &diff.repositories;
    if !repositories.now_missing.is_empty() {
        let n = repositories.now_missing.len();
        notes.push((NoteKind::Warning, format!(
            "{} of NEW {} no repository in {}: {}. A typo, or a private repository seen without credentials? prune --broken and --expired refuse while an expected repository is missing.",
            plural(n, "image", "images"),
            if n == 1 { "has" } else { "have" },
            diff.namespace,
            shorten(&repositories.now_missing, max)
        )));
    }
    if !repositories.now_unverified.is_empty() {
        notes.push((NoteKind::Warning, format!(
            "The registry neither lists nor denies {} of NEW: {}. prune --broken and --expired refuse until their existence is known.",
            plural(repositories.now_unverified.len(), "image", "images"),
            shorten(&repositories.now_unverified, max)
        )));
    }
    let platforms_changed = diff
        .settings
        .iter()
        .any(|s| s.setting == Setting::Platforms);
    if platforms_changed && diff.unverified_platforms > 0 {
        notes.push((NoteKind::Note, format!(
            "? Under NEW, {} images whose platforms the registry did not state, so the platforms change cannot show there (on Docker Hub, listings state none since August 2025): run the diff against the registry with --verify-platforms.",
            plural(diff.unverified_platforms, "build has", "builds have"),
        )));
    }
    notes
}

/// A diff for the renderers' snapshot tests, judged by the policy itself.
///
/// OLD: images base, nova, old-svc and typo (no repository), amd64 and
/// arm64, keep 2. NEW drops typo, adds zun (first pushed in rocky-4,
/// without `from:`), ends old-svc at rocky-3, widens the pattern to
/// `rocky-N-debug` and requires amd64 only. So rocky-1 and rocky-2 break
/// (zun), rocky-4 completes (old-svc), rocky-5-debug appears; prune refused
/// under OLD (typo), and under NEW retires three builds.
#[cfg(test)]
pub(crate) mod fixture {
    use chrono::Duration;

    use crate::inventory::{intern_platforms, Inventory, Repository, Tag};
    use crate::manifest::{parse_str, Manifest};
    use crate::policy::diff::{compare, judge, Diff, Side};
    use crate::render::fixture::now;

    pub fn old() -> Manifest {
        parse_str(
            "old.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nretention: {keep: 2}\nplatforms: [linux/amd64, linux/arm64]\nimages: [base, nova, old-svc, typo]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    pub fn new() -> Manifest {
        parse_str(
            "manifests/kolla.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+(-debug)?$'\nretention: {keep: 2}\nplatforms: [linux/amd64]\nimages:\n  - base\n  - nova\n  - name: old-svc\n    until: rocky-3\n  - zun\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    pub fn inventory() -> Inventory {
        let builds: [(&str, i64, &[&str]); 6] = [
            ("rocky-1", 96, &["base", "nova", "old-svc"]),
            ("rocky-2", 72, &["base", "nova", "old-svc"]),
            ("rocky-3", 48, &["base", "nova", "old-svc"]),
            ("rocky-4", 24, &["base", "nova", "zun"]),
            ("rocky-5", 1, &["base", "zun"]),
            ("rocky-5-debug", 20, &["base", "nova", "zun"]),
        ];
        let mut inv = Inventory::new("docker.io", "linaro");
        inv.taken_at = Some(now());
        for image in ["base", "nova", "old-svc", "zun"] {
            let tags = builds
                .iter()
                .filter(|(_, _, images)| images.contains(&image))
                .map(|&(name, hours_ago, _)| {
                    // rocky-3's base is amd64 only.
                    let platforms: &[&str] = if (name, image) == ("rocky-3", "base") {
                        &["linux/amd64"]
                    } else {
                        &["linux/amd64", "linux/arm64"]
                    };
                    Tag {
                        digest: Some(format!("sha256:{image}-{name}")),
                        pushed: Some(now() - Duration::hours(hours_ago)),
                        platforms: Some(intern_platforms(
                            platforms.iter().map(|p| p.parse().unwrap()).collect(),
                        )),
                        ..Tag::new(name)
                    }
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

    pub fn diff() -> Diff {
        diff_of(&old(), &new())
    }

    /// `old` and `new` compared on the fixture's inventory, as of `now()`.
    pub fn diff_of(old: &Manifest, new: &Manifest) -> Diff {
        let inv = inventory();
        let (o, n) = (
            judge(old, &inv, now(), |_| None),
            judge(new, &inv, now(), |_| None),
        );
        compare(
            Side {
                manifest: old,
                judgement: &o,
            },
            Side {
                manifest: new,
                judgement: &n,
            },
        )
    }
}
