//! The reliability suite: what a slow, huge, malformed or hostile client, a stalled log
//! pipe or a long uptime does to a server with default settings. Each test drives a real
//! socket on loopback, is bounded in count and time, and fails without the fix it pins.
//! README.md's "Reliability" table summarises them.

mod cache;
mod debug_behind_proxy;
mod redirects;
mod shutdown;
mod slow_clients;
