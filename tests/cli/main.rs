//! Black-box tests: the built `tagsweep` binary against a local fake of
//! Docker Hub that behaves like the real one (see `support/fakehub.rs`).

mod audit;
mod credentials;
mod evidence;
mod fakehub_selftest;
mod faults;
mod incremental;
mod oci;
mod prune;
mod retention;
mod secrets;
mod shell;
mod snapshot;
mod support;
mod validate;
mod verify;
