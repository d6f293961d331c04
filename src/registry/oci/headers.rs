//! Pure parsing of the two headers the distribution API steers clients with:
//! `WWW-Authenticate` (RFC 7235 challenges: `Bearer realm="…",service="…",
//! scope="…",error="…"` or `Basic realm="…"`) and `Link` (RFC 8288:
//! `<…>; rel="next"`, relative or absolute, several links per header).

use std::collections::BTreeMap;

use reqwest::header::HeaderMap;

/// One authentication challenge: its scheme (lowercase) and parameters
/// (names lowercase, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge of every `WWW-Authenticate` header.
pub fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect()
}

/// Parses one header value, which may hold several challenges:
/// `Basic realm="a", Bearer realm="b",service="c"`.
pub fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut s = Scanner::new(value);
    loop {
        s.skip(|c| c == ',' || c.is_whitespace());
        if s.peek().is_none() {
            break;
        }
        let token = s.token();
        if token.is_empty() {
            // Not a token: skip one character so parsing always advances.
            s.next();
            continue;
        }
        s.skip(char::is_whitespace);
        if s.peek() == Some('=') && !out.is_empty() {
            // `name=value`: a parameter of the current challenge.
            s.next();
            s.skip(char::is_whitespace);
            let value = s.value();
            if let Some(current) = out.last_mut() {
                current.params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            // A scheme, perhaps followed directly by its first parameter.
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    out
}

/// What an answer's `Link` headers say of a next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextLink {
    /// No `Link` header, or none with `rel="next"`: the last page. The
    /// distribution spec: "If the header is not present, the client can
    /// assume that all results have been received"
    /// (opencontainers/distribution-spec PR #496).
    None,
    /// The target of the first `rel="next"` link, as written (relative or
    /// absolute; the caller resolves it).
    Next(String),
    /// A `Link` header is there but cannot be read — not `<target>;
    /// params` (RFC 8288), not text, or a `rel="next"` whose target is
    /// empty: there may be more pages, but the header does not say where.
    /// Holds the header as sent (at most 200 characters), for messages.
    Unreadable(String),
}

/// The next page of every `Link` header (see [`NextLink`]): the first
/// readable `rel="next"` link wins; a header that cannot be read makes the
/// answer [`NextLink::Unreadable`] unless another header names the next page.
pub fn next_link(headers: &HeaderMap) -> NextLink {
    let mut unreadable = None;
    for value in headers.get_all(reqwest::header::LINK) {
        let parsed = value.to_str().ok().map(|v| (v, parse_next_link(v)));
        match parsed {
            Some((_, Ok(Some(target)))) => return NextLink::Next(target),
            Some((_, Ok(None))) => {}
            Some((text, Err(()))) => {
                unreadable
                    .get_or_insert_with(|| crate::registry::error::snippet(text.as_bytes(), 200));
            }
            None => {
                unreadable.get_or_insert_with(|| "(not text)".to_string());
            }
        }
    }
    unreadable.map_or(NextLink::None, NextLink::Unreadable)
}

/// `</v2/x/tags/list?last=a&n=3>; rel="next", <…>; rel="prev"` → the next
/// target; `Ok(None)` when no link is `rel="next"`; `Err` when the value is
/// not a list of `<target>; params` links, or its `rel="next"` link has an
/// empty target.
pub fn parse_next_link(value: &str) -> Result<Option<String>, ()> {
    let mut rest = value;
    loop {
        let start = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if start.is_empty() {
            return Ok(None);
        }
        if !start.starts_with('<') {
            return Err(());
        }
        let close = start.find('>').ok_or(())?;
        let target = start[1..close].trim();
        let after = &start[close + 1..];
        // Parameters run to the next link (`, <`) or the end.
        let end = after.find('<').unwrap_or(after.len());
        let params = &after[..end];
        let is_next = params.split(';').any(|p| {
            let Some((name, value)) = p.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return if target.is_empty() {
                Err(())
            } else {
                Ok(Some(target.to_string()))
            };
        }
        rest = &after[end..];
    }
}

struct Scanner<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Self {
        Scanner {
            chars: s.chars().peekable(),
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn next(&mut self) -> Option<char> {
        self.chars.next()
    }

    fn skip(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.next();
        }
    }

    /// An RFC 7230 token (letters, digits and `!#$%&'*+-.^_`|~`).
    fn token(&mut self) -> String {
        let mut t = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/".contains(c) {
                t.push(c);
                self.next();
            } else {
                break;
            }
        }
        t
    }

    /// A quoted string (with `\` escapes) or a bare token.
    fn value(&mut self) -> String {
        if self.peek() == Some('"') {
            self.next();
            let mut v = String::new();
            while let Some(c) = self.next() {
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(escaped) = self.next() {
                            v.push(escaped);
                        }
                    }
                    c => v.push(c),
                }
            }
            v
        } else {
            let mut v = String::new();
            while let Some(c) = self.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                v.push(c);
                self.next();
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Challenge {
        let mut all = parse_challenges(value);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn bearer_challenges_as_distribution_sends_them() {
        let c = one(
            r#"Bearer realm="http://127.0.0.1:48621/token",service="registry-lab",scope="repository:tok-0000:delete",error="insufficient_scope""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("http://127.0.0.1:48621/token"));
        assert_eq!(c.param("service"), Some("registry-lab"));
        assert_eq!(c.param("scope"), Some("repository:tok-0000:delete"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        // Several scopes in one, space-separated.
        let c = one(
            r#"Bearer realm="https://auth.example/token",service="r",scope="repository:a:push,pull repository:b:pull""#,
        );
        assert_eq!(
            c.param("scope"),
            Some("repository:a:push,pull repository:b:pull")
        );
    }

    #[test]
    fn basic_and_several_challenges() {
        let c = one(r#"Basic realm="registry-lab""#);
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("realm"), Some("registry-lab"));
        let all = parse_challenges(
            r#"Basic realm="a, b", Bearer realm="https://x/token", service=x.io ,scope="registry:catalog:*""#,
        );
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].param("realm"), Some("a, b"));
        assert_eq!(all[1].scheme, "bearer");
        assert_eq!(all[1].param("service"), Some("x.io"));
        assert_eq!(all[1].param("scope"), Some("registry:catalog:*"));
        assert_eq!(
            one(r#"BEARER Realm="q\"uote""#).param("realm"),
            Some("q\"uote")
        );
        assert!(parse_challenges("").is_empty());
        assert_eq!(parse_challenges("  ,, ").len(), 0);
    }

    #[test]
    fn next_links_relative_absolute_and_opaque() {
        let next = |v: &str| parse_next_link(v).unwrap();
        assert_eq!(
            next(r#"</v2/_catalog?last=lab%2Fapp-0001&n=3>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=lab%2Fapp-0001&n=3")
        );
        assert_eq!(
            next(r#"<https://quay.io/v2/org/app/tags/list?n=50&next_page=gAAAAABk>; rel=next"#)
                .as_deref(),
            Some("https://quay.io/v2/org/app/tags/list?n=50&next_page=gAAAAABk")
        );
        assert_eq!(
            next(r#"</a?p=1>; rel="prev", </a?p=3>; rel="next""#).as_deref(),
            Some("/a?p=3")
        );
        assert_eq!(
            next(r#"</a?p=3>; title="x"; rel="last next""#).as_deref(),
            Some("/a?p=3")
        );
        assert_eq!(next(r#"</a?p=1>; rel="prev""#), None);
        assert_eq!(next(r#"</a?p=1>; rel=prev, "#), None);
        assert_eq!(next("  "), None);
    }

    #[test]
    fn a_link_header_that_cannot_be_read_is_not_a_last_page() {
        for value in [
            // No angle brackets.
            r#"/v2/kolla/base/tags/list?last=rocky-2&n=3; rel="next""#,
            "garbage",
            // An empty target.
            "<>; rel=next",
            r#"< >; rel="next""#,
            // Not closed.
            r#"</v2/kolla/base/tags/list?last=a; rel="next""#,
            // Text before the first link.
            r#"x </a?p=2>; rel="next""#,
        ] {
            assert_eq!(parse_next_link(value), Err(()), "{value}");
            let mut headers = HeaderMap::new();
            headers.insert(reqwest::header::LINK, value.parse().unwrap());
            assert_eq!(
                next_link(&headers),
                NextLink::Unreadable(value.trim().to_string()),
                "{value}"
            );
        }
        let mut headers = HeaderMap::new();
        assert_eq!(
            next_link(&headers),
            NextLink::None,
            "no header: the last page"
        );
        headers.insert(
            reqwest::header::LINK,
            reqwest::header::HeaderValue::from_bytes(b"<\xff>; rel=next").unwrap(),
        );
        assert_eq!(
            next_link(&headers),
            NextLink::Unreadable("(not text)".into())
        );
        // Another header that names the next page wins.
        headers.append(
            reqwest::header::LINK,
            r#"</a?p=2>; rel="next""#.parse().unwrap(),
        );
        assert_eq!(next_link(&headers), NextLink::Next("/a?p=2".into()));
    }
}
