//! Docker Hub's API (`hub.docker.com/v2`), as it really behaves.
//!
//! Facts this follows (see the Docker Hub notes shipped with the project's
//! reference material): log in with `POST /v2/auth/token` (`identifier`,
//! `secret`; tokens live 10 minutes), falling back to the deprecated
//! `POST /v2/users/login` only where the new route does not exist; list with
//! `page_size=100` (the maximum) and follow `next` until it is null, never
//! computing offsets ourselves; anonymous callers are refused past offset 1000,
//! so that 403 becomes an error telling the user to log in — never a silently
//! short listing; tag bodies omit or null many fields, so every field but the
//! name is optional; deleting a tag is
//! `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/` with the trailing slash,
//! 204 or 404 meaning gone.
//!
//! Reliability (retries, timeouts and rate limits are the HTTP layer's, see
//! [`super::http`]):
//!
//! * **Tokens** are renewed a minute before the JWT's `exp` claim (a tenth of
//!   the lifetime for short ones), or after 9 minutes when the token carries
//!   no readable `exp`. A 401 mid-run means the token was refused early: we
//!   log in again once and resend; if the token from that new login is
//!   refused too, the request fails with a clear error (never a loop of
//!   logins: Docker Hub locks an account out after too many).
//! * **Listings are offsets**: a tag pushed or deleted during a listing shifts
//!   the pages, so a tag can come twice (deduplicated by name) or not at all.
//!   A listing whose pages do not add up — the tags received differ from the
//!   announced `count`, the `count` changed between pages, or a later page
//!   vanished (404) — is read again from the start, up to
//!   [`RELIST_ATTEMPTS`] times, then fails: an audit never reports a build
//!   broken because a page shifted, and prune never acts on such a listing.
//! * **Secrets**: `next` links must stay on the API's origin (scheme, host
//!   and port), so the token never goes elsewhere; errors are scrubbed of the
//!   credentials and of every token issued, in case a server echoes them.
//!
//! **Platforms.** Since 2025-08-11 every tag's `images` is `[]` (digest and
//! `media_type` still there; docker/hub-feedback #2484, notes §11), so a tag
//! listed here has unknown platforms. [`Registry::manifest_platforms`]
//! reads them from the *registry API* (`registry-1.docker.io`, the OCI
//! distribution API, [`DEFAULT_REGISTRY_API_URL`]) with the OCI backend's
//! client and parser: a Bearer token from the `WWW-Authenticate` challenge
//! (`auth.docker.io`, scope `repository:<namespace>/<repo>:pull`, the same
//! credentials as the Hub API), then `GET /v2/<namespace>/<repo>/manifests/
//! <digest>` with every manifest type accepted. Each such GET counts against
//! Docker Hub's pull limit (notes §6); listings never make one.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::http::{Answer, HttpClient, Request};
use super::oci::client::Client as RegistryApiClient;
use super::paging::PageGuard;
use super::{
    DeleteOutcome, Registry, RegistryError, RegistryRepo, RepositoryList, Stats, TagQuery,
};
use crate::credentials::{Credentials, Source};
use crate::inventory::{intern_platforms, Tag};
use crate::platform::Platform;
use crate::secret::Secret;

/// Docker Hub's API address.
pub const DEFAULT_HUB_URL: &str = "https://hub.docker.com";

/// Docker Hub's registry API (the OCI distribution API), where manifests —
/// and so platforms — are read (notes §11).
pub const DEFAULT_REGISTRY_API_URL: &str = "https://registry-1.docker.io";

/// What to do when Docker Hub wants credentials we do not have.
const NEEDS_CREDENTIALS: &str = "this needs credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN, or pass --username with --password-stdin, or `docker login`";

/// What to do when the registry API's pull limit is reached (notes §6).
const PULL_LIMIT_HINT: &str = "Docker Hub's pull limit is reached: every manifest GET counts (100 per 6 hours anonymously, 200 for a personal account, more on paid plans); log in, or run again later (the platforms already read are kept in the cache, so the next run picks up where this one stopped)";

/// Largest page Docker Hub serves.
const PAGE_SIZE: u32 = 100;

/// `/v2/auth/token` tokens live 10 minutes; without a readable `exp`, renew
/// after 9 (as Harbor does).
const TOKEN_FALLBACK_LIFETIME: Duration = Duration::from_secs(9 * 60);

/// Renew a token this long before its `exp` (at most a tenth of its lifetime).
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// How often a listing is read in all when its pages do not add up.
pub const RELIST_ATTEMPTS: usize = 3;

/// Most pages one listing may take (a million tags); a `next` chain longer
/// than this, or one that loops, is a server bug we refuse to follow forever.
const MAX_PAGES: usize = 10_000;

/// The Docker Hub backend.
pub struct DockerHub {
    http: HttpClient,
    base: Url,
    namespace: String,
    credentials: Option<Credentials>,
    token: tokio::sync::Mutex<Option<AccessToken>>,
    /// Every token issued this run, to scrub from errors.
    issued: std::sync::Mutex<Vec<Secret>>,
    /// The registry API, for manifests (platforms); `None`: platforms stay
    /// unknown.
    registry_api: Option<RegistryApiClient>,
}

/// The current access token and when to renew it.
struct AccessToken {
    secret: Secret,
    renew_at: Instant,
    /// Obtained because the previous token was refused (401): if this one is
    /// refused too, we do not log in again.
    after_refusal: bool,
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default = "Option::default")]
    results: Option<Vec<T>>,
}

