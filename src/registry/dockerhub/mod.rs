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
//! This file is the backend itself (the [`super::Registry`] methods, error
//! hints); logging in and the token are in `auth.rs`, reading listings whole
//! in `listing.rs`, Docker Hub's answers as they come in `types.rs`.
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
//!   credentials and of every token issued, in case a server echoes them
//!   (the run's [`crate::secret::Redactor`], shared with the registry API's
//!   client when `open` builds both).
//!
//! **Platforms.** Since 2025-08-11 every tag's `images` is `[]` (digest and
//! `media_type` still there; docker/hub-feedback #2484, notes §11), so a tag
//! listed here has unknown platforms. [`super::Registry::manifest_platforms`]
//! reads them from the *registry API* (`registry-1.docker.io`, the OCI
//! distribution API, [`DEFAULT_REGISTRY_API_URL`]) with the OCI backend's
//! client and parser: a Bearer token from the `WWW-Authenticate` challenge
//! (`auth.docker.io`, scope `repository:<namespace>/<repo>:pull`, the same
//! credentials as the Hub API), then `GET /v2/<namespace>/<repo>/manifests/
//! <digest>` with every manifest type accepted. Each such GET counts against
//! Docker Hub's pull limit (notes §6); listings never make one.

mod auth;
mod listing;
mod types;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use url::Url;

use self::auth::AccessToken;
use self::listing::PAGE_SIZE;
use self::types::{HubRepository, HubTag, Page};
use super::http::{Answer, HttpClient};
use super::oci::client::Client as RegistryApiClient;
use super::{
    DeleteOutcome, ManifestBytes, NewestTags, RegistryError, RegistryRepo, RepositoryList, Stats,
    TagQuery,
};
use crate::credentials::{Credentials, Source};
use crate::inventory::Tag;
use crate::platform::Platform;

pub use self::auth::jwt_expiry;
pub use self::listing::RELIST_ATTEMPTS;

/// Docker Hub's API address.
pub const DEFAULT_HUB_URL: &str = "https://hub.docker.com";

/// Docker Hub's registry API (the OCI distribution API), where manifests —
/// and so platforms — are read (notes §11).
pub const DEFAULT_REGISTRY_API_URL: &str = "https://registry-1.docker.io";

/// What to do when Docker Hub wants credentials we do not have.
const NEEDS_CREDENTIALS: &str = "this needs credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN, or pass --username with --password-stdin, or `docker login`";

/// What to do when the registry API's pull limit is reached (notes §6).
const PULL_LIMIT_HINT: &str = "Docker Hub's pull limit is reached: every manifest GET counts (100 per 6 hours anonymously, 200 for a personal account, more on paid plans); log in, or run again later (the platforms already read are kept in the cache, so the next run picks up where this one stopped)";

/// The Docker Hub backend.
pub struct DockerHub {
    http: HttpClient,
    base: Url,
    namespace: String,
    credentials: Option<Credentials>,
    /// Where the credentials came from, for the hint of a failed login.
    source: Option<Source>,
    token: tokio::sync::Mutex<Option<AccessToken>>,
    /// The registry API, for manifests (platforms); `None`: platforms stay
    /// unknown.
    registry_api: Option<RegistryApiClient>,
}

impl DockerHub {
    pub fn new(
        http: HttpClient,
        base: Url,
        namespace: &str,
        credentials: Option<Credentials>,
    ) -> Self {
        if let Some(c) = &credentials {
            http.redactor().add_credentials(&c.username, &c.secret);
        }
        DockerHub {
            http,
            base,
            namespace: namespace.to_string(),
            credentials,
            source: None,
            token: tokio::sync::Mutex::new(None),
            registry_api: None,
        }
    }

    /// Says where the credentials came from (flags, environment, Docker's
    /// config, a helper), so that a failed login names what to check.
    pub fn credentials_from(mut self, source: Option<Source>) -> Self {
        self.source = source;
        self
    }

