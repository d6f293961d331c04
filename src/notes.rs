//! What tagsweep has to tell the person running it while it works — a long
//! wait, a listing read again, one line per request with `-v` — kept apart
//! from where and how it is shown.
//!
//! The registry backends and the HTTP layer under them never print: each is
//! given a [`Notes`] handle when it is built and says what happened, at a
//! [`Level`]. The handle decides whether a note is shown (its level against
//! `-v`), so no backend decides that, and the text is a closure, called only
//! for a note that will be shown: a run without `-v` formats none of its
//! per-request lines. Where shown notes go is the command layer's choice
//! (a [`Sink`]): [`crate::progress::Terminal`] prints them on stderr with the
//! `tagsweep: ` prefix, above the progress bar while one is drawn, so a
//! note never tears it.
//!
//! The idea is ripgrep's (`crates/core/messages.rs`): one place decides
//! whether a message is shown, every other place only says it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::secret::Redactor;

/// A wait at least this long is said at [`Level::Warn`] (shown without
/// `-v`); a shorter one at [`Level::Info`]: see [`Notes::wait`].
pub const LONG_WAIT: Duration = Duration::from_secs(10);

/// How much a note matters, which decides when it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail for whoever asked for it: shown only with `-v` (each request,
    /// each login, why a registry is read one way rather than another).
    Info,
    /// Something that costs time or requests, or that the user should know
    /// happened (a long wait, a listing read again, a tag pushed back):
    /// always shown, `-q` included, as tagsweep always has.
    Warn,
}

/// Where shown notes go. Implemented by the command layer
/// ([`crate::progress::Terminal`]); a test may collect them.
pub trait Sink: Send + Sync {
    /// Shows one note. `text` has no `tagsweep: ` prefix and no newline.
    fn show(&self, level: Level, text: &str);
}

/// A cheap-to-clone handle through which backends say what happens (see the
/// module documentation).
#[derive(Clone)]
pub struct Notes {
    /// `-v`: [`Level::Info`] notes are shown too.
    verbose: bool,
    /// `None`: nothing is shown (and nothing formatted).
    sink: Option<Arc<dyn Sink>>,
    /// Removes the run's secrets from every note shown: a note can quote a
    /// URL or a header a registry sent.
    redactor: Redactor,
}

impl Notes {
    /// Notes shown through `sink`; [`Level::Info`] ones only when `verbose`.
    pub fn new(verbose: bool, sink: Arc<dyn Sink>) -> Self {
        Notes {
            verbose,
            sink: Some(sink),
            redactor: Redactor::default(),
        }
    }

    /// Notes shown nowhere: for tests, and library callers that want none.
    pub fn silent() -> Self {
        Notes {
            verbose: false,
            sink: None,
            redactor: Redactor::default(),
        }
    }

    /// The same notes, with every secret `redactor` knows (now or later)
    /// replaced by `(redacted)` in each.
    pub fn redacting(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Whether a note of `level` would be shown: for a caller that keeps
    /// state about what it said (say a thing once), or must compute more
    /// than the text.
    pub fn shows(&self, level: Level) -> bool {
        self.sink.is_some() && (level == Level::Warn || self.verbose)
    }

    /// Says `text()` at `level`; `text` is called only when the note is
    /// shown. Returns whether it was.
    pub fn say(&self, level: Level, text: impl FnOnce() -> String) -> bool {
        match &self.sink {
            Some(sink) if self.shows(level) => {
                sink.show(level, &self.redactor.scrub(&text()));
                true
            }
            _ => false,
        }
    }

    /// Says `text()` at [`Level::Info`] (shown with `-v` only).
    pub fn info(&self, text: impl FnOnce() -> String) {
        self.say(Level::Info, text);
    }

    /// Says `text()` at [`Level::Warn`] (always shown).
    pub fn warn(&self, text: impl FnOnce() -> String) {
        self.say(Level::Warn, text);
    }

    /// Says `text()` about a wait of `wait`: shown when the wait is long
    /// ([`LONG_WAIT`] or more) or with `-v` (see [`Notes::wait_level`]).
    pub fn wait(&self, wait: Duration, text: impl FnOnce() -> String) {
        self.say(Self::wait_level(wait), text);
    }

    /// The level of a note about a wait of `wait`: a user watching a run
    /// that stands still for [`LONG_WAIT`] or more is told why.
    pub fn wait_level(wait: Duration) -> Level {
        if wait >= LONG_WAIT {
            Level::Warn
        } else {
            Level::Info
        }
    }
}

/// Plain stderr, without `-v`: what a library caller that chose nothing gets
/// (the same lines tagsweep prints when no progress bar is drawn).
impl Default for Notes {
    fn default() -> Self {
        Notes::new(false, Arc::new(crate::progress::Terminal::default()))
    }
}

impl fmt::Debug for Notes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notes")
            .field("verbose", &self.verbose)
            .field("shown", &self.sink.is_some())
            .finish()
    }
}

#[cfg(test)]
pub mod testing {
    //! A sink that keeps what it is shown, for tests of what a component says.

    use std::sync::{Arc, Mutex};

    use super::{Level, Notes, Sink};

    /// Every note shown, in order.
    #[derive(Default)]
    pub struct Collected(pub Mutex<Vec<(Level, String)>>);

    impl Sink for Collected {
        fn show(&self, level: Level, text: &str) {
            self.0.lock().unwrap().push((level, text.to_string()));
        }
    }

    /// A handle whose notes land in the returned collection.
    pub fn collecting(verbose: bool) -> (Notes, Arc<Collected>) {
        let sink = Arc::new(Collected::default());
        (Notes::new(verbose, sink.clone()), sink)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::collecting;
    use super::*;

    #[test]
    fn info_needs_verbose_and_text_is_made_only_when_shown() {
        let (notes, seen) = collecting(false);
        notes.info(|| panic!("not formatted without -v"));
        notes.warn(|| "a warning".into());
        notes.wait(Duration::from_secs(1), || panic!("a short wait is -v only"));
        notes.wait(LONG_WAIT, || "a long wait".into());
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                (Level::Warn, "a warning".to_string()),
                (Level::Warn, "a long wait".to_string())
            ]
        );
        let (notes, seen) = collecting(true);
        notes.info(|| "detail".into());
        notes.wait(Duration::from_millis(5), || "short".into());
        assert_eq!(seen.0.lock().unwrap().len(), 2);
    }

    #[test]
    fn notes_never_show_a_secret() {
        let redactor = Redactor::new();
        let (notes, seen) = collecting(true);
        let notes = notes.redacting(redactor.clone());
        redactor.add(&crate::secret::Secret::new("tok-3456"));
        notes.info(|| "GET /v2/x?last=tok-3456 -> 200".into());
        assert_eq!(
            seen.0.lock().unwrap()[0].1,
            "GET /v2/x?last=(redacted) -> 200"
        );
    }

    #[test]
    fn silent_notes_show_nothing() {
        let notes = Notes::silent();
        assert!(!notes.shows(Level::Warn));
        assert!(!notes.say(Level::Warn, || panic!("never formatted")));
    }
}
