//! The one HTTP layer every network backend shares.
//!
//! It bounds requests in flight (`-j`), paces them to the server's announced
//! budget, retries what is worth retrying, never follows redirects (a
//! redirected DELETE can turn into a GET, and a redirect could carry a token to
//! another host), and counts what it sent. Backends get back the status,
//! headers and body, and decide what a status means.
//!
//! A [`Request`] carries its credentials ([`Auth`]: a Bearer token or Basic
//! credentials, only ever in a sensitive `Authorization` header) and its body
//! ([`Body`]: JSON, or bytes with their media type), so every backend sends
//! through here; whom a backend hands its credentials to (its own origin, a
//! token realm) is its decision.
//!
//! **Rate limits** (Docker Hub: `X-RateLimit-Limit` requests per window,
//! `X-RateLimit-Remaining`, `X-RateLimit-Reset` as a unix time; an observed
//! 180 a minute). Every answer updates a shared budget estimate. Requests in
//! flight when an answer was produced may not have been counted by the server
//! yet, so each estimate subtracts them: the estimate never exceeds what is
//! truly left. While more than half the limit is left, requests go out at
//! once (a small audit is not slowed down); below that, what is left is
//! spread evenly over the time to the reset, across all concurrent requests;
//! with nothing left, every request waits for the reset. A 429 still happens
//! when another client shares the budget: then every request waits
//! `Retry-After` (seconds) or `X-Retry-After` (a unix time), at least a
//! second, and at most [`HttpOptions::max_rate_limited`] times per request.
//!
//! **Retries.** Connection failures (refused, reset, cut-off answers),
//! timeouts ([`HttpOptions::timeout`] per attempt) and 500/502/503/504 are
//! retried with exponential backoff and full jitter, up to
//! [`HttpOptions::max_attempts`] attempts in all. Every method is retried,
//! DELETE included: a DELETE whose answer was lost is sent again, and the
//! backend treats the 404 it then gets as done.
//!
//! Nothing is printed here: waits, retries and (at [`Level::Info`], shown
//! with `-v`) every request are said through [`HttpOptions::notes`]; a wait
//! is said without `-v` when it is long ([`Notes::wait`]).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;
use url::Url;

use super::error::{html_text, looks_like_html, snippet, RegistryError};
use super::Stats;
use crate::credentials::base64_encode;
use crate::notes::{Level, Notes};
use crate::secret::Secret;

/// The longest we believe a rate-limit window lasts: a reset announced further
/// away than this (a skewed clock) is not waited for in full.
const MAX_RESET_WAIT: Duration = Duration::from_secs(120);

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
    /// Attempts it took (1 = no retry); more than one when 5xx were retried.
    pub attempts: u32,
}

impl Answer {
    /// Decodes a JSON body, or says which request gave an unreadable one.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, RegistryError> {
        serde_json::from_slice(&self.body).map_err(|e| self.undecodable(&e.to_string(), true))
    }

    /// An unreadable-answer error for this answer; `show_body: false` keeps
    /// the body out of it (a login answer holds the access token).
    pub fn undecodable(&self, detail: &str, show_body: bool) -> RegistryError {
        let html = looks_like_html(&self.body);
        let (detail, snippet) = if !show_body {
            (detail.to_string(), "(not shown)".to_string())
        } else if html {
            let text = html_text(&String::from_utf8_lossy(&self.body));
            (
                "an HTML page, not JSON".to_string(),
                snippet(text.as_bytes(), 120),
            )
        } else {
            (detail.to_string(), snippet(&self.body, 120))
        };
        let hint = if html {
            Some(
                "this is not Docker Hub's API answering: check --hub-url / TAGSWEEP_HUB_URL, or a proxy in between"
                    .to_string(),
            )
        } else if self.body.is_empty() {
            Some("the answer was empty; try again".to_string())
        } else {
            None
        };
        RegistryError::Decode {
            method: self.method.to_string(),
            url: self.url.to_string(),
            status: self.status.as_u16(),
            detail,
            snippet,
            hint,
        }
    }

    /// This answer as an error, with the server's message and our hint.
    pub fn error(&self, hint: Option<String>) -> RegistryError {
        RegistryError::Status {
            method: self.method.to_string(),
            url: self.url.to_string(),
            status: self.status.as_u16(),
            message: super::error::error_message(&self.body),
            hint,
        }
    }

    /// The `Location` of a redirect, as sent.
    pub fn location(&self) -> Option<&str> {
        self.header(LOCATION.as_str())
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The media type of the body, lower-cased, without parameters.
    pub fn content_type(&self) -> Option<String> {
        let raw = self.header(CONTENT_TYPE.as_str())?;
        let media = raw.split(';').next()?.trim().to_ascii_lowercase();
        (!media.is_empty()).then_some(media)
    }
}

