//! `tagsweep restore` end to end on a real registry (Debian's
//! `docker-registry`, CNCF distribution 2.8): a prune of a broken build,
//! then its restore from the journal, judged by the digest every tag (and
//! every index child) resolves to before the prune, after it, and after the
//! restore — not by tagsweep's own output.

use std::collections::BTreeMap;

use chrono::{TimeDelta, Utc};
use serde_json::Value;

use crate::support::registry::{Image, TestRegistry};
use crate::support::{run, tagsweep, Run, Workdir};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn really_ago(minutes: i64) -> String {
    (Utc::now() - TimeDelta::minutes(minutes)).to_rfc3339()
}

fn both(created: &str, salt: &str) -> Vec<Image> {
    vec![
        Image::new("linux/amd64", created, &format!("{salt}-amd64")),
        Image::new("linux/arm64/v8", created, &format!("{salt}-arm64")),
    ]
}

pub fn manifest(w: &Workdir, url: &str) -> std::path::PathBuf {
    w.write(
        "m.yaml",
        &format!(
            "registry: {url}\nnamespace: kolla\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\n  protect: ['^latest$']\nimages: [base, nova, glance]\n"
        ),
    )
}

/// A set of three images: rocky-1 complete (indexes), rocky-2 broken
/// (glance lacks it; base's is an index that `latest` shares, nova's a
/// single image). Returns every index child's digest, by (repo, tag).
pub fn kolla(reg: &TestRegistry) -> BTreeMap<(String, String), Vec<String>> {
    let old = really_ago(48 * 60);
    let mut children = BTreeMap::new();
    for repo in ["base", "nova", "glance"] {
        let (_, c) = reg.push_index(
            &format!("kolla/{repo}"),
            "rocky-1",
            &both(&old, &format!("{repo}1")),
            None,
        );
        children.insert((repo.to_string(), "rocky-1".to_string()), c);
    }
    let (b2, c) = reg.push_index("kolla/base", "rocky-2", &both(&old, "base2"), None);
    children.insert(("base".to_string(), "rocky-2".to_string()), c);
    let (latest, _) = reg.push_index("kolla/base", "latest", &both(&old, "base2"), None);
    assert_eq!(b2, latest);
    reg.push_image(
        "kolla/nova",
        "rocky-2",
        &Image::new("linux/amd64", &old, "nova2"),
    );
    children
}

/// Every tag's digest, and every index child's, as `repo:tag` / `repo:tag@child`.
pub fn state(
    reg: &TestRegistry,
    refs: &[(&str, &str)],
    children: &BTreeMap<(String, String), Vec<String>>,
) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for (repo, tag) in refs {
        out.insert(
            format!("{repo}:{tag}"),
            reg.digest(&format!("kolla/{repo}"), tag),
        );
        for child in children
            .get(&(repo.to_string(), tag.to_string()))
            .into_iter()
            .flatten()
        {
            out.insert(
                format!("{repo}:{tag}@{}", &child[7..19]),
                reg.digest(&format!("kolla/{repo}"), child),
            );
        }
    }
    out
}

const REFS: &[(&str, &str)] = &[
    ("base", "rocky-1"),
    ("base", "rocky-2"),
    ("base", "latest"),
    ("nova", "rocky-1"),
    ("nova", "rocky-2"),
    ("glance", "rocky-1"),
];

