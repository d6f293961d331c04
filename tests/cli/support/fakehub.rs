//! `fakehub`: a stateful fake of the Docker Hub HTTP API (`hub.docker.com/v2/...`) for the
//! `tagsweep` CLI tests.
//!
//! # Why it exists
//!
//! `tagsweep` audits and prunes tags on Docker Hub. Its tests must not touch the real Hub (no
//! network, no credentials, deletes are irreversible), yet a mock that answers whatever the client
//! expects proves nothing. This fake therefore reproduces what the *real* Hub does, as recorded in
//! the team's reference material:
//!
//! * `reference/dockerhub-notes.md` (cited below as "notes §N"),
//! * `reference/dockerhub-samples/*.json` (real response bodies; the shapes below copy them field
//!   by field, including the `null`s such as `variant` and `os_version`),
//! * `reference/docker-hub-api.yaml` (the official OpenAPI spec, "spec").
//!
//! It is an [axum] server bound to `127.0.0.1:0`, running on its own thread with its own tokio
//! runtime, so it works from plain `#[test]` functions and from a CLI child process alike.
//! Dropping the [`FakeHub`] stops it.
//!
//! # What is modelled
//!
//! | Behaviour | Source |
//! |---|---|
//! | `POST /v2/auth/token` `{identifier, secret}` → `{"access_token": JWT}`, 10-minute lifetime (configurable), 401 `error`-schema body on bad credentials; switch to make it 404 | notes §1, spec `AuthCreateAccessToken`, `AuthCreateTokenResponse` |
//! | `POST /v2/users/login[/]` `{username, password}` → `{"token": JWT}` (+`refresh_token` with `?refresh_token=true`), 401 `{"detail": ...}` | notes §1, §7, spec `PostUsersLoginErrorResponse`, sample `POST_users_login.401.json` |
//! | JWT payload claims modelled on a real decoded Hub token (`aud`, `exp`, `iat`, `iss`, `jti`, `sub`, `https://hub.docker.com{username,...}`, `scope` for PATs); unsigned (fake signature) | mongodb/kingfisher issue #202 (decoded real token) |
//! | `Authorization: Bearer <jwt>` (and legacy `JWT <jwt>`); unknown/expired token → 401 `{"message":"unauthorized","errinfo":{}}` | notes §1; body from mongodb/kingfisher #202 |
//! | `GET /v2/namespaces/{ns}/repositories` paged `{count,next,previous,results}` with `repository_list_entry` fields; private repos only for authenticated callers; `name` partial-match filter; `ordering` | notes §2, spec `listNamespaceRepositories`, sample `GET_repositories_namespace.200.json` |
//! | Paging: `page` default 1, `page_size` default 10, silently capped at 100; `page > 1` past the end → 404; non-integer or < 1 → 400 `ValueError` `{"fields": ..., "text": ...}`; `next`/`previous` absolute, built from the `Host` header, other query params kept | notes §2, §3, spec `page`, `ValueError`; shields PR #4562 |
//! | `GET /v2/namespaces/{ns}/repositories/{repo}/tags` with real tag bodies; default newest push first; `ordering=last_updated` newest first, `-last_updated` **oldest** first, `name`/`-name`; `name` substring filter | notes §3 (X4Applegate/caddyui #17), sample `GET_namespaces_repositories_tags.200.json` |
//! | `GET .../tags/{tag}` → one tag, shape of `GET_repositories_tags_tag.200.json`; `HEAD` the same without body | notes §4, spec `GetRepositoryTag` |
//! | Private repo, missing repo, missing tag → 404 `{"message": ..., "errinfo": {}}` | spec `NotFound`/`error` |
//! | Legacy `GET /v2/repositories/{ns}/`, `.../{repo}/tags/`, `.../tags/{tag}/` with the same data | notes §2, §3, §4 |
//! | Django backend: any `/v2/repositories/...` path without a trailing slash → `301` to the slash form, HTML body | notes §5, §7 (docker/docs #3832) |
//! | `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/` → 204 empty; missing → 404; no/bad token → 401; account without delete permission → 403 body `DELETE_repositories_tags_tag.403.pat-2020.json`; `DELETE` on `/v2/namespaces/...` → 405 (no such route) | notes §5, §1 (PAT needs Delete scope) |
//! | Anonymous paged request with offset `(page-1)*page_size >= 1000` (after the 100 cap) → 403 body `GET_tags.403.anonymous-offset.json` | notes §3 "Deep paging limits" |
//! | Every response has `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (unix s; rounded up, or down, or seconds left: [`ResetStyle`]); past the per-client-IP limit in a fixed window → 429 + `Retry-After` (seconds) + body `ANY.429.json` | notes §6, spec tag `rate-limiting` |
//!
//! Test-only additions: fixed response latency ([`HubConfig::latency`]), hooks that mutate the
//! state when a matching request arrives ([`FakeHub::on`], [`FakeHub::once`]), fault injection
//! ([`Fault`], [`FakeHub::inject`], [`FakeHub::fail_nth`]) and a request log ([`FakeHub::requests`]).
//!
//! Faults answer with a status ([`Fault::status`]), drop the TCP connection without answering —
//! a real reset: the socket is closed with `SO_LINGER 0`, so the client gets an RST
//! ([`Fault::reset`]) — or answer normally but late ([`Fault::delay`]). They fire on chosen
//! matches ([`Fault::nth`], [`Fault::times`], [`Fault::always`]) or on a seeded pseudo-random
//! share of them ([`Fault::share`], optionally in bursts, [`Fault::burst`]): the same seed makes
//! the same decisions for the same sequence of matching requests (a small splitmix64 generator,
//! no crate). [`HubConfig::link_origin`] makes `next`/`previous` links point at another origin
//! (to test that a client refuses to follow them).
//!
//! # Assumptions where the references are silent (documented, change here if reality differs)
//!
//! * Any authenticated account sees every private repository; there are no per-namespace ACLs.
//! * Bodies of 404 (`{"message":"object not found","errinfo":{}}`-style) and of page-past-the-end
//!   follow the spec's `error` schema; the exact real texts are unknown.
//! * Unknown `ordering` values on *tag* lists are ignored (DRF `OrderingFilter` behaviour); on
//!   *repository* lists they are a 400 as the spec shows. Repository `ordering` uses the same
//!   direction as tags (`last_updated` = newest first), which the notes mark "verify at runtime".
//!   Default repository order: newest `last_updated` first.
//! * Tags never pushed (`pushed: None`) sort as the oldest.
//! * Re-pushing a tag (same name) keeps its id and replaces digest/images/time; it moves the
//!   tag's `last_updated` and the repository's. Deleting a tag does not move the repository's
//!   `last_updated` (docker/hub-feedback #1750: "last pushed" stays after a delete).
//! * The anonymous offset cap is checked after parameter validation and before the repository
//!   lookup.
//! * `/v2/namespaces/...` paths are matched exactly; a trailing slash there is a 404.
//!
//! Not modelled: 2FA (`/v2/users/2fa-login`), OAT-specific behaviour, PAT-refused-on-read 403s
//! (inject them with a [`Fault`]), immutable tags, the registry API (`registry-1.docker.io`),
//! `architecture`/`os` filters, the legacy `delete-images` family.
//!
//! # Order in which a request is processed
//!
//! 1. The bearer token is resolved (identity or invalid).
//! 2. Matching hooks run on the state ([`FakeHub::on`]).
//! 3. Rate limiting (every request counts, whatever its outcome).
//! 4. Faults: the first active matching [`Fault`] answers instead of the route (or after it, see
//!    [`Fault::after_apply`]); a reset fault answers nothing; a delay fault lets the route answer.
//! 5. The route answers; the request is logged with its final status (0 for a reset).
//! 6. [`HubConfig::latency`] (plus a delay fault's delay) is slept, then the response is sent —
//!    or, for a reset, the connection is dropped.

// Not every test uses every helper: `support/mod.rs` (and the bench that includes this file)
// allow dead code for it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::future::IntoFuture;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::serve::IncomingStream;
use axum::Router;
use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use regex::Regex;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// Verbatim bodies from reference/dockerhub-samples (byte-for-byte).
// ---------------------------------------------------------------------------------------------

/// `ANY.429.json`: Hub API rate limit body (notes §6).
pub const BODY_429: &str = r#"{"detail": "Rate limit exceeded", "error": false}"#;
/// `GET_tags.403.anonymous-offset.json`: anonymous paging past offset 1000 (notes §3).
pub const BODY_ANON_OFFSET_403: &str = r#"{"message":"pagination offset too large for anonymous requests; sign in to page further","errinfo":{}}"#;
/// `DELETE_repositories_tags_tag.403.pat-2020.json`: delete refused for the token (notes §1, §5).
pub const BODY_DELETE_403: &str =
    r#"{"detail": "access to the resource is forbidden with personal access token"}"#;
