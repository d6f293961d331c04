//! The command line, as data. Checking and resolving happens in `config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::registry::dockerhub::{DEFAULT_HUB_URL, DEFAULT_REGISTRY_API_URL};

/// Tells which container image builds are complete on Docker Hub, and removes the broken ones.
///
/// A build is a tag (`rocky-38`, `5.0.0`) pushed to every image of a set. The
/// manifest lists the images expected in every build; `audit` says which
/// builds are complete, broken or still being pushed.
///
/// Exit codes: 0 clean, 1 findings (broken builds, missing repositories,
/// invalid manifests, failed deletions), 2 usage or operational error.
#[derive(Debug, Parser)]
#[command(name = "tagsweep", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Print every request, retry and wait on stderr (credentials are never printed)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// No progress bar and no informational messages on stderr (errors still show)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print which builds are complete, broken or in progress
    Audit(AuditArgs),
    /// Delete every tag of broken, expired (or named) builds across the set: plan, confirm, delete, record
    Prune(PruneArgs),
    /// Check manifests offline, reporting every problem as FILE:LINE:COL
    Validate(ValidateArgs),
    /// Save the inventory (repositories and tags) to a JSON file for offline audits
    Snapshot(SnapshotArgs),
    /// Print the JSON Schema of the manifest (for editors and CI checks)
    Schema,
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The manifest of the images expected in every build
    #[arg(short, long = "manifest", value_name = "FILE")]
    pub manifest: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,

    /// Audit only this build (repeatable); looks the tag up per repository when that takes fewer requests than listing
    #[arg(long = "build", value_name = "TAG")]
    pub builds: Vec<String>,

    /// Audit only builds pushed within this window (e.g. 6h, 2d): lists newest first and stops early
    #[arg(long, value_name = "DURATION", conflicts_with = "builds", value_parser = parse_window)]
    pub since: Option<std::time::Duration>,

    /// Read the inventory from a snapshot file instead of the registry (works offline)
    #[arg(long, value_name = "SNAPSHOT")]
    pub from: Option<PathBuf>,

    /// Judge builds as of this time (RFC 3339) instead of now; a snapshot is judged as of when it was taken
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,

    /// Read the platforms the registry does not list from each build tag's manifest (Docker Hub: one manifest GET per image and build, counted against the pull limit, then cached)
    #[arg(long, conflicts_with = "from")]
    pub verify_platforms: bool,

    #[command(flatten)]
    pub observations: ObservationArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["broken", "expired", "builds"])))]
pub struct PruneArgs {
    /// The manifest of the images expected in every build
    #[arg(short, long = "manifest", value_name = "FILE")]
    pub manifest: PathBuf,

    /// Delete every tag of every broken build (as `audit` judges it)
    #[arg(long)]
    pub broken: bool,

    /// Delete every tag of every build the manifest's `retention` retires (as `audit` shows it: older than the `keep` newest complete builds of its stream)
    #[arg(long)]
    pub expired: bool,

    /// Delete every tag of this build, complete or not (repeatable)
    #[arg(long = "build", value_name = "TAG")]
    pub builds: Vec<String>,

    /// Print the plan and stop; nothing is deleted
    #[arg(long)]
    pub dry_run: bool,

    /// Delete without asking (required when stdin is not a terminal, as in CI)
    #[arg(long)]
    pub yes: bool,

    /// Refuse a plan covering more builds than this (a manifest mistake can make every build look broken)
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_builds: usize,

