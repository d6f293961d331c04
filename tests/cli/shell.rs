//! What editors, shells and terminals get: the manifest schema, completions,
//! the man page, and a progress bar only where a person watches.

use crate::support::fakehub::FakeHub;
use crate::support::{repo_file, run, tagsweep, Workdir};

fn schema() -> jsonschema::Validator {
    let out = run(tagsweep().arg("schema"));
    assert_eq!(out.code, 0);
    let shipped =
        std::fs::read_to_string(repo_file("manifests/tagsweep-manifest.schema.json")).unwrap();
    assert_eq!(
        out.stdout, shipped,
        "`tagsweep schema` prints the schema shipped in manifests/"
    );
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn yaml(text: &str) -> serde_json::Value {
    serde_yaml::from_str(text).expect("YAML")
}

#[test]
fn the_schema_accepts_every_example_and_rejects_mistakes() {
    let validator = schema();
    for example in [
        "manifests/linaro-kolla.yaml",
        "manifests/linaro-sample.yaml",
    ] {
        let text = std::fs::read_to_string(repo_file(example)).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=./tagsweep-manifest.schema.json"),
            "{example}"
        );
        let errors: Vec<String> = validator
            .iter_errors(&yaml(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{example}: {errors:?}");
    }
    let good = "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$', grace: 1h30m}\nimages: [base, {name: ironic-pxe, builds: '^rocky-1'}]\n";
    assert!(validator.is_valid(&yaml(good)));
    let bounded = "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [{name: zun, from: rocky-40}, {name: old, until: rocky-12}]\n";
    assert!(validator.is_valid(&yaml(bounded)));
    for retention in [
        "{keep: 5, max_age: 30d}",
        "{keep: 1}",
        "{keep: 3, max_age: 1w3d}",
    ] {
        let retained = format!("namespace: linaro\nbuilds: {{pattern: '^(?P<stream>rocky|stein)-\\d+$'}}\nretention: {retention}\nimages: [a]\n");
        assert!(validator.is_valid(&yaml(&retained)), "{retained}");
    }
    for bad in [
        "namespace: linaro\nbuilds: {pattern: x}\nimages: []\n",
        "namespace: linaro\nbuilds: {pattern: x}\nimages: [a]\ncolour: blue\n",
        "namespace: Linaro\nbuilds: {pattern: x}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x, grace: 2 hours}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nplatforms: [linux]\nimages: [a]\n",
        "namespace: linaro\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nimages: [{name: a, tag: b}]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nimages: [{name: a, from: 40}]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nimages: [{name: a, until: ''}]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nretention: {max_age: 30d}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nretention: {keep: 0}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nretention: {keep: '5'}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nretention: {keep: 2.5}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nretention: {keep: 5, max_age: 30}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nretention: {keep: 5, max_age: '0'}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nretention: {keep: 5, max-age: 30d}\nimages: [a]\n",
        "namespace: linaro\nbuilds: {pattern: x}\nretention: 5\nimages: [a]\n",
    ] {
        assert!(!validator.is_valid(&yaml(bad)), "accepted: {bad}");
    }
}

#[test]
fn completions_and_man_page_generate() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef tagsweep"),
        ("fish", "complete -c tagsweep"),
    ] {
        let out = run(tagsweep().args(["completions", shell]));
        assert_eq!(out.code, 0, "{shell}");
        assert!(
            out.stdout.contains(marker),
            "{shell}: {}",
            &out.stdout[..out.stdout.len().min(300)]
        );
        for sub in ["audit", "prune", "validate", "snapshot"] {
            assert!(out.stdout.contains(sub), "{shell} completes {sub}");
        }
    }
    let out = run(tagsweep().arg("man"));
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH tagsweep"),
        "{}",
        &out.stdout[..200.min(out.stdout.len())]
    );
    assert!(out.stdout.contains("audit"));
    assert_eq!(run(tagsweep().args(["completions", "tcsh"])).code, 2);
}

fn small_hub() -> FakeHub {
    FakeHub::builder()
        .repo("linaro", "debian-source-base")
        .tag("rocky-1", chrono::Utc::now() - chrono::TimeDelta::days(1))
        .done()
        .start()
}

const M: &str =
    "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [debian-source-base]\n";

#[test]
fn no_progress_output_when_stderr_is_not_a_terminal() {
    let hub = small_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", M);
    let out = run(tagsweep()
        .args(["audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "", "nothing on stderr in a pipe");
}

#[test]
fn progress_on_a_terminal_but_not_in_ci_or_with_quiet() {
    let hub = small_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", M);
    let bin = assert_cmd::cargo::cargo_bin("tagsweep");
    let on_tty = |extra: &str, ci: bool| {
        let line = format!(
            "{} audit {extra} -m {} > /dev/null",
            bin.display(),
            m.display()
        );
        let mut cmd = assert_cmd::Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TAGSWEEP_HUB_URL", hub.url())
            .env("TERM", "xterm")
            // Never the user's caches.
            .env("XDG_CACHE_HOME", w.path().join("cache"));
        if ci {
            cmd.env("CI", "true");
        }
        run(&mut cmd)
    };
    let shown = on_tty("", false);
    assert!(
        shown.stdout.contains("repositories"),
        "a bar on a terminal: {:?}",
        shown.stdout
    );
    assert!(!on_tty("--quiet", false).stdout.contains("repositories"));
    assert!(
        !on_tty("", true).stdout.contains("repositories"),
        "no bar in CI"
    );
}
