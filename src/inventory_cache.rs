//! The inventory an audit read, kept between runs, so that the next one
//! reads only what changed (see [`crate::incremental`] for how it is used,
//! and why it is sound).
//!
//! One file per registry API and namespace, in the cache directory
//! ([`crate::cache_dir`], or `--cache-dir`):
//! `<cache dir>/inventory/<registry>--<namespace>.json`:
//!
//! ```json
//! {"format":1,"registry":"https://hub.docker.com/","namespace":"linaro",
//!  "written_at":"2026-11-30T12:00:05Z",
//!  "repositories":{"debian-source-base":{
//!     "listed_at":"2026-11-30T12:00:00Z","last_updated":"2026-11-30T09:12:44.1Z",
//!     "count":601,"newest":"rocky-601","tags":[{"name":"rocky-601","digest":"sha256:…","pushed":"…"}]}}}
//! ```
//!
//! Per repository: `listed_at`, when the run that last read (or checked)
//! it began listing; `last_updated`, the repository's own, as the
//! repository listing gave it then; `count`, its number of tags; `newest`,
//! the tag pushed last (`null` when two share that time); and every tag as
//! the snapshot format writes it.
//!
//! It is only a cache, and never trusted in part: a file that is
//! unreadable, truncated, for another registry or namespace, written by
//! another format (older or newer), or inconsistent (a count that is not
//! its tags', a `newest` that is not one of them, the file written later than
//! now; a tag pushed later than now is no reason: the registry's clock may
//! run ahead of ours, and such a tag is read again anyway) is
//! ignored whole with a note, and replaced by the next save. Saving writes
//! a temporary file beside it and renames it over the old one: a crash or
//! a concurrent run never leaves half a file (the last run to finish wins).
//! Nothing deletes on its word: prune re-reads each build from the registry
//! before deleting it.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, Tag};

/// The folder inside the cache directory.
pub const DIR: &str = "inventory";

/// The format this version writes and reads.
pub const FORMAT: u32 = 1;

/// A cache file larger than this is not ours (a million tags take about
/// 150 MB).
const MAX_BYTES: u64 = 1 << 30;

/// How far ahead of this machine's clock a recorded time may be before the
/// file is taken for one written under another clock.
const CLOCK_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What the cache knows of one repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedRepo {
    /// When the run that read (or checked) these tags began listing.
    pub listed_at: DateTime<Utc>,
    /// The repository's `last_updated` as the repository listing gave it then.
    pub last_updated: Option<DateTime<Utc>>,
    /// When the run that last listed every tag of it began listing (`None`:
    /// not known, as in files written before tagsweep recorded it): see
    /// [`crate::incremental::FULL_EVERY`].
    #[serde(default)]
    pub verified_at: Option<DateTime<Utc>>,
    /// How many tags it had (`tags.len()`).
    pub count: u64,
    /// The tag pushed last, when one alone was.
    pub newest: Option<String>,
    pub tags: Vec<Tag>,
}

impl CachedRepo {
    /// The entry for `tags`, read in a run that began listing at
    /// `listed_at`, of a repository whose `last_updated` was that.
    pub fn new(
        listed_at: DateTime<Utc>,
        last_updated: Option<DateTime<Utc>>,
        tags: Vec<Tag>,
    ) -> Self {
        CachedRepo {
            listed_at,
            last_updated,
            verified_at: Some(listed_at),
            count: tags.len() as u64,
            newest: newest(&tags).map(|t| t.name.to_string()),
            tags,
        }
    }

    /// The tag pushed last, when one alone was (see [`newest`]).
    pub fn newest_tag(&self) -> Option<&Tag> {
        let name = self.newest.as_deref()?;
        self.tags.iter().find(|t| t.name == name)
    }
}

/// The tag pushed last, when one alone was: `None` without push times, or
/// when two tags share the newest time (which of them a registry lists
/// first is not known).
pub fn newest(tags: &[Tag]) -> Option<&Tag> {
    let top = tags.iter().filter_map(|t| t.pushed).max()?;
    let mut at_top = tags.iter().filter(|t| t.pushed == Some(top));
    let first = at_top.next()?;
    at_top.next().is_none().then_some(first)
}

