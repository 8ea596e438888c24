//! Reading the request body and binding request data to typed values.
//!
//! `should_bind_*` return a [`BindError`] that names the field and the problem;
//! `bind_*` also answer it (400, or 413 for an oversized body) as JSON and abort.

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::response::body::BodyError;
use crate::Context;

/// Where the bound data came from, and the binder to use with
/// [`should_bind_with`](Context::should_bind_with) (Gin's `binding.JSON`, `binding.Form`, ..).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The body, as JSON.
    Json,
    /// The query string.
    Query,
    /// The path parameters.
    Uri,
    /// The body, as an urlencoded form.
    Form,
    /// The text fields of a `multipart/form-data` body (files: `c.form_file`).
    Multipart,
}

/// Why request data could not be bound to the requested type.
#[derive(Debug)]
pub struct BindError {
    source: Source,
    status: StatusCode,
    field: Option<String>,
    message: String,
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    violations: Vec<Violation>,
}

impl BindError {
    /// The status this error is answered with: 400; or the body's error status (413 too
    /// large, 408 too slow, 503 server overloaded); or 415 for a content type no binder
    /// reads.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The field at fault (`address.city`, `tags[2]`), when one is.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What went wrong, readable by the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The binding that failed: where the data came from (JSON body, query, path
    /// parameters, form, multipart form). Named apart from [`Error::source`], which
    /// gives the underlying error (a body read that failed, say) for error chains.
    ///
    /// [`Error::source`]: std::error::Error::source
    pub fn binding(&self) -> Source {
        self.source
    }

    /// The validation rules that failed, each with its field (empty for other errors).
    pub fn violations(&self) -> &[Violation] {
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

    fn new(source: Source, status: StatusCode, field: Option<String>, message: String) -> Self {
        BindError { source, status, field, message, cause: None, violations: Vec::new() }
    }

    fn from_body(source: Source, e: BodyError) -> Self {
        let mut error = BindError::new(source, e.status(), None, e.to_string());
        error.cause = Some(Box::new(e));
        error
    }

    pub(crate) fn from_upload(e: crate::UploadError) -> Self {
        let mut error = BindError::new(Source::Multipart, e.status(), None, e.message().to_owned());
        error.cause = Some(Box::new(e));
        error
    }

    #[cfg(feature = "validation")]
    pub(crate) fn invalid(source: Source, violations: Vec<Violation>) -> Self {
        let field = violations.first().map(|v| v.field.clone());
        let mut error = BindError::new(source, StatusCode::BAD_REQUEST, field, "validation failed".into());
        error.violations = violations;
        error
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
            Source::Form | Source::Multipart => "invalid form",
        };
        let message = match &field {
            Some(f) if !inner.contains(&format!("`{f}`")) => format!("{what}: {f}: {inner}"),
            _ => format!("{what}: {inner}"),
        };
        BindError::new(source, StatusCode::BAD_REQUEST, field, message)
    }
}

impl std::fmt::Display for BindError {
    /// The message; for failed validation, every failing field with its problem:
    /// `validation failed: age must be at least 18; email must be an email address`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for (i, v) in self.violations.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{} {}", v.field, v.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|e| e as _)
    }
}

/// One failed rule: the field (`address.city`, `tags[2]`), the rule (`email`, `length`,
/// `range`, or a custom code), and a readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The field at fault, as a path.
    pub field: String,
    /// The rule it broke (validator's code).
    pub rule: String,
    /// What is wrong, for the client.
    pub message: String,
}

impl Violation {
    /// `{"field": .., "rule": .., "message": ..}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "field": self.field, "rule": self.rule, "message": self.message })
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
            let message = "invalid JSON: the request body is empty".to_owned();
            return Err(BindError::new(Source::Json, StatusCode::BAD_REQUEST, None, message));
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

