//! Image platforms (`os/arch[/variant]`) and how they are compared.
//!
//! A build is only complete when every image carries the platforms the manifest
//! requires, but registries and people spell the same platform differently:
//! `linux/arm64`, `linux/arm64/v8`, `linux/aarch64`, `Linux/ARM64`. This module
//! normalizes them the way containerd does (`platforms.Normalize`) so that the
//! comparison is about the platform, not the spelling, and it knows the
//! operating systems and architectures Go (and so Docker) uses, so that a typo
//! such as `linux/amd46` in a manifest is reported instead of silently
//! requiring a platform no image will ever have.

use std::fmt;
use std::str::FromStr;

/// A platform as `os/arch[/variant]`, stored lowercase and normalized (see
/// [`Platform::normalized`]) when built by [`FromStr`] or [`Platform::from_parts`].
///
/// The derived `Eq`, `Ord` and `Hash` compare fields as stored; use
/// [`Platform::satisfies`] to ask whether one platform meets a requirement
/// regardless of how either was built.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

/// Operating systems known to Go (`GOOS` values in `go/build/syslist.go`).
pub const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// Architectures known to Go (`GOARCH` values in `go/build/syslist.go`).
pub const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "arm64",
    "arm64be",
    "armbe",
    "loong64",
    "mips",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "mipsle",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// Other spellings accepted on input, normalized as containerd does.
const OS_ALIASES: &[&str] = &["macos"];
const ARCH_ALIASES: &[&str] = &["aarch64", "armel", "armhf", "i386", "x86-64", "x86_64"];

/// Why a platform string was refused. The message does not repeat the whole
/// input, so callers can prefix their own context.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParsePlatformError {
    message: String,
}

impl ParsePlatformError {
    fn new(message: String) -> Self {
        ParsePlatformError { message }
    }
}

impl Platform {
    /// Builds a platform from the separate fields a registry reports (Docker Hub
    /// tag `images[]`, OCI image index `platform`). Returns `None` for entries
    /// that are not runnable images: an empty os or architecture, or `unknown`
    /// (BuildKit's attestation manifests are `unknown/unknown`).
    ///
    /// Unlike [`FromStr`], values outside the known lists are kept: registry
    /// data is reported as it is, not linted.
    pub fn from_parts(os: &str, arch: &str, variant: Option<&str>) -> Option<Platform> {
        let os = os.trim();
        let arch = arch.trim();
        if os.is_empty()
            || arch.is_empty()
            || os.eq_ignore_ascii_case("unknown")
            || arch.eq_ignore_ascii_case("unknown")
        {
            return None;
        }
        let variant = variant.map(str::trim).filter(|v| !v.is_empty());
        Some(
            Platform {
                os: os.to_lowercase(),
                arch: arch.to_lowercase(),
                variant: variant.map(str::to_lowercase),
            }
            .normalized(),
        )
    }

    /// Reads `os/arch[/variant]` without checking the os and architecture
    /// against the known lists: for platform strings that tagsweep wrote itself
    /// (snapshots), where a registry may have reported an architecture this
    /// version does not know. `None` when the shape is wrong or
    /// [`Platform::from_parts`] would refuse the parts.
    pub fn parse_loose(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next()?;
        let arch = parts.next()?;
        let variant = parts.next();
        if parts.next().is_some() {
            return None;
        }
        Platform::from_parts(os, arch, variant)
    }

    /// The canonical spelling, following containerd's `platforms.Normalize`:
    /// lowercase; `macos` → `darwin`; `x86_64`/`x86-64` → `amd64` (variant `v1`
    /// dropped, it is the default); `aarch64` → `arm64` (variant `v8`, `8` or
    /// `v8.0` dropped as the default, `9`/`9.0` → `v9`); `armhf` → `arm/v7`,
    /// `armel` → `arm/v6`; `arm` without variant → `arm/v7`; `i386` → `386`.
    pub fn normalized(&self) -> Platform {
        let os = match self.os.to_lowercase().as_str() {
            "macos" => "darwin".to_string(),
            other => other.to_string(),
        };
        let arch = self.arch.to_lowercase();
        let variant = self
            .variant
            .as_deref()
            .map(str::to_lowercase)
            .filter(|v| !v.is_empty());
        let (arch, variant): (&str, Option<String>) = match arch.as_str() {
            "i386" | "386" => ("386", if arch == "i386" { None } else { variant }),
            "x86_64" | "x86-64" | "amd64" => ("amd64", variant.filter(|v| v != "v1" && v != "1")),
            "aarch64" | "arm64" => (
                "arm64",
                match variant.as_deref() {
                    None | Some("8" | "v8" | "v8.0" | "8.0") => None,
                    Some("9" | "9.0" | "v9.0") => Some("v9".to_string()),
                    Some(_) => variant,
                },
            ),
            "armhf" => ("arm", Some("v7".to_string())),
            "armel" => ("arm", Some("v6".to_string())),
            "arm" => (
                "arm",
                match variant.as_deref() {
                    None | Some("7") => Some("v7".to_string()),
                    Some(v @ ("5" | "6" | "8")) => Some(format!("v{v}")),
                    Some(_) => variant,
                },
            ),
            other => (other, variant),
        };
        Platform {
            os,
            arch: arch.to_string(),
            variant,
        }
    }

