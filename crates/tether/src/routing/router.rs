//! The route table: Gin path syntax, checked for conflicts by `matchit` and looked up in
//! a tree of path segments ([`SegmentTree`]), a method table per path, and the 404 / 405 /
//! trailing-slash-redirect decisions.
//!
//! Gin's `/user/:id` becomes matchit's `/user/{id}`; Gin's `/files/*path` becomes
//! `/files/{*path}` plus an entry for `/files/` itself, so that, as in Gin, the catch-all
//! also matches the bare directory and its value keeps the leading `/`.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use http::{HeaderValue, Method};

use crate::routing::pattern::parse_pattern;
use crate::routing::segments::SegmentTree;

/// Index of a route in [`Router::routes`].
pub(crate) type RouteId = usize;

/// What routing found: which chain of handlers a request runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Matched {
    /// Nothing to run (an immediate answer, or a reset context).
    None,
    /// A matched route.
    Route(RouteId),
    /// No route matched: global middleware, then the `no_route` handler.
    NoRoute,
    /// The path exists for other methods: global middleware, then `no_method`.
    NoMethod,
    /// The path with (or without) a trailing slash exists: global middleware, then the
    /// redirect there.
    Redirect,
}

/// One registered route: its pattern, its parameter names and its chain of `H` (the
/// engine's handlers; generic, so that routing needs nothing from the handler code).
pub(crate) struct Route<H> {
    /// The pattern as the user wrote it, prefixes joined: `/v1/user/:id`.
    pub(crate) pattern: Box<str>,
    /// Parameter names in path order.
    pub(crate) param_names: Box<[Box<str>]>,
    /// The method it answers; `None` for every method (`any`).
    pub(crate) method: Option<Method>,
    /// The whole chain, global middleware first.
    pub(crate) chain: Arc<[H]>,
}

/// The routes registered at one path pattern, by method.
struct PathEntry {
    /// The GET route, looked up first: most requests are GETs.
    get: Option<RouteId>,
    methods: Vec<(Method, RouteId)>,
    any: Option<RouteId>,
    /// This entry is the bare directory of a catch-all (`/files/` for `/files/*path`):
    /// the catch-all's value is then `/`.
    catch_all_root: bool,
    /// The `Allow` header for a 405 here, computed when the table is frozen.
    allow: HeaderValue,
}

impl PathEntry {
    #[inline]
    fn route_for(&self, method: &Method) -> Option<RouteId> {
        if *method == Method::GET {
            return self.get.or(self.any);
        }
        let found = self.methods.iter().find(|(m, _)| m == method).map(|&(_, id)| id);
        // HEAD is answered by the GET route when no HEAD route exists; hyper drops the body.
        found.or(self.any).or(if *method == Method::HEAD { self.get } else { None })
    }
}

/// What the router decided for one request.
pub(crate) enum Lookup {
    /// A route matched; its parameter value ranges were written to the caller's buffer.
    Found(RouteId),
    /// The path exists for other methods; this is the `Allow` header value.
    MethodNotAllowed(HeaderValue),
    /// The path with (or without) a trailing slash exists: redirect there.
    Redirect,
    /// Nothing matches.
    NotFound,
}

/// The route table. Built while routes are registered, then frozen and shared.
pub(crate) struct Router<H> {
    /// Every pattern, as matchit writes it: registering there finds conflicts, with
    /// matchit's well-tried rules, when the route is added.
    conflicts: matchit::Router<usize>,
    /// Path -> entry, for every request that the static table does not answer.
    tree: SegmentTree,
    /// Paths without parameters, looked up by hash before the tree: most routes of a
    /// real API are static, and a hash of a short path is cheaper than a tree walk.
    statics: HashMap<Box<str>, usize, rustc_hash::FxBuildHasher>,
    /// Bit `n` is set when a static path of length `n` (or, for bit 63, 63 or more) exists:
    /// a path of another length skips the hash.
    static_lengths: u64,
    entries: Vec<PathEntry>,
    /// matchit pattern -> entry index, and back to the Gin pattern for error messages.
    by_pattern: HashMap<String, (usize, String)>,
    pub(crate) routes: Vec<Route<H>>,
    /// `Engine::redirect_trailing_slash(false)`: no trailing-slash redirects.
    pub(crate) no_slash_redirects: bool,
    /// `Engine::handle_method_not_allowed(false)`: a path known for other methods only is
    /// a 404, as Gin's default.
    pub(crate) no_method_not_allowed: bool,
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Router {
            conflicts: matchit::Router::default(),
            tree: SegmentTree::default(),
            statics: HashMap::default(),
            static_lengths: 0,
            entries: Vec::new(),
            by_pattern: HashMap::new(),
            routes: Vec::new(),
            no_slash_redirects: false,
            no_method_not_allowed: false,
        }
    }
}

