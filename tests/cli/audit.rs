//! `tagsweep audit` end to end against the fake Docker Hub.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use crate::support::fakehub::{FakeHub, FakeHubBuilder};
use crate::support::{build, now, run, tagsweep, Workdir, NOW};

const SET: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
  grace: 2h
  protect: ['^latest$']
images:
  - debian-source-base
  - debian-source-nova-api
  - debian-source-glance-api
  - name: debian-source-ironic-pxe
    builds: '^rocky-(1\\d\\d)$'
";

/// Build `rocky-i` was pushed (150 - i) × 6 h + 30 min before NOW: rocky-150
/// is 30 minutes old (inside the 2 h grace), rocky-149 is 6.5 h old.
fn pushed(i: i64) -> DateTime<Utc> {
    now() - TimeDelta::hours((150 - i) * 6) - TimeDelta::minutes(30)
}

/// 150 builds over four images (three of them with more than 100 tags, so
/// several pages each): rocky-140 lacks glance-api (broken), rocky-120 lacks
/// ironic-pxe (broken), rocky-150 lacks nova-api but is 30 min old (in
/// progress). ironic-pxe is only expected in rocky-100 and later.
fn linaro() -> FakeHubBuilder {
    let mut b = FakeHub::builder().account("ci-bot", "dckr_pat_s3cret", true);
    for image in [
        "debian-source-base",
        "debian-source-nova-api",
        "debian-source-glance-api",
    ] {
        let mut r = b.repo("linaro", image);
        for i in 1..=150 {
            let skip = (image == "debian-source-glance-api" && i == 140)
                || (image == "debian-source-nova-api" && i == 150);
            if !skip {
                r = r.tag(&format!("rocky-{i}"), pushed(i));
            }
        }
        b = r.tag("latest", pushed(149)).done();
    }
    let mut r = b.repo("linaro", "debian-source-ironic-pxe");
    for i in 100..=150 {
        if i != 120 {
            r = r.tag(&format!("rocky-{i}"), pushed(i));
        }
    }
    r.done()
        // Carries a build tag, not in the manifest: reported as unexpected.
        .repo("linaro", "debian-source-experimental")
        .tag("rocky-150", pushed(150))
        .done()
        // Another set in the same namespace: not ours, not listed.
        .repo("linaro", "ubuntu-binary-base")
        .tag("rocky-150", pushed(150))
        .done()
}

fn audit_json(hub: &FakeHub, manifest: &std::path::Path) -> crate::support::Run {
    run(tagsweep()
        .args(["audit", "--format", "json", "--now", NOW, "-m"])
        .arg(manifest)
        .env("TAGSWEEP_HUB_URL", hub.url()))
}

