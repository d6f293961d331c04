//! Prune only on proof: each way a registry answer can leave a fact unstated
//! (`dockerhub-notes.md` §11, `oci-registry-lab.md` §7), end to end, judged
//! by what is left on the server. A fact the registry did not state is
//! unknown, never absent: no good build is deleted on it, and the audit says
//! what it could not check.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use crate::support::fakehub::{FakeHub, Tag};
use crate::support::registry::oci_paging::{PagingProxy, Quirks};
use crate::support::registry::{Image, TestRegistry};
use crate::support::{build, run, tagsweep, Run, Workdir};

const NS: &str = "linaro";
const BASE: &str = "debian-source-base";
const NOVA: &str = "debian-source-nova-api";
const ZUN: &str = "debian-source-zun-compute";

fn ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::hours(hours)
}

fn hub_manifest(w: &Workdir, images: &[&str], extra: &str) -> std::path::PathBuf {
    w.write(
        "m.yaml",
        &format!(
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\n{extra}images:\n{}",
            images
                .iter()
                .map(|i| format!("  - {i}\n"))
                .collect::<String>()
        ),
    )
}

fn on_hub(hub: &FakeHub, args: &[&str], manifest: &std::path::Path) -> Run {
    run(tagsweep()
        .args(args)
        .arg("-m")
        .arg(manifest)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_delete"))
}

/// A tag as Docker Hub answers for the schema-1 era (docker/hub-feedback
/// #2344): one image entry with `"os": ""`, no push times, the schema 1
/// media type.
fn schema1(name: &str) -> Tag {
    let mut t = Tag::unpushed(name);
    t.media_type = "application/vnd.docker.distribution.manifest.v1+prettyjws".into();
    for image in &mut t.images {
        image.os = String::new();
        image.variant = None;
    }
    t
}

/// A multi-platform tag as Docker Hub answers since 2025-08
/// (docker/hub-feedback #2484): digest and media type, `images: []`.
fn no_images(name: &str, pushed: DateTime<Utc>) -> Tag {
    let mut t = Tag::new(name, pushed).with_platforms(&["linux/amd64", "linux/arm64"]);
    t.images.clear();
    t
}

/// Case 1: a schema-1 tag's empty `os` is Linux, and its unknown push time
/// proves no age.
#[test]
fn schema1_tags_are_not_short_of_linux_and_are_never_deleted_on_silence() {
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_delete", true)
        .repo(NS, BASE)
        .tag_with(schema1("rocky-1"))
        .tag_with(schema1("rocky-2"))
        .tag_with(schema1("rocky-3"))
        .done()
        .repo(NS, NOVA)
        .tag_with(schema1("rocky-1"))
        .tag_with(schema1("rocky-2"))
        .done()
        .start();
    let w = Workdir::new();
    let m = hub_manifest(&w, &[BASE, NOVA], "platforms: [linux/amd64]\n");

    let out = on_hub(&hub, &["audit", "--format", "json"], &m);
    let doc = out.json();
    let b1 = build(&doc, "rocky-1");
    assert_eq!(b1["status"], "complete", "{doc:#}");
    assert_eq!(b1["missing_platforms"], json!({}));
    assert_eq!(b1["unverified_platforms"], json!({}));
    assert_eq!(b1["newest_push"], Value::Null);
    assert_eq!(b1["newest_push_source"], "unknown");
    // rocky-3 lacks nova-api: broken, but nothing says when it was pushed.
    let b3 = build(&doc, "rocky-3");
    assert_eq!(
        (&b3["status"], &b3["missing"]),
        (&json!("broken"), &json!([NOVA]))
    );
    assert_eq!(out.code, 1);

    let out = on_hub(&hub, &["prune", "--broken", "--yes"], &m);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("Skipped rocky-3: its push time is unknown"),
        "{}",
        out.stdout
    );
    assert_eq!(hub.count("DELETE"), 0);
    assert_eq!(hub.tag_names(NS, BASE), ["rocky-1", "rocky-2", "rocky-3"]);
}

