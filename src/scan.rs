//! Building the inventory: list the namespace's repositories and the tags
//! of every repository that can matter, concurrently — a repository's tags
//! from the moment a page of the repository listing names it.
//!
//! Which repositories are listed: every image of the manifest, plus every
//! repository of the namespace whose name starts with the set's common prefix
//! (`debian-source-` for Linaro's Kolla set) — those are the candidates for
//! `unexpected_repositories`. Repositories of unrelated sets in the same
//! namespace are not listed: at Docker Hub's rate limit, that would multiply
//! the cost of an audit for nothing. When the images share no prefix, every
//! repository is listed.
//!
//! Whether a repository exists is a fact to establish, not a listing shape
//! ([`exists`]): a repository the registry lists exists; one a complete
//! listing leaves out does not; one the registry says is unknown (404) does
//! not; one the registry could neither list nor deny, but answers "no tags"
//! for, is *unknown* (`Repository::unconfirmed`) — never taken as an empty
//! repository whose images are all missing.
//!
//! Less is read when less is asked ([`Scope`]):
//! * `--build TAG…`: when `builds × repositories` look-ups of one tag cost
//!   fewer requests than listing every page (estimated from one repository's
//!   tag count), each tag is looked up instead;
//! * `--since DUR`: tags are listed newest first and each repository's
//!   listing stops at the first tag older than the window; the builds seen
//!   are then completed by looking up, in every expected image that did not
//!   show it, the build's tag (pushed before the window, it still counts).
//!
//! And less is read when little changed: with an inventory cache
//! ([`Incremental`]), a whole listing reads only what changed since an
//! earlier run (see [`crate::incremental`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use crate::incremental::{How, Outcome};
use crate::inventory::{Inventory, Repository, Tag};
use crate::inventory_cache::InventoryCache;
use crate::manifest::Manifest;
use crate::notes::Notes;
use crate::progress::Progress;
use crate::registry::{Registry, RegistryError, RegistryRepo, RepositoryList, TagQuery};

/// How much of the namespace an audit needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every tag of every candidate repository.
    #[default]
    All,
    /// Only these builds (`--build`).
    Builds(Vec<String>),
    /// Builds with a tag pushed at or after this time (`--since`).
    Since(DateTime<Utc>),
}

/// The inventory, and the builds it was gathered for when the scope named them.
#[derive(Debug)]
pub struct Scanned {
    pub inventory: Inventory,
    /// `None`: every build of the inventory counts; `Some`: only these.
    pub builds: Option<Vec<String>>,
    /// How the inventory cache served the listing, when it did.
    pub incremental: Option<crate::incremental::Outcome>,
}

/// An inventory cache to list from and to refresh, and where to say why
/// each changed repository is read (see [`crate::incremental`]).
pub struct Incremental<'a> {
    pub cache: &'a mut InventoryCache,
    pub notes: &'a Notes,
}

/// One repository whose tags are to be read.
struct Work {
    name: String,
    /// The repository listing's `last_updated`, as first seen this run.
    last_updated: Option<DateTime<Utc>>,
    /// `false`: an image of the manifest the registry could not list; its
    /// own listing must tell whether it exists.
    listed: bool,
}

