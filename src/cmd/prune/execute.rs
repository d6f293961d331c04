//! Carrying out a confirmed prune plan: for each build, a fresh look (the
//! re-check), then its deletions, each recorded as it completes.
//!
//! * A `--broken` build is looked up again in every expected repository just
//!   before its deletion and judged again ([`recheck`]); one that changed
//!   since the plan is skipped. A build planned only for platforms its
//!   images lack has them read again from the manifests (through the
//!   platform cache, so a digest already read costs nothing): a tag listing
//!   that no longer states platforms must not turn it "complete".
//! * Deletions run `delete_concurrency` at a time. One failure does not stop
//!   the others; a permission error (401/403) stops the run, since every
//!   further delete would fail the same way, and so does a registry answer
//!   that contradicts itself (a digest its bytes deny, a manifest unknown
//!   by the digest of the bytes served: something rewrites answers, and
//!   nothing it says can be acted on); the rest is recorded as skipped.
//! * Each deletion is journaled twice, on disk: an intent line (the tag and
//!   the digest it points to) before its first request, then its result.
//!   A run killed in between leaves the intent, which `restore` reads as a
//!   deletion that may have happened.
//! * A tag the re-check finds on tagsweep's placeholder (a prune of it was
//!   interrupted half way) is already gone in all but name: its deletion
//!   finishes that prune (the backend deletes the placeholder alone) and is
//!   recorded as `already_gone`, without an intent: there is nothing of it
//!   to put back, and the digest it had before is in the interrupted run's
//!   intent line.

use std::collections::HashSet;
use std::sync::OnceLock;

use chrono::Utc;
use futures::StreamExt;

use crate::inventory::{Inventory, Tag};
use crate::journal::{self, DeletionResult, Journal};
use crate::manifest::Manifest;
use crate::platform_cache::PlatformCache;
use crate::policy::prune::{
    fresh_inventory, judge_fresh, recheck, PlannedBuild, PlannedTag, PrunePlan, Recheck,
};
use crate::registry::{DeleteOutcome, Registry, RegistryError};
use crate::render::plan::TagResult;
use crate::verify::verify_platforms;

/// Why a tag was not attempted after a permission error.
const STOPPED: &str = "not attempted: the run stopped on a permission error";
/// Why a tag was not attempted after a contradiction.
const STOPPED_CONTRADICTION: &str =
    "not attempted: the run stopped on a registry answer that contradicts itself";

/// Whether `e` stops the run, and then what the tags not attempted say.
fn stops_the_run(e: &RegistryError) -> Option<&'static str> {
    if matches!(e.status(), Some(401 | 403)) {
        Some(STOPPED)
    } else if matches!(e, RegistryError::Contradiction { .. }) {
        Some(STOPPED_CONTRADICTION)
    } else {
        None
    }
}

/// What carrying out a plan needs.
pub struct Execution<'a> {
    pub registry: &'a dyn Registry,
    pub manifest: &'a Manifest,
    /// What the plan was made from: which repositories exist.
    pub inventory: &'a Inventory,
    /// Platforms already read, by digest (see the module documentation).
    pub platforms: tokio::sync::Mutex<PlatformCache>,
    /// Reads in flight during a re-check.
    pub read_concurrency: usize,
    /// Deletions in flight.
    pub delete_concurrency: usize,
    /// Told of each build and each tag's result as they happen (the command
    /// shows them).
    pub watch: &'a dyn Watch,
    /// Whether each build that keeps others expired is still complete, as
    /// looked at once in this run.
    pub kept: tokio::sync::Mutex<std::collections::HashMap<String, bool>>,
}

/// What a person or a log is shown while a plan is carried out
/// (`super::show`): a bar per build on a terminal, a line per tag elsewhere.
pub trait Watch: Sync {
    /// `build` passed its re-check: its deletions begin.
    fn build_started(&self, build: &PlannedBuild);
    /// One tag's result, as recorded in the journal.
    fn tag_done(&self, result: &TagResult);
    /// `build` is done: `results` holds one per tag of it; `skipped` says why
    /// nothing was deleted when its re-check stopped it.
    fn build_done(&self, build: &PlannedBuild, results: &[TagResult], skipped: Option<&str>);
}

