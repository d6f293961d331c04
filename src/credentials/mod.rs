//! Who we log in as, and where that comes from: one place for every backend
//! (Docker Hub and OCI registries), called by `config::open_registry` for
//! whichever registry the manifest names.
//!
//! # Sources, in order (the first that gives credentials wins)
//!
//! 1. **Flags**: `--username U` with `--password-stdin` (the first line of
//!    stdin). A flag may be completed by the environment's other half *for
//!    the same registry* (`--username U` with `DOCKERHUB_TOKEN`).
//! 2. **Environment**: `DOCKERHUB_USERNAME` + `DOCKERHUB_TOKEN` for Docker
//!    Hub; `TAGSWEEP_REGISTRY_USERNAME` + `TAGSWEEP_REGISTRY_PASSWORD` for an
//!    OCI registry. One registry's variables are never sent to the other.
//! 3. **Docker's `config.json`** (`$DOCKER_CONFIG/config.json`, else
//!    `$HOME/.docker/config.json`), as `docker login` writes it:
//!    1. `credHelpers[key]`: the credential helper named for this registry;
//!    2. `credsStore`: the default credential helper;
//!    3. `auths[key]`: `auth` (base64 of `user:password`), or `username` and
//!       `password`.
//!
//!    The keys for Docker Hub are `https://index.docker.io/v1/` (what
//!    `docker login` writes, preferred), `index.docker.io`, `docker.io`,
//!    `hub.docker.com` and `registry-1.docker.io`, in any form (with or
//!    without scheme, trailing slash or `/v1/`); for an OCI registry, its
//!    `host[:port]` in the same forms.
//! 4. Otherwise anonymous.
//!
//! A half-given pair (a username without its secret, or a secret without its
//! username) from the flags or the environment is an error that says what to
//! set; `--password-stdin` without any username (flag, or the environment's
//! for that registry) is one too. Docker's config is shared with other tools,
//! so what cannot be used there (a malformed file or entry, an `identitytoken`
//! — an OAuth refresh token, which Docker Hub's `/v2/auth/token` does not take
//! and which we do not exchange on OCI registries either —, a helper that is
//! missing, fails or has nothing) is only a `-v` note, and the next source is
//! tried.
//!
//! Credential helpers speak the docker-credential-helpers protocol:
//! `docker-credential-NAME get` (searched on `PATH`) reads the server URL on
//! stdin (`https://index.docker.io/v1/` for Docker Hub, `host[:port]`
//! otherwise) and prints `{"ServerURL":…,"Username":…,"Secret":…}`. Its
//! output and its stderr are never printed.
//!
//! With `-v`, tagsweep says which source was used (never the secret) and why
//! the sources before it gave nothing. Secrets travel as [`Secret`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Result};
use url::Url;

use crate::secret::Secret;

mod docker_config;
mod helper;

use self::docker_config::from_docker_config;
use self::helper::run_helper;
pub use self::helper::HelperAnswer;

/// A username (or organisation name) and its password or access token.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: Secret,
}

pub const DOCKERHUB_USERNAME_ENV: &str = "DOCKERHUB_USERNAME";
pub const DOCKERHUB_TOKEN_ENV: &str = "DOCKERHUB_TOKEN";
pub const REGISTRY_USERNAME_ENV: &str = "TAGSWEEP_REGISTRY_USERNAME";
pub const REGISTRY_PASSWORD_ENV: &str = "TAGSWEEP_REGISTRY_PASSWORD";

/// The server URL `docker login` uses for Docker Hub: its `auths` key, and
/// what credential helpers are asked for.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Docker Hub's hosts as `config.json` may name them, preferred first.
const DOCKER_HUB_HOSTS: [&str; 4] = [
    "index.docker.io",
    "docker.io",
    "hub.docker.com",
    "registry-1.docker.io",
];

/// The registry credentials are wanted for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    DockerHub,
    /// An OCI registry, by `host[:port]` (lower case; no port when default).
    Oci {
        host: String,
    },
}

impl Target {
    /// The OCI registry at `url`.
    pub fn oci(url: &Url) -> Target {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        Target::Oci { host }
    }

    fn username_env(&self) -> &'static str {
        match self {
            Target::DockerHub => DOCKERHUB_USERNAME_ENV,
            Target::Oci { .. } => REGISTRY_USERNAME_ENV,
        }
    }

    fn secret_env(&self) -> &'static str {
        match self {
            Target::DockerHub => DOCKERHUB_TOKEN_ENV,
            Target::Oci { .. } => REGISTRY_PASSWORD_ENV,
        }
    }

    fn secret_word(&self) -> &'static str {
        match self {
            Target::DockerHub => "token",
            Target::Oci { .. } => "password",
        }
    }

    /// What a credential helper is asked for.
    pub fn server_url(&self) -> String {
        match self {
            Target::DockerHub => DOCKER_HUB_SERVER.to_string(),
            Target::Oci { host } => host.clone(),
        }
    }

    /// Whether a `config.json` key (`auths`, `credHelpers`) names this
    /// registry, and how much it is preferred (lower first).
    fn key_rank(&self, key: &str) -> Option<usize> {
        let raw = key.trim().to_ascii_lowercase();
        let host = normalize_key(&raw);
        match self {
            Target::DockerHub if raw == DOCKER_HUB_SERVER => Some(0),
            Target::DockerHub => DOCKER_HUB_HOSTS
                .iter()
                .position(|h| *h == host)
                .map(|i| i + 1),
            Target::Oci { host: ours } if raw == *ours => Some(0),
            Target::Oci { host: ours } => (host == *ours).then_some(1),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::DockerHub => f.write_str("Docker Hub"),
            Target::Oci { host } => f.write_str(host),
        }
    }
}

