//! The completeness audit: which builds are complete, broken or still being pushed.
//!
//! A *build* is a tag that matches `builds.pattern`, pushed to every image of
//! the set. For each build we compute the images expected in it (per-image
//! `builds`, `from` and `until` applied), the ones present, the ones missing,
//! the platforms missing from present images, and the newest push. Then:
//!
//! * `complete`: nothing missing;
//! * `in_progress`: something missing, but the newest push is younger than
//!   `builds.grace` — CI may still be pushing, so it is never called broken;
//! * `broken`: something missing, and the build is older than that (or its
//!   push time is unknown, so grace cannot apply).
//!
//! Every fact is *known present*, *known absent* or *not known*, and only
//! known absence counts as missing:
//!
//! * a repository: present, absent (`missing_repositories`), or unknown
//!   (`unverified_repositories`: the registry neither listed nor denied it).
//!   Both of the latter are reported once, loudly, and left out of every
//!   build's counts: a typo in the manifest or a private repository seen
//!   without credentials is not a broken build, and must not make every
//!   build look broken;
//! * a platform of a present image: carried, known absent
//!   (`missing_platforms`), or not stated by the registry
//!   (`unverified_platforms`: never a reason to call a build broken, always
//!   shown);
//! * a build's age: resting on registry push times, on image-declared times,
//!   or unknown ([`AgeSource`]); `policy::prune` deletes only on the first
//!   unless something else corroborates it.
//!
//! With a `retention` block in the manifest, every build also gets a
//! retention verdict (kept or expired, and why: `policy::retention`), when
//! every build is judged; expired builds are not findings.
//!
//! For each image, [`ImageStats`] counts the finished builds that expect
//! it and those it failed in: the images missing most often.
//!
//! The audit also recognises a manifest change that looks like broken builds
//! ([`LateImage`]): an image that no build older than B carries, while B
//! does — a service that joined the set at B, whose older builds are not
//! broken but were never meant to carry it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::natural_cmp;
use super::retention::{self, Verdict};
use crate::inventory::{Inventory, Tag};
use crate::manifest::{ImageSpec, Manifest, Retention};
use crate::platform::Platform;

/// Which builds the report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BuildSelection {
    /// Every build found.
    #[default]
    All,
    /// Only these tags (`--build`); a named build nobody pushed is reported
    /// with every image missing.
    Named(Vec<String>),
}

impl BuildSelection {
    fn admits(&self, tag: &str) -> bool {
        match self {
            BuildSelection::All => true,
            BuildSelection::Named(names) => names.iter().any(|n| n == tag),
        }
    }
}

/// The verdict on one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Complete,
    InProgress,
    Broken,
}

impl Status {
    /// The name used in JSON and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::InProgress => "in_progress",
            Status::Broken => "broken",
        }
    }
}

/// What a build's age (its newest push) rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgeSource {
    /// Every tag of the build has a push time the registry reported.
    Registry,
    /// Every tag has a time, but some only the image's own declared creation
    /// time (OCI registries record no push time). Reproducible builds declare
    /// the last commit's time, days before the push: such an age can make a
    /// build look recent, never prove it finished.
    Declared,
    /// Some tag has no time at all (Docker Hub answers `null` for
    /// schema-1-era tags; an OCI image without `created`).
    Unknown,
}

impl AgeSource {
    /// The name used in JSON (`newest_push_source`).
    pub fn as_str(self) -> &'static str {
        match self {
            AgeSource::Registry => "registry",
            AgeSource::Declared => "declared",
            AgeSource::Unknown => "unknown",
        }
    }
}

/// One build (one tag) across the set.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    pub tag: String,
    pub status: Status,
    /// Images expected in this build (repositories known to exist only).
    pub expected: usize,
    /// How many expected images carry the tag.
    pub present: usize,
    /// Expected images known not to carry the tag, sorted.
    pub missing: Vec<String>,
    /// Images of the manifest (whose repositories exist) that this build does
    /// not expect, because their `builds`, `from` or `until` exclude its tag;
    /// in manifest order. Neither present nor missing: not counted.
    pub not_expected: Vec<String>,
    /// For present images known to lack a required platform: image → platforms.
    pub missing_platforms: BTreeMap<String, Vec<Platform>>,
    /// For present images whose platforms the registry did not state (Docker
    /// Hub's `images: []` since 2025-08): image → the required platforms that
    /// could not be checked. Never makes a build broken; always shown.
    pub unverified_platforms: BTreeMap<String, Vec<Platform>>,
    /// The newest time known of any of the build's tags: a push time, or an
    /// image-declared time where the registry reports none (see `age`).
    pub newest_push: Option<DateTime<Utc>>,
    /// What `newest_push` rests on.
    pub age: AgeSource,
    /// A digest of what the build holds now (the sha256 of each present
    /// image and its digest, in manifest order): equal between two runs when
    /// nothing was pushed to or deleted from the build in between (and the
    /// manifest's image order did not change). 64 hex characters.
    pub contents: String,
    /// Kept or expired under the manifest's `retention`, and why; `None`
    /// without retention, or when not every build was judged.
    pub retention: Option<Verdict>,
}

impl BuildReport {
    /// Whether anything (an image or a platform) is known to be missing.
    pub fn is_incomplete(&self) -> bool {
        !self.missing.is_empty() || !self.missing_platforms.is_empty()
    }
}

