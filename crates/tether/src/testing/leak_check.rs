//! [`LeakCheck`]: Go's `goleak.VerifyNone(t)`, for tether — with call sites.
//!
//! ```
//! use std::time::Duration;
//! use tether::testing::{LeakCheck, TestClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut app = tether::Engine::new();
//! app.post("/signup", async |c: &mut tether::Context| {
//!     c.go(|_cp| async move { tokio::time::sleep(Duration::from_millis(10)).await });
//!     c.string(202, "welcome");
//! });
//! let check = LeakCheck::start(&app);
//! let client = TestClient::new(app);
//! client.post("/signup").send().await;
//! check.verify().await; // the mail task ends within the bound: passes
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::detach::hub::TaskHub;
use crate::detach::registry::{Mark, SiteReport};
use crate::Engine;

/// Checks that the copies and tracked tasks made after it started have all ended.
///
/// It only reads the engine's leak registry (which is always there), so a test that does
/// not use it pays nothing. It sees only the engine it was started on: tests running in
/// parallel, each with its own engine, do not see each other's tasks.
///
/// It cannot see what tether does not track: a raw `tokio::spawn` is invisible to it (as
/// an untracked goroutine is to goleak's accounting of *yours*). Start work with `c.go`,
/// `c.detach()` or `app.tasks()` to stay visible.
#[derive(Debug)]
pub struct LeakCheck {
    hub: Arc<TaskHub>,
    mark: Mark,
    wait: Duration,
    ignored_sites: Vec<String>,
    ignored_names: Vec<String>,
}

impl LeakCheck {
    /// Starts a check on `app`'s registry: what exists now is not its business.
    pub fn start(app: &Engine) -> LeakCheck {
        Self::on(app.hub().clone())
    }

    pub(crate) fn on(hub: Arc<TaskHub>) -> LeakCheck {
        let mark = hub.registry.mark();
        LeakCheck {
            hub,
            mark,
            wait: Duration::from_secs(2),
            ignored_sites: Vec::new(),
            ignored_names: Vec::new(),
        }
    }

    /// How long `verify` waits for work to end before it reports. Default is 2 seconds.
    pub fn wait(mut self, bound: Duration) -> Self {
        self.wait = bound;
        self
    }

    /// Ignores copies and tasks made at `site`: a `file.rs:line` (or `file.rs:line:col`,
    /// or just `file.rs`) as the report prints it — a deliberate background loop.
    pub fn ignore_site(mut self, site: impl Into<String>) -> Self {
        self.ignored_sites.push(site.into());
        self
    }

    /// Ignores tasks with this name (`.name(..)` when started).
    pub fn ignore_name(mut self, name: impl Into<String>) -> Self {
        self.ignored_names.push(name.into());
        self
    }

    /// Waits up to the bound for the copies and tasks made since `start` to end, then
    /// panics with a readable report of those still alive.
    #[track_caller]
    pub fn verify(self) -> impl std::future::Future<Output = ()> {
        let caller = std::panic::Location::caller();
        async move {
            let report = self.report().await;
            if !report.is_clean() {
                panic!("LeakCheck (started at {caller}) found work left behind:\n{report}");
            }
        }
    }

    /// Waits up to the bound like `verify`, and returns the report instead of panicking.
    pub async fn report(&self) -> LeakReport {
        let until = Instant::now() + self.wait;
        loop {
            let leaks = self.leaks();
            if leaks.is_empty() || Instant::now() >= until {
                return LeakReport { leaks, waited: self.wait };
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn leaks(&self) -> Vec<Leak> {
        self.hub
            .registry
            .sites(Some(&self.mark), &self.ignored_names)
            .into_iter()
            .filter(|s| !self.ignored_sites.iter().any(|i| site_matches(&s.site, i)))
            .map(|s| Leak::from_site(s, &self.hub))
            .collect()
    }
}

fn site_matches(site: &str, pattern: &str) -> bool {
    site == pattern || site.starts_with(&format!("{pattern}:")) || site.ends_with(pattern)
}

/// One call site that left copies or tasks alive.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Leak {
    /// `"task"` or `"copy"`.
    pub kind: &'static str,
    /// `file.rs:line:column` of the `go()`, `detach()..go()` or `copy()` call.
    pub site: String,
    /// How many are alive.
    pub count: usize,
    /// Age of the oldest.
    pub oldest: Duration,
    /// Task names seen at the site.
    pub names: Vec<String>,
    /// The requests that made them: method and route pattern.
    pub routes: Vec<String>,
}

impl Leak {
    fn from_site(s: SiteReport, hub: &TaskHub) -> Leak {
        let routes = s.origins.iter().map(|(m, id)| hub.route_label(m, *id)).collect();
        Leak { kind: s.kind.as_str(), site: s.site, count: s.live, oldest: s.oldest, names: s.names, routes }
    }
}

/// What a [`LeakCheck`] found.
#[derive(Clone, Debug)]
pub struct LeakReport {
    leaks: Vec<Leak>,
    waited: Duration,
}

impl LeakReport {
    /// True when nothing tracked was left behind.
    pub fn is_clean(&self) -> bool {
        self.leaks.is_empty()
    }

    /// The call sites with work still alive.
    pub fn leaks(&self) -> &[Leak] {
        &self.leaks
    }
}

impl fmt::Display for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.leaks.is_empty() {
            return writeln!(
                f,
                "no tracked copies or tasks were left behind. (Work started with a raw \
                 tokio::spawn is invisible to this check: start it with c.go, c.detach() or \
                 app.tasks() to have it checked.)"
            );
        }
        writeln!(f, "still alive {:?} after the check's wait:", self.waited)?;
        for l in &self.leaks {
            write!(f, "  {} x{} at {} (oldest {:.1?})", l.kind, l.count, l.site, l.oldest)?;
            if !l.names.is_empty() {
                write!(f, ", named {}", l.names.join(", "))?;
            }
            if !l.routes.is_empty() {
                write!(f, ", from {}", l.routes.join(", "))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
