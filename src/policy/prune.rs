//! The prune plan: exactly which tags may be deleted, and why — as a pure
//! function of (manifest, inventory, audit report, request, what earlier
//! runs saw).
//!
//! `--broken` deletes a build only on proof that it is broken: something
//! known absent, and an age that shows nobody is still pushing it.
//! `--expired` deletes the builds the manifest's `retention` retires
//! (`policy::retention`, which asks for its own proofs). Rails, each enforced
//! here and unit-tested:
//! * only repositories of the manifest's images are touched; unexpected
//!   repositories carrying the same tag are reported, never planned;
//! * `--broken` takes builds the audit judged `broken` — never `in_progress`
//!   or `complete` ones, and so never a build whose only gap is a platform
//!   the registry did not state (`unverified_platforms`);
//! * a build whose only missing images joined the set later
//!   ([`LateImage`]) is a manifest change, not a broken build: skipped, and
//!   reported as a finding with its fix;
//! * a build's age must be proven: by registry push times, or by tagsweep
//!   having seen the build unchanged for `builds.grace` (the observations
//!   kept between runs), or by image-declared times when the user says they
//!   are build times (`--trust-declared-times`). Otherwise it is skipped, with
//!   the time it becomes eligible;
//! * a tag matching `builds.protect` is never planned, whatever is asked;
//! * `--broken` and `--expired` refuse outright when an expected repository
//!   is missing or its existence unknown (the audit cannot be trusted: a typo
//!   or missing credentials make builds look broken, or complete), and any
//!   plan covering more than `max_builds` builds is refused, saying how many
//!   of them retention retires.
//!
//! Just before deleting, each build is looked up again ([`recheck`]): a late
//! push may have completed it, or changed it, or made an expired build recent.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};

use super::audit::{
    evaluate, AgeSource, BuildReport, BuildSelection, LateImage, Report, RetiredImage, Status,
};
use super::retention::{kept_for_age, Verdict, Why};
use crate::duration::format_duration;
use crate::inventory::{Inventory, Repository, Tag};
use crate::manifest::Manifest;
use crate::platform::Platform;

/// What the user asked to prune.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneRequest {
    /// `--broken`: every broken build.
    pub broken: bool,
    /// `--expired`: every build the manifest's `retention` retires.
    pub expired: bool,
    /// `--build TAG`: these builds, whatever their status.
    pub builds: Vec<String>,
    /// `--max-builds N`: refuse a plan covering more builds.
    pub max_builds: usize,
    /// `--trust-declared-times`: an image-declared creation time proves a
    /// build's age (the user's images declare their build time, not a
    /// reproducible commit time).
    pub trust_declared_times: bool,
}

/// What earlier runs saw, for corroborating a build's age: build tag → the
/// time since which tagsweep has seen the build with exactly the contents
/// it has now (`BuildReport::contents`). `None` (no record kept between
/// runs) corroborates nothing.
pub type Unchanged = BTreeMap<String, DateTime<Utc>>;

/// Why a build is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The audit judged it broken (`--broken`).
    Broken,
    /// The user named it (`--build`).
    Named,
    /// The manifest's `retention` retires it (`--expired`).
    Expired,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Broken => "broken",
            Reason::Named => "named",
            Reason::Expired => "expired",
        }
    }
}

/// One tag to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTag {
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    /// The media type of the manifest `digest`, when the registry said it
    /// (recorded in the journal, for `restore`).
    pub media_type: Option<String>,
}

/// One build to delete, across the set.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBuild {
    pub tag: String,
    pub status: Status,
    pub reason: Reason,
    /// What the build held when planned (`BuildReport::contents`): the
    /// re-check deletes nothing if it changed since.
    pub contents: String,
    /// Every expected image is there: the build is planned as broken only
    /// because images lack required platforms, so the re-check must see
    /// platforms.
    pub platforms_only: bool,
    /// For an expired build: why retention retires it (`older than the 5
    /// newest complete builds of stream rocky`).
    pub retention: Option<String>,
    /// For an expired build: the newest complete builds of its stream that
    /// make it expire. The re-check confirms each is still complete before
    /// the build goes: were one deleted or broken since the plan, the
    /// stream could be left without the builds retention promises to keep.
    pub kept_by: Vec<String>,
    /// The expected images without the build's tag, as the audit found them
    /// (`BuildReport::missing`): what the plan's reason names.
    pub missing: Vec<String>,
    /// The images whose tag lacks required platforms, and which
    /// (`BuildReport::missing_platforms`).
    pub missing_platforms: BTreeMap<String, Vec<Platform>>,
    /// Its tags in the manifest's repositories, sorted by repository.
    pub tags: Vec<PlannedTag>,
}

/// Why a build that was asked for (or is broken) will not be pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Pushed to within `builds.grace`.
    InProgress,
    /// Matches `builds.protect`.
    Protected,
    /// No repository of the set carries the tag.
    NotCarried,
    /// The only missing images joined the set later, or may have left it
    /// earlier: a manifest change, as far as the registry can tell.
    OnlyManifestChanges {
        joined: Vec<LateImage>,
        left: Vec<RetiredImage>,
    },
    /// Nothing proves nobody is still pushing it (see the module documentation).
    AgeUnproven {
        source: AgeSource,
        grace: std::time::Duration,
        /// When a run that keeps the observations may delete it, if it is
        /// still unchanged; `None` when no observations are kept.
        eligible_at: Option<DateTime<Utc>>,
    },
}