#[derive(Deserialize)]
struct HubRepository {
    name: String,
    #[serde(default)]
    is_private: Option<bool>,
}

#[derive(Deserialize)]
struct HubTag {
    name: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag_last_pushed: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    images: Option<Vec<HubImage>>,
}

#[derive(Deserialize)]
struct HubImage {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
}

/// The media type of a Docker schema 1 manifest (retired 2019–2021).
const SCHEMA1_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

impl From<HubTag> for Tag {
    fn from(t: HubTag) -> Tag {
        let pushed = t
            .tag_last_pushed
            .as_deref()
            .and_then(parse_time)
            .or_else(|| t.last_updated.as_deref().and_then(parse_time));
        let schema1 = t
            .media_type
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(SCHEMA1_MEDIA_TYPE));
        let platforms = t
            .images
            .as_deref()
            .and_then(|images| hub_platforms(images, schema1))
            .map(intern_platforms);
        Tag {
            name: t.name.into(),
            digest: t.digest.filter(|d| !d.is_empty()),
            pushed,
            created: None,
            platforms,
        }
    }
}

/// The platforms a tag's `images[]` states, or `None` when it does not state
/// them all (docker/hub-feedback #2484, #2344; notes §11):
/// * `images: []` — every tag since 2025-08 — states nothing;
/// * schema-1-era tags carry `"os": ""`: schema 1 images are Linux images, so
///   an empty `os` there is `linux`, not another operating system;
/// * elsewhere an entry without `os` or `architecture` cannot be read, and a
///   platform it might be is not known absent: the whole set is unknown.
///
/// Attestation entries (`unknown/unknown`) are not platforms and are skipped.
fn hub_platforms(images: &[HubImage], schema1: bool) -> Option<Vec<Platform>> {
    if images.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for image in images {
        let arch = image.architecture.as_deref().unwrap_or("").trim();
        let os = match image.os.as_deref().unwrap_or("").trim() {
            "" if schema1 => "linux",
            os => os,
        };
        let attestation =
            os.eq_ignore_ascii_case("unknown") || arch.eq_ignore_ascii_case("unknown");
        if attestation {
            continue;
        }
        list.push(Platform::from_parts(os, arch, image.variant.as_deref())?);
    }
    Some(list)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What reading every page of a listing gave.
enum Listing<T> {
    /// The first page was a 404: no such repository (or namespace).
    Missing,
    /// The pages did not add up (see the module documentation); `why` says how.
    Shifted { why: String },
    /// Every item, deduplicated by name, with the announced `count`.
    Items(Vec<T>),
}

/// What reading one page gave.
enum PageRead<T> {
    Page(Page<T>),
    /// The first page is a 404: no such repository.
    Missing,
    /// A later page is a 404: the listing shifted.
    Vanished(String),
}

/// The URLs of pages 2..=N when they can be known from the first page: the
/// server honoured the `page_size` we asked for (a full first page), says
/// how many items there are, and its `next` is our first URL with `page=2`.
fn numbered_pages<T>(first: &Url, next: &Url, page: &Page<T>) -> Option<Vec<Url>> {
    let asked: usize = query(first, "page_size")?.parse().ok()?;
    let got = page.results.as_ref().map_or(0, Vec::len);
    let count = usize::try_from(page.count?).ok()?;
    if asked == 0 || got != asked || query(next, "page")? != "2" {
        return None;
    }
    let mut expected = first.clone();
    set_query(&mut expected, "page", "2");
    if !same_query(&expected, next) {
        return None;
    }
    let pages = count.div_ceil(asked);
    if !(2..=MAX_PAGES).contains(&pages) {
        return None;
    }
    Some(
        (2..=pages)
            .map(|n| {
                let mut u = next.clone();
                set_query(&mut u, "page", &n.to_string());
                u
            })
            .collect(),
    )
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn set_query(url: &mut Url, key: &str, value: &str) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut q = url.query_pairs_mut();
    q.clear();
    for (k, v) in &pairs {
        q.append_pair(k, v);
    }
    q.append_pair(key, value);
}

/// Same path and the same query parameters, in any order.
fn same_query(a: &Url, b: &Url) -> bool {
    let sorted = |u: &Url| {
        let mut v: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        v.sort();
        v
    };
    a.path() == b.path() && sorted(a) == sorted(b)
}

/// The `exp` claim (unix seconds) of a JWT, read without checking anything.
/// The payload is base64url (RFC 7515; padding tolerated).
pub fn jwt_expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = crate::credentials::base64_decode(payload)?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    exp.as_u64().or_else(|| {
        exp.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// When to renew a token obtained at `now`: before its `exp` when it has one
/// in the future, else after [`TOKEN_FALLBACK_LIFETIME`].
fn renew_at(token: &str, now: Instant) -> Instant {
    let unix_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let left = jwt_expiry(token)
        .map(|exp| exp as f64 - unix_now)
        .filter(|left| *left > 0.0)
        .map(Duration::from_secs_f64);
    match left {
        Some(left) => super::token::renew_at(now, left, TOKEN_RENEW_MARGIN),
        // No claim, or one already past on our clock (a skewed clock): the
        // documented lifetime; a 401 still gets one fresh login.
        None => now + TOKEN_FALLBACK_LIFETIME,
    }
}

impl DockerHub {
    pub fn new(
        http: HttpClient,
        base: Url,
        namespace: &str,
        credentials: Option<Credentials>,
    ) -> Self {
        DockerHub {
            http,
            base,
            namespace: namespace.to_string(),
            credentials,
            token: tokio::sync::Mutex::new(None),
            issued: std::sync::Mutex::new(Vec::new()),
            registry_api: None,
        }
    }

    /// Reads manifests (for [`Registry::manifest_platforms`]) from the
    /// registry API at `url` (default [`DEFAULT_REGISTRY_API_URL`]), through
    /// `http` (its own pacing: the registry's limits are not the Hub API's),
    /// logged in with `credentials` — Docker Hub's, as for the Hub API — or
    /// anonymously. Nothing is sent until a manifest is asked for.
    pub fn with_registry_api(
        mut self,
        http: HttpClient,
        url: Url,
        credentials: Option<(Credentials, Source)>,
    ) -> Self {
        self.registry_api = Some(
            RegistryApiClient::new(http, url, credentials)
                .with_credentials_hint(NEEDS_CREDENTIALS.to_string()),
        );
        self
    }

    fn url(&self, segments: &[&str], trailing_slash: bool) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("http(s) URLs have paths");
            path.pop_if_empty();
            path.extend(segments);
            if trailing_slash {
                path.push("");
            }
        }
        url
    }

    fn anonymous(&self) -> bool {
        self.credentials.is_none()
    }

    /// `e` without the credentials or any token issued this run in it.
    fn redact(&self, e: RegistryError) -> RegistryError {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let mut secrets: Vec<&str> = issued.iter().map(Secret::expose).collect();
        if let Some(creds) = &self.credentials {
            secrets.push(creds.secret.expose());
        }
        e.redact(&secrets)
    }

    /// The access token, logging in (again) when there is none or it is due
    /// for renewal.
    async fn token(&self) -> Result<Option<Secret>, RegistryError> {
        let Some(creds) = &self.credentials else {
            return Ok(None);
        };
        let mut slot = self.token.lock().await;
        if let Some(current) = slot.as_ref() {
            if Instant::now() < current.renew_at {
                return Ok(Some(current.secret.clone()));
            }
            self.http
                .notes()
                .info(|| "the access token is about to expire; logging in again".into());
        }
        let token = self.login(creds).await?;
        *slot = Some(AccessToken {
            renew_at: renew_at(token.expose(), Instant::now()),
            secret: token.clone(),
            after_refusal: false,
        });
        Ok(Some(token))
    }

    /// After `stale` got a 401: the token to retry with, logging in again if
    /// nobody did yet; `None` when `stale` itself came from such a second
    /// login (then the 401 stands).
    async fn token_after_refusal(&self, stale: &Secret) -> Result<Option<Secret>, RegistryError> {
        let Some(creds) = &self.credentials else {
            return Ok(None);
        };
        let mut slot = self.token.lock().await;
        match slot.as_ref() {
            // Another request already replaced it.
            Some(current) if &current.secret != stale => return Ok(Some(current.secret.clone())),
            Some(current) if current.after_refusal => return Ok(None),
            _ => {}
        }
        self.http
            .notes()
            .info(|| "Docker Hub refused the access token (401); logging in again".into());
        let token = self.login(creds).await?;
        *slot = Some(AccessToken {
            renew_at: renew_at(token.expose(), Instant::now()),
            secret: token.clone(),
            after_refusal: true,
        });
        Ok(Some(token))
    }

    async fn login(&self, creds: &Credentials) -> Result<Secret, RegistryError> {
        #[derive(Deserialize)]
        struct TokenBody {
            access_token: Option<String>,
            token: Option<String>,
        }
        let attempts = [
            (
                self.url(&["v2", "auth", "token"], false),
                serde_json::json!({"identifier": creds.username, "secret": creds.secret.expose()}),
            ),
            (
                self.url(&["v2", "users", "login"], false),
                serde_json::json!({"username": creds.username, "password": creds.secret.expose()}),
            ),
        ];
        let fail = |url: &Url, detail: String| RegistryError::Login {
            url: url.to_string(),
            username: creds.username.clone(),
            detail,
        };
        for (i, (url, body)) in attempts.iter().enumerate() {
            let req = Request::new(Method::POST, url.clone()).json(body);
            let answer = self.http.send(&req).await.map_err(|e| self.redact(e))?;
            let route_missing = matches!(answer.status.as_u16(), 404 | 405 | 410 | 501);
            if route_missing && i == 0 {
                continue; // an older Hub: fall back to /v2/users/login
            }
            if !answer.status.is_success() {
                let message = super::error::error_message(&answer.body).unwrap_or_default();
                let hint = if message.contains("secondary authentication") {
                    "this account has two-factor authentication: use a personal access token instead of the password".to_string()
                } else if answer.status.is_server_error() {
                    format!(
                        "Docker Hub failed {} times in a row; it may be having an incident (https://www.dockerstatus.com): try again later",
                        answer.attempts
                    )
                } else if answer.status == StatusCode::TOO_MANY_REQUESTS {
                    "Docker Hub limits logins: wait a few minutes (after too many, it locks the account for 10 minutes)".to_string()
                } else {
                    "check DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (a username with its personal access token or password, or an organisation name with an organisation access token)".to_string()
                };
                return Err(self.redact(fail(
                    url,
                    format!("{} {message}\n  hint: {hint}", answer.status),
                )));
            }
            // The body holds the token: an unreadable one is never quoted.
            let body: TokenBody = serde_json::from_slice(&answer.body)
                .map_err(|e| answer.undecodable(&e.to_string(), false))?;
            let token = body
                .access_token
                .or(body.token)
                .filter(|t| !t.is_empty())
                .map(Secret::new)
                .ok_or_else(|| fail(url, "the answer holds no token".into()))?;
            self.issued
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(token.clone());
            return Ok(token);
        }
        Err(fail(&attempts[1].0, "no login route answered".into()))
    }

    /// Sends with the current token; on a 401, logs in again once (see the
    /// module documentation).
    async fn send(&self, method: Method, url: Url) -> Result<Answer, RegistryError> {
        let token = self.token().await?;
        let request = |bearer| Request::new(method.clone(), url.clone()).bearer(bearer);
        let answer = self.http.send(&request(token.as_ref())).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            if let Some(stale) = &token {
                if let Some(fresh) = self.token_after_refusal(stale).await? {
                    return self.http.send(&request(Some(&fresh))).await;
                }
            }
        }
        Ok(answer)
    }

    /// Reads every page from `first`; deduplicates items by `key` and checks
    /// that the pages add up (see [`Listing`]).
    ///
    /// Once the first page shows that the server honoured `page_size` and
    /// numbers its pages (`next` is the same URL with `page=2`), the remaining
    /// pages are known from `count` and fetched concurrently: a repository of
    /// 5,000 tags costs a few round trips, not fifty. Otherwise `next` is
    /// followed page by page.
    async fn paged<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        key: impl Fn(&T) -> &str,
    ) -> Result<Listing<T>, RegistryError> {
        let mut url = first.clone();
        let mut items: Vec<T> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        let mut received = 0u64;
        let mut counts: Vec<u64> = Vec::new();
        let mut guard = PageGuard::new(MAX_PAGES);
        let mut absorb = |page: Page<T>, items: &mut Vec<T>| {
            for item in page.results.unwrap_or_default() {
                received += 1;
                if names.insert(key(&item).to_string()) {
                    items.push(item);
                }
            }
            counts.extend(page.count);
        };
        loop {
            if !guard.may_read(&url) {
                return Err(RegistryError::Refused(format!(
                    "{url}: the `next` links of this listing loop or never end ({} pages); refusing to go on",
                    guard.pages()
                )));
            }
            guard.read(&url);
            let page = match self.page::<T>(&url, guard.pages()).await? {
                PageRead::Page(page) => page,
                PageRead::Missing => return Ok(Listing::Missing),
                PageRead::Vanished(why) => return Ok(Listing::Shifted { why }),
            };
            let next = page.next.clone().filter(|n| !n.is_empty());
            let planned = if guard.pages() == 1 {
                next.as_deref()
                    .and_then(|n| self.same_origin(n, &url).ok())
                    .and_then(|n| numbered_pages(&first, &n, &page))
            } else {
                None
            };
            absorb(page, &mut items);
            if let Some(rest) = planned {
                let pages = rest.len().max(1);
                let reads: Vec<_> = futures::stream::iter(rest.into_iter().enumerate())
                    .map(|(i, u)| async move { self.page::<T>(&u, i + 2).await })
                    .buffered(pages)
                    .collect()
                    .await;
                let mut last_next = None;
                for read in reads {
                    match read? {
                        PageRead::Page(page) => {
                            last_next = page.next.clone().filter(|n| !n.is_empty());
                            absorb(page, &mut items);
                        }
                        PageRead::Missing | PageRead::Vanished(_) => {
                            return Ok(Listing::Shifted {
                                why: "a page vanished (404)".to_string(),
                            })
                        }
                    }
                }
                if last_next.is_some() {
                    return Ok(Listing::Shifted {
                        why: "the last page announced another".to_string(),
                    });
                }
                break;
            }
            match next {
                None => break,
                Some(next) => url = self.same_origin(&next, &url)?,
            }
        }
        let dupes = received - items.len() as u64;
        let why = match counts.first() {
            Some(first) if counts.iter().any(|c| c != first) => Some(format!(
                "the count changed from {first} to {} between pages",
                counts.last().copied().unwrap_or_default()
            )),
            Some(count) if *count != items.len() as u64 => Some(format!(
                "Docker Hub counted {count} but the pages held {}{}",
                items.len(),
                if dupes > 0 {
                    format!(" ({dupes} seen twice)")
                } else {
                    String::new()
                }
            )),
            _ => None,
        };
        Ok(match why {
            Some(why) => Listing::Shifted { why },
            None => Listing::Items(items),
        })
    }

    /// One page of a listing; `number` is its place (1 = first).
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        number: usize,
    ) -> Result<PageRead<T>, RegistryError> {
        let answer = self.send(Method::GET, url.clone()).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(if number == 1 {
                PageRead::Missing
            } else {
                // Tags deleted meanwhile: the page we were sent to is gone.
                PageRead::Vanished(format!("page {number} vanished (404)"))
            });
        }
        if !answer.status.is_success() {
            return Err(self.explain(&answer));
        }
        Ok(PageRead::Page(answer.json()?))
    }

    /// [`DockerHub::paged`] again while the pages do not add up, at most
    /// [`RELIST_ATTEMPTS`] times; `Ok(None)` for a 404. `what` names the listing.
    async fn list_consistent<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        what: &str,
        key: impl Fn(&T) -> &str + Copy,
    ) -> Result<Option<Vec<T>>, RegistryError> {
        let mut last_why = String::new();
        for attempt in 1..=RELIST_ATTEMPTS {
            match self.paged::<T>(first.clone(), key).await? {
                Listing::Missing => return Ok(None),
                Listing::Items(items) => return Ok(Some(items)),
                Listing::Shifted { why } => {
                    if attempt < RELIST_ATTEMPTS {
                        let wait = self.http.backoff(attempt as u32);
                        // Said even without -v: it costs requests and time.
                        self.http.notes().warn(|| {
                            format!(
                                "{what}: the listing changed while we read it ({why}); reading it again in {:.1}s",
                                wait.as_secs_f64()
                            )
                        });
                        tokio::time::sleep(wait).await;
                    }
                    last_why = why;
                }
            }
        }
        Err(RegistryError::Refused(format!(
            "{what}: the listing kept changing while we read it ({last_why}; {RELIST_ATTEMPTS} attempts); run again when pushes have finished"
        )))
    }

    /// After an incremental listing shifted under us: the full listing,
    /// which reads again until its pages add up.
    async fn list_all_after_shift(
        &self,
        repo: &str,
        why: &str,
        query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        self.http.notes().warn(|| {
            format!(
                "{}/{repo}: the listing changed while we read it ({why}); listing every tag",
                self.namespace
            )
        });
        Registry::list_tags(self, repo, query).await
    }

    /// `…/repositories/{repo}/tags?page_size=N`.
    fn tags_url(&self, repo: &str, page_size: u32) -> Url {
        let mut url = self.url(
            &[
                "v2",
                "namespaces",
                &self.namespace,
                "repositories",
                repo,
                "tags",
            ],
            false,
        );
        url.query_pairs_mut()
            .append_pair("page_size", &page_size.to_string());
        url
    }

    /// A `next` link must stay on the API's origin: our token never goes elsewhere.
    fn same_origin(&self, next: &str, current: &Url) -> Result<Url, RegistryError> {
        super::paging::same_origin(&self.base, current, next, "the `next` link")
    }

    /// Turns an error answer into an error that says what to do.
    fn explain(&self, answer: &Answer) -> RegistryError {
        let message = super::error::error_message(&answer.body).unwrap_or_default();
        let status = answer.status.as_u16();
        let hint = match status {
            403 if message.contains("pagination offset") || self.anonymous() && message.contains("sign in") => Some(
                "Docker Hub stops anonymous listings at 1,000 results: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (any account works)".to_string(),
            ),
            403 if message.contains("personal access token") => Some(
                "Docker Hub refused a token issued from a personal access token for this request (its message is above, verbatim); check the token's permissions (Read for audit, Read, Write, Delete for prune) or log in with the password".to_string(),
            ),
            403 if message.contains("insufficient scope") => Some(
                "the access token lacks a permission this request needs: audit needs Read; prune needs a personal access token with Read, Write, Delete".to_string(),
            ),
            403 if answer.method == Method::DELETE => Some(
                "deleting tags needs a personal access token with the Delete permission (Read, Write, Delete); organisation access tokens may not delete".to_string(),
            ),
            401 if self.anonymous() => Some("this needs credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN".to_string()),
            401 => Some("Docker Hub refused our token even after logging in again; check the credentials and the token's permissions".to_string()),
            300..=399 => Some(format!(
                "the server redirects to {}; tagsweep follows no redirect (a token must not travel, a DELETE must not turn into a GET): check --hub-url",
                answer.location().unwrap_or("(no Location)")
            )),
            500..=599 if answer.attempts > 1 => Some(format!(
                "Docker Hub failed {} times in a row; it may be having an incident (https://www.dockerstatus.com): try again later",
                answer.attempts
            )),
            _ => None,
        };
        self.redact(answer.error(hint))
    }
}

