//! `tagsweep snapshot` and offline audits (`--from`).

use chrono::TimeDelta;
use serde_json::Value;

use crate::support::fakehub::FakeHub;
use crate::support::{now, repo_file, run, tagsweep, Workdir, NOW};

const M: &str = "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nplatforms: [linux/amd64]\nimages: [debian-source-base, debian-source-nova-api, debian-source-gone]\n";

fn without_stats(mut doc: Value) -> Value {
    doc.as_object_mut().unwrap().remove("stats");
    doc
}

#[test]
fn an_audit_from_a_snapshot_equals_the_live_audit() {
    let t = |h: i64| now() - TimeDelta::hours(h);
    let hub = FakeHub::builder()
        .repo("linaro", "debian-source-base")
        .numbered_tags("rocky-", 130, t(400), TimeDelta::hours(3))
        .tag_attested("rocky-200", t(1), &["linux/amd64", "linux/arm64"])
        .done()
        .repo("linaro", "debian-source-nova-api")
        .numbered_tags("rocky-", 120, t(400), TimeDelta::hours(3))
        .done()
        .repo("linaro", "debian-source-extra")
        .tag("rocky-7", t(9))
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write("m.yaml", M);
    let snap = w.path().join("inventory.json");

    let live = run(tagsweep()
        .args(["audit", "--format", "json", "--now", NOW, "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(live.code, 1, "{}", live.stderr);

    let saved = run(tagsweep()
        .args(["snapshot", "-m"])
        .arg(&m)
        .arg("-o")
        .arg(&snap)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    assert!(
        saved.stderr.contains("saved 3 repositories and 252 tags"),
        "{}",
        saved.stderr
    );

    drop(hub); // offline from here on
    let offline = run(tagsweep()
        .args(["audit", "--format", "json", "--now", NOW, "-m"])
        .arg(&m)
        .arg("--from")
        .arg(&snap));
    assert_eq!(offline.code, live.code, "{}", offline.stderr);
    assert_eq!(without_stats(offline.json()), without_stats(live.json()));
    assert_eq!(offline.json()["stats"]["requests"], 0);
}

#[test]
fn a_snapshot_is_judged_as_of_when_it_was_taken() {
    let w = Workdir::new();
    let m = w.write("m.yaml", "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$', grace: 2h}\nimages: [a-base, a-nova]\n");
    let snap = w.write(
        "s.json",
        r#"{"format":1,"registry":"docker.io","namespace":"linaro","taken_at":"2026-11-20T12:00:00Z",
            "repositories":{"a-base":{"tags":[{"name":"rocky-2","pushed":"2026-11-20T11:00:00Z"}]},"a-nova":{"tags":[]}}}"#,
    );
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(&m)
        .arg("--from")
        .arg(&snap));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["builds"][0]["status"], "in_progress");
    assert_eq!(out.json()["as_of"], "2026-11-20T12:00:00Z");
    // --now overrides it.
    let out = run(tagsweep()
        .args([
            "audit",
            "--format",
            "json",
            "--now",
            "2026-11-21T00:00:00Z",
            "-m",
        ])
        .arg(&m)
        .arg("--from")
        .arg(&snap));
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["builds"][0]["status"], "broken");
}

#[test]
fn bad_snapshots_are_refused_clearly() {
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [a-base]\n",
    );
    let cases = [
        ("html.json", "<html>nope</html>", "not a tagsweep snapshot"),
        (
            "other.json",
            r#"{"format":1,"registry":"docker.io","namespace":"kolla","repositories":{}}"#,
            "the snapshot is of namespace \"kolla\"",
        ),
        (
            "future.json",
            r#"{"format":9,"registry":"docker.io","namespace":"linaro","repositories":{}}"#,
            "snapshot format 9",
        ),
        (
            "partial.json",
            r#"{"format":1,"registry":"docker.io","namespace":"linaro","repositories":{"a-base":{}}}"#,
            "the tags of a-base were not recorded",
        ),
    ];
    for (name, body, expected) in cases {
        let snap = w.write(name, body);
        let out = run(tagsweep()
            .args(["audit", "-m"])
            .arg(&m)
            .arg("--from")
            .arg(&snap));
        assert_eq!(out.code, 2, "{name}");
        assert!(out.stderr.contains(expected), "{name}: {}", out.stderr);
    }
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&m)
        .arg("--from")
        .arg(w.path()));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a file"), "{}", out.stderr);
}

/// The README's first command: the shipped sample, offline.
#[test]
fn the_readme_sample_audits_offline() {
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(repo_file("manifests/linaro-sample.yaml"))
        .arg("--from")
        .arg(repo_file("manifests/linaro-sample.snapshot.json")));
    assert_eq!(
        out.code, 1,
        "the sample shows a broken build: {}",
        out.stderr
    );
    let doc = out.json();
    let status = |tag: &str| {
        doc["builds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["tag"] == tag)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("rocky-41"), "in_progress");
    assert_eq!(status("rocky-40"), "complete");
    assert_eq!(status("rocky-39"), "broken");
    assert_eq!(status("rocky-38"), "broken");
    assert_eq!(status("rocky-37"), "complete");
}

/// A prune can be planned offline, from a snapshot; nothing can be deleted from one.
#[test]
fn prune_dry_run_from_a_snapshot() {
    let manifest = repo_file("manifests/linaro-sample.yaml");
    let snapshot = repo_file("manifests/linaro-sample.snapshot.json");
    let out = run(tagsweep()
        .args(["prune", "--broken", "--dry-run", "--format", "json", "-m"])
        .arg(&manifest)
        .arg("--from")
        .arg(&snapshot));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan = out.json();
    let builds: Vec<&str> = plan["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tag"].as_str().unwrap())
        .collect();
    assert_eq!(builds, ["rocky-39", "rocky-38"]);
    assert_eq!(
        plan["builds"][0]["tags"].as_array().unwrap().len(),
        4,
        "rocky-39 lacks nova-api"
    );
    assert_eq!(plan["builds"][1]["tags"].as_array().unwrap().len(), 5);
    assert_eq!(plan["skipped"][0]["tag"], "rocky-41");
    assert_eq!(plan["untouched"], serde_json::json!([]));
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["result"], Value::Null);

    // Without --dry-run, a snapshot is refused by the command line itself.
    let out = run(tagsweep()
        .args(["prune", "--broken", "--yes", "-m"])
        .arg(&manifest)
        .arg("--from")
        .arg(&snapshot));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--dry-run"), "{}", out.stderr);
}
