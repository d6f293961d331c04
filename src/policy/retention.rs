//! Retention: which builds are no longer supported, as a pure function of the
//! manifest's `retention` and the audit's verdicts.
//!
//! Release engineers keep the last few good builds of each release line.
//! Keeping "the newest N tags" of each repository, as registry cleanup
//! scripts do, keeps different builds in different repositories and breaks
//! every set; here a build is kept or retired whole. The rules:
//!
//! * builds are split into *streams* (release lines) by the group `stream`
//!   of `builds.pattern` ([`crate::manifest::BuildRules::stream`]); without
//!   it, all builds form one stream;
//! * the builds of a stream are ordered by the natural order of their tags
//!   (`rocky-9` < `rocky-10` < `rocky-100`; push time only between tags that
//!   compare equal), so a rebuilt old build never counts as new;
//! * a build *expires* when it is older than the `keep`-th newest complete
//!   build of its stream, is not in progress, is not protected
//!   (`builds.protect`), and — when `max_age` is set — its newest push is
//!   older than `max_age`. A stream with fewer than `keep` complete builds
//!   expires nothing.
//!
//! Deleting needs proof, so what the registry did not state never counts for
//! an expiry:
//! * a build counts as complete only when the audit proved it: one whose
//!   required platforms the registry did not state (`unverified_platforms`)
//!   is not one of the `keep` (it is not retired for that either);
//! * with `max_age`, a build is old enough only on push times the registry
//!   reported: a time the images merely declare (a reproducible build
//!   declares its commit's time), or none at all, proves nothing, and the
//!   build is kept, saying so.
//!
//! Every build gets a [`Verdict`] with its reason, kept or expired; the audit
//! shows them and `prune --expired` deletes the expired ones (`policy::prune`,
//! with its rails).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::audit::{AgeSource, BuildReport, Status};
use super::natural_cmp;
use crate::duration::format_duration;
use crate::manifest::{BuildRules, Retention};

/// What retention decided for one build, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The build's stream; `None` when `builds.pattern` names none.
    pub stream: Option<String>,
    /// The policy it was judged by (for the reason's wording).
    pub keep: usize,
    pub max_age: Option<Duration>,
    pub why: Why,
}

/// Why a build is kept, or that it expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// One of the `keep` newest complete builds of its stream (`rank` 1 is
    /// the newest).
    Newest { rank: usize },
    /// Not complete (or not proven so), but newer than the oldest of the
    /// `keep` newest complete builds.
    Newer,
    /// Its stream has fewer than `keep` complete builds: nothing in it
    /// expires. `unverified`: how many more are complete but for platforms
    /// the registry did not state.
    FewComplete { complete: usize, unverified: usize },
    /// Older than the kept builds, but in progress (a rebuild of an old tag).
    InProgress,
    /// Older than the kept builds, but pushed within `max_age`.
    Recent,
    /// Older than the kept builds, but its age is not proven older than
    /// `max_age`: it rests on image-declared times, or is unknown.
    AgeUnproven(AgeSource),
    /// Older than the kept builds, but matches `builds.protect`.
    Protected,
    /// Expired: older than the `keep` newest complete builds of its stream
    /// (and, with `max_age`, last pushed longer ago than that).
    Expired,
}

impl Verdict {
    /// Whether the build is no longer supported (`prune --expired` deletes it).
    pub fn is_expired(&self) -> bool {
        self.why == Why::Expired
    }

    /// A word or two for a table cell: `expired`, `kept`, or what keeps a
    /// build that is older than the kept ones (`kept: age unproven`).
    pub fn label(&self) -> &'static str {
        match self.why {
            Why::Expired => "expired",
            Why::Newest { .. } | Why::Newer | Why::FewComplete { .. } => "kept",
            Why::InProgress => "kept: in progress",
            Why::Recent => "kept: recent",
            Why::AgeUnproven(_) => "kept: age unproven",
            Why::Protected => "kept: protected",
        }
    }

    /// "the 5 newest complete builds of stream rocky".
    fn newest(&self) -> String {
        let builds = match self.keep {
            1 => "the newest complete build".to_string(),
            n => format!("the {n} newest complete builds"),
        };
        match &self.stream {
            Some(stream) => format!("{builds} of stream {stream}"),
            None => builds,
        }
    }

    fn max_age_text(&self) -> String {
        self.max_age.map(format_duration).unwrap_or_default()
    }
}

