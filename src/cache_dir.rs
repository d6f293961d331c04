//! Where tagsweep keeps what it may remember between runs.
//!
//! Some answers never change — a manifest named by its digest is immutable,
//! so the platforms it lists are the same forever — and some cost something
//! to ask again (each manifest GET counts against Docker Hub's pull limit).
//! They live in one per-user directory, which every feature that keeps such
//! files shares — the platforms of manifests (`platforms.json`), the
//! inventory an audit listed (`inventory/`), the observations of incomplete
//! builds (`observations/`): `--no-cache` turns all of them off, and
//! `--cache-dir DIR` (`TAGSWEEP_CACHE_DIR`) puts all of them in `DIR`
//! instead (for CI caches); see `config::Connection::cache_dir`.

use std::path::PathBuf;

/// The name of tagsweep's directory inside the user's cache directory.
pub const APP_DIR: &str = "tagsweep";

/// The user's cache directory + `tagsweep`: `$XDG_CACHE_HOME/tagsweep`
/// (when set to an absolute path), else `$HOME/.cache/tagsweep` on Linux;
/// `~/Library/Caches/tagsweep` on macOS; `%LOCALAPPDATA%\tagsweep` on
/// Windows (the `dirs` crate's `cache_dir`). `None` when the system names
/// none (no home directory): then nothing is cached. The directory may not
/// exist yet; writers create it.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join(APP_DIR))
}
