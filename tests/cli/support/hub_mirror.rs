//! Docker Hub's registry API in front of the real registry: every request
//! goes through to Debian's `docker-registry` (behind its token server, as
//! `registry-1.docker.io` sits behind `auth.docker.io`), and a manifest
//! PUT under a tag that the registry accepts (201) is listed in the fake
//! Hub afterwards — the tag, the digest the registry stored, the pushed
//! media type, `"images": []` and the push time — as the real Hub lists
//! what is pushed to its registry (Docker Hub notes §11: a PUT "points the
//! tag at that manifest"; its listing answers `images: []` since August
//! 2025, docker/hub-feedback #2484).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::support::fakehub::{HubHandle, Tag};

pub struct HubMirror {
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    _server: crate::support::Served,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    hub: HubHandle,
    client: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
}

impl HubMirror {
    /// Forwards to the registry at `upstream`, mirroring tag pushes into `hub`.
    pub fn start(rt: &tokio::runtime::Runtime, upstream: &str, hub: HubHandle) -> HubMirror {
        let (listener, port) = crate::support::Served::bind();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            hub,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            log: log.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        HubMirror {
            port,
            log,
            _server: crate::support::Served::start(rt, listener, app),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request, as `METHOD /path status`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

async fn handle(
    axum::extract::State(s): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let target = format!(
        "{}{}",
        s.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut req = s.client.request(method.clone(), &target).body(body);
    for (name, value) in &headers {
        if name != "content-length" {
            req = req.header(name, value);
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = resp.status();
    s.log
        .lock()
        .unwrap()
        .push(format!("{method} {path} {}", status.as_u16()));
    let mut out = HeaderMap::new();
    for (name, value) in resp.headers() {
        if name != "transfer-encoding" && name != "connection" {
            out.append(name, value.clone());
        }
    }
    if method == Method::PUT && status == StatusCode::CREATED {
        mirror_push(&s, &path, &headers, &out);
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut response = (status, bytes).into_response();
    *response.headers_mut() = out;
    response
}

/// `/v2/<namespace>/<repo>/manifests/<tag>` accepted: list it in the Hub.
fn mirror_push(s: &Shared, path: &str, request: &HeaderMap, reply: &HeaderMap) {
    let Some((name, reference)) = path
        .strip_prefix("/v2/")
        .and_then(|p| p.rsplit_once("/manifests/"))
    else {
        return;
    };
    if reference.starts_with("sha256:") {
        return;
    }
    let Some((namespace, repo)) = name.split_once('/') else {
        return;
    };
    let digest = reply
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok());
    let media_type = request
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut tag = Tag::new(reference, Utc::now())
        .with_digest(digest)
        .with_media_type(media_type);
    tag.images = vec![];
    s.hub.push_tag(namespace, repo, tag);
}
