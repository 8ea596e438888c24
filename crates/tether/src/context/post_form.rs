//! Gin's `PostForm` family: text fields of an urlencoded or multipart body, by name, and
//! `QueryMap` / `PostFormMap` for `key[sub]=value` pairs.

use std::collections::HashMap;

use crate::Context;

impl Context {
    /// The first value of the form field `key` in an `application/x-www-form-urlencoded`
    /// or `multipart/form-data` body, as Gin's `c.PostForm` (which gives `""` where this
    /// gives `None`). The body is read once; later calls read the same form.
    ///
    /// A body of another type has no fields. A body that cannot be read (too large, too
    /// slow) has none either: bind with [`should_bind`](Self::should_bind) to answer
    /// such errors with their status.
    ///
    /// ```
    /// async fn post(c: &mut tether::Context) {
    ///     let message = c.post_form("message").await.unwrap_or_default();
    ///     let nick = c.default_post_form("nick", "anonymous").await;
    ///     c.json(200, &tether::json!({ "message": message, "nick": nick }));
    /// }
    /// ```
    pub async fn post_form(&mut self, key: &str) -> Option<String> {
        self.form_pairs().await.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The form field `key`, or `default` when it is absent (Gin's `c.DefaultPostForm`).
    pub async fn default_post_form(&mut self, key: &str, default: &str) -> String {
        self.post_form(key).await.unwrap_or_else(|| default.to_owned())
    }

    /// Every value of the form field `key`, in order (Gin's `c.PostFormArray`).
    pub async fn post_form_array(&mut self, key: &str) -> Vec<String> {
        self.form_pairs().await.into_iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect()
    }

    /// The fields `key[name]=value` of the form, by name (Gin's `c.PostFormMap`): a body
    /// `names[first]=thinkerou&names[second]=tianou` gives `{"first": "thinkerou",
    /// "second": "tianou"}` for `"names"`. A repeated name keeps its first value.
    pub async fn post_form_map(&mut self, key: &str) -> HashMap<String, String> {
        let pairs = self.form_pairs().await;
        bracketed(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), key)
    }

    /// The query parameters `key[name]=value`, by name (Gin's `c.QueryMap`):
    /// `?ids[a]=1&ids[b]=2` gives `{"a": "1", "b": "2"}` for `"ids"`.
    pub fn query_map(&self, key: &str) -> HashMap<String, String> {
        let pairs: Vec<_> = form_urlencoded::parse(self.raw_query().as_bytes()).collect();
        bracketed(pairs.iter().map(|(k, v)| (&**k, &**v)), key)
    }

    /// The form's text fields in order: empty for a body that is not a form or cannot be
    /// read (logged at debug).
    async fn form_pairs(&mut self) -> Vec<(String, String)> {
        let essence = self.content_type().map(str::to_ascii_lowercase);
        match essence.as_deref() {
            Some("application/x-www-form-urlencoded") => match self.body_bytes().await {
                Ok(bytes) => form_urlencoded::parse(&bytes).into_owned().collect(),
                Err(e) => {
                    tracing::debug!(target: "tether", error = %e, "post_form: the body could not be read");
                    Vec::new()
                }
            },
            Some("multipart/form-data") => match self.multipart_form().await {
                Ok(form) => {
                    let mut pairs: Vec<_> = form
                        .values
                        .iter()
                        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
                        .collect();
                    // A multipart form keeps values by name; sort for a stable order.
                    pairs.sort_by(|a, b| a.0.cmp(&b.0));
                    pairs
                }
                Err(e) => {
                    tracing::debug!(target: "tether", error = %e, "post_form: the form could not be read");
                    Vec::new()
                }
            },
            _ => Vec::new(),
        }
    }
}

/// `key[name]=value` pairs as `name → value`, the first value of each name.
fn bracketed<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, key: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in pairs {
        let Some(rest) = k.strip_prefix(key).and_then(|r| r.strip_prefix('[')) else { continue };
        let Some(end) = rest.find(']') else { continue };
        if end > 0 {
            map.entry(rest[..end].to_owned()).or_insert_with(|| v.to_owned());
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_keys_by_name() {
        let pairs = [
            ("ids[a]", "1"),
            ("ids[b]", "2"),
            ("ids[a]", "3"),
            ("idsx[c]", "4"),
            ("ids[]", "5"),
            ("ids", "6"),
        ];
        let map = bracketed(pairs.into_iter(), "ids");
        assert_eq!(map.len(), 2);
        assert_eq!((map["a"].as_str(), map["b"].as_str()), ("1", "2"));
    }
}
