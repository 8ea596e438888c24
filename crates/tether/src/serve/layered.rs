//! The types of the engine's tower layers, apart from the code that applies them, so that
//! the engine can hold its list of layers without importing that code.

use std::convert::Infallible;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;

use crate::response::body::Body;

/// The engine as a service with its layers: requests and responses with tether bodies.
pub(crate) type Layered = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// Wraps the service built so far in one more layer.
pub(crate) type Wrap = Box<dyn FnOnce(Layered) -> Layered + Send + Sync>;
