//! An HTTP answer, read whole, and what every backend reads in one: JSON
//! bodies, headers, and the error an unexpected status or body becomes
//! (with the request that got it, the server's message and a hint).
//!
//! Every text an error takes from an answer — its body, its URL, a header —
//! goes through the answer's [`Redactor`] first, before it is cut to a
//! snippet: a registry that echoes the `Authorization` it got must not put
//! a token or password (or a part of one) into our output.

use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::registry::error::{html_text, looks_like_html, snippet, RegistryError};
use crate::secret::Redactor;

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub method: Method,
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Attempts it took (1 = no retry); more than one when 5xx were retried.
    pub attempts: u32,
    /// The run's secrets, removed from every error made of this answer.
    pub redactor: Redactor,
}

impl Answer {
    /// Decodes a JSON body, or says which request gave an unreadable one.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, RegistryError> {
        serde_json::from_slice(&self.body).map_err(|e| self.undecodable(&e.to_string(), true))
    }

    /// An unreadable-answer error for this answer; `show_body: false` keeps
    /// the body out of it (a login answer holds the access token).
    pub fn undecodable(&self, detail: &str, show_body: bool) -> RegistryError {
        let html = looks_like_html(&self.body);
        let (detail, snippet) = if !show_body {
            (detail.to_string(), "(not shown)".to_string())
        } else if html {
            let text = html_text(&String::from_utf8_lossy(&self.safe_body()));
            (
                "an HTML page, not JSON".to_string(),
                snippet(text.as_bytes(), 120),
            )
        } else {
            (detail.to_string(), self.snippet(120))
        };
        let hint = if html {
            Some(
                "this is not Docker Hub's API answering: check --hub-url / TAGSWEEP_HUB_URL, or a proxy in between"
                    .to_string(),
            )
        } else if self.body.is_empty() {
            Some("the answer was empty; try again".to_string())
        } else {
            None
        };
        RegistryError::Decode {
            method: self.method.to_string(),
            url: self.url.to_string(),
            status: self.status.as_u16(),
            detail,
            snippet,
            hint,
        }
        .redact(&self.redactor)
    }

    /// This answer as an error, with the server's message and our hint
    /// (which may quote the answer: it is redacted too).
    pub fn error(&self, hint: Option<String>) -> RegistryError {
        RegistryError::Status {
            method: self.method.to_string(),
            url: self.url.to_string(),
            status: self.status.as_u16(),
            message: self.message(),
            hint,
        }
        .redact(&self.redactor)
    }

    /// The server's message in an error body (see
    /// [`crate::registry::error::error_message`]), the run's secrets removed.
    pub fn message(&self) -> Option<String> {
        crate::registry::error::error_message(&self.safe_body())
    }

    /// The first `max` characters of the body on one line, the run's
    /// secrets removed before it is cut.
    pub fn snippet(&self, max: usize) -> String {
        snippet(&self.safe_body(), max)
    }

    /// The body with the run's secrets removed: the only form of it an
    /// error may quote.
    pub fn safe_body(&self) -> std::borrow::Cow<'_, [u8]> {
        self.redactor.scrub_bytes(&self.body)
    }

    /// The `Location` of a redirect, as sent.
    pub fn location(&self) -> Option<&str> {
        self.header(LOCATION.as_str())
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The media type of the body, lower-cased, without parameters.
    pub fn content_type(&self) -> Option<String> {
        let raw = self.header(CONTENT_TYPE.as_str())?;
        let media = raw.split(';').next()?.trim().to_ascii_lowercase();
        (!media.is_empty()).then_some(media)
    }
}
