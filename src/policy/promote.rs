//! What `tagsweep promote` may do, decided from the manifest and a fresh
//! look at the build. Pure: the command looks things up and pushes.
//!
//! * **Which tag** ([`check_tag`]): a tag users pull (`latest`, `stable`),
//!   never a build tag (one matching `builds.pattern`: pointing it elsewhere
//!   would change a build). An unprotected tag (not in `builds.protect`) is
//!   allowed with a warning.
//! * **Which build** ([`newest_complete`], [`promotable`]): only a build
//!   that is `complete` under a fresh look, with every required platform
//!   verified — a build whose platforms the registry did not state is not
//!   promoted, since nobody knows it runs everywhere.
//! * **What moves** ([`plan`]): in every image expected in the build, the
//!   tag goes to the build's digest there; a tag already there is left as
//!   it is, so a rerun after a failure converges.

use super::audit::{BuildReport, Report, Status};
use crate::inventory::Tag;
use crate::manifest::Manifest;
use crate::natural::natural_cmp;

/// Refuses a tag promote must not move; `Ok(Some(warning))` for a tag
/// prune could remove.
pub fn check_tag(manifest: &Manifest, tag: &str) -> Result<Option<String>, String> {
    if manifest.builds.is_build(tag) {
        return Err(format!(
            "--tag {tag}: {tag:?} is a build tag (it matches builds.pattern {:?}); promote points a tag users pull (latest, stable) at a build, never a build tag",
            manifest.builds.pattern.as_str()
        ));
    }
    if manifest.builds.is_protected(tag) {
        Ok(None)
    } else {
        Ok(Some(format!(
            "warning: {tag} is not protected (add '^{}$' to builds.protect in {}): a prune of the builds could remove it",
            regex::escape(tag),
            manifest.source
        )))
    }
}

/// The builds a listing judged complete (platforms unverified allowed: the
/// fresh look verifies them), newest first in natural order: the
/// candidates of `--newest-complete`.
pub fn newest_complete(report: &Report) -> Vec<String> {
    let mut complete: Vec<String> = report
        .builds
        .iter()
        .filter(|b| b.status == Status::Complete)
        .map(|b| b.tag.clone())
        .collect();
    complete.sort_by(|a, b| natural_cmp(b, a));
    complete
}

/// Refuses a build whose tag points, in some image of `fresh` (the build
/// looked up in each image expected in it), at tagsweep's placeholder — a
/// prune of it was interrupted: no image is behind that tag.
pub fn no_placeholders(
    namespace: &str,
    build: &str,
    fresh: &[(String, Option<Tag>)],
) -> Result<(), String> {
    let on: Vec<String> = fresh
        .iter()
        .filter(|(_, t)| t.as_ref().is_some_and(|t| t.placeholder))
        .map(|(repo, _)| format!("{namespace}/{repo}:{build}"))
        .collect();
    if on.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{build}: {} point{} at a tagsweep placeholder left by an interrupted prune (no image behind {}): run prune again to finish, or restore from the journal",
        on.join(", "),
        if on.len() == 1 { "s" } else { "" },
        if on.len() == 1 { "it" } else { "them" }
    ))
}

/// Whether `build`, as a fresh look judges it (`None`: no expected image
/// carries it), may be promoted; `Err(why not)` otherwise.
pub fn promotable(build: &str, fresh: Option<&BuildReport>) -> Result<(), String> {
    let Some(b) = fresh.filter(|b| b.present > 0) else {
        return Err(format!(
            "no image of the set carries {build} (is it a build that was pushed?)"
        ));
    };
    if !b.unverified_platforms.is_empty() {
        let images: Vec<&str> = b.unverified_platforms.keys().map(String::as_str).collect();
        return Err(format!(
            "{build}: the platforms of {} could not be verified (the registry does not state them); only a build known to carry every required platform is promoted",
            images.join(", ")
        ));
    }
    match b.status {
        Status::Complete => Ok(()),
        status => {
            let mut why = vec![format!("{build} is {}", status_word(status))];
            if !b.missing.is_empty() {
                why.push(format!("missing in {}", b.missing.join(", ")));
            }
            for (image, platforms) in &b.missing_platforms {
                let list: Vec<String> = platforms.iter().map(ToString::to_string).collect();
                why.push(format!("{image} lacks {}", list.join(", ")));
            }
            Err(why.join("; "))
        }
    }
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Complete => "complete",
        Status::Broken => "broken",
        Status::InProgress => "in progress",
    }
}

