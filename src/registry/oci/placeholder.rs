//! tagsweep's own placeholders, found where a tag should be.
//!
//! An untag on a registry without a tag delete moves the tag onto a
//! throw-away manifest of its own (the *placeholder*: an OCI image manifest
//! with the empty config, no layers, and the annotation [`ANNOTATION`]
//! naming `<repository>:<tag>`, the time and the process), then deletes
//! that manifest (see [`super::delete`]). A prune killed, or failing,
//! between the two leaves the tag on the placeholder: the tag exists, but
//! no image is behind it — a pull gets an empty image.
//!
//! So wherever tagsweep reads a tag's manifest ([`super::OciRegistry`]'s
//! `inspect`: listings read in detail, `get_tag`), a placeholder is
//! recognised ([`placeholder_of`]) and the tag is marked
//! ([`crate::inventory::Tag::placeholder`]): the audit counts it absent,
//! promote refuses its build, `restore` replaces it without `--force`.
//! And deleting such a tag ([`super::OciRegistry::finish_untag`]) finishes
//! the interrupted untag: the placeholder's digest alone is deleted, after
//! the checks every untag makes (the tag read again right before, still on
//! the same placeholder, made for this very tag; no other tag on that
//! digest or listing it in an index). No new placeholder is made.

use reqwest::Method;
use serde::Deserialize;

use super::client::{Access, Scope};
use super::image;
use super::OciRegistry;
use crate::registry::http::Request;
use crate::registry::{DeleteOutcome, RegistryError};

/// The annotation that marks a placeholder (the one [`super::delete`]
/// writes; the two must agree). Its value begins with `<repository>:<tag>`
/// (the full repository name) and a space.
pub const ANNOTATION: &str = "io.github.tagsweep.deleted";

#[derive(Deserialize)]
struct Raw {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    layers: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// The value of [`ANNOTATION`] when `body` (served as `content_type`) is a
/// tagsweep placeholder: an OCI image manifest with no layers carrying the
/// annotation. A real image always has layers, so none is ever taken for
/// one. `None` for anything else.
pub fn placeholder_of(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let raw: Raw = serde_json::from_slice(body).ok()?;
    let media = content_type
        .filter(|c| *c != "application/json" && *c != "text/plain")
        .or(raw.media_type.as_deref())?;
    if media != image::OCI_MANIFEST || !raw.layers.as_ref().is_some_and(Vec::is_empty) {
        return None;
    }
    raw.annotations?.remove(ANNOTATION)
}

/// Whether the annotation `value` names `name:tag` (the placeholder was
/// made for this tag).
fn made_for(value: &str, name: &str, tag: &str) -> bool {
    value.split(' ').next() == Some(format!("{name}:{tag}").as_str())
}

impl OciRegistry {
    /// Remembers (or forgets) that `name:tag` points at the placeholder
    /// `digest`, as just read.
    pub(super) fn note_placeholder(&self, name: &str, tag: &str, digest: Option<&str>) {
        let key = (name.to_string(), tag.to_string());
        let mut known = self.placeholders.lock().expect("lock");
        match digest {
            Some(d) => {
                known.insert(key, d.to_string());
            }
            None => {
                known.remove(&key);
            }
        }
    }

