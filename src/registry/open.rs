//! Choosing a backend: the one place that turns a kind of registry
//! ([`Backend`]) into the module that speaks to it. A new backend is a new
//! module beside the others, a variant of [`Backend`] and its arm in
//! [`open`] (and in [`Backend::credentials_target`] when it logs in).
//!
//! Which kind a run uses is the caller's to say (`config::open_registry`:
//! the manifest's `registry:`, `--from`, `--hub-url`, `--registry-api-url`);
//! who it logs in as too (`crate::credentials`, for the target the backend
//! names). What the backend needs of the run comes in [`OpenOptions`]:
//! values, never the manifest.

use std::path::PathBuf;

use url::Url;

use super::dockerhub::DockerHub;
use super::http::{HttpClient, HttpOptions};
use super::oci::OciRegistry;
use super::redacted::Redacted;
use super::snapshot::SnapshotRegistry;
use super::{Registry, RegistryError};
use crate::credentials::{Credentials, Source, Target};
use crate::notes::Notes;
use crate::secret::Redactor;

/// A kind of registry, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Docker Hub: its API at `api` (`--hub-url`, default
    /// [`super::dockerhub::DEFAULT_HUB_URL`]) lists and deletes; its
    /// registry API at `registry_api` (`--registry-api-url`, default
    /// [`super::dockerhub::DEFAULT_REGISTRY_API_URL`]) serves manifests
    /// (platforms).
    DockerHub { api: Url, registry_api: Url },
    /// A registry speaking the OCI distribution API at `url` (no path).
    Oci { url: Url },
    /// A snapshot file written by `tagsweep snapshot`: read-only, offline.
    Snapshot { path: PathBuf },
}

impl Backend {
    /// Whose credentials this backend logs in with (see
    /// `crate::credentials::resolve`); `None` when it needs none (a
    /// snapshot).
    pub fn credentials_target(&self) -> Option<Target> {
        match self {
            Backend::DockerHub { .. } => Some(Target::DockerHub),
            Backend::Oci { url } => Some(Target::oci(url)),
            Backend::Snapshot { .. } => None,
        }
    }
}

/// What a backend is opened with, besides its kind.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The namespace the run is about: the Docker Hub user or organisation,
    /// or the path prefix of the repositories on an OCI registry. A
    /// snapshot must be of this namespace.
    pub namespace: String,
    /// Who to log in as ([`Backend::credentials_target`]'s credentials, and
    /// where they came from); `None`: anonymous.
    pub credentials: Option<(Credentials, Source)>,
    /// Requests in flight at once (`-j`).
    pub concurrency: usize,
    /// Whether the platforms of the tags read in detail matter (the
    /// manifest requires some): a backend may skip reads that give nothing
    /// else.
    pub platforms: bool,
    /// Where the backend says what happens (see [`crate::notes`]).
    pub notes: Notes,
}

/// Opens `backend` with `options`. Nothing is sent yet: a network backend
/// logs in on its first request.
///
/// A network backend comes wrapped in [`Redacted`], and its clients share
/// one [`Redactor`]: its credentials and every token it is issued are taken
/// out of each error it returns and each note it says (with `-v` too),
/// whichever backend it is.
///
/// Errors: a snapshot that cannot be read, or that is of another namespace
/// ([`RegistryError::SnapshotNamespace`]); an HTTP client that cannot be
/// set up.
pub fn open(backend: &Backend, options: OpenOptions) -> Result<Box<dyn Registry>, RegistryError> {
    let redactor = Redactor::new();
    if let Some((c, _)) = &options.credentials {
        redactor.add_credentials(&c.username, &c.secret);
    }
    let http = || {
        HttpClient::new(HttpOptions {
            concurrency: options.concurrency,
            notes: options.notes.clone(),
            redactor: redactor.clone(),
            ..HttpOptions::default()
        })
    };
    Ok(match backend {
        Backend::DockerHub { api, registry_api } => Box::new(Redacted::new(
            DockerHub::new(
                http()?,
                api.clone(),
                &options.namespace,
                options.credentials.clone().map(|(c, _)| c),
            )
            .credentials_from(options.credentials.as_ref().map(|(_, s)| s.clone()))
            // Its own client: the registry's limits are not the Hub API's.
            .with_registry_api(http()?, registry_api.clone(), options.credentials),
            redactor.clone(),
        )),
        Backend::Oci { url } => Box::new(Redacted::new(
            OciRegistry::new(
                http()?,
                url.clone(),
                &options.namespace,
                options.credentials,
                options.concurrency,
                options.platforms,
            )?,
            redactor.clone(),
        )),
        Backend::Snapshot { path } => {
            let snapshot = SnapshotRegistry::open(path)?;
            if snapshot.namespace() != options.namespace {
                return Err(RegistryError::SnapshotNamespace {
                    path: path.display().to_string(),
                    found: snapshot.namespace().to_string(),
                    expected: options.namespace,
                });
            }
            Box::new(snapshot)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn options(namespace: &str, credentials: Option<(Credentials, Source)>) -> OpenOptions {
        OpenOptions {
            namespace: namespace.into(),
            credentials,
            concurrency: 1,
            platforms: false,
            notes: Notes::silent(),
        }
    }

    #[test]
    fn a_snapshot_must_be_of_the_namespace_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"format":1,"registry":"docker.io","namespace":"kolla","repositories":{}}"#,
        )
        .unwrap();
        let backend = Backend::Snapshot { path };
        assert_eq!(backend.credentials_target(), None);
        assert!(open(&backend, options("kolla", None)).is_ok());
        let e = open(&backend, options("linaro", None)).err().unwrap();
        assert!(
            matches!(&e, RegistryError::SnapshotNamespace { found, expected, .. } if found == "kolla" && expected == "linaro"),
            "{e}"
        );
    }

    #[test]
    fn docker_hub_says_up_front_that_anonymous_deletes_fail() {
        let url = |u: &str| Url::parse(u).unwrap();
        let hub = Backend::DockerHub {
            api: url("http://127.0.0.1:9"),
            registry_api: url("http://127.0.0.1:9"),
        };
        assert_eq!(hub.credentials_target(), Some(Target::DockerHub));
        let anonymous = open(&hub, options("linaro", None)).unwrap();
        let why = anonymous.can_delete().unwrap_err();
        assert!(why.contains("DOCKERHUB_TOKEN"), "{why}");
        let bot = Credentials {
            username: "bot".into(),
            secret: Secret::new("pw"),
        };
        let logged_in = open(
            &hub,
            options(
                "linaro",
                Some((
                    bot,
                    Source::Flags {
                        username: "--username",
                        secret: "--password-stdin",
                    },
                )),
            ),
        )
        .unwrap();
        assert!(logged_in.can_delete().is_ok());
        // Elsewhere deletes are tried, and each refusal reported.
        let oci = Backend::Oci {
            url: url("http://127.0.0.1:9"),
        };
        assert!(open(&oci, options("kolla", None))
            .unwrap()
            .can_delete()
            .is_ok());
    }
}
