//! `diff` as Markdown: the comment a pull request (or merge request) gets,
//! or a job's step summary. The short form first; every build in a folded
//! `<details>` when builds were grouped.

use super::{
    all_prune_lines, groups, headline, notes, status_word, tag_list, why, Group, NoteKind,
};
use crate::policy::diff::Diff;
use crate::policy::Status;
use crate::render::{short_time, summary_line, MAX_NAMES};

/// At most this many builds, one a row, in the details: a comment stays
/// well under GitHub's 65,536 characters however many builds change.
pub const MAX_DETAILED_BUILDS: usize = 200;

/// Escapes what would break a table cell (a regex's `|` too, even in code).
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// `` `name` ``, with backticks inside made harmless.
fn code(name: &str) -> String {
    format!("`{}`", name.replace('`', "'"))
}

fn status(status: Option<Status>) -> String {
    match status {
        Some(Status::Complete) => "✅ complete".to_string(),
        Some(Status::InProgress) => "⏳ in progress".to_string(),
        Some(Status::Broken) => "❌ **broken**".to_string(),
        None => status_word(None).to_string(),
    }
}

fn names(list: &[String]) -> String {
    list.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
}

/// The diff as a Markdown section.
pub fn render(diff: &Diff) -> String {
    let mut out = format!(
        "### tagsweep diff: `{}` on {}\n\n{} → {}, one inventory judged under both as of {}.\n\n**{}**\n",
        diff.namespace,
        diff.registry,
        code(&diff.old),
        code(&diff.new),
        short_time(Some(diff.as_of)),
        headline(diff)
    );
    let mut manifest: Vec<[String; 3]> = Vec::new();
    if !diff.images.added.is_empty() {
        manifest.push([
            "images added".into(),
            String::new(),
            names(&diff.images.added),
        ]);
    }
    if !diff.images.removed.is_empty() {
        manifest.push([
            "images removed".into(),
            names(&diff.images.removed),
            String::new(),
        ]);
    }
    for change in &diff.images.changed {
        manifest.push([code(&change.image), change.old.clone(), change.new.clone()]);
    }
    for setting in &diff.settings {
        let value = |v: &Option<String>| v.as_deref().map_or("(none)".to_string(), code);
        manifest.push([
            code(setting.setting.as_str()),
            value(&setting.old),
            value(&setting.new),
        ]);
    }
    if !manifest.is_empty() {
        out.push_str("\n| Manifest | OLD | NEW |\n|---|---|---|\n");
        for [what, old, new] in manifest {
            out.push_str(&format!("| {} | {} | {} |\n", what, cell(&old), cell(&new)));
        }
    }
    let grouped = groups(&diff.builds, diff, &code);
    if !grouped.is_empty() {
        out.push_str("\n| Builds | Status | Why |\n|---|---|---|\n");
        for Group {
            tags,
            old,
            new,
            why,
        } in &grouped
        {
            let builds = match tags.len() {
                1 => code(tags[0]),
                n => format!("{n} builds: {}", tag_list(tags, &code)),
            };
            out.push_str(&format!(
                "| {} | {} → {} | {} |\n",
                cell(&builds),
                status(*old),
                status(*new),
                cell(why)
            ));
        }
    }
    out.push_str(&format!(
        "\nBuilds under OLD: {} · under NEW: {}\n\n",
        summary_line(&diff.old_summary),
        summary_line(&diff.new_summary)
    ));
    let prune = all_prune_lines(diff, false, &code);
    for line in &prune {
        out.push_str(&format!("- {line}\n"));
    }
    for (kind, note) in notes(diff) {
        let label = match kind {
            NoteKind::Fix => "TIP",
            NoteKind::Warning => "WARNING",
            NoteKind::Note => "NOTE",
        };
        out.push_str(&format!("\n> [!{label}]\n> {note}\n"));
    }
    // What the short form shortened: builds beyond the few a row names,
    // deletions beyond the few a line names, the whole reason for a skip.
    let every_build = grouped.iter().any(|g| g.tags.len() > MAX_NAMES);
    let more_prune: Vec<String> = all_prune_lines(diff, true, &code)
        .into_iter()
        .filter(|line| !prune.contains(line))
        .collect();
    if every_build || !more_prune.is_empty() {
        out.push_str("\n<details><summary>Details</summary>\n\n");
        if every_build {
            out.push_str("| Build | OLD | NEW | Why |\n|---|---|---|---|\n");
            for b in diff.builds.iter().take(MAX_DETAILED_BUILDS) {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    cell(&code(&b.tag)),
                    status(b.old_status()),
                    status(b.new_status()),
                    cell(&why(b, diff, &code))
                ));
            }
            if let Some(more) = diff.builds.len().checked_sub(MAX_DETAILED_BUILDS) {
                if more > 0 {
                    out.push_str(&format!(
                        "\n… and {more} more builds: `--format json` lists every one.\n"
                    ));
                }
            }
            out.push('\n');
        }
        for line in &more_prune {
            out.push_str(&format!("- {line}\n"));
        }
        if !more_prune.is_empty() {
            out.push('\n');
        }
        out.push_str("</details>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::diff::fixture;

    #[test]
    fn every_kind_of_change() {
        insta::assert_snapshot!(render(&fixture::diff()), @r"
        ### tagsweep diff: `linaro` on docker.io

        `old.yaml` → `manifests/kolla.yaml`, one inventory judged under both as of 2026-11-20 12:00 UTC.

        **4 builds change status; prune deletes 3 more builds.**

        | Manifest | OLD | NEW |
        |---|---|---|
        | images added |  | `zun` |
        | images removed | `typo` |  |
        | `old-svc` | every build | until: rocky-3 |
        | `builds.pattern` | `^rocky-\d+$` | `^rocky-\d+(-debug)?$` |
        | `platforms` | `linux/amd64, linux/arm64` | `linux/amd64` |

        | Builds | Status | Why |
        |---|---|---|
        | `rocky-5-debug` | not a build → ✅ complete | matches builds.pattern now |
        | `rocky-4` | ❌ **broken** → ✅ complete | no longer expects `old-svc` |
        | 2 builds: `rocky-2`, `rocky-1` | ✅ complete → ❌ **broken** | missing `zun` |

        Builds under OLD: 5 builds: 2 complete, 2 broken, 1 in progress · under NEW: 6 builds: 2 complete, 3 broken, 1 in progress

        - prune --broken and --expired refuse under OLD, not under NEW: expected repository missing: typo
        - prune --broken: no change (deletes nothing under either)
        - prune --broken under NEW skips 3 builds (`rocky-3`, `rocky-2`, `rocky-1`): only images that joined or left the set are missing: a manifest change, see the fix
        - prune --expired under NEW also deletes 3 builds (9 tags): `rocky-3`, `rocky-2`, `rocky-1`
        - prune --expired under NEW: `rocky-3`, `rocky-2`, `rocky-1` expired, older than the 2 newest complete builds

        > [!TIP]
        > zun is in no build before rocky-4: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-4` to it in the manifest.

        <details><summary>Details</summary>

        - prune --broken under NEW skips 3 builds (`rocky-3`, `rocky-2`, `rocky-1`): only images that joined the set in a later build are missing: zun (first in rocky-4). This looks like a manifest change, not a broken build: add `from: rocky-4` to zun in the manifest; if those builds really lack it by accident, prune them by name with --build

        </details>
        ");
    }
}