impl<H> std::fmt::Debug for Router<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let patterns: Vec<&str> = self.routes.iter().map(|r| &*r.pattern).collect();
        f.debug_struct("Router").field("routes", &patterns).finish()
    }
}

impl<H: Clone> Router<H> {
    /// Registers `method` (or every method, for `None`) at the Gin pattern `path`, with
    /// the group's part of the chain. Panics with a message naming both routes when the
    /// pattern conflicts with another.
    pub(crate) fn add(&mut self, method: Option<Method>, path: &str, chain: Arc<[H]>) -> RouteId {
        let parsed = parse_pattern(path);
        let id = self.routes.len();
        let entry = self.entry_for(&parsed.matchit, path, false);
        if parsed.catch_all {
            // The bare directory of a catch-all: "/files/" for "/files/*path".
            let root = &parsed.matchit[..parsed.matchit.rfind('{').expect("catch-all brace")];
            let root_entry = self.entry_for(root, path, true);
            self.claim(root_entry, &method, id, path);
        }
        self.claim(entry, &method, id, path);
        self.routes.push(Route {
            pattern: path.into(),
            param_names: parsed.names.into_boxed_slice(),
            method: method.clone(),
            chain,
        });
        id
    }

    fn entry_for(&mut self, matchit_pattern: &str, gin_pattern: &str, catch_all_root: bool) -> usize {
        if let Some((idx, _)) = self.by_pattern.get(matchit_pattern) {
            return *idx;
        }
        let idx = self.entries.len();
        if let Err(err) = self.conflicts.insert(matchit_pattern, idx) {
            let other = match &err {
                matchit::InsertError::Conflict { with } => {
                    self.by_pattern.get(with).map(|(_, gin)| gin.clone()).unwrap_or_else(|| with.clone())
                }
                _ => panic!("tether: invalid route pattern {gin_pattern:?}: {err}"),
            };
            panic!("tether: route {gin_pattern:?} conflicts with route {other:?} registered before it");
        }
        self.entries.push(PathEntry {
            get: None,
            methods: Vec::new(),
            any: None,
            catch_all_root,
            allow: HeaderValue::from_static(""),
        });
        self.by_pattern.insert(matchit_pattern.to_owned(), (idx, gin_pattern.to_owned()));
        // A catch-all's bare directory is its pattern up to the `*`.
        let tree_pattern = if catch_all_root {
            &gin_pattern[..gin_pattern.rfind('*').expect("a catch-all")]
        } else {
            gin_pattern
        };
        self.tree.insert(tree_pattern, idx);
        if !matchit_pattern.contains('{') && !catch_all_root {
            self.statics.insert(matchit_pattern.into(), idx);
            self.static_lengths |= length_bit(matchit_pattern.len());
        }
        idx
    }

    fn claim(&mut self, entry: usize, method: &Option<Method>, id: RouteId, path: &str) {
        let e = &mut self.entries[entry];
        let taken = match method {
            Some(m) => e.methods.iter().any(|(x, _)| x == m),
            None => e.any.is_some(),
        };
        if taken {
            let what = method.as_ref().map_or("ANY", |m| m.as_str());
            panic!("tether: route {what} {path:?} is registered twice");
        }
        match method {
            Some(m) => {
                if *m == Method::GET {
                    e.get = Some(id);
                }
                e.methods.push((m.clone(), id));
            }
            None => e.any = Some(id),
        }
    }

