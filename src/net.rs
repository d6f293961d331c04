//! Where plain http is allowed: loopback hosts only (tests, local
//! registries). Everything else must be https, so credentials never cross a
//! network in clear.

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

#[cfg(test)]
mod tests {
    use super::is_loopback;

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
