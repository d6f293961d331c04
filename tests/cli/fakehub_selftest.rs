//! Self-tests of `support::fakehub`: the fake must behave like the real Docker Hub as recorded
//! in `reference/dockerhub-notes.md` and `reference/dockerhub-samples/`, otherwise CLI tests that
//! pass against it prove nothing. Each test starts its own fake and finishes well under a second.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use reqwest::header::{HeaderMap, HOST, LOCATION};
use reqwest::{Client, Method};
use serde_json::{json, Value};

use crate::support::fakehub::{
    at, jwt_claims, FakeHub, Fault, Tag, BODY_429, BODY_ANON_OFFSET_403, BODY_DELETE_403,
    MT_OCI_INDEX,
};
use std::io::{Read, Write};

/// Keys of a tag in `GET_repositories_tags_tag.200.json` / `GET_namespaces_repositories_tags.200.json`.
const SAMPLE_TAG_KEYS: &[&str] = &[
    "creator",
    "id",
    "images",
    "last_updated",
    "last_updater",
    "last_updater_username",
    "name",
    "repository",
    "full_size",
    "v2",
    "tag_status",
    "tag_last_pulled",
    "tag_last_pushed",
    "media_type",
    "content_type",
    "digest",
];

/// Keys of an `images[]` entry in the same samples.
const SAMPLE_IMAGE_KEYS: &[&str] = &[
    "architecture",
    "features",
    "variant",
    "digest",
    "os",
    "os_features",
    "os_version",
    "size",
    "status",
    "last_pulled",
    "last_pushed",
];

/// Keys of `repository_list_entry` (spec) = legacy sample keys + `last_modified`, `storage_size`.
const REPO_ENTRY_KEYS: &[&str] = &[
    "name",
    "namespace",
    "repository_type",
    "status",
    "status_description",
    "description",
    "is_private",
    "star_count",
    "pull_count",
    "last_updated",
    "last_modified",
    "date_registered",
    "affiliation",
    "media_types",
    "content_types",
    "categories",
    "storage_size",
];

fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(
    c: &Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = c.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().await.expect("body"),
    }
}

async fn get(c: &Client, url: &str, token: Option<&str>) -> Answer {
    call(c, Method::GET, url, token, None).await
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect::<BTreeSet<_>>()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn names(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_string())
        .collect()
}