/// Case 2: `images: []` leaves platforms unverified, never missing, and the
/// audit says so in every format.
#[test]
fn platforms_docker_hub_no_longer_names_are_unverified_in_every_format() {
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_delete", true)
        .repo(NS, BASE)
        .tag_with(no_images("rocky-1", ago(48)))
        .done()
        .repo(NS, NOVA)
        .tag_with(no_images("rocky-1", ago(48)))
        .done()
        .start();
    let w = Workdir::new();
    let m = hub_manifest(&w, &[BASE, NOVA], "platforms: [linux/amd64, linux/arm64]\n");

    let out = on_hub(&hub, &["audit", "--format", "json"], &m);
    assert_eq!(out.code, 0, "unverified is not broken: {}", out.stderr);
    let doc = out.json();
    let b = build(&doc, "rocky-1");
    assert_eq!(b["status"], "complete");
    assert_eq!(b["missing_platforms"], json!({}));
    assert_eq!(
        b["unverified_platforms"],
        json!({BASE: ["linux/amd64", "linux/arm64"], NOVA: ["linux/amd64", "linux/arm64"]})
    );

    let table = on_hub(&hub, &["audit"], &m).stdout;
    let row = table
        .lines()
        .find(|l| l.contains("rocky-1"))
        .expect("a row for rocky-1");
    assert!(
        row.contains('?') && row.contains("platforms unverified in 2 images"),
        "{table}"
    );
    assert!(
        table.contains("Platforms unverified in 1 build") && table.contains("--verify-platforms"),
        "{table}"
    );
    let markdown = on_hub(&hub, &["audit", "--format", "markdown"], &m).stdout;
    assert!(
        markdown.contains("> [!NOTE]") && markdown.contains("--verify-platforms"),
        "{markdown}"
    );

    let out = on_hub(&hub, &["prune", "--broken", "--yes"], &m);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(hub.count("DELETE"), 0);
}

/// Case 5: an image that joined the set at rocky-40 does not make the
/// older builds broken enough to delete.
#[test]
fn an_image_that_joined_the_set_later_is_named_with_its_fix_and_spares_old_builds() {
    let t = |h: i64| ago(h);
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_delete", true)
        .repo(NS, BASE)
        .tag("rocky-38", t(120))
        .tag("rocky-39", t(96))
        .tag("rocky-40", t(72))
        .tag("rocky-41", t(48))
        .tag("rocky-42", t(24))
        .done()
        .repo(NS, NOVA)
        .tag("rocky-38", t(120))
        .tag("rocky-39", t(96))
        .tag("rocky-40", t(72))
        .tag("rocky-42", t(24))
        .done()
        .repo(NS, ZUN)
        .tag("rocky-40", t(72))
        .tag("rocky-41", t(48))
        .tag("rocky-42", t(24))
        .done()
        .start();
    let w = Workdir::new();
    let m = hub_manifest(&w, &[BASE, NOVA, ZUN], "");

    let out = on_hub(&hub, &["audit", "--format", "json"], &m);
    let doc = out.json();
    assert_eq!(
        doc["late_images"],
        json!([{"image": ZUN, "first_build": "rocky-40"}])
    );
    assert_eq!(build(&doc, "rocky-39")["missing"], json!([ZUN]));
    let table = on_hub(&hub, &["audit"], &m).stdout;
    assert!(
        table.contains("Add `from: rocky-40` to it in the manifest"),
        "{table}"
    );

    let out = on_hub(&hub, &["prune", "--broken", "--yes"], &m);
    assert_eq!(
        out.code, 1,
        "a manifest to fix is a finding: {}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains("Skipped rocky-38: only images that joined the set")
            && out
                .stdout
                .contains(&format!("add `from: rocky-40` to {ZUN}")),
        "{}",
        out.stdout
    );
    // rocky-41 (nova-api missing) was really broken: gone. 38 and 39 stay.
    assert_eq!(
        hub.tag_names(NS, BASE),
        ["rocky-38", "rocky-39", "rocky-40", "rocky-42"]
    );
    assert_eq!(hub.tag_names(NS, ZUN), ["rocky-40", "rocky-42"]);

    // With the fix in the manifest, the old builds are complete.
    let m = hub_manifest(
        &w,
        &[BASE, NOVA, &format!("{{name: {ZUN}, from: rocky-40}}")],
        "",
    );
    let out = on_hub(&hub, &["audit", "--format", "json"], &m);
    let doc = out.json();
    assert_eq!(doc["late_images"], json!([]));
    assert_eq!(build(&doc, "rocky-38")["status"], "complete");
    assert_eq!(out.code, 0, "{doc:#}");
}