impl SkipReason {
    /// Whether the skip is a finding the user must act on (exit 1): a
    /// manifest that needs fixing.
    pub fn is_finding(&self) -> bool {
        matches!(self, SkipReason::OnlyManifestChanges { .. })
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::InProgress => f.write_str("in progress: pushed within the grace period"),
            SkipReason::Protected => f.write_str("protected by builds.protect"),
            SkipReason::NotCarried => f.write_str("no repository of the set carries this tag"),
            SkipReason::OnlyManifestChanges { joined, left } => {
                let names: Vec<String> = joined
                    .iter()
                    .map(|l| match &l.first_build {
                        Some(first) => format!("{} (first in {first})", l.image),
                        None => format!("{} (in no build yet)", l.image),
                    })
                    .chain(
                        left.iter()
                            .map(|r| format!("{} (last in {})", r.image, r.last_build)),
                    )
                    .collect();
                let which = match (joined.is_empty(), left.is_empty()) {
                    (false, true) => "joined the set in a later build",
                    (true, false) => "left the set in an earlier build",
                    _ => "joined the set in a later build, or left it in an earlier one,",
                };
                write!(
                    f,
                    "only images that {which} are missing: {}. \
                     This looks like a manifest change, not a broken build: {}",
                    names.join(", "),
                    manifest_fix(joined, left)
                )
            }
            SkipReason::AgeUnproven {
                source,
                grace,
                eligible_at,
            } => {
                let (basis, opt_in) = match source {
                    AgeSource::Declared => (
                        "its age rests only on the times its images declare (a reproducible build declares its commit's time, not its push)",
                        "; or pass --trust-declared-times if your images' created time is their build time",
                    ),
                    _ => ("its push time is unknown (the registry does not say)", ""),
                };
                let grace = format_duration(*grace);
                match eligible_at {
                    Some(at) => write!(
                        f,
                        "{basis}: it is deleted once tagsweep has seen it unchanged for builds.grace ({grace}), \
                         by a run at or after {} that keeps the observations{opt_in}",
                        minute_after(*at).format("%Y-%m-%d %H:%M UTC")
                    ),
                    None => write!(
                        f,
                        "{basis}, and no observations are kept between runs (--no-cache): keep them \
                         (drop --no-cache, or give --state FILE) so that a run builds.grace ({grace}) later can \
                         corroborate it{opt_in}"
                    ),
                }
            }
        }
    }
}

/// `at`, rounded up to the minute: a time shown to the minute must not be
/// one at which the promise does not hold yet.
fn minute_after(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    let minute = TimeDelta::minutes(1);
    match at.duration_trunc(minute) {
        Ok(down) if down == at => at,
        Ok(down) => down + minute,
        Err(_) => at,
    }
}

/// "add `from: rocky-40` to debian-source-zun-compute", for each image
/// that joined the set, and `until:` for each that left it.
pub fn manifest_fix(joined: &[LateImage], left: &[RetiredImage]) -> String {
    let fixes: Vec<String> = joined
        .iter()
        .map(|l| match &l.first_build {
            Some(first) => format!("add `from: {first}` to {} in the manifest", l.image),
            None => format!(
                "give {} `from:` its first build in the manifest (or remove it until it is pushed)",
                l.image
            ),
        })
        .chain(left.iter().map(|r| {
            format!(
                "add `until: {}` to {} in the manifest if it left the set",
                r.last_build, r.image
            )
        }))
        .collect();
    format!(
        "{}; if those builds really lack it by accident, prune them by name with --build",
        fixes.join("; ")
    )
}

/// A build that was asked for (or is broken) but will not be pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedBuild {
    pub tag: String,
    pub reason: SkipReason,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PrunePlan {
    pub registry: String,
    pub namespace: String,
    pub builds: Vec<PlannedBuild>,
    pub skipped: Vec<SkippedBuild>,
    /// Repositories outside the manifest that carry a planned tag: left alone.
    pub untouched: Vec<PlannedTag>,
}

impl PrunePlan {
    pub fn tag_count(&self) -> usize {
        self.builds.iter().map(|b| b.tags.len()).sum()
    }

    pub fn repository_count(&self) -> usize {
        self.builds
            .iter()
            .flat_map(|b| b.tags.iter().map(|t| t.repository.as_str()))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Whether a skipped build needs the user to act (exit 1).
    pub fn has_findings(&self) -> bool {
        self.skipped.iter().any(|s| s.reason.is_finding())
    }
}

/// Why no plan can be made: the caller refuses to delete anything (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "refusing to prune broken or expired builds: {} expected repositor{} missing ({}). \
         A typo in the manifest, or private repositories seen without credentials, make builds look broken, or complete; \
         fix the manifest or log in, then run again",
        .0.len(), if .0.len() == 1 { "y is" } else { "ies are" }, .0.join(", ")
    )]
    MissingRepositories(Vec<String>),
    #[error(
        "refusing to prune broken or expired builds: the registry neither lists nor denies {} expected repositor{} ({}): \
         it answers no tags for {} and does not let us read its catalog, so a typo cannot be told from an empty \
         repository. Check the names in the manifest, or use credentials that may read the catalog, then run again",
        .0.len(), if .0.len() == 1 { "y" } else { "ies" }, .0.join(", "), if .0.len() == 1 { "it" } else { "them" }
    )]
    UnverifiedRepositories(Vec<String>),
    #[error(
        "refusing to prune {planned} builds: more than --max-builds {max}{}. \
         A manifest mistake can make every build look broken; check the plan with --dry-run, \
         then raise --max-builds if it is right",
        retired(*.expired)
    )]
    TooManyBuilds {
        planned: usize,
        max: usize,
        /// How many of them the manifest's `retention` retires.
        expired: usize,
    },
    #[error(
        "refusing to prune --build {0} together with --expired: {0} is one of the newest complete builds \
         that retention keeps, and the builds it retires are judged against it, so deleting both could leave \
         its stream without the complete builds retention promises; run --build and --expired separately"
    )]
    NamedKeptBuild(String),
    #[error("nothing to prune: give --broken, --expired, --build TAG, or several")]
    NothingAsked,
    #[error(
        "--expired retires the builds the manifest's 'retention' says are no longer supported, \
         and {0} has none: add one, e.g. retention: {{keep: 5}} (see the README), then run again"
    )]
    NoRetention(String),
}

