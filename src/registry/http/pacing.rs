//! Pacing requests to the rate-limit budget the server announces
//! (`X-RateLimit-Limit/Remaining/Reset`), counting requests still in flight,
//! and holding every request during a 429's pause (see the module
//! documentation of [`super`]).
//!
//! What a server announces is read conservatively, because how it counts
//! is not said:
//!
//! * **The reset** is a unix time (Docker Hub, notes §6) or, when smaller
//!   than [`SECONDS_BELOW`], the seconds left (as the IETF draft's
//!   `RateLimit-Reset` has it, and some servers send under the `X-` name).
//!   Written to the second, it may be rounded either way: a server that
//!   rounds down announces its window over up to a second early.
//! * **When a window ends**, nothing is known of the next one until the
//!   server answers from it. So the first request after the announced reset
//!   goes alone (a *probe*) and the others wait for its answer, instead of
//!   all going at once into a window that may not have begun (each of them
//!   a 429). The same after a 429's pause.
//! * **Until a window's end has been seen where it was announced**, one
//!   request of each window is kept in reserve: a probe that comes too early
//!   (the reset was rounded down, or the server's clock is behind) is then
//!   answered from the old window instead of refused, and the pacing learns
//!   to wait a second longer after every reset ([`Pacer::slack`]).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use crate::notes::{Level, Notes};

/// The longest we believe a rate-limit window lasts: a reset announced further
/// away than this (a skewed clock) is not waited for in full.
pub(super) const MAX_RESET_WAIT: Duration = Duration::from_secs(120);

/// A reset below this (2001-09-09 as a unix time) is a number of seconds
/// left, not a unix time.
pub(super) const SECONDS_BELOW: u64 = 1_000_000_000;

/// The most we add to an announced reset after the server kept counting a
/// window past it.
const MAX_SLACK: Duration = Duration::from_secs(3);

/// How long a request waits for the probe's answer before it looks again
/// (it is woken as soon as any answer comes).
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// What one answer's headers announce of the server's budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Announced {
    pub(super) limit: Option<u64>,
    pub(super) remaining: u64,
    /// When the window resets, as a unix time (for a server that sends the
    /// seconds left: now plus those seconds).
    pub(super) reset_unix: f64,
}

impl Announced {
    /// Reads `X-RateLimit-Remaining` and `X-RateLimit-Reset` (else the IETF
    /// draft's `RateLimit-Remaining` and `RateLimit-Reset`), and the limit if
    /// given; `None` without both.
    pub(super) fn read(headers: &HeaderMap) -> Option<Announced> {
        let either = |name: &str| {
            header_u64(headers, &format!("x-{name}")).or_else(|| header_u64(headers, name))
        };
        let remaining = either("ratelimit-remaining")?;
        let reset = either("ratelimit-reset")?;
        let reset_unix = if reset < SECONDS_BELOW {
            unix_now_f64() + reset as f64
        } else {
            reset as f64
        };
        Some(Announced {
            limit: either("ratelimit-limit"),
            remaining,
            reset_unix,
        })
    }

    /// How long until the announced reset, from now (zero when past),
    /// at most [`MAX_RESET_WAIT`].
    pub(super) fn until_reset(&self) -> Duration {
        Duration::from_secs_f64((self.reset_unix - unix_now_f64()).clamp(0.0, 1e9))
            .min(MAX_RESET_WAIT)
    }
}

/// Whether two announced resets name the same window: the same second, or,
/// for a server that sends the seconds left, within a second of each other.
fn same_window(a: f64, b: f64) -> bool {
    (a - b).abs() < 1.0
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
    /// When the window resets, on our clock (the announced reset plus
    /// [`Pacer::slack`]), and as the server announced it.
    reset: Instant,
    reset_unix: f64,
}

