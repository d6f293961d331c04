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

    /// How to reach the registry: global, so `tagsweep -j 4 audit …` and `tagsweep audit -j 4 …` both work
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print which builds are complete, broken or in progress
    Audit(AuditArgs),
    /// Delete every tag of broken, expired (or named) builds across the set: plan, confirm, delete, record
    Prune(PruneArgs),
    /// Put back the tags a prune removed (or undo a promote), from its journal: plan, confirm, push, record
    Restore(RestoreArgs),
    /// Point a tag users pull (latest, stable) at a complete build in every image of the set: plan, confirm, push, record
    Promote(PromoteArgs),
    /// Show what a manifest change does: the builds whose status changes, and what prune would delete
    ///
    /// The same inventory (live, or --from a snapshot, offline and without credentials) is judged
    /// under OLD and under NEW, as `audit` and `prune --dry-run` would: images added and removed,
    /// every build whose status changes and why, what prune --broken and prune --expired would
    /// delete under NEW that they would not under OLD (and the reverse), and the fix where an added
    /// image explains the change (add `from: …`). Both manifests must name the same registry and
    /// namespace.
    ///
    /// Exit codes: 0 when no build changes status, no prune deletes more and none refuses now;
    /// 1 otherwise; 2 on errors (both manifests are validated first, every problem as
    /// FILE:LINE:COL).
    Diff(DiffArgs),
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

    /// Append JSON lines per tag (time, repository, tag, digest, result): an intent before each deletion, its result after; `restore --journal FILE` puts the tags back, even after a killed run
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
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The journal of a prune (or promote): every tag it records as deleted is put back at its recorded digest; every promoted tag goes back where it was; a change recorded as begun but not finished (a killed run) is put back where it happened
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,

    /// Restore only the tags of this build (repeatable)
    #[arg(long = "build", value_name = "TAG")]
    pub builds: Vec<String>,

    /// Replace a tag that exists now at another digest (without it, such a tag is reported and left alone)
    #[arg(long)]
    pub force: bool,

    /// Print the plan and stop; nothing is changed
    #[arg(long)]
    pub dry_run: bool,

    /// Change tags without asking (required when stdin is not a terminal, as in CI)
    #[arg(long)]
    pub yes: bool,

    /// Append the restore's own journal lines to this file (default: the --journal file)
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// The registry the journal is about (https://host[:port], or docker.io): the only one the credentials of --username/--password-stdin and TAGSWEEP_REGISTRY_USERNAME/PASSWORD are sent to. It must be one the journal names. Without it (or -m), a registry only the journal names is read and written anonymously or with Docker's config.json for its host
    #[arg(long = "registry", value_name = "URL")]
    pub registry: Option<String>,

    /// A manifest whose registry the journal is about: the same as --registry with that manifest's registry
    #[arg(short, long = "manifest", value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The build to promote (a build tag); refused unless complete under a fresh look
    #[arg(
        value_name = "BUILD",
        required_unless_present = "newest_complete",
        conflicts_with = "newest_complete"
    )]
    pub build: Option<String>,

    /// Promote the newest complete build (natural order of the build tags)
    #[arg(long)]
    pub newest_complete: bool,

    /// The tag to point at the build in every image expected in it, e.g. latest (repeatable)
    #[arg(long = "tag", value_name = "TAG", required = true)]
    pub tags: Vec<String>,

    /// The manifest of the images expected in every build
    #[arg(short, long = "manifest", value_name = "FILE")]
    pub manifest: PathBuf,

    /// Print the plan and stop; nothing is changed
    #[arg(long)]
    pub dry_run: bool,

    /// Change tags without asking (required when stdin is not a terminal, as in CI)
    #[arg(long)]
    pub yes: bool,

    /// Append JSON lines per image (the tag, the build's digest, the tag's previous digest or null): an intent before each push, its result after; `restore --journal FILE` undoes the promote, even one killed half way
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
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

/// `tagsweep diff OLD NEW`: one inventory judged under two manifests.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The manifest before the change (e.g. `git show origin/main:manifests/kolla.yaml > old.yaml`)
    #[arg(value_name = "OLD")]
    pub old: PathBuf,

    /// The manifest after the change; `--format github` annotates its lines
    #[arg(value_name = "NEW")]
    pub new: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,

    /// Read the inventory from a snapshot file instead of the registry (offline, no credentials)
    #[arg(long, value_name = "SNAPSHOT")]
    pub from: Option<PathBuf>,

    /// Judge both as of this time (RFC 3339) instead of now; a snapshot is judged as of when it was taken
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,

    /// Read the platforms the registry does not list from each build tag's manifest (as `audit --verify-platforms`)
    #[arg(long, conflicts_with = "from")]
    pub verify_platforms: bool,

    #[command(flatten)]
    pub observations: ObservationArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// A few lines and a table, for terminals and logs (-v: every build)
    Table,
    /// Markdown, for a pull-request comment or $GITHUB_STEP_SUMMARY
    Markdown,
    /// ::warning/::notice annotations on NEW's lines, for GitHub Actions
    Github,
    /// The JSON contract, for other tools
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
}

