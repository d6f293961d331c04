//! Logging in to Docker Hub and keeping the access token fresh.
//!
//! `POST /v2/auth/token` (`identifier`, `secret`), falling back to the
//! deprecated `POST /v2/users/login` only where the new route does not
//! exist. The token is renewed a minute before its JWT's `exp` (see
//! [`crate::registry::token`]), or after 9 minutes without a readable
//! `exp`; a 401 mid-run gets one more login, never a loop of them (Docker
//! Hub locks an account out after too many). Every token issued is added to
//! the run's [`crate::secret::Redactor`], to be scrubbed from errors.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::DockerHub;
use crate::credentials::Credentials;
use crate::registry::http::{Answer, Request};
use crate::registry::RegistryError;
use crate::secret::Secret;

/// `/v2/auth/token` tokens live 10 minutes; without a readable `exp`, renew
/// after 9 (as Harbor does).
const TOKEN_FALLBACK_LIFETIME: Duration = Duration::from_secs(9 * 60);

/// Renew a token this long before its `exp` (at most a tenth of its lifetime).
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// The current access token and when to renew it.
pub(super) struct AccessToken {
    secret: Secret,
    renew_at: Instant,
    /// Obtained because the previous token was refused (401): if this one is
    /// refused too, we do not log in again.
    after_refusal: bool,
}

