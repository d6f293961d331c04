//! Registries that bend the distribution API (`oci-registry-lab.md` §7),
//! played by the paging proxy's [`Quirks`] in front of the real registry:
//! each test runs the built binary through them and judges by what the
//! registry holds afterwards and by what the proxy saw.

use serde_json::{json, Value};

use crate::oci::{ago, backend, manifest, really_ago};
use crate::support::registry::oci_paging::{LinkStyle, PagingProxy, Quirks};
use crate::support::registry::{Image, Options, TestRegistry};
use crate::support::{build, run, tagsweep, Run, Workdir, NOW};

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
    // Pruning is an untag: rocky-2's own manifest stays, fetchable by its
    // digest (restorable), and neither it nor rocky-1's shared one was ever
    // sent a DELETE: both tags went through throw-away manifests, whose
    // digests — computed from the bytes tagsweep pushed — were deleted.
    assert_eq!(
        reg.digest("kolla/base", &own),
        Some(own.clone()),
        "rocky-2's manifest stays"
    );
    let deletes = sent(&proxy, "DELETE");
    assert!(
        !deletes
            .iter()
            .any(|d| d.ends_with(&shared) || d.ends_with(&own)),
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

/// base carries rocky-1 … rocky-7 and three other tags, nova the same builds
/// but rocky-5: ten and six tags, pages of three. Outside the namespace, a
/// repository `base` (what `kolla/base` is without its prefix) holds other
/// tags: a link that drops the prefix lists those.
fn paged_set(reg: &TestRegistry) {
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
    for t in ["rocky-1", "rocky-99"] {
        reg.push_image("base", t, &old);
    }
}

/// `audit --format json` of `m`, judged at NOW.
fn audit(m: &std::path::Path) -> Run {
    run(tagsweep()
        .args(["-v", "audit", "--format", "json", "--now", NOW, "-m"])
        .arg(m))
}

/// The whole listing of [`paged_set`]: seven builds, rocky-5 broken.
fn assert_whole(out: &Run) {
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(
        doc["summary"],
        json!({"builds": 7, "complete": 6, "broken": 1, "in_progress": 0}),
        "{doc:#}"
    );
    assert_eq!(build(&doc, "rocky-5")["missing"], json!(["nova"]));
}

/// The tag pages `proxy` was asked for, of `repo`, as `path?query`.
fn tag_pages(proxy: &PagingProxy, repo: &str) -> Vec<String> {
    sent(proxy, "GET")
        .into_iter()
        .filter_map(|r| {
            r.strip_prefix("GET ")
                .filter(|p| p.starts_with(&format!("/v2/{repo}/tags/list")))
                .map(str::to_string)
        })
        .collect()
}

/// `Link`s that leave the repository's path (the `kolla/` prefix dropped)
/// are not followed — one would list the repository `base`, the other
/// answer 404 — and the listing goes on with `last=` on the repository's own
/// path: every tag is read, every build judged as it is.
#[test]
fn a_link_that_drops_the_path_prefix_is_not_followed_and_every_tag_is_read() {
    let reg = TestRegistry::start();
    paged_set(&reg);
    let proxy = PagingProxy::paging_with(
        &reg.rt,
        &reg.url(),
        LinkStyle::Relative,
        3,
        Quirks {
            link_drops_path_prefix: true,
            ..Quirks::default()
        },
    );
    // The double's first page links outside the repository.
    let link = reg.rt.block_on(async {
        reqwest::get(format!("{}/v2/kolla/base/tags/list?n=3", proxy.url()))
            .await
            .unwrap()
            .headers()["link"]
            .to_str()
            .unwrap()
            .to_string()
    });
    assert_eq!(link, "</v2/base/tags/list?last=rocky-2&n=3>; rel=\"next\"");
    proxy.clear();

    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = audit(&m);
    assert_whole(&out);
    assert!(
        tag_pages(&proxy, "base").is_empty() && tag_pages(&proxy, "nova").is_empty(),
        "a link off the repository's path is never followed: {:#?}",
        proxy.requests()
    );
    assert_eq!(
        tag_pages(&proxy, "kolla/base"),
        [
            "/v2/kolla/base/tags/list?n=1000",
            "/v2/kolla/base/tags/list?last=rocky-2&n=1000",
            "/v2/kolla/base/tags/list?last=rocky-5&n=1000",
            "/v2/kolla/base/tags/list?last=stable&n=1000",
        ]
    );
    assert!(
        out.stderr.contains("its next-page Link points to /v2/")
            && out.stderr.contains("/tags/list, outside /v2/kolla/")
            && out.stderr.contains("; continued with last="),
        "-v says why:\n{}",
        out.stderr
    );
}

/// A `Link` header that cannot be read — its target without the angle
/// brackets RFC 8288 requires, or an empty one — still says there are more
/// pages: the listing goes on with `last=` on the repository's own path
/// until a page comes without a `Link`, and every build is judged on every
/// tag (before, the first page was taken for the whole list, and complete
/// builds were reported broken).
#[test]
fn a_link_header_that_cannot_be_read_is_not_the_last_page() {
    let reg = TestRegistry::start();
    paged_set(&reg);
    for style in [LinkStyle::Bare, LinkStyle::EmptyTarget] {
        let proxy = PagingProxy::paging_with(&reg.rt, &reg.url(), style, 3, Quirks::default());
        // The double's first page says there is more, unreadably.
        let link = reg.rt.block_on(async {
            reqwest::get(format!("{}/v2/kolla/base/tags/list?n=3", proxy.url()))
                .await
                .unwrap()
                .headers()["link"]
                .to_str()
                .unwrap()
                .to_string()
        });
        assert!(!link.contains("</v2/"), "{link}");
        proxy.clear();

        let w = Workdir::new();
        let m = manifest(&w, &proxy.url(), "base, nova", "");
        let out = audit(&m);
        assert_whole(&out);
        assert_eq!(
            tag_pages(&proxy, "kolla/base"),
            [
                "/v2/kolla/base/tags/list?n=1000",
                "/v2/kolla/base/tags/list?last=rocky-2&n=1000",
                "/v2/kolla/base/tags/list?last=rocky-5&n=1000",
                "/v2/kolla/base/tags/list?last=stable&n=1000",
            ],
            "{style:?}"
        );
        assert!(
            out.stderr.contains("its Link header")
                && out.stderr.contains("cannot be read")
                && out.stderr.contains("; continued with last="),
            "-v says why:\n{}",
            out.stderr
        );
    }
}

/// A catalog whose `Link` cannot be read is not used (a part of it would
/// say the repositories on later pages do not exist): the audit lists the
/// manifest's images, as where the catalog is refused.
#[test]
fn a_catalog_whose_link_cannot_be_read_is_not_used() {
    let reg = TestRegistry::start_with(Options {
        catalog_max: Some(2),
        ..Options::default()
    });
    let img = Image::new("linux/amd64", &ago(24 * 60), "i");
    for repo in ["kolla/app-a", "kolla/app-b", "kolla/app-c"] {
        reg.push_image(repo, "rocky-1", &img);
    }
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            catalog_link_unreadable: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "app-b, app-c", "");
    let out = audit(&m);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["summary"]["complete"], 1, "{doc:#}");
    assert_eq!(doc["missing_repositories"], json!([]), "{doc:#}");
    assert!(
        out.stderr.contains("the catalog cannot be read whole")
            && out
                .stderr
                .contains("cannot be read, so there may be more pages"),
        "{}",
        out.stderr
    );
}