/// How a request proves who sends it. The secret only ever goes into the
/// `Authorization` header, marked sensitive; it is never formatted.
#[derive(Clone, Copy, Default)]
pub enum Auth<'a> {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a Secret),
    /// `Authorization: Basic base64(<username>:<password>)`.
    Basic {
        username: &'a str,
        password: &'a Secret,
    },
}

impl<'a> Auth<'a> {
    /// Bearer with `token`, or nothing.
    pub fn bearer(token: Option<&'a Secret>) -> Self {
        token.map_or(Auth::None, Auth::Bearer)
    }

    /// The `Authorization` value, marked sensitive; `None` for [`Auth::None`].
    fn header(&self) -> Result<Option<HeaderValue>, RegistryError> {
        let (value, what) = match self {
            Auth::None => return Ok(None),
            Auth::Bearer(token) => (
                format!("Bearer {}", token.expose()),
                "the access token is not a valid header value",
            ),
            Auth::Basic { username, password } => (
                format!(
                    "Basic {}",
                    base64_encode(format!("{username}:{}", password.expose()).as_bytes())
                ),
                "the credentials hold characters that cannot go in a header",
            ),
        };
        let mut value =
            HeaderValue::from_str(&value).map_err(|_| RegistryError::Refused(what.into()))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// What a request carries.
#[derive(Clone, Copy, Default)]
pub enum Body<'a> {
    #[default]
    None,
    /// A JSON document, sent as `application/json`.
    Json(&'a serde_json::Value),
    /// Bytes as they are, with their media type.
    Raw {
        content_type: &'a str,
        bytes: &'a [u8],
    },
}

/// A request to send. Credentials and tokens only ever go into the
/// `Authorization` header (see [`Auth`]).
#[derive(Clone)]
pub struct Request<'a> {
    pub method: Method,
    pub url: Url,
    pub auth: Auth<'a>,
    pub body: Body<'a>,
    pub accept: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// `method url`, accepting JSON, with no credentials and no body.
    pub fn new(method: Method, url: Url) -> Self {
        Request {
            method,
            url,
            auth: Auth::None,
            body: Body::None,
            accept: Some("application/json"),
        }
    }

    pub fn get(url: Url) -> Self {
        Request::new(Method::GET, url)
    }

    pub fn bearer(self, token: Option<&'a Secret>) -> Self {
        self.auth(Auth::bearer(token))
    }

    pub fn auth(mut self, auth: Auth<'a>) -> Self {
        self.auth = auth;
        self
    }

    pub fn accept(mut self, accept: &'a str) -> Self {
        self.accept = Some(accept);
        self
    }

    pub fn json(mut self, json: &'a serde_json::Value) -> Self {
        self.body = Body::Json(json);
        self
    }

    /// `bytes` as the body, sent as `content_type`.
    pub fn body(mut self, content_type: &'a str, bytes: &'a [u8]) -> Self {
        self.body = Body::Raw {
            content_type,
            bytes,
        };
        self
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

/// What the server last told us of its budget, made conservative.
///
/// An answer's `X-RateLimit-Remaining` counts the requests the server
/// processed before it; which others it had not counted yet is unknown, except
/// that everything answered before our request was even sent came first. So
/// every other request sent by the time the answer is read is assumed
/// uncounted: each estimate is a lower bound of what is truly left, and of
/// several estimates for the same window the largest is the best.
#[derive(Debug, Clone)]
struct Budget {
    limit: Option<u64>,
    /// At most this many requests were left when `sent_at` requests had been sent.
    left: i64,
    sent_at: u64,
    /// When the window resets, on our clock, and as the server wrote it.
    reset: Instant,
    reset_unix: u64,
}

/// Rate-limit pacing shared by every request of the client.
#[derive(Debug, Default)]
struct Pacer {
    /// No request starts before this (after a 429).
    paused_until: Option<Instant>,
    budget: Option<Budget>,
    /// Requests sent so far.
    sent: u64,
    /// Requests answered (or abandoned) so far.
    done: u64,
    /// While spreading the budget: the earliest start of the next request.
    next_slot: Option<Instant>,
    /// The windows we last told the user about (one message of each kind
    /// per window): pacing starts (`-v`), waiting for the reset.
    announced_pacing: Option<u64>,
    announced_wait: Option<u64>,
}

/// Whether a request may start now.
enum Turn {
    /// Go, with the number of requests answered so far.
    Go(u64),
    /// Not before this instant; with a note to show (already judged to
    /// be shown), if any.
    Wait(Instant, Option<(Level, String)>),
}

impl Pacer {
    fn left(&self, b: &Budget) -> i64 {
        b.left - (self.sent - b.sent_at) as i64
    }

    /// Decides whether one more request may start at `now`, and if so counts
    /// it; `Go` carries how many requests were answered by then.
    fn turn(&mut self, now: Instant, notes: &Notes) -> Turn {
        if let Some(until) = self.paused_until {
            if until > now {
                return Turn::Wait(until, None);
            }
            self.paused_until = None;
        }
        if let Some(b) = self.budget.clone() {
            if now >= b.reset {
                // A new window: the server's next answer tells us its budget.
                self.budget = None;
                self.next_slot = None;
            } else {
                let left = self.left(&b);
                let to_reset = b.reset - now;
                if left <= 0 {
                    let note = self.announce(&b, to_reset, notes, || {
                        format!(
                            "no request left of the server's rate limit{}; waiting {:.1}s for it to reset",
                            b.limit.map(|l| format!(" ({l} per window)")).unwrap_or_default(),
                            to_reset.as_secs_f64()
                        )
                    });
                    return Turn::Wait(b.reset, note);
                }
                let plenty = b.limit.is_some_and(|limit| left as u64 > limit / 2);
                if !plenty {
                    if let Some(slot) = self.next_slot.filter(|slot| *slot > now) {
                        return Turn::Wait(slot, None);
                    }
                    let interval = to_reset / u32::try_from(left).unwrap_or(u32::MAX);
                    self.next_slot = Some(now + interval);
                    if notes.shows(Level::Info) && self.announced_pacing != Some(b.reset_unix) {
                        self.announced_pacing = Some(b.reset_unix);
                        notes.info(|| {
                            format!(
                                "rate limit: about {left} requests left for {:.1}s; pacing them one every {} ms",
                                to_reset.as_secs_f64(),
                                interval.as_millis()
                            )
                        });
                    }
                }
            }
        }
        self.sent += 1;
        Turn::Go(self.done)
    }

    /// A note for the wait for `b`'s reset, once per window, when `notes`
    /// shows it (a long wait, or `-v`: [`Notes::wait_level`]).
    fn announce(
        &mut self,
        b: &Budget,
        wait: Duration,
        notes: &Notes,
        text: impl FnOnce() -> String,
    ) -> Option<(Level, String)> {
        let level = Notes::wait_level(wait);
        if notes.shows(level) && self.announced_wait != Some(b.reset_unix) {
            self.announced_wait = Some(b.reset_unix);
            Some((level, text()))
        } else {
            None
        }
    }

    /// Takes in the rate-limit headers of the answer to a request sent when
    /// `done_before` requests had been answered.
    fn observe(&mut self, headers: &HeaderMap, now: Instant, done_before: u64) {
        let (Some(remaining), Some(reset_unix)) = (
            header_u64(headers, "x-ratelimit-remaining"),
            header_u64(headers, "x-ratelimit-reset"),
        ) else {
            return;
        };
        let limit = header_u64(headers, "x-ratelimit-limit");
        let until_reset = Duration::from_secs_f64((reset_unix as f64 - unix_now_f64()).max(0.0))
            .min(MAX_RESET_WAIT);
        let reset = now + until_reset;
        if reset <= now {
            return; // that window is over
        }
        // Every other request not answered before ours was sent may or may
        // not have been counted: assume not, so `left` is a lower bound.
        let uncertain = self.sent.saturating_sub(1).saturating_sub(done_before);
        let left = i64::try_from(remaining)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(uncertain).unwrap_or(i64::MAX));
        let fresh = Budget {
            limit,
            left,
            sent_at: self.sent,
            reset,
            reset_unix,
        };
        match &self.budget {
            // An answer from an older window, arriving late.
            Some(b) if b.reset_unix > reset_unix => {}
            // The same window: every estimate is a lower bound; keep the tightest.
            Some(b) if b.reset_unix == reset_unix => {
                if left > self.left(b) {
                    self.budget = Some(Budget {
                        reset: b.reset,
                        ..fresh
                    });
                }
            }
            _ => {
                self.budget = Some(fresh);
                self.next_slot = None;
            }
        }
    }

    /// Holds every request until `until`; true when that extends the pause.
    fn pause(&mut self, until: Instant) -> bool {
        if self
            .paused_until
            .is_none_or(|t| t + Duration::from_millis(100) < until)
        {
            self.paused_until = Some(until);
            true
        } else {
            false
        }
    }
}

/// The shared client (see the module documentation).
pub struct HttpClient {
    client: reqwest::Client,
    permits: Semaphore,
    counters: Counters,
    pacer: Mutex<Pacer>,
    options: HttpOptions,
    /// State of the jitter generator (splitmix64), seeded at random.
    jitter: AtomicU64,
}

/// A request sent: marks it answered (or abandoned) even when its future is
/// dropped. `done_before`: requests answered when it was sent.
struct InFlight<'a> {
    pacer: &'a Mutex<Pacer>,
    done_before: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut pacer = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
        pacer.done += 1;
    }
}

