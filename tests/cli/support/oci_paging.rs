//! A paging layer in front of a real registry. Distribution 2.8 ignores `n`
//! and `last` on `tags/list` and sends no `Link`; registries that page do it
//! in different styles. This proxy forwards every request to the registry
//! unchanged, except `GET /v2/<name>/tags/list`, which it answers itself
//! from the registry's full list: sorted, cut to pages of at most `page`
//! tags (the client's `n` is honoured up to that, as Quay caps it), with a
//! `Link: <…>; rel="next"` in the chosen [`LinkStyle`]. It records every
//! request (method, path and query) for the tests to inspect.
//!
//! Optionally ([`PagingProxy::start_deleting_by_digest`]) it also plays a
//! registry whose tag `DELETE` "succeeds" by deleting the tag's digest —
//! taking every tag that shares it — to test that tagsweep notices.
//!
//! [`PagingProxy::start_with`] (and [`PagingProxy::paging_with`], paging
//! too) adds other registries' known answers ([`Quirks`], each documented
//! with its source, `oci-registry-lab.md` §7): distribution 2.0–2.1's
//! `200 {"tags": null}` for a repository that does not exist
//! (distribution#1186); a catalog refused to this caller, as most hosted
//! registries do; manifests without `Docker-Content-Digest`, or with one
//! naming another manifest; paging links that drop a path prefix, cursors
//! that answer 404, a `last=` refused; Quay's 401 for a repository that
//! does not exist; DELETEs refused with 403.
//!
//! [`PagingProxy::intercept`] plays an interruption: a chosen request is
//! held without an answer ([`Intercept::Hang`]: it never reaches the
//! registry) or made and then held ([`Intercept::ForwardThenHang`]: the
//! registry changed, the client never hears of it), so that a test can kill
//! tagsweep at exactly that point ([`PagingProxy::wait_for`]).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// How the next page is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStyle {
    /// `</v2/<name>/tags/list?last=<tag>&n=<n>>` (distribution's catalog style).
    Relative,
    /// `</v2/<name>/tags/list?n=<n>&next_page=<opaque>>` (Quay style).
    Opaque,
    /// `<http://127.0.0.1:<port>/v2/<name>/tags/list?last=<tag>&n=<n>>`.
    Absolute,
    /// An absolute link to another origin (`http://localhost:<port>/…`):
    /// a client must refuse to send its credentials there.
    Foreign,
}

pub struct PagingProxy {
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    intercepts: Arc<Mutex<Vec<Chooser>>>,
    _server: crate::support::Served,
}

/// Answers of other registries the proxy plays (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quirks {
    /// `GET /v2/<unknown>/tags/list` → `200 {"name": "<unknown>", "tags": null}`
    /// instead of 404 `NAME_UNKNOWN` (distribution 2.0–2.1).
    pub unknown_repositories_have_null_tags: bool,
    /// `GET /v2/_catalog` → `404 page not found` (text/plain), as registries
    /// without a catalog answer.
    pub no_catalog: bool,
    /// No answer carries `Docker-Content-Digest`, as ECR's manifest GETs
    /// (distribution/distribution#3792), static or S3-backed registries and
    /// header-stripping proxies answer (`oci-registry-lab.md` §7).
    pub strip_digest_header: bool,
    /// Every manifest answer of a repository carries, as its
    /// `Docker-Content-Digest`, the digest of this tag of the same
    /// repository: a proxy or cache that mixes up its entries' headers. The
    /// header then names another manifest than the bytes sent.
    pub digest_header_of: Option<&'static str>,
    /// `tags/list` Links drop the first component of the repository's name
    /// (`/v2/base/tags/list?…` for `kolla/base`), as a registry or proxy
    /// serving repositories under a path prefix it leaves out of its links
    /// (chainguard-dev/registry-redirect PR #9 fixed one): following them
    /// reads another repository, or a 404.
    pub link_drops_path_prefix: bool,
    /// A `tags/list` page asked for with a `next_page` cursor answers 404
    /// `NAME_UNKNOWN` (a cursor the registry no longer knows).
    pub next_page_not_found: bool,
    /// A `tags/list` with `last=` answers 405 `UNSUPPORTED`, as ECR Public
    /// answers a cursor it did not mint (CodesWhat/drydock PR #927).
    pub last_refused: bool,
    /// A `tags/list` without `n` answers every tag at once, no Link (as
    /// distribution 2.8 and registries without a default page size do);
    /// otherwise the proxy's page size applies.
    pub whole_without_n: bool,
    /// `GET /v2/_catalog?last=…` (every page after the first) answers 404.
    pub catalog_pages_not_found: bool,
    /// A repository that does not exist answers `401 UNAUTHORIZED` with a
    /// Bearer challenge (whose realm, on this proxy, gives anyone a token
    /// that changes nothing), not 404 `NAME_UNKNOWN`: Quay's answer, where a
    /// missing repository and a missing permission look the same
    /// (giantswarm/retagger PR #353, `oci-registry-lab.md` §7).
    pub unknown_repositories_unauthorized: bool,
    /// Every `DELETE` answers `403 DENIED` (the distribution spec's code for
    /// an authenticated caller without the permission): an account that may
    /// read but not delete.
    pub forbid_deletes: bool,
}