/// Lists what an audit of `scope` needs (see the module documentation).
/// With `incremental`, a whole listing (`Scope::All`) of a registry that
/// lists newest first reads only what changed since the cache was written.
///
/// A whole listing (`All`, `Since`) starts reading a repository's tags as
/// soon as a page of the repository listing names it, rather than after
/// the last page. What the registry's whole repository listing says decides
/// what is kept: tags read for a repository named only by a listing that
/// shifted (and was read again without it) are dropped.
pub async fn scan(
    registry: &dyn Registry,
    manifest: &Manifest,
    concurrency: usize,
    progress: &Progress,
    scope: &Scope,
    incremental: Option<Incremental<'_>>,
) -> Result<Scanned, RegistryError> {
    let listed_at = Utc::now();
    let live = registry.snapshot_time().is_none();
    let concurrency = concurrency.max(1);
    let prefix = set_prefix(manifest.images.iter().map(|i| i.name.as_str()));
    let is_candidate = |name: &str| manifest.image(name).is_some() || name.starts_with(&prefix);
    let (listing, unlisted, listed, outcome) = match scope {
        Scope::Builds(builds) => {
            let listing = registry.list_repositories().await?;
            let unlisted = unlisted_images(manifest, &listing);
            let mut candidates: Vec<String> = listing
                .repositories
                .iter()
                .filter(|r| is_candidate(&r.name))
                .map(|r| r.name.clone())
                .collect();
            candidates.extend(unlisted.iter().cloned());
            let listed = if live
                && lookups_are_cheaper(registry, manifest, &candidates, builds.len()).await?
            {
                look_up(registry, &candidates, builds, concurrency, progress).await?
            } else {
                let works = candidates.into_iter().map(|name| Work {
                    listed: !unlisted.contains(&name),
                    name,
                    last_updated: None,
                });
                let reading = Reading {
                    since: None,
                    incremental: None,
                    listed_at,
                };
                let works = futures::stream::iter(works);
                read_tags(registry, manifest, works, reading, concurrency, progress)
                    .await?
                    .0
            };
            (listing, unlisted, listed, None)
        }
        Scope::All | Scope::Since(_) => {
            let since = match scope {
                Scope::Since(since) => Some(*since),
                _ => None,
            };
            let reading = Reading {
                since,
                incremental: incremental
                    .filter(|_| live && since.is_none() && registry.lists_newest_first()),
                listed_at,
            };
            let (sender, works) = futures::channel::mpsc::unbounded::<Work>();
            let sender = Mutex::new(Some(sender));
            let sent = Mutex::new(HashSet::new());
            let send = |work: Work| {
                let first = sent.lock().expect("not poisoned").insert(work.name.clone());
                if let (true, Some(sender)) = (first, &*sender.lock().expect("not poisoned")) {
                    // The reading side hangs up only when it failed, and
                    // then this listing is dropped too.
                    let _ = sender.unbounded_send(work);
                }
            };
            let seen = |repo: &RegistryRepo| {
                if is_candidate(&repo.name) {
                    send(Work {
                        name: repo.name.clone(),
                        last_updated: repo.last_updated,
                        listed: true,
                    });
                }
            };
            let listing = async {
                let listing = registry.list_repositories_streamed(&seen).await?;
                // Images the registry could not list: their own listing
                // must tell.
                let unlisted = unlisted_images(manifest, &listing);
                for name in &unlisted {
                    send(Work {
                        name: name.clone(),
                        last_updated: None,
                        listed: false,
                    });
                }
                // No more work: the reading ends with the last repository.
                sender.lock().expect("not poisoned").take();
                Ok::<_, RegistryError>((listing, unlisted))
            };
            let ((listing, unlisted), (listed, outcome)) = futures::future::try_join(
                listing,
                read_tags(registry, manifest, works, reading, concurrency, progress),
            )
            .await?;
            (listing, unlisted, listed, outcome)
        }
    };
    // Only what the whole repository listing names as a candidate, and the
    // images it could not list.
    let names: HashSet<&str> = listing
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    let keep = |name: &str| unlisted.contains(name) || (names.contains(name) && is_candidate(name));
    let mut listed: Listed = listed.into_iter().filter(|(name, _)| keep(name)).collect();
    let outcome = outcome.map(|mut outcome| {
        outcome.read.retain(|name, _| keep(name));
        outcome
    });
    let builds = match scope {
        Scope::All => None,
        Scope::Builds(builds) => Some(builds.clone()),
        Scope::Since(since) => Some(
            complete_recent_builds(registry, manifest, &mut listed, *since, concurrency).await?,
        ),
    };
    let mut inventory = Inventory::new(registry.name(), &manifest.namespace);
    inventory.taken_at = Some(registry.snapshot_time().unwrap_or_else(Utc::now));
    for repo in listing.repositories {
        inventory.repositories.insert(
            repo.name,
            Repository {
                private: repo.private,
                ..Repository::default()
            },
        );
    }
    for (name, tags) in listed {
        let listed_by_registry = !unlisted.contains(&name);
        match exists(listed_by_registry, tags.as_deref()) {
            Existence::Absent => {
                inventory.repositories.remove(&name);
            }
            existence => {
                let repo = inventory.repositories.entry(name).or_default();
                repo.unconfirmed = existence == Existence::Unknown;
                repo.tags = tags;
            }
        }
    }
    Ok(Scanned {
        inventory,
        builds,
        incremental: outcome,
    })
}

