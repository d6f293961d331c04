//! Listing a namespace from the inventory an earlier run kept
//! ([`crate::inventory_cache`]): reading only what changed.
//!
//! On Docker Hub the binding limit is the rate limit (180 requests a
//! minute), and a full listing costs a request per 100 tags of every
//! repository, every time. Pushes add tags at the top of a newest-first
//! listing (`ordering=last_updated`), so a repository known from an earlier
//! run needs only its newest pages — and one that was not pushed to, one
//! small look. Each repository the cache knows is read one of three ways
//! ([`choose`]):
//!
//! * **Not in the cache**: every tag.
//! * **Pushed to since** (its `last_updated` in the repository listing is
//!   not the one the cache recorded), or pushed to shortly before the cache
//!   was written: newest first, until a page reaches a tag pushed more than
//!   [`SETTLE`] before the earlier run began listing; the tags read replace
//!   the cache's, and the rest are the cache's ([`merge`]).
//! * **Unchanged**, by its `last_updated`: a tag's deletion does not move a
//!   repository's `last_updated` on Docker Hub (docker/hub-feedback #1750),
//!   so it still gets one look — the first newest-first page of one tag, its
//!   `count` and its newest tag ([`judge_peek`]); when either differs from
//!   the cache, it is read as pushed to.
//!
//! Why that is enough. Every tag a registry lists was pushed at its
//! `tag_last_pushed`, and a push (or a re-push: the same name, a new push
//! time) lists it again at the top. Assume a tag is listed within
//! [`SETTLE`] of its push time, on the registry's clock as seen from ours
//! (an indexing delay, clock skew). Then every tag pushed more than
//! `SETTLE` before an earlier run began listing (`listed_at`) was in that
//! run's inventory, and if it is not among the tags read now, it was not
//! pushed again since (it would be newer). So, reading newest first until a
//! tag older than `listed_at − SETTLE`: every tag not read is either in the
//! cache as it is, or deleted since. Deletions are what the `count`
//! catches: the merged list must hold exactly as many tags as the
//! repository counts, and every cached tag pushed after the cut must have
//! been read again — else the repository is listed in full. A peek proves a
//! repository unchanged only when its newest tag is the cache's (same name,
//! digest, push time) and older than the cut, and the count is the cache's:
//! no tag was pushed after it, so none was added, and with the same count
//! none was deleted.
//!
//! When in doubt it reads more, never less: a tag without a push time, a
//! listing not newest first, pages that shift, a count that disagrees — each
//! falls back to the full listing of that repository, whose pages check
//! themselves as always.
//!
//! What a listing says of a tag that was not pushed again is taken as
//! unchanged: its digest and push time cannot change without a push; if
//! the registry's `images[]` for old tags changed (Docker Hub emptied them
//! in August 2025, docker/hub-feedback #2484), the cache keeps the platforms
//! as they were first listed — still those of that digest, which never
//! changes.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use crate::inventory::Tag;
use crate::inventory_cache::{CachedRepo, Read};
use crate::notes::Notes;
use crate::registry::{NewestTags, Registry, RegistryError, TagQuery};

/// How long after its push a tag may take to be listed, as seen from this
/// machine's clock (the registry's indexing delay plus clock skew): a tag
/// pushed less than this before an earlier run began listing may be missing
/// from that run's inventory, so it is read again. An assumption, generous
/// on purpose; it costs nothing but larger pages for repositories pushed to
/// within it.
pub const SETTLE: TimeDelta = TimeDelta::hours(1);

/// How long a repository's tags may come from the cache, checked by one
/// look or merged with its newest pages, before it is listed in full again.
/// What the cache holds is right under the assumption of [`SETTLE`]; a
/// registry that listed a tag later than that after its push time (an
/// indexing delay, a clock far off) could leave the cache wrong in a way no
/// count shows — this bounds how long such an error lasts, for a full
/// listing of each repository once a week.
pub const FULL_EVERY: TimeDelta = TimeDelta::days(7);

/// Tags a page when reading newest first (the backend caps it: Docker Hub
/// serves at most 100).
const PAGE: u32 = 100;

