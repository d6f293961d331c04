//! `tagsweep validate`: offline manifest checks, as a PR check runs them.

use crate::support::{repo_file, run, tagsweep, Workdir};

#[test]
fn the_shipped_manifests_are_valid() {
    let out = run(tagsweep()
        .arg("validate")
        .arg(repo_file("manifests/linaro-kolla.yaml"))
        .arg(repo_file("manifests/linaro-sample.yaml")));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("linaro-kolla.yaml: valid (250 images)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("linaro-sample.yaml: valid (6 images)"),
        "{}",
        out.stdout
    );
}

const BAD: &str = "\
namespace: Linaro_
builds:
  pattern: '^rocky-(\\d+$'
  grace: 2 hours
  protect: ['^latest$', '[']
platforms: [linux/amd64, linux/amd46, linux]
images:
  - debian-source-base
  - name: debian-source-nova-api
    builds: '('
    colour: blue
  - debian-source-base
";

#[test]
fn every_problem_is_reported_with_its_position() {
    let w = Workdir::new();
    let bad = w.write("bad.yaml", BAD);
    let out = run(tagsweep().args(["validate", "-m"]).arg(&bad));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = |pos: &str, words: &str| {
        let prefix = format!("{}:{pos}: ", bad.display());
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l.to_lowercase().contains(words)),
            "no problem at {pos} mentioning {words:?} in:\n{}",
            out.stdout
        );
    };
    at("1:12", "namespace");
    at("3:12", "regex");
    at("4:10", "duration");
    at("5:25", "regex");
    at("6:26", "amd46");
    at("6:39", "platform");
    at("10:13", "regex");
    at("11:5", "colour");
    at("12:5", "duplicate");
    assert_eq!(lines.len(), 9, "one line per problem:\n{}", out.stdout);
}

#[test]
fn github_annotations() {
    let w = Workdir::new();
    let bad = w.write(
        "bad.yaml",
        "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: []\n",
    );
    let out = run(tagsweep()
        .args(["validate", "--format", "github"])
        .arg(&bad));
    assert_eq!(out.code, 1);
    let line = out.stdout.lines().next().unwrap_or_default().to_string();
    assert!(
        line.starts_with(&format!("::error file={},line=3,col=9::", bad.display())),
        "{}",
        out.stdout
    );
}

#[test]
fn files_that_are_not_manifests() {
    let w = Workdir::new();
    let empty = w.write("empty.yaml", "");
    let binary = w.path().join("binary.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let big = w.write(
        "big.yaml",
        &format!("namespace: linaro\n#{}\n", "x".repeat(2 << 20)),
    );

    for (path, words) in [(&empty, "empty"), (&binary, "utf-8"), (&big, "1 mib")] {
        let out = run(tagsweep().arg("validate").arg(path));
        assert_eq!(
            out.code,
            1,
            "{}: {}{}",
            path.display(),
            out.stdout,
            out.stderr
        );
        assert!(
            out.stdout.to_lowercase().contains(words),
            "{}: {}",
            path.display(),
            out.stdout
        );
    }
    let out = run(tagsweep().arg("validate").arg(w.path()));
    assert_eq!(out.code, 1, "a directory: {}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("directory") || out.stdout.contains("not a file"),
        "{}",
        out.stdout
    );

    // A file that does not exist is a usage error, after the others are checked.
    let good = repo_file("manifests/linaro-sample.yaml");
    let out = run(tagsweep()
        .arg("validate")
        .arg(w.path().join("nope.yaml"))
        .arg(&good));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("linaro-sample.yaml: valid"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("nope.yaml"), "{}", out.stderr);
}

#[test]
fn validate_needs_a_file() {
    assert_eq!(run(tagsweep().arg("validate")).code, 2);
}

#[test]
fn a_from_that_is_not_a_build_tag_is_reported_at_its_value() {
    let w = Workdir::new();
    let manifest = w.write(
        "zun.yaml",
        "namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages:\n  - debian-source-base\n  - name: debian-source-zun-compute\n    from: rocky40\n  - name: debian-source-old-thing\n    until: rocky-12\n",
    );
    let out = run(tagsweep().args(["validate", "-m"]).arg(&manifest));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "{}:7:11: 'from' value 'rocky40' is not a build tag: it does not match builds.pattern '^rocky-\\d+$'\n",
            manifest.display()
        )
    );

    // Fixed, the same manifest is valid.
    let fixed = w.write(
        "fixed.yaml",
        &std::fs::read_to_string(&manifest)
            .unwrap()
            .replace("rocky40", "rocky-40"),
    );
    let out = run(tagsweep().args(["validate", "-m"]).arg(&fixed));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("valid (3 images)"), "{}", out.stdout);
}

#[test]
fn warnings_are_printed_and_leave_the_exit_code_alone() {
    let w = Workdir::new();
    let manifest = w.write(
        "retention.yaml",
        "namespace: linaro\nbuilds:\n  pattern: 'rocky-\\d+'\nretention:\n  keep: 5\n  max_age: 30d\nimages: [debian-source-base]\n",
    );
    let out = run(tagsweep().args(["validate", "-m"]).arg(&manifest));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "{path}:3:12: warning: 'builds.pattern' 'rocky-\\d+' is not anchored (^…$) and 'retention' is set: \
             a tag that only contains a build tag (such as rocky-12-debug) counts as a build of its own, and can expire; \
             write '^rocky-\\d+$'\n{path}: valid (1 images, 1 warning)\n",
            path = manifest.display()
        )
    );
    let out = run(tagsweep()
        .args(["validate", "--format", "github"])
        .arg(&manifest));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with(&format!(
            "::warning file={},line=3,col=12::'builds.pattern' 'rocky-\\d+' is not anchored",
            manifest.display()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);

    // With a problem besides, the problem is what fails the check.
    let invalid = w.write(
        "invalid.yaml",
        "namespace: linaro\nbuilds:\n  pattern: 'rocky-\\d+'\nretention:\n  keep: 0\nimages: [debian-source-base]\n",
    );
    let out = run(tagsweep().args(["validate", "-m"]).arg(&invalid));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "{}:5:9: 'retention.keep' is 0, so no complete build would be kept and every build would expire; keep at least 1\n",
            invalid.display()
        )
    );
}

#[test]
fn a_missing_manifest_is_said_once() {
    let w = Workdir::new();
    let missing = w.path().join("nope.yaml");
    let out = run(tagsweep().args(["audit", "-m"]).arg(&missing));
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("check the path"), "{}", out.stderr);
}
