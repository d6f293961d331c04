//! Step 3 of finding credentials: Docker's `config.json`, as `docker login`
//! leaves it — `credHelpers`, then `credsStore`, then `auths` — for one
//! registry. Docker's config is shared with other tools, so what cannot be
//! used here is a note, never an error (see the parent module).

use serde_json::Value;

use super::helper::HelperAnswer;
use super::{base64_decode, Credentials, Source, Target};
use crate::secret::Secret;

/// Step 3: Docker's `config.json` (`text`, read from `path`).
pub(super) fn from_docker_config(
    target: &Target,
    path: &std::path::Path,
    text: &str,
    note: &mut dyn FnMut(String),
    helper: &dyn Fn(&str, &str) -> HelperAnswer,
) -> Option<(Credentials, Source)> {
    let shown = path.display();
    // Never serde's message: for a value of the wrong type it quotes the value.
    let config: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            note(format!(
                "{shown}: not valid JSON (line {}, column {}); ignored",
                e.line(),
                e.column()
            ));
            return None;
        }
    };
    let Some(config) = config.as_object() else {
        note(format!("{shown}: not a JSON object; ignored"));
        return None;
    };
    let ask = |name: &str, via: &'static str, note: &mut dyn FnMut(String)| {
        ask_helper(target, path, name, via, note, helper)
    };

    match config.get("credHelpers") {
        Some(Value::Object(helpers)) => {
            let best = helpers
                .iter()
                .filter_map(|(key, name)| target.key_rank(key).map(|rank| (rank, key, name)))
                .min_by_key(|(rank, key, _)| (*rank, key.as_str()));
            if let Some((_, key, name)) = best {
                match name.as_str() {
                    Some(name) => {
                        if let Some(found) = ask(name, "credHelpers", note) {
                            return Some(found);
                        }
                    }
                    None => note(format!(
                        "{shown}: credHelpers[{key:?}] is not a string; ignored"
                    )),
                }
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => note(format!("{shown}: credHelpers is not an object; ignored")),
    }

    match config.get("credsStore") {
        Some(Value::String(name)) if !name.is_empty() => {
            if let Some(found) = ask(name, "credsStore", note) {
                return Some(found);
            }
        }
        None | Some(Value::Null) => {}
        Some(Value::String(_)) => {}
        Some(_) => note(format!("{shown}: credsStore is not a string; ignored")),
    }

    match config.get("auths") {
        Some(Value::Object(auths)) => {
            let mut entries: Vec<(usize, &String, &Value)> = auths
                .iter()
                .filter_map(|(key, entry)| target.key_rank(key).map(|rank| (rank, key, entry)))
                .collect();
            entries.sort_by_key(|(rank, key, _)| (*rank, key.as_str()));
            for (_, key, entry) in entries {
                let mut entry_note = |why: String| note(format!("{shown}: auths[{key:?}] {why}"));
                if let Some(creds) = auth_entry(target, entry, &mut entry_note) {
                    return Some((creds, Source::DockerConfig(path.to_path_buf())));
                }
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => note(format!("{shown}: auths is not an object; ignored")),
    }
    None
}

/// Asks the credential helper `name` (named by `via` in `path`).
fn ask_helper(
    target: &Target,
    path: &std::path::Path,
    name: &str,
    via: &'static str,
    note: &mut dyn FnMut(String),
    helper: &dyn Fn(&str, &str) -> HelperAnswer,
) -> Option<(Credentials, Source)> {
    let shown = path.display();
    if name.is_empty() || name.contains(['/', '\\']) {
        note(format!(
            "{shown}: {via} names no usable credential helper ({name:?}); ignored"
        ));
        return None;
    }
    let server = target.server_url();
    let why = match helper(name, &server) {
        HelperAnswer::Found(creds) => {
            return Some((
                creds,
                Source::Helper {
                    name: name.to_string(),
                    via,
                    config: path.to_path_buf(),
                },
            ))
        }
        HelperAnswer::NotFound => format!("has no credentials for {server}"),
        HelperAnswer::IdentityToken => format!(
            "holds an identity token for {server}, {}",
            identity_token_use(target)
        ),
        HelperAnswer::Missing => "is not installed (not found on PATH)".to_string(),
        HelperAnswer::Failed(why) => format!("failed ({why})"),
    };
    note(format!(
        "{shown}: docker-credential-{name} (the {via}) {why}; skipped"
    ));
    None
}

/// The credentials of one `auths` entry; `note` says why there are none
/// (an empty entry, as `docker login` writes with a credential store, is
/// silently nothing).
fn auth_entry(target: &Target, entry: &Value, note: &mut dyn FnMut(String)) -> Option<Credentials> {
    let Some(entry) = entry.as_object() else {
        note("is not an object; ignored".into());
        return None;
    };
    let text = |field: &str| {
        entry
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(auth) = text("auth") {
        match base64_decode(auth).and_then(|b| String::from_utf8(b).ok()) {
            Some(decoded) => match decoded.split_once(':') {
                Some((username, password)) if !username.is_empty() && !password.is_empty() => {
                    return Some(Credentials {
                        username: username.to_string(),
                        secret: Secret::new(password),
                    })
                }
                _ => {} // `user:` beside an identity token, or nothing usable
            },
            None => note("has an auth field that is not base64 of user:password; ignored".into()),
        }
    }
    if let (Some(username), Some(password)) = (text("username"), text("password")) {
        return Some(Credentials {
            username: username.to_string(),
            secret: Secret::new(password),
        });
    }
    if text("identitytoken").is_some() {
        note(format!(
            "holds an identity token (an OAuth refresh token), {}; skipped",
            identity_token_use(target)
        ));
    } else if ["auth", "username", "password"]
        .iter()
        .any(|f| text(f).is_some())
    {
        note("holds no complete username and password; ignored".into());
    }
    None
}

/// Why an identity token is of no use, and what to do instead.
fn identity_token_use(target: &Target) -> String {
    let what = match target {
        Target::DockerHub => "which Docker Hub's /v2/auth/token does not take",
        Target::Oci { .. } => "which tagsweep does not exchange",
    };
    format!(
        "{what} (set {} and {} instead)",
        target.username_env(),
        target.secret_env()
    )
}