#[test]
fn repository_listing_pages_with_links_built_from_host() {
    let mut b = FakeHub::builder()
        .account("ci-bot", "dckr_pat_x", true)
        .namespace("empty-org");
    for i in 1..=25u32 {
        b = b
            .repo("linaro", &format!("repo-{i:02}"))
            .tag("latest", at(2026, 1, i, 0))
            .done();
    }
    let hub = b
        .repo("linaro", "hidden")
        .private(true)
        .tag("latest", at(2026, 2, 1, 0))
        .done()
        .start();
    let c = client();
    run(async {
        let base = "/v2/namespaces/linaro/repositories";
        let fetch = |url: String| {
            let c = c.clone();
            let real = url.replace("http://hub.example.test", &hub.url());
            async move {
                let r = c
                    .get(real)
                    .header(HOST, "hub.example.test")
                    .send()
                    .await
                    .expect("request");
                (r.status().as_u16(), r.json::<Value>().await.expect("json"))
            }
        };

        // Default page_size 10, newest first, private repo hidden, next from Host.
        let (status, page1) = fetch(format!("http://hub.example.test{base}")).await;
        assert_eq!(status, 200);
        assert_eq!(page1["count"], 25);
        assert_eq!(page1["previous"], Value::Null);
        assert_eq!(
            page1["next"],
            format!("http://hub.example.test{base}?page=2")
        );
        assert_eq!(names(&page1).len(), 10);
        assert_eq!(names(&page1)[0], "repo-25");
        assert_eq!(keys(&page1["results"][0]), set(REPO_ENTRY_KEYS));
        assert_eq!(page1["results"][0]["is_private"], false);

        // Follow `next` to the end; other query parameters are kept.
        let mut url = format!("http://hub.example.test{base}?name=repo-&page_size=7");
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let (status, page) = fetch(url.clone()).await;
            assert_eq!(status, 200);
            pages += 1;
            seen.extend(names(&page));
            if pages == 2 {
                assert_eq!(
                    page["previous"],
                    format!("http://hub.example.test{base}?name=repo-&page=1&page_size=7")
                );
                assert_eq!(
                    page["next"],
                    format!("http://hub.example.test{base}?name=repo-&page=3&page_size=7")
                );
            }
            match page["next"].as_str() {
                Some(n) => url = n.to_string(),
                None => break,
            }
        }
        assert_eq!(pages, 4);
        assert_eq!(seen.len(), 25);
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 25);

        // Past the end → 404; page 1 of an empty namespace → 200; unknown namespace → 404.
        let r = get(&c, &hub.endpoint(&format!("{base}?page=4")), None).await;
        assert_eq!(r.status, 404);
        let r = get(
            &c,
            &hub.endpoint("/v2/namespaces/empty-org/repositories"),
            None,
        )
        .await;
        assert_eq!((r.status, r.json()["count"].clone()), (200, json!(0)));
        let r = get(
            &c,
            &hub.endpoint("/v2/namespaces/nobody/repositories"),
            None,
        )
        .await;
        assert_eq!(r.status, 404);

        // Non-numeric paging → 400 in the spec's ValueError shape.
        let r = get(&c, &hub.endpoint(&format!("{base}?page=abc")), None).await;
        assert_eq!(r.status, 400);
        assert!(r.json()["fields"]["page"].is_array());
        assert!(r.json()["text"].is_string());
        let r = get(&c, &hub.endpoint(&format!("{base}?page_size=x")), None).await;
        assert_eq!(r.status, 400);
        assert!(r.json()["fields"]["page_size"].is_array());

        // Private repositories only for an authenticated caller.
        let token = hub.issue_token("ci-bot");
        let r = get(
            &c,
            &hub.endpoint(&format!("{base}?page_size=100")),
            Some(&token),
        )
        .await;
        assert_eq!(r.json()["count"], 26);
        assert_eq!(r.json()["results"][0]["name"], "hidden");
        assert_eq!(r.json()["results"][0]["is_private"], true);

        // Legacy list: same data, entry keys of the legacy sample (no last_modified/storage_size).
        let r = get(&c, &hub.endpoint("/v2/repositories/linaro/"), None).await;
        assert_eq!(r.json()["count"], 25);
        let mut legacy_keys = set(REPO_ENTRY_KEYS);
        legacy_keys.remove("last_modified");
        legacy_keys.remove("storage_size");
        assert_eq!(keys(&r.json()["results"][0]), legacy_keys);
    });
}

#[test]
fn tag_list_caps_page_size_at_100_and_orders_like_the_hub() {
    let hub = FakeHub::builder()
        .repo("linaro", "big")
        .numbered_tags("t", 150, at(2026, 1, 1, 0), TimeDelta::minutes(1))
        .done()
        .start();
    let c = client();
    run(async {
        let base = hub.endpoint("/v2/namespaces/linaro/repositories/big/tags");
        let r = get(&c, &format!("{base}?page_size=1000"), None).await;
        assert_eq!(r.status, 200);
        let page = r.json();
        assert_eq!(page["count"], 150);
        assert_eq!(names(&page).len(), 100);
        assert_eq!(
            page["next"],
            format!(
                "http://{}/v2/namespaces/linaro/repositories/big/tags?page=2&page_size=1000",
                hub.addr()
            )
        );
        let r = get(&c, &format!("{base}?page=2&page_size=1000"), None).await;
        assert_eq!(names(&r.json()).len(), 50);
        assert_eq!(r.json()["next"], Value::Null);

        // Default: 10 per page, newest push first.
        let r = get(&c, &base, None).await;
        assert_eq!(names(&r.json()).len(), 10);
        assert_eq!(names(&r.json())[0], "t150");
        let first = |o: &'static str| {
            let c = c.clone();
            let url = format!("{base}?ordering={o}");
            async move { names(&get(&c, &url, None).await.json())[..2].to_vec() }
        };
        assert_eq!(first("last_updated").await, ["t150", "t149"]);
        // The surprising real direction (notes §3): -last_updated is oldest first.
        assert_eq!(first("-last_updated").await, ["t1", "t2"]);
        assert_eq!(first("name").await, ["t1", "t10"]);
    });
}