/// "; retention retires 40 of them …", for [`Refusal::TooManyBuilds`].
fn retired(expired: usize) -> String {
    match expired {
        0 => String::new(),
        n => format!(
            "; the manifest's retention retires {n} of them (a first --expired run on a namespace \
             with many old builds retires them all at once)"
        ),
    }
}

/// Whether `request` can be planned with `manifest` at all: something is
/// asked, and `--expired` has a retention policy to apply. [`plan`] checks
/// it first; a caller may check it before reading the registry.
pub fn check_request(manifest: &Manifest, request: &PruneRequest) -> Result<(), Refusal> {
    if !request.broken && !request.expired && request.builds.is_empty() {
        return Err(Refusal::NothingAsked);
    }
    if request.expired && manifest.retention.is_none() {
        return Err(Refusal::NoRetention(manifest.source.clone()));
    }
    Ok(())
}

/// Why a build the audit judged broken may not be deleted by `--broken`
/// (see the module documentation); `None`: it may.
pub fn unproven(
    build: &BuildReport,
    report: &Report,
    grace: std::time::Duration,
    unchanged: Option<&Unchanged>,
    trust_declared_times: bool,
) -> Option<SkipReason> {
    if build.missing_platforms.is_empty() && !build.missing.is_empty() {
        let (mut joined, mut left) = (Vec::new(), Vec::new());
        let explained = build.missing.iter().all(|m| {
            if let Some(l) = report
                .late_image(m)
                .filter(|l| older_than_first(&build.tag, l))
            {
                joined.push(l.clone());
                true
            } else if let Some(r) = report
                .retired_image(m)
                .filter(|r| super::natural_cmp(&build.tag, &r.last_build).is_gt())
            {
                left.push(r.clone());
                true
            } else {
                false
            }
        });
        if explained {
            return Some(SkipReason::OnlyManifestChanges { joined, left });
        }
    }
    match build.age {
        AgeSource::Registry => None,
        AgeSource::Declared if trust_declared_times => None,
        source => {
            let since = unchanged.and_then(|u| u.get(&build.tag)).copied();
            let window = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
            match since {
                Some(since) if report.as_of.signed_duration_since(since) >= window => None,
                _ => Some(SkipReason::AgeUnproven {
                    source,
                    grace,
                    eligible_at: unchanged.map(|_| since.unwrap_or(report.as_of) + window),
                }),
            }
        }
    }
}

/// Whether `build` comes before the late image's first build.
fn older_than_first(build: &str, late: &LateImage) -> bool {
    late.first_build
        .as_deref()
        .is_none_or(|first| super::natural_cmp(build, first).is_lt())
}

/// Computes what `request` deletes (see the module documentation).
/// `unchanged`: what earlier runs saw (`None` when nothing is kept).
pub fn plan(
    manifest: &Manifest,
    inventory: &Inventory,
    report: &Report,
    request: &PruneRequest,
    unchanged: Option<&Unchanged>,
) -> Result<PrunePlan, Refusal> {
    check_request(manifest, request)?;
    let judged = request.broken || request.expired;
    if judged && !report.missing_repositories.is_empty() {
        return Err(Refusal::MissingRepositories(
            report.missing_repositories.clone(),
        ));
    }
    if judged && !report.unverified_repositories.is_empty() {
        return Err(Refusal::UnverifiedRepositories(
            report.unverified_repositories.clone(),
        ));
    }
    if request.expired {
        if let Some(kept) = report.builds.iter().find(|b| {
            request.builds.contains(&b.tag)
                && matches!(
                    b.retention.as_ref().map(|v| v.why),
                    Some(Why::Newest { .. })
                )
        }) {
            return Err(Refusal::NamedKeptBuild(kept.tag.clone()));
        }
    }
    let mut chosen: Vec<(&BuildReport, Reason)> = Vec::new();
    let mut skipped = Vec::new();
    for build in &report.builds {
        let named = request.builds.contains(&build.tag);
        let broken = request.broken && build.status == Status::Broken;
        let expired = request.expired && build.retention.as_ref().is_some_and(Verdict::is_expired);
        if (named || broken || expired) && manifest.builds.is_protected(&build.tag) {
            skipped.push(SkippedBuild {
                tag: build.tag.clone(),
                reason: SkipReason::Protected,
            });
        } else if named {
            chosen.push((build, Reason::Named));
        } else if broken {
            match unproven(
                build,
                report,
                manifest.builds.grace,
                unchanged,
                request.trust_declared_times,
            ) {
                None => chosen.push((build, Reason::Broken)),
                // Not proven broken yet, but retired by retention: it goes
                // for that, on retention's own proof.
                Some(_) if expired => chosen.push((build, Reason::Expired)),
                Some(reason) => skipped.push(SkippedBuild {
                    tag: build.tag.clone(),
                    reason,
                }),
            }
        } else if expired {
            chosen.push((build, Reason::Expired));
        } else if request.broken && build.status == Status::InProgress {
            skipped.push(SkippedBuild {
                tag: build.tag.clone(),
                reason: SkipReason::InProgress,
            });
        }
    }
    for name in &request.builds {
        if !report.builds.iter().any(|b| b.tag == *name) {
            skipped.push(SkippedBuild {
                tag: name.clone(),
                reason: SkipReason::NotCarried,
            });
        }
    }

    // Where each chosen build's tag is, in one pass over the inventory: an
    // --expired plan may cover hundreds of builds in hundreds of repositories.
    let wanted: HashSet<&str> = chosen.iter().map(|(b, _)| b.tag.as_str()).collect();
    let mut carriers: HashMap<&str, Vec<(&str, &Tag)>> = HashMap::new();
    for (repo_name, repo) in &inventory.repositories {
        for found in repo.tags.iter().flatten() {
            if !wanted.contains(found.name.as_str()) {
                continue;
            }
            let here = carriers.entry(found.name.as_str()).or_default();
            // The first tag of that name in each repository.
            if here.last().is_none_or(|(r, _)| *r != repo_name.as_str()) {
                here.push((repo_name.as_str(), found));
            }
        }
    }
    let expected: HashSet<&str> = manifest.images.iter().map(|i| i.name.as_str()).collect();
    let mut builds = Vec::new();
    let mut untouched = Vec::new();
    for (build, reason) in chosen {
        let tag = build.tag.as_str();
        let mut tags = Vec::new();
        // In repository order (the inventory's).
        for &(repo_name, found) in carriers.get(tag).map_or(&[][..], Vec::as_slice) {
            let planned = PlannedTag {
                repository: repo_name.to_string(),
                tag: tag.to_string(),
                digest: found.digest.clone(),
                media_type: found.media_type.as_deref().map(str::to_string),
            };
            if expected.contains(repo_name) {
                tags.push(planned);
            } else {
                untouched.push(planned);
            }
        }
        if tags.is_empty() {
            skipped.push(SkippedBuild {
                tag: tag.to_string(),
                reason: SkipReason::NotCarried,
            });
            continue;
        }
        builds.push(PlannedBuild {
            tag: tag.to_string(),
            status: build.status,
            reason,
            contents: build.contents.clone(),
            platforms_only: reason == Reason::Broken
                && build.missing.is_empty()
                && !build.missing_platforms.is_empty(),
            retention: match reason {
                Reason::Expired => build.retention.as_ref().map(ToString::to_string),
                _ => None,
            },
            kept_by: match reason {
                Reason::Expired => kept_by(manifest, report, &build.tag),
                _ => Vec::new(),
            },
            missing: build.missing.clone(),
            missing_platforms: build.missing_platforms.clone(),
            tags,
        });
    }
    if builds.len() > request.max_builds {
        let expired = report
            .builds
            .iter()
            .filter(|b| b.retention.as_ref().is_some_and(Verdict::is_expired))
            .filter(|b| builds.iter().any(|planned| planned.tag == b.tag))
            .count();
        return Err(Refusal::TooManyBuilds {
            planned: builds.len(),
            max: request.max_builds,
            expired: if request.expired { expired } else { 0 },
        });
    }
    Ok(PrunePlan {
        registry: report.registry.clone(),
        namespace: report.namespace.clone(),
        builds,
        skipped,
        untouched,
    })
}

