//! `tagsweep restore --journal FILE`: put back the tags a prune removed (or
//! undo a promote), from the journal — plan, show, confirm, act, record.
//!
//! What is put back, and what is never overwritten, is decided by the pure
//! `policy::restore`; this carries it out. For each tag to put back, while
//! planning (a dry run too): the manifest is read from the registry *by
//! digest* (every manifest type in `Accept`, its media type kept) and, for
//! an index, each child it lists is checked to be there (a HEAD each): a
//! registry refuses an index whose child is gone (`400 blob unknown`). A
//! digest the registry no longer has — the manifest, or a child — makes the
//! tag `unavailable` in the plan, by name, with what to do: rebuild that
//! image. Then, for each tag: its bytes checked against the digest, the tag
//! looked up once more right before (a tag pushed since the plan is left
//! alone), the manifest pushed under the tag (a manifest PUT, which needs
//! the push permission), and the tag read back.
//!
//! Before each change, an intent line (the tag, the digest it will point
//! at, the one it points at now) is on disk; each result is appended as it
//! completes (to the journal read, unless `--record FILE` names another),
//! so a restore can itself be seen — even one killed half way — and a rerun
//! converges. Exit 0 when every tag is back (or already was), 1 when some
//! could not be, 2 on errors.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use futures::StreamExt;

use super::{confirm_namespace, connect, load_manifest, Global, Outcome};
use crate::cli::{ConnectionArgs, RestoreArgs};
use crate::config::{api_url, open_registry_named};
use crate::journal::{self, Action, ChangeResult, Journal, Recorded};
use crate::output;
use crate::policy::restore::{decide, targets, Current, Step, Target};
use crate::progress::Progress;
use crate::registry::oci::image::{is_manifest_media_type, parse_manifest, Parsed};
use crate::registry::{ManifestBytes, Registry, RegistryError};

/// Why the tags after a permission error were not attempted.
const STOPPED: &str = "not attempted: the run stopped on a permission error";

