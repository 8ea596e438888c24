//! Bodies: the response [`Body`] tether sends, and the request body it reads with a limit.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use sync_wrapper::SyncWrapper;

/// A boxed error, as bodies and services report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type Stream = SyncWrapper<UnsyncBoxBody<Bytes, BoxError>>;

/// The body of a response: empty, bytes in memory, or a stream.
///
/// Bytes in memory are sent with a `Content-Length`; a stream is sent chunked.
pub struct Body(Kind);

enum Kind {
    Empty,
    Full(Bytes),
    Stream(Stream),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(b) => f.debug_tuple("Body::Full").field(&b.len()).finish(),
            Kind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl Body {
    /// An empty body.
    pub const fn empty() -> Self {
        Body(Kind::Empty)
    }

    /// A body streamed from any [`http_body::Body`].
    pub fn from_stream<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body(Kind::Stream(SyncWrapper::new(body.map_err(Into::into).boxed_unsync())))
    }

    /// The bytes, when the body is in memory (not a stream).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.0 {
            Kind::Full(b) => Some(b),
            Kind::Empty => None,
            Kind::Stream(_) => None,
        }
    }

    /// True for a body with nothing in it (not a stream).
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Kind::Empty => true,
            Kind::Full(b) => b.is_empty(),
            Kind::Stream(_) => false,
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body(Kind::Full(b))
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body(Kind::Full(Bytes::from_static(s.as_bytes())))
    }
}
impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body(Kind::Full(Bytes::from_static(s)))
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Body(Kind::Full(Bytes::from(s)))
    }
}
impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body(Kind::Full(Bytes::from(v)))
    }
}
impl From<std::borrow::Cow<'static, str>> for Body {
    fn from(s: std::borrow::Cow<'static, str>) -> Self {
        match s {
            std::borrow::Cow::Borrowed(s) => s.into(),
            std::borrow::Cow::Owned(s) => s.into(),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.0 {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => match std::mem::replace(&mut self.0, Kind::Empty) {
                Kind::Full(b) if !b.is_empty() => Poll::Ready(Some(Ok(Frame::data(b)))),
                _ => Poll::Ready(None),
            },
            Kind::Stream(s) => Pin::new(s.get_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Empty => true,
            Kind::Full(b) => b.is_empty(),
            Kind::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.len() as u64),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

/// Why the request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body is larger than the limit (answered 413).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read from the client (answered 400).
    Read(BoxError),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => {
                write!(f, "request body is larger than the limit of {limit} bytes")
            }
            BodyError::Read(e) => write!(f, "request body could not be read: {e}"),
        }
    }
}

impl std::error::Error for BodyError {}

impl BodyError {
    /// The status this error is answered with: 413 or 400.
    pub fn status(&self) -> http::StatusCode {
        match self {
            BodyError::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read(_) => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// The request body as the context holds it: not yet read, or read and kept.
#[derive(Default)]
pub(crate) enum RequestBody {
    /// No body, or already taken.
    #[default]
    Empty,
    /// Straight from hyper's connection.
    Incoming(SyncWrapper<hyper::body::Incoming>),
    /// Any other body (from `into_service`).
    Boxed(Stream),
    /// Read into memory; kept so that a second read sees the same bytes.
    Buffered(Bytes),
}

impl RequestBody {
    pub(crate) fn incoming(body: hyper::body::Incoming) -> Self {
        use http_body::Body as _;
        if body.is_end_stream() {
            return RequestBody::Empty;
        }
        RequestBody::Incoming(SyncWrapper::new(body))
    }

    pub(crate) fn boxed<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if body.is_end_stream() {
            // Nothing to read (a GET, say): no need to box it.
            return RequestBody::Empty;
        }
        RequestBody::Boxed(SyncWrapper::new(body.map_err(Into::into).boxed_unsync()))
    }

    /// Reads the whole body into memory, refusing more than `limit` bytes. A body already
    /// read is returned again.
    pub(crate) async fn read_to_bytes(
        &mut self,
        limit: usize,
        content_length: Option<u64>,
    ) -> Result<Bytes, BodyError> {
        if let RequestBody::Buffered(b) = self {
            return Ok(b.clone());
        }
        if content_length.is_some_and(|n| n > limit as u64) {
            // Refuse before reading a byte.
            *self = RequestBody::Empty;
            return Err(BodyError::TooLarge { limit });
        }
        let bytes = match std::mem::take(self) {
            RequestBody::Empty | RequestBody::Buffered(_) => Bytes::new(),
            RequestBody::Incoming(b) => collect_limited(b.into_inner(), limit, |e| Box::new(e)).await?,
            RequestBody::Boxed(b) => collect_limited(b.into_inner(), limit, |e| e).await?,
        };
        *self = RequestBody::Buffered(bytes.clone());
        Ok(bytes)
    }
}

/// Reads `body` to its end, refusing more than `limit` bytes. A body that arrives in one
/// chunk is returned without a copy.
///
/// The error conversion is a plain function rather than an `Into<BoxError>` bound: such a
/// bound inside a handler's future trips rustc's higher-ranked `Send` inference
/// ("implementation of `From` is not general enough").
async fn collect_limited<B>(body: B, limit: usize, err: fn(B::Error) -> BoxError) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(err(e)))?;
        let Ok(data) = frame.into_data() else { continue };
        let so_far = if rest.is_empty() { first.as_ref().map_or(0, Bytes::len) } else { rest.len() };
        if so_far + data.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        match &first {
            None => first = Some(data),
            Some(f) => {
                if rest.is_empty() {
                    rest.extend_from_slice(f);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(if rest.is_empty() { first.unwrap_or_default() } else { rest.freeze() })
}
