//! The platforms of manifests already read, by digest, kept between runs.
//!
//! Docker Hub no longer lists a tag's platforms (`"images": []` since
//! 2025-08, docker/hub-feedback #2484), so `--verify-platforms` reads each
//! build tag's manifest from the registry API — and every manifest GET
//! counts against Docker Hub's pull limit (notes §6, §11). A manifest named
//! by its digest never changes (the digest is the hash of its bytes), so
//! what it says is remembered here for good: each image of each build is
//! read once, ever, and a daily audit of old builds costs no pull at all.
//!
//! The file is `<cache dir>/platforms.json` (see [`crate::cache_dir`]):
//!
//! ```json
//! {"format":1,"platforms":{"sha256:…":["linux/amd64","linux/arm64"]}}
//! ```
//!
//! It is only a cache: a file that is unreadable, corrupt, someone else's
//! or written by a newer tagsweep (a higher `format`) is ignored whole —
//! never trusted in part, never a panic, never a failed audit — with a note
//! for the user, and replaced on the next save. Saving writes a temporary
//! file beside it and renames it over the old one, so a crash or a
//! concurrent run never leaves half a file; entries another run saved
//! meanwhile are kept. Only known platforms are stored: "unknown" is asked
//! again next time.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform::Platform;

/// The cache file's name inside tagsweep's cache directory.
pub const FILE_NAME: &str = "platforms.json";

/// The format version written, and the newest one read.
pub const FORMAT: u32 = 1;

/// A cache file larger than this is not ours (a million digests is ~100 MB).
const MAX_BYTES: u64 = 256 << 20;

/// Digest → platforms (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct PlatformCache {
    /// `false`: `--no-cache` (nothing is read, remembered or written).
    enabled: bool,
    /// Where it is saved; `None`: kept in memory only.
    path: Option<PathBuf>,
    entries: BTreeMap<String, Vec<Platform>>,
    /// Entries added since loading (whether [`PlatformCache::save`] has work).
    added: usize,
    /// The file could not be used: the next save replaces it.
    replace: bool,
}

/// The file as written.
#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    platforms: BTreeMap<String, Vec<String>>,
}

impl PlatformCache {
    /// An empty cache kept in memory only (for library callers and tests).
    pub fn new() -> Self {
        PlatformCache {
            enabled: true,
            ..PlatformCache::default()
        }
    }

    /// No cache at all (`--no-cache`): every look-up misses, nothing is
    /// remembered, nothing is written.
    pub fn disabled() -> Self {
        PlatformCache::default()
    }

    /// The cache saved at `path` (`<cache dir>/platforms.json`). A missing
    /// file is an empty cache. Anything wrong with the file gives an empty
    /// cache too, and a note saying why (for the user, on stderr) — never an
    /// error.
    pub fn load(path: PathBuf) -> (Self, Option<String>) {
        let (entries, note) = match read(&path) {
            Ok(entries) => (entries, None),
            Err(why) if !path.is_file() => (
                BTreeMap::new(),
                Some(format!("not using {} as the platform cache: {why}", path.display())),
            ),
            Err(why) => (
                BTreeMap::new(),
                Some(format!(
                    "ignoring the platform cache {}: {why}; it will be replaced (pass --no-cache to leave it alone)",
                    path.display()
                )),
            ),
        };
        let cache = PlatformCache {
            enabled: true,
            replace: note.is_some() && path.is_file(),
            path: Some(path),
            entries,
            added: 0,
        };
        (cache, note)
    }

    /// Whether the cache is used at all (not `--no-cache`).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Where it is saved, when it is.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The platforms remembered for the manifest `digest`.
    pub fn get(&self, digest: &str) -> Option<&[Platform]> {
        self.entries.get(digest).map(Vec::as_slice)
    }

    /// Remembers the platforms of the manifest `digest` (sorted,
    /// deduplicated). Ignored when the cache is disabled, when `digest` is
    /// not a digest (`algorithm:encoded`, as OCI defines it) or when
    /// `platforms` is empty (unknown is not remembered).
    pub fn insert(&mut self, digest: &str, platforms: &[Platform]) {
        if !self.enabled || !is_digest(digest) || platforms.is_empty() {
            return;
        }
        let mut list = platforms.to_vec();
        list.sort();
        list.dedup();
        if self.entries.get(digest) != Some(&list) {
            self.entries.insert(digest.to_string(), list);
            self.added += 1;
        }
    }

