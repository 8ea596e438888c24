//! Reading the request body and binding request data to typed values.
//!
//! `should_bind_*` return a [`BindError`] that names the field and the problem;
//! `bind_*` also answer it (400, or 413 for an oversized body) as JSON and abort.

use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::body::BodyError;
use crate::Context;

/// Where the bound data came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The body, as JSON.
    Json,
    /// The query string.
    Query,
    /// The path parameters.
    Uri,
    /// The body, as an urlencoded form.
    Form,
}

/// Why request data could not be bound to the requested type.
#[derive(Debug)]
pub struct BindError {
    source: Source,
    field: Option<String>,
    message: String,
    body: Option<BodyError>,
    violations: Vec<crate::validation::Violation>,
}

impl BindError {
    /// The status this error is answered with: 400, or 413 for an oversized body.
    pub fn status(&self) -> StatusCode {
        self.body.as_ref().map_or(StatusCode::BAD_REQUEST, BodyError::status)
    }

    /// The field at fault (`address.city`, `tags[2]`), when one is.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What went wrong, readable by the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the data came from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The validation rules that failed, each with its field (empty for other errors).
    pub fn violations(&self) -> &[crate::validation::Violation] {
        &self.violations
    }

    /// The error as the JSON body `bind_*` answer: `{"error": .., "field": ..}`, or for
    /// failed validation `{"error": "validation failed", "fields": [{"field", "rule",
    /// "message"}, ..]}`.
    pub fn to_json(&self) -> serde_json::Value {
        if !self.violations.is_empty() {
            let fields: Vec<serde_json::Value> = self.violations.iter().map(|v| v.to_json()).collect();
            return serde_json::json!({ "error": self.message, "fields": fields });
        }
        match &self.field {
            Some(f) => serde_json::json!({ "error": self.message, "field": f }),
            None => serde_json::json!({ "error": self.message }),
        }
    }

    fn from_body(source: Source, e: BodyError) -> Self {
        BindError { source, field: None, message: e.to_string(), body: Some(e), violations: Vec::new() }
    }

    pub(crate) fn invalid(source: Source, violations: Vec<crate::validation::Violation>) -> Self {
        let field = violations.first().map(|v| v.field.clone());
        BindError { source, field, message: "validation failed".into(), body: None, violations }
    }

    fn from_path_error<E: std::fmt::Display>(source: Source, e: serde_path_to_error::Error<E>) -> Self {
        let inner = e.inner().to_string();
        // "." is the root, "?" an unknown position (a syntax error): neither names a field.
        let path = match e.path().to_string() {
            p if p == "?" => ".".to_owned(),
            p => p,
        };
        // serde reports a missing or unknown field at the parent's path; the name is in
        // the message: "missing field `name`".
        let named = inner
            .split('`')
            .nth(1)
            .filter(|_| inner.starts_with("missing field") || inner.starts_with("unknown field"));
        let field = match (path.as_str(), named) {
            (".", Some(n)) => Some(n.to_owned()),
            (".", None) => None,
            (p, Some(n)) => Some(format!("{p}.{n}")),
            (p, None) => Some(p.to_owned()),
        };
        let what = match source {
            Source::Json => "invalid JSON",
            Source::Query => "invalid query",
            Source::Uri => "invalid path parameter",
            Source::Form => "invalid form",
        };
        let message = match &field {
            Some(f) if !inner.contains(&format!("`{f}`")) => format!("{what}: {f}: {inner}"),
            _ => format!("{what}: {inner}"),
        };
        BindError { source, field, message, body: None, violations: Vec::new() }
    }
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.body.as_ref().map(|e| e as _)
    }
}

impl Context {
    /// Reads the whole request body, up to the engine's body limit (2 MiB unless set
    /// with `app.body_limit`). Past the limit: `BodyError::TooLarge` (answer it 413). A
    /// second call returns the same bytes.
    pub async fn body_bytes(&mut self) -> Result<Bytes, BodyError> {
        let limit = self.body_limit();
        let declared = self
            .request_headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        self.body.read_to_bytes(limit, declared).await
    }

    /// Parses the body as JSON into `T`.
    pub async fn should_bind_json<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let bytes = self.body_bytes().await.map_err(|e| BindError::from_body(Source::Json, e))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BindError {
                source: Source::Json,
                field: None,
                message: "invalid JSON: the request body is empty".into(),
                body: None,
                violations: Vec::new(),
            });
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value =
            serde_path_to_error::deserialize(de).map_err(|e| BindError::from_path_error(Source::Json, e))?;
        Ok(value)
    }

    /// Like [`should_bind_json`](Self::should_bind_json), but on error answers it as
    /// JSON (400, or 413) and aborts the chain.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct NewUser { name: String, age: u8 }
    ///
    /// async fn create(c: &mut tether::Context) {
    ///     let Ok(user) = c.bind_json::<NewUser>().await else { return };
    ///     c.json(201, &tether::json!({ "name": user.name, "age": user.age }));
    /// }
    /// ```
    pub async fn bind_json<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_json().await;
        self.answer_bind_error(result)
    }

    /// Parses the query string into `T`. Repeated keys fill sequences (`?t=a&t=b`).
    pub fn should_bind_query<T: DeserializeOwned>(&self) -> Result<T, BindError> {
        parse_form(self.raw_query().as_bytes(), Source::Query)
    }

    /// Like [`should_bind_query`](Self::should_bind_query), answering 400 and aborting on error.
    pub fn bind_query<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_query();
        self.answer_bind_error(result)
    }

    /// Parses the path parameters into `T` (field names are parameter names).
    pub fn should_bind_uri<T: DeserializeOwned>(&self) -> Result<T, BindError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.params() {
            form.append_pair(k, v);
        }
        parse_form(form.finish().as_bytes(), Source::Uri)
    }

    /// Like [`should_bind_uri`](Self::should_bind_uri), answering 400 and aborting on error.
    pub fn bind_uri<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_uri();
        self.answer_bind_error(result)
    }

    /// Parses an `application/x-www-form-urlencoded` body into `T`.
    pub async fn should_bind_form<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let bytes = self.body_bytes().await.map_err(|e| BindError::from_body(Source::Form, e))?;
        parse_form(&bytes, Source::Form)
    }

    /// Like [`should_bind_form`](Self::should_bind_form), answering the error and aborting.
    pub async fn bind_form<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_form().await;
        self.answer_bind_error(result)
    }

    pub(crate) fn answer_bind_error<T>(&mut self, result: Result<T, BindError>) -> Result<T, BindError> {
        if let Err(e) = &result {
            self.abort_with_status_json(e.status(), &e.to_json());
        }
        result
    }
}

fn parse_form<T: DeserializeOwned>(input: &[u8], source: Source) -> Result<T, BindError> {
    let de = serde_html_form::Deserializer::from_bytes(input);
    serde_path_to_error::deserialize(de).map_err(|e| BindError::from_path_error(source, e))
}
