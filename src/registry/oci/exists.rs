//! Whether a registry still has a manifest, asked without reading it.

use reqwest::Method;

use super::client::{Access, Client, Scope};
use super::image;
use crate::registry::http::{Answer, Request};
use crate::registry::RegistryError;

/// `HEAD /v2/<name>/manifests/<reference>` with every manifest type in
/// `Accept` (OCI distribution spec, "Checking if content exists in the
/// registry"): `true` on 2xx, `false` on 404. A HEAD does not count against
/// Docker Hub's pull limit (Docker Hub notes §6), a GET does. Other
/// answers are `explain`ed.
pub(crate) async fn manifest_exists(
    client: &Client,
    name: &str,
    reference: &str,
    explain: impl Fn(&Answer) -> RegistryError,
) -> Result<bool, RegistryError> {
    let url = super::repo_url(client, name, &["manifests", reference]);
    let reply = client
        .send(
            &Request::new(Method::HEAD, url).accept(image::ACCEPT_MANIFESTS),
            &Scope::repo(name, Access::Pull),
        )
        .await?;
    match reply.status.as_u16() {
        200..=299 => Ok(true),
        404 => Ok(false),
        _ => Err(explain(&reply)),
    }
}
