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
//! * **Changes that may have happened** ([`Target::uncertain`]): a prune or
//!   promote *intent* line (written before the change, see
//!   `crate::journal`) with no result after it — the run was killed in
//!   between — or followed by `failed` (the request may have reached the
//!   registry before the failure). Such a tag is wanted back as if the
//!   change had happened, and [`decide`] makes that safe: a tag still at
//!   the digest it had before is left as it is. An intent followed by any
//!   other result of the same run (`already_gone`, `skipped`, …) asks for
//!   nothing; a later run's lines leave it standing (a rerun that finds the
//!   tag gone, or on tagsweep's placeholder, says nothing of what the
//!   interrupted run did), unless they record the change as made.
//!   Journals without intents read as before.
//! * **What to do with each** ([`decide`]): a tag that is absent is put
//!   back; so is one that points at tagsweep's own placeholder (the
//!   throw-away manifest an OCI prune moves a tag onto before deleting it,
//!   left there by an interrupted prune: it is tagsweep's, not someone's
//!   push, so no `--force` is needed); one already at the wanted digest is
//!   left as it is (a rerun); one that exists at another digest is never
//!   overwritten — it is left alone and reported, unless `--force` —
//!   except a tag that still points where the promote being undone put it,
//!   which is the change being undone.

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
    /// The change may not have happened: the journal's last word on the
    /// tag is an intent without a result, or a failure after one (see the
    /// module documentation).
    pub uncertain: bool,
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
    /// What the lines so far say of one tag.
    #[derive(Default)]
    struct Said {
        /// The last change recorded as made (or as failed after an intent).
        settled: Option<Result<Target, Unrestorable>>,
        /// An intent with no result yet, the command and the run that
        /// wrote it.
        pending: Option<(Action, Option<String>, Result<Target, Unrestorable>)>,
    }
    let mut order: Vec<(String, String, String, String)> = Vec::new();
    let mut said: HashMap<(String, String, String, String), Said> = HashMap::new();
    for line in lines {
        if line.action == Action::Restore {
            continue;
        }
        if !builds.is_empty()
            && !line
                .build
                .as_ref()
                .is_some_and(|b| builds.iter().any(|w| w == b))
        {
            continue;
        }
        let key = (
            line.registry.clone(),
            line.namespace.clone(),
            line.repository.clone(),
            line.tag.clone(),
        );
        let entry = said.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Said::default()
        });
        if line.is_intent() {
            entry.pending = Some((line.action, line.run.clone(), asked(line, true)));
            continue;
        }
        // The result of the pending intent: same command, same run.
        let after_intent = entry.pending.as_ref().is_some_and(|(action, run, _)| {
            *action == line.action && run.is_some() && *run == line.run
        });
        if after_intent {
            entry.pending = None;
        }
        match (line.action, line.result.as_str()) {
            (Action::Prune, "deleted") | (Action::Promote, "done") => {
                // The latest word: the change was made, from this digest.
                entry.pending = None;
                entry.settled = Some(asked(line, false));
            }
            // The request may have reached the registry before it failed.
            (_, "failed") if after_intent => entry.settled = Some(asked(line, true)),
            _ => {}
        }
    }
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for key in order {
        let Some(s) = said.remove(&key) else {
            continue;
        };
        match s.pending.map(|(_, _, asked)| asked).or(s.settled) {
            Some(Ok(t)) => targets.push(t),
            Some(Err(p)) => problems.push(p),
            None => {}
        }
    }
    (targets, problems)
}

/// What one prune or promote line asks to put back; `uncertain`: whether
/// the change it records may not have happened.
fn asked(line: &Line, uncertain: bool) -> Result<Target, Unrestorable> {
    let reference = format!("{}:{}", line.repository, line.tag);
    match line.action {
        Action::Promote => match &line.previous_digest {
            Some(previous) => Ok(target(
                line,
                previous.clone(),
                line.previous_media_type.clone(),
                line.digest.clone(),
                uncertain,
            )),
            None => Err(Unrestorable {
                line: line.number,
                reference,
                why: "the journal does not record where the tag pointed before the promote".into(),
            }),
        },
        _ => match &line.digest {
            Some(d) => Ok(target(
                line,
                Some(d.clone()),
                line.media_type.clone(),
                None,
                uncertain,
            )),
            None => Err(Unrestorable {
                line: line.number,
                reference,
                why: "the journal does not record the digest it pointed to".into(),
            }),
        },
    }
}

fn target(
    line: &Line,
    want: Option<String>,
    media_type: Option<String>,
    undoes: Option<String>,
    uncertain: bool,
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
        uncertain,
    }
}

