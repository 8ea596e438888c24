//! What a `multipart/form-data` read gives: the form, its files, and why a read failed.
//! The reading itself is `upload.rs`; these types are apart so that a context can hold a
//! form without importing the code that reads one.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use crate::response::body_guard::Reservation;

/// Why an upload could not be read: a clear status and message to answer with.
#[derive(Clone, Debug)]
pub struct UploadError {
    status: StatusCode,
    message: String,
    /// The error underneath (multer's, the temporary file's), for `Error::source`.
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl UploadError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        UploadError { status, message: message.into(), cause: None }
    }

    #[cfg(feature = "multipart")]
    pub(crate) fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// `400` (not a form, malformed, no such file), `408` (the body came too slowly),
    /// `413` (over a limit), `503` (the server's body memory is full) or `500` (the
    /// temporary file could not be written).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong, readable by the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `{"error": message}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.message })
    }
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for UploadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|e| e as _)
    }
}

/// One uploaded file: in memory, or in a temporary file removed when the last clone of
/// this handle is dropped.
#[derive(Clone, Debug)]
pub struct UploadedFile {
    pub(crate) field: String,
    pub(crate) filename: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) size: u64,
    pub(crate) data: Stored,
}

#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "multipart"), allow(dead_code))]
pub(crate) enum Stored {
    Memory(Bytes),
    #[cfg(feature = "multipart")]
    Temp(Arc<tempfile::TempPath>),
}

impl UploadedFile {
    /// The form field it came in.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The file name the client gave, if any. Never use it as a path as it is: it is the
    /// client's text (`../../etc/passwd` is a valid one).
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The content type the client gave, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where it is on disk, when it was large enough to be written to a temporary file.
    pub fn temp_path(&self) -> Option<&Path> {
        match &self.data {
            Stored::Memory(_) => None,
            #[cfg(feature = "multipart")]
            Stored::Temp(path) => Some(path),
        }
    }

    /// Its contents, read into memory if it is on disk.
    pub async fn bytes(&self) -> io::Result<Bytes> {
        match &self.data {
            Stored::Memory(b) => Ok(b.clone()),
            #[cfg(feature = "multipart")]
            Stored::Temp(path) => tokio::fs::read(path.as_ref() as &Path).await.map(Bytes::from),
        }
    }
}

/// A form read, or the error that stopped it: a second read answers the same.
#[derive(Debug)]
pub(crate) enum FormRead {
    /// The form, and its in-memory bytes held against the server's budget until the
    /// request ends.
    Read {
        form: Arc<MultipartForm>,
        _reservation: Option<Reservation>,
    },
    Failed(UploadError),
}

/// A parsed `multipart/form-data` body: text fields and files, by field name.
#[derive(Clone, Debug, Default)]
pub struct MultipartForm {
    /// Text fields.
    pub values: HashMap<String, Vec<String>>,
    /// Files.
    pub files: HashMap<String, Vec<UploadedFile>>,
}

impl MultipartForm {
    /// The first value of the text field `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    /// The first file of the field `name`.
    pub fn file(&self, name: &str) -> Option<&UploadedFile> {
        self.files.get(name).and_then(|v| v.first())
    }
}
