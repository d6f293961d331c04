//! `tagsweep prune` end to end, judged by the fake Docker Hub's state — what
//! is really left on the server — not by our own output.

use chrono::{TimeDelta, Utc};
use serde_json::Value;

use crate::support::fakehub::{FakeHub, Fault, Tag};
use crate::support::{run, tagsweep, Run, Workdir};

const NS: &str = "linaro";
const BASE: &str = "debian-source-base";
const NOVA: &str = "debian-source-nova-api";
const GLANCE: &str = "debian-source-glance-api";
const EXTRA: &str = "debian-source-extra";

const MANIFEST: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
  grace: 2h
  protect: ['^latest$', '^rocky-3$']
images: [debian-source-base, debian-source-nova-api, debian-source-glance-api]
";

/// rocky-1 complete; rocky-2 broken (glance missing); rocky-3 broken but
/// protected; rocky-4 incomplete but 10 minutes old (in progress); rocky-5
/// broken (nova missing). `latest` and `nightly` are not builds; `extra` is not
/// in the manifest but carries rocky-2.
fn hub() -> FakeHub {
    let ago = |h: i64| Utc::now() - TimeDelta::hours(h);
    let recent = Utc::now() - TimeDelta::minutes(10);
    FakeHub::builder()
        .account("ci-bot", "dckr_pat_delete", true)
        .account("reader", "dckr_pat_read", false)
        .repo(NS, BASE)
        .tag("rocky-1", ago(72))
        .tag("rocky-2", ago(48))
        .tag("rocky-3", ago(30))
        .tag("rocky-4", recent)
        .tag("rocky-5", ago(20))
        .tag("latest", ago(48))
        .tag("nightly", ago(1))
        .done()
        .repo(NS, NOVA)
        .tag("rocky-1", ago(72))
        .tag("rocky-2", ago(48))
        .tag("rocky-4", recent)
        .tag("latest", ago(48))
        .done()
        .repo(NS, GLANCE)
        .tag("rocky-1", ago(72))
        .tag("rocky-3", ago(30))
        .tag("rocky-5", ago(20))
        .done()
        .repo(NS, EXTRA)
        .tag("rocky-2", ago(48))
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

fn untouched(hub: &FakeHub) {
    assert_eq!(
        tags(hub, BASE),
        ["latest", "nightly", "rocky-1", "rocky-2", "rocky-3", "rocky-4", "rocky-5"]
    );
    assert_eq!(tags(hub, NOVA), ["latest", "rocky-1", "rocky-2", "rocky-4"]);
    assert_eq!(tags(hub, GLANCE), ["rocky-1", "rocky-3", "rocky-5"]);
    assert_eq!(tags(hub, EXTRA), ["rocky-2"]);
    assert_eq!(hub.count("DELETE"), 0);
}

/// Every journal line.
fn journal_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal lines are JSON"))
        .collect()
}

/// The journal's result lines (the intent line before each deletion left out).
fn journal(path: &std::path::Path) -> Vec<Value> {
    journal_lines(path)
        .into_iter()
        .filter(|l| l["result"] != "intent")
        .collect()
}

#[test]
fn prune_broken_deletes_exactly_the_broken_builds() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let j = w.path().join("journal.jsonl");
    let out = prune(
        &hub,
        &m,
        &["--broken", "--yes", "--journal", j.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // Broken rocky-2 and rocky-5 are gone from the set's repositories …
    assert_eq!(
        tags(&hub, BASE),
        ["latest", "nightly", "rocky-1", "rocky-3", "rocky-4"]
    );
    assert_eq!(tags(&hub, NOVA), ["latest", "rocky-1", "rocky-4"]);
    assert_eq!(tags(&hub, GLANCE), ["rocky-1", "rocky-3"]);
    // … and nothing else: complete, in-progress and protected builds, other
    // tags and the repository outside the manifest are intact.
    assert_eq!(tags(&hub, EXTRA), ["rocky-2"]);
    assert_eq!(hub.count("DELETE"), 4);
    assert!(hub
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .all(|r| r.path.ends_with('/') && r.status == 204));

    assert!(
        out.stdout
            .contains("Prune plan for linaro on docker.io: 2 builds, 4 tags in 3 repositories"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Skipped rocky-4: in progress"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Skipped rocky-3: protected by builds.protect"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Left alone (not in the manifest): debian-source-extra:rocky-2"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Deleted 4 tags, 0 already gone, 0 skipped, 0 failed."),
        "{}",
        out.stdout
    );

    let lines = journal(&j);
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert_eq!(l["result"], "deleted");
        assert_eq!(l["namespace"], NS);
        assert_eq!(l["registry"], "docker.io");
        assert!(l["digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(l["time"].as_str().unwrap().ends_with('Z'));
        // What `restore` needs to push the manifest back as it was.
        assert_eq!(l["action"], "prune");
        // Docker Hub lists a single-platform tag with its config's media
        // type: not a manifest's, so not recorded (restore asks the registry).
        assert!(l.get("media_type").is_none(), "{l}");
    }
    let mut deleted: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{}:{}",
                l["repository"].as_str().unwrap(),
                l["tag"].as_str().unwrap()
            )
        })
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            format!("{BASE}:rocky-2"),
            format!("{BASE}:rocky-5"),
            format!("{GLANCE}:rocky-5"),
            format!("{NOVA}:rocky-2")
        ]
    );

    // A rerun finds nothing left to do.
    let again = prune(&hub, &m, &["--broken", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("Nothing to prune."),
        "{}",
        again.stdout
    );
    assert_eq!(hub.count("DELETE"), 4);
}