    /// Append one JSON line per tag (time, repository, tag, digest, result) as each deletion completes
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// Deletions in flight at once (kept lower than reads: Docker Hub rate-limits bulk deletes)
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=16))]
    pub delete_concurrency: u16,

    /// Output format of the plan and summary
    #[arg(long, value_enum, default_value_t = PlanFormat::Table)]
    pub format: PlanFormat,

    /// Plan from a snapshot file (only with --dry-run; works offline)
    #[arg(long, value_name = "SNAPSHOT", requires = "dry_run")]
    pub from: Option<PathBuf>,

    /// Judge builds as of this time (RFC 3339; only with --dry-run)
    #[arg(long, value_name = "TIME", requires = "dry_run")]
    pub now: Option<String>,

    /// Read the platforms the registry does not list from each build tag's manifest before planning, so that builds short of a platform can be pruned (Docker Hub: one manifest GET per image and build, counted against the pull limit, then cached)
    #[arg(long, conflicts_with = "from")]
    pub verify_platforms: bool,

    /// Take the time an image declares (its `created`) as proof of a build's age; only if your builds are not reproducible (SOURCE_DATE_EPOCH declares the commit's time, not the push)
    #[arg(long)]
    pub trust_declared_times: bool,

    #[command(flatten)]
    pub observations: ObservationArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Where tagsweep keeps what it saw of incomplete builds between runs.
#[derive(Debug, Args)]
pub struct ObservationArgs {
    /// Keep the observations of incomplete builds in this file (for CI caches) instead of the user's cache directory; a build seen unchanged for builds.grace may be pruned even where the registry reports no push time
    #[arg(long, env = "TAGSWEEP_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A table for terminals and logs
    Table,
    /// One JSON document: the plan and, after deleting, the result of every tag
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifests to check (also accepted without -m: `tagsweep validate manifests/*.yaml`)
    #[arg(short, long = "manifest", value_name = "FILE", num_args = 1..)]
    pub manifests: Vec<PathBuf>,

    /// Manifests to check
    #[arg(value_name = "FILE", required_unless_present = "manifests")]
    pub files: Vec<PathBuf>,

    /// Output format: plain lines, or GitHub Actions annotations
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The manifest whose images are listed
    #[arg(short, long = "manifest", value_name = "FILE")]
    pub manifest: PathBuf,

    /// Where to write the snapshot (JSON)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// How to reach the registry. Secrets are read from the environment or stdin, never from flags.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Docker Hub API address (plain http only for loopback hosts)
    #[arg(long, env = "TAGSWEEP_HUB_URL", value_name = "URL", default_value = DEFAULT_HUB_URL)]
    pub hub_url: String,

    /// Requests in flight at once (the rate-limit pacing still applies)
    #[arg(short = 'j', long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Log in as this user or organisation (default: $DOCKERHUB_USERNAME; the token comes from $DOCKERHUB_TOKEN or --password-stdin)
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,

    /// Read the password or access token from the first line of stdin
    #[arg(long)]
    pub password_stdin: bool,

    /// Docker Hub's registry API address, where manifests (platforms) are read (plain http only for loopback hosts)
    #[arg(long, env = "TAGSWEEP_REGISTRY_API_URL", value_name = "URL", default_value = DEFAULT_REGISTRY_API_URL)]
    pub registry_api_url: String,

    /// Neither read nor write tagsweep's caches (the inventory an earlier audit listed, platforms of manifests already read, observations of incomplete builds): ask the registry again
    #[arg(long)]
    pub no_cache: bool,

