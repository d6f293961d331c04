//! The shared client: bounds requests in flight, takes each one's turn
//! from the pacing, sends it (never following a redirect), retries it as
//! [`super::retry`] says, counts it, and says what happens through its
//! notes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use tokio::sync::{Notify, Semaphore};

use super::pacing::{Pacer, Turn};
use super::request::{Body, OwnedRequest, Request};
use super::retry::{describe_transport_error, is_retryable, rate_limit_wait, Backoff};
use super::Answer;
use crate::notes::Notes;
use crate::registry::{RegistryError, Stats};
use crate::secret::Redactor;

/// How the shared client behaves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Per-attempt timeout (connecting, sending and reading the whole answer).
    pub timeout: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts per request (the first one included) for failures and 5xx.
    pub max_attempts: u32,
    /// Backoff before the first retry (doubled for each further one), before jitter.
    pub backoff_base: Duration,
    /// Longest backoff between two attempts.
    pub backoff_max: Duration,
    /// 429 answers one request may get before we give up.
    pub max_rate_limited: u32,
    /// Longest single wait we accept for a rate limit before giving up.
    pub max_rate_limit_wait: Duration,
    /// Where this client, and the backend built on it, say what happens:
    /// one line per request (with `-v`), retries, waits.
    pub notes: Notes,
    /// The run's secrets (the backend adds each token it is issued): taken
    /// out of every note said here, and of every error made of an
    /// [`Answer`] (see [`crate::secret::Redactor`]).
    pub redactor: Redactor,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            concurrency: 8,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(16),
            max_rate_limited: 10,
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            notes: Notes::default(),
            redactor: Redactor::default(),
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

/// The shared client (see the module documentation): a handle, cheap to
/// clone, on one connection pool, one bound on requests in flight and one
/// pacing.
///
/// Each request is sent from a task of its own: it waits for its turn,
/// goes out and is read in whole on the runtime's worker threads, whatever
/// the caller is busy with meanwhile (reading the answer before, say). So
/// `-j` requests stay in flight while the answers are parsed. Dropping the
/// future of [`HttpClient::send`] aborts its request, as before.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    permits: Semaphore,
    counters: Counters,
    pacer: Mutex<Pacer>,
    /// Woken whenever an answer comes (a request waiting on the pacing may go).
    answered: Notify,
    options: HttpOptions,
    /// Waits between attempts.
    backoff: Backoff,
}

/// A request sent: marks it answered (or abandoned) even when its future is
/// dropped, and wakes the requests waiting for their turn. `number`: its
/// place among the requests sent; `done_before`: requests answered when it
/// was sent.
struct InFlight<'a> {
    pacer: &'a Mutex<Pacer>,
    answered: &'a Notify,
    number: u64,
    done_before: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        {
            let mut pacer = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
            pacer.answered(self.number);
        }
        self.answered.notify_waiters();
    }
}

impl HttpClient {
    pub fn new(options: HttpOptions) -> Result<Self, RegistryError> {
        Ok(HttpClient {
            inner: Arc::new(Inner::new(options)?),
        })
    }

    /// Requests, retries and rate-limited answers so far.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Where this client says what happens (see [`HttpOptions::notes`]).
    pub fn notes(&self) -> &Notes {
        &self.inner.options.notes
    }

    /// The run's secrets (see [`HttpOptions::redactor`]): a backend adds
    /// each token it is issued.
    pub fn redactor(&self) -> &Redactor {
        &self.inner.options.redactor
    }

    /// Exponential backoff with jitter: base × 2^(n-1), at most `backoff_max`,
    /// times a random factor in [0.5, 1) so that concurrent retries spread out.
    pub fn backoff(&self, failures: u32) -> Duration {
        self.inner.backoff.wait(failures)
    }

    /// Sends `req`, retrying transport failures, 5xx and 429 as the module
    /// documentation says. Any other status is returned for the caller to
    /// judge, and so is the last 5xx when every attempt got one.
    pub async fn send(&self, req: &Request<'_>) -> Result<Answer, RegistryError> {
        let inner = Arc::clone(&self.inner);
        let owned = OwnedRequest::from(req);
        let task = tokio::spawn(async move { inner.send(&owned.borrow()).await });
        match AbortOnDrop(task).await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(RegistryError::Refused(format!(
                "{} {}: the request was cancelled (the program is stopping)",
                req.method, req.url
            ))),
        }
    }
}

