//! Filling in the platforms the registry's listing leaves out.
//!
//! A build is only complete when every image carries the manifest's
//! `platforms`, but since August 2025 Docker Hub's tag endpoints answer
//! `"images": []` for every tag (docker/hub-feedback #2484; Docker Hub notes
//! §11): a listing says nothing of platforms, and a tag whose platforms are
//! unknown can never be called short of one — an amd64-only image would
//! pass as complete. The only source left is each tag's manifest, read from
//! the registry API ([`Registry::manifest_platforms`]); each such GET counts
//! against Docker Hub's pull limit (notes §6). So this reads no more than
//! the judgement needs — build tags of expected images, in the builds
//! judged, whose platforms are unknown — each digest once, and remembers
//! every answer in the [`PlatformCache`] (a digest's manifest never
//! changes): a build is paid for once, ever.
//!
//! It runs between the scan and the policy (`evaluate`), which it leaves
//! pure: only the inventory's `platforms` are filled in.

use std::collections::HashMap;

use futures::StreamExt;

use crate::inventory::{intern_platforms, Inventory};
use crate::manifest::Manifest;
use crate::platform::Platform;
use crate::platform_cache::{is_digest, PlatformCache};
use crate::registry::{Registry, RegistryError};

/// What [`verify_platforms`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Tags whose platforms were unknown and are needed (build tags of
    /// expected images, in the builds judged).
    pub needed: usize,
    /// Of those, tags answered from the cache.
    pub from_cache: usize,
    /// Manifests asked of the registry ([`Registry::manifest_platforms`]
    /// calls; on Docker Hub, one manifest GET each, counted against the pull
    /// limit). Tags sharing a digest share one.
    pub fetched: usize,
    /// Tags whose platforms are still unknown afterwards (the registry could
    /// not say).
    pub unknown: usize,
}

/// One manifest to ask for, and the tags waiting for its answer.
struct Lookup {
    repo: String,
    /// The tag's digest, or its name when the listing gave no digest.
    reference: String,
    by_digest: bool,
    /// (repository, index in its tags).
    tags: Vec<(String, usize)>,
}

