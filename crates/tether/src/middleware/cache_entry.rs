//! One cached response, and its bytes in a shared store (feature `redis`).

use bytes::Bytes;
use http::HeaderMap;
#[cfg(feature = "redis")]
use http::{HeaderName, HeaderValue};

/// A response the cache may answer with.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    /// The headers the handlers set (not those set before the cache ran).
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// The response said `public` or `s-maxage`: it may answer requests with credentials.
    pub(super) shared: bool,
}

/// Marks the layout below, so that a change of it reads as a miss, not as garbage.
#[cfg(feature = "redis")]
const MAGIC: &[u8; 4] = b"tce1";

#[cfg(feature = "redis")]
impl Entry {
    /// `MAGIC`, a flags byte (1: shared), the header count (u32), each header as name
    /// and value with u32 lengths, then the body to the end. Lengths are big-endian.
    pub(super) fn encode(&self) -> Vec<u8> {
        let headers: usize = self.headers.iter().map(|(n, v)| 8 + n.as_str().len() + v.len()).sum();
        let mut out = Vec::with_capacity(MAGIC.len() + 5 + headers + self.body.len());
        out.extend_from_slice(MAGIC);
        out.push(u8::from(self.shared));
        out.extend_from_slice(&(self.headers.len() as u32).to_be_bytes());
        for (name, value) in &self.headers {
            for part in [name.as_str().as_bytes(), value.as_bytes()] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part);
            }
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// The entry `encode` wrote, or `None` for anything else (another layout, a cut
    /// value, a header that does not parse): the caller treats that as a miss.
    pub(super) fn decode(bytes: Bytes) -> Option<Entry> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)?.as_ref() != MAGIC {
            return None;
        }
        let shared = match r.take(1)?[0] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let count = r.length()?;
        let mut headers = HeaderMap::with_capacity(count.min(64));
        for _ in 0..count {
            let n = r.length()?;
            let name = HeaderName::from_bytes(&r.take(n)?).ok()?;
            let n = r.length()?;
            let value = HeaderValue::from_maybe_shared(r.take(n)?).ok()?;
            headers.append(name, value);
        }
        let body = r.bytes.slice(r.at..);
        Some(Entry { headers, body, shared })
    }
}

/// Reads an encoded entry front to back; every read is checked against the end.
#[cfg(feature = "redis")]
struct Reader {
    bytes: Bytes,
    at: usize,
}

#[cfg(feature = "redis")]
impl Reader {
    fn take(&mut self, n: usize) -> Option<Bytes> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len())?;
        let part = self.bytes.slice(self.at..end);
        self.at = end;
        Some(part)
    }

    fn length(&mut self) -> Option<usize> {
        Some(u32::from_be_bytes(self.take(4)?.as_ref().try_into().ok()?) as usize)
    }
}

#[cfg(all(test, feature = "redis"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry() -> Entry {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("link", HeaderValue::from_static("</a>; rel=preload"));
        headers.append("link", HeaderValue::from_static("</b>; rel=preload"));
        Entry { headers, body: Bytes::from_static(b"hello\0world"), shared: true }
    }

    #[test]
    fn an_entry_comes_back_whole_repeated_headers_in_order() {
        let e = entry();
        let back = Entry::decode(Bytes::from(e.encode())).expect("decodes");
        assert_eq!(back, e);
        let links: Vec<_> = back.headers.get_all("link").iter().collect();
        assert_eq!(links, ["</a>; rel=preload", "</b>; rel=preload"]);
    }

    #[test]
    fn an_empty_body_and_no_headers_round_trip() {
        let e = Entry { headers: HeaderMap::new(), body: Bytes::new(), shared: false };
        assert_eq!(Entry::decode(Bytes::from(e.encode())), Some(e));
    }

    #[test]
    fn foreign_or_damaged_values_are_misses() {
        assert_eq!(Entry::decode(Bytes::from_static(b"")), None);
        assert_eq!(Entry::decode(Bytes::from_static(b"{\"json\": true}")), None);
        let mut bad_flag = entry().encode();
        bad_flag[4] = 7;
        assert_eq!(Entry::decode(Bytes::from(bad_flag)), None);
        // A header count far past what the value holds.
        let mut huge = entry().encode();
        huge[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Entry::decode(Bytes::from(huge)), None);
        // A header name that is not one.
        let mut bad_name = entry().encode();
        bad_name[13] = b' ';
        assert_eq!(Entry::decode(Bytes::from(bad_name)), None);
    }

    proptest! {
        #[test]
        fn every_cut_of_an_entry_is_refused_or_a_prefix_of_its_body(cut in 0usize..80) {
            let bytes = entry().encode();
            let cut = cut.min(bytes.len());
            if let Some(e) = Entry::decode(Bytes::copy_from_slice(&bytes[..cut])) {
                // Only cuts inside the body still parse, and then as a shorter body.
                prop_assert!(entry().body.starts_with(&e.body));
                prop_assert_eq!(e.headers, entry().headers);
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Entry::decode(Bytes::from(bytes));
        }
    }
}