#[test]
fn anonymous_paging_past_offset_1000_is_forbidden() {
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_x", true)
        .repo("linaro", "huge")
        .numbered_tags("b", 1100, at(2026, 1, 1, 0), TimeDelta::minutes(1))
        .done()
        .start();
    let c = client();
    run(async {
        let base = hub.endpoint("/v2/namespaces/linaro/repositories/huge/tags");
        let r = get(&c, &format!("{base}?page=11&page_size=100"), None).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.text, BODY_ANON_OFFSET_403);
        // Same on the legacy path and for any page/page_size giving offset >= 1000.
        let legacy = hub.endpoint("/v2/repositories/linaro/huge/tags/?page=101&page_size=10");
        assert_eq!(get(&c, &legacy, None).await.status, 403);
        let r = get(&c, &format!("{base}?page=10&page_size=100"), None).await;
        assert_eq!((r.status, names(&r.json()).len()), (200, 100));

        let token = hub.issue_token("ci-bot");
        let r = get(&c, &format!("{base}?page=11&page_size=100"), Some(&token)).await;
        assert_eq!((r.status, names(&r.json()).len()), (200, 100));
        let r = get(&c, &format!("{base}?page=12&page_size=100"), Some(&token)).await;
        assert_eq!(r.status, 404);
    });
    let statuses: Vec<u16> = hub.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [403, 403, 200, 200, 404]);
    assert_eq!(hub.requests()[3].identity.as_deref(), Some("ci-bot"));
}

