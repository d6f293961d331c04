//! Credential helpers: the docker-credential-helpers protocol.
//! `docker-credential-NAME get` (searched on `PATH`) reads the server URL
//! on stdin and prints `{"ServerURL":…,"Username":…,"Secret":…}`; its output
//! and its stderr are never printed.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::Credentials;
use crate::secret::Secret;

/// What a credential helper answered.
#[derive(Debug)]
pub enum HelperAnswer {
    Found(Credentials),
    /// It answered "credentials not found".
    NotFound,
    /// It holds an identity token (`"Username": "<token>"`), not a password.
    IdentityToken,
    /// `docker-credential-NAME` is not on `PATH`.
    Missing,
    /// It failed, or answered something else; why (never its output).
    Failed(String),
}

/// The JSON a helper prints for `get`.
#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-NAME get` with `server` on stdin, looking the
/// program up on `path` (the process's `PATH` when `None`). Its stderr is
/// discarded and its stdout only parsed.
pub fn run_helper(name: &str, server: &str, path: Option<&str>) -> HelperAnswer {
    let program = format!("docker-credential-{name}");
    let mut command = Command::new(&program);
    command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let mut attempt = 0;
    let mut child = loop {
        match command.spawn() {
            Ok(child) => break child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HelperAnswer::Missing,
            // Being replaced (or just written) as we start it: try again shortly.
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempt < 5 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return HelperAnswer::Failed(format!("cannot be started: {e}")),
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe: not our error.
        let _ = stdin.write_all(server.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) => parse_helper_output(out.status.success(), &out.status.to_string(), &out.stdout),
        Err(e) => HelperAnswer::Failed(format!("could not be waited for: {e}")),
    }
}

/// Reads a helper's answer: `ok` is whether it exited successfully.
pub(super) fn parse_helper_output(ok: bool, status: &str, stdout: &[u8]) -> HelperAnswer {
    if !ok {
        // Helpers print their error message on stdout.
        let said = String::from_utf8_lossy(stdout);
        return if said.to_ascii_lowercase().contains("credentials not found") {
            HelperAnswer::NotFound
        } else {
            HelperAnswer::Failed(status.to_string())
        };
    }
    let Ok(reply) = serde_json::from_slice::<HelperReply>(stdout) else {
        return HelperAnswer::Failed("its answer is not the credential helper JSON".into());
    };
    if reply.username == "<token>" {
        return HelperAnswer::IdentityToken;
    }
    if reply.username.is_empty() || reply.secret.is_empty() {
        return HelperAnswer::NotFound;
    }
    HelperAnswer::Found(Credentials {
        username: reply.username,
        secret: Secret::new(reply.secret),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_answers() {
        let ok = |out: &[u8]| parse_helper_output(true, "exit status: 0", out);
        match ok(br#"{"ServerURL":"quay.io","Username":"robot","Secret":"pw"}"#) {
            HelperAnswer::Found(c) => {
                assert_eq!((c.username.as_str(), c.secret.expose()), ("robot", "pw"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ok(br#"{"Username":"","Secret":""}"#),
            HelperAnswer::NotFound
        ));
        match ok(b"not json, maybe the s3cret") {
            HelperAnswer::Failed(why) => assert!(!why.contains("s3cret"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_helper_output(
                false,
                "exit status: 1",
                b"credentials not found in native keychain\n"
            ),
            HelperAnswer::NotFound
        ));
        match parse_helper_output(false, "exit status: 2", b"oops: s3cret in the error\n") {
            HelperAnswer::Failed(why) => assert_eq!(why, "exit status: 2"),
            other => panic!("{other:?}"),
        }
    }
}