/// Fills in `tag.platforms` where it is unknown (`None`) and the audit
/// needs it: when `manifest.platforms` is non-empty, for every tag of a
/// repository of an expected image (`manifest.image(name)`) that is a build
/// (`manifest.builds.is_build`) expected in that image
/// (`image.expected_in`) and, when `builds` is given, one of those builds.
///
/// Each such tag is answered from `cache` by its digest, else by
/// [`Registry::manifest_platforms`] of its digest (its tag name when the
/// listing gave no digest), at most `concurrency` at a time, one call per
/// distinct digest. Known answers for digests are added to `cache` as they
/// come, so that what was read survives a later failure (the caller saves
/// the cache). A tag the registry cannot describe stays `None`.
///
/// Errors: the first failure of the registry (the tags answered before it
/// are filled in all the same).
pub async fn verify_platforms(
    registry: &dyn Registry,
    manifest: &Manifest,
    inventory: &mut Inventory,
    builds: Option<&[String]>,
    cache: &mut PlatformCache,
    concurrency: usize,
) -> Result<VerifyStats, RegistryError> {
    let mut stats = VerifyStats::default();
    if manifest.platforms.is_empty() {
        return Ok(stats);
    }
    let mut found: Vec<(String, usize, Vec<Platform>)> = Vec::new();
    let mut lookups: Vec<Lookup> = Vec::new();
    let mut by_digest: HashMap<String, usize> = HashMap::new();
    for (name, repo) in &inventory.repositories {
        let Some(image) = manifest.image(name) else {
            continue;
        };
        for (index, tag) in repo.tags.iter().flatten().enumerate() {
            let wanted = tag.platforms.is_none()
                && manifest.builds.is_build(&tag.name)
                && image.expected_in(&tag.name)
                && builds.is_none_or(|b| b.iter().any(|t| *t == tag.name));
            if !wanted {
                continue;
            }
            stats.needed += 1;
            let place = (name.clone(), index);
            match tag.digest.as_deref().filter(|d| is_digest(d)) {
                Some(digest) => {
                    if let Some(list) = cache.get(digest) {
                        stats.from_cache += 1;
                        found.push((place.0, place.1, list.to_vec()));
                    } else if let Some(&k) = by_digest.get(digest) {
                        lookups[k].tags.push(place);
                    } else {
                        by_digest.insert(digest.to_string(), lookups.len());
                        lookups.push(Lookup {
                            repo: name.clone(),
                            reference: digest.to_string(),
                            by_digest: true,
                            tags: vec![place],
                        });
                    }
                }
                None => lookups.push(Lookup {
                    repo: name.clone(),
                    reference: tag.name.to_string(),
                    by_digest: false,
                    tags: vec![place],
                }),
            }
        }
    }

    stats.fetched = lookups.len();
    let mut failure = None;
    {
        let lookups = &lookups;
        let mut answers =
            futures::stream::iter(lookups.iter().enumerate())
                .map(|(k, l)| async move {
                    (k, registry.manifest_platforms(&l.repo, &l.reference).await)
                })
                .buffer_unordered(concurrency.max(1));
        while let Some((k, answer)) = answers.next().await {
            match answer {
                Ok(Some(list)) if !list.is_empty() => {
                    let lookup = &lookups[k];
                    if lookup.by_digest {
                        cache.insert(&lookup.reference, &list);
                    }
                    for (repo, index) in &lookup.tags {
                        found.push((repo.clone(), *index, list.clone()));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
    }

    let known = found.len();
    for (repo, index, list) in found {
        if let Some(tag) = inventory
            .repositories
            .get_mut(&repo)
            .and_then(|r| r.tags.as_mut())
            .and_then(|tags| tags.get_mut(index))
        {
            tag.platforms = Some(intern_platforms(list));
        }
    }
    stats.unknown = stats.needed - known;
    match failure {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Repository, Tag};
    use crate::manifest::parse_str;
    use crate::registry::memory::MemoryRegistry;

    fn platforms_of(list: &[&str]) -> Vec<Platform> {
        list.iter()
            .map(|s| Platform::parse_loose(s).unwrap())
            .collect()
    }

    fn digest(seed: &str) -> String {
        let hex: String = seed
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .chars()
            .cycle()
            .take(64)
            .collect();
        format!("sha256:{hex}")
    }

    fn manifest(platforms: &str) -> Manifest {
        let src = format!(
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n{platforms}images:\n  - base\n  - name: nova\n    builds: '^rocky-[12]$'\n"
        );
        parse_str("test.yaml", &src).unwrap_or_else(|p| panic!("{p:?}"))
    }

    /// A tag the way Docker Hub lists it now: a digest, no platforms.
    fn tag(name: &str, digest_seed: Option<&str>) -> Tag {
        let mut t = Tag::new(name);
        t.digest = digest_seed.map(digest);
        t
    }

    fn inventory(repos: Vec<(&str, Vec<Tag>)>) -> Inventory {
        let mut inv = Inventory::new("docker.io", "linaro");
        for (name, tags) in repos {
            inv.repositories.insert(
                name.to_string(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        inv
    }

    fn platforms(inv: &Inventory, repo: &str, tag: &str) -> Option<Vec<String>> {
        let t = inv.tags(repo)?.iter().find(|t| t.name == tag)?;
        t.platforms
            .as_ref()
            .map(|list| list.iter().map(ToString::to_string).collect())
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    const REQUIRED: &str = "platforms: [linux/amd64, linux/arm64]\n";

    /// base: rocky-1, rocky-2 (already known), rocky-3, latest; nova: rocky-1,
    /// rocky-3 (not expected in nova); extra (not in the manifest): rocky-1.
    fn fixture() -> Inventory {
        let mut known = tag("rocky-2", Some("b2"));
        known.platforms = Some(intern_platforms(platforms_of(&["linux/amd64"])));
        inventory(vec![
            (
                "base",
                vec![
                    tag("rocky-1", Some("b1")),
                    known,
                    tag("rocky-3", Some("b3")),
                    tag("latest", Some("b3")),
                ],
            ),
            (
                "nova",
                vec![tag("rocky-1", Some("n1")), tag("rocky-3", Some("n3"))],
            ),
            ("extra", vec![tag("rocky-1", Some("x1"))]),
        ])
    }

    #[test]
    fn only_unknown_build_tags_of_expected_images_are_looked_up() {
        let registry = MemoryRegistry::new()
            .manifest("base", &digest("b1"), &["linux/amd64", "linux/arm64/v8"])
            .manifest("nova", &digest("n1"), &["linux/amd64"]);
        let mut inv = fixture();
        let mut cache = PlatformCache::new();
        let stats = block(verify_platforms(
            &registry,
            &manifest(REQUIRED),
            &mut inv,
            None,
            &mut cache,
            4,
        ))
        .unwrap();
        assert_eq!(
            registry.asked(),
            [
                format!("manifest base {}", digest("b1")),
                format!("manifest base {}", digest("b3")),
                format!("manifest nova {}", digest("n1")),
            ],
            "not rocky-2 (known), latest (no build), nova:rocky-3 (not expected), extra (not in the manifest)"
        );
        assert_eq!(
            stats,
            VerifyStats {
                needed: 3,
                from_cache: 0,
                fetched: 3,
                unknown: 1,
            }
        );
        assert_eq!(
            platforms(&inv, "base", "rocky-1").unwrap(),
            ["linux/amd64", "linux/arm64"]
        );
        assert_eq!(platforms(&inv, "nova", "rocky-1").unwrap(), ["linux/amd64"]);
        assert_eq!(platforms(&inv, "base", "rocky-2").unwrap(), ["linux/amd64"]);
        assert_eq!(
            platforms(&inv, "base", "rocky-3"),
            None,
            "the registry could not say"
        );
        assert_eq!(platforms(&inv, "base", "latest"), None);
        assert_eq!(platforms(&inv, "extra", "rocky-1"), None);
        // Known answers are remembered by digest; unknown ones are not.
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&digest("n1")).is_some());
        assert!(cache.get(&digest("b3")).is_none());
    }

    #[test]
    fn cache_hits_make_no_call() {
        let registry = MemoryRegistry::new().manifest("nova", &digest("n1"), &["linux/amd64"]);
        let mut cache = PlatformCache::new();
        cache.insert(
            &digest("b1"),
            &platforms_of(&["linux/amd64", "linux/arm64"]),
        );
        cache.insert(&digest("b3"), &platforms_of(&["linux/arm64"]));
        let mut inv = fixture();
        let stats = block(verify_platforms(
            &registry,
            &manifest(REQUIRED),
            &mut inv,
            None,
            &mut cache,
            4,
        ))
        .unwrap();
        assert_eq!(
            registry.asked(),
            [format!("manifest nova {}", digest("n1"))]
        );
        assert_eq!(
            (stats.needed, stats.from_cache, stats.fetched, stats.unknown),
            (3, 2, 1, 0)
        );
        assert_eq!(
            platforms(&inv, "base", "rocky-1").unwrap(),
            ["linux/amd64", "linux/arm64"]
        );
        assert_eq!(platforms(&inv, "base", "rocky-3").unwrap(), ["linux/arm64"]);

        // Everything cached now: a second audit asks nothing.
        let none = MemoryRegistry::new();
        let mut inv = fixture();
        let stats = block(verify_platforms(
            &none,
            &manifest(REQUIRED),
            &mut inv,
            None,
            &mut cache,
            4,
        ))
        .unwrap();
        assert!(none.asked().is_empty());
        assert_eq!((stats.from_cache, stats.fetched), (3, 0));
        assert_eq!(platforms(&inv, "nova", "rocky-1").unwrap(), ["linux/amd64"]);
    }

    #[test]
    fn only_the_builds_judged_and_only_when_platforms_are_required() {
        let registry = MemoryRegistry::new();
        let mut inv = fixture();
        let stats = block(verify_platforms(
            &registry,
            &manifest(REQUIRED),
            &mut inv,
            Some(&["rocky-3".to_string()]),
            &mut PlatformCache::new(),
            4,
        ))
        .unwrap();
        assert_eq!(
            registry.asked(),
            [format!("manifest base {}", digest("b3"))]
        );
        assert_eq!(stats.needed, 1);

        let stats = block(verify_platforms(
            &registry,
            &manifest(""),
            &mut fixture(),
            None,
            &mut PlatformCache::new(),
            4,
        ))
        .unwrap();
        assert_eq!(
            stats,
            VerifyStats::default(),
            "no platforms required: nothing to read"
        );
        assert_eq!(registry.asked().len(), 1);
    }

    #[test]
    fn a_shared_digest_is_read_once_and_a_missing_digest_by_tag_name() {
        let registry = MemoryRegistry::new()
            .manifest("base", &digest("same"), &["linux/amd64"])
            .manifest("nova", "rocky-2", &["linux/arm64"]);
        let mut inv = inventory(vec![
            ("base", vec![tag("rocky-1", Some("same"))]),
            (
                "nova",
                vec![tag("rocky-1", Some("same")), tag("rocky-2", None)],
            ),
        ]);
        let mut cache = PlatformCache::new();
        let stats = block(verify_platforms(
            &registry,
            &manifest(REQUIRED),
            &mut inv,
            None,
            &mut cache,
            1,
        ))
        .unwrap();
        assert_eq!(
            registry.asked(),
            [
                format!("manifest base {}", digest("same")),
                "manifest nova rocky-2".to_string(),
            ]
        );
        assert_eq!((stats.needed, stats.fetched, stats.unknown), (3, 2, 0));
        assert_eq!(platforms(&inv, "nova", "rocky-1").unwrap(), ["linux/amd64"]);
        assert_eq!(platforms(&inv, "nova", "rocky-2").unwrap(), ["linux/arm64"]);
        assert_eq!(cache.len(), 1, "a tag name is no key: tags move");
    }

    #[test]
    fn a_failure_is_returned_and_what_was_read_before_it_is_kept() {
        let registry = MemoryRegistry::new()
            .manifest("base", &digest("b1"), &["linux/amd64"])
            .manifest("base", &digest("b3"), &["linux/amd64"])
            .failing_manifest(&digest("n1"));
        let mut inv = fixture();
        let mut cache = PlatformCache::new();
        let e = block(verify_platforms(
            &registry,
            &manifest(REQUIRED),
            &mut inv,
            None,
            &mut cache,
            1,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("down"), "{e}");
        // One at a time, in inventory order: base's two were read first.
        assert_eq!(cache.len(), 2);
        assert_eq!(platforms(&inv, "base", "rocky-1").unwrap(), ["linux/amd64"]);
    }
}
