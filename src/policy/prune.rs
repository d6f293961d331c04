//! The prune plan: exactly which tags may be deleted, and why — as a pure
//! function of (manifest, inventory, audit report, request).
//!
//! Rails, each enforced here and unit-tested:
//! * only repositories of the manifest's images are touched; unexpected
//!   repositories carrying the same tag are reported, never planned;
//! * `--broken` takes builds the audit judged `broken` — never `in_progress`
//!   or `complete` ones;
//! * a tag matching `builds.protect` is never planned, whatever is asked;
//! * `--broken` refuses outright when an expected repository is missing (the
//!   audit cannot be trusted: a typo or missing credentials make builds look
//!   broken), and any plan covering more than `max_builds` builds is refused.
//!
//! Just before deleting, each build is looked up again ([`recheck`]): a late
//! push may have completed it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::audit::{evaluate, BuildSelection, Report, Status};
use crate::inventory::{Inventory, Repository, Tag};
use crate::manifest::Manifest;

/// What the user asked to prune.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneRequest {
    /// `--broken`: every broken build.
    pub broken: bool,
    /// `--build TAG`: these builds, whatever their status.
    pub builds: Vec<String>,
    /// `--max-builds N`: refuse a plan covering more builds.
    pub max_builds: usize,
}

/// Why a build is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The audit judged it broken (`--broken`).
    Broken,
    /// The user named it (`--build`).
    Named,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Broken => "broken",
            Reason::Named => "named",
        }
    }
}

/// One tag to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTag {
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
}

/// One build to delete, across the set.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBuild {
    pub tag: String,
    pub status: Status,
    pub reason: Reason,
    /// Its tags in the manifest's repositories, sorted by repository.
    pub tags: Vec<PlannedTag>,
}

/// A build that was asked for (or is broken) but will not be pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedBuild {
    pub tag: String,
    pub reason: String,
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
}

/// Why no plan can be made: the caller refuses to delete anything (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "refusing to prune broken builds: {} expected repositor{} missing ({}). \
         A typo in the manifest, or private repositories seen without credentials, make builds look broken; \
         fix the manifest or log in, then run again",
        .0.len(), if .0.len() == 1 { "y is" } else { "ies are" }, .0.join(", ")
    )]
    MissingRepositories(Vec<String>),
    #[error(
        "refusing to prune {planned} builds: more than --max-builds {max}. \
         A manifest mistake can make every build look broken; check the plan with --dry-run, \
         then raise --max-builds if it is right"
    )]
    TooManyBuilds { planned: usize, max: usize },
    #[error("nothing to prune: give --broken, --build TAG, or both")]
    NothingAsked,
}

