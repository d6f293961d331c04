//! A real OCI registry for the tests: Debian's `docker-registry` (CNCF
//! distribution 2.8), started on `127.0.0.1` with a free port and a config
//! written into a temporary directory (on `/dev/shm` when there is one:
//! twice as fast), killed when dropped. Optional Basic authentication
//! (htpasswd, bcrypt) or token authentication (a [`TokenServer`] of ours,
//! signing RS256 JWTs with an `x5c` certificate made by `openssl`).
//!
//! [`TestRegistry`] also populates it through the HTTP API, as a CI pushing
//! images would: blobs (`POST` → `202 Location` → `PUT …&digest=`), image
//! manifests, indexes and Docker manifest lists. Nothing here is skipped
//! when a tool is missing: the test fails and says what to install.

#![allow(dead_code)]

/// The paging layer (declared here so that `support/mod.rs` only gains `registry`).
#[path = "oci_paging.rs"]
pub mod oci_paging;

/// Docker Hub's registry API played by the real registry (declared here too).
#[path = "hub_mirror.rs"]
pub mod hub_mirror;

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How to start the registry.
#[derive(Clone, Default)]
pub struct Options {
    /// Basic authentication with this user and password (htpasswd, bcrypt).
    pub htpasswd: Option<(String, String)>,
    /// Token authentication through a [`TokenServer`] with this policy.
    pub token: Option<TokenPolicy>,
    /// `storage.delete.enabled: false` (deletes answer 405 UNSUPPORTED).
    pub deletes_disabled: bool,
    /// `catalog.maxentries`.
    pub catalog_max: Option<u32>,
    /// Write the access log (one line per request) into [`TestRegistry::log`].
    pub access_log: bool,
}

/// A running registry (see the module documentation).
pub struct TestRegistry {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
    pub rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    auth: ClientAuth,
    token_server: Option<TokenServer>,
    uploaded: Mutex<HashSet<(String, String)>>,
    tokens: Mutex<BTreeMap<String, String>>,
}

#[derive(Clone)]
enum ClientAuth {
    None,
    Basic(String, String),
    Bearer {
        realm: String,
        user: String,
        password: String,
    },
}

/// The registry binary; a missing one fails the test with what to do.
pub fn registry_binary() -> PathBuf {
    find_tool("docker-registry").unwrap_or_else(|| {
        panic!(
            "the OCI registry tests need Debian's `docker-registry` (CNCF distribution 2.8) on PATH: \
             install it with `apt-get install -y docker-registry` (CI's .ci/run does)"
        )
    })
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn require_tool(name: &str, package: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!("this test needs `{name}`: install it with `apt-get install -y {package}`")
    })
}

/// A temporary directory, on tmpfs when there is one.
pub fn fast_tempdir(prefix: &str) -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    if shm.is_dir() {
        if let Ok(dir) = b.tempdir_in(shm) {
            return dir;
        }
    }
    b.tempdir().expect("temp dir")
}