/// The images of `manifest` that an incomplete repository listing leaves
/// out (none when the listing is complete).
fn unlisted_images(manifest: &Manifest, listing: &RepositoryList) -> BTreeSet<String> {
    if listing.complete {
        return BTreeSet::new();
    }
    let names: HashSet<&str> = listing
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    manifest
        .images
        .iter()
        .filter(|i| !names.contains(i.name.as_str()))
        .map(|i| i.name.clone())
        .collect()
}

/// How [`read_tags`] reads each repository.
struct Reading<'a> {
    /// Only the tags pushed at or after this (`--since`): newest first.
    since: Option<DateTime<Utc>>,
    /// From the inventory cache, where it holds.
    incremental: Option<Incremental<'a>>,
    /// When this run began listing (recorded in the cache).
    listed_at: DateTime<Utc>,
}

/// Reads the tags of each repository of `works` as it comes, as `reading`
/// says, `concurrency` repositories at once (a repository's later pages
/// are read at once too: the HTTP client keeps `-j` requests in flight).
async fn read_tags(
    registry: &dyn Registry,
    manifest: &Manifest,
    works: impl futures::Stream<Item = Work>,
    reading: Reading<'_>,
    concurrency: usize,
    progress: &Progress,
) -> Result<(Listed, Option<Outcome>), RegistryError> {
    let Reading {
        since,
        mut incremental,
        listed_at,
    } = reading;
    let notes = incremental.as_ref().map(|i| i.notes);
    let namespace = manifest.namespace.as_str();
    // The bar shows from the first repository on (never an empty one).
    let mut started = false;
    let read = works
        .map(|work| {
            if std::mem::replace(&mut started, true) {
                progress.grow(1);
            } else {
                progress.start("listing", 1);
            }
            // With the cache: what it holds of the repository (nothing for
            // an image the registry could not list: it is listed in full).
            let cached = incremental
                .as_mut()
                .map(|i| work.listed.then(|| i.cache.take(&work.name)).flatten());
            async move {
                let detail = wants_detail(manifest, &work.name);
                let query = TagQuery::new(&detail);
                let (tags, how) = match (cached, notes, since) {
                    (Some(cached), Some(notes), _) => {
                        let verified = cached.as_ref().and_then(|c| c.verified_at);
                        let (tags, how) = crate::incremental::read(
                            registry,
                            namespace,
                            &work.name,
                            cached,
                            work.last_updated,
                            listed_at,
                            &query,
                            notes,
                        )
                        .await?;
                        (tags, Some((how, verified)))
                    }
                    (_, _, Some(since)) => (
                        registry.list_tags_since(&work.name, since, &query).await?,
                        None,
                    ),
                    _ => (registry.list_tags(&work.name, &query).await?, None),
                };
                progress.advance(registry.stats().requests);
                Ok::<_, RegistryError>((work, tags, how))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<(Work, Option<Vec<Tag>>, Option<(How, Option<DateTime<Utc>>)>)>>()
        .await;
    progress.finish();
    let read = read?;
    let mut outcome = incremental.map(|_| Outcome::default());
    let mut listed = Vec::with_capacity(read.len());
    for (work, tags, how) in read {
        if let (Some(outcome), Some((how, verified))) = (&mut outcome, how) {
            outcome.record(&work.name, how, listed_at, work.last_updated, verified);
        }
        listed.push((work.name, tags));
    }
    Ok((listed, outcome))
}

/// Whether a repository exists, as far as the registry said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existence {
    Present,
    Absent,
    Unknown,
}

/// Judges a repository's existence from what the registry answered:
/// `listed`: the repository listing (or catalog) named it; `tags`: its tag
/// listing (`None`: the registry said it does not exist, a 404).
///
/// Repositories that a *complete* listing leaves out are never asked about
/// (they are absent), so an unlisted repository here is one the registry
/// could not list. For it, tags prove it exists, and "no tags" proves
/// nothing: distribution 2.0–2.1 answered `{"tags": null}` for repositories
/// that do not exist (distribution#1186), 2.8 answers the same for one whose
/// tags were all deleted (`oci-registry-lab.md` §0.5, §7).
pub fn exists(listed: bool, tags: Option<&[Tag]>) -> Existence {
    match tags {
        // Deleted between the two listings, or unknown to the registry.
        None => Existence::Absent,
        Some(_) if listed => Existence::Present,
        Some([]) => Existence::Unknown,
        Some(_) => Existence::Present,
    }
}

type Listed = Vec<(String, Option<Vec<Tag>>)>;

/// What the audit needs of `repo`'s tags: the details (digest, platforms,
/// time) of its build tags, where `repo` is an image of the manifest
/// expected in that build; of other tags, and of repositories outside the
/// manifest, the names are enough.
pub fn wants_detail<'m>(
    manifest: &'m Manifest,
    repo: &str,
) -> impl Fn(&str) -> bool + Send + Sync + 'm {
    let image = manifest.image(repo);
    move |tag| image.is_some_and(|i| manifest.builds.is_build(tag) && i.expected_in(tag))
}

