//! When to renew an access token, for every backend that holds one (Docker
//! Hub's JWT from `/v2/auth/token`, an OCI registry's bearer tokens).
//!
//! A token is renewed before it expires, not after a refusal: a request
//! sent with a token about to expire may arrive after it has. The margin is
//! a fixed span (the backend's), or a tenth of the lifetime for a token that
//! lives less than ten such spans, so a short-lived token is still used for
//! most of its life.

use std::time::{Duration, Instant};

/// When to renew a token obtained at `obtained` (or, better, just before
/// asking for it) that lives `lifetime`: `margin`, or a tenth of
/// `lifetime` when that is less, before it expires.
pub fn renew_at(obtained: Instant, lifetime: Duration, margin: Duration) -> Instant {
    obtained + lifetime.saturating_sub(margin.min(lifetime / 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewed_a_margin_early_or_a_tenth_of_a_short_life() {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(
            renew_at(now, Duration::from_secs(600), minute) - now,
            Duration::from_secs(540)
        );
        assert_eq!(
            renew_at(now, Duration::from_secs(60), Duration::from_secs(30)) - now,
            Duration::from_secs(54)
        );
        assert_eq!(renew_at(now, Duration::ZERO, minute), now);
    }
}
