//! The inventory cache end to end: an audit keeps what it listed, a later
//! one reads only what changed on the fake Docker Hub — and answers exactly
//! what a cache-less audit answers, whatever happened in between. The fake
//! counts the requests.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::support::fakehub::{FakeHub, FakeHubBuilder, Tag};
use crate::support::{run, tagsweep, Run, Workdir};

const NS: &str = "linaro";
const USER: &str = "ci-bot";
const SECRET: &str = "dckr_pat_s3cret";
const IMAGES: [&str; 4] = [
    "debian-source-base",
    "debian-source-nova-api",
    "debian-source-glance-api",
    "debian-source-keystone",
];
const EXPERIMENTAL: &str = "debian-source-experimental";

const SET: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
  grace: 2h
images: [debian-source-base, debian-source-nova-api, debian-source-glance-api, debian-source-keystone]
";

/// Build `rocky-i` was pushed `i` hours after a start 3 days + 251 hours
/// ago: the newest, rocky-251, 3 days ago — long before any run's listing.
fn pushed(i: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::days(3) - TimeDelta::hours(251) + TimeDelta::hours(i)
}

/// Four images with builds rocky-1..=251 (3 pages each; rocky-7 lacks
/// keystone: broken), `latest` on base; an unexpected repository carrying
/// rocky-200..=250 (one page); a repository of another set (never listed).
fn fixture(namespace: &str) -> FakeHubBuilder {
    let mut b = FakeHub::builder().account(USER, SECRET, true);
    for image in IMAGES {
        let mut r = b.repo(namespace, image);
        for i in 1..=251 {
            if !(image == "debian-source-keystone" && i == 7) {
                r = r.tag(&format!("rocky-{i}"), pushed(i));
            }
        }
        if image == "debian-source-base" {
            r = r.tag("latest", pushed(200));
        }
        b = r.done();
    }
    let mut r = b.repo(namespace, EXPERIMENTAL);
    for i in 200..=250 {
        r = r.tag(&format!("rocky-{i}"), pushed(i));
    }
    r.done()
        .repo(namespace, "ubuntu-binary-base")
        .tag("rocky-251", pushed(251))
        .done()
}

/// An audit in JSON as of `now`, with `args` (the cache flags).
fn audit(hub: &FakeHub, manifest: &Path, now: DateTime<Utc>, args: &[&str]) -> Run {
    hub.clear_requests();
    run(tagsweep()
        .args(["audit", "--format", "json", "-v", "--now"])
        .arg(now.to_rfc3339())
        .arg("-m")
        .arg(manifest)
        .args(args)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", USER)
        .env("DOCKERHUB_TOKEN", SECRET))
}

fn without_stats(doc: &Value) -> Value {
    let mut doc = doc.clone();
    doc.as_object_mut().expect("an object").remove("stats");
    doc
}

/// The requests the fake saw in the last run.
fn requests(hub: &FakeHub) -> usize {
    hub.requests().len()
}

/// The one file of the inventory cache under `dir`.
fn cache_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir.join("inventory"))
        .expect("the inventory cache directory")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

/// What a cache-less audit says now (and what it costs).
fn reference(hub: &FakeHub, m: &Path, now: DateTime<Utc>, cache: &str) -> (Value, usize) {
    let out = audit(hub, m, now, &["--no-cache", "--cache-dir", cache]);
    assert!(out.code <= 1, "{}", out.stderr);
    (without_stats(&out.json()), requests(hub))
}