/// 401 from `/v2/users/login`: `PostUsersLoginErrorResponse` with the spec's example text
/// (the sample `POST_users_login.401.json` shows the same shape with `"unauthorized"`).
pub const BODY_LOGIN_401: &str = r#"{"detail": "Incorrect authentication credentials"}"#;
/// 401 for a missing/unknown/expired bearer token and for bad `/v2/auth/token` credentials
/// (`error` schema; text as observed in mongodb/kingfisher #202).
pub const BODY_UNAUTHORIZED: &str = r#"{"message":"unauthorized","errinfo":{}}"#;

/// Media type of a single-platform tag in real bodies (dotCMS sample; yes, the config type).
pub const MT_IMAGE: &str = "application/vnd.docker.container.image.v1+json";
/// Docker manifest list (rancher sample, multi-arch without attestations).
pub const MT_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image index (what buildx pushes when it adds attestation manifests).
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

// ---------------------------------------------------------------------------------------------
// Deterministic fake data
// ---------------------------------------------------------------------------------------------

fn hash64(seed: &str, lane: u64) -> u64 {
    // FNV-1a with a lane-dependent basis, then a murmur3 finaliser: stable across Rust versions.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ lane.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A `sha256:<64 hex>` digest derived deterministically from `seed` (not a real SHA-256).
pub fn fake_digest(seed: &str) -> String {
    let mut s = String::from("sha256:");
    for lane in 0..4 {
        let _ = write!(s, "{:016x}", hash64(seed, lane));
    }
    s
}

/// A UUID-looking string derived from `seed`.
pub fn fake_uuid(seed: &str) -> String {
    let h = format!("{:016x}{:016x}", hash64(seed, 7), hash64(seed, 8));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn fake_number(seed: &str, lo: u64, hi: u64) -> u64 {
    lo + hash64(seed, 11) % (hi - lo)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// base64url without padding (JWT encoding).
fn b64url(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    tagsweep::credentials::base64_decode(s)
}

/// Decode the payload (claims) of a JWT without checking anything. Handy in tests.
pub fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&b64url_decode(payload)?).ok()
}

/// `2026-03-01T12:00:00Z`-style helper for fixtures: `at(2026, 3, 1, 12)`.
pub fn at(year: i32, month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, 0, 0)
        .single()
        .expect("valid fixture date")
}

// ---------------------------------------------------------------------------------------------
// State: fixtures
// ---------------------------------------------------------------------------------------------

/// An account that can log in. `identifier` is the username (or org name for an OAT);
/// `secret` its password, PAT (`dckr_pat_...`) or OAT. `can_delete: false` models a PAT without
/// the Delete scope (notes §1, §8.3): tag DELETEs answer 403.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub identifier: String,
    pub secret: String,
    pub can_delete: bool,
}

/// One entry of a tag's `images[]`: a platform manifest, or an attestation manifest
/// (`os: "unknown"`, `architecture: "unknown"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub digest: String,
    pub size: u64,
    pub os_version: Option<String>,
}

impl Image {
    /// Build from `os/arch[/variant]` (e.g. `linux/arm64/v8`, `unknown/unknown`); digest and
    /// size are derived from `seed` and the platform.
    pub fn from_platform(platform: &str, seed: &str) -> Image {
        let mut parts = platform.split('/');
        let os = parts.next().unwrap_or("linux").to_string();
        let architecture = parts.next().unwrap_or("amd64").to_string();
        let variant = parts.next().map(str::to_string);
        let s = format!("{seed}|{platform}");
        let size = if os == "unknown" && architecture == "unknown" {
            fake_number(&s, 8_000, 40_000)
        } else {
            fake_number(&s, 20_000_000, 600_000_000)
        };
        Image {
            os,
            architecture,
            variant,
            digest: fake_digest(&s),
            size,
            os_version: None,
        }
    }

    pub fn is_attestation(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    /// `os/arch[/variant]`.
    pub fn platform(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// A tag fixture. Fields are public; the `with_*` methods are conveniences.
/// `pushed` feeds `tag_last_pushed`, `last_updated` and every image's `last_pushed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    /// 0 = assigned when the tag is inserted into the state.
    pub id: u64,
    /// Manifest (single platform) or index digest; may be `None` (notes §3: treat as nullable).
    pub digest: Option<String>,
    pub pushed: Option<DateTime<Utc>>,
    pub last_pulled: Option<DateTime<Utc>>,
    pub media_type: String,
    pub content_type: String,
    pub images: Vec<Image>,
    /// Real bodies: equals one platform's size for a multi-arch tag (rancher sample).
    pub full_size: u64,
    /// `last_updater_username`; `None` = the repository's namespace.
    pub pusher: Option<String>,
}

impl Tag {
    /// A single-platform (`linux/amd64`) tag, like the dotCMS sample: `media_type` is
    /// [`MT_IMAGE`] and `digest` equals the only image's digest.
    pub fn new(name: &str, pushed: DateTime<Utc>) -> Tag {
        Tag::single(name, Some(pushed))
    }

    /// A tag that was never pushed (`tag_last_pushed: null`, `last_updated: null`).
    pub fn unpushed(name: &str) -> Tag {
        Tag::single(name, None)
    }

    fn single(name: &str, pushed: Option<DateTime<Utc>>) -> Tag {
        let mut t = Tag {
            name: name.to_string(),
            id: 0,
            digest: None,
            pushed,
            last_pulled: None,
            media_type: MT_IMAGE.to_string(),
            content_type: "image".to_string(),
            images: Vec::new(),
            full_size: 0,
            pusher: None,
        };
        let img = Image::from_platform("linux/amd64", &t.seed());
        t.digest = Some(img.digest.clone());
        t.full_size = img.size;
        t.images = vec![img];
        t
    }

    fn seed(&self) -> String {
        format!(
            "{}@{}",
            self.name,
            self.pushed.map(ts).unwrap_or_else(|| "never".into())
        )
    }

    /// Make this a multi-platform tag (an index) with the given `os/arch[/variant]` entries, in
    /// order. `unknown/unknown` entries are attestation manifests. Media type: OCI index if any
    /// attestation is present, else a Docker manifest list. Recomputes digest and `full_size`
    /// (size of the first platform image), so call it before [`Tag::with_digest`].
    pub fn with_platforms(mut self, platforms: &[&str]) -> Tag {
        let seed = self.seed();
        self.images = platforms
            .iter()
            .enumerate()
            .map(|(i, p)| Image::from_platform(p, &format!("{seed}#{i}")))
            .collect();
        self.media_type = if self.images.iter().any(Image::is_attestation) {
            MT_OCI_INDEX
        } else {
            MT_MANIFEST_LIST
        }
        .to_string();
        self.digest = Some(fake_digest(&format!("index:{seed}")));
        self.full_size = self
            .images
            .iter()
            .find(|i| !i.is_attestation())
            .map_or(0, |i| i.size);
        self
    }

    /// Append one attestation manifest (`unknown/unknown`) per platform image, as buildx does,
    /// and switch the media type to the OCI index.
    pub fn with_attestations(mut self) -> Tag {
        let seed = self.seed();
        let n = self.images.iter().filter(|i| !i.is_attestation()).count();
        for i in 0..n {
            self.images.push(Image::from_platform(
                "unknown/unknown",
                &format!("{seed}#att{i}"),
            ));
        }
        self.media_type = MT_OCI_INDEX.to_string();
        if self.images.len() > 1 && self.digest == self.images.first().map(|i| i.digest.clone()) {
            self.digest = Some(fake_digest(&format!("index:{seed}")));
        }
        self
    }

    pub fn with_digest(mut self, digest: Option<&str>) -> Tag {
        self.digest = digest.map(str::to_string);
        self
    }

    pub fn with_media_type(mut self, media_type: &str) -> Tag {
        self.media_type = media_type.to_string();
        self
    }

    pub fn with_last_pulled(mut self, t: DateTime<Utc>) -> Tag {
        self.last_pulled = Some(t);
        self
    }

    pub fn with_pusher(mut self, username: &str) -> Tag {
        self.pusher = Some(username.to_string());
        self
    }

    /// `os/arch[/variant]` of every image, attestations included, in order.
    pub fn platforms(&self) -> Vec<String> {
        self.images.iter().map(Image::platform).collect()
    }
}

/// A repository fixture, keyed in the state by `(namespace, name)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    pub namespace: String,
    pub name: String,
    /// 0 = assigned when inserted.
    pub id: u64,
    pub private: bool,
    pub description: String,
    pub pull_count: u64,
    pub star_count: u64,
    pub date_registered: DateTime<Utc>,
    pub tags: Vec<Tag>,
    /// The newest push this repository has seen, kept when tags are deleted: a deletion does
    /// not move a repository's `last_updated` (docker/hub-feedback #1750). Set by
    /// [`HubState::delete_tag`] (and the DELETE route); a test that edits `tags` directly
    /// should set it too.
    pub last_push: Option<DateTime<Utc>>,
}

impl Repo {
    pub fn new(namespace: &str, name: &str) -> Repo {
        Repo {
            namespace: namespace.to_string(),
            name: name.to_string(),
            id: 0,
            private: false,
            description: String::new(),
            pull_count: 0,
            star_count: 0,
            date_registered: at(2020, 1, 1, 0),
            tags: Vec::new(),
            last_push: None,
        }
    }

