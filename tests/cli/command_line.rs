//! The command line as people type it: connection options before or after
//! the subcommand, output piped into `head`, long lists, prune's plan and
//! progress on a terminal, and a snapshot given with the wrong manifest.

use std::process::Stdio;
use std::time::Duration;

use chrono::{TimeDelta, Utc};

use crate::support::fakehub::{FakeHub, Fault};
use crate::support::{repo_file, run, tagsweep, tagsweep_std, Workdir};

const SET: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
  grace: 2h
images: [base, nova-api, glance-api]
";

/// rocky-1 and rocky-4 complete, rocky-2 broken (glance-api missing),
/// rocky-3 broken (nova-api and glance-api missing); `extras` unexpected
/// repositories carry rocky-1.
fn hub(extras: usize) -> FakeHub {
    let ago = |h: i64| Utc::now() - TimeDelta::hours(h);
    let mut b = FakeHub::builder()
        .account("ci-bot", "dckr_pat_delete", true)
        .repo("linaro", "base")
        .tag("rocky-1", ago(72))
        .tag("rocky-2", ago(48))
        .tag("rocky-3", ago(30))
        .tag("rocky-4", ago(10))
        .done()
        .repo("linaro", "nova-api")
        .tag("rocky-1", ago(72))
        .tag("rocky-2", ago(48))
        .tag("rocky-4", ago(10))
        .done()
        .repo("linaro", "glance-api")
        .tag("rocky-1", ago(72))
        .tag("rocky-4", ago(10))
        .done();
    for i in 0..extras {
        b = b
            .repo("linaro", &format!("extra-{i:03}"))
            .tag("rocky-1", ago(72))
            .done();
    }
    b.start()
}