/// Waits until `GET /v2/` answers (200 or 401); false if the process died.
fn wait_ready(
    child: &mut Child,
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    port: u16,
    limit: Duration,
) -> bool {
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/v2/");
    while started.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let ok = rt.block_on(async {
            matches!(
                http.get(&url).send().await.map(|r| r.status().as_u16()),
                Ok(200 | 401)
            )
        });
        if ok {
            // Another process on the same port would answer too, while ours
            // dies failing to bind: make sure ours is the one alive.
            std::thread::sleep(Duration::from_millis(50));
            return matches!(child.try_wait(), Ok(None));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

impl TestRegistry {
    /// An anonymous registry with deletes enabled.
    pub fn start() -> TestRegistry {
        TestRegistry::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> TestRegistry {
        let binary = registry_binary();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = fast_tempdir("tagsweep-registry-");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut auth_yaml = String::new();
        let mut auth = ClientAuth::None;
        if let Some((user, password)) = &options.htpasswd {
            let htpasswd = require_tool("htpasswd", "apache2-utils");
            let out = Command::new(htpasswd)
                .args(["-Bbn", user, password])
                .output()
                .expect("run htpasswd");
            assert!(out.status.success(), "htpasswd failed: {out:?}");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            auth_yaml = format!(
                "auth:\n  htpasswd:\n    realm: tagsweep-test\n    path: {}\n",
                file.display()
            );
            auth = ClientAuth::Basic(user.clone(), password.clone());
        }
        let token_server = options.token.clone().map(|policy| {
            let server = TokenServer::start(&rt, dir.path(), policy.clone());
            auth_yaml = format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                server.realm(),
                TOKEN_SERVICE,
                TOKEN_ISSUER,
                server.cert.display()
            );
            auth = ClientAuth::Bearer {
                realm: server.realm(),
                user: policy.user.clone(),
                password: policy.password.clone(),
            };
            server
        });
        let data = dir.path().join("data");
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: warn\n  formatter: text\n  accesslog:\n    disabled: {no_access_log}\n\
                 storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: {delete}\n  \
                 cache:\n    blobdescriptor: inmemory\n  maintenance:\n    uploadpurging:\n      enabled: false\n  \
                 redirect:\n    disable: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: tagsweep-test-not-secret\n\
                 health:\n  storagedriver:\n    enabled: false\n\
                 {catalog}{auth_yaml}",
                data = data.display(),
                delete = !options.deletes_disabled,
                no_access_log = !options.access_log,
                catalog = options
                    .catalog_max
                    .map(|n| format!("catalog:\n  maxentries: {n}\n"))
                    .unwrap_or_default(),
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write config");
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).expect("log file");
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut child = child;
            if wait_ready(&mut child, &rt, &http, port, Duration::from_secs(10)) {
                return TestRegistry {
                    child,
                    dir,
                    port,
                    rt,
                    http,
                    auth,
                    token_server,
                    uploaded: Mutex::new(HashSet::new()),
                    tokens: Mutex::new(BTreeMap::new()),
                };
            }
            // Probably lost the port to another process: try another one.
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("docker-registry did not start; its log:\n{last_log}");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn token_server(&self) -> &TokenServer {
        self.token_server.as_ref().expect("a token-auth registry")
    }

    /// The registry's own log (warnings and errors; with
    /// [`Options::access_log`], a line per request too).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    async fn authorize(&self, req: reqwest::RequestBuilder, repo: &str) -> reqwest::RequestBuilder {
        match &self.auth {
            ClientAuth::None => req,
            ClientAuth::Basic(u, p) => req.basic_auth(u, Some(p)),
            ClientAuth::Bearer {
                realm,
                user,
                password,
            } => {
                let scope = if repo.is_empty() {
                    "registry:catalog:*".to_string()
                } else {
                    format!("repository:{repo}:pull,push,delete")
                };
                let cached = self.tokens.lock().unwrap().get(&scope).cloned();
                let token = match cached {
                    Some(t) => t,
                    None => {
                        let body: Value = self
                            .http
                            .get(realm)
                            .query(&[("service", TOKEN_SERVICE), ("scope", scope.as_str())])
                            .basic_auth(user, Some(password))
                            .send()
                            .await
                            .expect("token request")
                            .json()
                            .await
                            .expect("token body");
                        let t = body["token"].as_str().expect("token").to_string();
                        self.tokens.lock().unwrap().insert(scope, t.clone());
                        t
                    }
                };
                req.bearer_auth(token)
            }
        }
    }

    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    /// Uploads `bytes` into `repo` (once) and returns its digest.
    pub fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        if !self
            .uploaded
            .lock()
            .unwrap()
            .insert((repo.to_string(), digest.clone()))
        {
            return digest;
        }
        self.block(async {
            let start = format!("{}/v2/{repo}/blobs/uploads/", self.url());
            let resp = self
                .authorize(self.http.post(&start), repo)
                .await
                .send()
                .await
                .expect("POST upload");
            assert_eq!(resp.status().as_u16(), 202, "POST {start}");
            let location = resp.headers()["location"].to_str().unwrap().to_string();
            let sep = if location.contains('?') { '&' } else { '?' };
            let put = format!("{location}{sep}digest={digest}");
            let resp = self
                .authorize(self.http.put(&put), repo)
                .await
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .expect("PUT blob");
            assert_eq!(resp.status().as_u16(), 201, "PUT blob {digest}");
        });
        digest
    }

    /// PUTs a manifest under `reference` (a tag or its digest); returns the digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        self.block(async {
            let url = format!("{}/v2/{repo}/manifests/{reference}", self.url());
            let resp = self
                .authorize(self.http.put(&url), repo)
                .await
                .header("content-type", media_type)
                .body(body.to_vec())
                .send()
                .await
                .expect("PUT manifest");
            let status = resp.status().as_u16();
            let digest = resp
                .headers()
                .get("docker-content-digest")
                .map(|v| v.to_str().unwrap().to_string());
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status, 201, "PUT {url}: {text}");
            let digest = digest.expect("Docker-Content-Digest");
            assert_eq!(digest, format!("sha256:{}", sha256_hex(body)));
            digest
        })
    }

    /// Pushes one single-platform image as `repo:tag`; returns its digest.
    pub fn push_image(&self, repo: &str, tag: &str, image: &Image) -> String {
        let (media, body) = self.image_manifest(repo, image);
        self.put_manifest(repo, tag, media, &body)
    }

    /// The manifest of `image` (its config blob uploaded); `(media type, bytes)`.
    fn image_manifest(&self, repo: &str, image: &Image) -> (&'static str, Vec<u8>) {
        let config = image.config();
        let config_digest = self.blob(repo, &config);
        let layer = self.blob(repo, format!("layer of {}", image.salt).as_bytes());
        let (media, config_media, layer_media) = if image.docker {
            (
                DOCKER_MANIFEST,
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
        } else {
            (
                OCI_MANIFEST,
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        };
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": media,
            "config": {"mediaType": config_media, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": layer_media, "digest": layer, "size": format!("layer of {}", image.salt).len()}],
        });
        if let Some(created) = &image.annotation_created {
            m["annotations"] = json!({"org.opencontainers.image.created": created});
        }
        (media, serde_json::to_vec(&m).unwrap())
    }

    /// Pushes an index (OCI) or manifest list (Docker, when the images are)
    /// of `images` as `repo:tag`, children first; returns
    /// `(index digest, child digests)`.
    pub fn push_index(
        &self,
        repo: &str,
        tag: &str,
        images: &[Image],
        created_annotation: Option<&str>,
    ) -> (String, Vec<String>) {
        let docker = images.iter().all(|i| i.docker);
        let mut entries = Vec::new();
        let mut children = Vec::new();
        for image in images {
            let (media, body) = self.image_manifest(repo, image);
            let digest = format!("sha256:{}", sha256_hex(&body));
            self.put_manifest(repo, &digest, media, &body);
            let mut platform = json!({"os": image.os, "architecture": image.arch});
            if let Some(v) = &image.variant {
                platform["variant"] = json!(v);
            }
            entries.push(json!({"mediaType": media, "digest": digest, "size": body.len(), "platform": platform}));
            children.push(digest);
        }
        let media = if docker { DOCKER_LIST } else { OCI_INDEX };
        let mut index = json!({"schemaVersion": 2, "mediaType": media, "manifests": entries});
        if let Some(created) = created_annotation {
            index["annotations"] = json!({"org.opencontainers.image.created": created});
        }
        let body = serde_json::to_vec(&index).unwrap();
        (self.put_manifest(repo, tag, media, &body), children)
    }

    /// The registry's tags of `repo`, sorted; `None` for NAME_UNKNOWN.
    pub fn tags(&self, repo: &str) -> Option<Vec<String>> {
        self.block(async {
            let url = format!("{}/v2/{repo}/tags/list", self.url());
            let resp = self
                .authorize(self.http.get(&url), repo)
                .await
                .send()
                .await
                .expect("GET tags");
            if resp.status().as_u16() == 404 {
                return None;
            }
            assert_eq!(resp.status().as_u16(), 200, "GET {url}");
            let body: Value = resp.json().await.unwrap();
            let mut tags: Vec<String> = body["tags"]
                .as_array()
                .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            tags.sort();
            Some(tags)
        })
    }

    /// `DELETE /v2/<repo>/manifests/<digest>`: every tag on it goes (the
    /// registry must allow deletes, as [`TestRegistry::start`]'s does).
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        self.block(async {
            let url = format!("{}/v2/{repo}/manifests/{digest}", self.url());
            let resp = self
                .authorize(self.http.delete(&url), repo)
                .await
                .send()
                .await
                .expect("DELETE manifest");
            assert_eq!(resp.status().as_u16(), 202, "DELETE {url}");
        })
    }

    /// The digest `repo:reference` resolves to (full Accept list), or `None`.
    pub fn digest(&self, repo: &str, reference: &str) -> Option<String> {
        self.block(async {
            let url = format!("{}/v2/{repo}/manifests/{reference}", self.url());
            let resp = self
                .authorize(self.http.head(&url), repo)
                .await
                .header("accept", ACCEPT_ALL)
                .send()
                .await
                .expect("HEAD manifest");
            match resp.status().as_u16() {
                404 => None,
                200 => Some(
                    resp.headers()["docker-content-digest"]
                        .to_str()
                        .unwrap()
                        .to_string(),
                ),
                s => panic!("HEAD {url}: {s}"),
            }
        })
    }

    /// Every repository of the catalog.
    pub fn catalog(&self) -> Vec<String> {
        self.block(async {
            let url = format!("{}/v2/_catalog?n=1000", self.url());
            let body: Value = self
                .authorize(self.http.get(&url), "")
                .await
                .send()
                .await
                .expect("GET catalog")
                .json()
                .await
                .expect("catalog body");
            body["repositories"]
                .as_array()
                .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        })
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// One single-platform image: its config says platform and creation time.
#[derive(Clone, Debug)]
pub struct Image {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    /// The config's `created` (`None`: left out).
    pub created: Option<String>,
    /// The manifest's `org.opencontainers.image.created` annotation.
    pub annotation_created: Option<String>,
    /// Docker media types instead of OCI ones.
    pub docker: bool,
    /// Makes the image (and its digest) unique.
    pub salt: String,
}

impl Image {
    /// `platform` as `os/arch[/variant]`, created at `created` (RFC 3339).
    pub fn new(platform: &str, created: &str, salt: &str) -> Image {
        let mut parts = platform.split('/');
        Image {
            os: parts.next().unwrap().to_string(),
            arch: parts.next().unwrap().to_string(),
            variant: parts.next().map(str::to_string),
            created: Some(created.to_string()),
            annotation_created: None,
            docker: false,
            salt: salt.to_string(),
        }
    }

    pub fn docker(mut self) -> Image {
        self.docker = true;
        self
    }

    /// No creation time at all: a reproducible build's epoch in the config.
    pub fn reproducible(mut self) -> Image {
        self.created = Some("1970-01-01T00:00:00Z".to_string());
        self
    }

    pub fn annotated(mut self, created: &str) -> Image {
        self.annotation_created = Some(created.to_string());
        self.created = None;
        self
    }

    fn config(&self) -> Vec<u8> {
        let mut c = json!({
            "architecture": self.arch,
            "os": self.os,
            "config": {"Labels": {"salt": self.salt}},
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        if let Some(v) = &self.variant {
            c["variant"] = json!(v);
        }
        if let Some(t) = &self.created {
            c["created"] = json!(t);
        }
        serde_json::to_vec(&c).unwrap()
    }
}

// --- token authentication -------------------------------------------------

pub const TOKEN_SERVICE: &str = "tagsweep-test";
pub const TOKEN_ISSUER: &str = "tagsweep-test-issuer";

/// Who may do what on the [`TokenServer`].
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    pub user: String,
    pub password: String,
    /// Anonymous callers get pull access (else nothing).
    pub anonymous_pull: bool,
    /// Nobody gets `registry:catalog:*`.
    pub deny_catalog: bool,
}

/// One request the token server answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub user: Option<String>,
    pub scopes: Vec<String>,
    pub status: u16,
}

#[derive(Default)]
struct TokenState {
    requests: Vec<TokenRequest>,
    issued: Vec<String>,
}

/// A Docker-style token server: `GET /token?service=…&scope=…` with optional
/// Basic credentials → `{"token": JWT, "access_token": JWT, "expires_in": 300}`.
/// JWTs are RS256, signed by `openssl` with a self-signed certificate carried
/// in the header's `x5c` (the registry trusts it as its root bundle).
pub struct TokenServer {
    pub port: u16,
    pub cert: PathBuf,
    state: Arc<Mutex<TokenState>>,
    _server: crate::support::Served,
}

struct Signer {
    key: PathBuf,
    x5c: String,
    policy: TokenPolicy,
    openssl: PathBuf,
    state: Arc<Mutex<TokenState>>,
    jti: std::sync::atomic::AtomicU64,
}

impl TokenServer {
    fn start(rt: &tokio::runtime::Runtime, dir: &Path, policy: TokenPolicy) -> TokenServer {
        let openssl = require_tool("openssl", "openssl");
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        let out = Command::new(&openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=tagsweep-test-token", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl req");
        assert!(out.status.success(), "openssl req: {out:?}");
        let der = Command::new(&openssl)
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .expect("run openssl x509");
        assert!(der.status.success(), "openssl x509: {der:?}");
        let state = Arc::new(Mutex::new(TokenState::default()));
        let signer = Arc::new(Signer {
            key,
            x5c: base64(&der.stdout, false),
            policy,
            openssl,
            state: state.clone(),
            jti: std::sync::atomic::AtomicU64::new(0),
        });
        let (listener, port) = crate::support::Served::bind();
        let app = axum::Router::new()
            .route("/token", axum::routing::get(token_handler))
            .with_state(signer);
        TokenServer {
            port,
            cert,
            state,
            _server: crate::support::Served::start(rt, listener, app),
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Every token issued so far (to check none is ever printed).
    pub fn issued(&self) -> Vec<String> {
        self.state.lock().unwrap().issued.clone()
    }
}

async fn token_handler(
    axum::extract::State(signer): axum::extract::State<Arc<Signer>>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let service = pairs
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(base64_decode)
        .and_then(|b| String::from_utf8(b).ok());
    let user = match &basic {
        None => None,
        Some(pair) => {
            let (u, p) = pair.split_once(':').unwrap_or((pair, ""));
            if u != signer.policy.user || p != signer.policy.password {
                signer.state.lock().unwrap().requests.push(TokenRequest {
                    user: Some(u.to_string()),
                    scopes,
                    status: 401,
                });
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    [("www-authenticate", "Basic realm=\"tagsweep-test-token\"")],
                    r#"{"details": "incorrect username or password"}"#,
                )
                    .into_response();
            }
            Some(u.to_string())
        }
    };
    let mut access = Vec::new();
    for scope in &scopes {
        let mut parts = scope.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| match (kind, &user) {
                ("registry", _) => !signer.policy.deny_catalog && user.is_some(),
                (_, Some(_)) => true,
                (_, None) => signer.policy.anonymous_pull && *a == "pull",
            })
            .collect();
        access.push(json!({"type": kind, "name": name, "actions": granted}));
    }
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": TOKEN_ISSUER,
        "sub": user.clone().unwrap_or_default(),
        "aud": service,
        "iat": now,
        "nbf": now - 10,
        "exp": now + 300,
        "jti": format!("jti-{}", signer.jti.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
        "access": access,
    });
    let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [signer.x5c]});
    let signing_input = format!(
        "{}.{}",
        base64(&serde_json::to_vec(&header).unwrap(), true),
        base64(&serde_json::to_vec(&claims).unwrap(), true)
    );
    let signer2 = signer.clone();
    let input = signing_input.clone();
    let signature = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(&signer2.openssl)
            .args(["dgst", "-sha256", "-sign"])
            .arg(&signer2.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl dgst");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().expect("openssl dgst output");
        assert!(out.status.success());
        out.stdout
    })
    .await
    .expect("signing");
    let jwt = format!("{signing_input}.{}", base64(&signature, true));
    {
        let mut state = signer.state.lock().unwrap();
        state.requests.push(TokenRequest {
            user: user.clone(),
            scopes,
            status: 200,
        });
        state.issued.push(jwt.clone());
    }
    axum::Json(json!({
        "token": jwt,
        "access_token": jwt,
        "expires_in": 300,
        "issued_at": chrono::Utc::now().to_rfc3339(),
    }))
    .into_response()
}

// --- small codecs -----------------------------------------------------------

/// Base64 (standard with padding, or URL-safe without).
pub fn base64(bytes: &[u8], url_safe: bool) -> String {
    use base64::Engine;
    if url_safe {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    tagsweep::credentials::base64_decode(text.trim())
}

/// SHA-256, hex: blob and manifest digests.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn sha256_matches_known_digests() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"{}"),
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(
        sha256_hex(&[b'a'; 200]),
        "c2a908d98f5df987ade41b5fce213067efbcc21ef2240212a41e54b5e7c28ae5"
    );
}
