//! Reading one repository's `tags/list` whole, even where the registry's
//! paging links are wrong. Pure: the backend sends the requests, this says
//! which one comes next.
//!
//! The OCI distribution spec has clients follow `Link: <…>; rel="next"`
//! (opencontainers/distribution-spec PR #470). Some links lead nowhere:
//! registries and proxies serving repositories under a path prefix send
//! links that drop it (chainguard-dev/registry-redirect PR #9 fixed one),
//! and a link's page can answer 404. A link that leaves the repository's
//! own path is never followed, even when it would answer: it would list
//! another repository's tags. Instead, and when a linked page answers 404:
//!
//! 1. the listing continues on the repository's own path with
//!    `last=<the last tag seen>` (and our `n`), the spec's own paging — but
//!    only when every tag so far came in lexical order, as the spec requires
//!    of paged listings, so that `last` skips nothing. A registry that
//!    refuses a `last` it did not mint (ECR Public answers 405 UNSUPPORTED,
//!    CodesWhat/drydock PR #927), or ignores it, gets step 2;
//! 2. otherwise the tags are read again from the start without `n`: most
//!    registries then answer every tag at once;
//! 3. otherwise the listing fails. A partial list is never returned as the
//!    whole one: a build would look broken for a tag on a page not read.
//!
//! A `Link` header that is there but cannot be read (no `<…>`, an empty
//! target, not a URL) is not the last page either: only a page *without*
//! a `Link` is the last one (opencontainers/distribution-spec PR #496), so
//! such a page goes on the same way. A page we asked for with `last=` that
//! comes back empty ends the listing, whatever its `Link` says: nothing
//! comes after that tag.

use std::collections::HashSet;

use url::Url;

use crate::registry::paging::PageGuard;

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Read this page next.
    Read(Url),
    /// Every tag has been read.
    Done,
    /// The listing cannot be read whole: why, in words.
    Fail(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Following the registry's links.
    Links,
    /// The page asked for with `last=<tag>`, not read yet.
    Resumed(String),
    /// Reading again from the start, without `n`.
    Whole,
}

/// One repository's tag listing in progress (see the module documentation).
#[derive(Debug)]
pub struct TagPages {
    /// `/v2/<name>/tags/list`, without a query.
    first: Url,
    /// The `n` we send, when the server takes it.
    page_size: Option<u32>,
    max_pages: usize,
    mode: Mode,
    guard: PageGuard,
    /// Pages read since the listing (re)started.
    pages: usize,
    names: Vec<String>,
    seen: HashSet<String>,
    /// The last tag received, and whether every tag so far came in
    /// ascending lexical order.
    last: Option<String>,
    sorted: bool,
    /// The registry refused or ignored a `last` of ours.
    resume_failed: bool,
    /// What went wrong with the registry's links, and what was done.
    detours: Vec<String>,
}

impl TagPages {
    /// A listing of the tags at `first` (`/v2/<name>/tags/list`), asking for
    /// `page_size` tags a page when given, reading at most `max_pages`.
    pub fn new(first: Url, page_size: Option<u32>, max_pages: usize) -> Self {
        let mut first = first;
        first.set_query(None);
        TagPages {
            first,
            page_size,
            max_pages,
            mode: Mode::Links,
            guard: PageGuard::new(max_pages),
            pages: 0,
            names: Vec::new(),
            seen: HashSet::new(),
            last: None,
            sorted: true,
            resume_failed: false,
            detours: Vec::new(),
        }
    }

    /// The first page to read.
    pub fn start(&self) -> Url {
        self.url(self.page_size, None)
    }

    /// Whether no page of the listing has been read yet (it may have
    /// restarted): a 404 then means the repository does not exist.
    pub fn at_start(&self) -> bool {
        self.pages == 0
    }

    /// Takes in a page read at `url` with its `tags` and its `Link` target
    /// (resolved, already checked to stay on the registry's origin).
    pub fn page(&mut self, url: &Url, tags: Vec<String>, link: Option<Url>) -> Next {
        if let Some(next) = self.take(url, tags) {
            return next;
        }
        match link {
            None => Next::Done,
            Some(next) if next.path() != self.first.path() => self.fall_back(format!(
                "its next-page Link points to {}, outside {}",
                next.path(),
                self.first.path()
            )),
            Some(next) if !self.guard.may_read(&next) => Next::Fail(format!(
                "its pages loop (the next page {next} was already read)"
            )),
            Some(next) => Next::Read(next),
        }
    }

