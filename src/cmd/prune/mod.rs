//! `tagsweep prune`: delete every tag of broken, expired (or named) builds
//! across the set — plan, show, confirm, re-check, delete, record.
//!
//! A delete is the one irreversible thing tagsweep does, so: the plan comes
//! from the pure policy (`policy::prune`, with its rails); it is printed
//! before anything happens; `--dry-run` stops there; without `--yes` a
//! terminal user must type the namespace, and without a terminal nothing is
//! deleted; each build is looked up again just before its deletion; one
//! failure does not stop the others; every result is printed and, with
//! `--journal`, appended to disk as it happens. A permission error stops the
//! run (every further delete would fail the same way), and so does a
//! registry answer that contradicts itself. Carrying the plan out is
//! [`execute`].
//!
//! A build that `--broken` would delete only for platforms its images lack
//! has those platforms read from the manifests first (the registry API on
//! Docker Hub): a listing's word is checked before it costs a build.

mod execute;
mod show;

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context, Result};
use chrono::Utc;

use self::execute::Execution;
use super::{
    check_build_tags, connect, list_cached, load_manifest, observations, open_platform_cache,
    save_observations, save_platform_cache, verify, Global, Outcome,
};
use crate::cli::{ConnectionArgs, PlanFormat, PruneArgs};
use crate::config::{open_registry, read_stdin_line};
use crate::inventory::Inventory;
use crate::journal::{DeletionResult, Journal};
use crate::manifest::Manifest;
use crate::output;
use crate::policy::audit::{placeholder_warning, placeholders};
use crate::policy::prune::{check_request, plan, PruneRequest};
use crate::policy::{evaluate, BuildSelection, Report, Status};
use crate::render::plan::{self as render, Totals};
use crate::scan::Scope;

