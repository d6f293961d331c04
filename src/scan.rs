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
//! ([`exists`]): a repository the registry lists exists; one the registry
//! says is unknown (404) does not; one the registry could neither list nor
//! deny, but answers "no tags" for, is *unknown* (`Repository::unconfirmed`)
//! — never taken as an empty repository whose images are all missing.
//!
//! An image a *complete* listing leaves out is not taken as absent on the
//! listing's word alone: its own tags are read (one request when it does
//! not exist). Docker Hub's listing is paged by offset and checks only that
//! its pages add up to `count`; a repository deleted before the read
//! position and another created after it, between two pages, shift every
//! item by one with the count unchanged, and an item that existed all along
//! is skipped. So: a 404 proves it absent, tags prove it present (a note
//! says the listing skipped it), and "no tags" leaves it absent as the
//! listing said (see [`exists`]). Nothing more is read when every image is
//! listed.
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

/// An inventory cache to list from and to refresh (see
/// [`crate::incremental`]).
pub struct Incremental<'a> {
    pub cache: &'a mut InventoryCache,
}

/// One repository whose tags are to be read.
struct Work {
    name: String,
    /// The repository listing's `last_updated`, as first seen this run.
    last_updated: Option<DateTime<Utc>>,
    /// `false`: an image of the manifest the repository listing did not
    /// name (the registry could not list, or a complete listing skipped
    /// it); its own listing, never taken from the inventory cache, must
    /// tell whether it exists.
    listed: bool,
}

