//! `basic_auth(accounts)`: HTTP Basic authentication against a fixed set of accounts.

use std::sync::Arc;

use base64::Engine as _;
use http::{header, HeaderValue, StatusCode};

use crate::app::handler::HandlerFuture;
use crate::{Context, Handler};

/// The key the signed-in user's name is stored under (a `String`), as Gin's
/// `gin.AuthUserKey`: `c.get::<String>(AUTH_USER_KEY)`.
pub const AUTH_USER_KEY: &str = "user";

/// Lets a request through only with `Authorization: Basic` credentials of one of
/// `accounts` (user name, password); puts the user name in the keys under
/// [`AUTH_USER_KEY`]. Anything else is answered `401` with
/// `WWW-Authenticate: Basic realm="Authorization Required", charset="UTF-8"` and the
/// body `{"error":"unauthorized"}`. Gin sends the 401 with an empty body; the JSON says
/// what happened to an API client, and a browser still shows its login prompt.
///
/// Credentials are compared in constant time, against every account each time, so the
/// answer's timing does not tell which part was wrong. Use it over TLS only: Basic
/// credentials are plain text on the wire.
///
/// ```
/// use tether::middleware::{basic_auth, AUTH_USER_KEY};
///
/// let mut app = tether::Engine::new();
/// let mut admin = app.group("/admin");
/// admin.with(basic_auth([("ada", "lovelace"), ("alan", "turing")]).realm("admin"));
/// admin.get("/", async |c: &mut tether::Context| {
///     let user = c.must_get::<String>(AUTH_USER_KEY).clone();
///     c.string(200, format!("hello {user}"));
/// });
/// ```
///
/// # Panics
/// If a user name is empty or contains `:` (Basic credentials could not carry it).
pub fn basic_auth<I, U, P>(accounts: I) -> BasicAuth
where
    I: IntoIterator<Item = (U, P)>,
    U: Into<String>,
    P: AsRef<str>,
{
    let accounts = accounts
        .into_iter()
        .map(|(user, password)| {
            let user = user.into();
            assert!(
                !user.is_empty() && !user.contains(':'),
                "basic_auth: user name {user:?} is empty or has ':'"
            );
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.as_ref()));
            (user, encoded.into_bytes())
        })
        .collect();
    BasicAuth { accounts: Arc::new(accounts), challenge: challenge("Authorization Required") }
}

/// The `basic_auth` middleware and its settings.
#[derive(Clone)]
pub struct BasicAuth {
    /// (user name, base64 of `user:password`).
    accounts: Arc<Vec<(String, Vec<u8>)>>,
    challenge: HeaderValue,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<&str> = self.accounts.iter().map(|(u, _)| u.as_str()).collect();
        f.debug_struct("BasicAuth").field("users", &users).field("challenge", &self.challenge).finish()
    }
}

fn challenge(realm: &str) -> HeaderValue {
    let realm: String = realm.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
    HeaderValue::from_str(&format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")).unwrap_or_else(|_| {
        HeaderValue::from_static("Basic realm=\"Authorization Required\", charset=\"UTF-8\"")
    })
}

impl BasicAuth {
    /// The realm named in the `WWW-Authenticate` challenge (default
    /// `Authorization Required`). Quotes and control characters are dropped.
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = challenge(realm);
        self
    }

    /// The account whose credentials `authorization` carries, checked against all.
    fn user_for(&self, authorization: Option<&HeaderValue>) -> Option<&str> {
        let value = authorization?.as_bytes();
        let (scheme, credentials) = value.split_at_checked(6)?;
        if !scheme.eq_ignore_ascii_case(b"basic ") {
            return None;
        }
        let credentials = credentials.trim_ascii();
        let mut found = None;
        for (user, expected) in self.accounts.iter() {
            if crate::diag::constant_time_eq(credentials, expected) && found.is_none() {
                found = Some(user.as_str());
            }
        }
        found
    }
}

impl Handler for BasicAuth {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        match self.user_for(c.request_headers().get(header::AUTHORIZATION)).map(str::to_owned) {
            Some(user) => c.set(AUTH_USER_KEY, user),
            None => {
                c.response_headers_mut().insert(header::WWW_AUTHENTICATE, self.challenge.clone());
                c.abort_with_status_json(
                    StatusCode::UNAUTHORIZED,
                    &serde_json::json!({ "error": "unauthorized" }),
                );
            }
        }
        HandlerFuture::new(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_matched_to_their_account() {
        let auth = basic_auth([("ada", "lovelace"), ("alan", "turing")]);
        let header = |s: &str| HeaderValue::from_str(s).unwrap();
        // base64("alan:turing") = YWxhbjp0dXJpbmc=
        assert_eq!(auth.user_for(Some(&header("Basic YWxhbjp0dXJpbmc="))), Some("alan"));
        assert_eq!(auth.user_for(Some(&header("basic  YWxhbjp0dXJpbmc= "))), Some("alan"));
        assert_eq!(auth.user_for(Some(&header("Basic YWxhbjp0dXJpbmd="))), None);
        assert_eq!(auth.user_for(Some(&header("Bearer YWxhbjp0dXJpbmc="))), None);
        assert_eq!(auth.user_for(Some(&header("Basic"))), None);
        assert_eq!(auth.user_for(None), None);
    }

    #[test]
    fn the_realm_cannot_break_the_header() {
        let auth = basic_auth([("a", "b")]).realm("x\", evil=\"1");
        assert_eq!(auth.challenge, "Basic realm=\"x, evil=1\", charset=\"UTF-8\"");
    }

    #[test]
    #[should_panic(expected = "has ':'")]
    fn a_user_name_with_a_colon_is_refused() {
        basic_auth([("a:b", "c")]);
    }
}