impl HttpClient {
    pub fn new(options: HttpOptions) -> Result<Self, RegistryError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("tagsweep/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| RegistryError::Refused(format!("cannot set up the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            permits: Semaphore::new(options.concurrency.max(1)),
            counters: Counters::default(),
            pacer: Mutex::new(Pacer::default()),
            jitter: AtomicU64::new(RandomState::new().hash_one(0x7461_6773_7765_6570_u64)),
            options,
        })
    }

    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Where this client says what happens (see [`HttpOptions::notes`]).
    pub fn notes(&self) -> &Notes {
        &self.options.notes
    }

    fn pacer(&self) -> std::sync::MutexGuard<'_, Pacer> {
        self.pacer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `req`, retrying transport failures, 5xx and 429 as the module
    /// documentation says. Any other status is returned for the caller to
    /// judge, and so is the last 5xx when every attempt got one.
    pub async fn send(&self, req: &Request<'_>) -> Result<Answer, RegistryError> {
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
                    self.pacer()
                        .observe(&answer.headers, Instant::now(), in_flight.done_before);
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
                    let wait = self.backoff(failures);
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
                        "still rate limited after {limited} waits; the registry limits API calls (Docker Hub: per account and address): try again later, with a lower -j, or when other jobs sharing the account are done"
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
                let wait = self.backoff(failures);
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

    /// Waits until the pacing lets one more request start, and counts it in flight.
    async fn wait_turn(&self) -> InFlight<'_> {
        loop {
            let turn = self.pacer().turn(Instant::now(), &self.options.notes);
            match turn {
                Turn::Go(done_before) => {
                    return InFlight {
                        pacer: &self.pacer,
                        done_before,
                    }
                }
                Turn::Wait(until, note) => {
                    if let Some((level, text)) = note {
                        self.options.notes.say(level, || text);
                    }
                    tokio::time::sleep_until(until.into()).await;
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
        })
    }

    async fn retry_after(&self, wait: Duration, why: impl FnOnce() -> String) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        self.options.notes.wait(wait, why);
        tokio::time::sleep(wait).await;
    }

    /// Exponential backoff with jitter: base × 2^(n-1), at most `backoff_max`,
    /// times a random factor in [0.5, 1) so that concurrent retries spread out.
    pub fn backoff(&self, failures: u32) -> Duration {
        let base = self
            .options
            .backoff_base
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
            .min(self.options.backoff_max);
        let fraction = 0.5 + (self.random() % 1000) as f64 / 2000.0;
        base.mul_f64(fraction)
    }

    /// splitmix64: cheap, and good enough for jitter.
    fn random(&self) -> u64 {
        let mut z = self
            .jitter
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// How long to wait after the `n`-th 429 of a request, and why: what the
/// server asks (`Retry-After`, `X-Retry-After`), else its window's reset when
/// no request is left, else 1, 2, 4 … 60 s. Never less than a second.
fn rate_limit_wait(headers: &HeaderMap, n: u32) -> (Duration, &'static str) {
    let (wait, why) = if let Some(wait) = announced_wait(headers) {
        (wait, "as the server asks")
    } else if let (Some(0), Some(reset)) = (
        header_u64(headers, "x-ratelimit-remaining"),
        header_u64(headers, "x-ratelimit-reset"),
    ) {
        (
            Duration::from_secs_f64((reset as f64 - unix_now_f64()).max(0.0)).min(MAX_RESET_WAIT),
            "until the limit resets",
        )
    } else {
        (
            Duration::from_secs(1u64 << n.saturating_sub(1).min(6)).min(Duration::from_secs(60)),
            "the server gave no time",
        )
    };
    (wait.max(Duration::from_secs(1)), why)
}

/// `Retry-After` (seconds, per the current spec; an HTTP date is accepted
/// too, as RFC 9110 allows) or `X-Retry-After` (a unix time, per older specs;
/// a small number there is taken as seconds).
fn announced_wait(headers: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Some(Duration::from_secs(secs));
    }
    let date = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v.trim()).ok());
    if let Some(date) = date {
        let secs = date.timestamp() as f64 - unix_now_f64();
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let at = header_u64(headers, "x-retry-after")?;
    Some(if at < 1_000_000_000 {
        Duration::from_secs(at)
    } else {
        Duration::from_secs_f64((at as f64 - unix_now_f64()).max(0.0))
    })
}