/// Lists what an audit of `scope` needs (see the module documentation).
/// With `incremental`, a whole listing (`Scope::All`) of a registry that
/// lists newest first reads only what changed since the cache was written.
/// `notes` hears why a repository is read as it is (with the cache), and of
/// an image the repository listing skipped although it exists.
///
/// A whole listing (`All`, `Since`) starts reading a repository's tags as
/// soon as a page of the repository listing names it, rather than after
/// the last page. What the registry's whole repository listing says decides
/// what is kept: tags read for a repository named only by a listing that
/// shifted (and was read again without it) are dropped; an image of the
/// manifest it does not name is read (again) after it, never from the
/// cache.
pub async fn scan(
    registry: &dyn Registry,
    manifest: &Manifest,
    concurrency: usize,
    progress: &Progress,
    notes: &Notes,
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
            let candidates: Vec<String> = listing
                .repositories
                .iter()
                .filter(|r| is_candidate(&r.name))
                .map(|r| r.name.clone())
                .collect();
            // Images the listing did not name: their own listing must tell
            // (a look-up of a tag cannot tell a repository without it from
            // one that does not exist).
            let unlisted_works = unlisted.iter().map(|name| Work {
                name: name.clone(),
                last_updated: None,
                listed: false,
            });
            let reading = Reading {
                since: None,
                incremental: None,
                listed_at,
                notes,
            };
            let listed = if live
                && lookups_are_cheaper(registry, manifest, &candidates, builds.len()).await?
            {
                let mut found =
                    look_up(registry, &candidates, builds, concurrency, progress).await?;
                if !unlisted.is_empty() {
                    let works = futures::stream::iter(unlisted_works);
                    let read = read_tags(registry, manifest, works, reading, concurrency, progress);
                    found.extend(read.await?.0);
                }
                found
            } else {
                let works = candidates
                    .into_iter()
                    .map(|name| Work {
                        name,
                        last_updated: None,
                        listed: true,
                    })
                    .chain(unlisted_works);
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
                notes,
            };
            let (sender, works) = futures::channel::mpsc::unbounded::<Work>();
            let sender = Mutex::new(Some(sender));
            let sent = Mutex::new(HashSet::new());
            let send = |work: Work| {
                // An image the whole listing does not name is read again
                // even if a listing that shifted named it: that read may
                // have come from the cache, or from before a deletion.
                let first = sent.lock().expect("not poisoned").insert(work.name.clone());
                if let (true, Some(sender)) = (
                    first || !work.listed,
                    &*sender.lock().expect("not poisoned"),
                ) {
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
                // Images the listing did not name: their own listing must
                // tell.
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
    // images it did not name.
    let names: HashSet<&str> = listing
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    let keep = |name: &str| unlisted.contains(name) || (names.contains(name) && is_candidate(name));
    let listed: Listed = listed.into_iter().filter(|(name, _)| keep(name)).collect();
    let outcome = outcome.map(|mut outcome| {
        outcome.read.retain(|name, _| keep(name));
        outcome
    });
    // Whether each exists, before anything more is looked up in it.
    let mut absent = Vec::new();
    let mut unknown = HashSet::new();
    let mut present: Listed = Vec::with_capacity(listed.len());
    for (name, tags) in listed {
        let said = match (unlisted.contains(&name), listing.complete) {
            (false, _) => Listing::Named,
            (true, true) => Listing::LeftOut,
            (true, false) => Listing::Unavailable,
        };
        match exists(said, tags.as_deref()) {
            Existence::Absent => absent.push(name),
            Existence::Unknown => {
                unknown.insert(name.clone());
                present.push((name, tags));
            }
            Existence::Present => {
                if said == Listing::LeftOut {
                    notes.warn(|| {
                        format!(
                            "{}/{name}: the repository listing did not name it, but its tags are listed: taken as present (the listing's pages shifted while it was read)",
                            manifest.namespace
                        )
                    });
                }
                present.push((name, tags));
            }
        }
    }
    let mut listed = present;
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
    for name in absent {
        inventory.repositories.remove(&name);
    }
    for (name, tags) in listed {
        let unconfirmed = unknown.contains(&name);
        let repo = inventory.repositories.entry(name).or_default();
        repo.unconfirmed = unconfirmed;
        repo.tags = tags;
    }
    Ok(Scanned {
        inventory,
        builds,
        incremental: outcome,
    })
}

/// The images of `manifest` that the repository listing does not name.
fn unlisted_images(manifest: &Manifest, listing: &RepositoryList) -> BTreeSet<String> {
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
    /// Where the cache's reads say why a repository is read as it is.
    notes: &'a Notes,
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
        notes,
    } = reading;
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
                let (tags, how) = match (cached, since) {
                    (Some(cached), _) => {
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
                    (_, Some(since)) => (
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
    // A repository read once as listed and again as left out (see `scan`):
    // the second read, in full, is the one that counts.
    let read_again: HashSet<String> = read
        .iter()
        .filter(|(work, ..)| !work.listed)
        .map(|(work, ..)| work.name.clone())
        .collect();
    let mut outcome = incremental.map(|_| Outcome::default());
    let mut listed = Vec::with_capacity(read.len());
    for (work, tags, how) in read {
        if work.listed && read_again.contains(&work.name) {
            continue;
        }
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

/// What the repository listing (or catalog) said of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// It named the repository.
    Named,
    /// A complete listing ([`RepositoryList::complete`]) left it out.
    LeftOut,
    /// The registry could not list its repositories, and so did not name
    /// it (an OCI registry that refuses `_catalog`).
    Unavailable,
}

/// Judges a repository's existence from what the registry answered:
/// `said`: what the repository listing said of it; `tags`: its tag listing
/// (`None`: the registry said it does not exist, a 404).
///
/// * A 404 for its tags: absent, whatever the listing said (deleted between
///   the two, or unknown to the registry).
/// * Named by the listing: present, even with no tags.
/// * Left out by a complete listing: tags prove it exists (an offset-paged
///   listing skips an item when one before the read position is deleted
///   and another created between two pages: Docker Hub's count still adds
///   up); "no tags" leaves it absent, as the listing said — on
///   distribution 2.0–2.1, `{"tags": null}` is the answer for a repository
///   that does not exist (distribution#1186).
/// * Not listable: tags prove it exists, and "no tags" proves nothing:
///   distribution 2.0–2.1 answered `{"tags": null}` for repositories that
///   do not exist, 2.8 answers the same for one whose tags were all
///   deleted (`oci-registry-lab.md` §0.5, §7): unknown.
pub fn exists(said: Listing, tags: Option<&[Tag]>) -> Existence {
    match (said, tags) {
        (_, None) => Existence::Absent,
        (Listing::Named, Some(_)) => Existence::Present,
        (Listing::LeftOut, Some([])) => Existence::Absent,
        (Listing::Unavailable, Some([])) => Existence::Unknown,
        (Listing::LeftOut | Listing::Unavailable, Some(_)) => Existence::Present,
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
    use super::Listing::{LeftOut, Named, Unavailable};
    use super::{exists, set_prefix, wants_detail, Existence};
    use crate::inventory::Tag;

    #[test]
    fn existence_needs_a_listing_or_tags() {
        let some = [Tag::new("rocky-1")];
        // Listed by the registry: it exists, even with no tags.
        assert_eq!(exists(Named, Some(&[])), Existence::Present);
        assert_eq!(exists(Named, Some(&some)), Existence::Present);
        // A 404 for its tags: the registry says it does not exist.
        assert_eq!(exists(Named, None), Existence::Absent);
        assert_eq!(exists(Unavailable, None), Existence::Absent);
        // Not listable: tags prove it exists, "no tags" proves nothing.
        assert_eq!(exists(Unavailable, Some(&some)), Existence::Present);
        assert_eq!(exists(Unavailable, Some(&[])), Existence::Unknown);
    }

    #[test]
    fn a_complete_listing_that_skipped_a_repository_is_overruled_by_its_tags() {
        let some = [Tag::new("rocky-1")];
        // Its tags are listed: the listing's pages shifted, it exists.
        assert_eq!(exists(LeftOut, Some(&some)), Existence::Present);
        // A 404: the listing was right.
        assert_eq!(exists(LeftOut, None), Existence::Absent);
        // No tags at all: nothing overrules the listing (old registries
        // answer `{"tags": null}` for a repository that does not exist).
        assert_eq!(exists(LeftOut, Some(&[])), Existence::Absent);
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
