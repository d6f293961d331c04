//! OCI registries end to end: the built binary (and, for deletes, the
//! library's backend) against a real registry — Debian's `docker-registry`,
//! CNCF distribution 2.8 — started per test (see `support/registry.rs`),
//! populated through its HTTP API, and judged by tagsweep's JSON and by what
//! the registry lists afterwards.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use crate::support::registry::oci_paging::{LinkStyle, PagingProxy};
use crate::support::registry::{Image, Options, TestRegistry, TokenPolicy};
use crate::support::{build, now, run, tagsweep, Run, Workdir, NOW};
use tagsweep::registry::{DeleteOutcome, Registry};

/// `minutes` before the fixed NOW, as RFC 3339.
pub(crate) fn ago(minutes: i64) -> String {
    (now() - TimeDelta::minutes(minutes)).to_rfc3339()
}

/// `minutes` before the real clock (for prune, which judges by it).
pub(crate) fn really_ago(minutes: i64) -> String {
    (Utc::now() - TimeDelta::minutes(minutes)).to_rfc3339()
}

fn both(created: &str, salt: &str) -> Vec<Image> {
    vec![
        Image::new("linux/amd64", created, &format!("{salt}-amd64")),
        Image::new("linux/arm64/v8", created, &format!("{salt}-arm64")),
    ]
}

pub(crate) fn manifest(w: &Workdir, url: &str, images: &str, extra: &str) -> std::path::PathBuf {
    w.write(
        "m.yaml",
        &format!(
            "registry: {url}\nnamespace: kolla\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\n  protect: ['^latest$']\n{extra}images: [{images}]\n"
        ),
    )
}

fn audit(m: &std::path::Path) -> Run {
    run(tagsweep()
        .args(["audit", "--format", "json", "--now", NOW, "-m"])
        .arg(m))
}

/// The backend itself, as `prune` gets it, for `delete_tag` and `get_tag`.
pub(crate) fn backend(m: &std::path::Path, credentials: Option<(&str, &str)>) -> Box<dyn Registry> {
    let manifest = tagsweep::manifest::load(m).expect("manifest");
    // As if given by --username and --password-stdin, with an empty environment.
    let connection = tagsweep::config::Connection::new(
        url::Url::parse("https://hub.docker.com").unwrap(),
        4,
        false,
        tagsweep::credentials::Inputs {
            username_flag: credentials.map(|(u, _)| u.to_string()),
            stdin_secret: credentials.map(|(_, p)| tagsweep::secret::Secret::new(p)),
        },
        tagsweep::credentials::Environment::default(),
    );
    tagsweep::config::open_registry(&manifest, &connection, None).expect("open registry")
}

/// Builds over three images, two platforms required:
/// rocky-1 complete (48 h old; an OCI index, a Docker manifest list, an
/// index whose time is an annotation); rocky-2 broken (24 h; glance-api
/// missing, nova-api single-platform amd64); rocky-3 in progress (30 min;
/// nova-api missing; base's index is also `latest`); rocky-4 on base only,
/// with a reproducible build's epoch as its time (no time: broken).
fn kolla(reg: &TestRegistry) {
    reg.push_index("kolla/base", "rocky-1", &both(&ago(48 * 60), "b1"), None);
    let docker: Vec<Image> = both(&ago(48 * 60), "n1")
        .into_iter()
        .map(Image::docker)
        .collect();
    reg.push_index("kolla/nova-api", "rocky-1", &docker, None);
    let annotated: Vec<Image> = both(&ago(48 * 60), "g1")
        .into_iter()
        .map(|i| i.annotated(&ago(50 * 60)))
        .collect();
    reg.push_index(
        "kolla/glance-api",
        "rocky-1",
        &annotated,
        Some(&ago(48 * 60)),
    );

    reg.push_index("kolla/base", "rocky-2", &both(&ago(24 * 60), "b2"), None);
    reg.push_image(
        "kolla/nova-api",
        "rocky-2",
        &Image::new("linux/amd64", &ago(24 * 60), "n2"),
    );

    let (b3, _) = reg.push_index("kolla/base", "rocky-3", &both(&ago(30), "b3"), None);
    let (latest, _) = reg.push_index("kolla/base", "latest", &both(&ago(30), "b3"), None);
    assert_eq!(b3, latest, "latest shares rocky-3's digest");
    reg.push_index("kolla/glance-api", "rocky-3", &both(&ago(35), "g3"), None);

    let epoch: Vec<Image> = both(&ago(10), "b4")
        .into_iter()
        .map(Image::reproducible)
        .collect();
    reg.push_index("kolla/base", "rocky-4", &epoch, None);

    // Outside the manifest: a build tag (unexpected), no build tag, another namespace.
    reg.push_image(
        "kolla/extra",
        "rocky-3",
        &Image::new("linux/amd64", &ago(30), "x"),
    );
    reg.push_image(
        "kolla/notes",
        "v1",
        &Image::new("linux/amd64", &ago(30), "y"),
    );
    reg.push_image(
        "other/base",
        "rocky-1",
        &Image::new("linux/amd64", &ago(30), "z"),
    );
}