/// Computes what `request` deletes (see the module documentation).
pub fn plan(
    manifest: &Manifest,
    inventory: &Inventory,
    report: &Report,
    request: &PruneRequest,
) -> Result<PrunePlan, Refusal> {
    if !request.broken && request.builds.is_empty() {
        return Err(Refusal::NothingAsked);
    }
    if request.broken && !report.missing_repositories.is_empty() {
        return Err(Refusal::MissingRepositories(
            report.missing_repositories.clone(),
        ));
    }
    let mut chosen: Vec<(&str, Status, Reason)> = Vec::new();
    let mut skipped = Vec::new();
    for build in &report.builds {
        let named = request.builds.contains(&build.tag);
        if named {
            chosen.push((&build.tag, build.status, Reason::Named));
        } else if request.broken && build.status == Status::Broken {
            chosen.push((&build.tag, build.status, Reason::Broken));
        } else if request.broken && build.status == Status::InProgress {
            skipped.push(SkippedBuild {
                tag: build.tag.clone(),
                reason: "in progress: pushed within the grace period".into(),
            });
        }
    }
    for name in &request.builds {
        if !report.builds.iter().any(|b| b.tag == *name) {
            skipped.push(SkippedBuild {
                tag: name.clone(),
                reason: "no repository of the set carries this tag".into(),
            });
        }
    }

    let mut builds = Vec::new();
    let mut untouched = Vec::new();
    for (tag, status, reason) in chosen {
        if manifest.builds.is_protected(tag) {
            skipped.push(SkippedBuild {
                tag: tag.to_string(),
                reason: "protected by builds.protect".into(),
            });
            continue;
        }
        let mut tags = Vec::new();
        for (repo_name, repo) in &inventory.repositories {
            let Some(found) = find_tag(repo, tag) else {
                continue;
            };
            let planned = PlannedTag {
                repository: repo_name.clone(),
                tag: tag.to_string(),
                digest: found.digest.clone(),
            };
            if manifest.image(repo_name).is_some() {
                tags.push(planned);
            } else {
                untouched.push(planned);
            }
        }
        if tags.is_empty() {
            skipped.push(SkippedBuild {
                tag: tag.to_string(),
                reason: "no repository of the set carries this tag".into(),
            });
            continue;
        }
        builds.push(PlannedBuild {
            tag: tag.to_string(),
            status,
            reason,
            tags,
        });
    }
    if builds.len() > request.max_builds {
        return Err(Refusal::TooManyBuilds {
            planned: builds.len(),
            max: request.max_builds,
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

fn find_tag<'a>(repo: &'a Repository, tag: &str) -> Option<&'a Tag> {
    repo.tags.as_ref()?.iter().find(|t| t.name == tag)
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
/// A `--broken` build that is now complete or in progress is skipped; a
/// named build always proceeds.
pub fn recheck(
    manifest: &Manifest,
    build: &PlannedBuild,
    fresh: &[(String, Option<Tag>)],
    now: DateTime<Utc>,
) -> Recheck {
    if build.reason == Reason::Named {
        return Recheck::Proceed;
    }
    let mut inventory = Inventory::new("recheck", &manifest.namespace);
    for (repo, tag) in fresh {
        inventory.repositories.insert(
            repo.clone(),
            Repository {
                private: None,
                tags: Some(tag.iter().cloned().collect()),
            },
        );
    }
    let report = evaluate(
        manifest,
        &inventory,
        now,
        &BuildSelection::Named(vec![build.tag.clone()]),
    );
    match report.builds.first().map(|b| b.status) {
        Some(Status::Broken) | None => Recheck::Proceed,
        Some(Status::Complete) => {
            Recheck::Skip("complete now: the missing images were pushed since the audit".into())
        }
        Some(Status::InProgress) => {
            Recheck::Skip("in progress now: pushed to since the audit".into())
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
            platforms: None,
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
                    private: None,
                    tags: Some(tags),
                },
            );
        }
        inv
    }

    fn plan_for(request: PruneRequest) -> Result<PrunePlan, Refusal> {
        let (m, inv) = (manifest(), inventory());
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        plan(&m, &inv, &report, &request)
    }

    fn broken() -> PruneRequest {
        PruneRequest {
            broken: true,
            builds: vec![],
            max_builds: 5,
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
            .map(|s| (s.tag.as_str(), s.reason.as_str()))
            .collect();
        assert!(skipped.contains(&("rocky-3", "in progress: pushed within the grace period")));
        assert!(skipped.contains(&("release-keep", "protected by builds.protect")));
        assert_eq!((p.tag_count(), p.repository_count()), (2, 2));
    }

    #[test]
    fn named_builds_whatever_their_status_but_never_protected_ones() {
        let p = plan_for(PruneRequest {
            broken: false,
            builds: vec!["rocky-1".into(), "release-keep".into(), "rocky-9".into()],
            max_builds: 5,
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
            builds: vec!["rocky-2".into(), "rocky-1".into()],
            max_builds: 5,
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
                builds: vec!["rocky-1".into(), "rocky-2".into()],
                max_builds: 1
            }),
            Err(Refusal::TooManyBuilds { planned: 2, max: 1 })
        );
        let m = manifest();
        let mut inv = inventory();
        inv.repositories.remove("a-glance");
        let report = evaluate(&m, &inv, now(), &BuildSelection::All);
        let refusal = plan(&m, &inv, &report, &broken()).unwrap_err();
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
            builds: vec!["rocky-2".into()],
            max_builds: 5,
        };
        assert!(plan(&m, &inv, &report, &named).is_ok());
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
}
