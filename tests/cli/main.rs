//! Black-box tests: the built `tagsweep` binary against a local fake of
//! Docker Hub that behaves like the real one (see `support/fakehub.rs`).

mod audit;
mod command_line;
mod credentials;
mod diff;
mod evidence;
mod fakehub_selftest;
mod faults;
mod html;
mod incremental;
mod oci;
mod promote;
mod prune;
mod quirks;
mod restore;
mod retention;
mod secrets;
mod shell;
mod snapshot;
mod support;
mod untag;
mod validate;
mod verify;
