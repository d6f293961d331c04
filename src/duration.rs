//! Short human durations such as `30s`, `90m`, `2h`, `1d`, `1w` and `1h30m`.
//!
//! The manifest's `builds.grace` (how long a build may stay incomplete before it
//! counts as broken) and command-line flags are written in this form, and reports
//! print ages back in the same form, so both directions live here. The syntax is
//! deliberately small: whole numbers, lowercase units `w`, `d`, `h`, `m`, `s`
//! from largest to smallest, each at most once. Anything else is refused with a
//! message that says how to write it, because a mistyped grace period decides
//! which builds get deleted.

use std::time::Duration;

/// The longest duration accepted: 5200 weeks (about 100 years). Longer values
/// are certainly typos, and refusing them keeps every later conversion (for
/// example to `chrono::TimeDelta`, or `now - grace`) far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(5200 * WEEK);

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

/// Units from largest to smallest: (suffix, seconds).
const UNITS: [(char, u64); 5] = [
    ('w', WEEK),
    ('d', DAY),
    ('h', HOUR),
    ('m', MINUTE),
    ('s', 1),
];

const HOW: &str = "write a whole number followed by a unit s, m, h, d or w, e.g. 90m, 2h or 1h30m";

/// Parses a duration such as `30s`, `90m`, `2h`, `1d`, `1w`, `1h30m` or `0`.
///
/// Surrounding whitespace is ignored. The error is one line saying what is
/// wrong and how to write it (it does not repeat the input, so callers can
/// prefix it with their own context, e.g. `invalid duration '2x' in ...: `).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("the duration is empty; {HOW}"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if let Some(rest) = s.strip_prefix('-') {
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("a duration cannot be negative".to_string());
        }
    }
    let mut total: u64 = 0;
    // Index into UNITS of the last unit seen; the next one must be smaller.
    let mut last_unit: Option<usize> = None;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            let c = rest.chars().next().unwrap_or(' ');
            return Err(if c.is_whitespace() {
                format!("unexpected space in the duration; {HOW}")
            } else if c.is_alphabetic() {
                format!("expected a number before '{}'; {HOW}", quote(rest))
            } else {
                format!("unexpected character '{}'; {HOW}", c.escape_debug())
            });
        }
        let (number, after) = rest.split_at(digits);
        if after.starts_with(['.', ',']) {
            return Err(format!(
                "fractions are not supported; {HOW} (1h30m rather than 1.5h)"
            ));
        }
        let unit_len = after.len() - after.trim_start_matches(|c: char| c.is_alphabetic()).len();
        if unit_len == 0 {
            return match after.chars().next() {
                None => Err(format!("missing unit after '{number}'; {HOW}")),
                Some(c) if c.is_whitespace() => {
                    Err(format!("unexpected space in the duration; {HOW}"))
                }
                Some(c) => Err(format!(
                    "unexpected character '{}'; {HOW}",
                    c.escape_debug()
                )),
            };
        }
        let (unit, after) = after.split_at(unit_len);
        let Some(index) = unit_index(unit) else {
            return Err(match unit_hint(unit) {
                Some(good) => format!(
                    "unknown unit '{}'; write '{good}' (e.g. 1{good})",
                    quote(unit)
                ),
                None => format!("unknown unit '{}'; {HOW}", quote(unit)),
            });
        };
        if let Some(last) = last_unit {
            if index <= last {
                return Err(format!(
                    "units must go from largest to smallest, each at most once; {HOW}"
                ));
            }
        }
        last_unit = Some(index);
        let too_long = || {
            format!(
                "the duration is too long; the maximum is {}",
                format_duration(MAX_DURATION)
            )
        };
        let value: u64 = number.parse().map_err(|_| too_long())?;
        total = value
            .checked_mul(UNITS[index].1)
            .and_then(|part| total.checked_add(part))
            .filter(|&t| t <= MAX_DURATION.as_secs())
            .ok_or_else(too_long)?;
        rest = after;
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way [`parse_duration`] reads it: `2h`, `1h30m`,
/// `2w`, `30d`, `0s`. Weeks are used only for whole weeks (`30d`, as a
/// manifest says it, rather than `4w2d`). Sub-second parts are dropped (a
/// duration under one second prints as `0s`), so
/// `parse_duration(&format_duration(d))` gives `d` back for whole seconds.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let whole_weeks = (secs / DAY).is_multiple_of(7);
    let mut out = String::new();
    for (suffix, size) in UNITS {
        if suffix == 'w' && !whole_weeks {
            continue;
        }
        let count = secs / size;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push(suffix);
            secs %= size;
        }
    }
    out
}