/// Where a target's tag points now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Current<'a> {
    /// The tag does not exist.
    Absent,
    /// It points at tagsweep's placeholder (this digest): an interrupted
    /// prune's, not anyone's push.
    Placeholder(&'a str),
    /// It points at this digest.
    At(&'a str),
}

/// What to do with one target, given where its tag points now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The tag is absent: push the wanted manifest under it.
    Put,
    /// The tag points at tagsweep's placeholder (`placeholder`, left by an
    /// interrupted prune): push the wanted manifest under it, no `--force`
    /// needed.
    PutOverPlaceholder { placeholder: String },
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
    /// The wanted manifest (or a child of it) is no longer in the registry:
    /// it cannot be put back (`why` says which digest, and what to do).
    /// Found by the command, which reads each wanted digest before planning.
    Unavailable { why: String },
}

impl Step {
    /// Whether carrying it out changes the registry.
    pub fn acts(&self) -> bool {
        matches!(
            self,
            Step::Put
                | Step::PutOverPlaceholder { .. }
                | Step::Replace { .. }
                | Step::Remove { .. }
        )
    }

    /// Whether carrying it out pushes the wanted manifest.
    pub fn puts(&self) -> bool {
        matches!(
            self,
            Step::Put | Step::PutOverPlaceholder { .. } | Step::Replace { .. }
        )
    }

    /// Where the tag points as planned (`None`: absent): what it must still
    /// point to right before the change, and what the journal records as
    /// its previous digest.
    pub fn current(&self) -> Option<&str> {
        match self {
            Step::Put | Step::Unchanged | Step::Unavailable { .. } => None,
            Step::PutOverPlaceholder { placeholder } => Some(placeholder),
            Step::Replace { current }
            | Step::Remove { current }
            | Step::LeftAlone { current, .. } => Some(current),
        }
    }
}