pub fn restore(journal: &std::path::Path, args: &[&str]) -> Run {
    run(tagsweep()
        .args(["restore", "--journal"])
        .arg(journal)
        .args(args))
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_pruned_build_is_restored_exactly_and_a_re_pushed_tag_is_left_alone() {
    let reg = TestRegistry::start();
    let children = kolla(&reg);
    let w = Workdir::new();
    let m = manifest(&w, &reg.url());
    let j = w.path().join("prune.jsonl");
    let before = state(&reg, REFS, &children);

    let out = run(tagsweep()
        .args([
            "prune",
            "--broken",
            "--yes",
            "--trust-declared-times",
            "--journal",
        ])
        .arg(&j)
        .arg("-m")
        .arg(&m));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(reg.tags("kolla/base").unwrap(), ["latest", "rocky-1"]);
    assert_eq!(reg.tags("kolla/nova").unwrap(), ["rocky-1"]);
    let pruned = lines(&j);
    assert_eq!(pruned.len(), 2);
    let base = pruned.iter().find(|l| l["repository"] == "base").unwrap();
    assert_eq!(base["media_type"], OCI_INDEX, "{base}");
    assert_eq!(
        base["digest"].as_str(),
        before["base:rocky-2"].as_deref(),
        "{base}"
    );
    // Every pruned manifest and index child is still there by digest.
    let b2 = before["base:rocky-2"].clone().unwrap();
    let n2 = before["nova:rocky-2"].clone().unwrap();
    assert_eq!(reg.digest("kolla/base", &b2), Some(b2.clone()));
    assert_eq!(reg.digest("kolla/nova", &n2), Some(n2.clone()));
    for child in &children[&("base".to_string(), "rocky-2".to_string())] {
        assert_eq!(reg.digest("kolla/base", child).as_ref(), Some(child));
    }
    let after_prune = state(&reg, REFS, &children);

    // CI pushes nova:rocky-2 again before anyone restores.
    let again = reg.push_image(
        "kolla/nova",
        "rocky-2",
        &Image::new("linux/amd64", &really_ago(5), "nova2-again"),
    );
    assert_ne!(again, n2);

    // A dry run changes nothing.
    let dry = restore(&j, &["--dry-run"]);
    assert_eq!(dry.code, 1, "{}\n{}", dry.stdout, dry.stderr);
    assert!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    assert_eq!(reg.tags("kolla/base").unwrap(), ["latest", "rocky-1"]);
    assert_eq!(lines(&j).len(), 2, "a dry run records nothing");

    let out = restore(&j, &["--yes"]);
    assert_eq!(
        out.code, 1,
        "one tag left alone: {}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("put back    base:rocky-2"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "left alone  nova:rocky-2 (build rocky-2): exists now at {again}"
        )),
        "{}",
        out.stdout
    );
    assert_eq!(reg.digest("kolla/nova", "rocky-2"), Some(again.clone()));
    let mut after_restore = state(&reg, REFS, &children);
    assert_eq!(after_restore["base:rocky-2"], before["base:rocky-2"]);

    // The user says so: the re-pushed tag goes back to the pruned build.
    let out = restore(&j, &["--yes", "--force"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    after_restore = state(&reg, REFS, &children);
    assert_eq!(
        after_restore, before,
        "every tag and child as before the prune"
    );
    eprintln!(
        "{:<28} {:<20} {:<20} {:<20}",
        "", "before", "after prune", "after restore"
    );
    for (k, v) in &before {
        let short = |d: &Option<String>| {
            d.as_deref()
                .map(|d| d[..19].to_string())
                .unwrap_or_else(|| "(absent)".into())
        };
        eprintln!(
            "{k:<28} {:<20} {:<20} {:<20}",
            short(v),
            short(&after_prune[k]),
            short(&after_restore[k])
        );
    }

    // The restore's own journal, appended to the prune's.
    let all = lines(&j);
    let restores: Vec<&Value> = all.iter().filter(|l| l["action"] == "restore").collect();
    assert_eq!(restores.len(), 4, "{all:?}");
    let forced = restores
        .iter()
        .find(|l| l["repository"] == "nova" && l["result"] == "done")
        .unwrap();
    assert_eq!(forced["previous_digest"].as_str(), Some(again.as_str()));

    // A rerun converges: nothing to change.
    let out = restore(&j, &["--yes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("0 of 2 tags to change"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_digest_the_registry_no_longer_has_is_named_with_what_to_do() {
    let reg = TestRegistry::start();
    kolla(&reg);
    let w = Workdir::new();
    let m = manifest(&w, &reg.url());
    let j = w.path().join("prune.jsonl");
    let out = run(tagsweep()
        .args([
            "prune",
            "--broken",
            "--yes",
            "--trust-declared-times",
            "--journal",
        ])
        .arg(&j)
        .arg("-m")
        .arg(&m));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // Garbage collection took nova's untagged manifest.
    let gone = lines(&j)
        .into_iter()
        .find(|l| l["repository"] == "nova")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    reg.delete_manifest("kolla/nova", &gone);

    let out = restore(&j, &["--yes", "--build", "rocky-2"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "could not restore kolla/nova:rocky-2: the registry no longer has the manifest {gone}"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("rebuild nova:rocky-2 (build rocky-2) and push it again"),
        "{}",
        out.stderr
    );
    assert_eq!(reg.tags("kolla/nova").unwrap(), ["rocky-1"]);
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "rocky-1", "rocky-2"]
    );
    let unavailable = lines(&j)
        .into_iter()
        .filter(|l| l["action"] == "restore" && l["result"] == "unavailable")
        .count();
    assert_eq!(unavailable, 1);
}

#[test]
fn a_journal_that_is_not_one_is_an_error_naming_the_line() {
    let w = Workdir::new();
    let j = w.write(
        "j.jsonl",
        "{\"registry\":\"docker.io\",\"namespace\":\"n\",\"repository\":\"r\",\"tag\":\"t\",\"result\":\"skipped\"}\nnot json\n",
    );
    let out = restore(&j, &["--yes"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("j.jsonl:2:2: not a journal line: expected ident\n"),
        "{}",
        out.stderr
    );

    let empty = w.write("e.jsonl", "");
    let out = restore(&empty, &["--yes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Nothing to restore"), "{}", out.stdout);
}

mod docker_hub {
    //! The Docker Hub path: deletes on the Hub API (the fake Hub), the
    //! restore's manifest GET and PUT on the registry API (the real
    //! registry behind its token server, as `registry-1.docker.io` behind
    //! `auth.docker.io`, with the mirror listing pushed tags in the Hub).

    use super::*;
    use crate::support::fakehub::{FakeHub, Tag, MT_OCI_INDEX};
    use crate::support::registry::hub_mirror::HubMirror;
    use crate::support::registry::{Options, TokenPolicy};

    const USER: &str = "ci-bot";
    const SECRET: &str = "dckr_pat_R3storeS3cret";

    const MANIFEST: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
  grace: 2h
images: [base, nova, glance]
";

    fn hub_tag(name: &str, digest: &str) -> Tag {
        let mut t = Tag::new(name, Utc::now() - TimeDelta::hours(48))
            .with_digest(Some(digest))
            .with_media_type(MT_OCI_INDEX);
        t.images = vec![];
        t
    }

    #[test]
    fn a_hub_prune_is_restored_through_the_registry_api_with_push_scope() {
        let reg = TestRegistry::start_with(Options {
            token: Some(TokenPolicy {
                user: USER.into(),
                password: SECRET.into(),
                anonymous_pull: false,
                deny_catalog: true,
            }),
            ..Options::default()
        });
        let old = really_ago(48 * 60);
        let mut digests = BTreeMap::new();
        for (repo, builds) in [
            ("base", &["rocky-1", "rocky-2"][..]),
            ("nova", &["rocky-1", "rocky-2"][..]),
            ("glance", &["rocky-1"][..]),
        ] {
            for build in builds {
                let (d, _) = reg.push_index(
                    &format!("linaro/{repo}"),
                    build,
                    &both(&old, &format!("{repo}-{build}")),
                    None,
                );
                digests.insert(format!("{repo}:{build}"), d);
            }
        }
        let mut hub = FakeHub::builder().account(USER, SECRET, true);
        for repo in ["base", "nova", "glance"] {
            let mut r = hub.repo("linaro", repo);
            for (k, d) in &digests {
                if let Some(build) = k.strip_prefix(&format!("{repo}:")) {
                    r = r.tag_with(hub_tag(build, d));
                }
            }
            hub = r.done();
        }
        let hub = hub.start();
        let mirror = HubMirror::start(&reg.rt, &reg.url(), hub.handle());
        let w = Workdir::new();
        let m = w.write("m.yaml", MANIFEST);
        let j = w.path().join("prune.jsonl");
        let on_hub = |cmd: &mut assert_cmd::Command| {
            cmd.env("TAGSWEEP_HUB_URL", hub.url())
                .env("TAGSWEEP_REGISTRY_API_URL", mirror.url())
                .env("DOCKERHUB_USERNAME", USER)
                .env("DOCKERHUB_TOKEN", SECRET);
        };

        let mut prune = tagsweep();
        prune
            .args(["prune", "--broken", "--yes", "--journal"])
            .arg(&j)
            .arg("-m")
            .arg(&m);
        on_hub(&mut prune);
        let out = run(&mut prune);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert_eq!(hub.tag_names("linaro", "base"), ["rocky-1"]);
        assert_eq!(hub.tag_names("linaro", "nova"), ["rocky-1"]);
        assert!(
            mirror.requests().iter().all(|r| !r.starts_with("DELETE")),
            "deletes stay on the Hub API: {:?}",
            mirror.requests()
        );

        // The test's own pushes asked for tokens too: only the restore's count.
        let asked_before = reg.token_server().requests().len();
        let mut restore = tagsweep();
        restore
            .args(["restore", "-v", "--yes", "--journal"])
            .arg(&j);
        on_hub(&mut restore);
        let out = run(&mut restore);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

        // The Hub lists the tags again, at the digests they had.
        for repo in ["base", "nova"] {
            assert_eq!(hub.tag_names("linaro", repo), ["rocky-1", "rocky-2"]);
            let state = hub.state();
            let t = state
                .repo("linaro", repo)
                .unwrap()
                .tag("rocky-2")
                .unwrap()
                .clone();
            drop(state);
            assert_eq!(
                t.digest.as_deref(),
                Some(digests[&format!("{repo}:rocky-2")].as_str())
            );
            assert_eq!(t.media_type, MT_OCI_INDEX);
        }
        // Read by digest, pushed by tag, on the registry API.
        let requests = mirror.requests();
        for repo in ["base", "nova"] {
            let d = &digests[&format!("{repo}:rocky-2")];
            assert!(
                requests.contains(&format!("GET /v2/linaro/{repo}/manifests/{d} 200")),
                "{requests:?}"
            );
            assert!(
                requests.contains(&format!("PUT /v2/linaro/{repo}/manifests/rocky-2 201")),
                "{requests:?}"
            );
        }
        // The token scopes asked of the token server (auth.docker.io's part).
        let scopes: Vec<String> = reg
            .token_server()
            .requests()
            .into_iter()
            .skip(asked_before)
            .flat_map(|r| r.scopes)
            .collect();
        assert!(
            scopes.contains(&"repository:linaro/base:pull,push".to_string()),
            "{scopes:?}"
        );
        assert!(
            scopes.contains(&"repository:linaro/base:pull".to_string()),
            "{scopes:?}"
        );
        assert!(
            scopes.iter().all(|s| !s.contains("delete")),
            "a restore deletes nothing: {scopes:?}"
        );

        // No credential or token in any output, -v included.
        let mut secrets = vec![SECRET.to_string()];
        secrets.extend(reg.token_server().issued());
        let journal = std::fs::read_to_string(&j).unwrap();
        for s in &secrets {
            for (what, text) in [
                ("stdout", &out.stdout),
                ("stderr", &out.stderr),
                ("journal", &journal),
            ] {
                assert!(!text.contains(s.as_str()), "a secret in {what}:\n{text}");
            }
        }
    }
}
