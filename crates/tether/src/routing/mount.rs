//! Tower services inside an engine: `app.service(path, svc)` mounts any
//! `tower::Service` (tower-http's, tonic's, axum's router), and `static_dir` /
//! `static_file` serve files with tower-http, behind a root that cannot be escaped.

use std::future::poll_fn;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tower_service::Service;

use crate::app::handler::HandlerFuture;
use crate::response::body::{Body, BoxError, RequestBody};
use crate::{Context, Handler};

/// `service`, `static_dir` and `static_file`, for the engine and for groups (whose
/// prefix and middleware then apply: static files behind `basic_auth`, say).
macro_rules! mount_methods {
    () => {
        /// Mounts a tower `Service` at `path` and everything under it (`path/*rest`), for
        /// every method. The service sees the path below the mount, as axum's
        /// `nest_service` and a file server expect (`/docs/tether/index.html` reaches a
        /// `ServeDir` mounted at `/docs` as `/tether/index.html`; the query is kept), with
        /// the headers and the body streamed under the engine's body limit. The engine's
        /// middleware sees the full path. The response is sent as it is, after the
        /// middleware. A service error is a logged 500.
        ///
        /// ```
        /// use tower_http::services::ServeDir;
        ///
        /// let mut app = tether::Engine::new();
        /// app.service("/docs", ServeDir::new("target/doc"));
        /// ```
        pub fn service<S, B>(&mut self, path: &str, service: S) -> &mut Self
        where
            S: ::tower_service::Service<::http::Request<$crate::Body>, Response = ::http::Response<B>>
                + Clone
                + Send
                + Sync
                + 'static,
            S::Future: Send,
            S::Error: Into<$crate::BoxError>,
            B: ::http_body::Body<Data = ::bytes::Bytes> + Send + 'static,
            B::Error: Into<$crate::BoxError>,
        {
            let base = path.trim_end_matches('/');
            let at_base = $crate::routing::mount::Mounted { service: service.clone() };
            self.any(if base.is_empty() { "/" } else { base }, at_base);
            self.any(&format!("{base}/*rest"), $crate::routing::mount::Mounted { service });
            self
        }

        /// Serves the files under `root` at `prefix`: `app.static_dir("/assets", "./public")`
        /// answers `/assets/css/site.css` from `./public/css/site.css`, with `Content-Type`,
        /// `Last-Modified` / `If-Modified-Since`, `Range` and `HEAD` (tower-http's
        /// `ServeFile`), a weak `ETag` / `If-None-Match` (ours, from size and modification
        /// time), and `index.html` for a directory.
        ///
        /// Nothing outside `root` can be reached: `..` segments (also encoded, `%2e%2e`),
        /// backslashes, NULs and absolute paths are refused, and the path is resolved on disk
        /// and must still lie under `root`, so a symlink that points out of it is not
        /// followed. Whatever is refused or missing is a plain 404, which tells a prober
        /// nothing.
        ///
        /// ```
        /// let mut app = tether::Engine::new();
        /// app.static_dir("/assets", "./public");
        /// ```
        pub fn static_dir(&mut self, prefix: &str, root: impl AsRef<::std::path::Path>) -> &mut Self {
            let base = prefix.trim_end_matches('/');
            let handler = $crate::routing::mount::StaticDir { root: root.as_ref().to_path_buf() };
            self.get(&format!("{base}/*filepath"), handler);
            self
        }

        /// Serves one file at `path` (a favicon, a robots.txt), as `static_dir` serves files.
        ///
        /// ```
        /// let mut app = tether::Engine::new();
        /// app.static_file("/favicon.ico", "./public/favicon.ico");
        /// ```
        pub fn static_file(&mut self, path: &str, file: impl AsRef<::std::path::Path>) -> &mut Self {
            let file = file.as_ref().to_path_buf();
            self.get(path, $crate::routing::mount::StaticFile { file });
            self
        }
    };
}
pub(crate) use mount_methods;

/// A mounted tower service (the service is cloned per request, as tower expects).
pub(crate) struct Mounted<S> {
    pub(crate) service: S,
}

impl<S, B> Handler for Mounted<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        let request = http_request(c, below_mount(c));
        let mut service = self.service.clone();
        HandlerFuture::new(async move {
            let ready: Result<(), BoxError> = poll_fn(|cx| service.poll_ready(cx)).await.map_err(Into::into);
            let result: Result<Response<B>, BoxError> = match ready {
                Ok(()) => service.call(request).await.map_err(Into::into),
                Err(e) => Err(e),
            };
            match result {
                Ok(response) => write_response(c, response),
                Err(e) => {
                    tracing::error!(target: "tether::service", path = c.path(), "mounted service failed: {e}");
                    c.string(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
                }
            }
        })
    }
}

