//! Who we log in to an OCI registry as.
//!
//! In order: `--username` with `--password-stdin` (the flags); then
//! `TAGSWEEP_REGISTRY_USERNAME` + `TAGSWEEP_REGISTRY_PASSWORD`; then the
//! `auths` entry for the registry's host in Docker's `config.json`
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), as written by
//! `docker login`; otherwise anonymous. `DOCKERHUB_USERNAME`/`DOCKERHUB_TOKEN`
//! are Docker Hub's and are never sent to another registry. Credential
//! helpers (`credsStore`, `credHelpers`) and identity tokens are not
//! supported: we say so with `-v` and go on without them.

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use crate::config::Connection;
use crate::credentials::Credentials;
use crate::registry::RegistryError;
use crate::secret::Secret;

pub const USERNAME_ENV: &str = "TAGSWEEP_REGISTRY_USERNAME";
pub const PASSWORD_ENV: &str = "TAGSWEEP_REGISTRY_PASSWORD";

/// Where the credentials came from, for `-v` (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flags,
    Environment,
    DockerConfig(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flags => f.write_str("--username/--password-stdin"),
            Source::Environment => write!(f, "{USERNAME_ENV}/{PASSWORD_ENV}"),
            Source::DockerConfig(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Resolves the credentials for the registry at `url` (see the module
/// documentation). `env` reads the environment; notes go to stderr with `-v`.
pub fn resolve(
    url: &Url,
    connection: &Connection,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<(Credentials, Source)>, RegistryError> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    // The connection's credentials come from the flags or from DOCKERHUB_*;
    // a password from the flags can only come through stdin, so a secret equal
    // to DOCKERHUB_TOKEN is Docker Hub's, not this registry's.
    if let Some(c) = &connection.credentials {
        if env("DOCKERHUB_TOKEN").as_deref() != Some(c.secret.expose()) {
            return Ok(Some((c.clone(), Source::Flags)));
        }
    }
    match (env(USERNAME_ENV), env(PASSWORD_ENV)) {
        (Some(username), Some(password)) => {
            return Ok(Some((
                Credentials {
                    username,
                    secret: Secret::new(password),
                },
                Source::Environment,
            )))
        }
        (Some(_), None) => {
            return Err(RegistryError::Refused(format!(
                "{USERNAME_ENV} is set but {PASSWORD_ENV} is not: set both, or neither"
            )))
        }
        (None, Some(_)) => {
            return Err(RegistryError::Refused(format!(
                "{PASSWORD_ENV} is set but {USERNAME_ENV} is not: set both, or neither"
            )))
        }
        (None, None) => {}
    }
    let path = match env("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => match env("HOME") {
            Some(home) => PathBuf::from(home).join(".docker").join("config.json"),
            None => return Ok(None),
        },
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    match from_docker_config(&text, url) {
        Ok(Some(creds)) => Ok(Some((creds, Source::DockerConfig(path)))),
        Ok(None) => Ok(None),
        Err(why) => {
            if connection.verbose {
                eprintln!("tagsweep: {}: {why}", path.display());
            }
            Ok(None)
        }
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

/// The credentials Docker's `config.json` (`text`) holds for `url`'s host.
/// `Err` says why an entry that exists cannot be used.
pub fn from_docker_config(text: &str, url: &Url) -> Result<Option<Credentials>, String> {
    let config: DockerConfig =
        serde_json::from_str(text).map_err(|e| format!("not a Docker config.json ({e})"))?;
    let host = host_key(url);
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| normalize_key(key) == host)
        .map(|(_, entry)| entry);
    let Some(entry) = entry else {
        if config.cred_helpers.contains_key(&host) || config.creds_store.is_some() {
            return Err(format!(
                "credential helpers (credsStore, credHelpers) are not supported; set {USERNAME_ENV} and {PASSWORD_ENV} for {host}"
            ));
        }
        return Ok(None);
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64_decode(auth)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| format!("the auth entry for {host} is not base64 of user:password"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("the auth entry for {host} is not user:password"))?;
        return Ok(Some(Credentials {
            username: username.to_string(),
            secret: Secret::new(password),
        }));
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: username.clone(),
            secret: Secret::new(password.clone()),
        }));
    }
    if entry.identity_token.is_some() {
        return Err(format!(
            "the entry for {host} holds an identity token, which is not supported; set {USERNAME_ENV} and {PASSWORD_ENV}"
        ));
    }
    Ok(None)
}

/// `host[:port]` as `docker login` keys `auths`.
fn host_key(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// `https://quay.io/v1/`, `http://127.0.0.1:5000`, `quay.io` → `quay.io`, `127.0.0.1:5000`.
fn normalize_key(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (for `Authorization: Basic`).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard or URL-safe base64, padding optional, whitespace ignored.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(credentials: Option<(&str, &str)>) -> Connection {
        Connection {
            hub_url: Url::parse("https://hub.docker.com").unwrap(),
            concurrency: 8,
            credentials: credentials.map(|(u, p)| Credentials {
                username: u.into(),
                secret: Secret::new(p),
            }),
            verbose: false,
        }
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn who(r: Option<(Credentials, Source)>) -> Option<(String, String, Source)> {
        r.map(|(c, s)| (c.username, c.secret.expose().to_string(), s))
    }

    #[test]
    fn base64_round_trips() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("lab:lab-password", "bGFiOmxhYi1wYXNzd29yZA=="),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_decode("Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("_-8").unwrap(), [0xff, 0xef]);
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn flags_then_environment_never_docker_hub_credentials() {
        let url = Url::parse("https://quay.io").unwrap();
        let none = env(&[]);
        assert_eq!(who(resolve(&url, &connection(None), &none).unwrap()), None);
        // From --username/--password-stdin.
        let r = resolve(&url, &connection(Some(("bob", "from-stdin"))), &none).unwrap();
        assert_eq!(
            who(r),
            Some(("bob".into(), "from-stdin".into(), Source::Flags))
        );
        // DOCKERHUB_* are Docker Hub's: ignored here; ours are used instead.
        let e = env(&[
            ("DOCKERHUB_USERNAME", "hubbot"),
            ("DOCKERHUB_TOKEN", "dckr_pat_x"),
            (USERNAME_ENV, "robot$ci"),
            (PASSWORD_ENV, "quay-token"),
        ]);
        let r = resolve(&url, &connection(Some(("hubbot", "dckr_pat_x"))), &e).unwrap();
        assert_eq!(
            who(r),
            Some(("robot$ci".into(), "quay-token".into(), Source::Environment))
        );
        let e = env(&[
            ("DOCKERHUB_USERNAME", "hubbot"),
            ("DOCKERHUB_TOKEN", "dckr_pat_x"),
        ]);
        let r = resolve(&url, &connection(Some(("hubbot", "dckr_pat_x"))), &e).unwrap();
        assert_eq!(who(r), None);
        let err = resolve(&url, &connection(None), env(&[(USERNAME_ENV, "u")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("TAGSWEEP_REGISTRY_PASSWORD is not"),
            "{err}"
        );
        let err = resolve(&url, &connection(None), env(&[(PASSWORD_ENV, "secret-1")])).unwrap_err();
        assert!(!format!("{err}{err:?}").contains("secret-1"));
    }

    #[test]
    fn docker_config_auths_by_host() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://quay.io/v1/":{"auth":"cm9ib3Q6cXVheS1wdw=="},"127.0.0.1:5000":{"username":"lab","password":"lab-password"},"ghcr.io":{"identitytoken":"x"}},"credsStore":"desktop"}"#,
        )
        .unwrap();
        let dir_s = dir.path().display().to_string();
        let pairs = [("DOCKER_CONFIG", dir_s.as_str())];
        let e = env(&pairs);
        let at = |u: &str| who(resolve(&Url::parse(u).unwrap(), &connection(None), &e).unwrap());
        let path = dir.path().join("config.json");
        assert_eq!(
            at("https://quay.io"),
            Some((
                "robot".into(),
                "quay-pw".into(),
                Source::DockerConfig(path.clone())
            ))
        );
        assert_eq!(
            at("http://127.0.0.1:5000"),
            Some((
                "lab".into(),
                "lab-password".into(),
                Source::DockerConfig(path)
            ))
        );
        assert_eq!(at("http://127.0.0.1:5001"), None);
        assert_eq!(
            at("https://ghcr.io"),
            None,
            "identity tokens are not supported"
        );
        let err = from_docker_config(
            r#"{"auths":{},"credsStore":"desktop"}"#,
            &Url::parse("https://r.example").unwrap(),
        )
        .unwrap_err();
        assert!(err.contains("credential helpers"), "{err}");
    }
}
