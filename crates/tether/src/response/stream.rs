//! Streams for `c.stream` and `c.sse` from tokio channels, and what a streamed chunk may be.
//!
//! tokio's receivers are not `Stream`s themselves; [`from_mpsc`], [`from_unbounded`] and
//! [`from_broadcast`] make them one, so a producer task can feed a response:
//!
//! ```
//! use tether::sse::Event;
//!
//! async fn feed(c: &mut tether::Context) {
//!     let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
//!     // Tied: cancelled when the client goes away or the deadline passes.
//!     c.detach().tied().go(move |_cp| async move {
//!         for n in 0..3 {
//!             if tx.send(Event::data(n.to_string())).await.is_err() {
//!                 return; // the client went away
//!             }
//!         }
//!     });
//!     c.sse(tether::stream::from_mpsc(rx));
//! }
//! ```

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};

use crate::response::body::BoxError;

/// What a stream given to [`Context::stream`](crate::Context::stream) may yield: bytes
/// (`Bytes`, `String`, `Vec<u8>`, `&'static str`), or a `Result` of them whose error
/// ends the response early (the client sees the body cut).
pub trait Chunk: Send + 'static {
    /// The bytes to send, or why the stream failed.
    fn into_chunk(self) -> Result<Bytes, BoxError>;
}

impl<B, E> Chunk for Result<B, E>
where
    B: Into<Bytes> + Send + 'static,
    E: Into<BoxError> + Send + 'static,
{
    fn into_chunk(self) -> Result<Bytes, BoxError> {
        self.map(Into::into).map_err(Into::into)
    }
}

macro_rules! plain_chunk {
    ($($ty:ty),*) => {
        $(impl Chunk for $ty {
            fn into_chunk(self) -> Result<Bytes, BoxError> {
                Ok(Bytes::from(self))
            }
        })*
    };
}

plain_chunk!(Bytes, String, Vec<u8>, &'static str);

/// The values sent on a bounded tokio channel, until every sender is dropped.
pub fn from_mpsc<T: Send + 'static>(rx: mpsc::Receiver<T>) -> impl Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// The values sent on an unbounded tokio channel, until every sender is dropped.
pub fn from_unbounded<T: Send + 'static>(
    rx: mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// The values broadcast after `rx` subscribed, until every sender is dropped. A receiver
/// that falls behind the channel's capacity (a slow client) skips the values it missed,
/// logged at debug with their count, rather than ending the response.
pub fn from_broadcast<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(v) => return Some((v, rx)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(target: "tether", missed, "stream::from_broadcast: a slow client skipped values");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

pin_project_lite::pin_project! {
    /// A stream of [`Chunk`]s as the `Result<Bytes, _>` frames of a body.
    pub(crate) struct Chunks<S> {
        #[pin]
        inner: S,
    }
}

impl<S> Chunks<S> {
    pub(crate) fn new(inner: S) -> Self {
        Chunks { inner }
    }
}

impl<S> Stream for Chunks<S>
where
    S: Stream,
    S::Item: Chunk,
{
    type Item = Result<http_body::Frame<Bytes>, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.project()
            .inner
            .poll_next(cx)
            .map(|item| item.map(|c| c.into_chunk().map(http_body::Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::convert::Infallible;

    #[tokio::test]
    async fn receivers_end_when_their_senders_do() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        drop(tx);
        assert_eq!(from_mpsc(rx).collect::<Vec<_>>().await, [1, 2]);

        let (tx, rx) = mpsc::unbounded_channel();
        tx.send("a").unwrap();
        drop(tx);
        assert_eq!(from_unbounded(rx).collect::<Vec<_>>().await, ["a"]);
    }

    #[tokio::test]
    async fn a_lagging_broadcast_receiver_skips_rather_than_ends() {
        let (tx, rx) = broadcast::channel(2);
        for n in 0..5 {
            tx.send(n).unwrap();
        }
        drop(tx);
        // Capacity 2: 0, 1 and 2 were overwritten; the stream goes on with 3 and 4.
        assert_eq!(from_broadcast(rx).collect::<Vec<_>>().await, [3, 4]);
    }

    #[test]
    fn chunks_are_bytes_or_results_of_bytes() {
        assert_eq!("a".into_chunk().unwrap(), "a");
        assert_eq!(String::from("b").into_chunk().unwrap(), "b");
        assert_eq!(Ok::<_, Infallible>(vec![b'c']).into_chunk().unwrap(), "c");
        assert!(Err::<Bytes, _>(std::io::Error::other("x")).into_chunk().is_err());
    }
}