#[test]
fn named_builds_are_deleted_whatever_their_status() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let out = prune(
        &hub,
        &m,
        &["--build", "rocky-1", "--yes", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!tags(&hub, BASE).contains(&"rocky-1".to_string()));
    assert!(!tags(&hub, NOVA).contains(&"rocky-1".to_string()));
    assert!(!tags(&hub, GLANCE).contains(&"rocky-1".to_string()));
    assert_eq!(hub.count("DELETE"), 3);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["builds"][0]["tag"], "rocky-1");
    assert_eq!(doc["builds"][0]["status"], "complete");
    assert_eq!(doc["builds"][0]["reason"], "named");
    assert_eq!(doc["result"]["totals"]["deleted"], 3);

    // A protected build stays, even when named.
    let out = prune(&hub, &m, &["--build", "rocky-3", "--yes"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("Skipped rocky-3: protected"),
        "{}",
        out.stdout
    );
    assert!(tags(&hub, GLANCE).contains(&"rocky-3".to_string()));
    // `latest` is not a build tag at all.
    let out = prune(&hub, &m, &["--build", "latest", "--yes"]);
    assert_eq!(out.code, 2);
    assert_eq!(hub.count("DELETE"), 3);
}

#[test]
fn refused_runs_delete_nothing() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);

    // --dry-run prints the plan and stops.
    let out = prune(&hub, &m, &["--broken", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("(dry run: nothing will be deleted)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("rocky-2"));
    untouched(&hub);

    // No terminal and no --yes: refuse.
    let out = prune(&hub, &m, &["--broken"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("stdin is not a terminal"),
        "{}",
        out.stderr
    );
    untouched(&hub);

    // More builds than --max-builds.
    let out = prune(&hub, &m, &["--broken", "--yes", "--max-builds", "1"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("refusing to prune 2 builds: more than --max-builds 1"),
        "{}",
        out.stderr
    );
    untouched(&hub);

    // A typo in the manifest makes an expected repository missing: --broken refuses.
    let typo = w.write(
        "typo.yaml",
        &MANIFEST.replace(
            "debian-source-glance-api]",
            "debian-source-glance-api, debian-source-glanse-api]",
        ),
    );
    let out = prune(&hub, &typo, &["--broken", "--yes"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("expected repository is missing (debian-source-glanse-api)"),
        "{}",
        out.stderr
    );
    untouched(&hub);

    // Docker Hub deletes need a login: refused up front, before any request.
    hub.clear_requests();
    let out = run(tagsweep()
        .args(["prune", "--broken", "--yes", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("deleting tags on Docker Hub needs credentials"),
        "{}",
        out.stderr
    );
    assert!(hub.requests().is_empty());
    untouched(&hub);
    // A dry run works anonymously.
    let out = run(tagsweep()
        .args(["prune", "--broken", "--dry-run", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    untouched(&hub);
}

/// Runs prune under a pseudo-terminal (util-linux `script`), typing `answer`.
fn prune_on_a_terminal(hub: &FakeHub, manifest: &std::path::Path, answer: &str) -> Run {
    let bin = assert_cmd::cargo::cargo_bin("tagsweep");
    let line = format!("{} prune --broken -m {}", bin.display(), manifest.display());
    run(assert_cmd::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_delete")
        // Never the user's caches.
        .env(
            "XDG_CACHE_HOME",
            manifest.parent().expect("a directory").join("cache"),
        )
        .write_stdin(answer.to_string()))
}

#[test]
fn a_terminal_user_must_type_the_namespace() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let out = prune_on_a_terminal(&hub, &m, "no\n");
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("Type the namespace (linaro) to confirm"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("not confirmed; nothing was deleted"),
        "{}",
        out.stdout
    );
    untouched(&hub);

    let out = prune_on_a_terminal(&hub, &m, "linaro\n");
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(hub.count("DELETE"), 4);
    assert_eq!(tags(&hub, GLANCE), ["rocky-1", "rocky-3"]);
}

#[test]
fn a_build_completed_since_the_audit_is_skipped() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let pushed = Utc::now() - TimeDelta::hours(47);
    // The re-check of rocky-2 happens after the audit: the missing image lands just then.
    hub.once("GET", "/tags/rocky-2$", move |s, _| {
        s.push_tag(NS, GLANCE, Tag::new("rocky-2", pushed))
    });
    let out = prune(
        &hub,
        &m,
        &[
            "--build",
            "rocky-5",
            "--broken",
            "--yes",
            "--max-builds",
            "2",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("rocky-2: complete now"),
        "{}",
        out.stderr
    );
    assert_eq!(
        tags(&hub, NOVA),
        ["latest", "rocky-1", "rocky-2", "rocky-4"]
    );
    assert!(tags(&hub, GLANCE).contains(&"rocky-2".to_string()));
    assert!(tags(&hub, BASE).contains(&"rocky-2".to_string()));
    // rocky-5 was still broken: gone.
    assert!(!tags(&hub, BASE).contains(&"rocky-5".to_string()));
    assert_eq!(hub.count("DELETE"), 2);
    assert!(
        out.stdout
            .contains("Deleted 2 tags, 0 already gone, 2 skipped, 0 failed."),
        "{}",
        out.stdout
    );
}

#[test]
fn failed_deletions_are_journaled_and_a_rerun_converges() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let j = w.path().join("journal.jsonl");
    // Every DELETE of nova-api's tags fails (an incident), retries included.
    hub.inject(Fault::on("DELETE").path(NOVA).always().status(500));
    let out = prune(
        &hub,
        &m,
        &["--broken", "--yes", "--journal", j.to_str().unwrap()],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("Deleted 3 tags, 0 already gone, 0 skipped, 1 failed."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("failed {NOVA}:rocky-2: DELETE")),
        "{}",
        out.stdout
    );
    assert_eq!(
        tags(&hub, NOVA),
        ["latest", "rocky-1", "rocky-2", "rocky-4"]
    );
    let first = journal(&j);
    assert_eq!(first.len(), 4);
    assert_eq!(first.iter().filter(|l| l["result"] == "deleted").count(), 3);
    let failed: Vec<_> = first.iter().filter(|l| l["result"] == "failed").collect();
    assert_eq!(
        (failed.len(), failed[0]["repository"].as_str()),
        (1, Some(NOVA))
    );
    assert!(failed[0]["detail"].as_str().unwrap().contains("500"));

    // The incident is over: the same command finishes the job.
    hub.state().faults.clear();
    let out = prune(
        &hub,
        &m,
        &["--broken", "--yes", "--journal", j.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        tags(&hub, BASE),
        ["latest", "nightly", "rocky-1", "rocky-3", "rocky-4"]
    );
    assert_eq!(tags(&hub, NOVA), ["latest", "rocky-1", "rocky-4"]);
    assert_eq!(tags(&hub, GLANCE), ["rocky-1", "rocky-3"]);
    assert_eq!(tags(&hub, EXTRA), ["rocky-2"]);
    let all = journal(&j);
    assert_eq!(all.len(), 5);
    assert_eq!(all[4]["result"], "deleted");
    assert_eq!(all[4]["repository"], NOVA);
}

#[test]
fn a_token_without_delete_permission_stops_cleanly() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let out = run(tagsweep()
        .args([
            "prune",
            "--broken",
            "--yes",
            "--delete-concurrency",
            "1",
            "-m",
        ])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "reader")
        .env("DOCKERHUB_TOKEN", "dckr_pat_read"));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("access to the resource is forbidden with personal access token"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert!(out.stderr.contains("stopped deleting"), "{}", out.stderr);
    assert_eq!(hub.count("DELETE"), 1, "the first 403 stops the run");
    assert_eq!(tags(&hub, BASE).len(), 7);
    assert_eq!(tags(&hub, NOVA).len(), 4);
    assert_eq!(tags(&hub, GLANCE).len(), 3);
}

#[test]
fn the_journal_is_on_disk_before_the_next_deletion() {
    let hub = hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let j = w.path().join("journal.jsonl");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (path, lines_seen) = (j.clone(), seen.clone());
    // Each DELETE that reaches the server looks at what the journal already
    // holds: every earlier deletion's result, and its own intent.
    hub.on("DELETE", "", move |_, _| {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let last = text
            .lines()
            .last()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["result"].clone());
        lines_seen
            .lock()
            .unwrap()
            .push((text.lines().count(), last));
    });
    let out = prune(
        &hub,
        &m,
        &[
            "--broken",
            "--yes",
            "--delete-concurrency",
            "1",
            "--journal",
            j.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let intent = Some(Value::from("intent"));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (1, intent.clone()),
            (3, intent.clone()),
            (5, intent.clone()),
            (7, intent)
        ]
    );
    assert_eq!(journal(&j).len(), 4);
    assert_eq!(journal_lines(&j).len(), 8);
}
