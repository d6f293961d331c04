//! Standard output: the one writer every command prints its result through.
//!
//! `tagsweep audit … | head` and `tagsweep man | head -1` close the pipe
//! before tagsweep has finished writing. Rust ignores `SIGPIPE`, so a write
//! then fails with `BrokenPipe`, and `print!` would panic ("failed printing
//! to stdout: Broken pipe"). Here a closed pipe means the reader has read
//! all it wants: the rest of the output is dropped quietly and the command
//! ends as it would have (the exit code still says clean, findings or
//! error). Any other write error is an error of the command (exit 2).
//!
//! Progress and notes go to stderr ([`crate::progress`]), never here.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// Set once a write found the pipe closed; nothing is written after that.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout as is, and flushes.
///
/// # Errors
/// A write error other than a closed pipe (a full disk behind `> file`,
/// say), with what was being written.
pub fn print(text: impl AsRef<str>) -> Result<()> {
    write_to(&mut std::io::stdout().lock(), text.as_ref().as_bytes())
}

/// Writes `text` and a newline to stdout; see [`print`].
pub fn println(text: impl AsRef<str>) -> Result<()> {
    let mut line = String::from(text.as_ref());
    line.push('\n');
    print(line)
}

/// Writes `bytes` to `out` unless an earlier write found the reader gone.
fn write_to(out: &mut impl Write, bytes: &[u8]) -> Result<()> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(e).context("writing to standard output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader has gone after `room` bytes.
    struct Pipe {
        written: Vec<u8>,
        room: usize,
        kind: ErrorKind,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.written.len() >= self.room {
                return Err(self.kind.into());
            }
            let n = buf.len().min(self.room - self.written.len());
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_the_output_quietly_and_other_errors_do_not() {
        READER_GONE.store(false, Ordering::Relaxed);
        let mut pipe = Pipe {
            written: vec![],
            room: 4,
            kind: ErrorKind::BrokenPipe,
        };
        write_to(&mut pipe, b"line 1\n").unwrap();
        write_to(&mut pipe, b"line 2\n").unwrap();
        assert_eq!(pipe.written, b"line");
        READER_GONE.store(false, Ordering::Relaxed);

        let mut full = Pipe {
            written: vec![],
            room: 0,
            kind: ErrorKind::StorageFull,
        };
        let e = write_to(&mut full, b"x").unwrap_err();
        assert!(format!("{e:#}").contains("writing to standard output"));
    }
}