    pub fn tag(&self, name: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.name == name)
    }

    pub fn tag_mut(&mut self, name: &str) -> Option<&mut Tag> {
        self.tags.iter_mut().find(|t| t.name == name)
    }

    /// The repository's `last_updated`: its newest push ever — that of its newest tag, or of
    /// a tag deleted since (docker/hub-feedback #1750) — or `None` if nothing was pushed.
    pub fn last_updated(&self) -> Option<DateTime<Utc>> {
        self.tags
            .iter()
            .filter_map(|t| t.pushed)
            .max()
            .max(self.last_push)
    }
}

// ---------------------------------------------------------------------------------------------
// State: configuration, tokens, log, faults
// ---------------------------------------------------------------------------------------------

/// Knobs; all can be changed mid-test through [`FakeHub::state`].
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Lifetime of issued JWTs (`exp - iat`). Spec: 10 minutes for `/v2/auth/token`; the login
    /// lifetime is undocumented (notes §1), the same value is used.
    pub token_lifetime: Duration,
    /// `false` → `POST /v2/auth/token` answers 404 (to test a fallback to `/v2/users/login`).
    pub auth_token_endpoint: bool,
    /// Requests allowed per client IP per `rate_window` (reported as `X-RateLimit-Limit`).
    pub rate_limit: u64,
    /// Length of the fixed rate-limit window (real Hub: one minute).
    pub rate_window: Duration,
    /// How `X-RateLimit-Reset` states the window's end (see [`ResetStyle`]).
    pub reset_style: ResetStyle,
    /// Added to every response.
    pub latency: Duration,
    /// Anonymous paged requests with `offset >= cap` get 403 (notes §3). `None` disables.
    pub anonymous_offset_cap: Option<usize>,
    pub default_page_size: usize,
    pub max_page_size: usize,
    /// Origin (`http://host:port`) of `next`/`previous` links; `None` = the request's `Host`.
    pub link_origin: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            token_lifetime: Duration::from_secs(600),
            auth_token_endpoint: true,
            rate_limit: 1_000_000,
            rate_window: Duration::from_secs(60),
            reset_style: ResetStyle::UnixCeil,
            latency: Duration::ZERO,
            anonymous_offset_cap: Some(1000),
            default_page_size: 10,
            max_page_size: 100,
            link_origin: None,
        }
    }
}

/// How the fake writes `X-RateLimit-Reset`. Docker Hub documents a unix timestamp (notes §6)
/// and does not say how it rounds the window's end to a whole second; other servers (and the
/// IETF `RateLimit` header draft) send the seconds left instead. A client must not send early
/// under any of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetStyle {
    /// The window's end as a unix time, rounded up (never before the real end). The default.
    UnixCeil,
    /// The window's end as a unix time, rounded down: up to a second *before* the real end.
    UnixFloor,
    /// The seconds left until the window ends, rounded up.
    Delta,
}

/// A JWT the server issued and will accept until `expires_at`.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub identifier: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `"/v2/auth/token"`, `"/v2/users/login"` or `"test"` ([`HubState::issue_token`]).
    pub via: &'static str,
}

/// One logged request.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// 1-based arrival number.
    pub seq: usize,
    pub at: DateTime<Utc>,
    pub client: IpAddr,
    pub method: String,
    pub path: String,
    /// Raw query string, `""` if none.
    pub query: String,
    /// Identifier of the account whose valid token was presented; `None` if anonymous or the
    /// token was unknown/expired.
    pub identity: Option<String>,
    /// The status answered; 0 when a [`Fault::reset`] dropped the connection instead.
    pub status: u16,
}

impl RequestRecord {
    /// First value of a query parameter.
    pub fn query_param(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// What a hook sees of the request that triggered it.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    pub seq: usize,
    pub method: String,
    pub path: String,
    pub query: String,
    pub identity: Option<String>,
}

/// A canned failure. Matching requests (method and optional path regex) are counted from the
/// moment the fault is installed; the `first`-th up to `first + count - 1`-th are answered with
/// `status`/`body`/`headers` instead of the normal response (default: exactly the first match).
/// Each fault counts every matching request (rate-limited ones excepted), even one answered by
/// another fault; when several fire at once, the one installed first answers.
///
/// ```ignore
/// hub.inject(Fault::on("DELETE").nth(2).status(500));            // 2nd DELETE → 500
/// hub.inject(Fault::on("GET").path("/tags$").times(3).status(429)); // next 3 tag lists → 429
/// hub.inject(Fault::on("DELETE").status(500).after_apply());      // delete happens, reply is lost
/// hub.inject(Fault::on("*").share(0.2, seed).status(503));        // ~20% of requests → 503
/// hub.inject(Fault::on("GET").share(0.1, seed).burst(3).status(429)); // 429s, three at a time
/// hub.inject(Fault::on("*").share(0.1, seed).reset());            // connection dropped
/// hub.inject(Fault::on("DELETE").nth(1).reset().after_apply());   // deleted, then dropped
/// hub.inject(Fault::on("*").share(0.3, seed).delay(ms(400)));     // slow answers
/// ```
#[derive(Clone, Debug)]
pub struct Fault {
    /// `None` = any method.
    pub method: Option<String>,
    pub path: Option<Regex>,
    pub first: usize,
    /// `None` = every match from `first` on.
    pub count: Option<usize>,
    pub status: u16,
    /// `None` = a default body for the status (500: the notes §5 backend-incident shape,
    /// 429: `ANY.429.json` with `Retry-After: 1`, otherwise `{"message":...,"errinfo":{}}`).
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Process the request normally first (state changes happen), then replace the response.
    pub apply_first: bool,
    /// What firing does (default: answer `status`).
    pub action: FaultAction,
    /// Fire only on a pseudo-random share of the matches in the window (see [`Fault::share`]).
    pub share: Option<Share>,
    /// Once fired by the share, fire on this many consecutive matches in all.
    pub burst: usize,
    /// Add `X-Retry-After: <now + secs>` (a unix time) computed when answering, instead of the
    /// default `Retry-After` of a 429.
    pub x_retry_after: Option<u64>,
    /// Fire at most this many times on the same request (method, path and query): a retry
    /// then gets through, so a transient fault stays transient whatever the interleaving.
    pub max_per_request: Option<usize>,
    /// Matching requests seen so far.
    pub seen: usize,
    /// Times this fault answered.
    pub fired: usize,
    burst_left: usize,
    per_request: HashMap<String, usize>,
}

/// What a firing [`Fault`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer `status` with `body`/`headers`.
    Respond,
    /// Close the connection without answering (TCP RST).
    Reset,
    /// Answer normally, this much later.
    Delay(Duration),
}

/// A deterministic share of matches: `per_million` / 1,000,000, drawn from a splitmix64 stream.
#[derive(Clone, Debug)]
pub struct Share {
    pub per_million: u64,
    pub seed: u64,
    state: u64,
}

impl Share {
    fn draw(&mut self) -> bool {
        splitmix64(&mut self.state) % 1_000_000 < self.per_million
    }
}

