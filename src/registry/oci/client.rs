//! Talking to one OCI registry: authentication and sending.
//!
//! **Authentication** follows the registry's challenges. The first request
//! is `GET /v2/`: 200 means anonymous access; `401` with
//! `WWW-Authenticate: Basic` means every request carries the credentials;
//! `401` with `Bearer realm=…,service=…` means tokens from the realm. Tokens
//! are fetched per scope (`repository:<name>:pull` to read,
//! `repository:<name>:pull,push` to push, `repository:<name>:delete` to
//! delete, `registry:catalog:*` for the catalog), before the request that
//! needs one, so a scan does not pay a 401 per repository; they are cached
//! per scope until they expire (`expires_in`, 60 s when unsaid). A 401 later
//! on is answered from its own challenge once (a new token for the scope it
//! names), then returned to the caller.
//!
//! Credentials go to the registry itself (Basic) or to the token realm
//! (Basic, to get a token), never elsewhere: a realm on plain `http` is only
//! given credentials when it is on the registry's own loopback host. Tokens
//! only go to the registry's origin. Both live in [`Secret`]s and travel in
//! sensitive headers; neither is ever formatted. Both are known to the
//! client's [`crate::secret::Redactor`] (the password from the start, each
//! token as it is issued), which removes them from every error and note made
//! of an answer, should the registry or its token server echo them.
//!
//! **Sending** goes through the shared [`HttpClient`]: its retries, pacing,
//! counters, per-attempt timeout and `-v` lines, and it never follows a
//! redirect. The blob redirects that the backend does follow are followed by
//! the backend, one hop at a time: with our credentials only on the
//! registry's origin, elsewhere only to https and with none.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use super::credentials::Source;
use super::headers::{challenges, Challenge};
use crate::credentials::Credentials;
use crate::notes::Notes;
use crate::registry::http::{Answer, Auth, HttpClient, Request};
use crate::registry::token::renew_at;
use crate::registry::{RegistryError, Stats};
use crate::secret::Secret;

/// What a request needs the right to do, for bearer scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
    Delete,
}

/// The scope a request runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `registry:catalog:*`.
    Catalog,
    /// `repository:<name>:<actions>`.
    Repository(String, Access),
}

impl Scope {
    pub fn repo(name: &str, access: Access) -> Scope {
        Scope::Repository(name.to_string(), access)
    }

    /// The scope string of the token request.
    pub fn token_scope(&self) -> Option<String> {
        match self {
            Scope::Catalog => Some("registry:catalog:*".to_string()),
            Scope::Repository(name, access) => Some(format!(
                "repository:{name}:{}",
                match access {
                    Access::Pull => "pull",
                    Access::Push => "pull,push",
                    Access::Delete => "delete",
                }
            )),
        }
    }
}

/// What the OCI backend reads in an answer, beyond what [`Answer`] offers.
pub trait OciAnswer {
    /// Decodes a JSON body, or says which request gave an unreadable one.
    fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, RegistryError>;

    /// The `errors[0].code` of an OCI error body (`NAME_UNKNOWN`, `UNSUPPORTED`, …).
    fn error_code(&self) -> Option<String>;
}

impl OciAnswer for Answer {
    fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, RegistryError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            RegistryError::Decode {
                method: self.method.to_string(),
                url: self.url.to_string(),
                status: self.status.as_u16(),
                detail: e.to_string(),
                snippet: self.snippet(120),
                hint: Some(
                    "this does not look like an OCI distribution registry answering: check `registry:` in the manifest, or a proxy in between"
                        .into(),
                ),
            }
            .redact(&self.redactor)
        })
    }

    fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("errors")?
            .get(0)?
            .get("code")?
            .as_str()
            .map(str::to_string)
    }
}

/// Basic authentication with `c`.
fn basic(c: &Credentials) -> Auth<'_> {
    Auth::Basic {
        username: &c.username,
        password: &c.secret,
    }
}

/// How the registry wants to be authenticated, as learnt from its challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scheme {
    Anonymous,
    Basic,
    Bearer { realm: Url, service: Option<String> },
}

