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

/// The result lines (each change's intent line left out).
fn results(path: &std::path::Path) -> Vec<Value> {
    lines(path)
        .into_iter()
        .filter(|l| l["result"] != "intent")
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
            "-q",
            "--journal",
        ])
        .arg(&j)
        .arg("-m")
        .arg(&m));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        !out.stderr.contains("deleted kolla/"),
        "-q: no line per tag:\n{}",
        out.stderr
    );
    assert_eq!(reg.tags("kolla/base").unwrap(), ["latest", "rocky-1"]);
    assert_eq!(reg.tags("kolla/nova").unwrap(), ["rocky-1"]);
    let pruned = results(&j);
    assert_eq!(pruned.len(), 2);
    assert_eq!(
        lines(&j).len(),
        4,
        "each deletion's intent, then its result"
    );
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
    assert_eq!(lines(&j).len(), 4, "a dry run records nothing");

    let out = restore(&j, &["--yes", "-q"]);
    assert_eq!(
        out.code, 1,
        "one tag left alone: {}\n{}",
        out.stdout, out.stderr
    );
    // -q: no line per tag restored, one per tag that could not be.
    assert!(!out.stderr.contains("restored kolla/"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("could not restore kolla/nova:rocky-2: exists now at"),
        "{}",
        out.stderr
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
    let all = results(&j);
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

/// Garbage collection took nova's pruned manifest, and one image of base's
/// pruned index: a dry run already says neither can be put back, and why,
/// and the restore pushes neither (no raw `400 blob unknown`).
#[test]
fn a_dry_run_checks_every_manifest_and_index_child_it_would_push() {
    let reg = TestRegistry::start();
    let children = kolla(&reg);
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
    let digest_of = |repo: &str| {
        results(&j)
            .into_iter()
            .find(|l| l["repository"] == repo)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (n2, b2) = (digest_of("nova"), digest_of("base"));
    reg.delete_manifest("kolla/nova", &n2);
    let child = children[&("base".to_string(), "rocky-2".to_string())][1].clone();
    reg.delete_manifest("kolla/base", &child);

    let dry = restore(&j, &["--dry-run"]);
    assert_eq!(dry.code, 1, "{}\n{}", dry.stdout, dry.stderr);
    assert!(
        dry.stdout.contains("0 of 2 tags to change"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(&format!(
            "unavailable base:rocky-2 (build rocky-2): the registry no longer has {child} (linux/arm64) of the index {b2}"
        )),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(&format!(
            "unavailable nova:rocky-2 (build rocky-2): the registry no longer has the manifest {n2}"
        )) && dry
            .stdout
            .contains("rebuild nova:rocky-2 (build rocky-2) and push it again"),
        "{}",
        dry.stdout
    );

    let out = restore(&j, &["--yes"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("blob unknown"), "{}", out.stderr);
    assert_eq!(reg.tags("kolla/base").unwrap(), ["latest", "rocky-1"]);
    assert_eq!(reg.tags("kolla/nova").unwrap(), ["rocky-1"]);
    let unavailable: Vec<String> = results(&j)
        .into_iter()
        .filter(|l| l["action"] == "restore")
        .map(|l| format!("{} {}", l["repository"], l["result"]))
        .collect();
    assert_eq!(
        unavailable,
        ["\"base\" \"unavailable\"", "\"nova\" \"unavailable\""]
    );
    assert!(
        lines(&j)
            .iter()
            .all(|l| l["action"] != "restore" || l["result"] != "intent"),
        "nothing was attempted"
    );
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

/// Runs killed at the worst moment: between a change the registry made and
/// its record. What they leave in the journal must be enough to undo it.
pub mod interrupted {
    use std::time::Duration;

    use super::*;
    use crate::support::registry::oci_paging::{Intercept, PagingProxy, Quirks};
    use crate::support::{killed_when, tagsweep_std};

    const WAIT: Duration = Duration::from_secs(90);

    /// The untag's last request: the DELETE of the throw-away manifest the
    /// tag was moved onto (any DELETE of a digest but the all-zero one
    /// tagsweep sends first, to learn whether deletes are allowed).
    pub fn placeholder_delete(method: &str, path: &str) -> bool {
        method == "DELETE"
            && path.contains("/manifests/sha256:")
            && !path.contains("/manifests/sha256:000000000000")
    }

    pub fn proxy(reg: &TestRegistry) -> PagingProxy {
        PagingProxy::start_with(&reg.rt, &reg.url(), Quirks::default())
    }

    pub fn prune_cmd(
        m: &std::path::Path,
        j: &std::path::Path,
        what: &[&str],
    ) -> std::process::Command {
        let mut cmd = tagsweep_std();
        cmd.arg("prune")
            .args(what)
            .args(["--yes", "--delete-concurrency", "1", "--journal"])
            .arg(j)
            .arg("-m")
            .arg(m);
        cmd
    }

    /// SIGKILL while the registry answers the placeholder's DELETE: the tag
    /// is gone, and before tagsweep wrote intents nothing said so.
    #[test]
    fn a_prune_killed_after_its_delete_is_undone_from_its_intent() {
        let reg = TestRegistry::start();
        let children = kolla(&reg);
        let proxy = proxy(&reg);
        let w = Workdir::new();
        let m = manifest(&w, &proxy.url());
        let j = w.path().join("prune.jsonl");
        let before = state(&reg, REFS, &children);
        let b2 = before["base:rocky-2"].clone().unwrap();

        proxy.intercept(|method, path| {
            placeholder_delete(method, path).then_some(Intercept::ForwardThenHang)
        });
        let cmd = prune_cmd(&m, &j, &["--broken", "--trust-declared-times"]);
        let killed = killed_when(cmd, || {
            proxy.wait_for(|l| l.starts_with("DONE DELETE"), WAIT);
        });
        // The registry untagged base:rocky-2 (repositories go in order);
        // nova's was never reached.
        assert_eq!(
            reg.digest("kolla/base", "rocky-2"),
            None,
            "{}",
            killed.stderr
        );
        assert_eq!(reg.digest("kolla/nova", "rocky-2"), before["nova:rocky-2"]);
        let recorded = lines(&j);
        assert_eq!(recorded.len(), 1, "only the intent: {recorded:?}");
        let intent = &recorded[0];
        assert_eq!(intent["result"], "intent", "{intent}");
        assert_eq!(intent["action"], "prune", "{intent}");
        assert_eq!(intent["repository"], "base", "{intent}");
        assert_eq!(intent["digest"].as_str(), Some(b2.as_str()), "{intent}");
        assert_eq!(intent["media_type"], OCI_INDEX, "{intent}");

        proxy.stop_intercepting();
        let dry = restore(&j, &["--dry-run"]);
        assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
        assert!(
            dry.stdout.contains(&format!(
                "put back    base:rocky-2 → {b2} (build rocky-2); the journal records the change as begun, not finished"
            )),
            "{}",
            dry.stdout
        );
        let out = restore(&j, &["--yes"]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert_eq!(state(&reg, REFS, &children), before);
    }

    /// `restore --force` replaces a tag someone pushed since the prune:
    /// killed right after that push, the journal must still say what the
    /// tag pointed to before.
    #[test]
    fn a_forced_restore_killed_after_its_push_has_recorded_what_it_replaced() {
        let reg = TestRegistry::start();
        let children = kolla(&reg);
        let proxy = proxy(&reg);
        let w = Workdir::new();
        let m = manifest(&w, &proxy.url());
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
        let again = reg.push_image(
            "kolla/nova",
            "rocky-2",
            &Image::new("linux/amd64", &really_ago(5), "nova2-again"),
        );

        proxy.intercept(|method, path| {
            (method == "PUT" && path == "/v2/kolla/nova/manifests/rocky-2")
                .then_some(Intercept::ForwardThenHang)
        });
        let mut cmd = tagsweep_std();
        cmd.args(["restore", "--yes", "--force", "--journal"])
            .arg(&j);
        killed_when(cmd, || {
            proxy.wait_for(|l| l.starts_with("DONE PUT /v2/kolla/nova/"), WAIT);
        });
        // The push happened: the re-pushed image's tag is overwritten…
        assert_eq!(reg.digest("kolla/nova", "rocky-2"), before["nova:rocky-2"]);
        // …and the journal says from what.
        let last = lines(&j).pop().unwrap();
        assert_eq!(last["action"], "restore", "{last}");
        assert_eq!(last["result"], "intent", "{last}");
        assert_eq!(last["repository"], "nova", "{last}");
        assert_eq!(
            last["previous_digest"].as_str(),
            Some(again.as_str()),
            "{last}"
        );
        assert_eq!(
            last["digest"].as_str(),
            before["nova:rocky-2"].as_deref(),
            "{last}"
        );
    }
}

/// A prune killed after moving a tag onto its throw-away manifest (the
/// placeholder) and before deleting it leaves a real tag on a manifest with
/// no image behind it.
mod placeholder {
    use std::time::Duration;

    use super::interrupted::{placeholder_delete, proxy, prune_cmd};
    use super::*;
    use crate::support::registry::oci_paging::{Intercept, PagingProxy};
    use crate::support::{build, killed_when};

    /// `prune --build rocky-1` (a complete build) killed while the
    /// placeholder's DELETE is held: base:rocky-1 is left on the
    /// placeholder; returns its digest.
    fn left_on_placeholder(
        reg: &TestRegistry,
        proxy: &PagingProxy,
        m: &std::path::Path,
        j: &std::path::Path,
    ) -> String {
        proxy.intercept(|method, path| placeholder_delete(method, path).then_some(Intercept::Hang));
        killed_when(prune_cmd(m, j, &["--build", "rocky-1"]), || {
            proxy.wait_for(
                |l| {
                    l.strip_prefix("DELETE ")
                        .is_some_and(|path| placeholder_delete("DELETE", path))
                },
                Duration::from_secs(90),
            );
        });
        proxy.stop_intercepting();
        let on = reg
            .digest("kolla/base", "rocky-1")
            .expect("the tag is still there");
        assert!(reg.digest("kolla/nova", "rocky-1").is_some(), "not reached");
        on
    }

    #[test]
    fn a_tag_on_a_placeholder_is_missing_refused_and_restored_without_force() {
        let reg = TestRegistry::start();
        let children = kolla(&reg);
        let proxy = proxy(&reg);
        let w = Workdir::new();
        let m = manifest(&w, &proxy.url());
        let j = w.path().join("prune.jsonl");
        let before = state(&reg, REFS, &children);
        let placeholder = left_on_placeholder(&reg, &proxy, &m, &j);
        assert_ne!(Some(&placeholder), before["base:rocky-1"].as_ref());

        // The audit: rocky-1 is no longer complete, and says why.
        let audit = run(tagsweep().args(["audit", "--format", "json", "-m"]).arg(&m));
        assert_eq!(audit.code, 1, "{}\n{}", audit.stdout, audit.stderr);
        let doc = audit.json();
        let b1 = build(&doc, "rocky-1");
        assert_eq!(b1["status"], "broken", "{b1}");
        assert_eq!(b1["missing"], serde_json::json!(["base"]), "{b1}");
        assert!(
            audit.stderr.contains(
                "kolla/base:rocky-1 points at a tagsweep placeholder left by an interrupted prune"
            ) && audit
                .stderr
                .contains("run prune again to finish, or restore from the journal"),
            "{}",
            audit.stderr
        );

        // Promote refuses it by name, and --newest-complete does not take it.
        let out = run(tagsweep()
            .args(["promote", "rocky-1", "--tag", "latest", "--yes", "-m"])
            .arg(&m));
        assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(
                "refusing to promote: rocky-1: kolla/base:rocky-1 points at a tagsweep placeholder"
            ),
            "{}",
            out.stderr
        );
        let out = run(tagsweep()
            .args([
                "promote",
                "--newest-complete",
                "--tag",
                "latest",
                "--yes",
                "-m",
            ])
            .arg(&m));
        assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("no build is complete"),
            "{}",
            out.stderr
        );
        assert_eq!(reg.digest("kolla/base", "latest"), before["base:latest"]);

        // Restore replaces it: it is tagsweep's, not someone's push.
        let out = restore(&j, &["--yes"]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains(&format!(
                "put back    base:rocky-1 → {} (build rocky-1): it points at tagsweep's placeholder {placeholder}",
                before["base:rocky-1"].as_deref().unwrap()
            )),
            "{}",
            out.stdout
        );
        assert_eq!(state(&reg, REFS, &children), before);
    }

    #[test]
    fn a_prune_run_again_deletes_the_placeholder_alone_and_the_journal_still_restores() {
        let reg = TestRegistry::start();
        let children = kolla(&reg);
        let proxy = proxy(&reg);
        let w = Workdir::new();
        let m = manifest(&w, &proxy.url());
        let j = w.path().join("prune.jsonl");
        let before = state(&reg, REFS, &children);
        let placeholder = left_on_placeholder(&reg, &proxy, &m, &j);

        proxy.clear();
        let out = run(tagsweep()
            .args(["prune", "--build", "rocky-1", "--yes", "--journal"])
            .arg(&j)
            .arg("-m")
            .arg(&m));
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        for repo in ["base", "nova", "glance"] {
            assert_eq!(
                reg.digest(&format!("kolla/{repo}"), "rocky-1"),
                None,
                "{repo}"
            );
        }
        // The placeholder alone was deleted: no second one was made, the
        // build's manifest is still there by digest.
        assert_eq!(reg.digest("kolla/base", &placeholder), None);
        let b1 = before["base:rocky-1"].clone().unwrap();
        assert_eq!(reg.digest("kolla/base", &b1), Some(b1.clone()));
        let base_puts = proxy
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("PUT /v2/kolla/base/manifests/"))
            .count();
        assert_eq!(base_puts, 0, "{:?}", proxy.requests());
        assert!(
            proxy
                .requests()
                .contains(&format!("DELETE /v2/kolla/base/manifests/{placeholder}")),
            "{:?}",
            proxy.requests()
        );
        let recorded = lines(&j);
        let base = recorded
            .iter()
            .rev()
            .find(|l| l["repository"] == "base")
            .unwrap();
        assert_eq!(base["result"], "already_gone", "{base}");
        assert!(
            base["detail"].as_str().unwrap().contains("placeholder"),
            "{base}"
        );

        // The first run's intent still says what base:rocky-1 was.
        let out = restore(&j, &["--yes"]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert_eq!(state(&reg, REFS, &children), before);
    }
}

/// A run killed while it wrote a line leaves it cut short, without its
/// newline: every later restore must still read the journal.
#[test]
fn a_journal_whose_last_line_was_cut_short_still_restores_and_is_appended_cleanly() {
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
    // A third line, cut short where the crash came.
    let mut text = std::fs::read_to_string(&j).unwrap();
    let whole = text.lines().count();
    let line = text.lines().next().unwrap().to_string();
    text.push_str(&line[..line.len() / 2]);
    std::fs::write(&j, &text).unwrap();

    let out = restore(&j, &["--yes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "warning: {}:{}: a line cut short",
            j.display(),
            whole + 1
        )),
        "{}",
        out.stderr
    );
    assert_eq!(state(&reg, REFS, &children), before);

    // The restore appended its lines after a newline of its own: each is
    // whole, and the file reads again (the torn line skipped, still named).
    let text = std::fs::read_to_string(&j).unwrap();
    let after: Vec<&str> = text.lines().skip(whole + 1).collect();
    assert!(!after.is_empty());
    for l in &after {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    let again = restore(&j, &["--yes"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("0 of 2 tags to change"),
        "{}",
        again.stdout
    );
    assert!(
        again.stderr.contains("a line cut short"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_missing_journal_says_why_once() {
    let w = Workdir::new();
    let out = restore(&w.path().join("nope.jsonl"), &["--yes"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        out.stderr
    );
}

/// A journal names its registries, and may come from anywhere: the
/// credentials of the environment go only to a registry the user named.
mod credentials {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse;

    use super::*;
    use crate::support::Served;

    const USER: &str = "ci";
    const PASSWORD: &str = "s3cr3t-PASSWORD-journal";

    /// A registry that wants Basic credentials and writes down every
    /// `Authorization` it is sent (as the tester's echo registry did).
    struct Recorder {
        url: String,
        seen: Arc<Mutex<Vec<String>>>,
        _served: Served,
    }

    fn recorder(rt: &tokio::runtime::Runtime) -> Recorder {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push(format!("{method} {uri} {auth}"));
                if auth.is_empty() {
                    return (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Basic realm=\"journal\"")],
                        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
                    )
                        .into_response();
                }
                if uri.path() == "/v2/" {
                    return StatusCode::OK.into_response();
                }
                (
                    StatusCode::NOT_FOUND,
                    "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}",
                )
                    .into_response()
            }
        });
        let (listener, port) = Served::bind();
        Recorder {
            url: format!("http://127.0.0.1:{port}"),
            seen,
            _served: Served::start(rt, listener, app),
        }
    }

    fn journal_naming(w: &Workdir, url: &str) -> std::path::PathBuf {
        w.write(
            "j.jsonl",
            &format!(
                "{{\"action\":\"prune\",\"registry\":\"{url}\",\"namespace\":\"ci\",\"repository\":\"api\",\"tag\":\"b-5\",\"build\":\"b-5\",\"digest\":\"sha256:{}\",\"media_type\":\"{OCI_INDEX}\",\"result\":\"deleted\"}}\n",
                "ab".repeat(32)
            ),
        )
    }

    fn restore_with_env(journal: &std::path::Path, args: &[&str]) -> Run {
        run(tagsweep()
            .args(["restore", "--dry-run", "--journal"])
            .arg(journal)
            .args(args)
            .env("TAGSWEEP_REGISTRY_USERNAME", USER)
            .env("TAGSWEEP_REGISTRY_PASSWORD", PASSWORD))
    }

    #[test]
    fn environment_credentials_go_only_to_the_registry_the_user_names() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let reg = recorder(&rt);
        let w = Workdir::new();
        let j = journal_naming(&w, &reg.url);

        // Named by the journal only: anonymous, and said so.
        let out = restore_with_env(&j, &[]);
        assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
        let seen = reg.seen.lock().unwrap().clone();
        assert!(!seen.is_empty(), "the registry was asked");
        assert!(
            seen.iter().all(|l| !l.contains("Basic")),
            "credentials were sent: {seen:?}"
        );
        assert!(
            out.stderr.contains(&format!(
                "{} is named by the journal, not by you: the credentials of --username/--password-stdin and TAGSWEEP_REGISTRY_USERNAME/TAGSWEEP_REGISTRY_PASSWORD are not sent to it; give --registry {}",
                reg.url, reg.url
            )),
            "{}",
            out.stderr
        );

        // Another registry named: refused before anything is asked.
        reg.seen.lock().unwrap().clear();
        let out = restore_with_env(&j, &["--registry", "https://registry.example.org"]);
        assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "records changes on {}, not on https://registry.example.org",
                reg.url
            )),
            "{}",
            out.stderr
        );
        assert!(reg.seen.lock().unwrap().is_empty());

        // Named by the user: the credentials go there.
        let out = restore_with_env(&j, &["--registry", &format!("{}/", reg.url)]);
        assert_eq!(out.code, 1, "unavailable: {}\n{}", out.stdout, out.stderr);
        assert!(
            reg.seen.lock().unwrap().iter().any(|l| l.contains("Basic")),
            "{:?}",
            reg.seen.lock().unwrap()
        );
        for text in [&out.stdout, &out.stderr] {
            assert!(!text.contains(PASSWORD), "{text}");
        }
    }
}
