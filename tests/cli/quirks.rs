//! Registries that bend the distribution API (`oci-registry-lab.md` §7),
//! played by the paging proxy's [`Quirks`] in front of the real registry:
//! each test runs the built binary through them and judges by what the
//! registry holds afterwards and by what the proxy saw.

use serde_json::{json, Value};

use crate::oci::{backend, manifest, really_ago};
use crate::support::registry::oci_paging::{PagingProxy, Quirks};
use crate::support::registry::{Image, TestRegistry};
use crate::support::{run, tagsweep, Run, Workdir};

/// `prune --broken --yes` of `m`, trusting the images' declared times (the
/// fixtures' `created` is their build time), as JSON.
fn prune_broken(m: &std::path::Path) -> Run {
    run(tagsweep()
        .args([
            "prune",
            "--broken",
            "--yes",
            "--trust-declared-times",
            "--format",
            "json",
            "-m",
        ])
        .arg(m))
}

/// The requests of `proxy` that start with `method`.
fn sent(proxy: &PagingProxy, method: &str) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with(&format!("{method} ")))
        .collect()
}

/// base and nova, 48 h old: rocky-0 and rocky-4 complete; rocky-1 and
/// rocky-2 only on base (broken). base's rocky-1 shares its manifest with
/// `latest`; rocky-2's is its own. Returns (shared, own).
fn two_broken_builds(reg: &TestRegistry) -> (String, String) {
    let old = really_ago(48 * 60);
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
    let own = reg.push_image(
        "kolla/base",
        "rocky-2",
        &Image::new("linux/amd64", &old, "own"),
    );
    for repo in ["kolla/base", "kolla/nova"] {
        for build in ["rocky-0", "rocky-4"] {
            reg.push_image(repo, build, &Image::new("linux/amd64", &old, repo));
        }
    }
    (shared, own)
}

/// The digest the plan of `doc` gives `repository:tag`.
fn planned_digest(doc: &Value, repository: &str, tag: &str) -> Value {
    doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["tags"].as_array().unwrap())
        .find(|t| t["repository"] == repository && t["tag"] == tag)
        .map(|t| t["digest"].clone())
        .unwrap_or_else(|| panic!("{repository}:{tag} not planned in {doc:#}"))
}

/// A registry (or proxy) that sends no `Docker-Content-Digest`: the digest
/// is the sha256 of the bytes read with the full Accept list, so deletes
/// succeed, each on exactly the registry's own digest, and a tag sharing
/// its manifest survives.
#[test]
fn without_a_digest_header_deletes_go_by_the_digest_of_the_bytes() {
    let reg = TestRegistry::start();
    let (shared, own) = two_broken_builds(&reg);
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            strip_digest_header: true,
            ..Quirks::default()
        },
    );
    // The double really strips it.
    let answer = reg.rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/v2/kolla/base/manifests/rocky-2", proxy.url()))
            .header("accept", crate::support::registry::ACCEPT_ALL)
            .send()
            .await
            .unwrap()
    });
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().get("docker-content-digest").is_none());

    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = prune_broken(&m);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = out.json();
    assert_eq!(doc["result"]["totals"]["deleted"], 2, "{doc:#}");
    // The digests computed are the registry's own.
    assert_eq!(planned_digest(&doc, "base", "rocky-1"), json!(shared));
    assert_eq!(planned_digest(&doc, "base", "rocky-2"), json!(own));
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "rocky-0", "rocky-4"]
    );
    assert_eq!(reg.tags("kolla/nova").unwrap(), ["rocky-0", "rocky-4"]);
    assert_eq!(reg.digest("kolla/base", "latest"), Some(shared.clone()));
    assert_eq!(
        reg.digest("kolla/base", &own),
        None,
        "rocky-2's manifest went"
    );
    // rocky-2's own manifest was deleted by its digest; rocky-1's shared one
    // never was (rocky-1 went through a throw-away manifest of its own).
    let deletes = sent(&proxy, "DELETE");
    assert!(
        deletes.contains(&format!("DELETE /v2/kolla/base/manifests/{own}")),
        "{deletes:#?}"
    );
    assert!(
        !deletes.iter().any(|d| d.ends_with(&shared)),
        "{deletes:#?}"
    );

    // -v says why the digests are computed.
    let out = run(tagsweep().args(["-v", "audit", "-m"]).arg(&m));
    assert!(
        out.stderr
            .contains("sends manifests without Docker-Content-Digest; their digests are computed"),
        "{}",
        out.stderr
    );
}

/// A `Docker-Content-Digest` that names another manifest than the bytes
/// sent (here `latest`'s, on every manifest answer): neither is trusted,
/// the run stops with an error naming both digests, and nothing is deleted
/// — not by prune, not by the backend's own delete.
#[test]
fn a_digest_header_the_bytes_contradict_stops_before_any_delete() {
    let reg = TestRegistry::start();
    let (shared, own) = two_broken_builds(&reg);
    let latest = reg.digest("kolla/base", "latest").unwrap();
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            digest_header_of: Some("rocky-0"),
            ..Quirks::default()
        },
    );
    let rocky0 = reg.digest("kolla/base", "rocky-0").unwrap();
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");

    let out = prune_broken(&m);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("trusting neither")
            && out
                .stderr
                .contains(&format!("is {rocky0} (Docker-Content-Digest)"))
            && out
                .stderr
                .contains("hint: something between tagsweep and the registry"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("run again"), "{}", out.stderr);
    assert_eq!(sent(&proxy, "DELETE"), Vec::<String>::new());

    // The backend's delete reads the tag itself: the same refusal, no DELETE.
    let b = backend(&m, None);
    for tag in ["rocky-1", "rocky-2"] {
        let e = reg.rt.block_on(b.delete_tag("base", tag)).unwrap_err();
        assert!(e.to_string().contains("trusting neither"), "{tag}: {e}");
        assert!(!e.rerun_helps(), "{e}");
    }
    assert_eq!(sent(&proxy, "DELETE"), Vec::<String>::new());
    assert_eq!(sent(&proxy, "PUT"), Vec::<String>::new());
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "rocky-0", "rocky-1", "rocky-2", "rocky-4"]
    );
    assert_eq!(reg.digest("kolla/base", "rocky-1"), Some(shared));
    assert_eq!(reg.digest("kolla/base", "rocky-2"), Some(own));
    assert_eq!(reg.digest("kolla/base", "latest"), Some(latest));
}
