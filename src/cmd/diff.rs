//! `tagsweep diff OLD NEW`: what a manifest change does. One inventory —
//! live, or a snapshot (`--from`, offline and without credentials) — is
//! read once, for the images of both manifests, then judged under each
//! as of the same time by the audit and prune policies, and the two
//! judgements compared (`policy::diff`). Nothing is recorded: a diff judges
//! manifests, not the registry.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Result};
use chrono::Utc;

use super::{connect, list, observations, verify, Global, Outcome};
use crate::cli::{ConnectionArgs, DiffArgs, DiffFormat};
use crate::config::open_registry;
use crate::manifest::{self, Manifest, ManifestError, RegistryRef};
use crate::output;
use crate::policy::diff::{compare, judge, reading_both, Side};
use crate::render::{self, github};
use crate::scan::{set_prefix, Scope};

pub async fn run(
    args: DiffArgs,
    connection_args: &ConnectionArgs,
    global: Global,
) -> Result<Outcome> {
    let (old, new) = load_both(&args.old, &args.new, args.format)?;
    same_place(&old, &new)?;
    let now = args
        .now
        .as_deref()
        .map(super::audit::parse_now)
        .transpose()?;
    let connection = connect(connection_args, global)?;
    let both = reading_both(&old, &new);
    let registry = open_registry(&both, &connection, args.from.as_deref())?;
    let mut inventory = match list(registry.as_ref(), &both, &connection, global, &Scope::All).await
    {
        Ok(scanned) => scanned.inventory,
        Err(e) => match (&args.from, outside_the_prefix(&old, &new)) {
            (Some(snapshot), Some(outside)) => bail!("{}: {outside}", snapshot.display()),
            _ => return Err(e),
        },
    };
    let now = now.or(registry.snapshot_time()).unwrap_or_else(Utc::now);
    if args.verify_platforms {
        verify(
            registry.as_ref(),
            &both,
            &mut inventory,
            None,
            &connection,
            global,
        )
        .await?;
    }
    // What earlier runs saw proves builds' ages to prune, as for `prune
    // --dry-run`; read, never written.
    let seen = observations(
        &args.observations,
        &connection,
        &registry.name(),
        &new.namespace,
        global,
    );
    let judged_old = judge(&old, &inventory, now, |r| seen.unchanged(r));
    let judged_new = judge(&new, &inventory, now, |r| seen.unchanged(r));
    let diff = compare(
        Side {
            manifest: &old,
            judgement: &judged_old,
        },
        Side {
            manifest: &new,
            judgement: &judged_new,
        },
    );
    let text = match args.format {
        DiffFormat::Table => {
            let width = std::io::stdout()
                .is_terminal()
                .then(super::audit::terminal_width)
                .flatten();
            render::diff::table::render(&diff, global.verbose, width)
        }
        DiffFormat::Markdown => render::diff::markdown::render(&diff),
        DiffFormat::Github => render::diff::github::render(&diff, &old, &new),
        DiffFormat::Json => render::diff::json::render(&diff),
    };
    output::print(text)?;
    Ok(if diff.has_findings() {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// Loads both manifests, reporting every problem of both (as `::error`
/// annotations too with `--format github`) before giving up. Prints their
/// warnings on stderr; with `--format github`, as `::warning` annotations
/// on stdout, as `validate --format github` does (the diff's renderer
/// places them after its verdict, see `render::diff::github`).
fn load_both(old: &Path, new: &Path, format: DiffFormat) -> Result<(Manifest, Manifest)> {
    let loaded = [manifest::load(old), manifest::load(new)];
    let github = format == DiffFormat::Github;
    let mut problems = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for result in &loaded {
        match result {
            Ok(m) => warnings.extend(&m.warnings),
            Err(ManifestError::Invalid { problems: found }) => problems.extend(found),
            Err(other) => errors.push(other.to_string()),
        }
    }
    if github {
        for p in &problems {
            output::println(super::validate::github_problem(p, github::Level::Error))?;
        }
    }
    let failed = !problems.is_empty() || !errors.is_empty();
    for warning in warnings {
        match github {
            false => eprintln!("tagsweep: {}", warning.as_warning()),
            // With a diff to render, the renderer prints them.
            true if failed => output::println(super::validate::github_problem(
                warning,
                github::Level::Warning,
            ))?,
            true => {}
        }
    }
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        errors.push(format!(
            "{} invalid ({} problem{}):\n{}",
            if problems.iter().all(|p| p.file == problems[0].file) {
                format!("{} is", problems[0].file)
            } else {
                "both manifests are".to_string()
            },
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            lines.join("\n")
        ));
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    let [old, new] = loaded;
    Ok((old?, new?))
}

/// Both manifests must describe the same repositories' home: the diff
/// judges one inventory under both.
fn same_place(old: &Manifest, new: &Manifest) -> Result<()> {
    let place = |m: &Manifest| {
        let registry = match &m.registry {
            RegistryRef::DockerHub => "docker.io".to_string(),
            RegistryRef::Oci { url } => url.as_str().trim_end_matches('/').to_string(),
        };
        format!("namespace {} on {registry}", m.namespace)
    };
    let (o, n) = (place(old), place(new));
    if o != n {
        bail!(
            "{} names {o}, {} names {n}: diff judges one inventory under both manifests, so both must \
             name the same registry and namespace (to move a set, audit the new place with NEW alone)",
            old.source,
            new.source
        );
    }
    Ok(())
}

/// Why a snapshot cannot serve this diff, when an image of one manifest
/// lies outside the name prefix the other's images share (`zzz-other`
/// added to a `debian-source-` set): the diff then reads every repository
/// of the namespace (see `scan`), as a snapshot taken with the other
/// manifest did not record them. `None` when the prefixes agree.
fn outside_the_prefix(old: &Manifest, new: &Manifest) -> Option<String> {
    let prefix = |m: &Manifest| set_prefix(m.images.iter().map(|i| i.name.as_str()));
    let (old_prefix, new_prefix) = (prefix(old), prefix(new));
    let both = set_prefix(
        old.images
            .iter()
            .chain(&new.images)
            .map(|i| i.name.as_str()),
    );
    // The manifest the snapshot was taken with (its images share the
    // longer prefix), and the other one, with images outside it.
    let old_is_taken = old_prefix.len() >= new_prefix.len();
    let (taken, taken_prefix, other) = if old_is_taken {
        (old, old_prefix, new)
    } else {
        (new, new_prefix, old)
    };
    if both.len() >= taken_prefix.len() {
        return None;
    }
    let outside: Vec<String> = other
        .images
        .iter()
        .filter(|i| !i.name.starts_with(&taken_prefix) && taken.image(&i.name).is_none())
        .map(|i| i.name.clone())
        .collect();
    let outside = crate::render::shorten(&outside, crate::render::MAX_NAMES);
    let (taken_word, other_word) = if old_is_taken {
        ("OLD", "NEW")
    } else {
        ("NEW", "OLD")
    };
    let what = if old_is_taken {
        format!("NEW ({}) adds {outside},", new.source)
    } else {
        format!("OLD ({}) has {outside}, which NEW removes,", old.source)
    };
    Some(format!(
        "{what} outside the prefix {taken_prefix} that {taken_word}'s images share: a diff of both then \
         reads every repository of {}{}, and this snapshot, taken with {taken_word} (or a manifest like \
         it), did not record them all. Take a new snapshot with {other_word} (tagsweep snapshot -m {} -o \
         FILE), or with a manifest of both's images, and diff from it",
        new.namespace,
        if both.is_empty() {
            String::new()
        } else {
            format!(" whose name starts with {both}")
        },
        other.source,
    ))
}