/// The file as read (its `format` is checked before).
#[derive(Deserialize)]
struct FileIn {
    registry: String,
    namespace: String,
    written_at: DateTime<Utc>,
    repositories: BTreeMap<String, CachedRepo>,
}

/// The file as written (borrowing the inventory's tags).
#[derive(Serialize)]
struct FileOut<'a> {
    format: u32,
    registry: &'a str,
    namespace: &'a str,
    written_at: DateTime<Utc>,
    repositories: BTreeMap<&'a str, RepoOut<'a>>,
}

#[derive(Serialize)]
struct RepoOut<'a> {
    listed_at: DateTime<Utc>,
    last_updated: Option<DateTime<Utc>>,
    verified_at: Option<DateTime<Utc>>,
    count: u64,
    newest: Option<&'a str>,
    tags: &'a [Tag],
}

/// How one repository was read this run, for the next save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// When this run began listing.
    pub listed_at: DateTime<Utc>,
    /// The repository's `last_updated`, as the repository listing gave it.
    pub last_updated: Option<DateTime<Utc>>,
    /// When a run that listed every tag of it began listing (this one, or
    /// an earlier one whose listing the cache carried over).
    pub verified_at: Option<DateTime<Utc>>,
}

/// The inventory cache of one registry API and namespace.
#[derive(Debug)]
pub struct InventoryCache {
    path: PathBuf,
    registry: String,
    namespace: String,
    /// Entries still held (not yet taken by the listing).
    entries: BTreeMap<String, CachedRepo>,
    /// When the file was written, if one was read.
    written_at: Option<DateTime<Utc>>,
}

impl InventoryCache {
    /// The file of `registry` (the API's URL) and `namespace` under `dir`
    /// (tagsweep's cache directory).
    pub fn path_in(dir: &Path, registry: &str, namespace: &str) -> PathBuf {
        dir.join(DIR)
            .join(crate::observations::file_name(registry, namespace))
    }

    /// The cache kept at `path` for `registry` and `namespace`, as of
    /// `now`. A missing file is an empty cache; a file that cannot be used
    /// is an empty cache too, and the note says why (for the user).
    pub fn open(
        path: PathBuf,
        registry: &str,
        namespace: &str,
        now: DateTime<Utc>,
    ) -> (Self, Option<String>) {
        let mut cache = InventoryCache {
            path,
            registry: registry.to_string(),
            namespace: namespace.to_string(),
            entries: BTreeMap::new(),
            written_at: None,
        };
        let note = match read(&cache.path, registry, namespace, now) {
            Ok(None) => None,
            Ok(Some(file)) => {
                cache.entries = file.repositories;
                cache.written_at = Some(file.written_at);
                None
            }
            Err(why) => Some(format!(
                "ignoring the inventory cache {}: {why}; every repository is listed in full, and the file replaced",
                cache.path.display()
            )),
        };
        (cache, note)
    }

    /// Where it is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When the file read was written; `None` when there was none (or it
    /// was ignored).
    pub fn written_at(&self) -> Option<DateTime<Utc>> {
        self.written_at
    }

    /// Repositories known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes `repo`'s entry out (the listing owns it from then on).
    pub fn take(&mut self, repo: &str) -> Option<CachedRepo> {
        self.entries.remove(repo)
    }

