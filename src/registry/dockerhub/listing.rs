//! Reading Docker Hub's listings whole, though they are offsets that shift.
//!
//! Pages of `page_size=100` (the largest the Hub serves), following `next`
//! only on the API's origin; read concurrently once the first page shows
//! the server numbers them. A tag pushed or deleted during a listing shifts
//! the pages, so a tag can come twice (deduplicated by name) or not at all:
//! a listing whose pages do not add up (the items differ from `count`, the
//! `count` changes, a later page vanishes) is read again, up to
//! [`RELIST_ATTEMPTS`] times. Newest-first listings (`--since`) stop early,
//! and fall back to a full listing when the order or the pages fail them.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use url::Url;

use super::types::{HubTag, Page};
use super::DockerHub;
use crate::inventory::Tag;
use crate::registry::paging::PageGuard;
use crate::registry::{NewestTags, Registry, RegistryError, TagQuery};

/// Largest page Docker Hub serves.
pub(super) const PAGE_SIZE: u32 = 100;

/// How often a listing is read in all when its pages do not add up.
pub const RELIST_ATTEMPTS: usize = 3;

/// Most pages one listing may take (a million tags); a `next` chain longer
/// than this, or one that loops, is a server bug we refuse to follow forever.
const MAX_PAGES: usize = 10_000;

/// Told of each item of a listing as soon as its page is read, where the
/// caller can start on it before the listing ends (see [`DockerHub::paged`]).
pub(super) type Seen<'a, T> = Option<&'a (dyn Fn(&T) + Send + Sync)>;

/// What reading every page of a listing gave.
enum Listing<T> {
    /// The first page was a 404: no such repository (or namespace).
    Missing,
    /// The pages did not add up (see the module documentation); `why` says how.
    Shifted { why: String },
    /// Every item, deduplicated by name, with the announced `count`.
    Items(Vec<T>),
}

/// What reading one page gave.
enum PageRead<T> {
    Page(Page<T>),
    /// The first page is a 404: no such repository.
    Missing,
    /// A later page is a 404: the listing shifted.
    Vanished(String),
}

/// The URLs of pages 2..=N when they can be known from the first page: the
/// server honoured the `page_size` we asked for (a full first page), says
/// how many items there are, and its `next` is our first URL with `page=2`.
fn numbered_pages<T>(first: &Url, next: &Url, page: &Page<T>) -> Option<Vec<Url>> {
    let asked: usize = query(first, "page_size")?.parse().ok()?;
    let got = page.results.as_ref().map_or(0, Vec::len);
    let count = usize::try_from(page.count?).ok()?;
    if asked == 0 || got != asked || query(next, "page")? != "2" {
        return None;
    }
    let mut expected = first.clone();
    set_query(&mut expected, "page", "2");
    if !same_query(&expected, next) {
        return None;
    }
    let pages = count.div_ceil(asked);
    if !(2..=MAX_PAGES).contains(&pages) {
        return None;
    }
    Some(
        (2..=pages)
            .map(|n| {
                let mut u = next.clone();
                set_query(&mut u, "page", &n.to_string());
                u
            })
            .collect(),
    )
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn set_query(url: &mut Url, key: &str, value: &str) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut q = url.query_pairs_mut();
    q.clear();
    for (k, v) in &pairs {
        q.append_pair(k, v);
    }
    q.append_pair(key, value);
}

/// Same path and the same query parameters, in any order.
fn same_query(a: &Url, b: &Url) -> bool {
    let sorted = |u: &Url| {
        let mut v: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        v.sort();
        v
    };
    a.path() == b.path() && sorted(a) == sorted(b)
}

