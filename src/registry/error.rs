//! Registry errors that say which request failed, why, and what to do.

use thiserror::Error;

use crate::secret::Redactor;

#[derive(Debug, Error)]
pub enum RegistryError {
    /// The server answered with an error status.
    #[error("{method} {url}: {}{}{}", status_text(*.status), message_part(.message), hint_part(.hint))]
    Status {
        method: String,
        url: String,
        status: u16,
        message: Option<String>,
        hint: Option<String>,
    },
    /// No answer: connection refused, reset, timed out…
    #[error("{method} {url}: {detail}")]
    Transport {
        method: String,
        url: String,
        detail: String,
    },
    /// An answer we cannot read (HTML, truncated JSON, missing fields).
    #[error("{method} {url}: {}: unreadable answer ({detail}); body starts with {snippet:?}{}", status_text(*.status), hint_part(.hint))]
    Decode {
        method: String,
        url: String,
        status: u16,
        detail: String,
        snippet: String,
        hint: Option<String>,
    },
    /// Logging in failed.
    #[error("logging in to {url} as {username} failed: {detail}")]
    Login {
        url: String,
        username: String,
        detail: String,
    },
    /// We refused to do something unsafe (e.g. follow a link to another host).
    #[error("{0}")]
    Refused(String),
    /// The registry's answer contradicts itself — a `Docker-Content-Digest`
    /// that is not the digest of the bytes sent with it — so nothing is done
    /// on it. Running again does not help while whatever rewrites the
    /// answers (a proxy, a cache) is in between.
    #[error("{method} {url}: {detail}{}", hint_part(.hint))]
    Contradiction {
        method: String,
        url: String,
        detail: String,
        hint: Option<String>,
    },
    /// Something changed on the registry while we acted on it (a tag moved
    /// during its delete): nothing was lost, and running again finishes it.
    #[error("{0}")]
    Changed(String),
    /// The snapshot file cannot be used.
    #[error("{0}")]
    Snapshot(String),
    /// The snapshot file at `path` records namespace `found`, not the
    /// `expected` one it was opened for.
    #[error("{path}: the snapshot is of namespace {found:?}, not of {expected:?}")]
    SnapshotNamespace {
        path: String,
        found: String,
        expected: String,
    },
}

fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn message_part(message: &Option<String>) -> String {
    message
        .as_ref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

fn hint_part(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\n  hint: {h}"))
        .unwrap_or_default()
}

impl RegistryError {
    /// The HTTP status, for errors that have one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether running the same command again may succeed where this
    /// failed: yes after a network failure, a server error (5xx), a rate
    /// limit (429) or a registry that changed under us; no after a refusal
    /// (401, 403: a permission the credentials lack; 405: deletes disabled;
    /// other 4xx), a contradiction, or anything we refused to do. Summaries
    /// tell the user to run again only when it can help.
    pub fn rerun_helps(&self) -> bool {
        match self {
            RegistryError::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            RegistryError::Transport { .. } | RegistryError::Changed(_) => true,
            RegistryError::Decode { status, .. } => *status >= 500,
            RegistryError::Login { .. }
            | RegistryError::Refused(_)
            | RegistryError::Contradiction { .. }
            | RegistryError::Snapshot(_)
            | RegistryError::SnapshotNamespace { .. } => false,
        }
    }

    /// The same error with every secret `redactor` knows replaced by
    /// `(redacted)` in every text it holds: a server or proxy that echoes a
    /// request (or a login answer cut short) must not put a credential or
    /// token into our output.
    pub fn redact(self, redactor: &Redactor) -> RegistryError {
        if redactor.is_empty() {
            return self;
        }
        self.map_text(|s| redactor.scrub_string(s))
    }

    /// The same error with `f` applied to each of its texts.
    fn map_text(self, f: impl Fn(String) -> String) -> RegistryError {
        let r = &f;
        let ro = |s: Option<String>| s.map(r);
        match self {
            RegistryError::Status {
                method,
                url,
                status,
                message,
                hint,
            } => RegistryError::Status {
                method,
                url: r(url),
                status,
                message: ro(message),
                hint: ro(hint),
            },
            RegistryError::Transport {
                method,
                url,
                detail,
            } => RegistryError::Transport {
                method,
                url: r(url),
                detail: r(detail),
            },
            RegistryError::Decode {
                method,
                url,
                status,
                detail,
                snippet,
                hint,
            } => RegistryError::Decode {
                method,
                url: r(url),
                status,
                detail: r(detail),
                snippet: r(snippet),
                hint: ro(hint),
            },
            RegistryError::Login {
                url,
                username,
                detail,
            } => RegistryError::Login {
                url: r(url),
                username,
                detail: r(detail),
            },
            RegistryError::Refused(s) => RegistryError::Refused(r(s)),
            RegistryError::Contradiction {
                method,
                url,
                detail,
                hint,
            } => RegistryError::Contradiction {
                method,
                url: r(url),
                detail: r(detail),
                hint: ro(hint),
            },
            RegistryError::Changed(s) => RegistryError::Changed(r(s)),
            RegistryError::Snapshot(s) => RegistryError::Snapshot(r(s)),
            e @ RegistryError::SnapshotNamespace { .. } => e,
        }
    }
}

/// Reads the human message out of an error body, leniently: `message`, then
/// `detail`, then `text`, then `errors[0].message` (OCI), then the raw body
/// (an HTML page as its text, so a proxy's error page reads as a sentence).
pub fn error_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if looks_like_html(text.as_bytes()) {
        let words = html_text(text);
        return Some(if words.is_empty() {
            "an HTML page".to_string()
        } else {
            format!("an HTML page: {}", snippet(words.as_bytes(), 200))
        });
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        for key in ["message", "detail", "text"] {
            if let Some(s) = value
                .get(key)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
            {
                return Some(s.to_string());
            }
        }
        if let Some(s) = value
            .get("errors")
            .and_then(|e| e.get(0))
            .and_then(|e| e.get("message"))
            .and_then(|m| m.as_str())
        {
            return Some(s.to_string());
        }
    }
    Some(snippet(text.as_bytes(), 200))
}

