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

/// `raw` (a URL as typed, parsed or not) with any user information
/// (`user:password@`) replaced by `…`, for messages: a password or token
/// typed into a URL must not be echoed back.
pub fn without_userinfo(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        return raw.to_string();
    };
    let end = raw[start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| start + i);
    match raw[start..end].rfind('@') {
        Some(at) => format!("{}…{}", &raw[..start], &raw[start + at..]),
        None => raw.to_string(),
    }
}

/// What names the service at `url` in file names and caches: scheme, host,
/// port and path — never its user information, query or fragment (which
/// may hold a key).
pub fn service_key(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

#[cfg(test)]
mod tests {
    use super::{is_loopback, service_key, without_userinfo};

    #[test]
    fn user_information_is_never_shown() {
        assert_eq!(
            without_userinfo("http://ci-bot:dckr_pat_x@127.0.0.1:8080/v2?a=b@c"),
            "http://…@127.0.0.1:8080/v2?a=b@c"
        );
        assert_eq!(without_userinfo("https://tok@en@[bad"), "https://…@[bad");
        assert_eq!(
            without_userinfo("https://hub.docker.com/"),
            "https://hub.docker.com/"
        );
        assert_eq!(without_userinfo("not a url"), "not a url");
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