#[test]
fn audit_reports_every_build_across_pages() {
    let hub = linaro().start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let out = audit_json(&hub, &m);
    assert_eq!(out.code, 1, "broken builds exit 1\n{}", out.stderr);
    let doc = out.json();

    assert_eq!(doc["registry"], "docker.io");
    assert_eq!(doc["namespace"], "linaro");
    assert_eq!(
        doc["summary"],
        json!({"builds": 150, "complete": 147, "broken": 2, "in_progress": 1})
    );
    assert_eq!(doc["builds"].as_array().unwrap().len(), 150);
    assert_eq!(
        doc["unexpected_repositories"],
        json!(["debian-source-experimental"])
    );
    assert_eq!(doc["missing_repositories"], json!([]));

    // Newest first, natural order.
    let tags: Vec<&str> = doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tag"].as_str().unwrap())
        .collect();
    assert_eq!(&tags[..3], ["rocky-150", "rocky-149", "rocky-148"]);
    assert_eq!(tags[149], "rocky-1");

    assert_eq!(
        build(&doc, "rocky-150"),
        &json!({"tag": "rocky-150", "status": "in_progress", "expected": 4, "present": 3,
                "missing": ["debian-source-nova-api"], "missing_platforms": {}, "unverified_platforms": {},
                "newest_push": "2026-11-20T11:30:00Z", "newest_push_source": "registry"})
    );
    assert_eq!(
        build(&doc, "rocky-140"),
        &json!({"tag": "rocky-140", "status": "broken", "expected": 4, "present": 3,
                "missing": ["debian-source-glance-api"], "missing_platforms": {}, "unverified_platforms": {},
                "newest_push": "2026-11-17T23:30:00Z", "newest_push_source": "registry"})
    );
    let b120 = build(&doc, "rocky-120");
    assert_eq!(
        (b120["status"].as_str(), &b120["missing"]),
        (Some("broken"), &json!(["debian-source-ironic-pxe"]))
    );
    // Before rocky-100, ironic-pxe is not expected: three images make the build.
    let b99 = build(&doc, "rocky-99");
    assert_eq!(
        (
            b99["status"].as_str(),
            b99["expected"].as_u64(),
            b99["present"].as_u64()
        ),
        (Some("complete"), Some(3), Some(3))
    );

    // Every page followed, nothing fetched twice, nothing about other sets:
    // 1 repository page + 2 pages for each 150-tag image + 1 for ironic-pxe + 1 for experimental.
    assert_eq!(doc["stats"]["requests"], 9, "{}", doc["stats"]);
    assert_eq!(doc["stats"]["retries"], 0);
    let tag_requests: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/tags"))
        .collect();
    assert!(tag_requests
        .iter()
        .all(|r| r.query_param("page_size").as_deref() == Some("100")));
    assert!(!tag_requests
        .iter()
        .any(|r| r.path.contains("ubuntu-binary-base")));
    assert_eq!(hub.count("DELETE"), 0);
}

#[test]
fn a_complete_set_exits_zero() {
    let hub = FakeHub::builder()
        .repo("linaro", "debian-source-base")
        .tag("rocky-1", now() - TimeDelta::days(2))
        .done()
        .repo("linaro", "debian-source-nova-api")
        .tag("rocky-1", now() - TimeDelta::days(2))
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base, debian-source-nova-api]\n",
    );
    let out = audit_json(&hub, &m);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.json()["summary"],
        json!({"builds": 1, "complete": 1, "broken": 0, "in_progress": 0})
    );
}

#[test]
fn in_progress_is_judged_by_the_real_clock_without_now() {
    let recent = Utc::now() - TimeDelta::minutes(10);
    let hub = FakeHub::builder()
        .repo("linaro", "debian-source-base")
        .tag("rocky-7", recent)
        .tag("rocky-6", Utc::now() - TimeDelta::hours(3))
        .done()
        .repo("linaro", "debian-source-nova-api")
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$', grace: 1h}\nimages: [debian-source-base, debian-source-nova-api]\n",
    );
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(build(&doc, "rocky-7")["status"], "in_progress");
    assert_eq!(build(&doc, "rocky-6")["status"], "broken");
}

#[test]
fn platforms_are_checked_per_image() {
    let t = now() - TimeDelta::days(1);
    let hub = FakeHub::builder()
        .repo("linaro", "debian-source-base")
        // buildx pushes attestation manifests (unknown/unknown): not platforms.
        .tag_attested("rocky-1", t, &["linux/amd64", "linux/arm64/v8"])
        .tag_attested("rocky-2", t, &["linux/amd64", "linux/arm64"])
        .done()
        .repo("linaro", "debian-source-nova-api")
        .tag_platforms("rocky-1", t, &["linux/amd64"])
        .tag_platforms("rocky-2", t, &["linux/arm64", "linux/amd64"])
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nplatforms: [linux/amd64, linux/arm64]\nimages: [debian-source-base, debian-source-nova-api]\n",
    );
    let out = audit_json(&hub, &m);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    let b1 = build(&doc, "rocky-1");
    assert_eq!(b1["status"], "broken");
    assert_eq!(b1["missing"], json!([]));
    assert_eq!(
        b1["missing_platforms"],
        json!({"debian-source-nova-api": ["linux/arm64"]})
    );
    assert_eq!(build(&doc, "rocky-2")["status"], "complete");
}