    /// Computes what only a complete table knows: the `Allow` headers, and each route's
    /// whole chain with the global middleware in front (global middleware applies to every
    /// route, whenever it was added). Called once, when the engine is frozen.
    pub(crate) fn freeze(&mut self, global: &[H]) {
        for r in &mut self.routes {
            r.chain = global.iter().chain(r.chain.iter()).cloned().collect();
        }
        for e in &mut self.entries {
            let mut names: Vec<&str> = e.methods.iter().map(|(m, _)| m.as_str()).collect();
            if names.contains(&"GET") && !names.contains(&"HEAD") {
                names.push("HEAD");
            }
            names.sort_unstable();
            e.allow = HeaderValue::from_str(&names.join(", ")).expect("method names are valid");
        }
    }

    /// Finds what answers `method path`, deciding per method as Gin does: the route for
    /// this method; else a trailing-slash redirect to a route for this method; else 405
    /// when the path exists for other methods; else 404. On a match, the byte ranges of
    /// the parameter values in `path` are written to `params` (cleared first), in the
    /// route's order.
    pub(crate) fn lookup(&self, method: &Method, path: &str, params: &mut Vec<Range<usize>>) -> Lookup {
        params.clear();
        let mut known = None;
        if self.static_lengths & length_bit(path.len()) != 0 {
            if let Some(&idx) = self.statics.get(path) {
                let entry = &self.entries[idx];
                match entry.route_for(method) {
                    Some(id) => return Lookup::Found(id),
                    // Another pattern may still answer this method (`/user/:id` beside
                    // `/user/new`): the tree decides, as Gin's per-method trees do.
                    None => known = Some(entry),
                }
            }
        }
        let for_method = |idx: usize| self.entries[idx].route_for(method).is_some();
        if let Some(idx) = self.tree.find(path, params, for_method) {
            let entry = &self.entries[idx];
            let id = entry.route_for(method).expect("the tree took an entry for this method");
            if entry.catch_all_root {
                params.push(path.len() - 1..path.len());
            }
            return Lookup::Found(id);
        }
        if !self.no_slash_redirects && self.has_slash_twin(method, path) {
            return Lookup::Redirect;
        }
        if self.no_method_not_allowed {
            return Lookup::NotFound;
        }
        // The path exists for other methods: 405, with the methods of the first pattern
        // it matches.
        let known = known.or_else(|| self.tree.find(path, params, |_| true).map(|idx| &self.entries[idx]));
        params.clear();
        match known {
            Some(entry) => Lookup::MethodNotAllowed(entry.allow.clone()),
            None => Lookup::NotFound,
        }
    }

    /// Whether the path with (or without) a trailing slash has a route for `method`.
    fn has_slash_twin(&self, method: &Method, path: &str) -> bool {
        if path == "/" || *method == Method::CONNECT {
            return false;
        }
        let other = match path.strip_suffix('/') {
            Some(trimmed) => std::borrow::Cow::Borrowed(trimmed),
            None => std::borrow::Cow::Owned(format!("{path}/")),
        };
        let mut scratch = Vec::new();
        self.tree.find(&other, &mut scratch, |idx| self.entries[idx].route_for(method).is_some()).is_some()
    }
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::handler::{Chain, SharedHandler};
    use crate::routing::pattern::slash_twin;

    fn chain() -> Chain {
        Vec::new().into()
    }

    fn router(routes: &[(&str, &str)]) -> Router<SharedHandler> {
        let mut r = Router::default();
        for (m, p) in routes {
            let method = (*m != "ANY").then(|| m.parse::<Method>().unwrap());
            r.add(method, p, chain());
        }
        r.freeze(&[]);
        r
    }

    fn found(r: &Router<SharedHandler>, method: &str, path: &str) -> Option<(String, Vec<String>)> {
        let mut ranges = Vec::new();
        match r.lookup(&method.parse().unwrap(), path, &mut ranges) {
            Lookup::Found(id) => Some((
                r.routes[id].pattern.to_string(),
                ranges.iter().map(|x| path[x.clone()].to_owned()).collect(),
            )),
            _ => None,
        }
    }