/// How one repository is read this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// Every tag, for this reason.
    Full(String),
    /// Newest first until a tag pushed before `until`, for this reason.
    Newest { until: DateTime<Utc>, why: String },
    /// One newest-first page of one tag, to confirm it is unchanged.
    Peek,
}

/// How a repository the cache knows (`cached`), whose repository listing
/// now says `last_updated`, is read by a run that began listing at `now`
/// (see the module documentation and [`FULL_EVERY`]).
pub fn choose(
    cached: Option<&CachedRepo>,
    last_updated: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Look {
    let Some(cached) = cached else {
        return Look::Full("not in the inventory cache".into());
    };
    match cached.verified_at {
        None => return Look::Full("the cache does not say when it was last listed in full".into()),
        Some(verified) if now - verified >= FULL_EVERY => {
            return Look::Full(format!(
                "last listed in full {} days ago (each repository is, at least every {} days)",
                (now - verified).num_days(),
                FULL_EVERY.num_days()
            ))
        }
        Some(_) => {}
    }
    let until = cached.listed_at - SETTLE;
    let time = |t: Option<DateTime<Utc>>| t.map_or("none".to_string(), |t| t.to_rfc3339());
    if last_updated.is_none() {
        return Look::Newest {
            until,
            why: "the repository listing gives it no last_updated".into(),
        };
    }
    if last_updated != cached.last_updated {
        return Look::Newest {
            until,
            why: format!(
                "pushed to since the cache was written (last_updated {}, then {})",
                time(last_updated),
                time(cached.last_updated)
            ),
        };
    }
    match cached.newest_tag() {
        None => Look::Newest {
            until,
            why: "the cache names no single newest tag".into(),
        },
        Some(newest) if newest.pushed.is_none_or(|p| p >= until) => Look::Newest {
            until,
            why: format!(
                "its newest tag {} was pushed less than {}h before the cache was written",
                newest.name,
                SETTLE.num_hours()
            ),
        },
        Some(_) => Look::Peek,
    }
}

/// Whether a peek (the first newest-first page of one tag) shows the
/// repository as the cache knows it: `Err` says what differs.
pub fn judge_peek(cached: &CachedRepo, peek: &NewestTags) -> Result<(), String> {
    if peek.whole {
        return if peek.tags == cached.tags {
            Ok(())
        } else {
            Err("its tags differ from the cache's".into())
        };
    }
    match peek.count {
        Some(count) if count == cached.count => {}
        Some(count) => {
            return Err(format!(
                "it counts {count} tags, the cache {}",
                cached.count
            ))
        }
        None => return Err("the registry gave no count".into()),
    }
    match (peek.tags.first(), cached.newest_tag()) {
        (Some(now), Some(then)) if now == then => Ok(()),
        (Some(now), Some(then)) => Err(format!(
            "its newest tag is {} (pushed {}), the cache's {} (pushed {})",
            now.name,
            now.pushed
                .map_or("at no known time".into(), |t| t.to_rfc3339()),
            then.name,
            then.pushed
                .map_or("at no known time".into(), |t| t.to_rfc3339()),
        )),
        _ => Err("no newest tag to compare".into()),
    }
}

/// The repository's tags: those `read` newest first (down to `until`),
/// then the cache's others; `Err` says why they cannot be trusted together
/// (see the module documentation), and the repository must be listed in
/// full.
pub fn merge(
    cached: CachedRepo,
    read: NewestTags,
    until: DateTime<Utc>,
) -> Result<Vec<Tag>, String> {
    if read.whole {
        return Ok(read.tags);
    }
    let Some(count) = read.count else {
        return Err("the registry gave no count".into());
    };
    let names: HashSet<&str> = read.tags.iter().map(|t| t.name.as_str()).collect();
    if let Some(gone) = cached
        .tags
        .iter()
        .find(|t| t.pushed.is_some_and(|p| p >= until) && !names.contains(t.name.as_str()))
    {
        return Err(format!(
            "{}, pushed {}, is no longer among the newest tags (deleted?)",
            gone.name,
            gone.pushed.map(|t| t.to_rfc3339()).unwrap_or_default()
        ));
    }
    let rest: Vec<Tag> = cached
        .tags
        .into_iter()
        .filter(|t| !names.contains(t.name.as_str()))
        .collect();
    let merged = read.tags.len() + rest.len();
    if merged as u64 != count {
        return Err(format!(
            "it counts {count} tags, the newest pages and the cache hold {merged} (tags deleted since, or listed late)"
        ));
    }
    let mut tags = read.tags;
    tags.extend(rest);
    Ok(tags)
}

/// How many repositories were read each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Confirmed unchanged by one look: their tags came from the cache.
    pub unchanged: usize,
    /// Read newest first and merged with the cache.
    pub newest: usize,
    /// Listed in full (not in the cache, or the newest pages did not agree
    /// with it).
    pub full: usize,
}