/// How to reach the registry: options global to every subcommand, given before or after it.
/// Secrets are read from the environment or stdin, never from flags.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection options (before or after the subcommand)")]
pub struct ConnectionArgs {
    /// Docker Hub API address (plain http only for loopback hosts)
    #[arg(long, global = true, env = "TAGSWEEP_HUB_URL", value_name = "URL", default_value = DEFAULT_HUB_URL)]
    pub hub_url: String,

    /// Requests in flight at once (the rate-limit pacing still applies)
    #[arg(short = 'j', long, global = true, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Log in as this user or organisation (default: $DOCKERHUB_USERNAME; the token comes from $DOCKERHUB_TOKEN or --password-stdin)
    #[arg(long, global = true, value_name = "USER")]
    pub username: Option<String>,

    /// Read the password or access token from the first line of stdin
    #[arg(long, global = true)]
    pub password_stdin: bool,

    /// Docker Hub's registry API address, where manifests (platforms) are read (plain http only for loopback hosts)
    #[arg(long, global = true, env = "TAGSWEEP_REGISTRY_API_URL", value_name = "URL", default_value = DEFAULT_REGISTRY_API_URL)]
    pub registry_api_url: String,

    /// Neither read nor write tagsweep's caches (the inventory an earlier audit listed, platforms of manifests already read, observations of incomplete builds): ask the registry again
    #[arg(long, global = true)]
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
    /// One self-contained HTML page: the builds × images matrix, for a CI artifact
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// FILE:LINE:COL: message
    Text,
    /// ::error file=…,line=…,col=…:: annotations for GitHub Actions
    Github,
}

/// The environment variables the command line reads (the `env =` of the
/// options above). One set to the empty string counts as unset: a CI
/// variable defined but left empty must not make every command fail (see
/// [`unset_empty_environment`]).
pub const ENVIRONMENT: [&str; 4] = [
    "TAGSWEEP_STATE",
    "TAGSWEEP_HUB_URL",
    "TAGSWEEP_REGISTRY_API_URL",
    "TAGSWEEP_CACHE_DIR",
];

