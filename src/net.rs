//! Where plain http is allowed: loopback hosts only (tests, local
//! registries). Everything else must be https, so credentials never cross a
//! network in clear. And how a URL someone typed is shown or used as a
//! key without what may be a secret in it.

use url::{Host, Url};

/// Whether `url` points at this machine: 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `raw` (an address as typed: a URL or not, with or without a scheme)
/// as it may be shown in a message: any user information (`user:token@`)
/// replaced by `…`, any query or fragment (`?key=…`) by `?…`. A token
/// typed into an address must never be echoed back, whatever else is wrong
/// with it.
pub fn shown(raw: &str) -> String {
    let raw = raw.trim();
    let (rest, cut) = match raw.find(['?', '#']) {
        Some(i) => (&raw[..i], "?…"),
        None => (raw, ""),
    };
    let start = rest
        .find("://")
        .map(|i| i + 3)
        .or_else(|| rest.starts_with("//").then_some(2))
        .unwrap_or(0);
    let end = rest[start..].find('/').map_or(rest.len(), |i| start + i);
    let rest = match rest[start..end].rfind('@') {
        Some(at) => format!("{}…{}", &rest[..start], &rest[start + at..]),
        None => rest.to_string(),
    };
    format!("{rest}{cut}")
}

/// What names the service at `url` in file names and caches: scheme, host,
/// port and path — never its user information, query or fragment (which
/// may hold a key).
pub fn service_key(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

#[cfg(test)]
mod tests {
    use super::{is_loopback, service_key, shown};

    #[test]
    fn neither_user_information_nor_a_query_is_shown() {
        for (typed, safe) in [
            (
                "http://ci-bot:dckr_pat_x@127.0.0.1:8080/v2?a=b@c",
                "http://…@127.0.0.1:8080/v2?…",
            ),
            ("https://tok@en@[bad", "https://…@[bad"),
            // No scheme: the user information is still found.
            ("ci-bot:dckr_pat_x@127.0.0.1:8080", "…@127.0.0.1:8080"),
            ("//ci-bot:dckr_pat_x@127.0.0.1:8080/", "//…@127.0.0.1:8080/"),
            ("127.0.0.1:8080/?key=s3cr3t", "127.0.0.1:8080/?…"),
            ("http://?key=s3cr3t", "http://?…"),
            ("https://hub.docker.com/#frag", "https://hub.docker.com/?…"),
            ("https://hub.docker.com/", "https://hub.docker.com/"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(shown(typed), safe, "{typed}");
        }
    }

    #[test]
    fn a_service_key_leaves_out_query_and_credentials() {
        let url: url::Url = "http://127.0.0.1:8080/hub/?key=dckr_pat_x#frag"
            .parse()
            .unwrap();
        assert_eq!(service_key(&url), "http://127.0.0.1:8080/hub/");
        let hub: url::Url = "https://hub.docker.com/".parse().unwrap();
        assert_eq!(service_key(&hub), "https://hub.docker.com/");
    }

    #[test]
    fn loopback_hosts() {
        for yes in [
            "http://127.0.0.1:5000",
            "http://127.8.0.1",
            "http://[::1]:80",
            "http://LocalHost",
        ] {
            assert!(is_loopback(&yes.parse().unwrap()), "{yes}");
        }
        for no in [
            "http://10.0.0.1",
            "http://localhost.example",
            "http://[::2]",
            "http://hub.docker.com",
        ] {
            assert!(!is_loopback(&no.parse().unwrap()), "{no}");
        }
    }
}
