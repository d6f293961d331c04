//! Turning a report into text: pure functions from data to a `String`, one
//! file per format, snapshot-tested.

pub mod json;
pub mod markdown;
pub mod plan;
pub mod table;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::policy::BuildReport;
use crate::registry::Stats;

/// What a run cost, printed with the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub requests: Stats,
    pub elapsed_ms: u64,
}

/// How many names a table cell lists before it says "+N more".
pub const MAX_NAMES: usize = 4;

/// `a, b, c, d, +3 more`.
pub fn shorten(names: &[String], max: usize) -> String {
    if names.len() <= max {
        return names.join(", ");
    }
    format!("{}, +{} more", names[..max].join(", "), names.len() - max)
}

/// The missing images and platforms of a build, in a few words.
pub fn missing_summary(build: &BuildReport) -> Vec<String> {
    let mut lines = Vec::new();
    if !build.missing.is_empty() {
        lines.push(shorten(&build.missing, MAX_NAMES));
    }
    if !build.missing_platforms.is_empty() {
        let entries: Vec<String> = build
            .missing_platforms
            .iter()
            .map(|(image, platforms)| {
                let p: Vec<String> = platforms.iter().map(ToString::to_string).collect();
                format!("{image} ({})", p.join(", "))
            })
            .collect();
        lines.push(format!("platforms: {}", shorten(&entries, MAX_NAMES)));
    }
    lines
}

/// `2026-11-20 10:00 UTC`, or `unknown`.
pub fn short_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "unknown".to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// `2026-11-20T10:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// "3 builds: 1 complete, 1 broken, 1 in progress".
pub fn summary_line(summary: &crate::policy::Summary) -> String {
    format!(
        "{} build{}: {} complete, {} broken, {} in progress",
        summary.builds,
        if summary.builds == 1 { "" } else { "s" },
        summary.complete,
        summary.broken,
        summary.in_progress
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_shortened() {
        let names: Vec<String> = (1..=7).map(|i| format!("img-{i}")).collect();
        assert_eq!(shorten(&names[..2], 4), "img-1, img-2");
        assert_eq!(shorten(&names, 4), "img-1, img-2, img-3, img-4, +3 more");
    }
}
