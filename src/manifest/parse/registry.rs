//! Where the images live and what they may be called there: `registry`
//! (Docker Hub or an OCI registry URL), `namespace`, and the naming rules each
//! kind of registry imposes.

use super::{quote, Lint};
use crate::manifest::locate::Entry;
use crate::manifest::RegistryRef;

/// What the registry says about names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Naming {
    DockerHub,
    Oci,
    /// The registry is invalid: only the rules common to both are checked.
    Unknown,
}

impl Lint<'_> {
    pub(super) fn registry(&mut self, entry: &Entry) -> Option<RegistryRef> {
        let text = self.string(
            entry.key.pos,
            &entry.value,
            "'registry'",
            "'docker.io' or an OCI registry URL such as https://registry.example.com",
        )?;
        match parse_registry(text) {
            Ok(registry) => Some(registry),
            Err(message) => {
                self.at(entry.value.pos, message);
                None
            }
        }
    }

    pub(super) fn namespace(&mut self, entry: &Entry, naming: Naming) -> Option<String> {
        let expected = "the Docker Hub user or organisation that owns the images, such as linaro";
        let text = self.string(entry.key.pos, &entry.value, "'namespace'", expected)?;
        match namespace_problem(text, naming) {
            None => Some(text.to_string()),
            Some(message) => {
                self.at(entry.value.pos, message);
                None
            }
        }
    }
}

/// `docker.io`, or an OCI registry URL `https://host[:port]` (`http` only on
/// loopback).
fn parse_registry(text: &str) -> Result<RegistryRef, String> {
    const HOW: &str = "write 'docker.io' for Docker Hub, or an OCI registry URL such as \
                       https://registry.example.com or http://localhost:5000";
    if text == "docker.io" {
        return Ok(RegistryRef::DockerHub);
    }
    if text.trim().is_empty() {
        return Err(format!("'registry' is empty; {HOW}"));
    }
    let lower = text.to_ascii_lowercase();
    let bare = lower
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if matches!(
        bare,
        "docker.io"
            | "index.docker.io"
            | "registry-1.docker.io"
            | "hub.docker.com"
            | "registry.hub.docker.com"
    ) {
        return Err(format!(
            "'{}' is Docker Hub: write registry: docker.io",
            quote(text)
        ));
    }
    if !text.contains("://") {
        let looks_like_host = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if looks_like_host {
            let scheme = match url::Url::parse(&format!("http://{text}")) {
                Ok(url) if crate::net::is_loopback(&url) => "http",
                _ => "https",
            };
            return Err(format!(
                "registry '{}' needs a scheme: write {scheme}://{}",
                quote(text),
                quote(text)
            ));
        }
        return Err(format!(
            "invalid registry '{}'; {HOW}",
            quote(&crate::net::shown(text))
        ));
    }
    let url = url::Url::parse(text).map_err(|err| {
        format!(
            "invalid registry URL '{}': {err}; {HOW}",
            quote(&crate::net::shown(text))
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "the registry URL must not contain credentials: write {} and give credentials \
             through the environment (the manifest is reviewed in public)",
            url.origin().ascii_serialization()
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if crate::net::is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "plain http is only allowed for loopback registries (127.0.0.0/8, ::1, localhost); \
                 write https://{}",
                quote(
                    crate::net::shown(text)
                        .split_once("://")
                        .map_or(text, |(_, rest)| rest)
                )
            ))
        }
        other => {
            return Err(format!(
                "registry URL scheme '{}' is not supported; use https:// (or http:// on loopback)",
                quote(other)
            ))
        }
    }
    if url.host().is_none() {
        return Err(format!(
            "the registry URL '{}' has no host; {HOW}",
            quote(&crate::net::shown(text))
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "the registry URL must be only scheme, host and port (the API path /v2/ is added \
             automatically): write {}",
            url.origin().ascii_serialization()
        ));
    }
    Ok(RegistryRef::Oci { url })
}

