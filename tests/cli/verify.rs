//! `audit --verify-platforms` end to end: the built binary against the fake
//! Docker Hub, whose tags list `"images": []` as the real Hub's do since
//! August 2025 (docker/hub-feedback #2484), paired with a real registry
//! (Debian's `docker-registry` behind a token server, as
//! `registry-1.docker.io` sits behind `auth.docker.io`) serving the very
//! indexes those tags' digests name. Judged by the JSON report, by the
//! registry's access log (manifest GETs are what Docker Hub's pull limit
//! counts) and by the cache file left behind.

use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use serde_json::{json, Value};

use crate::support::fakehub::{FakeHub, Tag, MT_OCI_INDEX};
use crate::support::registry::{Image, Options, TestRegistry, TokenPolicy};
use crate::support::{build, now, run, tagsweep, Run, Workdir, NOW};

/// One account for both APIs, as on Docker Hub.
const USER: &str = "ci-bot";
const SECRET: &str = "dckr_pat_Pl4tformV3rify";
/// An account the Hub API knows and the registry's token server does not.
const OTHER: &str = "hub-only";
const OTHER_SECRET: &str = "dckr_pat_H4bOnlyS3cret";

const MANIFEST: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
  grace: 2h
platforms: [linux/amd64, linux/arm64]
images: [base, nova]
";

/// A fake Docker Hub, a registry API, a manifest, and an empty cache home.
struct Setup {
    hub: FakeHub,
    reg: TestRegistry,
    w: Workdir,
    manifest: PathBuf,
    /// Index digests: rocky-1 of base (amd64 + arm64) and of nova (amd64
    /// only), rocky-2 of both (amd64 + arm64).
    rocky1: [String; 2],
    rocky2: [String; 2],
}

fn created(hours: i64) -> String {
    (now() - TimeDelta::hours(hours)).to_rfc3339()
}

fn both(hours: i64, salt: &str) -> Vec<Image> {
    vec![
        Image::new("linux/amd64", &created(hours), &format!("{salt}-amd64")),
        Image::new("linux/arm64/v8", &created(hours), &format!("{salt}-arm64")),
    ]
}

/// A tag as Docker Hub lists it now: the index's digest and media type,
/// `"images": []`.
fn hub_tag(name: &str, hours: i64, digest: &str) -> Tag {
    let mut t = Tag::new(name, now() - TimeDelta::hours(hours))
        .with_digest(Some(digest))
        .with_media_type(MT_OCI_INDEX);
    t.images = vec![];
    t
}

/// rocky-1 (48 h old): nova's index is amd64 only, so the build lacks
/// linux/arm64 there. rocky-2 (24 h old): complete. `latest` is rocky-2's
/// index in base (not a build: never read).
fn setup() -> Setup {
    let reg = TestRegistry::start_with(Options {
        token: Some(TokenPolicy {
            user: USER.into(),
            password: SECRET.into(),
            anonymous_pull: false,
            deny_catalog: true,
        }),
        access_log: true,
        ..Options::default()
    });
    let (b1, _) = reg.push_index("linaro/base", "rocky-1", &both(48, "b1"), None);
    let amd64_only = [Image::new("linux/amd64", &created(48), "n1-amd64")];
    let (n1, _) = reg.push_index("linaro/nova", "rocky-1", &amd64_only, None);
    let (b2, _) = reg.push_index("linaro/base", "rocky-2", &both(24, "b2"), None);
    let (n2, _) = reg.push_index("linaro/nova", "rocky-2", &both(24, "n2"), None);
    let hub = FakeHub::builder()
        .account(USER, SECRET, false)
        .account(OTHER, OTHER_SECRET, false)
        .repo("linaro", "base")
        .tag_with(hub_tag("rocky-1", 48, &b1))
        .tag_with(hub_tag("rocky-2", 24, &b2))
        .tag_with(hub_tag("latest", 24, &b2))
        .done()
        .repo("linaro", "nova")
        .tag_with(hub_tag("rocky-1", 48, &n1))
        .tag_with(hub_tag("rocky-2", 24, &n2))
        .done()
        .start();
    let w = Workdir::new();
    let manifest = w.write("m.yaml", MANIFEST);
    Setup {
        hub,
        reg,
        w,
        manifest,
        rocky1: [b1, n1],
        rocky2: [b2, n2],
    }
}

