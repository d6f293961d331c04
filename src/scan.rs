//! Building the inventory: list the namespace's repositories, then the tags
//! of every repository that can matter, concurrently.
//!
//! Which repositories are listed: every image of the manifest, plus every
//! repository of the namespace whose name starts with the set's common prefix
//! (`debian-source-` for Linaro's Kolla set) — those are the candidates for
//! `unexpected_repositories`. Repositories of unrelated sets in the same
//! namespace are not listed: at Docker Hub's rate limit, that would multiply
//! the cost of an audit for nothing. When the images share no prefix, every
//! repository is listed.

use futures::{StreamExt, TryStreamExt};

use crate::inventory::{Inventory, Repository};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::registry::{Registry, RegistryError};

/// Lists what the audit needs (see the module documentation).
pub async fn scan(
    registry: &dyn Registry,
    manifest: &Manifest,
    concurrency: usize,
    progress: &Progress,
) -> Result<Inventory, RegistryError> {
    let repos = registry.list_repositories().await?;
    let mut inventory = Inventory::new(registry.name(), &manifest.namespace);
    inventory.taken_at = Some(registry.snapshot_time().unwrap_or_else(chrono::Utc::now));
    let prefix = set_prefix(manifest.images.iter().map(|i| i.name.as_str()));
    let mut to_list = Vec::new();
    for repo in repos {
        if manifest.image(&repo.name).is_some() || repo.name.starts_with(&prefix) {
            to_list.push(repo.name.clone());
        }
        inventory.repositories.insert(
            repo.name,
            Repository {
                private: repo.private,
                tags: None,
            },
        );
    }
    progress.start("listing", to_list.len());
    let listed = futures::stream::iter(to_list)
        .map(|name| async move {
            let tags = registry.list_tags(&name).await;
            progress.advance(registry.stats().requests);
            tags.map(|tags| (name, tags))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await;
    progress.finish();
    let listed = listed?;
    for (name, tags) in listed {
        match tags {
            Some(tags) => {
                if let Some(repo) = inventory.repositories.get_mut(&name) {
                    repo.tags = Some(tags);
                }
            }
            // Deleted between the two listings: it no longer exists.
            None => {
                inventory.repositories.remove(&name);
            }
        }
    }
    Ok(inventory)
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
    use super::set_prefix;

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
