//! `tagsweep prune`: delete every tag of broken (or named) builds across the
//! set — plan, show, confirm, re-check, delete, record.
//!
//! A delete is the one irreversible thing tagsweep does, so: the plan comes
//! from the pure policy (`policy::prune`, with its rails); it is printed
//! before anything happens; `--dry-run` stops there; without `--yes` a
//! terminal user must type the namespace, and without a terminal nothing is
//! deleted; each build is looked up again just before its deletion; one
//! failure does not stop the others; every result is printed and, with
//! `--journal`, appended to disk as it happens. A permission error stops the
//! run (every further delete would fail the same way).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use futures::StreamExt;

use super::{
    check_build_tags, connect, list, load_manifest, observations, save_observations, Global,
    Outcome,
};
use crate::cli::{PlanFormat, PruneArgs};
use crate::config::{open_registry, read_stdin_line};
use crate::inventory::Tag;
use crate::journal::{self, Journal};
use crate::manifest::{Manifest, RegistryRef};
use crate::policy::prune::{plan, recheck, PlannedBuild, PruneRequest, Recheck};
use crate::policy::{evaluate, BuildSelection};
use crate::registry::{DeleteOutcome, Registry, RegistryError};
use crate::render::plan::{self as render, TagResult, Totals};
use crate::scan::Scope;

