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
//! does not exist (or a Basic 401); a `GET /v2/` that fails; DELETEs
//! refused with 403; a tag delete that untags its whole manifest; listings
//! that lose a repository after its first; manifests served converted,
//! without their digest; a digest header naming another manifest only once
//! a delete was sent; error answers (the registry's, and its token
//! server's) that quote the credentials sent.
//!
//! [`PagingProxy::intercept`] plays an interruption: a chosen request is
//! held without an answer ([`Intercept::Hang`]: it never reaches the
//! registry) or made and then held ([`Intercept::ForwardThenHang`]: the
//! registry changed, the client never hears of it), so that a test can kill
//! tagsweep at exactly that point ([`PagingProxy::wait_for`]).

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// `/v2/<name>/tags/list?last=<tag>&n=<n>; rel="next"`: the target
    /// without its angle brackets, which RFC 8288 requires — a header that
    /// cannot be read, though it says there are more pages.
    Bare,
    /// `<>; rel="next"`: more pages, and no target.
    EmptyTarget,
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
    /// The catalog's `Link` header loses its angle brackets (as
    /// [`LinkStyle::Bare`]): it says there are more pages, but cannot be read.
    pub catalog_link_unreadable: bool,
    /// A repository that does not exist answers `401 UNAUTHORIZED` with a
    /// Bearer challenge (whose realm, on this proxy, gives anyone a token
    /// that changes nothing), not 404 `NAME_UNKNOWN`: Quay's answer, where a
    /// missing repository and a missing permission look the same
    /// (giantswarm/retagger PR #353, `oci-registry-lab.md` §7).
    pub unknown_repositories_unauthorized: bool,
    /// The same with a Basic challenge (`WWW-Authenticate: Basic`), while
    /// `GET /v2/` answers anonymously: a registry, or a proxy in front of
    /// it, that protects some repositories with Basic authentication (as
    /// Sonatype Nexus challenges `BASIC realm="Sonatype Nexus Repository"`,
    /// indigo-dc/udocker PR #126), and cannot tell a missing repository
    /// from a private one.
    pub unknown_repositories_basic_unauthorized: bool,
    /// `GET /v2/` answers this status (500: a registry that is down),
    /// with an empty body.
    pub root_status: Option<u16>,
    /// Every `DELETE` answers `403 DENIED` (the distribution spec's code for
    /// an authenticated caller without the permission): an account that may
    /// read but not delete.
    pub forbid_deletes: bool,
    /// `DELETE /v2/<name>/manifests/<tag>` → 202, removing the tag *and
    /// every other tag on its manifest*, the manifest itself kept (fetchable
    /// by digest; played by deleting the digest and pushing the bytes back
    /// by digest). On a tag whose manifest no other tag shares it cannot be
    /// told from the OCI spec's tag delete, so one such delete that checked
    /// out proves nothing for the next tag. "Delete a manifest (and all
    /// related tags) by specifying tag" is how distribution's maintainers
    /// list the use case (distribution/distribution#1859); zot once deleted
    /// by tag that way (project-zot/zot#67).
    pub tag_delete_takes_sharing_tags: bool,
    /// Every `tags/list` of a repository after its first listing answers
    /// this instead of the tags: a listing served by a replica or cache that
    /// lags or loses the repository. Distribution 2.8 answers `{"tags":
    /// null}` for a repository whose tags were all deleted
    /// (`oci-registry-lab.md` §0 item 5), 2.0–2.1 for any repository it
    /// does not know (distribution#1186).
    pub later_listings: Option<LaterListing>,
    /// Manifest GETs whose `Content-Type` is this media type (`"*"`: every
    /// one) answer the stored bytes re-serialised (here: a newline
    /// appended) and no `Docker-Content-Digest`: a registry or proxy that
    /// serves manifests converted without saying their digest (distribution
    /// itself serves other bytes by `Accept`: `oci-registry-lab.md` §3.3).
    /// The bytes served then hash to a digest the registry does not know.
    pub manifests_served_rewritten: Option<&'static str>,
    /// As `digest_header_of`, but only once the proxy has seen a `DELETE`:
    /// a cache in front of the registry that starts mixing up its entries'
    /// headers in the middle of a prune.
    pub digest_header_of_after_a_delete: Option<&'static str>,
    /// Every error answer (4xx, 5xx) to a request that carried an
    /// `Authorization` quotes it — in its message (`errors[0].message` or
    /// `details`), with a Basic credential's decoded `user:password`, and in
    /// an `X-Echo-Authorization` header — as debugging proxies and some
    /// registries' error pages do. The token realm a challenge names is
    /// served through the proxy (`/echo-realm`), so that the token server's
    /// refusals quote the Basic credentials they got too.
    pub echo_credentials: bool,
}

