//! What a manifest change does: one inventory judged under two manifests
//! (OLD and NEW), and the judgements compared — a pure function of the two
//! audit reports and the two prune plans, so that the diff says exactly
//! what `audit` and `prune` would say, never a judgement of its own.
//!
//! A reviewer of a manifest change needs to know:
//! * which images it adds, removes or expects in other builds, and which
//!   settings it changes ([`SettingChange`]);
//! * every build whose status changes ([`BuildChange`]): complete, broken or
//!   in progress under OLD and under NEW, or a build under one only (a
//!   changed `builds.pattern` makes builds appear and disappear), with the
//!   images and platforms that make the difference ([`Cause`]);
//! * what `prune --broken` and `prune --expired` would delete under NEW that
//!   they would not under OLD, and the reverse ([`PruneChange`]), and where
//!   a prune that ran under OLD would refuse under NEW (an image without a
//!   repository);
//! * the fix, where the audit under NEW recognises a change as a manifest
//!   change: an image added without `from:` makes every older build look
//!   broken, and the audit's late-image hint (`add from: rocky-40`) says so.
//!
//! The plans are made without `--max-builds` (the diff shows everything a
//! prune would delete, not where one would stop) and with what earlier runs
//! saw when the caller has it (proof of age, see `policy::prune`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::audit::{
    evaluate, BuildReport, BuildSelection, LateImage, Report, RetiredImage, Status,
};
use super::natural_cmp;
use super::prune::{
    plan, PlannedBuild, PrunePlan, PruneRequest, Reason, Refusal, SkipReason, SkippedBuild,
};
use super::Summary;
use crate::duration::format_duration;
use crate::inventory::Inventory;
use crate::manifest::{ImageSpec, Manifest};
use crate::platform::Platform;

pub use super::prune::Unchanged;

/// What `prune` would do under one manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Plans {
    /// `prune --broken`: the plan, or why prune refuses.
    pub broken: Result<PrunePlan, Refusal>,
    /// `prune --expired`; `None` when the manifest has no `retention`.
    pub expired: Option<Result<PrunePlan, Refusal>>,
}

/// One manifest's judgement of the inventory: what `audit` says and what
/// `prune` would do.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub report: Report,
    pub plans: Plans,
}

/// Judges `inventory` under `manifest` as of `now`, as `audit` and `prune
/// --dry-run` would (every build; no `--max-builds` limit). `unchanged`:
/// what earlier runs saw of the builds, given the report (see
/// `policy::prune::plan`); `None` corroborates nothing.
pub fn judge(
    manifest: &Manifest,
    inventory: &Inventory,
    now: DateTime<Utc>,
    unchanged: impl FnOnce(&Report) -> Option<Unchanged>,
) -> Judgement {
    let report = evaluate(manifest, inventory, now, &BuildSelection::All);
    let unchanged = unchanged(&report);
    let request = |broken: bool| PruneRequest {
        broken,
        expired: !broken,
        builds: Vec::new(),
        max_builds: usize::MAX,
        trust_declared_times: false,
    };
    let plans = Plans {
        broken: plan(
            manifest,
            inventory,
            &report,
            &request(true),
            unchanged.as_ref(),
        ),
        expired: manifest.retention.as_ref().map(|_| {
            plan(
                manifest,
                inventory,
                &report,
                &request(false),
                unchanged.as_ref(),
            )
        }),
    };
    Judgement { report, plans }
}

/// The manifest a diff reads the inventory with, once for both judgements:
/// every image of either manifest (an image whose expected builds differ is
/// read in every build), builds matching either `builds.pattern`, and either
/// one's platforms. NEW's name, registry and namespace (the caller checks
/// that OLD's are the same); no retention, no warnings.
pub fn reading_both(old: &Manifest, new: &Manifest) -> Manifest {
    let mut images: Vec<ImageSpec> = Vec::with_capacity(new.images.len());
    for image in new.images.iter().chain(&old.images) {
        if images.iter().any(|i| i.name == image.name) {
            continue;
        }
        let spec = match (old.image(&image.name), new.image(&image.name)) {
            (Some(o), Some(n)) if expectation(o) != expectation(n) => ImageSpec {
                builds: None,
                from: None,
                until: None,
                ..n.clone()
            },
            _ => image.clone(),
        };
        images.push(spec);
    }
    let mut platforms = new.platforms.clone();
    for p in &old.platforms {
        if !platforms.contains(p) {
            platforms.push(p.clone());
        }
    }
    Manifest {
        images,
        platforms,
        builds: crate::manifest::BuildRules {
            pattern: either(&old.builds.pattern, &new.builds.pattern),
            ..new.builds.clone()
        },
        retention: None,
        warnings: Vec::new(),
        locations: Default::default(),
        ..new.clone()
    }
}

/// A regex matching what `a` or `b` matches. Their named groups (`stream`
/// in both, typically) are made unnamed, since a regex may not name two
/// groups alike. Should the two not combine, the regex matches every tag:
/// the scan then reads more, never less.
fn either(a: &regex::Regex, b: &regex::Regex) -> regex::Regex {
    if a.as_str() == b.as_str() {
        return a.clone();
    }
    let combined = unnamed(a.as_str())
        .zip(unnamed(b.as_str()))
        .and_then(|(a, b)| regex::Regex::new(&format!("(?:{a})|(?:{b})")).ok());
    combined.unwrap_or_else(|| regex::Regex::new("").expect("the empty regex is valid"))
}

