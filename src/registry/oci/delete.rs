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
//! 1. The tag's manifest is read; absent → [`DeleteOutcome::AlreadyGone`]
//!    (only ever said of a tag not found, here or at a later read of it).
//!    Its digest is that of the bytes read (see [`super::digest`]): a
//!    registry that sends no `Docker-Content-Digest` is no obstacle, and
//!    one whose header the bytes contradict gets no delete at all. The
//!    manifest is then read *by that digest*, which must give the same
//!    manifest: a registry that serves a converted or rewritten manifest
//!    without saying its digest does not know the digest of the bytes it
//!    served, so nothing it names can be deleted (nor restored) — a
//!    [`RegistryError::Contradiction`], which stops the prune.
//! 2. A tag delete (`DELETE /v2/<name>/manifests/<tag>`, the OCI spec's
//!    removal of the tag alone) is sent only for a tag whose manifest no
//!    other tag of the repository points to, directly or as an index
//!    listing it: some registries "delete a tag" by deleting its manifest,
//!    which takes every tag on it. Those other tags are listed and read for
//!    every such delete; a listing that answers 404 or errs, or that lacks
//!    the tag just read (`{"tags": null}`, a stale or partial page), leaves
//!    them *unknown*, and the tag is not deleted ([`RegistryError::Changed`]:
//!    running again helps), never taken as "no other tags". A tag that
//!    shares its manifest always takes step 3, whatever the registry did
//!    before: a tag delete that behaved on an unshared manifest proves
//!    nothing about a shared one. Whether the registry has tag deletes is
//!    learnt from the first one: distribution 2.8 answers `400
//!    DIGEST_INVALID`, Harbor `UNSUPPORTED` (any 4xx but 401/403/404 means
//!    "not supported", and step 3 is used from then on). After *every* tag
//!    delete the manifest must still be fetchable by digest; one that went
//!    with it is pushed back by digest (from the bytes read in step 1) and
//!    tag deletes are not used again. (A tag pushed onto the manifest
//!    between that listing and the delete is a race no registry API closes.)
//! 3. Otherwise the tag is moved onto a throw-away manifest of its own — the
//!    2-byte `{}` config blob (uploaded when the repository lacks it), no
//!    layers, an annotation naming the tag, the time to the nanosecond, the
//!    process and a counter, so no other manifest can have its digest — the
//!    tag is read again to be sure it points at the throw-away (its bytes as
//!    pushed, or as the registry re-serialised them: the annotation is in
//!    them), and that digest alone is deleted. Before moving, the tag is
//!    read again (only the manifest judged is moved) and deletes are
//!    checked to be allowed at all (a `DELETE` of a digest that cannot
//!    exist: 404 means allowed, 405 `UNSUPPORTED` means not). The digest
//!    deleted is never the tag's original digest nor any digest this run
//!    saw another tag on. A 404 to that delete, the tag having just been
//!    read on it, means the registry does not know the manifest by the
//!    digest of the bytes it served: a failure, never "already gone". On
//!    any failure after the move the tag is put back on its manifest (the
//!    bytes read in step 1, pushed again, read back), and the error says
//!    whether it is back. A tag found on something else than the
//!    throw-away is someone else's push: left as it is, and said so. This
//!    is what regclient does too (lab notes §0 item 4); it needs the push
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
        if let Some(gone) = self.check_known_by_digest(name, tag, &digest).await? {
            return Ok(gone);
        }
        if self.tag_delete.load(Ordering::Relaxed) != UNSUPPORTED {
            // What a tag delete could take with it; unknown is an error.
            let sharers = self.sharers(name, tag, &digest).await?;
            if sharers.is_empty() {
                if let ByTag::Done(outcome) = self.delete_by_tag(name, tag).await? {
                    if outcome == DeleteOutcome::Deleted {
                        self.check_manifest_kept(name, tag, &digest, &current)
                            .await?;
                    }
                    return Ok(outcome);
                }
            } else {
                self.client.notes().info(|| {
                    format!(
                        "{name}:{tag} shares its manifest {digest} with {}: it is moved onto a throw-away manifest, never deleted by tag",
                        sharers
                            .iter()
                            .map(|(t, _)| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
            }
        }
        self.untag(name, tag, &digest, &current).await
    }

    fn forget_tag(&self, name: &str, tag: &str) {
        self.seen
            .lock()
            .expect("lock")
            .remove(&(name.to_string(), tag.to_string()));
    }

    /// The manifest just read by tag must be the one the registry knows by
    /// its digest: that digest is what a delete names, what the journal
    /// records and what `restore` reads back. A registry that serves a
    /// converted or rewritten manifest without saying its digest fails
    /// this (its bytes hash to a digest it does not know): a
    /// [`RegistryError::Contradiction`], nothing touched. `Some` when the
    /// tag vanished meanwhile; a tag that moved is [`RegistryError::Changed`].
    async fn check_known_by_digest(
        &self,
        name: &str,
        tag: &str,
        digest: &str,
    ) -> Result<Option<DeleteOutcome>, RegistryError> {
        let by_digest = self.fetch_manifest(name, digest).await?;
        let answer = match &by_digest {
            Some(m) if m.digest.as_deref() == Some(digest) => return Ok(None),
            Some(m) => format!(
                "serves another manifest for it ({})",
                m.digest.as_deref().unwrap_or("of unknown digest")
            ),
            None => "answers 404 for it".to_string(),
        };
        // Not a race with someone moving the tag?
        if let Some(gone) = self.recheck(name, tag, digest).await? {
            return Ok(Some(gone));
        }
        let registry = self.registry_name();
        Err(RegistryError::Contradiction {
            method: "GET".into(),
            url: self.repo_url(name, &["manifests", digest]).to_string(),
            detail: format!(
                "{registry} serves {name}:{tag} as bytes whose digest is {digest}, but {answer}: the registry does not know the manifest by the digest of the bytes it served (it converts or rewrites manifests, without saying their digest); tagsweep cannot tell which manifest the tag points to, and deletes nothing on this answer"
            ),
            hint: Some(format!(
                "something between tagsweep and the registry serving {name} rewrites manifests (a proxy or a cache), or the registry converts them: point `registry:` in the manifest at the registry itself, or fix what is in between; running again will not help while it is there"
            )),
        })
    }

    /// `DELETE /v2/<name>/manifests/<tag>`. A 2xx is only an answer: the
    /// caller checks what it did before trusting tag deletes
    /// ([`Self::check_manifest_kept`]); a refusal is remembered.
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

    /// After every tag delete (of a tag no other shared): the manifest must
    /// still be fetchable by digest. A registry whose "tag delete" took the
    /// manifest gets it pushed back by digest (from the bytes read before)
    /// and is not sent tag deletes again; one that kept it is trusted for
    /// the next unshared tag — and checked again then.
    async fn check_manifest_kept(
        &self,
        name: &str,
        tag: &str,
        digest: &str,
        original: &Fetched,
    ) -> Result<(), RegistryError> {
        let kept = match self.fetch_manifest(name, digest).await {
            Ok(kept) => kept.is_some(),
            Err(e) => {
                // Unchecked: not trusted again.
                self.tag_delete.store(UNSUPPORTED, Ordering::Relaxed);
                return Err(e);
            }
        };
        if kept {
            // Never over a refusal another delete found meanwhile.
            let _ = self.tag_delete.compare_exchange(
                UNKNOWN,
                SUPPORTED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            return Ok(());
        }
        self.tag_delete.store(UNSUPPORTED, Ordering::Relaxed);
        if let Err(e) = self.put_manifest(name, digest, original).await {
            return Err(RegistryError::Refused(format!(
                "{}: deleting {name}:{tag} by tag also removed its manifest {digest}, and pushing it back failed ({e}); the tag is gone as asked, but `tagsweep restore` cannot put it back until the manifest is pushed again (rebuild the image, or push those bytes by digest)",
                self.registry_name()
            )));
        }
        self.client.notes().warn(|| {
            format!(
                "warning: {}: deleting {name}:{tag} by tag also removed the manifest {digest}; pushed back; tags are now removed by moving them onto a throw-away manifest",
                self.client.base(),
            )
        });
        Ok(())
    }

    /// The other tags of `name` that point to `digest` (`true`) or to an
    /// index listing it as a child (`false`) — what a tag delete could take
    /// with it on a registry whose tag delete deletes the manifest. An
    /// error, never an empty list, when they cannot be known: a listing
    /// that answers 404 or errs, or one that lacks `tag` itself (`{"tags":
    /// null}`, a stale or partial page), `tag` having just been read.
    pub(super) async fn sharers(
        &self,
        name: &str,
        tag: &str,
        digest: &str,
    ) -> Result<Vec<(String, bool)>, RegistryError> {
        let unknown = |why: String| {
            RegistryError::Changed(format!(
                "{name}:{tag} was not deleted: which other tags share its manifest {digest} is unknown ({why}), and deleting it on {} could take them too; run again",
                self.registry_name()
            ))
        };
        let listed = match self.tag_names(name).await {
            Ok(Some(listed)) => listed,
            Ok(None) => {
                return Err(unknown(format!(
                    "the tag listing of {name} answers 404, although {tag} was just read"
                )))
            }
            Err(e @ RegistryError::Contradiction { .. }) => return Err(e),
            Err(e) if matches!(e.status(), Some(401 | 403)) => return Err(e),
            Err(e) => return Err(unknown(format!("listing the tags of {name} failed: {e}"))),
        };
        if !listed.iter().any(|t| t == tag) {
            return Err(unknown(format!(
                "the tag listing of {name} does not list {tag}, although it was just read: the listing is stale, partial or null"
            )));
        }
        let others: Vec<String> = listed.into_iter().filter(|t| t != tag).collect();
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

    /// `DELETE /v2/<name>/manifests/<digest>` of a manifest just found
    /// under a tag: `true` when deleted, `false` on 404 — which, the tag
    /// having just been read, means the registry does not know the manifest
    /// by that digest: a failure for the caller, never "already gone".
    async fn delete_digest(&self, name: &str, digest: &str) -> Result<bool, RegistryError> {
        let url = self.repo_url(name, &["manifests", digest]);
        let reply = self
            .send(
                Request::new(Method::DELETE, url),
                Scope::repo(name, Access::Delete),
            )
            .await?;
        match reply.status.as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.explain(&reply)),
        }
    }

    /// Moves the tag onto a throw-away manifest of its own, and deletes
    /// that: the tag goes, its manifest (`digest`) stays. Once the tag has
    /// been moved, every failure puts it back on `digest` (the bytes read
    /// before, pushed again) and says whether that worked.
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
        let (throwaway, unique) = throwaway_manifest(name, tag);
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
        // answer's header says).
        let ours = digest::of_bytes("sha256", &throwaway).expect("sha256 is known");
        let stored = reply
            .header("docker-content-digest")
            .map(|d| d.trim().to_string());
        let moved = match self.fetch_manifest(name, tag).await {
            Ok(moved) => moved,
            Err(e) => {
                return Err(self
                    .after_failed_untag(name, tag, digest, original, e)
                    .await)
            }
        };
        // What the tag points to now, if it is our throw-away: its bytes as
        // pushed, or as the registry rewrote them (our annotation in them,
        // or the digest the PUT answer named).
        let target = match &moved {
            None => {
                // Someone removed the tag meanwhile: it is gone; its
                // manifest was not touched, the throw-away is left untagged.
                return Ok(DeleteOutcome::AlreadyGone);
            }
            Some(m) if m.body == throwaway => Some(ours.clone()),
            Some(m)
                if carries_annotation(&m.body, &unique)
                    || (stored.is_some() && m.digest == stored) =>
            {
                m.digest.clone()
            }
            Some(m) => {
                return Err(RegistryError::Changed(format!(
                    "{name}:{tag} now points to {}, which is not the throw-away manifest tagsweep pushed on it: someone pushed to it meanwhile (or the registry rewrote the throw-away beyond recognition); left as it is — its manifest {digest} was not touched, nothing was deleted; check {name}:{tag}, then run again",
                    m.digest.as_deref().unwrap_or("a manifest of unknown digest")
                )))
            }
        };
        let Some(target) = target else {
            let e = RegistryError::Refused(format!(
                "{name}:{tag}: the registry serves tagsweep's throw-away manifest with bytes whose digest cannot be known; nothing was deleted"
            ));
            return Err(self
                .after_failed_untag(name, tag, digest, original, e)
                .await);
        };
        if let Some(why) = self.not_ours_to_delete(name, tag, digest, &target) {
            let e = RegistryError::Refused(format!(
                "{name}:{tag}: the throw-away manifest's digest {target} {why}; refusing to delete it; nothing was deleted"
            ));
            return Err(self
                .after_failed_untag(name, tag, digest, original, e)
                .await);
        }
        match self.delete_digest(name, &target).await {
            Ok(true) => Ok(DeleteOutcome::Deleted),
            Ok(false) => {
                let pushed = if target == ours {
                    String::new()
                } else {
                    format!(", not as the bytes pushed ({ours})")
                };
                let e = RegistryError::Refused(format!(
                    "{name}:{tag}: the registry does not know the manifest by the digest of the bytes it served: it served the throw-away manifest tagsweep moved the tag onto as {target}{pushed}, and DELETE of that digest answered 404; nothing was deleted\n  hint: the registry (or something in front of it) rewrites manifests; tagsweep cannot remove tags there — use the registry's own tools; running again will not help"
                ));
                Err(self
                    .after_failed_untag(name, tag, digest, original, e)
                    .await)
            }
            Err(e) => Err(self
                .after_failed_untag(name, tag, digest, original, e)
                .await),
        }
    }

    /// `e`, once `name:tag` is put back on `digest` after a failed untag:
    /// unchanged when it is back (the registry reads it there again), else
    /// with what went wrong and what to do.
    async fn after_failed_untag(
        &self,
        name: &str,
        tag: &str,
        digest: &str,
        original: &Fetched,
        e: RegistryError,
    ) -> RegistryError {
        let problem = match self.put_manifest(name, tag, original).await {
            Err(put) => format!("putting it back failed too ({put})"),
            Ok(()) => match self.fetch_manifest(name, tag).await {
                Ok(Some(back)) if back.digest.as_deref() == Some(digest) => {
                    self.remember_tag(name, tag, digest);
                    let back = format!("; {name}:{tag} was put back on its manifest {digest}");
                    return match e {
                        RegistryError::Refused(why) => {
                            RegistryError::Refused(match why.split_once("\n  hint: ") {
                                Some((why, hint)) => format!("{why}{back}\n  hint: {hint}"),
                                None => format!("{why}{back}"),
                            })
                        }
                        e => e,
                    };
                }
                Ok(Some(back)) => format!(
                    "its bytes were pushed back, but it now resolves to {}",
                    back.digest
                        .as_deref()
                        .unwrap_or("a manifest of unknown digest")
                ),
                Ok(None) => "its bytes were pushed back, but it does not resolve".to_string(),
                Err(read) => {
                    format!("its bytes were pushed back, but reading it again failed ({read})")
                }
            },
        };
        RegistryError::Refused(format!(
            "{e}\n  and {name}:{tag} is not back on its manifest {digest}: {problem}; it may point to tagsweep's throw-away manifest: push {digest} under that tag again (a manifest PUT of its bytes, read by digest)"
        ))
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

/// The annotation that makes a throw-away manifest unique.
const THROWAWAY_ANNOTATION: &str = "io.github.tagsweep.deleted";

/// A manifest that is this tag's alone — the empty config, no layers, and an
/// annotation no other manifest has — and that annotation's value.
fn throwaway_manifest(name: &str, tag: &str) -> (Vec<u8>, String) {
    let unique = format!(
        "{name}:{tag} {} {}-{}",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        std::process::id(),
        THROWAWAY_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut annotations = HashMap::new();
    annotations.insert(THROWAWAY_ANNOTATION, unique.clone());
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
    (
        serde_json::to_vec(&doc).expect("JSON values serialize"),
        unique,
    )
}

/// Whether `body` is a manifest carrying the throw-away annotation `unique`
/// (however the registry re-serialised it).
fn carries_annotation(body: &[u8], unique: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|doc| doc["annotations"][THROWAWAY_ANNOTATION].as_str() == Some(unique))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throwaway_manifests_are_unique_and_well_formed() {
        let (a, unique) = throwaway_manifest("kolla/base", "rocky-1");
        let (b, _) = throwaway_manifest("kolla/base", "rocky-1");
        assert_ne!(a, b);
        assert!(carries_annotation(&a, &unique));
        assert!(!carries_annotation(&b, &unique));
        // Re-serialised (pretty-printed), it is still recognised.
        let doc: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert!(carries_annotation(
            &serde_json::to_vec_pretty(&doc).unwrap(),
            &unique
        ));
        let Parsed::Image { config, .. } = image::parse_manifest(Some(image::OCI_MANIFEST), &a)
        else {
            panic!()
        };
        let config = config.unwrap();
        assert_eq!(config.digest, EMPTY_CONFIG_DIGEST);
        assert_eq!(config.size, Some(2));
    }
}