struct CachedToken {
    token: Secret,
    expires: Instant,
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// A registry client: authentication, then sending (see the module documentation).
pub struct Client {
    base: Url,
    http: HttpClient,
    credentials: Option<(Credentials, Source)>,
    pinged: OnceCell<()>,
    scheme: Mutex<Scheme>,
    tokens: Mutex<HashMap<String, TokenSlot>>,
    /// What to tell a user whom the token server refuses for lack of credentials.
    credentials_hint: String,
    /// Whether `-v` was told that digests are computed here.
    said_computed_digest: AtomicBool,
    /// `GET /v2/` itself asked for Basic credentials: the registry wants
    /// them for every request.
    basic_at_root: AtomicBool,
}

/// Token lifetime when the token server does not say (the spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// Renew a token this long before it expires (at most a tenth of its lifetime).
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(30);

impl Client {
    pub fn new(http: HttpClient, base: Url, credentials: Option<(Credentials, Source)>) -> Self {
        if let Some((c, _)) = &credentials {
            http.redactor().add_credentials(&c.username, &c.secret);
        }
        Client {
            base,
            http,
            credentials,
            pinged: OnceCell::new(),
            scheme: Mutex::new(Scheme::Anonymous),
            tokens: Mutex::new(HashMap::new()),
            credentials_hint: needs_credentials_hint(),
            said_computed_digest: AtomicBool::new(false),
            basic_at_root: AtomicBool::new(false),
        }
    }

    /// Replaces the hint given when the registry wants credentials we do
    /// not have (default: [`needs_credentials_hint`], which names the OCI
    /// variables): a backend whose credentials come from elsewhere names
    /// its own.
    pub fn with_credentials_hint(mut self, hint: String) -> Self {
        self.credentials_hint = hint;
        self
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Where this client (and the backend on it) says what happens.
    pub fn notes(&self) -> &Notes {
        self.http.notes()
    }

    /// Says once (with `-v`) that this registry sends manifests without
    /// `Docker-Content-Digest`, so that their digests are computed.
    pub fn note_computed_digest(&self) {
        if !self.said_computed_digest.swap(true, Ordering::Relaxed) {
            self.notes().info(|| {
                format!(
                    "{} sends manifests without Docker-Content-Digest; their digests are computed from the bytes received (sha256)",
                    self.base.as_str().trim_end_matches('/')
                )
            });
        }
    }

    /// Whether the registry wants Basic credentials for every request (its
    /// `GET /v2/` answered 401 with a Basic challenge), rather than for
    /// some repositories only.
    pub fn basic_everywhere(&self) -> bool {
        self.basic_at_root.load(Ordering::Relaxed)
    }

    pub fn username(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(c, _)| c.username.as_str())
    }

    pub fn stats(&self) -> Stats {
        self.http.stats()
    }

