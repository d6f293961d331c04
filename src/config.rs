//! Checked configuration, built from the command line and the environment
//! before any work starts: the registry address, concurrency, and what
//! credentials are made of.
//!
//! Secrets come from stdin (`--password-stdin`), the environment or Docker's
//! `config.json`, never from a flag, so a token cannot end up in shell history
//! or a CI log's command line. Which of them is used depends on the registry
//! the manifest names, so [`Connection`] keeps the raw inputs and
//! [`crate::credentials::resolve`] picks, once per registry, when the
//! registry is opened (the precedence is documented there).

use std::io::BufRead;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use url::Url;

use crate::cli::ConnectionArgs;
use crate::credentials::{
    self, Credentials, Environment, Inputs, Source, Target, DOCKERHUB_USERNAME_ENV,
    REGISTRY_USERNAME_ENV,
};
use crate::manifest::{Manifest, RegistryRef};
use crate::notes::Notes;
use crate::progress::Terminal;
use crate::registry::dockerhub::DEFAULT_REGISTRY_API_URL;
use crate::registry::{self, Backend, OpenOptions, Registry, RegistryError};
use crate::secret::Secret;

/// Credentials found so far, by registry.
type Resolved = Vec<(Target, Option<(Credentials, Source)>)>;

/// How to reach the registry, checked.
#[derive(Debug, Clone)]
pub struct Connection {
    pub hub_url: Url,
    /// Docker Hub's registry API, where manifests (platforms) are read
    /// (`--registry-api-url`; default [`DEFAULT_REGISTRY_API_URL`]).
    pub registry_api_url: Url,
    /// `--no-cache`: tagsweep's caches are neither read nor written.
    pub no_cache: bool,
    /// Where tagsweep's caches are kept: `--cache-dir`, else the user's
    /// cache directory ([`crate::cache_dir::default_cache_dir`]); `None`
    /// when the system names none.
    pub cache_dir: Option<std::path::PathBuf>,
    pub concurrency: usize,
    pub verbose: bool,
    /// `--username`, and the secret `--password-stdin` read.
    pub inputs: Inputs,
    /// The environment credentials are looked up in, as it was at the start.
    pub env: Environment,
    /// What [`Connection::credentials`] found: each registry's sources are
    /// consulted once (credential helpers run once, `-v` says it once).
    resolved: Arc<Mutex<Resolved>>,
    /// Stderr, where notes are shown (around the progress bar it draws).
    pub terminal: Arc<Terminal>,
    /// What the backends say goes there (`-v` shows [`crate::notes::Level::Info`]).
    pub notes: Notes,
}

impl Connection {
    /// A connection from checked parts (for library callers and tests), with
    /// Docker Hub's registry API at its default address and the cache on.
    pub fn new(
        hub_url: Url,
        concurrency: usize,
        verbose: bool,
        inputs: Inputs,
        env: Environment,
    ) -> Self {
        let terminal = Arc::new(Terminal::default());
        Connection {
            notes: Notes::new(verbose, terminal.clone()),
            terminal,
            hub_url,
            registry_api_url: Url::parse(DEFAULT_REGISTRY_API_URL).expect("a valid URL"),
            no_cache: false,
            cache_dir: crate::cache_dir::default_cache_dir(),
            concurrency,
            verbose,
            inputs,
            env,
            resolved: Arc::default(),
        }
    }

