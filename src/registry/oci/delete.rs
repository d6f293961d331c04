//! Removing one tag, and only that tag — and never the build's manifest.
//!
//! Pruning is an *untag*: the tag goes, the manifest it pointed to stays in
//! the repository, fetchable by digest, until the registry's garbage
//! collection. So `tagsweep restore` can put the tag back exactly (a
//! manifest PUT of the same bytes), and a digest shared with other tags or
//! listed by an index is never at risk.
//!
//! The distribution API deletes *manifests*: `DELETE
//! /v2/<name>/manifests/<digest>` removes the manifest and every tag
//! pointing to it (verified on distribution 2.8: four tags on one digest,
//! one DELETE, no tag left, the digest 404; registry lab notes §3.4). So:
//!
//! 1. The tag's manifest is read; absent → [`DeleteOutcome::AlreadyGone`].
//!    Its digest is that of the bytes read (see [`super::digest`]): a
//!    registry that sends no `Docker-Content-Digest` is no obstacle, and
//!    one whose header the bytes contradict gets no delete at all.
//! 2. Where the registry supports the OCI tag delete (`DELETE
//!    /v2/<name>/manifests/<tag>`, removing the tag alone), it is used. The
//!    first time, tagsweep does not know: it tries, and remembers the
//!    answer. Distribution 2.8 answers `400 DIGEST_INVALID`, Harbor
//!    `UNSUPPORTED`: any 4xx but 401/403/404 means "not supported". When
//!    that first try succeeds, what it did is checked: the tags that shared
//!    the digest must still be there, and the manifest must still be
//!    fetchable by digest. A registry whose "tag delete" took more is put
//!    right (the lost tags pushed back, the manifest pushed back by digest,
//!    from the bytes read in step 1) and tag deletes are not used again.
//! 3. Otherwise the tag is moved onto a throw-away manifest of its own — the
//!    2-byte `{}` config blob (uploaded when the repository lacks it), no
//!    layers, an annotation naming the tag, the time to the nanosecond, the
//!    process and a counter, so no other manifest can have its digest — the
//!    tag is read again to be sure it points at the throw-away digest, and
//!    that digest alone is deleted. Before moving, the tag is read again
//!    (only the manifest judged is moved) and deletes are checked to be
//!    allowed at all (a `DELETE` of a digest that cannot exist: 404 means
//!    allowed, 405 `UNSUPPORTED` means not). The digest deleted is never
//!    the tag's original digest nor any digest this run saw another tag on.
//!    If that delete fails, the tag is put back on its manifest. This is
//!    what regclient does too (lab notes §0 item 4); it needs the push
//!    permission as well as delete.
//!
//! `405` on a delete means the registry does not allow deletes (distribution
//! with `storage.delete.enabled: false`; Docker Hub's registry API).
//! Untagged manifests and blobs stay in storage until the registry's garbage
//! collection; never run `garbage-collect --delete-untagged` on repositories
//! with multi-platform images (it deletes index children), nor before the
//! builds you may want to restore are settled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use reqwest::Method;

use super::client::{Access, OciAnswer, Scope};
use super::digest;
use super::image::{self, Parsed};
use super::{Fetched, OciRegistry};
use crate::registry::http::Request;
use crate::registry::{DeleteOutcome, RegistryError};

pub const UNKNOWN: u8 = 0;
pub const SUPPORTED: u8 = 1;
pub const UNSUPPORTED: u8 = 2;

pub const NO_DELETES: &str = "this registry does not allow deletes (on CNCF distribution, set storage.delete.enabled: true; Docker Hub deletes tags through hub.docker.com's API, registry: docker.io)";

/// `{}`: the empty config of throw-away manifests.
const EMPTY_CONFIG: &[u8] = b"{}";
const EMPTY_CONFIG_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// A digest no manifest has, to ask whether deletes are allowed.
const NO_SUCH_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

static THROWAWAY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What a tag delete did.
enum ByTag {
    Done(DeleteOutcome),
    /// The registry does not delete by tag.
    Unsupported,
}