impl DockerHub {
    /// Turns an error answer of the registry API into an error that says
    /// what to do (credentials and tokens scrubbed).
    fn explain_registry(&self, answer: &Answer, name: &str) -> RegistryError {
        let hint = match answer.status.as_u16() {
            401 | 403 if self.anonymous() => Some(format!(
                "Docker Hub's registry refused anonymous access to {name} (a private repository?): set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"
            )),
            401 | 403 => Some(format!(
                "Docker Hub's registry refused {} access to {name}: check that the account and its token may pull it (Read permission)",
                self.credentials.as_ref().map_or("", |c| c.username.as_str())
            )),
            429 => Some(PULL_LIMIT_HINT.to_string()),
            300..=399 => Some(format!(
                "the registry redirects to {}; tagsweep follows no redirect for manifests: check --registry-api-url",
                answer.location().unwrap_or("(no Location)")
            )),
            _ => None,
        };
        self.redact(answer.error(hint))
    }
}

#[async_trait]
impl super::Registry for DockerHub {
    fn name(&self) -> String {
        "docker.io".to_string()
    }

    /// Docker Hub's listing names every repository this caller may see.
    async fn list_repositories(&self) -> Result<RepositoryList, RegistryError> {
        let mut url = self.url(
            &["v2", "namespaces", &self.namespace, "repositories"],
            false,
        );
        url.query_pairs_mut()
            .append_pair("page_size", &PAGE_SIZE.to_string());
        let what = format!("{} (repositories)", self.namespace);
        let listed = self
            .list_consistent::<HubRepository>(url.clone(), &what, |r| &r.name)
            .await
            .map_err(|e| self.redact(e))?;
        let Some(repos) = listed else {
            return Err(RegistryError::Status {
                method: "GET".into(),
                url: url.to_string(),
                status: 404,
                message: Some(format!("namespace {:?} not found", self.namespace)),
                hint: Some("check `namespace:` in the manifest".into()),
            });
        };
        Ok(RepositoryList {
            repositories: repos
                .into_iter()
                .map(|r| RegistryRepo {
                    name: r.name,
                    private: r.is_private,
                })
                .collect(),
            complete: true,
        })
    }

