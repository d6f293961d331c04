//! Where the inventory comes from, and where deletions go.
//!
//! The audit and prune commands see only the [`Registry`] trait. Each backend
//! (Docker Hub's API, OCI registries, a snapshot file) implements it, and
//! [`open()`] is the one place that chooses one ([`Backend`]).
//! HTTP concerns shared by the network backends (retries, rate-limit pacing,
//! error mapping, request counting) live once, in [`http`].

pub mod dockerhub;
pub mod error;
pub mod http;
#[cfg(test)]
pub mod memory;
pub mod oci;
pub mod open;
pub mod paging;
pub mod redacted;
pub mod snapshot;
pub mod token;

use async_trait::async_trait;

pub use error::RegistryError;
pub use open::{open, Backend, OpenOptions};

use crate::inventory::Tag;
use crate::platform::Platform;

/// A repository as listed by the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRepo {
    pub name: String,
    pub private: Option<bool>,
    /// When the registry says the repository was last pushed to (Docker
    /// Hub's `last_updated`: a push or re-push of a tag moves it, a tag's
    /// deletion does not, docker/hub-feedback #1750); `None` when it does not
    /// say (OCI registries).
    pub last_updated: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a newest-first read of a repository's tags gave
/// ([`Registry::newest_tags`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewestTags {
    /// Newest push first (when not `whole`), each name once.
    pub tags: Vec<Tag>,
    /// How many tags the repository has, as the first page said; `None`
    /// when the registry did not say.
    pub count: Option<u64>,
    /// `tags` is every tag of the repository: the pages ran out, or the
    /// backend listed them all (their order was not newest first, or the
    /// pages shifted under it).
    pub whole: bool,
}

/// The repositories a registry listed, and whether that list is the whole
/// truth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryList {
    pub repositories: Vec<RegistryRepo>,
    /// `true` when the list names every repository of the namespace this
    /// caller may see (Docker Hub's listing; an OCI catalog that could be
    /// read): a repository it does not name is *known* not to exist.
    /// `false` when the registry would not list them (an OCI registry that
    /// refuses `_catalog`): a repository it does not name may still exist.
    pub complete: bool,
}

/// What happened to a tag we asked the registry to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The registry removed it.
    Deleted,
    /// It was already gone (404): a rerun, or someone else removed it.
    AlreadyGone,
}

/// A manifest (or index) exactly as the registry serves it: what `restore`
/// and `promote` read by digest and push under a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestBytes {
    /// `Docker-Content-Digest`, when the registry said it.
    pub digest: Option<String>,
    /// The `Content-Type` it was served with (`application/vnd.oci.image.index.v1+json`, …).
    pub media_type: Option<String>,
    /// The bytes; their sha256 is the digest.
    pub body: Vec<u8>,
}

impl ManifestBytes {
    /// `sha256:<hex>` of the bytes: what the digest of a manifest is.
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        format!("sha256:{:x}", sha2::Sha256::digest(&self.body))
    }
}

/// Request counters, reported as `stats` in JSON output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests sent again after a failure or a 429.
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
}

/// What a caller needs of a repository's tags, so that a backend reads no
/// more than that (see [`Registry::list_tags`]).
///
/// Every listed tag comes back with its name. Its details — digest,
/// platforms, push or declared time — are needed only for the tags
/// [`TagQuery::wants_detail`] accepts (for an audit: the build tags of an
/// image expected in that build). A backend whose listing carries the
/// details of every tag anyway (Docker Hub) gives them for all; one that
/// must read each tag's manifest for them (OCI: a GET per tag) reads only
/// the wanted ones.
#[derive(Clone, Copy)]
pub struct TagQuery<'a> {
    detail: &'a (dyn Fn(&str) -> bool + Send + Sync),
}

impl<'a> TagQuery<'a> {
    /// The tags for which `detail(name)` is true are wanted in detail.
    pub fn new(detail: &'a (dyn Fn(&str) -> bool + Send + Sync)) -> Self {
        TagQuery { detail }
    }