/// What the incremental listing gave, besides the tags.
#[derive(Debug, Default)]
pub struct Outcome {
    pub counts: Counts,
    /// Every repository read, for the cache's next save.
    pub read: BTreeMap<String, Read>,
}

/// How one repository ended up read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Its tags came from the cache, after one look.
    Unchanged,
    /// Read newest first, merged with the cache.
    Newest,
    /// Listed in full.
    Full,
}

impl Outcome {
    /// Counts `repo`, read `how`, and records for the cache's next save that
    /// it was read from `listed_at` on, when the repository listing said
    /// `last_updated` (as first seen this run: a listing read again may say
    /// later, and the earlier is the one the tags read are sure to include).
    ///
    /// `verified_before`: when the cache last had it listed in full (kept
    /// unless it was listed in full now).
    pub fn record(
        &mut self,
        repo: &str,
        how: How,
        listed_at: DateTime<Utc>,
        last_updated: Option<DateTime<Utc>>,
        verified_before: Option<DateTime<Utc>>,
    ) {
        match how {
            How::Unchanged => self.counts.unchanged += 1,
            How::Newest => self.counts.newest += 1,
            How::Full => self.counts.full += 1,
        }
        self.read.insert(
            repo.to_string(),
            Read {
                listed_at,
                last_updated,
                verified_at: match how {
                    How::Full => Some(listed_at),
                    How::Newest | How::Unchanged => verified_before,
                },
            },
        );
    }
}