fn unit_index(unit: &str) -> Option<usize> {
    let mut chars = unit.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    UNITS.iter().position(|(suffix, _)| *suffix == c)
}

/// The unit people probably meant by a longer or capitalised spelling.
fn unit_hint(unit: &str) -> Option<char> {
    let hint = match unit.to_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 's',
        "min" | "mins" | "minute" | "minutes" => 'm',
        "h" | "hr" | "hrs" | "hour" | "hours" => 'h',
        "d" | "day" | "days" => 'd',
        "w" | "wk" | "wks" | "week" | "weeks" => 'w',
        // `M` could mean months as well as minutes: no guess.
        _ => return None,
    };
    Some(hint)
}

/// User text inside a message (see [`crate::text::quote`]).
fn quote(s: &str) -> String {
    crate::text::quote(s, 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("90m"), Ok(secs(90 * 60)));
        assert_eq!(parse_duration("2h"), Ok(secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(secs(86_400)));
        assert_eq!(parse_duration("1w"), Ok(secs(604_800)));
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(
            parse_duration("1w2d3h4m5s"),
            Ok(secs(604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5))
        );
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 2h "), Ok(secs(7200)));
        assert_eq!(parse_duration("5200w"), Ok(MAX_DURATION));
    }

    #[test]
    fn refuses_with_a_message_saying_how_to_write_it() {
        let err = |s: &str| parse_duration(s).unwrap_err();
        assert_eq!(
            err(""),
            "the duration is empty; write a whole number followed by a unit s, m, h, d or w, e.g. 90m, 2h or 1h30m"
        );
        assert!(
            err("2").starts_with("missing unit after '2'; write a whole number"),
            "{}",
            err("2")
        );
        assert!(err("2x").starts_with("unknown unit 'x'; write a whole number"));
        assert_eq!(err("2hours"), "unknown unit 'hours'; write 'h' (e.g. 1h)");
        assert_eq!(err("2H"), "unknown unit 'H'; write 'h' (e.g. 1h)");
        assert_eq!(err("10min"), "unknown unit 'min'; write 'm' (e.g. 1m)");
        assert!(err("1.5h").starts_with("fractions are not supported;"));
        assert!(err("1.5h").ends_with("(1h30m rather than 1.5h)"));
        assert_eq!(err("-1h"), "a duration cannot be negative");
        assert!(
            err("30m1h").starts_with("units must go from largest to smallest, each at most once;")
        );
        assert!(err("1h1h").starts_with("units must go from largest to smallest"));
        assert!(err("2 h").starts_with("unexpected space in the duration;"));
        assert!(err("h").starts_with("expected a number before 'h';"));
        assert!(err("2h!").starts_with("unexpected character '!';"));
        assert!(err("2M").starts_with("unknown unit 'M'; write a whole number"));
        assert!(err("2ms").starts_with("unknown unit 'ms'; write a whole number"));
        assert_eq!(
            err("5201w"),
            "the duration is too long; the maximum is 5200w"
        );
        assert_eq!(
            err("99999999999999999999999s"),
            "the duration is too long; the maximum is 5200w"
        );
        assert_eq!(
            err("18446744073709551615w"),
            "the duration is too long; the maximum is 5200w"
        );
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(999)), "0s");
        assert_eq!(format_duration(secs(30)), "30s");
        assert_eq!(format_duration(secs(7200)), "2h");
        assert_eq!(format_duration(secs(5400)), "1h30m");
        assert_eq!(format_duration(secs(86_400 + 3600)), "1d1h");
        assert_eq!(format_duration(secs(14 * 86_400)), "2w");
        assert_eq!(format_duration(secs(14 * 86_400 + 60)), "2w1m");
        assert_eq!(format_duration(secs(30 * 86_400)), "30d");
        assert_eq!(format_duration(secs(9 * 86_400 + 3600)), "9d1h");
        assert_eq!(format_duration(Duration::from_millis(90_500)), "1m30s");
        assert_eq!(format_duration(Duration::MAX), "30500568904943w7h15s");
    }

    #[test]
    fn format_and_parse_round_trip() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = secs(x % MAX_DURATION.as_secs());
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
