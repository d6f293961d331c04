//! Where tagsweep keeps what it may reuse between runs.

use std::path::PathBuf;

/// The user's cache directory plus `tagsweep` (`$XDG_CACHE_HOME/tagsweep`,
/// else `~/.cache/tagsweep` on Linux; `~/Library/Caches/tagsweep` on macOS);
/// `None` when the platform has none (no home directory).
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("tagsweep"))
}
