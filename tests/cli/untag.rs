//! Pruning on OCI registries removes the pruned tags and nothing else, on
//! registries that bend the API in the ways a prune can lose good tags
//! through: a tag delete that takes every tag on the manifest, a tag
//! listing that stops answering mid-prune, manifests served converted
//! without their digest, a digest header that turns wrong mid-prune. Each
//! test runs the built binary against the real registry behind the paging
//! proxy (`support/registry/oci_paging.rs`), and judges by what the
//! registry holds afterwards and by what the proxy saw.

use serde_json::Value;

use crate::oci::{manifest, really_ago};
use crate::support::registry::oci_paging::{LaterListing, PagingProxy, Quirks};
use crate::support::registry::{Image, TestRegistry, OCI_MANIFEST};
use crate::support::{run, tagsweep, Run, Workdir};

/// base and nova, two days old: rocky-1 and rocky-5 complete; rocky-2 and
/// rocky-4 only on base (broken). base's `latest` (protected) is rocky-2's
/// manifest; rocky-4's is its own. Returns (rocky-2's digest, rocky-4's).
fn latest_shares_rocky_2(reg: &TestRegistry, docker: bool) -> (String, String) {
    let old = really_ago(48 * 60);
    let image = |salt: &str| {
        let i = Image::new("linux/amd64", &old, salt);
        if docker {
            i.docker()
        } else {
            i
        }
    };
    for repo in ["kolla/base", "kolla/nova"] {
        for build in ["rocky-1", "rocky-5"] {
            reg.push_image(repo, build, &image(&format!("{repo}-{build}")));
        }
    }
    let shared = reg.push_image("kolla/base", "rocky-2", &image("two"));
    assert_eq!(
        reg.push_image("kolla/base", "latest", &image("two")),
        shared
    );
    let own = reg.push_image("kolla/base", "rocky-4", &image("four"));
    (shared, own)
}

/// `prune --broken --yes` of `m` with `args`, one delete at a time.
fn prune(m: &std::path::Path, args: &[&str]) -> Run {
    run(tagsweep()
        .args([
            "prune",
            "--broken",
            "--yes",
            "--trust-declared-times",
            "--delete-concurrency",
            "1",
        ])
        .args(args)
        .arg("-m")
        .arg(m))
}

/// The requests of `proxy` but reads, as `METHOD /path`.
fn writes(proxy: &PagingProxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET ") && !r.starts_with("HEAD "))
        .map(|r| r.split('?').next().unwrap().to_string())
        .collect()
}

/// The result recorded for `repository:tag` in a prune's JSON.
fn result_of<'a>(doc: &'a Value, repository: &str, tag: &str) -> &'a Value {
    doc["result"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["repository"] == repository && t["tag"] == tag)
        .unwrap_or_else(|| panic!("no result for {repository}:{tag} in {doc:#}"))
}

/// A registry whose tag delete takes every tag on the manifest (keeping the
/// manifest). The first tag pruned, rocky-4, shares its manifest with
/// nothing: its tag delete checks out. That proves nothing for rocky-2,
/// which shares its manifest with the protected `latest`: it is moved onto
/// a throw-away manifest, never sent a tag delete, and `latest` stays.
#[test]
fn a_tag_sharing_its_manifest_is_never_deleted_by_tag() {
    let reg = TestRegistry::start();
    let (shared, own) = latest_shares_rocky_2(&reg, false);
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            tag_delete_takes_sharing_tags: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = prune(&m, &["--format", "json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["result"]["totals"]["deleted"], 2);
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "rocky-1", "rocky-5"]
    );
    assert_eq!(reg.digest("kolla/base", "latest"), Some(shared.clone()));
    // Both manifests stay, restorable.
    assert_eq!(reg.digest("kolla/base", &shared), Some(shared.clone()));
    assert_eq!(reg.digest("kolla/base", &own), Some(own.clone()));
    let writes = writes(&proxy);
    assert!(
        writes.contains(&"DELETE /v2/kolla/base/manifests/rocky-4".to_string()),
        "the unshared tag goes by tag delete: {writes:#?}"
    );
    assert!(
        !writes.iter().any(|w| w.ends_with("/manifests/rocky-2")
            && w.starts_with("DELETE")
            || w.ends_with("/manifests/latest")
            || w.ends_with(&shared)),
        "rocky-2 is moved, then its throw-away deleted; latest and rocky-2's manifest are never written: {writes:#?}"
    );
}

