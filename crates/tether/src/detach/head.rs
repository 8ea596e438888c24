//! An owned, compact snapshot of a request head, in one allocation.
//!
//! hyper hands out header values and the URI as slices of the connection's read buffer
//! (hyper #4060); a copy that kept those slices would keep the whole buffer alive for as
//! long as its task runs. The snapshot copies what a task may read — path, parameter
//! values, decoded query pairs, headers — into one string of exactly the right size,
//! each value length-prefixed (`5:hello`), so that it needs no index beside it.

use std::fmt;

/// The snapshot: sections of length-prefixed values in one `Box<str>`.
#[derive(Clone)]
pub(crate) struct Head {
    text: Box<str>,
    /// `text[..path_end]` is the path; then parameter values up to `params_end`, decoded
    /// query pairs (key, value) up to `query_end`, headers (name, value) to the end.
    path_end: u32,
    params_end: u32,
    query_end: u32,
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head").field("path", &self.path()).field("bytes", &self.text.len()).finish()
    }
}

/// What goes into a snapshot: the path, and functions that list the rest (each is
/// walked twice: once to size the allocation, once to fill it).
pub(crate) struct Parts<'a, P, Q, H> {
    pub(crate) path: &'a str,
    pub(crate) params: P,
    pub(crate) query: Q,
    pub(crate) headers: H,
}

impl Head {
    /// Builds the snapshot with a single allocation of the exact size.
    pub(crate) fn new<'a, P, Q, H, PI, QI, HI>(parts: Parts<'a, P, Q, H>) -> Head
    where
        P: Fn() -> PI,
        Q: Fn() -> QI,
        H: Fn() -> HI,
        PI: Iterator<Item = &'a str>,
        QI: Iterator<Item = (&'a str, &'a str)>,
        HI: Iterator<Item = (&'a str, &'a str)>,
    {
        let params_len: usize = (parts.params)().map(net_len).sum();
        let query_len: usize = (parts.query)().map(|(k, v)| net_len(k) + net_len(v)).sum();
        let headers_len: usize = (parts.headers)().map(|(k, v)| net_len(k) + net_len(v)).sum();
        let total = parts.path.len() + params_len + query_len + headers_len;
        let mut text = String::with_capacity(total);
        text.push_str(parts.path);
        let path_end = text.len() as u32;
        (parts.params)().for_each(|v| push_net(&mut text, v));
        let params_end = text.len() as u32;
        (parts.query)().for_each(|(k, v)| {
            push_net(&mut text, k);
            push_net(&mut text, v);
        });
        let query_end = text.len() as u32;
        (parts.headers)().for_each(|(k, v)| {
            push_net(&mut text, k);
            push_net(&mut text, v);
        });
        debug_assert_eq!(text.len(), total);
        // Length equals capacity, so this does not reallocate.
        Head { text: text.into_boxed_str(), path_end, params_end, query_end }
    }

    /// The request path.
    pub(crate) fn path(&self) -> &str {
        &self.text[..self.path_end as usize]
    }

    /// Parameter values, in route order.
    pub(crate) fn params(&self) -> Values<'_> {
        Values { rest: &self.text[self.path_end as usize..self.params_end as usize] }
    }

    /// Decoded query pairs.
    pub(crate) fn query(&self) -> Pairs<'_> {
        Pairs(Values { rest: &self.text[self.params_end as usize..self.query_end as usize] })
    }

    /// Header pairs, names in lower case.
    pub(crate) fn headers(&self) -> Pairs<'_> {
        Pairs(Values { rest: &self.text[self.query_end as usize..] })
    }

    /// The bytes the snapshot holds.
    pub(crate) fn size(&self) -> usize {
        self.text.len()
    }
}

fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

fn net_len(v: &str) -> usize {
    digits(v.len()) + 1 + v.len()
}

fn push_net(text: &mut String, v: &str) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        text.push(b as char);
    }
    text.push(':');
    text.push_str(v);
}

/// Length-prefixed values, in order.
#[derive(Clone, Debug)]
pub(crate) struct Values<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let colon = self.rest.find(':')?;
        let len: usize = self.rest[..colon].parse().ok()?;
        let value = self.rest.get(colon + 1..colon + 1 + len)?;
        self.rest = &self.rest[colon + 1 + len..];
        Some(value)
    }
}

/// Length-prefixed values, two by two.
#[derive(Clone, Debug)]
pub(crate) struct Pairs<'a>(Values<'a>);

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        Some((self.0.next()?, self.0.next()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_section() {
        let long = "x".repeat(1234);
        let head = Head::new(Parts {
            path: "/user/42",
            params: || ["42", "", "a:b"].into_iter(),
            query: || [("q", "x y"), ("t", "1:2")].into_iter(),
            headers: || [("host", "example.com"), ("x-long", long.as_str())].into_iter(),
        });
        assert_eq!(head.path(), "/user/42");
        assert_eq!(head.params().collect::<Vec<_>>(), ["42", "", "a:b"]);
        assert_eq!(head.query().collect::<Vec<_>>(), [("q", "x y"), ("t", "1:2")]);
        assert_eq!(head.headers().collect::<Vec<_>>(), [("host", "example.com"), ("x-long", long.as_str())]);
        assert_eq!(head.size(), head.text.len());
    }

    #[test]
    fn an_empty_head_is_just_the_path() {
        let head = Head::new(Parts {
            path: "/",
            params: std::iter::empty,
            query: std::iter::empty,
            headers: std::iter::empty,
        });
        assert_eq!(head.size(), 1);
        assert_eq!(head.params().count() + head.query().count() + head.headers().count(), 0);
    }
}