/// A non-negative number header; a fraction (`1613958012.5`) is cut to its
/// integer part.
fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    text.parse().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
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

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn unix_now() -> u64 {
        unix_now_f64() as u64
    }

    #[test]
    fn retry_after_is_seconds_and_x_retry_after_is_a_time() {
        let h = headers(&[("retry-after", "7".into())]);
        assert_eq!(announced_wait(&h), Some(Duration::from_secs(7)));
        let h = headers(&[("x-retry-after", (unix_now() + 30).to_string())]);
        let w = announced_wait(&h).unwrap();
        assert!(
            w <= Duration::from_secs(30) && w >= Duration::from_secs(28),
            "{w:?}"
        );
        let h = headers(&[("x-retry-after", "5".into())]);
        assert_eq!(announced_wait(&h), Some(Duration::from_secs(5)));
        let h = headers(&[("x-retry-after", format!("{}.75", unix_now() + 30))]);
        assert!(announced_wait(&h).unwrap() > Duration::from_secs(28));
        let at = chrono::Utc::now() + chrono::TimeDelta::seconds(20);
        let h = headers(&[("retry-after", at.to_rfc2822().replace("+0000", "GMT"))]);
        let w = announced_wait(&h).unwrap();
        assert!(
            w > Duration::from_secs(18) && w <= Duration::from_secs(20),
            "{w:?}"
        );
        let h = headers(&[("retry-after", "soon".into())]);
        assert_eq!(announced_wait(&h), None);
        assert_eq!(announced_wait(&HeaderMap::new()), None);
    }

    #[test]
    fn a_429_never_waits_less_than_a_second() {
        let (w, _) = rate_limit_wait(&headers(&[("retry-after", "0".into())]), 1);
        assert_eq!(w, Duration::from_secs(1));
        let (w, _) = rate_limit_wait(&headers(&[("x-retry-after", "1000000000".into())]), 1);
        assert_eq!(w, Duration::from_secs(1), "a time in the past");
        let (w, why) = rate_limit_wait(&HeaderMap::new(), 3);
        assert_eq!(
            (w, why),
            (Duration::from_secs(4), "the server gave no time")
        );
        assert_eq!(
            rate_limit_wait(&HeaderMap::new(), 40).0,
            Duration::from_secs(60)
        );
        let (w, why) = rate_limit_wait(
            &headers(&[
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", (unix_now() + 20).to_string()),
            ]),
            1,
        );
        assert!(w > Duration::from_secs(18) && w <= Duration::from_secs(20));
        assert_eq!(why, "until the limit resets");
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let c = HttpClient::new(HttpOptions::default()).unwrap();
        for n in 1..40 {
            let b = c.backoff(n);
            let base = (Duration::from_millis(500) * 2u32.pow((n - 1).min(6)))
                .min(Duration::from_secs(16));
            assert!(b >= base / 2 && b <= base, "attempt {n}: {b:?}");
        }
        let spread: std::collections::BTreeSet<Duration> = (0..20).map(|_| c.backoff(1)).collect();
        assert!(
            spread.len() > 10,
            "concurrent retries must not all wait alike"
        );
    }

    fn budget_headers(limit: u64, remaining: u64, reset_in: u64) -> HeaderMap {
        headers(&[
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset", (unix_now() + reset_in).to_string()),
        ])
    }

    fn go(p: &mut Pacer, now: Instant) -> bool {
        matches!(p.turn(now, &Notes::silent()), Turn::Go(_))
    }

    #[test]
    fn plenty_of_budget_sends_at_once() {
        let mut p = Pacer::default();
        let now = Instant::now();
        assert!(go(&mut p, now), "no budget known yet");
        p.observe(&budget_headers(180, 179, 30), now, 0);
        p.done += 1;
        for _ in 0..80 {
            assert!(go(&mut p, now));
        }
    }

    #[test]
    fn a_low_budget_is_spread_until_the_reset() {
        let mut p = Pacer::default();
        let now = Instant::now();
        assert!(go(&mut p, now));
        // 10 left of 180, reset in ~20 s: one request every ~2 s.
        p.observe(&budget_headers(180, 10, 20), now, 0);
        p.done += 1;
        assert!(go(&mut p, now));
        let Turn::Wait(next, _) = p.turn(now, &Notes::silent()) else {
            panic!("must wait for the next slot")
        };
        let gap = next - now;
        assert!(
            gap > Duration::from_millis(1500) && gap <= Duration::from_millis(2100),
            "{gap:?}"
        );
        assert!(go(&mut p, next));
    }

    #[test]
    fn in_flight_requests_count_against_the_budget() {
        let mut p = Pacer::default();
        let now = Instant::now();
        for _ in 0..5 {
            assert!(go(&mut p, now));
        }
        // The first answer says 4 are left; the 4 others may not have been
        // counted: nothing is left for sure.
        p.observe(&budget_headers(10, 4, 5), now, 0);
        p.done += 1;
        let Turn::Wait(until, _) = p.turn(now, &Notes::silent()) else {
            panic!("the budget is spent")
        };
        assert!(until > now + Duration::from_secs(3));
        // A later answer of the same window cannot make it worse…
        p.observe(&budget_headers(10, 0, 5), now, 0);
        p.done += 1;
        assert!(matches!(p.turn(now, &Notes::silent()), Turn::Wait(..)));
        // …and after the reset, requests go again.
        assert!(go(&mut p, until));
    }

    #[test]
    fn answers_out_of_order_do_not_overstate_the_budget() {
        let mut p = Pacer::default();
        let now = Instant::now();
        // A and B are sent together; the server counts A (5 left) then B (4
        // left), but B's answer is read first.
        assert!(matches!(p.turn(now, &Notes::silent()), Turn::Go(0)));
        assert!(matches!(p.turn(now, &Notes::silent()), Turn::Go(0)));
        p.observe(&budget_headers(10, 4, 5), now, 0);
        p.done += 1;
        p.observe(&budget_headers(10, 5, 5), now, 0);
        p.done += 1;
        let b = p.budget.clone().unwrap();
        assert!(p.left(&b) <= 4, "{}", p.left(&b));
    }

    #[test]
    fn credentials_go_in_a_sensitive_header_only() {
        assert!(Auth::None.header().unwrap().is_none());
        assert!(matches!(Auth::bearer(None), Auth::None));
        let token = Secret::new("tok");
        let bearer = Auth::bearer(Some(&token)).header().unwrap().unwrap();
        assert_eq!(bearer.to_str().unwrap(), "Bearer tok");
        assert!(bearer.is_sensitive());
        let password = Secret::new("open sesame");
        let basic = Auth::Basic {
            username: "Aladdin",
            password: &password,
        };
        let value = basic.header().unwrap().unwrap();
        assert_eq!(
            value.to_str().unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(value.is_sensitive());
        assert_eq!(format!("{value:?}"), "Sensitive");
        let bad = Secret::new("line\nbreak");
        let e = Auth::Bearer(&bad).header().unwrap_err().to_string();
        assert!(!e.contains("break"), "{e}");
    }

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

    #[test]
    fn a_pause_holds_everyone() {
        let mut p = Pacer::default();
        let now = Instant::now();
        assert!(p.pause(now + Duration::from_secs(2)));
        assert!(!p.pause(now + Duration::from_secs(1)), "not shortened");
        assert!(
            matches!(p.turn(now, &Notes::silent()), Turn::Wait(t, _) if t == now + Duration::from_secs(2))
        );
        assert!(go(&mut p, now + Duration::from_secs(2)));
    }
}
