//! Registries that speak the OCI distribution API (`/v2/`): Quay, Harbor,
//! GHCR, GitLab, Artifactory, CNCF distribution (`registry:2`,
//! Debian's `docker-registry`), zot…
//!
//! The manifest's images are the repositories `<namespace>/<image>`.
//!
//! * **Repositories**: `GET /v2/_catalog?n=1000`, following `Link: <…>;
//!   rel="next"` (back to the server's own page size when it refuses our
//!   `n`, as distribution does past `catalog.maxentries`), keeping the names
//!   under `<namespace>/`: they are the candidates for unexpected
//!   repositories. A registry that refuses the catalog (401, 403, 404, 405:
//!   most hosted ones) is no error: then only the manifest's images are
//!   listed. The manifest's images are always listed, whatever the catalog
//!   says. A readable catalog is complete: an image it does not list has no
//!   repository. Without it, existence is what the tag listing answers (404
//!   `NAME_UNKNOWN`: absent; tags: present; `"tags": null` or `[]`: unknown,
//!   since distribution 2.0–2.1 answered that for repositories that do not
//!   exist, distribution#1186).
//! * **Tags**: `GET /v2/<name>/tags/list?n=1000`, following `Link` (relative,
//!   absolute or with opaque parameters, as Quay sends them; never to another
//!   origin), deduplicated. Distribution 2.8 ignores `n`/`last` and answers
//!   everything at once, unsorted; `"tags": null` is no tags (see above for
//!   what that says of existence); 404 (`NAME_UNKNOWN`) is a missing
//!   repository.
//! * **Push times**: registries record none, so a tag's `pushed` is never
//!   set here. For each tag the caller needs in detail ([`TagQuery`]: the
//!   scan asks for the build tags of the manifest's images, each where that
//!   image is expected), the manifest is read (`GET` with
//!   every manifest type in `Accept`; its digest is `Docker-Content-Digest`),
//!   and its *declared* time (`Tag::created`) is its
//!   `org.opencontainers.image.created` annotation, else the image config's
//!   `created` (for an index, of its first platform's image). That is a
//!   build time at best, and a reproducible build's commit time at worst
//!   (`SOURCE_DATE_EPOCH`): it can make a build look in progress, never
//!   prove it finished (see `policy::prune`). Other tags are never read.
//!   Everything read is cached by digest.
//! * **Platforms**: from the index (attestations left out), or from the
//!   single image's config.
//! * **Deleting one tag** (tag-safe: other tags on the same digest survive):
//!   see [`delete`].
//!
//! Authentication and sending: see [`client`]; credentials: [`credentials`].

pub(crate) mod client;
pub mod credentials;
mod delete;
mod headers;
pub(crate) mod image;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use self::client::{needs_credentials_hint, Access, Client, OciAnswer, Scope};
use self::image::{ConfigFacts, Descriptor, Parsed};
use super::http::{Answer, HttpClient, Request};
use super::paging::PageGuard;
use super::{DeleteOutcome, RegistryError, RegistryRepo, RepositoryList, Stats, TagQuery};
use crate::credentials::Credentials;
use crate::inventory::Tag;
use crate::notes::Level;
use crate::platform::Platform;

pub use self::credentials::Source as CredentialSource;

/// The page size we ask for (catalog and tags); servers may give less.
const PAGE_SIZE: u32 = 1000;

/// How long a tag's digest, read earlier in this run, is trusted when
/// checking whether a digest is shared (tags such as `latest` move).
const SEEN_TRUSTED_FOR: Duration = Duration::from_secs(60);

/// A listing longer than this many pages is a server that loops.
const MAX_PAGES: usize = 100_000;

/// What a tag's manifest tells the audit.
#[derive(Debug, Clone, Default)]
struct Facts {
    platforms: Option<Vec<Platform>>,
    created: Option<DateTime<Utc>>,
    /// For an index: every child digest.
    children: Vec<String>,
}

