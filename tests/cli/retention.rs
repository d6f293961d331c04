//! Retention end to end: `audit` shows which builds expire, `prune --expired`
//! retires them — judged by the fake Docker Hub's state, what is really left
//! on the server, not by our own output.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::support::fakehub::{FakeHub, Tag};
use crate::support::{build, run, tagsweep, Run, Workdir};

const NS: &str = "linaro";
const BASE: &str = "debian-source-base";
const NOVA: &str = "debian-source-nova-api";
const GLANCE: &str = "debian-source-glance-api";
const EXTRA: &str = "debian-source-extra";

/// Two release lines, the 3 newest complete builds of each kept.
fn manifest(max_age: &str) -> String {
    format!(
        "\
namespace: linaro
builds:
  pattern: '^(?P<stream>rocky|stein)-\\d+$'
  grace: 2h
  protect: ['^latest$', '^rocky-1$']
retention:
  keep: 3
{max_age}images: [debian-source-base, debian-source-nova-api, debian-source-glance-api]
"
    )
}

fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::days(days)
}

/// Stream rocky, in natural order: rocky-1 (complete, protected), rocky-2
/// (complete), rocky-3 (broken: glance missing), rocky-9 (complete, 30
/// days old), rocky-10, rocky-11 (complete), rocky-12 (broken), rocky-13
/// (complete), rocky-14 (in progress). The 3 newest complete are rocky-13,
/// rocky-11 and rocky-10, so rocky-9, rocky-3 and rocky-2 expire. Stream
/// stein has 2 complete builds, fewer than keep: none expires. `latest` is
/// no build; `extra`, outside the manifest, carries rocky-2.
fn hub() -> FakeHub {
    let every = [
        ("rocky-1", 60),
        ("rocky-2", 50),
        ("rocky-9", 30),
        ("rocky-10", 20),
        ("rocky-11", 10),
        ("rocky-13", 1),
        ("stein-1", 45),
        ("stein-2", 35),
    ];
    let recent = Utc::now() - TimeDelta::minutes(10);
    let mut b = FakeHub::builder().account("ci-bot", "dckr_pat_delete", true);
    for (repo, also) in [
        (BASE, &[("rocky-3", 40), ("rocky-12", 3)][..]),
        (NOVA, &[("rocky-3", 40), ("rocky-12", 3)][..]),
        (GLANCE, &[][..]),
    ] {
        let mut r = b.repo(NS, repo);
        for &(tag, days) in every.iter().chain(also) {
            r = r.tag(tag, days_ago(days));
        }
        if repo == BASE {
            r = r.tag("rocky-14", recent).tag("latest", days_ago(1));
        }
        b = r.done();
    }
    b.repo(NS, EXTRA)
        .tag("rocky-2", days_ago(50))
        .done()
        .start()
}

fn tags(hub: &FakeHub, repo: &str) -> Vec<String> {
    hub.tag_names(NS, repo)
}