/// What the proxy does with a request a test singled out
/// ([`PagingProxy::intercept`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intercept {
    /// Holds the request without forwarding it or answering (for two
    /// minutes, then 504): a client killed meanwhile was killed before the
    /// change.
    Hang,
    /// Forwards it, logs `DONE <METHOD> <path> <status>` once the registry
    /// answered, then holds the answer (two minutes): a client killed
    /// meanwhile was killed between the change and anything it would have
    /// done next.
    ForwardThenHang,
}

/// Chooses what to do with a request (`METHOD`, `/path?query`).
type Chooser = Box<dyn Fn(&str, &str) -> Option<Intercept> + Send + Sync>;

/// How long an intercepted request is held.
const HELD: std::time::Duration = std::time::Duration::from_secs(120);

/// The token the quirky realm gives (see `Quirks::unknown_repositories_unauthorized`).
const QUIRK_TOKEN: &str = "quirk-token-changes-nothing";

#[derive(Clone)]
struct Shared {
    upstream: String,
    style: LinkStyle,
    page: usize,
    port: u16,
    tag_delete_by_digest: bool,
    quirks: Quirks,
    client: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
    intercepts: Arc<Mutex<Vec<Chooser>>>,
}

impl PagingProxy {
    /// Starts the proxy on `rt`, in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(
        rt: &tokio::runtime::Runtime,
        upstream: &str,
        style: LinkStyle,
        page: usize,
    ) -> PagingProxy {
        PagingProxy::spawn(rt, upstream, style, page, false, Quirks::default())
    }

    /// Starts the proxy in front of `upstream` playing `quirks`, paging tags
    /// by 1000 (that is, not at all for the tests' sizes).
    pub fn start_with(rt: &tokio::runtime::Runtime, upstream: &str, quirks: Quirks) -> PagingProxy {
        PagingProxy::spawn(rt, upstream, LinkStyle::Relative, 1000, false, quirks)
    }

    /// Starts the proxy in front of `upstream` playing `quirks`, paging tags
    /// by `page` with Links in `style`.
    pub fn paging_with(
        rt: &tokio::runtime::Runtime,
        upstream: &str,
        style: LinkStyle,
        page: usize,
        quirks: Quirks,
    ) -> PagingProxy {
        PagingProxy::spawn(rt, upstream, style, page, false, quirks)
    }

    /// The same, answering `DELETE /v2/<name>/manifests/<tag>` by deleting
    /// the tag's digest (every tag on it goes), then 202.
    pub fn start_deleting_by_digest(rt: &tokio::runtime::Runtime, upstream: &str) -> PagingProxy {
        PagingProxy::spawn(
            rt,
            upstream,
            LinkStyle::Relative,
            1000,
            true,
            Quirks::default(),
        )
    }

    fn spawn(
        rt: &tokio::runtime::Runtime,
        upstream: &str,
        style: LinkStyle,
        page: usize,
        tag_delete_by_digest: bool,
        quirks: Quirks,
    ) -> PagingProxy {
        let (listener, port) = crate::support::Served::bind();
        let log = Arc::new(Mutex::new(Vec::new()));
        let intercepts: Arc<Mutex<Vec<Chooser>>> = Arc::default();
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            style,
            page: page.max(1),
            port,
            tag_delete_by_digest,
            quirks,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            log: log.clone(),
            intercepts: intercepts.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        PagingProxy {
            port,
            log,
            intercepts,
            _server: crate::support::Served::start(rt, listener, app),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    /// From now on, `choose(method, path_and_query)` decides what happens
    /// to each request (`None`: as usual); see [`Intercept`].
    pub fn intercept(
        &self,
        choose: impl Fn(&str, &str) -> Option<Intercept> + Send + Sync + 'static,
    ) {
        self.intercepts.lock().unwrap().push(Box::new(choose));
    }

    /// Stops intercepting (requests held already stay held).
    pub fn stop_intercepting(&self) {
        self.intercepts.lock().unwrap().clear();
    }

    /// Waits until a logged request line satisfies `seen` (at most `limit`);
    /// returns it, or panics with the log.
    pub fn wait_for(&self, seen: impl Fn(&str) -> bool, limit: std::time::Duration) -> String {
        let started = std::time::Instant::now();
        loop {
            if let Some(line) = self.requests().into_iter().find(|l| seen(l)) {
                return line;
            }
            assert!(
                started.elapsed() < limit,
                "the request waited for never came: {:#?}",
                self.requests()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

async fn handle(
    axum::extract::State(s): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let asked = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    s.log.lock().unwrap().push(format!("{method} {asked}"));
    let chosen = s
        .intercepts
        .lock()
        .unwrap()
        .iter()
        .find_map(|choose| choose(method.as_str(), &asked));
    match chosen {
        Some(Intercept::Hang) => {
            tokio::time::sleep(HELD).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(Intercept::ForwardThenHang) => {
            // In a task of its own: the change is made even when the
            // client is gone before the registry answers.
            let (s2, m2, u2, h2) = (s.clone(), method.clone(), uri.clone(), headers.clone());
            let answer = tokio::spawn(async move { forward(&s2, m2, &u2, &h2, body).await })
                .await
                .expect("forwarding task");
            s.log.lock().unwrap().push(format!(
                "DONE {method} {asked} {}",
                answer.status().as_u16()
            ));
            tokio::time::sleep(HELD).await;
            return answer;
        }
        None => {}
    }
    if method == Method::GET && uri.path() == "/v2/_catalog" && s.quirks.no_catalog {
        return (
            StatusCode::NOT_FOUND,
            [("content-type", "text/plain; charset=utf-8")],
            "404 page not found\n",
        )
            .into_response();
    }
    if uri.path() == "/quirk-token" {
        return axum::Json(json!({"token": QUIRK_TOKEN, "expires_in": 300})).into_response();
    }
    // The quirky realm's token means nothing to the registry behind.
    let mut headers = headers;
    if headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes().ends_with(QUIRK_TOKEN.as_bytes()))
    {
        headers.remove("authorization");
    }
    let headers = &headers;
    if method == Method::DELETE && s.quirks.forbid_deletes {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]})),
        )
            .into_response();
    }
    if method == Method::GET
        && uri.path() == "/v2/_catalog"
        && s.quirks.catalog_pages_not_found
        && uri.query().is_some_and(|q| q.contains("last="))
    {
        return (
            StatusCode::NOT_FOUND,
            [("content-type", "text/plain; charset=utf-8")],
            "404 page not found\n",
        )
            .into_response();
    }
    if method == Method::GET && uri.path().ends_with("/tags/list") {
        return tags_page(&s, &uri, headers).await;
    }
    if method == Method::DELETE && s.tag_delete_by_digest {
        if let Some((_, reference)) = uri.path().rsplit_once("/manifests/") {
            if !reference.starts_with("sha256:") {
                return delete_by_digest(&s, &uri, headers).await;
            }
        }
    }
    forward(&s, method, &uri, headers, body).await
}

