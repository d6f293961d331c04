//! The terminal: progress (repositories listed of total, requests made) and
//! the notes tagsweep shows while it works.
//!
//! The bar is shown on stderr only when stderr is a terminal, `--quiet` is
//! not given and no CI system is detected (`CI` set): logs stay clean, pipes
//! stay parseable. Notes ([`crate::notes`]) go to stderr through the
//! [`Terminal`], above the bar while one is drawn, so they never tear it;
//! everything else tagsweep prints goes through `println!` / `eprintln!`.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::notes::{Level, Sink};

/// Where notes are shown: stderr, each line prefixed `tagsweep: `, printed
/// above the progress bar (indicatif's `suspend`) while a [`Progress`] made
/// by [`Terminal::progress`] draws one, plainly otherwise.
#[derive(Default)]
pub struct Terminal {
    /// The bar being drawn, if any.
    bar: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    /// A progress display whose bar (when the environment allows one, see
    /// the module documentation; never with `quiet`) notes print around.
    pub fn progress(self: &Arc<Self>, quiet: bool) -> Progress {
        let wanted = !quiet
            && std::io::stderr().is_terminal()
            && std::env::var_os("CI").is_none_or(|v| v.is_empty());
        if !wanted {
            return Progress::hidden();
        }
        // Hidden until the first `start`: an empty 0/0 bar says nothing, and
        // notes printed before then must not draw it.
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(style("repositories"));
        Progress {
            bar: Some((bar, Arc::clone(self))),
        }
    }

    fn drawing(&self, bar: Option<&ProgressBar>) {
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = bar.cloned();
    }
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Terminal")
    }
}

impl Sink for Terminal {
    fn show(&self, _level: Level, text: &str) {
        let bar = self.bar.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| eprintln!("tagsweep: {text}")),
            None => eprintln!("tagsweep: {text}"),
        }
    }
}

/// The bar's look, counting `unit`s.
fn style(unit: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{spinner}} {{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}}"
    ))
    .expect("valid template")
    .progress_chars("=> ")
}

/// A progress bar, or nothing.
#[derive(Clone)]
pub struct Progress {
    /// The bar, and the terminal whose notes print around it while it is drawn.
    bar: Option<(ProgressBar, Arc<Terminal>)>,
}

impl Progress {
    /// Shows nothing.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Starts (again) at 0 of `total` repositories, `what` being done.
    pub fn start(&self, what: &str, total: usize) {
        self.start_counting(what, total, "repositories");
    }

    /// Starts (again) at 0 of `total` `unit`s (`tags`), `what` being done.
    pub fn start_counting(&self, what: &str, total: usize, unit: &str) {
        if let Some((bar, terminal)) = &self.bar {
            // Everything set while hidden, so that a bar finished before (the
            // listing's, the previous build's) never shows under a new name.
            bar.set_draw_target(ProgressDrawTarget::hidden());
            bar.set_style(style(unit));
            bar.set_prefix(what.to_string());
            bar.set_length(total as u64);
            bar.set_message("");
            bar.reset();
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            terminal.drawing(Some(bar));
        }
    }

    /// Whether a bar is drawn (a terminal, no CI, neither -q nor -v).
    pub fn is_shown(&self) -> bool {
        self.bar.is_some()
    }

    /// One more done, with nothing else to say.
    pub fn inc(&self) {
        if let Some((bar, _)) = &self.bar {
            bar.inc(1);
        }
    }

    /// Prints `text` on stderr, above the bar while one is drawn.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some((bar, _)) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// `more` to do than said so far (a listing that learns its work as
    /// it goes).
    pub fn grow(&self, more: usize) {
        if let Some((bar, _)) = &self.bar {
            bar.inc_length(more as u64);
        }
    }

    /// One more repository done; `requests` made so far.
    pub fn advance(&self, requests: u64) {
        if let Some((bar, _)) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("· {requests} requests"));
        }
    }

    /// Clears the bar; notes print plainly again.
    pub fn finish(&self) {
        if let Some((bar, terminal)) = &self.bar {
            terminal.drawing(None);
            bar.finish_and_clear();
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
    }
}
