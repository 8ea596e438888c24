//! `cors(..)`: Cross-Origin Resource Sharing, answered as tower-http's `CorsLayer` does.

use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use crate::app::handler::HandlerFuture;
use crate::{Context, Handler};

/// CORS with nothing allowed yet: name the origins (or [`allow_any_origin`]), and
/// the methods and headers beyond the defaults.
///
/// - A request without `Origin` passes untouched (it is not cross-origin).
/// - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is
///   answered here, `204`, without running the route: the allowed origin, methods,
///   headers, credentials and max age. A disallowed origin gets the same answer without
///   `Access-Control-Allow-Origin`, so the browser refuses.
/// - Any other request from an allowed origin runs, and its response gets
///   `Access-Control-Allow-Origin` (and credentials and exposed headers when set).
/// - `Vary: Origin` (and the preflight's request headers) is always added when the
///   answer depends on them, so caches keep answers for different origins apart.
///
/// Put it with `app.with(..)`: global middleware also runs for paths and methods that no
/// route matches, which is what lets it answer preflights.
///
/// ```
/// use std::time::Duration;
/// use tether::middleware::cors;
///
/// let mut app = tether::Engine::new();
/// app.with(
///     cors()
///         .allow_origins(["https://app.example.com"])
///         .allow_methods(["GET", "POST", "DELETE"])
///         .allow_headers(["content-type", "authorization"])
///         .allow_credentials(true)
///         .max_age(Duration::from_secs(600)),
/// );
/// ```
///
/// [`allow_any_origin`]: Cors::allow_any_origin
pub fn cors() -> Cors {
    Cors {
        origins: Origins::List(Vec::new()),
        methods: HeaderValue::from_static("GET,HEAD,POST"),
        headers: Headers::List(HeaderValue::from_static("")),
        expose: None,
        credentials: false,
        max_age: None,
    }
}

#[derive(Clone, Debug)]
enum Origins {
    Any,
    List(Vec<HeaderValue>),
}

#[derive(Clone, Debug)]
enum Headers {
    /// Echo what the preflight asks for.
    Mirror,
    List(HeaderValue),
}

/// The `cors()` middleware and its settings.
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Origins,
    methods: HeaderValue,
    headers: Headers,
    expose: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

fn join<I, S>(items: I, what: &str) -> HeaderValue
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let list: Vec<String> = items.into_iter().map(|s| s.as_ref().trim().to_owned()).collect();
    HeaderValue::from_str(&list.join(",")).unwrap_or_else(|_| panic!("cors: {what} {list:?} are not valid"))
}

impl Cors {
    /// Allows these origins (`https://app.example.com`, exactly as browsers send them).
    ///
    /// # Panics
    /// If an origin is not a valid header value.
    pub fn allow_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list = origins
            .into_iter()
            .map(|o| {
                HeaderValue::from_str(o.as_ref().trim_end_matches('/'))
                    .unwrap_or_else(|_| panic!("cors: origin {:?} is not valid", o.as_ref()))
            })
            .collect();
        self.origins = Origins::List(list);
        self
    }

    /// Allows every origin (`Access-Control-Allow-Origin: *`). Not with credentials.
    ///
    /// # Panics
    /// If credentials are allowed: the CORS protocol forbids the pair.
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = Origins::Any;
        self.check();
        self
    }

    fn check(&self) {
        assert!(
            !(self.credentials && matches!(self.origins, Origins::Any)),
            "cors: allow_credentials(true) cannot be combined with allow_any_origin(): browsers refuse it"
        );
    }

    /// The methods a preflight may ask for (default `GET, HEAD, POST`).
    pub fn allow_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.methods = join(methods, "methods");
        self
    }

    /// The request headers a preflight may ask for (default: none beyond the
    /// CORS-safelisted ones).
    pub fn allow_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.headers = Headers::List(join(headers, "headers"));
        self
    }

    /// Allows whatever headers a preflight asks for.
    pub fn allow_any_header(mut self) -> Self {
        self.headers = Headers::Mirror;
        self
    }

    /// Response headers the page's script may read (`Access-Control-Expose-Headers`).
    pub fn expose_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.expose = Some(join(headers, "exposed headers"));
        self
    }

    /// Lets the browser send cookies and credentials (`Access-Control-Allow-Credentials`).
    ///
    /// # Panics
    /// If any origin is allowed: the browser would refuse every such answer, as the CORS
    /// protocol forbids the pair.
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self.check();
        self
    }

    /// How long a browser may reuse a preflight's answer (`Access-Control-Max-Age`).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(HeaderValue::from(age.as_secs()));
        self
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            Origins::Any => Some(HeaderValue::from_static("*")),
            Origins::List(list) => list.iter().any(|o| o == origin).then(|| origin.clone()),
        }
    }
}

static VARY_PREFLIGHT: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");
static VARY_ORIGIN: HeaderValue = HeaderValue::from_static("origin");
static TRUE: HeaderValue = HeaderValue::from_static("true");

impl Handler for Cors {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(async move {
            let Some(origin) = c.request_headers().get(header::ORIGIN).cloned() else {
                return;
            };
            let allowed = self.allow_origin(&origin);
            let preflight = c.method() == Method::OPTIONS
                && c.request_headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
            if preflight {
                let asked = c.request_headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
                let headers = c.response_headers_mut();
                headers.append(header::VARY, VARY_PREFLIGHT.clone());
                if let Some(allowed) = allowed {
                    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
                    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
                    let allow_headers = match &self.headers {
                        Headers::Mirror => asked,
                        Headers::List(list) => (!list.is_empty()).then(|| list.clone()),
                    };
                    if let Some(h) = allow_headers {
                        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h);
                    }
                    if self.credentials {
                        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
                    }
                    if let Some(age) = &self.max_age {
                        headers.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
                    }
                }
                c.abort();
                c.status(StatusCode::NO_CONTENT);
                return;
            }
            c.next().await;
            let headers = c.response_headers_mut();
            if matches!(self.origins, Origins::List(_)) {
                headers.append(header::VARY, VARY_ORIGIN.clone());
            }
            if let Some(allowed) = allowed {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
                if self.credentials {
                    headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
                }
                if let Some(expose) = &self.expose {
                    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "cannot be combined")]
    fn credentials_with_any_origin_is_refused_at_setup() {
        let _ = cors().allow_credentials(true).allow_any_origin();
    }

    #[test]
    #[should_panic(expected = "cannot be combined")]
    fn any_origin_then_credentials_is_refused_too() {
        let _ = cors().allow_any_origin().allow_credentials(true);
    }

    #[test]
    fn origins_are_matched_exactly() {
        let c = cors().allow_origins(["https://a.example/"]);
        assert_eq!(
            c.allow_origin(&HeaderValue::from_static("https://a.example")).unwrap(),
            "https://a.example"
        );
        assert!(c.allow_origin(&HeaderValue::from_static("https://a.example.evil")).is_none());
        assert_eq!(
            cors().allow_any_origin().allow_origin(&HeaderValue::from_static("https://x")).unwrap(),
            "*"
        );
    }
}
