//! Credentials the way Docker users keep them (issue #7), end to end against
//! the fake Docker Hub: Docker's `config.json` (`auths`, a `credsStore`
//! helper), and the flags and the environment winning over it. The fake
//! records who each request was made as (`identity`); the repositories are
//! private, so an anonymous run would not even see them.

use std::path::{Path, PathBuf};

use chrono::TimeDelta;

use crate::support::fakehub::FakeHub;
use crate::support::{now, run, tagsweep, Run, Workdir};

const MANIFEST: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
images: [debian-source-base, debian-source-nova-api]
";

/// The account the config (file or helper) holds.
const CFG_USER: &str = "cfg-bot";
const CFG_SECRET: &str = "dckr_pat_Cfg5ecretValue";
/// The account the environment holds.
const ENV_USER: &str = "env-bot";
const ENV_SECRET: &str = "dckr_pat_Env5ecretValue";
/// The account the flags give.
const FLAG_USER: &str = "flag-bot";
const FLAG_SECRET: &str = "dckr_pat_F1ag5ecretValue";
/// The account the credential helper holds.
const HELPER_USER: &str = "helper-bot";
const HELPER_SECRET: &str = "dckr_pat_He1per5ecretValue";

const ALL_SECRETS: [&str; 4] = [CFG_SECRET, ENV_SECRET, FLAG_SECRET, HELPER_SECRET];

/// Two private repositories, one complete build.
fn start_hub() -> FakeHub {
    let mut b = FakeHub::builder();
    for (user, secret) in [
        (CFG_USER, CFG_SECRET),
        (ENV_USER, ENV_SECRET),
        (FLAG_USER, FLAG_SECRET),
        (HELPER_USER, HELPER_SECRET),
    ] {
        b = b.account(user, secret, false);
    }
    for repo in ["debian-source-base", "debian-source-nova-api"] {
        b = b
            .repo("linaro", repo)
            .private(true)
            .tag("rocky-1", now() - TimeDelta::hours(30))
            .done();
    }
    b.start()
}

/// Standard base64 (for the `auth` field `docker login` writes).
fn base64(bytes: &[u8]) -> String {
    tagsweep::credentials::base64_encode(bytes)
}

/// A Docker config directory (for `DOCKER_CONFIG`) holding `json`.
fn docker_config(w: &Workdir, json: &str) -> PathBuf {
    let dir = w.path().join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), json).unwrap();
    dir
}

/// What `docker login` writes without a credential store.
fn auths_config() -> String {
    format!(
        r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}}}},"psFormat":"table"}}"#,
        base64(format!("{CFG_USER}:{CFG_SECRET}").as_bytes())
    )
}

/// A `docker-credential-test` helper in `bin/` that appends the server URL it
/// was asked for to `bin/asked.log`, and holds the helper account for Docker
/// Hub only. Returns (PATH with `bin/` first, the log).
#[cfg(unix)]
fn helper(w: &Workdir) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;

    let bin = w.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = bin.join("asked.log");
    let script = format!(
        r#"#!/bin/sh
[ "$1" = get ] || exit 3
IFS= read -r url || true
printf '%s\n' "$url" >> '{log}'
case "$url" in
  https://index.docker.io/v1/)
    printf '{{"ServerURL":"%s","Username":"{HELPER_USER}","Secret":"{HELPER_SECRET}"}}\n' "$url" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#,
        log = log.display()
    );
    let program = bin.join("docker-credential-test");
    std::fs::write(&program, script).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, log)
}

fn audit(hub: &FakeHub, m: &Path, docker: &Path) -> assert_cmd::Command {
    let mut cmd = tagsweep();
    cmd.args(["audit", "--format", "json", "-m"])
        .arg(m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKER_CONFIG", docker);
    cmd
}

/// Who the GET requests were made as (a login is always a POST).
fn identities(hub: &FakeHub) -> Vec<Option<String>> {
    let mut ids: Vec<Option<String>> = hub
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.identity)
        .collect();
    ids.dedup();
    ids
}

/// The run saw both private repositories (so it was logged in) and printed
/// no secret anywhere.
fn assert_logged_in_as(hub: &FakeHub, out: &Run, user: &str) {
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["summary"]["complete"], 1, "{}", out.stdout);
    assert_eq!(identities(hub), [Some(user.to_string())]);
    assert_clean(out);
}