impl OciRegistry {
    /// Removes `name:tag` and nothing else; its manifest stays (see the
    /// module documentation).
    pub(super) async fn delete_one(
        &self,
        name: &str,
        tag: &str,
    ) -> Result<DeleteOutcome, RegistryError> {
        let Some(current) = self.fetch_manifest(name, tag).await? else {
            self.forget_tag(name, tag);
            return Ok(DeleteOutcome::AlreadyGone);
        };
        let Some(digest) = current.digest.clone() else {
            return Err(RegistryError::Refused(format!(
                "{name}:{tag} on {}: a Docker schema 1 manifest served without Docker-Content-Digest, whose digest cannot be computed from the bytes (it is that of the unsigned payload); refusing to delete without knowing what would go. Push the image again (schema 2 or OCI), or delete it with the registry's own tools",
                self.registry_name()
            )));
        };
        match self.tag_delete.load(Ordering::Relaxed) {
            SUPPORTED => {
                if let ByTag::Done(outcome) = self.delete_by_tag(name, tag).await? {
                    return Ok(outcome);
                }
            }
            UNKNOWN => {
                // What a tag delete must spare, read before trying one.
                let sharers = self.sharers(name, tag, &digest).await?;
                if let ByTag::Done(outcome) = self.delete_by_tag(name, tag).await? {
                    self.check_tag_delete_spared(name, tag, &digest, &current, &sharers)
                        .await?;
                    return Ok(outcome);
                }
            }
            _ => {}
        }
        self.untag(name, tag, &digest, &current).await
    }

    fn forget_tag(&self, name: &str, tag: &str) {
        self.seen
            .lock()
            .expect("lock")
            .remove(&(name.to_string(), tag.to_string()));
    }

    /// `DELETE /v2/<name>/manifests/<tag>`; whether the registry supports it
    /// is remembered.
    async fn delete_by_tag(&self, name: &str, tag: &str) -> Result<ByTag, RegistryError> {
        let url = self.repo_url(name, &["manifests", tag]);
        let reply = self
            .send(
                Request::new(Method::DELETE, url),
                Scope::repo(name, Access::Delete),
            )
            .await?;
        let known = self.tag_delete.load(Ordering::Relaxed) == SUPPORTED;
        match reply.status.as_u16() {
            200..=299 => {
                self.tag_delete.store(SUPPORTED, Ordering::Relaxed);
                self.forget_tag(name, tag);
                Ok(ByTag::Done(DeleteOutcome::Deleted))
            }
            404 if known => {
                self.forget_tag(name, tag);
                Ok(ByTag::Done(DeleteOutcome::AlreadyGone))
            }
            401 | 403 => Err(self.explain(&reply)),
            // 404 the first time: gone meanwhile, or no tag deletes; the
            // digest path finds out.
            400..=499 => {
                self.client.notes().info(|| {
                    format!(
                        "{} does not delete by tag ({}{}); deleting by digest, tag-safely",
                        self.client.base(),
                        reply.status,
                        reply
                            .error_code()
                            .map(|c| format!(" {c}"))
                            .unwrap_or_default()
                    )
                });
                self.tag_delete.store(UNSUPPORTED, Ordering::Relaxed);
                Ok(ByTag::Unsupported)
            }
            _ => Err(self.explain(&reply)),
        }
    }

    /// After the first tag delete: the tags that shared the digest must
    /// still be there, and the manifest itself must still be fetchable by
    /// digest. If the registry took more than the tag, put it back (the lost
    /// tags, then the manifest by digest) and stop using tag deletes.
    async fn check_tag_delete_spared(
        &self,
        name: &str,
        tag: &str,
        digest: &str,
        original: &Fetched,
        sharers: &[(String, bool)],
    ) -> Result<(), RegistryError> {
        let mut lost = Vec::new();
        for (other, _) in sharers.iter().filter(|(_, direct)| *direct) {
            if self.fetch_manifest(name, other).await?.is_none() {
                lost.push(other.clone());
            }
        }
        for other in &lost {
            self.put_manifest(name, other, original).await?;
        }
        let manifest_lost = self.fetch_manifest(name, digest).await?.is_none();
        if manifest_lost {
            self.put_manifest(name, digest, original).await?;
        }
        if lost.is_empty() && !manifest_lost {
            return Ok(());
        }
        self.tag_delete.store(UNSUPPORTED, Ordering::Relaxed);
        let mut took = lost.join(", ");
        if manifest_lost {
            if !took.is_empty() {
                took.push_str(" and ");
            }
            took.push_str(&format!("the manifest {digest}"));
        }
        self.client.notes().warn(|| {
            format!(
                "warning: {}: deleting {name}:{tag} by tag also removed {took}; pushed back; tags are now removed by moving them onto a throw-away manifest",
                self.client.base(),
            )
        });
        Ok(())
    }