/// Whether `s` is an OCI repository path component:
/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
pub(super) fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let separator_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &s[separator_start..i];
        if !(separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|c| c == b'-'))
        {
            return false;
        }
    }
}

/// Docker Hub namespaces: 2–255 lowercase letters and digits, with `-` and
/// `_` allowed inside.
fn is_hub_namespace(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (2..=255).contains(&bytes.len())
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|c| alnum(c) || *c == b'-' || *c == b'_')
}

fn namespace_problem(text: &str, naming: Naming) -> Option<String> {
    const HUB_RULE: &str = "Docker Hub namespaces are 2–255 lowercase letters and digits, \
                            with '-' or '_' allowed inside (not first or last)";
    const OCI_RULE: &str = "on an OCI registry the namespace is one or more path components \
                            (lowercase letters and digits, separated by '.', '_', '__' or dashes) joined by '/'";
    if text.is_empty() {
        return Some(
            "'namespace' is empty; write the Docker Hub user or organisation, such as linaro"
                .to_string(),
        );
    }
    if naming == Naming::DockerHub {
        if is_hub_namespace(text) {
            return None;
        }
        if let Some((first, _)) = text.split_once('/') {
            if first.contains('.') || first.contains(':') || first == "localhost" {
                return Some(format!(
                    "'{}' includes a registry; put the registry under 'registry' and only the user \
                     or organisation here",
                    quote(text)
                ));
            }
            return Some(format!(
                "a Docker Hub namespace is a single user or organisation and cannot contain '/': \
                 '{}' (list repository names under 'images')",
                quote(text)
            ));
        }
        let lower = text.to_lowercase();
        if lower != text && is_hub_namespace(&lower) {
            return Some(format!(
                "Docker Hub namespaces are lowercase: write '{lower}'"
            ));
        }
        return Some(format!("invalid namespace '{}': {HUB_RULE}", quote(text)));
    }
    if text.split('/').all(is_path_component) {
        return None;
    }
    let lower = text.to_lowercase();
    if lower != text && lower.split('/').all(is_path_component) {
        return Some(format!("namespaces are lowercase: write '{lower}'"));
    }
    Some(format!("invalid namespace '{}': {OCI_RULE}", quote(text)))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{problem, valid, BASE};
    use super::*;
    use crate::manifest::parse::parse_str;

    #[test]
    fn docker_hub_namespaces() {
        let ns = |namespace: &str| {
            problem(&format!(
                "namespace: '{namespace}'\nbuilds: {{pattern: x}}\nimages: [a]\n"
            ))
        };
        const RULE: &str = "Docker Hub namespaces are 2–255 lowercase letters and digits, with '-' or '_' allowed inside (not first or last)";
        assert_eq!(
            ns("Linaro"),
            "m.yaml:1:12: Docker Hub namespaces are lowercase: write 'linaro'"
        );
        assert_eq!(
            ns("a"),
            format!("m.yaml:1:12: invalid namespace 'a': {RULE}")
        );
        assert_eq!(
            ns("-linaro"),
            format!("m.yaml:1:12: invalid namespace '-linaro': {RULE}")
        );
        assert_eq!(
            ns("lin.aro"),
            format!("m.yaml:1:12: invalid namespace 'lin.aro': {RULE}")
        );
        assert_eq!(
            ns(&"a".repeat(256)),
            format!(
                "m.yaml:1:12: invalid namespace '{}…': {RULE}",
                "a".repeat(80)
            )
        );
        assert_eq!(
            ns("linaro/kolla"),
            "m.yaml:1:12: a Docker Hub namespace is a single user or organisation and cannot contain '/': 'linaro/kolla' (list repository names under 'images')"
        );
        assert_eq!(
            ns("docker.io/linaro"),
            "m.yaml:1:12: 'docker.io/linaro' includes a registry; put the registry under 'registry' and only the user or organisation here"
        );
        assert_eq!(ns(""), "m.yaml:1:12: 'namespace' is empty; write the Docker Hub user or organisation, such as linaro");
        for good in ["linaro", "l1", "my-org", "my_org", "a-_b", &"a".repeat(253)] {
            valid(&format!(
                "namespace: '{good}'\nbuilds: {{pattern: x}}\nimages: [a]\n"
            ));
        }
        assert_eq!(namespace_problem(&"a".repeat(255), Naming::DockerHub), None);
    }

    #[test]
    fn registries() {
        let registry =
            |r: &str| parse_str("m.yaml", &format!("registry: '{r}'\n{BASE}")).map(|m| m.registry);
        let oci = |r: &str| match registry(r) {
            Ok(RegistryRef::Oci { url }) => url.to_string(),
            other => panic!("{r}: {other:?}"),
        };
        assert_eq!(registry("docker.io").ok(), Some(RegistryRef::DockerHub));
        assert_eq!(oci("https://ghcr.io"), "https://ghcr.io/");
        assert_eq!(
            oci("https://registry.example.com:5000/"),
            "https://registry.example.com:5000/"
        );
        assert_eq!(oci("http://localhost:5000"), "http://localhost:5000/");
        assert_eq!(oci("http://127.0.0.2:5000"), "http://127.0.0.2:5000/");
        assert_eq!(oci("http://[::1]:5000"), "http://[::1]:5000/");

        let bad = |r: &str| problem(&format!("registry: '{r}'\n{BASE}"));
        assert_eq!(
            bad("ghcr.io"),
            "m.yaml:1:11: registry 'ghcr.io' needs a scheme: write https://ghcr.io"
        );
        assert_eq!(
            bad("127.0.0.1:5000"),
            "m.yaml:1:11: registry '127.0.0.1:5000' needs a scheme: write http://127.0.0.1:5000"
        );
        assert_eq!(
            bad("hub.docker.com"),
            "m.yaml:1:11: 'hub.docker.com' is Docker Hub: write registry: docker.io"
        );
        assert_eq!(
            bad("https://index.docker.io/"),
            "m.yaml:1:11: 'https://index.docker.io/' is Docker Hub: write registry: docker.io"
        );
        assert_eq!(
            bad("http://ghcr.io"),
            "m.yaml:1:11: plain http is only allowed for loopback registries (127.0.0.0/8, ::1, localhost); write https://ghcr.io"
        );
        assert_eq!(
            bad("http://10.0.0.1:5000"),
            "m.yaml:1:11: plain http is only allowed for loopback registries (127.0.0.0/8, ::1, localhost); write https://10.0.0.1:5000"
        );
        assert_eq!(
            bad("https://bot:s3cret@ghcr.io"),
            "m.yaml:1:11: the registry URL must not contain credentials: write https://ghcr.io and give credentials through the environment (the manifest is reviewed in public)"
        );
        assert_eq!(
            bad("https://ghcr.io/v2/"),
            "m.yaml:1:11: the registry URL must be only scheme, host and port (the API path /v2/ is added automatically): write https://ghcr.io"
        );
        assert_eq!(
            bad("https://ghcr.io/?x=1"),
            "m.yaml:1:11: the registry URL must be only scheme, host and port (the API path /v2/ is added automatically): write https://ghcr.io"
        );
        assert_eq!(bad("ftp://ghcr.io"), "m.yaml:1:11: registry URL scheme 'ftp' is not supported; use https:// (or http:// on loopback)");
        assert_eq!(
            bad("https://"),
            "m.yaml:1:11: invalid registry URL 'https://': empty host; write 'docker.io' for Docker Hub, or an OCI registry URL such as https://registry.example.com or http://localhost:5000"
        );
        assert!(!bad("https://user:pw@[bad").contains("pw"));
        assert_eq!(
            bad("my registry"),
            "m.yaml:1:11: invalid registry 'my registry'; write 'docker.io' for Docker Hub, or an OCI registry URL such as https://registry.example.com or http://localhost:5000"
        );
        assert_eq!(bad(""), "m.yaml:1:11: 'registry' is empty; write 'docker.io' for Docker Hub, or an OCI registry URL such as https://registry.example.com or http://localhost:5000");
    }
}
