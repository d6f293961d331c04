//! `tagsweep diff OLD NEW`: what a manifest change does, end to end — from
//! the sample snapshot shipped in manifests/ (offline, no credentials), from
//! a generated snapshot of the 250-image Kolla set, and live against the
//! fake Docker Hub.

use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use serde_json::{json, Value};

use crate::support::fakehub::FakeHub;
use crate::support::{now, repo_file, run, tagsweep, Run, Workdir, NOW};

const SAMPLE: &str = "manifests/linaro-sample.yaml";
const ADDS_HORIZON: &str = "manifests/linaro-sample.adds-horizon.yaml";
const SNAPSHOT: &str = "manifests/linaro-sample.snapshot.json";

/// `tagsweep diff OLD NEW --from SNAPSHOT [extra…]`, run in `dir` (paths
/// relative to it print as given).
fn diff_in(dir: &Path, old: &str, new: &str, snapshot: &str, extra: &[&str]) -> Run {
    run(tagsweep()
        .current_dir(dir)
        .args(["diff", old, new, "--from", snapshot])
        .args(extra))
}

/// The same, in the repository (the shipped manifests and snapshot).
fn diff(old: &str, new: &str, extra: &[&str]) -> Run {
    diff_in(&repo_file(""), old, new, SNAPSHOT, extra)
}

/// The sample manifest with `from` replaced by `to` (which must be there),
/// written to `name` in `w`; its absolute path.
fn edited(w: &Workdir, name: &str, from: &str, to: &str) -> String {
    let sample = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    assert!(sample.contains(from), "{from:?} not in the sample");
    path(w.write(name, &sample.replacen(from, to, 1)))
}

fn path(p: PathBuf) -> String {
    p.to_str().unwrap().to_string()
}

fn json_of(out: &Run) -> Value {
    out.json()
}

/// `[(tag, old, new)]` of a JSON diff's builds.
fn changes(doc: &Value) -> Vec<(String, Value, Value)> {
    doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["tag"].as_str().unwrap().to_string(),
                b["old"].clone(),
                b["new"].clone(),
            )
        })
        .collect()
}

fn tags(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["tag"].as_str().unwrap())
        .collect()
}

/// The README's example: adding debian-source-horizon, first pushed in
/// rocky-40, turns rocky-37 broken; the diff says so, names the fix, and
/// prune deletes nothing more (it skips rocky-37 as a manifest change).
#[test]
fn an_added_image_turns_older_builds_broken_and_names_the_fix() {
    let out = diff(SAMPLE, ADDS_HORIZON, &[]);
    assert_eq!(out.code, 1, "a build changes status: {}", out.stderr);
    for expected in [
        "1 build changes status; prune deletes nothing more.",
        "images added (1): debian-source-horizon",
        "│ rocky-37 ┆ complete → BROKEN ┆ missing debian-source-horizon │",
        "prune --broken: no change (deletes the same 2 builds under both: rocky-39, rocky-38)",
        "Add `from: rocky-40` to it in the manifest.",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in:\n{}",
            out.stdout
        );
    }

    let doc = json_of(&diff(SAMPLE, ADDS_HORIZON, &["--format", "json"]));
    assert_eq!(
        changes(&doc),
        [("rocky-37".into(), json!("complete"), json!("broken"))]
    );
    assert_eq!(
        doc["late_images"],
        json!([{"image": "debian-source-horizon", "first_build": "rocky-40"}])
    );
    assert_eq!(tags(&doc["prune"]["broken"]["skipped"]), ["rocky-37"]);
    assert_eq!(doc["findings"], true);

    // With the fix, the same change is harmless: exit 0.
    let w = Workdir::new();
    let fixed = std::fs::read_to_string(repo_file(ADDS_HORIZON))
        .unwrap()
        .replace(
            "  - debian-source-horizon\n",
            "  - name: debian-source-horizon\n    from: rocky-40\n",
        );
    let fixed = path(w.write("fixed.yaml", &fixed));
    let out = diff(SAMPLE, &fixed, &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("No build changes status; prune deletes nothing more."),
        "{}",
        out.stdout
    );
}