/// Removes each variable of [`ENVIRONMENT`] that is set but empty. Call it
/// before the command line is parsed, while the process has one thread.
pub fn unset_empty_environment() {
    for name in ENVIRONMENT {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(name);
        }
    }
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
        let Command::Audit(a) = &cli.command else {
            panic!()
        };
        assert_eq!(a.format, ReportFormat::Json);
        assert_eq!(a.builds, ["rocky-1", "rocky-2"]);
        assert_eq!(cli.connection.concurrency, 4);
    }

    #[test]
    fn restore_and_promote_parse_with_connection_flags_anywhere() {
        let cli = Cli::try_parse_from([
            "tagsweep",
            "-j",
            "4",
            "restore",
            "--journal",
            "p.jsonl",
            "--build",
            "rocky-1",
            "--force",
            "--registry-api-url",
            "http://127.0.0.1:5000",
        ])
        .unwrap();
        let Command::Restore(r) = &cli.command else {
            panic!()
        };
        assert_eq!(r.builds, ["rocky-1"]);
        assert!(r.force && !r.yes);
        assert_eq!(cli.connection.registry_api_url, "http://127.0.0.1:5000");
        assert_eq!(cli.connection.concurrency, 4);

        let cli = Cli::try_parse_from([
            "tagsweep",
            "promote",
            "--newest-complete",
            "--tag",
            "latest",
            "--tag",
            "stable",
            "-m",
            "m.yaml",
        ])
        .unwrap();
        let Command::Promote(p) = &cli.command else {
            panic!()
        };
        assert_eq!(p.tags, ["latest", "stable"]);
        assert!(p.build.is_none() && p.newest_complete);
        // A build or --newest-complete, not both, not neither; a tag is required.
        for bad in [
            &["tagsweep", "promote", "--tag", "latest", "-m", "m.yaml"][..],
            &[
                "tagsweep",
                "promote",
                "rocky-1",
                "--newest-complete",
                "--tag",
                "latest",
                "-m",
                "m.yaml",
            ],
            &["tagsweep", "promote", "rocky-1", "-m", "m.yaml"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_command_that_connects_takes_the_cache_and_registry_api_flags() {
        for sub in [
            "audit -m m.yaml",
            "prune --broken -m m.yaml",
            "snapshot -o s.json -m m.yaml",
            "diff old.yaml new.yaml",
        ] {
            let mut argv = vec!["tagsweep"];
            argv.extend(sub.split(' '));
            argv.extend(["--no-cache", "--registry-api-url", "http://127.0.0.1:5000"]);
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{sub}: {e}"));
            let c = cli.connection;
            assert!(c.no_cache, "{sub}");
            assert_eq!(c.registry_api_url, "http://127.0.0.1:5000", "{sub}");
        }
        let cli = Cli::try_parse_from(["tagsweep", "audit", "-m", "m.yaml", "--verify-platforms"])
            .unwrap();
        let Command::Audit(a) = cli.command else {
            panic!()
        };
        assert!(a.verify_platforms);
        assert!(!cli.connection.no_cache);
        assert_eq!(cli.connection.registry_api_url, DEFAULT_REGISTRY_API_URL);
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
    fn every_environment_variable_read_is_listed() {
        fn walk(cmd: &clap::Command, found: &mut std::collections::BTreeSet<String>) {
            for arg in cmd.get_arguments() {
                if let Some(env) = arg.get_env() {
                    found.insert(env.to_string_lossy().into_owned());
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, found);
            }
        }
        let mut found = std::collections::BTreeSet::new();
        walk(&<Cli as clap::CommandFactory>::command(), &mut found);
        let listed: std::collections::BTreeSet<String> =
            ENVIRONMENT.iter().map(|s| s.to_string()).collect();
        assert_eq!(found, listed);
    }

    /// Like git, gh and docker: a connection option may come before the
    /// subcommand or after it, and means the same in both places.
    #[test]
    fn connection_options_are_global() {
        let options: [&[&str]; 7] = [
            &["--hub-url", "http://127.0.0.1:9"],
            &["-j", "4"],
            &["--concurrency", "4"],
            &["--username", "bot"],
            &["--password-stdin"],
            &["--registry-api-url", "http://127.0.0.1:9"],
            &["--no-cache"],
        ];
        for sub in [
            &["audit", "-m", "m.yaml"][..],
            &["prune", "-m", "m.yaml", "--broken"],
            &["snapshot", "-m", "m.yaml", "-o", "s.json"],
            &["diff", "old.yaml", "new.yaml"],
        ] {
            for option in options {
                let before: Vec<&str> = ["tagsweep"]
                    .iter()
                    .chain(option)
                    .chain(sub)
                    .copied()
                    .collect();
                let after: Vec<&str> = ["tagsweep"]
                    .iter()
                    .chain(sub)
                    .chain(option)
                    .copied()
                    .collect();
                let parse = |argv: &[&str]| {
                    let cli = Cli::try_parse_from(argv)
                        .unwrap_or_else(|e| panic!("{}: {e}", argv.join(" ")));
                    format!("{:?}", cli.connection)
                };
                let (b, a) = (parse(&before), parse(&after));
                assert_eq!(b, a, "{option:?} with {sub:?}");
                assert_ne!(
                    b,
                    format!(
                        "{:?}",
                        Cli::try_parse_from(["tagsweep"].iter().chain(sub))
                            .unwrap()
                            .connection
                    ),
                    "{option:?} changed nothing"
                );
            }
        }
    }

    #[test]
    fn parses_a_diff() {
        let cli = Cli::try_parse_from([
            "tagsweep",
            "diff",
            "old.yaml",
            "new.yaml",
            "--from",
            "s.json",
            "--format",
            "github",
            "--now",
            "2026-11-20T12:00:00Z",
        ])
        .unwrap();
        let Command::Diff(d) = &cli.command else {
            panic!()
        };
        assert_eq!(
            (d.old.to_str(), d.new.to_str(), d.format),
            (Some("old.yaml"), Some("new.yaml"), DiffFormat::Github)
        );
        assert!(
            Cli::try_parse_from(["tagsweep", "diff", "old.yaml"]).is_err(),
            "both manifests are needed"
        );
        assert!(Cli::try_parse_from([
            "tagsweep",
            "diff",
            "a.yaml",
            "b.yaml",
            "--from",
            "s.json",
            "--verify-platforms"
        ])
        .is_err());
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
