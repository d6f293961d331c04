//! What editors and shells need: the manifest's JSON Schema, completions and
//! the man page, all generated from the definitions tagsweep itself uses.

use anyhow::Result;
use clap::CommandFactory;

use super::Outcome;
use crate::cli::Cli;
use crate::output;

/// The JSON Schema of the manifest, as shipped in `manifests/`.
pub const MANIFEST_SCHEMA: &str = include_str!("../../manifests/tagsweep-manifest.schema.json");

/// `tagsweep schema`.
pub fn schema() -> Result<Outcome> {
    output::print(MANIFEST_SCHEMA)?;
    Ok(Outcome::Clean)
}

/// `tagsweep completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tagsweep", &mut script);
    output::print(String::from_utf8_lossy(&script))?;
    Ok(Outcome::Clean)
}

/// `tagsweep man`.
pub fn man() -> Result<Outcome> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    output::print(String::from_utf8_lossy(&page))?;
    Ok(Outcome::Clean)
}