/// One step of splitmix64 (a tiny, well-mixed PRNG; deterministic for a seed).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Fault {
    /// Match requests with this method (`"*"` = any).
    pub fn on(method: &str) -> Fault {
        Fault {
            method: (method != "*").then(|| method.to_ascii_uppercase()),
            path: None,
            first: 1,
            count: Some(1),
            status: 500,
            body: None,
            headers: Vec::new(),
            apply_first: false,
            action: FaultAction::Respond,
            share: None,
            burst: 1,
            x_retry_after: None,
            max_per_request: None,
            seen: 0,
            fired: 0,
            burst_left: 0,
            per_request: HashMap::new(),
        }
    }

    /// Also require the path to match this regex.
    pub fn path(mut self, re: &str) -> Fault {
        self.path = Some(Regex::new(re).expect("valid fault path regex"));
        self
    }

    /// Fire on the `n`-th matching request only (1-based).
    pub fn nth(mut self, n: usize) -> Fault {
        self.first = n.max(1);
        self.count = Some(1);
        self
    }

    /// Fire on `k` consecutive matches (starting at `first`).
    pub fn times(mut self, k: usize) -> Fault {
        self.count = Some(k);
        self
    }

    /// Fire on every match from `first` on.
    pub fn always(mut self) -> Fault {
        self.count = None;
        self
    }

    pub fn status(mut self, status: u16) -> Fault {
        self.status = status;
        self
    }

    pub fn body(mut self, body: &str) -> Fault {
        self.body = Some(body.to_string());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn after_apply(mut self) -> Fault {
        self.apply_first = true;
        self
    }

    /// Fire on about `fraction` of the matches in the window, chosen by a PRNG seeded with
    /// `seed`. Makes the window unbounded ([`Fault::always`]); narrow it afterwards if needed.
    pub fn share(mut self, fraction: f64, seed: u64) -> Fault {
        let mut state = seed ^ 0x5eed_5eed_5eed_5eed;
        splitmix64(&mut state);
        self.share = Some(Share {
            per_million: (fraction.clamp(0.0, 1.0) * 1_000_000.0) as u64,
            seed,
            state,
        });
        self.count = None;
        self
    }

    /// With [`Fault::share`]: each time the share fires, fire on `k` consecutive matches.
    pub fn burst(mut self, k: usize) -> Fault {
        self.burst = k.max(1);
        self
    }

    /// Drop the connection without answering (TCP reset) instead of answering.
    pub fn reset(mut self) -> Fault {
        self.action = FaultAction::Reset;
        self
    }

    /// Answer normally, `by` later.
    pub fn delay(mut self, by: Duration) -> Fault {
        self.action = FaultAction::Delay(by);
        self
    }

    /// Send `X-Retry-After: <unix time secs from now>` (the older specs' header) with the
    /// answer, instead of `Retry-After`.
    pub fn x_retry_after(mut self, secs: u64) -> Fault {
        self.x_retry_after = Some(secs);
        self
    }

    /// See [`Fault::max_per_request`].
    pub fn max_per_request(mut self, k: usize) -> Fault {
        self.max_per_request = Some(k);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.path.as_ref().is_none_or(|re| re.is_match(path))
    }

    /// Count a matching request (`key`: method, path and query); true if this one must fail.
    fn hit(&mut self, key: &str) -> bool {
        self.seen += 1;
        let in_window =
            self.seen >= self.first && self.count.is_none_or(|c| self.seen < self.first + c);
        let fire = in_window
            && match &mut self.share {
                None => true,
                Some(share) => {
                    // The draw happens for every match in the window, so the decisions depend
                    // only on the seed and the number of matches.
                    let drawn = share.draw();
                    if self.burst_left > 0 {
                        self.burst_left -= 1;
                        true
                    } else if drawn {
                        self.burst_left = self.burst - 1;
                        true
                    } else {
                        false
                    }
                }
            };
        let fire = fire
            && match self.max_per_request {
                None => true,
                Some(max) => {
                    let n = self.per_request.entry(key.to_string()).or_insert(0);
                    *n += 1;
                    *n <= max
                }
            };
        if fire {
            self.fired += 1;
        }
        fire
    }
}

#[derive(Clone, Debug)]
struct RateWindow {
    start: Instant,
    start_wall: DateTime<Utc>,
    count: u64,
}

/// Everything the fake knows. Lock it with [`FakeHub::state`] to read or change it mid-test
/// (don't hold the guard while waiting for a request to complete: the server needs it).
#[derive(Debug, Default)]
pub struct HubState {
    pub config: HubConfig,
    pub accounts: Vec<Account>,
    /// Namespaces that exist even without repositories (accounts and repos add theirs).
    pub namespaces: BTreeSet<String>,
    pub repos: BTreeMap<(String, String), Repo>,
    pub tokens: HashMap<String, IssuedToken>,
    pub log: Vec<RequestRecord>,
    pub faults: Vec<Fault>,
    next_repo_id: u64,
    next_tag_id: u64,
    token_counter: u64,
    rate: HashMap<IpAddr, RateWindow>,
}

impl HubState {
    pub fn new() -> HubState {
        HubState {
            next_repo_id: 22_062_687,
            next_tag_id: 516_991_909,
            ..HubState::default()
        }
    }

    pub fn add_account(&mut self, identifier: &str, secret: &str, can_delete: bool) {
        self.accounts.retain(|a| a.identifier != identifier);
        self.accounts.push(Account {
            identifier: identifier.to_string(),
            secret: secret.to_string(),
            can_delete,
        });
        self.namespaces.insert(identifier.to_string());
    }

