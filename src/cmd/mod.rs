//! One module per subcommand. Each takes its checked arguments, does its job
//! through the registry trait and the pure policy, prints, and says whether
//! it found something (exit 1) or not (exit 0); errors are exit 2.

pub mod audit;
pub mod prune;
pub mod shell;
pub mod snapshot;
pub mod validate;

use anyhow::{Context, Result};

use crate::cli::{ConnectionArgs, ObservationArgs};
use crate::config::{read_stdin_line, Connection};
use crate::observations::Observations;
use crate::registry::Registry;
use crate::scan::{scan, Scanned, Scope};

use crate::manifest::{self, Manifest, ManifestError};

/// Options every command shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Global {
    /// `-v`: every request, retry and wait on stderr.
    pub verbose: bool,
    /// `-q`: no progress bar, no informational messages.
    pub quiet: bool,
}

impl Global {
    pub fn progress(&self) -> crate::progress::Progress {
        crate::progress::Progress::for_terminal(self.quiet || self.verbose)
    }
}

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report: exit 0.
    Clean,
    /// Something the user must act on: exit 1.
    Findings,
}

/// Resolves `--hub-url`, `-j` and the credential inputs against the
/// process's environment and stdin.
pub fn connect(args: &ConnectionArgs, global: Global) -> Result<Connection> {
    Connection::resolve(
        args,
        global.verbose,
        |k| std::env::var(k).ok(),
        read_stdin_line,
    )
}

/// Lists what `scope` needs from `registry`, with a progress bar where one
/// is wanted; an error says which listing failed.
pub async fn list(
    registry: &dyn Registry,
    manifest: &Manifest,
    connection: &Connection,
    global: Global,
    scope: &Scope,
) -> Result<Scanned> {
    scan(
        registry,
        manifest,
        connection.concurrency,
        &global.progress(),
        scope,
    )
    .await
    .with_context(|| format!("listing {} on {}", manifest.namespace, registry.name()))
}

/// The observations of incomplete builds kept for `manifest`'s registry and
/// namespace: `--state FILE`, else the user's cache directory. A run from a
/// snapshot reads them but never records (`read_only`): what it saw is not
/// the registry now. A file that cannot be used is ignored with a note.
pub fn observations(
    args: &ObservationArgs,
    registry: &str,
    namespace: &str,
    global: Global,
) -> Observations {
    let path = args.state.clone().or_else(|| {
        crate::cache_dir::default_cache_dir().map(|dir| {
            dir.join("observations")
                .join(crate::observations::file_name(registry, namespace))
        })
    });
    let Some(path) = path else {
        if !global.quiet {
            eprintln!(
                "tagsweep: no cache directory (no home directory?): observations of incomplete builds are not kept; give --state FILE to keep them"
            );
        }
        return Observations::disabled();
    };
    let (observations, note) = Observations::open(path, registry, namespace);
    if let Some(note) = note {
        eprintln!("tagsweep: {note}");
    }
    observations
}

/// Writes the observations back; a failure is a note, not an error: the
/// only cost is that the builds they would corroborate wait longer.
pub fn save_observations(observations: &Observations, global: Global) {
    match observations.save() {
        Ok(()) => {
            if global.verbose {
                if let Some(path) = observations.path() {
                    eprintln!(
                        "tagsweep: observations of incomplete builds kept in {}",
                        path.display()
                    );
                }
            }
        }
        Err(e) => eprintln!(
            "tagsweep: cannot keep the observations of incomplete builds in {}: {e}",
            observations
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
    }
}

/// Refuses a `--build TAG` that is not a build tag of the manifest (a typo,
/// or `latest`): a usage error, before anything is asked of the registry.
pub fn check_build_tags(manifest: &Manifest, tags: &[String]) -> Result<()> {
    for tag in tags {
        if !manifest.builds.is_build(tag) {
            anyhow::bail!(
                "--build {tag}: {tag:?} does not match builds.pattern {:?} of {}",
                manifest.builds.pattern.as_str(),
                manifest.source
            );
        }
    }
    Ok(())
}

/// Loads a manifest for a command that needs a valid one; every problem is in the error.
pub fn load_manifest(path: &std::path::Path) -> Result<Manifest> {
    manifest::load(path).map_err(|e| match e {
        ManifestError::Invalid { problems } => {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "the manifest is invalid ({} problem{}):\n{}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                lines.join("\n")
            )
        }
        other => anyhow::Error::new(other),
    })
}
