//! The lookup side of the route table: a tree of whole path segments.
//!
//! Gin's parameters are whole segments (`/user/:id`, `/files/*path`), so a path can be
//! matched one segment at a time: at each node a literal child is tried first, then the
//! parameter child, then the catch-all, going back up when a branch dead-ends (the same
//! priority and backtracking as matchit, which still checks every pattern for conflicts
//! when it is registered). The values' byte ranges are recorded on the way down, so a
//! match needs no second pass over the path, and nothing is allocated.
//!
//! A match is an entry the caller accepts: the router accepts only entries with a route
//! for the request's method, so that a branch whose entry answers other methods is left
//! for the next one, as in Gin, whose trees are per method (`POST /user/new` reaches
//! `POST /user/:id` beside `GET /user/new`).

use std::ops::Range;

/// Index of a node in [`SegmentTree::nodes`].
type NodeId = u32;

/// What the tree maps a path to: an entry of the route table.
pub(crate) type EntryId = usize;

#[derive(Default)]
struct Node {
    /// For each literal child, the first byte of its text (`/` for an empty one): a scan
    /// of these finds the few children (usually one) whose text is then compared.
    firsts: Vec<u8>,
    /// Literal children, by segment text, in the order of `firsts`.
    literals: Vec<(Box<[u8]>, NodeId)>,
    /// The child for a `:name` segment.
    param: Option<NodeId>,
    /// The entry of a `*name` catch-all here: it takes the rest of the path, if any.
    catch_all: Option<EntryId>,
    /// The entry of a path that ends at this node.
    entry: Option<EntryId>,
}

/// Path segments to route-table entries.
pub(crate) struct SegmentTree {
    nodes: Vec<Node>,
}

impl Default for SegmentTree {
    fn default() -> Self {
        SegmentTree { nodes: vec![Node::default()] }
    }
}

impl SegmentTree {
    /// Maps the Gin pattern `pattern` (checked by the caller) to `entry`. The bare
    /// directory of a catch-all (`/files/` for `/files/*path`) is a pattern of its own.
    pub(crate) fn insert(&mut self, pattern: &str, entry: EntryId) {
        let mut node: NodeId = 0;
        for seg in pattern[1..].split('/') {
            match seg.as_bytes().first() {
                Some(b'*') => {
                    self.nodes[node as usize].catch_all = Some(entry);
                    return;
                }
                Some(b':') => {
                    node = match self.nodes[node as usize].param {
                        Some(child) => child,
                        None => {
                            let child = self.push();
                            self.nodes[node as usize].param = Some(child);
                            child
                        }
                    };
                }
                _ => {
                    let known =
                        self.nodes[node as usize].literals.iter().find(|(t, _)| **t == *seg.as_bytes());
                    node = match known {
                        Some(&(_, child)) => child,
                        None => {
                            let child = self.push();
                            let parent = &mut self.nodes[node as usize];
                            parent.firsts.push(first_byte(seg.as_bytes()));
                            parent.literals.push((seg.as_bytes().into(), child));
                            child
                        }
                    };
                }
            }
        }
        self.nodes[node as usize].entry = Some(entry);
    }

    /// The literal child of `node` for the segment at the start of `rest`, and the
    /// segment's length: the text is compared in place, so a literal segment is never
    /// scanned for its end.
    #[inline]
    fn literal(&self, node: NodeId, rest: &[u8]) -> Option<(NodeId, usize)> {
        let n = &self.nodes[node as usize];
        let first = first_byte(rest);
        // A plain scan: it measured cheaper than a binary search on the GitHub routes
        // (bench/routes_irq.sh), whose widest node has a few dozen children.
        for (i, &f) in n.firsts.iter().enumerate() {
            if f == first {
                let (text, child) = &n.literals[i];
                let len = text.len();
                if rest.get(..len) == Some(&**text) && rest.get(len).is_none_or(|&b| b == b'/') {
                    return Some((*child, len));
                }
            }
        }
        None
    }

    fn push(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        NodeId::try_from(self.nodes.len() - 1).expect("fewer than 4 billion route segments")
    }

    /// The first entry that `path` matches and `accept` takes, with the byte ranges of
    /// its parameter values pushed to `params` in path order (a catch-all's keeps its
    /// leading `/`). On no match, `params` is left as it was.
    pub(crate) fn find<A>(&self, path: &str, params: &mut Vec<Range<usize>>, accept: A) -> Option<EntryId>
    where
        A: Fn(EntryId) -> bool + Copy,
    {
        let bytes = path.as_bytes();
        if bytes.first() != Some(&b'/') {
            return None;
        }
        let before = params.len();
        match self.descend(bytes, params, accept) {
            Descent::Found(entry) => Some(entry),
            Descent::DeadEnd { passed_alternatives } => {
                params.truncate(before);
                if passed_alternatives {
                    self.walk(0, bytes, 1, params, accept)
                } else {
                    None
                }
            }
        }
    }