    pub fn account(&self, identifier: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.identifier == identifier)
    }

    /// Insert (or replace) a repository, assigning ids where they are 0.
    pub fn add_repo(&mut self, mut repo: Repo) {
        if repo.id == 0 {
            self.next_repo_id += 1;
            repo.id = self.next_repo_id;
        }
        for t in &mut repo.tags {
            if t.id == 0 {
                self.next_tag_id += 1;
                t.id = self.next_tag_id;
            }
        }
        self.namespaces.insert(repo.namespace.clone());
        self.repos
            .insert((repo.namespace.clone(), repo.name.clone()), repo);
    }

    pub fn repo(&self, namespace: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&(namespace.to_string(), name.to_string()))
    }

    pub fn repo_mut(&mut self, namespace: &str, name: &str) -> Option<&mut Repo> {
        self.repos
            .get_mut(&(namespace.to_string(), name.to_string()))
    }

    /// Push a tag (as `docker push` would): a new tag gets a fresh id; an existing tag of the
    /// same name is replaced but keeps its id. Creates the repository if missing.
    pub fn push_tag(&mut self, namespace: &str, repo: &str, mut tag: Tag) {
        if self.repo(namespace, repo).is_none() {
            self.add_repo(Repo::new(namespace, repo));
        }
        let r = self.repo_mut(namespace, repo).expect("just created");
        if let Some(old) = r.tags.iter_mut().find(|t| t.name == tag.name) {
            tag.id = old.id;
            *old = tag;
            return;
        }
        if tag.id == 0 {
            self.next_tag_id += 1;
            tag.id = self.next_tag_id;
        }
        self.repo_mut(namespace, repo)
            .expect("exists")
            .tags
            .push(tag);
    }

    /// Remove a tag; true if it existed.
    pub fn delete_tag(&mut self, namespace: &str, repo: &str, tag: &str) -> bool {
        match self.repo_mut(namespace, repo) {
            Some(r) => {
                let before = r.tags.len();
                r.last_push = r.last_updated();
                r.tags.retain(|t| t.name != tag);
                r.tags.len() != before
            }
            None => false,
        }
    }

    /// Tag names of a repository, sorted by name (empty if the repository does not exist).
    pub fn tag_names(&self, namespace: &str, repo: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .repo(namespace, repo)
            .map(|r| r.tags.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Issue a valid JWT for `identifier` without an HTTP round trip.
    pub fn issue_token(&mut self, identifier: &str) -> String {
        self.mint_token(identifier, "test", Utc::now())
    }

    /// Make every issued token expired (the next use answers 401).
    pub fn expire_tokens(&mut self) {
        let past = Utc::now() - TimeDelta::seconds(1);
        for t in self.tokens.values_mut() {
            t.expires_at = past;
        }
    }

    /// Forget rate-limit counters (a fresh window for everyone).
    pub fn reset_rate_limits(&mut self) {
        self.rate.clear();
    }

    fn mint_token(&mut self, identifier: &str, via: &'static str, now: DateTime<Utc>) -> String {
        self.token_counter += 1;
        let lifetime =
            TimeDelta::from_std(self.config.token_lifetime).unwrap_or(TimeDelta::seconds(600));
        let expires = now + lifetime;
        let jti = fake_uuid(&format!(
            "{identifier}|{}|{}",
            now.timestamp_nanos_opt().unwrap_or_default(),
            self.token_counter
        ));
        let uuid = fake_uuid(&format!("user:{identifier}"));
        let mut hub_claim = json!({
            "email": format!("{identifier}@fakehub.invalid"),
            "roles": [],
            "session_id": jti,
            "username": identifier,
            "uuid": uuid,
        });
        let mut claims = json!({
            "aud": "https://hub.docker.com",
            "exp": expires.timestamp(),
            "iat": now.timestamp(),
            "iss": "https://api.docker.com/",
            "jti": jti,
            "sub": uuid,
        });
        if let Some(acct) = self.account(identifier) {
            let kind = if acct.secret.starts_with("dckr_pat_") {
                Some("docker_pat")
            } else if acct.secret.starts_with("dckr_oat_") {
                Some("docker_oat")
            } else {
                None
            };
            if let Some(kind) = kind {
                hub_claim["source"] = json!(format!("{kind}|{}", fake_uuid(&acct.secret)));
                claims["scope"] = json!(if acct.can_delete {
                    "repo:admin"
                } else {
                    "repo:write"
                });
            }
        }
        claims["https://hub.docker.com"] = hub_claim;
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": "fakehub"});
        let sig = format!("{}{}", fake_digest(&jti), fake_digest(&uuid));
        let token = format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes()),
            b64url(sig.as_bytes())
        );
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                identifier: identifier.to_string(),
                issued_at: now,
                expires_at: expires,
                via,
            },
        );
        token
    }

    fn resolve_auth(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Auth {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Auth::Anonymous;
        };
        let value = value.to_str().unwrap_or("");
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("JWT "))
            .map(str::trim);
        match token.and_then(|t| self.tokens.get(t)) {
            Some(t) if now < t.expires_at && self.account(&t.identifier).is_some() => {
                Auth::Valid(t.identifier.clone())
            }
            _ => Auth::Invalid,
        }
    }

    fn rate_check(&mut self, ip: IpAddr) -> RateStatus {
        let now = Instant::now();
        let window = self.config.rate_window;
        let w = self.rate.entry(ip).or_insert_with(|| RateWindow {
            start: now,
            start_wall: Utc::now(),
            count: 0,
        });
        if now.duration_since(w.start) >= window {
            *w = RateWindow {
                start: now,
                start_wall: Utc::now(),
                count: 0,
            };
        }
        w.count += 1;
        let end_wall = w.start_wall + TimeDelta::from_std(window).unwrap_or(TimeDelta::seconds(60));
        let left = window.saturating_sub(now.duration_since(w.start));
        let reset = match self.config.reset_style {
            ResetStyle::UnixCeil => {
                end_wall.timestamp() + i64::from(end_wall.timestamp_subsec_nanos() > 0)
            }
            ResetStyle::UnixFloor => end_wall.timestamp(),
            ResetStyle::Delta => {
                i64::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0)).unwrap_or(0)
            }
        };
        let retry_after = if w.count > self.config.rate_limit {
            Some((left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1))
        } else {
            None
        };
        RateStatus {
            limit: self.config.rate_limit,
            remaining: self.config.rate_limit.saturating_sub(w.count),
            reset,
            retry_after,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Auth {
    Anonymous,
    Invalid,
    Valid(String),
}

impl Auth {
    fn identity(&self) -> Option<String> {
        match self {
            Auth::Valid(id) => Some(id.clone()),
            _ => None,
        }
    }
}

struct RateStatus {
    limit: u64,
    remaining: u64,
    reset: i64,
    retry_after: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------------------------

/// Builds the initial state, then [`FakeHubBuilder::start`]s the server.
pub struct FakeHubBuilder {
    state: HubState,
}

impl FakeHubBuilder {
    /// Add an account (see [`Account`]).
    pub fn account(mut self, identifier: &str, secret: &str, can_delete: bool) -> Self {
        self.state.add_account(identifier, secret, can_delete);
        self
    }

    /// Declare a namespace that has no repositories (so it lists as empty instead of 404).
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.state.namespaces.insert(namespace.to_string());
        self
    }

    /// Start describing a repository; finish with [`RepoBuilder::done`].
    pub fn repo(self, namespace: &str, name: &str) -> RepoBuilder {
        RepoBuilder {
            parent: self,
            repo: Repo::new(namespace, name),
        }
    }

    /// Change any [`HubConfig`] field.
    pub fn config(mut self, f: impl FnOnce(&mut HubConfig)) -> Self {
        f(&mut self.state.config);
        self
    }

    pub fn token_lifetime(self, lifetime: Duration) -> Self {
        self.config(|c| c.token_lifetime = lifetime)
    }

    /// `limit` requests per client IP per `window`.
    pub fn rate_limit(self, limit: u64, window: Duration) -> Self {
        self.config(|c| {
            c.rate_limit = limit;
            c.rate_window = window;
        })
    }

    /// How `X-RateLimit-Reset` is written (default [`ResetStyle::UnixCeil`]).
    pub fn reset_style(self, style: ResetStyle) -> Self {
        self.config(|c| c.reset_style = style)
    }

    pub fn latency(self, latency: Duration) -> Self {
        self.config(|c| c.latency = latency)
    }

    /// `false` → `POST /v2/auth/token` answers 404.
    pub fn auth_token_endpoint(self, enabled: bool) -> Self {
        self.config(|c| c.auth_token_endpoint = enabled)
    }

    /// The state without a server (for unit-testing fixtures).
    pub fn into_state(self) -> HubState {
        self.state
    }

    /// Bind `127.0.0.1:0` and serve on a background thread.
    pub fn start(self) -> FakeHub {
        FakeHub::serve(self.state)
    }
}

/// Describes one repository inside a [`FakeHubBuilder`].
pub struct RepoBuilder {
    parent: FakeHubBuilder,
    repo: Repo,
}

impl RepoBuilder {
    pub fn private(mut self, private: bool) -> Self {
        self.repo.private = private;
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.repo.description = text.to_string();
        self
    }

    pub fn pull_count(mut self, n: u64) -> Self {
        self.repo.pull_count = n;
        self
    }

    pub fn registered(mut self, t: DateTime<Utc>) -> Self {
        self.repo.date_registered = t;
        self
    }

    /// A single-platform `linux/amd64` tag ([`Tag::new`]).
    pub fn tag(self, name: &str, pushed: DateTime<Utc>) -> Self {
        self.tag_with(Tag::new(name, pushed))
    }

    /// A multi-platform tag ([`Tag::with_platforms`]), e.g.
    /// `&["linux/amd64", "linux/arm64/v8", "unknown/unknown", "unknown/unknown"]`.
    pub fn tag_platforms(self, name: &str, pushed: DateTime<Utc>, platforms: &[&str]) -> Self {
        self.tag_with(Tag::new(name, pushed).with_platforms(platforms))
    }

    /// A multi-platform tag plus one attestation manifest per platform (buildx default).
    pub fn tag_attested(self, name: &str, pushed: DateTime<Utc>, platforms: &[&str]) -> Self {
        self.tag_with(
            Tag::new(name, pushed)
                .with_platforms(platforms)
                .with_attestations(),
        )
    }

    /// Any hand-made tag.
    pub fn tag_with(mut self, tag: Tag) -> Self {
        self.repo.tags.retain(|t| t.name != tag.name);
        self.repo.tags.push(tag);
        self
    }

    /// `count` single-platform tags `{prefix}1 ..= {prefix}{count}`, tag `i` pushed at
    /// `first + (i-1) * step` (so the last one is the newest). For paging tests.
    pub fn numbered_tags(
        mut self,
        prefix: &str,
        count: usize,
        first: DateTime<Utc>,
        step: TimeDelta,
    ) -> Self {
        for i in 1..=count {
            let t = first + step * (i as i32 - 1);
            self = self.tag(&format!("{prefix}{i}"), t);
        }
        self
    }

    pub fn done(mut self) -> FakeHubBuilder {
        self.parent.state.add_repo(self.repo);
        self.parent
    }
}

// ---------------------------------------------------------------------------------------------
// Server handle
// ---------------------------------------------------------------------------------------------

type HookFn = Box<dyn FnMut(&mut HubState, &RequestInfo) + Send>;

struct Hook {
    method: Option<String>,
    path: Regex,
    once: bool,
    done: bool,
    f: HookFn,
}

struct Shared {
    state: Mutex<HubState>,
    hooks: Mutex<Vec<Hook>>,
    /// Connections (by client address) to reset instead of answering.
    doomed: Mutex<HashSet<SocketAddr>>,
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Changes a running fake Hub's state from anywhere (see [`FakeHub::handle`]).
#[derive(Clone)]
pub struct HubHandle(Arc<Shared>);

impl HubHandle {
    /// [`HubState::push_tag`] on the running Hub.
    pub fn push_tag(&self, namespace: &str, repo: &str, tag: Tag) {
        self.0.lock_state().push_tag(namespace, repo, tag);
    }
}

/// A running fake Hub. Dropping it stops the server.
///
/// ```ignore
/// let hub = FakeHub::builder()
///     .account("ci-bot", "dckr_pat_x", true)
///     .repo("linaro", "debian-source-base")
///     .tag("rocky-1", at(2026, 3, 1, 12))
///     .tag_platforms("rocky-2", at(2026, 3, 2, 12), &["linux/amd64", "linux/arm64/v8"])
///     .done()
///     .start();
/// // run the CLI against hub.url() ...
/// assert_eq!(hub.count("DELETE"), 1);
/// assert_eq!(hub.tag_names("linaro", "debian-source-base"), ["rocky-2"]);
/// ```
pub struct FakeHub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeHub {
    pub fn builder() -> FakeHubBuilder {
        FakeHubBuilder {
            state: HubState::new(),
        }
    }

    fn serve(state: HubState) -> FakeHub {
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            hooks: Mutex::new(Vec::new()),
            doomed: Mutex::new(HashSet::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app_state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fakehub-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fakehub runtime");
                rt.block_on(async move {
                    let listener = FakeListener {
                        inner: tokio::net::TcpListener::from_std(listener).expect("tokio listener"),
                        shared: Arc::clone(&app_state),
                    };
                    let app = Router::new().fallback(handle).with_state(app_state);
                    let server =
                        axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
                            .into_future();
                    tokio::select! {
                        _ = server => {}
                        _ = rx => {}
                    }
                });
                // Cancels in-flight connections instead of waiting for idle keep-alives.
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn fakehub thread");
        FakeHub {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `url() + path`, e.g. `hub.endpoint("/v2/auth/token")`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.url(), path)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Lock the state to read or change it. Release it before waiting on a request.
    pub fn state(&self) -> MutexGuard<'_, HubState> {
        self.shared.lock_state()
    }

    /// A handle on the state for another server's thread: the registry-API
    /// mirror (`support/hub_mirror.rs`) lists in the Hub what is pushed to
    /// the registry, as Docker Hub lists what is pushed to
    /// `registry-1.docker.io`.
    pub fn handle(&self) -> HubHandle {
        HubHandle(Arc::clone(&self.shared))
    }

    /// A copy of the request log, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().log.clone()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Number of logged requests with this method (any status).
    pub fn count(&self, method: &str) -> usize {
        self.state()
            .log
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method))
            .count()
    }

    /// Number of logged requests with this method (`"*"` = any) whose path matches `path_re`.
    pub fn count_matching(&self, method: &str, path_re: &str) -> usize {
        let re = Regex::new(path_re).expect("valid path regex");
        self.state()
            .log
            .iter()
            .filter(|r| method == "*" || r.method.eq_ignore_ascii_case(method))
            .filter(|r| re.is_match(&r.path))
            .count()
    }

    /// Tag names of a repository, sorted by name.
    pub fn tag_names(&self, namespace: &str, repo: &str) -> Vec<String> {
        self.state().tag_names(namespace, repo)
    }

    /// A valid token for `identifier` (no HTTP round trip).
    pub fn issue_token(&self, identifier: &str) -> String {
        self.state().issue_token(identifier)
    }

    /// Run `f` on the state whenever a request with `method` (`"*"` = any) and a path matching
    /// `path_re` arrives, before it is handled (so the response already reflects the change).
    pub fn on(
        &self,
        method: &str,
        path_re: &str,
        f: impl FnMut(&mut HubState, &RequestInfo) + Send + 'static,
    ) {
        self.add_hook(method, path_re, false, Box::new(f));
    }

    /// Like [`FakeHub::on`], but only for the first matching request.
    /// E.g. "on the first DELETE, push tag rocky-5":
    /// `hub.once("DELETE", "", |s, _| s.push_tag("linaro", "x", Tag::new("rocky-5", t)))`.
    pub fn once(
        &self,
        method: &str,
        path_re: &str,
        f: impl FnMut(&mut HubState, &RequestInfo) + Send + 'static,
    ) {
        self.add_hook(method, path_re, true, Box::new(f));
    }

    fn add_hook(&self, method: &str, path_re: &str, once: bool, f: HookFn) {
        let hook = Hook {
            method: (method != "*").then(|| method.to_ascii_uppercase()),
            path: Regex::new(path_re).expect("valid hook path regex"),
            once,
            done: false,
            f,
        };
        self.shared
            .hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    /// Install a [`Fault`].
    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// Answer `status` (default body for it) to the `n`-th request with `method` from now on.
    pub fn fail_nth(&self, method: &str, n: usize, status: u16) {
        self.inject(Fault::on(method).nth(n).status(status));
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections that can be reset
// ---------------------------------------------------------------------------------------------

/// The TCP listener, handing out connections a [`Fault::reset`] can kill.
struct FakeListener {
    inner: TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for FakeListener {
    type Io = FakeConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FakeConn, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = FakeConn {
                        stream,
                        peer,
                        shared: Arc::clone(&self.shared),
                    };
                    return (conn, peer);
                }
                // E.g. too many open files: back off a little, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The client's address, as handlers see it (`ConnectInfo<Peer>`).
#[derive(Clone, Copy, Debug)]
struct Peer(SocketAddr);

impl Connected<IncomingStream<'_, FakeListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, FakeListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// A served connection. When its client is marked doomed, the next write closes the socket
/// with `SO_LINGER 0` — the kernel sends an RST — and fails, so hyper drops the connection
/// without sending a byte of the answer.
struct FakeConn {
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeConn {
    fn doomed(&self) -> bool {
        let doomed = self
            .shared
            .doomed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.peer);
        if doomed {
            let _ = self.stream.set_zero_linger();
        }
        doomed
    }
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        // A doomed connection the client closed first: forget it, its port may be reused.
        self.shared
            .doomed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.peer);
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "fakehub: fault reset")
}

impl AsyncRead for FakeConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FakeConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.doomed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.doomed() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP handling
// ---------------------------------------------------------------------------------------------

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    content_type: Option<&'static str>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: Some("application/json"),
            body: body.into(),
        }
    }

    fn serialize(status: u16, value: &impl Serialize) -> Reply {
        Reply::json(status, serde_json::to_string(value).expect("serializable"))
    }

    fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: Some("text/html; charset=utf-8"),
            body,
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: None,
            body: String::new(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

fn error_reply(status: u16, message: &str) -> Reply {
    Reply::serialize(status, &json!({"message": message, "errinfo": {}}))
}

fn not_found() -> Reply {
    error_reply(404, "object not found")
}

fn value_error(field: &str, problem: &str, text: &str) -> Reply {
    Reply::serialize(400, &json!({"fields": {field: [problem]}, "text": text}))
}

fn html_not_found() -> Reply {
    Reply::html(
        404,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n".to_string(),
    )
}

fn method_not_allowed(method: &str, allow: &str) -> Reply {
    Reply::serialize(
        405,
        &json!({"detail": format!("Method \"{method}\" not allowed.")}),
    )
    .header("Allow", allow)
}

fn default_fault_body(status: u16, path: &str) -> Reply {
    match status {
        429 => Reply::json(429, BODY_429).header("Retry-After", "1"),
        500 => {
            let msg = match path
                .strip_prefix("/v2/repositories/")
                .map(|p| p.trim_end_matches('/'))
            {
                Some(rest) if rest.contains("/tags/") => format!(
                    "Delete \"https://registry.s.us-east-1.aws.dckr.io/api/internal/repos/{rest}\": http: non-successful response (status=401 body=\"\")"
                ),
                _ => "internal server error".to_string(),
            };
            error_reply(500, &msg)
        }
        s => error_reply(
            s,
            StatusCode::from_u16(s)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("error"),
        ),
    }
}

/// Everything about one request that routing needs.
struct Ctx<'a> {
    method: &'a str,
    path: &'a str,
    raw_query: &'a str,
    query: Vec<(String, String)>,
    host: String,
    link_origin: Option<String>,
    auth: Auth,
    body: &'a [u8],
}

impl Ctx<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn authed(&self) -> bool {
        matches!(self.auth, Auth::Valid(_))
    }

    /// Absolute URL of another page: scheme + `Host` + path, query keys sorted (as DRF's
    /// `replace_query_param` does and the spec example shows), `page` replaced.
    fn page_link(&self, page: usize) -> String {
        let mut pairs: Vec<(String, String)> = self
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .cloned()
            .collect();
        pairs.push(("page".to_string(), page.to_string()));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        match &self.link_origin {
            Some(origin) => format!("{}{}?{}", origin.trim_end_matches('/'), self.path, qs),
            None => format!("http://{}{}?{}", self.host, self.path, qs),
        }
    }
}

