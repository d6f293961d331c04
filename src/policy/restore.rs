//! What `tagsweep restore` puts back, decided from a journal and what the
//! registry holds now. Pure: journal lines and looked-up digests in,
//! decisions out; the command does the looking and the pushing.
//!
//! * **What the journal asks for** ([`targets`]): every tag a prune line
//!   records as `deleted`, back at the digest it recorded; every tag a
//!   promote line records as `done`, back where it was before the promote
//!   (its `previous_digest`), or gone again when it did not exist before.
//!   When a tag has several such lines, the last one counts (a journal is
//!   appended in the order things happened). `--build` keeps the lines of
//!   those builds. Restore lines are records of restores, not requests.
//! * **What to do with each** ([`decide`]): a tag that is absent is put
//!   back; one already at the wanted digest is left as it is (a rerun); one
//!   that exists at another digest is never overwritten — it is left alone
//!   and reported, unless `--force` — except a tag that still points where
//!   the promote being undone put it, which is the change being undone.

use std::collections::HashMap;

use crate::journal::{Action, Line};

/// One tag the journal asks to put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `docker.io` or the OCI registry's URL, as the journal says.
    pub registry: String,
    pub namespace: String,
    /// The repository inside the namespace.
    pub repository: String,
    pub tag: String,
    /// The build the line was about, when it says.
    pub build: Option<String>,
    /// The digest the tag should point to again; `None`: the tag should not
    /// exist (undoing a promote that created it).
    pub want: Option<String>,
    /// The media type of `want`, when the journal recorded it.
    pub media_type: Option<String>,
    /// For the undo of a promote: the digest the promote pointed the tag
    /// at. The tag is changed back without `--force` only while it still
    /// points there.
    pub undoes: Option<String>,
    /// What the line records: a prune or a promote.
    pub from: Action,
    /// The journal line (1-based).
    pub line: usize,
}

impl Target {
    /// `repository:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// A line that asks for a restore tagsweep cannot do, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrestorable {
    pub line: usize,
    pub reference: String,
    pub why: String,
}

/// What the journal asks to put back (see the module documentation), in
/// the order of the lines that ask, grouped by nothing: the caller groups
/// by registry and namespace. `builds`: only lines of these builds (all
/// when empty).
pub fn targets(lines: &[Line], builds: &[String]) -> (Vec<Target>, Vec<Unrestorable>) {
    let mut last: HashMap<(String, String, String, String), usize> = HashMap::new();
    let mut wanted: Vec<Result<Target, Unrestorable>> = Vec::new();
    for line in lines {
        if !builds.is_empty()
            && !line
                .build
                .as_ref()
                .is_some_and(|b| builds.iter().any(|w| w == b))
        {
            continue;
        }
        let reference = format!("{}:{}", line.repository, line.tag);
        let asked = match (line.action, line.result.as_str()) {
            (Action::Prune, "deleted") => Some(match &line.digest {
                Some(d) => Ok(target(line, Some(d.clone()), line.media_type.clone(), None)),
                None => Err(Unrestorable {
                    line: line.number,
                    reference,
                    why: "the journal does not record the digest it pointed to".into(),
                }),
            }),
            (Action::Promote, "done") => Some(match &line.previous_digest {
                Some(previous) => Ok(target(
                    line,
                    previous.clone(),
                    line.previous_media_type.clone(),
                    line.digest.clone(),
                )),
                None => Err(Unrestorable {
                    line: line.number,
                    reference,
                    why: "the journal does not record where the tag pointed before the promote"
                        .into(),
                }),
            }),
            _ => None,
        };
        let Some(asked) = asked else {
            continue;
        };
        let key = (
            line.registry.clone(),
            line.namespace.clone(),
            line.repository.clone(),
            line.tag.clone(),
        );
        match last.get(&key) {
            Some(&k) => wanted[k] = asked,
            None => {
                last.insert(key, wanted.len());
                wanted.push(asked);
            }
        }
    }
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for w in wanted {
        match w {
            Ok(t) => targets.push(t),
            Err(p) => problems.push(p),
        }
    }
    (targets, problems)
}

