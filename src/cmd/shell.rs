//! What editors and shells need: the manifest's JSON Schema, completions and
//! the man page, all generated from the definitions tagsweep itself uses.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use super::Outcome;
use crate::cli::Cli;

/// The JSON Schema of the manifest, as shipped in `manifests/`.
pub const MANIFEST_SCHEMA: &str = include_str!("../../manifests/tagsweep-manifest.schema.json");

/// `tagsweep schema`.
pub fn schema() -> Result<Outcome> {
    print!("{MANIFEST_SCHEMA}");
    Ok(Outcome::Clean)
}

/// `tagsweep completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "tagsweep", &mut out);
    out.flush()?;
    Ok(Outcome::Clean)
}

/// `tagsweep man`.
pub fn man() -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(Outcome::Clean)
}