    /// Reads manifests (for [`super::Registry::manifest_platforms`]) from the
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
        e.redact(self.http.redactor())
    }

    /// Turns an error answer into an error that says which repository was
    /// refused what, and what to do; a refusal that running again cannot
    /// change (a permission the token lacks, notes §1, §8.3) says so.
    fn explain(&self, answer: &Answer) -> RegistryError {
        let message = super::error::error_message(&answer.body).unwrap_or_default();
        let status = answer.status.as_u16();
        let repo = hub_repository(&answer.url).unwrap_or_else(|| self.namespace.clone());
        let user = self
            .credentials
            .as_ref()
            .map_or("anonymous access", |c| c.username.as_str());
        let same = "running again with the same token will not help";
        let hint = match status {
            403 if message.contains("pagination offset") || self.anonymous() && message.contains("sign in") => Some(
                "Docker Hub stops anonymous listings at 1,000 results: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (any account works)".to_string(),
            ),
            403 if message.contains("personal access token") => Some(format!(
                "Docker Hub refused a token issued from a personal access token for this request on {repo} (its message is above, verbatim); check the token's permissions (Read for audit, Read, Write, Delete for prune) or log in with the password; {same}"
            )),
            403 if message.contains("insufficient scope") => Some(format!(
                "{user}'s access token lacks a permission this request on {repo} needs: audit needs Read; prune needs a personal access token with Read, Write, Delete; {same}"
            )),
            403 if answer.method == Method::DELETE => Some(format!(
                "{user} may not delete tags of {repo} on Docker Hub: deleting needs a personal access token with the Delete permission (Read, Write, Delete); organisation access tokens may not delete; {same}"
            )),
            401 if self.anonymous() => Some("this needs credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN".to_string()),
            401 => Some(format!(
                "Docker Hub refused our token even after logging in again ({user}, on {repo}); check the credentials and the token's permissions; {same}"
            )),
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
    /// The registry API client, or why there is none.
    fn registry_client(&self) -> Result<&RegistryApiClient, RegistryError> {
        self.registry_api.as_ref().ok_or_else(|| {
            RegistryError::Refused(
                "Docker Hub's registry API is not configured (--registry-api-url)".into(),
            )
        })
    }

    /// Turns an error answer of the registry API into an error that says
    /// what to do (credentials and tokens scrubbed).
    fn explain_registry(&self, answer: &Answer, name: &str) -> RegistryError {
        let hint = match answer.status.as_u16() {
            401 | 403 if answer.method == Method::PUT && self.anonymous() => Some(format!(
                "pushing a manifest to {name} needs credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (a personal access token with the Read & Write permission)"
            )),
            401 | 403 if answer.method == Method::PUT => Some(format!(
                "Docker Hub's registry refused {} push access to {name}: pushing a manifest needs a personal access token with the Read & Write permission",
                self.credentials.as_ref().map_or("", |c| c.username.as_str())
            )),
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

/// The repository (`namespace/name`) a Hub API URL is about:
/// `/v2/repositories/{ns}/{repo}/…` or `/v2/namespaces/{ns}/repositories/{repo}/…`.
fn hub_repository(url: &Url) -> Option<String> {
    let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let at = segments.iter().position(|s| *s == "repositories")?;
    let (namespace, name) = match segments[..at] {
        [.., "namespaces", ns] => (ns, *segments.get(at + 1)?),
        _ => (*segments.get(at + 1)?, *segments.get(at + 2)?),
    };
    Some(format!("{namespace}/{name}"))
}

impl DockerHub {
    /// The namespace's repositories (`GET /v2/namespaces/{namespace}/repositories`,
    /// every page, checked as [`DockerHub::list_consistent`] says), telling
    /// `seen` of each as its page is read.
    async fn repositories(
        &self,
        seen: listing::Seen<'_, HubRepository>,
    ) -> Result<RepositoryList, RegistryError> {
        let mut url = self.url(
            &["v2", "namespaces", &self.namespace, "repositories"],
            false,
        );
        url.query_pairs_mut()
            .append_pair("page_size", &PAGE_SIZE.to_string());
        let what = format!("{} (repositories)", self.namespace);
        let listed = self
            .list_consistent::<HubRepository>(url.clone(), &what, |r| &r.name, seen)
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
            repositories: repos.iter().map(RegistryRepo::from).collect(),
            complete: true,
        })
    }
}

#[async_trait]
impl super::Registry for DockerHub {
    fn name(&self) -> String {
        "docker.io".to_string()
    }

    /// Docker Hub's listing names every repository this caller may see.
    async fn list_repositories(&self) -> Result<RepositoryList, RegistryError> {
        self.repositories(None).await
    }

    /// Each page's repositories are told as the page is read: with 250
    /// repositories (3 pages), tags are listed from the first page on.
    async fn list_repositories_streamed(
        &self,
        seen: &(dyn for<'r> Fn(&'r RegistryRepo) + Send + Sync),
    ) -> Result<RepositoryList, RegistryError> {
        self.repositories(Some(&|r: &HubRepository| seen(&r.into())))
            .await
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
            .list_consistent::<HubTag>(url, &what, |t| &t.name, None)
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
        let newest = self
            .tags_newest(repo, PAGE_SIZE, Some(since), query)
            .await?;
        Ok(newest.map(|n| n.tags))
    }

    /// Tags carry their push times, and `ordering=last_updated` lists them
    /// newest first.
    fn lists_newest_first(&self) -> bool {
        true
    }

    /// `ordering=last_updated`, `page_size` a page, the order checked as
    /// the pages come (see [`DockerHub::tags_newest`]).
    async fn newest_tags(
        &self,
        repo: &str,
        page_size: u32,
        until: Option<DateTime<Utc>>,
        query: &TagQuery<'_>,
    ) -> Result<Option<NewestTags>, RegistryError> {
        self.tags_newest(repo, page_size.clamp(1, PAGE_SIZE), until, query)
            .await
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

    /// One request per page of 100 tags (`page_size=100`, the
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

    /// From the registry API (`registry-1.docker.io`, scope
    /// `repository:<namespace>/<repo>:pull`); each GET counts against the
    /// pull limit (notes §6, §11).
    async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestBytes>, RegistryError> {
        let client = self.registry_client()?;
        let name = format!("{}/{repo}", self.namespace);
        super::oci::fetch_manifest(client, &name, reference, |a| {
            self.explain_registry(a, &name)
        })
        .await
        .map(|found| found.map(super::oci::Fetched::into_bytes))
        .map_err(|e| self.redact(e))
    }

    /// On the registry API, by HEAD (no pull counted).
    async fn has_manifest(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        let client = self.registry_client()?;
        let name = format!("{}/{repo}", self.namespace);
        super::oci::exists::manifest_exists(client, &name, digest, |a| {
            self.explain_registry(a, &name)
        })
        .await
        .map_err(|e| self.redact(e))
    }

    /// On the registry API (`PUT /v2/<namespace>/<repo>/manifests/<tag>`,
    /// a token for `repository:<namespace>/<repo>:pull,push` from
    /// `auth.docker.io`, the same credentials as the Hub API; notes §11):
    /// the Hub lists the tag afterwards like any push. Deletes stay on the
    /// Hub API ([`super::Registry::delete_tag`]): a tag deleted through the
    /// registry API stays in the Hub's listing (docker/hub-feedback #2361).
    async fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        manifest: &ManifestBytes,
    ) -> Result<Option<String>, RegistryError> {
        let client = self.registry_client()?;
        let name = format!("{}/{repo}", self.namespace);
        super::oci::push_manifest(client, &name, tag, manifest, |a| {
            self.explain_registry(a, &name)
        })
        .await
        .map_err(|e| self.redact(e))
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
pub(super) mod tests {
    use super::*;

    /// An anonymous backend for namespace `linaro` at `url`, for tests that
    /// send nothing.
    pub(in crate::registry::dockerhub) fn hub_at(url: &str) -> DockerHub {
        let http = HttpClient::new(Default::default()).unwrap();
        DockerHub::new(http, Url::parse(url).unwrap(), "linaro", None)
    }

    #[test]
    fn urls_escape_names_and_keep_the_trailing_slash_for_deletes() {
        let hub = hub_at("http://127.0.0.1:9/");
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
    fn errors_name_the_repository() {
        let u = |s: &str| Url::parse(s).unwrap();
        let repo = |s: &str| hub_repository(&u(s));
        assert_eq!(
            repo("https://hub.docker.com/v2/repositories/linaro/base/tags/rocky-1/").as_deref(),
            Some("linaro/base")
        );
        assert_eq!(
            repo(
                "https://hub.docker.com/v2/namespaces/linaro/repositories/base/tags?page_size=100"
            )
            .as_deref(),
            Some("linaro/base")
        );
        assert_eq!(
            repo("https://hub.docker.com/v2/namespaces/linaro/repositories?page_size=100"),
            None
        );
        assert_eq!(repo("https://hub.docker.com/v2/auth/token"), None);
    }
}