    /// Digests remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the cache to its file when something was added since it was
    /// loaded (or the file was unusable), keeping entries another run saved meanwhile (a file that
    /// cannot be read is replaced). Creates the directory. Atomic: a
    /// temporary file in the same directory, synced, then renamed over the
    /// old one. Returns whether a file was written. An error here should be
    /// reported, not fail the command: the results stand without the cache.
    pub fn save(&self) -> std::io::Result<bool> {
        let Some(path) = self.path.as_deref() else {
            return Ok(false);
        };
        if !self.enabled || (self.added == 0 && !self.replace) {
            return Ok(false);
        }
        let mut merged = read(path).unwrap_or_default();
        merged.extend(
            self.entries
                .iter()
                .map(|(digest, list)| (digest.clone(), list.clone())),
        );
        let file = CacheFile {
            format: FORMAT,
            platforms: merged
                .into_iter()
                .map(|(digest, list)| (digest, list.iter().map(ToString::to_string).collect()))
                .collect(),
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| FILE_NAME.to_string());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = dir.join(format!(".{name}.{}-{nanos}.tmp", std::process::id()));
        let written = (|| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            serde_json::to_writer(&mut out, &file)?;
            out.write_all(b"\n")?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| true)
    }
}

/// Reads and checks a cache file; a missing file is empty. The error says
/// why the file cannot be used.
fn read(path: &Path) -> Result<BTreeMap<String, Vec<Platform>>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("cannot read it ({e})")),
    };
    if !meta.is_file() {
        return Err("not a file".into());
    }
    if meta.len() > MAX_BYTES {
        return Err(format!(
            "{} bytes is larger than a platform cache can be",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it ({e})"))?;
    parse(&bytes)
}

/// Checks a cache file's content: every entry must be a digest with a
/// non-empty list of `os/arch[/variant]`, or the whole file is refused.
fn parse(bytes: &[u8]) -> Result<BTreeMap<String, Vec<Platform>>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let format = value
        .get("format")
        .and_then(serde_json::Value::as_u64)
        .ok_or("not a tagsweep platform cache (no \"format\")")?;
    if format > u64::from(FORMAT) {
        return Err(format!(
            "written by a newer tagsweep (format {format}; this one reads up to {FORMAT})"
        ));
    }
    if format != u64::from(FORMAT) {
        return Err(format!("unknown format {format}"));
    }
    let file: CacheFile = serde_json::from_value(value)
        .map_err(|e| format!("not a tagsweep platform cache ({e})"))?;
    let mut entries = BTreeMap::new();
    for (digest, names) in file.platforms {
        if !is_digest(&digest) {
            return Err(format!("{digest:?} is not a digest"));
        }
        if names.is_empty() {
            return Err(format!("{digest} has no platforms"));
        }
        let mut list = names
            .iter()
            .map(|n| {
                Platform::parse_loose(n)
                    .ok_or_else(|| format!("{digest}: {n:?} is not a platform (os/arch[/variant])"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        list.sort();
        list.dedup();
        entries.insert(digest, list);
    }
    Ok(entries)
}

/// `algorithm:encoded` as the OCI image spec defines a digest
/// (`[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`); `sha256` and `sha512`
/// must be lowercase hex of their length.
pub fn is_digest(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    let hex_len = match algorithm {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    let hex_ok = hex_len.is_none_or(|n| {
        encoded.len() == n
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    algorithm_ok && encoded_ok && hex_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[&str]) -> Vec<Platform> {
        list.iter()
            .map(|s| Platform::parse_loose(s).unwrap())
            .collect()
    }

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tagsweep").join(FILE_NAME);
        let (mut cache, note) = PlatformCache::load(path.clone());
        assert_eq!(note, None, "a missing file is an empty cache, silently");
        assert!(cache.is_empty());
        assert!(!cache.save().unwrap(), "nothing added: nothing written");
        assert!(!path.exists());

        cache.insert(&digest('a'), &p(&["linux/arm64/v8", "linux/amd64"]));
        cache.insert(&digest('b'), &p(&["linux/amd64"]));
        cache.insert("latest", &p(&["linux/amd64"]));
        cache.insert(&digest('c'), &[]);
        assert_eq!(cache.len(), 2, "no tag names, no unknowns");
        assert!(cache.save().unwrap());

        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["format"], 1);
        assert_eq!(
            doc["platforms"][digest('a')],
            serde_json::json!(["linux/amd64", "linux/arm64"])
        );
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [FILE_NAME], "no temporary file left behind");

        let (again, note) = PlatformCache::load(path.clone());
        assert_eq!(note, None);
        assert_eq!(
            again.get(&digest('a')),
            Some(p(&["linux/amd64", "linux/arm64"]).as_slice())
        );
        assert_eq!(
            again.get(&digest('b')),
            Some(p(&["linux/amd64"]).as_slice())
        );
        assert_eq!(again.get(&digest('c')), None);
    }

    #[test]
    fn a_save_keeps_what_another_run_saved_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (mut first, _) = PlatformCache::load(path.clone());
        let (mut second, _) = PlatformCache::load(path.clone());
        first.insert(&digest('a'), &p(&["linux/amd64"]));
        second.insert(&digest('b'), &p(&["linux/arm64"]));
        first.save().unwrap();
        second.save().unwrap();
        let (both, _) = PlatformCache::load(path);
        assert_eq!(both.len(), 2);
    }

    #[test]
    fn a_bad_file_is_ignored_whole_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let good = format!(r#""{}":["linux/amd64"]"#, digest('a'));
        let cases = [
            (
                "garbage",
                "\u{0}\u{1}not json at all".to_string(),
                "not JSON",
            ),
            (
                "truncated",
                format!(r#"{{"format":1,"platforms":{{{good}"#),
                "not JSON",
            ),
            (
                "foreign",
                r#"{"name":"something else"}"#.to_string(),
                "not a tagsweep platform cache",
            ),
            (
                "future",
                format!(r#"{{"format":2,"platforms":{{{good}}}}}"#),
                "newer tagsweep",
            ),
            (
                "old",
                format!(r#"{{"format":0,"platforms":{{{good}}}}}"#),
                "unknown format 0",
            ),
            (
                "wrong shape",
                r#"{"format":1,"platforms":["linux/amd64"]}"#.to_string(),
                "not a tagsweep platform cache",
            ),
            (
                "not a digest",
                r#"{"format":1,"platforms":{"latest":["linux/amd64"]}}"#.to_string(),
                "not a digest",
            ),
            (
                "short digest",
                r#"{"format":1,"platforms":{"sha256:abc":["linux/amd64"]}}"#.to_string(),
                "not a digest",
            ),
            (
                "bad platform",
                format!(
                    r#"{{"format":1,"platforms":{{{good},"{}":["linux"]}}}}"#,
                    digest('b')
                ),
                "not a platform",
            ),
            (
                "empty list",
                format!(r#"{{"format":1,"platforms":{{"{}":[]}}}}"#, digest('b')),
                "no platforms",
            ),
        ];
        for (what, text, why) in cases {
            let path = dir.path().join(format!("{what}.json"));
            std::fs::write(&path, &text).unwrap();
            let (mut cache, note) = PlatformCache::load(path.clone());
            let note = note.unwrap_or_else(|| panic!("{what}: no note"));
            assert!(note.contains(why), "{what}: {note}");
            assert!(note.contains(&path.display().to_string()), "{what}: {note}");
            assert!(cache.is_empty(), "{what}: nothing of it is trusted");
            assert_eq!(cache.get(&digest('a')), None, "{what}");
            // The next save replaces it with a good file.
            cache.insert(&digest('c'), &p(&["linux/s390x"]));
            assert!(cache.save().unwrap(), "{what}");
            let (fixed, note) = PlatformCache::load(path);
            assert_eq!(note, None, "{what}");
            assert_eq!(fixed.len(), 1, "{what}");
        }
        // An unusable file is replaced even when nothing is added.
        let path = dir.path().join("left.json");
        std::fs::write(&path, "{").unwrap();
        let (cache, note) = PlatformCache::load(path.clone());
        assert!(note.is_some());
        assert!(cache.save().unwrap(), "replaced even with nothing to add");
        assert_eq!(PlatformCache::load(path).1, None);
        // A directory in the way is not replaced.
        let (cache, note) = PlatformCache::load(dir.path().to_path_buf());
        assert!(note.unwrap().contains("not a file"));
        assert!(cache.is_empty());
        assert!(cache.save().is_ok());
        assert!(dir.path().is_dir());
    }

    #[test]
    fn disabled_remembers_nothing_and_writes_nothing() {
        let mut cache = PlatformCache::disabled();
        cache.insert(&digest('a'), &p(&["linux/amd64"]));
        assert_eq!(cache.get(&digest('a')), None);
        assert!(!cache.is_enabled());
        assert!(!cache.save().unwrap());
        let mut memory = PlatformCache::new();
        memory.insert(&digest('a'), &p(&["linux/amd64"]));
        assert_eq!(memory.len(), 1);
        assert!(!memory.save().unwrap(), "no file to write");
    }

    #[test]
    fn digests_are_checked() {
        assert!(is_digest(&digest('0')));
        assert!(is_digest(&format!("sha512:{}", "f".repeat(128))));
        assert!(is_digest(
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"
        ));
        assert!(!is_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest("rocky-1"));
        assert!(!is_digest(":abc"));
        assert!(!is_digest("sha256:"));
        assert!(!is_digest("SHA256:abc"));
        assert!(!is_digest("sha256:../../etc"));
    }
}
