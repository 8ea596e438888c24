//! Middleware that ships with tether. Each is a function returning a [`Handler`].
//!
//! [`Handler`]: crate::Handler

mod logger;
mod recovery;

pub use logger::logger;
pub(crate) use recovery::panic_message;
pub use recovery::recovery;
