//! Uploads over real sockets: fields and files, spilling to a temporary file, the limits
//! (413, and nothing left on disk), malformed bodies (400), and temporary files removed
//! however the request ends: answered, panicked, or the client gone mid-upload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Server, H1};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tether::{Context, Engine, UploadLimits};
use tokio::io::AsyncWriteExt;

const BOUNDARY: &str = "XyZzY-boundary";

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!("content-disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\ncontent-type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("content-disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn post(path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-uploads-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Reports where the upload is while the handler runs, then answers or panics.
async fn inspect(c: &mut Context) {
    let file = match c.form_file("file").await {
        Ok(f) => f,
        Err(e) => return c.json(e.status(), &e.to_json()),
    };
    let form = c.multipart_form().await.unwrap();
    let on_disk = file.temp_path().map(|p| p.exists()).unwrap_or(false);
    let digest: u64 = file.bytes().await.unwrap().iter().map(|b| *b as u64).sum();
    if form.value("panic") == Some("yes") {
        panic!("the handler fails after reading the upload");
    }
    c.json(
        200,
        &serde_json::json!({
            "title": form.value("title"),
            "filename": file.filename(),
            "size": file.size(),
            "on_disk": on_disk,
            "digest": digest,
        }),
    );
}

fn app(dir: &Path) -> Engine {
    let mut app = Engine::new();
    app.upload_limits(
        UploadLimits::default().in_memory(1024).max_file(64 * 1024).max_total(100 * 1024).dir(dir),
    );
    app.post("/upload", inspect);
    app.post("/save", async |c: &mut Context| {
        let file = c.form_file("file").await.unwrap();
        let dst = std::env::temp_dir().join(format!("tether-saved-{}/a/b/copy.bin", std::process::id()));
        c.save_uploaded_file(&file, &dst).await.unwrap();
        let saved = std::fs::read(&dst).unwrap();
        std::fs::remove_dir_all(dst.parent().unwrap().parent().unwrap().parent().unwrap()).ok();
        c.string(200, saved.len().to_string());
    });
    app
}

#[tokio::test]
async fn small_files_stay_in_memory_and_large_ones_spill_then_vanish() {
    let dir = temp_dir("spill");
    let server = Server::start(app(&dir)).await;
    let mut h1 = H1::connect(server.addr).await;

    let small = h1
        .send(post("/upload", multipart(&[("title", None, b"notes"), ("file", Some("a.txt"), b"hello")])))
        .await;
    let v = small.json();
    assert_eq!(
        (v["title"].as_str(), v["filename"].as_str(), v["size"].as_u64()),
        (Some("notes"), Some("a.txt"), Some(5))
    );
    assert_eq!(v["on_disk"], false);

    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let large = h1.send(post("/upload", multipart(&[("file", Some("big.bin"), &data)]))).await;
    let v = large.json();
    assert_eq!(v["size"], 50_000);
    assert_eq!(v["on_disk"], true, "past 1 KiB the file was on disk while the handler ran");
    assert_eq!(v["digest"], data.iter().map(|b| *b as u64).sum::<u64>());
    assert_eq!(files_in(&dir), 0, "the temporary file is gone once the request ended");

    let saved = h1.send(post("/save", multipart(&[("file", Some("big.bin"), &data)]))).await;
    assert_eq!(saved.text(), "50000");
    assert_eq!(files_in(&dir), 0);
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn over_the_limits_is_413_and_nothing_is_left_on_disk() {
    let dir = temp_dir("limits");
    let server = Server::start(app(&dir)).await;
    let mut h1 = H1::connect(server.addr).await;

    let too_big_file = vec![7u8; 80 * 1024];
    let reply = h1.send(post("/upload", multipart(&[("file", Some("huge.bin"), &too_big_file)]))).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(reply.json()["error"].as_str().unwrap().contains("larger than"));
    assert_eq!(files_in(&dir), 0, "the partial temporary file was removed");

    let two = vec![7u8; 60 * 1024];
    let reply =
        h1.send(post("/upload", multipart(&[("file", Some("a"), &two), ("other", Some("b"), &two)]))).await;
    assert_eq!(reply.status, 413, "the whole body is over 100 KiB");
    assert_eq!(files_in(&dir), 0);
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn malformed_forms_are_400() {
    let dir = temp_dir("malformed");
    let server = Server::start(app(&dir)).await;
    let mut h1 = H1::connect(server.addr).await;
    let no_boundary = Request::post("/upload")
        .header("content-type", "multipart/form-data")
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    assert_eq!(h1.send(no_boundary).await.status, 400);
    let json = Request::post("/upload")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from("{}")))
        .unwrap();
    assert_eq!(h1.send(json).await.status, 400);
    let broken = post("/upload", b"--XyZzY-boundary\r\nno headers end here".to_vec());
    assert_eq!(h1.send(broken).await.status, 400);
    let no_file = h1.send(post("/upload", multipart(&[("title", None, b"x")]))).await;
    assert_eq!(
        (no_file.status.as_u16(), no_file.json()["error"].as_str()),
        (400, Some("no file in the form field \"file\""))
    );
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_panic_or_a_client_gone_mid_upload_leaves_no_temporary_file() {
    let dir = temp_dir("abandon");
    let server = Server::start(app(&dir)).await;

    let data = vec![1u8; 20_000];
    let reply = crate::support::send(
        server.addr,
        post("/upload", multipart(&[("panic", None, b"yes"), ("file", Some("x"), &data)])),
    )
    .await;
    assert_eq!(reply.status, 500);
    assert_eq!(files_in(&dir), 0, "removed after the panic");

    // Half an upload, then the client hangs up.
    let body = multipart(&[("file", Some("x"), &vec![2u8; 60_000])]);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary={BOUNDARY}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..30_000]).await.unwrap();
    let mut waited = 0;
    while files_in(&dir) == 0 && waited < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(files_in(&dir), 1, "the upload was spilling to disk");
    drop(stream);
    let mut waited = 0;
    while files_in(&dir) > 0 && waited < 300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(files_in(&dir), 0, "removed when the client went away");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_whole_form_has_one_memory_budget() {
    let dir = temp_dir("memory");
    let mut app = Engine::new();
    // Each file under the 1 KiB threshold, but three of them pass the 2 KiB budget.
    app.upload_limits(UploadLimits::default().in_memory(1024).max_memory(2048).dir(&dir));
    app.post("/files", async |c: &mut Context| match c.multipart_form().await {
        Ok(form) => {
            let on_disk: Vec<bool> = form.files["f"].iter().map(|f| f.temp_path().is_some()).collect();
            c.json(200, &serde_json::json!({ "on_disk": on_disk }))
        }
        Err(e) => c.json(e.status(), &e.to_json()),
    });
    app.post("/text", async |c: &mut Context| match c.multipart_form().await {
        Ok(form) => c.string(200, form.values.len().to_string()),
        Err(e) => c.json(e.status(), &e.to_json()),
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    let part = vec![b'x'; 900];
    let files = multipart(&[("f", Some("1"), &part), ("f", Some("2"), &part), ("f", Some("3"), &part)]);
    let reply = h1.send(post("/files", files)).await;
    assert_eq!(reply.json()["on_disk"], serde_json::json!([false, false, true]), "the third went to disk");
    assert_eq!(files_in(&dir), 0);

    // Text fields cannot go to disk: past the budget they are refused.
    let text = multipart(&[("a", None, &part), ("b", None, &part), ("c", None, &part)]);
    let reply = h1.send(post("/text", text)).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(reply.text().contains("text fields"), "{}", reply.text());
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_failed_form_read_fails_the_same_way_again() {
    let mut app = Engine::new();
    app.upload_limits(UploadLimits::default().max_file(1024));
    app.post("/twice", async |c: &mut Context| {
        let first = c.multipart_form().await.unwrap_err();
        let second = c.multipart_form().await.unwrap_err();
        c.json(200, &serde_json::json!([first.status().as_u16(), second.status().as_u16(), second.message()]))
    });
    let server = Server::start(app).await;
    let mut h1 = H1::connect(server.addr).await;
    let big = vec![b'x'; 4096];
    let reply = h1.send(post("/twice", multipart(&[("f", Some("big"), &big)]))).await;
    let v = reply.json();
    assert_eq!((v[0].as_u64(), v[1].as_u64()), (Some(413), Some(413)), "{v}");
    assert!(v[2].as_str().unwrap().contains("larger than"), "{v}");
    server.shutdown().await;
}
