//! Reading manifests, indexes and image configs: which platforms a tag
//! carries and when its image was created. Pure: bytes in, facts out.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;

use crate::platform::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Every manifest type we read, in one `Accept` header. Without it,
/// distribution 2.8 answers 404 for OCI manifests, converts Docker schema 2
/// to signed schema 1 by tag, and for a manifest list returns its amd64
/// child: each time another digest than the tag's.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Whether `media_type` names a manifest or an index (any of
/// [`ACCEPT_MANIFESTS`], or Docker's schema 1), not a config or a layer.
/// Docker Hub's tag listing gives a single-platform tag the *config*'s
/// media type (`application/vnd.docker.container.image.v1+json`, in real
/// bodies): not something to push a manifest as.
pub fn is_manifest_media_type(media_type: &str) -> bool {
    let m = media_type.trim().to_ascii_lowercase();
    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&m.as_str())
        || m.starts_with("application/vnd.docker.distribution.manifest.v1+")
}

/// What image configs are served as.
pub const ACCEPT_CONFIG: &str =
    "application/vnd.oci.image.config.v1+json, application/vnd.docker.container.image.v1+json, application/json, */*";

/// The annotation that says when an image was created.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// The largest image config we read (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    pub digest: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub platform: Option<RawPlatform>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawPlatform {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawManifest {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// A manifest or index, as far as the audit cares.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// An OCI index or Docker manifest list.
    Index {
        /// Children that are images of a platform (attestations left out).
        platforms: Vec<(Platform, String)>,
        /// Every child digest (for the shared-digest check of deletes).
        children: Vec<String>,
        created: Option<DateTime<Utc>>,
    },
    /// One image: its config holds the platform and creation time.
    Image {
        config: Option<Descriptor>,
        created: Option<DateTime<Utc>>,
    },
    /// Something else (schema 1, an artifact we cannot read).
    Other,
}

/// Reads a manifest body served as `content_type`.
pub fn parse_manifest(content_type: Option<&str>, body: &[u8]) -> Parsed {
    let Ok(raw) = serde_json::from_slice::<RawManifest>(body) else {
        return Parsed::Other;
    };
    let media = content_type
        .filter(|c| *c != "application/json" && *c != "text/plain")
        .map(str::to_string)
        .or(raw.media_type.clone())
        .unwrap_or_default();
    let created = raw
        .annotations
        .as_ref()
        .and_then(|a| a.get(CREATED_ANNOTATION))
        .and_then(|t| parse_created(t));
    let is_index =
        media == OCI_INDEX || media == DOCKER_LIST || (media.is_empty() && raw.manifests.is_some());
    let is_image = media == OCI_MANIFEST
        || media == DOCKER_MANIFEST
        || (media.is_empty() && raw.config.is_some());
    if is_index {
        let children = raw.manifests.unwrap_or_default();
        let platforms = children
            .iter()
            .filter(|d| !is_attestation(d))
            .filter_map(|d| {
                let p = d.platform.as_ref()?;
                let platform = Platform::from_parts(
                    p.os.as_deref()?,
                    p.architecture.as_deref()?,
                    p.variant.as_deref(),
                )?;
                Some((platform, d.digest.clone()))
            })
            .collect();
        Parsed::Index {
            platforms,
            children: children.into_iter().map(|d| d.digest).collect(),
            created,
        }
    } else if is_image {
        Parsed::Image {
            config: raw.config,
            created,
        }
    } else {
        Parsed::Other
    }
}

fn is_attestation(d: &Descriptor) -> bool {
    d.annotations
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|t| t == "attestation-manifest")
}

/// What an image config tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFacts {
    pub created: Option<DateTime<Utc>>,
    pub platform: Option<Platform>,
}