/// The request's URI with the mount's prefix taken off the path (`/` at the mount
/// itself), the query kept. The prefix is the route's pattern without its `/*rest`; a
/// mount under a parameter (`/u/:id/files`) cannot be stripped as text, and its service
/// gets the full path.
fn below_mount(c: &Context) -> http::Uri {
    let uri = &c.req.head().uri;
    let pattern = c.full_path();
    let base = pattern.strip_suffix("/*rest").unwrap_or(pattern);
    let Some(rest) = uri.path().strip_prefix(base.trim_end_matches('/')) else { return uri.clone() };
    if base.contains([':', '*']) || !(rest.is_empty() || rest.starts_with('/')) {
        return uri.clone();
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    http::Uri::try_from(path_and_query).unwrap_or_else(|_| uri.clone())
}

/// The request as an `http::Request` for a service: the head cloned (middleware after
/// the service still reads it), the body moved, bounded by the engine's body limit.
fn http_request(c: &mut Context, uri: http::Uri) -> Request<Body> {
    let limit = c.req.shared.as_deref().map_or(usize::MAX, |s| s.settings.body_limit);
    let body = match std::mem::take(&mut c.req.body) {
        RequestBody::Empty => Body::empty(),
        RequestBody::Buffered { bytes, .. } => Body::from(bytes),
        RequestBody::Incoming(b) => Body::from_stream(http_body_util::Limited::new(b.into_inner(), limit)),
        RequestBody::Boxed(b) => Body::from_stream(http_body_util::Limited::new(b.into_inner(), limit)),
    };
    let head = c.req.head();
    let mut request = Request::new(body);
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = head.version;
    *request.headers_mut() = head.headers.clone();
    *request.extensions_mut() = head.extensions.clone();
    request
}

fn write_response<B>(c: &mut Context, response: Response<B>)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = response.into_parts();
    c.status(parts.status);
    let headers = c.response_headers_mut();
    for (name, value) in parts.headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    c.set_response_body(Body::from_stream(body));
}

pub(crate) struct StaticDir {
    pub(crate) root: PathBuf,
}

impl Handler for StaticDir {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(async move {
            let wanted = c.param("filepath").to_owned();
            match resolve(&self.root, &wanted).await {
                Some(file) => serve_file(c, file).await,
                None => c.string(StatusCode::NOT_FOUND, "404 page not found"),
            }
        })
    }
}

pub(crate) struct StaticFile {
    pub(crate) file: PathBuf,
}

impl Handler for StaticFile {
    fn call<'a>(&'a self, c: &'a mut Context) -> HandlerFuture<'a> {
        HandlerFuture::new(serve_file(c, self.file.clone()))
    }
}

async fn serve_file(c: &mut Context, file: PathBuf) {
    // A weak ETag from the file's size and modification time (tower-http sends
    // Last-Modified but no ETag): If-None-Match that names it is a 304 without a read.
    let etag = tokio::fs::metadata(&file).await.ok().and_then(|m| {
        let modified = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
        http::HeaderValue::try_from(format!("W/\"{:x}-{:x}\"", m.len(), modified.as_nanos())).ok()
    });
    if let Some(etag) = &etag {
        if if_none_match(c, etag) {
            c.status(StatusCode::NOT_MODIFIED);
            c.response_headers_mut().insert(http::header::ETAG, etag.clone());
            return;
        }
    }
    let uri = c.req.head().uri.clone();
    let request = http_request(c, uri);
    let mut service = tower_http::services::ServeFile::new(file);
    match service.call(request).await {
        Ok(response) => {
            let fresh = response.status().is_success();
            write_response(c, response);
            if let (true, Some(etag)) = (fresh, etag) {
                c.response_headers_mut().insert(http::header::ETAG, etag);
            }
        }
        Err(never) => match never {},
    }
}

/// `If-None-Match` lists `etag` (weak comparison), or is `*`.
fn if_none_match(c: &Context, etag: &http::HeaderValue) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = strip(etag.to_str().unwrap_or_default());
    c.request_headers()
        .get_all(http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == ours)
}

/// The file under `root` that `wanted` (the decoded rest of the path) names, if it is
/// one that may be served: no `..`, no absolute path, and on disk still under `root`
/// once symlinks are resolved. A directory means its `index.html`.
async fn resolve(root: &Path, wanted: &str) -> Option<PathBuf> {
    if wanted.contains(['\\', '\0']) {
        return None;
    }
    let relative = Path::new(wanted.trim_start_matches('/'));
    if !relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return None;
    }
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let mut path = tokio::fs::canonicalize(root.join(relative)).await.ok()?;
    if tokio::fs::metadata(&path).await.ok()?.is_dir() {
        path = tokio::fs::canonicalize(path.join("index.html")).await.ok()?;
    }
    path.starts_with(&root).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_paths_inside_the_root_resolve() {
        let root = std::env::temp_dir().join(format!("tether-static-{}", std::process::id()));
        std::fs::create_dir_all(root.join("css")).unwrap();
        std::fs::write(root.join("css/site.css"), "body{}").unwrap();
        std::fs::write(root.join("index.html"), "<h1>hi</h1>").unwrap();
        let inside = |p: &str| root.canonicalize().unwrap().join(p);
        assert_eq!(resolve(&root, "css/site.css").await, Some(inside("css/site.css")));
        assert_eq!(resolve(&root, "/css/./site.css").await, Some(inside("css/site.css")));
        assert_eq!(resolve(&root, "").await, Some(inside("index.html")));
        for bad in ["../etc/passwd", "css/../../x", "css\\..\\x", "/etc/passwd/../..", "a\0b", "missing.txt"]
        {
            assert_eq!(resolve(&root, bad).await, None, "{bad:?}");
        }
        std::fs::remove_dir_all(&root).ok();
    }
}
