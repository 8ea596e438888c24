//! Routing: the route table built at registration, the frozen router that matches a
//! request to its chain, and mounted tower services and static files.

pub(crate) mod mount;
pub(crate) mod pattern;
pub(crate) mod redirect;
pub(crate) mod route_table;
pub(crate) mod router;
pub(crate) mod segments;
