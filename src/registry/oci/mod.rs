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
//!   repository, unless its own tag listing names tags (the scan asks, see
//!   `crate::scan::exists`). Without it, existence is what the tag listing
//!   answers (404 `NAME_UNKNOWN`: absent; tags: present; `"tags": null` or `[]`: unknown,
//!   since distribution 2.0–2.1 answered that for repositories that do not
//!   exist, distribution#1186).
//! * **Tags**: `GET /v2/<name>/tags/list?n=1000`, following `Link` (relative,
//!   absolute or with opaque parameters, as Quay sends them; never to another
//!   origin, nor off the repository's own path), deduplicated. Where a link
//!   leaves the path or its page answers 404, the listing goes on with
//!   `last=` or reads everything without `n`, or fails: see [`tag_pages`];
//!   so does a `Link` header that is there but cannot be read (only a page
//!   without one is the last).
//!   A catalog whose links do the same is not used (as if refused). Distribution 2.8 ignores `n`/`last` and answers
//!   everything at once, unsorted; `"tags": null` is no tags (see above for
//!   what that says of existence); 404 (`NAME_UNKNOWN`) is a missing
//!   repository.
//! * **Push times**: registries record none, so a tag's `pushed` is never
//!   set here. For each tag the caller needs in detail ([`TagQuery`]: the
//!   scan asks for the build tags of the manifest's images, each where that
//!   image is expected), the manifest is read (`GET` with
//!   every manifest type in `Accept`; its digest is the hash of the bytes
//!   received, which `Docker-Content-Digest` must agree with when it is
//!   sent: see [`digest`]),
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
//!   see [`delete`]. A tag found on tagsweep's own placeholder (an untag
//!   interrupted half way) is marked as such when read, and deleting it
//!   finishes that untag: see [`placeholder`].
//!
//! Authentication and sending: see [`client`]; credentials: [`credentials`].

pub(crate) mod client;
pub mod credentials;
mod delete;
pub(crate) mod digest;
pub(crate) mod exists;
mod headers;
pub(crate) mod image;
pub(crate) mod placeholder;
mod tag_pages;

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

