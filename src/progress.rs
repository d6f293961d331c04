//! Progress on a terminal: repositories listed of total, requests made.
//!
//! Shown on stderr only when stderr is a terminal, `--quiet` is not given
//! and no CI system is detected (`CI` set): logs stay clean, pipes stay
//! parseable. Everything else tagsweep prints goes through `println!` /
//! `eprintln!` and is unaffected.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar, or nothing.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar when the environment allows one (see the module documentation).
    pub fn for_terminal(quiet: bool) -> Progress {
        let wanted = !quiet
            && std::io::stderr().is_terminal()
            && std::env::var_os("CI").is_none_or(|v| v.is_empty());
        if !wanted {
            return Progress::hidden();
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{bar:30}] {pos}/{len} repositories {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    /// Shows nothing.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    pub fn start(&self, what: &str, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(what.to_string());
            bar.set_length(total as u64);
            bar.set_position(0);
        }
    }

    /// One more repository done; `requests` made so far.
    pub fn advance(&self, requests: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("· {requests} requests"));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
