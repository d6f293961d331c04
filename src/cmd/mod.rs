//! One module per subcommand. Each takes its checked arguments, does its job
//! through the registry trait and the pure policy, prints, and says whether
//! it found something (exit 1) or not (exit 0); errors are exit 2.

pub mod audit;
pub mod diff;
pub mod promote;
pub mod prune;
pub mod restore;
pub mod shell;
pub mod snapshot;
pub mod validate;

use anyhow::{Context, Result};

use crate::cli::{ConnectionArgs, ObservationArgs};
use crate::config::{read_stdin_line, Connection};
use crate::inventory::Inventory;
use crate::inventory_cache::InventoryCache;
use crate::manifest::RegistryRef;
use crate::observations::Observations;
use crate::platform_cache::{self, PlatformCache};
use crate::registry::Registry;
use crate::scan::{scan, Incremental, Scanned, Scope};
use crate::verify::verify_platforms;

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
    /// A progress bar on `connection`'s terminal, where one is wanted (never
    /// with `-q` or `-v`: the lines `-v` prints are the progress then).
    pub fn progress(&self, connection: &Connection) -> crate::progress::Progress {
        connection.terminal.progress(self.quiet || self.verbose)
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
/// is wanted; an error says which listing failed. Reads everything the
/// scope needs (see [`list_cached`] for the inventory cache).
pub async fn list(
    registry: &dyn Registry,
    manifest: &Manifest,
    connection: &Connection,
    global: Global,
    scope: &Scope,
) -> Result<Scanned> {
    list_from(registry, manifest, connection, global, scope, false).await
}

/// [`list`], but a whole listing of Docker Hub reads only what changed
/// since the inventory cache was written, and refreshes it (see
/// [`open_inventory_cache`]): for audit and prune's planning.
pub async fn list_cached(
    registry: &dyn Registry,
    manifest: &Manifest,
    connection: &Connection,
    global: Global,
    scope: &Scope,
) -> Result<Scanned> {
    list_from(registry, manifest, connection, global, scope, true).await
}

async fn list_from(
    registry: &dyn Registry,
    manifest: &Manifest,
    connection: &Connection,
    global: Global,
    scope: &Scope,
    cached: bool,
) -> Result<Scanned> {
    let mut cache = if cached && *scope == Scope::All {
        open_inventory_cache(registry, manifest, connection, global)
    } else {
        None
    };
    let scanned = scan(
        registry,
        manifest,
        connection.concurrency,
        &global.progress(connection),
        &connection.notes,
        scope,
        cache.as_mut().map(|cache| Incremental { cache }),
    )
    .await
    .with_context(|| format!("listing {} on {}", manifest.namespace, registry.name()))?;
    if let (Some(cache), Some(outcome)) = (&cache, &scanned.incremental) {
        let counts = outcome.counts;
        if global.verbose {
            eprintln!(
                "tagsweep: inventory cache {}: {} repositories unchanged, {} read newest first, {} listed in full",
                cache.path().display(),
                counts.unchanged,
                counts.newest,
                counts.full
            );
        }
        if let Err(e) = cache.save(&scanned.inventory, &outcome.read, chrono::Utc::now()) {
            if !global.quiet {
                eprintln!(
                    "tagsweep: could not save the inventory cache {}: {e} (the next audit starts from the file as it was, if there is one)",
                    cache.path().display()
                );
            }
        }
    }
    Ok(scanned)
}

/// The inventory cache of `manifest`'s namespace on Docker Hub
/// (`<cache dir>/inventory/…`, see [`crate::inventory_cache`]), when one is
/// of use: a live registry that lists newest first (not a snapshot, not an
/// OCI registry, whose tags carry no push times), and neither `--no-cache`
/// nor a system without a cache directory. A file that cannot be used is a
/// note on stderr (unless `-q`), never an error.
pub fn open_inventory_cache(
    registry: &dyn Registry,
    manifest: &Manifest,
    connection: &Connection,
    global: Global,
) -> Option<InventoryCache> {
    if connection.no_cache
        || registry.snapshot_time().is_some()
        || !registry.lists_newest_first()
        || manifest.registry != RegistryRef::DockerHub
    {
        return None;
    }
    let Some(dir) = connection.cache_dir.as_deref() else {
        if global.verbose {
            eprintln!("tagsweep: no cache directory (neither XDG_CACHE_HOME nor HOME is set, and no --cache-dir): every repository is listed in full");
        }
        return None;
    };
    // Never the query or fragment of --hub-url in a file name: they may hold a key.
    let key = crate::net::service_key(&connection.hub_url);
    let path = InventoryCache::path_in(dir, &key, &manifest.namespace);
    let (cache, note) = InventoryCache::open(path, &key, &manifest.namespace, chrono::Utc::now());
    if let Some(note) = note {
        if !global.quiet {
            eprintln!("tagsweep: {note}");
        }
    }
    Some(cache)
}

/// The observations of incomplete builds kept for a registry and namespace:
/// `--state FILE`, else the user's cache directory (nothing with
/// `--no-cache` and no `--state`). A file that cannot be used is ignored
/// with a note.
pub fn observations(
    args: &ObservationArgs,
    connection: &Connection,
    registry: &str,
    namespace: &str,
    global: Global,
) -> Observations {
    if args.state.is_none() && connection.no_cache {
        return Observations::disabled();
    }
    let path = args.state.clone().or_else(|| {
        connection.cache_dir.as_ref().map(|dir| {
            dir.join("observations")
                .join(crate::observations::file_name(registry, namespace))
        })
    });
    let Some(path) = path else {
        if !global.quiet {
            eprintln!(
                "tagsweep: no cache directory (no home directory?): observations of incomplete builds are not kept; give --state FILE or --cache-dir DIR to keep them"
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

/// The platform cache (`<cache dir>/platforms.json`, the cache directory
/// being `--cache-dir` or the user's): disabled with `--no-cache`, kept in
/// memory only when the system names no cache directory. A file that
/// cannot be used is a note on stderr (unless `-q`), never an error.
pub fn open_platform_cache(connection: &Connection, global: Global) -> PlatformCache {
    if connection.no_cache {
        return PlatformCache::disabled();
    }
    let Some(dir) = connection.cache_dir.as_deref() else {
        if global.verbose {
            eprintln!("tagsweep: no cache directory (neither XDG_CACHE_HOME nor HOME is set, and no --cache-dir): platforms read now are not kept");
        }
        return PlatformCache::new();
    };
    let (cache, note) = PlatformCache::load(dir.join(platform_cache::FILE_NAME));
    if let Some(note) = note {
        if !global.quiet {
            eprintln!("tagsweep: {note}");
        }
    }
    cache
}

/// Saves the platform cache; a failure is a note on stderr, not an error
/// (the results stand without it).
pub fn save_platform_cache(cache: &PlatformCache, global: Global) {
    if let Err(e) = cache.save() {
        if !global.quiet {
            eprintln!(
                "tagsweep: could not save the platform cache {}: {e} (the next run will read those manifests again)",
                cache.path().map_or(String::new(), |p| p.display().to_string())
            );
        }
    }
}

/// Reads the platforms `inventory` does not list for the `builds` judged
/// (all when `None`), from `cache` or the registry's manifests (see
/// [`crate::verify`]); saves the cache, also after a failure; with `-v`,
/// says what it cost.
pub async fn verify(
    registry: &dyn Registry,
    manifest: &Manifest,
    inventory: &mut Inventory,
    builds: Option<&[String]>,
    connection: &Connection,
    global: Global,
) -> Result<()> {
    if manifest.platforms.is_empty() {
        if global.verbose {
            eprintln!(
                "tagsweep: {} requires no platforms: nothing to verify",
                manifest.source
            );
        }
        return Ok(());
    }
    let mut cache = open_platform_cache(connection, global);
    let verified = verify_platforms(
        registry,
        manifest,
        inventory,
        builds,
        &mut cache,
        connection.concurrency,
    )
    .await;
    save_platform_cache(&cache, global);
    let stats = verified.with_context(|| {
        format!(
            "reading the platforms of {}'s build tags from their manifests",
            manifest.namespace
        )
    })?;
    if global.verbose {
        let cost = match &manifest.registry {
            RegistryRef::DockerHub => format!(
                "{} manifest GET{} to {} (each counts against Docker Hub's pull limit)",
                stats.fetched,
                if stats.fetched == 1 { "" } else { "s" },
                connection.registry_api_url.as_str().trim_end_matches('/')
            ),
            RegistryRef::Oci { .. } => format!(
                "{} manifest{} looked up in {}",
                stats.fetched,
                if stats.fetched == 1 { "" } else { "s" },
                registry.name()
            ),
        };
        let cached = if cache.is_enabled() {
            format!("{} from the cache", stats.from_cache)
        } else {
            "no cache (--no-cache)".to_string()
        };
        let unknown = if stats.unknown > 0 {
            format!(
                "; {} still unknown (the registry does not say)",
                stats.unknown
            )
        } else {
            String::new()
        };
        eprintln!(
            "tagsweep: verifying platforms of {} tag{}: {cached}, {cost}{unknown}",
            stats.needed,
            if stats.needed == 1 { "" } else { "s" },
        );
    }
    Ok(())
}

/// Asks a terminal user to type `namespace` to go on with what `question`
/// says; refuses without a terminal (`verb`: what `--yes` would allow;
/// `nothing`: what the refusal says was done).
pub fn confirm_namespace(question: &str, namespace: &str, verb: &str, nothing: &str) -> Result<()> {
    use std::io::{IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to {verb} without confirmation: stdin is not a terminal. Review the plan (--dry-run), then pass --yes; {nothing}"
        );
    }
    eprint!("{question} Type the namespace ({namespace}) to confirm: ");
    std::io::stderr().flush().ok();
    let answer = read_stdin_line().context("reading the confirmation")?;
    if answer.trim() != namespace {
        anyhow::bail!("not confirmed; {nothing}");
    }
    Ok(())
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
    let loaded = manifest::load(path);
    if let Ok(manifest) = &loaded {
        // A warning is about what the run is about to do: shown even with -q.
        for warning in &manifest.warnings {
            eprintln!("tagsweep: {}", warning.as_warning());
        }
    }
    loaded.map_err(|e| match e {
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
