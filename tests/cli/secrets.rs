//! Credentials and access tokens never show (issue #4): every command, with
//! `-v` and credentials, on success and on every kind of failed login, and
//! even when a server echoes them back. The token never travels to another
//! origin: not through a `next` link, not through a redirect. The same on
//! OCI registries, whose error answers (and token servers') may quote the
//! credentials and tokens they got.

use std::net::TcpListener;
use std::path::Path;

use chrono::TimeDelta;

use crate::oci::really_ago;
use crate::support::fakehub::{FakeHub, Fault};
use crate::support::registry::oci_paging::{PagingProxy, Quirks};
use crate::support::registry::{base64, Image, Options, TestRegistry, TokenPolicy};
use crate::support::{now, run, tagsweep, Run, Workdir, NOW};

const USER: &str = "ci-bot";
const SECRET: &str = "dckr_pat_Sup3rS3cretValue42";

const MANIFEST: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
  grace: 2h
  protect: ['^latest$']
images: [debian-source-base, debian-source-nova-api]
";

/// 150 builds (two pages in base), rocky-140 broken (nova-api lacks it).
fn start_hub() -> FakeHub {
    let t = |i: i64| now() - TimeDelta::hours(200 - i);
    let mut b = FakeHub::builder().account(USER, SECRET, true);
    for repo in ["debian-source-base", "debian-source-nova-api"] {
        let mut r = b.repo("linaro", repo).private(true);
        for i in 1..=150 {
            if !(repo == "debian-source-nova-api" && i == 140) {
                r = r.tag(&format!("rocky-{i}"), t(i));
            }
        }
        b = r.tag("latest", t(150)).done();
    }
    b.start()
}

/// Every string that must never show: the secret, and each issued token —
/// whole, and its claims and signature parts alone (the header part is the
/// same for every token, and not secret).
fn secrets(hub: &FakeHub) -> Vec<String> {
    let mut out = vec![SECRET.to_string()];
    for token in hub.state().tokens.keys() {
        out.push(token.clone());
        out.extend(token.split('.').skip(1).map(str::to_string));
    }
    out
}

/// Checks the run's output, and any files it wrote, for every secret.
fn assert_clean(hub: &FakeHub, what: &str, out: &Run, files: &[&Path]) {
    let secrets = secrets(hub);
    assert!(
        secrets.len() > 1 || what.contains("login"),
        "{what}: no token was issued"
    );
    let mut texts = vec![
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
    ];
    for f in files {
        texts.push(("a file", std::fs::read_to_string(f).unwrap_or_default()));
    }
    for secret in &secrets {
        for (place, text) in &texts {
            assert!(
                !text.contains(secret.as_str()),
                "{what}: a secret ({}…) shows in {place}:\n{text}",
                &secret[..8.min(secret.len())]
            );
        }
    }
}

fn tagsweep_v(hub: &FakeHub) -> assert_cmd::Command {
    let mut cmd = tagsweep();
    cmd.arg("-v")
        .env("TAGSWEEP_HUB_URL", hub.url())
        .env("DOCKERHUB_USERNAME", USER)
        .env("DOCKERHUB_TOKEN", SECRET);
    cmd
}

