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

use std::collections::HashSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::http::{Answer, HttpClient, Request};
use super::{DeleteOutcome, RegistryError, RegistryRepo, Stats};
use crate::credentials::Credentials;
use crate::inventory::Tag;
use crate::platform::Platform;
use crate::secret::Secret;

/// Docker Hub's API address.
pub const DEFAULT_HUB_URL: &str = "https://hub.docker.com";

/// Largest page Docker Hub serves.
const PAGE_SIZE: u32 = 100;

/// `/v2/auth/token` tokens live 10 minutes; renew a minute early.
const TOKEN_LIFETIME: Duration = Duration::from_secs(9 * 60);

/// How often a repository is listed again when the pages did not add up.
const RELIST_ATTEMPTS: usize = 3;

/// The Docker Hub backend.
pub struct DockerHub {
    http: HttpClient,
    base: Url,
    namespace: String,
    credentials: Option<Credentials>,
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
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

impl From<HubTag> for Tag {
    fn from(t: HubTag) -> Tag {
        let pushed = t
            .tag_last_pushed
            .as_deref()
            .and_then(parse_time)
            .or_else(|| t.last_updated.as_deref().and_then(parse_time));
        let platforms = t.images.filter(|images| !images.is_empty()).map(|images| {
            let mut list: Vec<Platform> = images
                .iter()
                .filter_map(|i| {
                    Platform::from_parts(
                        i.os.as_deref()?,
                        i.architecture.as_deref()?,
                        i.variant.as_deref(),
                    )
                })
                .collect();
            list.sort();
            list.dedup();
            list
        });
        Tag {
            name: t.name,
            digest: t.digest.filter(|d| !d.is_empty()),
            pushed,
            platforms,
        }
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
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
        }
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

    /// The access token, logging in (again) when there is none or it is old.
    async fn token(&self) -> Result<Option<Secret>, RegistryError> {
        let Some(creds) = &self.credentials else {
            return Ok(None);
        };
        let mut slot = self.token.lock().await;
        if let Some((token, at)) = slot.as_ref() {
            if at.elapsed() < TOKEN_LIFETIME {
                return Ok(Some(token.clone()));
            }
        }
        let token = self.login(creds).await?;
        *slot = Some((token.clone(), Instant::now()));
        Ok(Some(token))
    }

