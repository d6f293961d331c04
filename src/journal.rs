//! The deletion journal (`--journal FILE`): one JSON line per tag, appended
//! and flushed as each deletion completes, so the record survives a crash
//! half way through a prune. Reruns append to the same file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What became of one planned tag. Serialized as `deleted`,
/// `already_gone`, `skipped` or `failed` in the journal and the JSON plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionResult {
    /// The registry removed the tag.
    Deleted,
    /// It was gone already (404): a rerun, or someone else removed it.
    AlreadyGone,
    /// Not attempted: the re-check found the build changed, or the run
    /// stopped on a permission error.
    Skipped,
    /// The registry refused or failed; `detail` says how.
    Failed,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub registry: &'a str,
    pub namespace: &'a str,
    pub repository: &'a str,
    pub tag: &'a str,
    pub build: &'a str,
    pub digest: Option<&'a str>,
    pub result: DeletionResult,
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
