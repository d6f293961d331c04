//! `diff --format github`: GitHub Actions annotations on NEW's lines, so a
//! pull request shows what each change does where it is written — on an
//! added image's line, the builds it turns broken and the fix; on
//! `builds.pattern`, the builds that appear and disappear; on `platforms`
//! and `retention`, what they change. One annotation on the whole file sums
//! the diff up and says what no line explains.

use super::{all_prune_lines, groups, headline, notes, plain, status_word, tag_list, Detail};
use crate::manifest::{Location, Manifest};
use crate::policy::diff::{BuildChange, Diff, Setting};
use crate::policy::Status;
use crate::render::github::{annotation, Level};
use crate::render::{late_image_note, retired_image_note};

/// `2 builds (rocky-2, rocky-1): complete → broken, missing zun`, one line
/// per way the builds change.
fn change_lines(changes: &[&BuildChange], diff: &Diff) -> Vec<String> {
    groups(changes.iter().copied(), diff, &plain)
        .into_iter()
        .map(|g| {
            let builds = match g.tags.len() {
                1 => g.tags[0].to_string(),
                n => format!("{n} builds ({})", tag_list(&g.tags, &plain)),
            };
            let why = if g.why.is_empty() {
                String::new()
            } else {
                format!(", {}", g.why)
            };
            format!(
                "{builds}: {} → {}{why}",
                status_word(g.old),
                status_word(g.new)
            )
        })
        .collect()
}

/// A warning when a build turns broken; else a notice.
fn level(changes: &[&BuildChange]) -> Level {
    if changes
        .iter()
        .any(|c| c.new_status() == Some(Status::Broken) && c.old_status() != Some(Status::Broken))
    {
        Level::Warning
    } else {
        Level::Notice
    }
}

fn count(n: usize) -> String {
    format!("{n} build{}", if n == 1 { "" } else { "s" })
}

/// GitHub shows at most this many annotations of each level (warning,
/// notice, error) a step; the job's log has them all. Source: "Problem
/// Matchers", Limitations, in the actions/toolkit documentation.
pub const SHOWN_PER_LEVEL: usize = 10;

/// One annotation in the making.
struct Note {
    level: Level,
    /// `None`: the diff's NEW file; else the file a manifest warning is in.
    file: Option<String>,
    at: Option<Location>,
    title: bool,
    lines: Vec<String>,
}