#[test]
fn missing_and_private_repositories() {
    let t = now() - TimeDelta::days(1);
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_s3cret", false)
        .repo("linaro", "debian-source-base")
        .tag("rocky-1", t)
        .done()
        .repo("linaro", "debian-source-keystone")
        .private(true)
        .tag("rocky-1", t)
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base, debian-source-keystone, debian-source-typo]\n",
    );

    // Anonymous: the private repository is invisible, so reported missing — loudly, apart from builds.
    let out = run(tagsweep()
        .args(["audit", "--now", NOW, "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("ERROR: 2 images of the manifest have no repository in linaro: debian-source-keystone, debian-source-typo"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("private repository seen without credentials"),
        "{}",
        out.stdout
    );
    let doc = audit_json(&hub, &m).json();
    assert_eq!(
        doc["missing_repositories"],
        json!(["debian-source-keystone", "debian-source-typo"])
    );
    assert_eq!(
        build(&doc, "rocky-1")["status"],
        "complete",
        "missing repositories are not missing images"
    );
    assert_eq!(build(&doc, "rocky-1")["expected"], 1);

    // Logged in: the private repository is seen; only the typo remains.
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "--now", NOW, "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_s3cret"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["missing_repositories"], json!(["debian-source-typo"]));
    assert_eq!(build(&doc, "rocky-1")["expected"], 2);
    let logins: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(logins.len(), 1, "one login per run");
    assert_eq!(logins[0].path, "/v2/auth/token");
    assert!(hub
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.identity.is_some())
        .any(|r| r.path.contains("debian-source-keystone")));
}

#[test]
fn named_builds_only() {
    let hub = linaro().start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let out = run(tagsweep()
        .args([
            "audit",
            "--format",
            "json",
            "--now",
            NOW,
            "--build",
            "rocky-140",
            "--build",
            "rocky-2",
            "-m",
        ])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 1);
    let doc = out.json();
    let tags: Vec<&str> = doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["rocky-140", "rocky-2"]);

    let out = run(tagsweep()
        .args(["audit", "--build", "latest", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(
        out.code, 2,
        "a --build that is not a build tag is a usage error"
    );
    assert!(
        out.stderr.contains("does not match builds.pattern"),
        "{}",
        out.stderr
    );
}

#[test]
fn anonymous_paging_past_1000_asks_for_credentials() {
    let t0 = now() - TimeDelta::days(400);
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_s3cret", false)
        .repo("linaro", "debian-source-base")
        .numbered_tags("rocky-", 1050, t0, TimeDelta::hours(1))
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base]\n",
    );
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(
        out.code, 2,
        "a cut-short listing must never be reported: {}",
        out.stdout
    );
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("pagination offset too large"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"),
        "{}",
        out.stderr
    );

    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_s3cret"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["summary"]["complete"], 1050);
    // 1 login + 1 repository page + 11 tag pages.
    assert_eq!(doc["stats"]["requests"], 13);
}

#[test]
fn falls_back_to_users_login_when_the_token_route_is_missing() {
    let hub = FakeHub::builder()
        .auth_token_endpoint(false)
        .account("ci-bot", "dckr_pat_s3cret", false)
        .repo("linaro", "debian-source-base")
        .private(true)
        .tag("rocky-1", now())
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base]\n",
    );
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_s3cret"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let posts: Vec<String> = hub
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| format!("{} {}", r.path, r.status))
        .collect();
    assert_eq!(posts, ["/v2/auth/token 404", "/v2/users/login 200"]);
}