    fn scheme(&self) -> Scheme {
        self.scheme
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_scheme(&self, scheme: Scheme) {
        *self.scheme.lock().unwrap_or_else(|e| e.into_inner()) = scheme;
    }

    /// Sends `req` (whose own `auth` is ignored) to the registry in `scope`,
    /// authenticated as the registry asks (see the module documentation).
    pub async fn send(&self, req: &Request<'_>, scope: &Scope) -> Result<Answer, RegistryError> {
        self.ping().await?;
        let creds = self.credentials.as_ref().map(|(c, _)| c);
        let scheme = self.scheme();
        let (token, fresh) = match &scheme {
            Scheme::Bearer { realm, service } => {
                let (t, fresh) = self.token(realm, service.as_deref(), scope).await?;
                (Some(t), fresh)
            }
            _ => (None, false),
        };
        let auth = match (&scheme, &token, creds) {
            (_, Some(t), _) => Auth::Bearer(t),
            (Scheme::Basic, None, Some(c)) => basic(c),
            _ => Auth::None,
        };
        let sent_basic = matches!(auth, Auth::Basic { .. });
        let reply = self.transmit(req, auth).await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        let found = challenges(&reply.headers);
        if let Some(bearer) = found.iter().find(|c| c.scheme == "bearer") {
            let Some((realm, service)) = self.bearer_target(bearer)? else {
                return Ok(reply);
            };
            // A token fetched for this very request, refused for lack of
            // scope: another one would be refused the same way.
            if fresh && bearer.param("error") == Some("insufficient_scope") {
                return Ok(reply);
            }
            // The scope the registry names, else ours.
            let wanted = bearer
                .param("scope")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or_else(|| scope.token_scope());
            if scheme
                != (Scheme::Bearer {
                    realm: realm.clone(),
                    service: service.clone(),
                })
            {
                self.set_scheme(Scheme::Bearer {
                    realm: realm.clone(),
                    service: service.clone(),
                });
            }
            let (token, _) = self
                .token_raw(&realm, service.as_deref(), wanted.as_deref(), true)
                .await?;
            return self.transmit(req, Auth::Bearer(&token)).await;
        }
        if found.iter().any(|c| c.scheme == "basic") && !sent_basic {
            if let Some(c) = creds {
                self.set_scheme(Scheme::Basic);
                return self.transmit(req, basic(c)).await;
            }
        }
        Ok(reply)
    }

    /// Sends to a URL outside the registry (a blob storage redirect), with no
    /// credentials at all.
    pub async fn send_unauthenticated(&self, req: &Request<'_>) -> Result<Answer, RegistryError> {
        self.transmit(req, Auth::None).await
    }

    /// `GET /v2/`: is it a registry, and how does it authenticate? Done once.
    async fn ping(&self) -> Result<(), RegistryError> {
        self.pinged
            .get_or_try_init(|| async {
                let url = self.url(&["v2", ""]);
                let reply = self
                    .transmit(&Request::get(url), Auth::None)
                    .await?;
                let creds = self.credentials.as_ref();
                match reply.status.as_u16() {
                    200..=299 => {
                        self.set_scheme(Scheme::Anonymous);
                        if let Some((c, source)) = creds {
                            self.notes().info(|| {
                                format!(
                                    "{} answers anonymously; credentials for {} (from {source}) are kept for a challenge",
                                    self.base, c.username
                                )
                            });
                        }
                        Ok(())
                    }
                    401 => self.learn_scheme(&reply).await,
                    404 => Err(reply.error(Some(format!(
                        "{} does not answer GET /v2/ like an OCI distribution registry: check `registry:` in the manifest",
                        self.base
                    )))),
                    status @ 500..=599 => Err(reply.error(Some(format!(
                        "{} failed ({status}) on GET /v2/, the first request of every run{}: the registry, or a proxy in front of it, is down or overloaded; try again later (and check `registry:` in the manifest if it goes on)",
                        self.base.as_str().trim_end_matches('/'),
                        if reply.attempts > 1 {
                            format!(", {} times in a row", reply.attempts)
                        } else {
                            String::new()
                        }
                    )))),
                    status => Err(reply.error(Some(format!(
                        "{} answers GET /v2/ with {status}, where an OCI distribution registry answers 200 or 401: check `registry:` in the manifest, or a proxy in between",
                        self.base.as_str().trim_end_matches('/')
                    )))),
                }
            })
            .await
            .map(|_| ())
    }

    /// Takes in the challenge of `GET /v2/`, and checks the credentials now,
    /// so that wrong ones fail once, clearly, before any listing.
    async fn learn_scheme(&self, reply: &Answer) -> Result<(), RegistryError> {
        let found = challenges(&reply.headers);
        let creds = self.credentials.as_ref();
        if let Some(bearer) = found.iter().find(|c| c.scheme == "bearer") {
            let Some((realm, service)) = self.bearer_target(bearer)? else {
                return Err(reply.error(Some(
                    "the registry's Bearer challenge names no realm".into(),
                )));
            };
            self.set_scheme(Scheme::Bearer {
                realm: realm.clone(),
                service: service.clone(),
            });
            if let Some((c, source)) = creds {
                self.notes().info(|| {
                    format!(
                        "{} uses tokens from {}; logging in as {} (from {source})",
                        self.base,
                        strip_query(&realm),
                        c.username
                    )
                });
                // Like `docker login`: a token for no scope proves the credentials.
                self.token_raw(&realm, service.as_deref(), None, false)
                    .await?;
            }
            return Ok(());
        }
        if found.iter().any(|c| c.scheme == "basic") {
            self.set_scheme(Scheme::Basic);
            self.basic_at_root.store(true, Ordering::Relaxed);
            let Some((c, source)) = creds else {
                return Ok(()); // requests will fail with a hint to log in
            };
            self.notes().info(|| {
                format!(
                    "{} uses Basic authentication; logging in as {} (from {source})",
                    self.base, c.username
                )
            });
            let url = self.url(&["v2", ""]);
            let check = self.transmit(&Request::get(url.clone()), basic(c)).await?;
            if check.status.is_success() {
                return Ok(());
            }
            return Err(RegistryError::Login {
                url: url.to_string(),
                username: c.username.clone(),
                detail: format!(
                    "{}{}\n  hint: check the username and password ({source})",
                    check.status,
                    check.message().map(|m| format!(" {m}")).unwrap_or_default()
                ),
            }
            .redact(self.http.redactor()));
        }
        Err(reply.error(Some(
            "the registry asks for an authentication scheme tagsweep does not know (only Basic and Bearer)".into(),
        )))
    }

    /// The realm and service of a Bearer challenge; refuses a realm that
    /// would receive credentials over plain http on another host.
    fn bearer_target(
        &self,
        challenge: &Challenge,
    ) -> Result<Option<(Url, Option<String>)>, RegistryError> {
        let Some(raw) = challenge.param("realm").filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let realm = self.base.join(raw).map_err(|e| {
            RegistryError::Refused(format!(
                "{}: the token realm {raw:?} is not a URL ({e})",
                self.base
            ))
        })?;
        match realm.scheme() {
            "https" | "http" => {}
            other => {
                return Err(RegistryError::Refused(format!(
                    "{}: the token realm {} uses scheme {other:?}; only https (or http on loopback) is followed",
                    self.base,
                    strip_query(&realm)
                )))
            }
        }
        let service = challenge
            .param("service")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Ok(Some((realm, service)))
    }

    /// A token for `scope`, from the cache when it has a valid one; and
    /// whether it was fetched just now.
    async fn token(
        &self,
        realm: &Url,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<(Secret, bool), RegistryError> {
        self.token_raw(realm, service, scope.token_scope().as_deref(), false)
            .await
    }

    /// A token for the scope string `scope` (space-separated scopes allowed),
    /// fetched anew when `renew` or when the cache has none; and whether it
    /// was fetched just now.
    async fn token_raw(
        &self,
        realm: &Url,
        service: Option<&str>,
        scope: Option<&str>,
        renew: bool,
    ) -> Result<(Secret, bool), RegistryError> {
        let key = format!("{realm} {} {}", service.unwrap_or(""), scope.unwrap_or(""));
        let slot = {
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            tokens.entry(key).or_default().clone()
        };
        let mut cached = slot.lock().await;
        if !renew {
            if let Some(c) = cached.as_ref().filter(|c| c.expires > Instant::now()) {
                return Ok((c.token.clone(), false));
            }
        }
        let fetched = self.fetch_token(realm, service, scope).await?;
        let token = fetched.token.clone();
        *cached = Some(fetched);
        Ok((token, true))
    }

    /// `GET realm?service=…&scope=…`, with Basic credentials when we have them.
    async fn fetch_token(
        &self,
        realm: &Url,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<CachedToken, RegistryError> {
        #[derive(Deserialize)]
        struct TokenBody {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<i64>,
        }
        let mut url = realm.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = service {
                q.append_pair("service", service);
            }
            for s in scope.unwrap_or("").split_whitespace() {
                q.append_pair("scope", s);
            }
        }
        let creds = self.credentials.as_ref().map(|(c, _)| c);
        let source = self.credentials.as_ref().map(|(_, s)| s);
        if creds.is_some() && !may_receive_credentials(realm, &self.base) {
            return Err(RegistryError::Refused(format!(
                "{}: the registry sends us to {} for tokens, over plain http on another host; refusing to send credentials there",
                self.base,
                strip_query(realm)
            )));
        }
        let auth = creds.map_or(Auth::None, basic);
        let started = Instant::now();
        let reply = self.transmit(&Request::get(url), auth).await?;
        if !reply.status.is_success() {
            let message = reply.message().unwrap_or_default();
            return Err(match creds {
                // Credentials already proven at GET /v2/: this scope is not theirs.
                Some(c) if scope.is_some() && matches!(reply.status.as_u16(), 401 | 403) => {
                    reply.error(Some(format!(
                        "the token server refused {} the scope {}: check the account's permissions (pull to audit; push and delete to prune)",
                        c.username,
                        scope.unwrap_or_default()
                    )))
                }
                Some(c) if matches!(reply.status.as_u16(), 401 | 403) => RegistryError::Login {
                    url: strip_query(realm),
                    username: c.username.clone(),
                    detail: format!(
                        "{} {message}\n  hint: the token server refused these credentials; check the username and password{}",
                        reply.status,
                        source.map(|s| format!(" (from {s})")).unwrap_or_default()
                    ),
                }
                .redact(self.http.redactor()),
                _ => reply.error(Some(if creds.is_none() {
                    self.credentials_hint.clone()
                } else {
                    "the token server failed; try again later".to_string()
                })),
            });
        }
        let body: TokenBody = serde_json::from_slice(&reply.body).map_err(|e| {
            // The body holds the token: never show it.
            RegistryError::Decode {
                method: "GET".into(),
                url: strip_query(realm),
                status: reply.status.as_u16(),
                detail: e.to_string(),
                snippet: "(not shown)".into(),
                hint: None,
            }
        })?;
        let token = body
            .token
            .filter(|t| !t.is_empty())
            .or(body.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| {
                RegistryError::Refused(format!(
                    "{}: the token server's answer holds no token",
                    strip_query(realm)
                ))
            })?;
        let lifetime = body
            .expires_in
            .filter(|s| *s > 0)
            .map_or(DEFAULT_TOKEN_LIFETIME, |s| Duration::from_secs(s as u64));
        let token = Secret::new(token);
        self.http.redactor().add(&token);
        // Renew a little early: the clock started before the server's did.
        Ok(CachedToken {
            token,
            expires: renew_at(started, lifetime, TOKEN_RENEW_MARGIN),
        })
    }

    /// Sends `req` with `auth`, through the shared client (which retries).
    async fn transmit(&self, req: &Request<'_>, auth: Auth<'_>) -> Result<Answer, RegistryError> {
        self.http.send(&req.clone().auth(auth)).await
    }

    /// `base` + path segments (each escaped; a name's `/` are separate segments).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        {
            let mut path = url.path_segments_mut().expect("http(s) URLs have paths");
            path.clear();
            for segment in segments {
                path.push(segment);
            }
        }
        url
    }