/// An image that joined the set after its first builds: no build older than
/// `first_build` (natural order) carries it, while `first_build` does; or,
/// with `first_build: None`, no build carries it yet. The builds before it
/// lack it because of a manifest change, not a failed push: the fix is
/// `from: <first_build>` on the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateImage {
    pub image: String,
    pub first_build: Option<String>,
}

/// An image that left the set: the last build that carries it is
/// `last_build`, and at least [`RETIRED_AFTER`] finished builds after it
/// (natural order; builds still in progress aside) all lack it. The builds
/// after it may lack it because of a manifest change (the fix is
/// `until: <last_build>`) — or because its push kept failing. The two look
/// the same from the registry, so prune does not delete on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredImage {
    pub image: String,
    pub last_build: String,
}

/// How many finished builds in a row must lack an image, after one that
/// carried it, before the audit reads it as having left the set. One is a
/// broken build, the case tagsweep exists for; two or more may be either.
pub const RETIRED_AFTER: usize = 2;

/// How the manifest's `retention` applied to a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSummary {
    /// The policy, as the manifest gives it.
    pub policy: Retention,
    /// Whether every build was judged, so each has a verdict. Retention ranks
    /// a build among all the builds of its stream: an audit of some builds
    /// (`--build`, `--since`) cannot tell which expire.
    pub judged: bool,
}

/// How often one image failed across the audited builds: the numbers
/// behind "the images missing most often", which point at the flaky job to
/// fix first.
///
/// Only *finished* builds count (complete or broken): a build in progress is
/// still being pushed, so the images it lacks are most often the ones CI
/// pushes last, not the ones that fail — counting them would put the end of
/// the push order at the top of the list. Only builds that expect the image
/// count (its `builds`, `from` and `until` applied), and only what the
/// registry said is absent: platforms it did not state are not failures.
/// Images without a repository (missing or unverified repositories) have no
/// stats: they are reported apart, as for the builds' counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageStats {
    pub image: String,
    /// Finished audited builds that expect the image.
    pub builds_expected: usize,
    /// Of those, the builds known not to carry it.
    pub builds_missing: usize,
    /// Of those, the builds that carry it known short of a required platform.
    pub builds_short_of_platforms: usize,
}

impl ImageStats {
    /// The builds in which the image failed: missing, or short of a platform.
    pub fn builds_failed(&self) -> usize {
        self.builds_missing + self.builds_short_of_platforms
    }
}

/// Counts of builds by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub builds: usize,
    pub complete: usize,
    pub broken: usize,
    pub in_progress: usize,
}

/// The whole audit.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub registry: String,
    pub namespace: String,
    /// When the audit was judged (`now`).
    pub as_of: DateTime<Utc>,
    /// Every build, newest first.
    pub builds: Vec<BuildReport>,
    pub summary: Summary,
    /// Repositories of the namespace that carry build tags but are not in the manifest.
    pub unexpected_repositories: Vec<String>,
    /// Images of the manifest that have no repository at all.
    pub missing_repositories: Vec<String>,
    /// Images of the manifest whose repository the registry neither listed
    /// nor denied (it answered "no tags" and would not show its catalog).
    pub unverified_repositories: Vec<String>,
    /// Images missing from a run of the oldest builds only (see [`LateImage`]);
    /// found only when every build is judged ([`BuildSelection::All`]).
    pub late_images: Vec<LateImage>,
    /// Images missing from a run of the newest builds (see [`RetiredImage`]);
    /// found only when every build is judged.
    pub retired_images: Vec<RetiredImage>,
    /// The manifest's retention, if it has one.
    pub retention: Option<RetentionSummary>,
    /// How often each image failed (see [`ImageStats`]), one entry per image
    /// of the manifest whose repository exists, in manifest order.
    pub image_stats: Vec<ImageStats>,
}

impl Report {
    /// Whether the audit found something a user must act on (exit 1).
    pub fn has_findings(&self) -> bool {
        self.summary.broken > 0
            || !self.missing_repositories.is_empty()
            || !self.unverified_repositories.is_empty()
    }

    /// Whether any build has platforms that could not be verified.
    pub fn has_unverified_platforms(&self) -> bool {
        self.builds
            .iter()
            .any(|b| !b.unverified_platforms.is_empty())
    }

    /// The late image `image`, if it is one.
    pub fn late_image(&self, image: &str) -> Option<&LateImage> {
        self.late_images.iter().find(|l| l.image == image)
    }

    /// The retired image `image`, if it is one.
    pub fn retired_image(&self, image: &str) -> Option<&RetiredImage> {
        self.retired_images.iter().find(|r| r.image == image)
    }

    /// Every image's stats, the most often failed first (missing or short
    /// of a platform, then missing alone), ties by name.
    pub fn images_by_failures(&self) -> Vec<&ImageStats> {
        let mut ranked: Vec<&ImageStats> = self.image_stats.iter().collect();
        ranked.sort_by(|a, b| {
            b.builds_failed()
                .cmp(&a.builds_failed())
                .then_with(|| b.builds_missing.cmp(&a.builds_missing))
                .then_with(|| a.image.cmp(&b.image))
        });
        ranked
    }

    /// The images missing (or short of a platform) most often, at most
    /// `max`, each in at least one finished build: the flaky jobs to fix
    /// first.
    pub fn most_often_missing(&self, max: usize) -> Vec<&ImageStats> {
        self.images_by_failures()
            .into_iter()
            .filter(|s| s.builds_failed() > 0)
            .take(max)
            .collect()
    }