/// The reason, as the audit and the prune plan print it.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.why {
            Why::Expired => {
                write!(f, "older than {}", self.newest())?;
                if self.max_age.is_some() {
                    write!(f, ", last pushed over {} ago", self.max_age_text())?;
                }
                Ok(())
            }
            Why::Newest { .. } if self.keep == 1 => write!(f, "{}", self.newest()),
            Why::Newest { rank } => write!(f, "number {rank} of {}", self.newest()),
            Why::Newer if self.keep == 1 => write!(f, "newer than {}", self.newest()),
            Why::Newer => write!(f, "newer than the oldest of {}", self.newest()),
            Why::FewComplete {
                complete,
                unverified,
            } => {
                let whose = match &self.stream {
                    Some(stream) => format!("stream {stream} has"),
                    None => "the set has".to_string(),
                };
                write!(
                    f,
                    "{whose} {complete} complete build{}, fewer than keep ({}), so none of its builds expires",
                    if complete == 1 { "" } else { "s" },
                    self.keep
                )?;
                if unverified > 0 {
                    write!(
                        f,
                        "; {unverified} more {} complete but for platforms the registry did not state (--verify-platforms reads them)",
                        if unverified == 1 { "is" } else { "are" }
                    )?;
                }
                Ok(())
            }
            Why::InProgress => write!(
                f,
                "older than {}, but in progress: pushed within builds.grace",
                self.newest()
            ),
            Why::Recent => write!(
                f,
                "older than {}, but pushed within max_age ({})",
                self.newest(),
                self.max_age_text()
            ),
            Why::AgeUnproven(AgeSource::Declared) => write!(
                f,
                "older than {}, but its age rests on the times its images declare (a reproducible build declares its commit's time), which do not prove it older than max_age ({})",
                self.newest(),
                self.max_age_text()
            ),
            Why::AgeUnproven(_) => write!(
                f,
                "older than {}, but its push time is unknown (the registry does not say), so it is not proven older than max_age ({})",
                self.newest(),
                self.max_age_text()
            ),
            Why::Protected => write!(
                f,
                "older than {}, but protected by builds.protect",
                self.newest()
            ),
        }
    }
}

/// Whether `build` was complete by proof: nothing missing, and every
/// required platform stated.
fn proven_complete(build: &BuildReport) -> bool {
    build.status == Status::Complete && build.unverified_platforms.is_empty()
}

/// Newest first: natural order of tags, descending; push time decides
/// between tags that compare equal.
fn newest_first(a: &BuildReport, b: &BuildReport) -> Ordering {
    natural_cmp(&b.tag, &a.tag).then_with(|| b.newest_push.cmp(&a.newest_push))
}

/// What keeps `build`, older than the kept builds of its stream, for its age
/// under `max_age`: pushed within it, or not proven older (see the module
/// documentation). `None`: its age keeps nothing.
pub fn kept_for_age(
    max_age: Option<Duration>,
    build: &BuildReport,
    now: DateTime<Utc>,
) -> Option<Why> {
    let max_age = max_age?;
    let window = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    match (build.age, build.newest_push) {
        (AgeSource::Registry, Some(newest)) if now.signed_duration_since(newest) >= window => None,
        (AgeSource::Registry, Some(_)) => Some(Why::Recent),
        (AgeSource::Registry, None) => Some(Why::AgeUnproven(AgeSource::Unknown)),
        (source, _) => Some(Why::AgeUnproven(source)),
    }
}