/// Reads one repository as [`choose`] says (`cached`: what the cache
/// holds of it; `last_updated`: what the repository listing says now),
/// falling back as the module documentation says; `-v` tells why a
/// repository was read. The tags are `None` when the registry says the
/// repository does not exist.
#[allow(clippy::too_many_arguments)]
pub async fn read(
    registry: &dyn Registry,
    namespace: &str,
    name: &str,
    cached: Option<CachedRepo>,
    last_updated: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    query: &TagQuery<'_>,
    notes: &Notes,
) -> Result<(Option<Vec<Tag>>, How), RegistryError> {
    let full = |why: String| async move {
        notes.info(|| format!("{namespace}/{name}: {why}; listing every tag"));
        let tags = registry.list_tags(name, query).await?;
        Ok::<_, RegistryError>((tags, How::Full))
    };
    let (cached, until) = match choose(cached.as_ref(), last_updated, now) {
        Look::Full(why) => return full(why).await,
        Look::Peek => {
            let cached = cached.expect("a peek is for a cached repository");
            let Some(peek) = registry.newest_tags(name, 1, None, query).await? else {
                return Ok((None, How::Full));
            };
            let until = cached.listed_at - SETTLE;
            match judge_peek(&cached, &peek) {
                Ok(()) => return Ok((Some(cached.tags), How::Unchanged)),
                Err(_) if peek.whole => return Ok((Some(peek.tags), How::Full)),
                // Fewer tags: some were deleted, which only a full listing
                // can tell (a push never lowers the count).
                Err(_) if peek.count.is_some_and(|c| c < cached.count) => {
                    let count = peek.count.unwrap_or_default();
                    return full(format!(
                        "{count} tags, {} fewer than the cache knows (deleted since)",
                        cached.count - count
                    ))
                    .await;
                }
                Err(why) => {
                    notes.info(|| format!("{namespace}/{name}: {why}; reading it newest first"));
                    (cached, until)
                }
            }
        }
        Look::Newest { until, why } => {
            notes.info(|| format!("{namespace}/{name}: {why}; reading it newest first"));
            (
                cached.expect("a newest-first read is for a cached repository"),
                until,
            )
        }
    };
    let Some(read) = registry.newest_tags(name, PAGE, Some(until), query).await? else {
        return Ok((None, How::Full));
    };
    let whole = read.whole;
    match merge(cached, read, until) {
        Ok(tags) if whole => Ok((Some(tags), How::Full)),
        Ok(tags) => Ok((Some(tags), How::Newest)),
        Err(why) => full(why).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn tag(name: &str, pushed: &str, digest: char) -> Tag {
        Tag {
            digest: Some(format!("sha256:{}", digest.to_string().repeat(64))),
            pushed: Some(at(pushed)),
            ..Tag::new(name)
        }
    }

    const LISTED: &str = "2026-11-30T12:00:00Z";
    const UPDATED: &str = "2026-11-20T10:00:00Z";

    /// rocky-1..3 pushed on the 18th, 19th and 20th; read on the 30th.
    fn cached() -> CachedRepo {
        CachedRepo::new(
            at(LISTED),
            Some(at(UPDATED)),
            vec![
                tag("rocky-3", "2026-11-20T10:00:00Z", 'c'),
                tag("rocky-2", "2026-11-19T10:00:00Z", 'b'),
                tag("rocky-1", "2026-11-18T10:00:00Z", 'a'),
            ],
        )
    }

    fn page(tags: Vec<Tag>, count: u64, whole: bool) -> NewestTags {
        NewestTags {
            tags,
            count: Some(count),
            whole,
        }
    }

    /// When this run began listing: a day after the cache's.
    fn run() -> DateTime<Utc> {
        at("2026-12-01T12:00:00Z")
    }

    #[test]
    fn each_repository_is_listed_in_full_at_least_every_week() {
        let c = cached();
        assert_eq!(choose(Some(&c), Some(at(UPDATED)), run()), Look::Peek);
        let Look::Full(why) = choose(Some(&c), Some(at(UPDATED)), at(LISTED) + FULL_EVERY) else {
            panic!("a week after its last full listing")
        };
        assert!(why.contains("last listed in full 7 days ago"), "{why}");
        let unknown = CachedRepo {
            verified_at: None,
            ..cached()
        };
        assert!(matches!(
            choose(Some(&unknown), Some(at(UPDATED)), run()),
            Look::Full(_)
        ));
    }

    fn until() -> DateTime<Utc> {
        at(LISTED) - SETTLE
    }

    #[test]
    fn each_repository_is_read_as_its_state_says() {
        assert!(matches!(
            choose(None, Some(at(UPDATED)), run()),
            Look::Full(_)
        ));
        let c = cached();
        assert_eq!(choose(Some(&c), Some(at(UPDATED)), run()), Look::Peek);
        let Look::Newest { until, why } = choose(Some(&c), Some(at("2026-11-30T13:00:00Z")), run())
        else {
            panic!("pushed to since")
        };
        assert_eq!(until, at(LISTED) - SETTLE);
        assert!(why.contains("pushed to since"), "{why}");
        assert!(
            matches!(choose(Some(&c), None, run()), Look::Newest { .. }),
            "no last_updated: read newest first"
        );
        // Pushed just before the cache was written: its newest tag may not
        // have been listed yet then.
        let recent = CachedRepo::new(
            at(LISTED),
            Some(at("2026-11-30T11:30:00Z")),
            vec![tag("rocky-4", "2026-11-30T11:30:00Z", 'd')],
        );
        assert!(matches!(
            choose(Some(&recent), Some(at("2026-11-30T11:30:00Z")), run()),
            Look::Newest { .. }
        ));
        // Two newest tags at the same time: which is listed first is unknown.
        let tied = CachedRepo::new(
            at(LISTED),
            Some(at(UPDATED)),
            vec![
                tag("a", "2026-11-20T10:00:00Z", 'a'),
                tag("b", "2026-11-20T10:00:00Z", 'b'),
            ],
        );
        assert!(matches!(
            choose(Some(&tied), Some(at(UPDATED)), run()),
            Look::Newest { .. }
        ));
    }

    #[test]
    fn a_peek_confirms_only_the_same_count_and_newest_tag() {
        let c = cached();
        let newest = c.tags[0].clone();
        assert_eq!(
            judge_peek(&c, &page(vec![newest.clone()], 3, false)),
            Ok(())
        );
        // A deletion: the count drops.
        let err = judge_peek(&c, &page(vec![newest.clone()], 2, false)).unwrap_err();
        assert!(err.contains("counts 2 tags, the cache 3"), "{err}");
        // A re-push of the newest tag: same name, a new time and digest.
        let repushed = tag("rocky-3", "2026-11-30T13:00:00Z", 'e');
        let err = judge_peek(&c, &page(vec![repushed], 3, false)).unwrap_err();
        assert!(err.contains("newest tag is rocky-3"), "{err}");
        // A push and a deletion: the same count, another newest tag.
        let err = judge_peek(
            &c,
            &page(vec![tag("rocky-4", "2026-11-30T13:00:00Z", 'd')], 3, false),
        )
        .unwrap_err();
        assert!(err.contains("rocky-4"), "{err}");
        // A re-push with the same digest still moves the push time.
        let same_digest = Tag {
            pushed: Some(at("2026-11-30T13:00:00Z")),
            ..newest.clone()
        };
        assert!(judge_peek(&c, &page(vec![same_digest], 3, false)).is_err());
        let no_count = NewestTags {
            count: None,
            ..page(vec![newest], 3, false)
        };
        assert!(judge_peek(&c, &no_count).is_err());
    }

    #[test]
    fn newest_pages_merge_with_the_cache_only_when_the_count_agrees() {
        let c = cached();
        // A new build, and a re-push of rocky-2 (moved to the top).
        let read = vec![
            tag("rocky-2", "2026-11-30T13:05:00Z", 'f'),
            tag("rocky-4", "2026-11-30T13:00:00Z", 'd'),
            tag("rocky-3", "2026-11-20T10:00:00Z", 'c'),
        ];
        let merged = merge(c.clone(), page(read.clone(), 4, false), until()).unwrap();
        let names: Vec<&str> = merged.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["rocky-2", "rocky-4", "rocky-3", "rocky-1"]);
        assert_eq!(merged[0].digest, read[0].digest, "the re-push wins");
        // The same, and rocky-1 deleted: the count says so.
        let err = merge(c.clone(), page(read.clone(), 3, false), until()).unwrap_err();
        assert!(err.contains("counts 3 tags"), "{err}");
        // A tag the registry counts that neither the pages nor the cache hold.
        assert!(merge(c.clone(), page(read, 5, false), until()).is_err());
        // A cached tag pushed after the cut is missing from the pages.
        let recent = CachedRepo::new(
            at(LISTED),
            Some(at("2026-11-30T11:50:00Z")),
            vec![
                tag("rocky-9", "2026-11-30T11:50:00Z", '9'),
                tag("rocky-1", "2026-11-18T10:00:00Z", 'a'),
            ],
        );
        let err = merge(
            recent,
            page(
                vec![
                    tag("rocky-10", "2026-11-30T13:00:00Z", 'x'),
                    tag("rocky-1", "2026-11-18T10:00:00Z", 'a'),
                ],
                2,
                false,
            ),
            until(),
        )
        .unwrap_err();
        assert!(err.contains("rocky-9"), "{err}");
        // A whole listing is the answer, whatever the cache held.
        let whole = merge(c, page(vec![tag("x", UPDATED, 'x')], 1, true), until()).unwrap();
        assert_eq!(whole.len(), 1);
    }
}
