//! Uploads: `multipart/form-data` read with multer, streamed, within limits; a file past
//! the in-memory threshold goes to a temporary file that is removed when the last
//! handle to it is dropped — at the latest when the request ends, however it ends.

use std::io;
use std::path::Path;
use std::sync::Arc;

#[cfg(feature = "multipart")]
use bytes::{Bytes, BytesMut};
#[cfg(feature = "multipart")]
use futures_util::StreamExt;
use http::StatusCode;
#[cfg(feature = "multipart")]
use tokio::io::AsyncWriteExt;

use crate::response::body::RequestBody;
use crate::response::body_guard::Reservation;
use crate::Context;

use super::form::{FormRead, MultipartForm, Stored, UploadError, UploadedFile};

impl Context {
    /// Reads the request's `multipart/form-data` body (once; later calls return the same
    /// form, or the same error) under the engine's [`UploadLimits`](crate::UploadLimits).
    ///
    /// ```
    /// async fn upload(c: &mut tether::Context) {
    ///     let form = match c.multipart_form().await {
    ///         Ok(form) => form,
    ///         Err(e) => return c.json(e.status(), &e.to_json()),
    ///     };
    ///     let title = form.value("title").unwrap_or("untitled").to_owned();
    ///     let files = form.files.values().flatten().count();
    ///     c.string(200, format!("{title}: {files} files"));
    /// }
    /// ```
    pub async fn multipart_form(&mut self) -> Result<Arc<MultipartForm>, UploadError> {
        match &self.req.form {
            Some(FormRead::Read { form, .. }) => return Ok(form.clone()),
            Some(FormRead::Failed(e)) => return Err(e.clone()),
            None => {}
        }
        let mut reservation = match &mut self.req.body {
            RequestBody::Incoming(body) => Some(body.get_mut().budgets.reserve()),
            _ => None,
        };
        match self.read_form(reservation.as_mut()).await {
            Ok(form) => {
                let form = Arc::new(form);
                self.req.form = Some(FormRead::Read { form: form.clone(), _reservation: reservation });
                Ok(form)
            }
            Err(e) => {
                self.req.form = Some(FormRead::Failed(e.clone()));
                Err(e)
            }
        }
    }

    /// The first file in the form field `name` (Gin's `c.FormFile`).
    ///
    /// ```
    /// async fn avatar(c: &mut tether::Context) {
    ///     match c.form_file("avatar").await {
    ///         Ok(file) => {
    ///             let dst = std::env::temp_dir().join("avatar.png");
    ///             match c.save_uploaded_file(&file, &dst).await {
    ///                 Ok(()) => c.string(201, format!("{} bytes", file.size())),
    ///                 Err(e) => c.string(500, e.to_string()),
    ///             }
    ///         }
    ///         Err(e) => c.json(e.status(), &e.to_json()),
    ///     }
    /// }
    /// ```
    pub async fn form_file(&mut self, name: &str) -> Result<UploadedFile, UploadError> {
        let form = self.multipart_form().await?;
        form.file(name).cloned().ok_or_else(|| {
            UploadError::new(StatusCode::BAD_REQUEST, format!("no file in the form field {name:?}"))
        })
    }

    /// Writes `file` to `dst`, creating its directory (Gin's `c.SaveUploadedFile`).
    pub async fn save_uploaded_file(&self, file: &UploadedFile, dst: impl AsRef<Path>) -> io::Result<()> {
        let dst = dst.as_ref();
        if let Some(dir) = dst.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        match &file.data {
            Stored::Memory(bytes) => tokio::fs::write(dst, bytes).await,
            #[cfg(feature = "multipart")]
            Stored::Temp(path) => tokio::fs::copy(path.as_ref() as &Path, dst).await.map(|_| ()),
        }
    }