    /// Whether an image of platform `self` meets the requirement `required`:
    /// both normalized, they are the same platform. So `linux/arm64` is met by
    /// arm64 with variant `v8` or none, and `linux/arm64/v8` by arm64 without
    /// variant; `linux/arm/v7` is not met by `linux/arm/v6` (an image must carry
    /// the platform itself, not a compatible one).
    pub fn satisfies(&self, required: &Platform) -> bool {
        self.normalized() == required.normalized()
    }
}

impl FromStr for Platform {
    type Err = ParsePlatformError;

    /// Parses `os/arch[/variant]`, case-insensitively, and normalizes it. The os
    /// and architecture must be known (see [`KNOWN_OS`], [`KNOWN_ARCH`]; the
    /// aliases `macos`, `x86_64`, `aarch64`, `armhf`, `armel` and `i386` are
    /// accepted too).
    fn from_str(s: &str) -> Result<Platform, ParsePlatformError> {
        const SHAPE: &str = "write os/arch or os/arch/variant, e.g. linux/arm64";
        if s.trim().is_empty() {
            return Err(ParsePlatformError::new(format!(
                "the platform is empty; {SHAPE}"
            )));
        }
        if s.trim() != s {
            return Err(ParsePlatformError::new(format!(
                "unexpected space around the platform; {SHAPE}"
            )));
        }
        let lower = s.to_lowercase();
        let parts: Vec<&str> = lower.split('/').collect();
        if parts.len() == 1 {
            let hint = if is_known_arch(&lower) {
                format!(" (did you mean 'linux/{lower}'?)")
            } else {
                String::new()
            };
            return Err(ParsePlatformError::new(format!(
                "'{}' has no architecture; {SHAPE}{hint}",
                quote(s)
            )));
        }
        if parts.len() > 3 {
            return Err(ParsePlatformError::new(format!(
                "too many '/' separators; {SHAPE}"
            )));
        }
        let (os, arch) = (parts[0], parts[1]);
        let variant = parts.get(2).copied();
        if os.is_empty() {
            return Err(ParsePlatformError::new(format!(
                "the operating system is missing; {SHAPE}"
            )));
        }
        if arch.is_empty() {
            return Err(ParsePlatformError::new(format!(
                "the architecture is missing; {SHAPE}"
            )));
        }
        if variant == Some("") {
            return Err(ParsePlatformError::new(format!(
                "the variant after the last '/' is empty; {SHAPE}"
            )));
        }
        if !KNOWN_OS.contains(&os) && !OS_ALIASES.contains(&os) {
            return Err(ParsePlatformError::new(unknown(
                "operating system",
                os,
                KNOWN_OS.iter().chain(OS_ALIASES),
            )));
        }
        if !is_known_arch(arch) {
            return Err(ParsePlatformError::new(unknown(
                "architecture",
                arch,
                KNOWN_ARCH.iter().chain(ARCH_ALIASES),
            )));
        }
        if let Some(variant) = variant {
            if !variant
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.')
            {
                return Err(ParsePlatformError::new(format!(
                    "invalid variant '{}'; a variant is letters, digits and dots, e.g. v8",
                    quote(variant)
                )));
            }
        }
        let platform = Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            variant: variant.map(str::to_string),
        }
        .normalized();
        check_variant(&platform, variant.unwrap_or_default())?;
        Ok(platform)
    }
}