impl DockerHub {
    /// Reads every page from `first`; deduplicates items by `key` and checks
    /// that the pages add up (see [`Listing`]).
    ///
    /// Once the first page shows that the server honoured `page_size` and
    /// numbers its pages (`next` is the same URL with `page=2`), the remaining
    /// pages are known from `count` and fetched concurrently: a repository of
    /// 5,000 tags costs a few round trips, not fifty. Otherwise `next` is
    /// followed page by page.
    ///
    /// `seen` hears of every item as soon as its page is read (items of a
    /// listing that turns out shifted included, and an item twice where
    /// pages overlap).
    async fn paged<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        key: impl Fn(&T) -> &str,
        seen: Seen<'_, T>,
    ) -> Result<Listing<T>, RegistryError> {
        let mut url = first.clone();
        let mut items: Vec<T> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        let mut received = 0u64;
        let mut counts: Vec<u64> = Vec::new();
        let mut guard = PageGuard::new(MAX_PAGES);
        let mut absorb = |page: Page<T>, items: &mut Vec<T>| {
            if let Some(seen) = seen {
                page.results.iter().flatten().for_each(seen);
            }
            for item in page.results.unwrap_or_default() {
                received += 1;
                if names.insert(key(&item).to_string()) {
                    items.push(item);
                }
            }
            counts.extend(page.count);
        };
        loop {
            if !guard.may_read(&url) {
                return Err(RegistryError::Refused(format!(
                    "{url}: the `next` links of this listing loop or never end ({} pages); refusing to go on",
                    guard.pages()
                )));
            }
            guard.read(&url);
            let page = match self.page::<T>(&url, guard.pages()).await? {
                PageRead::Page(page) => page,
                PageRead::Missing => return Ok(Listing::Missing),
                PageRead::Vanished(why) => return Ok(Listing::Shifted { why }),
            };
            let next = page.next.clone().filter(|n| !n.is_empty());
            let planned = if guard.pages() == 1 {
                next.as_deref()
                    .and_then(|n| self.same_origin(n, &url).ok())
                    .and_then(|n| numbered_pages(&first, &n, &page))
            } else {
                None
            };
            absorb(page, &mut items);
            if let Some(rest) = planned {
                let pages = rest.len().max(1);
                // Taken in order as they come, so that `seen` hears of
                // page 2 while page 3 is still on its way.
                let mut reads = futures::stream::iter(rest.into_iter().enumerate())
                    .map(|(i, u)| async move { self.page::<T>(&u, i + 2).await })
                    .buffered(pages);
                let mut last_next = None;
                while let Some(read) = reads.next().await {
                    match read? {
                        PageRead::Page(page) => {
                            last_next = page.next.clone().filter(|n| !n.is_empty());
                            absorb(page, &mut items);
                        }
                        PageRead::Missing | PageRead::Vanished(_) => {
                            return Ok(Listing::Shifted {
                                why: "a page vanished (404)".to_string(),
                            })
                        }
                    }
                }
                if last_next.is_some() {
                    return Ok(Listing::Shifted {
                        why: "the last page announced another".to_string(),
                    });
                }
                break;
            }
            match next {
                None => break,
                Some(next) => url = self.same_origin(&next, &url)?,
            }
        }
        let dupes = received - items.len() as u64;
        let why = match counts.first() {
            Some(first) if counts.iter().any(|c| c != first) => Some(format!(
                "the count changed from {first} to {} between pages",
                counts.last().copied().unwrap_or_default()
            )),
            Some(count) if *count != items.len() as u64 => Some(format!(
                "Docker Hub counted {count} but the pages held {}{}",
                items.len(),
                if dupes > 0 {
                    format!(" ({dupes} seen twice)")
                } else {
                    String::new()
                }
            )),
            _ => None,
        };
        Ok(match why {
            Some(why) => Listing::Shifted { why },
            None => Listing::Items(items),
        })
    }

    /// One page of a listing; `number` is its place (1 = first).
    async fn page<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        number: usize,
    ) -> Result<PageRead<T>, RegistryError> {
        let answer = self.send(Method::GET, url.clone()).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(if number == 1 {
                PageRead::Missing
            } else {
                // Tags deleted meanwhile: the page we were sent to is gone.
                PageRead::Vanished(format!("page {number} vanished (404)"))
            });
        }
        if !answer.status.is_success() {
            return Err(self.explain(&answer));
        }
        Ok(PageRead::Page(answer.json()?))
    }

    /// [`DockerHub::paged`] again while the pages do not add up, at most
    /// [`RELIST_ATTEMPTS`] times; `Ok(None)` for a 404. `what` names the listing.
    /// `seen`: as for [`DockerHub::paged`], over every attempt.
    pub(super) async fn list_consistent<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        what: &str,
        key: impl Fn(&T) -> &str + Copy,
        seen: Seen<'_, T>,
    ) -> Result<Option<Vec<T>>, RegistryError> {
        let mut last_why = String::new();
        for attempt in 1..=RELIST_ATTEMPTS {
            match self.paged::<T>(first.clone(), key, seen).await? {
                Listing::Missing => return Ok(None),
                Listing::Items(items) => return Ok(Some(items)),
                Listing::Shifted { why } => {
                    if attempt < RELIST_ATTEMPTS {
                        let wait = self.http.backoff(attempt as u32);
                        // Said even without -v: it costs requests and time.
                        self.http.notes().warn(|| {
                            format!(
                                "{what}: the listing changed while we read it ({why}); reading it again in {:.1}s",
                                wait.as_secs_f64()
                            )
                        });
                        tokio::time::sleep(wait).await;
                    }
                    last_why = why;
                }
            }
        }
        Err(RegistryError::Refused(format!(
            "{what}: the listing kept changing while we read it ({last_why}; {RELIST_ATTEMPTS} attempts); run again when pushes have finished"
        )))
    }

    /// After an incremental listing shifted under us: the full listing,
    /// which reads again until its pages add up.
    async fn list_all_after_shift(
        &self,
        repo: &str,
        why: &str,
        query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        self.http.notes().warn(|| {
            format!(
                "{}/{repo}: the listing changed while we read it ({why}); listing every tag",
                self.namespace
            )
        });
        Registry::list_tags(self, repo, query).await
    }

    /// `…/repositories/{repo}/tags?page_size=N`.
    pub(super) fn tags_url(&self, repo: &str, page_size: u32) -> Url {
        let mut url = self.url(
            &[
                "v2",
                "namespaces",
                &self.namespace,
                "repositories",
                repo,
                "tags",
            ],
            false,
        );
        url.query_pairs_mut()
            .append_pair("page_size", &page_size.to_string());
        url
    }

    /// A `next` link must stay on the API's origin: our token never goes elsewhere.
    pub(super) fn same_origin(&self, next: &str, current: &Url) -> Result<Url, RegistryError> {
        crate::registry::paging::same_origin(&self.base, current, next, "the `next` link")
    }

    /// Reads `repo` newest first (`ordering=last_updated`), `page_size` a
    /// page, until a page reaches a tag pushed before `until` (`None`: one
    /// page). The order is checked as the pages come — a tag without a push
    /// time, or one newer than the tag before it, means the server does not
    /// list newest first (or places tags without a time where it likes), and
    /// every tag is listed instead; so is a listing that shifts under us
    /// (its `count` changes between pages, or a later page vanishes): the
    /// full listing checks itself. Either way the result is `whole`.
    pub(super) async fn tags_newest(
        &self,
        repo: &str,
        page_size: u32,
        until: Option<DateTime<Utc>>,
        query: &TagQuery<'_>,
    ) -> Result<Option<NewestTags>, RegistryError> {
        let whole = |tags: Option<Vec<Tag>>| {
            tags.map(|tags| NewestTags {
                count: Some(tags.len() as u64),
                tags,
                whole: true,
            })
        };
        let mut url = self.tags_url(repo, page_size);
        url.query_pairs_mut()
            .append_pair("ordering", "last_updated");
        let mut tags: Vec<Tag> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut previous: Option<DateTime<Utc>> = None;
        let mut pages = 0usize;
        let mut first_count: Option<u64> = None;
        loop {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(RegistryError::Refused(format!(
                    "{url}: more than {MAX_PAGES} pages; refusing to go on"
                )));
            }
            let answer = self
                .send(Method::GET, url.clone())
                .await
                .map_err(|e| self.redact(e))?;
            if answer.status == StatusCode::NOT_FOUND && pages == 1 {
                return Ok(None);
            }
            if answer.status == StatusCode::NOT_FOUND {
                let why = format!("page {pages} vanished (404)");
                return Ok(whole(self.list_all_after_shift(repo, &why, query).await?));
            }
            if !answer.status.is_success() {
                return Err(self.explain(&answer));
            }
            let page: Page<HubTag> = answer.json()?;
            if let Some(count) = page.count {
                let first = *first_count.get_or_insert(count);
                if first != count {
                    let why = format!("the count changed from {first} to {count} between pages");
                    return Ok(whole(self.list_all_after_shift(repo, &why, query).await?));
                }
            }
            for tag in page.results.unwrap_or_default().into_iter().map(Tag::from) {
                let in_order = match (previous, tag.pushed) {
                    (_, None) => false,
                    (Some(before), Some(now)) => now <= before,
                    (None, Some(_)) => true,
                };
                if !in_order {
                    self.http.notes().info(|| {
                        format!(
                            "{}/{repo}: not listed newest first (or a tag has no push time); listing every tag",
                            self.namespace
                        )
                    });
                    return Ok(whole(self.list_tags(repo, query).await?));
                }
                previous = tag.pushed;
                if seen.insert(tag.name.to_string()) {
                    tags.push(tag);
                }
            }
            let next = page.next.filter(|n| !n.is_empty());
            if let (None, Some(count)) = (&next, first_count) {
                if count != tags.len() as u64 {
                    let why = format!(
                        "Docker Hub counted {count} but the pages held {}",
                        tags.len()
                    );
                    return Ok(whole(self.list_all_after_shift(repo, &why, query).await?));
                }
            }
            let reached = match until {
                None => true,
                Some(until) => previous.is_some_and(|oldest| oldest < until),
            };
            if next.is_none() || reached {
                return Ok(Some(NewestTags {
                    tags,
                    count: first_count,
                    whole: next.is_none(),
                }));
            }
            if let Some(next) = next {
                url = self.same_origin(&next, &url)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(n: usize, count: u64) -> Page<HubTag> {
        let results = (0..n)
            .map(|i| HubTag {
                name: format!("t{i}"),
                digest: None,
                tag_last_pushed: None,
                last_updated: None,
                media_type: None,
                images: None,
            })
            .collect();
        Page {
            count: Some(count),
            next: None,
            results: Some(results),
        }
    }

    #[test]
    fn remaining_pages_are_planned_only_when_the_server_numbers_them() {
        let first =
            Url::parse("http://127.0.0.1:9/v2/namespaces/l/repositories/r/tags?page_size=100")
                .unwrap();
        let next = Url::parse(
            "http://127.0.0.1:9/v2/namespaces/l/repositories/r/tags?page=2&page_size=100",
        )
        .unwrap();
        let urls = numbered_pages(&first, &next, &page_of(100, 250)).unwrap();
        let pages: Vec<String> = urls.iter().map(|u| query(u, "page").unwrap()).collect();
        assert_eq!(pages, ["2", "3"]);
        assert!(urls
            .iter()
            .all(|u| query(u, "page_size").as_deref() == Some("100")));
        // page_size not honoured (a short first page): follow `next`.
        assert!(numbered_pages(&first, &next, &page_of(25, 250)).is_none());
        // A `next` that is not our URL with page=2 (a cursor, another path).
        let cursor = Url::parse(
            "http://127.0.0.1:9/v2/namespaces/l/repositories/r/tags?cursor=abc&page_size=100",
        )
        .unwrap();
        assert!(numbered_pages(&first, &cursor, &page_of(100, 250)).is_none());
        let elsewhere = Url::parse("http://127.0.0.1:9/v2/other?page=2&page_size=100").unwrap();
        assert!(numbered_pages(&first, &elsewhere, &page_of(100, 250)).is_none());
        // No count: follow `next`.
        let mut no_count = page_of(100, 250);
        no_count.count = None;
        assert!(numbered_pages(&first, &next, &no_count).is_none());
    }

    #[test]
    fn next_links_must_stay_on_the_api_origin() {
        let hub = super::super::tests::hub_at("http://127.0.0.1:9");
        let cur = Url::parse("http://127.0.0.1:9/v2/namespaces/linaro/repositories?page_size=100")
            .unwrap();
        assert!(hub
            .same_origin(
                "http://127.0.0.1:9/v2/namespaces/linaro/repositories?page=2",
                &cur
            )
            .is_ok());
        assert!(hub
            .same_origin("/v2/namespaces/linaro/repositories?page=2", &cur)
            .is_ok());
        let err = hub
            .same_origin("http://evil.example:9/v2/x?page=2", &cur)
            .unwrap_err();
        assert!(err.to_string().contains("refusing to follow"), "{err}");
        assert!(
            hub.same_origin("https://127.0.0.1:9/v2/x", &cur).is_err(),
            "scheme change"
        );
    }
}