#[test]
fn an_incremental_audit_answers_as_a_full_one_after_every_kind_of_change() {
    let hub = fixture(NS).start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let cache = w.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let now = Utc::now() + TimeDelta::minutes(1);
    let cached = ["--cache-dir", cache_arg];

    // 1. The first audit lists everything, and keeps it.
    let first = audit(&hub, &m, now, &cached);
    assert_eq!(first.code, 1, "rocky-7 is broken\n{}", first.stderr);
    let full = requests(&hub);
    // 1 login + 1 repository page + 4 images × 3 pages + 1 page (experimental).
    assert_eq!(full, 15);
    assert_eq!(first.json()["stats"]["unchanged_repositories"], 0);
    let file = cache_file(&cache);

    // 2. Nothing changed: one look per repository.
    let second = audit(&hub, &m, now, &cached);
    assert_eq!(without_stats(&second.json()), without_stats(&first.json()));
    assert_eq!(requests(&hub), 1 + 1 + 5, "{}", second.stderr);
    assert_eq!(second.json()["stats"]["unchanged_repositories"], 5);

    // A cache-less audit neither reads nor writes the cache.
    let before = std::fs::read(&file).unwrap();
    let (expected, cost) = reference(&hub, &m, now, cache_arg);
    assert_eq!(cost, full);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "--no-cache wrote the cache"
    );
    assert_eq!(expected, without_stats(&first.json()));

    // 3. Every kind of change between two runs.
    let just_now = Utc::now();
    {
        let mut s = hub.state();
        // A new build on three images (keystone still to come: in progress).
        for image in &IMAGES[..3] {
            s.push_tag(NS, image, Tag::new("rocky-252", just_now));
        }
        // A re-push of an old build: same name, new digest and time.
        s.push_tag(
            NS,
            IMAGES[1],
            Tag::new("rocky-100", just_now + TimeDelta::seconds(1)),
        );
        // A deletion and a push: the same count as before.
        assert!(s.delete_tag(NS, IMAGES[2], "rocky-50"));
        // The newest tag deleted, nothing pushed: `last_updated` stays.
        let updated = s.repo(NS, IMAGES[3]).unwrap().last_updated();
        assert!(s.delete_tag(NS, IMAGES[3], "rocky-251"));
        assert_eq!(s.repo(NS, IMAGES[3]).unwrap().last_updated(), updated);
        // A push to the unexpected repository, and a new one.
        s.push_tag(NS, EXPERIMENTAL, Tag::new("rocky-252", just_now));
        s.push_tag(NS, "debian-source-zun", Tag::new("rocky-252", just_now));
    }
    let third = audit(&hub, &m, now, &cached);
    let incremental = requests(&hub);
    let (expected, full) = reference(&hub, &m, now, cache_arg);
    assert_eq!(
        without_stats(&third.json()),
        expected,
        "the incremental audit differs from a full one\n{}",
        third.stderr
    );
    assert_eq!(full, 16, "zun adds a page");
    // The bound: 1 login + 1 repository page; one newest page for each
    // repository pushed to (base, nova-api, experimental) and the new one
    // (zun, listed whole: a page); the two with a deletion listed again in
    // full after one look (glance-api: its newest page, keystone: a peek
    // whose count fell) — 3 pages each.
    let bound = 1 + 1 + 3 + 1 + (1 + 3) + (1 + 3);
    assert!(
        incremental <= bound,
        "{incremental} requests > {bound}\n{}",
        third.stderr
    );
    assert!(incremental < full);
    let doc = third.json();
    assert_eq!(doc["stats"]["unchanged_repositories"], 0);
    assert_eq!(
        crate::support::build(&doc, "rocky-50")["missing"],
        serde_json::json!(["debian-source-glance-api"])
    );
    // -v says why each changed repository was read.
    for why in [
        "linaro/debian-source-base: pushed to since the cache was written",
        "linaro/debian-source-glance-api: it counts 251 tags, the newest pages and the cache hold 252",
        "linaro/debian-source-keystone: 249 tags, 1 fewer than the cache knows",
        "linaro/debian-source-zun: not in the inventory cache; listing every tag",
    ] {
        assert!(third.stderr.contains(why), "no {why:?} in\n{}", third.stderr);
    }

    // 4. Nothing changed since: every repository costs one request again,
    // even those pushed to minutes before the cache was written (read
    // newest first: their newest tags might not have been listed yet).
    let fourth = audit(&hub, &m, now, &cached);
    assert_eq!(without_stats(&fourth.json()), expected);
    assert_eq!(requests(&hub), 1 + 1 + 6, "{}", fourth.stderr);
}

#[test]
fn a_cache_of_another_format_truncated_or_of_another_namespace_is_ignored() {
    let hub = fixture(NS)
        .repo("kolla", "debian-source-base")
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let cache = w.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let now = Utc::now() + TimeDelta::minutes(1);
    let cached = ["--cache-dir", cache_arg];
    // A good cache, to spoil.
    let first = audit(&hub, &m, now, &cached);
    assert!(first.code <= 1, "{}", first.stderr);
    let expected = without_stats(&first.json());
    let file = cache_file(&cache);
    let good = std::fs::read_to_string(&file).unwrap();
    let doc: Value = serde_json::from_str(&good).unwrap();
    // The cache of another namespace, from a run on it.
    let other_ns = w.path().join("other");
    let kolla = w.write(
        "kolla.yaml",
        "namespace: kolla\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base]\n",
    );
    assert!(
        audit(
            &hub,
            &kolla,
            now,
            &["--cache-dir", other_ns.to_str().unwrap()]
        )
        .code
            <= 1
    );
    let kolla_cache = std::fs::read_to_string(cache_file(&other_ns)).unwrap();

    let mut older = doc.clone();
    older["format"] = 0.into();
    let mut newer = doc.clone();
    newer["format"] = 2.into();
    for (what, text, why) in [
        (
            "older format",
            older.to_string(),
            "written in an older format (0",
        ),
        (
            "newer format",
            newer.to_string(),
            "written by a newer tagsweep",
        ),
        (
            "truncated",
            good[..good.len() * 2 / 3].to_string(),
            "not JSON",
        ),
        (
            "another namespace",
            kolla_cache,
            "the cache of namespace \"kolla\"",
        ),
    ] {
        std::fs::write(&file, &text).unwrap();
        let out = audit(&hub, &m, now, &cached);
        assert!(
            out.stderr.contains("ignoring the inventory cache") && out.stderr.contains(why),
            "{what}: {}",
            out.stderr
        );
        assert_eq!(without_stats(&out.json()), expected, "{what}");
        assert_eq!(requests(&hub), 15, "{what}: listed in full");
        assert_eq!(out.json()["stats"]["unchanged_repositories"], 0, "{what}");
        // …and replaced by a good one.
        let again = audit(&hub, &m, now, &cached);
        assert!(
            !again.stderr.contains("ignoring"),
            "{what}: {}",
            again.stderr
        );
        assert_eq!(requests(&hub), 7, "{what}: the replaced cache serves");
    }
}

