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
use crate::scan::Scope;

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
    let mut inventory = list(registry.as_ref(), &both, &connection, global, &Scope::All)
        .await?
        .inventory;
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