    /// How many builds retention retires.
    pub fn expired(&self) -> usize {
        self.builds
            .iter()
            .filter(|b| b.retention.as_ref().is_some_and(Verdict::is_expired))
            .count()
    }
}

/// What is known of one build while the tags are read.
struct Acc<'a> {
    /// `present[i]`: the i-th existing expected image carries the tag.
    present: Vec<bool>,
    missing_platforms: BTreeMap<&'a str, Vec<Platform>>,
    unverified_platforms: BTreeMap<&'a str, Vec<Platform>>,
    newest: Option<DateTime<Utc>>,
    age: AgeSource,
    /// `image@digest` of every present image, in manifest order (the
    /// images are read in that order).
    contents: Sha256,
}

impl Acc<'_> {
    fn new(images: usize) -> Self {
        Acc {
            present: vec![false; images],
            missing_platforms: BTreeMap::new(),
            unverified_platforms: BTreeMap::new(),
            newest: None,
            age: AgeSource::Registry,
            contents: Sha256::new(),
        }
    }

    /// Takes one tag's time into the build's newest push and its source. A
    /// declared time later than `now` is no time at all (a registry's push
    /// time in the future is clock skew, and counts as recent; an image can
    /// declare any time, and one in the future would keep its build "in
    /// progress" forever).
    fn time(&mut self, tag: &Tag, now: DateTime<Utc>) {
        let (time, source) = match (tag.pushed, tag.created) {
            (Some(pushed), _) => (Some(pushed), AgeSource::Registry),
            (None, Some(created)) if created <= now => (Some(created), AgeSource::Declared),
            (None, _) => (None, AgeSource::Unknown),
        };
        self.newest = self.newest.max(time);
        self.age = weaker(self.age, source);
    }
}

/// The weaker of two age sources: a build's age is only as good as its
/// least-known tag.
fn weaker(a: AgeSource, b: AgeSource) -> AgeSource {
    use AgeSource::*;
    match (a, b) {
        (Unknown, _) | (_, Unknown) => Unknown,
        (Declared, _) | (_, Declared) => Declared,
        _ => Registry,
    }
}

/// The build tags of the manifest's images that point at tagsweep's
/// placeholder (see [`Tag::placeholder`]), as `(image, tag)`, in manifest
/// order: the audit counts each as missing, and says so
/// ([`placeholder_warning`]).
pub fn placeholders(manifest: &Manifest, inventory: &Inventory) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for image in &manifest.images {
        let Some(repo) = inventory.repositories.get(&image.name) else {
            continue;
        };
        for tag in repo.tags.iter().flatten() {
            if tag.placeholder && manifest.builds.is_build(&tag.name) {
                found.push((image.name.clone(), tag.name.to_string()));
            }
        }
    }
    found
}

/// What the audit says of `namespace/image:tag` on a placeholder.
pub fn placeholder_warning(namespace: &str, image: &str, tag: &str) -> String {
    format!(
        "warning: {namespace}/{image}:{tag} points at a tagsweep placeholder left by an interrupted prune (no image behind it; counted as missing): run prune again to finish, or restore from the journal"
    )
}