fn prune(hub: &FakeHub, manifest: &std::path::Path, args: &[&str]) -> Run {
    run(tagsweep()
        .arg("prune")
        .arg("-m")
        .arg(manifest)
        .args(args)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_delete"))
}

const ROCKY_ALL: [&str; 9] = [
    "rocky-1", "rocky-2", "rocky-3", "rocky-9", "rocky-10", "rocky-11", "rocky-12", "rocky-13",
    "rocky-14",
];

/// The tags of `repo` that are builds, in natural order (the fake sorts
/// them by bytes).
fn builds_in(hub: &FakeHub, repo: &str) -> Vec<String> {
    let mut all: Vec<String> = tags(hub, repo)
        .into_iter()
        .filter(|t| t != "latest")
        .collect();
    all.sort_by(|a, b| tagsweep::natural::natural_cmp(a, b));
    all
}

fn untouched(hub: &FakeHub) {
    assert_eq!(
        builds_in(hub, BASE),
        ROCKY_ALL
            .iter()
            .chain(&["stein-1", "stein-2"])
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(builds_in(hub, GLANCE).len(), 8);
    assert_eq!(tags(hub, EXTRA), ["rocky-2"]);
    assert_eq!(hub.count("DELETE"), 0);
}

#[test]
fn audit_shows_what_expires_and_the_exit_code_does_not_change() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", &manifest(""));
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    // Broken builds exit 1, as without retention; no more.
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["summary"]["expired"], 3);
    for (tag, retained) in [
        ("rocky-1", true),
        ("rocky-2", false),
        ("rocky-3", false),
        ("rocky-9", false),
        ("rocky-10", true),
        ("rocky-12", true),
        ("rocky-14", true),
        ("stein-1", true),
    ] {
        assert_eq!(build(&doc, tag)["retained"], retained, "{tag}");
    }
    assert_eq!(
        build(&doc, "rocky-9")["retention"],
        "older than the 3 newest complete builds of stream rocky"
    );
    assert_eq!(
        build(&doc, "stein-2")["retention"],
        "stream stein has 2 complete builds, fewer than keep (3), so none of its builds expires"
    );

    // Without a broken build, expired ones alone leave the audit clean.
    let clean = w.write(
        "clean.yaml",
        &manifest("").replace(
            "pattern: '^(?P<stream>rocky|stein)-\\d+$'",
            "pattern: '^(?P<stream>rocky)-(1|2|9|10|11|13)$'",
        ),
    );
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&clean)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(
            "Retention (keep 3 complete builds per stream): 2 builds expired, which prune --expired deletes."
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("RETENTION"), "{}", out.stdout);
}

