//! `diff` as Markdown: the comment a pull request (or merge request) gets,
//! or a job's step summary. The short form first; every build in a folded
//! `<details>` when builds were grouped.

use super::{
    all_prune_lines, groups, headline, notes, status_word, tag_list, why, Detail, Group, NoteKind,
};
use crate::policy::diff::Diff;
use crate::policy::Status;
use crate::render::{short_time, shorten, summary_line, MAX_NAMES};

/// At most this many builds, one a row, in the details, and this many
/// names in a list there.
pub const MAX_DETAILED_BUILDS: usize = 200;

/// The whole Markdown stays under this many bytes, however large the
/// change: GitHub refuses a comment over 65,536 characters (a character is
/// at least one byte), and leaves room for a few words around it. What does
/// not fit is counted, and `--format json` lists it.
pub const MAX_BYTES: usize = 60_000;

/// At most this many rows of builds changing alike in the short form.
pub const MAX_GROUPS: usize = 10;

/// At most this many characters of a setting's value (a long regex).
const MAX_VALUE: usize = 300;

/// Escapes what would break a table cell (a regex's `|` too, even in code).
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// `name` as a code span: fenced by one more backtick than the longest run
/// inside it, and padded with a space where it starts or ends with a
/// backtick (CommonMark strips one space each side), so that any name,
/// backticks and all, shows as it is.
fn code(name: &str) -> String {
    let longest = name.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if name.starts_with('`') || name.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{name}{pad}{fence}")
}

/// `text`, cut to `max` characters with `…`.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn status(status: Option<Status>) -> String {
    match status {
        Some(Status::Complete) => "✅ complete".to_string(),
        Some(Status::InProgress) => "⏳ in progress".to_string(),
        Some(Status::Broken) => "❌ **broken**".to_string(),
        None => status_word(None).to_string(),
    }
}

/// `names` as code, at most `max` of them, then `+N more`.
fn names(list: &[String], max: usize) -> String {
    let named: Vec<String> = list.iter().map(|n| code(n)).collect();
    shorten(&named, max)
}

/// The details, piece by piece, as long as the whole stays under
/// [`MAX_BYTES`]; the pieces that did not fit are counted.
struct Budget {
    out: String,
    left_out: usize,
}

impl Budget {
    /// Room kept for the closing words.
    const RESERVE: usize = 300;

    fn push(&mut self, piece: &str) {
        if self.left_out == 0 && self.out.len() + piece.len() + Self::RESERVE <= MAX_BYTES {
            self.out.push_str(piece);
        } else {
            self.left_out += 1;
        }
    }
}

