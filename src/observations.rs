//! What tagsweep has seen of incomplete builds, kept between runs.
//!
//! A build's age is what proves nobody is still pushing it. Docker Hub
//! reports push times; OCI registries do not, and the time an image declares
//! (`created`) is the build's commit time when the build is reproducible
//! (`SOURCE_DATE_EPOCH`), days before the push. What tagsweep can observe
//! itself is whether a build *changed*: each run records, for every
//! incomplete build, a digest of what it holds (each present image and its
//! digest) and since when it has held exactly that. A build seen unchanged
//! for `builds.grace` had no push in that time, whatever its images declare
//! — that corroborates its age for `prune --broken` ([`Observations::unchanged`]).
//!
//! The record is one small JSON file per registry and namespace, in the
//! user's cache directory (`--no-cache` neither reads nor writes it) or where
//! `--state FILE` says (for CI caches). It only ever holds back a deletion:
//! a lost, corrupt, foreign or future-format file is ignored with a note and
//! the builds it would have corroborated wait one more `grace`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::prune::Unchanged;
use crate::policy::Report;

/// The file format this version writes and reads.
const FORMAT: u32 = 1;

/// A record larger than this is not ours (a few hundred builds are a few
/// tens of kilobytes).
const MAX_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct File {
    format: u32,
    registry: String,
    namespace: String,
    /// Build tag → what it held and since when.
    builds: BTreeMap<String, Seen>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Seen {
    /// `BuildReport::contents`.
    contents: String,
    /// The first run that saw the build with these contents.
    since: DateTime<Utc>,
}

/// The observations of one registry and namespace (see the module documentation).
#[derive(Debug)]
pub struct Observations {
    /// Where they are kept; `None` when nothing is kept (`--no-cache`).
    path: Option<PathBuf>,
    file: File,
    /// `false` when the file on disk belongs to another registry or
    /// namespace: it is neither trusted nor overwritten.
    writable: bool,
}

impl Observations {
    /// Nothing kept between runs: corroborates nothing, writes nothing.
    pub fn disabled() -> Self {
        Observations {
            path: None,
            file: File::default(),
            writable: false,
        }
    }

    /// Reads the observations kept at `path` for `registry` and `namespace`.
    /// A missing file is an empty record; one that cannot be used is
    /// ignored, and the second value says why (for the user, on stderr).
    pub fn open(path: PathBuf, registry: &str, namespace: &str) -> (Self, Option<String>) {
        let empty = File {
            format: FORMAT,
            registry: registry.to_string(),
            namespace: namespace.to_string(),
            builds: BTreeMap::new(),
        };
        let (file, writable, note) = match read(&path) {
            Ok(None) => (empty, true, None),
            Ok(Some(file)) if file.format != FORMAT => (
                empty,
                true,
                Some(format!(
                    "{}: observations in format {} are not the format {FORMAT} this tagsweep reads; starting afresh",
                    path.display(),
                    file.format
                )),
            ),
            Ok(Some(file)) if file.registry != registry || file.namespace != namespace => {
                let note = format!(
                    "{}: these observations are of {} on {}, not {namespace} on {registry}; ignored and left as they are",
                    path.display(),
                    file.namespace,
                    file.registry
                );
                (empty, false, Some(note))
            }
            Ok(Some(file)) => (file, true, None),
            Err(why) => (
                empty,
                true,
                Some(format!(
                    "{}: {why}; ignoring these observations and starting afresh",
                    path.display()
                )),
            ),
        };
        (
            Observations {
                path: Some(path),
                file,
                writable,
            },
            note,
        )
    }

    /// Where the observations are kept, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// For each build of `report`, since when it has held what it holds now,
    /// as far as earlier runs saw; `None` when nothing is kept between runs.
    pub fn unchanged(&self, report: &Report) -> Option<Unchanged> {
        self.path.as_ref()?;
        Some(
            report
                .builds
                .iter()
                .filter_map(|b| {
                    let seen = self.file.builds.get(&b.tag)?;
                    (seen.contents == b.contents).then(|| (b.tag.clone(), seen.since))
                })
                .collect(),
        )
    }

    /// Takes in what `report` saw: every incomplete build keeps its `since`
    /// while its contents are unchanged, and starts anew at `report.as_of`
    /// when they changed; complete builds need no record. With `all` (the
    /// report judged every build), builds no longer found are dropped.
    pub fn record(&mut self, report: &Report, all: bool) {
        let builds = &mut self.file.builds;
        if all {
            builds.retain(|tag, _| report.builds.iter().any(|b| b.tag == *tag));
        }
        for b in &report.builds {
            if !b.is_incomplete() {
                builds.remove(&b.tag);
                continue;
            }
            let unchanged = builds
                .get(&b.tag)
                .is_some_and(|seen| seen.contents == b.contents);
            if !unchanged {
                builds.insert(
                    b.tag.clone(),
                    Seen {
                        contents: b.contents.clone(),
                        since: report.as_of,
                    },
                );
            }
        }
    }

    /// Forgets what was seen of `build` (it was deleted: whatever carries
    /// its tag later is another build).
    pub fn forget(&mut self, build: &str) {
        self.file.builds.remove(build);
    }

    /// Writes the record back (a temporary file renamed over the old one, so
    /// a crash leaves the old record or the new, never half of one).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = self.path.as_deref().filter(|_| self.writable) else {
            return Ok(());
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = serde_json::to_string_pretty(&self.file).map_err(std::io::Error::other)?;
        text.push('\n');
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }
}