/// A manifest as the registry served it.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    digest: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// The OCI distribution backend.
pub struct OciRegistry {
    client: Client,
    namespace: String,
    /// Whether platforms matter to this run: when not, an image's config is
    /// read only for its time (see `image_facts`).
    platforms: bool,
    concurrency: usize,
    /// Facts by manifest digest.
    facts: Mutex<HashMap<String, Facts>>,
    /// Config facts by config digest.
    configs: Mutex<HashMap<String, ConfigFacts>>,
    /// The digest each tag had when we last read it, and when, by (repository, tag).
    seen: Mutex<HashMap<(String, String), (String, Instant)>>,
    /// The children of every manifest read (none for an image), by digest.
    children: Mutex<HashMap<String, Vec<String>>>,
    /// Whether the server takes our `n` on `tags/list` (else we leave it out).
    tags_take_n: AtomicBool,
    /// Whether `DELETE /v2/<name>/manifests/<tag>` removes one tag (see `delete`).
    tag_delete: AtomicU8,
    /// Deletes are allowed (checked once before moving any tag).
    deletes_allowed: OnceCell<()>,
    /// Repositories known to hold the empty config blob.
    empty_config_in: Mutex<HashSet<String>>,
    said_no_time: AtomicBool,
}

impl OciRegistry {
    /// A backend for the registry at `url`, for the repositories under
    /// `namespace` (the path prefix; leading and trailing `/` ignored),
    /// logged in with `credentials` or anonymously, reading at most
    /// `concurrency` tags at once. `platforms`: whether the platforms of the
    /// tags read in detail matter (the manifest requires some); without, a
    /// single image's config blob is read only when its manifest declares
    /// no time. Nothing is sent until something is asked.
    pub fn new(
        http: HttpClient,
        url: Url,
        namespace: &str,
        credentials: Option<(Credentials, CredentialSource)>,
        concurrency: usize,
        platforms: bool,
    ) -> Result<Self, RegistryError> {
        Ok(OciRegistry {
            client: Client::new(http, url, credentials),
            namespace: namespace.trim_matches('/').to_string(),
            platforms,
            concurrency: concurrency.max(1),
            facts: Mutex::new(HashMap::new()),
            configs: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            children: Mutex::new(HashMap::new()),
            tags_take_n: AtomicBool::new(true),
            tag_delete: AtomicU8::new(delete::UNKNOWN),
            deletes_allowed: OnceCell::new(),
            empty_config_in: Mutex::new(HashSet::new()),
            said_no_time: AtomicBool::new(false),
        })
    }

    /// The full repository name of an image of the namespace.
    fn full(&self, repo: &str) -> String {
        if self.namespace.is_empty() {
            repo.to_string()
        } else {
            format!("{}/{repo}", self.namespace)
        }
    }

    /// `/v2/<name>/<rest…>`.
    fn repo_url(&self, name: &str, rest: &[&str]) -> Url {
        repo_url(&self.client, name, rest)
    }

    async fn send(&self, req: Request<'_>, scope: Scope) -> Result<Answer, RegistryError> {
        self.client.send(&req, &scope).await
    }

    /// Turns an error answer into an error that says what to do.
    fn explain(&self, reply: &Answer) -> RegistryError {
        let user = self.client.username();
        let hint = match (reply.status.as_u16(), &reply.method) {
            (401, _) if user.is_none() => Some(needs_credentials_hint()),
            (401 | 403, &Method::DELETE) => Some(format!(
                "{} may not delete here: deleting needs the delete permission (token scope repository:<name>:delete)",
                user.unwrap_or("this account")
            )),
            (401 | 403, &Method::PUT | &Method::POST) => Some(format!(
                "{} may not push here: removing a tag that shares its digest moves it onto a throw-away manifest first, which needs the push permission",
                user.unwrap_or("this account")
            )),
            (401 | 403, _) => Some(format!(
                "the registry refused {}: check that the account may pull these repositories",
                user.unwrap_or("anonymous access")
            )),
            (405, &Method::DELETE) => Some(delete::NO_DELETES.to_string()),
            _ => None,
        };
        reply.error(hint)
    }

    /// `GET /v2/<name>/manifests/<reference>` with every manifest type
    /// accepted; `None` on 404.
    async fn fetch_manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<Option<Fetched>, RegistryError> {
        fetch_manifest(&self.client, name, reference, |a| self.explain(a)).await
    }