    /// Resolves the flags against the environment (`env`) and stdin (`stdin`).
    pub fn resolve(
        args: &ConnectionArgs,
        verbose: bool,
        env: impl Fn(&str) -> Option<String>,
        stdin: impl FnOnce() -> std::io::Result<String>,
    ) -> Result<Self> {
        let hub_url = api_url(&args.hub_url).context("--hub-url / TAGSWEEP_HUB_URL")?;
        let registry_api_url = api_url(&args.registry_api_url)
            .context("--registry-api-url / TAGSWEEP_REGISTRY_API_URL")?;
        let env = Environment::capture(env);
        let username_flag = args.username.clone().filter(|u| !u.is_empty());
        let stdin_secret = if args.password_stdin {
            if username_flag.is_none()
                && env.get(DOCKERHUB_USERNAME_ENV).is_none()
                && env.get(REGISTRY_USERNAME_ENV).is_none()
            {
                bail!(
                    "--password-stdin needs a username: pass --username (or set {DOCKERHUB_USERNAME_ENV} for Docker Hub, {REGISTRY_USERNAME_ENV} for another registry)"
                );
            }
            let line = stdin().context("reading the password from stdin")?;
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.is_empty() {
                bail!("--password-stdin: stdin held no password (pipe the token in: `printenv TOKEN | tagsweep … --password-stdin`)");
            }
            Some(Secret::new(line))
        } else {
            None
        };
        let cache_dir = args
            .cache_dir
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(crate::cache_dir::default_cache_dir);
        Ok(Connection {
            registry_api_url,
            no_cache: args.no_cache,
            cache_dir,
            ..Connection::new(
                hub_url,
                usize::from(args.concurrency),
                verbose,
                Inputs {
                    username_flag,
                    stdin_secret,
                },
                env,
            )
        })
    }

    /// This connection without the OCI credentials that name no registry —
    /// `--username`/`--password-stdin` and `TAGSWEEP_REGISTRY_USERNAME`/
    /// `TAGSWEEP_REGISTRY_PASSWORD` — for a registry the user did not name
    /// (one a journal names: `restore`). Docker's `config.json`, which
    /// keeps credentials per host, still applies; Docker Hub's variables
    /// still go to Docker Hub alone.
    pub fn without_unnamed_credentials(&self) -> Connection {
        Connection {
            inputs: Inputs::default(),
            env: self
                .env
                .without(&[REGISTRY_USERNAME_ENV, credentials::REGISTRY_PASSWORD_ENV]),
            resolved: Arc::default(),
            ..self.clone()
        }
    }

    /// Whether the user gave OCI credentials that name no registry (see
    /// [`Connection::without_unnamed_credentials`]).
    pub fn has_unnamed_credentials(&self) -> bool {
        self.inputs.username_flag.is_some()
            || self.inputs.stdin_secret.is_some()
            || self.env.get(REGISTRY_USERNAME_ENV).is_some()
            || self.env.get(credentials::REGISTRY_PASSWORD_ENV).is_some()
    }

    /// The credentials for `target`, and where they came from; `None` for
    /// anonymous access. Looked up on first use, then remembered.
    pub fn credentials(&self, target: &Target) -> Result<Option<(Credentials, Source)>> {
        let mut resolved = self.resolved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, found)) = resolved.iter().find(|(t, _)| t == target) {
            return Ok(found.clone());
        }
        let found = credentials::resolve(target, &self.inputs, |k| self.env.get(k), self.verbose)?;
        resolved.push((target.clone(), found.clone()));
        Ok(found)
    }
}

/// Reads the first line of the process's stdin.
pub fn read_stdin_line() -> std::io::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line)
}

