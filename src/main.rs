//! The `tagsweep` binary: parse, run, print the error chain, exit 0/1/2.

use std::process::ExitCode;

use clap::Parser;
use tagsweep::{cli::Cli, Outcome};

fn main() -> ExitCode {
    tagsweep::cli::unset_empty_environment();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tagsweep: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(tagsweep::run(cli));
    // Nothing is left to wait for (every request was answered or dropped):
    // exit without waiting for the runtime's threads to wind down.
    runtime.shutdown_background();
    match outcome {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tagsweep: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