/// `pattern` with each named group `(?P<name>…)` or `(?<name>…)` made a
/// non-capturing `(?:…)`; `None` if it does not parse.
fn unnamed(pattern: &str) -> Option<String> {
    use regex_syntax::ast::{self, Ast, GroupKind};
    /// Where each named group's opening `(?P<name>` is: byte ranges.
    struct Openers(Vec<std::ops::Range<usize>>);
    impl ast::Visitor for Openers {
        type Output = Vec<std::ops::Range<usize>>;
        type Err = ();
        fn finish(self) -> Result<Self::Output, ()> {
            Ok(self.0)
        }
        fn visit_pre(&mut self, ast: &Ast) -> Result<(), ()> {
            if let Ast::Group(group) = ast {
                if let GroupKind::CaptureName { name, .. } = &group.kind {
                    // The name is followed by its closing `>`.
                    self.0
                        .push(group.span.start.offset..name.span.end.offset + 1);
                }
            }
            Ok(())
        }
    }
    let parsed = ast::parse::Parser::new().parse(pattern).ok()?;
    let mut openers = ast::visit(&parsed, Openers(Vec::new())).ok()?;
    openers.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(pattern.len());
    let mut at = 0;
    for opener in openers {
        out.push_str(pattern.get(at..opener.start)?);
        out.push_str("(?:");
        at = opener.end;
    }
    out.push_str(pattern.get(at..)?);
    Some(out)
}

/// A setting of the manifest a diff compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setting {
    Pattern,
    Grace,
    Protect,
    Platforms,
    Retention,
}

impl Setting {
    /// The key, as written in the manifest (`builds.pattern`).
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Pattern => "builds.pattern",
            Setting::Grace => "builds.grace",
            Setting::Protect => "builds.protect",
            Setting::Platforms => "platforms",
            Setting::Retention => "retention",
        }
    }
}

/// A setting whose value differs; `None`: not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingChange {
    pub setting: Setting,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// An image of both manifests whose `builds`, `from` or `until` differ:
/// each side in words (`from: rocky-40`, `every build`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    pub image: String,
    pub old: String,
    pub new: String,
}

/// The images the change adds, removes or expects in other builds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageChanges {
    /// In NEW only, in NEW's order.
    pub added: Vec<String>,
    /// In OLD only, in OLD's order.
    pub removed: Vec<String>,
    /// In both, expected in other builds, in NEW's order.
    pub changed: Vec<ImageChange>,
}

impl ImageChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Why a build is a build under one manifest only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Its tag matches NEW's `builds.pattern` and not OLD's.
    MatchesNow,
    /// Its tag matches OLD's `builds.pattern` and not NEW's.
    NoLongerMatches,
}

/// What differs in a build between the two judgements. The inventory is the
/// same, so an image missing under one manifest only is one that manifest
/// expects in the build and the other does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    /// Images missing under NEW and not under OLD, sorted.
    pub now_missing: Vec<String>,
    /// Images missing under OLD and not under NEW, sorted.
    pub no_longer_missing: Vec<String>,
    /// Platforms known missing under NEW and not under OLD: image → platforms.
    pub now_missing_platforms: BTreeMap<String, Vec<Platform>>,
    /// Platforms known missing under OLD and not under NEW: image → platforms.
    pub no_longer_missing_platforms: BTreeMap<String, Vec<Platform>>,
    /// The images of `no_longer_missing_platforms` that NEW does not expect
    /// in the build at all (removed from the manifest, or left out by their
    /// `builds`, `from` or `until`): not a platform NEW no longer requires,
    /// an image it no longer expects. Sorted.
    pub no_longer_expected: Vec<String>,
    /// For a build under one manifest only: when the pattern decides it.
    pub pattern: Option<Pattern>,
}

/// A build whose status differs: judged under OLD and under NEW (`None`: not
/// a build under that manifest).
#[derive(Debug, Clone, PartialEq)]
pub struct BuildChange {
    pub tag: String,
    pub old: Option<BuildReport>,
    pub new: Option<BuildReport>,
    pub cause: Cause,
}

impl BuildChange {
    pub fn old_status(&self) -> Option<Status> {
        self.old.as_ref().map(|b| b.status)
    }

    pub fn new_status(&self) -> Option<Status> {
        self.new.as_ref().map(|b| b.status)
    }
}

/// A build one prune would delete and the other would not (or not in every
/// repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub tag: String,
    /// Its status under the manifest whose prune deletes it.
    pub status: Status,
    /// Why that prune deletes it (`broken`, `expired`).
    pub reason: Reason,
    /// For an expired build: retention's reason.
    pub retention: Option<String>,
    /// The repositories whose tag only this prune deletes, sorted.
    pub repositories: Vec<String>,
    /// The other prune deletes the build too, in other repositories only
    /// (an image added to, or removed from, the manifest carries the tag).
    pub partial: bool,
}

/// How one kind of prune (`--broken`, `--expired`) differs between OLD and NEW.
/// A prune that refuses deletes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneChange {
    /// What NEW's prune deletes and OLD's does not, newest build first.
    pub added: Vec<Deletion>,
    /// What OLD's prune deletes and NEW's does not.
    pub removed: Vec<Deletion>,
    /// Builds both delete, in the same repositories.
    pub unchanged: Vec<String>,
    /// Why OLD's prune refuses, if it does.
    pub old_refusal: Option<Refusal>,
    /// Why NEW's prune refuses, if it does.
    pub new_refusal: Option<Refusal>,
    /// Builds NEW's prune would not delete, and why, where OLD's prune did
    /// not skip them for the same reason: an image that joined the set
    /// later, an age nothing proves yet, `builds.protect` (builds in
    /// progress are not listed: their status says it).
    pub skipped: Vec<SkippedBuild>,
}

