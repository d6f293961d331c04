//! What is worth another attempt, and how long to wait before it: 5xx and
//! transport failures with exponential backoff and jitter; 429 as long as
//! the server asks (`Retry-After`, `X-Retry-After`) or until its window
//! resets.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::pacing::{header_u64, unix_now_f64, Announced};

/// Exponential backoff with jitter, shared by every request of a client.
#[derive(Debug)]
pub(super) struct Backoff {
    base: Duration,
    max: Duration,
    /// State of the jitter generator (splitmix64), seeded at random.
    jitter: AtomicU64,
}

impl Backoff {
    /// `base` before the first retry, doubled for each further one, at
    /// most `max` (before jitter).
    pub(super) fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            jitter: AtomicU64::new(RandomState::new().hash_one(0x7461_6773_7765_6570_u64)),
        }
    }

    /// The wait after `failures` failures: base × 2^(n-1), at most `max`,
    /// times a random factor in [0.5, 1) so that concurrent retries spread out.
    pub(super) fn wait(&self, failures: u32) -> Duration {
        let base = self
            .base
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
            .min(self.max);
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

pub(super) fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// How long to wait after the `n`-th 429 of a request, and why: what the
/// server asks (`Retry-After`, `X-Retry-After`), else its window's reset when
/// no request is left, else 1, 2, 4 … 60 s. Never less than a second.
pub(super) fn rate_limit_wait(headers: &HeaderMap, n: u32) -> (Duration, &'static str) {
    let (wait, why) = if let Some(wait) = announced_wait(headers) {
        (wait, "as the server asks")
    } else if let Some(announced) = Announced::read(headers).filter(|a| a.remaining == 0) {
        (announced.until_reset(), "until the limit resets")
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

/// reqwest's errors say little on their own; walk the chain for the cause.
pub(super) fn describe_transport_error(e: &reqwest::Error) -> String {
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
    use super::super::pacing::tests::{headers, unix_now};
    use super::super::{HttpClient, HttpOptions};
    use super::*;

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
}