/// The record at `path`: `None` when there is none.
fn read(path: &Path) -> Result<Option<File>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it ({e})")),
    };
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return Err("not a tagsweep observations file".into());
    }
    let text = std::fs::read(path).map_err(|e| format!("cannot read it ({e})"))?;
    serde_json::from_slice(&text).map_err(|e| format!("not a tagsweep observations file ({e})"))
}

/// The file name for one registry and namespace inside a directory: both
/// names with every character outside `[A-Za-z0-9._-]` replaced by `_`.
pub fn file_name(registry: &str, namespace: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}--{}.json", clean(registry), clean(namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::audit::{AgeSource, BuildReport, Status, Summary};

    fn at(hour: u32) -> DateTime<Utc> {
        format!("2026-11-20T{hour:02}:00:00Z").parse().unwrap()
    }

    fn build(tag: &str, contents: &str, missing: &[&str]) -> BuildReport {
        BuildReport {
            tag: tag.into(),
            status: if missing.is_empty() {
                Status::Complete
            } else {
                Status::Broken
            },
            expected: 2,
            present: 2 - missing.len(),
            missing: missing.iter().map(|m| m.to_string()).collect(),
            not_expected: vec![],
            missing_platforms: BTreeMap::new(),
            unverified_platforms: BTreeMap::new(),
            newest_push: None,
            age: AgeSource::Declared,
            contents: contents.into(),
            retention: None,
        }
    }

    fn report(as_of: DateTime<Utc>, builds: Vec<BuildReport>) -> Report {
        Report {
            registry: "http://127.0.0.1:5000".into(),
            namespace: "acme".into(),
            as_of,
            builds,
            summary: Summary::default(),
            unexpected_repositories: vec![],
            missing_repositories: vec![],
            unverified_repositories: vec![],
            late_images: vec![],
            retired_images: vec![],
            retention: None,
            image_stats: vec![],
        }
    }

    #[test]
    fn unchanged_builds_keep_the_time_they_were_first_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("obs.json");
        let (mut obs, note) = Observations::open(path.clone(), "http://127.0.0.1:5000", "acme");
        assert_eq!(note, None);
        let first = report(
            at(1),
            vec![build("r-1", "aaa", &["x"]), build("r-2", "bbb", &[])],
        );
        obs.record(&first, true);
        obs.save().unwrap();

        let (mut obs, _) = Observations::open(path.clone(), "http://127.0.0.1:5000", "acme");
        // r-1 unchanged at 04:00: seen so since 01:00. r-3 is new.
        let second = report(
            at(4),
            vec![build("r-1", "aaa", &["x"]), build("r-3", "ccc", &["x"])],
        );
        let unchanged = obs.unchanged(&second).unwrap();
        assert_eq!(unchanged.get("r-1"), Some(&at(1)));
        assert_eq!(unchanged.get("r-3"), None);
        obs.record(&second, true);
        obs.save().unwrap();

        // r-1 changed at 05:00 (a push): its time starts again.
        let (mut obs, _) = Observations::open(path.clone(), "http://127.0.0.1:5000", "acme");
        let third = report(at(5), vec![build("r-1", "ddd", &["x"])]);
        assert_eq!(obs.unchanged(&third).unwrap().get("r-1"), None);
        obs.record(&third, true);
        assert_eq!(obs.file.builds["r-1"].since, at(5));
        assert!(
            !obs.file.builds.contains_key("r-3"),
            "gone builds are dropped"
        );
    }

    #[test]
    fn unusable_files_are_ignored_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("obs.json");
        std::fs::write(&path, "{ not json").unwrap();
        let (obs, note) = Observations::open(path.clone(), "docker.io", "acme");
        assert!(note.unwrap().contains("not a tagsweep observations file"));
        assert_eq!(
            obs.unchanged(&report(at(1), vec![])),
            Some(Unchanged::new())
        );

        std::fs::write(
            &path,
            r#"{"format":99,"registry":"docker.io","namespace":"acme","builds":{}}"#,
        )
        .unwrap();
        let (_, note) = Observations::open(path.clone(), "docker.io", "acme");
        assert!(note.unwrap().contains("format 99"));

        // Another namespace's record is neither trusted nor overwritten.
        let foreign = r#"{"format":1,"registry":"docker.io","namespace":"other","builds":{"r-1":{"contents":"aaa","since":"2026-11-20T01:00:00Z"}}}"#;
        std::fs::write(&path, foreign).unwrap();
        let (mut obs, note) = Observations::open(path.clone(), "docker.io", "acme");
        assert!(note.unwrap().contains("not acme on docker.io"));
        let r = report(at(9), vec![build("r-1", "aaa", &["x"])]);
        assert_eq!(obs.unchanged(&r).unwrap().get("r-1"), None);
        obs.record(&r, true);
        obs.save().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), foreign);
    }

    #[test]
    fn disabled_keeps_nothing() {
        let mut obs = Observations::disabled();
        let r = report(at(1), vec![build("r-1", "aaa", &["x"])]);
        obs.record(&r, true);
        obs.save().unwrap();
        assert_eq!(obs.unchanged(&r), None);
        assert_eq!(obs.path(), None);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            file_name("http://127.0.0.1:5000", "acme/team"),
            "http___127.0.0.1_5000--acme_team.json"
        );
    }
}