/// One image's tag, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub repository: String,
    /// The build's digest in this image: where the tag goes.
    pub digest: String,
    /// Its media type, when the registry said it.
    pub media_type: Option<String>,
    /// Where the tag points now; `None` when it does not exist.
    pub current: Option<String>,
}

impl Move {
    /// The tag is there already: nothing to push.
    pub fn unchanged(&self) -> bool {
        self.current.as_deref() == Some(self.digest.as_str())
    }
}

/// Where the tag goes in each image: `fresh` is the build looked up in each
/// image expected in it (all present, or [`promotable`] refused), `current`
/// the tag looked up in the same images. An image whose build tag has no
/// digest cannot be promoted: `Err` names it.
pub fn plan(
    fresh: &[(String, Option<Tag>)],
    current: &[(String, Option<String>)],
) -> Result<Vec<Move>, String> {
    let mut moves = Vec::new();
    for (repo, tag) in fresh {
        let Some(tag) = tag else {
            return Err(format!("{repo} does not carry the build"));
        };
        let Some(digest) = tag.digest.clone() else {
            return Err(format!(
                "{repo}:{}: the registry does not say its digest",
                tag.name
            ));
        };
        let now = current
            .iter()
            .find(|(r, _)| r == repo)
            .and_then(|(_, d)| d.clone());
        moves.push(Move {
            repository: repo.clone(),
            digest,
            media_type: tag.media_type.as_deref().map(str::to_string),
            current: now,
        });
    }
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_str;
    use crate::policy::prune::judge_fresh;
    use chrono::Utc;

    fn manifest(platforms: &str) -> Manifest {
        parse_str(
            "m.yaml",
            &format!(
                "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\n  protect: ['^latest$']\n{platforms}images: [base, nova]\n"
            ),
        )
        .unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn tag(name: &str, digest: &str, platforms: Option<&[&str]>) -> Tag {
        Tag {
            digest: Some(digest.into()),
            pushed: Some(Utc::now() - chrono::TimeDelta::hours(30)),
            platforms: platforms.map(|p| {
                crate::inventory::intern_platforms(p.iter().map(|s| s.parse().unwrap()).collect())
            }),
            ..Tag::new(name)
        }
    }

    #[test]
    fn build_tags_are_refused_and_unprotected_tags_warned() {
        let m = manifest("");
        assert!(check_tag(&m, "rocky-3").unwrap_err().contains("build tag"));
        assert_eq!(check_tag(&m, "latest"), Ok(None));
        let w = check_tag(&m, "stable").unwrap().unwrap();
        assert!(
            w.contains("'^stable$'") && w.contains("builds.protect"),
            "{w}"
        );
    }

    #[test]
    fn only_a_build_complete_under_a_fresh_look_with_verified_platforms_is_promotable() {
        let m = manifest("platforms: [linux/amd64, linux/arm64]\n");
        let both: &[&str] = &["linux/amd64", "linux/arm64"];
        let complete = vec![
            ("base".to_string(), Some(tag("rocky-3", "b3", Some(both)))),
            ("nova".to_string(), Some(tag("rocky-3", "n3", Some(both)))),
        ];
        let seen = judge_fresh(&m, "rocky-3", &complete, Utc::now());
        assert_eq!(promotable("rocky-3", seen.as_ref()), Ok(()));

        let missing = vec![
            ("base".to_string(), Some(tag("rocky-3", "b3", Some(both)))),
            ("nova".to_string(), None),
        ];
        let seen = judge_fresh(&m, "rocky-3", &missing, Utc::now());
        let why = promotable("rocky-3", seen.as_ref()).unwrap_err();
        assert!(
            why.contains("broken") && why.contains("missing in nova"),
            "{why}"
        );

        let short = vec![
            ("base".to_string(), Some(tag("rocky-3", "b3", Some(both)))),
            (
                "nova".to_string(),
                Some(tag("rocky-3", "n3", Some(&["linux/amd64"]))),
            ),
        ];
        let seen = judge_fresh(&m, "rocky-3", &short, Utc::now());
        let why = promotable("rocky-3", seen.as_ref()).unwrap_err();
        assert!(why.contains("nova lacks linux/arm64"), "{why}");

        let unverified = vec![
            ("base".to_string(), Some(tag("rocky-3", "b3", Some(both)))),
            ("nova".to_string(), Some(tag("rocky-3", "n3", None))),
        ];
        let seen = judge_fresh(&m, "rocky-3", &unverified, Utc::now());
        let why = promotable("rocky-3", seen.as_ref()).unwrap_err();
        assert!(why.contains("could not be verified"), "{why}");
        assert!(promotable("rocky-9", None).is_err());
    }

    #[test]
    fn a_build_nobody_pushed_is_said_so_not_called_broken() {
        let m = manifest("");
        let none = vec![("base".to_string(), None), ("nova".to_string(), None)];
        let seen = judge_fresh(&m, "rocky-99", &none, Utc::now());
        let why = promotable("rocky-99", seen.as_ref()).unwrap_err();
        assert_eq!(
            why,
            "no image of the set carries rocky-99 (is it a build that was pushed?)"
        );
    }

    #[test]
    fn a_build_with_a_tag_on_a_placeholder_is_refused_by_name() {
        let mut ph = tag("rocky-3", "sha256:ph", None);
        ph.placeholder = true;
        let fresh = vec![
            ("base".to_string(), Some(tag("rocky-3", "b3", None))),
            ("nova".to_string(), Some(ph)),
        ];
        let why = no_placeholders("linaro", "rocky-3", &fresh).unwrap_err();
        assert!(
            why.starts_with("rocky-3: linaro/nova:rocky-3 points at a tagsweep placeholder"),
            "{why}"
        );
        assert!(why.contains("run prune again to finish"), "{why}");
        assert_eq!(no_placeholders("linaro", "rocky-3", &fresh[..1]), Ok(()));
    }

    #[test]
    fn the_plan_moves_each_image_to_the_builds_digest_and_keeps_what_is_there() {
        let fresh = vec![
            ("base".to_string(), Some(tag("rocky-3", "b3", None))),
            ("nova".to_string(), Some(tag("rocky-3", "n3", None))),
        ];
        let current = vec![
            ("base".to_string(), Some("b3".to_string())),
            ("nova".to_string(), None),
        ];
        let moves = plan(&fresh, &current).unwrap();
        assert!(moves[0].unchanged());
        assert!(!moves[1].unchanged());
        assert_eq!(moves[1].current, None);
        assert_eq!(moves[1].digest, "n3");
    }

    #[test]
    fn newest_complete_is_by_natural_order() {
        let m = manifest("");
        let mut inventory = crate::inventory::Inventory::new("docker.io", "linaro");
        for repo in ["base", "nova"] {
            let mut tags = vec![
                tag("rocky-9", "a", None),
                tag("rocky-10", "b", None),
                tag("rocky-2", "c", None),
            ];
            if repo == "nova" {
                tags.push(tag("rocky-11", "d", None));
            } else {
                tags.push(tag("rocky-11", "e", None));
                tags.push(tag("rocky-12", "f", None));
            }
            inventory.repositories.insert(
                repo.into(),
                crate::inventory::Repository {
                    tags: Some(tags),
                    ..Default::default()
                },
            );
        }
        let report = crate::policy::evaluate(
            &m,
            &inventory,
            Utc::now(),
            &crate::policy::BuildSelection::All,
        );
        assert_eq!(
            newest_complete(&report),
            ["rocky-11", "rocky-10", "rocky-9", "rocky-2"]
        );
    }
}