/// Reads an image config (OCI or Docker; they share these fields).
pub fn parse_config(body: &[u8]) -> ConfigFacts {
    #[derive(Deserialize)]
    struct RawConfig {
        #[serde(default)]
        created: Option<String>,
        #[serde(default)]
        os: Option<String>,
        #[serde(default)]
        architecture: Option<String>,
        #[serde(default)]
        variant: Option<String>,
    }
    let Ok(raw) = serde_json::from_slice::<RawConfig>(body) else {
        return ConfigFacts::default();
    };
    ConfigFacts {
        created: raw.created.as_deref().and_then(parse_created),
        platform: match (raw.os.as_deref(), raw.architecture.as_deref()) {
            (Some(os), Some(arch)) => Platform::from_parts(os, arch, raw.variant.as_deref()),
            _ => None,
        },
    }
}

/// An RFC 3339 creation time. Reproducible builds write the epoch (or Go's
/// zero time) there: a time before 2000 says nothing, so it is no time.
pub fn parse_created(text: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(text.trim())
        .ok()?
        .with_timezone(&Utc);
    (t.year() >= 2000).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The index `populate.py --index-tag` pushed to distribution 2.8 (from the lab notes).
    const INDEX: &str = r#"{"manifests":[{"digest":"sha256:d729a5acfd350ac6f194434193b7fe5ad7ab6ab6a57ba20a0cd0681d63f59f5a","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"amd64","os":"linux"},"size":401},{"digest":"sha256:fad6b1e63cb27e1724e438ec8f3d2e3b77aff8760636ef2988484fe2c6fe55d1","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"arm64","os":"linux","variant":"v8"},"size":401}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#;

    #[test]
    fn an_index_lists_its_platforms_without_attestations() {
        let Parsed::Index {
            platforms,
            children,
            created,
        } = parse_manifest(Some(OCI_INDEX), INDEX.as_bytes())
        else {
            panic!()
        };
        let names: Vec<String> = platforms.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(names, ["linux/amd64", "linux/arm64"]);
        assert_eq!(children.len(), 2);
        assert_eq!(created, None);

        let buildkit = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1,"platform":{"architecture":"arm","os":"linux","variant":"v7"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","size":1,"annotations":{"vnd.docker.reference.digest":"sha256:a","vnd.docker.reference.type":"attestation-manifest"},"platform":{"architecture":"unknown","os":"unknown"}}],
            "annotations":{"org.opencontainers.image.created":"2026-11-20T10:00:00Z"}}"#;
        let Parsed::Index {
            platforms,
            children,
            created,
        } = parse_manifest(None, buildkit.as_bytes())
        else {
            panic!()
        };
        assert_eq!(platforms.len(), 1);
        assert_eq!(platforms[0].0.to_string(), "linux/arm/v7");
        assert_eq!(children, ["sha256:a", "sha256:b"]);
        assert_eq!(created, Some("2026-11-20T10:00:00Z".parse().unwrap()));
    }

    #[test]
    fn images_and_configs() {
        let m = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"sha256:c"},"layers":[]}"#;
        let Parsed::Image { config, created } = parse_manifest(Some(DOCKER_MANIFEST), m.as_bytes())
        else {
            panic!()
        };
        assert_eq!(config.unwrap().digest, "sha256:c");
        assert_eq!(created, None);
        let facts = parse_config(
            br#"{"architecture":"arm64","variant":"v8","os":"linux","created":"2024-01-01T00:00:00.123456789Z","config":{}}"#,
        );
        assert_eq!(facts.platform.unwrap().to_string(), "linux/arm64");
        assert_eq!(
            facts.created,
            Some("2024-01-01T00:00:00.123456789Z".parse().unwrap())
        );
        // Reproducible builds: the epoch is no creation time.
        assert_eq!(
            parse_config(
                br#"{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z"}"#
            )
            .created,
            None
        );
        assert_eq!(parse_config(b"not json"), ConfigFacts::default());
        assert!(matches!(
            parse_manifest(
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                br#"{"schemaVersion":1}"#
            ),
            Parsed::Other
        ));
    }
}