#[test]
fn wrong_credentials_fail_clearly_without_showing_the_secret() {
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_right", false)
        .repo("linaro", "debian-source-base")
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base]\n",
    );
    let out = run(tagsweep()
        .args(["-v", "audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_WRONG_value"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("logging in to"), "{}", out.stderr);
    assert!(
        out.stderr.contains("as ci-bot failed: 401"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("dckr_pat_WRONG_value")
            && !out.stdout.contains("dckr_pat_WRONG_value")
    );
    assert_eq!(
        hub.count("POST"),
        1,
        "a refused login is not retried (Docker Hub locks accounts out)"
    );
}

#[test]
fn verbose_output_never_shows_secrets_or_tokens() {
    let hub = linaro().start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let out = run(tagsweep()
        .args(["-v", "audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_s3cret"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("GET http://"),
        "-v prints requests: {}",
        out.stderr
    );
    let tokens: Vec<String> = hub.state().tokens.keys().cloned().collect();
    assert_eq!(tokens.len(), 1);
    for secret in ["dckr_pat_s3cret".to_string(), tokens[0].clone()] {
        assert!(!out.stdout.contains(&secret), "secret in stdout");
        assert!(!out.stderr.contains(&secret), "secret in stderr");
    }
    // Every authenticated request carried the token.
    assert!(hub
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .all(|r| r.identity.as_deref() == Some("ci-bot")));
}

#[test]
fn operational_errors_exit_2() {
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base]\n",
    );

    // Nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", format!("http://{closed}")));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "GET http://{closed}/v2/namespaces/linaro/repositories"
        )),
        "{}",
        out.stderr
    );

    // Plain http to a non-loopback host is refused before any request.
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&m)
        .args(["--hub-url", "http://hub.docker.com"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("plain http is allowed only for loopback"),
        "{}",
        out.stderr
    );

    // Unknown namespace.
    let hub = FakeHub::builder().repo("other", "x").done().start();
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("namespace \"linaro\" not found"),
        "{}",
        out.stderr
    );

    // An invalid manifest: every problem, with its position.
    hub.clear_requests();
    let bad = w.write(
        "bad.yaml",
        "namespace: Linaro!\nbuilds: {pattern: '^rocky-(\\d+$'}\nimages: []\n",
    );
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&bad)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad.yaml:1:"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.yaml:2:"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.yaml:3:"), "{}", out.stderr);
    assert!(
        hub.requests().is_empty(),
        "nothing is asked of the registry when the manifest is bad"
    );

    // Usage errors.
    assert_eq!(run(tagsweep().args(["audit", "--frmat", "json"])).code, 2);
    assert_eq!(run(tagsweep().args(["audit"])).code, 2);
}

/// The deterministic small fixture the table and Markdown snapshots show.
fn small() -> FakeHub {
    let t = |h: i64| now() - TimeDelta::hours(h);
    FakeHub::builder()
        .repo("linaro", "debian-source-base")
        .tag_platforms("rocky-4", t(1), &["linux/amd64", "linux/arm64"])
        .tag_platforms("rocky-3", t(30), &["linux/amd64"])
        .tag_platforms("rocky-2", t(50), &["linux/amd64", "linux/arm64"])
        .tag_platforms("rocky-1", t(70), &["linux/amd64", "linux/arm64"])
        .done()
        .repo("linaro", "debian-source-nova-api")
        .tag_platforms("rocky-3", t(30), &["linux/amd64", "linux/arm64"])
        .tag_platforms("rocky-2", t(50), &["linux/amd64", "linux/arm64"])
        .tag_platforms("rocky-1", t(70), &["linux/amd64", "linux/arm64"])
        .done()
        .repo("linaro", "debian-source-glance-api")
        .tag_platforms("rocky-3", t(30), &["linux/amd64", "linux/arm64"])
        .tag_platforms("rocky-1", t(70), &["linux/amd64", "linux/arm64"])
        .done()
        .repo("linaro", "debian-source-extra")
        .tag("rocky-3", t(30))
        .done()
        .start()
}

const SMALL: &str = "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$', grace: 2h}\nplatforms: [linux/amd64, linux/arm64]\nimages: [debian-source-base, debian-source-nova-api, debian-source-glance-api, debian-source-cinder-api]\n";