/// What carrying out a plan did.
#[derive(Debug, Default)]
pub struct Executed {
    /// One result per planned tag, in the order they completed.
    pub results: Vec<TagResult>,
    /// The error that stopped the run (a permission error or a
    /// contradiction), if one did.
    pub fatal: Option<RegistryError>,
    /// Why each build that was re-checked and skipped was skipped.
    pub skipped: Vec<(String, String)>,
}

impl Execution<'_> {
    /// Carries out every build of `plan`, in order.
    pub async fn run(&self, plan: &PrunePlan, journal: &mut Option<Journal>) -> Executed {
        let stop = OnceLock::new();
        let mut done = Executed::default();
        for build in &plan.builds {
            let (first, skips) = (done.results.len(), done.skipped.len());
            self.build(plan, build, journal, &stop, &mut done).await;
            let skipped = done.skipped[skips..].first().map(|(_, why)| why.as_str());
            self.watch
                .build_done(build, &done.results[first..], skipped);
        }
        done
    }

    async fn build(
        &self,
        plan: &PrunePlan,
        build: &PlannedBuild,
        journal: &mut Option<Journal>,
        stop: &OnceLock<&'static str>,
        done: &mut Executed,
    ) {
        if let Some(why) = stop.get() {
            self.keep_all(plan, build, done, journal, DeletionResult::Skipped, why);
            return;
        }
        let placeholders = match self.fresh_look(build).await {
            Err(e) => {
                done.skipped.push((
                    build.tag.clone(),
                    format!("cannot re-check before deleting ({e})"),
                ));
                let detail = format!("re-check failed: {e}");
                for t in &build.tags {
                    let mut r = result(build, t, DeletionResult::Failed, Some(detail.clone()));
                    r.rerun_helps = e.rerun_helps();
                    self.keep(plan, done, journal, r);
                }
                if let Some(why) = stops_the_run(&e) {
                    if stop.set(why).is_ok() {
                        done.fatal = Some(e);
                    }
                }
                return;
            }
            Ok(fresh) => {
                let verdict = match recheck(self.manifest, build, &fresh, Utc::now()) {
                    Recheck::Proceed => self.still_kept(build).await,
                    Recheck::Skip(why) => Err(why),
                };
                if let Err(why) = verdict {
                    done.skipped.push((build.tag.clone(), why.clone()));
                    self.keep_all(plan, build, done, journal, DeletionResult::Skipped, &why);
                    return;
                }
                fresh
                    .into_iter()
                    .filter(|(_, t)| t.as_ref().is_some_and(|t| t.placeholder))
                    .map(|(repo, _)| repo)
                    .collect::<HashSet<String>>()
            }
        };
        self.watch.build_started(build);
        let journal = std::sync::Mutex::new(journal);
        let placeholders = &placeholders;
        let journal_ref = &journal;
        let mut deletions = futures::stream::iter(&build.tags)
            .map(|t| async move {
                if stop.get().is_some() {
                    return (t, Err(None));
                }
                if !placeholders.contains(&t.repository) {
                    // On disk before the first request that may change it.
                    let mut j = journal_ref.lock().unwrap_or_else(|e| e.into_inner());
                    record(&mut j, &intent(plan, build, t));
                }
                let outcome = self.registry.delete_tag(&t.repository, &t.tag).await;
                (t, outcome.map_err(Some))
            })
            .buffer_unordered(self.delete_concurrency.max(1));
        while let Some((t, outcome)) = deletions.next().await {
            let r = match outcome {
                Ok(_) if placeholders.contains(&t.repository) => result(
                    build,
                    t,
                    DeletionResult::AlreadyGone,
                    Some(PLACEHOLDER_REMOVED.into()),
                ),
                Ok(DeleteOutcome::Deleted) => result(build, t, DeletionResult::Deleted, None),
                Ok(DeleteOutcome::AlreadyGone) => {
                    result(build, t, DeletionResult::AlreadyGone, None)
                }
                Err(None) => {
                    let why = stop.get().copied().unwrap_or(STOPPED);
                    result(build, t, DeletionResult::Skipped, Some(why.into()))
                }
                Err(Some(e)) => {
                    let mut r = result(build, t, DeletionResult::Failed, Some(e.to_string()));
                    r.rerun_helps = e.rerun_helps();
                    if let Some(why) = stops_the_run(&e) {
                        if stop.set(why).is_ok() {
                            done.fatal = Some(e);
                        }
                    }
                    r
                }
            };
            let mut j = journal.lock().unwrap_or_else(|e| e.into_inner());
            self.keep(plan, done, &mut j, r);
        }
    }

    /// For an expired build: whether every build that makes it expire (the
    /// newest complete builds of its stream) is still complete now. Each is
    /// looked at once per run; with required platforms, they are read from
    /// the manifests (the platform cache answers what the plan already read).
    async fn still_kept(&self, build: &PlannedBuild) -> Result<(), String> {
        for kept in &build.kept_by {
            let known = self.kept.lock().await.get(kept).cloned();
            let complete = match known {
                Some(complete) => complete,
                None => {
                    let fresh = self
                        .look(kept, !self.manifest.platforms.is_empty())
                        .await
                        .map_err(|why| {
                            format!("cannot re-check {kept}, which keeps it expired ({why})")
                        })?;
                    let complete = still_complete(self.manifest, kept, &fresh);
                    self.kept.lock().await.insert(kept.clone(), complete);
                    complete
                }
            };
            if !complete {
                return Err(format!(
                    "{kept}, one of the newest complete builds that make it expire, is no longer complete; judged again on the next run"
                ));
            }
        }
        Ok(())
    }

    /// Records the same result, with the same detail, for every tag of `build`.
    fn keep_all(
        &self,
        plan: &PrunePlan,
        build: &PlannedBuild,
        done: &mut Executed,
        journal: &mut Option<Journal>,
        outcome: DeletionResult,
        detail: &str,
    ) {
        for t in &build.tags {
            let r = result(build, t, outcome, Some(detail.to_string()));
            self.keep(plan, done, journal, r);
        }
    }

    /// Records one result: in the journal at once (on disk before the next
    /// result, so a crash loses nothing done), then for the caller.
    fn keep(
        &self,
        plan: &PrunePlan,
        done: &mut Executed,
        journal: &mut Option<Journal>,
        r: TagResult,
    ) {
        if let Some(j) = journal.as_mut() {
            let entry = journal::Entry {
                time: journal::timestamp(Utc::now()),
                action: journal::Action::Prune,
                registry: &plan.registry,
                namespace: &plan.namespace,
                repository: &r.repository,
                tag: &r.tag,
                build: &r.build,
                digest: r.digest.as_deref(),
                media_type: r.media_type.as_deref(),
                previous_digest: None,
                previous_media_type: None,
                result: journal::Recorded::Deletion(r.result),
                detail: r.detail.as_deref(),
            };
            if let Err(e) = j.record(&entry) {
                eprintln!("tagsweep: cannot write the journal: {e}");
            }
        }
        self.watch.tag_done(&r);
        done.results.push(r);
    }

    /// Looks the build's tag up again in every repository expected to carry
    /// it; for a build planned only for missing platforms, reads their
    /// platforms again too.
    async fn fresh_look(
        &self,
        build: &PlannedBuild,
    ) -> Result<Vec<(String, Option<Tag>)>, RegistryError> {
        self.look(&build.tag, build.platforms_only).await
    }

    /// The tag `build` looked up again in every repository expected to carry
    /// it; with `platforms`, their platforms read from the manifests too
    /// (through the platform cache).
    async fn look(
        &self,
        build: &str,
        platforms: bool,
    ) -> Result<Vec<(String, Option<Tag>)>, RegistryError> {
        let repos: Vec<&str> = self
            .manifest
            .images
            .iter()
            .filter(|i| i.expected_in(build) && self.inventory.repositories.contains_key(&i.name))
            .map(|i| i.name.as_str())
            .collect();
        let looked: Vec<Result<(String, Option<Tag>), RegistryError>> =
            futures::stream::iter(repos)
                .map(|repo| async move {
                    self.registry
                        .get_tag(repo, build)
                        .await
                        .map(|t| (repo.to_string(), t))
                })
                .buffer_unordered(self.read_concurrency.max(1))
                .collect()
                .await;
        let fresh: Vec<(String, Option<Tag>)> = looked.into_iter().collect::<Result<_, _>>()?;
        if !platforms {
            return Ok(fresh);
        }
        let mut inventory = fresh_inventory(&self.manifest.namespace, &fresh);
        let mut cache = self.platforms.lock().await;
        verify_platforms(
            self.registry,
            self.manifest,
            &mut inventory,
            Some(&[build.to_string()]),
            &mut cache,
            self.read_concurrency,
        )
        .await?;
        Ok(inventory
            .repositories
            .into_iter()
            .map(|(repo, r)| (repo, r.tags.and_then(|t| t.into_iter().next())))
            .collect())
    }
}