    /// The first try: straight down, a literal child before the parameter child, in a
    /// loop. Most paths match this way; one that dead-ends after passing up a parameter
    /// or catch-all for a literal is walked again, with going back ([`Self::walk`]).
    fn descend<A>(&self, path: &[u8], params: &mut Vec<Range<usize>>, accept: A) -> Descent
    where
        A: Fn(EntryId) -> bool,
    {
        let mut node: NodeId = 0;
        let mut at = 1;
        let mut passed_alternatives = false;
        loop {
            let rest = &path[at..];
            let n = &self.nodes[node as usize];
            let (next, end) = match self.literal(node, rest) {
                Some((child, len)) => {
                    passed_alternatives |= n.param.is_some() || n.catch_all.is_some();
                    (child, at + len)
                }
                None => match (n.param, n.catch_all) {
                    (Some(child), _) if rest.first().is_some_and(|&b| b != b'/') => {
                        passed_alternatives |= n.catch_all.is_some();
                        let end = at + segment_len(rest);
                        params.push(at..end);
                        (child, end)
                    }
                    (_, Some(entry)) if at < path.len() && accept(entry) => {
                        params.push(at - 1..path.len());
                        return Descent::Found(entry);
                    }
                    _ => return Descent::DeadEnd { passed_alternatives },
                },
            };
            if end == path.len() {
                return match self.nodes[next as usize].entry {
                    Some(entry) if accept(entry) => Descent::Found(entry),
                    _ => Descent::DeadEnd { passed_alternatives },
                };
            }
            node = next;
            at = end + 1;
        }
    }

    /// Matches the segment of `path` that starts at `at` (just after a `/`) at `node`,
    /// and the rest below it. It goes only as deep as the tree, whatever the path: a
    /// hostile path of ten thousand segments ends at the deepest pattern's depth.
    fn walk<A>(
        &self,
        node: NodeId,
        path: &[u8],
        at: usize,
        params: &mut Vec<Range<usize>>,
        accept: A,
    ) -> Option<EntryId>
    where
        A: Fn(EntryId) -> bool + Copy,
    {
        let n = &self.nodes[node as usize];
        let rest = &path[at..];
        if let Some((child, len)) = self.literal(node, rest) {
            if let Some(found) = self.below(child, path, at + len, params, accept) {
                return Some(found);
            }
        }
        // A parameter is never empty.
        if let (Some(child), Some(&b)) = (n.param, rest.first()) {
            if b != b'/' {
                let end = at + segment_len(rest);
                params.push(at..end);
                if let Some(found) = self.below(child, path, end, params, accept) {
                    return Some(found);
                }
                params.pop();
            }
        }
        match n.catch_all {
            Some(entry) if at < path.len() && accept(entry) => {
                params.push(at - 1..path.len());
                Some(entry)
            }
            _ => None,
        }
    }

    /// After a segment ending at `end` took us to `child`: its entry at the end of the
    /// path, else the next segment.
    #[inline]
    fn below<A>(
        &self,
        child: NodeId,
        path: &[u8],
        end: usize,
        params: &mut Vec<Range<usize>>,
        accept: A,
    ) -> Option<EntryId>
    where
        A: Fn(EntryId) -> bool + Copy,
    {
        if end == path.len() {
            self.nodes[child as usize].entry.filter(|&entry| accept(entry))
        } else {
            self.walk(child, path, end + 1, params, accept)
        }
    }
}

/// How the first, straight try went.
enum Descent {
    Found(EntryId),
    /// No match straight down; `passed_alternatives` when a parameter or catch-all was
    /// passed up on the way, which a walk with going back must then try.
    DeadEnd {
        passed_alternatives: bool,
    },
}

/// The first byte of the segment at the start of `rest`; `/` for an empty segment (one
/// at the end of the path, or before another `/`), which no other segment starts with.
#[inline]
fn first_byte(rest: &[u8]) -> u8 {
    rest.first().copied().unwrap_or(b'/')
}