impl PruneChange {
    /// Whether NEW's prune deletes something OLD's does not, or refuses
    /// where OLD's did not.
    pub fn has_findings(&self) -> bool {
        !self.added.is_empty() || self.refuses_now()
    }

    /// NEW's prune refuses, and OLD's did not, or for something OLD's did
    /// not refuse for (another kind of refusal, or an image or build OLD's
    /// refusal did not name). Refusals are compared by what refuses, never
    /// by their words: a manifest that merely reorders two missing images
    /// refuses for the same thing.
    pub fn refuses_now(&self) -> bool {
        match (&self.new_refusal, &self.old_refusal) {
            (Some(new), Some(old)) => !covered_by(new, old),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Both prunes refuse, NEW's for nothing OLD's did not refuse for (the
    /// same images, or fewer of them): no finding.
    pub fn still_refuses(&self) -> bool {
        self.new_refusal.is_some() && self.old_refusal.is_some() && !self.refuses_now()
    }

    /// Both refuse for the same thing, or neither refuses.
    pub fn refuses_alike(&self) -> bool {
        match (&self.new_refusal, &self.old_refusal) {
            (Some(new), Some(old)) => covered_by(new, old) && covered_by(old, new),
            (None, None) => true,
            _ => false,
        }
    }

    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.refuses_alike()
            && self.skipped.is_empty()
    }
}

/// What a refusal refuses for: its kind, and the set of images (or builds)
/// it names; `None` for a refusal that names no set (compared whole).
fn refused_for(refusal: &Refusal) -> Option<(u8, BTreeSet<&str>)> {
    fn set(list: &[String]) -> BTreeSet<&str> {
        list.iter().map(String::as_str).collect()
    }
    match refusal {
        Refusal::MissingRepositories(list) => Some((0, set(list))),
        Refusal::UnverifiedRepositories(list) => Some((1, set(list))),
        Refusal::NamedKeptBuild(build) => Some((2, BTreeSet::from([build.as_str()]))),
        Refusal::TooManyBuilds { .. } | Refusal::NothingAsked | Refusal::NoRetention(_) => None,
    }
}

/// Whether `new` refuses for nothing `old` does not: the same kind, naming
/// no image or build `old` does not name.
fn covered_by(new: &Refusal, old: &Refusal) -> bool {
    match (refused_for(new), refused_for(old)) {
        (Some((kind_new, new)), Some((kind_old, old))) => {
            kind_new == kind_old && new.is_subset(&old)
        }
        _ => new == old,
    }
}

/// Repositories of expected images whose existence the change makes a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryChanges {
    /// Images of NEW without a repository that OLD did not miss (a typo in
    /// an added image?): prune refuses while they are missing.
    pub now_missing: Vec<String>,
    /// Images OLD missed that NEW does not.
    pub no_longer_missing: Vec<String>,
    /// Images of NEW whose repository the registry neither listed nor denied.
    pub now_unverified: Vec<String>,
    pub no_longer_unverified: Vec<String>,
}

/// What a manifest change does (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub registry: String,
    pub namespace: String,
    /// When both were judged.
    pub as_of: DateTime<Utc>,
    /// OLD's file, as given.
    pub old: String,
    /// NEW's file, as given.
    pub new: String,
    pub settings: Vec<SettingChange>,
    pub images: ImageChanges,
    pub old_summary: Summary,
    pub new_summary: Summary,
    /// Every build whose status differs, newest first.
    pub builds: Vec<BuildChange>,
    pub prune_broken: PruneChange,
    /// `None` when neither manifest has `retention`.
    pub prune_expired: Option<PruneChange>,
    pub repositories: RepositoryChanges,
    /// Images NEW's audit finds in no build before one (the fix is `from:`),
    /// where that explains a changed build.
    pub late_images: Vec<LateImage>,
    /// Images NEW's audit finds in no finished build after one (the fix may
    /// be `until:`), where that explains a changed build.
    pub retired_images: Vec<RetiredImage>,
    /// How many of NEW's builds have images whose platforms the registry did
    /// not state (no platform change can show there).
    pub unverified_platforms: usize,
}

impl Diff {
    /// Whether the change does something a reviewer must look at (exit 1):
    /// a build changes status, a prune deletes more (or refuses now), or an
    /// expected repository is missing or unverified now.
    pub fn has_findings(&self) -> bool {
        !self.builds.is_empty()
            || self.prune_broken.has_findings()
            || self
                .prune_expired
                .as_ref()
                .is_some_and(PruneChange::has_findings)
            || !self.repositories.now_missing.is_empty()
            || !self.repositories.now_unverified.is_empty()
    }

    /// Whether the change does nothing at all to the judgement.
    pub fn is_empty(&self) -> bool {
        self.builds.is_empty()
            && self.prune_broken.is_empty()
            && self
                .prune_expired
                .as_ref()
                .is_none_or(PruneChange::is_empty)
            && self.repositories == RepositoryChanges::default()
    }
}

/// One side of the comparison.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub manifest: &'a Manifest,
    pub judgement: &'a Judgement,
}

