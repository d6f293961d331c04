//! `tagsweep snapshot`: save the inventory to a JSON file, so that audits and
//! dry runs can be repeated offline (`--from`).

use anyhow::{Context, Result};

use super::{load_manifest, Global, Outcome};
use crate::cli::SnapshotArgs;
use crate::config::{open_registry, read_stdin_line, Connection};
use crate::scan::scan;

pub async fn run(args: SnapshotArgs, global: Global) -> Result<Outcome> {
    let manifest = load_manifest(&args.manifest)?;
    let connection = Connection::resolve(
        &args.connection,
        global.verbose,
        |k| std::env::var(k).ok(),
        read_stdin_line,
    )?;
    let registry = open_registry(&manifest, &connection, None)?;
    let inventory = scan(
        registry.as_ref(),
        &manifest,
        connection.concurrency,
        &global.progress(),
    )
    .await
    .with_context(|| format!("listing {} on {}", manifest.namespace, registry.name()))?;
    let mut json = serde_json::to_string_pretty(&inventory).expect("inventory serializes");
    json.push('\n');
    // Write beside the target, then rename: a crash never leaves half a snapshot.
    let tmp = args.output.with_extension("json.partial");
    std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if !global.quiet {
        eprintln!(
            "tagsweep: saved {} repositories and {} tags to {}",
            inventory.repositories.len(),
            inventory.tag_count(),
            args.output.display()
        );
    }
    Ok(Outcome::Clean)
}