struct Paging {
    page: usize,
    page_size: usize,
}

impl Paging {
    fn offset(&self) -> usize {
        (self.page - 1).saturating_mul(self.page_size)
    }
}

fn parse_positive(ctx: &Ctx, key: &str, default: usize) -> Result<usize, Reply> {
    match ctx.param(key) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => Err(value_error(
                key,
                "Ensure this value is greater than or equal to 1.",
                &format!("Invalid {key} value"),
            )),
            Err(_) => Err(value_error(
                key,
                "A valid integer is required.",
                &format!("Invalid {key} value"),
            )),
        },
    }
}

fn parse_paging(ctx: &Ctx, cfg: &HubConfig) -> Result<Paging, Reply> {
    let page = parse_positive(ctx, "page", 1)?;
    let page_size = parse_positive(ctx, "page_size", cfg.default_page_size)?.min(cfg.max_page_size);
    let p = Paging { page, page_size };
    if let Some(cap) = cfg.anonymous_offset_cap {
        if !ctx.authed() && p.offset() >= cap {
            return Err(Reply::json(403, BODY_ANON_OFFSET_403));
        }
    }
    Ok(p)
}

#[derive(Serialize)]
struct PageBody<T> {
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<T>,
}

fn paginate<T: Serialize>(ctx: &Ctx, items: Vec<T>, p: &Paging) -> Reply {
    let count = items.len();
    let offset = p.offset();
    if p.page > 1 && offset >= count {
        return error_reply(404, "page not found");
    }
    let next = (offset.saturating_add(p.page_size) < count).then(|| ctx.page_link(p.page + 1));
    let previous = (p.page > 1).then(|| ctx.page_link(p.page - 1));
    let results: Vec<T> = items.into_iter().skip(offset).take(p.page_size).collect();
    Reply::serialize(
        200,
        &PageBody {
            count,
            next,
            previous,
            results,
        },
    )
}

// Wire shapes, fields in the order of the real bodies.

