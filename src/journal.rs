//! The journal (`--journal FILE`): one JSON line per tag, appended and
//! flushed as each change completes, so the record survives a crash half
//! way through. Reruns append to the same file; `prune`, `restore` and
//! `promote` can share one.
//!
//! A line says what was done (`action`: `prune`, `restore` or `promote`;
//! lines written before tagsweep recorded it are prune lines), where
//! (`registry`, `namespace`, `repository`, `tag`, `build`), to what
//! (`digest` and `media_type` of the manifest the tag pointed to — before
//! a prune, after a restore or promote), with what `result`, and for a
//! change that replaced a tag, what it pointed to before
//! (`previous_digest`: a digest, or `null` when the tag did not exist;
//! `previous_media_type`). That is everything `restore` needs to put a tag
//! back: [`read`] gives the lines back, older ones (without `action`,
//! `media_type`) included.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// What became of one planned tag in a prune. Serialized as `deleted`,
/// `already_gone`, `skipped` or `failed` in the journal and the JSON plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionResult {
    /// The registry removed the tag.
    Deleted,
    /// It was gone already (404): a rerun, or someone else removed it.
    AlreadyGone,
    /// Not attempted: the re-check found the build changed, or the run
    /// stopped on a permission error or a registry answer that contradicts
    /// itself.
    Skipped,
    /// The registry refused or failed; `detail` says how.
    Failed,
}

/// The command that wrote a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `tagsweep prune` removed (or tried to remove) the tag. Lines without
    /// an `action` (journals written before it was recorded) are prunes.
    #[default]
    Prune,
    /// `tagsweep restore` put the tag back (or could not).
    Restore,
    /// `tagsweep promote` pointed the tag at a build's manifest.
    Promote,
}

/// What became of one tag in a restore or a promote (the journal's
/// `result`; a prune's are [`DeletionResult`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeResult {
    /// The tag now points at `digest` (restore: put back; promote: moved).
    Done,
    /// The tag already pointed at `digest`: nothing to do (a rerun).
    Unchanged,
    /// The tag exists at another digest and was left alone (no `--force`),
    /// or someone moved it since.
    LeftAlone,
    /// The registry no longer has the manifest `digest`: it cannot be put
    /// back; the image must be rebuilt.
    Unavailable,
    /// Not attempted (the run stopped on a permission error).
    Skipped,
    /// The registry refused or failed; `detail` says how.
    Failed,
}

/// What a line's `result` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Recorded {
    Deletion(DeletionResult),
    Change(ChangeResult),
}

/// One line of the journal, as written.
#[derive(Debug, Clone, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub action: Action,
    pub registry: &'a str,
    pub namespace: &'a str,
    pub repository: &'a str,
    pub tag: &'a str,
    pub build: &'a str,
    /// The manifest the tag pointed to before a prune, or points to after a
    /// restore or promote.
    pub digest: Option<&'a str>,
    /// Its media type, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<&'a str>,
    /// For a change that may have replaced a tag (restore, promote): what
    /// it pointed to before — `Some(None)` when it did not exist, written
    /// `null`; left out of prune lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_media_type: Option<&'a str>,
    pub result: Recorded,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

/// An open journal.
pub struct Journal {
    file: File,
}