/// A registry that deletes the manifest on a tag delete. rocky-2, the
/// newest broken build, shares its manifest with the protected `latest`:
/// it is never sent a tag delete (which would take `latest`, to be pushed
/// back only if that push worked), so `latest` is never even missing.
#[test]
fn a_tag_sharing_its_manifest_is_moved_even_on_the_first_delete() {
    let reg = TestRegistry::start();
    let (shared, _) = latest_shares_rocky_2(&reg, false);
    // rocky-4 complete: rocky-2 is the only build to prune.
    reg.push_image(
        "kolla/nova",
        "rocky-4",
        &Image::new("linux/amd64", &really_ago(48 * 60), "nova-4"),
    );
    let proxy = PagingProxy::start_deleting_by_digest(&reg.rt, &reg.url());
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = prune(&m, &["--format", "json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["result"]["totals"]["deleted"], 1);
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "rocky-1", "rocky-4", "rocky-5"]
    );
    assert_eq!(reg.digest("kolla/base", "latest"), Some(shared.clone()));
    let writes = writes(&proxy);
    assert!(
        !writes
            .iter()
            .any(|w| w == "DELETE /v2/kolla/base/manifests/rocky-2"
                || w.ends_with("/manifests/latest")
                || w.ends_with(&shared)),
        "{writes:#?}"
    );
}

/// The tag listing answers 404, or `{"tags": null}`, once the audit has
/// read it: which other tags share rocky-2's manifest is unknown, so on a
/// registry whose tag delete takes the manifest, rocky-2 is not deleted —
/// a failure saying why, that a rerun may fix — and `latest` stays.
#[test]
fn when_the_listing_fails_mid_prune_a_tag_is_not_deleted() {
    for later in [LaterListing::NotFound, LaterListing::NullTags] {
        let reg = TestRegistry::start();
        let (shared, own) = latest_shares_rocky_2(&reg, false);
        // Only rocky-2 to prune.
        reg.push_image(
            "kolla/nova",
            "rocky-4",
            &Image::new("linux/amd64", &really_ago(48 * 60), "nova-4"),
        );
        let proxy = PagingProxy::deleting_by_digest_with(
            &reg.rt,
            &reg.url(),
            Quirks {
                later_listings: Some(later),
                ..Quirks::default()
            },
        );
        let w = Workdir::new();
        let m = manifest(&w, &proxy.url(), "base, nova", "");
        let out = prune(&m, &[]);
        assert_eq!(out.code, 1, "{later:?}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("failed base:rocky-2: kolla/base:rocky-2 was not deleted: which other tags share its manifest")
                && out.stdout.contains("is unknown")
                && out
                    .stdout
                    .contains("Run the same command again to finish"),
            "{later:?}: {}",
            out.stdout
        );
        assert_eq!(
            reg.tags("kolla/base").unwrap(),
            ["latest", "rocky-1", "rocky-2", "rocky-4", "rocky-5"],
            "{later:?}"
        );
        assert_eq!(reg.digest("kolla/base", "latest"), Some(shared.clone()));
        assert_eq!(reg.digest("kolla/base", "rocky-4"), Some(own));
        assert_eq!(writes(&proxy), Vec::<String>::new(), "{later:?}");
    }
}

/// A registry that serves every manifest converted (other bytes than it
/// stores) and without `Docker-Content-Digest`: the digest of the bytes
/// served is one it does not know. The prune stops at the first tag, before
/// touching anything, saying so; rocky-2 (which shares its manifest with
/// `latest`) is not left on a throw-away manifest.
#[test]
fn a_registry_that_serves_manifests_converted_stops_the_prune_untouched() {
    let reg = TestRegistry::start();
    let (shared, own) = latest_shares_rocky_2(&reg, false);
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            manifests_served_rewritten: Some("*"),
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = prune(&m, &["--format", "json"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "the registry does not know the manifest by the digest of the bytes it served"
        ) && out.stderr.contains("running again will not help"),
        "{}",
        out.stderr
    );
    let doc = out.json();
    assert_eq!(doc["result"]["totals"]["deleted"], 0, "{doc:#}");
    assert_eq!(doc["result"]["totals"]["already_gone"], 0, "{doc:#}");
    assert_eq!(
        result_of(&doc, "base", "rocky-2")["detail"],
        "not attempted: the run stopped on a registry answer that contradicts itself"
    );
    assert_eq!(writes(&proxy), Vec::<String>::new());
    assert_eq!(reg.digest("kolla/base", "rocky-2"), Some(shared.clone()));
    assert_eq!(reg.digest("kolla/base", "latest"), Some(shared));
    assert_eq!(reg.digest("kolla/base", "rocky-4"), Some(own));
}