    /// Parses the query string into `T`. Repeated keys fill sequences (`?t=a&t=b`); a
    /// scalar field takes the first; a blank value of an `Option` field is `None`.
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
        let pairs = self.params().map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)));
        crate::context::form_de::from_pairs(pairs).map_err(|e| BindError::from_path_error(Source::Uri, e))
    }

    /// Like [`should_bind_uri`](Self::should_bind_uri), answering 400 and aborting on error.
    pub fn bind_uri<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_uri();
        self.answer_bind_error(result)
    }

    /// Parses an `application/x-www-form-urlencoded` body into `T`, by the rules of
    /// [`should_bind_query`](Self::should_bind_query).
    pub async fn should_bind_form<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let bytes = self.body_bytes().await.map_err(|e| BindError::from_body(Source::Form, e))?;
        parse_form(&bytes, Source::Form)
    }

    /// Like [`should_bind_form`](Self::should_bind_form), answering the error and aborting.
    pub async fn bind_form<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_form().await;
        self.answer_bind_error(result)
    }

    /// Parses the text fields of a `multipart/form-data` body into `T` (the form is read
    /// once, under the engine's [`UploadLimits`](crate::UploadLimits); its files are
    /// read with [`form_file`](Self::form_file)).
    pub async fn should_bind_multipart<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let form = self.multipart_form().await.map_err(BindError::from_upload)?;
        let pairs = form
            .values
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (Cow::Borrowed(&**k), Cow::Borrowed(&**v))));
        crate::context::form_de::from_pairs(pairs)
            .map_err(|e| BindError::from_path_error(Source::Multipart, e))
    }

    /// Binds `T` with the binder the request calls for, as Gin's `c.ShouldBind`: the query
    /// for GET and HEAD; otherwise by `Content-Type`: JSON (`application/json`, `*+json`),
    /// an urlencoded form (also when no type is given), or a multipart form. Another
    /// type is a 415 error naming it.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Login { user: String, password: String }
    ///
    /// // The same handler takes JSON, a form post, or a multipart form.
    /// async fn login(c: &mut tether::Context) {
    ///     match c.should_bind::<Login>().await {
    ///         Ok(l) if l.user == "manu" && l.password == "123" => c.json(200, &tether::json!({"status": "you are logged in"})),
    ///         Ok(_) => c.json(401, &tether::json!({"status": "unauthorized"})),
    ///         Err(e) => c.json(e.status(), &e.to_json()),
    ///     }
    /// }
    /// ```
    pub async fn should_bind<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let source = self.binder()?;
        self.should_bind_with(source).await
    }

    /// Like [`should_bind`](Self::should_bind), answering the error and aborting.
    pub async fn bind<T: DeserializeOwned>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind().await;
        self.answer_bind_error(result)
    }

    /// Binds `T` from the named source, as Gin's `c.ShouldBindWith(&obj, binding.Form)`.
    pub async fn should_bind_with<T: DeserializeOwned>(&mut self, source: Source) -> Result<T, BindError> {
        match source {
            Source::Json => self.should_bind_json().await,
            Source::Query => self.should_bind_query(),
            Source::Uri => self.should_bind_uri(),
            Source::Form => self.should_bind_form().await,
            Source::Multipart => self.should_bind_multipart().await,
        }
    }

    /// Like [`should_bind_with`](Self::should_bind_with), answering the error and aborting.
    pub async fn bind_with<T: DeserializeOwned>(&mut self, source: Source) -> Result<T, BindError> {
        let result = self.should_bind_with(source).await;
        self.answer_bind_error(result)
    }

    /// The binder for this request's method and content type.
    pub(crate) fn binder(&self) -> Result<Source, BindError> {
        if self.method() == http::Method::GET || self.method() == http::Method::HEAD {
            return Ok(Source::Query);
        }
        let Some(content_type) = self.content_type() else { return Ok(Source::Form) };
        let essence = content_type.to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Ok(Source::Json),
            e if e.starts_with("application/") && e.ends_with("+json") => Ok(Source::Json),
            "application/x-www-form-urlencoded" | "" => Ok(Source::Form),
            "multipart/form-data" => Ok(Source::Multipart),
            _ => Err(BindError::new(
                Source::Form,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                format!(
                    "unsupported content type {content_type:?}: send application/json, \
                     application/x-www-form-urlencoded or multipart/form-data"
                ),
            )),
        }
    }

    pub(crate) fn answer_bind_error<T>(&mut self, result: Result<T, BindError>) -> Result<T, BindError> {
        if let Err(e) = &result {
            self.abort_with_status_json(e.status(), &e.to_json());
        }
        result
    }
}

fn parse_form<T: DeserializeOwned>(input: &[u8], source: Source) -> Result<T, BindError> {
    crate::context::form_de::from_pairs(form_urlencoded::parse(input))
        .map_err(|e| BindError::from_path_error(source, e))
}
