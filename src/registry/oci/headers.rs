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

/// The target of the first `rel="next"` link of every `Link` header, as
/// written (relative or absolute; the caller resolves it).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_next_link)
}

/// `</v2/x/tags/list?last=a&n=3>; rel="next", <…>; rel="prev"` → the next target.
pub fn parse_next_link(value: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = rest[open + 1..close].trim();
        let after = &rest[close + 1..];
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
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next && !target.is_empty() {
            return Some(target.to_string());
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
        assert_eq!(
            parse_next_link(r#"</v2/_catalog?last=lab%2Fapp-0001&n=3>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=lab%2Fapp-0001&n=3")
        );
        assert_eq!(
            parse_next_link(
                r#"<https://quay.io/v2/org/app/tags/list?n=50&next_page=gAAAAABk>; rel=next"#
            )
            .as_deref(),
            Some("https://quay.io/v2/org/app/tags/list?n=50&next_page=gAAAAABk")
        );
        assert_eq!(
            parse_next_link(r#"</a?p=1>; rel="prev", </a?p=3>; rel="next""#).as_deref(),
            Some("/a?p=3")
        );
        assert_eq!(
            parse_next_link(r#"</a?p=3>; title="x"; rel="last next""#).as_deref(),
            Some("/a?p=3")
        );
        assert_eq!(parse_next_link(r#"</a?p=1>; rel="prev""#), None);
        assert_eq!(parse_next_link("garbage"), None);
        assert_eq!(parse_next_link("<>; rel=next"), None);
    }
}