/// Rate-limit pacing shared by every request of the client.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    /// No request starts before this (after a 429).
    paused_until: Option<Instant>,
    budget: Option<Budget>,
    /// Requests sent so far (each request's number is the count after it).
    sent: u64,
    /// Requests answered (or abandoned) so far.
    done: u64,
    /// While spreading the budget: the earliest start of the next request.
    next_slot: Option<Instant>,
    /// The server has announced a budget: its answers carry the headers.
    announces: bool,
    /// The next request goes alone (a window ended, or a 429's pause did).
    probe_next: bool,
    /// The number of the request sent alone, while it is in flight.
    probe: Option<u64>,
    /// The window that last ended (its announced reset), to tell whether the
    /// probe's answer comes from the next one.
    ended: Option<f64>,
    /// Added to every announced reset: zero until the server answered a
    /// probe from a window it had announced over, then a second more each
    /// time (at most [`MAX_SLACK`]).
    slack: Duration,
    /// A probe was answered from a new window: the announced resets hold,
    /// no request is kept in reserve any more.
    reset_proven: bool,
    /// The windows we last told the user about (one message of each kind
    /// per window): pacing starts (`-v`), waiting for the reset.
    announced_pacing: Option<u64>,
    announced_wait: Option<u64>,
}

/// Whether a request may start now.
pub(super) enum Turn {
    /// Go: the request's number, and how many requests were answered by then.
    Go { number: u64, done_before: u64 },
    /// Not before this instant (or an answer, which may change the turn);
    /// with a note to show (already judged to be shown), if any.
    Wait(Instant, Option<(Level, String)>),
}

impl Pacer {
    fn left(&self, b: &Budget) -> i64 {
        b.left - (self.sent - b.sent_at) as i64
    }