/// Compares the judgements of one inventory under OLD and NEW (both judged
/// as of the same time).
pub fn compare(old: Side<'_>, new: Side<'_>) -> Diff {
    let (old_report, new_report) = (&old.judgement.report, &new.judgement.report);
    let builds = build_changes(old, new);
    let explains = |image: &str| {
        builds
            .iter()
            .any(|b| b.cause.now_missing.iter().any(|m| m == image))
    };
    let late_images = new_report
        .late_images
        .iter()
        .filter(|l| explains(&l.image))
        .cloned()
        .collect();
    let retired_images = new_report
        .retired_images
        .iter()
        .filter(|r| explains(&r.image))
        .cloned()
        .collect();
    let prune_expired = match (&old.judgement.plans.expired, &new.judgement.plans.expired) {
        (None, None) => None,
        (o, n) => Some(prune_change(o.as_ref(), n.as_ref())),
    };
    Diff {
        registry: new_report.registry.clone(),
        namespace: new_report.namespace.clone(),
        as_of: new_report.as_of,
        old: old.manifest.source.clone(),
        new: new.manifest.source.clone(),
        settings: setting_changes(old.manifest, new.manifest),
        images: image_changes(old.manifest, new.manifest),
        old_summary: old_report.summary,
        new_summary: new_report.summary,
        prune_broken: prune_change(
            Some(&old.judgement.plans.broken),
            Some(&new.judgement.plans.broken),
        ),
        prune_expired,
        repositories: RepositoryChanges {
            now_missing: minus(
                &new_report.missing_repositories,
                &old_report.missing_repositories,
            ),
            no_longer_missing: minus(
                &old_report.missing_repositories,
                &new_report.missing_repositories,
            ),
            now_unverified: minus(
                &new_report.unverified_repositories,
                &old_report.unverified_repositories,
            ),
            no_longer_unverified: minus(
                &old_report.unverified_repositories,
                &new_report.unverified_repositories,
            ),
        },
        late_images,
        retired_images,
        unverified_platforms: new_report
            .builds
            .iter()
            .filter(|b| !b.unverified_platforms.is_empty())
            .count(),
        builds,
    }
}

/// The items of `a` not in `b`, in `a`'s order.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

fn setting_changes(old: &Manifest, new: &Manifest) -> Vec<SettingChange> {
    fn words(m: &Manifest, setting: Setting) -> Option<String> {
        match setting {
            Setting::Pattern => Some(m.builds.pattern.as_str().to_string()),
            Setting::Grace => Some(format_duration(m.builds.grace)),
            Setting::Protect => (!m.builds.protect.is_empty()).then(|| {
                let all: Vec<&str> = m.builds.protect.iter().map(|r| r.as_str()).collect();
                all.join(", ")
            }),
            Setting::Platforms => (!m.platforms.is_empty()).then(|| {
                let all: Vec<String> = m.platforms.iter().map(ToString::to_string).collect();
                all.join(", ")
            }),
            Setting::Retention => m.retention.as_ref().map(|r| match r.max_age {
                Some(age) => format!("keep: {}, max_age: {}", r.keep, format_duration(age)),
                None => format!("keep: {}", r.keep),
            }),
        }
    }
    [
        Setting::Pattern,
        Setting::Grace,
        Setting::Protect,
        Setting::Platforms,
        Setting::Retention,
    ]
    .into_iter()
    .filter_map(|setting| {
        let (o, n) = (words(old, setting), words(new, setting));
        (o != n).then_some(SettingChange {
            setting,
            old: o,
            new: n,
        })
    })
    .collect()
}

/// The builds an image is expected in, in words: `builds: '^rocky-1\d\d$',
/// from: rocky-40`, or `every build`.
pub fn expectation(image: &ImageSpec) -> String {
    let mut parts = Vec::new();
    if let Some(re) = &image.builds {
        parts.push(format!("builds: '{}'", re.as_str()));
    }
    if let Some(from) = &image.from {
        parts.push(format!("from: {from}"));
    }
    if let Some(until) = &image.until {
        parts.push(format!("until: {until}"));
    }
    if parts.is_empty() {
        "every build".to_string()
    } else {
        parts.join(", ")
    }
}

fn image_changes(old: &Manifest, new: &Manifest) -> ImageChanges {
    let mut changes = ImageChanges::default();
    for image in &new.images {
        match old.image(&image.name) {
            None => changes.added.push(image.name.clone()),
            Some(before) => {
                let (o, n) = (expectation(before), expectation(image));
                if o != n {
                    changes.changed.push(ImageChange {
                        image: image.name.clone(),
                        old: o,
                        new: n,
                    });
                }
            }
        }
    }
    changes.removed = old
        .images
        .iter()
        .filter(|i| new.image(&i.name).is_none())
        .map(|i| i.name.clone())
        .collect();
    changes
}