    /// The other tags of `name` that point to `digest` (`true`) or to an
    /// index listing it as a child (`false`).
    async fn sharers(
        &self,
        name: &str,
        tag: &str,
        digest: &str,
    ) -> Result<Vec<(String, bool)>, RegistryError> {
        let others: Vec<String> = self
            .tag_names(name)
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t != tag)
            .collect();
        let found: Vec<Option<(String, bool)>> = futures::stream::iter(others)
            .map(|other| async move {
                let Some((d, children)) = self.digest_and_children(name, &other).await? else {
                    return Ok::<_, RegistryError>(None);
                };
                Ok(if d == digest {
                    Some((other, true))
                } else if children.iter().any(|c| c == digest) {
                    Some((other, false))
                } else {
                    None
                })
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut found: Vec<(String, bool)> = found.into_iter().flatten().collect();
        found.sort();
        Ok(found)
    }

    /// What `name:tag` points to, and the children if it is an index: from
    /// this run's reads when we have them, else read.
    async fn digest_and_children(
        &self,
        name: &str,
        tag: &str,
    ) -> Result<Option<(String, Vec<String>)>, RegistryError> {
        let known = self
            .seen
            .lock()
            .expect("lock")
            .get(&(name.to_string(), tag.to_string()))
            .filter(|(_, at)| at.elapsed() < super::SEEN_TRUSTED_FOR)
            .map(|(d, _)| d.clone());
        if let Some(d) = known {
            if let Some(children) = self.children.lock().expect("lock").get(&d) {
                return Ok(Some((d, children.clone())));
            }
        }
        let Some(fetched) = self.fetch_manifest(name, tag).await? else {
            return Ok(None);
        };
        let Some(d) = fetched.digest.clone() else {
            return Err(RegistryError::Refused(format!(
                "{name}:{tag} on {}: a Docker schema 1 manifest served without Docker-Content-Digest, whose digest cannot be computed from the bytes; cannot tell which tags share a digest, so refusing to delete. Push that tag again (schema 2 or OCI), or delete it with the registry's own tools",
                self.registry_name()
            )));
        };
        self.remember_tag(name, tag, &d);
        let children = match image::parse_manifest(fetched.content_type.as_deref(), &fetched.body) {
            Parsed::Index { children, .. } => children,
            _ => Vec::new(),
        };
        self.children
            .lock()
            .expect("lock")
            .insert(d.clone(), children.clone());
        Ok(Some((d, children)))
    }

    /// Reads the tag again right before acting on it: `Some(AlreadyGone)` when
    /// it vanished, an error when it now points elsewhere (nothing is touched
    /// then), `None` when it still points to `digest`.
    async fn recheck(
        &self,
        name: &str,
        tag: &str,
        digest: &str,
    ) -> Result<Option<DeleteOutcome>, RegistryError> {
        match self.fetch_manifest(name, tag).await? {
            None => {
                self.forget_tag(name, tag);
                Ok(Some(DeleteOutcome::AlreadyGone))
            }
            Some(now) if now.digest.as_deref() != Some(digest) => Err(RegistryError::Changed(format!(
                "{name}:{tag} changed while we deleted it (it pointed to {digest}, now to {}); nothing was deleted; run again",
                now.digest.as_deref().unwrap_or("an unknown digest")
            ))),
            Some(_) => Ok(None),
        }
    }

    async fn delete_digest(
        &self,
        name: &str,
        digest: &str,
    ) -> Result<DeleteOutcome, RegistryError> {
        let url = self.repo_url(name, &["manifests", digest]);
        let reply = self
            .send(
                Request::new(Method::DELETE, url),
                Scope::repo(name, Access::Delete),
            )
            .await?;
        match reply.status.as_u16() {
            200..=299 => Ok(DeleteOutcome::Deleted),
            404 => Ok(DeleteOutcome::AlreadyGone),
            _ => Err(self.explain(&reply)),
        }
    }

    /// Asks once whether deletes are allowed, by deleting a digest that
    /// cannot exist: 404 (or 400) means yes; 405 means no.
    async fn ensure_deletes_allowed(&self, name: &str) -> Result<(), RegistryError> {
        self.deletes_allowed
            .get_or_try_init(|| async {
                let url = self.repo_url(name, &["manifests", NO_SUCH_DIGEST]);
                let reply = self
                    .send(
                        Request::new(Method::DELETE, url),
                        Scope::repo(name, Access::Delete),
                    )
                    .await?;
                match reply.status.as_u16() {
                    200..=299 | 400 | 404 => Ok(()),
                    _ => Err(self.explain(&reply)),
                }
            })
            .await
            .map(|_| ())
    }

    /// Moves the tag onto a throw-away manifest of its own, and deletes
    /// that: the tag goes, its manifest (`digest`) stays.
    async fn untag(
        &self,
        name: &str,
        tag: &str,
        digest: &str,
        original: &Fetched,
    ) -> Result<DeleteOutcome, RegistryError> {
        self.ensure_deletes_allowed(name).await?;
        self.ensure_empty_config(name).await?;
        // Re-read right before moving: only the manifest we judged is moved.
        if let Some(gone) = self.recheck(name, tag, digest).await? {
            return Ok(gone);
        }
        let throwaway = throwaway_manifest(name, tag);
        let url = self.repo_url(name, &["manifests", tag]);
        let reply = self
            .send(
                Request::new(Method::PUT, url).body(image::OCI_MANIFEST, &throwaway),
                Scope::repo(name, Access::Push),
            )
            .await?;
        if !reply.status.is_success() {
            return Err(self.explain(&reply));
        }
        self.forget_tag(name, tag);
        // The digest of what we pushed is that of its bytes (whatever the
        // answer's header says); the tag must now point to it.
        let ours = digest::of_bytes("sha256", &throwaway).expect("sha256 is known");
        let moved = self.fetch_manifest(name, tag).await?;
        let is_ours = moved
            .as_ref()
            .is_some_and(|m| m.digest.as_deref() == Some(ours.as_str()) && m.body == throwaway);
        if !is_ours {
            return Err(RegistryError::Changed(format!(
                "{name}:{tag} was pushed to by someone else while we removed it; left as it is (its manifest {digest} was not touched); run again"
            )));
        }
        if let Some(why) = self.not_ours_to_delete(name, tag, digest, &ours) {
            return Err(RegistryError::Refused(format!(
                "{name}:{tag}: the throw-away manifest's digest {ours} {why}; refusing to delete it; {name}:{tag} now points to {ours}: push the tag again"
            )));
        }
        match self.delete_digest(name, &ours).await {
            Ok(_) => Ok(DeleteOutcome::Deleted),
            Err(e) => {
                // Put the tag back where it was.
                match self.put_manifest(name, tag, original).await {
                    Ok(()) => Err(e),
                    Err(restore) => Err(RegistryError::Refused(format!(
                        "{e}\n  and putting {name}:{tag} back on {digest} failed too ({restore}): it now points to a throw-away manifest; run `tagsweep restore` from the journal, or push it again"
                    ))),
                }
            }
        }
    }

    /// Why the throw-away digest `ours` must not be deleted, if it must not:
    /// it is the tag's original manifest, or a digest (or index child) this
    /// run saw another tag of `name` on. Never expected — the throw-away is
    /// unique by construction — but a delete removes every tag on a digest.
    fn not_ours_to_delete(
        &self,
        name: &str,
        tag: &str,
        original: &str,
        ours: &str,
    ) -> Option<&'static str> {
        if ours == original {
            return Some("is the tag's own manifest");
        }
        let seen = self.seen.lock().expect("lock");
        let children = self.children.lock().expect("lock");
        let shared = seen.iter().any(|((repo, other), (d, _))| {
            repo == name
                && other != tag
                && (d == ours || children.get(d).is_some_and(|c| c.iter().any(|c| c == ours)))
        });
        shared.then_some("is also another tag's")
    }

