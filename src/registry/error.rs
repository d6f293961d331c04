//! Registry errors that say which request failed, why, and what to do.

use thiserror::Error;

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
    #[error("{method} {url}: unreadable answer ({detail}); body starts with {snippet:?}")]
    Decode {
        method: String,
        url: String,
        detail: String,
        snippet: String,
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
    /// The snapshot file cannot be used.
    #[error("{0}")]
    Snapshot(String),
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
}

/// Reads the human message out of an error body, leniently: `message`, then
/// `detail`, then `text`, then `errors[0].message` (OCI), then the raw body.
pub fn error_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
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
            Some("<html> <body>Moved</body></html>")
        );
        assert_eq!(error_message(b"  "), None);
        assert_eq!(
            error_message(br#"{"message":"#).as_deref(),
            Some(r#"{"message":"#)
        );
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
