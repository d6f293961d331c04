//! The one HTTP layer every network backend shares.
//!
//! It bounds requests in flight (`-j`), retries what is worth retrying
//! (connection failures, timeouts, 5xx, 429) with exponential backoff and
//! jitter, waits out rate limits as the server announces them
//! (`Retry-After`, `X-Retry-After`, `X-RateLimit-Remaining`/`-Reset`), never
//! follows redirects (a redirected DELETE can turn into a GET, and a redirect
//! could carry a token to another host), and counts what it sent. Backends
//! get back the status, headers and body, and decide what a status means.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;
use url::Url;

use super::error::{error_message, snippet, RegistryError};
use super::Stats;
use crate::secret::Secret;

/// How the shared client behaves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts per request (the first one included) for failures and 5xx.
    pub max_attempts: u32,
    /// Longest single wait we accept for a rate limit before giving up.
    pub max_rate_limit_wait: Duration,
    /// Print one line per request on stderr.
    pub verbose: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            concurrency: 8,
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            verbose: false,
        }
    }
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub method: Method,
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// Decodes a JSON body, or says which request gave an unreadable one.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, RegistryError> {
        serde_json::from_slice(&self.body).map_err(|e| RegistryError::Decode {
            method: self.method.to_string(),
            url: self.url.to_string(),
            detail: e.to_string(),
            snippet: snippet(&self.body, 120),
        })
    }

    /// This answer as an error, with the server's message and our hint.
    pub fn error(&self, hint: Option<String>) -> RegistryError {
        RegistryError::Status {
            method: self.method.to_string(),
            url: self.url.to_string(),
            status: self.status.as_u16(),
            message: error_message(&self.body),
            hint,
        }
    }
}

