//! Who we log in to an OCI registry as: resolved in one place for every
//! backend, by [`crate::credentials`] (flags, then
//! `TAGSWEEP_REGISTRY_USERNAME` + `TAGSWEEP_REGISTRY_PASSWORD`, then Docker's
//! `config.json`: `credHelpers`, `credsStore`, `auths` for the registry's
//! `host[:port]`). Docker Hub's `DOCKERHUB_USERNAME`/`DOCKERHUB_TOKEN` are
//! never sent to another registry. This module names what the OCI client
//! uses of it.

pub use crate::credentials::{
    Source, REGISTRY_PASSWORD_ENV as PASSWORD_ENV, REGISTRY_USERNAME_ENV as USERNAME_ENV,
};