use self::client::{Access, Client, OciAnswer, Scope};
use self::headers::{challenges, NextLink};
use self::image::{ConfigFacts, Descriptor, Parsed};
use self::tag_pages::TagPages;
use super::http::{Answer, HttpClient, Request};
use super::paging::PageGuard;
use super::{
    DeleteOutcome, ManifestBytes, RegistryError, RegistryRepo, RepositoryList, Stats, TagQuery,
};
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
    /// The tags last read pointing at tagsweep's placeholder, and its
    /// digest, by (repository, tag) (see [`placeholder`]).
    placeholders: Mutex<HashMap<(String, String), String>>,
    said_no_time: AtomicBool,
    said_link_detour: AtomicBool,
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
            placeholders: Mutex::new(HashMap::new()),
            said_no_time: AtomicBool::new(false),
            said_link_detour: AtomicBool::new(false),
        })
    }

    /// The registry, as messages name it (`https://host[:port]`).
    fn registry_name(&self) -> String {
        self.client
            .base()
            .as_str()
            .trim_end_matches('/')
            .to_string()
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

    /// Turns an error answer into an error that says which registry and
    /// repository refused what, why that is likely, and what to do (see
    /// [`hint`]).
    fn explain(&self, reply: &Answer) -> RegistryError {
        let repository = repository_in(&reply.url);
        let image = repository
            .as_deref()
            .and_then(|r| r.strip_prefix(&format!("{}/", self.namespace)))
            .map(str::to_string);
        let asked = Asked {
            registry: self.registry_name(),
            repository,
            image,
            user: self.client.username().map(str::to_string),
            basic: self.client.basic_everywhere()
                && challenges(&reply.headers)
                    .iter()
                    .any(|c| c.scheme == "basic"),
        };
        reply.error(hint(reply.status.as_u16(), &reply.method, &asked))
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
        // tagsweep's own placeholder: no image, no facts to read.
        let placeholder =
            placeholder::placeholder_of(fetched.content_type.as_deref(), &fetched.body).is_some()
                && fetched.digest.is_some();
        self.note_placeholder(name, tag, fetched.digest.as_deref().filter(|_| placeholder));
        if placeholder {
            return Ok(Some(Tag {
                digest: fetched.digest,
                media_type: fetched
                    .content_type
                    .as_deref()
                    .map(crate::inventory::intern_media_type),
                placeholder: true,
                ..Tag::new(tag)
            }));
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
            media_type: fetched
                .content_type
                .as_deref()
                .map(crate::inventory::intern_media_type),
            placeholder: false,
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

    /// Every tag name of `name`, following `Link` (or, where the links are
    /// wrong, going on without them: see [`tag_pages`]); `None` when the
    /// repository does not exist. Never a part of the list: a listing that
    /// cannot be read whole is an error.
    async fn tag_names(&self, name: &str) -> Result<Option<Vec<String>>, RegistryError> {
        #[derive(Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let first = self.repo_url(name, &["tags", "list"]);
        let mut with_n = self.tags_take_n.load(Ordering::Relaxed);
        let mut pages = TagPages::new(first.clone(), with_n.then_some(PAGE_SIZE), MAX_PAGES);
        let mut url = pages.start();
        loop {
            let reply = self
                .send(
                    Request::new(Method::GET, url.clone()),
                    Scope::repo(name, Access::Pull),
                )
                .await?;
            let status = reply.status.as_u16();
            if pages.at_start() && status == 404 {
                return Ok(None);
            }
            if pages.at_start() && with_n && status == 400 {
                // The server refuses our page size: let it choose.
                self.tags_take_n.store(false, Ordering::Relaxed);
                with_n = false;
                pages = TagPages::new(first.clone(), None, MAX_PAGES);
                url = pages.start();
                continue;
            }
            let next = if reply.status.is_success() {
                let page: TagList = reply.decode()?;
                let tags = page.tags.unwrap_or_default();
                match headers::next_link(&reply.headers) {
                    NextLink::None => pages.page(&reply.url, tags, None),
                    NextLink::Next(target) => match reply.url.join(&target) {
                        Ok(_) => {
                            let next = self.client.same_origin(&target, &reply.url)?;
                            pages.page(&reply.url, tags, Some(next))
                        }
                        Err(e) => pages.page_with_unreadable_link(
                            &reply.url,
                            tags,
                            format!("its next-page Link {target:?} is not a URL ({e})"),
                        ),
                    },
                    NextLink::Unreadable(value) => pages.page_with_unreadable_link(
                        &reply.url,
                        tags,
                        format!("its Link header {value:?} cannot be read (not `<target>; rel=\"next\"`, or an empty target)"),
                    ),
                }
            } else {
                match pages.failed(status) {
                    Some(next) => next,
                    None => return Err(self.explain(&reply)),
                }
            };
            match next {
                tag_pages::Next::Read(next) => url = next,
                tag_pages::Next::Done => {
                    if let Some(detours) = pages.detours() {
                        self.note_link_detour(name, &detours);
                    }
                    return Ok(Some(pages.into_names()));
                }
                tag_pages::Next::Fail(why) => {
                    return Err(RegistryError::Refused(format!(
                        "GET {first}: the tags of {name} on {} cannot be listed whole: {why}; refusing to go on with a part of them (a build would look broken for a tag on a page not read)\n  hint: the registry's paging is broken for this repository; tell its operator (running again will not help)",
                        self.registry_name()
                    )))
                }
            }
        }
    }

    /// Says once (with `-v`) how a listing got around the registry's wrong
    /// paging links.
    fn note_link_detour(&self, name: &str, detours: &str) {
        if !self.said_link_detour.swap(true, Ordering::Relaxed) {
            self.client.notes().info(|| {
                format!(
                    "{}: the tag listing of {name}: {detours} (the registry's paging links are wrong; every tag was read)",
                    self.registry_name()
                )
            });
        }
    }

    /// The `rel="next"` page `target` of `reply`, checked: same origin, not
    /// read before, not past [`MAX_PAGES`].
    fn next_page(
        &self,
        reply: &Answer,
        target: &str,
        guard: &PageGuard,
    ) -> Result<Url, RegistryError> {
        let next = self.client.same_origin(target, &reply.url)?;
        if !guard.may_read(&next) {
            return Err(RegistryError::Refused(format!(
                "{}: the registry's pages loop (the next page {next} was already read); stopping",
                reply.url
            )));
        }
        Ok(next)
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
            if guard.pages() > 0 && status == 404 {
                return Ok(self.catalog_unusable(&format!("its next page {url} answered 404")));
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
            let target = match headers::next_link(&reply.headers) {
                NextLink::None => return Ok(Some(found)),
                NextLink::Next(target) => target,
                NextLink::Unreadable(value) => {
                    return Ok(self.catalog_unusable(&format!(
                        "its Link header {value:?} cannot be read, so there may be more pages"
                    )))
                }
            };
            if let Err(e) = reply.url.join(&target) {
                return Ok(self.catalog_unusable(&format!(
                    "its next-page Link {target:?} is not a URL ({e})"
                )));
            }
            let next = self.next_page(&reply, &target, &guard)?;
            if next.path() != first.path() {
                return Ok(self.catalog_unusable(&format!(
                    "its next-page Link points to {}, outside {}",
                    next.path(),
                    first.path()
                )));
            }
            url = next;
        }
    }

    /// A catalog whose paging links are wrong is read no further, and not
    /// used at all: a part of it would claim that the repositories it does
    /// not list do not exist. Says so with `-v`; `None`, as for a registry
    /// that refuses its catalog.
    fn catalog_unusable(&self, why: &str) -> Option<BTreeSet<String>> {
        self.client.notes().info(|| {
            format!(
                "{}: the catalog cannot be read whole ({why}); listing only the manifest's images, so unexpected repositories cannot be reported",
                self.registry_name()
            )
        });
        None
    }
}

/// What a refused request was about, for its hint.
#[derive(Debug, Clone, Default)]
struct Asked {
    /// `https://host[:port]`.
    registry: String,
    /// The repository the request was for (`kolla/base`), if any.
    repository: Option<String>,
    /// The same, as the manifest names it (`base`), when under the namespace.
    image: Option<String>,
    /// Who we are logged in as; `None`: anonymous.
    user: Option<String>,
    /// The answer challenges for Basic authentication, as `GET /v2/` did:
    /// the registry wants credentials for everything. (A Basic challenge
    /// for one repository of a registry that answers `GET /v2/`
    /// anonymously is a private repository or one that does not exist, as
    /// any other refused read.)
    basic: bool,
}

/// The hint for an error answer `status` to `method`, saying which registry
/// and repository, the likely cause and what to do; and, where running
/// again cannot help (a permission the credentials lack), saying so.
///
/// A 401 or 403 to a read names both of its causes: some registries answer
/// 401 for a repository that does not exist rather than 404 (Quay:
/// giantswarm/retagger PR #353, registry lab notes §7; with a Basic
/// challenge too, as registries or proxies that protect some repositories
/// with Basic authentication do — Sonatype Nexus challenges `BASIC
/// realm="Sonatype Nexus Repository"`, indigo-dc/udocker PR #126), so it
/// may be a misspelt image as much as a missing permission. Only a registry
/// that wants Basic credentials for everything (its `GET /v2/` asked for
/// them) is simply told to log in. A 401 or 403 to a
/// DELETE is a missing delete permission (the repository was just read).
fn hint(status: u16, method: &Method, asked: &Asked) -> Option<String> {
    let registry = &asked.registry;
    let repo = asked.repository.as_deref().unwrap_or("this repository");
    let at = format!("{repo} on {registry}");
    let same = "running again with the same credentials will not help";
    let log_in = format!(
        "set {} and {}, pass --username with --password-stdin, or `docker login` to it",
        credentials::USERNAME_ENV,
        credentials::PASSWORD_ENV
    );
    let check_name = match &asked.image {
        Some(image) => {
            format!("check that the image {image} in the manifest is spelt as on the registry")
        }
        None => format!("check that {repo} is spelt as on the registry"),
    };
    Some(match (status, method, asked.user.as_deref()) {
        (401 | 403, &Method::DELETE, None) => format!(
            "{registry} does not let anonymous access delete in {repo}: log in as an account that may delete there ({log_in})"
        ),
        (401 | 403, &Method::DELETE, Some(user)) => format!(
            "{user} may not delete in {at}: deleting needs the delete permission on the repository (token scope repository:{repo}:delete); give {user} that permission or use an account that has it — {same}"
        ),
        (401 | 403, &Method::PUT | &Method::POST, None) => format!(
            "{registry} does not let anonymous access push to {repo}: prune removes a tag by moving it onto a throw-away manifest first (so the build's own manifest stays, restorable), and restore and promote push manifests; all need an account that may push there ({log_in})"
        ),
        (401 | 403, &Method::PUT | &Method::POST, Some(user)) => format!(
            "{user} may not push to {at}: prune removes a tag by moving it onto a throw-away manifest first (so the build's own manifest stays, restorable), and restore and promote push manifests; all need the push permission (token scope repository:{repo}:pull,push); give {user} that permission or use an account that has it — {same}"
        ),
        (401, _, None) if asked.basic => format!("{registry} needs credentials: {log_in}"),
        (401 | 403, _, None) => format!(
            "{registry} refused anonymous access to {repo} ({status}): either the repository needs credentials ({log_in}), or it does not exist — some registries (Quay among them) answer {status}, not 404, for a repository that does not exist: {check_name}"
        ),
        (401 | 403, _, Some(user)) => format!(
            "{registry} refused {user} access to {repo} ({status}): either {user} may not pull it (give it the pull permission, or use an account that has it), or it does not exist — some registries (Quay among them) answer {status}, not 404, for a repository that does not exist: {check_name}; {same}"
        ),
        (405, &Method::DELETE, _) => format!(
            "{}; running again will not help",
            delete::NO_DELETES.replacen("this registry", registry, 1)
        ),
        (429, _, _) => format!("{registry} still limits our requests (429) after waiting: try again later, with a lower -j"),
        (500..=599, _, _) => format!("{registry} failed ({status}) on {repo}; try again later"),
        _ => return None,
    })
}

/// The repository a `/v2/<name>/{tags,manifests,blobs}/…` URL is about.
fn repository_in(url: &Url) -> Option<String> {
    let path = url.path().strip_prefix("/v2/")?;
    ["/tags/", "/manifests/", "/blobs/"]
        .iter()
        .filter_map(|marker| path.rfind(marker))
        .max()
        .map(|end| path[..end].to_string())
        .filter(|name| !name.is_empty())
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
        200..=299 => {
            let content_type = reply.content_type();
            let header = reply
                .header("docker-content-digest")
                .map(str::trim)
                .filter(|d| !d.is_empty());
            let digest = match digest::verify(header, content_type.as_deref(), &reply.body) {
                Ok((d, source)) => {
                    if source == digest::Source::Computed {
                        client.note_computed_digest();
                    }
                    Some(d)
                }
                Err(digest::Problem::Schema1WithoutHeader) => None,
                Err(problem) => {
                    return Err(contradiction(client, &reply, name, reference, problem))
                }
            };
            Ok(Some(Fetched {
                digest,
                content_type,
                body: reply.body,
            }))
        }
        _ => Err(explain(&reply)),
    }
}

/// The error for a manifest whose digest header the bytes contradict (or
/// whose algorithm we cannot check): which registry, repository and
/// reference, both digests, and what to do.
fn contradiction(
    client: &Client,
    reply: &Answer,
    name: &str,
    reference: &str,
    problem: digest::Problem,
) -> RegistryError {
    let registry = client.base().as_str().trim_end_matches('/');
    let detail = match problem {
        digest::Problem::Mismatch { header, computed } => format!(
            "{registry} says the digest of {name}:{reference} is {header} (Docker-Content-Digest), but the bytes it sent hash to {computed}; trusting neither, tagsweep judges and deletes nothing on this answer"
        ),
        digest::Problem::UnknownAlgorithm { header } => format!(
            "{registry} says the digest of {name}:{reference} is {header} (Docker-Content-Digest), which tagsweep cannot check against the bytes (it knows sha256 and sha512); it judges and deletes nothing on this answer"
        ),
        digest::Problem::Schema1WithoutHeader => unreachable!("not a contradiction"),
    };
    RegistryError::Contradiction {
        method: reply.method.to_string(),
        url: reply.url.to_string(),
        detail,
        hint: Some(format!(
            "something between tagsweep and the registry serving {name} rewrites manifests or their headers (a proxy or a cache): point `registry:` in the manifest at the registry itself, or fix what is in between; running again will not help while it is there"
        )),
    }
}

impl Fetched {
    pub(crate) fn into_bytes(self) -> ManifestBytes {
        ManifestBytes {
            digest: self.digest,
            media_type: self.content_type,
            body: self.body,
        }
    }
}

/// `PUT /v2/<name>/manifests/<reference>` in the scope
/// `repository:<name>:pull,push`, with `manifest`'s bytes and its media
/// type as `Content-Type` (registry lab notes §2: 201 and
/// `Docker-Content-Digest`; a missing blob or child is `400
/// MANIFEST_BLOB_UNKNOWN`). A manifest without a media type is refused
/// before sending: the registry would store it as something else. Returns
/// the digest the registry stored, when it says; failures are `explain`ed.
pub(crate) async fn push_manifest(
    client: &Client,
    name: &str,
    reference: &str,
    manifest: &ManifestBytes,
    explain: impl Fn(&Answer) -> RegistryError,
) -> Result<Option<String>, RegistryError> {
    let Some(media_type) = manifest
        .media_type
        .as_deref()
        .filter(|m| image::is_manifest_media_type(m))
    else {
        return Err(RegistryError::Refused(format!(
            "{name}:{reference}: the manifest's media type is not known ({}), so it cannot be pushed as it was",
            manifest.media_type.as_deref().unwrap_or("none given")
        )));
    };
    let url = repo_url(client, name, &["manifests", reference]);
    let reply = client
        .send(
            &Request::new(Method::PUT, url).body(media_type, &manifest.body),
            &Scope::repo(name, Access::Push),
        )
        .await?;
    if !reply.status.is_success() {
        return Err(explain(&reply));
    }
    Ok(reply
        .header("docker-content-digest")
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty()))
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
        self.registry_name()
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

    /// A tag last read on tagsweep's placeholder has its interrupted untag
    /// finished (see [`placeholder`]); any other is untagged (see [`delete`]).
    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<DeleteOutcome, RegistryError> {
        let name = self.full(repo);
        if let Some(outcome) = self.finish_untag(&name, tag).await? {
            return Ok(outcome);
        }
        self.delete_one(&name, tag).await
    }

    async fn has_manifest(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        exists::manifest_exists(&self.client, &self.full(repo), digest, |a| self.explain(a)).await
    }

    async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestBytes>, RegistryError> {
        Ok(self
            .fetch_manifest(&self.full(repo), reference)
            .await?
            .map(Fetched::into_bytes))
    }

    async fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        manifest: &ManifestBytes,
    ) -> Result<Option<String>, RegistryError> {
        let name = self.full(repo);
        let stored = push_manifest(&self.client, &name, tag, manifest, |a| self.explain(a)).await;
        self.seen
            .lock()
            .expect("lock")
            .remove(&(name.clone(), tag.to_string()));
        stored
    }

    fn stats(&self) -> Stats {
        self.client.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(user: Option<&str>, basic: bool) -> Asked {
        Asked {
            registry: "https://quay.io".into(),
            repository: Some("kolla/keystone".into()),
            image: Some("keystone".into()),
            user: user.map(str::to_string),
            basic,
        }
    }

    #[test]
    fn the_repository_of_a_request() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            repository_in(&u("https://r/v2/kolla/base/tags/list?n=3")).as_deref(),
            Some("kolla/base")
        );
        assert_eq!(
            repository_in(&u("https://r/v2/a/b/c/manifests/sha256:00")).as_deref(),
            Some("a/b/c")
        );
        // A repository whose name holds a marker word is cut at the last one.
        assert_eq!(
            repository_in(&u("https://r/v2/org/tags/blobs/sha256:00")).as_deref(),
            Some("org/tags")
        );
        assert_eq!(repository_in(&u("https://r/v2/_catalog?n=1")), None);
        assert_eq!(repository_in(&u("https://r/v2/")), None);
    }

    #[test]
    fn a_refused_read_names_both_causes_and_the_repository() {
        let get = Method::GET;
        let h = hint(401, &get, &asked(None, false)).unwrap();
        assert!(
            h.starts_with("https://quay.io refused anonymous access to kolla/keystone (401)"),
            "{h}"
        );
        assert!(
            h.contains("needs credentials") && h.contains("TAGSWEEP_REGISTRY_USERNAME"),
            "{h}"
        );
        assert!(
            h.contains("does not exist") && h.contains("image keystone in the manifest"),
            "{h}"
        );
        let h = hint(401, &get, &asked(Some("robot"), false)).unwrap();
        assert!(
            h.contains("refused robot access to kolla/keystone (401)"),
            "{h}"
        );
        assert!(
            h.contains("robot may not pull it") && h.contains("does not exist"),
            "{h}"
        );
        assert!(h.ends_with("will not help"), "{h}");
        let h = hint(403, &get, &asked(Some("robot"), false)).unwrap();
        assert!(
            h.contains("(403)") && h.contains("answer 403, not 404"),
            "{h}"
        );
        // A registry that wants Basic credentials for everything.
        assert_eq!(
            hint(401, &get, &asked(None, true)).unwrap(),
            "https://quay.io needs credentials: set TAGSWEEP_REGISTRY_USERNAME and TAGSWEEP_REGISTRY_PASSWORD, pass --username with --password-stdin, or `docker login` to it"
        );
    }

    #[test]
    fn a_refused_delete_is_a_permission_and_running_again_will_not_help() {
        let delete = Method::DELETE;
        for status in [401, 403] {
            let h = hint(status, &delete, &asked(Some("robot"), false)).unwrap();
            assert_eq!(
                h,
                "robot may not delete in kolla/keystone on https://quay.io: deleting needs the delete permission on the repository (token scope repository:kolla/keystone:delete); give robot that permission or use an account that has it — running again with the same credentials will not help"
            );
        }
        let h = hint(403, &delete, &asked(None, false)).unwrap();
        assert!(
            h.contains("does not let anonymous access delete in kolla/keystone"),
            "{h}"
        );
        let h = hint(403, &Method::PUT, &asked(Some("robot"), false)).unwrap();
        assert!(
            h.starts_with("robot may not push to kolla/keystone on https://quay.io"),
            "{h}"
        );
        let h = hint(405, &delete, &asked(Some("robot"), false)).unwrap();
        assert!(
            h.starts_with("https://quay.io does not allow deletes"),
            "{h}"
        );
        assert!(hint(400, &delete, &asked(None, false)).is_none());
    }
}