/// What a deletion that finished an interrupted prune says.
const PLACEHOLDER_REMOVED: &str = "it pointed at tagsweep's placeholder, left by an interrupted prune: the placeholder was deleted, which finishes that prune (the digest the tag had before is in that prune's journal)";

/// The intent line of `t`'s deletion: the tag, and the manifest it points
/// to (what `restore` would put back).
fn intent<'a>(
    plan: &'a PrunePlan,
    build: &'a PlannedBuild,
    t: &'a PlannedTag,
) -> journal::Entry<'a> {
    journal::Entry {
        time: journal::timestamp(Utc::now()),
        action: journal::Action::Prune,
        registry: &plan.registry,
        namespace: &plan.namespace,
        repository: &t.repository,
        tag: &t.tag,
        build: &build.tag,
        digest: t.digest.as_deref(),
        media_type: t.media_type.as_deref(),
        previous_digest: None,
        previous_media_type: None,
        result: journal::Recorded::Intent,
        detail: None,
    }
}

/// Appends `entry` to the journal, if there is one (a failure is said).
fn record(journal: &mut Option<Journal>, entry: &journal::Entry<'_>) {
    if let Some(j) = journal.as_mut() {
        if let Err(e) = j.record(entry) {
            eprintln!("tagsweep: cannot write the journal: {e}");
        }
    }
}