#[test]
fn private_repos_are_404_to_anonymous_and_tag_bodies_match_the_samples() {
    let pushed = at(2026, 3, 2, 12);
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_x", true)
        .repo("linaro", "pub")
        .tag("rocky-1", at(2026, 3, 1, 12))
        .tag_attested("rocky-2", pushed, &["linux/amd64", "linux/arm64/v8"])
        .done()
        .repo("linaro", "secret")
        .private(true)
        .tag("v1", pushed)
        .done()
        .start();
    let c = client();
    run(async {
        let token = hub.issue_token("ci-bot");
        for path in [
            "/v2/namespaces/linaro/repositories/secret/tags",
            "/v2/namespaces/linaro/repositories/secret/tags/v1",
            "/v2/repositories/linaro/secret/tags/",
            "/v2/namespaces/linaro/repositories/nope/tags",
            "/v2/namespaces/linaro/repositories/pub/tags/nope",
        ] {
            let r = get(&c, &hub.endpoint(path), None).await;
            assert_eq!(r.status, 404, "{path}");
            assert!(r.json()["message"].is_string(), "{path}");
            assert!(r.json()["errinfo"].is_object(), "{path}");
        }
        let r = get(
            &c,
            &hub.endpoint("/v2/namespaces/linaro/repositories/secret/tags/v1"),
            Some(&token),
        )
        .await;
        assert_eq!(r.status, 200);
        let head = call(
            &c,
            Method::HEAD,
            &hub.endpoint("/v2/namespaces/linaro/repositories/pub/tags/rocky-1"),
            None,
            None,
        )
        .await;
        assert_eq!((head.status, head.text.as_str()), (200, ""));

        // One tag: exactly the sample's fields, nulls included.
        let r = get(
            &c,
            &hub.endpoint("/v2/namespaces/linaro/repositories/pub/tags/rocky-2"),
            None,
        )
        .await;
        assert_eq!(r.status, 200);
        let tag = r.json();
        assert_eq!(keys(&tag), set(SAMPLE_TAG_KEYS));
        assert_eq!(tag["media_type"], MT_OCI_INDEX);
        assert_eq!(tag["v2"], true);
        assert_eq!(tag["tag_last_pushed"], "2026-03-02T12:00:00.000000Z");
        assert_eq!(tag["last_updated"], tag["tag_last_pushed"]);
        assert_eq!(tag["tag_last_pulled"], Value::Null);
        let images = tag["images"].as_array().expect("images is an array");
        let platforms: Vec<(Value, Value, Value)> = images
            .iter()
            .map(|i| {
                assert_eq!(keys(i), set(SAMPLE_IMAGE_KEYS));
                assert_eq!(i["os_version"], Value::Null);
                assert_eq!(i["last_pushed"], tag["tag_last_pushed"]);
                (
                    i["os"].clone(),
                    i["architecture"].clone(),
                    i["variant"].clone(),
                )
            })
            .collect();
        assert_eq!(
            platforms,
            [
                (json!("linux"), json!("amd64"), Value::Null),
                (json!("linux"), json!("arm64"), json!("v8")),
                (json!("unknown"), json!("unknown"), Value::Null),
                (json!("unknown"), json!("unknown"), Value::Null),
            ]
        );
        assert_ne!(tag["digest"], images[0]["digest"]);
        assert_eq!(tag["full_size"], images[0]["size"]);

        // A single-platform tag: digest = the image digest (dotCMS sample).
        let r = get(
            &c,
            &hub.endpoint("/v2/repositories/linaro/pub/tags/rocky-1/"),
            None,
        )
        .await;
        let single = r.json();
        assert_eq!(single["digest"], single["images"][0]["digest"]);
        assert_eq!(
            single["media_type"],
            "application/vnd.docker.container.image.v1+json"
        );

        // The list carries the same bodies as the single-tag endpoint.
        let r = get(&c, &hub.endpoint("/v2/repositories/linaro/pub/tags/"), None).await;
        assert_eq!(r.json()["results"][0], tag);
        assert_eq!(r.json()["results"][1], single);

        // Django backend: slashless legacy path → 301 to the slash form, HTML body.
        let r = get(
            &c,
            &hub.endpoint("/v2/repositories/linaro/pub/tags?page_size=5"),
            None,
        )
        .await;
        assert_eq!(r.status, 301);
        assert_eq!(
            r.header(LOCATION.as_str()),
            Some("/v2/repositories/linaro/pub/tags/?page_size=5")
        );
        assert!(r
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/html"));
        assert!(r.text.contains("<html>"));
    });
}

#[test]
fn login_endpoints_issue_jwts_and_reject_bad_credentials() {
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_x", true)
        .repo("linaro", "pub")
        .tag("a", at(2026, 1, 1, 0))
        .done()
        .start();
    let c = client();
    run(async {
        let tags = hub.endpoint("/v2/namespaces/linaro/repositories/pub/tags");
        let r = call(
            &c,
            Method::POST,
            &hub.endpoint("/v2/auth/token"),
            None,
            Some(json!({"identifier": "ci-bot", "secret": "dckr_pat_x"})),
        )
        .await;
        assert_eq!(r.status, 200);
        let token = r.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        assert_eq!(token.split('.').count(), 3);
        let claims = jwt_claims(&token).expect("JWT payload");
        assert!(claims["sub"].is_string());
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            600
        );
        assert_eq!(claims["https://hub.docker.com"]["username"], "ci-bot");
        assert_eq!(get(&c, &tags, Some(&token)).await.status, 200);

        let r = call(
            &c,
            Method::POST,
            &hub.endpoint("/v2/auth/token"),
            None,
            Some(json!({"identifier": "ci-bot", "secret": "wrong"})),
        )
        .await;
        assert_eq!(r.status, 401);
        assert!(r.json()["message"].is_string());

        let r = call(
            &c,
            Method::POST,
            &hub.endpoint("/v2/users/login"),
            None,
            Some(json!({"username": "ci-bot", "password": "dckr_pat_x"})),
        )
        .await;
        assert_eq!(r.status, 200);
        let login_token = r.json()["token"].as_str().expect("token").to_string();
        assert_eq!(get(&c, &tags, Some(&login_token)).await.status, 200);
        let r = call(
            &c,
            Method::POST,
            &hub.endpoint("/v2/users/login"),
            None,
            Some(json!({"username": "ci-bot", "password": "nope"})),
        )
        .await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.json(),
            json!({"detail": "Incorrect authentication credentials"})
        );

        // Unknown and expired tokens → 401 even on public data.
        let r = get(&c, &tags, Some("not-a-token")).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["message"], "unauthorized");
        hub.state().expire_tokens();
        assert_eq!(get(&c, &tags, Some(&token)).await.status, 401);
        assert_eq!(get(&c, &tags, None).await.status, 200);

        // Switch: /v2/auth/token answers 404, /v2/users/login still works.
        hub.state().config.auth_token_endpoint = false;
        let r = call(
            &c,
            Method::POST,
            &hub.endpoint("/v2/auth/token"),
            None,
            Some(json!({"identifier": "ci-bot", "secret": "dckr_pat_x"})),
        )
        .await;
        assert_eq!(r.status, 404);
    });
    let log = hub.requests();
    assert_eq!(log[1].identity.as_deref(), Some("ci-bot"));
    assert_eq!(log.iter().filter(|r| r.status == 401).count(), 4);
}

