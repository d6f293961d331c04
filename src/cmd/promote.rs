//! `tagsweep promote BUILD --tag latest`: point a tag users pull at a
//! complete build, in every image of the set — plan, show, confirm, push,
//! record.
//!
//! The build is looked up afresh in every image expected in it and judged
//! (`policy::promote`): only a `complete` build, with every required
//! platform read from its manifests (on Docker Hub through the registry
//! API, cached by digest), is promoted. Then, image by image: the build's
//! manifest is read by digest, the tag looked up once more (a tag moved
//! since the plan is left alone), the manifest pushed under the tag (a
//! manifest PUT, which needs the push permission) and the tag read back.
//! Before each push, an intent line — the tag, the build's digest, and
//! where the tag points now (or that it does not exist) — is on disk in the
//! journal; the result follows it. So `restore --journal` undoes a
//! promotion exactly, even one killed between a push and its record. A
//! promote that fails half way says where each image's tag points now; a
//! rerun converges (a tag already at the build is left).

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use futures::StreamExt;

use super::{
    check_build_tags, confirm_namespace, connect, list, load_manifest, open_platform_cache,
    save_platform_cache, Global, Outcome,
};
use crate::cli::{ConnectionArgs, PromoteArgs};
use crate::config::open_registry;
use crate::inventory::Tag;
use crate::journal::{self, Action, ChangeResult, Journal, Recorded};
use crate::manifest::Manifest;
use crate::output;
use crate::platform_cache::PlatformCache;
use crate::policy::promote::{check_tag, newest_complete, no_placeholders, plan, promotable, Move};
use crate::policy::prune::{fresh_inventory, judge_fresh};
use crate::policy::{evaluate, BuildSelection};
use crate::registry::oci::image::is_manifest_media_type;
use crate::registry::{ManifestBytes, Registry, RegistryError};
use crate::scan::Scope;
use crate::verify::verify_platforms;

