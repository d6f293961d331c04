//! A registry read from a snapshot file (`tagsweep snapshot`), for offline
//! audits and dry runs: CI artefacts, bug reports, the README's quick start.
//!
//! It answers exactly what the snapshot recorded and refuses to delete.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{DeleteOutcome, RegistryError, RegistryRepo, RepositoryList, Stats, TagQuery};
use crate::inventory::{Inventory, Tag, OLDEST_SNAPSHOT_FORMAT, SNAPSHOT_FORMAT};

/// Largest snapshot we read (a million tags is about 150 MB of JSON).
const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

pub struct SnapshotRegistry {
    /// What the file recorded. `list_tags` hands each repository's tags
    /// over (moves them out) rather than copying a million tags; a scan asks
    /// once per repository.
    inventory: Mutex<Inventory>,
    /// Repositories whose tags were handed over.
    handed_over: Mutex<HashSet<String>>,
    registry: String,
    namespace: String,
    taken_at: Option<DateTime<Utc>>,
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
        let file = std::fs::File::open(path)
            .map_err(|e| fail(format!("cannot read the snapshot: {e}")))?;
        // Streamed, not read whole: a million-tag snapshot is ~190 MB of JSON.
        let reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut inventory: Inventory = serde_json::from_reader(reader).map_err(|e| {
            fail(format!(
                "not a tagsweep snapshot (line {}, column {}: {e})",
                e.line(),
                e.column()
            ))
        })?;
        if !(OLDEST_SNAPSHOT_FORMAT..=SNAPSHOT_FORMAT).contains(&inventory.format) {
            return Err(fail(format!(
                "snapshot format {} is not one this tagsweep reads ({OLDEST_SNAPSHOT_FORMAT} to {SNAPSHOT_FORMAT}); take a new snapshot",
                inventory.format
            )));
        }
        inventory.upgrade();
        Ok(SnapshotRegistry {
            registry: inventory.registry.clone(),
            namespace: inventory.namespace.clone(),
            taken_at: inventory.taken_at,
            inventory: Mutex::new(inventory),
            handed_over: Mutex::new(HashSet::new()),
            source: shown.to_string(),
        })
    }

    /// The namespace the snapshot is of.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

#[async_trait]
impl super::Registry for SnapshotRegistry {
    fn name(&self) -> String {
        self.registry.clone()
    }

    fn snapshot_time(&self) -> Option<DateTime<Utc>> {
        self.taken_at
    }

    /// The recorded repositories whose existence was established. One whose
    /// existence was unknown when the snapshot was taken is left out, and
    /// the list is then not complete: its listing (no tags) makes the scan
    /// judge it unknown again, as it did live.
    async fn list_repositories(&self) -> Result<RepositoryList, RegistryError> {
        let inventory = self.inventory.lock().expect("lock");
        Ok(RepositoryList {
            repositories: inventory
                .repositories
                .iter()
                .filter(|(_, repo)| !repo.unconfirmed)
                .map(|(name, repo)| RegistryRepo {
                    name: name.clone(),
                    private: repo.private,
                    last_updated: None,
                })
                .collect(),
            complete: inventory.repositories.values().all(|r| !r.unconfirmed),
        })
    }

    /// What was recorded, whatever `query` wants.
    async fn list_tags(
        &self,
        repo: &str,
        _query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        if !self
            .handed_over
            .lock()
            .expect("lock")
            .insert(repo.to_string())
        {
            return Err(RegistryError::Snapshot(format!(
                "{}: the tags of {repo} were already read from this snapshot",
                self.source
            )));
        }
        match self.inventory.lock().expect("lock").repositories.get_mut(repo) {
            None => Ok(None),
            Some(r) => r.tags.take().map(Some).ok_or_else(|| {
                RegistryError::Snapshot(format!(
                    "{}: the tags of {repo} were not recorded (the snapshot was taken with another manifest); take a new snapshot with this one",
                    self.source
                ))
            }),
        }
    }

    async fn get_tag(&self, repo: &str, tag: &str) -> Result<Option<Tag>, RegistryError> {
        if self.handed_over.lock().expect("lock").contains(repo) {
            return Err(RegistryError::Refused(format!(
                "{}: a snapshot answers one listing, not a re-check; prune against the registry itself",
                self.source
            )));
        }
        Ok(self
            .inventory
            .lock()
            .expect("lock")
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