#[test]
fn audit_judges_builds_on_a_real_registry() {
    let reg = TestRegistry::start();
    kolla(&reg);
    let w = Workdir::new();
    let m = manifest(
        &w,
        &reg.url(),
        "base, nova-api, glance-api, keystone",
        "platforms: [linux/amd64, linux/arm64]\n",
    );
    let out = audit(&m);
    assert_eq!(out.code, 1, "broken builds exit 1\n{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["registry"], reg.url());
    assert_eq!(doc["namespace"], "kolla");
    assert_eq!(
        doc["summary"],
        json!({"builds": 4, "complete": 1, "broken": 2, "in_progress": 1})
    );
    assert_eq!(doc["missing_repositories"], json!(["keystone"]));
    assert_eq!(doc["unexpected_repositories"], json!(["extra"]));
    let order: Vec<&str> = doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tag"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["rocky-3", "rocky-2", "rocky-1", "rocky-4"]);
    let newest = |b: &Value| {
        b["newest_push"]
            .as_str()
            .map(|t| t.parse::<DateTime<Utc>>().unwrap())
    };
    let r3 = build(&doc, "rocky-3");
    assert_eq!(r3["status"], "in_progress");
    assert_eq!(r3["missing"], json!(["nova-api"]));
    assert_eq!(r3["missing_platforms"], json!({}));
    assert_eq!(newest(r3), Some(now() - TimeDelta::minutes(30)));
    let r2 = build(&doc, "rocky-2");
    assert_eq!(r2["status"], "broken");
    assert_eq!(r2["missing"], json!(["glance-api"]));
    assert_eq!(
        r2["missing_platforms"],
        json!({"nova-api": ["linux/arm64"]}),
        "a single-platform image's platform comes from its config"
    );
    let r1 = build(&doc, "rocky-1");
    assert_eq!(r1["status"], "complete");
    assert_eq!(
        (r1["expected"].clone(), r1["present"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(
        newest(r1),
        Some(now() - TimeDelta::hours(48)),
        "the index annotation wins over its images' times"
    );
    let r4 = build(&doc, "rocky-4");
    assert_eq!(r4["status"], "broken", "no time: grace cannot apply");
    assert_eq!(r4["missing"], json!(["glance-api", "nova-api"]));
    assert_eq!(newest(r4), None);

    // -v says why grace could not apply, and prints every request.
    let out = run(tagsweep()
        .args(["-v", "audit", "--format", "json", "--now", NOW, "-m"])
        .arg(&m));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("kolla/base:rocky-4 has no creation time")
            && out.stderr.contains("grace cannot apply"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("manifests/latest"),
        "non-build tags are never read:\n{}",
        out.stderr
    );

    // A snapshot records digests and platforms; auditing it gives the same verdicts.
    let snap = w.path().join("snap.json");
    let out = run(tagsweep()
        .args(["snapshot", "-m"])
        .arg(&m)
        .arg("-o")
        .arg(&snap));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let inv: Value = serde_json::from_str(&std::fs::read_to_string(&snap).unwrap()).unwrap();
    let tags = inv["repositories"]["base"]["tags"].as_array().unwrap();
    let r3 = tags.iter().find(|t| t["name"] == "rocky-3").unwrap();
    assert_eq!(
        r3["digest"],
        json!(reg.digest("kolla/base", "latest").unwrap())
    );
    assert_eq!(r3["platforms"], json!(["linux/amd64", "linux/arm64"]));
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "--now", NOW, "-m"])
        .arg(&m)
        .arg("--from")
        .arg(&snap));
    assert_eq!(out.json()["summary"], doc["summary"]);
}

/// A registry whose `tags/list` pages (through the paging layer), in each
/// Link style; our `n=1000` is capped to 3 per page, as Quay caps it.
#[test]
fn tags_are_followed_across_pages_in_every_link_style() {
    let reg = TestRegistry::start();
    let old = Image::new("linux/amd64", &ago(24 * 60), "old");
    for i in 1..=7 {
        reg.push_image("kolla/base", &format!("rocky-{i}"), &old);
        if i != 5 {
            reg.push_image("kolla/nova", &format!("rocky-{i}"), &old);
        }
    }
    for t in ["latest", "stable", "t-a"] {
        reg.push_image("kolla/base", t, &old);
    }
    let w = Workdir::new();
    for style in [LinkStyle::Relative, LinkStyle::Opaque, LinkStyle::Absolute] {
        let proxy = PagingProxy::start(&reg.rt, &reg.url(), style, 3);
        let m = manifest(&w, &proxy.url(), "base, nova", "");
        let out = audit(&m);
        assert_eq!(out.code, 1, "{style:?}: {}", out.stderr);
        let doc = out.json();
        assert_eq!(
            doc["summary"],
            json!({"builds": 7, "complete": 6, "broken": 1, "in_progress": 0}),
            "{style:?}"
        );
        assert_eq!(build(&doc, "rocky-5")["missing"], json!(["nova"]));
        let requests = proxy.requests();
        let base_pages: Vec<&String> = requests
            .iter()
            .filter(|r| r.contains("/v2/kolla/base/tags/list"))
            .collect();
        assert_eq!(
            base_pages.len(),
            4,
            "{style:?}: 10 tags in pages of 3: {base_pages:#?}"
        );
        assert!(
            base_pages[0].ends_with("tags/list?n=1000"),
            "{base_pages:?}"
        );
        let manifests: Vec<&String> = requests
            .iter()
            .filter(|r| r.contains("/manifests/"))
            .collect();
        assert_eq!(
            manifests.len(),
            13,
            "only build tags are read: {manifests:#?}"
        );
        assert!(!requests.iter().any(|r| r.ends_with("/manifests/latest")));
    }
    // A next link to another origin would carry our credentials there.
    let proxy = PagingProxy::start(&reg.rt, &reg.url(), LinkStyle::Foreign, 3);
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = audit(&m);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("refusing to follow it"),
        "{}",
        out.stderr
    );
}