/// Every connection option, before the subcommand and after it, on a real
/// run against the fake Hub: both reach it and audit the same.
#[test]
fn connection_options_work_before_and_after_the_subcommand() {
    let hub = hub(0);
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let m = m.to_str().unwrap();
    let url = hub.url();
    let placements: [Vec<&str>; 3] = [
        vec![
            "--hub-url",
            &url,
            "-j",
            "2",
            "--no-cache",
            "audit",
            "-m",
            m,
            "--format",
            "json",
        ],
        vec![
            "audit",
            "-m",
            m,
            "--format",
            "json",
            "--hub-url",
            &url,
            "-j",
            "2",
            "--no-cache",
        ],
        vec![
            "-j",
            "2",
            "audit",
            "--hub-url",
            &url,
            "-m",
            m,
            "--format",
            "json",
        ],
    ];
    let mut reports = Vec::new();
    for argv in placements {
        let out = run(tagsweep().args(&argv));
        assert_eq!(
            out.code, 1,
            "{argv:?}: broken builds exit 1\n{}",
            out.stderr
        );
        let mut doc = out.json();
        // What may differ between two runs: the cost, and the time judged at.
        for run_specific in ["stats", "as_of"] {
            doc.as_object_mut().unwrap().remove(run_specific);
        }
        reports.push(doc);
    }
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
    assert_eq!(reports[0]["summary"]["broken"], 2);

    // The credentials options too: a prune plan, logged in, before the subcommand.
    let out = run(tagsweep()
        .args([
            "--hub-url",
            &url,
            "--username",
            "ci-bot",
            "--password-stdin",
        ])
        .args(["prune", "-m", m, "--broken", "--dry-run"])
        .write_stdin("dckr_pat_delete\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("2 builds"), "{}", out.stdout);
    assert!(hub
        .requests()
        .iter()
        .any(|r| r.path.contains("/auth/token") || r.path.contains("login")));
}

/// -v and -q contradict each other wherever they are given.
#[test]
fn verbose_and_quiet_are_refused_together_in_any_position() {
    let manifest = repo_file("manifests/linaro-sample.yaml");
    for argv in [
        &["-v", "-q", "validate"][..],
        &["validate", "-v", "-q"],
        &["-v", "validate", "-q"],
        &["-q", "validate", "--verbose"],
    ] {
        let out = run(tagsweep().args(argv).arg(&manifest));
        assert_eq!(out.code, 2, "{argv:?}: {}", out.stdout);
        assert!(out.stdout.is_empty(), "{argv:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("cannot be used") && out.stderr.contains("--quiet"),
            "{argv:?}: {}",
            out.stderr
        );
    }
}

/// Runs tagsweep with its stdout a pipe whose reader has already gone.
fn into_closed_pipe(args: &[&str]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = tagsweep_std()
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run tagsweep");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tagsweep … | head` ends quietly, with the exit code the command has
/// when its output is read to the end.
#[test]
fn a_closed_pipe_ends_every_command_quietly_with_its_usual_exit_code() {
    let manifest = repo_file("manifests/linaro-sample.yaml");
    let snapshot = repo_file("manifests/linaro-sample.snapshot.json");
    let adds = repo_file("manifests/linaro-sample.adds-horizon.yaml");
    let (m, s, adds) = (
        manifest.to_str().unwrap(),
        snapshot.to_str().unwrap(),
        adds.to_str().unwrap(),
    );
    let commands: Vec<Vec<&str>> = vec![
        vec!["audit", "-m", m, "--from", s],
        vec!["audit", "-m", m, "--from", s, "--format", "json"],
        vec!["audit", "-m", m, "--from", s, "--format", "markdown"],
        vec!["prune", "-m", m, "--from", s, "--dry-run", "--broken"],
        vec![
            "prune",
            "-m",
            m,
            "--from",
            s,
            "--dry-run",
            "--broken",
            "--format",
            "json",
        ],
        vec!["diff", m, adds, "--from", s],
        vec!["diff", m, adds, "--from", s, "--format", "markdown"],
        vec!["validate", m],
        vec!["schema"],
        vec!["man"],
        vec!["completions", "bash"],
        vec!["--help"],
        vec!["audit", "--help"],
        vec!["--version"],
    ];
    for args in commands {
        let usual = run(tagsweep().args(&args));
        assert!(!usual.stdout.is_empty(), "{args:?} writes to stdout");
        let (code, stderr) = into_closed_pipe(&args);
        assert_eq!(code, usual.code, "{args:?}: {stderr}");
        assert!(
            !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr, usual.stderr, "{args:?}: nothing more on stderr");
    }
}

/// Hundreds of unexpected repositories are counted on a terminal-sized
/// report, and every one is named with -v and in JSON.
#[test]
fn long_lists_are_shortened_unless_asked_for_in_full() {
    let hub = hub(40);
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let audit = |extra: &[&str]| {
        run(tagsweep()
            .arg("audit")
            .arg("-m")
            .arg(&m)
            .args(extra)
            .env("TAGSWEEP_HUB_URL", hub.url()))
    };
    let short = audit(&[]);
    let line = short
        .stdout
        .lines()
        .find(|l| l.starts_with("Not in the manifest"))
        .unwrap_or_else(|| panic!("{}", short.stdout));
    assert_eq!(
        line,
        "Not in the manifest, but carrying build tags (40): extra-000, extra-001, extra-002, \
         extra-003, extra-004, extra-005, extra-006, extra-007, extra-008, extra-009, +30 more \
         (-v lists all)"
    );
    let full = audit(&["-v"]);
    assert!(full.stdout.contains("extra-039") && !full.stdout.contains("+30 more"));
    let json = audit(&["--format", "json"]).json();
    assert_eq!(
        json["unexpected_repositories"].as_array().unwrap().len(),
        40
    );
}

/// The plan says what each build lacks, not "broken" twice.
#[test]
fn the_plan_says_what_each_build_lacks() {
    let hub = hub(0);
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let out = run(tagsweep()
        .args(["prune", "--broken", "--dry-run", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row = |build: &str| {
        out.stdout
            .lines()
            .find(|l| l.contains(build))
            .unwrap_or_else(|| panic!("{}", out.stdout))
            .to_string()
    };
    assert!(
        row("rocky-2").contains("missing glance-api"),
        "{}",
        out.stdout
    );
    assert!(
        row("rocky-3").contains("missing glance-api, nova-api"),
        "{}",
        out.stdout
    );
    let json = run(tagsweep()
        .args(["prune", "--broken", "--dry-run", "--format", "json", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url()))
    .json();
    assert_eq!(json["builds"][0]["tag"], "rocky-3");
    assert_eq!(
        json["builds"][0]["missing"],
        serde_json::json!(["glance-api", "nova-api"])
    );
}

/// Runs `args` under a pseudo-terminal (util-linux `script`), as a person at
/// a terminal would; returns everything the terminal showed.
fn on_a_terminal(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let quoted: Vec<String> = std::iter::once(
        assert_cmd::cargo::cargo_bin("tagsweep")
            .display()
            .to_string(),
    )
    .chain(args.iter().map(|a| a.to_string()))
    .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
    .collect();
    // The environment tagsweep() gives every run (scrubbed, own cache).
    let cmd = tagsweep_std();
    let mut script = std::process::Command::new("script");
    script.args(["-qefc", &quoted.join(" "), "/dev/null"]);
    script.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    script.env("TERM", "xterm");
    for (k, v) in env {
        script.env(k, v);
    }
    let out = script
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs (apt-get install bsdutils)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// On a terminal, prune draws a bar per build and prints one line per
/// build; in a log it prints one line per tag.
#[test]
fn prune_on_a_terminal_shows_a_bar_and_a_line_per_build() {
    let hub = hub(0);
    // Slow deletions, so that the bar is drawn while they run.
    hub.inject(
        Fault::on("DELETE")
            .always()
            .delay(Duration::from_millis(300)),
    );
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let m = m.to_str().unwrap();
    let url = hub.url();
    let env = [
        ("TAGSWEEP_HUB_URL", url.as_str()),
        ("DOCKERHUB_USERNAME", "ci-bot"),
        ("DOCKERHUB_TOKEN", "dckr_pat_delete"),
    ];
    let (code, screen) = on_a_terminal(&["prune", "-m", m, "--broken", "--yes"], &env);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(hub.count("DELETE"), 3, "{screen}");
    assert!(
        screen.contains("deleting rocky-2"),
        "a bar per build:\n{screen}"
    );
    assert!(screen.contains("/2 tags"), "{screen}");
    assert!(
        screen.contains("tagsweep: rocky-3: deleted 1 tag\r\n"),
        "{screen}"
    );
    assert!(
        screen.contains("tagsweep: rocky-2: deleted 2 tags\r\n"),
        "{screen}"
    );
    assert!(
        !screen.contains("deleted linaro/"),
        "no line per tag:\n{screen}"
    );
    // No empty bar, and no bar under another's name or unit.
    assert!(!screen.contains(" 0/0 "), "{screen}");
    for frame in screen.split(['\r', '\n']) {
        if frame.contains("deleting") {
            assert!(
                frame.contains(" tags") && !frame.contains("repositories"),
                "{frame:?}"
            );
        }
    }

    // In a log (no terminal): a line per tag, no bar, no per-build line.
    let hub = self::hub(0);
    let out = run(tagsweep()
        .args(["prune", "--broken", "--yes", "-m", m])
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_delete"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for tag in ["base:rocky-2", "nova-api:rocky-2", "base:rocky-3"] {
        assert!(
            out.stderr
                .contains(&format!("tagsweep: deleted linaro/{tag}\n")),
            "{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("deleting rocky-2"), "{}", out.stderr);
}

/// A Docker Hub snapshot given with an OCI manifest of the same namespace
/// is another set of repositories: refused, and nothing is judged.
#[test]
fn a_snapshot_of_another_registry_is_refused() {
    let w = Workdir::new();
    let m = w.write(
        "oci.yaml",
        "registry: http://127.0.0.1:5000\nnamespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 2h\nimages: [debian-source-base]\n",
    );
    let snapshot = repo_file("manifests/linaro-sample.snapshot.json");
    for sub in [&["audit"][..], &["prune", "--broken", "--dry-run"]] {
        let out = run(tagsweep()
            .args(sub)
            .arg("-m")
            .arg(&m)
            .arg("--from")
            .arg(&snapshot));
        assert_eq!(out.code, 2, "{sub:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        assert!(
            out.stderr
                .contains("the snapshot was taken of docker.io, but the manifest")
                && out.stderr.contains("names http://127.0.0.1:5000"),
            "{}",
            out.stderr
        );
    }
}

/// A CI variable defined but left empty counts as unset: every command
/// works as without it (an empty `TAGSWEEP_CACHE_DIR` used to fail even
/// `validate`).
#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let manifest = repo_file("manifests/linaro-sample.yaml");
    let snapshot = repo_file("manifests/linaro-sample.snapshot.json");
    let empty = [
        "TAGSWEEP_STATE",
        "TAGSWEEP_HUB_URL",
        "TAGSWEEP_REGISTRY_API_URL",
        "TAGSWEEP_CACHE_DIR",
    ];
    let with_empty = |args: &[&std::ffi::OsStr]| {
        let mut cmd = tagsweep();
        cmd.args(args);
        for name in empty {
            cmd.env(name, "");
        }
        run(&mut cmd)
    };
    let plain = |args: &[&std::ffi::OsStr]| run(tagsweep().args(args));
    let validate = [std::ffi::OsStr::new("validate"), manifest.as_os_str()];
    let out = with_empty(&validate);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let audit = [
        std::ffi::OsStr::new("audit"),
        "-m".as_ref(),
        manifest.as_os_str(),
        "--from".as_ref(),
        snapshot.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ];
    let (out, expected) = (with_empty(&audit), plain(&audit));
    assert_eq!(out.code, expected.code, "{}", out.stderr);
    let report = |text: &str| {
        let mut doc: serde_json::Value = serde_json::from_str(text).expect("a JSON report");
        doc.as_object_mut().expect("an object").remove("stats");
        doc
    };
    assert_eq!(report(&out.stdout), report(&expected.stdout));
}

/// A token typed into `--hub-url` (or its variable) is refused without
/// being echoed back.
#[test]
fn credentials_in_a_url_are_refused_without_being_shown() {
    let manifest = repo_file("manifests/linaro-sample.yaml");
    for (option, variable) in [
        ("--hub-url", "TAGSWEEP_HUB_URL"),
        ("--registry-api-url", "TAGSWEEP_REGISTRY_API_URL"),
    ] {
        for url in [
            "http://ci-bot:dckr_pat_s3cret@127.0.0.1:9/",
            "http://ci-bot:dckr_pat_s3cret@10.0.0.1/",
            "https://ci-bot:dckr_pat_s3cret@[bad",
            // Typos a CI variable may carry: no scheme, a broken port, no host.
            "ci-bot:dckr_pat_s3cret@127.0.0.1:9",
            "//ci-bot:dckr_pat_s3cret@127.0.0.1:9",
            "127.0.0.1:9/?key=dckr_pat_s3cret",
            "localhost:9/?key=dckr_pat_s3cret",
            "http://127.0.0.1:x/?key=dckr_pat_s3cret",
            "http://?key=dckr_pat_s3cret",
            "http://ci-bot:dckr_pat_s3cret@127.0.0.1:9/a b?k=dckr_pat_s3cret",
        ] {
            let by_flag = run(tagsweep()
                .args(["audit", "-m"])
                .arg(&manifest)
                .args([option, url]));
            let by_env = run(tagsweep()
                .args(["audit", "-m"])
                .arg(&manifest)
                .env(variable, url));
            for out in [by_flag, by_env] {
                assert_eq!(out.code, 2, "{url}: {}", out.stderr);
                assert!(!out.stderr.contains("dckr_pat_s3cret"), "{}", out.stderr);
                assert!(!out.stdout.contains("dckr_pat_s3cret"), "{}", out.stdout);
            }
        }
    }
    // The same in a manifest's `registry:` (validate and audit say why it
    // is refused, never what it held).
    let w = Workdir::new();
    for registry in [
        "u:dckr_pat_s3cret@127.0.0.1:5000",
        "127.0.0.1:5000/?key=dckr_pat_s3cret",
        "http://10.0.0.1/?key=dckr_pat_s3cret",
        "https://u:dckr_pat_s3cret@registry.example.com",
    ] {
        let m = w.write(
            "m.yaml",
            &format!("registry: '{registry}'\nnamespace: linaro\nbuilds: {{pattern: '^r-\\d+$'}}\nimages: [base]\n"),
        );
        for sub in ["validate", "audit"] {
            let mut cmd = tagsweep();
            if sub == "validate" {
                cmd.arg("validate").arg(&m);
            } else {
                cmd.args(["audit", "-m"]).arg(&m);
            }
            let out = run(&mut cmd);
            assert!(out.code >= 1, "{registry}: {}", out.stderr);
            assert!(
                !out.stderr.contains("dckr_pat_s3cret") && !out.stdout.contains("dckr_pat_s3cret"),
                "{registry}: {}{}",
                out.stdout,
                out.stderr
            );
        }
    }
}

/// A key passed in the query of the Docker Hub address is refused, never
/// echoed, and never makes its way into a request, a note or a file name.
#[test]
fn a_hub_url_with_a_query_is_refused_without_being_shown() {
    let hub = hub(0);
    let w = Workdir::new();
    let m = w.write("set.yaml", SET);
    let cache = w.path().join("cache");
    let url = format!("{}/?key=dckr_pat_inquery", hub.url().trim_end_matches('/'));
    let out = run(tagsweep()
        .args(["audit", "-v", "-m"])
        .arg(&m)
        .arg("--cache-dir")
        .arg(&cache)
        .env("TAGSWEEP_HUB_URL", &url)
        .env("DOCKERHUB_USERNAME", "ci-bot")
        .env("DOCKERHUB_TOKEN", "dckr_pat_delete"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("takes no query"), "{}", out.stderr);
    assert!(!out.stderr.contains("dckr_pat_inquery"), "{}", out.stderr);
    assert!(hub.requests().is_empty(), "nothing was sent");
    assert!(!cache.exists(), "nothing was written");
}
