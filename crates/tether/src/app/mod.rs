//! The application: [`Engine`](crate::Engine) and its [`Group`](crate::Group)s, where
//! routes, middleware, state and settings are registered, and the handler types they take.

pub(crate) mod capture;
mod defaults;
pub(crate) mod engine;
pub(crate) mod frozen;
pub(crate) mod group;
pub(crate) mod handler;
pub(crate) mod route_info;
pub(crate) mod routes;
mod server_settings;
pub(crate) mod settings;
pub(crate) mod state;