/// `_catalog` of the real registry, capped to 2 entries a page: our
/// `n=1000` is refused (400 PAGINATION_NUMBER_INVALID), the server's own
/// page size is used, relative `Link`s followed.
#[test]
fn the_catalog_is_paged_and_read_for_unexpected_repositories() {
    let reg = TestRegistry::start_with(Options {
        catalog_max: Some(2),
        ..Options::default()
    });
    let img = Image::new("linux/amd64", &ago(24 * 60), "i");
    for repo in [
        "kolla/app-a",
        "kolla/app-b",
        "kolla/app-c",
        "kolla/zz",
        "aaa/x",
        "zzz/y",
    ] {
        reg.push_image(repo, "rocky-1", &img);
    }
    reg.push_image("kolla/app-d", "v1", &img);
    let w = Workdir::new();
    let m = manifest(&w, &reg.url(), "app-a, app-b", "");
    let out = run(tagsweep()
        .args(["-v", "audit", "--format", "json", "--now", NOW, "-m"])
        .arg(&m));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["summary"]["complete"], 1);
    // app-c carries a build tag; app-d does not; zz does not share the set's prefix.
    assert_eq!(doc["unexpected_repositories"], json!(["app-c"]));
    assert!(
        out.stderr.contains("/v2/_catalog?n=1000 -> 400"),
        "{}",
        out.stderr
    );
    let pages = out
        .stderr
        .lines()
        .filter(|l| l.contains("/v2/_catalog?last="))
        .count();
    assert!(pages >= 3, "followed the catalog's Links:\n{}", out.stderr);
}

