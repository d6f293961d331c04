//! A string that must never be printed.
//!
//! Passwords, personal access tokens and the access tokens Docker Hub hands back
//! travel through the program in this type. Its `Debug` and `Display` print
//! `(redacted)`, so a secret cannot leak through a log line, an error chain or
//! `-v` output by accident; the one way to read it is [`Secret::expose`], used
//! only where a request header or login body is built.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("dckr_pat_very_secret");
        assert_eq!(format!("{s}"), "(redacted)");
        assert_eq!(format!("{s:?}"), "(redacted)");
        assert_eq!(format!("{:?}", Some(&s)), "Some((redacted))");
        assert_eq!(s.expose(), "dckr_pat_very_secret");
    }
}