    /// Takes in a page read at `url` with its `tags`, whose `Link` header is
    /// there but unusable (`why`, in words): there may be more pages, so the
    /// listing goes on without the link (see the module documentation).
    pub fn page_with_unreadable_link(&mut self, url: &Url, tags: Vec<String>, why: String) -> Next {
        if let Some(next) = self.take(url, tags) {
            return next;
        }
        self.fall_back(why)
    }

    /// Counts a page and its tags in; `Some` when that alone decides what
    /// comes next (a `last` of ours ignored, or answered with no more tags).
    fn take(&mut self, url: &Url, tags: Vec<String>) -> Option<Next> {
        self.guard.read(url);
        if let Mode::Resumed(after) = &self.mode {
            if tags.is_empty() {
                return Some(Next::Done);
            }
            if tags.iter().any(|t| t <= after) {
                let why = format!("the registry ignored last={after}");
                self.resume_failed = true;
                return Some(self.fall_back(why));
            }
            self.mode = Mode::Links;
        }
        self.pages += 1;
        for tag in tags {
            if self.last.as_ref().is_some_and(|last| tag <= *last) {
                self.sorted = false;
            }
            self.last = Some(tag.clone());
            if self.seen.insert(tag.clone()) {
                self.names.push(tag);
            }
        }
        None
    }

    /// An error answer (`status`) to a page after the first: `Some` where
    /// the listing goes on another way (a linked page that answers 404; a
    /// `last` of ours refused), `None` where the answer is the caller's
    /// error to report.
    pub fn failed(&mut self, status: u16) -> Option<Next> {
        if self.pages == 0 {
            return None;
        }
        match (&self.mode, status) {
            (Mode::Links | Mode::Whole, 404) => {
                Some(self.fall_back("its next page answered 404".to_string()))
            }
            (Mode::Resumed(after), 400..=499) if !matches!(status, 401 | 403 | 429) => {
                let why = format!("the registry refused last={after} ({status})");
                self.resume_failed = true;
                Some(self.fall_back(why))
            }
            _ => None,
        }
    }

    /// What went wrong with the registry's paging and what was done about
    /// it, in words; `None` when its links were simply followed.
    pub fn detours(&self) -> Option<String> {
        (!self.detours.is_empty()).then(|| self.detours.join("; "))
    }

    /// Every tag, in the order first received.
    pub fn into_names(self) -> Vec<String> {
        self.names
    }

    /// Goes on another way after `why` (see the module documentation).
    fn fall_back(&mut self, why: String) -> Next {
        if self.mode != Mode::Whole && self.sorted && !self.resume_failed {
            if let Some(last) = self.last.clone() {
                let url = self.url(self.page_size, Some(&last));
                if self.guard.may_read(&url) {
                    self.detours.push(format!(
                        "{why}; continued with last={last} on the repository's own path"
                    ));
                    self.mode = Mode::Resumed(last);
                    return Next::Read(url);
                }
            }
        }
        if self.mode != Mode::Whole && self.page_size.is_some() {
            self.detours
                .push(format!("{why}; read every tag again, without a page size"));
            self.mode = Mode::Whole;
            self.guard = PageGuard::new(self.max_pages);
            self.pages = 0;
            self.names.clear();
            self.seen.clear();
            self.last = None;
            self.sorted = true;
            return Next::Read(self.url(None, None));
        }
        self.detours.push(why);
        Next::Fail(self.detours.join("; "))
    }

