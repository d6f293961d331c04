//! Following a listing's pages safely, for every network backend.
//!
//! A link to another page (Docker Hub's `next`, an OCI `Link: <…>;
//! rel="next"`, an upload session's `Location`) is resolved against the
//! answer it came in and followed only on the registry's own origin: our
//! credentials go with every request there ([`same_origin`]). A listing
//! whose links come back to a page already read, or go on past a bound, is
//! a server bug we refuse to follow forever ([`PageGuard`]).

use std::collections::HashSet;

use url::Url;

use super::RegistryError;

/// Resolves the link `target` found in the answer to `current` (relative,
/// absolute or with opaque parameters), and refuses one that leaves
/// `base`'s origin (scheme, host and port). `what` names the link in the
/// errors (``the `next` link``, `the link`).
pub fn same_origin(
    base: &Url,
    current: &Url,
    target: &str,
    what: &str,
) -> Result<Url, RegistryError> {
    let url = current.join(target).map_err(|e| {
        RegistryError::Refused(format!("{current}: {what} {target:?} is not a URL ({e})"))
    })?;
    if url.origin() != base.origin() {
        return Err(RegistryError::Refused(format!(
            "{current}: {what} points to {}, not to {}; refusing to follow it (it would receive our credentials)",
            url.origin().ascii_serialization(),
            base.origin().ascii_serialization()
        )));
    }
    Ok(url)
}

/// The pages one listing has read: none is read twice (links that loop),
/// and at most `max` are read in all (links that never end). The backend
/// says, in its own words, why it stops.
#[derive(Debug)]
pub struct PageGuard {
    read: HashSet<Url>,
    max: usize,
}

impl PageGuard {
    /// A guard allowing at most `max` pages.
    pub fn new(max: usize) -> Self {
        PageGuard {
            read: HashSet::new(),
            max,
        }
    }

    /// Whether `url` may be read next: it was not read before, and fewer
    /// than `max` pages were.
    pub fn may_read(&self, url: &Url) -> bool {
        !self.read.contains(url) && self.read.len() < self.max
    }

    /// Counts `url` as read.
    pub fn read(&mut self, url: &Url) {
        self.read.insert(url.clone());
    }

    /// Pages read so far.
    pub fn pages(&self) -> usize {
        self.read.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_read_once_and_at_most_max() {
        let u = |n: u32| Url::parse(&format!("https://r.example/v2/x?page={n}")).unwrap();
        let mut guard = PageGuard::new(2);
        assert!(guard.may_read(&u(1)));
        guard.read(&u(1));
        assert!(!guard.may_read(&u(1)), "a loop");
        assert!(guard.may_read(&u(2)));
        guard.read(&u(2));
        assert!(!guard.may_read(&u(3)), "past the bound");
        assert_eq!(guard.pages(), 2);
    }
}
