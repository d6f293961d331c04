//! GitHub Actions workflow commands: `::warning file=…,line=…,col=…::message`
//! lines, which GitHub shows as annotations on those lines of a pull
//! request's files (docs.github.com, "Workflow commands for GitHub
//! Actions": `error`, `warning` and `notice`, with `file`, `line`, `col`
//! and `title`).

use crate::manifest::Location;

/// How an annotation is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Notice,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One annotation on `file`, at `at` (the whole file when `None`), with an
/// optional title; the message may span lines. One line of output, without
/// its newline.
pub fn annotation(
    level: Level,
    file: &str,
    at: Option<Location>,
    title: Option<&str>,
    message: &str,
) -> String {
    let mut properties = vec![format!("file={}", escape_property(file))];
    if let Some(at) = at {
        properties.push(format!("line={}", at.line));
        properties.push(format!("col={}", at.column));
    }
    if let Some(title) = title {
        properties.push(format!("title={}", escape_property(title)));
    }
    format!(
        "::{} {}::{}",
        level.as_str(),
        properties.join(","),
        escape_data(message)
    )
}

/// Workflow-command escaping for the message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow-command escaping for a property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_escaped() {
        let at = Some(Location { line: 3, column: 5 });
        assert_eq!(
            annotation(
                Level::Error,
                "manifests/a,b.yaml",
                at,
                None,
                "bad regex: 50% wrong\nsecond line"
            ),
            "::error file=manifests/a%2Cb.yaml,line=3,col=5::bad regex: 50%25 wrong%0Asecond line"
        );
        assert_eq!(
            annotation(Level::Notice, "m.yaml", None, Some("a: b, c"), "x"),
            "::notice file=m.yaml,title=a%3A b%2C c::x"
        );
    }
}
