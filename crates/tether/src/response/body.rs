//! Bodies: the response [`Body`] tether sends, and the request body it reads with a limit.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use sync_wrapper::SyncWrapper;

use crate::response::body_guard::{BodyGuard, GuardedBody, Reservation};

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
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than the limit (answered 413).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read from the client (answered 400).
    Read(BoxError),
    /// The body arrived slower than `Engine::body_read_timeout` and `body_min_rate` allow
    /// (answered 408; the connection is closed).
    TimedOut,
    /// Bodies held in memory already fill the server's budget (`Engine::body_memory`):
    /// answered 503, the client may try again.
    Overloaded,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => {
                write!(f, "request body is larger than the limit of {limit} bytes")
            }
            BodyError::Read(e) => write!(f, "request body could not be read: {e}"),
            BodyError::TimedOut => f.write_str("request body arrived too slowly"),
            BodyError::Overloaded => {
                f.write_str("the server holds too many request bodies in memory; try again later")
            }
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Read(e) => Some(&**e),
            _ => None,
        }
    }
}

impl BodyError {
    /// The status this error is answered with: 413, 400, 408 or 503.
    pub fn status(&self) -> http::StatusCode {
        match self {
            BodyError::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read(_) => http::StatusCode::BAD_REQUEST,
            BodyError::TimedOut => http::StatusCode::REQUEST_TIMEOUT,
            BodyError::Overloaded => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A read error, told apart: a body that came too slowly is [`BodyError::TimedOut`].
    pub(crate) fn read(e: BoxError) -> Self {
        if crate::response::body_guard::is_timeout(&*e) {
            BodyError::TimedOut
        } else {
            BodyError::Read(e)
        }
    }
}

/// The request body as the context holds it: not yet read, or read and kept.
#[derive(Default)]
pub(crate) enum RequestBody {
    /// No body, or already taken.
    #[default]
    Empty,
    /// Straight from hyper's connection, with its pace rules and memory budgets.
    Incoming(SyncWrapper<GuardedBody>),
    /// Any other body (from `into_service`).
    Boxed(Stream),
    /// Read into memory; kept so that a second read sees the same bytes. The reservation
    /// (for a body from a connection) holds its bytes against the memory budgets.
    Buffered {
        bytes: Bytes,
        /// Held for its drop.
        _reservation: Option<Reservation>,
    },
}

impl RequestBody {
    /// hyper's body under the guard that `guard` builds (called only when the body has
    /// bytes to come); `Empty` when it has none.
    #[inline]
    pub(crate) fn incoming(body: hyper::body::Incoming, guard: impl FnOnce() -> BodyGuard) -> Self {
        use http_body::Body as _;
        if body.is_end_stream() {
            return RequestBody::Empty;
        }
        Self::guarded(body, guard)
    }

    /// A body with bytes to come, under its guard: out of line, off the path of the
    /// requests (most) that have none.
    #[inline(never)]
    fn guarded(body: hyper::body::Incoming, guard: impl FnOnce() -> BodyGuard) -> Self {
        RequestBody::Incoming(SyncWrapper::new(GuardedBody::new(body, &guard())))
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
        if let RequestBody::Buffered { bytes, .. } = self {
            return Ok(bytes.clone());
        }
        if content_length.is_some_and(|n| n > limit as u64) {
            // Refuse before reading a byte.
            *self = RequestBody::Empty;
            return Err(BodyError::TooLarge { limit });
        }
        let (bytes, reservation) = match std::mem::take(self) {
            RequestBody::Empty | RequestBody::Buffered { .. } => (Bytes::new(), None),
            RequestBody::Incoming(b) => {
                let body = b.into_inner();
                let mut reservation = body.budgets.reserve();
                let bytes = collect_limited(body, limit, content_length, Some(&mut reservation)).await?;
                (bytes, Some(reservation))
            }
            RequestBody::Boxed(b) => {
                (collect_limited(b.into_inner(), limit, content_length, None).await?, None)
            }
        };
        *self = RequestBody::Buffered { bytes: bytes.clone(), _reservation: reservation };
        Ok(bytes)
    }
}

/// Reads `body` to its end, refusing more than `limit` bytes and, with a reservation,
/// more than the memory budgets allow. A body that arrives in one chunk is returned
/// without a copy; one in many chunks goes into a buffer sized by its declared length, so
/// that growing it never holds twice the body.
async fn collect_limited<B>(
    body: B,
    limit: usize,
    declared: Option<u64>,
    reservation: Option<&mut Reservation>,
) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes, Error = BoxError>,
{
    let declared = declared.map_or(0, |n| n.min(limit as u64) as usize);
    let mut budget = Charge { reservation, charged: 0 };
    // A declared length is charged before a byte is read: a full budget refuses at once.
    budget.up_to(declared)?;
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::read)?;
        let Ok(data) = frame.into_data() else { continue };
        let so_far = if rest.is_empty() { first.as_ref().map_or(0, Bytes::len) } else { rest.len() };
        if so_far + data.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        budget.up_to(so_far + data.len())?;
        match &first {
            None => first = Some(data),
            Some(f) => {
                if rest.is_empty() {
                    rest.reserve(declared.max(f.len() + data.len()));
                    rest.extend_from_slice(f);
                }
                rest.extend_from_slice(&data);
                // The buffer's growth is memory held too.
                budget.up_to(rest.capacity())?;
            }
        }
    }
    Ok(if rest.is_empty() { first.unwrap_or_default() } else { rest.freeze() })
}

/// What one body being read has taken from the memory budgets so far.
struct Charge<'a> {
    reservation: Option<&'a mut Reservation>,
    charged: usize,
}

impl Charge<'_> {
    /// Makes sure `total` bytes are charged, or fails with `Overloaded`.
    fn up_to(&mut self, total: usize) -> Result<(), BodyError> {
        let Some(reservation) = self.reservation.as_deref_mut() else { return Ok(()) };
        if total > self.charged {
            if !reservation.grow(total - self.charged) {
                return Err(BodyError::Overloaded);
            }
            self.charged = total;
        }
        Ok(())
    }
}