    #[cfg(not(feature = "multipart"))]
    async fn read_form(&mut self, _: Option<&mut Reservation>) -> Result<MultipartForm, UploadError> {
        Err(UploadError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "multipart/form-data is not accepted here (tether was built without its `multipart` feature)",
        ))
    }

    #[cfg(feature = "multipart")]
    async fn read_form(
        &mut self,
        mut reservation: Option<&mut Reservation>,
    ) -> Result<MultipartForm, UploadError> {
        let limits = self.req.shared.as_deref().map(|s| s.settings.uploads.clone()).unwrap_or_default();
        let content_type = self.get_header("content-type").unwrap_or_default();
        let boundary = multer::parse_boundary(content_type).map_err(|_| {
            UploadError::new(
                StatusCode::BAD_REQUEST,
                "expected Content-Type: multipart/form-data with a boundary",
            )
        })?;
        let declared = self.get_header("content-length").and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limits.max_total) {
            return Err(too_large(format!("the upload is larger than {} bytes", limits.max_total)));
        }
        let body = body_stream(std::mem::take(&mut self.req.body));
        let constraints = multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().whole_stream(limits.max_total).per_field(limits.max_file));
        let mut multipart = multer::Multipart::with_constraints(body, boundary, constraints);
        let mut form = MultipartForm::default();
        let mut parts = 0;
        // Bytes of this form kept in memory, against `max_memory` and the server's budget.
        let mut in_memory = 0usize;
        let mut keep = |n: usize, in_memory: &mut usize| -> Result<bool, UploadError> {
            if *in_memory + n > limits.max_memory {
                return Ok(false);
            }
            if let Some(r) = reservation.as_deref_mut() {
                if !r.grow(n) {
                    return Err(UploadError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the server holds too many uploads in memory; try again later",
                    ));
                }
            }
            *in_memory += n;
            Ok(true)
        };
        while let Some(mut field) = multipart.next_field().await.map_err(multer_error)? {
            parts += 1;
            if parts > limits.max_fields {
                return Err(too_large(format!("more than {} parts in the form", limits.max_fields)));
            }
            let name = field.name().unwrap_or_default().to_owned();
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(|m| m.to_string());
            if filename.is_none() {
                let text = field.text().await.map_err(multer_error)?;
                if !keep(text.len(), &mut in_memory)? {
                    return Err(too_large(format!(
                        "the form's text fields are larger than {} bytes",
                        limits.max_memory
                    )));
                }
                form.values.entry(name).or_default().push(text);
                continue;
            }
            let mut memory = BytesMut::new();
            let mut spilled: Option<(tokio::fs::File, tempfile::TempPath)> = None;
            let mut size = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
                size += chunk.len() as u64;
                let spill = spilled.is_none()
                    && (memory.len() + chunk.len() > limits.in_memory || !keep(chunk.len(), &mut in_memory)?);
                if spill {
                    // What this file had kept in memory goes to disk with it.
                    in_memory -= memory.len();
                    let temp = match &limits.dir {
                        Some(dir) => tempfile::NamedTempFile::new_in(dir),
                        None => tempfile::NamedTempFile::new(),
                    }
                    .map_err(write_error)?;
                    let (file, path) = temp.into_parts();
                    let mut file = tokio::fs::File::from_std(file);
                    file.write_all(&memory).await.map_err(write_error)?;
                    memory = BytesMut::new();
                    spilled = Some((file, path));
                }
                match &mut spilled {
                    Some((file, _)) => file.write_all(&chunk).await.map_err(write_error)?,
                    None => memory.extend_from_slice(&chunk),
                }
            }
            let data = match spilled {
                Some((mut file, path)) => {
                    file.flush().await.map_err(write_error)?;
                    Stored::Temp(Arc::new(path))
                }
                None => Stored::Memory(memory.freeze()),
            };
            let file = UploadedFile { field: name.clone(), filename, content_type, size, data };
            form.files.entry(name).or_default().push(file);
        }
        Ok(form)
    }
}

#[cfg(feature = "multipart")]
fn too_large(message: String) -> UploadError {
    UploadError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
}

#[cfg(feature = "multipart")]
fn write_error(e: io::Error) -> UploadError {
    tracing::error!(target: "tether::upload", "could not write an upload to a temporary file: {e}");
    UploadError::new(StatusCode::INTERNAL_SERVER_ERROR, "could not store the upload").caused_by(e)
}

#[cfg(feature = "multipart")]
fn multer_error(e: multer::Error) -> UploadError {
    let error = match &e {
        multer::Error::FieldSizeExceeded { limit, field_name } => too_large(format!(
            "the field {:?} is larger than {limit} bytes",
            field_name.as_deref().unwrap_or_default()
        )),
        multer::Error::StreamSizeExceeded { limit } => {
            too_large(format!("the upload is larger than {limit} bytes"))
        }
        multer::Error::StreamReadFailed(e) if crate::response::body_guard::is_timeout(&**e) => {
            UploadError::new(StatusCode::REQUEST_TIMEOUT, "the upload arrived too slowly")
        }
        other => UploadError::new(StatusCode::BAD_REQUEST, format!("malformed multipart body: {other}")),
    };
    error.caused_by(e)
}

/// The request body as a stream of chunks for multer.
#[cfg(feature = "multipart")]
fn body_stream(
    body: RequestBody,
) -> futures_util::stream::BoxStream<'static, Result<Bytes, crate::BoxError>> {
    use http_body_util::BodyDataStream;
    match body {
        RequestBody::Empty => futures_util::stream::empty().boxed(),
        RequestBody::Buffered { bytes, .. } => futures_util::stream::once(async move { Ok(bytes) }).boxed(),
        RequestBody::Incoming(b) => BodyDataStream::new(b.into_inner()).boxed(),
        RequestBody::Boxed(b) => BodyDataStream::new(b.into_inner()).boxed(),
    }
}

#[cfg(all(test, feature = "multipart"))]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn an_upload_error_keeps_what_caused_it() {
        let e = multer_error(multer::Error::StreamSizeExceeded { limit: 10 });
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let cause = e.source().expect("multer's error is the source");
        assert!(cause.to_string().contains("10"), "{cause}");
        let e = write_error(io::Error::other("disk full"));
        assert_eq!(e.source().unwrap().to_string(), "disk full");
        // A bind error made from it walks the whole chain.
        let bind = crate::BindError::from_upload(e);
        let mut chain = Vec::new();
        let mut next = bind.source();
        while let Some(e) = next {
            chain.push(e.to_string());
            next = e.source();
        }
        assert_eq!(chain.len(), 2, "{chain:?}");
        assert_eq!(chain[1], "disk full");
    }
}