/// Whether looking `builds` tags up in every candidate takes fewer requests
/// than listing them, judging the listing's cost by one expected
/// repository's tag count (one request).
async fn lookups_are_cheaper(
    registry: &dyn Registry,
    manifest: &Manifest,
    candidates: &[String],
    builds: usize,
) -> Result<bool, RegistryError> {
    let Some(sample) = candidates.iter().find(|c| manifest.image(c).is_some()) else {
        return Ok(false);
    };
    let Some(count) = registry.tag_count(sample).await? else {
        return Ok(false);
    };
    let listing = candidates.len() as u64 * registry.listing_cost(count);
    let lookups = candidates.len() as u64 * builds as u64;
    Ok(lookups < listing)
}

/// Looks each build's tag up in every candidate.
async fn look_up(
    registry: &dyn Registry,
    candidates: &[String],
    builds: &[String],
    concurrency: usize,
    progress: &Progress,
) -> Result<Listed, RegistryError> {
    progress.start("looking up", candidates.len());
    let found = futures::stream::iter(candidates)
        .map(|name| async move {
            let mut tags = Vec::new();
            for build in builds {
                if let Some(tag) = registry.get_tag(name, build).await? {
                    tags.push(tag);
                }
            }
            progress.advance(registry.stats().requests);
            Ok::<_, RegistryError>((name.clone(), Some(tags)))
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await;
    progress.finish();
    found
}

/// The builds with a tag pushed within the window; each completed by looking
/// its tag up in the expected images whose recent listing did not show it.
/// A tag whose push time the registry does not report may be recent, so it
/// counts (an image's declared time proves nothing: a reproducible build
/// pushed now declares its commit's time). On a registry that reports no
/// push times (OCI), every build counts: reading more, never less.
async fn complete_recent_builds(
    registry: &dyn Registry,
    manifest: &Manifest,
    listed: &mut Listed,
    since: DateTime<Utc>,
    concurrency: usize,
) -> Result<Vec<String>, RegistryError> {
    let builds: BTreeSet<String> = listed
        .iter()
        .flat_map(|(_, tags)| tags.iter().flatten())
        .filter(|t| manifest.builds.is_build(&t.name) && t.pushed.is_none_or(|p| p >= since))
        .map(|t| t.name.to_string())
        .collect();
    let mut wanted = Vec::new();
    for (name, tags) in listed.iter() {
        let (Some(image), Some(tags)) = (manifest.image(name), tags) else {
            continue;
        };
        for build in &builds {
            if image.expected_in(build) && !tags.iter().any(|t| t.name == *build) {
                wanted.push((name.clone(), build.clone()));
            }
        }
    }
    let found: Vec<(String, Option<Tag>)> = futures::stream::iter(wanted)
        .map(
            |(repo, build)| async move { registry.get_tag(&repo, &build).await.map(|t| (repo, t)) },
        )
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let mut by_repo: HashMap<String, Vec<Tag>> = HashMap::new();
    for (repo, tag) in found {
        if let Some(tag) = tag {
            by_repo.entry(repo).or_default().push(tag);
        }
    }
    for (name, tags) in listed.iter_mut() {
        if let (Some(extra), Some(tags)) = (by_repo.remove(name), tags.as_mut()) {
            tags.extend(extra);
        }
    }
    Ok(builds.into_iter().collect())
}

/// The longest common prefix of the names, cut after its last separator
/// (`-`, `_`, `.`, `/`), so `debian-source-nova-api` and
/// `debian-source-nova-compute` give `debian-source-`, not `debian-source-nova-`
/// only when every name shares it.
pub fn set_prefix<'a>(mut names: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = names.next() else {
        return String::new();
    };
    let mut common = first.len();
    for name in names {
        common = first
            .bytes()
            .zip(name.bytes())
            .take(common)
            .take_while(|(a, b)| a == b)
            .count();
    }
    let shared = &first[..common];
    match shared.rfind(['-', '_', '.', '/']) {
        Some(i) => shared[..=i].to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{exists, set_prefix, wants_detail, Existence};
    use crate::inventory::Tag;

    #[test]
    fn existence_needs_a_listing_or_tags() {
        let some = [Tag::new("rocky-1")];
        // Listed by the registry: it exists, even with no tags.
        assert_eq!(exists(true, Some(&[])), Existence::Present);
        assert_eq!(exists(true, Some(&some)), Existence::Present);
        // A 404 for its tags: the registry says it does not exist.
        assert_eq!(exists(true, None), Existence::Absent);
        assert_eq!(exists(false, None), Existence::Absent);
        // Not listable: tags prove it exists, "no tags" proves nothing.
        assert_eq!(exists(false, Some(&some)), Existence::Present);
        assert_eq!(exists(false, Some(&[])), Existence::Unknown);
    }

    #[test]
    fn details_are_wanted_for_build_tags_where_the_image_is_expected() {
        let m = crate::manifest::parse_str(
            "m.yaml",
            "namespace: kolla\nbuilds: {pattern: '^rocky-\\d+$'}\nimages:\n  - base\n  - name: late\n    from: rocky-5\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let base = wants_detail(&m, "base");
        assert!(base("rocky-1") && !base("latest"));
        let late = wants_detail(&m, "late");
        assert!(
            late("rocky-5") && !late("rocky-4"),
            "not expected before from:"
        );
        assert!(
            !wants_detail(&m, "unrelated")("rocky-1"),
            "not an image of the manifest"
        );
    }

    #[test]
    fn prefix_stops_at_a_separator() {
        let p = |names: &[&str]| set_prefix(names.iter().copied());
        assert_eq!(
            p(&[
                "debian-source-nova-api",
                "debian-source-nova-compute",
                "debian-source-base"
            ]),
            "debian-source-"
        );
        assert_eq!(
            p(&["debian-source-nova-api", "debian-source-nova-compute"]),
            "debian-source-nova-"
        );
        assert_eq!(p(&["base", "nova-api"]), "");
        assert_eq!(p(&["debian-source-base"]), "debian-source-");
        assert_eq!(p(&["kolla/base", "kolla/nova"]), "kolla/");
        assert_eq!(p(&[]), "");
    }
}