/// The builds that retention keeps as the newest complete ones of `tag`'s
/// stream (what makes `tag` expire).
fn kept_by(manifest: &Manifest, report: &Report, tag: &str) -> Vec<String> {
    let stream = manifest.builds.stream(tag);
    report
        .builds
        .iter()
        .filter(|b| manifest.builds.stream(&b.tag) == stream)
        .filter(|b| {
            matches!(
                b.retention.as_ref().map(|v| v.why),
                Some(Why::Newest { .. })
            )
        })
        .map(|b| b.tag.clone())
        .collect()
}

/// What a fresh look at a build says, just before its deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// Still as planned: go ahead.
    Proceed,
    /// Do not delete it, for this reason.
    Skip(String),
}

/// Judges a planned build again from fresh look-ups of its tag in every
/// expected repository (`fresh`: repository → the tag, or `None` if absent).
/// A `--broken` build that is now complete or in progress, or whose
/// contents changed since it was planned, is skipped; so is an expired build
/// that is now in progress, changed, or (with `max_age`) no longer proven
/// old enough. A named build always proceeds.
///
/// An expired build is judged on its own fresh look: the builds that
/// outrank it are not looked up again.
pub fn recheck(
    manifest: &Manifest,
    build: &PlannedBuild,
    fresh: &[(String, Option<Tag>)],
    now: DateTime<Utc>,
) -> Recheck {
    if build.reason == Reason::Named {
        return Recheck::Proceed;
    }
    let Some(seen) = judge_fresh(manifest, &build.tag, fresh, now) else {
        return Recheck::Proceed;
    };
    if build.reason == Reason::Expired {
        return recheck_expired(manifest, build, &seen, now);
    }
    match seen.status {
        Status::Complete => {
            Recheck::Skip("complete now: the missing images were pushed since the audit".into())
        }
        Status::InProgress => Recheck::Skip(IN_PROGRESS_NOW.into()),
        Status::Broken if seen.contents != build.contents => Recheck::Skip(CHANGED.into()),
        Status::Broken => Recheck::Proceed,
    }
}

/// Why a re-check skips a build pushed to since the plan.
const IN_PROGRESS_NOW: &str = "in progress now: pushed to since the audit";
/// Why a re-check skips a build whose contents changed since the plan.
const CHANGED: &str =
    "changed since the audit (a tag was pushed, re-pushed or deleted); judged again on the next run";

/// A fresh look at one build (repository → its tag, or `None` where it is
/// absent) as an inventory of those repositories.
pub fn fresh_inventory(namespace: &str, fresh: &[(String, Option<Tag>)]) -> Inventory {
    let mut inventory = Inventory::new("recheck", namespace);
    for (repo, tag) in fresh {
        inventory.repositories.insert(
            repo.clone(),
            Repository {
                tags: Some(tag.iter().cloned().collect()),
                ..Repository::default()
            },
        );
    }
    inventory
}

/// How the audit judges build `tag` from a fresh look at it.
pub fn judge_fresh(
    manifest: &Manifest,
    tag: &str,
    fresh: &[(String, Option<Tag>)],
    now: DateTime<Utc>,
) -> Option<BuildReport> {
    let inventory = fresh_inventory(&manifest.namespace, fresh);
    let selection = BuildSelection::Named(vec![tag.to_string()]);
    evaluate(manifest, &inventory, now, &selection)
        .builds
        .into_iter()
        .next()
}