/// The diff as annotations on `new` (the manifest NEW, as loaded: its
/// positions), one per line of output, after the manifests' warnings are
/// added (`old`'s and `new`'s, on their own lines, as `validate --format
/// github` prints them). The verdict comes first, on the file: GitHub
/// shows only [`SHOWN_PER_LEVEL`] annotations of a level a step, so at
/// most one fewer of each follow, and the verdict names the rest.
pub fn render(diff: &Diff, old: &Manifest, new: &Manifest) -> String {
    let mut notes_out: Vec<Note> = Vec::new();
    let mut explained: Vec<&str> = Vec::new();
    // Images whose fix (`from:`, `until:`) an annotation on their line says.
    let mut fixed: Vec<&str> = Vec::new();
    let by_image = |image: &str| -> Vec<&BuildChange> {
        diff.builds
            .iter()
            .filter(|b| {
                b.cause.now_missing.iter().any(|m| m == image)
                    || b.cause.no_longer_missing.iter().any(|m| m == image)
                    || b.cause.no_longer_expected.iter().any(|m| m == image)
            })
            .collect()
    };

    for image in &diff.images.added {
        let changes = by_image(image);
        let missing_repository = diff.repositories.now_missing.contains(image);
        if changes.is_empty() && !missing_repository {
            continue;
        }
        let mut lines = Vec::new();
        let mut level = level(&changes);
        if !changes.is_empty() {
            lines.push(format!("Adding {image} changes {}:", count(changes.len())));
            lines.extend(change_lines(&changes, diff));
        }
        if missing_repository {
            level = Level::Warning;
            lines.push(format!(
                "{image} has no repository in {}: a typo, or a private repository seen without credentials? prune refuses while it is missing.",
                diff.namespace
            ));
        }
        lines.extend(fixes(diff, image));
        fixed.push(image);
        explained.extend(changes.iter().map(|c| c.tag.as_str()));
        notes_out.push(Note {
            level,
            file: None,
            at: new.image(image).map(|i| i.at),
            title: true,
            lines,
        });
    }
    for change in &diff.images.changed {
        let changes = by_image(&change.image);
        if changes.is_empty() {
            continue;
        }
        let mut lines = vec![format!(
            "{}: {} → {} changes {}:",
            change.image,
            change.old,
            change.new,
            count(changes.len())
        )];
        lines.extend(change_lines(&changes, diff));
        lines.extend(fixes(diff, &change.image));
        fixed.push(&change.image);
        explained.extend(changes.iter().map(|c| c.tag.as_str()));
        notes_out.push(Note {
            level: level(&changes),
            file: None,
            at: new.image(&change.image).map(|i| i.at),
            title: true,
            lines,
        });
    }
    for image in &diff.images.removed {
        let changes = by_image(image);
        if changes.is_empty() {
            continue;
        }
        let mut lines = vec![format!(
            "Removing {image} changes {}:",
            count(changes.len())
        )];
        lines.extend(change_lines(&changes, diff));
        explained.extend(changes.iter().map(|c| c.tag.as_str()));
        // NEW has no line for it: on the file, by name.
        notes_out.push(Note {
            level: level(&changes),
            file: None,
            at: None,
            title: true,
            lines,
        });
    }
    for setting in &diff.settings {
        let (changes, at): (Vec<&BuildChange>, Option<Location>) = match setting.setting {
            Setting::Pattern => (
                diff.builds
                    .iter()
                    .filter(|b| b.cause.pattern.is_some())
                    .collect(),
                new.locations.pattern,
            ),
            Setting::Platforms => (
                diff.builds
                    .iter()
                    .filter(|b| {
                        !b.cause.now_missing_platforms.is_empty()
                            || !b.cause.no_longer_missing_platforms.is_empty()
                    })
                    .collect(),
                new.locations.platforms,
            ),
            Setting::Grace => (
                diff.builds
                    .iter()
                    .filter(|b| b.old.is_some() && b.new.is_some() && b.cause == Default::default())
                    .collect(),
                new.locations.grace,
            ),
            Setting::Retention => {
                if let Some(expired) = &diff.prune_expired {
                    let lines =
                        super::prune_lines("--expired", expired, diff, Detail::SHORT, &plain);
                    notes_out.push(Note {
                        level: if expired.has_findings() {
                            Level::Warning
                        } else {
                            Level::Notice
                        },
                        file: None,
                        at: new.locations.retention,
                        title: true,
                        lines: std::iter::once(format!(
                            "retention: {} → {}",
                            setting.old.as_deref().unwrap_or("(none)"),
                            setting.new.as_deref().unwrap_or("(none)")
                        ))
                        .chain(lines)
                        .collect(),
                    });
                }
                continue;
            }
            Setting::Protect => continue,
        };
        if changes.is_empty() {
            continue;
        }
        let mut lines = vec![format!(
            "{}: {} → {} changes {}:",
            setting.setting.as_str(),
            setting.old.as_deref().unwrap_or("(none)"),
            setting.new.as_deref().unwrap_or("(none)"),
            count(changes.len())
        )];
        lines.extend(change_lines(&changes, diff));
        explained.extend(changes.iter().map(|c| c.tag.as_str()));
        notes_out.push(Note {
            level: level(&changes),
            file: None,
            at,
            title: true,
            lines,
        });
    }

    // The whole file: the verdict, what prune does, and what no line explains.
    let mut lines = vec![headline(diff)];
    let unexplained: Vec<&BuildChange> = diff
        .builds
        .iter()
        .filter(|b| !explained.contains(&b.tag.as_str()))
        .collect();
    if !unexplained.is_empty() {
        lines.extend(change_lines(&unexplained, diff));
    }
    lines.extend(all_prune_lines(diff, Detail::SHORT, &plain));
    // The fixes no line says (an image a changed pattern or platforms
    // show late, say), so that `see the fix` points at one.
    lines.extend(
        diff.late_images
            .iter()
            .filter(|l| !fixed.contains(&l.image.as_str()))
            .map(late_image_note)
            .chain(
                diff.retired_images
                    .iter()
                    .filter(|r| !fixed.contains(&r.image.as_str()))
                    .map(retired_image_note),
            ),
    );
    lines.extend(
        notes(diff, Detail::SHORT.names)
            .into_iter()
            .filter(|(kind, _)| *kind != super::NoteKind::Fix)
            .map(|(_, note)| note),
    );
    // The manifests' warnings, as `validate --format github` prints them.
    for warning in old.warnings.iter().chain(&new.warnings) {
        notes_out.push(Note {
            level: Level::Warning,
            file: Some(warning.file.clone()),
            at: Some(Location {
                line: warning.line,
                column: warning.column,
            }),
            title: false,
            lines: vec![warning.message.clone()],
        });
    }
    let verdict_level = if diff.has_findings() {
        Level::Warning
    } else {
        Level::Notice
    };
    // What GitHub would not show: past one fewer than it shows of a level
    // (the verdict takes one).
    let mut shown: Vec<Note> = Vec::new();
    let mut hidden: Vec<Note> = Vec::new();
    for note in notes_out {
        let of_level = shown.iter().filter(|n| n.level == note.level).count();
        if of_level + 1 < SHOWN_PER_LEVEL {
            shown.push(note);
        } else {
            hidden.push(note);
        }
    }
    if !hidden.is_empty() {
        let places: Vec<String> = hidden
            .iter()
            .map(|n| match (&n.file, n.at) {
                (Some(file), Some(at)) => format!("{file}:{}", at.line),
                (None, Some(at)) => format!("line {}", at.line),
                _ => "the file".to_string(),
            })
            .collect();
        lines.push(format!(
            "…and {} more annotations ({}): GitHub shows {SHOWN_PER_LEVEL} of each level a step; the job's log has them all.",
            hidden.len(),
            crate::render::shorten(&places, SHOWN_PER_LEVEL)
        ));
    }
    shown.insert(
        0,
        Note {
            level: verdict_level,
            file: None,
            at: None,
            title: true,
            lines,
        },
    );

    let mut out = String::new();
    for note in shown {
        out.push_str(&annotation(
            note.level,
            note.file.as_deref().unwrap_or(&diff.new),
            note.at,
            note.title.then_some("tagsweep diff"),
            &note.lines.join("\n"),
        ));
        out.push('\n');
    }
    // The rest, in the log as plain lines (`FILE:LINE:COL: warning: …`),
    // so that nothing is lost.
    for note in hidden {
        let file = note.file.as_deref().unwrap_or(&diff.new);
        let place = match note.at {
            Some(at) => format!("{file}:{}:{}", at.line, at.column),
            None => file.to_string(),
        };
        out.push_str(&format!(
            "{place}: {}: {}\n",
            note.level.as_str(),
            note.lines.join("\n  ")
        ));
    }
    out
}

