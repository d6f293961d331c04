//! The manifest: which repositories a build must contain, and the rules that
//! say which tags are builds, how long a build may take, and which tags must
//! never be deleted.
//!
//! A manifest is a YAML file reviewed in pull requests, so reading one is also
//! linting it: [`parse_str`] reports every problem it can find at once, each as
//! `FILE:LINE:COL: message` (1-based line and column, as editors and compilers
//! print them), instead of stopping at the first. [`load`] adds the checks on
//! the file itself (a regular file, at most 1 MiB, UTF-8). What is valid but
//! probably not meant comes back as [`Manifest::warnings`], in the same form.
//!
//! ```yaml
//! registry: docker.io            # optional; or an OCI registry URL https://host[:port]
//! namespace: linaro              # Docker Hub user or organisation
//! builds:
//!   pattern: '^rocky-\d+$'       # a tag matching this names a build; a named
//!                                # group `stream` splits builds into release lines
//!   grace: 2h                    # optional (default 2h)
//!   protect: ['^latest$']        # optional: tags never deleted
//! retention:                     # optional: which builds are retired
//!   keep: 5                      # per stream, the newest 5 complete builds stay
//!   max_age: 30d                 # optional: a build pushed more recently stays
//! platforms: [linux/amd64, linux/arm64]   # optional
//! images:
//!   - debian-source-base
//!   - name: debian-source-ironic-pxe
//!     builds: '^rocky-(1\d\d)$'  # optional: only expected in these builds
//!   - name: debian-source-zun-compute
//!     from: rocky-40             # optional: expected from this build on (inclusive)
//!   - name: debian-source-old-thing
//!     until: rocky-12            # optional: expected up to this build (inclusive)
//! ```

#[cfg(test)]
mod fuzz_tests;
mod locate;
mod parse;

use std::cmp::Ordering;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use crate::natural::natural_cmp;
use crate::platform::Platform;

pub use parse::parse_str;

/// The largest manifest [`load`] reads. Real ones are a few kilobytes (250
/// images is about 8 KiB); anything this big is the wrong file.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// The grace period when the manifest gives none.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2 * 60 * 60);

/// A valid manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The file the manifest was read from, as given (for messages).
    pub source: String,
    pub registry: RegistryRef,
    /// The Docker Hub user or organisation (or, on an OCI registry, the path
    /// prefix) that owns the repositories.
    pub namespace: String,
    pub builds: BuildRules,
    /// Platforms every image of a build must carry, in manifest order,
    /// normalized, without duplicates. Empty: no requirement.
    pub platforms: Vec<Platform>,
    /// Expected repositories (names inside the namespace), in manifest order,
    /// without duplicates; never empty.
    pub images: Vec<ImageSpec>,
    /// Which builds are retired (`retention`); `None`: none is.
    pub retention: Option<Retention>,
    /// What is valid but probably a mistake, sorted by position: `validate`
    /// prints each as `FILE:LINE:COL: warning: message`; it changes no exit
    /// code.
    pub warnings: Vec<Problem>,
    /// Where the settings are written, for messages and annotations that
    /// point at them (`diff --format github`).
    pub locations: Locations,
}

/// Where something is written in the manifest: 1-based line and column
/// (columns count characters), as in `FILE:LINE:COL`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// Where a manifest's settings are written: the value of each key, `None`
/// when the key is absent (a manifest built in code has none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Locations {
    /// `builds.pattern`.
    pub pattern: Option<Location>,
    /// `builds.grace`.
    pub grace: Option<Location>,
    /// `builds.protect`.
    pub protect: Option<Location>,
    /// `retention` (the key).
    pub retention: Option<Location>,
    /// `platforms` (the key).
    pub platforms: Option<Location>,
    /// `images` (the key).
    pub images: Option<Location>,
}

/// Which builds are no longer supported: the manifest's `retention`.
///
/// Per stream (see [`BuildRules::stream`]), the `keep` newest complete
/// builds in the natural order of their tags are kept, and so is every build
/// newer than the oldest of them; an older build expires, unless it was
/// pushed within `max_age`. `policy::retention` applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// How many complete builds each stream keeps; at least 1.
    pub keep: usize,
    /// A build whose newest push is younger than this is kept, whatever its
    /// rank.
    pub max_age: Option<Duration>,
}