/// The diff as a Markdown section, under [`MAX_BYTES`] however many builds,
/// images and deletions change: every list is cut (the short form to a few
/// names, the details to [`MAX_DETAILED_BUILDS`]).
pub fn render(diff: &Diff) -> String {
    let mut out = format!(
        "### tagsweep diff: {} on {}\n\n{} → {}, one inventory judged under both as of {}.\n\n**{}**\n",
        code(&diff.namespace),
        diff.registry,
        code(&diff.old),
        code(&diff.new),
        short_time(Some(diff.as_of)),
        headline(diff)
    );
    // What the short form shortens; the details say it whole.
    let mut shortened = false;
    let mut manifest: Vec<[String; 3]> = Vec::new();
    if !diff.images.added.is_empty() {
        manifest.push([
            format!("images added ({})", diff.images.added.len()),
            String::new(),
            names(&diff.images.added, MAX_NAMES),
        ]);
    }
    if !diff.images.removed.is_empty() {
        manifest.push([
            format!("images removed ({})", diff.images.removed.len()),
            names(&diff.images.removed, MAX_NAMES),
            String::new(),
        ]);
    }
    shortened |= diff.images.added.len() > MAX_NAMES || diff.images.removed.len() > MAX_NAMES;
    for change in diff.images.changed.iter().take(MAX_NAMES) {
        manifest.push([code(&change.image), change.old.clone(), change.new.clone()]);
    }
    if let Some(more) = diff.images.changed.len().checked_sub(MAX_NAMES) {
        if more > 0 {
            shortened = true;
            manifest.push([
                format!("+{more} more images expected in other builds"),
                String::new(),
                String::new(),
            ]);
        }
    }
    for setting in &diff.settings {
        let value = |v: &Option<String>| {
            v.as_deref()
                .map_or("(none)".to_string(), |v| code(&clip(v, MAX_VALUE)))
        };
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
        } in grouped.iter().take(MAX_GROUPS)
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
        if let Some(more) = grouped.len().checked_sub(MAX_GROUPS) {
            if more > 0 {
                let builds: usize = grouped[MAX_GROUPS..].iter().map(|g| g.tags.len()).sum();
                out.push_str(&format!(
                    "| +{builds} more {}, changing in {more} other {} (details) | | |\n",
                    if builds == 1 { "build" } else { "builds" },
                    if more == 1 { "way" } else { "ways" }
                ));
            }
        }
    }
    out.push_str(&format!(
        "\nBuilds under OLD: {} · under NEW: {}\n\n",
        summary_line(&diff.old_summary),
        summary_line(&diff.new_summary)
    ));
    let prune = all_prune_lines(diff, Detail::SHORT, &code);
    for line in &prune {
        out.push_str(&format!("- {line}\n"));
    }
    let short_notes = notes(diff, MAX_NAMES);
    for (kind, note) in &short_notes {
        let label = match kind {
            NoteKind::Fix => "TIP",
            NoteKind::Warning => "WARNING",
            NoteKind::Note => "NOTE",
        };
        out.push_str(&format!("\n> [!{label}]\n> {note}\n"));
    }

    // What the short form shortened: builds beyond the few a row names,
    // deletions beyond the few a line names, the whole reason for a skip,
    // images beyond the few the manifest table names.
    let detail = Detail {
        names: MAX_DETAILED_BUILDS,
        reasons: true,
    };
    let every_build =
        grouped.len() > MAX_GROUPS || grouped.iter().any(|g| g.tags.len() > MAX_NAMES);
    let more_prune: Vec<String> = all_prune_lines(diff, detail, &code)
        .into_iter()
        .filter(|line| !prune.contains(line))
        .collect();
    let more_notes: Vec<String> = notes(diff, MAX_DETAILED_BUILDS)
        .into_iter()
        .filter(|note| !short_notes.contains(note))
        .map(|(_, note)| note)
        .collect();
    if !every_build && !shortened && more_prune.is_empty() && more_notes.is_empty() {
        return out;
    }
    let mut details = Budget {
        out: out + "\n<details><summary>Details</summary>\n\n",
        left_out: 0,
    };
    let lists = [
        ("Images added", &diff.images.added),
        ("Images removed", &diff.images.removed),
    ];
    for (what, list) in lists {
        if list.len() > MAX_NAMES {
            details.push(&format!(
                "{what} ({}): {}\n\n",
                list.len(),
                names(list, MAX_DETAILED_BUILDS)
            ));
        }
    }
    if diff.images.changed.len() > MAX_NAMES {
        details.push("| Image | OLD | NEW |\n|---|---|---|\n");
        for change in diff.images.changed.iter().take(MAX_DETAILED_BUILDS) {
            details.push(&format!(
                "| {} | {} | {} |\n",
                cell(&code(&change.image)),
                cell(&change.old),
                cell(&change.new)
            ));
        }
        details.push("\n");
    }
    if every_build {
        details.push("| Build | OLD | NEW | Why |\n|---|---|---|---|\n");
        for b in diff.builds.iter().take(MAX_DETAILED_BUILDS) {
            details.push(&format!(
                "| {} | {} | {} | {} |\n",
                cell(&code(&b.tag)),
                status(b.old_status()),
                status(b.new_status()),
                cell(&why(b, diff, &code))
            ));
        }
        if let Some(more) = diff.builds.len().checked_sub(MAX_DETAILED_BUILDS) {
            if more > 0 {
                details.push(&format!(
                    "\n… and {more} more builds: `--format json` lists every one.\n"
                ));
            }
        }
        details.push("\n");
    }
    for line in &more_prune {
        details.push(&format!("- {line}\n"));
    }
    if !more_prune.is_empty() {
        details.push("\n");
    }
    for note in &more_notes {
        details.push(&format!("> {note}\n\n"));
    }
    let Budget { mut out, left_out } = details;
    if left_out > 0 {
        out.push_str(
            "\n… and more than one comment holds: `--format json` lists every build, deletion and fix.\n\n",
        );
    }
    out.push_str("</details>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::diff::fixture;

    /// A name with backticks shows as it is: a longer fence, padded where
    /// the name starts or ends with one.
    #[test]
    fn code_spans_hold_any_name() {
        assert_eq!(code("rocky-1"), "`rocky-1`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("a``b`"), "``` a``b` ```");
        assert_eq!(code("`"), "`` ` ``");
    }

    #[test]
    fn every_kind_of_change() {
        insta::assert_snapshot!(render(&fixture::diff()), @r"
        ### tagsweep diff: `linaro` on docker.io

        `old.yaml` → `manifests/kolla.yaml`, one inventory judged under both as of 2026-11-20 12:00 UTC.

        **4 builds change status; prune deletes 3 more builds.**

        | Manifest | OLD | NEW |
        |---|---|---|
        | images added (1) |  | `zun` |
        | images removed (1) | `typo` |  |
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
