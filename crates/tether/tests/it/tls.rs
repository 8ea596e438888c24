//! HTTPS over real sockets: HTTP/2 when ALPN agrees on it, HTTP/1.1 otherwise, and a
//! handshake that fails (plain HTTP, an untrusted certificate) closes that connection
//! and nothing else.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tether::{Context, Engine, TlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

struct Tls {
    addr: std::net::SocketAddr,
    cert: CertificateDer<'static>,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<tether::ShutdownReport>>,
}

async fn start() -> Tls {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tls =
        TlsConfig::from_pem(certified.cert.pem().as_bytes(), certified.key_pair.serialize_pem().as_bytes())
            .unwrap();
    let mut app = Engine::new();
    app.get("/hello", async |c: &mut Context| {
        let version = format!("{:?}", c.version());
        c.string(200, version);
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve_tls_with_shutdown(listener, tls, async {
        rx.await.ok();
    }));
    Tls { addr, cert: certified.cert.der().clone(), stop, server }
}

fn client(trusted: Option<&CertificateDer<'static>>, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    if let Some(cert) = trusted {
        roots.add(cert.clone()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

async fn connect(
    tls: &Tls,
    connector: &TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(tls.addr).await?;
    connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await
}

async fn get_h2(stream: tokio_rustls::client::TlsStream<TcpStream>, path: &str) -> (http::Version, String) {
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("https://localhost{path}")).body(Full::<Bytes>::default()).unwrap();
    let res = sender.send_request(req).await.unwrap();
    let version = res.version();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (version, String::from_utf8_lossy(&body).into_owned())
}

async fn get_h1(stream: tokio_rustls::client::TlsStream<TcpStream>, path: &str) -> (http::Version, String) {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get(path).header("host", "localhost").body(Full::<Bytes>::default()).unwrap();
    let res = sender.send_request(req).await.unwrap();
    let version = res.version();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (version, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn https_speaks_http2_by_alpn_and_http1_when_asked() {
    let tls = start().await;
    let h2 = connect(&tls, &client(Some(&tls.cert), &[b"h2", b"http/1.1"])).await.unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(get_h2(h2, "/hello").await, (http::Version::HTTP_2, "HTTP/2.0".to_owned()));

    let h1 = connect(&tls, &client(Some(&tls.cert), &[b"http/1.1"])).await.unwrap();
    assert_eq!(get_h1(h1, "/hello").await, (http::Version::HTTP_11, "HTTP/1.1".to_owned()));
    tls.stop.send(()).ok();
    tls.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_bad_handshake_closes_that_connection_and_the_server_goes_on() {
    let tls = start().await;

    // Plain HTTP to the TLS port: not a ClientHello; the connection is closed.
    let mut plain = TcpStream::connect(tls.addr).await.unwrap();
    plain.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closes the connection");
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"), "no answer over plain HTTP");

    // A client that does not trust the certificate gives up in the handshake.
    assert!(connect(&tls, &client(None, &[b"h2"])).await.is_err());

    // Garbage, then a close halfway through a handshake.
    let mut garbage = TcpStream::connect(tls.addr).await.unwrap();
    garbage.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2]).await.unwrap();
    drop(garbage);

    let ok = connect(&tls, &client(Some(&tls.cert), &[b"h2"])).await.unwrap();
    assert_eq!(get_h2(ok, "/hello").await.1, "HTTP/2.0", "the server is fine");
    tls.stop.send(()).ok();
    let report = tls.server.await.unwrap().unwrap();
    assert_eq!(report.requests_cut, 0);
}