/// A next page (an opaque cursor) that answers 404: the listing goes on with
/// `last=` after the last tag read.
#[test]
fn a_next_page_that_answers_404_is_resumed_after_the_last_tag() {
    let reg = TestRegistry::start();
    paged_set(&reg);
    let proxy = PagingProxy::paging_with(
        &reg.rt,
        &reg.url(),
        LinkStyle::Opaque,
        3,
        Quirks {
            next_page_not_found: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = audit(&m);
    assert_whole(&out);
    // nova: rocky-1 … rocky-3, a cursor that answers 404, the rest after rocky-3.
    let pages = tag_pages(&proxy, "kolla/nova");
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert!(pages[1].contains("next_page="), "{pages:#?}");
    assert_eq!(pages[2], "/v2/kolla/nova/tags/list?last=rocky-3&n=1000");
}

/// Where `last=` is refused too (405, as ECR Public answers a cursor it did
/// not mint), every tag is read again without `n`; where even that pages
/// with links that lead nowhere, the audit fails rather than judge builds
/// on a part of the tags.
#[test]
fn when_no_page_link_works_the_tags_are_read_whole_or_not_at_all() {
    let reg = TestRegistry::start();
    paged_set(&reg);
    let quirks = Quirks {
        next_page_not_found: true,
        last_refused: true,
        whole_without_n: true,
        ..Quirks::default()
    };
    let proxy = PagingProxy::paging_with(&reg.rt, &reg.url(), LinkStyle::Opaque, 3, quirks);
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = audit(&m);
    assert_whole(&out);
    let pages = tag_pages(&proxy, "kolla/base");
    assert_eq!(pages.len(), 4, "{pages:#?}");
    assert_eq!(pages[2], "/v2/kolla/base/tags/list?last=rocky-2&n=1000");
    assert_eq!(
        pages[3], "/v2/kolla/base/tags/list",
        "read whole, without n"
    );

    let proxy = PagingProxy::paging_with(
        &reg.rt,
        &reg.url(),
        LinkStyle::Opaque,
        3,
        Quirks {
            whole_without_n: false,
            ..quirks
        },
    );
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = audit(&m);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.is_empty(), "no report at all: {}", out.stdout);
    assert!(
        out.stderr.contains("cannot be listed whole")
            && out.stderr.contains("refusing to go on with a part of them")
            && out.stderr.contains("running again will not help"),
        "{}",
        out.stderr
    );
}

/// A catalog whose second page answers 404 is not used at all (a part of it
/// would say the repositories it does not list do not exist): the audit
/// lists the manifest's images, as where the catalog is refused, and says so.
#[test]
fn a_catalog_that_cannot_be_read_whole_is_not_used() {
    let reg = TestRegistry::start_with(Options {
        catalog_max: Some(2),
        ..Options::default()
    });
    let img = Image::new("linux/amd64", &ago(24 * 60), "i");
    for repo in ["kolla/app-a", "kolla/app-b", "kolla/app-c", "aaa/x"] {
        reg.push_image(repo, "rocky-1", &img);
    }
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            catalog_pages_not_found: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "app-a, app-b", "");
    let out = audit(&m);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["summary"]["complete"], 1);
    assert_eq!(doc["unexpected_repositories"], json!([]));
    assert_eq!(doc["missing_repositories"], json!([]));
    assert!(
        out.stderr.contains("the catalog cannot be read whole")
            && out.stderr.contains("answered 404"),
        "{}",
        out.stderr
    );
    assert!(sent(&proxy, "GET")
        .iter()
        .any(|r| r.starts_with("GET /v2/_catalog?last=")));
}