    /// Keep tagsweep's caches in this directory (for CI caches) instead of the user's cache directory
    #[arg(long, global = true, env = "TAGSWEEP_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

fn parse_window(s: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse_duration(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A table for terminals and logs
    Table,
    /// The JSON contract, for other tools
    Json,
    /// Markdown, for $GITHUB_STEP_SUMMARY and pull-request comments
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// FILE:LINE:COL: message
    Text,
    /// ::error file=…,line=…,col=…:: annotations for GitHub Actions
    Github,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_an_audit() {
        let cli = Cli::try_parse_from([
            "tagsweep", "audit", "-m", "m.yaml", "--format", "json", "--build", "rocky-1",
            "--build", "rocky-2", "-j", "4",
        ])
        .unwrap();
        let Command::Audit(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.format, ReportFormat::Json);
        assert_eq!(a.builds, ["rocky-1", "rocky-2"]);
        assert_eq!(a.connection.concurrency, 4);
    }

    #[test]
    fn every_command_that_connects_takes_the_cache_and_registry_api_flags() {
        for sub in ["audit", "prune --broken", "snapshot -o s.json"] {
            let mut argv = vec!["tagsweep"];
            argv.extend(sub.split(' '));
            argv.extend([
                "-m",
                "m.yaml",
                "--no-cache",
                "--registry-api-url",
                "http://127.0.0.1:5000",
            ]);
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{sub}: {e}"));
            let c = match cli.command {
                Command::Audit(a) => a.connection,
                Command::Prune(p) => p.connection,
                Command::Snapshot(s) => s.connection,
                _ => panic!(),
            };
            assert!(c.no_cache, "{sub}");
            assert_eq!(c.registry_api_url, "http://127.0.0.1:5000", "{sub}");
        }
        let cli = Cli::try_parse_from(["tagsweep", "audit", "-m", "m.yaml", "--verify-platforms"])
            .unwrap();
        let Command::Audit(a) = cli.command else {
            panic!()
        };
        assert!(a.verify_platforms);
        assert!(!a.connection.no_cache);
        assert_eq!(a.connection.registry_api_url, DEFAULT_REGISTRY_API_URL);
        assert!(
            Cli::try_parse_from([
                "tagsweep",
                "audit",
                "-m",
                "m.yaml",
                "--verify-platforms",
                "--from",
                "s.json"
            ])
            .is_err(),
            "a snapshot has no manifests to read"
        );
    }

    #[test]
    fn prune_needs_something_to_prune() {
        assert!(Cli::try_parse_from(["tagsweep", "prune", "-m", "m.yaml"]).is_err());
        assert!(Cli::try_parse_from([
            "tagsweep", "prune", "-m", "m.yaml", "--broken", "--build", "rocky-1"
        ])
        .is_ok());
        assert!(
            Cli::try_parse_from([
                "tagsweep", "prune", "-m", "m.yaml", "--broken", "--from", "s.json"
            ])
            .is_err(),
            "--from only with --dry-run"
        );
        let cli = Cli::try_parse_from(["tagsweep", "prune", "-m", "m.yaml", "--build", "rocky-1"])
            .unwrap();
        let Command::Prune(p) = cli.command else {
            panic!()
        };
        assert_eq!(
            (p.max_builds, p.delete_concurrency, p.yes, p.dry_run),
            (5, 2, false, false)
        );
        assert!(!p.expired);
        for what in [
            &["--expired"][..],
            &["--broken", "--expired"],
            &["--expired", "--build", "rocky-1"],
        ] {
            let mut argv = vec!["tagsweep", "prune", "-m", "m.yaml"];
            argv.extend(what);
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{what:?}: {e}"));
            let Command::Prune(p) = cli.command else {
                panic!()
            };
            assert!(p.expired, "{what:?}");
        }
    }

    #[test]
    fn rejects_bad_usage() {
        assert!(
            Cli::try_parse_from(["tagsweep", "audit"]).is_err(),
            "manifest is required"
        );
        assert!(Cli::try_parse_from(["tagsweep", "audit", "-m", "x", "-j", "0"]).is_err());
        assert!(
            Cli::try_parse_from(["tagsweep", "audit", "-m", "x", "--password", "p"]).is_err(),
            "no secret flag"
        );
        assert!(Cli::try_parse_from(["tagsweep", "validate"]).is_err());
        let cli = Cli::try_parse_from(["tagsweep", "validate", "a.yaml", "-m", "b.yaml", "c.yaml"])
            .unwrap();
        let Command::Validate(v) = cli.command else {
            panic!()
        };
        assert_eq!(v.manifests.len() + v.files.len(), 3);
    }
}
