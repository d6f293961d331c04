//! Who we log in as.

use crate::secret::Secret;

/// A username (or organisation name) and its password or access token.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: Secret,
}
