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
//! with nothing left, every request waits for the reset. Then one request
//! goes alone and the others wait for its answer, which tells the new
//! window's budget: a reset written to the second may be a second early (a
//! server that rounds down), and until a window is seen to end where it was
//! announced, one request per window is kept back to pay for a probe that
//! comes too early (see `pacing.rs`). The reset may be a unix time or, below
//! 10⁹, the seconds left. A 429 still happens
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
//! Nothing is printed here: waits, retries and (at [`Level::Info`](crate::notes::Level::Info), shown
//! with `-v`) every request are said through [`HttpOptions::notes`]; a wait
//! is said without `-v` when it is long ([`Notes::wait`](crate::notes::Notes::wait)).
//!
//! Files: `client.rs` sends (bounds, turns, retries, counts); `pacing.rs`
//! keeps the rate-limit budget; `retry.rs` says what is retried and how long
//! to wait; `request.rs` and `answer.rs` are what goes out and what comes back.

mod answer;
mod client;
mod pacing;
mod request;
mod retry;

pub use self::answer::Answer;
pub use self::client::{HttpClient, HttpOptions};
pub use self::request::{Auth, Body, Request};
