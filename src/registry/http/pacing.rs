//! Pacing requests to the rate-limit budget the server announces
//! (`X-RateLimit-Limit/Remaining/Reset`), counting requests still in flight,
//! and holding every request during a 429's pause (see the module
//! documentation of [`super`]).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use crate::notes::{Level, Notes};

/// The longest we believe a rate-limit window lasts: a reset announced further
/// away than this (a skewed clock) is not waited for in full.
pub(super) const MAX_RESET_WAIT: Duration = Duration::from_secs(120);

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
pub(super) struct Pacer {
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
pub(super) enum Turn {
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
    pub(super) fn turn(&mut self, now: Instant, notes: &Notes) -> Turn {
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
    pub(super) fn observe(&mut self, headers: &HeaderMap, now: Instant, done_before: u64) {
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

    /// One more request answered (or abandoned).
    pub(super) fn answered(&mut self) {
        self.done += 1;
    }

    /// Holds every request until `until`; true when that extends the pause.
    pub(super) fn pause(&mut self, until: Instant) -> bool {
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

/// A non-negative number header; a fraction (`1613958012.5`) is cut to its
/// integer part.
pub(super) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    text.parse().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

pub(super) fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::registry::http) fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    pub(in crate::registry::http) fn unix_now() -> u64 {
        unix_now_f64() as u64
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