#[derive(Serialize)]
struct ImageBody<'a> {
    architecture: &'a str,
    features: &'a str,
    variant: Option<&'a str>,
    digest: &'a str,
    os: &'a str,
    os_features: &'a str,
    os_version: Option<&'a str>,
    size: u64,
    status: &'static str,
    last_pulled: Option<String>,
    last_pushed: Option<String>,
}

#[derive(Serialize)]
struct TagBody<'a> {
    creator: u64,
    id: u64,
    images: Vec<ImageBody<'a>>,
    last_updated: Option<String>,
    last_updater: u64,
    last_updater_username: &'a str,
    name: &'a str,
    repository: u64,
    full_size: u64,
    v2: bool,
    tag_status: &'static str,
    tag_last_pulled: Option<String>,
    tag_last_pushed: Option<String>,
    media_type: &'a str,
    content_type: &'a str,
    digest: Option<&'a str>,
}

#[derive(Serialize)]
struct Category {
    name: String,
    slug: String,
}

#[derive(Serialize)]
struct RepoEntry<'a> {
    name: &'a str,
    namespace: &'a str,
    repository_type: Option<&'static str>,
    status: u8,
    status_description: &'static str,
    description: &'a str,
    is_private: bool,
    star_count: u64,
    pull_count: u64,
    last_updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified: Option<Option<String>>,
    date_registered: String,
    affiliation: &'static str,
    media_types: Vec<&'a str>,
    content_types: Vec<&'a str>,
    categories: Vec<Category>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_size: Option<u64>,
}

/// "whether a tag has been pushed to or pulled in the past month" (spec `tag.status`).
fn activity(
    pushed: Option<DateTime<Utc>>,
    pulled: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> &'static str {
    let month_ago = now - TimeDelta::days(30);
    if pushed.max(pulled).is_some_and(|t| t >= month_ago) {
        "active"
    } else {
        "inactive"
    }
}

fn tag_body<'a>(repo: &'a Repo, tag: &'a Tag, now: DateTime<Utc>) -> TagBody<'a> {
    let pusher = tag.pusher.as_deref().unwrap_or(&repo.namespace);
    let user_id = fake_number(&format!("user:{pusher}"), 900_000, 12_000_000);
    let status = activity(tag.pushed, tag.last_pulled, now);
    TagBody {
        creator: user_id,
        id: tag.id,
        images: tag
            .images
            .iter()
            .map(|i| ImageBody {
                architecture: &i.architecture,
                features: "",
                variant: i.variant.as_deref(),
                digest: &i.digest,
                os: &i.os,
                os_features: "",
                os_version: i.os_version.as_deref(),
                size: i.size,
                status,
                last_pulled: tag.last_pulled.map(ts),
                last_pushed: tag.pushed.map(ts),
            })
            .collect(),
        last_updated: tag.pushed.map(ts),
        last_updater: user_id,
        last_updater_username: pusher,
        name: &tag.name,
        repository: repo.id,
        full_size: tag.full_size,
        v2: true,
        tag_status: status,
        tag_last_pulled: tag.last_pulled.map(ts),
        tag_last_pushed: tag.pushed.map(ts),
        media_type: &tag.media_type,
        content_type: &tag.content_type,
        digest: tag.digest.as_deref(),
    }
}

fn repo_entry(repo: &Repo, legacy: bool) -> RepoEntry<'_> {
    let mut media_types: Vec<&str> = repo.tags.iter().map(|t| t.media_type.as_str()).collect();
    media_types.sort_unstable();
    media_types.dedup();
    let mut content_types: Vec<&str> = repo.tags.iter().map(|t| t.content_type.as_str()).collect();
    content_types.sort_unstable();
    content_types.dedup();
    let last_updated = repo.last_updated().map(ts);
    let storage: u64 = repo
        .tags
        .iter()
        .flat_map(|t| t.images.iter().map(|i| (i.digest.as_str(), i.size)))
        .collect::<BTreeMap<_, _>>()
        .values()
        .sum();
    RepoEntry {
        name: &repo.name,
        namespace: &repo.namespace,
        repository_type: Some("image"),
        status: 1,
        status_description: "active",
        description: &repo.description,
        is_private: repo.private,
        star_count: repo.star_count,
        pull_count: repo.pull_count,
        last_updated: last_updated.clone(),
        last_modified: (!legacy).then_some(last_updated),
        date_registered: ts(repo.date_registered),
        affiliation: "",
        media_types,
        content_types,
        categories: Vec::new(),
        storage_size: (!legacy).then_some(storage),
    }
}

fn is_read(method: &str) -> bool {
    method == "GET" || method == "HEAD"
}

fn route(st: &mut HubState, ctx: &Ctx) -> Reply {
    let path = ctx.path;
    let method = ctx.method;

    // Authentication endpoints ignore the Authorization header.
    match path {
        "/v2/auth/token" => {
            if !st.config.auth_token_endpoint {
                return html_not_found();
            }
            if method != "POST" {
                return method_not_allowed(method, "POST, OPTIONS");
            }
            return auth_token(st, ctx);
        }
        "/v2/users/login" | "/v2/users/login/" => {
            if method != "POST" {
                return method_not_allowed(method, "POST, OPTIONS");
            }
            return users_login(st, ctx);
        }
        _ => {}
    }

    if ctx.auth == Auth::Invalid {
        return Reply::json(401, BODY_UNAUTHORIZED);
    }

    // Legacy (Django) routes: slashless → 301 to the slash form (notes §5).
    if let Some(rest) = path.strip_prefix("/v2/repositories/") {
        if !path.ends_with('/') {
            let mut location = format!("{path}/");
            if !ctx.raw_query.is_empty() {
                location = format!("{location}?{}", ctx.raw_query);
            }
            let body = format!(
                "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n<center><h1>301 Moved Permanently</h1></center>\r\n<p>The document has moved <a href=\"{location}\">here</a>.</p>\r\n</body>\r\n</html>\r\n"
            );
            return Reply::html(301, body).header("Location", location);
        }
        let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        return match segs.as_slice() {
            [ns] if !ns.is_empty() => {
                if !is_read(method) {
                    return method_not_allowed(method, "GET, HEAD, OPTIONS");
                }
                list_repos(st, ctx, ns, true)
            }
            [ns, repo, "tags"] => {
                if !is_read(method) {
                    return method_not_allowed(method, "GET, HEAD, OPTIONS");
                }
                list_tags(st, ctx, ns, repo)
            }
            [ns, repo, "tags", tag] => match method {
                "GET" | "HEAD" => get_tag(st, ctx, ns, repo, tag),
                "DELETE" => delete_tag(st, ctx, ns, repo, tag),
                _ => method_not_allowed(method, "GET, HEAD, DELETE, OPTIONS"),
            },
            _ => html_not_found(),
        };
    }

    if let Some(rest) = path.strip_prefix("/v2/namespaces/") {
        let segs: Vec<&str> = rest.split('/').collect();
        return match segs.as_slice() {
            [ns, "repositories"] if !ns.is_empty() => {
                if !is_read(method) {
                    return method_not_allowed(method, "GET, HEAD");
                }
                list_repos(st, ctx, ns, false)
            }
            [ns, "repositories", repo, "tags"] if !repo.is_empty() => {
                if !is_read(method) {
                    return method_not_allowed(method, "GET, HEAD");
                }
                list_tags(st, ctx, ns, repo)
            }
            [ns, "repositories", repo, "tags", tag] if !tag.is_empty() => {
                if !is_read(method) {
                    // The spec has no DELETE on /v2/namespaces/... tag paths (notes §5).
                    return method_not_allowed(method, "GET, HEAD");
                }
                get_tag(st, ctx, ns, repo, tag)
            }
            _ => html_not_found(),
        };
    }

    html_not_found()
}

fn body_json(ctx: &Ctx) -> Value {
    serde_json::from_slice(ctx.body).unwrap_or(Value::Null)
}

fn credentials_ok(st: &HubState, id: &str, secret: &str) -> bool {
    st.accounts
        .iter()
        .any(|a| a.identifier == id && a.secret == secret)
}

fn auth_token(st: &mut HubState, ctx: &Ctx) -> Reply {
    let body = body_json(ctx);
    let id = body.get("identifier").and_then(Value::as_str);
    let secret = body.get("secret").and_then(Value::as_str);
    let (Some(id), Some(secret)) = (id, secret) else {
        let field = if id.is_none() { "identifier" } else { "secret" };
        return value_error(field, "This field is required.", "Invalid request body");
    };
    if !credentials_ok(st, id, secret) {
        return Reply::json(401, BODY_UNAUTHORIZED);
    }
    let token = st.mint_token(id, "/v2/auth/token", Utc::now());
    Reply::serialize(200, &json!({ "access_token": token }))
}