fn build_changes(old: Side<'_>, new: Side<'_>) -> Vec<BuildChange> {
    let old_builds: HashMap<&str, &BuildReport> = old
        .judgement
        .report
        .builds
        .iter()
        .map(|b| (b.tag.as_str(), b))
        .collect();
    let new_builds: HashMap<&str, &BuildReport> = new
        .judgement
        .report
        .builds
        .iter()
        .map(|b| (b.tag.as_str(), b))
        .collect();
    let tags: BTreeSet<&str> = old_builds
        .keys()
        .chain(new_builds.keys())
        .copied()
        .collect();
    let mut changes: Vec<BuildChange> = tags
        .into_iter()
        .filter_map(|tag| {
            let (o, n) = (old_builds.get(tag).copied(), new_builds.get(tag).copied());
            if o.map(|b| b.status) == n.map(|b| b.status) {
                return None;
            }
            fn missing(b: Option<&BuildReport>) -> &[String] {
                b.map_or(&[], |b| b.missing.as_slice())
            }
            let platforms = |b: Option<&BuildReport>| {
                b.map(|b| b.missing_platforms.clone()).unwrap_or_default()
            };
            let pattern = match (o, n) {
                (None, Some(_))
                    if new.manifest.builds.is_build(tag) && !old.manifest.builds.is_build(tag) =>
                {
                    Some(Pattern::MatchesNow)
                }
                (Some(_), None)
                    if old.manifest.builds.is_build(tag) && !new.manifest.builds.is_build(tag) =>
                {
                    Some(Pattern::NoLongerMatches)
                }
                _ => None,
            };
            let no_longer_missing_platforms = platforms_minus(platforms(o), &platforms(n));
            // Whether NEW expects `image` in this build (it is a build under
            // NEW, the image is in NEW, and its entry does not leave it out).
            let expected_by_new = |image: &str| {
                new.manifest.image(image).is_some()
                    && n.is_some_and(|n| !n.not_expected.iter().any(|i| i == image))
            };
            Some(BuildChange {
                tag: tag.to_string(),
                cause: Cause {
                    now_missing: minus(missing(n), missing(o)),
                    no_longer_missing: minus(missing(o), missing(n)),
                    now_missing_platforms: platforms_minus(platforms(n), &platforms(o)),
                    no_longer_expected: no_longer_missing_platforms
                        .keys()
                        .filter(|image| n.is_some() && !expected_by_new(image))
                        .cloned()
                        .collect(),
                    no_longer_missing_platforms,
                    pattern,
                },
                old: o.cloned(),
                new: n.cloned(),
            })
        })
        .collect();
    // Newest first, as the audit lists builds.
    changes.sort_by(|a, b| {
        let newest = |c: &BuildChange| {
            [&c.old, &c.new]
                .into_iter()
                .flatten()
                .filter_map(|b| b.newest_push)
                .max()
        };
        newest(b)
            .cmp(&newest(a))
            .then_with(|| natural_cmp(&b.tag, &a.tag))
    });
    changes
}

/// The platforms of `a` that `b` does not list for the same image.
fn platforms_minus(
    a: BTreeMap<String, Vec<Platform>>,
    b: &BTreeMap<String, Vec<Platform>>,
) -> BTreeMap<String, Vec<Platform>> {
    a.into_iter()
        .filter_map(|(image, platforms)| {
            let other = b.get(&image);
            let only: Vec<Platform> = platforms
                .into_iter()
                .filter(|p| other.is_none_or(|o| !o.contains(p)))
                .collect();
            (!only.is_empty()).then_some((image, only))
        })
        .collect()
}