/// A registry that answers 401 for a repository that does not exist, as
/// Quay does: the error names the registry and the repository, and both
/// causes — a misspelt image, or credentials that may not read it — with
/// what to do for each; never only "log in".
#[test]
fn a_repository_answering_401_is_said_to_be_missing_or_not_readable() {
    let reg = TestRegistry::start();
    reg.push_image(
        "kolla/base",
        "rocky-1",
        &Image::new("linux/amd64", &ago(60), "b"),
    );
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            no_catalog: true,
            unknown_repositories_unauthorized: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    // `keystne`: a typo.
    let m = manifest(&w, &proxy.url(), "base, keystne", "");
    let out = run(tagsweep().args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let registry = proxy.url();
    for part in [
        format!("GET {registry}/v2/kolla/keystne/tags/list?n=1000: 401 Unauthorized"),
        format!("hint: {registry} refused anonymous access to kolla/keystne (401)"),
        "needs credentials (set TAGSWEEP_REGISTRY_USERNAME".to_string(),
        "or it does not exist".to_string(),
        "check that the image keystne in the manifest is spelt as on the registry".to_string(),
    ] {
        assert!(out.stderr.contains(&part), "{part:?} in:\n{}", out.stderr);
    }
    assert!(
        sent(&proxy, "GET")
            .iter()
            .any(|r| r.starts_with("GET /quirk-token")),
        "the challenge was followed, as for Quay's anonymous tokens"
    );

    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_REGISTRY_USERNAME", "robot")
        .env("TAGSWEEP_REGISTRY_PASSWORD", "robot-pw-1234"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    for part in [
        format!("hint: {registry} refused robot access to kolla/keystne (401)"),
        "either robot may not pull it".to_string(),
        "or it does not exist".to_string(),
        "running again with the same credentials will not help".to_string(),
    ] {
        assert!(out.stderr.contains(&part), "{part:?} in:\n{}", out.stderr);
    }
}

/// A DELETE answered 403 is a permission the account lacks: the run stops
/// at the first one, the hint says who may not delete where and that
/// running again will not help, and the summary does not say to run again.
#[test]
fn a_delete_refused_with_403_stops_and_the_summary_does_not_say_rerun() {
    let reg = TestRegistry::start();
    two_broken_builds(&reg);
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            forbid_deletes: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = run(tagsweep()
        .args([
            "prune",
            "--broken",
            "--yes",
            "--trust-declared-times",
            "--delete-concurrency",
            "1",
            "-m",
        ])
        .arg(&m)
        .env("TAGSWEEP_REGISTRY_USERNAME", "robot")
        .env("TAGSWEEP_REGISTRY_PASSWORD", "robot-pw-1234"));
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        sent(&proxy, "DELETE").len(),
        1,
        "the first 403 stops the run"
    );
    let hint = format!(
        "hint: robot may not delete in kolla/base on {}: deleting needs the delete permission",
        proxy.url()
    );
    assert!(out.stderr.contains(&hint), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("running again with the same credentials will not help"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains(
            "Running the same command again will not help until the cause of this failure is fixed"
        ),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("Run the same command again"),
        "{}",
        out.stdout
    );
    assert_eq!(
        reg.tags("kolla/base").unwrap(),
        ["latest", "rocky-0", "rocky-1", "rocky-2", "rocky-4"]
    );
}

/// Docker Hub, a token without the Delete permission: the same — the hint
/// names the repository and says running again will not help, and so does
/// the summary.
#[test]
fn docker_hub_a_delete_refused_with_403_is_not_worth_a_rerun() {
    use crate::support::fakehub::FakeHub;
    let ago = |h: i64| chrono::Utc::now() - chrono::TimeDelta::hours(h);
    let hub = FakeHub::builder()
        .account("reader", "dckr_pat_read", false)
        .repo("linaro", "base")
        .tag("rocky-1", ago(72))
        .tag("rocky-2", ago(48))
        .done()
        .repo("linaro", "nova")
        .tag("rocky-1", ago(72))
        .done()
        .start();
    let w = Workdir::new();
    let m = w.write(
        "m.yaml",
        "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages: [base, nova]\n",
    );
    let out = run(tagsweep()
        .args(["prune", "--broken", "--yes", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "reader")
        .env("DOCKERHUB_TOKEN", "dckr_pat_read"));
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(hub.count("DELETE"), 1);
    assert!(
        out.stderr.contains("for this request on linaro/base")
            && out
                .stderr
                .contains("running again with the same token will not help"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains("Running the same command again will not help"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("Run the same command again"),
        "{}",
        out.stdout
    );
}

/// A registry that reads anonymously (`GET /v2/` answers 200) but answers
/// a Basic 401 for a repository that does not exist: the error names the
/// repository and both causes, never only "needs credentials".
#[test]
fn a_basic_401_for_one_repository_names_it_and_both_causes() {
    let reg = TestRegistry::start();
    reg.push_image(
        "kolla/base",
        "rocky-1",
        &Image::new("linux/amd64", &ago(60), "b"),
    );
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            no_catalog: true,
            unknown_repositories_basic_unauthorized: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, keystne", "");
    let out = run(tagsweep().args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let registry = proxy.url();
    for part in [
        format!("GET {registry}/v2/kolla/keystne/tags/list?n=1000: 401 Unauthorized"),
        format!("hint: {registry} refused anonymous access to kolla/keystne (401)"),
        "needs credentials (set TAGSWEEP_REGISTRY_USERNAME".to_string(),
        "or it does not exist".to_string(),
        "check that the image keystne in the manifest is spelt as on the registry".to_string(),
    ] {
        assert!(out.stderr.contains(&part), "{part:?} in:\n{}", out.stderr);
    }
}

/// A registry whose `GET /v2/` — the first request of a run — fails with
/// 500 (after the retries): the error says which registry failed and to try
/// again later.
#[test]
fn a_registry_failing_at_v2_is_named_and_told_to_try_later() {
    let reg = TestRegistry::start();
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            root_status: Some(500),
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base", "");
    let out = run(tagsweep().args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let registry = proxy.url();
    for part in [
        format!("GET {registry}/v2/: 500 Internal Server Error"),
        format!("hint: {registry} failed (500) on GET /v2/, the first request of every run, 5 times in a row"),
        "is down or overloaded; try again later".to_string(),
    ] {
        assert!(out.stderr.contains(&part), "{part:?} in:\n{}", out.stderr);
    }
    assert_eq!(sent(&proxy, "GET").len(), 5, "retried, then given up");
}

/// A `Link` to another host is never followed, and the error says what to
/// do: use that address if it is the same registry, else have the links
/// fixed.
#[test]
fn a_link_to_another_host_says_what_to_do() {
    let reg = TestRegistry::start();
    paged_set(&reg);
    let proxy = PagingProxy::paging_with(
        &reg.rt,
        &reg.url(),
        LinkStyle::Foreign,
        3,
        Quirks::default(),
    );
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url(), "base, nova", "");
    let out = audit(&m);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let other = format!("http://localhost:{}", proxy.port);
    for part in [
        format!("points to {other}, not to {}; refusing to follow it", proxy.url()),
        "hint: the server builds its links with another address than the one tagsweep was given"
            .to_string(),
        format!("if {other} is the same server, give tagsweep that address (`registry:` in the manifest"),
        "running again will not help".to_string(),
    ] {
        assert!(out.stderr.contains(&part), "{part:?} in:\n{}", out.stderr);
    }
    assert!(
        !sent(&proxy, "GET").iter().any(|r| r.contains("last=")),
        "the link is not followed"
    );
}