    /// Reads one tag in full: digest, platforms, creation time. `None` when
    /// the tag does not exist (any more).
    async fn inspect(&self, name: &str, tag: &str) -> Result<Option<Tag>, RegistryError> {
        let Some(fetched) = self.fetch_manifest(name, tag).await? else {
            return Ok(None);
        };
        if let Some(d) = &fetched.digest {
            self.remember_tag(name, tag, d);
        }
        let facts = self.facts_of(name, &fetched).await?;
        if facts.created.is_none()
            && self.client.notes().shows(Level::Info)
            && !self.said_no_time.swap(true, Ordering::Relaxed)
        {
            self.client.notes().info(|| {
                format!(
                    "{name}:{tag} has no creation time (no {} annotation, no `created` in its image config): OCI registries record no push times, so builds.grace cannot apply to builds without one; they are judged by their contents only",
                    image::CREATED_ANNOTATION
                )
            });
        }
        Ok(Some(Tag {
            name: tag.into(),
            digest: fetched.digest,
            pushed: None,
            created: facts.created,
            platforms: facts.platforms.map(Into::into),
        }))
    }

    /// The facts of a fetched manifest: from the cache when its digest was
    /// described before, else described now and cached by digest.
    async fn facts_of(&self, name: &str, fetched: &Fetched) -> Result<Facts, RegistryError> {
        let cached = fetched
            .digest
            .as_ref()
            .and_then(|d| self.facts.lock().expect("lock").get(d).cloned());
        if let Some(f) = cached {
            return Ok(f);
        }
        let f = self.describe(name, fetched).await?;
        if let Some(d) = &fetched.digest {
            self.children
                .lock()
                .expect("lock")
                .insert(d.clone(), f.children.clone());
            self.facts
                .lock()
                .expect("lock")
                .insert(d.clone(), f.clone());
        }
        Ok(f)
    }

    fn remember_tag(&self, name: &str, tag: &str, digest: &str) {
        self.seen.lock().expect("lock").insert(
            (name.to_string(), tag.to_string()),
            (digest.to_string(), Instant::now()),
        );
    }

    /// The facts of a manifest or index (no recursion past one index level).
    async fn describe(&self, name: &str, fetched: &Fetched) -> Result<Facts, RegistryError> {
        match image::parse_manifest(fetched.content_type.as_deref(), &fetched.body) {
            Parsed::Index {
                platforms,
                children,
                created,
            } => {
                let created = match (created, platforms.first()) {
                    (Some(c), _) => Some(c),
                    (None, Some((_, child))) => self.child_created(name, child).await?,
                    (None, None) => None,
                };
                Ok(Facts {
                    platforms: platform_list(platforms),
                    created,
                    children,
                })
            }
            Parsed::Image { config, created } => self.image_facts(name, config, created).await,
            Parsed::Other => Ok(Facts::default()),
        }
    }

    async fn image_facts(
        &self,
        name: &str,
        config: Option<Descriptor>,
        created: Option<DateTime<Utc>>,
    ) -> Result<Facts, RegistryError> {
        let config = match config {
            Some(d) if self.platforms || created.is_none() => self.config(name, &d).await?,
            _ => ConfigFacts::default(),
        };
        Ok(Facts {
            platforms: config.platform.map(|p| vec![p]),
            created: created.or(config.created),
            children: Vec::new(),
        })
    }

    /// The creation time of an index's child image (read by digest, cached).
    async fn child_created(
        &self,
        name: &str,
        digest: &str,
    ) -> Result<Option<DateTime<Utc>>, RegistryError> {
        if let Some(f) = self.facts.lock().expect("lock").get(digest) {
            return Ok(f.created);
        }
        let Some(fetched) = self.fetch_manifest(name, digest).await? else {
            return Ok(None);
        };
        let facts = match image::parse_manifest(fetched.content_type.as_deref(), &fetched.body) {
            Parsed::Image { config, created } => self.image_facts(name, config, created).await?,
            _ => Facts::default(),
        };
        let created = facts.created;
        self.facts
            .lock()
            .expect("lock")
            .insert(digest.to_string(), facts);
        Ok(created)
    }

