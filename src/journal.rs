//! The journal (`--journal FILE`): JSON lines, appended and flushed to disk
//! one by one, so the record survives a crash half way through. Reruns
//! append to the same file; `prune`, `restore` and `promote` can share one.
//!
//! Each change to a tag is written twice: an **intent** line (`"result":
//! "intent"`) on disk *before* the first request that may change the
//! registry, then the line with its result once it is known. An intent
//! without a result after it is a change that may or may not have happened
//! (the run was killed, or the machine stopped, in between): `restore`
//! treats it so (see `policy::restore`). Every line names the run that
//! wrote it (`run`: the process and when it opened the journal), so that a
//! result is paired only with its own run's intent, never with an earlier
//! run's that was cut off. Journals written before tagsweep
//! wrote intents have result lines only, and read as they always did; an
//! older tagsweep reading a newer journal ignores intent lines, as it
//! ignores every result it does not restore.
//!
//! A line cut short by a crash while it was written (its JSON ends early)
//! is skipped with a warning naming `file:line`, not an error: the change
//! it was about is covered by the intent line written before it. Appending
//! to a file whose last line was cut short starts with a newline, so the
//! new lines stay whole. Any other line that is not a journal line is an
//! error.
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
use std::io::Write;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Deletion(DeletionResult),
    Change(ChangeResult),
    /// `intent`: the change is about to be made; its result follows on
    /// another line (see the module documentation).
    Intent,
}

/// The `result` of an intent line.
pub const INTENT: &str = "intent";

impl Serialize for Recorded {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Recorded::Deletion(d) => d.serialize(s),
            Recorded::Change(c) => c.serialize(s),
            Recorded::Intent => s.serialize_str(INTENT),
        }
    }
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
    /// restore or promote (for an intent: will point to).
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
    /// What names this run on each line it writes.
    run: String,
}

/// An entry as written: with the run that wrote it.
#[derive(Serialize)]
struct Stamped<'e, 'a> {
    #[serde(flatten)]
    entry: &'e Entry<'a>,
    run: &'e str,
}

