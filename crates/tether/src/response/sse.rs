//! Streaming responses: `c.stream(..)` for any stream of bytes and `c.sse(..)` for
//! server-sent events, with keep-alive comments.
//!
//! A streamed body is polled by the connection after the handler has returned. When the
//! client goes away the body is dropped, and with it the stream, so a producer that feeds
//! it through a channel sees its `send` fail. Tasks started with `c.detach().tied()`
//! before the stream began are cancelled at that moment too (not when the handler
//! returns): their request is over only when its stream is.

use std::fmt::Write as _;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::{header, HeaderValue};
use http_body::Frame;
use tokio_util::sync::{DropGuard, WaitForCancellationFutureOwned};

use crate::response::body::{Body, BoxError};
use crate::{Context, IntoStatus};

/// One server-sent event. Build it with [`Event::data`] or [`Event::json`], then name it,
/// number it, or set the client's retry delay.
///
/// ```
/// use tether::sse::Event;
///
/// let e = Event::data("line one\nline two").event("update").id("7");
/// assert_eq!(e.to_string(), "event: update\nid: 7\ndata: line one\ndata: line two\n\n");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Event {
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: String,
}

impl Event {
    /// An event carrying `data` (several lines become several `data:` fields).
    pub fn data(data: impl Into<String>) -> Self {
        Event { data: data.into(), ..Event::default() }
    }

    /// An event carrying `value` as JSON.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Event::data(serde_json::to_string(value)?))
    }

    /// The event's type (`event:`), which the browser dispatches on. A name with a line
    /// break (`\n` or `\r`) is refused: the field is left out and a warning logged, since a
    /// line break would start a field of the client's choosing.
    pub fn event(mut self, name: impl Into<String>) -> Self {
        self.event = one_line("event", name.into());
        self
    }

    /// The event's id (`id:`), sent back as `Last-Event-ID` when the browser reconnects.
    /// An id with a line break or a NUL (which browsers ignore) is refused like a bad
    /// [`event`](Event::event) name.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = one_line("id", id.into());
        self
    }

    /// How long the browser waits before reconnecting (`retry:`).
    pub fn retry(mut self, after: Duration) -> Self {
        self.retry = Some(after);
        self
    }
}

/// Field values other than data cannot span lines: a line break would start a new field.
fn one_line(field: &'static str, s: String) -> Option<String> {
    if s.contains(['\n', '\r', '\0']) {
        tracing::warn!(target: "tether", field, value = ?s, "SSE field with a line break refused");
        return None;
    }
    Some(s)
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(event) = &self.event {
            writeln!(f, "event: {event}")?;
        }
        if let Some(id) = &self.id {
            writeln!(f, "id: {id}")?;
        }
        if let Some(retry) = self.retry {
            writeln!(f, "retry: {}", retry.as_millis())?;
        }
        // Every line end the browser knows (CRLF, CR, LF) starts a new `data:` field, so
        // no part of the data can become a field of its own.
        for line in lines(&self.data) {
            writeln!(f, "data: {line}")?;
        }
        f.write_char('\n')
    }
}

/// Splits on `\r\n`, `\r` and `\n`, as the event-stream format reads line ends.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(s)
            }
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
        }
    })
}

/// A stream of events with a keep-alive comment when it is quiet (default every 15 s),
/// which keeps proxies from closing an idle connection. Pass it to [`Context::sse_with`].
pub struct Sse<S> {
    events: S,
    keep_alive: Option<Duration>,
}

impl<S> std::fmt::Debug for Sse<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sse").field("keep_alive", &self.keep_alive).finish_non_exhaustive()
    }
}

impl<S> Sse<S>
where
    S: Stream<Item = Event> + Send + 'static,
{
    /// Events from `events`, with the default keep-alive.
    pub fn new(events: S) -> Self {
        Sse { events, keep_alive: Some(Duration::from_secs(15)) }
    }

    /// A `:` comment after `every` without an event; `None` for none.
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every;
        self
    }
}

pin_project_lite::pin_project! {
    /// The body of an event stream: events as they come, comments when idle.
    struct EventBody<S> {
        #[pin]
        events: S,
        #[pin]
        idle: Option<tokio::time::Sleep>,
        every: Option<Duration>,
        done: bool,
    }
}

impl<S: Stream<Item = Event>> http_body::Body for EventBody<S> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match this.events.poll_next(cx) {
            Poll::Ready(Some(event)) => {
                if let (Some(idle), Some(every)) = (this.idle.as_mut().as_pin_mut(), *this.every) {
                    idle.reset(tokio::time::Instant::now() + every);
                }
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(event.to_string())))))
            }
            Poll::Ready(None) => {
                *this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let (Some(mut idle), Some(every)) = (this.idle.as_mut().as_pin_mut(), *this.every) else {
                    return Poll::Pending;
                };
                if std::future::Future::poll(idle.as_mut(), cx).is_pending() {
                    return Poll::Pending;
                }
                idle.reset(tokio::time::Instant::now() + every);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b":\n\n")))))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A streamed response body as the server runs it: it ends the request when dropped
    /// (tied tasks are cancelled then), it ends cleanly when shutdown begins (an SSE
    /// client reconnects, to another instance), and it is counted while open, so that a
    /// shutdown that has to cut it says so.
    struct UntilDropped<B> {
        #[pin]
        body: B,
        guard: Option<DropGuard>,
        stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
        open: Option<OpenStream>,
        ended: bool,
    }
}