pub async fn run(
    args: PromoteArgs,
    connection_args: &ConnectionArgs,
    global: Global,
) -> Result<Outcome> {
    let manifest = load_manifest(&args.manifest)?;
    if let Some(build) = &args.build {
        check_build_tags(&manifest, std::slice::from_ref(build))?;
    }
    for tag in &args.tags {
        match check_tag(&manifest, tag) {
            Err(why) => bail!("{why}; nothing was promoted"),
            Ok(Some(warning)) => eprintln!("tagsweep: {warning}"),
            Ok(None) => {}
        }
    }
    let mut journal = match &args.journal {
        Some(path) => Some(
            Journal::open(path)
                .with_context(|| format!("opening the journal {}", path.display()))?,
        ),
        None => None,
    };
    let connection = connect(connection_args, global)?;
    let registry = open_registry(&manifest, &connection, None)?;
    let mut cache = open_platform_cache(&connection, global);
    let chosen = choose(
        registry.as_ref(),
        &manifest,
        &args,
        &mut cache,
        &connection,
        global,
    )
    .await;
    save_platform_cache(&cache, global);
    let (build, fresh) = chosen?;

    let mut plans = Vec::new();
    // The media type each tag's manifest has now, by (tag, repository).
    let mut before: HashMap<(String, String), String> = HashMap::new();
    for tag in &args.tags {
        let looked = look_tag(registry.as_ref(), &fresh, tag, connection.concurrency)
            .await
            .with_context(|| format!("looking up {tag} in {}", manifest.namespace))?;
        let mut current = Vec::new();
        for (repo, found) in looked {
            if let Some((_, Some(media_type))) = &found {
                before.insert((tag.clone(), repo.clone()), media_type.clone());
            }
            current.push((repo, found.map(|(digest, _)| digest)));
        }
        let moves = plan(&fresh, &current).map_err(|why| {
            anyhow::anyhow!("{build} cannot be promoted: {why}; nothing was promoted")
        })?;
        plans.push((tag.clone(), moves));
    }
    output::print(plan_text(
        &manifest,
        &registry.name(),
        &build,
        &plans,
        args.dry_run,
    ))?;
    let to_move: usize = plans
        .iter()
        .map(|(_, m)| m.iter().filter(|m| !m.unchanged()).count())
        .sum();
    if args.dry_run {
        return Ok(Outcome::Clean);
    }
    if to_move == 0 {
        output::println("Nothing to change.")?;
        return Ok(Outcome::Clean);
    }
    if !args.yes {
        let tags = args.tags.join(", ");
        confirm_namespace(
            &format!(
                "Point {tags} at {build} in {to_move} image{} of {}?",
                if to_move == 1 { "" } else { "s" },
                manifest.namespace
            ),
            &manifest.namespace,
            "promote",
            "nothing was promoted",
        )?;
    }

    let mut failed = 0;
    let mut fatal: Option<RegistryError> = None;
    let registry_name = registry.name();
    let progress = global.progress(&connection);
    progress.start_counting(&format!("promoting {build}"), to_move, "tags");
    for (tag, moves) in &plans {
        for m in moves {
            let entry = |result: Recorded| journal::Entry {
                time: journal::timestamp(Utc::now()),
                action: Action::Promote,
                registry: &registry_name,
                namespace: &manifest.namespace,
                repository: &m.repository,
                tag,
                build: &build,
                digest: Some(&m.digest),
                media_type: m.media_type.as_deref(),
                previous_digest: Some(m.current.as_deref()),
                previous_media_type: before
                    .get(&(tag.clone(), m.repository.clone()))
                    .map(String::as_str),
                result,
                detail: None,
            };
            let (result, detail) = if let Some(e) = &fatal {
                (
                    ChangeResult::Skipped,
                    Some(format!(
                        "not attempted: the run stopped on a permission error ({})",
                        e.status().unwrap_or_default()
                    )),
                )
            } else {
                let acted = match prepare(registry.as_ref(), &m.repository, tag, m).await {
                    Ok(Ready::Finished(done)) => Ok(done),
                    Ok(Ready::Push(bytes)) => {
                        // On disk before the push: a run killed after it
                        // still says where the tag was.
                        record(&mut journal, &entry(Recorded::Intent));
                        push(registry.as_ref(), &m.repository, tag, m, &bytes).await
                    }
                    Err(e) => Err(e),
                };
                match acted {
                    Ok(done) => done,
                    Err(e) => {
                        let detail = e.to_string();
                        if matches!(e.status(), Some(401 | 403)) {
                            fatal = Some(e);
                        }
                        (ChangeResult::Failed, Some(detail))
                    }
                }
            };
            if !matches!(result, ChangeResult::Done | ChangeResult::Unchanged) {
                failed += 1;
            }
            let mut line = entry(Recorded::Change(result));
            line.detail = detail.as_deref();
            record(&mut journal, &line);
            if !m.unchanged() {
                progress.inc();
            }
            let what = format!("{}/{}:{tag}", manifest.namespace, m.repository);
            match result {
                ChangeResult::Done if !progress.is_shown() && !global.quiet => {
                    eprintln!("tagsweep: {what} → {build} ({})", m.digest)
                }
                ChangeResult::Done | ChangeResult::Unchanged => {}
                _ => progress.line(&format!(
                    "tagsweep: could not point {what} at {build}: {}",
                    detail.as_deref().unwrap_or("")
                )),
            }
        }
    }
    progress.finish();
    if failed > 0 {
        // Where each tag points now, so that nobody has to guess.
        output::println("Where each image's tag points now:")?;
        for (tag, moves) in &plans {
            for m in moves {
                let now = registry
                    .get_tag(&m.repository, tag)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|t| t.digest);
                let at = match now.as_deref() {
                    Some(d) if d == m.digest => format!("{d} ({build})"),
                    Some(d) if Some(d) == m.current.as_deref() => format!("{d} (as before)"),
                    Some(d) => d.to_string(),
                    None => "(absent)".to_string(),
                };
                output::println(format!("  {}:{tag} → {at}", m.repository))?;
            }
        }
        output::println("Run the same promote again to finish it, or `tagsweep restore --journal` to undo what was done.")?;
    } else {
        output::println(format!(
            "Promoted {build}: {} now point{} at it in every image of the set.",
            args.tags.join(", "),
            if args.tags.len() == 1 { "s" } else { "" }
        ))?;
    }
    if let Some(e) = fatal {
        bail!("stopped promoting: {e}");
    }
    Ok(if failed > 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// The build to promote, as a fresh look shows it: the one named, or with
/// `--newest-complete` the newest (natural order) of the builds the
/// listing calls complete that a fresh look confirms. Refused when the
/// build is not complete.
async fn choose(
    registry: &dyn Registry,
    manifest: &Manifest,
    args: &PromoteArgs,
    cache: &mut PlatformCache,
    connection: &crate::config::Connection,
    global: Global,
) -> Result<(String, Vec<(String, Option<Tag>)>)> {
    let candidates = match &args.build {
        Some(build) => vec![build.clone()],
        None => {
            let inventory = list(registry, manifest, connection, global, &Scope::All)
                .await?
                .inventory;
            let report = evaluate(manifest, &inventory, Utc::now(), &BuildSelection::All);
            newest_complete(&report)
        }
    };
    let mut refusals = Vec::new();
    for build in candidates {
        let fresh = fresh_look(registry, manifest, &build, cache, connection.concurrency)
            .await
            .with_context(|| format!("looking up {build} in every image of the set"))?;
        let seen = judge_fresh(manifest, &build, &fresh, Utc::now());
        let verdict = no_placeholders(&manifest.namespace, &build, &fresh)
            .and_then(|()| promotable(&build, seen.as_ref()));
        match verdict {
            Ok(()) => return Ok((build, fresh)),
            Err(why) if args.build.is_some() => {
                bail!("refusing to promote: {why}; nothing was promoted")
            }
            Err(why) => {
                if global.verbose {
                    eprintln!("tagsweep: passing over {build}: {why}");
                }
                refusals.push(why);
            }
        }
    }
    bail!(
        "no build is complete under a fresh look{}; nothing was promoted",
        if refusals.is_empty() {
            String::new()
        } else {
            format!(" ({})", refusals.join("; "))
        }
    )
}

/// `build` looked up in every image expected in it, with the platforms the
/// manifest requires read from the manifests (through `cache`).
async fn fresh_look(
    registry: &dyn Registry,
    manifest: &Manifest,
    build: &str,
    cache: &mut PlatformCache,
    concurrency: usize,
) -> Result<Vec<(String, Option<Tag>)>, RegistryError> {
    let repos: Vec<&str> = manifest
        .images
        .iter()
        .filter(|i| i.expected_in(build))
        .map(|i| i.name.as_str())
        .collect();
    let looked: Vec<Result<(String, Option<Tag>), RegistryError>> = futures::stream::iter(repos)
        .map(|repo| async move {
            registry
                .get_tag(repo, build)
                .await
                .map(|t| (repo.to_string(), t))
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut fresh: Vec<(String, Option<Tag>)> = looked.into_iter().collect::<Result<_, _>>()?;
    if manifest.platforms.is_empty() {
        return Ok(fresh);
    }
    // Verified from the manifests, whatever a listing said.
    for (_, tag) in &mut fresh {
        if let Some(t) = tag {
            t.platforms = None;
        }
    }
    let mut inventory = fresh_inventory(&manifest.namespace, &fresh);
    verify_platforms(
        registry,
        manifest,
        &mut inventory,
        Some(&[build.to_string()]),
        cache,
        concurrency,
    )
    .await?;
    Ok(fresh
        .into_iter()
        .map(|(repo, _)| {
            let tag = inventory
                .repositories
                .get(&repo)
                .and_then(|r| r.tags.as_ref())
                .and_then(|t| t.first().cloned());
            (repo, tag)
        })
        .collect())
}

/// Where `tag` points now in each image of `fresh`: its digest and, when
/// the registry says, its media type; `None` where it does not exist.
async fn look_tag(
    registry: &dyn Registry,
    fresh: &[(String, Option<Tag>)],
    tag: &str,
    concurrency: usize,
) -> Result<Vec<(String, Option<(String, Option<String>)>)>, RegistryError> {
    type Looked = (String, Option<(String, Option<String>)>);
    let looked: Vec<Result<Looked, RegistryError>> =
        futures::stream::iter(fresh.iter().map(|(repo, _)| repo.as_str()))
            .map(|repo| async move {
                let found = registry.get_tag(repo, tag).await?;
                let now = match found {
                    None => None,
                    Some(t) => {
                        let digest = t.digest.ok_or_else(|| {
                            RegistryError::Refused(format!(
                                "{repo}:{tag}: the registry does not say which digest it points to; cannot record where it was"
                            ))
                        })?;
                        Some((digest, t.media_type.as_deref().map(str::to_string)))
                    }
                };
                Ok((repo.to_string(), now))
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
    looked.into_iter().collect()
}

/// The plan, as shown before anything happens.
fn plan_text(
    manifest: &Manifest,
    registry: &str,
    build: &str,
    plans: &[(String, Vec<Move>)],
    dry_run: bool,
) -> String {
    let mut out = String::new();
    for (tag, moves) in plans {
        let moving = moves.iter().filter(|m| !m.unchanged()).count();
        out.push_str(&format!(
            "Promote plan for {} on {registry}: {tag} → {build} (complete) in {moving} of {} images{}\n",
            manifest.namespace,
            moves.len(),
            if dry_run {
                " (dry run: nothing will be changed)"
            } else {
                ""
            }
        ));
        for m in moves {
            let line = if m.unchanged() {
                format!(
                    "  unchanged  {}:{tag} (already at {})",
                    m.repository, m.digest
                )
            } else {
                format!(
                    "  point      {}:{tag} {} → {}",
                    m.repository,
                    m.current.as_deref().unwrap_or("(absent)"),
                    m.digest
                )
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Appends `entry` to the journal, if there is one; a failure is said, and
/// the run goes on.
fn record(journal: &mut Option<Journal>, entry: &journal::Entry<'_>) {
    if let Some(j) = journal.as_mut() {
        if let Err(e) = j.record(entry) {
            eprintln!("tagsweep: cannot write the journal: {e}");
        }
    }
}

/// One image read and checked, ready for its push (or finished without).
enum Ready {
    Finished((ChangeResult, Option<String>)),
    /// Push these bytes under the tag.
    Push(ManifestBytes),
}

/// Reads the build's manifest (`m.digest`) and checks that `repo:tag` still
/// points where the plan saw it; changes nothing.
async fn prepare(
    registry: &dyn Registry,
    repo: &str,
    tag: &str,
    m: &Move,
) -> Result<Ready, RegistryError> {
    if m.unchanged() {
        return Ok(Ready::Finished((ChangeResult::Unchanged, None)));
    }
    let Some(fetched) = registry.get_manifest(repo, &m.digest).await? else {
        return Ok(Ready::Finished((
            ChangeResult::Unavailable,
            Some(format!(
                "the registry no longer has the manifest {}",
                m.digest
            )),
        )));
    };
    if m.digest.starts_with("sha256:") && fetched.sha256() != m.digest {
        return Ok(Ready::Finished((
            ChangeResult::Failed,
            Some(format!(
                "the registry served bytes whose digest is {}, not {}; nothing was pushed",
                fetched.sha256(),
                m.digest
            )),
        )));
    }
    let media_type = fetched
        .media_type
        .clone()
        .filter(|t| is_manifest_media_type(t))
        .or_else(|| m.media_type.clone().filter(|t| is_manifest_media_type(t)));
    let now = registry.get_tag(repo, tag).await?.and_then(|t| t.digest);
    if now != m.current {
        return Ok(Ready::Finished((
            ChangeResult::LeftAlone,
            Some(format!(
                "changed since the plan (it pointed to {}, now {}): left alone; run again",
                m.current.as_deref().unwrap_or("nothing"),
                now.as_deref().unwrap_or("nothing")
            )),
        )));
    }
    Ok(Ready::Push(ManifestBytes {
        digest: Some(m.digest.clone()),
        media_type,
        body: fetched.body,
    }))
}

/// Pushes `manifest` under `repo:tag` and reads the tag back.
async fn push(
    registry: &dyn Registry,
    repo: &str,
    tag: &str,
    m: &Move,
    manifest: &ManifestBytes,
) -> Result<(ChangeResult, Option<String>), RegistryError> {
    registry.put_manifest(repo, tag, manifest).await?;
    let after = registry.get_tag(repo, tag).await?.and_then(|t| t.digest);
    if after.as_deref() == Some(m.digest.as_str()) {
        Ok((ChangeResult::Done, None))
    } else {
        Ok((
            ChangeResult::Failed,
            Some(format!(
                "pushed, but the tag now points to {}, not {}",
                after.as_deref().unwrap_or("nothing"),
                m.digest
            )),
        ))
    }
}
