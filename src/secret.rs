//! A string that must never be printed.
//!
//! Passwords, personal access tokens and the access tokens Docker Hub hands back
//! travel through the program in this type. Its `Debug` and `Display` print
//! `(redacted)`, so a secret cannot leak through a log line, an error chain or
//! `-v` output by accident; the one way to read it is [`Secret::expose`], used
//! only where a request header or login body is built.
//!
//! A registry can still send a secret back: an error body or header that
//! quotes the `Authorization` it got, a token server that quotes the Basic
//! credentials it refused. [`Redactor`] knows every secret of the run (the
//! password and each token issued, and the forms they travel in) and
//! replaces them with `(redacted)` in any text built from an answer.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};

/// A credential or token. Formatting it prints `(redacted)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for building a request. Never format this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// What a secret is replaced with.
pub const REDACTED: &str = "(redacted)";

/// Shorter values are not redacted: they would replace ordinary words
/// (real passwords and tokens are longer).
const MIN_REDACTED_LEN: usize = 4;

/// Every secret of a run, in every form a registry could send it back in,
/// and the one place that removes them from text (see the module
/// documentation). Cheap to clone: clones share the list, so a token added
/// by the backend that was issued it is removed from every text after that.
///
/// The forms of a secret: as sent, JSON-escaped, percent-encoded, and
/// base64 (standard with and without padding, URL-safe); of credentials,
/// also `Authorization: Basic`'s base64 of `username:secret`; of a JWT, also
/// its claims and signature parts alone.
#[derive(Clone, Default)]
pub struct Redactor {
    forms: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Adds a password or token sent on behalf of `username`: its own forms,
    /// and those of `username:secret` (Basic authentication).
    pub fn add_credentials(&self, username: &str, secret: &Secret) {
        self.add(secret);
        let pair = format!("{username}:{}", secret.expose());
        self.insert(base64_forms(pair.as_bytes()));
    }

    /// Adds a secret (a password, a token issued) in each of its forms.
    pub fn add(&self, secret: &Secret) {
        let value = secret.expose();
        let mut forms = vec![value.to_string()];
        if let Ok(json) = serde_json::to_string(value) {
            forms.push(json.trim_matches('"').to_string());
        }
        forms.push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
        forms.extend(base64_forms(value.as_bytes()));
        let parts: Vec<&str> = value.split('.').collect();
        if parts.len() == 3 {
            // A JWT: its header part is the same for many tokens (and not secret).
            forms.extend(parts[1..].iter().map(|p| p.to_string()));
        }
        self.insert(forms);
    }

    fn insert(&self, forms: Vec<String>) {
        let mut known = self.forms.write().unwrap_or_else(|e| e.into_inner());
        for form in forms {
            if form.len() >= MIN_REDACTED_LEN && !known.contains(&form) {
                known.push(form);
            }
        }
        // Longest first: a form inside another is replaced with the whole.
        known.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// Whether no secret is known (nothing is ever replaced).
    pub fn is_empty(&self) -> bool {
        self.forms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// `text` with every known secret replaced by [`REDACTED`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let known = self.forms.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Cow::Borrowed(text);
        for form in known.iter() {
            if out.contains(form.as_str()) {
                out = Cow::Owned(out.replace(form.as_str(), REDACTED));
            }
        }
        out
    }

    /// [`Redactor::scrub`] for owned text.
    pub fn scrub_string(&self, text: String) -> String {
        match self.scrub(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(scrubbed) => scrubbed,
        }
    }

    /// A body with every known secret replaced; bytes that are not UTF-8
    /// become U+FFFD first, as every message made of a body shows them.
    pub fn scrub_bytes<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        if self.is_empty() {
            return Cow::Borrowed(body);
        }
        match self.scrub(&String::from_utf8_lossy(body)) {
            Cow::Borrowed(_) if std::str::from_utf8(body).is_ok() => Cow::Borrowed(body),
            text => Cow::Owned(text.into_owned().into_bytes()),
        }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.forms.read().map_or(0, |k| k.len());
        write!(f, "Redactor({n} forms)")
    }
}

/// Base64 of `bytes`: standard with and without padding, and URL-safe.
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    vec![
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_redacted() {
        let r = Redactor::new();
        assert_eq!(r.scrub("nothing known yet"), "nothing known yet");
        r.add_credentials("robot", &Secret::new("S3cret/Passw0rd\\"));
        // As sent, in a Basic header (base64 of user:password), JSON-escaped,
        // percent-encoded, base64 alone.
        for (text, want) in [
            (
                "denied to robot pw=S3cret/Passw0rd\\!",
                "denied to robot pw=(redacted)!",
            ),
            (
                "got Basic cm9ib3Q6UzNjcmV0L1Bhc3N3MHJkXA==",
                "got Basic (redacted)",
            ),
            (r#"{"pw":"S3cret/Passw0rd\\"}"#, r#"{"pw":"(redacted)"}"#),
            ("?pw=S3cret%2FPassw0rd%5C", "?pw=(redacted)"),
            ("b64 UzNjcmV0L1Bhc3N3MHJkXA", "b64 (redacted)"),
        ] {
            assert_eq!(r.scrub(text), want, "{text}");
        }
        // A token issued later, by a clone (the backend's).
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb2JvdCJ9.c2lnbmF0dXJlLXBhcnQ";
        r.clone().add(&Secret::new(jwt));
        assert_eq!(r.scrub(&format!("Bearer {jwt}")), "Bearer (redacted)");
        assert_eq!(
            r.scrub("cut: eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb2JvdCJ9.c2ln"),
            "cut: eyJhbGciOiJSUzI1NiJ9.(redacted).c2ln",
            "the claims part alone too"
        );
        assert_eq!(
            &*r.scrub_bytes(b"x S3cret/Passw0rd\\\\ \xff"),
            "x (redacted) \u{fffd}".as_bytes()
        );
        // Too short to redact without mangling ordinary words.
        let short = Redactor::new();
        short.add(&Secret::new("pw"));
        assert_eq!(short.scrub("pw"), "pw");
    }

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("dckr_pat_very_secret");
        assert_eq!(format!("{s}"), "(redacted)");
        assert_eq!(format!("{s:?}"), "(redacted)");
        assert_eq!(format!("{:?}", Some(&s)), "Some((redacted))");
        assert_eq!(s.expose(), "dckr_pat_very_secret");
    }
}
