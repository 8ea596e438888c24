//! Serving one file: small ones from memory, large ones as a stream.

use std::io;
use std::path::Path;

use futures_util::TryStreamExt;
use http_body::Frame;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::response::body::Body;

/// Files up to this size are read into memory in one go.
const IN_MEMORY: u64 = 64 * 1024;

/// Opens the file at `path`: its body and length. A directory is "not found".
pub(crate) async fn open(path: &Path) -> io::Result<(Body, u64)> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(io::ErrorKind::NotFound.into());
    }
    let len = meta.len();
    if len <= IN_MEMORY {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes).await?;
        let len = bytes.len() as u64;
        return Ok((Body::from(bytes), len));
    }
    let stream = ReaderStream::new(file).map_ok(Frame::data);
    Ok((Body::from_stream(http_body_util::StreamBody::new(stream)), len))
}