fn target(
    line: &Line,
    want: Option<String>,
    media_type: Option<String>,
    undoes: Option<String>,
) -> Target {
    Target {
        registry: line.registry.clone(),
        namespace: line.namespace.clone(),
        repository: line.repository.clone(),
        tag: line.tag.clone(),
        build: line.build.clone(),
        want,
        media_type,
        undoes,
        from: line.action,
        line: line.number,
    }
}

/// What to do with one target, given where its tag points now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The tag is absent: push the wanted manifest under it.
    Put,
    /// The tag already is where it should be: nothing to do.
    Unchanged,
    /// The tag points elsewhere (`current`) and is replaced: with `--force`,
    /// or because that is where the promote being undone put it.
    Replace { current: String },
    /// The tag exists (`current`) but should not (a promote created it):
    /// remove it.
    Remove { current: String },
    /// The tag exists at `current`, which this restore may not replace:
    /// reported, left as it is.
    LeftAlone { current: String, why: String },
}

impl Step {
    /// Whether carrying it out changes the registry.
    pub fn acts(&self) -> bool {
        matches!(self, Step::Put | Step::Replace { .. } | Step::Remove { .. })
    }
}

/// What to do with `target` when its tag points to `current` now (`None`:
/// absent); `force`: the user asked to replace tags that exist at another
/// digest (see the module documentation).
pub fn decide(target: &Target, current: Option<&str>, force: bool) -> Step {
    match (&target.want, current) {
        (Some(want), Some(c)) if c == want => Step::Unchanged,
        (Some(_), None) => Step::Put,
        (Some(want), Some(c)) => {
            if target.undoes.as_deref() == Some(c) || force {
                Step::Replace {
                    current: c.to_string(),
                }
            } else {
                Step::LeftAlone {
                    current: c.to_string(),
                    why: format!(
                        "exists now at {c}, not at {want}: left alone (--force replaces it)"
                    ),
                }
            }
        }
        (None, None) => Step::Unchanged,
        (None, Some(c)) => {
            if target.undoes.as_deref() == Some(c) {
                Step::Remove {
                    current: c.to_string(),
                }
            } else {
                Step::LeftAlone {
                    current: c.to_string(),
                    why: format!(
                        "did not exist before the promote, but points now to {c}, not where the promote put it: someone pushed it since; left alone"
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize, action: Action, repo: &str, tag: &str, build: &str, result: &str) -> Line {
        Line {
            number: n,
            time: None,
            action,
            registry: "docker.io".into(),
            namespace: "linaro".into(),
            repository: repo.into(),
            tag: tag.into(),
            build: Some(build.into()),
            digest: Some(format!("sha256:{repo}-{tag}-{n}")),
            media_type: None,
            previous_digest: None,
            previous_media_type: None,
            result: result.into(),
            detail: None,
        }
    }

    #[test]
    fn deleted_tags_come_back_at_their_recorded_digests() {
        let lines = vec![
            line(1, Action::Prune, "base", "rocky-2", "rocky-2", "deleted"),
            line(
                2,
                Action::Prune,
                "nova",
                "rocky-2",
                "rocky-2",
                "already_gone",
            ),
            line(3, Action::Prune, "glance", "rocky-2", "rocky-2", "failed"),
            line(4, Action::Prune, "base", "rocky-5", "rocky-5", "deleted"),
            line(5, Action::Restore, "base", "rocky-5", "rocky-5", "done"),
        ];
        let (t, problems) = targets(&lines, &[]);
        assert!(problems.is_empty());
        let got: Vec<(String, Option<String>)> =
            t.iter().map(|t| (t.reference(), t.want.clone())).collect();
        assert_eq!(
            got,
            [
                ("base:rocky-2".into(), Some("sha256:base-rocky-2-1".into())),
                ("base:rocky-5".into(), Some("sha256:base-rocky-5-4".into())),
            ]
        );
        let (only, _) = targets(&lines, &["rocky-5".to_string()]);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].tag, "rocky-5");
    }

    #[test]
    fn the_last_line_of_a_tag_counts_and_a_missing_digest_is_said() {
        let mut first = line(1, Action::Prune, "base", "rocky-2", "rocky-2", "deleted");
        first.digest = None;
        let lines = vec![
            first.clone(),
            line(2, Action::Prune, "base", "rocky-2", "rocky-2", "deleted"),
            line(3, Action::Prune, "base", "rocky-3", "rocky-3", "deleted"),
            Line {
                number: 4,
                tag: "rocky-3".into(),
                ..first
            },
        ];
        let (t, problems) = targets(&lines, &[]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].want.as_deref(), Some("sha256:base-rocky-2-2"));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 4);
        assert!(problems[0].why.contains("digest"), "{:?}", problems[0]);
    }

    #[test]
    fn a_promote_is_undone_to_where_the_tag_was_or_to_no_tag() {
        let mut moved = line(1, Action::Promote, "base", "latest", "rocky-3", "done");
        moved.previous_digest = Some(Some("sha256:old".into()));
        let mut created = line(2, Action::Promote, "nova", "latest", "rocky-3", "done");
        created.previous_digest = Some(None);
        let mut unsaid = line(3, Action::Promote, "glance", "latest", "rocky-3", "done");
        unsaid.previous_digest = None;
        let (t, problems) = targets(&[moved, created, unsaid], &[]);
        assert_eq!(t[0].want.as_deref(), Some("sha256:old"));
        assert_eq!(t[0].undoes.as_deref(), Some("sha256:base-latest-1"));
        assert_eq!(t[1].want, None);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].reference, "glance:latest");
    }

    fn restore(want: Option<&str>, undoes: Option<&str>) -> Target {
        Target {
            registry: "docker.io".into(),
            namespace: "linaro".into(),
            repository: "base".into(),
            tag: "rocky-2".into(),
            build: None,
            want: want.map(str::to_string),
            media_type: None,
            undoes: undoes.map(str::to_string),
            from: Action::Prune,
            line: 1,
        }
    }

    #[test]
    fn a_tag_that_exists_elsewhere_is_never_overwritten_without_force() {
        let t = restore(Some("sha256:a"), None);
        assert_eq!(decide(&t, None, false), Step::Put);
        assert_eq!(decide(&t, Some("sha256:a"), false), Step::Unchanged);
        let Step::LeftAlone { current, why } = decide(&t, Some("sha256:b"), false) else {
            panic!()
        };
        assert_eq!(current, "sha256:b");
        assert!(why.contains("--force"), "{why}");
        assert_eq!(
            decide(&t, Some("sha256:b"), true),
            Step::Replace {
                current: "sha256:b".into()
            }
        );
    }

    #[test]
    fn undoing_a_promote_touches_the_tag_only_where_the_promote_left_it() {
        let t = restore(Some("sha256:old"), Some("sha256:new"));
        assert_eq!(
            decide(&t, Some("sha256:new"), false),
            Step::Replace {
                current: "sha256:new".into()
            }
        );
        assert!(matches!(
            decide(&t, Some("sha256:other"), false),
            Step::LeftAlone { .. }
        ));
        assert_eq!(decide(&t, Some("sha256:old"), false), Step::Unchanged);

        let created = restore(None, Some("sha256:new"));
        assert_eq!(
            decide(&created, Some("sha256:new"), false),
            Step::Remove {
                current: "sha256:new".into()
            }
        );
        assert_eq!(decide(&created, None, false), Step::Unchanged);
        assert!(matches!(
            decide(&created, Some("sha256:other"), true),
            Step::LeftAlone { .. }
        ));
    }
}
