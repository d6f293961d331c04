//! The decisions tagsweep makes, as pure functions of (manifest, inventory, now).
//!
//! Nothing here does I/O: the audit and the prune plan are computed from data
//! the registries filled in, so every rule is unit-tested without HTTP.

pub mod audit;
pub mod diff;
pub mod promote;
pub mod prune;
pub mod restore;
pub mod retention;

pub use crate::natural::natural_cmp;
pub use audit::{evaluate, BuildReport, BuildSelection, ImageStats, Report, Status, Summary};
