//! What the linter's tests share: a valid manifest to start from, and the
//! problems (or the manifest) that linting some text gives.

use super::parse_str;
use crate::manifest::Manifest;

/// A valid manifest; tests replace or append parts of it.
pub(super) const BASE: &str =
    "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages:\n  - a\n";

/// Every problem, as printed.
pub(super) fn problems(src: &str) -> Vec<String> {
    match parse_str("m.yaml", src) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

/// The single problem of `src`, as printed.
pub(super) fn problem(src: &str) -> String {
    let all = problems(src);
    assert_eq!(
        all.len(),
        1,
        "expected one problem in {src:?}, got {all:#?}"
    );
    all.into_iter().next().unwrap_or_default()
}

pub(super) fn valid(src: &str) -> Manifest {
    parse_str("m.yaml", src).unwrap_or_else(|p| panic!("{src:?}: {p:#?}"))
}
