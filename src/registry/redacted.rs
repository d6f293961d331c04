//! The last net under every network backend: a [`Registry`] that passes
//! each call to the backend it wraps and takes the run's secrets out of
//! every error it returns.
//!
//! The backends already redact what they build from an answer (see
//! [`super::http::Answer`]); this catches the rest — a refusal that quotes
//! a `Link` or a `Location` the registry sent, an error made before a token
//! was known — so that no error leaves the registry layer with a password,
//! a token issued this run, or their base64 or Basic forms in it (see
//! [`Redactor`]). [`super::open()`] wraps every network backend in one.
//!
//! Every method of [`Registry`] is forwarded here, defaults included: a
//! method added to the trait must be added here too, or its calls would get
//! the trait's default instead of the backend's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    DeleteOutcome, ManifestBytes, NewestTags, Registry, RegistryError, RegistryRepo,
    RepositoryList, Stats, TagQuery,
};
use crate::inventory::Tag;
use crate::platform::Platform;
use crate::secret::Redactor;

/// `inner`, its errors redacted with `redactor` (see the module documentation).
pub struct Redacted<R> {
    inner: R,
    redactor: Redactor,
}

impl<R: Registry> Redacted<R> {
    /// Wraps `inner`; `redactor` must be the one its clients add tokens to.
    pub fn new(inner: R, redactor: Redactor) -> Self {
        Redacted { inner, redactor }
    }

    fn clean<T>(&self, result: Result<T, RegistryError>) -> Result<T, RegistryError> {
        result.map_err(|e| e.redact(&self.redactor))
    }
}

#[async_trait]
impl<R: Registry> Registry for Redacted<R> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn snapshot_time(&self) -> Option<DateTime<Utc>> {
        self.inner.snapshot_time()
    }

    async fn list_repositories(&self) -> Result<RepositoryList, RegistryError> {
        self.clean(self.inner.list_repositories().await)
    }

    async fn list_repositories_streamed(
        &self,
        seen: &(dyn for<'r> Fn(&'r RegistryRepo) + Send + Sync),
    ) -> Result<RepositoryList, RegistryError> {
        self.clean(self.inner.list_repositories_streamed(seen).await)
    }

    async fn list_tags(
        &self,
        repo: &str,
        query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        self.clean(self.inner.list_tags(repo, query).await)
    }

    async fn list_tags_since(
        &self,
        repo: &str,
        since: DateTime<Utc>,
        query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        self.clean(self.inner.list_tags_since(repo, since, query).await)
    }

    fn lists_newest_first(&self) -> bool {
        self.inner.lists_newest_first()
    }

    async fn newest_tags(
        &self,
        repo: &str,
        page_size: u32,
        until: Option<DateTime<Utc>>,
        query: &TagQuery<'_>,
    ) -> Result<Option<NewestTags>, RegistryError> {
        self.clean(self.inner.newest_tags(repo, page_size, until, query).await)
    }

    async fn tag_count(&self, repo: &str) -> Result<Option<u64>, RegistryError> {
        self.clean(self.inner.tag_count(repo).await)
    }

    fn listing_cost(&self, tag_count: u64) -> u64 {
        self.inner.listing_cost(tag_count)
    }

    async fn get_tag(&self, repo: &str, tag: &str) -> Result<Option<Tag>, RegistryError> {
        self.clean(self.inner.get_tag(repo, tag).await)
    }

    async fn manifest_platforms(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Vec<Platform>>, RegistryError> {
        self.clean(self.inner.manifest_platforms(repo, reference).await)
    }

    fn can_delete(&self) -> Result<(), String> {
        self.inner
            .can_delete()
            .map_err(|why| self.redactor.scrub_string(why))
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<DeleteOutcome, RegistryError> {
        self.clean(self.inner.delete_tag(repo, tag).await)
    }

    async fn has_manifest(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        self.clean(self.inner.has_manifest(repo, digest).await)
    }

    async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestBytes>, RegistryError> {
        self.clean(self.inner.get_manifest(repo, reference).await)
    }

    async fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        manifest: &ManifestBytes,
    ) -> Result<Option<String>, RegistryError> {
        self.clean(self.inner.put_manifest(repo, tag, manifest).await)
    }

    fn stats(&self) -> Stats {
        self.inner.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::memory::MemoryRegistry;
    use crate::secret::Secret;

    /// The methods declared in the body starting at `start` (up to the first
    /// line that is a lone `}`).
    fn methods(source: &str, start: &str) -> Vec<String> {
        let body = &source[source.find(start).expect("the block is there")..];
        let body = &body[..body.find("\n}\n").expect("the block ends")];
        let mut names: Vec<String> = body
            .lines()
            .filter_map(|l| {
                let l = l.strip_prefix("    ")?;
                let l = l.strip_prefix("async ").unwrap_or(l);
                let rest = l.strip_prefix("fn ")?;
                Some(rest.split(['(', '<']).next()?.to_string())
            })
            .collect();
        names.sort();
        names
    }

    /// A trait method not forwarded here runs its default instead of the
    /// backend's — silently: a Docker Hub that "cannot" list newest first
    /// would never use the inventory cache. Every one must be forwarded.
    #[test]
    fn every_method_of_the_trait_is_forwarded() {
        let declared = methods(include_str!("mod.rs"), "pub trait Registry");
        let forwarded = methods(
            include_str!("redacted.rs"),
            "impl<R: Registry> Registry for",
        );
        assert!(declared.len() > 10, "{declared:?}");
        assert_eq!(declared, forwarded);
    }

    #[tokio::test]
    async fn every_error_leaves_redacted() {
        let redactor = Redactor::new();
        let inner = MemoryRegistry::new().refusing_deletes(403);
        let wrapped = Redacted::new(inner, redactor.clone());
        // A token issued after the wrapper was made.
        redactor.add(&Secret::new("issued-token-42"));
        let e = wrapped.delete_tag("base", "issued-token-42").await;
        let e = e.expect_err("deletes are refused");
        assert!(!e.to_string().contains("issued-token-42"), "{e}");
        assert!(e.to_string().contains("(redacted)"), "{e}");
    }
}