    /// Writes the file: the repositories `read` this run, with their tags
    /// from `inventory` (a repository it no longer holds is dropped), and
    /// every entry not taken (repositories this run did not list, kept for
    /// the runs that do). Atomic (a temporary file, synced, renamed over the
    /// old one); creates the directory. An error here should be reported,
    /// not fail the command.
    pub fn save(
        &self,
        inventory: &Inventory,
        read: &BTreeMap<String, Read>,
        now: DateTime<Utc>,
    ) -> std::io::Result<()> {
        let mut repositories: BTreeMap<&str, RepoOut<'_>> = self
            .entries
            .iter()
            .filter(|(name, _)| !read.contains_key(name.as_str()))
            .map(|(name, e)| {
                (
                    name.as_str(),
                    RepoOut {
                        listed_at: e.listed_at,
                        last_updated: e.last_updated,
                        verified_at: e.verified_at,
                        count: e.count,
                        newest: e.newest.as_deref(),
                        tags: &e.tags,
                    },
                )
            })
            .collect();
        for (name, how) in read {
            let Some(tags) = inventory.tags(name) else {
                continue;
            };
            let Some(repo) = inventory.repositories.get(name) else {
                continue;
            };
            if repo.unconfirmed {
                continue;
            }
            repositories.insert(
                name,
                RepoOut {
                    listed_at: how.listed_at,
                    last_updated: how.last_updated,
                    verified_at: how.verified_at,
                    count: tags.len() as u64,
                    newest: newest(tags).map(|t| t.name.as_str()),
                    tags,
                },
            );
        }
        let file = FileOut {
            format: FORMAT,
            registry: &self.registry,
            namespace: &self.namespace,
            written_at: now,
            repositories,
        };
        write_atomically(&self.path, |out| {
            serde_json::to_writer(&mut *out, &file)?;
            out.write_all(b"\n")
        })
    }
}