/// What [`Quirks::later_listings`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaterListing {
    /// `404 NAME_UNKNOWN`.
    NotFound,
    /// `200 {"name": "<name>", "tags": null}`.
    NullTags,
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
    /// Repositories whose tags were listed (see `Quirks::later_listings`).
    listed: Arc<Mutex<HashSet<String>>>,
    /// Whether a `DELETE` was seen.
    deleted: Arc<AtomicBool>,
    /// The token realm the registry's challenges name, when
    /// `Quirks::echo_credentials` serves it through the proxy.
    realm: Arc<Mutex<Option<String>>>,
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
        PagingProxy::deleting_by_digest_with(rt, upstream, Quirks::default())
    }

    /// [`PagingProxy::start_deleting_by_digest`], playing `quirks` too.
    pub fn deleting_by_digest_with(
        rt: &tokio::runtime::Runtime,
        upstream: &str,
        quirks: Quirks,
    ) -> PagingProxy {
        PagingProxy::spawn(rt, upstream, LinkStyle::Relative, 1000, true, quirks)
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
            listed: Arc::new(Mutex::new(HashSet::new())),
            deleted: Arc::new(AtomicBool::new(false)),
            realm: Arc::new(Mutex::new(None)),
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
    if !s.quirks.echo_credentials {
        return answer(&s, method, uri, headers, body).await;
    }
    let sent = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = if uri.path() == "/echo-realm" {
        realm(&s, &uri, &headers).await
    } else {
        answer(&s, method, uri, headers, body).await
    };
    echo(&s, response, sent).await
}

/// `Quirks::echo_credentials`: a request to the token realm, forwarded to
/// the realm the registry named.
async fn realm(s: &Shared, uri: &Uri, headers: &HeaderMap) -> Response {
    let Some(realm) = s.realm.lock().unwrap().clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut req = s
        .client
        .get(format!("{realm}?{}", uri.query().unwrap_or_default()));
    if let Some(auth) = headers.get("authorization") {
        req = req.header("authorization", auth);
    }
    let resp = req.send().await.expect("GET the token realm");
    let status = resp.status();
    let content_type = resp.headers().get("content-type").cloned();
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut response = (status, bytes).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert("content-type", ct);
    }
    response
}

/// `Quirks::echo_credentials`: challenges name the proxy's realm; an error
/// answer to a request that carried `sent` quotes it.
async fn echo(s: &Shared, response: Response, sent: Option<String>) -> Response {
    let (mut parts, body) = response.into_parts();
    if let Some(challenge) = parts
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|c| c.to_ascii_lowercase().starts_with("bearer "))
    {
        if let Some((before, rest)) = challenge.split_once("realm=\"") {
            if let Some((realm, after)) = rest.split_once('"') {
                let ours = format!("http://127.0.0.1:{}/echo-realm", s.port);
                if realm != ours {
                    *s.realm.lock().unwrap() = Some(realm.to_string());
                }
                let rewritten = format!("{before}realm=\"{ours}\"{after}");
                parts.headers.insert(
                    "www-authenticate",
                    HeaderValue::from_str(&rewritten).unwrap(),
                );
            }
        }
    }
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let Some(sent) = sent.filter(|_| parts.status.as_u16() >= 400) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let decoded = sent
        .strip_prefix("Basic ")
        .and_then(tagsweep::credentials::base64_decode)
        .and_then(|b| String::from_utf8(b).ok())
        .map(|pair| format!(", that is {pair}"))
        .unwrap_or_default();
    let quote = format!("you sent Authorization: {sent}{decoded}");
    let mut doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(message) = doc.pointer_mut("/errors/0/message") {
        *message = json!(format!("{}; {quote}", message.as_str().unwrap_or_default()));
    } else if let Some(details) = doc.get_mut("details") {
        *details = json!(format!("{}; {quote}", details.as_str().unwrap_or_default()));
    } else {
        doc = json!({"errors": [{"code": "UNKNOWN", "message": quote}]});
    }
    parts.headers.insert(
        "x-echo-authorization",
        HeaderValue::from_str(&sent).unwrap(),
    );
    parts.headers.remove("content-length");
    parts
        .headers
        .insert("content-type", HeaderValue::from_static("application/json"));
    Response::from_parts(
        parts,
        axum::body::Body::from(serde_json::to_vec(&doc).unwrap()),
    )
}

