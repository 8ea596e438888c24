//! The engine's setters for how it serves: body, header and connection limits, timeouts,
//! HTTP/2, panics, trailing slashes and 405s, uploads, trusted proxies, and tracked tasks.
//! Each says its default; every limit is on by default.

use std::time::Duration;

use crate::detach::Overflow;
use crate::Engine;

impl Engine {
    /// The largest request body `c.body_bytes()` and the JSON and form binders read.
    /// Past it they fail with 413. Default is 2 MiB.
    pub fn body_limit(&mut self, bytes: usize) -> &mut Self {
        self.settings.body_limit = bytes;
        self
    }

    /// How long a request head may take to arrive before the connection is closed: the
    /// first one from when the connection opens, a later one on a kept-alive HTTP/1.1
    /// connection from its first byte. Checked ten times a second. Default is 10 seconds.
    pub fn header_read_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.settings.header_read_timeout = timeout;
        self
    }

    /// How long a connection may sit idle between requests before it is closed (a next
    /// head that has begun to arrive has the header timeout instead). Default is 60
    /// seconds.
    pub fn keep_alive_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.settings.keep_alive_timeout = timeout;
        self
    }

    /// How long a handler waits for the request body, counted from its first read, before
    /// the read fails with [`BodyError::TimedOut`](crate::BodyError::TimedOut) (answered
    /// 408, and the connection is closed). Every byte received earns more time at
    /// [`body_min_rate`](Self::body_min_rate), so a large upload at a fair pace is never
    /// cut, while one byte every few seconds is. Default is 30 seconds.
    pub fn body_read_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.settings.body_read_timeout = timeout;
        self
    }

    /// The slowest pace, in bytes per second, at which a request body earns time past
    /// [`body_read_timeout`](Self::body_read_timeout). 0 gives none: the whole body must
    /// arrive within the timeout. Default is 1,024 (1 KiB/s).
    pub fn body_min_rate(&mut self, bytes_per_second: u32) -> &mut Self {
        self.settings.body_min_rate = bytes_per_second;
        self
    }

    /// The most bytes of request bodies held in memory at once, by the whole server and
    /// by one connection (an HTTP/2 connection carries many requests). A body read past
    /// either fails with [`BodyError::Overloaded`](crate::BodyError::Overloaded), answered
    /// 503. Each is raised to at least [`body_limit`](Self::body_limit). Defaults are
    /// 64 MiB and 8 MiB.
    pub fn body_memory(&mut self, total: usize, per_connection: usize) -> &mut Self {
        self.settings.body_memory = total;
        self.settings.body_memory_per_connection = per_connection;
        self
    }

    /// How long a response may wait on a client that does not read it (no byte written to
    /// the socket) before the connection is closed. Default is 30 seconds.
    pub fn write_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.settings.write_timeout = timeout;
        self
    }

    /// The largest request head: the request line and headers of HTTP/1.1 (hyper's read
    /// buffer; at least 8 KiB), the header list of HTTP/2. Past it, HTTP/1.1 answers 431
    /// and HTTP/2 refuses the stream. Default is 32 KiB (Node allows 16 KiB, nginx 8 KiB
    /// per header line): every connection may hold that much while its head arrives, so
    /// 4,000 unfinished heads hold at most 128 MiB.
    pub fn max_header_bytes(&mut self, bytes: usize) -> &mut Self {
        self.settings.max_header_bytes = bytes.max(8 * 1024);
        self
    }

    /// The most header fields in an HTTP/1.1 request; past it, 431. Default is 100.
    pub fn max_headers(&mut self, count: usize) -> &mut Self {
        self.settings.max_headers = count.max(1);
        self
    }

    /// The most requests open at once on one HTTP/2 connection. Default is 128 (nginx's
    /// default).
    pub fn http2_max_concurrent_streams(&mut self, streams: u32) -> &mut Self {
        self.settings.h2_max_streams = streams.max(1);
        self
    }

    /// HTTP/2 flow-control windows: how many bytes of a request body one stream, and one
    /// connection, may send ahead of the handler reading them. Defaults are 256 KiB and
    /// 1 MiB.
    pub fn http2_windows(&mut self, stream: u32, connection: u32) -> &mut Self {
        self.settings.h2_stream_window = stream;
        self.settings.h2_connection_window = connection;
        self
    }

    /// How often an idle HTTP/2 connection is pinged; one that does not answer within the
    /// same time is closed. `None` turns pings off. Default is 20 seconds.
    pub fn http2_keep_alive(&mut self, interval: Option<Duration>) -> &mut Self {
        self.settings.h2_keep_alive = interval;
        self
    }

    /// Whether serving installs tether's panic hook wrapper: the process's panic hook
    /// (the message, and a backtrace with `RUST_BACKTRACE=1`) runs for the first 3 panics
    /// at each code location, and later ones are only counted (`panics_quieted` in
    /// `/debug/vars`), so that a handler panicking on every request costs no backtrace
    /// and no stderr write each time. tether logs every handler panic itself. Default is
    /// on; the wrapper is process-wide and installed once.
    pub fn quiet_repeated_panics(&mut self, enabled: bool) -> &mut Self {
        self.settings.quiet_repeated_panics = enabled;
        self
    }

    /// Whether a path that misses only by a trailing slash is redirected to the route
    /// that exists (`/users/` to `/users`, or the other way): 301 for GET, 307 otherwise,
    /// through the global middleware (so it is logged). Decided per method: `POST
    /// /upload/` redirects to `POST /upload` even when a GET catch-all claims `/upload/`.
    /// Default is on, as Gin's `RedirectTrailingSlash`.
    pub fn redirect_trailing_slash(&mut self, enabled: bool) -> &mut Self {
        self.settings.redirect_trailing_slash = enabled;
        self
    }

    /// Whether a path that exists for other methods only is answered 405 with `Allow`
    /// (through [`no_method`](Self::no_method)). Off, it is a 404 (through
    /// [`no_route`](Self::no_route)), as Gin's default. Default is on: unlike Gin, tether
    /// tells the client which methods the path takes.
    pub fn handle_method_not_allowed(&mut self, enabled: bool) -> &mut Self {
        self.settings.handle_method_not_allowed = enabled;
        self
    }

    /// The most connections served at once; past it, new connections wait in the
    /// listener's backlog. Default is 10,000.
    pub fn max_connections(&mut self, max: usize) -> &mut Self {
        self.settings.max_connections = max.max(1);
        self
    }

    /// How long graceful shutdown waits for in-flight requests before cutting them off
    /// (and counting and logging what was cut). Default is 10 seconds.
    pub fn shutdown_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// Whether connections that open with the HTTP/2 preface are served as HTTP/2 (h2c,
    /// "prior knowledge"). HTTP/1.1 is always served. Default is on.
    pub fn http2(&mut self, enabled: bool) -> &mut Self {
        self.settings.http2 = enabled;
        self
    }

    /// Limits on `multipart/form-data` uploads (`c.form_file`, `c.multipart_form`): see
    /// [`UploadLimits`](crate::UploadLimits) for the defaults. The engine's `body_limit`
    /// does not apply to uploads; these do.
    ///
    /// ```
    /// let mut app = tether::Engine::new();
    /// app.upload_limits(tether::UploadLimits::default().max_file(8 << 20).in_memory(64 << 10));
    /// ```
    pub fn upload_limits(&mut self, limits: crate::UploadLimits) -> &mut Self {
        self.settings.uploads = limits;
        self
    }

    /// The proxies in front of the server (addresses or CIDR ranges, `10.0.0.0/8`, `::1`):
    /// only when the socket peer is one of them does `c.client_ip()` believe the
    /// forwarding headers (see [`remote_ip_headers`](Self::remote_ip_headers)). Default:
    /// none, so `client_ip` is the peer's address and no client can claim another.
    ///
    /// ```
    /// let mut app = tether::Engine::new();
    /// app.trusted_proxies(["10.0.0.0/8", "127.0.0.1"]);
    /// ```
    ///
    /// # Panics
    /// If an entry is neither an IP address nor a CIDR range.
    pub fn trusted_proxies<I, S>(&mut self, proxies: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.settings.proxies.nets = proxies
            .into_iter()
            .map(|p| {
                crate::context::client_ip::TrustedProxies::parse(p.as_ref())
                    .unwrap_or_else(|e| panic!("trusted_proxies: {e}"))
            })
            .collect();
        self
    }

    /// The headers a trusted proxy names the client in, in the order they are read.
    /// Default: `X-Forwarded-For`, then `X-Real-IP`.
    ///
    /// # Panics
    /// If a name is not a valid header name.
    pub fn remote_ip_headers<I, S>(&mut self, headers: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.settings.proxies.headers = headers
            .into_iter()
            .map(|h| {
                http::HeaderName::from_bytes(h.as_ref().as_bytes())
                    .unwrap_or_else(|_| panic!("remote_ip_headers: {:?} is not a header name", h.as_ref()))
            })
            .collect();
        self
    }

    /// The default deadline of tracked tasks (`c.go`, `c.detach()`, `app.tasks()`); past
    /// it a task is stopped and counted as timed out. A task can set its own, or none
    /// with an explicit `.no_timeout()`. Default is 30 seconds.
    pub fn task_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.hub().set_timeout(Some(timeout));
        self
    }

    /// The most tracked tasks in flight at once; past it, [`task_overflow`] decides.
    /// Default is 10,000.
    ///
    /// [`task_overflow`]: Self::task_overflow
    pub fn max_tasks(&mut self, max: usize) -> &mut Self {
        self.hub().set_max(max);
        self
    }

    /// What a task started past the cap does: `Overflow::Reject` (it never runs; its
    /// handle says so; counted and logged) or `Overflow::Wait` (it waits for a slot, its
    /// deadline running). Default is `Overflow::Reject`.
    pub fn task_overflow(&mut self, overflow: Overflow) -> &mut Self {
        self.hub().set_overflow(overflow);
        self
    }

    /// How old a live copy or task may get before it is logged (once, at `warn`, with its
    /// call site) and counted as a likely leak. Default is 60 seconds.
    pub fn leak_threshold(&mut self, threshold: Duration) -> &mut Self {
        self.hub().registry.set_threshold(threshold);
        self
    }
}