/// Writes `path` through a temporary file beside it, synced, then renamed.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "inventory.json".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.{}-{nanos}.tmp", std::process::id()));
    let written = (|| {
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        // Private repositories' names and tags: for this user's eyes only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut out = std::io::BufWriter::new(open.open(&tmp)?);
        write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Reads and checks a cache file; `Ok(None)` when there is none. The error
/// says why the file cannot be used.
fn read(
    path: &Path,
    registry: &str,
    namespace: &str,
    now: DateTime<Utc>,
) -> Result<Option<FileIn>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it ({e})")),
    };
    if !meta.is_file() {
        return Err("not a file".into());
    }
    if meta.len() > MAX_BYTES {
        return Err(format!(
            "{} bytes is larger than an inventory cache can be",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it ({e})"))?;
    parse(&bytes, registry, namespace, now).map(Some)
}

/// Checks a cache file's content (see the module documentation).
fn parse(
    bytes: &[u8],
    registry: &str,
    namespace: &str,
    now: DateTime<Utc>,
) -> Result<FileIn, String> {
    /// The format alone, read before the rest (which is read into its
    /// types directly: a whole document of values would take several
    /// times the memory).
    #[derive(Deserialize)]
    struct Format {
        format: Option<serde_json::Value>,
    }
    let probe: Format = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let format = probe
        .format
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .ok_or("not a tagsweep inventory cache (no \"format\")")?;
    if format > u64::from(FORMAT) {
        return Err(format!(
            "written by a newer tagsweep (format {format}; this one reads format {FORMAT})"
        ));
    }
    if format != u64::from(FORMAT) {
        return Err(format!(
            "written in an older format ({format}; this one reads format {FORMAT})"
        ));
    }
    let file: FileIn = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a tagsweep inventory cache ({e})"))?;
    if file.registry != registry || file.namespace != namespace {
        return Err(format!(
            "it is the cache of namespace {:?} on {}, not of {namespace:?} on {registry}",
            file.namespace, file.registry
        ));
    }
    let latest = now + CLOCK_TOLERANCE;
    if file.written_at > latest {
        return Err(format!(
            "written at {}, later than now: the clock changed since",
            file.written_at.to_rfc3339()
        ));
    }
    for (name, repo) in &file.repositories {
        if repo.count != repo.tags.len() as u64 {
            return Err(format!(
                "{name}: {} tags where it counts {}",
                repo.tags.len(),
                repo.count
            ));
        }
        if repo.listed_at > file.written_at {
            return Err(format!("{name}: listed after the file was written"));
        }
        if repo.verified_at.is_some_and(|v| v > repo.listed_at) {
            return Err(format!("{name}: listed in full after it was last listed"));
        }
        let mut names = HashSet::new();
        for tag in &repo.tags {
            if tag.name.is_empty() || !names.insert(tag.name.as_str()) {
                return Err(format!("{name}: tag {:?} is empty or twice", tag.name));
            }
        }
        if repo.newest.as_deref() != newest(&repo.tags).map(|t| t.name.as_str()) {
            return Err(format!("{name}: \"newest\" is not its newest tag"));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Repository;

    const HUB: &str = "https://hub.docker.com/";

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn tag(name: &str, pushed: &str) -> Tag {
        Tag {
            digest: Some(format!("sha256:{}", "a".repeat(64))),
            pushed: Some(at(pushed)),
            ..Tag::new(name)
        }
    }

    fn inventory() -> Inventory {
        let mut inv = Inventory::new("docker.io", "linaro");
        inv.repositories.insert(
            "base".into(),
            Repository {
                tags: Some(vec![
                    tag("rocky-2", "2026-11-20T10:00:00Z"),
                    tag("rocky-1", "2026-11-19T10:00:00Z"),
                ]),
                ..Repository::default()
            },
        );
        inv
    }

    fn read_map(names: &[&str]) -> BTreeMap<String, Read> {
        names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    Read {
                        listed_at: at("2026-11-30T12:00:00Z"),
                        verified_at: Some(at("2026-11-30T12:00:00Z")),
                        last_updated: Some(at("2026-11-20T10:00:00Z")),
                    },
                )
            })
            .collect()
    }

    const NOW: &str = "2026-11-30T12:01:00Z";

    #[test]
    fn round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = InventoryCache::path_in(dir.path(), HUB, "linaro");
        let (cache, note) = InventoryCache::open(path.clone(), HUB, "linaro", at(NOW));
        assert_eq!(note, None, "no file: an empty cache, silently");
        assert!(cache.is_empty() && cache.written_at().is_none());
        cache
            .save(&inventory(), &read_map(&["base", "gone"]), at(NOW))
            .unwrap();

        let (mut again, note) = InventoryCache::open(path.clone(), HUB, "linaro", at(NOW));
        assert_eq!(note, None);
        assert_eq!(again.written_at(), Some(at(NOW)));
        assert_eq!(
            again.len(),
            1,
            "a repository the inventory does not hold is dropped"
        );
        let base = again.take("base").unwrap();
        assert_eq!(base.count, 2);
        assert_eq!(base.newest.as_deref(), Some("rocky-2"));
        assert_eq!(base.newest_tag().unwrap().name, "rocky-2");
        assert_eq!(base.tags, inventory().tags("base").unwrap());
        assert_eq!(base.listed_at, at("2026-11-30T12:00:00Z"));
        assert!(again.take("base").is_none(), "taken once");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn entries_this_run_did_not_read_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = InventoryCache::path_in(dir.path(), HUB, "linaro");
        let (cache, _) = InventoryCache::open(path.clone(), HUB, "linaro", at(NOW));
        cache
            .save(&inventory(), &read_map(&["base"]), at(NOW))
            .unwrap();
        // A run of another set in the namespace reads "other" only.
        let (cache, _) = InventoryCache::open(path.clone(), HUB, "linaro", at(NOW));
        let mut inv = Inventory::new("docker.io", "linaro");
        inv.repositories.insert(
            "other".into(),
            Repository {
                tags: Some(vec![tag("v1", "2026-11-01T00:00:00Z")]),
                ..Repository::default()
            },
        );
        cache.save(&inv, &read_map(&["other"]), at(NOW)).unwrap();
        let (mut both, _) = InventoryCache::open(path, HUB, "linaro", at(NOW));
        assert_eq!(both.len(), 2);
        assert_eq!(both.take("base").unwrap().count, 2);
    }

    #[test]
    fn the_newest_tag_is_named_only_when_one_alone_is() {
        let tags = [
            tag("a", "2026-11-20T10:00:00Z"),
            tag("b", "2026-11-19T10:00:00Z"),
        ];
        assert_eq!(newest(&tags).unwrap().name, "a");
        let tied = [
            tag("a", "2026-11-20T10:00:00Z"),
            tag("b", "2026-11-20T10:00:00Z"),
        ];
        assert!(newest(&tied).is_none(), "which comes first is not known");
        assert!(newest(&[Tag::new("old")]).is_none(), "no push time");
        assert!(newest(&[]).is_none());
    }

    #[test]
    fn a_bad_file_is_ignored_whole_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let good = InventoryCache::path_in(dir.path(), HUB, "linaro");
        let (cache, _) = InventoryCache::open(good.clone(), HUB, "linaro", at(NOW));
        cache
            .save(&inventory(), &read_map(&["base"]), at(NOW))
            .unwrap();
        let text = std::fs::read_to_string(&good).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut d = doc.clone();
            f(&mut d);
            d.to_string()
        };
        let cases: Vec<(&str, String, &str)> = vec![
            ("truncated", text[..text.len() / 2].to_string(), "not JSON"),
            ("garbage", "\u{0}\u{1}".into(), "not JSON"),
            ("foreign", r#"{"name":"x"}"#.into(), "no \"format\""),
            (
                "platform cache",
                r#"{"format":1,"platforms":{}}"#.into(),
                "not a tagsweep inventory cache",
            ),
            ("older", with(&|d| d["format"] = 0.into()), "older format"),
            ("newer", with(&|d| d["format"] = 2.into()), "newer tagsweep"),
            (
                "another namespace",
                with(&|d| d["namespace"] = "kolla".into()),
                "cache of namespace \"kolla\"",
            ),
            (
                "another registry",
                with(&|d| d["registry"] = "http://127.0.0.1:5000/".into()),
                "on http://127.0.0.1:5000/",
            ),
            (
                "count",
                with(&|d| d["repositories"]["base"]["count"] = 3.into()),
                "where it counts 3",
            ),
            (
                "newest",
                with(&|d| d["repositories"]["base"]["newest"] = "rocky-1".into()),
                "not its newest tag",
            ),
            (
                "twice",
                with(&|d| d["repositories"]["base"]["tags"][1]["name"] = "rocky-2".into()),
                "twice",
            ),
            (
                "future",
                with(&|d| d["written_at"] = "2027-01-01T00:00:00Z".into()),
                "later than now",
            ),
            (
                "listed after written",
                with(&|d| d["repositories"]["base"]["listed_at"] = "2026-11-30T12:30:00Z".into()),
                "listed after",
            ),
            (
                "bad tag",
                with(&|d| {
                    d["repositories"]["base"]["tags"][0]["platforms"] = serde_json::json!(["linux"])
                }),
                "not a tagsweep inventory cache",
            ),
        ];
        for (what, text, why) in cases {
            let path = dir.path().join(format!("{what}.json"));
            std::fs::write(&path, &text).unwrap();
            let (mut cache, note) = InventoryCache::open(path.clone(), HUB, "linaro", at(NOW));
            let note = note.unwrap_or_else(|| panic!("{what}: no note"));
            assert!(note.contains(why), "{what}: {note}");
            assert!(note.contains(&path.display().to_string()), "{what}: {note}");
            assert!(
                cache.is_empty() && cache.take("base").is_none(),
                "{what}: nothing trusted"
            );
            // The next save replaces it.
            cache
                .save(&inventory(), &read_map(&["base"]), at(NOW))
                .unwrap();
            assert_eq!(
                InventoryCache::open(path, HUB, "linaro", at(NOW)).1,
                None,
                "{what}"
            );
        }
        let (cache, note) = InventoryCache::open(dir.path().to_path_buf(), HUB, "linaro", at(NOW));
        assert!(note.unwrap().contains("not a file"));
        assert!(cache.is_empty());

        // A registry clock ahead of ours (by ten minutes, by two hours) is
        // no reason to throw the cache away: such a tag is read again anyway.
        let ahead = dir.path().join("ahead.json");
        std::fs::write(
            &ahead,
            with(&|d| {
                d["repositories"]["base"]["tags"][0]["pushed"] = "2026-11-30T12:10:00Z".into()
            }),
        )
        .unwrap();
        let (mut cache, note) = InventoryCache::open(ahead.clone(), HUB, "linaro", at(NOW));
        assert_eq!(note, None);
        assert!(cache.take("base").is_some());
        std::fs::write(
            &ahead,
            with(&|d| {
                d["repositories"]["base"]["tags"][0]["pushed"] = "2026-11-30T14:00:00Z".into()
            }),
        )
        .unwrap();
        let (mut cache, note) = InventoryCache::open(ahead, HUB, "linaro", at(NOW));
        assert_eq!(note, None);
        assert!(cache.take("base").is_some());
    }
}