pub async fn run(args: PruneArgs, global: Global) -> Result<Outcome> {
    let manifest = load_manifest(&args.manifest)?;
    check_build_tags(&manifest, &args.builds)?;
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
    let connection = connect(&args.connection, global)?;
    if !args.dry_run
        && manifest.registry == RegistryRef::DockerHub
        && connection.credentials_for(&manifest)?.is_none()
    {
        bail!(
            "deleting tags on Docker Hub needs credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN \
             (a personal access token with the Read, Write, Delete permission), or `docker login`; nothing was deleted"
        );
    }
    let registry = open_registry(&manifest, &connection, args.from.as_deref())?;

    let inventory = list(
        registry.as_ref(),
        &manifest,
        &connection,
        global,
        &Scope::All,
    )
    .await?
    .inventory;
    let now = now.or(registry.snapshot_time()).unwrap_or_else(Utc::now);
    let report = evaluate(&manifest, &inventory, now, &BuildSelection::All);
    let request = PruneRequest {
        broken: args.broken,
        builds: args.builds.clone(),
        max_builds: args.max_builds,
        trust_declared_times: args.trust_declared_times,
    };
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
    let findings = if plan.has_findings() {
        Outcome::Findings
    } else {
        Outcome::Clean
    };

    let json = args.format == PlanFormat::Json;
    if !json {
        print!("{}", render::table(&plan, args.dry_run));
    }
    if plan.builds.is_empty() || args.dry_run {
        if json {
            print!("{}", render::json(&plan, args.dry_run, None));
        } else if plan.builds.is_empty() {
            println!("Nothing to prune.");
        }
        return Ok(findings);
    }
    if !args.yes {
        confirm(&manifest.namespace, plan.tag_count(), plan.builds.len())?;
    }

    let ctx = Execution {
        registry: registry.as_ref(),
        registry_name: registry.name(),
        manifest: &manifest,
        existing: |repo: &str| inventory.repositories.contains_key(repo),
        read_concurrency: connection.concurrency,
        delete_concurrency: usize::from(args.delete_concurrency),
        aborted: AtomicBool::new(false),
    };
    let mut results = Vec::new();
    let mut fatal = None;
    for build in &plan.builds {
        let build_results = ctx.prune_build(build, &mut journal, &mut fatal).await;
        results.extend(build_results);
    }
    if let Some(j) = &args.journal {
        if global.verbose {
            eprintln!("tagsweep: journal appended to {}", j.display());
        }
    }
    if json {
        print!("{}", render::json(&plan, false, Some(&results)));
    } else {
        print!("{}", render::summary(&results));
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

struct Execution<'a, F: Fn(&str) -> bool> {
    registry: &'a dyn Registry,
    registry_name: String,
    manifest: &'a Manifest,
    existing: F,
    read_concurrency: usize,
    delete_concurrency: usize,
    aborted: AtomicBool,
}

impl<F: Fn(&str) -> bool> Execution<'_, F> {
    /// Re-checks one build, then deletes its tags; returns one result per tag.
    async fn prune_build(
        &self,
        build: &PlannedBuild,
        journal: &mut Option<Journal>,
        fatal: &mut Option<RegistryError>,
    ) -> Vec<TagResult> {
        let verdict = if self.aborted.load(Ordering::SeqCst) {
            Err("not attempted: the run stopped on a permission error".to_string())
        } else {
            self.fresh_look(build)
                .await
                .map(|fresh| recheck(self.manifest, build, &fresh, Utc::now()))
        };
        let mut results = Vec::new();
        match verdict {
            Err(why) => {
                eprintln!(
                    "tagsweep: {}: cannot re-check before deleting ({why}); skipped",
                    build.tag
                );
                for t in &build.tags {
                    self.keep(
                        &mut results,
                        journal,
                        self.result(build, t, "failed", Some(format!("re-check failed: {why}"))),
                    );
                }
            }
            Ok(Recheck::Skip(why)) => {
                eprintln!("tagsweep: {}: {why}; skipped", build.tag);
                for t in &build.tags {
                    self.keep(
                        &mut results,
                        journal,
                        self.result(build, t, "skipped", Some(why.clone())),
                    );
                }
            }
            Ok(Recheck::Proceed) => {
                let mut deletions = futures::stream::iter(&build.tags)
                    .map(|t| async move {
                        if self.aborted.load(Ordering::SeqCst) {
                            return (t, Err(None));
                        }
                        (
                            t,
                            self.registry
                                .delete_tag(&t.repository, &t.tag)
                                .await
                                .map_err(Some),
                        )
                    })
                    .buffer_unordered(self.delete_concurrency.max(1));
                while let Some((t, outcome)) = deletions.next().await {
                    let result = match outcome {
                        Ok(DeleteOutcome::Deleted) => {
                            eprintln!(
                                "tagsweep: deleted {}/{}:{}",
                                self.manifest.namespace, t.repository, t.tag
                            );
                            self.result(build, t, "deleted", None)
                        }
                        Ok(DeleteOutcome::AlreadyGone) => {
                            self.result(build, t, "already_gone", None)
                        }
                        Err(None) => self.result(
                            build,
                            t,
                            "skipped",
                            Some("not attempted: the run stopped on a permission error".into()),
                        ),
                        Err(Some(e)) => {
                            let detail = e.to_string();
                            eprintln!(
                                "tagsweep: failed to delete {}:{}: {detail}",
                                t.repository, t.tag
                            );
                            if matches!(e.status(), Some(401 | 403))
                                && !self.aborted.swap(true, Ordering::SeqCst)
                            {
                                *fatal = Some(e);
                            }
                            self.result(build, t, "failed", Some(detail))
                        }
                    };
                    self.keep(&mut results, journal, result);
                }
            }
        }
        results
    }

    /// Records one result: in the journal at once (written to disk before the
    /// next result, so a crash loses nothing done), then in `results`.
    fn keep(&self, results: &mut Vec<TagResult>, journal: &mut Option<Journal>, r: TagResult) {
        if let Some(j) = journal.as_mut() {
            let entry = journal::Entry {
                time: journal::timestamp(Utc::now()),
                registry: &self.registry_name,
                namespace: &self.manifest.namespace,
                repository: &r.repository,
                tag: &r.tag,
                build: &r.build,
                digest: r.digest.as_deref(),
                result: r.result,
                detail: r.detail.as_deref(),
            };
            if let Err(e) = j.record(&entry) {
                eprintln!("tagsweep: cannot write the journal: {e}");
            }
        }
        results.push(r);
    }

    /// Looks the build's tag up again in every repository expected to carry it.
    async fn fresh_look(&self, build: &PlannedBuild) -> Result<Vec<(String, Option<Tag>)>, String> {
        let repos: Vec<&str> = self
            .manifest
            .images
            .iter()
            .filter(|i| i.expected_in(&build.tag) && (self.existing)(&i.name))
            .map(|i| i.name.as_str())
            .collect();
        let looked: Vec<Result<(String, Option<Tag>), RegistryError>> =
            futures::stream::iter(repos)
                .map(|repo| async move {
                    self.registry
                        .get_tag(repo, &build.tag)
                        .await
                        .map(|t| (repo.to_string(), t))
                })
                .buffer_unordered(self.read_concurrency.max(1))
                .collect()
                .await;
        looked
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())
    }

    fn result(
        &self,
        build: &PlannedBuild,
        t: &crate::policy::prune::PlannedTag,
        result: &'static str,
        detail: Option<String>,
    ) -> TagResult {
        TagResult {
            build: build.tag.clone(),
            repository: t.repository.clone(),
            tag: t.tag.clone(),
            digest: t.digest.clone(),
            result,
            detail,
        }
    }
}