/// Judges every build of the inventory against the manifest, as of `now`.
pub fn evaluate(
    manifest: &Manifest,
    inventory: &Inventory,
    now: DateTime<Utc>,
    selection: &BuildSelection,
) -> Report {
    let rules = &manifest.builds;
    let mut missing_repositories = Vec::new();
    let mut unverified_repositories = Vec::new();
    let mut existing: Vec<(&ImageSpec, &[Tag])> = Vec::new();
    for image in &manifest.images {
        match inventory.repositories.get(&image.name) {
            Some(repo) if repo.unconfirmed => unverified_repositories.push(image.name.clone()),
            Some(repo) => existing.push((image, repo.tags.as_deref().unwrap_or(&[]))),
            None => missing_repositories.push(image.name.clone()),
        }
    }

    let mut builds: HashMap<&str, Acc> = HashMap::new();
    if let BuildSelection::Named(names) = selection {
        for name in names {
            builds
                .entry(name.as_str())
                .or_insert_with(|| Acc::new(existing.len()));
        }
    }
    for (index, (image, tags)) in existing.iter().enumerate() {
        for tag in tags.iter() {
            if !rules.is_build(&tag.name)
                || !selection.admits(&tag.name)
                || !image.expected_in(&tag.name)
            {
                continue;
            }
            let acc = builds
                .entry(tag.name.as_str())
                .or_insert_with(|| Acc::new(existing.len()));
            // On tagsweep's placeholder (an interrupted prune): no image is
            // behind the tag; the build exists, the image is missing from it.
            if tag.placeholder {
                continue;
            }
            acc.present[index] = true;
            acc.time(tag, now);
            for part in [
                image.name.as_bytes(),
                b"@",
                tag.digest.as_deref().unwrap_or("?").as_bytes(),
                b"\n",
            ] {
                acc.contents.update(part);
            }
            match platform_gaps(&manifest.platforms, tag) {
                Gaps::None => {}
                Gaps::Missing(gaps) => {
                    acc.missing_platforms.insert(image.name.as_str(), gaps);
                }
                Gaps::Unverified(gaps) => {
                    acc.unverified_platforms.insert(image.name.as_str(), gaps);
                }
            }
        }
    }

    let mut reports: Vec<BuildReport> = builds
        .into_iter()
        .map(|(tag, acc)| {
            let mut expected = 0;
            let mut missing = Vec::new();
            let mut not_expected = Vec::new();
            for (index, (image, _)) in existing.iter().enumerate() {
                if image.expected_in(tag) {
                    expected += 1;
                    if !acc.present[index] {
                        missing.push(image.name.clone());
                    }
                } else {
                    not_expected.push(image.name.clone());
                }
            }
            missing.sort();
            let present = expected - missing.len();
            let owned = |m: BTreeMap<&str, Vec<Platform>>| {
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            };
            let mut report = BuildReport {
                tag: tag.to_string(),
                status: Status::Complete,
                expected,
                present,
                missing,
                not_expected,
                missing_platforms: owned(acc.missing_platforms),
                unverified_platforms: owned(acc.unverified_platforms),
                newest_push: acc.newest,
                // A build no image carries has no time at all.
                age: if present == 0 {
                    AgeSource::Unknown
                } else {
                    acc.age
                },
                contents: format!("{:x}", acc.contents.finalize()),
                retention: None,
            };
            report.status = judge(&report, now, rules.grace);
            report
        })
        .collect();
    reports.sort_by(|a, b| {
        b.newest_push
            .cmp(&a.newest_push)
            .then_with(|| natural_cmp(&b.tag, &a.tag))
    });

    let mut summary = Summary {
        builds: reports.len(),
        ..Summary::default()
    };
    for r in &reports {
        match r.status {
            Status::Complete => summary.complete += 1,
            Status::Broken => summary.broken += 1,
            Status::InProgress => summary.in_progress += 1,
        }
    }
    let (late_images, retired_images) = match selection {
        BuildSelection::All => manifest_changes(&existing, &reports),
        BuildSelection::Named(_) => (Vec::new(), Vec::new()),
    };
    let retention = manifest.retention.as_ref().map(|policy| {
        let judged = *selection == BuildSelection::All;
        if judged {
            let verdicts = retention::judge(rules, policy, &reports, now);
            for (report, verdict) in reports.iter_mut().zip(verdicts) {
                report.retention = Some(verdict);
            }
        }
        RetentionSummary {
            policy: policy.clone(),
            judged,
        }
    });

    let image_stats = image_stats(&existing, &reports);
    Report {
        registry: inventory.registry.clone(),
        namespace: inventory.namespace.clone(),
        as_of: now,
        builds: reports,
        summary,
        unexpected_repositories: unexpected_repositories(manifest, inventory),
        missing_repositories,
        unverified_repositories,
        late_images,
        retired_images,
        retention,
        image_stats,
    }
}

/// Each existing image's failures over the finished builds that expect it
/// (see [`ImageStats`]), in manifest order.
fn image_stats(existing: &[(&ImageSpec, &[Tag])], reports: &[BuildReport]) -> Vec<ImageStats> {
    let finished: Vec<&BuildReport> = reports
        .iter()
        .filter(|b| b.status != Status::InProgress)
        .collect();
    existing
        .iter()
        .map(|(image, _)| {
            let name = image.name.as_str();
            let mut stats = ImageStats {
                image: image.name.clone(),
                builds_expected: 0,
                builds_missing: 0,
                builds_short_of_platforms: 0,
            };
            for build in finished.iter().filter(|b| image.expected_in(&b.tag)) {
                stats.builds_expected += 1;
                if build
                    .missing
                    .binary_search_by(|m| m.as_str().cmp(name))
                    .is_ok()
                {
                    stats.builds_missing += 1;
                } else if build.missing_platforms.contains_key(name) {
                    stats.builds_short_of_platforms += 1;
                }
            }
            stats
        })
        .collect()
}

/// Complete, in progress or broken (see the module documentation). Any
/// recent time counts, declared or pushed: a declared time is no later than
/// the push, so a recent one means a recent push.
fn judge(report: &BuildReport, now: DateTime<Utc>, grace: std::time::Duration) -> Status {
    if !report.is_incomplete() {
        return Status::Complete;
    }
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    match report.newest_push {
        // A push in the future (clock skew) counts as recent.
        Some(newest) if now.signed_duration_since(newest) < grace => Status::InProgress,
        _ => Status::Broken,
    }
}

/// What a present tag's platforms say of the required ones.
enum Gaps {
    /// Every required platform is carried (or none is required).
    None,
    /// These are known not to be carried.
    Missing(Vec<Platform>),
    /// The registry did not state the tag's platforms: these could not be checked.
    Unverified(Vec<Platform>),
}

fn platform_gaps(required: &[Platform], tag: &Tag) -> Gaps {
    if required.is_empty() {
        return Gaps::None;
    }
    let Some(carried) = &tag.platforms else {
        return Gaps::Unverified(required.to_vec());
    };
    let missing: Vec<Platform> = required
        .iter()
        .filter(|want| !carried.iter().any(|have| have.satisfies(want)))
        .cloned()
        .collect();
    if missing.is_empty() {
        Gaps::None
    } else {
        Gaps::Missing(missing)
    }
}

