//! Docker Hub's answers as they come over the wire, read leniently: tag
//! bodies omit or null many fields, so every field but the name is
//! optional; and what a tag's `images[]` says of its platforms
//! (docker/hub-feedback #2484, #2344; notes §11).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::inventory::{intern_media_type, intern_platforms, Tag};
use crate::platform::Platform;

#[derive(Deserialize)]
pub(super) struct Page<T> {
    #[serde(default)]
    pub(super) count: Option<u64>,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default = "Option::default")]
    pub(super) results: Option<Vec<T>>,
}

#[derive(Deserialize)]
pub(super) struct HubRepository {
    pub(super) name: String,
    #[serde(default)]
    pub(super) is_private: Option<bool>,
    /// The last push to the repository (a tag's deletion does not move it,
    /// docker/hub-feedback #1750); null for one never pushed to.
    #[serde(default)]
    pub(super) last_updated: Option<String>,
}

impl From<&HubRepository> for crate::registry::RegistryRepo {
    fn from(r: &HubRepository) -> Self {
        crate::registry::RegistryRepo {
            name: r.name.clone(),
            private: r.is_private,
            last_updated: r.last_updated.as_deref().and_then(parse_time),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct HubTag {
    pub(super) name: String,
    #[serde(default)]
    pub(super) digest: Option<String>,
    #[serde(default)]
    pub(super) tag_last_pushed: Option<String>,
    #[serde(default)]
    pub(super) last_updated: Option<String>,
    #[serde(default)]
    pub(super) media_type: Option<String>,
    #[serde(default)]
    pub(super) images: Option<Vec<HubImage>>,
}

#[derive(Deserialize)]
pub(super) struct HubImage {
    #[serde(default)]
    pub(super) os: Option<String>,
    #[serde(default)]
    pub(super) architecture: Option<String>,
    #[serde(default)]
    pub(super) variant: Option<String>,
}

/// The media type of a Docker schema 1 manifest (retired 2019–2021).
const SCHEMA1_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

impl From<HubTag> for Tag {
    fn from(t: HubTag) -> Tag {
        let pushed = t
            .tag_last_pushed
            .as_deref()
            .and_then(parse_time)
            .or_else(|| t.last_updated.as_deref().and_then(parse_time));
        let schema1 = t
            .media_type
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(SCHEMA1_MEDIA_TYPE));
        let platforms = t
            .images
            .as_deref()
            .and_then(|images| hub_platforms(images, schema1))
            .map(intern_platforms);
        Tag {
            name: t.name.into(),
            digest: t.digest.filter(|d| !d.is_empty()),
            pushed,
            created: None,
            platforms,
            media_type: t
                .media_type
                .as_deref()
                .filter(|m| crate::registry::oci::image::is_manifest_media_type(m))
                .map(intern_media_type),
            placeholder: false,
        }
    }
}

/// The platforms a tag's `images[]` states, or `None` when it does not state
/// them all (docker/hub-feedback #2484, #2344; notes §11):
/// * `images: []` — every tag since 2025-08 — states nothing;
/// * schema-1-era tags carry `"os": ""`: schema 1 images are Linux images, so
///   an empty `os` there is `linux`, not another operating system;
/// * elsewhere an entry without `os` or `architecture` cannot be read, and a
///   platform it might be is not known absent: the whole set is unknown.
///
/// Attestation entries (`unknown/unknown`) are not platforms and are skipped.
fn hub_platforms(images: &[HubImage], schema1: bool) -> Option<Vec<Platform>> {
    if images.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for image in images {
        let arch = image.architecture.as_deref().unwrap_or("").trim();
        let os = match image.os.as_deref().unwrap_or("").trim() {
            "" if schema1 => "linux",
            os => os,
        };
        let attestation =
            os.eq_ignore_ascii_case("unknown") || arch.eq_ignore_ascii_case("unknown");
        if attestation {
            continue;
        }
        list.push(Platform::from_parts(os, arch, image.variant.as_deref())?);
    }
    Some(list)
}

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_tag_bodies_decode() {
        // Verbatim Docker Hub body (rancher/k3s, multi-arch): images[] is an array,
        // variant is null, the top-level digest is the index's.
        let body = r#"{"creator":11292096,"id":516991909,"images":[{"architecture":"amd64","features":"","variant":null,"digest":"sha256:5d97","os":"linux","os_features":"","os_version":null,"size":77338322,"status":"active","last_pulled":"2023-09-27T18:25:01.56539Z","last_pushed":"2023-09-21T02:33:00.168796Z"},{"architecture":"arm64","features":"","variant":null,"digest":"sha256:6a42","os":"linux","os_features":"","os_version":null,"size":70783833,"status":"active","last_pulled":null,"last_pushed":null},{"architecture":"unknown","os":"unknown","variant":null}],"last_updated":"2023-09-21T02:55:46.86982Z","last_updater":11292096,"last_updater_username":"ks3serviceaccount","name":"v1.25.14-k3s1","repository":6586245,"full_size":77338322,"v2":true,"tag_status":"active","tag_last_pulled":"2023-09-27T18:25:01.56539Z","tag_last_pushed":"2023-09-21T02:55:46.86982Z","media_type":"application/vnd.docker.distribution.manifest.list.v2+json","content_type":"image","digest":"sha256:5f7b"}"#;
        let tag: Tag = serde_json::from_str::<HubTag>(body).unwrap().into();
        assert_eq!(tag.name, "v1.25.14-k3s1");
        assert_eq!(tag.digest.as_deref(), Some("sha256:5f7b"));
        assert_eq!(
            tag.pushed,
            Some("2023-09-21T02:55:46.86982Z".parse().unwrap())
        );
        let platforms: Vec<String> = tag
            .platforms
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    }

    #[test]
    fn sparse_tag_bodies_decode() {
        let tag: Tag = serde_json::from_str::<HubTag>(r#"{"name":"rocky-1","digest":null,"images":[],"tag_last_pushed":null,"last_updated":"2026-11-20T10:00:00Z"}"#)
            .unwrap()
            .into();
        assert_eq!(tag.digest, None);
        assert_eq!(tag.platforms, None, "no images listed: platforms unknown");
        assert_eq!(tag.pushed, Some("2026-11-20T10:00:00Z".parse().unwrap()));
        let page: Page<HubTag> =
            serde_json::from_str(r#"{"count":0,"next":null,"previous":null,"results":null}"#)
                .unwrap();
        assert!(page.results.is_none());
    }

    #[test]
    fn schema1_tags_are_linux_and_their_times_unknown() {
        // The shape docker/hub-feedback #2344 reports for schema-1-era tags.
        let body = r#"{"creator":1,"id":2,"images":[{"architecture":"amd64","features":null,"variant":null,"digest":null,"os":"","os_features":null,"os_version":null,"size":1234,"status":"active","last_pulled":null,"last_pushed":null}],"last_updated":null,"name":"rocky-1","tag_status":"active","tag_last_pulled":null,"tag_last_pushed":null,"media_type":"application/vnd.docker.distribution.manifest.v1+prettyjws","content_type":"image","digest":"sha256:aa"}"#;
        let tag: Tag = serde_json::from_str::<HubTag>(body).unwrap().into();
        let platforms: Vec<String> = tag
            .platforms
            .as_deref()
            .expect("schema 1 states its platform")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(platforms, ["linux/amd64"]);
        assert_eq!((tag.pushed, tag.created), (None, None));
    }

    #[test]
    fn an_unreadable_image_entry_makes_the_platforms_unknown() {
        // Outside schema 1 an empty os is not read as any operating system.
        let body = r#"{"name":"rocky-1","images":[{"architecture":"amd64","os":"linux"},{"architecture":"arm64","os":""}],"media_type":"application/vnd.oci.image.index.v1+json"}"#;
        let tag: Tag = serde_json::from_str::<HubTag>(body).unwrap().into();
        assert_eq!(tag.platforms, None);
        // Attestations alone are skipped, not unreadable.
        let body = r#"{"name":"rocky-1","images":[{"architecture":"amd64","os":"linux"},{"architecture":"unknown","os":"unknown"}]}"#;
        let tag: Tag = serde_json::from_str::<HubTag>(body).unwrap().into();
        assert_eq!(tag.platforms.as_deref().map(<[_]>::len), Some(1));
    }
}