    /// Every tag with its details: the listing carries them all, whatever
    /// `query` wants.
    async fn list_tags(
        &self,
        repo: &str,
        _query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        let url = self.tags_url(repo, PAGE_SIZE);
        let what = format!("{}/{repo}", self.namespace);
        let listed = self
            .list_consistent::<HubTag>(url, &what, |t| &t.name)
            .await
            .map_err(|e| self.redact(e))?;
        Ok(listed.map(|tags| tags.into_iter().map(Tag::from).collect()))
    }

    /// Newest first (`ordering=last_updated`), stopping after the first page
    /// that reaches past `since`. The order is checked as the pages come: a
    /// server that does not honour it gets a full listing instead — and so
    /// does a listing that shifts under us (its `count` changes between
    /// pages, or a later page vanishes): the full listing checks itself.
    async fn list_tags_since(
        &self,
        repo: &str,
        since: DateTime<Utc>,
        query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        let mut url = self.tags_url(repo, PAGE_SIZE);
        url.query_pairs_mut()
            .append_pair("ordering", "last_updated");
        let mut tags: Vec<Tag> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut previous: Option<DateTime<Utc>> = None;
        let mut pages = 0usize;
        let mut first_count: Option<u64> = None;
        loop {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(RegistryError::Refused(format!(
                    "{url}: more than {MAX_PAGES} pages; refusing to go on"
                )));
            }
            let answer = self
                .send(Method::GET, url.clone())
                .await
                .map_err(|e| self.redact(e))?;
            if answer.status == StatusCode::NOT_FOUND && pages == 1 {
                return Ok(None);
            }
            if answer.status == StatusCode::NOT_FOUND {
                let why = format!("page {pages} vanished (404)");
                return self.list_all_after_shift(repo, &why, query).await;
            }
            if !answer.status.is_success() {
                return Err(self.explain(&answer));
            }
            let page: Page<HubTag> = answer.json()?;
            if let Some(count) = page.count {
                let first = *first_count.get_or_insert(count);
                if first != count {
                    let why = format!("the count changed from {first} to {count} between pages");
                    return self.list_all_after_shift(repo, &why, query).await;
                }
            }
            for tag in page.results.unwrap_or_default().into_iter().map(Tag::from) {
                let in_order = match (previous, tag.pushed) {
                    (_, None) => false,
                    (Some(before), Some(now)) => now <= before,
                    (None, Some(_)) => true,
                };
                if !in_order {
                    self.http.notes().info(|| {
                        format!(
                            "{}/{repo}: not listed newest first; listing every tag",
                            self.namespace
                        )
                    });
                    return self.list_tags(repo, query).await;
                }
                previous = tag.pushed;
                if seen.insert(tag.name.to_string()) {
                    tags.push(tag);
                }
            }
            if previous.is_some_and(|oldest| oldest < since) {
                return Ok(Some(tags));
            }
            match page.next.filter(|n| !n.is_empty()) {
                None => return Ok(Some(tags)),
                Some(next) => url = self.same_origin(&next, &url)?,
            }
        }
    }

    /// One request: `page_size=1` and read `count`.
    async fn tag_count(&self, repo: &str) -> Result<Option<u64>, RegistryError> {
        let url = self.tags_url(repo, 1);
        let answer = self
            .send(Method::GET, url)
            .await
            .map_err(|e| self.redact(e))?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(self.explain(&answer));
        }
        Ok(answer.json::<Page<HubTag>>()?.count)
    }

    /// One request per page of [`PAGE_SIZE`] tags (`page_size=100`, the
    /// largest page the Hub serves).
    fn listing_cost(&self, tag_count: u64) -> u64 {
        tag_count.div_ceil(u64::from(PAGE_SIZE)).max(1)
    }

    async fn get_tag(&self, repo: &str, tag: &str) -> Result<Option<Tag>, RegistryError> {
        let url = self.url(
            &[
                "v2",
                "namespaces",
                &self.namespace,
                "repositories",
                repo,
                "tags",
                tag,
            ],
            false,
        );
        let answer = self
            .send(Method::GET, url)
            .await
            .map_err(|e| self.redact(e))?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(answer.json::<HubTag>()?.into())),
            _ => Err(self.explain(&answer)),
        }
    }

    /// Only for an account: Docker Hub refuses anonymous deletes.
    fn can_delete(&self) -> Result<(), String> {
        if self.anonymous() {
            return Err("deleting tags on Docker Hub needs credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (a personal access token with the Read, Write, Delete permission), or `docker login`".into());
        }
        Ok(())
    }

    /// 204 (or any 2xx) is `Deleted`; 404 is `AlreadyGone` — also when a
    /// retry follows a DELETE whose answer was lost (a reset, a 502 after the
    /// backend applied it).
    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<DeleteOutcome, RegistryError> {
        let url = self.url(
            &["v2", "repositories", &self.namespace, repo, "tags", tag],
            true,
        );
        let answer = self
            .send(Method::DELETE, url)
            .await
            .map_err(|e| self.redact(e))?;
        match answer.status.as_u16() {
            200..=299 => Ok(DeleteOutcome::Deleted),
            404 => Ok(DeleteOutcome::AlreadyGone),
            _ => Err(self.explain(&answer)),
        }
    }

    /// From the registry API (see the module documentation); `Ok(None)`
    /// without one.
    async fn manifest_platforms(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Vec<Platform>>, RegistryError> {
        let Some(client) = &self.registry_api else {
            return Ok(None);
        };
        let name = format!("{}/{repo}", self.namespace);
        super::oci::read_platforms(client, &name, reference, |a| {
            self.explain_registry(a, &name)
        })
        .await
        .map_err(|e| {
            self.redact(match e {
                // Still limited after the HTTP layer's waits.
                RegistryError::Status {
                    method,
                    url,
                    status: 429,
                    message,
                    hint: _,
                } => RegistryError::Status {
                    method,
                    url,
                    status: 429,
                    message,
                    hint: Some(PULL_LIMIT_HINT.to_string()),
                },
                other => other,
            })
        })
    }

    /// Hub API and registry API requests together.
    fn stats(&self) -> Stats {
        let hub = self.http.stats();
        let Some(api) = &self.registry_api else {
            return hub;
        };
        let registry = api.stats();
        Stats {
            requests: hub.requests + registry.requests,
            retries: hub.retries + registry.retries,
            rate_limited: hub.rate_limited + registry.rate_limited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_tag_bodies_decode() {
        // Verbatim Docker Hub body (rancher/k3s, multi-arch): images[] is an array,
        // variant is null, the top-level digest is the index's.
        let body = r#"{"creator":11292096,"id":516991909,"images":[{"architecture":"amd64","features":"","variant":null,"digest":"sha256:5d97","os":"linux","os_features":"","os_version":null,"size":77338322,"status":"active","last_pulled":"2023-09-27T18:25:01.56539Z","last_pushed":"2023-09-21T02:33:00.168796Z"},{"architecture":"arm64","features":"","variant":null,"digest":"sha256:6a42","os":"linux","os_features":"","os_version":null,"size":70783833,"status":"active","last_pulled":null,"last_pushed":null},{"architecture":"unknown","os":"unknown","variant":null}],"last_updated":"2023-09-21T02:55:46.86982Z","last_updater":11292096,"last_updater_username":"ks3serviceaccount","name":"v1.25.14-k3s1","repository":6586245,"full_size":77338322,"v2":true,"tag_status":"active","tag_last_pulled":"2023-09-27T18:25:01.56539Z","tag_last_pushed":"2023-09-21T02:55:46.86982Z","media_type":"application/vnd.docker.distribution.manifest.list.v2+json","content_type":"image","digest":"sha256:5f7b"}"#;
        let tag: Tag = serde_json::from_str::<HubTag>(body).unwrap().into();
        assert_eq!(tag.name, "v1.25.14-k3s1");
        assert_eq!(tag.digest.as_deref(), Some("sha256:5f7b"));
        assert_eq!(
            tag.pushed,
            Some("2023-09-21T02:55:46.86982Z".parse().unwrap())
        );
        let platforms: Vec<String> = tag
            .platforms
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    }

    #[test]
    fn sparse_tag_bodies_decode() {
        let tag: Tag = serde_json::from_str::<HubTag>(r#"{"name":"rocky-1","digest":null,"images":[],"tag_last_pushed":null,"last_updated":"2026-11-20T10:00:00Z"}"#)
            .unwrap()
            .into();
        assert_eq!(tag.digest, None);
        assert_eq!(tag.platforms, None, "no images listed: platforms unknown");
        assert_eq!(tag.pushed, Some("2026-11-20T10:00:00Z".parse().unwrap()));
        let page: Page<HubTag> =
            serde_json::from_str(r#"{"count":0,"next":null,"previous":null,"results":null}"#)
                .unwrap();
        assert!(page.results.is_none());
    }

    #[test]
    fn schema1_tags_are_linux_and_their_times_unknown() {
        // The shape docker/hub-feedback #2344 reports for schema-1-era tags.
        let body = r#"{"creator":1,"id":2,"images":[{"architecture":"amd64","features":null,"variant":null,"digest":null,"os":"","os_features":null,"os_version":null,"size":1234,"status":"active","last_pulled":null,"last_pushed":null}],"last_updated":null,"name":"rocky-1","tag_status":"active","tag_last_pulled":null,"tag_last_pushed":null,"media_type":"application/vnd.docker.distribution.manifest.v1+prettyjws","content_type":"image","digest":"sha256:aa"}"#;
        let tag: Tag = serde_json::from_str::<HubTag>(body).unwrap().into();
        let platforms: Vec<String> = tag
            .platforms
            .as_deref()
            .expect("schema 1 states its platform")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(platforms, ["linux/amd64"]);
        assert_eq!((tag.pushed, tag.created), (None, None));
    }

    #[test]
    fn an_unreadable_image_entry_makes_the_platforms_unknown() {
        // Outside schema 1 an empty os is not read as any operating system.
        let body = r#"{"name":"rocky-1","images":[{"architecture":"amd64","os":"linux"},{"architecture":"arm64","os":""}],"media_type":"application/vnd.oci.image.index.v1+json"}"#;
        let tag: Tag = serde_json::from_str::<HubTag>(body).unwrap().into();
        assert_eq!(tag.platforms, None);
        // Attestations alone are skipped, not unreadable.
        let body = r#"{"name":"rocky-1","images":[{"architecture":"amd64","os":"linux"},{"architecture":"unknown","os":"unknown"}]}"#;
        let tag: Tag = serde_json::from_str::<HubTag>(body).unwrap().into();
        assert_eq!(tag.platforms.as_deref().map(<[_]>::len), Some(1));
    }

    #[test]
    fn urls_escape_names_and_keep_the_trailing_slash_for_deletes() {
        let http = HttpClient::new(Default::default()).unwrap();
        let hub = DockerHub::new(
            http,
            Url::parse("http://127.0.0.1:9/").unwrap(),
            "linaro",
            None,
        );
        assert_eq!(
            hub.url(
                &["v2", "repositories", "linaro", "base", "tags", "rocky-1"],
                true
            )
            .as_str(),
            "http://127.0.0.1:9/v2/repositories/linaro/base/tags/rocky-1/"
        );
        assert_eq!(
            hub.url(&["v2", "x", "a b/c"], false).as_str(),
            "http://127.0.0.1:9/v2/x/a%20b%2Fc"
        );
    }

    fn jwt(claims: &str) -> String {
        // base64url without padding, as JWTs carry it.
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in claims.as_bytes().chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        format!("eyJhbGciOiJSUzI1NiJ9.{out}.c2ln")
    }

    #[test]
    fn the_exp_claim_is_read_by_hand() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000,"sub":"x"}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000.5}"#)),
            Some(1_700_000_000)
        );
        // Every length modulo 3, and "~" which encodes to '-'/'_' characters.
        for pad in ["", "~", "~~"] {
            let t = jwt(&format!(r#"{{"a":"{pad}???>>>","exp":42}}"#));
            assert_eq!(jwt_expiry(&t), Some(42), "{t}");
        }
        assert_eq!(jwt_expiry(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":"soon"}"#)), None);
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(jwt_expiry(""), None);
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let now = Instant::now();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ten_minutes = jwt(&format!(r#"{{"exp":{}}}"#, unix + 600));
        let at = renew_at(&ten_minutes, now) - now;
        assert!(
            at > Duration::from_secs(535) && at <= Duration::from_secs(540),
            "{at:?}"
        );
        // A short-lived token is renewed a tenth of its life early, not a minute.
        let short = jwt(&format!(r#"{{"exp":{}}}"#, unix + 30));
        let at = renew_at(&short, now) - now;
        assert!(
            at > Duration::from_secs(25) && at <= Duration::from_secs(27),
            "{at:?}"
        );
        // No claim, or an expired one (a skewed clock): 9 minutes.
        assert_eq!(renew_at("opaque", now) - now, TOKEN_FALLBACK_LIFETIME);
        let past = jwt(&format!(r#"{{"exp":{}}}"#, unix - 5));
        assert_eq!(renew_at(&past, now) - now, TOKEN_FALLBACK_LIFETIME);
    }

    fn page_of(n: usize, count: u64) -> Page<HubTag> {
        let results = (0..n)
            .map(|i| HubTag {
                name: format!("t{i}"),
                digest: None,
                tag_last_pushed: None,
                last_updated: None,
                media_type: None,
                images: None,
            })
            .collect();
        Page {
            count: Some(count),
            next: None,
            results: Some(results),
        }
    }

    #[test]
    fn remaining_pages_are_planned_only_when_the_server_numbers_them() {
        let first =
            Url::parse("http://127.0.0.1:9/v2/namespaces/l/repositories/r/tags?page_size=100")
                .unwrap();
        let next = Url::parse(
            "http://127.0.0.1:9/v2/namespaces/l/repositories/r/tags?page=2&page_size=100",
        )
        .unwrap();
        let urls = numbered_pages(&first, &next, &page_of(100, 250)).unwrap();
        let pages: Vec<String> = urls.iter().map(|u| query(u, "page").unwrap()).collect();
        assert_eq!(pages, ["2", "3"]);
        assert!(urls
            .iter()
            .all(|u| query(u, "page_size").as_deref() == Some("100")));
        // page_size not honoured (a short first page): follow `next`.
        assert!(numbered_pages(&first, &next, &page_of(25, 250)).is_none());
        // A `next` that is not our URL with page=2 (a cursor, another path).
        let cursor = Url::parse(
            "http://127.0.0.1:9/v2/namespaces/l/repositories/r/tags?cursor=abc&page_size=100",
        )
        .unwrap();
        assert!(numbered_pages(&first, &cursor, &page_of(100, 250)).is_none());
        let elsewhere = Url::parse("http://127.0.0.1:9/v2/other?page=2&page_size=100").unwrap();
        assert!(numbered_pages(&first, &elsewhere, &page_of(100, 250)).is_none());
        // No count: follow `next`.
        let mut no_count = page_of(100, 250);
        no_count.count = None;
        assert!(numbered_pages(&first, &next, &no_count).is_none());
    }

    #[test]
    fn next_links_must_stay_on_the_api_origin() {
        let http = HttpClient::new(Default::default()).unwrap();
        let hub = DockerHub::new(
            http,
            Url::parse("http://127.0.0.1:9").unwrap(),
            "linaro",
            None,
        );
        let cur = Url::parse("http://127.0.0.1:9/v2/namespaces/linaro/repositories?page_size=100")
            .unwrap();
        assert!(hub
            .same_origin(
                "http://127.0.0.1:9/v2/namespaces/linaro/repositories?page=2",
                &cur
            )
            .is_ok());
        assert!(hub
            .same_origin("/v2/namespaces/linaro/repositories?page=2", &cur)
            .is_ok());
        let err = hub
            .same_origin("http://evil.example:9/v2/x?page=2", &cur)
            .unwrap_err();
        assert!(err.to_string().contains("refusing to follow"), "{err}");
        assert!(
            hub.same_origin("https://127.0.0.1:9/v2/x", &cur).is_err(),
            "scheme change"
        );
    }
}