#[test]
fn delete_answers_204_404_401_403_and_301_like_the_hub() {
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_admin", true)
        .account("reader", "dckr_pat_rw", false)
        .repo("linaro", "debian-source-base")
        .tag("rocky-1", at(2026, 3, 1, 0))
        .tag("rocky-2", at(2026, 3, 2, 0))
        .done()
        .start();
    let c = client();
    let admin = hub.issue_token("ci-bot");
    let reader = hub.issue_token("reader");
    run(async {
        let url = |tag: &str| {
            hub.endpoint(&format!(
                "/v2/repositories/linaro/debian-source-base/tags/{tag}/"
            ))
        };
        let del = |u: String, t: Option<String>| {
            let c = c.clone();
            async move { call(&c, Method::DELETE, &u, t.as_deref(), None).await }
        };

        assert_eq!(del(url("rocky-1"), None).await.status, 401);
        let r = del(url("rocky-1"), Some(reader.clone())).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.text, BODY_DELETE_403);
        let r = del(url("rocky-1"), Some(admin.clone())).await;
        assert_eq!(r.status, 204);
        assert_eq!(r.text, "");
        assert_eq!(hub.tag_names("linaro", "debian-source-base"), ["rocky-2"]);
        assert_eq!(del(url("rocky-1"), Some(admin.clone())).await.status, 404);

        // Slashless DELETE → 301 (a redirect-following client would replay it as GET);
        // nothing is deleted.
        let slashless = url("rocky-2").trim_end_matches('/').to_string();
        let r = del(slashless, Some(admin.clone())).await;
        assert_eq!(r.status, 301);
        assert_eq!(
            r.header("location"),
            Some("/v2/repositories/linaro/debian-source-base/tags/rocky-2/")
        );
        assert_eq!(hub.tag_names("linaro", "debian-source-base"), ["rocky-2"]);

        // The documented /v2/namespaces/... tag path has no DELETE.
        let r = del(
            hub.endpoint("/v2/namespaces/linaro/repositories/debian-source-base/tags/rocky-2"),
            Some(admin.clone()),
        )
        .await;
        assert_eq!(r.status, 405);
    });
    let statuses: Vec<u16> = hub.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 403, 204, 404, 301, 405]);
    assert_eq!(hub.count("DELETE"), 6);
}

#[test]
fn rate_limit_answers_429_with_retry_after_and_headers() {
    let hub = FakeHub::builder()
        .repo("linaro", "pub")
        .tag("a", at(2026, 1, 1, 0))
        .done()
        .rate_limit(3, Duration::from_secs(2))
        .start();
    let c = client();
    run(async {
        let url = hub.endpoint("/v2/namespaces/linaro/repositories/pub/tags");
        let now = chrono::Utc::now().timestamp();
        for remaining in ["2", "1", "0"] {
            let r = get(&c, &url, None).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
            assert_eq!(r.header("x-ratelimit-remaining"), Some(remaining));
            let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
            assert!((now..=now + 3).contains(&reset), "reset {reset} now {now}");
        }
        let r = get(&c, &url, None).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.text, BODY_429);
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry));
        assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));

        hub.state().reset_rate_limits();
        assert_eq!(get(&c, &url, None).await.status, 200);
    });
    assert_eq!(hub.requests()[3].status, 429);
}

#[test]
fn the_reset_is_written_rounded_up_rounded_down_or_as_seconds_left() {
    use crate::support::fakehub::ResetStyle;
    for style in [
        ResetStyle::UnixCeil,
        ResetStyle::UnixFloor,
        ResetStyle::Delta,
    ] {
        let hub = FakeHub::builder()
            .repo("linaro", "pub")
            .tag("a", at(2026, 1, 1, 0))
            .done()
            .rate_limit(3, Duration::from_millis(2500))
            .reset_style(style)
            .start();
        let c = client();
        let start = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        let reset: i64 = run(async {
            let url = hub.endpoint("/v2/namespaces/linaro/repositories/pub/tags");
            let r = get(&c, &url, None).await;
            r.header("x-ratelimit-reset").unwrap().parse().unwrap()
        });
        let end = start + 2.5;
        match style {
            ResetStyle::UnixCeil => assert!(
                reset as f64 >= end - 0.1 && (reset as f64) < end + 1.1,
                "{reset} {end}"
            ),
            ResetStyle::UnixFloor => assert!(
                reset as f64 <= end + 0.1 && reset as f64 > end - 1.1,
                "{reset} {end}"
            ),
            ResetStyle::Delta => assert_eq!(reset, 3, "2.5 s left, rounded up"),
        }
    }
}