/// A registry that serves OCI manifests converted and without their
/// digest, Docker ones as stored: the builds (Docker images) are read
/// fine, but tagsweep's throw-away manifest (OCI) comes back as other
/// bytes, whose digest the registry answers 404 to. That is a failure —
/// never "already gone" — and the tag is put back on its manifest, said so.
#[test]
fn a_throw_away_the_registry_cannot_delete_is_undone_and_said_so() {
    let reg = TestRegistry::start();
    let (shared, own) = latest_shares_rocky_2(&reg, true);
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            manifests_served_rewritten: Some(OCI_MANIFEST),
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = prune(&m, &["--format", "json"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let doc = out.json();
    assert_eq!(doc["result"]["totals"]["failed"], 2, "{doc:#}");
    for (tag, digest) in [("rocky-2", &shared), ("rocky-4", &own)] {
        let r = result_of(&doc, "base", tag);
        assert_eq!(r["result"], "failed", "{r:#}");
        let detail = r["detail"].as_str().unwrap();
        for part in [
            "the registry does not know the manifest by the digest of the bytes it served",
            "DELETE of that digest answered 404; nothing was deleted",
            &format!("kolla/base:{tag} was put back on its manifest {digest}"),
        ] {
            assert!(detail.contains(part), "{part:?} in {detail}");
        }
        assert!(!detail.contains("someone else"), "{detail}");
        // Back where it was: the same manifest, media type and all.
        assert_eq!(reg.digest("kolla/base", tag).as_ref(), Some(digest));
    }
    assert_eq!(reg.digest("kolla/base", "latest"), Some(shared));
    assert_eq!(doc["result"]["totals"]["already_gone"], 0, "{doc:#}");
    // The throw-aways were pushed, and the originals pushed back.
    let puts: Vec<String> = writes(&proxy)
        .into_iter()
        .filter(|w| w.starts_with("PUT") && w.contains("/manifests/"))
        .collect();
    assert_eq!(
        puts,
        [
            "PUT /v2/kolla/base/manifests/rocky-4",
            "PUT /v2/kolla/base/manifests/rocky-4",
            "PUT /v2/kolla/base/manifests/rocky-2",
            "PUT /v2/kolla/base/manifests/rocky-2",
        ]
    );
}

/// A digest header that starts naming another manifest in the middle of a
/// prune (a cache in front of the registry mixing up its entries): the
/// contradiction stops the run like a permission error — the builds after
/// are not attempted, and the summary does not say to run again.
#[test]
fn a_contradiction_mid_prune_stops_the_run() {
    let reg = TestRegistry::start();
    let old = really_ago(48 * 60);
    for repo in ["kolla/base", "kolla/nova"] {
        for build in ["rocky-1", "rocky-5"] {
            let salt = format!("{repo}-{build}");
            reg.push_image(repo, build, &Image::new("linux/amd64", &old, &salt));
        }
    }
    for build in ["rocky-2", "rocky-3", "rocky-4"] {
        reg.push_image("kolla/base", build, &Image::new("linux/amd64", &old, build));
    }
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            digest_header_of_after_a_delete: Some("rocky-1"),
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = prune(&m, &[]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("stopped deleting:") && out.stderr.contains("trusting neither"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains("Deleted 0 tags, 0 already gone, 2 skipped, 1 failed.")
            && !out.stdout.contains("Run the same command again"),
        "{}",
        out.stdout
    );
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["rocky-1", "rocky-2", "rocky-3", "rocky-4", "rocky-5"]
    );
    // Only rocky-4 (the newest) was tried: after the first DELETE, the
    // others were not even looked at again.
    let requests = proxy.requests();
    let first_delete = requests
        .iter()
        .position(|r| r.starts_with("DELETE"))
        .expect("a DELETE");
    let later: Vec<&String> = requests[first_delete..]
        .iter()
        .filter(|r| r.contains("/manifests/rocky-2") || r.contains("/manifests/rocky-3"))
        .collect();
    assert_eq!(later, Vec::<&String>::new());
}