fn prune_change(
    old: Option<&Result<PrunePlan, Refusal>>,
    new: Option<&Result<PrunePlan, Refusal>>,
) -> PruneChange {
    let planned = |side: Option<&Result<PrunePlan, Refusal>>| -> Vec<PlannedBuild> {
        match side {
            Some(Ok(plan)) => plan.builds.clone(),
            _ => Vec::new(),
        }
    };
    let refusal = |side: Option<&Result<PrunePlan, Refusal>>| match side {
        Some(Err(refusal)) => Some(refusal.clone()),
        _ => None,
    };
    let skipped = |side: Option<&Result<PrunePlan, Refusal>>| match side {
        Some(Ok(plan)) => plan
            .skipped
            .iter()
            .filter(|s| !matches!(s.reason, SkipReason::InProgress | SkipReason::NotCarried))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let (old_builds, new_builds) = (planned(old), planned(new));
    let old_skipped = skipped(old);
    let mut change = PruneChange {
        added: deletions(&new_builds, &old_builds),
        removed: deletions(&old_builds, &new_builds),
        unchanged: new_builds
            .iter()
            .filter(|b| {
                old_builds
                    .iter()
                    .any(|o| o.tag == b.tag && repositories(o) == repositories(b))
            })
            .map(|b| b.tag.clone())
            .collect(),
        old_refusal: refusal(old),
        new_refusal: refusal(new),
        skipped: skipped(new)
            .into_iter()
            .filter(|s| !old_skipped.contains(s))
            .collect(),
    };
    change.skipped.sort_by(|a, b| natural_cmp(&b.tag, &a.tag));
    change
}

fn repositories(build: &PlannedBuild) -> BTreeSet<&str> {
    build.tags.iter().map(|t| t.repository.as_str()).collect()
}

/// What `these` delete that `others` do not, in `these`' order.
fn deletions(these: &[PlannedBuild], others: &[PlannedBuild]) -> Vec<Deletion> {
    these
        .iter()
        .filter_map(|b| {
            let other = others.iter().find(|o| o.tag == b.tag);
            let theirs = other.map(repositories).unwrap_or_default();
            let only: Vec<String> = repositories(b)
                .into_iter()
                .filter(|r| !theirs.contains(r))
                .map(str::to_string)
                .collect();
            (!only.is_empty()).then(|| Deletion {
                tag: b.tag.clone(),
                status: b.status,
                reason: b.reason,
                retention: b.retention.clone(),
                repositories: only,
                partial: other.is_some(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{intern_platforms, Repository, Tag};
    use crate::manifest::parse_str;

    fn now() -> DateTime<Utc> {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }

    fn manifest(extra: &str, images: &str) -> Manifest {
        parse_str(
            "m.yaml",
            &format!(
                "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\n{extra}images: [{images}]\n"
            ),
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    /// rocky-1 … rocky-5, a day apart (rocky-5 newest, one day old); `zun`
    /// from rocky-4 on; `arm` images carry linux/amd64 only before rocky-3.
    fn inventory() -> Inventory {
        let mut inv = Inventory::new("docker.io", "linaro");
        inv.taken_at = Some(now());
        let tag = |name: &str, image: &str, i: i64| Tag {
            digest: Some(format!("sha256:{image}-{name}")),
            pushed: Some(now() - chrono::Duration::days(6 - i)),
            platforms: Some(intern_platforms(if i < 3 {
                vec!["linux/amd64".parse().unwrap()]
            } else {
                vec![
                    "linux/amd64".parse().unwrap(),
                    "linux/arm64".parse().unwrap(),
                ]
            })),
            ..Tag::new(name)
        };
        for (image, first) in [("base", 1), ("nova", 1), ("zun", 4)] {
            let tags = (first..=5)
                .map(|i| tag(&format!("rocky-{i}"), image, i))
                .chain(
                    // A tag a wider pattern makes a build.
                    (image != "zun").then(|| tag("rocky-5-debug", image, 5)),
                )
                .collect();
            inv.repositories.insert(
                image.into(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        inv
    }

    fn diff(old: &Manifest, new: &Manifest) -> Diff {
        let inv = inventory();
        let (o, n) = (
            judge(old, &inv, now(), |_| None),
            judge(new, &inv, now(), |_| None),
        );
        compare(
            Side {
                manifest: old,
                judgement: &o,
            },
            Side {
                manifest: new,
                judgement: &n,
            },
        )
    }

    fn statuses(d: &Diff) -> Vec<(&str, Option<Status>, Option<Status>)> {
        d.builds
            .iter()
            .map(|b| (b.tag.as_str(), b.old_status(), b.new_status()))
            .collect()
    }

    fn deleted(change: &PruneChange) -> (Vec<&str>, Vec<&str>) {
        fn tags(d: &[Deletion]) -> Vec<&str> {
            d.iter().map(|d| d.tag.as_str()).collect()
        }
        (tags(&change.added), tags(&change.removed))
    }

    #[test]
    fn the_same_manifest_changes_nothing() {
        let m = manifest("", "base, nova");
        let d = diff(&m, &m);
        assert!(d.is_empty() && !d.has_findings(), "{d:#?}");
        assert!(d.settings.is_empty() && d.images.is_empty());
        assert_eq!(d.old_summary, d.new_summary);
    }

    /// Adding zun without `from:` makes the builds before it broken, and
    /// the audit's late-image hint names the fix; prune skips them as a
    /// manifest change, so nothing more is deleted.
    #[test]
    fn an_added_image_breaks_older_builds_and_the_hint_says_from() {
        let (old, new) = (manifest("", "base, nova"), manifest("", "base, nova, zun"));
        let d = diff(&old, &new);
        assert_eq!(d.images.added, ["zun"]);
        assert_eq!(
            statuses(&d),
            [
                ("rocky-3", Some(Status::Complete), Some(Status::Broken)),
                ("rocky-2", Some(Status::Complete), Some(Status::Broken)),
                ("rocky-1", Some(Status::Complete), Some(Status::Broken)),
            ]
        );
        assert!(d.builds.iter().all(|b| b.cause.now_missing == ["zun"]));
        assert_eq!(
            d.late_images,
            [LateImage {
                image: "zun".into(),
                first_build: Some("rocky-4".into())
            }]
        );
        assert_eq!(deleted(&d.prune_broken), (vec![], vec![]));
        let skipped: Vec<&str> = d
            .prune_broken
            .skipped
            .iter()
            .map(|s| s.tag.as_str())
            .collect();
        assert_eq!(skipped, ["rocky-3", "rocky-2", "rocky-1"]);
        assert!(d
            .prune_broken
            .skipped
            .iter()
            .all(|s| matches!(s.reason, SkipReason::OnlyManifestChanges { .. })));
        assert!(d.has_findings(), "builds change status");

        // With `from:`, the change is harmless.
        let fixed = parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages: [base, nova, {name: zun, from: rocky-4}]\n",
        )
        .unwrap();
        let d = diff(&old, &fixed);
        assert_eq!(d.images.added, ["zun"]);
        assert!(d.builds.is_empty() && !d.has_findings(), "{d:#?}");
    }

    /// Removing an image a build lacks makes that build complete: a status
    /// change, so a finding, though nothing more is deleted.
    #[test]
    fn a_removed_image_makes_builds_complete() {
        let (old, new) = (manifest("", "base, nova, zun"), manifest("", "base, nova"));
        let d = diff(&old, &new);
        assert_eq!(d.images.removed, ["zun"]);
        assert_eq!(d.builds.len(), 3);
        assert!(d
            .builds
            .iter()
            .all(|b| b.new_status() == Some(Status::Complete)
                && b.cause.no_longer_missing == ["zun"]));
        assert!(d.late_images.is_empty(), "zun is not in NEW");
        assert!(!d.prune_broken.has_findings());
        assert!(d.has_findings(), "builds change status");
    }

    /// A wider pattern makes `rocky-5-debug` a build; a narrower one drops
    /// builds. Each says the pattern decides.
    #[test]
    fn a_changed_pattern_makes_builds_appear_and_disappear() {
        let old = manifest("", "base, nova");
        let wider = parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+(-debug)?$'\nimages: [base, nova]\n",
        )
        .unwrap();
        let d = diff(&old, &wider);
        assert_eq!(
            statuses(&d),
            [("rocky-5-debug", None, Some(Status::Complete))]
        );
        assert_eq!(d.builds[0].cause.pattern, Some(Pattern::MatchesNow));
        assert_eq!(d.settings[0].setting, Setting::Pattern);
        assert!(d.has_findings());

        let narrower = parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-[4-9]$'\nimages: [base, nova]\n",
        )
        .unwrap();
        let d = diff(&old, &narrower);
        assert_eq!(
            statuses(&d),
            [
                ("rocky-3", Some(Status::Complete), None),
                ("rocky-2", Some(Status::Complete), None),
                ("rocky-1", Some(Status::Complete), None),
            ]
        );
        assert!(d
            .builds
            .iter()
            .all(|b| b.cause.pattern == Some(Pattern::NoLongerMatches)));
    }

    /// Requiring arm64 breaks the builds whose images lack it, naming the
    /// platform; prune --broken now deletes them (pushed days ago).
    #[test]
    fn a_platforms_change_breaks_builds_short_of_one_and_prune_deletes_them() {
        let (old, new) = (
            manifest("platforms: [linux/amd64]\n", "base, nova"),
            manifest("platforms: [linux/amd64, linux/arm64]\n", "base, nova"),
        );
        let d = diff(&old, &new);
        assert_eq!(d.builds.len(), 2, "{:#?}", statuses(&d));
        let cause = &d.builds[0].cause;
        assert!(cause.now_missing.is_empty());
        assert_eq!(
            cause
                .now_missing_platforms
                .iter()
                .map(|(i, p)| format!("{i} {}", p[0]))
                .collect::<Vec<_>>(),
            ["base linux/arm64", "nova linux/arm64"]
        );
        assert_eq!(
            deleted(&d.prune_broken),
            (vec!["rocky-2", "rocky-1"], vec![])
        );
        assert_eq!(d.prune_broken.added[0].repositories, ["base", "nova"]);
        assert!(!d.prune_broken.added[0].partial);
        assert!(d.has_findings());

        // The reverse: fewer deletions is no finding, but builds change.
        let d = diff(&new, &old);
        assert_eq!(
            deleted(&d.prune_broken),
            (vec![], vec!["rocky-2", "rocky-1"])
        );
        assert!(!d.prune_broken.has_findings());
    }

    /// Removing an image that was only short of a platform makes its builds
    /// complete: the cause is the removal, not a platform NEW no longer
    /// requires. The same for an image `until:` leaves out of them.
    #[test]
    fn removing_an_image_short_of_a_platform_is_no_platforms_change() {
        // base carries both platforms in every build; nova lacks arm64
        // before rocky-3.
        let mut inv = inventory();
        let base = inv.repositories.get_mut("base").unwrap();
        for tag in base.tags.as_mut().unwrap() {
            tag.platforms = Some(intern_platforms(vec![
                "linux/amd64".parse().unwrap(),
                "linux/arm64".parse().unwrap(),
            ]));
        }
        let diff = |old: &Manifest, new: &Manifest| {
            let (o, n) = (
                judge(old, &inv, now(), |_| None),
                judge(new, &inv, now(), |_| None),
            );
            compare(
                Side {
                    manifest: old,
                    judgement: &o,
                },
                Side {
                    manifest: new,
                    judgement: &n,
                },
            )
        };
        let platforms = "platforms: [linux/amd64, linux/arm64]\n";
        let old = manifest(platforms, "base, nova");
        let d = diff(&old, &manifest(platforms, "base"));
        assert_eq!(d.builds.len(), 2, "{:#?}", statuses(&d));
        for b in &d.builds {
            assert_eq!(b.cause.no_longer_expected, ["nova"]);
            assert!(b.cause.no_longer_missing_platforms.contains_key("nova"));
        }
        let until = parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nplatforms: [linux/amd64, linux/arm64]\nimages: [base, {name: nova, from: rocky-3}]\n",
        )
        .unwrap();
        let d = diff(&old, &until);
        assert!(d
            .builds
            .iter()
            .all(|b| b.cause.no_longer_expected == ["nova"]));
        // A platform no longer required is no removal.
        let d = diff(&old, &manifest("platforms: [linux/amd64]\n", "base, nova"));
        assert_eq!(d.builds.len(), 2);
        assert!(d
            .builds
            .iter()
            .all(|b| b.cause.no_longer_expected.is_empty()));
    }

    /// keep 4 → keep 2: two more builds expire; no status changes, but
    /// prune --expired deletes more: a finding.
    #[test]
    fn a_retention_change_changes_what_prune_expired_deletes() {
        let (old, new) = (
            manifest("retention: {keep: 4}\n", "base, nova"),
            manifest("retention: {keep: 2}\n", "base, nova"),
        );
        let d = diff(&old, &new);
        assert!(d.builds.is_empty());
        let expired = d.prune_expired.as_ref().unwrap();
        assert_eq!(deleted(expired), (vec!["rocky-3", "rocky-2"], vec![]));
        assert_eq!(expired.unchanged, ["rocky-1"]);
        assert_eq!(expired.added[0].reason, Reason::Expired);
        assert!(expired.added[0]
            .retention
            .as_deref()
            .is_some_and(|r| r.contains("2 newest")));
        assert_eq!(
            d.settings,
            [SettingChange {
                setting: Setting::Retention,
                old: Some("keep: 4".into()),
                new: Some("keep: 2".into())
            }]
        );
        assert!(d.has_findings());

        // Retention removed: prune --expired refuses under NEW, deleting nothing.
        let d = diff(&old, &manifest("", "base, nova"));
        let expired = d.prune_expired.as_ref().unwrap();
        assert_eq!(deleted(expired), (vec![], vec!["rocky-1"]));
        assert!(expired.new_refusal.is_none(), "no plan, no refusal");
        assert!(!d.has_findings());
        // Neither has retention: nothing to say.
        assert!(diff(&manifest("", "a"), &manifest("", "a"))
            .prune_expired
            .is_none());
    }

    /// An added image with no repository: prune refuses under NEW, and the
    /// diff says so.
    #[test]
    fn an_image_without_a_repository_makes_prune_refuse() {
        let d = diff(
            &manifest("", "base, nova"),
            &manifest("", "base, nova, typo"),
        );
        assert_eq!(d.repositories.now_missing, ["typo"]);
        assert!(d.builds.is_empty(), "a missing repository breaks no build");
        assert!(d.prune_broken.refuses_now());
        assert_eq!(
            d.prune_broken.new_refusal,
            Some(Refusal::MissingRepositories(vec!["typo".into()]))
        );
        assert!(d.has_findings());
    }

    /// Refusals are compared by what refuses, not by their words: two
    /// missing images reordered refuse alike; one of them removed still
    /// refuses (for less); one more added refuses now. For `--expired` too.
    #[test]
    fn refusals_are_compared_by_the_images_they_name() {
        let retention = "retention: {keep: 2}\n";
        let m = |images: &str| manifest(retention, images);
        let d = diff(
            &m("base, nova, typoa, typob"),
            &m("base, nova, typob, typoa"),
        );
        for change in [&d.prune_broken, d.prune_expired.as_ref().unwrap()] {
            assert_ne!(change.old_refusal, change.new_refusal, "the words differ");
            assert!(change.refuses_alike() && change.still_refuses());
            assert!(!change.refuses_now() && !change.has_findings() && change.is_empty());
        }
        assert!(d.is_empty() && !d.has_findings(), "{d:#?}");

        let d = diff(&m("base, nova, typoa, typob"), &m("base, nova, typoa"));
        for change in [&d.prune_broken, d.prune_expired.as_ref().unwrap()] {
            assert!(change.still_refuses() && !change.refuses_alike());
            assert!(!change.refuses_now() && !change.has_findings());
        }
        assert_eq!(d.repositories.no_longer_missing, ["typob"]);
        assert!(!d.has_findings(), "{d:#?}");

        let d = diff(&m("base, nova, typoa"), &m("base, nova, typob, typoa"));
        for change in [&d.prune_broken, d.prune_expired.as_ref().unwrap()] {
            assert!(change.refuses_now() && !change.still_refuses());
        }
        assert!(d.has_findings());
    }

    /// An image's `from:` moved later: builds before it no longer expect it.
    #[test]
    fn a_changed_image_entry_is_named_with_both_expectations() {
        let old = manifest("", "base, nova, zun");
        let new = parse_str(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages: [base, nova, {name: zun, from: rocky-4}]\n",
        )
        .unwrap();
        let d = diff(&old, &new);
        assert_eq!(
            d.images.changed,
            [ImageChange {
                image: "zun".into(),
                old: "every build".into(),
                new: "from: rocky-4".into()
            }]
        );
        assert_eq!(d.builds.len(), 3);
        assert_eq!(
            deleted(&d.prune_broken),
            (vec![], vec![]),
            "OLD's prune skipped them as a manifest change too"
        );
        assert!(d
            .builds
            .iter()
            .all(|b| b.cause.no_longer_missing == ["zun"]));
    }

    #[test]
    fn one_scan_reads_what_both_manifests_need() {
        let old = parse_str(
            "old.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^(?P<stream>rocky)-\\d+$'\nplatforms: [linux/amd64]\nretention: {keep: 2}\nimages: [base, {name: zun, from: rocky-4}, gone]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let new = parse_str(
            "new.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^(?<stream>rocky|stein)-\\d+$'\nplatforms: [linux/arm64]\nimages: [base, zun, {name: added, until: rocky-9}]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let both = reading_both(&old, &new);
        assert_eq!(both.source, "new.yaml");
        for tag in ["rocky-1", "stein-2"] {
            assert!(both.builds.is_build(tag), "{tag}");
        }
        assert!(!both.builds.is_build("latest"));
        let images: Vec<(&str, String)> = both
            .images
            .iter()
            .map(|i| (i.name.as_str(), expectation(i)))
            .collect();
        assert_eq!(
            images,
            [
                ("base", "every build".to_string()),
                ("zun", "every build".to_string()),
                ("added", "until: rocky-9".to_string()),
                ("gone", "every build".to_string()),
            ]
        );
        let platforms: Vec<String> = both.platforms.iter().map(ToString::to_string).collect();
        assert_eq!(platforms, ["linux/arm64", "linux/amd64"]);
        assert!(both.retention.is_none());

        assert_eq!(
            unnamed(r"^(?P<stream>a|(?<x>b))-(c)\d+$").as_deref(),
            Some(r"^(?:a|(?:b))-(c)\d+$")
        );
        // Patterns that cannot be joined read every tag.
        let wide = either(
            &regex::Regex::new("(?x) a # comment").unwrap(),
            &regex::Regex::new("b").unwrap(),
        );
        assert!(wide.is_match("anything"));
    }

    #[test]
    fn an_image_added_to_a_build_prune_deletes_anyway_adds_its_repository() {
        let planned = |repos: &[&str]| PlannedBuild {
            tag: "rocky-1".into(),
            status: Status::Broken,
            reason: Reason::Broken,
            contents: String::new(),
            platforms_only: false,
            retention: None,
            kept_by: vec![],
            missing: vec![],
            missing_platforms: Default::default(),
            tags: repos
                .iter()
                .map(|r| super::super::prune::PlannedTag {
                    repository: r.to_string(),
                    tag: "rocky-1".into(),
                    digest: None,
                    media_type: None,
                })
                .collect(),
        };
        let added = deletions(&[planned(&["a", "b", "c"])], &[planned(&["a", "b"])]);
        assert_eq!(added.len(), 1);
        assert_eq!(
            (added[0].repositories.clone(), added[0].partial),
            (vec!["c".to_string()], true)
        );
        assert!(deletions(&[planned(&["a"])], &[planned(&["a", "b"])]).is_empty());
    }
}
