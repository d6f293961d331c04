//! Checked configuration, built from the command line and the environment
//! before any work starts: the registry address, concurrency, credentials.
//!
//! Credentials come from the environment (`DOCKERHUB_USERNAME`,
//! `DOCKERHUB_TOKEN`) or stdin (`--password-stdin`), never from a flag, so a
//! token cannot end up in shell history or a CI log's command line. A flag
//! (`--username`, `--password-stdin`) wins over the environment.

use std::io::BufRead;

use anyhow::{bail, Context, Result};
use url::{Host, Url};

use crate::cli::ConnectionArgs;
use crate::credentials::Credentials;
use crate::manifest::{Manifest, RegistryRef};
use crate::registry::dockerhub::DockerHub;
use crate::registry::http::{HttpClient, HttpOptions};
use crate::registry::snapshot::SnapshotRegistry;
use crate::registry::Registry;
use crate::secret::Secret;

/// How to reach the registry, checked.
#[derive(Debug, Clone)]
pub struct Connection {
    pub hub_url: Url,
    pub concurrency: usize,
    pub credentials: Option<Credentials>,
    pub verbose: bool,
}

impl Connection {
    /// Resolves the flags against the environment (`env`) and stdin (`stdin`).
    pub fn resolve(
        args: &ConnectionArgs,
        verbose: bool,
        env: impl Fn(&str) -> Option<String>,
        stdin: impl FnOnce() -> std::io::Result<String>,
    ) -> Result<Self> {
        let hub_url = api_url(&args.hub_url).context("--hub-url / TAGSWEEP_HUB_URL")?;
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let username = args.username.clone().or_else(|| env("DOCKERHUB_USERNAME"));
        let secret = if args.password_stdin {
            let line = stdin().context("reading the password from stdin")?;
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.is_empty() {
                bail!("--password-stdin: stdin held no password (pipe the token in: `printenv TOKEN | tagsweep … --password-stdin`)");
            }
            Some(Secret::new(line))
        } else {
            env("DOCKERHUB_TOKEN").map(Secret::new)
        };
        let credentials = match (username, secret) {
            (Some(username), Some(secret)) => Some(Credentials { username, secret }),
            (None, None) => None,
            (Some(_), None) => bail!(
                "a username is set (--username or DOCKERHUB_USERNAME) but no token: set DOCKERHUB_TOKEN or pass --password-stdin"
            ),
            (None, Some(_)) => bail!(
                "a token is given (DOCKERHUB_TOKEN or --password-stdin) but no username: set DOCKERHUB_USERNAME or pass --username"
            ),
        };
        Ok(Connection {
            hub_url,
            concurrency: usize::from(args.concurrency),
            credentials,
            verbose,
        })
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
    let url = Url::parse(raw.trim()).with_context(|| format!("{raw:?} is not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => bail!("{url}: plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use https"),
        other => bail!("{url}: unsupported scheme {other:?}; use https"),
    }
    if url.host().is_none() {
        bail!("{url}: no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("{url}: credentials do not belong in the URL; use DOCKERHUB_USERNAME and DOCKERHUB_TOKEN");
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The registry a command talks to: a snapshot file when `from` is given,
/// otherwise the one the manifest names.
pub fn open_registry(
    manifest: &Manifest,
    connection: &Connection,
    from: Option<&std::path::Path>,
) -> Result<Box<dyn Registry>> {
    if let Some(path) = from {
        let snapshot = SnapshotRegistry::open(path)?;
        if snapshot.namespace() != manifest.namespace {
            bail!(
                "{}: the snapshot is of namespace {:?}, the manifest {} of {:?}",
                path.display(),
                snapshot.namespace(),
                manifest.source,
                manifest.namespace
            );
        }
        return Ok(Box::new(snapshot));
    }
    match &manifest.registry {
        RegistryRef::DockerHub => {
            let http = HttpClient::new(HttpOptions {
                concurrency: connection.concurrency,
                verbose: connection.verbose,
                ..HttpOptions::default()
            })?;
            Ok(Box::new(DockerHub::new(
                http,
                connection.hub_url.clone(),
                &manifest.namespace,
                connection.credentials.clone(),
            )))
        }
        RegistryRef::Oci { url } => {
            let http = HttpClient::new(HttpOptions {
                concurrency: connection.concurrency,
                verbose: connection.verbose,
                ..HttpOptions::default()
            })?;
            let credentials = crate::registry::oci::credentials::resolve(url, connection, |k| {
                std::env::var(k).ok()
            })?;
            Ok(Box::new(crate::registry::oci::OciRegistry::new(
                http,
                url.clone(),
                manifest,
                credentials,
                connection.concurrency,
            )?))
        }
    }
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

    #[test]
    fn credentials_from_the_environment() {
        let c = Connection::resolve(
            &args(None, false),
            false,
            env(&[
                ("DOCKERHUB_USERNAME", "bot"),
                ("DOCKERHUB_TOKEN", "dckr_pat_x"),
            ]),
            no_stdin,
        )
        .unwrap();
        let creds = c.credentials.unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.secret.expose()),
            ("bot", "dckr_pat_x")
        );
        let c = Connection::resolve(&args(None, false), false, env(&[]), no_stdin).unwrap();
        assert!(c.credentials.is_none(), "anonymous");
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
        let creds = c.credentials.unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.secret.expose()),
            ("alice", "stdin-token")
        );
    }

    #[test]
    fn half_credentials_are_an_error_that_never_shows_the_token() {
        let e = Connection::resolve(
            &args(None, false),
            false,
            env(&[("DOCKERHUB_TOKEN", "dckr_pat_secret")]),
            no_stdin,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("no username"));
        assert!(!format!("{e:#}{e:?}").contains("dckr_pat_secret"));
        let e =
            Connection::resolve(&args(Some("bot"), false), false, env(&[]), no_stdin).unwrap_err();
        assert!(format!("{e:#}").contains("no token"));
        let e = Connection::resolve(
            &args(Some("bot"), true),
            false,
            env(&[]),
            || Ok("\n".into()),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("stdin held no password"));
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
        assert!(api_url("https://user:pw@hub.docker.com").is_err());
        assert!(api_url("not a url").is_err());
    }
}
