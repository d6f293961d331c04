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
/// errors (``the `next` link``, `the link`), which say what to do: a link
/// that is not a URL is the server's bug; one to another origin is most
/// often a proxy in front of the registry that builds links with its own
/// idea of the address (the scheme behind TLS termination, an internal
/// host name), or the registry reached under another name.
pub fn same_origin(
    base: &Url,
    current: &Url,
    target: &str,
    what: &str,
) -> Result<Url, RegistryError> {
    let url = current.join(target).map_err(|e| {
        RegistryError::Refused(format!(
            "{current}: {what} {target:?} is not a URL ({e})\n  hint: the server, or a proxy in front of it, sends malformed links; tell its operator (running again will not help)"
        ))
    })?;
    if url.origin() != base.origin() {
        let theirs = url.origin().ascii_serialization();
        let ours = base.origin().ascii_serialization();
        let why = if url.host() == base.host() && url.port() == base.port() {
            format!(
                "only the scheme differs: a proxy that ends TLS in front of the server builds its links as {}:// (it does not pass on X-Forwarded-Proto); have its operator fix that",
                url.scheme()
            )
        } else {
            format!(
                "the server builds its links with another address than the one tagsweep was given (a proxy or load balancer that does not pass on the Host asked for, or another name of the same server): if {theirs} is the same server, give tagsweep that address (`registry:` in the manifest; --hub-url for Docker Hub's API); otherwise have its operator fix the links"
            )
        };
        return Err(RegistryError::Refused(format!(
            "{current}: {what} points to {theirs}, not to {ours}; refusing to follow it (it would receive our credentials)\n  hint: {why}; running again will not help"
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
    fn a_link_elsewhere_or_not_a_url_says_what_to_do() {
        let u = |s: &str| Url::parse(s).unwrap();
        let base = u("https://r.example:5000");
        let current = u("https://r.example:5000/v2/_catalog?n=2");
        let e = same_origin(&base, &current, "http://[::1", "the link").unwrap_err();
        assert!(
            e.to_string().contains("is not a URL")
                && e.to_string().contains("hint: the server, or a proxy in front of it, sends malformed links; tell its operator"),
            "{e}"
        );
        let e = same_origin(
            &base,
            &current,
            "https://mirror.example/v2/_catalog?last=a",
            "the link",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("points to https://mirror.example, not to https://r.example:5000")
                && e.to_string().contains("if https://mirror.example is the same server, give tagsweep that address (`registry:` in the manifest"),
            "{e}"
        );
        let e = same_origin(
            &base,
            &current,
            "http://r.example:5000/v2/_catalog?last=a",
            "the link",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("only the scheme differs")
                && e.to_string().contains("X-Forwarded-Proto"),
            "{e}"
        );
        assert_eq!(
            same_origin(&base, &current, "/v2/_catalog?last=a", "the link").unwrap(),
            u("https://r.example:5000/v2/_catalog?last=a")
        );
    }

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