fn users_login(st: &mut HubState, ctx: &Ctx) -> Reply {
    let body = body_json(ctx);
    let user = body.get("username").and_then(Value::as_str);
    let pass = body.get("password").and_then(Value::as_str);
    let (Some(user), Some(pass)) = (user, pass) else {
        let field = if user.is_none() {
            "username"
        } else {
            "password"
        };
        return value_error(field, "This field is required.", "Invalid request body");
    };
    if !credentials_ok(st, user, pass) {
        return Reply::json(401, BODY_LOGIN_401);
    }
    let token = st.mint_token(user, "/v2/users/login", Utc::now());
    let mut out = json!({ "token": token });
    if ctx.param("refresh_token") == Some("true") {
        out["refresh_token"] = json!(fake_digest(&token)[7..].to_string());
    }
    Reply::serialize(200, &out)
}

fn list_repos(st: &HubState, ctx: &Ctx, ns: &str, legacy: bool) -> Reply {
    let ordering = ctx.param("ordering");
    const ORDERINGS: [&str; 6] = [
        "name",
        "-name",
        "last_updated",
        "-last_updated",
        "pull_count",
        "-pull_count",
    ];
    if let Some(o) = ordering {
        if !ORDERINGS.contains(&o) {
            return value_error(
                "ordering",
                "Invalid ordering value. Must be one of: name, -name, last_updated, -last_updated, pull_count, -pull_count",
                "Invalid ordering value",
            );
        }
    }
    let paging = match parse_paging(ctx, &st.config) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !st.namespaces.contains(ns) {
        return not_found();
    }
    let name_filter = ctx.param("name");
    let mut repos: Vec<&Repo> = st
        .repos
        .values()
        .filter(|r| r.namespace == ns)
        .filter(|r| !r.private || ctx.authed())
        .filter(|r| name_filter.is_none_or(|f| r.name.contains(f)))
        .collect();
    repos.sort_by(|a, b| a.name.cmp(&b.name));
    match ordering.unwrap_or("last_updated") {
        "name" => {}
        "-name" => repos.reverse(),
        "pull_count" => repos.sort_by_key(|r| r.pull_count),
        "-pull_count" => repos.sort_by_key(|r| std::cmp::Reverse(r.pull_count)),
        // Same direction as tag lists (notes §2/§3): `last_updated` = newest first.
        "-last_updated" => repos.sort_by_key(|r| r.last_updated()),
        _ => repos.sort_by_key(|r| std::cmp::Reverse(r.last_updated())),
    }
    let entries: Vec<RepoEntry> = repos.into_iter().map(|r| repo_entry(r, legacy)).collect();
    paginate(ctx, entries, &paging)
}

fn visible_repo<'a>(st: &'a HubState, ctx: &Ctx, ns: &str, name: &str) -> Option<&'a Repo> {
    st.repo(ns, name).filter(|r| !r.private || ctx.authed())
}

fn list_tags(st: &HubState, ctx: &Ctx, ns: &str, repo: &str) -> Reply {
    let paging = match parse_paging(ctx, &st.config) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(r) = visible_repo(st, ctx, ns, repo) else {
        return not_found();
    };
    let name_filter = ctx.param("name");
    let mut tags: Vec<&Tag> = r
        .tags
        .iter()
        .filter(|t| name_filter.is_none_or(|f| t.name.contains(f)))
        .collect();
    // Newest push first (unpushed = oldest), ties by name.
    tags.sort_by(|a, b| b.pushed.cmp(&a.pushed).then_with(|| a.name.cmp(&b.name)));
    match ctx.param("ordering") {
        // Real direction (notes §3, caddyui #17): `-last_updated` is OLDEST first.
        Some("-last_updated") => tags.reverse(),
        Some("name") => tags.sort_by(|a, b| a.name.cmp(&b.name)),
        Some("-name") => tags.sort_by(|a, b| b.name.cmp(&a.name)),
        // default and `last_updated`: newest first; unknown values ignored.
        _ => {}
    }
    let now = Utc::now();
    let bodies: Vec<TagBody> = tags.into_iter().map(|t| tag_body(r, t, now)).collect();
    paginate(ctx, bodies, &paging)
}

fn get_tag(st: &HubState, ctx: &Ctx, ns: &str, repo: &str, tag: &str) -> Reply {
    let Some(r) = visible_repo(st, ctx, ns, repo) else {
        return not_found();
    };
    match r.tag(tag) {
        Some(t) => Reply::serialize(200, &tag_body(r, t, Utc::now())),
        None => not_found(),
    }
}

fn delete_tag(st: &mut HubState, ctx: &Ctx, ns: &str, repo: &str, tag: &str) -> Reply {
    let Auth::Valid(id) = &ctx.auth else {
        return Reply::json(401, BODY_UNAUTHORIZED);
    };
    if !st.account(id).is_some_and(|a| a.can_delete) {
        return Reply::json(403, BODY_DELETE_403);
    }
    if st.delete_tag(ns, repo, tag) {
        Reply::empty(204)
    } else {
        not_found()
    }
}

/// What to do with one request: answer `reply` after `delay`, or drop the connection.
struct Processed {
    reply: Reply,
    delay: Duration,
    reset: bool,
}

fn process(
    shared: &Shared,
    client: IpAddr,
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Processed {
    let now = Utc::now();
    // Lock order everywhere: state, then hooks (FakeHub::on takes only the hooks lock).
    let mut st = shared.lock_state();

    // 1. identity
    let auth = st.resolve_auth(headers, now);
    let info = RequestInfo {
        seq: st.log.len() + 1,
        method: method.to_string(),
        path: path.to_string(),
        query: raw_query.to_string(),
        identity: auth.identity(),
    };

    // 2. hooks
    {
        let mut hooks = shared.hooks.lock().unwrap_or_else(|e| e.into_inner());
        for h in hooks.iter_mut() {
            if h.done || h.method.as_deref().is_some_and(|m| m != method) || !h.path.is_match(path)
            {
                continue;
            }
            (h.f)(&mut st, &info);
            h.done = h.once;
        }
        hooks.retain(|h| !h.done);
    }

    let ctx = Ctx {
        method,
        path,
        raw_query,
        query: url::form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        host: headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| "127.0.0.1".to_string()),
        link_origin: st.config.link_origin.clone(),
        auth,
        body,
    };

    // 3. rate limit
    let rate = st.rate_check(client);
    let mut delay = st.config.latency;
    let mut reset = false;
    let mut reply = if let Some(secs) = rate.retry_after {
        Reply::json(429, BODY_429).header("Retry-After", secs.to_string())
    } else {
        // 4. faults
        // Every matching fault counts the request; the first one that fires answers.
        let mut fired: Option<Fault> = None;
        let key = format!("{method} {path}?{raw_query}");
        for f in st.faults.iter_mut() {
            if f.matches(method, path) && f.hit(&key) && fired.is_none() {
                fired = Some(f.clone());
            }
        }
        match fired {
            Some(f) if f.action == FaultAction::Reset => {
                reset = true;
                if f.apply_first {
                    let _ = route(&mut st, &ctx);
                }
                Reply::empty(0)
            }
            Some(f) if matches!(f.action, FaultAction::Delay(_)) => {
                if let FaultAction::Delay(by) = f.action {
                    delay += by;
                }
                route(&mut st, &ctx)
            }
            Some(f) => {
                if f.apply_first {
                    let _ = route(&mut st, &ctx);
                }
                let mut r = match &f.body {
                    Some(b) => Reply::json(f.status, b.clone()),
                    None => default_fault_body(f.status, path),
                };
                if !f.headers.is_empty() {
                    r.headers = f.headers.clone();
                }
                if let Some(secs) = f.x_retry_after {
                    r.headers
                        .retain(|(k, _)| !k.eq_ignore_ascii_case("retry-after"));
                    let at = Utc::now().timestamp() + i64::try_from(secs).unwrap_or(0);
                    r.headers.push(("X-Retry-After".into(), at.to_string()));
                }
                r
            }
            // 5. route
            None => route(&mut st, &ctx),
        }
    };
    reply
        .headers
        .push(("X-RateLimit-Limit".into(), rate.limit.to_string()));
    reply
        .headers
        .push(("X-RateLimit-Remaining".into(), rate.remaining.to_string()));
    reply
        .headers
        .push(("X-RateLimit-Reset".into(), rate.reset.to_string()));

    let seq = st.log.len() + 1;
    st.log.push(RequestRecord {
        seq,
        at: now,
        client,
        method: method.to_string(),
        path: path.to_string(),
        query: raw_query.to_string(),
        identity: ctx.auth.identity(),
        status: reply.status,
    });
    Processed {
        reply,
        delay,
        reset,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let Processed {
        reply,
        delay,
        reset,
    } = process(
        &shared,
        peer.ip(),
        &method,
        &path,
        &query,
        &parts.headers,
        &body,
    );
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if reset {
        // The connection's next write fails and closes it with an RST (see `FakeConn`); the
        // response below is never sent.
        shared
            .doomed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer);
    }
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    if let Some(ct) = reply.content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    for (k, v) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.append(name, value);
        }
    }
    resp
}
