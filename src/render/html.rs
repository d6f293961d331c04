//! The completeness matrix: one self-contained HTML page (no script, no
//! network, no external font or style), for a CI artifact or a browser.
//!
//! Builds are columns (newest first), images rows (manifest order); each cell
//! says whether the image is in the build, by a symbol and a colour, so it
//! reads without colour and prints in black and white. The headers stay in
//! view while the matrix scrolls in its own box (250 images × 60 builds), and
//! print on landscape pages.
//!
//! Every cell carries its state as `data-state` (`present`, `missing`,
//! `platform-short`, `unverified`, `not-expected`), short and unverified cells
//! their platforms as `data-platforms`, each row its image as `data-image`
//! and each column header its build as `data-build` and `data-status`: what
//! a test (or a scraper) compares with the JSON report.
//!
//! Every string that comes from the manifest or the registry (names, tags,
//! platforms) is escaped: a registry's answer is untrusted.

use std::fmt::Write as _;

use super::{
    explanations, failure_counts, push_time, retention_cell, retention_judged, rfc3339, short_time,
    summary_line, MOST_OFTEN,
};
use crate::platform::Platform;
use crate::policy::{BuildReport, Report, Status};

/// The state of one image in one build: what a cell shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellState {
    /// The image carries the build's tag, with every required platform.
    Present,
    /// The registry said the image does not carry the tag.
    Missing,
    /// The image carries the tag, known to lack a required platform.
    PlatformShort,
    /// The image carries the tag; the registry did not state its platforms.
    Unverified,
    /// The manifest does not expect the image in this build (`builds`,
    /// `from`, `until`).
    NotExpected,
}

impl CellState {
    /// Every state, in the legend's order.
    pub const ALL: [CellState; 5] = [
        CellState::Present,
        CellState::Missing,
        CellState::PlatformShort,
        CellState::Unverified,
        CellState::NotExpected,
    ];

    /// The value of `data-state`.
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Present => "present",
            CellState::Missing => "missing",
            CellState::PlatformShort => "platform-short",
            CellState::Unverified => "unverified",
            CellState::NotExpected => "not-expected",
        }
    }

    /// What the cell shows, so that it reads without colour.
    pub fn symbol(self) -> &'static str {
        match self {
            CellState::Present => "✓",
            CellState::Missing => "✗",
            CellState::PlatformShort => "◐",
            CellState::Unverified => "?",
            CellState::NotExpected => "·",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            CellState::Present => "present: the image carries the build's tag (with every required platform)",
            CellState::Missing => "missing: the registry says the image does not carry the build's tag",
            CellState::PlatformShort => "platform short: the image is there, without a required platform (hover to see which)",
            CellState::Unverified => "platforms unverified: the image is there, but the registry did not state its platforms, so they could not be checked; not counted as missing",
            CellState::NotExpected => "not expected: the manifest leaves the image out of this build (its builds, from or until)",
        }
    }
}