    /// An image config's facts (cached by digest; see [`fetch_config`]).
    async fn config(&self, name: &str, d: &Descriptor) -> Result<ConfigFacts, RegistryError> {
        if let Some(c) = self.configs.lock().expect("lock").get(&d.digest) {
            return Ok(c.clone());
        }
        let facts = fetch_config(&self.client, name, d, |a| self.explain(a)).await?;
        self.configs
            .lock()
            .expect("lock")
            .insert(d.digest.clone(), facts.clone());
        Ok(facts)
    }

    /// Every tag name of `name`, following `Link`; `None` when the
    /// repository does not exist.
    async fn tag_names(&self, name: &str) -> Result<Option<Vec<String>>, RegistryError> {
        #[derive(Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let first = self.repo_url(name, &["tags", "list"]);
        let mut url = first.clone();
        let mut with_n = self.tags_take_n.load(Ordering::Relaxed);
        if with_n {
            url.query_pairs_mut()
                .append_pair("n", &PAGE_SIZE.to_string());
        }
        let mut names = Vec::new();
        let mut seen = HashSet::new();
        let mut guard = PageGuard::new(MAX_PAGES);
        loop {
            let reply = self
                .send(
                    Request::new(Method::GET, url.clone()),
                    Scope::repo(name, Access::Pull),
                )
                .await?;
            if guard.pages() == 0 && reply.status.as_u16() == 404 {
                return Ok(None);
            }
            if guard.pages() == 0 && with_n && reply.status.as_u16() == 400 {
                // The server refuses our page size: let it choose.
                self.tags_take_n.store(false, Ordering::Relaxed);
                with_n = false;
                url = first.clone();
                continue;
            }
            if !reply.status.is_success() {
                return Err(self.explain(&reply));
            }
            let page: TagList = reply.decode()?;
            guard.read(&reply.url);
            for tag in page.tags.unwrap_or_default() {
                if seen.insert(tag.clone()) {
                    names.push(tag);
                }
            }
            let Some(next) = self.next_page(&reply, &guard)? else {
                return Ok(Some(names));
            };
            url = next;
        }
    }

    /// The `rel="next"` page of `reply`, checked: same origin, not read
    /// before, not past [`MAX_PAGES`].
    fn next_page(&self, reply: &Answer, guard: &PageGuard) -> Result<Option<Url>, RegistryError> {
        let Some(target) = headers::next_link(&reply.headers) else {
            return Ok(None);
        };
        let next = self.client.same_origin(&target, &reply.url)?;
        if !guard.may_read(&next) {
            return Err(RegistryError::Refused(format!(
                "{}: the registry's pages loop (the next page {next} was already read); stopping",
                reply.url
            )));
        }
        Ok(Some(next))
    }

    /// The catalog's repositories under the namespace (names inside it), or
    /// `None` when the registry does not let us list it.
    async fn catalog(&self) -> Result<Option<BTreeSet<String>>, RegistryError> {
        #[derive(Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let prefix = format!("{}/", self.namespace);
        let first = self.client.url(&["v2", "_catalog"]);
        let mut url = first.clone();
        url.query_pairs_mut()
            .append_pair("n", &PAGE_SIZE.to_string());
        let mut with_n = true;
        let mut found = BTreeSet::new();
        let mut guard = PageGuard::new(MAX_PAGES);
        loop {
            let reply = match self
                .send(Request::new(Method::GET, url.clone()), Scope::Catalog)
                .await
            {
                Ok(reply) => reply,
                // A token server that will not give a catalog token.
                Err(RegistryError::Status { status, .. })
                    if guard.pages() == 0 && matches!(status, 401 | 403) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            };
            let status = reply.status.as_u16();
            if guard.pages() == 0 && matches!(status, 401 | 403 | 404 | 405) {
                self.client.notes().info(|| {
                    format!(
                        "{} does not let us list its catalog ({}); listing only the manifest's images, so unexpected repositories cannot be reported",
                        self.client.base(),
                        reply.status
                    )
                });
                return Ok(None);
            }
            if guard.pages() == 0 && with_n && status == 400 {
                // PAGINATION_NUMBER_INVALID: past catalog.maxentries.
                with_n = false;
                url = first.clone();
                continue;
            }
            if !reply.status.is_success() {
                return Err(self.explain(&reply));
            }
            let page: Catalog = reply.decode()?;
            guard.read(&reply.url);
            let entries = page.repositories.unwrap_or_default();
            let sorted = entries.windows(2).all(|w| w[0] <= w[1]);
            let past = entries
                .last()
                .is_some_and(|last| last.as_str() > prefix.as_str() && !last.starts_with(&prefix));
            for entry in entries {
                if let Some(rest) = entry.strip_prefix(&prefix) {
                    if !rest.is_empty() {
                        found.insert(rest.to_string());
                    }
                }
            }
            // Sorted pages already past our namespace: nothing more for us.
            if sorted && past {
                return Ok(Some(found));
            }
            let Some(next) = self.next_page(&reply, &guard)? else {
                return Ok(Some(found));
            };
            url = next;
        }
    }
}