fn oci_manifest(w: &Workdir, url: &str, images: &str) -> std::path::PathBuf {
    w.write(
        "m.yaml",
        &format!(
            "registry: {url}\nnamespace: acme\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\nimages: [{images}]\n"
        ),
    )
}

fn on(args: &[&str], manifest: &std::path::Path) -> Run {
    run(tagsweep().args(args).arg("-m").arg(manifest))
}

/// Case 3: a repository's existence is established, not read off the shape
/// of a listing — on a registry that answers `{"tags": null}` for
/// repositories that do not exist (distribution 2.0–2.1).
#[test]
fn a_typo_in_the_manifest_is_a_missing_or_unverified_repository_never_broken_builds() {
    let reg = TestRegistry::start();
    let old = (Utc::now() - TimeDelta::days(3)).to_rfc3339();
    for build in ["rocky-1", "rocky-2"] {
        for repo in ["acme/app-api", "acme/app-web"] {
            reg.push_image(repo, build, &Image::new("linux/amd64", &old, repo));
        }
    }
    // A repository whose tags were all deleted: it exists, empty.
    let gone = reg.push_image(
        "acme/app-gone",
        "old",
        &Image::new("linux/amd64", &old, "g"),
    );
    reg.delete_manifest("acme/app-gone", &gone);
    let w = Workdir::new();

    // The catalog is readable: an image it does not list has no repository.
    let quirky = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            unknown_repositories_have_null_tags: true,
            ..Quirks::default()
        },
    );
    let m = oci_manifest(&w, &quirky.url(), "app-apii, app-web");
    let out = on(&["audit", "--format", "json"], &m);
    let doc = out.json();
    assert_eq!(doc["missing_repositories"], json!(["app-apii"]), "{doc:#}");
    assert_eq!(doc["summary"]["broken"], 0);
    assert_eq!(out.code, 1);
    let out = on(&["prune", "--broken", "--yes"], &m);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("1 expected repository is missing (app-apii)"),
        "{}",
        out.stderr
    );
    // An existing repository with no tags is present: what it lacks is missing.
    let m = oci_manifest(&w, &quirky.url(), "app-gone, app-web");
    let doc = on(&["audit", "--format", "json"], &m).json();
    assert_eq!(doc["missing_repositories"], json!([]));
    assert_eq!(build(&doc, "rocky-1")["missing"], json!(["app-gone"]));

    // No catalog: "no tags" cannot tell a typo from an empty repository.
    let blind = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            unknown_repositories_have_null_tags: true,
            no_catalog: true,
            ..Quirks::default()
        },
    );
    let m = oci_manifest(&w, &blind.url(), "app-apii, app-web");
    let out = on(&["audit", "--format", "json"], &m);
    let doc = out.json();
    assert_eq!(
        doc["unverified_repositories"],
        json!(["app-apii"]),
        "{doc:#}"
    );
    assert_eq!(doc["missing_repositories"], json!([]));
    assert_eq!(doc["summary"]["broken"], 0);
    assert_eq!(out.code, 1);
    let out = on(&["prune", "--broken", "--yes"], &m);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("neither lists nor denies"),
        "{}",
        out.stderr
    );
    // Repositories that answer tags exist, catalog or not.
    let m = oci_manifest(&w, &blind.url(), "app-api, app-web");
    let doc = on(&["audit", "--format", "json"], &m).json();
    assert_eq!(doc["unverified_repositories"], json!([]));
    assert_eq!(doc["summary"]["complete"], 2);
    assert_eq!(
        reg.tags("acme/app-api").unwrap(),
        ["rocky-1", "rocky-2"],
        "nothing was deleted"
    );
}