    /// When `name:tag` was last read pointing at a placeholder: finishes
    /// the interrupted untag (see the module documentation) and returns
    /// what became of the tag. `Ok(None)` when it was not (the caller
    /// deletes it the usual way). Errors: the tag moved since it was read,
    /// or the placeholder is not this tag's alone — nothing is deleted then.
    pub(super) async fn finish_untag(
        &self,
        name: &str,
        tag: &str,
    ) -> Result<Option<DeleteOutcome>, RegistryError> {
        let known = self
            .placeholders
            .lock()
            .expect("lock")
            .get(&(name.to_string(), tag.to_string()))
            .cloned();
        let Some(placeholder) = known else {
            return Ok(None);
        };
        let registry = self.registry_name();
        // Read again right before: only the placeholder judged is deleted.
        let Some(now) = self.fetch_manifest(name, tag).await? else {
            self.note_placeholder(name, tag, None);
            return Ok(Some(DeleteOutcome::AlreadyGone));
        };
        if now.digest.as_deref() != Some(placeholder.as_str()) {
            return Err(RegistryError::Changed(format!(
                "{name}:{tag} changed since it was read (it pointed at tagsweep's placeholder {placeholder}, now at {}); nothing was deleted; run again",
                now.digest.as_deref().unwrap_or("an unknown digest")
            )));
        }
        let ours = placeholder_of(now.content_type.as_deref(), &now.body)
            .is_some_and(|value| made_for(&value, name, tag));
        if !ours {
            return Err(RegistryError::Refused(format!(
                "{name}:{tag} on {registry} points at {placeholder}, which is not the placeholder tagsweep made for this tag; refusing to delete it; push the tag again, or delete it with the registry's own tools"
            )));
        }
        // Unknown sharers (a listing that fails, answers 404 or lacks this
        // very tag) are an error there, never "none".
        let sharers: Vec<String> = self
            .sharers(name, tag, &placeholder)
            .await?
            .into_iter()
            .map(|(other, _)| other)
            .collect();
        if !sharers.is_empty() {
            return Err(RegistryError::Refused(format!(
                "{name}:{tag} on {registry} points at tagsweep's placeholder {placeholder}, but so does {} (or an index lists it): deleting it would remove them too; nothing was deleted; push {name}:{tag} again",
                sharers.join(", ")
            )));
        }
        let url = self.repo_url(name, &["manifests", &placeholder]);
        let reply = self
            .send(
                Request::new(Method::DELETE, url),
                Scope::repo(name, Access::Delete),
            )
            .await?;
        let outcome = match reply.status.as_u16() {
            200..=299 => DeleteOutcome::Deleted,
            404 => DeleteOutcome::AlreadyGone,
            _ => return Err(self.explain(&reply)),
        };
        self.note_placeholder(name, tag, None);
        self.seen
            .lock()
            .expect("lock")
            .remove(&(name.to_string(), tag.to_string()));
        self.client.notes().info(|| {
            format!("{name}:{tag}: deleted tagsweep's placeholder {placeholder}, left by an interrupted prune")
        });
        Ok(Some(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(layers: &str, annotation: Option<&str>) -> Vec<u8> {
        let annotations = annotation
            .map(|v| format!(r#","annotations":{{"{ANNOTATION}":"{v}"}}"#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":{layers}{annotations}}}"#,
            image::OCI_MANIFEST
        )
        .into_bytes()
    }

    #[test]
    fn only_a_layerless_manifest_with_the_annotation_is_a_placeholder() {
        let value = "kolla/base:rocky-2 2026-11-20T12:00:00.000000001Z 42-0";
        let ours = manifest("[]", Some(value));
        assert_eq!(
            placeholder_of(Some(image::OCI_MANIFEST), &ours).as_deref(),
            Some(value)
        );
        // Served as plain JSON: the body's mediaType says.
        assert!(placeholder_of(Some("application/json"), &ours).is_some());
        assert!(made_for(value, "kolla/base", "rocky-2"));
        assert!(!made_for(value, "kolla/base", "rocky-3"));
        assert!(!made_for(value, "kolla/bas", "e:rocky-2"));
        // An image with layers is an image, whatever it is annotated with.
        let layered = manifest(
            r#"[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:00","size":1}]"#,
            Some(value),
        );
        assert_eq!(placeholder_of(Some(image::OCI_MANIFEST), &layered), None);
        assert_eq!(
            placeholder_of(Some(image::OCI_MANIFEST), &manifest("[]", None)),
            None
        );
        assert_eq!(placeholder_of(Some(image::OCI_INDEX), &ours), None);
        assert_eq!(placeholder_of(None, b"not json"), None);
    }
}