/// Where the repositories live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryRef {
    /// Docker Hub (`docker.io`, the default).
    DockerHub,
    /// A registry speaking the OCI distribution API. The URL has no path,
    /// query, fragment or credentials; `http` only on loopback.
    Oci { url: url::Url },
}

impl RegistryRef {
    /// The name reports and snapshots give the registry: `docker.io`, or the
    /// OCI registry's URL without a trailing slash (`https://ghcr.io`), as
    /// [`crate::registry::Registry::name`] gives it.
    pub fn name(&self) -> String {
        match self {
            RegistryRef::DockerHub => "docker.io".to_string(),
            RegistryRef::Oci { url } => url.as_str().trim_end_matches('/').to_string(),
        }
    }
}

/// Which tags are builds, and how they are treated.
#[derive(Clone, Debug)]
pub struct BuildRules {
    /// A tag matching this names a build.
    pub pattern: Regex,
    /// How long after its newest push an incomplete build is still considered
    /// in progress rather than broken.
    pub grace: Duration,
    /// Tags matching any of these are never deleted.
    pub protect: Vec<Regex>,
}

/// One expected repository.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// The repository name inside the namespace.
    pub name: String,
    /// When set, the image is only expected in builds whose tag matches.
    pub builds: Option<Regex>,
    /// When set, the first build the image is expected in: it is expected in
    /// this build and every later one (inclusive), builds being ordered by the
    /// natural order of their tags (`rocky-9` < `rocky-10`, see
    /// [`natural_cmp`]). A build tag (it matches `builds.pattern`).
    pub from: Option<String>,
    /// When set, the last build the image is expected in: it is expected up
    /// to and including this build, in the natural order of tags. A build tag.
    pub until: Option<String>,
    /// Where the image's name is written in the manifest.
    pub at: Location,
}

impl ImageSpec {
    /// Whether this image should exist in the build tagged `build_tag`: the
    /// tag matches the image's `builds` filter, if any, and lies between
    /// `from` and `until`, both included, in natural order.
    pub fn expected_in(&self, build_tag: &str) -> bool {
        self.builds
            .as_ref()
            .is_none_or(|filter| filter.is_match(build_tag))
            && self
                .from
                .as_deref()
                .is_none_or(|from| natural_cmp(build_tag, from) != Ordering::Less)
            && self
                .until
                .as_deref()
                .is_none_or(|until| natural_cmp(build_tag, until) != Ordering::Greater)
    }
}

impl BuildRules {
    /// Whether `tag` names a build (matches `builds.pattern`).
    pub fn is_build(&self, tag: &str) -> bool {
        self.pattern.is_match(tag)
    }

    /// Whether `tag` must never be deleted (matches a `builds.protect` regex).
    pub fn is_protected(&self, tag: &str) -> bool {
        self.protect.iter().any(|re| re.is_match(tag))
    }

    /// Whether `builds.pattern` has a named group `stream`, which splits
    /// builds into release lines.
    pub fn has_streams(&self) -> bool {
        self.pattern
            .capture_names()
            .any(|name| name == Some(STREAM_GROUP))
    }

    /// The release line of the build `tag`: what the group `stream` of
    /// `builds.pattern` captured (`rocky` in `rocky-38` for
    /// `'^(?P<stream>rocky|stein)-\d+$'`). `None` when the pattern has no such
    /// group, when the group took no part in the match, or when `tag` is not a
    /// build: all such builds form one stream.
    pub fn stream<'t>(&self, tag: &'t str) -> Option<&'t str> {
        if !self.has_streams() {
            return None;
        }
        let stream = self.pattern.captures(tag)?.name(STREAM_GROUP)?;
        Some(stream.as_str())
    }
}

/// The name of the capture group of `builds.pattern` that names a build's
/// stream.
pub const STREAM_GROUP: &str = "stream";

