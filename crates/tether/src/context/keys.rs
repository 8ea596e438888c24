//! The request's typed key-value store (`c.set` / `c.get::<T>`), shared copy-on-write.
//!
//! The map sits behind one `Arc`, so a copy of the context shares it in O(1) whatever the
//! number of keys; the first `set` after a copy clones the list of entries (each value is
//! itself behind an `Arc`, so that clone copies pointers, never values).

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

type Value = Arc<dyn Any + Send + Sync>;
type Entries = Vec<(Cow<'static, str>, Value)>;

/// The most entries' room a pooled context keeps between requests.
const KEPT_CAPACITY: usize = 32;

/// The keys of one request.
#[derive(Clone, Default)]
pub(crate) struct Keys {
    entries: Option<Arc<Entries>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Keys {
    /// Stores `value` under `key`, replacing what was there.
    pub(crate) fn set<T: Send + Sync + 'static>(&mut self, key: Cow<'static, str>, value: T) {
        let entries = Arc::make_mut(self.entries.get_or_insert_with(Default::default));
        let value: Value = Arc::new(value);
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => entries.push((key, value)),
        }
    }

    /// The value under `key`, if there is one of type `T`.
    pub(crate) fn get<T: 'static>(&self, key: &str) -> Option<&T> {
        self.raw(key)?.downcast_ref()
    }

    /// The value under `key`, whatever its type.
    pub(crate) fn raw(&self, key: &str) -> Option<&(dyn Any + Send + Sync)> {
        let entries = self.entries.as_ref()?;
        entries.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// Removes `key`; true if it was there.
    pub(crate) fn delete(&mut self, key: &str) -> bool {
        let Some(arc) = self.entries.as_mut() else { return false };
        let Some(pos) = arc.iter().position(|(k, _)| k == key) else { return false };
        Arc::make_mut(arc).remove(pos);
        true
    }

    /// Moves the value under `key` out, when it is of type `T` and no copy of the
    /// context shares it; otherwise leaves it in place.
    pub(crate) fn take<T: Send + Sync + 'static>(&mut self, key: &str) -> Option<T> {
        let arc = self.entries.as_mut()?;
        let entries = Arc::get_mut(arc)?;
        let pos = entries.iter().position(|(k, v)| k == key && v.is::<T>() && Arc::strong_count(v) == 1)?;
        let (_, value) = entries.remove(pos);
        let value = value.downcast::<T>().ok()?;
        Arc::try_unwrap(value).ok()
    }

    /// The keys' names, in the order they were first set.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().flat_map(|e| e.iter().map(|(k, _)| &**k))
    }

    /// A copy holding only the named keys (for `copy_only`).
    pub(crate) fn only(&self, names: &[&str]) -> Keys {
        let Some(entries) = &self.entries else { return Keys::default() };
        let kept: Vec<_> = entries.iter().filter(|(k, _)| names.contains(&&**k)).cloned().collect();
        Keys { entries: (!kept.is_empty()).then(|| Arc::new(kept)) }
    }

    /// Empties the map for the next request, keeping its buffer when no copy shares it
    /// and it is of a common size (a request that set thousands of keys does not leave a
    /// pooled context holding room for thousands).
    pub(crate) fn clear(&mut self) {
        match self.entries.as_mut().map(Arc::get_mut) {
            Some(Some(entries)) if entries.capacity() <= KEPT_CAPACITY => entries.clear(),
            Some(_) => self.entries = None,
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_get_set_delete() {
        let mut k = Keys::default();
        k.set("user".into(), String::from("ada"));
        k.set("n".into(), 7u32);
        assert_eq!(k.get::<String>("user").map(String::as_str), Some("ada"));
        assert_eq!(k.get::<u32>("n"), Some(&7));
        assert_eq!(k.get::<u64>("n"), None, "wrong type is None, not a panic");
        k.set("n".into(), 8u32);
        assert_eq!(k.get::<u32>("n"), Some(&8));
        assert!(k.delete("n"));
        assert!(!k.delete("n"));
        assert_eq!(k.names().collect::<Vec<_>>(), ["user"]);
    }

    #[test]
    fn take_moves_a_value_out_unless_a_copy_shares_it() {
        struct Tx(u32); // not Clone: the reason to take rather than get
        let mut k = Keys::default();
        k.set("tx".into(), Tx(1));
        assert!(k.take::<String>("tx").is_none(), "wrong type: left in place");
        assert_eq!(k.take::<Tx>("tx").map(|t| t.0), Some(1));
        assert!(k.take::<Tx>("tx").is_none(), "taken once");
        k.set("tx".into(), Tx(2));
        let copy = k.clone();
        assert!(k.take::<Tx>("tx").is_none(), "a copy shares it");
        assert_eq!(k.get::<Tx>("tx").map(|t| t.0), Some(2));
        drop(copy);
        assert_eq!(k.take::<Tx>("tx").map(|t| t.0), Some(2));
    }

    #[test]
    fn a_clone_does_not_see_later_sets() {
        let mut k = Keys::default();
        k.set("a".into(), 1u8);
        let copy = k.clone();
        k.set("a".into(), 2u8);
        k.set("b".into(), 3u8);
        assert_eq!(copy.get::<u8>("a"), Some(&1));
        assert_eq!(copy.get::<u8>("b"), None);
        assert_eq!(k.get::<u8>("a"), Some(&2));
    }

    #[test]
    fn clear_lets_go_of_a_large_buffer() {
        let mut k = Keys::default();
        for i in 0..1000 {
            k.set(format!("k{i}").into(), i);
        }
        k.clear();
        assert!(k.entries.is_none(), "room for 1,000 keys is not kept");
        k.set("a".into(), 1u8);
        k.clear();
        assert!(k.entries.is_some(), "a small buffer is kept for reuse");
    }

    #[test]
    fn clear_keeps_a_shared_map_intact() {
        let mut k = Keys::default();
        k.set("a".into(), 1u8);
        let copy = k.clone();
        k.clear();
        assert_eq!(k.get::<u8>("a"), None);
        assert_eq!(copy.get::<u8>("a"), Some(&1));
    }
}
