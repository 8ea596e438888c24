//! Helpers for end-to-end tests: a real server on 127.0.0.1:0 and real HTTP clients.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod lines;
pub mod redis_server;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tether::{Engine, ShutdownReport};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; `shutdown()` stops it and returns its report.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<ShutdownReport>>,
}

impl Server {
    /// Serves `app` on a fresh loopback port.
    pub async fn start(app: Engine) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve_with_shutdown(listener, async {
            rx.await.ok();
        }));
        Server { addr, stop: Some(tx), task }
    }

    /// Begins graceful shutdown and waits for the server to finish.
    pub async fn shutdown(mut self) -> ShutdownReport {
        self.stop.take().unwrap().send(()).ok();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap()
    }

    /// Begins graceful shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        self.stop.take().unwrap().send(()).ok();
    }

    /// Waits for a shutdown begun with `begin_shutdown`.
    pub async fn finished(self) -> ShutdownReport {
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// A collected response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One HTTP/1.1 keep-alive connection.
pub struct H1 {
    sender: http1::SendRequest<Full<Bytes>>,
    pub conn: JoinHandle<()>,
    addr: SocketAddr,
}

impl H1 {
    pub async fn connect(addr: SocketAddr) -> H1 {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        H1 { sender, conn, addr }
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Reply {
        self.try_send(req).await.expect("a response")
    }

    /// Sends `req`; an error when the connection ends without a response.
    pub async fn try_send(&mut self, mut req: Request<Full<Bytes>>) -> Result<Reply, hyper::Error> {
        if !req.headers().contains_key(http::header::HOST) {
            req.headers_mut().insert(http::header::HOST, self.addr.to_string().parse().unwrap());
        }
        self.sender.ready().await?;
        let res = self.sender.send_request(req).await?;
        Ok(collect(res).await)
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Request::get(path).body(Full::default()).unwrap()).await
    }

    /// True once the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// One HTTP/2 connection (prior knowledge, h2c).
pub struct H2 {
    sender: http2::SendRequest<Full<Bytes>>,
}

impl H2 {
    pub async fn connect(addr: SocketAddr) -> H2 {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        H2 { sender }
    }

    pub async fn get(&mut self, url: &str) -> Reply {
        let req = Request::get(url).body(Full::default()).unwrap();
        self.sender.ready().await.unwrap();
        let res = self.sender.send_request(req).await.expect("response");
        collect(res).await
    }
}

async fn collect(res: http::Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply { status: parts.status, headers: parts.headers, body }
}

/// GET `path` on a new connection.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    H1::connect(addr).await.get(path).await
}

/// Sends `req` on a new connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    H1::connect(addr).await.send(req).await
}

/// Writes `request` as raw bytes on a new connection and reads until the server closes it
/// or `within` passes; returns what came back as text. For requests a well-behaved client
/// would refuse to send.
pub async fn raw(addr: SocketAddr, request: &[u8], within: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of header `name` in a raw response's head.
pub fn raw_header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