/// The state of `image` in `build`, and the platforms behind it (short or
/// unverified).
pub fn cell_state<'a>(build: &'a BuildReport, image: &str) -> (CellState, &'a [Platform]) {
    if build.not_expected.iter().any(|n| n == image) {
        (CellState::NotExpected, &[])
    } else if build.missing.iter().any(|n| n == image) {
        (CellState::Missing, &[])
    } else if let Some(platforms) = build.missing_platforms.get(image) {
        (CellState::PlatformShort, platforms)
    } else if let Some(platforms) = build.unverified_platforms.get(image) {
        (CellState::Unverified, platforms)
    } else {
        (CellState::Present, &[])
    }
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text with `code` spans, as the notes are written, escaped, with
/// the spans as `<code>`.
fn prose(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

/// The name prefix every row shares up to a `-` or `/` (`debian-source-`),
/// shown once rather than on each of 250 rows; empty when there is none or
/// fewer than two images.
fn common_prefix(names: &[&str]) -> usize {
    let [first, rest @ ..] = names else { return 0 };
    if rest.is_empty() {
        return 0;
    }
    let mut len = first.len();
    for name in rest {
        len = first
            .bytes()
            .zip(name.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    // Cut after the last separator, and never swallow a whole name.
    let shared = &first[..len];
    shared
        .rfind(['-', '/'])
        .map(|i| i + 1)
        .filter(|&cut| names.iter().all(|n| n.len() > cut))
        .unwrap_or(0)
}

fn status_symbol(status: Status) -> &'static str {
    match status {
        Status::Complete => "✓",
        Status::Broken => "✗",
        Status::InProgress => "◷",
    }
}

fn status_words(status: Status) -> &'static str {
    match status {
        Status::Complete => "complete",
        Status::Broken => "broken",
        Status::InProgress => "in progress",
    }
}

fn platform_list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

const STYLE: &str = r#"
:root { color-scheme: light; --line: #c8c8c8; --head: #f4f4f4; }
* { box-sizing: border-box; }
body { font: 14px/1.4 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a; background: #fff; margin: 1rem; }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .95em; }
.asof { margin: 0 0 .6rem; color: #444; }
.counts { display: flex; flex-wrap: wrap; gap: .4rem; list-style: none; padding: 0; margin: 0; }
.counts li { border: 1px solid var(--line); border-radius: 4px; padding: .15rem .6rem; }
.counts li[data-count=broken] { border-color: #b3261e; }
.alert { border-left: 4px solid #b3261e; background: #fdecea; padding: .4rem .7rem; margin: .6rem 0; }
.note { border-left: 4px solid #8a8a8a; background: #f6f6f6; padding: .4rem .7rem; margin: .5rem 0; }
.top { margin: 0; padding-left: 1.6rem; }
details.more { display: inline; }
details.more[open] { display: block; margin-top: .3rem; }
details.more summary { display: inline; cursor: pointer; text-decoration: underline dotted; }
.legend { list-style: none; padding: 0; margin: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(22rem, 1fr)); gap: .3rem .8rem; }
.legend .cell { display: inline-block; width: 1.6em; text-align: center; border: 1px solid var(--line); margin-right: .4rem; }
.scroll { overflow: auto; max-height: 85vh; width: fit-content; max-width: 100%; border: 1px solid var(--line); }
table.matrix { border-collapse: separate; border-spacing: 0; font-size: 12px; }
.matrix th, .matrix td { border-right: 1px solid var(--line); border-bottom: 1px solid var(--line); padding: 1px 2px; }
.matrix td { text-align: center; min-width: 1.6em; line-height: 1.3; }
.matrix thead th { position: sticky; top: 0; z-index: 2; background: var(--head); vertical-align: bottom; font-weight: normal; box-shadow: 0 2px 0 var(--line); }
.matrix thead th .tag { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; display: inline-block; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.matrix thead th .st { display: block; font-weight: bold; }
.matrix thead th[data-status=broken] { color: #b3261e; }
.matrix thead th[data-status=in_progress] { font-style: italic; color: #555; }
.matrix thead th[data-retention=expired] .tag { text-decoration: line-through; }
.matrix tbody th, .matrix tfoot th { position: sticky; left: 0; z-index: 1; background: #fff; text-align: left; font-weight: normal; white-space: nowrap; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; box-shadow: 2px 0 0 var(--line); }
.matrix thead th.corner { left: 0; z-index: 3; text-align: left; vertical-align: bottom; }
.matrix tfoot td, .matrix tfoot th { position: sticky; bottom: 0; background: var(--head); font-size: 11px; }
.matrix tfoot th { z-index: 3; }
.matrix tfoot td { writing-mode: vertical-rl; transform: rotate(180deg); }
.matrix tbody tr:hover th, .matrix tbody tr:hover td[data-state=present] { background: #eef3ff; }
[data-state=present] { background: #e3f4e1; color: #1e6b24; }
[data-state=missing] { background: #b3261e; color: #fff; font-weight: bold; }
[data-state=platform-short] { background: #f3a93b; color: #1a1a1a; font-weight: bold; }
[data-state=unverified] { background: #fbf0c2; color: #6b5500; }
[data-state=not-expected] { background: #fff; color: #9a9a9a; }
.rowfail { color: #b3261e; }
footer { margin-top: 1rem; color: #666; font-size: 12px; }
@media print {
  @page { size: landscape; margin: 10mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { margin: 0; font-size: 10px; }
  .scroll { overflow: visible; max-height: none; border: 0; }
  table.matrix { font-size: 8px; }
  .matrix th, .matrix td { padding: 0 1px; line-height: 1.2; }
  .matrix td { min-width: 0; }
  .matrix tfoot td, .matrix tfoot th { font-size: 7px; }
  .matrix th, .matrix td { position: static !important; box-shadow: none !important; }
  .matrix thead { break-inside: avoid; }
  .matrix tbody tr { break-inside: avoid; }
  .matrix tbody tr:hover th, .matrix tbody tr:hover td[data-state=present] { background: inherit; }
}
"#;

/// The audit as one self-contained HTML page (UTF-8, newline-terminated).
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(4096 + 40 * report.builds.len() * report.image_stats.len());
    let title = format!(
        "tagsweep audit: {} on {}",
        report.namespace, report.registry
    );
    let as_of = short_time(Some(report.as_of));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"tagsweep\">\n\
         <title>{} ({})</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title),
        escape(&as_of)
    );

    // Header: what, when, how many.
    let _ = write!(
        out,
        "<header>\n<h1>tagsweep audit: <code>{}</code> on {}</h1>\n\
         <p class=\"asof\">As of <time datetime=\"{}\">{}</time></p>\n<ul class=\"counts\" id=\"summary\" aria-label=\"{}\">\n",
        escape(&report.namespace),
        escape(&report.registry),
        rfc3339(report.as_of),
        escape(&as_of),
        escape(&summary_line(&report.summary)),
    );
    let s = &report.summary;
    let mut counts = vec![
        ("builds", s.builds, "builds"),
        ("complete", s.complete, "complete"),
        ("broken", s.broken, "broken"),
        ("in_progress", s.in_progress, "in progress"),
    ];
    if retention_judged(report) {
        counts.push(("expired", report.expired(), "expired"));
    }
    counts.push(("images", report.image_stats.len(), "images"));
    for (key, n, words) in counts {
        let _ = writeln!(out, "<li data-count=\"{key}\"><b>{n}</b> {words}</li>");
    }
    out.push_str("</ul>\n</header>\n");

    // Findings that are not cells.
    if !report.missing_repositories.is_empty() {
        let n = report.missing_repositories.len();
        let _ = writeln!(
            out,
            "<div class=\"alert\" id=\"missing-repositories\"><b>{n} image{} of the manifest {} no repository in <code>{}</code></b> (a typo in the manifest, or a private repository seen without credentials; left out of the matrix and the counts): {}</div>",
            if n == 1 { "" } else { "s" },
            if n == 1 { "has" } else { "have" },
            escape(&report.namespace),
            short_code_list(&report.missing_repositories),
        );
    }
    if !report.unexpected_repositories.is_empty() {
        let n = report.unexpected_repositories.len();
        let _ = writeln!(
            out,
            "<div class=\"note\" id=\"unexpected-repositories\">Not in the manifest, but carrying build tags ({n} repositor{}): {}</div>",
            if n == 1 { "y" } else { "ies" },
            short_code_list(&report.unexpected_repositories),
        );
    }

    // The flaky jobs to fix first.
    out.push_str(
        "<section id=\"most-often\">\n<h2>Missing most often</h2>\n\
         <p>In the finished builds that expect each image (builds in progress are left out: what they lack is mostly what CI pushes last).</p>\n",
    );
    let most_often = report.most_often_missing(MOST_OFTEN);
    if most_often.is_empty() {
        out.push_str("<p>No image is missing from any finished build.</p>\n");
    } else {
        out.push_str("<ol class=\"top\">\n");
        for stats in most_often {
            let _ = writeln!(
                out,
                "<li data-image=\"{}\" data-expected=\"{}\" data-missing=\"{}\" data-platform-short=\"{}\"><code>{}</code>: {}</li>",
                escape(&stats.image),
                stats.builds_expected,
                stats.builds_missing,
                stats.builds_short_of_platforms,
                escape(&stats.image),
                escape(&failure_counts(report, stats)),
            );
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</section>\n");

    // Which image is in which build.
    let images: Vec<&str> = report
        .image_stats
        .iter()
        .map(|s| s.image.as_str())
        .collect();
    let mut tally = [0usize; CellState::ALL.len()];
    let mut rows = String::with_capacity(40 * report.builds.len() * images.len());
    let prefix = common_prefix(&images);
    for stats in &report.image_stats {
        let image = stats.image.as_str();
        let failed = stats.builds_failed();
        let _ = write!(
            rows,
            "<tr data-image=\"{}\"><th scope=\"row\" title=\"{}: {}\"{}>{}</th>",
            escape(image),
            escape(image),
            if failed == 0 {
                format!(
                    "never missing ({} finished build{} it)",
                    stats.builds_expected,
                    if stats.builds_expected == 1 {
                        " expects"
                    } else {
                        "s expect"
                    }
                )
            } else {
                escape(&failure_counts(report, stats))
            },
            if failed > 0 { " class=\"rowfail\"" } else { "" },
            escape(&image[prefix..]),
        );
        for build in &report.builds {
            let (state, platforms) = cell_state(build, image);
            tally[state as usize] += 1;
            match state {
                CellState::Present | CellState::NotExpected => {
                    let _ = write!(
                        rows,
                        "<td data-state=\"{}\">{}</td>",
                        state.as_str(),
                        state.symbol()
                    );
                }
                CellState::Missing => {
                    let _ = write!(
                        rows,
                        "<td data-state=\"missing\" title=\"{} missing from {}\">{}</td>",
                        escape(image),
                        escape(&build.tag),
                        state.symbol()
                    );
                }
                CellState::PlatformShort | CellState::Unverified => {
                    let list = escape(&platform_list(platforms));
                    let _ = write!(
                        rows,
                        "<td data-state=\"{}\" data-platforms=\"{list}\" title=\"{} in {}: {} {list}\">{}</td>",
                        state.as_str(),
                        escape(image),
                        escape(&build.tag),
                        if state == CellState::PlatformShort {
                            "without"
                        } else {
                            "platforms not stated:"
                        },
                        state.symbol()
                    );
                }
            }
        }
        rows.push_str("</tr>\n");
    }

    // Legend, with how many cells show each state.
    out.push_str("<section id=\"legend\">\n<h2>Legend</h2>\n<ul class=\"legend\">\n");
    for state in CellState::ALL {
        let _ = writeln!(
            out,
            "<li data-legend=\"{}\"><span class=\"cell\" data-state=\"{}\">{}</span>{} <b>({} cell{})</b></li>",
            state.as_str(),
            state.as_str(),
            state.symbol(),
            state.legend(),
            tally[state as usize],
            if tally[state as usize] == 1 { "" } else { "s" },
        );
    }
    let _ = writeln!(
        out,
        "<li>Column headers: the build's tag, newest first, and its status: {} complete, {} broken, {} in progress (never called broken: CI may still be pushing){}.</li>",
        status_symbol(Status::Complete),
        status_symbol(Status::Broken),
        status_symbol(Status::InProgress),
        if retention_judged(report) {
            "; a struck-through tag has expired under the manifest's retention"
        } else {
            ""
        }
    );
    out.push_str("</ul>\n</section>\n");

    out.push_str("<section id=\"matrix\">\n<h2>Builds × images</h2>\n");
    if report.builds.is_empty() || images.is_empty() {
        out.push_str("<p>No build to show.</p>\n");
    } else {
        let _ = write!(
            out,
            "<div class=\"scroll\">\n<table class=\"matrix\">\n<thead>\n<tr><th class=\"corner\" scope=\"col\">{}</th>",
            if prefix > 0 {
                format!("image: <code>{}</code>…", escape(&images[0][..prefix]))
            } else {
                "image".to_string()
            }
        );
        let retention = retention_judged(report);
        for build in &report.builds {
            let mut about = format!(
                "{}: {}, {}/{} images, newest push {}",
                build.tag,
                status_words(build.status),
                build.present,
                build.expected,
                push_time(build)
            );
            let mut retention_attr = String::new();
            if retention {
                about.push_str(&format!(", retention: {}", retention_cell(build)));
                retention_attr = format!(
                    " data-retention=\"{}\"",
                    if build.retention.as_ref().is_some_and(|v| v.is_expired()) {
                        "expired"
                    } else {
                        "kept"
                    }
                );
            }
            let _ = write!(
                out,
                "<th scope=\"col\" data-build=\"{}\" data-status=\"{}\"{retention_attr} title=\"{}\"><span class=\"tag\">{}</span><span class=\"st\">{}</span></th>",
                escape(&build.tag),
                build.status.as_str(),
                escape(&about),
                escape(&build.tag),
                status_symbol(build.status),
            );
        }
        out.push_str("</tr>\n</thead>\n<tbody>\n");
        out.push_str(&rows);
        out.push_str("</tbody>\n<tfoot>\n<tr><th scope=\"row\">images present / expected</th>");
        for build in &report.builds {
            let _ = write!(
                out,
                "<td data-build=\"{}\">{}/{}</td>",
                escape(&build.tag),
                build.present,
                build.expected
            );
        }
        out.push_str("</tr>\n</tfoot>\n</table>\n</div>\n");
    }
    out.push_str("</section>\n");

    let notes = explanations(report);
    if !notes.is_empty() {
        out.push_str("<section id=\"notes\">\n<h2>Notes</h2>\n");
        for note in notes {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", prose(&note));
        }
        out.push_str("</section>\n");
    }
    let _ = writeln!(
        out,
        "<footer>Made by tagsweep audit --format html, as of {}. Self-contained: no script, no network.</footer>\n</body>\n</html>",
        escape(&as_of)
    );
    out
}

/// At most this many names in a list above the matrix; the rest behind
/// `+N more`, so that 300 unexpected repositories leave the matrix in view.
pub const MAX_LISTED: usize = 10;

/// [`code_list`] of the first [`MAX_LISTED`] names, then `+N more`, a
/// `<details>` whose summary it is and that holds the whole list.
fn short_code_list(names: &[String]) -> String {
    if names.len() <= MAX_LISTED {
        return code_list(names);
    }
    format!(
        "{}, <details class=\"more\"><summary>+{} more</summary>{}</details>",
        code_list(&names[..MAX_LISTED]),
        names.len() - MAX_LISTED,
        code_list(names)
    )
}

/// `<code>a</code>, <code>b</code>`, escaped.
fn code_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("<code>{}</code>", escape(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    /// The page without its style sheet (a constant, not behaviour).
    fn page(report: &Report) -> String {
        render(report).replace(STYLE, "/* STYLE */")
    }

    #[test]
    fn every_kind_of_cell() {
        insta::assert_snapshot!(page(&fixture::report()), @r#"
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="tagsweep">
        <title>tagsweep audit: linaro on docker.io (2026-11-20 12:00 UTC)</title>
        <style>/* STYLE */</style>
        </head>
        <body>
        <header>
        <h1>tagsweep audit: <code>linaro</code> on docker.io</h1>
        <p class="asof">As of <time datetime="2026-11-20T12:00:00Z">2026-11-20 12:00 UTC</time></p>
        <ul class="counts" id="summary" aria-label="5 builds: 1 complete, 3 broken, 1 in progress">
        <li data-count="builds"><b>5</b> builds</li>
        <li data-count="complete"><b>1</b> complete</li>
        <li data-count="broken"><b>3</b> broken</li>
        <li data-count="in_progress"><b>1</b> in progress</li>
        <li data-count="images"><b>3</b> images</li>
        </ul>
        </header>
        <div class="alert" id="missing-repositories"><b>1 image of the manifest has no repository in <code>linaro</code></b> (a typo in the manifest, or a private repository seen without credentials; left out of the matrix and the counts): <code>typo</code></div>
        <div class="note" id="unexpected-repositories">Not in the manifest, but carrying build tags (1 repository): <code>extra</code></div>
        <section id="most-often">
        <h2>Missing most often</h2>
        <p>In the finished builds that expect each image (builds in progress are left out: what they lack is mostly what CI pushes last).</p>
        <ol class="top">
        <li data-image="zun" data-expected="4" data-missing="2" data-platform-short="0"><code>zun</code>: missing in 2 of 4 builds (joined the set at rocky-3?)</li>
        <li data-image="base" data-expected="4" data-missing="0" data-platform-short="1"><code>base</code>: short of a platform in 1 of 4 builds</li>
        </ol>
        </section>
        <section id="legend">
        <h2>Legend</h2>
        <ul class="legend">
        <li data-legend="present"><span class="cell" data-state="present">✓</span>present: the image carries the build's tag (with every required platform) <b>(10 cells)</b></li>
        <li data-legend="missing"><span class="cell" data-state="missing">✗</span>missing: the registry says the image does not carry the build's tag <b>(3 cells)</b></li>
        <li data-legend="platform-short"><span class="cell" data-state="platform-short">◐</span>platform short: the image is there, without a required platform (hover to see which) <b>(1 cell)</b></li>
        <li data-legend="unverified"><span class="cell" data-state="unverified">?</span>platforms unverified: the image is there, but the registry did not state its platforms, so they could not be checked; not counted as missing <b>(1 cell)</b></li>
        <li data-legend="not-expected"><span class="cell" data-state="not-expected">·</span>not expected: the manifest leaves the image out of this build (its builds, from or until) <b>(0 cells)</b></li>
        <li>Column headers: the build's tag, newest first, and its status: ✓ complete, ✗ broken, ◷ in progress (never called broken: CI may still be pushing).</li>
        </ul>
        </section>
        <section id="matrix">
        <h2>Builds × images</h2>
        <div class="scroll">
        <table class="matrix">
        <thead>
        <tr><th class="corner" scope="col">image</th><th scope="col" data-build="rocky-5" data-status="in_progress" title="rocky-5: in progress, 2/3 images, newest push 2026-11-20 11:00 UTC"><span class="tag">rocky-5</span><span class="st">◷</span></th><th scope="col" data-build="rocky-4" data-status="complete" title="rocky-4: complete, 3/3 images, newest push 2026-11-19 12:00 UTC"><span class="tag">rocky-4</span><span class="st">✓</span></th><th scope="col" data-build="rocky-3" data-status="broken" title="rocky-3: broken, 3/3 images, newest push 2026-11-18 12:00 UTC (declared)"><span class="tag">rocky-3</span><span class="st">✗</span></th><th scope="col" data-build="rocky-2" data-status="broken" title="rocky-2: broken, 2/3 images, newest push 2026-11-17 12:00 UTC"><span class="tag">rocky-2</span><span class="st">✗</span></th><th scope="col" data-build="rocky-1" data-status="broken" title="rocky-1: broken, 2/3 images, newest push 2026-11-16 12:00 UTC"><span class="tag">rocky-1</span><span class="st">✗</span></th></tr>
        </thead>
        <tbody>
        <tr data-image="base"><th scope="row" title="base: short of a platform in 1 of 4 builds" class="rowfail">base</th><td data-state="present">✓</td><td data-state="present">✓</td><td data-state="platform-short" data-platforms="linux/arm64" title="base in rocky-3: without linux/arm64">◐</td><td data-state="present">✓</td><td data-state="present">✓</td></tr>
        <tr data-image="nova"><th scope="row" title="nova: never missing (4 finished builds expect it)">nova</th><td data-state="missing" title="nova missing from rocky-5">✗</td><td data-state="unverified" data-platforms="linux/amd64, linux/arm64" title="nova in rocky-4: platforms not stated: linux/amd64, linux/arm64">?</td><td data-state="present">✓</td><td data-state="present">✓</td><td data-state="present">✓</td></tr>
        <tr data-image="zun"><th scope="row" title="zun: missing in 2 of 4 builds (joined the set at rocky-3?)" class="rowfail">zun</th><td data-state="present">✓</td><td data-state="present">✓</td><td data-state="present">✓</td><td data-state="missing" title="zun missing from rocky-2">✗</td><td data-state="missing" title="zun missing from rocky-1">✗</td></tr>
        </tbody>
        <tfoot>
        <tr><th scope="row">images present / expected</th><td data-build="rocky-5">2/3</td><td data-build="rocky-4">3/3</td><td data-build="rocky-3">3/3</td><td data-build="rocky-2">2/3</td><td data-build="rocky-1">2/3</td></tr>
        </tfoot>
        </table>
        </div>
        </section>
        <section id="notes">
        <h2>Notes</h2>
        <p class="note">? Platforms unverified in 1 build: Docker Hub no longer states a tag&#39;s platforms (its API has answered <code>images: []</code> since August 2025, docker/hub-feedback #2484), so the required platforms could not be checked there; they are not counted as missing. Run with --verify-platforms to read each tag&#39;s index from the registry API (one manifest GET per image per build, cached by digest); a tag it cannot read stays unverified.</p>
        <p class="note">(declared): the registry reports no push time; the time shown is the one the images declare (their <code>created</code>), which a reproducible build sets to its commit&#39;s time, days before the push. prune --broken deletes such a build only after tagsweep has seen it unchanged for builds.grace (or with --trust-declared-times).</p>
        <p class="note">zun is in no build before rocky-3: it joined the set then, so older builds lack it because of the manifest, not a failed push. Add <code>from: rocky-3</code> to it in the manifest.</p>
        </section>
        <footer>Made by tagsweep audit --format html, as of 2026-11-20 12:00 UTC. Self-contained: no script, no network.</footer>
        </body>
        </html>
        "#);
    }

    #[test]
    fn retention_strikes_expired_builds() {
        let html = page(&fixture::retention_report());
        let headers: Vec<&str> = html
            .lines()
            .filter(|l| l.starts_with("<tr><th class=\"corner\""))
            .flat_map(|l| l.split("<th scope=\"col\" ").skip(1))
            .map(|th| th.split(" title=").next().unwrap())
            .collect();
        insta::assert_snapshot!(headers.join("\n"), @r#"
        data-build="rocky-38" data-status="in_progress" data-retention="kept"
        data-build="rocky-37" data-status="complete" data-retention="kept"
        data-build="rocky-36" data-status="complete" data-retention="kept"
        data-build="rocky-35" data-status="broken" data-retention="kept"
        data-build="rocky-34" data-status="complete" data-retention="kept"
        data-build="rocky-33" data-status="complete" data-retention="kept"
        data-build="rocky-32" data-status="broken" data-retention="expired"
        data-build="rocky-31" data-status="complete" data-retention="expired"
        data-build="rocky-30" data-status="complete" data-retention="kept"
        data-build="rocky-29" data-status="complete" data-retention="kept"
        data-build="stein-10" data-status="broken" data-retention="kept"
        data-build="stein-9" data-status="complete" data-retention="kept"
        "#);
        assert!(html.contains("<li data-count=\"expired\"><b>2</b> expired</li>"));
    }

    #[test]
    fn cell_states_follow_the_report() {
        let r = fixture::report();
        let b = |tag: &str| r.builds.iter().find(|b| b.tag == tag).unwrap();
        assert_eq!(cell_state(b("rocky-5"), "nova").0, CellState::Missing);
        assert_eq!(cell_state(b("rocky-5"), "base").0, CellState::Present);
        assert_eq!(cell_state(b("rocky-4"), "nova").0, CellState::Unverified);
        let (state, platforms) = cell_state(b("rocky-3"), "base");
        assert_eq!(state, CellState::PlatformShort);
        assert_eq!(platform_list(platforms), "linux/arm64");

        // An image the manifest leaves out of a build is not expected there.
        let m = crate::manifest::parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages: [base, nova, {name: zun, from: rocky-3}]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let r = crate::policy::evaluate(
            &m,
            &fixture::inventory(),
            fixture::now(),
            &crate::policy::BuildSelection::All,
        );
        let b2 = r.builds.iter().find(|b| b.tag == "rocky-2").unwrap();
        assert_eq!(cell_state(b2, "zun").0, CellState::NotExpected);
        let html = render(&r);
        assert!(
            html.contains("<tr data-image=\"zun\"><th scope=\"row\" title=\"zun: never missing (2 finished builds expect it)\">zun</th><td data-state=\"present\">✓</td><td data-state=\"present\">✓</td><td data-state=\"present\">✓</td><td data-state=\"not-expected\">·</td><td data-state=\"not-expected\">·</td></tr>"),
            "{html}"
        );
        // One build: its verb agrees.
        let m = crate::manifest::parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages: [base, nova, {name: zun, from: rocky-4}]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let r = crate::policy::evaluate(
            &m,
            &fixture::inventory(),
            fixture::now(),
            &crate::policy::BuildSelection::All,
        );
        let html = render(&r);
        assert!(
            html.contains("title=\"zun: never missing (1 finished build expects it)\""),
            "{html}"
        );
    }

    /// Names and tags come from the manifest and the registry: none of them
    /// can open an element, an attribute or a script.
    #[test]
    fn every_name_is_escaped() {
        let mut r = fixture::report();
        let evil = "<img src=x onerror=alert(1)>\"'&";
        r.namespace = format!("ns{evil}");
        r.registry = format!("reg{evil}");
        r.builds[0].tag = format!("rocky-5{evil}");
        r.builds[0].missing = vec![format!("nova{evil}")];
        r.image_stats[0].image = format!("zun{evil}");
        r.unexpected_repositories = vec![format!("extra{evil}")];
        r.missing_repositories = vec![format!("typo</code><script>alert(1)</script>")];
        r.late_images[0].image = format!("zun{evil}");
        let html = render(&r);
        for bad in ["<img", "<script", "onerror=alert(1)>", "\"'&\""] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("ns&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"));
        assert!(html
            .contains("data-build=\"rocky-5&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;\""));
        assert!(html.contains("typo&lt;/code&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    /// Nothing is fetched when the page opens: no script, no link, no
    /// source, no font, no import.
    #[test]
    fn the_page_is_self_contained() {
        for html in [
            render(&fixture::report()),
            render(&fixture::retention_report()),
        ] {
            let lower = html.to_ascii_lowercase();
            for needle in [
                "<script",
                "<link",
                "<img",
                "<iframe",
                "<object",
                "<embed",
                " src=",
                " href=",
                "url(",
                "@import",
                "@font-face",
            ] {
                assert!(!lower.contains(needle), "{needle} in the page");
            }
        }
    }

    #[test]
    fn a_shared_name_prefix_is_shown_once() {
        assert_eq!(
            common_prefix(&["debian-source-base", "debian-source-nova-api"]),
            "debian-source-".len()
        );
        assert_eq!(common_prefix(&["base", "nova"]), 0);
        assert_eq!(common_prefix(&["debian-base"]), 0);
        // Never a whole name: `a-` would leave nothing of it.
        assert_eq!(common_prefix(&["a-", "a-b"]), 0);
        assert_eq!(common_prefix(&["ns/x-a", "ns/x-b"]), "ns/x-".len());
    }
}
