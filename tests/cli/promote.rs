//! `tagsweep promote` end to end on a real registry (Debian's
//! `docker-registry`): a complete build pointed to by `latest` in every
//! image, undone by `restore --journal`, judged by the digest each tag (and
//! each index child) resolves to; a broken build refused.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::restore::{kolla, manifest, restore, state};
use crate::support::registry::TestRegistry;
use crate::support::{run, tagsweep, Run, Workdir};

const REFS: &[(&str, &str)] = &[
    ("base", "rocky-1"),
    ("base", "rocky-2"),
    ("base", "latest"),
    ("nova", "rocky-1"),
    ("nova", "rocky-2"),
    ("nova", "latest"),
    ("glance", "rocky-1"),
    ("glance", "latest"),
];

fn promote(m: &std::path::Path, args: &[&str]) -> Run {
    run(tagsweep().arg("promote").arg("-m").arg(m).args(args))
}

#[test]
fn a_complete_build_is_promoted_to_latest_and_the_promote_undone_exactly() {
    let reg = TestRegistry::start();
    let children = kolla(&reg);
    let w = Workdir::new();
    let m = manifest(&w, &reg.url());
    let j = w.path().join("promote.jsonl");
    let before = state(&reg, REFS, &children);
    assert_eq!(before["nova:latest"], None);

    // rocky-2 lacks glance: refused, nothing moves.
    let out = promote(&m, &["rocky-2", "--tag", "latest", "--yes"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("refusing to promote: rocky-2 is broken; missing in glance"),
        "{}",
        out.stderr
    );
    assert_eq!(state(&reg, REFS, &children), before);

    // A build nobody pushed is said so, not called broken.
    let out = promote(&m, &["rocky-99", "--tag", "latest", "--yes"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("refusing to promote: no image of the set carries rocky-99"),
        "{}",
        out.stderr
    );

    // The newest complete build is rocky-1.
    let dry = promote(&m, &["--newest-complete", "--tag", "latest", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert!(
        dry.stdout
            .contains("latest → rocky-1 (complete) in 3 of 3 images"),
        "{}",
        dry.stdout
    );
    assert_eq!(state(&reg, REFS, &children), before);

    let out = promote(
        &m,
        &[
            "rocky-1",
            "--tag",
            "latest",
            "--yes",
            "--journal",
            j.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let promoted = state(&reg, REFS, &children);
    for repo in ["base", "nova", "glance"] {
        assert_eq!(
            promoted[&format!("{repo}:latest")],
            before[&format!("{repo}:rocky-1")],
            "{repo}"
        );
    }
    let lines: Vec<Value> = std::fs::read_to_string(&j)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Each push: its intent, then its result.
    assert_eq!(lines.len(), 6, "{lines:?}");
    for pair in lines.chunks(2) {
        assert_eq!(pair[0]["result"], "intent", "{pair:?}");
        assert_eq!(pair[0]["previous_digest"], pair[1]["previous_digest"]);
    }
    let prev: BTreeMap<String, Value> = lines
        .iter()
        .filter(|l| l["result"] != "intent")
        .map(|l| {
            assert_eq!(l["action"], "promote");
            assert_eq!(l["result"], "done");
            (
                l["repository"].as_str().unwrap().to_string(),
                l["previous_digest"].clone(),
            )
        })
        .collect();
    assert_eq!(prev["base"].as_str(), before["base:latest"].as_deref());
    assert_eq!(prev["nova"], Value::Null, "did not exist");

    // A rerun converges.
    let again = promote(&m, &["rocky-1", "--tag", "latest", "--yes"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("Nothing to change."),
        "{}",
        again.stdout
    );

    // Undo: every tag back where it was, the created ones gone.
    let out = restore(&j, &["--yes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state(&reg, REFS, &children), before);
    assert_eq!(reg.tags("kolla/nova").unwrap(), ["rocky-1", "rocky-2"]);
}

#[test]
fn an_unprotected_tag_is_warned_and_a_build_tag_refused() {
    let reg = TestRegistry::start();
    kolla(&reg);
    let w = Workdir::new();
    let m = manifest(&w, &reg.url());
    let out = promote(&m, &["rocky-1", "--tag", "stable", "--dry-run"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("warning: stable is not protected"),
        "{}",
        out.stderr
    );
    let out = promote(&m, &["rocky-1", "--tag", "rocky-2", "--yes"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("is a build tag"), "{}", out.stderr);
    assert_eq!(reg.tags("kolla/glance").unwrap(), ["rocky-1"]);
}

/// Behind a token server, with `-v`: promote and its undo ask for the push
/// scope, and no password or token reaches any output or the journal.
#[test]
fn promote_and_its_undo_show_no_secret_even_with_verbose() {
    use crate::support::registry::{Options, TokenPolicy};
    const PASSWORD: &str = "pr0mote-t0ken-pw";
    let reg = TestRegistry::start_with(Options {
        token: Some(TokenPolicy {
            user: "robot".into(),
            password: PASSWORD.into(),
            anonymous_pull: false,
            deny_catalog: true,
        }),
        ..Options::default()
    });
    kolla(&reg);
    let w = Workdir::new();
    let m = manifest(&w, &reg.url());
    let j = w.path().join("promote.jsonl");
    let asked_before = reg.token_server().requests().len();
    let with_credentials = |args: &[&str]| {
        run(tagsweep()
            .arg("-v")
            .args(args)
            .env("TAGSWEEP_REGISTRY_USERNAME", "robot")
            .env("TAGSWEEP_REGISTRY_PASSWORD", PASSWORD))
    };
    let promoted = with_credentials(&[
        "promote",
        "rocky-1",
        "--tag",
        "latest",
        "--yes",
        "--journal",
        j.to_str().unwrap(),
        "-m",
        m.to_str().unwrap(),
    ]);
    assert_eq!(promoted.code, 0, "{}\n{}", promoted.stdout, promoted.stderr);
    // The journal's registry is the manifest's: -m says the credentials may go there.
    let undone = with_credentials(&[
        "restore",
        "--yes",
        "--journal",
        j.to_str().unwrap(),
        "-m",
        m.to_str().unwrap(),
    ]);
    assert_eq!(undone.code, 0, "{}\n{}", undone.stdout, undone.stderr);
    assert!(
        undone.stderr.contains("PUT ") || promoted.stderr.contains("PUT "),
        "-v shows the requests:\n{}",
        promoted.stderr
    );
    let scopes: Vec<String> = reg
        .token_server()
        .requests()
        .into_iter()
        .skip(asked_before)
        .flat_map(|r| r.scopes)
        .collect();
    assert!(
        scopes.contains(&"repository:kolla/nova:pull,push".to_string()),
        "{scopes:?}"
    );
    let mut secrets = vec![PASSWORD.to_string()];
    secrets.extend(reg.token_server().issued());
    let journal = std::fs::read_to_string(&j).unwrap();
    for s in &secrets {
        for text in [
            &promoted.stdout,
            &promoted.stderr,
            &undone.stdout,
            &undone.stderr,
            &journal,
        ] {
            assert!(!text.contains(s.as_str()), "a secret shown:\n{text}");
        }
    }
}

/// Killed right after the registry moved `latest` in the first image: the
/// journal must say where it was, so that `restore` can put it back.
#[test]
fn a_promote_killed_after_a_push_is_undone_from_its_intent() {
    use crate::restore::interrupted::proxy;
    use crate::support::registry::oci_paging::Intercept;
    use crate::support::{killed_when, tagsweep_std};

    let reg = TestRegistry::start();
    let children = kolla(&reg);
    let proxy = proxy(&reg);
    let w = Workdir::new();
    let m = manifest(&w, &proxy.url());
    let j = w.path().join("promote.jsonl");
    let before = state(&reg, REFS, &children);

    proxy.intercept(|method, path| {
        (method == "PUT" && path == "/v2/kolla/base/manifests/latest")
            .then_some(Intercept::ForwardThenHang)
    });
    let mut cmd = tagsweep_std();
    cmd.args([
        "promote",
        "rocky-1",
        "--tag",
        "latest",
        "--yes",
        "--journal",
    ])
    .arg(&j)
    .arg("-m")
    .arg(&m);
    killed_when(cmd, || {
        proxy.wait_for(
            |l| l.starts_with("DONE PUT /v2/kolla/base/manifests/latest"),
            std::time::Duration::from_secs(90),
        );
    });
    assert_eq!(
        state(&reg, REFS, &children)["base:latest"],
        before["base:rocky-1"],
        "the push happened"
    );
    let recorded: Vec<Value> = std::fs::read_to_string(&j)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["result"], "intent");
    assert_eq!(
        recorded[0]["previous_digest"].as_str(),
        before["base:latest"].as_deref()
    );
    assert_eq!(
        recorded[0]["digest"].as_str(),
        before["base:rocky-1"].as_deref()
    );

    proxy.stop_intercepting();
    let out = restore(&j, &["--yes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(state(&reg, REFS, &children), before);
}