#[test]
fn no_command_shows_a_secret_or_a_token() {
    let hub = start_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);

    for format in ["table", "json", "markdown"] {
        let out = run(tagsweep_v(&hub)
            .args(["audit", "--now", NOW, "--format", format, "-m"])
            .arg(&m));
        assert_eq!(out.code, 1, "audit {format}: {}", out.stderr);
        assert!(out.stderr.contains("GET http://"), "-v shows requests");
        assert_clean(&hub, &format!("audit --format {format}"), &out, &[]);
    }

    let snap = w.path().join("inventory.json");
    let out = run(tagsweep_v(&hub)
        .args(["snapshot", "-m"])
        .arg(&m)
        .arg("-o")
        .arg(&snap));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_clean(&hub, "snapshot", &out, &[&snap]);

    let out = run(tagsweep_v(&hub).args(["validate"]).arg(&m));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_clean(&hub, "validate", &out, &[]);

    let out = run(tagsweep_v(&hub)
        .args(["prune", "--broken", "--dry-run", "-m"])
        .arg(&m));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_clean(&hub, "prune --dry-run", &out, &[]);

    let journal = w.path().join("journal.jsonl");
    let out = run(tagsweep_v(&hub)
        .args(["prune", "--broken", "--yes", "--journal"])
        .arg(&journal)
        .arg("-m")
        .arg(&m));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(hub.count("DELETE"), 1, "rocky-140 of base");
    assert_clean(&hub, "prune", &out, &[&journal]);

    // The secret from stdin instead of the environment.
    let out = run(tagsweep()
        .args(["-v", "audit", "--username", USER, "--password-stdin", "-m"])
        .arg(&m)
        .env("TAGSWEEP_HUB_URL", hub.url())
        .write_stdin(format!("{SECRET}\n")));
    assert_eq!(out.code, 0, "pruned: nothing broken left\n{}", out.stderr);
    assert_clean(&hub, "audit --password-stdin", &out, &[]);

    // A token refused mid-run: the second login, under -v.
    let expire_once = std::sync::atomic::AtomicBool::new(false);
    hub.on("GET", "/tags$", move |st, _| {
        if !expire_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            st.expire_tokens();
        }
    });
    let out = run(tagsweep_v(&hub).args(["audit", "-j", "1", "-m"]).arg(&m));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("logging in again"), "{}", out.stderr);
    assert_clean(&hub, "audit with a token refused mid-run", &out, &[]);
}