    /// `first` with `n` and `last` as given.
    fn url(&self, n: Option<u32>, last: Option<&str>) -> Url {
        let mut url = self.first.clone();
        if n.is_some() || last.is_some() {
            let mut query = url.query_pairs_mut();
            if let Some(last) = last {
                query.append_pair("last", last);
            }
            if let Some(n) = n {
                query.append_pair("n", &n.to_string());
            }
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = "https://r.example/v2/kolla/base/tags/list";

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    fn read(next: Next) -> Url {
        match next {
            Next::Read(url) => url,
            other => panic!("expected a page to read, got {other:?}"),
        }
    }

    #[test]
    fn good_links_are_followed_to_the_end() {
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        assert_eq!(first.as_str(), format!("{FIRST}?n=1000"));
        let opaque = u(&format!("{FIRST}?n=2&next_page=abc"));
        assert_eq!(
            p.page(&first, tags(&["b", "a"]), Some(opaque.clone())),
            Next::Read(opaque.clone()),
            "any query on the repository's own path is followed, in any order"
        );
        assert_eq!(p.page(&opaque, tags(&["a", "c"]), None), Next::Done);
        assert_eq!(p.detours(), None);
        assert_eq!(p.into_names(), ["b", "a", "c"]);
    }

    #[test]
    fn a_link_outside_the_repository_resumes_after_the_last_tag() {
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        // The prefix `kolla/` dropped: another repository's path.
        let wrong = u("https://r.example/v2/base/tags/list?last=b&n=2");
        let resumed = read(p.page(&first, tags(&["a", "b"]), Some(wrong)));
        assert_eq!(resumed.as_str(), format!("{FIRST}?last=b&n=1000"));
        let wrong = u("https://r.example/v2/base/tags/list?last=d&n=2");
        let again = read(p.page(&resumed, tags(&["c", "d"]), Some(wrong)));
        assert_eq!(again.as_str(), format!("{FIRST}?last=d&n=1000"));
        assert_eq!(p.page(&again, tags(&["e"]), None), Next::Done);
        assert!(p
            .detours()
            .unwrap()
            .starts_with("its next-page Link points to /v2/base/tags/list, outside /v2/kolla/base/tags/list; continued with last=b"));
        assert_eq!(p.into_names(), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn a_linked_page_that_answers_404_resumes_after_the_last_tag() {
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        let link = u(&format!("{FIRST}?next_page=abc"));
        assert_eq!(
            p.page(&first, tags(&["a", "b"]), Some(link.clone())),
            Next::Read(link)
        );
        let resumed = read(p.failed(404).unwrap());
        assert_eq!(resumed.as_str(), format!("{FIRST}?last=b&n=1000"));
        assert_eq!(p.page(&resumed, tags(&["c"]), None), Next::Done);
        assert_eq!(p.into_names(), ["a", "b", "c"]);
    }

    #[test]
    fn a_refused_or_ignored_last_reads_everything_again_without_n() {
        for refused in [true, false] {
            let mut p = TagPages::new(u(FIRST), Some(1000), 10);
            let first = p.start();
            let link = u(&format!("{FIRST}?next_page=abc"));
            p.page(&first, tags(&["a", "b"]), Some(link));
            let resumed = read(p.failed(404).unwrap());
            let whole = if refused {
                read(p.failed(405).unwrap())
            } else {
                // The first page again: `last` ignored.
                read(p.page(&resumed, tags(&["a", "b"]), None))
            };
            assert_eq!(whole.as_str(), FIRST, "no n, no last");
            assert!(p.at_start(), "a 404 now means the repository is gone");
            assert_eq!(p.page(&whole, tags(&["b", "a", "c"]), None), Next::Done);
            assert_eq!(
                p.into_names(),
                ["b", "a", "c"],
                "only the whole read counts"
            );
        }
    }

    #[test]
    fn unsorted_pages_are_never_resumed_with_last() {
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        let wrong = u("https://r.example/v2/base/tags/list?next_page=x");
        // `b` before `a`: `last=a` could skip `b`-like tags of later pages.
        let whole = read(p.page(&first, tags(&["b", "a"]), Some(wrong)));
        assert_eq!(whole.as_str(), FIRST);
    }

    #[test]
    fn a_partial_list_is_never_the_whole_one() {
        // Without n already: reading again without n would read the same.
        let mut p = TagPages::new(u(FIRST), None, 10);
        let first = p.start();
        assert_eq!(first.as_str(), FIRST);
        let link = u(&format!("{FIRST}?next_page=abc"));
        p.page(&first, tags(&["a", "b"]), Some(link));
        let resumed = read(p.failed(404).unwrap());
        assert_eq!(resumed.as_str(), format!("{FIRST}?last=b"));
        let Next::Fail(why) = p.failed(405).unwrap() else {
            panic!()
        };
        assert_eq!(
            why,
            "its next page answered 404; continued with last=b on the repository's own path; the registry refused last=b (405)"
        );
        // Read whole without n, and that listing's link is wrong again.
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        let wrong = u("https://r.example/v2/base/tags/list?n=2&next_page=x");
        let whole = read(p.page(&first, tags(&["b", "a"]), Some(wrong.clone())));
        assert_eq!(whole.as_str(), FIRST);
        assert!(matches!(
            p.page(&whole, tags(&["b", "a"]), Some(wrong)),
            Next::Fail(why) if why.ends_with("; read every tag again, without a page size; its next-page Link points to /v2/base/tags/list, outside /v2/kolla/base/tags/list")
        ));
        // … or its linked page answers 404.
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        let link = u(&format!("{FIRST}?next_page=abc"));
        assert_eq!(
            p.page(&first, tags(&["b", "a"]), Some(link.clone())),
            Next::Read(link.clone())
        );
        // Unsorted: no `last=`; read whole.
        let whole = read(p.failed(404).unwrap());
        assert_eq!(whole.as_str(), FIRST);
        assert_eq!(
            p.page(&whole, tags(&["b", "a"]), Some(link.clone())),
            Next::Read(link)
        );
        assert!(matches!(p.failed(404), Some(Next::Fail(_))));
        // Errors other than these are the caller's to report.
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        assert_eq!(p.failed(404), None, "on the first page: no repository");
        let first = p.start();
        let link = u(&format!("{FIRST}?next_page=abc"));
        p.page(&first, tags(&["a"]), Some(link));
        assert_eq!(p.failed(500), None);
        assert_eq!(p.failed(401), None);
    }

    #[test]
    fn an_unreadable_link_is_never_the_last_page() {
        let why = || "its Link header \"x; rel=next\" cannot be read".to_string();
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        let resumed = read(p.page_with_unreadable_link(&first, tags(&["a", "b"]), why()));
        assert_eq!(resumed.as_str(), format!("{FIRST}?last=b&n=1000"));
        // Every page's header is unreadable: page on with last= …
        let again = read(p.page_with_unreadable_link(&resumed, tags(&["c", "d"]), why()));
        assert_eq!(again.as_str(), format!("{FIRST}?last=d&n=1000"));
        // … until a page after our last= is empty: nothing comes after d.
        assert_eq!(
            p.page_with_unreadable_link(&again, vec![], why()),
            Next::Done
        );
        assert!(p.detours().unwrap().starts_with(
            "its Link header \"x; rel=next\" cannot be read; continued with last=b on the repository's own path"
        ));
        assert_eq!(p.into_names(), ["a", "b", "c", "d"]);

        // Unsorted: read again without n; unreadable again there: fail.
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        let whole = read(p.page_with_unreadable_link(&first, tags(&["b", "a"]), why()));
        assert_eq!(whole.as_str(), FIRST);
        assert!(matches!(
            p.page_with_unreadable_link(&whole, tags(&["b", "a", "c"]), why()),
            Next::Fail(why) if why.ends_with("read every tag again, without a page size; its Link header \"x; rel=next\" cannot be read")
        ));
        // A page without a Link after the detour ends it.
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        let whole = read(p.page_with_unreadable_link(&first, tags(&["b", "a"]), why()));
        assert_eq!(p.page(&whole, tags(&["b", "a", "c"]), None), Next::Done);
        assert_eq!(p.into_names(), ["b", "a", "c"]);
    }

    #[test]
    fn loops_are_refused() {
        let mut p = TagPages::new(u(FIRST), Some(1000), 10);
        let first = p.start();
        assert!(matches!(
            p.page(&first, tags(&["a"]), Some(first.clone())),
            Next::Fail(why) if why.contains("loop")
        ));
    }
}