impl Journal {
    /// Opens `path` for appending (creating it).
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal { file })
    }

    /// Appends one entry and pushes it to disk before returning.
    pub fn record(&mut self, entry: &Entry<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).expect("entries serialize");
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// `2026-11-20T12:00:00.123Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One line of a journal, as read back: every field a line of any version
/// may lack is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Line {
    /// 1-based line number in the file.
    #[serde(skip)]
    pub number: usize,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub action: Action,
    pub registry: String,
    pub namespace: String,
    pub repository: String,
    pub tag: String,
    #[serde(default)]
    pub build: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    /// Absent from journals written before tagsweep recorded it: then the
    /// registry's own answer is used.
    #[serde(default)]
    pub media_type: Option<String>,
    /// `None`: the line does not say; `Some(None)`: the tag did not exist.
    #[serde(default, deserialize_with = "present")]
    pub previous_digest: Option<Option<String>>,
    #[serde(default)]
    pub previous_media_type: Option<String>,
    /// `deleted`, `already_gone`, `done`, … (kept as written, so that a
    /// result a later version adds does not make a journal unreadable).
    pub result: String,
    #[serde(default)]
    pub detail: Option<String>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A journal that cannot be read: which line, and why.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not a journal line: {message}")]
    Line {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Every line of the journal at `path`, in order; blank lines are skipped.
///
/// Errors: the file cannot be read, or a line is not a journal line (not
/// JSON, or lacking `registry`, `namespace`, `repository`, `tag` or
/// `result`), with its `path:line:column`.
pub fn read(path: &Path) -> Result<Vec<Line>, ReadError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut lines = Vec::new();
    for (index, text) in BufReader::new(file).lines().enumerate() {
        let text = text.map_err(|source| ReadError::Io {
            path: shown.clone(),
            source,
        })?;
        if let Some(line) =
            parse_line(&text, index + 1).map_err(|(column, message)| ReadError::Line {
                path: shown.clone(),
                line: index + 1,
                column,
                message,
            })?
        {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// One line of text: `None` when blank; an error is (column, message).
fn parse_line(text: &str, number: usize) -> Result<Option<Line>, (usize, String)> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut line: Line = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        // The position is given as path:line:column already.
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_string(),
            None => message,
        };
        (e.column().max(1), message)
    })?;
    line.number = number;
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_with_what_restore_needs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.record(&Entry {
            time: timestamp(Utc::now()),
            action: Action::Prune,
            registry: "docker.io",
            namespace: "linaro",
            repository: "base",
            tag: "rocky-1",
            build: "rocky-1",
            digest: Some("sha256:aa"),
            media_type: Some("application/vnd.oci.image.index.v1+json"),
            previous_digest: None,
            previous_media_type: None,
            result: Recorded::Deletion(DeletionResult::Deleted),
            detail: None,
        })
        .unwrap();
        j.record(&Entry {
            time: timestamp(Utc::now()),
            action: Action::Promote,
            registry: "docker.io",
            namespace: "linaro",
            repository: "base",
            tag: "latest",
            build: "rocky-2",
            digest: Some("sha256:bb"),
            media_type: None,
            previous_digest: Some(None),
            previous_media_type: None,
            result: Recorded::Change(ChangeResult::Done),
            detail: None,
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""result":"deleted""#), "{text}");
        assert!(text.contains(r#""previous_digest":null"#), "{text}");
        let lines = read(&path).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].action, Action::Prune);
        assert_eq!(
            lines[0].media_type.as_deref(),
            Some("application/vnd.oci.image.index.v1+json")
        );
        assert_eq!(lines[0].previous_digest, None, "a prune line does not say");
        assert_eq!(lines[1].action, Action::Promote);
        assert_eq!(lines[1].previous_digest, Some(None), "did not exist");
        assert_eq!(lines[1].result, "done");
        assert_eq!(lines[1].number, 2);
    }

    #[test]
    fn older_journal_lines_are_prunes_without_a_media_type() {
        let old = r#"{"time":"2026-11-20T12:00:00.000Z","registry":"https://r.example","namespace":"kolla","repository":"base","tag":"rocky-1","build":"rocky-1","digest":"sha256:aa","result":"deleted"}"#;
        let line = parse_line(old, 1).unwrap().unwrap();
        assert_eq!(line.action, Action::Prune);
        assert_eq!(line.media_type, None);
        assert_eq!(line.digest.as_deref(), Some("sha256:aa"));
        assert_eq!(parse_line("   ", 2).unwrap(), None);
    }

    #[test]
    fn a_damaged_line_is_named_by_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(
            &path,
            "{\"registry\":\"docker.io\",\"namespace\":\"n\",\"repository\":\"r\",\"tag\":\"t\",\"result\":\"deleted\"}\n{\"registry\": 3}\n",
        )
        .unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("j.jsonl:2:"), "{e}");
        assert!(e.contains("not a journal line"), "{e}");
    }
}
