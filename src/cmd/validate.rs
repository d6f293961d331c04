//! `tagsweep validate`: check manifests offline, reporting every problem.

use anyhow::Result;

use super::Outcome;
use crate::cli::{ValidateArgs, ValidateFormat};
use crate::manifest::{self, Location, ManifestError, Problem};
use crate::output;
use crate::render::github;

/// Exit 0 when every manifest is valid, 1 when any has problems; a file that
/// cannot be read at all is an error (exit 2) once the others are checked.
/// Warnings (valid, but probably not meant) are printed and change no exit
/// code.
pub fn run(args: ValidateArgs) -> Result<Outcome> {
    let mut outcome = Outcome::Clean;
    let mut unreadable = Vec::new();
    for path in args.manifests.iter().chain(&args.files) {
        match manifest::load(path) {
            Ok(m) => {
                for w in &m.warnings {
                    output::println(format_problem(w, Level::Warning, args.format))?;
                }
                if args.format == ValidateFormat::Text {
                    let warnings = match m.warnings.len() {
                        0 => String::new(),
                        1 => ", 1 warning".to_string(),
                        n => format!(", {n} warnings"),
                    };
                    output::println(format!(
                        "{}: valid ({} images{warnings})",
                        path.display(),
                        m.images.len()
                    ))?;
                }
            }
            Err(ManifestError::Invalid { problems }) => {
                outcome = Outcome::Findings;
                for p in &problems {
                    output::println(format_problem(p, Level::Error, args.format))?;
                }
            }
            Err(e @ ManifestError::Read { .. }) => unreadable.push(e.to_string()),
            Err(other) => {
                outcome = Outcome::Findings;
                let p = Problem {
                    file: path.display().to_string(),
                    line: 1,
                    column: 1,
                    message: other.to_string(),
                };
                output::println(format_problem(&p, Level::Error, args.format))?;
            }
        }
    }
    if !unreadable.is_empty() {
        anyhow::bail!("{}", unreadable.join("\n"));
    }
    Ok(outcome)
}

/// How serious a printed problem is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The manifest is invalid.
    Error,
    /// Valid, but probably not what was meant.
    Warning,
}

fn format_problem(p: &Problem, level: Level, format: ValidateFormat) -> String {
    match (format, level) {
        (ValidateFormat::Text, Level::Error) => p.to_string(),
        (ValidateFormat::Text, Level::Warning) => p.as_warning(),
        (ValidateFormat::Github, _) => github_problem(
            p,
            match level {
                Level::Error => github::Level::Error,
                Level::Warning => github::Level::Warning,
            },
        ),
    }
}

/// A manifest problem as a GitHub annotation on its line.
pub(crate) fn github_problem(p: &Problem, level: github::Level) -> String {
    let at = Location {
        line: p.line,
        column: p.column,
    };
    github::annotation(level, &p.file, Some(at), None, &p.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_annotations_are_escaped() {
        let p = Problem {
            file: "manifests/a,b.yaml".into(),
            line: 3,
            column: 5,
            message: "bad regex: 50% wrong\nsecond line".into(),
        };
        assert_eq!(
            format_problem(&p, Level::Error, ValidateFormat::Github),
            "::error file=manifests/a%2Cb.yaml,line=3,col=5::bad regex: 50%25 wrong%0Asecond line"
        );
        assert_eq!(
            format_problem(&p, Level::Error, ValidateFormat::Text),
            p.to_string()
        );
        assert_eq!(
            format_problem(&p, Level::Warning, ValidateFormat::Github),
            "::warning file=manifests/a%2Cb.yaml,line=3,col=5::bad regex: 50%25 wrong%0Asecond line"
        );
        assert_eq!(
            format_problem(&p, Level::Warning, ValidateFormat::Text),
            "manifests/a,b.yaml:3:5: warning: bad regex: 50% wrong\nsecond line"
        );
    }
}