/// A spawned request, aborted when its caller no longer waits for it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl Inner {
    fn new(mut options: HttpOptions) -> Result<Self, RegistryError> {
        options.notes = options.notes.clone().redacting(options.redactor.clone());
        let client = reqwest::Client::builder()
            .user_agent(concat!("tagsweep/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| RegistryError::Refused(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Inner {
            client,
            permits: Semaphore::new(options.concurrency.max(1)),
            counters: Counters::default(),
            pacer: Mutex::new(Pacer::default()),
            answered: Notify::new(),
            backoff: Backoff::new(options.backoff_base, options.backoff_max),
            options,
        })
    }

    fn stats(&self) -> Stats {
        Stats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
        }
    }

    fn pacer(&self) -> std::sync::MutexGuard<'_, Pacer> {
        self.pacer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`HttpClient::send`], in the request's own task.
    async fn send(&self, req: &Request<'_>) -> Result<Answer, RegistryError> {
        let mut failures = 0u32;
        let mut limited = 0u32;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .expect("semaphore never closed");
                let in_flight = self.wait_turn().await;
                self.counters.requests.fetch_add(1, Ordering::Relaxed);
                let outcome = self.send_once(req, attempts).await;
                if let Ok(answer) = &outcome {
                    self.pacer().observe(
                        &answer.headers,
                        Instant::now(),
                        in_flight.number,
                        in_flight.done_before,
                    );
                }
                drop(in_flight);
                outcome
            };
            let mut answer = match outcome {
                Ok(answer) => answer,
                Err(RegistryError::Transport {
                    method,
                    url,
                    detail,
                }) => {
                    failures += 1;
                    if failures >= self.options.max_attempts {
                        return Err(RegistryError::Transport {
                            method,
                            url,
                            detail: format!("{detail} (gave up after {failures} attempts)"),
                        });
                    }
                    let wait = self.backoff.wait(failures);
                    self.retry_after(wait, || {
                        format!(
                            "{method} {url}: {detail}; retrying in {:.1}s (attempt {} of {})",
                            wait.as_secs_f64(),
                            failures + 1,
                            self.options.max_attempts
                        )
                    })
                    .await;
                    continue;
                }
                Err(other) => return Err(other),
            };
            answer.attempts = attempts;
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                limited += 1;
                let (wait, why) = rate_limit_wait(&answer.headers, limited);
                if limited >= self.options.max_rate_limited {
                    return Err(answer.error(Some(format!(
                        "still rate limited after {limited} waits by {} (it limits requests per account or address): try again later, with a lower -j, or when other jobs sharing the account or address are done",
                        answer.url.origin().ascii_serialization()
                    ))));
                }
                if wait > self.options.max_rate_limit_wait {
                    return Err(answer.error(Some(format!(
                        "the server asks us to wait {}s, longer than we are willing to ({}s); try again later",
                        wait.as_secs(),
                        self.options.max_rate_limit_wait.as_secs()
                    ))));
                }
                let extended = self.pacer().pause(Instant::now() + wait);
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                if extended {
                    self.options.notes.wait(wait, || {
                        format!(
                            "{} {}: rate limited (429); waiting {:.1}s ({why})",
                            answer.method,
                            answer.url,
                            wait.as_secs_f64()
                        )
                    });
                }
                // The pause holds this request too: wait_turn sleeps it out.
                continue;
            }
            if is_retryable(answer.status) {
                failures += 1;
                if failures >= self.options.max_attempts {
                    return Ok(answer);
                }
                let wait = self.backoff.wait(failures);
                self.retry_after(wait, || {
                    format!(
                        "{} {}: {}; retrying in {:.1}s (attempt {} of {})",
                        answer.method,
                        answer.url,
                        answer.status,
                        wait.as_secs_f64(),
                        failures + 1,
                        self.options.max_attempts
                    )
                })
                .await;
                continue;
            }
            return Ok(answer);
        }
    }

    /// Waits until the pacing lets one more request start, and counts it in
    /// flight. A waiting request looks again when its time comes or when an
    /// answer arrives (the probe's answer after a window ended lets the
    /// others go at once).
    async fn wait_turn(&self) -> InFlight<'_> {
        loop {
            let answer = self.answered.notified();
            tokio::pin!(answer);
            // Registered before the turn is asked: an answer between the two
            // still wakes us.
            answer.as_mut().enable();
            let turn = self.pacer().turn(Instant::now(), &self.options.notes);
            match turn {
                Turn::Go {
                    number,
                    done_before,
                } => {
                    return InFlight {
                        pacer: &self.pacer,
                        answered: &self.answered,
                        number,
                        done_before,
                    }
                }
                Turn::Wait(until, note) => {
                    if let Some((level, text)) = note {
                        self.options.notes.say(level, || text);
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(until.into()) => {}
                        () = &mut answer => {}
                    }
                }
            }
        }
    }

    async fn send_once(&self, req: &Request<'_>, attempt: u32) -> Result<Answer, RegistryError> {
        let started = Instant::now();
        let mut builder = self.client.request(req.method.clone(), req.url.clone());
        if let Some(accept) = req.accept {
            builder = builder.header(ACCEPT, accept);
        }
        if let Some(value) = req.auth.header()? {
            builder = builder.header(AUTHORIZATION, value);
        }
        match req.body {
            Body::None => {}
            Body::Json(json) => {
                builder = builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(json).expect("JSON values serialize"));
            }
            Body::Raw {
                content_type,
                bytes,
            } => {
                builder = builder
                    .header(CONTENT_TYPE, content_type)
                    .body(bytes.to_vec());
            }
        }
        let transport = |e: reqwest::Error| {
            self.options.notes.info(|| {
                format!(
                    "{} {} -> no answer ({} ms)",
                    req.method,
                    req.url,
                    started.elapsed().as_millis()
                )
            });
            RegistryError::Transport {
                method: req.method.to_string(),
                url: req.url.to_string(),
                detail: describe_transport_error(&e),
            }
            .redact(&self.options.redactor)
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?.to_vec();
        self.options.notes.info(|| {
            format!(
                "{} {} -> {} ({} ms{})",
                req.method,
                req.url,
                status.as_u16(),
                started.elapsed().as_millis(),
                if attempt > 1 {
                    format!(", attempt {attempt}")
                } else {
                    String::new()
                }
            )
        });
        Ok(Answer {
            method: req.method.clone(),
            url: req.url.clone(),
            status,
            headers,
            body,
            attempts: attempt,
            redactor: self.options.redactor.clone(),
        })
    }

    async fn retry_after(&self, wait: Duration, why: impl FnOnce() -> String) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        self.options.notes.wait(wait, why);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;
    use reqwest::Method;
    use url::Url;

    use super::super::Auth;
    use super::*;
    use crate::secret::Secret;

    /// Every request the test server saw: method, headers, body.
    type Seen = std::sync::Arc<Mutex<Vec<(Method, HeaderMap, Vec<u8>)>>>;

    /// A server on loopback that answers 503 to the first `fail` requests,
    /// then 201, and records every request.
    async fn recording_server(fail: usize) -> (Url, Seen) {
        let seen: Seen = Default::default();
        let record = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, headers: HeaderMap, body: axum::body::Bytes| {
                let record = record.clone();
                async move {
                    let mut seen = record.lock().unwrap();
                    seen.push((method, headers, body.to_vec()));
                    if seen.len() <= fail {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::CREATED
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (Url::parse(&format!("http://{addr}/v2/x")).unwrap(), seen)
    }

    #[tokio::test]
    async fn a_rate_limit_that_does_not_end_names_the_server_that_limits() {
        let app = axum::Router::new().fallback(|| async {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = HttpClient::new(HttpOptions {
            max_rate_limited: 1,
            ..HttpOptions::default()
        })
        .unwrap();
        let url = Url::parse(&format!("http://{addr}/v2/kolla/base/tags/list")).unwrap();
        let e = client.send(&Request::get(url)).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!(
                "hint: still rate limited after 1 waits by http://{addr} (it limits"
            )),
            "{text}"
        );
        assert!(
            !text.contains("Docker Hub"),
            "an OCI registry is not Docker Hub: {text}"
        );
    }

    #[tokio::test]
    async fn a_raw_body_with_basic_credentials_is_sent_again_on_a_retry() {
        let (url, seen) = recording_server(1).await;
        let client = HttpClient::new(HttpOptions {
            backoff_base: Duration::from_millis(1),
            ..HttpOptions::default()
        })
        .unwrap();
        let password = Secret::new("pw");
        let req = Request::new(Method::PUT, url)
            .auth(Auth::Basic {
                username: "u",
                password: &password,
            })
            .accept("application/vnd.oci.image.manifest.v1+json")
            .body("application/vnd.oci.image.manifest.v1+json", b"{}");
        let answer = client.send(&req).await.unwrap();
        assert_eq!((answer.status, answer.attempts), (StatusCode::CREATED, 2));
        assert_eq!(client.stats().requests, 2);
        assert_eq!(client.stats().retries, 1);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        for (method, headers, body) in seen.iter() {
            assert_eq!(method, Method::PUT);
            assert_eq!(headers[AUTHORIZATION], "Basic dTpwdw==");
            assert_eq!(
                headers[CONTENT_TYPE],
                "application/vnd.oci.image.manifest.v1+json"
            );
            assert_eq!(
                headers[ACCEPT],
                "application/vnd.oci.image.manifest.v1+json"
            );
            assert_eq!(body, b"{}");
        }
    }
}