impl Setup {
    /// Where the cache lives in these tests (`$XDG_CACHE_HOME`).
    fn cache_home(&self) -> PathBuf {
        self.w.path().join("cache")
    }

    fn cache_file(&self) -> PathBuf {
        self.cache_home().join("tagsweep").join("platforms.json")
    }

    /// `tagsweep audit --format json` with Docker Hub credentials, the fake
    /// Hub, and the cache under the work directory.
    fn audit(&self, extra: &[&str]) -> Run {
        run(tagsweep()
            .args(["audit", "--format", "json", "--now", NOW, "-m"])
            .arg(&self.manifest)
            .args(extra)
            .env("TAGSWEEP_HUB_URL", self.hub.url())
            .env("DOCKERHUB_USERNAME", USER)
            .env("DOCKERHUB_TOKEN", SECRET)
            .env("HOME", self.w.path())
            .env("XDG_CACHE_HOME", self.cache_home()))
    }

    /// The same with `--verify-platforms --registry-api-url <registry>`.
    fn verify(&self, extra: &[&str]) -> Run {
        let url = self.reg.url();
        let mut args = vec!["--verify-platforms", "--registry-api-url", url.as_str()];
        args.extend_from_slice(extra);
        self.audit(&args)
    }

    /// The manifest paths GET so far, as the registry logged them.
    fn manifest_gets(&self) -> Vec<String> {
        manifest_gets(&self.reg.log())
    }
}

/// `GET /v2/…/manifests/…` request paths in a registry access log.
fn manifest_gets(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let request = line.split('"').nth(1)?;
            let mut parts = request.split(' ');
            let (method, path) = (parts.next()?, parts.next()?);
            (method == "GET" && path.contains("/manifests/")).then(|| path.to_string())
        })
        .collect()
}