/// Case 4: a reproducible build declares its commit's time; a build pushed
/// right now looks days old. Only tagsweep's own observation (unchanged for
/// `grace`) or the user's opt-in lets prune delete it.
#[test]
fn a_declared_time_does_not_prove_a_build_finished() {
    let reg = TestRegistry::start();
    let commit = (Utc::now() - TimeDelta::days(3)).to_rfc3339();
    for repo in ["acme/app-api", "acme/app-web"] {
        reg.push_image(repo, "rocky-1", &Image::new("linux/amd64", &commit, repo));
    }
    // rocky-2 is being pushed now: app-api is there, app-web not yet.
    let pushed_now = reg.push_image(
        "acme/app-api",
        "rocky-2",
        &Image::new("linux/amd64", &commit, "api-2"),
    );
    let w = Workdir::new();
    let m = oci_manifest(&w, &reg.url(), "app-api, app-web");
    let state = w.path().join("state.json");
    let state_arg = state.to_str().unwrap();

    let table = on(&["audit"], &m).stdout;
    let row = table.lines().find(|l| l.contains("rocky-2")).unwrap();
    assert!(
        row.contains("BROKEN") && row.contains("(declared)"),
        "{table}"
    );
    // Nor does a declared time keep a build out of a recent window.
    let recent = on(&["audit", "--since", "1h", "--format", "json"], &m);
    assert_eq!(build(&recent.json(), "rocky-2")["status"], "broken");
    assert_eq!(recent.code, 1);

    let out = on(&["prune", "--broken", "--yes", "--state", state_arg], &m);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("Skipped rocky-2: its age rests only on the times its images declare")
            && out.stdout.contains("by a run at or after"),
        "{}",
        out.stdout
    );
    assert_eq!(
        reg.digest("acme/app-api", "rocky-2"),
        Some(pushed_now.clone())
    );

    // Three hours later (a dry run may judge as of another time), the
    // build seen unchanged since the first run is proven old enough.
    let later = (Utc::now() + TimeDelta::hours(3)).to_rfc3339();
    let dry = |state: &str| {
        on(
            &[
                "prune",
                "--broken",
                "--dry-run",
                "--format",
                "json",
                "--now",
                &later,
                "--state",
                state,
            ],
            &m,
        )
    };
    let plan = dry(state_arg).json();
    assert_eq!(plan["builds"][0]["tag"], "rocky-2", "{plan:#}");
    // Without that observation, the same run proves nothing.
    let fresh = w.path().join("fresh.json");
    let plan = dry(fresh.to_str().unwrap()).json();
    assert_eq!(plan["builds"], json!([]), "{plan:#}");

    // A push since the observation starts it again.
    reg.push_image(
        "acme/app-api",
        "rocky-2",
        &Image::new("linux/amd64", &commit, "api-2-again"),
    );
    let plan = dry(state_arg).json();
    assert_eq!(plan["builds"], json!([]), "{plan:#}");

    // The opt-in, for images whose `created` is their build time.
    let out = on(
        &[
            "prune",
            "--broken",
            "--yes",
            "--trust-declared-times",
            "--state",
            state_arg,
        ],
        &m,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(reg.digest("acme/app-api", "rocky-2"), None);
    assert_eq!(reg.tags("acme/app-api").unwrap(), ["rocky-1"]);

    // CI retries the build with the very same contents: a new build, not
    // one seen unchanged since before the deletion.
    reg.push_image(
        "acme/app-api",
        "rocky-2",
        &Image::new("linux/amd64", &commit, "api-2-again"),
    );
    let plan = dry(state_arg).json();
    assert_eq!(plan["builds"], json!([]), "{plan:#}");
}

/// The other side of case 5: an image that left the set after b-3 (its
/// manifest entry lacks `until:`). The two newest builds lack it; prune must
/// not delete the newest releases on that, and says what to check.
#[test]
fn an_image_missing_from_the_newest_builds_spares_them_and_names_until() {
    let t = |h: i64| ago(h);
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_delete", true)
        .repo(NS, BASE)
        .tag("b-1", t(120))
        .tag("b-2", t(96))
        .tag("b-3", t(72))
        .tag("b-4", t(48))
        .tag("b-5", t(24))
        .done()
        .repo(NS, NOVA)
        .tag("b-1", t(120))
        .tag("b-2", t(96))
        .tag("b-3", t(72))
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        &format!("namespace: linaro\nbuilds:\n  pattern: '^b-\\d+$'\nimages: [{BASE}, {NOVA}]\n"),
    );
    let doc = on_hub(&hub, &["audit", "--format", "json"], &m).json();
    assert_eq!(
        doc["retired_images"],
        json!([{"image": NOVA, "last_build": "b-3"}])
    );
    let out = on_hub(&hub, &["prune", "--broken", "--yes"], &m);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("add `until: b-3` to {NOVA}")),
        "{}",
        out.stdout
    );
    assert_eq!(hub.count("DELETE"), 0);
}