impl Journal {
    /// Opens `path` for appending (creating it). When the file does not end
    /// with a newline (its last line was cut short by a crash), a newline is
    /// written first, so that the next line is not glued onto the torn one.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        if !ends_with_newline(&mut file)? {
            file.write_all(b"\n")?;
            file.sync_data()?;
        }
        let run = format!(
            "{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        Ok(Journal { file, run })
    }

    /// Appends one entry and pushes it to disk before returning.
    pub fn record(&mut self, entry: &Entry<'_>) -> std::io::Result<()> {
        let stamped = Stamped {
            entry,
            run: &self.run,
        };
        let mut line = serde_json::to_vec(&stamped).expect("entries serialize");
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// Whether `file` is empty or its last byte is a newline.
fn ends_with_newline(file: &mut File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
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
    /// `deleted`, `already_gone`, `done`, `intent`, … (kept as written, so
    /// that a result a later version adds does not make a journal
    /// unreadable).
    pub result: String,
    #[serde(default)]
    pub detail: Option<String>,
    /// The run that wrote the line; absent from journals written before
    /// tagsweep recorded it.
    #[serde(default)]
    pub run: Option<String>,
}

impl Line {
    /// Whether this is an intent line: the change was about to be made.
    pub fn is_intent(&self) -> bool {
        self.result == INTENT
    }
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A journal that cannot be read: which line, and why.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be read (`error` is shown, not chained: it is said
    /// once).
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}:{line}:{column}: not a journal line: {message}")]
    Line {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// A journal as read: its lines, and what was skipped.
#[derive(Debug, Default)]
pub struct Read {
    /// Every journal line, in order.
    pub lines: Vec<Line>,
    /// `path:line: …` for each line cut short by a crash and skipped.
    pub warnings: Vec<String>,
}

/// Every line of the journal at `path`, in order; blank lines are skipped,
/// and so is a line cut short by a crash while it was written (said in
/// [`Read::warnings`]): one whose JSON ends before it is complete — the
/// last line of a file that does not end with a newline, or such a line
/// in the middle, closed by the newline a later run wrote before appending
/// (see [`Journal::open`]). A line that is complete JSON but not a journal
/// line, or not JSON at all, is an error wherever it is.
///
/// Errors: the file cannot be read, or a line is not a journal line (not
/// JSON, or lacking `registry`, `namespace`, `repository`, `tag` or
/// `result`), with its `path:line:column`.
pub fn read(path: &Path) -> Result<Read, ReadError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| ReadError::Io {
        path: shown.clone(),
        error,
    })?;
    let ends_whole = bytes.last().is_none_or(|b| *b == b'\n');
    let mut texts: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if ends_whole {
        // What follows the last newline: nothing.
        texts.pop();
    }
    let mut read = Read::default();
    for (index, raw) in texts.into_iter().enumerate() {
        let number = index + 1;
        let text = String::from_utf8_lossy(raw);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        match parse_line(text, number) {
            Ok(Some(line)) => read.lines.push(line),
            Ok(None) => {}
            Err(bad) if bad.cut_short => read.warnings.push(format!(
                "{shown}:{number}: a line cut short (the run writing it was interrupted): skipped; the change it was about, if any, is recorded by the intent line before it"
            )),
            Err(_) if std::str::from_utf8(raw).is_err() => {
                return Err(ReadError::Line {
                    path: shown,
                    line: number,
                    column: 1,
                    message: "not UTF-8 text".into(),
                })
            }
            Err(bad) => {
                return Err(ReadError::Line {
                    path: shown,
                    line: number,
                    column: bad.column,
                    message: bad.message,
                })
            }
        }
    }
    Ok(read)
}

/// Why a line is not a journal line.
#[derive(Debug)]
struct BadLine {
    column: usize,
    message: String,
    /// Its JSON ends before it is complete: a line cut short.
    cut_short: bool,
}

/// One line of text: `None` when blank.
fn parse_line(text: &str, number: usize) -> Result<Option<Line>, BadLine> {
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
        BadLine {
            column: e.column().max(1),
            message,
            cut_short: e.classify() == serde_json::error::Category::Eof,
        }
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
        let lines = read(&path).unwrap().lines;
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

    const WHOLE: &str =
        r#"{"registry":"docker.io","namespace":"n","repository":"r","tag":"t","result":"deleted"}"#;
    const TORN: &str = r#"{"registry":"docker.io","namespace":"n","repository":"r","tag":"u","res"#;

    #[test]
    fn a_line_cut_short_is_skipped_with_its_place_and_the_next_append_starts_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, format!("{WHOLE}\n{TORN}")).unwrap();
        let got = read(&path).unwrap();
        assert_eq!(got.lines.len(), 1);
        assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
        assert!(
            got.warnings[0].contains("j.jsonl:2: a line cut short"),
            "{:?}",
            got.warnings
        );

        // The next run appends: its line is whole, the torn one stays
        // (cut short, so still skipped, now in the middle).
        let mut j = Journal::open(&path).unwrap();
        j.record(&Entry {
            time: timestamp(Utc::now()),
            action: Action::Prune,
            registry: "docker.io",
            namespace: "n",
            repository: "r",
            tag: "v",
            build: "v",
            digest: Some("sha256:cc"),
            media_type: None,
            previous_digest: None,
            previous_media_type: None,
            result: Recorded::Intent,
            detail: None,
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        assert!(
            last.starts_with("{\"time\"") && text.ends_with("}\n"),
            "{text}"
        );
        assert!(last.contains("\"result\":\"intent\""), "{text}");
        let got = read(&path).unwrap();
        let tags: Vec<&str> = got.lines.iter().map(|l| l.tag.as_str()).collect();
        assert_eq!(tags, ["t", "v"]);
        assert!(got.lines[1].is_intent());
        assert_eq!(got.lines[1].number, 3);
        assert!(got.warnings[0].contains("j.jsonl:2:"), "{:?}", got.warnings);
    }

    #[test]
    fn a_damaged_line_that_is_not_cut_short_stays_an_error_even_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        // A whole line of the wrong shape, last, without a newline: it was
        // not cut short, it is wrong.
        std::fs::write(&path, format!("{WHOLE}\n{{\"registry\": 3}}")).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("j.jsonl:2:"), "{e}");
        // Garbage in the middle.
        std::fs::write(&path, format!("{WHOLE}\nnot json\n{WHOLE}\n")).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("j.jsonl:2:2: not a journal line"), "{e}");
        // Nothing to repair in a whole file: no newline is added.
        std::fs::write(&path, format!("{WHOLE}\n")).unwrap();
        drop(Journal::open(&path).unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{WHOLE}\n")
        );
    }

    #[test]
    fn a_missing_journal_says_why_once() {
        let e = read(Path::new("/nonexistent/j.jsonl")).unwrap_err();
        let chain = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(
            chain.matches("No such file or directory").count(),
            1,
            "{chain}"
        );
    }
}
