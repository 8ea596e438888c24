//! Raw hyper 1.x serving the bench routes by hand: the floor tether is measured against.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Serialize)]
struct User<'a> {
    id: &'a str,
}

// Constants, so that the header values are checked at compile time, not per request.
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

fn respond(ctype: HeaderValue, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    res.headers_mut().insert(CONTENT_TYPE, ctype);
    res
}

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let res = if path == "/plaintext" {
        respond(TEXT, Bytes::from_static(b"Hello, World!"))
    } else if path == "/json" {
        let body = serde_json::to_vec(&Message { message: "Hello, World!" }).unwrap();
        respond(JSON, body.into())
    } else if let Some(id) = path.strip_prefix("/user/").filter(|id| !id.is_empty() && !id.contains('/')) {
        let body = serde_json::to_vec(&User { id }).unwrap();
        respond(JSON, body.into())
    } else {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::NOT_FOUND;
        res
    };
    Ok(res)
}

fn main() {
    peers::runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", peers::port())).await.unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, hyper::service::service_fn(handle))
                    .await;
            });
        }
    })
}