impl<B: http_body::Body> http_body::Body for UntilDropped<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        if this.stop.as_mut().is_some_and(|stop| stop.as_mut().poll(cx).is_ready()) {
            // Shutdown began: end the stream here, as a complete response.
            *this.ended = true;
            *this.stop = None;
            *this.open = None;
            return Poll::Ready(None);
        }
        this.body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }
}

/// One streamed response open; counted in the engine's stats until dropped.
struct OpenStream(std::sync::Arc<crate::app::frozen::FrozenEngine>);

impl OpenStream {
    fn new(shared: std::sync::Arc<crate::app::frozen::FrozenEngine>) -> Self {
        shared.stats.streams_open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OpenStream(shared)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.stats.streams_open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Context {
    /// Streams `chunks` as the response body (sent chunked, or as HTTP/2 data frames),
    /// with `content_type`. A chunk is bytes (`Bytes`, `String`, ..) or a `Result` of
    /// them ([`Chunk`](crate::response::stream::Chunk)); a channel receiver becomes a stream with
    /// [`tether::stream`](crate::response::stream). The stream is dropped when the client goes
    /// away, and ends when the server shuts down.
    ///
    /// ```
    /// async fn log_tail(c: &mut tether::Context) {
    ///     let (tx, rx) = tokio::sync::mpsc::channel::<String>(16);
    ///     c.detach().tied().go(move |_cp| async move {
    ///         for i in 1..=3 {
    ///             if tx.send(format!("line {i}\n")).await.is_err() {
    ///                 return;
    ///             }
    ///         }
    ///     });
    ///     c.stream(200, "text/plain; charset=utf-8", tether::stream::from_mpsc(rx));
    /// }
    /// ```
    pub fn stream<S>(&mut self, code: impl IntoStatus, content_type: &str, chunks: S)
    where
        S: Stream + Send + 'static,
        S::Item: crate::response::stream::Chunk,
    {
        let frames = crate::response::stream::Chunks::new(chunks);
        let body = self.until_dropped(http_body_util::StreamBody::new(frames));
        self.data(code, content_type, body);
    }

    /// Answers with server-sent events from `events`, a keep-alive comment every 15 s
    /// when quiet ([`sse_with`](Self::sse_with) to change that).
    ///
    /// ```
    /// use tether::sse::Event;
    ///
    /// async fn clock(c: &mut tether::Context) {
    ///     let (tx, rx) = tokio::sync::mpsc::channel(8);
    ///     // Tied: cancelled when the client goes away (or the deadline passes).
    ///     c.detach().tied().go(move |_cp| async move {
    ///         let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    ///         for n in 0u64.. {
    ///             tick.tick().await;
    ///             if tx.send(Event::data(n.to_string()).event("tick")).await.is_err() {
    ///                 return; // the client went away
    ///             }
    ///         }
    ///     });
    ///     c.sse(tether::stream::from_mpsc(rx));
    /// }
    /// ```
    pub fn sse<S>(&mut self, events: S)
    where
        S: Stream<Item = Event> + Send + 'static,
    {
        self.sse_with(Sse::new(events));
    }

    /// Answers with server-sent events, with the keep-alive of `sse`.
    pub fn sse_with<S>(&mut self, sse: Sse<S>)
    where
        S: Stream<Item = Event> + Send + 'static,
    {
        let idle = sse.keep_alive.map(|every| tokio::time::sleep(every));
        let body =
            self.until_dropped(EventBody { events: sse.events, idle, every: sse.keep_alive, done: false });
        let headers = self.response_headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        self.data(200, "text/event-stream", body);
    }

    /// Wraps a streamed body so that the request ends (tied tasks are cancelled) when the
    /// body is dropped rather than when the handler returns, and the body ends when
    /// shutdown begins.
    fn until_dropped<B>(&mut self, body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let guard = self.req.take_request_token().map(|t| t.drop_guard());
        let shared = self.req.shared.clone();
        let stop = shared.as_ref().map(|s| Box::pin(s.hub.stopping.clone().cancelled_owned()));
        let open = shared.map(OpenStream::new);
        Body::from_stream(UntilDropped { body, guard, stop, open, ended: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_end_starts_a_new_data_field() {
        let e = Event::data("a\rb\r\nc\nd");
        assert_eq!(e.to_string(), "data: a\ndata: b\ndata: c\ndata: d\n\n");
        // A bare CR cannot smuggle a field of its own onto the wire.
        let e = Event::data("ok\revent: admin\rdata: forged");
        assert_eq!(e.to_string(), "data: ok\ndata: event: admin\ndata: data: forged\n\n");
        assert!(!e.to_string().contains('\r'));
    }

    #[test]
    fn empty_and_trailing_lines_are_kept() {
        assert_eq!(Event::data("").to_string(), "data: \n\n");
        assert_eq!(Event::data("a\n").to_string(), "data: a\ndata: \n\n");
        assert_eq!(Event::data("a\r\n\r\nb").to_string(), "data: a\ndata: \ndata: b\n\n");
    }

    #[test]
    fn line_breaks_in_event_and_id_are_refused() {
        let e = Event::data("x").event("update\rdata: forged").id("7\nevent: admin");
        assert_eq!(e.to_string(), "data: x\n\n");
        let e = Event::data("x").id("a\0b");
        assert_eq!(e.to_string(), "data: x\n\n");
        let e = Event::data("x").event("update").id("7");
        assert_eq!(e.to_string(), "event: update\nid: 7\ndata: x\n\n");
    }
}