    #[test]
    fn lookup_static_params_catch_all_and_any() {
        let r = router(&[
            ("GET", "/"),
            ("GET", "/user/new"),
            ("GET", "/user/:id"),
            ("POST", "/user/:id"),
            ("GET", "/src/*filepath"),
            ("ANY", "/any/:x"),
        ]);
        assert_eq!(found(&r, "GET", "/"), Some(("/".into(), vec![])));
        assert_eq!(found(&r, "GET", "/user/new"), Some(("/user/new".into(), vec![])));
        assert_eq!(found(&r, "GET", "/user/7"), Some(("/user/:id".into(), vec!["7".into()])));
        assert_eq!(found(&r, "POST", "/user/7"), Some(("/user/:id".into(), vec!["7".into()])));
        assert_eq!(found(&r, "HEAD", "/user/7"), Some(("/user/:id".into(), vec!["7".into()])));
        assert_eq!(found(&r, "GET", "/src/a/b.go"), Some(("/src/*filepath".into(), vec!["/a/b.go".into()])));
        assert_eq!(found(&r, "GET", "/src/"), Some(("/src/*filepath".into(), vec!["/".into()])));
        assert_eq!(found(&r, "PATCH", "/any/1"), Some(("/any/:x".into(), vec!["1".into()])));
        let mut ranges = Vec::new();
        assert!(
            matches!(r.lookup(&Method::DELETE, "/user/7", &mut ranges), Lookup::MethodNotAllowed(a) if a == "GET, HEAD, POST")
        );
        assert!(matches!(r.lookup(&Method::GET, "/nope", &mut ranges), Lookup::NotFound));
        assert!(matches!(r.lookup(&Method::GET, "/src", &mut ranges), Lookup::Redirect));
        assert_eq!(slash_twin("/src"), "/src/");
        assert_eq!(slash_twin("/src/"), "/src");
        assert_eq!(slash_twin("//evil.com/"), "/evil.com", "stays on this host");
    }

    #[test]
    fn a_path_of_ten_thousand_segments_is_looked_up_to_the_tree_s_depth_only() {
        let r = router(&[("GET", "/:a/:b/x"), ("GET", "/:a/:b/:c/y"), ("GET", "/:a/:b/:c/*rest")]);
        let deep = "/a".repeat(10_000);
        assert_eq!(
            found(&r, "GET", &deep).map(|(p, v)| (p, v[3].len())),
            Some(("/:a/:b/:c/*rest".into(), 19_994))
        );
        let r = router(&[("GET", "/:a/:b/x"), ("GET", "/:a/:b/:c/y")]);
        assert!(matches!(r.lookup(&Method::GET, &deep, &mut Vec::new()), Lookup::NotFound));
    }

    #[test]
    fn a_method_reaches_its_own_pattern_past_one_that_answers_others() {
        let r = router(&[
            ("GET", "/user/new"),
            ("POST", "/user/:id"),
            ("GET", "/files/:name/raw"),
            ("PUT", "/files/:name/*rest"),
        ]);
        // Gin's trees are per method: POST has only /user/:id, so /user/new is a value.
        assert_eq!(found(&r, "POST", "/user/new"), Some(("/user/:id".into(), vec!["new".into()])));
        assert_eq!(found(&r, "GET", "/user/new"), Some(("/user/new".into(), vec![])));
        assert_eq!(
            found(&r, "PUT", "/files/a/raw"),
            Some(("/files/:name/*rest".into(), vec!["a".into(), "/raw".into()]))
        );
        assert_eq!(found(&r, "GET", "/files/a/raw"), Some(("/files/:name/raw".into(), vec!["a".into()])));
        let mut ranges = Vec::new();
        // No pattern answers DELETE: 405 with the methods of the first pattern the path
        // matches, and no parameter left behind.
        assert!(
            matches!(r.lookup(&Method::DELETE, "/user/new", &mut ranges), Lookup::MethodNotAllowed(a) if a == "GET, HEAD")
        );
        assert!(ranges.is_empty());
        assert!(
            matches!(r.lookup(&Method::DELETE, "/user/7", &mut ranges), Lookup::MethodNotAllowed(a) if a == "POST")
        );
        assert!(ranges.is_empty());
    }