    /// Every tag in detail.
    pub fn every_tag() -> TagQuery<'static> {
        static EVERY: fn(&str) -> bool = |_| true;
        TagQuery { detail: &EVERY }
    }

    /// Whether the tag `name` is wanted with its details.
    pub fn wants_detail(&self, name: &str) -> bool {
        (self.detail)(name)
    }
}

/// A source of repositories and tags for one namespace.
///
/// A method added here must be forwarded by [`redacted::Redacted`] too.
#[async_trait]
pub trait Registry: Send + Sync {
    /// `docker.io`, or the registry's URL.
    fn name(&self) -> String;

    /// When the data was recorded, for a snapshot; `None` for a live registry.
    fn snapshot_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }

    /// Every repository of the namespace the caller may see, and whether the
    /// registry could list them all (see [`RepositoryList::complete`]).
    async fn list_repositories(&self) -> Result<RepositoryList, RegistryError>;

    /// [`Registry::list_repositories`], telling `seen` of each repository as
    /// soon as the registry names it, so that its tags can be read while the
    /// rest of the listing is: `seen` may hear of a repository twice, or of
    /// one the returned list leaves out (a listing that shifted is read
    /// again); the returned list is the one to trust. The default tells of
    /// each repository once the whole list is read.
    async fn list_repositories_streamed(
        &self,
        seen: &(dyn for<'r> Fn(&'r RegistryRepo) + Send + Sync),
    ) -> Result<RepositoryList, RegistryError> {
        let listing = self.list_repositories().await?;
        listing.repositories.iter().for_each(seen);
        Ok(listing)
    }

    /// Every tag of `repo`, with the details `query` wants (a tag it does
    /// not want may come with its name only); `None` when the registry says
    /// the repository does not exist (or is hidden from this caller).
    /// `Some(vec![])` only says the registry answered no tags: on some
    /// registries that is also their answer for a repository that does not
    /// exist (see `scan`).
    async fn list_tags(
        &self,
        repo: &str,
        query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError>;

    /// The tags of `repo` pushed at or after `since`, newest first, reading
    /// as few pages as the registry allows (it may return older tags too;
    /// callers filter), with the details `query` wants. The default lists
    /// everything.
    async fn list_tags_since(
        &self,
        repo: &str,
        since: chrono::DateTime<chrono::Utc>,
        query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        let _ = since;
        self.list_tags(repo, query).await
    }

    /// Whether [`Registry::newest_tags`] reads newest first and can stop
    /// early: the registry records push times and orders by them (Docker
    /// Hub). The default: no (OCI registries keep no push times), and an
    /// inventory cache is of no use.
    fn lists_newest_first(&self) -> bool {
        false
    }

    /// `repo`'s tags, newest push first, `page_size` to a page, stopping
    /// after the first page that reaches a tag pushed before `until`
    /// (`None`: after the first page), with the details `query` wants;
    /// `None` when the registry says the repository does not exist. The
    /// order is checked as the pages come: where it fails, or the pages
    /// shift, every tag is listed (`whole`). The default lists every tag.
    async fn newest_tags(
        &self,
        repo: &str,
        page_size: u32,
        until: Option<chrono::DateTime<chrono::Utc>>,
        query: &TagQuery<'_>,
    ) -> Result<Option<NewestTags>, RegistryError> {
        let _ = (page_size, until);
        let tags = self.list_tags(repo, query).await?;
        Ok(tags.map(|tags| NewestTags {
            count: Some(tags.len() as u64),
            tags,
            whole: true,
        }))
    }

    /// How many tags `repo` has, when the registry can say in one request
    /// (used to choose between listing and per-tag look-ups). The default: unknown.
    async fn tag_count(&self, repo: &str) -> Result<Option<u64>, RegistryError> {
        let _ = repo;
        Ok(None)
    }

    /// How many requests [`Registry::list_tags`] takes for a repository of
    /// `tag_count` tags (at least 1), weighed by the scan against
    /// [`Registry::get_tag`] look-ups (one request each) when only some
    /// builds are asked for. Only consulted when [`Registry::tag_count`]
    /// gives a count. The default, 1, never makes look-ups look cheaper: a
    /// backend that says nothing of its paging is listed.
    fn listing_cost(&self, tag_count: u64) -> u64 {
        let _ = tag_count;
        1
    }

    /// One tag looked up afresh (prune re-checks with it); `None` when absent.
    async fn get_tag(&self, repo: &str, tag: &str) -> Result<Option<Tag>, RegistryError>;

    /// The platforms of the manifest `reference` (a digest `sha256:…`, or a
    /// tag) of `repo` (a name inside the namespace), as the registry's own
    /// manifest says: an index's `manifests[].platform` (attestations left
    /// out), or a single image's config. Sorted, without duplicates.
    ///
    /// `Ok(None)` when the registry cannot say: the manifest is not found,
    /// is neither an image nor an index, or carries no platform. Errors are
    /// failures to ask (refused credentials, a registry that is down).
    ///
    /// Docker Hub's tag endpoints list no platforms since August 2025
    /// (`"images": []`, docker/hub-feedback #2484; Docker Hub notes §11), so
    /// its backend reads the manifest from the registry API
    /// (`registry-1.docker.io`). There each GET of a manifest counts against
    /// the pull limit, a HEAD does not (notes §6, §11): call this once per
    /// digest and remember the answer (see `crate::platform_cache`).
    ///
    /// The default (the snapshot backend): `Ok(None)`.
    async fn manifest_platforms(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Vec<Platform>>, RegistryError> {
        let _ = (repo, reference);
        Ok(None)
    }

    /// Whether this backend, as opened, can delete at all: asked by prune
    /// before it reads anything, so that nothing is listed and planned in
    /// vain. `Err(what to do)` when every delete would be refused for a
    /// reason known up front (Docker Hub deletes tags only for a logged-in
    /// account). The default: `Ok(())`, deletes are tried and each refusal
    /// is reported.
    fn can_delete(&self) -> Result<(), String> {
        Ok(())
    }

    /// Removes one tag (and only that tag).
    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<DeleteOutcome, RegistryError>;

    /// The manifest `reference` (a digest `sha256:…`, or a tag) of `repo`,
    /// read from the registry API with every manifest type in `Accept`
    /// (OCI distribution spec, "Pulling manifests"; without the full list
    /// distribution 2.8 answers another digest: registry lab notes §3.3);
    /// `Ok(None)` when the registry does not have it (404). On Docker Hub
    /// this is `registry-1.docker.io`, and each GET counts against the pull
    /// limit (Docker Hub notes §6, §11).
    ///
    /// The default (the snapshot backend): an error, nothing can be read.
    async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestBytes>, RegistryError> {
        let _ = (repo, reference);
        Err(RegistryError::Refused(format!(
            "{}: manifests cannot be read from here",
            self.name()
        )))
    }

    /// Whether the registry still has the manifest `digest` in `repo`,
    /// asked without reading it where the backend can (`HEAD
    /// /v2/<name>/manifests/<digest>`, OCI distribution spec "Checking if
    /// content exists"; a HEAD does not count against Docker Hub's pull
    /// limit, notes §6). `restore` asks it of every child of an index it
    /// would push: a registry refuses an index whose child is gone (`400
    /// MANIFEST_BLOB_UNKNOWN`, "blob unknown to registry").
    ///
    /// The default: [`Registry::get_manifest`] found it.
    async fn has_manifest(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        Ok(self.get_manifest(repo, digest).await?.is_some())
    }

    /// Points `repo:tag` at `manifest`: `PUT /v2/<name>/manifests/<tag>`
    /// with its bytes and its media type as `Content-Type` (OCI
    /// distribution spec, "Pushing manifests"; Docker Hub notes §11). Needs
    /// the push permission (token scope `repository:<name>:pull,push`). The
    /// manifest's config, layers or children must be in the repository
    /// already (they are, for a manifest read from it). Returns the digest
    /// the registry says it stored (`Docker-Content-Digest`), when it says.
    ///
    /// The default (the snapshot backend): an error, nothing is pushed.
    async fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        manifest: &ManifestBytes,
    ) -> Result<Option<String>, RegistryError> {
        let _ = (repo, tag, manifest);
        Err(RegistryError::Refused(format!(
            "{}: manifests cannot be pushed here",
            self.name()
        )))
    }

    /// Requests made so far.
    fn stats(&self) -> Stats;
}