/// The images that look like manifest changes, for each image from the
/// builds it is expected in, in natural order: if the oldest of them does
/// not carry it, the first that does is where it joined the set
/// ([`LateImage`]); if [`RETIRED_AFTER`] or more finished builds after the
/// last that carries it all lack it, it may have left ([`RetiredImage`]).
fn manifest_changes(
    existing: &[(&ImageSpec, &[Tag])],
    reports: &[BuildReport],
) -> (Vec<LateImage>, Vec<RetiredImage>) {
    let mut ordered: Vec<&BuildReport> = reports.iter().collect();
    ordered.sort_by(|a, b| natural_cmp(&a.tag, &b.tag));
    let mut late = Vec::new();
    let mut retired = Vec::new();
    for (image, _) in existing {
        let expecting: Vec<&&BuildReport> = ordered
            .iter()
            .filter(|b| image.expected_in(&b.tag))
            .collect();
        let carries = |b: &BuildReport| b.missing.binary_search(&image.name).is_err();
        match expecting.iter().position(|b| carries(b)) {
            Some(0) => {}
            Some(first) => late.push(LateImage {
                image: image.name.clone(),
                first_build: Some(expecting[first].tag.clone()),
            }),
            None if !expecting.is_empty() => late.push(LateImage {
                image: image.name.clone(),
                first_build: None,
            }),
            None => {}
        }
        if let Some(last) = expecting.iter().rposition(|b| carries(b)) {
            let lacking = expecting[last + 1..]
                .iter()
                .filter(|b| b.status != Status::InProgress)
                .count();
            if lacking >= RETIRED_AFTER {
                retired.push(RetiredImage {
                    image: image.name.clone(),
                    last_build: expecting[last].tag.clone(),
                });
            }
        }
    }
    late.sort_by(|a, b| a.image.cmp(&b.image));
    retired.sort_by(|a, b| a.image.cmp(&b.image));
    (late, retired)
}