/// Whether `tag` is complete, platforms included, from a fresh look.
fn still_complete(manifest: &Manifest, tag: &str, fresh: &[(String, Option<Tag>)]) -> bool {
    judge_fresh(manifest, tag, fresh, Utc::now()).is_some_and(|b| {
        b.status == crate::policy::Status::Complete && b.unverified_platforms.is_empty()
    })
}

fn result(
    build: &PlannedBuild,
    t: &PlannedTag,
    result: DeletionResult,
    detail: Option<String>,
) -> TagResult {
    TagResult {
        build: build.tag.clone(),
        repository: t.repository.clone(),
        tag: t.tag.clone(),
        digest: t.digest.clone(),
        media_type: t.media_type.clone(),
        result,
        detail,
        rerun_helps: false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::TimeDelta;

    use super::*;
    use crate::inventory::Repository;
    use crate::manifest::parse_str;
    use crate::policy::prune::{plan, PruneRequest};
    use crate::policy::{evaluate, BuildSelection};
    use crate::registry::memory::MemoryRegistry;
    use crate::registry::TagQuery;

    fn manifest(platforms: &str) -> Manifest {
        parse_str(
            "m.yaml",
            &format!(
                "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\n{platforms}images: [base, nova, glance]\n"
            ),
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn tag(name: &str, hours_ago: i64, digest: &str) -> Tag {
        Tag {
            digest: Some(digest.into()),
            pushed: Some(Utc::now() - TimeDelta::hours(hours_ago)),
            ..Tag::new(name)
        }
    }

    /// rocky-1 and rocky-4 complete; rocky-2 and rocky-3 broken (glance lacks them).
    fn registry() -> MemoryRegistry {
        MemoryRegistry::new()
            .repo(
                "base",
                vec![
                    tag("rocky-1", 50, "b1"),
                    tag("rocky-2", 40, "b2"),
                    tag("rocky-3", 30, "b3"),
                    tag("rocky-4", 20, "b4"),
                ],
            )
            .repo(
                "nova",
                vec![
                    tag("rocky-1", 50, "n1"),
                    tag("rocky-2", 40, "n2"),
                    tag("rocky-3", 30, "n3"),
                    tag("rocky-4", 20, "n4"),
                ],
            )
            .repo(
                "glance",
                vec![tag("rocky-1", 50, "g1"), tag("rocky-4", 20, "g4")],
            )
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// What `registry` holds now, as a scan lists it.
    async fn inventory_of(registry: &MemoryRegistry) -> Inventory {
        let mut inventory = Inventory::new("memory", "linaro");
        for r in registry.list_repositories().await.unwrap().repositories {
            let tags = registry
                .list_tags(&r.name, &TagQuery::every_tag())
                .await
                .unwrap();
            inventory.repositories.insert(
                r.name,
                Repository {
                    tags,
                    ..Repository::default()
                },
            );
        }
        inventory
    }

    /// The `--broken` plan for `inventory`, judged now.
    fn plan_broken(m: &Manifest, inventory: &Inventory) -> PrunePlan {
        let report = evaluate(m, inventory, Utc::now(), &BuildSelection::All);
        let request = PruneRequest {
            broken: true,
            max_builds: 5,
            ..PruneRequest::default()
        };
        plan(m, inventory, &report, &request, None).unwrap()
    }

    /// An execution with an empty platform cache, one deletion at a time.
    fn execution<'a>(
        registry: &'a MemoryRegistry,
        m: &'a Manifest,
        inventory: &'a Inventory,
    ) -> Execution<'a> {
        Execution {
            registry,
            manifest: m,
            inventory,
            platforms: tokio::sync::Mutex::new(PlatformCache::new()),
            read_concurrency: 2,
            delete_concurrency: 1,
            watch: &Nobody,
            kept: Default::default(),
        }
    }

    /// Watches nothing.
    struct Nobody;

    impl Watch for Nobody {
        fn build_started(&self, _: &PlannedBuild) {}
        fn tag_done(&self, _: &TagResult) {}
        fn build_done(&self, _: &PlannedBuild, _: &[TagResult], _: Option<&str>) {}
    }

    /// Writes down what it is told, in order.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Watch for Recorder {
        fn build_started(&self, b: &PlannedBuild) {
            self.0
                .lock()
                .unwrap()
                .push(format!("start {} ({} tags)", b.tag, b.tags.len()));
        }
        fn tag_done(&self, r: &TagResult) {
            self.0
                .lock()
                .unwrap()
                .push(format!("tag {}:{}", r.repository, r.tag));
        }
        fn build_done(&self, b: &PlannedBuild, results: &[TagResult], skipped: Option<&str>) {
            let skipped =
                skipped.map(|why| format!(", skipped: {}", why.split(':').next().unwrap_or("")));
            self.0.lock().unwrap().push(format!(
                "done {} ({} results{})",
                b.tag,
                results.len(),
                skipped.unwrap_or_default()
            ));
        }
    }

    /// The terminal's bar per build and its summary line rest on these
    /// events: a build is started only once its re-check passed, and each
    /// build ends with exactly its own results.
    #[test]
    fn each_build_is_started_then_done_with_its_own_results() {
        let registry = registry();
        let m = manifest("");
        let recorder = Recorder::default();
        block(async {
            let inventory = inventory_of(&registry).await;
            let planned = plan_broken(&m, &inventory);
            // rocky-3 gets its missing image after planning: complete now.
            registry.push("glance", tag("rocky-3", 0, "g3"));
            let execution = Execution {
                watch: &recorder,
                ..execution(&registry, &m, &inventory)
            };
            execution.run(&planned, &mut None).await;
        });
        let mut events = recorder.0.into_inner().unwrap();
        // Newest first; deletions of one build run concurrently (their
        // order is not fixed).
        events[4..6].sort();
        assert_eq!(
            events,
            [
                "tag base:rocky-3",
                "tag nova:rocky-3",
                "done rocky-3 (2 results, skipped: complete now)",
                "start rocky-2 (2 tags)",
                "tag base:rocky-2",
                "tag nova:rocky-2",
                "done rocky-2 (2 results)",
            ]
        );
    }

    /// Plans `--broken` from what `registry` holds now, then carries it out.
    fn prune(
        registry: &MemoryRegistry,
        m: &Manifest,
        journal: &mut Option<Journal>,
    ) -> (PrunePlan, Executed) {
        block(async {
            let inventory = inventory_of(registry).await;
            let planned = plan_broken(m, &inventory);
            let execution = execution(registry, m, &inventory);
            let done = execution.run(&planned, journal).await;
            (planned, done)
        })
    }

    fn outcomes(done: &Executed) -> Vec<(String, String, DeletionResult)> {
        let mut all: Vec<_> = done
            .results
            .iter()
            .map(|r| (r.build.clone(), r.repository.clone(), r.result))
            .collect();
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all
    }

    #[test]
    fn broken_builds_are_deleted_tag_by_tag() {
        let registry = registry();
        let (_, done) = prune(&registry, &manifest(""), &mut None);
        let mut deleted = registry.deleted();
        deleted.sort();
        assert_eq!(
            deleted,
            [
                ("base".to_string(), "rocky-2".to_string()),
                ("base".to_string(), "rocky-3".to_string()),
                ("nova".to_string(), "rocky-2".to_string()),
                ("nova".to_string(), "rocky-3".to_string()),
            ]
        );
        assert!(done
            .results
            .iter()
            .all(|r| r.result == DeletionResult::Deleted));
        assert!(done.fatal.is_none());
    }

    #[test]
    fn a_build_that_changed_after_planning_is_skipped() {
        // Between the plan and the deletion, glance gets rocky-3 (complete
        // now) and base's rocky-2 is re-pushed (changed).
        let registry = registry();
        let pushed = Arc::new(Mutex::new(false));
        let late = {
            let pushed = pushed.clone();
            registry.on_delete(Box::new(move |_, _| {
                *pushed.lock().unwrap() = true;
            }))
        };
        let m = manifest("");
        let (planned, done) = block(async {
            let inventory = inventory_of(&late).await;
            let planned = plan_broken(&m, &inventory);
            late.push("glance", tag("rocky-3", 0, "g3"));
            late.push("base", tag("rocky-2", 40, "b2-again"));
            let execution = execution(&late, &m, &inventory);
            let done = execution.run(&planned, &mut None).await;
            (planned, done)
        });
        assert_eq!(planned.builds.len(), 2);
        assert!(late.deleted().is_empty(), "{:?}", late.deleted());
        assert!(!*pushed.lock().unwrap(), "no DELETE was even sent");
        let why: Vec<&str> = done.skipped.iter().map(|(_, w)| w.as_str()).collect();
        assert!(
            why.iter().any(|w| w.starts_with("changed since the audit")),
            "{why:?}"
        );
        assert!(why.iter().any(|w| w.starts_with("complete now")), "{why:?}");
        assert!(done
            .results
            .iter()
            .all(|r| r.result == DeletionResult::Skipped));
    }

    #[test]
    fn a_permission_error_stops_the_run_and_the_rest_is_skipped() {
        let registry = registry().refusing_deletes(403);
        let (_, done) = prune(&registry, &manifest(""), &mut None);
        assert_eq!(
            done.fatal.as_ref().and_then(RegistryError::status),
            Some(403)
        );
        let asked_deletes = registry
            .asked()
            .into_iter()
            .filter(|a| a.starts_with("delete"))
            .count();
        assert_eq!(asked_deletes, 1, "one refusal is enough to stop");
        let results = outcomes(&done);
        assert_eq!(
            results
                .iter()
                .filter(|r| r.2 == DeletionResult::Failed)
                .count(),
            1
        );
        assert_eq!(
            results
                .iter()
                .filter(|r| r.2 == DeletionResult::Skipped)
                .count(),
            3
        );
    }

    /// A deletion's intent is on disk before its request, its result
    /// before the next deletion's intent: a run killed at any point leaves
    /// every tag it may have touched in the journal.
    #[test]
    fn each_intent_is_on_disk_before_its_deletion_and_each_result_before_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let registry = {
            let (path, seen) = (path.clone(), seen.clone());
            registry().on_delete(Box::new(move |repo, tag| {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let last: serde_json::Value =
                    serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap();
                seen.lock().unwrap().push((
                    text.lines().count(),
                    format!("{}:{}", last["repository"], last["tag"])
                        == format!("\"{repo}\":\"{tag}\""),
                    last["result"].clone(),
                ));
            }))
        };
        let mut journal = Some(Journal::open(&path).unwrap());
        let (_, done) = prune(&registry, &manifest(""), &mut journal);
        let intent = serde_json::Value::from("intent");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (1, true, intent.clone()),
                (3, true, intent.clone()),
                (5, true, intent.clone()),
                (7, true, intent)
            ]
        );
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2 * done.results.len());
        for pair in lines.chunks(2) {
            assert_eq!(pair[0]["result"], "intent", "{pair:?}");
            assert_eq!(pair[1]["result"], "deleted", "{pair:?}");
            for field in ["repository", "tag", "digest"] {
                assert_eq!(pair[0][field], pair[1][field], "{pair:?}");
            }
            assert!(pair[0]["digest"].is_string(), "{pair:?}");
        }
    }

    #[test]
    fn a_platform_short_build_has_its_platforms_read_again_before_deletion() {
        // base:rocky-2 is listed as amd64 only; the re-check's look-up (as
        // Docker Hub now answers) states no platforms: without reading the
        // manifest it would look complete.
        let m = manifest("platforms: [linux/amd64, linux/arm64]\n");
        let both = |name: &str, digest: &str| {
            let mut t = tag(name, 40, digest);
            t.platforms = Some(crate::inventory::intern_platforms(vec![
                "linux/amd64".parse().unwrap(),
                "linux/arm64".parse().unwrap(),
            ]));
            t
        };
        let mut short = tag("rocky-2", 40, "b2");
        short.platforms = Some(crate::inventory::intern_platforms(vec!["linux/amd64"
            .parse()
            .unwrap()]));
        let registry = MemoryRegistry::new()
            .repo("base", vec![short])
            .repo("nova", vec![both("rocky-2", "n2")])
            .repo("glance", vec![both("rocky-2", "g2")])
            // The fixtures' digests are not sha256 digests: looked up by tag.
            .manifest("base", "rocky-2", &["linux/amd64"])
            .manifest("nova", "rocky-2", &["linux/amd64", "linux/arm64"])
            .manifest("glance", "rocky-2", &["linux/amd64", "linux/arm64"]);
        let (planned, done) = block(async {
            let inventory = inventory_of(&registry).await;
            let planned = plan_broken(&m, &inventory);
            // What the look-ups answer now: no platforms stated.
            for repo in ["base", "nova", "glance"] {
                let mut t = registry.get_tag(repo, "rocky-2").await.unwrap().unwrap();
                t.platforms = None;
                registry.push(repo, t);
            }
            let execution = execution(&registry, &m, &inventory);
            let done = execution.run(&planned, &mut None).await;
            (planned, done)
        });
        assert!(planned.builds[0].platforms_only);
        assert!(done.skipped.is_empty(), "{:?}", done.skipped);
        assert_eq!(registry.deleted().len(), 3);
        assert!(registry
            .asked()
            .contains(&"manifest base rocky-2".to_string()));
    }

    #[test]
    fn expired_builds_stay_when_a_build_that_keeps_them_expired_is_gone() {
        // keep: 1 — rocky-3 is the newest complete build; rocky-1 and rocky-2
        // expire against it. Between the plan and the deletion, rocky-3 loses
        // an image: nothing may go, or the stream keeps no complete build.
        let m = parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\nretention: {keep: 1}\nimages: [base, nova]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let all = |repo: &str| {
            (1..=3)
                .map(|i| tag(&format!("rocky-{i}"), 80 - 10 * i, &format!("{repo}{i}")))
                .collect::<Vec<_>>()
        };
        let registry = MemoryRegistry::new()
            .repo("base", all("b"))
            .repo("nova", all("n"));
        let (planned, done) = block(async {
            let inventory = inventory_of(&registry).await;
            let report = evaluate(&m, &inventory, Utc::now(), &BuildSelection::All);
            let request = PruneRequest {
                expired: true,
                max_builds: 5,
                ..PruneRequest::default()
            };
            let planned = plan(&m, &inventory, &report, &request, None).unwrap();
            registry.delete_tag("nova", "rocky-3").await.unwrap();
            let execution = execution(&registry, &m, &inventory);
            let done = execution.run(&planned, &mut None).await;
            (planned, done)
        });
        let planned_tags: Vec<&str> = planned.builds.iter().map(|b| b.tag.as_str()).collect();
        assert_eq!(planned_tags, ["rocky-2", "rocky-1"]);
        assert_eq!(planned.builds[0].kept_by, ["rocky-3"]);
        assert_eq!(
            registry.deleted(),
            [("nova".to_string(), "rocky-3".to_string())],
            "only the test's own deletion"
        );
        assert_eq!(done.skipped.len(), 2);
        assert!(
            done.skipped
                .iter()
                .all(|(_, why)| why.starts_with("rocky-3, one of the newest complete builds")),
            "{:?}",
            done.skipped
        );
        // rocky-3 was looked at once, for both.
        let looked = registry
            .asked()
            .iter()
            .filter(|a| a.starts_with("get") && a.ends_with("rocky-3"))
            .count();
        assert_eq!(looked, 2, "one look per expected image");
    }
}