#[test]
fn failed_logins_never_show_the_secret() {
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);

    // Wrong secret: 401.
    let hub = start_hub();
    let out = run(tagsweep_v(&hub)
        .env("DOCKERHUB_TOKEN", "dckr_pat_WrongButAlsoSecret")
        .args(["audit", "-m"])
        .arg(&m));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("as ci-bot failed: 401"),
        "{}",
        out.stderr
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("dckr_pat_WrongButAlsoSecret"));
    }
    assert_clean(&hub, "login: 401", &out, &[]);

    // A broken proxy echoing the login body in its error.
    let hub = start_hub();
    hub.inject(
        Fault::on("POST")
            .path("/v2/auth/token")
            .always()
            .status(400)
            .body(&format!(
                r#"{{"message":"cannot parse {{\"identifier\":\"{USER}\",\"secret\":\"{SECRET}\"}}"}}"#
            )),
    );
    let out = run(tagsweep_v(&hub).args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("failed: 400"), "{}", out.stderr);
    assert!(out.stderr.contains("(redacted)"), "{}", out.stderr);
    assert_clean(&hub, "login: 400 echoing the body", &out, &[]);

    // A login answer cut off in the middle of the token.
    let hub = start_hub();
    let partial = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaS1ib3QiLCJleHAiOjE5";
    hub.inject(
        Fault::on("POST")
            .path("/v2/auth/token")
            .always()
            .status(200)
            .body(&format!(r#"{{"access_token":"{partial}"#)),
    );
    let out = run(tagsweep_v(&hub).args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("unreadable answer"), "{}", out.stderr);
    assert!(!out.stderr.contains(&partial[20..]), "{}", out.stderr);
    assert_clean(&hub, "login: truncated answer", &out, &[]);

    // Docker Hub failing every login attempt (an incident), under -v.
    let hub = start_hub();
    hub.inject(Fault::on("POST").always().status(503));
    let out = run(tagsweep_v(&hub).args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("failed: 503"), "{}", out.stderr);
    assert!(
        out.stderr.contains("failed 5 times in a row"),
        "{}",
        out.stderr
    );
    assert_clean(&hub, "login: 503 on every attempt", &out, &[]);
}

#[test]
fn a_server_echoing_the_token_is_redacted() {
    let hub = start_hub();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    // The first tag listing answers 400, quoting the Authorization header it got.
    hub.once("GET", "/tags$", |st, _| {
        let token = st.tokens.keys().next().cloned().unwrap_or_default();
        st.faults.push(
            Fault::on("GET")
                .path("/tags$")
                .always()
                .status(400)
                .body(&format!(
                    r#"{{"message":"bad header Authorization: Bearer {token}","errinfo":{{}}}}"#
                )),
        );
    });
    let out = run(tagsweep_v(&hub).args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("400 Bad Request: bad header Authorization: Bearer (redacted)"),
        "{}",
        out.stderr
    );
    assert_clean(&hub, "an echoed token", &out, &[]);
}

/// A listener on another port that must never be contacted.
fn bystander() -> TcpListener {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

fn assert_untouched(l: &TcpListener) {
    match l.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the other origin was contacted by {peer}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_next_link_to_another_origin_is_refused() {
    let other = bystander();
    let origin = format!("http://{}", other.local_addr().unwrap());
    let hub = start_hub();
    hub.state().config.link_origin = Some(origin.clone());
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let out = run(tagsweep_v(&hub).args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains(&format!(
            "the `next` link points to {origin}, not to {}; refusing to follow it",
            hub.url()
        )),
        "{}",
        out.stderr
    );
    assert_untouched(&other);
    assert_clean(&hub, "foreign next", &out, &[]);
}

#[test]
fn redirects_are_never_followed() {
    let other = bystander();
    let hub = start_hub();
    hub.inject(
        Fault::on("GET")
            .path("/repositories$")
            .always()
            .status(301)
            .body("<html><body>Moved</body></html>")
            .header(
                "Location",
                &format!(
                    "http://{}/v2/namespaces/linaro/repositories",
                    other.local_addr().unwrap()
                ),
            ),
    );
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let out = run(tagsweep_v(&hub).args(["audit", "-m"]).arg(&m));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("301 Moved Permanently"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("tagsweep follows no redirect"),
        "{}",
        out.stderr
    );
    assert_untouched(&other);
    assert_eq!(hub.count("GET"), 1, "not retried either");
    assert_clean(&hub, "redirect", &out, &[]);
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    for url in ["http://10.0.0.1:8080", "http://hub.docker.com"] {
        let out = run(tagsweep()
            .args(["-v", "audit", "-m"])
            .arg(&m)
            .env("TAGSWEEP_HUB_URL", url)
            .env("DOCKERHUB_USERNAME", USER)
            .env("DOCKERHUB_TOKEN", SECRET));
        assert_eq!(out.code, 2);
        assert!(
            out.stderr
                .contains("plain http is allowed only for loopback"),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains(SECRET));
    }
}

// --- OCI registries ---------------------------------------------------------

const OCI_USER: &str = "robot";
const OCI_PASSWORD: &str = "S3cretPassw0rd-oci";

/// base and nova, 48 h old: rocky-1 complete, rocky-2 on base only (broken).
fn oci_broken_build(reg: &TestRegistry) {
    let old = really_ago(48 * 60);
    for (repo, tag) in [
        ("kolla/base", "rocky-1"),
        ("kolla/base", "rocky-2"),
        ("kolla/nova", "rocky-1"),
    ] {
        reg.push_image(repo, tag, &Image::new("linux/amd64", &old, repo));
    }
}

/// Every form of a password that must never show: itself, its base64, and
/// the base64 of `user:password` (an `Authorization: Basic` value); and each
/// token issued, whole and its claims and signature parts alone.
fn oci_secrets(password: &str, tokens: &[String]) -> Vec<String> {
    let mut out = vec![
        password.to_string(),
        base64(password.as_bytes(), false),
        base64(format!("{OCI_USER}:{password}").as_bytes(), false),
    ];
    for token in tokens {
        out.push(token.clone());
        out.extend(token.split('.').skip(1).map(str::to_string));
    }
    out
}

/// No secret in the run's output, nor in the files it wrote.
fn assert_none_shows(what: &str, secrets: &[String], out: &Run, files: &[&Path]) {
    let mut texts = vec![
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
    ];
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        assert!(!text.is_empty(), "{what}: {} was written", f.display());
        texts.push(("a file", text));
    }
    for secret in secrets {
        for (place, text) in &texts {
            assert!(
                !text.contains(secret.as_str()),
                "{what}: a secret ({}…) shows in {place}:\n{text}",
                &secret[..8.min(secret.len())]
            );
        }
    }
}

fn oci_token_registry() -> TestRegistry {
    TestRegistry::start_with(Options {
        token: Some(TokenPolicy {
            user: OCI_USER.into(),
            password: OCI_PASSWORD.into(),
            anonymous_pull: false,
            deny_catalog: false,
        }),
        ..Options::default()
    })
}

/// An OCI registry whose error answers quote the `Authorization` they got
/// (the tokens it was sent), refusing the delete: the tokens and the
/// password appear nowhere — stdout (JSON), stderr with `-v`, the journal —
/// and the error still says what the registry answered, redacted.
#[test]
fn an_oci_registry_echoing_its_tokens_never_shows_them() {
    let reg = oci_token_registry();
    oci_broken_build(&reg);
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            forbid_deletes: true,
            echo_credentials: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = crate::oci::manifest(&w, &proxy.url(), "base, nova", "");
    let journal = w.path().join("journal.jsonl");
    let out = run(tagsweep()
        .args(["-v", "--username", OCI_USER, "--password-stdin", "prune"])
        .args([
            "--broken",
            "--trust-declared-times",
            "--yes",
            "--format",
            "json",
        ])
        .arg("--journal")
        .arg(&journal)
        .arg("-m")
        .arg(&m)
        .write_stdin(format!("{OCI_PASSWORD}\n")));
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("403 Forbidden")
            && out
                .stderr
                .contains("you sent Authorization: Bearer (redacted)"),
        "the echo is quoted, redacted:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("GET http://"), "-v shows requests");
    out.json();
    for (place, text) in [
        ("the JSON", out.stdout.clone()),
        ("the journal", std::fs::read_to_string(&journal).unwrap()),
    ] {
        assert!(
            text.contains("you sent Authorization: Bearer (redacted)"),
            "{place} records the refusal, redacted:\n{text}"
        );
    }
    let tokens = reg.token_server().issued();
    assert!(tokens.len() > 1, "tokens were issued");
    assert_none_shows(
        "a refused delete echoing the token",
        &oci_secrets(OCI_PASSWORD, &tokens),
        &out,
        &[&journal],
    );
}

/// A token server that quotes the Basic credentials it refused: the failed
/// login says who failed and why, never the password nor its base64.
#[test]
fn a_token_server_echoing_refused_credentials_never_shows_them() {
    let reg = oci_token_registry();
    oci_broken_build(&reg);
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            echo_credentials: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = crate::oci::manifest(&w, &proxy.url(), "base, nova", "");
    let wrong = "Wr0ngButAlsoS3cret";
    let out = run(tagsweep()
        .args(["-v", "audit", "--format", "json", "-m"])
        .arg(&m)
        .env("TAGSWEEP_REGISTRY_USERNAME", OCI_USER)
        .env("TAGSWEEP_REGISTRY_PASSWORD", wrong));
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("as robot failed: 401")
            && out
                .stderr
                .contains("you sent Authorization: Basic (redacted), that is robot:(redacted)")
            && out.stderr.contains(
                "check the username and password (from TAGSWEEP_REGISTRY_USERNAME/TAGSWEEP_REGISTRY_PASSWORD)"
            ),
        "{}",
        out.stderr
    );
    assert_none_shows("a refused login", &oci_secrets(wrong, &[]), &out, &[]);
}

/// A registry with Basic authentication whose refusal quotes the credentials
/// (base64, and decoded: the password itself): neither shows.
#[test]
fn a_basic_auth_registry_echoing_the_password_never_shows_it() {
    let reg = TestRegistry::start_with(Options {
        htpasswd: Some((OCI_USER.into(), OCI_PASSWORD.into())),
        ..Options::default()
    });
    oci_broken_build(&reg);
    let proxy = PagingProxy::start_with(
        &reg.rt,
        &reg.url(),
        Quirks {
            forbid_deletes: true,
            echo_credentials: true,
            ..Quirks::default()
        },
    );
    let w = Workdir::new();
    let m = crate::oci::manifest(&w, &proxy.url(), "base, nova", "");
    let journal = w.path().join("journal.jsonl");
    let out = run(tagsweep()
        .args(["-v", "prune", "--broken", "--trust-declared-times", "--yes"])
        .arg("--journal")
        .arg(&journal)
        .arg("-m")
        .arg(&m)
        .env("TAGSWEEP_REGISTRY_USERNAME", OCI_USER)
        .env("TAGSWEEP_REGISTRY_PASSWORD", OCI_PASSWORD));
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("you sent Authorization: Basic (redacted), that is robot:(redacted)"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("that is robot:(redacted)"), "{text}");
    assert_none_shows(
        "a refused delete echoing Basic credentials",
        &oci_secrets(OCI_PASSWORD, &[]),
        &out,
        &[&journal],
    );
}
