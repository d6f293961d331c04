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
///
/// Format 2 split image-declared times (`created`) from registry-reported
/// push times (`pushed`); format 1 is still read (see [`Inventory::upgrade`]).
pub const SNAPSHOT_FORMAT: u32 = 2;

/// The oldest snapshot format this version reads.
pub const OLDEST_SNAPSHOT_FORMAT: u32 = 1;

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
    /// `true` when nothing established that the repository exists: the
    /// registry answered "no tags" for it (an OCI `{"tags": null}`, which
    /// distribution 2.0–2.1 also answered for repositories that do not exist,
    /// distribution#1186) and its catalog could not be read to tell. Its
    /// existence is then *unknown*, never assumed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unconfirmed: bool,
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
    /// When the registry says the tag was last pushed; `None` when it does
    /// not say (OCI registries record no push times; Docker Hub answers
    /// `null` for schema-1-era tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<DateTime<Utc>>,
    /// When the image says it was created (`org.opencontainers.image.created`,
    /// or the config's `created`): declared by whoever built it, not observed
    /// by the registry. Reproducible builds set it to the last commit's time,
    /// days before the push, so it never proves a build is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
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
    /// The media type of the manifest the tag points to
    /// (`application/vnd.oci.image.index.v1+json`, …), when the registry
    /// said it (Docker Hub's listing; an OCI manifest's `Content-Type`).
    /// Recorded in prune's journal so that `restore` pushes the manifest
    /// back as it was. Shared between tags ([`intern_media_type`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "shared_string"
    )]
    pub media_type: Option<Arc<str>>,
    /// The tag points at tagsweep's own placeholder: the throw-away manifest
    /// an OCI prune moves a tag onto before deleting that manifest (see
    /// `registry::oci`), left there by a prune that was interrupted (or
    /// failed) half way. No image is behind it: the audit counts the tag as
    /// absent, promote refuses its build, a prune finishes removing it and
    /// `restore` may replace it. `false` when the manifest was not read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub placeholder: bool,
}

impl Tag {
    pub fn new(name: impl Into<CompactString>) -> Self {
        Tag {
            name: name.into(),
            digest: None,
            pushed: None,
            created: None,
            platforms: None,
            media_type: None,
            placeholder: false,
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

    /// Reads an older snapshot format as the current one. Format 1 kept OCI
    /// images' declared creation times in `pushed`; they move to `created`,
    /// so an old snapshot never passes a declared time off as a push time.
    pub fn upgrade(&mut self) {
        if self.format == 1 && self.registry != "docker.io" {
            for tag in self
                .repositories
                .values_mut()
                .filter_map(|r| r.tags.as_mut())
                .flatten()
            {
                tag.created = tag.created.or(tag.pushed.take());
            }
        }
        self.format = SNAPSHOT_FORMAT;
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

thread_local! {
    static MEDIA_TYPES: RefCell<HashMap<String, Arc<str>>> = RefCell::new(HashMap::new());
}

/// The shared copy of a media type (a registry uses a handful), so that a
/// million tags hold a few allocations between them.
pub fn intern_media_type(media_type: &str) -> Arc<str> {
    MEDIA_TYPES.with(|types| {
        let mut types = types.borrow_mut();
        if let Some(shared) = types.get(media_type) {
            return shared.clone();
        }
        let shared: Arc<str> = media_type.into();
        if types.len() < 64 {
            types.insert(media_type.to_string(), shared.clone());
        }
        shared
    })
}

/// A shared string (see [`intern_media_type`]), written as a plain string.
mod shared_string {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_deref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<str>>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(|m| super::intern_media_type(&m)))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_1_oci_times_are_read_as_declared() {
        let old = r#"{"format":1,"registry":"https://registry.example","namespace":"acme",
            "repositories":{"app":{"tags":[{"name":"rocky-1","pushed":"2026-11-20T10:00:00Z"}]}}}"#;
        let mut inv: Inventory = serde_json::from_str(old).unwrap();
        inv.upgrade();
        let tag = &inv.tags("app").unwrap()[0];
        assert_eq!(tag.pushed, None);
        assert_eq!(tag.created, Some("2026-11-20T10:00:00Z".parse().unwrap()));
        assert_eq!(inv.format, SNAPSHOT_FORMAT);

        // Docker Hub's were push times all along.
        let hub = old.replace("https://registry.example", "docker.io");
        let mut inv: Inventory = serde_json::from_str(&hub).unwrap();
        inv.upgrade();
        assert!(inv.tags("app").unwrap()[0].pushed.is_some());
    }
}