#[test]
fn hooks_faults_and_latency() {
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_x", true)
        .repo("linaro", "x")
        .tag("rocky-1", at(2026, 3, 1, 0))
        .tag("rocky-2", at(2026, 3, 2, 0))
        .tag("rocky-3", at(2026, 3, 3, 0))
        .done()
        .start();
    let c = client();
    let token = hub.issue_token("ci-bot");
    hub.once("DELETE", "/tags/", |s, req| {
        assert_eq!(req.identity.as_deref(), Some("ci-bot"));
        s.push_tag("linaro", "x", Tag::new("rocky-5", at(2026, 3, 5, 0)));
    });
    hub.fail_nth("DELETE", 2, 500);
    hub.inject(Fault::on("DELETE").nth(3).status(502).after_apply());
    run(async {
        let del = |tag: &str| {
            let c = c.clone();
            let u = hub.endpoint(&format!("/v2/repositories/linaro/x/tags/{tag}/"));
            let t = token.clone();
            async move { call(&c, Method::DELETE, &u, Some(&t), None).await }
        };
        assert_eq!(del("rocky-1").await.status, 204);
        assert_eq!(
            hub.tag_names("linaro", "x"),
            ["rocky-2", "rocky-3", "rocky-5"]
        );
        // 2nd DELETE: 500 with the backend-incident shape, nothing deleted.
        let r = del("rocky-2").await;
        assert_eq!(r.status, 500);
        assert!(r.json()["message"].as_str().unwrap().contains("registry"));
        assert!(hub
            .tag_names("linaro", "x")
            .contains(&"rocky-2".to_string()));
        // 3rd DELETE: applied, then answered 502; a retry sees 404.
        assert_eq!(del("rocky-2").await.status, 502);
        assert_eq!(del("rocky-2").await.status, 404);
        assert_eq!(hub.tag_names("linaro", "x"), ["rocky-3", "rocky-5"]);

        hub.state().config.latency = Duration::from_millis(150);
        let started = Instant::now();
        let r = get(
            &c,
            &hub.endpoint("/v2/namespaces/linaro/repositories/x/tags"),
            None,
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(150));
    });
    assert_eq!(hub.count("DELETE"), 4);
    assert_eq!(hub.count_matching("GET", "/tags$"), 1);
}

/// Statuses the fake gives to `n` GETs of one small listing under `fault` (0 = reset).
fn statuses_under(fault: Fault, n: usize) -> Vec<u16> {
    let hub = FakeHub::builder()
        .repo("linaro", "x")
        .tag("rocky-1", at(2026, 3, 1, 0))
        .done()
        .start();
    hub.inject(fault);
    let c = client();
    run(async {
        let url = hub.endpoint("/v2/namespaces/linaro/repositories/x/tags");
        for _ in 0..n {
            let _ = c.get(&url).send().await;
        }
    });
    hub.requests().iter().map(|r| r.status).collect()
}

#[test]
fn share_faults_are_deterministic_per_seed_and_burst() {
    let a = statuses_under(Fault::on("GET").share(0.3, 7).status(503), 60);
    let b = statuses_under(Fault::on("GET").share(0.3, 7).status(503), 60);
    let c = statuses_under(Fault::on("GET").share(0.3, 8).status(503), 60);
    assert_eq!(a, b, "same seed, same decisions");
    assert_ne!(a, c, "another seed, other decisions");
    let failed = a.iter().filter(|s| **s == 503).count();
    assert!((8..=30).contains(&failed), "about 30% of 60: {failed}");
    assert!(a.iter().all(|s| *s == 200 || *s == 503));

    // Bursts: every run of 429s is a multiple of 3 long (bursts may touch).
    let bursts = statuses_under(Fault::on("GET").share(0.1, 3).burst(3).status(429), 60);
    let mut runs = Vec::new();
    let mut len = 0;
    for s in bursts.iter().chain([200].iter()) {
        if *s == 429 {
            len += 1;
        } else if len > 0 {
            runs.push(len);
            len = 0;
        }
    }
    assert!(
        !runs.is_empty() && runs.iter().all(|l| l % 3 == 0),
        "{runs:?}"
    );

    // At most twice on the same request: its third attempt gets through.
    let capped = statuses_under(Fault::on("GET").always().max_per_request(2).status(503), 4);
    assert_eq!(capped, [503, 503, 200, 200]);
}