    async fn forget_token(&self, stale: &Secret) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|(t, _)| t == stale) {
            *slot = None;
        }
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
            let req = Request {
                method: Method::POST,
                url: url.clone(),
                bearer: None,
                json: Some(body),
                accept: Some("application/json"),
            };
            let answer = self.http.send(&req).await?;
            let route_missing = matches!(answer.status.as_u16(), 404 | 405 | 410 | 501);
            if route_missing && i == 0 {
                continue; // an older Hub: fall back to /v2/users/login
            }
            if !answer.status.is_success() {
                let message = super::error::error_message(&answer.body).unwrap_or_default();
                let hint = if message.contains("secondary authentication") {
                    "this account has two-factor authentication: use a personal access token instead of the password"
                } else {
                    "check DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (a username with its personal access token or password, or an organisation name with an organisation access token)"
                };
                return Err(fail(
                    url,
                    format!("{} {message}\n  hint: {hint}", answer.status),
                ));
            }
            let body: TokenBody = answer.json()?;
            return body
                .access_token
                .or(body.token)
                .filter(|t| !t.is_empty())
                .map(Secret::new)
                .ok_or_else(|| fail(url, "the answer holds no token".into()));
        }
        Err(fail(&attempts[1].0, "no login route answered".into()))
    }

    /// Sends with the current token; on a 401, logs in again once.
    async fn send(&self, method: Method, url: Url) -> Result<Answer, RegistryError> {
        let token = self.token().await?;
        let request = |bearer| Request {
            method: method.clone(),
            bearer,
            ..Request::get(url.clone())
        };
        let answer = self.http.send(&request(token.as_ref())).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            if let Some(stale) = &token {
                self.forget_token(stale).await;
                let fresh = self.token().await?;
                return self.http.send(&request(fresh.as_ref())).await;
            }
        }
        Ok(answer)
    }

    /// Follows `next` from `first` to the end. `Ok(None)` when the first page is a 404.
    async fn paged<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
    ) -> Result<Option<(Vec<T>, Option<u64>)>, RegistryError> {
        let mut url = first;
        let mut items = Vec::new();
        let mut count = None;
        let mut pages = 0usize;
        loop {
            let answer = self.send(Method::GET, url.clone()).await?;
            if answer.status == StatusCode::NOT_FOUND && pages == 0 {
                return Ok(None);
            }
            if !answer.status.is_success() {
                return Err(self.explain(&answer));
            }
            let page: Page<T> = answer.json()?;
            pages += 1;
            items.extend(page.results.unwrap_or_default());
            count = page.count.or(count);
            match page.next.filter(|n| !n.is_empty()) {
                None => return Ok(Some((items, count))),
                Some(next) => url = self.same_origin(&next, &url)?,
            }
        }
    }

    /// A `next` link must stay on the API's origin: our token never goes elsewhere.
    fn same_origin(&self, next: &str, current: &Url) -> Result<Url, RegistryError> {
        let url = current.join(next).map_err(|e| {
            RegistryError::Refused(format!(
                "{current}: the `next` link {next:?} is not a URL ({e})"
            ))
        })?;
        if url.origin() != self.base.origin() {
            return Err(RegistryError::Refused(format!(
                "{current}: the `next` link points to {}, not to {}; refusing to follow it (it would receive our credentials)",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    /// Turns an error answer into an error that says what to do.
    fn explain(&self, answer: &Answer) -> RegistryError {
        let message = super::error::error_message(&answer.body).unwrap_or_default();
        let hint = match answer.status.as_u16() {
            403 if message.contains("pagination offset") || self.anonymous() && message.contains("sign in") => Some(
                "Docker Hub stops anonymous listings at 1,000 results: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (any account works)".to_string(),
            ),
            403 if message.contains("personal access token") => Some(
                "Docker Hub refused a token issued from a personal access token for this request; check the token's permissions (Read for audit, Read, Write, Delete for prune) or log in with the password".to_string(),
            ),
            403 if answer.method == Method::DELETE => Some(
                "deleting tags needs a personal access token with the Delete permission (Read, Write, Delete); organisation access tokens may not delete".to_string(),
            ),
            401 if self.anonymous() => Some("this needs credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN".to_string()),
            401 => Some("Docker Hub refused our token even after logging in again; check the credentials".to_string()),
            _ => None,
        };
        answer.error(hint)
    }
}

#[async_trait]
impl super::Registry for DockerHub {
    fn name(&self) -> String {
        "docker.io".to_string()
    }

    async fn list_repositories(&self) -> Result<Vec<RegistryRepo>, RegistryError> {
        let mut url = self.url(
            &["v2", "namespaces", &self.namespace, "repositories"],
            false,
        );
        url.query_pairs_mut()
            .append_pair("page_size", &PAGE_SIZE.to_string());
        let Some((repos, _)) = self.paged::<HubRepository>(url.clone()).await? else {
            return Err(RegistryError::Status {
                method: "GET".into(),
                url: url.to_string(),
                status: 404,
                message: Some(format!("namespace {:?} not found", self.namespace)),
                hint: Some("check `namespace:` in the manifest".into()),
            });
        };
        let mut seen = HashSet::new();
        Ok(repos
            .into_iter()
            .filter(|r| seen.insert(r.name.clone()))
            .map(|r| RegistryRepo {
                name: r.name,
                private: r.is_private,
            })
            .collect())
    }

    async fn list_tags(&self, repo: &str) -> Result<Option<Vec<Tag>>, RegistryError> {
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
            .append_pair("page_size", &PAGE_SIZE.to_string());
        let mut last = None;
        for attempt in 1..=RELIST_ATTEMPTS {
            let Some((raw, count)) = self.paged::<HubTag>(url.clone()).await? else {
                return Ok(None);
            };
            // Pages are offsets: a push during the listing shifts them, so a
            // tag can come twice (dedupe) or not at all (count disagrees).
            let mut seen = HashSet::new();
            let tags: Vec<Tag> = raw
                .into_iter()
                .filter(|t| seen.insert(t.name.clone()))
                .map(Tag::from)
                .collect();
            if count.is_none_or(|c| c == tags.len() as u64) {
                return Ok(Some(tags));
            }
            if self.http.verbose() || attempt == RELIST_ATTEMPTS {
                eprintln!(
                    "tagsweep: {}/{repo}: Docker Hub counted {} tags but the pages held {}; listing again",
                    self.namespace,
                    count.unwrap_or(0),
                    tags.len()
                );
            }
            last = Some((tags, count));
        }
        let (tags, count) = last.expect("at least one attempt");
        Err(RegistryError::Refused(format!(
            "{}/{repo}: the tag listing kept changing while we read it ({} tags counted, {} received, {RELIST_ATTEMPTS} attempts); run again when pushes have finished",
            self.namespace,
            count.unwrap_or(0),
            tags.len()
        )))
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
        let answer = self.send(Method::GET, url).await?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(answer.json::<HubTag>()?.into())),
            _ => Err(self.explain(&answer)),
        }
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<DeleteOutcome, RegistryError> {
        let url = self.url(
            &["v2", "repositories", &self.namespace, repo, "tags", tag],
            true,
        );
        let answer = self.send(Method::DELETE, url).await?;
        match answer.status.as_u16() {
            200..=299 => Ok(DeleteOutcome::Deleted),
            404 => Ok(DeleteOutcome::AlreadyGone),
            _ => Err(self.explain(&answer)),
        }
    }

    fn stats(&self) -> Stats {
        self.http.stats()
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