impl Manifest {
    /// The expected image named `name`, if the manifest lists it.
    pub fn image(&self, name: &str) -> Option<&ImageSpec> {
        self.images.iter().find(|image| image.name == name)
    }
}

/// One thing wrong in a manifest, with where it is. Displays as
/// `FILE:LINE:COL: message`; line and column are 1-based, columns count
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl Problem {
    /// The problem as a warning: `FILE:LINE:COL: warning: message`.
    pub fn as_warning(&self) -> String {
        format!(
            "{}:{}:{}: warning: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Why [`load`] gave no manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {}: {cause}; check the path and its permissions", path.display())]
    Read {
        path: PathBuf,
        // In the message, not a source (thiserror takes a field named
        // `source` as one): an error chain would say it twice.
        cause: std::io::Error,
    },
    #[error(
        "{} is not a regular file (a directory?); give the path of a manifest YAML file, e.g. manifests/linaro-kolla.yaml",
        path.display()
    )]
    NotAFile { path: PathBuf },
    #[error(
        "manifest {} is {size} bytes, over the 1 MiB limit; a manifest lists image names and is a few KiB, so check that this is the right file",
        path.display()
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error("manifest {} is not valid UTF-8 text; save it as UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}", invalid_message(problems))]
    Invalid { problems: Vec<Problem> },
}

fn invalid_message(problems: &[Problem]) -> String {
    let (count, them) = match problems.len() {
        1 => ("1 problem".to_string(), "it"),
        n => (format!("{n} problems"), "them"),
    };
    let mut out = format!("the manifest has {count}; fix {them} and try again:");
    for problem in problems {
        out.push('\n');
        out.push_str(&problem.to_string());
    }
    out
}

