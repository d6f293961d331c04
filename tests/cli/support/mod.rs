//! What every black-box test needs: the built binary with a scrubbed
//! environment, temporary manifests, and the fake Docker Hub.

#![allow(dead_code)]

pub mod fakehub;
pub mod registry;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use chrono::{DateTime, Utc};

/// The instant the deterministic fixtures are judged at (`--now`).
pub const NOW: &str = "2026-11-20T12:00:00Z";

pub fn now() -> DateTime<Utc> {
    NOW.parse().unwrap()
}

/// The built `tagsweep` binary, with none of the caller's environment (no
/// credentials or hub URL can leak in from the developer's shell), and a
/// cache directory of its own (`XDG_CACHE_HOME`, under cargo's test temp
/// dir), so that no run sees what another test's run kept. A test that
/// needs two runs to share what they keep sets `XDG_CACHE_HOME` (or
/// `--state`) itself.
pub fn tagsweep() -> Command {
    Command::from_std(tagsweep_std())
}

/// [`tagsweep`] as a plain `std::process::Command`, for tests that wire its
/// standard streams themselves (a closed pipe, a pseudo-terminal).
pub fn tagsweep_std() -> std::process::Command {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tagsweep"));
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("NO_COLOR", "1");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cache-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    cmd.env("XDG_CACHE_HOME", cache);
    cmd
}

/// A local HTTP server (axum) on 127.0.0.1, for the test doubles that are
/// not the fake Docker Hub (the paging proxy, the token server); it stops
/// when dropped.
pub struct Served {
    pub port: u16,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Served {
    /// A listener on a free loopback port, and that port (for apps that must
    /// know their own address).
    pub fn bind() -> (std::net::TcpListener, u16) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        (listener, port)
    }

    /// Serves `app` on `listener` from `rt` until dropped.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        listener: std::net::TcpListener,
        app: axum::Router,
    ) -> Served {
        let port = listener.local_addr().expect("local address").port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Served {
            port,
            shutdown: Some(tx),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A temporary directory holding files a test writes.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` with `text` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

/// Output of one run, decoded.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the command and captures everything.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run tagsweep");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts `cmd` (from [`tagsweep_std`]), waits for `moment` to return (it
/// watches for the point to interrupt at, e.g. a proxy's log), then kills
/// the process (SIGKILL: nothing after that point runs, as when a CI job
/// is cancelled or the machine stops) and returns what it printed.
pub fn killed_when(mut cmd: std::process::Command, moment: impl FnOnce()) -> Run {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tagsweep");
    moment();
    child.kill().expect("kill tagsweep");
    let out = child.wait_with_output().expect("wait for tagsweep");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The build `tag` of an audit's JSON report; fails the test, showing the
/// report, when there is none.
pub fn build<'a>(doc: &'a serde_json::Value, tag: &str) -> &'a serde_json::Value {
    doc["builds"]
        .as_array()
        .expect("a report with builds")
        .iter()
        .find(|b| b["tag"] == tag)
        .unwrap_or_else(|| panic!("no build {tag} in {doc:#}"))
}

/// The repository's own file (manifests/, …).
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