/// Pruning is an untag: `prune` of broken builds on the real registry
/// removes their tags from `tags/list`, never takes the tags sharing their
/// digests, and leaves every pruned manifest (and every index child)
/// fetchable by digest, for `restore`.
#[test]
fn prune_untags_build_tags_and_keeps_their_manifests_and_other_tags() {
    let reg = TestRegistry::start_with(Options {
        access_log: true,
        ..Options::default()
    });
    let old = really_ago(48 * 60);
    // rocky-1: base's manifest is also `latest` (protected); nova lacks it.
    let shared = reg.push_image(
        "kolla/base",
        "rocky-1",
        &Image::new("linux/amd64", &old, "s"),
    );
    reg.push_image(
        "kolla/base",
        "latest",
        &Image::new("linux/amd64", &old, "s"),
    );
    // rocky-2: base's manifest is its own index; nova lacks it.
    let (own, own_children) = reg.push_index("kolla/base", "rocky-2", &both(&old, "own"), None);
    // rocky-3: base's tag points to a child of the `multi` index; nova lacks it.
    let (index, children) = reg.push_index("kolla/base", "multi", &both(&old, "m"), None);
    let amd64 = Image::new("linux/amd64", &old, "m-amd64");
    assert_eq!(reg.push_image("kolla/base", "rocky-3", &amd64), children[0]);
    // rocky-0 and rocky-4: complete; they stay. (Without rocky-0, nova
    // would be in no build before rocky-4: an image that joined the set
    // then, and rocky-1..3 not broken.)
    for repo in ["kolla/base", "kolla/nova"] {
        for build in ["rocky-0", "rocky-4"] {
            reg.push_image(repo, build, &Image::new("linux/amd64", &old, repo));
        }
    }
    let w = Workdir::new();
    let m = manifest(&w, &reg.url(), "base, nova", "");
    // The images' `created` is their build time here (not a reproducible
    // build's commit time): the user says so.
    let out = run(tagsweep()
        .args([
            "prune",
            "--broken",
            "--yes",
            "--trust-declared-times",
            "--format",
            "json",
            "-m",
        ])
        .arg(&m));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "multi", "rocky-0", "rocky-4"],
        "{}",
        out.stderr
    );
    assert_eq!(reg.digest("kolla/base", "latest"), Some(shared.clone()));
    assert_eq!(reg.digest("kolla/base", &shared), Some(shared.clone()));
    assert_eq!(
        reg.digest("kolla/base", &own).as_ref(),
        Some(&own),
        "an unshared manifest stays too, fetchable by digest"
    );
    for child in &own_children {
        assert_eq!(reg.digest("kolla/base", child).as_ref(), Some(child));
    }
    // The tags went by a tag move and the delete of a throw-away digest:
    // no DELETE ever named a build's manifest.
    let log = reg.log();
    let deletes: Vec<&str> = log.lines().filter(|l| l.contains("\"DELETE ")).collect();
    assert!(deletes.len() >= 3, "{log}");
    for kept in [&shared, &own, &children[0]] {
        assert!(
            deletes.iter().all(|l| !l.contains(kept.as_str())),
            "{kept} was never deleted:\n{}",
            deletes.join("\n")
        );
    }
    assert_eq!(reg.digest("kolla/base", "multi"), Some(index));
    for child in &children {
        assert_eq!(
            reg.digest("kolla/base", child).as_ref(),
            Some(child),
            "the index keeps its children"
        );
    }
    assert_eq!(reg.tags("kolla/nova").unwrap(), ["rocky-0", "rocky-4"]);

    // Through the backend: a tag already gone, a repository that never was.
    let b = backend(&m, None);
    let outcome = reg.rt.block_on(b.delete_tag("base", "rocky-1")).unwrap();
    assert_eq!(outcome, DeleteOutcome::AlreadyGone);
    let outcome = reg.rt.block_on(b.delete_tag("nope", "rocky-1")).unwrap();
    assert_eq!(outcome, DeleteOutcome::AlreadyGone);
    let t = reg
        .rt
        .block_on(b.get_tag("base", "rocky-4"))
        .unwrap()
        .unwrap();
    assert_eq!(t.digest, reg.digest("kolla/base", "rocky-4"));
    assert!(reg
        .rt
        .block_on(b.get_tag("base", "rocky-1"))
        .unwrap()
        .is_none());
}