pub async fn run(
    args: RestoreArgs,
    connection_args: &ConnectionArgs,
    global: Global,
) -> Result<Outcome> {
    let read = journal::read(&args.journal)?;
    for warning in &read.warnings {
        eprintln!("tagsweep: warning: {warning}");
    }
    let (wanted, problems) = targets(&read.lines, &args.builds);
    let shown = args.journal.display().to_string();
    for p in &problems {
        eprintln!(
            "tagsweep: {shown}:{}: {}: {}; it cannot be restored",
            p.line, p.reference, p.why
        );
    }
    if wanted.is_empty() {
        if problems.is_empty() {
            output::println(format!(
                "Nothing to restore: {shown} records no deleted or promoted tag{}.",
                if args.builds.is_empty() {
                    String::new()
                } else {
                    format!(" of {}", args.builds.join(", "))
                }
            ))?;
            return Ok(Outcome::Clean);
        }
        return Ok(Outcome::Findings);
    }
    let named = named_registry(&args)?;
    if let Some(named) = &named {
        let mut names: Vec<String> = wanted.iter().map(|t| registry_key(&t.registry)).collect();
        names.sort();
        names.dedup();
        if !names.contains(named) {
            bail!(
                "{shown} records changes on {}, not on {named} (named by --registry or -m); nothing was restored",
                names.join(", ")
            );
        }
    }
    let connection = connect(connection_args, global)?;
    let record_to = args.record.as_deref().unwrap_or(&args.journal);
    let mut record = match (args.dry_run, record_to) {
        (true, _) => None,
        (false, path) => Some(
            Journal::open(path)
                .with_context(|| format!("opening the journal {}", path.display()))?,
        ),
    };

    let mut incomplete = !problems.is_empty();
    for group in groups(wanted) {
        let first = &group[0];
        let (registry_name, namespace) = (first.registry.clone(), first.namespace.clone());
        let trusted = registry_name == "docker.io"
            || named.as_deref() == Some(registry_key(&registry_name).as_str());
        let registry = if trusted {
            open_registry_named(&registry_name, &namespace, &connection)?
        } else {
            if connection.has_unnamed_credentials() {
                eprintln!(
                    "tagsweep: {registry_name} is named by the journal, not by you: the credentials of --username/--password-stdin and {}/{} are not sent to it; give --registry {registry_name} (or -m a manifest naming it) to use them there, or `docker login` to it; going on without them",
                    crate::credentials::REGISTRY_USERNAME_ENV,
                    crate::credentials::REGISTRY_PASSWORD_ENV
                );
            }
            open_registry_named(
                &registry_name,
                &namespace,
                &connection.without_unnamed_credentials(),
            )?
        };
        let (steps, read) = look(
            registry.as_ref(),
            &group,
            args.force,
            connection.concurrency,
        )
        .await
        .with_context(|| {
            format!("looking up the tags to restore in {namespace} on {registry_name}")
        })?;
        output::print(plan_text(
            &registry_name,
            &namespace,
            &shown,
            &steps,
            args.dry_run,
        ))?;
        let acting = steps.iter().filter(|(_, s)| s.acts()).count();
        let left = steps
            .iter()
            .filter(|(_, s)| matches!(s, Step::LeftAlone { .. } | Step::Unavailable { .. }))
            .count();
        incomplete |= left > 0;
        if args.dry_run {
            continue;
        }
        if acting > 0 && !args.yes {
            let replacing = steps
                .iter()
                .filter(|(_, s)| matches!(s, Step::Replace { .. } | Step::Remove { .. }))
                .count();
            let question = if replacing > 0 {
                format!("Change {acting} tags in {namespace} ({replacing} of them exist now and are replaced or removed)?")
            } else {
                format!("Put back {acting} tags in {namespace}?")
            };
            confirm_namespace(&question, &namespace, "restore", "nothing was restored")?;
        }
        let show = Show {
            progress: global.progress(&connection),
            quiet: global.quiet,
        };
        show.progress
            .start_counting(&format!("restoring {namespace}"), steps.len(), "tags");
        let done = carry_out(registry.as_ref(), &steps, &read, &mut record, &shown, &show).await;
        show.progress.finish();
        let mut totals = Totals::default();
        for (_, result, _) in &done.results {
            totals.add(*result);
        }
        output::println(totals.summary())?;
        incomplete |= totals.incomplete();
        if let Some(e) = done.fatal {
            bail!("stopped restoring: {e}");
        }
    }
    Ok(if incomplete {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// The registry the user named (`--registry`, or `-m`'s manifest), as
/// [`registry_key`] writes it.
fn named_registry(args: &RestoreArgs) -> Result<Option<String>> {
    let flag = match &args.registry {
        Some(raw) => Some(
            api_key(raw)
                .with_context(|| format!("--registry {raw:?}: not docker.io nor a registry URL"))?,
        ),
        None => None,
    };
    let manifest = match &args.manifest {
        Some(path) => Some((path, registry_key(&load_manifest(path)?.registry.name()))),
        None => None,
    };
    match (flag, manifest) {
        (Some(flag), Some((path, of))) if flag != of => bail!(
            "--registry names {flag}, but the manifest {} names {of}; give one of them",
            path.display()
        ),
        (flag, manifest) => Ok(flag.or(manifest.map(|(_, of)| of))),
    }
}

/// `docker.io`, or an OCI registry's URL without its trailing slash, as a
/// journal names it.
fn api_key(raw: &str) -> Result<String> {
    let raw = raw.trim();
    if raw == "docker.io" {
        return Ok(raw.to_string());
    }
    Ok(api_url(raw)?.as_str().trim_end_matches('/').to_string())
}

/// A journal's registry, written as [`api_key`] writes it (as it is, when
/// it is neither).
fn registry_key(raw: &str) -> String {
    api_key(raw).unwrap_or_else(|_| raw.to_string())
}

/// The targets by (registry, namespace), in the journal's order.
fn groups(wanted: Vec<Target>) -> Vec<Vec<Target>> {
    let mut groups: Vec<Vec<Target>> = Vec::new();
    for t in wanted {
        match groups
            .iter_mut()
            .find(|g| g[0].registry == t.registry && g[0].namespace == t.namespace)
        {
            Some(g) => g.push(t),
            None => groups.push(vec![t]),
        }
    }
    groups
}

/// The manifests read while planning, by (repository, digest): what the
/// restore pushes.
type Read = HashMap<(String, String), ManifestBytes>;

/// Where each target's tag points now, and what to do with it; each
/// manifest to push read (and, for an index, its children checked) now,
/// so that the plan says which cannot be put back.
async fn look(
    registry: &dyn Registry,
    group: &[Target],
    force: bool,
    concurrency: usize,
) -> Result<(Vec<(Target, Step)>, Read), RegistryError> {
    type Looked = (Step, Option<ManifestBytes>);
    let looked: Vec<Result<Looked, RegistryError>> = futures::stream::iter(group)
        .map(|t| async move {
            let now = now_of(registry, t).await?;
            let step = decide(t, now.current(), force);
            if !step.puts() {
                return Ok((step, None));
            }
            Ok(match available(registry, t).await? {
                Ok(manifest) => (step, Some(manifest)),
                Err(why) => (Step::Unavailable { why }, None),
            })
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut steps = Vec::new();
    let mut read = Read::new();
    for (t, looked) in group.iter().zip(looked) {
        let (step, manifest) = looked?;
        if let (Some(m), Some(want)) = (manifest, &t.want) {
            read.insert((t.repository.clone(), want.clone()), m);
        }
        steps.push((t.clone(), step));
    }
    Ok((steps, read))
}

/// The manifest `t` wants, read by digest; `Err(why)` when the registry no
/// longer has it, or (an index) one of the manifests it lists.
async fn available(
    registry: &dyn Registry,
    t: &Target,
) -> Result<Result<ManifestBytes, String>, RegistryError> {
    let want = t.want.as_deref().expect("a put has a digest");
    let Some(fetched) = registry.get_manifest(&t.repository, want).await? else {
        return Ok(Err(gone(t, want)));
    };
    if let Parsed::Index {
        children,
        platforms,
        ..
    } = parse_manifest(fetched.media_type.as_deref(), &fetched.body)
    {
        let mut missing = Vec::new();
        for child in &children {
            if !registry.has_manifest(&t.repository, child).await? {
                let platform = platforms
                    .iter()
                    .find(|(_, d)| d == child)
                    .map(|(p, _)| format!(" ({p})"))
                    .unwrap_or_default();
                missing.push(format!("{child}{platform}"));
            }
        }
        if !missing.is_empty() {
            return Ok(Err(format!(
                "the registry no longer has {} of the index {want} (garbage-collected: `garbage-collect --delete-untagged` removes the images of untagged indexes), so the index cannot be pushed again; rebuild {}{} and push it again",
                missing.join(", "),
                t.reference(),
                t.build
                    .as_deref()
                    .map(|b| format!(" (build {b})"))
                    .unwrap_or_default()
            )));
        }
    }
    Ok(Ok(fetched))
}

/// Where a tag points now, as owned data.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Now {
    Absent,
    Placeholder(String),
    At(String),
}

impl Now {
    fn current(&self) -> Current<'_> {
        match self {
            Now::Absent => Current::Absent,
            Now::Placeholder(d) => Current::Placeholder(d),
            Now::At(d) => Current::At(d),
        }
    }

    /// The digest, whatever it is.
    fn digest(&self) -> Option<&str> {
        match self {
            Now::Absent => None,
            Now::Placeholder(d) | Now::At(d) => Some(d),
        }
    }
}

/// Where `t`'s tag points now. A tag the registry lists without a digest
/// is an error: nothing can be compared.
async fn now_of(registry: &dyn Registry, t: &Target) -> Result<Now, RegistryError> {
    match registry.get_tag(&t.repository, &t.tag).await? {
        None => Ok(Now::Absent),
        Some(tag) => {
            let digest = tag.digest.ok_or_else(|| {
                RegistryError::Refused(format!(
                    "{}: the registry does not say which digest the tag points to; cannot tell whether restoring would overwrite it",
                    t.reference()
                ))
            })?;
            Ok(if tag.placeholder {
                Now::Placeholder(digest)
            } else {
                Now::At(digest)
            })
        }
    }
}

/// The plan, as shown before anything happens.
fn plan_text(
    registry: &str,
    namespace: &str,
    journal: &str,
    steps: &[(Target, Step)],
    dry_run: bool,
) -> String {
    let acting = steps.iter().filter(|(_, s)| s.acts()).count();
    let mut out = format!(
        "Restore plan for {namespace} on {registry} (from {journal}): {acting} of {} tags to change{}\n",
        steps.len(),
        if dry_run {
            " (dry run: nothing will be changed)"
        } else {
            ""
        }
    );
    for (t, step) in steps {
        let build = match (t.from, t.build.as_deref()) {
            (Action::Promote, Some(b)) => format!(" (undoes the promote of {b})"),
            (Action::Promote, None) => " (undoes the promote)".to_string(),
            (_, Some(b)) => format!(" (build {b})"),
            (_, None) => String::new(),
        };
        // A change the journal records only as about to happen.
        let maybe = if !t.uncertain {
            ""
        } else if matches!(step, Step::Unchanged) {
            "; the change the journal records as begun, not finished, never reached it"
        } else {
            "; the journal records the change as begun, not finished (interrupted, or failed)"
        };
        let want = t.want.as_deref().unwrap_or("(no tag)");
        let line = match step {
            Step::Put => format!("  put back    {} → {want}{build}{maybe}", t.reference()),
            Step::PutOverPlaceholder { placeholder } => format!(
                "  put back    {} → {want}{build}: it points at tagsweep's placeholder {placeholder}, left by an interrupted prune{maybe}",
                t.reference()
            ),
            Step::Replace { current } if t.undoes.as_deref() == Some(current.as_str()) => {
                format!(
                    "  undo        {} {current} → {want}{build}{maybe}",
                    t.reference()
                )
            }
            Step::Replace { current } => format!(
                "  replace     {} {current} → {want}{build} (--force){maybe}",
                t.reference()
            ),
            Step::Remove { current } => format!(
                "  remove      {} (at {current}; it did not exist before){build}{maybe}",
                t.reference()
            ),
            Step::Unchanged => {
                format!(
                    "  unchanged   {} (already at {want}){build}{maybe}",
                    t.reference()
                )
            }
            Step::LeftAlone { why, .. } => {
                format!("  left alone  {}{build}: {why}", t.reference())
            }
            Step::Unavailable { why } => {
                format!("  unavailable {}{build}: {why}", t.reference())
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What carrying out a plan did.
#[derive(Default)]
struct Done {
    /// (reference, result, detail) in the order they completed.
    results: Vec<(String, ChangeResult, Option<String>)>,
    fatal: Option<RegistryError>,
}

/// One result of [`act`]: (result, detail, media type pushed).
type Acted = (ChangeResult, Option<String>, Option<String>);

/// Carries out each step in order: for a step that changes the registry,
/// an intent line on disk before its first change, then its result.
/// A permission error (401/403) stops the run: every further push would
/// be refused the same way.
async fn carry_out(
    registry: &dyn Registry,
    steps: &[(Target, Step)],
    read: &Read,
    record: &mut Option<Journal>,
    journal_name: &str,
    show: &Show,
) -> Done {
    let mut done = Done::default();
    for (t, step) in steps {
        let (result, detail, media_type) = if done.fatal.is_some() {
            (ChangeResult::Skipped, Some(STOPPED.to_string()), None)
        } else {
            let acted = match prepare(registry, t, step, read).await {
                Ok(Prepared::Finished(acted)) => Ok(acted),
                Ok(ready) => {
                    let entry = line(t, step, Recorded::Intent, None, ready.media_type());
                    write(record, &entry, journal_name);
                    change(registry, t, ready).await
                }
                Err(e) => Err(e),
            };
            match acted {
                Ok(r) => r,
                Err(e) => {
                    let detail = e.to_string();
                    if matches!(e.status(), Some(401 | 403)) {
                        done.fatal = Some(e);
                    }
                    (ChangeResult::Failed, Some(detail), None)
                }
            }
        };
        let entry = line(
            t,
            step,
            Recorded::Change(result),
            detail.as_deref(),
            media_type.as_deref(),
        );
        write(record, &entry, journal_name);
        show.tag_done(t, result, detail.as_deref());
        done.results.push((t.reference(), result, detail));
    }
    done
}

/// The journal line of `t`: an intent, or a result.
fn line<'a>(
    t: &'a Target,
    step: &'a Step,
    result: Recorded,
    detail: Option<&'a str>,
    media_type: Option<&'a str>,
) -> journal::Entry<'a> {
    let previous = match step {
        Step::Unchanged | Step::Unavailable { .. } => None,
        other => Some(other.current()),
    };
    journal::Entry {
        time: journal::timestamp(Utc::now()),
        action: Action::Restore,
        registry: &t.registry,
        namespace: &t.namespace,
        repository: &t.repository,
        tag: &t.tag,
        build: t.build.as_deref().unwrap_or(""),
        digest: t.want.as_deref(),
        media_type: media_type.or(t.media_type.as_deref()),
        previous_digest: previous,
        previous_media_type: None,
        result,
        detail,
    }
}

/// Appends `entry` to the journal, if there is one; a failure is said, and
/// the run goes on (the change is the user's; the record is ours).
fn write(record: &mut Option<Journal>, entry: &journal::Entry<'_>, journal_name: &str) {
    if let Some(j) = record.as_mut() {
        if let Err(e) = j.record(entry) {
            eprintln!("tagsweep: cannot write the journal {journal_name}: {e}");
        }
    }
}

/// What is shown on stderr as each tag is done, as prune shows its
/// deletions: on a terminal (no CI, neither `-q` nor `-v`), a bar per
/// registry and namespace, with a line for each tag that could not be
/// restored; elsewhere (CI logs, pipes, `-v`), a line per tag changed or
/// not; with `-q`, only the tags that could not be restored. The plan and
/// the closing counts are on stdout whatever the case.
struct Show {
    progress: Progress,
    quiet: bool,
}

impl Show {
    fn tag_done(&self, t: &Target, result: ChangeResult, detail: Option<&str>) {
        let what = format!("{}/{}", t.namespace, t.reference());
        let line = match result {
            ChangeResult::Done => match &t.want {
                Some(want) => format!("tagsweep: restored {what} at {want}"),
                None => format!("tagsweep: removed {what} (it did not exist before the promote)"),
            },
            ChangeResult::Unavailable | ChangeResult::Failed | ChangeResult::LeftAlone => {
                format!(
                    "tagsweep: could not restore {what}: {}",
                    detail.unwrap_or("")
                )
            }
            ChangeResult::Unchanged | ChangeResult::Skipped => String::new(),
        };
        let failed = result != ChangeResult::Done;
        if self.progress.is_shown() {
            self.progress.inc();
            if failed && !line.is_empty() {
                self.progress.line(&line);
            }
        } else if !line.is_empty() && (failed || !self.quiet) {
            eprintln!("{line}");
        }
    }
}

/// A step read and checked, ready for its one change (or finished without
/// one).
enum Prepared {
    /// Nothing to change: this is the result.
    Finished(Acted),
    /// Push `manifest` (of this media type) under the tag.
    Push {
        manifest: ManifestBytes,
        media_type: String,
    },
    /// Remove the tag.
    Remove,
}

impl Prepared {
    fn media_type(&self) -> Option<&str> {
        match self {
            Prepared::Push { media_type, .. } => Some(media_type),
            _ => None,
        }
    }
}

/// Reads what one step needs and checks that the tag is still where the
/// plan saw it; changes nothing.
async fn prepare(
    registry: &dyn Registry,
    t: &Target,
    step: &Step,
    read: &Read,
) -> Result<Prepared, RegistryError> {
    match step {
        Step::Unchanged => Ok(Prepared::Finished((ChangeResult::Unchanged, None, None))),
        Step::LeftAlone { why, .. } => Ok(Prepared::Finished((
            ChangeResult::LeftAlone,
            Some(why.clone()),
            None,
        ))),
        Step::Unavailable { why } => Ok(Prepared::Finished((
            ChangeResult::Unavailable,
            Some(why.clone()),
            None,
        ))),
        Step::Put | Step::PutOverPlaceholder { .. } | Step::Replace { .. } => {
            prepare_put(registry, t, step.current(), read).await
        }
        Step::Remove { current } => {
            if let Some(changed) = changed_since(registry, t, Some(current)).await? {
                return Ok(Prepared::Finished((
                    ChangeResult::LeftAlone,
                    Some(changed),
                    None,
                )));
            }
            Ok(Prepared::Remove)
        }
    }
}

/// Makes the one change `ready` stands for, and reads the tag back.
async fn change(
    registry: &dyn Registry,
    t: &Target,
    ready: Prepared,
) -> Result<Acted, RegistryError> {
    match ready {
        Prepared::Finished(acted) => Ok(acted),
        Prepared::Remove => {
            registry.delete_tag(&t.repository, &t.tag).await?;
            Ok((ChangeResult::Done, None, None))
        }
        Prepared::Push {
            manifest,
            media_type,
        } => {
            let want = t.want.as_deref().expect("a put has a digest");
            registry
                .put_manifest(&t.repository, &t.tag, &manifest)
                .await?;
            match now_of(registry, t).await? {
                Now::At(d) if d == want => Ok((ChangeResult::Done, None, Some(media_type))),
                now => Ok((
                    ChangeResult::Failed,
                    Some(format!(
                        "pushed, but the tag now points to {}, not {want}",
                        now.digest().unwrap_or("nothing")
                    )),
                    Some(media_type),
                )),
            }
        }
    }
}

/// `Some(why)` when the tag no longer points where the plan saw it.
async fn changed_since(
    registry: &dyn Registry,
    t: &Target,
    expected: Option<&str>,
) -> Result<Option<String>, RegistryError> {
    let now = now_of(registry, t).await?;
    if now.digest() == expected {
        return Ok(None);
    }
    Ok(Some(format!(
        "changed since the plan (it pointed to {}, now {}): left alone; run again",
        expected.unwrap_or("nothing"),
        now.digest().unwrap_or("nothing")
    )))
}

/// Checks the wanted manifest (read while planning; else read now by
/// digest), and that the tag still points to `expected` (`None`: absent):
/// ready to push.
async fn prepare_put(
    registry: &dyn Registry,
    t: &Target,
    expected: Option<&str>,
    read: &Read,
) -> Result<Prepared, RegistryError> {
    let want = t.want.as_deref().expect("a put has a digest");
    let planned = read.get(&(t.repository.clone(), want.to_string())).cloned();
    let fetched = match planned {
        Some(m) => Some(m),
        None => registry.get_manifest(&t.repository, want).await?,
    };
    let Some(fetched) = fetched else {
        return Ok(Prepared::Finished((
            ChangeResult::Unavailable,
            Some(gone(t, want)),
            None,
        )));
    };
    if want.starts_with("sha256:") && fetched.sha256() != want {
        return Ok(Prepared::Finished((
            ChangeResult::Failed,
            Some(format!(
                "the registry served bytes whose digest is {}, not {want}; nothing was pushed",
                fetched.sha256()
            )),
            None,
        )));
    }
    let media_type = fetched
        .media_type
        .clone()
        .filter(|m| is_manifest_media_type(m))
        .or_else(|| t.media_type.clone().filter(|m| is_manifest_media_type(m)));
    let Some(media_type) = media_type else {
        return Ok(Prepared::Finished((
            ChangeResult::Failed,
            Some(format!(
                "neither the registry nor the journal says the media type of {want}; nothing was pushed"
            )),
            None,
        )));
    };
    if let Some(changed) = changed_since(registry, t, expected).await? {
        return Ok(Prepared::Finished((
            ChangeResult::LeftAlone,
            Some(changed),
            None,
        )));
    }
    Ok(Prepared::Push {
        manifest: ManifestBytes {
            digest: Some(want.to_string()),
            media_type: Some(media_type.clone()),
            body: fetched.body,
        },
        media_type,
    })
}

/// Why `want` cannot be put back: the registry no longer has it.
fn gone(t: &Target, want: &str) -> String {
    format!(
        "the registry no longer has the manifest {want} (garbage-collected, or removed by the registry's retention): it cannot be put back; rebuild {}{} and push it again",
        t.reference(),
        t.build
            .as_deref()
            .map(|b| format!(" (build {b})"))
            .unwrap_or_default()
    )
}

/// Counts of the results, for the closing line.
#[derive(Default)]
struct Totals {
    done: usize,
    unchanged: usize,
    left_alone: usize,
    unavailable: usize,
    failed: usize,
    skipped: usize,
}

impl Totals {
    fn add(&mut self, r: ChangeResult) {
        match r {
            ChangeResult::Done => self.done += 1,
            ChangeResult::Unchanged => self.unchanged += 1,
            ChangeResult::LeftAlone => self.left_alone += 1,
            ChangeResult::Unavailable => self.unavailable += 1,
            ChangeResult::Failed => self.failed += 1,
            ChangeResult::Skipped => self.skipped += 1,
        }
    }

    fn incomplete(&self) -> bool {
        self.left_alone + self.unavailable + self.failed + self.skipped > 0
    }

    fn summary(&self) -> String {
        format!(
            "Restored {} tags, {} unchanged, {} left alone, {} no longer in the registry, {} failed{}.",
            self.done,
            self.unchanged,
            self.left_alone,
            self.unavailable,
            self.failed,
            if self.skipped > 0 {
                format!(", {} not attempted", self.skipped)
            } else {
                String::new()
            }
        )
    }
}
