//! A request to send: method, URL, credentials and body. Credentials only
//! ever go into a sensitive `Authorization` header ([`Auth`]), never into a
//! URL or a message.

use reqwest::header::HeaderValue;
use reqwest::Method;
use url::Url;

use crate::credentials::base64_encode;
use crate::registry::RegistryError;
use crate::secret::Secret;

/// How a request proves who sends it. The secret only ever goes into the
/// `Authorization` header, marked sensitive; it is never formatted.
#[derive(Clone, Copy, Default)]
pub enum Auth<'a> {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a Secret),
    /// `Authorization: Basic base64(<username>:<password>)`.
    Basic {
        username: &'a str,
        password: &'a Secret,
    },
}

impl<'a> Auth<'a> {
    /// Bearer with `token`, or nothing.
    pub fn bearer(token: Option<&'a Secret>) -> Self {
        token.map_or(Auth::None, Auth::Bearer)
    }

    /// The `Authorization` value, marked sensitive; `None` for [`Auth::None`].
    pub(super) fn header(&self) -> Result<Option<HeaderValue>, RegistryError> {
        let (value, what) = match self {
            Auth::None => return Ok(None),
            Auth::Bearer(token) => (
                format!("Bearer {}", token.expose()),
                "the access token is not a valid header value",
            ),
            Auth::Basic { username, password } => (
                format!(
                    "Basic {}",
                    base64_encode(format!("{username}:{}", password.expose()).as_bytes())
                ),
                "the credentials hold characters that cannot go in a header",
            ),
        };
        let mut value =
            HeaderValue::from_str(&value).map_err(|_| RegistryError::Refused(what.into()))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// What a request carries.
#[derive(Clone, Copy, Default)]
pub enum Body<'a> {
    #[default]
    None,
    /// A JSON document, sent as `application/json`.
    Json(&'a serde_json::Value),
    /// Bytes as they are, with their media type.
    Raw {
        content_type: &'a str,
        bytes: &'a [u8],
    },
}

/// A request to send. Credentials and tokens only ever go into the
/// `Authorization` header (see [`Auth`]).
#[derive(Clone)]
pub struct Request<'a> {
    pub method: Method,
    pub url: Url,
    pub auth: Auth<'a>,
    pub body: Body<'a>,
    pub accept: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// `method url`, accepting JSON, with no credentials and no body.
    pub fn new(method: Method, url: Url) -> Self {
        Request {
            method,
            url,
            auth: Auth::None,
            body: Body::None,
            accept: Some("application/json"),
        }
    }

    pub fn get(url: Url) -> Self {
        Request::new(Method::GET, url)
    }

    pub fn bearer(self, token: Option<&'a Secret>) -> Self {
        self.auth(Auth::bearer(token))
    }

    pub fn auth(mut self, auth: Auth<'a>) -> Self {
        self.auth = auth;
        self
    }

    pub fn accept(mut self, accept: &'a str) -> Self {
        self.accept = Some(accept);
        self
    }

    pub fn json(mut self, json: &'a serde_json::Value) -> Self {
        self.body = Body::Json(json);
        self
    }

    /// `bytes` as the body, sent as `content_type`.
    pub fn body(mut self, content_type: &'a str, bytes: &'a [u8]) -> Self {
        self.body = Body::Raw {
            content_type,
            bytes,
        };
        self
    }
}

/// A [`Request`] that owns what it carries, to be sent from a task of its
/// own (see [`super::HttpClient`]); [`OwnedRequest::borrow`] gives the
/// request back.
pub(super) struct OwnedRequest {
    method: Method,
    url: Url,
    auth: OwnedAuth,
    body: OwnedBody,
    accept: Option<String>,
}

enum OwnedAuth {
    None,
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

enum OwnedBody {
    None,
    Json(serde_json::Value),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl From<&Request<'_>> for OwnedRequest {
    fn from(req: &Request<'_>) -> Self {
        OwnedRequest {
            method: req.method.clone(),
            url: req.url.clone(),
            auth: match req.auth {
                Auth::None => OwnedAuth::None,
                Auth::Bearer(token) => OwnedAuth::Bearer(token.clone()),
                Auth::Basic { username, password } => OwnedAuth::Basic {
                    username: username.to_string(),
                    password: password.clone(),
                },
            },
            body: match req.body {
                Body::None => OwnedBody::None,
                Body::Json(json) => OwnedBody::Json(json.clone()),
                Body::Raw {
                    content_type,
                    bytes,
                } => OwnedBody::Raw {
                    content_type: content_type.to_string(),
                    bytes: bytes.to_vec(),
                },
            },
            accept: req.accept.map(str::to_string),
        }
    }
}

impl OwnedRequest {
    /// The request, borrowing from this.
    pub(super) fn borrow(&self) -> Request<'_> {
        Request {
            method: self.method.clone(),
            url: self.url.clone(),
            auth: match &self.auth {
                OwnedAuth::None => Auth::None,
                OwnedAuth::Bearer(token) => Auth::Bearer(token),
                OwnedAuth::Basic { username, password } => Auth::Basic { username, password },
            },
            body: match &self.body {
                OwnedBody::None => Body::None,
                OwnedBody::Json(json) => Body::Json(json),
                OwnedBody::Raw {
                    content_type,
                    bytes,
                } => Body::Raw {
                    content_type,
                    bytes,
                },
            },
            accept: self.accept.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_in_a_sensitive_header_only() {
        assert!(Auth::None.header().unwrap().is_none());
        assert!(matches!(Auth::bearer(None), Auth::None));
        let token = Secret::new("tok");
        let bearer = Auth::bearer(Some(&token)).header().unwrap().unwrap();
        assert_eq!(bearer.to_str().unwrap(), "Bearer tok");
        assert!(bearer.is_sensitive());
        let password = Secret::new("open sesame");
        let basic = Auth::Basic {
            username: "Aladdin",
            password: &password,
        };
        let value = basic.header().unwrap().unwrap();
        assert_eq!(
            value.to_str().unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(value.is_sensitive());
        assert_eq!(format!("{value:?}"), "Sensitive");
        let bad = Secret::new("line\nbreak");
        let e = Auth::Bearer(&bad).header().unwrap_err().to_string();
        assert!(!e.contains("break"), "{e}");
    }
}