#[test]
fn reset_faults_drop_the_connection_with_an_rst() {
    let hub = FakeHub::builder()
        .account("ci-bot", "dckr_pat_x", true)
        .repo("linaro", "x")
        .tag("rocky-1", at(2026, 3, 1, 0))
        .tag("rocky-2", at(2026, 3, 2, 0))
        .done()
        .start();
    hub.inject(Fault::on("GET").nth(1).reset());
    // A raw socket sees the reset itself: not a byte of an answer, then ECONNRESET.
    let mut s = std::net::TcpStream::connect(hub.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /v2/namespaces/linaro/repositories/x/tags HTTP/1.1\r\nHost: {}\r\n\r\n",
        hub.addr()
    )
    .unwrap();
    let mut buf = Vec::new();
    let err = s.read_to_end(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert!(buf.is_empty(), "{:?}", String::from_utf8_lossy(&buf));
    assert_eq!(hub.requests()[0].status, 0, "logged as reset");

    // With after_apply, the DELETE happens and its answer is lost; the server keeps serving.
    let token = hub.issue_token("ci-bot");
    hub.inject(Fault::on("DELETE").nth(1).reset().after_apply());
    let c = client();
    run(async {
        let url = hub.endpoint("/v2/repositories/linaro/x/tags/rocky-1/");
        let err = c.delete(&url).bearer_auth(&token).send().await.unwrap_err();
        assert!(err.is_request() || err.is_connect(), "{err:?}");
        assert_eq!(hub.tag_names("linaro", "x"), ["rocky-2"]);
        let r = call(&c, Method::DELETE, &url, Some(&token), None).await;
        assert_eq!(r.status, 404, "a retry finds it gone");
    });
}

#[test]
fn delay_faults_answer_late_but_normally() {
    let hub = FakeHub::builder()
        .repo("linaro", "x")
        .tag("rocky-1", at(2026, 3, 1, 0))
        .done()
        .start();
    hub.inject(Fault::on("GET").nth(1).delay(Duration::from_millis(300)));
    let c = client();
    run(async {
        let url = hub.endpoint("/v2/namespaces/linaro/repositories/x/tags");
        let started = Instant::now();
        let r = get(&c, &url, None).await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            (r.status, names(&r.json())),
            (200, vec!["rocky-1".to_string()])
        );
        assert_eq!(get(&c, &url, None).await.status, 200);
    });
    assert_eq!(hub.state().faults[0].fired, 1, "only the first");
}

#[test]
fn x_retry_after_is_a_unix_time_and_links_can_point_elsewhere() {
    let hub = FakeHub::builder()
        .repo("linaro", "x")
        .numbered_tags("rocky-", 15, at(2026, 3, 1, 0), TimeDelta::hours(1))
        .done()
        .config(|c| c.link_origin = Some("http://127.0.0.1:9".into()))
        .start();
    hub.inject(Fault::on("GET").nth(1).status(429).x_retry_after(5));
    let c = client();
    run(async {
        let url = hub.endpoint("/v2/namespaces/linaro/repositories/x/tags");
        let now = chrono::Utc::now().timestamp();
        let r = get(&c, &url, None).await;
        assert_eq!((r.status, r.text.as_str()), (429, BODY_429));
        assert_eq!(r.header("retry-after"), None);
        let at: i64 = r.header("x-retry-after").unwrap().parse().unwrap();
        assert!((now + 4..=now + 6).contains(&at), "{at} vs {now}");
        let page = get(&c, &url, None).await.json();
        assert_eq!(
            page["next"],
            "http://127.0.0.1:9/v2/namespaces/linaro/repositories/x/tags?page=2"
        );
    });
}