/// A request to send. The bearer token is a [`Secret`] and only ever goes
/// into the `Authorization` header, marked sensitive.
pub struct Request<'a> {
    pub method: Method,
    pub url: Url,
    pub bearer: Option<&'a Secret>,
    pub json: Option<&'a serde_json::Value>,
    pub accept: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn get(url: Url) -> Self {
        Request {
            method: Method::GET,
            url,
            bearer: None,
            json: None,
            accept: Some("application/json"),
        }
    }

    pub fn bearer(mut self, token: Option<&'a Secret>) -> Self {
        self.bearer = token;
        self
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

/// The shared client (see the module documentation).
pub struct HttpClient {
    client: reqwest::Client,
    permits: Semaphore,
    counters: Counters,
    /// No request starts before this instant (rate-limit pacing).
    not_before: Mutex<Option<Instant>>,
    options: HttpOptions,
    jitter: RandomState,
}

impl HttpClient {
    pub fn new(options: HttpOptions) -> Result<Self, RegistryError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("tagsweep/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| RegistryError::Refused(format!("cannot set up the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            permits: Semaphore::new(options.concurrency.max(1)),
            counters: Counters::default(),
            not_before: Mutex::new(None),
            options,
            jitter: RandomState::new(),
        })
    }

    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
        }
    }

    pub fn verbose(&self) -> bool {
        self.options.verbose
    }

    /// Sends `req`, retrying transport failures, 5xx and 429 as the module
    /// documentation says. Any other status is returned for the caller to judge.
    pub async fn send(&self, req: &Request<'_>) -> Result<Answer, RegistryError> {
        let mut failures = 0u32;
        loop {
            self.wait_for_pacing().await;
            let outcome = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .expect("semaphore never closed");
                self.counters.requests.fetch_add(1, Ordering::Relaxed);
                self.send_once(req).await
            };
            let answer = match outcome {
                Ok(answer) => answer,
                Err(error) => {
                    failures += 1;
                    if failures >= self.options.max_attempts {
                        return Err(error);
                    }
                    self.retry_after(self.backoff(failures), &format!("{error}"))
                        .await;
                    continue;
                }
            };
            self.note_rate_limit(&answer.headers);
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                let wait =
                    announced_wait(&answer.headers).unwrap_or_else(|| self.backoff(failures + 1));
                let wait = wait.max(Duration::from_secs(1));
                if wait > self.options.max_rate_limit_wait {
                    return Err(answer.error(Some(format!(
                        "the server asks us to wait {}s, longer than we are willing to; try again later",
                        wait.as_secs()
                    ))));
                }
                self.pause_all(wait);
                self.retry_after(
                    Duration::ZERO,
                    &format!("rate limited (429); waiting {}s", wait.as_secs()),
                )
                .await;
                continue;
            }
            if is_retryable(answer.status) {
                failures += 1;
                if failures >= self.options.max_attempts {
                    return Ok(answer);
                }
                let wait = self.backoff(failures);
                self.retry_after(
                    wait,
                    &format!("{} {}: {}", answer.method, answer.url, answer.status),
                )
                .await;
                continue;
            }
            return Ok(answer);
        }
    }

    async fn send_once(&self, req: &Request<'_>) -> Result<Answer, RegistryError> {
        let started = Instant::now();
        let mut builder = self.client.request(req.method.clone(), req.url.clone());
        if let Some(accept) = req.accept {
            builder = builder.header(ACCEPT, accept);
        }
        if let Some(token) = req.bearer {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| {
                        RegistryError::Refused(
                            "the access token is not a valid header value".into(),
                        )
                    })?;
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        if let Some(json) = req.json {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(json).expect("JSON values serialize"));
        }
        let transport = |e: reqwest::Error| RegistryError::Transport {
            method: req.method.to_string(),
            url: req.url.to_string(),
            detail: describe_transport_error(&e),
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if self.options.verbose {
            eprintln!(
                "tagsweep: {} {} -> {} ({} ms)",
                req.method,
                req.url,
                status.as_u16(),
                started.elapsed().as_millis()
            );
        }
        Ok(Answer {
            method: req.method.clone(),
            url: req.url.clone(),
            status,
            headers,
            body,
        })
    }

    async fn retry_after(&self, wait: Duration, why: &str) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        if self.options.verbose || wait >= Duration::from_secs(10) {
            eprintln!("tagsweep: {why}; retrying in {:.1}s", wait.as_secs_f64());
        }
        tokio::time::sleep(wait).await;
    }

    /// Exponential backoff with jitter: 0.5–1 × 500 ms × 2^(n-1), at most 16 s.
    fn backoff(&self, failures: u32) -> Duration {
        let base =
            Duration::from_millis(500) * 2u32.saturating_pow(failures.saturating_sub(1).min(5));
        let base = base.min(Duration::from_secs(16));
        let mut h = self.jitter.build_hasher();
        h.write_u32(failures);
        h.write_u128(Instant::now().elapsed().as_nanos());
        let fraction = 0.5 + (h.finish() % 1000) as f64 / 2000.0;
        base.mul_f64(fraction)
    }

    /// Holds every request until `wait` has passed.
    fn pause_all(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut guard = self.not_before.lock().expect("lock");
        if guard.is_none_or(|t| t < until) {
            *guard = Some(until);
        }
    }

    async fn wait_for_pacing(&self) {
        let until = *self.not_before.lock().expect("lock");
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    /// When the server says no request is left in this window, wait for its reset.
    fn note_rate_limit(&self, headers: &HeaderMap) {
        let remaining = header_u64(headers, "x-ratelimit-remaining");
        let reset = header_u64(headers, "x-ratelimit-reset");
        if let (Some(0), Some(reset)) = (remaining, reset) {
            let wait =
                Duration::from_secs(reset.saturating_sub(unix_now())).min(Duration::from_secs(120));
            if !wait.is_zero() {
                if self.options.verbose {
                    eprintln!(
                        "tagsweep: rate limit reached; waiting {}s for its reset",
                        wait.as_secs()
                    );
                }
                self.pause_all(wait);
            }
        }
    }
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// `Retry-After` (seconds, per the current spec) or `X-Retry-After` (a unix
/// time, per older specs).
fn announced_wait(headers: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Some(Duration::from_secs(secs));
    }
    header_u64(headers, "x-retry-after")
        .map(|at| Duration::from_secs(at.saturating_sub(unix_now())))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// reqwest's errors say little on their own; walk the chain for the cause.
fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_and_x_retry_after_is_a_time() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(announced_wait(&h), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        h.insert(
            "x-retry-after",
            (unix_now() + 30).to_string().parse().unwrap(),
        );
        let w = announced_wait(&h).unwrap();
        assert!(
            w <= Duration::from_secs(30) && w >= Duration::from_secs(28),
            "{w:?}"
        );
        assert_eq!(announced_wait(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = HttpClient::new(HttpOptions::default()).unwrap();
        for n in 1..10 {
            let b = c.backoff(n);
            let base = (Duration::from_millis(500) * 2u32.pow((n - 1).min(5)))
                .min(Duration::from_secs(16));
            assert!(b >= base / 2 && b <= base, "attempt {n}: {b:?}");
        }
    }
}
