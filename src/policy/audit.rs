//! The completeness audit: which builds are complete, broken or still being pushed.
//!
//! A *build* is a tag that matches `builds.pattern`, pushed to every image of
//! the set. For each build we compute the images expected in it (per-image
//! `builds` filters applied), the ones present, the ones missing, the
//! platforms missing from present images, and the newest push. Then:
//!
//! * `complete`: nothing missing;
//! * `in_progress`: something missing, but the newest push is younger than
//!   `builds.grace` — CI may still be pushing, so it is never called broken;
//! * `broken`: something missing, and the build is older than that (or its
//!   push time is unknown, so grace cannot apply).
//!
//! Images whose repository does not exist at all are reported once, as
//! `missing_repositories`, and left out of every build's counts: a typo in the
//! manifest or a private repository seen without credentials is not a broken
//! build, and must not make every build look broken.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::natural_cmp;
use crate::inventory::{Inventory, Tag};
use crate::manifest::Manifest;
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

/// One build (one tag) across the set.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    pub tag: String,
    pub status: Status,
    /// Images expected in this build (existing repositories only).
    pub expected: usize,
    /// How many expected images carry the tag.
    pub present: usize,
    /// Expected images that do not carry the tag, sorted.
    pub missing: Vec<String>,
    /// For present images that lack a required platform: image → platforms.
    pub missing_platforms: BTreeMap<String, Vec<Platform>>,
    /// The newest push of any of the build's tags.
    pub newest_push: Option<DateTime<Utc>>,
}

impl BuildReport {
    /// Whether anything (an image or a platform) is missing.
    pub fn is_incomplete(&self) -> bool {
        !self.missing.is_empty() || !self.missing_platforms.is_empty()
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
}

impl Report {
    /// Whether the audit found something a user must act on (exit code 1).
    pub fn has_findings(&self) -> bool {
        self.summary.broken > 0 || !self.missing_repositories.is_empty()
    }
}

/// What is known of one build while the tags are read.
struct Acc<'a> {
    /// `present[i]`: the i-th existing expected image carries the tag.
    present: Vec<bool>,
    missing_platforms: BTreeMap<&'a str, Vec<Platform>>,
    newest: Option<DateTime<Utc>>,
}

impl Acc<'_> {
    fn new(images: usize) -> Self {
        Acc {
            present: vec![false; images],
            missing_platforms: BTreeMap::new(),
            newest: None,
        }
    }
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
    let mut existing = Vec::new();
    for image in &manifest.images {
        match inventory.repositories.get(&image.name) {
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
            acc.present[index] = true;
            acc.newest = acc.newest.max(tag.pushed);
            let gaps = missing_platforms(&manifest.platforms, tag);
            if !gaps.is_empty() {
                acc.missing_platforms.insert(image.name.as_str(), gaps);
            }
        }
    }

    let mut reports: Vec<BuildReport> = builds
        .into_iter()
        .map(|(tag, acc)| {
            let mut expected = 0;
            let mut missing = Vec::new();
            for (index, (image, _)) in existing.iter().enumerate() {
                if image.expected_in(tag) {
                    expected += 1;
                    if !acc.present[index] {
                        missing.push(image.name.clone());
                    }
                }
            }
            missing.sort();
            let mut report = BuildReport {
                tag: tag.to_string(),
                status: Status::Complete,
                expected,
                present: expected - missing.len(),
                missing,
                missing_platforms: acc
                    .missing_platforms
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                newest_push: acc.newest,
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

    Report {
        registry: inventory.registry.clone(),
        namespace: inventory.namespace.clone(),
        as_of: now,
        builds: reports,
        summary,
        unexpected_repositories: unexpected_repositories(manifest, inventory),
        missing_repositories,
    }
}

/// Complete, in progress or broken (see the module documentation).
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

/// The required platforms that `tag` does not carry. A tag whose platforms
/// the registry did not report lacks nothing we can prove.
fn missing_platforms(required: &[Platform], tag: &Tag) -> Vec<Platform> {
    let Some(carried) = &tag.platforms else {
        return Vec::new();
    };
    required
        .iter()
        .filter(|want| !carried.iter().any(|have| have.satisfies(want)))
        .cloned()
        .collect()
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
            platforms: platforms
                .map(|ps| ps.iter().filter_map(|p| Platform::parse_loose(p)).collect()),
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
}