fn assert_clean(out: &Run) {
    let auth = base64(format!("{CFG_USER}:{CFG_SECRET}").as_bytes());
    for secret in ALL_SECRETS.iter().copied().chain([auth.as_str()]) {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a secret shows:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[test]
fn docker_login_auths_entry_logs_in() {
    let hub = start_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let docker = docker_config(&w, &auths_config());
    let out = run(&mut audit(&hub, &m, &docker));
    assert_logged_in_as(&hub, &out, CFG_USER);

    // The same file as $HOME/.docker/config.json, without DOCKER_CONFIG.
    hub.clear_requests();
    let home = w.path().join("home");
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    std::fs::copy(docker.join("config.json"), home.join(".docker/config.json")).unwrap();
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("HOME", &home));
    assert_logged_in_as(&hub, &out, CFG_USER);

    // Without it: anonymous, and the private repositories are missing.
    hub.clear_requests();
    let out = run(tagsweep()
        .args(["audit", "--format", "json", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("HOME", w.path()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(identities(&hub), [None]);
}

#[cfg(unix)]
#[test]
fn creds_store_helper_is_asked_for_docker_hub() {
    let hub = start_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let (path, log) = helper(&w);
    // As `docker login` leaves it with a credential store: an empty auths entry.
    let docker = docker_config(
        &w,
        r#"{"auths":{"https://index.docker.io/v1/":{}},"credsStore":"test"}"#,
    );
    let out = run(audit(&hub, &m, &docker).env("PATH", &path));
    assert_logged_in_as(&hub, &out, HELPER_USER);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "https://index.docker.io/v1/\n",
        "asked once, for Docker Hub's server URL"
    );

    // credHelpers names the helper for one registry, over the auths entry.
    hub.clear_requests();
    std::fs::remove_file(&log).unwrap();
    let json = auths_config().replacen('{', r#"{"credHelpers":{"docker.io":"test"},"#, 1);
    let docker = docker_config(&w, &json);
    let out = run(audit(&hub, &m, &docker).env("PATH", &path));
    assert_logged_in_as(&hub, &out, HELPER_USER);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "https://index.docker.io/v1/\n"
    );

    // A helper that is not installed: the next source (the auths entry).
    hub.clear_requests();
    let json = auths_config().replacen('{', r#"{"credsStore":"not-installed","#, 1);
    let docker = docker_config(&w, &json);
    let out = run(audit(&hub, &m, &docker).env("PATH", &path).arg("-v"));
    assert_logged_in_as(&hub, &out, CFG_USER);
    assert!(
        out.stderr
            .contains("docker-credential-not-installed (the credsStore) is not installed"),
        "{}",
        out.stderr
    );
}

#[cfg(unix)]
#[test]
fn flags_and_environment_win_over_docker_config() {
    let hub = start_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let (path, log) = helper(&w);
    let json = auths_config().replacen('{', r#"{"credsStore":"test","#, 1);
    let docker = docker_config(&w, &json);

    let out = run(audit(&hub, &m, &docker)
        .env("PATH", &path)
        .env("DOCKERHUB_USERNAME", ENV_USER)
        .env("DOCKERHUB_TOKEN", ENV_SECRET));
    assert_logged_in_as(&hub, &out, ENV_USER);

    hub.clear_requests();
    let out = run(audit(&hub, &m, &docker)
        .env("PATH", &path)
        .env("DOCKERHUB_USERNAME", ENV_USER)
        .env("DOCKERHUB_TOKEN", ENV_SECRET)
        .args(["--username", FLAG_USER, "--password-stdin"])
        .write_stdin(format!("{FLAG_SECRET}\n")));
    assert_logged_in_as(&hub, &out, FLAG_USER);
    assert!(
        !log.exists(),
        "no helper runs when the flags or the environment give credentials"
    );

    // Another registry's variables are not Docker Hub's: the config is used.
    hub.clear_requests();
    let out = run(audit(&hub, &m, &docker)
        .env("PATH", &path)
        .env("TAGSWEEP_REGISTRY_USERNAME", ENV_USER)
        .env("TAGSWEEP_REGISTRY_PASSWORD", ENV_SECRET));
    assert_logged_in_as(&hub, &out, HELPER_USER);

    // Half a pair is an error that says what to set, before any request.
    hub.clear_requests();
    let out = run(audit(&hub, &m, &docker)
        .env("PATH", &path)
        .env("DOCKERHUB_USERNAME", ENV_USER));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("set DOCKERHUB_TOKEN or pass --password-stdin"),
        "{}",
        out.stderr
    );
    assert!(hub.requests().is_empty());
    let out = run(audit(&hub, &m, &docker)
        .args(["--password-stdin"])
        .write_stdin(format!("{FLAG_SECRET}\n")));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--password-stdin needs a username"),
        "{}",
        out.stderr
    );
    assert_clean(&out);
}

#[cfg(unix)]
#[test]
fn verbose_names_the_source_never_the_secret() {
    let hub = start_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let (path, _) = helper(&w);
    let docker = docker_config(&w, &auths_config());
    let config = docker.join("config.json").display().to_string();

    let out = run(audit(&hub, &m, &docker).arg("-v"));
    assert_logged_in_as(&hub, &out, CFG_USER);
    assert!(
        out.stderr.contains(&format!(
            "credentials for Docker Hub: {CFG_USER} (from {config})"
        )),
        "{}",
        out.stderr
    );

    hub.clear_requests();
    let json = auths_config().replacen('{', r#"{"credsStore":"test","#, 1);
    let docker = docker_config(&w, &json);
    let out = run(audit(&hub, &m, &docker).env("PATH", &path).arg("-v"));
    assert_logged_in_as(&hub, &out, HELPER_USER);
    assert!(
        out.stderr.contains(&format!(
            "credentials for Docker Hub: {HELPER_USER} (from docker-credential-test, the credsStore of {config})"
        )),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("ServerURL"),
        "the helper's output never shows"
    );

    hub.clear_requests();
    let out = run(audit(&hub, &m, &docker)
        .arg("-v")
        .env("DOCKERHUB_USERNAME", ENV_USER)
        .env("DOCKERHUB_TOKEN", ENV_SECRET));
    assert_logged_in_as(&hub, &out, ENV_USER);
    assert!(
        out.stderr.contains(&format!(
            "credentials for Docker Hub: {ENV_USER} (from DOCKERHUB_USERNAME/DOCKERHUB_TOKEN)"
        )),
        "{}",
        out.stderr
    );

    // What cannot be used is a note, and the run goes on anonymously.
    for (json, note) in [
        (
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}}"#,
                base64(format!("{CFG_USER}:{CFG_SECRET}").as_bytes())
            ),
            "not valid JSON",
        ),
        (
            r#"{"auths":{"docker.io":{"identitytoken":"dckr_pat_He1per5ecretValue"}}}"#.into(),
            "identity token",
        ),
    ] {
        let docker = docker_config(&w, &json);
        let out = run(audit(&hub, &m, &docker).arg("-v"));
        assert_eq!(
            out.code, 1,
            "anonymous: the repositories are missing\n{}",
            out.stderr
        );
        assert!(out.stderr.contains(note), "{}", out.stderr);
        assert!(
            out.stderr
                .contains("no credentials for Docker Hub: anonymous access"),
            "{}",
            out.stderr
        );
        assert_clean(&out);
    }
}

#[test]
fn prune_takes_credentials_from_docker_config() {
    let hub = start_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let docker = docker_config(&w, &auths_config());
    // Nothing is broken: nothing to delete, but no refusal for want of a login.
    let out = run(tagsweep()
        .args(["prune", "--broken", "--yes", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKER_CONFIG", &docker));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(identities(&hub), [Some(CFG_USER.to_string())]);
    assert_clean(&out);
}

/// A refused Docker Hub login names the credentials that were used — the
/// flags, the environment or Docker's config — never variables the user
/// did not set.
#[test]
fn a_refused_login_names_the_credentials_used() {
    let hub = start_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let empty = docker_config(&w, "{}");
    let out = run(tagsweep()
        .args(["--username", FLAG_USER, "--password-stdin"])
        .args(["audit", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKER_CONFIG", &empty)
        .write_stdin("dckr_pat_NotTheRightOne\n"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("as {FLAG_USER} failed: 401"))
            && out
                .stderr
                .contains("hint: check the credentials from --username/--password-stdin"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("DOCKERHUB_"), "{}", out.stderr);
    assert!(!out.stderr.contains("dckr_pat_NotTheRightOne"));

    let out = run(audit(&hub, &m, &empty)
        .env("DOCKERHUB_USERNAME", ENV_USER)
        .env("DOCKERHUB_TOKEN", "dckr_pat_NotTheRightOne"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("hint: check the credentials from DOCKERHUB_USERNAME/DOCKERHUB_TOKEN"),
        "{}",
        out.stderr
    );
}