#[test]
fn table_output() {
    let hub = small();
    let w = Workdir::new();
    let m = w.write("m.yaml", SMALL);
    let out = run(tagsweep()
        .args(["audit", "--now", NOW, "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    insta::assert_snapshot!("audit_table", out.stdout);
}

#[test]
fn markdown_output() {
    let hub = small();
    let w = Workdir::new();
    let m = w.write("m.yaml", SMALL);
    let out = run(tagsweep()
        .args(["audit", "--format", "markdown", "--now", NOW, "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    insta::assert_snapshot!("audit_markdown", out.stdout);
}

#[test]
fn one_build_is_looked_up_tag_by_tag_when_that_is_cheaper() {
    let hub = linaro().start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let out = run(tagsweep()
        .args([
            "audit",
            "--format",
            "json",
            "--now",
            NOW,
            "--build",
            "rocky-140",
            "-m",
        ])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(
        build(&doc, "rocky-140"),
        &json!({"tag": "rocky-140", "status": "broken", "expected": 4, "present": 3,
                "missing": ["debian-source-glance-api"], "missing_platforms": {}, "unverified_platforms": {},
                "newest_push": "2026-11-17T23:30:00Z", "newest_push_source": "registry"})
    );
    // 1 repository page + 1 tag count + 1 look-up in each of the 5 candidates,
    // instead of 2 pages for each of them.
    assert_eq!(doc["stats"]["requests"], 7, "{}", doc["stats"]);
    let listings = hub
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.ends_with("/tags") && r.query_param("page_size").as_deref() == Some("100")
        })
        .count();
    assert_eq!(listings, 0, "no full listing");

    // Many builds: listing is cheaper than looking each one up.
    let many: Vec<String> = (1..=20)
        .flat_map(|i| ["--build".to_string(), format!("rocky-{i}")])
        .collect();
    hub.clear_requests();
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "--now", NOW])
        .args(&many)
        .arg("-m")
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["summary"]["complete"], 20);
    // 1 repository page + 1 tag count + the 8 pages of a full listing.
    assert_eq!(out.json()["stats"]["requests"], 1 + 1 + 8);
}

#[test]
fn since_reads_only_the_newest_pages() {
    let hub = linaro().start();
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let out = run(tagsweep()
        .args([
            "audit", "--format", "json", "--now", NOW, "--since", "7h", "-m",
        ])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let tags: Vec<&str> = doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["rocky-150", "rocky-149"]);
    assert_eq!(build(&doc, "rocky-150")["status"], "in_progress");
    assert_eq!(
        build(&doc, "rocky-150")["missing"],
        json!(["debian-source-nova-api"])
    );
    assert_eq!(build(&doc, "rocky-149")["status"], "complete");
    // 1 repository page + the first page of each of the 5 candidates + 1
    // look-up of rocky-150 in nova-api (absent): not the 9 pages of a full listing.
    assert_eq!(doc["stats"]["requests"], 7, "{}", doc["stats"]);
    assert!(hub
        .requests()
        .iter()
        .filter(
            |r| r.path.ends_with("/tags") && r.query_param("page_size").as_deref() == Some("100")
        )
        .all(|r| r.query_param("ordering").as_deref() == Some("last_updated")));

    // A build that started before the window still counts whole: its older
    // tags are looked up, not reported missing.
    let t = now() - TimeDelta::hours(3);
    let hub = FakeHub::builder()
        .repo("linaro", "debian-source-base")
        .tag("rocky-9", t)
        .tag("latest", now() - TimeDelta::hours(1))
        .done()
        .repo("linaro", "debian-source-nova-api")
        .tag("rocky-9", now() - TimeDelta::minutes(50))
        .done()
        .start();
    let m = w.write("two.yaml", "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$', grace: 10m}\nimages: [debian-source-base, debian-source-nova-api]\n");
    let out = run(tagsweep()
        .args([
            "audit", "--format", "json", "--now", NOW, "--since", "1h", "-m",
        ])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(build(&doc, "rocky-9")["status"], "complete", "{doc}");
    assert_eq!(build(&doc, "rocky-9")["present"], 2);
}