/// Whether a body is an HTML page rather than the API's JSON.
pub fn looks_like_html(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let start = text.trim_start().to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html") || start.starts_with("<head")
}

/// The visible text of an HTML page: tags, scripts and styles dropped,
/// whitespace collapsed, the most common entities decoded. Never fails.
pub fn html_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let after = &rest[open..];
        let lower = after
            .get(..8.min(after.len()))
            .unwrap_or("")
            .to_ascii_lowercase();
        let skip_to = if lower.starts_with("<script") {
            "</script>"
        } else if lower.starts_with("<style") {
            "</style>"
        } else {
            ">"
        };
        match after.to_ascii_lowercase().find(skip_to) {
            Some(end) => rest = &after[end + skip_to.len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first `max` characters of a body, on one line.
pub fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > max {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_leniently() {
        assert_eq!(
            error_message(br#"{"message":"pagination offset too large","errinfo":{}}"#).as_deref(),
            Some("pagination offset too large")
        );
        assert_eq!(
            error_message(br#"{"detail": "Rate limit exceeded", "error": false}"#).as_deref(),
            Some("Rate limit exceeded")
        );
        assert_eq!(
            error_message(br#"{"fields": {}, "text": "Invalid ordering value"}"#).as_deref(),
            Some("Invalid ordering value")
        );
        assert_eq!(
            error_message(br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#).as_deref(),
            Some("repository name not known to registry")
        );
        assert_eq!(
            error_message(b"Too Many Requests (HAP429)").as_deref(),
            Some("Too Many Requests (HAP429)")
        );
        assert_eq!(
            error_message(b"<html>\n<body>Moved</body></html>").as_deref(),
            Some("an HTML page: Moved")
        );
        assert_eq!(
            error_message(b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>b{x:1}</style></head><body><h1>502 Bad Gateway</h1>\n<p>nginx &amp; co</p></body></html>").as_deref(),
            Some("an HTML page: 502 Bad Gateway 502 Bad Gateway nginx & co")
        );
        assert_eq!(
            error_message(b"<html><body>").as_deref(),
            Some("an HTML page")
        );
        assert_eq!(
            error_message(b"<html><body><p>cut off <a hr").as_deref(),
            Some("an HTML page: cut off")
        );
        assert_eq!(error_message(b"  "), None);
        assert_eq!(
            error_message(br#"{"message":"#).as_deref(),
            Some(r#"{"message":"#)
        );
    }

    #[test]
    fn errors_are_redacted_everywhere() {
        let redactor = Redactor::new();
        redactor.add(&crate::secret::Secret::new("dckr_pat_x1"));
        redactor.add(&crate::secret::Secret::new("eyJtoken"));
        let e = RegistryError::Status {
            method: "POST".into(),
            url: "http://127.0.0.1:1/v2/auth/token".into(),
            status: 500,
            message: Some(r#"echo: {"secret":"dckr_pat_x1"}"#.into()),
            hint: None,
        }
        .redact(&redactor);
        assert_eq!(
            e.to_string(),
            r#"POST http://127.0.0.1:1/v2/auth/token: 500 Internal Server Error: echo: {"secret":"(redacted)"}"#
        );
        let e = RegistryError::Decode {
            method: "POST".into(),
            url: "u".into(),
            status: 200,
            detail: "EOF".into(),
            snippet: r#"{"access_token":"eyJtoken"#.into(),
            hint: None,
        }
        .redact(&redactor);
        assert!(!e.to_string().contains("eyJtoken"), "{e}");
        assert!(
            e.to_string()
                .starts_with("POST u: 200 OK: unreadable answer (EOF)"),
            "{e}"
        );
        let e = RegistryError::Refused("a link to /v2/x?token=eyJtoken".into()).redact(&redactor);
        assert_eq!(e.to_string(), "a link to /v2/x?token=(redacted)");
    }

    #[test]
    fn status_error_names_the_request_and_the_hint() {
        let e = RegistryError::Status {
            method: "DELETE".into(),
            url: "https://hub.docker.com/v2/repositories/linaro/base/tags/rocky-1/".into(),
            status: 403,
            message: Some("access denied".into()),
            hint: Some("give the token Delete permission".into()),
        };
        assert_eq!(
            e.to_string(),
            "DELETE https://hub.docker.com/v2/repositories/linaro/base/tags/rocky-1/: 403 Forbidden: access denied\n  hint: give the token Delete permission"
        );
    }
}