/// Removing the image rocky-39 lacks makes it complete, and prune --broken
/// no longer deletes it; rocky-38 stays broken, but its tag in the removed
/// image is no longer prune's to delete. A status change: exit 1.
#[test]
fn a_removed_image_makes_its_builds_complete() {
    let w = Workdir::new();
    let new = edited(&w, "new.yaml", "  - debian-source-nova-api\n", "");
    let out = diff(SAMPLE, &new, &["--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = json_of(&out);
    assert_eq!(
        doc["manifest"]["images_removed"],
        json!(["debian-source-nova-api"])
    );
    assert_eq!(
        changes(&doc),
        [("rocky-39".into(), json!("broken"), json!("complete"))]
    );
    assert_eq!(
        doc["builds"][0]["why"],
        "no longer expects debian-source-nova-api"
    );
    let removed = &doc["prune"]["broken"]["removed"];
    assert_eq!(tags(removed), ["rocky-39", "rocky-38"]);
    assert_eq!(removed[0]["partial"], false);
    assert_eq!(removed[0]["repositories"].as_array().unwrap().len(), 4);
    assert_eq!(removed[1]["partial"], true);
    assert_eq!(
        removed[1]["repositories"],
        json!(["debian-source-nova-api"])
    );
    assert_eq!(tags(&doc["prune"]["broken"]["added"]), Vec::<&str>::new());
    assert_eq!(doc["summary"]["deletions_removed"], 2);
}

/// Removing keystone, whose rocky-38 is amd64 only, makes rocky-38
/// complete: the diff names the removal (not a platform NEW no longer
/// requires), and --format github says it on the file, by the image's name
/// (NEW has no line for it).
#[test]
fn removing_an_image_short_of_a_platform_names_the_removal() {
    let w = Workdir::new();
    let new = edited(&w, "new.yaml", "  - debian-source-keystone\n", "");
    let out = diff(SAMPLE, &new, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "│ rocky-38 ┆ BROKEN → complete ┆ no longer expects debian-source-keystone (short of linux/arm64) │"
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("no longer requires"), "{}", out.stdout);

    let out = diff(SAMPLE, &new, &["--format", "github"]);
    assert!(
        out.stdout.contains(&format!(
            "::notice file={new},title=tagsweep diff::Removing debian-source-keystone changes 1 build:%0Arocky-38: broken → complete, no longer expects debian-source-keystone (short of linux/arm64)\n"
        )),
        "{}",
        out.stdout
    );

    let doc = json_of(&diff(SAMPLE, &new, &["--format", "json"]));
    assert_eq!(
        doc["builds"][0]["no_longer_expected"],
        json!(["debian-source-keystone"])
    );
    assert_eq!(
        doc["builds"][0]["no_longer_missing_platforms"],
        json!({"debian-source-keystone": ["linux/arm64"]})
    );
}

/// Adding an image (glance) that carries every build adds its tag of the
/// broken rocky-39 and rocky-38, which prune deletes anyway: no build more,
/// two tags more — said so, not "2 more builds". Still a finding: prune
/// deletes more.
#[test]
fn an_image_added_to_builds_deleted_anyway_adds_tags_not_builds() {
    let w = Workdir::new();
    let mut snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file(SNAPSHOT)).unwrap()).unwrap();
    let base = snapshot["repositories"]["debian-source-base"].clone();
    let mut glance = base.clone();
    for tag in glance["tags"].as_array_mut().unwrap() {
        let digest = tag["digest"]
            .as_str()
            .unwrap()
            .replace("sha256:", "sha256:0");
        tag["digest"] = json!(digest[..71]);
    }
    snapshot["repositories"]["debian-source-glance"] = glance;
    let snapshot = path(w.write("inventory.json", &snapshot.to_string()));
    let new = edited(
        &w,
        "new.yaml",
        "  - debian-source-base\n",
        "  - debian-source-base\n  - debian-source-glance\n",
    );
    let out = diff_in(&repo_file(""), SAMPLE, &new, &snapshot, &[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    for expected in [
        "No build changes status; prune deletes no more builds, but 2 more tags of 2 builds it deletes anyway.",
        "prune --broken under NEW also deletes 2 more tags of 2 builds it deletes under OLD too: rocky-39 (in debian-source-glance), rocky-38 (in debian-source-glance)",
    ] {
        assert!(out.stdout.contains(expected), "{expected:?} in:\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("more builds."), "{}", out.stdout);
    let doc = json_of(&diff_in(
        &repo_file(""),
        SAMPLE,
        &new,
        &snapshot,
        &["--format", "json"],
    ));
    assert_eq!(doc["summary"]["deletions_added"], 2);
    assert_eq!(doc["summary"]["deleted_builds_added"], 0);
}

/// A narrower pattern drops rocky-37 and rocky-38, a wider one adds
/// `latest`: builds appear and disappear, and prune no longer deletes the
/// broken rocky-38.
#[test]
fn a_changed_pattern_makes_builds_appear_and_disappear() {
    let w = Workdir::new();
    let new = edited(
        &w,
        "new.yaml",
        r"pattern: '^rocky-\d+$'",
        r"pattern: '^(rocky-(39|4\d)|latest)$'",
    );
    let out = diff(SAMPLE, &new, &["--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = json_of(&out);
    let mut seen = changes(&doc);
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("latest".into(), json!(null), json!("complete")),
            ("rocky-37".into(), json!("complete"), json!(null)),
            ("rocky-38".into(), json!("broken"), json!(null)),
        ]
    );
    let pattern = |tag: &str| {
        doc["builds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["tag"] == tag)
            .unwrap()["pattern"]
            .clone()
    };
    assert_eq!(pattern("latest"), "matches_now");
    assert_eq!(pattern("rocky-37"), "no_longer_matches");
    assert_eq!(tags(&doc["prune"]["broken"]["removed"]), ["rocky-38"]);
    assert_eq!(doc["manifest"]["settings"][0]["setting"], "builds.pattern");
}

/// Requiring arm64 turns rocky-38 (keystone is amd64 only) broken, and
/// prune --broken now deletes it; no longer requiring it does the reverse.
#[test]
fn a_platforms_change_turns_builds_broken_and_prune_deletes_them() {
    let w = Workdir::new();
    let amd64 = edited(
        &w,
        "amd64.yaml",
        "platforms: [linux/amd64, linux/arm64]",
        "platforms: [linux/amd64]",
    );
    let out = diff(&amd64, SAMPLE, &["--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = json_of(&out);
    assert_eq!(
        changes(&doc),
        [("rocky-38".into(), json!("complete"), json!("broken"))]
    );
    assert_eq!(
        doc["builds"][0]["now_missing_platforms"],
        json!({"debian-source-keystone": ["linux/arm64"]})
    );
    let added = &doc["prune"]["broken"]["added"];
    assert_eq!(tags(added), ["rocky-38"]);
    assert_eq!(added[0]["repositories"].as_array().unwrap().len(), 5);

    let out = diff(SAMPLE, &amd64, &[]);
    assert_eq!(
        out.code, 1,
        "a status change, the other way: {}",
        out.stderr
    );
    assert!(
        out.stdout.contains(
            "│ rocky-38 ┆ BROKEN → complete ┆ no longer requires: debian-source-keystone (linux/arm64) │"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("prune --broken under NEW no longer deletes 1 build (5 tags): rocky-38"),
        "{}",
        out.stdout
    );
}

/// keep 2 → keep 1 retires three more builds: no status changes, but
/// prune --expired deletes more (exit 1). The reverse only deletes less:
/// exit 0.
#[test]
fn a_retention_change_changes_what_prune_expired_deletes() {
    let w = Workdir::new();
    let keep = |n: u32| {
        edited(
            &w,
            &format!("keep{n}.yaml"),
            "platforms:",
            &format!("retention: {{keep: {n}}}\nplatforms:"),
        )
    };
    let (two, one) = (keep(2), keep(1));
    let out = diff(&two, &one, &["--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = json_of(&out);
    assert!(doc["builds"].as_array().unwrap().is_empty());
    let expired = &doc["prune"]["expired"];
    assert_eq!(
        tags(&expired["added"]),
        ["rocky-39", "rocky-38", "rocky-37"]
    );
    assert_eq!(expired["added"][0]["reason"], "expired");
    assert_eq!(
        expired["added"][0]["retention"],
        "older than the newest complete build"
    );
    assert_eq!(
        doc["manifest"]["settings"],
        json!([{"setting": "retention", "old": "keep: 2", "new": "keep: 1"}])
    );

    let out = diff(&one, &two, &[]);
    assert_eq!(out.code, 0, "deleting less is no finding: {}", out.stdout);
    assert!(
        out.stdout.contains(
            "prune --expired under NEW no longer deletes 3 builds (14 tags): rocky-39, rocky-38, rocky-37"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn the_same_manifest_changes_nothing() {
    let out = diff(SAMPLE, SAMPLE, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("No build changes status; prune deletes nothing more."),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("Manifest:"), "{}", out.stdout);
}

/// An added image whose repository does not exist makes prune refuse:
/// exit 1, and said.
#[test]
fn an_image_without_a_repository_is_a_finding() {
    let w = Workdir::new();
    let new = edited(
        &w,
        "new.yaml",
        "  - debian-source-base\n",
        "  - debian-source-base\n  - debian-source-nova-apy\n",
    );
    let out = diff(SAMPLE, &new, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for expected in [
        "No build changes status; prune refuses now.",
        "prune --broken refuses under NEW: expected repository missing: debian-source-nova-apy",
        "1 image of NEW has no repository in linaro: debian-source-nova-apy.",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in:\n{}",
            out.stdout
        );
    }
}

/// Prune refusing under OLD already is no finding when NEW's refuses for
/// the same images, however they are ordered, or for fewer of them: a
/// refusal is compared by what refuses, not by its words. For --broken and
/// --expired alike (a manifest with retention).
#[test]
fn a_refusal_under_both_is_no_finding() {
    let w = Workdir::new();
    let sample = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    for retention in ["", "retention: {keep: 2}\n"] {
        let write = |name: &str, typos: &[&str]| {
            let mut text = format!("{retention}{sample}");
            for typo in typos {
                text.push_str(&format!("  - debian-source-{typo}\n"));
            }
            path(w.write(name, &text))
        };
        let ab = write("ab.yaml", &["typoa", "typob"]);
        let ba = write("ba.yaml", &["typob", "typoa"]);
        let a = write("a.yaml", &["typoa"]);
        let (kinds, still) = if retention.is_empty() {
            ("--broken refuses", "--broken still refuses")
        } else {
            (
                "--broken and --expired refuse",
                "--broken and --expired still refuse",
            )
        };

        let out = diff(&ab, &ba, &[]);
        assert_eq!(out.code, 0, "reordered: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stdout
                .contains("No build changes status; prune still refuses."),
            "{}",
            out.stdout
        );
        assert_eq!(
            out.stdout.matches("refuse").count(),
            2,
            "one line, and the headline: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!(
                "prune {kinds} under both: expected repositories missing: debian-source-typob, debian-source-typoa\n"
            )),
            "{}",
            out.stdout
        );

        let out = diff(&ab, &a, &[]);
        assert_eq!(out.code, 0, "one removed: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains(&format!(
                "prune {still} under NEW: expected repository missing: debian-source-typoa (under OLD: expected repositories missing: debian-source-typoa, debian-source-typob)\n"
            )),
            "{}",
            out.stdout
        );
        assert!(!out.stdout.contains("not under NEW"), "{}", out.stdout);

        let doc = json_of(&diff(&ab, &ba, &["--format", "json"]));
        assert_eq!(doc["findings"], false);
        assert_eq!(doc["prune"]["broken"]["refuses_now"], false);

        // One more missing image refuses now.
        let out = diff(&a, &ab, &[]);
        assert_eq!(out.code, 1, "one added: {}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("prune refuses now."), "{}", out.stdout);
        let doc = json_of(&diff(&a, &ab, &["--format", "json"]));
        assert_eq!(doc["prune"]["broken"]["refuses_now"], true);
    }
}

/// Both manifests are validated first, every problem as FILE:LINE:COL (as
/// `::error` annotations too with --format github): exit 2, and nothing
/// is read.
#[test]
fn invalid_manifests_are_errors_with_every_position() {
    let w = Workdir::new();
    w.write(
        "old.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [base]\nextra: 1\n",
    );
    w.write(
        "new.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-(\\d+$'}\nimages: [base]\n",
    );
    let out = run(tagsweep().current_dir(w.path()).args([
        "diff",
        "old.yaml",
        "new.yaml",
        "--from",
        "missing.json",
    ]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("both manifests are invalid (2 problems)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("old.yaml:4:1: unknown key 'extra'"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("new.yaml:2:19: "), "{}", out.stderr);
    assert!(
        !out.stderr.contains("missing.json"),
        "nothing is read: {}",
        out.stderr
    );
    assert!(out.stdout.is_empty());

    let out = run(tagsweep().current_dir(w.path()).args([
        "diff",
        "old.yaml",
        "new.yaml",
        "--from",
        "missing.json",
        "--format",
        "github",
    ]));
    assert_eq!(out.code, 2);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].starts_with("::error file=old.yaml,line=4,col=1::unknown key 'extra'"));
    assert!(lines[1].starts_with("::error file=new.yaml,line=2,col=19::"));
}

#[test]
fn operational_errors_exit_2() {
    let w = Workdir::new();
    let other = edited(&w, "other.yaml", "namespace: linaro", "namespace: kolla");
    let out = diff(SAMPLE, &other, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("names namespace linaro on docker.io")
            && out.stderr.contains("names namespace kolla on docker.io")
            && out
                .stderr
                .contains("must name the same registry and namespace"),
        "{}",
        out.stderr
    );

    let out = diff_in(
        &repo_file(""),
        SAMPLE,
        ADDS_HORIZON,
        "no-such-snapshot.json",
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("no-such-snapshot.json"),
        "{}",
        out.stderr
    );

    let out = diff(SAMPLE, "manifests/no-such.yaml", &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot read manifest manifests/no-such.yaml"),
        "{}",
        out.stderr
    );

    let out = diff(SAMPLE, ADDS_HORIZON, &["--now", "yesterday"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--now \"yesterday\""), "{}", out.stderr);
}

/// What a pull request adding debian-source-horizon gets as a comment.
#[test]
fn markdown_for_a_pull_request() {
    let out = diff(SAMPLE, ADDS_HORIZON, &["--format", "markdown"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout, @"
    ### tagsweep diff: `linaro` on docker.io

    `manifests/linaro-sample.yaml` → `manifests/linaro-sample.adds-horizon.yaml`, one inventory judged under both as of 2026-11-20 12:00 UTC.

    **1 build changes status; prune deletes nothing more.**

    | Manifest | OLD | NEW |
    |---|---|---|
    | images added (1) |  | `debian-source-horizon` |

    | Builds | Status | Why |
    |---|---|---|
    | `rocky-37` | ✅ complete → ❌ **broken** | missing `debian-source-horizon` |

    Builds under OLD: 5 builds: 2 complete, 2 broken, 1 in progress · under NEW: 5 builds: 1 complete, 3 broken, 1 in progress

    - prune --broken: no change (deletes the same 2 builds under both: `rocky-39`, `rocky-38`)
    - prune --broken under NEW skips 1 build (`rocky-37`): only images that joined or left the set are missing: a manifest change, see the fix

    > [!TIP]
    > debian-source-horizon is in no build before rocky-40: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-40` to it in the manifest.

    <details><summary>Details</summary>

    - prune --broken under NEW skips 1 build (`rocky-37`): only images that joined the set in a later build are missing: debian-source-horizon (first in rocky-40). This looks like a manifest change, not a broken build: add `from: rocky-40` to debian-source-horizon in the manifest; if those builds really lack it by accident, prune them by name with --build

    </details>
    ");
}

/// The annotations a pull request adding debian-source-horizon gets: on
/// the added image's line (26 of the file), and on the file.
#[test]
fn github_annotations_for_a_pull_request() {
    let out = diff(SAMPLE, ADDS_HORIZON, &["--format", "github"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let line = std::fs::read_to_string(repo_file(ADDS_HORIZON))
        .unwrap()
        .lines()
        .position(|l| l == "  - debian-source-horizon")
        .unwrap()
        + 1;
    // The verdict first, on the file; then the line.
    assert!(
        out.stdout.starts_with(&format!(
            "::warning file={ADDS_HORIZON},title=tagsweep diff::1 build changes status"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.lines().nth(1).unwrap().starts_with(&format!(
            "::warning file={ADDS_HORIZON},line={line},col=5,title=tagsweep diff::Adding debian-source-horizon"
        )),
        "{}",
        out.stdout
    );
    insta::assert_snapshot!(out.stdout, @"
    ::warning file=manifests/linaro-sample.adds-horizon.yaml,title=tagsweep diff::1 build changes status; prune deletes nothing more.%0Aprune --broken: no change (deletes the same 2 builds under both: rocky-39, rocky-38)%0Aprune --broken under NEW skips 1 build (rocky-37): only images that joined or left the set are missing: a manifest change, see the fix
    ::warning file=manifests/linaro-sample.adds-horizon.yaml,line=26,col=5,title=tagsweep diff::Adding debian-source-horizon changes 1 build:%0Arocky-37: complete → broken, missing debian-source-horizon%0Adebian-source-horizon is in no build before rocky-40: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-40` to it in the manifest.
    ");
}

/// Narrowing builds.pattern to rocky-39 and later makes nova-api (not in
/// rocky-39) look like an image that joined the set in rocky-40: prune
/// skips rocky-39 as a manifest change. No fix is printed for it (it
/// explains no changed build), so the skip names the fix instead of
/// pointing at one; where the fix is printed (adding horizon), it points.
#[test]
fn a_skip_names_the_fix_where_none_is_printed() {
    let w = Workdir::new();
    let new = edited(
        &w,
        "new.yaml",
        r"pattern: '^rocky-\d+$'",
        r"pattern: '^rocky-(39|4\d)$'",
    );
    let named = "skips 1 build (rocky-39): only images that joined or left the set are missing: a manifest change; the fix: `from: rocky-40` on debian-source-nova-api";
    for format in ["table", "github", "markdown"] {
        let out = diff(SAMPLE, &new, &["--format", format]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(
            !out.stdout.contains("see the fix"),
            "{format}: {}",
            out.stdout
        );
        let expected = match format {
            "markdown" => named
                .replace("(rocky-39)", "(`rocky-39`)")
                .replace("on debian-source-nova-api", "on `debian-source-nova-api`"),
            _ => named.to_string(),
        };
        assert!(out.stdout.contains(&expected), "{format}: {}", out.stdout);
    }
    for format in ["table", "github"] {
        let out = diff(SAMPLE, ADDS_HORIZON, &["--format", format]);
        assert!(
            out.stdout.contains("a manifest change, see the fix"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("Add `from: rocky-40` to it"),
            "{}",
            out.stdout
        );
    }
}

/// GitHub shows 10 annotations of each level a step, in the order printed:
/// the verdict comes first, at most 9 more warnings follow, and the verdict
/// says where the rest are (printed as plain lines, for the log).
#[test]
fn github_annotations_put_the_verdict_first_within_what_github_shows() {
    let w = Workdir::new();
    let typos: String = (1..=12)
        .map(|i| format!("  - debian-source-typo-{i:02}\n"))
        .collect();
    let sample = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    let new = path(w.write("new.yaml", &format!("{sample}{typos}")));
    let out = diff(SAMPLE, &new, &["--format", "github"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "::warning file={new},title=tagsweep diff::No build changes status; prune refuses now."
        )),
        "{}",
        out.stdout
    );
    let warnings = lines.iter().filter(|l| l.starts_with("::warning ")).count();
    assert_eq!(warnings, 10, "{}", out.stdout);
    assert!(
        lines[0].ends_with(
            "…and 3 more annotations (line 31, line 32, line 33): GitHub shows 10 of each level a step; the job's log has them all."
        ),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[10..],
        (10..=12)
            .map(|i| format!(
                "{new}:{}:5: warning: debian-source-typo-{i} has no repository in linaro: a typo, or a private repository seen without credentials? prune refuses while it is missing.",
                i + 21
            ))
            .collect::<Vec<_>>()
    );
}

/// The manifests' warnings are annotations on their lines, as `validate
/// --format github` prints them, after the verdict; not stderr text.
#[test]
fn github_annotations_carry_the_manifests_warnings() {
    let w = Workdir::new();
    let sample = std::fs::read_to_string(repo_file(SAMPLE)).unwrap();
    let unanchored = sample
        .replace(r"pattern: '^rocky-\d+$'", r"pattern: 'rocky-\d+'  ")
        .replace("platforms:", "retention: {keep: 3}\nplatforms:");
    let new = path(w.write("new.yaml", &unanchored));
    let out = diff(SAMPLE, &new, &["--format", "github"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("::notice file="), "{}", out.stdout);
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "::warning file={new},line=9,col=12::'builds.pattern' 'rocky-\\d+' is not anchored"
        ))),
        "{}",
        out.stdout
    );
    // The table says it on stderr, as before.
    let out = diff(SAMPLE, &new, &[]);
    assert!(
        out.stderr.contains(&format!(
            "tagsweep: {new}:9:12: warning: 'builds.pattern' 'rocky-\\d+' is not anchored"
        )),
        "{}",
        out.stderr
    );
}

/// A snapshot of Linaro's 250 Kolla images with builds rocky-36 to rocky-40,
/// all complete on linux/arm64, and debian-source-placement-api, pushed
/// from rocky-39 on (outside the manifest).
fn kolla_snapshot() -> Value {
    let manifest = std::fs::read_to_string(repo_file("manifests/linaro-kolla.yaml")).unwrap();
    let images: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("  - "))
        .chain(["debian-source-placement-api"])
        .collect();
    assert_eq!(images.len(), 251);
    let mut repositories = serde_json::Map::new();
    for image in images {
        let first = if image == "debian-source-placement-api" {
            39
        } else {
            36
        };
        let tags: Vec<Value> = (first..=40)
            .map(|n| {
                json!({
                    "name": format!("rocky-{n}"),
                    "digest": format!("sha256:{image}-{n}"),
                    "pushed": crate::support::now() - TimeDelta::days(41 - n),
                    "platforms": ["linux/arm64"],
                })
            })
            .collect();
        repositories.insert(image.to_string(), json!({"private": false, "tags": tags}));
    }
    json!({
        "format": 2,
        "registry": "docker.io",
        "namespace": "linaro",
        "taken_at": NOW,
        "repositories": repositories,
    })
}

/// The closing note of issue 12: the Markdown a pull request gets for adding
/// debian-source-placement-api to manifests/linaro-kolla.yaml, from the
/// last scheduled audit's snapshot, as the README's recipe runs it.
#[test]
fn markdown_for_adding_an_image_to_the_kolla_set() {
    let w = Workdir::new();
    w.write("inventory.json", &kolla_snapshot().to_string());
    std::fs::create_dir_all(w.path().join("base")).unwrap();
    std::fs::create_dir_all(w.path().join("manifests")).unwrap();
    let kolla = std::fs::read_to_string(repo_file("manifests/linaro-kolla.yaml")).unwrap();
    w.write("base/linaro-kolla.yaml", &kolla);
    // In alphabetical order, as a reviewer would ask for.
    let added = kolla.replacen(
        "  - debian-source-panko-base\n",
        "  - debian-source-panko-base\n  - debian-source-placement-api\n",
        1,
    );
    assert_ne!(added, kolla);
    w.write("manifests/linaro-kolla.yaml", &added);
    let out = diff_in(
        w.path(),
        "base/linaro-kolla.yaml",
        "manifests/linaro-kolla.yaml",
        "inventory.json",
        &["--format", "markdown"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout, @"
    ### tagsweep diff: `linaro` on docker.io

    `base/linaro-kolla.yaml` → `manifests/linaro-kolla.yaml`, one inventory judged under both as of 2026-11-20 12:00 UTC.

    **3 builds change status; prune deletes nothing more.**

    | Manifest | OLD | NEW |
    |---|---|---|
    | images added (1) |  | `debian-source-placement-api` |

    | Builds | Status | Why |
    |---|---|---|
    | 3 builds: `rocky-38`, `rocky-37`, `rocky-36` | ✅ complete → ❌ **broken** | missing `debian-source-placement-api` |

    Builds under OLD: 5 builds: 5 complete, 0 broken, 0 in progress · under NEW: 5 builds: 2 complete, 3 broken, 0 in progress

    - prune --broken: no change (deletes nothing under either)
    - prune --broken under NEW skips 3 builds (`rocky-38`, `rocky-37`, `rocky-36`): only images that joined or left the set are missing: a manifest change, see the fix

    > [!TIP]
    > debian-source-placement-api is in no build before rocky-39: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add `from: rocky-39` to it in the manifest.

    <details><summary>Details</summary>

    - prune --broken under NEW skips 3 builds (`rocky-38`, `rocky-37`, `rocky-36`): only images that joined the set in a later build are missing: debian-source-placement-api (first in rocky-39). This looks like a manifest change, not a broken build: add `from: rocky-39` to debian-source-placement-api in the manifest; if those builds really lack it by accident, prune them by name with --build

    </details>
    ");
}

/// Live, the diff reads the registry once for both manifests and says what
/// it says from a snapshot of the same registry.
#[test]
fn a_live_diff_says_what_one_from_a_snapshot_says() {
    let t = |h: i64| now() - TimeDelta::hours(h);
    let mut hub = FakeHub::builder();
    for (repo, builds) in [
        ("debian-source-base", &[3, 2, 1][..]),
        ("debian-source-nova-api", &[3, 2, 1]),
        ("debian-source-zun-compute", &[3]),
    ] {
        let mut r = hub.repo("linaro", repo);
        for &n in builds {
            r = r.tag(&format!("rocky-{n}"), t(100 - n));
        }
        hub = r.done();
    }
    let hub = hub.start();
    let w = Workdir::new();
    let old = w.write(
        "old.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base, debian-source-nova-api]\n",
    );
    let new = w.write(
        "new.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base, debian-source-nova-api, debian-source-zun-compute]\n",
    );
    let live = run(tagsweep()
        .arg("diff")
        .args([&old, &new])
        .args(["--format", "json", "--now", NOW])
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(live.code, 1, "{}", live.stderr);
    assert_eq!(
        changes(&live.json()),
        [
            ("rocky-2".into(), json!("complete"), json!("broken")),
            ("rocky-1".into(), json!("complete"), json!("broken")),
        ]
    );

    let snap = w.path().join("inventory.json");
    let saved = run(tagsweep()
        .args(["snapshot", "-m"])
        .arg(&old)
        .arg("-o")
        .arg(&snap)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    drop(hub);
    let offline = run(tagsweep()
        .arg("diff")
        .args([&old, &new])
        .args(["--format", "json", "--now", NOW, "--from"])
        .arg(&snap));
    assert_eq!(offline.code, live.code, "{}", offline.stderr);
    assert_eq!(offline.json(), live.json());
}

/// An added image outside the set's name prefix makes the diff read every
/// repository of the namespace, which a snapshot taken with OLD did not
/// record: the error names the added image (not the first unrecorded
/// repository), says which manifest the snapshot fits, and what to do.
#[test]
fn an_image_outside_the_snapshots_prefix_is_named() {
    let w = Workdir::new();
    let new = edited(
        &w,
        "new.yaml",
        "  - debian-source-base\n",
        "  - debian-source-base\n  - zzz-other\n",
    );
    let out = diff(SAMPLE, &new, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "tagsweep: error: {SNAPSHOT}: NEW ({new}) adds zzz-other, outside the prefix debian-source- \
             that OLD's images share: a diff of both then reads every repository of linaro, and this \
             snapshot, taken with OLD (or a manifest like it), did not record them all. Take a new \
             snapshot with NEW (tagsweep snapshot -m {new} -o FILE), or with a manifest of both's \
             images, and diff from it\n"
        )
    );
    // The other way round: OLD has it, NEW removes it.
    let out = diff(&new, SAMPLE, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "OLD ({new}) has zzz-other, which NEW removes, outside the prefix debian-source- that NEW's images share"
        )) && out.stderr.contains("Take a new snapshot with OLD"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("ubuntu-binary-base"), "{}", out.stderr);
}

/// The Markdown of a huge change fits one GitHub comment (65,536
/// characters), every list in it cut: 3,000 builds with long tags, changing
/// in ten ways; 310 images added, 300 of them without a repository (prune
/// refuses, naming them); and a retention change that retires 2,999 builds
/// while prune --broken skips 2,997. `--format json` still lists every one.
#[test]
fn the_markdown_of_a_huge_change_fits_a_github_comment() {
    const BUILDS: usize = 3000;
    let tag = |n: usize| {
        format!("release-candidate-build-of-the-whole-openstack-kolla-set-for-aarch64-{n:05}")
    };
    let mut repositories = serde_json::Map::new();
    let mut image = |name: &str, carries: &dyn Fn(usize) -> bool| {
        let tags: Vec<Value> = (1..=BUILDS)
            .filter(|&n| carries(n))
            .map(|n| {
                json!({
                    "name": tag(n),
                    "digest": format!("sha256:{name}-{n}"),
                    "pushed": now() - TimeDelta::minutes(10 * (BUILDS - n) as i64 + 600),
                    "platforms": ["linux/arm64"],
                })
            })
            .collect();
        repositories.insert(name.to_string(), json!({"private": false, "tags": tags}));
    };
    image("app-a", &|_| true);
    image("app-b", &|n| n > BUILDS - 3);
    for k in 0..10 {
        image(&format!("img-{k}"), &|n| n % 10 != k);
    }
    let snapshot = json!({
        "format": 2, "registry": "docker.io", "namespace": "linaro", "taken_at": NOW,
        "repositories": repositories,
    });
    let w = Workdir::new();
    w.write("inventory.json", &snapshot.to_string());
    let head = "namespace: linaro\nbuilds:\n  pattern: '^release-candidate-build-.*$'\n";
    let images =
        |names: &[String]| -> String { names.iter().map(|n| format!("  - {n}\n")).collect() };
    let mut added: Vec<String> = vec!["app-a".into(), "app-b".into()];
    added.extend((0..10).map(|k| format!("img-{k}")));
    added.extend((0..300).map(|k| format!("typo-{k:03}")));
    w.write("old.yaml", &format!("{head}images:\n  - app-a\n"));
    w.write("new.yaml", &format!("{head}images:\n{}", images(&added)));
    w.write(
        "old-r.yaml",
        &format!("{head}retention: {{keep: {BUILDS}}}\nimages:\n  - app-a\n"),
    );
    w.write(
        "new-r.yaml",
        &format!("{head}retention: {{keep: 1}}\nimages:\n  - app-a\n  - app-b\n"),
    );
    for (old, new) in [("old.yaml", "new.yaml"), ("old-r.yaml", "new-r.yaml")] {
        let out = diff_in(
            w.path(),
            old,
            new,
            "inventory.json",
            &["--format", "markdown"],
        );
        assert_eq!(out.code, 1, "{}", out.stderr);
        let chars = out.stdout.chars().count();
        assert!(
            chars < 65_536,
            "{old} → {new}: {chars} characters:\n{}",
            &out.stdout[..4000]
        );
        assert!(out.stdout.contains("--format json"), "{}", out.stdout);
        assert!(out.stdout.ends_with("</details>\n"), "{}", out.stdout);
    }
    // The details name the first 200 of the 300 missing repositories.
    let out = diff_in(
        w.path(),
        "old.yaml",
        "new.yaml",
        "inventory.json",
        &["--format", "markdown"],
    );
    assert!(out.stdout.contains("typo-199, +100 more"), "{}", out.stdout);
    let doc = json_of(&diff_in(
        w.path(),
        "old.yaml",
        "new.yaml",
        "inventory.json",
        &["--format", "json"],
    ));
    assert_eq!(doc["builds"].as_array().unwrap().len(), BUILDS);
    assert_eq!(
        doc["missing_repositories"]["now"].as_array().unwrap().len(),
        300
    );
}

/// The README's GitLab CI recipes run as written: each is YAML; every
/// job's stage is declared (or one of GitLab's defaults); a job in the
/// image of the shipped Dockerfile overrides its entrypoint (tagsweep, not
/// a shell) and puts the cache where its user, who has no home, can write;
/// a job that runs git or curl runs in an image other than that one.
#[test]
fn the_readme_gitlab_recipes_run_as_written() {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let dockerfile = std::fs::read_to_string(repo_file("Dockerfile")).unwrap();
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/tagsweep\"]"));
    let blocks: Vec<&str> = readme
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .filter(|b| b.contains("stage:"))
        .collect();
    assert_eq!(blocks.len(), 3, "the HTML, merge request and CI recipes");
    for block in blocks {
        let doc: serde_yaml::Mapping =
            serde_yaml::from_str(block).unwrap_or_else(|e| panic!("{e}:\n{block}"));
        let declared: Vec<String> = match doc.get("stages") {
            Some(stages) => serde_yaml::from_value(stages.clone()).unwrap(),
            None => ["build", "test", "deploy"].map(String::from).to_vec(),
        };
        let jobs: Vec<(String, serde_yaml::Mapping)> = doc
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_mapping()?.clone())))
            .collect();
        let hidden = |job: &serde_yaml::Mapping| -> Option<serde_yaml::Mapping> {
            let parent = job.get("extends")?.as_str()?;
            jobs.iter()
                .find(|(n, _)| n == parent)
                .map(|(_, j)| j.clone())
        };
        for (name, job) in &jobs {
            if name.starts_with('.') || name == "stages" {
                continue;
            }
            let get = |key: &str| {
                job.get(key)
                    .cloned()
                    .or_else(|| hidden(job).and_then(|h| h.get(key).cloned()))
            };
            let stage = get("stage").and_then(|s| s.as_str().map(String::from));
            let stage = stage.unwrap_or_else(|| panic!("{name}: no stage"));
            assert!(
                declared.contains(&stage),
                "{name}: stage {stage} undeclared"
            );
            let image = get("image").unwrap_or_else(|| panic!("{name}: no image"));
            let script = serde_yaml::to_string(&get("script").unwrap()).unwrap();
            let shipped = serde_yaml::to_string(&image)
                .unwrap()
                .contains("$CI_REGISTRY_IMAGE/tagsweep");
            if shipped {
                assert_eq!(
                    image["entrypoint"],
                    serde_yaml::from_str::<serde_yaml::Value>("['']").unwrap(),
                    "{name}"
                );
                let variables = get("variables").unwrap();
                assert!(
                    variables["XDG_CACHE_HOME"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("$CI_PROJECT_DIR")),
                    "{name}"
                );
                for tool in ["git ", "curl "] {
                    assert!(!script.contains(tool), "{name} runs {tool}without it");
                }
            }
        }
    }
}
