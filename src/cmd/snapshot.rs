//! `tagsweep snapshot`: save the inventory to a JSON file, so that audits and
//! dry runs can be repeated offline (`--from`).

use anyhow::{Context, Result};

use std::io::Write;

use super::{connect, list, load_manifest, Global, Outcome};
use crate::cli::SnapshotArgs;
use crate::config::open_registry;
use crate::scan::Scope;

pub async fn run(args: SnapshotArgs, global: Global) -> Result<Outcome> {
    let manifest = load_manifest(&args.manifest)?;
    let connection = connect(&args.connection, global)?;
    let registry = open_registry(&manifest, &connection, None)?;
    let inventory = list(
        registry.as_ref(),
        &manifest,
        &connection,
        global,
        &Scope::All,
    )
    .await?
    .inventory;
    // Streamed to a file beside the target, then renamed: a crash never
    // leaves half a snapshot, and a million tags are never one string.
    let tmp = args.output.with_extension("json.partial");
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer_pretty(&mut out, &inventory)?;
        out.write_all(b"\n")?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    };
    write().with_context(|| format!("writing {}", tmp.display()))?;
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