    /// Pushes `manifest`'s bytes as `name:reference` (a tag, or its own
    /// digest to keep it untagged), with its media type as `Content-Type`.
    pub(super) async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        manifest: &Fetched,
    ) -> Result<(), RegistryError> {
        let content_type = manifest
            .content_type
            .clone()
            .unwrap_or_else(|| image::OCI_MANIFEST.to_string());
        let url = self.repo_url(name, &["manifests", reference]);
        let reply = self
            .send(
                Request::new(Method::PUT, url).body(&content_type, &manifest.body),
                Scope::repo(name, Access::Push),
            )
            .await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(self.explain(&reply))
        }
    }

    /// Makes sure the repository holds the `{}` blob (HEAD, else upload:
    /// POST for a session, PUT the bytes with their digest).
    async fn ensure_empty_config(&self, name: &str) -> Result<(), RegistryError> {
        if self.empty_config_in.lock().expect("lock").contains(name) {
            return Ok(());
        }
        let blob = self.repo_url(name, &["blobs", EMPTY_CONFIG_DIGEST]);
        let head = self
            .send(
                Request::new(Method::HEAD, blob),
                Scope::repo(name, Access::Pull),
            )
            .await?;
        if !head.status.is_success() {
            let start = self.repo_url(name, &["blobs", "uploads", ""]);
            let reply = self
                .send(
                    Request::new(Method::POST, start),
                    Scope::repo(name, Access::Push),
                )
                .await?;
            if reply.status.as_u16() != 202 {
                return Err(self.explain(&reply));
            }
            let location = reply.header("location").ok_or_else(|| {
                RegistryError::Refused(format!("{}: the upload session has no Location", reply.url))
            })?;
            let mut put = self.client.same_origin(location, &reply.url)?;
            put.query_pairs_mut()
                .append_pair("digest", EMPTY_CONFIG_DIGEST);
            let reply = self
                .send(
                    Request::new(Method::PUT, put).body("application/octet-stream", EMPTY_CONFIG),
                    Scope::repo(name, Access::Push),
                )
                .await?;
            if !reply.status.is_success() {
                return Err(self.explain(&reply));
            }
        }
        self.empty_config_in
            .lock()
            .expect("lock")
            .insert(name.to_string());
        Ok(())
    }
}

/// A manifest that is this tag's alone: the empty config, no layers, and an
/// annotation no other manifest has.
fn throwaway_manifest(name: &str, tag: &str) -> Vec<u8> {
    let unique = format!(
        "{name}:{tag} {} {}-{}",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        std::process::id(),
        THROWAWAY_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut annotations = HashMap::new();
    annotations.insert("io.github.tagsweep.deleted", unique);
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": image::OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": EMPTY_CONFIG_DIGEST,
            "size": EMPTY_CONFIG.len(),
        },
        "layers": [],
        "annotations": annotations,
    });
    serde_json::to_vec(&doc).expect("JSON values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throwaway_manifests_are_unique_and_well_formed() {
        let a = throwaway_manifest("kolla/base", "rocky-1");
        let b = throwaway_manifest("kolla/base", "rocky-1");
        assert_ne!(a, b);
        let Parsed::Image { config, .. } = image::parse_manifest(Some(image::OCI_MANIFEST), &a)
        else {
            panic!()
        };
        let config = config.unwrap();
        assert_eq!(config.digest, EMPTY_CONFIG_DIGEST);
        assert_eq!(config.size, Some(2));
    }
}
