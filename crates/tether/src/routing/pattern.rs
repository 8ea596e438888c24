//! Route paths as Gin writes them: a pattern (`/user/:id`, `/files/*path`) checked and
//! translated for matchit, a group prefix joined to a relative path, and the twin path a
//! trailing-slash redirect points to.

/// A Gin pattern translated for matchit.
pub(crate) struct ParsedPattern {
    pub(crate) matchit: String,
    pub(crate) names: Vec<Box<str>>,
    pub(crate) catch_all: bool,
}

pub(crate) fn parse_pattern(path: &str) -> ParsedPattern {
    assert!(path.starts_with('/'), "tether: route path {path:?} must begin with '/'");
    let mut out = String::with_capacity(path.len() + 8);
    let mut names: Vec<Box<str>> = Vec::new();
    let mut catch_all = false;
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        out.push('/');
        let (kind, name) = match seg.as_bytes().first() {
            Some(b':') => (':', &seg[1..]),
            Some(b'*') => ('*', &seg[1..]),
            _ => {
                // A literal segment; matchit reserves braces, so escape them.
                out.push_str(&seg.replace('{', "{{").replace('}', "}}"));
                continue;
            }
        };
        assert!(!name.is_empty(), "tether: a wildcard in route {path:?} has no name");
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'),
            "tether: wildcard name {name:?} in route {path:?} may use letters, digits, '_', '-' and '.'"
        );
        assert!(
            !names.iter().any(|n| &**n == name),
            "tether: route {path:?} names the parameter {name:?} twice"
        );
        if kind == '*' {
            assert!(
                i == segments.len() - 1,
                "tether: catch-all '*{name}' must be the last segment of route {path:?}"
            );
            catch_all = true;
            out.push_str("{*");
        } else {
            out.push('{');
        }
        out.push_str(name);
        out.push('}');
        names.push(name.into());
    }
    ParsedPattern { matchit: out, names, catch_all }
}

/// Joins a group prefix and a relative path the way Gin does: one slash between them, and
/// a trailing slash on the relative path kept.
pub(crate) fn join_paths(prefix: &str, relative: &str) -> String {
    if relative.is_empty() {
        return prefix.to_owned();
    }
    let mut joined = prefix.trim_end_matches('/').to_owned();
    if !relative.starts_with('/') {
        joined.push('/');
    }
    joined.push_str(relative);
    if joined.is_empty() {
        joined.push('/');
    }
    joined
}

/// Where the trailing-slash redirect for `path` points: the path with its trailing slash
/// removed, or with one added, kept on this host.
pub(crate) fn slash_twin(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(trimmed) => same_host(trimmed),
        None => same_host(&format!("{path}/")),
    }
}

/// A redirect target that stays on this host: a `Location` starting with `//` would send
/// the client to another host ("//evil.com/"), and browsers read `\` as `/` (so `/\evil.com`
/// is `//evil.com` too): leading slashes and backslashes collapse to one `/`.
fn same_host(path: &str) -> String {
    format!("/{}", path.trim_start_matches(['/', '\\']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gin_patterns_translate_to_matchit() {
        let p = parse_pattern("/user/:id/files/*path");
        assert_eq!(p.matchit, "/user/{id}/files/{*path}");
        assert_eq!(p.names, vec![Box::from("id"), Box::from("path")]);
        assert!(p.catch_all);
        assert_eq!(parse_pattern("/a{b}/c").matchit, "/a{{b}}/c", "literal braces are escaped");
        assert_eq!(
            parse_pattern("/v1/things:batch").matchit,
            "/v1/things:batch",
            "':' inside a segment is literal"
        );
    }

    #[test]
    #[should_panic(expected = "has no name")]
    fn a_wildcard_needs_a_name() {
        parse_pattern("/user/:");
    }

    #[test]
    #[should_panic(expected = "names the parameter \"id\" twice")]
    fn parameter_names_are_unique() {
        parse_pattern("/a/:id/b/:id");
    }

    #[test]
    #[should_panic(expected = "must begin with '/'")]
    fn paths_begin_with_a_slash() {
        parse_pattern("user");
    }

    #[test]
    fn redirects_never_leave_the_host() {
        assert_eq!(same_host("//evil.com/"), "/evil.com/");
        assert_eq!(same_host("///a//b"), "/a//b");
        assert_eq!(same_host("/users"), "/users");
        assert_eq!(same_host("/\\evil.com"), "/evil.com");
        assert_eq!(same_host("\\/\\/evil.com/"), "/evil.com/");
        assert_eq!(same_host("/a\\b"), "/a\\b", "a backslash after the first segment is harmless");
    }

    #[test]
    fn join_paths_like_gin() {
        assert_eq!(join_paths("/", "/v1"), "/v1");
        assert_eq!(join_paths("/v1", "/users"), "/v1/users");
        assert_eq!(join_paths("/v1/", "/users"), "/v1/users");
        assert_eq!(join_paths("/v1", "users"), "/v1/users");
        assert_eq!(join_paths("/v1", ""), "/v1");
        assert_eq!(join_paths("/v1", "/"), "/v1/");
        assert_eq!(join_paths("/", "/"), "/");
    }
}