/// Reads and parses the manifest at `path`. Refuses anything that is not a
/// regular file, is larger than [`MAX_MANIFEST_BYTES`], or is not UTF-8; a
/// leading byte order mark is ignored. Problems name the file as `path` was
/// given.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let read_error = |cause| ManifestError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_file() {
        return Err(ManifestError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let too_large = |size| ManifestError::TooLarge {
        path: path.to_path_buf(),
        size,
    };
    if metadata.len() > MAX_MANIFEST_BYTES {
        return Err(too_large(metadata.len()));
    }
    // The size can change between metadata and read: read one byte past the
    // limit to notice.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(too_large(metadata.len().max(bytes.len() as u64)));
    }
    let text = String::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    parse_str(&path.display().to_string(), &text)
        .map_err(|problems| ManifestError::Invalid { problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KOLLA: &str = include_str!("../../manifests/linaro-kolla.yaml");
    const SAMPLE: &str = include_str!("../../manifests/linaro-sample.yaml");

    fn valid(file: &str, src: &str) -> Manifest {
        parse_str(file, src).unwrap_or_else(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            panic!("{file} is not valid:\n{}", lines.join("\n"))
        })
    }

    #[test]
    fn the_kolla_example_is_valid() {
        let m = valid("manifests/linaro-kolla.yaml", KOLLA);
        assert_eq!(m.source, "manifests/linaro-kolla.yaml");
        assert_eq!(m.registry, RegistryRef::DockerHub);
        assert_eq!(m.namespace, "linaro");
        assert_eq!(m.images.len(), 250);
        assert!(m
            .images
            .iter()
            .all(|i| i.name.starts_with("debian-source-") && i.builds.is_none()));
        assert!(m.image("debian-source-base").is_some());
        assert!(m.image("debian-source-nova-compute").is_some());
        assert_eq!(
            m.platforms,
            vec!["linux/arm64".parse::<Platform>().unwrap()]
        );
        assert_eq!(m.builds.grace, DEFAULT_GRACE);
        assert!(m.builds.is_build("rocky-42"));
        assert!(!m.builds.is_build("latest"));
        assert!(!m.builds.is_build("rocky-42-old"));
        assert!(m.builds.is_protected("latest"));
        assert!(!m.builds.is_protected("rocky-42"));
    }

    #[test]
    fn the_sample_example_is_valid() {
        let m = valid("manifests/linaro-sample.yaml", SAMPLE);
        assert_eq!(m.namespace, "linaro");
        assert!((5..=8).contains(&m.images.len()));
        assert_eq!(
            m.platforms,
            vec![
                "linux/amd64".parse::<Platform>().unwrap(),
                "linux/arm64".parse().unwrap()
            ]
        );
        let filtered: Vec<&ImageSpec> = m.images.iter().filter(|i| i.builds.is_some()).collect();
        assert_eq!(filtered.len(), 1);
        assert!(m.images.iter().any(|i| i.expected_in("rocky-1")));
    }

    /// Annotations on a pull request point at these: each must be where the
    /// text is, in both block and flow style.
    #[test]
    fn settings_and_images_know_where_they_are_written() {
        let at = |line, column| Some(Location { line, column });
        let m = valid(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  protect: ['^latest$']\nretention: {keep: 3}\nplatforms: [linux/arm64]\nimages:\n  - base\n  - name: zun\n    from: rocky-4\n",
        );
        assert_eq!(
            m.locations,
            Locations {
                pattern: at(3, 12),
                grace: None,
                protect: at(4, 12),
                retention: at(5, 1),
                platforms: at(6, 1),
                images: at(7, 1),
            }
        );
        let images: Vec<(&str, Location)> =
            m.images.iter().map(|i| (i.name.as_str(), i.at)).collect();
        assert_eq!(
            images,
            [
                ("base", Location { line: 8, column: 5 }),
                (
                    "zun",
                    Location {
                        line: 9,
                        column: 11
                    }
                )
            ]
        );
        let m = valid(
            "m.yaml",
            "namespace: linaro\nbuilds: {pattern: '^r\\d$', grace: 1h}\nimages: [a, b]\n",
        );
        assert_eq!(
            (m.locations.pattern, m.locations.grace),
            (at(2, 19), at(2, 35))
        );
        assert_eq!(
            m.images[1].at,
            Location {
                line: 3,
                column: 13
            }
        );
    }

    #[test]
    fn rules_and_lookups() {
        let m = valid(
            "m.yaml",
            "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 1h30m\n  protect: ['^latest$', '^rocky-1$']\nimages:\n  - a\n  - name: b\n    builds: '^rocky-(1\\d\\d)$'\n",
        );
        assert_eq!(m.builds.grace, Duration::from_secs(5400));
        assert!(m.builds.is_protected("rocky-1"));
        assert!(!m.builds.is_protected("rocky-2"));
        let b = m.image("b").unwrap();
        assert!(b.expected_in("rocky-100"));
        assert!(!b.expected_in("rocky-99"));
        assert!(m.image("a").unwrap().expected_in("rocky-99"));
        assert!(m.image("c").is_none());
        assert!(m.platforms.is_empty());
    }

    /// An image with these optional keys.
    fn spec(builds: Option<&str>, from: Option<&str>, until: Option<&str>) -> ImageSpec {
        ImageSpec {
            name: "a".into(),
            builds: builds.map(|re| Regex::new(re).unwrap()),
            from: from.map(str::to_string),
            until: until.map(str::to_string),
            at: Location::default(),
        }
    }

    /// The tags among `tags` that `image` is expected in.
    fn expected<'t>(image: &ImageSpec, tags: &[&'t str]) -> Vec<&'t str> {
        tags.iter()
            .copied()
            .filter(|tag| image.expected_in(tag))
            .collect()
    }

    const ROCKY: &[&str] = &[
        "rocky-1",
        "rocky-5",
        "rocky-9",
        "rocky-10",
        "rocky-12",
        "rocky-13",
        "rocky-39",
        "rocky-40",
        "rocky-41",
        "rocky-100",
    ];

    #[test]
    fn from_is_inclusive_in_natural_order() {
        // Byte order would put rocky-5 after rocky-40, and rocky-100 before it.
        assert_eq!(
            expected(&spec(None, Some("rocky-40"), None), ROCKY),
            ["rocky-40", "rocky-41", "rocky-100"]
        );
        assert_eq!(
            expected(&spec(None, Some("rocky-10"), None), ROCKY),
            [
                "rocky-10",
                "rocky-12",
                "rocky-13",
                "rocky-39",
                "rocky-40",
                "rocky-41",
                "rocky-100"
            ]
        );
    }

    #[test]
    fn until_is_inclusive_in_natural_order() {
        // Byte order would put rocky-9 after rocky-12, and rocky-100 before it.
        assert_eq!(
            expected(&spec(None, None, Some("rocky-12")), ROCKY),
            ["rocky-1", "rocky-5", "rocky-9", "rocky-10", "rocky-12"]
        );
    }

    #[test]
    fn from_and_until_together() {
        assert_eq!(
            expected(&spec(None, Some("rocky-9"), Some("rocky-12")), ROCKY),
            ["rocky-9", "rocky-10", "rocky-12"]
        );
        assert_eq!(
            expected(&spec(None, Some("rocky-40"), Some("rocky-40")), ROCKY),
            ["rocky-40"]
        );
        let versions = ["5.0.2", "5.0.9", "5.0.10", "5.1.0", "5.10.0"];
        assert_eq!(
            expected(&spec(None, Some("5.0.9"), Some("5.1.0")), &versions),
            ["5.0.9", "5.0.10", "5.1.0"]
        );
    }

    #[test]
    fn from_and_until_narrow_the_builds_filter() {
        // Only odd builds, and only from rocky-5 to rocky-39.
        let image = spec(
            Some(r"^rocky-\d*[13579]$"),
            Some("rocky-5"),
            Some("rocky-39"),
        );
        assert_eq!(
            expected(&image, ROCKY),
            ["rocky-5", "rocky-9", "rocky-13", "rocky-39"]
        );
        assert_eq!(expected(&spec(None, None, None), ROCKY), ROCKY);
    }

    #[test]
    fn problem_display() {
        let p = Problem {
            file: "m.yaml".into(),
            line: 3,
            column: 7,
            message: "unknown key 'x'".into(),
        };
        assert_eq!(p.to_string(), "m.yaml:3:7: unknown key 'x'");
    }

    #[test]
    fn load_reads_files_and_refuses_the_wrong_ones() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        std::fs::write(&good, SAMPLE).unwrap();
        let m = load(&good).unwrap();
        assert_eq!(m.source, good.display().to_string());

        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, ManifestError::NotAFile { .. }));
        assert!(
            err.to_string()
                .contains("is not a regular file (a directory?)"),
            "{err}"
        );

        let missing = dir.path().join("missing.yaml");
        let err = load(&missing).unwrap_err();
        assert!(matches!(err, ManifestError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read manifest {}: ", missing.display())),
            "{err}"
        );

        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_MANIFEST_BYTES as usize + 1]).unwrap();
        let err = load(&big).unwrap_err();
        assert!(
            matches!(err, ManifestError::TooLarge { size, .. } if size == MAX_MANIFEST_BYTES + 1)
        );
        assert!(
            err.to_string()
                .contains("is 1048577 bytes, over the 1 MiB limit"),
            "{err}"
        );

        let latin1 = dir.path().join("latin1.yaml");
        std::fs::write(&latin1, b"namespace: caf\xe9\n").unwrap();
        let err = load(&latin1).unwrap_err();
        assert!(matches!(err, ManifestError::NotUtf8 { .. }));
        assert!(
            err.to_string()
                .ends_with("is not valid UTF-8 text; save it as UTF-8"),
            "{err}"
        );

        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "namespace: linaro\n").unwrap();
        let err = load(&bad).unwrap_err();
        let ManifestError::Invalid { problems } = &err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].file, bad.display().to_string());
        assert!(
            err.to_string()
                .starts_with("the manifest has 2 problems; fix them and try again:\n"),
            "{err}"
        );
    }

    #[test]
    fn load_accepts_a_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bom.yaml");
        std::fs::write(&path, format!("\u{feff}{SAMPLE}")).unwrap();
        assert!(load(&path).is_ok());
    }
}