    /// Resolves a `Link` or `Location` target against `current`; it must stay
    /// on the registry's origin, since our credentials go with it.
    pub fn same_origin(&self, target: &str, current: &Url) -> Result<Url, RegistryError> {
        crate::registry::paging::same_origin(&self.base, current, target, "the link")
    }
}

/// The hint for a registry that wants credentials we do not have.
pub fn needs_credentials_hint() -> String {
    format!(
        "this registry needs credentials: set {} and {}, or pass --username with --password-stdin, or `docker login` to it",
        super::credentials::USERNAME_ENV,
        super::credentials::PASSWORD_ENV
    )
}

/// Whether credentials may go to `realm`: over https anywhere, over plain
/// http only on the registry's own host when that is a loopback address.
pub fn may_receive_credentials(realm: &Url, registry: &Url) -> bool {
    match realm.scheme() {
        "https" => true,
        "http" => realm.host() == registry.host() && crate::net::is_loopback(realm),
        _ => false,
    }
}

/// A URL without its query, for messages about token realms.
pub fn strip_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(
            Scope::Catalog.token_scope().as_deref(),
            Some("registry:catalog:*")
        );
        assert_eq!(
            Scope::repo("kolla/base", Access::Pull)
                .token_scope()
                .as_deref(),
            Some("repository:kolla/base:pull")
        );
        assert_eq!(
            Scope::repo("a", Access::Push).token_scope().as_deref(),
            Some("repository:a:pull,push")
        );
        assert_eq!(
            Scope::repo("a", Access::Delete).token_scope().as_deref(),
            Some("repository:a:delete")
        );
    }

    #[test]
    fn credentials_never_go_to_plain_http_elsewhere() {
        let u = |s: &str| Url::parse(s).unwrap();
        let local = u("http://127.0.0.1:5000");
        assert!(may_receive_credentials(
            &u("http://127.0.0.1:9999/token"),
            &local
        ));
        assert!(may_receive_credentials(
            &u("https://auth.example/token"),
            &local
        ));
        assert!(!may_receive_credentials(
            &u("http://auth.example/token"),
            &local
        ));
        assert!(!may_receive_credentials(
            &u("http://127.0.0.2/token"),
            &local
        ));
        let quay = u("https://quay.io");
        assert!(may_receive_credentials(
            &u("https://quay.io/v2/auth"),
            &quay
        ));
        assert!(!may_receive_credentials(
            &u("http://quay.io/v2/auth"),
            &quay
        ));
        assert!(!may_receive_credentials(&u("ftp://quay.io/v2/auth"), &quay));
    }

    #[test]
    fn urls_keep_name_components_as_path_segments() {
        let http = HttpClient::new(Default::default()).unwrap();
        let c = Client::new(http, Url::parse("https://r.example:5000").unwrap(), None);
        let name = "kolla/debian-base";
        let mut segments = vec!["v2"];
        segments.extend(name.split('/'));
        segments.extend(["tags", "list"]);
        assert_eq!(
            c.url(&segments).as_str(),
            "https://r.example:5000/v2/kolla/debian-base/tags/list"
        );
        assert_eq!(c.url(&["v2", ""]).as_str(), "https://r.example:5000/v2/");
        let cur = c.url(&["v2", "_catalog"]);
        assert_eq!(
            c.same_origin("/v2/_catalog?last=a%2Fb&n=3", &cur)
                .unwrap()
                .as_str(),
            "https://r.example:5000/v2/_catalog?last=a%2Fb&n=3"
        );
        assert!(c
            .same_origin("https://r.example:5000/v2/x?next_page=abc", &cur)
            .is_ok());
        let e = c
            .same_origin("https://evil.example/v2/x", &cur)
            .unwrap_err();
        assert!(e.to_string().contains("refusing to follow"), "{e}");
        assert!(c.same_origin("http://r.example:5000/v2/x", &cur).is_err());
    }
}