/// Quay's answer for a repository that does not exist (or that the caller
/// may not read: the same answer), `/v2/<name>/…` being asked.
fn unauthorized(s: &Shared, path: &str) -> Response {
    let name = path
        .strip_prefix("/v2/")
        .and_then(|p| p.rsplit_once("/tags/list").map(|(n, _)| n))
        .unwrap_or_default();
    let challenge = format!(
        "Bearer realm=\"http://127.0.0.1:{}/quirk-token\",service=\"quirks\",scope=\"repository:{name}:pull\"",
        s.port
    );
    (
        StatusCode::UNAUTHORIZED,
        [("www-authenticate", challenge)],
        axum::Json(json!({"errors": [{"code": "UNAUTHORIZED", "detail": {}, "message": "access to the requested resource is not authorized"}]})),
    )
        .into_response()
}

async fn forward(
    s: &Shared,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let target = format!(
        "{}{}",
        s.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut req = s.client.request(method, &target).body(body);
    // Host goes through: the registry builds upload Locations from it.
    for (name, value) in headers {
        if name != "content-length" {
            req = req.header(name, value);
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = resp.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        if name != "transfer-encoding" && name != "connection" {
            out_headers.append(name, value.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    if s.quirks.strip_digest_header {
        out_headers.remove("docker-content-digest");
    }
    if let (Some(tag), Some((repo, _)), true) = (
        s.quirks.digest_header_of,
        uri.path().rsplit_once("/manifests/"),
        status.is_success(),
    ) {
        // The digest of <repo>:<tag>, as the registry itself says it.
        let mut head = s
            .client
            .head(format!("{}{repo}/manifests/{tag}", s.upstream))
            .header("accept", super::ACCEPT_ALL);
        if let Some(auth) = headers.get("authorization") {
            head = head.header("authorization", auth);
        }
        let other = head.send().await.expect("HEAD upstream");
        if let Some(d) = other.headers().get("docker-content-digest") {
            out_headers.insert("docker-content-digest", d.clone());
        }
    }
    let mut response = (status, bytes).into_response();
    *response.headers_mut() = out_headers;
    response
}

async fn tags_page(s: &Shared, uri: &Uri, headers: &HeaderMap) -> Response {
    let path = uri.path().to_string();
    let mut req = s.client.get(format!("{}{path}", s.upstream));
    if let Some(auth) = headers.get("authorization") {
        req = req.header("authorization", auth);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if resp.status() == StatusCode::NOT_FOUND && s.quirks.unknown_repositories_unauthorized {
        return unauthorized(s, &path);
    }
    if resp.status() == StatusCode::NOT_FOUND && s.quirks.unknown_repositories_have_null_tags {
        let name = path
            .strip_prefix("/v2/")
            .and_then(|p| p.strip_suffix("/tags/list"))
            .unwrap_or_default();
        return axum::Json(json!({"name": name, "tags": null})).into_response();
    }
    if resp.status() != StatusCode::OK {
        let status = resp.status();
        let mut out = HeaderMap::new();
        for (name, value) in resp.headers() {
            if name != "transfer-encoding" && name != "connection" {
                out.append(name, value.clone());
            }
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        let mut response = (status, bytes).into_response();
        *response.headers_mut() = out;
        return response;
    }
    let full: Value = resp.json().await.unwrap_or(Value::Null);
    let name = full["name"].as_str().unwrap_or_default().to_string();
    let mut tags: Vec<String> = full["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let unknown = |status: StatusCode, code: &str, message: &str| {
        (
            status,
            axum::Json(json!({"errors": [{"code": code, "message": message, "detail": {}}]})),
        )
            .into_response()
    };
    if s.quirks.next_page_not_found && get("next_page").is_some() {
        return unknown(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        );
    }
    if s.quirks.last_refused && get("last").is_some() {
        return unknown(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "Invalid parameter at 'NextToken' failed to satisfy constraint: 'Invalid next token provided'",
        );
    }
    let cap = if s.quirks.whole_without_n && get("n").is_none() {
        usize::MAX
    } else {
        s.page
    };
    let n = get("n")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(cap)
        .clamp(1, cap);
    let last = get("last").or_else(|| get("next_page").map(|o| unhex(&o)));
    let start = match &last {
        Some(last) => tags.iter().position(|t| t > last).unwrap_or(tags.len()),
        None => 0,
    };
    let end = start.saturating_add(n).min(tags.len());
    let page = &tags[start..end];
    let mut response = axum::Json(json!({"name": name, "tags": page})).into_response();
    if end < tags.len() {
        let last = &page[page.len() - 1];
        // The repository's path as the links give it.
        let path = if s.quirks.link_drops_path_prefix {
            let rest = path.strip_prefix("/v2/").unwrap_or(&path);
            format!("/v2/{}", rest.split_once('/').map_or(rest, |(_, r)| r))
        } else {
            path.clone()
        };
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let link = match s.style {
            LinkStyle::Relative => format!("<{path}?last={}&n={n}>; rel=\"next\"", enc(last)),
            LinkStyle::Opaque => format!("<{path}?n={n}&next_page={}>; rel=\"next\"", hex(last)),
            LinkStyle::Absolute => format!(
                "<http://127.0.0.1:{}{path}?last={}&n={n}>; rel=\"next\"",
                s.port,
                enc(last)
            ),
            LinkStyle::Foreign => format!(
                "<http://localhost:{}{path}?last={}&n={n}>; rel=\"next\"",
                s.port,
                enc(last)
            ),
        };
        response
            .headers_mut()
            .insert("link", HeaderValue::from_str(&link).unwrap());
    }
    response
}

/// A tag DELETE done the dangerous way: resolve the tag, delete its digest.
async fn delete_by_digest(s: &Shared, uri: &Uri, headers: &HeaderMap) -> Response {
    let url = format!("{}{}", s.upstream, uri.path());
    let mut head = s.client.head(&url).header("accept", super::ACCEPT_ALL);
    if let Some(auth) = headers.get("authorization") {
        head = head.header("authorization", auth);
    }
    let resp = head.send().await.expect("HEAD upstream");
    let Some(digest) = resp.headers().get("docker-content-digest").cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (base, _) = url.rsplit_once("/manifests/").unwrap();
    let mut delete = s
        .client
        .delete(format!("{base}/manifests/{}", digest.to_str().unwrap()));
    if let Some(auth) = headers.get("authorization") {
        delete = delete.header("authorization", auth);
    }
    let status = delete.send().await.expect("DELETE upstream").status();
    status.into_response()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
