//! tagsweep: tells which container image builds are complete, and removes the broken ones.
//!
//! The layers, from the outside in: `cli` (arguments as data) → `config`
//! (checked settings, credentials) → `cmd` (one module per subcommand) →
//! `registry` (backends behind one trait) and `scan` (building the
//! inventory), then `verify` (platforms the listing left out, remembered
//! in `platform_cache`) → `policy` (pure decisions) → `render` (pure output).

pub mod cache_dir;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod credentials;
pub mod duration;
pub mod incremental;
pub mod inventory;
pub mod inventory_cache;
pub mod journal;
pub mod manifest;
pub mod natural;
pub mod net;
pub mod notes;
pub mod observations;
pub mod output;
pub mod platform;
pub mod platform_cache;
pub mod policy;
pub mod progress;
pub mod registry;
pub mod render;
pub mod scan;
pub mod secret;
pub mod text;
pub mod verify;

pub use cmd::Outcome;

/// Runs one parsed command line.
pub async fn run(cli: cli::Cli) -> anyhow::Result<Outcome> {
    // clap checks the conflict only where both are given on one side of
    // the subcommand (`tagsweep -v audit -q` gets through).
    if cli.verbose && cli.quiet {
        anyhow::bail!("--verbose and --quiet cannot be used together; give one");
    }
    let global = cmd::Global {
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    let connection = &cli.connection;
    match cli.command {
        cli::Command::Audit(args) => cmd::audit::run(args, connection, global).await,
        cli::Command::Prune(args) => cmd::prune::run(args, connection, global).await,
        cli::Command::Restore(args) => cmd::restore::run(args, connection, global).await,
        cli::Command::Promote(args) => cmd::promote::run(args, connection, global).await,
        cli::Command::Diff(args) => cmd::diff::run(args, connection, global).await,
        cli::Command::Validate(args) => cmd::validate::run(args),
        cli::Command::Snapshot(args) => cmd::snapshot::run(args, connection, global).await,
        cli::Command::Schema => cmd::shell::schema(),
        cli::Command::Completions(args) => cmd::shell::completions(args.shell),
        cli::Command::Man => cmd::shell::man(),
    }
}