/// The audit's fix for `image` under NEW, if it suggests one.
fn fixes(diff: &Diff, image: &str) -> Vec<String> {
    diff.late_images
        .iter()
        .filter(|l| l.image == image)
        .map(late_image_note)
        .chain(
            diff.retired_images
                .iter()
                .filter(|r| r.image == image)
                .map(retired_image_note),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::diff::fixture;

    /// A shorter grace turns the build in progress broken: said on
    /// `builds.grace`, the only change that explains it.
    #[test]
    fn a_grace_change_is_annotated_on_grace() {
        let old = fixture::new();
        let src = "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+(-debug)?$'\n  grace: 30m\nretention: {keep: 2}\nplatforms: [linux/amd64]\nimages:\n  - base\n  - nova\n  - name: old-svc\n    until: rocky-3\n  - zun\n";
        let new = crate::manifest::parse_str("manifests/kolla.yaml", src).unwrap();
        let diff = fixture::diff_of(&old, &new);
        insta::assert_snapshot!(render(&diff, &old, &new), @"
        ::warning file=manifests/kolla.yaml,title=tagsweep diff::1 build changes status; prune deletes 1 more build.%0Aprune --broken under NEW also deletes 1 build (2 tags): rocky-5%0Aprune --expired: no change (deletes the same 3 builds under both: rocky-3, rocky-2, rocky-1)
        ::warning file=manifests/kolla.yaml,line=4,col=10,title=tagsweep diff::builds.grace: 2h → 30m changes 1 build:%0Arocky-5: in progress → broken, builds.grace 2h → 30m
        ");
    }

    /// A wider pattern makes rocky-1 to rocky-3 builds, which lack zun
    /// (first in rocky-4): the fix is on no image's line (zun is neither
    /// added nor changed), so the verdict says it, and the skip points at it.
    #[test]
    fn a_fix_no_line_says_is_in_the_verdict() {
        use crate::manifest::parse_str;
        let manifest = |pattern: &str| {
            parse_str(
                "m.yaml",
                &format!(
                    "namespace: linaro\nbuilds:\n  pattern: '{pattern}'\nimages: [base, zun]\n"
                ),
            )
            .unwrap()
        };
        let (old, new) = (manifest("^rocky-[4-9]$"), manifest("^rocky-\\d$"));
        let diff = fixture::diff_of(&old, &new);
        assert!(diff.images.is_empty());
        let out = render(&diff, &old, &new);
        let verdict = out.lines().next().unwrap();
        assert!(
            verdict.starts_with("::warning file=m.yaml,title=tagsweep diff::"),
            "{out}"
        );
        assert!(verdict.contains("a manifest change, see the fix"), "{out}");
        assert!(
            verdict.contains("Add `from: rocky-4` to it in the manifest."),
            "{out}"
        );
    }

    #[test]
    fn annotations_on_the_lines_of_new() {
        insta::assert_snapshot!(render(&fixture::diff(), &fixture::old(), &fixture::new()), @r"
        ::warning file=manifests/kolla.yaml,title=tagsweep diff::4 builds change status; prune deletes 3 more builds.%0Aprune --broken and --expired refuse under OLD, not under NEW: expected repository missing: typo%0Aprune --broken: no change (deletes nothing under either)%0Aprune --broken under NEW skips 3 builds (rocky-3, rocky-2, rocky-1): only images that joined or left the set are missing: a manifest change, see the fix%0Aprune --expired under NEW also deletes 3 builds (9 tags): rocky-3, rocky-2, rocky-1%0Aprune --expired under NEW: rocky-3, rocky-2, rocky-1 expired, older than the 2 newest complete builds
        ::warning file=manifests/kolla.yaml,line=11,col=5,title=tagsweep diff::Adding zun changes 2 builds:%0A2 builds (rocky-2, rocky-1): complete → broken, missing zun%0Azun is in no build before rocky-4: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-4` to it in the manifest.
        ::notice file=manifests/kolla.yaml,line=9,col=11,title=tagsweep diff::old-svc: every build → until: rocky-3 changes 1 build:%0Arocky-4: broken → complete, no longer expects old-svc
        ::notice file=manifests/kolla.yaml,line=3,col=12,title=tagsweep diff::builds.pattern: ^rocky-\d+$ → ^rocky-\d+(-debug)?$ changes 1 build:%0Arocky-5-debug: not a build → complete, matches builds.pattern now
        ");
    }
}