    #[test]
    fn decisions_are_per_method_as_gin_s_trees() {
        // static_dir("/") beside POST /upload: Gin's example layout.
        let mut r = router(&[("GET", "/*filepath"), ("POST", "/upload"), ("GET", "/page/")]);
        // POST /upload/ matches the GET catch-all's pattern, but POST has /upload: 307 there.
        assert!(matches!(r.lookup(&Method::POST, "/upload/", &mut Vec::new()), Lookup::Redirect));
        // GET /upload falls to the GET catch-all, as in Gin, rather than 405.
        assert_eq!(found(&r, "GET", "/upload"), Some(("/*filepath".into(), vec!["/upload".into()])));
        assert_eq!(found(&r, "HEAD", "/upload"), Some(("/*filepath".into(), vec!["/upload".into()])));
        assert!(matches!(r.lookup(&Method::DELETE, "/upload", &mut Vec::new()), Lookup::MethodNotAllowed(_)));
        // Switched off: no redirect, and 404 rather than 405.
        r.no_slash_redirects = true;
        r.no_method_not_allowed = true;
        assert!(matches!(r.lookup(&Method::POST, "/upload/", &mut Vec::new()), Lookup::NotFound));
        assert!(matches!(r.lookup(&Method::DELETE, "/upload", &mut Vec::new()), Lookup::NotFound));
        assert!(
            matches!(r.lookup(&Method::GET, "/page", &mut Vec::new()), Lookup::Found(_)),
            "the catch-all"
        );
    }
}

#[cfg(test)]
mod github_routes {
    use super::*;

    /// The 203-route GitHub API set that Gin's router benchmarks use.
    const ROUTES: &str = include_str!("../../benches/data/github_api_routes.txt");

    /// A concrete path for a Gin pattern: every parameter filled with a distinct value.
    fn concrete(pattern: &str) -> String {
        pattern
            .split('/')
            .enumerate()
            .map(|(i, seg)| match seg.as_bytes().first() {
                Some(b':') => format!("v{i}x"),
                Some(b'*') => format!("c{i}/d/e"),
                _ => seg.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn parameters_agree_with_matchit_on_every_github_route() {
        let mut r = Router::<()>::default();
        let mut reference = matchit::Router::new();
        for line in ROUTES.lines().filter(|l| !l.trim().is_empty()) {
            let (method, path) = line.split_once(' ').unwrap();
            let id = r.add(Some(method.parse().unwrap()), path, Vec::new().into());
            let _ = reference.insert(parse_pattern(path).matchit, id);
        }
        r.freeze(&[]);
        let mut ranges = Vec::new();
        for line in ROUTES.lines().filter(|l| !l.trim().is_empty()) {
            let (method, pattern) = line.split_once(' ').unwrap();
            let path = concrete(pattern);
            let Lookup::Found(id) = r.lookup(&method.parse().unwrap(), &path, &mut ranges) else {
                panic!("{method} {path} did not match");
            };
            assert_eq!(&*r.routes[id].pattern, pattern, "{path}");
            let ours: Vec<&str> = ranges.iter().map(|x| &path[x.clone()]).collect();
            let m = reference.at(&path).unwrap();
            let theirs: Vec<&str> = m.params.iter().map(|(_, v)| v).collect();
            assert_eq!(ours, theirs, "{pattern}");
        }
    }

    #[test]
    fn catch_all_ranges_keep_the_slash() {
        let ranges = |pattern: &str, path: &str| {
            let mut r = Router::<()>::default();
            r.add(Some(Method::GET), pattern, Vec::new().into());
            r.freeze(&[]);
            let mut out = Vec::new();
            assert!(matches!(r.lookup(&Method::GET, path, &mut out), Lookup::Found(0)), "{path}");
            out.iter().map(|r| path[r.clone()].to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(ranges("/src/*path", "/src/a/b/c"), ["/a/b/c"]);
        assert_eq!(ranges("/u/:id/f/*rest", "/u/7/f/x/y"), ["7", "/x/y"]);
        assert_eq!(ranges("/:a/b/:c", "/a/b/c"), ["a", "c"]);
        assert_eq!(ranges("/v1/:id/", "/v1/abc/"), ["abc"]);
        assert_eq!(ranges("/{x}/:id", "/{x}/7"), ["7"], "braces are text, not matchit's escapes");
    }
}