/// An API address: `https://…`, or `http://…` on a loopback host only.
pub fn api_url(raw: &str) -> Result<Url> {
    // Every message shows the address without what may be a secret in it.
    let shown = crate::net::shown(raw);
    let lower = raw.trim().to_ascii_lowercase();
    if !lower.starts_with("https://") && !lower.starts_with("http://") {
        bail!("{shown}: write the address with its scheme: https://… (http:// only for a loopback host)");
    }
    let url = Url::parse(raw.trim()).with_context(|| format!("{shown:?} is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        bail!(
            "{shown}: credentials do not belong in the URL; use DOCKERHUB_USERNAME and DOCKERHUB_TOKEN, or `docker login`"
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!(
            "{shown}: an API address takes no query or fragment (left out here: it may hold a key); give scheme, host, port and path only"
        );
    }
    match url.scheme() {
        "https" => {}
        "http" if crate::net::is_loopback(&url) => {}
        "http" => bail!("{shown}: plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use https"),
        other => bail!("{shown}: unsupported scheme {other:?}; use https"),
    }
    if url.host().is_none() {
        bail!("{shown}: no host");
    }
    Ok(url)
}

/// The backend a command talks to: a snapshot file when `from` is given,
/// otherwise the registry the manifest names (Docker Hub at `--hub-url` and
/// `--registry-api-url`, or an OCI registry).
pub fn backend(manifest: &Manifest, connection: &Connection, from: Option<&Path>) -> Backend {
    match (from, &manifest.registry) {
        (Some(path), _) => Backend::Snapshot {
            path: path.to_path_buf(),
        },
        (None, RegistryRef::DockerHub) => Backend::DockerHub {
            api: connection.hub_url.clone(),
            registry_api: connection.registry_api_url.clone(),
        },
        (None, RegistryRef::Oci { url }) => Backend::Oci { url: url.clone() },
    }
}

/// Opens the registry a journal line names — `docker.io` (Docker Hub at
/// `--hub-url` and `--registry-api-url`) or an OCI registry's URL (`https`,
/// or `http` on loopback) — for `namespace`, logged in with the
/// credentials found for it, as [`open_registry`] does for a manifest.
///
/// Errors: a registry name that is neither, or credentials that cannot be
/// read.
pub fn open_registry_named(
    registry: &str,
    namespace: &str,
    connection: &Connection,
) -> Result<Box<dyn Registry>> {
    let backend = if registry == "docker.io" {
        Backend::DockerHub {
            api: connection.hub_url.clone(),
            registry_api: connection.registry_api_url.clone(),
        }
    } else {
        let url = api_url(registry).with_context(|| {
            format!(
                "the journal names the registry {registry:?}: neither docker.io nor a registry URL"
            )
        })?;
        Backend::Oci { url }
    };
    let credentials = match backend.credentials_target() {
        Some(target) => connection.credentials(&target)?,
        None => None,
    };
    let options = OpenOptions {
        namespace: namespace.to_string(),
        credentials,
        concurrency: connection.concurrency,
        platforms: false,
        notes: connection.notes.clone(),
    };
    Ok(registry::open(&backend, options)?)
}

/// Opens the [`backend`] of `manifest` ([`registry::open()`]), logged in with
/// the credentials found for it.
pub fn open_registry(
    manifest: &Manifest,
    connection: &Connection,
    from: Option<&Path>,
) -> Result<Box<dyn Registry>> {
    let backend = backend(manifest, connection, from);
    let credentials = match backend.credentials_target() {
        Some(target) => connection.credentials(&target)?,
        None => None,
    };
    let options = OpenOptions {
        namespace: manifest.namespace.clone(),
        credentials,
        concurrency: connection.concurrency,
        platforms: !manifest.platforms.is_empty(),
        notes: connection.notes.clone(),
    };
    let registry = registry::open(&backend, options).map_err(|e| match e {
        RegistryError::SnapshotNamespace { path, found, .. } => anyhow::anyhow!(
            "{path}: the snapshot is of namespace {found:?}, the manifest {} of {:?}",
            manifest.source,
            manifest.namespace
        ),
        e => anyhow::Error::from(e),
    })?;
    // A snapshot of the same namespace on another registry is another set of
    // repositories: judging it under this manifest would report (and plan)
    // what this registry does not hold.
    if let Some(path) = from {
        let (found, expected) = (registry.name(), manifest.registry.name());
        if found != expected {
            bail!(
                "{}: the snapshot was taken of {found}, but the manifest {} names {expected}; \
                 take a snapshot with this manifest (`tagsweep snapshot -m {} -o FILE`)",
                path.display(),
                manifest.source,
                manifest.source
            );
        }
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(username: Option<&str>, password_stdin: bool) -> ConnectionArgs {
        ConnectionArgs {
            hub_url: "https://hub.docker.com".into(),
            concurrency: 8,
            username: username.map(Into::into),
            password_stdin,
            registry_api_url: "https://registry-1.docker.io".into(),
            no_cache: false,
            cache_dir: None,
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

    fn no_stdin() -> std::io::Result<String> {
        panic!("stdin must not be read")
    }

    fn who(found: Option<(Credentials, Source)>) -> Option<(String, String, String)> {
        found.map(|(c, s)| (c.username, c.secret.expose().to_string(), s.to_string()))
    }

    #[test]
    fn credentials_follow_the_manifests_registry() {
        let e = env(&[
            ("DOCKERHUB_USERNAME", "bot"),
            ("DOCKERHUB_TOKEN", "dckr_pat_x"),
            ("TAGSWEEP_REGISTRY_USERNAME", "robot"),
            ("TAGSWEEP_REGISTRY_PASSWORD", "quay-pw"),
        ]);
        let c = Connection::resolve(&args(None, false), false, e, no_stdin).unwrap();
        assert_eq!(
            who(c.credentials(&Target::DockerHub).unwrap()),
            Some((
                "bot".into(),
                "dckr_pat_x".into(),
                "DOCKERHUB_USERNAME/DOCKERHUB_TOKEN".into()
            ))
        );
        let quay = Target::oci(&Url::parse("https://quay.io").unwrap());
        assert_eq!(
            who(c.credentials(&quay).unwrap()),
            Some((
                "robot".into(),
                "quay-pw".into(),
                "TAGSWEEP_REGISTRY_USERNAME/TAGSWEEP_REGISTRY_PASSWORD".into()
            ))
        );
        // No DOCKER_CONFIG, no HOME: nothing else to look at.
        let c = Connection::resolve(&args(None, false), false, env(&[]), no_stdin).unwrap();
        assert!(
            c.credentials(&Target::DockerHub).unwrap().is_none(),
            "anonymous"
        );
    }

    #[test]
    fn flags_win_over_the_environment() {
        let c = Connection::resolve(
            &args(Some("alice"), true),
            false,
            env(&[
                ("DOCKERHUB_USERNAME", "bot"),
                ("DOCKERHUB_TOKEN", "env-token"),
            ]),
            || Ok("stdin-token\n".into()),
        )
        .unwrap();
        assert_eq!(
            who(c.credentials(&Target::DockerHub).unwrap()),
            Some((
                "alice".into(),
                "stdin-token".into(),
                "--username/--password-stdin".into()
            ))
        );
    }

    #[test]
    fn half_credentials_are_an_error_that_never_shows_the_token() {
        let c = Connection::resolve(
            &args(None, false),
            false,
            env(&[("DOCKERHUB_TOKEN", "dckr_pat_secret")]),
            no_stdin,
        )
        .unwrap();
        let e = c.credentials(&Target::DockerHub).unwrap_err();
        assert!(format!("{e:#}").contains("no username"), "{e:#}");
        assert!(!format!("{e:#}{e:?}{c:?}").contains("dckr_pat_secret"));
        let c = Connection::resolve(&args(Some("bot"), false), false, env(&[]), no_stdin).unwrap();
        let e = c.credentials(&Target::DockerHub).unwrap_err();
        assert!(format!("{e:#}").contains("no token"), "{e:#}");
        let e = Connection::resolve(
            &args(Some("bot"), true),
            false,
            env(&[]),
            || Ok("\n".into()),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("stdin held no password"));
        // --password-stdin with no username anywhere: refused before reading stdin.
        let e = Connection::resolve(&args(None, true), false, env(&[]), no_stdin).unwrap_err();
        assert!(
            format!("{e:#}").contains("--password-stdin needs a username"),
            "{e:#}"
        );
        // A username for another registry only: refused when Docker Hub is opened.
        let c = Connection::resolve(
            &args(None, true),
            false,
            env(&[("TAGSWEEP_REGISTRY_USERNAME", "robot")]),
            || Ok("s3cret-pw\n".into()),
        )
        .unwrap();
        let e = c.credentials(&Target::DockerHub).unwrap_err();
        assert!(
            format!("{e:#}").contains("--password-stdin needs a username"),
            "{e:#}"
        );
        assert!(!format!("{e:#}{e:?}{c:?}").contains("s3cret-pw"));
    }

    #[test]
    fn each_registry_is_resolved_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOmh1Yi1wdw=="}}}"#,
        )
        .unwrap();
        let dir_s = dir.path().display().to_string();
        let c = Connection::resolve(
            &args(None, false),
            false,
            env(&[("DOCKER_CONFIG", dir_s.as_str())]),
            no_stdin,
        )
        .unwrap();
        let first = who(c.credentials(&Target::DockerHub).unwrap());
        assert_eq!(
            first,
            Some(("hub".into(), "hub-pw".into(), config.display().to_string()))
        );
        // Later changes to the file are not seen: the first answer stands.
        std::fs::remove_file(&config).unwrap();
        assert_eq!(who(c.credentials(&Target::DockerHub).unwrap()), first);
        assert_eq!(
            who(c.clone().credentials(&Target::DockerHub).unwrap()),
            first
        );
    }

    #[test]
    fn the_registry_api_address_is_checked_like_the_hub_address() {
        let c = Connection::resolve(&args(None, false), false, env(&[]), no_stdin).unwrap();
        assert_eq!(c.registry_api_url.as_str(), "https://registry-1.docker.io/");
        assert!(!c.no_cache);
        let mut a = args(None, false);
        a.registry_api_url = "http://127.0.0.1:5000".into();
        a.no_cache = true;
        let c = Connection::resolve(&a, false, env(&[]), no_stdin).unwrap();
        assert_eq!(c.registry_api_url.as_str(), "http://127.0.0.1:5000/");
        assert!(c.no_cache);
        a.registry_api_url = "http://registry.example".into();
        let e = Connection::resolve(&a, false, env(&[]), no_stdin).unwrap_err();
        assert!(
            format!("{e:#}").contains("--registry-api-url")
                && format!("{e:#}").contains("loopback"),
            "{e:#}"
        );
    }

    #[test]
    fn api_urls_are_https_except_on_loopback() {
        assert!(api_url("https://hub.docker.com").is_ok());
        assert!(api_url("http://127.0.0.1:8080").is_ok());
        assert!(api_url("http://[::1]:8080").is_ok());
        assert!(api_url("http://localhost:8080").is_ok());
        assert!(api_url("http://hub.docker.com").is_err());
        assert!(api_url("http://10.0.0.1").is_err());
        assert!(api_url("ftp://127.0.0.1").is_err());
        let refused = api_url("https://user:dckr_pat_x@hub.docker.com").unwrap_err();
        assert!(
            !format!("{refused:#}").contains("dckr_pat_x"),
            "{refused:#}"
        );
        // Refused for its credentials before anything else is said of it.
        let plain = api_url("http://user:dckr_pat_x@10.0.0.1").unwrap_err();
        assert!(
            format!("{plain:#}").contains("credentials do not belong")
                && !format!("{plain:#}").contains("dckr_pat_x"),
            "{plain:#}"
        );
        let query = api_url("https://hub.docker.com/?key=dckr_pat_x").unwrap_err();
        assert!(
            format!("{query:#}").contains("no query")
                && !format!("{query:#}").contains("dckr_pat_x"),
            "{query:#}"
        );
        let unparsable = api_url("https://user:dckr_pat_x@[bad").unwrap_err();
        assert!(
            !format!("{unparsable:#}").contains("dckr_pat_x"),
            "{unparsable:#}"
        );
        assert!(api_url("not a url").is_err());
    }
}