fn paths(repo_digests: &[(&str, &String)]) -> Vec<String> {
    let mut v: Vec<String> = repo_digests
        .iter()
        .map(|(repo, d)| format!("/v2/linaro/{repo}/manifests/{d}"))
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// rocky-1 short of linux/arm64 in nova, hence broken; rocky-2 complete.
fn assert_verified(out: &Run) {
    assert_eq!(out.code, 1, "a broken build: exit 1\n{}", out.stderr);
    let doc = out.json();
    let rocky1 = build(&doc, "rocky-1");
    assert_eq!(rocky1["status"], "broken", "{doc:#}");
    assert_eq!(rocky1["missing"], json!([]));
    assert_eq!(
        rocky1["missing_platforms"],
        json!({"nova": ["linux/arm64"]}),
        "base carries both platforms"
    );
    let rocky2 = build(&doc, "rocky-2");
    assert_eq!(rocky2["status"], "complete", "{doc:#}");
    assert_eq!(rocky2["missing_platforms"], json!({}));
}

#[test]
fn platforms_are_read_from_the_registry_once_then_from_the_cache() {
    let s = setup();

    // As Docker Hub lists them, tags say nothing of platforms: nobody can be
    // called short of one, and no manifest is read.
    let out = s.audit(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    for tag in ["rocky-1", "rocky-2"] {
        assert_eq!(build(&doc, tag)["status"], "complete", "{doc:#}");
        assert_eq!(build(&doc, tag)["missing_platforms"], json!({}));
    }
    assert!(s.manifest_gets().is_empty());
    assert!(
        !s.cache_file().exists(),
        "no cache without --verify-platforms"
    );

    // --verify-platforms: one manifest GET per image and build, by digest;
    // `latest` (no build) is never read.
    let out = s.verify(&[]);
    assert_verified(&out);
    let first = s.manifest_gets();
    assert_eq!(
        sorted(first.clone()),
        paths(&[
            ("base", &s.rocky1[0]),
            ("nova", &s.rocky1[1]),
            ("base", &s.rocky2[0]),
            ("nova", &s.rocky2[1]),
        ])
    );
    let stats = &out.json()["stats"];
    assert!(
        stats["requests"].as_u64().unwrap() >= 4 + 4,
        "the registry API's requests are counted too: {stats}"
    );
    let cache: Value =
        serde_json::from_str(&std::fs::read_to_string(s.cache_file()).unwrap()).unwrap();
    assert_eq!(cache["format"], 1);
    assert_eq!(
        cache["platforms"][&s.rocky1[1]],
        json!(["linux/amd64"]),
        "{cache:#}"
    );
    assert_eq!(
        cache["platforms"][&s.rocky1[0]],
        json!(["linux/amd64", "linux/arm64"])
    );

    // The same audit again: the same answer, not one manifest GET (nor a
    // token: the registry API is not even contacted).
    let tokens = s.reg.token_server().requests().len();
    let out = s.verify(&[]);
    assert_verified(&out);
    assert_eq!(s.manifest_gets().len(), first.len(), "zero manifest GETs");
    assert_eq!(s.reg.token_server().requests().len(), tokens);

    // --no-cache reads them all again, and leaves the cache file alone.
    let before = std::fs::read(s.cache_file()).unwrap();
    let out = s.verify(&["--no-cache"]);
    assert_verified(&out);
    assert_eq!(s.manifest_gets().len(), first.len() + 4);
    assert_eq!(std::fs::read(s.cache_file()).unwrap(), before);

    // --build: only that build's manifests (a fresh cache, so they are read).
    std::fs::remove_file(s.cache_file()).unwrap();
    let read = s.manifest_gets().len();
    let out = s.verify(&["--build", "rocky-2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(build(&out.json(), "rocky-2")["status"], "complete");
    assert_eq!(
        sorted(s.manifest_gets()[read..].to_vec()),
        paths(&[("base", &s.rocky2[0]), ("nova", &s.rocky2[1])])
    );
}

#[test]
fn a_corrupt_cache_is_ignored_and_replaced() {
    let s = setup();
    std::fs::create_dir_all(s.cache_file().parent().unwrap()).unwrap();
    // Garbage, and then a file that lies: it says rocky-1's nova index
    // carries arm64, but it is not a cache tagsweep could have written (a
    // future format), so none of it may be believed.
    let lie = json!({"format": 2, "platforms": {&s.rocky1[1]: ["linux/amd64", "linux/arm64"]}});
    for content in [b"\x00{not json".to_vec(), lie.to_string().into_bytes()] {
        std::fs::write(s.cache_file(), &content).unwrap();
        let read = s.manifest_gets().len();
        let out = s.verify(&[]);
        assert_verified(&out);
        assert!(
            out.stderr.contains("ignoring the platform cache"),
            "{}",
            out.stderr
        );
        assert_eq!(s.manifest_gets().len(), read + 4, "everything read again");
        // Replaced by a good one: the next run is quiet and reads nothing.
        let read = s.manifest_gets().len();
        let out = s.verify(&[]);
        assert_verified(&out);
        assert!(!out.stderr.contains("cache"), "{}", out.stderr);
        assert_eq!(s.manifest_gets().len(), read);
    }
}

#[test]
fn without_xdg_cache_home_the_cache_is_under_home() {
    let s = setup();
    let home = s.w.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = run(tagsweep()
        .args([
            "audit",
            "--verify-platforms",
            "--format",
            "json",
            "--now",
            NOW,
            "-m",
        ])
        .arg(&s.manifest)
        .env("TAGSWEEP_HUB_URL", s.hub.url())
        .env("TAGSWEEP_REGISTRY_API_URL", s.reg.url())
        .env("DOCKERHUB_USERNAME", USER)
        .env("DOCKERHUB_TOKEN", SECRET)
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", &home));
    assert_verified(&out);
    assert!(home.join(".cache/tagsweep/platforms.json").is_file());
}

#[test]
fn cache_dir_holds_every_cache_instead_of_the_users() {
    let s = setup();
    let dir = s.w.path().join("ci-cache");
    let out = s.verify(&["--cache-dir", dir.to_str().unwrap()]);
    assert_verified(&out);
    assert!(dir.join("platforms.json").is_file(), "the platform cache");
    let inventory: Vec<_> = std::fs::read_dir(dir.join("inventory")).unwrap().collect();
    assert_eq!(inventory.len(), 1, "the inventory cache");
    assert!(
        !s.cache_home().exists(),
        "nothing in the user's cache directory"
    );
    // The environment says the same; a run judged as of now (no --now)
    // also keeps its observations of incomplete builds there.
    let env_dir = s.w.path().join("env-cache");
    let out = run(tagsweep()
        .args(["audit", "--verify-platforms", "--format", "json", "-m"])
        .arg(&s.manifest)
        .env("TAGSWEEP_HUB_URL", s.hub.url())
        .env("TAGSWEEP_REGISTRY_API_URL", s.reg.url())
        .env("DOCKERHUB_USERNAME", USER)
        .env("DOCKERHUB_TOKEN", SECRET)
        .env("TAGSWEEP_CACHE_DIR", &env_dir));
    assert_verified(&out);
    assert!(env_dir.join("platforms.json").is_file());
    assert!(env_dir.join("observations").is_dir(), "the observations");
}

/// Every string that must never show: the password, and each token either
/// server issued — whole, and its claims and signature alone.
fn secrets(s: &Setup) -> Vec<String> {
    let mut tokens: Vec<String> = s.hub.state().tokens.keys().cloned().collect();
    tokens.extend(s.reg.token_server().issued());
    let mut out = vec![SECRET.to_string()];
    for token in tokens {
        out.extend(token.split('.').skip(1).map(str::to_string));
        out.push(token);
    }
    out
}

fn assert_clean(s: &Setup, out: &Run, files: &[&Path]) {
    let secrets = secrets(s);
    assert!(secrets.len() > 3, "tokens were issued by both servers");
    let mut texts = vec![
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
    ];
    for f in files {
        texts.push(("a file", std::fs::read_to_string(f).unwrap_or_default()));
    }
    for secret in &secrets {
        for (place, text) in &texts {
            assert!(
                !text.contains(secret.as_str()),
                "a secret ({}…) shows in {place}:\n{text}",
                &secret[..8.min(secret.len())]
            );
        }
    }
}

#[test]
fn verbose_says_what_it_costs_and_shows_no_secret() {
    let s = setup();
    let url = s.reg.url();
    let out = s.verify(&["-v"]);
    assert_verified(&out);
    assert!(
        out.stderr.contains(&format!(
            "tagsweep: verifying platforms of 4 tags: 0 from the cache, 4 manifest GETs to {url} (each counts against Docker Hub's pull limit)"
        )),
        "{}",
        out.stderr
    );
    assert!(out
        .stderr
        .contains(&format!("GET {url}/v2/linaro/nova/manifests/sha256:")));
    assert_clean(&s, &out, &[&s.cache_file()]);

    let out = s.verify(&["-v"]);
    assert_verified(&out);
    assert!(
        out.stderr.contains(&format!(
            "tagsweep: verifying platforms of 4 tags: 4 from the cache, 0 manifest GETs to {url}"
        )),
        "{}",
        out.stderr
    );
    assert_clean(&s, &out, &[]);

    // Credentials the Hub API takes but the registry API refuses: an error
    // that names the account, and still no secret.
    let out = run(tagsweep()
        .args(["-v", "audit", "--verify-platforms", "--now", NOW, "-m"])
        .arg(&s.manifest)
        .args(["--registry-api-url", &url])
        .env("TAGSWEEP_HUB_URL", s.hub.url())
        .env("DOCKERHUB_USERNAME", OTHER)
        .env("DOCKERHUB_TOKEN", OTHER_SECRET)
        .env("XDG_CACHE_HOME", s.w.path().join("other-cache")));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("as {OTHER} failed")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(OTHER_SECRET) && !out.stdout.contains(OTHER_SECRET));
    assert_clean(&s, &out, &[]);
}

#[test]
fn a_registry_that_refuses_anonymous_pulls_asks_for_docker_hub_credentials() {
    let s = setup();
    let out = run(tagsweep()
        .args(["audit", "--verify-platforms", "--now", NOW, "-m"])
        .arg(&s.manifest)
        .args(["--registry-api-url", &s.reg.url()])
        .env("TAGSWEEP_HUB_URL", s.hub.url())
        .env("XDG_CACHE_HOME", s.cache_home()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("TAGSWEEP_REGISTRY_USERNAME"),
        "Docker Hub's credentials, not an OCI registry's: {}",
        out.stderr
    );
}

/// `prune --broken` deletes a build for a platform only on the manifest's
/// word: a listing that says base:rocky-2 is amd64-only is checked against
/// the index (both platforms: nothing deleted); platforms the listing does
/// not state are read with `--verify-platforms`, and nova's amd64-only
/// rocky-1 then goes.
#[test]
fn prune_deletes_a_build_short_of_a_platform_only_on_the_manifests_word() {
    let s = setup();
    let stated = Tag::new("rocky-2", now() - TimeDelta::hours(24))
        .with_platforms(&["linux/amd64"])
        .with_digest(Some(&s.rocky2[0]))
        .with_media_type(MT_OCI_INDEX);
    let hub = FakeHub::builder()
        .account(USER, SECRET, true)
        .repo("linaro", "base")
        .tag_with(hub_tag("rocky-1", 48, &s.rocky1[0]))
        .tag_with(stated)
        .done()
        .repo("linaro", "nova")
        .tag_with(hub_tag("rocky-1", 48, &s.rocky1[1]))
        .tag_with(hub_tag("rocky-2", 24, &s.rocky2[1]))
        .done()
        .start();
    let prune = |extra: &[&str]| {
        run(tagsweep()
            .args(["prune", "--broken", "--yes", "--registry-api-url"])
            .arg(s.reg.url())
            .args(extra)
            .arg("-m")
            .arg(&s.manifest)
            .env("TAGSWEEP_HUB_URL", hub.url())
            .env("DOCKERHUB_USERNAME", USER)
            .env("DOCKERHUB_TOKEN", SECRET)
            .env("XDG_CACHE_HOME", s.cache_home()))
    };
    let out = prune(&[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Nothing to prune"), "{}", out.stdout);
    assert_eq!(hub.count("DELETE"), 0);
    assert!(
        s.manifest_gets().iter().any(|g| g.contains(&s.rocky2[0])),
        "base:rocky-2's index was read: {:?}",
        s.manifest_gets()
    );

    let out = prune(&["--verify-platforms"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(hub.tag_names("linaro", "base"), ["rocky-2"]);
    assert_eq!(hub.tag_names("linaro", "nova"), ["rocky-2"]);
}

/// What `--verify-platforms` costs on a set the size of Linaro's Kolla
/// build (250 images): one manifest GET per image on the first run, none on
/// the second. The numbers are printed (`--nocapture`) for the record.
#[test]
fn a_250_image_build_costs_250_manifest_gets_once() {
    const IMAGES: usize = 250;
    let reg = TestRegistry::start_with(Options {
        token: Some(TokenPolicy {
            user: USER.into(),
            password: SECRET.into(),
            anonymous_pull: false,
            deny_catalog: true,
        }),
        access_log: true,
        ..Options::default()
    });
    let mut hub = FakeHub::builder().account(USER, SECRET, false);
    let names: Vec<String> = (0..IMAGES).map(|i| format!("image-{i:03}")).collect();
    for name in &names {
        let (digest, _) =
            reg.push_index(&format!("linaro/{name}"), "rocky-1", &both(48, name), None);
        hub = hub
            .repo("linaro", name)
            .tag_with(hub_tag("rocky-1", 48, &digest))
            .done();
    }
    let hub = hub.start();
    let w = Workdir::new();
    let manifest = w.write(
        "m.yaml",
        &format!(
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nplatforms: [linux/amd64, linux/arm64]\nimages: [{}]\n",
            names.join(", ")
        ),
    );
    let audit = || {
        run(tagsweep()
            .args([
                "audit",
                "--verify-platforms",
                "--format",
                "json",
                "--now",
                NOW,
            ])
            .args(["--registry-api-url", &reg.url(), "-m"])
            .arg(&manifest)
            .env("TAGSWEEP_HUB_URL", hub.url())
            .env("DOCKERHUB_USERNAME", USER)
            .env("DOCKERHUB_TOKEN", SECRET)
            .env("XDG_CACHE_HOME", w.path().join("cache")))
    };
    let first = audit();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let doc = first.json();
    assert_eq!(build(&doc, "rocky-1")["status"], "complete");
    assert_eq!(build(&doc, "rocky-1")["unverified_platforms"], json!({}));
    let after_first = manifest_gets(&reg.log()).len();
    let second = audit();
    assert_eq!(second.json()["builds"], doc["builds"]);
    let after_second = manifest_gets(&reg.log()).len();
    println!(
        "--verify-platforms on {IMAGES} images: first run {after_first} manifest GETs, second run {} (cache)",
        after_second - after_first
    );
    assert_eq!(after_first, IMAGES);
    assert_eq!(after_second, after_first);
}

/// `diff --verify-platforms`: a manifest change that requires linux/arm64
/// shows only when the platforms are read. Without the flag, nothing is
/// known missing and the diff says why it cannot show the change.
#[test]
fn a_platforms_change_shows_in_a_diff_once_platforms_are_read() {
    let s = setup();
    let old = s.w.write(
        "old.yaml",
        &MANIFEST.replace(
            "platforms: [linux/amd64, linux/arm64]",
            "platforms: [linux/amd64]",
        ),
    );
    let diff = |extra: &[&str]| {
        run(tagsweep()
            .arg("diff")
            .args([&old, &s.manifest])
            .args(["--now", NOW])
            .args(extra)
            .env("TAGSWEEP_HUB_URL", s.hub.url())
            .env("DOCKERHUB_USERNAME", USER)
            .env("DOCKERHUB_TOKEN", SECRET)
            .env("HOME", s.w.path())
            .env("XDG_CACHE_HOME", s.cache_home()))
    };

    let blind = diff(&[]);
    assert_eq!(blind.code, 0, "{}\n{}", blind.stdout, blind.stderr);
    assert!(
        blind.stdout.contains(
            "? Under NEW, 2 builds have images whose platforms the registry did not state"
        ),
        "{}",
        blind.stdout
    );
    assert!(
        s.manifest_gets().is_empty(),
        "no manifest read without the flag"
    );

    let url = s.reg.url();
    let seen = diff(&[
        "--verify-platforms",
        "--registry-api-url",
        url.as_str(),
        "--format",
        "json",
    ]);
    assert_eq!(seen.code, 1, "{}", seen.stderr);
    let doc = seen.json();
    assert_eq!(
        doc["builds"],
        json!([{
            "tag": "rocky-1", "old": "complete", "new": "broken",
            "now_missing": [], "no_longer_missing": [],
            "now_missing_platforms": {"nova": ["linux/arm64"]},
            "no_longer_missing_platforms": {}, "no_longer_expected": [],
            "pattern": null,
            "why": "platforms missing: nova (linux/arm64)"
        }]),
        "{doc:#}"
    );
    assert_eq!(doc["prune"]["broken"]["added"][0]["tag"], "rocky-1");
    assert_eq!(
        sorted(s.manifest_gets()),
        paths(&[
            ("base", &s.rocky1[0]),
            ("nova", &s.rocky1[1]),
            ("base", &s.rocky2[0]),
            ("nova", &s.rocky2[1]),
        ]),
        "each build tag's index read once, for both manifests"
    );
}