/// The `exp` claim (unix seconds) of a JWT, read without checking anything.
/// The payload is base64url (RFC 7515; padding tolerated).
pub fn jwt_expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = crate::credentials::base64_decode(payload)?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    exp.as_u64().or_else(|| {
        exp.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// When to renew a token obtained at `now`: before its `exp` when it has one
/// in the future, else after [`TOKEN_FALLBACK_LIFETIME`].
fn renew_at(token: &str, now: Instant) -> Instant {
    let unix_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let left = jwt_expiry(token)
        .map(|exp| exp as f64 - unix_now)
        .filter(|left| *left > 0.0)
        .map(Duration::from_secs_f64);
    match left {
        Some(left) => crate::registry::token::renew_at(now, left, TOKEN_RENEW_MARGIN),
        // No claim, or one already past on our clock (a skewed clock): the
        // documented lifetime; a 401 still gets one fresh login.
        None => now + TOKEN_FALLBACK_LIFETIME,
    }
}

impl DockerHub {
    /// The access token, logging in (again) when there is none or it is due
    /// for renewal.
    pub(super) async fn token(&self) -> Result<Option<Secret>, RegistryError> {
        let Some(creds) = &self.credentials else {
            return Ok(None);
        };
        let mut slot = self.token.lock().await;
        if let Some(current) = slot.as_ref() {
            if Instant::now() < current.renew_at {
                return Ok(Some(current.secret.clone()));
            }
            self.http
                .notes()
                .info(|| "the access token is about to expire; logging in again".into());
        }
        let token = self.login(creds).await?;
        *slot = Some(AccessToken {
            renew_at: renew_at(token.expose(), Instant::now()),
            secret: token.clone(),
            after_refusal: false,
        });
        Ok(Some(token))
    }

    /// After `stale` got a 401: the token to retry with, logging in again if
    /// nobody did yet; `None` when `stale` itself came from such a second
    /// login (then the 401 stands).
    pub(super) async fn token_after_refusal(
        &self,
        stale: &Secret,
    ) -> Result<Option<Secret>, RegistryError> {
        let Some(creds) = &self.credentials else {
            return Ok(None);
        };
        let mut slot = self.token.lock().await;
        match slot.as_ref() {
            // Another request already replaced it.
            Some(current) if &current.secret != stale => return Ok(Some(current.secret.clone())),
            Some(current) if current.after_refusal => return Ok(None),
            _ => {}
        }
        self.http
            .notes()
            .info(|| "Docker Hub refused the access token (401); logging in again".into());
        let token = self.login(creds).await?;
        *slot = Some(AccessToken {
            renew_at: renew_at(token.expose(), Instant::now()),
            secret: token.clone(),
            after_refusal: true,
        });
        Ok(Some(token))
    }

    pub(super) async fn login(&self, creds: &Credentials) -> Result<Secret, RegistryError> {
        #[derive(Deserialize)]
        struct TokenBody {
            access_token: Option<String>,
            token: Option<String>,
        }
        let attempts = [
            (
                self.url(&["v2", "auth", "token"], false),
                serde_json::json!({"identifier": creds.username, "secret": creds.secret.expose()}),
            ),
            (
                self.url(&["v2", "users", "login"], false),
                serde_json::json!({"username": creds.username, "password": creds.secret.expose()}),
            ),
        ];
        let fail = |url: &Url, detail: String| RegistryError::Login {
            url: url.to_string(),
            username: creds.username.clone(),
            detail,
        };
        for (i, (url, body)) in attempts.iter().enumerate() {
            let req = Request::new(Method::POST, url.clone()).json(body);
            let answer = self.http.send(&req).await.map_err(|e| self.redact(e))?;
            let route_missing = matches!(answer.status.as_u16(), 404 | 405 | 410 | 501);
            if route_missing && i == 0 {
                continue; // an older Hub: fall back to /v2/users/login
            }
            if !answer.status.is_success() {
                let message = answer.message().unwrap_or_default();
                let hint = if message.contains("secondary authentication") {
                    "this account has two-factor authentication: use a personal access token instead of the password".to_string()
                } else if answer.status.is_server_error() {
                    format!(
                        "Docker Hub failed {} times in a row; it may be having an incident (https://www.dockerstatus.com): try again later",
                        answer.attempts
                    )
                } else if answer.status == StatusCode::TOO_MANY_REQUESTS {
                    "Docker Hub limits logins: wait a few minutes (after too many, it locks the account for 10 minutes)".to_string()
                } else {
                    let what = match &self.source {
                        Some(source) => format!("the credentials from {source}"),
                        None => "the credentials".to_string(),
                    };
                    format!("check {what}: a username with its personal access token or password, or an organisation name with an organisation access token")
                };
                return Err(self.redact(fail(
                    url,
                    format!("{} {message}\n  hint: {hint}", answer.status),
                )));
            }
            // The body holds the token: an unreadable one is never quoted.
            let body: TokenBody = serde_json::from_slice(&answer.body)
                .map_err(|e| answer.undecodable(&e.to_string(), false))?;
            let token = body
                .access_token
                .or(body.token)
                .filter(|t| !t.is_empty())
                .map(Secret::new)
                .ok_or_else(|| fail(url, "the answer holds no token".into()))?;
            self.http.redactor().add(&token);
            return Ok(token);
        }
        Err(fail(&attempts[1].0, "no login route answered".into()))
    }

    /// Sends with the current token; on a 401, logs in again once (see the
    /// module documentation).
    pub(super) async fn send(&self, method: Method, url: Url) -> Result<Answer, RegistryError> {
        let token = self.token().await?;
        let request = |bearer| Request::new(method.clone(), url.clone()).bearer(bearer);
        let answer = self.http.send(&request(token.as_ref())).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            if let Some(stale) = &token {
                if let Some(fresh) = self.token_after_refusal(stale).await? {
                    return self.http.send(&request(Some(&fresh))).await;
                }
            }
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        // base64url without padding, as JWTs carry it.
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in claims.as_bytes().chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        format!("eyJhbGciOiJSUzI1NiJ9.{out}.c2ln")
    }

    #[test]
    fn the_exp_claim_is_read_by_hand() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000,"sub":"x"}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000.5}"#)),
            Some(1_700_000_000)
        );
        // Every length modulo 3, and "~" which encodes to '-'/'_' characters.
        for pad in ["", "~", "~~"] {
            let t = jwt(&format!(r#"{{"a":"{pad}???>>>","exp":42}}"#));
            assert_eq!(jwt_expiry(&t), Some(42), "{t}");
        }
        assert_eq!(jwt_expiry(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":"soon"}"#)), None);
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(jwt_expiry(""), None);
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let now = Instant::now();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ten_minutes = jwt(&format!(r#"{{"exp":{}}}"#, unix + 600));
        let at = renew_at(&ten_minutes, now) - now;
        assert!(
            at > Duration::from_secs(535) && at <= Duration::from_secs(540),
            "{at:?}"
        );
        // A short-lived token is renewed a tenth of its life early, not a minute.
        let short = jwt(&format!(r#"{{"exp":{}}}"#, unix + 30));
        let at = renew_at(&short, now) - now;
        assert!(
            at > Duration::from_secs(25) && at <= Duration::from_secs(27),
            "{at:?}"
        );
        // No claim, or an expired one (a skewed clock): 9 minutes.
        assert_eq!(renew_at("opaque", now) - now, TOKEN_FALLBACK_LIFETIME);
        let past = jwt(&format!(r#"{{"exp":{}}}"#, unix - 5));
        assert_eq!(renew_at(&past, now) - now, TOKEN_FALLBACK_LIFETIME);
    }
}