/// The length of the segment at the start of `rest`: up to its `/` or the end.
#[inline]
fn segment_len(rest: &[u8]) -> usize {
    rest.iter().position(|&b| b == b'/').unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::pattern::parse_pattern;
    use proptest::prelude::*;

    fn found(tree: &SegmentTree, path: &str) -> Option<(EntryId, Vec<String>)> {
        found_taking(tree, path, |_| true)
    }

    fn found_taking(
        tree: &SegmentTree,
        path: &str,
        accept: impl Fn(EntryId) -> bool + Copy,
    ) -> Option<(EntryId, Vec<String>)> {
        let mut params = Vec::new();
        let entry = tree.find(path, &mut params, accept)?;
        Some((entry, params.into_iter().map(|r| path[r].to_owned()).collect()))
    }

    #[test]
    fn literals_before_parameters_before_catch_alls_with_backtracking() {
        let mut t = SegmentTree::default();
        t.insert("/user/new", 0);
        t.insert("/user/:id", 1);
        t.insert("/user/new/x", 2);
        t.insert("/user/:id/posts", 3);
        t.insert("/src/*path", 4);
        t.insert("/src/", 5);
        t.insert("/", 6);
        assert_eq!(found(&t, "/user/new"), Some((0, vec![])));
        assert_eq!(found(&t, "/user/7"), Some((1, vec!["7".into()])));
        assert_eq!(found(&t, "/user/new/posts"), Some((3, vec!["new".into()])), "back from the literal");
        assert_eq!(found(&t, "/src/a/b"), Some((4, vec!["/a/b".into()])));
        assert_eq!(found(&t, "/src/"), Some((5, vec![])));
        assert_eq!(found(&t, "/"), Some((6, vec![])));
        assert_eq!(found(&t, "/user/"), None, "a parameter is never empty");
        assert_eq!(found(&t, "/src"), None);
        assert_eq!(found(&t, "user"), None);
        assert_eq!(found(&t, ""), None);
    }

    /// Segments the random patterns and paths are made of: literals that collide, empty
    /// segments (double and trailing slashes), parameters and catch-alls.
    const PATTERN_SEGMENTS: &[&str] = &["a", "b", "ab", "", ":p", ":q", "*c"];
    const PATH_SEGMENTS: &[&str] = &["a", "b", "ab", "", "x", "a.b", "%2F"];

    fn join(segments: &[&str]) -> String {
        format!("/{}", segments.join("/"))
    }

    proptest! {
        /// The tree finds what matchit finds, on any set of patterns matchit accepts:
        /// same entry, same parameter values. And when the caller accepts only some
        /// entries (the router: those with a route for the method), it finds what matchit
        /// finds among those patterns alone.
        #[test]
        fn agrees_with_matchit(
            patterns in prop::collection::vec(prop::collection::vec(prop::sample::select(PATTERN_SEGMENTS), 1..4), 1..8),
            paths in prop::collection::vec(prop::collection::vec(prop::sample::select(PATH_SEGMENTS), 1..5), 1..20),
            mask in any::<u16>(),
        ) {
            let taken = move |entry: EntryId| mask >> (entry % 16) & 1 == 1;
            let mut tree = SegmentTree::default();
            let mut reference = matchit::Router::new();
            let mut only_taken = matchit::Router::new();
            for (entry, segs) in patterns.iter().enumerate() {
                // Gin's rules: a catch-all last, a parameter name once.
                if segs.iter().rev().skip(1).any(|s| s.starts_with('*')) {
                    continue;
                }
                let names: Vec<_> = segs.iter().filter(|s| s.starts_with([':', '*'])).collect();
                if names.iter().enumerate().any(|(i, n)| names[..i].contains(n)) {
                    continue;
                }
                let pattern = join(segs);
                let parsed = parse_pattern(&pattern);
                if reference.insert(parsed.matchit.clone(), entry).is_err() {
                    continue;
                }
                tree.insert(&pattern, entry);
                if taken(entry) {
                    only_taken.insert(parsed.matchit.clone(), entry).unwrap();
                }
                if parsed.catch_all {
                    let root = &parsed.matchit[..parsed.matchit.rfind('{').unwrap()];
                    if reference.insert(root, entry + 100).is_ok() {
                        tree.insert(&pattern[..pattern.rfind('*').unwrap()], entry + 100);
                        if taken(entry + 100) {
                            only_taken.insert(root, entry + 100).unwrap();
                        }
                    }
                }
            }
            // A catch-all's value keeps its leading `/` here, as Gin's does; matchit's
            // does not.
            let as_matchit = |found: Option<(EntryId, Vec<String>)>| {
                found.map(|(entry, mut values)| {
                    if patterns.get(entry).is_some_and(|segs| segs.last().is_some_and(|s| s.starts_with('*'))) {
                        let last = values.last_mut().expect("a catch-all has a value");
                        *last = last.strip_prefix('/').expect("it keeps its slash").to_owned();
                    }
                    (entry, values)
                })
            };
            let at = |router: &matchit::Router<EntryId>, path: &str| {
                router.at(path).ok().map(|m| {
                    let values = m.params.iter().map(|(_, v)| v.to_owned());
                    (*m.value, values.collect::<Vec<_>>())
                })
            };
            for segs in &paths {
                let path = join(segs);
                prop_assert_eq!(as_matchit(found(&tree, &path)), at(&reference, &path), "path {}", path);
                prop_assert_eq!(
                    as_matchit(found_taking(&tree, &path, taken)),
                    at(&only_taken, &path),
                    "path {} taking {:016b}", path, mask
                );
            }
        }
    }
}