/// `/v2/<name>/<rest…>` on `client`'s registry.
fn repo_url(client: &Client, name: &str, rest: &[&str]) -> Url {
    let mut segments = vec!["v2"];
    segments.extend(name.split('/'));
    segments.extend_from_slice(rest);
    client.url(&segments)
}

/// `GET /v2/<name>/manifests/<reference>` (a tag or a digest) in the scope
/// `repository:<name>:pull`, with every manifest type in `Accept` (without
/// it, distribution 2.8 answers another digest or a 404: registry lab notes
/// §3.3). `None` on 404; any other failure is `explain`ed. Its digest is
/// `Docker-Content-Digest`. On Docker Hub each such GET counts against the
/// pull limit (Docker Hub notes §6, §11).
pub(crate) async fn fetch_manifest(
    client: &Client,
    name: &str,
    reference: &str,
    explain: impl Fn(&Answer) -> RegistryError,
) -> Result<Option<Fetched>, RegistryError> {
    let url = repo_url(client, name, &["manifests", reference]);
    let reply = client
        .send(
            &Request::new(Method::GET, url).accept(image::ACCEPT_MANIFESTS),
            &Scope::repo(name, Access::Pull),
        )
        .await?;
    match reply.status.as_u16() {
        404 => Ok(None),
        200..=299 => Ok(Some(Fetched {
            digest: reply
                .header("docker-content-digest")
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty()),
            content_type: reply.content_type(),
            body: reply.body,
        })),
        _ => Err(explain(&reply)),
    }
}

/// An image config's facts (`GET /v2/<name>/blobs/<digest>`; a config
/// larger than [`image::MAX_CONFIG_BYTES`], or a 404, says nothing). Blobs
/// are often served by a redirect to storage: followed for GET only, at
/// most five hops, without credentials when it leaves the registry's origin,
/// and only to https there. Other failures are `explain`ed.
pub(crate) async fn fetch_config(
    client: &Client,
    name: &str,
    d: &Descriptor,
    explain: impl Fn(&Answer) -> RegistryError,
) -> Result<ConfigFacts, RegistryError> {
    if d.size.is_some_and(|s| s > image::MAX_CONFIG_BYTES) {
        return Ok(ConfigFacts::default());
    }
    let scope = Scope::repo(name, Access::Pull);
    let mut url = repo_url(client, name, &["blobs", &d.digest]);
    let mut reply = client
        .send(
            &Request::new(Method::GET, url.clone()).accept(image::ACCEPT_CONFIG),
            &scope,
        )
        .await?;
    for _ in 0..5 {
        if !matches!(reply.status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            break;
        }
        let Some(location) = reply.header("location") else {
            break;
        };
        let next = url
            .join(location)
            .map_err(|e| RegistryError::Refused(format!("{url}: redirect to {location:?}: {e}")))?;
        let out = Request::new(Method::GET, next.clone()).accept(image::ACCEPT_CONFIG);
        reply = if next.origin() == client.base().origin() {
            client.send(&out, &scope).await?
        } else if next.scheme() == "https" {
            client.send_unauthenticated(&out).await?
        } else {
            return Err(RegistryError::Refused(format!(
                "{url}: the blob redirects to {}, not https; refusing to follow it",
                next.origin().ascii_serialization()
            )));
        };
        url = next;
    }
    match reply.status.as_u16() {
        200..=299 => Ok(image::parse_config(&reply.body)),
        404 => Ok(ConfigFacts::default()),
        _ => Err(explain(&reply)),
    }
}