/// Variants are free-form in the OCI spec, but for the three architectures
/// that have well-known ones, anything else is a typo.
fn check_variant(platform: &Platform, written: &str) -> Result<(), ParsePlatformError> {
    let Some(variant) = platform.variant.as_deref() else {
        return Ok(());
    };
    let (ok, known) = match platform.arch.as_str() {
        "amd64" => (matches!(variant, "v2" | "v3" | "v4"), "v1, v2, v3, v4"),
        "arm" => (
            matches!(variant, "v5" | "v6" | "v7" | "v8"),
            "v5, v6, v7, v8",
        ),
        "arm64" => (
            is_arm64_variant(variant),
            "v8, v8.1 … v8.9, v9, v9.1 … v9.9",
        ),
        _ => return Ok(()),
    };
    if ok {
        Ok(())
    } else {
        Err(ParsePlatformError::new(format!(
            "unknown variant '{}' for {}; known variants are {known}",
            quote(written),
            platform.arch
        )))
    }
}

fn is_arm64_variant(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let (major, minor) = rest.split_once('.').unwrap_or((rest, "0"));
    matches!(major, "8" | "9") && minor.len() == 1 && minor.as_bytes()[0].is_ascii_digit()
}

fn is_known_arch(arch: &str) -> bool {
    KNOWN_ARCH.contains(&arch) || ARCH_ALIASES.contains(&arch)
}

fn unknown<'a>(
    what: &str,
    value: &str,
    known: impl Iterator<Item = &'a &'a str> + Clone,
) -> String {
    match closest(value, known.clone().copied()) {
        Some(best) => format!("unknown {what} '{}' (did you mean '{best}'?)", quote(value)),
        None => {
            let list: Vec<&str> = known.copied().collect();
            format!(
                "unknown {what} '{}'; known: {}",
                quote(value),
                list.join(", ")
            )
        }
    }
}

