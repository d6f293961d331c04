//! `tagsweep audit`: list the namespace, judge every build, print the report.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{
    check_build_tags, connect, list_cached, load_manifest, observations, save_observations, verify,
    Global, Outcome,
};
use crate::cli::{AuditArgs, ConnectionArgs, ReportFormat};
use crate::config::open_registry;
use crate::output;
use crate::policy::audit::{placeholder_warning, placeholders};
use crate::policy::{evaluate, BuildSelection};
use crate::render::{self, RunStats};
use crate::scan::Scope;

pub async fn run(
    args: AuditArgs,
    connection_args: &ConnectionArgs,
    global: Global,
) -> Result<Outcome> {
    let manifest = load_manifest(&args.manifest)?;
    check_build_tags(&manifest, &args.builds)?;
    let now = args.now.as_deref().map(parse_now).transpose()?;
    let connection = connect(connection_args, global)?;
    let registry = open_registry(&manifest, &connection, args.from.as_deref())?;

    let started = Instant::now();
    let now = now.or(registry.snapshot_time()).unwrap_or_else(Utc::now);
    let scope = match args.since {
        Some(window) => {
            Scope::Since(now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX))
        }
        None if !args.builds.is_empty() => Scope::Builds(args.builds.clone()),
        None => Scope::All,
    };
    let scanned = list_cached(registry.as_ref(), &manifest, &connection, global, &scope).await?;
    let unchanged = scanned
        .incremental
        .as_ref()
        .map_or(0, |o| o.counts.unchanged);
    let mut inventory = scanned.inventory;
    if args.verify_platforms {
        verify(
            registry.as_ref(),
            &manifest,
            &mut inventory,
            scanned.builds.as_deref(),
            &connection,
            global,
        )
        .await?;
    }
    let selection = match scanned.builds {
        Some(builds) => BuildSelection::Named(builds),
        None => BuildSelection::All,
    };
    let report = evaluate(&manifest, &inventory, now, &selection);
    for (image, tag) in placeholders(&manifest, &inventory) {
        eprintln!(
            "tagsweep: {}",
            placeholder_warning(&manifest.namespace, &image, &tag)
        );
    }
    // What a snapshot, or a judgement as of another time, saw is not the
    // registry now: only a live look is recorded.
    if args.from.is_none() && args.now.is_none() {
        let mut seen = observations(
            &args.observations,
            &connection,
            &report.registry,
            &manifest.namespace,
            global,
        );
        seen.record(&report, selection == BuildSelection::All);
        save_observations(&seen, global);
    }
    let stats = RunStats {
        requests: registry.stats(),
        unchanged_repositories: unchanged,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    if global.verbose {
        eprintln!(
            "tagsweep: {} repositories, {} tags, {} requests ({} retries, {} rate-limited) in {} ms",
            inventory.repositories.len(),
            inventory.tag_count(),
            stats.requests.requests,
            stats.requests.retries,
            stats.requests.rate_limited,
            stats.elapsed_ms
        );
    }

    let text = match args.format {
        ReportFormat::Table => {
            let width = std::io::stdout()
                .is_terminal()
                .then(terminal_width)
                .flatten();
            render::table::render(&report, width, render::Lists::for_verbosity(global.verbose))
        }
        ReportFormat::Json => render::json::render(&report, &stats),
        ReportFormat::Markdown => render::markdown::render(&report),
        ReportFormat::Html => render::html::render(&report),
    };
    output::print(text)?;
    // The process ends once this returns: freeing tens of thousands of
    // tags one by one would only delay the exit (by 10 ms for 60,000).
    std::mem::forget(inventory);
    Ok(if report.has_findings() {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

pub(crate) fn parse_now(raw: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!("--now {raw:?}: not an RFC 3339 time such as 2026-11-20T10:00:00Z")
        })
}

/// `$COLUMNS` when the shell exports it; comfy-table otherwise asks the terminal.
pub(crate) fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w: &u16| *w > 0)
        .or_else(|| comfy_table::Table::new().width())
}
