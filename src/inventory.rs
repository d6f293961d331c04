//! What a registry holds: the repositories of a namespace and the tags of each.
//!
//! Every backend (Docker Hub, a snapshot file, later OCI registries) fills this
//! one model; the audit and prune policies read only this. It is also the
//! snapshot format (`tagsweep snapshot`), so its serialized form is stable:
//! add fields, do not rename them.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::platform::Platform;

/// Version of the snapshot file format written by `tagsweep snapshot`.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The repositories of one namespace, as seen at `taken_at`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Snapshot format version.
    #[serde(default = "default_format")]
    pub format: u32,
    /// `docker.io` or the OCI registry URL.
    pub registry: String,
    pub namespace: String,
    /// When the listing was made (a snapshot is audited as of this time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<DateTime<Utc>>,
    /// Every repository of the namespace that the registry showed us, by name.
    pub repositories: BTreeMap<String, Repository>,
}

fn default_format() -> u32 {
    SNAPSHOT_FORMAT
}

/// One repository of the namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    /// `Some(true)` for a private repository, `None` when the registry does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    /// Its tags, or `None` when they were not listed (a repository outside the
    /// manifest's set: its name alone is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// One tag of a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// Kept inline (no heap allocation) up to 24 bytes: a million tags fit
    /// in the memory an audit may use.
    pub name: CompactString,
    /// Digest of the manifest or index the tag points to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// When the tag was last pushed, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<DateTime<Utc>>,
    /// The platforms the tag carries, sorted; `None` when the registry did
    /// not say (then no platform can be called missing). Shared between tags
    /// with the same set ([`intern_platforms`]): a million tags carry a
    /// handful of distinct sets.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "platform_strings"
    )]
    pub platforms: Option<Arc<[Platform]>>,
}

impl Tag {
    pub fn new(name: impl Into<CompactString>) -> Self {
        Tag {
            name: name.into(),
            digest: None,
            pushed: None,
            platforms: None,
        }
    }
}

impl Inventory {
    pub fn new(registry: impl Into<String>, namespace: impl Into<String>) -> Self {
        Inventory {
            format: SNAPSHOT_FORMAT,
            registry: registry.into(),
            namespace: namespace.into(),
            taken_at: None,
            repositories: BTreeMap::new(),
        }
    }

    /// The tags of `repo`, if the repository exists and its tags were listed.
    pub fn tags(&self, repo: &str) -> Option<&[Tag]> {
        self.repositories.get(repo)?.tags.as_deref()
    }

    /// Number of tags listed across all repositories.
    pub fn tag_count(&self) -> usize {
        self.repositories
            .values()
            .map(|r| r.tags.as_ref().map_or(0, Vec::len))
            .sum()
    }
}

thread_local! {
    static PLATFORM_SETS: RefCell<HashMap<Vec<Platform>, Arc<[Platform]>>> = RefCell::new(HashMap::new());
}

/// The shared copy of a platform set (sorted and deduplicated first), so that
/// tags with the same platforms hold one allocation between them.
pub fn intern_platforms(mut list: Vec<Platform>) -> Arc<[Platform]> {
    list.sort();
    list.dedup();
    PLATFORM_SETS.with(|sets| {
        let mut sets = sets.borrow_mut();
        if let Some(shared) = sets.get(&list) {
            return shared.clone();
        }
        let shared: Arc<[Platform]> = list.clone().into();
        if sets.len() < 4096 {
            sets.insert(list, shared.clone());
        }
        shared
    })
}

/// Platforms are written as `os/arch[/variant]` strings in snapshots.
mod platform_strings {
    use std::sync::Arc;

    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    use crate::platform::Platform;

    pub fn serialize<S: Serializer>(v: &Option<Arc<[Platform]>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref()
            .map(|list| list.iter().map(ToString::to_string).collect::<Vec<_>>())
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Arc<[Platform]>>, D::Error> {
        let raw: Option<Vec<String>> = Option::deserialize(d)?;
        raw.map(|list| {
            list.iter()
                .map(|s| {
                    Platform::parse_loose(s).ok_or_else(|| {
                        D::Error::custom(format!("{s:?} is not a platform (os/arch[/variant])"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(super::intern_platforms)
        })
        .transpose()
    }
}