impl fmt::Display for Platform {
    /// The normalized form: `linux/arm64`, `linux/arm/v7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.normalized();
        write!(f, "{}/{}", p.os, p.arch)?;
        if let Some(variant) = &p.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The candidate closest to `word` by edit distance, when it is close enough
/// to be a plausible typo (shared with the manifest linter's key suggestions).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    if word.chars().count() > 64 {
        return None;
    }
    let limit = match word.chars().count() {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    candidates
        .map(|c| (edit_distance(&word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus adjacent swaps, from
/// `strsim`), so that `amd46` is one edit from `amd64`.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// User text inside a message (see [`crate::text::quote`]).
fn quote(s: &str) -> String {
    crate::text::quote(s, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        s.parse::<Platform>().unwrap_err().to_string()
    }

    #[test]
    fn parses_and_displays_normalized() {
        assert_eq!(p("linux/amd64").to_string(), "linux/amd64");
        assert_eq!(p("Linux/ARM64").to_string(), "linux/arm64");
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64");
        assert_eq!(p("linux/arm64/v8.2").to_string(), "linux/arm64/v8.2");
        assert_eq!(p("linux/aarch64").to_string(), "linux/arm64");
        assert_eq!(p("linux/arm").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/armhf").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/armel").to_string(), "linux/arm/v6");
        assert_eq!(p("linux/arm/v6").to_string(), "linux/arm/v6");
        assert_eq!(p("linux/x86_64").to_string(), "linux/amd64");
        assert_eq!(p("linux/amd64/v1").to_string(), "linux/amd64");
        assert_eq!(p("linux/amd64/v3").to_string(), "linux/amd64/v3");
        assert_eq!(p("linux/i386").to_string(), "linux/386");
        assert_eq!(p("macos/arm64").to_string(), "darwin/arm64");
        assert_eq!(p("windows/amd64").to_string(), "windows/amd64");
        assert_eq!(p("linux/riscv64").to_string(), "linux/riscv64");
        assert_eq!(p("linux/ppc64le").variant, None);
        assert_eq!(
            p("linux/arm64/v8"),
            Platform {
                os: "linux".into(),
                arch: "arm64".into(),
                variant: None
            }
        );
    }

    #[test]
    fn refuses_unknown_names_and_bad_shapes() {
        assert_eq!(
            err("linux/amd46"),
            "unknown architecture 'amd46' (did you mean 'amd64'?)"
        );
        assert_eq!(
            err("lunix/amd64"),
            "unknown operating system 'lunix' (did you mean 'linux'?)"
        );
        assert_eq!(
            err("LINUX/AMD46"),
            "unknown architecture 'amd46' (did you mean 'amd64'?)"
        );
        assert!(err("linux/zzzzzzzz").starts_with("unknown architecture 'zzzzzzzz'; known: 386, "));
        assert_eq!(
            err(""),
            "the platform is empty; write os/arch or os/arch/variant, e.g. linux/arm64"
        );
        assert_eq!(
            err("arm64"),
            "'arm64' has no architecture; write os/arch or os/arch/variant, e.g. linux/arm64 (did you mean 'linux/arm64'?)"
        );
        assert_eq!(
            err("linux"),
            "'linux' has no architecture; write os/arch or os/arch/variant, e.g. linux/arm64"
        );
        assert_eq!(
            err("linux/arm64/v8/x"),
            "too many '/' separators; write os/arch or os/arch/variant, e.g. linux/arm64"
        );
        assert!(err("/arm64").starts_with("the operating system is missing;"));
        assert!(err("linux/").starts_with("the architecture is missing;"));
        assert!(err("linux/arm64/").starts_with("the variant after the last '/' is empty;"));
        assert!(err(" linux/arm64").starts_with("unexpected space around the platform;"));
        assert_eq!(
            err("linux/arm64/v7"),
            "unknown variant 'v7' for arm64; known variants are v8, v8.1 … v8.9, v9, v9.1 … v9.9"
        );
        assert_eq!(
            err("linux/amd64/v5"),
            "unknown variant 'v5' for amd64; known variants are v1, v2, v3, v4"
        );
        assert_eq!(
            err("linux/arm/v9"),
            "unknown variant 'v9' for arm; known variants are v5, v6, v7, v8"
        );
        assert_eq!(
            err("linux/s390x/v_1"),
            "invalid variant 'v_1'; a variant is letters, digits and dots, e.g. v8"
        );
    }

    #[test]
    fn satisfies_follows_containerd_defaults() {
        let arm64 = |v: Option<&str>| Platform::from_parts("linux", "arm64", v).unwrap();
        assert!(arm64(None).satisfies(&p("linux/arm64")));
        assert!(arm64(Some("v8")).satisfies(&p("linux/arm64")));
        assert!(arm64(None).satisfies(&p("linux/arm64/v8")));
        assert!(!arm64(Some("v9")).satisfies(&p("linux/arm64")));
        let raw = Platform {
            os: "Linux".into(),
            arch: "aarch64".into(),
            variant: Some("v8".into()),
        };
        assert!(raw.satisfies(&p("linux/arm64")));
        assert!(!p("linux/amd64").satisfies(&p("linux/arm64")));
        assert!(Platform::from_parts("linux", "arm", None)
            .unwrap()
            .satisfies(&p("linux/arm/v7")));
        assert!(!p("linux/arm/v6").satisfies(&p("linux/arm/v7")));
        assert!(Platform::from_parts("linux", "amd64", Some("v1"))
            .unwrap()
            .satisfies(&p("linux/amd64")));
        assert!(!p("windows/amd64").satisfies(&p("linux/amd64")));
    }

    #[test]
    fn from_parts_skips_attestations_and_keeps_unknown_values() {
        assert_eq!(Platform::from_parts("unknown", "unknown", None), None);
        assert_eq!(Platform::from_parts("", "amd64", None), None);
        assert_eq!(Platform::from_parts("linux", "", None), None);
        assert_eq!(
            Platform::from_parts("Linux", "ARM64", Some("")),
            Some(Platform {
                os: "linux".into(),
                arch: "arm64".into(),
                variant: None
            })
        );
        let odd = Platform::from_parts("linux", "future64", Some("x1")).unwrap();
        assert_eq!(odd.to_string(), "linux/future64/x1");
        assert_eq!(Platform::parse_loose("linux/future64/x1"), Some(odd));
        assert_eq!(Platform::parse_loose("linux"), None);
        assert_eq!(Platform::parse_loose("a/b/c/d"), None);
    }

    #[test]
    fn display_round_trips_through_from_str() {
        for s in [
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "linux/arm/v6",
            "windows/amd64",
            "linux/arm64/v9",
            "linux/amd64/v2",
        ] {
            assert_eq!(p(s).to_string(), s);
            assert_eq!(p(&p(s).to_string()), p(s));
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("namspace", ["namespace", "images"].into_iter()),
            Some("namespace")
        );
        assert_eq!(closest("zzz", ["namespace", "images"].into_iter()), None);
        assert_eq!(edit_distance("amd46", "amd64"), 1);
    }
}