/// `https://quay.io/v1/`, `http://127.0.0.1:5000`, `quay.io` → `quay.io`,
/// `127.0.0.1:5000` (`key` already lower case).
fn normalize_key(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or_default()
}

/// What the command line gave, unchecked: `--username`, and the secret
/// `--password-stdin` read.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub username_flag: Option<String>,
    pub stdin_secret: Option<Secret>,
}

/// The environment variables credentials are looked up in, read once when
/// the command starts. Empty values count as unset. `Debug` shows the names
/// only.
#[derive(Clone, Default)]
pub struct Environment(BTreeMap<&'static str, String>);

impl Environment {
    /// Every variable credentials may come from (`PATH` finds credential helpers).
    pub const NAMES: [&'static str; 7] = [
        DOCKERHUB_USERNAME_ENV,
        DOCKERHUB_TOKEN_ENV,
        REGISTRY_USERNAME_ENV,
        REGISTRY_PASSWORD_ENV,
        "DOCKER_CONFIG",
        "HOME",
        "PATH",
    ];

    /// Reads [`Self::NAMES`] through `env`.
    pub fn capture(env: impl Fn(&str) -> Option<String>) -> Self {
        Environment(
            Self::NAMES
                .iter()
                .filter_map(|&name| env(name).filter(|v| !v.is_empty()).map(|v| (name, v)))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// The same environment without the variables `names`.
    pub fn without(&self, names: &[&str]) -> Environment {
        Environment(
            self.0
                .iter()
                .filter(|(k, _)| !names.contains(k))
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
        )
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Where credentials came from, for `-v` (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line; each half names its origin (`--username`,
    /// `--password-stdin`, or the environment variable that completed it).
    Flags {
        username: &'static str,
        secret: &'static str,
    },
    /// The registry's pair of environment variables.
    Environment {
        username: &'static str,
        secret: &'static str,
    },
    /// An `auths` entry of Docker's `config.json`.
    DockerConfig(PathBuf),
    /// A credential helper, named by `credHelpers` or `credsStore` in `config`.
    Helper {
        name: String,
        via: &'static str,
        config: PathBuf,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flags { username, secret } | Source::Environment { username, secret } => {
                write!(f, "{username}/{secret}")
            }
            Source::DockerConfig(path) => write!(f, "{}", path.display()),
            Source::Helper { name, via, config } => {
                write!(
                    f,
                    "docker-credential-{name}, the {via} of {}",
                    config.display()
                )
            }
        }
    }
}

/// Resolves the credentials for `target` (see the module documentation).
/// `env` reads the environment (empty values count as unset); with
/// `verbose`, says on stderr which source was used and why earlier ones gave
/// nothing.
pub fn resolve(
    target: &Target,
    inputs: &Inputs,
    env: impl Fn(&str) -> Option<String>,
    verbose: bool,
) -> Result<Option<(Credentials, Source)>> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let path = env("PATH");
    let mut notes = Vec::new();
    let found = resolve_with(
        target,
        inputs,
        &env,
        &mut |note| notes.push(note),
        &|name, server| run_helper(name, server, path.as_deref()),
    );
    if verbose {
        for note in &notes {
            eprintln!("tagsweep: {note}");
        }
        match &found {
            Ok(Some((creds, source))) => eprintln!(
                "tagsweep: credentials for {target}: {} (from {source})",
                creds.username
            ),
            Ok(None) => eprintln!("tagsweep: no credentials for {target}: anonymous access"),
            Err(_) => {}
        }
    }
    found
}

/// [`resolve`], with notes going to `note` and helpers run by `helper`.
fn resolve_with(
    target: &Target,
    inputs: &Inputs,
    env: &dyn Fn(&str) -> Option<String>,
    note: &mut dyn FnMut(String),
    helper: &dyn Fn(&str, &str) -> HelperAnswer,
) -> Result<Option<(Credentials, Source)>> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(found) = from_flags_or_environment(target, inputs, &env)? {
        return Ok(Some(found));
    }
    let path = match (env("DOCKER_CONFIG"), env("HOME")) {
        (Some(dir), _) => PathBuf::from(dir).join("config.json"),
        (None, Some(home)) => PathBuf::from(home).join(".docker").join("config.json"),
        (None, None) => {
            note("no Docker config.json: neither DOCKER_CONFIG nor HOME is set".into());
            return Ok(None);
        }
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            note(format!("{}: no such file", path.display()));
            return Ok(None);
        }
        Err(e) => {
            note(format!("{}: cannot be read ({e}); ignored", path.display()));
            return Ok(None);
        }
    };
    Ok(from_docker_config(target, &path, &text, note, helper))
}

/// Step 1 and 2: the flags (completed by the environment), else the environment.
fn from_flags_or_environment(
    target: &Target,
    inputs: &Inputs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Credentials, Source)>> {
    let (user_var, secret_var, word) = (
        target.username_env(),
        target.secret_env(),
        target.secret_word(),
    );
    let env_username = env(user_var);
    let env_secret = env(secret_var);
    let username_flag = inputs.username_flag.clone().filter(|u| !u.is_empty());
    if username_flag.is_some() || inputs.stdin_secret.is_some() {
        let username = username_flag
            .map(|u| (u, "--username"))
            .or_else(|| env_username.map(|u| (u, user_var)));
        let secret = inputs
            .stdin_secret
            .clone()
            .map(|s| (s, "--password-stdin"))
            .or_else(|| env_secret.map(|s| (Secret::new(s), secret_var)));
        return match (username, secret) {
            (Some((username, user_from)), Some((secret, secret_from))) => Ok(Some((
                Credentials { username, secret },
                Source::Flags {
                    username: user_from,
                    secret: secret_from,
                },
            ))),
            (Some(_), None) => bail!(
                "credentials for {target}: a username is set (--username) but no {word}: set {secret_var} or pass --password-stdin"
            ),
            (None, _) => bail!(
                "credentials for {target}: --password-stdin needs a username: pass --username or set {user_var}"
            ),
        };
    }
    match (env_username, env_secret) {
        (Some(username), Some(secret)) => Ok(Some((
            Credentials {
                username,
                secret: Secret::new(secret),
            },
            Source::Environment {
                username: user_var,
                secret: secret_var,
            },
        ))),
        (Some(_), None) => bail!(
            "credentials for {target}: a username is set ({user_var}) but no {word}: set {secret_var} or pass --password-stdin"
        ),
        (None, Some(_)) => bail!(
            "credentials for {target}: a {word} is set ({secret_var}) but no username: set {user_var} or pass --username"
        ),
        (None, None) => Ok(None),
    }
}

/// Standard base64 with padding (for `Authorization: Basic`).
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Standard or URL-safe base64, padding optional, whitespace ignored: what
/// `docker login` writes in `auth`, and JWT segments.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::{alphabet, Engine};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let url_safe = compact.contains(['-', '_']);
    let engine = GeneralPurpose::new(
        if url_safe {
            &alphabet::URL_SAFE
        } else {
            &alphabet::STANDARD
        },
        config,
    );
    engine.decode(compact).ok()
}

#[cfg(test)]
mod tests {
    use super::helper::parse_helper_output;
    use super::*;

    const HUB_KEY: &str = "https://index.docker.io/v1/";

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn no_helper(name: &str, _server: &str) -> HelperAnswer {
        panic!("helper {name} must not run")
    }

    fn quay() -> Target {
        Target::oci(&Url::parse("https://quay.io").unwrap())
    }

    fn flags(username: Option<&str>, secret: Option<&str>) -> Inputs {
        Inputs {
            username_flag: username.map(Into::into),
            stdin_secret: secret.map(Secret::new),
        }
    }

    type Who = Option<(String, String, Source)>;

    fn who(found: Option<(Credentials, Source)>) -> Who {
        found.map(|(c, s)| (c.username, c.secret.expose().to_string(), s))
    }

    /// Resolves through `resolve_with` and returns the answer and the notes.
    fn run(
        target: &Target,
        inputs: &Inputs,
        env: &dyn Fn(&str) -> Option<String>,
        helper: &dyn Fn(&str, &str) -> HelperAnswer,
    ) -> (Result<Who>, Vec<String>) {
        let mut notes = Vec::new();
        let found = resolve_with(target, inputs, env, &mut |n| notes.push(n), helper);
        (found.map(who), notes)
    }

    /// A Docker config directory holding `config.json` = `text`.
    struct DockerDir {
        dir: tempfile::TempDir,
    }

    impl DockerDir {
        fn new(text: &str) -> DockerDir {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("config.json"), text).unwrap();
            DockerDir { dir }
        }

        fn config(&self) -> PathBuf {
            self.dir.path().join("config.json")
        }

        fn var(&self) -> String {
            self.dir.path().display().to_string()
        }

        /// What `target` resolves to with only this config (no flags, no
        /// credential variables), and the notes.
        fn resolve(
            &self,
            target: &Target,
            helper: &dyn Fn(&str, &str) -> HelperAnswer,
        ) -> (Who, Vec<String>) {
            let var = self.var();
            let pairs = [("DOCKER_CONFIG", var.as_str())];
            let (found, notes) = run(target, &Inputs::default(), &env(&pairs), helper);
            (found.unwrap(), notes)
        }
    }

    fn from_config(user: &str, secret: &str, dir: &DockerDir) -> Who {
        Some((
            user.into(),
            secret.into(),
            Source::DockerConfig(dir.config()),
        ))
    }

    fn auth(user_password: &str) -> String {
        base64_encode(user_password.as_bytes())
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
    fn flags_then_environment_then_docker_config() {
        let dir = DockerDir::new(&format!(
            r#"{{"auths":{{"{HUB_KEY}":{{"auth":"{}"}}}}}}"#,
            auth("cfg-user:cfg-pw")
        ));
        let var = dir.var();
        let all = [
            ("DOCKER_CONFIG", var.as_str()),
            ("DOCKERHUB_USERNAME", "env-user"),
            ("DOCKERHUB_TOKEN", "env-token"),
        ];
        let hub = Target::DockerHub;
        let both = flags(Some("flag-user"), Some("stdin-token"));
        assert_eq!(
            run(&hub, &both, &env(&all), &no_helper).0.unwrap(),
            Some((
                "flag-user".into(),
                "stdin-token".into(),
                Source::Flags {
                    username: "--username",
                    secret: "--password-stdin"
                }
            ))
        );
        let none = Inputs::default();
        assert_eq!(
            run(&hub, &none, &env(&all), &no_helper).0.unwrap(),
            Some((
                "env-user".into(),
                "env-token".into(),
                Source::Environment {
                    username: "DOCKERHUB_USERNAME",
                    secret: "DOCKERHUB_TOKEN"
                }
            ))
        );
        assert_eq!(
            run(&hub, &none, &env(&all[..1]), &no_helper).0.unwrap(),
            from_config("cfg-user", "cfg-pw", &dir)
        );
        // Empty variables count as unset.
        let empty = [
            ("DOCKER_CONFIG", var.as_str()),
            ("DOCKERHUB_USERNAME", ""),
            ("DOCKERHUB_TOKEN", ""),
        ];
        assert_eq!(
            run(&hub, &none, &env(&empty), &no_helper).0.unwrap(),
            from_config("cfg-user", "cfg-pw", &dir)
        );
        // A flag is completed by the environment's other half.
        let user_only = flags(Some("flag-user"), None);
        assert_eq!(
            run(&hub, &user_only, &env(&all), &no_helper).0.unwrap(),
            Some((
                "flag-user".into(),
                "env-token".into(),
                Source::Flags {
                    username: "--username",
                    secret: "DOCKERHUB_TOKEN"
                }
            ))
        );
        let stdin_only = flags(None, Some("stdin-token"));
        let (found, _) = run(&hub, &stdin_only, &env(&all), &no_helper);
        assert_eq!(
            found.unwrap().map(|(_, _, s)| s.to_string()),
            Some("DOCKERHUB_USERNAME/--password-stdin".into())
        );
    }

    #[test]
    fn one_registrys_variables_never_go_to_another() {
        let all = [
            ("DOCKERHUB_USERNAME", "hubbot"),
            ("DOCKERHUB_TOKEN", "dckr_pat_x"),
            ("TAGSWEEP_REGISTRY_USERNAME", "robot$ci"),
            ("TAGSWEEP_REGISTRY_PASSWORD", "quay-token"),
        ];
        let none = Inputs::default();
        let (found, _) = run(&quay(), &none, &env(&all), &no_helper);
        assert_eq!(
            found.unwrap().map(|(u, p, _)| (u, p)),
            Some(("robot$ci".into(), "quay-token".into()))
        );
        let (found, _) = run(&Target::DockerHub, &none, &env(&all), &no_helper);
        assert_eq!(
            found.unwrap().map(|(u, p, _)| (u, p)),
            Some(("hubbot".into(), "dckr_pat_x".into()))
        );
        // Only the other registry's variables: anonymous (no config to read).
        let (found, _) = run(&quay(), &none, &env(&all[..2]), &no_helper);
        assert_eq!(found.unwrap(), None);
        let (found, _) = run(&Target::DockerHub, &none, &env(&all[2..]), &no_helper);
        assert_eq!(found.unwrap(), None);
        // --username is completed by this registry's variable only.
        let (found, _) = run(
            &quay(),
            &flags(Some("bob"), None),
            &env(&all[..2]),
            &no_helper,
        );
        let e = found.unwrap_err();
        assert!(
            format!("{e:#}").contains("set TAGSWEEP_REGISTRY_PASSWORD"),
            "{e:#}"
        );
        assert!(!format!("{e:#}{e:?}").contains("dckr_pat_x"));
    }

    #[test]
    fn half_pairs_are_errors_that_say_what_to_set() {
        let hub = Target::DockerHub;
        let none = Inputs::default();
        // The registry, the flags, the environment, what the error says.
        type Case<'a> = (&'a Target, Inputs, &'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: [Case; 7] = [
            (
                &hub,
                flags(None, None),
                &[("DOCKERHUB_USERNAME", "bot")],
                &["no token", "set DOCKERHUB_TOKEN or pass --password-stdin"],
            ),
            (
                &hub,
                flags(None, None),
                &[("DOCKERHUB_TOKEN", "dckr_pat_half")],
                &["no username", "set DOCKERHUB_USERNAME or pass --username"],
            ),
            (
                &hub,
                flags(Some("bot"), None),
                &[],
                &["no token", "set DOCKERHUB_TOKEN"],
            ),
            (
                &hub,
                flags(None, Some("stdin-half")),
                &[("TAGSWEEP_REGISTRY_USERNAME", "robot")],
                &[
                    "--password-stdin needs a username",
                    "pass --username or set DOCKERHUB_USERNAME",
                ],
            ),
            (
                &quay(),
                flags(None, None),
                &[("TAGSWEEP_REGISTRY_USERNAME", "u")],
                &["quay.io", "no password", "set TAGSWEEP_REGISTRY_PASSWORD"],
            ),
            (
                &quay(),
                flags(None, None),
                &[("TAGSWEEP_REGISTRY_PASSWORD", "quay-half")],
                &["no username", "set TAGSWEEP_REGISTRY_USERNAME"],
            ),
            (
                &quay(),
                flags(None, Some("stdin-half")),
                &[("DOCKERHUB_USERNAME", "bot")],
                &["pass --username or set TAGSWEEP_REGISTRY_USERNAME"],
            ),
        ];
        for (target, inputs, pairs, wanted) in cases {
            let (found, _) = run(target, &inputs, &env(pairs), &no_helper);
            let e = found.unwrap_err();
            let shown = format!("{e:#} {e:?}");
            for w in wanted {
                assert!(
                    shown.contains(w),
                    "{target} {pairs:?}: {w:?} not in {shown}"
                );
            }
            for secret in ["dckr_pat_half", "stdin-half", "quay-half"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        // No flags, no variables, no config: anonymous, no error.
        let (found, notes) = run(&hub, &none, &env(&[]), &no_helper);
        assert_eq!(found.unwrap(), None);
        assert_eq!(
            notes,
            ["no Docker config.json: neither DOCKER_CONFIG nor HOME is set"]
        );
    }

    #[test]
    fn docker_config_location() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".docker")).unwrap();
        let home_config = home.path().join(".docker").join("config.json");
        std::fs::write(
            &home_config,
            r#"{"auths":{"docker.io":{"username":"home-user","password":"home-pw"}}}"#,
        )
        .unwrap();
        let dir =
            DockerDir::new(r#"{"auths":{"docker.io":{"username":"dc-user","password":"dc-pw"}}}"#);
        let home_s = home.path().display().to_string();
        let var = dir.var();
        let none = Inputs::default();
        let hub = Target::DockerHub;
        let (found, _) = run(&hub, &none, &env(&[("HOME", home_s.as_str())]), &no_helper);
        assert_eq!(
            found.unwrap(),
            Some((
                "home-user".into(),
                "home-pw".into(),
                Source::DockerConfig(home_config)
            ))
        );
        let both = [("HOME", home_s.as_str()), ("DOCKER_CONFIG", var.as_str())];
        let (found, _) = run(&hub, &none, &env(&both), &no_helper);
        assert_eq!(found.unwrap(), from_config("dc-user", "dc-pw", &dir));
        // DOCKER_CONFIG without a config.json: nothing, and no fallback to HOME.
        let empty = tempfile::tempdir().unwrap();
        let empty_s = empty.path().display().to_string();
        let both = [
            ("HOME", home_s.as_str()),
            ("DOCKER_CONFIG", empty_s.as_str()),
        ];
        let (found, notes) = run(&hub, &none, &env(&both), &no_helper);
        assert_eq!(found.unwrap(), None);
        assert!(notes[0].ends_with("config.json: no such file"), "{notes:?}");
    }

    #[test]
    fn every_docker_hub_key_form() {
        for key in [
            "https://index.docker.io/v1/",
            "https://index.docker.io/v1",
            "https://index.docker.io/",
            "http://index.docker.io",
            "index.docker.io",
            "index.docker.io/v1/",
            "docker.io",
            "https://docker.io/v1/",
            "docker.io/",
            "hub.docker.com",
            "https://hub.docker.com/",
            "https://hub.docker.com/v1/",
            "HTTPS://Index.Docker.IO/v1/",
            "registry-1.docker.io",
        ] {
            let dir = DockerDir::new(&format!(
                r#"{{"auths":{{"{key}":{{"auth":"{}"}}}}}}"#,
                auth("hub-user:hub-pw")
            ));
            let (found, notes) = dir.resolve(&Target::DockerHub, &no_helper);
            assert_eq!(found, from_config("hub-user", "hub-pw", &dir), "{key}");
            assert!(notes.is_empty(), "{key}: {notes:?}");
            // Docker Hub's entries are not another registry's.
            assert_eq!(dir.resolve(&quay(), &no_helper).0, None, "{key}");
        }
        for key in [
            "quay.io",
            "docker.io.example.com",
            "mirror.gcr.io",
            "docker.io:5000",
        ] {
            let dir = DockerDir::new(&format!(
                r#"{{"auths":{{"{key}":{{"auth":"{}"}}}}}}"#,
                auth("other:other-pw")
            ));
            assert_eq!(dir.resolve(&Target::DockerHub, &no_helper).0, None, "{key}");
        }
    }

    #[test]
    fn docker_logins_own_key_is_preferred() {
        let dir = DockerDir::new(&format!(
            r#"{{"auths":{{"docker.io":{{"username":"b","password":"b-pw"}},"hub.docker.com":{{"username":"c","password":"c-pw"}},"{HUB_KEY}":{{"auth":"{}"}}}}}}"#,
            auth("a:a-pw")
        ));
        assert_eq!(
            dir.resolve(&Target::DockerHub, &no_helper).0,
            from_config("a", "a-pw", &dir)
        );
        // An empty entry (as docker login writes beside a credsStore) is skipped silently.
        let dir = DockerDir::new(
            r#"{"auths":{"https://index.docker.io/v1/":{},"docker.io":{"username":"b","password":"b-pw"}}}"#,
        );
        let (found, notes) = dir.resolve(&Target::DockerHub, &no_helper);
        assert_eq!(found, from_config("b", "b-pw", &dir));
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn auth_entry_shapes() {
        let cases = [
            // auth: base64 of user:password; the password may hold colons.
            (
                format!(r#"{{"auth":"{}"}}"#, auth("u:p:w")),
                Some(("u", "p:w")),
            ),
            // username and password.
            (
                r#"{"username":"u","password":"hunter2pw"}"#.to_string(),
                Some(("u", "hunter2pw")),
            ),
            // auth wins over username/password.
            (
                format!(
                    r#"{{"auth":"{}","username":"x","password":"y"}}"#,
                    auth("u:hunter2pw")
                ),
                Some(("u", "hunter2pw")),
            ),
            // An unusable auth falls back to username/password.
            (
                r#"{"auth":"%%%","username":"u","password":"hunter2pw"}"#.to_string(),
                Some(("u", "hunter2pw")),
            ),
            (
                format!(r#"{{"auth":"{}"}}"#, auth("u-without-password")),
                None,
            ),
            (format!(r#"{{"auth":"{}"}}"#, auth("u:")), None),
            (r#"{"username":"u"}"#.to_string(), None),
            (r#"{"username":"u","password":""}"#.to_string(), None),
            (r#"{"auth":null,"username":5}"#.to_string(), None),
            (r#"{}"#.to_string(), None),
            (r#""dXNlcjpzM2NyZXQ=""#.to_string(), None),
        ];
        for (entry, wanted) in cases {
            let dir = DockerDir::new(&format!(r#"{{"auths":{{"{HUB_KEY}":{entry}}}}}"#));
            let (found, notes) = dir.resolve(&Target::DockerHub, &no_helper);
            let wanted = wanted.and_then(|(u, p)| from_config(u, p, &dir));
            assert_eq!(found, wanted, "{entry}");
            for note in notes {
                assert!(
                    note.contains("auths[\"https://index.docker.io/v1/\"]"),
                    "{note}"
                );
                // Long, distinctive secrets: the temporary path in a note is random.
                for secret in ["hunter2pw", "s3cret", "dXNlcjpzM2NyZXQ="] {
                    assert!(!note.contains(secret), "{entry}: {note}");
                }
            }
        }
    }

    #[test]
    fn identity_tokens_are_skipped_with_a_note() {
        let dir = DockerDir::new(&format!(
            r#"{{"auths":{{"{HUB_KEY}":{{"auth":"{}","identitytoken":"oauth-refresh-s3cret"}},"ghcr.io":{{"identitytoken":"gh-s3cret"}}}}}}"#,
            auth("hub-user:")
        ));
        let (found, notes) = dir.resolve(&Target::DockerHub, &no_helper);
        assert_eq!(found, None);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("identity token")
                && notes[0].contains("/v2/auth/token does not take")
                && notes[0].contains("set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"),
            "{notes:?}"
        );
        let ghcr = Target::oci(&Url::parse("https://ghcr.io").unwrap());
        let (found, notes) = dir.resolve(&ghcr, &no_helper);
        assert_eq!(found, None, "identity tokens are not exchanged");
        assert!(notes[0].contains("identity token"), "{notes:?}");
        for note in dir
            .resolve(&Target::DockerHub, &no_helper)
            .1
            .iter()
            .chain(&notes)
        {
            assert!(!note.contains("s3cret"), "{note}");
        }
        // The same from a helper: `"Username": "<token>"`.
        let dir = DockerDir::new(r#"{"credsStore":"desktop"}"#);
        let (found, notes) = dir.resolve(&Target::DockerHub, &|_, _| HelperAnswer::IdentityToken);
        assert_eq!(found, None);
        assert!(notes[0].contains("identity token"), "{notes:?}");
        assert!(matches!(
            parse_helper_output(
                true,
                "exit status: 0",
                br#"{"ServerURL":"https://index.docker.io/v1/","Username":"<token>","Secret":"rt"}"#
            ),
            HelperAnswer::IdentityToken
        ));
    }

    #[test]
    fn malformed_config_is_a_note_and_anonymous() {
        for (text, says) in [
            // Broken JSON holding a secret: only the position is told.
            (
                r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpzM2NyZXQ="}}"#,
                "not valid JSON (line 1, column",
            ),
            ("", "not valid JSON"),
            (r#"["dXNlcjpzM2NyZXQ="]"#, "not a JSON object"),
            (
                r#"{"auths":["dXNlcjpzM2NyZXQ="]}"#,
                "auths is not an object",
            ),
            (
                r#"{"auths":{"docker.io":"dXNlcjpzM2NyZXQ="}}"#,
                "auths[\"docker.io\"] is not an object",
            ),
            (r#"{"credsStore":7}"#, "credsStore is not a string"),
            (
                r#"{"credHelpers":"dXNlcjpzM2NyZXQ="}"#,
                "credHelpers is not an object",
            ),
            (
                r#"{"credHelpers":{"docker.io":["dXNlcjpzM2NyZXQ="]}}"#,
                "credHelpers[\"docker.io\"] is not a string",
            ),
            (
                r#"{"credsStore":"../evil"}"#,
                "names no usable credential helper",
            ),
        ] {
            let dir = DockerDir::new(text);
            let (found, notes) = dir.resolve(&Target::DockerHub, &no_helper);
            assert_eq!(found, None, "{text}");
            assert_eq!(notes.len(), 1, "{text}: {notes:?}");
            assert!(notes[0].contains(says), "{text}: {notes:?}");
            assert!(
                notes[0].starts_with(&dir.config().display().to_string()),
                "{notes:?}"
            );
            assert!(
                !notes[0].contains("dXNlcjpzM2NyZXQ=") && !notes[0].contains("s3cret"),
                "{notes:?}"
            );
        }
        // Unknown keys (Docker keeps many) are nothing to us.
        let dir = DockerDir::new(r#"{"psFormat":"table","proxies":{},"auths":{}}"#);
        assert_eq!(dir.resolve(&Target::DockerHub, &no_helper), (None, vec![]));
    }

    #[test]
    fn helpers_come_before_auths_and_answer_for_the_server_url() {
        let asked = std::sync::Mutex::new(Vec::new());
        let helper = |name: &str, server: &str| {
            asked.lock().unwrap().push(format!("{name} {server}"));
            match name {
                "hub" | "store" => HelperAnswer::Found(Credentials {
                    username: format!("{name}-user"),
                    secret: Secret::new(format!("{name}-s3cret")),
                }),
                "empty" => HelperAnswer::NotFound,
                "gone" => HelperAnswer::Missing,
                _ => HelperAnswer::Failed("exit status: 1".into()),
            }
        };
        let auths = format!(
            r#""auths":{{"{HUB_KEY}":{{"auth":"{}"}},"quay.io":{{"auth":"{}"}}}}"#,
            auth("auths-user:auths-pw"),
            auth("q:q-pw")
        );
        let helper_source = |name: &str, via: &'static str, dir: &DockerDir| Source::Helper {
            name: name.into(),
            via,
            config: dir.config(),
        };

        // credHelpers for this registry, over credsStore and auths.
        let dir = DockerDir::new(&format!(
            r#"{{"credHelpers":{{"docker.io":"hub","quay.io":"broken"}},"credsStore":"store",{auths}}}"#
        ));
        let (found, notes) = dir.resolve(&Target::DockerHub, &helper);
        assert_eq!(
            found,
            Some((
                "hub-user".into(),
                "hub-s3cret".into(),
                helper_source("hub", "credHelpers", &dir)
            ))
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            std::mem::take(&mut *asked.lock().unwrap()),
            ["hub https://index.docker.io/v1/"]
        );
        // Another registry's helper fails: the credsStore is asked, with host[:port].
        let (found, notes) = dir.resolve(&quay(), &helper);
        assert_eq!(
            found,
            Some((
                "store-user".into(),
                "store-s3cret".into(),
                helper_source("store", "credsStore", &dir)
            ))
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("docker-credential-broken (the credHelpers) failed (exit status: 1)"),
            "{notes:?}"
        );
        assert_eq!(
            std::mem::take(&mut *asked.lock().unwrap()),
            ["broken quay.io", "store quay.io"]
        );

        // A helper with nothing, then a missing store: the auths entry.
        let dir = DockerDir::new(&format!(
            r#"{{"credHelpers":{{"https://index.docker.io/v1/":"empty"}},"credsStore":"gone",{auths}}}"#
        ));
        let (found, notes) = dir.resolve(&Target::DockerHub, &helper);
        assert_eq!(found, from_config("auths-user", "auths-pw", &dir));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("docker-credential-empty (the credHelpers) has no credentials for https://index.docker.io/v1/"),
            "{notes:?}"
        );
        assert!(
            notes[1].contains("docker-credential-gone (the credsStore) is not installed"),
            "{notes:?}"
        );
        for note in &notes {
            assert!(!note.contains("s3cret") && !note.contains("-pw"), "{note}");
        }
        asked.lock().unwrap().clear();

        // Flags and the environment win: no helper runs.
        let var = dir.var();
        let pairs = [
            ("DOCKER_CONFIG", var.as_str()),
            ("DOCKERHUB_USERNAME", "env-user"),
            ("DOCKERHUB_TOKEN", "env-token"),
        ];
        let (found, _) = run(
            &Target::DockerHub,
            &Inputs::default(),
            &env(&pairs),
            &helper,
        );
        assert_eq!(found.unwrap().unwrap().0, "env-user");
        assert!(asked.lock().unwrap().is_empty());
    }

    /// A real helper, found on the `PATH` given through `env`.
    #[cfg(unix)]
    #[test]
    fn helper_programs_run_with_the_server_url_on_stdin() {
        use std::os::unix::fs::PermissionsExt;

        let bin = tempfile::tempdir().unwrap();
        let log = bin.path().join("asked.log");
        let script = format!(
            r#"#!/bin/sh
[ "$1" = get ] || exit 3
IFS= read -r url || true
printf '%s\n' "$url" >> '{}'
case "$url" in
  https://index.docker.io/v1/) printf '{{"ServerURL":"%s","Username":"helper-user","Secret":"helper-s3cret"}}\n' "$url" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#,
            log.display()
        );
        let program = bin.path().join("docker-credential-test");
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = DockerDir::new(r#"{"credsStore":"test","credHelpers":{"ghcr.io":"absent"}}"#);
        let (var, path) = (dir.var(), bin.path().display().to_string());
        let pairs = [("DOCKER_CONFIG", var.as_str()), ("PATH", path.as_str())];

        let found = resolve(&Target::DockerHub, &Inputs::default(), env(&pairs), false).unwrap();
        assert_eq!(
            who(found),
            Some((
                "helper-user".into(),
                "helper-s3cret".into(),
                Source::Helper {
                    name: "test".into(),
                    via: "credsStore",
                    config: dir.config()
                }
            ))
        );
        let found = resolve(&quay(), &Inputs::default(), env(&pairs), false).unwrap();
        assert!(found.is_none(), "credentials not found");
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "https://index.docker.io/v1/\nquay.io\n"
        );
        assert!(matches!(
            run_helper("absent", "ghcr.io", Some(&path)),
            HelperAnswer::Missing
        ));
        let shown = Source::Helper {
            name: "test".into(),
            via: "credsStore",
            config: dir.config(),
        }
        .to_string();
        assert_eq!(
            shown,
            format!(
                "docker-credential-test, the credsStore of {}",
                dir.config().display()
            )
        );
    }

    #[test]
    fn oci_registries_by_host_and_port() {
        let dir = DockerDir::new(&format!(
            r#"{{"auths":{{"https://quay.io/v1/":{{"auth":"{}"}},"127.0.0.1:5000":{{"username":"lab","password":"lab-password"}},"https://index.docker.io/v1/":{{"auth":"{}"}}}}}}"#,
            auth("robot:quay-pw"),
            auth("hub:hub-pw")
        ));
        let at = |u: &str| {
            dir.resolve(&Target::oci(&Url::parse(u).unwrap()), &no_helper)
                .0
        };
        assert_eq!(at("https://quay.io"), from_config("robot", "quay-pw", &dir));
        assert_eq!(
            at("https://QUAY.io:443/"),
            from_config("robot", "quay-pw", &dir)
        );
        assert_eq!(
            at("http://127.0.0.1:5000"),
            from_config("lab", "lab-password", &dir)
        );
        assert_eq!(at("http://127.0.0.1:5001"), None);
        assert_eq!(at("https://registry.example"), None);
        assert_eq!(
            Target::oci(&Url::parse("http://LOCALHOST:5000/v2/").unwrap()),
            Target::Oci {
                host: "localhost:5000".into()
            }
        );
    }

    #[test]
    fn the_environment_snapshot_never_shows_values() {
        let e = Environment::capture(env(&[
            ("DOCKERHUB_TOKEN", "dckr_pat_s3cret"),
            ("HOME", "/home/me"),
            ("UNRELATED", "x"),
            ("PATH", ""),
        ]));
        assert_eq!(e.get("DOCKERHUB_TOKEN").as_deref(), Some("dckr_pat_s3cret"));
        assert_eq!(e.get("UNRELATED"), None);
        assert_eq!(e.get("PATH"), None, "empty is unset");
        assert_eq!(format!("{e:?}"), r#"{"DOCKERHUB_TOKEN", "HOME"}"#);
        let inputs = flags(Some("u"), Some("stdin-s3cret"));
        assert!(!format!("{inputs:?}").contains("s3cret"));
    }
}