#[test]
fn prune_plans_from_the_cache_and_still_looks_again_before_deleting() {
    let hub = fixture(NS).start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let cache = w.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let now = Utc::now() + TimeDelta::minutes(1);
    assert_eq!(audit(&hub, &m, now, &["--cache-dir", cache_arg]).code, 1);
    // Since the audit, rocky-9 lost an image: broken.
    assert!(hub.state().delete_tag(NS, IMAGES[0], "rocky-9"));
    hub.clear_requests();
    let out = run(tagsweep()
        .args([
            "prune",
            "--broken",
            "--yes",
            "--format",
            "json",
            "--max-builds",
            "5",
        ])
        .arg("-m")
        .arg(&m)
        .args(["--cache-dir", cache_arg])
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", USER)
        .env("DOCKERHUB_TOKEN", SECRET));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Both broken builds are gone: the one the cache knew, and the one the
    // deletion made (the cache's count disagreed: base listed in full).
    for image in &IMAGES[1..] {
        let names = hub.tag_names(NS, image);
        assert!(!names.contains(&"rocky-9".to_string()), "{image}");
    }
    for image in &IMAGES[..3] {
        assert!(
            !hub.tag_names(NS, image).contains(&"rocky-7".to_string()),
            "{image}"
        );
    }
    // Each tag was looked up again before its deletion, from the registry.
    let log = hub.requests();
    let deletes: Vec<usize> = (0..log.len())
        .filter(|&i| log[i].method == "DELETE")
        .collect();
    assert_eq!(
        deletes.len(),
        3 + 3,
        "rocky-9 in three images, rocky-7 in three"
    );
    for i in deletes {
        let target = log[i].path.trim_end_matches('/');
        let (repo, tag) = {
            let mut parts = target.rsplit('/');
            let tag = parts.next().unwrap();
            parts.next();
            (parts.next().unwrap(), tag)
        };
        let lookup = format!("/v2/namespaces/{NS}/repositories/{repo}/tags/{tag}");
        assert!(
            log[..i]
                .iter()
                .any(|r| r.method == "GET" && r.path == lookup),
            "{target} deleted without a fresh look-up"
        );
    }
}

/// A repository whose tags have come from the cache for a week is listed
/// in full again (`FULL_EVERY`): an error in the cache that no count shows
/// does not outlive it. The others stay incremental.
#[test]
fn a_repository_last_listed_in_full_a_week_ago_is_listed_in_full_again() {
    let hub = fixture(NS).start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let cache = w.path().join("cache");
    let cached = ["--cache-dir", cache.to_str().unwrap()];
    let now = Utc::now() + TimeDelta::minutes(1);
    let first = audit(&hub, &m, now, &cached);
    assert!(first.code <= 1, "{}", first.stderr);
    let expected = without_stats(&first.json());
    // The cache says base was last listed in full eight days ago, and holds
    // a tag the registry no longer has in its place: wrong in a way neither
    // its count nor its newest tag shows.
    let file = cache_file(&cache);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let base = &mut doc["repositories"]["debian-source-base"];
    let week_ago = (Utc::now() - TimeDelta::days(8)).to_rfc3339();
    base["verified_at"] = week_ago.clone().into();
    let tags = base["tags"].as_array_mut().unwrap();
    let oldest = tags
        .iter_mut()
        .find(|t| t["name"] == "rocky-1")
        .expect("rocky-1 cached");
    oldest["name"] = "rocky-0".into();
    std::fs::write(&file, doc.to_string()).unwrap();

    let again = audit(&hub, &m, now, &cached);
    assert!(again.code <= 1, "{}", again.stderr);
    assert_eq!(without_stats(&again.json()), expected, "{}", again.stderr);
    assert!(
        again.stderr.contains(
            "linaro/debian-source-base: last listed in full 8 days ago (each repository is, at least every 7 days); listing every tag"
        ),
        "{}",
        again.stderr
    );
    assert_eq!(
        again.json()["stats"]["unchanged_repositories"],
        4,
        "the others: one look each"
    );
    // Listed in full, it is good for another week.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_ne!(
        doc["repositories"]["debian-source-base"]["verified_at"],
        Value::from(week_ago)
    );
}