/// Judges every build of an audit that saw every build: one verdict per
/// build, in the order of `builds`.
pub fn judge(
    rules: &BuildRules,
    policy: &Retention,
    builds: &[BuildReport],
    now: DateTime<Utc>,
) -> Vec<Verdict> {
    let keep = policy.keep.max(1);
    let mut streams: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
    for (index, build) in builds.iter().enumerate() {
        streams
            .entry(rules.stream(&build.tag))
            .or_default()
            .push(index);
    }
    let mut whys: Vec<Option<Why>> = vec![None; builds.len()];
    for members in streams.values_mut() {
        members.sort_by(|&a, &b| newest_first(&builds[a], &builds[b]));
        let complete = members
            .iter()
            .filter(|&&i| proven_complete(&builds[i]))
            .count();
        if complete < keep {
            let unverified = members
                .iter()
                .filter(|&&i| builds[i].status == Status::Complete)
                .count()
                - complete;
            for &i in members.iter() {
                whys[i] = Some(Why::FewComplete {
                    complete,
                    unverified,
                });
            }
            continue;
        }
        let mut rank = 0;
        for &i in members.iter() {
            let build = &builds[i];
            whys[i] = Some(if rank < keep {
                if proven_complete(build) {
                    rank += 1;
                    Why::Newest { rank }
                } else {
                    Why::Newer
                }
            } else if build.status == Status::InProgress {
                Why::InProgress
            } else if let Some(why) = kept_for_age(policy.max_age, build, now) {
                why
            } else if rules.is_protected(&build.tag) {
                Why::Protected
            } else {
                Why::Expired
            });
        }
    }
    builds
        .iter()
        .zip(whys)
        .map(|(build, why)| Verdict {
            stream: rules.stream(&build.tag).map(str::to_string),
            keep,
            max_age: policy.max_age,
            why: why.expect("every build is in a stream"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{intern_platforms, Inventory, Repository, Tag};
    use crate::manifest::{parse_str, Manifest};
    use crate::policy::{evaluate, BuildSelection, Report};

    fn now() -> DateTime<Utc> {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }

    /// Two images; `extra` goes under the top level (retention, platforms).
    fn manifest(pattern: &str, extra: &str) -> Manifest {
        parse_str(
            "m.yaml",
            &format!(
                "namespace: linaro\nbuilds:\n  pattern: '{pattern}'\n  grace: 2h\n  protect: ['^rocky-1$']\n{extra}images: [base, nova]\n"
            ),
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    const STREAMS: &str = "^(?P<stream>rocky|stein)-\\d+$";

    /// How a build of the inventory is pushed.
    #[derive(Clone, Copy)]
    enum Push {
        /// Both images, `hours` ago, registry push times.
        Complete(i64),
        /// Only `base`, `hours` ago.
        Broken(i64),
        /// Both images, declared times only (an OCI registry).
        Declared(i64),
        /// Both images, no time at all.
        Timeless,
        /// Both images, platforms not stated.
        Unverified(i64),
    }

    fn inventory(builds: &[(&str, Push)]) -> Inventory {
        let mut inv = Inventory::new("docker.io", "linaro");
        for image in ["base", "nova"] {
            let tags = builds
                .iter()
                .filter(|(_, push)| image == "base" || !matches!(push, Push::Broken(_)))
                .map(|&(name, push)| {
                    let at = |hours: i64| Some(now() - chrono::Duration::hours(hours));
                    let mut tag = Tag {
                        digest: Some(format!("sha256:{image}-{name}")),
                        platforms: Some(intern_platforms(vec!["linux/amd64".parse().unwrap()])),
                        ..Tag::new(name)
                    };
                    match push {
                        Push::Complete(h) | Push::Broken(h) => tag.pushed = at(h),
                        Push::Declared(h) => tag.created = at(h),
                        Push::Timeless => {}
                        Push::Unverified(h) => {
                            tag.pushed = at(h);
                            tag.platforms = None;
                        }
                    }
                    tag
                })
                .collect();
            inv.repositories.insert(
                image.to_string(),
                Repository {
                    tags: Some(tags),
                    ..Repository::default()
                },
            );
        }
        inv
    }

    fn report(m: &Manifest, builds: &[(&str, Push)]) -> Report {
        evaluate(m, &inventory(builds), now(), &BuildSelection::All)
    }

    fn expired(report: &Report) -> Vec<&str> {
        let mut tags: Vec<&str> = report
            .builds
            .iter()
            .filter(|b| b.retention.as_ref().is_some_and(Verdict::is_expired))
            .map(|b| b.tag.as_str())
            .collect();
        tags.sort_by(|a, b| natural_cmp(a, b));
        tags
    }

    fn why<'r>(report: &'r Report, tag: &str) -> &'r Verdict {
        report
            .builds
            .iter()
            .find(|b| b.tag == tag)
            .and_then(|b| b.retention.as_ref())
            .unwrap_or_else(|| panic!("no verdict for {tag}"))
    }

    use Push::*;

    #[test]
    fn each_stream_keeps_its_newest_complete_builds() {
        let m = manifest(STREAMS, "retention: {keep: 2}\n");
        let r = report(
            &m,
            &[
                ("rocky-2", Complete(90)),
                ("rocky-3", Complete(80)),
                ("rocky-4", Complete(70)),
                ("rocky-5", Complete(60)),
                ("stein-1", Complete(50)),
                ("stein-2", Complete(40)),
                ("stein-3", Complete(30)),
            ],
        );
        assert_eq!(expired(&r), ["rocky-2", "rocky-3", "stein-1"]);
        assert_eq!(
            why(&r, "rocky-3").to_string(),
            "older than the 2 newest complete builds of stream rocky"
        );
        assert_eq!(
            why(&r, "rocky-5").to_string(),
            "number 1 of the 2 newest complete builds of stream rocky"
        );
        assert_eq!(why(&r, "stein-2").why, Why::Newest { rank: 2 });
        assert_eq!(why(&r, "stein-2").stream.as_deref(), Some("stein"));
    }

    #[test]
    fn without_a_stream_group_all_builds_form_one_stream() {
        let m = manifest("^(rocky|stein)-\\d+$", "retention: {keep: 1}\n");
        let r = report(
            &m,
            &[
                ("rocky-5", Complete(60)),
                ("stein-3", Complete(30)),
                ("stein-2", Complete(40)),
            ],
        );
        // Natural order across the whole set: rocky-5 < stein-2 < stein-3.
        assert_eq!(expired(&r), ["rocky-5", "stein-2"]);
        assert_eq!(
            why(&r, "stein-2").to_string(),
            "older than the newest complete build"
        );
        assert_eq!(why(&r, "stein-3").to_string(), "the newest complete build");
        assert_eq!(why(&r, "stein-3").stream, None);
    }

    #[test]
    fn tags_are_ordered_by_their_numbers_not_their_bytes_nor_their_push_times() {
        let m = manifest(STREAMS, "retention: {keep: 2}\n");
        // rocky-9 was rebuilt last: it is still older than rocky-10 and rocky-100.
        let r = report(
            &m,
            &[
                ("rocky-9", Complete(1)),
                ("rocky-10", Complete(50)),
                ("rocky-100", Complete(40)),
                ("rocky-99", Complete(45)),
            ],
        );
        assert_eq!(expired(&r), ["rocky-9", "rocky-10"]);
        assert_eq!(why(&r, "rocky-100").why, Why::Newest { rank: 1 });
        assert_eq!(why(&r, "rocky-99").why, Why::Newest { rank: 2 });
    }

    #[test]
    fn max_age_keeps_recent_builds_whatever_their_rank() {
        let m = manifest(STREAMS, "retention: {keep: 1, max_age: 3d}\n");
        let r = report(
            &m,
            &[
                ("rocky-2", Complete(24 * 10)),
                ("rocky-3", Complete(24 * 3)),
                ("rocky-4", Complete(24 * 3 - 1)),
                ("rocky-5", Complete(1)),
            ],
        );
        // Exactly max_age old is old enough; an hour younger is not.
        assert_eq!(expired(&r), ["rocky-2", "rocky-3"]);
        assert_eq!(why(&r, "rocky-4").why, Why::Recent);
        assert_eq!(
            why(&r, "rocky-4").to_string(),
            "older than the newest complete build of stream rocky, but pushed within max_age (3d)"
        );
        assert_eq!(
            why(&r, "rocky-2").to_string(),
            "older than the newest complete build of stream rocky, last pushed over 3d ago"
        );
    }

    #[test]
    fn with_max_age_only_registry_push_times_prove_a_build_old() {
        let m = manifest(STREAMS, "retention: {keep: 1, max_age: 3d}\n");
        let builds = [
            ("rocky-2", Declared(24 * 30)),
            ("rocky-3", Timeless),
            ("rocky-4", Complete(24 * 30)),
            ("rocky-5", Declared(24 * 20)),
        ];
        let r = report(&m, &builds);
        assert_eq!(expired(&r), ["rocky-4"]);
        assert_eq!(
            why(&r, "rocky-2").why,
            Why::AgeUnproven(AgeSource::Declared)
        );
        assert_eq!(why(&r, "rocky-2").label(), "kept: age unproven");
        assert!(
            why(&r, "rocky-2")
                .to_string()
                .contains("do not prove it older than max_age (3d)"),
            "{}",
            why(&r, "rocky-2")
        );
        assert_eq!(why(&r, "rocky-3").why, Why::AgeUnproven(AgeSource::Unknown));
        assert!(why(&r, "rocky-3")
            .to_string()
            .contains("its push time is unknown"));
        // Without max_age, rank alone decides: declared and unknown ages
        // expire like the others.
        let m = manifest(STREAMS, "retention: {keep: 1}\n");
        let r = report(&m, &builds);
        assert_eq!(expired(&r), ["rocky-2", "rocky-3", "rocky-4"]);
    }

    #[test]
    fn in_progress_builds_never_expire() {
        let m = manifest(STREAMS, "retention: {keep: 1}\n");
        // rocky-3 is being pushed again (an old tag rebuilt), rocky-6 is new.
        let r = report(
            &m,
            &[
                ("rocky-3", Broken(0)),
                ("rocky-4", Complete(40)),
                ("rocky-5", Complete(30)),
                ("rocky-6", Broken(0)),
            ],
        );
        assert_eq!(expired(&r), ["rocky-4"]);
        assert_eq!(why(&r, "rocky-3").why, Why::InProgress);
        assert_eq!(why(&r, "rocky-3").label(), "kept: in progress");
        assert_eq!(why(&r, "rocky-6").why, Why::Newer);
        assert_eq!(
            why(&r, "rocky-6").to_string(),
            "newer than the newest complete build of stream rocky"
        );
    }

    #[test]
    fn a_stream_with_fewer_complete_builds_than_keep_expires_nothing() {
        let m = manifest(STREAMS, "retention: {keep: 3}\n");
        let r = report(
            &m,
            &[
                ("rocky-2", Broken(90)),
                ("rocky-3", Complete(80)),
                ("rocky-4", Broken(70)),
                ("rocky-5", Complete(60)),
                ("stein-1", Complete(50)),
                ("stein-2", Complete(40)),
                ("stein-3", Complete(30)),
                ("stein-4", Broken(20)),
            ],
        );
        assert!(expired(&r).is_empty(), "{:?}", expired(&r));
        assert_eq!(
            why(&r, "rocky-2").why,
            Why::FewComplete {
                complete: 2,
                unverified: 0
            }
        );
        assert_eq!(
            why(&r, "rocky-2").to_string(),
            "stream rocky has 2 complete builds, fewer than keep (3), so none of its builds expires"
        );
        // stein has exactly 3: nothing older to expire, stein-4 is newer.
        assert_eq!(why(&r, "stein-1").why, Why::Newest { rank: 3 });
        assert_eq!(why(&r, "stein-4").why, Why::Newer);
    }

    #[test]
    fn builds_complete_but_for_unstated_platforms_do_not_count_as_kept() {
        let m = manifest(STREAMS, "retention: {keep: 3}\nplatforms: [linux/amd64]\n");
        let r = report(
            &m,
            &[
                ("rocky-1", Complete(100)),
                ("rocky-2", Complete(90)),
                ("rocky-3", Unverified(80)),
                ("rocky-4", Unverified(70)),
            ],
        );
        // rocky-3 and rocky-4 may lack a platform: only two builds are known
        // complete, fewer than keep.
        assert!(expired(&r).is_empty());
        assert_eq!(
            why(&r, "rocky-1").to_string(),
            "stream rocky has 2 complete builds, fewer than keep (3), so none of its builds expires; \
             2 more are complete but for platforms the registry did not state (--verify-platforms reads them)"
        );
        let m = manifest(STREAMS, "retention: {keep: 2}\nplatforms: [linux/amd64]\n");
        let r = report(
            &m,
            &[
                ("rocky-2", Complete(100)),
                ("rocky-3", Complete(90)),
                ("rocky-4", Complete(80)),
                ("rocky-5", Unverified(70)),
                ("rocky-6", Unverified(60)),
            ],
        );
        // Counted as complete, rocky-5 and rocky-6 would retire rocky-3 and
        // rocky-4 too; they are newer than the two kept, and stay.
        assert_eq!(expired(&r), ["rocky-2"]);
        assert_eq!(why(&r, "rocky-6").why, Why::Newer);
        assert_eq!(why(&r, "rocky-3").why, Why::Newest { rank: 2 });
    }

    #[test]
    fn protected_builds_are_kept_and_say_so() {
        let m = manifest(STREAMS, "retention: {keep: 1}\n");
        let r = report(
            &m,
            &[
                ("rocky-1", Complete(90)),
                ("rocky-2", Complete(80)),
                ("rocky-3", Complete(70)),
            ],
        );
        assert_eq!(expired(&r), ["rocky-2"]);
        assert_eq!(why(&r, "rocky-1").why, Why::Protected);
        assert_eq!(
            why(&r, "rocky-1").to_string(),
            "older than the newest complete build of stream rocky, but protected by builds.protect"
        );
    }

    #[test]
    fn broken_builds_expire_only_when_older_than_the_kept_ones() {
        let m = manifest(STREAMS, "retention: {keep: 2}\n");
        let r = report(
            &m,
            &[
                ("rocky-2", Broken(90)),
                ("rocky-3", Complete(80)),
                ("rocky-4", Broken(70)),
                ("rocky-5", Complete(60)),
                ("rocky-6", Broken(50)),
            ],
        );
        // rocky-2 is both broken and expired; rocky-4 and rocky-6, newer than
        // rocky-3 (the older of the two kept), stay: broken is --broken's
        // business.
        assert_eq!(expired(&r), ["rocky-2"]);
        let b2 = r.builds.iter().find(|b| b.tag == "rocky-2").unwrap();
        assert_eq!(b2.status, Status::Broken);
        assert_eq!(why(&r, "rocky-4").why, Why::Newer);
        assert_eq!(why(&r, "rocky-6").why, Why::Newer);
    }

    #[test]
    fn nothing_is_judged_without_retention_or_on_a_selection_of_builds() {
        let builds = [("rocky-2", Complete(90)), ("rocky-3", Complete(80))];
        let r = report(&manifest(STREAMS, ""), &builds);
        assert!(r.retention.is_none());
        assert!(r.builds.iter().all(|b| b.retention.is_none()));

        let m = manifest(STREAMS, "retention: {keep: 1}\n");
        let named = BuildSelection::Named(vec!["rocky-2".into()]);
        let r = evaluate(&m, &inventory(&builds), now(), &named);
        let summary = r.retention.as_ref().expect("the manifest has retention");
        assert!(!summary.judged);
        assert!(r.builds.iter().all(|b| b.retention.is_none()));
        assert_eq!(r.expired(), 0);
    }
}