/// An index's platforms, sorted and deduplicated; `None` when it names none.
fn platform_list(platforms: Vec<(Platform, String)>) -> Option<Vec<Platform>> {
    let mut list: Vec<Platform> = platforms.into_iter().map(|(p, _)| p).collect();
    list.sort();
    list.dedup();
    (!list.is_empty()).then_some(list)
}

/// The platforms of `name`'s manifest `reference` (a digest or a tag),
/// reading as little as possible: one manifest GET, and for an index
/// nothing more (its `manifests[].platform`, attestations left out; no child
/// is read); for a single image, its config blob too (blob GETs do not count
/// against Docker Hub's pull limit, notes §6). `None` when the manifest is
/// missing (404), is something else (schema 1, an artifact) or names no
/// platform. Failures are `explain`ed.
pub(crate) async fn read_platforms(
    client: &Client,
    name: &str,
    reference: &str,
    explain: impl Fn(&Answer) -> RegistryError,
) -> Result<Option<Vec<Platform>>, RegistryError> {
    let Some(fetched) = fetch_manifest(client, name, reference, &explain).await? else {
        return Ok(None);
    };
    Ok(
        match image::parse_manifest(fetched.content_type.as_deref(), &fetched.body) {
            Parsed::Index { platforms, .. } => platform_list(platforms),
            Parsed::Image {
                config: Some(config),
                ..
            } => fetch_config(client, name, &config, &explain)
                .await?
                .platform
                .map(|p| vec![p]),
            Parsed::Image { config: None, .. } | Parsed::Other => None,
        },
    )
}

#[async_trait]
impl super::Registry for OciRegistry {
    fn name(&self) -> String {
        self.client
            .base()
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// The catalog's repositories under the namespace, complete; or, when
    /// the registry refuses the catalog, none and not complete (the scan
    /// then asks for each image's tags and judges existence from that).
    async fn list_repositories(&self) -> Result<RepositoryList, RegistryError> {
        Ok(match self.catalog().await? {
            Some(listed) => RepositoryList {
                repositories: listed
                    .into_iter()
                    .map(|name| RegistryRepo {
                        name,
                        private: None,
                        last_updated: None,
                    })
                    .collect(),
                complete: true,
            },
            None => RepositoryList::default(),
        })
    }

    /// Every tag name (`tags/list`); the tags `query` wants in detail are
    /// read in full (a manifest GET each, see the module documentation),
    /// the others carry their name only.
    async fn list_tags(
        &self,
        repo: &str,
        query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        let name = self.full(repo);
        let Some(names) = self.tag_names(&name).await? else {
            return Ok(None);
        };
        let name = name.as_str();
        let tags: Vec<Option<Tag>> = futures::stream::iter(names)
            .map(|tag| async move {
                if query.wants_detail(&tag) {
                    self.inspect(name, &tag).await
                } else {
                    Ok(Some(Tag::new(tag)))
                }
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        // A tag deleted between the listing and its reading is gone.
        let mut tags: Vec<Tag> = tags.into_iter().flatten().collect();
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(tags))
    }

    async fn get_tag(&self, repo: &str, tag: &str) -> Result<Option<Tag>, RegistryError> {
        self.inspect(&self.full(repo), tag).await
    }

    /// From what the listing already read (facts cached by digest); a
    /// manifest not read yet is read and described like a listed build tag.
    async fn manifest_platforms(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Vec<Platform>>, RegistryError> {
        if let Some(f) = self.facts.lock().expect("lock").get(reference) {
            return Ok(f.platforms.clone());
        }
        let name = self.full(repo);
        let Some(fetched) = self.fetch_manifest(&name, reference).await? else {
            return Ok(None);
        };
        Ok(self.facts_of(&name, &fetched).await?.platforms)
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<DeleteOutcome, RegistryError> {
        self.delete_one(&self.full(repo), tag).await
    }

    fn stats(&self) -> Stats {
        self.client.stats()
    }
}