/// What to do with `target` when its tag is `current` now; `force`: the
/// user asked to replace tags that exist at another digest (see the module
/// documentation).
pub fn decide(target: &Target, current: Current<'_>, force: bool) -> Step {
    match (&target.want, current) {
        (Some(want), Current::At(c)) if c == want => Step::Unchanged,
        (Some(_), Current::Absent) => Step::Put,
        (Some(_), Current::Placeholder(p)) => Step::PutOverPlaceholder {
            placeholder: p.to_string(),
        },
        (Some(want), Current::At(c)) => {
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
        (None, Current::Absent) => Step::Unchanged,
        // Tagsweep's own: it goes, as the tag should not exist.
        (None, Current::Placeholder(p)) => Step::Remove {
            current: p.to_string(),
        },
        (None, Current::At(c)) => {
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
            run: Some("run-1".into()),
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
            uncertain: false,
        }
    }

    #[test]
    fn a_tag_that_exists_elsewhere_is_never_overwritten_without_force() {
        let t = restore(Some("sha256:a"), None);
        assert_eq!(decide(&t, Current::Absent, false), Step::Put);
        assert_eq!(decide(&t, Current::At("sha256:a"), false), Step::Unchanged);
        let Step::LeftAlone { current, why } = decide(&t, Current::At("sha256:b"), false) else {
            panic!()
        };
        assert_eq!(current, "sha256:b");
        assert!(why.contains("--force"), "{why}");
        assert_eq!(
            decide(&t, Current::At("sha256:b"), true),
            Step::Replace {
                current: "sha256:b".into()
            }
        );
    }

    #[test]
    fn undoing_a_promote_touches_the_tag_only_where_the_promote_left_it() {
        let t = restore(Some("sha256:old"), Some("sha256:new"));
        assert_eq!(
            decide(&t, Current::At("sha256:new"), false),
            Step::Replace {
                current: "sha256:new".into()
            }
        );
        assert!(matches!(
            decide(&t, Current::At("sha256:other"), false),
            Step::LeftAlone { .. }
        ));
        assert_eq!(
            decide(&t, Current::At("sha256:old"), false),
            Step::Unchanged
        );

        let created = restore(None, Some("sha256:new"));
        assert_eq!(
            decide(&created, Current::At("sha256:new"), false),
            Step::Remove {
                current: "sha256:new".into()
            }
        );
        assert_eq!(decide(&created, Current::Absent, false), Step::Unchanged);
        assert!(matches!(
            decide(&created, Current::At("sha256:other"), true),
            Step::LeftAlone { .. }
        ));
    }

    fn intent(n: usize, action: Action, repo: &str, tag: &str) -> Line {
        let mut l = line(n, action, repo, tag, "rocky-2", "intent");
        if action == Action::Promote {
            l.previous_digest = Some(Some(format!("sha256:{repo}-before")));
        }
        l
    }

    /// The journal a killed run leaves: an intent, no result.
    #[test]
    fn an_intent_without_a_result_is_a_change_that_may_have_happened() {
        let lines = vec![
            // A prune killed during its request.
            intent(1, Action::Prune, "base", "rocky-2"),
            // A promote killed after its PUT.
            intent(2, Action::Promote, "base", "latest"),
            // One that completed: intent, then its result.
            intent(3, Action::Prune, "nova", "rocky-2"),
            line(4, Action::Prune, "nova", "rocky-2", "rocky-2", "deleted"),
            // One that found nothing to do: the intent is withdrawn.
            intent(5, Action::Prune, "glance", "rocky-2"),
            line(
                6,
                Action::Prune,
                "glance",
                "rocky-2",
                "rocky-2",
                "already_gone",
            ),
            // One whose request failed: it may have reached the registry.
            intent(7, Action::Prune, "keystone", "rocky-2"),
            line(8, Action::Prune, "keystone", "rocky-2", "rocky-2", "failed"),
            // A failure without an intent (an older journal): nothing asked.
            line(9, Action::Prune, "horizon", "rocky-2", "rocky-2", "failed"),
        ];
        let (t, problems) = targets(&lines, &[]);
        assert!(problems.is_empty(), "{problems:?}");
        let got: Vec<(String, Option<String>, Option<String>, bool)> = t
            .iter()
            .map(|t| (t.reference(), t.want.clone(), t.undoes.clone(), t.uncertain))
            .collect();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            got,
            [
                (
                    "base:rocky-2".into(),
                    s("sha256:base-rocky-2-1"),
                    None,
                    true
                ),
                (
                    "base:latest".into(),
                    s("sha256:base-before"),
                    s("sha256:base-latest-2"),
                    true
                ),
                (
                    "nova:rocky-2".into(),
                    s("sha256:nova-rocky-2-4"),
                    None,
                    false
                ),
                (
                    "keystone:rocky-2".into(),
                    s("sha256:keystone-rocky-2-8"),
                    None,
                    true
                ),
            ]
        );
        // What decide makes of them: a tag the change never reached is left
        // as it is; one it reached is put back.
        assert_eq!(
            decide(&t[0], Current::At("sha256:base-rocky-2-1"), false),
            Step::Unchanged
        );
        assert_eq!(decide(&t[0], Current::Absent, false), Step::Put);
        assert_eq!(
            decide(&t[1], Current::At("sha256:base-before"), false),
            Step::Unchanged
        );
        assert_eq!(
            decide(&t[1], Current::At("sha256:base-latest-2"), false),
            Step::Replace {
                current: "sha256:base-latest-2".into()
            }
        );
    }

    #[test]
    fn an_earlier_deletion_still_counts_after_a_withdrawn_intent() {
        let lines = vec![
            line(1, Action::Prune, "base", "rocky-2", "rocky-2", "deleted"),
            // A rerun: the tag is gone already.
            intent(2, Action::Prune, "base", "rocky-2"),
            line(
                3,
                Action::Prune,
                "base",
                "rocky-2",
                "rocky-2",
                "already_gone",
            ),
        ];
        let (t, _) = targets(&lines, &[]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].want.as_deref(), Some("sha256:base-rocky-2-1"));
        assert!(!t[0].uncertain);
    }

    /// A killed prune's intent, then a rerun that found the tag gone (or on
    /// tagsweep's placeholder) and wrote `already_gone` without an intent:
    /// the rerun says nothing of what the killed run did.
    #[test]
    fn a_later_runs_result_does_not_answer_an_earlier_runs_intent() {
        let mut rerun = line(
            2,
            Action::Prune,
            "base",
            "rocky-2",
            "rocky-2",
            "already_gone",
        );
        rerun.run = Some("run-2".into());
        let lines = vec![intent(1, Action::Prune, "base", "rocky-2"), rerun];
        let (t, _) = targets(&lines, &[]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].want.as_deref(), Some("sha256:base-rocky-2-1"));
        assert!(t[0].uncertain);
    }

    #[test]
    fn a_placeholder_is_replaced_without_force_and_removed_where_no_tag_was() {
        let t = restore(Some("sha256:a"), None);
        assert_eq!(
            decide(&t, Current::Placeholder("sha256:ph"), false),
            Step::PutOverPlaceholder {
                placeholder: "sha256:ph".into()
            }
        );
        let created = restore(None, Some("sha256:new"));
        assert_eq!(
            decide(&created, Current::Placeholder("sha256:ph"), false),
            Step::Remove {
                current: "sha256:ph".into()
            }
        );
    }
}
