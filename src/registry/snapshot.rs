//! A registry read from a snapshot file (`tagsweep snapshot`), for offline
//! audits and dry runs: CI artefacts, bug reports, the README's quick start.
//!
//! It answers exactly what the snapshot recorded and refuses to delete.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{DeleteOutcome, RegistryError, RegistryRepo, Stats};
use crate::inventory::{Inventory, Tag, SNAPSHOT_FORMAT};

/// Largest snapshot we read (a million tags is about 150 MB of JSON).
const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

pub struct SnapshotRegistry {
    inventory: Inventory,
    source: String,
}

impl SnapshotRegistry {
    /// Reads and checks a snapshot file written by `tagsweep snapshot`.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let shown = path.display();
        let fail = |why: String| RegistryError::Snapshot(format!("{shown}: {why}"));
        let meta =
            std::fs::metadata(path).map_err(|e| fail(format!("cannot read the snapshot: {e}")))?;
        if !meta.is_file() {
            return Err(fail(
                "not a file; give the JSON file written by `tagsweep snapshot -o`".into(),
            ));
        }
        if meta.len() > MAX_SNAPSHOT_BYTES {
            return Err(fail(format!(
                "{} bytes is larger than a snapshot can be",
                meta.len()
            )));
        }
        let bytes =
            std::fs::read(path).map_err(|e| fail(format!("cannot read the snapshot: {e}")))?;
        let inventory: Inventory = serde_json::from_slice(&bytes).map_err(|e| {
            fail(format!(
                "not a tagsweep snapshot (line {}, column {}: {e})",
                e.line(),
                e.column()
            ))
        })?;
        if inventory.format != SNAPSHOT_FORMAT {
            return Err(fail(format!(
                "snapshot format {} is not the format {SNAPSHOT_FORMAT} this tagsweep reads; take a new snapshot",
                inventory.format
            )));
        }
        Ok(SnapshotRegistry {
            inventory,
            source: shown.to_string(),
        })
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }
}

#[async_trait]
impl super::Registry for SnapshotRegistry {
    fn name(&self) -> String {
        self.inventory.registry.clone()
    }

    fn snapshot_time(&self) -> Option<DateTime<Utc>> {
        self.inventory.taken_at
    }

    async fn list_repositories(&self) -> Result<Vec<RegistryRepo>, RegistryError> {
        Ok(self
            .inventory
            .repositories
            .iter()
            .map(|(name, repo)| RegistryRepo {
                name: name.clone(),
                private: repo.private,
            })
            .collect())
    }

    async fn list_tags(&self, repo: &str) -> Result<Option<Vec<Tag>>, RegistryError> {
        match self.inventory.repositories.get(repo) {
            None => Ok(None),
            Some(r) => r.tags.clone().map(Some).ok_or_else(|| {
                RegistryError::Snapshot(format!(
                    "{}: the tags of {repo} were not recorded (the snapshot was taken with another manifest); take a new snapshot with this one",
                    self.source
                ))
            }),
        }
    }

    async fn get_tag(&self, repo: &str, tag: &str) -> Result<Option<Tag>, RegistryError> {
        Ok(self
            .inventory
            .tags(repo)
            .and_then(|tags| tags.iter().find(|t| t.name == tag).cloned()))
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<DeleteOutcome, RegistryError> {
        Err(RegistryError::Refused(format!(
            "cannot delete {repo}:{tag}: {} is a snapshot, read-only; prune against the registry itself",
            self.source
        )))
    }

    fn stats(&self) -> Stats {
        Stats::default()
    }
}