pub async fn run(
    args: PruneArgs,
    connection_args: &ConnectionArgs,
    global: Global,
) -> Result<Outcome> {
    let manifest = load_manifest(&args.manifest)?;
    check_build_tags(&manifest, &args.builds)?;
    let request = PruneRequest {
        broken: args.broken,
        expired: args.expired,
        builds: args.builds.clone(),
        max_builds: args.max_builds,
        trust_declared_times: args.trust_declared_times,
    };
    check_request(&manifest, &request)
        .map_err(|refusal| anyhow::anyhow!("{refusal}; nothing was deleted"))?;
    let now = args
        .now
        .as_deref()
        .map(super::audit::parse_now)
        .transpose()?;
    let mut journal = match &args.journal {
        Some(path) => Some(
            Journal::open(path)
                .with_context(|| format!("opening the journal {}", path.display()))?,
        ),
        None => None,
    };
    let connection = connect(connection_args, global)?;
    let registry = open_registry(&manifest, &connection, args.from.as_deref())?;
    if !args.dry_run {
        if let Err(why) = registry.can_delete() {
            bail!("{why}; nothing was deleted");
        }
    }

    let mut inventory = list_cached(
        registry.as_ref(),
        &manifest,
        &connection,
        global,
        &Scope::All,
    )
    .await?
    .inventory;
    let now = now.or(registry.snapshot_time()).unwrap_or_else(Utc::now);
    if args.verify_platforms {
        verify(
            registry.as_ref(),
            &manifest,
            &mut inventory,
            None,
            &connection,
            global,
        )
        .await?;
    }
    let mut report = evaluate(&manifest, &inventory, now, &BuildSelection::All);
    let short = short_of_platforms_only(&report);
    if args.broken && args.from.is_none() && !short.is_empty() {
        forget_platforms(&manifest, &mut inventory, &short);
        verify(
            registry.as_ref(),
            &manifest,
            &mut inventory,
            Some(&short),
            &connection,
            global,
        )
        .await?;
        report = evaluate(&manifest, &inventory, now, &BuildSelection::All);
    }
    let mut seen = observations(
        &args.observations,
        &connection,
        &report.registry,
        &manifest.namespace,
        global,
    );
    let plan = plan(
        &manifest,
        &inventory,
        &report,
        &request,
        seen.unchanged(&report).as_ref(),
    );
    // Only a live look at the registry now is recorded (not a snapshot, not
    // a judgement as of another time).
    if args.from.is_none() && args.now.is_none() {
        seen.record(&report, true);
        save_observations(&seen, global);
    }
    let plan = plan.map_err(|refusal| anyhow::anyhow!("{refusal}; nothing was deleted"))?;
    // A tag on tagsweep's placeholder in a build this prune does not
    // finish: said, as the audit says it.
    for (image, tag) in placeholders(&manifest, &inventory) {
        if !plan.builds.iter().any(|b| b.tag == tag) {
            eprintln!(
                "tagsweep: {}",
                placeholder_warning(&manifest.namespace, &image, &tag)
            );
        }
    }
    let findings = if plan.has_findings() {
        Outcome::Findings
    } else {
        Outcome::Clean
    };

    let json = args.format == PlanFormat::Json;
    if !json {
        output::print(render::table(
            &plan,
            args.dry_run,
            crate::render::Lists::for_verbosity(global.verbose),
        ))?;
    }
    if plan.builds.is_empty() || args.dry_run {
        if json {
            output::print(render::json(&plan, args.dry_run, None))?;
        } else if plan.builds.is_empty() {
            output::println("Nothing to prune.")?;
        }
        return Ok(findings);
    }
    if !args.yes {
        confirm(&manifest.namespace, plan.tag_count(), plan.builds.len())?;
    }

    let show = show::Show {
        progress: global.progress(&connection),
        namespace: manifest.namespace.clone(),
        quiet: global.quiet,
    };
    let execution = Execution {
        registry: registry.as_ref(),
        manifest: &manifest,
        inventory: &inventory,
        platforms: tokio::sync::Mutex::new(open_platform_cache(&connection, global)),
        read_concurrency: connection.concurrency,
        delete_concurrency: usize::from(args.delete_concurrency),
        watch: &show,
        kept: Default::default(),
    };
    let executed = execution.run(&plan, &mut journal).await;
    // A build deleted (even in part) starts afresh: a retry pushed with the
    // same contents later is a new build, not one seen unchanged since.
    let touched: Vec<&str> = executed
        .results
        .iter()
        .filter(|r| {
            matches!(
                r.result,
                DeletionResult::Deleted | DeletionResult::AlreadyGone
            )
        })
        .map(|r| r.build.as_str())
        .collect();
    if !touched.is_empty() {
        for build in touched {
            seen.forget(build);
        }
        save_observations(&seen, global);
    }
    save_platform_cache(&*execution.platforms.lock().await, global);
    let (results, fatal) = (executed.results, executed.fatal);
    if let Some(j) = &args.journal {
        if global.verbose {
            eprintln!("tagsweep: journal appended to {}", j.display());
        }
    }
    if json {
        output::print(render::json(&plan, false, Some(&results)))?;
    } else {
        output::print(render::summary(&results))?;
    }
    if let Some(error) = fatal {
        bail!("stopped deleting: {error}");
    }
    Ok(if Totals::of(&results).failed > 0 {
        Outcome::Findings
    } else {
        findings
    })
}

/// Asks a terminal user to type the namespace; refuses without a terminal.
fn confirm(namespace: &str, tags: usize, builds: usize) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to delete {tags} tags without confirmation: stdin is not a terminal. \
             Review the plan (--dry-run), then pass --yes; nothing was deleted"
        );
    }
    eprint!("Delete {tags} tags of {builds} build{} in {namespace}? Type the namespace ({namespace}) to confirm: ",
        if builds == 1 { "" } else { "s" });
    std::io::stderr().flush().ok();
    let answer = read_stdin_line().context("reading the confirmation")?;
    if answer.trim() != namespace {
        bail!("not confirmed; nothing was deleted");
    }
    Ok(())
}

/// The broken builds whose every expected image is there, short only of
/// platforms: deleting them rests on what the listing said of platforms.
fn short_of_platforms_only(report: &Report) -> Vec<String> {
    report
        .builds
        .iter()
        .filter(|b| {
            b.status == Status::Broken && b.missing.is_empty() && !b.missing_platforms.is_empty()
        })
        .map(|b| b.tag.clone())
        .collect()
}

/// Forgets what the listing said of the platforms of `builds`' tags in the
/// expected images, so that they are read from the manifests.
fn forget_platforms(manifest: &Manifest, inventory: &mut Inventory, builds: &[String]) {
    for (name, repo) in &mut inventory.repositories {
        let Some(image) = manifest.image(name) else {
            continue;
        };
        for tag in repo.tags.iter_mut().flatten() {
            if builds
                .iter()
                .any(|b| *b == tag.name && image.expected_in(b))
            {
                tag.platforms = None;
            }
        }
    }
}