/// Repositories outside the manifest that carry at least one build tag.
fn unexpected_repositories(manifest: &Manifest, inventory: &Inventory) -> Vec<String> {
    inventory
        .repositories
        .iter()
        .filter(|(name, _)| manifest.image(name).is_none())
        .filter(|(_, repo)| {
            repo.tags
                .as_ref()
                .is_some_and(|tags| tags.iter().any(|t| manifest.builds.is_build(&t.name)))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Repository;
    use crate::manifest::parse_str;

    fn manifest(extra: &str) -> Manifest {
        let src = format!(
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\n{extra}images:\n  - base\n  - nova-api\n  - name: ironic-pxe\n    builds: '^rocky-1\\d\\d$'\n"
        );
        parse_str("test.yaml", &src).unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn t(hours_ago: i64) -> DateTime<Utc> {
        now() - chrono::Duration::hours(hours_ago)
    }

    fn now() -> DateTime<Utc> {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }

    fn tag(name: &str, pushed: DateTime<Utc>, platforms: Option<&[&str]>) -> Tag {
        Tag {
            name: name.into(),
            digest: None,
            pushed: Some(pushed),
            created: None,
            platforms: platforms
                .map(|ps| ps.iter().filter_map(|p| Platform::parse_loose(p)).collect()),
            media_type: None,
            placeholder: false,
        }
    }

    fn inventory(repos: Vec<(&str, Vec<Tag>)>) -> Inventory {
        let mut inv = Inventory::new("docker.io", "linaro");
        for (name, tags) in repos {
            inv.repositories.insert(
                name.to_string(),
                Repository {
                    private: Some(false),
                    tags: Some(tags),
                    unconfirmed: false,
                },
            );
        }
        inv
    }

    fn build<'a>(report: &'a Report, tag: &str) -> &'a BuildReport {
        report.builds.iter().find(|b| b.tag == tag).expect(tag)
    }

    #[test]
    fn complete_broken_and_in_progress() {
        let m = manifest("");
        let inv = inventory(vec![
            (
                "base",
                vec![
                    tag("rocky-1", t(48), None),
                    tag("rocky-2", t(30), None),
                    tag("rocky-3", t(1), None),
                ],
            ),
            (
                "nova-api",
                vec![tag("rocky-1", t(48), None), tag("latest", t(48), None)],
            ),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        let b1 = build(&r, "rocky-1");
        assert_eq!(
            (b1.status, b1.expected, b1.missing.len()),
            (Status::Complete, 2, 0)
        );
        let b2 = build(&r, "rocky-2");
        assert_eq!(b2.status, Status::Broken);
        assert_eq!(b2.missing, ["nova-api"]);
        assert_eq!(b2.present, 1);
        let b3 = build(&r, "rocky-3");
        assert_eq!(b3.status, Status::InProgress);
        assert_eq!(
            r.summary,
            Summary {
                builds: 3,
                complete: 1,
                broken: 1,
                in_progress: 1
            }
        );
        // Newest first; `latest` is not a build.
        let order: Vec<_> = r.builds.iter().map(|b| b.tag.as_str()).collect();
        assert_eq!(order, ["rocky-3", "rocky-2", "rocky-1"]);
        assert!(r.has_findings());
    }

    #[test]
    fn grace_boundary_is_exclusive() {
        let m = manifest("");
        let exactly = now() - chrono::Duration::hours(2);
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", exactly, None)]),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(
            r.builds[0].status,
            Status::Broken,
            "2h old with grace 2h is no longer in progress"
        );
        let just_inside = exactly + chrono::Duration::seconds(1);
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", just_inside, None)]),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(r.builds[0].status, Status::InProgress);
    }

    #[test]
    fn unknown_push_time_cannot_be_in_progress() {
        let m = manifest("");
        let mut lone = Tag::new("rocky-1");
        lone.pushed = None;
        let inv = inventory(vec![
            ("base", vec![lone]),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(r.builds[0].status, Status::Broken);
        assert_eq!(r.builds[0].newest_push, None);
    }

    #[test]
    fn future_push_counts_as_recent() {
        let m = manifest("");
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", t(-3), None)]),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(r.builds[0].status, Status::InProgress);
    }

    #[test]
    fn per_image_build_filter_limits_what_is_expected() {
        let m = manifest("");
        let inv = inventory(vec![
            (
                "base",
                vec![tag("rocky-5", t(10), None), tag("rocky-105", t(10), None)],
            ),
            (
                "nova-api",
                vec![tag("rocky-5", t(10), None), tag("rocky-105", t(10), None)],
            ),
            // ironic-pxe carries rocky-5 although it is not expected there: ignored.
            ("ironic-pxe", vec![tag("rocky-5", t(10), None)]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        let b5 = build(&r, "rocky-5");
        assert_eq!((b5.status, b5.expected), (Status::Complete, 2));
        assert_eq!(b5.present, 2);
        let b105 = build(&r, "rocky-105");
        assert_eq!((b105.status, b105.expected), (Status::Broken, 3));
        assert_eq!(b105.missing, ["ironic-pxe"]);
    }

    #[test]
    fn from_and_until_limit_what_is_expected() {
        let m = parse_str(
            "test.yaml",
            "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages:\n  - base\n  - {name: zun, from: rocky-40}\n  - {name: old, until: rocky-12}\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let builds = ["rocky-9", "rocky-12", "rocky-40", "rocky-100"];
        let inv = inventory(vec![
            ("base", builds.iter().map(|b| tag(b, t(10), None)).collect()),
            (
                "zun",
                vec![tag("rocky-40", t(10), None), tag("rocky-100", t(10), None)],
            ),
            ("old", vec![tag("rocky-9", t(10), None)]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        let seen: Vec<(&str, Status, usize, Vec<String>)> = builds
            .iter()
            .map(|b| {
                let b = build(&r, b);
                (b.tag.as_str(), b.status, b.expected, b.missing.clone())
            })
            .collect();
        assert_eq!(
            seen,
            [
                // zun is not missing before rocky-40, nor old after rocky-12.
                ("rocky-9", Status::Complete, 2, vec![]),
                ("rocky-12", Status::Broken, 2, vec!["old".to_string()]),
                ("rocky-40", Status::Complete, 2, vec![]),
                ("rocky-100", Status::Complete, 2, vec![]),
            ]
        );
    }

    #[test]
    fn missing_platforms_make_a_build_incomplete() {
        let m = manifest("platforms: [linux/amd64, linux/arm64]\n");
        let inv = inventory(vec![
            (
                "base",
                vec![tag(
                    "rocky-1",
                    t(10),
                    Some(&["linux/amd64", "linux/arm64/v8", "unknown/unknown"]),
                )],
            ),
            (
                "nova-api",
                vec![tag("rocky-1", t(10), Some(&["linux/amd64"]))],
            ),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        let b = build(&r, "rocky-1");
        assert_eq!(b.status, Status::Broken);
        assert!(b.missing.is_empty());
        assert_eq!(
            b.missing_platforms
                .get("nova-api")
                .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>()),
            Some(vec!["linux/arm64".to_string()])
        );
        assert!(!b.missing_platforms.contains_key("base"));

        // Platforms not reported: nothing can be called missing.
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", t(10), None)]),
            ("nova-api", vec![tag("rocky-1", t(10), None)]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(build(&r, "rocky-1").status, Status::Complete);
    }

    #[test]
    fn missing_repositories_are_reported_apart_from_builds() {
        let m = manifest("");
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", t(10), None)]),
            ("nova-api", vec![tag("rocky-1", t(10), None)]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(r.missing_repositories, ["ironic-pxe"]);
        let b = build(&r, "rocky-1");
        assert_eq!((b.status, b.expected), (Status::Complete, 2));
        assert!(r.has_findings(), "a missing repository is a finding");
    }

    #[test]
    fn unexpected_repositories_carry_build_tags() {
        let m = manifest("");
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", t(10), None)]),
            ("nova-api", vec![tag("rocky-1", t(10), None)]),
            ("ironic-pxe", vec![]),
            ("experimental", vec![tag("rocky-1", t(10), None)]),
            ("unrelated", vec![tag("latest", t(10), None)]),
        ]);
        let mut r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(r.unexpected_repositories, ["experimental"]);
        assert!(!r.has_findings());
        r.summary.broken = 1;
        assert!(r.has_findings());
    }

    #[test]
    fn named_builds_only_and_unknown_names_are_all_missing() {
        let m = manifest("");
        let inv = inventory(vec![
            (
                "base",
                vec![tag("rocky-1", t(10), None), tag("rocky-2", t(10), None)],
            ),
            (
                "nova-api",
                vec![tag("rocky-1", t(10), None), tag("rocky-2", t(10), None)],
            ),
            ("ironic-pxe", vec![]),
        ]);
        let sel = BuildSelection::Named(vec!["rocky-2".into(), "rocky-9".into()]);
        let r = evaluate(&m, &inv, now(), &sel);
        let tags: Vec<_> = r.builds.iter().map(|b| b.tag.as_str()).collect();
        assert_eq!(tags, ["rocky-2", "rocky-9"]);
        let b9 = build(&r, "rocky-9");
        assert_eq!(
            (b9.status, b9.present, b9.missing.len()),
            (Status::Broken, 0, 2)
        );
    }

    fn declared(name: &str, created: DateTime<Utc>) -> Tag {
        Tag {
            name: name.into(),
            created: Some(created),
            ..Tag::new(name)
        }
    }

    #[test]
    fn platforms_the_registry_did_not_state_are_unverified_not_missing() {
        let m = manifest("platforms: [linux/amd64, linux/arm64]\n");
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", t(10), None)]),
            (
                "nova-api",
                vec![tag("rocky-1", t(10), Some(&["linux/amd64"]))],
            ),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        let b = build(&r, "rocky-1");
        // nova-api is known short of arm64; base's platforms are unknown.
        assert_eq!(b.status, Status::Broken);
        assert_eq!(b.missing_platforms.keys().collect::<Vec<_>>(), ["nova-api"]);
        assert_eq!(
            b.unverified_platforms
                .get("base")
                .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>()),
            Some(vec!["linux/amd64".to_string(), "linux/arm64".to_string()])
        );

        // Unverified only: not broken, and the report says so.
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", t(10), None)]),
            ("nova-api", vec![tag("rocky-1", t(10), None)]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        let b = build(&r, "rocky-1");
        assert_eq!(b.status, Status::Complete);
        assert_eq!(b.unverified_platforms.len(), 2);
        assert!(r.has_unverified_platforms());
        assert!(!r.has_findings());

        // No requirement: nothing to verify.
        let r = evaluate(&manifest(""), &inv, now(), &BuildSelection::All);
        assert!(!r.has_unverified_platforms());
    }

    #[test]
    fn a_repository_of_unknown_existence_is_neither_missing_nor_counted() {
        let m = manifest("");
        let mut inv = inventory(vec![
            ("base", vec![tag("rocky-1", t(10), None)]),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        inv.repositories.get_mut("nova-api").unwrap().unconfirmed = true;
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(r.unverified_repositories, ["nova-api"]);
        assert!(r.missing_repositories.is_empty());
        let b = build(&r, "rocky-1");
        assert_eq!((b.status, b.expected), (Status::Complete, 1));
        assert!(r.has_findings(), "an unconfirmed repository is a finding");
    }

    #[test]
    fn a_builds_age_is_only_as_good_as_its_least_known_tag() {
        let m = manifest("");
        let age = |base: Tag, nova: Tag| {
            let inv = inventory(vec![
                ("base", vec![base]),
                ("nova-api", vec![nova]),
                ("ironic-pxe", vec![]),
            ]);
            let r = evaluate(&m, &inv, now(), &BuildSelection::All);
            (r.builds[0].age, r.builds[0].newest_push, r.builds[0].status)
        };
        assert_eq!(
            age(tag("rocky-1", t(30), None), tag("rocky-1", t(20), None)),
            (AgeSource::Registry, Some(t(20)), Status::Complete)
        );
        assert_eq!(
            age(tag("rocky-1", t(30), None), declared("rocky-1", t(20))).0,
            AgeSource::Declared
        );
        assert_eq!(
            age(tag("rocky-1", t(30), None), Tag::new("rocky-1")),
            (AgeSource::Unknown, Some(t(30)), Status::Complete)
        );
        // A declared time in the future is none: it cannot keep a build in
        // progress forever.
        assert_eq!(
            age(declared("rocky-1", t(-24)), tag("rocky-1", t(30), None)),
            (AgeSource::Unknown, Some(t(30)), Status::Complete)
        );
        // A recent declared time is a recent push: in progress.
        let inv = inventory(vec![
            ("base", vec![declared("rocky-1", t(1))]),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(r.builds[0].status, Status::InProgress);
        // An old declared time proves nothing, but the audit calls it broken
        // (something is missing), marked declared.
        let inv = inventory(vec![
            ("base", vec![declared("rocky-1", t(90))]),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(
            (r.builds[0].status, r.builds[0].age),
            (Status::Broken, AgeSource::Declared)
        );
    }

    #[test]
    fn contents_change_with_any_digest() {
        let m = manifest("");
        let with = |digest: &str| {
            let mut base = tag("rocky-1", t(30), None);
            base.digest = Some(digest.into());
            let inv = inventory(vec![
                ("base", vec![base]),
                ("nova-api", vec![]),
                ("ironic-pxe", vec![]),
            ]);
            evaluate(&m, &inv, now(), &BuildSelection::All).builds[0]
                .contents
                .clone()
        };
        assert_eq!(with("sha256:a"), with("sha256:a"));
        assert_ne!(with("sha256:a"), with("sha256:b"));
        assert_eq!(with("sha256:a").len(), 64);
    }

    #[test]
    fn images_missing_only_from_the_oldest_builds_joined_the_set_late() {
        let m = manifest("");
        let all = |n: std::ops::RangeInclusive<u32>| -> Vec<Tag> {
            n.map(|i| tag(&format!("rocky-{i}"), t(100 - i64::from(i)), None))
                .collect()
        };
        // nova-api from rocky-9 on (natural order: rocky-9 < rocky-10);
        // ironic-pxe is only expected in rocky-1xx builds: none here.
        let inv = inventory(vec![
            ("base", all(7..=11)),
            ("nova-api", all(9..=11)),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(
            r.late_images,
            [LateImage {
                image: "nova-api".into(),
                first_build: Some("rocky-9".into())
            }]
        );
        assert_eq!(build(&r, "rocky-8").status, Status::Broken);

        // Missing from the newest builds only: a broken build, not a late image.
        let inv = inventory(vec![
            ("base", all(7..=11)),
            ("nova-api", all(7..=9)),
            ("ironic-pxe", vec![]),
        ]);
        assert!(evaluate(&m, &inv, now(), &BuildSelection::All)
            .late_images
            .is_empty());

        // In no build at all: late, with no first build yet.
        let inv = inventory(vec![
            ("base", all(7..=8)),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(
            r.late_images,
            [LateImage {
                image: "nova-api".into(),
                first_build: None
            }]
        );
        // Missing from the two newest finished builds: it may have left.
        let inv = inventory(vec![
            ("base", all(7..=11)),
            ("nova-api", all(7..=9)),
            ("ironic-pxe", vec![]),
        ]);
        assert_eq!(
            evaluate(&m, &inv, now(), &BuildSelection::All).retired_images,
            [RetiredImage {
                image: "nova-api".into(),
                last_build: "rocky-9".into()
            }]
        );
        let inv = inventory(vec![
            ("base", all(7..=8)),
            ("nova-api", vec![]),
            ("ironic-pxe", vec![]),
        ]);
        // Not judged on a selection of builds: too little history.
        let sel = BuildSelection::Named(vec!["rocky-8".into()]);
        assert!(evaluate(&m, &inv, now(), &sel).late_images.is_empty());
    }
    fn stats(report: &Report, image: &str) -> (usize, usize, usize) {
        let s = report
            .image_stats
            .iter()
            .find(|s| s.image == image)
            .expect(image);
        (
            s.builds_expected,
            s.builds_missing,
            s.builds_short_of_platforms,
        )
    }

    #[test]
    fn image_stats_count_finished_builds_that_expect_the_image() {
        let m = parse_str(
            "test.yaml",
            "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$', grace: 2h}\nplatforms: [linux/amd64, linux/arm64]\nimages:\n  - base\n  - nova\n  - {name: zun, from: rocky-3}\n  - typo\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let both: &[&str] = &["linux/amd64", "linux/arm64"];
        let amd64: &[&str] = &["linux/amd64"];
        // rocky-1..4 finished; rocky-5 in progress (1 h old) and lacks nova.
        let inv = inventory(vec![
            (
                "base",
                vec![
                    tag("rocky-1", t(96), Some(both)),
                    tag("rocky-2", t(72), Some(amd64)),
                    tag("rocky-3", t(48), None),
                    tag("rocky-4", t(24), Some(both)),
                    tag("rocky-5", t(1), Some(both)),
                ],
            ),
            (
                "nova",
                vec![
                    tag("rocky-1", t(96), Some(both)),
                    tag("rocky-4", t(24), Some(both)),
                ],
            ),
            (
                "zun",
                vec![
                    tag("rocky-4", t(24), Some(both)),
                    tag("rocky-5", t(1), Some(both)),
                ],
            ),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(build(&r, "rocky-5").status, Status::InProgress);
        // base: short of arm64 in rocky-2; its platforms unstated in rocky-3
        // (not a failure); rocky-5 in progress, not counted.
        assert_eq!(stats(&r, "base"), (4, 0, 1));
        // nova: missing from rocky-2 and rocky-3; rocky-5 lacks it too, but
        // is still being pushed.
        assert_eq!(stats(&r, "nova"), (4, 2, 0));
        // zun: expected from rocky-3 on only; missing from rocky-3.
        assert_eq!(stats(&r, "zun"), (2, 1, 0));
        // typo has no repository: reported apart, no stats.
        assert!(r.image_stats.iter().all(|s| s.image != "typo"));
        // Manifest order, and the ranking: most failures first.
        let order: Vec<&str> = r.image_stats.iter().map(|s| s.image.as_str()).collect();
        assert_eq!(order, ["base", "nova", "zun"]);
        let ranked: Vec<&str> = r
            .images_by_failures()
            .iter()
            .map(|s| s.image.as_str())
            .collect();
        assert_eq!(ranked, ["nova", "zun", "base"]);
        // base and zun tie on one failure: the missing image first.
        let top: Vec<&str> = r
            .most_often_missing(2)
            .iter()
            .map(|s| s.image.as_str())
            .collect();
        assert_eq!(top, ["nova", "zun"]);
        // The builds that do not expect zun say so.
        assert_eq!(build(&r, "rocky-2").not_expected, ["zun"]);
        assert!(build(&r, "rocky-3").not_expected.is_empty());
    }

    #[test]
    fn an_image_that_never_failed_is_not_among_the_most_often_missing() {
        let m = manifest("");
        let inv = inventory(vec![
            ("base", vec![tag("rocky-1", t(10), None)]),
            ("nova-api", vec![tag("rocky-1", t(10), None)]),
            ("ironic-pxe", vec![]),
        ]);
        let r = evaluate(&m, &inv, now(), &BuildSelection::All);
        assert_eq!(stats(&r, "base"), (1, 0, 0));
        // ironic-pxe is only expected in rocky-1xx builds.
        assert_eq!(stats(&r, "ironic-pxe"), (0, 0, 0));
        assert!(r.most_often_missing(10).is_empty());
    }
}