#[test]
fn a_registry_without_deletes_is_said_so_and_nothing_moves() {
    let reg = TestRegistry::start_with(Options {
        deletes_disabled: true,
        ..Options::default()
    });
    let img = Image::new("linux/amd64", &ago(60), "s");
    let shared = reg.push_image("kolla/base", "rocky-1", &img);
    reg.push_image("kolla/base", "latest", &img);
    let own = reg.push_image(
        "kolla/base",
        "rocky-2",
        &Image::new("linux/amd64", &ago(60), "o"),
    );
    let w = Workdir::new();
    let m = manifest(&w, &reg.url(), "base", "");
    let b = backend(&m, None);
    for tag in ["rocky-1", "rocky-2"] {
        let e = reg.rt.block_on(b.delete_tag("base", tag)).unwrap_err();
        assert!(
            e.to_string().contains("does not allow deletes"),
            "{tag}: {e}"
        );
    }
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "rocky-1", "rocky-2"]
    );
    assert_eq!(reg.digest("kolla/base", "rocky-1"), Some(shared));
    assert_eq!(reg.digest("kolla/base", "rocky-2"), Some(own));
}

#[test]
fn basic_authentication_with_htpasswd() {
    let reg = TestRegistry::start_with(Options {
        htpasswd: Some(("ci".into(), "s3cret-basic-pw".into())),
        ..Options::default()
    });
    let img = Image::new("linux/amd64", &ago(24 * 60), "i");
    reg.push_image("kolla/base", "rocky-1", &img);
    reg.push_image("kolla/base", "latest", &img);
    reg.push_image("kolla/nova", "rocky-1", &img);
    let w = Workdir::new();
    let m = manifest(&w, &reg.url(), "base, nova", "");

    let out = run(tagsweep()
        .args(["-v", "audit", "--format", "json", "--now", NOW, "-m"])
        .arg(&m)
        .env("TAGSWEEP_REGISTRY_USERNAME", "ci")
        .env("TAGSWEEP_REGISTRY_PASSWORD", "s3cret-basic-pw"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["summary"]["complete"], 1);
    assert!(
        out.stderr
            .contains("Basic authentication; logging in as ci"),
        "{}",
        out.stderr
    );
    // Neither the password nor the header made of it is ever printed.
    let header = crate::support::registry::base64(b"ci:s3cret-basic-pw", false);
    for secret in ["s3cret-basic-pw", header.as_str()] {
        assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
    }

    // The flags, and docker's config.json, work too.
    let out = run(tagsweep()
        .args([
            "audit",
            "--format",
            "json",
            "--username",
            "ci",
            "--password-stdin",
            "-m",
        ])
        .arg(&m)
        .write_stdin("s3cret-basic-pw\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let docker = w.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"127.0.0.1:{}":{{"auth":"{header}"}}}}}}"#,
            reg.port
        ),
    )
    .unwrap();
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(&m)
        .env("DOCKER_CONFIG", &docker));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Anonymous: told what to set. Wrong password: a login error, never shown.
    let out = audit(&m);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("needs credentials")
            && out.stderr.contains("TAGSWEEP_REGISTRY_USERNAME"),
        "{}",
        out.stderr
    );
    let out = run(tagsweep()
        .args(["-v", "audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_REGISTRY_USERNAME", "ci")
        .env("TAGSWEEP_REGISTRY_PASSWORD", "WRONG-pw-value"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("logging in to") && out.stderr.contains("as ci failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("WRONG-pw-value"));

    // A tag-safe delete with Basic credentials (throw-away manifest pushed and deleted).
    let b = backend(&m, Some(("ci", "s3cret-basic-pw")));
    let outcome = reg.rt.block_on(b.delete_tag("base", "rocky-1")).unwrap();
    assert_eq!(outcome, DeleteOutcome::Deleted);
    assert_eq!(reg.tags("kolla/base").unwrap(), ["latest"]);
    assert!(reg.digest("kolla/base", "latest").is_some());
}

#[test]
fn bearer_tokens_per_scope_with_a_token_server() {
    let reg = TestRegistry::start_with(Options {
        token: Some(TokenPolicy {
            user: "robot".into(),
            password: "t0ken-server-pw".into(),
            anonymous_pull: false,
            deny_catalog: true,
        }),
        ..Options::default()
    });
    let img = Image::new("linux/amd64", &ago(24 * 60), "i");
    reg.push_image("kolla/base", "rocky-1", &img);
    reg.push_image("kolla/base", "latest", &img);
    reg.push_image(
        "kolla/base",
        "rocky-2",
        &Image::new("linux/amd64", &ago(24 * 60), "j"),
    );
    reg.push_image("kolla/nova", "rocky-1", &img);
    let before = reg.token_server().requests().len();
    let w = Workdir::new();
    let m = manifest(&w, &reg.url(), "base, nova", "");
    let out = run(tagsweep()
        .args(["-v", "audit", "--format", "json", "--now", NOW, "-m"])
        .arg(&m)
        .env("TAGSWEEP_REGISTRY_USERNAME", "robot")
        .env("TAGSWEEP_REGISTRY_PASSWORD", "t0ken-server-pw"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(build(&doc, "rocky-1")["status"], "complete");
    assert_eq!(build(&doc, "rocky-2")["missing"], json!(["nova"]));
    assert_eq!(
        doc["unexpected_repositories"],
        json!([]),
        "catalog refused: not an error"
    );
    let requests: Vec<_> = reg.token_server().requests()[before..].to_vec();
    let scopes: Vec<String> = requests.iter().map(|r| r.scopes.join(" ")).collect();
    // One login check, one catalog attempt (+1 retry on insufficient_scope),
    // one token per repository, reused for every request of that repository.
    assert_eq!(
        scopes
            .iter()
            .filter(|s| *s == "repository:kolla/base:pull")
            .count(),
        1,
        "{scopes:#?}"
    );
    assert_eq!(
        scopes
            .iter()
            .filter(|s| *s == "repository:kolla/nova:pull")
            .count(),
        1,
        "{scopes:#?}"
    );
    assert!(requests.iter().all(|r| r.user.as_deref() == Some("robot")));
    for secret in reg
        .token_server()
        .issued()
        .iter()
        .map(String::as_str)
        .chain(["t0ken-server-pw"])
    {
        assert!(!out.stderr.contains(secret), "a secret was printed");
    }

    // Anonymous callers get no access: told to log in.
    let out = audit(&m);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("needs credentials"), "{}", out.stderr);
    // Wrong password: the token server refuses it, at once.
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_REGISTRY_USERNAME", "robot")
        .env("TAGSWEEP_REGISTRY_PASSWORD", "nope-nope"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("as robot failed"), "{}", out.stderr);

    // Deleting asks for the delete scope; latest survives.
    let b = backend(&m, Some(("robot", "t0ken-server-pw")));
    let outcome = reg.rt.block_on(b.delete_tag("base", "rocky-1")).unwrap();
    assert_eq!(outcome, DeleteOutcome::Deleted);
    assert_eq!(reg.tags("kolla/base").unwrap(), ["latest", "rocky-2"]);
    assert!(reg
        .token_server()
        .requests()
        .iter()
        .any(|r| r.scopes == ["repository:kolla/base:delete"]));
}

/// A registry whose tag DELETE takes every tag on the digest (simulated by
/// the proxy): tags that share their manifest are never sent one — they
/// are moved onto throw-away manifests — so the tags sharing it stay.
#[test]
fn a_tag_delete_that_takes_other_tags_is_never_sent_for_shared_tags() {
    let reg = TestRegistry::start();
    let a = Image::new("linux/amd64", &ago(60), "a");
    let b = Image::new("linux/amd64", &ago(60), "b");
    let da = reg.push_image("kolla/base", "rocky-1", &a);
    reg.push_image("kolla/base", "latest", &a);
    let db = reg.push_image("kolla/base", "rocky-2", &b);
    reg.push_image("kolla/base", "stable", &b);
    let proxy = PagingProxy::start_deleting_by_digest(&reg.rt, &reg.url());
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base", "");
    let backend = backend(&m, None);
    for tag in ["rocky-1", "rocky-2"] {
        let outcome = reg.rt.block_on(backend.delete_tag("base", tag)).unwrap();
        assert_eq!(outcome, DeleteOutcome::Deleted, "{tag}");
    }
    assert_eq!(reg.tags("kolla/base").unwrap(), ["latest", "stable"]);
    assert_eq!(reg.digest("kolla/base", "latest"), Some(da));
    assert_eq!(reg.digest("kolla/base", "stable"), Some(db));
    let tag_deletes: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("DELETE") && r.contains("/manifests/rocky-"))
        .collect();
    assert_eq!(tag_deletes, Vec::<String>::new());
}

/// A registry whose tag DELETE deletes the manifest (simulated by the
/// proxy), on a tag no other shares: the manifest is pushed back by digest,
/// so the pruned build stays restorable, and tag deletes are not used again.
#[test]
fn a_tag_delete_that_takes_the_manifest_is_caught_and_the_manifest_put_back() {
    let reg = TestRegistry::start();
    let (index, children) = reg.push_index("kolla/base", "rocky-1", &both(&ago(60), "a"), None);
    let own = reg.push_image(
        "kolla/base",
        "rocky-2",
        &Image::new("linux/amd64", &ago(60), "b"),
    );
    let proxy = PagingProxy::start_deleting_by_digest(&reg.rt, &reg.url());
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base", "");
    let backend = backend(&m, None);
    for tag in ["rocky-1", "rocky-2"] {
        let outcome = reg.rt.block_on(backend.delete_tag("base", tag)).unwrap();
        assert_eq!(outcome, DeleteOutcome::Deleted, "{tag}");
    }
    assert_eq!(reg.tags("kolla/base"), Some(vec![]));
    assert_eq!(reg.digest("kolla/base", &index).as_ref(), Some(&index));
    for child in &children {
        assert_eq!(reg.digest("kolla/base", child).as_ref(), Some(child));
    }
    assert_eq!(reg.digest("kolla/base", &own).as_ref(), Some(&own));
    let tag_deletes = proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("DELETE") && r.contains("/manifests/rocky-"))
        .count();
    assert_eq!(tag_deletes, 1, "tag deletes are not used again");
}

/// Retention on a real registry: builds ranked by their tags, and a
/// `max_age` that image-declared times (all an OCI registry has) cannot
/// satisfy.
#[test]
fn prune_expired_on_a_real_registry() {
    let reg = TestRegistry::start();
    // rocky-1 … rocky-10, all complete, declared 100 … 70 days ago.
    for (i, build) in ["rocky-1", "rocky-2", "rocky-9", "rocky-10"]
        .into_iter()
        .enumerate()
    {
        let created = really_ago((100 - 10 * i as i64) * 24 * 60);
        for repo in ["kolla/base", "kolla/nova"] {
            let image = Image::new("linux/amd64", &created, &format!("{repo}-{build}"));
            reg.push_image(repo, build, &image);
        }
    }
    reg.push_image(
        "kolla/base",
        "latest",
        &Image::new("linux/amd64", &really_ago(60), "latest"),
    );
    let w = Workdir::new();
    let with = |retention: &str| {
        manifest(
            &w,
            &reg.url(),
            "base, nova",
            &format!("retention: {retention}\n"),
        )
    };

    // With max_age, no time proves a build old: every build is kept, saying why.
    let m = with("{keep: 2, max_age: 30d}");
    let out = run(tagsweep().args(["audit", "--format", "json", "-m"]).arg(&m));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["summary"]["expired"], 0);
    assert_eq!(build(&doc, "rocky-2")["retained"], true);
    assert!(
        build(&doc, "rocky-2")["retention"]
            .as_str()
            .unwrap()
            .contains("its age rests on the times its images declare"),
        "{doc:#}"
    );
    let out = run(tagsweep()
        .args(["prune", "--expired", "--yes", "-m"])
        .arg(&m));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Nothing to prune."), "{}", out.stdout);

    // Without max_age, rank alone decides: rocky-1 and rocky-2 go, from
    // every repository; `latest` stays.
    let m = with("{keep: 2}");
    let out = run(tagsweep()
        .args(["prune", "--expired", "--yes", "--format", "json", "-m"])
        .arg(&m));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.json()["result"]["totals"]["deleted"],
        4,
        "{}",
        out.stdout
    );
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "rocky-10", "rocky-9"]
    );
    assert_eq!(reg.tags("kolla/nova").unwrap(), ["rocky-10", "rocky-9"]);
}