    /// Decides whether one more request may start at `now`, and if so counts
    /// it (see [`Turn`]).
    pub(super) fn turn(&mut self, now: Instant, notes: &Notes) -> Turn {
        if let Some(until) = self.paused_until {
            if until > now {
                return Turn::Wait(until, None);
            }
            self.paused_until = None;
        }
        if self.probe.is_some() {
            // The probe's answer tells the budget; wait for it.
            return Turn::Wait(now + PROBE_WAIT, None);
        }
        if let Some(b) = self.budget.clone() {
            if now >= b.reset {
                // The window is over: the next window's budget is learnt
                // from one request's answer before the others go.
                self.budget = None;
                self.next_slot = None;
                self.ended = Some(b.reset_unix);
                self.probe_next = true;
            } else {
                let reserve = i64::from(!self.reset_proven);
                let left = self.left(&b) - reserve;
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
                    let window = b.reset_unix as u64;
                    if notes.shows(Level::Info) && self.announced_pacing != Some(window) {
                        self.announced_pacing = Some(window);
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
        if std::mem::take(&mut self.probe_next) && self.announces {
            self.probe = Some(self.sent);
        }
        Turn::Go {
            number: self.sent,
            done_before: self.done,
        }
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
        let window = b.reset_unix as u64;
        if notes.shows(level) && self.announced_wait != Some(window) {
            self.announced_wait = Some(window);
            Some((level, text()))
        } else {
            None
        }
    }

    /// Takes in the rate-limit headers of the answer to request `number`,
    /// sent when `done_before` requests had been answered.
    pub(super) fn observe(
        &mut self,
        headers: &HeaderMap,
        now: Instant,
        number: u64,
        done_before: u64,
    ) {
        let Some(a) = Announced::read(headers) else {
            return;
        };
        self.announces = true;
        // Every other request not answered before ours was sent may or may
        // not have been counted: assume not, so `left` is a lower bound.
        let uncertain = self.sent.saturating_sub(1).saturating_sub(done_before);
        let left = i64::try_from(a.remaining)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(uncertain).unwrap_or(i64::MAX));
        let fresh = |reset: Instant| Budget {
            limit: a.limit,
            left,
            sent_at: self.sent,
            reset,
            reset_unix: a.reset_unix,
        };
        if self.probe == Some(number) {
            self.probe = None;
            if self
                .ended
                .is_some_and(|ended| same_window(ended, a.reset_unix))
            {
                // Sent after the window was announced over, answered from it:
                // the server's resets come later than it says. Wait longer
                // after each from now on.
                self.slack = (self.slack + Duration::from_secs(1)).min(MAX_SLACK);
                self.budget = Some(fresh(now + a.until_reset() + self.slack));
                self.next_slot = None;
                return;
            }
            if self.ended.is_some() {
                self.reset_proven = true;
            }
        }
        if a.until_reset().is_zero() {
            return; // that window is over
        }
        let reset = now + a.until_reset() + self.slack;
        match &self.budget {
            // An answer from an older window, arriving late.
            Some(b) if b.reset_unix > a.reset_unix && !same_window(b.reset_unix, a.reset_unix) => {}
            // The same window: every estimate is a lower bound; keep the
            // largest, and the earliest reset (seconds-left resets differ
            // by the rounding of each answer).
            Some(b) if same_window(b.reset_unix, a.reset_unix) => {
                let reset = reset.min(b.reset);
                if left > self.left(b) {
                    self.budget = Some(Budget {
                        reset_unix: b.reset_unix,
                        ..fresh(reset)
                    });
                } else if let Some(b) = self.budget.as_mut() {
                    b.reset = reset;
                }
            }
            _ => {
                self.budget = Some(fresh(reset));
                self.next_slot = None;
            }
        }
    }

    /// Request `number` answered (or abandoned). A probe answered without
    /// the headers leaves the pacing where it was: the next request does not
    /// wait for another.
    pub(super) fn answered(&mut self, number: u64) {
        self.done += 1;
        if self.probe == Some(number) {
            self.probe = None;
        }
    }

    /// Holds every request until `until` (the first after it goes alone);
    /// true when that extends the pause.
    pub(super) fn pause(&mut self, until: Instant) -> bool {
        self.probe_next = true;
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
        budget_at(limit, remaining, unix_now() + reset_in)
    }

    fn budget_at(limit: u64, remaining: u64, reset_unix: u64) -> HeaderMap {
        headers(&[
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset", reset_unix.to_string()),
        ])
    }

    /// The request's number when it may go at `now`.
    fn go(p: &mut Pacer, now: Instant) -> Option<u64> {
        match p.turn(now, &Notes::silent()) {
            Turn::Go { number, .. } => Some(number),
            Turn::Wait(..) => None,
        }
    }

    /// Request `number` answered with `h`, as the client does: observed, then done.
    fn answer(p: &mut Pacer, number: u64, h: &HeaderMap, now: Instant) {
        p.observe(h, now, number, p.done);
        p.answered(number);
    }

    #[test]
    fn plenty_of_budget_sends_at_once() {
        let mut p = Pacer::default();
        let now = Instant::now();
        let first = go(&mut p, now).expect("no budget known yet");
        answer(&mut p, first, &budget_headers(180, 179, 30), now);
        for _ in 0..80 {
            assert!(go(&mut p, now).is_some());
        }
    }

    #[test]
    fn a_low_budget_is_spread_until_the_reset() {
        let mut p = Pacer::default();
        let now = Instant::now();
        let first = go(&mut p, now).unwrap();
        // 10 left of 180, reset in ~20 s, one kept in reserve: one request
        // every ~2.2 s.
        answer(&mut p, first, &budget_headers(180, 10, 20), now);
        assert!(go(&mut p, now).is_some());
        let Turn::Wait(next, _) = p.turn(now, &Notes::silent()) else {
            panic!("must wait for the next slot")
        };
        let gap = next - now;
        assert!(
            gap > Duration::from_millis(1500) && gap <= Duration::from_millis(2300),
            "{gap:?}"
        );
        assert!(go(&mut p, next).is_some());
    }

    #[test]
    fn in_flight_requests_count_against_the_budget() {
        let mut p = Pacer::default();
        let now = Instant::now();
        for _ in 0..5 {
            assert!(go(&mut p, now).is_some());
        }
        // The first answer says 4 are left; the 4 others may not have been
        // counted: nothing is left for sure.
        p.observe(&budget_headers(10, 4, 5), now, 1, 0);
        p.answered(1);
        let Turn::Wait(until, _) = p.turn(now, &Notes::silent()) else {
            panic!("the budget is spent")
        };
        assert!(until > now + Duration::from_secs(3));
        // A later answer of the same window cannot make it worse…
        p.observe(&budget_headers(10, 0, 5), now, 2, 0);
        p.answered(2);
        assert!(matches!(p.turn(now, &Notes::silent()), Turn::Wait(..)));
        // …and after the reset, one request goes to learn the new budget.
        assert!(go(&mut p, until).is_some());
    }

    #[test]
    fn answers_out_of_order_do_not_overstate_the_budget() {
        let mut p = Pacer::default();
        let now = Instant::now();
        // A and B are sent together; the server counts A (5 left) then B (4
        // left), but B's answer is read first.
        assert!(matches!(
            p.turn(now, &Notes::silent()),
            Turn::Go { done_before: 0, .. }
        ));
        assert!(matches!(
            p.turn(now, &Notes::silent()),
            Turn::Go { done_before: 0, .. }
        ));
        answer(&mut p, 2, &budget_headers(10, 4, 5), now);
        p.observe(&budget_headers(10, 5, 5), now, 1, 0);
        p.answered(1);
        let b = p.budget.clone().unwrap();
        assert!(p.left(&b) <= 4, "{}", p.left(&b));
    }

    #[test]
    fn after_a_window_ends_one_request_goes_alone_until_its_answer() {
        let mut p = Pacer::default();
        let now = Instant::now();
        let reset = unix_now() + 2;
        let first = go(&mut p, now).unwrap();
        answer(&mut p, first, &budget_at(10, 0, reset), now);
        let Turn::Wait(until, _) = p.turn(now, &Notes::silent()) else {
            panic!("nothing left")
        };
        // Past the reset: one goes, the rest wait for its answer…
        let probe = go(&mut p, until).expect("the probe");
        for _ in 0..5 {
            assert!(go(&mut p, until).is_none(), "only the probe goes");
        }
        // …which comes from a new window: everyone goes again.
        answer(&mut p, probe, &budget_at(10, 9, reset + 60), until);
        assert!(p.reset_proven);
        for _ in 0..4 {
            assert!(go(&mut p, until).is_some());
        }
    }

    #[test]
    fn a_reset_announced_too_early_is_learnt_from_the_reserve_not_a_429() {
        let mut p = Pacer::default();
        let now = Instant::now();
        let reset = unix_now() + 2;
        // The server says 1 is left: kept in reserve, nothing goes.
        let first = go(&mut p, now).unwrap();
        answer(&mut p, first, &budget_at(10, 1, reset), now);
        let Turn::Wait(until, _) = p.turn(now, &Notes::silent()) else {
            panic!("the last request is the reserve")
        };
        // At the announced reset the probe goes, and the server answers it
        // from the old window (it rounded its reset down): the reserve
        // paid for it. Nothing else goes for the second it now adds.
        let probe = go(&mut p, until).unwrap();
        let later = until + Duration::from_millis(50);
        answer(&mut p, probe, &budget_at(10, 0, reset), later);
        assert_eq!(p.slack, Duration::from_secs(1));
        let Turn::Wait(next, _) = p.turn(later, &Notes::silent()) else {
            panic!("must wait for the real reset")
        };
        assert!(
            next >= later + Duration::from_millis(900),
            "{:?}",
            next - later
        );
        // Then a probe again, answered from the new window.
        let probe = go(&mut p, next).unwrap();
        assert!(go(&mut p, next).is_none());
        answer(&mut p, probe, &budget_at(10, 9, reset + 60), next);
        assert!(p.reset_proven);
        assert!(go(&mut p, next).is_some());
    }

    #[test]
    fn a_reset_in_seconds_left_and_the_ietf_names_are_read() {
        let a = Announced::read(&headers(&[
            ("x-ratelimit-remaining", "7".into()),
            ("x-ratelimit-reset", "20".into()),
        ]))
        .unwrap();
        let left = a.until_reset();
        assert!(
            left > Duration::from_secs(19) && left <= Duration::from_secs(20),
            "{left:?}"
        );
        assert_eq!((a.remaining, a.limit), (7, None));
        let a = Announced::read(&headers(&[
            ("ratelimit-limit", "180".into()),
            ("ratelimit-remaining", "3".into()),
            ("ratelimit-reset", (unix_now() + 30).to_string()),
        ]))
        .unwrap();
        assert_eq!((a.remaining, a.limit), (3, Some(180)));
        assert!(a.until_reset() > Duration::from_secs(28));
        assert!(Announced::read(&headers(&[("x-ratelimit-remaining", "3".into())])).is_none());
        // Two answers of one seconds-left window name the same window.
        assert!(same_window(1000.2, 1000.9) && !same_window(1000.0, 1060.0));
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
        assert!(go(&mut p, now + Duration::from_secs(2)).is_some());
    }

    #[test]
    fn a_probe_answered_without_headers_does_not_hold_the_others() {
        let mut p = Pacer::default();
        let now = Instant::now();
        let first = go(&mut p, now).unwrap();
        answer(&mut p, first, &budget_headers(10, 9, 30), now);
        p.pause(now + Duration::from_secs(1));
        let later = now + Duration::from_secs(1);
        let probe = go(&mut p, later).unwrap();
        assert!(go(&mut p, later).is_none());
        answer(&mut p, probe, &HeaderMap::new(), later);
        assert!(go(&mut p, later).is_some());
    }
}