#[test]
fn prune_expired_deletes_exactly_the_expired_builds() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", &manifest(""));
    let j = w.path().join("journal.jsonl");
    let out = prune(
        &hub,
        &m,
        &["--expired", "--yes", "--journal", j.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // rocky-2, rocky-3 and rocky-9 are gone from the set's repositories …
    let rocky_left = ["rocky-1", "rocky-10", "rocky-11", "rocky-12", "rocky-13"];
    let expect = |extra: &[&str]| -> Vec<String> {
        rocky_left
            .iter()
            .chain(extra)
            .chain(&["stein-1", "stein-2"])
            .map(|s| s.to_string())
            .collect()
    };
    assert_eq!(builds_in(&hub, BASE), expect(&["rocky-14"]));
    assert_eq!(builds_in(&hub, NOVA), expect(&[]));
    assert_eq!(
        builds_in(&hub, GLANCE),
        ["rocky-1", "rocky-10", "rocky-11", "rocky-13", "stein-1", "stein-2"]
    );
    // … and nothing else: `latest`, the repository outside the manifest.
    assert!(tags(&hub, BASE).contains(&"latest".to_string()));
    assert_eq!(tags(&hub, EXTRA), ["rocky-2"]);
    assert_eq!(hub.count("DELETE"), 8);

    assert!(
        out.stdout
            .contains("Prune plan for linaro on docker.io: 3 builds, 8 tags in 3 repositories"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("expired: older than the 3 newest complete builds of stream rocky"),
        "{}",
        out.stdout
    );
    let lines: Vec<Value> = std::fs::read_to_string(&j)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["result"] != "intent")
        .collect();
    assert_eq!(lines.len(), 8);
    assert!(lines.iter().all(|l| l["result"] == "deleted"), "{lines:?}");

    // A rerun finds nothing left to retire.
    let again = prune(&hub, &m, &["--expired", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("Nothing to prune."),
        "{}",
        again.stdout
    );
    assert_eq!(hub.count("DELETE"), 8);
}

#[test]
fn broken_and_expired_in_one_run() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", &manifest(""));
    let out = prune(
        &hub,
        &m,
        &["--broken", "--expired", "--yes", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let doc = out.json();
    let why: Vec<(String, String)> = doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["tag"].as_str().unwrap().into(),
                b["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    let pair = |t: &str, r: &str| (t.to_string(), r.to_string());
    // rocky-3 is both: it goes once, as broken. rocky-14 is in progress.
    assert_eq!(
        why,
        [
            pair("rocky-12", "broken"),
            pair("rocky-9", "expired"),
            pair("rocky-3", "broken"),
            pair("rocky-2", "expired"),
        ]
    );
    assert_eq!(doc["skipped"][0]["tag"], "rocky-14");
    assert_eq!(
        builds_in(&hub, NOVA),
        ["rocky-1", "rocky-10", "rocky-11", "rocky-13", "stein-1", "stein-2"]
    );
    assert_eq!(hub.count("DELETE"), 10);
}

#[test]
fn refused_expired_runs_delete_nothing() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", &manifest(""));

    let out = prune(&hub, &m, &["--expired", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("(dry run: nothing will be deleted)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("rocky-9"), "{}", out.stdout);
    untouched(&hub);

    // No terminal and no --yes.
    let out = prune(&hub, &m, &["--expired"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("stdin is not a terminal"),
        "{}",
        out.stderr
    );
    untouched(&hub);

    // More builds than --max-builds: the refusal says what retention retires.
    let out = prune(
        &hub,
        &m,
        &["--expired", "--broken", "--yes", "--max-builds", "2"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "refusing to prune 4 builds: more than --max-builds 2; the manifest's retention retires 3 of them"
        ),
        "{}",
        out.stderr
    );
    untouched(&hub);

    // A manifest without retention: refused before any request.
    let plain = w.write(
        "plain.yaml",
        &manifest("").replace("retention:\n  keep: 3\n", ""),
    );
    hub.clear_requests();
    let out = prune(&hub, &plain, &["--expired", "--yes"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("--expired retires the builds the manifest's 'retention' says"),
        "{}",
        out.stderr
    );
    assert!(hub.requests().is_empty());
    untouched(&hub);
}

#[test]
fn a_build_pushed_again_since_the_plan_is_no_longer_expired() {
    let hub = hub();
    let w = Workdir::new();
    // max_age 25 days: rocky-9 (30 days) is old enough … until it is pushed again.
    let m = w.write("m.yaml", &manifest("  max_age: 25d\n"));
    let digest = hub
        .state()
        .repo(NS, BASE)
        .and_then(|r| r.tag("rocky-9"))
        .and_then(|t| t.digest.clone());
    let again =
        Tag::new("rocky-9", Utc::now() - TimeDelta::minutes(5)).with_digest(digest.as_deref());
    hub.once("GET", &format!("{BASE}/tags/rocky-9$"), move |s, _| {
        s.push_tag(NS, BASE, again.clone())
    });
    let out = prune(&hub, &m, &["--expired", "--yes"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "rocky-9: no longer expired: older than the 3 newest complete builds of stream rocky, but pushed within max_age (25d); skipped"
        ),
        "{}",
        out.stderr
    );
    assert!(builds_in(&hub, GLANCE).contains(&"rocky-9".to_string()));
    assert!(!builds_in(&hub, GLANCE).contains(&"rocky-2".to_string()));
    assert_eq!(hub.count("DELETE"), 5, "rocky-2 and rocky-3 only");
}

/// A plan can be made offline, from a snapshot; nothing is deleted from one.
#[test]
fn an_offline_dry_run_from_a_snapshot() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", &manifest(""));
    let snap = w.path().join("inventory.json");
    let saved = run(tagsweep()
        .args(["snapshot", "-m"])
        .arg(&m)
        .arg("-o")
        .arg(&snap)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    drop(hub);

    let out = run(tagsweep()
        .args(["prune", "--expired", "--dry-run", "--format", "json", "-m"])
        .arg(&m)
        .arg("--from")
        .arg(&snap));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan = out.json();
    let planned: Vec<&str> = plan["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tag"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["rocky-9", "rocky-3", "rocky-2"]);
    assert_eq!(plan["builds"][0]["reason"], "expired");
    assert_eq!(
        plan["builds"][0]["retention"],
        "older than the 3 newest complete builds of stream rocky"
    );
    assert_eq!(plan["builds"][1]["tags"].as_array().unwrap().len(), 2);
    assert_eq!(plan["builds"][2]["tags"].as_array().unwrap().len(), 3);
    assert_eq!(plan["dry_run"], true);
}