/// [`recheck`] for a build retention retires: `seen` is what a fresh look
/// shows of it.
fn recheck_expired(
    manifest: &Manifest,
    build: &PlannedBuild,
    seen: &BuildReport,
    now: DateTime<Utc>,
) -> Recheck {
    if seen.status == Status::InProgress {
        return Recheck::Skip(IN_PROGRESS_NOW.into());
    }
    if seen.contents != build.contents {
        return Recheck::Skip(CHANGED.into());
    }
    let Some(policy) = &manifest.retention else {
        return Recheck::Proceed;
    };
    match kept_for_age(policy.max_age, seen, now) {
        None => Recheck::Proceed,
        Some(why) => {
            let verdict = Verdict {
                stream: manifest.builds.stream(&build.tag).map(str::to_string),
                keep: policy.keep,
                max_age: policy.max_age,
                why,
            };
            Recheck::Skip(format!("no longer expired: {verdict}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_str;

    fn now() -> DateTime<Utc> {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }

    fn manifest() -> Manifest {
        parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^(rocky-\\d+|release-keep)$'\n  grace: 2h\n  protect: ['^release-keep$']\nimages: [a-base, a-nova, a-glance]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn tag(name: &str, hours_ago: i64) -> Tag {
        Tag {
            name: name.into(),
            digest: Some(format!("sha256:{name}")),
            pushed: Some(now() - chrono::Duration::hours(hours_ago)),
            created: None,
            platforms: None,
            media_type: None,
            placeholder: false,
        }
    }

    /// rocky-1 complete, rocky-2 broken (a-glance missing), rocky-3 in progress,
    /// release-keep broken but protected, a-extra (unexpected) carries rocky-2.
    fn inventory() -> Inventory {
        let mut inv = Inventory::new("docker.io", "linaro");
        let repos: [(&str, Vec<Tag>); 4] = [
            (
                "a-base",
                vec![
                    tag("rocky-1", 50),
                    tag("rocky-2", 30),
                    tag("rocky-3", 1),
                    tag("release-keep", 40),
                    tag("latest", 50),
                ],
            ),
            (
                "a-nova",
                vec![
                    tag("rocky-1", 50),
                    tag("rocky-2", 30),
                    tag("release-keep", 40),
                ],
            ),
            ("a-glance", vec![tag("rocky-1", 50)]),
            ("a-extra", vec![tag("rocky-2", 30)]),
        ];
        for (name, tags) in repos {
            inv.repositories.insert(
                name.into(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        inv
    }

    fn plan_for(request: PruneRequest) -> Result<PrunePlan, Refusal> {
        let (m, inv) = (manifest(), inventory());
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        plan(&m, &inv, &report, &request, None)
    }

    fn broken() -> PruneRequest {
        PruneRequest {
            broken: true,
            expired: false,
            builds: vec![],
            max_builds: 5,
            trust_declared_times: false,
        }
    }

    #[test]
    fn broken_builds_only_in_the_sets_repositories() {
        let p = plan_for(broken()).unwrap();
        let planned: Vec<_> = p.builds.iter().map(|b| b.tag.as_str()).collect();
        assert_eq!(planned, ["rocky-2"]);
        let tags: Vec<_> = p.builds[0]
            .tags
            .iter()
            .map(|t| t.repository.as_str())
            .collect();
        assert_eq!(tags, ["a-base", "a-nova"]);
        assert_eq!(
            p.builds[0].tags[0].digest.as_deref(),
            Some("sha256:rocky-2")
        );
        assert_eq!(p.untouched.len(), 1);
        assert_eq!(p.untouched[0].repository, "a-extra");
        let skipped: Vec<_> = p
            .skipped
            .iter()
            .map(|s| (s.tag.as_str(), s.reason.to_string()))
            .collect();
        assert!(skipped.contains(&(
            "rocky-3",
            "in progress: pushed within the grace period".to_string()
        )));
        assert!(skipped.contains(&("release-keep", "protected by builds.protect".to_string())));
        assert_eq!((p.tag_count(), p.repository_count()), (2, 2));
    }

    #[test]
    fn named_builds_whatever_their_status_but_never_protected_ones() {
        let p = plan_for(PruneRequest {
            broken: false,
            expired: false,
            builds: vec!["rocky-1".into(), "release-keep".into(), "rocky-9".into()],
            max_builds: 5,
            trust_declared_times: false,
        })
        .unwrap();
        assert_eq!(p.builds.len(), 1);
        assert_eq!(
            (
                p.builds[0].tag.as_str(),
                p.builds[0].reason,
                p.builds[0].status
            ),
            ("rocky-1", Reason::Named, Status::Complete)
        );
        assert_eq!(p.builds[0].tags.len(), 3);
        let skipped: Vec<_> = p.skipped.iter().map(|s| s.tag.as_str()).collect();
        assert!(
            skipped.contains(&"release-keep") && skipped.contains(&"rocky-9"),
            "{skipped:?}"
        );
    }

    #[test]
    fn broken_and_named_combine_without_duplicates() {
        let p = plan_for(PruneRequest {
            broken: true,
            expired: false,
            builds: vec!["rocky-2".into(), "rocky-1".into()],
            max_builds: 5,
            trust_declared_times: false,
        })
        .unwrap();
        let planned: Vec<_> = p
            .builds
            .iter()
            .map(|b| (b.tag.as_str(), b.reason))
            .collect();
        assert_eq!(
            planned,
            [("rocky-2", Reason::Named), ("rocky-1", Reason::Named)]
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            plan_for(PruneRequest {
                max_builds: 5,
                ..Default::default()
            }),
            Err(Refusal::NothingAsked)
        );
        assert_eq!(
            plan_for(PruneRequest {
                broken: false,
                expired: false,
                builds: vec!["rocky-1".into(), "rocky-2".into()],
                max_builds: 1,
                trust_declared_times: false,
            }),
            Err(Refusal::TooManyBuilds {
                planned: 2,
                max: 1,
                expired: 0
            })
        );
        let m = manifest();
        let mut inv = inventory();
        inv.repositories.remove("a-glance");
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let refusal = plan(&m, &inv, &report, &broken(), None).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::MissingRepositories(vec!["a-glance".into()])
        );
        assert!(refusal
            .to_string()
            .contains("1 expected repository is missing (a-glance)"));
        // Named builds do not depend on the audit being complete.
        let named = PruneRequest {
            broken: false,
            expired: false,
            builds: vec!["rocky-2".into()],
            max_builds: 5,
            trust_declared_times: false,
        };
        assert!(plan(&m, &inv, &report, &named, None).is_ok());
    }

    #[test]
    fn recheck_skips_builds_completed_or_resumed_since_the_audit() {
        let m = manifest();
        let p = plan_for(broken()).unwrap();
        let b = &p.builds[0];
        let still = vec![
            ("a-base".to_string(), Some(tag("rocky-2", 30))),
            ("a-nova".to_string(), Some(tag("rocky-2", 30))),
            ("a-glance".to_string(), None),
        ];
        assert_eq!(recheck(&m, b, &still, now()), Recheck::Proceed);
        let completed = vec![
            ("a-base".to_string(), Some(tag("rocky-2", 30))),
            ("a-nova".to_string(), Some(tag("rocky-2", 30))),
            ("a-glance".to_string(), Some(tag("rocky-2", 0))),
        ];
        assert!(
            matches!(recheck(&m, b, &completed, now()), Recheck::Skip(r) if r.starts_with("complete now"))
        );
        let resumed = vec![
            ("a-base".to_string(), Some(tag("rocky-2", 0))),
            ("a-nova".to_string(), Some(tag("rocky-2", 30))),
            ("a-glance".to_string(), None),
        ];
        assert!(
            matches!(recheck(&m, b, &resumed, now()), Recheck::Skip(r) if r.starts_with("in progress now"))
        );
        let named = PlannedBuild {
            reason: Reason::Named,
            ..b.clone()
        };
        assert_eq!(recheck(&m, &named, &completed, now()), Recheck::Proceed);
    }

    /// rocky-1 and rocky-2 lack a-glance (it joined at rocky-3); rocky-4
    /// lacks a-nova (broken); rocky-5 is complete.
    fn late_inventory() -> Inventory {
        let mut inv = Inventory::new("docker.io", "linaro");
        let tags = |names: &[&str]| names.iter().map(|n| tag(n, 50)).collect::<Vec<_>>();
        for (name, tags) in [
            (
                "a-base",
                tags(&["rocky-1", "rocky-2", "rocky-3", "rocky-4", "rocky-5"]),
            ),
            (
                "a-nova",
                tags(&["rocky-1", "rocky-2", "rocky-3", "rocky-5"]),
            ),
            ("a-glance", tags(&["rocky-3", "rocky-4", "rocky-5"])),
        ] {
            inv.repositories.insert(
                name.into(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        inv
    }

    #[test]
    fn builds_that_only_lack_late_images_are_skipped_as_a_finding() {
        let (m, inv) = (manifest(), late_inventory());
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let p = plan(&m, &inv, &report, &broken(), None).unwrap();
        let planned: Vec<_> = p.builds.iter().map(|b| b.tag.as_str()).collect();
        assert_eq!(planned, ["rocky-4"]);
        let late: Vec<_> = p
            .skipped
            .iter()
            .filter(|s| matches!(s.reason, SkipReason::OnlyManifestChanges { .. }))
            .map(|s| s.tag.as_str())
            .collect();
        assert_eq!(late.len(), 2);
        assert!(late.contains(&"rocky-1") && late.contains(&"rocky-2"));
        assert!(p.has_findings());
        let why = p.skipped[0].reason.to_string();
        assert!(
            why.contains("a-glance (first in rocky-3)")
                && why.contains("add `from: rocky-3` to a-glance"),
            "{why}"
        );
    }

    fn declared(name: &str, hours_ago: i64) -> Tag {
        Tag {
            pushed: None,
            created: Some(now() - chrono::Duration::hours(hours_ago)),
            ..tag(name, 0)
        }
    }

    #[test]
    fn a_declared_age_is_no_proof_unless_corroborated() {
        let m = manifest();
        let mut inv = Inventory::new("http://127.0.0.1:5000", "linaro");
        for (name, tags) in [
            (
                "a-base",
                vec![declared("rocky-2", 72), declared("rocky-1", 72)],
            ),
            (
                "a-nova",
                vec![declared("rocky-2", 72), declared("rocky-1", 72)],
            ),
            ("a-glance", vec![declared("rocky-1", 72)]),
        ] {
            inv.repositories.insert(
                name.into(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let b2 = report.builds.iter().find(|b| b.tag == "rocky-2").unwrap();
        assert_eq!((b2.status, b2.age), (Status::Broken, AgeSource::Declared));

        // First run, observations kept: skipped, eligible one grace later.
        let nothing_seen = Unchanged::new();
        let p = plan(&m, &inv, &report, &broken(), Some(&nothing_seen)).unwrap();
        assert!(p.builds.is_empty());
        let skip = p.skipped.iter().find(|s| s.tag == "rocky-2").unwrap();
        assert_eq!(
            skip.reason,
            SkipReason::AgeUnproven {
                source: AgeSource::Declared,
                grace: m.builds.grace,
                eligible_at: Some(now() + chrono::Duration::hours(2)),
            }
        );
        assert!(skip.reason.to_string().contains("2026-11-20 14:00 UTC"));
        assert!(!p.has_findings(), "waiting is not a finding");

        // Seen unchanged for less than grace: still waiting.
        let seen = |hours: i64| -> Unchanged {
            [(
                "rocky-2".to_string(),
                now() - chrono::Duration::hours(hours),
            )]
            .into()
        };
        let p = plan(&m, &inv, &report, &broken(), Some(&seen(1))).unwrap();
        assert!(p.builds.is_empty());
        // Seen unchanged for grace: proven.
        let p = plan(&m, &inv, &report, &broken(), Some(&seen(2))).unwrap();
        assert_eq!(p.builds.len(), 1);
        // Nothing kept: never eligible without the opt-in, and it says how.
        let p = plan(&m, &inv, &report, &broken(), None).unwrap();
        let why = p.skipped[0].reason.to_string();
        assert!(
            why.contains("--state FILE") && why.contains("--trust-declared-times"),
            "{why}"
        );
        // The opt-in.
        let trusting = PruneRequest {
            trust_declared_times: true,
            ..broken()
        };
        let p = plan(&m, &inv, &report, &trusting, None).unwrap();
        assert_eq!(p.builds.len(), 1);
    }

    #[test]
    fn an_unknown_age_needs_an_observation_even_with_the_opt_in() {
        let m = manifest();
        let mut inv = inventory();
        for repo in inv.repositories.values_mut() {
            // Without push times rocky-3 is no longer in progress; leave it
            // out, so a-glance is missing from one finished build only.
            if let Some(tags) = repo.tags.as_mut() {
                tags.retain(|t| t.name != "rocky-3");
            }
            for t in repo.tags.iter_mut().flatten() {
                t.pushed = None;
            }
        }
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let trusting = PruneRequest {
            trust_declared_times: true,
            ..broken()
        };
        let p = plan(&m, &inv, &report, &trusting, Some(&Unchanged::new())).unwrap();
        let planned: Vec<_> = p.builds.iter().map(|b| b.tag.as_str()).collect();
        assert!(!planned.contains(&"rocky-2"), "{planned:?}");
        let why = p
            .skipped
            .iter()
            .find(|s| s.tag == "rocky-2")
            .map(|s| s.reason.to_string())
            .unwrap();
        assert!(why.contains("push time is unknown"), "{why}");
        assert!(
            !why.contains("--trust-declared-times"),
            "the opt-in cannot help here: {why}"
        );
    }

    #[test]
    fn an_eligible_time_is_never_shown_before_it_holds() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            minute_after(at("2026-11-20T10:42:12Z")),
            at("2026-11-20T10:43:00Z")
        );
        assert_eq!(
            minute_after(at("2026-11-20T10:42:00Z")),
            at("2026-11-20T10:42:00Z")
        );
    }

    #[test]
    fn unconfirmed_repositories_refuse_a_broken_prune() {
        let m = manifest();
        let mut inv = inventory();
        inv.repositories.get_mut("a-glance").unwrap().unconfirmed = true;
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let refusal = plan(&m, &inv, &report, &broken(), None).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::UnverifiedRepositories(vec!["a-glance".into()])
        );
        assert!(refusal.to_string().contains("neither lists nor denies"));
    }

    #[test]
    fn recheck_skips_a_build_whose_contents_changed() {
        let m = manifest();
        let p = plan_for(broken()).unwrap();
        let b = &p.builds[0];
        let mut repushed = tag("rocky-2", 30);
        repushed.digest = Some("sha256:other".into());
        let changed = vec![
            ("a-base".to_string(), Some(repushed)),
            ("a-nova".to_string(), Some(tag("rocky-2", 30))),
            ("a-glance".to_string(), None),
        ];
        assert!(
            matches!(recheck(&m, b, &changed, now()), Recheck::Skip(r) if r.starts_with("changed since the audit"))
        );
    }

    /// Two streams, keep 2; rocky-1 protected. `max_age` is added by `extra`.
    fn retention_manifest(extra: &str) -> Manifest {
        parse_str(
            "m.yaml",
            &format!(
                "namespace: linaro\nbuilds:\n  pattern: '^(?P<stream>rocky|stein)-\\d+$'\n  grace: 2h\n  protect: ['^rocky-1$']\nretention: {{keep: 2{extra}}}\nimages: [a-base, a-nova]\n"
            ),
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    /// rocky-1 … rocky-5 complete, pushed 100 … 60 hours ago (rocky-1
    /// protected); stein-1 broken (a-nova lacks it; 95 hours ago), stein-2
    /// and stein-3 complete; `declared_stein_1`: stein-1's time is only
    /// declared.
    fn streams_inventory(declared_stein_1: bool) -> Inventory {
        let mut inv = Inventory::new("docker.io", "linaro");
        let mut stein_1 = tag("stein-1", 95);
        if declared_stein_1 {
            stein_1 = declared("stein-1", 95);
        }
        let complete =
            |names: &[(&str, i64)]| -> Vec<Tag> { names.iter().map(|&(n, h)| tag(n, h)).collect() };
        let builds = [
            ("rocky-1", 100),
            ("rocky-2", 90),
            ("rocky-3", 80),
            ("rocky-4", 70),
            ("rocky-5", 60),
            ("stein-2", 50),
            ("stein-3", 40),
        ];
        let mut base = complete(&builds);
        base.push(stein_1);
        for (name, tags) in [("a-base", base), ("a-nova", complete(&builds))] {
            inv.repositories.insert(
                name.into(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        inv
    }

    fn expired() -> PruneRequest {
        PruneRequest {
            expired: true,
            max_builds: 5,
            ..PruneRequest::default()
        }
    }

    fn planned(p: &PrunePlan) -> Vec<(&str, Reason)> {
        p.builds
            .iter()
            .map(|b| (b.tag.as_str(), b.reason))
            .collect()
    }

    #[test]
    fn expired_builds_of_every_stream_and_never_a_protected_one() {
        let (m, inv) = (retention_manifest(""), streams_inventory(false));
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let p = plan(&m, &inv, &report, &expired(), None).unwrap();
        // rocky-1 is older than the two kept (rocky-5, rocky-4) but protected;
        // stein-1 (broken) is older than stein-3 and stein-2.
        assert_eq!(
            planned(&p),
            [
                ("rocky-3", Reason::Expired),
                ("rocky-2", Reason::Expired),
                ("stein-1", Reason::Expired)
            ]
        );
        assert_eq!(
            p.builds[0].retention.as_deref(),
            Some("older than the 2 newest complete builds of stream rocky")
        );
        assert_eq!(p.builds[2].status, Status::Broken);
        assert_eq!(p.builds[2].tags.len(), 1, "stein-1 is only in a-base");
        assert!(!p.builds[2].platforms_only);
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        assert!(p.builds.iter().all(|b| b.tag != "rocky-1"));
    }

    #[test]
    fn broken_and_expired_in_one_plan() {
        let (m, inv) = (retention_manifest(""), streams_inventory(false));
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let both = PruneRequest {
            broken: true,
            ..expired()
        };
        let p = plan(&m, &inv, &report, &both, None).unwrap();
        // stein-1 is both: it goes once, as broken.
        assert_eq!(
            planned(&p),
            [
                ("rocky-3", Reason::Expired),
                ("rocky-2", Reason::Expired),
                ("stein-1", Reason::Broken)
            ]
        );
        assert_eq!(p.builds[2].retention, None);

        // stein-1's age is only declared: --broken alone cannot prove it;
        // retention (without max_age) ranks it by its tag, and retires it.
        let inv = streams_inventory(true);
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let alone = plan(&m, &inv, &report, &broken(), None).unwrap();
        assert!(alone.builds.is_empty());
        assert!(matches!(
            alone.skipped[0].reason,
            SkipReason::AgeUnproven { .. }
        ));
        let p = plan(&m, &inv, &report, &both, None).unwrap();
        assert!(planned(&p).contains(&("stein-1", Reason::Expired)));
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);

        // With max_age, the declared age is no proof for retention either.
        let m = retention_manifest(", max_age: 1d");
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let p = plan(&m, &inv, &report, &both, None).unwrap();
        assert!(!planned(&p).iter().any(|(tag, _)| *tag == "stein-1"));
        assert!(matches!(
            p.skipped[0].reason,
            SkipReason::AgeUnproven { .. }
        ));
    }

    #[test]
    fn expired_refusals() {
        // No retention in the manifest.
        let m = manifest();
        let refusal = check_request(&m, &expired()).unwrap_err();
        assert_eq!(refusal, Refusal::NoRetention("m.yaml".into()));
        assert!(
            refusal.to_string().contains("retention: {keep: 5}"),
            "{refusal}"
        );
        let report = evaluate(&m, &inventory(), now(), &BuildSelection::All);
        assert_eq!(
            plan(&m, &inventory(), &report, &expired(), None),
            Err(Refusal::NoRetention("m.yaml".into()))
        );

        // A missing repository makes builds look complete: refused.
        let m = retention_manifest("");
        let mut inv = streams_inventory(false);
        inv.repositories.remove("a-nova");
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(
            plan(&m, &inv, &report, &expired(), None),
            Err(Refusal::MissingRepositories(vec!["a-nova".into()]))
        );

        // More builds than --max-builds: the refusal says how many retention retires.
        let inv = streams_inventory(false);
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let capped = PruneRequest {
            max_builds: 2,
            ..expired()
        };
        let refusal = plan(&m, &inv, &report, &capped, None).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::TooManyBuilds {
                planned: 3,
                max: 2,
                expired: 3
            }
        );
        assert!(
            refusal.to_string().starts_with(
                "refusing to prune 3 builds: more than --max-builds 2; the manifest's retention retires 3 of them"
            ),
            "{refusal}"
        );

        // Naming a build that retention keeps, with --expired: the builds it
        // retires are judged against it, so both cannot go in one run.
        let named = PruneRequest {
            builds: vec!["rocky-5".into()],
            ..expired()
        };
        let refusal = plan(&m, &inv, &report, &named, None).unwrap_err();
        assert_eq!(refusal, Refusal::NamedKeptBuild("rocky-5".into()));
        assert!(refusal
            .to_string()
            .contains("run --build and --expired separately"));
    }

    #[test]
    fn recheck_skips_an_expired_build_that_is_no_longer_expired() {
        let m = retention_manifest(", max_age: 3d");
        let inv = streams_inventory(false);
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let p = plan(&m, &inv, &report, &expired(), None).unwrap();
        assert_eq!(
            planned(&p),
            [
                ("rocky-3", Reason::Expired),
                ("rocky-2", Reason::Expired),
                ("stein-1", Reason::Expired)
            ]
        );
        let b = &p.builds[0];
        let fresh = |base: Tag, nova: Option<Tag>| {
            vec![
                ("a-base".to_string(), Some(base)),
                ("a-nova".to_string(), nova),
            ]
        };
        assert_eq!(
            recheck(
                &m,
                b,
                &fresh(tag("rocky-3", 80), Some(tag("rocky-3", 80))),
                now()
            ),
            Recheck::Proceed
        );
        // The same images pushed again: recent now.
        assert_eq!(
            recheck(&m, b, &fresh(tag("rocky-3", 1), Some(tag("rocky-3", 80))), now()),
            Recheck::Skip(
                "no longer expired: older than the 2 newest complete builds of stream rocky, but pushed within max_age (3d)"
                    .into()
            )
        );
        // Being pushed again, an image deleted meanwhile: in progress.
        assert!(matches!(
            recheck(&m, b, &fresh(tag("rocky-3", 0), None), now()),
            Recheck::Skip(r) if r.starts_with("in progress now")
        ));
        // Another digest: changed.
        let mut other = tag("rocky-3", 80);
        other.digest = Some("sha256:other".into());
        assert!(matches!(
            recheck(&m, b, &fresh(other, Some(tag("rocky-3", 80))), now()),
            Recheck::Skip(r) if r.starts_with("changed since the audit")
        ));
        // Gone from one repository (an interrupted run, someone else): changed.
        assert!(matches!(
            recheck(&m, b, &fresh(tag("rocky-3", 80), None), now()),
            Recheck::Skip(r) if r.starts_with("changed since the audit")
        ));
    }
}