/// The proxy's answer to one request (see the module documentation).
async fn answer(s: &Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if method == Method::GET && uri.path() == "/v2/_catalog" && s.quirks.no_catalog {
        return (
            StatusCode::NOT_FOUND,
            [("content-type", "text/plain; charset=utf-8")],
            "404 page not found\n",
        )
            .into_response();
    }
    if let (Some(status), "/v2/") = (s.quirks.root_status, uri.path()) {
        return StatusCode::from_u16(status).unwrap().into_response();
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
    if method == Method::DELETE {
        s.deleted.store(true, Ordering::SeqCst);
    }
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
        return tags_page(s, &uri, headers).await;
    }
    if method == Method::DELETE
        && (s.tag_delete_by_digest || s.quirks.tag_delete_takes_sharing_tags)
    {
        if let Some((_, reference)) = uri.path().rsplit_once("/manifests/") {
            if !reference.starts_with("sha256:") {
                if s.quirks.tag_delete_takes_sharing_tags {
                    return untag_manifest(s, &uri, headers).await;
                }
                return delete_by_digest(s, &uri, headers).await;
            }
        }
    }
    forward(s, method, &uri, headers, body).await
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
    let mut req = s.client.request(method.clone(), &target).body(body);
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
    let mut bytes = resp.bytes().await.unwrap_or_default();
    if s.quirks.catalog_link_unreadable && uri.path() == "/v2/_catalog" {
        if let Some(link) = out_headers.get("link").and_then(|v| v.to_str().ok()) {
            let bare = link.replace(['<', '>'], "");
            out_headers.insert("link", HeaderValue::from_str(&bare).unwrap());
        }
    }
    if s.quirks.strip_digest_header {
        out_headers.remove("docker-content-digest");
    }
    let content_type = out_headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let (Some(rewritten), true, true) = (
        s.quirks.manifests_served_rewritten,
        uri.path().contains("/manifests/") && status.is_success(),
        method == Method::GET || method == Method::HEAD,
    ) {
        if rewritten == "*" || rewritten == content_type {
            out_headers.remove("docker-content-digest");
            let length = bytes.len() + 1;
            if method == Method::GET {
                let mut more = bytes.to_vec();
                more.push(b'\n');
                bytes = Bytes::from(more);
            }
            out_headers.insert("content-length", HeaderValue::from(length));
        }
    }
    let mixed_up = s.quirks.digest_header_of.or(s
        .quirks
        .digest_header_of_after_a_delete
        .filter(|_| s.deleted.load(Ordering::SeqCst)));
    if let (Some(tag), Some((repo, _)), true) = (
        mixed_up,
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
    if let Some(later) = s.quirks.later_listings {
        // A listing starts without a cursor; its further pages pass.
        let query = uri.query().unwrap_or_default();
        let starts = !query.contains("last=") && !query.contains("next_page=");
        if starts && !s.listed.lock().unwrap().insert(path.clone()) {
            let name = path
                .strip_prefix("/v2/")
                .and_then(|p| p.strip_suffix("/tags/list"))
                .unwrap_or_default();
            return match later {
                LaterListing::NotFound => (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry", "detail": {"name": name}}]})),
                )
                    .into_response(),
                LaterListing::NullTags => {
                    axum::Json(json!({"name": name, "tags": null})).into_response()
                }
            };
        }
    }
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
    if resp.status() == StatusCode::NOT_FOUND && s.quirks.unknown_repositories_basic_unauthorized {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"quirks\"")],
            axum::Json(json!({"errors": [{"code": "UNAUTHORIZED", "detail": {}, "message": "authentication required"}]})),
        )
            .into_response();
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
            LinkStyle::Bare => format!("{path}?last={}&n={n}; rel=\"next\"", enc(last)),
            LinkStyle::EmptyTarget => "<>; rel=\"next\"".to_string(),
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

/// A tag DELETE that untags the tag's whole manifest (see
/// `Quirks::tag_delete_takes_sharing_tags`): read it by tag, delete its
/// digest (every tag on it goes), push the same bytes back by digest.
async fn untag_manifest(s: &Shared, uri: &Uri, headers: &HeaderMap) -> Response {
    let url = format!("{}{}", s.upstream, uri.path());
    let authorized = |req: reqwest::RequestBuilder| match headers.get("authorization") {
        Some(auth) => req.header("authorization", auth),
        None => req,
    };
    let resp = authorized(s.client.get(&url).header("accept", super::ACCEPT_ALL))
        .send()
        .await
        .expect("GET upstream");
    let Some(digest) = resp.headers().get("docker-content-digest").cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let media_type = resp.headers()["content-type"].clone();
    let body = resp.bytes().await.expect("manifest bytes");
    let (base, _) = url.rsplit_once("/manifests/").unwrap();
    let by_digest = format!("{base}/manifests/{}", digest.to_str().unwrap());
    let status = authorized(s.client.delete(&by_digest))
        .send()
        .await
        .expect("DELETE upstream")
        .status();
    if !status.is_success() {
        return status.into_response();
    }
    let put = authorized(s.client.put(&by_digest))
        .header("content-type", media_type)
        .body(body)
        .send()
        .await
        .expect("PUT upstream");
    assert!(
        put.status().is_success(),
        "PUT {by_digest}: {}",
        put.status()
    );
    StatusCode::ACCEPTED.into_response()
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
